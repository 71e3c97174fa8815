/* SPDX-License-Identifier: MIT */
/*
 * The capture writer: the core/ trace sink, writing one pcap record per
 * event through libpcap (nanosecond timestamps, LINKTYPE_USER0; why USER0:
 * include/vmbusd/proto/trace.h).
 *
 * Cost.  An event is one CLOCK_REALTIME read (vDSO), an uncontended mutex
 * and one copy of the pcap record header, our header and the data into a
 * 1 MiB buffer (the data may be guest memory the guest can change: it is
 * copied once, at once).  libpcap creates the file and writes its header;
 * the records go from our buffer to its stream in 1 MiB fwrite()s, since
 * pcap_dump() per record costs two locked fwrite()s and a staging copy.
 * Durability: the buffer is also written out by the first record that
 * comes more than TRACE_FLUSH_NS after the last flush, and at ATTACH,
 * RESET and DETACH, so a sparse stream (heartbeats, a hung guest) reaches
 * the file record by record and a crash loses at most the last 50 ms of a
 * dense one.
 * `vmbusd bench ring --trace FILE` measures it (README).
 *
 * Size cap (--trace-max-mb N): rotation, not stop.  PATH grows to N/2 MiB,
 * then becomes PATH.1 (replacing the previous PATH.1) and a new PATH
 * starts, so the two files hold at most N MiB and always the newest
 * events — the ones that explain how a long run ended.  Every record
 * carries its channel's protocol and a sequence number, so the newest file
 * decodes on its own and a gap between PATH.1 and PATH shows.
 *
 * Channel protocol: the writer watches its own OFFERCHANNEL records and
 * remembers relid -> protocol (the offer's if_type); ATTACH forgets it
 * (a new frontend is offered relids anew; after RESET and DETACH the GPADL
 * teardowns of the old channels still name their protocol, and new offers
 * overwrite what they reuse).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_LIBPCAP
#include <pcap/pcap.h>
#endif

#include "core/trace.h"
#include "core/util.h"
#include "trace/trace.h"
#include "vmbusd/proto/hv.h"
#include "vmbusd/proto/vmbus.h"

#define TRACE_HDR_LEN ((uint32_t)sizeof(struct vmbus_trace_record))
#define TRACE_BUF_SIZE (1u << 20) /* > the largest record: one always fits */
#define TRACE_FLUSH_NS 50000000ull
#define TRACE_DATA_CHUNK (128u * 1024) /* data bytes per record (below the record cap) */
#define TRACE_PCAP_HDR ((uint32_t)sizeof(struct pcap_record_header_wire))
_Static_assert(TRACE_BUF_SIZE >= VMBUS_TRACE_MAX_RECORD + 16, "a record always fits the buffer");

struct trace_writer {
	pthread_mutex_t lock;
	char *path;
	char *path_old;             /* PATH.1 */
	uint64_t file_cap;          /* bytes per file; 0 = unbounded */
	uint32_t snap;              /* data bytes kept per record */
	uint32_t seq;
	uint64_t file_bytes;        /* of the current file */
	uint8_t *buf;               /* records not yet handed to the kernel */
	size_t buf_len;
	uint64_t flushed_ns;        /* CLOCK_REALTIME of the last flush */
	uint8_t relid_proto[VMBUS_MAX_RELID + 1];
	struct trace_writer_stats stats;
#ifdef HAVE_LIBPCAP
	pcap_t *pcap;
	pcap_dumper_t *dump;
#endif
};

static struct trace_writer *trace_w;

