/* SPDX-License-Identifier: MIT */
/*
 * vmbusd capture records (`vmbusd serve --trace FILE`).
 *
 * A capture is a pcap file (nanosecond magic a1b23c4d, link type
 * LINKTYPE_USER0 = 147).  Every pcap record holds exactly one event: this
 * 40-byte little-endian header, then `orig_len` bytes of event data of which
 * the first caplen - 40 were kept (--trace-snap).  Records are written in the
 * order the host saw the events, under one lock.
 *
 * Why LINKTYPE_USER0 rather than LINKTYPE_WIRESHARK_UPPER_PDU (252): the
 * record is already self-describing (the magic and version below), so the
 * exported-PDU tag list would add 16 bytes per record and a second format
 * for every reader (our C reader, the fuzz target, the Lua dissector) to
 * parse, while buying nothing: Wireshark 4.0 finds a Lua dissector named in
 * an upper-PDU tag only once the script is loaded — exactly what the
 * script's registration in the "wtap_encap" table for USER0 does anyway.
 * The cost is that USER0 is a private-use link type: a file from another
 * USER0 producer shows as malformed vmbusd records (the dissector checks
 * the magic first).
 *
 * The event data is the bytes that crossed the bus, unchanged:
 *   MSG_IN / MSG_OUT    one VMBus channel message (struct vmbus_msg_header first)
 *   PKT_IN / PKT_OUT    one ring packet from its vmpacket_descriptor through
 *                       its padding (len8 * 8 bytes; no trailer)
 *   DATA_IN / DATA_OUT  device bytes moved through guest pages outside the
 *                       ring (version 2; see "Data records" below)
 *   GPADL_CREATE        the GPADL's range buffer: {byte_count, byte_offset,
 *                       pfn[]} per range, as GPADL_HEADER/BODY carried it
 *   others              no data
 * Everything else is in the header.  Numbers are little-endian.
 *
 * Data records (version 2).  What a device read from or wrote into guest
 * pages that are not a ring: the bytes themselves, and in the header where
 * they lie, so that a replay can write a DATA_OUT into the pages the new
 * guest names for the same request:
 *   id != 0   the bytes lie in GPADL `id` of the channel's primary, from
 *             byte offset `arg` (netvsc receive buffer: one RNDIS message
 *             per receive section, written before the transfer-page packet
 *             that announces it; netvsc send buffer: the RNDIS message of
 *             a send section, DATA_IN)
 *   id == 0   the bytes are the buffer of the guest packet on this relid
 *             whose transaction id is `arg`, from byte `vp` of it: the
 *             GPA-direct pages of a storvsc EXECUTE_SRB (DATA_OUT: what a
 *             read put there, written before the completion; DATA_IN: what
 *             a write took from there) or of a netvsc RNDIS message sent
 *             from pages (DATA_IN)
 * (`vp` is no VP in a data record: VMBUS_TRACE_VP_NONE in the GPADL form.)
 * Data above 128 KiB (a large disk read) is written as several records in
 * order, each with its own offset.  A data record is cut at --trace-snap
 * like any other (FLAG_SNAPPED); a replay then refuses the capture.
 * Version 1 captures have no data records; readers take both versions.
 */
#ifndef VMBUSD_PROTO_TRACE_H
#define VMBUSD_PROTO_TRACE_H

#include <stdint.h>

#define VMBUS_TRACE_LINKTYPE 147u           /* LINKTYPE_USER0 / DLT_USER0 */
#define VMBUS_TRACE_MAGIC    0x54424d56u    /* "VMBT" in file byte order */
#define VMBUS_TRACE_VERSION  2u           /* 2: data records (above) */
#define VMBUS_TRACE_VERSION_MIN 1u
#define VMBUS_TRACE_VP_NONE  0xFFFFFFFFu    /* record not tied to a VP */
/* Largest record we write: Wireshark refuses records above 256 KiB. */
#define VMBUS_TRACE_MAX_RECORD 262144u

enum vmbus_trace_event {
	VMBUS_TRACE_NONE          = 0,
	VMBUS_TRACE_MSG_IN        = 1,  /* HvPostMessage: id = connection id, arg = HV message type */
	VMBUS_TRACE_MSG_OUT       = 2,  /* SynIC message slot written: id = HV message type, arg = message flags */
	VMBUS_TRACE_PKT_IN        = 3,  /* ring packet read from the guest->host ring */
	VMBUS_TRACE_PKT_OUT       = 4,  /* ring packet written to the host->guest ring */
	VMBUS_TRACE_GPADL_CREATE  = 5,  /* GPADL complete and accepted: id = handle, arg = range count */
	VMBUS_TRACE_GPADL_TEARDOWN = 6, /* GPADL freed (teardown, close, reset): id = handle */
	VMBUS_TRACE_SIGNAL_IN     = 7,  /* guest signalled a channel: id = connection id */
	VMBUS_TRACE_SIGNAL_OUT    = 8,  /* host set an event flag: relid = flag, id = SINT */
	VMBUS_TRACE_INTERRUPT     = 9,  /* host asked for an interrupt: id = SINT, arg = vector */
	VMBUS_TRACE_MSR_WRITE     = 10, /* synthetic MSR written: id = MSR, arg = value */
	VMBUS_TRACE_ATTACH        = 11, /* frontend attached: arg = number of VPs */
	VMBUS_TRACE_RESET         = 12, /* guest reset */
	VMBUS_TRACE_DETACH        = 13, /* frontend detached */
	VMBUS_TRACE_DATA_IN       = 14, /* device data read from guest pages outside the ring:
					 * id = GPADL handle, arg = offset in it; or id = 0,
					 * arg = trans id of the packet whose pages they are,
					 * vp = offset in them */
	VMBUS_TRACE_DATA_OUT      = 15, /* device data written into guest pages: id, arg as DATA_IN */
	VMBUS_TRACE_EVENT_COUNT   = 16,
};

