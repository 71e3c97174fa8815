/* SPDX-License-Identifier: MIT */
/*
 * The synthetic hv_netvsc: see guest_netvsc.h.  Sequential like the rest
 * of the synthetic guest: each request waits (bounded) for its answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "guest/guest_netvsc.h"
#include "vmbusd/proto/nvsp.h"
#include "vmbusd/proto/rndis.h"

#define NV_MAX_NICS      4u
#define NV_RING_BYTES    (128u * 1024u)   /* per direction */
#define NV_RECV_PAGES    256u             /* 1 MiB receive buffer */
#define NV_SEND_PAGES    64u              /* 256 KiB send buffer */
#define NV_NO_RESPONSE   0xFFFFFFFFFFFFFFFDull /* VMBUS_RQST_ID_NO_RESPONSE */
#define NV_ETHERTYPE     0x88B5u          /* local experimental */

#define NV_MAX_SUB       8u

struct nv_nic {
	struct guest *g;
	struct guest_channel *ch;           /* primary */
	struct guest_channel *sub[NV_MAX_SUB]; /* subchannels, opened */
	unsigned int n_subch;
	struct guest_channel *tx;           /* where the next RNDIS message goes */
	unsigned int idx;
	uint32_t version;
	uint8_t mac[6];
	uint64_t recv_gpa, send_gpa, scratch_gpa;
	uint32_t recv_gpadl, send_gpadl;
	uint32_t sub_alloc, n_sub, section, n_sections;
	uint64_t next_tid;
	/* the one NVSP completion awaited */
	uint64_t want_tid;
	bool got;
	struct nvsp_msg comp;
	/* the one RNDIS reply awaited */
	uint32_t want_req;
	bool rgot;
	uint8_t reply[512];
	uint32_t reply_len;
	/* frames received */
	uint32_t rx_frames, rx_bad, next_seq;
	uint32_t indications;
	uint32_t host_errors;
};

struct nv {
	struct guest *g;
	const struct guest_netvsc_params *p;
	struct nv_nic nic[NV_MAX_NICS];
	unsigned int n;
};

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void nv_host_error(struct nv_nic *n, const char *why)
{
	n->host_errors++;
	guest_error(n->g, "netvsc", "nic %u: %s", n->idx, why);
}

/* ---- receive ------------------------------------------------------------------ */

static void nv_frame(struct nv_nic *n, const uint8_t *f, uint32_t len)
{
	uint32_t seq;

	if (len < 18 || f[12] != (NV_ETHERTYPE >> 8) || f[13] != (NV_ETHERTYPE & 0xFF))
		return;  /* not ours (IPv6 noise from a TAP, ...) */
	seq = get32(f + 14);
	if (memcmp(f, n->mac, 6) || seq != n->next_seq) {
		n->rx_bad++;
		return;
	}
	for (uint32_t i = 18; i < len; i++)
		if (f[i] != (uint8_t)(seq + i)) {
			n->rx_bad++;
			return;
		}
	n->next_seq++;
	n->rx_frames++;
}

