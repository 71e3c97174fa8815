/* SPDX-License-Identifier: MIT */
/*
 * Synthetic MSRs 0x40000000..0x400001FF (facts §1.4; TLFS chapters 3, 11,
 * 12).  The frontend forwards every RDMSR/WRMSR in that range; anything we
 * do not implement reads 0 and ignores writes (facts §11), read-only and
 * unadvertised registers raise #GP as on Hyper-V, and so does any access
 * outside the range or from an unknown VP.
 */
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "core/trace.h"
#include "hv/hv_internal.h"

/* HV_MSR_HYPERCALL bit 1: once set, the MSR is immutable until reset
 * (TLFS 3.13). */
#define HV_HYPERCALL_LOCKED (1ull << 1)
#define HV_HYPERCALL_VALID_BITS (HV_MSR_PAGE_MASK | HV_MSR_ENABLE | HV_HYPERCALL_LOCKED)
#define HV_SINT_VALID_BITS (HV_SINT_VECTOR_MASK | HV_SINT_MASKED | HV_SINT_AUTO_EOI | HV_SINT_POLLING)
/* Vectors 0-15 are reserved for exceptions; an unmasked SINT must not use
 * one (TLFS 11.8.4; facts §3.1). */
#define HV_SINT_FIRST_VALID_VECTOR 16u
#define HV_SVERSION_VALUE 1u

static int hv_msr_gp(struct hv_partition *hv, uint32_t vp, uint32_t msr, bool write)
{
	hv->stats.msr_gp++;
	log_guest("vp %u: #GP on %s of MSR %#x", vp, write ? "WRMSR" : "RDMSR", msr);
	return -EPERM;
}

/* The frequency MSRs exist when advertised (cpuid.c): asked for and the
 * TSC rate known. */
static bool hv_freq_msrs(const struct hv_partition *hv)
{
	return hv->cfg.feat.frequency_msrs && hv->cfg.tsc_hz > HV_REF_HZ;
}

static bool hv_msr_in_range(uint32_t msr)
{
	return msr >= HV_MSR_RANGE_FIRST && msr <= HV_MSR_RANGE_LAST;
}

int hv_msr_read(struct hv_partition *hv, uint32_t vp, uint32_t msr, uint64_t *value)
{
	const struct hv_vp *v;

	*value = 0;
	hv->stats.msr_reads++;
	if (!hv_msr_in_range(msr) || !hv_vp_valid(hv, vp))
		return hv_msr_gp(hv, vp, msr, false);
	v = &hv->vp[vp];

	if (msr >= HV_MSR_SINT0 && msr <= HV_MSR_SINT15) {
		*value = v->sint[msr - HV_MSR_SINT0];
		return 0;
	}
	if (msr >= HV_MSR_STIMER0_CONFIG && msr <= HV_MSR_STIMER3_COUNT && hv->cfg.feat.stimer)
		return hv_stimer_msr_read(hv, vp, msr, value);
	switch (msr) {
	case HV_MSR_REFERENCE_TSC:
		*value = hv->reference_tsc;
		break;
	case HV_MSR_GUEST_OS_ID:
		*value = hv->guest_os_id;
		break;
	case HV_MSR_HYPERCALL:
		/* The stored value, enable bit included: hv_vmbus refuses to
		 * load unless bit 0 reads back set (facts §1.4). */
		*value = hv->hypercall;
		break;
	case HV_MSR_VP_INDEX:
		/* VP index == vCPU index (attach_req.n_vcpus contract). */
		*value = vp;
		break;
	case HV_MSR_TIME_REF_COUNT:
		*value = hv_time_ref_count(hv);
		break;
	case HV_MSR_TSC_FREQUENCY:
		if (!hv_freq_msrs(hv))
			return hv_msr_gp(hv, vp, msr, false);
		*value = hv->cfg.tsc_hz;
		break;
	case HV_MSR_APIC_FREQUENCY:
		/* Advertised together with the TSC frequency (CPUID 0x40000003
		 * EAX bit 11 covers both). */
		if (!hv_freq_msrs(hv))
			return hv_msr_gp(hv, vp, msr, false);
		*value = hv->cfg.apic_hz;
		break;
	case HV_MSR_VP_ASSIST_PAGE:
		*value = v->vp_assist;
		break;
	case HV_MSR_SCONTROL:
		*value = v->scontrol;
		break;
	case HV_MSR_SVERSION:
		*value = HV_SVERSION_VALUE;
		break;
	case HV_MSR_SIEFP:
		*value = v->siefp;
		break;
	case HV_MSR_SIMP:
		*value = v->simp;
		break;
	case HV_MSR_EOM:
		*value = 0;
		break;
	case HV_MSR_TSC_INVARIANT_CTL:
		*value = hv->tsc_invariant_ctl;
		break;
	default:
		/* Unimplemented but in range: read 0 rather than #GP, which
		 * a guest probing optional MSRs would WARN about (facts §11). */
		break;
	}
	return 0;
}

/*
 * SIMP/SIEFP writes.  Enabling a page at a new GPA (or after it was
 * disabled) zeroes it, as KVM does, so that stale bytes of a guest page are
 * never taken for a message or a pending flag; rewriting the same enabled
 * value keeps what is there (a slot may hold an undelivered message).  The
 * page must be guest RAM: the host writes into it.
 */
static int hv_msr_write_synic_page(struct hv_partition *hv, uint32_t vp, uint32_t msr,
				   uint64_t *reg, uint64_t value)
{
	uint64_t gpa = value & HV_MSR_PAGE_MASK;
	bool was_same = (*reg & HV_MSR_ENABLE) && (*reg & HV_MSR_PAGE_MASK) == gpa;

	if (value & HV_MSR_ENABLE) {
		void *page = gmem_translate(hv->mem, gpa, HV_PAGE_SIZE);

		if (!page)
			return hv_msr_gp(hv, vp, msr, true);
		if (!was_same)
			memset(page, 0, HV_PAGE_SIZE);
	}
	/* Bits 11:1 are reserved; keep only what means something. */
	*reg = value & (HV_MSR_PAGE_MASK | HV_MSR_ENABLE);
	return 0;
}

