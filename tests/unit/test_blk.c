/* SPDX-License-Identifier: MIT */
/*
 * The raw block backend against real files and a real libevent loop:
 * parallel requests, exact data, holes, O_DIRECT, flush, the inline path on
 * the loop thread, cancelling, close with requests in flight.  Image formats
 * through NBD are in test_blk_nbd.c.
 */
#include "blk_fixture.h"
#include "devices/blk/blk_internal.h"

/* ---- raw ------------------------------------------------------------------ */

#define NREQ 64
#define REQ_BYTES 8192u

START_TEST(raw_parallel_requests_land_exactly)
{
	char path[128];
	static uint8_t wbuf[NREQ][REQ_BYTES], rbuf[NREQ][REQ_BYTES];
	struct blk_request req[NREQ];
	struct iovec iov[NREQ][3];
	int res[NREQ];
	struct blk_backend *b;

	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	make_file(path, NREQ * REQ_BYTES);
	b = open_raw(path, false, BLK_CACHE_WRITEBACK, false);
	ck_assert_uint_eq(blk_info(b)->size, NREQ * REQ_BYTES);
	ck_assert_uint_eq(blk_info(b)->block_size, 512);
	ck_assert_str_eq(blk_info(b)->format, "raw");
	/* Writes scattered over three iovecs each, in reverse order. */
	for (int i = 0; i < NREQ; i++) {
		for (unsigned j = 0; j < REQ_BYTES; j++)
			wbuf[i][j] = (uint8_t)(i * 7 + j * 13);
		iov[i][0] = (struct iovec){ wbuf[i], 100 };
		iov[i][1] = (struct iovec){ wbuf[i] + 100, 3000 };
		iov[i][2] = (struct iovec){ wbuf[i] + 3100, REQ_BYTES - 3100 };
		req[i] = (struct blk_request){ .op = BLK_OP_WRITE,
					       .offset = (uint64_t)(NREQ - 1 - i) * REQ_BYTES,
					       .len = REQ_BYTES, .iov = iov[i], .iovcnt = 3,
					       .done = on_done, .opaque = &res[i] };
		res[i] = 1;
		ck_assert_int_eq(submit(b, &req[i]), 0);
	}
	wait_for(NREQ);
	for (int i = 0; i < NREQ; i++)
		ck_assert_int_eq(res[i], 0);
	/* Reads, all in flight together. */
	for (int i = 0; i < NREQ; i++) {
		iov[i][0] = (struct iovec){ rbuf[i], REQ_BYTES };
		req[i] = (struct blk_request){ .op = BLK_OP_READ, .offset = (uint64_t)i * REQ_BYTES,
					       .len = REQ_BYTES, .iov = iov[i], .iovcnt = 1,
					       .done = on_done, .opaque = &res[i] };
		ck_assert_int_eq(submit(b, &req[i]), 0);
	}
	wait_for(2 * NREQ);
	for (int i = 0; i < NREQ; i++) {
		ck_assert_int_eq(res[i], 0);
		ck_assert_mem_eq(rbuf[i], wbuf[NREQ - 1 - i], REQ_BYTES);
	}
	blk_close(b);
}
END_TEST

