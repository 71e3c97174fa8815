/* SPDX-License-Identifier: MIT */
/*
 * hv/timer.c: the reference TSC page (math, MSR, CLOCK, reset) and the
 * synthetic timers (one-shot, periodic, message and direct mode, the
 * CONFIG/COUNT rules, the host timer sink).  Time is driven explicitly
 * through hv_stimer_run_at().
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/util.h"
#include "hv_fixture.h"

#define SIMP_GPA 0x10000ull
#define SIEFP_GPA 0x11000ull
#define TSC_PAGE_GPA 0x12000ull
#define STIMER_VECTOR 0xEDu /* Linux HYPERV_STIMER0_VECTOR */

static uint64_t sink_deadline;
static unsigned int sink_calls;

static void sink_arm(void *opaque, uint64_t deadline_ns)
{
	(void)opaque;
	sink_deadline = deadline_ns;
	sink_calls++;
}

static void setup_time(void)
{
	static const struct hv_timer_sink sink = { .arm = sink_arm };
	struct hv_config cfg = {
		.n_vcpus = FIX_VCPUS,
		.tsc_hz = 1000000000ull,
		.feat = { .tsc_page = true, .stimer = true, .stimer_direct = true,
			  .frequency_msrs = true },
	};

	fix_setup_cfg(&cfg);
	hv_partition_set_timer_sink(fix_hv, &sink);
	sink_deadline = UINT64_MAX;
	sink_calls = 0;
}

static int wr(uint32_t vp, uint32_t msr, uint64_t v)
{
	return hv_msr_write(fix_hv, vp, msr, v, NULL, NULL);
}

static const struct hv_message *slot(uint32_t sint)
{
	return (const struct hv_message *)fix_ptr(SIMP_GPA + sint * sizeof(struct hv_message));
}

static void free_slot(uint32_t vp, uint32_t sint)
{
	struct hv_message *m = (struct hv_message *)slot(sint);

	m->header.message_type = HVMSG_NONE;
	fix_wrmsr(vp, HV_MSR_EOM, 0);
}

static const struct attach_cpuid *leaf(const struct attach_cpuid *t, uint32_t n, uint32_t fn)
{
	for (uint32_t i = 0; i < n; i++)
		if (t[i].function == fn)
			return &t[i];
	ck_abort_msg("no leaf %#x", fn);
	return NULL;
}

/* ---- TSC page math ---------------------------------------------------------- */

START_TEST(tsc_page_math)
{
	static const uint64_t rates[] = { 1000000000ull, 2500000000ull, 2893437000ull,
					  3999999999ull, 10000001ull };
	uint64_t scale;
	int64_t offset;

	for (size_t i = 0; i < ARRAY_SIZE(rates); i++) {
		uint64_t hz = rates[i], tsc0 = 0x0003123456789abcull, ref0 = 123456789;

		ck_assert_int_eq(hv_tsc_page_params(hz, tsc0, (int64_t)ref0, &scale, &offset), 0);
		/* At the sample: the sample's time, to the 100 ns tick. */
		ck_assert_uint_le(llabs((long long)(hv_tsc_page_ref(scale, offset, tsc0) - ref0)), 1);
		/* One second of TSC later: 10^7 ticks later. */
		ck_assert_uint_le(llabs((long long)(hv_tsc_page_ref(scale, offset, tsc0 + hz) -
						   (ref0 + HV_REF_HZ))), 1);
		/* An hour later, still within a tick per ~10^9 (the scale's
		 * precision is 2^-64 per TSC tick). */
		ck_assert_uint_le(llabs((long long)(hv_tsc_page_ref(scale, offset, tsc0 + 3600 * hz) -
						   (ref0 + 3600 * HV_REF_HZ))), 2);
	}
	/* A negative offset (sample taken before the partition's time base). */
	ck_assert_int_eq(hv_tsc_page_params(1000000000ull, 5000000000ull, -10, &scale, &offset), 0);
	ck_assert_uint_eq(hv_tsc_page_ref(scale, offset, 5000000000ull + 1000), 0);
	ck_assert_int_eq(hv_tsc_page_params(HV_REF_HZ, 0, 0, &scale, &offset), -EINVAL);
	ck_assert_int_eq(hv_tsc_page_params(0, 0, 0, &scale, &offset), -EINVAL);
}
END_TEST

