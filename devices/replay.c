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
 * first time it is seen; host completions carrying it get the live one) and
 * the range/PFN headers of GPA-direct packets (guest pages move).
 *
 * Order across channels: a host packet is sent only once every guest packet
 * captured before it, on any channel, has arrived (the shutdown request of
 * a session waits for the KVP answers that preceded it), so the devices of
 * one replay share a list (one replay per process).
 *
 * Config (written by trace/, not meant for hand-editing):
 *   {"type": "replay", "class": GUID, "instance": GUID, "sub_channel_index": 0,
 *    "max_pkt_size": N, "signal_every_packet": bool,
 *    "script": [{"in": bool, "seq": N, "tid": "hex", "raw": "hex"}, ...]}
 * "raw" is the packet from its descriptor, as the capture holds it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/guid.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/util.h"
#include "devices/device.h"
#include "vmbusd/proto/ring.h"

#define REPLAY_TID_MAP 256
/* vmbusd's own class for a replay device given no "class".  The one
 * exception to "the class lives in the ops": a replay offers the class of
 * the channel it plays, which only the capture knows. */
#define REPLAY_CLASS_GUID_STR "7a3c8f10-5d2e-4b9a-9c61-2f0e8d4b7a11"

struct replay_step {
	bool in;               /* guest -> host: expected; else host -> guest: sent */
	uint32_t seq;          /* record number in the capture */
	uint8_t *raw;          /* descriptor onwards */
	uint32_t len;
};

struct replay_dev {
	struct vmbus_channel *ch;
	struct replay_step *steps;
	uint32_t n_steps, next;
	uint32_t matched, sent;
	bool diverged;
	char why[160];
	uint32_t div_seq;
	char *div_expected, *div_actual;   /* hex */
	struct { uint64_t captured, live; } tids[REPLAY_TID_MAP];
	uint32_t n_tids;
};

#define REPLAY_MAX_DEVS 64
static struct replay_dev *replay_devs[REPLAY_MAX_DEVS];
static unsigned replay_n_devs;

/* Is a guest packet captured before record `seq` still awaited anywhere? */
static bool replay_waits_before(uint32_t seq)
{
	for (unsigned d = 0; d < replay_n_devs; d++) {
		const struct replay_dev *r = replay_devs[d];

		for (uint32_t i = r->next; i < r->n_steps; i++) {
			if (r->steps[i].in) {
				if (r->steps[i].seq < seq)
					return true;
				break;
			}
		}
	}
	return false;
}

/* ---- matching ---------------------------------------------------------------- */

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

static void replay_diverge(struct replay_dev *r, const struct replay_step *s, const uint8_t *raw,
			   uint32_t len, const char *why)
{
	r->diverged = true;
	r->div_seq = s ? s->seq : 0;
	snprintf(r->why, sizeof(r->why), "%s", why);
	r->div_expected = s ? hex_encode(s->raw, s->len) : NULL;
	r->div_actual = raw ? hex_encode(raw, len) : NULL;
	log_warn("replay: relid %u: divergence at captured record #%u: %s",
		 vmbus_chan_relid(r->ch), r->div_seq, why);
}

/* Same packet up to what may change (see the top of the file)? */
static const char *replay_compare(struct replay_dev *r, const struct replay_step *s,
				  const struct vmbus_pkt *pkt)
{
	struct vmpacket_descriptor want, got;
	uint32_t skip_to = sizeof(want);
	bool found;
	uint64_t live;

	if (pkt->raw_len != s->len)
		return "packet length";
	memcpy(&want, s->raw, sizeof(want));
	memcpy(&got, pkt->raw, sizeof(got));
	if (want.type != got.type)
		return "packet type";
	if (want.offset8 != got.offset8 || want.flags != got.flags)
		return "descriptor offset8 or flags";
	live = replay_live_tid(r, want.trans_id, &found);
	if (found && live != got.trans_id)
		return "transaction id";
	if (!found && r->n_tids < REPLAY_TID_MAP) {
		r->tids[r->n_tids].captured = want.trans_id;
		r->tids[r->n_tids].live = got.trans_id;
		r->n_tids++;
	}
	if (want.type == VM_PKT_DATA_USING_GPA_DIRECT)
		skip_to = (uint32_t)want.offset8 * 8; /* ranges and PFNs: guest pages */
	if (memcmp(s->raw + skip_to, pkt->raw + skip_to, s->len - skip_to))
		return "payload bytes";
	return NULL;
}

