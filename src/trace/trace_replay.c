/* SPDX-License-Identifier: MIT */
/*
 * `vmbusd replay FILE`: the host side of a captured session played against
 * a new guest.  The capture's offers become replay devices (devices/replay/replay.c)
 * with the same class and instance, each scripted with its channel's ring
 * packets in capture order; the real attach/, hv/ and vmbus/ layers serve
 * the guest, so negotiation, offers, GPADLs and relids are chosen anew and
 * only the device traffic is replayed.  The run ends when every channel's
 * script is done (exit 0), at the first divergence (exit 1: both packets
 * decoded side by side), at the timeout (exit 3), or (exit 4) when the guest
 * left with only host-started exchanges to go (replay_cut_short).
 *
 * --edit RULES.json drops, patches or inserts packets of the session first
 * (replay_edits_load below).
 *
 * Data the captured host moved through guest pages outside the ring (a
 * disk read's data, netvsc receive-buffer messages: capture version 2's
 * DATA_OUT records) becomes data steps that the device writes into the new
 * guest's pages for the same request.  Subchannels are offered where the
 * captured host offered them, each with its own script, as part of their
 * primary's replay device.
 *
 * Limits (README, "Replay"): what the guest wrote outside the ring
 * (DATA_IN: a disk write's data, netvsc's RNDIS requests) is not compared;
 * only ring packets are.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attach/attach.h"
#include "core/guid.h"
#include "core/hex.h"
#include "core/util.h"
#include "host/host.h"
#include "trace/trace_internal.h"
#include "vmbusd/proto/nvsp.h"
#include "vmbusd/proto/ring.h"
#include "vmbusd/proto/vmbus.h"

struct replay_chan {
	bool offered;
	struct guid if_type, if_instance;
	uint16_t sub_index;
	uint32_t primary;       /* a subchannel: its primary's relid (0: none seen) */
	uint8_t proto;
	json_t *script;
	uint32_t max_out;
	uint32_t n_in, n_out, n_data;
};

/* How long a replay that has played everything keeps serving a guest that
 * is still attached (replay_poll). */
#define REPLAY_LINGER_NS 500000000ull

struct replay_run {
	struct host *host;
	struct event_base *base;
	int result;             /* -1 running, 0 done, 1 diverged, 4 ended early */
	uint64_t all_done_ns;   /* when the result was decided (replay_poll) */
	json_t *diverged;       /* the device stats of the divergence */
	const char *dev_name;
	uint8_t proto;
	struct replay_chan *chans;
};

/* ---- edits (--edit RULES.json) ---------------------------------------------- */

enum replay_edit_kind { EDIT_DROP, EDIT_PATCH, EDIT_INSERT };

struct replay_edit {
	uint32_t record;        /* capture record number (dump -v "record: #N") */
	enum replay_edit_kind kind;
	uint32_t offset;        /* patch: byte of the packet, descriptor first */
	uint8_t *bytes;         /* patch: new bytes; insert: the whole packet */
	uint32_t len;
	bool in;                /* insert: a guest packet to expect, else a host packet to send */
	bool used;
};

struct replay_edits {
	struct replay_edit *e;
	size_t n;
};

/* {"edits": [{"record": N, "action": "drop"},
 *            {"record": N, "action": "patch", "offset": K, "hex": "..."},
 *            {"record": N, "action": "insert", "dir": "in"|"out", "hex": "..."}]}
 * An insert goes before record N, on N's channel. */
