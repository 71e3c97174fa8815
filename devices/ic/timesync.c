/* SPDX-License-Identifier: MIT */
/*
 * Time-sync IC (facts §7.4): the host's UTC time in 100 ns ticks since
 * 1601.  Service 4.0 carries the partition reference counter sampled with
 * it (ictimesync_ref_data), so Linux can add the delay between sampling
 * and processing; older versions carry no reference (ictimesync_data).
 * SYNC (flag 1) makes Linux step its clock; SAMPLE (flag 2) only feeds the
 * hyperv PTP clock.
 *
 * Config: {"interval_ms": 5000 (0 = samples only on request)} plus the
 * common IC keys.
 * Control "sync" {} -> sends SYNC now; done(0, {"status": 0, ...,
 *   "parenttime": ticks}) when the guest acknowledged.  -ENOTCONN until
 *   negotiated (the body depends on the negotiated version).
 * Control "sample" {} -> the same with SAMPLE.
 * Stats: syncs, samples, acks, failed, skipped, interval_ms and the
 * framework's counters.
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
#include "hv/hv.h"

#define TIMESYNC_DEFAULT_INTERVAL_MS 5000u
#define TIMESYNC_MAX_INTERVAL_MS     3600000u

static const struct ic_version timesync_versions[] = { { 4, 0 }, { 3, 0 }, { 1, 0 } };

/* Reported beside the framework's counters (core/stats.h). */
#define TIMESYNC_STATS(X)                                                      \
	X(syncs, "SYNC messages sent")                                         \
	X(samples, "SAMPLE messages sent")                                     \
	X(acks, "answered HV_S_OK")                                            \
	X(failed, "answered with a failure status")                            \
	X(skipped, "periodic samples skipped: previous one unanswered")        \
	X(last_parenttime, "parenttime of the last message sent (a value)")

struct timesync {
	struct ic_dev ic;
	struct event *tick;
	uint32_t interval_ms;
	STATS_FIELDS(TIMESYNC_STATS)
};

struct timesync_call {
	struct ic_call *call;  /* NULL for periodic samples */
	uint64_t parenttime;
};

/* ---- Messages ------------------------------------------------------------- */

uint64_t timesync_parenttime(uint64_t unix_ns)
{
	return unix_ns / 100 + WLTIMEDELTA;
}

size_t timesync_build_body(uint8_t *buf, size_t cap, struct ic_version svc, uint64_t parenttime,
			   uint64_t reftime, uint8_t flags)
{
	if (svc.major >= 4) { /* Linux: ts_srv_version > TS_VERSION_3 */
		struct ictimesync_ref_data d;

		if (cap < sizeof(d))
			return 0;
		memset(&d, 0, sizeof(d));
		d.parenttime = parenttime;
		d.vmreferencetime = reftime;
		d.flags = flags;
		memcpy(buf, &d, sizeof(d));
		return sizeof(d);
	} else {
		struct ictimesync_data d;

		if (cap < sizeof(d))
			return 0;
		memset(&d, 0, sizeof(d));
		d.parenttime = parenttime;
		d.flags = flags;
		memcpy(buf, &d, sizeof(d));
		return sizeof(d);
	}
}

/* ---- Handlers --------------------------------------------------------------- */

static void timesync_reply(struct ic_dev *ic, void *arg, int err, const struct ic_reply *reply)
{
	struct timesync *ts = ic->owner;
	struct timesync_call *tc = arg;

	if (!err && reply->hdr.status == HV_S_OK) {
		ts->acks++;
	} else if (!err) {
		ts->failed++;
		log_guest("timesync: status 0x%08x", reply->hdr.status);
	}
	if (tc->call) {
		if (err) {
			ic_call_finish(tc->call, err, NULL);
		} else {
			json_t *r = ic_status_json(reply->hdr.status);

			json_object_set_new(r, "parenttime", json_integer((json_int_t)tc->parenttime));
			ic_call_finish(tc->call, ic_status_errno(reply->hdr.status), r);
		}
	}
	free(tc);
}

/* Samples the clocks now and sends; `call` (may be NULL) gets the answer. */
static int timesync_send(struct timesync *ts, uint8_t flags, struct ic_call *call)
{
	struct timesync_call *tc;
	uint8_t body[sizeof(struct ictimesync_data)];
	uint64_t parent = timesync_parenttime(wall_ns());
	uint64_t ref = hv_time_ref_count(vmbus_server_hv(ts->ic.srv));
	size_t len;
	int rc;

	if (ts->ic.state != IC_READY)
		return -ENOTCONN;
	len = timesync_build_body(body, sizeof(body), ts->ic.svc_ver, parent, ref, flags);
	tc = calloc(1, sizeof(*tc));
	if (!tc)
		return -ENOMEM;
	tc->call = call;
	tc->parenttime = parent;
	rc = ic_submit(&ts->ic, body, len, 0, timesync_reply, tc);
	if (rc) {
		free(tc);
		return rc;
	}
	if (flags == ICTIMESYNCFLAG_SYNC)
		ts->syncs++;
	else
		ts->samples++;
	ts->last_parenttime = parent;
	return 0;
}

