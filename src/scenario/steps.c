/* SPDX-License-Identifier: MIT */
/*
 * The step kinds of a scenario.  Each starts, then is polled after every
 * console line, control completion or 20 ms tick until it passes or fails;
 * the engine (scenario.c) enforces the timeout.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/guid.h"
#include "core/util.h"
#include "scenario/scenario.h"
#include "scenario/scenario_internal.h"
#include "scenario/step_fault.h"
#include "scenario/step_io.h"
#include "vmbus/vmbus.h"

/* Formats into a copy first: callers pass sc->detail itself as an argument
 * ("output lacks X (first line: %s)"), and formatting a buffer into itself
 * nested the message into itself and showed stale bytes. */
static void detail_vset(struct scenario *sc, const char *fmt, va_list ap)
{
	char text[sizeof(sc->detail)];

	vsnprintf(text, sizeof(text), fmt, ap);
	memcpy(sc->detail, text, sizeof(text));
}

void step_set_detail(struct scenario *sc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	detail_vset(sc, fmt, ap);
	va_end(ap);
}

static const char *spec_str(json_t *spec, const char *key)
{
	return json_string_value(json_object_get(spec, key));
}

static void pass(struct scenario *sc) { sc->state = STEP_PASSED; }

static void fail(struct scenario *sc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail(struct scenario *sc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	detail_vset(sc, fmt, ap);
	va_end(ap);
	sc->state = STEP_FAILED;
}

void step_pass(struct scenario *sc) { pass(sc); }

void step_fail(struct scenario *sc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	detail_vset(sc, fmt, ap);
	va_end(ap);
	sc->state = STEP_FAILED;
}

bool step_guest_gone(struct scenario *sc);

/* A step that needs the guest fails as soon as QEMU is gone. */
static bool guest_gone(struct scenario *sc)
{
	if (!sc->vm.exited)
		return false;
	fail(sc, "%s exited (status %d) before this step completed",
	     sc->synthetic ? "the synthetic guest" : "QEMU", sc->vm.exit_status);
	return true;
}

bool step_guest_gone(struct scenario *sc)
{
	return guest_gone(sc);
}

int step_command_send(struct scenario *sc, const char *command)
{
	sc->cmd_id++;
	return vm_send_command(&sc->vm, sc->cmd_id, command);
}

int step_command_done(struct scenario *sc, char *out, size_t outlen)
{
	char id[16], prefix[32];
	const struct vm_marker *done;
	size_t plen, used = 0;

	snprintf(id, sizeof(id), "%u ", sc->cmd_id);
	done = vm_find_marker(&sc->vm, "done", id);
	if (!done)
		return -1;
	plen = (size_t)snprintf(prefix, sizeof(prefix), "@@OUT %u ", sc->cmd_id);
	out[0] = '\0';
	for (size_t i = 0; i < sc->vm.n_lines; i++) {
		const char *l = strstr(sc->vm.lines[i], prefix);
		int n;

		if (!l)
			continue;
		n = snprintf(out + used, outlen - used, "%s%s", used ? "\n" : "", l + plen);
		if (n < 0 || (size_t)n >= outlen - used)
			break;
		used += (size_t)n;
	}
	return atoi(done->args + strlen(id));
}

/* ---- console: a kernel or init line ---------------------------------------- */

static int console_start(struct scenario *sc, json_t *spec)
{
	return spec_str(spec, "match") ? 0 : -EINVAL;
}

static void console_poll(struct scenario *sc, json_t *spec)
{
	const char *line = vm_find_line(&sc->vm, spec_str(spec, "match"));

	if (line) {
		step_set_detail(sc, "%s", line);
		pass(sc);
	} else {
		guest_gone(sc);
	}
}

/* ---- marker: a progress marker from the guest's init ----------------------- */

static int marker_start(struct scenario *sc, json_t *spec)
{
	return spec_str(spec, "event") ? 0 : -EINVAL;
}

/* A marker of the current boot; or with "count": N, the Nth such marker of
 * the whole scenario (e.g. a second "init" after a reboot). */
static void marker_poll(struct scenario *sc, json_t *spec)
{
	json_t *count = json_object_get(spec, "count");
	const char *event = spec_str(spec, "event"), *args = spec_str(spec, "args");
	const struct vm_marker *m = vm_find_marker_this_boot(&sc->vm, event, args);

	if (json_is_integer(count))
		m = vm_count_markers(&sc->vm, event, args) >= (size_t)json_integer_value(count) ?
			    vm_find_marker(&sc->vm, event, args) : NULL;
	if (m) {
		step_set_detail(sc, "%s", m->args);
		pass(sc);
	} else {
		guest_gone(sc);
	}
}

/* ---- version: what the guest negotiated, seen from both sides --------------- */

static int version_start(struct scenario *sc, json_t *spec)
{
	return spec_str(spec, "expect") ? 0 : -EINVAL;
}

static void version_poll(struct scenario *sc, json_t *spec)
{
	const struct vm_marker *m = vm_find_marker_this_boot(&sc->vm, "vmbus-version", NULL);
	const char *want = spec_str(spec, "expect");
	json_t *st;
	const char *host_v;

	if (!m) {
		guest_gone(sc);
		return;
	}
	st = host_status(&sc->host);
	host_v = json_string_value(json_path_get(st, "vmbus.version"));
	if (strcmp(m->args, want) == 0 && host_v && strcmp(host_v, want) == 0) {
		step_set_detail(sc, "%s (guest and host agree)", want);
		pass(sc);
	} else {
		fail(sc, "guest says %s, host says %s, expected %s", m->args,
		     host_v && *host_v ? host_v : "none", want);
	}
	json_decref(st);
}

/* ---- bound: every offered device has a Linux driver ----------------------- */

/* The class a real guest binds a driver to, NULL for a device Linux has no
 * driver for (the bench device).  sysfs prints class GUIDs in the form the
 * device table keeps them: lower case, no braces. */
const char *step_class_of(const struct vmbus_device_ops *ops)
{
	return ops->guest_driver ? ops->class_guid : NULL;
}

/* The class and instance a device offered its primary channel with (the
 * host labels channels with their device's name): a storvsp may offer the
 * SCSI or the IDE class, and two controllers differ by instance only.
 * false when the device has no channel offered. */
static bool device_ids(struct scenario *sc, const struct host_device *d, char cls[GUID_STR_LEN],
		       char inst[GUID_STR_LEN])
{
	for (struct vmbus_channel *ch = vmbus_server_next_channel(sc->host.vmbus, NULL); ch;
	     ch = vmbus_server_next_channel(sc->host.vmbus, ch)) {
		const struct vmbus_offer_params *p = vmbus_chan_offer(ch);

		if (p->sub_channel_index == 0 && !strcmp(vmbus_chan_label(ch), d->name)) {
			guid_format(&p->if_type, cls);
			guid_format(&p->if_instance, inst);
			return true;
		}
	}
	return false;
}

/* The driver bound to this device, from "bound <instance> {class} <drv>". */
static const char *bound_driver(const struct vm *vm, const char *class_id, const char *instance)
{
	for (size_t i = vm->n_markers; i-- > 0;) {
		const struct vm_marker *m = &vm->markers[i];
		const char *c;

		if (strcmp(m->event, "init") == 0 || strcmp(m->event, "qemu-start") == 0)
			return NULL; /* only this boot's bindings count */
		if (strcmp(m->event, "bound") != 0)
			continue;
		c = strstr(m->args, class_id);
		if (c && strchr(c, ' ') && strstr(m->args, instance))
			return strrchr(m->args, ' ') + 1;
	}
	return NULL;
}

static int bound_start(struct scenario *sc, json_t *spec)
{
	return json_object_get(spec, "device") ? device_bound_start(sc, spec) : 0;
}

static int bound_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	return json_object_get(spec, "device") ? device_bound_check(spec, path, err, errlen) : 0;
}

