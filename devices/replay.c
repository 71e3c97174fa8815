/* SPDX-License-Identifier: MIT */
/*
 * The replay device: plays the host side of one captured channel
 * (`vmbusd replay`, src/trace/trace_replay.c, builds its script from a
 * capture).  It offers the captured class and instance; when the guest
 * opens the channel it sends the captured host packets up to the first
 * guest packet, then for every guest packet compares it with the next
 * captured one and, when they match, sends the host packets that followed
 * it in the capture.  The first mismatch stops the channel and is kept
 * (both packets, as hex) in the device's stats for the report.
 *
 * What may differ between the capture and the new run, and is rewritten:
 * guest transaction ids (a captured guest id is mapped to the live one the
 * first time it is seen; host completions carrying it get the live one),
 * the range/PFN headers of GPA-direct packets (guest pages move), and GPADL
 * handles inside guest packets where the script marks one ("gpadl_at":
 * netvsc's receive and send buffers), mapped captured -> live the same way.
 *
 * Data steps put what the captured host wrote into guest pages outside the
 * ring (a storvsc read's data, a netvsc receive-buffer message) into the
 * new guest's pages for the same request, before the packet that tells
 * the guest: into the GPA-direct pages of the live guest packet that
 * matched the captured one with that transaction id, or into the live
 * GPADL (mapped handle) of the primary channel at the captured offset.
 *
 * Subchannels: an "offer" step offers subchannel N (its own script, from
 * "subchannels") at the point of the session where the captured host
 * offered it; the primary's stats cover its subchannels.
 *
 * Matching tolerates a real guest's reordering: a guest packet matches the
 * first unmatched captured one within REPLAY_WINDOW steps that compares
 * equal; an answer (a completion, a request's data) is played once its own
 * guest packet matched; an unsolicited host step once every guest packet
 * before it on its channel matched, after the unsolicited steps before it,
 * and paced: as long after the guest packet before it as in the capture
 * (replay_paced).
 *
 * Order across channels: a host step is played only once every guest
 * packet captured before it, on any channel, has arrived (replay_ordered
 * says which steps; answers to this channel's own guest do not wait) (the shutdown
 * request of a session waits for the KVP answers that preceded it; a
 * frame received on one NIC waits for the frame sent on the other), so the
 * devices of one replay share a list (one replay per process).
 *
 * Config (written by trace/, not meant for hand-editing):
 *   {"type": "replay", "class": GUID, "instance": GUID, "capture_relid": N,
 *    "max_pkt_size": N, "signal_every_packet": bool,
 *    "script": [STEP, ...],
 *    "subchannels": [{"index": N, "capture_relid": N, "max_pkt_size": N,
 *                     "script": [STEP, ...]}, ...]}
 *   STEP: {"in": bool, "seq": N, "ts": NS, "raw": "hex", "gpadl_at": K}   a packet
 *         {"data": true, "seq": N, "gpadl": H, "offset": O, "tid": T, "raw": "hex"}
 *               (gpadl 0: the pages of the guest packet with captured id T)
 *         {"offer": N, "seq": N}                                   a subchannel
 * "raw" is the packet from its descriptor, as the capture holds it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/guid.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/trace.h"
#include "core/util.h"
#include "devices/device.h"
#include "vmbusd/proto/ring.h"
#include "vmbusd/proto/trace.h"

#define REPLAY_TID_MAP 256
#define REPLAY_WINDOW 256       /* steps ahead a guest packet may be matched in */
#define REPLAY_MAX_PACE_NS 10000000000ull /* longest captured pause kept */
#define REPLAY_GPADL_MAP 16
#define REPLAY_SAVED_PKTS 256
#define REPLAY_MAX_SUB 64
#define REPLAY_DATA_IOV 1024 /* pages of a 4 MiB buffer */
/* vmbusd's own class for a replay device given no "class".  The one
 * exception to "the class lives in the ops": a replay offers the class of
 * the channel it plays, which only the capture knows. */
#define REPLAY_CLASS_GUID_STR "7a3c8f10-5d2e-4b9a-9c61-2f0e8d4b7a11"

enum replay_kind { STEP_IN, STEP_OUT, STEP_DATA, STEP_OFFER };

