/* SPDX-License-Identifier: MIT */
/* Hypercall decoding: HvPostMessage and HvSignalEvent (facts §2). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "core/log.h"
#include "hv_fixture.h"

#define IN_GPA 0x3000ull
#define CONN_MSG 4u
#define CONN_EVT 0x10u

/* Control words as Linux builds them. */
#define CTL_POST HVCALL_POST_MESSAGE
#define CTL_SIGNAL_FAST (HVCALL_SIGNAL_EVENT | HV_HC_FAST)

static struct {
	uint32_t calls;
	uint32_t vp, conn_id, size;
	uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
	const void *ptr;
	uint16_t status;
} msg_rec;

static struct {
	uint32_t calls;
	uint32_t conn_id;
} evt_rec;

static uint16_t on_message(void *opaque, uint32_t vp, uint32_t conn_id, const void *payload,
			   uint32_t size)
{
	ck_assert_ptr_eq(opaque, &msg_rec);
	msg_rec.calls++;
	msg_rec.vp = vp;
	msg_rec.conn_id = conn_id;
	msg_rec.size = size;
	msg_rec.ptr = payload;
	memcpy(msg_rec.payload, payload, size);
	return msg_rec.status;
}

static void on_event(void *opaque, uint32_t conn_id)
{
	ck_assert_ptr_eq(opaque, &evt_rec);
	evt_rec.calls++;
	evt_rec.conn_id = conn_id;
}

static void setup(void)
{
	fix_setup();
	memset(&msg_rec, 0, sizeof(msg_rec));
	memset(&evt_rec, 0, sizeof(evt_rec));
	ck_assert_int_eq(hv_register_message_port(fix_hv, CONN_MSG, on_message, &msg_rec), 0);
	ck_assert_int_eq(hv_register_event_port(fix_hv, CONN_EVT, on_event, &evt_rec), 0);
}

/* Writes an HvPostMessage input block at gpa. */
static void put_msg(uint64_t gpa, uint32_t conn_id, uint32_t type, uint32_t size)
{
	struct hv_input_post_message in = {
		.connection_id = conn_id,
		.message_type = type,
		.payload_size = size,
	};

	for (uint32_t i = 0; i < HV_MESSAGE_PAYLOAD_MAX; i++)
		in.payload[i] = (uint8_t)(i + 1);
	ck_assert_int_eq(gmem_write(&fix_mem, gpa, &in, sizeof(in)), 0);
}

static uint64_t hc(uint64_t control, uint64_t input, uint32_t *sig)
{
	return hv_hypercall(fix_hv, 1, control, input, 0, sig);
}

START_TEST(post_message_valid)
{
	uint32_t sig = 77;

	put_msg(IN_GPA, CONN_MSG, HVMSG_VMBUS, 40);
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA, &sig), HV_STATUS_SUCCESS);
	ck_assert_uint_eq(sig, 0);
	ck_assert_uint_eq(msg_rec.calls, 1);
	ck_assert_uint_eq(msg_rec.vp, 1);
	ck_assert_uint_eq(msg_rec.conn_id, CONN_MSG);
	ck_assert_uint_eq(msg_rec.size, 40);
	for (uint32_t i = 0; i < 40; i++)
		ck_assert_uint_eq(msg_rec.payload[i], i + 1);
	/* The handler saw a host copy, never guest memory (no double fetch). */
	ck_assert((uintptr_t)msg_rec.ptr < (uintptr_t)fix_ptr(0) ||
		  (uintptr_t)msg_rec.ptr >= (uintptr_t)fix_ptr(0) + FIX_RAM_SIZE);
	/* Maximum size, at the very end of a page, and 240 bytes. */
	put_msg(0x4F00, CONN_MSG, HVMSG_VMBUS, HV_MESSAGE_PAYLOAD_MAX);
	ck_assert_uint_eq(hc(CTL_POST, 0x4F00, NULL), HV_STATUS_SUCCESS);
	ck_assert_uint_eq(msg_rec.size, HV_MESSAGE_PAYLOAD_MAX);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->post_messages, 2);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->hc_refused, 0);
}
END_TEST

