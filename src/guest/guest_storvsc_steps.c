/* SPDX-License-Identifier: MIT */
/*
 * guest_storvsc_steps: the storvsc script's steps (the table is in
 * guest_storvsc_script.c; hostile is in guest_storvsc_hostile.c).  Each
 * issues its commands like Linux's SCSI midlayer and sd would, records
 * what came back in st->out and fails the step on what it verifies.
 */
#include "guest/guest_storvsc_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* ---- helpers -------------------------------------------------------------------- */

static int parse_pattern(const char *s, int *pattern)
{
	uint64_t v;

	if (!strcmp(s, "lba")) {
		*pattern = SC_PATTERN_LBA;
		return 0;
	}
	if (sc_parse_u64(s, &v) || v > 255)
		return -EINVAL;
	*pattern = (int)v;
	return 0;
}

/* Fixed-width ASCII field, trailing blanks and NULs dropped. */
static json_t *ascii_field(const uint8_t *p, size_t n, char *buf)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		buf[i] = p[i] >= 0x20 && p[i] < 0x7F ? (char)p[i] : '.';
	buf[n] = 0;
	len = n;
	while (len > 0 && (buf[len - 1] == ' ' || p[len - 1] == 0))
		buf[--len] = 0;
	return json_string(buf);
}

/* ---- steps ---------------------------------------------------------------------- */

int step_inquiry(struct sc *sc, struct step *st)
{
	uint8_t cdb[6] = { 0x12, 0, 0, 0, 36, 0 }, buf[256], lun;
	struct sc_result r;
	char s[17];
	int ret;

	if (sc_parse_lun(st, st->args[0], &lun))
		return 0;
	memset(buf, 0, sizeof(buf));
	/* scsi_probe_lun: 36 bytes first, then what the device reports. */
	if ((ret = sc_cmd(sc, st, lun, cdb, 6, VSTOR_DATA_IN, 36, NULL, buf, &r)))
		return ret;
	if (r.bytes >= 5 && buf[4] + 5 > 36 && sc_result_good(&r)) {
		cdb[4] = (uint8_t)MIN(buf[4] + 5, 255);
		if ((ret = sc_cmd(sc, st, lun, cdb, 6, VSTOR_DATA_IN, cdb[4], NULL, buf, &r)))
			return ret;
	}
	json_object_set_new(st->out, "byte0", json_integer(buf[0]));
	json_object_set_new(st->out, "pq", json_integer(buf[0] >> 5));
	json_object_set_new(st->out, "pdt", json_integer(buf[0] & 0x1F));
	json_object_set_new(st->out, "version", json_integer(buf[2]));
	json_object_set_new(st->out, "vendor", ascii_field(buf + 8, 8, s));
	step_expect_str(st, "vendor", s);
	json_object_set_new(st->out, "product", ascii_field(buf + 16, 16, s));
	step_expect_str(st, "product", s);
	json_object_set_new(st->out, "revision", ascii_field(buf + 32, 4, s));
	step_expect_str(st, "revision", s);
	step_expect_num(st, "byte0", buf[0]);
	if (r.bytes < 36 && sc_result_good(&r))
		step_fail(st, "standard INQUIRY returned %u bytes (< 36)", r.bytes);
	return 0;
}

