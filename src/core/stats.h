/* SPDX-License-Identifier: MIT */
/*
 * Statistics counters, each list written once.
 *
 * A layer or device lists its counters in one X-macro:
 *
 *     #define HV_STATS(X)                                           \
 *             X(hypercalls, "every hypercall the frontend forwarded") \
 *             X(hc_refused, "... answered with an error status")
 *
 * and everything else is generated from that list, so a counter that is
 * kept is also reported — there is no second, hand-written list of names
 * for a new counter to be missing from:
 *
 *   - STATS_STRUCT(hv_stats, HV_STATS) defines `struct hv_stats` with one
 *     uint64_t per entry.  STATS_FIELDS(LIST) puts the same fields straight
 *     into a bigger struct, when the counters live beside other state and
 *     code already writes `dev->beats++`.
 *   - STATS_DEFINE(hv_stats, struct hv_stats, HV_STATS) defines
 *     hv_stats_fields() (the table: name, description, offset) and
 *     hv_stats_json(s, into), which sets one JSON integer per entry.  The
 *     type may be any struct holding the fields (offsetof is taken on it).
 *     STATS_DECLARE() is the matching prototype for a header;
 *     STATS_DEFINE_STATIC() the file-local variant.
 *
 * The description is the counter's documentation (what the struct comment
 * used to say); it lives in the table, so tests and tools can read it.
 * JSON keys are the field names: renaming a field renames the key, which
 * is why existing names stay as they are.
 *
 * Counters are written on the event-loop thread only; nothing here is
 * atomic.  Values are reported as JSON integers (int64: a counter would
 * have to run for centuries to wrap).
 */
#ifndef VMBUSD_CORE_STATS_H
#define VMBUSD_CORE_STATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct stats_field {
	const char *name;   /* field name = JSON key */
	const char *doc;    /* one line: what moves it */
	size_t offset;      /* of the uint64_t in the struct the table describes */
};

/* One uint64_t member per list entry. */
#define STATS_MEMBER_(name, doc) uint64_t name;
#define STATS_FIELDS(LIST) LIST(STATS_MEMBER_)
#define STATS_STRUCT(tag, LIST) \
	struct tag {            \
		STATS_FIELDS(LIST) \
	}

/* The table entry; stats_self_ is a typedef local to the generated
 * function, so that the list macro only has to carry (name, doc). */
#define STATS_DESC_(name, doc) { #name, doc, offsetof(stats_self_, name) },

#define STATS_DEFINE_(storage, fn, type, LIST)                                      \
	storage const struct stats_field *fn##_fields(size_t *n)                    \
	{                                                                           \
		typedef type stats_self_;                                           \
		static const struct stats_field f[] = { LIST(STATS_DESC_) };        \
		*n = sizeof(f) / sizeof(f[0]);                                      \
		return f;                                                           \
	}                                                                           \
	storage json_t *fn##_json(const type *s, json_t *into)                      \
	{                                                                           \
		size_t n;                                                           \
		const struct stats_field *f = fn##_fields(&n);                      \
		return stats_json(s, f, n, into);                                   \
	}

#define STATS_DECLARE(fn, type)                           \
	const struct stats_field *fn##_fields(size_t *n); \
	json_t *fn##_json(const type *s, json_t *into)
#define STATS_DEFINE(fn, type, LIST) STATS_DEFINE_(, fn, type, LIST)
#define STATS_DEFINE_STATIC(fn, type, LIST) STATS_DEFINE_(static, fn, type, LIST)

/* Sets one integer per field of `base` in `into` (a new object when NULL).
 * Returns `into`, or NULL when out of memory (a new object is then freed). */
json_t *stats_json(const void *base, const struct stats_field *f, size_t n, json_t *into);
/* dst.field += src.field for every field (a device's total over channels). */
void stats_add(void *dst, const void *src, const struct stats_field *f, size_t n);
/* The sum of every field (e.g. all the kinds of malformed packets). */
uint64_t stats_total(const void *base, const struct stats_field *f, size_t n);

#endif
