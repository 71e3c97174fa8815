/* SPDX-License-Identifier: MIT */
/*
 * NBD backend: every image format QEMU knows (qcow2, vhdx, vpc, vmdk, ...)
 * served by a private qemu-storage-daemon (package qemu-system-common) on
 * a Unix socket in a fresh temporary directory, and read with libnbd.
 *
 * Why the libnbd asynchronous API on the event loop rather than a worker
 * thread with the synchronous API: one connection carries many requests in
 * flight (the daemon runs them in parallel), libnbd matches the replies,
 * and its completion callbacks already run on our loop thread, so there is
 * no locking and no thread.  The loop watches nbd_aio_get_fd() for the
 * directions nbd_aio_get_direction() asks for after every libnbd call.
 *
 * Completion callbacks may run inside any libnbd call, including the
 * nbd_aio_* call that blk_submit makes; to keep the blk.h promise (never a
 * completion inside blk_submit) finished requests go on a list that a
 * separate event, made active with event_active(), drains.
 *
 * Every READ and WRITE goes through a bounce buffer of the backend's own
 * (libnbd 1.14 has no iovec calls anyway).  That is what keeps blk.h's
 * guest memory contract without waiting on the daemon: libnbd reads a
 * write's buffer whenever the socket lets it and fills a read's buffer
 * whenever the reply arrives, both long after blk_cancel() may have run,
 * so neither may be guest memory.  Guest pages are touched only in
 * nbd_submit (a write's data in) and nbd_finish (a read's data out, unless
 * the request was cancelled), both on the loop thread.
 * Requests are split into chunks the NBD protocol and QEMU's server accept
 * (32 MiB of data, 1 GiB for trim/zero: lengths are 32-bit on the wire).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/blk/blk_internal.h"

#ifndef HAVE_LIBNBD

int blk_nbd_open(struct blk_backend *b, const struct blk_config *cfg, const char *format,
		 struct json_err *err)
{
	return blk_errf(err, -ENOTSUP, "%s: format \"%s\" needs vmbusd built with libnbd "
			"(libnbd-dev)", cfg->path, format);
}

#else

#include <libnbd.h>

#define NBD_DATA_CHUNK (32ull << 20)
#define NBD_ZERO_CHUNK (1ull << 30)
#define NBD_START_TIMEOUT_MS 15000
#define NBD_CLOSE_TIMEOUT_MS 30000

struct nbd_op {
	struct blk_backend *b;
	struct blk_request *req;
	char *bounce;
	struct event *delay;     /* the "blk.delay" test hook holds the finish */
	unsigned pending;        /* libnbd commands not yet called back */
	int err;
	bool submitting;         /* still issuing chunks: do not finish yet */
	struct nbd_op *prev, *next;   /* all live ops (for close after a dead connection) */
};

struct nbd_be {
	struct nbd_handle *h;
	pid_t pid;
	char dir[64];            /* temporary directory: socket and daemon log */
	struct event *ev_read, *ev_write, *ev_done;
	bool reading, writing;   /* ev_read / ev_write added */
	bool dead;
	bool can_flush, can_trim, can_zero;
	struct nbd_op *live;
	struct blk_request *done_head, **done_tail;
};

/* ---- completions -------------------------------------------------------- */

static void nbd_finish_now(struct nbd_op *op)
{
	struct nbd_be *n = op->b->impl;
	struct blk_request *req = op->req;

	if (op->delay)
		event_free(op->delay);
	/* Cancelled: the guest's pages are off limits (blk.h). */
	if (op->bounce && req->op == BLK_OP_READ && !op->err && !req->cancelled_) {
		uint64_t pos = 0;

		for (int i = 0; i < req->iovcnt; pos += req->iov[i].iov_len, i++)
			memcpy(req->iov[i].iov_base, op->bounce + pos, req->iov[i].iov_len);
	}
	free(op->bounce);
	if (op->prev)
		op->prev->next = op->next;
	else
		n->live = op->next;
	if (op->next)
		op->next->prev = op->prev;
	req->result_ = op->err;
	req->priv_ = NULL;
	req->next_ = NULL;
	free(op);
	*n->done_tail = req;
	n->done_tail = &req->next_;
	event_active(n->ev_done, EV_TIMEOUT, 0);
}

