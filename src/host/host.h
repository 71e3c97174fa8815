/* SPDX-License-Identifier: MIT */
/*
 * host/: one partition served on one socket.  It wires the layers
 * together — attach/ (frontend) → hv/ (partition) → vmbus/ (channels) →
 * devices/ — and owns the event loop.  Used by `vmbusd serve` (cli/)
 * and by the scenario engine (scenario/).
 */
#ifndef VMBUSD_HOST_HOST_H
#define VMBUSD_HOST_HOST_H

#include <event2/event.h>
#include <jansson.h>

#include "core/fault_class.h"
#include <stdint.h>

#include "core/fault_class.h"
#include "core/json.h"
#include "devices/device.h"
#include "hv/hv.h"

#define HOST_MAX_DEVICES 64
#define HOST_NAME_MAX 64

struct host_device {
	char name[HOST_NAME_MAX];           /* unique; used by control requests */
	const struct vmbus_device_ops *ops;
	void *dev;
};

struct host {
	struct event_base *base;
	struct event *stimer_ev;  /* the partition's synthetic timer deadline */
	struct hv_partition *hv;
	struct vmbus_server *vmbus;
	struct attach_server *attach;
	struct control_server *control;
	struct event *sig_int, *sig_term;
	struct host_device devices[HOST_MAX_DEVICES];
	unsigned int n_devices;
	uint32_t max_version;
	struct hv_features hv_features;
};

struct host_config {
	json_t *root;          /* owned; the whole configuration */
	uint32_t max_version;  /* from vmbus.max_version; 0 = highest */
	uint32_t monitor_latency_us; /* from vmbus.monitor_latency_us; 0 = default */
	uint32_t monitor_idle_us;    /* from vmbus.monitor_idle_us; 0 = default */
	struct hv_features hv; /* from "hv": the time enlightenments offered */
};

/* Loads and checks a configuration (NULL path: every IC with defaults).
 * Errors name the key: "devices[1].type: unknown device \"foo\"". */
int host_config_load(const char *path, struct host_config *cfg, struct json_err *err);
/* Same, from an already parsed object (scenarios embed one). */
int host_config_from_json(json_t *root, struct host_config *cfg, struct json_err *err);
void host_config_free(struct host_config *cfg);
/* "5.3" -> VMBUS_VERSION(5, 3); -EINVAL for anything not in the list. */
int host_parse_version(const char *text, uint32_t *version);

/* Builds the layers and the devices, listens on socket_path (and on
 * control_path when not NULL).  Nothing runs until event_base_dispatch(). */
int host_init(struct host *d, struct event_base *base, const struct host_config *cfg,
		const char *socket_path, const char *control_path, struct json_err *err);
void host_fini(struct host *d);

struct host_device *host_find_device(struct host *d, const char *name);
/* {"attached", "generation", "hv": {partition counters}, "vmbus": {state,
 * version, counters, "channels": [..]}, "devices": {name: stats},
 * "attach": {plugin-protocol counters}}; README "ctl status". */
json_t *host_status(struct host *d);

/* The operator's actions (actions.c), shared by `ctl` and scenario steps.
 * host_device_control: a device action (device_ops.control; done() follows
 * when it returns 0).  host_channel_action: "rescind" or "offer" channel
 * `index` (0 the primary) of a device (vmbus_chan_withdraw/_reoffer).
 * Both return 0 or -errno with err->msg saying why. */
int host_device_control(struct host *d, const char *name, const char *action, const json_t *args,
			device_control_done done, void *cookie, struct json_err *err);
struct vmbus_channel *host_find_channel(struct host *d, const char *name, unsigned int index);
int host_channel_action(struct host *d, const char *name, unsigned int index, const char *action,
			struct json_err *err);

/* host_fault.c: arming fault classes (core/fault_class.h) from JSON
 * {class, device, channel, count, every, from, ms}; see docs/faults.md.
 * -ENOENT (no class), -ENODEV (no such device), -EINVAL; err says why. */
int host_fault_parse(struct host *d, const json_t *o, struct fault_spec *s, char *err,
		     size_t errlen);
int host_fault_arm(struct host *d, const json_t *o, char *err, size_t errlen);
/* cls NULL or "all": every class. */
int host_fault_disarm(const char *cls, char *err, size_t errlen);
/* [{class, layer, target, description}] */
json_t *host_fault_catalogue_json(void);

/* The control socket (control.c): JSON lines, see docs in README. */
struct control_server *control_server_new(struct host *d, const char *path);
void control_server_free(struct control_server *c);

#endif
