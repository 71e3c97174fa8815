/* SPDX-License-Identifier: MIT */
/*
 * SCSI target: LUN lifecycle, the opcode table, sense data, unit
 * attentions, the multi-LUN target and the answers for missing LUNs.
 * The commands themselves are in scsi_spc.c (SPC-3: INQUIRY, MODE SENSE,
 * REQUEST SENSE, REPORT LUNS, READ CAPACITY) and scsi_sbc.c (SBC-3: READ,
 * WRITE, SYNCHRONIZE CACHE, UNMAP, WRITE SAME, VERIFY).
 *
 * Every CDB is guest input: lengths are checked against the opcode's CDB
 * size before any field is read, and nothing asserts on its contents.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/scsi/scsi_internal.h"

/* ---- completing commands ------------------------------------------------ */

static void scsi_finish(struct scsi_cmd *cmd)
{
	free(cmd->iov_trim_);
	cmd->iov_trim_ = NULL;
	free(cmd->bounce_);
	cmd->bounce_ = NULL;
	if (cmd->lun_) {
		cmd->lun_->in_flight--;
		if (cmd->status != SCSI_STATUS_GOOD)
			cmd->lun_->check_conditions++;
	}
	cmd->done(cmd);   /* may free cmd */
}

void scsi_good(struct scsi_cmd *cmd)
{
	cmd->status = SCSI_STATUS_GOOD;
	scsi_finish(cmd);
}

void scsi_busy(struct scsi_cmd *cmd)
{
	cmd->status = SCSI_STATUS_BUSY;
	cmd->sense_len = 0;
	cmd->transferred = 0;
	scsi_finish(cmd);
}

void scsi_build_sense(uint8_t *sense, uint8_t key, uint16_t asc)
{
	/* Fixed format (SPC-3 4.5.3): current error, ADDITIONAL SENSE
	 * LENGTH = 18 - 8. */
	memset(sense, 0, SCSI_SENSE_LEN);
	sense[0] = 0x70;
	sense[2] = key & 0x0F;
	sense[7] = SCSI_SENSE_LEN - 8;
	sense[12] = (uint8_t)(asc >> 8);
	sense[13] = (uint8_t)asc;
}

void scsi_check(struct scsi_cmd *cmd, uint8_t key, uint16_t asc, int field)
{
	scsi_build_sense(cmd->sense, key, asc);
	if (field >= 0 && key == SCSI_SENSE_ILLEGAL_REQUEST) {
		/* Field pointer (SPC-3 4.5.2.4.2): SKSV, C/D = 1 (in the CDB
		 * unless the error is in the parameter list). */
		cmd->sense[15] = 0x80 | (asc == ASC_INVALID_FIELD_IN_PARAM ? 0 : 0x40);
		put_be16(&cmd->sense[16], (uint16_t)field);
	}
	cmd->sense_len = SCSI_SENSE_LEN;
	cmd->status = SCSI_STATUS_CHECK_CONDITION;
	cmd->transferred = 0;
	scsi_finish(cmd);
}

uint64_t scsi_buffer_len(const struct scsi_cmd *cmd)
{
	uint64_t total = 0;

	if (!cmd->iov || cmd->iovcnt <= 0)
		return 0;
	for (int i = 0; i < cmd->iovcnt && total < cmd->data_len; i++)
		total += cmd->iov[i].iov_len;
	return MIN(total, cmd->data_len);
}

void scsi_data_in(struct scsi_cmd *cmd, const void *buf, uint64_t len, uint64_t alloc)
{
	uint64_t n = 0, want;

	if (cmd->dir == SCSI_DIR_READ) {
		want = MIN(MIN(len, alloc), scsi_buffer_len(cmd));
		for (int i = 0; i < cmd->iovcnt && n < want; i++) {
			size_t c = (size_t)MIN(cmd->iov[i].iov_len, want - n);

			memcpy(cmd->iov[i].iov_base, (const uint8_t *)buf + n, c);
			n += c;
		}
	}
	cmd->transferred = n;
	scsi_good(cmd);
}

