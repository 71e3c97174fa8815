/* SPDX-License-Identifier: MIT */
/*
 * The plugin-protocol server against malformed input from a raw client on
 * a real Unix socket (the valid protocol is test_attach's): each case is
 * dropped, leaks no fd (/proc/self/fd), and the next client attaches.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "attach/attach.h"
#include "core/log.h"
#include "core/util.h"

#include "attach_fixture.h"

/* ---- malformed input: each case is dropped, leaks nothing, and the next
 * client attaches. ---------------------------------------------------------- */

enum expect { EXPECT_EOF, EXPECT_STATUS };

struct bad_case {
	const char *name;
	bool attach_first;   /* send a valid ATTACH before the bad message */
	enum expect expect;
	int32_t status;      /* for EXPECT_STATUS */
	void (*send)(int c);
};

static void send_attach_msg(int c, const struct attach_msg *m, uint32_t n_regions_in_size,
			    const int *fds, int n_fds)
{
	cl_send(c, ATTACH_MSG_ATTACH, 0, 1, m,
		(uint32_t)(sizeof(m->req) + n_regions_in_size * sizeof(m->regions[0])), fds, n_fds);
}

static void bad_oversize(int c)
{
	struct attach_hdr hdr = { ATTACH_MSG_ATTACH, 0, ATTACH_MAX_PAYLOAD + 1, 1 };

	cl_send_raw(c, &hdr, sizeof(hdr), NULL, 0);
}

static void bad_huge_size(int c)
{
	struct attach_hdr hdr = { ATTACH_MSG_HYPERCALL, 0, 0xFFFFFFFFu, 1 };

	cl_send_raw(c, &hdr, sizeof(hdr), NULL, 0);
}

static void bad_short_payload(int c)
{
	struct attach_msr_req req = { 0 };

	cl_send(c, ATTACH_MSG_MSR_READ, 0, 2, &req, 8, NULL, 0);
}

static void bad_long_payload(int c)
{
	uint8_t req[40] = { 0 };

	cl_send(c, ATTACH_MSG_HYPERCALL, 0, 2, req, sizeof(req), NULL, 0);
}

static void bad_fds_none(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };

	send_attach_msg(c, &m, 1, NULL, 0);
}

static void bad_fds_two_for_one(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f[2] = { make_ram(RAM_SIZE), make_ram(RAM_SIZE) };

	send_attach_msg(c, &m, 1, f, 2);
	close_fds(f, 2);
}

static void bad_fds_flood(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f[40];

	for (int i = 0; i < 40; i++)
		f[i] = eventfd(0, EFD_CLOEXEC);
	send_attach_msg(c, &m, 1, f, 40);
	close_fds(f, 40);
}

static void bad_overlap(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 2, 0 },
				.regions = { { 0, RAM_SIZE, 0 }, { RAM_SIZE / 2, RAM_SIZE, 0 } } };
	int f[2] = { make_ram(RAM_SIZE), make_ram(RAM_SIZE) };

	send_attach_msg(c, &m, 2, f, 2);
	close_fds(f, 2);
}

static void bad_region_past_eof(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(4096);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_region_not_file(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, 4096, 0 } } };
	int f = eventfd(0, EFD_CLOEXEC);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_region_unaligned(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0x800, 4096, 0 } } };
	int f = make_ram(RAM_SIZE);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_version(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION + 1, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(RAM_SIZE);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

/* A version-1 frontend (a QEMU built before protocol v2): its request is
 * 8 bytes shorter, and it must still get a reply that says -EPROTO. */
static void bad_version_1(int c)
{
	struct {
		uint32_t version, n_vcpus, n_regions, flags;
		struct attach_region region;
	} __attribute__((packed)) m = { 1, 1, 1, 0, { 0, RAM_SIZE, 0 } };
	int f = make_ram(RAM_SIZE);

	ck_assert_uint_eq(sizeof(m), ATTACH_REQ_V1_SIZE + sizeof(struct attach_region));
	cl_send(c, ATTACH_MSG_ATTACH, 0, 1, &m, sizeof(m), &f, 1);
	close(f);
}

static void bad_vcpus_zero(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 0, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(RAM_SIZE);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_vcpus_many(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, ATTACH_MAX_VCPUS + 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(RAM_SIZE);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_region_count_mismatch(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 2, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(RAM_SIZE);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_zero_regions(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 0, 0 } };

	send_attach_msg(c, &m, 0, NULL, 0);
}

static void bad_attach_flags(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 4 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(RAM_SIZE);

	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static void bad_attach_ragged_size(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };

	cl_send(c, ATTACH_MSG_ATTACH, 0, 1, &m, sizeof(m.req) + 20, NULL, 0);
}

static void bad_too_many_regions(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, ATTACH_MAX_REGIONS + 1, 0 } };

	send_attach_msg(c, &m, ATTACH_MAX_REGIONS + 1, NULL, 0);
}

static void bad_unknown_type(int c)
{
	cl_send(c, 99, 0, 1, NULL, 0, NULL, 0);
}

static void bad_type_zero(int c)
{
	cl_send(c, 0, 0, 1, NULL, 0, NULL, 0);
}

static void bad_header_flags(int c)
{
	cl_send(c, ATTACH_MSG_RESET, ATTACH_F_REPLY, 1, NULL, 0, NULL, 0);
}

