/* SPDX-License-Identifier: MIT */
/*
 * scenario/: JSON-scripted host scenarios.  A scenario file holds the host
 * configuration (vmbus, devices), the guest (a real Linux guest: vCPUs,
 * memory, kernel parameters; or the synthetic guest, vmbus-guest agent)
 * and a list of steps; `vmbusd run` starts the host in-process, starts the
 * guest against it (QEMU, or the agent process on the same plugin socket)
 * and runs the steps in order, printing each with its time.  Step kinds
 * and the file format: docs/scenarios.md.
 */
#ifndef VMBUSD_SCENARIO_SCENARIO_H
#define VMBUSD_SCENARIO_SCENARIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct scenario_paths {
	const char *qemu;       /* patched qemu-system-x86_64 */
	const char *kernel;
	const char *initrd;
	const char *ssdt;       /* vmbus.aml */
	const char *workdir;    /* sockets and logs go here */
	const char *guest_tool; /* vmbus-guest, for "guest": {"kind": "synthetic"} */
	bool echo_console;
	bool keep_going;        /* run every step even after one failed */
	/* "replay": the host config ({"devices": [...]}) that plays a capture
	 * (trace/ builds it; the cli hands it over: scenario/ and trace/ do
	 * not include each other).  NULL, or err filled. */
	json_t *(*replay_config)(const char *file, unsigned session, const char *edit, char *err,
				 size_t errlen);
};

/* What one step did, for the reports. */
struct scenario_step_result {
	char *title;
	char *kind;             /* the step's "step" */
	bool ran, passed;
	double seconds;
	char *detail;           /* what it found, or why it failed */
};

/* What one scenario did. */
struct scenario_result {
	char *path;
	char *name;             /* the file's "name", else its path */
	int status;             /* 0 every step passed, 1 a step failed, 2 not run (bad file...) */
	char *error;            /* status 2: why */
	double seconds;
	struct scenario_step_result *steps;
	size_t n_steps;
};

/* Runs the scenario in `path`, printing a line per step, and fills *res
 * (free with scenario_result_free).  Returns res->status. */
int scenario_run_file(const char *path, const struct scenario_paths *paths,
		      struct scenario_result *res);
void scenario_result_free(struct scenario_result *res);
/* Checks a scenario file without running anything (its steps and their
 * keys, the device types): 0, or -EINVAL with err naming the JSON path. */
int scenario_check_file(const char *path, char *err, size_t errlen);

/* Whether the file's guest is the synthetic one (no QEMU, no guest image
 * needed); false too when the file cannot be read. */
bool scenario_file_is_synthetic(const char *path);

/* Reports over several runs (report.c): a summary table, JUnit XML and TAP.
 * The writers return 0 or -errno. */
void scenario_report_summary(FILE *f, const struct scenario_result *r, size_t n);
int scenario_report_junit(const char *path, const struct scenario_result *r, size_t n);
int scenario_report_tap(const char *path, const struct scenario_result *r, size_t n);

#endif