uint64_t scsi_data_out(const struct scsi_cmd *cmd, void *buf, uint64_t len)
{
	uint64_t n = 0, want;

	if (cmd->dir != SCSI_DIR_WRITE)
		return 0;
	want = MIN(len, scsi_buffer_len(cmd));
	for (int i = 0; i < cmd->iovcnt && n < want; i++) {
		size_t c = (size_t)MIN(cmd->iov[i].iov_len, want - n);

		memcpy((uint8_t *)buf + n, cmd->iov[i].iov_base, c);
		n += c;
	}
	return n;
}

/* ---- unit attentions (SAM-4 5.8.7, SPC-3 5.9.7) ------------------------- */

void scsi_lun_unit_attention(struct scsi_lun *lun, uint8_t asc, uint8_t ascq)
{
	for (unsigned i = 0; i < lun->n_ua; i++)
		if (lun->ua[i].asc == asc && lun->ua[i].ascq == ascq)
			return;
	if (lun->n_ua == SCSI_UA_QUEUE) {
		/* Full: the oldest goes (SAM allows reporting only the
		 * highest-precedence one anyway). */
		memmove(&lun->ua[0], &lun->ua[1], sizeof(lun->ua[0]) * (SCSI_UA_QUEUE - 1));
		lun->n_ua--;
	}
	lun->ua[lun->n_ua].asc = asc;
	lun->ua[lun->n_ua].ascq = ascq;
	lun->n_ua++;
}

void scsi_lun_clear_ua(struct scsi_lun *lun, uint8_t asc, uint8_t ascq)
{
	for (unsigned i = 0; i < lun->n_ua; i++) {
		if (lun->ua[i].asc != asc || lun->ua[i].ascq != ascq)
			continue;
		memmove(&lun->ua[i], &lun->ua[i + 1], sizeof(lun->ua[0]) * (lun->n_ua - i - 1));
		lun->n_ua--;
		return;
	}
}

bool scsi_lun_pop_ua(struct scsi_lun *lun, uint8_t *sense)
{
	if (!lun || !lun->n_ua)
		return false;
	scsi_build_sense(sense, SCSI_SENSE_UNIT_ATTENTION,
			 (uint16_t)(lun->ua[0].asc << 8 | lun->ua[0].ascq));
	memmove(&lun->ua[0], &lun->ua[1], sizeof(lun->ua[0]) * (SCSI_UA_QUEUE - 1));
	lun->n_ua--;
	lun->unit_attentions++;
	return true;
}

/* ---- the opcode table --------------------------------------------------- */

static void scsi_tur(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	scsi_good(cmd);
}

/* START STOP UNIT (SBC-3 5.19): a virtual disk has no motor; accept. */
static void scsi_start_stop(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	scsi_good(cmd);
}

struct scsi_op {
	uint8_t cdb_len;          /* SPC-3 4.3.2: the group code fixes the size */
	bool ua_exempt;           /* INQUIRY, REPORT LUNS, REQUEST SENSE (SAM-4 5.8.7) */
	scsi_handler *run;
};

