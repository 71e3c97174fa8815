/* SPDX-License-Identifier: MIT */
/* The one explicit table of devices (no constructor registration: it drops
 * objects out of static libraries silently). */
#ifndef VMBUSD_DEVICES_REGISTRY_H
#define VMBUSD_DEVICES_REGISTRY_H

#include <stddef.h>

#include "devices/device.h"

/* Devices that have no subsystem header of their own. */
extern const struct vmbus_device_ops bench_ops;

extern const struct vmbus_device_ops *const device_table[];
extern const size_t device_table_len;

/* The device type called `name`, or NULL. */
const struct vmbus_device_ops *device_lookup(const char *name);

#endif
