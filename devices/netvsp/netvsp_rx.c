/* SPDX-License-Identifier: MIT */
/*
 * netvsp, host -> guest: the guest's receive buffer (its sub-allocations,
 * the transfer-page packets that announce them and their completions),
 * the control replies and status indications that travel through it, and
 * frames from the backend (queue choice by the guest's RSS table, receive
 * checksums, TSO frames cut into segments or RSC fragments).  netvsp.c's
 * opening comment describes the buffers, slots and back-pressure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/trace.h"
#include "core/util.h"
#include "devices/net/net.h"
#include "devices/netvsp/netvsp_internal.h"

/* ---- receive buffer ---------------------------------------------------------------- */

void netvsp_rb_drop(struct netvsp_dev *d)
{
	free(d->rb_free);
	free(d->rb_used);
	free(d->rb_next);
	d->rb_free = NULL;
	d->rb_used = NULL;
	d->rb_next = NULL;
	d->rb_slots = d->rb_nfree = 0;
}

int netvsp_rb_attach(struct netvsp_dev *d)
{
	netvsp_rb_drop(d);
	d->rb_free = malloc((size_t)d->nvsp.recv_sections * sizeof(*d->rb_free));
	d->rb_next = malloc((size_t)d->nvsp.recv_sections * sizeof(*d->rb_next));
	d->rb_used = calloc(d->nvsp.recv_sections, 1);
	if (!d->rb_free || !d->rb_used || !d->rb_next) {
		netvsp_rb_drop(d);
		return -ENOMEM;
	}
	d->rb_slots = d->nvsp.recv_sections;
	for (uint32_t i = 0; i < d->rb_slots; i++)
		d->rb_free[i] = d->rb_slots - 1 - i;
	d->rb_nfree = d->rb_slots;
	return 0;
}

/* Copies src into the slot's pages (dst) at byte `off`. */
static void netvsp_slot_put(const struct iovec *dst, int n, size_t off, const uint8_t *src,
			    size_t len)
{
	for (int j = 0; j < n && len; j++) {
		size_t c;

		if (off >= dst[j].iov_len) {
			off -= dst[j].iov_len;
			continue;
		}
		c = MIN(dst[j].iov_len - off, len);
		memcpy((uint8_t *)dst[j].iov_base + off, src, c);
		src += c;
		len -= c;
		off = 0;
	}
}

/* Overwrites 4 bytes at `off` of a message scattered over dst[0..n). */
static void netvsp_slot_put32(const struct iovec *dst, int n, size_t off, uint32_t v)
{
	netvsp_slot_put(dst, n, off, (const uint8_t *)&v, 4);
}

/* The netvsc.* classes that mangle one RNDIS message in the receive
 * buffer (docs/faults.md); the bytes are the guest's to check. */
static void netvsp_fault_rndis(struct netvsp_dev *d, struct netvsp_queue *q,
			       const struct iovec *dst, int n, uint32_t type,
			       struct nvsp_xfer_range *range)
{
	uint32_t len = range->byte_count;

	if (vmbus_chan_fault(q->ch, FAULT_NETVSC_XFER_RANGE_OUTSIDE))
		range->byte_offset = (uint32_t)MIN(vmbus_chan_gpadl_size(netvsp_primary(d),
									  d->nvsp.recv_gpadl),
						    (uint64_t)UINT32_MAX);
	if (vmbus_chan_fault(q->ch, FAULT_NETVSC_RNDIS_LEN_BELOW_HEADER))
		netvsp_slot_put32(dst, n, 4, 4);
	if (vmbus_chan_fault(q->ch, FAULT_NETVSC_RNDIS_LEN_BEYOND))
		netvsp_slot_put32(dst, n, 4, len + 4096);
	if (type == RNDIS_MSG_PACKET) {
		/* data_offset and ppi_offset count from message byte 8. */
		if (vmbus_chan_fault(q->ch, FAULT_NETVSC_RNDIS_DATA_OFFSET_BAD))
			netvsp_slot_put32(dst, n, offsetof(struct rndis_packet, data_offset), len + 64);
		if (vmbus_chan_fault(q->ch, FAULT_NETVSC_PPI_OUT_OF_BOUNDS)) {
			netvsp_slot_put32(dst, n, offsetof(struct rndis_packet, ppi_offset), len + 256);
			netvsp_slot_put32(dst, n, offsetof(struct rndis_packet, ppi_len), 64);
		}
	}
	if (type == RNDIS_MSG_INDICATE &&
	    vmbus_chan_fault(q->ch, FAULT_NETVSC_STATUS_INDICATION_SHORT)) {
		/* The header (8) and the status word: no status_buflen/offset. */
		netvsp_slot_put32(dst, n, 4, 12);
		range->byte_count = 12;
	}
}