START_TEST(raw_submit_rejects_bad_requests)
{
	char path[128];
	uint8_t buf[1024];
	struct iovec iov = { buf, 512 };
	struct blk_request req = { .op = BLK_OP_READ, .len = 512, .iov = &iov, .iovcnt = 1,
				   .done = on_done };
	struct blk_backend *b;

	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	make_file(path, MIB);
	b = open_raw(path, true, BLK_CACHE_WRITEBACK, true);
	ck_assert(blk_info(b)->readonly);
	ck_assert(!blk_info(b)->discard);       /* read-only wins */
	req.offset = 100;
	ck_assert_int_eq(blk_submit(b, &req), -EINVAL);          /* misaligned */
	req.offset = MIB;
	ck_assert_int_eq(blk_submit(b, &req), -EINVAL);          /* past the end */
	req.offset = UINT64_MAX - 511;
	ck_assert_int_eq(blk_submit(b, &req), -EINVAL);          /* overflow */
	req.offset = 0;
	req.len = 1024;
	ck_assert_int_eq(blk_submit(b, &req), -EINVAL);          /* iov total != len */
	req.len = 512;
	req.op = BLK_OP_WRITE;
	ck_assert_int_eq(blk_submit(b, &req), -EROFS);
	req.op = BLK_OP_DISCARD;
	ck_assert_int_eq(blk_submit(b, &req), -EROFS);
	req.op = (enum blk_op)99;
	ck_assert_int_eq(blk_submit(b, &req), -EINVAL);
	ck_assert_int_eq(completions, 0);
	blk_close(b);
	b = open_raw(path, false, BLK_CACHE_WRITEBACK, false);
	req.op = BLK_OP_DISCARD;
	ck_assert_int_eq(blk_submit(b, &req), -EOPNOTSUPP);
	ck_assert_int_eq(completions, 0);
	blk_close(b);
}
END_TEST

START_TEST(raw_read_past_eof_is_zero_filled)
{
	char path[128];
	uint8_t buf[4096];
	struct iovec iov = { buf, sizeof(buf) };
	int res = 1, fd;
	struct blk_request req = { .op = BLK_OP_READ, .offset = 2 * 4096, .len = sizeof(buf),
				   .iov = &iov, .iovcnt = 1, .done = on_done, .opaque = &res };
	struct blk_backend *b;

	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	make_file(path, 4 * 4096);
	b = open_raw(path, false, BLK_CACHE_WRITEBACK, false);
	/* Someone shrinks the file behind our back: reads return zeroes. */
	fd = open(path, O_RDWR);
	ck_assert_int_eq(ftruncate(fd, 2 * 4096 + 1000), 0);
	ck_assert_int_eq(pwrite(fd, "\xAA\xAA\xAA\xAA", 4, 2 * 4096), 4);
	close(fd);
	memset(buf, 0x55, sizeof(buf));
	ck_assert_int_eq(submit(b, &req), 0);
	wait_for(1);
	ck_assert_int_eq(res, 0);
	ck_assert_uint_eq(buf[0], 0xAA);
	ck_assert_uint_eq(buf[4], 0);
	ck_assert_uint_eq(buf[999], 0);
	ck_assert_uint_eq(buf[1000], 0);
	ck_assert_uint_eq(buf[4095], 0);
	ck_assert_int_eq(blk_refresh_size(b), 1);
	ck_assert_uint_eq(blk_info(b)->size, 2 * 4096 + 512);
	blk_close(b);
}
END_TEST

START_TEST(raw_discard_punches_holes)
{
	char path[128];
	uint8_t *buf = malloc(MIB);
	struct blk_backend *b;
	struct stat st1, st2;

	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	make_file(path, 4 * MIB);
	b = open_raw(path, false, BLK_CACHE_WRITEBACK, true);
	ck_assert(blk_info(b)->discard);
	ck_assert(blk_info(b)->zero_after_discard);
	memset(buf, 0x5A, MIB);
	do_one(b, BLK_OP_WRITE, MIB, MIB, buf);
	do_one(b, BLK_OP_FLUSH, 0, 0, NULL);
	ck_assert_int_eq(stat(path, &st1), 0);
	ck_assert_int_ge(st1.st_blocks, MIB / 512);
	do_one(b, BLK_OP_DISCARD, MIB, MIB / 2, NULL);
	ck_assert_int_eq(stat(path, &st2), 0);
	ck_assert_int_le(st2.st_blocks, st1.st_blocks - (MIB / 2) / 512);
	ck_assert_int_eq(st2.st_size, 4 * MIB);       /* KEEP_SIZE */
	do_one(b, BLK_OP_READ, MIB, MIB, buf);
	for (unsigned i = 0; i < MIB / 2; i++)
		ck_assert_uint_eq(buf[i], 0);
	for (unsigned i = MIB / 2; i < MIB; i++)
		ck_assert_uint_eq(buf[i], 0x5A);
	/* WRITE_ZEROES: zeroes, size kept. */
	do_one(b, BLK_OP_WRITE_ZEROES, MIB + MIB / 2, 4096, NULL);
	do_one(b, BLK_OP_READ, MIB, MIB, buf);
	for (unsigned i = 0; i < MIB / 2 + 4096; i++)
		ck_assert_uint_eq(buf[i], 0);
	ck_assert_uint_eq(buf[MIB / 2 + 4096], 0x5A);
	blk_close(b);
	free(buf);
}
END_TEST

