/* SPDX-License-Identifier: MIT */
/*
 * The scenario engine: host in-process, guest in QEMU, steps in order.
 * Everything is driven by one event loop; a step is re-evaluated whenever
 * something happens (console line, QEMU exit, control completion) and on a
 * 20 ms tick, so a step is a predicate over what has been seen, not a
 * callback chain.
 */
#include "scenario/scenario.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "scenario/scenario_internal.h"

#define SCENARIO_TICK_US 20000

double scenario_elapsed(const struct scenario *sc)
{
	return (double)(now_ns() - sc->t0_ns) / 1e9;
}

static const char *step_title(json_t *spec)
{
	const char *t = json_string_value(json_object_get(spec, "title"));
	const struct step_kind *k = step_lookup(json_string_value(json_object_get(spec, "step")));

	return t ? t : k ? k->default_title : "?";
}

static void scenario_begin_step(struct scenario *sc);
static void scenario_poll(struct scenario *sc);

static void scenario_on_activity(void *opaque)
{
	scenario_poll(opaque);
}

static void scenario_finish(struct scenario *sc, int result)
{
	sc->result = result;
	event_base_loopexit(sc->base, NULL);
}

/* The running step ended: into the result the reports are made from. */
static void scenario_record_step(struct scenario *sc)
{
	struct scenario_step_result *s;

	if (!sc->res || sc->cur >= sc->res->n_steps)
		return;
	s = &sc->res->steps[sc->cur];
	s->ran = true;
	s->passed = sc->state == STEP_PASSED;
	s->seconds = (double)(now_ns() - sc->step_t0_ns) / 1e9;
	free(s->detail);
	s->detail = strdup(sc->detail);
}

/* Called after anything happened: evaluate the running step. */
static void scenario_poll(struct scenario *sc)
{
	json_t *spec;
	const struct step_kind *k;

	while (sc->cur < json_array_size(sc->steps) && sc->result < 0) {
		spec = json_array_get(sc->steps, sc->cur);
		k = step_lookup(json_string_value(json_object_get(spec, "step")));
		if (sc->state == STEP_PENDING)
			k->poll(sc, spec);
		if (sc->state == STEP_PENDING && now_ns() > sc->deadline_ns) {
			snprintf(sc->detail + strlen(sc->detail), sizeof(sc->detail) - strlen(sc->detail),
				 "%stimed out after %.0f s", sc->detail[0] ? "; " : "",
				 (double)(sc->deadline_ns - sc->step_t0_ns) / 1e9);
			sc->state = STEP_FAILED;
		}
		if (sc->state == STEP_PENDING)
			return;
		printf("[%8.3f s] %-4s %-34s %s\n", scenario_elapsed(sc),
		       sc->state == STEP_PASSED ? "ok" : "FAIL", step_title(spec), sc->detail);
		fflush(stdout);
		scenario_record_step(sc);
		if (sc->state == STEP_FAILED) {
			printf("step %zu (%s) failed%s\n", sc->cur + 1, step_title(spec),
			       sc->paths->keep_going ? " (keep going)" : "");
			sc->any_failed = true;
			if (!sc->paths->keep_going) {
				scenario_finish(sc, 1);
				return;
			}
		} else {
			sc->passed++;
		}
		sc->cur++;
		if (sc->cur == json_array_size(sc->steps)) {
			scenario_finish(sc, sc->any_failed ? 1 : 0);
			return;
		}
		scenario_begin_step(sc);
	}
}

static void scenario_begin_step(struct scenario *sc)
{
	json_t *spec = json_array_get(sc->steps, sc->cur);
	const struct step_kind *k = step_lookup(json_string_value(json_object_get(spec, "step")));
	json_t *timeout = json_object_get(spec, "timeout_s");
	double t = json_is_number(timeout) ? json_number_value(timeout) : k->default_timeout_s;

	step_host_command_stop(sc); /* a host command the last step timed out on */
	sc->state = STEP_PENDING;
	sc->detail[0] = '\0';
	sc->step_t0_ns = now_ns();
	sc->deadline_ns = sc->step_t0_ns + (uint64_t)(t * 1e9);
	k->start(sc, spec);
}


static void scenario_on_tick(evutil_socket_t fd, short what, void *arg)
{
	scenario_poll(arg);
}

