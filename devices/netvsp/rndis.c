/* SPDX-License-Identifier: MIT */
/*
 * RNDIS inside NVSP 107 (facts §9.3-9.5), as a pure function of one message
 * in a private linear copy: no channel, no guest memory.
 *
 * Three tables, each checked before its handler runs:
 *  - message types: {handler, min_len, states, name};
 *  - QUERY OIDs: {handler, min NVSP version, name}: the handler writes the
 *    information buffer; an OID that is not there is answered
 *    NOT_SUPPORTED with info_buf_offset 0, which Linux treats as an error
 *    (that is how the optional OIDs are declined);
 *  - SET OIDs: {handler, min_len, name}.
 * Every request with a request id gets a completion with that id: Linux
 * waits for most of them without a timeout (facts §4.3).
 *
 * Offsets inside bodies count from message byte 8.  Every offset and
 * length is checked against the message length before use, in 64-bit
 * arithmetic so a guest cannot wrap a sum.
 */
#include <stddef.h>
#include <string.h>

#include "core/util.h"
#include "devices/netvsp/netvsp_internal.h"

#define RNDIS_BODY 8u  /* offsets in bodies count from here */

static void rndis_fail(struct rndis_decision *out, enum netvsp_fault f, const char *why)
{
	out->fault = f;
	out->why = why;
}

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

void rndis_init(struct rndis_state *r, const uint8_t mac[6], uint32_t mtu, uint16_t queues)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->mac, mac, 6);
	r->mtu = mtu;
	r->max_frame = mtu + 18u;
	r->queues = queues ? queues : 1;
	r->link_up = true;
	r->link_speed = 100000000ull; /* 10 Gbit/s in 100 bit/s units, as Hyper-V */
}

void rndis_reset(struct rndis_state *r)
{
	uint8_t mac[6];
	uint32_t mtu = r->mtu, max_frame = r->max_frame;
	uint16_t queues = r->queues;
	bool link = r->link_up, rsc = r->rsc_offer;

	memcpy(mac, r->mac, 6);
	rndis_init(r, mac, mtu, queues);
	r->max_frame = max_frame;
	r->link_up = link;
	r->rsc_offer = rsc;
}

uint32_t rndis_build_packet(uint8_t *buf, uint32_t frame_len)
{
	return rndis_build_packet_csum(buf, frame_len, 0);
}

uint32_t rndis_build_packet_csum(uint8_t *buf, uint32_t frame_len, uint32_t csum)
{
	return rndis_build_packet_ppi(buf, frame_len, csum, 0);
}

/* One 16-byte element (a u32 value) at buf[off]. */
static uint32_t rndis_put_ppi(uint8_t *buf, uint32_t off, uint32_t type, uint32_t v)
{
	struct rndis_ppi ppi = { sizeof(ppi) + 4, type, sizeof(ppi) };

	memcpy(buf + off, &ppi, sizeof(ppi));
	memcpy(buf + off + sizeof(ppi), &v, 4);
	return sizeof(ppi) + 4;
}

uint32_t rndis_build_packet_ppi(uint8_t *buf, uint32_t frame_len, uint32_t csum, uint8_t frag)
{
	struct rndis_packet pkt = {
		.hdr = { RNDIS_MSG_PACKET, (uint32_t)sizeof(pkt) + frame_len },
		.data_offset = RNDIS_PACKET_BODY,
		.data_len = frame_len,
	};
	uint32_t off = sizeof(pkt);

	/* The elements right after the packet header; the data after them. */
	if (csum)
		off += rndis_put_ppi(buf, off, RNDIS_PPI_CHECKSUM, csum);
	if (frag)  /* rndis_pktinfo_id: version 1, the flags, id 0 */
		off += rndis_put_ppi(buf, off, RNDIS_PPI_PKTINFO_ID, 1u | (uint32_t)frag << 8);
	if (off > sizeof(pkt)) {
		pkt.ppi_offset = RNDIS_PACKET_BODY;
		pkt.ppi_len = off - (uint32_t)sizeof(pkt);
		pkt.data_offset = RNDIS_PACKET_BODY + pkt.ppi_len;
		pkt.hdr.len += pkt.ppi_len;
	}
	memcpy(buf, &pkt, sizeof(pkt));
	return off;
}

uint32_t rndis_build_indicate(uint8_t *buf, uint32_t status)
{
	struct rndis_indicate_status ind = {
		.hdr = { RNDIS_MSG_INDICATE, sizeof(ind) },
		.status = status,
	};

	memcpy(buf, &ind, sizeof(ind));
	return sizeof(ind);
}

/* ---- QUERY ---------------------------------------------------------------- */

/* A query handler writes up to `cap` bytes at buf and returns how many, or
 * -1 to answer NOT_SUPPORTED. */
