/* SPDX-License-Identifier: MIT */
/*
 * UTF-8 <-> UTF-16LE for IC strings (KVP keys and values, the shutdown
 * message), bounded and NUL-terminated.  The guest's side is hostile:
 * sizes are checked against the bytes really present.
 */
#include "devices/ic/ic_internal.h"

#include <errno.h>
#include <string.h>

int utf16_encode(const char *utf8, uint8_t *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)utf8;
	size_t pos = 0;

	while (*s) {
		uint32_t cp;
		int extra;

		if (s[0] < 0x80) {
			cp = s[0];
			extra = 0;
		} else if ((s[0] & 0xE0) == 0xC0) {
			cp = s[0] & 0x1F;
			extra = 1;
		} else if ((s[0] & 0xF0) == 0xE0) {
			cp = s[0] & 0x0F;
			extra = 2;
		} else if ((s[0] & 0xF8) == 0xF0) {
			cp = s[0] & 0x07;
			extra = 3;
		} else {
			return -EINVAL;
		}
		for (int i = 1; i <= extra; i++) {
			if ((s[i] & 0xC0) != 0x80) /* also stops at the NUL */
				return -EINVAL;
			cp = (cp << 6) | (s[i] & 0x3F);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
		    (extra == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return -EINVAL;
		s += extra + 1;
		if (cp >= 0x10000) {
			uint32_t v = cp - 0x10000;
			uint16_t hi = (uint16_t)(0xD800 | (v >> 10)), lo = (uint16_t)(0xDC00 | (v & 0x3FF));

			if (cap < 4 || pos > cap - 4)
				return -E2BIG;
			out[pos++] = (uint8_t)hi;
			out[pos++] = (uint8_t)(hi >> 8);
			out[pos++] = (uint8_t)lo;
			out[pos++] = (uint8_t)(lo >> 8);
		} else {
			if (cap < 2 || pos > cap - 2)
				return -E2BIG;
			out[pos++] = (uint8_t)cp;
			out[pos++] = (uint8_t)(cp >> 8);
		}
	}
	if (cap < 2 || pos > cap - 2)
		return -E2BIG;
	out[pos++] = 0;
	out[pos++] = 0;
	return (int)pos;
}

static int utf8_put(char *out, size_t cap, size_t *pos, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	if (*pos + n + 1 > cap) /* keep room for the NUL */
		return -E2BIG;
	memcpy(out + *pos, b, n);
	*pos += n;
	return 0;
}

int utf16_decode(const uint8_t *in, size_t size, size_t avail, char *out, size_t cap)
{
	size_t units, pos = 0;

	if (cap == 0)
		return -E2BIG;
	out[0] = '\0';
	if (size == 0 || size % 2 != 0 || size > avail)
		return -EBADMSG;
	units = size / 2;
	for (size_t i = 0; i < units; i++) {
		uint32_t u = (uint32_t)in[2 * i] | ((uint32_t)in[2 * i + 1] << 8);
		int rc;

		if (u == 0) {
			out[pos] = '\0';
			return (int)pos;
		}
		if (u >= 0xD800 && u <= 0xDBFF && i + 1 < units) {
			uint32_t lo = (uint32_t)in[2 * i + 2] | ((uint32_t)in[2 * i + 3] << 8);

			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
				i++;
			} else {
				u = 0xFFFD;
			}
		} else if (u >= 0xD800 && u <= 0xDFFF) {
			u = 0xFFFD;
		}
		rc = utf8_put(out, cap, &pos, u);
		if (rc)
			return rc;
	}
	out[0] = '\0';
	return -EBADMSG; /* no NUL within the stated size */
}
