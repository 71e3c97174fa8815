/* SPDX-License-Identifier: MIT */
/*
 * Offers: relid allocation (1..2047, facts §5.3), OFFERCHANNEL,
 * REQUESTOFFERS/ALLOFFERS_DELIVERED, rescind and RELID_RELEASED.
 *
 * A channel lives from vmbus_offer() until it is rescinded and the guest
 * released its relid (or until the server is freed).  Its relid is not
 * reused before that, so a late message for the old channel can never hit
 * a new one.  Channels are offered in the order devices registered them
 * (a primary before its subchannels).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/guid.h"
#include "core/log.h"
#include "vmbus/vmbus_internal.h"

struct vmbus_channel *vmbus_chan_lookup(struct vmbus_server *srv, uint32_t relid)
{
	struct vmbus_channel *ch;

	if (relid == 0 || relid > VMBUS_MAX_RELID)
		return NULL;
	ch = srv->relids[relid];
	return ch && ch->offered ? ch : NULL;
}

/* A subchannel is offered long after its device was created (when the
 * guest asks for it): it reports under its primary's label. */
static void vmbus_chan_inherit_label(struct vmbus_channel *ch)
{
	const struct vmbus_channel *p;

	if (ch->params.sub_channel_index == 0)
		return;
	for (p = ch->srv->chan_head; p; p = p->next) {
		if (!p->rescinded && p->params.sub_channel_index == 0 &&
		    guid_equal(&p->params.if_type, &ch->params.if_type) &&
		    guid_equal(&p->params.if_instance, &ch->params.if_instance)) {
			memcpy(ch->label, p->label, sizeof(ch->label));
			return;
		}
	}
}

void vmbus_send_offer(struct vmbus_channel *ch)
{
	struct vmbus_msg_offer_channel msg = {
		.header.msgtype = CHANNELMSG_OFFERCHANNEL,
		.if_type = ch->params.if_type,
		.if_instance = ch->params.if_instance,
		.sub_channel_index = ch->params.sub_channel_index,
		.child_relid = ch->relid,
		.is_dedicated_interrupt = 1,
		.connection_id = ch->conn_id,
	};

	/* Monitored (facts §5.5) only when the channel has a monitor id and
	 * the guest's monitor pages are usable; otherwise it signals us with
	 * HvSignalEvent. */
	if (vmbus_monitor_offer(ch)) {
		msg.monitorid = (uint8_t)ch->monitor_id;
		msg.monitor_allocated = 1;
	}
	memcpy(msg.user_def, ch->user_def, sizeof(msg.user_def));
	ch->offered = true;
	ch->srv->stats.offers_sent++;
	vmbus_post(ch->srv, &msg, sizeof(msg));
}

static void vmbus_chan_kick(evutil_socket_t fd, short what, void *opaque)
{
	struct vmbus_channel *ch = opaque;

	vmbus_chan_run_notify(ch);
}

void vmbus_chan_notify_later(struct vmbus_channel *ch)
{
	/* A zero timeout, not event_active(): libevent runs events activated
	 * from a callback in the same pass, before it polls again, so a
	 * flooded channel would re-activate itself for ever.  An expired
	 * timer waits for the next pass, which polls every fd first.  Adding
	 * it again also pulls a pending ring_kick_later() forward. */
	static const struct timeval now = { 0, 0 };

	if (ch->kick_ev && ch->open && !ch->closing)
		evtimer_add(ch->kick_ev, &now);
}

