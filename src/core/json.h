/* SPDX-License-Identifier: MIT */
/*
 * Typed access to JSON configuration (jansson) with errors that name the
 * key and say why, e.g. "devices[2].instance: not a GUID".
 */
#ifndef VMBUSD_CORE_JSON_H
#define VMBUSD_CORE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmbusd/proto/vmbus.h"

struct json_err {
	char msg[256];
};

/* Records "<path>.<key>: <why>" in err; always returns -EINVAL. */
int json_fail(struct json_err *err, const char *path, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Each getter: a missing optional key leaves *out untouched and returns 0;
 * a missing required key or a wrong type fails with json_fail(). */
int json_get_string(const json_t *obj, const char *path, const char *key, bool required,
		    const char **out, struct json_err *err);
int json_get_bool(const json_t *obj, const char *path, const char *key, bool required,
		  bool *out, struct json_err *err);
int json_get_u64(const json_t *obj, const char *path, const char *key, bool required,
		 uint64_t min, uint64_t max, uint64_t *out, struct json_err *err);
int json_get_guid(const json_t *obj, const char *path, const char *key, bool required,
		  struct guid *out, struct json_err *err);
/* Fails on any key of obj not in the NULL-terminated list: catches typos. */
int json_check_keys(const json_t *obj, const char *path, const char *const *allowed,
		    struct json_err *err);

/* The value at a dotted path ("devices.heartbeat.beats"; a number indexes
 * an array: "devices.storvsp.channels.1.requests"), or NULL. */
json_t *json_path_get(json_t *root, const char *path);
/* Compares v with the text `want` under op (= == != >= > <= <): numbers
 * numerically, strings and booleans as text.  1 true, 0 false, -EINVAL for
 * an unknown op or a missing/unsupported value. */
int json_compare(const json_t *v, const char *op, const char *want);

#endif
