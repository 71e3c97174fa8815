/* SPDX-License-Identifier: MIT */
/*
 * The synthetic guest's frontend side of the plugin protocol
 * (include/vmbusd/proto/attach.h): it attaches to `vmbusd serve` exactly
 * like the QEMU vmbus-user device does.  Guest RAM is one memfd at a chosen
 * GPA; MSR accesses and hypercalls are synchronous requests; interrupts
 * arrive as per-vCPU eventfds plus the shared pending-vector area.
 *
 * Every socket wait is bounded by timeout_ms; a daemon that vanishes or
 * breaks the protocol makes every later call fail with -ECONNRESET (or
 * -EPROTO / -ETIMEDOUT) and `dead` set, never a hang.
 */
#ifndef VMBUSD_GUEST_ATTACH_H
#define VMBUSD_GUEST_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

#include "vmbusd/proto/attach.h"

#define GUEST_ATTACH_MAX_SIGFDS 256u

struct guest_attach {
	int sock;
	uint32_t seq;
	int timeout_ms;
	bool dead;                 /* transport failed: nothing more is sent */
	const char *dead_reason;

	/* guest RAM */
	int mem_fd;
	uint8_t *ram;
	uint64_t ram_gpa;
	uint64_t ram_size;

	uint32_t n_vcpus;
	uint32_t daemon_version;
	struct attach_cpuid cpuid[ATTACH_MAX_CPUID];
	uint32_t n_cpuid;

	struct attach_irq_slot *irq_area; /* shared, n_vcpus slots */
	uint64_t irq_area_size;
	int irq_fd[ATTACH_MAX_VCPUS];     /* eventfds the daemon kicks */
	int idle_fd;                      /* the idle doorbell we kick */

	/* HvSignalEvent fast path: eventfd per connection id, until RESET. */
	struct { uint32_t conn_id; int fd; } sigfd[GUEST_ATTACH_MAX_SIGFDS];
	uint32_t n_sigfd;

	/* hypercall page the daemon announced (ATTACH_ACTION_HYPERCALL_PAGE) */
	uint64_t hypercall_page_gpa;
	bool hypercall_page_seen;

	/* statistics */
	uint64_t n_requests;
	uint64_t n_signal_fd;      /* HvSignalEvent sent as an eventfd write */
	uint64_t n_signal_hc;      /* HvSignalEvent sent as a HYPERCALL request */
	uint64_t n_idle_kicks;     /* idle doorbell writes (guest_attach_idle) */
};

/* Connects, creates the RAM memfd (mem_bytes at ram_gpa) and ATTACHes with
 * n_vcpus.  Fills cpuid, irq area and eventfds.  -errno on failure, with a
 * message logged. */
int guest_attach_open(struct guest_attach *a, const char *path, uint32_t n_vcpus,
		      uint64_t ram_gpa, uint64_t mem_bytes, int timeout_ms);
/* Closes everything (no DETACH message; see guest_attach_detach). */
void guest_attach_close(struct guest_attach *a);
/* What a frontend does as vCPU `vcpu` halts: checks the daemon's idle
 * watch (attach.h, struct attach_irq_slot) and kicks the doorbell when a
 * watched bit is set. */
void guest_attach_idle(struct guest_attach *a, uint32_t vcpu);

/* CPUID of the frontend: the daemon's table, zeros for absent leaves. */
void guest_attach_cpuid(const struct guest_attach *a, uint32_t fn,
			uint32_t *eax, uint32_t *ebx, uint32_t *ecx, uint32_t *edx);

/* 0, -EPERM when the daemon asks for #GP, or a transport -errno. */
int guest_attach_msr_read(struct guest_attach *a, uint32_t vcpu, uint32_t msr, uint64_t *value);
int guest_attach_msr_write(struct guest_attach *a, uint32_t vcpu, uint32_t msr, uint64_t value);

/* One HYPERCALL request; *result is RAX.  A returned signal eventfd is
 * cached for its connection id. */
int guest_attach_hypercall(struct guest_attach *a, uint32_t vcpu, uint64_t control,
			   uint64_t input, uint64_t output, uint64_t *result);
/* HvSignalEvent(conn_id, flag 0; the full 32-bit offer connection_id as
 * Linux sends it): an eventfd write when the daemon gave
 * one for conn_id, else a fast hypercall.  *result is the HV status. */
int guest_attach_signal_event(struct guest_attach *a, uint32_t vcpu, uint32_t conn_id,
			      uint64_t *result);

/* RESET (partition back to power-on; drops the signal eventfds) and DETACH.
 * Both return the daemon's status or a transport -errno. */
int guest_attach_reset(struct guest_attach *a);
/* The synthetic guest's TSC: CLOCK_MONOTONIC in ns, so its rate (reported
 * at ATTACH) is exactly 1 GHz. */
#define GUEST_ATTACH_TSC_HZ 1000000000ull
uint64_t guest_attach_tsc(const struct guest_attach *a);
/* CLOCK: tells the daemon where our TSC is now (sent at open and after
 * RESET); 0 or -errno. */
int guest_attach_clock(struct guest_attach *a);
int guest_attach_detach(struct guest_attach *a);

/* Host pointer for guest RAM [gpa, gpa + len), or NULL. */
void *guest_attach_gpa(const struct guest_attach *a, uint64_t gpa, uint64_t len);

/* true when the socket shows the daemon is gone (poll, no wait). */
bool guest_attach_check_alive(struct guest_attach *a);

#endif
