/* SPDX-License-Identifier: MIT */
/*
 * SBC-3 commands that touch the medium: READ/WRITE(6/10/12/16), VERIFY,
 * SYNCHRONIZE CACHE, UNMAP and WRITE SAME.  Each validates the whole CDB
 * (and UNMAP its whole parameter list) before the first block request, so a
 * rejected command has done nothing.  Multi-step commands (FUA writes,
 * UNMAP with several descriptors, WRITE SAME of a pattern) run one block
 * request at a time from scsi_blk_done, with their progress in the
 * command's private fields:
 *   pos_   UNMAP: next descriptor index; WRITE SAME: next byte offset
 *   left_  UNMAP: descriptors left; WRITE SAME: bytes left; WRITE: 1 = FUA flush due
 *
 * The data buffer: storvsc always sends data_transfer_length equal to the
 * CDB's transfer length (the block layer builds both from one request).  A
 * buffer SHORTER than the transfer is a broken or hostile initiator; we
 * answer CHECK CONDITION / INVALID FIELD IN CDB and move nothing, rather
 * than transferring what fits: a partial WRITE would be a torn write the
 * guest cannot see, and a partial READ would leave the guest believing
 * stale memory is disk data.  (SAM-4's "overrun" residuals are for the
 * transport; storvsp can still map this to SRB_STATUS_DATA_OVERRUN if
 * needed.)  A LONGER buffer is fine: the I/O uses its first bytes and
 * `transferred` says how many.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/scsi/scsi_internal.h"

#define WS_CHUNK (1u << 20)        /* WRITE SAME pattern buffer */

static bool is_write_op(uint8_t op)
{
	return op == 0x0A || op == 0x2A || op == 0xAA || op == 0x8A;
}

/* SBC-3 4.5: the range [lba, lba + count) must lie inside the medium,
 * computed without overflow (LBA FFFFFFFFFFFFFFFFh + 1 is out of range). */
static bool range_ok(const struct scsi_lun *lun, uint64_t lba, uint64_t count)
{
	uint64_t end;

	return !add_overflows_u64(lba, count, &end) && end <= lun->nblocks;
}

/* ---- block requests ------------------------------------------------------ */

static void scsi_blk_done(struct blk_request *req, int result);

static void scsi_io_error(struct scsi_cmd *cmd, int err)
{
	struct scsi_lun *lun = cmd->lun_;

	static struct log_ratelimit rl;
	uint32_t suppressed;

	/* Not the guest's fault, but a failing disk must not flood the log. */
	lun->io_errors++;
	if (log_ratelimit_ok(&rl, &suppressed))
		log_warn("scsi: command %02xh failed: %s%s", cmd->cdb[0], strerror(-err),
			 suppressed ? " (earlier lines suppressed)" : "");
	switch (err) {
	case -EROFS:
		scsi_write_protected(cmd);
		return;
	case -ENOSPC:
	case -EDQUOT:   /* SBC-3 4.7.3.6: thin provisioning ran out of space */
		scsi_check(cmd, SCSI_SENSE_DATA_PROTECT, ASC_SPACE_ALLOC_FAILED_WP, -1);
		return;
	case -EINVAL:   /* the backend shrank under us */
		scsi_lba_out_of_range(cmd);
		return;
	case -ENOMEM:
	case -EAGAIN:   /* try again later: SAM-4 BUSY */
		scsi_busy(cmd);
		return;
	case -ESHUTDOWN:
		scsi_check(cmd, SCSI_SENSE_NOT_READY, ASC_LUN_NOT_READY, -1);
		return;
	case -ECANCELED:   /* scsi_cmd_cancel(): nobody waits for the data */
		scsi_check(cmd, SCSI_SENSE_ABORTED_COMMAND, ASC_NONE, -1);
		return;
	default:
		scsi_check(cmd, SCSI_SENSE_MEDIUM_ERROR, cmd->blk.op == BLK_OP_READ
			   ? ASC_UNRECOVERED_READ_ERROR : ASC_WRITE_ERROR, -1);
		return;
	}
}

static void scsi_blk_submit(struct scsi_cmd *cmd, enum blk_op op, uint64_t off, uint64_t len,
			    struct iovec *iov, int iovcnt)
{
	int rc;

	if (cmd->cancelled_) {
		/* A later step of a cancelled command (FUA flush, next UNMAP
		 * descriptor, next WRITE SAME chunk): the initiator is gone. */
		scsi_io_error(cmd, -ECANCELED);
		return;
	}
	cmd->blk = (struct blk_request){ .op = op, .offset = off, .len = len, .iov = iov,
					 .iovcnt = iovcnt, .done = scsi_blk_done, .opaque = cmd };
	rc = blk_submit(cmd->lun_->blk, &cmd->blk);
	if (rc < 0) {
		scsi_io_error(cmd, rc);
		return;
	}
	cmd->blk_busy_ = true;
}

