/* SPDX-License-Identifier: MIT */
/*
 * Backup (volume snapshot) IC, "VSS" (facts §7; Linux 6.1
 * drivers/hv/hv_snapshot.c with hv_vss_daemon).  FREEZE makes the daemon
 * FIFREEZE every mounted, writable /dev/ filesystem ("/" last) and THAW
 * undoes it; Linux answers only once the daemon did (HV_E_FAIL at once
 * when no daemon is registered, after 15 min for a daemon that does not
 * answer a freeze, 30 s for the rest).  A frozen filesystem has its
 * journal flushed and its dirty data written, so a copy of the disk image
 * taken while frozen is a clean filesystem.
 *
 * Config: the common IC keys.
 * Controls:
 *   "freeze" {}  -> done(0, {"status": 0, ...}) once the guest is frozen
 *   "thaw" {}    -> done(0, {"status": 0, "frozen_ms": n})
 *   "check" {}   -> done(0, {"flags": n})  (HOT_BACKUP; Linux: 5)
 *   "backup" {disk, dest, format?}
 *       disk: "<storvsp name>:<lun>" (its image, from the storvsp's stats)
 *             or a host path; format: the image's format, default raw (an
 *             image whose header looks like qcow2, vhdx, vmdk or vdi needs
 *             it said: the guest writes that header of a raw disk);
 *       dest: the backup file (must not exist).
 *       Freezes, copies the image (raw: cp --reflink=auto --sparse=always;
 *       others: qemu-img convert -U in the same format), thaws.
 *       -> done(0, {"freeze_ms" (the guest's time to freeze), "frozen_ms"
 *                   (freeze answered -> thaw answered), "copy_ms", "bytes",
 *                   "mib_per_s", "image", "dest", "format"})
 *       -> done(-EIO, {"stage": "freeze" | "copy" | "thaw", ...}) and the
 *          guest is thawed whenever the freeze had succeeded.
 *   A failure status gives done(-EIO, {"status", "status_name"}).
 * Stats: freezes, thaws, failed, backups, frozen (now), last_frozen_ms,
 * max_frozen_ms and the framework's.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/device.h"
#include "devices/ic/ic_internal.h"
#include "devices/ic/xfer_msg.h"
#include "devices/registry.h"

/* Linux 6.1 offers VSS 5.0 only, with framework 3.0 (facts §7.2). */
static const struct ic_version vss_versions[] = { { 5, 0 } };

#define VSS_STATS(X)                                                       \
	X(freezes, "FREEZE requests the guest completed")                 \
	X(thaws, "THAW requests the guest completed")                     \
	X(failed, "requests answered with a failure status or lost")      \
	X(backups, "backups completed")                                    \
	X(last_frozen_ms, "time between the last freeze and its thaw (a value)") \
	X(max_frozen_ms, "longest freeze (a value)")

struct vss;

/* A "backup" in progress: freeze -> copy (a child process) -> thaw. */
struct vss_backup {
	struct ic_call *call;
	char image[1024], dest[1024], format[16];
	pid_t pid;
	int pidfd;
	struct event *exited;
	int copy_err;           /* the copy's outcome, reported after the thaw */
	char copy_why[96];
	double copy_ms;
	double freeze_ms;       /* FREEZE sent -> the guest answered it */
	struct timespec copy_t0, freeze_t0;
};

struct vss {
	struct ic_dev ic;
	bool frozen;                /* the guest acknowledged a freeze not yet thawed */
	struct timespec frozen_at;
	struct vss_backup *bk;
	STATS_FIELDS(VSS_STATS)
};

/* One request in flight. */
struct vss_req {
	struct vss *vss;
	uint8_t op;
	struct ic_call *call;       /* NULL: part of the backup */
};

static double vss_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- Disk images -------------------------------------------------------------- */

/* What the image's first bytes look like (qemu's probes, in short); only
 * ever used to refuse an unstated format, never to choose one. */
static const char *vss_sniff_format(const char *path)
{
	uint8_t b[0x44] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return "raw";
	n = read(fd, b, sizeof(b));
	close(fd);
	if (n >= 4 && memcmp(b, "QFI\xfb", 4) == 0)
		return "qcow2";
	if (n >= 8 && memcmp(b, "vhdxfile", 8) == 0)
		return "vhdx";
	if (n >= 4 && memcmp(b, "KDMV", 4) == 0)
		return "vmdk";
	if (n >= 0x44 && memcmp(b + 0x40, "\x7f\x10\xda\xbe", 4) == 0)
		return "vdi";
	return "raw";
}

