/* SPDX-License-Identifier: MIT */
/*
 * Step kinds about channels, drivers and the host's own actions: wait for
 * a channel's state or a device's driver, make the guest unbind / bind a
 * driver, rescind and re-offer a channel, link down/up, disk hot-add and
 * hot-remove, delay.  The host actions go through host/actions.c, the
 * functions `vmbusd ctl` uses, so a step does exactly what ctl does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guid.h"
#include "core/util.h"
#include "scenario/scenario_internal.h"
#include "vmbus/vmbus.h"

#define STEP_RETRY_NS 300000000ull /* a real guest's sysfs is polled this often */

static const char *spec_str(json_t *spec, const char *key)
{
	return json_string_value(json_object_get(spec, key));
}

static unsigned int spec_channel(json_t *spec)
{
	return (unsigned int)json_integer_value(json_object_get(spec, "channel"));
}

/* ---- checks ---------------------------------------------------------------------- */

static int need_string(json_t *spec, const char *path, const char *key, char *err, size_t errlen)
{
	if (json_is_string(json_object_get(spec, key)))
		return 0;
	snprintf(err, errlen, "%s.%s: %s", path, key,
		 json_object_get(spec, key) ? "must be a string" : "is required");
	return -EINVAL;
}

static int check_channel_index(json_t *spec, const char *path, char *err, size_t errlen)
{
	json_t *c = json_object_get(spec, "channel");

	if (!c || (json_is_integer(c) && json_integer_value(c) >= 0 &&
		   json_integer_value(c) <= 0xFFFF))
		return 0;
	snprintf(err, errlen, "%s.channel: must be a channel index 0..65535 (0 the primary)", path);
	return -EINVAL;
}

static int check_device(json_t *spec, const char *path, char *err, size_t errlen)
{
	return need_string(spec, path, "device", err, errlen) ?:
	       check_channel_index(spec, path, err, errlen);
}

int channel_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	static const char *const states[] = { "open", "closed", "offered", "rescinded" };
	const char *st = spec_str(spec, "state");

	if (check_device(spec, path, err, errlen) || need_string(spec, path, "state", err, errlen))
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(states); i++)
		if (!strcmp(st, states[i]))
			return 0;
	snprintf(err, errlen, "%s.state: \"%s\" is not open, closed, offered or rescinded", path, st);
	return -EINVAL;
}

int device_bound_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	return check_device(spec, path, err, errlen);
}

int unbound_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	return check_device(spec, path, err, errlen);
}

int driver_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	const char *a = spec_str(spec, "action");

	if (check_device(spec, path, err, errlen) || need_string(spec, path, "action", err, errlen))
		return -EINVAL;
	if (strcmp(a, "unbind") && strcmp(a, "bind")) {
		snprintf(err, errlen, "%s.action: \"%s\" is not unbind or bind", path, a);
		return -EINVAL;
	}
	return 0;
}

int rescind_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	return check_device(spec, path, err, errlen);
}

int offer_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	return check_device(spec, path, err, errlen);
}

int link_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	if (need_string(spec, path, "device", err, errlen))
		return -EINVAL;
	if (!json_is_boolean(json_object_get(spec, "up"))) {
		snprintf(err, errlen, "%s.up: must be true or false", path);
		return -EINVAL;
	}
	return 0;
}

int hot_add_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	if (need_string(spec, path, "device", err, errlen))
		return -EINVAL;
	if (!json_is_object(json_object_get(spec, "disk"))) {
		snprintf(err, errlen, "%s.disk: must be a disk object (as in the device's \"disks\")",
			 path);
		return -EINVAL;
	}
	return 0;
}

int hot_remove_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	json_t *lun = json_object_get(spec, "lun");

	if (need_string(spec, path, "device", err, errlen))
		return -EINVAL;
	if (!json_is_integer(lun) || json_integer_value(lun) < 0 || json_integer_value(lun) > 63) {
		snprintf(err, errlen, "%s.lun: must be a LUN 0..63", path);
		return -EINVAL;
	}
	return 0;
}

int delay_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	json_t *ms = json_object_get(spec, "ms");

	if (json_is_integer(ms) && json_integer_value(ms) >= 0)
		return 0;
	snprintf(err, errlen, "%s.ms: must be a number of milliseconds >= 0", path);
	return -EINVAL;
}

/* ---- channel: wait for a channel's state, as the host sees it --------------------- */

/* The channel's status object ({open, offered, rescinded, withdrawn, ...})
 * or NULL when the device has no such channel (any more). */
static json_t *chan_status(struct scenario *sc, json_t *spec)
{
	struct vmbus_channel *ch = host_find_channel(&sc->host, spec_str(spec, "device"),
						     spec_channel(spec));

	return ch ? vmbus_chan_status_json(ch) : NULL;
}

static bool flag(json_t *st, const char *key)
{
	return json_is_true(json_object_get(st, key));
}

int channel_start(struct scenario *sc, json_t *spec)
{
	if (!host_find_device(&sc->host, spec_str(spec, "device")))
		step_fail(sc, "no device \"%s\"", spec_str(spec, "device"));
	return 0;
}

