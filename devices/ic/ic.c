/* SPDX-License-Identifier: MIT */
/*
 * The integration-component framework (see ic.h): the util channel, the
 * host-initiated NEGOTIATE, one outstanding transaction per channel with a
 * bounded queue, response matching, and the helpers the services share.
 * The framing itself is in icmsg.c (pure functions).
 */
#include "devices/ic/ic_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guid.h"
#include "core/log.h"
#include "core/util.h"

const struct ic_version ic_fw_versions[2] = { { 3, 0 }, { 1, 0 } };

struct ic_request {
	struct ic_request *next;
	uint16_t msgtype;
	uint64_t trans_id;     /* VMBus trans_id the guest echoes */
	uint32_t timeout_ms;   /* 0 = none */
	uint64_t deadline_ns;  /* while queued: submission + timeout (0 = none) */
	ic_reply_fn fn;
	void *arg;
	size_t body_len;
	uint8_t msg[];         /* 28-byte headers, then the body */
};

const char *ic_status_name(uint32_t status)
{
	switch (status) {
	case HV_S_OK: return "HV_S_OK";
	case HV_E_FAIL: return "HV_E_FAIL";
	case HV_S_CONT: return "HV_S_CONT";
	case HV_ERROR_NOT_SUPPORTED: return "HV_ERROR_NOT_SUPPORTED";
	case HV_ERROR_MACHINE_LOCKED: return "HV_ERROR_MACHINE_LOCKED";
	case HV_ERROR_DEVICE_NOT_CONNECTED: return "HV_ERROR_DEVICE_NOT_CONNECTED";
	case HV_INVALIDARG: return "HV_INVALIDARG";
	case HV_GUID_NOTFOUND: return "HV_GUID_NOTFOUND";
	case HV_ERROR_ALREADY_EXISTS: return "HV_ERROR_ALREADY_EXISTS";
	case HV_ERROR_DISK_FULL: return "HV_ERROR_DISK_FULL";
	default: return "unknown";
	}
}

int ic_status_errno(uint32_t status)
{
	return status == HV_S_OK ? 0 : -EIO;
}

json_t *ic_status_json(uint32_t status)
{
	return json_pack("{s:I, s:s}", "status", (json_int_t)status, "status_name",
			 ic_status_name(status));
}

struct ic_call *ic_call_new(device_control_done done, void *cookie)
{
	struct ic_call *call = calloc(1, sizeof(*call));

	if (call) {
		call->done = done;
		call->cookie = cookie;
	}
	return call;
}

void ic_call_finish(struct ic_call *call, int status, json_t *result)
{
	if (call->done)
		call->done(call->cookie, status, result);
	else
		json_decref(result);
	free(call);
}

void ic_call_finish_reply(struct ic_call *call, int err, const struct ic_reply *reply)
{
	if (err)
		ic_call_finish(call, err, NULL);
	else
		ic_call_finish(call, ic_status_errno(reply->hdr.status),
			       ic_status_json(reply->hdr.status));
}

int ic_submit_error(struct json_err *err, const char *verb, int rc)
{
	const char *why;

	switch (rc) {
	case -ENOTCONN: why = "the guest has not opened the channel"; break;
	case -EPROTO: why = "version negotiation with the guest failed"; break;
	case -EBUSY: why = "too many requests queued"; break;
	case -EMSGSIZE: why = "message too large for the channel"; break;
	default: why = strerror(-rc); break;
	}
	json_fail(err, NULL, verb, "%s", why);
	return rc;
}

/* ---- Request queue -------------------------------------------------------- */

static void ic_schedule(struct ic_dev *ic)
{
	if (ic->kick)
		event_active(ic->kick, EV_TIMEOUT, 1);
}

static void ic_finish(struct ic_dev *ic, struct ic_request *req, int err,
		      const struct ic_reply *reply)
{
	if (req->fn)
		req->fn(ic, req->arg, err, reply);
	free(req);
}

