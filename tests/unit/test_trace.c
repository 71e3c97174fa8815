/* SPDX-License-Identifier: MIT */
/* Unit tests for trace/: the capture writer (records, snapping, rotation),
 * the reader against truncated, corrupted and foreign files, the decoders
 * and `dump`'s filters. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/guid.h"
#include "core/trace.h"
#include "trace/trace.h"
#include "trace/trace_internal.h"
#include "vmbusd/proto/ic.h"
#include "vmbusd/proto/ring.h"
#include "vmbusd/proto/storvsc.h"
#include "vmbusd/proto/vmbus.h"

static char dir[64], path[128];

static void setup(void)
{
	strcpy(dir, "/tmp/vmbusd-trace-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cap.pcap", dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void start(uint64_t max_bytes, uint32_t snap)
{
	struct trace_opts o = { .path = path, .max_bytes = max_bytes, .snap = snap };
	struct json_err err = { "" };

	ck_assert_msg(trace_writer_start(&o, &err) == 0, "%s", err.msg);
}

/* An offer of a SCSI controller on `relid`, then one EXECUTE_SRB WRITE(10). */
static void emit_storvsc_session(uint32_t relid)
{
	struct vmbus_msg_offer_channel offer = { .header.msgtype = CHANNELMSG_OFFERCHANNEL,
						 .child_relid = relid, .connection_id = 17 };
	struct {
		struct vmbus_gpa_direct_header h;
		struct vmbus_gpa_direct_range r;
		uint64_t pfn;
		struct vstor_packet v;
	} __attribute__((packed)) pkt = { 0 };
	struct vmbus_msg_open_channel open = { .header.msgtype = CHANNELMSG_OPENCHANNEL,
					       .child_relid = relid, .ringbuffer_gpadl = 0xe1e10 };

	guid_parse(STORVSC_SCSI_CLASS_GUID_STR, &offer.if_type);
	pkt.h.desc.type = VM_PKT_DATA_USING_GPA_DIRECT;
	pkt.h.desc.offset8 = (sizeof(pkt.h) + sizeof(pkt.r) + 8) / 8;
	pkt.h.desc.len8 = sizeof(pkt) / 8;
	pkt.h.desc.trans_id = 42;
	pkt.h.rangecount = 1;
	pkt.r.byte_count = 4096;
	pkt.v.operation = VSTOR_OP_EXECUTE_SRB;
	pkt.v.vm_srb.cdb_length = 10;
	pkt.v.vm_srb.lun = 1;
	pkt.v.vm_srb.data_transfer_length = 4096;
	memcpy(pkt.v.vm_srb.cdb, "\x2a\x00\x00\x00\x12\x34\x00\x00\x08\x00", 10);
	trace_emit(VMBUS_TRACE_ATTACH, 0, VMBUS_TRACE_VP_NONE, 1, 2, NULL, 0);
	trace_emit(VMBUS_TRACE_MSG_OUT, 0, 0, 1, 0, &offer, sizeof(offer));
	trace_emit(VMBUS_TRACE_MSG_IN, 0, 0, 1, 1, &open, sizeof(open));
	trace_emit(VMBUS_TRACE_PKT_IN, relid, 0, 0, 42, &pkt, sizeof(pkt));
	trace_emit(VMBUS_TRACE_INTERRUPT, 0, 0, 2, 0xf3, NULL, 0);
}

static FILE *open_reader(const char *p, struct trace_reader **r)
{
	struct json_err err = { "" };
	FILE *f = fopen(p, "rb");

	ck_assert_ptr_nonnull(f);
	*r = trace_reader_open(f, &err);
	ck_assert_msg(*r != NULL, "%s", err.msg);
	return f;
}

