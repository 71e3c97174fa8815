/* SPDX-License-Identifier: MIT */
/*
 * SPC-3 commands that describe the logical unit: INQUIRY (standard data
 * and VPD pages 00h, 80h, 83h, B0h, B1h, B2h), REQUEST SENSE, MODE SENSE(6)
 * and (10), READ CAPACITY(10) and (16), REPORT LUNS.  All answer at once
 * from a stack buffer through scsi_data_in(), which truncates to the
 * allocation length (SPC-3 4.3.4.6) and to the initiator's buffer.
 */
#include <string.h>

#include "core/util.h"
#include "devices/scsi/scsi_internal.h"

/* ASCII fields are left-aligned and padded with spaces (SPC-3 4.4.1). */
static void put_ascii(uint8_t *dst, const char *src, size_t width)
{
	size_t n = src ? strlen(src) : 0;

	memset(dst, ' ', width);
	memcpy(dst, src, MIN(n, width));
}

/* ---- INQUIRY (SPC-3 6.4) ------------------------------------------------ */

void scsi_spc_std_inquiry(const struct scsi_lun *lun, uint8_t *buf)
{
	memset(buf, 0, SCSI_STD_INQUIRY_LEN);
	/* PERIPHERAL QUALIFIER 0 / DEVICE TYPE 0 (direct access block);
	 * for a missing LUN PQ 3 / type 1Fh (facts §8.5). */
	buf[0] = lun ? 0x00 : 0x7F;
	/* VERSION 5 = SPC-3: Linux then tries READ CAPACITY(16) first and
	 * reads VPD pages (facts §8.4). */
	buf[2] = 0x05;
	buf[3] = 0x12;                 /* HISUP, RESPONSE DATA FORMAT 2 */
	buf[4] = SCSI_STD_INQUIRY_LEN - 5;
	buf[7] = 0x02;                 /* CMDQUE: tagged queueing */
	if (!lun)
		return;                /* vendor/product zeroed, as OpenVMM */
	put_ascii(&buf[8], lun->vendor, 8);
	put_ascii(&buf[16], lun->product, 16);
	put_ascii(&buf[32], lun->revision, 4);
}

static const uint8_t vpd_pages[] = { 0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2 };

/* Returns the page's length, 0 for an unsupported page. */
static size_t scsi_vpd(const struct scsi_lun *lun, uint8_t page, uint8_t *buf)
{
	size_t n = 4, idlen;

	buf[0] = 0x00;                 /* PQ 0, direct access */
	buf[1] = page;
	switch (page) {
	case 0x00:                     /* Supported VPD Pages (SPC-3 7.6.13) */
		memcpy(&buf[4], vpd_pages, sizeof(vpd_pages));
		n += sizeof(vpd_pages);
		break;
	case 0x80:                     /* Unit Serial Number (SPC-3 7.6.12) */
		idlen = strlen(lun->serial);
		memcpy(&buf[4], lun->serial, idlen);
		n += idlen;
		break;
	case 0x83:                     /* Device Identification (SPC-3 7.6.3) */
		/* NAA designator, binary, associated with the LU. */
		buf[n++] = 0x01;
		buf[n++] = 0x03;
		buf[n++] = 0x00;
		buf[n++] = sizeof(lun->naa);
		memcpy(&buf[n], lun->naa, sizeof(lun->naa));
		n += sizeof(lun->naa);
		/* T10 vendor ID designator (7.6.3.4): vendor + product + serial. */
		idlen = 8 + 16 + strlen(lun->serial);
		buf[n++] = 0x02;
		buf[n++] = 0x01;
		buf[n++] = 0x00;
		buf[n++] = (uint8_t)idlen;
		put_ascii(&buf[n], lun->vendor, 8);
		put_ascii(&buf[n + 8], lun->product, 16);
		memcpy(&buf[n + 24], lun->serial, idlen - 24);
		n += idlen;
		break;
	case 0xB0:                     /* Block Limits (SBC-3 6.5.3) */
		n = 64;
		memset(&buf[4], 0, n - 4);
		buf[4] = 0x01;         /* WSNZ: WRITE SAME with 0 blocks is refused */
		put_be16(&buf[6], 8);  /* optimal granularity: 4 KiB */
		put_be32(&buf[8], SCSI_MAX_XFER_BLOCKS);
		put_be32(&buf[12], SCSI_MAX_XFER_BLOCKS);
		if (lun->discard) {
			put_be32(&buf[20], SCSI_MAX_UNMAP_BLOCKS);
			put_be32(&buf[24], SCSI_MAX_UNMAP_DESCRIPTORS);
			put_be32(&buf[28], 8);   /* optimal unmap granularity: 4 KiB */
		}
		put_be64(&buf[36], SCSI_MAX_WRITE_SAME_BLOCKS);
		break;
	case 0xB1:                     /* Block Device Characteristics (SBC-3 6.5.2) */
		n = 64;
		memset(&buf[4], 0, n - 4);
		put_be16(&buf[4], 0x0001);   /* MEDIUM ROTATION RATE: non-rotating */
		break;
	case 0xB2:                     /* Logical Block Provisioning (SBC-3 6.5.4) */
		n = 8;
		memset(&buf[4], 0, n - 4);
		if (lun->discard) {
			/* LBPU (UNMAP), LBPWS / LBPWS10 (WRITE SAME with UNMAP). */
			buf[5] = 0x80 | 0x40 | 0x20 | (lun->lbprz ? 0x04 : 0);
			buf[6] = 0x02;   /* PROVISIONING TYPE: thin */
		}
		break;
	default:
		return 0;
	}
	put_be16(&buf[2], (uint16_t)(n - 4));
	return n;
}

