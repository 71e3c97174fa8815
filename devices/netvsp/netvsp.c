/* SPDX-License-Identifier: MIT */
/*
 * netvsp: the Hyper-V synthetic NIC that Linux hv_netvsc drives (facts §9).
 * The wire formats are in vmbusd/proto/{nvsp,rndis}.h, the pure protocols
 * in nvsp.c and rndis.c, the host side of the wire behind devices/net/net.h,
 * config, control, stats and the lifecycle in netvsp_dev.c; this file owns
 * the channels (queues), the guest's receive and send buffers and the
 * notify loop.
 *
 * Queues.  The primary channel is queue 0.  When the guest asks
 * (NVSP SUBCHANNEL, v5+, only after we reported >= 2 RSS queues), queues
 * 1..n are offered as subchannels with the same GUIDs; Linux opens each.
 * Guest frames may arrive on any queue; frames from the backend go to the
 * queue the guest's RSS indirection table picks for a simple flow hash.
 * When the primary closes (driver unbind, MTU change, reset), subchannels
 * are rescinded, as Hyper-V does, and the session starts over.
 *
 * Buffers.  Both buffers are GPADLs on the primary channel, shared by
 * every queue, looked up at each use with vmbus_chan_gpadl_iov(): nothing
 * is cached, so once the channel is closed or the GPADL torn down no path
 * can reach the guest's pages.  The receive buffer is cut into
 * sub-allocations of nvsp.recv_section_size; each host->guest RNDIS
 * message (a frame, a segment or RSC fragment of a TSO frame, a control
 * reply, a status indication) takes one; a transfer-page packet (NVSP
 * 107, pageset 0xCAFE) announces one or more of them as its ranges, its
 * trans_id the bare index of the first slot (rb_next chains the rest), and
 * they are free again when the guest completes that packet (NVSP 108).
 * The id must be the bare index, below the sub-allocation count we
 * announced: DPDK's netvsc PMD indexes its per-section table with it and
 * silently drops (and never completes) a packet whose id is larger (facts
 * §9.6).  So no generation can ride in the id: a completion while no
 * receive buffer is connected is counted as stale (before a revoke); one
 * naming a slot that does not head such a packet as malformed.  A guest
 * that completes an old buffer's packet after connecting a new one frees
 * those slots early: it can only garble its own reception, every slot
 * stays inside the buffer.
 *
 * Back-pressure.  When no slot is free or the ring is full, control
 * replies wait in a bounded queue and the backend holds its frame and
 * stops reading (net.h); both resume when the guest completes packets or
 * signals that it has read.  Guest->host: each notify handles at most
 * VMBUS_NOTIFY_BUDGET packets, then re-arms itself (vmbus_chan_notify_later) so
 * one busy queue cannot starve the event loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guid.h"
#include "core/log.h"
#include "core/trace.h"
#include "core/util.h"
#include "devices/net/net.h"
#include "devices/netvsp/netvsp_internal.h"
#include "devices/registry.h"



/* ---- small helpers ------------------------------------------------------------ */

static size_t iov_copy_out(uint8_t *dst, size_t cap, const struct iovec *iov, int n)
{
	size_t done = 0;

	for (int i = 0; i < n && done < cap; i++) {
		size_t c = MIN(cap - done, iov[i].iov_len);

		memcpy(dst + done, iov[i].iov_base, c);
		done += c;
	}
	return done;
}

static struct vmbus_channel *netvsp_primary(const struct netvsp_dev *d)
{
	return d->q[0] && d->q[0]->open ? d->q[0]->ch : NULL;
}

void netvsp_stats_add(struct netvsp_queue_stats *t, const struct netvsp_queue_stats *q)
{
	size_t n;
	const struct stats_field *f = netvsp_queue_stats_fields(&n);

	stats_add(t, q, f, n);
}

static void netvsp_count_fault(struct netvsp_queue *q, enum netvsp_fault f)
{
	if (f == NETVSP_FAULT_MALFORMED)
		q->st.malformed++;
	else if (f == NETVSP_FAULT_WRONG_STATE)
		q->st.wrong_state++;
	else if (f == NETVSP_FAULT_UNSUPPORTED)
		q->st.unsupported++;
}

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

static int netvsp_rb_attach(struct netvsp_dev *d)
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
static void netvsp_rx_done(struct netvsp_queue *q, uint64_t tid)
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
static void netvsp_rx_resume(struct netvsp_dev *d)
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

