/* SPDX-License-Identifier: MIT */
/*
 * Fixture of test_scsi: a 1 MiB raw temporary disk served as a read-write
 * LUN (discard on) and a read-only LUN, a real libevent loop, and helpers
 * that run one CDB to completion and check its sense data.  Header-only so
 * the test stays one standalone program.
 */
#ifndef VMBUSD_TESTS_SCSI_FIXTURE_H
#define VMBUSD_TESTS_SCSI_FIXTURE_H

#include <check.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/scsi/scsi.h"

#define DISK_BLOCKS 2048u                 /* 1 MiB */
#define IN SCSI_DIR_READ
#define OUT SCSI_DIR_WRITE
#define NONE SCSI_DIR_NONE

static struct event_base *base;
static char dir[64], path[128];
static struct blk_backend *blk, *blk_ro;
static struct scsi_lun *lun, *lun_ro;
static struct scsi_cmd cmd;
static int ndone;

static void cmd_done(struct scsi_cmd *c)
{
	ndone++;
}

static struct blk_backend *open_backend(bool ro, bool discard, enum blk_cache cache)
{
	struct blk_config cfg = { .path = path, .format = "raw", .readonly = ro,
				  .discard = discard, .cache = cache };
	struct json_err err = { "" };
	struct blk_backend *b;

	ck_assert_msg(blk_open(base, &cfg, &b, &err) == 0, "%s", err.msg);
	return b;
}

static struct scsi_lun *new_lun(struct blk_backend *b, const char *serial)
{
	struct scsi_lun_config cfg = { .serial = serial };
	struct json_err err = { "" };
	struct scsi_lun *l;

	ck_assert_msg(scsi_lun_create(b, &cfg, &l, &err) == 0, "%s", err.msg);
	return l;
}