typedef int (*rndis_query_fn)(const struct rndis_state *r, uint8_t *buf, uint32_t cap);

static int rndis_q_u32(uint8_t *buf, uint32_t cap, uint32_t v)
{
	if (cap < 4)
		return -1;
	put32(buf, v);
	return 4;
}

static int rndis_q_frame_size(const struct rndis_state *r, uint8_t *buf, uint32_t cap)
{
	/* Linux lowers its MTU to this when it is smaller (facts §9.3). */
	return rndis_q_u32(buf, cap, r->mtu);
}

static int rndis_q_total_size(const struct rndis_state *r, uint8_t *buf, uint32_t cap)
{
	return rndis_q_u32(buf, cap, r->mtu + 14u);
}

static int rndis_q_link_speed(const struct rndis_state *r, uint8_t *buf, uint32_t cap)
{
	return rndis_q_u32(buf, cap, (uint32_t)MIN(r->link_speed, (uint64_t)UINT32_MAX));
}

static int rndis_q_media_status(const struct rndis_state *r, uint8_t *buf, uint32_t cap)
{
	return rndis_q_u32(buf, cap, r->link_up ? RNDIS_MEDIA_STATE_CONNECTED :
					  RNDIS_MEDIA_STATE_DISCONNECTED);
}

static int rndis_q_zero(const struct rndis_state *r, uint8_t *buf, uint32_t cap)
{
	return rndis_q_u32(buf, cap, 0); /* medium 802.3, hardware status ready */
}

static int rndis_q_filter(const struct rndis_state *r, uint8_t *buf, uint32_t cap)
{
	return rndis_q_u32(buf, cap, r->filter);
}

static int rndis_q_list_size(const struct rndis_state *r, uint8_t *buf, uint32_t cap)
{
	return rndis_q_u32(buf, cap, 32);
}

static int rndis_q_mac(const struct rndis_state *r, uint8_t *buf, uint32_t cap)
{
	/* Linux requires info_buflen <= 6 here. */
	if (cap < 6)
		return -1;
	memcpy(buf, r->mac, 6);
	return 6;
}

static int rndis_q_offload_caps(const struct rndis_state *r, uint8_t *buf, uint32_t cap)
{
	/* An NDIS 6.0 ndis_offload offering TCP and UDP transmit checksums
	 * and LSOv2 over IPv4 and IPv6.  The host completes the checksums
	 * (net_csum_complete) and segments LSO frames (net_tso_segment), so
	 * every backend gets complete, valid frames (README: what is
	 * advertised). */
	struct ndis_obj_header h = { NDIS_OBJECT_TYPE_OFFLOAD, 1, NDIS_OFFLOAD_SIZE_6_0 };
	/* NVSP 6.1 (Linux asks with a 156-byte buffer from NVSP 5 on): the
	 * NDIS 6.30 structure with RSC, which the host does for TSO frames
	 * from its backend (netvsp_rx_rsc). */
	bool rsc = r->rsc_offer && r->nvsp_version >= NVSP_PROTOCOL_VERSION_61;

	if (rsc) {
		h.revision = 3;
		h.size = NDIS_OFFLOAD_SIZE_6_30;
	}
	if (cap < h.size)
		return -1;
	memset(buf, 0, h.size);
	memcpy(buf, &h, sizeof(h));
	if (rsc) {
		buf[NDIS_OFFLOAD_RSC_IP4] = 1;
		buf[NDIS_OFFLOAD_RSC_IP6] = 1;
	}
	put32(buf + NDIS_OFFLOAD_IP4_TXENC, NDIS_OFFLOAD_ENCAP_8023);
	put32(buf + NDIS_OFFLOAD_IP4_TXCSUM, NDIS_TXCSUM_CAP_TCP4 | NDIS_TXCSUM_CAP_TCP4OPT |
					     NDIS_TXCSUM_CAP_UDP4);
	/* Receive: TCP/UDP checksums the host verified are marked in the
	 * checksum PPI (netvsp_backend_rx; Linux reads it whatever this says). */
	put32(buf + NDIS_OFFLOAD_IP4_RXCSUM, NDIS_TXCSUM_CAP_TCP4 | NDIS_TXCSUM_CAP_UDP4);
	put32(buf + NDIS_OFFLOAD_IP6_RXCSUM, NDIS_TXCSUM_CAP_TCP6 | NDIS_TXCSUM_CAP_UDP6);
	put32(buf + NDIS_OFFLOAD_IP6_TXENC, NDIS_OFFLOAD_ENCAP_8023);
	put32(buf + NDIS_OFFLOAD_IP6_TXCSUM, NDIS_TXCSUM_CAP_TCP6 | NDIS_TXCSUM_CAP_TCP6OPT |
					     NDIS_TXCSUM_CAP_IP6EXT | NDIS_TXCSUM_CAP_UDP6);
	put32(buf + NDIS_OFFLOAD_LSOV2_IP4_ENCAP, NDIS_OFFLOAD_ENCAP_8023);
	put32(buf + NDIS_OFFLOAD_LSOV2_IP4_MAXSZ, NETVSP_LSO_MAX_SIZE);
	put32(buf + NDIS_OFFLOAD_LSOV2_IP4_MINSG, NETVSP_LSO_MIN_SEGS);
	put32(buf + NDIS_OFFLOAD_LSOV2_IP6_ENCAP, NDIS_OFFLOAD_ENCAP_8023);
	put32(buf + NDIS_OFFLOAD_LSOV2_IP6_MAXSZ, NETVSP_LSO_MAX_SIZE);
	put32(buf + NDIS_OFFLOAD_LSOV2_IP6_MINSG, NETVSP_LSO_MIN_SEGS);
	put32(buf + NDIS_OFFLOAD_LSOV2_IP6_OPTS, NDIS_LSOV2_CAP_IP6EXT | NDIS_LSOV2_CAP_TCP6OPT);
	return h.size;
}