START_TEST(writer_records_in_order_with_protocol)
{
	struct trace_writer_stats st;
	struct trace_reader *r;
	struct trace_record rec;
	struct json_err err;
	struct trace_out o = { .tree = NULL };
	uint64_t last_ts = 0;
	FILE *f;
	int n = 0;

	start(0, 0);
	emit_storvsc_session(5);
	trace_writer_stop(&st);
	ck_assert_uint_eq(st.records, 5);
	ck_assert(!trace_writer_active());
	f = open_reader(path, &r);
	while (trace_reader_next(r, &rec, &err) == 1) {
		ck_assert_uint_eq(rec.hdr.seq, (uint32_t)n);
		ck_assert_uint_ge(rec.ts_ns, last_ts);
		last_ts = rec.ts_ns;
		n++;
		if (rec.hdr.event == VMBUS_TRACE_MSG_OUT) {
			ck_assert_uint_eq(rec.hdr.relid, 5);
			ck_assert_uint_eq(rec.hdr.dir, VMBUS_TRACE_DIR_H2G);
			ck_assert_uint_eq(rec.hdr.proto, VMBUS_TRACE_PROTO_STORVSC);
		}
		if (rec.hdr.event == VMBUS_TRACE_MSG_IN) {
			ck_assert_uint_eq(rec.hdr.relid, 5); /* from OPENCHANNEL's child_relid */
			ck_assert_uint_eq(rec.hdr.dir, VMBUS_TRACE_DIR_G2H);
		}
		if (rec.hdr.event == VMBUS_TRACE_PKT_IN) {
			ck_assert_uint_eq(rec.hdr.proto, VMBUS_TRACE_PROTO_STORVSC);
			ck_assert_uint_eq(rec.hdr.arg, 42);
			trace_decode_record(&rec, &o);
		}
	}
	ck_assert_int_eq(n, 5);
	ck_assert_msg(strstr(o.line, "EXECUTE_SRB") && strstr(o.line, "WRITE(10)(0x2a)") &&
		      strstr(o.line, "lba=4660 blocks=8") && strstr(o.line, "lun=1"), "%s", o.line);
	trace_reader_close(r);
	fclose(f);
}
END_TEST

START_TEST(writer_snaps_data)
{
	struct trace_reader *r;
	struct trace_record rec;
	struct json_err err;
	uint8_t big[1000];
	FILE *f;

	memset(big, 0xab, sizeof(big));
	start(0, 20);
	trace_emit(VMBUS_TRACE_PKT_OUT, 1, 0, 0, 0, big, sizeof(big));
	trace_writer_stop(NULL);
	f = open_reader(path, &r);
	ck_assert_int_eq(trace_reader_next(r, &rec, &err), 1);
	ck_assert_uint_eq(rec.data_len, 20);
	ck_assert_uint_eq(rec.hdr.orig_len, 1000);
	ck_assert(rec.hdr.flags & VMBUS_TRACE_FLAG_SNAPPED);
	ck_assert_int_eq(trace_reader_next(r, &rec, &err), 0);
	trace_reader_close(r);
	fclose(f);
}
END_TEST

/* Data records: bytes gathered from iovecs (pieces of odd sizes), split
 * into 128 KiB records each saying where its bytes lie; the GPADL form
 * advances the offset in arg, the packet form in vp. */