static void timesync_tick(evutil_socket_t fd, short what, void *arg)
{
	struct timesync *ts = arg;

	/* A sample waiting in the queue would go out stale (ictimesync_data
	 * has no reference time to correct it): skip instead. */
	if (ic_busy(&ts->ic)) {
		ts->skipped++;
		return;
	}
	timesync_send(ts, ICTIMESYNCFLAG_SAMPLE, NULL);
}

static int timesync_control(void *dev, const char *verb, const json_t *args,
			    device_control_done done, void *cookie, struct json_err *err)
{
	struct timesync *ts = dev;
	struct ic_call *call;
	uint8_t flags;
	int rc;

	if (strcmp(verb, "sync") == 0)
		flags = ICTIMESYNCFLAG_SYNC;
	else if (strcmp(verb, "sample") == 0)
		flags = ICTIMESYNCFLAG_SAMPLE;
	else
		return -ENOTSUP;
	if (args && json_object_size(args) != 0)
		return json_fail(err, NULL, verb, "takes no arguments");
	call = ic_call_new(done, cookie);
	if (!call)
		return -ENOMEM;
	rc = timesync_send(ts, flags, call);
	if (rc) {
		free(call);
		return ic_submit_error(err, verb, rc);
	}
	return 0;
}

/* ---- Lifecycle ---------------------------------------------------------------- */

static void timesync_ready(struct ic_dev *ic)
{
	struct timesync *ts = ic->owner;

	/* Like Hyper-V: set the guest's clock once at start. */
	timesync_send(ts, ICTIMESYNCFLAG_SYNC, NULL);
	if (ts->interval_ms) {
		struct timeval tv = { .tv_sec = ts->interval_ms / 1000,
				      .tv_usec = (ts->interval_ms % 1000) * 1000 };

		evtimer_add(ts->tick, &tv);
	}
}

static void timesync_down(struct ic_dev *ic)
{
	struct timesync *ts = ic->owner;

	if (ts->tick)
		evtimer_del(ts->tick);
}

static const struct ic_service timesync_service = {
	.name = "timesync",
	.class_guid = IC_TIMESYNC_CLASS_GUID_STR,
	.default_instance = "2dd1ce17-079e-403c-b352-a1921ee207ee",
	.msgtype = ICMSGTYPE_TIMESYNC,
	.max_pkt_size = 4096,
	.versions = timesync_versions,
	.n_versions = ARRAY_SIZE(timesync_versions),
	.ready = timesync_ready,
	.down = timesync_down,
};

static void timesync_destroy(void *dev)
{
	struct timesync *ts = dev;

	if (!ts)
		return;
	ic_destroy(&ts->ic);
	if (ts->tick)
		event_free(ts->tick);
	free(ts);
}

static int timesync_create(struct vmbus_server *srv, const json_t *config, const char *path,
			   void **dev, struct json_err *err)
{
	static const char *const keys[] = { IC_COMMON_KEYS, "interval_ms", NULL };
	uint64_t interval = TIMESYNC_DEFAULT_INTERVAL_MS;
	struct timesync *ts;
	int rc;

	rc = json_check_keys(config, path, keys, err);
	if (!rc)
		rc = json_get_u64(config, path, "interval_ms", false, 0, TIMESYNC_MAX_INTERVAL_MS,
				  &interval, err);
	if (rc)
		return rc;
	ts = calloc(1, sizeof(*ts));
	if (!ts)
		return json_fail(err, path, NULL, "out of memory");
	ts->interval_ms = (uint32_t)interval;
	ts->tick = event_new(vmbus_server_base(srv), -1, EV_PERSIST, timesync_tick, ts);
	if (!ts->tick) {
		free(ts);
		return json_fail(err, path, NULL, "out of memory");
	}
	rc = ic_create(&ts->ic, &timesync_service, ts, srv, config, path, err);
	if (rc) {
		event_free(ts->tick);
		free(ts);
		return rc;
	}
	*dev = ts;
	return 0;
}

STATS_DEFINE_STATIC(timesync_counters, struct timesync, TIMESYNC_STATS)

static json_t *timesync_stats(void *dev)
{
	struct timesync *ts = dev;
	json_t *o = ic_stats_json(&ts->ic);

	if (!o)
		return NULL;
	json_object_set_new(o, "interval_ms", json_integer(ts->interval_ms));
	return timesync_counters_json(ts, o);
}

const struct vmbus_device_ops timesync_ops = {
	.name = "timesync",
	.class_guid = IC_TIMESYNC_CLASS_GUID_STR,
	.guest_driver = "hv_utils",
	.description = "Hyper-V time synchronisation integration component",
	.create = timesync_create,
	.destroy = timesync_destroy,
	.control = timesync_control,
	.stats = timesync_stats,
};