struct replay_step {
	enum replay_kind kind;
	uint32_t seq;          /* record number in the capture */
	uint8_t *raw;          /* packet: descriptor onwards; data: the bytes */
	uint32_t len;
	uint32_t gpadl_at;     /* in: byte of raw holding a GPADL handle (0: none) */
	uint32_t gpadl;        /* data: captured GPADL handle, 0 = packet pages */
	uint64_t offset;       /* data: offset in the GPADL or in the packet's pages */
	uint64_t tid;          /* data (packet pages): the captured trans id */
	uint16_t sub;          /* offer: subchannel index */
	int32_t req;           /* host step answering guest packet steps[req]; -1: unsolicited */
	int32_t ref;           /* unsolicited: the last guest packet step before it, -1: none */
	uint64_t ts;           /* capture time, ns */
	uint64_t live_ns;      /* guest packet: when it was matched (CLOCK_MONOTONIC) */
	bool done;             /* guest packet matched / host step played */
};

/* A live GPA-direct guest packet, kept for the data step of its request. */
struct replay_saved {
	uint64_t tid;          /* captured trans id */
	uint8_t *raw;
	uint32_t len;
};

struct replay_dev {
	struct vmbus_server *srv;
	struct vmbus_channel *ch;
	struct replay_dev *primary;        /* NULL for a primary */
	struct vmbus_offer_params offer;
	uint32_t capture_relid;
	struct replay_step *steps;
	uint32_t n_steps, next;
	uint32_t matched, sent, data_written;
	bool diverged;
	char why[160];
	uint32_t div_seq;
	char *div_expected, *div_actual;   /* hex */
	struct { uint64_t captured, live; } tids[REPLAY_TID_MAP];
	uint32_t n_tids;
	struct { uint32_t captured, live; } gpadls[REPLAY_GPADL_MAP]; /* on the primary */
	uint32_t n_gpadls;
	struct replay_saved saved[REPLAY_SAVED_PKTS];
	uint32_t saved_next;
	struct event *timer;               /* a paced host step is due */
	/* Subchannels (primary only): their configs until offered. */
	json_t *sub_cfg;
	struct replay_dev *subs[REPLAY_MAX_SUB];
	uint32_t n_subs;
};

#define REPLAY_MAX_DEVS 128
static struct replay_dev *replay_devs[REPLAY_MAX_DEVS];
static unsigned replay_n_devs;

/* Is a guest packet captured before record `seq` still awaited anywhere? */
static bool replay_waits_before(uint32_t seq)
{
	for (unsigned d = 0; d < replay_n_devs; d++) {
		const struct replay_dev *r = replay_devs[d];

		for (uint32_t i = r->next; i < r->n_steps; i++) {
			if (r->steps[i].kind == STEP_IN && !r->steps[i].done) {
				if (r->steps[i].seq < seq)
					return true;
				break;
			}
		}
	}
	return false;
}

/* Does host step s wait for guest packets captured earlier on other
 * channels?  Not an answer to this channel's own guest: a completion, the
 * data of a request (packet pages) or a subchannel offer follow a guest
 * packet of this channel, already matched, so waiting on other channels
 * would only tie unrelated timing together (a real guest's heartbeat
 * answers and its disk reads).  Host-initiated packets and receive-buffer
 * data (a frame that came from another NIC) keep the captured order. */
static bool replay_ordered(const struct replay_step *s)
{
	struct vmpacket_descriptor d;

	if (s->kind == STEP_OFFER || (s->kind == STEP_DATA && !s->gpadl))
		return false;
	if (s->kind == STEP_OUT) {
		memcpy(&d, s->raw, sizeof(d));
		return d.type != VM_PKT_COMP;
	}
	return true;
}

static struct replay_dev *replay_prim(struct replay_dev *r)
{
	return r->primary ? r->primary : r;
}

/* ---- matching ---------------------------------------------------------------- */

/* A guest reuses its transaction ids (Linux's request ids come back to a
 * free list at completion), and a reordered submission takes another one:
 * the map holds, per captured id, the live id of the request matched last
 * (its answers are played before the captured id can come again). */
static void replay_set_tid(struct replay_dev *r, uint64_t captured, uint64_t live)
{
	for (uint32_t i = 0; i < r->n_tids; i++) {
		if (r->tids[i].captured == captured) {
			r->tids[i].live = live;
			return;
		}
	}
	if (r->n_tids < REPLAY_TID_MAP) {
		r->tids[r->n_tids].captured = captured;
		r->tids[r->n_tids].live = live;
		r->n_tids++;
	} else {
		/* Oldest entry out: ids of a long session cycle through. */
		memmove(r->tids, r->tids + 1, (REPLAY_TID_MAP - 1) * sizeof(r->tids[0]));
		r->tids[REPLAY_TID_MAP - 1].captured = captured;
		r->tids[REPLAY_TID_MAP - 1].live = live;
	}
}

