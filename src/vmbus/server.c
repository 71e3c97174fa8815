/* SPDX-License-Identifier: MIT */
/*
 * VMBus channel server: connection state, version negotiation, message
 * dispatch and host->guest message delivery (facts §5).
 *
 * Guest messages arrive by HvPostMessage on connection id 1 (every version)
 * or 4 (INITIATE_CONTACT from 5.0 on).  Each is copied out of guest memory,
 * then dispatched through a table of {handler, minimum length, states}; the
 * length and state are checked before the handler runs.  A message that is
 * short, unknown, host->guest only or in the wrong state is counted, logged
 * (rate-limited) and dropped; every other channel keeps being served.
 *
 * Host->guest messages go to VP target_vcpu of the accepted INITIATE_CONTACT
 * on SINT 2.  When the SynIC's own queue is full (-ENOSPC) they wait here, in
 * order, and are retried on the next guest message or a short timer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/trace.h"
#include "core/util.h"
#include "vmbus/vmbus_internal.h"

#define VMBUS_OUTQ_RETRY_US 1000

/* Every version we can speak, highest first (facts §5.1). */
static const uint32_t vmbus_versions[] = {
	VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V5_2, VMBUS_VERSION_WIN10_V5_1,
	VMBUS_VERSION_WIN10_V5,   VMBUS_VERSION_WIN10_V4_1, VMBUS_VERSION_WIN10,
	VMBUS_VERSION_WIN8_1,     VMBUS_VERSION_WIN8,       VMBUS_VERSION_WIN7,
	VMBUS_VERSION_WS2008,
};

/* ---- host -> guest messages ------------------------------------------- */

static int vmbus_post_now(struct vmbus_server *srv, const void *msg, uint32_t size)
{
	int ret = synic_post_message(srv->hv, srv->target_vcpu, VMBUS_MESSAGE_SINT, HVMSG_VMBUS,
				     msg, size);

	if (ret == 0) {
		srv->stats.messages_sent++;
	}
	return ret;
}

static void vmbus_outq_arm(struct vmbus_server *srv)
{
	struct timeval tv = { 0, VMBUS_OUTQ_RETRY_US };

	if (srv->outq_ev && !evtimer_pending(srv->outq_ev, NULL))
		evtimer_add(srv->outq_ev, &tv);
}

void vmbus_outq_arm_us(struct vmbus_server *srv, uint64_t us)
{
	struct timeval tv = { (time_t)(us / 1000000u), (suseconds_t)(us % 1000000u) };

	if (srv->outq_ev)
		evtimer_add(srv->outq_ev, &tv);
}

static void vmbus_outq_clear(struct vmbus_server *srv)
{
	struct vmbus_outmsg *m, *next;

	for (m = srv->outq_head; m; m = next) {
		next = m->next;
		free(m);
	}
	srv->outq_head = NULL;
	srv->outq_tail = &srv->outq_head;
	srv->outq_len = 0;
	srv->outq_hold_until_ns = 0;
	if (srv->outq_ev)
		evtimer_del(srv->outq_ev);
}

int vmbus_server_flush(struct vmbus_server *srv)
{
	struct vmbus_outmsg *m;

	/* timing.delay: the queue waits as a whole (its timer is armed). */
	if (__builtin_expect(srv->outq_hold_until_ns != 0, 0)) {
		uint64_t now = now_ns();

		if (now < srv->outq_hold_until_ns) {
			/* Early (the timer's clock is not ours, or a guest
			 * message flushed): wait for the rest of the hold. */
			vmbus_outq_arm_us(srv, (srv->outq_hold_until_ns - now) / 1000u + 1);
			return (int)srv->outq_len;
		}
		srv->outq_hold_until_ns = 0;
	}
	while ((m = srv->outq_head) != NULL) {
		int ret = vmbus_post_now(srv, m->data, m->size);

		if (ret == -ENOSPC) {
			vmbus_outq_arm(srv);
			break;
		}
		if (ret < 0) {
			srv->stats.post_errors++;
			log_guest("vmbus: queued message type %u to VP %u dropped: %s",
				  *(const uint32_t *)m->data, srv->target_vcpu, strerror(-ret));
		}
		srv->outq_head = m->next;
		if (!srv->outq_head)
			srv->outq_tail = &srv->outq_head;
		srv->outq_len--;
		free(m);
	}
	return (int)srv->outq_len;
}