static void nbd_on_delay(evutil_socket_t fd, short what, void *arg)
{
	nbd_finish_now(arg);
}

/* A request picked by the "blk.delay" fault point is held back: its data
 * reaches the guest BLK_FAULT_DELAY_MS later, as from a slow disk. */
static void nbd_finish(struct nbd_op *op)
{
	static const struct timeval tv = { BLK_FAULT_DELAY_MS / 1000,
					   (BLK_FAULT_DELAY_MS % 1000) * 1000 };

	if (op->req->slow_ && !op->delay && !op->b->closing) {
		op->delay = evtimer_new(op->b->base, nbd_on_delay, op);
		if (op->delay && evtimer_add(op->delay, &tv) == 0)
			return;
	}
	nbd_finish_now(op);
}

/* libnbd's completion callback: on the loop thread, maybe inside nbd_aio_*. */
static int nbd_on_reply(void *user_data, int *error)
{
	struct nbd_op *op = user_data;

	if (*error && !op->err)
		op->err = -*error;
	if (--op->pending == 0 && !op->submitting)
		nbd_finish(op);
	return 1;   /* retire the command */
}

static void nbd_drain(struct blk_backend *b)
{
	struct nbd_be *n = b->impl;
	struct blk_request *list = n->done_head, *next;

	n->done_head = NULL;
	n->done_tail = &n->done_head;
	for (; list; list = next) {
		next = list->next_;
		blk_complete(b, list, list->result_);
	}
}

static void nbd_on_done(evutil_socket_t fd, short what, void *arg)
{
	nbd_drain(arg);
}

/* ---- the socket ----------------------------------------------------------- */

static void nbd_update_events(struct nbd_be *n)
{
	unsigned dir = n->dead ? 0 : nbd_aio_get_direction(n->h);
	bool want_read = dir & LIBNBD_AIO_DIRECTION_READ;
	bool want_write = dir & LIBNBD_AIO_DIRECTION_WRITE;

	if (want_read != n->reading) {
		want_read ? event_add(n->ev_read, NULL) : event_del(n->ev_read);
		n->reading = want_read;
	}
	if (want_write != n->writing) {
		want_write ? event_add(n->ev_write, NULL) : event_del(n->ev_write);
		n->writing = want_write;
	}
}

static void nbd_connection_lost(struct nbd_be *n)
{
	if (!n->dead)
		log_error("blk: nbd: connection to qemu-storage-daemon lost: %s", nbd_get_error());
	n->dead = true;
}

static void nbd_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct blk_backend *b = arg;
	struct nbd_be *n = b->impl;
	int rc = (what & EV_WRITE) ? nbd_aio_notify_write(n->h) : nbd_aio_notify_read(n->h);

	if (rc < 0)
		nbd_connection_lost(n);
	nbd_update_events(n);
}

/* ---- requests ------------------------------------------------------------- */

static int nbd_issue(struct nbd_be *n, struct nbd_op *op, uint64_t off, uint64_t len, char *buf)
{
	nbd_completion_callback cb = { .callback = nbd_on_reply, .user_data = op };
	/* Without discard the image must stay allocated: NO_HOLE. */
	uint32_t zflags = op->b->info.discard ? 0 : LIBNBD_CMD_FLAG_NO_HOLE;
	int64_t cookie = -1;

	switch (op->req->op) {
	case BLK_OP_READ: cookie = nbd_aio_pread(n->h, buf, len, off, cb, 0); break;
	case BLK_OP_WRITE: cookie = nbd_aio_pwrite(n->h, buf, len, off, cb, 0); break;
	case BLK_OP_FLUSH: cookie = nbd_aio_flush(n->h, cb, 0); break;
	case BLK_OP_DISCARD: cookie = nbd_aio_trim(n->h, len, off, cb, 0); break;
	case BLK_OP_WRITE_ZEROES: cookie = nbd_aio_zero(n->h, len, off, cb, zflags); break;
	}
	if (cookie < 0) {
		int e = nbd_get_errno();
		log_debug("blk: nbd: %s", nbd_get_error());
		return e > 0 ? -e : -EIO;
	}
	op->pending++;
	return 0;
}