static uint64_t replay_live_tid(struct replay_dev *r, uint64_t captured, bool *found)
{
	for (uint32_t i = 0; i < r->n_tids; i++) {
		if (r->tids[i].captured == captured) {
			*found = true;
			return r->tids[i].live;
		}
	}
	*found = false;
	return captured;
}

/* GPADL handles are the guest's choice: mapped per device (on its primary). */
static uint32_t replay_live_gpadl(struct replay_dev *r, uint32_t captured)
{
	struct replay_dev *p = replay_prim(r);

	for (uint32_t i = 0; i < p->n_gpadls; i++)
		if (p->gpadls[i].captured == captured)
			return p->gpadls[i].live;
	return captured;
}

static void replay_map_gpadl(struct replay_dev *r, uint32_t captured, uint32_t live)
{
	struct replay_dev *p = replay_prim(r);

	for (uint32_t i = 0; i < p->n_gpadls; i++) {
		if (p->gpadls[i].captured == captured) {
			p->gpadls[i].live = live; /* a buffer given anew (MTU change, reopen) */
			return;
		}
	}
	if (p->n_gpadls < REPLAY_GPADL_MAP) {
		p->gpadls[p->n_gpadls].captured = captured;
		p->gpadls[p->n_gpadls].live = live;
		p->n_gpadls++;
	}
}

static void replay_diverge(struct replay_dev *r, const struct replay_step *s, const uint8_t *raw,
			   uint32_t len, const char *why)
{
	r->diverged = true;
	r->div_seq = s ? s->seq : 0;
	snprintf(r->why, sizeof(r->why), "%s", why);
	r->div_expected = s && s->kind != STEP_OFFER ? hex_encode(s->raw, s->len) : NULL;
	r->div_actual = raw ? hex_encode(raw, len) : NULL;
	log_warn("replay: relid %u: divergence at captured record #%u: %s",
		 vmbus_chan_relid(r->ch), r->div_seq, why);
}

/* Same packet up to what may change (see the top of the file)?  No side
 * effect: a guest packet is compared with several captured candidates. */
static const char *replay_compare(const struct replay_step *s, const struct vmbus_pkt *pkt)
{
	struct vmpacket_descriptor want, got;
	uint32_t skip_to = sizeof(want), g = s->gpadl_at;

	if (pkt->raw_len != s->len)
		return "packet length";
	memcpy(&want, s->raw, sizeof(want));
	memcpy(&got, pkt->raw, sizeof(got));
	if (want.type != got.type)
		return "packet type";
	if (want.offset8 != got.offset8 || want.flags != got.flags)
		return "descriptor offset8 or flags";
	if (want.type == VM_PKT_DATA_USING_GPA_DIRECT)
		skip_to = (uint32_t)want.offset8 * 8; /* ranges and PFNs: guest pages */
	if (g >= skip_to && (uint64_t)g + 4 <= s->len)
		return memcmp(s->raw + skip_to, pkt->raw + skip_to, g - skip_to) ||
		       memcmp(s->raw + g + 4, pkt->raw + g + 4, s->len - g - 4) ? "payload bytes" : NULL;
	if (memcmp(s->raw + skip_to, pkt->raw + skip_to, s->len - skip_to))
		return "payload bytes";
	return NULL;
}

/* What the match of s with pkt makes known: the live transaction id and
 * GPADL handle for the captured ones. */
static void replay_commit(struct replay_dev *r, const struct replay_step *s,
			  const struct vmbus_pkt *pkt)
{
	struct vmpacket_descriptor want;

	memcpy(&want, s->raw, sizeof(want));
	replay_set_tid(r, want.trans_id, pkt->trans_id);
	if (s->gpadl_at) {
		uint32_t cg, lg;

		memcpy(&cg, s->raw + s->gpadl_at, 4);
		memcpy(&lg, pkt->raw + s->gpadl_at, 4);
		replay_map_gpadl(r, cg, lg);
	}
}