static void nv_rndis_in(struct nv_nic *n, const uint8_t *m, uint32_t len)
{
	uint32_t type, mlen;

	if (len < 8) {
		nv_host_error(n, "RNDIS message shorter than its header");
		return;
	}
	type = get32(m);
	mlen = get32(m + 4);
	if (mlen > len || mlen < 8) {
		nv_host_error(n, "RNDIS msg_len past the range");
		return;
	}
	if (type == RNDIS_MSG_PACKET) {
		uint32_t off = get32(m + 8), dlen = get32(m + 12);

		if (mlen < 44 || (uint64_t)8 + off + dlen > mlen) {
			nv_host_error(n, "RNDIS_PACKET data out of bounds");
			return;
		}
		/* rndis_filter_receive_data: per-packet info inside the message. */
		if (get32(m + 32) && (uint64_t)8 + get32(m + 28) + get32(m + 32) > mlen) {
			nv_host_error(n, "RNDIS_PACKET per-packet info out of bounds");
			return;
		}
		nv_frame(n, m + 8 + off, dlen);
	} else if (type == RNDIS_MSG_INDICATE) {
		/* netvsc_linkstatus_callback: status, buflen, offset after the header. */
		if (mlen < 20) {
			nv_host_error(n, "RNDIS_INDICATE_STATUS shorter than its header (Linux: "
				      "\"invalid rndis_indicate_status packet\")");
			return;
		}
		n->indications++;
	} else if (type & RNDIS_MSG_COMPLETION) {
		/* Every completion but RESET_C has the request id at 8. */
		if (mlen >= 12 && get32(m + 8) == n->want_req && mlen <= sizeof(n->reply)) {
			memcpy(n->reply, m, mlen);
			n->reply_len = mlen;
			n->rgot = true;
		}
	} else {
		nv_host_error(n, "unexpected RNDIS message type from the host");
	}
}

static void nv_xfer(struct nv_nic *n, struct guest_channel *ch, const struct guest_ring_pkt *pkt)
{
	const uint8_t *raw = ch->rxbuf;
	uint32_t cnt, done[2] = { NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, NVSP_STAT_SUCCESS };

	if (pkt->offset < 24 || (raw[16] | raw[17] << 8) != NETVSC_RECEIVE_BUFFER_ID) {
		nv_host_error(n, "transfer-page packet without pageset 0xCAFE");
		return;
	}
	cnt = get32(raw + 20);
	if ((uint64_t)24 + 8ull * cnt > pkt->offset || pkt->payload_len < 4 ||
	    get32(pkt->payload) != NVSP_MSG1_SEND_RNDIS_PKT) {
		nv_host_error(n, "transfer-page packet: bad range count or NVSP type");
		return;
	}
	/* Linux only echoes trans_id; DPDK's netvsc PMD uses it as an index into
	 * its per-sub-allocation table and drops, uncompleted, a packet whose id
	 * is past the count (facts §9.6): hold the host to the stricter guest. */
	if (pkt->trans_id >= n->n_sub) {
		nv_host_error(n, "transfer-page trans_id is not a sub-allocation index");
		return;
	}
	for (uint32_t i = 0; i < cnt; i++) {
		uint32_t len = get32(raw + 24 + 8 * i), off = get32(raw + 28 + 8 * i);
		uint8_t *m;

		if ((uint64_t)off + len > NV_RECV_PAGES * 4096ull || len > n->sub_alloc) {
			nv_host_error(n, "receive range outside the buffer or over a sub-allocation");
			continue;
		}
		m = malloc(len ? len : 1);
		if (!m)
			continue;
		/* Copied once, like netvsc's rndis_filter_receive. */
		memcpy(m, guest_mem_ptr(&n->g->mem, n->recv_gpa + off, len), len);
		nv_rndis_in(n, m, len);
		free(m);
	}
	/* The range is the host's again: complete (flags 0), echo trans_id. */
	guest_channel_send(n->g, ch, VM_PKT_COMP, 0, pkt->trans_id, done, sizeof(done));
}

static void nv_on_packet(struct nv_nic *n, struct guest_channel *ch,
			 const struct guest_ring_pkt *pkt)
{
	switch (pkt->type) {
	case VM_PKT_COMP:
		if (pkt->trans_id == n->want_tid && pkt->payload_len >= 4) {
			memset(&n->comp, 0, sizeof(n->comp));
			memcpy(&n->comp, pkt->payload, MIN(pkt->payload_len, (uint32_t)sizeof(n->comp)));
			n->got = true;
		} else {
			nv_host_error(n, "completion with a trans_id not awaited");
		}
		break;
	case VM_PKT_DATA_USING_XFER_PAGES:
		nv_xfer(n, ch, pkt);
		break;
	case VM_PKT_DATA_INBAND:
		break;  /* VF association, indirection table: nothing to do */
	default:
		nv_host_error(n, "unexpected VMBus packet type");
		break;
	}
}