void scsi_spc_inquiry(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	uint16_t alloc = get_be16(&cdb[3]);
	uint8_t buf[256];
	size_t n;

	if (cdb[1] & 0x02) {           /* CMDDT: obsolete, not supported */
		scsi_invalid_field(cmd, 1);
		return;
	}
	if (!(cdb[1] & 0x01)) {
		if (cdb[2]) {          /* a page code without EVPD */
			scsi_invalid_field(cmd, 2);
			return;
		}
		scsi_spc_std_inquiry(lun, buf);
		scsi_data_in(cmd, buf, SCSI_STD_INQUIRY_LEN, alloc);
		return;
	}
	n = scsi_vpd(lun, cdb[2], buf);
	if (!n) {
		scsi_invalid_field(cmd, 2);
		return;
	}
	scsi_data_in(cmd, buf, n, alloc);
}

/* ---- REQUEST SENSE (SPC-3 6.27) ------------------------------------------ */

void scsi_spc_request_sense(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	uint8_t sense[SCSI_SENSE_LEN];

	if (cmd->cdb[1] & 0x01) {      /* DESC: descriptor format not supported */
		scsi_invalid_field(cmd, 1);
		return;
	}
	/* A pending unit attention is returned (and cleared); otherwise
	 * NO SENSE: every error is reported with autosense already. */
	if (!scsi_lun_pop_ua(lun, sense))
		scsi_build_sense(sense, SCSI_SENSE_NO_SENSE, ASC_NONE);
	scsi_data_in(cmd, sense, sizeof(sense), cmd->cdb[4]);
}

/* ---- MODE SENSE (SPC-3 6.9, 6.10) ---------------------------------------- */

/* Caching mode page (SBC-3 6.4.5); pc 1 = changeable values: none. */
static size_t mode_page_caching(const struct scsi_lun *lun, unsigned pc, uint8_t *p)
{
	memset(p, 0, 20);
	p[0] = 0x08;
	p[1] = 0x12;
	if (pc != 1 && lun->write_cache)
		p[2] = 0x04;           /* WCE: the guest must send SYNCHRONIZE CACHE */
	return 20;
}

/* Control mode page (SPC-3 7.4.6). */
static size_t mode_page_control(const struct scsi_lun *lun, unsigned pc, uint8_t *p)
{
	memset(p, 0, 12);
	p[0] = 0x0A;
	p[1] = 0x0A;
	if (pc != 1)
		p[3] = 0x10;           /* QUEUE ALGORITHM MODIFIER 1: unrestricted order */
	return 12;
}