/* Direction of each event type: a fact of the event, not of the caller. */
static const uint8_t trace_event_dir[VMBUS_TRACE_EVENT_COUNT] = {
	[VMBUS_TRACE_MSG_IN] = VMBUS_TRACE_DIR_G2H,
	[VMBUS_TRACE_MSG_OUT] = VMBUS_TRACE_DIR_H2G,
	[VMBUS_TRACE_PKT_IN] = VMBUS_TRACE_DIR_G2H,
	[VMBUS_TRACE_PKT_OUT] = VMBUS_TRACE_DIR_H2G,
	[VMBUS_TRACE_SIGNAL_IN] = VMBUS_TRACE_DIR_G2H,
	[VMBUS_TRACE_SIGNAL_OUT] = VMBUS_TRACE_DIR_H2G,
	[VMBUS_TRACE_INTERRUPT] = VMBUS_TRACE_DIR_H2G,
	[VMBUS_TRACE_MSR_WRITE] = VMBUS_TRACE_DIR_G2H,
	[VMBUS_TRACE_DATA_IN] = VMBUS_TRACE_DIR_G2H,
	[VMBUS_TRACE_DATA_OUT] = VMBUS_TRACE_DIR_H2G,
};

int trace_opts_from_json(json_t *root, struct trace_opts *opts, struct json_err *err)
{
	static const char *const keys[] = { "file", "max_mb", "snap", NULL };
	json_t *t = root ? json_object_get(root, "trace") : NULL;
	uint64_t mb = 0, snap = 0;
	int rc;

	if (!t)
		return 0;
	if (json_is_string(t)) {
		opts->path = json_string_value(t);
		return 0;
	}
	if (!json_is_object(t))
		return json_fail(err, "", "trace", "must be a file name or {\"file\", \"max_mb\", \"snap\"}");
	if ((rc = json_check_keys(t, "trace", keys, err)) ||
	    (rc = json_get_string(t, "trace", "file", true, &opts->path, err)) ||
	    (rc = json_get_u64(t, "trace", "max_mb", false, 0, 1u << 20, &mb, err)) ||
	    (rc = json_get_u64(t, "trace", "snap", false, 0, UINT32_MAX, &snap, err)))
		return rc;
	opts->max_bytes = mb << 20;
	opts->snap = (uint32_t)snap;
	return 0;
}

#ifdef HAVE_LIBPCAP

static int trace_file_open(struct trace_writer *w, struct json_err *err)
{
	FILE *f = fopen(w->path, "wb");

	if (!f) {
		json_fail(err, "", "trace", "%s: %s", w->path, strerror(errno));
		return -errno;
	}
	w->dump = pcap_dump_fopen(w->pcap, f);
	if (!w->dump) {
		json_fail(err, "", "trace", "%s: %s", w->path, pcap_geterr(w->pcap));
		fclose(f);
		return -EIO;
	}
	w->file_bytes = sizeof(struct pcap_file_header_wire);
	w->stats.bytes += w->file_bytes;
	return 0;
}

/* Hands the buffer to the kernel: a crash loses nothing flushed. */
static void trace_flush(struct trace_writer *w, uint64_t now)
{
	if (w->buf_len && w->dump &&
	    (fwrite(w->buf, 1, w->buf_len, pcap_dump_file(w->dump)) != w->buf_len ||
	     pcap_dump_flush(w->dump) != 0))
		w->stats.errors++;
	w->buf_len = 0;
	w->flushed_ns = now;
}

/* PATH -> PATH.1, new PATH.  On failure the writer stops writing (counted). */
static void trace_rotate(struct trace_writer *w)
{
	struct json_err err;

	trace_flush(w, w->flushed_ns);
	pcap_dump_close(w->dump);
	w->dump = NULL;
	if (rename(w->path, w->path_old) != 0 || trace_file_open(w, &err) != 0)
		return;
	w->stats.rotations++;
}

static void trace_record_relid(struct trace_writer *w, struct vmbus_trace_record *h,
			       const void *data, size_t len)
{
	const struct vmbus_msg_offer_channel *o = data;
	uint32_t type;

	if (len < sizeof(type))
		return;
	memcpy(&type, data, sizeof(type));
	h->relid = trace_chanmsg_relid(data, len);
	if (h->event == VMBUS_TRACE_MSG_OUT && type == CHANNELMSG_OFFERCHANNEL &&
	    len >= sizeof(*o) && h->relid <= VMBUS_MAX_RELID)
		w->relid_proto[h->relid] = trace_proto_of_class(&o->if_type);
}

