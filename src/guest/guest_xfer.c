/* SPDX-License-Identifier: MIT */
/*
 * VSS and file copy, guest side (facts §7; Linux 6.1 drivers/hv/
 * hv_snapshot.c, hv_fcopy.c, tools/hv/hv_vss_daemon.c, hv_fcopy_daemon.c),
 * written from those behaviours:
 *  - VSS: packets shorter than 28 + 12 bytes are dropped unanswered;
 *    FREEZE / THAW / HOT_BACKUP go to the daemon, which answers 0 (here:
 *    always, nothing to freeze); HOT_BACKUP's answer carries
 *    flags = VSS_HBU_NO_AUTO_RECOVERY; GET_DM_INFO answers flags 0; other
 *    operations answer 0 untouched.
 *  - fcopy: packets shorter than 28 + 36 bytes are dropped unanswered;
 *    START joins path_name "/" file_name, creates the missing directories
 *    that a '/' follows when CREATE_PATH is set, refuses an existing file
 *    without OVER_WRITE (HV_ERROR_ALREADY_EXISTS) and opens it
 *    O_CREAT|O_TRUNC 0744; WRITE pwrites size bytes at offset (ENOSPC ->
 *    HV_ERROR_DISK_FULL, other failures HV_E_FAIL); COMPLETE closes;
 *    CANCEL closes and unlinks.
 */
#include "guest/guest_xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/guest.h"
#include "guest/guest_kvp.h"
#include "vmbusd/proto/fcopy.h"
#include "vmbusd/proto/vss.h"

struct guest_fcopy {
	int fd;
	char target[PATH_MAX];  /* as the daemon names it, below the root */
	uint64_t bytes;
};

struct guest_fcopy *guest_fcopy_new(void)
{
	struct guest_fcopy *fc = calloc(1, sizeof(*fc));

	if (fc)
		fc->fd = -1;
	return fc;
}

void guest_fcopy_free(struct guest_fcopy *fc)
{
	if (!fc)
		return;
	if (fc->fd >= 0)
		close(fc->fd);
	free(fc);
}

bool guest_vss_handle(struct guest *g, uint32_t relid, uint8_t *buf, uint32_t recvlen,
		      struct icmsg_hdr *hdr)
{
	static const char *const names[VSS_OP_COUNT] = {
		"create", "delete", "check", "dm-info", "bu-complete", "freeze", "thaw", "auto-recover",
	};
	struct hv_vss_msg m;

	if (recvlen < ICMSG_BODY_OFFSET + sizeof(m)) {
		guest_error(g, "vss", "relid %u: %u-byte VSS packet too short; dropped", relid, recvlen);
		return false;
	}
	memcpy(&m, buf + ICMSG_BODY_OFFSET, sizeof(m));
	hdr->status = HV_S_OK;
	if (m.vss_hdr.operation == VSS_OP_HOT_BACKUP)
		m.flags = VSS_HBU_NO_AUTO_RECOVERY;
	else if (m.vss_hdr.operation == VSS_OP_GET_DM_INFO)
		m.flags = 0;
	memcpy(buf + ICMSG_BODY_OFFSET, &m, sizeof(m));
	guest_emit(g, json_pack("{s:s, s:i, s:s}", "event", "vss", "relid", (json_int_t)relid, "op",
				m.vss_hdr.operation < VSS_OP_COUNT ? names[m.vss_hdr.operation] : "unknown"));
	return true;
}

/* hv_fcopy_daemon's directory walk: every component a '/' follows. */
static int fcopy_make_dirs(const char *root, char *path, bool create)
{
	char full[PATH_MAX];

	for (char *q = strchr(path + 1, '/'); q; q = strchr(q + 1, '/')) {
		*q = '\0';
		snprintf(full, sizeof(full), "%s%s", root, path);
		if (access(full, F_OK)) {
			if (!create || mkdir(full, 0755)) {
				*q = '/';
				return -1;
			}
		}
		*q = '/';
	}
	return 0;
}

