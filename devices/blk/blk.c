/* SPDX-License-Identifier: MIT */
/*
 * The front of every block backend: argument checks shared by all of them,
 * counters, format selection ("auto" probes with qemu-img) and the JSON
 * configuration keys.  The backends are raw.c (files and block devices,
 * served directly) and nbd.c (every other image format, through
 * qemu-storage-daemon).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/log.h"
#include "core/util.h"
#include "devices/blk/blk_internal.h"

int blk_errf(struct json_err *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

uint64_t blk_iov_total(const struct iovec *iov, int iovcnt)
{
	uint64_t total = 0;

	for (int i = 0; i < iovcnt; i++)
		if (add_overflows_u64(total, iov[i].iov_len, &total))
			return UINT64_MAX;
	return total;
}

int blk_run_capture(char *const argv[], char *out, size_t size)
{
	int pipefd[2], status, devnull;
	size_t used = 0;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		if (devnull >= 0)
			close(devnull);
		return e;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec. */
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	if (devnull >= 0)
		close(devnull);
	for (;;) {
		char sink[512];
		char *dst = used + 1 < size ? out + used : sink;
		size_t room = used + 1 < size ? size - 1 - used : sizeof(sink);
		ssize_t n = read(pipefd[0], dst, room);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dst != sink)
			used += (size_t)n;
	}
	close(pipefd[0]);
	if (size)
		out[used] = '\0';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status))
		return WEXITSTATUS(status) == 127 ? -ENOENT : WEXITSTATUS(status);
	return 255;
}

static const char *qemu_img_path(void)
{
	const char *p = getenv("VMBUSD_QEMU_IMG");

	return p && *p ? p : "qemu-img";
}

