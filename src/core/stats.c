/* SPDX-License-Identifier: MIT */
/* The generic halves of the generated stats functions (see stats.h). */
#include "core/stats.h"

#include <string.h>

static uint64_t stats_get(const void *base, const struct stats_field *f)
{
	uint64_t v;

	/* memcpy: the table's offset is all we know about the container. */
	memcpy(&v, (const char *)base + f->offset, sizeof(v));
	return v;
}

json_t *stats_json(const void *base, const struct stats_field *f, size_t n, json_t *into)
{
	json_t *o = into ? into : json_object();

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (json_object_set_new(o, f[i].name,
					json_integer((json_int_t)stats_get(base, &f[i]))) < 0) {
			if (!into)
				json_decref(o);
			return NULL;
		}
	}
	return o;
}

void stats_add(void *dst, const void *src, const struct stats_field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = stats_get(dst, &f[i]) + stats_get(src, &f[i]);

		memcpy((char *)dst + f[i].offset, &v, sizeof(v));
	}
}

uint64_t stats_total(const void *base, const struct stats_field *f, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += stats_get(base, &f[i]);
	return sum;
}
