/* SPDX-License-Identifier: MIT */
/*
 * The guest side of the ring benchmark (include/vmbusd/proto/bench.h).
 * `vmbusd bench ring` forks and calls guest_bench_run() in the child; the
 * vmbus-guest tool's `bench` subcommand calls it too.
 *
 * Sizes: `size` is the VMBus packet payload in bytes (the 16-byte
 * struct bench_msg included for guest->host DATA, so size >= 16 there);
 * for host->guest it is sent as bench_msg.size in SOURCE.  bytes in the
 * result = packets * size.
 */
#ifndef VMBUSD_GUEST_BENCH_H
#define VMBUSD_GUEST_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/guest.h"
#include "vmbusd/proto/bench.h"

struct guest_bench_params {
	struct guest_opts opts;  /* socket, vcpus, memory, timeout; quiet for library use */
	uint32_t size;           /* payload bytes per packet */
	uint64_t count;          /* packets */
	bool h2g;                /* false: guest->host DATA; true: SOURCE, drain */
	uint32_t ring_bytes;     /* per direction incl. the header page; 0 = 256 KiB */
	uint32_t target_vp;      /* vCPU the channel interrupts; default 0 */
	uint32_t burst;          /* guest->host: packets per send burst (guest_ring.h);
				  * 0 or 1 = each send publishes, as Linux's writer */
};

struct guest_bench_result {
	uint64_t elapsed_ns;     /* first DATA/SOURCE sent .. REPORT completion seen */
	uint64_t packets;        /* DATA packets this guest sent (g2h) or received (h2g) */
	uint64_t bytes;
	struct bench_report report;
	uint64_t guest_signals;     /* HvSignalEvent issued on the bench channel */
	uint64_t guest_interrupts;  /* SIEF events seen for the bench channel */
	uint64_t guest_irqs;        /* vector 0xF3 deliveries, all vCPUs */
	uint64_t ring_full_waits;   /* sends that found the ring full */
	uint64_t ring_full_sleeps;  /* ... and, after spinning BENCH_SPIN_NS, slept on pending_send_sz */
};

/* Attaches, negotiates, opens the bench channel, runs, closes, unloads,
 * detaches.  0 or -errno (a message is logged). */
int guest_bench_run(const struct guest_bench_params *p, struct guest_bench_result *res);
/* The run alone, on a connected guest with offers collected. */
int guest_bench_run_on(struct guest *g, const struct guest_bench_params *p,
		       struct guest_bench_result *res);
/* {"event":"bench",...} for a result. */
json_t *guest_bench_json(const struct guest_bench_params *p, const struct guest_bench_result *res);

#endif
