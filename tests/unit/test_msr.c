/* SPDX-License-Identifier: MIT */
/* Synthetic MSRs (facts §1.4) and the CPUID leaves (facts §1.2, §11). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "hv_fixture.h"

#define LINUX_GUEST_ID 0x8100000601C00000ull
#define HC_PAGE 0x5000ull

static int rd(uint32_t vp, uint32_t msr, uint64_t *v)
{
	return hv_msr_read(fix_hv, vp, msr, v);
}

static int wr(uint32_t vp, uint32_t msr, uint64_t v)
{
	return hv_msr_write(fix_hv, vp, msr, v, NULL, NULL);
}

START_TEST(guest_os_id_is_partition_wide)
{
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_GUEST_OS_ID), 0);
	fix_wrmsr(1, HV_MSR_GUEST_OS_ID, LINUX_GUEST_ID);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_GUEST_OS_ID), LINUX_GUEST_ID);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_GUEST_OS_ID), LINUX_GUEST_ID);
}
END_TEST

START_TEST(hypercall_locked_until_guest_id)
{
	uint32_t action = 99;
	uint64_t arg = 99;

	/* Before GUEST_OS_ID: ignored, no #GP, no page. */
	ck_assert_int_eq(hv_msr_write(fix_hv, 0, HV_MSR_HYPERCALL, HC_PAGE | 1, &action, &arg), 0);
	ck_assert_uint_eq(action, ATTACH_ACTION_NONE);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_HYPERCALL), 0);

	fix_wrmsr(0, HV_MSR_GUEST_OS_ID, LINUX_GUEST_ID);
	ck_assert_int_eq(hv_msr_write(fix_hv, 0, HV_MSR_HYPERCALL, HC_PAGE | 1, &action, &arg), 0);
	ck_assert_uint_eq(action, ATTACH_ACTION_HYPERCALL_PAGE);
	ck_assert_uint_eq(arg, HC_PAGE);
	/* The stored value, bit 0 included, on every vCPU (facts §1.4). */
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_HYPERCALL), HC_PAGE | 1);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_HYPERCALL), HC_PAGE | 1);
}
END_TEST

START_TEST(hypercall_disable_relocate_and_lock)
{
	uint32_t action;
	uint64_t arg;

	fix_wrmsr(0, HV_MSR_GUEST_OS_ID, LINUX_GUEST_ID);
	/* Outside RAM: the frontend could not write the stub. */
	ck_assert_int_eq(hv_msr_write(fix_hv, 0, HV_MSR_HYPERCALL, (uint64_t)FIX_RAM_SIZE | 1,
				      &action, &arg), -EPERM);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_HYPERCALL), 0);
	/* Disabled: stored, no action. */
	ck_assert_int_eq(hv_msr_write(fix_hv, 1, HV_MSR_HYPERCALL, HC_PAGE, &action, &arg), 0);
	ck_assert_uint_eq(action, ATTACH_ACTION_NONE);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_HYPERCALL), HC_PAGE);
	/* Reserved bits 11:2 are dropped. */
	fix_wrmsr(0, HV_MSR_HYPERCALL, 0x6000 | 0xFF0 | 1);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_HYPERCALL), 0x6001);
	/* Clearing the guest id disables the page. */
	fix_wrmsr(0, HV_MSR_GUEST_OS_ID, 0);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_HYPERCALL), 0x6000);
	/* Locked: immutable until reset. */
	fix_wrmsr(0, HV_MSR_GUEST_OS_ID, LINUX_GUEST_ID);
	fix_wrmsr(0, HV_MSR_HYPERCALL, HC_PAGE | 3);
	ck_assert_int_eq(hv_msr_write(fix_hv, 0, HV_MSR_HYPERCALL, 0x7001, &action, &arg), 0);
	ck_assert_uint_eq(action, ATTACH_ACTION_NONE);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_HYPERCALL), HC_PAGE | 3);
	hv_partition_reset(fix_hv);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_HYPERCALL), 0);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_GUEST_OS_ID), 0);
}
END_TEST

START_TEST(vp_index_read_only)
{
	uint64_t v;

	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_VP_INDEX), 0);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_VP_INDEX), 1);
	ck_assert_int_eq(wr(1, HV_MSR_VP_INDEX, 0), -EPERM);
	ck_assert_int_eq(rd(1, HV_MSR_VP_INDEX, &v), 0);
	ck_assert_uint_eq(v, 1);
}
END_TEST