/* ---- guest -> host ------------------------------------------------------------------ */

static int netvsp_decode_pages(struct netvsp_queue *q, const struct vmbus_pkt *pkt,
			       uint64_t *total)
{
	/* Each range is >= 8 bytes of header plus 8 per page: this bounds
	 * the iovecs (one per page at most). */
	int need = (int)((pkt->data - pkt->raw) / 8) + 1;

	if (need > q->scratch_cap) {
		struct iovec *n = realloc(q->scratch, (size_t)need * sizeof(*n));

		if (!n)
			return -ENOMEM;
		q->scratch = n;
		q->scratch_cap = need;
	}
	return vmbus_pkt_gpa_direct_iov(pkt, vmbus_chan_gmem(q->ch), q->scratch, q->scratch_cap,
					total);
}

/* Copies the RNDIS message of an NVSP 107 into d->msgbuf: the send-buffer
 * section first (if any), then the GPA-direct pages (if any).  Its length,
 * or < 0. */
static int64_t netvsp_gather(struct netvsp_queue *q, const struct vmbus_pkt *pkt,
			     const struct nvsp_decision *dec, const char **why)
{
	struct netvsp_dev *d = q->d;
	size_t len = 0;

	if (dec->rndis.section_index != NVSP_SECTION_NONE) {
		struct iovec iov[8];
		int n = vmbus_chan_gpadl_iov(netvsp_primary(d), d->nvsp.send_gpadl,
					    (uint64_t)dec->rndis.section_index * d->nvsp.send_section_size,
					    dec->rndis.section_size, iov, (int)ARRAY_SIZE(iov));

		if (n < 0) {
			*why = "send buffer section not mapped (GPADL gone?)";
			return n;
		}
		len = iov_copy_out(d->msgbuf, NETVSP_MAX_RNDIS_MSG, iov, n);
	}
	if (pkt->type == VM_PKT_DATA_USING_GPA_DIRECT) {
		uint64_t total = 0;
		int n = netvsp_decode_pages(q, pkt, &total);

		if (n < 0) {
			*why = "GPA-direct ranges malformed or outside guest RAM";
			return n;
		}
		if (total > NETVSP_MAX_RNDIS_MSG - len) {
			*why = "RNDIS message larger than any frame";
			return -E2BIG;
		}
		len += iov_copy_out(d->msgbuf + len, NETVSP_MAX_RNDIS_MSG - len, q->scratch, n);
	}
	return (int64_t)len;
}

struct netvsp_tx_ctx {
	struct netvsp_queue *q;
	const struct rndis_frame *f;
	struct net_offload *o;    /* left to the backend (vnet headers), or NULL */
};

/* Sends one frame given as headers + payload (an LSO segment, or a whole
 * frame with an empty payload), inserting the 802.1Q tag of the VLAN
 * per-packet info after the MAC addresses. */
static int netvsp_tx_emit(void *opaque, const uint8_t *hdr, size_t hlen, const uint8_t *payload,
			  size_t plen)
{
	struct netvsp_tx_ctx *c = opaque;
	const struct rndis_frame *f = c->f;
	uint8_t tag[4];
	struct iovec iov[4];
	int n = 0;

	if (f->has_vlan && (f->vlan & 0xFFF0u) && hlen >= 12) {
		/* ndis_pkt_8021q_info: priority bits 0..2, VLAN id bits 4..15. */
		uint16_t tci = (uint16_t)(((f->vlan & 7u) << 13) | ((f->vlan >> 4) & 0xFFFu));

		tag[0] = 0x81;
		tag[1] = 0x00;
		tag[2] = (uint8_t)(tci >> 8);
		tag[3] = (uint8_t)tci;
		iov[n++] = (struct iovec){ (void *)hdr, 12 };
		iov[n++] = (struct iovec){ tag, 4 };
		iov[n++] = (struct iovec){ (void *)(hdr + 12), hlen - 12 };
		if (c->o) {  /* the offsets move with the tag */
			c->o->csum_start += 4;
			c->o->hdr_len += c->o->gso != NET_GSO_NONE ? 4 : 0;
		}
	} else {
		iov[n++] = (struct iovec){ (void *)hdr, hlen };
	}
	if (plen)
		iov[n++] = (struct iovec){ (void *)payload, plen };
	if (net_backend_send_offload(c->q->d->be, iov, n, c->o)) {
		c->q->st.tx_drops++;
		return 0;  /* a lost segment is TCP's to repair; keep going */
	}
	c->q->st.tx_segments++;
	return 0;
}