static int rndis_q_rss_caps(const struct rndis_state *r, uint8_t *buf, uint32_t cap)
{
	struct ndis_rss_caps c = {
		.hdr = { NDIS_OBJECT_TYPE_RSS_CAPABILITIES, 2, sizeof(c) },
		.num_int_msg = r->queues,
		.num_recv_que = r->queues,
		.num_indirect_tabent = NDIS_RSS_MAX_ITAB,
	};

	/* One queue: decline, and Linux stays on the primary channel. */
	if (r->queues < 2 || cap < sizeof(c))
		return -1;
	memcpy(buf, &c, sizeof(c));
	return sizeof(c);
}

static int rndis_q_supported(const struct rndis_state *r, uint8_t *buf, uint32_t cap);

struct rndis_query_entry {
	uint32_t oid;
	rndis_query_fn handler;
	uint32_t min_version;     /* lowest NVSP version that has it */
	const char *name;
};

static const struct rndis_query_entry rndis_query_table[] = {
	{ RNDIS_OID_GEN_SUPPORTED_LIST, rndis_q_supported, 0, "GEN_SUPPORTED_LIST" },
	{ RNDIS_OID_GEN_HARDWARE_STATUS, rndis_q_zero, 0, "GEN_HARDWARE_STATUS" },
	{ RNDIS_OID_GEN_MEDIA_SUPPORTED, rndis_q_zero, 0, "GEN_MEDIA_SUPPORTED" },
	{ RNDIS_OID_GEN_MEDIA_IN_USE, rndis_q_zero, 0, "GEN_MEDIA_IN_USE" },
	{ RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE, rndis_q_frame_size, 0, "GEN_MAXIMUM_FRAME_SIZE" },
	{ RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE, rndis_q_total_size, 0, "GEN_MAXIMUM_TOTAL_SIZE" },
	{ RNDIS_OID_GEN_LINK_SPEED, rndis_q_link_speed, 0, "GEN_LINK_SPEED" },
	{ RNDIS_OID_GEN_MEDIA_CONNECT_STATUS, rndis_q_media_status, 0, "GEN_MEDIA_CONNECT_STATUS" },
	{ RNDIS_OID_GEN_CURRENT_PACKET_FILTER, rndis_q_filter, 0, "GEN_CURRENT_PACKET_FILTER" },
	{ RNDIS_OID_802_3_PERMANENT_ADDRESS, rndis_q_mac, 0, "802_3_PERMANENT_ADDRESS" },
	{ RNDIS_OID_802_3_CURRENT_ADDRESS, rndis_q_mac, 0, "802_3_CURRENT_ADDRESS" },
	{ RNDIS_OID_802_3_MAXIMUM_LIST_SIZE, rndis_q_list_size, 0, "802_3_MAXIMUM_LIST_SIZE" },
	{ RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, rndis_q_offload_caps, 0,
	  "TCP_OFFLOAD_HARDWARE_CAPABILITIES" },
	{ RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES, rndis_q_rss_caps, NVSP_PROTOCOL_VERSION_5,
	  "GEN_RECEIVE_SCALE_CAPABILITIES" },
};

static int rndis_q_supported(const struct rndis_state *r, uint8_t *buf, uint32_t cap)
{
	uint32_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(rndis_query_table) && (n + 1) * 4 <= cap; i++, n++)
		put32(buf + n * 4, rndis_query_table[i].oid);
	return (int)(n * 4);
}

/* ---- SET -------------------------------------------------------------------- */

/* A set handler gets the information buffer (checked in bounds); returns
 * an RNDIS status. */