void channel_poll(struct scenario *sc, json_t *spec)
{
	const char *want = spec_str(spec, "state");
	json_t *st = chan_status(sc, spec);
	bool ok;

	if (!strcmp(want, "open"))
		ok = flag(st, "open");
	else if (!strcmp(want, "closed"))
		ok = st && !flag(st, "open");
	else if (!strcmp(want, "offered"))
		ok = flag(st, "offered") && !flag(st, "withdrawn");
	else /* rescinded, and the guest released the relid (or never saw it) */
		ok = !st || (flag(st, "withdrawn") && !flag(st, "rescinded"));
	if (ok) {
		step_set_detail(sc, "%s channel %u %s (relid %lld)", spec_str(spec, "device"),
				spec_channel(spec), want,
				(long long)json_integer_value(json_object_get(st, "relid")));
		step_pass(sc);
	} else {
		step_set_detail(sc, "%s channel %u is %s", spec_str(spec, "device"), spec_channel(spec),
				!st ? "gone" : flag(st, "open") ? "open" : flag(st, "rescinded") ?
				"rescinded, not yet released" : flag(st, "withdrawn") ? "withdrawn" :
				flag(st, "offered") ? "offered, not open" : "not offered");
		step_guest_gone(sc);
	}
	json_decref(st);
}

/* ---- bound (with "device") / unbound: a device's driver ---------------------------- */

/* A real guest: is a driver linked in sysfs?  Linux names a VMBus device by
 * its instance GUID (vmbus_device_register, "%pUl"). */
static int sysfs_probe(struct scenario *sc, json_t *spec)
{
	struct vmbus_channel *ch = host_find_channel(&sc->host, spec_str(spec, "device"), 0);
	char inst[GUID_STR_LEN], cmd[160];

	if (!ch)
		return -ENOENT;
	guid_format(&vmbus_chan_offer(ch)->if_instance, inst);
	snprintf(cmd, sizeof(cmd), "readlink /sys/bus/vmbus/devices/%s/driver", inst);
	sc->next_try_ns = now_ns() + STEP_RETRY_NS;
	sc->phase = 1;
	return step_command_send(sc, cmd);
}

static void driver_state_poll(struct scenario *sc, json_t *spec, bool want_bound)
{
	const char *dev = spec_str(spec, "device");

	if (sc->synthetic) {
		json_t *st = chan_status(sc, spec);
		bool open = flag(st, "open");

		json_decref(st);
		if (open == want_bound) {
			step_set_detail(sc, "%s %s (its channel is %s)", dev,
					want_bound ? "bound" : "unbound", open ? "open" : "closed");
			step_pass(sc);
		} else {
			step_guest_gone(sc);
		}
		return;
	}
	if (sc->phase == 1) {
		char out[256];
		int rc = step_command_done(sc, out, sizeof(out));

		if (rc < 0) {
			step_guest_gone(sc);
			return;
		}
		if ((rc == 0 && out[0]) == want_bound) {
			const char *drv = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;

			step_set_detail(sc, "%s %s%s", dev, want_bound ? "bound to " : "unbound",
					want_bound ? drv : "");
			step_pass(sc);
			return;
		}
		sc->phase = 0;
	}
	if (now_ns() >= sc->next_try_ns && sysfs_probe(sc, spec))
		step_fail(sc, "cannot ask the guest about %s", dev);
}

int device_bound_start(struct scenario *sc, json_t *spec)
{
	sc->phase = 0;
	sc->next_try_ns = 0;
	if (!host_find_channel(&sc->host, spec_str(spec, "device"), spec_channel(spec)))
		step_fail(sc, "no device \"%s\" with channel %u", spec_str(spec, "device"),
			  spec_channel(spec));
	return 0;
}

void device_bound_poll(struct scenario *sc, json_t *spec)
{
	driver_state_poll(sc, spec, true);
}

int unbound_start(struct scenario *sc, json_t *spec)
{
	return device_bound_start(sc, spec);
}

void unbound_poll(struct scenario *sc, json_t *spec)
{
	driver_state_poll(sc, spec, false);
}

/* ---- driver: the guest unbinds or binds a device's driver -------------------------- */

int driver_start(struct scenario *sc, json_t *spec)
{
	const char *dev = spec_str(spec, "device"), *action = spec_str(spec, "action");
	struct host_device *d = host_find_device(&sc->host, dev);
	struct vmbus_channel *ch = d ? host_find_channel(&sc->host, dev, spec_channel(spec)) : NULL;
	char cmd[200], inst[GUID_STR_LEN];

	if (!ch) {
		step_fail(sc, "no device \"%s\" with channel %u", dev, spec_channel(spec));
		return 0;
	}
	if (sc->synthetic) {
		snprintf(cmd, sizeof(cmd), "%s %u", action, vmbus_chan_relid(ch));
	} else if (!d->ops->guest_driver || spec_channel(spec)) {
		step_fail(sc, "%s: Linux binds a driver to a device's primary channel only", dev);
		return 0;
	} else {
		/* The driver core's own files: unbind/bind take the device name. */
		guid_format(&vmbus_chan_offer(ch)->if_instance, inst);
		snprintf(cmd, sizeof(cmd), "echo %s > /sys/bus/vmbus/drivers/%s/%s", inst,
			 d->ops->guest_driver, action);
	}
	if (step_command_send(sc, cmd))
		step_fail(sc, "cannot send the command to the guest");
	return 0;
}

