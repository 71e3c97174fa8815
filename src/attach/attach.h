/* SPDX-License-Identifier: MIT */
/*
 * attach/: the daemon side of the plugin protocol (docs/plugin-protocol.md,
 * include/vmbusd/proto/attach.h).  It listens on a Unix socket, accepts one
 * frontend at a time, maps its RAM, and turns requests into calls on a
 * backend (the hv/ layer registers itself as that backend; attach/ sits
 * below hv/ and never includes it).
 *
 * A frontend may vanish at any moment: every read and write on its socket
 * is checked, EOF or a protocol violation detaches it (backend->detach),
 * and the server keeps listening for the next one.
 */
#ifndef VMBUSD_ATTACH_ATTACH_H
#define VMBUSD_ATTACH_ATTACH_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/gmem.h"
#include "core/stats.h"
#include "vmbusd/proto/attach.h"

struct attach_server;

/* Implemented by the layer above.  All calls run on the event loop thread. */
struct attach_backend_ops {
	/* A frontend attached: `mem` holds its RAM (owned by the server, valid
	 * until detach); `tsc_hz` is the guest TSC rate it reported (0 =
	 * unknown).  Fill up to `max` CPUID leaves, return the count or
	 * -errno to refuse the attach. */
	int (*attach)(void *opaque, struct gmem *mem, uint32_t n_vcpus, uint64_t tsc_hz,
		      struct attach_cpuid *cpuid, uint32_t max);
	/* 0, or -EPERM to make the frontend raise #GP. */
	int (*msr_read)(void *opaque, uint32_t vcpu, uint32_t msr, uint64_t *value);
	/* 0 or -EPERM; may set *action (enum attach_msr_action) and *arg. */
	int (*msr_write)(void *opaque, uint32_t vcpu, uint32_t msr, uint64_t value,
			 uint32_t *action, uint64_t *arg);
	/* Returns RAX.  Set *signal_conn_id to a connection id (non-zero) when
	 * the call was a valid HvSignalEvent whose later kicks may bypass the
	 * socket: the server then hands the frontend that id's eventfd. */
	uint64_t (*hypercall)(void *opaque, uint32_t vcpu, uint64_t control,
			      uint64_t input, uint64_t output, uint32_t *signal_conn_id);
	/* An eventfd kick for connection id `conn_id` (HvSignalEvent fast path). */
	void (*signal)(void *opaque, uint32_t conn_id);
	/* CLOCK: the guest TSC read `guest_tsc` at host CLOCK_MONOTONIC
	 * `host_ns` (optional; NULL ignores the samples). */
	void (*clock)(void *opaque, uint64_t guest_tsc, uint64_t host_ns);
	/* The idle doorbell rang: a vCPU halted while the idle watch's words
	 * had bits set (attach_set_idle_watch; optional). */
	void (*idle)(void *opaque);
	/* Guest system reset. */
	void (*reset)(void *opaque);
	/* The frontend is gone (or detached); `mem` is about to be unmapped. */
	void (*detach)(void *opaque);
};

/* Listens on `path` (an existing socket file is replaced).  NULL on error
 * (logged). */
struct attach_server *attach_server_new(struct event_base *base, const char *path,
					const struct attach_backend_ops *ops, void *opaque);
void attach_server_free(struct attach_server *srv);

/* Asks the frontend to deliver `vector` to VP `vcpu`: sets the bit in the
 * shared irq area, then kicks that vCPU's eventfd.  Safe to call at any
 * time; a no-op without a frontend or for an out-of-range vCPU. */
void attach_raise_irq(struct attach_server *srv, uint32_t vcpu, uint8_t vector);
/* Names the guest words the frontend checks when a vCPU halts, for every
 * vCPU (attach.h, struct attach_irq_slot); gpa 0 ends the watch.  A no-op
 * without a frontend; a new attach starts without a watch. */
void attach_set_idle_watch(struct attach_server *srv, uint64_t gpa, uint64_t mask);

/* The plugin-protocol server's counters (core/stats.h).  Every frontend
 * input that is refused moves one of them: a framing error or a stall
 * drops the peer, a refused ATTACH is answered with -errno. */
#define ATTACH_STATS(X)                                                                   \
	X(connections, "frontend connections accepted")                                   \
	X(attaches, "ATTACH requests accepted")                                           \
	X(attach_refused, "ATTACH answered with an error: version, counts, regions, backend") \
	X(busy_refused, "second frontends answered -EBUSY")                               \
	X(busy_closed, "frontends closed unanswered: too many being refused at once")      \
	X(requests, "complete requests dispatched")                                        \
	X(protocol_errors, "peers dropped for a bad header, unexpected fds or order")     \
	X(timeouts, "peers dropped for stalling mid-message or leaving a reply unread")   \
	X(socket_errors, "peers dropped on a socket error or EOF mid-message")             \
	X(signal_fds, "signal eventfds handed to a frontend (HvSignalEvent fast path)")     \
	X(idle_kicks, "idle doorbell kicks: a vCPU halted with watched words set")
STATS_STRUCT(attach_stats, ATTACH_STATS);
STATS_DECLARE(attach_stats, struct attach_stats);
/* Every ATTACH_STATS counter: a new object, or NULL. */
json_t *attach_server_stats_json(const struct attach_server *srv);

bool attach_server_attached(const struct attach_server *srv);
/* How many frontends have attached since start (tests watch this). */
uint64_t attach_server_generation(const struct attach_server *srv);

#endif