START_TEST(post_message_handler_status_is_result)
{
	put_msg(IN_GPA, CONN_MSG, HVMSG_VMBUS, 8);
	msg_rec.status = HV_STATUS_INSUFFICIENT_BUFFERS;
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA, NULL), HV_STATUS_INSUFFICIENT_BUFFERS);
	ck_assert_uint_eq(msg_rec.calls, 1);
}
END_TEST

START_TEST(post_message_alignment)
{
	put_msg(IN_GPA, CONN_MSG, HVMSG_VMBUS, 8);
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA + 4, NULL), HV_STATUS_INVALID_ALIGNMENT);
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA + 1, NULL), HV_STATUS_INVALID_ALIGNMENT);
	/* 8-aligned but crossing into the next page (TLFS 3.6). */
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA + 0xF08, NULL), HV_STATUS_INVALID_ALIGNMENT);
	ck_assert_uint_eq(msg_rec.calls, 0);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->hc_refused, 3);
}
END_TEST

START_TEST(post_message_outside_ram)
{
	ck_assert_uint_eq(hc(CTL_POST, FIX_RAM_SIZE, NULL), HV_STATUS_INVALID_PARAMETER);
	ck_assert_uint_eq(hc(CTL_POST, 0xFFFFFFFFFFFFF000ull, NULL), HV_STATUS_INVALID_PARAMETER);
	ck_assert_uint_eq(msg_rec.calls, 0);
}
END_TEST

START_TEST(post_message_bad_size)
{
	put_msg(IN_GPA, CONN_MSG, HVMSG_VMBUS, HV_MESSAGE_PAYLOAD_MAX + 1);
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA, NULL), HV_STATUS_INVALID_PARAMETER);
	put_msg(IN_GPA, CONN_MSG, HVMSG_VMBUS, 0xFFFFFFFFu);
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA, NULL), HV_STATUS_INVALID_PARAMETER);
	ck_assert_uint_eq(msg_rec.calls, 0);
}
END_TEST

START_TEST(post_message_unknown_connection)
{
	put_msg(IN_GPA, 1, HVMSG_VMBUS, 8);
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA, NULL), HV_STATUS_INVALID_CONNECTION_ID);
	/* An event port is not a message port. */
	put_msg(IN_GPA, CONN_EVT, HVMSG_VMBUS, 8);
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA, NULL), HV_STATUS_INVALID_CONNECTION_ID);
	/* Unregistered ports stop answering. */
	hv_unregister_message_port(fix_hv, CONN_MSG);
	put_msg(IN_GPA, CONN_MSG, HVMSG_VMBUS, 8);
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA, NULL), HV_STATUS_INVALID_CONNECTION_ID);
	ck_assert_uint_eq(msg_rec.calls, 0);
}
END_TEST

START_TEST(post_message_bad_type)
{
	put_msg(IN_GPA, CONN_MSG, HVMSG_NONE, 8);
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA, NULL), HV_STATUS_INVALID_PARAMETER);
	put_msg(IN_GPA, CONN_MSG, 0x80000010u, 8); /* a timer message type */
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA, NULL), HV_STATUS_INVALID_PARAMETER);
	ck_assert_uint_eq(msg_rec.calls, 0);
	put_msg(IN_GPA, CONN_MSG, 0x7FFFFFFFu, 8);
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA, NULL), HV_STATUS_SUCCESS);
}
END_TEST

START_TEST(post_message_reserved_bits)
{
	struct hv_input_post_message *in;

	/* Control word: reserved bits, rep count, rep start, variable header. */
	static const uint64_t bad_controls[] = {
		CTL_POST | (1ull << 27), CTL_POST | (1ull << 31), CTL_POST | (1ull << 44),
		CTL_POST | (1ull << 63), CTL_POST | (1ull << 32), CTL_POST | (5ull << 48),
		CTL_POST | (1ull << 17),
	};

	put_msg(IN_GPA, CONN_MSG, HVMSG_VMBUS, 8);
	for (size_t i = 0; i < sizeof(bad_controls) / sizeof(bad_controls[0]); i++)
		ck_assert_uint_eq(hc(bad_controls[i], IN_GPA, NULL), HV_STATUS_INVALID_HYPERCALL_INPUT);
	/* Input block: the reserved word and connection id bits 31:24. */
	in = gmem_translate(&fix_mem, IN_GPA, sizeof(*in));
	in->reserved = 1;
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA, NULL), HV_STATUS_INVALID_HYPERCALL_INPUT);
	in->reserved = 0;
	in->connection_id = CONN_MSG | 0x01000000u;
	ck_assert_uint_eq(hc(CTL_POST, IN_GPA, NULL), HV_STATUS_INVALID_HYPERCALL_INPUT);
	ck_assert_uint_eq(msg_rec.calls, 0);
}
END_TEST