void scsi_cmd_cancel(struct scsi_cmd *cmd)
{
	cmd->cancelled_ = true;
	if (cmd->blk_busy_)
		blk_cancel(cmd->lun_->blk, &cmd->blk);
}

/* The first len bytes of the initiator's buffer as an iovec array: the
 * caller's own array when it ends exactly there, else a trimmed copy. */
static int scsi_io_iov(struct scsi_cmd *cmd, uint64_t len, struct iovec **iov, int *cnt)
{
	uint64_t total = 0;
	int i;

	for (i = 0; i < cmd->iovcnt && total < len; i++)
		total += cmd->iov[i].iov_len;
	*cnt = i;
	if (total == len) {
		*iov = cmd->iov;
		return 0;
	}
	cmd->iov_trim_ = malloc(sizeof(struct iovec) * (size_t)i);
	if (!cmd->iov_trim_)
		return -ENOMEM;
	memcpy(cmd->iov_trim_, cmd->iov, sizeof(struct iovec) * (size_t)i);
	cmd->iov_trim_[i - 1].iov_len -= (size_t)(total - len);
	*iov = cmd->iov_trim_;
	return 0;
}

static void scsi_unmap_next(struct scsi_cmd *cmd);
static void scsi_ws_next(struct scsi_cmd *cmd);

static void scsi_blk_done(struct blk_request *req, int result)
{
	struct scsi_cmd *cmd = req->opaque;
	uint8_t op = cmd->cdb[0];

	cmd->blk_busy_ = false;
	if (result < 0) {
		scsi_io_error(cmd, result);
		return;
	}
	if (op == 0x42) {
		scsi_unmap_next(cmd);
		return;
	}
	if ((op == 0x41 || op == 0x93) && req->op == BLK_OP_WRITE) {
		scsi_ws_next(cmd);
		return;
	}
	if (req->op == BLK_OP_WRITE && cmd->left_) {
		/* FUA (SBC-3 5.35): durable before GOOD; we do not advertise
		 * DPOFUA, but honour the bit when an initiator sets it. */
		cmd->left_ = 0;
		scsi_blk_submit(cmd, BLK_OP_FLUSH, 0, 0, NULL, 0);
		return;
	}
	scsi_good(cmd);
}

/* ---- READ / WRITE (SBC-3 5.6-5.9, 5.29-5.32) ------------------------------ */

void scsi_sbc_read_write(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	bool is_write = is_write_op(cdb[0]);
	uint64_t lba, count, len;
	struct iovec *iov;
	int iovcnt, len_field;

	switch (cdb[0]) {
	case 0x08: case 0x0A:          /* 21-bit LBA; length 0 means 256 */
		lba = get_be24(&cdb[1]) & 0x1FFFFF;
		count = cdb[4] ? cdb[4] : 256;
		len_field = 4;
		break;
	case 0x28: case 0x2A:
		lba = get_be32(&cdb[2]);
		count = get_be16(&cdb[7]);
		len_field = 7;
		break;
	case 0xA8: case 0xAA:
		lba = get_be32(&cdb[2]);
		count = get_be32(&cdb[6]);
		len_field = 6;
		break;
	default:                       /* 0x88, 0x8A */
		lba = get_be64(&cdb[2]);
		count = get_be32(&cdb[10]);
		len_field = 10;
		break;
	}
	/* RDPROTECT/WRPROTECT: no protection information (SBC-3 4.18). */
	if (cdb[0] != 0x08 && cdb[0] != 0x0A && (cdb[1] & 0xE0)) {
		scsi_invalid_field(cmd, 1);
		return;
	}
	if (!range_ok(lun, lba, count)) {
		scsi_lba_out_of_range(cmd);
		return;
	}
	if (count > SCSI_MAX_XFER_BLOCKS) {   /* beyond Block Limits' maximum */
		scsi_invalid_field(cmd, len_field);
		return;
	}
	if (is_write && lun->readonly) {
		scsi_write_protected(cmd);
		return;
	}
	len = count << SCSI_BLOCK_SHIFT;
	if (len == 0) {                /* SBC-3: not an error, nothing moves */
		scsi_good(cmd);
		return;
	}
	/* See the file comment: a buffer too small (or of the wrong
	 * direction) for the transfer is refused as a whole. */
	if (cmd->dir != (is_write ? SCSI_DIR_WRITE : SCSI_DIR_READ) || scsi_buffer_len(cmd) < len) {
		log_guest("scsi: %02xh wants %llu bytes, buffer has %llu", cdb[0],
			  (unsigned long long)len, (unsigned long long)scsi_buffer_len(cmd));
		scsi_invalid_field(cmd, len_field);
		return;
	}
	if (scsi_io_iov(cmd, len, &iov, &iovcnt) < 0) {
		scsi_io_error(cmd, -ENOMEM);
		return;
	}
	/* FUA bit (byte 1 bit 3) of WRITE(10/12/16); a no-op without a cache. */
	cmd->left_ = is_write && cdb[0] != 0x0A && (cdb[1] & 0x08) && lun->write_cache;
	cmd->transferred = len;
	scsi_blk_submit(cmd, is_write ? BLK_OP_WRITE : BLK_OP_READ, lba << SCSI_BLOCK_SHIFT, len,
			iov, iovcnt);
}