/* Copies `keep` bytes of the iovecs, from byte `skip` on, to dst. */
static void trace_gather(uint8_t *dst, const struct iovec *iov, int iovcnt, size_t skip,
			 size_t keep)
{
	for (int i = 0; i < iovcnt && keep; i++) {
		size_t c;

		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		c = MIN(keep, iov[i].iov_len - skip);
		memcpy(dst, (const uint8_t *)iov[i].iov_base + skip, c);
		dst += c;
		keep -= c;
		skip = 0;
	}
}

/* One record of `len` data bytes, bytes [skip, skip + len) of the iovecs. */
static void trace_write_one(struct trace_writer *w, uint16_t event, uint32_t relid, uint32_t vp,
			    uint32_t id, uint64_t arg, const struct iovec *iov, int iovcnt,
			    size_t skip, size_t len)
{
	struct vmbus_trace_record h = {
		.magic = VMBUS_TRACE_MAGIC,
		.version = VMBUS_TRACE_VERSION,
		.hdr_len = TRACE_HDR_LEN,
		.event = event,
		.dir = event < VMBUS_TRACE_EVENT_COUNT ? trace_event_dir[event] : 0,
		.relid = relid,
		.vp = vp,
		.id = id,
		.arg = arg,
		.orig_len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len,
	};
	struct pcap_record_header_wire ph;
	struct timespec ts;
	uint32_t keep;
	uint64_t now;
	uint8_t *dst;

	keep = (uint32_t)MIN(len, (size_t)w->snap);
	if (keep < len)
		h.flags |= VMBUS_TRACE_FLAG_SNAPPED;
	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&w->lock);
	if (event == VMBUS_TRACE_MSG_IN || event == VMBUS_TRACE_MSG_OUT)
		trace_record_relid(w, &h, iovcnt ? iov[0].iov_base : NULL,
				   iovcnt ? MIN(len, iov[0].iov_len) : 0);
	if (h.relid <= VMBUS_MAX_RELID)
		h.proto = w->relid_proto[h.relid];
	if (event == VMBUS_TRACE_ATTACH)
		memset(w->relid_proto, 0, sizeof(w->relid_proto));
	if (w->file_cap && w->dump &&
	    w->file_bytes + TRACE_PCAP_HDR + TRACE_HDR_LEN + keep > w->file_cap)
		trace_rotate(w);
	if (!w->dump) {
		w->stats.errors++;
		pthread_mutex_unlock(&w->lock);
		return;
	}
	h.seq = w->seq++;
	ph.ts_sec = (uint32_t)ts.tv_sec;
	ph.ts_frac = (uint32_t)ts.tv_nsec; /* the file header says nanoseconds */
	ph.caplen = TRACE_HDR_LEN + keep;
	ph.len = TRACE_HDR_LEN + (uint32_t)MIN((uint64_t)h.orig_len, (uint64_t)UINT32_MAX - TRACE_HDR_LEN);
	if (w->buf_len + TRACE_PCAP_HDR + ph.caplen > TRACE_BUF_SIZE)
		trace_flush(w, w->flushed_ns);
	dst = w->buf + w->buf_len;
	memcpy(dst, &ph, TRACE_PCAP_HDR);
	memcpy(dst + TRACE_PCAP_HDR, &h, TRACE_HDR_LEN);
	if (keep)
		trace_gather(dst + TRACE_PCAP_HDR + TRACE_HDR_LEN, iov, iovcnt, skip, keep);
	w->buf_len += TRACE_PCAP_HDR + ph.caplen;
	w->file_bytes += TRACE_PCAP_HDR + ph.caplen;
	w->stats.bytes += TRACE_PCAP_HDR + ph.caplen;
	w->stats.records++;
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (now - w->flushed_ns > TRACE_FLUSH_NS || event == VMBUS_TRACE_ATTACH ||
	    event == VMBUS_TRACE_RESET || event == VMBUS_TRACE_DETACH)
		trace_flush(w, now);
	pthread_mutex_unlock(&w->lock);
}