static int nbd_submit(struct blk_backend *b, struct blk_request *req)
{
	struct nbd_be *n = b->impl;
	bool data = req->op == BLK_OP_READ || req->op == BLK_OP_WRITE;
	uint64_t chunk = data ? NBD_DATA_CHUNK : NBD_ZERO_CHUNK;
	struct nbd_op *op;
	char *buf = NULL;

	if (n->dead)
		return -EIO;
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->b = b;
	op->req = req;
	req->priv_ = op;
	if (data && req->len) {
		buf = op->bounce = malloc(req->len);
		if (!buf) {
			free(op);
			return -ENOMEM;
		}
		if (req->op == BLK_OP_WRITE) {
			uint64_t pos = 0;

			for (int i = 0; i < req->iovcnt; pos += req->iov[i].iov_len, i++)
				memcpy(buf + pos, req->iov[i].iov_base, req->iov[i].iov_len);
		}
	}
	op->next = n->live;
	if (n->live)
		n->live->prev = op;
	n->live = op;

	/* Operations the export cannot do: flush and trim are advisory. */
	op->submitting = true;
	if ((req->op == BLK_OP_FLUSH && !n->can_flush) || (req->op == BLK_OP_DISCARD && !n->can_trim)) {
		/* nothing to send */
	} else if (req->op == BLK_OP_FLUSH) {
		op->err = nbd_issue(n, op, 0, 0, NULL);
	} else {
		for (uint64_t done = 0; done < req->len && !op->err; done += chunk) {
			uint64_t len = MIN(chunk, req->len - done);
			int rc = nbd_issue(n, op, req->offset + done, len, buf ? buf + done : NULL);

			if (rc < 0)
				op->err = rc;
		}
	}
	op->submitting = false;
	if (op->pending == 0)
		nbd_finish(op);   /* still asynchronous: goes through ev_done */
	nbd_update_events(n);
	return 0;
}

static int nbd_get_size_cb(struct blk_backend *b, uint64_t *size)
{
	struct nbd_be *n = b->impl;
	int64_t s = nbd_get_size(n->h);

	/* NBD has no resize notification: the size is the one at connect. */
	if (s < 0)
		return -EIO;
	*size = (uint64_t)s;
	return 0;
}

/* ---- the daemon ----------------------------------------------------------- */

