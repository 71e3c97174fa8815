/* SPDX-License-Identifier: MIT */
/*
 * The `fault` step: arms one host->guest fault class by name on a channel
 * (device + channel) or the message connection, or disarms one (or all),
 * and reports what followed (docs/faults.md):
 *
 *   {"step": "fault", "class": "storvsc.srb_error", "device": "disk0",
 *    "count": 1, "expect_dmesg": "Medium Error", "timeout_s": 120}
 *   {"step": "fault", "disarm": "all"}
 *
 * Arming keys are host_fault_parse()'s (class, device, channel, count,
 * every, from, ms).  The step then waits until the class fired
 * "expect_fired" times (default 1; 0 = do not wait) and, with
 * "expect_dmesg", until a console line printed after the arm matches that
 * extended regular expression.  Its detail says how often the class fired,
 * which kernel line matched, and whether QEMU is still running; the steps
 * after it assert the rest (the device still bound, the guest answering).
 *
 * One step runs at a time, so the step's scratch state lives here.
 */
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "core/fault_class.h"
#include "host/host.h"
#include "scenario/scenario_internal.h"
#include "scenario/step_fault.h"

static struct {
	int cls;                 /* armed class, -1 for a disarm step */
	uint64_t fired0;         /* its fired count when armed */
	uint64_t want;           /* firings to wait for */
	size_t line0;            /* first console line printed after the arm */
	bool have_re;
	regex_t re;
	const char *matched;     /* the console line that matched */
} fs = { .cls = -1 };

static void fault_fail(struct scenario *sc, const char *why)
{
	step_set_detail(sc, "%s", why);
	sc->state = STEP_FAILED;
}

int step_fault_start(struct scenario *sc, json_t *spec)
{
	json_t *disarm = json_object_get(spec, "disarm");
	const char *dmesg = json_string_value(json_object_get(spec, "expect_dmesg"));
	json_t *want = json_object_get(spec, "expect_fired");
	char err[200] = "";
	int rc;

	if (fs.have_re)
		regfree(&fs.re);
	memset(&fs, 0, sizeof(fs));
	fs.cls = -1;
	if (disarm && !json_is_false(disarm)) {
		const char *cls = json_is_string(disarm) ? json_string_value(disarm)
							 : json_string_value(json_object_get(spec, "class"));

		if (!cls) {
			fault_fail(sc, "\"disarm\": a class name, \"all\", or true with \"class\"");
			return -1;
		}
		rc = host_fault_disarm(cls, err, sizeof(err));
		if (rc) {
			fault_fail(sc, err);
			return rc;
		}
		step_set_detail(sc, "%s disarmed", cls);
		sc->state = STEP_PASSED;
		return 0;
	}
	if (want && (!json_is_integer(want) || json_integer_value(want) < 0)) {
		fault_fail(sc, "\"expect_fired\" must be an integer >= 0");
		return -1;
	}
	if (dmesg) {
		rc = regcomp(&fs.re, dmesg, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			regerror(rc, &fs.re, err, sizeof(err));
			fault_fail(sc, err);
			return -1;
		}
		fs.have_re = true;
	}
	rc = host_fault_arm(&sc->host, spec, err, sizeof(err));
	if (rc) {
		fault_fail(sc, err);
		return rc;
	}
	fs.cls = fault_class_find(json_string_value(json_object_get(spec, "class")));
	fs.fired0 = fault_class_fired((enum fault_class)fs.cls);
	fs.want = want ? (uint64_t)json_integer_value(want) : 1;
	fs.line0 = sc->vm.n_lines;
	step_fault_poll(sc, spec);
	return 0;
}

void step_fault_poll(struct scenario *sc, json_t *spec)
{
	uint64_t fired;
	bool done;

	if (fs.cls < 0 || sc->state != STEP_PENDING)
		return;
	fired = fault_class_fired((enum fault_class)fs.cls) - fs.fired0;
	for (size_t i = fs.line0; fs.have_re && !fs.matched && i < sc->vm.n_lines; i++)
		if (regexec(&fs.re, sc->vm.lines[i], 0, NULL, 0) == 0)
			fs.matched = sc->vm.lines[i];
	done = fired >= fs.want && (!fs.have_re || fs.matched);
	step_set_detail(sc, "%s fired %llu time%s%s%s%s; %s", fault_classes[fs.cls].name,
			(unsigned long long)fired, fired == 1 ? "" : "s",
			fs.have_re ? (fs.matched ? "; kernel: " : "; no kernel line matching ") : "",
			fs.have_re ? (fs.matched ? fs.matched : "") : "",
			fs.have_re && !fs.matched ? json_string_value(json_object_get(spec,
										      "expect_dmesg")) : "",
			!sc->vm_started ? "no guest" : sc->vm.exited ? "QEMU exited" : "guest running");
	if (done) {
		sc->state = STEP_PASSED;
	} else if (sc->vm_started && sc->vm.exited) {
		sc->state = STEP_FAILED;
	}
}