static void nv_on_event(struct guest *g, struct guest_channel *ch)
{
	struct nv_nic *n = ch->drv;
	struct guest_ring_pkt pkt;
	int ret;

	do {
		guest_ring_mask(&ch->in);
		while ((ret = guest_channel_recv(g, ch, &pkt)) == 0 || ret == -EMSGSIZE)
			if (!ret)
				nv_on_packet(n, ch, &pkt);
		if (ret == -EIO)
			return;
	} while (guest_ring_unmask(&ch->in));
}

/* ---- send ------------------------------------------------------------------------ */

static bool nv_got_pred(struct guest *g, void *arg)
{
	return ((struct nv_nic *)arg)->got;
}

static bool nv_rgot_pred(struct guest *g, void *arg)
{
	return ((struct nv_nic *)arg)->rgot;
}

/* One NVSP message; waits for its completion when `wait`. */
static int nv_nvsp(struct nv_nic *n, const struct nvsp_msg *m, bool wait, struct nvsp_msg *out)
{
	uint64_t tid = wait ? ++n->next_tid : NV_NO_RESPONSE;
	int ret;

	n->got = false;
	n->want_tid = tid;
	ret = guest_channel_send(n->g, n->ch, VM_PKT_DATA_INBAND,
				 wait ? VMBUS_PKT_FLAG_COMPLETION_REQUESTED : 0, tid, m, sizeof(*m));
	if (ret || !wait)
		return ret;
	ret = guest_wait(n->g, nv_got_pred, n, n->g->opts.timeout_ms);
	if (ret) {
		guest_error(n->g, "netvsc", "nic %u: no completion for NVSP %u", n->idx, m->type);
		return ret;
	}
	if (out)
		*out = n->comp;
	return 0;
}

/* An RNDIS message in GPA-direct pages: at the end of the first scratch
 * page so that it crosses into the second (facts §9.3-9.4). */
static int nv_rndis_gpa(struct nv_nic *n, const void *msg, uint32_t len, uint32_t chan)
{
	uint32_t off = len <= 4096 ? 4096 - len / 2 : 0, pages = (off + len + 4095) / 4096;
	struct nvsp_msg m = { .type = NVSP_MSG1_SEND_RNDIS_PKT };
	uint8_t buf[24 + 8 + 8 * 4 + 40 + 8];
	uint32_t hdr = 32 + 8 * pages, total = hdr + 40;
	struct vmpacket_descriptor d = {
		.type = VM_PKT_DATA_USING_GPA_DIRECT, .offset8 = (uint16_t)(hdr / 8),
		.len8 = (uint16_t)(total / 8), .flags = VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
		.trans_id = ++n->next_tid,
	};
	struct guest_channel *ch = n->tx ? n->tx : n->ch;
	uint64_t trailer = (uint64_t)ch->out.priv_index << 32;
	bool sig = false;
	int ret;

	if (pages > 4)
		return -EMSGSIZE;
	memcpy(guest_mem_ptr(&n->g->mem, n->scratch_gpa + off, len), msg, len);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &d, 16);
	put32(buf + 20, 1);
	put32(buf + 24, len);
	put32(buf + 28, off);
	for (uint32_t i = 0; i < pages; i++) {
		uint64_t pfn = (n->scratch_gpa >> 12) + i;

		memcpy(buf + 32 + 8 * i, &pfn, 8);
	}
	m.rndis_pkt.channel_type = chan;
	m.rndis_pkt.section_index = NVSP_SECTION_NONE;
	memcpy(buf + hdr, &m, sizeof(m));
	memcpy(buf + total, &trailer, 8);
	n->got = false;
	n->want_tid = d.trans_id;
	ret = guest_ring_send_raw(&ch->out, buf, total + 8, &sig);
	if (!ret && sig)
		guest_channel_signal(n->g, ch);
	return ret;
}

