/* SPDX-License-Identifier: MIT */
/*
 * netvsp: the pure NVSP (devices/netvsp/nvsp.c) and RNDIS
 * (devices/netvsp/rndis.c) protocols, message by message, as Linux 6.1
 * hv_netvsc sends them and as a hostile guest might.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/net/net.h"
#include "devices/netvsp/netvsp_internal.h"
#include "vmbusd/proto/ring.h"

/* ---- NVSP helpers ---------------------------------------------------------------- */

static struct nvsp_proto P;
static uint64_t gpadl_sizes[4] = { 0, 16u << 20, 1044480, 1000 }; /* handle -> size */

static uint64_t fake_gpadl_size(void *ctx, uint32_t gpadl)
{
	return gpadl < 4 ? gpadl_sizes[gpadl] : 0;
}

static void nvsp_send(const struct nvsp_msg *m, uint32_t len, uint16_t pkt_type, bool primary,
		      struct nvsp_decision *d)
{
	struct nvsp_input in = {
		.pkt_type = pkt_type, .want_completion = true, .primary = primary,
		.data = (const uint8_t *)m, .len = len, .gpadl_size = fake_gpadl_size,
	};

	nvsp_dispatch(&P, &in, d);
}

static struct nvsp_msg msg_of(uint32_t type)
{
	struct nvsp_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	return m;
}

/* netvsc_connect_vsp up to the send buffer, at `version`. */
static void linux_init(uint32_t version, uint16_t max_sub)
{
	struct nvsp_decision d;
	struct nvsp_msg m;

	nvsp_proto_init(&P, 1500, max_sub);
	m = msg_of(NVSP_MSG_INIT);
	m.init.min_ver = m.init.max_ver = version;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert(d.reply);
	ck_assert_uint_eq(d.msg.type, NVSP_MSG_INIT_COMPLETE);
	ck_assert_uint_eq(d.msg.init_complete.status, NVSP_STAT_SUCCESS);
	if (version >= NVSP_PROTOCOL_VERSION_2) {
		m = msg_of(NVSP_MSG2_SEND_NDIS_CONFIG);
		m.ndis_config.mtu = 1514;
		nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
		ck_assert_int_eq(d.fault, NETVSP_FAULT_NONE);
	}
	m = msg_of(NVSP_MSG1_SEND_NDIS_VER);
	m.ndis_ver.major = 6;
	m.ndis_ver.minor = 30;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert(!d.reply);
	m = msg_of(NVSP_MSG1_SEND_RECV_BUF);
	m.send_buf.gpadl = 1;
	m.send_buf.id = NETVSC_RECEIVE_BUFFER_ID;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.verdict, NVSP_RECV_BUF_ATTACHED);
	m = msg_of(NVSP_MSG1_SEND_SEND_BUF);
	m.send_buf.gpadl = 2;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_uint_eq(d.msg.send_buf_complete.status, NVSP_STAT_SUCCESS);
}

START_TEST(test_layout)
{
	ck_assert_uint_eq(sizeof(struct nvsp_msg), 40);
	ck_assert_uint_eq(offsetof(struct nvsp_msg, init_complete.status), 12);
	ck_assert_uint_eq(offsetof(struct nvsp_msg, recv_buf_complete.sub_alloc_size), 16);
	ck_assert_uint_eq(offsetof(struct nvsp_msg, ndis_config.capability), 12);
	ck_assert_uint_eq(offsetof(struct nvsp_msg, rndis_pkt.section_index), 8);
	ck_assert_uint_eq(sizeof(struct rndis_init_cmplt), 52);
	ck_assert_uint_eq(offsetof(struct rndis_init_cmplt, max_pkt_per_msg), 32);
	ck_assert_uint_eq(offsetof(struct rndis_packet, ppi_offset), 28);
	ck_assert_uint_eq(offsetof(struct ndis_rss_params, indirect_taboffset), 16);
	ck_assert_uint_eq(offsetof(struct ndis_rss_params, hashkey_offset), 24);
}
END_TEST

START_TEST(test_every_version)
{
	static const uint32_t v[] = { NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_6,
				      NVSP_PROTOCOL_VERSION_5, NVSP_PROTOCOL_VERSION_4,
				      NVSP_PROTOCOL_VERSION_2, NVSP_PROTOCOL_VERSION_1 };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		linux_init(v[i], 1);
		ck_assert_uint_eq(P.version, v[i]);
		/* Linux's checks on the receive-buffer completion (facts §9.2). */
		ck_assert(P.recv_section_size >= 68);
		ck_assert((uint64_t)P.recv_section_size * P.recv_sections <= (16u << 20));
		ck_assert_uint_eq(P.send_section_size, NETVSP_SEND_SECTION_SIZE);
		ck_assert_uint_eq(P.send_sections, 1044480 / NETVSP_SEND_SECTION_SIZE);
	}
}
END_TEST

START_TEST(test_version_refused_and_gated)
{
	struct nvsp_decision d;
	struct nvsp_msg m;

	nvsp_proto_init(&P, 1500, 1);
	m = msg_of(NVSP_MSG_INIT);
	m.init.min_ver = m.init.max_ver = 0x70000;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert(d.reply);
	ck_assert_uint_eq(d.msg.init_complete.status, NVSP_STAT_FAIL);
	ck_assert_int_eq(P.state, NVSP_WAIT_INIT);
	/* Anything but INIT before INIT: refused with a completion. */
	m = msg_of(NVSP_MSG1_SEND_RECV_BUF);
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_WRONG_STATE);
	ck_assert(d.reply);
	ck_assert_uint_eq(d.msg.recv_buf_complete.status, NVSP_STAT_FAIL);
	/* SUBCHANNEL is v5: refused at v4. */
	linux_init(NVSP_PROTOCOL_VERSION_4, 1);
	m = msg_of(NVSP_MSG5_SUBCHANNEL);
	m.subchannel.op = NVSP_SUBCHANNEL_ALLOCATE;
	m.subchannel.num = 1;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_WRONG_STATE);
	ck_assert_int_eq(d.verdict, NVSP_DROP);
	ck_assert_uint_eq(d.msg.subchannel_complete.status, NVSP_STAT_FAIL);
}
END_TEST

