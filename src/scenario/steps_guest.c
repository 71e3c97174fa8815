/* SPDX-License-Identifier: MIT */
/*
 * Step kinds that ask the guest something: a kernel message (`dmesg`, real
 * guest), whether it still answers (`alive`, the hang watchdog), and the
 * synthetic guest's hostile inputs (`hostile`: raw bytes as a channel
 * message, a hypercall, a ring packet or a ring-header overwrite, sent by
 * the same code as vmbus-guest's raw modes).
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/util.h"
#include "scenario/scenario_internal.h"

#define DMESG_RETRY_NS 500000000ull
/* The bytes of a packet or hypercall input: they go to the synthetic
 * guest as hex on one console command line (vm_send_command: 4 KiB). */
#define HOSTILE_MAX_BYTES 1800u

static const char *spec_str(json_t *spec, const char *key)
{
	return json_string_value(json_object_get(spec, key));
}

/* The output lines of the command in flight, one at a time. */
static const char *command_line(struct scenario *sc, size_t *i)
{
	char prefix[32];
	size_t plen = (size_t)snprintf(prefix, sizeof(prefix), "@@OUT %u ", sc->cmd_id);

	for (; *i < sc->vm.n_lines; (*i)++) {
		const char *l = strstr(sc->vm.lines[*i], prefix);

		if (l) {
			(*i)++;
			return l + plen;
		}
	}
	return NULL;
}

/* ---- dmesg: a kernel message matching a regular expression ------------------------- */

int dmesg_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	json_t *absent = json_object_get(spec, "absent");
	regex_t re;
	int rc;

	if (!json_is_string(json_object_get(spec, "match"))) {
		snprintf(err, errlen, "%s.match: a regular expression (POSIX extended) is required",
			 path);
		return -EINVAL;
	}
	rc = regcomp(&re, spec_str(spec, "match"), REG_EXTENDED | REG_NOSUB);
	if (rc) {
		char why[128];

		regerror(rc, &re, why, sizeof(why));
		snprintf(err, errlen, "%s.match: not a regular expression: %s", path, why);
		return -EINVAL;
	}
	regfree(&re);
	if (absent && !json_is_boolean(absent)) {
		snprintf(err, errlen, "%s.absent: must be true or false", path);
		return -EINVAL;
	}
	return 0;
}

int dmesg_start(struct scenario *sc, json_t *spec)
{
	sc->next_try_ns = now_ns() + DMESG_RETRY_NS;
	if (step_command_send(sc, "dmesg"))
		step_fail(sc, "cannot send the command to the guest console");
	return 0;
}

/* The whole kernel log each time (a message may arrive while we wait);
 * with "absent", one look decides. */
void dmesg_poll(struct scenario *sc, json_t *spec)
{
	bool absent = json_is_true(json_object_get(spec, "absent"));
	char out[8];
	const char *line, *hit = NULL;
	size_t i = 0;
	regex_t re;
	int rc = step_command_done(sc, out, sizeof(out));

	if (rc < 0) {
		step_guest_gone(sc);
		return;
	}
	if (regcomp(&re, spec_str(spec, "match"), REG_EXTENDED | REG_NOSUB)) {
		step_fail(sc, "bad regular expression");
		return;
	}
	while (!hit && (line = command_line(sc, &i)) != NULL)
		if (regexec(&re, line, 0, NULL, 0) == 0)
			hit = line;
	regfree(&re);
	if (hit && !absent) {
		step_set_detail(sc, "%s", hit);
		step_pass(sc);
	} else if (hit) {
		step_fail(sc, "the kernel said it: %s", hit);
	} else if (absent) {
		step_set_detail(sc, "no kernel message matches /%s/", spec_str(spec, "match"));
		step_pass(sc);
	} else {
		step_set_detail(sc, "no kernel message matches /%s/ yet", spec_str(spec, "match"));
		if (now_ns() >= sc->next_try_ns)
			dmesg_start(sc, spec);
	}
}

/* ---- alive: the guest still answers (the hang watchdog) ---------------------------- */

