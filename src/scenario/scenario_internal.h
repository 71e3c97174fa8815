/* SPDX-License-Identifier: MIT */
/* The step engine's shared state (scenario.c) and the step kinds (steps.c). */
#ifndef VMBUSD_SCENARIO_INTERNAL_H
#define VMBUSD_SCENARIO_INTERNAL_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "host/host.h"
#include "scenario/vm.h"

enum step_state { STEP_PENDING = 0, STEP_PASSED, STEP_FAILED };

/* Which guests a step kind works with. */
enum step_guest { STEP_ANY_GUEST = 0, STEP_REAL_GUEST, STEP_SYNTHETIC_GUEST };

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
	enum step_guest guest;
	/* Checks the step's values before anything starts (NULL: keys only);
	 * 0, or -EINVAL with err naming the JSON path (`path` is "steps[N]"). */
	int (*check)(json_t *spec, const char *path, char *err, size_t errlen);
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
	bool synthetic;              /* guest.kind "synthetic": vmbus-guest agent, no QEMU */
	const char *agent_argv[16];
	char agent_args[4][32];
	/* More per-step scratch space (steps_*.c). */
	int phase;
	json_int_t mark;             /* a counter's value when the step began */
	uint64_t next_try_ns;
	/* A "host" step's command, run without blocking the loop. */
	pid_t host_pid;
	int host_fd;
	char host_buf[512];          /* its partial last line */
	char host_first[512];        /* first line, or the one that matched */
	bool host_found;
};

/* The step kinds in steps_channel.c and steps_guest.c (listed in steps.c). */
#define STEP_DECL(name)                                                   \
	int name##_start(struct scenario *sc, json_t *spec);              \
	void name##_poll(struct scenario *sc, json_t *spec);              \
	int name##_check(json_t *spec, const char *path, char *err, size_t errlen)
STEP_DECL(channel);
STEP_DECL(device_bound);
STEP_DECL(unbound);
STEP_DECL(driver);
STEP_DECL(rescind);
STEP_DECL(offer);
STEP_DECL(link);
STEP_DECL(hot_add);
STEP_DECL(hot_remove);
STEP_DECL(delay);
STEP_DECL(dmesg);
STEP_DECL(alive);
STEP_DECL(hostile);

/* Ends a "host" step's command that is still running (SIGKILL). */
void step_host_command_stop(struct scenario *sc);

/* steps_check.c: the first kinds' value checks (step_kind.check). */
int console_check(json_t *spec, const char *path, char *err, size_t errlen);
int marker_check(json_t *spec, const char *path, char *err, size_t errlen);
int version_check(json_t *spec, const char *path, char *err, size_t errlen);
int status_check(json_t *spec, const char *path, char *err, size_t errlen);
int control_check_spec(json_t *spec, const char *path, char *err, size_t errlen);
int run_check(json_t *spec, const char *path, char *err, size_t errlen);
int sleep_check(json_t *spec, const char *path, char *err, size_t errlen);

/* steps.c helpers the other step files use. */
/* A device action's completion (device_control_done): into sc->control_*. */
void step_control_done(void *cookie, int status, json_t *result);
void step_pass(struct scenario *sc);
void step_fail(struct scenario *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool step_guest_gone(struct scenario *sc);
/* A guest shell command (real guest) or agent command (synthetic): sends
 * it with a new id; step_command_done() then finds its status (-1 while
 * it runs) and its output lines (joined by "\n" into out). */
int step_command_send(struct scenario *sc, const char *command);
int step_command_done(struct scenario *sc, char *out, size_t outlen);

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
