/* SPDX-License-Identifier: MIT */
/*
 * File-copy message bodies as pure functions (Linux 6.1 drivers/hv/
 * hv_fcopy.c, tools/hv/hv_fcopy_daemon.c).  Linux forwards START_FILE_COPY
 * and WRITE_TO_FILE to the daemon at their struct sizes and the other two
 * at the packet's length, so the first two always go out whole and
 * zero-filled and the last two as the bare header.
 */
#include "devices/ic/xfer_msg.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "devices/ic/ic_internal.h"

int fcopy_msg_split_path(const char *path, char *dir, size_t dir_cap, char *name, size_t name_cap)
{
	const char *slash;
	size_t dlen, nlen;

	if (!path || path[0] != '/')
		return -EINVAL;
	slash = strrchr(path, '/');
	nlen = strlen(slash + 1);
	if (nlen == 0 || strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0)
		return -EINVAL;
	dlen = slash == path ? 1 : (size_t)(slash - path);
	if (dlen + 1 > dir_cap || nlen + 1 > name_cap)
		return -E2BIG;
	memcpy(dir, path, dlen);
	dir[dlen] = '\0';
	memcpy(name, slash + 1, nlen + 1);
	return 0;
}

/* UTF-16 into a W_MAX_PATH field, refusing what Linux would truncate: its
 * utf16s_to_utf8s() writes at most W_MAX_PATH - 1 UTF-8 bytes. */
static int fcopy_msg_put_name(uint8_t *field, const char *s)
{
	uint8_t tmp[W_MAX_PATH * 2];
	int rc;

	if (!*s)
		return -EINVAL;
	if (strlen(s) > FCOPY_NAME_MAX)
		return -E2BIG;
	rc = utf16_encode(s, tmp, sizeof(tmp));
	if (rc < 0)
		return rc;
	memcpy(field, tmp, (size_t)rc);
	return 0;
}

int fcopy_msg_build_start(uint8_t *buf, size_t cap, const char *dir, const char *name,
			  uint32_t copy_flags, uint64_t file_size)
{
	struct hv_start_fcopy m;
	int rc;

	if (cap < sizeof(m))
		return -EMSGSIZE;
	memset(&m, 0, sizeof(m));
	m.hdr.operation = START_FILE_COPY;
	m.copy_flags = copy_flags;
	m.file_size = file_size;
	memcpy(buf, &m, sizeof(m));
	rc = fcopy_msg_put_name(buf + offsetof(struct hv_start_fcopy, file_name), name);
	if (!rc)
		rc = fcopy_msg_put_name(buf + offsetof(struct hv_start_fcopy, path_name), dir);
	return rc ? rc : (int)sizeof(m);
}

int fcopy_msg_build_write(uint8_t *buf, size_t cap, uint64_t offset, const void *data,
			  uint32_t size)
{
	struct hv_do_fcopy *m = (struct hv_do_fcopy *)buf;

	if (cap < sizeof(*m))
		return -EMSGSIZE;
	if (size > DATA_FRAGMENT)
		return -EINVAL;
	memset(buf, 0, sizeof(*m));
	m->hdr.operation = WRITE_TO_FILE;
	m->offset = offset;
	m->size = size;
	if (size)
		memcpy(m->data, data, size);
	return (int)sizeof(*m);
}

int fcopy_msg_build_op(uint8_t *buf, size_t cap, uint32_t op)
{
	struct hv_fcopy_hdr h;

	if (cap < sizeof(h))
		return -EMSGSIZE;
	if (op != COMPLETE_FCOPY && op != CANCEL_FCOPY)
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	h.operation = op;
	memcpy(buf, &h, sizeof(h));
	return (int)sizeof(h);
}

int fcopy_msg_parse_reply(const uint8_t *body, size_t len, uint32_t op)
{
	struct hv_fcopy_hdr h;

	if (len < sizeof(h))
		return -EBADMSG;
	memcpy(&h, body, sizeof(h));
	return h.operation == op ? 0 : -EBADMSG;
}

int fcopy_status_errno(uint32_t status)
{
	switch (status) {
	case HV_S_OK: return 0;
	case HV_ERROR_ALREADY_EXISTS: return -EEXIST;
	case HV_ERROR_DISK_FULL: return -ENOSPC;
	default: return -EIO;
	}
}