/* A scenario file's keys: the host's configuration keys and its own. */
static const char *const scenario_top_keys[] = { "name", "description", "guest", "vmbus", "hv",
						 "devices", "replay", "setup", "steps", NULL };

/* "replay": FILE, or {"file": FILE, "edit": RULES, "session": N,
 * "pace_percent": P (captured pauses stretched: a slower guest's off-bus
 * work has more time)}: the
 * host's devices are a capture's, played back (trace/trace_replay.c)
 * instead of "devices".  Checks the form; *file etc. point into v. */
static int scenario_replay_spec(json_t *root, const char **file, const char **edit,
				uint64_t *session, uint64_t *pace, struct json_err *err)
{
	static const char *const keys[] = { "file", "edit", "session", "pace_percent", NULL };
	json_t *v = json_object_get(root, "replay");
	int rc;

	*file = *edit = NULL;
	*session = 1;
	*pace = 100;
	if (!v)
		return 0;
	if (json_object_get(root, "devices"))
		return json_fail(err, "", "replay", "a scenario has \"devices\" or \"replay\", not both");
	if (json_is_string(v)) {
		*file = json_string_value(v);
		return 0;
	}
	if (!json_is_object(v))
		return json_fail(err, "", "replay", "a capture file or {\"file\", \"edit\", \"session\"}");
	if ((rc = json_check_keys(v, "replay", keys, err)) ||
	    (rc = json_get_string(v, "replay", "file", true, file, err)) ||
	    (rc = json_get_string(v, "replay", "edit", false, edit, err)) ||
	    (rc = json_get_u64(v, "replay", "session", false, 1, 1u << 20, session, err)) ||
	    (rc = json_get_u64(v, "replay", "pace_percent", false, 0, 10000, pace, err)))
		return rc;
	return 0;
}

/* A key the step kind does not take: a typo ("expext") would otherwise be
 * ignored and the step pass without checking what was meant. */
