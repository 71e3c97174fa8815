/* SPDX-License-Identifier: MIT */
/*
 * The agent's `io` command: the synthetic guest as a real storvsc or
 * netvsc client for the length of one command, so a scenario can drive
 * traffic through a device and see what a driver that checks every packet
 * (the way Linux 6.1 does) made of it:
 *
 *   io storvsc [wait=MS] STEP...       the vstor handshake on the first SCSI
 *                                      controller (no subchannels), then the
 *                                      `vmbus-guest storvsc` script
 *   io netvsc [frames=N] [size=B] [hold=MS] [wait=MS]
 *                                      NVSP + RNDIS bring-up of every NIC,
 *                                      N frames from each NIC to the next,
 *                                      then HOLD ms more with the NICs up
 *
 * wait=MS bounds every protocol wait of the driver (default: the agent's
 * --timeout), so a dropped completion fails in MS, not in 10 s.  Every
 * step result and every host protocol error the driver detected goes out
 * as the command's @@OUT lines (JSON events); the status is 0 when every
 * step passed, 1 when a verification failed (a refused or malformed
 * completion, a frame lost), 2 when the channel or the connection broke
 * (a corrupted ring), 127 for a bad command line.  The drivers close
 * their channels at the end, whatever happened; the agent then binds them
 * again like any unbound channel, on a fresh ring.
 */
#include "guest/guest_agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest_netvsc.h"
#include "guest/guest_storvsc.h"
#include "vmbusd/proto/nvsp.h"
#include "vmbusd/proto/storvsc.h"

#define IO_MAX_WAIT_MS 600000

/* "key=N" with N in [min, max]: 1 matched, 0 another word, -1 bad value. */
static int io_opt(const char *word, const char *key, uint32_t min, uint32_t max, uint32_t *out)
{
	size_t klen = strlen(key);
	char *end;
	unsigned long v;

	if (strncmp(word, key, klen) || word[klen] != '=')
		return 0;
	v = strtoul(word + klen + 1, &end, 10);
	if (!word[klen + 1] || *end || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 1;
}

static int io_status(int ret)
{
	return ret == 0 ? 0 : ret > 0 ? 1 : 2;
}

static int io_storvsc(struct guest *g, int argc, char **argv)
{
	struct guest_storvsc_params p = { .subchannels = 0 };
	uint32_t wait;
	int i = 0;

	for (; i < argc && !strncmp(argv[i], "wait=", 5); i++) {
		if (io_opt(argv[i], "wait", 1, IO_MAX_WAIT_MS, &wait) != 1)
			return -EINVAL;
		g->opts.timeout_ms = (int)wait;
	}
	if (i == argc || guest_storvsc_check_script(argc - i, argv + i))
		return -EINVAL;
	return io_status(guest_storvsc_run(g, &p, argc - i, argv + i));
}

static int io_netvsc(struct guest *g, int argc, char **argv)
{
	struct guest_netvsc_params p = { .frames = 10, .frame_size = 256 };
	uint32_t wait;

	for (int i = 0; i < argc; i++) {
		int m = io_opt(argv[i], "frames", 0, 1000000, &p.frames);

		if (!m)
			m = io_opt(argv[i], "size", 64, 1514, &p.frame_size);
		if (!m)
			m = io_opt(argv[i], "hold", 0, IO_MAX_WAIT_MS, &p.hold_ms);
		if (!m && (m = io_opt(argv[i], "wait", 1, IO_MAX_WAIT_MS, &wait)) == 1)
			g->opts.timeout_ms = (int)wait;
		if (m != 1)
			return -EINVAL;
	}
	return io_status(guest_netvsc_run(g, &p));
}

int guest_agent_io(struct guest *g, int argc, char **argv)
{
	int saved = g->opts.timeout_ms, ret = -EINVAL;

	if (argc >= 1 && !strcmp(argv[0], "storvsc"))
		ret = io_storvsc(g, argc - 1, argv + 1);
	else if (argc >= 1 && !strcmp(argv[0], "netvsc"))
		ret = io_netvsc(g, argc - 1, argv + 1);
	g->opts.timeout_ms = saved;
	return ret == -EINVAL ? 127 : ret;
}

const char *guest_agent_io_class(const char *driver)
{
	if (driver && !strcmp(driver, "storvsc"))
		return STORVSC_SCSI_CLASS_GUID_STR;
	if (driver && !strcmp(driver, "netvsc"))
		return NETVSC_CLASS_GUID_STR;
	return NULL;
}
