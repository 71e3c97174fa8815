/* SPDX-License-Identifier: MIT */
/*
 * Partition time: the reference counter (HV_MSR_TIME_REF_COUNT), the
 * reference TSC page (HV_MSR_REFERENCE_TSC) and the synthetic timers
 * stimer0-3 (TLFS chapter 12; Linux drivers/clocksource/hyperv_timer.c).
 *
 * One time base for all three: reference time is CLOCK_MONOTONIC since the
 * last partition reset, in 100 ns units (hv_time_ref_count()).
 *
 * The TSC page lets the guest compute that same time from its own TSC
 * without an exit: ref = ((tsc * scale) >> 64) + offset.  The daemon never
 * reads the guest TSC; the frontend tells it the TSC rate at ATTACH and,
 * with CLOCK, one (guest TSC, host CLOCK_MONOTONIC) pair.  From those:
 *   scale  = 2^64 * 10^7 / tsc_hz
 *   offset = ref(host_ns) - ((guest_tsc * scale) >> 64)
 * Until a pair arrives the page holds sequence 0, which makes Linux read
 * the MSR instead (hv_read_tsc_page_tsc() returns U64_MAX).
 *
 * Synthetic timers: each VP has four, each a CONFIG and a COUNT MSR.  An
 * enabled timer is due at `exp_time` (reference time); the partition asks
 * the host, through its timer sink, to call hv_stimer_run() at the earliest
 * due time of all timers, and expirations are delivered from there: as an
 * HVMSG_TIMER_EXPIRED message in the timer's SINT slot (message mode) or as
 * the timer's vector straight to the VP (direct mode).  Semantics follow the
 * TLFS as KVM implements them (arch/x86/kvm/hyperv.c): writing CONFIG or
 * COUNT stops the timer and restarts it if still enabled; COUNT 0 disables;
 * a non-zero COUNT sets ENABLE when AUTO_ENABLE is set; a message-mode
 * timer with SINTx 0 cannot be enabled; a one-shot COUNT is an absolute
 * reference time (in the past: expires at once), a periodic COUNT a period.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "hv/hv_internal.h"

/* Periodic timers whose previous message still waits for an EOM skip an
 * expiration rather than queue another (the queue would only grow). */
#define HV_STIMER_MAX_QUEUED 1u

/* ---- reference time ------------------------------------------------------- */

uint64_t hv_ref_at_ns(const struct hv_partition *hv, uint64_t ns)
{
	return ns > hv->ref_time_base_ns ? (ns - hv->ref_time_base_ns) / 100u : 0;
}

uint64_t hv_ns_at_ref(const struct hv_partition *hv, uint64_t ref)
{
	if (ref > (UINT64_MAX - hv->ref_time_base_ns) / 100u)
		return UINT64_MAX;
	return hv->ref_time_base_ns + ref * 100u;
}

uint64_t hv_time_ref_count(const struct hv_partition *hv)
{
	/* 100 ns units; CLOCK_MONOTONIC never goes back, so neither does this. */
	return hv_ref_at_ns(hv, now_ns());
}

/* ---- reference TSC page ----------------------------------------------------- */

int hv_tsc_page_params(uint64_t tsc_hz, uint64_t tsc, int64_t ref, uint64_t *scale,
		       int64_t *offset)
{
	/* The scale must fit 64 bits: a TSC slower than 10 MHz cannot be
	 * mapped (no x86 TSC is that slow). */
	if (tsc_hz <= HV_REF_HZ)
		return -EINVAL;
	*scale = (uint64_t)(((unsigned __int128)HV_REF_HZ << 64) / tsc_hz);
	*offset = ref - (int64_t)(((unsigned __int128)tsc * *scale) >> 64);
	return 0;
}

uint64_t hv_tsc_page_ref(uint64_t scale, int64_t offset, uint64_t tsc)
{
	return (uint64_t)(((unsigned __int128)tsc * scale) >> 64) + (uint64_t)offset;
}

/*
 * (Re)writes the page the guest enabled.  The guest reads it like a
 * seqlock: sequence, then scale and offset, then sequence again, retrying
 * on a change and falling back to the MSR on 0.  So: sequence 0 first,
 * a release fence (the fields are not written before the guest can see
 * the 0), the fields, then the new sequence with release (the fields are
 * visible before it).  Pairs with the guest's virt_rmb()s.
 */
/* A field of the (packed) page as the naturally aligned word it is in guest
 * RAM (the page is page-aligned): atomics on a packed member would need
 * libatomic's unaligned helpers (clang) or could tear. */
#define TSC_PAGE_WORD(pg, type, field) \
	((type *)(void *)((uint8_t *)(pg) + offsetof(struct hv_reference_tsc_page, field)))