static int scenario_check_step_keys(json_t *spec, size_t i, const struct step_kind *k, char *err,
				    size_t errlen)
{
	const char *key;
	json_t *v;

	json_object_foreach(spec, key, v) {
		size_t n = strlen(key);
		const char *p;

		if (!strcmp(key, "step") || !strcmp(key, "title") || !strcmp(key, "timeout_s"))
			continue;
		for (p = k->keys; (p = strstr(p, key)) != NULL; p += n)
			if ((p == k->keys || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
				break;
		if (!p) {
			snprintf(err, errlen, "steps[%zu].%s: unknown key for a \"%s\" step (it takes: "
				 "title, timeout_s%s%s)", i, key, k->name, *k->keys ? ", " : "", k->keys);
			return -EINVAL;
		}
	}
	if (json_object_get(spec, "title") && !json_is_string(json_object_get(spec, "title"))) {
		snprintf(err, errlen, "steps[%zu].title: must be a string", i);
		return -EINVAL;
	}
	v = json_object_get(spec, "timeout_s");
	if (v && (!json_is_number(v) || json_number_value(v) <= 0)) {
		snprintf(err, errlen, "steps[%zu].timeout_s: must be a positive number", i);
		return -EINVAL;
	}
	return 0;
}

/* Checks every step before anything runs: a typo fails at once, not after
 * a minute of booting. */
static int scenario_check_steps(json_t *steps, bool synthetic, char *err, size_t errlen)
{
	size_t i;
	json_t *spec;

	if (!json_is_array(steps) || json_array_size(steps) == 0) {
		snprintf(err, errlen, "steps: must be a non-empty array");
		return -EINVAL;
	}
	json_array_foreach(steps, i, spec) {
		const char *kind = json_string_value(json_object_get(spec, "step"));
		const struct step_kind *k = kind ? step_lookup(kind) : NULL;

		if (!k) {
			snprintf(err, errlen, "steps[%zu].step: unknown step kind \"%s\"", i,
				 kind ? kind : "(missing)");
			return -EINVAL;
		}
		if (scenario_check_step_keys(spec, i, k, err, errlen))
			return -EINVAL;
		if (synthetic && k->guest == STEP_REAL_GUEST) {
			snprintf(err, errlen, "steps[%zu].step: \"%s\" needs a real Linux guest, and "
				 "guest.kind is \"synthetic\"", i, kind);
			return -EINVAL;
		}
		if (!synthetic && k->guest == STEP_SYNTHETIC_GUEST) {
			snprintf(err, errlen, "steps[%zu].step: \"%s\" needs the synthetic guest "
				 "(\"guest\": {\"kind\": \"synthetic\"})", i, kind);
			return -EINVAL;
		}
		if (k->check) {
			char path[32];

			snprintf(path, sizeof(path), "steps[%zu]", i);
			if (k->check(spec, path, err, errlen))
				return -EINVAL;
		}
	}
	return 0;
}

/* "guest": {"kind": "real" (the default) | "synthetic", ...}: each kind's
 * own keys, checked before anything starts. */
static int scenario_check_guest(json_t *root, bool *synthetic, char *err, size_t errlen)
{
	static const char *const real_keys[] = { "kind", "vcpus", "memory_mib", "cmdline",
						 "no_reboot", "qemu_args", NULL };
	static const char *const synth_keys[] = { "kind", "vcpus", "memory_mib", "max_version",
						  NULL };
	json_t *g = json_object_get(root, "guest");
	struct json_err jerr = { "" };
	const char *kind = NULL, *maxv = NULL;
	uint64_t n;

	*synthetic = false;
	if (!g)
		return 0;
	if (!json_is_object(g)) {
		snprintf(err, errlen, "guest: must be an object");
		return -EINVAL;
	}
	if (json_get_string(g, "guest", "kind", false, &kind, &jerr))
		goto fail;
	if (kind && strcmp(kind, "real") && strcmp(kind, "synthetic")) {
		snprintf(err, errlen, "guest.kind: \"%s\" is not a guest kind (real, synthetic)", kind);
		return -EINVAL;
	}
	*synthetic = kind && !strcmp(kind, "synthetic");
	if (json_check_keys(g, "guest", *synthetic ? synth_keys : real_keys, &jerr) ||
	    json_get_u64(g, "guest", "vcpus", false, 1, 64, &n, &jerr) ||
	    json_get_u64(g, "guest", "memory_mib", false, *synthetic ? 4 : 128, 65536, &n, &jerr) ||
	    json_get_string(g, "guest", "max_version", false, &maxv, &jerr))
		goto fail;
	if (maxv) {
		unsigned int maj, min;
		char extra;

		if (sscanf(maxv, "%u.%u%c", &maj, &min, &extra) != 2) {
			snprintf(err, errlen, "guest.max_version: \"%s\" is not X.Y", maxv);
			return -EINVAL;
		}
	}
	return 0;
fail:
	snprintf(err, errlen, "%s", jerr.msg);
	return -EINVAL;
}

/* Every step's "device" names a configured device: its "name", else the
 * name the host gives it (its type, then type2, type3...; host.c).  A
 * scenario without "devices" has the default ICs. */
static int scenario_check_device_names(json_t *root, char *err, size_t errlen)
{
	static const char *const defaults[] = { "heartbeat", "shutdown", "timesync", "kvp" };
	json_t *devices = json_object_get(root, "devices"), *spec, *d;
	char names[HOST_MAX_DEVICES][HOST_NAME_MAX];
	size_t n = 0, i, j;

	if (!devices) {
		for (n = 0; n < ARRAY_SIZE(defaults); n++)
			snprintf(names[n], sizeof(names[n]), "%s", defaults[n]);
	}
	json_array_foreach(devices, i, d) {
		const char *type = json_string_value(json_object_get(d, "type"));
		const char *name = json_string_value(json_object_get(d, "name"));

		if (n >= HOST_MAX_DEVICES || !type)
			break;
		if (name) {
			snprintf(names[n++], sizeof(names[0]), "%s", name);
			continue;
		}
		snprintf(names[n], sizeof(names[0]), "%s", type);
		for (unsigned int k = 2;; k++) {
			for (j = 0; j < n && strcmp(names[j], names[n]); j++)
				;
			if (j == n)
				break;
			snprintf(names[n], sizeof(names[0]), "%s%u", type, k);
		}
		n++;
	}
	json_array_foreach(json_object_get(root, "steps"), i, spec) {
		const char *dev = json_string_value(json_object_get(spec, "device"));

		if (!dev)
			continue;
		for (j = 0; j < n && strcmp(names[j], dev); j++)
			;
		if (j == n) {
			snprintf(err, errlen, "steps[%zu].device: no device \"%s\" in this scenario", i,
				 dev);
			return -EINVAL;
		}
	}
	return 0;
}

bool scenario_file_is_synthetic(const char *path)
{
	json_t *root = json_load_file(path, 0, NULL);
	const char *kind = json_string_value(json_object_get(json_object_get(root, "guest"), "kind"));
	bool yes = kind && !strcmp(kind, "synthetic");

	json_decref(root);
	return yes;
}

/* Replaces "${WORKDIR}" in every string below `v` (device paths). */
static void scenario_expand(json_t *v, const char *workdir)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, item)
			scenario_expand(item, workdir);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			scenario_expand(item, workdir);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v), *hit;
		char out[1024];
		size_t n = 0;

		if (!strstr(s, "${WORKDIR}"))
			return;
		while ((hit = strstr(s, "${WORKDIR}")) && n < sizeof(out)) {
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%.*s%s", (int)(hit - s), s,
					      workdir);
			s = hit + strlen("${WORKDIR}");
		}
		if (n < sizeof(out))
			snprintf(out + n, sizeof(out) - n, "%s", s);
		json_string_set(v, out);
	}
}

