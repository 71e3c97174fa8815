/* SPDX-License-Identifier: MIT */
#include "core/json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guid.h"

int json_fail(struct json_err *err, const char *path, const char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(err->msg, sizeof(err->msg), "%s%s%s: ", path ? path : "",
		     path && *path && key ? "." : "", key ? key : "");
	if (n < 0 || (size_t)n >= sizeof(err->msg))
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const json_t *json_lookup(const json_t *obj, const char *path, const char *key,
				 bool required, struct json_err *err, int *rc)
{
	const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	*rc = 0;
	if (!v && required)
		*rc = json_fail(err, path, key, "required key is missing");
	return v;
}

int json_get_string(const json_t *obj, const char *path, const char *key, bool required,
		    const char **out, struct json_err *err)
{
	int rc;
	const json_t *v = json_lookup(obj, path, key, required, err, &rc);

	if (!v)
		return rc;
	if (!json_is_string(v))
		return json_fail(err, path, key, "must be a string");
	*out = json_string_value(v);
	return 0;
}

int json_get_bool(const json_t *obj, const char *path, const char *key, bool required,
		  bool *out, struct json_err *err)
{
	int rc;
	const json_t *v = json_lookup(obj, path, key, required, err, &rc);

	if (!v)
		return rc;
	if (!json_is_boolean(v))
		return json_fail(err, path, key, "must be true or false");
	*out = json_is_true(v);
	return 0;
}

int json_get_u64(const json_t *obj, const char *path, const char *key, bool required,
		 uint64_t min, uint64_t max, uint64_t *out, struct json_err *err)
{
	int rc;
	const json_t *v = json_lookup(obj, path, key, required, err, &rc);
	json_int_t i;

	if (!v)
		return rc;
	if (!json_is_integer(v))
		return json_fail(err, path, key, "must be an integer");
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return json_fail(err, path, key, "must be between %llu and %llu",
				 (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)i;
	return 0;
}

int json_get_guid(const json_t *obj, const char *path, const char *key, bool required,
		  struct guid *out, struct json_err *err)
{
	const char *s = NULL;
	int rc = json_get_string(obj, path, key, required, &s, err);

	if (rc || !s)
		return rc;
	if (guid_parse(s, out) != 0)
		return json_fail(err, path, key, "\"%s\" is not a GUID", s);
	return 0;
}

int json_check_keys(const json_t *obj, const char *path, const char *const *allowed,
		    struct json_err *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return json_fail(err, path, NULL, "must be an object");
	json_object_foreach((json_t *)obj, key, v) {
		bool ok = false;

		for (const char *const *a = allowed; *a; a++)
			ok |= strcmp(*a, key) == 0;
		if (!ok)
			return json_fail(err, path, key, "unknown key");
	}
	return 0;
}

json_t *json_path_get(json_t *root, const char *path)
{
	char key[128];
	const char *p = path;

	while (root && *p) {
		size_t n = strcspn(p, ".");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		if (json_is_array(root)) {
			char *end;
			unsigned long i = strtoul(key, &end, 10);

			root = *key && !*end ? json_array_get(root, i) : NULL;
		} else {
			root = json_object_get(root, key);
		}
		p += n;
		if (*p == '.')
			p++;
	}
	return root;
}

int json_compare(const json_t *v, const char *op, const char *want)
{
	int cmp;

	if (!v)
		return -EINVAL;
	if (json_is_number(v)) {
		double a = json_number_value(v), b = strtod(want, NULL);

		cmp = a < b ? -1 : a > b;
	} else if (json_is_string(v)) {
		cmp = strcmp(json_string_value(v), want);
	} else if (json_is_boolean(v)) {
		cmp = strcmp(json_is_true(v) ? "true" : "false", want);
	} else {
		return -EINVAL;
	}
	if (!strcmp(op, "=") || !strcmp(op, "=="))
		return cmp == 0;
	if (!strcmp(op, "!="))
		return cmp != 0;
	if (!strcmp(op, ">="))
		return cmp >= 0;
	if (!strcmp(op, ">"))
		return cmp > 0;
	if (!strcmp(op, "<="))
		return cmp <= 0;
	if (!strcmp(op, "<"))
		return cmp < 0;
	return -EINVAL;
}
