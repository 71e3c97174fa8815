/* SPDX-License-Identifier: MIT */
/*
 * The VSS and file-copy ICs, guest side: what Linux 6.1's hv_snapshot.c /
 * hv_fcopy.c do together with hv_vss_daemon / hv_fcopy_daemon.  Files go
 * under opts.fcopy_root (no root: no daemon, every request HV_E_FAIL, as
 * Linux answers while no daemon registered).
 */
#ifndef VMBUSD_GUEST_XFER_H
#define VMBUSD_GUEST_XFER_H

#include <stdbool.h>
#include <stdint.h>

#include "vmbusd/proto/ic.h"

struct guest;
struct guest_fcopy;

struct guest_fcopy *guest_fcopy_new(void);
void guest_fcopy_free(struct guest_fcopy *fc);
/* One ICMSGTYPE_VSS / ICMSGTYPE_FCOPY message handled in place (buf is the
 * zero-padded payload, recvlen its real length): sets hdr->status and
 * reports an event.  Returns false when Linux would not answer. */
bool guest_vss_handle(struct guest *g, uint32_t relid, uint8_t *buf, uint32_t recvlen,
		      struct icmsg_hdr *hdr);
bool guest_fcopy_handle(struct guest *g, struct guest_fcopy *fc, uint32_t relid, uint8_t *buf,
			uint32_t recvlen, struct icmsg_hdr *hdr);

#endif