/* "setup": shell commands run on the host before it starts (disk images);
 * they and every "host" step see $WORKDIR. */
static int scenario_setup(struct scenario *sc, char *err, size_t errlen)
{
	json_t *setup = json_object_get(sc->root, "setup"), *cmd;
	size_t i;

	setenv("WORKDIR", sc->paths->workdir, 1);
	scenario_expand(json_object_get(sc->root, "devices"), sc->paths->workdir);
	scenario_expand(json_object_get(sc->root, "replay"), sc->paths->workdir);
	scenario_expand(json_object_get(sc->root, "steps"), sc->paths->workdir);
	scenario_expand(json_object_get(sc->root, "guest"), sc->paths->workdir);
	json_array_foreach(setup, i, cmd) {
		int status;

		if (!json_is_string(cmd)) {
			snprintf(err, errlen, "setup[%zu]: must be a shell command string", i);
			return -EINVAL;
		}
		status = system(json_string_value(cmd));
		if (status != 0) {
			snprintf(err, errlen, "setup[%zu] failed (status %d): %s", i, status,
				 json_string_value(cmd));
			return -EIO;
		}
	}
	return 0;
}

static int scenario_load(const char *path, struct scenario *sc, struct host_config *hc,
			 char *err, size_t errlen)
{
	struct json_err jerr = { "" };
	json_error_t perr;
	json_t *host_part;
	int rc;

	sc->root = json_load_file(path, JSON_REJECT_DUPLICATES, &perr);
	if (!sc->root) {
		snprintf(err, errlen, "%s:%d:%d: %s", path, perr.line, perr.column, perr.text);
		return -EINVAL;
	}
	if (json_check_keys(sc->root, "", scenario_top_keys, &jerr)) {
		snprintf(err, errlen, "%s", jerr.msg);
		return -EINVAL;
	}
	sc->steps = json_object_get(sc->root, "steps");
	if ((rc = scenario_check_guest(sc->root, &sc->synthetic, err, errlen)) ||
	    (rc = scenario_check_steps(sc->steps, sc->synthetic, err, errlen)) ||
	    (rc = scenario_check_device_names(sc->root, err, errlen)))
		return rc;
	if ((rc = scenario_setup(sc, err, errlen)))
		return rc;
	host_part = json_object();
	if (json_object_get(sc->root, "vmbus"))
		json_object_set(host_part, "vmbus", json_object_get(sc->root, "vmbus"));
	if (json_object_get(sc->root, "hv"))
		json_object_set(host_part, "hv", json_object_get(sc->root, "hv"));
	if (json_object_get(sc->root, "devices"))
		json_object_set(host_part, "devices", json_object_get(sc->root, "devices"));
	if (json_object_get(sc->root, "replay")) {
		const char *file, *edit;
		uint64_t session, pace;
		json_t *rp, *dev;
		size_t i;

		if ((rc = scenario_replay_spec(sc->root, &file, &edit, &session, &pace, &jerr))) {
			snprintf(err, errlen, "%s", jerr.msg);
			json_decref(host_part);
			return rc;
		}
		rp = sc->paths->replay_config ?
			sc->paths->replay_config(file, (unsigned)session, edit, err, errlen) : NULL;
		if (!rp) {
			if (!err[0])
				snprintf(err, errlen, "replay: not available here");
			json_decref(host_part);
			return -EINVAL;
		}
		json_array_foreach(json_object_get(rp, "devices"), i, dev)
			json_object_set_new(dev, "pace_percent", json_integer((json_int_t)pace));
		json_object_set(host_part, "devices", json_object_get(rp, "devices"));
		json_decref(rp);
	}
	rc = host_config_from_json(host_part, hc, &jerr);
	json_decref(host_part);
	if (rc)
		snprintf(err, errlen, "%s", jerr.msg);
	return rc;
}