int step_inquiry_vpd(struct sc *sc, struct step *st)
{
	uint8_t cdb[6] = { 0x12, 1, 0, 0, 255, 0 }, buf[256], lun;
	struct sc_result r;
	uint64_t page;
	uint32_t n;
	int ret;

	if (sc_parse_lun(st, st->args[0], &lun))
		return 0;
	if (sc_parse_u64(st->args[1], &page) || page > 255) {
		step_fail(st, "bad VPD page \"%s\"", st->args[1]);
		return 0;
	}
	cdb[2] = (uint8_t)page;
	json_object_set_new(st->out, "page", json_integer((json_int_t)page));
	memset(buf, 0, sizeof(buf));
	if ((ret = sc_cmd(sc, st, lun, cdb, 6, VSTOR_DATA_IN, 255, NULL, buf, &r)))
		return ret;
	if (!sc_result_good(&r))
		return 0;
	if (r.bytes < 4 || buf[1] != page) {
		step_fail(st, "VPD answer of %u bytes for page 0x%02x names page 0x%02x", r.bytes,
			  (unsigned)page, buf[1]);
		return 0;
	}
	n = MIN((uint32_t)get_be16(buf + 2), r.bytes - 4);
	if (page == 0x00) {
		json_t *a = json_array();

		for (uint32_t i = 0; i < n; i++)
			json_array_append_new(a, json_integer(buf[4 + i]));
		json_object_set_new(st->out, "pages", a);
	} else if (page == 0x80) {
		char s[256];

		json_object_set_new(st->out, "serial", ascii_field(buf + 4, n, s));
		step_expect_str(st, "serial", s);
	} else if (page == 0x83) {
		json_t *a = json_array();

		for (uint32_t i = 0; i + 4 <= n;) {
			uint32_t dl = buf[4 + i + 3];
			char *hex = guest_hex(buf + 4 + i + 4, MIN(dl, n - i - 4));

			json_array_append_new(a, json_pack("{s:i, s:i, s:s}", "code_set",
							   buf[4 + i] & 0xF, "type", buf[4 + i + 1] & 0xF,
							   "id", hex ? hex : ""));
			free(hex);
			i += 4 + dl;
		}
		json_object_set_new(st->out, "designators", a);
	} else if (page == 0xB0 && n >= 16) {
		json_object_set_new(st->out, "max_transfer_blocks", json_integer(get_be32(buf + 8)));
		json_object_set_new(st->out, "optimal_transfer_blocks", json_integer(get_be32(buf + 12)));
	} else {
		char *hex = guest_hex(buf, MIN(r.bytes, 255u));

		json_object_set_new(st->out, "hex", json_string(hex ? hex : ""));
		free(hex);
	}
	return 0;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

int step_report_luns(struct sc *sc, struct step *st)
{
	enum { ALLOC = 8 + 8 * 256 };
	uint8_t cdb[12] = { 0xA0 }, *buf = calloc(1, ALLOC);
	uint16_t luns[256];
	struct sc_result r;
	uint32_t listed, n = 0;
	const char *want = step_kv(st, "luns");
	char got[1100] = "";
	json_t *a;
	int ret;

	if (!buf)
		return -ENOMEM;
	put_be32(cdb + 6, ALLOC);
	/* The midlayer addresses REPORT LUNS to LUN 0 of the target. */
	ret = sc_cmd(sc, st, 0, cdb, 12, VSTOR_DATA_IN, ALLOC, NULL, buf, &r);
	if (ret || !sc_result_good(&r)) {
		free(buf);
		return ret;
	}
	listed = get_be32(buf) / 8;
	if (r.bytes < 8 || 8 + 8 * (uint64_t)MIN(listed, 256u) > r.bytes) {
		step_fail(st, "REPORT LUNS lists %u LUNs in %u bytes", listed, r.bytes);
		free(buf);
		return 0;
	}
	a = json_array();
	for (uint32_t i = 0; i < MIN(listed, 256u); i++) {
		const uint8_t *e = buf + 8 + 8 * i;

		luns[n++] = (uint16_t)((e[0] & 0x3F) << 8 | e[1]);
	}
	qsort(luns, n, sizeof(luns[0]), cmp_u16);
	for (uint32_t i = 0; i < n; i++) {
		json_array_append_new(a, json_integer(luns[i]));
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u", i ? "," : "", luns[i]);
	}
	json_object_set_new(st->out, "luns", a);
	if (want && strcmp(want, got))
		step_fail(st, "LUNs are [%s], expected [%s]", got, want);
	free(buf);
	return 0;
}

/* READ CAPACITY(16) into sc->geo[lun]. */
static int sc_capacity(struct sc *sc, struct step *st, uint8_t lun, struct sc_result *r)
{
	uint8_t cdb[16] = { 0x9E, 0x10 }, buf[32];
	int ret;

	put_be32(cdb + 10, sizeof(buf));
	memset(buf, 0, sizeof(buf));
	ret = sc_cmd(sc, st, lun, cdb, 16, VSTOR_DATA_IN, sizeof(buf), NULL, buf, r);
	if (ret || !sc_result_good(r))
		return ret;
	if (r->bytes < 12) {
		step_fail(st, "READ CAPACITY(16) returned %u bytes", r->bytes);
		return 0;
	}
	sc->geo[lun].blocks = get_be64(buf) + 1;
	sc->geo[lun].block_size = get_be32(buf + 8);
	json_object_set_new(st->out, "lbpme", json_boolean(buf[14] & 0x80));
	json_object_set_new(st->out, "lbprz", json_boolean(buf[14] & 0x40));
	if (sc->geo[lun].block_size == 0 || sc->geo[lun].block_size % 512) {
		step_fail(st, "block size %u", sc->geo[lun].block_size);
		sc->geo[lun].block_size = 0;
	}
	return 0;
}

int step_capacity(struct sc *sc, struct step *st)
{
	struct sc_result r;
	uint8_t lun;
	int ret;

	if (sc_parse_lun(st, st->args[0], &lun))
		return 0;
	ret = sc_capacity(sc, st, lun, &r);
	if (ret || st->failed || !sc_result_good(&r))
		return ret;
	json_object_set_new(st->out, "blocks", json_integer((json_int_t)sc->geo[lun].blocks));
	json_object_set_new(st->out, "block_size", json_integer(sc->geo[lun].block_size));
	json_object_set_new(st->out, "capacity",
			    json_integer((json_int_t)(sc->geo[lun].blocks * sc->geo[lun].block_size)));
	step_expect_num(st, "blocks", sc->geo[lun].blocks);
	step_expect_num(st, "block_size", sc->geo[lun].block_size);
	step_expect_num(st, "bytes", sc->geo[lun].blocks * sc->geo[lun].block_size);
	return 0;
}

int step_mode_sense(struct sc *sc, struct step *st)
{
	uint8_t cdb[6] = { 0x1A, 0, 0x3F, 0, 192, 0 }, buf[192], lun;
	struct sc_result r;
	int ret;

	if (sc_parse_lun(st, st->args[0], &lun))
		return 0;
	memset(buf, 0, sizeof(buf));
	ret = sc_cmd(sc, st, lun, cdb, 6, VSTOR_DATA_IN, sizeof(buf), NULL, buf, &r);
	if (ret || !sc_result_good(&r))
		return ret;
	json_object_set_new(st->out, "write_protect", json_boolean(buf[2] & 0x80));
	step_expect_num(st, "wp", (buf[2] & 0x80) ? 1 : 0);
	return 0;
}

static int step_simple(struct sc *sc, struct step *st, const uint8_t *cdb, uint8_t cdb_len)
{
	struct sc_result r;
	uint8_t lun;

	if (sc_parse_lun(st, st->args[0], &lun))
		return 0;
	return sc_cmd(sc, st, lun, cdb, cdb_len, VSTOR_DATA_UNKNOWN, 0, NULL, NULL, &r);
}

int step_tur(struct sc *sc, struct step *st)
{
	static const uint8_t cdb[6] = { 0x00 };

	return step_simple(sc, st, cdb, 6);
}

int step_sync(struct sc *sc, struct step *st)
{
	static const uint8_t cdb[10] = { 0x35 };

	return step_simple(sc, st, cdb, 10);
}

int step_unmap(struct sc *sc, struct step *st)
{
	uint8_t cdb[10] = { 0x42 }, param[24] = { 0 }, lun;
	uint64_t lba, count;
	struct sc_result r;

	if (sc_parse_lun(st, st->args[0], &lun))
		return 0;
	if (sc_parse_u64(st->args[1], &lba) || sc_parse_u64(st->args[2], &count) || count > UINT32_MAX) {
		step_fail(st, "bad LBA or COUNT");
		return 0;
	}
	put_be16(cdb + 7, sizeof(param));
	put_be16(param, sizeof(param) - 2);
	put_be16(param + 2, 16);
	put_be64(param + 8, lba);
	put_be32(param + 16, (uint32_t)count);
	return sc_cmd(sc, st, lun, cdb, 10, VSTOR_DATA_OUT, sizeof(param), param, NULL, &r);
}

/* The LUN's geometry, from READ CAPACITY(16) the first time (sd_probe). */
static int sc_need_geo(struct sc *sc, struct step *st, uint8_t lun)
{
	struct sc_result r;
	json_t *save = st->out;
	int ret;

	if (sc->geo[lun].block_size)
		return 0;
	st->out = json_object();
	ret = sc_capacity(sc, st, lun, &r);
	json_decref(st->out);
	st->out = save;
	if (!ret && !st->failed && !sc->geo[lun].block_size)
		step_fail(st, "READ CAPACITY(16) on LUN %u failed: srb_status 0x%02x", lun, r.srb_status);
	return ret;
}

static void batch_json(struct sc *sc, struct step *st, struct sc_batch *b)
{
	json_t *pc = json_array();

	for (unsigned int i = 0; i < sc->n_chan; i++)
		json_array_append_new(pc, json_integer(b->per_chan[i]));
	json_object_set_new(st->out, "requests", json_integer(b->n));
	json_object_set_new(st->out, "per_channel", pc);
	json_object_set_new(st->out, "max_in_flight", json_integer(b->max_inflight));
	if (b->ua_retries)
		json_object_set_new(st->out, "unit_attentions", json_integer(b->ua_retries));
}

/* write / read-verify: COUNT blocks in requests of at most max_transfer_bytes. */
static int step_rw(struct sc *sc, struct step *st, bool write)
{
	struct sc_batch b;
	uint64_t lba, count, per, max_bytes;
	uint8_t lun;
	int pattern, ret;

	if (sc_parse_lun(st, st->args[0], &lun))
		return 0;
	if (sc_parse_u64(st->args[1], &lba) || sc_parse_u64(st->args[2], &count) || count == 0 ||
	    count > (1u << 24) || parse_pattern(st->args[3], &pattern)) {
		step_fail(st, "want LUN LBA COUNT PATTERN (a byte or \"lba\")");
		return 0;
	}
	if ((ret = sc_need_geo(sc, st, lun)) || st->failed)
		return ret;
	memset(&b, 0, sizeof(b));
	b.lun = lun;
	b.write = write;
	b.pattern = pattern;
	b.bs = sc->geo[lun].block_size;
	max_bytes = sc->props.max_transfer_bytes ? sc->props.max_transfer_bytes : b.bs;
	per = MAX(max_bytes / b.bs, (uint64_t)1);
	per = MIN(per, (uint64_t)0xFFFF);
	b.n = (unsigned int)((count + per - 1) / per);
	b.jobs = calloc(b.n, sizeof(*b.jobs));
	if (!b.jobs)
		return -ENOMEM;
	for (unsigned int i = 0; i < b.n; i++) {
		b.jobs[i].lba = lba + i * per;
		b.jobs[i].nblocks = (uint32_t)MIN(per, count - i * per);
	}
	json_object_set_new(st->out, "lun", json_integer(lun));
	json_object_set_new(st->out, "lba", json_integer((json_int_t)lba));
	json_object_set_new(st->out, "count", json_integer((json_int_t)count));
	ret = sc_run_batch(sc, &b);
	if (!ret) {
		batch_json(sc, st, &b);
		step_result(sc, st, b.have_bad ? &b.bad : &b.any);
		json_object_set_new(st->out, "bytes", json_integer((json_int_t)b.bytes));
		if (b.mismatch[0])
			step_fail(st, "%s", b.mismatch);
	} else {
		step_fail(st, "no answer: %s", strerror(-ret));
	}
	free(b.jobs);
	return ret;
}

int step_write(struct sc *sc, struct step *st)
{
	return step_rw(sc, st, true);
}

int step_read_verify(struct sc *sc, struct step *st)
{
	return step_rw(sc, st, false);
}

/* parallel LUN N: N 4 KiB writes in flight together, then N reads, verified. */
int step_parallel(struct sc *sc, struct step *st)
{
	struct sc_batch b;
	uint64_t n, start = 0, per;
	uint64_t t0 = now_ns();
	json_t *pc;
	uint8_t lun;
	int ret;

	if (sc_parse_lun(st, st->args[0], &lun))
		return 0;
	if (sc_parse_u64(st->args[1], &n) || n == 0 || n > 65536 ||
	    (step_kv(st, "lba") && sc_parse_u64(step_kv(st, "lba"), &start))) {
		step_fail(st, "want LUN N (1..65536) [lba=START]");
		return 0;
	}
	if ((ret = sc_need_geo(sc, st, lun)) || st->failed)
		return ret;
	memset(&b, 0, sizeof(b));
	b.lun = lun;
	b.pattern = SC_PATTERN_LBA;
	b.bs = sc->geo[lun].block_size;
	per = MAX(4096u / b.bs, 1u);
	if (start + n * per > sc->geo[lun].blocks) {
		step_fail(st, "%llu requests of %llu blocks from LBA %llu do not fit %llu blocks",
			  (unsigned long long)n, (unsigned long long)per, (unsigned long long)start,
			  (unsigned long long)sc->geo[lun].blocks);
		return 0;
	}
	b.n = (unsigned int)n;
	b.jobs = calloc(b.n, sizeof(*b.jobs));
	if (!b.jobs)
		return -ENOMEM;
	pc = json_array();
	for (int phase = 0; phase < 2; phase++) {
		unsigned int pchan[SC_MAX_CHANNELS];
		unsigned int maxin = b.max_inflight;

		memcpy(pchan, b.per_chan, sizeof(pchan));
		memset(&b.done, 0, sizeof(b) - offsetof(struct sc_batch, done));
		b.write = phase == 0;
		for (unsigned int i = 0; i < b.n; i++) {
			/* Odd requests straddle two pages (offset 512), even ones
			 * are page-aligned: both shapes storvsc sends. */
			b.jobs[i] = (struct sc_job){ .lba = start + i * per, .nblocks = (uint32_t)per,
						     .off = (i & 1) ? 512 : 0 };
		}
		ret = sc_run_batch(sc, &b);
		for (unsigned int i = 0; i < SC_MAX_CHANNELS; i++)
			b.per_chan[i] += pchan[i];
		b.max_inflight = MAX(b.max_inflight, maxin);
		if (ret) {
			step_fail(st, "no answer: %s", strerror(-ret));
			break;
		}
		step_result(sc, st, b.have_bad ? &b.bad : &b.any);
		if (b.mismatch[0])
			step_fail(st, "%s", b.mismatch);
		if (st->failed)
			break;
	}
	for (unsigned int i = 0; i < sc->n_chan; i++)
		json_array_append_new(pc, json_integer(b.per_chan[i]));
	json_object_set_new(st->out, "lun", json_integer(lun));
	json_object_set_new(st->out, "requests", json_integer((json_int_t)(2 * n)));
	json_object_set_new(st->out, "per_channel", pc);
	json_object_set_new(st->out, "max_in_flight", json_integer(b.max_inflight));
	json_object_set_new(st->out, "out_of_order", json_integer((json_int_t)sc->out_of_order));
	json_object_set_new(st->out, "elapsed_ms", json_integer((json_int_t)((now_ns() - t0) / 1000000)));
	json_object_set_new(st->out, "bytes", json_integer((json_int_t)(2 * n * per * b.bs)));
	free(b.jobs);
	return ret;
}

int step_raw_cdb(struct sc *sc, struct step *st)
{
	uint8_t cdb[VSTOR_CDB_MAX], lun, dir = VSTOR_DATA_IN, *buf = NULL;
	const char *hex = st->args[1];
	size_t hl = strlen(hex);
	uint64_t len = 0;
	struct sc_result r;
	int ret;

	if (sc_parse_lun(st, st->args[0], &lun))
		return 0;
	if (hl == 0 || hl % 2 || hl / 2 > VSTOR_CDB_MAX) {
		step_fail(st, "CDB must be 1..16 bytes of hex");
		return 0;
	}
	for (size_t i = 0; i < hl / 2; i++) {
		char byte[3] = { hex[2 * i], hex[2 * i + 1], 0 };
		char *end;

		cdb[i] = (uint8_t)strtoul(byte, &end, 16);
		if (*end) {
			step_fail(st, "CDB must be hex");
			return 0;
		}
	}
	if (st->nargs > 2 && (sc_parse_u64(st->args[2], &len) || len > (8u << 20))) {
		step_fail(st, "bad data length");
		return 0;
	}
	if (st->nargs > 3 && !strcmp(st->args[3], "out"))
		dir = VSTOR_DATA_OUT;
	if (len && !(buf = calloc(1, len)))
		return -ENOMEM;
	ret = sc_cmd(sc, st, lun, cdb, (uint8_t)(hl / 2), dir, (uint32_t)len, buf,
		     dir == VSTOR_DATA_IN ? buf : NULL, &r);
	if (!ret && dir == VSTOR_DATA_IN && len) {
		char *h = guest_hex(buf, MIN(r.bytes, 512u));

		json_object_set_new(st->out, "data", json_string(h ? h : ""));
		free(h);
	}
	free(buf);
	return ret;
}

int step_reset(struct sc *sc, struct step *st)
{
	struct vstor_packet vp;
	int ret;

	/* storvsc_host_reset_handler. */
	memset(&vp, 0, sizeof(vp));
	vp.operation = VSTOR_OP_RESET_BUS;
	ret = sc_ctl_exec(sc, STORVSC_RQST_RESET, &vp);
	if (ret) {
		step_fail(st, "no answer: %s", strerror(-ret));
		return ret;
	}
	json_object_set_new(st->out, "operation", json_integer(vp.operation));
	json_object_set_new(st->out, "status", json_integer(vp.status));
	if (!sc_vop_ok(&vp))
		step_fail(st, "RESET_BUS answered operation %u status 0x%x", vp.operation, vp.status);
	return 0;
}

static bool sc_enumerated(struct guest *g, void *arg)
{
	struct sc *sc = arg;

	return sc->enumerates > sc->enum_consumed;
}

int step_wait_enumerate(struct sc *sc, struct step *st)
{
	int ret = guest_wait(sc->g, sc_enumerated, sc, sc->g->opts.timeout_ms);

	if (ret == -ETIMEDOUT) {
		step_fail(st, "no ENUMERATE_BUS within %d ms", sc->g->opts.timeout_ms);
		return 0;
	}
	if (ret) {
		step_fail(st, "%s", strerror(-ret));
		return ret;
	}
	sc->enum_consumed++;
	json_object_set_new(st->out, "enumerates", json_integer((json_int_t)sc->enumerates));
	return 0;
}

static bool never_done(struct guest *g, void *arg)
{
	return false;
}

int step_sleep(struct sc *sc, struct step *st)
{
	uint64_t ms;
	int ret;

	if (sc_parse_u64(st->args[0], &ms) || ms > 600000) {
		step_fail(st, "bad milliseconds");
		return 0;
	}
	ret = guest_wait(sc->g, never_done, NULL, (int)ms);
	if (ret == -EINTR) {
		/* SIGINT/SIGTERM end a sleep early: tests hold the guest
		 * with a long sleep and release it when done looking. */
		guest_interrupted = 0;
		json_object_set_new(st->out, "interrupted", json_true());
		return 0;
	}
	return ret == -ETIMEDOUT ? 0 : ret;
}

int step_expect_sense(struct sc *sc, struct step *st)
{
	unsigned int want[3] = { 0 };
	int nwant = 0;
	char *s = st->args[0], *end;

	while (nwant < 3) {
		unsigned long v = strtoul(s, &end, 16);

		if (end == s || v > 0xFF)
			break;
		want[nwant++] = (unsigned int)v;
		if (*end != '/')
			break;
		s = end + 1;
	}
	if (nwant == 0 || *end) {
		step_fail(st, "want KEY[/ASC[/ASCQ]] in hex, e.g. 5/21/00");
		return 0;
	}
	json_object_set_new(st->out, "want", json_string(st->args[0]));
	if (!sc->have_last) {
		step_fail(st, "no previous command");
		return 0;
	}
	if (sc->last.key >= 0)
		json_object_set_new(st->out, "got", json_sprintf("%x/%02x/%02x", sc->last.key,
								 sc->last.asc & 0xFF, sc->last.ascq & 0xFF));
	if (sc->last.scsi_status != 2 || sc->last.key < 0)
		step_fail(st, "previous command: scsi_status 0x%02x srb_status 0x%02x, no sense",
			  sc->last.scsi_status, sc->last.srb_status);
	else if ((int)want[0] != sc->last.key || (nwant > 1 && (int)want[1] != sc->last.asc) ||
		 (nwant > 2 && (int)want[2] != sc->last.ascq))
		step_fail(st, "sense mismatch");
	return 0;
}

int step_expect_srb(struct sc *sc, struct step *st)
{
	char *end;
	unsigned long want = strtoul(st->args[0], &end, 16);

	if (*end || end == st->args[0] || want > 0x3F) {
		step_fail(st, "want a hex SRB status code, e.g. 20");
		return 0;
	}
	if (!sc->have_last) {
		step_fail(st, "no previous command");
		return 0;
	}
	json_object_set_new(st->out, "srb_status", json_integer(sc->last.srb_status));
	if (SRB_STATUS_CODE(sc->last.srb_status) != want)
		step_fail(st, "srb_status code 0x%02x, expected 0x%02lx",
			  SRB_STATUS_CODE(sc->last.srb_status), want);
	return 0;
}

struct sc_released {
	struct sc *sc;
	uint32_t relid[SC_MAX_CHANNELS];
	unsigned int n;
};

static bool sc_subchannels_released(struct guest *g, void *arg)
{
	struct sc_released *r = arg;

	for (unsigned int i = 0; i < r->n; i++)
		if (g->chan[r->relid[i]])
			return false;
	return true;
}

/*
 * rebind: storvsc_remove (subchannels closed, then the primary) and
 * storvsc_probe again.  The host must rescind the subchannels when the
 * primary closes and serve a fresh initialisation on the same primary.
 */
int step_rebind(struct sc *sc, struct step *st)
{
	struct sc_released rel = { .sc = sc };
	int ret;

	for (unsigned int ci = 1; ci < sc->n_chan; ci++)
		rel.relid[rel.n++] = sc->relid[ci];
	sc_close_all(sc);
	ret = guest_wait(sc->g, sc_subchannels_released, &rel, sc->g->opts.timeout_ms);
	if (ret == -ETIMEDOUT) {
		step_fail(st, "subchannels not rescinded after the primary closed");
		return 0;
	}
	if (ret)
		return ret;
	json_object_set_new(st->out, "rescinded", json_integer(rel.n));
	sc->version = 0;
	memset(&sc->props, 0, sizeof(sc->props));
	memset(sc->geo, 0, sizeof(sc->geo));
	ret = sc_init(sc, sc->params, st->out);
	if (ret == GUEST_STORVSC_VERIFY_FAILED) {
		step_fail(st, "initialisation failed");
		return 0;
	}
	return ret;
}