START_TEST(test_subchannels)
{
	struct nvsp_decision d;
	struct nvsp_msg m;

	linux_init(NVSP_PROTOCOL_VERSION_61, 3);
	m = msg_of(NVSP_MSG5_SUBCHANNEL);
	m.subchannel.op = NVSP_SUBCHANNEL_ALLOCATE;
	m.subchannel.num = 7;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.verdict, NVSP_SUBCHANNELS);
	ck_assert_uint_eq(d.subchannels, 3);           /* capped, <= asked */
	ck_assert_uint_eq(d.msg.subchannel_complete.num, 3);
	ck_assert_uint_eq(d.msg.subchannel_complete.status, NVSP_STAT_SUCCESS);
	/* From a subchannel: refused. */
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, false, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_WRONG_STATE);
	m.subchannel.op = 2;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
}
END_TEST

START_TEST(test_short_and_unknown)
{
	struct nvsp_decision d;
	struct nvsp_msg m;

	linux_init(NVSP_PROTOCOL_VERSION_61, 1);
	m = msg_of(NVSP_MSG1_SEND_RNDIS_PKT);
	nvsp_send(&m, 3, VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	ck_assert(!d.reply);
	nvsp_send(&m, 12, VM_PKT_DATA_INBAND, true, &d);   /* needs 16 */
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	ck_assert(d.reply);
	m = msg_of(9999);
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_UNSUPPORTED);
	m = msg_of(NVSP_MSG_INIT_COMPLETE);                 /* host->guest only */
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_UNSUPPORTED);
	/* A completion that is not an RNDIS completion. */
	m = msg_of(NVSP_MSG1_SEND_RNDIS_PKT);
	nvsp_send(&m, sizeof(m), VM_PKT_COMP, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	ck_assert(!d.reply);
	m = msg_of(NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
	nvsp_send(&m, 8, VM_PKT_COMP, true, &d);
	ck_assert_int_eq(d.verdict, NVSP_RX_DONE);
	/* The guest's receive buffer: wrong id, unknown GPADL, twice. */
	nvsp_proto_init(&P, 1500, 0);
	linux_init(NVSP_PROTOCOL_VERSION_5, 0);
	m = msg_of(NVSP_MSG1_SEND_RECV_BUF);
	m.send_buf.gpadl = 1;
	m.send_buf.id = NETVSC_RECEIVE_BUFFER_ID;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_WRONG_STATE);
	ck_assert_uint_eq(d.msg.recv_buf_complete.status, NVSP_STAT_FAIL);
	nvsp_proto_reset(&P);
	P.state = NVSP_READY;
	P.version = NVSP_PROTOCOL_VERSION_5;
	m.send_buf.id = 1;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	m.send_buf.id = NETVSC_RECEIVE_BUFFER_ID;
	m.send_buf.gpadl = 3;                                /* < a section */
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	m.send_buf.gpadl = 77;                               /* not there */
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	ck_assert(!P.recv_buf);
}
END_TEST

START_TEST(test_rndis_pkt_sections)
{
	struct nvsp_decision d;
	struct nvsp_msg m;

	linux_init(NVSP_PROTOCOL_VERSION_61, 1);
	m = msg_of(NVSP_MSG1_SEND_RNDIS_PKT);
	m.rndis_pkt.channel_type = NVSP_CHANNEL_DATA;
	m.rndis_pkt.section_index = 3;
	m.rndis_pkt.section_size = 100;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.verdict, NVSP_RNDIS);
	ck_assert_uint_eq(d.rndis.section_index, 3);
	/* Bad section indices (CVE-2021-28476's class) and sizes. */
	m.rndis_pkt.section_index = P.send_sections;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	ck_assert_int_eq(d.verdict, NVSP_DROP);
	ck_assert(d.reply);
	ck_assert_uint_eq(d.msg.rndis_pkt_complete.status, NVSP_STAT_INVALID_RNDIS_PKT);
	m.rndis_pkt.section_index = 0x7FFFFFFF;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	m.rndis_pkt.section_index = 0;
	m.rndis_pkt.section_size = NETVSP_SEND_SECTION_SIZE + 1;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	m.rndis_pkt.section_size = 0;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	/* No section: the message must be in GPA-direct pages. */
	m.rndis_pkt.section_index = NVSP_SECTION_NONE;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	m.rndis_pkt.channel_type = NVSP_CHANNEL_CONTROL;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_USING_GPA_DIRECT, true, &d);
	ck_assert_int_eq(d.verdict, NVSP_RNDIS);
	m.rndis_pkt.channel_type = 2;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_USING_GPA_DIRECT, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	/* Revoked send buffer: indices are gone. */
	m = msg_of(NVSP_MSG1_REVOKE_SEND_BUF);
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.verdict, NVSP_SEND_BUF_REVOKED);
	m = msg_of(NVSP_MSG1_SEND_RNDIS_PKT);
	m.rndis_pkt.section_index = 0;
	m.rndis_pkt.section_size = 64;
	nvsp_send(&m, sizeof(m), VM_PKT_DATA_INBAND, true, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
}
END_TEST

/* ---- RNDIS helpers --------------------------------------------------------------- */