START_TEST(vp_assist_and_tsc_invariant_accepted)
{
	fix_wrmsr(0, HV_MSR_VP_ASSIST_PAGE, 0x7000 | 1);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_VP_ASSIST_PAGE), 0x7001);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_VP_ASSIST_PAGE), 0);
	fix_wrmsr(1, HV_MSR_VP_ASSIST_PAGE, 0);
	fix_wrmsr(0, HV_MSR_TSC_INVARIANT_CTL, 1);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_TSC_INVARIANT_CTL), 1);
}
END_TEST

START_TEST(synic_registers)
{
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SVERSION), 1);
	ck_assert_int_eq(wr(0, HV_MSR_SVERSION, 2), -EPERM);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SCONTROL), 0);
	fix_wrmsr(0, HV_MSR_SCONTROL, 1);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SCONTROL), 1);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_SCONTROL), 0);
	for (uint32_t i = 0; i < HV_SINT_COUNT; i++)
		ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_SINT0 + i), HV_SINT_MASKED);
	fix_wrmsr(0, HV_MSR_SIMP, 0x8000);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SIMP), 0x8000);
	fix_wrmsr(0, HV_MSR_SIEFP, 0x9001);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SIEFP), 0x9001);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_EOM), 0);
	fix_wrmsr(0, HV_MSR_EOM, 0);
}
END_TEST

START_TEST(synic_page_enable_zeroes_and_checks_ram)
{
	memset(fix_ptr(0x8000), 0xAB, 4096);
	fix_wrmsr(0, HV_MSR_SIMP, 0x8001);
	ck_assert_uint_eq(fix_ptr(0x8000)[0], 0);
	ck_assert_uint_eq(fix_ptr(0x8FFF)[0], 0);
	/* Rewriting the same enabled value keeps what is there. */
	fix_ptr(0x8000)[17] = 5;
	fix_wrmsr(0, HV_MSR_SIMP, 0x8001);
	ck_assert_uint_eq(fix_ptr(0x8000)[17], 5);
	/* A page outside RAM cannot be enabled; disabled, it is just stored. */
	ck_assert_int_eq(wr(0, HV_MSR_SIMP, (uint64_t)FIX_RAM_SIZE | 1), -EPERM);
	ck_assert_int_eq(wr(0, HV_MSR_SIEFP, 0xFFFFFFFFFFFFF001ull), -EPERM);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SIMP), 0x8001);
	fix_wrmsr(0, HV_MSR_SIEFP, (uint64_t)FIX_RAM_SIZE);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SIEFP), FIX_RAM_SIZE);
}
END_TEST

START_TEST(sint_vector_rules)
{
	/* What Linux writes for SINT2 with hint bit 9 (facts §1.4). */
	fix_wrmsr(0, HV_MSR_SINT0 + 2, HV_CALLBACK_VECTOR);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SINT0 + 2), HV_CALLBACK_VECTOR);
	/* Unmasked with an exception vector: #GP, value unchanged. */
	ck_assert_int_eq(wr(0, HV_MSR_SINT0 + 2, 15), -EPERM);
	ck_assert_int_eq(wr(0, HV_MSR_SINT15, 0), -EPERM);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SINT0 + 2), HV_CALLBACK_VECTOR);
	/* Masked, any vector is fine; 16 is the first valid one. */
	fix_wrmsr(0, HV_MSR_SINT15, HV_SINT_MASKED | 3);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SINT15), HV_SINT_MASKED | 3);
	fix_wrmsr(0, HV_MSR_SINT0, 16 | HV_SINT_AUTO_EOI | HV_SINT_POLLING);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SINT0), 16 | HV_SINT_AUTO_EOI | HV_SINT_POLLING);
	/* Reserved bits are dropped. */
	fix_wrmsr(0, HV_MSR_SINT0 + 4, 0xFFFF000000000000ull | HV_SINT_MASKED);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SINT0 + 4), HV_SINT_MASKED);
}
END_TEST