/* Keeps a matched live GPA-direct packet for the data step of its request. */
static void replay_save_pkt(struct replay_dev *r, uint64_t captured_tid, const struct vmbus_pkt *pkt)
{
	struct replay_saved *sv = NULL;
	uint8_t *copy;

	for (uint32_t i = 0; i < REPLAY_SAVED_PKTS; i++)
		if (r->saved[i].raw && r->saved[i].tid == captured_tid)
			sv = &r->saved[i];
	if (!sv)
		sv = &r->saved[r->saved_next++ % REPLAY_SAVED_PKTS];
	copy = malloc(pkt->raw_len);
	if (!copy)
		return;
	memcpy(copy, pkt->raw, pkt->raw_len);
	free(sv->raw);
	sv->raw = copy;
	sv->len = pkt->raw_len;
	sv->tid = captured_tid;
}

/* Writes len bytes into the iovecs from byte `skip` of them on. */
static void replay_iov_write(const struct iovec *iov, int n, uint64_t skip, const uint8_t *src,
			     size_t len)
{
	for (int i = 0; i < n && len; i++) {
		size_t c;

		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		c = MIN(len, iov[i].iov_len - (size_t)skip);
		memcpy((uint8_t *)iov[i].iov_base + skip, src, c);
		src += c;
		len -= c;
		skip = 0;
	}
}

/* Writes a data step's bytes into the new guest's pages; NULL or why not. */
static const char *replay_write_data(struct replay_dev *r, const struct replay_step *s)
{
	struct iovec iov[REPLAY_DATA_IOV];
	uint64_t total = 0, skip;
	int n;

	if (s->gpadl) {
		struct replay_dev *p = replay_prim(r);

		n = vmbus_chan_gpadl_iov(p->ch, replay_live_gpadl(r, s->gpadl), s->offset, s->len, iov,
					 REPLAY_DATA_IOV);
		if (n < 0)
			return "data record: the new guest's GPADL does not hold its range";
		skip = 0;
		total = s->len;
	} else {
		struct replay_saved *sv = NULL;
		struct vmpacket_descriptor d;
		struct vmbus_pkt pkt;

		for (uint32_t i = 0; i < REPLAY_SAVED_PKTS; i++)
			if (r->saved[i].raw && r->saved[i].tid == s->tid)
				sv = &r->saved[i];
		if (!sv)
			return "data record: no guest packet with its transaction id had pages";
		memcpy(&d, sv->raw, sizeof(d));
		pkt = (struct vmbus_pkt){ .type = d.type, .flags = d.flags, .trans_id = d.trans_id,
					  .raw = sv->raw, .raw_len = sv->len,
					  .data = sv->raw + (uint32_t)d.offset8 * 8,
					  .data_len = sv->len - (uint32_t)d.offset8 * 8 };
		n = vmbus_pkt_gpa_direct_iov(&pkt, vmbus_chan_gmem(r->ch), iov, REPLAY_DATA_IOV, &total);
		if (n < 0)
			return "data record: the guest packet's pages cannot be mapped";
		skip = s->offset;
	}
	if (total < skip || total - skip < s->len)
		return "data record: larger than the new guest's buffer";
	replay_iov_write(iov, n, skip, s->raw, s->len);
	/* A capture of the replay (--trace) holds the data as the live guest
	 * got it: live GPADL handle or transaction id. */
	if (trace_active()) {
		struct iovec one = { s->raw, s->len };
		bool found;

		if (s->gpadl)
			trace_emit_iov(VMBUS_TRACE_DATA_OUT, vmbus_chan_relid(r->ch), VMBUS_TRACE_VP_NONE,
				       replay_live_gpadl(r, s->gpadl), s->offset, &one, 1, s->len);
		else
			trace_emit_iov(VMBUS_TRACE_DATA_OUT, vmbus_chan_relid(r->ch), (uint32_t)s->offset,
				       0, replay_live_tid(r, s->tid, &found), &one, 1, s->len);
	}
	r->data_written++;
	return NULL;
}

static struct replay_dev *replay_offer_sub(struct replay_dev *r, uint16_t index, struct json_err *err);
static void replay_pump(struct replay_dev *r);