/* An RNDIS message copied into send section `idx`. */
static int nv_rndis_section(struct nv_nic *n, uint32_t idx, const void *msg, uint32_t len,
			    uint32_t chan)
{
	struct nvsp_msg m = { .type = NVSP_MSG1_SEND_RNDIS_PKT };
	uint64_t tid = ++n->next_tid;

	if (len > n->section || idx >= n->n_sections)
		return -EMSGSIZE;
	memcpy(guest_mem_ptr(&n->g->mem, n->send_gpa + (uint64_t)idx * n->section, len), msg, len);
	m.rndis_pkt.channel_type = chan;
	m.rndis_pkt.section_index = idx;
	m.rndis_pkt.section_size = len;
	n->got = false;
	n->want_tid = tid;
	return guest_channel_send(n->g, n->tx ? n->tx : n->ch, VM_PKT_DATA_INBAND,
				  VMBUS_PKT_FLAG_COMPLETION_REQUESTED, tid, &m, sizeof(m));
}

/* A control request (in GPA-direct pages, as Linux sends them) and its
 * RNDIS completion; the reply is in n->reply. */
static int nv_rndis_request(struct nv_nic *n, uint8_t *msg, uint32_t len)
{
	int ret;

	n->want_req = get32(msg + 8);
	n->rgot = false;
	ret = nv_rndis_gpa(n, msg, len, NVSP_CHANNEL_CONTROL);
	if (!ret)
		ret = guest_wait(n->g, nv_got_pred, n, n->g->opts.timeout_ms);
	if (!ret && n->comp.rndis_pkt_complete.status != NVSP_STAT_SUCCESS)
		ret = -EPROTO;
	if (!ret)
		ret = guest_wait(n->g, nv_rgot_pred, n, n->g->opts.timeout_ms);
	if (ret)
		guest_error(n->g, "netvsc", "nic %u: RNDIS request type %u: %s", n->idx, get32(msg),
			    strerror(-ret));
	return ret;
}

static int nv_query(struct nv_nic *n, uint32_t oid, const void *in, uint32_t in_len,
		    uint8_t *out, uint32_t *out_len)
{
	uint8_t msg[64];
	struct rndis_oid_req q = { { RNDIS_MSG_QUERY, (uint32_t)sizeof(q) + in_len }, 0, oid,
				   in_len, 20, 0 };
	uint32_t ilen, ioff;
	int ret;

	q.req_id = (uint32_t)n->next_tid + 100;
	memcpy(msg, &q, sizeof(q));
	if (in_len)
		memcpy(msg + sizeof(q), in, in_len);
	ret = nv_rndis_request(n, msg, q.hdr.len);
	if (ret)
		return ret;
	/* rndis_filter_query_device's checks. */
	ilen = get32(n->reply + 16);
	ioff = get32(n->reply + 20);
	if (ioff < 16 || (uint64_t)ioff + ilen > n->reply_len - 8 || ilen > *out_len)
		return -ENODATA;
	memcpy(out, n->reply + 8 + ioff, ilen);
	*out_len = ilen;
	return 0;
}

static int nv_set(struct nv_nic *n, uint32_t oid, const void *info, uint32_t len)
{
	uint8_t msg[128];
	struct rndis_oid_req s = { { RNDIS_MSG_SET, (uint32_t)sizeof(s) + len }, 0, oid, len, 20, 0 };
	int ret;

	s.req_id = (uint32_t)n->next_tid + 100;
	memcpy(msg, &s, sizeof(s));
	memcpy(msg + sizeof(s), info, len);
	ret = nv_rndis_request(n, msg, s.hdr.len);
	if (!ret && get32(n->reply + 12) != RNDIS_STATUS_SUCCESS)
		ret = -EPROTO;
	return ret;
}

/* ---- bring-up ------------------------------------------------------------------- */

struct nv_offer_wait {
	struct nv_nic *n;
	unsigned int want;
	struct guest_channel *found[NV_MAX_SUB + 1];
};

