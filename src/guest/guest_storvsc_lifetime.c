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

static bool hold_never(struct guest *g, void *arg)
{
	return false;
}

/* hold N [pages=P]: N READ SRBs of max_transfer_bytes sent round-robin over
 * the channels as fast as the rings take them, never waited for: what a
 * guest can make the host hold.  Each lists P page numbers (default: the
 * most a maximal transfer may span, max_transfer_bytes / 4096 + 1), all the
 * same page, at byte offset 512, so holding costs this guest one page.
 * With a slow disk the host keeps them in flight up to its limits and then
 * leaves the rings unread; the step stops when every ring stays full. */
int step_hold(struct sc *sc, struct step *st)
{
	uint32_t xfer = sc->props.max_transfer_bytes, pages = xfer / 4096 + 1;
	const char *pages_kv = step_kv(st, "pages");
	uint8_t cdb[10] = { 0x28 };
	struct vstor_packet vp;
	uint64_t n, sent = 0, v;
	int ret;
	uint32_t hdr, total, range_len;
	struct vmpacket_descriptor desc;
	uint8_t *pkt;
	uint64_t page;

	if (sc_parse_u64(st->args[0], &n) || n > 1000000 || xfer < 4096) {
		step_fail(st, "bad count");
		return 0;
	}
	if (pages_kv) {
		if (sc_parse_u64(pages_kv, &v) || v == 0 || v > 8000) {
			step_fail(st, "pages=1..8000");
			return 0;
		}
		pages = (uint32_t)v;
	}
	page = guest_mem_alloc(&sc->g->mem, 1);
	if (!page)
		return -ENOMEM;
	/* The range covers exactly the pages listed (facts §6.2). */
	range_len = pages * 4096u - 512u;
	hdr = 24 + 8 + 8 * pages;
	total = hdr + (uint32_t)sizeof(vp) + VMBUS_PKT_TRAILER_SIZE;
	pkt = calloc(1, total);
	if (!pkt)
		return -ENOMEM;
	put_be16(cdb + 7, (uint16_t)(xfer / 512));
	sc_srb_fill(&vp, 0, cdb, sizeof(cdb), VSTOR_DATA_IN, xfer);
	desc = (struct vmpacket_descriptor){
		.type = VM_PKT_DATA_USING_GPA_DIRECT, .offset8 = (uint16_t)(hdr / 8),
		.len8 = (uint16_t)((hdr + sizeof(vp)) / 8), .flags = VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
	};
	memcpy(pkt + 20, &(uint32_t){ 1 }, 4);          /* rangecount */
	memcpy(pkt + 24, &range_len, 4);
	memcpy(pkt + 28, &(uint32_t){ 512 }, 4);        /* byte_offset */
	for (uint32_t i = 0; i < pages; i++)
		memcpy(pkt + 32 + 8 * i, &(uint64_t){ page >> HV_PAGE_SHIFT }, 8);
	memcpy(pkt + hdr, &vp, sizeof(vp));
	/* Passes over the channels until a pass and a pause later nothing more
	 * fits (the host stopped reading) or n are sent.  The pause lets the
	 * host read what the rings hold and this guest take its answers. */
	for (int idle = 0; sent < n && idle < 2;) {
		uint64_t before = sent;

		for (unsigned int ci = 0; ci < sc->n_chan && sent < n; ci++) {
			struct guest_channel *ch = sc_chan(sc, ci);
			bool sig = false;
			int rc = 0;

			while (ch && sent < n) {
				desc.trans_id = SC_HOLD_TRANS_ID | sent;
				memcpy(pkt, &desc, sizeof(desc));
				rc = guest_ring_send_raw(&ch->out, pkt, total, &sig);
				if (rc)
					break;
				if (sig)
					guest_channel_signal(sc->g, ch);
				sent++;
			}
			if (rc && rc != -EAGAIN) {
				free(pkt);
				step_fail(st, "send: %s", strerror(-rc));
				return rc;
			}
		}
		idle = sent == before ? idle + 1 : 0;
		ret = guest_wait(sc->g, hold_never, NULL, 100);
		if (ret != -ETIMEDOUT) {
			free(pkt);
			return ret ? ret : -EINTR;
		}
	}
	free(pkt);
	json_object_set_new(st->out, "sent", json_integer((json_int_t)sent));
	json_object_set_new(st->out, "pages_listed", json_integer(pages));
	return 0;
}
