/* SPDX-License-Identifier: MIT */
/* `vmbus-guest timers`: the TSC page and the synthetic timers, measured. */
#ifndef VMBUSD_GUEST_GUEST_TIMERS_H
#define VMBUSD_GUEST_GUEST_TIMERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest/guest.h"

struct guest_timers_result {
	uint32_t features_a, features_d;  /* CPUID 0x40000003 EAX, EDX */
	bool tsc_page_valid;
	int64_t tsc_page_vs_msr_ticks;    /* MSR read after the page: >= 0, small */
	uint64_t ref_read_ns;             /* one TIME_REF_COUNT read */
	uint64_t stimer_write_ns;         /* one STIMER0_COUNT write */
	bool oneshot_ok;                  /* HVMSG_TIMER_EXPIRED, right payload, not early */
	int64_t oneshot_late_us;
	bool direct_mode;                 /* offered (else the CONFIG write #GPs) */
	uint64_t periodic_irqs;           /* direct-mode vectors in the window */
	uint64_t periodic_elapsed_ms;
};

/* Needs guest_open() done (SynIC on every vCPU). */
int guest_timers_run(struct guest *g, struct guest_timers_result *r);
json_t *guest_timers_json(const struct guest_timers_result *r);

#endif