START_TEST(raw_flush_and_unsafe)
{
	char path[128];
	struct blk_backend *b;
	json_t *st;

	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	make_file(path, MIB);
	b = open_raw(path, false, BLK_CACHE_WRITEBACK, false);
	ck_assert(blk_info(b)->write_cache);
	do_one(b, BLK_OP_FLUSH, 0, 0, NULL);
	st = blk_stats(b);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "flushes")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "in_flight")), 0);
	json_decref(st);
	blk_close(b);
	b = open_raw(path, false, BLK_CACHE_UNSAFE, false);
	ck_assert(!blk_info(b)->write_cache);
	do_one(b, BLK_OP_FLUSH, 0, 0, NULL);
	blk_close(b);
}
END_TEST

/* cache=none: either the filesystem takes O_DIRECT (then even unaligned
 * guest buffers work, through the bounce buffer) or open says why. */
static void check_direct(const char *path)
{
	struct blk_config cfg = { .path = path, .format = "raw", .cache = BLK_CACHE_NONE };
	struct blk_backend *b = NULL;
	struct json_err err = { "" };
	uint8_t *raw = malloc(3 * 4096), *odd = raw + 7, *back = malloc(2 * 4096);
	int rc;

	make_file(path, MIB);
	rc = blk_open(base, &cfg, &b, &err);
	if (rc < 0) {
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert_msg(strstr(err.msg, "O_DIRECT") && strstr(err.msg, path), "%s", err.msg);
	} else {
		memset(odd, 0x3C, 2 * 4096);
		do_one(b, BLK_OP_WRITE, 4096, 2 * 4096, odd);      /* unaligned buffer */
		do_one(b, BLK_OP_READ, 4096, 2 * 4096, back);
		ck_assert_mem_eq(back, odd, 2 * 4096);
		do_one(b, BLK_OP_READ, 4096, 1024, odd);           /* 512-aligned length */
		ck_assert_uint_eq(odd[1023], 0x3C);
		blk_close(b);
	}
	free(raw);
	free(back);
}

START_TEST(raw_direct_on_disk_and_tmpfs)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/direct.raw", dir);
	check_direct(path);
	snprintf(path, sizeof(path), "/dev/shm/test_blk_direct.%d", (int)getpid());
	check_direct(path);
	unlink(path);
}
END_TEST

START_TEST(raw_close_completes_in_flight)
{
	char path[128];
	static uint8_t buf[32][4096];
	struct blk_request req[32];
	struct iovec iov[32];
	int res[32];
	struct blk_backend *b;

	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	make_file(path, 32 * 4096);
	b = open_raw(path, false, BLK_CACHE_WRITEBACK, false);
	for (int i = 0; i < 32; i++) {
		iov[i] = (struct iovec){ buf[i], 4096 };
		res[i] = 1;
		req[i] = (struct blk_request){ .op = i % 2 ? BLK_OP_READ : BLK_OP_WRITE,
					       .offset = (uint64_t)i * 4096, .len = 4096,
					       .iov = &iov[i], .iovcnt = 1, .done = on_done,
					       .opaque = &res[i] };
		ck_assert_int_eq(submit(b, &req[i]), 0);
	}
	blk_close(b);      /* every done() ran inside */
	ck_assert_int_eq(completions, 32);
	for (int i = 0; i < 32; i++)
		ck_assert_int_eq(res[i], 0);
}
END_TEST