/* "name:lun" -> the storvsp's image path for that LUN (its stats list
 * them); anything else is a host path. */
static int vss_resolve_disk(const char *disk, char *out, size_t cap, char *why, size_t why_cap)
{
	const char *colon = strrchr(disk, ':');
	char name[64], *end;
	json_t *st, *disks, *d;
	size_t i;
	long lun;

	if (disk[0] == '/' || !colon || colon == disk || (size_t)(colon - disk) >= sizeof(name)) {
		snprintf(out, cap, "%s", disk);
		return 0;
	}
	memcpy(name, disk, (size_t)(colon - disk));
	name[colon - disk] = '\0';
	lun = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || lun < 0 || lun > 255) {
		snprintf(out, cap, "%s", disk);
		return 0;
	}
	st = device_peer_stats(name);
	if (!st) {
		snprintf(why, why_cap, "no device \"%s\"", name);
		return -ENOENT;
	}
	disks = json_object_get(st, "disks");
	json_array_foreach(disks, i, d) {
		if (json_integer_value(json_object_get(d, "lun")) == lun &&
		    json_is_string(json_object_get(d, "path"))) {
			snprintf(out, cap, "%s", json_string_value(json_object_get(d, "path")));
			json_decref(st);
			return 0;
		}
	}
	json_decref(st);
	snprintf(why, why_cap, "\"%s\" has no disk at LUN %ld", name, lun);
	return -ENOENT;
}

/* ---- Handlers --------------------------------------------------------------- */

static void vss_reply(struct ic_dev *ic, void *arg, int err, const struct ic_reply *reply);

static int vss_submit(struct vss *vss, uint8_t op, struct ic_call *call)
{
	struct vss_req *rq = calloc(1, sizeof(*rq));
	uint8_t body[sizeof(struct hv_vss_msg)];
	int len = vss_msg_build(body, sizeof(body), op), rc;

	if (!rq)
		return -ENOMEM;
	if (len < 0) {
		free(rq);
		return len;
	}
	rq->vss = vss;
	rq->op = op;
	rq->call = call;
	rc = ic_submit(&vss->ic, body, (size_t)len, 0, vss_reply, rq);
	if (rc)
		free(rq);
	return rc;
}

static void vss_backup_free(struct vss_backup *bk)
{
	if (bk->exited)
		event_free(bk->exited);
	if (bk->pidfd >= 0)
		close(bk->pidfd);
	if (bk->pid > 0) {
		kill(bk->pid, SIGKILL);
		waitpid(bk->pid, NULL, 0);
	}
	free(bk);
}

static void vss_backup_finish(struct vss *vss, int status, json_t *res)
{
	struct vss_backup *bk = vss->bk;

	vss->bk = NULL;
	if (!status)
		vss->backups++;
	ic_call_finish(bk->call, status, res);
	vss_backup_free(bk);
}

static void vss_backup_thaw(struct vss *vss)
{
	int rc = vss_submit(vss, VSS_OP_THAW, NULL);

	if (rc) {
		log_error("vss: cannot thaw the guest after the copy: %s", strerror(-rc));
		vss_backup_finish(vss, rc, json_pack("{s:s, s:s}", "stage", "thaw", "error", strerror(-rc)));
	}
}

static void vss_copy_exited(evutil_socket_t fd, short what, void *arg)
{
	struct vss *vss = arg;
	struct vss_backup *bk = vss->bk;
	int wst = 0;

	if (waitpid(bk->pid, &wst, 0) < 0)
		wst = -1;
	bk->pid = 0;
	bk->copy_ms = vss_ms_since(&bk->copy_t0);
	if (wst != 0) {
		bk->copy_err = -EIO;
		if (wst > 0 && WIFEXITED(wst))
			snprintf(bk->copy_why, sizeof(bk->copy_why), "copy exited with %d", WEXITSTATUS(wst));
		else
			snprintf(bk->copy_why, sizeof(bk->copy_why), "copy killed (status %d)", wst);
		log_warn("vss: backup of %s: %s", bk->image, bk->copy_why);
	}
	vss_backup_thaw(vss);
}

