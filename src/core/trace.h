/* SPDX-License-Identifier: MIT */
/*
 * Trace hooks: lower layers emit named events with their raw bytes at
 * protocol boundaries ("hv.post_message", "synic.deliver", "ring.g2h",
 * "ring.h2g"); a sink installed by the harness records them (capture and
 * replay build on this).  With no sink installed an emit is one branch.
 */
#ifndef VMBUSD_CORE_TRACE_H
#define VMBUSD_CORE_TRACE_H

#include <stddef.h>
#include <stdint.h>

typedef void (*trace_sink_fn)(void *opaque, const char *event, uint32_t id,
			      const void *data, size_t len);

extern trace_sink_fn trace_sink;
extern void *trace_sink_opaque;

void trace_set_sink(trace_sink_fn fn, void *opaque);

/* `id` scopes the event: a relid, a VP index, a connection id. */
static inline void trace_emit(const char *event, uint32_t id, const void *data, size_t len)
{
	if (__builtin_expect(trace_sink != NULL, 0))
		trace_sink(trace_sink_opaque, event, id, data, len);
}

#endif
