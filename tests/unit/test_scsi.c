/* SPDX-License-Identifier: MIT */
/*
 * The SCSI target against a raw temporary file and a real event loop:
 * every command valid, with a short CDB, out of range (including the
 * LBA FFFFFFFFFFFFFFFFh overflow), with a buffer smaller than the transfer,
 * on a read-only LUN; unit attentions after hot-add and resize; missing
 * LUNs (hyperv-guest-facts §8.5).
 */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scsi_fixture.h"

/* ---- INQUIRY ------------------------------------------------------------- */

START_TEST(inquiry_standard)
{
	uint8_t c[6] = { 0x12, 0, 0, 0, 96, 0 }, buf[96];

	ck_assert_uint_eq(RUN(c, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 36);
	ck_assert_uint_eq(buf[0], 0x00);
	ck_assert_uint_eq(buf[2], 0x05);                /* SPC-3 */
	ck_assert_uint_eq(buf[4], 31);
	ck_assert_mem_eq(buf + 8, "Msft    Virtual Disk    1.0 ", 28);
	c[4] = 5;                                       /* allocation length truncates */
	ck_assert_uint_eq(RUN(c, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 5);
	c[4] = 96;                                      /* ... and so does the buffer */
	ck_assert_uint_eq(RUN(c, IN, buf, 10), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 10);
	c[2] = 0x80;                                    /* page code without EVPD */
	ck_assert_uint_eq(RUN(c, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
	ck_assert_uint_eq(cmd.sense[15], 0xC0);         /* SKSV, in the CDB */
	ck_assert_uint_eq(cmd.sense[17], 2);            /* byte 2 */
	c[2] = 0;
	c[1] = 0x02;                                    /* CMDDT */
	ck_assert_uint_eq(RUN(c, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	c[1] = 0;
	SHORT(c, IN, buf, sizeof(buf));
	/* No buffer at all: GOOD with nothing moved. */
	ck_assert_uint_eq(RUN(c, NONE, NULL, 0), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 0);
}
END_TEST

static size_t vpd(struct scsi_lun *l, uint8_t page, uint8_t *buf)
{
	uint8_t c[6] = { 0x12, 1, page, 1, 0, 0 };

	ck_assert_uint_eq(run_on(l, c, 6, IN, buf, 256), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(buf[1], page);
	ck_assert_uint_eq(cmd.transferred, 4u + (buf[2] << 8 | buf[3]));
	return cmd.transferred;
}

START_TEST(inquiry_vpd_pages)
{
	uint8_t buf[256], naa1[8], c[6] = { 0x12, 1, 0x89, 1, 0, 0 };
	struct scsi_lun *same, *other;

	ck_assert_uint_eq(vpd(lun, 0x00, buf), 10);
	ck_assert_mem_eq(buf + 4, "\x00\x80\x83\xB0\xB1\xB2", 6);
	ck_assert_uint_eq(vpd(lun, 0x80, buf), 4 + 7);
	ck_assert_mem_eq(buf + 4, "SN-0001", 7);
	vpd(lun, 0x83, buf);
	ck_assert_uint_eq(buf[4], 0x01);                /* binary */
	ck_assert_uint_eq(buf[5], 0x03);                /* LU, NAA */
	ck_assert_uint_eq(buf[7], 8);
	ck_assert_uint_eq(buf[8] >> 4, 3);              /* NAA 3: locally assigned */
	memcpy(naa1, buf + 8, 8);
	ck_assert_uint_eq(buf[16], 0x02);               /* ASCII T10 vendor id */
	ck_assert_uint_eq(buf[17], 0x01);
	ck_assert_mem_eq(buf + 20, "Msft    Virtual Disk    SN-0001", 31);
	/* The designator is a function of the serial: stable, distinct. */
	same = new_lun(blk, "SN-0001");
	other = new_lun(blk, "SN-0003");
	vpd(same, 0x83, buf);
	ck_assert_mem_eq(buf + 8, naa1, 8);
	vpd(other, 0x83, buf);
	ck_assert(memcmp(buf + 8, naa1, 8) != 0);
	scsi_lun_destroy(same);
	scsi_lun_destroy(other);
	ck_assert_uint_eq(vpd(lun, 0xB0, buf), 64);
	ck_assert_uint_eq(buf[4] & 1, 1);                             /* WSNZ */
	ck_assert_uint_eq(buf[8] << 24 | buf[9] << 16 | buf[10] << 8 | buf[11],
			  SCSI_MAX_TRANSFER_BYTES / 512);
	ck_assert_uint_ne(buf[20] | buf[21] | buf[22] | buf[23], 0);   /* max unmap */
	ck_assert_uint_ne(buf[40] | buf[41] | buf[42] | buf[43], 0);   /* max write same */
	ck_assert_uint_eq(vpd(lun, 0xB1, buf), 64);
	ck_assert_uint_eq(buf[4] << 8 | buf[5], 1);                    /* non-rotating */
	ck_assert_uint_eq(vpd(lun, 0xB2, buf), 8);
	ck_assert_uint_eq(buf[5] & 0xE4, 0xE4);        /* LBPU, LBPWS, LBPWS10, LBPRZ */
	vpd(lun_ro, 0xB2, buf);
	ck_assert_uint_eq(buf[5], 0);
	vpd(lun_ro, 0xB0, buf);
	ck_assert_uint_eq(buf[20] | buf[21] | buf[22] | buf[23], 0);
	/* A page we do not have. */
	ck_assert_uint_eq(RUN(c, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
}
END_TEST

/* ---- REPORT LUNS, TEST UNIT READY, START STOP, REQUEST SENSE -------------- */

START_TEST(report_luns_single_lun)
{
	uint8_t c[12] = { 0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 }, buf[256];

	ck_assert_uint_eq(RUN(c, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 16);
	ck_assert_mem_eq(buf, "\0\0\0\x08\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	c[2] = 0x01;                                    /* well-known LUNs: none */
	ck_assert_uint_eq(RUN(c, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 8);
	c[2] = 0x07;
	ck_assert_uint_eq(RUN(c, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
	c[2] = 0;
	c[8] = 0;
	c[9] = 15;                                      /* allocation length < 16 */
	ck_assert_uint_eq(RUN(c, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
	c[8] = 1;
	c[9] = 0;
	SHORT(c, IN, buf, sizeof(buf));
}
END_TEST

START_TEST(tur_start_stop_request_sense)
{
	uint8_t tur[6] = { 0 }, ss[6] = { 0x1B, 0, 0, 0, 1, 0 };
	uint8_t rs[6] = { 0x03, 0, 0, 0, 252, 0 }, buf[252];

	ck_assert_uint_eq(RUN(tur, NONE, NULL, 0), SCSI_STATUS_GOOD);
	SHORT(tur, NONE, NULL, 0);
	ck_assert_uint_eq(RUN(ss, NONE, NULL, 0), SCSI_STATUS_GOOD);
	SHORT(ss, NONE, NULL, 0);
	ck_assert_uint_eq(RUN(rs, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 18);
	ck_assert_uint_eq(buf[0], 0x70);
	ck_assert_uint_eq(buf[2], SCSI_SENSE_NO_SENSE);
	rs[4] = 8;
	ck_assert_uint_eq(RUN(rs, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 8);
	rs[1] = 1;                                      /* descriptor format */
	ck_assert_uint_eq(RUN(rs, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	rs[1] = 0;
	SHORT(rs, IN, buf, sizeof(buf));
}
END_TEST

START_TEST(unknown_and_empty_cdb)
{
	uint8_t c[16] = { 0xC5 }, buf[512];

	ck_assert_uint_eq(RUN(c, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x20);
	c[0] = 0x15;                                    /* MODE SELECT(6): not supported */
	ck_assert_uint_eq(RUN(c, OUT, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x20);
	ck_assert_uint_eq(run_on(lun, c, 0, NONE, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
	ck_assert_uint_eq(run_on(lun, NULL, 6, NONE, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
}
END_TEST

/* ---- READ CAPACITY ------------------------------------------------------- */

START_TEST(read_capacity)
{
	uint8_t c10[10] = { 0x25 }, c16[16] = { 0x9E, 0x10, [13] = 32 }, buf[64];

	ck_assert_uint_eq(RUN(c10, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 8);
	ck_assert_mem_eq(buf, "\x00\x00\x07\xFF\x00\x00\x02\x00", 8);
	c10[5] = 1;                                     /* LBA without PMI */
	ck_assert_uint_eq(RUN(c10, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
	c10[5] = 0;
	SHORT(c10, IN, buf, sizeof(buf));
	ck_assert_uint_eq(RUN(c16, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 32);
	ck_assert_mem_eq(buf, "\0\0\0\0\0\0\x07\xFF\0\0\x02\x00", 12);
	ck_assert_uint_eq(buf[13], 3);                  /* 4 KiB physical */
	ck_assert_uint_eq(buf[14] & 0xC0, 0xC0);        /* LBPME, LBPRZ */
	ck_assert_uint_eq(run_on(lun_ro, c16, 16, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(buf[14] & 0xC0, 0);
	c16[13] = 12;                                   /* allocation length */
	ck_assert_uint_eq(RUN(c16, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 12);
	c16[1] = 0x11;                                  /* another service action */
	ck_assert_uint_eq(RUN(c16, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
	c16[1] = 0x10;
	SHORT(c16, IN, buf, sizeof(buf));
}
END_TEST

/* ---- READ / WRITE -------------------------------------------------------------- */

START_TEST(read_write_every_size)
{
	static uint8_t w[256 * 512], r[256 * 512];

	for (int k = 0; k < 4; k++) {
		memset(w, 0x10 + k, 8 * 512);
		ck_assert_uint_eq(io(lun, writes[k], 100 + 10 * k, 8, OUT, w, 8 * 512), SCSI_STATUS_GOOD);
		ck_assert_uint_eq(cmd.transferred, 8 * 512);
	}
	for (int k = 0; k < 4; k++) {
		memset(r, 0, 8 * 512);
		ck_assert_uint_eq(io(lun, reads[(k + 1) % 4], 100 + 10 * k, 8, IN, r, 8 * 512),
				  SCSI_STATUS_GOOD);
		ck_assert_uint_eq(cmd.transferred, 8 * 512);
		for (int i = 0; i < 8 * 512; i++)
			ck_assert_uint_eq(r[i], 0x10 + k);
	}
	/* READ(6) with length 0 moves 256 blocks (SBC-3 5.7). */
	ck_assert_uint_eq(io(lun, 0x08, 0, 0, IN, r, sizeof(r)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 256 * 512);
	ck_assert_uint_eq(r[100 * 512], 0x10);
	/* Other sizes with length 0: nothing moves, GOOD. */
	ck_assert_uint_eq(io(lun, 0x28, 5, 0, IN, r, sizeof(r)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 0);
	/* A larger buffer: the first bytes are used. */
	ck_assert_uint_eq(io(lun, 0x28, 100, 1, IN, r, sizeof(r)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 512);
	/* The last block exactly. */
	ck_assert_uint_eq(io(lun, 0x8A, DISK_BLOCKS - 1, 1, OUT, w, 512), SCSI_STATUS_GOOD);
}
END_TEST

START_TEST(read_write_scattered_buffer_with_fua)
{
	static uint8_t a[700], b[3000 - 700 + 1024];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	uint8_t c[10] = { 0x2A, 0x08, 0, 0, 0, 50, 0, 0, 4, 0 }, r[2048];
	int before = ndone;

	memset(a, 0xA1, sizeof(a));
	memset(b, 0xB2, sizeof(b));
	cmd = (struct scsi_cmd){ .cdb = c, .cdb_len = 10, .dir = OUT, .iov = iov, .iovcnt = 2,
				 .data_len = sizeof(a) + sizeof(b), .done = cmd_done };
	scsi_lun_execute(lun, &cmd);          /* 4 blocks from a 4024-byte buffer: trimmed */
	wait_one(before);
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 2048);
	ck_assert_uint_eq(io(lun, 0x28, 50, 4, IN, r, sizeof(r)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(r[699], 0xA1);
	ck_assert_uint_eq(r[700], 0xB2);
	ck_assert_uint_eq(r[2047], 0xB2);
}
END_TEST

START_TEST(read_write_out_of_range)
{
	static uint8_t buf[8 * 512];

	for (int k = 0; k < 4; k++) {
		for (int w = 0; w < 2; w++) {
			uint8_t op = w ? writes[k] : reads[k];
			enum scsi_dir d = w ? OUT : IN;

			ck_assert_uint_eq(io(lun, op, DISK_BLOCKS, 1, d, buf, 512),
					  SCSI_STATUS_CHECK_CONDITION);
			ILLEGAL(0x21);
			ck_assert_uint_eq(io(lun, op, DISK_BLOCKS - 4, 8, d, buf, sizeof(buf)),
					  SCSI_STATUS_CHECK_CONDITION);
			ILLEGAL(0x21);
		}
	}
	/* LBA FFFFFFFFFFFFFFFFh + 1 wraps to 0: still out of range. */
	ck_assert_uint_eq(io(lun, 0x88, UINT64_MAX, 1, IN, buf, 512), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x21);
	ck_assert_uint_eq(io(lun, 0x8A, UINT64_MAX, 2, OUT, buf, 1024), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x21);
	ck_assert_uint_eq(io(lun, 0x88, UINT64_MAX - 1, 0xFFFFFFFF, IN, buf, 512),
			  SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x21);
	ck_assert_uint_eq(io(lun, 0x28, DISK_BLOCKS + 1, 0, IN, buf, 512),
			  SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x21);
	/* Beyond the Block Limits maximum transfer, though inside the disk's LBA
	 * space for a bigger disk: refused before anything is touched. */
	ck_assert_uint_eq(io(lun, 0xA8, 0, SCSI_MAX_TRANSFER_BYTES / 512 + 1, IN, buf, 512),
			  SCSI_STATUS_CHECK_CONDITION);
}
END_TEST

START_TEST(read_write_buffer_too_small)
{
	static uint8_t buf[8 * 512], r[8 * 512];

	memset(buf, 0x77, sizeof(buf));
	for (int k = 0; k < 4; k++) {
		ck_assert_uint_eq(io(lun, writes[k], 200, 8, OUT, buf, 8 * 512 - 1),
				  SCSI_STATUS_CHECK_CONDITION);
		ILLEGAL(0x24);
		ck_assert_uint_eq(io(lun, reads[k], 200, 8, IN, buf, 7 * 512),
				  SCSI_STATUS_CHECK_CONDITION);
		ILLEGAL(0x24);
		/* Wrong direction, or no buffer. */
		ck_assert_uint_eq(io(lun, reads[k], 200, 1, OUT, buf, 512), SCSI_STATUS_CHECK_CONDITION);
		ck_assert_uint_eq(io(lun, writes[k], 200, 1, NONE, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
	}
	/* Nothing was written. */
	ck_assert_uint_eq(io(lun, 0x28, 200, 8, IN, r, sizeof(r)), SCSI_STATUS_GOOD);
	for (size_t i = 0; i < sizeof(r); i++)
		ck_assert_uint_eq(r[i], 0);
}
END_TEST

START_TEST(read_write_short_cdb_and_protect_fields)
{
	static uint8_t buf[512], c[16];

	for (int k = 0; k < 4; k++) {
		fill_cdb(c, reads[k], 0, 1);
		expect_short_cdb_rejected(c, cdb_size(reads[k]), IN, buf, 512);
		fill_cdb(c, writes[k], 0, 1);
		expect_short_cdb_rejected(c, cdb_size(writes[k]), OUT, buf, 512);
	}
	fill_cdb(c, 0x28, 0, 1);
	c[1] = 0x20;                                    /* RDPROTECT */
	ck_assert_uint_eq(RUN(c, IN, buf, 512) , SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
}
END_TEST

START_TEST(read_only_lun_refuses_writes)
{
	static uint8_t buf[4096];
	uint8_t unmap[10] = { 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0 };
	uint8_t ws[16], ms[6] = { 0x1A, 0, 0x3F, 0, 255, 0 };

	for (int k = 0; k < 4; k++) {
		ck_assert_uint_eq(io(lun_ro, writes[k], 0, 1, OUT, buf, 512),
				  SCSI_STATUS_CHECK_CONDITION);
		expect_sense(SCSI_SENSE_DATA_PROTECT, 0x27, 0x00);
		ck_assert_uint_eq(io(lun_ro, reads[k], 0, 1, IN, buf, 512), SCSI_STATUS_GOOD);
	}
	/* UNMAP: not supported at all without discard. */
	ck_assert_uint_eq(run_on(lun_ro, unmap, 10, OUT, buf, 24), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x20);
	fill_cdb(ws, 0x93, 0, 4);
	ck_assert_uint_eq(run_on(lun_ro, ws, 16, OUT, buf, 512), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(SCSI_SENSE_DATA_PROTECT, 0x27, 0x00);
	/* MODE SENSE reports WP. */
	ck_assert_uint_eq(run_on(lun_ro, ms, 6, IN, buf, 255), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(buf[2] & 0x80, 0x80);
	ck_assert_uint_eq(RUN(ms, IN, buf, 255), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(buf[2] & 0x80, 0);
}
END_TEST

/* ---- SYNCHRONIZE CACHE, VERIFY ------------------------------------------------ */

START_TEST(sync_cache_and_verify)
{
	static uint8_t c[16];
	json_t *st;

	for (int i = 0; i < 2; i++) {
		uint8_t op = i ? 0x91 : 0x35;

		fill_cdb(c, op, 0, 0);                  /* whole medium */
		ck_assert_uint_eq(run_on(lun, c, cdb_size(op), NONE, NULL, 0), SCSI_STATUS_GOOD);
		fill_cdb(c, op, 10, 20);
		ck_assert_uint_eq(run_on(lun, c, cdb_size(op), NONE, NULL, 0), SCSI_STATUS_GOOD);
		fill_cdb(c, op, DISK_BLOCKS - 1, 2);
		ck_assert_uint_eq(run_on(lun, c, cdb_size(op), NONE, NULL, 0),
				  SCSI_STATUS_CHECK_CONDITION);
		ILLEGAL(0x21);
		fill_cdb(c, op, 0, 0);
		expect_short_cdb_rejected(c, cdb_size(op), NONE, NULL, 0);
	}
	st = blk_stats(blk);       /* they were real flushes */
	ck_assert_int_eq(json_integer_value(json_object_get(st, "flushes")), 4);
	json_decref(st);
	for (int i = 0; i < 2; i++) {
		uint8_t op = i ? 0x8F : 0x2F;

		fill_cdb(c, op, 0, DISK_BLOCKS);
		ck_assert_uint_eq(run_on(lun, c, cdb_size(op), NONE, NULL, 0), SCSI_STATUS_GOOD);
		fill_cdb(c, op, i ? UINT64_MAX : 0xFFFFFFFF, 1);
		ck_assert_uint_eq(run_on(lun, c, cdb_size(op), NONE, NULL, 0),
				  SCSI_STATUS_CHECK_CONDITION);
		ILLEGAL(0x21);
		fill_cdb(c, op, 0, 1);
		c[1] = 0x02;                            /* BYTCHK */
		ck_assert_uint_eq(run_on(lun, c, cdb_size(op), OUT, c, 1), SCSI_STATUS_CHECK_CONDITION);
		ILLEGAL(0x24);
		c[1] = 0;
		expect_short_cdb_rejected(c, cdb_size(op), NONE, NULL, 0);
	}
}
END_TEST

/* ---- MODE SENSE ------------------------------------------------------------------ */

START_TEST(mode_sense_pages)
{
	uint8_t m6[6] = { 0x1A, 0, 0x08, 0, 255, 0 }, m10[10] = { 0x5A, 0, 0x3F, 0, 0, 0, 0, 1, 0, 0 };
	uint8_t buf[256];
	struct blk_backend *b2;
	struct scsi_lun *l2;

	ck_assert_uint_eq(RUN(m6, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 4 + 8 + 20);
	ck_assert_uint_eq(buf[0], 4 + 8 + 20 - 1);
	ck_assert_uint_eq(buf[3], 8);                   /* block descriptor */
	ck_assert_mem_eq(buf + 4, "\0\0\x08\0\0\0\x02\0", 8);
	ck_assert_uint_eq(buf[12], 0x08);
	ck_assert_uint_eq(buf[14] & 0x04, 0x04);        /* WCE */
	m6[1] = 0x08;                                   /* DBD */
	m6[2] = 0x3F;
	ck_assert_uint_eq(RUN(m6, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 4 + 20 + 12);
	ck_assert_uint_eq(buf[3], 0);
	ck_assert_uint_eq(buf[4], 0x08);
	ck_assert_uint_eq(buf[24], 0x0A);
	m6[2] = 0x48;                                   /* changeable values: WCE not */
	ck_assert_uint_eq(RUN(m6, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(buf[6], 0);
	m6[2] = 0xC8;                                   /* saved values */
	ck_assert_uint_eq(RUN(m6, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x39);
	m6[2] = 0x19;                                   /* a page we lack */
	ck_assert_uint_eq(RUN(m6, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
	m6[2] = 0x08;
	m6[3] = 0x01;                                   /* a subpage */
	ck_assert_uint_eq(RUN(m6, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	m6[3] = 0;
	m6[4] = 4;                                      /* header only */
	ck_assert_uint_eq(RUN(m6, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 4);
	SHORT(m6, IN, buf, sizeof(buf));
	/* MODE SENSE(10), long LBA descriptor. */
	ck_assert_uint_eq(RUN(m10, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 8 + 8 + 20 + 12);
	ck_assert_uint_eq(buf[1], 8 + 8 + 20 + 12 - 2);
	ck_assert_uint_eq(buf[7], 8);
	m10[1] = 0x10;                                  /* LLBAA */
	ck_assert_uint_eq(RUN(m10, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(buf[4], 1);
	ck_assert_uint_eq(buf[7], 16);
	ck_assert_mem_eq(buf + 8, "\0\0\0\0\0\0\x08\0\0\0\0\0\0\0\x02\0", 16);
	SHORT(m10, IN, buf, sizeof(buf));
	/* cache=unsafe: no volatile cache, WCE = 0. */
	b2 = open_backend(false, false, BLK_CACHE_UNSAFE);
	l2 = new_lun(b2, "SN-9");
	m6[1] = 0x08;
	m6[4] = 255;
	ck_assert_uint_eq(run_on(l2, m6, 6, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(buf[6] & 0x04, 0);
	scsi_lun_destroy(l2);
	blk_close(b2);
}
END_TEST

/* ---- UNMAP, WRITE SAME --------------------------------------------------------- */

START_TEST(unmap_punches_and_checks)
{
	static uint8_t data[256 * 512], r[256 * 512];
	uint8_t c[10] = { 0x42, 0, 0, 0, 0, 0, 0, 0, 40, 0 };
	uint8_t p[40] = { 0, 38, 0, 32 };
	uint64_t before;

	memset(data, 0x99, sizeof(data));
	ck_assert_uint_eq(io(lun, 0x2A, 512, 256, OUT, data, sizeof(data)), SCSI_STATUS_GOOD);
	before = file_blocks();
	/* Two descriptors: [512, +128) and [700, +0). */
	p[8 + 6] = 0x02; p[8 + 15 - 4] = 128;
	p[24 + 6] = 0x02; p[24 + 7] = 0xBC;
	ck_assert_uint_eq(RUN(c, OUT, p, sizeof(p)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 40);
	ck_assert_uint_le(file_blocks(), before - 128);
	ck_assert_uint_eq(io(lun, 0x28, 512, 256, IN, r, sizeof(r)), SCSI_STATUS_GOOD);
	for (int i = 0; i < 128 * 512; i++)
		ck_assert_uint_eq(r[i], 0);
	ck_assert_uint_eq(r[128 * 512], 0x99);
	/* A descriptor past the end: nothing is unmapped. */
	p[8 + 6] = 0x07; p[8 + 7] = 0xFF; p[8 + 11] = 2;   /* LBA 2047, 2 blocks */
	ck_assert_uint_eq(RUN(c, OUT, p, sizeof(p)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x21);
	memset(p + 8, 0xFF, 8);                             /* LBA FFFF...F */
	ck_assert_uint_eq(RUN(c, OUT, p, sizeof(p)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x21);
	ck_assert_uint_eq(io(lun, 0x28, 640, 1, IN, r, 512), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(r[0], 0x99);
	/* Parameter list: empty is fine, 1..7 bytes is an error, longer than
	 * the buffer is refused. */
	c[8] = 0;
	ck_assert_uint_eq(RUN(c, NONE, NULL, 0), SCSI_STATUS_GOOD);
	c[8] = 7;
	ck_assert_uint_eq(RUN(c, OUT, p, sizeof(p)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x1A);
	c[8] = 40;
	ck_assert_uint_eq(RUN(c, OUT, p, 39), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
	c[1] = 1;                                           /* ANCHOR */
	ck_assert_uint_eq(RUN(c, OUT, p, sizeof(p)), SCSI_STATUS_CHECK_CONDITION);
	c[1] = 0;
	SHORT(c, OUT, p, sizeof(p));
}
END_TEST

START_TEST(write_same_pattern_zero_and_unmap)
{
	static uint8_t blk512[512], r[64 * 512];
	uint8_t c[16];

	for (int i = 0; i < 512; i++)
		blk512[i] = (uint8_t)i;
	/* WRITE SAME(10) of a pattern. */
	fill_cdb(c, 0x41, 1000, 64);
	ck_assert_uint_eq(RUN(c, OUT, blk512, 512), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 512);
	ck_assert_uint_eq(io(lun, 0x28, 1000, 64, IN, r, sizeof(r)), SCSI_STATUS_GOOD);
	for (int b = 0; b < 64; b++)
		ck_assert_mem_eq(r + b * 512, blk512, 512);
	/* WRITE SAME(16) with UNMAP and a zero block: deallocated, reads 0. */
	memset(blk512, 0, sizeof(blk512));
	fill_cdb(c, 0x93, 1000, 32);
	c[1] = 0x08;
	ck_assert_uint_eq(run_on(lun, c, 16, OUT, blk512, 512), SCSI_STATUS_GOOD);
	/* WRITE SAME(16) NDOB: zeroes without a data-out buffer. */
	fill_cdb(c, 0x93, 1032, 16);
	c[1] = 0x01;
	ck_assert_uint_eq(run_on(lun, c, 16, NONE, NULL, 0), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 0);
	ck_assert_uint_eq(io(lun, 0x28, 1000, 64, IN, r, sizeof(r)), SCSI_STATUS_GOOD);
	for (int i = 0; i < 48 * 512; i++)
		ck_assert_uint_eq(r[i], 0);
	ck_assert_uint_eq(r[48 * 512 + 1], 1);
	/* Errors: zero blocks (WSNZ), out of range, overflow, short buffer,
	 * ANCHOR, short CDB. */
	fill_cdb(c, 0x93, 0, 0);
	ck_assert_uint_eq(run_on(lun, c, 16, OUT, blk512, 512), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
	fill_cdb(c, 0x93, DISK_BLOCKS - 1, 2);
	ck_assert_uint_eq(run_on(lun, c, 16, OUT, blk512, 512), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x21);
	fill_cdb(c, 0x93, UINT64_MAX, 1);
	ck_assert_uint_eq(run_on(lun, c, 16, OUT, blk512, 512), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x21);
	fill_cdb(c, 0x41, 0, 1);
	ck_assert_uint_eq(run_on(lun, c, 10, OUT, blk512, 511), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
	c[1] = 0x10;
	ck_assert_uint_eq(run_on(lun, c, 10, OUT, blk512, 512), SCSI_STATUS_CHECK_CONDITION);
	c[1] = 0;
	expect_short_cdb_rejected(c, 10, OUT, blk512, 512);
	fill_cdb(c, 0x93, 0, 1);
	expect_short_cdb_rejected(c, 16, OUT, blk512, 512);
}
END_TEST

/* ---- unit attentions, the target, missing LUNs ------------------------------ */

START_TEST(unit_attention_after_hot_add_and_resize)
{
	uint8_t tur[6] = { 0 }, inq[6] = { 0x12, 0, 0, 0, 36, 0 }, buf[512];
	uint8_t rl[12] = { 0xA0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0 };
	struct scsi_target *t = scsi_target_create();
	struct blk_backend *b2 = open_backend(false, false, BLK_CACHE_WRITEBACK);
	struct scsi_lun *l2 = new_lun(b2, "SN-HOT");
	int fd;

	ck_assert_int_eq(scsi_target_attach(t, 0, lun, false), 0);
	ck_assert_uint_eq(run_t(t, 0, tur, 6, NONE, NULL, 0), SCSI_STATUS_GOOD);   /* quiet */
	ck_assert_int_eq(scsi_target_attach(t, 3, l2, true), 0);
	ck_assert_int_eq(scsi_target_attach(t, 3, l2, true), -EEXIST);
	ck_assert_int_eq(scsi_target_attach(t, 256, l2, true), -ERANGE);
	/* INQUIRY is not affected (SAM-4 5.8.7) ... */
	ck_assert_uint_eq(run_t(t, 0, inq, 6, IN, buf, 36), SCSI_STATUS_GOOD);
	/* ... the next other command reports it once. */
	ck_assert_uint_eq(run_t(t, 0, tur, 6, NONE, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(SCSI_SENSE_UNIT_ATTENTION, 0x3F, 0x0E);
	ck_assert_uint_eq(run_t(t, 0, tur, 6, NONE, NULL, 0), SCSI_STATUS_GOOD);
	/* The new LUN itself has none. */
	ck_assert_uint_eq(run_t(t, 3, tur, 6, NONE, NULL, 0), SCSI_STATUS_GOOD);
	/* REPORT LUNS, from any LUN number, lists 0 and 3. */
	ck_assert_uint_eq(run_t(t, 7, rl, 12, IN, buf, 512), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 24);
	ck_assert_mem_eq(buf, "\0\0\0\x10\0\0\0\0", 8);
	ck_assert_uint_eq(buf[9], 0);
	ck_assert_uint_eq(buf[17], 3);
	/* Hot-remove: LUN 0 is told; REPORT LUNS addressed to it clears that. */
	ck_assert_ptr_eq(scsi_target_detach(t, 3, true), l2);
	ck_assert_ptr_null(scsi_target_detach(t, 3, true));
	ck_assert_uint_eq(run_t(t, 0, rl, 12, IN, buf, 512), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 16);
	ck_assert_uint_eq(run_t(t, 0, tur, 6, NONE, NULL, 0), SCSI_STATUS_GOOD);
	scsi_lun_destroy(l2);
	blk_close(b2);
	/* Resize: CAPACITY DATA HAS CHANGED, via REQUEST SENSE this time. */
	fd = open(path, O_RDWR);
	ck_assert_int_eq(ftruncate(fd, 2 * DISK_BLOCKS * 512), 0);
	close(fd);
	ck_assert_int_eq(scsi_lun_refresh_capacity(lun), 1);
	ck_assert_int_eq(scsi_lun_refresh_capacity(lun), 0);
	{
		uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 }, c16[16] = { 0x9E, 0x10, [13] = 32 };

		ck_assert_uint_eq(run_t(t, 0, rs, 6, IN, buf, 18), SCSI_STATUS_GOOD);
		ck_assert_uint_eq(buf[2], SCSI_SENSE_UNIT_ATTENTION);
		ck_assert_uint_eq(buf[12], 0x2A);
		ck_assert_uint_eq(buf[13], 0x09);
		ck_assert_uint_eq(run_t(t, 0, c16, 16, IN, buf, 32), SCSI_STATUS_GOOD);
		ck_assert_uint_eq(buf[6] << 8 | buf[7], 2 * DISK_BLOCKS - 1);
	}
	ck_assert_ptr_eq(scsi_target_detach(t, 0, false), lun);
	scsi_target_destroy(t);
}
END_TEST

START_TEST(power_on_unit_attention_when_asked)
{
	struct scsi_lun_config cfg = { .serial = "X", .power_on_ua = true };
	struct json_err err;
	struct scsi_lun *l;
	uint8_t tur[6] = { 0 };

	ck_assert_int_eq(scsi_lun_create(blk, &cfg, &l, &err), 0);
	ck_assert_uint_eq(run_on(l, tur, 6, NONE, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x00);
	ck_assert_uint_eq(run_on(l, tur, 6, NONE, NULL, 0), SCSI_STATUS_GOOD);
	scsi_lun_destroy(l);
}
END_TEST

START_TEST(missing_lun_answers)
{
	uint8_t inq[6] = { 0x12, 0, 0, 0, 96, 0 }, vpd0[6] = { 0x12, 1, 0, 0, 96, 0 };
	uint8_t tur[6] = { 0 }, rl[12] = { 0xA0, [8] = 1 }, buf[256];
	struct scsi_target *t = scsi_target_create();
	struct iovec iov;
	int before = ndone;

	/* Facts §8.5: standard INQUIRY answers PQ 3 / type 1Fh, GOOD. */
	memset(buf, 0xEE, sizeof(buf));
	ck_assert_uint_eq(run_t(t, 1, inq, 6, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(buf[0], 0x7F);
	ck_assert_uint_eq(cmd.transferred, 36);
	ck_assert(!cmd.lun_missing);
	ck_assert_uint_eq(run_t(t, 1, vpd0, 6, IN, buf, sizeof(buf)), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
	ck_assert_uint_eq(run_t(t, 1, tur, 6, NONE, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
	ck_assert(cmd.lun_missing);
	/* REPORT LUNS of an empty target: an empty list. */
	ck_assert_uint_eq(run_t(t, 0, rl, 12, IN, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	ck_assert_uint_eq(cmd.transferred, 8);
	ck_assert_uint_eq(buf[3], 0);
	/* The standalone helper, and the caller-provided LUN list. */
	prep(inq, 6, IN, &iov, buf, sizeof(buf));
	scsi_missing_lun_execute(&cmd);
	ck_assert_int_eq(ndone, before + 5);
	ck_assert_uint_eq(buf[0], 0x7F);
	prep(rl, 12, IN, &iov, buf, sizeof(buf));
	scsi_report_luns_execute(&cmd, (const uint16_t[]){ 0, 1, 300 }, 3);
	ck_assert_uint_eq(cmd.transferred, 32);
	ck_assert_uint_eq(buf[24], 0x41);               /* flat addressing above 255 */
	ck_assert_uint_eq(buf[25], 300 & 0xFF);
	scsi_target_destroy(t);
}
END_TEST

START_TEST(identity_config)
{
	struct scsi_lun_config cfg = { .vendor = "TooLongVendor" };
	struct json_err err = { "" };
	struct scsi_lun *l = NULL;
	json_t *o;

	ck_assert_int_eq(scsi_lun_create(blk, &cfg, &l, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "vendor"));
	cfg.vendor = NULL;
	cfg.serial = "bad\nserial";
	ck_assert_int_eq(scsi_lun_create(blk, &cfg, &l, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "serial"));
	o = json_pack("{s:s, s:i}", "serial", "abc", "vendor", 5);
	ck_assert_int_eq(scsi_lun_config_from_json(o, "devices[1]", &cfg, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "devices[1].vendor"));
	json_decref(o);
	/* Without a serial: one derived from the path, stable. */
	cfg = (struct scsi_lun_config){ 0 };
	ck_assert_int_eq(scsi_lun_create(blk, &cfg, &l, &err), 0);
	{
		uint8_t buf[256], a[64];
		size_t n = vpd(l, 0x80, buf);

		ck_assert_uint_eq(n, 4 + 16);
		memcpy(a, buf, n);
		scsi_lun_destroy(l);
		ck_assert_int_eq(scsi_lun_create(blk, &cfg, &l, &err), 0);
		vpd(l, 0x80, buf);
		ck_assert_mem_eq(buf, a, n);
	}
	o = scsi_lun_stats(l);
	ck_assert_int_ge(json_integer_value(json_object_get(o, "commands")), 1);
	json_decref(o);
	scsi_lun_destroy(l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scsi");
	TCase *tc = tcase_create("scsi");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, inquiry_standard);
	tcase_add_test(tc, inquiry_vpd_pages);
	tcase_add_test(tc, report_luns_single_lun);
	tcase_add_test(tc, tur_start_stop_request_sense);
	tcase_add_test(tc, unknown_and_empty_cdb);
	tcase_add_test(tc, read_capacity);
	tcase_add_test(tc, read_write_every_size);
	tcase_add_test(tc, read_write_scattered_buffer_with_fua);
	tcase_add_test(tc, read_write_out_of_range);
	tcase_add_test(tc, read_write_buffer_too_small);
	tcase_add_test(tc, read_write_short_cdb_and_protect_fields);
	tcase_add_test(tc, read_only_lun_refuses_writes);
	tcase_add_test(tc, sync_cache_and_verify);
	tcase_add_test(tc, mode_sense_pages);
	tcase_add_test(tc, unmap_punches_and_checks);
	tcase_add_test(tc, write_same_pattern_zero_and_unmap);
	tcase_add_test(tc, unit_attention_after_hot_add_and_resize);
	tcase_add_test(tc, power_on_unit_attention_when_asked);
	tcase_add_test(tc, missing_lun_answers);
	tcase_add_test(tc, identity_config);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
