/* SPDX-License-Identifier: MIT */
/*
 * Backup (volume snapshot) IC, "VSS" (facts §7; Linux 6.1
 * drivers/hv/hv_snapshot.c, include/uapi/linux/hyperv.h, tools/hv/
 * hv_vss_daemon.c).  The body at offset 28 of an ICMSGTYPE_VSS packet is a
 * struct hv_vss_msg; the guest answers in the host's buffer with the
 * outcome in icmsg_hdr.status (HV_S_OK or HV_E_FAIL).  Linux offers
 * framework 3.0 and VSS 5.0 only, and only on VMBus 3.0 (WIN8_1) or later.
 */
#ifndef VMBUSD_PROTO_VSS_H
#define VMBUSD_PROTO_VSS_H

#include <stdint.h>

#define IC_VSS_CLASS_GUID_STR "35fa2e29-ea23-4236-96ae-3a6ebacba440" /* HV_VSS_GUID */

/* enum hv_vss_op (uapi hyperv.h). */
enum hv_vss_op {
	VSS_OP_CREATE = 0,
	VSS_OP_DELETE = 1,
	VSS_OP_HOT_BACKUP = 2,   /* "check": Linux answers flags = VSS_HBU_NO_AUTO_RECOVERY */
	VSS_OP_GET_DM_INFO = 3,  /* Linux answers dm_info.flags = 0 without the daemon */
	VSS_OP_BU_COMPLETE = 4,
	VSS_OP_FREEZE = 5,       /* daemon FIFREEZEs every mounted /dev/ fs, "/" last */
	VSS_OP_THAW = 6,         /* daemon FITHAWs them */
	VSS_OP_AUTO_RECOVER = 7,
	VSS_OP_COUNT = 8,
};

#define VSS_HBU_NO_AUTO_RECOVERY 0x00000005u

struct hv_vss_hdr {
	uint8_t operation;   /* enum hv_vss_op */
	uint8_t reserved[7];
} __attribute__((packed));
_Static_assert(sizeof(struct hv_vss_hdr) == 8, "hv_vss_hdr");

/* struct hv_vss_msg: the first union is { hv_vss_hdr, int error } (error
 * is only the kernel<->daemon form), the second { hv_vss_check_feature,
 * hv_vss_check_dm_info }, both a u32 flags.  Linux 6.1 drops a VSS packet
 * shorter than 28 + 12 bytes without answering, so always send all of it. */
struct hv_vss_msg {
	struct hv_vss_hdr vss_hdr;
	uint32_t flags;      /* HOT_BACKUP: vss_cf.flags; GET_DM_INFO: dm_info.flags */
} __attribute__((packed));
_Static_assert(sizeof(struct hv_vss_msg) == 12, "hv_vss_msg");

#endif /* VMBUSD_PROTO_VSS_H */