START_TEST(writer_splits_data_from_iovecs)
{
	static uint8_t buf[300000];
	struct iovec iov[3] = { { buf, 1000 }, { buf + 1000, 150000 }, { buf + 151000, 149000 } };
	struct trace_reader *r;
	struct trace_record rec;
	struct json_err err;
	size_t at = 0;
	FILE *f;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + i / 251);
	start(0, 0);
	trace_emit_iov(VMBUS_TRACE_DATA_OUT, 3, 0, 0, 0x77, iov, 3, 290000);
	trace_emit_iov(VMBUS_TRACE_DATA_OUT, 3, VMBUS_TRACE_VP_NONE, 0xe1e11, 4096, iov, 3, 140000);
	trace_writer_stop(NULL);
	f = open_reader(path, &r);
	for (int i = 0; i < 3; i++) {
		size_t want = i < 2 ? 131072 : 290000 - 2 * 131072;

		ck_assert_int_eq(trace_reader_next(r, &rec, &err), 1);
		ck_assert_uint_eq(rec.hdr.event, VMBUS_TRACE_DATA_OUT);
		ck_assert_uint_eq(rec.hdr.dir, VMBUS_TRACE_DIR_H2G);
		ck_assert_uint_eq(rec.hdr.version, VMBUS_TRACE_VERSION);
		ck_assert_uint_eq(rec.hdr.id, 0);
		ck_assert_uint_eq(rec.hdr.arg, 0x77);
		ck_assert_uint_eq(rec.hdr.vp, at);
		ck_assert_uint_eq(rec.data_len, want);
		ck_assert(!(rec.hdr.flags & VMBUS_TRACE_FLAG_SNAPPED));
		ck_assert(!memcmp(rec.data, buf + at, want));
		at += want;
	}
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(trace_reader_next(r, &rec, &err), 1);
		ck_assert_uint_eq(rec.hdr.id, 0xe1e11);
		ck_assert_uint_eq(rec.hdr.arg, 4096 + (uint64_t)i * 131072);
		ck_assert_uint_eq(rec.data_len, i ? 140000 - 131072 : 131072);
		ck_assert(!memcmp(rec.data, buf + i * 131072, rec.data_len));
	}
	ck_assert_int_eq(trace_reader_next(r, &rec, &err), 0);
	trace_reader_close(r);
	fclose(f);
}
END_TEST

START_TEST(writer_rotates_at_the_cap)
{
	struct trace_writer_stats st;
	struct trace_reader *r;
	struct trace_record rec;
	struct json_err err;
	char old[160];
	uint8_t data[1000] = { 0 };
	uint32_t last_old = 0, first_new = UINT32_MAX;
	struct stat sb;
	FILE *f;

	start(1u << 20, 0);
	for (int i = 0; i < 3000; i++)
		trace_emit(VMBUS_TRACE_PKT_IN, 1, 0, 0, (uint64_t)i, data, sizeof(data));
	trace_writer_stop(&st);
	ck_assert_uint_ge(st.rotations, 2);
	ck_assert_uint_eq(st.errors, 0);
	snprintf(old, sizeof(old), "%s.1", path);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_le(sb.st_size, 512 * 1024);
	ck_assert_int_eq(stat(old, &sb), 0);
	ck_assert_int_le(sb.st_size, 512 * 1024);
	/* The two files are consecutive: the sequence numbers say so. */
	f = open_reader(old, &r);
	while (trace_reader_next(r, &rec, &err) == 1)
		last_old = rec.hdr.seq;
	trace_reader_close(r);
	fclose(f);
	f = open_reader(path, &r);
	ck_assert_int_eq(trace_reader_next(r, &rec, &err), 1);
	first_new = rec.hdr.seq;
	trace_reader_close(r);
	fclose(f);
	ck_assert_uint_eq(first_new, last_old + 1);
}
END_TEST

/* A sparse stream reaches the file record by record: a crash loses nothing. */
START_TEST(writer_flushes_sparse_records)
{
	struct trace_reader *r;
	struct trace_record rec;
	struct json_err err;
	FILE *f;
	int n = 0;

	start(0, 0);
	trace_emit(VMBUS_TRACE_ATTACH, 0, VMBUS_TRACE_VP_NONE, 1, 2, NULL, 0);
	usleep(60 * 1000);
	trace_emit(VMBUS_TRACE_MSR_WRITE, 0, 0, 0x40000084, 0, NULL, 0);
	f = open_reader(path, &r); /* while the writer is still running */
	while (trace_reader_next(r, &rec, &err) == 1)
		n++;
	ck_assert_int_eq(n, 2);
	trace_reader_close(r);
	fclose(f);
	trace_writer_stop(NULL);
}
END_TEST

