/* SPDX-License-Identifier: MIT */
/*
 * GPADL assembly and teardown (src/vmbus/gpadl.c) through the real
 * HvPostMessage path: single message, header + bodies, the netvsc-sized
 * 4096-page buffer, bad PFNs, duplicates, stray bodies, overlong bodies,
 * limits, multi-range buffers and teardown of a ring GPADL in use.
 */
#include <check.h>

#include "tests/unit/vmbus_harness.h"

struct fix {
	struct th t;
	struct td d;
	uint32_t relid;
};

static void fix_setup(struct fix *f)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(th_init(&f->t, 1, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&f->t, &f->d, 1, 0, false));
	ck_assert_int_eq(th_connect(&f->t, VMBUS_VERSION_WIN10_V5_3), 1);
	ck_assert_int_eq(th_request_offers(&f->t, NULL, 0), 1);
	f->relid = vmbus_chan_relid(f->d.ch);
}

static uint32_t teardown(struct fix *f, uint32_t relid, uint32_t handle)
{
	struct vmbus_msg_gpadl_teardown m = {
		.header.msgtype = CHANNELMSG_GPADL_TEARDOWN, .child_relid = relid, .gpadl = handle,
	};
	struct vmbus_msg_gpadl_torndown r;

	th_post(&f->t, 0, 1, &m, sizeof(m));
	if (th_recv(&f->t, 0, &r, NULL) != CHANNELMSG_GPADL_TORNDOWN)
		return 0;
	return r.gpadl;
}

