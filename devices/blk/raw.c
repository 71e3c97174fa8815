/* SPDX-License-Identifier: MIT */
/*
 * Raw backend: a file or a block device, served by a few worker threads
 * doing preadv/pwritev/fdatasync/fallocate directly on the caller's iovecs.
 *
 *   loop thread                         worker threads (RAW_WORKERS)
 *   blk_submit -> raw_submit:
 *     lock; append to `todo`; signal --> wait on cond; pop from `todo`
 *                                        do the syscall(s), no lock held
 *     raw_on_eventfd <-- eventfd write <-- lock; append to `done`; unlock
 *     lock; take all of `done`; unlock
 *     blk_complete() each (outside the lock, so done() may resubmit)
 *
 * Completions therefore always run on the loop thread and never inside
 * blk_submit.  The eventfd is written after the request is on `done`, and
 * the loop reads (resets) it before taking the list, so a wake-up is never
 * lost: a request appended after the take leaves the counter non-zero.
 * Only the append that makes `done` non-empty writes it: a later append
 * finds the list not yet taken, so the loop, which takes it after its
 * read, gets that request too (one eventfd write and one loop wake-up per
 * batch, not per request).
 *
 * The inline path.  A READ or WRITE through the page cache (not cache=none)
 * of at most RAW_INLINE_MAX bytes is first tried on the loop thread with
 * preadv2/pwritev2(RWF_NOWAIT), which moves the data only if it can do so
 * without blocking (the pages are cached; for writes, the filesystem
 * supports non-blocking buffered writes) and fails with EAGAIN otherwise.
 * A request done that way is FINISHED before blk_submit returns and goes
 * on `idone`, a list only the loop touches, whose completions a libevent
 * event activated in the same loop iteration runs (blk.h: done() never
 * inside blk_submit).  What the inline try does not finish completely goes
 * to the workers unchanged and is done again from its start: a read
 * re-reads, a write re-writes the same bytes (`inline_missed` counts these:
 * how often the host's page cache did not hold what the guest asked for).  This saves two thread
 * hand-offs (loop -> worker -> loop) per request, which on a loaded
 * machine are most of a cached request's latency.
 *
 * A lone request (nothing else in flight on this disk: a guest at queue
 * depth 1) is tried inline up to RAW_LONE_MAX, so a 1 MiB read or write at
 * queue depth 1 skips the hand-offs too; with others in flight, large
 * transfers stay on the workers, which copy them side by side.  A file
 * system that refuses RWF_NOWAIT for buffered writes (ext4 up to at least
 * Linux 6.18: EOPNOTSUPP) gets a lone write done with a plain pwritev on
 * the loop.  That is a copy into the page cache (about 200 us for 1 MiB
 * here) unless the kernel makes the writer wait: dirty-page throttling
 * (balance_dirty_pages pauses up to 200 ms), a journal commit.  The loop
 * serves every channel, so a plain write that holds it past RAW_STALL_NS
 * counts in `inline_stalls` and turns plain writes off for a backoff that
 * starts at 1 s and doubles with each stall in a row (to 64 s); a plain
 * write under the limit after a backoff resets it.  Sustained throttling
 * thus costs the loop one stall per backoff, while the workers, which the
 * kernel may pause as long as it likes, carry the writes.
 *
 * Cancelling (blk.h's guest memory contract).  A request is QUEUED on
 * `todo`, RUNNING in a worker (the only state in which its iovecs are
 * used: the system call, and the bounce copy for O_DIRECT), then FINISHED
 * on `done`.  raw_cancel takes a QUEUED request off `todo` and finishes it
 * with -ECANCELED; for a RUNNING one it waits on `finished` until the
 * worker is through with it.  Workers never copy into guest memory after
 * FINISHED, so that is the whole promise.
 *
 * Files are sparse-friendly: DISCARD punches holes (FALLOC_FL_PUNCH_HOLE |
 * KEEP_SIZE), so reads of a discarded range return zeroes.  With
 * cache=none the file is opened O_DIRECT; buffers that are not 512-aligned
 * go through an aligned bounce buffer (the only copy this backend makes).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/blk/blk_internal.h"

#define RAW_WORKERS 4
/* Largest transfer tried inline.  Small requests are all hand-off cost and
 * gain most (4 KiB random reads: 1.7x at queue depth 1, 2.4x at 32, in
 * tests/guest/bench-guest.sh); whole 256 KiB SRBs (1 MiB sequential reads
 * in four) were 0.84x and 0.67x inline: copied one after the other on the
 * loop, they delay every completion behind them, where the workers copy
 * them side by side and complete each as it is done. */