static long file_bytes(const char *p, uint8_t **out)
{
	FILE *f = fopen(p, "rb");
	long n;

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	*out = malloc((size_t)n);
	ck_assert_int_eq(fread(*out, 1, (size_t)n, f), n);
	fclose(f);
	return n;
}

/* Reads a capture from memory; returns records read, *rc the last result. */
static int read_all(const uint8_t *buf, size_t len, int *rc)
{
	struct json_err err;
	struct trace_reader *r;
	struct trace_record rec;
	FILE *f = fmemopen((void *)buf, len ? len : 1, "rb");
	int n = 0;

	if (!len) {
		fgetc(f);
	}
	r = trace_reader_open(f, &err);
	*rc = -1;
	if (r) {
		while ((*rc = trace_reader_next(r, &rec, &err)) == 1) {
			struct trace_out o = { .tree = NULL };

			trace_decode_record(&rec, &o);
			n++;
		}
		trace_reader_close(r);
	}
	fclose(f);
	return n;
}

START_TEST(reader_survives_truncation_and_corruption)
{
	uint8_t *buf;
	long n;
	int rc, full;

	start(0, 0);
	emit_storvsc_session(7);
	trace_writer_stop(NULL);
	n = file_bytes(path, &buf);
	full = read_all(buf, (size_t)n, &rc);
	ck_assert_int_eq(full, 5);
	ck_assert_int_eq(rc, 0);
	/* Every truncation: fewer records, a clean end only at a record boundary. */
	for (long cut = 0; cut < n; cut++) {
		int got = read_all(buf, (size_t)cut, &rc);

		ck_assert_int_le(got, full);
		ck_assert_int_ne(rc, 1);
	}
	/* Every byte flipped: never a crash (ASan/UBSan builds check reads). */
	for (long i = 0; i < n; i++) {
		buf[i] ^= 0xff;
		read_all(buf, (size_t)n, &rc);
		buf[i] ^= 0xff;
	}
	free(buf);
}
END_TEST

START_TEST(reader_refuses_foreign_files)
{
	struct json_err err = { "" };
	static const uint8_t eth_pcap[24] = { 0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
					      0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0 };
	const char *text = "{\"devices\": []}\n";
	FILE *f;

	f = fmemopen((void *)text, strlen(text), "rb");
	ck_assert_ptr_null(trace_reader_open(f, &err));
	ck_assert_msg(strstr(err.msg, "not a vmbusd capture"), "%s", err.msg);
	fclose(f);
	f = fmemopen((void *)eth_pcap, sizeof(eth_pcap), "rb");
	ck_assert_ptr_null(trace_reader_open(f, &err));
	ck_assert_msg(strstr(err.msg, "link type 1"), "%s", err.msg);
	fclose(f);
}
END_TEST

START_TEST(opts_from_config)
{
	struct trace_opts o = { 0 };
	struct json_err err = { "" };
	json_t *root = json_loads("{\"trace\": {\"file\": \"x.pcap\", \"max_mb\": 8, \"snap\": 128}}",
				  0, NULL);

	ck_assert_int_eq(trace_opts_from_json(root, &o, &err), 0);
	ck_assert_str_eq(o.path, "x.pcap");
	ck_assert_uint_eq(o.max_bytes, 8u << 20);
	ck_assert_uint_eq(o.snap, 128);
	json_decref(root);
	root = json_loads("{\"trace\": {\"file\": \"x\", \"max_mbs\": 8}}", 0, NULL);
	ck_assert_int_eq(trace_opts_from_json(root, &o, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "max_mbs"), "%s", err.msg);
	json_decref(root);
	root = json_loads("{\"trace\": \"y.pcap\"}", 0, NULL);
	ck_assert_int_eq(trace_opts_from_json(root, &o, &err), 0);
	ck_assert_str_eq(o.path, "y.pcap");
	json_decref(root);
}
END_TEST

