/* SPDX-License-Identifier: MIT */
/* trace/'s own helpers shared by its decoders. */
#ifndef VMBUSD_TRACE_TRACE_INTERNAL_H
#define VMBUSD_TRACE_TRACE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"
#include "trace/trace.h"

/* Little-endian field of `size` bytes at `off`; *ok false (0 returned)
 * when it does not lie inside the `len` kept bytes. */
uint64_t trace_get(const uint8_t *p, size_t len, size_t off, unsigned size, bool *ok);
const char *trace_pkt_type_name(uint32_t type);
void trace_decode_chanmsg(const uint8_t *p, size_t len, struct trace_out *o);
void trace_decode_rndis(const uint8_t *p, size_t len, struct trace_out *o);
/* UTF-16LE (at most `bytes`, stops at NUL) to UTF-8 in out (always terminated). */
void trace_utf16_to_utf8(const uint8_t *p, size_t bytes, char *out, size_t out_len);

#endif