START_TEST(open_errors_name_the_file)
{
	struct blk_config cfg = { .path = "/nonexistent/disk.img", .format = "raw" };
	struct blk_backend *b = NULL;
	struct json_err err = { "" };
	char path[128];

	ck_assert_int_eq(blk_open(base, &cfg, &b, &err), -ENOENT);
	ck_assert_ptr_null(b);
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/disk.img"));
	cfg.format = "qcow3";
	ck_assert_int_eq(blk_open(base, &cfg, &b, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "qcow3"));
	cfg.path = dir;   /* a directory */
	cfg.format = "raw";
	ck_assert_int_lt(blk_open(base, &cfg, &b, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, dir));
	/* "auto" on a plain file: qemu-img says raw (when installed). */
	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	make_file(path, MIB);
	cfg.path = path;
	cfg.format = "auto";
	if (blk_open(base, &cfg, &b, &err) == 0) {
		ck_assert_str_eq(blk_info(b)->format, "raw");
		blk_close(b);
	} else {
		ck_assert_ptr_nonnull(strstr(err.msg, "qemu-img"));
	}
}
END_TEST

START_TEST(config_from_json_names_keys)
{
	struct blk_config cfg;
	struct json_err err = { "" };
	json_t *o = json_pack("{s:s, s:s, s:b}", "path", "/x.img", "cache", "none", "discard", 1);

	ck_assert_int_eq(blk_config_from_json(o, "devices[0]", &cfg, &err), 0);
	ck_assert_str_eq(cfg.path, "/x.img");
	ck_assert_str_eq(cfg.format, "raw");
	ck_assert_int_eq(cfg.cache, BLK_CACHE_NONE);
	ck_assert(cfg.discard && !cfg.readonly);
	json_object_set_new(o, "cache", json_string("sometimes"));
	ck_assert_int_eq(blk_config_from_json(o, "devices[0]", &cfg, &err), -EINVAL);
	ck_assert_str_eq(err.msg, "devices[0].cache: \"sometimes\" is not writeback, none or unsafe");
	json_object_del(o, "cache");
	json_object_set_new(o, "readonly", json_string("yes"));
	ck_assert_int_eq(blk_config_from_json(o, "devices[0]", &cfg, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "devices[0].readonly"));
	json_object_del(o, "readonly");
	json_object_del(o, "path");
	ck_assert_int_eq(blk_config_from_json(o, "devices[0]", &cfg, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "devices[0].path"));
	json_decref(o);
}
END_TEST

/* Drops path's pages from the page cache; false where they stay (tmpfs). */
static bool evict(const char *path)
{
	int fd = open(path, O_RDONLY);
	long page = sysconf(_SC_PAGESIZE);
	struct stat st;
	unsigned char vec[64];
	bool gone = true;
	void *map;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_le(st.st_size / page, (long)sizeof(vec));
	ck_assert_int_eq(fdatasync(fd), 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mincore(map, (size_t)st.st_size, vec), 0);
	for (long i = 0; i < st.st_size / page; i++)
		gone = gone && !(vec[i] & 1);
	munmap(map, (size_t)st.st_size);
	close(fd);
	return gone;
}

/* Cached reads (and, where the filesystem can, buffered writes) finish on
 * the loop thread with RWF_NOWAIT: the data is right, done() still comes
 * from the loop and never inside blk_submit, and "inline_done" counts
 * them.  cache=none never takes the inline path. */