/* Completes the outstanding request and every queued one with `err`. */
static void ic_flush(struct ic_dev *ic, int err)
{
	struct ic_request *req = ic->cur, *list = ic->head;

	ic->cur = NULL;
	ic->cur_sent = false;
	ic->head = ic->tail = NULL;
	ic->queued = 0;
	if (ic->timer)
		evtimer_del(ic->timer);
	if (req) {
		ic->stats.cancelled++;
		ic_finish(ic, req, err, NULL);
	}
	while (list) {
		struct ic_request *next = list->next;

		ic->stats.cancelled++;
		ic_finish(ic, list, err, NULL);
		list = next;
	}
}

static struct ic_request *ic_request_new(uint16_t msgtype, const void *body, size_t body_len,
					 uint32_t timeout_ms, ic_reply_fn fn, void *arg)
{
	struct ic_request *req = calloc(1, sizeof(*req) + ICMSG_BODY_OFFSET + body_len);

	if (!req)
		return NULL;
	req->msgtype = msgtype;
	req->timeout_ms = timeout_ms;
	req->fn = fn;
	req->arg = arg;
	req->body_len = body_len;
	memcpy(req->msg + ICMSG_BODY_OFFSET, body, body_len);
	return req;
}

/* Sends the outstanding request if it has not gone out, else starts the
 * next queued one (only once negotiated). */
static void ic_pump(struct ic_dev *ic)
{
	struct ic_request *req;
	struct ic_version fw = ic->fw_ver, svc = ic->svc_ver;
	int rc;

	if (ic->state == IC_CLOSED || ic->state == IC_FAILED)
		return;
	if (!ic->cur) {
		if (ic->state != IC_READY || !ic->head)
			return;
		ic->cur = ic->head;
		ic->head = ic->head->next;
		if (!ic->head)
			ic->tail = NULL;
		ic->queued--;
		ic->cur->next = NULL;
		ic->cur_sent = false;
	}
	if (ic->cur_sent)
		return;
	req = ic->cur;
	if (req->msgtype == ICMSGTYPE_NEGOTIATE)
		fw = svc = ic_ver(1, 0);
	if (req->trans_id == 0)
		req->trans_id = ic->next_trans_id++;
	icmsg_build_header(req->msg, ICMSG_BODY_OFFSET + req->body_len, req->msgtype, fw, svc,
			   req->body_len, ic->next_xid++);
	rc = vmbus_chan_send_inband(ic->chan, req->trans_id, 0, req->msg,
				    ICMSG_BODY_OFFSET + req->body_len);
	if (rc == -EAGAIN) {
		/* The ring is full: vmbus set pending_send_sz, so the guest
		 * signals once it has read; notify retries. */
		ic->stats.send_retries++;
		return;
	}
	if (rc < 0) {
		ic->stats.send_errors++;
		log_warn("%s: send failed: %s", ic->svc->name, strerror(-rc));
		ic->cur = NULL;
		ic_finish(ic, req, rc, NULL);
		ic_schedule(ic);
		return;
	}
	ic->cur_sent = true;
	ic->stats.requests_sent++;
	if (req->timeout_ms) {
		struct timeval tv = { .tv_sec = req->timeout_ms / 1000,
				      .tv_usec = (req->timeout_ms % 1000) * 1000 };
		evtimer_add(ic->timer, &tv);
	}
}

static void ic_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	ic_pump(arg);
}

static void ic_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ic_dev *ic = arg;
	struct ic_request *req = ic->cur;

	if (!req || !ic->cur_sent)
		return;
	ic->stats.timeouts++;
	log_warn("%s: the guest did not answer %s within %u ms", ic->svc->name,
		 req->msgtype == ICMSGTYPE_NEGOTIATE ? "NEGOTIATE" : "a request", req->timeout_ms);
	ic->cur = NULL;
	ic->cur_sent = false;
	ic_finish(ic, req, -ETIMEDOUT, NULL);
	ic_schedule(ic);
}

/* A request's timeout counts from its submission: one queued behind a
 * NEGOTIATE the guest never answers (Linux KVP without hv_kvp_daemon,
 * facts §7.2) fails with -ETIMEDOUT instead of waiting for ever. */
