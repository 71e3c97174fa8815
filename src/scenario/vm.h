/* SPDX-License-Identifier: MIT */
/*
 * scenario/vm: one guest process — the patched QEMU (TCG) with the
 * vmbus-user plugin, booted with the test kernel and initramfs
 * (tests/guest/), its serial console on a pipe; or the synthetic guest
 * (`vmbus-guest agent`, vm_config.argv), which speaks the same console
 * protocol on its stdin/stdout.  The console is parsed into lines; lines that
 * start with "@@VMBUSD " are the guest init's progress markers and
 * "@@OUT <id> " lines are command output (tests/guest/README.md).
 */
#ifndef VMBUSD_SCENARIO_VM_H
#define VMBUSD_SCENARIO_VM_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct vm_config {
	const char *qemu;        /* patched qemu-system-x86_64 */
	const char *kernel;      /* vmlinuz */
	const char *initrd;      /* initrd.img */
	const char *ssdt;        /* vmbus.aml */
	const char *socket;      /* the daemon's plugin socket */
	const char *cmdline_extra;
	const char *console_log; /* every console line is appended here (may be NULL) */
	const char *qemu_log;    /* QEMU's stderr */
	const char *const *extra_args; /* more QEMU arguments, NULL-terminated (or NULL) */
	/* Not QEMU but this program (NULL-terminated): the synthetic guest
	 * (`vmbus-guest agent`), which speaks the same console protocol. */
	const char *const *argv;
	uint32_t vcpus;
	uint32_t memory_mib;
	bool no_reboot;          /* a guest reboot ends QEMU instead of resetting */
	bool echo_console;       /* copy the console to stderr as it arrives */
};

struct vm_marker {
	uint64_t t_ns;     /* host monotonic time it arrived */
	char *event;       /* first word after @@VMBUSD */
	char *args;        /* the rest ("" when none) */
};

struct vm {
	struct vm_config cfg;
	pid_t pid;
	int console_in;          /* we write commands here */
	struct bufferevent *console;
	FILE *console_log;
	uint64_t start_ns;
	bool exited;
	int exit_status;         /* waitpid status */
	/* Everything seen, kept for the step engine to search. */
	char **lines;
	size_t n_lines, cap_lines;
	struct vm_marker *markers;
	size_t n_markers, cap_markers;
	struct event *reaper;
	void (*on_activity)(void *opaque); /* a line arrived or QEMU exited */
	void *opaque;
};

int vm_start(struct vm *vm, struct event_base *base, const struct vm_config *cfg);
/* Starts QEMU again after it exited (or was killed), keeping the console
 * lines and markers seen so far and the activity callback. */
int vm_restart(struct vm *vm, struct event_base *base);
/* Sends "@@CMD <id> <command>" to the guest's command loop. */
int vm_send_command(struct vm *vm, unsigned int id, const char *command);
/* SIGKILL, then reap. */
void vm_kill(struct vm *vm);
void vm_free(struct vm *vm);

/* The latest marker with this event (and, if args_prefix, args starting
 * with it), or NULL. */
const struct vm_marker *vm_find_marker(const struct vm *vm, const char *event,
				       const char *args_prefix);
/* Like vm_find_marker, but only among markers printed since the guest's
 * latest "init" or QEMU's latest start (the synthetic marker "qemu-start"),
 * so a reboot cannot pass on old markers. */
const struct vm_marker *vm_find_marker_this_boot(const struct vm *vm, const char *event,
						 const char *args_prefix);
/* How many markers of the whole run (every boot) match. */
size_t vm_count_markers(const struct vm *vm, const char *event, const char *args_prefix);
/* The first console line containing `needle`, or NULL. */
const char *vm_find_line(const struct vm *vm, const char *needle);

#endif