/* Whether `n` messages can go out on q now (free slots, ring space). */
static int netvsp_rb_room(struct netvsp_dev *d, struct netvsp_queue *q, unsigned int n)
{
	if (!netvsp_primary(d) || !q->open || !d->nvsp.recv_buf || !d->rb_slots)
		return -ENOTCONN;
	/* More than the whole buffer holds would wait for ever: dropped. */
	if (n == 0 || n > NETVSP_MAX_RANGES || n > d->rb_slots)
		return -EMSGSIZE;
	if (d->rb_nfree < n)
		return -ENOBUFS;
	if (!vmbus_chan_can_send(q->ch, sizeof(struct nvsp_xfer_hdr) +
					n * sizeof(struct nvsp_xfer_range) + sizeof(struct nvsp_msg)))
		return -EAGAIN;
	return 0;
}

/* n RNDIS messages to the guest on queue q, each (hdr, data) into a free
 * slot of the receive buffer, announced with one transfer-page packet of
 * n ranges (as Hyper-V batches them; Linux hands each range to RNDIS in
 * turn and completes the packet once).  The packet's trans_id names the
 * first slot and the buffer's generation; rb_next chains the others.
 * 0, -ENOBUFS (not enough slots), -EAGAIN (ring full), or another -errno
 * (dropped). */
static int netvsp_send_msgs(struct netvsp_dev *d, struct netvsp_queue *q,
			    const struct netvsp_msgpart *m, unsigned int n)
{
	struct vmbus_channel *prim = netvsp_primary(d);
	struct {
		struct nvsp_xfer_hdr hdr;
		struct nvsp_xfer_range range[NETVSP_MAX_RANGES];
	} __attribute__((packed)) xfer;
	struct nvsp_msg msg = { .type = NVSP_MSG1_SEND_RNDIS_PKT };
	size_t xlen = sizeof(xfer.hdr) + n * sizeof(xfer.range[0]);
	struct iovec out[2] = { { &xfer, xlen }, { &msg, sizeof(msg) } };
	uint32_t slots[NETVSP_MAX_RANGES];
	int rc = netvsp_rb_room(d, q, n);

	if (rc)
		return rc;
	memset(&xfer, 0, xlen);
	for (unsigned int i = 0; i < n; i++) {
		struct iovec dst[8];
		size_t len = (size_t)m[i].hlen + m[i].dlen;
		int k;

		if (len > d->nvsp.recv_section_size)
			return -EMSGSIZE;
		slots[i] = d->rb_free[d->rb_nfree - 1 - i];
		k = vmbus_chan_gpadl_iov(prim, d->nvsp.recv_gpadl,
					 (uint64_t)slots[i] * d->nvsp.recv_section_size, len, dst,
					 (int)ARRAY_SIZE(dst));
		if (k < 0)
			return k;
		netvsp_slot_put(dst, k, 0, m[i].hdr, m[i].hlen);
		netvsp_slot_put(dst, k, m[i].hlen, m[i].data, m[i].dlen);
		xfer.range[i].byte_count = (uint32_t)len;
		xfer.range[i].byte_offset = slots[i] * d->nvsp.recv_section_size;
		/* A capture holds each message ahead of the packet announcing
		 * it, with its place in the receive buffer: a replay writes it
		 * there in the new guest's buffer (proto/trace.h, "Data
		 * records"). */
		if (trace_active()) {
			struct iovec src[2] = { { (void *)m[i].hdr, m[i].hlen },
						{ (void *)m[i].data, m[i].dlen } };

			trace_emit_iov(VMBUS_TRACE_DATA_OUT, vmbus_chan_relid(q->ch),
				       VMBUS_TRACE_VP_NONE, d->nvsp.recv_gpadl,
				       (uint64_t)slots[i] * d->nvsp.recv_section_size, src,
				       m[i].dlen ? 2 : 1, len);
		}
		if (__builtin_expect(fault_class_mask != 0, 0) && m[i].hlen >= 4) {
			uint32_t type;

			memcpy(&type, m[i].hdr, sizeof(type));
			netvsp_fault_rndis(d, q, dst, k, type, &xfer.range[i]);
		}
	}
	xfer.hdr.pageset_id = NETVSC_RECEIVE_BUFFER_ID;
	xfer.hdr.range_cnt = n;
	msg.rndis_pkt.channel_type = NVSP_CHANNEL_DATA;
	msg.rndis_pkt.section_index = NVSP_SECTION_NONE;
	rc = vmbus_chan_send(q->ch, VM_PKT_DATA_USING_XFER_PAGES, VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
			     slots[0], xlen, out, 2);
	if (rc)
		return rc;
	d->rb_nfree -= n;
	for (unsigned int i = 0; i < n; i++) {
		d->rb_used[slots[i]] = i == 0 ? NETVSP_SLOT_HEAD : NETVSP_SLOT_MEMBER;
		d->rb_next[slots[i]] = i + 1 < n ? slots[i + 1] : UINT32_MAX;
	}
	return 0;
}