START_TEST(post_message_fast_refused)
{
	put_msg(IN_GPA, CONN_MSG, HVMSG_VMBUS, 8);
	ck_assert_uint_eq(hc(CTL_POST | HV_HC_FAST, IN_GPA, NULL), HV_STATUS_INVALID_HYPERCALL_INPUT);
	ck_assert_uint_eq(msg_rec.calls, 0);
}
END_TEST

START_TEST(signal_event_fast)
{
	uint32_t sig = 0;

	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, CONN_EVT, &sig), HV_STATUS_SUCCESS);
	ck_assert_uint_eq(evt_rec.calls, 1);
	ck_assert_uint_eq(evt_rec.conn_id, CONN_EVT);
	ck_assert_uint_eq(sig, CONN_EVT);
	/* NULL signal_conn_id is allowed. */
	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, CONN_EVT, NULL), HV_STATUS_SUCCESS);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->signal_events, 2);
}
END_TEST

START_TEST(signal_event_slow)
{
	uint64_t q = CONN_EVT;
	uint32_t sig = 5;

	ck_assert_int_eq(gmem_write(&fix_mem, IN_GPA, &q, sizeof(q)), 0);
	ck_assert_uint_eq(hc(HVCALL_SIGNAL_EVENT, IN_GPA, &sig), HV_STATUS_SUCCESS);
	ck_assert_uint_eq(evt_rec.calls, 1);
	/* Only the fast form moves to the eventfd path. */
	ck_assert_uint_eq(sig, 0);
	ck_assert_uint_eq(hc(HVCALL_SIGNAL_EVENT, IN_GPA + 4, &sig), HV_STATUS_INVALID_ALIGNMENT);
	ck_assert_uint_eq(hc(HVCALL_SIGNAL_EVENT, FIX_RAM_SIZE, &sig), HV_STATUS_INVALID_PARAMETER);
	ck_assert_uint_eq(evt_rec.calls, 1);
}
END_TEST

START_TEST(signal_event_bad_flag)
{
	uint32_t sig = 0;
	uint64_t q = CONN_EVT | (1ull << 32);

	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, q, &sig), HV_STATUS_INVALID_PARAMETER);
	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, CONN_EVT | (0xFFFFull << 32), &sig),
			  HV_STATUS_INVALID_PARAMETER);
	ck_assert_int_eq(gmem_write(&fix_mem, IN_GPA, &q, sizeof(q)), 0);
	ck_assert_uint_eq(hc(HVCALL_SIGNAL_EVENT, IN_GPA, &sig), HV_STATUS_INVALID_PARAMETER);
	ck_assert_uint_eq(sig, 0);
	ck_assert_uint_eq(evt_rec.calls, 0);
}
END_TEST

START_TEST(signal_event_unknown_or_reserved)
{
	uint32_t sig = 0;

	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, CONN_EVT + 1, &sig), HV_STATUS_INVALID_CONNECTION_ID);
	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, CONN_MSG, &sig), HV_STATUS_INVALID_CONNECTION_ID);
	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, 0, &sig), HV_STATUS_INVALID_CONNECTION_ID);
	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, CONN_EVT | 0x01000000u, &sig),
			  HV_STATUS_INVALID_HYPERCALL_INPUT);
	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, CONN_EVT | (1ull << 48), &sig),
			  HV_STATUS_INVALID_HYPERCALL_INPUT);
	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST | (1ull << 32), CONN_EVT, &sig),
			  HV_STATUS_INVALID_HYPERCALL_INPUT);
	ck_assert_uint_eq(sig, 0);
	ck_assert_uint_eq(evt_rec.calls, 0);
}
END_TEST

