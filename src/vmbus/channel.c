/* SPDX-License-Identifier: MIT */
/*
 * Channel lifecycle: OPENCHANNEL (map the rings of the ring GPADL, then
 * ops->open, then OPENCHANNEL_RESULT), CLOSECHANNEL, MODIFYCHANNEL, and
 * the signals in both directions (facts §3.3, §5.3, §6.5).
 *
 * Order at close, whoever causes it (CLOSECHANNEL, rescind, UNLOAD, reset,
 * server free): the channel stops taking traffic, ops->close runs, the
 * rings are unmapped, then the ring GPADL is released; a GPADL_TEARDOWN
 * that arrived while it was in use is answered only then.  Other GPADLs of
 * the channel (device buffers) are untouched by a close: the guest tears
 * them down itself, after the close (Linux netvsc from 4.0 on).
 */
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "core/trace.h"
#include "vmbus/vmbus_internal.h"

void vmbus_chan_signal_guest(struct vmbus_channel *ch)
{
	int ret;

	if (ch->opening) {
		/* Packets sent from ops->open: interrupt after OPENCHANNEL_RESULT. */
		ch->signal_deferred = true;
		return;
	}
	ret = synic_signal_event(ch->srv->hv, ch->target_vp, VMBUS_MESSAGE_SINT, ch->relid);
	if (ret == 0) {
		ch->stats.signals_out++;
		/* The guest's answer will come as a monitor bit (monitor.c). */
		if (ch->monitor_offered)
			vmbus_monitor_kick(ch->srv);
		return;
	}
	ch->stats.signal_errors++;
	log_guest("vmbus: relid %u: signal to VP %u failed: %s", ch->relid, ch->target_vp,
		  strerror(-ret));
}

/* HvSignalEvent and the monitor scan (monitor.c) both end here. */
void vmbus_chan_signalled(struct vmbus_channel *ch)
{
	if (ch->srv->outq_head)
		vmbus_server_flush(ch->srv);
	if (__builtin_expect((fault_class_mask & FAULT_BIT(FAULT_HELD_BIT)) != 0, 0) && ch->open &&
	    !ch->closing && !ch->broken)
		vmbus_fault_chan_signalled(ch);
	vmbus_chan_run_notify(ch);
}

static void vmbus_chan_on_event(void *opaque, uint32_t conn_id)
{
	struct vmbus_channel *ch = opaque;

	ch->stats.signals_in++;
	trace_emit(VMBUS_TRACE_SIGNAL_IN, ch->relid, VMBUS_TRACE_VP_NONE, conn_id, 0, NULL, 0);
	vmbus_chan_signalled(ch);
}

int vmbus_chan_register_port(struct vmbus_channel *ch)
{
	int ret = hv_register_event_port(ch->srv->hv, ch->conn_id, vmbus_chan_on_event, ch);

	if (ret < 0) {
		log_error("vmbus: event port %u for relid %u: %s", ch->conn_id, ch->relid,
			  strerror(-ret));
		return ret;
	}
	ch->port_registered = true;
	return 0;
}

void vmbus_chan_close(struct vmbus_channel *ch)
{
	struct vmbus_gpadl *g = ch->ring_gpadl;

	/* ch->closing: a device that rescinds itself from ops->close. */
	if (!ch->open || ch->closing)
		return;
	ch->closing = true;
	if (ch->ops->close)
		ch->ops->close(ch);
	if (ch->kick_ev)
		evtimer_del(ch->kick_ev);
	vmbus_fault_chan_close(ch);
	vmbus_ring_unmap(&ch->in);
	vmbus_ring_unmap(&ch->out);
	ch->open = false;
	ch->closing = false;
	ch->broken = false;
	ch->signal_deferred = false;
	ch->ring_gpadl = NULL;
	if (g)
		vmbus_gpadl_release(ch->srv, g);
	vmbus_monitor_update(ch->srv);
}

/* Maps both rings; 0 or a reason for the log. */
static const char *vmbus_chan_map(struct vmbus_channel *ch, struct vmbus_gpadl *g,
				  uint32_t downstream)
{
	const struct gmem *mem = hv_partition_gmem(ch->srv->hv);
	const uint64_t *pages;
	uint32_t n;

	pages = vmbus_gpadl_pages(g, &n);
	if (!pages)
		return "ring GPADL is not whole pages";
	/* Each ring: a header page and at least one data page. */
	if (n < 4 || downstream < 2 || downstream > n - 2)
		return "bad downstream ring offset";
	if (!mem)
		return "no guest memory";
	if (vmbus_ring_map(&ch->in, mem, pages, downstream) < 0)
		return "cannot map the guest->host ring";
	if (vmbus_ring_map(&ch->out, mem, pages + downstream, n - downstream) < 0) {
		vmbus_ring_unmap(&ch->in);
		return "cannot map the host->guest ring";
	}
	return NULL;
}