/* Starts the copy as a child process: the event loop (and so every
 * device, the guest's other disks among them) keeps running. */
static int vss_copy_start(struct vss *vss)
{
	struct vss_backup *bk = vss->bk;
	char *const cp_argv[] = { "cp", "--reflink=auto", "--sparse=always", bk->image, bk->dest, NULL };
	char *const qi_argv[] = { "qemu-img", "convert", "-U", "-f", bk->format, "-O", bk->format,
				  bk->image, bk->dest, NULL };
	char *const *argv = strcmp(bk->format, "raw") == 0 ? cp_argv : qi_argv;
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &bk->copy_t0);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	bk->pid = pid;
	bk->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (bk->pidfd < 0)
		return -errno; /* the caller's cleanup kills and reaps the child */
	bk->exited = event_new(vmbus_server_base(vss->ic.srv), bk->pidfd, EV_READ, vss_copy_exited, vss);
	if (!bk->exited || event_add(bk->exited, NULL))
		return -ENOMEM;
	log_info("vss: guest frozen; copying %s (%s) to %s", bk->image, bk->format, bk->dest);
	return 0;
}

static void vss_note_thawed(struct vss *vss, double *frozen_ms)
{
	*frozen_ms = vss->frozen ? vss_ms_since(&vss->frozen_at) : 0;
	if (vss->frozen) {
		vss->last_frozen_ms = (uint64_t)*frozen_ms;
		if (vss->last_frozen_ms > vss->max_frozen_ms)
			vss->max_frozen_ms = vss->last_frozen_ms;
	}
	vss->frozen = false;
}

/* The backup's requests: the freeze answered starts the copy, the thaw
 * answered ends the backup. */
static void vss_backup_step(struct vss *vss, uint8_t op, int err, uint32_t status)
{
	struct vss_backup *bk = vss->bk;
	double frozen_ms;
	int rc;

	if (op == VSS_OP_FREEZE) {
		if (err || status != HV_S_OK) {
			json_t *res = err ? json_object() : ic_status_json(status);

			json_object_set_new(res, "stage", json_string("freeze"));
			/* A freeze that timed out may still complete in the guest:
			 * thaw anyway (a thaw of nothing is harmless). */
			if (err == -ETIMEDOUT)
				vss_submit(vss, VSS_OP_THAW, NULL);
			vss_backup_finish(vss, err ? err : -EIO, res);
			return;
		}
		bk->freeze_ms = vss_ms_since(&bk->freeze_t0);
		rc = vss_copy_start(vss);
		if (rc) {
			bk->copy_err = rc;
			snprintf(bk->copy_why, sizeof(bk->copy_why), "cannot start the copy: %s", strerror(-rc));
			vss_backup_thaw(vss);
		}
		return;
	}
	/* THAW */
	frozen_ms = vss->frozen ? vss_ms_since(&vss->frozen_at) : 0;
	if (err || status != HV_S_OK) {
		json_t *res = err ? json_object() : ic_status_json(status);

		json_object_set_new(res, "stage", json_string("thaw"));
		json_object_set_new(res, "frozen_ms", json_real(frozen_ms));
		vss_backup_finish(vss, err ? err : -EIO, res);
		return;
	}
	vss_note_thawed(vss, &frozen_ms);
	if (bk->copy_err) {
		vss_backup_finish(vss, bk->copy_err,
				  json_pack("{s:s, s:s, s:f}", "stage", "copy", "error", bk->copy_why,
					    "frozen_ms", frozen_ms));
		return;
	}
	{
		struct stat st;
		json_int_t bytes = stat(bk->dest, &st) == 0 ? (json_int_t)st.st_size : -1;

		log_info("vss: backup of %s done: frozen %.0f ms, copy %.0f ms", bk->image, frozen_ms,
			 bk->copy_ms);
		vss_backup_finish(vss, 0, json_pack("{s:f, s:f, s:f, s:I, s:f, s:s, s:s, s:s}",
						    "freeze_ms", bk->freeze_ms,
						    "frozen_ms", frozen_ms, "copy_ms", bk->copy_ms,
						    "bytes", bytes, "mib_per_s",
						    bk->copy_ms > 0 && bytes > 0 ?
						    (double)bytes / 1048576.0 / (bk->copy_ms / 1e3) : 0.0,
						    "image", bk->image, "dest", bk->dest,
						    "format", bk->format));
	}
}