static const struct scsi_op scsi_ops[256] = {
	[0x00] = { 6, false, scsi_tur },                       /* TEST UNIT READY */
	[0x03] = { 6, true, scsi_spc_request_sense },          /* REQUEST SENSE */
	[0x08] = { 6, false, scsi_sbc_read_write },            /* READ(6) */
	[0x0A] = { 6, false, scsi_sbc_read_write },            /* WRITE(6) */
	[0x12] = { 6, true, scsi_spc_inquiry },                /* INQUIRY */
	[0x1A] = { 6, false, scsi_spc_mode_sense },            /* MODE SENSE(6) */
	[0x1B] = { 6, false, scsi_start_stop },                /* START STOP UNIT */
	[0x25] = { 10, false, scsi_spc_read_capacity10 },      /* READ CAPACITY(10) */
	[0x28] = { 10, false, scsi_sbc_read_write },           /* READ(10) */
	[0x2A] = { 10, false, scsi_sbc_read_write },           /* WRITE(10) */
	[0x2F] = { 10, false, scsi_sbc_verify },               /* VERIFY(10) */
	[0x35] = { 10, false, scsi_sbc_sync_cache },           /* SYNCHRONIZE CACHE(10) */
	[0x41] = { 10, false, scsi_sbc_write_same },           /* WRITE SAME(10) */
	[0x42] = { 10, false, scsi_sbc_unmap },                /* UNMAP */
	[0x5A] = { 10, false, scsi_spc_mode_sense },           /* MODE SENSE(10) */
	[0x88] = { 16, false, scsi_sbc_read_write },           /* READ(16) */
	[0x8A] = { 16, false, scsi_sbc_read_write },           /* WRITE(16) */
	[0x8F] = { 16, false, scsi_sbc_verify },               /* VERIFY(16) */
	[0x91] = { 16, false, scsi_sbc_sync_cache },           /* SYNCHRONIZE CACHE(16) */
	[0x93] = { 16, false, scsi_sbc_write_same },           /* WRITE SAME(16) */
	[0x9E] = { 16, false, scsi_spc_service_action_in16 },  /* READ CAPACITY(16) */
	[0xA0] = { 12, true, scsi_spc_report_luns_single },    /* REPORT LUNS */
	[0xA8] = { 12, false, scsi_sbc_read_write },           /* READ(12) */
	[0xAA] = { 12, false, scsi_sbc_read_write },           /* WRITE(12) */
};

static void scsi_cmd_reset(struct scsi_cmd *cmd, struct scsi_lun *lun)
{
	cmd->status = SCSI_STATUS_GOOD;
	cmd->sense_len = 0;
	memset(cmd->sense, 0, sizeof(cmd->sense));
	cmd->lun_missing = false;
	cmd->transferred = 0;
	cmd->lun_ = lun;
	cmd->iov_trim_ = NULL;
	cmd->bounce_ = NULL;
	cmd->left_ = cmd->pos_ = 0;
	cmd->err_ = 0;
	if (lun) {
		lun->in_flight++;
		lun->commands++;
	}
}

