/* SPDX-License-Identifier: MIT */
/*
 * VMBus connection protocol, guest side (facts §2.3, §5): HvPostMessage with
 * Linux's retry policy, version negotiation, offers and rescinds, UNLOAD,
 * and the dispatch of host messages through a table of
 * {type, handler, minimum length} like Linux's channel_message_table.
 */
#include "guest/guest.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/guid.h"
#include "core/log.h"
#include "core/util.h"

/* Highest first (facts §5.1; the brief adds 1.1 and 0.13 below Linux 6.1's
 * oldest, 2.4). */
static const uint32_t vmbus_versions[] = {
	VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V5_2, VMBUS_VERSION_WIN10_V5_1,
	VMBUS_VERSION_WIN10_V5, VMBUS_VERSION_WIN10_V4_1, VMBUS_VERSION_WIN10,
	VMBUS_VERSION_WIN8_1, VMBUS_VERSION_WIN8, VMBUS_VERSION_WIN7, VMBUS_VERSION_WS2008,
};

static const char *const msg_names[CHANNELMSG_COUNT] = {
	"INVALID", "OFFERCHANNEL", "RESCIND_CHANNELOFFER", "REQUESTOFFERS", "ALLOFFERS_DELIVERED",
	"OPENCHANNEL", "OPENCHANNEL_RESULT", "CLOSECHANNEL", "GPADL_HEADER", "GPADL_BODY",
	"GPADL_CREATED", "GPADL_TEARDOWN", "GPADL_TORNDOWN", "RELID_RELEASED", "INITIATE_CONTACT",
	"VERSION_RESPONSE", "UNLOAD", "UNLOAD_RESPONSE", "18", "19", "20", "TL_CONNECT_REQUEST",
	"MODIFYCHANNEL", "TL_CONNECT_RESULT", "MODIFYCHANNEL_RESPONSE",
};

static uint32_t post_once(struct guest *g, uint32_t conn_id, uint32_t message_type,
			  uint32_t payload_size, const void *payload, uint32_t len, int *err)
{
	struct guest_cpu *c = &g->cpu[0];
	struct hv_input_post_message *in;
	uint64_t result = 0;

	/* Linux posts from its per-CPU page; this guest posts from vCPU 0. */
	in = guest_mem_ptr(&g->mem, c->post_page_gpa, sizeof(*in));
	memset(in, 0, sizeof(*in));
	in->connection_id = conn_id;
	in->message_type = message_type;
	in->payload_size = payload_size;
	memcpy(in->payload, payload, MIN(len, HV_MESSAGE_PAYLOAD_MAX));
	*err = guest_attach_hypercall(&g->att, 0, HVCALL_POST_MESSAGE, c->post_page_gpa, 0, &result);
	return (uint32_t)(result & 0xFFFFu);
}

int guest_vmbus_post_raw(struct guest *g, uint32_t conn_id, uint32_t message_type,
			 uint32_t payload_size, const void *payload, uint32_t len, uint64_t *status)
{
	int err;

	*status = post_once(g, conn_id, message_type, payload_size, payload, len, &err);
	return err;
}

int guest_vmbus_post(struct guest *g, const void *msg, uint32_t len)
{
	const struct vmbus_msg_header *hdr = msg;
	uint64_t usec = 1, deadline = now_ns() + (uint64_t)g->opts.timeout_ms * 1000000ull;
	uint32_t status = 0;

	for (int retries = 0; retries < 100; retries++) {
		int err;

		status = post_once(g, g->msg_conn_id, HVMSG_VMBUS, len, msg, len, &err);
		if (err)
			return err;
		switch (status) {
		case HV_STATUS_SUCCESS:
			return 0;
		case HV_STATUS_INVALID_CONNECTION_ID:
			/* vmbus_post_msg: on INITIATE_CONTACT this means "no
			 * conn id 4 here", so the caller tries the next version. */
			if (hdr->msgtype == CHANNELMSG_INITIATE_CONTACT)
				return -EINVAL;
			break;
		case HV_STATUS_INSUFFICIENT_MEMORY:
		case HV_STATUS_INSUFFICIENT_BUFFERS:
			break;
		default:
			guest_error(g, "post_message", "HvPostMessage(%s) failed with status %u",
				    hdr->msgtype < CHANNELMSG_COUNT ? msg_names[hdr->msgtype] : "?", status);
			return -EIO;
		}
		/* Linux's back-off: 1 us doubling for 21 retries; bounded here
		 * by the protocol timeout. */
		if (now_ns() + usec * 1000ull > deadline)
			break;
		{
			struct timespec ts = { .tv_sec = (time_t)(usec / 1000000u),
					       .tv_nsec = (long)(usec % 1000000u) * 1000 };
			nanosleep(&ts, NULL);
		}
		if (retries < 21)
			usec *= 2;
	}
	guest_error(g, "post_message", "HvPostMessage(%s) still busy (status %u) after retries",
		    hdr->msgtype < CHANNELMSG_COUNT ? msg_names[hdr->msgtype] : "?", status);
	return -EAGAIN;
}

