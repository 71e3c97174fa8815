/* SPDX-License-Identifier: MIT */
/*
 * The VMBus part of `vmbusd ctl status`: the connection, the server's
 * counters and one entry per channel, each built from the counter lists in
 * vmbus.h (core/stats.h), so a counter added there is reported here without
 * another line.
 */
#include <stdio.h>
#include <string.h>

#include "core/guid.h"
#include "vmbus/vmbus_internal.h"

STATS_DEFINE(vmbus_server_stats, struct vmbus_server_stats, VMBUS_SERVER_STATS)
STATS_DEFINE(vmbus_chan_stats, struct vmbus_chan_stats, VMBUS_CHAN_STATS)

struct vmbus_channel *vmbus_server_next_channel(const struct vmbus_server *srv,
						const struct vmbus_channel *prev)
{
	return prev ? prev->next : srv->chan_head;
}

void vmbus_chan_set_label(struct vmbus_channel *ch, const char *label)
{
	snprintf(ch->label, sizeof(ch->label), "%s", label ? label : "");
}

const char *vmbus_chan_label(const struct vmbus_channel *ch)
{
	return ch->label;
}

const struct vmbus_offer_params *vmbus_chan_offer(const struct vmbus_channel *ch)
{
	return &ch->params;
}

static const char *vmbus_conn_state_name(enum vmbus_conn_state s)
{
	switch (s) {
	case VMBUS_DISCONNECTED: return "disconnected";
	case VMBUS_CONNECTED: return "connected";
	case VMBUS_OFFERS_SENT: return "offers-sent";
	}
	return "unknown";
}

json_t *vmbus_chan_status_json(const struct vmbus_channel *ch)
{
	char type[GUID_STR_LEN], instance[GUID_STR_LEN];
	json_t *o;

	guid_format(&ch->params.if_type, type);
	guid_format(&ch->params.if_instance, instance);
	o = json_pack("{s:i,s:s,s:s,s:s,s:i,s:i,s:b,s:b,s:b,s:b,s:b,s:i,s:i,s:b}",
		      "relid", (int)ch->relid,
		      "device", ch->label[0] ? ch->label : type,
		      "class", type, "instance", instance,
		      "subchannel", (int)ch->params.sub_channel_index,
		      "conn_id", (int)ch->conn_id,
		      "offered", ch->offered, "open", ch->open,
		      "rescinded", ch->rescinded, "withdrawn", ch->withdrawn,
		      "broken", ch->broken,
		      "target_vp", (int)ch->target_vp,
		      "monitor_id", ch->monitor_id,
		      "monitored", ch->monitor_offered);
	return o ? vmbus_chan_stats_json(&ch->stats, o) : NULL;
}

json_t *vmbus_server_status_json(const struct vmbus_server *srv)
{
	uint32_t v = vmbus_server_version(srv);
	const struct vmbus_channel *ch;
	char vtext[16] = "";
	json_t *o, *chans;

	if (v)
		snprintf(vtext, sizeof(vtext), "%u.%u", v >> 16, v & 0xFFFF);
	o = json_pack("{s:s,s:s,s:i,s:i}", "state", vmbus_conn_state_name(srv->state),
		      "version", vtext, "messages_waiting", (int)srv->outq_len,
		      "gpadls", (int)srv->n_gpadls);
	if (!o || !vmbus_server_stats_json(&srv->stats, o))
		goto nomem;
	if (json_object_set_new(o, "monitor",
				json_pack("{s:b,s:I,s:I,s:i,s:i,s:i,s:b}", "pages", srv->mon.page[1] != NULL,
					  "page1", (json_int_t)srv->mon.gpa[0],
					  "page2", (json_int_t)srv->mon.gpa[1],
					  "latency_us", (int)srv->mon.latency_us,
					  "idle_us", (int)srv->mon.idle_us,
					  "period_us", (int)srv->mon.period_us,
					  "active", srv->mon.active)) < 0)
		goto nomem;
	/* The channels last: scripts that grep the first "malformed" find
	 * the server's. */
	chans = json_array();
	if (!chans || json_object_set_new(o, "channels", chans) < 0)
		goto nomem;
	for (ch = srv->chan_head; ch; ch = ch->next)
		if (json_array_append_new(chans, vmbus_chan_status_json(ch)) < 0)
			goto nomem;
	return o;
nomem:
	json_decref(o);
	return NULL;
}
