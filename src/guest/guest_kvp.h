/* SPDX-License-Identifier: MIT */
/*
 * KVP exchange, guest side: what Linux's hv_kvp.c and hv_kvp_daemon do
 * together, with the pools kept in memory.
 */
#ifndef VMBUSD_GUEST_KVP_H
#define VMBUSD_GUEST_KVP_H

#include <stdint.h>

#include "vmbusd/proto/ic.h"

struct guest;
struct guest_kvp;

struct guest_kvp *guest_kvp_new(void);
void guest_kvp_free(void *kvp);
/*
 * Handles one ICMSGTYPE_KVPEXCHANGE message in place: buf is the packet
 * payload (zero-padded to at least ICMSG_BODY_OFFSET + sizeof(struct
 * hv_kvp_ip_msg)), recvlen its real length.  Sets hdr->status and writes
 * the reply fields, as kvp_respond_to_host does; reports an event.
 */
void guest_kvp_exchange(struct guest *g, struct guest_kvp *kvp, uint32_t relid, uint8_t *buf,
			uint32_t recvlen, struct icmsg_hdr *hdr);

/* UTF-16LE <-> UTF-8 like utf16s_to_utf8s / utf8s_to_utf16s: stops at a
 * NUL, at inlen units or when out is full; returns the bytes/units
 * written (no terminator counted) or -1 for invalid UTF-8 input. */
int guest_kvp_utf16_to_utf8(const uint8_t *in, uint32_t inlen_units, char *out, uint32_t maxout);
int guest_kvp_utf8_to_utf16(const char *in, uint8_t *out, uint32_t maxout_units);

#endif