static void vss_reply(struct ic_dev *ic, void *arg, int err, const struct ic_reply *reply)
{
	struct vss_req *rq = arg;
	struct vss *vss = rq->vss;
	uint32_t status = err ? HV_E_FAIL : reply->hdr.status, flags = 0;
	double frozen_ms = 0;

	if (!err && vss_msg_parse_reply(reply->body, reply->body_len, rq->op, &flags)) {
		ic_bad_body(ic, "malformed VSS answer");
		err = -EBADMSG;
	}
	if (err || status != HV_S_OK)
		vss->failed++;
	else if (rq->op == VSS_OP_FREEZE) {
		vss->freezes++;
		if (!vss->frozen)
			clock_gettime(CLOCK_MONOTONIC, &vss->frozen_at);
		vss->frozen = true;
	} else if (rq->op == VSS_OP_THAW) {
		vss->thaws++;
	}
	if (!rq->call) {
		if (vss->bk)
			vss_backup_step(vss, rq->op, err, status);
		free(rq);
		return;
	}
	if (err) {
		ic_call_finish(rq->call, err, NULL);
	} else if (status != HV_S_OK) {
		ic_call_finish(rq->call, -EIO, ic_status_json(status));
	} else if (rq->op == VSS_OP_THAW) {
		json_t *res = ic_status_json(status);

		vss_note_thawed(vss, &frozen_ms);
		json_object_set_new(res, "frozen_ms", json_real(frozen_ms));
		ic_call_finish(rq->call, 0, res);
	} else if (rq->op == VSS_OP_HOT_BACKUP) {
		ic_call_finish(rq->call, 0, json_pack("{s:I}", "flags", (json_int_t)flags));
	} else {
		ic_call_finish(rq->call, 0, ic_status_json(status));
	}
	free(rq);
}

