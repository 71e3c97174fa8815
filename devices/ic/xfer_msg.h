/* SPDX-License-Identifier: MIT */
/*
 * Pure message builders and parsers of the VSS (vss_msg.c) and file-copy
 * (fcopy_msg.c) ICs, split from their devices so that the unit tests and
 * the fuzzer (tests/fuzz/fuzz_vss_fcopy.c) drive them without a channel.
 * Internal to devices/ic/.
 */
#ifndef VMBUSD_DEVICES_IC_XFER_MSG_H
#define VMBUSD_DEVICES_IC_XFER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "vmbusd/proto/fcopy.h"
#include "vmbusd/proto/vss.h"

/* ---- vss_msg.c ------------------------------------------------------------- */

/* "freeze", "thaw", "check" (HOT_BACKUP), "dm-info" (GET_DM_INFO) or NULL. */
const char *vss_op_name(uint8_t op);
/* The full 12-byte hv_vss_msg for op into buf: its length, -EMSGSIZE
 * (cap too small) or -EINVAL (op >= VSS_OP_COUNT). */
int vss_msg_build(uint8_t *buf, size_t cap, uint8_t op);
/* The guest's answer (the host's buffer back): -EBADMSG when shorter than
 * hv_vss_msg or carrying another operation; 0 and the flags word. */
int vss_msg_parse_reply(const uint8_t *body, size_t len, uint8_t op, uint32_t *flags_out);

/* ---- fcopy_msg.c ----------------------------------------------------------- */

#define FCOPY_NAME_MAX (W_MAX_PATH - 1) /* UTF-16 units and UTF-8 bytes Linux keeps */

/* Splits an absolute guest path "/a/b/c" into the directory ("/a/b", "/"
 * for "/c") and the file name ("c").  -EINVAL for a relative path, one
 * ending in '/', or a name of "." / ".."; -E2BIG when a part does not fit
 * its buffer. */
int fcopy_msg_split_path(const char *path, char *dir, size_t dir_cap, char *name, size_t name_cap);
/* START_FILE_COPY (1088 bytes, zero-filled).  -E2BIG when a name exceeds
 * 259 UTF-16 units or 259 UTF-8 bytes (Linux converts into W_MAX_PATH - 1
 * bytes and would truncate), -EINVAL for invalid UTF-8 or an empty name,
 * -EMSGSIZE for a small buffer. */
int fcopy_msg_build_start(uint8_t *buf, size_t cap, const char *dir, const char *name,
			  uint32_t copy_flags, uint64_t file_size);
/* WRITE_TO_FILE with `size` <= DATA_FRAGMENT bytes of data at offset; always
 * the full 6196 bytes (Linux hands sizeof(hv_do_fcopy) to the daemon). */
int fcopy_msg_build_write(uint8_t *buf, size_t cap, uint64_t offset, const void *data,
			  uint32_t size);
/* COMPLETE_FCOPY or CANCEL_FCOPY: the bare 36-byte header.  Linux hands the
 * whole packet to the daemon for these, whose read buffer is
 * sizeof(hv_do_fcopy): a longer body would make its read fail. */
int fcopy_msg_build_op(uint8_t *buf, size_t cap, uint32_t op);
/* The guest's answer: -EBADMSG when shorter than hv_fcopy_hdr or carrying
 * another operation. */
int fcopy_msg_parse_reply(const uint8_t *body, size_t len, uint32_t op);
/* The errno a failure status maps to: -EEXIST, -ENOSPC, else -EIO. */
int fcopy_status_errno(uint32_t status);

#endif
