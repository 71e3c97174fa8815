/* SPDX-License-Identifier: MIT */
#include "core/guid.h"

#include <errno.h>
#include <string.h>
#include <uuid/uuid.h>

/* RFC 4122 byte order (libuuid) <-> guid_t order: the swap is its own inverse. */
static void guid_swap(const uint8_t in[16], uint8_t out[16])
{
	static const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };

	for (int i = 0; i < 16; i++)
		out[i] = in[order[i]];
}

int guid_parse(const char *text, struct guid *out)
{
	char buf[GUID_STR_LEN];
	size_t len = strlen(text);
	uuid_t u;

	if (len == 38 && text[0] == '{' && text[37] == '}') {
		memcpy(buf, text + 1, 36);
		buf[36] = '\0';
		text = buf;
	} else if (len != 36) {
		return -EINVAL;
	}
	if (uuid_parse(text, u) != 0)
		return -EINVAL;
	guid_swap(u, out->b);
	return 0;
}

void guid_format(const struct guid *g, char out[GUID_STR_LEN])
{
	uuid_t u;

	guid_swap(g->b, u);
	uuid_unparse_lower(u, out);
}

void guid_generate(struct guid *out)
{
	uuid_t u;

	uuid_generate(u);
	guid_swap(u, out->b);
}

bool guid_equal(const struct guid *a, const struct guid *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

bool guid_is_null(const struct guid *g)
{
	static const struct guid null;

	return guid_equal(g, &null);
}