/* ---- CPUID ------------------------------------------------------------------ */

START_TEST(cpuid_time_features)
{
	struct attach_cpuid t[ATTACH_MAX_CPUID];
	uint32_t n = hv_cpuid_fill(fix_hv, t, ATTACH_MAX_CPUID);
	const struct attach_cpuid *l = leaf(t, n, HV_CPUID_FEATURES);

	ck_assert_uint_eq(l->eax & HV_FEAT_REFERENCE_TSC, HV_FEAT_REFERENCE_TSC);
	ck_assert_uint_eq(l->eax & HV_FEAT_TIME_REF_COUNT, HV_FEAT_TIME_REF_COUNT);
	ck_assert_uint_eq(l->eax & HV_FEAT_SYNTIMER, HV_FEAT_SYNTIMER);
	ck_assert_uint_eq(l->eax & HV_FEAT_FREQUENCY_MSRS, HV_FEAT_FREQUENCY_MSRS);
	/* With the page, not TSC_INVARIANT: Linux would prefer "tsc". */
	ck_assert_uint_eq(l->eax & HV_FEAT_TSC_INVARIANT, 0);
	ck_assert_uint_eq(l->edx, HV_FEAT_FREQ_MSRS_AVAIL | HV_FEAT_STIMER_DIRECT);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_TSC_FREQUENCY), 1000000000ull);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_APIC_FREQUENCY), 1000000000ull);

	/* An unknown TSC rate: no page, no frequency MSRs, TSC_INVARIANT. */
	fix_teardown();
	{
		struct hv_config cfg = { .n_vcpus = 1, .feat = { .tsc_page = true,
								 .frequency_msrs = true } };
		uint64_t v;

		fix_setup_cfg(&cfg);
		n = hv_cpuid_fill(fix_hv, t, ATTACH_MAX_CPUID);
		l = leaf(t, n, HV_CPUID_FEATURES);
		ck_assert_uint_eq(l->eax & (HV_FEAT_REFERENCE_TSC | HV_FEAT_FREQUENCY_MSRS |
					    HV_FEAT_SYNTIMER | HV_FEAT_TIME_REF_COUNT), 0);
		ck_assert_uint_eq(l->eax & HV_FEAT_TSC_INVARIANT, HV_FEAT_TSC_INVARIANT);
		ck_assert_uint_eq(l->edx, 0);
		ck_assert_int_eq(hv_msr_read(fix_hv, 0, HV_MSR_TSC_FREQUENCY, &v), -EPERM);
	}
}
END_TEST

/* ---- the TSC page in guest memory --------------------------------------------- */

/* The page's time now lies between two MSR-time readings around it. */
#define ASSERT_PAGE_NOW(tsc_of_now)                                              \
	do {                                                                     \
		uint64_t r0_ = hv_time_ref_count(fix_hv);                       \
		uint64_t p_ = page_ref(tsc_of_now);                              \
		uint64_t r1_ = hv_time_ref_count(fix_hv);                       \
		ck_assert_uint_ge(p_ + 1, r0_);                                  \
		ck_assert_uint_le(p_, r1_ + 1);                                  \
	} while (0)

static uint64_t page_ref(uint64_t tsc)
{
	const struct hv_reference_tsc_page *pg = (const void *)fix_ptr(TSC_PAGE_GPA);

	ck_assert_uint_ne(pg->tsc_sequence, 0);
	return hv_tsc_page_ref(pg->tsc_scale, pg->tsc_offset, tsc);
}