void guest_vmbus_expect(struct guest *g, uint32_t msgtype, uint32_t relid, uint32_t id)
{
	memset(&g->pending, 0, sizeof(g->pending));
	g->pending.want = msgtype;
	g->pending.relid = relid;
	g->pending.id = id;
}

static bool pending_done(struct guest *g, void *arg)
{
	return g->pending.done;
}

int guest_vmbus_wait_pending(struct guest *g, const char *what)
{
	int ret = guest_wait(g, pending_done, NULL, g->opts.timeout_ms);

	if (ret == -ETIMEDOUT)
		guest_error(g, "timeout", "no %s from the host within %d ms", what, g->opts.timeout_ms);
	else if (ret == -ECONNRESET)
		guest_error(g, "daemon", "the daemon went away while waiting for %s", what);
	g->pending.want = 0;
	return ret;
}

/* ---- connection ------------------------------------------------------ */

int guest_vmbus_connect(struct guest *g)
{
	char vbuf[16];
	int ret;

	if (!g->int_page_gpa)
		g->int_page_gpa = guest_mem_alloc(&g->mem, 1);
	if (!g->monitor_gpa)
		g->monitor_gpa = guest_mem_alloc(&g->mem, 2);
	if (!g->int_page_gpa || !g->monitor_gpa)
		return -ENOMEM;

	for (size_t i = 0; i < ARRAY_SIZE(vmbus_versions); i++) {
		uint32_t v = vmbus_versions[i];
		struct vmbus_msg_initiate_contact msg;
		struct vmbus_msg_version_response *resp = (void *)g->pending.msg;

		if (g->opts.max_version && v > g->opts.max_version)
			continue;
		memset(&msg, 0, sizeof(msg));
		msg.header.msgtype = CHANNELMSG_INITIATE_CONTACT;
		msg.vmbus_version_requested = v;
		msg.target_vcpu = g->cpu[0].vp_index; /* VMBUS_CONNECT_CPU = 0 */
		if (v >= VMBUS_VERSION_WIN10_V5) {
			msg.msg_sint = VMBUS_MESSAGE_SINT;
			msg.msg_vtl = 0;
			g->msg_conn_id = VMBUS_MESSAGE_CONNECTION_ID_4;
		} else {
			msg.interrupt_page = g->int_page_gpa;
			g->msg_conn_id = VMBUS_MESSAGE_CONNECTION_ID;
		}
		if (!g->opts.no_monitor_pages) {
			msg.monitor_page1 = g->monitor_gpa;
			msg.monitor_page2 = g->monitor_gpa + HV_PAGE_SIZE;
		}

		guest_vmbus_expect(g, CHANNELMSG_VERSION_RESPONSE, 0, 0);
		ret = guest_vmbus_post(g, &msg, sizeof(msg));
		if (ret == -EINVAL) {
			g->pending.want = 0;
			guest_emit(g, json_pack("{s:s, s:s, s:s}", "event", "version_rejected", "version",
						guest_version_str(v, vbuf), "reason",
						"HvPostMessage status 18 (invalid connection id)"));
			continue;
		}
		if (ret)
			return ret;
		ret = guest_vmbus_wait_pending(g, "VERSION_RESPONSE");
		if (ret)
			return ret;
		if (!resp->version_supported) {
			guest_emit(g, json_pack("{s:s, s:s, s:s}", "event", "version_rejected", "version",
						guest_version_str(v, vbuf), "reason", "version_supported = 0"));
			continue;
		}
		if (v >= VMBUS_VERSION_WIN10_V5)
			g->msg_conn_id = resp->msg_conn_id;
		g->version = v;
		g->connected = true;
		g->unloaded = false;
		guest_emit(g, json_pack("{s:s, s:s, s:i, s:i}", "event", "version", "version",
					guest_version_str(v, vbuf), "msg_conn_id", (json_int_t)g->msg_conn_id,
					"connection_state", (json_int_t)resp->connection_state));
		return 0;
	}
	guest_error(g, "negotiate", "the host accepted no VMBus version");
	return -EPROTONOSUPPORT;
}

