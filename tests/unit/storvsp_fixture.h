/* SPDX-License-Identifier: MIT */
/*
 * Shared helper of test_storvsp_proto and test_storvsp_device.
 * Header-only so each test stays one standalone program.
 */
#ifndef VMBUSD_TESTS_STORVSP_FIXTURE_H
#define VMBUSD_TESTS_STORVSP_FIXTURE_H

#include <string.h>

#include "devices/storvsp/storvsp_internal.h"

/* A vstor_packet of operation `op` that asks for a completion. */
static struct vstor_packet pkt_op(uint32_t op)
{
	struct vstor_packet p;

	memset(&p, 0, sizeof(p));
	p.operation = op;
	p.flags = VSTOR_FLAG_REQUEST_COMPLETION;
	return p;
}

#endif
