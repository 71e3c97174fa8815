/* SPDX-License-Identifier: MIT */
/*
 * `vmbusd dump`: one line per record — time since the first record,
 * direction, relid, event, the channel's protocol, then the decoded key
 * fields — or with -v the field tree under each line.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <stdlib.h>
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

/* vstor completions name the command they complete: the EXECUTE_SRB
 * requests seen so far, by (relid, transaction id); a newer request with
 * the same key replaces an older one (ids are reused after completion). */
#define DUMP_SRB_SLOTS 4096

struct dump_srb {
	uint32_t relid;
	uint64_t tid;
	char what[72];          /* "WRITE(10)(0x2a) lba=100 blocks=8" */
};

static struct dump_srb *dump_srb_slot(struct dump_srb *t, uint32_t relid, uint64_t tid)
{
	return &t[(tid * 0x9E3779B97F4A7C15ull + relid) % DUMP_SRB_SLOTS];
}

static void dump_srb_note(struct dump_srb *t, const struct trace_record *rec, const char *line)
{
	const char *s = strstr(line, " EXECUTE_SRB lun=");
	struct dump_srb *e;

	if (!t || !s || rec->hdr.event != VMBUS_TRACE_PKT_IN)
		return;
	s = strchr(s + 17, ' ');
	if (!s)
		return;
	e = dump_srb_slot(t, rec->hdr.relid, rec->hdr.arg);
	e->relid = rec->hdr.relid;
	e->tid = rec->hdr.arg;
	snprintf(e->what, sizeof(e->what), "%.*s", (int)(strstr(s, " xfer=") ?
		 (size_t)(strstr(s, " xfer=") - s - 1) : strlen(s + 1)), s + 1);
}

static void dump_srb_name(struct dump_srb *t, const struct trace_record *rec, struct trace_out *o)
{
	struct dump_srb *e;

	if (!t || rec->hdr.event != VMBUS_TRACE_PKT_OUT || !strstr(o->line, " COMPLETE_IO "))
		return;
	e = dump_srb_slot(t, rec->hdr.relid, rec->hdr.arg);
	if (e->what[0] && e->relid == rec->hdr.relid && e->tid == rec->hdr.arg)
		trace_out_summary(o, " (for %s)", e->what);
}

int trace_dump_file(const char *path, const struct trace_dump_opts *opts, FILE *out, FILE *errf)
{
	struct json_err err = { "" };
	struct trace_reader *r;
	struct trace_record rec;
	uint64_t t0 = 0, shown = 0;
	struct dump_srb *srbs = calloc(DUMP_SRB_SLOTS, sizeof(*srbs));
	FILE *f = fopen(path, "rb");
	int rc;

	if (!f) {
		fprintf(errf, "vmbusd dump: %s: %s\n", path, strerror(errno));
		free(srbs);
		return 2;
	}
	r = trace_reader_open(f, &err);
	if (!r) {
		fprintf(errf, "vmbusd dump: %s: %s\n", path, err.msg + (err.msg[0] == ':' ? 2 : 0));
		fclose(f);
		free(srbs);
		return 2;
	}
	while ((rc = trace_reader_next(r, &rec, &err)) == 1) {
		struct trace_out o = { .tree = NULL };
		uint64_t t;

		if (rec.index == 0)
			t0 = rec.ts_ns;
		if (rec.hdr.proto == VMBUS_TRACE_PROTO_STORVSC && rec.hdr.event == VMBUS_TRACE_PKT_IN) {
			struct trace_out req = { .tree = NULL };

			trace_decode_record(&rec, &req);
			dump_srb_note(srbs, &rec, req.line);
		}
		if (opts->relid >= 0 && rec.hdr.relid != (uint64_t)opts->relid)
			continue;
		if (opts->device && strcasecmp(opts->device, trace_proto_name(rec.hdr.proto)))
			continue;
		trace_decode_record(&rec, &o);
		if (rec.hdr.proto == VMBUS_TRACE_PROTO_STORVSC)
			dump_srb_name(srbs, &rec, &o);
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
	free(srbs);
	if (rc < 0) {
		fprintf(errf, "vmbusd dump: %s: %s\n", path, err.msg + (err.msg[0] == ':' ? 2 : 0));
		return 1;
	}
	return 0;
}
