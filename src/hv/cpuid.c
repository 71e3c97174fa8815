/* SPDX-License-Identifier: MIT */
/*
 * The Hyper-V CPUID leaves the frontend answers from (facts §1.1-§1.3, the
 * §11 recipe).  The frontend answers every other leaf of
 * 0x40000000..0x400000FF with zeros, so only non-zero leaves and the two
 * that Linux reads unconditionally need entries.
 */
#include "core/util.h"
#include "hv/hv_internal.h"

/* 0x40000002: only printed by Linux ("Hyper-V: Host Build ..."); report
 * Windows Server 2022 (10.0.20348), which has every feature we offer. */
#define HV_VERSION_BUILD 20348u
#define HV_VERSION_MAJOR_MINOR 0x000A0000u

static void hv_cpuid_set(struct attach_cpuid *e, uint32_t fn, uint32_t eax, uint32_t ebx,
			 uint32_t ecx, uint32_t edx)
{
	e->function = fn;
	e->index = 0;
	e->eax = eax;
	e->ebx = ebx;
	e->ecx = ecx;
	e->edx = edx;
}

uint32_t hv_cpuid_fill(const struct hv_partition *hv, struct attach_cpuid *out, uint32_t max)
{
	struct attach_cpuid leaves[8];
	uint32_t n = 0, n_vcpus = hv_partition_vcpus(hv);
	const struct hv_features *f = &hv->cfg.feat;
	bool known_tsc = hv->mem != NULL && hv->cfg.tsc_hz > HV_REF_HZ;
	uint32_t features_a, features_d;

	/*
	 * Group A: SynIC (never tested by 6.1 but TLFS-correct), hypercall
	 * MSR and VP index (both required by ms_hyperv_platform()), and TSC
	 * invariance (else Linux marks the TSC unstable) — except with the
	 * TSC page: Linux lowers the TSC page's rating below the TSC's when
	 * TSC_INVARIANT is offered (hv_init_tsc_clocksource()), and the point
	 * of the page is that the guest uses it.  Without TSC_INVARIANT Linux
	 * marks the TSC unstable and runs on hyperv_clocksource_tsc_page.
	 * TIME_REF_COUNT only with the page or when asked for: alone it makes
	 * sched_clock an MSR round trip (facts §1.3).  The page and the
	 * frequency MSRs only when the frontend told us the TSC rate.
	 */
	features_a = HV_FEAT_SYNIC | HV_FEAT_HYPERCALL | HV_FEAT_VP_INDEX;
	features_d = 0;
	if (f->tsc_page && known_tsc)
		features_a |= HV_FEAT_REFERENCE_TSC | HV_FEAT_TIME_REF_COUNT;
	else
		features_a |= HV_FEAT_TSC_INVARIANT;
	if (f->time_ref_count)
		features_a |= HV_FEAT_TIME_REF_COUNT;
	if (f->stimer) {
		features_a |= HV_FEAT_SYNTIMER;
		if (f->stimer_direct)
			features_d |= HV_FEAT_STIMER_DIRECT;
	}
	if (f->frequency_msrs && known_tsc) {
		features_a |= HV_FEAT_FREQUENCY_MSRS;
		features_d |= HV_FEAT_FREQ_MSRS_AVAIL;
	}

	/* Max leaf 0x40000005: the minimum Linux accepts, so 0x4000000A and
	 * 0x4000000C are never read (facts §1.2). */
	hv_cpuid_set(&leaves[n++], HV_CPUID_VENDOR_AND_MAX, HV_CPUID_IMPLEMENT_LIMITS,
		     HV_CPUID_SIGNATURE_EBX, HV_CPUID_SIGNATURE_ECX, HV_CPUID_SIGNATURE_EDX);
	hv_cpuid_set(&leaves[n++], HV_CPUID_INTERFACE, HV_CPUID_INTERFACE_HV1, 0, 0, 0);
	hv_cpuid_set(&leaves[n++], HV_CPUID_VERSION, HV_VERSION_BUILD, HV_VERSION_MAJOR_MINOR, 0, 0);
	/* Group B: post messages + signal events only; never partition id,
	 * CPU management, extended hypercalls or isolation (facts §1.3). */
	hv_cpuid_set(&leaves[n++], HV_CPUID_FEATURES, features_a,
		     HV_FEAT_POST_MESSAGES | HV_FEAT_SIGNAL_EVENTS, 0, features_d);
	/* Hint bit 9 only: without it Linux never EOIs vector 0xF3. */
	hv_cpuid_set(&leaves[n++], HV_CPUID_ENLIGHTENMENT, HV_HINT_DEPRECATE_AEOI, 0, 0, 0);
	hv_cpuid_set(&leaves[n++], HV_CPUID_IMPLEMENT_LIMITS, n_vcpus, n_vcpus, 0, 0);
	/* Read unconditionally by ms_hyperv_msi_ext_dest_id(): explicit zeros
	 * so no frontend falls back to some other leaf's contents. */
	hv_cpuid_set(&leaves[n++], HV_CPUID_MSI_EXT_DEST_A, 0, 0, 0, 0);
	hv_cpuid_set(&leaves[n++], HV_CPUID_MSI_EXT_DEST_B, 0, 0, 0, 0);

	n = MIN(n, max);
	for (uint32_t i = 0; i < n; i++)
		out[i] = leaves[i];
	return n;
}