void scsi_lun_execute(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	const struct scsi_op *op;

	scsi_cmd_reset(cmd, lun);
	if (!cmd->cdb || cmd->cdb_len == 0) {
		scsi_invalid_field(cmd, 0);
		return;
	}
	op = &scsi_ops[cmd->cdb[0]];
	if (!op->ua_exempt && lun->n_ua) {
		/* The command is not run: report the attention instead. */
		scsi_lun_pop_ua(lun, cmd->sense);
		cmd->sense_len = SCSI_SENSE_LEN;
		cmd->status = SCSI_STATUS_CHECK_CONDITION;
		scsi_finish(cmd);
		return;
	}
	if (!op->run) {
		scsi_check(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
		return;
	}
	if (cmd->cdb_len < op->cdb_len) {
		scsi_invalid_field(cmd, cmd->cdb_len);
		return;
	}
	op->run(lun, cmd);
}

/* ---- REPORT LUNS and missing LUNs (facts §8.5) -------------------------- */

void scsi_report_luns_execute(struct scsi_cmd *cmd, const uint16_t *luns, unsigned n)
{
	scsi_cmd_reset(cmd, NULL);
	if (!cmd->cdb || cmd->cdb_len < 12 || cmd->cdb[0] != 0xA0) {
		scsi_invalid_field(cmd, cmd->cdb ? cmd->cdb_len : 0);
		return;
	}
	scsi_spc_report_luns(cmd, luns, n);
}

void scsi_missing_lun_execute(struct scsi_cmd *cmd)
{
	uint8_t inq[SCSI_STD_INQUIRY_LEN];

	scsi_cmd_reset(cmd, NULL);
	if (!cmd->cdb || cmd->cdb_len < 6 || cmd->cdb[0] != 0x12) {
		/* storvsp answers SRB_STATUS_INVALID_LUN; the sense is for a
		 * caller that wants a SCSI answer (SPC-3 4.5.6 / SAM-4 5.9.5). */
		cmd->lun_missing = true;
		scsi_check(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED, -1);
		return;
	}
	if (cmd->cdb[1] & 0x01) {
		/* VPD of a LUN that is not there: CHECK CONDITION, as OpenVMM. */
		scsi_invalid_field(cmd, 1);
		return;
	}
	/* PQ = 3 (not capable of supporting a device), PDT = 0x1F: Linux
	 * forces INQUIRY status to success (facts §8.3), so only these bytes
	 * stop it from creating a phantom disk. */
	scsi_spc_std_inquiry(NULL, inq);
	scsi_data_in(cmd, inq, sizeof(inq), get_be16(&cmd->cdb[3]));
}

/* ---- LUN lifecycle ------------------------------------------------------ */

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static int scsi_copy_id(char *dst, size_t size, const char *src, const char *def,
			const char *what, struct json_err *err)
{
	if (!src)
		src = def;
	if (strlen(src) >= size)
		return json_fail(err, NULL, what, "longer than %zu characters", size - 1);
	for (const char *p = src; *p; p++)
		if (*p < 0x20 || *p > 0x7E)
			return json_fail(err, NULL, what, "must be printable ASCII");
	strcpy(dst, src);
	return 0;
}

int scsi_lun_create(struct blk_backend *blk, const struct scsi_lun_config *cfg,
		    struct scsi_lun **out, struct json_err *err)
{
	const struct blk_info *info = blk_info(blk);
	char serial_def[24];
	struct scsi_lun *lun;
	uint64_t naa;
	int rc;

	*out = NULL;
	lun = calloc(1, sizeof(*lun));
	if (!lun)
		return -ENOMEM;
	/* Stable across runs as long as the image path is. */
	snprintf(serial_def, sizeof(serial_def), "%016llx",
		 (unsigned long long)fnv1a64(info->path ? info->path : ""));
	if ((rc = scsi_copy_id(lun->vendor, sizeof(lun->vendor), cfg->vendor, "Msft", "vendor",
			       err)) < 0 ||
	    (rc = scsi_copy_id(lun->product, sizeof(lun->product), cfg->product, "Virtual Disk",
			       "product", err)) < 0 ||
	    (rc = scsi_copy_id(lun->revision, sizeof(lun->revision), cfg->revision, "1.0",
			       "revision", err)) < 0 ||
	    (rc = scsi_copy_id(lun->serial, sizeof(lun->serial), cfg->serial, serial_def,
			       "serial", err)) < 0) {
		free(lun);
		return rc;
	}
	/* NAA 3, locally assigned (SPC-4 7.8.6.6.3): 60 bits from the serial. */
	naa = (3ull << 60) | (fnv1a64(lun->serial) & ((1ull << 60) - 1));
	put_be64(lun->naa, naa);
	if (info->size < BLK_SECTOR_SIZE) {
		free(lun);
		return json_fail(err, NULL, "path", "%s: the image is empty",
				 info->path ? info->path : "?");
	}
	lun->blk = blk;
	lun->nblocks = info->size >> SCSI_BLOCK_SHIFT;
	lun->readonly = info->readonly;
	lun->discard = info->discard;
	lun->write_cache = info->write_cache;
	lun->lbprz = info->discard && info->zero_after_discard;
	if (cfg->power_on_ua)
		scsi_lun_unit_attention(lun, SCSI_UA_POWER_ON_RESET);
	*out = lun;
	return 0;
}

void scsi_lun_destroy(struct scsi_lun *lun)
{
	if (!lun)
		return;
	if (lun->in_flight)
		log_error("scsi: LUN destroyed with %u commands in flight", lun->in_flight);
	free(lun);
}

struct blk_backend *scsi_lun_backend(const struct scsi_lun *lun)
{
	return lun->blk;
}

int scsi_lun_refresh_capacity(struct scsi_lun *lun)
{
	int rc = blk_refresh_size(lun->blk);

	if (rc <= 0)
		return rc;
	lun->nblocks = blk_info(lun->blk)->size >> SCSI_BLOCK_SHIFT;
	/* storvsc rescans the device when it sees this (2Ah/09h). */
	scsi_lun_unit_attention(lun, SCSI_UA_CAPACITY_CHANGED);
	return 1;
}

STATS_DEFINE_STATIC(scsi_lun_counters, struct scsi_lun, SCSI_LUN_STATS)

json_t *scsi_lun_stats(const struct scsi_lun *lun)
{
	json_t *o = json_pack("{s:i, s:o}", "in_flight", (int)lun->in_flight, "blk",
			      blk_stats(lun->blk));

	return o ? scsi_lun_counters_json(lun, o) : NULL;
}

int scsi_lun_config_from_json(const json_t *obj, const char *path, struct scsi_lun_config *cfg,
			      struct json_err *err)
{
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if ((rc = json_get_string(obj, path, "serial", false, &cfg->serial, err)) < 0 ||
	    (rc = json_get_string(obj, path, "vendor", false, &cfg->vendor, err)) < 0 ||
	    (rc = json_get_string(obj, path, "product", false, &cfg->product, err)) < 0 ||
	    (rc = json_get_string(obj, path, "revision", false, &cfg->revision, err)) < 0)
		return rc;
	return 0;
}

/* ---- the target --------------------------------------------------------- */

struct scsi_target {
	struct scsi_lun *luns[SCSI_TARGET_MAX_LUNS];
};

struct scsi_target *scsi_target_create(void)
{
	return calloc(1, sizeof(struct scsi_target));
}

void scsi_target_destroy(struct scsi_target *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < SCSI_TARGET_MAX_LUNS; i++)
		scsi_lun_destroy(t->luns[i]);
	free(t);
}

