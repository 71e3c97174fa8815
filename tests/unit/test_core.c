/* SPDX-License-Identifier: MIT */
/* Unit tests for core/: guest-memory translation, GUIDs, JSON config
 * helpers, fault points and the log rate limit. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/gmem.h"
#include "core/guid.h"
#include "core/json.h"
#include "core/log.h"

#define MiB (1024ull * 1024ull)

static int make_memfd(uint64_t size)
{
	int fd = memfd_create("test-ram", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return fd;
}

/* Two regions like QEMU's pc machine: [0, 2 MiB) and [4 GiB, 4 GiB + 2 MiB),
 * both in one memfd (the second at file offset 2 MiB). */
static void two_regions(struct gmem *m)
{
	int fd = make_memfd(4 * MiB);

	gmem_init(m);
	ck_assert_int_eq(gmem_add(m, 0, 2 * MiB, fd, 0), 0);
	ck_assert_int_eq(gmem_add(m, 4096ull * MiB, 2 * MiB, dup(fd), 2 * MiB), 0);
}

START_TEST(gmem_translate_bounds)
{
	struct gmem m;

	two_regions(&m);
	ck_assert_ptr_nonnull(gmem_translate(&m, 0, 2 * MiB));
	ck_assert_ptr_null(gmem_translate(&m, 0, 2 * MiB + 1));
	ck_assert_ptr_null(gmem_translate(&m, 2 * MiB, 1));
	ck_assert_ptr_nonnull(gmem_translate(&m, 2 * MiB - 1, 1));
	ck_assert_ptr_nonnull(gmem_translate(&m, 4096ull * MiB + 100, 4096));
	/* Lengths that would wrap a 64-bit sum must fail, not wrap. */
	ck_assert_ptr_null(gmem_translate(&m, 4096, UINT64_MAX));
	ck_assert_ptr_null(gmem_translate(&m, UINT64_MAX, 2));
	gmem_release(&m);
}
END_TEST

START_TEST(gmem_add_rejects)
{
	struct gmem m;
	int fd = make_memfd(4 * MiB);

	gmem_init(&m);
	ck_assert_int_eq(gmem_add(&m, 1, 4096, fd, 0), -EINVAL);        /* unaligned */
	ck_assert_int_eq(gmem_add(&m, 0, 0, fd, 0), -EINVAL);           /* empty */
	ck_assert_int_eq(gmem_add(&m, UINT64_MAX - 4095, 8192, fd, 0), -EINVAL); /* wraps */
	ck_assert_int_eq(gmem_add(&m, 0, 1 * MiB, fd, 0), 0);
	ck_assert_int_eq(gmem_add(&m, 512 * 1024, 1 * MiB, dup(fd), 0), -EINVAL); /* overlap */
	gmem_release(&m);
}
END_TEST

START_TEST(gmem_copy_across_regions_fails_cleanly)
{
	struct gmem m;
	uint8_t buf[64] = { 1, 2, 3 }, back[64];

	two_regions(&m);
	ck_assert_int_eq(gmem_write(&m, 100, buf, sizeof(buf)), 0);
	ck_assert_int_eq(gmem_read(&m, 100, back, sizeof(back)), 0);
	ck_assert_mem_eq(buf, back, sizeof(buf));
	/* Straddles the end of RAM: refused as a whole. */
	ck_assert_int_eq(gmem_write(&m, 2 * MiB - 32, buf, sizeof(buf)), -EFAULT);
	gmem_release(&m);
}
END_TEST

START_TEST(gmem_range_iov_splits_and_merges)
{
	struct gmem m;
	struct iovec iov[4];

	two_regions(&m);
	ck_assert_int_eq(gmem_range_iov(&m, 4096, 8192, iov, 4), 1);
	ck_assert_uint_eq(iov[0].iov_len, 8192);
	ck_assert_int_eq(gmem_range_iov(&m, 2 * MiB - 4096, 8192, iov, 4), -EFAULT);
	ck_assert_int_eq(gmem_range_iov(&m, UINT64_MAX - 10, 100, iov, 4), -EFAULT);
	gmem_release(&m);
}
END_TEST

