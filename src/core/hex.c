/* SPDX-License-Identifier: MIT */
#include "core/hex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *hex_encode(const uint8_t *p, size_t n)
{
	char *s = malloc(2 * n + 1);

	for (size_t i = 0; s && i < n; i++)
		snprintf(s + 2 * i, 3, "%02x", p[i]);
	if (s)
		s[2 * n] = '\0';
	return s;
}

int hex_decode(const char *s, size_t max_bytes, uint8_t **out, uint32_t *len)
{
	size_t n = s ? strlen(s) : 0;
	uint8_t *b;

	if (n == 0 || n % 2 || n / 2 > max_bytes || n / 2 > UINT32_MAX)
		return -EINVAL;
	b = malloc(n / 2);
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1) {
			free(b);
			return -EINVAL;
		}
		b[i] = (uint8_t)v;
	}
	*out = b;
	*len = (uint32_t)(n / 2);
	return 0;
}