START_TEST(raw_inline_completes_from_the_loop)
{
	enum { N = 16 };
	static uint8_t disk[N * 4096], buf[N][4096];
	struct blk_request req[N];
	struct iovec iov[N];
	char path[128];
	int res[N], seen;
	struct blk_backend *b;
	json_t *st;

	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	for (unsigned i = 0; i < sizeof(disk); i++)
		disk[i] = (uint8_t)(i * 31 + i / 4096);
	write_file(path, disk, sizeof(disk));
	b = open_raw(path, false, BLK_CACHE_WRITEBACK, false);
	for (int i = 0; i < N; i++) {
		iov[i] = (struct iovec){ buf[i], 4096 };
		req[i] = (struct blk_request){ .op = BLK_OP_READ, .offset = (uint64_t)(N - 1 - i) * 4096,
					       .len = 4096, .iov = &iov[i], .iovcnt = 1,
					       .done = on_done, .opaque = &res[i] };
		res[i] = 1;
		ck_assert_int_eq(submit(b, &req[i]), 0);
	}
	ck_assert_int_eq(completions, 0);      /* none inside blk_submit */
	wait_for(N);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(res[i], 0);
		ck_assert_mem_eq(buf[i], disk + (N - 1 - i) * 4096, 4096);
	}
	st = blk_stats(b);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "inline_done")), N);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "inline_missed")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "in_flight")), 0);
	json_decref(st);

	/* Out of the page cache: the inline try misses, the workers read it. */
	if (evict(path)) {
		iov[0] = (struct iovec){ buf[0], 4096 };
		req[0].offset = 4096;
		res[0] = 1;
		memset(buf[0], 0, 4096);
		ck_assert_int_eq(submit(b, &req[0]), 0);
		wait_for(N + 1);
		ck_assert_int_eq(res[0], 0);
		ck_assert_mem_eq(buf[0], disk + 4096, 4096);
		st = blk_stats(b);
		ck_assert_int_eq(json_integer_value(json_object_get(st, "inline_done")), N);
		ck_assert_int_eq(json_integer_value(json_object_get(st, "inline_missed")), 1);
		json_decref(st);
	}
	blk_close(b);

	/* O_DIRECT: the workers do everything. */
	b = open_raw(path, false, BLK_CACHE_NONE, false);
	iov[0] = (struct iovec){ buf[0], 4096 };
	req[0].offset = 0;
	seen = completions;
	ck_assert_int_eq(submit(b, &req[0]), 0);
	wait_for(seen + 1);
	ck_assert_int_eq(res[0], 0);
	ck_assert_mem_eq(buf[0], disk, 4096);
	st = blk_stats(b);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "inline_done")), 0);
	json_decref(st);
	blk_close(b);
}
END_TEST

static long long stat_of(struct blk_backend *b, const char *key)
{
	json_t *st = blk_stats(b);
	long long v = json_integer_value(json_object_get(st, key));

	json_decref(st);
	return v;
}

/* A lone request (nothing else in flight: queue depth 1) is done on the
 * loop up to 1 MiB; with another in flight, a large read goes to the
 * workers.  A lone small write is done on the loop too (RWF_NOWAIT, or
 * where the file system refuses that, a plain pwritev: "inline_blocking"),
 * a second one in flight only by RWF_NOWAIT. */
START_TEST(raw_lone_requests_on_the_loop)
{
	enum { BIG = 1 << 20 };
	static uint8_t disk[2 * BIG], a[BIG], c[BIG], w[2][4096];
	struct blk_request ra, rc, wr[2];
	struct iovec ia = { a, BIG }, ic = { c, BIG }, iw[2] = { { w[0], 4096 }, { w[1], 4096 } };
	int res[4], fd, first = completions;
	long long blocking;
	char path[128];
	struct blk_backend *b;

	snprintf(path, sizeof(path), "%s/lone.raw", dir);
	for (unsigned i = 0; i < sizeof(disk); i++)
		disk[i] = (uint8_t)(i * 7 + i / 4096);
	write_file(path, disk, sizeof(disk));
	b = open_raw(path, false, BLK_CACHE_WRITEBACK, false);

	ra = (struct blk_request){ .op = BLK_OP_READ, .offset = 0, .len = BIG, .iov = &ia,
				   .iovcnt = 1, .done = on_done, .opaque = &res[0] };
	ck_assert_int_eq(submit(b, &ra), 0);
	wait_for(first + 1);
	ck_assert_int_eq(res[0], 0);
	ck_assert_mem_eq(a, disk, BIG);
	ck_assert_int_eq(stat_of(b, "inline_done"), 1);

	/* Two at once: the first is lone, the second is not. */
	memset(a, 0, BIG);
	rc = (struct blk_request){ .op = BLK_OP_READ, .offset = BIG, .len = BIG, .iov = &ic,
				   .iovcnt = 1, .done = on_done, .opaque = &res[1] };
	ck_assert_int_eq(submit(b, &ra), 0);
	ck_assert_int_eq(submit(b, &rc), 0);
	wait_for(first + 3);
	ck_assert_int_eq(res[0], 0);
	ck_assert_int_eq(res[1], 0);
	ck_assert_mem_eq(a, disk, BIG);
	ck_assert_mem_eq(c, disk + BIG, BIG);
	ck_assert_int_eq(stat_of(b, "inline_done"), 2);

	/* Writes: a lone one on the loop; of two at once, at most the first
	 * by a plain pwritev. */
	memset(w, 0x5c, sizeof(w));
	for (int i = 0; i < 2; i++)
		wr[i] = (struct blk_request){ .op = BLK_OP_WRITE, .offset = (uint64_t)i * 8192,
					      .len = 4096, .iov = &iw[i], .iovcnt = 1,
					      .done = on_done, .opaque = &res[2 + i] };
	ck_assert_int_eq(submit(b, &wr[0]), 0);
	wait_for(first + 4);
	ck_assert_int_eq(res[2], 0);
	ck_assert_int_eq(stat_of(b, "inline_done"), 3);
	blocking = stat_of(b, "inline_blocking");
	ck_assert_int_le(blocking, 1);
	ck_assert_int_eq(submit(b, &wr[0]), 0);
	ck_assert_int_eq(submit(b, &wr[1]), 0);
	wait_for(first + 6);
	ck_assert_int_eq(res[2], 0);
	ck_assert_int_eq(res[3], 0);
	ck_assert_int_le(stat_of(b, "inline_blocking"), blocking + 1);
	ck_assert_int_eq(stat_of(b, "in_flight"), 0);
	blk_close(b);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, a, 4096, 8192), 4096);
	ck_assert_mem_eq(a, w[1], 4096);
	close(fd);
}
END_TEST

