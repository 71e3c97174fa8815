/* SPDX-License-Identifier: MIT */
/*
 * The `io` step (synthetic guest): traffic through a real guest driver.
 * The agent closes its ring-only binding of the device class, runs the
 * synthetic hv_storvsc (vstor handshake, then a `vmbus-guest storvsc`
 * script) or hv_netvsc (NVSP + RNDIS bring-up, frames between the NICs)
 * and reports every step and every malformed or unexpected host packet it
 * refused as JSON lines (guest_agent_io.c):
 *
 *   {"step": "io", "driver": "storvsc", "run": "write 0 0 8 0xa5 expect-sense 3/11/00",
 *    "expect": ["\"step\":\"write\""], "absent": ["\"event\":\"error\""]}
 *
 * It passes when the command's status is `expect_rc` (0: every step
 * passed; 1: a verification failed; 2: the channel or connection broke),
 * every `expect` fragment is in some output line and no `absent` fragment
 * is in any.  `wait_ms` bounds each of the driver's protocol waits (a
 * dropped completion fails in that time).  With `background`, the step
 * passes once the command went out; later steps act while it runs (a link
 * change while the NICs are up) and `marker` steps see what it detected
 * (`@@VMBUSD detected ...`).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "scenario/scenario_internal.h"
#include "scenario/step_io.h"

#define IO_RUN_MAX 2000u        /* one console command line (vm_send_command: 4 KiB) */
#define IO_WAIT_MAX_MS 600000

static const char *spec_str(json_t *spec, const char *key)
{
	return json_string_value(json_object_get(spec, key));
}

/* A string or an array of strings, each without a line break. */
static int check_fragments(json_t *v, const char *path, const char *key, char *err, size_t errlen)
{
	json_t *item;
	size_t i;

	if (!v)
		return 0;
	if (json_is_string(v) && !strpbrk(json_string_value(v), "\r\n"))
		return 0;
	if (json_is_array(v) && json_array_size(v)) {
		json_array_foreach(v, i, item)
			if (!json_is_string(item) || strpbrk(json_string_value(item), "\r\n"))
				break;
		if (i == json_array_size(v))
			return 0;
	}
	snprintf(err, errlen, "%s.%s: must be a string or a non-empty array of strings (one line each)",
		 path, key);
	return -EINVAL;
}

int step_io_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	const char *drv = spec_str(spec, "driver"), *run = spec_str(spec, "run");
	json_t *v;

	if (!drv || (strcmp(drv, "storvsc") && strcmp(drv, "netvsc"))) {
		snprintf(err, errlen, "%s.driver: must be \"storvsc\" or \"netvsc\"", path);
		return -EINVAL;
	}
	v = json_object_get(spec, "run");
	if ((v && !run) || (run && (strpbrk(run, "\r\n") || strlen(run) > IO_RUN_MAX)) ||
	    (!strcmp(drv, "storvsc") && (!run || !*run))) {
		snprintf(err, errlen, "%s.run: must be one line of at most %u characters (storvsc: "
			 "its script, e.g. \"write 0 0 8 0xa5\"; netvsc: \"frames=N size=B hold=MS\")",
			 path, IO_RUN_MAX);
		return -EINVAL;
	}
	if (check_fragments(json_object_get(spec, "expect"), path, "expect", err, errlen) ||
	    check_fragments(json_object_get(spec, "absent"), path, "absent", err, errlen))
		return -EINVAL;
	v = json_object_get(spec, "expect_rc");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255)) {
		snprintf(err, errlen, "%s.expect_rc: must be an integer 0..255", path);
		return -EINVAL;
	}
	v = json_object_get(spec, "wait_ms");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
		  json_integer_value(v) > IO_WAIT_MAX_MS)) {
		snprintf(err, errlen, "%s.wait_ms: must be an integer 1..%d", path, IO_WAIT_MAX_MS);
		return -EINVAL;
	}
	v = json_object_get(spec, "background");
	if (v && !json_is_boolean(v)) {
		snprintf(err, errlen, "%s.background: must be true or false", path);
		return -EINVAL;
	}
	if (json_is_true(v) && (json_object_get(spec, "expect") || json_object_get(spec, "absent") ||
				json_object_get(spec, "expect_rc"))) {
		snprintf(err, errlen, "%s.background: a background command's output is not checked "
			 "(no expect, absent or expect_rc; use marker steps)", path);
		return -EINVAL;
	}
	return 0;
}