typedef uint32_t (*rndis_set_fn)(struct rndis_state *r, const uint8_t *info, uint32_t len,
				 struct rndis_decision *out);

static uint32_t rndis_s_filter(struct rndis_state *r, const uint8_t *info, uint32_t len,
			       struct rndis_decision *out)
{
	r->filter = get32(info);
	out->filter_changed = true;
	return RNDIS_STATUS_SUCCESS;
}

static uint32_t rndis_s_accept(struct rndis_state *r, const uint8_t *info, uint32_t len,
			       struct rndis_decision *out)
{
	/* Multicast list, config parameters: nothing filters on them here. */
	return RNDIS_STATUS_SUCCESS;
}

static uint32_t rndis_s_offload(struct rndis_state *r, const uint8_t *info, uint32_t len,
				struct rndis_decision *out)
{
	/* ndis_offload_params (header type NDIS_OBJECT_TYPE_DEFAULT, 0x80):
	 * Linux asks to turn on what we advertised and needs SUCCESS to
	 * finish its probe (facts §9.3).  Only RSC is switchable here (the
	 * checksums and LSO are always served); Linux 6.1 asks for it at
	 * probe when offered, and off with `ethtool -K lro off` or when IP
	 * forwarding disables LRO. */
	for (int v6 = 0; v6 < 2; v6++) {
		uint32_t at = v6 ? NDIS_OFFLOAD_PARAMS_RSC_IP6 : NDIS_OFFLOAD_PARAMS_RSC_IP4;
		bool *on = v6 ? &r->rsc_v6 : &r->rsc_v4;

		if (len > at && info[at] == NDIS_OFFLOAD_PARAMS_RSC_ENABLED)
			*on = r->rsc_offer && r->nvsp_version >= NVSP_PROTOCOL_VERSION_61;
		else if (len > at && info[at] == NDIS_OFFLOAD_PARAMS_RSC_DISABLED)
			*on = false;
	}
	r->offload_sets++;
	return RNDIS_STATUS_SUCCESS;
}

static uint32_t rndis_s_rss(struct rndis_state *r, const uint8_t *info, uint32_t len,
			    struct rndis_decision *out)
{
	struct ndis_rss_params p;
	uint32_t n;

	memcpy(&p, info, sizeof(p));
	if (p.hdr.type != NDIS_OBJECT_TYPE_RSS_PARAMETERS) {
		rndis_fail(out, NETVSP_FAULT_MALFORMED, "RSS parameters with a wrong object type");
		return RNDIS_STATUS_INVALID_DATA;
	}
	if (p.flag & NDIS_RSS_PARAM_FLAG_DISABLE_RSS) {
		r->rss_enabled = false;
		return RNDIS_STATUS_SUCCESS;
	}
	if (p.indirect_tabsize % 4 || p.indirect_tabsize / 4 > NDIS_RSS_MAX_ITAB ||
	    (uint64_t)p.indirect_taboffset + p.indirect_tabsize > len ||
	    p.indirect_taboffset < sizeof(p)) {
		rndis_fail(out, NETVSP_FAULT_MALFORMED, "RSS indirection table out of bounds");
		return RNDIS_STATUS_INVALID_DATA;
	}
	if (p.hashkey_size > NDIS_RSS_MAX_KEY ||
	    (uint64_t)p.hashkey_offset + p.hashkey_size > len || p.hashkey_offset < sizeof(p)) {
		rndis_fail(out, NETVSP_FAULT_MALFORMED, "RSS hash key out of bounds");
		return RNDIS_STATUS_INVALID_DATA;
	}
	n = p.indirect_tabsize / 4;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t q = get32(info + p.indirect_taboffset + i * 4);

		/* An entry past the queues we have: fold it (it is the guest's
		 * choice where its RX goes, never a memory index). */
		r->itab[i] = q < r->queues ? q : q % r->queues;
	}
	r->itab_len = (uint16_t)n;
	memcpy(r->key, info + p.hashkey_offset, p.hashkey_size);
	r->rss_enabled = true;
	return RNDIS_STATUS_SUCCESS;
}

struct rndis_set_entry {
	uint32_t oid;
	rndis_set_fn handler;
	uint32_t min_len;         /* bytes of information buffer the handler reads */
	const char *name;
};

static const struct rndis_set_entry rndis_set_table[] = {
	{ RNDIS_OID_GEN_CURRENT_PACKET_FILTER, rndis_s_filter, 4, "GEN_CURRENT_PACKET_FILTER" },
	{ RNDIS_OID_TCP_OFFLOAD_PARAMETERS, rndis_s_offload, sizeof(struct ndis_obj_header),
	  "TCP_OFFLOAD_PARAMETERS" },
	{ RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, rndis_s_rss, sizeof(struct ndis_rss_params),
	  "GEN_RECEIVE_SCALE_PARAMETERS" },
	{ RNDIS_OID_802_3_MULTICAST_LIST, rndis_s_accept, 0, "802_3_MULTICAST_LIST" },
	{ RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER, rndis_s_accept, 0, "GEN_RNDIS_CONFIG_PARAMETER" },
};

