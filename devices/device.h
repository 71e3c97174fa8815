/* SPDX-License-Identifier: MIT */
/*
 * The device interface: every VSP (storvsp, netvsp, the integration
 * components) is one `struct vmbus_device_ops`, listed in devices/registry.c
 * and created from its JSON object in the configuration.
 */
#ifndef VMBUSD_DEVICES_DEVICE_H
#define VMBUSD_DEVICES_DEVICE_H

#include <jansson.h>

#include "core/json.h"
#include "vmbus/vmbus.h"

/* Completion of an asynchronous control action.  `result` (may be NULL) is
 * handed over to the callee.  Called exactly once per accepted action. */
typedef void (*device_control_done)(void *cookie, int status, json_t *result);

struct vmbus_device_ops {
	const char *name;        /* the "type" in configuration JSON */
	const char *description;
	const char *class_guid;  /* the offer's if_type (facts §7.3), "xxxxxxxx-xxxx-..." */
	const char *guest_driver; /* the Linux driver that binds the class, NULL if none:
				   * a real guest is expected to bind every device with one */
	bool monitored;          /* offered with a monitor id unless the config says
				  * "monitor": false (Hyper-V: storage and network) */
	/* Parses `config` (the device's object, never NULL) and offers its
	 * channels.  Errors name the key: json_fail(err, path, key, ...). */
	int (*create)(struct vmbus_server *srv, const json_t *config, const char *path,
		      void **dev, struct json_err *err);
	void (*destroy)(void *dev);
	/* A host-side action ("shutdown", "kvp-set", ...).  0 when accepted
	 * (done() follows, possibly before this returns), -ENOTSUP for an
	 * unknown verb, -EINVAL with err filled for bad arguments, -EBUSY/-ENOTCONN
	 * when the guest side is not ready. */
	int (*control)(void *dev, const char *verb, const json_t *args, device_control_done done,
		       void *cookie, struct json_err *err);
	/* A new JSON object with the device's state and counters. */
	json_t *(*stats)(void *dev);
};

#endif