START_TEST(tsc_page_follows_clock_and_reset)
{
	const struct hv_reference_tsc_page *pg = (const void *)fix_ptr(TSC_PAGE_GPA);
	uint64_t now, seq;

	memset(fix_ptr(TSC_PAGE_GPA), 0xAA, HV_PAGE_SIZE);
	/* No CLOCK yet: sequence 0, the guest reads the MSR. */
	fix_wrmsr(0, HV_MSR_REFERENCE_TSC, TSC_PAGE_GPA | 1);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_REFERENCE_TSC), TSC_PAGE_GPA | 1);
	ck_assert_uint_eq(pg->tsc_sequence, 0);

	/* The guest TSC is CLOCK_MONOTONIC ns + 12345 (1 GHz). */
	now = now_ns();
	hv_partition_clock(fix_hv, now + 12345, now);
	seq = pg->tsc_sequence;
	ck_assert_uint_ne(seq, 0);
	ASSERT_PAGE_NOW(now_ns() + 12345);

	/* A new sample (the VM was stopped for a while): a new sequence. */
	hv_partition_clock(fix_hv, now, now);
	ck_assert_uint_ne(pg->tsc_sequence, seq);
	ck_assert_uint_ne(pg->tsc_sequence, 0);
	ASSERT_PAGE_NOW(now_ns());

	/* Reset: the MSR goes back to 0; the rebooted guest's page maps its
	 * (still running) TSC onto the new time base, which starts at 0. */
	hv_partition_reset(fix_hv);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_REFERENCE_TSC), 0);
	fix_wrmsr(0, HV_MSR_REFERENCE_TSC, TSC_PAGE_GPA | 1);
	ASSERT_PAGE_NOW(now_ns());
	ck_assert_uint_lt(page_ref(now_ns()), 100000000); /* < 10 s since reset */

	/* Disabling leaves the page alone; outside RAM is #GP. */
	fix_wrmsr(0, HV_MSR_REFERENCE_TSC, TSC_PAGE_GPA);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_REFERENCE_TSC), TSC_PAGE_GPA);
	ck_assert_int_eq(wr(0, HV_MSR_REFERENCE_TSC, (FIX_RAM_SIZE + 0x1000) | 1), -EPERM);
}
END_TEST

/* ---- synthetic timers ----------------------------------------------------------- */

#define CFG_MSG(sint) (HV_STIMER_ENABLE | HV_STIMER_AUTO_ENABLE | ((uint64_t)(sint) << 16))
#define CFG_DIRECT(vec) (HV_STIMER_ENABLE | HV_STIMER_AUTO_ENABLE | HV_STIMER_DIRECT_MODE | \
			 ((uint64_t)(vec) << 4))

START_TEST(stimer_one_shot_message)
{
	const struct hv_message *m = slot(VMBUS_MESSAGE_SINT);
	struct hv_timer_message_payload p;
	uint64_t now = hv_time_ref_count(fix_hv), due = now + 100000000; /* 10 s */

	fix_enable_synic(0, SIMP_GPA, SIEFP_GPA);
	/* What Linux's hv_ce_set_oneshot() + set_next_event() write. */
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG, CFG_MSG(VMBUS_MESSAGE_SINT));
	ck_assert_uint_eq(sink_deadline, UINT64_MAX); /* COUNT 0: nothing due */
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG + 1, due);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_STIMER0_CONFIG + 1), due);
	/* The host is asked for the due time in CLOCK_MONOTONIC ns. */
	ck_assert_uint_gt(sink_deadline, now_ns());
	ck_assert_uint_le(sink_deadline, now_ns() + 10000000000ull);

	hv_stimer_run_at(fix_hv, due - 1);
	ck_assert_uint_eq(m->header.message_type, HVMSG_NONE);
	ck_assert_uint_eq(fix_n_irqs, 0);
	hv_stimer_run_at(fix_hv, due + 7);
	ck_assert_uint_eq(m->header.message_type, HVMSG_TIMER_EXPIRED);
	ck_assert_uint_eq(m->header.payload_size, sizeof(p));
	memcpy(&p, m->payload, sizeof(p));
	ck_assert_uint_eq(p.timer_index, 0);
	ck_assert_uint_eq(p.expiration_time, due);
	ck_assert_uint_eq(p.delivery_time, due + 7);
	ck_assert_uint_eq(fix_n_irqs, 1);
	ck_assert_uint_eq(fix_irqs[0].vector, HV_CALLBACK_VECTOR);
	/* One-shot: ENABLE cleared, nothing due any more. */
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_STIMER0_CONFIG) & HV_STIMER_ENABLE, 0);
	ck_assert_uint_eq(sink_deadline, UINT64_MAX);
	hv_stimer_run_at(fix_hv, due + 100000);
	ck_assert_uint_eq(fix_n_irqs, 1);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->stimer_expired, 1);

	/* AUTO_ENABLE: the next COUNT re-enables it; in the past: at once. */
	free_slot(0, VMBUS_MESSAGE_SINT);
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG + 1, 1);
	ck_assert_uint_eq(m->header.message_type, HVMSG_TIMER_EXPIRED);
	ck_assert_uint_eq(fix_n_irqs, 2);
}
END_TEST