/* Plays one host step: 0, -EAGAIN (ring full), or diverges (-EIO). */
static int replay_play(struct replay_dev *r, struct replay_step *s)
{
	struct vmpacket_descriptor d;
	struct iovec iov;
	const char *why;
	bool found;
	int rc;

	if (s->kind == STEP_DATA) {
		if ((why = replay_write_data(r, s))) {
			replay_diverge(r, s, NULL, 0, why);
			return -EIO;
		}
		return 0;
	}
	if (s->kind == STEP_OFFER) {
		struct json_err err = { "" };

		if (!replay_offer_sub(r, s->sub, &err)) {
			log_warn("replay: %s", err.msg);
			replay_diverge(r, s, NULL, 0, "subchannel could not be offered");
			return -EIO;
		}
		return 0;
	}
	memcpy(&d, s->raw, sizeof(d));
	iov.iov_base = s->raw + sizeof(d);
	iov.iov_len = s->len - sizeof(d);
	rc = vmbus_chan_send(r->ch, d.type, d.flags, replay_live_tid(r, d.trans_id, &found),
			     (uint32_t)d.offset8 * 8 - (uint32_t)sizeof(d), &iov, 1);
	if (rc == -EAGAIN)
		return rc; /* the guest signals when it has read */
	if (rc) {
		replay_diverge(r, s, NULL, 0, "host packet could not be sent");
		return -EIO;
	}
	r->sent++;
	return 0;
}

static void replay_advance(struct replay_dev *r)
{
	while (r->next < r->n_steps && r->steps[r->next].done)
		r->next++;
}

static void replay_timer_fired(evutil_socket_t fd, short what, void *opaque)
{
	struct replay_dev *r = opaque;

	replay_pump(r);
}

/* Pacing: an unsolicited host step keeps its captured distance from the
 * guest packet before it on its channel (at most REPLAY_MAX_PACE_NS): a
 * heartbeat every interval, not a burst, and a captured shutdown request
 * as long after the guest's last packet as the capture had it, so what a
 * guest did meanwhile off the bus (a command on its console) has its
 * time.  true (and the timer armed) when s is not due yet. */
static bool replay_paced(struct replay_dev *r, const struct replay_step *s)
{
	const struct replay_step *g;
	uint64_t gap, due, now;
	struct timeval tv;

	if (s->ref < 0 || !r->timer)
		return false;
	g = &r->steps[s->ref];
	gap = s->ts > g->ts ? MIN(s->ts - g->ts, REPLAY_MAX_PACE_NS) : 0;
	due = g->live_ns + gap;
	now = now_ns();
	if (now >= due)
		return false;
	tv.tv_sec = (time_t)((due - now) / 1000000000ull);
	tv.tv_usec = (suseconds_t)((due - now) % 1000000000ull / 1000);
	if (!evtimer_pending(r->timer, NULL))
		evtimer_add(r->timer, &tv);
	return true;
}

/* Plays every host step that may go now, in script order: an answer once
 * its guest packet was matched; an unsolicited step once every guest
 * packet before it was (on this channel, and on the others when
 * replay_ordered), and after the unsolicited steps before it. */
static void replay_pump(struct replay_dev *r)
{
	bool unmatched = false, held = false;

	if (!vmbus_chan_is_open(r->ch))
		return;
	for (uint32_t i = r->next; !r->diverged && i < r->n_steps && i < r->next + REPLAY_WINDOW; i++) {
		struct replay_step *s = &r->steps[i];

		if (s->done)
			continue;
		if (s->kind == STEP_IN) {
			unmatched = true;
			continue;
		}
		if (s->req >= 0 ? !r->steps[s->req].done :
		    held || unmatched || (replay_ordered(s) && replay_waits_before(s->seq)) ||
		    replay_paced(r, s)) {
			held = held || s->req < 0;
			continue;
		}
		if (replay_play(r, s))
			return;
		s->done = true;
	}
	replay_advance(r);
}

/* ---- notify loop ------------------------------------------------------------ */

/* Host steps of other channels may have waited for the guest packet just
 * matched on r: play them. */
static void replay_resume_others(struct replay_dev *r)
{
	for (unsigned d = 0; d < replay_n_devs; d++) {
		struct replay_dev *o = replay_devs[d];

		if (o == r || o->diverged || !vmbus_chan_is_open(o->ch))
			continue;
		replay_pump(o);
	}
}

/* The captured guest packet this live one is: the first unmatched one
 * within the window that compares equal (a real guest's threads reorder
 * what they submit: Linux's SCSI scan and sd probe share the channel).
 * -1 when none does; *why then says how the first unmatched one differs. */
static int32_t replay_find(struct replay_dev *r, const struct vmbus_pkt *pkt, int32_t *first,
			   const char **why)
{
	*first = -1;
	*why = "guest sent a packet after the captured session ended";
	for (uint32_t i = r->next; i < r->n_steps && i < r->next + REPLAY_WINDOW; i++) {
		const struct replay_step *s = &r->steps[i];
		const char *w;

		if (s->done || s->kind != STEP_IN)
			continue;
		w = replay_compare(s, pkt);
		if (!w)
			return (int32_t)i;
		if (*first < 0) {
			*first = (int32_t)i;
			*why = w;
		}
	}
	return -1;
}