static void vmbus_outq_timer(evutil_socket_t fd, short what, void *opaque)
{
	vmbus_server_flush(opaque);
}

void vmbus_outq_push(struct vmbus_server *srv, const void *msg, uint32_t size)
{
	struct vmbus_outmsg *m;

	if (srv->outq_len >= VMBUS_OUTQ_MAX || !(m = calloc(1, sizeof(*m)))) {
		srv->stats.post_errors++;
		log_guest("vmbus: message queue full (guest not taking messages), type %u dropped",
			  *(const uint32_t *)msg);
		return;
	}
	memcpy(m->data, msg, size & ~SYNIC_POST_CLAIM_OVERSIZE);
	m->size = size;
	*srv->outq_tail = m;
	srv->outq_tail = &m->next;
	srv->outq_len++;
	srv->stats.post_queued++;
	vmbus_outq_arm(srv);
}

void vmbus_post_plain(struct vmbus_server *srv, const void *msg, uint32_t size)
{
	int ret;

	if ((size & ~SYNIC_POST_CLAIM_OVERSIZE) > VMBUS_MSG_MAX) {
		srv->stats.post_errors++;  /* a host bug: no message is that long */
		return;
	}
	if (!srv->outq_head) {
		ret = vmbus_post_now(srv, msg, size);
		if (ret == 0)
			return;
		if (ret != -ENOSPC) {
			/* -ENODEV: the guest's SynIC is off (it is going down). */
			srv->stats.post_errors++;
			log_guest("vmbus: message type %u to VP %u not delivered: %s",
				  *(const uint32_t *)msg, srv->target_vcpu, strerror(-ret));
			return;
		}
	}
	vmbus_outq_push(srv, msg, size);
}

void vmbus_post(struct vmbus_server *srv, const void *msg, uint32_t size)
{
	/* One branch when no message fault is armed and nothing is held. */
	if (__builtin_expect((fault_class_mask & VMBUS_FAULT_MSG_MASK) != 0, 0) &&
	    size <= VMBUS_MSG_MAX && vmbus_fault_post(srv, msg, size))
		return;
	vmbus_post_plain(srv, msg, size);
}

/* ---- negotiation, unload, hv_sock ------------------------------------- */

uint32_t vmbus_n_vcpus(const struct vmbus_server *srv)
{
	return hv_partition_vcpus(srv->hv);
}

static bool vmbus_version_known(uint32_t v)
{
	for (size_t i = 0; i < ARRAY_SIZE(vmbus_versions); i++)
		if (vmbus_versions[i] == v)
			return true;
	return false;
}