static int hv_msr_write_hypercall(struct hv_partition *hv, uint32_t vp, uint64_t value,
				  uint32_t *action, uint64_t *arg)
{
	uint64_t gpa = value & HV_MSR_PAGE_MASK;

	/* TLFS 3.13: the hypercall page cannot be enabled before the guest
	 * identified itself, and a locked MSR stays as it is until reset.
	 * Both are ignored writes, not #GP, as on Hyper-V and KVM. */
	if (hv->guest_os_id == 0) {
		hv->stats.msr_ignored++;
		log_guest("vp %u: hypercall MSR written before GUEST_OS_ID; ignored", vp);
		return 0;
	}
	if (hv->hypercall & HV_HYPERCALL_LOCKED) {
		hv->stats.msr_ignored++;
		return 0;
	}
	if (value & HV_MSR_ENABLE) {
		/* The frontend writes its stub into this page; refuse a page
		 * outside RAM here rather than let it fail there. */
		if (!gmem_translate(hv->mem, gpa, HV_PAGE_SIZE))
			return hv_msr_gp(hv, vp, HV_MSR_HYPERCALL, true);
		*action = ATTACH_ACTION_HYPERCALL_PAGE;
		*arg = gpa;
	}
	hv->hypercall = value & HV_HYPERCALL_VALID_BITS;
	return 0;
}

int hv_msr_write(struct hv_partition *hv, uint32_t vp, uint32_t msr, uint64_t value,
		 uint32_t *action, uint64_t *arg)
{
	struct hv_vp *v;
	uint32_t dummy_action;
	uint64_t dummy_arg;
	int ret;

	trace_emit(VMBUS_TRACE_MSR_WRITE, 0, vp, msr, value, NULL, 0);
	if (!action)
		action = &dummy_action;
	if (!arg)
		arg = &dummy_arg;
	*action = ATTACH_ACTION_NONE;
	*arg = 0;
	hv->stats.msr_writes++;
	if (!hv_msr_in_range(msr) || !hv_vp_valid(hv, vp))
		return hv_msr_gp(hv, vp, msr, true);
	v = &hv->vp[vp];

	if (msr >= HV_MSR_SINT0 && msr <= HV_MSR_SINT15) {
		if (!(value & HV_SINT_MASKED) &&
		    (value & HV_SINT_VECTOR_MASK) < HV_SINT_FIRST_VALID_VECTOR)
			return hv_msr_gp(hv, vp, msr, true);
		v->sint[msr - HV_MSR_SINT0] = value & HV_SINT_VALID_BITS;
		/* An unmasked SINT may have messages waiting for a slot. */
		synic_vp_pump(hv, vp);
		return 0;
	}
	if (msr >= HV_MSR_STIMER0_CONFIG && msr <= HV_MSR_STIMER3_COUNT && hv->cfg.feat.stimer) {
		if (hv_stimer_msr_write(hv, vp, msr, value) < 0)
			return hv_msr_gp(hv, vp, msr, true);
		return 0;
	}
	switch (msr) {
	case HV_MSR_REFERENCE_TSC:
		if (!hv->cfg.feat.tsc_page)
			return 0; /* not offered: ignored like any unimplemented MSR */
		if (hv_msr_write_reference_tsc(hv, value) < 0)
			return hv_msr_gp(hv, vp, msr, true);
		return 0;
	case HV_MSR_GUEST_OS_ID:
		hv->guest_os_id = value;
		/* Clearing the guest id disables the hypercall page (TLFS
		 * 3.13; KVM does the same). */
		if (value == 0)
			hv->hypercall &= ~HV_MSR_ENABLE;
		return 0;
	case HV_MSR_HYPERCALL:
		return hv_msr_write_hypercall(hv, vp, value, action, arg);
	case HV_MSR_VP_INDEX:
	case HV_MSR_TIME_REF_COUNT:
	case HV_MSR_TSC_FREQUENCY:
	case HV_MSR_APIC_FREQUENCY:
	case HV_MSR_SVERSION:
		/* Read-only registers. */
		return hv_msr_gp(hv, vp, msr, true);
	case HV_MSR_VP_ASSIST_PAGE:
		/* Written on every CPU online even without APIC_ACCESS;
		 * accept and ignore (facts §1.4). */
		v->vp_assist = value;
		return 0;
	case HV_MSR_SCONTROL:
		v->scontrol = value & HV_MSR_ENABLE;
		synic_vp_pump(hv, vp);
		return 0;
	case HV_MSR_SIEFP:
		return hv_msr_write_synic_page(hv, vp, msr, &v->siefp, value);
	case HV_MSR_SIMP:
		ret = hv_msr_write_synic_page(hv, vp, msr, &v->simp, value);
		if (ret == 0)
			synic_vp_pump(hv, vp);
		return ret;
	case HV_MSR_EOM:
		/* The guest freed a slot whose msg_pending was set (facts
		 * §3.4): deliver what waits. */
		hv->stats.synic_eoms++;
		synic_vp_pump(hv, vp);
		return 0;
	case HV_MSR_TSC_INVARIANT_CTL:
		/* Written as 1 when TSC_INVARIANT is advertised; nothing to
		 * do, the TSC of a TCG guest is invariant anyway. */
		hv->tsc_invariant_ctl = value;
		return 0;
	default:
		return 0;
	}
}
