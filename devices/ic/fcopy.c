/* SPDX-License-Identifier: MIT */
/*
 * Guest file copy IC (facts §7; Linux 6.1 drivers/hv/hv_fcopy.c with
 * hv_fcopy_daemon).  One host file goes into the guest as START_FILE_COPY,
 * WRITE_TO_FILE chunks of DATA_FRAGMENT (6 KiB) in order, then
 * COMPLETE_FCOPY; the framework keeps one request outstanding, which is
 * what Linux requires (it does not read the next packet before the daemon
 * answered).  A chunk the guest refuses is followed by CANCEL_FCOPY, which
 * makes the daemon close and unlink the partial file.
 *
 * Linux answers HV_E_FAIL at once while no daemon is registered, and after
 * 30 s when the daemon does not answer; a guest that does not answer at
 * all fails the copy after the device's timeout_ms (per request).
 *
 * Config: the common IC keys.
 * Controls:
 *   "copy" {src, dst, overwrite=false, create_path=false}
 *       src: a host file (read as the copy goes); dst: absolute guest path.
 *       -> done(0, {"bytes", "chunks", "ms", "mib_per_s"})
 *       -> done(-EEXIST, {"error": "exists", ...}) dst exists, no overwrite
 *       -> done(-ENOSPC, {"error": "disk full", ...}) guest disk full
 *       -> done(-EIO, {"error": "failed", "status", "status_name", "stage"})
 *          (HV_E_FAIL: no hv_fcopy_daemon, or it failed)
 *       -> done(-ETIMEDOUT / -ECONNRESET, {"stage", "offset"})
 *     One copy at a time: -EBUSY while one runs.
 * Stats: copies, bytes, chunks, failed, cancels and the framework's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/device.h"
#include "devices/ic/ic_internal.h"
#include "devices/ic/xfer_msg.h"
#include "devices/registry.h"

/* Linux 6.1 offers fcopy 1.1 only, with framework 3.0 (facts §7.2), which
 * the framework's list holds. */
static const struct ic_version fcopy_versions[] = { { 1, 1 } };

#define FCOPY_STATS(X)                                                    \
	X(copies, "copies completed")                                     \
	X(bytes, "file bytes the guest accepted")                        \
	X(chunks, "WRITE_TO_FILE requests answered")                     \
	X(failed, "copies that failed")                                   \
	X(cancels, "CANCEL_FCOPY sent after a refused chunk")

struct fcopy_job {
	struct ic_call *call;
	int fd;
	uint64_t size, offset;
	uint32_t stage;         /* enum hv_fcopy_op of the request outstanding */
	uint32_t chunk;         /* bytes in the outstanding WRITE_TO_FILE */
	uint64_t chunks;
	int err;                /* CANCEL in flight: the error to report */
	uint32_t err_status;
	struct timespec t0;
	char dst[4 * W_MAX_PATH];
};

struct fcopy {
	struct ic_dev ic;
	struct fcopy_job *job;
	STATS_FIELDS(FCOPY_STATS)
};

static const char *fcopy_stage_name(uint32_t op)
{
	switch (op) {
	case START_FILE_COPY: return "start";
	case WRITE_TO_FILE: return "write";
	case COMPLETE_FCOPY: return "complete";
	default: return "cancel";
	}
}

static double fcopy_elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- Handlers --------------------------------------------------------------- */

static void fcopy_reply(struct ic_dev *ic, void *arg, int err, const struct ic_reply *reply);

static void fcopy_finish(struct fcopy *fc, int status, json_t *res)
{
	struct fcopy_job *job = fc->job;

	fc->job = NULL;
	if (status)
		fc->failed++;
	else
		fc->copies++;
	if (job->fd >= 0)
		close(job->fd);
	ic_call_finish(job->call, status, res);
	free(job);
}

/* Sends the request for job->stage.  A write reads its chunk first; when
 * the source cannot be read (or shrank) the guest gets CANCEL_FCOPY
 * instead and the copy ends with that error. */
static int fcopy_send(struct fcopy *fc)
{
	uint8_t body[sizeof(struct hv_do_fcopy)];
	struct fcopy_job *job = fc->job;
	int len = -EINVAL;

	if (job->stage == WRITE_TO_FILE) {
		uint8_t data[DATA_FRAGMENT];
		uint64_t left = job->size - job->offset;
		size_t want = left < DATA_FRAGMENT ? (size_t)left : DATA_FRAGMENT;
		ssize_t n = pread(job->fd, data, want, (off_t)job->offset);

		if (n >= 0 && (size_t)n == want) {
			job->chunk = (uint32_t)n;
			len = fcopy_msg_build_write(body, sizeof(body), job->offset, data, job->chunk);
		} else {
			job->err = n < 0 ? -errno : -ENODATA; /* ENODATA: the source shrank */
			log_warn("fcopy: %s: reading the source at %" PRIu64 ": %s", job->dst,
				 job->offset, strerror(-job->err));
			job->stage = CANCEL_FCOPY;
			fc->cancels++;
		}
	}
	if (job->stage != WRITE_TO_FILE)
		len = fcopy_msg_build_op(body, sizeof(body), job->stage);
	if (len < 0)
		return len;
	return ic_submit(&fc->ic, body, (size_t)len, 0, fcopy_reply, fc);
}

