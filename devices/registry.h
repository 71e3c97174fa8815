/* SPDX-License-Identifier: MIT */
/* The one explicit table of devices (no constructor registration: it drops
 * objects out of static libraries silently). */
#ifndef VMBUSD_DEVICES_REGISTRY_H
#define VMBUSD_DEVICES_REGISTRY_H

#include <stddef.h>

#include "devices/device.h"

/* Every device type, each defined at the end of its own file (or folder):
 * a new device is that file plus one line here and one in registry.c. */
extern const struct vmbus_device_ops heartbeat_ops;  /* devices/ic/heartbeat.c */
extern const struct vmbus_device_ops shutdown_ops;   /* devices/ic/shutdown.c */
extern const struct vmbus_device_ops timesync_ops;   /* devices/ic/timesync.c */
extern const struct vmbus_device_ops kvp_ops;        /* devices/ic/kvp.c */
extern const struct vmbus_device_ops vss_ops;        /* devices/ic/vss.c */
extern const struct vmbus_device_ops fcopy_ops;      /* devices/ic/fcopy.c */
extern const struct vmbus_device_ops storvsp_ops;    /* devices/storvsp/ */
extern const struct vmbus_device_ops netvsp_ops;     /* devices/netvsp/ */
extern const struct vmbus_device_ops bench_ops;      /* devices/bench.c */
extern const struct vmbus_device_ops replay_ops;     /* devices/replay/replay.c (vmbusd replay) */

extern const struct vmbus_device_ops *const device_table[];
extern const size_t device_table_len;

/* The device type called `name`, or NULL. */
const struct vmbus_device_ops *device_lookup(const char *name);

/* Devices that act on a peer (vss "backup" copies a storvsp disk's image)
 * see it only through its stats: the host registers a lookup returning a
 * new reference to the stats JSON of the device called `name`, or NULL.
 * One host per process; NULL fn unregisters. */
typedef json_t *(*device_peer_stats_fn)(void *ctx, const char *name);
void device_set_peer_lookup(device_peer_stats_fn fn, void *ctx);
json_t *device_peer_stats(const char *name);

#endif