/* ---- message handlers: msg[0..len) with len >= the entry's min_len and
 * len == the header's msg_len --------------------------------------------------- */

typedef void (*rndis_handler)(struct rndis_state *r, const uint8_t *msg, uint32_t len,
			      struct rndis_decision *out);

static void rndis_handle_init(struct rndis_state *r, const uint8_t *msg, uint32_t len,
			      struct rndis_decision *out)
{
	struct rndis_init_req req;
	struct rndis_init_cmplt c = {
		.hdr = { RNDIS_MSG_INIT | RNDIS_MSG_COMPLETION, sizeof(c) },
		.status = RNDIS_STATUS_SUCCESS,
		.major = 1,
		.minor = 0,
		.dev_flags = 1,           /* connectionless */
		.medium = 0,              /* 802.3 */
		/* One packet per message: no batched sections, so no message
		 * that is part section and part pages (facts §9.3). */
		.max_pkt_per_msg = 1,
		.max_xfer_size = NETVSP_MAX_RNDIS_MSG,
		.pkt_alignment_factor = 3,
	};

	memcpy(&req, msg, sizeof(req));
	c.req_id = req.req_id;
	if (req.major != 1) {
		rndis_fail(out, NETVSP_FAULT_UNSUPPORTED, "RNDIS INIT for a major version other than 1");
		c.status = RNDIS_STATUS_NOT_SUPPORTED;
	} else {
		r->state = RNDIS_INITIALIZED;
	}
	memcpy(out->reply, &c, sizeof(c));
	out->reply_len = sizeof(c);
	out->verdict = RNDIS_REPLY;
}

/* The information buffer of a QUERY/SET, checked: *info = NULL, *ilen = 0
 * when empty.  false when out of bounds. */
static bool rndis_info_buf(const struct rndis_oid_req *req, const uint8_t *msg, uint32_t len,
			   const uint8_t **info, uint32_t *ilen)
{
	uint64_t start = (uint64_t)RNDIS_BODY + req->info_buf_offset;

	*info = NULL;
	*ilen = 0;
	if (req->info_buflen == 0)
		return true;
	/* The buffer follows the fixed request (Linux: offset 20). */
	if (req->info_buf_offset < sizeof(*req) - RNDIS_BODY ||
	    start + req->info_buflen > len)
		return false;
	*info = msg + start;
	*ilen = req->info_buflen;
	return true;
}

static void rndis_handle_query(struct rndis_state *r, const uint8_t *msg, uint32_t len,
			       struct rndis_decision *out)
{
	struct rndis_oid_req req;
	struct rndis_query_cmplt c = { .hdr = { RNDIS_MSG_QUERY | RNDIS_MSG_COMPLETION, sizeof(c) } };
	const struct rndis_query_entry *e = NULL;
	const uint8_t *info;
	uint32_t ilen;
	int n = -1;

	memcpy(&req, msg, sizeof(req));
	c.req_id = req.req_id;
	out->oid = req.oid;
	out->verdict = RNDIS_REPLY;
	if (!rndis_info_buf(&req, msg, len, &info, &ilen)) {
		rndis_fail(out, NETVSP_FAULT_MALFORMED, "QUERY information buffer out of bounds");
		c.status = RNDIS_STATUS_INVALID_DATA;
		goto done;
	}
	for (size_t i = 0; i < ARRAY_SIZE(rndis_query_table); i++)
		if (rndis_query_table[i].oid == req.oid)
			e = &rndis_query_table[i];
	if (e && r->nvsp_version >= e->min_version)
		n = e->handler(r, out->reply + sizeof(c), RNDIS_REPLY_MAX - sizeof(c));
	if (n < 0) {
		/* Not an error of the guest's: Linux probes optional OIDs. */
		c.status = RNDIS_STATUS_NOT_SUPPORTED;
		goto done;
	}
	c.status = RNDIS_STATUS_SUCCESS;
	c.info_buflen = (uint32_t)n;
	c.info_buf_offset = sizeof(c) - RNDIS_BODY;
	c.hdr.len = sizeof(c) + (uint32_t)n;
done:
	memcpy(out->reply, &c, sizeof(c));
	out->reply_len = c.hdr.len;
}

