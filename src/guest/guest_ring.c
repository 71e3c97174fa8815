/* SPDX-License-Identifier: MIT */
/*
 * Guest-side VMBus ring (see guest_ring.h for the signalling contract).
 *
 * Barrier diagram (G = this guest, H = the host):
 *
 *   outbound ring (G writes, H reads)
 *     G: copy packet bytes                 H: load write_index (acquire) [1]
 *     G: store write_index (release) [1]   H: copy packet bytes
 *     G: fence (seq_cst) [2]               H: store read_index (release) [3]
 *     G: load interrupt_mask, read_index   H: store interrupt_mask = 0
 *        (acquire) [3]                     H: fence (seq_cst) [2]
 *                                          H: re-load write_index
 *   [1] the packet bytes are visible before the index that covers them.
 *   [2] store->load ordering: either G sees the host unmasked/caught up and
 *       signals, or the host's re-check after unmasking sees our index.
 *   [3] the host finished copying bytes out before we may overwrite them.
 *
 *   inbound ring (H writes, G reads): the mirror image.  We load
 *   write_index with acquire (pairs with the host's release store), copy,
 *   store read_index with release (our copy is done before the host may
 *   reuse the space), then a seq_cst fence before loading pending_send_sz
 *   (pairs with the host's fence between setting pending_send_sz and
 *   re-loading read_index), as Linux hv_pkt_iter_close does.
 *
 * The header struct is packed, but every field used here sits at a
 * 4-byte-aligned offset of a page-aligned header, so the 32-bit atomic
 * accesses below are naturally aligned.
 */
#include "guest/guest_ring.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "core/util.h"

#define RING_FIELD(r, field) \
	((_Atomic uint32_t *)(void *)((uint8_t *)(r)->hdr + offsetof(struct vmbus_ring_header, field)))

static inline uint32_t ring_load_acquire(_Atomic uint32_t *p)
{
	return atomic_load_explicit(p, memory_order_acquire);
}

