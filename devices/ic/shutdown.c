/* SPDX-License-Identifier: MIT */
/*
 * Shutdown IC (facts §7.4): one request asks the guest to power off,
 * reboot or hibernate.  Linux ignores messages shorter than 28 + 2060
 * bytes, so the whole shutdown_msg_data always goes out; it answers
 * HV_S_OK before acting, or HV_E_FAIL for flags it does not support.
 *
 * Config: the common IC keys only.
 * Control "shutdown" {"action": "poweroff"|"reboot"|"hibernate"
 *   (default "poweroff"), "force": bool (false), "reason": u32 (0),
 *   "timeout": u32 seconds (0), "message": string ("")} -> done(0,
 *   {"status": 0, "status_name": "HV_S_OK"}) or done(-EIO, {"status": hresult, ...}).
 * Stats: requests, accepted, refused and the framework's counters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/device.h"
#include "devices/ic/ic_internal.h"
#include "devices/registry.h"

static const struct ic_version shutdown_versions[] = { { 3, 2 }, { 3, 1 }, { 3, 0 }, { 1, 0 } };

/* Reported beside the framework's counters (core/stats.h). */
#define SHUTDOWN_STATS(X)                                   \
	X(requests, "shutdown requests submitted")          \
	X(accepted, "guest answered HV_S_OK")               \
	X(refused, "guest answered a failure status")

struct shutdown {
	struct ic_dev ic;
	STATS_FIELDS(SHUTDOWN_STATS)
};

/* ---- Messages ------------------------------------------------------------- */

int shutdown_flags(const char *action, bool force, uint32_t *flags_out)
{
	uint32_t f;

	if (strcmp(action, "poweroff") == 0)
		f = SHUTDOWN_FLAG_SHUTDOWN;
	else if (strcmp(action, "reboot") == 0)
		f = SHUTDOWN_FLAG_REBOOT;
	else if (strcmp(action, "hibernate") == 0)
		f = SHUTDOWN_FLAG_HIBERNATE;
	else
		return -EINVAL;
	*flags_out = f | (force ? 1u : 0u); /* odd = forced */
	return 0;
}

int shutdown_build_body(struct shutdown_msg_data *out, uint32_t flags, uint32_t reason,
			uint32_t timeout_s, const char *message)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->reason_code = reason;
	out->timeout_seconds = timeout_s;
	out->flags = flags;
	/* Windows fills display_message with UTF-16; Linux ignores it. */
	rc = utf16_encode(message ? message : "", out->display_message,
			  sizeof(out->display_message));
	return rc < 0 ? rc : 0;
}

/* ---- Handlers --------------------------------------------------------------- */

static void shutdown_reply(struct ic_dev *ic, void *arg, int err, const struct ic_reply *reply)
{
	struct shutdown *sd = ic->owner;

	if (!err && reply->hdr.status == HV_S_OK)
		sd->accepted++;
	else if (!err)
		sd->refused++;
	ic_call_finish_reply(arg, err, reply);
}

static int shutdown_control(void *dev, const char *verb, const json_t *args,
			    device_control_done done, void *cookie, struct json_err *err)
{
	static const char *const keys[] = { "action", "force", "reason", "timeout", "message", NULL };
	struct shutdown *sd = dev;
	struct shutdown_msg_data body;
	const char *action = "poweroff", *message = "";
	bool force = false;
	uint64_t reason = 0, timeout = 0;
	uint32_t flags;
	struct ic_call *call;
	int rc;

	if (strcmp(verb, "shutdown") != 0)
		return -ENOTSUP;
	if (args) {
		rc = json_check_keys(args, verb, keys, err);
		if (!rc)
			rc = json_get_string(args, verb, "action", false, &action, err);
		if (!rc)
			rc = json_get_bool(args, verb, "force", false, &force, err);
		if (!rc)
			rc = json_get_u64(args, verb, "reason", false, 0, UINT32_MAX, &reason, err);
		if (!rc)
			rc = json_get_u64(args, verb, "timeout", false, 0, UINT32_MAX, &timeout, err);
		if (!rc)
			rc = json_get_string(args, verb, "message", false, &message, err);
		if (rc)
			return rc;
	}
	if (shutdown_flags(action, force, &flags))
		return json_fail(err, verb, "action", "must be \"poweroff\", \"reboot\" or \"hibernate\"");
	if (shutdown_build_body(&body, flags, (uint32_t)reason, (uint32_t)timeout, message))
		return json_fail(err, verb, "message", "longer than 1023 UTF-16 units");
	call = ic_call_new(done, cookie);
	if (!call)
		return -ENOMEM;
	rc = ic_submit(&sd->ic, &body, sizeof(body), 0, shutdown_reply, call);
	if (rc) {
		free(call);
		return ic_submit_error(err, verb, rc);
	}
	sd->requests++;
	log_info("shutdown: asking the guest to %s%s", action, force ? " (forced)" : "");
	return 0;
}

/* ---- Lifecycle ---------------------------------------------------------------- */

static const struct ic_service shutdown_service = {
	.name = "shutdown",
	.class_guid = IC_SHUTDOWN_CLASS_GUID_STR,
	.default_instance = "b6650ff7-33bc-4840-8048-e0676786f393",
	.msgtype = ICMSGTYPE_SHUTDOWN,
	.max_pkt_size = 4096,
	.versions = shutdown_versions,
	.n_versions = ARRAY_SIZE(shutdown_versions),
};

static void shutdown_destroy(void *dev)
{
	struct shutdown *sd = dev;

	if (!sd)
		return;
	ic_destroy(&sd->ic);
	free(sd);
}

static int shutdown_create(struct vmbus_server *srv, const json_t *config, const char *path,
			   void **dev, struct json_err *err)
{
	static const char *const keys[] = { IC_COMMON_KEYS, NULL };
	struct shutdown *sd;
	int rc;

	rc = json_check_keys(config, path, keys, err);
	if (rc)
		return rc;
	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return json_fail(err, path, NULL, "out of memory");
	rc = ic_create(&sd->ic, &shutdown_service, sd, srv, config, path, err);
	if (rc) {
		free(sd);
		return rc;
	}
	*dev = sd;
	return 0;
}

STATS_DEFINE_STATIC(shutdown_counters, struct shutdown, SHUTDOWN_STATS)

static json_t *shutdown_stats(void *dev)
{
	struct shutdown *sd = dev;
	json_t *o = ic_stats_json(&sd->ic);

	return o ? shutdown_counters_json(sd, o) : NULL;
}

const struct vmbus_device_ops shutdown_ops = {
	.name = "shutdown",
	.class_guid = IC_SHUTDOWN_CLASS_GUID_STR,
	.guest_driver = "hv_utils",
	.description = "Hyper-V shutdown integration component",
	.create = shutdown_create,
	.destroy = shutdown_destroy,
	.control = shutdown_control,
	.stats = shutdown_stats,
};