static void ic_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ic_dev *ic = arg;
	struct ic_request **pp = &ic->head, *expired = NULL, **ep = &expired;
	uint64_t now = now_ns();

	while (*pp) {
		struct ic_request *req = *pp;

		if (req->deadline_ns && now >= req->deadline_ns) {
			*pp = req->next;
			if (ic->tail == req)
				ic->tail = NULL;
			ic->queued--;
			req->next = NULL;
			*ep = req;
			ep = &req->next;
		} else {
			pp = &req->next;
		}
	}
	/* Re-find the tail after removals from anywhere in the list. */
	for (ic->tail = ic->head; ic->tail && ic->tail->next; ic->tail = ic->tail->next)
		;
	while (expired) {
		struct ic_request *next = expired->next;

		ic->stats.timeouts++;
		log_warn("%s: the guest did not become ready within %u ms (state %s): request failed",
			 ic->svc->name, expired->timeout_ms,
			 ic->state == IC_NEGOTIATING ? "negotiating" : "closed");
		ic_finish(ic, expired, -ETIMEDOUT, NULL);
		expired = next;
	}
	if (!ic->head)
		evtimer_del(ic->sweep);
}

int ic_submit(struct ic_dev *ic, const void *body, size_t body_len, uint32_t timeout_ms,
	      ic_reply_fn fn, void *arg)
{
	struct ic_request *req;

	if (ic->state == IC_CLOSED)
		return -ENOTCONN;
	if (ic->state == IC_FAILED)
		return -EPROTO;
	/* 16-byte descriptor, headers, body, padded to 8 (facts §6.4). */
	if (body_len > UINT16_MAX ||
	    ALIGN_UP(16 + ICMSG_BODY_OFFSET + body_len, 8) > ic->svc->max_pkt_size)
		return -EMSGSIZE;
	if (ic->queued >= IC_QUEUE_MAX) {
		ic->stats.queue_full++;
		return -EBUSY;
	}
	req = ic_request_new(ic->svc->msgtype, body, body_len,
			     timeout_ms ? timeout_ms : ic->timeout_ms, fn, arg);
	if (!req)
		return -ENOMEM;
	if (ic->tail)
		ic->tail->next = req;
	else
		ic->head = req;
	ic->tail = req;
	ic->queued++;
	if (req->timeout_ms) {
		static const struct timeval sweep_period = { 0, 250000 };

		req->deadline_ns = now_ns() + (uint64_t)req->timeout_ms * 1000000ull;
		if (!evtimer_pending(ic->sweep, NULL))
			evtimer_add(ic->sweep, &sweep_period);
	}
	ic_schedule(ic); /* deferred: fn never runs before we return */
	return 0;
}

bool ic_busy(const struct ic_dev *ic)
{
	return ic->cur || ic->head;
}

/* ---- Guest packets -------------------------------------------------------- */

static void ic_negotiated(struct ic_dev *ic, void *arg, int err, const struct ic_reply *reply)
{
	struct ic_version fw, svc;
	int rc;

	if (err)
		return; /* closed or timed out: the guest may still answer later */
	rc = icmsg_parse_negotiate(reply->body, reply->body_len, ic_fw_versions,
				   ARRAY_SIZE(ic_fw_versions), ic->svc->versions, ic->svc->n_versions,
				   &fw, &svc);
	ic->stats.negotiations++;
	if (rc == -EBADMSG) {
		ic_bad_body(ic, "malformed NEGOTIATE response");
	} else if (rc) {
		ic->stats.negotiate_refused++;
		log_guest("%s: negotiation failed (%s)", ic->svc->name,
			  rc == -ENOTSUP ? "no common version" : "chose a version not offered");
	}
	if (rc) {
		ic->state = IC_FAILED;
		ic_flush(ic, -EPROTO);
		return;
	}
	ic->fw_ver = fw;
	ic->svc_ver = svc;
	ic->state = IC_READY;
	log_info("%s: ready, framework %u.%u, service %u.%u", ic->svc->name, fw.major, fw.minor,
		 svc.major, svc.minor);
	if (ic->svc->ready)
		ic->svc->ready(ic);
}