START_TEST(stimer_periodic_message)
{
	const struct hv_message *m = slot(3);
	struct hv_timer_message_payload p;
	uint64_t t0;

	fix_enable_synic(1, SIMP_GPA, SIEFP_GPA);
	fix_wrmsr(1, HV_MSR_SINT0 + 3, 0x40);
	/* COUNT first (no AUTO_ENABLE: stays off), then CONFIG starts it. */
	fix_wrmsr(1, HV_MSR_STIMER0_CONFIG + 2 * 2 + 1, 5000); /* stimer2, 500 us */
	ck_assert_uint_eq(sink_deadline, UINT64_MAX);
	t0 = hv_time_ref_count(fix_hv);
	fix_wrmsr(1, HV_MSR_STIMER0_CONFIG + 2 * 2,
		  HV_STIMER_ENABLE | HV_STIMER_PERIODIC | (3ull << 16));
	t0 = (hv_time_ref_count(fix_hv) + t0) / 2;
	ck_assert_uint_ne(sink_deadline, UINT64_MAX);

	hv_stimer_run_at(fix_hv, t0 + 5000 + 10);
	ck_assert_uint_eq(m->header.message_type, HVMSG_TIMER_EXPIRED);
	memcpy(&p, m->payload, sizeof(p));
	ck_assert_uint_eq(p.timer_index, 2);
	ck_assert_uint_le(llabs((long long)(p.expiration_time - (t0 + 5000))), 1000);
	t0 = p.expiration_time - 5000; /* exactly, from here on */
	ck_assert_uint_eq(fix_irqs[0].vp, 1);
	ck_assert_uint_eq(fix_irqs[0].vector, 0x40);
	/* Still enabled.  The slot is busy: the next period waits for the
	 * EOM, and the one after that is skipped rather than queued too. */
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_STIMER0_CONFIG + 4) & HV_STIMER_ENABLE,
			  HV_STIMER_ENABLE);
	hv_stimer_run_at(fix_hv, t0 + 10000 + 10);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->stimer_expired, 2);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->stimer_missed, 0);
	hv_stimer_run_at(fix_hv, t0 + 15000 + 10);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->stimer_missed, 1);
	free_slot(1, 3);
	/* EOM delivered the queued expiration. */
	ck_assert_uint_eq(m->header.message_type, HVMSG_TIMER_EXPIRED);
	free_slot(1, 3);
	/* A long stall: one expiration, the next one on the period grid. */
	hv_stimer_run_at(fix_hv, t0 + 52000);
	ck_assert_uint_eq(m->header.message_type, HVMSG_TIMER_EXPIRED);
	memcpy(&p, m->payload, sizeof(p));
	ck_assert_uint_eq(p.expiration_time, t0 + 20000);
	free_slot(1, 3);
	hv_stimer_run_at(fix_hv, t0 + 54999);
	ck_assert_uint_eq(m->header.message_type, HVMSG_NONE);
	hv_stimer_run_at(fix_hv, t0 + 55000);
	ck_assert_uint_eq(m->header.message_type, HVMSG_TIMER_EXPIRED);

	/* COUNT 0 disables. */
	fix_wrmsr(1, HV_MSR_STIMER0_CONFIG + 5, 0);
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_STIMER0_CONFIG + 4) & HV_STIMER_ENABLE, 0);
	ck_assert_uint_eq(sink_deadline, UINT64_MAX);
}
END_TEST