static void vmbus_handle_initiate_contact(struct vmbus_server *srv, uint32_t vp,
					  const void *msg, uint32_t size)
{
	const struct vmbus_msg_initiate_contact *ic = msg;
	struct vmbus_msg_version_response resp = {
		.header.msgtype = CHANNELMSG_VERSION_RESPONSE,
	};
	uint32_t v = ic->vmbus_version_requested;
	bool ok = vmbus_version_known(v) && v <= srv->max_version;

	if (ic->target_vcpu >= vmbus_n_vcpus(srv)) {
		/* Nowhere to answer; Linux always names CPU 0's VP. */
		srv->stats.malformed++;
		log_guest("vmbus: INITIATE_CONTACT names VP %u of %u", ic->target_vcpu,
			  vmbus_n_vcpus(srv));
		return;
	}
	if (srv->state != VMBUS_DISCONNECTED) {
		/* A new kernel (kexec, or < 3.0 which never unloads): start over. */
		srv->stats.wrong_state++;
		log_guest("vmbus: INITIATE_CONTACT while connected at %u.%u: resetting",
			  srv->version >> 16, srv->version & 0xFFFF);
		vmbus_server_drop_all(srv);
		vmbus_outq_clear(srv);
		srv->state = VMBUS_DISCONNECTED;
		srv->version = 0;
	}
	if (ok && v >= VMBUS_VERSION_WIN10_V5 && ic->msg_sint != VMBUS_MESSAGE_SINT) {
		log_guest("vmbus: version %u.%u asks for messages on SINT %u, refused", v >> 16,
			  v & 0xFFFF, ic->msg_sint);
		ok = false;
	}
	srv->target_vcpu = ic->target_vcpu;
	if (ok) {
		srv->version = v;
		srv->state = VMBUS_CONNECTED;
		resp.version_supported = 1;
		/* >= 5.0: every later message is posted on this id. */
		resp.msg_conn_id = v >= VMBUS_VERSION_WIN10_V5 ? VMBUS_MESSAGE_CONNECTION_ID : 0;
		log_info("vmbus: guest connected, version %u.%u, messages to VP %u", v >> 16,
			 v & 0xFFFF, srv->target_vcpu);
		/* Every version carries the monitor pages (facts §5.1). */
		vmbus_monitor_connect(srv, ic->monitor_page1, ic->monitor_page2);
	} else {
		srv->stats.versions_refused++;
	}
	vmbus_post(srv, &resp, sizeof(resp));
}

static void vmbus_handle_unload(struct vmbus_server *srv, uint32_t vp, const void *msg,
				uint32_t size)
{
	struct vmbus_msg_header resp = { .msgtype = CHANNELMSG_UNLOAD_RESPONSE };

	if (srv->state == VMBUS_DISCONNECTED) {
		/* Answer anyway: a guest waiting for the response must not hang. */
		srv->stats.wrong_state++;
		log_guest("vmbus: UNLOAD while disconnected");
	}
	vmbus_server_drop_all(srv);
	/* Whatever was still queued is moot; the guest waits for this. */
	vmbus_outq_clear(srv);
	srv->state = VMBUS_DISCONNECTED;
	srv->version = 0;
	srv->stats.unloads++;
	vmbus_post(srv, &resp, sizeof(resp));
}

static void vmbus_handle_tl_connect(struct vmbus_server *srv, uint32_t vp, const void *msg,
				    uint32_t size)
{
	const struct vmbus_msg_tl_connect_request *req = msg;
	struct vmbus_msg_tl_connect_result res = {
		.header.msgtype = CHANNELMSG_TL_CONNECT_RESULT,
		.guest_endpoint_id = req->guest_endpoint_id,
		.status = VMBUS_STATUS_CONN_REFUSED, /* no hv_sock services */
	};

	srv->stats.tl_connects_refused++;
	log_guest("vmbus: TL_CONNECT_REQUEST refused: no hv_sock services");
	vmbus_post(srv, &res, sizeof(res));
}

/* ---- dispatch ---------------------------------------------------------- */

#define ST_DISC (1u << VMBUS_DISCONNECTED)
#define ST_CONN (1u << VMBUS_CONNECTED)
#define ST_OFFR (1u << VMBUS_OFFERS_SENT)
#define ST_ANY  (ST_DISC | ST_CONN | ST_OFFR)
#define ST_UP   (ST_CONN | ST_OFFR)

struct vmbus_msg_entry {
	vmbus_msg_handler handler; /* NULL: host->guest only, reserved or unknown */
	uint32_t min_len;
	uint32_t states;
	const char *name;
};