/* The heartbeat round trip: the host's heartbeat IC sends a beat on the
 * ring, the guest's driver echoes it.  The beats
 * counter of the first heartbeat device whose channel is ready, or -1. */
static json_int_t heartbeat_beats(struct scenario *sc)
{
	json_t *st = host_status(&sc->host);
	json_int_t beats = -1;

	for (unsigned int i = 0; i < sc->host.n_devices && beats < 0; i++) {
		json_t *d = json_object_get(json_object_get(st, "devices"), sc->host.devices[i].name);
		const char *state = json_string_value(json_object_get(d, "state"));

		if (!strcmp(sc->host.devices[i].ops->name, "heartbeat") && state &&
		    !strcmp(state, "ready"))
			beats = json_integer_value(json_object_get(d, "beats"));
	}
	json_decref(st);
	return beats;
}

/* Starts the round trips: a command through the guest (a real guest's
 * shell: its userspace; the synthetic guest's MSR round trip through the
 * daemon) and, when a heartbeat device is ready, a heartbeat echoed on its
 * ring (a real guest's kernel answers it in hv_utils). */
static int watchdog_start(struct scenario *sc)
{
	sc->mark = heartbeat_beats(sc);
	return step_command_send(sc, sc->synthetic ? "ping" : "echo alive");
}

/* 1 both answered, 0 not yet, -1 failed (detail set). */
static int watchdog_poll(struct scenario *sc)
{
	char out[128];
	int rc = step_command_done(sc, out, sizeof(out));
	json_int_t beats;

	if (rc > 0) {
		step_fail(sc, "the guest's round trip failed: %s", out);
		return -1;
	}
	if (rc < 0)
		return step_guest_gone(sc) ? -1 : 0;
	if (sc->mark >= 0) {
		beats = heartbeat_beats(sc);
		if (beats <= sc->mark)
			return 0;
		step_set_detail(sc, "command round trip and heartbeat %lld echoed", (long long)beats);
	} else {
		step_set_detail(sc, "command round trip: %s", out);
	}
	return 1;
}

int alive_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	json_t *w = json_object_get(spec, "within_s");

	if (!w || (json_is_number(w) && json_number_value(w) > 0))
		return 0;
	snprintf(err, errlen, "%s.within_s: must be a positive number of seconds", path);
	return -EINVAL;
}

int alive_start(struct scenario *sc, json_t *spec)
{
	json_t *w = json_object_get(spec, "within_s");

	/* "within_s" is the watchdog's bound: the step's timeout. */
	if (w)
		sc->deadline_ns = sc->step_t0_ns + (uint64_t)(json_number_value(w) * 1e9);
	if (watchdog_start(sc))
		step_fail(sc, "cannot send the command to the guest");
	return 0;
}

void alive_poll(struct scenario *sc, json_t *spec)
{
	if (watchdog_poll(sc) == 1)
		step_pass(sc);
	else if (sc->state == STEP_PENDING && now_ns() > sc->deadline_ns)
		step_fail(sc, "the guest did not answer within %.1f s: hung",
			  (double)(sc->deadline_ns - sc->step_t0_ns) / 1e9);
}

/* ---- hostile: the synthetic guest sends raw bytes ----------------------------------- */

static const char *const hostile_sends[] = { "message", "hypercall", "packet", "ring_header" };

/* A value that becomes one word of the agent's command line. */
static int check_word(json_t *v, const char *path, const char *key, char *err, size_t errlen)
{
	const char *s = json_string_value(v);

	if (s && *s && !strpbrk(s, " \t\n"))
		return 0;
	snprintf(err, errlen, "%s.%s: must be a non-empty string without blanks", path, key);
	return -EINVAL;
}

static int check_hex(json_t *v, const char *path, const char *key, char *err, size_t errlen)
{
	const char *s = json_string_value(v);
	size_t n = s ? strspn(s, "0123456789abcdefABCDEF") : 0;

	if (s && n == strlen(s) && n % 2 == 0)
		return 0;
	snprintf(err, errlen, "%s.%s: must be hex digit pairs (\"0a1b...\")", path, key);
	return -EINVAL;
}

