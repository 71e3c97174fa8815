/* SPDX-License-Identifier: MIT */
/*
 * Block backends: what a storage frontend (storvsp via the SCSI target in
 * devices/scsi/) reads and writes without knowing whether the disk is a raw
 * file, a block device, or an image format served by qemu-storage-daemon.
 * Modelled on bhyve's block_if.h: an opaque context and a request that
 * carries iovecs plus a completion callback.
 *
 * Threading contract
 *  - Every function here is called on the event-loop thread, the one that
 *    runs `base` (the one passed to blk_open).
 *  - blk_submit() never calls done() itself: 0 means "accepted, done() will
 *    follow later from the event loop"; a negative errno means "rejected,
 *    done() will NOT be called".  So a caller may submit from inside a
 *    done() callback without recursing.
 *  - done() runs on the event-loop thread, possibly out of submission order.
 *    Many requests may be in flight at once.
 *  - The request (and its iovecs and the memory they point to) belongs to the
 *    backend from a successful blk_submit() until done() is called.
 *  - blk_close() waits for every in-flight request, calls its done() (with
 *    the real result) from inside blk_close(), then frees the backend.
 *
 * Guest memory contract (the iovecs of READ/WRITE point into guest RAM)
 *  - A backend touches req->iov and the memory it describes only between
 *    blk_submit() and either done() or the return of blk_cancel(req),
 *    whichever comes first.  Nothing else: no late copy, no late DMA.
 *  - So a frontend whose guest memory is about to go away (its channel
 *    closes, the guest resets, the frontend detaches, the daemon stops)
 *    calls blk_cancel() on every request it has in flight BEFORE that
 *    memory is unmapped or handed back to the guest.  storvsp does it from
 *    its channel close, which every one of those paths runs first.
 *  - blk_cancel() costs at most the transfer that is already running (a
 *    raw worker inside preadv/pwritev: bounded by the disk's latency, as on
 *    Hyper-V, whose channel close waits for outstanding I/O).  A request not
 *    started yet, or whose data is in the backend's own buffer (NBD), is
 *    let go at once.
 */
#ifndef VMBUSD_DEVICES_BLK_H
#define VMBUSD_DEVICES_BLK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/json.h"

struct event_base;
struct blk_backend;

/* The logical block size every backend exposes; offsets and lengths of
 * every request must be multiples of it. */
#define BLK_SECTOR_SIZE 512u

enum blk_op {
	BLK_OP_READ = 0,         /* iov gets len bytes from offset */
	BLK_OP_WRITE,            /* iov's len bytes go to offset */
	BLK_OP_FLUSH,            /* make completed writes durable; offset/len/iov ignored */
	BLK_OP_DISCARD,          /* deallocate [offset, offset+len); reads return zeroes afterwards */
	BLK_OP_WRITE_ZEROES,     /* [offset, offset+len) reads as zeroes; may deallocate */
};

enum blk_cache {
	BLK_CACHE_WRITEBACK = 0, /* page cache; FLUSH is fdatasync */
	BLK_CACHE_NONE,          /* O_DIRECT (no page cache); FLUSH is still honoured */
	BLK_CACHE_UNSAFE,        /* page cache; FLUSH completes at once without syncing */
};

struct blk_config {
	const char *path;        /* image file or block device (required) */
	const char *format;      /* "raw", "qcow2", "vhdx", "vpc", "vmdk", "vdi", "qed",
	                          * ... or "auto" (probe with qemu-img); NULL = "raw".
	                          * Name the format for images a guest can write: a raw
	                          * disk whose guest wrote a qcow2 header would be
	                          * probed as qcow2 next time (and could name a host
	                          * file as its backing file). */
	bool readonly;
	enum blk_cache cache;
	bool discard;            /* pass guest discards/unmaps to the image */
};

