/* SPDX-License-Identifier: MIT */
/*
 * The replay device's engine (what it does: replay.c's opening comment):
 * matching a live guest packet with a captured one, playing host steps
 * when they may go (answers, unsolicited steps in order and paced, the
 * order across channels), writing data steps into the new guest's pages,
 * and the mappings of what the new guest chose differently (transaction
 * ids, GPADL handles, the pages of its requests).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "core/log.h"
#include "core/trace.h"
#include "core/util.h"
#include "devices/replay/replay_internal.h"
#include "vmbusd/proto/ring.h"

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


/* Plays one host step: 0, -EAGAIN (ring full), or diverges (-EIO). */
static int replay_play(struct replay_dev *r, struct replay_step *s)
{
	struct vmbus_channel *out = r->ch;
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
	/* An answer goes back on the channel its request came on. */
	if (s->req >= 0 && r->steps[s->req].live_ch)
		out = r->steps[s->req].live_ch;
	memcpy(&d, s->raw, sizeof(d));
	iov.iov_base = s->raw + sizeof(d);
	iov.iov_len = s->len - sizeof(d);
	rc = vmbus_chan_send(out, d.type, d.flags, replay_live_tid(r, d.trans_id, &found),
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

void replay_timer_fired(evutil_socket_t fd, short what, void *opaque)
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
	gap = s->ts > g->ts ? MIN(s->ts - g->ts, REPLAY_MAX_PACE_NS) / 100 * r->pace_percent : 0;
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
void replay_pump(struct replay_dev *r)
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

/* The channels of r's device: its primary, then the primary's subchannels. */
static unsigned replay_siblings(struct replay_dev *r, struct replay_dev **out)
{
	struct replay_dev *p = r->primary ? r->primary : r;
	unsigned n = 0;

	out[n++] = p;
	for (uint32_t i = 0; i < p->n_subs; i++)
		out[n++] = p->subs[i];
	return n;
}

/* A guest packet on channel ch of r's device: the captured one of r's
 * script, or else of another channel of the device (a guest picks the
 * channel of a request by the CPU it runs on: Linux's storvsc and netvsc),
 * whose answers then go back on ch. */
void replay_notify(struct vmbus_channel *ch)
{
	struct replay_dev *r = vmbus_chan_priv(ch), *sib[REPLAY_MAX_SUB + 1];
	unsigned n_sib = replay_siblings(r, sib);
	struct vmbus_pkt pkt;

	for (;;) {
		struct replay_dev *owner = r;
		struct replay_step *s;
		const char *why, *w2;
		int32_t idx, first, f2;

		for (unsigned i = 0; i < n_sib; i++)
			replay_pump(sib[i]); /* answers of other channels may wait for ring space here */
		if (r->diverged || vmbus_chan_recv(ch, &pkt) <= 0)
			return;
		idx = replay_find(r, &pkt, &first, &why);
		for (unsigned i = 0; idx < 0 && i < n_sib; i++) {
			if (sib[i] != r && !sib[i]->diverged &&
			    (idx = replay_find(sib[i], &pkt, &f2, &w2)) >= 0)
				owner = sib[i];
		}
		if (idx < 0 && first < 0 && pkt.type == VM_PKT_COMP) {
			/* A completion past the end of this channel's capture
			 * asks for nothing.  The capture may lack the last ones:
			 * a guest's CLOSECHANNEL can overtake its final signal,
			 * and the host reads no ring after the close. */
			r->late_completions++;
			continue;
		}
		if (idx < 0) {
			replay_diverge(r, first >= 0 ? &r->steps[first] : NULL, pkt.raw, pkt.raw_len, why);
			return;
		}
		s = &owner->steps[idx];
		replay_commit(owner, s, &pkt);
		if (pkt.type == VM_PKT_DATA_USING_GPA_DIRECT) {
			struct vmpacket_descriptor want;

			memcpy(&want, s->raw, sizeof(want));
			replay_save_pkt(owner, want.trans_id, &pkt);
		}
		s->done = true;
		s->live_ns = now_ns();
		s->live_ch = ch;
		owner->matched++;
		replay_advance(owner);
		if (owner != r)
			replay_pump(owner);
		replay_resume_others(r);
	}
}

/* A completion, or the data of a request (its packet's pages), answers
 * the last guest packet before it with its transaction id: it is played
 * once that packet came, whatever came around it. */
void replay_link_answers(struct replay_dev *r)
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

/* Is step i a guest packet answering a host-started exchange: the nearest
 * packet before it on this channel is an unsolicited host packet (an IC
 * request: heartbeat, KVP, shutdown)? */
static bool replay_answers_host(const struct replay_dev *r, uint32_t i)
{
	while (i-- > 0) {
		const struct replay_step *s = &r->steps[i];

		if (s->kind == STEP_OUT)
			return s->req < 0;
		if (s->kind == STEP_IN)
			return false;
	}
	return false;
}

/*
 * A guest that powers off or unloads ends its session where it ends it;
 * the capture went on as long as the captured guest lived: a heartbeat
 * captured after the shutdown request is played or not depending on how
 * fast this guest powers off.  So a channel the guest closed "ended" (not
 * "done": a guest that died early ends its channels too) when everything
 * it has left belongs to exchanges the host starts (unsolicited host
 * packets not yet due, the guest's answers to them, host answers to guest
 * packets that never came).  Anything the guest started and left undone
 * (a disk request) still waits.
 */
bool replay_cut_short(const struct replay_dev *r)
{
	if (!r->gone || r->diverged)
		return false;
	for (uint32_t i = r->next; i < r->n_steps; i++) {
		const struct replay_step *s = &r->steps[i];

		if (s->done)
			continue;
		switch (s->kind) {
		case STEP_OUT:
			if (s->req >= 0 && r->steps[s->req].done)
				return false; /* the guest asked: its answer was owed */
			break;
		case STEP_IN:
			if (!replay_answers_host(r, i))
				return false;
			break;
		default:
			return false;
		}
	}
	return true;
}