/* Replaces newlines so that a tool's message fits on one log line. */
static void one_line(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

int blk_probe_format(const char *path, char *format, size_t size, struct json_err *err)
{
	/* -U (force-share): the probe must work while someone else, e.g. a
	 * running qemu-storage-daemon, holds the image lock. */
	char *argv[] = { (char *)qemu_img_path(), "info", "-U", "--output=json", "--", (char *)path,
			 NULL };
	char out[8192];
	json_error_t jerr;
	json_t *root;
	const char *fmt;
	int rc;

	rc = blk_run_capture(argv, out, sizeof(out));
	if (rc == -ENOENT)
		return blk_errf(err, -ENOENT, "%s: format \"auto\" needs qemu-img (package qemu-utils)",
				path);
	if (rc < 0)
		return blk_errf(err, rc, "%s: running qemu-img: %s", path, strerror(-rc));
	if (rc != 0) {
		one_line(out);
		return blk_errf(err, -EINVAL, "%s: qemu-img info failed: %s", path, out);
	}
	root = json_loads(out, 0, &jerr);
	fmt = root ? json_string_value(json_object_get(root, "format")) : NULL;
	if (!fmt || strlen(fmt) >= size) {
		json_decref(root);
		return blk_errf(err, -EINVAL, "%s: qemu-img info gave no format", path);
	}
	strcpy(format, fmt);
	json_decref(root);
	return 0;
}

/* Formats that qemu-storage-daemon opens; a typo fails here, not later in
 * the daemon with a less helpful message. */
static const char *const nbd_formats[] = { "qcow2", "qcow", "vhdx", "vpc", "vmdk", "vdi",
					   "qed", "parallels", "bochs", "cloop", "dmg", "luks",
					   NULL };

int blk_open(struct event_base *base, const struct blk_config *cfg, struct blk_backend **out,
	     struct json_err *err)
{
	char format[sizeof((struct blk_backend *)0)->format];
	struct blk_backend *b;
	bool known = false;
	int rc;

	*out = NULL;
	if (!cfg->path || !*cfg->path)
		return blk_errf(err, -EINVAL, "block backend: no path");
	if (cfg->format && !strcmp(cfg->format, "auto")) {
		rc = blk_probe_format(cfg->path, format, sizeof(format), err);
		if (rc < 0)
			return rc;
	} else if (strlen(cfg->format) < sizeof(format)) {
		strcpy(format, cfg->format);
	} else {
		return blk_errf(err, -EINVAL, "%s: unknown format \"%s\"", cfg->path, cfg->format);
	}
	known = !strcmp(format, "raw");
	for (size_t i = 0; !known && nbd_formats[i]; i++)
		known = !strcmp(format, nbd_formats[i]);
	if (!known)
		return blk_errf(err, -EINVAL, "%s: unknown format \"%s\" (raw, qcow2, vhdx, vpc, "
				"vmdk, vdi, qed, ... or auto)", cfg->path, format);

	b = calloc(1, sizeof(*b));
	if (!b)
		return blk_errf(err, -ENOMEM, "%s: out of memory", cfg->path);
	b->base = base;
	strcpy(b->format, format);
	b->path = strdup(cfg->path);
	if (!b->path) {
		free(b);
		return blk_errf(err, -ENOMEM, "%s: out of memory", cfg->path);
	}
	if (!strcmp(format, "raw"))
		rc = blk_raw_open(b, cfg, err);
	else
		rc = blk_nbd_open(b, cfg, format, err);
	if (rc < 0) {
		free(b->path);
		free(b);
		return rc;
	}
	b->info.format = b->format;
	b->info.path = b->path;
	b->info.block_size = BLK_SECTOR_SIZE;
	log_info("blk: %s: %s, %llu bytes%s%s%s", cfg->path, b->format,
		 (unsigned long long)b->info.size, b->info.readonly ? ", read-only" : "",
		 b->info.discard ? ", discard" : "", b->info.write_cache ? "" : ", no write cache");
	*out = b;
	return 0;
}

static int blk_submit_checked(struct blk_backend *b, struct blk_request *req)
{
	uint64_t end;
	int rc;

	if (b->closing)
		return -ESHUTDOWN;
	if (req->op > BLK_OP_WRITE_ZEROES || !req->done)
		return -EINVAL;
	if (req->op != BLK_OP_FLUSH) {
		if (req->offset % BLK_SECTOR_SIZE || req->len % BLK_SECTOR_SIZE)
			return -EINVAL;
		if (add_overflows_u64(req->offset, req->len, &end) || end > b->info.size)
			return -EINVAL;
	}
	if (req->op == BLK_OP_READ || req->op == BLK_OP_WRITE) {
		if (req->iovcnt < 0 || (req->iovcnt && !req->iov) ||
		    blk_iov_total(req->iov, req->iovcnt) != req->len)
			return -EINVAL;
	}
	if (req->op != BLK_OP_READ && req->op != BLK_OP_FLUSH && b->info.readonly)
		return -EROFS;
	if (req->op == BLK_OP_DISCARD && !b->info.discard)
		return -EOPNOTSUPP;
	req->result_ = 0;
	req->next_ = NULL;
	req->state_ = 0;
	req->cancelled_ = false;
	req->slow_ = fault_hit("blk.delay");
	rc = b->ops->submit(b, req);
	if (rc < 0)
		return rc;
	b->in_flight++;
	switch (req->op) {
	case BLK_OP_READ: b->reads++; break;
	case BLK_OP_WRITE: b->writes++; break;
	case BLK_OP_FLUSH: b->flushes++; break;
	case BLK_OP_DISCARD: b->discards++; break;
	case BLK_OP_WRITE_ZEROES: b->write_zeroes++; break;
	}
	return 0;
}

int blk_submit(struct blk_backend *b, struct blk_request *req)
{
	int rc = blk_submit_checked(b, req);

	if (rc < 0)
		b->refused++;
	return rc;
}

void blk_complete(struct blk_backend *b, struct blk_request *req, int result)
{
	b->in_flight--;
	if (result < 0) {
		b->errors++;
		log_debug("blk: op %d at %llu+%llu: %s", req->op, (unsigned long long)req->offset,
			  (unsigned long long)req->len, strerror(-result));
	}
	req->done(req, result);
}

void blk_cancel(struct blk_backend *b, struct blk_request *req)
{
	if (req->cancelled_)
		return;
	req->cancelled_ = true;
	b->cancelled++;
	b->ops->cancel(b, req);
}

const struct blk_info *blk_info(const struct blk_backend *b)
{
	return &b->info;
}

int blk_refresh_size(struct blk_backend *b)
{
	uint64_t size;
	int rc = b->ops->get_size(b, &size);

	if (rc < 0)
		return rc;
	size -= size % BLK_SECTOR_SIZE;
	if (size == b->info.size)
		return 0;
	b->info.size = size;
	return 1;
}

void blk_close(struct blk_backend *b)
{
	if (!b)
		return;
	b->closing = true;
	b->ops->close(b);
	free(b->path);
	free(b);
}

STATS_DEFINE_STATIC(blk_counters, struct blk_backend, BLK_STATS)

json_t *blk_stats(const struct blk_backend *b)
{
	json_t *o = blk_counters_json(b, NULL);

	if (o && json_object_update_new(o, json_pack("{s:I, s:s, s:I, s:b, s:b}",
						      "in_flight", (json_int_t)b->in_flight,
						      "format", b->format,
						      "size", (json_int_t)b->info.size,
						      "readonly", b->info.readonly,
						      "discard", b->info.discard)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int blk_config_from_json(const json_t *obj, const char *path, struct blk_config *cfg,
			 struct json_err *err)
{
	const char *cache = "writeback";
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	/* Not "auto": probing an image a guest can write lets the guest choose
	 * the format (and a backing file) for the next start. */
	cfg->format = "raw";
	if ((rc = json_get_string(obj, path, "path", true, &cfg->path, err)) < 0 ||
	    (rc = json_get_string(obj, path, "format", false, &cfg->format, err)) < 0 ||
	    (rc = json_get_bool(obj, path, "readonly", false, &cfg->readonly, err)) < 0 ||
	    (rc = json_get_string(obj, path, "cache", false, &cache, err)) < 0 ||
	    (rc = json_get_bool(obj, path, "discard", false, &cfg->discard, err)) < 0)
		return rc;
	if (!*cfg->path)
		return json_fail(err, path, "path", "must not be empty");
	if (!strcmp(cache, "writeback"))
		cfg->cache = BLK_CACHE_WRITEBACK;
	else if (!strcmp(cache, "none"))
		cfg->cache = BLK_CACHE_NONE;
	else if (!strcmp(cache, "unsafe"))
		cfg->cache = BLK_CACHE_UNSAFE;
	else
		return json_fail(err, path, "cache", "\"%s\" is not writeback, none or unsafe", cache);
	return 0;
}