struct blk_info {
	uint64_t size;           /* bytes, a multiple of block_size */
	uint32_t block_size;     /* BLK_SECTOR_SIZE */
	bool readonly;           /* writes, discards and write-zeroes fail with -EROFS */
	bool discard;            /* BLK_OP_DISCARD is accepted */
	bool write_cache;        /* writes are volatile until FLUSH (false for "unsafe",
	                          * where FLUSH is a no-op, so the guest need not send it) */
	const char *format;      /* the resolved format ("raw", "qcow2", ...) */
	const char *path;        /* cfg->path as opened (a copy) */
	bool zero_after_discard; /* a discarded range reads as zeroes (raw: holes) */
};

struct blk_request {
	/* --- filled by the caller --- */
	enum blk_op op;
	uint64_t offset;         /* bytes; multiple of block_size */
	uint64_t len;            /* bytes; multiple of block_size; 0 allowed for READ/WRITE */
	struct iovec *iov;       /* READ/WRITE: total of iov_len == len exactly */
	int iovcnt;
	void (*done)(struct blk_request *req, int result /* 0 or -errno */);
	void *opaque;            /* the caller's; the backend never touches it */
	/* --- private to the backend --- */
	struct blk_request *next_;
	int result_;
	int state_;              /* raw: queued / running / finished */
	bool cancelled_;         /* blk_cancel() ran: the iovecs are off limits */
	bool slow_;              /* the "blk.delay" fault point picked it */
	void *priv_;
};

/* Opens cfg->path as cfg->format.  Errors name the file and the reason
 * (for image formats, what qemu-storage-daemon said) in err.
 * Returns 0 or -errno (-ENOENT, -EACCES, -EINVAL for a bad format, -ENOTSUP
 * when the format needs NBD support that is not compiled in, ...). */
int blk_open(struct event_base *base, const struct blk_config *cfg, struct blk_backend **out,
	     struct json_err *err);

/* 0 = accepted (done() follows from the loop); -EINVAL for a misaligned or
 * out-of-range request or an iov whose total differs from len, -EROFS for a
 * write to a read-only backend, -EOPNOTSUPP for DISCARD when not enabled,
 * -ESHUTDOWN while closing.  On error done() is not called. */
int blk_submit(struct blk_backend *b, struct blk_request *req);

/* Takes req's guest memory back: when this returns, the backend never
 * touches req->iov (or what it points to) again.  A request that has not
 * started completes with -ECANCELED; one whose transfer is running is
 * waited for and completes with its own result; either way done() still
 * follows exactly once, from the loop, never inside this call.  A request
 * already finished (done() pending or run) is left alone.  Loop thread. */
void blk_cancel(struct blk_backend *b, struct blk_request *req);

/* Test hook, a stand-in for a slow disk: while the fault point "blk.delay"
 * (core/fault.h) is armed, each request it picks takes this much longer
 * (raw: before its system call; NBD: before its data is delivered). */
#define BLK_FAULT_DELAY_MS 1000

/* The backend's geometry and abilities (valid until blk_close). */
const struct blk_info *blk_info(const struct blk_backend *b);

/* Re-reads the size (after the image was grown by someone else).
 * Returns 0 when unchanged, 1 when the size changed, or -errno. */
int blk_refresh_size(struct blk_backend *b);

/* Completes every in-flight request (done() runs inside this call), stops
 * any helper process, and frees b.  NULL is a no-op. */
void blk_close(struct blk_backend *b);

/* Counters for a device's stats(): every BLK_STATS counter (blk_internal.h:
 * "reads", "writes", "flushes", "discards", "write_zeroes", "errors",
 * "refused"), then "in_flight", "format", "size", "readonly", "discard".
 * A new object. */
json_t *blk_stats(const struct blk_backend *b);

/* Parses the block keys of a device's JSON object into cfg (strings point
 * into obj):  "path" (required), "format" (default "raw"), "readonly"
 * (false), "cache" ("writeback" | "none" | "unsafe", default "writeback"),
 * "discard" (false).  It does not check for unknown keys (the caller knows
 * its other keys): see BLK_CONFIG_KEYS.  Returns 0 or -EINVAL with err set. */
int blk_config_from_json(const json_t *obj, const char *path, struct blk_config *cfg,
			 struct json_err *err);
#define BLK_CONFIG_KEYS "path", "format", "readonly", "cache", "discard"

#endif