START_TEST(time_ref_count_monotonic_100ns)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	uint64_t a, b;

	a = fix_rdmsr(0, HV_MSR_TIME_REF_COUNT);
	nanosleep(&ts, NULL);
	b = fix_rdmsr(1, HV_MSR_TIME_REF_COUNT);
	/* 20 ms = 200000 units of 100 ns. */
	ck_assert_uint_ge(b - a, 200000);
	ck_assert_uint_lt(b - a, 200000 * 50);
	ck_assert_int_eq(wr(0, HV_MSR_TIME_REF_COUNT, 0), -EPERM);
	hv_partition_reset(fix_hv);
	ck_assert_uint_lt(fix_rdmsr(0, HV_MSR_TIME_REF_COUNT), b);
}
END_TEST

START_TEST(frequency_msrs_only_when_advertised)
{
	uint64_t v;

	ck_assert_int_eq(rd(0, HV_MSR_TSC_FREQUENCY, &v), -EPERM);
	ck_assert_int_eq(rd(0, HV_MSR_APIC_FREQUENCY, &v), -EPERM);
	fix_teardown();
	{
		struct hv_config cfg = { .n_vcpus = 1, .tsc_hz = 2500000000ull,
					 .feat = { .frequency_msrs = true } };

		fix_setup_cfg(&cfg);
	}
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_TSC_FREQUENCY), 2500000000ull);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_APIC_FREQUENCY), 1000000000ull);
	ck_assert_int_eq(wr(0, HV_MSR_TSC_FREQUENCY, 1), -EPERM);
	ck_assert_int_eq(wr(0, HV_MSR_APIC_FREQUENCY, 1), -EPERM);
}
END_TEST

START_TEST(other_in_range_read_zero_write_ignored)
{
	static const uint32_t msrs[] = { HV_MSR_REFERENCE_TSC, 0x40000003, 0x40000070,
					 0x400000B0, 0x40000100, 0x400001FF };

	for (size_t i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
		fix_wrmsr(0, msrs[i], 0x1234);
		ck_assert_uint_eq(fix_rdmsr(0, msrs[i]), 0);
	}
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->msr_gp, 0);
}
END_TEST

START_TEST(gp_cases)
{
	uint64_t v = 7;
	uint32_t action;
	uint64_t arg;

	/* Out of range. */
	ck_assert_int_eq(rd(0, 0x3FFFFFFF, &v), -EPERM);
	ck_assert_int_eq(rd(0, 0x40000200, &v), -EPERM);
	ck_assert_int_eq(wr(0, 0x40000200, 0), -EPERM);
	ck_assert_int_eq(rd(0, 0x10, &v), -EPERM);
	/* Unknown VP. */
	ck_assert_int_eq(rd(2, HV_MSR_VP_INDEX, &v), -EPERM);
	ck_assert_int_eq(wr(2, HV_MSR_GUEST_OS_ID, 1), -EPERM);
	ck_assert_int_eq(rd(UINT32_MAX, HV_MSR_SCONTROL, &v), -EPERM);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_GUEST_OS_ID), 0);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->msr_gp, 7);
	/* Unbound: no VP exists. */
	hv_partition_unbind(fix_hv);
	ck_assert_int_eq(rd(0, HV_MSR_VP_INDEX, &v), -EPERM);
	ck_assert_int_eq(hv_msr_write(fix_hv, 0, HV_MSR_SCONTROL, 1, &action, &arg), -EPERM);
	ck_assert_uint_eq(action, ATTACH_ACTION_NONE);
}
END_TEST

START_TEST(reset_restores_power_on)
{
	fix_wrmsr(0, HV_MSR_GUEST_OS_ID, LINUX_GUEST_ID);
	fix_enable_synic(1, 0x8000, 0x9000);
	fix_wrmsr(1, HV_MSR_VP_ASSIST_PAGE, 0xA001);
	hv_partition_reset(fix_hv);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_GUEST_OS_ID), 0);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_SIMP), 0);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_SIEFP), 0);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_SCONTROL), 0);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_VP_ASSIST_PAGE), 0);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_SINT0 + 2), HV_SINT_MASKED);
}
END_TEST

/* ---- CPUID ------------------------------------------------------------- */

/* The entry for `fn`; a missing leaf fails the test (and reads as a
 * poisoned entry so the caller needs no NULL check). */
static const struct attach_cpuid *leaf(const struct attach_cpuid *t, uint32_t n, uint32_t fn)
{
	static const struct attach_cpuid missing = { 0, 0, ~0u, ~0u, ~0u, ~0u };

	for (uint32_t i = 0; i < n; i++)
		if (t[i].function == fn)
			return &t[i];
	ck_abort_msg("leaf %#x missing", fn);
	return &missing;
}