/* Sends captured host packets from `next` up to the next guest packet. */
static void replay_pump(struct replay_dev *r)
{
	if (!vmbus_chan_is_open(r->ch))
		return;
	while (!r->diverged && r->next < r->n_steps && !r->steps[r->next].in &&
	       !replay_waits_before(r->steps[r->next].seq)) {
		struct replay_step *s = &r->steps[r->next];
		struct vmpacket_descriptor d;
		struct iovec iov;
		bool found;
		int rc;

		memcpy(&d, s->raw, sizeof(d));
		iov.iov_base = s->raw + sizeof(d);
		iov.iov_len = s->len - sizeof(d);
		rc = vmbus_chan_send(r->ch, d.type, d.flags, replay_live_tid(r, d.trans_id, &found),
				     (uint32_t)d.offset8 * 8 - (uint32_t)sizeof(d), &iov, 1);
		if (rc == -EAGAIN)
			return; /* the guest signals when it has read */
		if (rc) {
			replay_diverge(r, s, NULL, 0, "host packet could not be sent");
			return;
		}
		r->sent++;
		r->next++;
	}
}

/* ---- notify loop ------------------------------------------------------------ */

static void replay_notify(struct vmbus_channel *ch)
{
	struct replay_dev *r = vmbus_chan_priv(ch);
	struct vmbus_pkt pkt;

	while (!r->diverged && vmbus_chan_recv(ch, &pkt) > 0) {
		const char *why;

		replay_pump(r);
		if (r->next >= r->n_steps) {
			replay_diverge(r, NULL, pkt.raw, pkt.raw_len,
				       "guest sent a packet after the captured session ended");
			break;
		}
		if (!r->steps[r->next].in) {
			replay_diverge(r, &r->steps[r->next], pkt.raw, pkt.raw_len,
				       "guest sent a packet where the host sent one");
			break;
		}
		why = replay_compare(r, &r->steps[r->next], &pkt);
		if (why) {
			replay_diverge(r, &r->steps[r->next], pkt.raw, pkt.raw_len, why);
			break;
		}
		r->matched++;
		r->next++;
		/* Host packets of other channels may have waited for this one. */
		for (unsigned d = 0; d < replay_n_devs; d++)
			if (replay_devs[d] != r)
				replay_pump(replay_devs[d]);
	}
	replay_pump(r);
}

/* ---- lifecycle ------------------------------------------------------------------ */

static int replay_open(struct vmbus_channel *ch)
{
	struct replay_dev *r = vmbus_chan_priv(ch);

	r->next = r->matched = r->sent = r->n_tids = 0;
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
	for (uint32_t i = 0; i < r->n_steps; i++)
		free(r->steps[i].raw);
	free(r->steps);
	free(r->div_expected);
	free(r->div_actual);
	free(r);
}

static int replay_load_script(struct replay_dev *r, const json_t *script, const char *path,
			      struct json_err *err)
{
	size_t i;
	json_t *e;

	if (!json_is_array(script))
		return json_fail(err, path, "script", "must be an array");
	r->steps = calloc(json_array_size(script) + 1, sizeof(*r->steps));
	if (!r->steps)
		return json_fail(err, path, "script", "out of memory");
	json_array_foreach(script, i, e) {
		struct replay_step *s = &r->steps[i];
		const char *raw = json_string_value(json_object_get(e, "raw"));
		struct vmpacket_descriptor d;

		s->in = json_is_true(json_object_get(e, "in"));
		s->seq = (uint32_t)json_integer_value(json_object_get(e, "seq"));
		if (!raw || strlen(raw) < 32 || hex_decode(raw, 0xFFFF * 8u, &s->raw, &s->len))
			return json_fail(err, path, "script", "entry %zu: bad raw packet", i);
		r->n_steps++;
		memcpy(&d, s->raw, sizeof(d));
		if (d.offset8 < 2 || (uint32_t)d.offset8 * 8 > s->len || (uint32_t)d.len8 * 8 != s->len)
			return json_fail(err, path, "script", "entry %zu: bad descriptor", i);
	}
	return 0;
}