/* The guest completed transfer-page packet `tid`: its slots are free. */
void netvsp_rx_done(struct netvsp_queue *q, uint64_t tid)
{
	struct netvsp_dev *d = q->d;
	uint32_t slot;

	if (!d->rb_slots) {
		d->stale_completions++;  /* from before a revoke */
		return;
	}
	if (tid >= d->rb_slots || d->rb_used[tid] != NETVSP_SLOT_HEAD) {
		q->st.malformed++;
		log_guest("netvsp %s: queue %u: completion for receive slot %llu not in use", d->path,
			  q->index, (unsigned long long)tid);
		return;
	}
	/* The chain was built by us; each link is a slot in use. */
	slot = (uint32_t)tid;
	while (slot != UINT32_MAX && slot < d->rb_slots && d->rb_used[slot]) {
		uint32_t next = d->rb_next[slot];

		d->rb_used[slot] = 0;
		d->rb_free[d->rb_nfree++] = slot;
		slot = next;
	}
}

/* ---- control replies and indications (always on the primary) ---------------- */

static void netvsp_ctrl_flush(struct netvsp_dev *d)
{
	while (d->ctrl_head && netvsp_primary(d)) {
		struct netvsp_ctrl *c = d->ctrl_head;
		struct netvsp_msgpart m = { c->msg, c->len, NULL, 0 };
		int rc = netvsp_send_msgs(d, d->q[0], &m, 1);

		if (rc == -ENOBUFS || rc == -EAGAIN)
			return;
		if (rc)
			d->control_dropped++;
		d->ctrl_head = c->next;
		if (!d->ctrl_head)
			d->ctrl_tail = NULL;
		d->ctrl_count--;
		free(c);
	}
}

void netvsp_ctrl_drop_all(struct netvsp_dev *d)
{
	while (d->ctrl_head) {
		struct netvsp_ctrl *c = d->ctrl_head;

		d->ctrl_head = c->next;
		free(c);
	}
	d->ctrl_tail = NULL;
	d->ctrl_count = 0;
}

void netvsp_ctrl_send(struct netvsp_dev *d, const void *msg, uint32_t len)
{
	struct netvsp_ctrl *c;

	if (len > RNDIS_REPLY_MAX || d->ctrl_count >= NETVSP_CTRL_MAX ||
	    !(c = calloc(1, sizeof(*c)))) {
		d->control_dropped++;
		return;
	}
	memcpy(c->msg, msg, len);
	c->len = len;
	if (d->ctrl_tail)
		d->ctrl_tail->next = c;
	else
		d->ctrl_head = c;
	d->ctrl_tail = c;
	d->ctrl_count++;
	netvsp_ctrl_flush(d);
}

/* Receive-buffer space or ring space came free: control first, then data. */
void netvsp_rx_resume(struct netvsp_dev *d)
{
	netvsp_ctrl_flush(d);
	if (!d->ctrl_head && d->be)
		net_backend_rx_resume(d->be);
}

/* ---- backend -> guest ------------------------------------------------------------- */

static struct netvsp_queue *netvsp_rx_queue(struct netvsp_dev *d, const uint8_t *f, size_t len)
{
	uint32_t h = 0;
	struct netvsp_queue *q;

