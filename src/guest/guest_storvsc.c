/* SPDX-License-Identifier: MIT */
/*
 * guest_storvsc: Linux 6.1 hv_storvsc, synthetically (facts §6, §8).
 *
 * Layout: the wire (packet building, sending with a bounded wait for ring
 * space), the channel callback (completion matching, unsolicited
 * messages), requests (tags, guest-RAM buffers, waits), initialisation
 * (storvsc_channel_init + handle_multichannel_storage), SCSI helpers
 * (CDBs, patterns, sense), the batch engine (many requests in flight over
 * every channel), then the script: a step table, the parser and the steps.
 *
 * What the host must get right is checked at the point Linux would
 * depend on it, and reported as an "error" event plus a failed step:
 *  - completions: VM_PKT_COMP, >= 64 bytes, operation COMPLETE_IO, the
 *    trans_id of a request in flight, on the channel it was sent on
 *    (storvsc_on_channel_callback drops anything else, and the request
 *    then never completes);
 *  - data_transfer_length <= the request's, sense_info_length <= 20;
 *  - unsolicited packets: trans_id 0 with ENUMERATE_BUS or REMOVE_DEVICE.
 */
#include "guest/guest_storvsc.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "vmbusd/proto/storvsc.h"

#define SC_RING_BYTES      (32u * HV_PAGE_SIZE) /* per direction (Linux: 32 + 32 pages) */
#define SC_MAX_CHANNELS    65u                  /* primary + STORVSP's 64 */
#define SC_MAX_QD          1024u
#define SC_DEFAULT_QD      64u
#define SC_HOSTILE_WAIT_MS 1000
#define SC_UA_RETRIES      3
#define SC_MAX_STEP_ARGS   4
#define SC_MAX_STEP_KV     4

/* ---- state ------------------------------------------------------------------- */

struct sc;
struct sc_batch;

/* One request: a tag (slot) while busy. */
struct sc_req {
	bool busy;                 /* the tag is taken */
	bool sent;
	bool done;                 /* the completion arrived */
	bool abandoned;            /* given up on (timeout, ignored hostile packet) */
	bool counted;              /* counts in sc->inflight */
	uint16_t tag;
	unsigned int ci;           /* channel index it went out on */
	uint64_t trans_id;
	uint64_t seq;              /* submission order */
	struct vstor_packet pkt;   /* as sent */
	struct vstor_packet resp;  /* the completion */
	uint32_t resp_len;
	/* data buffer in guest RAM */
	uint64_t buf_gpa;
	uint32_t buf_pages;
	uint32_t buf_off;
	uint32_t buf_len;
	uint8_t *buf;              /* host view of buf_gpa + buf_off */
	/* batch bookkeeping */
	struct sc_batch *batch;
	unsigned int job;
};

/* A decoded completion. */
struct sc_result {
	uint32_t status;           /* vstor_packet.status (NTSTATUS) */
	uint8_t srb_status;
	uint8_t scsi_status;
	uint8_t sense_len;
	uint8_t sense[VSTOR_SENSE_SIZE];
	uint32_t bytes;            /* data_transfer_length */
	int key, asc, ascq;        /* -1 without autosense */
	unsigned int ua_retries;
};

struct sc_geo {
	uint32_t block_size;       /* 0 = unknown */
	uint64_t blocks;
};

struct sc {
	struct guest *g;
	const struct guest_storvsc_params *params;
	struct guest_channel *chan[SC_MAX_CHANNELS];
	uint32_t relid[SC_MAX_CHANNELS];
	unsigned int n_chan;
	unsigned int rr;           /* next channel for a request */
	uint16_t version;
	struct vmstorage_channel_properties props;

	struct sc_req ctl;         /* VMBUS_RQST_INIT / VMBUS_RQST_RESET: one at a time */
	struct sc_req *slots;
	unsigned int qd;
	unsigned int next_tag;
	unsigned int inflight;
	uint64_t seq;
	uint64_t max_done_seq;
	uint64_t out_of_order;     /* completions that overtook an older request */
	uint64_t late;             /* completions of abandoned requests */

	uint64_t enumerates;       /* unsolicited ENUMERATE_BUS / REMOVE_DEVICE seen */
	uint64_t enum_consumed;
	uint64_t host_errors;      /* protocol violations by the host */

	struct sc_geo geo[256];        /* by LUN, of path 0 / target 0 */
	uint8_t cur_path, cur_target;  /* the step's address (LUN given as P:T:L) */
	struct sc_result last;     /* the previous command, for expect-* */
	bool have_last;
};

/* ---- small helpers ---------------------------------------------------------- */