static void replay_notify(struct vmbus_channel *ch)
{
	struct replay_dev *r = vmbus_chan_priv(ch);
	struct vmbus_pkt pkt;

	for (;;) {
		struct replay_step *s;
		const char *why;
		int32_t idx, first;

		replay_pump(r);
		if (r->diverged || vmbus_chan_recv(ch, &pkt) <= 0)
			return;
		idx = replay_find(r, &pkt, &first, &why);
		if (idx < 0) {
			replay_diverge(r, first >= 0 ? &r->steps[first] : NULL, pkt.raw, pkt.raw_len, why);
			return;
		}
		s = &r->steps[idx];
		replay_commit(r, s, &pkt);
		if (pkt.type == VM_PKT_DATA_USING_GPA_DIRECT) {
			struct vmpacket_descriptor want;

			memcpy(&want, s->raw, sizeof(want));
			replay_save_pkt(r, want.trans_id, &pkt);
		}
		s->done = true;
		s->live_ns = now_ns();
		r->matched++;
		replay_advance(r);
		replay_resume_others(r);
	}
}

/* ---- lifecycle ------------------------------------------------------------------ */

static int replay_open(struct vmbus_channel *ch)
{
	struct replay_dev *r = vmbus_chan_priv(ch);

	replay_pump(r);
	return 0;
}

static void replay_close(struct vmbus_channel *ch)
{
}

static const struct vmbus_channel_ops replay_channel_ops = {
	.open = replay_open,
	.notify = replay_notify,
	.close = replay_close,
};

static void replay_free(struct replay_dev *r)
{
	if (r->timer)
		event_free(r->timer);
	for (uint32_t i = 0; i < r->n_steps; i++)
		free(r->steps[i].raw);
	for (uint32_t i = 0; i < REPLAY_SAVED_PKTS; i++)
		free(r->saved[i].raw);
	free(r->steps);
	free(r->div_expected);
	free(r->div_actual);
	json_decref(r->sub_cfg);
	free(r);
}

static int replay_load_step(struct replay_step *s, json_t *e, size_t i, const char *path,
			    struct json_err *err)
{
	const char *raw = json_string_value(json_object_get(e, "raw"));
	json_t *offer = json_object_get(e, "offer");
	struct vmpacket_descriptor d;
	json_int_t at;

	s->seq = (uint32_t)json_integer_value(json_object_get(e, "seq"));
	s->ts = (uint64_t)json_integer_value(json_object_get(e, "ts"));
	if (offer) {
		if (!json_is_integer(offer) || json_integer_value(offer) < 1 ||
		    json_integer_value(offer) > 0xFFFF)
			return json_fail(err, path, "script", "entry %zu: bad subchannel index", i);
		s->kind = STEP_OFFER;
		s->sub = (uint16_t)json_integer_value(offer);
		return 0;
	}
	if (json_is_true(json_object_get(e, "data"))) {
		json_int_t g = json_integer_value(json_object_get(e, "gpadl"));

		s->kind = STEP_DATA;
		if (g < 0 || g > UINT32_MAX || !raw ||
		    hex_decode(raw, VMBUS_TRACE_MAX_RECORD, &s->raw, &s->len) || !s->len)
			return json_fail(err, path, "script", "entry %zu: bad data step", i);
		s->gpadl = (uint32_t)g;
		s->offset = (uint64_t)json_integer_value(json_object_get(e, "offset"));
		s->tid = (uint64_t)json_integer_value(json_object_get(e, "tid"));
		return 0;
	}
	s->kind = json_is_true(json_object_get(e, "in")) ? STEP_IN : STEP_OUT;
	if (!raw || strlen(raw) < 32 || hex_decode(raw, 0xFFFF * 8u, &s->raw, &s->len))
		return json_fail(err, path, "script", "entry %zu: bad raw packet", i);
	memcpy(&d, s->raw, sizeof(d));
	if (d.offset8 < 2 || (uint32_t)d.offset8 * 8 > s->len || (uint32_t)d.len8 * 8 != s->len)
		return json_fail(err, path, "script", "entry %zu: bad descriptor", i);
	at = json_integer_value(json_object_get(e, "gpadl_at"));
	if (at < 0 || (at && (at < 16 || (uint64_t)at + 4 > s->len)))
		return json_fail(err, path, "script", "entry %zu: gpadl_at outside the packet", i);
	s->gpadl_at = (uint32_t)at;
	return 0;
}