/* Submits a lone write, waits for completion number n, and checks it
 * succeeded and where the inline counters stand after it. */
static void lone_write(struct blk_backend *b, struct blk_request *req, int n, long long done,
		       long long blocking, long long stalls)
{
	ck_assert_int_eq(submit(b, req), 0);
	wait_for(n);
	ck_assert_int_eq(*(int *)req->opaque, 0);
	ck_assert_int_eq(stat_of(b, "inline_done"), done);
	ck_assert_int_eq(stat_of(b, "inline_blocking"), blocking);
	ck_assert_int_eq(stat_of(b, "inline_stalls"), stalls);
}

/* A plain write on the loop that overstays the stall limit turns plain
 * writes off for the backoff (1 s): the next lone write goes to a worker;
 * after the backoff one is done on the loop again.  The limit is set to 0
 * (every plain write "stalls") and RWF_NOWAIT writes off, whatever the
 * file system under the test directory does. */
START_TEST(raw_stalled_plain_write_backs_off)
{
	enum { BIG = 1 << 20 };
	static uint8_t w[3][BIG], back[BIG];
	struct blk_request wr[3];
	struct iovec iw[3];
	int res[3], fd, first = completions;
	char path[128];
	struct blk_backend *b;

	snprintf(path, sizeof(path), "%s/stall.raw", dir);
	memset(back, 0, sizeof(back));
	write_file(path, back, sizeof(back));
	b = open_raw(path, false, BLK_CACHE_WRITEBACK, false);
	blk_raw_test_set(b, 0, true);
	for (int i = 0; i < 3; i++) {
		memset(w[i], 0xa0 + i, BIG);
		iw[i] = (struct iovec){ w[i], BIG };
		res[i] = 1;
		wr[i] = (struct blk_request){ .op = BLK_OP_WRITE, .offset = 0, .len = BIG,
					      .iov = &iw[i], .iovcnt = 1, .done = on_done,
					      .opaque = &res[i] };
	}

	/* Lone and whole: on the loop, and a stall. */
	lone_write(b, &wr[0], first + 1, 1, 1, 1);
	/* Within the backoff: a worker writes it. */
	lone_write(b, &wr[1], first + 2, 1, 1, 1);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, back, BIG, 0), BIG);
	ck_assert_mem_eq(back, w[1], BIG);

	/* After it, with a limit no write reaches: on the loop again. */
	blk_raw_test_set(b, UINT64_MAX, true);
	usleep(1100 * 1000);
	lone_write(b, &wr[2], first + 3, 2, 2, 1);
	blk_close(b);
	ck_assert_int_eq(pread(fd, back, BIG, 0), BIG);
	ck_assert_mem_eq(back, w[2], BIG);
	close(fd);
}
END_TEST