static void sc_host_error(struct sc *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sc_host_error(struct sc *sc, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sc->host_errors++;
	guest_error(sc->g, "storvsc", "%s", msg);
}

static uint64_t sc_deadline(const struct sc *sc, int ms)
{
	return now_ns() + (uint64_t)ms * 1000000ull;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)get_be16(p) << 16 | get_be16(p + 2);
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* The channel at index ci if it is still offered and open. */
static struct guest_channel *sc_chan(struct sc *sc, unsigned int ci)
{
	struct guest_channel *ch;

	if (ci >= sc->n_chan)
		return NULL;
	ch = sc->g->chan[sc->relid[ci]];
	return ch && ch == sc->chan[ci] && ch->open && !ch->rescinded ? ch : NULL;
}

static unsigned int sc_next_chan(struct sc *sc)
{
	for (unsigned int n = 0; n < sc->n_chan; n++) {
		unsigned int ci = sc->rr++ % sc->n_chan;

		if (sc_chan(sc, ci))
			return ci;
	}
	return 0;
}

/* ---- the wire ----------------------------------------------------------------- */

/* How one request goes on the wire; the hostile steps bend it. */
struct sc_wire {
	uint16_t type;             /* VM_PKT_DATA_INBAND or VM_PKT_DATA_USING_GPA_DIRECT */
	uint32_t rangecount;       /* GPA-direct: ranges claimed; 0 omits the range */
	uint32_t range_len;
	uint32_t range_off;
	uint32_t n_pfns;
	const uint64_t *pfns;
	uint32_t payload_len;      /* vstor_packet bytes: 64, fewer to truncate */
};

static bool sc_space_pred(struct guest *g, void *arg)
{
	struct guest_channel *ch = ((void **)arg)[0];
	uint32_t need = *(uint32_t *)((void **)arg)[1];

	return !ch->open || guest_ring_bytes_to_write(&ch->out) > need;
}

/*
 * Builds descriptor (+ GPA-direct header) + payload + padding + trailer and
 * writes it.  A full ring is waited out (bounded): Linux gets -EAGAIN and
 * the midlayer retries the command later, which is the same to the host.
 */
static int sc_send_wire(struct sc *sc, unsigned int ci, uint64_t trans_id, const struct sc_wire *w,
			const void *payload)
{
	struct guest *g = sc->g;
	uint32_t hdr = 16, plen = ALIGN_UP(w->payload_len, 8u), total;
	uint64_t deadline = sc_deadline(sc, g->opts.timeout_ms);
	struct vmpacket_descriptor desc;
	uint8_t *buf;
	int ret;

	if (w->type == VM_PKT_DATA_USING_GPA_DIRECT)
		hdr = 24 + (w->rangecount ? 8 + 8 * w->n_pfns : 0);
	if ((hdr + plen) / 8 > UINT16_MAX)
		return -EMSGSIZE;
	total = hdr + plen + VMBUS_PKT_TRAILER_SIZE;
	buf = calloc(1, total);
	if (!buf)
		return -ENOMEM;
	desc.type = w->type;
	desc.offset8 = (uint16_t)(hdr / 8);
	desc.len8 = (uint16_t)((hdr + plen) / 8);
	desc.flags = VMBUS_PKT_FLAG_COMPLETION_REQUESTED;
	desc.trans_id = trans_id;
	memcpy(buf, &desc, sizeof(desc));
	if (w->type == VM_PKT_DATA_USING_GPA_DIRECT) {
		uint32_t reserved = 0;

		memcpy(buf + 16, &reserved, 4);
		memcpy(buf + 20, &w->rangecount, 4);
		if (w->rangecount) {
			memcpy(buf + 24, &w->range_len, 4);
			memcpy(buf + 28, &w->range_off, 4);
			memcpy(buf + 32, w->pfns, 8u * w->n_pfns);
		}
	}
	memcpy(buf + hdr, payload, w->payload_len);

	for (;;) {
		struct guest_channel *ch = sc_chan(sc, ci);
		uint64_t trailer;
		bool sig = false;

		if (!ch) {
			ret = -ENOTCONN;
			break;
		}
		/* Linux puts the old write index in the trailer's upper half. */
		trailer = (uint64_t)ch->out.priv_index << 32;
		memcpy(buf + hdr + plen, &trailer, sizeof(trailer));
		ret = guest_ring_send_raw(&ch->out, buf, total, &sig);
		if (ret == 0) {
			if (sig)
				guest_channel_signal(g, ch);
			break;
		}
		if (ret != -EAGAIN)
			break;
		if (now_ns() > deadline) {
			guest_error(g, "storvsc", "relid %u: guest->host ring stayed full for %d ms",
				    ch->relid, g->opts.timeout_ms);
			ret = -ETIMEDOUT;
			break;
		} else {
			void *arg[2] = { ch, &total };

			ret = guest_wait(g, sc_space_pred, arg, 2);
			if (ret && ret != -ETIMEDOUT)
				break;
		}
	}
	free(buf);
	return ret;
}

/* ---- requests ---------------------------------------------------------------- */

static void sc_req_put(struct sc *sc, struct sc_req *req)
{
	if (req->buf_gpa)
		guest_mem_free(&sc->g->mem, req->buf_gpa, req->buf_pages);
	if (req->counted)
		sc->inflight--;
	memset(req, 0, sizeof(*req));
}

/* A tag on channel ci with a zeroed buffer of buf_len bytes at buf_off in
 * its first page; NULL when every tag is taken or RAM is exhausted. */
static struct sc_req *sc_req_get(struct sc *sc, unsigned int ci, uint32_t buf_len, uint32_t buf_off)
{
	for (unsigned int n = 0; n < sc->qd; n++) {
		unsigned int tag = (sc->next_tag + n) % sc->qd;
		struct sc_req *req = &sc->slots[tag];

		if (req->busy)
			continue;
		memset(req, 0, sizeof(*req));
		if (buf_len) {
			uint8_t *p;

			req->buf_pages = (uint32_t)((buf_off + (uint64_t)buf_len + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE);
			req->buf_gpa = guest_mem_alloc(&sc->g->mem, req->buf_pages);
			p = req->buf_gpa ? guest_mem_ptr(&sc->g->mem, req->buf_gpa,
							 (uint64_t)req->buf_pages * HV_PAGE_SIZE) : NULL;
			if (!p) {
				guest_error(sc->g, "storvsc", "guest RAM exhausted (%u pages); use --mem",
					    req->buf_pages);
				req->buf_gpa = 0;
				return NULL;
			}
			req->buf = p + buf_off;
			req->buf_off = buf_off;
			req->buf_len = buf_len;
		}
		sc->next_tag = tag + 1;
		req->busy = true;
		req->tag = (uint16_t)tag;
		req->ci = ci;
		/* storvsc: blk_mq_unique_tag() + 1 = ((hwq << 16) | tag) + 1. */
		req->trans_id = (((uint64_t)ci << 16) | tag) + 1;
		return req;
	}
	return NULL;
}

/* The request's default wire: its buffer as one range, else inband. */
static int sc_req_submit_wire(struct sc *sc, struct sc_req *req, const struct sc_wire *w)
{
	int ret;

	if (req->pkt.operation == VSTOR_OP_EXECUTE_SRB) {
		req->pkt.vm_srb.path_id = sc->cur_path;
		req->pkt.vm_srb.target_id = sc->cur_target;
	}
	req->sent = true;
	req->seq = sc->seq++;
	req->counted = true;
	sc->inflight++;
	ret = sc_send_wire(sc, req->ci, req->trans_id, w, &req->pkt);
	if (ret) {
		req->sent = false;
		sc->inflight--;
		req->counted = false;
	}
	return ret;
}

static int sc_req_submit(struct sc *sc, struct sc_req *req)
{
	struct sc_wire w = { .type = VM_PKT_DATA_INBAND, .payload_len = sizeof(struct vstor_packet) };
	uint64_t *pfns = NULL;
	int ret;

	if (req->buf_len) {
		pfns = malloc(sizeof(*pfns) * req->buf_pages);
		if (!pfns)
			return -ENOMEM;
		for (uint32_t i = 0; i < req->buf_pages; i++)
			pfns[i] = (req->buf_gpa >> HV_PAGE_SHIFT) + i;
		w.type = VM_PKT_DATA_USING_GPA_DIRECT;
		w.rangecount = 1;
		w.range_len = req->buf_len;
		w.range_off = req->buf_off;
		w.n_pfns = req->buf_pages;
		w.pfns = pfns;
	}
	ret = sc_req_submit_wire(sc, req, &w);
	free(pfns);
	return ret;
}

/* Gives up on a request.  One that was sent keeps its tag and buffer
 * (the host may still write into it) until a late completion. */
static void sc_req_abandon(struct sc *sc, struct sc_req *req)
{
	if (!req->sent || req->done) {
		sc_req_put(sc, req);
		return;
	}
	req->abandoned = true;
	if (req->counted) {
		req->counted = false;
		sc->inflight--;
	}
}

static bool sc_req_done_pred(struct guest *g, void *arg)
{
	return ((struct sc_req *)arg)->done;
}

static int sc_wait_req(struct sc *sc, struct sc_req *req, int ms)
{
	int ret = guest_wait(sc->g, sc_req_done_pred, req, ms);

	if (ret == -ETIMEDOUT && ms >= sc->g->opts.timeout_ms)
		guest_error(sc->g, "storvsc", "no completion for trans_id %#llx within %d ms",
			    (unsigned long long)req->trans_id, ms);
	return ret;
}

/* ---- the channel callback ------------------------------------------------------- */

static void sc_on_unsolicited(struct sc *sc, unsigned int ci, const struct guest_ring_pkt *pkt,
			      const struct vstor_packet *vp)
{
	/* storvsc_on_channel_callback: trans_id 0 is the host's own message;
	 * ENUMERATE_BUS and REMOVE_DEVICE queue a host scan. */
	if (vp->operation != VSTOR_OP_ENUMERATE_BUS && vp->operation != VSTOR_OP_REMOVE_DEVICE) {
		sc_host_error(sc, "channel %u: unsolicited packet with operation %u (Linux: "
			      "\"Unexpected unsolicited message\", dropped)", ci, vp->operation);
		return;
	}
	sc->enumerates++;
	guest_emit(sc->g, json_pack("{s:s, s:s, s:i, s:i, s:i}", "event", "storvsc_unsolicited",
				    "operation", vp->operation == VSTOR_OP_ENUMERATE_BUS ?
				    "ENUMERATE_BUS" : "REMOVE_DEVICE", "channel", (json_int_t)ci,
				    "type", (json_int_t)pkt->type, "flags", (json_int_t)pkt->flags));
}

static void sc_on_packet(struct sc *sc, unsigned int ci, const struct guest_ring_pkt *pkt)
{
	struct vstor_packet vp;
	struct sc_req *req = NULL;

	/* Linux copies sizeof(vstor_packet) and drops shorter packets. */
	if (pkt->payload_len < sizeof(vp)) {
		sc_host_error(sc, "channel %u: %u-byte packet (type %u, trans_id %#llx) shorter than "
			      "the 64-byte vstor_packet (Linux: \"Invalid packet len\", dropped)",
			      ci, pkt->payload_len, pkt->type, (unsigned long long)pkt->trans_id);
		return;
	}
	memcpy(&vp, pkt->payload, sizeof(vp));
	if (pkt->trans_id == 0) {
		sc_on_unsolicited(sc, ci, pkt, &vp);
		return;
	}
	if (pkt->trans_id == STORVSC_RQST_INIT || pkt->trans_id == STORVSC_RQST_RESET) {
		if (sc->ctl.busy && !sc->ctl.done && sc->ctl.trans_id == pkt->trans_id)
			req = &sc->ctl;
	} else {
		uint64_t t = pkt->trans_id - 1;

		if ((t & 0xFFFF) < sc->qd) {
			struct sc_req *r = &sc->slots[t & 0xFFFF];

			if (r->busy && r->sent && !r->done && r->trans_id == pkt->trans_id)
				req = r;
		}
	}
	if (!req) {
		sc_host_error(sc, "channel %u: completion with trans_id %#llx matches no request in "
			      "flight (Linux: \"Invalid transaction ID\", dropped)", ci,
			      (unsigned long long)pkt->trans_id);
		return;
	}
	if (pkt->type != VM_PKT_COMP)
		sc_host_error(sc, "channel %u: completion of trans_id %#llx has packet type %u, not "
			      "VM_PKT_COMP (11)", ci, (unsigned long long)pkt->trans_id, pkt->type);
	if (ci != req->ci)
		sc_host_error(sc, "trans_id %#llx sent on channel %u completed on channel %u",
			      (unsigned long long)pkt->trans_id, req->ci, ci);
	req->resp = vp;
	req->resp_len = pkt->payload_len;
	req->done = true;
	if (req != &sc->ctl) {
		if (req->seq < sc->max_done_seq)
			sc->out_of_order++;
		else
			sc->max_done_seq = req->seq;
		if (req->counted) {
			req->counted = false;
			sc->inflight--;
		}
	}
	if (req->abandoned) {
		sc->late++;
		if (req == &sc->ctl)
			memset(req, 0, sizeof(*req));
		else
			sc_req_put(sc, req);
	}
}

static void sc_on_event(struct guest *g, struct guest_channel *ch)
{
	struct sc *sc = ch->drv;
	struct guest_ring_pkt pkt;
	unsigned int ci;
	int ret;

	for (ci = 0; ci < sc->n_chan && sc->chan[ci] != ch; ci++)
		;
	if (ci == sc->n_chan)
		return;
	/* vmbus_on_event in batched mode: interrupts masked while draining,
	 * and drained again if something arrived before the unmask. */
	do {
		guest_ring_mask(&ch->in);
		while ((ret = guest_channel_recv(g, ch, &pkt)) == 0 || ret == -EMSGSIZE) {
			if (ret) {
				sc->host_errors++; /* reported by guest_channel_recv */
				continue;
			}
			sc_on_packet(sc, ci, &pkt);
		}
		if (ret == -EIO) {
			sc->host_errors++;
			return;
		}
	} while (guest_ring_unmask(&ch->in));
}

/* ---- initialisation ------------------------------------------------------------- */

/* storvsc_execute_vstor_op: one init/reset packet, its completion copied
 * back into vp (Linux reuses the buffer; leftovers go out with the next
 * step, so the host must ignore them). */
static int sc_ctl_exec(struct sc *sc, uint64_t trans_id, struct vstor_packet *vp)
{
	struct sc_wire w = { .type = VM_PKT_DATA_INBAND, .payload_len = sizeof(*vp) };
	struct sc_req *req = &sc->ctl;
	int ret;

	if (req->busy) {
		guest_error(sc->g, "storvsc", "an earlier init/reset packet never completed");
		return -EBUSY;
	}
	memset(req, 0, sizeof(*req));
	req->busy = true;
	req->trans_id = trans_id;
	req->ci = 0;
	vp->flags = VSTOR_FLAG_REQUEST_COMPLETION;
	req->sent = true;
	ret = sc_send_wire(sc, 0, trans_id, &w, vp);
	if (ret) {
		memset(req, 0, sizeof(*req));
		return ret;
	}
	ret = sc_wait_req(sc, req, sc->g->opts.timeout_ms);
	if (ret) {
		req->abandoned = true;
		return ret;
	}
	memcpy(vp, &req->resp, sizeof(*vp));
	memset(req, 0, sizeof(*req));
	return 0;
}

static bool sc_vop_ok(const struct vstor_packet *vp)
{
	return vp->operation == VSTOR_OP_COMPLETE_IO && vp->status == 0;
}

struct sc_offer_wait {
	struct sc *sc;
	unsigned int want;
	struct guest_channel *found[SC_MAX_CHANNELS];
};

/* Counts the subchannel offers of our controller (same GUIDs, index 1..want). */
static bool sc_subchannels_offered(struct guest *g, void *arg)
{
	struct sc_offer_wait *w = arg;
	const struct guest_channel *primary = w->sc->chan[0];
	unsigned int n = 0;

	memset(w->found, 0, sizeof(w->found));
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct guest_channel *ch = g->chan[relid];
		uint16_t idx;

		if (!ch || ch->rescinded || ch == primary ||
		    strcmp(ch->class_str, primary->class_str) ||
		    strcmp(ch->instance_str, primary->instance_str))
			continue;
		idx = ch->offer.sub_channel_index;
		if (idx >= 1 && idx <= w->want && idx < SC_MAX_CHANNELS && !w->found[idx]) {
			w->found[idx] = ch;
			n++;
		}
	}
	return n == w->want;
}

static int sc_open_chan(struct sc *sc, struct guest_channel *ch, unsigned int ci)
{
	int ret = guest_channel_open(sc->g, ch, SC_RING_BYTES, STORVSC_MAX_PKT_SIZE,
				     ci % sc->g->att.n_vcpus);

	if (ret)
		return ret;
	ch->drv = sc;
	ch->drv_free = NULL;
	ch->on_event = sc_on_event;
	sc->chan[ci] = ch;
	sc->relid[ci] = ch->relid;
	sc->n_chan = MAX(sc->n_chan, ci + 1);
	/* Anything the host wrote before the callback was set. */
	if (guest_ring_bytes_to_read(&ch->in))
		sc_on_event(sc->g, ch);
	return 0;
}

/* storvsc_connect_to_vsp + storvsc_channel_init: fills `out` with the
 * init step's JSON.  0, GUEST_STORVSC_VERIFY_FAILED or -errno. */
static int sc_init(struct sc *sc, const struct guest_storvsc_params *p, json_t *out)
{
	static const uint16_t versions[] = { VMSTOR_PROTO_VERSION_WIN10, VMSTOR_PROTO_VERSION_WIN8_1,
					     VMSTOR_PROTO_VERSION_WIN8 };
	struct guest *g = sc->g;
	struct guest_channel *primary = guest_channel_find(g, STORVSC_SCSI_CLASS_GUID_STR, 0);
	struct vstor_packet vp;
	json_t *refused = json_array();
	char vbuf[8];
	int ret, want = 0;

	json_object_set_new(out, "versions_refused", refused);
	if (!primary) {
		json_object_set_new(out, "error", json_string("no SCSI controller offered"));
		return -ENODEV;
	}
	json_object_set_new(out, "relid", json_integer(primary->relid));
	json_object_set_new(out, "instance", json_string(primary->instance_str));
	ret = sc_open_chan(sc, primary, 0);
	if (ret)
		return ret;

	memset(&vp, 0, sizeof(vp));
	vp.operation = VSTOR_OP_BEGIN_INITIALIZATION;
	if ((ret = sc_ctl_exec(sc, STORVSC_RQST_INIT, &vp)))
		return ret;
	if (!sc_vop_ok(&vp)) {
		json_object_set_new(out, "error", json_pack("{s:s, s:i, s:I}", "refused",
							     "BEGIN_INITIALIZATION", "operation",
							     (json_int_t)vp.operation, "status",
							     (json_int_t)vp.status));
		return GUEST_STORVSC_VERIFY_FAILED;
	}
	for (size_t i = 0; i < ARRAY_SIZE(versions); i++) {
		vp.operation = VSTOR_OP_QUERY_PROTOCOL_VERSION;
		vp.version.major_minor = versions[i];
		vp.version.revision = 0;
		if ((ret = sc_ctl_exec(sc, STORVSC_RQST_INIT, &vp)))
			return ret;
		if (vp.status == 0) {
			sc->version = versions[i];
			break;
		}
		snprintf(vbuf, sizeof(vbuf), "%u.%u", versions[i] >> 8, versions[i] & 0xFF);
		json_array_append_new(refused, json_string(vbuf));
	}
	if (!sc->version) {
		json_object_set_new(out, "error", json_string("every protocol version refused "
							      "(Linux: \"Obsolete Hyper-V version\")"));
		return GUEST_STORVSC_VERIFY_FAILED;
	}
	snprintf(vbuf, sizeof(vbuf), "%u.%u", sc->version >> 8, sc->version & 0xFF);
	json_object_set_new(out, "version", json_string(vbuf));

	vp.operation = VSTOR_OP_QUERY_PROPERTIES;
	if ((ret = sc_ctl_exec(sc, STORVSC_RQST_INIT, &vp)))
		return ret;
	if (!sc_vop_ok(&vp)) {
		json_object_set_new(out, "error", json_pack("{s:s, s:I}", "refused", "QUERY_PROPERTIES",
							     "status", (json_int_t)vp.status));
		return GUEST_STORVSC_VERIFY_FAILED;
	}
	sc->props = vp.properties;
	json_object_set_new(out, "max_transfer_bytes", json_integer(sc->props.max_transfer_bytes));
	json_object_set_new(out, "max_channel_cnt", json_integer(sc->props.max_channel_cnt));
	json_object_set_new(out, "multi_channel",
			    json_boolean(sc->props.flags & STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL));

	vp.operation = VSTOR_OP_END_INITIALIZATION;
	if ((ret = sc_ctl_exec(sc, STORVSC_RQST_INIT, &vp)))
		return ret;
	if (!sc_vop_ok(&vp)) {
		json_object_set_new(out, "error", json_pack("{s:s, s:I}", "refused", "END_INITIALIZATION",
							     "status", (json_int_t)vp.status));
		return GUEST_STORVSC_VERIFY_FAILED;
	}

	/* handle_multichannel_storage: min(online CPUs - 1, max_channel_cnt). */
	if (sc->props.flags & STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL) {
		want = p->subchannels < 0 ? (int)g->att.n_vcpus - 1 : p->subchannels;
		want = MIN(want, (int)sc->props.max_channel_cnt);
		want = MIN(want, (int)SC_MAX_CHANNELS - 1);
	}
	if (want > 0) {
		struct sc_offer_wait ow = { .sc = sc, .want = (unsigned int)want };

		memset(&vp, 0, sizeof(vp));
		vp.operation = VSTOR_OP_CREATE_SUB_CHANNELS;
		vp.sub_channel_count = (uint16_t)want;
		if ((ret = sc_ctl_exec(sc, STORVSC_RQST_INIT, &vp)))
			return ret;
		if (!sc_vop_ok(&vp)) {
			json_object_set_new(out, "error", json_pack("{s:s, s:I}", "refused",
								     "CREATE_SUB_CHANNELS", "status",
								     (json_int_t)vp.status));
			return GUEST_STORVSC_VERIFY_FAILED;
		}
		ret = guest_wait(g, sc_subchannels_offered, &ow, g->opts.timeout_ms);
		if (ret == -ETIMEDOUT) {
			json_object_set_new(out, "error", json_sprintf("%d subchannel offers asked, "
								       "not all arrived", want));
			return GUEST_STORVSC_VERIFY_FAILED;
		}
		if (ret)
			return ret;
		/* handle_sc_creation: each opened like the primary. */
		for (int i = 1; i <= want; i++)
			if ((ret = sc_open_chan(sc, ow.found[i], (unsigned int)i)))
				return ret;
	}
	json_object_set_new(out, "subchannels", json_integer(want));
	json_object_set_new(out, "channels", json_integer(sc->n_chan));
	return 0;
}

/* Linux's storvsc_remove -> vmbus_close: subchannels first, then the primary. */
static void sc_close_all(struct sc *sc)
{
	for (unsigned int ci = sc->n_chan; ci-- > 0;) {
		struct guest_channel *ch = sc_chan(sc, ci);

		if (ch)
			guest_channel_close(sc->g, ch);
		sc->chan[ci] = NULL;
	}
	sc->n_chan = 0;
}

/* ---- SCSI helpers ---------------------------------------------------------------- */

static void sc_srb_fill(struct vstor_packet *vp, uint8_t lun, const uint8_t *cdb, uint8_t cdb_len,
			uint8_t data_in, uint32_t len)
{
	struct vmscsi_request *r = &vp->vm_srb;

	/* storvsc_queuecommand + storvsc_do_io. */
	memset(vp, 0, sizeof(*vp));
	vp->operation = VSTOR_OP_EXECUTE_SRB;
	vp->flags = VSTOR_FLAG_REQUEST_COMPLETION;
	r->length = sizeof(*r);
	r->lun = lun;
	r->cdb_length = cdb_len;
	r->sense_info_length = VSTOR_SENSE_SIZE;
	r->data_in = data_in;
	r->data_transfer_length = len;
	memcpy(r->cdb, cdb, MIN(cdb_len, (uint8_t)VSTOR_CDB_MAX));
	r->time_out_value = 60;
	r->queue_tag = 0xFF;      /* SP_UNTAGGED */
	r->queue_action = 0x20;   /* SRB_SIMPLE_TAG_REQUEST */
	r->srb_flags = SRB_FLAGS_QUEUE_ACTION_ENABLE | SRB_FLAGS_DISABLE_SYNCH_TRANSFER |
		       (data_in == VSTOR_DATA_OUT ? SRB_FLAGS_DATA_OUT :
			data_in == VSTOR_DATA_IN ? SRB_FLAGS_DATA_IN :
			SRB_FLAGS_DATA_IN | SRB_FLAGS_DATA_OUT);
}

static void sc_parse_sense(struct sc_result *r)
{
	const uint8_t *s = r->sense;
	uint8_t code = s[0] & 0x7F;

	r->key = r->asc = r->ascq = -1;
	if (r->sense_len < 3)
		return;
	if (code == 0x72 || code == 0x73) {
		r->key = s[1] & 0xF;
		r->asc = s[2];
		r->ascq = s[3];
	} else if (code == 0x70 || code == 0x71) {
		r->key = s[2] & 0xF;
		r->asc = r->sense_len > 12 ? s[12] : -1;
		r->ascq = r->sense_len > 13 ? s[13] : -1;
	}
}

/* Decodes a completion and checks what Linux relies on. */
static void sc_decode(struct sc *sc, const struct sc_req *req, struct sc_result *r)
{
	const struct vmscsi_request *s = &req->resp.vm_srb;

	memset(r, 0, sizeof(*r));
	r->status = req->resp.status;
	r->srb_status = s->srb_status;
	r->scsi_status = s->scsi_status;
	r->bytes = s->data_transfer_length;
	r->sense_len = s->sense_info_length;
	r->key = r->asc = r->ascq = -1;
	if (req->resp.operation != VSTOR_OP_COMPLETE_IO)
		sc_host_error(sc, "trans_id %#llx: completion operation %u, not COMPLETE_IO (Linux "
			      "never completes the command)", (unsigned long long)req->trans_id,
			      req->resp.operation);
	if (r->bytes > req->pkt.vm_srb.data_transfer_length)
		sc_host_error(sc, "trans_id %#llx: data_transfer_length %u above the %u asked",
			      (unsigned long long)req->trans_id, r->bytes,
			      req->pkt.vm_srb.data_transfer_length);
	if (r->sense_len > VSTOR_SENSE_SIZE) {
		sc_host_error(sc, "trans_id %#llx: sense_info_length %u above 20",
			      (unsigned long long)req->trans_id, r->sense_len);
		r->sense_len = VSTOR_SENSE_SIZE;
	}
	/* Linux reads sense only with SRB_STATUS_AUTOSENSE_VALID. */
	if (r->srb_status & SRB_STATUS_AUTOSENSE_VALID) {
		memcpy(r->sense, s->sense_data, r->sense_len);
		sc_parse_sense(r);
	}
}

static bool sc_result_good(const struct sc_result *r)
{
	return SRB_STATUS_CODE(r->srb_status) == SRB_STATUS_SUCCESS && r->scsi_status == 0;
}

static bool sc_result_is_ua(const struct sc_result *r)
{
	return r->scsi_status == 2 && r->key == 6;
}

static void sc_result_json(json_t *o, const struct sc_result *r)
{
	json_object_set_new(o, "scsi_status", json_integer(r->scsi_status));
	json_object_set_new(o, "srb_status", json_integer(r->srb_status));
	json_object_set_new(o, "status", json_integer(r->status));
	json_object_set_new(o, "bytes", json_integer(r->bytes));
	if (r->key >= 0)
		json_object_set_new(o, "sense", json_sprintf("%x/%02x/%02x", r->key, r->asc & 0xFF,
							      r->ascq & 0xFF));
	if (r->ua_retries)
		json_object_set_new(o, "unit_attentions", json_integer(r->ua_retries));
}

/*
 * One command, waited for, on the next channel; unit attentions retried
 * like the midlayer does.  `in` receives `len` bytes (the buffer starts
 * zeroed).  0 when answered (whatever the status), -errno otherwise.
 */
static int sc_exec(struct sc *sc, uint8_t lun, const uint8_t *cdb, uint8_t cdb_len, uint8_t dir,
		   uint32_t len, const void *out, void *in, struct sc_result *res, bool ua_retry)
{
	unsigned int ua = 0;

	for (;;) {
		/* Small buffers at an odd offset, like kmalloc'ed ones. */
		struct sc_req *req = sc_req_get(sc, sc_next_chan(sc), len, len && len < 2048 ? 0x208 : 0);
		int ret;

		if (!req)
			return -ENOMEM;
		sc_srb_fill(&req->pkt, lun, cdb, cdb_len, len ? dir : VSTOR_DATA_UNKNOWN, len);
		if (out && len)
			memcpy(req->buf, out, len);
		ret = sc_req_submit(sc, req);
		if (!ret)
			ret = sc_wait_req(sc, req, sc->g->opts.timeout_ms);
		if (ret) {
			sc_req_abandon(sc, req);
			return ret;
		}
		sc_decode(sc, req, res);
		if (in && len)
			memcpy(in, req->buf, len);
		sc_req_put(sc, req);
		if (ua_retry && sc_result_is_ua(res) && ua < SC_UA_RETRIES) {
			ua++;
			continue;
		}
		res->ua_retries = ua;
		return 0;
	}
}

/* ---- patterns ----------------------------------------------------------------- */

#define SC_PATTERN_LBA (-1)

/* "lba": every 16 bytes of block L read "LBA=%011llu\n" (L mod 10^11), so
 * `printf` + `yes` in a test can build the expected image. */
static void sc_pattern_block(uint8_t *p, uint64_t lba, uint32_t bs, int pattern)
{
	if (pattern != SC_PATTERN_LBA) {
		memset(p, pattern, bs);
		return;
	}
	for (uint32_t i = 0; i + 16 <= bs; i += 16) {
		char line[17];

		snprintf(line, sizeof(line), "LBA=%011llu\n", (unsigned long long)(lba % 100000000000ull));
		memcpy(p + i, line, 16);
	}
}

/* 0 when buf holds the pattern, else the offset of the first difference + 1. */
static uint64_t sc_pattern_check(const uint8_t *buf, uint64_t lba, uint32_t nblocks, uint32_t bs,
				 int pattern, uint8_t *got, uint8_t *want)
{
	uint8_t *blk = malloc(bs);
	uint64_t bad = 0;

	if (!blk)
		return 1;
	for (uint32_t b = 0; b < nblocks && !bad; b++) {
		sc_pattern_block(blk, lba + b, bs, pattern);
		for (uint32_t i = 0; i < bs; i++) {
			if (buf[(uint64_t)b * bs + i] != blk[i]) {
				*got = buf[(uint64_t)b * bs + i];
				*want = blk[i];
				bad = (uint64_t)b * bs + i + 1;
				break;
			}
		}
	}
	free(blk);
	return bad;
}

/* ---- the batch engine ---------------------------------------------------------- */

struct sc_job {
	uint64_t lba;
	uint32_t nblocks;
	uint32_t off;              /* buffer offset in its first page */
	uint8_t state;             /* 0 to send, 1 in flight, 2 done */
	uint8_t ua;
};

struct sc_batch {
	uint8_t lun;
	bool write;
	int pattern;
	uint32_t bs;
	struct sc_job *jobs;
	unsigned int n;
	/* results */
	unsigned int done;
	uint64_t bytes;
	bool have_bad;
	struct sc_result bad;       /* first failed command */
	struct sc_result any;       /* the last completed one */
	char mismatch[200];
	unsigned int per_chan[SC_MAX_CHANNELS];
	unsigned int max_inflight;
	unsigned int ua_retries;
};

static bool sc_batch_pred(struct guest *g, void *arg)
{
	struct sc *sc = ((void **)arg)[0];
	struct sc_batch *b = ((void **)arg)[1];

	for (unsigned int i = 0; i < sc->qd; i++)
		if (sc->slots[i].busy && sc->slots[i].done && sc->slots[i].batch == b &&
		    !sc->slots[i].abandoned)
			return true;
	return false;
}

static void sc_rw_cdb(uint8_t *cdb, uint8_t *cdb_len, bool write, uint64_t lba, uint32_t nblocks)
{
	memset(cdb, 0, 16);
	/* sd: READ/WRITE(10) while they can address it, else (16). */
	if (lba + nblocks <= 0xFFFFFFFFull && nblocks <= 0xFFFF) {
		cdb[0] = write ? 0x2A : 0x28;
		put_be32(cdb + 2, (uint32_t)lba);
		put_be16(cdb + 7, (uint16_t)nblocks);
		*cdb_len = 10;
	} else {
		cdb[0] = write ? 0x8A : 0x88;
		put_be64(cdb + 2, lba);
		put_be32(cdb + 10, nblocks);
		*cdb_len = 16;
	}
}

static void sc_batch_complete(struct sc *sc, struct sc_batch *b, struct sc_req *req)
{
	struct sc_job *job = &b->jobs[req->job];
	struct sc_result r;

	sc_decode(sc, req, &r);
	if (sc_result_is_ua(&r) && job->ua < SC_UA_RETRIES) {
		job->ua++;
		b->ua_retries++;
		job->state = 0;           /* send it again */
		sc_req_put(sc, req);
		return;
	}
	job->state = 2;
	b->done++;
	b->any = r;
	if (!sc_result_good(&r)) {
		if (!b->have_bad) {
			b->have_bad = true;
			b->bad = r;
		}
	} else {
		uint32_t len = job->nblocks * b->bs;

		b->bytes += r.bytes;
		if (r.bytes != len && !b->mismatch[0])
			snprintf(b->mismatch, sizeof(b->mismatch),
				 "LBA %llu: %u bytes transferred, %u asked",
				 (unsigned long long)job->lba, r.bytes, len);
		if (!b->write && !b->mismatch[0]) {
			uint8_t got = 0, want = 0;
			uint64_t at = sc_pattern_check(req->buf, job->lba, job->nblocks, b->bs, b->pattern,
						       &got, &want);

			if (at)
				snprintf(b->mismatch, sizeof(b->mismatch),
					 "LBA %llu byte %llu: read 0x%02x, expected 0x%02x",
					 (unsigned long long)(job->lba + (at - 1) / b->bs),
					 (unsigned long long)((at - 1) % b->bs), got, want);
		}
	}
	sc_req_put(sc, req);
}

/* Runs every job of b with up to qd requests in flight, round-robin over
 * the channels; completions in any order.  0 or -errno. */
static int sc_run_batch(struct sc *sc, struct sc_batch *b)
{
	void *arg[2] = { sc, b };
	unsigned int cursor = 0;
	int ret = 0;

	while (b->done < b->n) {
		while (cursor < b->n && sc->inflight < sc->qd) {
			struct sc_job *job = &b->jobs[cursor];
			uint32_t len = job->nblocks * b->bs;
			unsigned int ci;
			struct sc_req *req;
			uint8_t cdb[16], cdb_len;

			if (job->state != 0) {
				cursor++;
				continue;
			}
			ci = sc_next_chan(sc);
			req = sc_req_get(sc, ci, len, job->off);
			if (!req) {
				if (sc->inflight == 0)
					return -ENOMEM;
				break;
			}
			sc_rw_cdb(cdb, &cdb_len, b->write, job->lba, job->nblocks);
			sc_srb_fill(&req->pkt, b->lun, cdb, cdb_len, b->write ? VSTOR_DATA_OUT : VSTOR_DATA_IN,
				    len);
			if (b->write)
				for (uint32_t k = 0; k < job->nblocks; k++)
					sc_pattern_block(req->buf + (uint64_t)k * b->bs, job->lba + k, b->bs,
							 b->pattern);
			req->batch = b;
			req->job = cursor;
			ret = sc_req_submit(sc, req);
			if (ret) {
				sc_req_put(sc, req);
				goto fail;
			}
			job->state = 1;
			b->per_chan[ci]++;
			b->max_inflight = MAX(b->max_inflight, sc->inflight);
			cursor++;
		}
		ret = guest_wait(sc->g, sc_batch_pred, arg, sc->g->opts.timeout_ms);
		if (ret) {
			if (ret == -ETIMEDOUT)
				guest_error(sc->g, "storvsc", "%u of %u requests unanswered after %d ms",
					    b->n - b->done, b->n, sc->g->opts.timeout_ms);
			goto fail;
		}
		for (unsigned int i = 0; i < sc->qd; i++) {
			struct sc_req *req = &sc->slots[i];

			if (req->busy && req->done && req->batch == b && !req->abandoned) {
				unsigned int job = req->job;

				sc_batch_complete(sc, b, req);
				if (b->jobs[job].state == 0 && job < cursor)
					cursor = job;
			}
		}
	}
	return 0;
fail:
	for (unsigned int i = 0; i < sc->qd; i++)
		if (sc->slots[i].busy && sc->slots[i].batch == b)
			sc_req_abandon(sc, &sc->slots[i]);
	return ret;
}

/* ---- the script ------------------------------------------------------------------ */

struct step;
typedef int (*step_fn)(struct sc *sc, struct step *st);

struct step_def {
	const char *name;
	int nargs;
	const char *keys;          /* key=value expectations it takes, comma-separated */
	step_fn fn;
};

struct step {
	const struct step_def *def;
	struct sc *sc;
	char *args[SC_MAX_STEP_ARGS];
	int nargs;
	char *kv[SC_MAX_STEP_KV];
	int nkv;
	bool expect_next;          /* an expect-* follows: a failed status is not a failure */
	bool no_ua_retry;          /* expect-sense 6/...: keep the unit attention */
	json_t *out;
	bool failed;
};

static void step_fail(struct step *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void step_fail(struct step *st, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (st->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st->failed = true;
	json_object_set_new(st->out, "error", json_string(msg));
}

static const char *step_kv(const struct step *st, const char *key)
{
	size_t n = strlen(key);

	for (int i = 0; i < st->nkv; i++)
		if (!strncmp(st->kv[i], key, n) && st->kv[i][n] == '=')
			return st->kv[i] + n + 1;
	return NULL;
}

/* Decimal, or hex with 0x. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strncasecmp(s, "0x", 2) ? strtoull(s, &end, 10) : strtoull(s + 2, &end, 16);
	return errno || *end || (!strncasecmp(s, "0x", 2) && !s[2]) ? -EINVAL : 0;
}

/* LUN, or PATH:TARGET:LUN for the other (empty) targets of the scan. */
static int parse_lun(struct step *st, const char *s, uint8_t *lun)
{
	unsigned int p = 0, t = 0, l;
	char extra;
	uint64_t v;

	if (strchr(s, ':')) {
		if (sscanf(s, "%u:%u:%u%c", &p, &t, &l, &extra) != 3 || p > 255 || t > 255 || l > 255)
			goto bad;
		v = l;
	} else if (parse_u64(s, &v) || v > 255) {
		goto bad;
	}
	st->sc->cur_path = (uint8_t)p;
	st->sc->cur_target = (uint8_t)t;
	*lun = (uint8_t)v;
	return 0;
bad:
	step_fail(st, "bad LUN \"%s\" (LUN or PATH:TARGET:LUN)", s);
	return -EINVAL;
}

static int parse_pattern(const char *s, int *pattern)
{
	uint64_t v;

	if (!strcmp(s, "lba")) {
		*pattern = SC_PATTERN_LBA;
		return 0;
	}
	if (parse_u64(s, &v) || v > 255)
		return -EINVAL;
	*pattern = (int)v;
	return 0;
}

/* Records a command's result: JSON, expect-* state, the status check. */
static void step_result(struct sc *sc, struct step *st, const struct sc_result *r)
{
	sc_result_json(st->out, r);
	sc->last = *r;
	sc->have_last = true;
	if (!st->expect_next && !sc_result_good(r)) {
		if (r->key >= 0)
			step_fail(st, "command failed: srb_status 0x%02x scsi_status 0x%02x sense %x/%02x/%02x",
				  r->srb_status, r->scsi_status, r->key, r->asc & 0xFF, r->ascq & 0xFF);
		else
			step_fail(st, "command failed: srb_status 0x%02x scsi_status 0x%02x status 0x%x",
				  r->srb_status, r->scsi_status, r->status);
	}
}

static void step_expect_str(struct step *st, const char *key, const char *got)
{
	const char *want = step_kv(st, key);

	if (want && strcmp(want, got))
		step_fail(st, "%s is \"%s\", expected \"%s\"", key, got, want);
}

static void step_expect_num(struct step *st, const char *key, uint64_t got)
{
	const char *want = step_kv(st, key);
	uint64_t w;

	if (!want)
		return;
	if (parse_u64(want, &w))
		step_fail(st, "%s=%s: not a number", key, want);
	else if (w != got)
		step_fail(st, "%s is %llu, expected %llu", key, (unsigned long long)got,
			  (unsigned long long)w);
}

/* Fixed-width ASCII field, trailing blanks and NULs dropped. */
static json_t *ascii_field(const uint8_t *p, size_t n, char *buf)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		buf[i] = p[i] >= 0x20 && p[i] < 0x7F ? (char)p[i] : '.';
	buf[n] = 0;
	len = n;
	while (len > 0 && (buf[len - 1] == ' ' || p[len - 1] == 0))
		buf[--len] = 0;
	return json_string(buf);
}

static int sc_cmd(struct sc *sc, struct step *st, uint8_t lun, const uint8_t *cdb, uint8_t cdb_len,
		  uint8_t dir, uint32_t len, const void *out, void *in, struct sc_result *r)
{
	int ret = sc_exec(sc, lun, cdb, cdb_len, dir, len, out, in, r, !st->no_ua_retry);

	if (ret)
		step_fail(st, "no answer: %s", strerror(-ret));
	else
		step_result(sc, st, r);
	return ret;
}

/* ---- steps ---------------------------------------------------------------------- */

static int step_inquiry(struct sc *sc, struct step *st)
{
	uint8_t cdb[6] = { 0x12, 0, 0, 0, 36, 0 }, buf[256], lun;
	struct sc_result r;
	char s[17];
	int ret;

	if (parse_lun(st, st->args[0], &lun))
		return 0;
	memset(buf, 0, sizeof(buf));
	/* scsi_probe_lun: 36 bytes first, then what the device reports. */
	if ((ret = sc_cmd(sc, st, lun, cdb, 6, VSTOR_DATA_IN, 36, NULL, buf, &r)))
		return ret;
	if (r.bytes >= 5 && buf[4] + 5 > 36 && sc_result_good(&r)) {
		cdb[4] = (uint8_t)MIN(buf[4] + 5, 255);
		if ((ret = sc_cmd(sc, st, lun, cdb, 6, VSTOR_DATA_IN, cdb[4], NULL, buf, &r)))
			return ret;
	}
	json_object_set_new(st->out, "byte0", json_integer(buf[0]));
	json_object_set_new(st->out, "pq", json_integer(buf[0] >> 5));
	json_object_set_new(st->out, "pdt", json_integer(buf[0] & 0x1F));
	json_object_set_new(st->out, "version", json_integer(buf[2]));
	json_object_set_new(st->out, "vendor", ascii_field(buf + 8, 8, s));
	step_expect_str(st, "vendor", s);
	json_object_set_new(st->out, "product", ascii_field(buf + 16, 16, s));
	step_expect_str(st, "product", s);
	json_object_set_new(st->out, "revision", ascii_field(buf + 32, 4, s));
	step_expect_str(st, "revision", s);
	step_expect_num(st, "byte0", buf[0]);
	if (r.bytes < 36 && sc_result_good(&r))
		step_fail(st, "standard INQUIRY returned %u bytes (< 36)", r.bytes);
	return 0;
}

static int step_inquiry_vpd(struct sc *sc, struct step *st)
{
	uint8_t cdb[6] = { 0x12, 1, 0, 0, 255, 0 }, buf[256], lun;
	struct sc_result r;
	uint64_t page;
	uint32_t n;
	int ret;

	if (parse_lun(st, st->args[0], &lun))
		return 0;
	if (parse_u64(st->args[1], &page) || page > 255) {
		step_fail(st, "bad VPD page \"%s\"", st->args[1]);
		return 0;
	}
	cdb[2] = (uint8_t)page;
	json_object_set_new(st->out, "page", json_integer((json_int_t)page));
	memset(buf, 0, sizeof(buf));
	if ((ret = sc_cmd(sc, st, lun, cdb, 6, VSTOR_DATA_IN, 255, NULL, buf, &r)))
		return ret;
	if (!sc_result_good(&r))
		return 0;
	if (r.bytes < 4 || buf[1] != page) {
		step_fail(st, "VPD answer of %u bytes for page 0x%02x names page 0x%02x", r.bytes,
			  (unsigned)page, buf[1]);
		return 0;
	}
	n = MIN((uint32_t)get_be16(buf + 2), r.bytes - 4);
	if (page == 0x00) {
		json_t *a = json_array();

		for (uint32_t i = 0; i < n; i++)
			json_array_append_new(a, json_integer(buf[4 + i]));
		json_object_set_new(st->out, "pages", a);
	} else if (page == 0x80) {
		char s[256];

		json_object_set_new(st->out, "serial", ascii_field(buf + 4, n, s));
		step_expect_str(st, "serial", s);
	} else if (page == 0x83) {
		json_t *a = json_array();

		for (uint32_t i = 0; i + 4 <= n;) {
			uint32_t dl = buf[4 + i + 3];
			char *hex = guest_hex(buf + 4 + i + 4, MIN(dl, n - i - 4));

			json_array_append_new(a, json_pack("{s:i, s:i, s:s}", "code_set",
							   buf[4 + i] & 0xF, "type", buf[4 + i + 1] & 0xF,
							   "id", hex ? hex : ""));
			free(hex);
			i += 4 + dl;
		}
		json_object_set_new(st->out, "designators", a);
	} else if (page == 0xB0 && n >= 16) {
		json_object_set_new(st->out, "max_transfer_blocks", json_integer(get_be32(buf + 8)));
		json_object_set_new(st->out, "optimal_transfer_blocks", json_integer(get_be32(buf + 12)));
	} else {
		char *hex = guest_hex(buf, MIN(r.bytes, 255u));

		json_object_set_new(st->out, "hex", json_string(hex ? hex : ""));
		free(hex);
	}
	return 0;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static int step_report_luns(struct sc *sc, struct step *st)
{
	enum { ALLOC = 8 + 8 * 256 };
	uint8_t cdb[12] = { 0xA0 }, *buf = calloc(1, ALLOC);
	uint16_t luns[256];
	struct sc_result r;
	uint32_t listed, n = 0;
	const char *want = step_kv(st, "luns");
	char got[1100] = "";
	json_t *a;
	int ret;

	if (!buf)
		return -ENOMEM;
	put_be32(cdb + 6, ALLOC);
	/* The midlayer addresses REPORT LUNS to LUN 0 of the target. */
	ret = sc_cmd(sc, st, 0, cdb, 12, VSTOR_DATA_IN, ALLOC, NULL, buf, &r);
	if (ret || !sc_result_good(&r)) {
		free(buf);
		return ret;
	}
	listed = get_be32(buf) / 8;
	if (r.bytes < 8 || 8 + 8 * (uint64_t)MIN(listed, 256u) > r.bytes) {
		step_fail(st, "REPORT LUNS lists %u LUNs in %u bytes", listed, r.bytes);
		free(buf);
		return 0;
	}
	a = json_array();
	for (uint32_t i = 0; i < MIN(listed, 256u); i++) {
		const uint8_t *e = buf + 8 + 8 * i;

		luns[n++] = (uint16_t)((e[0] & 0x3F) << 8 | e[1]);
	}
	qsort(luns, n, sizeof(luns[0]), cmp_u16);
	for (uint32_t i = 0; i < n; i++) {
		json_array_append_new(a, json_integer(luns[i]));
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u", i ? "," : "", luns[i]);
	}
	json_object_set_new(st->out, "luns", a);
	if (want && strcmp(want, got))
		step_fail(st, "LUNs are [%s], expected [%s]", got, want);
	free(buf);
	return 0;
}

/* READ CAPACITY(16) into sc->geo[lun]. */
static int sc_capacity(struct sc *sc, struct step *st, uint8_t lun, struct sc_result *r)
{
	uint8_t cdb[16] = { 0x9E, 0x10 }, buf[32];
	int ret;

	put_be32(cdb + 10, sizeof(buf));
	memset(buf, 0, sizeof(buf));
	ret = sc_cmd(sc, st, lun, cdb, 16, VSTOR_DATA_IN, sizeof(buf), NULL, buf, r);
	if (ret || !sc_result_good(r))
		return ret;
	if (r->bytes < 12) {
		step_fail(st, "READ CAPACITY(16) returned %u bytes", r->bytes);
		return 0;
	}
	sc->geo[lun].blocks = get_be64(buf) + 1;
	sc->geo[lun].block_size = get_be32(buf + 8);
	json_object_set_new(st->out, "lbpme", json_boolean(buf[14] & 0x80));
	json_object_set_new(st->out, "lbprz", json_boolean(buf[14] & 0x40));
	if (sc->geo[lun].block_size == 0 || sc->geo[lun].block_size % 512) {
		step_fail(st, "block size %u", sc->geo[lun].block_size);
		sc->geo[lun].block_size = 0;
	}
	return 0;
}

static int step_capacity(struct sc *sc, struct step *st)
{
	struct sc_result r;
	uint8_t lun;
	int ret;

	if (parse_lun(st, st->args[0], &lun))
		return 0;
	ret = sc_capacity(sc, st, lun, &r);
	if (ret || st->failed || !sc_result_good(&r))
		return ret;
	json_object_set_new(st->out, "blocks", json_integer((json_int_t)sc->geo[lun].blocks));
	json_object_set_new(st->out, "block_size", json_integer(sc->geo[lun].block_size));
	json_object_set_new(st->out, "capacity",
			    json_integer((json_int_t)(sc->geo[lun].blocks * sc->geo[lun].block_size)));
	step_expect_num(st, "blocks", sc->geo[lun].blocks);
	step_expect_num(st, "block_size", sc->geo[lun].block_size);
	step_expect_num(st, "bytes", sc->geo[lun].blocks * sc->geo[lun].block_size);
	return 0;
}

static int step_mode_sense(struct sc *sc, struct step *st)
{
	uint8_t cdb[6] = { 0x1A, 0, 0x3F, 0, 192, 0 }, buf[192], lun;
	struct sc_result r;
	int ret;

	if (parse_lun(st, st->args[0], &lun))
		return 0;
	memset(buf, 0, sizeof(buf));
	ret = sc_cmd(sc, st, lun, cdb, 6, VSTOR_DATA_IN, sizeof(buf), NULL, buf, &r);
	if (ret || !sc_result_good(&r))
		return ret;
	json_object_set_new(st->out, "write_protect", json_boolean(buf[2] & 0x80));
	step_expect_num(st, "wp", (buf[2] & 0x80) ? 1 : 0);
	return 0;
}

static int step_simple(struct sc *sc, struct step *st, const uint8_t *cdb, uint8_t cdb_len)
{
	struct sc_result r;
	uint8_t lun;

	if (parse_lun(st, st->args[0], &lun))
		return 0;
	return sc_cmd(sc, st, lun, cdb, cdb_len, VSTOR_DATA_UNKNOWN, 0, NULL, NULL, &r);
}

static int step_tur(struct sc *sc, struct step *st)
{
	static const uint8_t cdb[6] = { 0x00 };

	return step_simple(sc, st, cdb, 6);
}

static int step_sync(struct sc *sc, struct step *st)
{
	static const uint8_t cdb[10] = { 0x35 };

	return step_simple(sc, st, cdb, 10);
}

static int step_unmap(struct sc *sc, struct step *st)
{
	uint8_t cdb[10] = { 0x42 }, param[24] = { 0 }, lun;
	uint64_t lba, count;
	struct sc_result r;

	if (parse_lun(st, st->args[0], &lun))
		return 0;
	if (parse_u64(st->args[1], &lba) || parse_u64(st->args[2], &count) || count > UINT32_MAX) {
		step_fail(st, "bad LBA or COUNT");
		return 0;
	}
	put_be16(cdb + 7, sizeof(param));
	put_be16(param, sizeof(param) - 2);
	put_be16(param + 2, 16);
	put_be64(param + 8, lba);
	put_be32(param + 16, (uint32_t)count);
	return sc_cmd(sc, st, lun, cdb, 10, VSTOR_DATA_OUT, sizeof(param), param, NULL, &r);
}

/* The LUN's geometry, from READ CAPACITY(16) the first time (sd_probe). */
static int sc_need_geo(struct sc *sc, struct step *st, uint8_t lun)
{
	struct sc_result r;
	json_t *save = st->out;
	int ret;

	if (sc->geo[lun].block_size)
		return 0;
	st->out = json_object();
	ret = sc_capacity(sc, st, lun, &r);
	json_decref(st->out);
	st->out = save;
	if (!ret && !st->failed && !sc->geo[lun].block_size)
		step_fail(st, "READ CAPACITY(16) on LUN %u failed: srb_status 0x%02x", lun, r.srb_status);
	return ret;
}

static void batch_json(struct sc *sc, struct step *st, struct sc_batch *b)
{
	json_t *pc = json_array();

	for (unsigned int i = 0; i < sc->n_chan; i++)
		json_array_append_new(pc, json_integer(b->per_chan[i]));
	json_object_set_new(st->out, "requests", json_integer(b->n));
	json_object_set_new(st->out, "per_channel", pc);
	json_object_set_new(st->out, "max_in_flight", json_integer(b->max_inflight));
	if (b->ua_retries)
		json_object_set_new(st->out, "unit_attentions", json_integer(b->ua_retries));
}

/* write / read-verify: COUNT blocks in requests of at most max_transfer_bytes. */
static int step_rw(struct sc *sc, struct step *st, bool write)
{
	struct sc_batch b;
	uint64_t lba, count, per, max_bytes;
	uint8_t lun;
	int pattern, ret;

	if (parse_lun(st, st->args[0], &lun))
		return 0;
	if (parse_u64(st->args[1], &lba) || parse_u64(st->args[2], &count) || count == 0 ||
	    count > (1u << 24) || parse_pattern(st->args[3], &pattern)) {
		step_fail(st, "want LUN LBA COUNT PATTERN (a byte or \"lba\")");
		return 0;
	}
	if ((ret = sc_need_geo(sc, st, lun)) || st->failed)
		return ret;
	memset(&b, 0, sizeof(b));
	b.lun = lun;
	b.write = write;
	b.pattern = pattern;
	b.bs = sc->geo[lun].block_size;
	max_bytes = sc->props.max_transfer_bytes ? sc->props.max_transfer_bytes : b.bs;
	per = MAX(max_bytes / b.bs, (uint64_t)1);
	per = MIN(per, (uint64_t)0xFFFF);
	b.n = (unsigned int)((count + per - 1) / per);
	b.jobs = calloc(b.n, sizeof(*b.jobs));
	if (!b.jobs)
		return -ENOMEM;
	for (unsigned int i = 0; i < b.n; i++) {
		b.jobs[i].lba = lba + i * per;
		b.jobs[i].nblocks = (uint32_t)MIN(per, count - i * per);
	}
	json_object_set_new(st->out, "lun", json_integer(lun));
	json_object_set_new(st->out, "lba", json_integer((json_int_t)lba));
	json_object_set_new(st->out, "count", json_integer((json_int_t)count));
	ret = sc_run_batch(sc, &b);
	if (!ret) {
		batch_json(sc, st, &b);
		step_result(sc, st, b.have_bad ? &b.bad : &b.any);
		json_object_set_new(st->out, "bytes", json_integer((json_int_t)b.bytes));
		if (b.mismatch[0])
			step_fail(st, "%s", b.mismatch);
	} else {
		step_fail(st, "no answer: %s", strerror(-ret));
	}
	free(b.jobs);
	return ret;
}

static int step_write(struct sc *sc, struct step *st)
{
	return step_rw(sc, st, true);
}

static int step_read_verify(struct sc *sc, struct step *st)
{
	return step_rw(sc, st, false);
}

/* parallel LUN N: N 4 KiB writes in flight together, then N reads, verified. */
static int step_parallel(struct sc *sc, struct step *st)
{
	struct sc_batch b;
	uint64_t n, start = 0, per;
	uint64_t t0 = now_ns();
	json_t *pc;
	uint8_t lun;
	int ret;

	if (parse_lun(st, st->args[0], &lun))
		return 0;
	if (parse_u64(st->args[1], &n) || n == 0 || n > 65536 ||
	    (step_kv(st, "lba") && parse_u64(step_kv(st, "lba"), &start))) {
		step_fail(st, "want LUN N (1..65536) [lba=START]");
		return 0;
	}
	if ((ret = sc_need_geo(sc, st, lun)) || st->failed)
		return ret;
	memset(&b, 0, sizeof(b));
	b.lun = lun;
	b.pattern = SC_PATTERN_LBA;
	b.bs = sc->geo[lun].block_size;
	per = MAX(4096u / b.bs, 1u);
	if (start + n * per > sc->geo[lun].blocks) {
		step_fail(st, "%llu requests of %llu blocks from LBA %llu do not fit %llu blocks",
			  (unsigned long long)n, (unsigned long long)per, (unsigned long long)start,
			  (unsigned long long)sc->geo[lun].blocks);
		return 0;
	}
	b.n = (unsigned int)n;
	b.jobs = calloc(b.n, sizeof(*b.jobs));
	if (!b.jobs)
		return -ENOMEM;
	pc = json_array();
	for (int phase = 0; phase < 2; phase++) {
		unsigned int pchan[SC_MAX_CHANNELS];
		unsigned int maxin = b.max_inflight;

		memcpy(pchan, b.per_chan, sizeof(pchan));
		memset(&b.done, 0, sizeof(b) - offsetof(struct sc_batch, done));
		b.write = phase == 0;
		for (unsigned int i = 0; i < b.n; i++) {
			/* Odd requests straddle two pages (offset 512), even ones
			 * are page-aligned: both shapes storvsc sends. */
			b.jobs[i] = (struct sc_job){ .lba = start + i * per, .nblocks = (uint32_t)per,
						     .off = (i & 1) ? 512 : 0 };
		}
		ret = sc_run_batch(sc, &b);
		for (unsigned int i = 0; i < SC_MAX_CHANNELS; i++)
			b.per_chan[i] += pchan[i];
		b.max_inflight = MAX(b.max_inflight, maxin);
		if (ret) {
			step_fail(st, "no answer: %s", strerror(-ret));
			break;
		}
		step_result(sc, st, b.have_bad ? &b.bad : &b.any);
		if (b.mismatch[0])
			step_fail(st, "%s", b.mismatch);
		if (st->failed)
			break;
	}
	for (unsigned int i = 0; i < sc->n_chan; i++)
		json_array_append_new(pc, json_integer(b.per_chan[i]));
	json_object_set_new(st->out, "lun", json_integer(lun));
	json_object_set_new(st->out, "requests", json_integer((json_int_t)(2 * n)));
	json_object_set_new(st->out, "per_channel", pc);
	json_object_set_new(st->out, "max_in_flight", json_integer(b.max_inflight));
	json_object_set_new(st->out, "out_of_order", json_integer((json_int_t)sc->out_of_order));
	json_object_set_new(st->out, "elapsed_ms", json_integer((json_int_t)((now_ns() - t0) / 1000000)));
	json_object_set_new(st->out, "bytes", json_integer((json_int_t)(2 * n * per * b.bs)));
	free(b.jobs);
	return ret;
}

static int step_raw_cdb(struct sc *sc, struct step *st)
{
	uint8_t cdb[VSTOR_CDB_MAX], lun, dir = VSTOR_DATA_IN, *buf = NULL;
	const char *hex = st->args[1];
	size_t hl = strlen(hex);
	uint64_t len = 0;
	struct sc_result r;
	int ret;

	if (parse_lun(st, st->args[0], &lun))
		return 0;
	if (hl == 0 || hl % 2 || hl / 2 > VSTOR_CDB_MAX) {
		step_fail(st, "CDB must be 1..16 bytes of hex");
		return 0;
	}
	for (size_t i = 0; i < hl / 2; i++) {
		char byte[3] = { hex[2 * i], hex[2 * i + 1], 0 };
		char *end;

		cdb[i] = (uint8_t)strtoul(byte, &end, 16);
		if (*end) {
			step_fail(st, "CDB must be hex");
			return 0;
		}
	}
	if (st->nargs > 2 && (parse_u64(st->args[2], &len) || len > (8u << 20))) {
		step_fail(st, "bad data length");
		return 0;
	}
	if (st->nargs > 3 && !strcmp(st->args[3], "out"))
		dir = VSTOR_DATA_OUT;
	if (len && !(buf = calloc(1, len)))
		return -ENOMEM;
	ret = sc_cmd(sc, st, lun, cdb, (uint8_t)(hl / 2), dir, (uint32_t)len, buf,
		     dir == VSTOR_DATA_IN ? buf : NULL, &r);
	if (!ret && dir == VSTOR_DATA_IN && len) {
		char *h = guest_hex(buf, MIN(r.bytes, 512u));

		json_object_set_new(st->out, "data", json_string(h ? h : ""));
		free(h);
	}
	free(buf);
	return ret;
}

static int step_reset(struct sc *sc, struct step *st)
{
	struct vstor_packet vp;
	int ret;

	/* storvsc_host_reset_handler. */
	memset(&vp, 0, sizeof(vp));
	vp.operation = VSTOR_OP_RESET_BUS;
	ret = sc_ctl_exec(sc, STORVSC_RQST_RESET, &vp);
	if (ret) {
		step_fail(st, "no answer: %s", strerror(-ret));
		return ret;
	}
	json_object_set_new(st->out, "operation", json_integer(vp.operation));
	json_object_set_new(st->out, "status", json_integer(vp.status));
	if (!sc_vop_ok(&vp))
		step_fail(st, "RESET_BUS answered operation %u status 0x%x", vp.operation, vp.status);
	return 0;
}

static bool sc_enumerated(struct guest *g, void *arg)
{
	struct sc *sc = arg;

	return sc->enumerates > sc->enum_consumed;
}

static int step_wait_enumerate(struct sc *sc, struct step *st)
{
	int ret = guest_wait(sc->g, sc_enumerated, sc, sc->g->opts.timeout_ms);

	if (ret == -ETIMEDOUT) {
		step_fail(st, "no ENUMERATE_BUS within %d ms", sc->g->opts.timeout_ms);
		return 0;
	}
	if (ret) {
		step_fail(st, "%s", strerror(-ret));
		return ret;
	}
	sc->enum_consumed++;
	json_object_set_new(st->out, "enumerates", json_integer((json_int_t)sc->enumerates));
	return 0;
}

static bool never_done(struct guest *g, void *arg)
{
	return false;
}

static int step_sleep(struct sc *sc, struct step *st)
{
	uint64_t ms;
	int ret;

	if (parse_u64(st->args[0], &ms) || ms > 600000) {
		step_fail(st, "bad milliseconds");
		return 0;
	}
	ret = guest_wait(sc->g, never_done, NULL, (int)ms);
	if (ret == -EINTR) {
		/* SIGINT/SIGTERM end a sleep early: tests hold the guest
		 * with a long sleep and release it when done looking. */
		guest_interrupted = 0;
		json_object_set_new(st->out, "interrupted", json_true());
		return 0;
	}
	return ret == -ETIMEDOUT ? 0 : ret;
}

static int step_expect_sense(struct sc *sc, struct step *st)
{
	unsigned int want[3] = { 0 };
	int nwant = 0;
	char *s = st->args[0], *end;

	while (nwant < 3) {
		unsigned long v = strtoul(s, &end, 16);

		if (end == s || v > 0xFF)
			break;
		want[nwant++] = (unsigned int)v;
		if (*end != '/')
			break;
		s = end + 1;
	}
	if (nwant == 0 || *end) {
		step_fail(st, "want KEY[/ASC[/ASCQ]] in hex, e.g. 5/21/00");
		return 0;
	}
	json_object_set_new(st->out, "want", json_string(st->args[0]));
	if (!sc->have_last) {
		step_fail(st, "no previous command");
		return 0;
	}
	if (sc->last.key >= 0)
		json_object_set_new(st->out, "got", json_sprintf("%x/%02x/%02x", sc->last.key,
								 sc->last.asc & 0xFF, sc->last.ascq & 0xFF));
	if (sc->last.scsi_status != 2 || sc->last.key < 0)
		step_fail(st, "previous command: scsi_status 0x%02x srb_status 0x%02x, no sense",
			  sc->last.scsi_status, sc->last.srb_status);
	else if ((int)want[0] != sc->last.key || (nwant > 1 && (int)want[1] != sc->last.asc) ||
		 (nwant > 2 && (int)want[2] != sc->last.ascq))
		step_fail(st, "sense mismatch");
	return 0;
}

static int step_expect_srb(struct sc *sc, struct step *st)
{
	char *end;
	unsigned long want = strtoul(st->args[0], &end, 16);

	if (*end || end == st->args[0] || want > 0x3F) {
		step_fail(st, "want a hex SRB status code, e.g. 20");
		return 0;
	}
	if (!sc->have_last) {
		step_fail(st, "no previous command");
		return 0;
	}
	json_object_set_new(st->out, "srb_status", json_integer(sc->last.srb_status));
	if (SRB_STATUS_CODE(sc->last.srb_status) != want)
		step_fail(st, "srb_status code 0x%02x, expected 0x%02lx",
			  SRB_STATUS_CODE(sc->last.srb_status), want);
	return 0;
}

/*
 * hostile KIND LUN: one malformed request.  The host must answer with an
 * error completion (srb_status not SUCCESS or a non-zero status) or ignore
 * it; the daemon must stay alive (the next step shows it).
 */
static int step_hostile(struct sc *sc, struct step *st)
{
	const char *kind = st->args[0];
	struct guest *g = sc->g;
	uint64_t ram_end_pfn = (g->att.ram_gpa + g->att.ram_size) >> HV_PAGE_SHIFT;
	uint8_t cdb[16] = { 0 }, lun, cdb_len = 10;
	struct sc_wire w = { .type = VM_PKT_DATA_USING_GPA_DIRECT, .rangecount = 1,
			     .payload_len = sizeof(struct vstor_packet) };
	uint64_t pfns[2] = { 0 };
	uint32_t xfer = 4096, buf_len = 0;
	uint8_t data_in = VSTOR_DATA_IN;
	struct sc_req *req;
	struct sc_result r;
	int ret, cdb_len_field = -1;
	uint32_t bs;

	if (parse_lun(st, st->args[1], &lun))
		return 0;
	bs = sc->geo[lun].block_size ? sc->geo[lun].block_size : 512;
	w.pfns = pfns;
	if (!strcmp(kind, "pfn-edge")) {
		/* 4 KiB at offset 512: the last RAM page and the first past it. */
		pfns[0] = ram_end_pfn - 1;
		pfns[1] = ram_end_pfn;
		w.n_pfns = 2;
		w.range_len = 4096;
		w.range_off = 512;
	} else if (!strcmp(kind, "pfn-huge")) {
		pfns[0] = 0x00FFFFFFFFFFFFFFull; /* pfn << 12 overflows 64 bits */
		w.n_pfns = 1;
		w.range_len = 4096;
	} else if (!strcmp(kind, "overlength")) {
		buf_len = 4096;               /* one page described, 8 KiB claimed */
		xfer = 8192;
	} else if (!strcmp(kind, "over-max")) {
		/* A buffer twice max_transfer_bytes, all of it described. */
		xfer = buf_len = MAX(sc->props.max_transfer_bytes, 4096u) * 2;
	} else if (!strcmp(kind, "range-short")) {
		buf_len = 4096;
		w.range_len = 8192;           /* needs two PFNs; one listed */
	} else if (!strcmp(kind, "rangecount-0")) {
		w.rangecount = 0;
	} else if (!strcmp(kind, "rangecount-2")) {
		buf_len = 4096;
		w.rangecount = 2;             /* claims a second range that is the vstor packet */
	} else if (!strcmp(kind, "no-dir")) {
		buf_len = 4096;
		data_in = VSTOR_DATA_UNKNOWN;
	} else if (!strcmp(kind, "bad-dir")) {
		buf_len = 4096;
		data_in = 7;
	} else if (!strcmp(kind, "inband-data")) {
		w.type = VM_PKT_DATA_INBAND;
	} else if (!strcmp(kind, "cdb-len-0") || !strcmp(kind, "cdb-len-17")) {
		w.type = VM_PKT_DATA_INBAND;
		xfer = 0;
		data_in = VSTOR_DATA_UNKNOWN;
		cdb_len_field = kind[8] == '0' ? 0 : 17;
	} else if (!strncmp(kind, "short-", 6)) {
		uint64_t n;

		if (parse_u64(kind + 6, &n) || n >= sizeof(struct vstor_packet)) {
			step_fail(st, "short-N wants N in 0..63");
			return 0;
		}
		w.type = VM_PKT_DATA_INBAND;
		w.payload_len = (uint32_t)n;
		xfer = 0;
		data_in = VSTOR_DATA_UNKNOWN;
	} else if (!strcmp(kind, "bad-op")) {
		w.type = VM_PKT_DATA_INBAND;
		xfer = 0;
		data_in = VSTOR_DATA_UNKNOWN;
	} else {
		step_fail(st, "unknown hostile kind \"%s\"", kind);
		return 0;
	}
	json_object_set_new(st->out, "kind", json_string(kind));
	req = sc_req_get(sc, sc_next_chan(sc), buf_len, 0);
	if (!req)
		return -ENOMEM;
	if (buf_len) {
		pfns[0] = req->buf_gpa >> HV_PAGE_SHIFT;
		w.n_pfns = 1;
		if (!w.range_len)
			w.range_len = buf_len;
		if (buf_len > 4096) {
			/* over-max: the whole buffer, one PFN per page. */
			uint64_t *many = malloc(8u * req->buf_pages);

			if (!many) {
				sc_req_put(sc, req);
				return -ENOMEM;
			}
			for (uint32_t i = 0; i < req->buf_pages; i++)
				many[i] = pfns[0] + i;
			w.pfns = many;
			w.n_pfns = req->buf_pages;
		}
	}
	if (data_in == VSTOR_DATA_UNKNOWN || xfer == 0 || data_in > 2)
		cdb[0] = xfer ? 0x28 : 0x00;  /* READ(10) or TEST UNIT READY */
	else
		cdb[0] = 0x28;
	if (cdb[0] == 0x28)
		put_be16(cdb + 7, (uint16_t)(xfer / bs));
	else
		cdb_len = 6;
	sc_srb_fill(&req->pkt, lun, cdb, cdb_len, data_in, xfer);
	if (cdb_len_field >= 0)
		req->pkt.vm_srb.cdb_length = (uint8_t)cdb_len_field;
	if (!strcmp(kind, "bad-op"))
		req->pkt.operation = 99;
	ret = sc_req_submit_wire(sc, req, &w);
	if (w.pfns != pfns)
		free((void *)w.pfns);
	if (ret) {
		sc_req_put(sc, req);
		step_fail(st, "send failed: %s", strerror(-ret));
		return ret;
	}
	ret = sc_wait_req(sc, req, MIN(SC_HOSTILE_WAIT_MS, g->opts.timeout_ms));
	if (ret == -ETIMEDOUT) {
		json_object_set_new(st->out, "answered", json_false());
		sc_req_abandon(sc, req);
		return 0;
	}
	if (ret) {
		sc_req_abandon(sc, req);
		step_fail(st, "%s", strerror(-ret));
		return ret;
	}
	json_object_set_new(st->out, "answered", json_true());
	sc_decode(sc, req, &r);
	sc_req_put(sc, req);
	sc_result_json(st->out, &r);
	sc->last = r;
	sc->have_last = true;
	if (sc_result_good(&r) && r.status == 0)
		step_fail(st, "malformed request answered with success");
	return 0;
}

struct sc_released {
	struct sc *sc;
	uint32_t relid[SC_MAX_CHANNELS];
	unsigned int n;
};

static bool sc_subchannels_released(struct guest *g, void *arg)
{
	struct sc_released *r = arg;

	for (unsigned int i = 0; i < r->n; i++)
		if (g->chan[r->relid[i]])
			return false;
	return true;
}

/*
 * rebind: storvsc_remove (subchannels closed, then the primary) and
 * storvsc_probe again.  The host must rescind the subchannels when the
 * primary closes and serve a fresh initialisation on the same primary.
 */
static int step_rebind(struct sc *sc, struct step *st)
{
	struct sc_released rel = { .sc = sc };
	int ret;

	for (unsigned int ci = 1; ci < sc->n_chan; ci++)
		rel.relid[rel.n++] = sc->relid[ci];
	sc_close_all(sc);
	ret = guest_wait(sc->g, sc_subchannels_released, &rel, sc->g->opts.timeout_ms);
	if (ret == -ETIMEDOUT) {
		step_fail(st, "subchannels not rescinded after the primary closed");
		return 0;
	}
	if (ret)
		return ret;
	json_object_set_new(st->out, "rescinded", json_integer(rel.n));
	sc->version = 0;
	memset(&sc->props, 0, sizeof(sc->props));
	memset(sc->geo, 0, sizeof(sc->geo));
	ret = sc_init(sc, sc->params, st->out);
	if (ret == GUEST_STORVSC_VERIFY_FAILED) {
		step_fail(st, "initialisation failed");
		return 0;
	}
	return ret;
}

static const struct step_def step_defs[] = {
	{ "inquiry", 1, "vendor,product,revision,byte0", step_inquiry },
	{ "inquiry-vpd", 2, "serial", step_inquiry_vpd },
	{ "report-luns", 0, "luns", step_report_luns },
	{ "capacity", 1, "bytes,blocks,block_size", step_capacity },
	{ "mode-sense", 1, "wp", step_mode_sense },
	{ "tur", 1, "", step_tur },
	{ "sync", 1, "", step_sync },
	{ "unmap", 3, "", step_unmap },
	{ "write", 4, "", step_write },
	{ "read-verify", 4, "", step_read_verify },
	{ "parallel", 2, "lba", step_parallel },
	{ "raw-cdb", 2, "", step_raw_cdb },
	{ "reset", 0, "", step_reset },
	{ "rebind", 0, "", step_rebind },
	{ "wait-enumerate", 0, "", step_wait_enumerate },
	{ "sleep", 1, "", step_sleep },
	{ "hostile", 2, "", step_hostile },
	{ "expect-sense", 1, "", step_expect_sense },
	{ "expect-srb", 1, "", step_expect_srb },
};

const char guest_storvsc_usage[] =
	"storvsc script (numbers decimal or 0x hex; CDB and sense in hex):\n"
	"  inquiry LUN [vendor=S product=S revision=S byte0=N]   LUN: N or PATH:TARGET:N\n"
	"  inquiry-vpd LUN PAGE [serial=S]      e.g. inquiry-vpd 0 0x80\n"
	"  report-luns [luns=0,1]               exact, sorted; \"luns=\" for none\n"
	"  capacity LUN [bytes=N blocks=N block_size=N]   READ CAPACITY(16)\n"
	"  mode-sense LUN [wp=0|1]              MODE SENSE(6), page 3F\n"
	"  tur LUN | sync LUN | unmap LUN LBA COUNT\n"
	"  write LUN LBA COUNT PATTERN          PATTERN: a byte (0xab) or \"lba\"\n"
	"  read-verify LUN LBA COUNT PATTERN    (\"lba\": each 16 bytes \"LBA=%011u\\n\")\n"
	"  parallel LUN N [lba=START]           N 4 KiB writes, then N reads, verified\n"
	"  raw-cdb LUN HEX [LEN [in|out]]\n"
	"  reset                                RESET_BUS (trans_id ...FFFC)\n"
	"  rebind                               close all channels, probe and init again\n"
	"  wait-enumerate                       an unsolicited ENUMERATE_BUS/REMOVE_DEVICE\n"
	"  sleep MS                             (SIGTERM/SIGINT end it early)\n"
	"  hostile KIND LUN                     pfn-edge pfn-huge overlength over-max\n"
	"                                       range-short rangecount-0 rangecount-2 no-dir\n"
	"                                       bad-dir inband-data cdb-len-0 cdb-len-17\n"
	"                                       short-N bad-op\n"
	"  expect-sense KEY[/ASC[/ASCQ]]        checks the previous command (e.g. 5/21/00)\n"
	"  expect-srb CODE                      its srb_status code (e.g. 20)\n"
	"A failed command fails its step unless an expect-* step follows.\n";

static const struct step_def *step_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(step_defs); i++)
		if (!strcmp(step_defs[i].name, name))
			return &step_defs[i];
	return NULL;
}

static bool key_allowed(const struct step_def *d, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t n = (size_t)(eq - kv);

	for (const char *k = d->keys; *k;) {
		size_t kl = strcspn(k, ",");

		if (kl == n && !strncmp(k, kv, n))
			return true;
		k += kl + (k[kl] == ',');
	}
	return false;
}

static bool is_number(const char *s)
{
	uint64_t v;

	return parse_u64(s, &v) == 0;
}

/* Splits argv into steps; NULL (logged) on a syntax error. */
static struct step *parse_script(int argc, char **argv, int *nsteps)
{
	struct step *steps = calloc((size_t)argc + 1, sizeof(*steps));
	int n = 0;

	if (!steps)
		return NULL;
	for (int i = 0; i < argc;) {
		const struct step_def *d = step_find(argv[i]);
		struct step *st = &steps[n];

		if (!d) {
			log_error("storvsc: unknown step \"%s\"", argv[i]);
			goto fail;
		}
		st->def = d;
		i++;
		if (i + d->nargs > argc) {
			log_error("storvsc: %s takes %d arguments", d->name, d->nargs);
			goto fail;
		}
		for (int k = 0; k < d->nargs; k++)
			st->args[st->nargs++] = argv[i++];
		if (d->fn == step_raw_cdb && i < argc && is_number(argv[i])) {
			st->args[st->nargs++] = argv[i++];
			if (i < argc && (!strcmp(argv[i], "in") || !strcmp(argv[i], "out")))
				st->args[st->nargs++] = argv[i++];
		}
		while (i < argc && strchr(argv[i], '=')) {
			if (!key_allowed(d, argv[i]) || st->nkv == SC_MAX_STEP_KV) {
				log_error("storvsc: %s does not take \"%s\"", d->name, argv[i]);
				goto fail;
			}
			st->kv[st->nkv++] = argv[i++];
		}
		n++;
	}
	for (int k = 0; k + 1 < n; k++) {
		step_fn next = steps[k + 1].def->fn;

		steps[k].expect_next = next == step_expect_sense || next == step_expect_srb;
		steps[k].no_ua_retry = next == step_expect_sense && steps[k + 1].args[0][0] == '6';
	}
	*nsteps = n;
	return steps;
fail:
	free(steps);
	return NULL;
}

int guest_storvsc_check_script(int argc, char **argv)
{
	int n;
	struct step *steps = parse_script(argc, argv, &n);

	free(steps);
	return steps ? 0 : -EINVAL;
}

static void sc_emit_step(struct sc *sc, const char *name, json_t *out, bool ok)
{
	json_t *ev = json_pack("{s:s, s:s, s:b}", "event", "storvsc", "step", name, "ok", ok);

	json_object_update(ev, out);
	json_decref(out);
	guest_emit(sc->g, ev);
}

int guest_storvsc_run(struct guest *g, const struct guest_storvsc_params *p, int argc, char **argv)
{
	struct sc *sc;
	struct step *steps;
	json_t *out;
	int nsteps, ret, result = 0;

	steps = parse_script(argc, argv, &nsteps);
	if (!steps)
		return -EINVAL;
	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		free(steps);
		return -ENOMEM;
	}
	sc->g = g;
	sc->params = p;
	sc->qd = p->queue_depth ? MIN(p->queue_depth, SC_MAX_QD) : SC_DEFAULT_QD;
	sc->slots = calloc(sc->qd, sizeof(*sc->slots));
	if (!sc->slots) {
		free(sc);
		free(steps);
		return -ENOMEM;
	}

	out = json_object();
	ret = sc_init(sc, p, out);
	json_object_set_new(out, "queue_depth", json_integer(sc->qd));
	if (!ret && sc->host_errors)
		json_object_set_new(out, "error", json_string("host protocol error"));
	sc_emit_step(sc, "init", out, !ret && !sc->host_errors);
	if (ret || sc->host_errors)
		result = ret < 0 ? ret : GUEST_STORVSC_VERIFY_FAILED;

	for (int i = 0; i < nsteps && result == 0; i++) {
		struct step *st = &steps[i];
		uint64_t errors = sc->host_errors;

		st->out = json_object();
		if (st->nargs) {
			json_t *args = json_array();

			for (int k = 0; k < st->nargs; k++)
				json_array_append_new(args, json_string(st->args[k]));
			json_object_set_new(st->out, "args", args);
		}
		st->sc = sc;
		sc->cur_path = sc->cur_target = 0;
		ret = st->def->fn(sc, st);
		if (!ret && sc->host_errors != errors)
			step_fail(st, "host protocol error (see the error events)");
		if (g->att.dead && !ret)
			ret = -ECONNRESET;
		if (ret && !st->failed)
			step_fail(st, "%s", strerror(-ret));
		sc_emit_step(sc, st->def->name, st->out, !st->failed);
		st->out = NULL;
		if (ret)
			result = ret;
		else if (st->failed)
			result = GUEST_STORVSC_VERIFY_FAILED;
	}

	if (!g->att.dead)
		sc_close_all(sc);
	guest_emit(g, json_pack("{s:s, s:b, s:i, s:I, s:I, s:I, s:I}", "event", "storvsc_done", "ok",
				result == 0, "steps", (json_int_t)nsteps, "host_errors",
				(json_int_t)sc->host_errors, "enumerates", (json_int_t)sc->enumerates,
				"late_completions", (json_int_t)sc->late, "out_of_order",
				(json_int_t)sc->out_of_order));
	/* Abandoned requests keep their pages: the host might still use them. */
	free(sc->slots);
	free(sc);
	free(steps);
	return result;
}