static void bound_poll(struct scenario *sc, json_t *spec)
{
	if (json_object_get(spec, "device")) {
		device_bound_poll(sc, spec);
		return;
	}
	const struct vm_marker *total = vm_find_marker_this_boot(&sc->vm, "devices", NULL);
	char *p = sc->detail;
	size_t left = sizeof(sc->detail);

	if (!total) {
		guest_gone(sc);
		return;
	}
	sc->detail[0] = '\0';
	for (unsigned int i = 0; i < sc->host.n_devices; i++) {
		const struct host_device *d = &sc->host.devices[i];
		char cls[GUID_STR_LEN], inst[GUID_STR_LEN];
		const char *drv;
		int n;

		/* A replay device plays a channel a real host offered a real
		 * guest: its class had a driver then, and must have one now. */
		if ((!step_class_of(d->ops) && strcmp(d->ops->name, "replay")) ||
		    !device_ids(sc, d, cls, inst))
			continue; /* e.g. the bench device: no Linux driver exists */
		drv = bound_driver(&sc->vm, cls, inst);
		if (!drv) {
			fail(sc, "%s (class %s) is not bound to a driver (guest: %s devices bound)",
			     d->name, cls, total->args);
			return;
		}
		n = snprintf(p, left, "%s%s->%s", p == sc->detail ? "" : ", ", d->name, drv);
		if (n > 0 && (size_t)n < left) {
			p += n;
			left -= (size_t)n;
		}
	}
	sc->bound_ns = total->t_ns;
	pass(sc);
}

