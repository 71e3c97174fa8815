/* SPDX-License-Identifier: MIT */
#include "host/host.h"

#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "attach/attach.h"
#include "core/log.h"
#include "core/trace.h"
#include "core/util.h"
#include "devices/registry.h"
#include "hv/hv.h"
#include "vmbus/vmbus.h"

/* ---- configuration -------------------------------------------------------- */

static const struct {
	const char *text;
	uint32_t version;
} versions[] = {
	{ "0.13", VMBUS_VERSION_WS2008 },    { "1.1", VMBUS_VERSION_WIN7 },
	{ "2.4", VMBUS_VERSION_WIN8 },       { "3.0", VMBUS_VERSION_WIN8_1 },
	{ "4.0", VMBUS_VERSION_WIN10 },      { "4.1", VMBUS_VERSION_WIN10_V4_1 },
	{ "5.0", VMBUS_VERSION_WIN10_V5 },   { "5.1", VMBUS_VERSION_WIN10_V5_1 },
	{ "5.2", VMBUS_VERSION_WIN10_V5_2 }, { "5.3", VMBUS_VERSION_WIN10_V5_3 },
};

int host_parse_version(const char *text, uint32_t *version)
{
	for (size_t i = 0; i < ARRAY_SIZE(versions); i++) {
		if (strcmp(versions[i].text, text) == 0) {
			*version = versions[i].version;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * "hv": the time enlightenments (docs/hyperv-guest-facts.md §1.3, README).
 * The defaults are what the whole real-guest suite passes with.  The
 * synthetic timers are off by default: every programming of one is a WRMSR
 * that the frontend forwards and waits for (a round trip to this daemon),
 * and Linux reprograms its clockevent at every idle entry and exit — about
 * 1,000 round trips in a 5 s boot, 5 of every 6 the boot makes (README,
 * "Boot"), and more per I/O while a guest idles between requests.  The
 * LAPIC timer Linux uses without them is emulated inside the VMM (under
 * KVM, inside the kernel) and costs the daemon nothing.  Direct mode is
 * off as well: Linux 6.1 shuts a direct-mode clockevent down when hv_vmbus
 * is unloaded (vmbus_exit() -> hv_stimer_global_cleanup(), which unbinds
 * only message-mode timers), and the guest is left without a tick; in
 * message mode it falls back to the LAPIC timer.
 */
static const struct {
	const char *key;
	size_t offset;
	bool dflt;
} hv_feature_keys[] = {
	{ "tsc_page", offsetof(struct hv_features, tsc_page), true },
	{ "time_ref_count", offsetof(struct hv_features, time_ref_count), false },
	{ "stimer", offsetof(struct hv_features, stimer), false },
	{ "stimer_direct", offsetof(struct hv_features, stimer_direct), false },
	{ "frequency_msrs", offsetof(struct hv_features, frequency_msrs), true },
};

static int host_config_hv(const json_t *hv, struct hv_features *f, struct json_err *err)
{
	static const char *const keys[] = { "tsc_page", "time_ref_count", "stimer",
					    "stimer_direct", "frequency_msrs", NULL };
	int rc;

	for (size_t i = 0; i < ARRAY_SIZE(hv_feature_keys); i++)
		*(bool *)((char *)f + hv_feature_keys[i].offset) = hv_feature_keys[i].dflt;
	if (!hv)
		return 0;
	if (!json_is_object(hv))
		return json_fail(err, "", "hv", "must be an object of booleans");
	if ((rc = json_check_keys(hv, "hv", keys, err)))
		return rc;
	for (size_t i = 0; i < ARRAY_SIZE(hv_feature_keys); i++) {
		bool *b = (bool *)((char *)f + hv_feature_keys[i].offset);

		if ((rc = json_get_bool(hv, "hv", hv_feature_keys[i].key, false, b, err)))
			return rc;
	}
	return 0;
}

static json_t *default_devices(void)
{
	return json_pack("[{s:s},{s:s},{s:s},{s:s}]", "type", "heartbeat", "type", "shutdown",
			 "type", "timesync", "type", "kvp");
}

int host_config_from_json(json_t *root, struct host_config *cfg, struct json_err *err)
{
	static const char *const top_keys[] = { "vmbus", "hv", "devices", "scenario", "guest",
						"trace", NULL };
	static const char *const vmbus_keys[] = { "max_version", "monitor_latency_us",
						  "monitor_idle_us", NULL };
	const json_t *vmbus, *devices;
	const char *maxv = NULL;
	uint64_t latency = 0, idle = 0;
	size_t i;
	json_t *dev;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if ((rc = json_check_keys(root, "", top_keys, err)))
		return rc;
	if ((rc = host_config_hv(json_object_get(root, "hv"), &cfg->hv, err)))
		return rc;
	vmbus = json_object_get(root, "vmbus");
	if (vmbus) {
		if ((rc = json_check_keys(vmbus, "vmbus", vmbus_keys, err)) ||
		    (rc = json_get_string(vmbus, "vmbus", "max_version", false, &maxv, err)) ||
		    (rc = json_get_u64(vmbus, "vmbus", "monitor_latency_us", false,
				       VMBUS_MONITOR_LATENCY_MIN_US, VMBUS_MONITOR_LATENCY_MAX_US,
				       &latency, err)) ||
		    (rc = json_get_u64(vmbus, "vmbus", "monitor_idle_us", false,
				       VMBUS_MONITOR_LATENCY_MIN_US, VMBUS_MONITOR_IDLE_MAX_US, &idle,
				       err)))
			return rc;
		cfg->monitor_latency_us = (uint32_t)latency;
		cfg->monitor_idle_us = (uint32_t)idle;
		if (maxv && host_parse_version(maxv, &cfg->max_version))
			return json_fail(err, "vmbus", "max_version",
					 "\"%s\" is not a VMBus version (0.13 1.1 2.4 3.0 4.0 4.1 5.0 5.1 5.2 5.3)",
					 maxv);
	}
	devices = json_object_get(root, "devices");
	if (!devices) {
		json_object_set_new(root, "devices", default_devices());
		devices = json_object_get(root, "devices");
	}
	if (!json_is_array(devices))
		return json_fail(err, "", "devices", "must be an array of device objects");
	if (json_array_size(devices) > HOST_MAX_DEVICES)
		return json_fail(err, "", "devices", "at most %d devices", HOST_MAX_DEVICES);
	json_array_foreach(devices, i, dev) {
		char path[32];
		const char *type = NULL, *name = NULL;
		bool monitor = false;

		snprintf(path, sizeof(path), "devices[%zu]", i);
		if (!json_is_object(dev))
			return json_fail(err, path, NULL, "must be an object");
		if ((rc = json_get_string(dev, path, "type", true, &type, err)) ||
		    (rc = json_get_string(dev, path, "name", false, &name, err)) ||
		    (rc = json_get_bool(dev, path, "monitor", false, &monitor, err)))
			return rc;
		if (!device_lookup(type))
			return json_fail(err, path, "type", "unknown device \"%s\"", type);
		if (name && (strlen(name) == 0 || strlen(name) >= HOST_NAME_MAX))
			return json_fail(err, path, "name", "must be 1 to %d characters",
					 HOST_NAME_MAX - 1);
	}
	cfg->root = json_incref(root);
	return 0;
}

int host_config_load(const char *path, struct host_config *cfg, struct json_err *err)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	if (!path) {
		root = json_object();
	} else {
		root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (!root) {
			snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: %s", path, jerr.line,
				 jerr.column, jerr.text);
			return -EINVAL;
		}
	}
	rc = host_config_from_json(root, cfg, err);
	json_decref(root);
	return rc;
}

void host_config_free(struct host_config *cfg)
{
	json_decref(cfg->root);
	cfg->root = NULL;
}

/* ---- wiring the layers ---------------------------------------------------- */

static void host_raise_irq(void *opaque, uint32_t vp, uint8_t vector)
{
	struct host *d = opaque;

	attach_raise_irq(d->attach, vp, vector);
}

/* The partition's synthetic timer deadline, on the event loop. */
static void host_stimer_arm(void *opaque, uint64_t deadline_ns)
{
	struct host *d = opaque;
	uint64_t now, delta;
	struct timeval tv;

	if (deadline_ns == UINT64_MAX) {
		event_del(d->stimer_ev);
		return;
	}
	now = now_ns();
	delta = deadline_ns > now ? deadline_ns - now : 0;
	tv.tv_sec = (time_t)(delta / 1000000000u);
	/* Round up: libevent's epoll timeout is in ms (rounded up as well),
	 * and a timer must never fire early. */
	tv.tv_usec = (suseconds_t)((delta % 1000000000u + 999u) / 1000u);
	event_add(d->stimer_ev, &tv);
}

static void host_on_stimer(evutil_socket_t fd, short what, void *arg)
{
	struct host *d = arg;

	hv_stimer_run(d->hv);
}

static int backend_attach(void *opaque, struct gmem *mem, uint32_t n_vcpus, uint64_t tsc_hz,
			  struct attach_cpuid *cpuid, uint32_t max)
{
	struct host *d = opaque;
	struct hv_config cfg = { .n_vcpus = n_vcpus, .tsc_hz = tsc_hz, .feat = d->hv_features };
	int rc;

	if (hv_partition_bound(d->hv))
		return -EBUSY;
	rc = hv_partition_bind(d->hv, mem, &cfg);
	if (rc)
		return rc;
	trace_emit(VMBUS_TRACE_ATTACH, 0, VMBUS_TRACE_VP_NONE, mem->n_regions, n_vcpus, NULL, 0);
	log_info("frontend attached: %u vCPUs, %u RAM regions, guest TSC %llu Hz", n_vcpus,
		 mem->n_regions, (unsigned long long)tsc_hz);
	return (int)hv_cpuid_fill(d->hv, cpuid, max);
}

static int backend_msr_read(void *opaque, uint32_t vcpu, uint32_t msr, uint64_t *value)
{
	return hv_msr_read(((struct host *)opaque)->hv, vcpu, msr, value);
}

static int backend_msr_write(void *opaque, uint32_t vcpu, uint32_t msr, uint64_t value,
			     uint32_t *action, uint64_t *arg)
{
	return hv_msr_write(((struct host *)opaque)->hv, vcpu, msr, value, action, arg);
}

static uint64_t backend_hypercall(void *opaque, uint32_t vcpu, uint64_t control, uint64_t input,
				  uint64_t output, uint32_t *signal_conn_id)
{
	return hv_hypercall(((struct host *)opaque)->hv, vcpu, control, input, output,
			    signal_conn_id);
}

static void backend_signal(void *opaque, uint32_t conn_id)
{
	hv_signal_event_port(((struct host *)opaque)->hv, conn_id);
}

static void backend_idle(void *opaque)
{
	vmbus_server_monitor_idle(((struct host *)opaque)->vmbus);
}

static void host_idle_watch(void *opaque, uint64_t gpa, uint64_t mask)
{
	attach_set_idle_watch(((struct host *)opaque)->attach, gpa, mask);
}

static void backend_clock(void *opaque, uint64_t guest_tsc, uint64_t host_ns)
{
	hv_partition_clock(((struct host *)opaque)->hv, guest_tsc, host_ns);
}

/* A guest reset: channels close first (devices stop touching guest memory),
 * then the partition returns to its power-on state. */
static void backend_reset(void *opaque)
{
	struct host *d = opaque;

	log_info("guest reset");
	trace_emit(VMBUS_TRACE_RESET, 0, VMBUS_TRACE_VP_NONE, 0, 0, NULL, 0);
	vmbus_server_reset(d->vmbus);
	hv_partition_reset(d->hv);
}

static void backend_detach(void *opaque)
{
	struct host *d = opaque;

	log_info("frontend detached");
	trace_emit(VMBUS_TRACE_DETACH, 0, VMBUS_TRACE_VP_NONE, 0, 0, NULL, 0);
	vmbus_server_reset(d->vmbus);
	hv_partition_reset(d->hv);
	hv_partition_unbind(d->hv);
}

static const struct attach_backend_ops host_backend_ops = {
	.attach = backend_attach,
	.msr_read = backend_msr_read,
	.msr_write = backend_msr_write,
	.hypercall = backend_hypercall,
	.signal = backend_signal,
	.idle = backend_idle,
	.clock = backend_clock,
	.reset = backend_reset,
	.detach = backend_detach,
};

static void host_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct host *d = arg;

	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(d->base, NULL);
}