void hv_tsc_page_update(struct hv_partition *hv)
{
	struct hv_reference_tsc_page *pg;
	uint64_t scale;
	int64_t offset, ref;

	if (!hv->mem || !(hv->reference_tsc & HV_MSR_ENABLE))
		return;
	pg = gmem_translate(hv->mem, hv->reference_tsc & HV_MSR_PAGE_MASK, sizeof(*pg));
	if (!pg)
		return; /* checked at the MSR write; RAM does not move */
	__atomic_store_n(TSC_PAGE_WORD(pg, uint32_t, tsc_sequence), 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ref = (int64_t)(hv->clock_ns - hv->ref_time_base_ns) / 100;
	if (!hv->clock_valid ||
	    hv_tsc_page_params(hv->cfg.tsc_hz, hv->clock_tsc, ref, &scale, &offset) < 0)
		return; /* sequence 0: the guest reads TIME_REF_COUNT */
	__atomic_store_n(TSC_PAGE_WORD(pg, uint64_t, tsc_scale), scale, __ATOMIC_RELAXED);
	__atomic_store_n(TSC_PAGE_WORD(pg, int64_t, tsc_offset), offset, __ATOMIC_RELAXED);
	/* Never 0 (invalid); KVM also avoids 0xFFFFFFFF, so do we. */
	if (++hv->tsc_sequence == 0 || hv->tsc_sequence == UINT32_MAX)
		hv->tsc_sequence = 1;
	__atomic_store_n(TSC_PAGE_WORD(pg, uint32_t, tsc_sequence), hv->tsc_sequence,
			 __ATOMIC_RELEASE);
	hv->stats.tsc_page_updates++;
}

int hv_msr_write_reference_tsc(struct hv_partition *hv, uint64_t value)
{
	if ((value & HV_MSR_ENABLE) &&
	    !gmem_translate(hv->mem, value & HV_MSR_PAGE_MASK,
			    sizeof(struct hv_reference_tsc_page)))
		return -EFAULT;
	/* Linux keeps bits 11:1 as it read them (TLFS: preserve reserved). */
	hv->reference_tsc = value;
	hv_tsc_page_update(hv);
	return 0;
}

void hv_partition_clock(struct hv_partition *hv, uint64_t guest_tsc, uint64_t host_ns)
{
	hv->clock_tsc = guest_tsc;
	hv->clock_ns = host_ns;
	hv->clock_valid = true;
	hv_tsc_page_update(hv);
}

/* ---- synthetic timers --------------------------------------------------------- */

void hv_partition_set_timer_sink(struct hv_partition *hv, const struct hv_timer_sink *sink)
{
	if (sink)
		hv->timer = *sink;
	else
		memset(&hv->timer, 0, sizeof(hv->timer));
	hv->timer_armed_ns = UINT64_MAX;
}

/* Asks the host for a call at the earliest due time (or for none). */
static void hv_stimer_rearm(struct hv_partition *hv)
{
	uint64_t next = UINT64_MAX;

	for (uint32_t v = 0; hv->vp && v < hv->cfg.n_vcpus; v++)
		for (uint32_t i = 0; i < HV_STIMER_COUNT; i++)
			if (hv->vp[v].stimer[i].armed && hv->vp[v].stimer[i].exp_time < next)
				next = hv->vp[v].stimer[i].exp_time;
	if (next != UINT64_MAX)
		next = hv_ns_at_ref(hv, next);
	if (next == hv->timer_armed_ns)
		return;
	hv->timer_armed_ns = next;
	if (hv->timer.arm)
		hv->timer.arm(hv->timer.opaque, next);
}

static void hv_stimer_start(struct hv_partition *hv, struct hv_stimer *t, uint64_t now)
{
	t->armed = false;
	if (!(t->config & HV_STIMER_ENABLE))
		return;
	if (t->config & HV_STIMER_PERIODIC) {
		/* A period of 0 would fire forever; KVM refuses to start it. */
		if (t->count == 0)
			return;
		t->exp_time = now + t->count;
	} else {
		/* Absolute; already past means "expire now" (TLFS 12.9).  0
		 * means "not set" (KVM arms nothing for it): Linux enables
		 * the timer (CONFIG) before it programs a COUNT. */
		if (t->count == 0)
			return;
		t->exp_time = t->count;
	}
	t->armed = true;
}

/* Delivers one expiration; one that cannot be delivered is counted as
 * missed (the timer goes on as if it had been). */
static void hv_stimer_deliver(struct hv_partition *hv, uint32_t vp, uint32_t idx,
			      struct hv_stimer *t, uint64_t now)
{
	if (t->config & HV_STIMER_DIRECT_MODE) {
		uint8_t vector = (uint8_t)((t->config & HV_STIMER_VECTOR_MASK) >> HV_STIMER_VECTOR_SHIFT);

		if (vector < 16 || !hv->irq.raise) {
			hv->stats.stimer_missed++;
			return;
		}
		hv->stats.irqs_raised++;
		hv->irq.raise(hv->irq.opaque, vp, vector);
	} else {
		uint32_t sint = (uint32_t)((t->config & HV_STIMER_SINTX_MASK) >> HV_STIMER_SINTX_SHIFT);
		struct hv_timer_message_payload p = {
			.timer_index = idx,
			.expiration_time = t->exp_time,
			.delivery_time = now,
		};

		if ((t->config & HV_STIMER_PERIODIC) &&
		    synic_queued(hv, vp, sint) >= HV_STIMER_MAX_QUEUED) {
			hv->stats.stimer_missed++;
			return;
		}
		if (synic_post_message(hv, vp, sint, HVMSG_TIMER_EXPIRED, &p, sizeof(p)) < 0) {
			/* SynIC off or SIM outside RAM: lost, as when the
			 * guest masks a line. */
			hv->stats.stimer_missed++;
			return;
		}
	}
	hv->stats.stimer_expired++;
}

static void hv_stimer_expire(struct hv_partition *hv, uint32_t vp, uint32_t idx, uint64_t now)
{
	struct hv_stimer *t = &hv->vp[vp].stimer[idx];

	hv_stimer_deliver(hv, vp, idx, t, now);
	if (t->config & HV_STIMER_PERIODIC) {
		/* Next period after now, skipping the ones already missed
		 * (KVM: exp_time = now + count - (now - exp_time) % count). */
		t->exp_time += t->count;
		if (t->exp_time <= now)
			t->exp_time = now + t->count - (now - t->exp_time) % t->count;
	} else {
		t->armed = false;
		t->config &= ~HV_STIMER_ENABLE;
	}
}

void hv_stimer_run_at(struct hv_partition *hv, uint64_t now)
{
	for (uint32_t v = 0; hv->vp && hv->mem && v < hv->cfg.n_vcpus; v++)
		for (uint32_t i = 0; i < HV_STIMER_COUNT; i++)
			if (hv->vp[v].stimer[i].armed && hv->vp[v].stimer[i].exp_time <= now)
				hv_stimer_expire(hv, v, i, now);
	hv->timer_armed_ns = 0; /* the host's timer has fired: arm it anew */
	hv_stimer_rearm(hv);
}

void hv_stimer_run(struct hv_partition *hv)
{
	hv_stimer_run_at(hv, hv_time_ref_count(hv));
}

int hv_stimer_msr_read(struct hv_partition *hv, uint32_t vp, uint32_t msr, uint64_t *value)
{
	const struct hv_stimer *t = &hv->vp[vp].stimer[(msr - HV_MSR_STIMER0_CONFIG) / 2];

	*value = (msr - HV_MSR_STIMER0_CONFIG) % 2 ? t->count : t->config;
	return 0;
}

int hv_stimer_msr_write(struct hv_partition *hv, uint32_t vp, uint32_t msr, uint64_t value)
{
	struct hv_stimer *t = &hv->vp[vp].stimer[(msr - HV_MSR_STIMER0_CONFIG) / 2];
	uint64_t now = hv_time_ref_count(hv);

	hv->stats.stimer_writes++;
	if ((msr - HV_MSR_STIMER0_CONFIG) % 2 == 0) {
		if ((value & HV_STIMER_DIRECT_MODE) && !hv->cfg.feat.stimer_direct)
			return -EPERM;
		value &= HV_STIMER_VALID_BITS;
		/* A message-mode timer needs a SINT to send to. */
		if (!(value & HV_STIMER_DIRECT_MODE) && !(value & HV_STIMER_SINTX_MASK))
			value &= ~HV_STIMER_ENABLE;
		t->config = value;
	} else {
		t->count = value;
		if (value == 0)
			t->config &= ~HV_STIMER_ENABLE;
		else if (t->config & HV_STIMER_AUTO_ENABLE)
			t->config |= HV_STIMER_ENABLE;
	}
	hv_stimer_start(hv, t, now);
	if (t->armed && t->exp_time <= now)
		hv_stimer_run_at(hv, now); /* due already: deliver now */
	else
		hv_stimer_rearm(hv);
	return 0;
}

void hv_stimer_vp_reset(struct hv_partition *hv, struct hv_vp *vp)
{
	(void)hv;
	memset(vp->stimer, 0, sizeof(vp->stimer));
}

void hv_stimer_reset_done(struct hv_partition *hv)
{
	hv_stimer_rearm(hv);
}