START_TEST(gmem_pfns_iov_checks_list)
{
	struct gmem m;
	struct iovec iov[8];
	uint64_t contiguous[3] = { 1, 2, 3 };
	uint64_t scattered[3] = { 5, 1, 2 };
	uint64_t outside[2] = { 1, (2 * MiB) >> 12 };

	two_regions(&m);
	/* 100 bytes into page 1, 8192 bytes: pages 1..3, merged into one iovec. */
	ck_assert_int_eq(gmem_pfns_iov(&m, contiguous, 3, 100, 8192, iov, 8), 1);
	ck_assert_uint_eq(iov[0].iov_len, 8192);
	ck_assert_int_eq(gmem_pfns_iov(&m, scattered, 3, 100, 8192, iov, 8), 2);
	ck_assert_uint_eq(iov[0].iov_len + iov[1].iov_len, 8192);
	/* Wrong page count for the range, offset beyond a page, page outside RAM. */
	ck_assert_int_eq(gmem_pfns_iov(&m, contiguous, 2, 100, 8192, iov, 8), -EINVAL);
	ck_assert_int_eq(gmem_pfns_iov(&m, contiguous, 3, 4096, 8192, iov, 8), -EINVAL);
	ck_assert_int_eq(gmem_pfns_iov(&m, outside, 2, 0, 8192, iov, 8), -EFAULT);
	ck_assert_int_eq(gmem_pfns_iov(&m, contiguous, 3, 0, UINT64_MAX, iov, 8), -EINVAL);
	ck_assert_int_eq(gmem_pfns_iov(&m, scattered, 3, 100, 8192, iov, 1), -E2BIG);
	{
		uint64_t huge = UINT64_MAX;

		ck_assert_int_eq(gmem_pfns_iov(&m, &huge, 1, 0, 16, iov, 8), -EFAULT);
	}
	gmem_release(&m);
}
END_TEST

/* gmem.c, "Populating ahead of use": a translated page list gets its pages
 * mapped here before the caller copies, only those pages, once. */
START_TEST(gmem_pfns_iov_populates_the_pages_it_names)
{
	struct gmem m;
	struct iovec iov[8];
	struct stat st;
	uint64_t first[3] = { 1, 2, 5 }, again[2] = { 2, 3 };
	int fd = make_memfd(1 * MiB);
	void *probe = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* A kernel before 5.14 has no MADV_POPULATE_WRITE: only the marks then. */
	bool populates = madvise(probe, 4096, MADV_POPULATE_WRITE) == 0;

	munmap(probe, 4096);
	ck_assert_int_eq(ftruncate(fd, 0), 0); /* drop the probe's page */
	ck_assert_int_eq(ftruncate(fd, (off_t)(1 * MiB)), 0);
	gmem_init(&m);
	ck_assert_int_eq(gmem_add(&m, 0, 1 * MiB, fd, 0), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_blocks, 0);

	ck_assert_int_eq(gmem_pfns_iov(&m, first, 3, 0, 3 * 4096, iov, 8), 2);
	for (uint64_t pfn = 0; pfn < 8; pfn++)
		ck_assert_int_eq(gmem_page_populated(&m, pfn << 12), pfn == 1 || pfn == 2 || pfn == 5);
	ck_assert_int_eq(fstat(fd, &st), 0);
	if (populates)
		ck_assert_int_eq(st.st_blocks, 3 * 4096 / 512); /* pages 1, 2 and 5, no others */
	/* A list that fails translation populates nothing. */
	{
		uint64_t bad[2] = { 6, (2 * MiB) >> 12 };

		ck_assert_int_eq(gmem_pfns_iov(&m, bad, 2, 0, 8192, iov, 8), -EFAULT);
		ck_assert(!gmem_page_populated(&m, 6 << 12));
	}
	/* Page 2 is marked: only page 3 is new. */
	ck_assert_int_eq(gmem_pfns_iov(&m, again, 2, 0, 8192, iov, 8), 1);
	ck_assert(gmem_page_populated(&m, 3 << 12));
	ck_assert_int_eq(fstat(fd, &st), 0);
	if (populates)
		ck_assert_int_eq(st.st_blocks, 4 * 4096 / 512);
	gmem_release(&m);
}
END_TEST