static void setup(void)
{
	int fd;

	log_set_level(LOG_ERROR);
	strcpy(dir, "/tmp/test_scsi.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	ck_assert_int_eq(ftruncate(fd, DISK_BLOCKS * 512), 0);
	close(fd);
	base = event_base_new();
	blk = open_backend(false, true, BLK_CACHE_WRITEBACK);
	blk_ro = open_backend(true, false, BLK_CACHE_WRITEBACK);
	lun = new_lun(blk, "SN-0001");
	lun_ro = new_lun(blk_ro, "SN-0002");
	ndone = 0;
}

static void teardown(void)
{
	char c[128];

	scsi_lun_destroy(lun);
	scsi_lun_destroy(lun_ro);
	blk_close(blk);
	blk_close(blk_ro);
	event_base_free(base);
	snprintf(c, sizeof(c), "rm -rf %s", dir);
	ck_assert_int_eq(system(c), 0);
}

static void prep(const uint8_t *cdb, size_t cdb_len, enum scsi_dir d, struct iovec *iov,
		 void *buf, uint64_t len)
{
	*iov = (struct iovec){ buf, (size_t)len };
	memset(&cmd, 0xEE, sizeof(cmd));   /* outputs must all be written */
	cmd = (struct scsi_cmd){ .cdb = cdb, .cdb_len = (uint8_t)cdb_len, .dir = d,
				 .iov = buf ? iov : NULL, .iovcnt = buf ? 1 : 0,
				 .data_len = buf ? len : 0, .done = cmd_done };
}

static void wait_one(int before)
{
	for (int i = 0; ndone == before && i < 10000; i++)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_eq(ndone, before + 1);
}

/* Runs a CDB on l; returns the SCSI status. */
static uint8_t run_on(struct scsi_lun *l, const uint8_t *cdb, size_t cdb_len, enum scsi_dir d,
		      void *buf, uint64_t len)
{
	struct iovec iov;
	int before = ndone;

	prep(cdb, cdb_len, d, &iov, buf, len);
	scsi_lun_execute(l, &cmd);
	wait_one(before);
	ck_assert(cmd.status == SCSI_STATUS_GOOD ? cmd.sense_len == 0
						 : cmd.sense_len == SCSI_SENSE_LEN ||
						   cmd.status == SCSI_STATUS_BUSY);
	ck_assert_uint_le(cmd.transferred, cmd.data_len);
	return cmd.status;
}

#define RUN(cdb, d, buf, len) run_on(lun, cdb, sizeof(cdb), d, buf, len)

static void expect_sense(uint8_t key, uint8_t asc, uint8_t ascq)
{
	ck_assert_uint_eq(cmd.status, SCSI_STATUS_CHECK_CONDITION);
	ck_assert_uint_eq(cmd.sense[0], 0x70);
	ck_assert_uint_eq(cmd.sense[7], 10);
	ck_assert_msg(cmd.sense[2] == key && cmd.sense[12] == asc && cmd.sense[13] == ascq,
		      "sense %x/%02x/%02x, want %x/%02x/%02x", cmd.sense[2], cmd.sense[12],
		      cmd.sense[13], key, asc, ascq);
	ck_assert_uint_eq(cmd.transferred, 0);
}

#define ILLEGAL(asc) expect_sense(SCSI_SENSE_ILLEGAL_REQUEST, asc, 0)
/* Every opcode with one byte less than its CDB size. */
static void expect_short_cdb_rejected(const uint8_t *cdb, size_t len, enum scsi_dir d, void *buf,
				      uint64_t blen)
{
	ck_assert_uint_eq(run_on(lun, cdb, len - 1, d, buf, blen), SCSI_STATUS_CHECK_CONDITION);
	ILLEGAL(0x24);
}
#define SHORT(cdb, d, buf, len) expect_short_cdb_rejected(cdb, sizeof(cdb), d, buf, len)

static void fill_cdb(uint8_t *c, uint8_t op, uint64_t lba, uint32_t n)
{
	memset(c, 0, 16);
	c[0] = op;
	switch (op) {
	case 0x08: case 0x0A:
		c[1] = (uint8_t)(lba >> 16 & 0x1F); c[2] = (uint8_t)(lba >> 8); c[3] = (uint8_t)lba;
		c[4] = (uint8_t)n;
		break;
	case 0x28: case 0x2A: case 0x2F: case 0x35: case 0x41:
		for (int i = 0; i < 4; i++) c[2 + i] = (uint8_t)(lba >> (24 - 8 * i));
		c[7] = (uint8_t)(n >> 8); c[8] = (uint8_t)n;
		break;
	case 0xA8: case 0xAA:
		for (int i = 0; i < 4; i++) c[2 + i] = (uint8_t)(lba >> (24 - 8 * i));
		for (int i = 0; i < 4; i++) c[6 + i] = (uint8_t)(n >> (24 - 8 * i));
		break;
	default:   /* 16-byte */
		for (int i = 0; i < 8; i++) c[2 + i] = (uint8_t)(lba >> (56 - 8 * i));
		for (int i = 0; i < 4; i++) c[10 + i] = (uint8_t)(n >> (24 - 8 * i));
		break;
	}
}

static size_t cdb_size(uint8_t op)
{
	return op < 0x20 ? 6 : op < 0x80 ? 10 : op < 0xA0 ? 16 : 12;
}

static uint8_t io(struct scsi_lun *l, uint8_t op, uint64_t lba, uint32_t n, enum scsi_dir d,
		  void *buf, uint64_t len)
{
	static uint8_t c[16];

	fill_cdb(c, op, lba, n);
	return run_on(l, c, cdb_size(op), d, buf, len);
}

static const uint8_t reads[] = { 0x08, 0x28, 0xA8, 0x88 };
static const uint8_t writes[] = { 0x0A, 0x2A, 0xAA, 0x8A };

static uint64_t file_blocks(void)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (uint64_t)st.st_blocks;
}

static uint8_t run_t(struct scsi_target *t, unsigned n, const uint8_t *cdb, size_t len,
		     enum scsi_dir d, void *buf, uint64_t blen)
{
	struct iovec iov;
	int before = ndone;

	prep(cdb, len, d, &iov, buf, blen);
	scsi_target_execute(t, n, &cmd);
	wait_one(before);
	return cmd.status;
}

#endif
