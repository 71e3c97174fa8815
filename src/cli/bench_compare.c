/* SPDX-License-Identifier: MIT */
/*
 * `vmbusd bench compare OLD.json NEW.json`: two `vmbusd bench ring --json`
 * (or tests/guest/bench-guest.sh BENCH_JSON) results side by side, the
 * ratio new/old of each row's figure ("gbps" for ring rows, "value" for
 * guest rows: MB/s, IOPS, Mbit/s, boots per minute) and of its ratio to
 * the same-run reference (the steadier figure: both sides of it move with
 * the machine; higher is better in every row).  Rows are matched by
 * direction and size; a row whose ratio to its reference dropped by more
 * than 10 % is marked, since these machines vary by up to 30 % run to run
 * in absolute terms.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/bench_internal.h"

static json_t *bench_load(const char *path)
{
	json_error_t jerr;
	json_t *doc = json_load_file(path, 0, &jerr);

	if (!doc || !json_is_array(json_object_get(doc, "rows"))) {
		fprintf(stderr, "vmbusd bench compare: %s: %s\n", path,
			doc ? "not a vmbusd bench result (no \"rows\")" : jerr.text);
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static json_t *bench_find(json_t *rows, const char *dir, json_int_t size)
{
	size_t i;
	json_t *r;

	json_array_foreach(rows, i, r)
		if (!strcmp(json_string_value(json_object_get(r, "direction")) ?: "", dir) &&
		    json_integer_value(json_object_get(r, "size")) == size)
			return r;
	return NULL;
}

/* A row's own figure: a ring row's GB/s, a guest row's value. */
static double bench_figure(json_t *row)
{
	json_t *v = json_object_get(row, "gbps");

	return json_number_value(v ? v : json_object_get(row, "value"));
}

int bench_compare(const char *old_path, const char *new_path)
{
	json_t *old = bench_load(old_path), *new = old ? bench_load(new_path) : NULL, *r;
	unsigned slower = 0;
	size_t i;

	if (!old || !new) {
		json_decref(old);
		return 2;
	}
	printf("%-28s %7s %10s %10s %8s %9s %9s %8s\n", "row", "size", "old", "new",
	       "new/old", "old ratio", "new ratio", "new/old");
	json_array_foreach(json_object_get(new, "rows"), i, r) {
		const char *dir = json_string_value(json_object_get(r, "direction"));
		json_int_t size = json_integer_value(json_object_get(r, "size"));
		json_t *o = dir ? bench_find(json_object_get(old, "rows"), dir, size) : NULL;
		double og, ng, orat, nrat;

		if (!o) {
			printf("%-28s %7lld  (not in %s)\n", dir ? dir : "?", (long long)size, old_path);
			continue;
		}
		og = bench_figure(o);
		ng = bench_figure(r);
		orat = json_number_value(json_object_get(o, "ratio"));
		nrat = json_number_value(json_object_get(r, "ratio"));
		printf("%-28s %7lld %10.3f %10.3f %8.3f %9.3f %9.3f %8.3f%s\n", dir, (long long)size, og,
		       ng, og > 0 ? ng / og : 0, orat, nrat, orat > 0 ? nrat / orat : 0,
		       orat > 0 && nrat / orat < 0.9 ? "  SLOWER" : "");
		slower += orat > 0 && nrat / orat < 0.9;
	}
	printf("%u row(s) more than 10 %% slower relative to their reference\n", slower);
	json_decref(old);
	json_decref(new);
	return 0;
}