int step_io_start(struct scenario *sc, json_t *spec)
{
	char cmd[IO_RUN_MAX + 64];
	json_t *wait = json_object_get(spec, "wait_ms");

	snprintf(cmd, sizeof(cmd), "io %s", spec_str(spec, "driver"));
	if (wait)
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " wait=%lld",
			 (long long)json_integer_value(wait));
	if (spec_str(spec, "run") && *spec_str(spec, "run"))
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " %s", spec_str(spec, "run"));
	if (step_command_send(sc, cmd)) {
		step_fail(sc, "cannot send the command to the synthetic guest");
		return 0;
	}
	if (json_is_true(json_object_get(spec, "background"))) {
		step_set_detail(sc, "running: %s", cmd);
		step_pass(sc);
	}
	return 0;
}

/* Whether any output line of the command holds `frag`; the line in `hit`. */
static bool output_has(struct scenario *sc, const char *frag, const char **hit)
{
	char prefix[32];
	size_t plen = (size_t)snprintf(prefix, sizeof(prefix), "@@OUT %u ", sc->cmd_id);

	for (size_t i = 0; i < sc->vm.n_lines; i++) {
		const char *l = strstr(sc->vm.lines[i], prefix);

		if (l && strstr(l + plen, frag)) {
			*hit = l + plen;
			return true;
		}
	}
	return false;
}

/* The `expect` or `absent` fragments as an array (a lone string is one). */
static json_t *fragments(json_t *spec, const char *key)
{
	json_t *v = json_object_get(spec, key);

	if (json_is_string(v))
		return json_pack("[O]", v);
	return v ? json_incref(v) : json_array();
}

void step_io_poll(struct scenario *sc, json_t *spec)
{
	json_t *want_rc = json_object_get(spec, "expect_rc"), *list, *item;
	char out[512];
	const char *hit = NULL, *first_error = NULL;
	int rc = step_command_done(sc, out, sizeof(out));
	size_t i;

	if (rc < 0) {
		step_guest_gone(sc);
		return;
	}
	/* What to show when it failed: the first refusal, else the first failed step. */
	if (!output_has(sc, "\"event\":\"error\"", &first_error))
		output_has(sc, "\"ok\":false", &first_error);
	if (rc != (want_rc ? json_integer_value(want_rc) : 0)) {
		step_fail(sc, "status %d, expected %lld (%.300s)", rc,
			  want_rc ? (long long)json_integer_value(want_rc) : 0LL,
			  first_error ? first_error : out);
		return;
	}
	list = fragments(spec, "expect");
	json_array_foreach(list, i, item) {
		if (!output_has(sc, json_string_value(item), &hit)) {
			step_fail(sc, "the guest did not report \"%s\" (status %d; %.300s)",
				  json_string_value(item), rc, first_error ? first_error : out);
			json_decref(list);
			return;
		}
	}
	json_decref(list);
	list = fragments(spec, "absent");
	json_array_foreach(list, i, item) {
		const char *bad;

		if (output_has(sc, json_string_value(item), &bad)) {
			step_fail(sc, "the guest reported \"%s\": %.300s", json_string_value(item), bad);
			json_decref(list);
			return;
		}
	}
	json_decref(list);
	step_set_detail(sc, "status %d%s%.300s", rc, hit ? "; " : "", hit ? hit : "");
	step_pass(sc);
}