int hostile_check(json_t *spec, const char *path, char *err, size_t errlen)
{
	static const char *const ints[] = { "message_type", "conn_id", "payload_size", "pkt_type",
					    "offset8", "len8" };
	const char *send = spec_str(spec, "send");
	json_t *v;
	size_t i;
	bool known = false;

	for (i = 0; send && i < ARRAY_SIZE(hostile_sends); i++)
		known |= !strcmp(send, hostile_sends[i]);
	if (!known) {
		snprintf(err, errlen, "%s.send: must be message, hypercall, packet or ring_header",
			 path);
		return -EINVAL;
	}
	if ((v = json_object_get(spec, "hex")) && check_hex(v, path, "hex", err, errlen))
		return -EINVAL;
	/* A channel message payload is at most 240 bytes (TLFS HV_MESSAGE);
	 * the rest travel on one command line to the synthetic guest. */
	if (v) {
		unsigned int max = !strcmp(send, "message") ? 240u : HOSTILE_MAX_BYTES;

		if (strlen(json_string_value(v)) / 2 > max) {
			snprintf(err, errlen, "%s.hex: at most %u bytes for \"send\": \"%s\"", path,
				 max, send);
			return -EINVAL;
		}
	}
	v = json_object_get(spec, "control");
	if (v && (!json_is_string(v) || !*json_string_value(v) || strlen(json_string_value(v)) > 16 ||
		  strspn(json_string_value(v), "0123456789abcdefABCDEF") != strlen(json_string_value(v)))) {
		snprintf(err, errlen, "%s.control: must be the control word in hex (\"1005d\")", path);
		return -EINVAL;
	}
	if ((v = json_object_get(spec, "channel")) && check_word(v, path, "channel", err, errlen))
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(ints); i++) {
		v = json_object_get(spec, ints[i]);
		if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
			  json_integer_value(v) > UINT32_MAX)) {
			snprintf(err, errlen, "%s.%s: must be an integer 0..4294967295", path, ints[i]);
			return -EINVAL;
		}
	}
	v = json_object_get(spec, "fast");
	if (v && (!json_is_array(v) || json_array_size(v) != 2 ||
		  !json_is_integer(json_array_get(v, 0)) || !json_is_integer(json_array_get(v, 1)))) {
		snprintf(err, errlen, "%s.fast: must be two integers (the input qwords)", path);
		return -EINVAL;
	}
	for (const char *const *k = (const char *const[]){ "set", "patch", NULL }; *k; k++) {
		json_t *item;

		v = json_object_get(spec, *k);
		if (v && !json_is_array(v)) {
			snprintf(err, errlen, "%s.%s: must be an array of strings", path, *k);
			return -EINVAL;
		}
		json_array_foreach(v, i, item) {
			char p[48];

			snprintf(p, sizeof(p), "%s[%zu]", *k, i);
			if (check_word(item, path, p, err, errlen))
				return -EINVAL;
		}
	}
	for (const char *const *k = (const char *const[]){ "counter", "expect_status",
							    "expect_reply", NULL }; *k; k++)
		if ((v = json_object_get(spec, *k)) && !json_is_string(v)) {
			snprintf(err, errlen, "%s.%s: must be a string", path, *k);
			return -EINVAL;
		}
	if ((v = json_object_get(spec, "frame")) && !json_is_boolean(v)) {
		snprintf(err, errlen, "%s.frame: must be true or false", path);
		return -EINVAL;
	}
	if ((v = json_object_get(spec, "serving")) && !json_is_boolean(v)) {
		snprintf(err, errlen, "%s.serving: must be true or false", path);
		return -EINVAL;
	}
	/* What each kind of send cannot go without. */
	if (!strcmp(send, "hypercall") ? !json_object_get(spec, "control")
				       : !strcmp(send, "ring_header") ? !json_object_get(spec, "set")
								      : !json_object_get(spec, "hex")) {
		snprintf(err, errlen, "%s.%s: is required for \"send\": \"%s\"", path,
			 !strcmp(send, "hypercall") ? "control" : !strcmp(send, "ring_header") ? "set"
												 : "hex",
			 send);
		return -EINVAL;
	}
	if ((!strcmp(send, "packet") || !strcmp(send, "ring_header")) &&
	    !json_object_get(spec, "channel")) {
		snprintf(err, errlen, "%s.channel: is required for \"send\": \"%s\" (a device name "
			 "as the guest knows it: heartbeat, kvp, scsi...)", path, send);
		return -EINVAL;
	}
	return 0;
}