int scenario_check_file(const char *path, char *err, size_t errlen)
{
	struct json_err jerr = { "" };
	struct host_config hc = { 0 };
	json_error_t perr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &perr), *host_part;
	bool synthetic;
	int rc = -EINVAL;

	if (!root) {
		snprintf(err, errlen, "%s:%d:%d: %s", path, perr.line, perr.column, perr.text);
		return -EINVAL;
	}
	if (json_check_keys(root, "", scenario_top_keys, &jerr)) {
		snprintf(err, errlen, "%s", jerr.msg);
		goto out;
	}
	if ((rc = scenario_check_guest(root, &synthetic, err, errlen)) ||
	    (rc = scenario_check_steps(json_object_get(root, "steps"), synthetic, err, errlen)) ||
	    (rc = scenario_check_device_names(root, err, errlen)))
		goto out;
	{
		/* The capture itself is read at run time: an earlier run may make it. */
		const char *file, *edit;
		uint64_t session, pace;

		if ((rc = scenario_replay_spec(root, &file, &edit, &session, &pace, &jerr))) {
			snprintf(err, errlen, "%s", jerr.msg);
			goto out;
		}
	}
	host_part = json_pack("{s:O*,s:O*,s:O*}", "vmbus", json_object_get(root, "vmbus"), "hv",
			      json_object_get(root, "hv"), "devices", json_object_get(root, "devices"));
	rc = host_part ? host_config_from_json(host_part, &hc, &jerr) : -ENOMEM;
	json_decref(host_part);
	host_config_free(&hc);
	if (rc)
		snprintf(err, errlen, "%s", jerr.msg);
out:
	json_decref(root);
	return rc;
}

int scenario_boot(struct scenario *sc, char *err, size_t errlen)
{
	int rc;

	if (sc->vm_started) {
		rc = vm_restart(&sc->vm, sc->base);
	} else {
		rc = vm_start(&sc->vm, sc->base, &sc->vm_cfg);
		sc->vm.on_activity = scenario_on_activity;
		sc->vm.opaque = sc;
		sc->vm_started = rc == 0;
	}
	if (rc)
		snprintf(err, errlen, "cannot start %s: %s", sc->vm_cfg.qemu, strerror(-rc));
	return rc;
}

/* The synthetic guest: `vmbus-guest agent` on the plugin socket, its
 * stdin/stdout in place of QEMU's serial console (same protocol). */
static int scenario_start_agent(struct scenario *sc, char *err, size_t errlen)
{
	json_t *g = json_object_get(sc->root, "guest");
	json_t *v = json_object_get(g, "vcpus"), *m = json_object_get(g, "memory_mib");
	const char *maxv = json_string_value(json_object_get(g, "max_version"));
	size_t n = 0;
	int rc;

	if (!sc->paths->guest_tool) {
		snprintf(err, errlen, "no vmbus-guest to run the synthetic guest (--guest-tool)");
		return -ENOENT;
	}
	snprintf(sc->agent_args[0], sizeof(sc->agent_args[0]), "%lld",
		 json_is_integer(v) ? (long long)json_integer_value(v) : 2);
	snprintf(sc->agent_args[1], sizeof(sc->agent_args[1]), "%lld",
		 json_is_integer(m) ? (long long)json_integer_value(m) : 64);
	sc->agent_argv[n++] = sc->paths->guest_tool;
	sc->agent_argv[n++] = "--socket";
	sc->agent_argv[n++] = sc->socket_path;
	sc->agent_argv[n++] = "--vcpus";
	sc->agent_argv[n++] = sc->agent_args[0];
	sc->agent_argv[n++] = "--mem";
	sc->agent_argv[n++] = sc->agent_args[1];
	if (maxv) {
		sc->agent_argv[n++] = "--max-version";
		sc->agent_argv[n++] = maxv;
	}
	sc->agent_argv[n++] = "agent";
	sc->agent_argv[n] = NULL;
	snprintf(sc->console_log, sizeof(sc->console_log), "%s/console.log", sc->paths->workdir);
	snprintf(sc->qemu_log, sizeof(sc->qemu_log), "%s/guest.log", sc->paths->workdir);
	sc->vm_cfg = (struct vm_config){
		.qemu = sc->paths->guest_tool, .socket = sc->socket_path,
		.console_log = sc->console_log, .qemu_log = sc->qemu_log,
		.echo_console = sc->paths->echo_console, .argv = sc->agent_argv,
	};
	rc = scenario_boot(sc, err, errlen);
	if (!rc)
		printf("[%8.3f s] %-4s %-34s %s agent, logs in %s\n", scenario_elapsed(sc), "",
		       "synthetic guest started", sc->paths->guest_tool, sc->paths->workdir);
	return rc;
}

