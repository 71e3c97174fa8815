/* SPDX-License-Identifier: MIT */
/*
 * `vmbusd dump`: one line per record — time since the first record,
 * direction, relid, event, the channel's protocol, then the decoded key
 * fields — or with -v the field tree under each line.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "trace/trace_internal.h"

/* T matches an event name, or a whole word of the summary (a channel
 * message, packet type, vstor operation, SCSI opcode name, IC type). */
static bool trace_dump_type_match(const char *type, const struct trace_record *rec,
				  const char *summary)
{
	size_t n = strlen(type);

	if (!strcasecmp(type, trace_event_name(rec->hdr.event)))
		return true;
	for (const char *s = summary; (s = strcasestr(s, type)) != NULL; s++) {
		bool start = s == summary || s[-1] == ' ';
		char end = s[n];

		if (start && (end == '\0' || end == ' ' || end == '('))
			return true;
	}
	return false;
}

int trace_dump_file(const char *path, const struct trace_dump_opts *opts, FILE *out, FILE *errf)
{
	struct json_err err = { "" };
	struct trace_reader *r;
	struct trace_record rec;
	uint64_t t0 = 0, shown = 0;
	FILE *f = fopen(path, "rb");
	int rc;

	if (!f) {
		fprintf(errf, "vmbusd dump: %s: %s\n", path, strerror(errno));
		return 2;
	}
	r = trace_reader_open(f, &err);
	if (!r) {
		fprintf(errf, "vmbusd dump: %s: %s\n", path, err.msg + (err.msg[0] == ':' ? 2 : 0));
		fclose(f);
		return 2;
	}
	while ((rc = trace_reader_next(r, &rec, &err)) == 1) {
		struct trace_out o = { .tree = NULL };
		uint64_t t;

		if (rec.index == 0)
			t0 = rec.ts_ns;
		if (opts->relid >= 0 && rec.hdr.relid != (uint64_t)opts->relid)
			continue;
		if (opts->device && strcasecmp(opts->device, trace_proto_name(rec.hdr.proto)))
			continue;
		trace_decode_record(&rec, &o);
		if (opts->type && !trace_dump_type_match(opts->type, &rec, o.line))
			continue;
		t = rec.ts_ns >= t0 ? rec.ts_ns - t0 : 0;
		fprintf(out, "%4llu.%09llu %s relid %-4u %-14s %-9s%s\n",
			(unsigned long long)(t / 1000000000u), (unsigned long long)(t % 1000000000u),
			trace_dir_name(rec.hdr.dir), rec.hdr.relid, trace_event_name(rec.hdr.event),
			trace_proto_name(rec.hdr.proto), o.line);
		if (opts->verbose) {
			struct trace_out v = { .tree = out };

			trace_decode_record(&rec, &v);
		}
		shown++;
	}
	trace_reader_close(r);
	fclose(f);
	if (rc < 0) {
		fprintf(errf, "vmbusd dump: %s: %s\n", path, err.msg + (err.msg[0] == ':' ? 2 : 0));
		return 1;
	}
	return 0;
}