START_TEST(cpuid_leaves_without_frequency)
{
	struct attach_cpuid t[ATTACH_MAX_CPUID];
	uint32_t n = hv_cpuid_fill(fix_hv, t, ATTACH_MAX_CPUID);
	const struct attach_cpuid *l;

	l = leaf(t, n, 0x40000000);
	ck_assert_uint_eq(l->eax, 0x40000005);
	ck_assert_uint_eq(l->ebx, 0x7263694D);
	ck_assert_uint_eq(l->ecx, 0x666F736F);
	ck_assert_uint_eq(l->edx, 0x76482074);
	ck_assert_uint_eq(leaf(t, n, 0x40000001)->eax, 0x31237648);
	ck_assert_uint_eq(leaf(t, n, 0x40000002)->ebx, 0x000A0000);
	l = leaf(t, n, 0x40000003);
	ck_assert_uint_eq(l->eax, 0x8064); /* bits 2, 5, 6, 15 */
	ck_assert_uint_eq(l->ebx, 0x30);
	ck_assert_uint_eq(l->ecx, 0);
	ck_assert_uint_eq(l->edx, 0);
	l = leaf(t, n, 0x40000004);
	ck_assert_uint_eq(l->eax, 0x200);
	ck_assert_uint_eq(l->ebx | l->ecx | l->edx, 0);
	l = leaf(t, n, 0x40000005);
	ck_assert_uint_eq(l->eax, FIX_VCPUS);
	ck_assert_uint_eq(l->ebx, FIX_VCPUS);
	for (uint32_t fn = 0x40000081; fn <= 0x40000082; fn++) {
		l = leaf(t, n, fn);
		ck_assert_uint_eq(l->eax | l->ebx | l->ecx | l->edx, 0);
	}
	/* No KVM signature anywhere (facts §1.1). */
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_uint_ge(t[i].function, 0x40000000);
		ck_assert_uint_le(t[i].function, 0x400000FF);
		ck_assert_uint_ne(t[i].ebx, 0x4B4D564B); /* "KVMK" */
	}
	/* A short table is filled up to its size. */
	ck_assert_uint_eq(hv_cpuid_fill(fix_hv, t, 3), 3);
	ck_assert_uint_eq(t[0].function, 0x40000000);
}
END_TEST

START_TEST(cpuid_leaves_with_frequency)
{
	struct attach_cpuid t[ATTACH_MAX_CPUID];
	struct hv_config cfg = { .n_vcpus = 4, .tsc_hz = 3000000000ull,
				 .feat = { .frequency_msrs = true } };
	const struct attach_cpuid *l;
	uint32_t n;

	fix_teardown();
	fix_setup_cfg(&cfg);
	n = hv_cpuid_fill(fix_hv, t, ATTACH_MAX_CPUID);
	l = leaf(t, n, 0x40000003);
	ck_assert_uint_eq(l->eax, 0x8864); /* the §11 recipe */
	ck_assert_uint_eq(l->ebx, 0x30);
	ck_assert_uint_eq(l->edx, 0x100);
	ck_assert_uint_eq(leaf(t, n, 0x40000005)->eax, 4);
}
END_TEST

static Suite *msr_suite(void)
{
	Suite *s = suite_create("msr");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, fix_setup, fix_teardown);
	tcase_add_test(tc, guest_os_id_is_partition_wide);
	tcase_add_test(tc, hypercall_locked_until_guest_id);
	tcase_add_test(tc, hypercall_disable_relocate_and_lock);
	tcase_add_test(tc, vp_index_read_only);
	tcase_add_test(tc, vp_assist_and_tsc_invariant_accepted);
	tcase_add_test(tc, synic_registers);
	tcase_add_test(tc, synic_page_enable_zeroes_and_checks_ram);
	tcase_add_test(tc, sint_vector_rules);
	tcase_add_test(tc, time_ref_count_monotonic_100ns);
	tcase_add_test(tc, frequency_msrs_only_when_advertised);
	tcase_add_test(tc, other_in_range_read_zero_write_ignored);
	tcase_add_test(tc, gp_cases);
	tcase_add_test(tc, reset_restores_power_on);
	tcase_add_test(tc, cpuid_leaves_without_frequency);
	tcase_add_test(tc, cpuid_leaves_with_frequency);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(msr_suite());
	int failed;

	log_set_level(LOG_ERROR); /* the #GP cases log by design */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