static void rndis_handle_set(struct rndis_state *r, const uint8_t *msg, uint32_t len,
			     struct rndis_decision *out)
{
	struct rndis_oid_req req;
	struct rndis_set_cmplt c = { .hdr = { RNDIS_MSG_SET | RNDIS_MSG_COMPLETION, sizeof(c) } };
	const struct rndis_set_entry *e = NULL;
	const uint8_t *info;
	uint32_t ilen;

	memcpy(&req, msg, sizeof(req));
	c.req_id = req.req_id;
	out->oid = req.oid;
	out->verdict = RNDIS_REPLY;
	for (size_t i = 0; i < ARRAY_SIZE(rndis_set_table); i++)
		if (rndis_set_table[i].oid == req.oid)
			e = &rndis_set_table[i];
	if (!rndis_info_buf(&req, msg, len, &info, &ilen)) {
		rndis_fail(out, NETVSP_FAULT_MALFORMED, "SET information buffer out of bounds");
		c.status = RNDIS_STATUS_INVALID_DATA;
	} else if (!e) {
		rndis_fail(out, NETVSP_FAULT_UNSUPPORTED, "SET of an OID not served");
		c.status = RNDIS_STATUS_NOT_SUPPORTED;
	} else if (ilen < e->min_len) {
		rndis_fail(out, NETVSP_FAULT_MALFORMED, "SET information buffer too short");
		c.status = RNDIS_STATUS_INVALID_DATA;
	} else {
		c.status = e->handler(r, info, ilen, out);
	}
	memcpy(out->reply, &c, sizeof(c));
	out->reply_len = sizeof(c);
}

static void rndis_handle_halt(struct rndis_state *r, const uint8_t *msg, uint32_t len,
			      struct rndis_decision *out)
{
	/* No reply: Linux sends HALT on removal and does not wait. */
	r->state = RNDIS_UNINITIALIZED;
	r->filter = 0;
	out->halted = true;
}

static void rndis_handle_reset(struct rndis_state *r, const uint8_t *msg, uint32_t len,
			       struct rndis_decision *out)
{
	struct rndis_reset_cmplt c = {
		.hdr = { RNDIS_MSG_RESET | RNDIS_MSG_COMPLETION, sizeof(c) },
		.status = RNDIS_STATUS_SUCCESS,
		.addressing_reset = 1,    /* the guest should set its filter again */
	};

	r->filter = 0;
	out->filter_changed = true;
	memcpy(out->reply, &c, sizeof(c));
	out->reply_len = sizeof(c);
	out->verdict = RNDIS_REPLY;
}

static void rndis_handle_keepalive(struct rndis_state *r, const uint8_t *msg, uint32_t len,
				   struct rndis_decision *out)
{
	struct rndis_keepalive_cmplt c = {
		.hdr = { RNDIS_MSG_KEEPALIVE | RNDIS_MSG_COMPLETION, sizeof(c) },
		.req_id = get32(msg + RNDIS_BODY),
		.status = RNDIS_STATUS_SUCCESS,
	};

	memcpy(out->reply, &c, sizeof(c));
	out->reply_len = sizeof(c);
	out->verdict = RNDIS_REPLY;
}

/* Walks the per-packet info of an RNDIS_PACKET: [start, start + plen) is
 * inside the message. */
static bool rndis_parse_ppi(const uint8_t *msg, uint64_t start, uint32_t plen,
			    struct rndis_frame *f, const char **why)
{
	uint64_t off = 0;

	while (off < plen) {
		struct rndis_ppi h;
		uint32_t dlen, v;

		if (plen - off < sizeof(h)) {
			*why = "per-packet info header past ppi_len";
			return false;
		}
		memcpy(&h, msg + start + off, sizeof(h));
		if (h.size < sizeof(h) || h.size > plen - off) {
			*why = "per-packet info size out of bounds";
			return false;
		}
		if (h.ppi_offset < sizeof(h) || h.ppi_offset > h.size) {
			*why = "per-packet info offset out of bounds";
			return false;
		}
		dlen = h.size - h.ppi_offset;
		if (!(h.type & RNDIS_PPI_INTERNAL) &&
		    (h.type == RNDIS_PPI_CHECKSUM || h.type == RNDIS_PPI_LSO ||
		     h.type == RNDIS_PPI_8021Q || h.type == RNDIS_PPI_HASH_VALUE)) {
			if (dlen < 4) {
				*why = "per-packet info shorter than its value";
				return false;
			}
			v = get32(msg + start + off + h.ppi_offset);
			switch (h.type) {
			case RNDIS_PPI_CHECKSUM:
				f->has_csum = true;
				f->csum = v;
				break;
			case RNDIS_PPI_LSO:
				f->has_lso = true;
				f->lso = v;
				break;
			case RNDIS_PPI_8021Q:
				f->has_vlan = true;
				f->vlan = v;
				break;
			default:
				f->has_hash = true;
				f->hash = v;
				break;
			}
		}
		/* Other types carry nothing a host acts on: skipped. */
		off += h.size;
	}
	return true;
}

