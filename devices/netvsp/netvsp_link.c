/* SPDX-License-Identifier: MIT */
/*
 * netvsp: what the guest is told about the link (the `link` and
 * `network_change` control actions).
 *
 * The host side says MEDIA_CONNECT / MEDIA_DISCONNECT / NETWORK_CHANGE in
 * an RNDIS INDICATE_STATUS.  Linux (netvsc_linkstatus_callback and
 * netvsc_link_change, drivers/net/hyperv/netvsc_drv.c) queues every such
 * indication and applies one per LINKCHANGE_INT (2 s), in order: a host
 * that flapped the link 20 times in a second would keep the guest's
 * carrier toggling for 40 s after the last change.  So indications here
 * are paced the same way: at most one per NETVSP_LINK_INTERVAL_NS, and
 * when the interval is over the guest is told only the state as it is
 * then (if it differs from what the guest last heard).  The guest's
 * carrier thus follows the last state within about two intervals
 * whatever the host does, and no change is ever left untold.
 *
 * What the guest "last heard" is: its answer to GEN_MEDIA_CONNECT_STATUS
 * (queried at every probe and re-initialisation), or the last indication
 * sent.  Before it queries, Linux assumes connected (rdev->link_state is
 * false after kzalloc).
 *
 * NETWORK_CHANGE (Hyper-V sends it when a VM moves to another network):
 * Linux turns the carrier off, then on one interval later, so that DHCP
 * and neighbours start over.  It only makes sense with the link up.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/netvsp/netvsp_internal.h"

static void netvsp_link_tick(evutil_socket_t fd, short what, void *opaque);

static int netvsp_link_timer(struct netvsp_dev *d)
{
	if (!d->link_timer)
		d->link_timer = evtimer_new(vmbus_server_base(d->srv), netvsp_link_tick, d);
	return d->link_timer ? 0 : -ENOMEM;
}

static bool netvsp_link_indicate(struct netvsp_dev *d, uint32_t status)
{
	uint8_t buf[sizeof(struct rndis_indicate_status)];

	if (d->rndis.state != RNDIS_INITIALIZED)
		return false;
	netvsp_ctrl_send(d, buf, rndis_build_indicate(buf, status));
	d->link_told_ns = now_ns();
	d->indications++;
	return true;
}

/* Tells the guest the current state if it differs from what it heard and
 * the interval allows; otherwise arms the timer for when it does. */
void netvsp_link_update(struct netvsp_dev *d)
{
	uint64_t now = now_ns(), due = d->link_told_ns + d->link_interval_ns;

	if (d->rndis.link_up == d->link_told)
		return;
	if (d->rndis.state != RNDIS_INITIALIZED)
		return;  /* it asks GEN_MEDIA_CONNECT_STATUS when it initializes */
	if (d->link_told_ns && now < due) {
		struct timeval tv = { (time_t)((due - now) / 1000000000u),
				      (suseconds_t)((due - now) % 1000000000u / 1000u) };

		if (netvsp_link_timer(d) == 0 && !evtimer_pending(d->link_timer, NULL))
			evtimer_add(d->link_timer, &tv);
		d->link_deferred++;
		return;
	}
	if (netvsp_link_indicate(d, d->rndis.link_up ? RNDIS_STATUS_MEDIA_CONNECT :
						       RNDIS_STATUS_MEDIA_DISCONNECT))
		d->link_told = d->rndis.link_up;
}

static void netvsp_link_tick(evutil_socket_t fd, short what, void *opaque)
{
	netvsp_link_update(opaque);
}

void netvsp_link_set(struct netvsp_dev *d, bool up)
{
	if (up == d->rndis.link_up)
		return;
	d->rndis.link_up = up;
	d->link_changes++;
	netvsp_link_update(d);
}

int netvsp_link_network_change(struct netvsp_dev *d)
{
	if (!d->rndis.link_up || !d->link_told)
		return -ENETDOWN;
	if (d->rndis.state != RNDIS_INITIALIZED)
		return -ENOTCONN;
	/* Not paced: it is one event the guest spreads over an interval
	 * itself; a link change after it waits an interval. */
	netvsp_link_indicate(d, RNDIS_STATUS_NETWORK_CHANGE);
	d->network_changes++;
	return 0;
}

void netvsp_link_queried(struct netvsp_dev *d)
{
	d->link_told = d->rndis.link_up;
}

void netvsp_link_session_reset(struct netvsp_dev *d)
{
	/* A new RNDIS session: Linux assumes connected until it queries. */
	d->link_told = true;
	if (d->link_timer)
		evtimer_del(d->link_timer);
}

void netvsp_link_free(struct netvsp_dev *d)
{
	if (d->link_timer)
		event_free(d->link_timer);
	d->link_timer = NULL;
}