static void bad_before_attach(int c)
{
	struct attach_msr_req req = { 0, HV_MSR_VP_INDEX, 0 };

	cl_send(c, ATTACH_MSG_MSR_READ, 0, 1, &req, sizeof(req), NULL, 0);
}

static void bad_attach_twice(int c)
{
	bad_fds_two_for_one(c);
}

static void bad_fd_on_msr(int c)
{
	struct attach_msr_req req = { 0, HV_MSR_VP_INDEX, 0 };
	int f = make_ram(4096);

	cl_send(c, ATTACH_MSG_MSR_READ, 0, 2, &req, sizeof(req), &f, 1);
	close(f);
}

static void bad_backend_refuses(int c)
{
	struct attach_msg m = { .req = { ATTACH_PROTOCOL_VERSION, 1, 1, 0 },
				.regions = { { 0, RAM_SIZE, 0 } } };
	int f = make_ram(RAM_SIZE);

	be.refuse_attach = -EPERM;
	send_attach_msg(c, &m, 1, &f, 1);
	close(f);
}

static const struct bad_case bad_cases[] = {
	{ "oversize", false, EXPECT_EOF, 0, bad_oversize },
	{ "huge size", true, EXPECT_EOF, 0, bad_huge_size },
	{ "short payload", true, EXPECT_EOF, 0, bad_short_payload },
	{ "long payload", true, EXPECT_EOF, 0, bad_long_payload },
	{ "no fds", false, EXPECT_STATUS, -EINVAL, bad_fds_none },
	{ "two fds for one region", false, EXPECT_STATUS, -EINVAL, bad_fds_two_for_one },
	{ "fd flood", false, EXPECT_EOF, 0, bad_fds_flood },
	{ "overlapping regions", false, EXPECT_STATUS, -EINVAL, bad_overlap },
	{ "region past memfd end", false, EXPECT_STATUS, -EINVAL, bad_region_past_eof },
	{ "region not a file", false, EXPECT_STATUS, -EINVAL, bad_region_not_file },
	{ "unaligned region", false, EXPECT_STATUS, -EINVAL, bad_region_unaligned },
	{ "version", false, EXPECT_STATUS, -EPROTO, bad_version },
	{ "version 1 frontend", false, EXPECT_STATUS, -EPROTO, bad_version_1 },
	{ "zero vcpus", false, EXPECT_STATUS, -EINVAL, bad_vcpus_zero },
	{ "too many vcpus", false, EXPECT_STATUS, -EINVAL, bad_vcpus_many },
	{ "region count mismatch", false, EXPECT_STATUS, -EINVAL, bad_region_count_mismatch },
	{ "zero regions", false, EXPECT_STATUS, -EINVAL, bad_zero_regions },
	{ "attach flags", false, EXPECT_STATUS, -EINVAL, bad_attach_flags },
	{ "ragged attach size", false, EXPECT_EOF, 0, bad_attach_ragged_size },
	{ "too many regions", false, EXPECT_EOF, 0, bad_too_many_regions },
	{ "unknown type", false, EXPECT_EOF, 0, bad_unknown_type },
	{ "unknown type attached", true, EXPECT_EOF, 0, bad_unknown_type },
	{ "type zero", false, EXPECT_EOF, 0, bad_type_zero },
	{ "header flags", true, EXPECT_EOF, 0, bad_header_flags },
	{ "request before attach", false, EXPECT_EOF, 0, bad_before_attach },
	{ "attach twice", true, EXPECT_EOF, 0, bad_attach_twice },
	{ "fd on an MSR request", true, EXPECT_EOF, 0, bad_fd_on_msr },
	{ "backend refuses", false, EXPECT_STATUS, -EPERM, bad_backend_refuses },
};

START_TEST(malformed_is_dropped)
{
	const struct bad_case *bc = &bad_cases[_i];
	int baseline = count_fds();
	int fds[8], n = 0, c = cl_connect();
	struct attach_ok ok;

	if (bc->attach_first)
		cl_attach(c, 1, fds, &n, &ok);
	bc->send(c);
	if (bc->expect == EXPECT_STATUS) {
		struct attach_reply rep;

		cl_recv(c, ATTACH_MSG_ATTACH, 1, &rep, sizeof(rep), NULL, NULL);
		ck_assert_msg(rep.status == bc->status, "%s: status %d", bc->name, rep.status);
	}
	cl_expect_eof(c);
	close_fds(fds, n);
	pump_ms(2);
	ck_assert(!attach_server_attached(srv));
	ck_assert_uint_eq(be.detach_calls, bc->attach_first ? 1 : 0);
	ck_assert_msg(count_fds() == baseline, "%s: fd leak (%d -> %d)", bc->name, baseline,
		      count_fds());
	be.refuse_attach = 0;
	next_client_attaches();
	ck_assert_msg(count_fds() == baseline, "%s: fd leak after next client", bc->name);
}
END_TEST

static Suite *attach_hostile_suite(void)
{
	Suite *s = suite_create("attach_hostile");
	TCase *tc = tcase_create("malformed");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, malformed_is_dropped, 0, (int)ARRAY_SIZE(bad_cases));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(attach_hostile_suite());
	int failed;

	log_set_level(LOG_ERROR); /* the malformed cases log by design */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