/* ---- VERIFY (SBC-3 5.24, 5.26) ---------------------------------------------- */

void scsi_sbc_verify(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	bool ten = cdb[0] == 0x2F;
	uint64_t lba = ten ? get_be32(&cdb[2]) : get_be64(&cdb[2]);
	uint64_t count = ten ? get_be16(&cdb[7]) : get_be32(&cdb[10]);

	/* VRPROTECT, or BYTCHK != 0 (compare with data-out): not supported;
	 * BYTCHK = 0 only checks that the medium is readable, which a file is. */
	if (cdb[1] & 0xE6) {
		scsi_invalid_field(cmd, 1);
		return;
	}
	if (!range_ok(lun, lba, count)) {
		scsi_lba_out_of_range(cmd);
		return;
	}
	scsi_good(cmd);
}

/* ---- SYNCHRONIZE CACHE (SBC-3 5.20, 5.21) --------------------------------- */

void scsi_sbc_sync_cache(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	bool ten = cdb[0] == 0x35;
	uint64_t lba = ten ? get_be32(&cdb[2]) : get_be64(&cdb[2]);
	uint64_t count = ten ? get_be16(&cdb[7]) : get_be32(&cdb[10]);

	/* count 0 means "to the end of the medium"; the LBA must exist. */
	if (!range_ok(lun, lba, count) || (count == 0 && lba > lun->nblocks)) {
		scsi_lba_out_of_range(cmd);
		return;
	}
	/* The whole backend is flushed whatever the range (a superset); IMMED
	 * is ignored, GOOD only after the data is durable. */
	scsi_blk_submit(cmd, BLK_OP_FLUSH, 0, 0, NULL, 0);
}

/* ---- UNMAP (SBC-3 5.28) ------------------------------------------------------- */

static void scsi_unmap_next(struct scsi_cmd *cmd)
{
	while (cmd->left_) {
		const uint8_t *d = cmd->bounce_ + 8 + 16 * cmd->pos_;
		uint64_t lba = get_be64(d);
		uint32_t count = get_be32(d + 8);

		cmd->pos_++;
		cmd->left_--;
		if (count) {
			scsi_blk_submit(cmd, BLK_OP_DISCARD, lba << SCSI_BLOCK_SHIFT,
					(uint64_t)count << SCSI_BLOCK_SHIFT, NULL, 0);
			return;
		}
	}
	scsi_good(cmd);
}