/* ---- status: a value in the host's status ------------------------------------ */

static int status_start(struct scenario *sc, json_t *spec)
{
	return spec_str(spec, "key") && spec_str(spec, "op") && json_object_get(spec, "value") ? 0
												: -EINVAL;
}

static void status_poll(struct scenario *sc, json_t *spec)
{
	json_t *st = host_status(&sc->host);
	json_t *v = json_path_get(st, spec_str(spec, "key"));
	json_t *want = json_object_get(spec, "value");
	char text[64];
	char *vt;

	if (json_is_string(want))
		snprintf(text, sizeof(text), "%s", json_string_value(want));
	else if (json_is_boolean(want)) /* as json_compare() spells a boolean */
		snprintf(text, sizeof(text), "%s", json_is_true(want) ? "true" : "false");
	else
		snprintf(text, sizeof(text), "%g", json_number_value(want));
	if (json_compare(v, spec_str(spec, "op"), text) == 1) {
		vt = json_dumps(v, JSON_ENCODE_ANY);
		step_set_detail(sc, "%s = %s", spec_str(spec, "key"), vt ? vt : "?");
		free(vt);
		pass(sc);
	} else if (!json_is_true(json_object_get(spec, "host_only"))) {
		guest_gone(sc);
	}
	json_decref(st);
}

/* ---- control: a device action on the host, answered by the guest ------------- */

void step_control_done(void *cookie, int status, json_t *result)
{
	struct scenario *sc = cookie;

	sc->control_done = true;
	sc->control_status = status;
	json_decref(sc->control_result);
	sc->control_result = result;
}

static int control_start(struct scenario *sc, json_t *spec)
{
	const char *dev = spec_str(spec, "device"), *action = spec_str(spec, "action");
	struct json_err err = { "" };
	int rc;

	if (!dev || !action)
		return -EINVAL;
	sc->control_done = false;
	json_decref(sc->control_result);
	sc->control_result = NULL;
	/* What `ctl control` runs (host/actions.c). */
	rc = host_device_control(&sc->host, dev, action, json_object_get(spec, "args"),
				 step_control_done, sc, &err);
	if (rc)
		fail(sc, "%s %s refused: %s", dev, action, err.msg[0] ? err.msg : strerror(-rc));
	return 0;
}

/* "expect": {"key": "value" | "*"} — each key present (and equal unless "*"). */
static bool control_check(struct scenario *sc, json_t *spec)
{
	json_t *expect = json_object_get(spec, "expect"), *show = json_object_get(spec, "show");
	const char *key;
	json_t *want, *item;
	size_t i;
	char *p = sc->detail;
	size_t left = sizeof(sc->detail);

	json_object_foreach(expect, key, want) {
		json_t *got = json_path_get(sc->control_result, key);

		if (!got) {
			fail(sc, "result has no \"%s\"", key);
			return false;
		}
		if (json_is_string(want) && strcmp(json_string_value(want), "*") != 0 &&
		    !json_equal(got, want)) {
			char *g = json_dumps(got, JSON_ENCODE_ANY);

			fail(sc, "%s = %s, expected %s", key, g ? g : "?", json_string_value(want));
			free(g);
			return false;
		}
	}
	sc->detail[0] = '\0';
	json_array_foreach(show, i, item) {
		json_t *got = json_path_get(sc->control_result, json_string_value(item));
		char *g = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
		int n = snprintf(p, left, "%s%s=%s", i ? ", " : "", json_string_value(item),
				 g ? g : "(none)");

		free(g);
		if (n > 0 && (size_t)n < left) {
			p += n;
			left -= (size_t)n;
		}
	}
	return true;
}