static int scenario_start_guest(struct scenario *sc, char *err, size_t errlen)
{
	static const char *const keys[] = { "kind", "vcpus", "memory_mib", "cmdline", "no_reboot",
					    "qemu_args", NULL };
	json_t *g = json_object_get(sc->root, "guest"), *args, *a;
	size_t i;
	struct json_err jerr = { "" };
	uint64_t vcpus = 2, mem = 512;
	const char *cmdline = NULL;
	bool no_reboot = true;
	unsigned int with_driver = 0;
	int rc;

	if (sc->synthetic)
		return scenario_start_agent(sc, err, errlen);
	if (g && (json_check_keys(g, "guest", keys, &jerr) ||
		  json_get_u64(g, "guest", "vcpus", false, 1, 64, &vcpus, &jerr) ||
		  json_get_u64(g, "guest", "memory_mib", false, 128, 65536, &mem, &jerr) ||
		  json_get_string(g, "guest", "cmdline", false, &cmdline, &jerr) ||
		  json_get_bool(g, "guest", "no_reboot", false, &no_reboot, &jerr))) {
		snprintf(err, errlen, "%s", jerr.msg);
		return -EINVAL;
	}
	/* Extra QEMU arguments (e.g. a virtio-blk disk for a baseline). */
	args = json_object_get(g, "qemu_args");
	if (args && (!json_is_array(args) || json_array_size(args) >= ARRAY_SIZE(sc->qemu_args))) {
		snprintf(err, errlen, "guest.qemu_args: must be an array of at most %zu strings",
			 ARRAY_SIZE(sc->qemu_args) - 1);
		return -EINVAL;
	}
	json_array_foreach(args, i, a) {
		if (!json_is_string(a)) {
			snprintf(err, errlen, "guest.qemu_args[%zu]: must be a string", i);
			return -EINVAL;
		}
		sc->qemu_args[i] = json_string_value(a);
	}
	/* The guest init stops waiting for drivers once this many are bound. */
	for (unsigned int d = 0; d < sc->host.n_devices; d++)
		with_driver += step_class_of(sc->host.devices[d].ops) != NULL;
	snprintf(sc->cmdline, sizeof(sc->cmdline), "vmbusd.expect=%u %s", with_driver,
		 cmdline ? cmdline : "");
	snprintf(sc->console_log, sizeof(sc->console_log), "%s/console.log", sc->paths->workdir);
	snprintf(sc->qemu_log, sizeof(sc->qemu_log), "%s/qemu.log", sc->paths->workdir);
	sc->vm_cfg = (struct vm_config){
		.qemu = sc->paths->qemu, .kernel = sc->paths->kernel, .initrd = sc->paths->initrd,
		.ssdt = sc->paths->ssdt, .socket = sc->socket_path, .cmdline_extra = sc->cmdline,
		.console_log = sc->console_log, .qemu_log = sc->qemu_log,
		.vcpus = (uint32_t)vcpus, .memory_mib = (uint32_t)mem, .no_reboot = no_reboot,
		.echo_console = sc->paths->echo_console, .extra_args = sc->qemu_args,
	};
	rc = scenario_boot(sc, err, errlen);
	if (rc)
		return rc;
	printf("[%8.3f s] %-4s %-34s %s (TCG, %u vCPUs, %u MiB), logs in %s\n",
	       scenario_elapsed(sc), "", "guest started", sc->paths->qemu, (uint32_t)vcpus,
	       (uint32_t)mem, sc->paths->workdir);
	return 0;
}