/* The subchannel offers of this NIC (same GUIDs, index 1..want). */
static bool nv_subchannels_offered(struct guest *g, void *arg)
{
	struct nv_offer_wait *w = arg;
	unsigned int k = 0;

	memset(w->found, 0, sizeof(w->found));
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct guest_channel *ch = g->chan[relid];
		uint16_t idx;

		if (!ch || ch->rescinded || ch == w->n->ch ||
		    strcmp(ch->class_str, w->n->ch->class_str) ||
		    strcmp(ch->instance_str, w->n->ch->instance_str))
			continue;
		idx = ch->offer.sub_channel_index;
		if (idx >= 1 && idx <= w->want && !w->found[idx]) {
			w->found[idx] = ch;
			k++;
		}
	}
	return k == w->want;
}

/* rndis_filter_device_add's multi-queue part: RSS capabilities, SUBCHANNEL
 * allocate, then open every subchannel offered (netvsc_sc_open). */
static int nv_subchannels(struct nv_nic *n, unsigned int want)
{
	struct nv_offer_wait w = { .n = n };
	struct nvsp_msg m, r;
	uint8_t caps[32];
	uint32_t len = sizeof(caps), queues;
	int ret;

	if (nv_query(n, RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES, NULL, 0, caps, &len) || len < 18)
		return 0;  /* no RSS: one queue, as Linux */
	queues = get32(caps + 12);
	want = MIN(want, MIN(queues ? queues - 1 : 0, NV_MAX_SUB));
	if (!want)
		return 0;
	memset(&m, 0, sizeof(m));
	m.type = NVSP_MSG5_SUBCHANNEL;
	m.subchannel.op = NVSP_SUBCHANNEL_ALLOCATE;
	m.subchannel.num = want;
	if ((ret = nv_nvsp(n, &m, true, &r)))
		return ret;
	if (r.type != NVSP_MSG5_SUBCHANNEL || r.subchannel_complete.status != NVSP_STAT_SUCCESS ||
	    r.subchannel_complete.num > want) {
		guest_error(n->g, "netvsc", "nic %u: SUBCHANNEL refused or granted more than asked",
			    n->idx);
		return -EPROTO;
	}
	w.want = r.subchannel_complete.num;
	if ((ret = guest_wait(n->g, nv_subchannels_offered, &w, n->g->opts.timeout_ms))) {
		guest_error(n->g, "netvsc", "nic %u: %u subchannels granted, not all offered", n->idx,
			    w.want);
		return ret;
	}
	for (unsigned int i = 1; i <= w.want; i++) {
		struct guest_channel *ch = w.found[i];

		ret = guest_channel_open(n->g, ch, NV_RING_BYTES, NETVSC_MAX_PKT_SIZE,
					 i % n->g->att.n_vcpus);
		if (ret)
			return ret;
		ch->drv = n;
		ch->drv_free = NULL;
		ch->on_event = nv_on_event;
		n->sub[n->n_subch++] = ch;
	}
	return 0;
}