#define RAW_INLINE_MAX (64u << 10)
/* Largest lone read tried inline (the file comment): one SRB of the
 * default max_transfer_bytes.  Inline, a 1 MiB read at queue depth 1 went
 * from 0.7x to 0.9x virtio-blk (README, "Storage"). */
#define RAW_LONE_MAX (1u << 20)
/* A plain write on the loop longer than this stalled it (file comment):
 * fifty times the copy of a whole RAW_LONE_MAX write on these machines,
 * and past a scheduler slice (3 ms), so that being preempted by the
 * guest's vCPU threads on a busy host is not taken for a stall (a 2 ms
 * limit tripped once in a bench run that way). */
#define RAW_STALL_NS (10u * 1000 * 1000)
#define RAW_BACKOFF_MIN_NS (1000ull * 1000 * 1000)
#define RAW_BACKOFF_MAX_NS (64ull * 1000 * 1000 * 1000)
#define RAW_DIO_ALIGN 4096u      /* bounce-buffer alignment: fits any logical block size */
#define RAW_ZERO_CHUNK (1u << 20)

enum raw_state { RAW_QUEUED = 0, RAW_RUNNING, RAW_FINISHED };

struct raw {
	int fd;
	int efd;                 /* completion eventfd, read by the loop */
	bool direct;             /* O_DIRECT */
	bool unsafe;             /* FLUSH is a no-op */
	bool is_blockdev;
	struct event *ev;
	pthread_t workers[RAW_WORKERS];
	int nworkers;
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* work on `todo`, or stop */
	pthread_cond_t finished; /* a RUNNING request became FINISHED */
	bool stop;               /* workers exit once `todo` is empty */
	struct blk_request *todo_head, **todo_tail;
	struct blk_request *done_head, **done_tail;
	/* The inline path (loop thread only, no lock). */
	struct event *inline_ev; /* activated to run `idone`'s completions */
	struct blk_request *idone_head, **idone_tail;
	bool nowait_read_off;    /* RWF_NOWAIT refused: stop trying */
	bool nowait_write_off;
	uint64_t stall_ns;       /* RAW_STALL_NS (blk_raw_test_set) */
	uint64_t plain_after_ns; /* no plain write on the loop before this (now_ns) */
	uint64_t backoff_ns;     /* the next stall's backoff */
};

/* ---- the system calls (worker threads) ---------------------------------- */

/* Reads or writes len bytes at off from/to iov[] starting at byte `skip`,
 * one element at a time; used after a short transfer. */
static int raw_rw_rest(struct raw *r, bool is_write, const struct iovec *iov, int iovcnt,
		       uint64_t skip, uint64_t off)
{
	for (int i = 0; i < iovcnt; i++) {
		char *p = iov[i].iov_base;
		size_t n = iov[i].iov_len;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		p += skip;
		n -= skip;
		skip = 0;
		while (n) {
			ssize_t got = is_write ? pwrite(r->fd, p, n, (off_t)off)
					    : pread(r->fd, p, n, (off_t)off);
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0)
				return -errno;
			if (got == 0) {
				if (is_write)
					return -EIO;
				/* Past the end of the file (it shrank): zeroes. */
				memset(p, 0, n);
				got = (ssize_t)n;
			}
			p += got;
			n -= (size_t)got;
			off += (uint64_t)got;
		}
	}
	return 0;
}

static int raw_rw(struct raw *r, bool is_write, const struct iovec *iov, int iovcnt, uint64_t off,
		  uint64_t len)
{
	ssize_t got;

	if (len == 0)
		return 0;
	do {
		got = is_write ? pwritev(r->fd, iov, MIN(iovcnt, IOV_MAX), (off_t)off)
			    : preadv(r->fd, iov, MIN(iovcnt, IOV_MAX), (off_t)off);
	} while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	if ((uint64_t)got == len)
		return 0;
	/* Short transfer (end of file, signal, IOV_MAX): finish it piecewise. */
	return raw_rw_rest(r, is_write, iov, iovcnt, (uint64_t)got, off + (uint64_t)got);
}