static int replay_create(struct vmbus_server *srv, const json_t *config, const char *path,
			 void **out, struct json_err *err)
{
	static const char *const keys[] = { "class", "instance", "sub_channel_index", "max_pkt_size",
					    "signal_every_packet", "script", NULL };
	struct vmbus_offer_params p = { 0 };
	uint64_t sub = 0, max_pkt = 0;
	struct replay_dev *r;
	bool every = false;
	int rc;

	if ((rc = json_check_keys(config, path, keys, err)) ||
	    (rc = guid_parse(REPLAY_CLASS_GUID_STR, &p.if_type)) ||
	    (rc = json_get_guid(config, path, "class", false, &p.if_type, err)) ||
	    (rc = json_get_guid(config, path, "instance", true, &p.if_instance, err)) ||
	    (rc = json_get_u64(config, path, "sub_channel_index", false, 0, 0xFFFF, &sub, err)) ||
	    (rc = json_get_u64(config, path, "max_pkt_size", false, 0, 0xFFFF * 8u, &max_pkt, err)) ||
	    (rc = json_get_bool(config, path, "signal_every_packet", false, &every, err)))
		return rc;
	p.sub_channel_index = (uint16_t)sub;
	p.max_pkt_size = (uint32_t)max_pkt;
	p.signal_every_packet = every;
	r = calloc(1, sizeof(*r));
	if (!r)
		return json_fail(err, path, NULL, "out of memory");
	if ((rc = replay_load_script(r, json_object_get(config, "script"), path, err))) {
		replay_free(r);
		return rc;
	}
	if (replay_n_devs == REPLAY_MAX_DEVS) {
		replay_free(r);
		return json_fail(err, path, NULL, "at most %d replayed channels", REPLAY_MAX_DEVS);
	}
	r->ch = vmbus_offer(srv, &p, &replay_channel_ops, r);
	if (!r->ch) {
		int e = errno;

		replay_free(r);
		return json_fail(err, path, "instance", "%s", vmbus_offer_strerror(e));
	}
	replay_devs[replay_n_devs++] = r;
	*out = r;
	return 0;
}

static void replay_destroy(void *dev)
{
	struct replay_dev *r = dev;

	for (unsigned d = 0; d < replay_n_devs; d++) {
		if (replay_devs[d] == r) {
			replay_devs[d] = replay_devs[--replay_n_devs];
			break;
		}
	}

	vmbus_rescind(r->ch);
	replay_free(r);
}

/* {"state": "waiting"|"done"|"diverged", "steps", "next", "matched", "sent",
 *  and on divergence "seq", "why", "expected", "actual"} */
static json_t *replay_stats(void *dev)
{
	struct replay_dev *r = dev;
	json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "state",
			      r->diverged ? "diverged" : r->next >= r->n_steps ? "done" : "waiting",
			      "relid", (json_int_t)vmbus_chan_relid(r->ch),
			      "steps", (json_int_t)r->n_steps, "next", (json_int_t)r->next,
			      "matched", (json_int_t)r->matched, "sent", (json_int_t)r->sent);

	if (o && r->diverged) {
		json_object_set_new(o, "seq", json_integer(r->div_seq));
		json_object_set_new(o, "why", json_string(r->why));
		if (r->div_expected)
			json_object_set_new(o, "expected", json_string(r->div_expected));
		if (r->div_actual)
			json_object_set_new(o, "actual", json_string(r->div_actual));
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