/* netvsc_connect_vsp + netvsc_init_buf + rndis_filter_device_add. */
static int nv_bring_up(struct nv *v, struct nv_nic *n, json_t *ev)
{
	static const uint32_t versions[] = { NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_6,
					     NVSP_PROTOCOL_VERSION_5, NVSP_PROTOCOL_VERSION_4,
					     NVSP_PROTOCOL_VERSION_2, NVSP_PROTOCOL_VERSION_1 };
	struct guest *g = v->g;
	struct nvsp_msg m, r;
	struct rndis_init_req init = { { RNDIS_MSG_INIT, sizeof(init) }, 1, 1, 0, 0x4000 };
	uint8_t caps[256], hdr[4] = { NDIS_OBJECT_TYPE_OFFLOAD, 3, 156, 0 }, params[28] = { 0x80, 3, 28 };
	uint32_t len, filter = RNDIS_FILTER_DIRECTED | RNDIS_FILTER_BROADCAST | RNDIS_FILTER_ALL_MULTICAST;
	int ret;

	ret = guest_channel_open(g, n->ch, NV_RING_BYTES, NETVSC_MAX_PKT_SIZE, 0);
	if (ret)
		return ret;
	n->ch->drv = n;
	n->ch->drv_free = NULL;
	n->ch->on_event = nv_on_event;
	/* INIT: Linux's list, or the one version asked for. */
	for (size_t i = 0; i < ARRAY_SIZE(versions) && !n->version; i++) {
		if (v->p->nvsp_version && versions[i] != v->p->nvsp_version)
			continue;
		memset(&m, 0, sizeof(m));
		m.type = NVSP_MSG_INIT;
		m.init.min_ver = m.init.max_ver = versions[i];
		if ((ret = nv_nvsp(n, &m, true, &r)))
			return ret;
		if (r.type == NVSP_MSG_INIT_COMPLETE && r.init_complete.status == NVSP_STAT_SUCCESS)
			n->version = versions[i];
	}
	if (!n->version) {
		guest_error(g, "netvsc", "nic %u: no NVSP version accepted", n->idx);
		return -EPROTO;
	}
	if (n->version >= NVSP_PROTOCOL_VERSION_2) {
		memset(&m, 0, sizeof(m));
		m.type = NVSP_MSG2_SEND_NDIS_CONFIG;
		m.ndis_config.mtu = 1500 + 14;
		m.ndis_config.capability = NVSP_CAP_8021Q;
		if ((ret = nv_nvsp(n, &m, false, NULL)))
			return ret;
	}
	memset(&m, 0, sizeof(m));
	m.type = NVSP_MSG1_SEND_NDIS_VER;
	m.ndis_ver.major = 6;
	m.ndis_ver.minor = n->version > NVSP_PROTOCOL_VERSION_4 ? 30 : 1;
	if ((ret = nv_nvsp(n, &m, false, NULL)))
		return ret;
	/* Receive buffer. */
	n->recv_gpa = guest_mem_alloc(&g->mem, NV_RECV_PAGES);
	n->send_gpa = guest_mem_alloc(&g->mem, NV_SEND_PAGES);
	n->scratch_gpa = guest_mem_alloc(&g->mem, 4);
	if (!n->recv_gpa || !n->send_gpa || !n->scratch_gpa)
		return -ENOMEM;
	if ((ret = guest_channel_gpadl_create(g, n->ch, n->recv_gpa, NV_RECV_PAGES, &n->recv_gpadl)))
		return ret;
	memset(&m, 0, sizeof(m));
	m.type = NVSP_MSG1_SEND_RECV_BUF;
	m.send_buf.gpadl = n->recv_gpadl;
	m.send_buf.id = NETVSC_RECEIVE_BUFFER_ID;
	if ((ret = nv_nvsp(n, &m, true, &r)))
		return ret;
	/* netvsc_init_buf's checks. */
	if (r.type != NVSP_MSG1_SEND_RECV_BUF_COMPLETE ||
	    r.recv_buf_complete.status != NVSP_STAT_SUCCESS ||
	    r.recv_buf_complete.num_sections != 1 || r.recv_buf_complete.offset != 0 ||
	    r.recv_buf_complete.sub_alloc_size < 68 ||
	    (uint64_t)r.recv_buf_complete.sub_alloc_size * r.recv_buf_complete.num_sub_allocs >
	    NV_RECV_PAGES * 4096ull) {
		guest_error(g, "netvsc", "nic %u: receive buffer completion refused by Linux's checks",
			    n->idx);
		return -EPROTO;
	}
	n->sub_alloc = r.recv_buf_complete.sub_alloc_size;
	n->n_sub = r.recv_buf_complete.num_sub_allocs;
	if ((ret = guest_channel_gpadl_create(g, n->ch, n->send_gpa, NV_SEND_PAGES, &n->send_gpadl)))
		return ret;
	memset(&m, 0, sizeof(m));
	m.type = NVSP_MSG1_SEND_SEND_BUF;
	m.send_buf.gpadl = n->send_gpadl;
	if ((ret = nv_nvsp(n, &m, true, &r)))
		return ret;
	if (r.send_buf_complete.status != NVSP_STAT_SUCCESS || r.send_buf_complete.section_size < 68) {
		guest_error(g, "netvsc", "nic %u: send buffer refused", n->idx);
		return -EPROTO;
	}
	n->section = r.send_buf_complete.section_size;
	n->n_sections = NV_SEND_PAGES * 4096u / n->section;
	/* RNDIS probe. */
	if ((ret = nv_rndis_request(n, (uint8_t *)&init, sizeof(init))))
		return ret;
	if (get32(n->reply + 12) != RNDIS_STATUS_SUCCESS) {
		guest_error(g, "netvsc", "nic %u: RNDIS INIT failed", n->idx);
		return -EPROTO;
	}
	len = 6;
	if ((ret = nv_query(n, RNDIS_OID_802_3_PERMANENT_ADDRESS, NULL, 0, n->mac, &len)) || len != 6) {
		guest_error(g, "netvsc", "nic %u: no MAC address", n->idx);
		return ret ? ret : -EPROTO;
	}
	len = sizeof(caps);
	if ((ret = nv_query(n, RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, hdr, 4, caps, &len)) ||
	    len < NDIS_OFFLOAD_SIZE_6_0 || len > NDIS_OFFLOAD_SIZE_6_30 ||
	    caps[0] != NDIS_OBJECT_TYPE_OFFLOAD || caps[1] < 1) {
		guest_error(g, "netvsc", "nic %u: offload capabilities refused by Linux's checks", n->idx);
		return ret ? ret : -EPROTO;
	}
	if ((ret = nv_set(n, RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, sizeof(params))) ||
	    (ret = nv_set(n, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4)))
		return ret;
	if (v->p->subchannels && n->version >= NVSP_PROTOCOL_VERSION_5 &&
	    (ret = nv_subchannels(n, v->p->subchannels)))
		return ret;
	{
		char mac[18];

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
			 n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		json_array_append_new(ev, json_pack("{s:i,s:s,s:I,s:i,s:i,s:i}", "nic", (int)n->idx,
						    "mac", mac, "nvsp_version", (json_int_t)n->version,
						    "recv_sub_alloc", (int)n->sub_alloc,
						    "send_section", (int)n->section,
						    "channels", (int)(1 + n->n_subch)));
	}
	return 0;
}