static void rndis_handle_packet(struct rndis_state *r, const uint8_t *msg, uint32_t len,
				struct rndis_decision *out)
{
	struct rndis_packet p;
	uint64_t dstart, pstart;
	const char *why = NULL;

	memcpy(&p, msg, sizeof(p));
	dstart = (uint64_t)RNDIS_BODY + p.data_offset;
	if (p.data_offset < RNDIS_PACKET_BODY || dstart + p.data_len > len) {
		rndis_fail(out, NETVSP_FAULT_MALFORMED, "RNDIS_PACKET data out of bounds");
		return;
	}
	if (p.data_len < 14) {
		rndis_fail(out, NETVSP_FAULT_MALFORMED, "RNDIS_PACKET shorter than an Ethernet header");
		return;
	}
	if (p.ppi_len) {
		pstart = (uint64_t)RNDIS_BODY + p.ppi_offset;
		if (p.ppi_offset < RNDIS_PACKET_BODY || pstart + p.ppi_len > len) {
			rndis_fail(out, NETVSP_FAULT_MALFORMED, "RNDIS_PACKET per-packet info out of bounds");
			return;
		}
		if (!rndis_parse_ppi(msg, pstart, p.ppi_len, &out->frame, &why)) {
			rndis_fail(out, NETVSP_FAULT_MALFORMED, why);
			return;
		}
	}
	if (out->frame.has_lso) {
		/* LSOv2 (netvsc_xmit): mss, the TCP header offset, the IP
		 * version.  The frame is segmented by the host; its headers
		 * are checked again there (net_tso_segment). */
		uint32_t v = out->frame.lso;

		if (!RNDIS_LSO_V2(v)) {
			rndis_fail(out, NETVSP_FAULT_UNSUPPORTED, "LSOv1 frame (only LSOv2 is offered)");
			return;
		}
		if (RNDIS_LSO_MSS(v) < 64 || RNDIS_LSO_TCP_OFFSET(v) < 14 + 20 ||
		    (uint64_t)RNDIS_LSO_TCP_OFFSET(v) + 20 > p.data_len) {
			rndis_fail(out, NETVSP_FAULT_MALFORMED, "LSO mss or TCP offset out of bounds");
			return;
		}
		out->frame.lso_mss = RNDIS_LSO_MSS(v);
		out->frame.lso_tcp_off = RNDIS_LSO_TCP_OFFSET(v);
		out->frame.lso_ipv6 = RNDIS_LSO_IPV6(v);
	}
	if (!out->frame.has_lso && out->frame.has_csum &&
	    (out->frame.csum & (RNDIS_CSUM_TX_TCP | RNDIS_CSUM_TX_UDP))) {
		/* netvsc_xmit for CHECKSUM_PARTIAL: exactly one of TCP/UDP, the
		 * transport header offset from the frame's start; the field
		 * must lie inside the frame (checked again when filled). */
		uint32_t c = out->frame.csum, off = RNDIS_CSUM_TX_TCP_OFFSET(c);
		bool tcp = c & RNDIS_CSUM_TX_TCP, udp = c & RNDIS_CSUM_TX_UDP;
		uint32_t field = tcp ? 16u : 6u;

		if ((tcp && udp) || off < 14 + 20 || (uint64_t)off + field + 2 > p.data_len) {
			rndis_fail(out, NETVSP_FAULT_MALFORMED, "checksum info outside the frame");
			return;
		}
		out->frame.csum_needed = true;
		out->frame.csum_start = off;
		out->frame.csum_offset = field;
	}
	/* An LSO frame may be as large as an IP packet with its headers. */
	if (p.data_len > (out->frame.has_lso ? 65536u + 256u : r->max_frame)) {
		rndis_fail(out, NETVSP_FAULT_MALFORMED, "frame longer than the MTU allows");
		return;
	}
	if (r->state != RNDIS_INITIALIZED) {
		rndis_fail(out, NETVSP_FAULT_WRONG_STATE, "RNDIS_PACKET before INIT");
		return;
	}
	out->frame.offset = (uint32_t)dstart;
	out->frame.len = p.data_len;
	out->verdict = RNDIS_DATA;
}

#define ST_UNINIT (1u << RNDIS_UNINITIALIZED)
#define ST_INITED (1u << RNDIS_INITIALIZED)
#define ST_ANY    (ST_UNINIT | ST_INITED)

struct rndis_entry {
	rndis_handler handler;    /* NULL: host->guest only */
	uint32_t min_len;         /* of the whole message */
	uint32_t states;
	const char *name;
};