void driver_poll(struct scenario *sc, json_t *spec)
{
	char out[256];
	int rc = step_command_done(sc, out, sizeof(out));

	if (rc < 0) {
		step_guest_gone(sc);
	} else if (rc) {
		step_fail(sc, "%s %s: status %d (%s)", spec_str(spec, "action"),
			  spec_str(spec, "device"), rc, out);
	} else {
		step_set_detail(sc, "%s: %s done", spec_str(spec, "device"), spec_str(spec, "action"));
		step_pass(sc);
	}
}

/* ---- rescind / offer: the host withdraws a channel and offers it again -------------- */

int rescind_start(struct scenario *sc, json_t *spec)
{
	struct json_err err = { "" };
	int rc = host_channel_action(&sc->host, spec_str(spec, "device"), spec_channel(spec),
				     "rescind", &err);

	if (rc)
		step_fail(sc, "rescind refused: %s", err.msg);
	return 0;
}

/* Passes once the guest released the relid: it has seen the rescind. */
void rescind_poll(struct scenario *sc, json_t *spec)
{
	json_t *st = chan_status(sc, spec);

	if (st && flag(st, "withdrawn") && !flag(st, "rescinded")) {
		step_set_detail(sc, "relid %lld rescinded and released by the guest",
				(long long)json_integer_value(json_object_get(st, "relid")));
		step_pass(sc);
	} else {
		step_set_detail(sc, "the guest has not released the relid");
		step_guest_gone(sc);
	}
	json_decref(st);
}

int offer_start(struct scenario *sc, json_t *spec)
{
	sc->phase = 0;
	offer_poll(sc, spec);
	return 0;
}

void offer_poll(struct scenario *sc, json_t *spec)
{
	struct json_err err = { "" };
	int rc = host_channel_action(&sc->host, spec_str(spec, "device"), spec_channel(spec),
				     "offer", &err);

	if (rc == 0) {
		step_set_detail(sc, "%s channel %u offered again", spec_str(spec, "device"),
				spec_channel(spec));
		step_pass(sc);
	} else if (rc == -EBUSY) {
		step_set_detail(sc, "%s", err.msg); /* retried until the guest released it */
	} else {
		step_fail(sc, "offer refused: %s", err.msg);
	}
}

/* ---- link / hot_add / hot_remove: device actions, as `ctl control` runs them ------- */

static void device_action(struct scenario *sc, const char *dev, const char *action, json_t *args)
{
	struct json_err err = { "" };
	int rc;

	sc->control_done = false;
	rc = host_device_control(&sc->host, dev, action, args, step_control_done, sc, &err);
	json_decref(args);
	if (rc)
		step_fail(sc, "%s %s refused: %s", dev, action, err.msg[0] ? err.msg : strerror(-rc));
}

static void device_action_poll(struct scenario *sc, json_t *spec, const char *action)
{
	char *r;

	if (!sc->control_done)
		return;
	if (sc->control_status) {
		step_fail(sc, "%s %s: %s", spec_str(spec, "device"), action,
			  strerror(-sc->control_status));
		return;
	}
	r = sc->control_result ? json_dumps(sc->control_result, JSON_COMPACT) : NULL;
	step_set_detail(sc, "%s %s: %s", spec_str(spec, "device"), action, r ? r : "done");
	free(r);
	step_pass(sc);
}

int link_start(struct scenario *sc, json_t *spec)
{
	device_action(sc, spec_str(spec, "device"), "link",
		      json_pack("{s:O}", "up", json_object_get(spec, "up")));
	return 0;
}

void link_poll(struct scenario *sc, json_t *spec)
{
	device_action_poll(sc, spec, "link");
}

int hot_add_start(struct scenario *sc, json_t *spec)
{
	device_action(sc, spec_str(spec, "device"), "add-disk",
		      json_copy(json_object_get(spec, "disk")));
	return 0;
}

void hot_add_poll(struct scenario *sc, json_t *spec)
{
	device_action_poll(sc, spec, "add-disk");
}

int hot_remove_start(struct scenario *sc, json_t *spec)
{
	device_action(sc, spec_str(spec, "device"), "remove-disk",
		      json_pack("{s:O}", "lun", json_object_get(spec, "lun")));
	return 0;
}

void hot_remove_poll(struct scenario *sc, json_t *spec)
{
	device_action_poll(sc, spec, "remove-disk");
}

/* ---- delay: the host does nothing for a while ------------------------------------- */

int delay_start(struct scenario *sc, json_t *spec)
{
	return 0;
}

void delay_poll(struct scenario *sc, json_t *spec)
{
	json_int_t ms = json_integer_value(json_object_get(spec, "ms"));

	if (now_ns() - sc->step_t0_ns >= (uint64_t)ms * 1000000ull) {
		step_set_detail(sc, "%lld ms", (long long)ms);
		step_pass(sc);
	}
}