/* ---- frames ------------------------------------------------------------------------- */

static int nv_send_frame(struct nv_nic *n, const uint8_t dst[6], uint32_t seq, uint32_t size,
			 bool gpa)
{
	uint8_t msg[44 + 1514];
	uint8_t *f = msg + 44;
	int ret;

	{
		struct rndis_packet p = { .hdr = { RNDIS_MSG_PACKET, 44 + size }, .data_offset = 36,
					  .data_len = size };

		memcpy(msg, &p, sizeof(p));
	}
	memcpy(f, dst, 6);
	memcpy(f + 6, n->mac, 6);
	f[12] = NV_ETHERTYPE >> 8;
	f[13] = NV_ETHERTYPE & 0xFF;
	put32(f + 14, seq);
	for (uint32_t i = 18; i < size; i++)
		f[i] = (uint8_t)(seq + i);
	ret = gpa ? nv_rndis_gpa(n, msg, 44 + size, NVSP_CHANNEL_DATA) :
		    nv_rndis_section(n, seq % n->n_sections, msg, 44 + size, NVSP_CHANNEL_DATA);
	if (!ret)
		ret = guest_wait(n->g, nv_got_pred, n, n->g->opts.timeout_ms);
	if (!ret && n->comp.rndis_pkt_complete.status != NVSP_STAT_SUCCESS)
		ret = -EPROTO;
	return ret;
}