static bool all_offers_done(struct guest *g, void *arg)
{
	return g->all_offers;
}

int guest_vmbus_request_offers(struct guest *g)
{
	struct vmbus_msg_header msg = { .msgtype = CHANNELMSG_REQUESTOFFERS };
	int ret;

	g->all_offers = false;
	ret = guest_vmbus_post(g, &msg, sizeof(msg));
	if (ret)
		return ret;
	ret = guest_wait(g, all_offers_done, NULL, g->opts.timeout_ms);
	if (ret == -ETIMEDOUT)
		guest_error(g, "timeout", "no ALLOFFERS_DELIVERED within %d ms", g->opts.timeout_ms);
	return ret;
}

static void vmbus_drop_channel(struct guest *g, struct guest_channel *ch)
{
	if (ch->drv_free && ch->drv)
		ch->drv_free(ch->drv);
	free(ch->rxbuf);
	if (ch->ring_gpa)
		guest_mem_free(&g->mem, ch->ring_gpa, ch->ring_pages);
	g->chan[ch->relid] = NULL;
	free(ch);
}

void guest_vmbus_forget(struct guest *g)
{
	for (uint32_t relid = 0; relid <= VMBUS_MAX_RELID; relid++)
		if (g->chan[relid])
			vmbus_drop_channel(g, g->chan[relid]);
	g->connected = false;
	g->all_offers = false;
	g->n_offers = 0;
	g->int_page_gpa = 0;
	g->monitor_gpa = 0;
	g->next_gpadl = g->opts.first_gpadl ? g->opts.first_gpadl : GUEST_FIRST_GPADL;
	memset(&g->pending, 0, sizeof(g->pending));
}

int guest_vmbus_unload(struct guest *g)
{
	struct vmbus_msg_header msg = { .msgtype = CHANNELMSG_UNLOAD };
	int ret;

	if (!g->connected)
		return 0;
	/* vmbus_initiate_unload: hosts older than 3.0 get no UNLOAD. */
	if (g->version < VMBUS_VERSION_WIN8_1) {
		g->connected = false;
		return 0;
	}
	guest_vmbus_expect(g, CHANNELMSG_UNLOAD_RESPONSE, 0, 0);
	ret = guest_vmbus_post(g, &msg, sizeof(msg));
	if (!ret)
		ret = guest_vmbus_wait_pending(g, "UNLOAD_RESPONSE");
	g->connected = false;
	g->unloaded = true;
	/* The host dropped every channel and GPADL with the connection. */
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++)
		if (g->chan[relid])
			vmbus_drop_channel(g, g->chan[relid]);
	if (!ret)
		guest_emit(g, json_pack("{s:s}", "event", "unload"));
	return ret;
}

/* ---- host messages --------------------------------------------------- */