static bool raw_iov_aligned(const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++)
		if ((uintptr_t)iov[i].iov_base % BLK_SECTOR_SIZE || iov[i].iov_len % BLK_SECTOR_SIZE)
			return false;
	return true;
}

/* O_DIRECT with a buffer the kernel refuses: copy through an aligned one. */
static int raw_rw_bounce(struct raw *r, bool is_write, const struct blk_request *req)
{
	struct iovec one;
	uint64_t pos = 0;
	char *buf;
	int rc;

	if (posix_memalign((void **)&buf, RAW_DIO_ALIGN, MAX(req->len, RAW_DIO_ALIGN)))
		return -ENOMEM;
	if (is_write)
		for (int i = 0; i < req->iovcnt; pos += req->iov[i].iov_len, i++)
			memcpy(buf + pos, req->iov[i].iov_base, req->iov[i].iov_len);
	one = (struct iovec){ buf, req->len };
	rc = raw_rw(r, is_write, &one, 1, req->offset, req->len);
	if (!is_write && rc == 0)
		for (int i = 0; i < req->iovcnt; pos += req->iov[i].iov_len, i++)
			memcpy(req->iov[i].iov_base, buf + pos, req->iov[i].iov_len);
	free(buf);
	return rc;
}

static int raw_write_zero_buffer(struct raw *r, uint64_t off, uint64_t len)
{
	size_t chunk = (size_t)MIN(len, RAW_ZERO_CHUNK);
	char *buf;
	int rc = 0;

	if (posix_memalign((void **)&buf, RAW_DIO_ALIGN, ALIGN_UP(chunk, RAW_DIO_ALIGN)))
		return -ENOMEM;
	memset(buf, 0, chunk);
	while (len && rc == 0) {
		struct iovec one = { buf, (size_t)MIN(len, chunk) };

		rc = raw_rw(r, true, &one, 1, off, one.iov_len);
		off += one.iov_len;
		len -= one.iov_len;
	}
	free(buf);
	return rc;
}

static int raw_fallocate(struct raw *r, int mode, uint64_t off, uint64_t len)
{
	int rc;

	do
		rc = fallocate(r->fd, mode, (off_t)off, (off_t)len);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : 0;
}

static int raw_do(struct raw *r, struct blk_request *req)
{
	bool is_write = req->op == BLK_OP_WRITE;
	int rc;

	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		if (r->direct && !raw_iov_aligned(req->iov, req->iovcnt))
			return raw_rw_bounce(r, is_write, req);
		rc = raw_rw(r, is_write, req->iov, req->iovcnt, req->offset, req->len);
		if (rc == -EINVAL && r->direct)   /* the device wants more alignment */
			rc = raw_rw_bounce(r, is_write, req);
		return rc;
	case BLK_OP_FLUSH:
		if (r->unsafe)
			return 0;
		do
			rc = fdatasync(r->fd);
		while (rc < 0 && errno == EINTR);
		return rc < 0 ? -errno : 0;
	case BLK_OP_DISCARD:
		if (req->len == 0)
			return 0;
		/* A hole reads as zeroes (on a block device the kernel turns
		 * this into a zeroing discard).  Where holes are not possible
		 * the range is zeroed instead: blk_info promises
		 * zero_after_discard for raw. */
		rc = raw_fallocate(r, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, req->offset, req->len);
		if (rc != -EOPNOTSUPP)
			return rc;
		/* fall through */
	case BLK_OP_WRITE_ZEROES:
		if (req->len == 0)
			return 0;
		rc = raw_fallocate(r, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, req->offset, req->len);
		if (rc == -EOPNOTSUPP || rc == -EINVAL || rc == -ENODEV)
			rc = raw_write_zero_buffer(r, req->offset, req->len);
		return rc;
	}
	return -EINVAL;
}

/* Puts req on `done` and wakes the loop if the list was empty; under
 * r->lock. */