/* A completion, or the data of a request (its packet's pages), answers
 * the last guest packet before it with its transaction id: it is played
 * once that packet came, whatever came around it. */
static void replay_link_answers(struct replay_dev *r)
{
	for (uint32_t i = 0; i < r->n_steps; i++) {
		struct replay_step *s = &r->steps[i];
		struct vmpacket_descriptor d;
		uint64_t tid;

		s->req = -1;
		s->ref = -1;
		if (s->kind != STEP_IN) {
			for (uint32_t j = i; j-- > 0;) {
				if (r->steps[j].kind == STEP_IN) {
					s->ref = (int32_t)j;
					break;
				}
			}
		}
		if (s->kind == STEP_DATA && !s->gpadl) {
			tid = s->tid;
		} else if (s->kind == STEP_OUT) {
			memcpy(&d, s->raw, sizeof(d));
			if (d.type != VM_PKT_COMP)
				continue;
			tid = d.trans_id;
		} else {
			continue;
		}
		for (uint32_t j = i; j-- > 0;) {
			struct vmpacket_descriptor g;

			if (r->steps[j].kind != STEP_IN)
				continue;
			memcpy(&g, r->steps[j].raw, sizeof(g));
			if (g.trans_id == tid) {
				s->req = (int32_t)j;
				break;
			}
		}
	}
}

static int replay_load_script(struct replay_dev *r, const json_t *script, const char *path,
			      struct json_err *err)
{
	size_t i;
	json_t *e;
	int rc;

	if (!json_is_array(script))
		return json_fail(err, path, "script", "must be an array");
	r->steps = calloc(json_array_size(script) + 1, sizeof(*r->steps));
	if (!r->steps)
		return json_fail(err, path, "script", "out of memory");
	json_array_foreach(script, i, e) {
		r->n_steps++;
		if ((rc = replay_load_step(&r->steps[i], e, i, path, err)))
			return rc;
	}
	replay_link_answers(r);
	return 0;
}

/* One channel of the replay (a primary, or a subchannel of `primary`),
 * offered at once. */
static struct replay_dev *replay_new(struct vmbus_server *srv, const json_t *config,
				     const char *path, struct replay_dev *primary,
				     const struct vmbus_offer_params *base, struct json_err *err)
{
	uint64_t max_pkt = 0, crelid = 0, sub = 0;
	struct replay_dev *r;

	if (replay_n_devs == REPLAY_MAX_DEVS) {
		json_fail(err, path, NULL, "at most %d replayed channels", REPLAY_MAX_DEVS);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		json_fail(err, path, NULL, "out of memory");
		return NULL;
	}
	r->srv = srv;
	r->primary = primary;
	r->offer = *base;
	if (json_get_u64(config, path, "max_pkt_size", false, 0, 0xFFFF * 8u, &max_pkt, err) ||
	    json_get_u64(config, path, "capture_relid", false, 0, UINT32_MAX, &crelid, err) ||
	    (primary && json_get_u64(config, path, "index", true, 1, 0xFFFF, &sub, err)) ||
	    replay_load_script(r, json_object_get(config, "script"), path, err)) {
		replay_free(r);
		return NULL;
	}
	r->capture_relid = (uint32_t)crelid;
	if (max_pkt)
		r->offer.max_pkt_size = (uint32_t)max_pkt;
	if (primary)
		r->offer.sub_channel_index = (uint16_t)sub;
	r->ch = vmbus_offer(srv, &r->offer, &replay_channel_ops, r);
	if (!r->ch) {
		json_fail(err, path, "instance", "%s", vmbus_offer_strerror(errno));
		replay_free(r);
		return NULL;
	}
	r->timer = evtimer_new(vmbus_server_base(srv), replay_timer_fired, r);
	replay_devs[replay_n_devs++] = r;
	return r;
}

static struct replay_dev *replay_offer_sub(struct replay_dev *r, uint16_t index, struct json_err *err)
{
	size_t i;
	json_t *e;

	if (r->primary || r->n_subs == REPLAY_MAX_SUB) {
		json_fail(err, "", "subchannels", "subchannel %u: not offered from a primary or too many",
			  index);
		return NULL;
	}
	json_array_foreach(r->sub_cfg, i, e) {
		struct replay_dev *s;

		if (json_integer_value(json_object_get(e, "index")) != index)
			continue;
		s = replay_new(r->srv, e, "subchannels", r, &r->offer, err);
		if (s)
			r->subs[r->n_subs++] = s;
		return s;
	}
	json_fail(err, "", "subchannels", "subchannel %u has no script", index);
	return NULL;
}

