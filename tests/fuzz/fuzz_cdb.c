/* SPDX-License-Identifier: MIT */
/*
 * Random CDBs, buffer sizes and directions against a small raw LUN (and
 * the target's REPORT LUNS / missing-LUN paths).  The data buffer is
 * allocated at exactly data_len and split over up to three iovecs, so ASan
 * catches any access outside it; every command must complete exactly once
 * with a consistent status, sense and transferred count.
 *
 * Input: [0] flags: bits 0-1 direction, bit 2 through the target, bits 3-4
 *        LUN number (0 present, else missing), bit 5 unit attention first;
 *        [1] CDB length (mod 17); [2-3] data_len (big-endian, <= 64 KiB);
 *        [4] iovec split; [5..20] CDB; the rest fills the data-out buffer.
 */
#include <event2/event.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "devices/scsi/scsi.h"

#define DISK_BYTES (64 * 512)

static struct event_base *base;
static struct blk_backend *blk;
static struct scsi_target *target;
static struct scsi_lun *lun;
static int done_count;

static void on_done(struct scsi_cmd *cmd)
{
	done_count++;
}

static void fuzz_init(void)
{
	struct blk_config cfg = { .format = "raw", .discard = true };
	struct scsi_lun_config lcfg = { .serial = "FUZZ" };
	struct json_err err;
	char path[] = "/tmp/fuzz_cdb.XXXXXX";
	int fd = mkstemp(path);

	log_set_level(LOG_ERROR);
	if (fd < 0 || ftruncate(fd, DISK_BYTES) < 0)
		abort();
	close(fd);
	base = event_base_new();
	cfg.path = path;
	if (blk_open(base, &cfg, &blk, &err) < 0 || scsi_lun_create(blk, &lcfg, &lun, &err) < 0) {
		fprintf(stderr, "fuzz_cdb: %s\n", err.msg);
		abort();
	}
	unlink(path);   /* the open fd keeps it */
	target = scsi_target_create();
	if (!target || scsi_target_attach(target, 0, lun, false) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t cdb[16] = { 0 };
	struct iovec iov[3];
	struct scsi_cmd cmd;
	uint8_t *buf;
	size_t data_len, a, b, payload;
	int iovcnt = 0, before;

	if (!base)
		fuzz_init();
	if (size < 5)
		return 0;
	data_len = (size_t)(data[2] << 8 | data[3]);
	memcpy(cdb, data + 5, size - 5 < 16 ? size - 5 : 16);
	buf = malloc(data_len ? data_len : 1);
	if (!buf)
		return 0;
	memset(buf, 0xA5, data_len);
	payload = size > 21 ? size - 21 : 0;
	memcpy(buf, data + 21, payload < data_len ? payload : data_len);
	/* Split into up to three iovecs at points chosen by the input. */
	a = data_len ? (data[4] & 0x0F) * data_len / 16 : 0;
	b = data_len ? a + (data[4] >> 4) * (data_len - a) / 16 : 0;
	if (a)
		iov[iovcnt++] = (struct iovec){ buf, a };
	if (b > a)
		iov[iovcnt++] = (struct iovec){ buf + a, b - a };
	if (data_len > b)
		iov[iovcnt++] = (struct iovec){ buf + b, data_len - b };

	memset(&cmd, 0, sizeof(cmd));
	cmd.cdb = cdb;
	cmd.cdb_len = data[1] % 17;
	cmd.dir = (enum scsi_dir)(data[0] & 3) % 3;
	cmd.iov = iovcnt ? iov : NULL;
	cmd.iovcnt = iovcnt;
	cmd.data_len = data_len;
	cmd.done = on_done;
	if (data[0] & 0x20)
		scsi_lun_unit_attention(lun, SCSI_UA_REPORTED_LUNS_CHANGED);

	before = done_count;
	if (data[0] & 0x04)
		scsi_target_execute(target, (data[0] >> 3) & 3, &cmd);
	else
		scsi_lun_execute(lun, &cmd);
	while (done_count == before)
		event_base_loop(base, EVLOOP_ONCE);
	if (done_count != before + 1)
		abort();
	/* Consistent answers. */
	if (cmd.transferred > data_len)
		abort();
	if (cmd.status == SCSI_STATUS_GOOD && cmd.sense_len)
		abort();
	if (cmd.status == SCSI_STATUS_CHECK_CONDITION &&
	    (cmd.sense_len != SCSI_SENSE_LEN || cmd.sense[0] != 0x70 || cmd.transferred))
		abort();
	if (cmd.status != SCSI_STATUS_GOOD && cmd.status != SCSI_STATUS_CHECK_CONDITION &&
	    cmd.status != SCSI_STATUS_BUSY)
		abort();
	free(buf);
	return 0;
}
