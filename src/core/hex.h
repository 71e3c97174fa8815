/* SPDX-License-Identifier: MIT */
/* Bytes as lower-case hex text and back (capture scripts, replay edits). */
#ifndef VMBUSD_CORE_HEX_H
#define VMBUSD_CORE_HEX_H

#include <stddef.h>
#include <stdint.h>

/* A new NUL-terminated string of 2 * n hex digits, or NULL (no memory). */
char *hex_encode(const uint8_t *p, size_t n);
/* Decodes a non-empty, even-length hex string of at most max_bytes bytes
 * into a new buffer (*out, *len).  0, -EINVAL (NULL, empty, odd, too long,
 * not hex; *out untouched) or -ENOMEM. */
int hex_decode(const char *s, size_t max_bytes, uint8_t **out, uint32_t *len);

#endif