void ic_bad_body(struct ic_dev *ic, const char *why)
{
	ic->stats.bad_body++;
	log_guest("%s: %s", ic->svc->name, why);
}

static void ic_handle_packet(struct ic_dev *ic, const struct vmbus_pkt *pkt)
{
	struct ic_reply reply;
	struct ic_request *req = ic->cur;
	int rc;

	if (pkt->type != VM_PKT_DATA_INBAND) {
		ic->stats.not_inband++;
		log_guest("%s: packet type %u ignored", ic->svc->name, pkt->type);
		return;
	}
	rc = icmsg_parse_reply(pkt->data, pkt->data_len, &reply);
	if (rc == -EBADMSG && pkt->data_len < ICMSG_BODY_OFFSET) {
		ic->stats.too_short++;
		log_guest("%s: %u-byte packet ignored", ic->svc->name, pkt->data_len);
		return;
	}
	if (rc == -EBADMSG) {
		ic->stats.bad_size++;
		log_guest("%s: icmsgsize %u exceeds the packet", ic->svc->name, reply.hdr.icmsgsize);
		return;
	}
	if (rc || !req || !ic->cur_sent || pkt->trans_id != req->trans_id ||
	    reply.hdr.icmsgtype != req->msgtype) {
		ic->stats.unexpected++;
		log_guest("%s: unexpected packet (type %u, flags 0x%x, trans_id %llu)", ic->svc->name,
			  reply.hdr.icmsgtype, reply.hdr.icflags, (unsigned long long)pkt->trans_id);
		return;
	}
	ic->stats.responses++;
	evtimer_del(ic->timer);
	ic->cur = NULL;
	ic->cur_sent = false;
	ic_finish(ic, req, 0, &reply);
	ic_schedule(ic);
}

/* ---- Channel callbacks ----------------------------------------------------- */

static int ic_chan_open(struct vmbus_channel *ch)
{
	struct ic_dev *ic = vmbus_chan_priv(ch);
	uint8_t body[sizeof(struct icmsg_negotiate) + 2 * IC_MAX_VERSIONS * sizeof(struct ic_version)];
	int len;

	ic_flush(ic, -ECONNRESET); /* nothing should be left; be sure */
	len = icmsg_build_negotiate(body, sizeof(body), ic_fw_versions, ARRAY_SIZE(ic_fw_versions),
				    ic->svc->versions, ic->svc->n_versions);
	if (len < 0)
		return 1;
	/* No timeout: Linux KVP answers only once hv_kvp_daemon registered
	 * (facts §7.2), which may take 55 s or never happen. */
	ic->cur = ic_request_new(ICMSGTYPE_NEGOTIATE, body, (size_t)len, 0, ic_negotiated, NULL);
	if (!ic->cur)
		return 1;
	ic->cur_sent = false;
	ic->state = IC_NEGOTIATING;
	/* Deferred so that OPENCHANNEL_RESULT reaches the guest first. */
	ic_schedule(ic);
	return 0;
}

static void ic_chan_notify(struct vmbus_channel *ch)
{
	struct ic_dev *ic = vmbus_chan_priv(ch);
	struct vmbus_pkt pkt;

	/* Drain until empty, a budget at a time: the guest signals only on
	 * empty -> non-empty (facts §6.5), so a ring left non-empty must be
	 * come back to by ourselves. */
	for (int n = 0; ic->state != IC_CLOSED; n++) {
		if (n == VMBUS_NOTIFY_BUDGET) {
			vmbus_chan_notify_later(ch);
			break;
		}
		if (vmbus_chan_recv(ch, &pkt) != 1)
			break;
		ic_handle_packet(ic, &pkt);
	}
	ic_pump(ic); /* retry a send that found the ring full */
}

static void ic_chan_close(struct vmbus_channel *ch)
{
	struct ic_dev *ic = vmbus_chan_priv(ch);

	ic->state = IC_CLOSED;
	ic_flush(ic, -ECONNRESET);
	if (ic->svc->down)
		ic->svc->down(ic);
}