static void netvsp_tx_frame(struct netvsp_queue *q, uint8_t *msg, const struct rndis_frame *f)
{
	struct netvsp_dev *d = q->d;
	uint8_t *frame = msg + f->offset;
	uint64_t drops = q->st.tx_drops;

	if (!d->rndis.link_up || !d->be) {
		q->st.tx_drops++;
		return;
	}
	if (net_backend_offloads(d->be) && (f->has_lso || f->csum_needed)) {
		/* The kernel behind the TAP completes the checksum and cuts
		 * the LSO frame (or hands it whole to a local socket). */
		struct net_offload o = { .csum = true, .csum_start = (uint16_t)f->csum_start,
					 .csum_offset = (uint16_t)f->csum_offset };
		struct netvsp_tx_ctx c = { q, f, &o };

		if (f->has_lso && net_tso_prepare(frame, f->len, f->lso_tcp_off, f->lso_mss, f->lso_ipv6,
						  &o)) {
			q->st.malformed++;
			log_guest("netvsp %s: queue %u: LSO frame of %u bytes malformed", d->path,
				  q->index, f->len);
			return;
		}
		netvsp_tx_emit(&c, frame, f->len, NULL, 0);
		if (q->st.tx_drops != drops)
			return;
		q->st.tx_checksums += f->csum_needed;
		q->st.tx_lso += f->has_lso;
		q->st.tx_gso += o.gso != NET_GSO_NONE;
		q->st.tx_packets++;
		q->st.tx_bytes += f->len;
		return;
	}
	/* msg is our private copy: the checksum is completed in place. */
	if (f->csum_needed && net_csum_complete(frame, f->len, f->csum_start, f->csum_offset,
						(f->csum & RNDIS_CSUM_TX_UDP) != 0)) {
		q->st.malformed++;
		return;
	}
	q->st.tx_checksums += f->csum_needed;
	{
		struct netvsp_tx_ctx c = { q, f, NULL };

		if (f->has_lso) {
			int rc = net_tso_segment(frame, f->len, f->lso_tcp_off, f->lso_mss, f->lso_ipv6,
						 netvsp_tx_emit, &c);

			if (rc < 0) {
				q->st.malformed++;
				log_guest("netvsp %s: queue %u: LSO frame of %u bytes not segmentable: %s",
					  d->path, q->index, f->len, strerror(-rc));
				return;
			}
			q->st.tx_lso++;
		} else {
			netvsp_tx_emit(&c, frame, f->len, NULL, 0);
			if (q->st.tx_drops != drops)
				return;
		}
	}
	q->st.tx_packets++;
	q->st.tx_bytes += f->len;
}

/* Handles the RNDIS message of an NVSP 107; returns the NVSP status for
 * its completion. */
