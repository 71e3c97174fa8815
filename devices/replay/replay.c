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
 * offered it; the primary's stats cover its subchannels.  A guest packet
 * that matches nothing on its channel may match on another channel of the
 * device (a guest picks a request's channel by its CPU); its answers go
 * back on the channel it came on.
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
 *    "max_pkt_size": N, "signal_every_packet": bool, "pace_percent": P,
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
#include "core/util.h"
#include "devices/replay/replay_internal.h"
#include "vmbusd/proto/ring.h"
#include "vmbusd/proto/trace.h"

struct replay_dev *replay_devs[REPLAY_MAX_DEVS];
unsigned replay_n_devs;

/* ---- lifecycle ------------------------------------------------------------------ */

static int replay_open(struct vmbus_channel *ch)
{
	struct replay_dev *r = vmbus_chan_priv(ch);

	r->gone = false;
	replay_pump(r);
	return 0;
}

static void replay_close(struct vmbus_channel *ch)
{
	struct replay_dev *r = vmbus_chan_priv(ch);

	r->gone = true;
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
	uint64_t max_pkt = 0, crelid = 0, sub = 0, pace = 100;
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
	    (!primary && json_get_u64(config, path, "pace_percent", false, 0, 10000, &pace, err)) ||
	    replay_load_script(r, json_object_get(config, "script"), path, err)) {
		replay_free(r);
		return NULL;
	}
	r->capture_relid = (uint32_t)crelid;
	r->pace_percent = primary ? primary->pace_percent : (uint32_t)pace;
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

struct replay_dev *replay_offer_sub(struct replay_dev *r, uint16_t index, struct json_err *err)
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
					    "signal_every_packet", "script", "subchannels", "pace_percent", NULL };
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

/* {"state": "waiting"|"done"|"ended"|"diverged", "relid", "capture_relid",
 *  "steps", "next", "matched", "sent", "data_written", "late_completions",
 *  "subchannels", when "ended" (the guest left with only host-started
 *  exchanges to go: replay_cut_short) the steps left as "cut", and on
 *  divergence "seq", "why", "expected", "actual"}: a primary's
 * counters include its subchannels'; a subchannel's divergence is the
 * device's, with that subchannel's relids. */
/* Steps this channel has still to play. */
static uint32_t replay_left(const struct replay_dev *r)
{
	return r->next < r->n_steps ? r->n_steps - r->next : 0;
}

static json_t *replay_stats(void *dev)
{
	struct replay_dev *r = dev, *div = r->diverged ? r : NULL;
	uint32_t steps = r->n_steps, next = r->next, matched = r->matched, sent = r->sent;
	uint32_t data = r->data_written, late = r->late_completions;
	uint32_t cut = replay_left(r);
	bool done = !cut, ended = done || replay_cut_short(r);
	json_t *o;

	for (uint32_t i = 0; i < r->n_subs; i++) {
		struct replay_dev *s = r->subs[i];

		if (s->diverged && !div)
			div = s;
		done = done && !replay_left(s);
		ended = ended && (!replay_left(s) || replay_cut_short(s));
		cut += replay_left(s);
		steps += s->n_steps;
		next += s->next;
		matched += s->matched;
		sent += s->sent;
		data += s->data_written;
		late += s->late_completions;
	}
	o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "state",
		      div ? "diverged" : done ? "done" : ended ? "ended" : "waiting",
		      "relid", (json_int_t)vmbus_chan_relid((div ? div : r)->ch),
		      "capture_relid", (json_int_t)(div ? div : r)->capture_relid,
		      "steps", (json_int_t)steps, "next", (json_int_t)next,
		      "matched", (json_int_t)matched, "sent", (json_int_t)sent,
		      "data_written", (json_int_t)data, "late_completions", (json_int_t)late,
		      "subchannels", (json_int_t)r->n_subs);
	if (o && !done && ended)
		json_object_set_new(o, "cut", json_integer(cut));
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