static int replay_edits_load(const char *path, struct replay_edits *ed, FILE *errf)
{
	static const char *const keys[] = { "record", "action", "offset", "hex", "dir", NULL };
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr), *list, *e;
	struct json_err err = { "" };
	size_t i;
	int rc = 0;

	if (!root) {
		fprintf(errf, "vmbusd replay: %s:%d: %s\n", path, jerr.line, jerr.text);
		return -1;
	}
	list = json_object_get(root, "edits");
	if (!json_is_array(list)) {
		fprintf(errf, "vmbusd replay: %s: edits: must be an array of edits\n", path);
		json_decref(root);
		return -1;
	}
	ed->e = calloc(json_array_size(list) + 1, sizeof(*ed->e));
	json_array_foreach(list, i, e) {
		struct replay_edit *x = &ed->e[i];
		const char *action = NULL, *hex = NULL, *dir = "out";
		uint64_t rec = 0, off = 0;
		char where[32];

		snprintf(where, sizeof(where), "edits[%zu]", i);
		ed->n = i + 1;
		if ((rc = json_check_keys(e, where, keys, &err)) ||
		    (rc = json_get_u64(e, where, "record", true, 0, UINT32_MAX, &rec, &err)) ||
		    (rc = json_get_string(e, where, "action", true, &action, &err)) ||
		    (rc = json_get_u64(e, where, "offset", false, 0, 0xFFFF * 8u, &off, &err)) ||
		    (rc = json_get_string(e, where, "hex", false, &hex, &err)) ||
		    (rc = json_get_string(e, where, "dir", false, &dir, &err)))
			break;
		x->record = (uint32_t)rec;
		x->offset = (uint32_t)off;
		if (!strcmp(action, "drop")) {
			x->kind = EDIT_DROP;
		} else if (!strcmp(action, "patch") || !strcmp(action, "insert")) {
			x->kind = action[0] == 'p' ? EDIT_PATCH : EDIT_INSERT;
			x->in = !strcmp(dir, "in");
			if (strcmp(dir, "in") && strcmp(dir, "out")) {
				rc = json_fail(&err, where, "dir", "\"in\" or \"out\"");
				break;
			}
			if (hex_decode(hex, 0xFFFF * 8u, &x->bytes, &x->len)) {
				rc = json_fail(&err, where, "hex", "must be an even number of hex digits");
				break;
			}
			if (x->kind == EDIT_INSERT && x->len < 16) {
				rc = json_fail(&err, where, "hex", "an inserted packet starts with its "
					       "16-byte descriptor");
				break;
			}
		} else {
			rc = json_fail(&err, where, "action", "\"drop\", \"patch\" or \"insert\"");
			break;
		}
	}
	if (rc)
		fprintf(errf, "vmbusd replay: %s: %s\n", path, err.msg);
	json_decref(root);
	return rc ? -1 : 0;
}

static void replay_edits_free(struct replay_edits *ed)
{
	for (size_t i = 0; i < ed->n; i++)
		free(ed->e[i].bytes);
	free(ed->e);
}

/* Where a guest packet of `proto` carries a GPADL handle the guest chose
 * (byte of the packet), 0 if none: NVSP 1's SEND_RECV_BUF and
 * SEND_SEND_BUF name the receive and send buffers (nvsp.h). */
static uint32_t replay_gpadl_at(uint8_t proto, const uint8_t *p, uint32_t len)
{
	struct vmpacket_descriptor d;
	uint32_t type, off;

	if (proto != VMBUS_TRACE_PROTO_NETVSC || len < sizeof(d))
		return 0;
	memcpy(&d, p, sizeof(d));
	off = (uint32_t)d.offset8 * 8;
	if (d.type != VM_PKT_DATA_INBAND || (uint64_t)off + 8 > len)
		return 0;
	memcpy(&type, p + off, sizeof(type));
	return type == NVSP_MSG1_SEND_RECV_BUF || type == NVSP_MSG1_SEND_SEND_BUF ? off + 4 : 0;
}

static void replay_add_step(struct replay_chan *c, bool in, uint32_t seq, uint64_t ts,
			    const uint8_t *p, uint32_t len)
{
	char *hex = hex_encode(p, len);
	uint32_t at = in ? replay_gpadl_at(c->proto, p, len) : 0;
	json_t *step;

	if (!c->script)
		c->script = json_array();
	step = json_pack("{s:b,s:I,s:I,s:s}", "in", in, "seq", (json_int_t)seq, "ts", (json_int_t)ts,
			 "raw", hex ? hex : "");
	if (step && at)
		json_object_set_new(step, "gpadl_at", json_integer(at));
	json_array_append_new(c->script, step);
	free(hex);
	if (in) {
		c->n_in++;
	} else {
		c->n_out++;
		c->max_out = MAX(c->max_out, len);
	}
}