/* Moves to the next stage after an accepted request and sends it. */
static void fcopy_advance(struct fcopy *fc)
{
	struct fcopy_job *job = fc->job;
	int rc;

	if (job->stage == WRITE_TO_FILE) {
		job->offset += job->chunk;
		job->chunks++;
		fc->chunks++;
		fc->bytes += job->chunk;
	}
	if (job->stage == COMPLETE_FCOPY) {
		double ms = fcopy_elapsed_ms(&job->t0);

		log_info("fcopy: %s: %" PRIu64 " bytes in %.0f ms", job->dst, job->size, ms);
		fcopy_finish(fc, 0, json_pack("{s:I, s:I, s:f, s:f}", "bytes", (json_int_t)job->size,
					      "chunks", (json_int_t)job->chunks, "ms", ms,
					      "mib_per_s", ms > 0 ? (double)job->size / 1048576.0 / (ms / 1e3) : 0.0));
		return;
	}
	job->stage = job->offset < job->size ? WRITE_TO_FILE : COMPLETE_FCOPY;
	rc = fcopy_send(fc);
	if (rc)
		fcopy_finish(fc, rc, json_pack("{s:s, s:I}", "stage", fcopy_stage_name(job->stage),
					       "offset", (json_int_t)job->offset));
}

static json_t *fcopy_error_json(uint32_t status, uint32_t stage)
{
	json_t *res = ic_status_json(status);
	const char *what = status == HV_ERROR_ALREADY_EXISTS ? "exists" :
			   status == HV_ERROR_DISK_FULL ? "disk full" : "failed";

	json_object_set_new(res, "error", json_string(what));
	json_object_set_new(res, "stage", json_string(fcopy_stage_name(stage)));
	return res;
}

static void fcopy_reply(struct ic_dev *ic, void *arg, int err, const struct ic_reply *reply)
{
	struct fcopy *fc = arg;
	struct fcopy_job *job = fc->job;

	if (!job)
		return;
	if (err) {
		fcopy_finish(fc, err, json_pack("{s:s, s:I}", "stage", fcopy_stage_name(job->stage),
						"offset", (json_int_t)job->offset));
		return;
	}
	if (fcopy_msg_parse_reply(reply->body, reply->body_len, job->stage)) {
		ic_bad_body(ic, "malformed fcopy answer");
		fcopy_finish(fc, -EBADMSG, NULL);
		return;
	}
	if (job->stage == CANCEL_FCOPY) { /* the copy had already failed */
		fcopy_finish(fc, job->err, job->err_status ? fcopy_error_json(job->err_status, WRITE_TO_FILE) :
				 json_pack("{s:s}", "error", strerror(-job->err)));
		return;
	}
	if (reply->hdr.status != HV_S_OK) {
		log_warn("fcopy: %s: %s refused: %s", job->dst, fcopy_stage_name(job->stage),
			 ic_status_name(reply->hdr.status));
		if (job->stage == WRITE_TO_FILE) {
			job->err = fcopy_status_errno(reply->hdr.status);
			job->err_status = reply->hdr.status;
			job->stage = CANCEL_FCOPY;
			fc->cancels++;
			if (fcopy_send(fc) == 0)
				return;
		}
		fcopy_finish(fc, fcopy_status_errno(reply->hdr.status),
			     fcopy_error_json(reply->hdr.status, job->stage));
		return;
	}
	fcopy_advance(fc);
}