START_TEST(guid_wire_order)
{
	struct guid g;
	char text[GUID_STR_LEN];
	/* Heartbeat class, facts §7.3: the wire bytes given there. */
	static const uint8_t wire[16] = { 0x39, 0x4f, 0x16, 0x57, 0x15, 0x91, 0x78, 0x4e,
					  0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d };

	ck_assert_int_eq(guid_parse("57164f39-9115-4e78-ab55-382f3bd5422d", &g), 0);
	ck_assert_mem_eq(g.b, wire, 16);
	guid_format(&g, text);
	ck_assert_str_eq(text, "57164f39-9115-4e78-ab55-382f3bd5422d");
	ck_assert_int_eq(guid_parse("{57164f39-9115-4e78-ab55-382f3bd5422d}", &g), 0);
	ck_assert_int_eq(guid_parse("57164f39-9115-4e78-ab55-382f3bd5422", &g), -EINVAL);
	ck_assert_int_eq(guid_parse("not-a-guid-at-all-not-a-guid-at-all!", &g), -EINVAL);
}
END_TEST

START_TEST(json_errors_name_the_key)
{
	json_t *o = json_pack("{s:s,s:i,s:s}", "name", "x", "count", -3, "id", "zz");
	static const char *const keys[] = { "name", "count", NULL };
	struct json_err err;
	uint64_t v;
	struct guid g;

	ck_assert_int_eq(json_get_u64(o, "devices[0]", "count", true, 0, 10, &v, &err), -EINVAL);
	ck_assert_str_eq(err.msg, "devices[0].count: must be between 0 and 10");
	ck_assert_int_eq(json_get_guid(o, "devices[0]", "id", true, &g, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "devices[0].id"));
	ck_assert_int_eq(json_check_keys(o, "devices[0]", keys, &err), -EINVAL);
	ck_assert_str_eq(err.msg, "devices[0].id: unknown key");
	ck_assert_int_eq(json_get_u64(o, "d", "missing", false, 0, 1, &v, &err), 0);
	ck_assert_int_eq(json_get_u64(o, "d", "missing", true, 0, 1, &v, &err), -EINVAL);
	json_decref(o);
}
END_TEST

START_TEST(fault_points)
{
	ck_assert(!fault_hit("ring.send"));
	ck_assert_int_eq(fault_arm("ring.send", 2, 1), 0);
	ck_assert(!fault_hit("ring.send"));
	ck_assert(!fault_hit("ring.send"));
	ck_assert(fault_hit("ring.send"));
	ck_assert(!fault_hit("ring.send"));
	ck_assert(!fault_hit("other"));
	ck_assert_uint_eq(fault_fired("ring.send"), 1);
	fault_disarm_all();
	ck_assert(!fault_hit("ring.send"));
}
END_TEST

START_TEST(log_ratelimit_burst)
{
	struct log_ratelimit rl = { 0 };
	uint32_t sup;
	unsigned int printed = 0;

	for (int i = 0; i < 100; i++)
		printed += log_ratelimit_ok(&rl, &sup);
	ck_assert_uint_eq(printed, LOG_RATELIMIT_BURST);
	ck_assert_uint_eq(rl.suppressed, 100 - LOG_RATELIMIT_BURST);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, gmem_translate_bounds);
	tcase_add_test(tc, gmem_add_rejects);
	tcase_add_test(tc, gmem_copy_across_regions_fails_cleanly);
	tcase_add_test(tc, gmem_range_iov_splits_and_merges);
	tcase_add_test(tc, gmem_pfns_iov_checks_list);
	tcase_add_test(tc, gmem_pfns_iov_populates_the_pages_it_names);
	tcase_add_test(tc, guid_wire_order);
	tcase_add_test(tc, json_errors_name_the_key);
	tcase_add_test(tc, fault_points);
	tcase_add_test(tc, log_ratelimit_burst);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