/* A capture's DATA_OUT (proto/trace.h, "Data records"): bytes to put into
 * the new guest's pages before the host packet that follows. */
static void replay_add_data(struct replay_chan *c, const struct trace_record *rec,
			    const uint8_t *bytes)
{
	const struct vmbus_trace_record *h = &rec->hdr;
	char *hex;

	if (!rec->data_len)
		return;
	hex = hex_encode(bytes, rec->data_len);

	if (!c->script)
		c->script = json_array();
	json_array_append_new(c->script, json_pack(
		"{s:b,s:I,s:I,s:I,s:I,s:I,s:s}", "data", 1, "seq", (json_int_t)h->seq, "ts",
		(json_int_t)rec->ts_ns, "gpadl",
		(json_int_t)h->id, "offset", (json_int_t)(h->id ? h->arg : h->vp), "tid",
		(json_int_t)(h->id ? 0 : h->arg), "raw", hex ? hex : ""));
	free(hex);
	c->n_data++;
}

/* A subchannel's offer: its primary (same class and instance, index 0)
 * offers it at this point of the session. */
static void replay_add_offer(struct replay_chan *chans, uint32_t relid, uint32_t seq, uint64_t ts)
{
	struct replay_chan *c = &chans[relid];

	for (uint32_t p = 1; p <= VMBUS_MAX_RELID; p++) {
		struct replay_chan *pc = &chans[p];

		if (p == relid || !pc->offered || pc->sub_index ||
		    memcmp(&pc->if_type, &c->if_type, sizeof(c->if_type)) ||
		    memcmp(&pc->if_instance, &c->if_instance, sizeof(c->if_instance)))
			continue;
		c->primary = p;
		if (!pc->script)
			pc->script = json_array();
		json_array_append_new(pc->script, json_pack("{s:I,s:I,s:I}", "offer",
							   (json_int_t)c->sub_index, "seq",
							   (json_int_t)seq, "ts", (json_int_t)ts));
		return;
	}
}

/* Applies the edits of record `rec` (of channel c); false when it is dropped. */
static bool replay_apply_edits(struct replay_edits *ed, struct replay_chan *c,
			       const struct trace_record *rec, uint8_t *copy, int *bad)
{
	bool keep = true;

	for (size_t i = 0; i < ed->n; i++) {
		struct replay_edit *x = &ed->e[i];

		if (x->record != rec->hdr.seq)
			continue;
		x->used = true;
		if (x->kind == EDIT_DROP) {
			keep = false;
		} else if (x->kind == EDIT_INSERT) {
			replay_add_step(c, x->in, rec->hdr.seq, rec->ts_ns, x->bytes, x->len);
		} else if ((uint64_t)x->offset + x->len > rec->data_len ||
			   (rec->hdr.event != VMBUS_TRACE_DATA_OUT && x->offset < 16)) {
			/* Patches stay inside the payload (the descriptor is the
			 * ring's) or the data record's bytes. */
			*bad = (int)i;
		} else {
			memcpy(copy + x->offset, x->bytes, x->len);
		}
	}
	return keep;
}

/* Reads session `session` (1 = from the first ATTACH) into chans[relid]. */
static int replay_load(const char *path, unsigned session, struct replay_chan *chans,
		       struct replay_edits *ed, FILE *errf)
{
	struct json_err err = { "" };
	struct trace_record rec;
	struct trace_reader *r;
	unsigned cur = 0;
	FILE *f = fopen(path, "rb");
	int rc;