START_TEST(decode_kvp_utf16_and_chanmsg)
{
	struct {
		struct vmbuspipe_hdr pipe;
		struct icmsg_hdr ic;
		struct hv_kvp_msg kvp;
	} __attribute__((packed)) m = { 0 };
	struct trace_out o = { .tree = NULL };
	static const char key[] = "k\0\xe9\0y\0"; /* "k", U+00E9, "y" */
	static const char val[] = "v\0a\0l\0";
	struct vmbus_msg_gpadl_torndown t = { .header.msgtype = CHANNELMSG_GPADL_TORNDOWN,
					      .gpadl = 0x77 };

	m.ic.icmsgtype = ICMSGTYPE_KVPEXCHANGE;
	m.ic.icflags = ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_REQUEST;
	m.kvp.kvp_hdr.operation = KVP_OP_SET;
	m.kvp.body.set.value_type = REG_SZ;
	m.kvp.body.set.key_size = 8;
	m.kvp.body.set.value_size = 8;
	memcpy(m.kvp.body.set.key, key, 6);
	memcpy(m.kvp.body.set.value, val, 6);
	trace_decode_ic((const uint8_t *)&m, sizeof(m), &o);
	ck_assert_msg(strstr(o.line, "KVPEXCHANGE request SET pool=0 key=\"k\xc3\xa9y\" value=\"val\""),
		      "%s", o.line);
	/* A key size larger than the field never reads past it. */
	o.len = 0;
	m.kvp.body.set.key_size = 0xFFFFFFFF;
	trace_decode_ic((const uint8_t *)&m, 40, &o);
	o.len = 0;
	o.line[0] = 0;
	trace_decode_chanmsg((const uint8_t *)&t, sizeof(t), &o);
	ck_assert_str_eq(o.line, " GPADL_TORNDOWN gpadl=0x77");
	ck_assert_str_eq(trace_chanmsg_name(CHANNELMSG_MODIFYCHANNEL), "MODIFYCHANNEL");
}
END_TEST

START_TEST(dump_filters)
{
	struct trace_dump_opts d = { .relid = -1, .type = "WRITE(10)" };
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	start(0, 0);
	emit_storvsc_session(9);
	trace_writer_stop(NULL);
	out = open_memstream(&text, &len);
	ck_assert_int_eq(trace_dump_file(path, &d, out, stderr), 0);
	d.type = "OPENCHANNEL";
	d.verbose = true;
	ck_assert_int_eq(trace_dump_file(path, &d, out, stderr), 0);
	d.type = NULL;
	d.verbose = false;
	d.relid = 3; /* none */
	ck_assert_int_eq(trace_dump_file(path, &d, out, stderr), 0);
	fclose(out);
	ck_assert_msg(strstr(text, "pkt_in") && strstr(text, "storvsc") && strstr(text, "lba=4660"),
		      "%s", text);
	ck_assert_msg(strstr(text, "ringbuffer_gpadl: 0xe1e10"), "%s", text);
	ck_assert_msg(!strstr(text, "interrupt"), "%s", text);
	free(text);
	ck_assert_int_eq(trace_dump_file("/nonexistent/x", &d, stdout, fopen("/dev/null", "w")), 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace");
	TCase *tc = tcase_create("trace");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, writer_records_in_order_with_protocol);
	tcase_add_test(tc, writer_snaps_data);
	tcase_add_test(tc, writer_splits_data_from_iovecs);
	tcase_add_test(tc, writer_rotates_at_the_cap);
	tcase_add_test(tc, writer_flushes_sparse_records);
	tcase_add_test(tc, reader_survives_truncation_and_corruption);
	tcase_add_test(tc, reader_refuses_foreign_files);
	tcase_add_test(tc, opts_from_config);
	tcase_add_test(tc, decode_kvp_utf16_and_chanmsg);
	tcase_add_test(tc, dump_filters);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