static uint32_t netvsp_handle_rndis(struct netvsp_queue *q, const struct vmbus_pkt *pkt,
				    const struct nvsp_decision *ndec)
{
	struct netvsp_dev *d = q->d;
	struct rndis_decision dec;
	const char *why = NULL;
	int64_t len = netvsp_gather(q, pkt, ndec, &why);

	if (len < 0) {
		q->st.malformed++;
		log_guest("netvsp %s: queue %u: %s", d->path, q->index, why);
		return NVSP_STAT_INVALID_RNDIS_PKT;
	}
	/* The RNDIS message itself is outside the ring: a capture holds it
	 * (from a send section: its place; from pages: the packet's id). */
	if (trace_active()) {
		bool section = pkt->type != VM_PKT_DATA_USING_GPA_DIRECT &&
			       ndec->rndis.section_index != NVSP_SECTION_NONE;

		trace_emit(VMBUS_TRACE_DATA_IN, vmbus_chan_relid(q->ch),
			   section ? VMBUS_TRACE_VP_NONE : 0, section ? d->nvsp.send_gpadl : 0,
			   section ? (uint64_t)ndec->rndis.section_index * d->nvsp.send_section_size :
				     pkt->trans_id,
			   d->msgbuf, (size_t)len);
	}
	/* One message per NVSP packet: we told the guest max_pkt_per_msg 1. */
	d->rndis.nvsp_version = d->nvsp.version;
	/* The guest may run a smaller MTU than the configured one (Linux
	 * clamps a larger one to GEN_MAXIMUM_FRAME_SIZE when it attaches),
	 * and says which in NDIS_CONFIG. */
	d->rndis.max_frame = nvsp_max_frame(&d->nvsp);
	rndis_dispatch(&d->rndis, d->msgbuf, (uint32_t)len, &dec);
	if (dec.fault != NETVSP_FAULT_NONE) {
		netvsp_count_fault(q, dec.fault);
		log_guest("netvsp %s: queue %u: RNDIS %s (type 0x%x, oid 0x%x, %u bytes): %s",
			  d->path, q->index, rndis_type_name(dec.type), dec.type, dec.oid,
			  (uint32_t)len, dec.why);
	}
	switch (dec.verdict) {
	case RNDIS_DROP:
		break;
	case RNDIS_REPLY:
		netvsp_ctrl_send(d, dec.reply, dec.reply_len);
		if (dec.type == RNDIS_MSG_QUERY && dec.oid == RNDIS_OID_GEN_MEDIA_CONNECT_STATUS &&
		    dec.fault == NETVSP_FAULT_NONE)
			netvsp_link_queried(d);
		break;
	case RNDIS_DATA:
		netvsp_tx_frame(q, d->msgbuf, &dec.frame);
		break;
	}
	if (dec.filter_changed && d->rndis.filter)
		netvsp_rx_resume(d);
	return dec.fault == NETVSP_FAULT_MALFORMED ? NVSP_STAT_INVALID_RNDIS_PKT : NVSP_STAT_SUCCESS;
}

static uint64_t netvsp_gpadl_size(void *ctx, uint32_t gpadl)
{
	struct netvsp_dev *d = ctx;
	struct vmbus_channel *prim = netvsp_primary(d);

	return prim ? vmbus_chan_gpadl_size(prim, gpadl) : 0;
}

static int netvsp_grant_subchannels(struct netvsp_dev *d, unsigned int count)
{
	while (d->n_sub < count) {
		struct vmbus_offer_params p = d->offer;
		struct netvsp_queue *sq = calloc(1, sizeof(*sq));

		if (!sq)
			return -ENOMEM;
		p.sub_channel_index = (uint16_t)(d->n_sub + 1);
		sq->d = d;
		sq->index = p.sub_channel_index;
		sq->ch = vmbus_offer(d->srv, &p, &netvsp_channel_ops, sq);
		if (!sq->ch) {
			free(sq);
			return -ENOSPC;
		}
		d->q[++d->n_sub] = sq;
	}
	return 0;
}

static void netvsp_send_comp(struct netvsp_queue *q, uint64_t tid, const struct nvsp_msg *m)
{
	int rc = vmbus_chan_send_comp(q->ch, tid, m, sizeof(*m));

	if (rc == -EAGAIN) {
		/* The drain loop reads nothing more until this is out. */
		q->comp_pending = true;
		q->comp_tid = tid;
		q->comp = *m;
		q->st.completions_queued++;
	} else if (rc) {
		log_guest("netvsp %s: queue %u: completion not sent: %s", q->d->path, q->index,
			  strerror(-rc));
	}
}

