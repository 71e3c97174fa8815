/* SPDX-License-Identifier: MIT */
/*
 * Guest file copy IC, "fcopy" (facts §7; Linux 6.1 drivers/hv/hv_fcopy.c,
 * include/uapi/linux/hyperv.h, tools/hv/hv_fcopy_daemon.c).  The host
 * pushes one file as START_FILE_COPY, WRITE_TO_FILE chunks of at most
 * 6 KiB, then COMPLETE_FCOPY (or CANCEL_FCOPY).  Each is a transaction the
 * guest answers in the host's buffer with the daemon's result in
 * icmsg_hdr.status: HV_S_OK, HV_E_FAIL (also: no daemon registered, or it
 * did not answer within HV_UTIL_TIMEOUT = 30 s), HV_ERROR_ALREADY_EXISTS
 * (target exists and OVER_WRITE is clear), HV_ERROR_DISK_FULL (pwrite
 * ENOSPC).  Linux offers framework 3.0 and fcopy 1.1 only, and reads a
 * packet of at most 2 pages (max_pkt_size = HV_HYP_PAGE_SIZE * 2).
 */
#ifndef VMBUSD_PROTO_FCOPY_H
#define VMBUSD_PROTO_FCOPY_H

#include <stdint.h>

#define IC_FCOPY_CLASS_GUID_STR "34d14be3-dee4-41c8-9ae7-6b174977c192" /* HV_FCOPY_GUID */

#define W_MAX_PATH    260u         /* UTF-16 units per name field, NUL included */
#define DATA_FRAGMENT (6u * 1024u) /* bytes of file data per WRITE_TO_FILE */

enum hv_fcopy_op {
	START_FILE_COPY = 0,
	WRITE_TO_FILE = 1,
	COMPLETE_FCOPY = 2, /* daemon closes the file */
	CANCEL_FCOPY = 3,   /* daemon closes and unlinks it */
};

/* copy_flags */
#define FCOPY_OVER_WRITE  0x1u /* else HV_ERROR_ALREADY_EXISTS when it exists */
#define FCOPY_CREATE_PATH 0x2u /* daemon mkdirs missing directories of path_name */

struct hv_fcopy_hdr {
	uint32_t operation;      /* enum hv_fcopy_op */
	uint8_t service_id0[16]; /* guid_t, unused by Linux */
	uint8_t service_id1[16]; /* guid_t, unused by Linux */
} __attribute__((packed));
_Static_assert(sizeof(struct hv_fcopy_hdr) == 36, "hv_fcopy_hdr");

struct hv_start_fcopy {
	struct hv_fcopy_hdr hdr;
	uint16_t file_name[W_MAX_PATH]; /* UTF-16LE, NUL-terminated; Linux converts
					 * it to at most 259 UTF-8 bytes */
	uint16_t path_name[W_MAX_PATH]; /* directory; the daemon opens
					 * "path_name/file_name" O_CREAT|O_TRUNC 0744 */
	uint32_t copy_flags;            /* FCOPY_OVER_WRITE | FCOPY_CREATE_PATH */
	uint64_t file_size;             /* informational: the daemon only logs it */
} __attribute__((packed));
_Static_assert(sizeof(struct hv_start_fcopy) == 1088, "hv_start_fcopy");

struct hv_do_fcopy {
	struct hv_fcopy_hdr hdr;
	uint32_t pad;
	uint64_t offset;               /* pwrite offset */
	uint32_t size;                 /* bytes of data used, <= DATA_FRAGMENT */
	uint8_t data[DATA_FRAGMENT];
} __attribute__((packed));
_Static_assert(sizeof(struct hv_do_fcopy) == 6196, "hv_do_fcopy");

#endif /* VMBUSD_PROTO_FCOPY_H */