	if (d->n_sub == 0 || !d->rndis.rss_enabled || !d->rndis.itab_len)
		return d->q[0];
	/* A cheap flow hash over the IPv4 addresses and ports (the guest
	 * only needs one flow to stay on one queue). */
	if (len >= 14 + 20 + 4 && f[12] == 0x08 && f[13] == 0x00) {
		for (size_t i = 26; i < 14 + 20 + 4; i++)
			h = h * 31 + f[i];
	}
	q = d->q[d->rndis.itab[h % d->rndis.itab_len]];
	return q && q->open ? q : d->q[0];
}

/* The checksum PPI value for a whole frame: verified here (natively, while
 * the frame is hot) so that the guest does not verify it again under
 * emulation. */
static uint32_t netvsp_rx_csum(const uint8_t *frame, size_t len)
{
	switch (net_csum_verify(frame, len)) {
	case NET_CSUM_TCP:
		return RNDIS_CSUM_RX_TCP_OK;
	case NET_CSUM_UDP:
		return RNDIS_CSUM_RX_UDP_OK;
	}
	return 0;
}

struct netvsp_rx_segs {
	struct netvsp_dev *d;
	unsigned int n;
};

/* One MSS segment of a TSO frame from the backend: its RNDIS header (the
 * segment's checksum was computed by net_tso_segment) and its Ethernet/IP/
 * TCP headers into the device's segment buffer, the payload by reference. */
static int netvsp_rx_seg(void *opaque, const uint8_t *hdr, size_t hlen, const uint8_t *payload,
			 size_t plen)
{
	struct netvsp_rx_segs *c = opaque;
	struct netvsp_dev *d = c->d;
	uint8_t *b;
	uint32_t rh;

	if (c->n >= NETVSP_MAX_RANGES)
		return -E2BIG;
	b = d->rx_seg_hdrs + (size_t)c->n * NETVSP_RX_SEG_HDR;
	rh = rndis_build_packet_csum(b, (uint32_t)(hlen + plen), RNDIS_CSUM_RX_TCP_OK);
	memcpy(b + rh, hdr, hlen);
	d->rx_parts[c->n] = (struct netvsp_msgpart){ b, (uint32_t)(rh + hlen), payload, (uint32_t)plen };
	c->n++;
	return 0;
}

/* RSC (the guest turned it on): the TSO frame goes to the guest whole, as
 * Hyper-V hands over a coalesced frame: its checksum completed, cut only
 * to fit the receive sections, one RNDIS_PACKET per range of one
 * transfer-page packet with RNDIS_PKTINFO_ID fragment flags; the first
 * carries the checksum PPI.  Linux joins them into one skb. */
static bool netvsp_rx_rsc(struct netvsp_dev *d, struct netvsp_queue *q, uint8_t *frame,
			  size_t len, const struct net_offload *o)
{
	uint32_t per = d->nvsp.recv_section_size - RNDIS_RX_HDR_MAX, csum;
	unsigned int n = (unsigned int)((len + per - 1) / per);
	int rc = netvsp_rb_room(d, q, n);

	if (rc == -ENOBUFS || rc == -EAGAIN)
		return false;  /* the frame is still as read */
	if (rc || (o->csum && net_csum_complete(frame, len, o->csum_start, o->csum_offset, false))) {
		q->st.rx_drops++;
		return true;
	}
	csum = netvsp_rx_csum(frame, len);
	if (csum)
		csum |= RNDIS_CSUM_RX_IP_OK;
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *b = d->rx_seg_hdrs + (size_t)i * NETVSP_RX_SEG_HDR;
		size_t off = (size_t)i * per, chunk = MIN(per, len - off);
		uint8_t frag = RNDIS_PKTINFO_SUBALLOC | (i == 0 ? RNDIS_PKTINFO_1ST_FRAG : 0) |
			       (i + 1 == n ? RNDIS_PKTINFO_LAST_FRAG : 0);
		uint32_t rh = rndis_build_packet_ppi(b, (uint32_t)chunk, i == 0 ? csum : 0, frag);

		d->rx_parts[i] = (struct netvsp_msgpart){ b, rh, frame + off, (uint32_t)chunk };
	}
	rc = netvsp_send_msgs(d, q, d->rx_parts, n);
	if (rc) {  /* room was checked: only a channel error is left */
		q->st.rx_drops++;
		return true;
	}
	q->st.rx_packets++;
	q->st.rx_bytes += len;
	q->st.rx_csum_ok += csum != 0;
	q->st.rx_rsc++;
	return true;
}