/* Appends " --OPT VALUE" for an integer key that is present. */
static void add_int(char *cmd, size_t len, json_t *spec, const char *key, const char *opt)
{
	json_t *v = json_object_get(spec, key);

	if (v)
		snprintf(cmd + strlen(cmd), len - strlen(cmd), " --%s %lld", opt,
			 (long long)json_integer_value(v));
}

/* The agent's command line: vmbus-guest's raw-mode options. */
static void hostile_command(json_t *spec, char *cmd, size_t len)
{
	const char *send = spec_str(spec, "send"), *ch = spec_str(spec, "channel");
	const char *hex = spec_str(spec, "hex");
	json_t *item;
	size_t i;

	if (!strcmp(send, "message")) {
		snprintf(cmd, len, "hostile raw-msg");
		if (ch)
			snprintf(cmd + strlen(cmd), len - strlen(cmd), " --channel %s", ch);
		add_int(cmd, len, spec, "message_type", "message-type");
		add_int(cmd, len, spec, "conn_id", "conn-id");
		add_int(cmd, len, spec, "payload_size", "payload-size");
	} else if (!strcmp(send, "hypercall")) {
		snprintf(cmd, len, "hostile raw-hcall --control %s", spec_str(spec, "control"));
		if (hex)
			snprintf(cmd + strlen(cmd), len - strlen(cmd), " --input-hex %s", hex);
		if (json_object_get(spec, "fast"))
			snprintf(cmd + strlen(cmd), len - strlen(cmd), " --fast %lld,%lld",
				 (long long)json_integer_value(json_array_get(json_object_get(spec, "fast"), 0)),
				 (long long)json_integer_value(json_array_get(json_object_get(spec, "fast"), 1)));
		hex = NULL; /* the input block, not a FILE */
	} else {
		snprintf(cmd, len, "hostile raw-ring --open %s", ch);
		if (json_is_true(json_object_get(spec, "frame")))
			snprintf(cmd + strlen(cmd), len - strlen(cmd), " --frame");
		add_int(cmd, len, spec, "pkt_type", "type");
		add_int(cmd, len, spec, "offset8", "offset8");
		add_int(cmd, len, spec, "len8", "len8");
	}
	json_array_foreach(json_object_get(spec, "set"), i, item)
		snprintf(cmd + strlen(cmd), len - strlen(cmd), " --set %s", json_string_value(item));
	json_array_foreach(json_object_get(spec, "patch"), i, item)
		snprintf(cmd + strlen(cmd), len - strlen(cmd), " --patch-u32 %s",
			 json_string_value(item));
	if (hex)
		snprintf(cmd + strlen(cmd), len - strlen(cmd), " %s", hex);
}

static json_int_t status_value(struct scenario *sc, const char *key)
{
	json_t *st = host_status(&sc->host);
	json_t *v = json_path_get(st, key);
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;

	json_decref(st);
	return n;
}

int hostile_start(struct scenario *sc, json_t *spec)
{
	char cmd[4096];
	const char *counter = spec_str(spec, "counter");

	sc->phase = 0;
	sc->mark = counter ? status_value(sc, counter) : 0;
	if (counter && sc->mark < 0) {
		step_fail(sc, "the host status has no counter \"%s\"", counter);
		return 0;
	}
	hostile_command(spec, cmd, sizeof(cmd));
	if (step_command_send(sc, cmd))
		step_fail(sc, "cannot send the command to the synthetic guest");
	return 0;
}