void vmbus_handle_open_channel(struct vmbus_server *srv, uint32_t vp, const void *msg,
			       uint32_t size)
{
	const struct vmbus_msg_open_channel *m = msg;
	struct vmbus_channel *ch = vmbus_chan_lookup(srv, m->child_relid);
	struct vmbus_msg_open_result res = {
		.header.msgtype = CHANNELMSG_OPENCHANNEL_RESULT,
		.child_relid = m->child_relid,
		.openid = m->openid,
		.status = VMBUS_STATUS_UNSUCCESSFUL,
	};
	struct vmbus_gpadl *g = NULL;
	const char *why = NULL;
	int rc;

	if (!ch || ch->rescinded)
		why = "unknown relid";
	else if (ch->open)
		why = "already open";
	else if (!(g = vmbus_gpadl_find(srv, m->ringbuffer_gpadl)) || !g->complete || g->ch != ch)
		why = "unknown ring GPADL";
	else if (g->in_use || g->teardown_pending)
		why = "ring GPADL in use";
	else if (m->target_vp >= vmbus_n_vcpus(srv))
		why = "target VP out of range";
	else
		why = vmbus_chan_map(ch, g, m->downstream_ring_offset);
	if (!why) {
		ch->target_vp = m->target_vp;
		ch->openid = m->openid;
		if (vmbus_ring_start(ch) < 0) {
			vmbus_ring_unmap(&ch->in);
			vmbus_ring_unmap(&ch->out);
			why = "corrupt ring indices";
		}
	}
	if (why) {
		srv->stats.malformed++;
		log_guest("vmbus: OPENCHANNEL relid %u gpadl %#x refused: %s", m->child_relid,
			  m->ringbuffer_gpadl, why);
		vmbus_post(srv, &res, sizeof(res));
		return;
	}

	ch->ring_gpadl = g;
	g->in_use = true;
	ch->open = true;
	ch->broken = false;
	ch->opening = true;
	ch->signal_deferred = false;
	rc = ch->ops->open ? ch->ops->open(ch) : 0;
	ch->opening = false;
	if (rc != 0) {
		srv->stats.opens_refused++;
		log_info("vmbus: relid %u: device refused open (%d)", ch->relid, rc);
		vmbus_ring_unmap(&ch->in);
		vmbus_ring_unmap(&ch->out);
		ch->open = false;
		ch->ring_gpadl = NULL;
		vmbus_gpadl_release(srv, g);
		res.status = (uint32_t)rc;
		vmbus_post(srv, &res, sizeof(res));
		return;
	}
	srv->stats.channels_opened++;
	res.status = 0;
	vmbus_post(srv, &res, sizeof(res));
	/* A freshly opened channel talks: scan at the latency. */
	vmbus_monitor_kick(srv);
	vmbus_monitor_update(srv);
	if (ch->signal_deferred) {
		ch->signal_deferred = false;
		vmbus_chan_signal_guest(ch);
	}
}

void vmbus_handle_close_channel(struct vmbus_server *srv, uint32_t vp, const void *msg,
				uint32_t size)
{
	const struct vmbus_msg_relid *m = msg;
	struct vmbus_channel *ch = vmbus_chan_lookup(srv, m->child_relid);

	if (!ch) {
		srv->stats.malformed++;
		log_guest("vmbus: CLOSECHANNEL for unknown relid %u", m->child_relid);
		return;
	}
	if (!ch->open) {
		/* A rescinded channel was closed by the rescind; Linux still says so. */
		if (!ch->rescinded) {
			srv->stats.wrong_state++;
			log_guest("vmbus: CLOSECHANNEL for relid %u that is not open", ch->relid);
		}
		return;
	}
	vmbus_chan_close(ch);
}

void vmbus_handle_modify_channel(struct vmbus_server *srv, uint32_t vp, const void *msg,
				 uint32_t size)
{
	const struct vmbus_msg_modify_channel *m = msg;
	struct vmbus_channel *ch = vmbus_chan_lookup(srv, m->child_relid);
	struct vmbus_msg_modify_channel_response res = {
		.header.msgtype = CHANNELMSG_MODIFYCHANNEL_RESPONSE,
		.child_relid = m->child_relid,
		.status = 0,
	};

	if (srv->version < VMBUS_VERSION_WIN10_V4_1) {
		srv->stats.wrong_state++;
		log_guest("vmbus: MODIFYCHANNEL at version %u.%u", srv->version >> 16,
			  srv->version & 0xFFFF);
		return;
	}
	if (!ch || !ch->open || ch->closing || m->target_vp >= vmbus_n_vcpus(srv)) {
		srv->stats.malformed++;
		log_guest("vmbus: MODIFYCHANNEL relid %u to VP %u refused", m->child_relid,
			  m->target_vp);
		res.status = VMBUS_STATUS_UNSUCCESSFUL;
	} else {
		ch->target_vp = m->target_vp;
	}
	/* From 5.3 on the guest waits for the answer (facts §5.1). */
	if (srv->version >= VMBUS_VERSION_WIN10_V5_3)
		vmbus_post(srv, &res, sizeof(res));
}