static const struct vmbus_channel_ops ic_channel_ops = {
	.open = ic_chan_open,
	.notify = ic_chan_notify,
	.close = ic_chan_close,
};

/* ---- Lifecycle -------------------------------------------------------------- */

int ic_create(struct ic_dev *ic, const struct ic_service *svc, void *owner,
	      struct vmbus_server *srv, const json_t *config, const char *path,
	      struct json_err *err)
{
	struct vmbus_offer_params p;
	uint64_t timeout = IC_DEFAULT_TIMEOUT_MS;
	int rc;

	memset(ic, 0, sizeof(*ic));
	ic->svc = svc;
	ic->owner = owner;
	ic->srv = srv;
	ic->next_trans_id = 1;
	memset(&p, 0, sizeof(p));
	if (guid_parse(svc->class_guid, &p.if_type) || guid_parse(svc->default_instance, &p.if_instance))
		return json_fail(err, path, NULL, "internal: bad GUID for %s", svc->name);
	rc = json_get_guid(config, path, "instance", false, &p.if_instance, err);
	if (!rc)
		rc = json_get_u64(config, path, "timeout_ms", false, 0, 3600000, &timeout, err);
	if (rc)
		return rc;
	ic->timeout_ms = (uint32_t)timeout;
	ic->kick = event_new(vmbus_server_base(srv), -1, 0, ic_kick_cb, ic);
	ic->timer = evtimer_new(vmbus_server_base(srv), ic_timeout_cb, ic);
	ic->sweep = event_new(vmbus_server_base(srv), -1, EV_PERSIST, ic_sweep_cb, ic);
	if (!ic->kick || !ic->timer || !ic->sweep) {
		ic_destroy(ic);
		return json_fail(err, path, NULL, "out of memory");
	}
	p.max_pkt_size = svc->max_pkt_size;
	p.signal_every_packet = true; /* Linux util callbacks read one packet per interrupt */
	ic->chan = vmbus_offer(srv, &p, &ic_channel_ops, ic);
	if (!ic->chan) {
		int e = errno;

		ic_destroy(ic);
		return json_fail(err, path, "instance", "%s", vmbus_offer_strerror(e));
	}
	return 0;
}

void ic_destroy(struct ic_dev *ic)
{
	if (ic->chan)
		vmbus_rescind(ic->chan); /* closes it (ic_chan_close) when open */
	ic->chan = NULL;
	ic->state = IC_CLOSED;
	ic_flush(ic, -ECONNRESET);
	if (ic->kick)
		event_free(ic->kick);
	if (ic->timer)
		event_free(ic->timer);
	if (ic->sweep)
		event_free(ic->sweep);
	ic->kick = ic->timer = ic->sweep = NULL;
}

STATS_DEFINE_STATIC(ic_counters, struct ic_stats, IC_STATS)
STATS_DEFINE_STATIC(ic_malformed, struct ic_stats, IC_MALFORMED_STATS)

json_t *ic_stats_json(const struct ic_dev *ic)
{
	static const char *const names[] = { "closed", "negotiating", "ready", "failed" };
	const struct ic_stats *s = &ic->stats;
	char fw[16] = "", svc[16] = "";
	const struct stats_field *f;
	json_t *o, *m;
	size_t n;

	if (ic->state == IC_READY) {
		snprintf(fw, sizeof(fw), "%u.%u", ic->fw_ver.major, ic->fw_ver.minor);
		snprintf(svc, sizeof(svc), "%u.%u", ic->svc_ver.major, ic->svc_ver.minor);
	}
	o = json_pack("{s:s, s:s, s:s, s:I}", "state", names[ic->state], "framework_version", fw,
		      "service_version", svc, "queued", (json_int_t)ic->queued);
	if (!o || !ic_counters_json(s, o))
		goto nomem;
	f = ic_malformed_fields(&n);
	m = json_pack("{s:I}", "total", (json_int_t)stats_total(s, f, n));
	if (!m || json_object_set_new(o, "malformed", m) < 0 || !ic_malformed_json(s, m))
		goto nomem;
	return o;
nomem:
	json_decref(o);
	return NULL;
}
