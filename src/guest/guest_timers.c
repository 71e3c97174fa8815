/* SPDX-License-Identifier: MIT */
/*
 * `vmbus-guest timers`: the time enlightenments as Linux's hyperv_timer.c
 * uses them, with measurements.  One JSON object:
 *  - the reference TSC page against TIME_REF_COUNT (ticks apart);
 *  - the cost of a synthetic timer programming (a STIMER0_COUNT write is
 *    one round trip to the daemon) and of a TIME_REF_COUNT read;
 *  - a message-mode one-shot (HVMSG_TIMER_EXPIRED in SINT2's slot) and a
 *    direct-mode periodic timer (a vector, no message), with how late they
 *    arrive and how many came.
 * Written from the TLFS (chapter 12), independent of the daemon's hv/.
 */
#include "guest/guest_timers.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "vmbusd/proto/hv.h"

#define TIMERS_VECTOR 0xEDu            /* Linux HYPERV_STIMER0_VECTOR */
#define TIMERS_COST_N 2000u
#define TIMERS_ONESHOT_TICKS 200000ull /* 20 ms */
#define TIMERS_PERIOD_TICKS 10000ull   /* 1 ms */
#define TIMERS_PERIODIC_MS 300

static uint64_t page_ref(const volatile struct hv_reference_tsc_page *pg, uint64_t tsc,
			 bool *valid)
{
	uint32_t seq;
	uint64_t scale, ref;
	int64_t offset;

	do {
		seq = __atomic_load_n(&pg->tsc_sequence, __ATOMIC_ACQUIRE);
		if (seq == 0) {
			*valid = false;
			return 0;
		}
		scale = pg->tsc_scale;
		offset = pg->tsc_offset;
		ref = (uint64_t)(((unsigned __int128)tsc * scale) >> 64) + (uint64_t)offset;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while (__atomic_load_n(&pg->tsc_sequence, __ATOMIC_RELAXED) != seq);
	*valid = true;
	return ref;
}

int guest_timers_run(struct guest *g, struct guest_timers_result *r)
{
	struct guest_attach *a = &g->att;
	uint32_t eax, ebx, ecx, edx;
	const volatile struct hv_reference_tsc_page *pg;
	struct hv_message m;
	uint64_t gpa, t0, ref, ref_msr, due, deadline;
	uint64_t spurious0;
	int ret;

	memset(r, 0, sizeof(*r));
	guest_attach_cpuid(a, HV_CPUID_FEATURES, &eax, &ebx, &ecx, &edx);
	r->features_a = eax;
	r->features_d = edx;
	if (!(eax & HV_FEAT_REFERENCE_TSC) || !(eax & HV_FEAT_SYNTIMER)) {
		log_error("timers: the daemon offers no TSC page or no synthetic timers "
			  "(CPUID 0x40000003 EAX %#x)", eax);
		return -ENOTSUP;
	}

	/* The TSC page, as hv_init_tsc_clocksource() enables it. */
	gpa = guest_mem_alloc(&g->mem, 1);
	if (!gpa)
		return -ENOMEM;
	pg = guest_mem_ptr(&g->mem, gpa, HV_PAGE_SIZE);
	if ((ret = guest_attach_msr_write(a, 0, HV_MSR_REFERENCE_TSC, gpa | HV_MSR_ENABLE)))
		return ret;
	ref = page_ref(pg, guest_attach_tsc(a), &r->tsc_page_valid);
	if ((ret = guest_attach_msr_read(a, 0, HV_MSR_TIME_REF_COUNT, &ref_msr)))
		return ret;
	r->tsc_page_vs_msr_ticks = (int64_t)(ref_msr - ref);

	/* Cost: TIME_REF_COUNT reads, then STIMER0_COUNT writes far ahead
	 * (what every hv_ce_set_next_event() does). */
	t0 = now_ns();
	for (unsigned int i = 0; i < TIMERS_COST_N && !ret; i++)
		ret = guest_attach_msr_read(a, 0, HV_MSR_TIME_REF_COUNT, &ref_msr);
	r->ref_read_ns = (now_ns() - t0) / TIMERS_COST_N;
	if (!ret)
		ret = guest_attach_msr_write(a, 0, HV_MSR_STIMER0_CONFIG,
					     HV_STIMER_ENABLE | HV_STIMER_AUTO_ENABLE |
					     ((uint64_t)VMBUS_MESSAGE_SINT << HV_STIMER_SINTX_SHIFT));
	t0 = now_ns();
	for (unsigned int i = 0; i < TIMERS_COST_N && !ret; i++)
		ret = guest_attach_msr_write(a, 0, HV_MSR_STIMER0_CONFIG + 1,
					     ref_msr + 36000000000ull + i);
	r->stimer_write_ns = (now_ns() - t0) / TIMERS_COST_N;
	if (ret)
		return ret;

	/* Message mode, one-shot, 20 ms ahead. */
	while (guest_cpu_pop_message(g, &m))
		;
	ref = page_ref(pg, guest_attach_tsc(a), &r->tsc_page_valid);
	due = ref + TIMERS_ONESHOT_TICKS;
	if ((ret = guest_attach_msr_write(a, 0, HV_MSR_STIMER0_CONFIG + 1, due)))
		return ret;
	deadline = now_ns() + 2000000000ull;
	while (!r->oneshot_ok && now_ns() < deadline) {
		if ((ret = guest_cpu_poll(g, 50)) < 0 && ret != -EINTR)
			return ret;
		while (guest_cpu_pop_message(g, &m)) {
			struct hv_timer_message_payload p;

			if (m.header.message_type != HVMSG_TIMER_EXPIRED ||
			    m.header.payload_size < sizeof(p))
				continue;
			memcpy(&p, m.payload, sizeof(p));
			ref = page_ref(pg, guest_attach_tsc(a), &r->tsc_page_valid);
			r->oneshot_ok = p.timer_index == 0 && p.expiration_time == due &&
					p.delivery_time >= due && ref >= due;
			r->oneshot_late_us = (int64_t)(ref - due) / 10;
		}
	}

	/* Direct mode, periodic 1 ms, on the last vCPU. */
	{
		uint32_t vp = a->n_vcpus - 1;

		spurious0 = g->cpu[vp].spurious;
		ret = guest_attach_msr_write(a, vp, HV_MSR_STIMER0_CONFIG + 3, TIMERS_PERIOD_TICKS);
		if (!ret)
			ret = guest_attach_msr_write(a, vp, HV_MSR_STIMER0_CONFIG + 2,
						     HV_STIMER_ENABLE | HV_STIMER_PERIODIC |
						     HV_STIMER_DIRECT_MODE |
						     ((uint64_t)TIMERS_VECTOR << HV_STIMER_VECTOR_SHIFT));
		if (ret == -EPERM) {
			r->direct_mode = false; /* not offered: #GP */
			ret = 0;
		} else if (!ret) {
			r->direct_mode = true;
			t0 = now_ns();
			while (!ret && now_ns() < t0 + TIMERS_PERIODIC_MS * 1000000ull)
				if ((ret = guest_cpu_poll(g, 10)) == -EINTR)
					ret = 0;
			r->periodic_elapsed_ms = (now_ns() - t0) / 1000000u;
			if (!ret)
				ret = guest_attach_msr_write(a, vp, HV_MSR_STIMER0_CONFIG + 2, 0);
			/* Vectors other than the SynIC's count as "spurious". */
			r->periodic_irqs = g->cpu[vp].spurious - spurious0;
		}
	}
	return ret;
}

json_t *guest_timers_json(const struct guest_timers_result *r)
{
	return json_pack("{s:s,s:i,s:i,s:b,s:I,s:I,s:I,s:b,s:I,s:b,s:I,s:I}",
			 "event", "timers",
			 "features_a", (int)r->features_a, "features_d", (int)r->features_d,
			 "tsc_page_valid", r->tsc_page_valid,
			 "tsc_page_vs_msr_ticks", (json_int_t)r->tsc_page_vs_msr_ticks,
			 "ref_read_ns", (json_int_t)r->ref_read_ns,
			 "stimer_write_ns", (json_int_t)r->stimer_write_ns,
			 "oneshot_ok", r->oneshot_ok,
			 "oneshot_late_us", (json_int_t)r->oneshot_late_us,
			 "direct_mode", r->direct_mode,
			 "periodic_irqs", (json_int_t)r->periodic_irqs,
			 "periodic_elapsed_ms", (json_int_t)r->periodic_elapsed_ms);
}
