/* SPDX-License-Identifier: MIT */
/*
 * Heartbeat IC (facts §7.4): every interval_ms the host sends seq_num; the
 * guest answers with seq_num + 1.  A tick that finds the previous beat
 * still unanswered counts a miss and sends nothing (one request at a time).
 * A beat unanswered for answer_timeout_ms is given up (counted), so the
 * next tick sends a new one: a beat lost on the way (the guest never saw
 * it) does not stop heartbeats for good.  An answer after that counts as
 * the IC framework's "unexpected".
 *
 * Config: {"interval_ms": 1000 (>= 1), "answer_timeout_ms": max(10 x
 * interval, 10000)} plus the common IC keys.
 * Controls: none.
 * Stats: beats, last_seq, misses, unanswered, failed (guest status not OK)
 * and the framework's counters.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/device.h"
#include "devices/ic/ic_internal.h"
#include "devices/registry.h"

#define HEARTBEAT_DEFAULT_INTERVAL_MS 1000u
#define HEARTBEAT_MAX_INTERVAL_MS     3600000u
#define HEARTBEAT_MIN_ANSWER_TIMEOUT_MS 10000u  /* the default's floor */

static const struct ic_version heartbeat_versions[] = { { 3, 0 }, { 1, 0 } };

/* Reported beside the framework's counters (core/stats.h). */
#define HEARTBEAT_STATS(X)                                         \
	X(beats, "correct echoes")                                 \
	X(last_seq, "last seq_num the guest returned (a value)")   \
	X(misses, "ticks with the previous beat unanswered")       \
	X(unanswered, "beats given up after answer_timeout_ms")    \
	X(failed, "answers with a failure status")

struct heartbeat {
	struct ic_dev ic;
	struct event *tick;
	uint32_t interval_ms;
	uint32_t answer_timeout_ms;
	uint64_t next_seq;
	uint64_t sent_seq;
	bool outstanding;
	STATS_FIELDS(HEARTBEAT_STATS)
};

/* ---- Messages ------------------------------------------------------------- */

void heartbeat_build_body(struct heartbeat_msg_data *out, uint64_t seq)
{
	memset(out, 0, sizeof(*out));
	out->seq_num = seq;
}

/* Only seq_num must be there: Linux itself checks just 28 + 8 bytes, as
 * the reserved words need not be sent (hv_util.c). */
int heartbeat_parse_reply(const uint8_t *body, size_t len, uint64_t *seq_out)
{
	uint64_t seq;

	if (len < sizeof(seq))
		return -EBADMSG;
	memcpy(&seq, body, sizeof(seq));
	*seq_out = seq;
	return 0;
}

/* ---- Handlers --------------------------------------------------------------- */

static void heartbeat_reply(struct ic_dev *ic, void *arg, int err, const struct ic_reply *reply)
{
	struct heartbeat *hb = ic->owner;
	uint64_t seq;

	hb->outstanding = false;
	if (err == -ETIMEDOUT)
		hb->unanswered++; /* the next tick sends a new beat */
	if (err)
		return; /* closed or timed out; the ticks count the misses */
	if (reply->hdr.status != HV_S_OK) {
		hb->failed++;
		log_guest("heartbeat: status 0x%08x", reply->hdr.status);
		return;
	}
	if (heartbeat_parse_reply(reply->body, reply->body_len, &seq)) {
		ic_bad_body(ic, "short heartbeat response");
		return;
	}
	if (seq != hb->sent_seq + 1) {
		ic_bad_body(ic, "heartbeat echo is not seq_num + 1");
		return;
	}
	hb->beats++;
	hb->last_seq = seq;
}

static void heartbeat_send(struct heartbeat *hb)
{
	struct heartbeat_msg_data d;
	int rc;

	if (hb->outstanding) {
		hb->misses++;
		return;
	}
	heartbeat_build_body(&d, hb->next_seq);
	rc = ic_submit(&hb->ic, &d, sizeof(d), hb->answer_timeout_ms, heartbeat_reply, NULL);
	if (rc) {
		log_debug("heartbeat: not sent: %s", strerror(-rc));
		return;
	}
	hb->sent_seq = hb->next_seq++;
	hb->outstanding = true;
}

static void heartbeat_tick(evutil_socket_t fd, short what, void *arg)
{
	heartbeat_send(arg);
}