START_TEST(stimer_direct_mode)
{
	uint64_t now = hv_time_ref_count(fix_hv);

	/* No SynIC needed: the vector goes straight to the VP's APIC. */
	fix_wrmsr(1, HV_MSR_STIMER0_CONFIG, CFG_DIRECT(STIMER_VECTOR));
	fix_wrmsr(1, HV_MSR_STIMER0_CONFIG + 1, now + 50000000);
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG, CFG_DIRECT(STIMER_VECTOR));
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG + 1, now + 80000000);
	hv_stimer_run_at(fix_hv, now + 60000000);
	ck_assert_uint_eq(fix_n_irqs, 1);
	ck_assert_uint_eq(fix_irqs[0].vp, 1);
	ck_assert_uint_eq(fix_irqs[0].vector, STIMER_VECTOR);
	/* The sink now waits for VP 0's timer. */
	ck_assert_uint_ne(sink_deadline, UINT64_MAX);
	hv_stimer_run_at(fix_hv, now + 80000000);
	ck_assert_uint_eq(fix_n_irqs, 2);
	ck_assert_uint_eq(fix_irqs[1].vp, 0);
	ck_assert_uint_eq(sink_deadline, UINT64_MAX);
	/* A vector below 16 is never raised. */
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG + 1, 0);
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG, CFG_DIRECT(3));
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG + 1, 1);
	ck_assert_uint_eq(fix_n_irqs, 2);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->stimer_missed, 1);
}
END_TEST

START_TEST(stimer_config_rules)
{
	/* Message mode with SINTx 0 cannot be enabled. */
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG + 6, HV_STIMER_ENABLE);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_STIMER0_CONFIG + 6) & HV_STIMER_ENABLE, 0);
	/* Reserved bits are dropped. */
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG + 6, CFG_MSG(2) | (1ull << 40) | (1ull << 13));
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_STIMER0_CONFIG + 6), CFG_MSG(2));
	/* Each VP has its own four. */
	ck_assert_uint_eq(fix_rdmsr(1, HV_MSR_STIMER0_CONFIG + 6), 0);
	/* Reset: everything off, the host's timer cancelled. */
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG + 7, hv_time_ref_count(fix_hv) + 1000000);
	ck_assert_uint_ne(sink_deadline, UINT64_MAX);
	hv_partition_reset(fix_hv);
	ck_assert_uint_eq(sink_deadline, UINT64_MAX);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_STIMER0_CONFIG + 6), 0);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_STIMER0_CONFIG + 7), 0);
}
END_TEST

START_TEST(stimer_direct_mode_needs_the_feature)
{
	struct hv_config cfg = { .n_vcpus = 1, .tsc_hz = 1000000000ull, .feat = { .stimer = true } };
	struct attach_cpuid t[ATTACH_MAX_CPUID];
	uint32_t n;

	fix_teardown();
	fix_setup_cfg(&cfg);
	n = hv_cpuid_fill(fix_hv, t, ATTACH_MAX_CPUID);
	ck_assert_uint_eq(leaf(t, n, HV_CPUID_FEATURES)->edx & HV_FEAT_STIMER_DIRECT, 0);
	ck_assert_int_eq(wr(0, HV_MSR_STIMER0_CONFIG, CFG_DIRECT(STIMER_VECTOR)), -EPERM);
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG, CFG_MSG(2));
}
END_TEST

START_TEST(stimer_off_reads_zero)
{
	struct hv_config cfg = { .n_vcpus = 1 };

	fix_teardown();
	fix_setup_cfg(&cfg);
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG, CFG_MSG(2));
	fix_wrmsr(0, HV_MSR_STIMER0_CONFIG + 1, 1);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_STIMER0_CONFIG), 0);
	ck_assert_uint_eq(fix_n_irqs, 0);
}
END_TEST

static Suite *timer_suite(void)
{
	Suite *s = suite_create("timer");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup_time, fix_teardown);
	tcase_add_test(tc, tsc_page_math);
	tcase_add_test(tc, cpuid_time_features);
	tcase_add_test(tc, tsc_page_follows_clock_and_reset);
	tcase_add_test(tc, stimer_one_shot_message);
	tcase_add_test(tc, stimer_periodic_message);
	tcase_add_test(tc, stimer_direct_mode);
	tcase_add_test(tc, stimer_config_rules);
	tcase_add_test(tc, stimer_direct_mode_needs_the_feature);
	tcase_add_test(tc, stimer_off_reads_zero);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(timer_suite());
	int failed;

	(void)fix_setup; /* the fixture's default; these tests use setup_time() */
	log_set_level(LOG_ERROR);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
