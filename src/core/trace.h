/* SPDX-License-Identifier: MIT */
/*
 * Trace hook: lower layers emit one event at each point where bytes cross
 * the bus (messages in/out, ring packets in/out, GPADL create/teardown,
 * signals, interrupts, MSR writes, attach/reset/detach, device data moved
 * through guest pages outside the ring).  The event types and the meaning
 * of `id`/`arg` per type are the capture format's
 * (include/vmbusd/proto/trace.h); src/trace/ installs the sink that writes
 * them.  With no sink installed an emit is one predicted branch.
 *
 * The sink may be called from any thread; the data (`iov`, at most `len`
 * bytes of it) is only valid during the call (it may point into guest
 * memory: the sink copies it at once).
 */
#ifndef VMBUSD_CORE_TRACE_H
#define VMBUSD_CORE_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmbusd/proto/trace.h"

typedef void (*trace_sink_fn)(void *opaque, uint16_t event, uint32_t relid, uint32_t vp,
			      uint32_t id, uint64_t arg, const struct iovec *iov, int iovcnt,
			      size_t len);

extern trace_sink_fn trace_sink;
extern void *trace_sink_opaque;

void trace_set_sink(trace_sink_fn fn, void *opaque);

static inline int trace_active(void)
{
	return __builtin_expect(trace_sink != NULL, 0);
}

/* Data scattered over iovecs (a guest buffer): the first `len` bytes of
 * iov[0..iovcnt) are the event data. */
static inline void trace_emit_iov(uint16_t event, uint32_t relid, uint32_t vp, uint32_t id,
				  uint64_t arg, const struct iovec *iov, int iovcnt, size_t len)
{
	if (trace_active())
		trace_sink(trace_sink_opaque, event, relid, vp, id, arg, iov, iovcnt, len);
}

static inline void trace_emit(uint16_t event, uint32_t relid, uint32_t vp, uint32_t id,
			      uint64_t arg, const void *data, size_t len)
{
	if (trace_active()) {
		struct iovec one = { (void *)data, data ? len : 0 };

		trace_sink(trace_sink_opaque, event, relid, vp, id, arg, &one, 1, one.iov_len);
	}
}

#endif