START_TEST(gpadl_single_message)
{
	struct fix f;
	uint64_t gpa;
	struct iovec iov[4];
	int bodies = -1;
	uint64_t pfns[4];

	fix_setup(&f);
	gpa = th_alloc(&f.t, 4);
	for (int i = 0; i < 4; i++)
		pfns[i] = (gpa >> 12) + (uint64_t)i;
	ck_assert_int_eq(th_gpadl_pfns(&f.t, f.relid, 0xE1E10, pfns, 4, &bodies), 0);
	ck_assert_int_eq(bodies, 0);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 0xE1E10), 4 * 4096);
	ck_assert_int_eq(vmbus_chan_gpadl_iov(f.d.ch, 0xE1E10, 100, 8000, iov, 4), 1);
	ck_assert_ptr_eq(iov[0].iov_base, th_ptr(&f.t, gpa + 100, 1));
	ck_assert_uint_eq(iov[0].iov_len, 8000);
	ck_assert_int_eq(vmbus_chan_gpadl_iov(f.d.ch, 0xE1E10, 0, 4 * 4096 + 1, iov, 4), -EINVAL);
	ck_assert_int_eq(vmbus_chan_gpadl_iov(f.d.ch, 0xE1E10, UINT64_MAX, 2, iov, 4), -EINVAL);
	ck_assert_int_eq(vmbus_chan_gpadl_iov(f.d.ch, 0xE1E99, 0, 1, iov, 4), -ENOENT);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 0xE1E99), 0);
	ck_assert_uint_eq(vmbus_server_stats(f.t.srv)->gpadls_created, 1);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_header_and_bodies_scattered)
{
	struct fix f;
	uint64_t pfns[100];
	struct iovec iov[128];
	int bodies;

	fix_setup(&f);
	/* Every other page: nothing merges. */
	for (int i = 0; i < 100; i++)
		pfns[i] = 0x1000 + 2 * (uint64_t)i;
	ck_assert_int_eq(th_gpadl_pfns(&f.t, f.relid, 7, pfns, 100, &bodies), 0);
	ck_assert_int_eq(bodies, 3); /* 26 + 28 + 28 + 18 */
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 7), 100 * 4096);
	ck_assert_int_eq(vmbus_chan_gpadl_iov(f.d.ch, 7, 4096 * 30 + 5, 4096 * 2, iov, 128), 3);
	ck_assert_ptr_eq(iov[0].iov_base, th_ptr(&f.t, (pfns[30] << 12) + 5, 1));
	ck_assert_uint_eq(iov[0].iov_len, 4091);
	ck_assert_ptr_eq(iov[1].iov_base, th_ptr(&f.t, pfns[31] << 12, 1));
	ck_assert_uint_eq(iov[2].iov_len, 5);
	ck_assert_int_eq(vmbus_chan_gpadl_iov(f.d.ch, 7, 0, 100 * 4096, iov, 10), -E2BIG);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_netvsc_receive_buffer)
{
	struct fix f;
	uint64_t gpa;
	int bodies;
	uint64_t *pfns = calloc(4096, 8);
	struct iovec iov[2];

	fix_setup(&f);
	gpa = th_alloc(&f.t, 4096); /* 16 MiB */
	for (int i = 0; i < 4096; i++)
		pfns[i] = (gpa >> 12) + (uint64_t)i;
	ck_assert_int_eq(th_gpadl_pfns(&f.t, f.relid, 0xCAFE0, pfns, 4096, &bodies), 0);
	ck_assert_int_eq(bodies, 146);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 0xCAFE0), 16ull << 20);
	ck_assert_int_eq(vmbus_chan_gpadl_iov(f.d.ch, 0xCAFE0, 0, 16ull << 20, iov, 2), 1);
	ck_assert_uint_eq(vmbus_server_stats(f.t.srv)->malformed, 0);
	free(pfns);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_pfn_outside_ram)
{
	struct fix f;
	uint64_t pfns[40];

	fix_setup(&f);
	for (int i = 0; i < 40; i++)
		pfns[i] = 0x2000 + (uint64_t)i;
	pfns[33] = (TH_RAM_SIZE >> 12); /* first page past RAM, in a body */
	ck_assert_int_ne(th_gpadl_pfns(&f.t, f.relid, 1, pfns, 40, NULL), 0);
	pfns[33] = UINT64_MAX; /* would overflow pfn << 12 */
	ck_assert_int_ne(th_gpadl_pfns(&f.t, f.relid, 2, pfns, 40, NULL), 0);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 1), 0);
	ck_assert_uint_eq(vmbus_server_stats(f.t.srv)->gpadls_refused, 2);
	/* The handle is free again. */
	pfns[33] = 0x2033;
	ck_assert_int_eq(th_gpadl_pfns(&f.t, f.relid, 1, pfns, 40, NULL), 0);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_duplicate_handle)
{
	struct fix f;
	uint64_t gpa;

	fix_setup(&f);
	gpa = th_alloc(&f.t, 8);
	ck_assert_int_eq(th_gpadl(&f.t, f.relid, 5, gpa, 8), 0);
	ck_assert_int_ne(th_gpadl(&f.t, f.relid, 5, gpa, 4), 0);
	/* The original is intact. */
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 5), 8 * 4096);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_body_unknown_handle)
{
	struct fix f;
	uint8_t msg[16 + 8 * 4] = { 0 };
	struct vmbus_msg_gpadl_body *b = (void *)msg;

	fix_setup(&f);
	b->header.msgtype = CHANNELMSG_GPADL_BODY;
	b->gpadl = 0x1234;
	ck_assert_int_eq(th_post(&f.t, 0, 1, msg, sizeof(msg)), HV_STATUS_SUCCESS);
	ck_assert_int_eq(th_recv(&f.t, 0, NULL, NULL), 0);
	ck_assert_uint_eq(vmbus_server_stats(f.t.srv)->malformed, 1);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_body_too_many_pfns)
{
	struct fix f;
	uint8_t msg[VMBUS_MSG_MAX] = { 0 };
	struct vmbus_msg_gpadl_header *h = (void *)msg;
	struct vmbus_msg_gpadl_body *b = (void *)msg;
	struct vmbus_msg_gpadl_created c;
	uint64_t pfn = 0x3000;

	fix_setup(&f);
	/* Header announces 27 pages; 26 in the header, then a body with 2. */
	h->header.msgtype = CHANNELMSG_GPADL_HEADER;
	h->child_relid = f.relid;
	h->gpadl = 9;
	h->range_buflen = 8 + 8 * 27;
	h->rangecount = 1;
	h->range[0].byte_count = 27 * 4096;
	for (int i = 0; i < 26; i++)
		memcpy(msg + 28 + 8 * i, &pfn, 8);
	th_post(&f.t, 0, 1, msg, 28 + 26 * 8);
	ck_assert_int_eq(th_recv(&f.t, 0, NULL, NULL), 0);
	memset(msg, 0, sizeof(msg));
	b->header.msgtype = CHANNELMSG_GPADL_BODY;
	b->gpadl = 9;
	memcpy(msg + 16, &pfn, 8);
	memcpy(msg + 24, &pfn, 8);
	th_post(&f.t, 0, 1, msg, 32);
	ck_assert_int_eq(th_recv(&f.t, 0, &c, NULL), CHANNELMSG_GPADL_CREATED);
	ck_assert_uint_eq(c.gpadl, 9);
	ck_assert_uint_eq(c.child_relid, f.relid);
	ck_assert_uint_ne(c.creation_status, 0);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 9), 0);
	/* Header whose PFNs exceed its own range_buflen. */
	memset(msg, 0, sizeof(msg));
	h->header.msgtype = CHANNELMSG_GPADL_HEADER;
	h->child_relid = f.relid;
	h->gpadl = 10;
	h->range_buflen = 8 + 8 * 2;
	h->rangecount = 1;
	h->range[0].byte_count = 2 * 4096;
	th_post(&f.t, 0, 1, msg, 28 + 3 * 8);
	ck_assert_int_eq(th_recv(&f.t, 0, &c, NULL), CHANNELMSG_GPADL_CREATED);
	ck_assert_uint_ne(c.creation_status, 0);
	/* byte_count that needs more pages than listed. */
	h->gpadl = 11;
	h->range[0].byte_count = 3 * 4096;
	memcpy(msg + 28, &pfn, 8);
	memcpy(msg + 36, &pfn, 8);
	th_post(&f.t, 0, 1, msg, 28 + 2 * 8);
	ck_assert_int_eq(th_recv(&f.t, 0, &c, NULL), CHANNELMSG_GPADL_CREATED);
	ck_assert_uint_ne(c.creation_status, 0);
	/* rangecount 0. */
	h->gpadl = 12;
	h->rangecount = 0;
	th_post(&f.t, 0, 1, msg, 28 + 2 * 8);
	ck_assert_int_eq(th_recv(&f.t, 0, &c, NULL), CHANNELMSG_GPADL_CREATED);
	ck_assert_uint_ne(c.creation_status, 0);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_unknown_relid)
{
	struct fix f;

	fix_setup(&f);
	ck_assert_int_ne(th_gpadl(&f.t, 77, 1, th_alloc(&f.t, 1), 1), 0);
	ck_assert_int_ne(th_gpadl(&f.t, 0, 2, th_alloc(&f.t, 1), 1), 0);
	ck_assert_int_ne(th_gpadl(&f.t, 0xFFFFFFFF, 3, th_alloc(&f.t, 1), 1), 0);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_multi_range)
{
	struct fix f;
	uint8_t msg[VMBUS_MSG_MAX] = { 0 };
	struct vmbus_msg_gpadl_header *h = (void *)msg;
	struct vmbus_msg_gpadl_created c;
	uint64_t words[6];
	struct iovec iov[4];

	fix_setup(&f);
	h->header.msgtype = CHANNELMSG_GPADL_HEADER;
	h->child_relid = f.relid;
	h->gpadl = 20;
	h->rangecount = 2;
	h->range_buflen = sizeof(words);
	/* range 0: 8092 bytes from offset 100 of pages 0x2400, 0x2401 */
	words[0] = 8092ull | (100ull << 32);
	words[1] = 0x2400;
	words[2] = 0x2401;
	/* range 1: 4096 bytes of page 0x2402 */
	words[3] = 4096ull;
	words[4] = 0x2402;
	/* one word too many: refused */
	words[5] = 0x2403;
	memcpy(msg + 20, words, sizeof(words));
	th_post(&f.t, 0, 1, msg, 20 + sizeof(words));
	ck_assert_int_eq(th_recv(&f.t, 0, &c, NULL), CHANNELMSG_GPADL_CREATED);
	ck_assert_uint_ne(c.creation_status, 0);

	h->range_buflen = 5 * 8;
	th_post(&f.t, 0, 1, msg, 20 + 5 * 8);
	ck_assert_int_eq(th_recv(&f.t, 0, &c, NULL), CHANNELMSG_GPADL_CREATED);
	ck_assert_uint_eq(c.creation_status, 0);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 20), 12188);
	/* Range 0 ends where range 1's page starts: the iovecs join. */
	ck_assert_int_eq(vmbus_chan_gpadl_iov(f.d.ch, 20, 8000, 1000, iov, 4), 1);
	ck_assert_ptr_eq(iov[0].iov_base, th_ptr(&f.t, 0x2400ull * 4096 + 8100, 1));
	ck_assert_int_eq(vmbus_chan_gpadl_iov(f.d.ch, 20, 0, 12188, iov, 4), 1);
	ck_assert_uint_eq(iov[0].iov_len, 12188);
	/* A range boundary that is not contiguous splits. */
	ck_assert_int_eq(vmbus_chan_gpadl_iov(f.d.ch, 20, 0, 100, iov, 4), 1);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_teardown)
{
	struct fix f;

	fix_setup(&f);
	ck_assert_int_eq(th_gpadl(&f.t, f.relid, 30, th_alloc(&f.t, 2), 2), 0);
	ck_assert_uint_eq(teardown(&f, f.relid, 30), 30);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 30), 0);
	/* Unknown handle: still answered (the guest would wait forever). */
	ck_assert_uint_eq(teardown(&f, f.relid, 31), 31);
	ck_assert_uint_eq(vmbus_server_stats(f.t.srv)->malformed, 1);
	/* Wrong relid: refused, not answered. */
	ck_assert_int_eq(th_gpadl(&f.t, f.relid, 32, th_alloc(&f.t, 2), 2), 0);
	ck_assert_uint_eq(teardown(&f, f.relid + 1, 32), 0);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 32), 2 * 4096);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_teardown_in_use)
{
	struct fix f;
	struct tg_chan c;
	struct vmbus_msg_relid close = { .header.msgtype = CHANNELMSG_CLOSECHANNEL };
	struct vmbus_msg_gpadl_torndown r;

	fix_setup(&f);
	ck_assert_int_eq(tg_open(&f.t, &c, f.relid, 40, 2, 2, 0, 0), 0);
	/* Torn down while the ring maps it: no answer yet. */
	ck_assert_uint_eq(teardown(&f, f.relid, 40), 0);
	ck_assert(vmbus_chan_is_open(f.d.ch));
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 1, 0, "x", 1), 0);
	close.child_relid = f.relid;
	th_post(&f.t, 0, 1, &close, sizeof(close));
	ck_assert_int_eq(f.d.closes, 1);
	/* Answered at close, after ops->close. */
	ck_assert_int_eq(th_recv(&f.t, 0, &r, NULL), CHANNELMSG_GPADL_TORNDOWN);
	ck_assert_uint_eq(r.gpadl, 40);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 40), 0);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_limits)
{
	struct fix f;
	uint64_t gpa;
	int ok = 0;

	fix_setup(&f);
	gpa = th_alloc(&f.t, 1);
	for (uint32_t i = 0; i < 80; i++)
		if (th_gpadl(&f.t, f.relid, 100 + i, gpa, 1) == 0)
			ok++;
	ck_assert_int_eq(ok, 64);
	/* Freed ones can be reused. */
	ck_assert_uint_eq(teardown(&f, f.relid, 100), 100);
	ck_assert_int_eq(th_gpadl(&f.t, f.relid, 500, gpa, 1), 0);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_dropped_on_unload_and_reset)
{
	struct fix f;
	struct vmbus_msg_header unload = { .msgtype = CHANNELMSG_UNLOAD };

	fix_setup(&f);
	ck_assert_int_eq(th_gpadl(&f.t, f.relid, 50, th_alloc(&f.t, 2), 2), 0);
	th_post(&f.t, 0, 1, &unload, sizeof(unload));
	ck_assert_int_eq(th_recv(&f.t, 0, NULL, NULL), CHANNELMSG_UNLOAD_RESPONSE);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 50), 0);
	ck_assert_int_eq(th_connect(&f.t, VMBUS_VERSION_WIN10_V5_3), 1);
	ck_assert_int_eq(th_request_offers(&f.t, NULL, 0), 1);
	ck_assert_int_eq(th_gpadl(&f.t, f.relid, 50, th_alloc(&f.t, 2), 2), 0);
	vmbus_server_reset(f.t.srv);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 50), 0);
	th_fini(&f.t);
}
END_TEST