START_TEST(unknown_code)
{
	static const uint64_t codes[] = { 0x0000, 0x0001, 0x0002, 0x0008, 0x0046, 0x005E,
					  0x8001, 0xFFFF, 0x0046 | HV_HC_FAST };
	uint32_t sig = 3;

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		ck_assert_uint_eq(hc(codes[i], IN_GPA, &sig), HV_STATUS_INVALID_HYPERCALL_CODE);
	ck_assert_uint_eq(sig, 0);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->hc_unknown_code, 9);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->hc_refused, 9);
}
END_TEST

START_TEST(unknown_vp)
{
	ck_assert_uint_eq(hv_hypercall(fix_hv, FIX_VCPUS, CTL_SIGNAL_FAST, CONN_EVT, 0, NULL),
			  HV_STATUS_INVALID_PARAMETER);
	ck_assert_uint_eq(evt_rec.calls, 0);
}
END_TEST

START_TEST(event_port_fast_path)
{
	hv_signal_event_port(fix_hv, CONN_EVT);
	ck_assert_uint_eq(evt_rec.calls, 1);
	hv_signal_event_port(fix_hv, 999);
	ck_assert_uint_eq(evt_rec.calls, 1);
	ck_assert_uint_eq(hv_partition_stats(fix_hv)->signal_unknown, 1);
}
END_TEST

START_TEST(port_registry_rules)
{
	ck_assert_int_eq(hv_register_message_port(fix_hv, CONN_MSG, on_message, &msg_rec), -EEXIST);
	ck_assert_int_eq(hv_register_message_port(fix_hv, 0, on_message, &msg_rec), -EINVAL);
	ck_assert_int_eq(hv_register_message_port(fix_hv, 0x01000000u, on_message, &msg_rec), -EINVAL);
	ck_assert_int_eq(hv_register_event_port(fix_hv, CONN_EVT, on_event, &evt_rec), -EEXIST);
	ck_assert_int_eq(hv_register_event_port(fix_hv, 5, NULL, NULL), -EINVAL);
	/* Many ports, registered out of order, all found. */
	for (uint32_t id = 3000; id > 100; id -= 7)
		ck_assert_int_eq(hv_register_event_port(fix_hv, id, on_event, &evt_rec), 0);
	for (uint32_t id = 3000; id > 100; id -= 7) {
		ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, id, NULL), HV_STATUS_SUCCESS);
		ck_assert_uint_eq(evt_rec.conn_id, id);
	}
	hv_unregister_event_port(fix_hv, 3000);
	hv_unregister_event_port(fix_hv, 3000); /* twice is fine */
	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, 3000, NULL), HV_STATUS_INVALID_CONNECTION_ID);
	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, 2993, NULL), HV_STATUS_SUCCESS);
	/* Ports outlive the frontend: unbind + bind keeps them. */
	hv_partition_unbind(fix_hv);
	{
		struct hv_config cfg = { .n_vcpus = FIX_VCPUS };

		ck_assert_int_eq(hv_partition_bind(fix_hv, &fix_mem, &cfg), 0);
	}
	ck_assert_uint_eq(hc(CTL_SIGNAL_FAST, CONN_EVT, NULL), HV_STATUS_SUCCESS);
}
END_TEST

static Suite *hypercall_suite(void)
{
	Suite *s = suite_create("hypercall");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, fix_teardown);
	tcase_add_test(tc, post_message_valid);
	tcase_add_test(tc, post_message_handler_status_is_result);
	tcase_add_test(tc, post_message_alignment);
	tcase_add_test(tc, post_message_outside_ram);
	tcase_add_test(tc, post_message_bad_size);
	tcase_add_test(tc, post_message_unknown_connection);
	tcase_add_test(tc, post_message_bad_type);
	tcase_add_test(tc, post_message_reserved_bits);
	tcase_add_test(tc, post_message_fast_refused);
	tcase_add_test(tc, signal_event_fast);
	tcase_add_test(tc, signal_event_slow);
	tcase_add_test(tc, signal_event_bad_flag);
	tcase_add_test(tc, signal_event_unknown_or_reserved);
	tcase_add_test(tc, unknown_code);
	tcase_add_test(tc, unknown_vp);
	tcase_add_test(tc, event_port_fast_path);
	tcase_add_test(tc, port_registry_rules);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hypercall_suite());
	int failed;

	log_set_level(LOG_ERROR); /* refusals log by design */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