	if (!f) {
		fprintf(errf, "vmbusd replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	r = trace_reader_open(f, &err);
	if (!r) {
		fprintf(errf, "vmbusd replay: %s: %s\n", path, err.msg + (err.msg[0] == ':' ? 2 : 0));
		fclose(f);
		return -1;
	}
	while ((rc = trace_reader_next(r, &rec, &err)) == 1) {
		const struct vmbus_trace_record *h = &rec.hdr;
		struct replay_chan *c;

		if (h->event == VMBUS_TRACE_ATTACH || (cur == 0 && rec.index == 0))
			cur++;
		if (cur != session || h->relid == 0 || h->relid > VMBUS_MAX_RELID)
			continue;
		c = &chans[h->relid];
		if (h->event == VMBUS_TRACE_MSG_OUT && rec.data_len >= sizeof(struct vmbus_msg_offer_channel)) {
			const struct vmbus_msg_offer_channel *o = (const void *)rec.data;
			uint32_t type;

			memcpy(&type, rec.data, sizeof(type));
			if (type != CHANNELMSG_OFFERCHANNEL)
				continue;
			c->offered = true;
			memcpy(&c->if_type, &o->if_type, sizeof(c->if_type));
			memcpy(&c->if_instance, &o->if_instance, sizeof(c->if_instance));
			memcpy(&c->sub_index, (const uint8_t *)rec.data + 180, sizeof(c->sub_index));
			c->proto = h->proto;
			if (c->sub_index)
				replay_add_offer(chans, h->relid, h->seq, rec.ts_ns);
			continue;
		}
		if (h->event != VMBUS_TRACE_PKT_IN && h->event != VMBUS_TRACE_PKT_OUT &&
		    h->event != VMBUS_TRACE_DATA_OUT)
			continue;
		if ((h->flags & VMBUS_TRACE_FLAG_SNAPPED) || rec.data_len != h->orig_len ||
		    (h->event != VMBUS_TRACE_DATA_OUT && rec.data_len < 16)) {
			fprintf(errf, "vmbusd replay: %s: record #%u is snapped (--trace-snap): a replay "
				"needs whole packets and data\n", path, h->seq);
			rc = 2;
			break;
		}
		uint8_t *copy = malloc(rec.data_len + 1);
		int bad = -1;

		if (!copy)
			break;
		memcpy(copy, rec.data, rec.data_len);
		if (replay_apply_edits(ed, c, &rec, copy, &bad)) {
			if (h->event == VMBUS_TRACE_DATA_OUT)
				replay_add_data(c, &rec, copy);
			else
				replay_add_step(c, h->event == VMBUS_TRACE_PKT_IN, h->seq, rec.ts_ns, copy,
						rec.data_len);
		}
		free(copy);
		if (bad >= 0) {
			fprintf(errf, "vmbusd replay: edits[%d]: the patch does not fit inside record "
				"#%u's payload (bytes %u..%u)\n", bad, h->seq,
				h->event == VMBUS_TRACE_DATA_OUT ? 0 : 16, rec.data_len);
			rc = 2;
			break;
		}
	}
	for (size_t i = 0; rc == 0 && i < ed->n; i++) {
		if (!ed->e[i].used) {
			fprintf(errf, "vmbusd replay: edits[%zu]: record #%u is not a ring packet or "
				"data_out record of session %u\n", i, ed->e[i].record, session);
			rc = 2;
		}
	}
	trace_reader_close(r);
	fclose(f);
	if (rc != 0) {
		if (rc < 0)
			fprintf(errf, "vmbusd replay: %s: %s\n", path, err.msg + (err.msg[0] == ':' ? 2 : 0));
		return -1;
	}
	if (cur < session) {
		fprintf(errf, "vmbusd replay: %s: no session %u (the capture has %u)\n", path, session, cur);
		return -1;
	}
	return 0;
}

/* Decodes `hex` as a packet of `proto`: summary in o, tree into text. */
static void replay_decode(const char *hex, uint8_t proto, struct trace_out *o, char **text)
{
	struct trace_record rec = { .hdr = { .event = VMBUS_TRACE_PKT_IN, .proto = proto } };
	size_t n = hex ? strlen(hex) / 2 : 0, tlen = 0;
	uint8_t *b = malloc(n + 1);

	for (size_t i = 0; b && i < n; i++) {
		unsigned v = 0;

		sscanf(hex + 2 * i, "%2x", &v);
		b[i] = (uint8_t)v;
	}
	rec.data = b;
	rec.data_len = b ? (uint32_t)n : 0;
	rec.hdr.orig_len = rec.data_len;
	o->tree = open_memstream(text, &tlen);
	trace_decode_record(&rec, o);
	if (o->tree)
		fclose(o->tree);
	o->tree = NULL;
	free(b);
}

static void replay_report(struct replay_run *run, FILE *out)
{
	const char *exp = json_string_value(json_object_get(run->diverged, "expected"));
	const char *act = json_string_value(json_object_get(run->diverged, "actual"));
	struct trace_out oe = { .tree = NULL }, oa = { .tree = NULL };
	char *te = NULL, *ta = NULL, *pe, *pa;
	size_t i = 0;

	fprintf(out, "replay: DIVERGED on %s (relid %lld) at captured record #%lld: %s\n",
		run->dev_name, json_integer_value(json_object_get(run->diverged, "relid")),
		json_integer_value(json_object_get(run->diverged, "seq")),
		json_string_value(json_object_get(run->diverged, "why")));
	if (exp)
		replay_decode(exp, run->proto, &oe, &te);
	if (act)
		replay_decode(act, run->proto, &oa, &ta);
	fprintf(out, "  captured:%s\n  guest:   %s\n", exp ? oe.line : " (none)", act ? oa.line : " (none)");
	while (exp && act && exp[i] && act[i] && exp[i] == act[i])
		i++;
	if (exp && act && (exp[i] || act[i]))
		fprintf(out, "  first difference at byte %zu of the packet\n", i / 2);
	/* The two field trees side by side. */
	fprintf(out, "  %-58s | %s\n", "captured", "guest");
	/* Skip the synthetic record line: the trees start at the descriptor. */
	pe = te ? strchr(te, '\n') : NULL;
	pa = ta ? strchr(ta, '\n') : NULL;
	pe = pe ? pe + 1 : NULL;
	pa = pa ? pa + 1 : NULL;
	while ((pe && *pe) || (pa && *pa)) {
		size_t le = pe ? strcspn(pe, "\n") : 0, la = pa ? strcspn(pa, "\n") : 0;
		bool same = le == la && pe && pa && !strncmp(pe, pa, le);

		fprintf(out, "%c %-58.*s | %.*s\n", same ? ' ' : '*', (int)MIN(le, 58u), pe ? pe : "",
			(int)la, pa ? pa : "");
		if (pe && *pe)
			pe += le + (pe[le] == '\n');
		if (pa && *pa)
			pa += la + (pa[la] == '\n');
	}
	free(te);
	free(ta);
}

static void replay_poll(evutil_socket_t fd, short what, void *opaque)
{
	struct replay_run *run = opaque;
	bool all_done = true, any_ended = false;

	if (run->result >= 0) {
		/* Decided.  The last host packet is in the guest's ring, not
		 * yet in the guest: keep serving until the guest leaves, or for
		 * REPLAY_LINGER_NS, so it reads that packet rather than a closed
		 * connection.  What it does meanwhile is past the capture. */
		if (!attach_server_attached(run->host->attach) ||
		    now_ns() - run->all_done_ns >= REPLAY_LINGER_NS)
			event_base_loopbreak(run->base);
		return;
	}
	for (unsigned i = 0; i < run->host->n_devices; i++) {
		struct host_device *hd = &run->host->devices[i];
		json_t *st = hd->ops->stats(hd->dev);
		const char *state = json_string_value(json_object_get(st, "state"));

		if (state && !strcmp(state, "diverged")) {
			run->result = 1;
			run->diverged = st;
			run->dev_name = hd->name;
			run->proto = run->chans[json_integer_value(json_object_get(st, "capture_relid")) &
						VMBUS_MAX_RELID].proto;
			event_base_loopbreak(run->base);
			return;
		}
		/* "ended": the guest left with only host-started exchanges to go */
		if (state && !strcmp(state, "ended"))
			any_ended = true;
		else if (!state || strcmp(state, "done"))
			all_done = false;
		json_decref(st);
	}
	if (all_done) {
		run->result = any_ended ? 4 : 0;
		run->all_done_ns = now_ns();
	}
}

static void replay_timeout(evutil_socket_t fd, short what, void *opaque)
{
	event_base_loopbreak(opaque);
}

/* The signal/size settings of a channel's offer. */
static bool replay_is_ic(const struct replay_chan *c)
{
	return (c->proto >= VMBUS_TRACE_PROTO_HEARTBEAT && c->proto <= VMBUS_TRACE_PROTO_KVP) ||
	       c->proto == VMBUS_TRACE_PROTO_VSS || c->proto == VMBUS_TRACE_PROTO_FCOPY;
}

static json_t *replay_config(struct replay_chan *chans, FILE *errf, unsigned *n_dev)
{
	json_t *devs = json_array();

	*n_dev = 0;
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct replay_chan *c = &chans[relid];
		char cls[GUID_STR_LEN], inst[GUID_STR_LEN], name[64];
		json_t *subs = json_array();

		if (!c->offered) {
			if (c->script)
				fprintf(errf, "vmbusd replay: relid %u has packets but no offer in the "
					"session: skipped\n", relid);
			json_decref(subs);
			continue;
		}
		if (c->sub_index) {
			if (!c->primary && c->script)
				fprintf(errf, "vmbusd replay: relid %u is subchannel %u of no primary in "
					"the session: %u packets skipped\n", relid, c->sub_index,
					c->n_in + c->n_out);
			json_decref(subs);
			continue;
		}
		/* Its subchannels play as part of it (offered by its script). */
		for (uint32_t s = 1; s <= VMBUS_MAX_RELID; s++) {
			struct replay_chan *sc = &chans[s];

			if (sc->offered && sc->sub_index && sc->primary == relid)
				json_array_append_new(subs, json_pack(
					"{s:I,s:I,s:I,s:o}", "index", (json_int_t)sc->sub_index,
					"capture_relid", (json_int_t)s, "max_pkt_size",
					(json_int_t)MAX(sc->max_out, 4096u), "script",
					sc->script ? json_incref(sc->script) : json_array()));
		}
		guid_format(&c->if_type, cls);
		guid_format(&c->if_instance, inst);
		snprintf(name, sizeof(name), "relid%u-%s", relid, trace_proto_name(c->proto));
		json_array_append_new(devs, json_pack(
			"{s:s,s:s,s:s,s:s,s:I,s:I,s:b,s:o,s:o}", "type", "replay", "name", name,
			"class", cls, "instance", inst, "capture_relid", (json_int_t)relid,
			"max_pkt_size", (json_int_t)MAX(c->max_out, 4096u),
			"signal_every_packet", replay_is_ic(c), "script",
			c->script ? json_incref(c->script) : json_array(), "subchannels", subs));
		(*n_dev)++;
	}
	return json_pack("{s:o}", "devices", devs);
}

/* Edits, capture, configuration: the host config ({"devices": [...]}) or
 * NULL (the reason on errf). */
static json_t *replay_build(const char *path, unsigned session, const char *edit,
			    struct replay_chan *chans, unsigned *n_dev, FILE *errf)
{
	struct replay_edits edits = { 0 };
	json_t *root = NULL;