static void trace_sink_write(void *opaque, uint16_t event, uint32_t relid, uint32_t vp,
			     uint32_t id, uint64_t arg, const struct iovec *iov, int iovcnt,
			     size_t len)
{
	struct trace_writer *w = opaque;
	size_t have = 0;

	for (int i = 0; i < iovcnt; i++)
		have += iov[i].iov_len;
	len = MIN(len, have);
	if ((event != VMBUS_TRACE_DATA_IN && event != VMBUS_TRACE_DATA_OUT) || len <= TRACE_DATA_CHUNK) {
		trace_write_one(w, event, relid, vp, id, arg, iov, iovcnt, 0, len);
		return;
	}
	/* Data larger than a record (a 1 MiB disk read) goes out in chunks,
	 * each saying where its bytes lie (proto/trace.h, "Data records"). */
	for (size_t off = 0; off < len; off += TRACE_DATA_CHUNK)
		trace_write_one(w, event, relid, id ? vp : (uint32_t)off, id, id ? arg + off : arg,
				iov, iovcnt, off, MIN((size_t)TRACE_DATA_CHUNK, len - off));
}

static void trace_writer_free(struct trace_writer *w)
{
	if (w->dump) {
		trace_flush(w, w->flushed_ns);
		pcap_dump_close(w->dump);
	}
	if (w->pcap)
		pcap_close(w->pcap);
	pthread_mutex_destroy(&w->lock);
	free(w->buf);
	free(w->path);
	free(w->path_old);
	free(w);
}

int trace_writer_start(const struct trace_opts *opts, struct json_err *err)
{
	struct trace_writer *w;
	size_t n;

	if (trace_w)
		return json_fail(err, "", "trace", "a capture is already running");
	if (!opts->path || !*opts->path)
		return json_fail(err, "", "trace", "no file name");
	if (opts->max_bytes && opts->max_bytes < 2 * (uint64_t)VMBUS_TRACE_MAX_RECORD)
		return json_fail(err, "", "trace", "size cap below 1 MiB");
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	n = strlen(opts->path);
	w->path = strdup(opts->path);
	w->path_old = malloc(n + 3);
	w->buf = malloc(TRACE_BUF_SIZE);
	if (!w->path || !w->path_old || !w->buf) {
		trace_writer_free(w);
		return -ENOMEM;
	}
	snprintf(w->path_old, n + 3, "%s.1", opts->path);
	w->file_cap = opts->max_bytes / 2;
	w->snap = VMBUS_TRACE_MAX_RECORD - TRACE_HDR_LEN;
	if (opts->snap && opts->snap < w->snap)
		w->snap = opts->snap;
	w->pcap = pcap_open_dead_with_tstamp_precision(VMBUS_TRACE_LINKTYPE, VMBUS_TRACE_MAX_RECORD,
						       PCAP_TSTAMP_PRECISION_NANO);
	if (!w->pcap) {
		trace_writer_free(w);
		return json_fail(err, "", "trace", "libpcap: cannot create a capture handle");
	}
	if (trace_file_open(w, err)) {
		trace_writer_free(w);
		return -EIO;
	}
	trace_w = w;
	trace_set_sink(trace_sink_write, w);
	return 0;
}

void trace_writer_stop(struct trace_writer_stats *stats)
{
	struct trace_writer *w = trace_w;

	if (!w)
		return;
	trace_set_sink(NULL, NULL);
	/* A sink call racing with the removal finishes under the lock. */
	pthread_mutex_lock(&w->lock);
	pthread_mutex_unlock(&w->lock);
	if (stats)
		*stats = w->stats;
	trace_w = NULL;
	trace_writer_free(w);
}

#else /* !HAVE_LIBPCAP */

int trace_writer_start(const struct trace_opts *opts, struct json_err *err)
{
	return json_fail(err, "", "trace", "vmbusd was built without libpcap (install libpcap-dev, re-run configure)");
}

void trace_writer_stop(struct trace_writer_stats *stats)
{
}

#endif

bool trace_writer_active(void)
{
	return trace_w != NULL;
}
