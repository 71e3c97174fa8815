/* SPDX-License-Identifier: MIT */
/*
 * The one explicit table of device types, looked up by the "type" used in
 * scenario JSON.  No constructor or linker-set registration: objects that
 * nothing references are silently dropped from a static library.
 */
#include "devices/registry.h"

#include <string.h>

const struct vmbus_device_ops *const device_table[] = {
	/* Integration components (devices/ic/). */
	&heartbeat_ops,
	&shutdown_ops,
	&timesync_ops,
	&kvp_ops,
	&vss_ops,
	&fcopy_ops,
	/* Storage (devices/storvsp/ over devices/scsi and devices/blk). */
	&storvsp_ops,
	/* Network (devices/netvsp/ over devices/net). */
	&netvsp_ops,
	/* vmbusd's own ring-benchmark device (not a Hyper-V class). */
	&bench_ops,
	/* One captured channel played back (src/trace/trace_replay.c). */
	&replay_ops,
};

const size_t device_table_len = sizeof(device_table) / sizeof(device_table[0]);

const struct vmbus_device_ops *device_lookup(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < device_table_len; i++)
		if (strcmp(device_table[i]->name, name) == 0)
			return device_table[i];
	return NULL;
}

static device_peer_stats_fn peer_fn;
static void *peer_ctx;

void device_set_peer_lookup(device_peer_stats_fn fn, void *ctx)
{
	peer_fn = fn;
	peer_ctx = ctx;
}

json_t *device_peer_stats(const char *name)
{
	return peer_fn && name ? peer_fn(peer_ctx, name) : NULL;
}
