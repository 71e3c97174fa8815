/* SPDX-License-Identifier: MIT */
/*
 * A synthetic hv_storvsc (Linux 6.1 drivers/scsi/storvsc_drv.c, facts §8):
 * opens the SCSI controller's channel (32 + 32 ring pages, max_pkt_size
 * 80), runs storvsc_channel_init (BEGIN, QUERY_PROTOCOL_VERSION 0x0602 /
 * 0x0600 / 0x0501, QUERY_PROPERTIES, END, CREATE_SUB_CHANNELS), opens the
 * subchannels the host offers, and then executes a script of SCSI steps
 * with many requests in flight over every open channel.
 *
 * Requests: trans_id = ((channel << 16) | tag) + 1, like storvsc's
 * blk_mq_unique_tag() + 1; commands with data go as one GPA-direct range
 * into guest RAM, the others inband.  Completions are matched by trans_id
 * and must arrive as 64-byte VM_PKT_COMP packets on the channel the request
 * went out on; anything else is a host protocol error (counted, reported,
 * and fatal for the step).  Unsolicited ENUMERATE_BUS / REMOVE_DEVICE
 * (trans_id 0) are counted for `wait-enumerate`.
 *
 * The script language (one JSON line per step on stdout) is documented in
 * guest_storvsc_usage.
 */
#ifndef VMBUSD_GUEST_STORVSC_H
#define VMBUSD_GUEST_STORVSC_H

#include <stdint.h>

#include "guest/guest.h"

struct guest_storvsc_params {
	int subchannels;       /* CREATE_SUB_CHANNELS count; < 0: Linux's choice
	                        * min(vCPUs - 1, max_channel_cnt); 0: none */
	uint32_t queue_depth;  /* requests in flight, all channels (default 64) */
};

/* Result of guest_storvsc_run beyond -errno. */
#define GUEST_STORVSC_VERIFY_FAILED 1

/* Script syntax, for the tool's usage text. */
extern const char guest_storvsc_usage[];

/* Checks the script's syntax without running it: 0 or -EINVAL (logged). */
int guest_storvsc_check_script(int argc, char **argv);

/* On a connected guest with offers collected: probes the first SCSI
 * controller, runs the script, closes the channels.  0 when every step
 * passed, GUEST_STORVSC_VERIFY_FAILED at the first failed verification,
 * -errno when the transport or the protocol failed. */
int guest_storvsc_run(struct guest *g, const struct guest_storvsc_params *p, int argc,
		      char **argv);

#endif
