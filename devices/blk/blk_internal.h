/* SPDX-License-Identifier: MIT */
/* Shared between blk.c (the front of every backend) and the backends. */
#ifndef VMBUSD_DEVICES_BLK_INTERNAL_H
#define VMBUSD_DEVICES_BLK_INTERNAL_H

#include <event2/event.h>

#include "core/stats.h"
#include "devices/blk/blk.h"

struct blk_backend;

struct blk_ops {
	/* The request is already validated (alignment, range, iov total,
	 * read-only, discard).  0 or -errno; done via blk_complete(). */
	int (*submit)(struct blk_backend *b, struct blk_request *req);
	/* New size in bytes into *size, or -errno. */
	int (*get_size)(struct blk_backend *b, uint64_t *size);
	/* Finish every in-flight request (each through blk_complete), then
	 * free the backend's own state (not b). */
	void (*close)(struct blk_backend *b);
	/* blk_cancel(): req is in flight and not cancelled yet. */
	void (*cancel)(struct blk_backend *b, struct blk_request *req);
};

/* The backend's counters (core/stats.h), reported by blk_stats(). */
#define BLK_STATS(X)                                                              \
	X(reads, "READ requests accepted")                                        \
	X(writes, "WRITE requests accepted")                                      \
	X(flushes, "FLUSH requests accepted")                                     \
	X(discards, "DISCARD requests accepted")                                  \
	X(write_zeroes, "WRITE_ZEROES requests accepted")                         \
	X(errors, "requests that completed with an error")                        \
	X(refused, "requests refused at submission (range, alignment, read-only)") \
	X(cancelled, "requests whose guest memory was taken back (blk_cancel)")   \
	X(inline_done, "raw: requests finished on the loop thread")               \
	X(inline_blocking, "raw: lone writes done by a plain pwritev on the loop") \
	X(inline_missed, "raw: inline tries the page cache could not finish (to the workers)") \
	X(inline_stalls, "raw: plain writes that held the loop past 10 ms (then a backoff)")

struct blk_backend {
	const struct blk_ops *ops;
	struct event_base *base;
	struct blk_info info;
	char format[16];
	char *path;
	bool closing;
	void *impl;              /* the backend's state */
	uint64_t in_flight;
	STATS_FIELDS(BLK_STATS)
};

/* Tests: the raw backend's stall limit in ns (RAW_STALL_NS by default),
 * and RWF_NOWAIT writes off, so lone writes take the plain path. */
void blk_raw_test_set(struct blk_backend *b, uint64_t stall_ns, bool no_nowait_writes);

/* Called by backends on the loop thread when a request finished. */
void blk_complete(struct blk_backend *b, struct blk_request *req, int result);

/* Backends.  Each fills b->info (not format), b->ops and b->impl. */
int blk_raw_open(struct blk_backend *b, const struct blk_config *cfg, struct json_err *err);
/* Image formats through qemu-storage-daemon + NBD; -ENOTSUP without libnbd. */
int blk_nbd_open(struct blk_backend *b, const struct blk_config *cfg, const char *format,
		 struct json_err *err);
/* "auto": asks `qemu-img info` for the format name; 0 or -errno with err. */
int blk_probe_format(const char *path, char *format, size_t size, struct json_err *err);

/* Writes "fmt..." into err (when not NULL) and returns rc (a -errno). */
int blk_errf(struct json_err *err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Runs argv (argv[0] looked up in PATH) with stdin from /dev/null, collects
 * up to size-1 bytes of its stdout+stderr (NUL-terminated) and returns its
 * exit status (0..255), or -errno when it could not run. */
int blk_run_capture(char *const argv[], char *out, size_t size);

/* Bytes described by an iovec array, or UINT64_MAX on overflow. */
uint64_t blk_iov_total(const struct iovec *iov, int iovcnt);

#endif
