/* SPDX-License-Identifier: MIT */
/*
 * `vmbusd bench compare OLD.json NEW.json`: two `vmbusd bench ring --json`
 * results side by side, the ratio new/old of each row's throughput and of
 * its ratio to the bare reference (the steadier figure: both sides of it
 * move with the machine).  Rows are matched by direction and size; a row
 * whose vmbus/bare ratio dropped by more than 10 % is marked, since these
 * machines vary by up to 30 % run to run in absolute terms.
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

int bench_compare(const char *old_path, const char *new_path)
{
	json_t *old = bench_load(old_path), *new = old ? bench_load(new_path) : NULL, *r;
	unsigned slower = 0;
	size_t i;

	if (!old || !new) {
		json_decref(old);
		return 2;
	}
	printf("%-9s %6s %10s %10s %8s %9s %9s %8s\n", "direction", "size", "old GB/s", "new GB/s",
	       "new/old", "old ratio", "new ratio", "new/old");
	json_array_foreach(json_object_get(new, "rows"), i, r) {
		const char *dir = json_string_value(json_object_get(r, "direction"));
		json_int_t size = json_integer_value(json_object_get(r, "size"));
		json_t *o = dir ? bench_find(json_object_get(old, "rows"), dir, size) : NULL;
		double og, ng, orat, nrat;

		if (!o) {
			printf("%-9s %6lld  (not in %s)\n", dir ? dir : "?", (long long)size, old_path);
			continue;
		}
		og = json_number_value(json_object_get(o, "gbps"));
		ng = json_number_value(json_object_get(r, "gbps"));
		orat = json_number_value(json_object_get(o, "ratio"));
		nrat = json_number_value(json_object_get(r, "ratio"));
		printf("%-9s %6lld %10.3f %10.3f %8.3f %9.3f %9.3f %8.3f%s\n", dir, (long long)size, og,
		       ng, og > 0 ? ng / og : 0, orat, nrat, orat > 0 ? nrat / orat : 0,
		       orat > 0 && nrat / orat < 0.9 ? "  SLOWER" : "");
		slower += orat > 0 && nrat / orat < 0.9;
	}
	printf("%u row(s) more than 10 %% slower relative to the bare ring\n", slower);
	json_decref(old);
	json_decref(new);
	return 0;
}