static void control_poll(struct scenario *sc, json_t *spec)
{
	if (!sc->control_done) {
		if (!json_is_true(json_object_get(spec, "guest_may_exit")))
			guest_gone(sc);
		return;
	}
	if (json_is_integer(json_object_get(spec, "expect_status"))) {
		int want = (int)json_integer_value(json_object_get(spec, "expect_status"));

		if (sc->control_status == want) {
			step_set_detail(sc, "failed as expected: %s", strerror(-want));
			pass(sc);
		} else {
			fail(sc, "status %d (%s), expected %d (%s)", sc->control_status,
			     strerror(-sc->control_status), want, strerror(-want));
		}
		return;
	}
	if (sc->control_status) {
		fail(sc, "%s %s: guest answered %d (%s)", spec_str(spec, "device"),
		     spec_str(spec, "action"), sc->control_status, strerror(-sc->control_status));
		return;
	}
	if (control_check(sc, spec))
		pass(sc);
}

/* ---- guest: run a shell command in the guest ------------------------------- */

static int guest_start(struct scenario *sc, json_t *spec)
{
	if (!spec_str(spec, "run"))
		return -EINVAL;
	sc->cmd_id++;
	if (vm_send_command(&sc->vm, sc->cmd_id, spec_str(spec, "run")))
		fail(sc, "cannot send the command to the guest console");
	return 0;
}

static void guest_poll(struct scenario *sc, json_t *spec)
{
	char id[16], prefix[32];
	const struct vm_marker *done;
	const char *expect = spec_str(spec, "expect");
	json_t *want_rc = json_object_get(spec, "expect_rc");
	bool found = !expect;
	size_t plen;

	snprintf(id, sizeof(id), "%u ", sc->cmd_id);
	done = vm_find_marker(&sc->vm, "done", id);
	if (!done) {
		guest_gone(sc);
		return;
	}
	plen = (size_t)snprintf(prefix, sizeof(prefix), "@@OUT %u ", sc->cmd_id);
	sc->detail[0] = '\0';
	for (size_t i = 0; i < sc->vm.n_lines; i++) {
		const char *l = strstr(sc->vm.lines[i], prefix);

		if (!l)
			continue;
		l += plen;
		if (expect && strstr(l, expect)) {
			found = true;
			step_set_detail(sc, "%s", l);
		} else if (!sc->detail[0]) {
			step_set_detail(sc, "%s", l);
		}
	}
	if (atoi(done->args + strlen(id)) != (want_rc ? json_integer_value(want_rc) : 0))
		fail(sc, "exit status %s (output: %s)", done->args + strlen(id), sc->detail);
	else if (!found)
		fail(sc, "output lacks \"%s\" (first line: %s)", expect, sc->detail);
	else
		pass(sc);
	/* "retry": run it again until it passes (the engine's timeout ends it). */
	if (sc->state == STEP_FAILED && json_is_true(json_object_get(spec, "retry")) &&
	    !sc->vm.exited) {
		sc->state = STEP_PENDING;
		if (now_ns() - sc->retry_ns > 250000000ull) {
			sc->retry_ns = now_ns();
			guest_start(sc, spec);
		}
	}
}

/* ---- poweroff / exit: QEMU ends ---------------------------------------------- */

static int poweroff_start(struct scenario *sc, json_t *spec)
{
	return 0;
}

static void poweroff_poll(struct scenario *sc, json_t *spec)
{
	if (!sc->vm.exited)
		return;
	if (!WIFEXITED(sc->vm.exit_status) || WEXITSTATUS(sc->vm.exit_status) != 0) {
		fail(sc, "QEMU ended with status 0x%x", sc->vm.exit_status);
		return;
	}
	if (!json_is_false(json_object_get(spec, "marker")) &&
	    !vm_find_marker(&sc->vm, "poweroff", NULL)) {
		fail(sc, "QEMU exited but the guest never ran its poweroff");
		return;
	}
	step_set_detail(sc, "guest powered off, %s exited 0",
			sc->synthetic ? "the synthetic guest" : "QEMU");
	pass(sc);
}

/* ---- host: a shell command on the host (sees $WORKDIR) ---------------------- */

/*
 * The command runs as a child with its stdout on a pipe that the step
 * reads on every poll, so the event loop keeps serving the guest while it
 * runs (a synthetic guest waits for the daemon's answers synchronously and
 * would time out behind a blocking popen()).
 */
void step_host_command_stop(struct scenario *sc)
{
	if (sc->host_pid > 0) {
		kill(sc->host_pid, SIGKILL);
		waitpid(sc->host_pid, NULL, 0);
	}
	if (sc->host_pid > 0 && sc->host_fd >= 0)
		close(sc->host_fd);
	sc->host_pid = 0;
	sc->host_fd = -1;
}