/* A TCP frame larger than the MTU (the host kernel's TSO through a TAP with
 * vnet headers): cut into MSS segments with checksums of their own, all in
 * one transfer-page packet. */
static bool netvsp_rx_gso(struct netvsp_dev *d, struct netvsp_queue *q, const uint8_t *frame,
			  size_t len, const struct net_offload *o)
{
	struct netvsp_rx_segs c = { d, 0 };
	size_t tcp_off = o->csum ? o->csum_start : 0;
	int rc;

	if (!tcp_off && len > 14)  /* no NEEDS_CSUM: the IP header says where TCP is */
		tcp_off = o->gso == NET_GSO_TCPV6 ? 54 : 14 + (size_t)(frame[14] & 0xF) * 4;
	rc = net_tso_segment(frame, len, tcp_off, o->gso_size, o->gso == NET_GSO_TCPV6, netvsp_rx_seg,
			     &c);
	if (rc < 0) {
		static struct log_ratelimit rl;
		uint32_t sup;

		q->st.rx_drops++;
		if (log_ratelimit_ok(&rl, &sup))
			log_warn("netvsp %s: a %zu-byte TSO frame from the backend not segmented (mss %u): %s%s",
				 d->path, len, o->gso_size, strerror(-rc),
				 sup ? " (earlier lines suppressed)" : "");
		return true;
	}
	rc = netvsp_send_msgs(d, q, d->rx_parts, c.n);
	if (rc == -ENOBUFS || rc == -EAGAIN)
		return false;  /* held whole; segmented again when there is room */
	if (rc) {
		q->st.rx_drops++;
		return true;
	}
	q->st.rx_packets += c.n;
	q->st.rx_bytes += len + (size_t)(c.n - 1) * (tcp_off + (size_t)(frame[tcp_off + 12] >> 4) * 4);
	q->st.rx_csum_ok += c.n;
	q->st.rx_tso++;
	return true;
}

bool netvsp_backend_rx(void *opaque, uint8_t *frame, size_t len, const struct net_offload *o)
{
	struct netvsp_dev *d = opaque;
	struct netvsp_queue *q;
	uint8_t hdr[RNDIS_RX_HDR_MAX];
	struct netvsp_msgpart m = { hdr, 0, frame, (uint32_t)len };
	uint32_t csum;
	int rc;

	if (!netvsp_primary(d) || d->rndis.state != RNDIS_INITIALIZED || !d->rndis.filter ||
	    !d->rndis.link_up) {
		if (d->q[0])
			d->q[0]->st.rx_drops++;
		return true;  /* nobody listens: the frame is gone, as on a wire */
	}
	q = netvsp_rx_queue(d, frame, len);
	if (d->ctrl_head)
		return false; /* control replies first */
	if (o && o->gso != NET_GSO_NONE) {
		if (o->gso == NET_GSO_TCPV6 ? d->rndis.rsc_v6 : d->rndis.rsc_v4)
			return netvsp_rx_rsc(d, q, frame, len, o);
		return netvsp_rx_gso(d, q, frame, len, o);
	}
	rc = netvsp_rb_room(d, q, 1);
	if (rc == -ENOBUFS || rc == -EAGAIN)
		return false;
	/* Room is certain from here: the frame may be changed in place (a
	 * held frame is delivered again as it was read). */
	if (rc || (o && o->csum && net_csum_complete(frame, len, o->csum_start, o->csum_offset,
						   o->csum_offset == 6))) {
		q->st.rx_drops++;
		return true;
	}
	csum = netvsp_rx_csum(frame, len);
	m.hlen = rndis_build_packet_csum(hdr, (uint32_t)len, csum);
	rc = netvsp_send_msgs(d, q, &m, 1);
	if (rc == -ENOBUFS || rc == -EAGAIN)
		return false;
	if (rc) {
		q->st.rx_drops++;
		return true;
	}
	q->st.rx_packets++;
	q->st.rx_bytes += len;
	q->st.rx_csum_ok += csum != 0;
	return true;
}