static void netvsp_handle_packet(struct netvsp_queue *q, const struct vmbus_pkt *pkt)
{
	struct netvsp_dev *d = q->d;
	struct nvsp_input in = {
		.pkt_type = pkt->type,
		.want_completion = pkt->flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
		.primary = q->index == 0,
		.data = pkt->data,
		.len = pkt->data_len,
		.gpadl_size = netvsp_gpadl_size,
		.ctx = d,
	};
	struct nvsp_decision dec;
	int rc;

	q->st.packets++;
	nvsp_dispatch(&d->nvsp, &in, &dec);
	if (dec.fault != NETVSP_FAULT_NONE) {
		netvsp_count_fault(q, dec.fault);
		log_guest("netvsp %s: queue %u: NVSP %s (%u, packet type %u, %u bytes): %s", d->path,
			  q->index, nvsp_type_name(dec.type), dec.type, pkt->type, pkt->data_len,
			  dec.why);
	}
	switch (dec.verdict) {
	case NVSP_DROP:
		break;
	case NVSP_RNDIS:
		dec.msg.rndis_pkt_complete.status = netvsp_handle_rndis(q, pkt, &dec);
		break;
	case NVSP_RX_DONE:
		netvsp_rx_done(q, pkt->trans_id);
		break;
	case NVSP_SUBCHANNELS:
		if (d->n_sub < dec.subchannels && (rc = netvsp_grant_subchannels(d, dec.subchannels))) {
			log_warn("netvsp %s: only %u of %u subchannels offered: %s", d->path, d->n_sub,
				 dec.subchannels, strerror(-rc));
			dec.msg.subchannel_complete.num = d->n_sub;
			d->nvsp.subchannels = (uint16_t)d->n_sub;
		}
		break;
	case NVSP_RECV_BUF_ATTACHED:
		if (netvsp_rb_attach(d)) {
			d->nvsp.recv_buf = false;
			dec.msg.recv_buf_complete.status = NVSP_STAT_FAIL;
			break;
		}
		/* Lies in the completion only; the host keeps its own layout.
		 * Linux refuses a section under NETVSC_MTU_MIN (68) and
		 * count * size beyond the buffer. */
		if (vmbus_chan_fault(q->ch, FAULT_NETVSC_RECV_SECTION_SMALL))
			dec.msg.recv_buf_complete.sub_alloc_size = 32;
		if (vmbus_chan_fault(q->ch, FAULT_NETVSC_RECV_SECTIONS_OVERFLOW))
			dec.msg.recv_buf_complete.num_sub_allocs = d->rb_slots + 1;
		break;
	case NVSP_RECV_BUF_REVOKED:
		netvsp_ctrl_drop_all(d);
		netvsp_rb_drop(d);
		break;
	case NVSP_SEND_BUF_REVOKED:
		break;
	}
	if (dec.reply)
		netvsp_send_comp(q, pkt->trans_id, &dec.msg);
}

static void netvsp_queue_drain(struct netvsp_queue *q)
{
	struct vmbus_pkt pkt;
	unsigned int n = 0;

	if (q->in_drain)
		return;
	q->in_drain = true;
	while (q->open) {
		if (q->comp_pending) {
			if (vmbus_chan_send_comp(q->ch, q->comp_tid, &q->comp, sizeof(q->comp)) == -EAGAIN)
				break;  /* the guest signals when it has read */
			q->comp_pending = false;
		}
		if (n == VMBUS_NOTIFY_BUDGET) {
			q->st.budget_yields++;
			vmbus_chan_notify_later(q->ch);
			break;
		}
		if (vmbus_chan_recv(q->ch, &pkt) <= 0)
			break;
		n++;
		netvsp_handle_packet(q, &pkt);
	}
	q->in_drain = false;
	/* Completions freed slots, or the guest read the ring: deliver. */
	netvsp_rx_resume(q->d);
}

static void netvsp_chan_notify(struct vmbus_channel *ch)
{
	netvsp_queue_drain(vmbus_chan_priv(ch));
}

static void netvsp_session_reset(struct netvsp_dev *d)
{
	netvsp_ctrl_drop_all(d);
	netvsp_rb_drop(d);
	nvsp_proto_reset(&d->nvsp);
	rndis_reset(&d->rndis);
	netvsp_link_session_reset(d);
}

static int netvsp_chan_open(struct vmbus_channel *ch)
{
	struct netvsp_queue *q = vmbus_chan_priv(ch);

	q->open = true;
	q->comp_pending = false;
	if (q->index == 0)
		netvsp_session_reset(q->d);
	return 0;
}

void netvsp_rescind_subchannels(struct netvsp_dev *d)
{
	while (d->n_sub > 0) {
		struct netvsp_queue *sq = d->q[d->n_sub];

		d->q[d->n_sub--] = NULL;
		vmbus_rescind(sq->ch);  /* closes it first: netvsp_chan_close() */
		netvsp_stats_add(&d->retired, &sq->st);  /* NIC totals survive */
		free(sq->scratch);
		free(sq);
	}
	d->nvsp.subchannels = 0;
}

static void netvsp_chan_close(struct vmbus_channel *ch)
{
	struct netvsp_queue *q = vmbus_chan_priv(ch);

	q->open = false;
	q->comp_pending = false;
	if (q->index == 0) {
		/* The buffers were GPADLs of this channel: forget them before
		 * anything else can run. */
		netvsp_session_reset(q->d);
		netvsp_rescind_subchannels(q->d);
	}
}

const struct vmbus_channel_ops netvsp_channel_ops = {
	.open = netvsp_chan_open,
	.notify = netvsp_chan_notify,
	.close = netvsp_chan_close,
};