static const struct rndis_entry rndis_table[RNDIS_MSG_TYPE_MAX] = {
	/* PACKET checks its own state, after the bounds, so a hostile frame
	 * is counted as malformed whatever the state. */
	[RNDIS_MSG_PACKET] = { rndis_handle_packet, sizeof(struct rndis_packet), ST_ANY, "PACKET" },
	[RNDIS_MSG_INIT] = { rndis_handle_init, sizeof(struct rndis_init_req), ST_ANY, "INIT" },
	[RNDIS_MSG_HALT] = { rndis_handle_halt, RNDIS_BODY + 4, ST_ANY, "HALT" },
	[RNDIS_MSG_QUERY] = { rndis_handle_query, sizeof(struct rndis_oid_req), ST_INITED, "QUERY" },
	[RNDIS_MSG_SET] = { rndis_handle_set, sizeof(struct rndis_oid_req), ST_INITED, "SET" },
	[RNDIS_MSG_RESET] = { rndis_handle_reset, RNDIS_BODY + 4, ST_INITED, "RESET" },
	[RNDIS_MSG_INDICATE] = { NULL, 0, 0, "INDICATE_STATUS" },
	[RNDIS_MSG_KEEPALIVE] = { rndis_handle_keepalive, RNDIS_BODY + 4, ST_INITED, "KEEPALIVE" },
};

const char *rndis_type_name(uint32_t type)
{
	if (type < RNDIS_MSG_TYPE_MAX && rndis_table[type].name)
		return rndis_table[type].name;
	return "?";
}

/* The wrong-state answer for a request with a request id: a completion
 * with a failure status, so the guest does not wait for ever. */
static void rndis_refuse(uint32_t type, const uint8_t *msg, uint32_t len, uint32_t status,
			 struct rndis_decision *out)
{
	struct rndis_set_cmplt c = { .hdr = { type | RNDIS_MSG_COMPLETION, sizeof(c) } };

	if (type != RNDIS_MSG_QUERY && type != RNDIS_MSG_SET && type != RNDIS_MSG_KEEPALIVE &&
	    type != RNDIS_MSG_INIT)
		return;
	if (len < RNDIS_BODY + 4)
		return;
	c.req_id = get32(msg + RNDIS_BODY);
	c.status = status;
	if (type == RNDIS_MSG_QUERY) {
		/* QUERY_C is 24 bytes: offset 0 marks the failure for Linux. */
		struct rndis_query_cmplt q = { .hdr = { type | RNDIS_MSG_COMPLETION, sizeof(q) },
					       .req_id = c.req_id, .status = status };

		memcpy(out->reply, &q, sizeof(q));
		out->reply_len = sizeof(q);
	} else if (type == RNDIS_MSG_INIT) {
		struct rndis_init_cmplt i = { .hdr = { type | RNDIS_MSG_COMPLETION, sizeof(i) },
					      .req_id = c.req_id, .status = status };

		memcpy(out->reply, &i, sizeof(i));
		out->reply_len = sizeof(i);
	} else {
		memcpy(out->reply, &c, sizeof(c));
		out->reply_len = sizeof(c);
	}
	out->verdict = RNDIS_REPLY;
}

void rndis_dispatch(struct rndis_state *r, const uint8_t *msg, uint32_t len,
		    struct rndis_decision *out)
{
	struct rndis_hdr h;
	const struct rndis_entry *e;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(h)) {
		rndis_fail(out, NETVSP_FAULT_MALFORMED, "shorter than an RNDIS header");
		return;
	}
	memcpy(&h, msg, sizeof(h));
	out->type = h.type;
	if (h.len < sizeof(h) || h.len > len) {
		rndis_fail(out, NETVSP_FAULT_MALFORMED, "RNDIS msg_len out of bounds");
		return;
	}
	out->consumed = h.len;
	e = h.type < RNDIS_MSG_TYPE_MAX ? &rndis_table[h.type] : NULL;
	if (!e || !e->handler) {
		rndis_fail(out, NETVSP_FAULT_UNSUPPORTED, "RNDIS message type not served");
		rndis_refuse(h.type, msg, h.len, RNDIS_STATUS_NOT_SUPPORTED, out);
		return;
	}
	if (h.len < e->min_len) {
		rndis_fail(out, NETVSP_FAULT_MALFORMED, "RNDIS message too short for its type");
		rndis_refuse(h.type, msg, h.len, RNDIS_STATUS_INVALID_DATA, out);
		return;
	}
	if (!(e->states & (1u << r->state))) {
		rndis_fail(out, NETVSP_FAULT_WRONG_STATE, "RNDIS request before INIT");
		rndis_refuse(h.type, msg, h.len, RNDIS_STATUS_FAILURE, out);
		return;
	}
	e->handler(r, msg, h.len, out);
}