struct vmbus_channel *vmbus_offer(struct vmbus_server *srv, const struct vmbus_offer_params *p,
				  const struct vmbus_channel_ops *ops, void *priv)
{
	struct vmbus_channel *ch;
	uint32_t relid;

	/* Linux rejects a second offer with the same class, instance and
	 * subchannel index (facts §5.3): refuse it here, where it is a
	 * configuration error, rather than let the guest drop a device. */
	for (ch = srv->chan_head; ch; ch = ch->next) {
		if (!ch->rescinded && ch->params.sub_channel_index == p->sub_channel_index &&
		    guid_equal(&ch->params.if_type, &p->if_type) &&
		    guid_equal(&ch->params.if_instance, &p->if_instance)) {
			errno = EEXIST;
			return NULL;
		}
	}
	for (relid = 1; relid <= VMBUS_MAX_RELID; relid++)
		if (!srv->relids[relid])
			break;
	if (relid > VMBUS_MAX_RELID) {
		log_error("vmbus: no free relid for another channel");
		errno = ENOSPC;
		return NULL;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		errno = ENOMEM;
		return NULL;
	}
	ch->srv = srv;
	ch->ops = ops;
	ch->priv = priv;
	ch->params = *p;
	if (p->user_def)
		memcpy(ch->user_def, p->user_def, sizeof(ch->user_def));
	ch->params.user_def = ch->user_def;
	ch->relid = relid;
	ch->conn_id = VMBUS_CONN_ID_BASE + relid;
	ch->monitor_id = -1;
	vmbus_chan_inherit_label(ch);
	ch->max_pkt = p->max_pkt_size ? p->max_pkt_size : VMBUS_DEFAULT_MAX_PKT;
	if (srv->base && !(ch->kick_ev = evtimer_new(srv->base, vmbus_chan_kick, ch))) {
		free(ch);
		return NULL;
	}
	if (vmbus_chan_register_port(ch) < 0) {
		if (ch->kick_ev)
			event_free(ch->kick_ev);
		free(ch);
		return NULL;
	}
	srv->relids[relid] = ch;
	*srv->chan_tail = ch;
	srv->chan_tail = &ch->next;
	vmbus_monitor_inherit(ch);
	if (srv->state == VMBUS_OFFERS_SENT)
		vmbus_send_offer(ch);
	return ch;
}

void vmbus_chan_free(struct vmbus_channel *ch)
{
	struct vmbus_server *srv = ch->srv;
	struct vmbus_channel **pp;

	vmbus_chan_close(ch);
	vmbus_monitor_release(ch);
	vmbus_gpadl_drop(srv, ch);
	if (ch->port_registered)
		hv_unregister_event_port(srv->hv, ch->conn_id);
	for (pp = &srv->chan_head; *pp; pp = &(*pp)->next) {
		if (*pp == ch) {
			*pp = ch->next;
			break;
		}
	}
	if (srv->chan_tail == &ch->next)
		srv->chan_tail = pp;
	srv->relids[ch->relid] = NULL;
	vmbus_fault_chan_free(ch);
	if (ch->kick_ev)
		event_free(ch->kick_ev);
	free(ch->rx_buf);
	free(ch);
}

void vmbus_rescind(struct vmbus_channel *ch)
{
	struct vmbus_msg_rescind_offer msg = { .header.msgtype = CHANNELMSG_RESCIND_CHANNELOFFER };

	if (!ch)
		return;
	/* The device's own rescind wins over the operator's withdrawal: the
	 * channel is freed once released, not kept for a re-offer. */
	ch->withdrawn = false;
	if (ch->rescinded)
		return;
	if (!ch->offered) {
		vmbus_chan_free(ch);
		return;
	}
	/* Close first: the device sees close before the guest sees the rescind.
	 * GPADLs stay until the guest tears them down or releases the relid. */
	vmbus_chan_close(ch);
	ch->rescinded = true;
	msg.child_relid = ch->relid;
	vmbus_post(ch->srv, &msg, sizeof(msg));
}

void vmbus_handle_request_offers(struct vmbus_server *srv, uint32_t vp, const void *msg,
				 uint32_t size)
{
	struct vmbus_msg_header done = { .msgtype = CHANNELMSG_ALLOFFERS_DELIVERED };

	for (struct vmbus_channel *ch = srv->chan_head; ch; ch = ch->next)
		if (!ch->rescinded && !ch->withdrawn)
			vmbus_send_offer(ch);
	srv->state = VMBUS_OFFERS_SENT;
	vmbus_post(srv, &done, sizeof(done));
}