void scsi_sbc_unmap(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	uint16_t plen = get_be16(&cdb[7]);
	uint64_t ndesc, total = 0;
	uint8_t *p;

	if (!lun->discard) {           /* LBPU = 0: the command is not supported */
		scsi_check(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
		return;
	}
	if (cdb[1] & 0x01) {           /* ANCHOR: no anchored state */
		scsi_invalid_field(cmd, 1);
		return;
	}
	if (lun->readonly) {
		scsi_write_protected(cmd);
		return;
	}
	if (plen == 0) {               /* no descriptors: not an error */
		scsi_good(cmd);
		return;
	}
	if (plen < 8) {
		scsi_check(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH, -1);
		return;
	}
	if (cmd->dir != SCSI_DIR_WRITE || scsi_buffer_len(cmd) < plen) {
		scsi_invalid_field(cmd, 7);
		return;
	}
	p = cmd->bounce_ = malloc(plen);
	if (!p) {
		scsi_io_error(cmd, -ENOMEM);
		return;
	}
	scsi_data_out(cmd, p, plen);
	/* Descriptors that the parameter list really holds; a partial one
	 * at the end is ignored. */
	ndesc = MIN(get_be16(&p[2]), (uint64_t)plen - 8) / 16;
	if (ndesc > SCSI_MAX_UNMAP_DESCRIPTORS) {
		scsi_check(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAM, 2);
		return;
	}
	for (uint64_t i = 0; i < ndesc; i++) {
		uint64_t lba = get_be64(&p[8 + 16 * i]);
		uint32_t count = get_be32(&p[8 + 16 * i + 8]);

		if (!range_ok(lun, lba, count)) {
			scsi_lba_out_of_range(cmd);
			return;
		}
		total += count;
		if (total > SCSI_MAX_UNMAP_BLOCKS) {
			scsi_check(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAM,
				   (int)(8 + 16 * i + 8));
			return;
		}
	}
	cmd->transferred = plen;
	cmd->pos_ = 0;
	cmd->left_ = ndesc;
	scsi_unmap_next(cmd);
}

/* ---- WRITE SAME (SBC-3 5.41, 5.42) ---------------------------------------------- */

static void scsi_ws_next(struct scsi_cmd *cmd)
{
	uint64_t n = MIN(cmd->left_, WS_CHUNK);

	if (!cmd->left_) {
		scsi_good(cmd);
		return;
	}
	cmd->iov_trim_[0].iov_len = (size_t)n;
	cmd->left_ -= n;
	cmd->pos_ += n;
	scsi_blk_submit(cmd, BLK_OP_WRITE, cmd->pos_ - n, n, cmd->iov_trim_, 1);
}

void scsi_sbc_write_same(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	bool ten = cdb[0] == 0x41;
	bool unmap = cdb[1] & 0x08, ndob = !ten && (cdb[1] & 0x01);
	uint64_t lba = ten ? get_be32(&cdb[2]) : get_be64(&cdb[2]);
	uint64_t count = ten ? get_be16(&cdb[7]) : get_be32(&cdb[10]);
	uint8_t block[BLK_SECTOR_SIZE];
	uint64_t bytes, chunk;
	bool zero = true;

	/* WRPROTECT, ANCHOR: not supported. */
	if (cdb[1] & 0xF0) {
		scsi_invalid_field(cmd, 1);
		return;
	}
	if (count == 0 || count > SCSI_MAX_WRITE_SAME_BLOCKS) {   /* WSNZ = 1 in VPD B0h */
		scsi_invalid_field(cmd, ten ? 7 : 10);
		return;
	}
	if (!range_ok(lun, lba, count)) {
		scsi_lba_out_of_range(cmd);
		return;
	}
	if (lun->readonly) {
		scsi_write_protected(cmd);
		return;
	}
	memset(block, 0, sizeof(block));
	if (!ndob) {                   /* one logical block of data-out */
		if (cmd->dir != SCSI_DIR_WRITE || scsi_buffer_len(cmd) < sizeof(block)) {
			scsi_invalid_field(cmd, ten ? 7 : 10);
			return;
		}
		scsi_data_out(cmd, block, sizeof(block));
		cmd->transferred = sizeof(block);
		for (size_t i = 0; i < sizeof(block) && zero; i++)
			zero = block[i] == 0;
	}
	bytes = count << SCSI_BLOCK_SHIFT;
	/* UNMAP = 1 lets us deallocate only where the result reads back as
	 * the pattern (SBC-3 5.42): a zero pattern on LBPRZ storage. */
	if (zero && unmap && lun->discard && lun->lbprz) {
		scsi_blk_submit(cmd, BLK_OP_DISCARD, lba << SCSI_BLOCK_SHIFT, bytes, NULL, 0);
		return;
	}
	if (zero) {
		scsi_blk_submit(cmd, BLK_OP_WRITE_ZEROES, lba << SCSI_BLOCK_SHIFT, bytes, NULL, 0);
		return;
	}
	/* A real pattern: write it a chunk at a time from one buffer. */
	chunk = MIN(bytes, WS_CHUNK);
	cmd->bounce_ = malloc(chunk);
	cmd->iov_trim_ = malloc(sizeof(struct iovec));
	if (!cmd->bounce_ || !cmd->iov_trim_) {
		scsi_io_error(cmd, -ENOMEM);
		return;
	}
	for (uint64_t off = 0; off < chunk; off += sizeof(block))
		memcpy(cmd->bounce_ + off, block, sizeof(block));
	cmd->iov_trim_[0].iov_base = cmd->bounce_;
	cmd->pos_ = lba << SCSI_BLOCK_SHIFT;
	cmd->left_ = bytes;
	scsi_ws_next(cmd);
}
