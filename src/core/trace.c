/* SPDX-License-Identifier: MIT */
#include "core/trace.h"

trace_sink_fn trace_sink;
void *trace_sink_opaque;

void trace_set_sink(trace_sink_fn fn, void *opaque)
{
	trace_sink = fn;
	trace_sink_opaque = opaque;
}
