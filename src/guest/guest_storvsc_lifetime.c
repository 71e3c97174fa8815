/* SPDX-License-Identifier: MIT */
/*
 * guest_storvsc_lifetime: steps that check the host's promise about guest
 * memory.  A driver that closes its channel, a guest that resets, a
 * frontend that detaches all hand their pages back: whatever the host
 * still had in flight must not land in them afterwards.
 *
 *   read-async LUN LBA COUNT   a READ sent without waiting for its answer
 *                              (its buffer is filled with 0x5A first)
 *   close                      CLOSECHANNEL on every channel, ring GPADLs torn
 *                              down (Linux's vmbus_close), waited for
 *   partition-reset            the frontend's RESET (a guest reboot), waited for
 *   detach                     the frontend's DETACH, waited for
 *   untouched MS               snapshots the read-async buffers now, waits MS ms
 *                              and fails if any byte of them changed
 *
 * A test arms the daemon's "blk.delay" fault point (a slow disk) so that
 * the reads are still running when the guest lets go.
 */
#include "guest/guest_storvsc_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

#define ASYNC_FILL 0x5A

/* The buffers of the READs sent by read-async, which `untouched` watches.
 * Kept apart from the requests: a completion that arrives before the guest
 * lets go (legitimately) recycles its request, not the memory. */
static struct { uint8_t *p; uint32_t len; } async_buf[SC_MAX_QD];
static unsigned int n_async;

int step_read_async(struct sc *sc, struct step *st)
{
	uint64_t lba, count, bytes;
	struct sc_req *req;
	uint8_t cdb[10] = { 0x28 };
	uint8_t lun;
	int ret;

	if (sc_parse_lun(st, st->args[0], &lun))
		return 0;
	if (sc_parse_u64(st->args[1], &lba) || sc_parse_u64(st->args[2], &count) || count == 0 ||
	    count > 0xFFFF || lba > 0xFFFFFFFFu || n_async == SC_MAX_QD) {
		step_fail(st, "bad LBA or COUNT (READ(10): LBA < 2^32, 1..65535 blocks)");
		return 0;
	}
	bytes = count * (sc->geo[lun].block_size ? sc->geo[lun].block_size : 512);
	if (bytes > sc->props.max_transfer_bytes) {
		step_fail(st, "%llu bytes is over the host's max_transfer_bytes",
			  (unsigned long long)bytes);
		return 0;
	}
	put_be32(cdb + 2, (uint32_t)lba);
	put_be16(cdb + 7, (uint16_t)count);
	req = sc_req_get(sc, sc_next_chan(sc), (uint32_t)bytes, 0);
	if (!req)
		return -ENOMEM;
	memset(req->buf, ASYNC_FILL, bytes);
	sc_srb_fill(&req->pkt, lun, cdb, sizeof(cdb), VSTOR_DATA_IN, (uint32_t)bytes);
	ret = sc_req_submit(sc, req);
	if (ret) {
		sc_req_put(sc, req);
		step_fail(st, "send failed: %s", strerror(-ret));
		return ret;
	}
	async_buf[n_async].p = req->buf;
	async_buf[n_async++].len = (uint32_t)bytes;
	/* Never waited for here: a completion, if any, recycles the tag. */
	sc_req_abandon(sc, req);
	json_object_set_new(st->out, "bytes", json_integer((json_int_t)bytes));
	return 0;
}

/* The channels are gone on the host side: forget them without messages. */
static void sc_forget_channels(struct sc *sc)
{
	for (unsigned int ci = 0; ci < sc->n_chan; ci++)
		sc->chan[ci] = NULL;
	sc->n_chan = 0;
}

int step_close(struct sc *sc, struct step *st)
{
	/* vmbus_close: CLOSECHANNEL, then the ring GPADL's teardown; the
	 * GPADL_TORNDOWN answer comes after the host processed the close. */
	sc_close_all(sc);
	return 0;
}

int step_partition_reset(struct sc *sc, struct step *st)
{
	int ret = guest_attach_reset(&sc->g->att);

	if (ret < 0) {
		step_fail(st, "RESET: %s", strerror(-ret));
		return ret;
	}
	guest_vmbus_forget(sc->g);
	sc_forget_channels(sc);
	return 0;
}

int step_detach(struct sc *sc, struct step *st)
{
	int ret = guest_attach_detach(&sc->g->att);

	if (ret < 0) {
		step_fail(st, "DETACH: %s", strerror(-ret));
		return ret;
	}
	sc_forget_channels(sc);
	sc->detached = true;
	return 0;
}

int step_untouched(struct sc *sc, struct step *st)
{
	struct timespec ts;
	uint64_t ms, changed = 0, read_back = 0;
	uint8_t **snap;

	if (sc_parse_u64(st->args[0], &ms) || ms > 600000) {
		step_fail(st, "bad milliseconds");
		return 0;
	}
	snap = calloc(n_async + 1, sizeof(*snap));
	if (!snap)
		return -ENOMEM;
	for (unsigned int i = 0; i < n_async; i++) {
		const uint8_t *p = async_buf[i].p;
		uint32_t len = async_buf[i].len;

		snap[i] = malloc(len);
		if (!snap[i]) {
			changed = UINT64_MAX;
			break;
		}
		memcpy(snap[i], p, len);
		/* Not the fill: the host's read landed before it let go. */
		read_back += p[0] != ASYNC_FILL || p[len - 1] != ASYNC_FILL;
	}
	/* Plain sleep: after a detach there is no daemon to poll. */
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	for (unsigned int i = 0; i < n_async && changed != UINT64_MAX; i++)
		for (uint32_t b = 0; b < async_buf[i].len; b++)
			changed += async_buf[i].p[b] != snap[i][b];
	for (unsigned int i = 0; i < n_async; i++)
		free(snap[i]);
	free(snap);
	if (changed == UINT64_MAX)
		return -ENOMEM;
	json_object_set_new(st->out, "buffers", json_integer(n_async));
	json_object_set_new(st->out, "landed_before", json_integer((json_int_t)read_back));
	json_object_set_new(st->out, "changed_bytes", json_integer((json_int_t)changed));
	if (changed)
		step_fail(st, "%llu bytes of the guest's buffers changed after the host let go of them",
			  (unsigned long long)changed);
	return 0;
}