static int replay_create(struct vmbus_server *srv, const json_t *config, const char *path,
			 void **out, struct json_err *err)
{
	static const char *const keys[] = { "class", "instance", "capture_relid", "max_pkt_size",
					    "signal_every_packet", "script", "subchannels", NULL };
	struct vmbus_offer_params p = { 0 };
	json_t *subs = json_object_get(config, "subchannels");
	struct replay_dev *r;
	bool every = false;
	int rc;

	if ((rc = json_check_keys(config, path, keys, err)) ||
	    (rc = guid_parse(REPLAY_CLASS_GUID_STR, &p.if_type)) ||
	    (rc = json_get_guid(config, path, "class", false, &p.if_type, err)) ||
	    (rc = json_get_guid(config, path, "instance", true, &p.if_instance, err)) ||
	    (rc = json_get_bool(config, path, "signal_every_packet", false, &every, err)))
		return rc;
	if (subs && !json_is_array(subs))
		return json_fail(err, path, "subchannels", "must be an array");
	p.signal_every_packet = every;
	r = replay_new(srv, config, path, NULL, &p, err);
	if (!r)
		return -EINVAL;
	r->sub_cfg = subs ? json_incref(subs) : json_array();
	*out = r;
	return 0;
}

static void replay_unlist(struct replay_dev *r)
{
	for (unsigned d = 0; d < replay_n_devs; d++) {
		if (replay_devs[d] == r) {
			replay_devs[d] = replay_devs[--replay_n_devs];
			break;
		}
	}
}

static void replay_destroy(void *dev)
{
	struct replay_dev *r = dev;

	for (uint32_t i = 0; i < r->n_subs; i++) {
		replay_unlist(r->subs[i]);
		vmbus_rescind(r->subs[i]->ch);
		replay_free(r->subs[i]);
	}
	replay_unlist(r);
	vmbus_rescind(r->ch);
	replay_free(r);
}

/* {"state": "waiting"|"done"|"diverged", "relid", "capture_relid", "steps",
 *  "next", "matched", "sent", "data_written", "subchannels",
 *  and on divergence "seq", "why", "expected", "actual"}: a primary's
 * counters include its subchannels'; a subchannel's divergence is the
 * device's, with that subchannel's relids. */
static json_t *replay_stats(void *dev)
{
	struct replay_dev *r = dev, *div = r->diverged ? r : NULL;
	uint32_t steps = r->n_steps, next = r->next, matched = r->matched, sent = r->sent;
	uint32_t data = r->data_written;
	bool done = r->next >= r->n_steps;
	json_t *o;

	for (uint32_t i = 0; i < r->n_subs; i++) {
		struct replay_dev *s = r->subs[i];

		if (s->diverged && !div)
			div = s;
		done = done && s->next >= s->n_steps;
		steps += s->n_steps;
		next += s->next;
		matched += s->matched;
		sent += s->sent;
		data += s->data_written;
	}
	o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "state",
		      div ? "diverged" : done ? "done" : "waiting",
		      "relid", (json_int_t)vmbus_chan_relid((div ? div : r)->ch),
		      "capture_relid", (json_int_t)(div ? div : r)->capture_relid,
		      "steps", (json_int_t)steps, "next", (json_int_t)next,
		      "matched", (json_int_t)matched, "sent", (json_int_t)sent,
		      "data_written", (json_int_t)data, "subchannels", (json_int_t)r->n_subs);
	if (o && div) {
		json_object_set_new(o, "seq", json_integer(div->div_seq));
		json_object_set_new(o, "why", json_string(div->why));
		if (div->div_expected)
			json_object_set_new(o, "expected", json_string(div->div_expected));
		if (div->div_actual)
			json_object_set_new(o, "actual", json_string(div->div_actual));
	}
	return o;
}

const struct vmbus_device_ops replay_ops = {
	.name = "replay",
	.class_guid = REPLAY_CLASS_GUID_STR, /* offered only without "class" (see above) */
	.guest_driver = NULL,
	.description = "plays one captured channel's host side (vmbusd replay)",
	.create = replay_create,
	.destroy = replay_destroy,
	.stats = replay_stats,
};