static int vss_control_backup(struct vss *vss, const json_t *args, device_control_done done,
			      void *cookie, struct json_err *err)
{
	static const char *const keys[] = { "disk", "dest", "format", NULL };
	const char *disk, *dest, *format = NULL;
	struct vss_backup *bk;
	char why[128];
	struct stat st;
	int rc;

	if (!args)
		return json_fail(err, NULL, "backup", "needs arguments");
	rc = json_check_keys(args, "backup", keys, err);
	if (!rc)
		rc = json_get_string(args, "backup", "disk", true, &disk, err);
	if (!rc)
		rc = json_get_string(args, "backup", "dest", true, &dest, err);
	if (!rc)
		rc = json_get_string(args, "backup", "format", false, &format, err);
	if (rc)
		return rc;
	if (vss->bk)
		return json_fail(err, NULL, "backup", "a backup is already running");
	if (format && strspn(format, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(format))
		return json_fail(err, "backup", "format", "not a format name");
	bk = calloc(1, sizeof(*bk));
	if (!bk)
		return -ENOMEM;
	bk->pidfd = -1;
	rc = vss_resolve_disk(disk, bk->image, sizeof(bk->image), why, sizeof(why));
	if (rc) {
		free(bk);
		return json_fail(err, "backup", "disk", "%s", why);
	}
	if (stat(bk->image, &st) || !S_ISREG(st.st_mode)) {
		free(bk);
		return json_fail(err, "backup", "disk", "%s: not a regular file", disk);
	}
	if (access(dest, F_OK) == 0) {
		free(bk);
		return json_fail(err, "backup", "dest", "%s exists", dest);
	}
	/* The format is never taken from the image alone: a guest that writes
	 * a qcow2 header into its raw disk must not make the host interpret it
	 * (a backing file would pull host files into the backup).  The header
	 * only makes an unstated format an error. */
	if (!format && strcmp(vss_sniff_format(bk->image), "raw") != 0) {
		rc = json_fail(err, "backup", "format", "%s looks like %s: say \"format\" (\"raw\" to copy it as is)",
			       bk->image, vss_sniff_format(bk->image));
		free(bk);
		return rc;
	}
	snprintf(bk->dest, sizeof(bk->dest), "%s", dest);
	snprintf(bk->format, sizeof(bk->format), "%s", format ? format : "raw");
	bk->call = ic_call_new(done, cookie);
	if (!bk->call) {
		free(bk);
		return -ENOMEM;
	}
	vss->bk = bk;
	clock_gettime(CLOCK_MONOTONIC, &bk->freeze_t0);
	rc = vss_submit(vss, VSS_OP_FREEZE, NULL);
	if (rc) {
		vss->bk = NULL;
		free(bk->call);
		free(bk);
		return ic_submit_error(err, "backup", rc);
	}
	log_info("vss: backup of %s to %s: freezing the guest", bk->image, bk->dest);
	return 0;
}

static int vss_control(void *dev, const char *verb, const json_t *args,
		       device_control_done done, void *cookie, struct json_err *err)
{
	static const char *const no_keys[] = { NULL };
	struct vss *vss = dev;
	struct ic_call *call;
	uint8_t op;
	int rc;

	if (strcmp(verb, "backup") == 0)
		return vss_control_backup(vss, args, done, cookie, err);
	if (strcmp(verb, "freeze") == 0)
		op = VSS_OP_FREEZE;
	else if (strcmp(verb, "thaw") == 0)
		op = VSS_OP_THAW;
	else if (strcmp(verb, "check") == 0)
		op = VSS_OP_HOT_BACKUP;
	else
		return -ENOTSUP;
	if (args) {
		rc = json_check_keys(args, verb, no_keys, err);
		if (rc)
			return rc;
	}
	if (vss->bk)
		return json_fail(err, NULL, verb, "a backup is running");
	call = ic_call_new(done, cookie);
	if (!call)
		return -ENOMEM;
	rc = vss_submit(vss, op, call);
	if (rc) {
		free(call);
		return ic_submit_error(err, verb, rc);
	}
	return 0;
}

/* ---- Lifecycle ---------------------------------------------------------------- */

static void vss_down(struct ic_dev *ic)
{
	struct vss *vss = ic->owner;

	vss->frozen = false; /* a guest that closed the channel is no longer ours to thaw */
}

static const struct ic_service vss_service = {
	.name = "vss",
	.class_guid = IC_VSS_CLASS_GUID_STR,
	.default_instance = "5d0a6c1e-7f2b-4c3d-9e8a-1b2c3d4e5f60",
	.msgtype = ICMSGTYPE_VSS,
	.max_pkt_size = 4096,
	.versions = vss_versions,
	.n_versions = ARRAY_SIZE(vss_versions),
	.down = vss_down,
};

static void vss_destroy(void *dev)
{
	struct vss *vss = dev;

	if (!vss)
		return;
	if (vss->bk && vss->bk->pid > 0)
		log_warn("vss: stopping the copy of %s", vss->bk->image);
	ic_destroy(&vss->ic);
	if (vss->bk)
		vss_backup_finish(vss, -ECONNRESET, NULL);
	free(vss);
}

static int vss_create(struct vmbus_server *srv, const json_t *config, const char *path,
		      void **dev, struct json_err *err)
{
	static const char *const keys[] = { IC_COMMON_KEYS, NULL };
	struct vss *vss;
	int rc;

	rc = json_check_keys(config, path, keys, err);
	if (rc)
		return rc;
	vss = calloc(1, sizeof(*vss));
	if (!vss)
		return json_fail(err, path, NULL, "out of memory");
	rc = ic_create(&vss->ic, &vss_service, vss, srv, config, path, err);
	if (rc) {
		free(vss);
		return rc;
	}
	*dev = vss;
	return 0;
}

STATS_DEFINE_STATIC(vss_counters, struct vss, VSS_STATS)

static json_t *vss_stats(void *dev)
{
	struct vss *vss = dev;
	json_t *o = ic_stats_json(&vss->ic);

	if (!o)
		return NULL;
	json_object_set_new(o, "frozen", json_boolean(vss->frozen));
	json_object_set_new(o, "backing_up", json_boolean(vss->bk != NULL));
	return vss_counters_json(vss, o);
}

const struct vmbus_device_ops vss_ops = {
	.name = "vss",
	.class_guid = IC_VSS_CLASS_GUID_STR,
	.guest_driver = "hv_utils",
	.description = "Hyper-V backup (volume snapshot) integration component",
	.create = vss_create,
	.destroy = vss_destroy,
	.control = vss_control,
	.stats = vss_stats,
};