/* The HV status the daemon answered the post or hypercall with. */
static const char *answered_status(struct scenario *sc, char *buf, size_t len)
{
	const char *line;
	size_t i = 0;

	buf[0] = '\0';
	while ((line = command_line(sc, &i)) != NULL) {
		json_t *ev = json_loads(line, 0, NULL);
		const char *name = json_string_value(json_object_get(ev, "event"));

		if (name && (!strcmp(name, "post") || !strcmp(name, "hcall")))
			snprintf(buf, len, "%s", json_string_value(json_object_get(ev, "status_name")) ?: "?");
		json_decref(ev);
	}
	return buf;
}

/* "expect_reply": the host answered with this channel message (by name),
 * and where the reply carries a status, it is an error (non-zero status,
 * or a version not supported).  NULL when it did, else why not. */
static const char *answered_reply(struct scenario *sc, const char *want, char *why, size_t len)
{
	const char *line;
	size_t i = 0;
	bool seen = false;

	snprintf(why, len, "no %s from the host", want);
	while ((line = command_line(sc, &i)) != NULL) {
		json_t *ev = json_loads(line, 0, NULL);
		const char *name = json_string_value(json_object_get(ev, "name"));
		json_t *st = json_object_get(ev, "status"), *sup = json_object_get(ev, "supported");

		if (name && !strcmp(name, want) &&
		    !strcmp(json_string_value(json_object_get(ev, "event")) ?: "", "message")) {
			seen = true;
			if ((st && json_integer_value(st) == 0) || json_is_true(sup))
				snprintf(why, len, "the host answered %s with success", want);
			else
				snprintf(why, len, "%s", "");
		}
		json_decref(ev);
	}
	return seen && !why[0] ? NULL : why;
}

/* Phases: 0 the bytes go out (the agent's command), 1 the named counter
 * moves, 2 the daemon still serves the other channels (the watchdog's
 * round trips), then pass. */
void hostile_poll(struct scenario *sc, json_t *spec)
{
	const char *counter = spec_str(spec, "counter"), *want = spec_str(spec, "expect_status");
	char out[512], status[64];
	int rc;

	if (sc->phase == 0) {
		rc = step_command_done(sc, out, sizeof(out));
		if (rc < 0) {
			step_guest_gone(sc);
			return;
		}
		if (rc) {
			step_fail(sc, "the synthetic guest could not send it (status %d): %.300s", rc, out);
			return;
		}
		answered_status(sc, status, sizeof(status));
		if (want && strcmp(status, want)) {
			step_fail(sc, "the daemon answered %s, expected %s", status[0] ? status : "nothing",
				  want);
			return;
		}
		if (spec_str(spec, "expect_reply") &&
		    answered_reply(sc, spec_str(spec, "expect_reply"), out, sizeof(out))) {
			step_fail(sc, "%s", out);
			return;
		}
		sc->phase = 1;
	}
	if (sc->phase == 1) {
		json_int_t now = counter ? status_value(sc, counter) : 0;

		if (counter && now <= sc->mark) {
			step_set_detail(sc, "%s still %lld", counter, (long long)now);
			return;
		}
		snprintf(out, sizeof(out), "%s%s%s", want ? want : "", want && counter ? ", " : "",
			 counter ? counter : "");
		if (counter)
			snprintf(out + strlen(out), sizeof(out) - strlen(out), " %lld -> %lld",
				 (long long)sc->mark, (long long)now);
		step_set_detail(sc, "%s", out);
		if (json_is_false(json_object_get(spec, "serving"))) {
			step_pass(sc);
			return;
		}
		if (watchdog_start(sc)) {
			step_fail(sc, "cannot send the command to the synthetic guest");
			return;
		}
		sc->phase = 2;
		return;
	}
	snprintf(out, sizeof(out), "%s", sc->detail);
	rc = watchdog_poll(sc);
	if (rc == 1) {
		step_set_detail(sc, "%s; still serving (%s)", out, sc->detail);
		step_pass(sc);
	} else if (rc == 0) {
		step_set_detail(sc, "%s", out);
	}
}
