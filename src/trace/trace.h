/* SPDX-License-Identifier: MIT */
/*
 * trace/: capture, read and decode vmbusd traces (the record format is
 * include/vmbusd/proto/trace.h).
 *
 *   writer   installs the core/ trace sink and writes every event into a
 *            pcap file through libpcap (one lock; safe from any thread).
 *   reader   parses a capture from any stdio stream without libpcap, and
 *            treats every byte as hostile: it is what `dump`, the tests and
 *            the fuzz target use.
 *   decode   names and fields of channel messages, ring packets and the
 *            device protocols inside them (vstor/SCSI, IC, KVP, NVSP/RNDIS).
 *   dump     `vmbusd dump`: one line per record, or a field tree.
 */
#ifndef VMBUSD_TRACE_TRACE_H
#define VMBUSD_TRACE_TRACE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/json.h"
#include "vmbusd/proto/trace.h"

/* ---- writer ------------------------------------------------------------- */

struct trace_opts {
	const char *path;     /* NULL: no capture */
	uint64_t max_bytes;   /* 0: unbounded; else PATH and PATH.1 hold at most this together */
	uint32_t snap;        /* data bytes kept per record; 0: all (up to the 256 KiB record cap) */
};

struct trace_writer_stats {
	uint64_t records;     /* written */
	uint64_t bytes;       /* written, file headers included, all files */
	uint64_t rotations;   /* times PATH became PATH.1 */
	uint64_t errors;      /* records lost to write errors */
};

/* Fills opts from a config's "trace" value: "FILE" or {"file": FILE,
 * "max_mb": N, "snap": N}.  Missing key: opts untouched, 0. */
int trace_opts_from_json(json_t *root, struct trace_opts *opts, struct json_err *err);

/* Opens the capture and installs the sink.  -errno, message in err. */
int trace_writer_start(const struct trace_opts *opts, struct json_err *err);
/* Removes the sink, flushes and closes.  Safe when not started. */
void trace_writer_stop(struct trace_writer_stats *stats);
bool trace_writer_active(void);

/* ---- reader ------------------------------------------------------------- */

struct trace_record {
	uint64_t ts_ns;                  /* since the epoch */
	struct vmbus_trace_record hdr;   /* as read; hdr_len validated */
	const uint8_t *data;             /* the kept event data */
	uint32_t data_len;               /* kept bytes (<= hdr.orig_len) */
	uint64_t index;                  /* record number in this file, from 0 */
};

struct trace_reader;

/* Checks the file header.  NULL and a message in err when the stream is not
 * a vmbusd capture (wrong magic, link type, version). */
struct trace_reader *trace_reader_open(FILE *f, struct json_err *err);
/* 1 a record, 0 clean end, -EPROTO (message in err) for a truncated or
 * corrupt record: reading stops there. */
int trace_reader_next(struct trace_reader *r, struct trace_record *rec, struct json_err *err);
void trace_reader_close(struct trace_reader *r);

/* ---- decode ------------------------------------------------------------- */

/* Where decoders write: a one-line summary and, when tree is set, a field
 * tree (one "name: value" per line, indented). */
struct trace_out {
	char line[1024];
	size_t len;
	FILE *tree;
	int depth;
};

void trace_out_summary(struct trace_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void trace_out_field(struct trace_out *o, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

const char *trace_event_name(uint16_t event);
const char *trace_dir_name(uint8_t dir);
const char *trace_proto_name(uint8_t proto);
const char *trace_chanmsg_name(uint32_t type);
/* VMBUS_TRACE_PROTO_* of an offer's if_type, UNKNOWN if none of ours. */
uint8_t trace_proto_of_class(const struct guid *if_type);
/* The relid a channel message is about (child_relid), 0 if none. */
uint32_t trace_chanmsg_relid(const void *msg, size_t len);

/* Decodes one record: summary always, tree when o->tree. */
void trace_decode_record(const struct trace_record *rec, struct trace_out *o);
/* Device payloads (after the packet descriptor); `len` bytes were kept. */
void trace_decode_vstor(const uint8_t *p, size_t len, struct trace_out *o);
void trace_decode_ic(const uint8_t *p, size_t len, struct trace_out *o);
void trace_decode_nvsp(const uint8_t *p, size_t len, struct trace_out *o);

/* ---- dump --------------------------------------------------------------- */

struct trace_dump_opts {
	bool verbose;
	int64_t relid;        /* -1: all */
	const char *device;   /* proto name ("storvsc", "kvp", ...) or NULL */
	const char *type;     /* event name ("pkt_in", "msg_out", ...) or channel message
			       * name ("OPENCHANNEL") or device operation name; NULL: all */
};

/* Prints every matching record of `path` to out; errors to err.
 * 0 ok, 1 the file is truncated/corrupt (after printing what was readable),
 * 2 not a capture / cannot open. */
int trace_dump_file(const char *path, const struct trace_dump_opts *opts, FILE *out, FILE *errf);

/* ---- replay ------------------------------------------------------------ */

struct trace_replay_opts {
	const char *path;       /* the capture */
	const char *socket;     /* where the guest attaches */
	const char *control;    /* control socket or NULL */
	unsigned session;       /* 1 = from the first ATTACH (default) */
	unsigned timeout_s;     /* 0 = 60 */
	const char *edit;       /* RULES.json: drop/patch/insert packets before replaying */
	unsigned pace_percent;  /* captured pauses stretched to this (100: as captured) */
};

/* 0 every channel played to its end, 1 divergence (reported on out),
 * 2 unusable capture or set-up error, 3 timeout. */
int trace_replay(const struct trace_replay_opts *o, FILE *out, FILE *errf);
/* The host configuration ({"devices": [replay devices]}) that plays
 * session `session` (0 or 1: the first) of capture `path`, edited by the
 * rules file `edit` (NULL: none): what `vmbusd run` serves a scenario's
 * guest with "replay".  NULL with the reason on errf. */
json_t *trace_replay_config(const char *path, unsigned session, const char *edit, FILE *errf);

#endif