static uint32_t fcopy_start(struct guest *g, struct guest_fcopy *fc, const uint8_t *body)
{
	char name[W_MAX_PATH * 3], dir[W_MAX_PATH * 3], full[PATH_MAX];
	const char *root = g->opts.fcopy_root;
	uint32_t flags;
	int nn, nd;

	if (fc->fd >= 0) {
		close(fc->fd);
		fc->fd = -1;
	}
	/* utf16s_to_utf8s into W_MAX_PATH - 1 bytes of a zeroed buffer. */
	nn = guest_kvp_utf16_to_utf8(body + offsetof(struct hv_start_fcopy, file_name), W_MAX_PATH,
				     name, W_MAX_PATH - 1);
	nd = guest_kvp_utf16_to_utf8(body + offsetof(struct hv_start_fcopy, path_name), W_MAX_PATH,
				     dir, W_MAX_PATH - 1);
	if (nn < 0 || nd < 0)
		return HV_E_FAIL;
	name[nn] = '\0';
	dir[nd] = '\0';
	memcpy(&flags, body + offsetof(struct hv_start_fcopy, copy_flags), sizeof(flags));
	snprintf(fc->target, sizeof(fc->target), "%s/%s", dir, name);
	fc->bytes = 0;
	if (dir[0] != '/' || strstr(fc->target, "/../") || fcopy_make_dirs(root, dir, flags & FCOPY_CREATE_PATH))
		return HV_E_FAIL;
	snprintf(full, sizeof(full), "%s%s", root, fc->target);
	if (access(full, F_OK) == 0 && !(flags & FCOPY_OVER_WRITE))
		return HV_ERROR_ALREADY_EXISTS;
	fc->fd = open(full, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0744);
	return fc->fd < 0 ? HV_E_FAIL : HV_S_OK;
}

static uint32_t fcopy_write(struct guest *g, struct guest_fcopy *fc, const uint8_t *body)
{
	uint64_t offset;
	uint32_t size;
	ssize_t n;

	memcpy(&offset, body + offsetof(struct hv_do_fcopy, offset), sizeof(offset));
	memcpy(&size, body + offsetof(struct hv_do_fcopy, size), sizeof(size));
	if (fc->fd < 0 || size > DATA_FRAGMENT)
		return HV_E_FAIL;
	if (g->opts.fcopy_max_bytes && offset + size > g->opts.fcopy_max_bytes)
		return HV_ERROR_DISK_FULL; /* a full disk, simulated */
	n = pwrite(fc->fd, body + offsetof(struct hv_do_fcopy, data), size, (off_t)offset);
	if (n != (ssize_t)size)
		return n < 0 && errno == ENOSPC ? HV_ERROR_DISK_FULL : HV_E_FAIL;
	fc->bytes += size;
	return HV_S_OK;
}

bool guest_fcopy_handle(struct guest *g, struct guest_fcopy *fc, uint32_t relid, uint8_t *buf,
			uint32_t recvlen, struct icmsg_hdr *hdr)
{
	static const char *const names[] = { "start", "write", "complete", "cancel" };
	const uint8_t *body = buf + ICMSG_BODY_OFFSET;
	struct hv_fcopy_hdr h;
	char full[PATH_MAX];

	if (recvlen < ICMSG_BODY_OFFSET + sizeof(h)) {
		guest_error(g, "fcopy", "relid %u: %u-byte fcopy packet too short; dropped", relid, recvlen);
		return false;
	}
	memcpy(&h, body, sizeof(h));
	if (!g->opts.fcopy_root) {
		hdr->status = HV_E_FAIL; /* no daemon registered */
	} else {
		switch (h.operation) {
		case START_FILE_COPY:
			hdr->status = fcopy_start(g, fc, body);
			break;
		case WRITE_TO_FILE:
			hdr->status = fcopy_write(g, fc, body);
			break;
		case COMPLETE_FCOPY:
		case CANCEL_FCOPY:
			if (fc->fd >= 0)
				close(fc->fd);
			fc->fd = -1;
			if (h.operation == CANCEL_FCOPY && fc->target[0]) {
				snprintf(full, sizeof(full), "%s%s", g->opts.fcopy_root, fc->target);
				unlink(full);
			}
			hdr->status = HV_S_OK;
			break;
		default:
			hdr->status = HV_E_FAIL; /* the daemon's "Unknown operation" */
			break;
		}
	}
	/* Every chunk is one event too many: report the file's milestones. */
	if (h.operation != WRITE_TO_FILE || hdr->status != HV_S_OK)
		guest_emit(g, json_pack("{s:s, s:i, s:s, s:s, s:I, s:I}", "event", "fcopy", "relid",
					(json_int_t)relid, "op", h.operation < 4 ? names[h.operation] : "unknown",
					"path", fc->target, "bytes", (json_int_t)fc->bytes, "status",
					(json_int_t)hdr->status));
	return true;
}