static struct rndis_state R;
static uint8_t buf[8192] __attribute__((aligned(8)));
static const uint8_t mac[6] = { 0x00, 0x15, 0x5d, 0x12, 0x34, 0x56 };

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

static void rndis_up(uint16_t queues)
{
	struct rndis_init_req req = { { RNDIS_MSG_INIT, sizeof(req) }, 1, 1, 0, 0x4000 };
	struct rndis_decision d;

	rndis_init(&R, mac, 1500, queues);
	R.nvsp_version = NVSP_PROTOCOL_VERSION_61;
	R.rsc_offer = true;  /* config "rsc": true (off by default) */
	rndis_dispatch(&R, (const uint8_t *)&req, sizeof(req), &d);
	ck_assert_int_eq(d.verdict, RNDIS_REPLY);
	ck_assert_uint_eq(d.reply_len, 52);
	ck_assert_uint_eq(get32(d.reply), RNDIS_MSG_INIT | RNDIS_MSG_COMPLETION);
	ck_assert_uint_eq(get32(d.reply + 8), 1);      /* req_id */
	ck_assert_uint_eq(get32(d.reply + 12), 0);     /* status */
}

static void query(uint32_t oid, uint32_t info_len, struct rndis_decision *d)
{
	struct rndis_oid_req q = { { RNDIS_MSG_QUERY, (uint32_t)sizeof(q) + info_len }, 7, oid,
				   info_len, 20, 0 };

	memset(buf, 0, sizeof(buf));
	memcpy(buf, &q, sizeof(q));
	rndis_dispatch(&R, buf, q.hdr.len, d);
}

static void set(uint32_t oid, const void *info, uint32_t info_len, struct rndis_decision *d)
{
	struct rndis_oid_req q = { { RNDIS_MSG_SET, (uint32_t)sizeof(q) + info_len }, 9, oid,
				   info_len, 20, 0 };

	memcpy(buf, &q, sizeof(q));
	memcpy(buf + sizeof(q), info, info_len);
	rndis_dispatch(&R, buf, q.hdr.len, d);
}

/* Linux's check of a QUERY_C (rndis_filter_query_device). */
static bool query_ok(const struct rndis_decision *d, uint32_t *len)
{
	uint32_t off = get32(d->reply + 20), ilen = get32(d->reply + 16), mlen = get32(d->reply + 4);

	*len = ilen;
	return off >= 16 && mlen - 8 >= off + ilen && mlen == d->reply_len;
}

START_TEST(test_rndis_probe_sequence)
{
	struct rndis_decision d;
	struct ndis_obj_header h;
	uint8_t params[28] = { NDIS_OBJECT_TYPE_OFFLOAD, 3, 28 };
	uint32_t len, filter = 0x0D;

	rndis_up(2);
	query(RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE, 0, &d);
	ck_assert(query_ok(&d, &len));
	ck_assert_uint_eq(len, 4);
	ck_assert_uint_eq(get32(d.reply + 24), 1500);
	query(RNDIS_OID_802_3_PERMANENT_ADDRESS, 0, &d);
	ck_assert(query_ok(&d, &len));
	ck_assert_uint_eq(len, 6);
	ck_assert_mem_eq(d.reply + 24, mac, 6);
	/* Linux sends the ndis_offload header it wants as the info buffer. */
	query(RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, 4, &d);
	ck_assert(query_ok(&d, &len));
	memcpy(&h, d.reply + 24, 4);
	ck_assert_uint_eq(h.type, 0xA7);
	ck_assert_uint_ge(h.revision, 1);
	ck_assert(h.size >= 112 && h.size <= len && len <= 156);
	/* NVSP 6.1: the NDIS 6.30 structure, RSC offered both ways. */
	ck_assert_uint_eq(h.revision, 3);
	ck_assert_uint_eq(len, 156);
	ck_assert_uint_eq(d.reply[24 + NDIS_OFFLOAD_RSC_IP4], 1);
	ck_assert_uint_eq(d.reply[24 + NDIS_OFFLOAD_RSC_IP6], 1);
	/* Off (ethtool -K lro off, or IP forwarding turning LRO off). */
	params[NDIS_OFFLOAD_PARAMS_RSC_IP4] = params[NDIS_OFFLOAD_PARAMS_RSC_IP6] =
		NDIS_OFFLOAD_PARAMS_RSC_DISABLED;
	set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, sizeof(params), &d);
	ck_assert_uint_eq(get32(d.reply + 12), RNDIS_STATUS_SUCCESS);
	ck_assert(!R.rsc_v4 && !R.rsc_v6);
	/* On (Linux 6.1 at probe), then 0: no change. */
	params[NDIS_OFFLOAD_PARAMS_RSC_IP4] = params[NDIS_OFFLOAD_PARAMS_RSC_IP6] =
		NDIS_OFFLOAD_PARAMS_RSC_ENABLED;
	set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, sizeof(params), &d);
	ck_assert(R.rsc_v4 && R.rsc_v6);
	params[NDIS_OFFLOAD_PARAMS_RSC_IP4] = params[NDIS_OFFLOAD_PARAMS_RSC_IP6] = 0;
	set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, sizeof(params), &d);
	ck_assert(R.rsc_v4 && R.rsc_v6);
	/* A parameter block too short to hold them changes nothing. */
	params[NDIS_OFFLOAD_PARAMS_RSC_IP4] = NDIS_OFFLOAD_PARAMS_RSC_DISABLED;
	set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, 20, &d);
	ck_assert(R.rsc_v4);
	/* Not offered (config "rsc": false): the 6.0 structure, never on. */
	R.rsc_offer = false;
	R.rsc_v4 = R.rsc_v6 = false;
	query(RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, 4, &d);
	ck_assert(query_ok(&d, &len));
	ck_assert_uint_eq(len, 112);
	params[NDIS_OFFLOAD_PARAMS_RSC_IP4] = params[NDIS_OFFLOAD_PARAMS_RSC_IP6] =
		NDIS_OFFLOAD_PARAMS_RSC_ENABLED;
	set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, sizeof(params), &d);
	ck_assert(!R.rsc_v4 && !R.rsc_v6);
	R.rsc_offer = true;
	/* Before NVSP 6.1 neither is offered nor taken. */
	R.nvsp_version = NVSP_PROTOCOL_VERSION_5;
	R.rsc_v4 = R.rsc_v6 = false;
	query(RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, 4, &d);
	ck_assert(query_ok(&d, &len));
	ck_assert_uint_eq(len, 112);
	params[NDIS_OFFLOAD_PARAMS_RSC_IP4] = params[NDIS_OFFLOAD_PARAMS_RSC_IP6] =
		NDIS_OFFLOAD_PARAMS_RSC_ENABLED;
	set(RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, sizeof(params), &d);
	ck_assert(!R.rsc_v4 && !R.rsc_v6);
	R.nvsp_version = NVSP_PROTOCOL_VERSION_61;
	query(RNDIS_OID_GEN_MEDIA_CONNECT_STATUS, 0, &d);
	ck_assert_uint_eq(get32(d.reply + 24), 0);
	query(RNDIS_OID_GEN_LINK_SPEED, 0, &d);
	ck_assert(query_ok(&d, &len));
	query(RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES, 0, &d);
	ck_assert(query_ok(&d, &len));
	ck_assert_uint_eq(len, 18);
	ck_assert_uint_eq(get32(d.reply + 24 + 12), 2);  /* num_recv_que */
	set(RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4, &d);
	ck_assert(d.filter_changed);
	ck_assert_uint_eq(R.filter, 0x0D);
	/* Unknown OID: NOT_SUPPORTED with offset 0, which Linux treats as an error. */
	query(0x12345678, 0, &d);
	ck_assert_uint_eq(get32(d.reply + 12), RNDIS_STATUS_NOT_SUPPORTED);
	ck_assert(!query_ok(&d, &len));
	ck_assert_int_eq(d.fault, NETVSP_FAULT_NONE);
	/* One queue: no RSS. */
	rndis_up(1);
	query(RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES, 0, &d);
	ck_assert_uint_eq(get32(d.reply + 12), RNDIS_STATUS_NOT_SUPPORTED);
}
END_TEST