void scsi_spc_mode_sense(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	bool ten = cdb[0] == 0x5A;
	bool dbd = cdb[1] & 0x08;
	bool llbaa = ten && (cdb[1] & 0x10);
	unsigned pc = cdb[2] >> 6, page = cdb[2] & 0x3F, subpage = cdb[3];
	uint32_t alloc = ten ? get_be16(&cdb[7]) : cdb[4];
	size_t hdr = ten ? 8 : 4, bd = dbd ? 0 : llbaa ? 16 : 8, n;
	uint8_t buf[128];

	if (pc == 3) {                 /* saved values: none kept */
		scsi_check(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_SAVING_PARAMS_UNSUPPORTED, 2);
		return;
	}
	if (subpage && !(page == 0x3F && subpage == 0xFF)) {
		scsi_invalid_field(cmd, 3);
		return;
	}
	if (page != 0x08 && page != 0x0A && page != 0x3F) {
		scsi_invalid_field(cmd, 2);
		return;
	}
	memset(buf, 0, hdr + bd);
	n = hdr;
	if (bd == 8) {                 /* short LBA block descriptor (SBC-3 6.4.2) */
		put_be32(&buf[n], (uint32_t)MIN(lun->nblocks, 0xFFFFFFFFull));
		put_be32(&buf[n + 4], BLK_SECTOR_SIZE);   /* byte 4 density 0 */
	} else if (bd == 16) {         /* long LBA block descriptor */
		put_be64(&buf[n], lun->nblocks);
		put_be32(&buf[n + 12], BLK_SECTOR_SIZE);
	}
	n += bd;
	if (page == 0x08 || page == 0x3F)
		n += mode_page_caching(lun, pc, &buf[n]);
	if (page == 0x0A || page == 0x3F)
		n += mode_page_control(lun, pc, &buf[n]);
	/* DEVICE-SPECIFIC PARAMETER (SBC-3 6.4.1): WP; no DPOFUA, so Linux
	 * uses SYNCHRONIZE CACHE rather than FUA writes. */
	if (ten) {
		put_be16(&buf[0], (uint16_t)(n - 2));
		buf[3] = lun->readonly ? 0x80 : 0;
		buf[4] = bd == 16 ? 0x01 : 0;   /* LONGLBA */
		put_be16(&buf[6], (uint16_t)bd);
	} else {
		buf[0] = (uint8_t)(n - 1);
		buf[2] = lun->readonly ? 0x80 : 0;
		buf[3] = (uint8_t)bd;
	}
	scsi_data_in(cmd, buf, n, alloc);
}

/* ---- READ CAPACITY (SBC-3 5.11, 5.12) ------------------------------------ */

void scsi_spc_read_capacity10(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	uint8_t buf[8];

	/* PMI = 0 requires LOGICAL BLOCK ADDRESS = 0 (SBC-3 5.11). */
	if (!(cmd->cdb[8] & 0x01) && get_be32(&cmd->cdb[2])) {
		scsi_invalid_field(cmd, 2);
		return;
	}
	/* FFFFFFFFh: too big, use READ CAPACITY(16). */
	put_be32(&buf[0], (uint32_t)MIN(lun->nblocks - 1, 0xFFFFFFFFull));
	put_be32(&buf[4], BLK_SECTOR_SIZE);
	scsi_data_in(cmd, buf, sizeof(buf), sizeof(buf));
}

void scsi_spc_service_action_in16(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	uint8_t buf[32];

	if ((cmd->cdb[1] & 0x1F) != 0x10) {   /* only READ CAPACITY(16) */
		scsi_invalid_field(cmd, 1);
		return;
	}
	memset(buf, 0, sizeof(buf));
	put_be64(&buf[0], lun->nblocks - 1);
	put_be32(&buf[8], BLK_SECTOR_SIZE);
	/* 2^3 logical blocks per physical block: 4 KiB, which keeps guest
	 * partitions aligned to host pages and filesystem blocks. */
	buf[13] = 0x03;
	/* LBPME: thin provisioning (UNMAP / WRITE SAME UNMAP) is enabled;
	 * LBPRZ: unmapped blocks read as zeroes. */
	buf[14] = (lun->discard ? 0x80 : 0) | (lun->lbprz ? 0x40 : 0);
	scsi_data_in(cmd, buf, sizeof(buf), get_be32(&cmd->cdb[10]));
}

/* ---- REPORT LUNS (SPC-3 6.21) --------------------------------------------- */

void scsi_spc_report_luns(struct scsi_cmd *cmd, const uint16_t *luns, unsigned n)
{
	uint8_t buf[8 + 8 * SCSI_TARGET_MAX_LUNS];
	uint8_t select = cmd->cdb[2];
	uint32_t alloc = get_be32(&cmd->cdb[6]);
	size_t len = 8;

	if (select > 0x02) {
		scsi_invalid_field(cmd, 2);
		return;
	}
	if (alloc < 16) {              /* SPC-3 6.21: at least 16 */
		scsi_invalid_field(cmd, 6);
		return;
	}
	memset(buf, 0, sizeof(buf));
	/* SELECT REPORT 1 asks for well-known LUNs only: there are none. */
	for (unsigned i = 0; select != 0x01 && i < n && i < SCSI_TARGET_MAX_LUNS; i++) {
		/* SAM-4 4.6.7: peripheral addressing below 256, flat above
		 * (facts §8.5: the number in bytes 0-1, big-endian). */
		buf[len] = luns[i] < 256 ? 0 : (uint8_t)(0x40 | ((luns[i] >> 8) & 0x3F));
		buf[len + 1] = (uint8_t)luns[i];
		len += 8;
	}
	put_be32(&buf[0], (uint32_t)(len - 8));
	scsi_data_in(cmd, buf, len, alloc);
}

void scsi_spc_report_luns_single(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	static const uint16_t lun0 = 0;

	scsi_spc_report_luns(cmd, &lun0, 1);
}