static int fcopy_control(void *dev, const char *verb, const json_t *args,
			 device_control_done done, void *cookie, struct json_err *err)
{
	static const char *const keys[] = { "src", "dst", "overwrite", "create_path", NULL };
	uint8_t body[sizeof(struct hv_start_fcopy)];
	char dir[4 * W_MAX_PATH], name[4 * W_MAX_PATH];
	struct fcopy *fc = dev;
	const char *src, *dst;
	bool overwrite = false, create_path = false;
	struct fcopy_job *job;
	struct stat st;
	int rc, fd, len;

	if (strcmp(verb, "copy") != 0)
		return -ENOTSUP;
	if (!args)
		return json_fail(err, NULL, verb, "needs arguments");
	rc = json_check_keys(args, verb, keys, err);
	if (!rc)
		rc = json_get_string(args, verb, "src", true, &src, err);
	if (!rc)
		rc = json_get_string(args, verb, "dst", true, &dst, err);
	if (!rc)
		rc = json_get_bool(args, verb, "overwrite", false, &overwrite, err);
	if (!rc)
		rc = json_get_bool(args, verb, "create_path", false, &create_path, err);
	if (rc)
		return rc;
	rc = fcopy_msg_split_path(dst, dir, sizeof(dir), name, sizeof(name));
	if (rc)
		return json_fail(err, verb, "dst", "must be an absolute path to a file");
	/* hv_fcopy_daemon creates (CREATE_PATH) only the components of
	 * path_name that a '/' follows: end it with one so the last is too. */
	if (create_path && strcmp(dir, "/") != 0 && strlen(dir) + 2 <= sizeof(dir))
		strcat(dir, "/");
	len = fcopy_msg_build_start(body, sizeof(body), dir, name,
				    (overwrite ? FCOPY_OVER_WRITE : 0) | (create_path ? FCOPY_CREATE_PATH : 0), 0);
	if (len == -E2BIG)
		return json_fail(err, verb, "dst", "directory and name must each fit %u UTF-16 units and UTF-8 bytes",
				 FCOPY_NAME_MAX);
	if (len < 0)
		return json_fail(err, verb, "dst", "not valid UTF-8");
	if (fc->job)
		return json_fail(err, NULL, verb, "a copy is already running");
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return json_fail(err, verb, "src", "%s: %s", src, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return json_fail(err, verb, "src", "%s: not a regular file", src);
	}
	len = fcopy_msg_build_start(body, sizeof(body), dir, name,
				    (overwrite ? FCOPY_OVER_WRITE : 0) | (create_path ? FCOPY_CREATE_PATH : 0),
				    (uint64_t)st.st_size);
	job = calloc(1, sizeof(*job));
	if (!job || !(job->call = ic_call_new(done, cookie))) {
		free(job);
		close(fd);
		return -ENOMEM;
	}
	job->fd = fd;
	job->size = (uint64_t)st.st_size;
	job->stage = START_FILE_COPY;
	snprintf(job->dst, sizeof(job->dst), "%s", dst);
	clock_gettime(CLOCK_MONOTONIC, &job->t0);
	fc->job = job;
	rc = ic_submit(&fc->ic, body, (size_t)len, 0, fcopy_reply, fc);
	if (rc) {
		fc->job = NULL;
		free(job->call);
		close(fd);
		free(job);
		return ic_submit_error(err, verb, rc);
	}
	log_info("fcopy: %s -> guest %s (%" PRIu64 " bytes)", src, dst, (uint64_t)st.st_size);
	return 0;
}

/* ---- Lifecycle ---------------------------------------------------------------- */

static const struct ic_service fcopy_service = {
	.name = "fcopy",
	.class_guid = IC_FCOPY_CLASS_GUID_STR,
	.default_instance = "9d1e8f3a-2b6c-4d5e-8f70-1a2b3c4d5e6f",
	.msgtype = ICMSGTYPE_FCOPY,
	.max_pkt_size = 8192, /* hv_fcopy_init: HV_HYP_PAGE_SIZE * 2 */
	.versions = fcopy_versions,
	.n_versions = ARRAY_SIZE(fcopy_versions),
};

static void fcopy_destroy(void *dev)
{
	struct fcopy *fc = dev;

	if (!fc)
		return;
	ic_destroy(&fc->ic); /* completes a running copy with -ECONNRESET */
	if (fc->job)
		fcopy_finish(fc, -ECONNRESET, NULL);
	free(fc);
}

static int fcopy_create(struct vmbus_server *srv, const json_t *config, const char *path,
			void **dev, struct json_err *err)
{
	static const char *const keys[] = { IC_COMMON_KEYS, NULL };
	struct fcopy *fc;
	int rc;

	rc = json_check_keys(config, path, keys, err);
	if (rc)
		return rc;
	fc = calloc(1, sizeof(*fc));
	if (!fc)
		return json_fail(err, path, NULL, "out of memory");
	rc = ic_create(&fc->ic, &fcopy_service, fc, srv, config, path, err);
	if (rc) {
		free(fc);
		return rc;
	}
	*dev = fc;
	return 0;
}

STATS_DEFINE_STATIC(fcopy_counters, struct fcopy, FCOPY_STATS)

static json_t *fcopy_stats(void *dev)
{
	struct fcopy *fc = dev;
	json_t *o = ic_stats_json(&fc->ic);

	if (!o)
		return NULL;
	json_object_set_new(o, "copying", json_boolean(fc->job != NULL));
	return fcopy_counters_json(fc, o);
}

const struct vmbus_device_ops fcopy_ops = {
	.name = "fcopy",
	.class_guid = IC_FCOPY_CLASS_GUID_STR,
	.guest_driver = "hv_utils",
	.description = "Hyper-V guest file copy integration component",
	.create = fcopy_create,
	.destroy = fcopy_destroy,
	.control = fcopy_control,
	.stats = fcopy_stats,
};