START_TEST(test_rndis_rss)
{
	struct rndis_decision d;
	uint8_t p[40 + 40 + 128 * 4];
	struct ndis_rss_params rp = { .hdr = { NDIS_OBJECT_TYPE_RSS_PARAMETERS, 2, sizeof(rp) } };

	rndis_up(2);
	rp.hashkey_size = 40;
	/* Linux's layout: the table after the 40-byte struct, then the key. */
	rp.indirect_tabsize = 128 * 4;
	rp.indirect_taboffset = 40;
	rp.hashkey_offset = 40 + 128 * 4;
	memset(p, 0, sizeof(p));
	memcpy(p, &rp, sizeof(rp));
	for (uint32_t i = 0; i < 128; i++)
		put32(p + 40 + i * 4, i % 2 ? 1 : 0xFFFFFFFFu);
	set(RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, sizeof(p), &d);
	ck_assert_uint_eq(get32(d.reply + 12), RNDIS_STATUS_SUCCESS);
	ck_assert(R.rss_enabled);
	ck_assert_uint_eq(R.itab_len, 128);
	for (uint32_t i = 0; i < 128; i++)
		ck_assert_uint_lt(R.itab[i], 2);           /* folded into our queues */
	/* Table past the buffer. */
	rp.indirect_taboffset = 81;
	memcpy(p, &rp, sizeof(rp));
	set(RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, sizeof(p), &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	ck_assert_uint_ne(get32(d.reply + 12), RNDIS_STATUS_SUCCESS);
	rp.indirect_taboffset = 0xFFFFFFF0u;
	memcpy(p, &rp, sizeof(rp));
	set(RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, sizeof(p), &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	rp.indirect_taboffset = 40;
	rp.hashkey_size = 41;
	memcpy(p, &rp, sizeof(rp));
	set(RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, sizeof(p), &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	/* Too short for the struct. */
	set(RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, 20, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
}
END_TEST

START_TEST(test_rndis_bad_requests)
{
	struct rndis_decision d;
	struct rndis_oid_req q = { { RNDIS_MSG_QUERY, sizeof(q) }, 5,
				   RNDIS_OID_802_3_PERMANENT_ADDRESS, 0, 20, 0 };

	/* Before INIT: answered (with a failure), never silent. */
	rndis_init(&R, mac, 1500, 1);
	rndis_dispatch(&R, (const uint8_t *)&q, sizeof(q), &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_WRONG_STATE);
	ck_assert_int_eq(d.verdict, RNDIS_REPLY);
	ck_assert_uint_eq(get32(d.reply + 8), 5);
	rndis_up(1);
	/* msg_len past the buffer, and shorter than a header. */
	q.hdr.len = 4000;
	rndis_dispatch(&R, (const uint8_t *)&q, sizeof(q), &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	ck_assert_int_eq(d.verdict, RNDIS_DROP);
	q.hdr.len = 4;
	rndis_dispatch(&R, (const uint8_t *)&q, sizeof(q), &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	rndis_dispatch(&R, (const uint8_t *)&q, 5, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	/* QUERY shorter than its fixed part: answered with the error. */
	q.hdr.len = 16;
	rndis_dispatch(&R, (const uint8_t *)&q, sizeof(q), &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	ck_assert_int_eq(d.verdict, RNDIS_REPLY);
	/* Info buffer out of bounds, and overlapping the request. */
	q.hdr.len = sizeof(q);
	q.info_buflen = 8;
	q.info_buf_offset = 20;
	rndis_dispatch(&R, (const uint8_t *)&q, sizeof(q), &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	ck_assert_uint_eq(get32(d.reply + 12), RNDIS_STATUS_INVALID_DATA);
	q.info_buflen = 4;
	q.info_buf_offset = 0xFFFFFFFCu;
	rndis_dispatch(&R, (const uint8_t *)&q, sizeof(q), &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	/* Unknown SET: NOT_SUPPORTED; unknown message type; host-only type. */
	set(0x0BADBAD0, "x", 1, &d);
	ck_assert_uint_eq(get32(d.reply + 12), RNDIS_STATUS_NOT_SUPPORTED);
	q.hdr.type = 0x77;
	q.hdr.len = sizeof(q);
	rndis_dispatch(&R, (const uint8_t *)&q, sizeof(q), &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_UNSUPPORTED);
	q.hdr.type = RNDIS_MSG_INDICATE;
	rndis_dispatch(&R, (const uint8_t *)&q, sizeof(q), &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_UNSUPPORTED);
	/* KEEPALIVE, RESET, HALT. */
	q.hdr.type = RNDIS_MSG_KEEPALIVE;
	q.hdr.len = 12;
	rndis_dispatch(&R, (const uint8_t *)&q, 12, &d);
	ck_assert_int_eq(d.verdict, RNDIS_REPLY);
	ck_assert_uint_eq(get32(d.reply), RNDIS_MSG_KEEPALIVE | RNDIS_MSG_COMPLETION);
	q.hdr.type = RNDIS_MSG_RESET;
	rndis_dispatch(&R, (const uint8_t *)&q, 12, &d);
	ck_assert_uint_eq(get32(d.reply), RNDIS_MSG_RESET | RNDIS_MSG_COMPLETION);
	q.hdr.type = RNDIS_MSG_HALT;
	rndis_dispatch(&R, (const uint8_t *)&q, 12, &d);
	ck_assert(d.halted);
	ck_assert_int_eq(d.verdict, RNDIS_DROP);
	ck_assert_int_eq(R.state, RNDIS_UNINITIALIZED);
}
END_TEST

/* An RNDIS_PACKET with `frame_len` bytes of frame and the given PPI bytes. */
static uint32_t packet(uint32_t frame_len, const uint8_t *ppi, uint32_t ppi_len)
{
	struct rndis_packet p = { .hdr = { RNDIS_MSG_PACKET, 0 } };

	memset(buf, 0, sizeof(buf));
	p.ppi_offset = ppi_len ? RNDIS_PACKET_BODY : 0;
	p.ppi_len = ppi_len;
	p.data_offset = RNDIS_PACKET_BODY + ppi_len;
	p.data_len = frame_len;
	p.hdr.len = (uint32_t)sizeof(p) + ppi_len + frame_len;
	memcpy(buf, &p, sizeof(p));
	if (ppi_len)
		memcpy(buf + sizeof(p), ppi, ppi_len);
	for (uint32_t i = 0; i < frame_len; i++)
		buf[sizeof(p) + ppi_len + i] = (uint8_t)i;
	return p.hdr.len;
}

START_TEST(test_rndis_packet)
{
	struct rndis_decision d;
	uint8_t ppi[24];
	uint32_t len;
	struct rndis_ppi h = { 16, RNDIS_PPI_HASH_VALUE, 12 };

	rndis_up(1);
	len = packet(60, NULL, 0);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.verdict, RNDIS_DATA);
	ck_assert_uint_eq(d.frame.offset, 44);
	ck_assert_uint_eq(d.frame.len, 60);
	/* A hash PPI and a VLAN PPI. */
	memcpy(ppi, &h, 12);
	put32(ppi + 12, 0xabcd);
	len = packet(60, ppi, 16);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.verdict, RNDIS_DATA);
	ck_assert(d.frame.has_hash);
	ck_assert_uint_eq(d.frame.hash, 0xabcd);
	ck_assert_uint_eq(d.frame.offset, 44 + 16);
	/* PPI size past ppi_len, too small, offset past its size, value short. */
	h.size = 20;
	memcpy(ppi, &h, 12);
	len = packet(60, ppi, 16);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	h.size = 8;
	memcpy(ppi, &h, 12);
	len = packet(60, ppi, 16);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	h.size = 16;
	h.ppi_offset = 17;
	memcpy(ppi, &h, 12);
	len = packet(60, ppi, 16);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	h.ppi_offset = 14;                              /* 2 bytes of value */
	memcpy(ppi, &h, 12);
	len = packet(60, ppi, 16);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	/* Data past msg_len, offsets that wrap, a runt, a giant. */
	len = packet(60, NULL, 0);
	put32(buf + 12, 61);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	put32(buf + 12, 60);
	put32(buf + 8, 0xFFFFFFF0u);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	put32(buf + 8, 8);                              /* data inside the header */
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	len = packet(10, NULL, 0);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	len = packet(1500 + 18 + 1, NULL, 0);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	len = packet(60, NULL, 0);
	put32(buf + 28, 36);                            /* ppi_offset */
	put32(buf + 32, 0xFFFFFFFFu);                   /* ppi_len */
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	/* LSOv2: mss 1448, TCP at 34, IPv4; larger than the MTU is fine. */
	h = (struct rndis_ppi){ 16, RNDIS_PPI_LSO, 12 };
	memcpy(ppi, &h, 12);
	put32(ppi + 12, 1448u | 34u << 20 | 1u << 30);
	len = packet(3000, ppi, 16);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.verdict, RNDIS_DATA);
	ck_assert(d.frame.has_lso);
	ck_assert_uint_eq(d.frame.lso_mss, 1448);
	ck_assert_uint_eq(d.frame.lso_tcp_off, 34);
	ck_assert(!d.frame.lso_ipv6);
	/* LSOv1 (not offered), a tiny mss, a TCP offset past the frame. */
	put32(ppi + 12, 1448u | 34u << 20);
	len = packet(3000, ppi, 16);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_UNSUPPORTED);
	ck_assert_int_eq(d.verdict, RNDIS_DROP);
	put32(ppi + 12, 8u | 34u << 20 | 1u << 30);
	len = packet(3000, ppi, 16);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	put32(ppi + 12, 1448u | 1000u << 20 | 1u << 30);
	len = packet(200, ppi, 16);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	/* Before INIT (or after HALT). */
	rndis_init(&R, mac, 1500, 1);
	len = packet(60, NULL, 0);
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_WRONG_STATE);
}
END_TEST

START_TEST(test_rndis_build)
{
	uint8_t b[64];

	ck_assert_uint_eq(rndis_build_packet(b, 100), 44);
	ck_assert_uint_eq(get32(b), RNDIS_MSG_PACKET);
	ck_assert_uint_eq(get32(b + 4), 144);
	ck_assert_uint_eq(get32(b + 8), 36);
	ck_assert_uint_eq(get32(b + 12), 100);
	/* With the receive checksum PPI: one 16-byte element at 36 (from
	 * byte 8), the frame after it, as Linux's rndis_get_ppi() reads it. */
	ck_assert_uint_eq(rndis_build_packet_csum(b, 100, RNDIS_CSUM_RX_TCP_OK), 60);
	ck_assert_uint_eq(get32(b + 4), 160);
	ck_assert_uint_eq(get32(b + 8), 52);                  /* data offset */
	ck_assert_uint_eq(get32(b + 12), 100);
	ck_assert_uint_eq(get32(b + 28), 36);                 /* ppi offset */
	ck_assert_uint_eq(get32(b + 32), 16);                 /* ppi length */
	ck_assert_uint_eq(get32(b + 44), 16);                 /* element size */
	ck_assert_uint_eq(get32(b + 48), RNDIS_PPI_CHECKSUM);
	ck_assert_uint_eq(get32(b + 52), 12);
	ck_assert_uint_eq(get32(b + 56), RNDIS_CSUM_RX_TCP_OK);
	ck_assert_uint_eq(rndis_build_packet_csum(b, 100, 0), 44);
	ck_assert_uint_eq(rndis_build_indicate(b, RNDIS_STATUS_MEDIA_DISCONNECT), 20);
	ck_assert_uint_eq(get32(b), RNDIS_MSG_INDICATE);
	ck_assert_uint_eq(get32(b + 8), RNDIS_STATUS_MEDIA_DISCONNECT);
}
END_TEST

/* One's-complement sum of big-endian 16-bit words. */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)sum;
}

START_TEST(test_csum_offload)
{
	/* An IPv4/TCP frame as netvsc hands it over with CHECKSUM_PARTIAL:
	 * the TCP checksum field holds the pseudo-header sum. */
	uint8_t f[14 + 20 + 20 + 101], ppi[16];
	uint32_t tcp_len = 20 + 101, ps, len;
	struct rndis_ppi h = { 16, RNDIS_PPI_CHECKSUM, 12 };
	struct rndis_decision d;
	uint8_t caps[256];

	memset(f, 0, sizeof(f));
	f[12] = 0x08;
	f[14] = 0x45;
	f[23] = 6;                                      /* TCP */
	memcpy(f + 26, "\x0a\xd5\x00\x02\x0a\xd5\x00\x01", 8);
	f[14 + 20 + 12] = 0x50;
	for (uint32_t i = 0; i < 101; i++)
		f[54 + i] = (uint8_t)(i * 13 + 1);
	ps = sum16(f + 26, 8, 0) + 6 + tcp_len;
	f[34 + 16] = (uint8_t)(fold(ps) >> 8);
	f[34 + 17] = (uint8_t)fold(ps);
	ck_assert_int_eq(net_csum_complete(f, sizeof(f), 34, 16, false), 0);
	/* Valid: pseudo header + segment sums to 0xFFFF. */
	ck_assert_uint_eq(fold(sum16(f + 34, tcp_len, sum16(f + 26, 8, 0) + 6 + tcp_len)), 0xFFFF);
	/* And the receive side's verifier agrees, and catches a flipped bit,
	 * a fragment, a total length past the frame. */
	f[16] = 0;
	f[17] = (uint8_t)(20 + tcp_len);
	ck_assert_int_eq(net_csum_verify(f, sizeof(f)), NET_CSUM_TCP);
	f[60] ^= 1;
	ck_assert_int_eq(net_csum_verify(f, sizeof(f)), 0);
	f[60] ^= 1;
	f[20] = 0x20;                                   /* MF */
	ck_assert_int_eq(net_csum_verify(f, sizeof(f)), 0);
	f[20] = 0;
	f[17]++;
	ck_assert_int_eq(net_csum_verify(f, sizeof(f)), 0);
	f[17]--;
	ck_assert_int_eq(net_csum_verify(f, 40), 0);
	ck_assert_int_eq(net_csum_verify(f, sizeof(f)), NET_CSUM_TCP);
	/* The field outside the frame. */
	ck_assert_int_eq(net_csum_complete(f, sizeof(f), sizeof(f) - 1, 0, false), -EINVAL);
	ck_assert_int_eq(net_csum_complete(f, sizeof(f), 34, sizeof(f), false), -EINVAL);
	ck_assert_int_eq(net_csum_complete(f, sizeof(f), SIZE_MAX, 16, false), -EINVAL);

	/* RNDIS: what is advertised, and the checksum PPI checked. */
	rndis_up(1);
	query(RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, 0, &d);
	ck_assert(query_ok(&d, &len));
	memcpy(caps, d.reply + 24, len);
	ck_assert_uint_eq(get32(caps + NDIS_OFFLOAD_IP4_TXCSUM) & 0x14, 0x14); /* ALL_TCP4 */
	ck_assert_uint_eq(get32(caps + NDIS_OFFLOAD_IP6_TXCSUM) & 0x15, 0x15); /* ALL_TCP6 */
	memcpy(ppi, &h, 12);
	put32(ppi + 12, RNDIS_CSUM_TX_IPV4 | RNDIS_CSUM_TX_TCP | 34u << 16);
	len = packet(sizeof(f), ppi, sizeof(ppi));
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.verdict, RNDIS_DATA);
	ck_assert(d.frame.csum_needed);
	ck_assert_uint_eq(d.frame.csum_start, 34);
	ck_assert_uint_eq(d.frame.csum_offset, 16);
	/* Transport offset past the frame, inside the Ethernet header, both
	 * TCP and UDP. */
	put32(ppi + 12, RNDIS_CSUM_TX_IPV4 | RNDIS_CSUM_TX_TCP | 1000u << 16);
	len = packet(sizeof(f), ppi, sizeof(ppi));
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	put32(ppi + 12, RNDIS_CSUM_TX_IPV4 | RNDIS_CSUM_TX_UDP | 4u << 16);
	len = packet(sizeof(f), ppi, sizeof(ppi));
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
	put32(ppi + 12, RNDIS_CSUM_TX_TCP | RNDIS_CSUM_TX_UDP | 34u << 16);
	len = packet(sizeof(f), ppi, sizeof(ppi));
	rndis_dispatch(&R, buf, len, &d);
	ck_assert_int_eq(d.fault, NETVSP_FAULT_MALFORMED);
}
END_TEST

struct seg_log {
	unsigned int n;
	uint8_t seg[8][2048];
	size_t len[8];
};

static int seg_collect(void *opaque, const uint8_t *hdr, size_t hlen, const uint8_t *payload,
		       size_t plen)
{
	struct seg_log *l = opaque;

	ck_assert_uint_lt(l->n, 8);
	ck_assert_uint_le(hlen + plen, sizeof(l->seg[0]));
	memcpy(l->seg[l->n], hdr, hlen);
	memcpy(l->seg[l->n] + hlen, payload, plen);
	l->len[l->n++] = hlen + plen;
	return 0;
}

/* A frame as netvsc sends it with LSO: IPv4 total length and checksum 0. */
static size_t lso_frame(uint8_t *f, size_t payload, bool ipv6)
{
	size_t ip = 14, tcp = ipv6 ? 54 : 34;

	memset(f, 0, tcp + 20 + payload);
	f[12] = ipv6 ? 0x86 : 0x08;
	f[13] = ipv6 ? 0xDD : 0x00;
	if (ipv6) {
		f[ip] = 0x60;
		f[ip + 6] = 6;
		f[ip + 7] = 64;
		for (int i = 0; i < 32; i++)
			f[ip + 8 + i] = (uint8_t)(i + 1);
	} else {
		f[ip] = 0x45;
		f[ip + 4] = 0x12;                        /* id 0x1234 */
		f[ip + 5] = 0x34;
		f[ip + 8] = 64;
		f[ip + 9] = 6;
		memcpy(f + ip + 12, "\x0a\xd5\x00\x02\x0a\xd5\x00\x01", 8);
	}
	put32(f + tcp + 4, 0x01000000);                 /* seq 1 (big-endian bytes) */
	f[tcp + 12] = 0x50;
	f[tcp + 13] = 0x80 | 0x10 | 0x08 | 0x01;        /* CWR ACK PSH FIN */
	for (size_t i = 0; i < payload; i++)
		f[tcp + 20 + i] = (uint8_t)(i * 7 + 3);
	return tcp + 20 + payload;
}

START_TEST(test_tso_segment)
{
	static uint8_t f[4096];
	static struct seg_log l;
	size_t len = lso_frame(f, 2500, false);

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(net_tso_segment(f, len, 34, 1000, false, seg_collect, &l), 3);
	for (unsigned int i = 0; i < 3; i++) {
		const uint8_t *s = l.seg[i];
		size_t plen = i < 2 ? 1000 : 500;
		uint32_t seq = (uint32_t)s[38] << 24 | s[39] << 16 | s[40] << 8 | s[41];

		ck_assert_uint_eq(l.len[i], 54 + plen);
		ck_assert_uint_eq(s[16] << 8 | s[17], 40 + plen);        /* total length */
		ck_assert_uint_eq(s[18] << 8 | s[19], 0x1234 + i);       /* id */
		ck_assert_uint_eq(fold(sum16(s + 14, 20, 0)), 0xFFFF);   /* IP checksum */
		ck_assert_uint_eq(seq, 0x00000001u + 1000 * i);
		ck_assert_uint_eq(s[47] & 0x80, i == 0 ? 0x80 : 0);      /* CWR first */
		ck_assert_uint_eq(s[47] & 0x09, i == 2 ? 0x09 : 0);      /* FIN PSH last */
		ck_assert_uint_eq(fold(sum16(s + 34, 20 + plen, sum16(s + 26, 8, 0) + 6 + 20 + plen)),
				  0xFFFF);                                    /* TCP checksum */
		ck_assert_mem_eq(s + 54, f + 54 + 1000 * i, plen);
	}
	/* IPv6. */
	len = lso_frame(f, 1500, true);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(net_tso_segment(f, len, 54, 1440, true, seg_collect, &l), 2);
	ck_assert_uint_eq(l.seg[1][18] << 8 | l.seg[1][19], 20 + 60);  /* payload length */
	ck_assert_uint_eq(fold(sum16(l.seg[1] + 54, 80, sum16(l.seg[1] + 22, 32, 0) + 6 + 80)), 0xFFFF);
	/* Refused: a tiny mss, the TCP offset not after the IP header, not
	 * TCP, the wrong IP version, too many segments, headers past the end. */
	len = lso_frame(f, 2500, false);
	ck_assert_int_eq(net_tso_segment(f, len, 34, 8, false, seg_collect, &l), -EINVAL);
	ck_assert_int_eq(net_tso_segment(f, len, 38, 1000, false, seg_collect, &l), -EINVAL);
	ck_assert_int_eq(net_tso_segment(f, len, 34, 1000, true, seg_collect, &l), -EINVAL);
	ck_assert_int_eq(net_tso_segment(f, 40, 34, 1000, false, seg_collect, &l), -EINVAL);
	f[23] = 17;
	ck_assert_int_eq(net_tso_segment(f, len, 34, 1000, false, seg_collect, &l), -EINVAL);
	f[23] = 6;
	f[46] = 0xF0;                                   /* 60-byte TCP header */
	ck_assert_int_eq(net_tso_segment(f, 80, 34, 1000, false, seg_collect, &l), -EINVAL);
	{
		static uint8_t big[80000];
		size_t blen = lso_frame(big, 72000, false);

		ck_assert_int_eq(net_tso_segment(big, blen, 34, 64, false, seg_collect, &l), -E2BIG);
	}
}
END_TEST

/* The LSO frame made whole for a backend that segments (vnet headers). */
START_TEST(test_tso_prepare)
{
	static uint8_t f[4096];
	struct net_offload o;
	size_t len = lso_frame(f, 2500, false);

	f[34 + 16] = 0xAB;                              /* the guest's value: not trusted */
	ck_assert_int_eq(net_tso_prepare(f, len, 34, 1000, false, &o), 0);
	ck_assert_uint_eq(f[16] << 8 | f[17], 20 + 20 + 2500);   /* total length */
	ck_assert_uint_eq(fold(sum16(f + 14, 20, 0)), 0xFFFF);   /* IP checksum */
	ck_assert(o.csum);
	ck_assert_uint_eq(o.csum_start, 34);
	ck_assert_uint_eq(o.csum_offset, 16);
	ck_assert_int_eq(o.gso, NET_GSO_TCPV4);
	ck_assert_uint_eq(o.gso_size, 1000);
	ck_assert_uint_eq(o.hdr_len, 54);
	ck_assert(o.gso_ecn);                           /* CWR set */
	/* Completing the field over the whole TCP segment gives its valid
	 * checksum: the field held the pseudo-header sum with the length. */
	ck_assert_int_eq(net_csum_complete(f, len, 34, 16, false), 0);
	ck_assert_uint_eq(fold(sum16(f + 34, 20 + 2500, sum16(f + 26, 8, 0) + 6 + 20 + 2500)), 0xFFFF);
	/* One segment's worth: checksum only, no GSO (the kernel refuses it). */
	len = lso_frame(f, 900, false);
	ck_assert_int_eq(net_tso_prepare(f, len, 34, 1000, false, &o), 0);
	ck_assert(o.csum);
	ck_assert_int_eq(o.gso, NET_GSO_NONE);
	/* IPv6: the payload length. */
	len = lso_frame(f, 3000, true);
	ck_assert_int_eq(net_tso_prepare(f, len, 54, 1440, true, &o), 0);
	ck_assert_uint_eq(f[18] << 8 | f[19], 20 + 3000);
	ck_assert_int_eq(o.gso, NET_GSO_TCPV6);
	ck_assert_int_eq(net_csum_complete(f, len, 54, 16, false), 0);
	ck_assert_uint_eq(fold(sum16(f + 54, 3020, sum16(f + 22, 32, 0) + 6 + 3020)), 0xFFFF);
	/* Refused as net_tso_segment refuses. */
	len = lso_frame(f, 2500, false);
	ck_assert_int_eq(net_tso_prepare(f, len, 34, 8, false, &o), -EINVAL);
	ck_assert_int_eq(net_tso_prepare(f, len, 38, 1000, false, &o), -EINVAL);
	ck_assert_int_eq(net_tso_prepare(f, len, 34, 1000, true, &o), -EINVAL);
	ck_assert_int_eq(net_tso_prepare(f, 40, 34, 1000, false, &o), -EINVAL);
	f[23] = 17;
	ck_assert_int_eq(net_tso_prepare(f, len, 34, 1000, false, &o), -EINVAL);
}
END_TEST

static Suite *netvsp_proto_suite(void)
{
	Suite *s = suite_create("netvsp_proto");
	TCase *tc = tcase_create("proto");

	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_every_version);
	tcase_add_test(tc, test_version_refused_and_gated);
	tcase_add_test(tc, test_subchannels);
	tcase_add_test(tc, test_short_and_unknown);
	tcase_add_test(tc, test_rndis_pkt_sections);
	tcase_add_test(tc, test_rndis_probe_sequence);
	tcase_add_test(tc, test_rndis_rss);
	tcase_add_test(tc, test_rndis_bad_requests);
	tcase_add_test(tc, test_rndis_packet);
	tcase_add_test(tc, test_rndis_build);
	tcase_add_test(tc, test_csum_offload);
	tcase_add_test(tc, test_tso_segment);
	tcase_add_test(tc, test_tso_prepare);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(netvsp_proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