static void host_line(struct scenario *sc, json_t *spec, const char *line)
{
	const char *expect = spec_str(spec, "expect");

	if (!sc->host_first[0])
		snprintf(sc->host_first, sizeof(sc->host_first), "%s", line);
	if (expect && !sc->host_found && strstr(line, expect)) {
		sc->host_found = true;
		snprintf(sc->host_first, sizeof(sc->host_first), "%s", line);
	}
}

/* Reads what the command wrote so far; true at its end of output. */
static bool host_read(struct scenario *sc, json_t *spec)
{
	size_t used = strlen(sc->host_buf);
	ssize_t n;

	while ((n = read(sc->host_fd, sc->host_buf + used, sizeof(sc->host_buf) - 1 - used)) > 0) {
		char *line = sc->host_buf, *nl;

		used += (size_t)n;
		sc->host_buf[used] = '\0';
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			host_line(sc, spec, line);
			line = nl + 1;
		}
		used = strlen(line);
		memmove(sc->host_buf, line, used + 1);
		if (used == sizeof(sc->host_buf) - 1) { /* a very long line: cut */
			host_line(sc, spec, sc->host_buf);
			used = 0;
			sc->host_buf[0] = '\0';
		}
	}
	if (n == 0 && used) {
		host_line(sc, spec, sc->host_buf);
		sc->host_buf[0] = '\0';
	}
	return n == 0;
}

static void host_poll(struct scenario *sc, json_t *spec);

