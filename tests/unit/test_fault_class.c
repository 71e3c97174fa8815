/* SPDX-License-Identifier: MIT */
/* The fault catalogue and the arming rules (core/fault_class.c). */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "core/fault_class.h"

static struct fault_spec spec(const char *cls, const char *dev)
{
	struct fault_spec s = { .cls = (enum fault_class)fault_class_find(cls) };

	strcpy(s.device, dev);
	s.channel = FAULT_ANY_CHANNEL;
	s.count = 1;
	return s;
}

START_TEST(catalogue_is_the_issue_table)
{
	static const char *const names[] = {
		"msg.type_out_of_range", "msg.oversize", "msg.undersize", "msg.offer_bad_relid",
		"msg.offer_duplicate_relid", "msg.gpadl_created_unknown", "msg.open_result_unknown",
		"ring.len_below_16", "ring.len_beyond_avail", "ring.offset_beyond_len",
		"ring.write_index_beyond", "ring.pending_send_sz_beyond", "storvsc.completion_short",
		"storvsc.unknown_request_id", "storvsc.srb_error", "storvsc.busy",
		"netvsc.recv_section_small", "netvsc.recv_sections_overflow",
		"netvsc.xfer_range_outside", "netvsc.rndis_len_below_header",
		"netvsc.rndis_len_beyond", "netvsc.rndis_data_offset_bad", "netvsc.ppi_out_of_bounds",
		"netvsc.status_indication_short", "timing.drop", "timing.delay", "timing.duplicate",
		"timing.reorder", "timing.withhold_interrupt", "timing.spurious_interrupt",
	};

	ck_assert_int_eq(FAULT_CLASS_COUNT, 30);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ck_assert_int_eq(fault_class_find(names[i]), (int)i);
		ck_assert(fault_classes[i].layer && fault_classes[i].desc[0]);
	}
	ck_assert_int_eq(fault_class_find("msg.nope"), -ENOENT);
}
END_TEST

START_TEST(arm_checks_the_target)
{
	struct fault_spec s;
	char err[128];

	fault_class_reset();
	s = spec("msg.undersize", "disk0");
	ck_assert_int_eq(fault_class_arm(&s, err, sizeof(err)), -EINVAL);
	s = spec("storvsc.busy", "");
	ck_assert_int_eq(fault_class_arm(&s, err, sizeof(err)), -EINVAL);
	s = spec("timing.delay", "");
	ck_assert_int_eq(fault_class_arm(&s, err, sizeof(err)), -EINVAL); /* no ms */
	s.ms = 10;
	ck_assert_int_eq(fault_class_arm(&s, err, sizeof(err)), 0);
	s = spec("timing.drop", "");
	s.ms = 10;
	ck_assert_int_eq(fault_class_arm(&s, err, sizeof(err)), -EINVAL); /* ms not for drop */
	ck_assert(fault_class_armed(FAULT_TIMING_DELAY));
	ck_assert(!fault_class_armed(FAULT_TIMING_DROP));
	fault_class_reset();
	ck_assert_uint_eq(fault_class_mask, 0);
}
END_TEST

START_TEST(once_rate_from_and_target)
{
	struct fault_spec s = spec("storvsc.busy", "disk0");
	char err[128];
	int hits = 0;

	fault_class_reset();
	/* From the 3rd candidate on, every 2nd, 3 times, channel 1 only. */
	s.from = 3;
	s.every = 2;
	s.count = 3;
	s.channel = 1;
	ck_assert_int_eq(fault_class_arm(&s, err, sizeof(err)), 0);
	ck_assert(!fault_take(FAULT_STORVSC_BUSY, "disk0", 0));   /* other channel: no candidate */
	ck_assert(!fault_take(FAULT_STORVSC_BUSY, "disk1", 1));   /* other device */
	ck_assert(!fault_take(FAULT_STORVSC_BUSY, "", 0));        /* message connection */
	for (int i = 1; i <= 12; i++) {
		bool f = fault_take(FAULT_STORVSC_BUSY, "disk0", 1);

		ck_assert_int_eq(f, i == 3 || i == 5 || i == 7);
		hits += f;
	}
	ck_assert_int_eq(hits, 3);
	ck_assert_uint_eq(fault_class_fired(FAULT_STORVSC_BUSY), 3);
	/* Spent: off the hot path again. */
	ck_assert(!fault_class_armed(FAULT_STORVSC_BUSY));
	/* count 0: until disarmed. */
	s = spec("storvsc.busy", "disk0");
	s.count = 0;
	ck_assert_int_eq(fault_class_arm(&s, err, sizeof(err)), 0);
	for (int i = 0; i < 100; i++)
		ck_assert(fault_take(FAULT_STORVSC_BUSY, "disk0", (uint32_t)i % 3));
	ck_assert_int_eq(fault_class_disarm(FAULT_STORVSC_BUSY), 0);
	ck_assert(!fault_take(FAULT_STORVSC_BUSY, "disk0", 0));
	ck_assert_int_eq(fault_class_disarm(FAULT_STORVSC_BUSY), -ENOENT);
	ck_assert_uint_eq(fault_class_fired(FAULT_STORVSC_BUSY), 103);
	fault_class_reset();
}
END_TEST

START_TEST(held_bit)
{
	fault_class_reset();
	fault_held_ref(+1);
	fault_held_ref(+1);
	ck_assert(fault_class_mask & FAULT_BIT(FAULT_HELD_BIT));
	fault_held_ref(-1);
	ck_assert(fault_class_mask & FAULT_BIT(FAULT_HELD_BIT));
	fault_held_ref(-1);
	ck_assert_uint_eq(fault_class_mask, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fault_class");
	TCase *tc = tcase_create("fault_class");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, catalogue_is_the_issue_table);
	tcase_add_test(tc, arm_checks_the_target);
	tcase_add_test(tc, once_rate_from_and_target);
	tcase_add_test(tc, held_bit);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
