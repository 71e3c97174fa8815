/* SPDX-License-Identifier: MIT */
/*
 * scenario/: JSON-scripted host scenarios against a real Linux guest.  A
 * scenario file holds the host configuration (vmbus, devices), the guest
 * (vCPUs, memory, kernel parameters) and a list of steps; `vmbusd run`
 * starts the host in-process, boots the guest in the patched QEMU and
 * runs the steps in order, printing each with its time.  Step kinds and
 * the file format: README.md, "Scenarios".
 */
#ifndef VMBUSD_SCENARIO_SCENARIO_H
#define VMBUSD_SCENARIO_SCENARIO_H

#include <stdbool.h>

struct scenario_paths {
	const char *qemu;       /* patched qemu-system-x86_64 */
	const char *kernel;
	const char *initrd;
	const char *ssdt;       /* vmbus.aml */
	const char *workdir;    /* sockets and logs go here */
	bool echo_console;
};

/* Runs the scenario in `path`.  Returns 0 when every step passed, 1 when a
 * step failed (the failing step is printed), 2 for a bad file. */
int scenario_run_file(const char *path, const struct scenario_paths *paths);

#endif