void scenario_result_free(struct scenario_result *res)
{
	for (size_t i = 0; i < res->n_steps; i++) {
		free(res->steps[i].title);
		free(res->steps[i].kind);
		free(res->steps[i].detail);
	}
	free(res->steps);
	free(res->path);
	free(res->name);
	free(res->error);
	memset(res, 0, sizeof(*res));
}

/* A scenario that cannot run: status 2 with the reason. */
static int scenario_refuse(struct scenario_result *res, const char *why)
{
	fprintf(stderr, "vmbusd run: %s: %s\n", res->path ? res->path : "?", why);
	res->status = 2;
	free(res->error);
	res->error = strdup(why);
	return 2;
}

/* Every step's title and kind, before any runs (the reports list the
 * ones a failure kept from running too). */
static int scenario_result_init(struct scenario *sc, struct scenario_result *res)
{
	const char *name = json_string_value(json_object_get(sc->root, "name"));
	size_t n = json_array_size(sc->steps);

	res->steps = calloc(n ? n : 1, sizeof(*res->steps));
	if (!res->steps)
		return -ENOMEM;
	res->n_steps = n;
	for (size_t i = 0; i < n; i++) {
		json_t *spec = json_array_get(sc->steps, i);

		res->steps[i].title = strdup(step_title(spec));
		res->steps[i].kind = strdup(json_string_value(json_object_get(spec, "step")) ?: "?");
	}
	if (name) {
		free(res->name);
		res->name = strdup(name);
	}
	return 0;
}

int scenario_run_file(const char *path, const struct scenario_paths *paths,
		      struct scenario_result *res)
{
	struct scenario sc = { .result = -1, .paths = paths, .res = res, .host_fd = -1 };
	struct host_config hc = { 0 };
	struct json_err jerr = { "" };
	char err[512] = "";
	struct timeval tick = { 0, SCENARIO_TICK_US };
	uint64_t start = now_ns();
	int result;

	memset(res, 0, sizeof(*res));
	res->path = strdup(path);
	res->name = strdup(path);
	if (scenario_load(path, &sc, &hc, err, sizeof(err)) ||
	    scenario_result_init(&sc, res)) {
		json_decref(sc.root);
		host_config_free(&hc);
		return scenario_refuse(res, err[0] ? err : "out of memory");
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(sc.socket_path, sizeof(sc.socket_path), "%s/vmbus.sock", paths->workdir);
	sc.base = event_base_new();
	if (host_init(&sc.host, sc.base, &hc, sc.socket_path, NULL, &jerr)) {
		event_base_free(sc.base);
		json_decref(sc.root);
		host_config_free(&hc);
		return scenario_refuse(res, jerr.msg);
	}
	printf("vmbusd run: %s%s%s\n", path,
	       json_object_get(sc.root, "name") ? " — " : "",
	       json_string_value(json_object_get(sc.root, "name")) ?: "");
	sc.t0_ns = now_ns();
	if (scenario_start_guest(&sc, err, sizeof(err))) {
		scenario_refuse(res, err);
		sc.result = 2;
	} else {
		sc.tick = event_new(sc.base, -1, EV_PERSIST, scenario_on_tick, &sc);
		event_add(sc.tick, &tick);
		scenario_begin_step(&sc);
		scenario_poll(&sc);
		if (sc.result < 0)
			event_base_dispatch(sc.base);
	}
	if (sc.bound_ns && sc.vm_started)
		printf("boot to all VMBus devices bound: %.3f s\n",
		       (double)(sc.bound_ns - sc.vm.start_ns) / 1e9);
	printf("result: %u/%zu steps passed%s\n", sc.passed, json_array_size(sc.steps),
	       sc.result == 0 ? "" : " — FAILED");
	if (sc.result != 0 && sc.vm_started)
		printf("console log: %s/console.log, %s log: %s/%s.log\n", paths->workdir,
		       sc.synthetic ? "guest" : "QEMU", paths->workdir, sc.synthetic ? "guest" : "qemu");
	result = sc.result < 0 ? 1 : sc.result;
	res->status = result;
	res->seconds = (double)(now_ns() - start) / 1e9;
	step_host_command_stop(&sc);
	if (sc.tick)
		event_free(sc.tick);
	if (sc.vm_started)
		vm_free(&sc.vm);
	host_fini(&sc.host);
	json_decref(sc.control_result);
	json_decref(sc.root);
	host_config_free(&hc);
	event_base_free(sc.base);
	return result;
}
