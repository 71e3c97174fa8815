/* SPDX-License-Identifier: MIT */
/*
 * guest_storvsc: Linux 6.1 hv_storvsc, synthetically (facts §6, §8).
 *
 * This file is the driver: the wire (packet building, sending with a
 * bounded wait for ring space), requests (tags, guest-RAM buffers, waits),
 * the channel callback (completion matching, unsolicited messages) and
 * initialisation (storvsc_channel_init + handle_multichannel_storage).
 * SCSI helpers and the batch engine are in guest_storvsc_scsi.c, the
 * script in guest_storvsc_script.c, its steps in guest_storvsc_steps.c and
 * guest_storvsc_hostile.c.
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
#include "guest/guest_storvsc_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

/* ---- small helpers ---------------------------------------------------------- */

void sc_host_error(struct sc *sc, const char *fmt, ...)
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

/* The channel at index ci if it is still offered and open. */
struct guest_channel *sc_chan(struct sc *sc, unsigned int ci)
{
	struct guest_channel *ch;

	if (ci >= sc->n_chan)
		return NULL;
	ch = sc->g->chan[sc->relid[ci]];
	return ch && ch == sc->chan[ci] && ch->open && !ch->rescinded ? ch : NULL;
}

unsigned int sc_next_chan(struct sc *sc)
{
	for (unsigned int n = 0; n < sc->n_chan; n++) {
		unsigned int ci = sc->rr++ % sc->n_chan;

		if (sc_chan(sc, ci))
			return ci;
	}
	return 0;
}

/* ---- the wire ----------------------------------------------------------------- */

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

void sc_req_put(struct sc *sc, struct sc_req *req)
{
	if (req->buf_gpa)
		guest_mem_free(&sc->g->mem, req->buf_gpa, req->buf_pages);
	if (req->counted)
		sc->inflight--;
	memset(req, 0, sizeof(*req));
}

/* A tag on channel ci with a zeroed buffer of buf_len bytes at buf_off in
 * its first page; NULL when every tag is taken or RAM is exhausted. */
struct sc_req *sc_req_get(struct sc *sc, unsigned int ci, uint32_t buf_len, uint32_t buf_off)
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
int sc_req_submit_wire(struct sc *sc, struct sc_req *req, const struct sc_wire *w)
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

int sc_req_submit(struct sc *sc, struct sc_req *req)
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
void sc_req_abandon(struct sc *sc, struct sc_req *req)
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

int sc_wait_req(struct sc *sc, struct sc_req *req, int ms)
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
	if (!req && (pkt->trans_id & SC_HOLD_TRANS_ID)) {
		sc->held_answers++;   /* a `hold` request, sent without a tag */
		return;
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
int sc_ctl_exec(struct sc *sc, uint64_t trans_id, struct vstor_packet *vp)
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

bool sc_vop_ok(const struct vstor_packet *vp)
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
int sc_init(struct sc *sc, const struct guest_storvsc_params *p, json_t *out)
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
void sc_close_all(struct sc *sc)
{
	for (unsigned int ci = sc->n_chan; ci-- > 0;) {
		struct guest_channel *ch = sc_chan(sc, ci);

		if (ch)
			guest_channel_close(sc->g, ch);
		sc->chan[ci] = NULL;
	}
	sc->n_chan = 0;
}