/* SAM-4 5.14 / SPC-3 6.21: the LUN inventory changed; every other LUN
 * reports REPORTED LUNS DATA HAS CHANGED once. */
static void scsi_target_luns_changed(struct scsi_target *t, unsigned except)
{
	for (unsigned i = 0; i < SCSI_TARGET_MAX_LUNS; i++)
		if (t->luns[i] && i != except)
			scsi_lun_unit_attention(t->luns[i], SCSI_UA_REPORTED_LUNS_CHANGED);
}

int scsi_target_attach(struct scsi_target *t, unsigned lun_no, struct scsi_lun *lun, bool notify)
{
	if (lun_no >= SCSI_TARGET_MAX_LUNS)
		return -ERANGE;
	if (t->luns[lun_no])
		return -EEXIST;
	t->luns[lun_no] = lun;
	if (notify)
		scsi_target_luns_changed(t, lun_no);
	return 0;
}

struct scsi_lun *scsi_target_detach(struct scsi_target *t, unsigned lun_no, bool notify)
{
	struct scsi_lun *lun;

	if (lun_no >= SCSI_TARGET_MAX_LUNS || !t->luns[lun_no])
		return NULL;
	lun = t->luns[lun_no];
	t->luns[lun_no] = NULL;
	if (notify)
		scsi_target_luns_changed(t, lun_no);
	return lun;
}

struct scsi_lun *scsi_target_lun(const struct scsi_target *t, unsigned lun_no)
{
	return lun_no < SCSI_TARGET_MAX_LUNS ? t->luns[lun_no] : NULL;
}

void scsi_target_execute(struct scsi_target *t, unsigned lun_no, struct scsi_cmd *cmd)
{
	struct scsi_lun *lun = scsi_target_lun(t, lun_no);

	if (cmd->cdb && cmd->cdb_len >= 1 && cmd->cdb[0] == 0xA0) {
		/* REPORT LUNS lists the target's LUNs whichever LUN it is
		 * addressed to (SPC-3 6.21), missing LUN 0 included. */
		uint16_t luns[SCSI_TARGET_MAX_LUNS];
		unsigned n = 0;

		for (unsigned i = 0; i < SCSI_TARGET_MAX_LUNS; i++)
			if (t->luns[i])
				luns[n++] = (uint16_t)i;
		if (lun)   /* SPC-3 6.21: REPORT LUNS clears this attention */
			scsi_lun_clear_ua(lun, SCSI_UA_REPORTED_LUNS_CHANGED);
		scsi_report_luns_execute(cmd, luns, n);
		return;
	}
	if (lun)
		scsi_lun_execute(lun, cmd);
	else
		scsi_missing_lun_execute(cmd);
}