/* The device's own keys only: "type", "name" and "monitor" belong to the
 * daemon. */
static json_t *device_own_config(const json_t *dev)
{
	json_t *copy = json_copy((json_t *)dev);

	json_object_del(copy, "type");
	json_object_del(copy, "name");
	json_object_del(copy, "monitor");
	return copy;
}

/* The channels a device offered while it was created are the ones still
 * without a label: name them after it, for the status report (its later
 * subchannels take the primary's label and monitor choice in vmbus/), and
 * give them monitor ids when the device is monitored ("monitor", default
 * the device type's: storage and network yes, integration components no,
 * as Hyper-V offers them). */
static int host_label_channels(struct host *d, const char *name, bool monitor, const char *path,
			       struct json_err *err)
{
	struct vmbus_channel *ch = NULL;

	while ((ch = vmbus_server_next_channel(d->vmbus, ch)) != NULL) {
		if (vmbus_chan_label(ch)[0])
			continue;
		vmbus_chan_set_label(ch, name);
		if (vmbus_chan_set_monitored(ch, monitor) < 0)
			return json_fail(err, path, "monitor",
					 "no monitor id left (%u monitored channels at most)",
					 HV_MONITOR_IDS);
	}
	return 0;
}

static int host_create_devices(struct host *d, const json_t *devices, struct json_err *err)
{
	size_t i;
	json_t *dev;

	json_array_foreach(devices, i, dev) {
		const char *type = json_string_value(json_object_get(dev, "type"));
		const char *name = json_string_value(json_object_get(dev, "name"));
		struct host_device *slot = &d->devices[d->n_devices];
		char path[32];
		bool monitor;
		json_t *own;
		int rc;

		snprintf(path, sizeof(path), "devices[%zu]", i);
		slot->ops = device_lookup(type);
		if (!name) {
			/* Default names: the type, then type2, type3, ... */
			snprintf(slot->name, sizeof(slot->name), "%s", type);
			for (unsigned int n = 2; host_find_device(d, slot->name); n++)
				snprintf(slot->name, sizeof(slot->name), "%s%u", type, n);
		} else if (host_find_device(d, name)) {
			return json_fail(err, path, "name", "\"%s\" is used twice", name);
		} else {
			snprintf(slot->name, sizeof(slot->name), "%s", name);
		}
		own = device_own_config(dev);
		rc = slot->ops->create(d->vmbus, own, path, &slot->dev, err);
		json_decref(own);
		if (rc)
			return rc;
		d->n_devices++;
		monitor = slot->ops->monitored;
		json_get_bool(dev, path, "monitor", false, &monitor, err); /* checked at load */
		rc = host_label_channels(d, slot->name, monitor, path, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* devices/registry.h: a device's view of its peers (their stats). */
static json_t *host_peer_stats(void *ctx, const char *name)
{
	struct host_device *dev = host_find_device(ctx, name);

	return dev && dev->ops->stats ? dev->ops->stats(dev->dev) : NULL;
}

int host_init(struct host *d, struct event_base *base, const struct host_config *cfg,
		const char *socket_path, const char *control_path, struct json_err *err)
{
	struct hv_irq_sink sink = { .raise = host_raise_irq, .opaque = d };
	struct hv_timer_sink timer = { .arm = host_stimer_arm, .opaque = d };
	struct vmbus_server_config vcfg = { .max_version = cfg->max_version,
					    .monitor_latency_us = cfg->monitor_latency_us,
					    .monitor_idle_us = cfg->monitor_idle_us,
					    .idle_watch = host_idle_watch, .idle_opaque = d };
	int rc;

	memset(d, 0, sizeof(*d));
	d->base = base;
	d->max_version = cfg->max_version;
	d->hv_features = cfg->hv;
	d->hv = hv_partition_new(&sink);
	d->stimer_ev = evtimer_new(base, host_on_stimer, d);
	if (!d->hv || !d->stimer_ev)
		goto nomem;
	hv_partition_set_timer_sink(d->hv, &timer);
	d->vmbus = vmbus_server_new(d->hv, base, &vcfg);
	if (!d->vmbus)
		goto nomem;
	device_set_peer_lookup(host_peer_stats, d);
	rc = host_create_devices(d, json_object_get(cfg->root, "devices"), err);
	if (rc)
		goto fail;
	d->attach = attach_server_new(base, socket_path, &host_backend_ops, d);
	if (!d->attach) {
		snprintf(err->msg, sizeof(err->msg), "cannot listen on %s", socket_path);
		rc = -EADDRNOTAVAIL;
		goto fail;
	}
	if (control_path) {
		d->control = control_server_new(d, control_path);
		if (!d->control) {
			snprintf(err->msg, sizeof(err->msg), "cannot listen on %s", control_path);
			rc = -EADDRNOTAVAIL;
			goto fail;
		}
	}
	d->sig_int = evsignal_new(base, SIGINT, host_on_signal, d);
	d->sig_term = evsignal_new(base, SIGTERM, host_on_signal, d);
	if (!d->sig_int || !d->sig_term)
		goto nomem;
	evsignal_add(d->sig_int, NULL);
	evsignal_add(d->sig_term, NULL);
	return 0;
nomem:
	snprintf(err->msg, sizeof(err->msg), "out of memory");
	rc = -ENOMEM;
fail:
	host_fini(d);
	return rc;
}

/* Teardown in reverse order of init. */
void host_fini(struct host *d)
{
	device_set_peer_lookup(NULL, NULL);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->control)
		control_server_free(d->control);
	if (d->attach)
		attach_server_free(d->attach);
	if (d->vmbus)
		vmbus_server_reset(d->vmbus);
	while (d->n_devices > 0) {
		struct host_device *dev = &d->devices[--d->n_devices];

		dev->ops->destroy(dev->dev);
	}
	if (d->vmbus)
		vmbus_server_free(d->vmbus);
	if (d->hv)
		hv_partition_free(d->hv);
	if (d->stimer_ev)
		event_free(d->stimer_ev);
	memset(d, 0, sizeof(*d));
}

struct host_device *host_find_device(struct host *d, const char *name)
{
	for (unsigned int i = 0; i < d->n_devices; i++)
		if (strcmp(d->devices[i].name, name) == 0)
			return &d->devices[i];
	return NULL;
}

/*
 * Everything the daemon counts, by layer: the frontend connection
 * ("attach"), the partition ("hv"), the channel server with one entry per
 * channel ("vmbus"), and each device under its name ("devices").  Each
 * layer builds its own part from its counter list (core/stats.h), so a
 * counter that is kept is shown.  Keys tests depend on ("attached",
 * "generation", "vmbus.malformed", "devices.NAME.KEY") stay where they are.
 */
json_t *host_status(struct host *d)
{
	json_t *devs = json_object();
	json_t *o;

	for (unsigned int i = 0; devs && i < d->n_devices; i++) {
		struct host_device *dev = &d->devices[i];
		json_t *s = dev->ops->stats ? dev->ops->stats(dev->dev) : json_object();

		if (!s)
			s = json_object();
		json_object_set_new(s, "type", json_string(dev->ops->name));
		json_object_set_new(devs, dev->name, s);
	}
	o = json_pack("{s:b,s:I,s:o*,s:o*,s:o*,s:o*,s:o*}",
		      "attached", attach_server_attached(d->attach),
		      "generation", (json_int_t)attach_server_generation(d->attach),
		      "hv", hv_partition_status_json(d->hv),
		      "vmbus", vmbus_server_status_json(d->vmbus),
		      "devices", devs,
		      "attach", attach_server_stats_json(d->attach),
		      "faults", fault_class_status_json());
	return o;
}
