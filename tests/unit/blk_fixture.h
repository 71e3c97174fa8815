/* SPDX-License-Identifier: MIT */
/*
 * Fixture of test_blk (the raw backend) and test_blk_nbd (image formats
 * through qemu-storage-daemon): a temporary directory, a real libevent loop,
 * submission that checks done() never runs inside blk_submit, and the
 * suite runner.  Header-only so each test stays one standalone program.
 */
#ifndef VMBUSD_TESTS_BLK_FIXTURE_H
#define VMBUSD_TESTS_BLK_FIXTURE_H

#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/log.h"
#include "core/util.h"
#include "devices/blk/blk.h"

#define MIB (1024u * 1024u)
#define WAIT_LOOPS 20000

static struct event_base *base;
static char dir[64];
static int completions;
static bool in_submit;       /* set around blk_submit: done() must not run there */
static bool sync_done;

static void on_done(struct blk_request *req, int result)
{
	if (in_submit)
		sync_done = true;
	completions++;
	*(int *)req->opaque = result;
}

static int submit(struct blk_backend *b, struct blk_request *req)
{
	int rc;

	in_submit = true;
	rc = blk_submit(b, req);
	in_submit = false;
	return rc;
}

static void wait_for(int n)
{
	for (int i = 0; completions < n && i < WAIT_LOOPS; i++)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_eq(completions, n);
	ck_assert(!sync_done);
}

static UNUSED void make_file(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

/* A file holding `len` bytes of `data`, left in the page cache. */
static UNUSED void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, data, len, 0), (ssize_t)len);
	close(fd);
}

static UNUSED struct blk_backend *open_raw(const char *path, bool ro, enum blk_cache cache, bool discard)
{
	struct blk_config cfg = { .path = path, .format = "raw", .readonly = ro, .cache = cache,
				  .discard = discard };
	struct blk_backend *b = NULL;
	struct json_err err = { "" };
	int rc = blk_open(base, &cfg, &b, &err);

	ck_assert_msg(rc == 0, "blk_open %s: %d %s", path, rc, err.msg);
	return b;
}

static void setup(void)
{
	strcpy(dir, "/tmp/test_blk.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	base = event_base_new();
	completions = 0;
	sync_done = false;
	log_set_level(LOG_WARN);
}

static void teardown(void)
{
	char cmd[128];

	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static UNUSED void do_one(struct blk_backend *b, enum blk_op op, uint64_t off, uint64_t len, void *buf)
{
	struct iovec iov = { buf, (size_t)len };
	int res = 1, before = completions;
	struct blk_request req = { .op = op, .offset = off, .len = len, .iov = &iov,
				   .iovcnt = buf ? 1 : 0, .done = on_done, .opaque = &res };

	ck_assert_int_eq(submit(b, &req), 0);
	wait_for(before + 1);
	ck_assert_int_eq(res, 0);
}

/* Runs the tests add_tests adds, with the fixture, as one suite. */
static int run_suite(const char *name, void (*add_tests)(TCase *tc))
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create(name);
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	add_tests(tc);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

#endif
