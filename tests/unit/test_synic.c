/* SPDX-License-Identifier: MIT */
/* SynIC host side: the message-slot protocol and event flags (facts §3). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "hv_fixture.h"

#define SIMP0 0x10000ull
#define SIEF0 0x11000ull
#define SIMP1 0x12000ull
#define SIEF1 0x13000ull
#define SINT2 VMBUS_MESSAGE_SINT

static uint8_t *slot(uint64_t simp, uint32_t sint)
{
	return fix_ptr(simp + sint * 256u);
}

static uint32_t slot_type(uint64_t simp, uint32_t sint)
{
	return __atomic_load_n((uint32_t *)(void *)slot(simp, sint), __ATOMIC_ACQUIRE);
}

static uint8_t slot_flags(uint64_t simp, uint32_t sint)
{
	return slot(simp, sint)[5];
}

/* What vmbus_signal_eom() does: free the slot, EOM if msg_pending. */
static void guest_free_slot(uint32_t vp, uint64_t simp, uint32_t sint)
{
	uint32_t *type = (uint32_t *)(void *)slot(simp, sint);
	uint32_t old = __atomic_load_n(type, __ATOMIC_ACQUIRE);

	ck_assert(__atomic_compare_exchange_n(type, &old, 0, false, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	if (slot_flags(simp, sint) & HV_MSG_FLAG_PENDING)
		fix_wrmsr(vp, HV_MSR_EOM, 0);
}

static int post_seq(uint32_t vp, uint32_t seq, uint32_t size)
{
	uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];

	memset(payload, (int)(seq & 0xFF), sizeof(payload));
	memcpy(payload, &seq, sizeof(seq));
	return synic_post_message(fix_hv, vp, SINT2, HVMSG_VMBUS, payload, size);
}

static uint32_t slot_seq(uint64_t simp)
{
	uint32_t seq;

	memcpy(&seq, slot(simp, SINT2) + 16, sizeof(seq));
	return seq;
}

static void setup(void)
{
	fix_setup();
	fix_enable_synic(0, SIMP0, SIEF0);
	fix_enable_synic(1, SIMP1, SIEF1);
}

START_TEST(empty_slot_delivery)
{
	static const char msg[] = "hello, guest";

	ck_assert(synic_sint_ready(fix_hv, 0, SINT2));
	ck_assert_int_eq(synic_post_message(fix_hv, 0, SINT2, HVMSG_VMBUS, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(slot_type(SIMP0, SINT2), HVMSG_VMBUS);
	ck_assert_uint_eq(slot(SIMP0, SINT2)[4], sizeof(msg));
	ck_assert_uint_eq(slot_flags(SIMP0, SINT2), 0);
	ck_assert_mem_eq(slot(SIMP0, SINT2) + 16, msg, sizeof(msg));
	ck_assert_uint_eq(synic_queued(fix_hv, 0, SINT2), 0);
	ck_assert_uint_eq(fix_n_irqs, 1);
	ck_assert_uint_eq(fix_irqs[0].vp, 0);
	ck_assert_uint_eq(fix_irqs[0].vector, HV_CALLBACK_VECTOR);
	/* The other VP's page is untouched. */
	ck_assert_uint_eq(slot_type(SIMP1, SINT2), 0);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->synic_delivered, 1);
}
END_TEST

START_TEST(delivery_to_second_vp_uses_its_page_and_vector)
{
	fix_wrmsr(1, HV_MSR_SINT0 + SINT2, 0x40);
	ck_assert_int_eq(post_seq(1, 7, 4), 0);
	ck_assert_uint_eq(slot_type(SIMP1, SINT2), HVMSG_VMBUS);
	ck_assert_uint_eq(slot_seq(SIMP1), 7);
	ck_assert_uint_eq(slot_type(SIMP0, SINT2), 0);
	ck_assert_uint_eq(fix_n_irqs, 1);
	ck_assert_uint_eq(fix_irqs[0].vp, 1);
	ck_assert_uint_eq(fix_irqs[0].vector, 0x40);
}
END_TEST

/* The slot's type is the publication point: a "guest" thread that sees a
 * non-zero type must always see the whole payload.  This runs the real
 * protocol against a concurrent consumer, EOMs included, and also shows
 * that no message gets stuck when the guest frees a slot while the host
 * is marking it msg_pending (the re-check of facts §3.4). */
#define STRESS_MSGS 20000u
static uint32_t stress_received;
static uint32_t stress_eom_requested;
static uint32_t stress_bad;

static void *stress_guest(void *arg)
{
	uint8_t *s = arg;
	uint32_t *type = (uint32_t *)(void *)s;

	for (uint32_t expect = 0; expect < STRESS_MSGS; expect++) {
		uint8_t copy[256];
		uint32_t t, seq;
		uint64_t t0 = now_ns();

		while ((t = __atomic_load_n(type, __ATOMIC_ACQUIRE)) == 0) {
			if (now_ns() - t0 > 10000000000ull) {
				__atomic_store_n(&stress_bad, 1000u, __ATOMIC_RELAXED);
				return NULL;
			}
		}
		memcpy(copy, s, sizeof(copy));
		memcpy(&seq, copy + 16, sizeof(seq));
		if (seq != expect || copy[4] != 64 || copy[16 + 63] != (uint8_t)(seq & 0xFF))
			__atomic_fetch_add(&stress_bad, 1, __ATOMIC_RELAXED);
		/* vmbus_signal_eom(): cmpxchg, then read msg_pending. */
		if (!__atomic_compare_exchange_n(type, &t, 0, false, __ATOMIC_SEQ_CST,
						 __ATOMIC_SEQ_CST))
			__atomic_fetch_add(&stress_bad, 1, __ATOMIC_RELAXED);
		if (__atomic_load_n(s + 5, __ATOMIC_SEQ_CST) & HV_MSG_FLAG_PENDING)
			__atomic_store_n(&stress_eom_requested, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&stress_received, expect + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

START_TEST(concurrent_guest_sees_whole_messages_in_order)
{
	pthread_t th;
	uint32_t sent = 0;
	uint64_t t0 = now_ns();

	ck_assert_int_eq(pthread_create(&th, NULL, stress_guest, slot(SIMP0, SINT2)), 0);
	while (__atomic_load_n(&stress_received, __ATOMIC_ACQUIRE) < STRESS_MSGS &&
	       __atomic_load_n(&stress_bad, __ATOMIC_RELAXED) < 1000u &&
	       now_ns() - t0 < 20000000000ull) {
		if (sent < STRESS_MSGS && post_seq(0, sent, 64) == 0)
			sent++;
		/* The guest's WRMSR(EOM), forwarded to the loop thread. */
		if (__atomic_exchange_n(&stress_eom_requested, 0, __ATOMIC_SEQ_CST))
			fix_wrmsr(0, HV_MSR_EOM, 0);
	}
	pthread_join(th, NULL);
	ck_assert_uint_eq(stress_bad, 0);
	ck_assert_uint_eq(stress_received, STRESS_MSGS);
	ck_assert_uint_eq(synic_queued(fix_hv, 0, SINT2), 0);
}
END_TEST

START_TEST(busy_slot_sets_pending_and_queues)
{
	ck_assert_int_eq(post_seq(0, 1, 8), 0);
	ck_assert_int_eq(post_seq(0, 2, 8), 0);
	/* The first stays, marked msg_pending; the second waits. */
	ck_assert_uint_eq(slot_seq(SIMP0), 1);
	ck_assert_uint_eq(slot_flags(SIMP0, SINT2), HV_MSG_FLAG_PENDING);
	ck_assert_uint_eq(synic_queued(fix_hv, 0, SINT2), 1);
	ck_assert_uint_eq(fix_n_irqs, 1);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->synic_queued, 1);

	guest_free_slot(0, SIMP0, SINT2);
	ck_assert_uint_eq(slot_type(SIMP0, SINT2), HVMSG_VMBUS);
	ck_assert_uint_eq(slot_seq(SIMP0), 2);
	ck_assert_uint_eq(slot_flags(SIMP0, SINT2), 0);
	ck_assert_uint_eq(synic_queued(fix_hv, 0, SINT2), 0);
	ck_assert_uint_eq(fix_n_irqs, 2);
}
END_TEST

START_TEST(eom_redelivers_in_order)
{
	for (uint32_t i = 0; i < 6; i++)
		ck_assert_int_eq(post_seq(0, i, 32), 0);
	ck_assert_uint_eq(synic_queued(fix_hv, 0, SINT2), 5);
	for (uint32_t i = 0; i < 6; i++) {
		ck_assert_uint_eq(slot_type(SIMP0, SINT2), HVMSG_VMBUS);
		ck_assert_uint_eq(slot_seq(SIMP0), i);
		/* Every message but the last says more are waiting. */
		ck_assert_uint_eq(slot_flags(SIMP0, SINT2), i < 5 ? HV_MSG_FLAG_PENDING : 0);
		guest_free_slot(0, SIMP0, SINT2);
	}
	ck_assert_uint_eq(slot_type(SIMP0, SINT2), 0);
	ck_assert_uint_eq(synic_queued(fix_hv, 0, SINT2), 0);
	ck_assert_uint_eq(fix_n_irqs, 6);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->synic_eoms, 5);
}
END_TEST

START_TEST(new_message_never_overtakes_queued_ones)
{
	ck_assert_int_eq(post_seq(0, 0, 8), 0);
	ck_assert_int_eq(post_seq(0, 1, 8), 0);
	/* The guest frees the slot but (wrongly) sends no EOM; the next post
	 * must still go behind message 1, and pushes it out. */
	__atomic_store_n((uint32_t *)(void *)slot(SIMP0, SINT2), 0, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(post_seq(0, 2, 8), 0);
	ck_assert_uint_eq(slot_seq(SIMP0), 1);
	ck_assert_uint_eq(synic_queued(fix_hv, 0, SINT2), 1);
	guest_free_slot(0, SIMP0, SINT2);
	ck_assert_uint_eq(slot_seq(SIMP0), 2);
}
END_TEST

START_TEST(spurious_eom_is_harmless)
{
	fix_wrmsr(0, HV_MSR_EOM, 0);
	ck_assert_uint_eq(fix_n_irqs, 0);
	ck_assert_int_eq(post_seq(0, 1, 8), 0);
	ck_assert_int_eq(post_seq(0, 2, 8), 0);
	/* EOM while the slot is still occupied: nothing moves. */
	fix_wrmsr(0, HV_MSR_EOM, 0);
	ck_assert_uint_eq(slot_seq(SIMP0), 1);
	ck_assert_uint_eq(synic_queued(fix_hv, 0, SINT2), 1);
	ck_assert_uint_eq(fix_n_irqs, 1);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_EOM), 0);
}
END_TEST

START_TEST(queue_is_bounded)
{
	ck_assert_int_eq(post_seq(0, 0, 0), 0);
	for (uint32_t i = 0; i < 1024; i++)
		ck_assert_int_eq(post_seq(0, i + 1, 0), 0);
	ck_assert_uint_eq(synic_queued(fix_hv, 0, SINT2), 1024);
	ck_assert_int_eq(post_seq(0, 9999, 0), -ENOSPC);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->synic_queue_full, 1);
	/* Other SINTs and VPs have their own queues. */
	ck_assert_int_eq(post_seq(1, 0, 0), 0);
	guest_free_slot(0, SIMP0, SINT2);
	ck_assert_int_eq(post_seq(0, 1025, 0), 0);
}
END_TEST

START_TEST(not_enabled_is_enodev)
{
	fix_wrmsr(0, HV_MSR_SCONTROL, 0);
	ck_assert(!synic_sint_ready(fix_hv, 0, SINT2));
	ck_assert_int_eq(post_seq(0, 1, 8), -ENODEV);
	ck_assert_int_eq(synic_signal_event(fix_hv, 0, SINT2, 3), -ENODEV);
	fix_wrmsr(0, HV_MSR_SCONTROL, 1);
	fix_wrmsr(0, HV_MSR_SIMP, SIMP0);
	ck_assert_int_eq(post_seq(0, 1, 8), -ENODEV);
	fix_wrmsr(0, HV_MSR_SIEFP, SIEF0);
	ck_assert_int_eq(synic_signal_event(fix_hv, 0, SINT2, 3), -ENODEV);
	ck_assert_uint_eq(fix_n_irqs, 0);
	ck_assert_uint_eq(slot_type(SIMP0, SINT2), 0);
}
END_TEST

START_TEST(bad_arguments_are_einval)
{
	uint8_t big[HV_MESSAGE_PAYLOAD_MAX + 1] = { 0 };

	ck_assert_int_eq(synic_post_message(fix_hv, 2, SINT2, 1, big, 8), -EINVAL);
	ck_assert_int_eq(synic_post_message(fix_hv, 0, 16, 1, big, 8), -EINVAL);
	ck_assert_int_eq(synic_post_message(fix_hv, 0, SINT2, 1, big, sizeof(big)), -EINVAL);
	ck_assert_int_eq(synic_post_message(fix_hv, 0, SINT2, HVMSG_NONE, big, 8), -EINVAL);
	ck_assert_int_eq(synic_signal_event(fix_hv, 0, SINT2, HV_EVENT_FLAGS_COUNT), -EINVAL);
	ck_assert_int_eq(synic_signal_event(fix_hv, 5, SINT2, 1), -EINVAL);
	ck_assert_int_eq(synic_signal_event(fix_hv, 0, 16, 1), -EINVAL);
	ck_assert_uint_eq(fix_n_irqs, 0);
}
END_TEST

START_TEST(event_flags_interrupt_only_on_set)
{
	uint8_t *flags = fix_ptr(SIEF0 + SINT2 * 256u);

	ck_assert_int_eq(synic_signal_event(fix_hv, 0, SINT2, 5), 0);
	ck_assert_uint_eq(flags[0], 1u << 5);
	ck_assert_uint_eq(fix_n_irqs, 1);
	ck_assert_uint_eq(fix_irqs[0].vector, HV_CALLBACK_VECTOR);
	/* Already set: the guest has not scanned yet, no second interrupt. */
	ck_assert_int_eq(synic_signal_event(fix_hv, 0, SINT2, 5), 0);
	ck_assert_uint_eq(fix_n_irqs, 1);
	/* The guest's sync_test_and_clear_bit(), then a new event. */
	__atomic_fetch_and((uint64_t *)(void *)flags, ~(1ull << 5), __ATOMIC_SEQ_CST);
	ck_assert_int_eq(synic_signal_event(fix_hv, 0, SINT2, 5), 0);
	ck_assert_uint_eq(fix_n_irqs, 2);
	/* The last flag of the area: byte 255, bit 7; nothing outside it. */
	ck_assert_int_eq(synic_signal_event(fix_hv, 0, SINT2, 2047), 0);
	ck_assert_uint_eq(flags[255], 0x80);
	ck_assert_uint_eq(fix_ptr(SIEF0 + 3 * 256u)[0], 0);
	ck_assert_uint_eq(fix_ptr(SIEF0 + 1 * 256u)[255], 0);
	/* Another VP's page. */
	ck_assert_int_eq(synic_signal_event(fix_hv, 1, SINT2, 9), 0);
	ck_assert_uint_eq(fix_ptr(SIEF1 + SINT2 * 256u)[1], 1u << 1);
	ck_assert_uint_eq(fix_irqs[3].vp, 1);
}
END_TEST

START_TEST(masked_or_polling_sint_gets_no_interrupt)
{
	fix_wrmsr(0, HV_MSR_SINT0 + SINT2, HV_SINT_MASKED | HV_CALLBACK_VECTOR);
	ck_assert(!synic_sint_ready(fix_hv, 0, SINT2));
	ck_assert_int_eq(synic_signal_event(fix_hv, 0, SINT2, 4), 0);
	ck_assert_uint_eq(fix_ptr(SIEF0 + SINT2 * 256u)[0], 1u << 4);
	ck_assert_int_eq(post_seq(0, 1, 8), 0);
	ck_assert_uint_eq(slot_seq(SIMP0), 1);
	ck_assert_uint_eq(fix_n_irqs, 0);

	fix_wrmsr(0, HV_MSR_SINT0 + 3, HV_SINT_POLLING | 0x50);
	ck_assert_int_eq(synic_signal_event(fix_hv, 0, 3, 1), 0);
	ck_assert_int_eq(synic_post_message(fix_hv, 0, 3, 1, "x", 1), 0);
	ck_assert_uint_eq(fix_n_irqs, 0);
}
END_TEST

START_TEST(reset_drops_queues_and_disables)
{
	ck_assert_int_eq(post_seq(0, 1, 8), 0);
	ck_assert_int_eq(post_seq(0, 2, 8), 0);
	ck_assert_uint_eq(synic_queued(fix_hv, 0, SINT2), 1);
	hv_partition_reset(fix_hv);
	ck_assert_uint_eq(synic_queued(fix_hv, 0, SINT2), 0);
	ck_assert(!synic_sint_ready(fix_hv, 0, SINT2));
	ck_assert_int_eq(post_seq(0, 3, 8), -ENODEV);
	ck_assert_uint_eq(fix_rdmsr(0, HV_MSR_SINT0 + SINT2), HV_SINT_MASKED);
	/* Re-enabling zeroes the page: the stale message is gone. */
	fix_enable_synic(0, SIMP0, SIEF0);
	ck_assert_uint_eq(slot_type(SIMP0, SINT2), 0);
	ck_assert_int_eq(post_seq(0, 4, 8), 0);
	ck_assert_uint_eq(slot_seq(SIMP0), 4);
}
END_TEST

START_TEST(unbound_partition_refuses)
{
	hv_partition_unbind(fix_hv);
	ck_assert(!hv_partition_bound(fix_hv));
	ck_assert_int_eq(post_seq(0, 1, 8), -ENODEV);
	ck_assert_int_eq(synic_signal_event(fix_hv, 0, SINT2, 1), -ENODEV);
	ck_assert(!synic_sint_ready(fix_hv, 0, SINT2));
	ck_assert_uint_eq(synic_queued(fix_hv, 0, SINT2), 0);
}
END_TEST

static Suite *synic_suite(void)
{
	Suite *s = suite_create("synic");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, fix_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, empty_slot_delivery);
	tcase_add_test(tc, delivery_to_second_vp_uses_its_page_and_vector);
	tcase_add_test(tc, concurrent_guest_sees_whole_messages_in_order);
	tcase_add_test(tc, busy_slot_sets_pending_and_queues);
	tcase_add_test(tc, eom_redelivers_in_order);
	tcase_add_test(tc, new_message_never_overtakes_queued_ones);
	tcase_add_test(tc, spurious_eom_is_harmless);
	tcase_add_test(tc, queue_is_bounded);
	tcase_add_test(tc, not_enabled_is_enodev);
	tcase_add_test(tc, bad_arguments_are_einval);
	tcase_add_test(tc, event_flags_interrupt_only_on_set);
	tcase_add_test(tc, masked_or_polling_sint_gets_no_interrupt);
	tcase_add_test(tc, reset_drops_queues_and_disables);
	tcase_add_test(tc, unbound_partition_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(synic_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