static const struct vmbus_msg_entry vmbus_msg_table[CHANNELMSG_COUNT] = {
	[CHANNELMSG_REQUESTOFFERS] = { vmbus_handle_request_offers,
		sizeof(struct vmbus_msg_header), ST_CONN, "REQUESTOFFERS" },
	[CHANNELMSG_OPENCHANNEL] = { vmbus_handle_open_channel,
		sizeof(struct vmbus_msg_open_channel), ST_UP, "OPENCHANNEL" },
	[CHANNELMSG_CLOSECHANNEL] = { vmbus_handle_close_channel,
		sizeof(struct vmbus_msg_relid), ST_UP, "CLOSECHANNEL" },
	[CHANNELMSG_GPADL_HEADER] = { vmbus_handle_gpadl_header,
		sizeof(struct vmbus_msg_gpadl_header) + sizeof(struct vmbus_gpa_range), ST_UP,
		"GPADL_HEADER" },
	[CHANNELMSG_GPADL_BODY] = { vmbus_handle_gpadl_body,
		sizeof(struct vmbus_msg_gpadl_body), ST_UP, "GPADL_BODY" },
	[CHANNELMSG_GPADL_TEARDOWN] = { vmbus_handle_gpadl_teardown,
		sizeof(struct vmbus_msg_gpadl_teardown), ST_UP, "GPADL_TEARDOWN" },
	[CHANNELMSG_RELID_RELEASED] = { vmbus_handle_relid_released,
		sizeof(struct vmbus_msg_relid), ST_UP, "RELID_RELEASED" },
	[CHANNELMSG_INITIATE_CONTACT] = { vmbus_handle_initiate_contact,
		sizeof(struct vmbus_msg_initiate_contact), ST_ANY, "INITIATE_CONTACT" },
	[CHANNELMSG_UNLOAD] = { vmbus_handle_unload,
		sizeof(struct vmbus_msg_header), ST_ANY, "UNLOAD" },
	[CHANNELMSG_TL_CONNECT_REQUEST] = { vmbus_handle_tl_connect,
		sizeof(struct vmbus_msg_tl_connect_request), ST_UP, "TL_CONNECT_REQUEST" },
	[CHANNELMSG_MODIFYCHANNEL] = { vmbus_handle_modify_channel,
		sizeof(struct vmbus_msg_modify_channel), ST_UP, "MODIFYCHANNEL" },
};

static uint16_t vmbus_on_message(void *opaque, uint32_t vp, uint32_t conn_id,
				 const void *payload, uint32_t size)
{
	struct vmbus_server *srv = opaque;
	/* The payload may still be in guest memory: parse a private copy. */
	uint8_t buf[VMBUS_MSG_MAX] __attribute__((aligned(8))) = { 0 };
	const struct vmbus_msg_entry *e;
	uint32_t type;

	srv->stats.messages++;
	if (size > VMBUS_MSG_MAX || size < sizeof(struct vmbus_msg_header)) {
		srv->stats.malformed++;
		log_guest("vmbus: message of %u bytes on connection %u", size, conn_id);
		return HV_STATUS_SUCCESS;
	}
	memcpy(buf, payload, size);
	/* Earlier replies first. */
	if (srv->outq_head)
		vmbus_server_flush(srv);

	memcpy(&type, buf, sizeof(type));
	e = type < CHANNELMSG_COUNT ? &vmbus_msg_table[type] : NULL;
	if (!e || !e->handler) {
		srv->stats.malformed++;
		log_guest("vmbus: unexpected message type %u (%u bytes)", type, size);
		return HV_STATUS_SUCCESS;
	}
	if (size < e->min_len) {
		srv->stats.malformed++;
		log_guest("vmbus: %s of %u bytes (needs %u)", e->name, size, e->min_len);
		return HV_STATUS_SUCCESS;
	}
	if (!(e->states & (1u << srv->state))) {
		srv->stats.wrong_state++;
		log_guest("vmbus: %s in state %d ignored", e->name, (int)srv->state);
		return HV_STATUS_SUCCESS;
	}
	if (conn_id == VMBUS_MESSAGE_CONNECTION_ID_4 && type != CHANNELMSG_INITIATE_CONTACT)
		log_guest("vmbus: %s posted on connection 4", e->name);
	e->handler(srv, vp, buf, size);
	return HV_STATUS_SUCCESS;
}

/* ---- lifecycle ---------------------------------------------------------- */

