/* SPDX-License-Identifier: MIT */
/*
 * A synthetic hv_netvsc (Linux 6.1 drivers/net/hyperv, facts §9), written
 * from the protocol facts, never from vmbusd's server code: opens every
 * synthetic NIC's primary channel, negotiates NVSP (Linux's version list,
 * or one version), sends NDIS_CONFIG and NDIS_VER, hands over a receive
 * buffer (0xCAFE) and a send buffer, runs the RNDIS probe (INIT with its
 * header crossing a page in GPA-direct pages, QUERY MAC / frame size /
 * offload capabilities, SET offload parameters, SET packet filter), then
 * optionally opens subchannels (RSS capabilities, SUBCHANNEL allocate, the
 * offers), then exchanges frames: NIC i sends `frames` frames to NIC i+1
 * (alternately from a send section and as GPA-direct pages, spread over
 * its channels) and checks every frame that
 * arrives, by sequence number and content.  With two NICs on one dgram
 * wire, that is frames both ways through the host.
 *
 * Host packets are checked as Linux checks them: completions echo the
 * trans_id, transfer-page packets name pageset 0xCAFE and ranges inside
 * the receive buffer and no longer than a sub-allocation.  Every
 * transfer-page packet is completed (NVSP 108).
 */
#ifndef VMBUSD_GUEST_NETVSC_H
#define VMBUSD_GUEST_NETVSC_H

#include <stdint.h>

#include "guest/guest.h"

struct guest_netvsc_params {
	uint32_t nvsp_version;   /* 0: Linux's list, highest first */
	uint32_t frames;         /* frames each NIC sends to the next one */
	uint32_t frame_size;     /* bytes per frame (>= 64, <= 1514) */
	uint32_t subchannels;    /* NVSP >= 5: ask for this many (capped by the
				  * RSS queues the host reports); 0 = none */
	uint32_t hold_ms;        /* after the frames, stay up this long, receiving
				  * (status indications of a link change) */
};

#define GUEST_NETVSC_VERIFY_FAILED 1

/* 0 when every NIC came up and every frame arrived intact,
 * GUEST_NETVSC_VERIFY_FAILED, or -errno. */
int guest_netvsc_run(struct guest *g, const struct guest_netvsc_params *p);

#endif