static int host_start(struct scenario *sc, json_t *spec)
{
	const char *cmd = spec_str(spec, "run");
	int out[2];
	pid_t pid;

	if (!cmd)
		return -EINVAL;
	sc->host_buf[0] = sc->host_first[0] = '\0';
	sc->host_found = !spec_str(spec, "expect");
	if (pipe2(out, O_CLOEXEC)) {
		fail(sc, "cannot run: %s", strerror(errno));
		return 0;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		fail(sc, "cannot run: %s", strerror(errno));
		return 0;
	}
	if (pid == 0) {
		dup2(out[1], 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	sc->host_pid = pid;
	sc->host_fd = out[0];
	host_poll(sc, spec);
	return 0;
}

static void host_poll(struct scenario *sc, json_t *spec)
{
	json_t *want_rc = json_object_get(spec, "expect_rc");
	bool eof = host_read(sc, spec);
	int status;

	if (!eof || waitpid(sc->host_pid, &status, WNOHANG) != sc->host_pid)
		return;
	close(sc->host_fd);
	sc->host_fd = -1;
	sc->host_pid = 0;
	if (!WIFEXITED(status) ||
	    WEXITSTATUS(status) != (want_rc ? json_integer_value(want_rc) : 0))
		fail(sc, "exit status %d (output: %s)", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		     sc->host_first);
	else if (!sc->host_found)
		fail(sc, "output lacks \"%s\" (first line: %s)", spec_str(spec, "expect"),
		     sc->host_first);
	else {
		step_set_detail(sc, "%s", sc->host_first);
		pass(sc);
	}
}

/* ---- kill: QEMU dies (SIGKILL); the host must notice and survive ----------- */

static int kill_start(struct scenario *sc, json_t *spec)
{
	vm_kill(&sc->vm);
	return 0;
}

static void kill_poll(struct scenario *sc, json_t *spec)
{
	json_t *st = host_status(&sc->host);

	if (json_is_false(json_object_get(st, "attached"))) {
		step_set_detail(sc, "%s killed; host detached it and kept running",
				sc->synthetic ? "the synthetic guest" : "QEMU");
		pass(sc);
	}
	json_decref(st);
}

/* ---- boot: a new QEMU on the same host (after kill or poweroff) ------------ */

static int boot_start(struct scenario *sc, json_t *spec)
{
	char err[256];

	if (!sc->vm.exited) {
		fail(sc, "the previous QEMU is still running");
		return 0;
	}
	if (scenario_boot(sc, err, sizeof(err)))
		fail(sc, "%s", err);
	else
		pass(sc);
	return 0;
}

static void boot_poll(struct scenario *sc, json_t *spec)
{
}

/* ---- sleep ------------------------------------------------------------------ */

static int sleep_start(struct scenario *sc, json_t *spec)
{
	return json_is_number(json_object_get(spec, "seconds")) ? 0 : -EINVAL;
}

static void sleep_poll(struct scenario *sc, json_t *spec)
{
	double s = json_number_value(json_object_get(spec, "seconds"));

	if ((double)(now_ns() - sc->step_t0_ns) / 1e9 >= s)
		pass(sc);
}

/* Every step kind, by name: docs/scenarios.md describes each, and
 * docs/scenario.schema.json lists their keys. */
static const struct step_kind step_kinds[] = {
	{ "console", console_start, console_poll, "console line", 60, "match",
	  STEP_REAL_GUEST, console_check },
	{ "marker", marker_start, marker_poll, "guest marker", 60, "event,args,count",
	  STEP_ANY_GUEST, marker_check },
	{ "version", version_start, version_poll, "VMBus version negotiated", 90, "expect",
	  STEP_ANY_GUEST, version_check },
	{ "bound", bound_start, bound_poll, "every offered device bound", 90, "device",
	  STEP_ANY_GUEST, bound_check },
	{ "unbound", unbound_start, unbound_poll, "device unbound", 60, "device",
	  STEP_ANY_GUEST, unbound_check },
	{ "status", status_start, status_poll, "host status", 60, "key,op,value,host_only",
	  STEP_ANY_GUEST, status_check },
	{ "control", control_start, control_poll, "host action", 90,
	  "device,action,args,expect,show,expect_status,guest_may_exit",
	  STEP_ANY_GUEST, control_check_spec },
	{ "guest", guest_start, guest_poll, "guest command", 60, "run,expect,expect_rc,retry",
	  STEP_REAL_GUEST, run_check },
	{ "poweroff", poweroff_start, poweroff_poll, "guest powered off", 60, "marker",
	  STEP_ANY_GUEST, NULL },
	{ "sleep", sleep_start, sleep_poll, "pause", 3600, "seconds",
	  STEP_ANY_GUEST, sleep_check },
	{ "host", host_start, host_poll, "host command", 120, "run,expect,expect_rc",
	  STEP_ANY_GUEST, run_check },
	{ "kill", kill_start, kill_poll, "guest process killed", 10, "",
	  STEP_ANY_GUEST, NULL },
	{ "boot", boot_start, boot_poll, "guest booted again", 10, "",
	  STEP_ANY_GUEST, NULL },
	{ "channel", channel_start, channel_poll, "channel state", 30, "device,channel,state",
	  STEP_ANY_GUEST, channel_check },
	{ "driver", driver_start, driver_poll, "driver unbind/bind", 60, "device,action",
	  STEP_ANY_GUEST, driver_check },
	{ "rescind", rescind_start, rescind_poll, "channel rescinded", 30, "device,channel",
	  STEP_ANY_GUEST, rescind_check },
	{ "offer", offer_start, offer_poll, "channel offered again", 30, "device,channel",
	  STEP_ANY_GUEST, offer_check },
	{ "link", link_start, link_poll, "link state", 30, "device,up",
	  STEP_ANY_GUEST, link_check },
	{ "hot_add", hot_add_start, hot_add_poll, "disk hot-added", 60, "device,disk",
	  STEP_ANY_GUEST, hot_add_check },
	{ "hot_remove", hot_remove_start, hot_remove_poll, "disk hot-removed", 60, "device,lun",
	  STEP_ANY_GUEST, hot_remove_check },
	{ "delay", delay_start, delay_poll, "delay", 3600, "ms",
	  STEP_ANY_GUEST, delay_check },
	{ "dmesg", dmesg_start, dmesg_poll, "kernel message", 60, "match,absent",
	  STEP_REAL_GUEST, dmesg_check },
	{ "alive", alive_start, alive_poll, "guest alive", 10, "within_s",
	  STEP_ANY_GUEST, alive_check },
	{ "hostile", hostile_start, hostile_poll, "hostile input", 30,
	  "send,hex,channel,message_type,conn_id,payload_size,control,fast,frame,pkt_type,"
	  "offset8,len8,set,patch,counter,expect_status,expect_reply,serving",
	  STEP_SYNTHETIC_GUEST, hostile_check },
	{ "fault", step_fault_start, step_fault_poll, "host fault armed", 60, STEP_FAULT_KEYS,
	  STEP_ANY_GUEST, NULL },
	{ "io", step_io_start, step_io_poll, "driver traffic", 30, STEP_IO_KEYS,
	  STEP_SYNTHETIC_GUEST, step_io_check },
};

const struct step_kind *step_lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(step_kinds); i++)
		if (strcmp(step_kinds[i].name, name) == 0)
			return &step_kinds[i];
	return NULL;
}
