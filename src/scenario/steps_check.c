/* SPDX-License-Identifier: MIT */
/*
 * The values of the first step kinds (console, marker, version, status,
 * control, guest, host, sleep), checked before anything starts like the
 * newer kinds check theirs: a missing or mistyped value is refused with
 * its JSON path, not found out when the step runs and hangs to its timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "scenario/scenario_internal.h"

static const char *spec_str(json_t *spec, const char *key)
{
	return json_string_value(json_object_get(spec, key));
}

static int need(json_t *spec, const char *path, const char *key, bool (*is)(const json_t *),
		const char *what, char *err, size_t errlen)
{
	if (is(json_object_get(spec, key)))
		return 0;
	snprintf(err, errlen, "%s.%s: %s", path, key,
		 json_object_get(spec, key) ? what : "is required");
	return -EINVAL;
}

static bool is_string(const json_t *v) { return json_is_string(v); }
static bool is_number(const json_t *v) { return json_is_number(v) && json_number_value(v) >= 0; }
static bool is_scalar(const json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

int console_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	return need(spec, path, "match", is_string, "must be a string", err, errlen);
}

int marker_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	json_t *c = json_object_get(spec, "count");

	if (c && (!json_is_integer(c) || json_integer_value(c) < 1)) {
		snprintf(err, errlen, "%s.count: must be an integer >= 1", path);
		return -EINVAL;
	}
	return need(spec, path, "event", is_string, "must be a string", err, errlen);
}

int version_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	return need(spec, path, "expect", is_string, "must be a version string (\"5.3\")", err,
		    errlen);
}

int status_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	static const char *const ops[] = { "==", "=", "!=", "<", "<=", ">", ">=" };
	const char *op = spec_str(spec, "op");

	if (need(spec, path, "key", is_string, "must be a dotted status path", err, errlen) ||
	    need(spec, path, "op", is_string, "must be a string", err, errlen) ||
	    need(spec, path, "value", is_scalar, "must be a number, string or boolean", err, errlen))
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		if (!strcmp(op, ops[i]))
			return 0;
	snprintf(err, errlen, "%s.op: \"%s\" is not one of == = != < <= > >=", path, op);
	return -EINVAL;
}

int control_check_spec(json_t *spec, const char *path, char *err, size_t errlen)
{
	json_t *args = json_object_get(spec, "args");

	if (args && !json_is_object(args)) {
		snprintf(err, errlen, "%s.args: must be an object", path);
		return -EINVAL;
	}
	return need(spec, path, "device", is_string, "must be a device name", err, errlen) ?:
	       need(spec, path, "action", is_string, "must be an action name", err, errlen);
}

int run_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	return need(spec, path, "run", is_string, "must be a shell command", err, errlen);
}

int sleep_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	return need(spec, path, "seconds", is_number, "must be a number of seconds >= 0", err,
		    errlen);
}