static inline uint32_t ring_load_relaxed(_Atomic uint32_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static inline void ring_store_release(_Atomic uint32_t *p, uint32_t v)
{
	atomic_store_explicit(p, v, memory_order_release);
}

static void ring_break(struct guest_ring *r, const char *why)
{
	if (!r->broken) {
		r->broken = true;
		r->error = why;
	}
}

int guest_ring_setup(struct guest_ring *r, void *base, uint32_t total_bytes, uint32_t max_pkt)
{
	memset(r, 0, sizeof(*r));
	if (total_bytes <= VMBUS_RING_HEADER_SIZE || (total_bytes & 7u))
		return -EINVAL;
	r->hdr = base;
	r->data = (uint8_t *)base + VMBUS_RING_HEADER_SIZE;
	r->size = total_bytes - VMBUS_RING_HEADER_SIZE;
	r->max_pkt = max_pkt;
	return 0;
}

void guest_ring_init_header(struct guest_ring *r)
{
	memset(r->hdr, 0, sizeof(*r->hdr));
	r->hdr->feature_bits = VMBUS_RING_FEAT_PENDING_SEND_SZ;
	r->priv_index = 0;
	r->broken = false;
	r->error = NULL;
	r->batching = false;
	r->unpublished = 0;
	r->published = 0;
	r->peer_valid = false;
	/* The host reads the header only after OPENCHANNEL, which travels by
	 * hypercall (a full round trip through the daemon): no fence needed. */
}

/* off + n inside the data area, for off < size and n <= size: no division
 * (a `%` by the runtime size cost more than the copy of a small packet). */
static uint32_t ring_advance(const struct guest_ring *r, uint32_t off, uint32_t n)
{
	off += n;
	return off >= r->size ? off - r->size : off;
}

/* Copies into the data area starting at `off`, wrapping at the end. */
static uint32_t ring_copy_in(struct guest_ring *r, uint32_t off, const void *src, uint32_t len)
{
	uint32_t first = MIN(len, r->size - off);

	memcpy(r->data + off, src, first);
	memcpy(r->data, (const uint8_t *)src + first, len - first);
	return ring_advance(r, off, len);
}

static uint32_t ring_copy_out(const struct guest_ring *r, uint32_t off, void *dst, uint32_t len)
{
	uint32_t first = MIN(len, r->size - off);

	memcpy(dst, r->data + off, first);
	memcpy((uint8_t *)dst + first, r->data, len - first);
	return ring_advance(r, off, len);
}

/* A host-written index is usable only inside the data area and 8-aligned. */
static bool ring_index_ok(const struct guest_ring *r, uint32_t idx)
{
	return idx < r->size && (idx & 7u) == 0;
}

/* Free bytes for a writer at w with the reader at rd (rd == w: empty). */
static uint32_t ring_free(uint32_t size, uint32_t w, uint32_t rd)
{
	return rd > w ? rd - w : size - (w - rd);
}

uint32_t guest_ring_bytes_to_write(struct guest_ring *r)
{
	uint32_t rd;

	if (r->broken)
		return 0;
	rd = ring_load_acquire(RING_FIELD(r, read_index));
	if (rd >= r->size)
		return 0;
	return ring_free(r->size, r->priv_index, rd);
}

/* Stores write_index = priv_index, then decides on the signal by
 * hv_signal_on_write's rule for everything stored at once: interrupt if the
 * host's interrupt_mask is 0 and it had read all we published before. */
static bool ring_publish(struct guest_ring *r)
{
	uint32_t old_w = r->published;

	r->published = r->priv_index;
	/* [1] packet bytes before the index that covers them. */
	ring_store_release(RING_FIELD(r, write_index), r->priv_index);
	/* [2] our index store before the loads of the host's state. */
	atomic_thread_fence(memory_order_seq_cst);
	if (ring_load_acquire(RING_FIELD(r, interrupt_mask)))
		return false;
	return ring_load_acquire(RING_FIELD(r, read_index)) == old_w;
}

/* The common tail of both writers: the packet ends at new_w. */
static bool ring_wrote(struct guest_ring *r, uint32_t new_w)
{
	uint32_t unpublished;

	r->priv_index = new_w;
	unpublished = r->size - ring_free(r->size, new_w, r->published);
	/* (a small ring is never held more than half hidden) */
	if (r->batching && unpublished < MIN(GUEST_RING_PUBLISH_BYTES, r->size / 2))
		return false; /* the burst's end, or its next threshold, publishes */
	return ring_publish(r);
}

static int ring_reserve(struct guest_ring *r, uint32_t total, uint32_t *w_out)
{
	uint32_t rd;

	if (r->broken)
		return -EIO;
	if (total >= r->size)
		return -EMSGSIZE;
	/* In a burst, the read index loaded last may already leave room: the
	 * header line is the host's to write, so each load is a miss. */
	if (r->batching && r->peer_valid && ring_free(r->size, r->priv_index, r->peer) > total) {
		*w_out = r->priv_index;
		return 0;
	}
	/* [3] the host's reads of old packets are done before we overwrite. */
	rd = ring_load_acquire(RING_FIELD(r, read_index));
	if (rd >= r->size) {
		ring_break(r, "host read_index outside the data area");
		return -EIO;
	}
	r->peer = rd;
	r->peer_valid = true;
	/* Strictly greater: a ring is never filled completely (facts §6.2). */
	if (ring_free(r->size, r->priv_index, rd) <= total)
		return -EAGAIN;
	*w_out = r->priv_index;
	return 0;
}

void guest_ring_send_begin(struct guest_ring *r)
{
	r->batching = true;
	r->peer_valid = false; /* the first send of the burst loads read_index */
}

bool guest_ring_send_flush(struct guest_ring *r)
{
	return !r->broken && guest_ring_send_pending(r) && ring_publish(r);
}

bool guest_ring_send_end(struct guest_ring *r)
{
	r->batching = false;
	return guest_ring_send_flush(r);
}

int guest_ring_send(struct guest_ring *r, uint16_t type, uint16_t flags, uint64_t trans_id,
		    const void *payload, uint32_t len, bool *signal)
{
	static const uint8_t zeros[8];
	struct vmpacket_descriptor desc;
	uint32_t packed, total, w;
	uint64_t trailer;
	int ret;

	*signal = false;
	if (len > (UINT16_MAX * 8u) - 16u - 7u)
		return -EMSGSIZE;
	packed = (16u + len + 7u) & ~7u;
	total = packed + VMBUS_PKT_TRAILER_SIZE;
	ret = ring_reserve(r, total, &w);
	if (ret)
		return ret;

	desc.type = type;
	desc.offset8 = 2;          /* payload right after the 16-byte descriptor */
	desc.len8 = (uint16_t)(packed / 8u);
	desc.flags = flags;
	desc.trans_id = trans_id;
	/* Linux puts the old write index in the trailer's upper half. */
	trailer = (uint64_t)w << 32;
	if (r->size - w >= total) {
		/* The common case, no wrap: straight into place, the
		 * descriptor as two 8-byte words. */
		uint8_t *dst = r->data + w;
		uint64_t word0 = vmpacket_desc_word0(type, 2, (uint16_t)(packed / 8u), flags);

		memcpy(dst, &word0, 8);
		memcpy(dst + 8, &trans_id, 8);
		memcpy(dst + 16u, payload, len);
		if (packed - 16u != len)
			memcpy(dst + 16u + len, zeros, packed - 16u - len);
		memcpy(dst + packed, &trailer, sizeof(trailer));
		w = ring_advance(r, w, total);
	} else {
		w = ring_copy_in(r, w, &desc, sizeof(desc));
		w = ring_copy_in(r, w, payload, len);
		w = ring_copy_in(r, w, zeros, packed - 16u - len);
		w = ring_copy_in(r, w, &trailer, sizeof(trailer));
	}
	*signal = ring_wrote(r, w);
	return 0;
}

int guest_ring_send_raw(struct guest_ring *r, const void *bytes, uint32_t len, bool *signal)
{
	uint32_t w;
	int ret;

	*signal = false;
	ret = ring_reserve(r, len, &w);
	if (ret)
		return ret;
	w = ring_copy_in(r, w, bytes, len);
	*signal = ring_wrote(r, w);
	return 0;
}

uint32_t guest_ring_bytes_to_read(struct guest_ring *r)
{
	uint32_t w;

	if (r->broken)
		return 0;
	w = ring_load_acquire(RING_FIELD(r, write_index));
	if (!ring_index_ok(r, w)) {
		ring_break(r, "host write_index outside the data area or unaligned");
		return 0;
	}
	return w >= r->priv_index ? w - r->priv_index : w + r->size - r->priv_index;
}

/* hv_pkt_iter_close: signal a writer blocked on pending_send_sz when this
 * read moved free space from "not enough" to "enough". */
static bool ring_read_signal(struct guest_ring *r, uint32_t bytes_read)
{
	uint32_t pending, w, free_now;

	if (!(r->hdr->feature_bits & VMBUS_RING_FEAT_PENDING_SEND_SZ))
		return false;
	/* Our read_index store before the load of pending_send_sz. */
	atomic_thread_fence(memory_order_seq_cst);
	pending = ring_load_acquire(RING_FIELD(r, pending_send_sz));
	if (!pending)
		return false;
	if (pending >= r->size) {
		/* No write can ever need that much: the host lies.  Linux's
		 * hv_pkt_iter_close then never signals; we say so. */
		r->bad_pending = pending;
		return false;
	}
	w = ring_load_acquire(RING_FIELD(r, write_index));
	if (w >= r->size)
		return false;
	free_now = ring_free(r->size, w, r->priv_index);
	if (free_now - MIN(bytes_read, free_now) > pending)
		return false; /* the host had enough room already */
	return free_now > pending;
}

/* Stores read_index for what was read since the last store. */
static bool ring_publish_read(struct guest_ring *r)
{
	uint32_t bytes = r->unpublished;

	if (!bytes || r->broken)
		return false;
	r->unpublished = 0;
	/* Our copies are complete before the host may reuse the space. */
	ring_store_release(RING_FIELD(r, read_index), r->priv_index);
	return ring_read_signal(r, bytes);
}

/* After a packet was taken: publish now or, in a batch, once
 * GUEST_RING_PUBLISH_BYTES wait (a host writer facing a full ring gets its
 * room while we read on) or at guest_ring_recv_end. */
static bool ring_consumed(struct guest_ring *r, uint32_t bytes)
{
	r->unpublished += bytes;
	if (r->batching && r->unpublished < GUEST_RING_PUBLISH_BYTES)
		return false;
	return ring_publish_read(r);
}

void guest_ring_recv_begin(struct guest_ring *r)
{
	r->batching = true;
}

bool guest_ring_recv_end(struct guest_ring *r)
{
	r->batching = false;
	return ring_publish_read(r);
}

int guest_ring_recv(struct guest_ring *r, void *buf, uint32_t buflen,
		    struct guest_ring_pkt *pkt, bool *signal)
{
	struct vmpacket_descriptor desc;
	uint32_t avail, len, off, rd;

	*signal = false;
	if (r->broken)
		return -EIO;
	avail = guest_ring_bytes_to_read(r);
	if (r->broken)
		return -EIO;
	if (avail == 0)
		return -EAGAIN;
	if (avail < sizeof(desc) + VMBUS_PKT_TRAILER_SIZE) {
		ring_break(r, "host published fewer bytes than a descriptor and trailer");
		return -EIO;
	}
	rd = r->priv_index;
	ring_copy_out(r, rd, &desc, sizeof(desc));
	len = (uint32_t)desc.len8 * 8u;
	off = (uint32_t)desc.offset8 * 8u;
	if (len < sizeof(desc) || off < sizeof(desc) || off > len) {
		ring_break(r, "host packet descriptor with bad len8/offset8");
		return -EIO;
	}
	if ((uint64_t)len + VMBUS_PKT_TRAILER_SIZE > avail) {
		ring_break(r, "host packet longer than the published bytes");
		return -EIO;
	}
	if (len > r->max_pkt || len > buflen) {
		/* Linux would truncate here and desynchronise (facts §6.4); we
		 * skip the whole packet and let the caller report it. */
		r->priv_index = ring_advance(r, rd, len + VMBUS_PKT_TRAILER_SIZE);
		*signal = ring_consumed(r, len + VMBUS_PKT_TRAILER_SIZE);
		memset(pkt, 0, sizeof(*pkt));
		pkt->type = desc.type;
		pkt->flags = desc.flags;
		pkt->trans_id = desc.trans_id;
		pkt->len = len;
		pkt->offset = off;
		return -EMSGSIZE;
	}
	ring_copy_out(r, rd, buf, len);
	/* Re-take the descriptor from our private copy: the host may have
	 * changed the shared bytes between the two copies. */
	memcpy(buf, &desc, sizeof(desc));
	r->priv_index = ring_advance(r, rd, len + VMBUS_PKT_TRAILER_SIZE);
	*signal = ring_consumed(r, len + VMBUS_PKT_TRAILER_SIZE);

	pkt->type = desc.type;
	pkt->flags = desc.flags;
	pkt->trans_id = desc.trans_id;
	pkt->len = len;
	pkt->offset = off;
	pkt->payload = (const uint8_t *)buf + off;
	pkt->payload_len = len - off;
	return 0;
}

void guest_ring_mask(struct guest_ring *r)
{
	atomic_store_explicit(RING_FIELD(r, interrupt_mask), 1u, memory_order_relaxed);
	/* Ordering against the following reads is not needed: a stray
	 * interrupt is harmless. */
}

uint32_t guest_ring_unmask(struct guest_ring *r)
{
	atomic_store_explicit(RING_FIELD(r, interrupt_mask), 0u, memory_order_relaxed);
	/* The unmask must be visible before we re-check write_index; pairs
	 * with the host's fence between publishing write_index and loading
	 * interrupt_mask.  Either it sees 0 and interrupts, or we see data. */
	atomic_thread_fence(memory_order_seq_cst);
	return guest_ring_bytes_to_read(r);
}

void guest_ring_set_pending_send(struct guest_ring *r, uint32_t bytes)
{
	atomic_store_explicit(RING_FIELD(r, pending_send_sz), bytes, memory_order_relaxed);
	/* The request must be visible before the caller re-checks free space
	 * (pairs with the host's fence after storing read_index). */
	atomic_thread_fence(memory_order_seq_cst);
}