static void nbd_stop_daemon(struct nbd_be *n)
{
	char p[128];

	if (n->pid > 0) {
		kill(n->pid, SIGTERM);
		while (waitpid(n->pid, NULL, 0) < 0 && errno == EINTR)
			;
		n->pid = 0;
	}
	if (n->dir[0]) {
		snprintf(p, sizeof(p), "%s/nbd.sock", n->dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/daemon.log", n->dir);
		unlink(p);
		rmdir(n->dir);
		n->dir[0] = '\0';
	}
}

/* The daemon's first error line, without the echo of our long argument:
 * "qemu-storage-daemon: --blockdev {...}: Could not open 'x': reason". */
static void nbd_daemon_error(struct nbd_be *n, char *msg, size_t size)
{
	char p[128], buf[1024], *s, *cut;
	ssize_t got = -1;
	int fd;

	snprintf(p, sizeof(p), "%s/daemon.log", n->dir);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		got = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	buf[got > 0 ? got : 0] = '\0';
	s = buf;
	if ((cut = strchr(s, '\n')))
		*cut = '\0';
	if ((cut = strstr(s, "}: ")))
		s = cut + 3;
	else if (!strncmp(s, "qemu-storage-daemon: ", 21))
		s += 21;
	if (!*s)
		s = "exited without a message";
	got = (ssize_t)strnlen(s, size - 1);
	memcpy(msg, s, (size_t)got);
	msg[got] = '\0';
}

static const char *qsd_path(void)
{
	const char *p = getenv("VMBUSD_QEMU_STORAGE_DAEMON");

	return p && *p ? p : "qemu-storage-daemon";
}

/* One compact JSON argument for the daemon; consumes j. */
static char *nbd_json_arg(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

static int nbd_start_daemon(struct nbd_be *n, const struct blk_config *cfg, const char *format,
			    struct json_err *err)
{
	const char *tmp = getenv("TMPDIR");
	char *file_js, *fmt_js, *srv_js, *exp_js, logp[128], sock[128];
	struct stat st;
	json_t *cache;
	int logfd, rc = 0;

	snprintf(n->dir, sizeof(n->dir), "%s/vmbusd-nbd-XXXXXX",
		 tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(n->dir)) {
		rc = -errno;
		n->dir[0] = '\0';
		return blk_errf(err, rc, "%s: temporary directory: %s", cfg->path, strerror(-rc));
	}
	snprintf(sock, sizeof(sock), "%s/nbd.sock", n->dir);
	snprintf(logp, sizeof(logp), "%s/daemon.log", n->dir);
	cache = json_pack("{s:b, s:b}", "direct", cfg->cache == BLK_CACHE_NONE, "no-flush",
			  cfg->cache == BLK_CACHE_UNSAFE);
	/* JSON arguments: no escaping trouble with commas in paths. */
	file_js = nbd_json_arg(json_pack("{s:s, s:s, s:s, s:O, s:s, s:b}",
				       "driver", stat(cfg->path, &st) == 0 && S_ISBLK(st.st_mode)
						 ? "host_device" : "file",
				       "filename", cfg->path, "node-name", "file0", "cache", cache,
				       "discard", cfg->discard ? "unmap" : "ignore",
				       "read-only", cfg->readonly));
	fmt_js = nbd_json_arg(json_pack("{s:s, s:s, s:s, s:O, s:s, s:b}", "driver", format, "file",
				      "file0", "node-name", "disk0", "cache", cache, "discard",
				      cfg->discard ? "unmap" : "ignore", "read-only", cfg->readonly));
	srv_js = nbd_json_arg(json_pack("{s:{s:s, s:s}}", "addr", "type", "unix", "path", sock));
	exp_js = nbd_json_arg(json_pack("{s:s, s:s, s:s, s:s, s:b}", "type", "nbd", "id", "e0",
				      "node-name", "disk0", "name", "disk0", "writable",
				      !cfg->readonly));
	json_decref(cache);
	logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (!file_js || !fmt_js || !srv_js || !exp_js || logfd < 0) {
		rc = blk_errf(err, -ENOMEM, "%s: cannot prepare qemu-storage-daemon", cfg->path);
		goto out;
	}
	char *argv[] = { (char *)qsd_path(), "--blockdev", file_js, "--blockdev", fmt_js,
			 "--nbd-server", srv_js, "--export", exp_js, NULL };
	n->pid = fork();
	if (n->pid < 0) {
		rc = -errno;
		n->pid = 0;
		blk_errf(err, rc, "%s: fork: %s", cfg->path, strerror(-rc));
		goto out;
	}
	if (n->pid == 0) {
		/* Async-signal-safe only.  The daemon dies with us. */
		int nullfd = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(nullfd, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
out:
	if (logfd >= 0)
		close(logfd);
	free(file_js);
	free(fmt_js);
	free(srv_js);
	free(exp_js);
	return rc;
}

/* Waits for the daemon's socket and connects; a daemon that exits first
 * (bad path, wrong format) gives its error message. */
static int nbd_connect(struct nbd_be *n, const char *path, struct json_err *err)
{
	char sock[128], msg[200];
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	int status;

	snprintf(sock, sizeof(sock), "%s/nbd.sock", n->dir);
	for (int waited = 0; waited < NBD_START_TIMEOUT_MS; waited += 10) {
		pid_t w = waitpid(n->pid, &status, WNOHANG);

		if (w == n->pid) {
			n->pid = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
				return blk_errf(err, -ENOENT, "%s: cannot run %s (package "
						"qemu-system-common)", path, qsd_path());
			nbd_daemon_error(n, msg, sizeof(msg));
			return blk_errf(err, -EINVAL, "%s: qemu-storage-daemon: %s", path, msg);
		}
		if (access(sock, F_OK) == 0) {
			n->h = nbd_create();
			if (!n->h)
				return blk_errf(err, -ENOMEM, "%s: nbd_create: %s", path,
						nbd_get_error());
			if (nbd_set_export_name(n->h, "disk0") == 0 &&
			    nbd_connect_unix(n->h, sock) == 0)
				return 0;
			nbd_close(n->h);
			n->h = NULL;
		}
		nanosleep(&pause, NULL);
	}
	return blk_errf(err, -ETIMEDOUT, "%s: qemu-storage-daemon did not start serving in %d s",
			path, NBD_START_TIMEOUT_MS / 1000);
}

/* ---- lifecycle ------------------------------------------------------------- */

static void nbd_free(struct nbd_be *n)
{
	if (n->h)
		nbd_close(n->h);
	if (n->ev_read)
		event_free(n->ev_read);
	if (n->ev_write)
		event_free(n->ev_write);
	if (n->ev_done)
		event_free(n->ev_done);
	nbd_stop_daemon(n);
	free(n);
}

static void nbd_close_cb(struct blk_backend *b)
{
	struct nbd_be *n = b->impl;
	uint64_t start = now_ns();

	/* Finish what is in flight, polling the socket ourselves: the loop
	 * is not running while we are inside blk_close. */
	while (!n->dead && n->h && nbd_aio_in_flight(n->h) > 0 &&
	       now_ns() - start < NBD_CLOSE_TIMEOUT_MS * 1000000ull)
		if (nbd_poll(n->h, 1000) < 0)
			nbd_connection_lost(n);
	if (n->h && !n->dead)
		nbd_shutdown(n->h, 0);
	if (n->h)
		nbd_close(n->h);   /* drops commands that never got a reply */
	n->h = NULL;
	while (n->live) {          /* ... which complete with an error */
		if (n->live->pending && !n->live->err)
			n->live->err = -EIO;   /* (a delayed one has its result) */
		n->live->pending = 0;
		nbd_finish(n->live);
	}
	nbd_drain(b);
	nbd_free(n);
	b->impl = NULL;
}

/* Nothing to wait for: the request's data is in its bounce buffer, and
 * nbd_finish leaves the guest's pages alone once req->cancelled_ is set. */
static void nbd_cancel(struct blk_backend *b, struct blk_request *req)
{
}

static const struct blk_ops nbd_ops = {
	.submit = nbd_submit,
	.get_size = nbd_get_size_cb,
	.close = nbd_close_cb,
	.cancel = nbd_cancel,
};

int blk_nbd_open(struct blk_backend *b, const struct blk_config *cfg, const char *format,
		 struct json_err *err)
{
	struct nbd_be *n;
	int64_t size;
	int rc, fd;

	n = calloc(1, sizeof(*n));
	if (!n)
		return blk_errf(err, -ENOMEM, "%s: out of memory", cfg->path);
	n->done_tail = &n->done_head;
	if ((rc = nbd_start_daemon(n, cfg, format, err)) < 0 ||
	    (rc = nbd_connect(n, cfg->path, err)) < 0)
		goto fail;
	size = nbd_get_size(n->h);
	if (size < 0) {
		rc = blk_errf(err, -EIO, "%s: nbd: %s", cfg->path, nbd_get_error());
		goto fail;
	}
	n->can_flush = nbd_can_flush(n->h) == 1;
	n->can_trim = nbd_can_trim(n->h) == 1;
	n->can_zero = nbd_can_zero(n->h) == 1;
	fd = nbd_aio_get_fd(n->h);
	n->ev_read = event_new(b->base, fd, EV_READ | EV_PERSIST, nbd_on_io, b);
	n->ev_write = event_new(b->base, fd, EV_WRITE | EV_PERSIST, nbd_on_io, b);
	n->ev_done = event_new(b->base, -1, 0, nbd_on_done, b);
	if (fd < 0 || !n->ev_read || !n->ev_write || !n->ev_done) {
		rc = blk_errf(err, -ENOMEM, "%s: cannot register the NBD events", cfg->path);
		goto fail;
	}
	b->impl = n;
	b->ops = &nbd_ops;
	b->info.size = (uint64_t)size - (uint64_t)size % BLK_SECTOR_SIZE;
	b->info.readonly = cfg->readonly || nbd_is_read_only(n->h) == 1;
	b->info.discard = cfg->discard && !b->info.readonly && n->can_trim;
	b->info.write_cache = cfg->cache != BLK_CACHE_UNSAFE && n->can_flush;
	nbd_update_events(n);
	return 0;
fail:
	nbd_free(n);
	return rc;
}

#endif /* HAVE_LIBNBD */
