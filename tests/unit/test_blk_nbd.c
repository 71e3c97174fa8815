/* SPDX-License-Identifier: MIT */
/*
 * Image formats through NBD against a real libevent loop: qcow2 and vhdx
 * served by qemu-storage-daemon (package qemu-system-common), cancelling,
 * close with requests in flight, the daemon's death, a wrong format; or,
 * built without libnbd, the error that says so.
 */
#include "blk_fixture.h"

static bool UNUSED have_tool(const char *name)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

static bool UNUSED make_image(const char *path, const char *fmt, const char *size)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "qemu-img create -q -f %s %s %s", fmt, path, size);
	return system(cmd) == 0;
}

#ifdef HAVE_LIBNBD
static void nbd_roundtrip(const char *fmt)
{
	struct blk_config cfg = { .format = fmt, .discard = true };
	struct blk_backend *b = NULL;
	struct json_err err = { "" };
	static uint8_t w[3][64 * 1024], r[3 * 64 * 1024];
	struct iovec iov[3];
	struct blk_request req[8];
	int res[8];
	char path[128];

	if (!have_tool("qemu-storage-daemon") || !have_tool("qemu-img")) {
		fprintf(stderr, "test_blk_nbd: SKIP %s: qemu-storage-daemon (package "
			"qemu-system-common) or qemu-img (qemu-utils) not installed\n", fmt);
		return;
	}
	snprintf(path, sizeof(path), "%s/disk.%s", dir, fmt);
	ck_assert(make_image(path, fmt, "64M"));
	cfg.path = path;
	ck_assert_msg(blk_open(base, &cfg, &b, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(blk_info(b)->size, 64 * MIB);
	ck_assert_str_eq(blk_info(b)->format, fmt);
	/* Three writes in flight, one of them scattered (bounce buffer). */
	for (int i = 0; i < 3; i++)
		memset(w[i], 0x11 * (i + 1), sizeof(w[i]));
	iov[0] = (struct iovec){ w[0], sizeof(w[0]) };
	iov[1] = (struct iovec){ w[1], 1000 };
	iov[2] = (struct iovec){ w[1] + 1000, sizeof(w[1]) - 1000 };
	iov[0].iov_len = 4096;
	req[0] = (struct blk_request){ .op = BLK_OP_WRITE, .offset = 0, .len = 4096,
				       .iov = &iov[0], .iovcnt = 1, .done = on_done, .opaque = &res[0] };
	req[1] = (struct blk_request){ .op = BLK_OP_WRITE, .offset = 64 * 1024, .len = sizeof(w[1]),
				       .iov = &iov[1], .iovcnt = 2, .done = on_done, .opaque = &res[1] };
	req[2] = (struct blk_request){ .op = BLK_OP_WRITE, .offset = 63 * MIB, .len = 4096,
				       .iov = &iov[0], .iovcnt = 1, .done = on_done, .opaque = &res[2] };
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(submit(b, &req[i]), 0);
	wait_for(3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(res[i], 0);
	do_one(b, BLK_OP_FLUSH, 0, 0, NULL);
	do_one(b, BLK_OP_READ, 0, 3 * 64 * 1024, r);
	ck_assert_mem_eq(r, w[0], 4096);
	ck_assert_uint_eq(r[4096], 0);
	ck_assert_mem_eq(r + 64 * 1024, w[1], sizeof(w[1]));
	do_one(b, BLK_OP_WRITE_ZEROES, 64 * 1024, 4096, NULL);
	if (blk_info(b)->discard)
		do_one(b, BLK_OP_DISCARD, 32 * MIB, MIB, NULL);
	do_one(b, BLK_OP_READ, 64 * 1024, 8192, r);
	ck_assert_uint_eq(r[0], 0);
	ck_assert_uint_eq(r[4095], 0);
	ck_assert_uint_eq(r[4096], 0x22);
	blk_close(b);
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);   /* the daemon was reaped */

	/* Reopen read-only with "auto": the data persisted, writes refused. */
	cfg.format = "auto";
	cfg.readonly = true;
	ck_assert_msg(blk_open(base, &cfg, &b, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(blk_info(b)->format, fmt);
	ck_assert(blk_info(b)->readonly);
	do_one(b, BLK_OP_READ, 63 * MIB, 4096, r);
	ck_assert_uint_eq(r[0], 0x11);
	iov[0] = (struct iovec){ r, 4096 };
	req[0] = (struct blk_request){ .op = BLK_OP_WRITE, .len = 4096, .iov = &iov[0], .iovcnt = 1,
				       .done = on_done, .opaque = &res[0] };
	ck_assert_int_eq(blk_submit(b, &req[0]), -EROFS);
	blk_close(b);
}

START_TEST(nbd_qcow2)
{
	nbd_roundtrip("qcow2");
}
END_TEST

START_TEST(nbd_vhdx)
{
	nbd_roundtrip("vhdx");
}
END_TEST

/* NBD keeps blk.h's guest memory contract without waiting: a slow read
 * ("blk.delay" holds its data back 2 s) is cancelled at once, completes
 * later with its result, and its buffer is never written. */
START_TEST(nbd_cancel_keeps_guest_memory)
{
	struct blk_config cfg = { .format = "qcow2" };
	struct blk_backend *b = NULL;
	struct json_err err = { "" };
	static uint8_t w[8192], r[8192];
	struct blk_request req;
	struct iovec iov[2];
	char path[128];
	int res = 1;

	if (!have_tool("qemu-storage-daemon") || !have_tool("qemu-img")) {
		fprintf(stderr, "test_blk_nbd: SKIP cancel: qemu-storage-daemon not installed\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/disk.qcow2", dir);
	ck_assert(make_image(path, "qcow2", "1M"));
	cfg.path = path;
	ck_assert_msg(blk_open(base, &cfg, &b, &err) == 0, "%s", err.msg);
	memset(w, 0xC3, sizeof(w));
	do_one(b, BLK_OP_WRITE, 0, sizeof(w), w);
	memset(r, 0x5A, sizeof(r));
	/* Two iovecs, one of them in place before this backend bounced all. */
	iov[0] = (struct iovec){ r, 4096 };
	iov[1] = (struct iovec){ r + 4096, 4096 };
	req = (struct blk_request){ .op = BLK_OP_READ, .offset = 0, .len = sizeof(r), .iov = iov,
				    .iovcnt = 2, .done = on_done, .opaque = &res };
	ck_assert_int_eq(fault_arm("blk.delay", 0, 1), 0);
	completions = 0;
	ck_assert_int_eq(submit(b, &req), 0);
	fault_disarm_all();
	blk_cancel(b, &req);
	ck_assert_int_eq(completions, 0);
	wait_for(1);                   /* after the 2 s delay */
	ck_assert_int_eq(res, 0);
	for (size_t i = 0; i < sizeof(r); i++)
		ck_assert_msg(r[i] == 0x5A, "byte %zu written after blk_cancel", i);
	/* Not cancelled: the same read lands. */
	do_one(b, BLK_OP_READ, 0, sizeof(r), r);
	ck_assert_uint_eq(r[8191], 0xC3);
	blk_close(b);
}
END_TEST

/* The daemon dies under us: requests fail (no hang), close still works. */
static pid_t only_child(void)
{
	char p[64], buf[64];
	FILE *f;
	long pid = -1;

	snprintf(p, sizeof(p), "/proc/self/task/%d/children", (int)getpid());
	f = fopen(p, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%ld", &pid) != 1)
		pid = -1;
	fclose(f);
	return (pid_t)pid;
}

START_TEST(nbd_close_in_flight_and_daemon_death)
{
	struct blk_config cfg = { .format = "qcow2" };
	struct blk_backend *b = NULL;
	struct json_err err = { "" };
	static uint8_t buf[16][4096];
	struct blk_request req[16];
	struct iovec iov[16];
	int res[16];
	char path[128];
	pid_t pid;

	if (!have_tool("qemu-storage-daemon") || !have_tool("qemu-img")) {
		fprintf(stderr, "test_blk_nbd: SKIP close: qemu-storage-daemon not installed\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/disk.qcow2", dir);
	ck_assert(make_image(path, "qcow2", "16M"));
	cfg.path = path;
	ck_assert_msg(blk_open(base, &cfg, &b, &err) == 0, "%s", err.msg);
	for (int i = 0; i < 16; i++) {
		iov[i] = (struct iovec){ buf[i], 4096 };
		res[i] = 1;
		req[i] = (struct blk_request){ .op = i % 2 ? BLK_OP_READ : BLK_OP_WRITE,
					       .offset = (uint64_t)i * 4096, .len = 4096,
					       .iov = &iov[i], .iovcnt = 1, .done = on_done,
					       .opaque = &res[i] };
		ck_assert_int_eq(submit(b, &req[i]), 0);
	}
	blk_close(b);                                   /* all complete inside */
	ck_assert_int_eq(completions, 16);
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(res[i], 0);

	ck_assert_msg(blk_open(base, &cfg, &b, &err) == 0, "%s", err.msg);
	pid = only_child();
	ck_assert_msg(pid > 0 || access("/proc/self/task", F_OK) != 0, "no child pid found");
	if (pid > 0) {
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		usleep(100 * 1000);
		for (int i = 0; i < 4; i++) {
			res[i] = 1;
			ck_assert_int_eq(submit(b, &req[i]), 0);
		}
		wait_for(20);
		for (int i = 0; i < 4; i++)
			ck_assert_int_lt(res[i], 0);
	}
	blk_close(b);
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
}
END_TEST

START_TEST(nbd_wrong_format_says_why)
{
	struct blk_config cfg = { .format = "vhdx" };
	struct blk_backend *b = NULL;
	struct json_err err = { "" };
	char path[128];

	if (!have_tool("qemu-storage-daemon") || !have_tool("qemu-img")) {
		fprintf(stderr, "test_blk_nbd: SKIP errors: qemu-storage-daemon not installed\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/disk.qcow2", dir);
	ck_assert(make_image(path, "qcow2", "16M"));
	cfg.path = path;
	ck_assert_int_eq(blk_open(base, &cfg, &b, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "qemu-storage-daemon"), "%s", err.msg);
	snprintf(path, sizeof(path), "%s/missing.qcow2", dir);
	cfg.format = "qcow2";
	ck_assert_int_eq(blk_open(base, &cfg, &b, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "No such file"), "%s", err.msg);
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
}
END_TEST
#else
START_TEST(nbd_not_built_says_so)
{
	struct blk_config cfg = { .format = "qcow2" };
	struct blk_backend *b = NULL;
	struct json_err err = { "" };
	char path[128];

	fprintf(stderr, "test_blk_nbd: SKIP nbd: built without libnbd (HAVE_LIBNBD)\n");
	snprintf(path, sizeof(path), "%s/disk.qcow2", dir);
	make_file(path, MIB);
	cfg.path = path;
	ck_assert_int_eq(blk_open(base, &cfg, &b, &err), -ENOTSUP);
	ck_assert_ptr_nonnull(strstr(err.msg, "libnbd"));

}
END_TEST
#endif

static void add_tests(TCase *tc)
{
#ifdef HAVE_LIBNBD
	tcase_add_test(tc, nbd_qcow2);
	tcase_add_test(tc, nbd_vhdx);
	tcase_add_test(tc, nbd_wrong_format_says_why);
	tcase_add_test(tc, nbd_close_in_flight_and_daemon_death);
	tcase_add_test(tc, nbd_cancel_keeps_guest_memory);
#else
	tcase_add_test(tc, nbd_not_built_says_so);
#endif
}

int main(void)
{
	return run_suite("blk_nbd", add_tests);
}
