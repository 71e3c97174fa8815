/* SPDX-License-Identifier: MIT */
/*
 * VMBus ring buffers and packets (facts §6; Linux 6.1 include/linux/hyperv.h,
 * drivers/hv/ring_buffer.c).  One GPADL holds two rings: pages
 * [0, downstream_offset) are guest->host, the rest host->guest.  Each ring is
 * a 4 KiB header page followed by the data area.
 */
#ifndef VMBUSD_PROTO_RING_H
#define VMBUSD_PROTO_RING_H

#include <stdint.h>

#define VMBUS_RING_HEADER_SIZE 4096u

struct vmbus_ring_header {
	uint32_t write_index;     /* byte offset into the data area; written by the writer */
	uint32_t read_index;      /* written by the reader */
	uint32_t interrupt_mask;  /* set by the reader: "do not interrupt me" */
	uint32_t pending_send_sz; /* set by a blocked writer: bytes it needs */
	uint32_t reserved1[12];
	uint32_t feature_bits;    /* bit 0: pending_send_sz supported */
	uint8_t reserved2[4028];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_ring_header) == VMBUS_RING_HEADER_SIZE, "ring header");
#define VMBUS_RING_FEAT_PENDING_SEND_SZ 0x1u

enum vmbus_packet_type {
	VM_PKT_INVALID             = 0,
	VM_PKT_SYNCH               = 1,
	VM_PKT_ADD_XFER_PAGESET    = 2,
	VM_PKT_RM_XFER_PAGESET     = 3,
	VM_PKT_ESTABLISH_GPADL     = 4,
	VM_PKT_TEARDOWN_GPADL      = 5,
	VM_PKT_DATA_INBAND         = 6,
	VM_PKT_DATA_USING_XFER_PAGES = 7,
	VM_PKT_DATA_USING_GPADL    = 8,
	VM_PKT_DATA_USING_GPA_DIRECT = 9,
	VM_PKT_CANCEL_REQUEST      = 10,
	VM_PKT_COMP                = 11,
	VM_PKT_DATA_USING_ADDITIONAL_PKT = 12,
	VM_PKT_ADDITIONAL_DATA     = 13,
};

#define VMBUS_PKT_FLAG_COMPLETION_REQUESTED 0x1u

/* Transaction-id sentinels the guest uses (facts §6.3). */
#define VMBUS_RQST_INIT  0xFFFFFFFFFFFFFFFDull /* storvsc init; netvsc "no response" */
#define VMBUS_RQST_RESET 0xFFFFFFFFFFFFFFFCull

struct vmpacket_descriptor {
	uint16_t type;     /* enum vmbus_packet_type */
	uint16_t offset8;  /* header length incl. this descriptor, in 8-byte units */
	uint16_t len8;     /* whole packet excl. the 8-byte trailer, in 8-byte units */
	uint16_t flags;    /* bit 0: completion requested */
	uint64_t trans_id;
} __attribute__((packed));
_Static_assert(sizeof(struct vmpacket_descriptor) == 16, "vmpacket_descriptor");

/* The descriptor's first 8 bytes (type, offset8, len8, flags; x86 is
 * little-endian), for writers that store it as two words: built field by
 * field on the stack and copied as one 16-byte block, it stalls the store
 * buffer on every packet. */
static inline uint64_t vmpacket_desc_word0(uint16_t type, uint16_t offset8, uint16_t len8,
					   uint16_t flags)
{
	return (uint64_t)type | (uint64_t)offset8 << 16 | (uint64_t)len8 << 32 |
	       (uint64_t)flags << 48;
}

/* Every packet is followed by this in the ring; readers ignore its value. */
#define VMBUS_PKT_TRAILER_SIZE 8u

/* A range of a GPA-direct packet: byte_offset into the first page, then
 * ceil((byte_offset + byte_count) / 4096) page numbers. */
struct vmbus_gpa_direct_range {
	uint32_t byte_count;
	uint32_t byte_offset;
	uint64_t pfn_array[];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_gpa_direct_range) == 8, "gpa_direct_range");

/* VM_PKT_DATA_USING_GPA_DIRECT header, after the descriptor. */
struct vmbus_gpa_direct_header {
	struct vmpacket_descriptor desc;
	uint32_t reserved;
	uint32_t rangecount;
	/* struct vmbus_gpa_direct_range ranges[rangecount], variable size */
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_gpa_direct_header) == 24, "gpa_direct_header");

/* VM_PKT_DATA_USING_XFER_PAGES (host -> guest receive, netvsc). */
struct vmbus_xfer_page_range {
	uint32_t byte_count;
	uint32_t byte_offset;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_xfer_page_range) == 8, "xfer_page_range");

struct vmbus_xfer_page_header {
	struct vmpacket_descriptor desc;
	uint16_t xfer_pageset_id;
	uint8_t sender_owns_set;
	uint8_t reserved;
	uint32_t range_cnt;
	struct vmbus_xfer_page_range ranges[];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_xfer_page_header) == 24, "xfer_page_header");

/* VM_PKT_ESTABLISH_GPADL / TEARDOWN_GPADL / ADD/RM_XFER_PAGESET bodies
 * (legacy in-ring forms; Linux 6.1 never sends them). */
struct vmbus_establish_gpadl {
	struct vmpacket_descriptor desc;
	uint32_t gpadl;
	uint32_t rangecount;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_establish_gpadl) == 24, "establish_gpadl");

struct vmbus_teardown_gpadl {
	struct vmpacket_descriptor desc;
	uint32_t gpadl;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_teardown_gpadl) == 24, "teardown_gpadl");

struct vmbus_add_xfer_pageset {
	struct vmpacket_descriptor desc;
	uint32_t gpadl;
	uint16_t xfer_pageset_id;
	uint16_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_add_xfer_pageset) == 24, "add_xfer_pageset");

#endif /* VMBUSD_PROTO_RING_H */
