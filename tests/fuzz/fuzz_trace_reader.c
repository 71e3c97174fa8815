/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the capture reader and every decoder behind `vmbusd dump`: the
 * input is a whole capture file.  The reader must stop at the first bad
 * record without reading past what it holds, and each record it accepts
 * must satisfy the invariants checked here before being decoded (one-line
 * form and field tree).
 */
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>

#include "trace/trace.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	struct json_err err;
	struct trace_reader *r;
	struct trace_record rec;
	FILE *f;
	int rc;

	if (size == 0)
		return 0;
	if (!sink)
		sink = fopen("/dev/null", "w");
	f = fmemopen((void *)data, size, "rb");
	if (!f)
		return 0;
	r = trace_reader_open(f, &err);
	if (r) {
		while ((rc = trace_reader_next(r, &rec, &err)) == 1) {
			struct trace_out line = { .tree = NULL };
			struct trace_out tree = { .tree = sink };

			CHECK(rec.hdr.hdr_len >= sizeof(rec.hdr));
			CHECK(rec.data_len <= rec.hdr.orig_len);
			CHECK(rec.data_len + rec.hdr.hdr_len <= VMBUS_TRACE_MAX_RECORD);
			CHECK(rec.data_len <= size);
			trace_decode_record(&rec, &line);
			CHECK(line.len < sizeof(line.line));
			trace_decode_record(&rec, &tree);
		}
		CHECK(rc == 0 || rc == -EPROTO);
		trace_reader_close(r);
	}
	fclose(f);
	return 0;
}