struct nv_rx_wait {
	struct nv_nic *n;
	uint32_t want;
};

static bool nv_rx_pred(struct guest *g, void *arg)
{
	struct nv_rx_wait *w = arg;

	return w->n->rx_frames + w->n->rx_bad >= w->want;
}

static bool nv_never(struct guest *g, void *arg)
{
	return g->att.dead;
}

int guest_netvsc_run(struct guest *g, const struct guest_netvsc_params *p)
{
	struct nv v = { .g = g, .p = p };
	json_t *nics = json_array();
	uint32_t size = p->frame_size ? p->frame_size : 256;
	int ret = 0;
	bool ok = true;

	if (size < 64 || size > 1514)
		return -EINVAL;
	for (unsigned int i = 0; i < NV_MAX_NICS; i++) {
		struct guest_channel *ch = guest_channel_find(g, NETVSC_CLASS_GUID_STR, i);

		if (!ch)
			break;
		v.nic[v.n].g = g;
		v.nic[v.n].ch = ch;
		v.nic[v.n].idx = v.n;
		v.n++;
	}
	if (!v.n) {
		guest_error(g, "netvsc", "no synthetic NIC offered");
		json_decref(nics);
		return -ENODEV;
	}
	for (unsigned int i = 0; i < v.n && !ret; i++)
		ret = nv_bring_up(&v, &v.nic[i], nics);
	guest_emit(g, json_pack("{s:s,s:b,s:o}", "event", "netvsc_up", "ok", ret == 0, "nics", nics));
	/* Frames: NIC i to NIC (i + 1) % n. */
	for (unsigned int i = 0; i < v.n && !ret && v.n > 1; i++) {
		struct nv_nic *a = &v.nic[i], *b = &v.nic[(i + 1) % v.n];
		struct nv_rx_wait w = { b, b->rx_frames + b->rx_bad + p->frames };
		uint32_t base = b->next_seq;  /* frames arrive while we send */

		for (uint32_t s = 0; s < p->frames && !ret; s++) {
			/* Spread over every queue (in order per queue is all the
			 * wire promises; one frame in flight keeps them ordered). */
			unsigned int q = s % (1 + a->n_subch);

			a->tx = q ? a->sub[q - 1] : a->ch;
			ret = nv_send_frame(a, b->mac, base + s, size, s % 2);
		}
		a->tx = NULL;
		if (!ret && guest_wait(g, nv_rx_pred, &w, g->opts.timeout_ms))
			ok = false;
	}
	/* Up and receiving a while longer: what the host sends unasked
	 * (RNDIS_INDICATE_STATUS on a link change) is checked as it comes. */
	if (!ret && p->hold_ms)
		guest_wait(g, nv_never, NULL, (int)p->hold_ms);
	{
		json_t *res = json_array();

		for (unsigned int i = 0; i < v.n; i++) {
			struct nv_nic *n = &v.nic[i];

			if (n->rx_bad || n->host_errors || (v.n > 1 && n->rx_frames != p->frames))
				ok = false;
			json_array_append_new(res, json_pack("{s:i,s:i,s:i,s:i,s:i}", "nic", (int)i,
							     "rx_frames", (int)n->rx_frames,
							     "rx_bad", (int)n->rx_bad,
							     "indications", (int)n->indications,
							     "host_errors", (int)n->host_errors));
		}
		guest_emit(g, json_pack("{s:s,s:b,s:o}", "event", "netvsc_done", "ok", !ret && ok,
					"nics", res));
	}
	for (unsigned int i = 0; i < v.n; i++) {
		for (unsigned int k = 0; k < v.nic[i].n_subch; k++)
			if (v.nic[i].sub[k]->open)
				guest_channel_close(g, v.nic[i].sub[k]);
		if (v.nic[i].ch->open)
			guest_channel_close(g, v.nic[i].ch);
	}
	if (ret)
		return ret;
	return ok ? 0 : GUEST_NETVSC_VERIFY_FAILED;
}