void vmbus_handle_relid_released(struct vmbus_server *srv, uint32_t vp, const void *msg,
				 uint32_t size)
{
	const struct vmbus_msg_relid *m = msg;
	struct vmbus_channel *ch = vmbus_chan_lookup(srv, m->child_relid);

	if (!ch || !ch->rescinded) {
		srv->stats.wrong_state++;
		log_guest("vmbus: RELID_RELEASED for relid %u that was not rescinded",
			  m->child_relid);
		return;
	}
	if (ch->withdrawn) {
		/* Kept for vmbus_chan_reoffer(): the guest forgot it, so do its
		 * GPADLs (Linux tears down nothing after a rescind). */
		vmbus_gpadl_drop(srv, ch);
		ch->rescinded = false;
		ch->offered = false;
		return;
	}
	vmbus_chan_free(ch);
}

/*
 * The operator's rescind: the guest sees exactly what vmbus_rescind()
 * sends (close first, then RESCIND_CHANNELOFFER; Linux answers with
 * RELID_RELEASED, facts §5.3), but the channel object, its relid and its
 * device stay, so the same channel can be offered again.  A channel the
 * guest has not seen is only marked.
 */
int vmbus_chan_withdraw(struct vmbus_channel *ch)
{
	struct vmbus_msg_rescind_offer msg = { .header.msgtype = CHANNELMSG_RESCIND_CHANNELOFFER };

	if (ch->withdrawn || ch->rescinded)
		return -EALREADY;
	ch->withdrawn = true;
	if (!ch->offered)
		return 0;
	vmbus_chan_close(ch);
	ch->rescinded = true;
	msg.child_relid = ch->relid;
	vmbus_post(ch->srv, &msg, sizeof(msg));
	return 0;
}

int vmbus_chan_reoffer(struct vmbus_channel *ch)
{
	if (!ch->withdrawn)
		return -EALREADY;
	if (ch->rescinded)
		return -EBUSY; /* the guest has not released the relid yet */
	ch->withdrawn = false;
	if (ch->srv->state == VMBUS_OFFERS_SENT)
		vmbus_send_offer(ch);
	return 0;
}

bool vmbus_chan_is_withdrawn(const struct vmbus_channel *ch)
{
	return ch->withdrawn;
}

bool vmbus_chan_is_rescinded(const struct vmbus_channel *ch)
{
	return ch->rescinded;
}

/* ---- accessors ------------------------------------------------------------ */

void *vmbus_chan_priv(const struct vmbus_channel *ch)
{
	return ch->priv;
}

uint32_t vmbus_chan_relid(const struct vmbus_channel *ch)
{
	return ch->relid;
}

uint16_t vmbus_chan_sub_index(const struct vmbus_channel *ch)
{
	return ch->params.sub_channel_index;
}

uint32_t vmbus_chan_target_vp(const struct vmbus_channel *ch)
{
	return ch->target_vp;
}

bool vmbus_chan_is_open(const struct vmbus_channel *ch)
{
	return ch->open && !ch->closing;
}

uint32_t vmbus_chan_conn_id(const struct vmbus_channel *ch)
{
	return ch->conn_id;
}

struct vmbus_server *vmbus_chan_server(const struct vmbus_channel *ch)
{
	return ch->srv;
}

const struct vmbus_chan_stats *vmbus_chan_stats(const struct vmbus_channel *ch)
{
	return &ch->stats;
}

struct gmem *vmbus_chan_gmem(const struct vmbus_channel *ch)
{
	return hv_partition_gmem(ch->srv->hv);
}

const char *vmbus_offer_strerror(int err)
{
	switch (err) {
	case EEXIST:
		return "another device already offers this class and instance "
		       "(give each an \"instance\")";
	case ENOSPC:
		return "no channel left to offer (2047 relids)";
	default:
		return "out of memory";
	}
}