enum vmbus_trace_dir {
	VMBUS_TRACE_DIR_NONE = 0,       /* a host-side event (attach, reset, GPADL bookkeeping) */
	VMBUS_TRACE_DIR_G2H  = 1,       /* guest -> host */
	VMBUS_TRACE_DIR_H2G  = 2,       /* host -> guest */
};

/* What a ring packet's payload is, from the device class of the channel's
 * offer (the writer remembers OFFERCHANNEL's if_type per relid). */
enum vmbus_trace_proto {
	VMBUS_TRACE_PROTO_UNKNOWN   = 0,
	VMBUS_TRACE_PROTO_STORVSC   = 1, /* vstor packets */
	VMBUS_TRACE_PROTO_NETVSC    = 2, /* NVSP, RNDIS inside */
	VMBUS_TRACE_PROTO_HEARTBEAT = 3, /* IC framework */
	VMBUS_TRACE_PROTO_SHUTDOWN  = 4,
	VMBUS_TRACE_PROTO_TIMESYNC  = 5,
	VMBUS_TRACE_PROTO_KVP       = 6,
	VMBUS_TRACE_PROTO_BENCH     = 7, /* vmbusd's benchmark device */
	VMBUS_TRACE_PROTO_VSS       = 8, /* IC framework */
	VMBUS_TRACE_PROTO_FCOPY     = 9, /* IC framework */
	VMBUS_TRACE_PROTO_COUNT     = 10,
};

#define VMBUS_TRACE_FLAG_SNAPPED 0x1u /* data cut at --trace-snap */

struct vmbus_trace_record {
	uint32_t magic;     /* VMBUS_TRACE_MAGIC: a record of ours, not another USER0 */
	uint8_t version;    /* VMBUS_TRACE_VERSION_MIN..VMBUS_TRACE_VERSION */
	uint8_t hdr_len;    /* bytes before the data: 40 (readers skip what they do not know) */
	uint16_t event;     /* enum vmbus_trace_event */
	uint8_t dir;        /* enum vmbus_trace_dir */
	uint8_t proto;      /* enum vmbus_trace_proto of the channel (ring packets, signals) */
	uint16_t flags;     /* VMBUS_TRACE_FLAG_* */
	uint32_t relid;     /* channel relid; 0 = none (partition events, unknown) */
	uint32_t vp;        /* VP index, or VMBUS_TRACE_VP_NONE */
	uint32_t id;        /* event-specific: see enum vmbus_trace_event */
	uint64_t arg;       /* event-specific: see enum vmbus_trace_event */
	uint32_t orig_len;  /* event data bytes before snapping */
	uint32_t seq;       /* record number, from 0, continuing across rotated files */
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_trace_record) == 40, "vmbus_trace_record");

/* Classic pcap framing as the file holds it (libpcap writes it; our reader
 * parses it without libpcap so that it can be fuzzed). */
#define PCAP_MAGIC_USEC 0xa1b2c3d4u
#define PCAP_MAGIC_NSEC 0xa1b23c4du

struct pcap_file_header_wire {
	uint32_t magic;         /* PCAP_MAGIC_NSEC for ours */
	uint16_t version_major; /* 2 */
	uint16_t version_minor; /* 4 */
	int32_t thiszone;       /* 0 */
	uint32_t sigfigs;       /* 0 */
	uint32_t snaplen;       /* largest caplen */
	uint32_t linktype;      /* VMBUS_TRACE_LINKTYPE */
} __attribute__((packed));
_Static_assert(sizeof(struct pcap_file_header_wire) == 24, "pcap file header");

struct pcap_record_header_wire {
	uint32_t ts_sec;
	uint32_t ts_frac;       /* ns (PCAP_MAGIC_NSEC) or us */
	uint32_t caplen;        /* bytes that follow in the file */
	uint32_t len;           /* bytes of the record before snapping */
} __attribute__((packed));
_Static_assert(sizeof(struct pcap_record_header_wire) == 16, "pcap record header");

#endif /* VMBUSD_PROTO_TRACE_H */
