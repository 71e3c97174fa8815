/* SPDX-License-Identifier: MIT */
/*
 * VSS message bodies as pure functions (Linux 6.1 drivers/hv/hv_snapshot.c):
 * the host's request is one struct hv_vss_msg, always at its full size
 * because Linux drops shorter VSS packets without an answer; the guest
 * answers in the same buffer.
 */
#include "devices/ic/xfer_msg.h"

#include <errno.h>
#include <string.h>

const char *vss_op_name(uint8_t op)
{
	switch (op) {
	case VSS_OP_FREEZE: return "freeze";
	case VSS_OP_THAW: return "thaw";
	case VSS_OP_HOT_BACKUP: return "check";
	case VSS_OP_GET_DM_INFO: return "dm-info";
	default: return NULL;
	}
}

int vss_msg_build(uint8_t *buf, size_t cap, uint8_t op)
{
	struct hv_vss_msg m;

	if (cap < sizeof(m))
		return -EMSGSIZE;
	if (op >= VSS_OP_COUNT)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	m.vss_hdr.operation = op;
	memcpy(buf, &m, sizeof(m));
	return (int)sizeof(m);
}

int vss_msg_parse_reply(const uint8_t *body, size_t len, uint8_t op, uint32_t *flags_out)
{
	struct hv_vss_msg m;

	if (len < sizeof(m))
		return -EBADMSG;
	memcpy(&m, body, sizeof(m));
	if (m.vss_hdr.operation != op)
		return -EBADMSG;
	*flags_out = m.flags;
	return 0;
}
