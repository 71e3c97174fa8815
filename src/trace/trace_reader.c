/* SPDX-License-Identifier: MIT */
/*
 * The capture reader.  Every byte of the file is hostile: the file header
 * must be a little-endian classic pcap of link type USER0 (either
 * timestamp precision), each record's caplen must fit the file, the
 * snaplen and our 256 KiB record cap, caplen <= len, and the record must
 * start with a vmbusd header whose hdr_len covers the 40 bytes we know and
 * lies inside caplen.  The first bad record stops reading with a message
 * naming its number and offset; what came before stays usable.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace/trace.h"

struct trace_reader {
	FILE *f;
	bool nsec;
	uint32_t snaplen;
	uint64_t offset;   /* file offset of the next record header */
	uint64_t index;
	uint8_t *buf;      /* one record, VMBUS_TRACE_MAX_RECORD bytes */
};

struct trace_reader *trace_reader_open(FILE *f, struct json_err *err)
{
	struct pcap_file_header_wire fh;
	struct trace_reader *r;
	size_t got = fread(&fh, 1, sizeof(fh), f);

	if (got < sizeof(fh)) {
		json_fail(err, NULL, NULL, "not a vmbusd capture: %zu bytes, shorter than a pcap header",
			  got);
		return NULL;
	}
	if (fh.magic != PCAP_MAGIC_NSEC && fh.magic != PCAP_MAGIC_USEC) {
		json_fail(err, NULL, NULL,
			  "not a vmbusd capture: magic %08x is not a little-endian pcap file "
			  "(pcapng and big-endian files are not vmbusd's)", fh.magic);
		return NULL;
	}
	if (fh.version_major != 2) {
		json_fail(err, NULL, NULL, "not a vmbusd capture: pcap version %u.%u",
			  fh.version_major, fh.version_minor);
		return NULL;
	}
	if ((fh.linktype & 0x0FFFFFFFu) != VMBUS_TRACE_LINKTYPE) {
		json_fail(err, NULL, NULL,
			  "not a vmbusd capture: link type %u (vmbusd writes %u, LINKTYPE_USER0)",
			  fh.linktype & 0x0FFFFFFFu, VMBUS_TRACE_LINKTYPE);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r)
		r->buf = malloc(VMBUS_TRACE_MAX_RECORD);
	if (!r || !r->buf) {
		free(r);
		json_fail(err, NULL, NULL, "out of memory");
		return NULL;
	}
	r->f = f;
	r->nsec = fh.magic == PCAP_MAGIC_NSEC;
	r->snaplen = fh.snaplen;
	r->offset = sizeof(fh);
	return r;
}

static int trace_reader_bad(struct trace_reader *r, struct json_err *err, const char *why,
			    uint32_t a, uint32_t b)
{
	json_fail(err, NULL, NULL, "record %llu at offset %llu: %s (%u, %u); stopped there",
		  (unsigned long long)r->index, (unsigned long long)r->offset, why, a, b);
	return -EPROTO;
}

int trace_reader_next(struct trace_reader *r, struct trace_record *rec, struct json_err *err)
{
	struct pcap_record_header_wire ph;
	size_t got = fread(&ph, 1, sizeof(ph), r->f);

	if (got == 0)
		return 0;
	if (got < sizeof(ph))
		return trace_reader_bad(r, err, "truncated record header", (uint32_t)got,
					(uint32_t)sizeof(ph));
	if (ph.caplen > VMBUS_TRACE_MAX_RECORD || ph.caplen > ph.len)
		return trace_reader_bad(r, err, "caplen above the record cap or len", ph.caplen, ph.len);
	if (r->snaplen && ph.caplen > r->snaplen)
		return trace_reader_bad(r, err, "caplen above the file's snaplen", ph.caplen, r->snaplen);
	if (ph.caplen < sizeof(rec->hdr))
		return trace_reader_bad(r, err, "record shorter than the vmbusd header", ph.caplen,
					(uint32_t)sizeof(rec->hdr));
	if (!r->nsec ? ph.ts_frac >= 1000000u : ph.ts_frac >= 1000000000u)
		return trace_reader_bad(r, err, "timestamp fraction out of range", ph.ts_frac, 0);
	got = fread(r->buf, 1, ph.caplen, r->f);
	if (got < ph.caplen)
		return trace_reader_bad(r, err, "truncated record", (uint32_t)got, ph.caplen);
	memcpy(&rec->hdr, r->buf, sizeof(rec->hdr));
	if (rec->hdr.magic != VMBUS_TRACE_MAGIC)
		return trace_reader_bad(r, err, "no vmbusd record magic", rec->hdr.magic,
					VMBUS_TRACE_MAGIC);
	if (rec->hdr.version < VMBUS_TRACE_VERSION_MIN || rec->hdr.version > VMBUS_TRACE_VERSION)
		return trace_reader_bad(r, err, "unknown record version", rec->hdr.version,
					VMBUS_TRACE_VERSION);
	if (rec->hdr.hdr_len < sizeof(rec->hdr) || rec->hdr.hdr_len > ph.caplen)
		return trace_reader_bad(r, err, "record header length", rec->hdr.hdr_len, ph.caplen);
	rec->data = r->buf + rec->hdr.hdr_len;
	rec->data_len = ph.caplen - rec->hdr.hdr_len;
	/* orig_len is the writer's word; never let it claim less than we hold. */
	if (rec->hdr.orig_len < rec->data_len)
		return trace_reader_bad(r, err, "orig_len below the kept bytes", rec->hdr.orig_len,
					rec->data_len);
	rec->ts_ns = (uint64_t)ph.ts_sec * 1000000000ull +
		     (r->nsec ? ph.ts_frac : (uint64_t)ph.ts_frac * 1000u);
	rec->index = r->index++;
	r->offset += sizeof(ph) + ph.caplen;
	return 1;
}

void trace_reader_close(struct trace_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}
