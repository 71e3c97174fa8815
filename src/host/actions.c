/* SPDX-License-Identifier: MIT */
/*
 * The operator's actions on a running host, one function each, shared by
 * the control socket (control.c: `vmbusd ctl`) and the scenario engine
 * (scenario/), so a step does exactly what `ctl` does.
 */
#include <errno.h>
#include <string.h>

#include "host/host.h"
#include "vmbus/vmbus.h"

int host_device_control(struct host *d, const char *name, const char *action, const json_t *args,
			device_control_done done, void *cookie, struct json_err *err)
{
	struct host_device *dev = host_find_device(d, name);
	json_t *empty = NULL;
	int rc;

	if (!dev) {
		snprintf(err->msg, sizeof(err->msg), "no device \"%s\"", name);
		return -ENOENT;
	}
	if (!dev->ops->control) {
		snprintf(err->msg, sizeof(err->msg), "device \"%s\" (%s) has no actions", name,
			 dev->ops->name);
		return -ENOTSUP;
	}
	if (!args)
		args = empty = json_object();
	rc = dev->ops->control(dev->dev, action, args, done, cookie, err);
	json_decref(empty);
	if (rc == -ENOTSUP && !err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "%s has no action \"%s\"", dev->ops->name, action);
	return rc;
}

/* Channel `index` (0 the primary, N the Nth subchannel) of the device: the
 * host labels every channel with its device's name.  A channel a device
 * rescinded for good (waiting for RELID_RELEASED) is not one. */
struct vmbus_channel *host_find_channel(struct host *d, const char *name, unsigned int index)
{
	for (struct vmbus_channel *ch = vmbus_server_next_channel(d->vmbus, NULL); ch;
	     ch = vmbus_server_next_channel(d->vmbus, ch)) {
		if (strcmp(vmbus_chan_label(ch), name) || vmbus_chan_sub_index(ch) != index)
			continue;
		if (vmbus_chan_is_withdrawn(ch) || !vmbus_chan_is_rescinded(ch))
			return ch;
	}
	return NULL;
}

int host_channel_action(struct host *d, const char *name, unsigned int index, const char *action,
			struct json_err *err)
{
	struct vmbus_channel *ch;
	int rc;

	if (!host_find_device(d, name)) {
		snprintf(err->msg, sizeof(err->msg), "no device \"%s\"", name);
		return -ENOENT;
	}
	ch = host_find_channel(d, name, index);
	if (!ch) {
		snprintf(err->msg, sizeof(err->msg), "%s has no channel %u", name, index);
		return -ENOENT;
	}
	if (!strcmp(action, "rescind"))
		rc = vmbus_chan_withdraw(ch);
	else if (!strcmp(action, "offer"))
		rc = vmbus_chan_reoffer(ch);
	else {
		snprintf(err->msg, sizeof(err->msg), "unknown channel action \"%s\" (rescind, offer)",
			 action);
		return -EINVAL;
	}
	if (rc == -EALREADY)
		snprintf(err->msg, sizeof(err->msg), "%s channel %u is %s", name, index,
			 !strcmp(action, "rescind") ? "already rescinded" : "not rescinded");
	else if (rc == -EBUSY)
		snprintf(err->msg, sizeof(err->msg),
			 "%s channel %u: the guest has not released its relid yet", name, index);
	return rc;
}