START_TEST(gpadl_incomplete_then_teardown)
{
	struct fix f;
	uint8_t msg[VMBUS_MSG_MAX] = { 0 };
	struct vmbus_msg_gpadl_header *h = (void *)msg;

	fix_setup(&f);
	h->header.msgtype = CHANNELMSG_GPADL_HEADER;
	h->child_relid = f.relid;
	h->gpadl = 60;
	h->range_buflen = 8 + 8 * 100;
	h->rangecount = 1;
	h->range[0].byte_count = 100 * 4096;
	th_post(&f.t, 0, 1, msg, 28 + 26 * 8);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(f.d.ch, 60), 0);
	ck_assert_uint_eq(teardown(&f, f.relid, 60), 60);
	/* Later bodies are strays. */
	th_fini(&f.t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gpadl");
	TCase *tc = tcase_create("gpadl");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, gpadl_single_message);
	tcase_add_test(tc, gpadl_header_and_bodies_scattered);
	tcase_add_test(tc, gpadl_netvsc_receive_buffer);
	tcase_add_test(tc, gpadl_pfn_outside_ram);
	tcase_add_test(tc, gpadl_duplicate_handle);
	tcase_add_test(tc, gpadl_body_unknown_handle);
	tcase_add_test(tc, gpadl_body_too_many_pfns);
	tcase_add_test(tc, gpadl_unknown_relid);
	tcase_add_test(tc, gpadl_multi_range);
	tcase_add_test(tc, gpadl_teardown);
	tcase_add_test(tc, gpadl_teardown_in_use);
	tcase_add_test(tc, gpadl_limits);
	tcase_add_test(tc, gpadl_dropped_on_unload_and_reset);
	tcase_add_test(tc, gpadl_incomplete_then_teardown);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
