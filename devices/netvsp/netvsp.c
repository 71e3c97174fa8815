/* SPDX-License-Identifier: MIT */
/*
 * netvsp: the Hyper-V synthetic NIC that Linux hv_netvsc drives (facts §9).
 * The wire formats are in vmbusd/proto/{nvsp,rndis}.h, the pure protocols
 * in nvsp.c and rndis.c, the host side of the wire behind devices/net/net.h,
 * config, control, stats and the lifecycle in netvsp_dev.c, host -> guest
 * traffic through the receive buffer in netvsp_rx.c; this file owns the
 * channels (queues), guest -> host packets (the send buffer, RNDIS
 * messages and frames) and the notify loop.
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