static void on_offer(struct guest *g, const void *m, uint32_t len)
{
	const struct vmbus_msg_offer_channel *o = m;
	struct guest_channel *ch;
	uint32_t relid = o->child_relid;
	uint32_t mon_conn = 0;
	uint16_t mon_lat = 0;

	if (relid == 0 || relid > VMBUS_MAX_RELID) {
		guest_error(g, "offer", "offer with relid %u outside 1..2047 ignored", relid);
		return;
	}
	if (g->chan[relid]) {
		guest_error(g, "offer", "second offer for relid %u ignored", relid);
		return;
	}
	for (uint32_t r = 1; r <= VMBUS_MAX_RELID && o->sub_channel_index == 0; r++) {
		struct guest_channel *c = g->chan[r];

		if (c && !c->rescinded && c->offer.sub_channel_index == 0 &&
		    guid_equal(&c->offer.if_type, &o->if_type) &&
		    guid_equal(&c->offer.if_instance, &o->if_instance)) {
			guest_error(g, "offer", "relid %u duplicates primary channel %u (Linux WARNs)", relid, r);
			return;
		}
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return;
	ch->offer = *o;
	ch->relid = relid;
	ch->conn_id = o->connection_id;
	guid_format(&o->if_type, ch->class_str);
	guid_format(&o->if_instance, ch->instance_str);
	ch->device = guest_channel_device_name(ch->class_str);
	g->chan[relid] = ch;
	g->n_offers++;
	if ((o->monitor_allocated & 1) && o->monitorid < HV_MONITOR_IDS) {
		/* What the host wrote into the child->parent page for this id
		 * (Linux shows these in sysfs: client_monitor_conn_id/latency). */
		const uint8_t *mon = guest_mem_ptr(&g->mem, g->monitor_gpa + HV_PAGE_SIZE,
						   HV_PAGE_SIZE);
		uint32_t id = o->monitorid;

		if (mon) {
			memcpy(&mon_conn, mon + offsetof(struct hv_monitor_page, parameter) + id * 8u,
			       sizeof(mon_conn));
			memcpy(&mon_lat, mon + offsetof(struct hv_monitor_page, latency) + id * 2u,
			       sizeof(mon_lat));
		}
	}
	guest_emit(g, json_pack("{s:s, s:i, s:s, s:s, s:i, s:s, s:i, s:b, s:i, s:i, s:i, s:b}",
				"event", "offer",
				"relid", (json_int_t)relid, "class", ch->class_str, "instance",
				ch->instance_str, "subchannel", (json_int_t)o->sub_channel_index,
				"device", ch->device, "conn_id", (json_int_t)o->connection_id,
				"monitor_allocated", (int)(o->monitor_allocated & 1),
				"monitorid", (json_int_t)o->monitorid,
				"monitor_conn_id", (json_int_t)mon_conn,
				"monitor_latency", (json_int_t)mon_lat,
				"dedicated_interrupt", (int)(o->is_dedicated_interrupt & 1)));
}

static void on_rescind(struct guest *g, const void *m, uint32_t len)
{
	const struct vmbus_msg_rescind_offer *r = m;
	struct guest_channel *ch = r->child_relid <= VMBUS_MAX_RELID ? g->chan[r->child_relid] : NULL;

	if (!ch || ch->rescinded) {
		guest_error(g, "rescind", "rescind of unknown relid %u", r->child_relid);
		return;
	}
	ch->rescinded = true;
	guest_emit(g, json_pack("{s:s, s:i, s:s}", "event", "rescind", "relid",
				(json_int_t)ch->relid, "device", ch->device));
	/* vmbus_rescind_cleanup: wake a waiter for this channel. */
	if (g->pending.want && g->pending.relid == ch->relid && !g->pending.done) {
		g->pending.done = true;
		g->pending.status = UINT32_MAX;
	}
}

/* The driver's remove path after a rescind: CLOSECHANNEL if open (no GPADL
 * teardown for a rescinded channel), then RELID_RELEASED. */
static void vmbus_release_rescinded(struct guest *g, struct guest_channel *ch)
{
	struct vmbus_msg_relid msg = { .header.msgtype = CHANNELMSG_RELID_RELEASED,
				       .child_relid = ch->relid };

	if (ch->open)
		guest_channel_close(g, ch);
	if (guest_vmbus_post(g, &msg, sizeof(msg)) == 0)
		guest_emit(g, json_pack("{s:s, s:i}", "event", "relid_released", "relid",
					(json_int_t)ch->relid));
	vmbus_drop_channel(g, ch);
}

static void on_all_offers(struct guest *g, const void *m, uint32_t len)
{
	g->all_offers = true;
	guest_emit(g, json_pack("{s:s, s:i}", "event", "all_offers", "count", (json_int_t)g->n_offers));
}

/* Completes the pending request when `match` holds, else reports. */
static void complete_pending(struct guest *g, uint32_t type, bool match, uint32_t status,
			     const void *m, uint32_t len)
{
	if (g->pending.want == type && !g->pending.done && match) {
		g->pending.done = true;
		g->pending.status = status;
		memcpy(g->pending.msg, m, MIN(len, (uint32_t)sizeof(g->pending.msg)));
		g->pending.len = len;
		return;
	}
	guest_error(g, "unexpected", "%s that matches no request", msg_names[type]);
}

static void on_open_result(struct guest *g, const void *m, uint32_t len)
{
	const struct vmbus_msg_open_result *r = m;

	complete_pending(g, CHANNELMSG_OPENCHANNEL_RESULT,
			 r->child_relid == g->pending.relid && r->openid == g->pending.id,
			 r->status, m, len);
}

static void on_gpadl_created(struct guest *g, const void *m, uint32_t len)
{
	const struct vmbus_msg_gpadl_created *r = m;

	complete_pending(g, CHANNELMSG_GPADL_CREATED,
			 r->child_relid == g->pending.relid && r->gpadl == g->pending.id,
			 r->creation_status, m, len);
}

static void on_gpadl_torndown(struct guest *g, const void *m, uint32_t len)
{
	const struct vmbus_msg_gpadl_torndown *r = m;

	complete_pending(g, CHANNELMSG_GPADL_TORNDOWN, r->gpadl == g->pending.id, 0, m, len);
}

static void on_version_response(struct guest *g, const void *m, uint32_t len)
{
	complete_pending(g, CHANNELMSG_VERSION_RESPONSE, true, 0, m, len);
}

static void on_unload_response(struct guest *g, const void *m, uint32_t len)
{
	complete_pending(g, CHANNELMSG_UNLOAD_RESPONSE, true, 0, m, len);
}

static void on_modify_response(struct guest *g, const void *m, uint32_t len)
{
	complete_pending(g, CHANNELMSG_MODIFYCHANNEL_RESPONSE, true, 0, m, len);
}

struct vmbus_handler {
	void (*fn)(struct guest *g, const void *m, uint32_t len);
	uint32_t min_len; /* Linux's min_payload_len */
};

static const struct vmbus_handler vmbus_handlers[CHANNELMSG_COUNT] = {
	[CHANNELMSG_OFFERCHANNEL] = { on_offer, sizeof(struct vmbus_msg_offer_channel) },
	[CHANNELMSG_RESCIND_CHANNELOFFER] = { on_rescind, sizeof(struct vmbus_msg_rescind_offer) },
	[CHANNELMSG_ALLOFFERS_DELIVERED] = { on_all_offers, 0 },
	[CHANNELMSG_OPENCHANNEL_RESULT] = { on_open_result, sizeof(struct vmbus_msg_open_result) },
	[CHANNELMSG_GPADL_CREATED] = { on_gpadl_created, sizeof(struct vmbus_msg_gpadl_created) },
	[CHANNELMSG_GPADL_TORNDOWN] = { on_gpadl_torndown, sizeof(struct vmbus_msg_gpadl_torndown) },
	[CHANNELMSG_VERSION_RESPONSE] = { on_version_response, sizeof(struct vmbus_msg_version_response) },
	[CHANNELMSG_UNLOAD_RESPONSE] = { on_unload_response, 0 },
	[CHANNELMSG_MODIFYCHANNEL_RESPONSE] = { on_modify_response,
						sizeof(struct vmbus_msg_modify_channel_response) },
};

/* The "message" event of --raw-messages: the bytes, plus the name and the
 * answer's relid and status where the type has them, so that a test of a
 * hostile request can check the refusal without decoding hex. */
static void vmbus_report_message(struct guest *g, const struct hv_message *m, uint32_t msgtype,
				 uint32_t len)
{
	uint8_t p[HV_MESSAGE_PAYLOAD_MAX] = { 0 };
	/* payload_size is the host's word (a u8): never read past the slot. */
	char *hex = guest_hex(m->payload, MIN(len, HV_MESSAGE_PAYLOAD_MAX));
	json_t *ev = json_pack("{s:s, s:i, s:s, s:i, s:i, s:s}", "event", "message", "msgtype",
			       (json_int_t)msgtype, "name",
			       msgtype < CHANNELMSG_COUNT ? msg_names[msgtype] : "?", "message_type",
			       (json_int_t)m->header.message_type, "size", (json_int_t)len, "hex",
			       hex ? hex : "");
	/* Where child_relid and the status word sit in each reply. */
	static const struct { uint32_t type; size_t relid_off, status_off; } fields[] = {
		{ CHANNELMSG_OPENCHANNEL_RESULT, offsetof(struct vmbus_msg_open_result, child_relid),
		  offsetof(struct vmbus_msg_open_result, status) },
		{ CHANNELMSG_GPADL_CREATED, offsetof(struct vmbus_msg_gpadl_created, child_relid),
		  offsetof(struct vmbus_msg_gpadl_created, creation_status) },
		{ CHANNELMSG_MODIFYCHANNEL_RESPONSE,
		  offsetof(struct vmbus_msg_modify_channel_response, child_relid),
		  offsetof(struct vmbus_msg_modify_channel_response, status) },
	};
	uint32_t v;

	free(hex);
	memcpy(p, m->payload, MIN(len, HV_MESSAGE_PAYLOAD_MAX));
	for (size_t i = 0; ev && i < ARRAY_SIZE(fields); i++) {
		if (fields[i].type != msgtype)
			continue;
		memcpy(&v, p + fields[i].relid_off, 4);
		json_object_set_new(ev, "relid", json_integer(v));
		memcpy(&v, p + fields[i].status_off, 4);
		json_object_set_new(ev, "status", json_integer(v));
	}
	if (ev && msgtype == CHANNELMSG_VERSION_RESPONSE)
		json_object_set_new(ev, "supported", json_boolean(
			p[offsetof(struct vmbus_msg_version_response, version_supported)] != 0));
	guest_emit(g, ev);
}

static void vmbus_dispatch(struct guest *g, const struct hv_message *m)
{
	uint32_t len = m->header.payload_size;
	struct vmbus_msg_header hdr;

	memcpy(&hdr, m->payload, sizeof(hdr));
	if (g->opts.raw_messages)
		vmbus_report_message(g, m, hdr.msgtype, len);
	/* vmbus_on_msg_dpc: unknown types and short payloads are dropped. */
	if (hdr.msgtype >= CHANNELMSG_COUNT) {
		guest_error(g, "message", "unknown msgtype %u dropped", hdr.msgtype);
		return;
	}
	if (!vmbus_handlers[hdr.msgtype].fn) {
		guest_error(g, "message", "%s is not a host-to-guest message; dropped",
			    msg_names[hdr.msgtype]);
		return;
	}
	if (len < vmbus_handlers[hdr.msgtype].min_len) {
		guest_error(g, "message", "%s with payload_size %u < %u dropped", msg_names[hdr.msgtype],
			    len, vmbus_handlers[hdr.msgtype].min_len);
		return;
	}
	vmbus_handlers[hdr.msgtype].fn(g, m->payload, len);
}

void guest_vmbus_channel_event(struct guest *g, uint32_t relid, uint32_t vcpu)
{
	struct guest_channel *ch = relid <= VMBUS_MAX_RELID ? g->chan[relid] : NULL;

	if (!ch || !ch->open)
		return; /* Linux ignores events for unknown or closed channels */
	ch->n_events++;
	/* Nothing new since our last read, and no callback pending that could
	 * have taken it: the host interrupted for nothing (harmless for
	 * Linux, which finds the ring empty; reported for fault tests). */
	if (!ch->event_pending && !ch->in.broken && guest_ring_bytes_to_read(&ch->in) == 0) {
		ch->n_spurious++;
		guest_emit(g, json_pack("{s:s, s:i, s:s}", "event", "spurious_interrupt", "relid",
					(json_int_t)relid, "device", ch->device));
	}
	ch->event_pending = true;
}

void guest_vmbus_process(struct guest *g)
{
	struct hv_message m;

	while (guest_cpu_pop_message(g, &m))
		vmbus_dispatch(g, &m);
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct guest_channel *ch = g->chan[relid];

		if (!ch)
			continue;
		if (ch->rescinded && !g->pending.want && !g->att.dead) {
			vmbus_release_rescinded(g, ch);
			continue;
		}
		if (ch->event_pending && ch->open && ch->on_event) {
			ch->event_pending = false;
			ch->on_event(g, ch);
		}
	}
}
