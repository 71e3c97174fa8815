/* SPDX-License-Identifier: MIT */
/* The step engine's shared state (scenario.c) and the step kinds (steps.c). */
#ifndef VMBUSD_SCENARIO_INTERNAL_H
#define VMBUSD_SCENARIO_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "host/host.h"
#include "scenario/vm.h"

enum step_state { STEP_PENDING = 0, STEP_PASSED, STEP_FAILED };

struct scenario;

struct step_kind {
	const char *name;
	/* Checks the step's keys and starts it; may finish it at once. */
	int (*start)(struct scenario *sc, json_t *spec);
	/* Re-evaluates after any activity; sets sc->state and sc->detail. */
	void (*poll)(struct scenario *sc, json_t *spec);
	const char *default_title;
	double default_timeout_s;
	const char *keys;   /* its own keys, comma-separated (besides step, title, timeout_s) */
};

struct scenario {
	struct event_base *base;
	struct host host;
	struct vm vm;
	bool vm_started;
	json_t *root;
	json_t *steps;
	size_t cur;                  /* index of the running step */
	uint64_t t0_ns;              /* scenario start */
	uint64_t step_t0_ns;
	uint64_t deadline_ns;
	enum step_state state;       /* of the running step */
	char detail[512];            /* what the step found (printed) */
	struct event *tick;
	int result;                  /* exit status */
	unsigned int passed;
	/* Per-step scratch space for asynchronous steps. */
	unsigned int cmd_id;         /* guest command in flight */
	bool control_done;
	int control_status;
	json_t *control_result;
	uint64_t bound_ns;           /* when "all devices bound" was seen */
	uint64_t retry_ns;           /* last re-run of a retrying guest command */
	struct vm_config vm_cfg;     /* for every boot of this scenario */
	char console_log[300], qemu_log[300], cmdline[1024];
	const char *qemu_args[33];   /* guest.qemu_args, NULL-terminated */
	const struct scenario_paths *paths;
	char socket_path[256];
	struct scenario_result *res; /* one entry per step, filled as they end */
	bool any_failed;             /* --keep-going: a step failed, the rest ran on */
};

const struct step_kind *step_lookup(const char *name);
/* Starts a (new) QEMU for this scenario; earlier console lines and markers
 * are kept, so "count" on markers spans reboots. */
int scenario_boot(struct scenario *sc, char *err, size_t errlen);
/* The class id (sysfs form) a real guest binds a driver to, NULL if Linux
 * has no driver for the device type. */
const char *step_class_of(const struct vmbus_device_ops *ops);
/* Seconds since the scenario started. */
double scenario_elapsed(const struct scenario *sc);
/* The JSON path from a "control" step's result, as text, for messages. */
void step_set_detail(struct scenario *sc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