/* blk.h's guest memory contract: after blk_cancel() returns, the request's
 * buffer never changes again.  Six slow reads on four workers: the last two
 * are still queued and are cancelled without being read; the first four are
 * inside their (slowed) system call and blk_cancel waits for them. */
START_TEST(raw_cancel_keeps_guest_memory)
{
	enum { N = 6 };
	static uint8_t buf[N][4096], snap[N][4096];
	struct blk_request req[N];
	struct iovec iov[N];
	uint8_t disk[4096];
	char path[128];
	int res[N], fd, waited = 0;
	struct blk_backend *b;

	snprintf(path, sizeof(path), "%s/disk.raw", dir);
	make_file(path, N * 4096);
	memset(disk, 0xAB, sizeof(disk));
	fd = open(path, O_WRONLY);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(pwrite(fd, disk, sizeof(disk), i * 4096), 4096);
	close(fd);
	b = open_raw(path, false, BLK_CACHE_WRITEBACK, false);
	ck_assert_int_eq(fault_arm("blk.delay", 0, 0), 0);
	for (int i = 0; i < N; i++) {
		memset(buf[i], 0x5A, sizeof(buf[i]));
		iov[i] = (struct iovec){ buf[i], 4096 };
		res[i] = 1;
		req[i] = (struct blk_request){ .op = BLK_OP_READ, .offset = (uint64_t)i * 4096,
					       .len = 4096, .iov = &iov[i], .iovcnt = 1,
					       .done = on_done, .opaque = &res[i] };
		ck_assert_int_eq(submit(b, &req[i]), 0);
	}
	fault_disarm_all();
	/* Let the workers take 0..3 (in order: 4 and 5 then wait 2 s behind
	 * them, whatever the machine's load). */
	usleep(300 * 1000);
	for (int i = N - 1; i >= 0; i--) {
		blk_cancel(b, &req[i]);
		memcpy(snap[i], buf[i], sizeof(buf[i]));
	}
	ck_assert_int_eq(completions, 0);     /* done() never inside blk_cancel */
	wait_for(N);
	for (int i = 0; i < N; i++) {
		ck_assert_msg(!memcmp(snap[i], buf[i], sizeof(buf[i])),
			      "request %d's buffer changed after blk_cancel returned", i);
		/* Cancelled before it started, and untouched; or waited for. */
		if (i >= 4 || res[i] == -ECANCELED) {
			ck_assert_int_eq(res[i], -ECANCELED);
			ck_assert_uint_eq(buf[i][0], 0x5A);
		} else {
			ck_assert_int_eq(res[i], 0);
			ck_assert_uint_eq(buf[i][4095], 0xAB);
			waited++;
		}
	}
	ck_assert_int_gt(waited, 0);   /* the running case was exercised */
	blk_close(b);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, raw_parallel_requests_land_exactly);
	tcase_add_test(tc, raw_submit_rejects_bad_requests);
	tcase_add_test(tc, raw_read_past_eof_is_zero_filled);
	tcase_add_test(tc, raw_discard_punches_holes);
	tcase_add_test(tc, raw_flush_and_unsafe);
	tcase_add_test(tc, raw_direct_on_disk_and_tmpfs);
	tcase_add_test(tc, raw_close_completes_in_flight);
	tcase_add_test(tc, raw_cancel_keeps_guest_memory);
	tcase_add_test(tc, raw_inline_completes_from_the_loop);
	tcase_add_test(tc, raw_lone_requests_on_the_loop);
	tcase_add_test(tc, raw_stalled_plain_write_backs_off);
	tcase_add_test(tc, open_errors_name_the_file);
	tcase_add_test(tc, config_from_json_names_keys);
}

int main(void)
{
	return run_suite("blk", add_tests);
}