/* ---- Lifecycle ---------------------------------------------------------------- */

static void heartbeat_ready(struct ic_dev *ic)
{
	struct heartbeat *hb = ic->owner;
	struct timeval tv = { .tv_sec = hb->interval_ms / 1000,
			      .tv_usec = (hb->interval_ms % 1000) * 1000 };

	heartbeat_send(hb);
	evtimer_add(hb->tick, &tv);
}

static void heartbeat_down(struct ic_dev *ic)
{
	struct heartbeat *hb = ic->owner;

	if (hb->tick)
		evtimer_del(hb->tick);
	hb->outstanding = false;
}

static const struct ic_service heartbeat_service = {
	.name = "heartbeat",
	.class_guid = IC_HEARTBEAT_CLASS_GUID_STR,
	.default_instance = "fd149e91-82e0-4a7d-afa6-2a4166cbd7c0",
	.msgtype = ICMSGTYPE_HEARTBEAT,
	.max_pkt_size = 4096,
	.versions = heartbeat_versions,
	.n_versions = ARRAY_SIZE(heartbeat_versions),
	.ready = heartbeat_ready,
	.down = heartbeat_down,
};

static void heartbeat_destroy(void *dev)
{
	struct heartbeat *hb = dev;

	if (!hb)
		return;
	ic_destroy(&hb->ic);
	if (hb->tick)
		event_free(hb->tick);
	free(hb);
}

static int heartbeat_create(struct vmbus_server *srv, const json_t *config, const char *path,
			    void **dev, struct json_err *err)
{
	static const char *const keys[] = { IC_COMMON_KEYS, "interval_ms", "answer_timeout_ms", NULL };
	uint64_t interval = HEARTBEAT_DEFAULT_INTERVAL_MS, answer;
	struct heartbeat *hb;
	int rc;

	rc = json_check_keys(config, path, keys, err);
	if (!rc)
		rc = json_get_u64(config, path, "interval_ms", false, 1, HEARTBEAT_MAX_INTERVAL_MS,
				  &interval, err);
	/* Long enough that a slow guest (TCG, a loaded machine) answers in
	 * time; an answer after it would count as unexpected. */
	answer = MAX(10 * interval, HEARTBEAT_MIN_ANSWER_TIMEOUT_MS);
	if (!rc)
		rc = json_get_u64(config, path, "answer_timeout_ms", false, 1,
				  10ull * HEARTBEAT_MAX_INTERVAL_MS, &answer, err);
	if (rc)
		return rc;
	hb = calloc(1, sizeof(*hb));
	if (!hb)
		return json_fail(err, path, NULL, "out of memory");
	hb->interval_ms = (uint32_t)interval;
	hb->answer_timeout_ms = (uint32_t)answer;
	hb->next_seq = 1;
	hb->tick = event_new(vmbus_server_base(srv), -1, EV_PERSIST, heartbeat_tick, hb);
	if (!hb->tick) {
		free(hb);
		return json_fail(err, path, NULL, "out of memory");
	}
	rc = ic_create(&hb->ic, &heartbeat_service, hb, srv, config, path, err);
	if (rc) {
		event_free(hb->tick);
		free(hb);
		return rc;
	}
	*dev = hb;
	return 0;
}

static int heartbeat_control(void *dev, const char *verb, const json_t *args,
			     device_control_done done, void *cookie, struct json_err *err)
{
	return -ENOTSUP;
}

STATS_DEFINE_STATIC(heartbeat_counters, struct heartbeat, HEARTBEAT_STATS)

static json_t *heartbeat_stats(void *dev)
{
	struct heartbeat *hb = dev;
	json_t *o = ic_stats_json(&hb->ic);

	if (!o)
		return NULL;
	json_object_set_new(o, "interval_ms", json_integer(hb->interval_ms));
	return heartbeat_counters_json(hb, o);
}

const struct vmbus_device_ops heartbeat_ops = {
	.name = "heartbeat",
	.class_guid = IC_HEARTBEAT_CLASS_GUID_STR,
	.guest_driver = "hv_utils",
	.description = "Hyper-V heartbeat integration component",
	.create = heartbeat_create,
	.destroy = heartbeat_destroy,
	.control = heartbeat_control,
	.stats = heartbeat_stats,
};