	*n_dev = 0;
	if ((!edit || !replay_edits_load(edit, &edits, errf)) &&
	    !replay_load(path, session ? session : 1, chans, &edits, errf)) {
		root = replay_config(chans, errf, n_dev);
		if (!*n_dev) {
			fprintf(errf, "vmbusd replay: %s: no channel to replay in session %u\n", path,
				session ? session : 1);
			json_decref(root);
			root = NULL;
		}
	}
	replay_edits_free(&edits);
	return root;
}

static void replay_chans_free(struct replay_chan *chans)
{
	for (uint32_t i = 0; chans && i <= VMBUS_MAX_RELID; i++)
		json_decref(chans[i].script);
	free(chans);
}

json_t *trace_replay_config(const char *path, unsigned session, const char *edit, FILE *errf)
{
	struct replay_chan *chans = calloc(VMBUS_MAX_RELID + 1, sizeof(*chans));
	unsigned n_dev;
	json_t *root;

	if (!chans)
		return NULL;
	root = replay_build(path, session, edit, chans, &n_dev, errf);
	replay_chans_free(chans);
	return root;
}

int trace_replay(const struct trace_replay_opts *o, FILE *out, FILE *errf)
{
	struct replay_chan *chans = calloc(VMBUS_MAX_RELID + 1, sizeof(*chans));
	struct replay_run run = { .result = -1, .chans = chans };
	struct json_err err = { "" };
	struct host_config cfg;
	struct event *tick = NULL, *deadline = NULL;
	struct timeval tv = { 0, 50000 }, tmo = { o->timeout_s ? o->timeout_s : 60, 0 };
	struct host host;
	json_t *root = NULL;
	unsigned n_dev = 0, matched = 0, sent = 0, data = 0, cut = 0;
	int rc = 2;

	if (!chans)
		return 2;
	root = replay_build(o->path, o->session, o->edit, chans, &n_dev, errf);
	if (!root)
		goto out;
	{
		json_t *dev;
		size_t i;

		json_array_foreach(json_object_get(root, "devices"), i, dev)
			json_object_set_new(dev, "pace_percent", json_integer(o->pace_percent));
	}
	if (host_config_from_json(root, &cfg, &err)) {
		fprintf(errf, "vmbusd replay: %s\n", err.msg);
		goto out;
	}
	run.base = event_base_new();
	if (!run.base || host_init(&host, run.base, &cfg, o->socket, o->control, &err)) {
		fprintf(errf, "vmbusd replay: %s\n", run.base ? err.msg : "no event loop");
		host_config_free(&cfg);
		goto out;
	}
	run.host = &host;
	fprintf(out, "replay: %u channels from %s, serving on %s\n", n_dev, o->path, o->socket);
	fflush(out);
	tick = event_new(run.base, -1, EV_PERSIST, replay_poll, &run);
	deadline = evtimer_new(run.base, replay_timeout, run.base);
	event_add(tick, &tv);
	event_add(deadline, &tmo);
	event_base_dispatch(run.base);
	for (unsigned i = 0; i < host.n_devices; i++) {
		json_t *st = host.devices[i].ops->stats(host.devices[i].dev);

		matched += (unsigned)json_integer_value(json_object_get(st, "matched"));
		sent += (unsigned)json_integer_value(json_object_get(st, "sent"));
		data += (unsigned)json_integer_value(json_object_get(st, "data_written"));
		cut += (unsigned)json_integer_value(json_object_get(st, "cut"));
		if (run.result < 0)
			fprintf(out, "  %s: %s, step %lld of %lld\n", host.devices[i].name,
				json_string_value(json_object_get(st, "state")),
				json_integer_value(json_object_get(st, "next")),
				json_integer_value(json_object_get(st, "steps")));
		json_decref(st);
	}
	if (run.result == 1) {
		replay_report(&run, out);
		json_decref(run.diverged);
		rc = 1;
	} else if (run.result == 0) {
		fprintf(out, "replay: every channel played to its end: %u guest packets matched, "
			"%u host packets sent, %u data records written, no divergence\n", matched,
			sent, data);
		rc = 0;
	} else if (run.result == 4) {
		fprintf(out, "replay: the guest left before the capture's end, with only host-started "
			"exchanges to go (%u captured steps: heartbeats, IC requests not yet due); "
			"%u guest packets matched, %u host packets sent, no divergence\n", cut,
			matched, sent);
		rc = 4;
	} else {
		fprintf(out, "replay: timeout: %u guest packets matched, %u host packets sent\n",
			matched, sent);
		rc = 3;
	}
	event_free(tick);
	event_free(deadline);
	host_fini(&host);
	host_config_free(&cfg);
out:
	if (run.base)
		event_base_free(run.base);
	json_decref(root);
	replay_chans_free(chans);
	return rc;
}