static void raw_finish_locked(struct raw *r, struct blk_request *req)
{
	bool was_empty = r->done_head == NULL;
	uint64_t one = 1;

	req->state_ = RAW_FINISHED;
	req->next_ = NULL;
	*r->done_tail = req;
	r->done_tail = &req->next_;
	/* Pairs with the read in raw_drain: see the file comment. */
	if (was_empty && write(r->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("blk: raw: eventfd write: %s", strerror(errno));
}

static void *raw_worker(void *arg)
{
	struct raw *r = arg;
	struct blk_request *req;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->todo_head && !r->stop)
			pthread_cond_wait(&r->cond, &r->lock);
		if (!r->todo_head)
			break;
		req = r->todo_head;
		r->todo_head = req->next_;
		if (!r->todo_head)
			r->todo_tail = &r->todo_head;
		req->state_ = RAW_RUNNING;
		pthread_mutex_unlock(&r->lock);

		if (req->slow_) { /* the "blk.delay" test hook: a slow disk */
			struct timespec ts = { BLK_FAULT_DELAY_MS / 1000,
					       (BLK_FAULT_DELAY_MS % 1000) * 1000000L };

			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
		req->result_ = raw_do(r, req);

		pthread_mutex_lock(&r->lock);
		raw_finish_locked(r, req);
		pthread_cond_broadcast(&r->finished);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* ---- the loop side -------------------------------------------------------- */

static void raw_drain(struct blk_backend *b)
{
	struct raw *r = b->impl;
	struct blk_request *list, *next;
	uint64_t cnt;

	if (read(r->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_error("blk: raw: eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&r->lock);
	list = r->done_head;
	r->done_head = NULL;
	r->done_tail = &r->done_head;
	pthread_mutex_unlock(&r->lock);
	for (; list; list = next) {
		next = list->next_;
		blk_complete(b, list, list->result_);
	}
}

/* Completions of requests finished inline.  The list is taken whole first:
 * a done() that submits again appends to a fresh list and re-activates the
 * event, so this never loops on its own additions. */
static void raw_drain_inline(struct blk_backend *b)
{
	struct raw *r = b->impl;
	struct blk_request *list = r->idone_head, *next;

	r->idone_head = NULL;
	r->idone_tail = &r->idone_head;
	for (; list; list = next) {
		next = list->next_;
		blk_complete(b, list, list->result_);
	}
}

static void raw_on_eventfd(evutil_socket_t fd, short what, void *arg)
{
	raw_drain(arg);
}

static void raw_on_inline(evutil_socket_t fd, short what, void *arg)
{
	raw_drain_inline(arg);
}

/* After a plain write on the loop that began at t0: a stall turns plain
 * writes off for the backoff, which doubles; a quick one resets it. */
static void raw_note_plain_write(struct blk_backend *b, struct raw *r, uint64_t t0)
{
	uint64_t t1 = now_ns();

	if (t1 - t0 <= r->stall_ns) {
		r->backoff_ns = RAW_BACKOFF_MIN_NS;
		return;
	}
	b->inline_stalls++;
	r->plain_after_ns = t1 + r->backoff_ns;
	/* At most one line per backoff (>= 1 s): rate-limited by design. */
	log_warn("%s: a write on the loop took %" PRIu64 " us (the host is throttling "
		 "writes?): lone writes go to the workers for %" PRIu64 " s", b->path,
		 (t1 - t0) / 1000, r->backoff_ns / 1000000000);
	r->backoff_ns = MIN(r->backoff_ns * 2, RAW_BACKOFF_MAX_NS);
}

/* The inline try (file comment): true when req is FINISHED and on `idone`. */
static bool raw_try_inline(struct blk_backend *b, struct raw *r, struct blk_request *req)
{
	bool is_write = req->op == BLK_OP_WRITE, lone = b->in_flight == 0;
	bool *nowait_off = is_write ? &r->nowait_write_off : &r->nowait_read_off;
	ssize_t got = -1;
	uint64_t t0;

	if ((req->op != BLK_OP_READ && !is_write) || r->direct || req->slow_ ||
	    req->len == 0 || req->iovcnt > IOV_MAX ||
	    req->len > (lone ? RAW_LONE_MAX : RAW_INLINE_MAX))
		return false;
	if (!*nowait_off) {
		got = is_write ? pwritev2(r->fd, req->iov, req->iovcnt, (off_t)req->offset, RWF_NOWAIT)
			       : preadv2(r->fd, req->iov, req->iovcnt, (off_t)req->offset, RWF_NOWAIT);
		/* EOPNOTSUPP: this file (system) has no non-blocking path. */
		*nowait_off = got < 0 && errno == EOPNOTSUPP;
	}
	if (*nowait_off) {
		/* No RWF_NOWAIT: only a lone write is done here, plainly, and
		 * not while a stall's backoff lasts (file comment). */
		if (!is_write || !lone || (t0 = now_ns()) < r->plain_after_ns)
			return false;
		got = pwritev(r->fd, req->iov, req->iovcnt, (off_t)req->offset);
		b->inline_blocking++;
		raw_note_plain_write(b, r, t0);
	}
	/* EAGAIN (not cached), a short transfer (partly cached, or the end
	 * of a shrunk file), EINTR, a real error: the worker does it all
	 * and reports what the blocking call says. */
	if (got < 0 || (uint64_t)got != req->len) {
		b->inline_missed++;
		return false;
	}
	req->result_ = 0;
	req->state_ = RAW_FINISHED;
	req->next_ = NULL;
	*r->idone_tail = req;
	r->idone_tail = &req->next_;
	b->inline_done++;
	event_active(r->inline_ev, EV_READ, 0);
	return true;
}

static int raw_submit(struct blk_backend *b, struct blk_request *req)
{
	struct raw *r = b->impl;

	if (raw_try_inline(b, r, req))
		return 0;
	pthread_mutex_lock(&r->lock);
	*r->todo_tail = req;
	r->todo_tail = &req->next_;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void raw_cancel(struct blk_backend *b, struct blk_request *req)
{
	struct raw *r = b->impl;

	pthread_mutex_lock(&r->lock);
	if (req->state_ == RAW_QUEUED) {
		struct blk_request **pp = &r->todo_head;

		while (*pp != req)
			pp = &(*pp)->next_;
		*pp = req->next_;
		if (r->todo_tail == &req->next_)
			r->todo_tail = pp;
		req->result_ = -ECANCELED;
		raw_finish_locked(r, req);
	}
	/* Its system call is running: a worker may be writing into the
	 * guest's pages right now.  Wait, as Hyper-V's close does. */
	while (req->state_ == RAW_RUNNING)
		pthread_cond_wait(&r->finished, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

static int raw_size_of(int fd, bool *is_blockdev, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*is_blockdev = S_ISBLK(st.st_mode);
	if (*is_blockdev)
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int raw_get_size(struct blk_backend *b, uint64_t *size)
{
	struct raw *r = b->impl;
	bool blockdev;

	return raw_size_of(r->fd, &blockdev, size);
}

static void raw_free(struct raw *r)
{
	if (r->ev)
		event_free(r->ev);
	if (r->inline_ev)
		event_free(r->inline_ev);
	if (r->efd >= 0)
		close(r->efd);
	if (r->fd >= 0)
		close(r->fd);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	pthread_cond_destroy(&r->finished);
	free(r);
}

static void raw_stop_workers(struct raw *r)
{
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	for (int i = 0; i < r->nworkers; i++)
		pthread_join(r->workers[i], NULL);
	r->nworkers = 0;
}

static void raw_close(struct blk_backend *b)
{
	struct raw *r = b->impl;

	/* Workers finish everything queued before they exit; then the
	 * remaining completions run here, on the loop thread. */
	raw_stop_workers(r);
	raw_drain(b);
	raw_drain_inline(b);
	raw_free(r);
	b->impl = NULL;
}

static const struct blk_ops raw_ops = {
	.submit = raw_submit,
	.get_size = raw_get_size,
	.close = raw_close,
	.cancel = raw_cancel,
};

/* Some filesystems accept O_DIRECT at open and refuse it at the first I/O:
 * read one aligned block so that cache=none fails at open, clearly. */
static int raw_probe_direct(struct raw *r, uint64_t size)
{
	void *buf;
	ssize_t n;
	int rc = 0;

	if (size < RAW_DIO_ALIGN)
		return 0;
	if (posix_memalign(&buf, RAW_DIO_ALIGN, RAW_DIO_ALIGN))
		return -ENOMEM;
	n = pread(r->fd, buf, RAW_DIO_ALIGN, 0);
	if (n < 0)
		rc = -errno;
	free(buf);
	return rc;
}

void blk_raw_test_set(struct blk_backend *b, uint64_t stall_ns, bool no_nowait_writes)
{
	struct raw *r = b->impl;

	r->stall_ns = stall_ns;
	r->nowait_write_off = r->nowait_write_off || no_nowait_writes;
}

int blk_raw_open(struct blk_backend *b, const struct blk_config *cfg, struct json_err *err)
{
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct raw *r;
	uint64_t size;
	int rc;

	r = calloc(1, sizeof(*r));
	if (!r)
		return blk_errf(err, -ENOMEM, "%s: out of memory", cfg->path);
	r->fd = r->efd = -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	pthread_cond_init(&r->finished, NULL);
	r->todo_tail = &r->todo_head;
	r->done_tail = &r->done_head;
	r->idone_tail = &r->idone_head;
	r->direct = cfg->cache == BLK_CACHE_NONE;
	r->unsafe = cfg->cache == BLK_CACHE_UNSAFE;
	r->stall_ns = RAW_STALL_NS;
	r->backoff_ns = RAW_BACKOFF_MIN_NS;

	r->fd = open(cfg->path, flags | (r->direct ? O_DIRECT : 0));
	if (r->fd < 0 && r->direct && errno == EINVAL) {
		rc = blk_errf(err, -EINVAL, "%s: the filesystem refuses O_DIRECT (cache \"none\"); "
			      "use cache \"writeback\"", cfg->path);
		goto fail;
	}
	if (r->fd < 0) {
		rc = -errno;
		blk_errf(err, rc, "%s: %s", cfg->path, strerror(-rc));
		goto fail;
	}
	rc = raw_size_of(r->fd, &r->is_blockdev, &size);
	if (rc < 0) {
		blk_errf(err, rc, "%s: %s", cfg->path,
			 rc == -EINVAL ? "not a regular file or block device" : strerror(-rc));
		goto fail;
	}
	if (r->direct && (rc = raw_probe_direct(r, size)) < 0) {
		blk_errf(err, rc, "%s: O_DIRECT read failed (%s): the filesystem does not support "
			 "cache \"none\"; use cache \"writeback\"", cfg->path, strerror(-rc));
		goto fail;
	}
	if (size % BLK_SECTOR_SIZE)
		log_warn("blk: %s: size %llu is not a multiple of %u; the tail is not visible",
			 cfg->path, (unsigned long long)size, BLK_SECTOR_SIZE);
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		rc = -errno;
		blk_errf(err, rc, "%s: eventfd: %s", cfg->path, strerror(-rc));
		goto fail;
	}
	r->ev = event_new(b->base, r->efd, EV_READ | EV_PERSIST, raw_on_eventfd, b);
	r->inline_ev = event_new(b->base, -1, 0, raw_on_inline, b);
	if (!r->ev || !r->inline_ev || event_add(r->ev, NULL) < 0) {
		rc = blk_errf(err, -ENOMEM, "%s: cannot register the completion event", cfg->path);
		goto fail;
	}
	for (; r->nworkers < RAW_WORKERS; r->nworkers++) {
		rc = -pthread_create(&r->workers[r->nworkers], NULL, raw_worker, r);
		if (rc < 0) {
			blk_errf(err, rc, "%s: worker thread: %s", cfg->path, strerror(-rc));
			raw_stop_workers(r);
			goto fail;
		}
	}
	b->impl = r;
	b->ops = &raw_ops;
	b->info.size = size - size % BLK_SECTOR_SIZE;
	b->info.readonly = cfg->readonly;
	b->info.discard = cfg->discard && !cfg->readonly;
	b->info.write_cache = !r->unsafe;
	b->info.zero_after_discard = true;   /* holes read as zeroes */
	return 0;
fail:
	raw_free(r);
	return rc;
}
