/* SPDX-License-Identifier: MIT */
/*
 * The guest side of a VMBus ring buffer (facts §6), written independently
 * of the host's ring.  One struct guest_ring is one direction: the guest
 * writes the guest->host ring and reads the host->guest ring.
 *
 * Signalling contract (facts §6.5, Linux ring_buffer.c):
 *  - After a write the guest interrupts the host only if the host's
 *    interrupt_mask in that ring is 0 AND the host had consumed everything
 *    before this write (old write_index == read_index): the host drains
 *    until empty, so only the empty -> non-empty transition needs a kick.
 *  - After a read the guest interrupts the host only if the host, blocked
 *    as a writer, set pending_send_sz and this read moved the free space
 *    from "<= pending_send_sz" to "> pending_send_sz".
 *  - A ring is never filled completely: read == write means empty.
 *
 * The host is not trusted: it can write any value into the shared header
 * and data area at any time.  The guest keeps its own copy of the index it
 * owns (write index of the outbound ring, read index of the inbound ring),
 * validates every index and descriptor it loads, and marks the ring broken
 * instead of following a bad one.  Nothing here asserts on shared memory.
 */
#ifndef VMBUSD_GUEST_RING_H
#define VMBUSD_GUEST_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "vmbusd/proto/ring.h"

struct guest_ring {
	struct vmbus_ring_header *hdr; /* first page: shared with the host */
	uint8_t *data;                 /* data area, `size` bytes */
	uint32_t size;                 /* data area bytes (ring bytes - 4096) */
	uint32_t priv_index;           /* outbound: our write index; inbound: our read index */
	uint32_t max_pkt;              /* inbound: largest packet accepted (Linux max_pkt_size) */
	bool broken;                   /* the host corrupted the ring; it is no longer used */
	const char *error;             /* why it broke (static string) */
	bool batching;                 /* inbound: between recv_begin and recv_end;
					* outbound: between send_begin and send_end */
	uint32_t unpublished;          /* inbound: bytes read, read_index not yet stored */
	uint32_t published;            /* outbound: write_index as last stored */
	uint32_t peer;                 /* outbound, in a burst: the host's read_index as
					* last loaded and checked ... */
	bool peer_valid;               /* ... once loaded in this burst */
	uint32_t bad_pending;          /* inbound: a pending_send_sz beyond the ring, seen
					* and not yet reported (0 = none) */
};

/* A packet taken from the inbound ring, pointing into the caller's buffer. */
struct guest_ring_pkt {
	uint16_t type;         /* enum vmbus_packet_type */
	uint16_t flags;
	uint64_t trans_id;
	uint32_t len;          /* whole packet incl. descriptor (len8 * 8) */
	uint32_t offset;       /* payload offset (offset8 * 8) */
	const uint8_t *payload;
	uint32_t payload_len;  /* len - offset */
};

/* Points r at a ring of `total_bytes` (header page + data) at `base`.
 * Touches no memory. -EINVAL when the ring is too small or not 8-aligned. */
int guest_ring_setup(struct guest_ring *r, void *base, uint32_t total_bytes, uint32_t max_pkt);
/* hv_ringbuffer_init: zeroes the header, indices 0, feature_bits = 1. */
void guest_ring_init_header(struct guest_ring *r);

/*
 * Writes one packet (descriptor, payload, zero padding to 8, 8-byte
 * trailer).  *signal says whether the host must be interrupted.  Returns 0,
 * -EAGAIN when it does not fit now, -EMSGSIZE when it can never fit, -EIO
 * when the host broke the ring.
 */
int guest_ring_send(struct guest_ring *r, uint16_t type, uint16_t flags, uint64_t trans_id,
		    const void *payload, uint32_t len, bool *signal);
/* Copies `len` bytes verbatim at the write index and advances it by len
 * (hostile-input tests).  Same returns as guest_ring_send. */
int guest_ring_send_raw(struct guest_ring *r, const void *bytes, uint32_t len, bool *signal);

/* Bytes a batch of reads or a burst of sends moves before it stores its
 * index: one store per many small packets (the header's cache line then
 * crosses between the CPUs once, not per packet), often enough that the
 * peer keeps going on large ones.  The host's RING_PUBLISH_BYTES. */
#define GUEST_RING_PUBLISH_BYTES 8192u

/* A burst of sends (a guest driver with several packets queued, as DPDK's
 * netvsc PMD has per tx burst): between begin and end, guest_ring_send
 * stores write_index (fence, signal decision) only once
 * GUEST_RING_PUBLISH_BYTES are unpublished, and reloads the host's
 * read_index only when the last value it loaded leaves too little room.
 * The signal rule is the per-packet one applied to what is published at
 * once: interrupt when the host had read everything published before.
 * flush publishes what is pending and stays in the burst (a writer about
 * to wait for room must, or the host never sees the packets it waits on);
 * end flushes and leaves it.  Both return whether to interrupt the host.
 * Without a burst every send publishes, as Linux's hv_ringbuffer_write. */
void guest_ring_send_begin(struct guest_ring *r);
bool guest_ring_send_flush(struct guest_ring *r);
bool guest_ring_send_end(struct guest_ring *r);
/* Bytes written in this burst that the host cannot see yet. */
static inline bool guest_ring_send_pending(const struct guest_ring *r)
{
	return r->priv_index != r->published;
}

/*
 * Takes the next packet: copies it (descriptor included) into buf, which
 * must hold r->max_pkt bytes, and advances the read index.  *signal says
 * whether the host (a blocked writer) must be interrupted.  Returns 0,
 * -EAGAIN when empty, -EMSGSIZE for a well-formed packet larger than
 * max_pkt (skipped: counted as consumed), -EIO when the host broke the ring.
 */
int guest_ring_recv(struct guest_ring *r, void *buf, uint32_t buflen,
		    struct guest_ring_pkt *pkt, bool *signal);

/* Linux's hv_pkt_iter_first .. hv_pkt_iter_close: between begin and end,
 * guest_ring_recv advances the private read index and stores read_index
 * only once GUEST_RING_PUBLISH_BYTES were read (so a host writer waiting
 * for room is not held up by a long batch; it then returns the signal
 * decision through *signal); end stores the rest, fences, and returns
 * whether the host (a writer blocked on pending_send_sz) must be
 * interrupted for everything read. */
void guest_ring_recv_begin(struct guest_ring *r);
bool guest_ring_recv_end(struct guest_ring *r);

/* Bytes the host has published and we have not read (0 if broken). */
uint32_t guest_ring_bytes_to_read(struct guest_ring *r);
/* Free bytes in the outbound ring as the writer sees them. */
uint32_t guest_ring_bytes_to_write(struct guest_ring *r);

/* hv_begin_read / hv_end_read on the inbound ring: mask host interrupts
 * while draining; unmask returns the bytes that arrived meanwhile (the
 * caller must drain again if non-zero, since no interrupt will come). */
void guest_ring_mask(struct guest_ring *r);
uint32_t guest_ring_unmask(struct guest_ring *r);

/* Outbound ring: ask the host (reader) to interrupt when `bytes` are free;
 * 0 clears the request. */
void guest_ring_set_pending_send(struct guest_ring *r, uint32_t bytes);

/* Bytes one packet of `payload_len` takes in the ring, trailer included. */
static inline uint32_t guest_ring_pkt_bytes(uint32_t payload_len)
{
	return ((16u + payload_len + 7u) & ~7u) + VMBUS_PKT_TRAILER_SIZE;
}

#endif