struct vmbus_server *vmbus_server_new(struct hv_partition *hv, struct event_base *base,
				      const struct vmbus_server_config *cfg)
{
	struct vmbus_server *srv = calloc(1, sizeof(*srv));
	int ret;

	if (!srv)
		return NULL;
	srv->mon.timer_fd = -1; /* vmbus_monitor_fini() on the failure path */
	srv->hv = hv;
	srv->base = base;
	srv->max_version = cfg && cfg->max_version ? cfg->max_version : VMBUS_VERSION_WIN10_V5_3;
	srv->chan_tail = &srv->chan_head;
	srv->outq_tail = &srv->outq_head;
	if (base && !(srv->outq_ev = evtimer_new(base, vmbus_outq_timer, srv)))
		goto fail;
	if (vmbus_monitor_init(srv, cfg ? cfg->monitor_latency_us : 0,
			       cfg ? cfg->monitor_idle_us : 0) < 0)
		goto fail;
	if (cfg) {
		srv->mon.idle_watch = cfg->idle_watch;
		srv->mon.idle_opaque = cfg->idle_opaque;
	}
	ret = hv_register_message_port(hv, VMBUS_MESSAGE_CONNECTION_ID, vmbus_on_message, srv);
	if (ret < 0) {
		log_error("vmbus: message port %u: %s", VMBUS_MESSAGE_CONNECTION_ID, strerror(-ret));
		goto fail;
	}
	ret = hv_register_message_port(hv, VMBUS_MESSAGE_CONNECTION_ID_4, vmbus_on_message, srv);
	if (ret < 0) {
		log_error("vmbus: message port %u: %s", VMBUS_MESSAGE_CONNECTION_ID_4,
			  strerror(-ret));
		hv_unregister_message_port(hv, VMBUS_MESSAGE_CONNECTION_ID);
		goto fail;
	}
	return srv;
fail:
	vmbus_monitor_fini(srv);
	if (srv->outq_ev)
		event_free(srv->outq_ev);
	free(srv);
	return NULL;
}

void vmbus_server_drop_all(struct vmbus_server *srv)
{
	struct vmbus_channel *ch, *next;

	for (ch = srv->chan_head; ch; ch = ch->next)
		vmbus_chan_close(ch);
	vmbus_gpadl_drop(srv, NULL);
	vmbus_monitor_disconnect(srv);
	for (ch = srv->chan_head; ch; ch = next) {
		next = ch->next;
		if (ch->rescinded && !ch->withdrawn) {
			vmbus_chan_free(ch);
		} else {
			/* A withdrawn channel's relid is released by the reset. */
			ch->rescinded = false;
			ch->offered = false;
		}
	}
}

void vmbus_server_reset(struct vmbus_server *srv)
{
	vmbus_server_drop_all(srv);
	vmbus_outq_clear(srv);
	vmbus_fault_server_reset(srv);
	srv->state = VMBUS_DISCONNECTED;
	srv->version = 0;
	srv->target_vcpu = 0;
}

void vmbus_server_free(struct vmbus_server *srv)
{
	if (!srv)
		return;
	vmbus_server_drop_all(srv);
	while (srv->chan_head)
		vmbus_chan_free(srv->chan_head);
	vmbus_outq_clear(srv);
	vmbus_fault_server_free(srv);
	hv_unregister_message_port(srv->hv, VMBUS_MESSAGE_CONNECTION_ID);
	hv_unregister_message_port(srv->hv, VMBUS_MESSAGE_CONNECTION_ID_4);
	vmbus_monitor_fini(srv);
	if (srv->outq_ev)
		event_free(srv->outq_ev);
	free(srv);
}

uint32_t vmbus_server_version(const struct vmbus_server *srv)
{
	return srv->state == VMBUS_DISCONNECTED ? 0 : srv->version;
}

enum vmbus_conn_state vmbus_server_state(const struct vmbus_server *srv)
{
	return srv->state;
}

const struct vmbus_server_stats *vmbus_server_stats(const struct vmbus_server *srv)
{
	return &srv->stats;
}

struct event_base *vmbus_server_base(const struct vmbus_server *srv)
{
	return srv->base;
}

struct hv_partition *vmbus_server_hv(const struct vmbus_server *srv)
{
	return srv->hv;
}
