/* SPDX-License-Identifier: MIT */
/*
 * netvsp: the device end to end over a real channel (tests/unit/
 * vmbus_harness.h plays the guest's ring side) with a dgram backend whose
 * peer socket the test holds: NVSP init, buffers, RNDIS control through
 * GPA-direct pages (header crossing a page) and send sections, frames both
 * ways, link indications, and CVE-2021-28476-shaped packets.  The pure
 * protocols are test_netvsp_proto's.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "devices/net/net.h"
#include "devices/netvsp/netvsp_internal.h"
#include "devices/registry.h"
#include "vmbus_harness.h"

#define CFG_DGRAM "{\"mac\": \"00:15:5d:12:34:56\", \"mtu\": 1500, \"queues\": 1, " \
	"\"backend\": {\"kind\": \"dgram\", \"local\": \"%s\", \"remote\": \"%s\"}}"
#define RECV_PAGES 64u
#define SEND_PAGES 8u
#define RECV_GPADL 0x200u
#define SEND_GPADL 0x201u

static struct event_base *base;
static struct th T;
static void *dev;
static struct tg_chan C;
static char sock_a[64], sock_b[64];
static int peer = -1;
static uint64_t recv_gpa, send_gpa, page_gpa;
static uint32_t section_size, sub_alloc;

static int ctl_status = -1;
static json_t *ctl_result;

static void ctl_done(void *cookie, int status, json_t *result)
{
	ctl_status = status;
	json_decref(ctl_result);
	ctl_result = result;
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

static void set_link(bool up)
{
	json_t *args = json_pack("{s:b}", "up", up);

	ctl_status = -1;
	ck_assert_int_eq(netvsp_ops.control(dev, "link", args, ctl_done, NULL, NULL), 0);
	ck_assert_int_eq(ctl_status, 0);
	json_decref(args);
}

static void device_setup(void)
{
	struct vmbus_server_config vcfg = { 0 };
	struct json_err err = { "" };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char text[512];
	json_error_t jerr;
	json_t *cfg;
	int rc;

	snprintf(sock_a, sizeof(sock_a), "/tmp/tnv_%d_a.sock", (int)getpid());
	snprintf(sock_b, sizeof(sock_b), "/tmp/tnv_%d_b.sock", (int)getpid());
	unlink(sock_b);
	peer = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(peer, 0);
	memcpy(sa.sun_path, sock_b, strlen(sock_b));
	ck_assert_int_eq(bind(peer, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(th_init(&T, 2, 0), 0);
	vmbus_server_free(T.srv);
	base = event_base_new();
	T.srv = vmbus_server_new(T.hv, base, &vcfg);
	snprintf(text, sizeof(text), CFG_DGRAM, sock_a, sock_b);
	cfg = json_loads(text, 0, &jerr);
	ck_assert_ptr_nonnull(cfg);
	rc = netvsp_ops.create(T.srv, cfg, "devices[0]", &dev, &err);
	json_decref(cfg);
	ck_assert_msg(rc == 0, "%s", err.msg);
}

static void device_teardown(void)
{
	if (dev)
		netvsp_ops.destroy(dev);
	dev = NULL;
	th_fini(&T);
	event_base_free(base);
	close(peer);
	unlink(sock_b);
	json_decref(ctl_result);
	ctl_result = NULL;
}

/* One guest packet of `type` with an optional type-specific header (its
 * first 16 bytes are replaced by the descriptor) and a 40-byte NVSP body. */
static void guest_send(uint16_t type, uint16_t flags, uint64_t tid, const void *hdr,
		       uint32_t hdr_len, const void *body, uint32_t body_len)
{
	uint8_t buf[1024];
	uint32_t total = (hdr_len + body_len + 7) & ~7u;
	struct vmpacket_descriptor d = {
		.type = type, .offset8 = (uint16_t)(hdr_len / 8), .len8 = (uint16_t)(total / 8),
		.flags = flags, .trans_id = tid,
	};
	uint64_t trailer = 0;

	memset(buf, 0, sizeof(buf));
	if (hdr_len > 16)
		memcpy(buf, hdr, hdr_len);
	memcpy(buf, &d, 16);
	memcpy(buf + hdr_len, body, body_len);
	memcpy(buf + total, &trailer, 8);
	ck_assert_int_ge(tg_write_raw(&T, &C, buf, total + 8), 0);
	th_signal(&T, 0, C.conn_id);
}

static void nvsp_send(uint16_t flags, uint64_t tid, const struct nvsp_msg *m)
{
	guest_send(VM_PKT_DATA_INBAND, flags, tid, NULL, 16, m, sizeof(*m));
}

/* Runs the loop until a host packet arrives; its length (0: none). */
static int guest_recv(uint8_t *buf, uint32_t cap, struct vmpacket_descriptor *d)
{
	int len = 0;

	for (int i = 0; i < 1000 && (len = tg_read(&T, &C, buf, cap, d)) == 0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(200);
	}
	return len;
}

static void expect_comp(uint64_t tid, uint32_t type, struct nvsp_msg *out)
{
	uint8_t buf[256];
	struct vmpacket_descriptor d;

	ck_assert_int_gt(guest_recv(buf, sizeof(buf), &d), 0);
	ck_assert_uint_eq(d.type, VM_PKT_COMP);
	ck_assert_uint_eq(d.trans_id, tid);
	memcpy(out, buf + d.offset8 * 8, sizeof(*out));
	ck_assert_uint_eq(out->type, type);
}

/* Reads one transfer-page packet; copies its RNDIS message out of the
 * receive buffer and completes it as Linux does. */
static uint32_t expect_rndis(uint8_t *msg, uint32_t cap)
{
	uint8_t buf[256];
	struct vmpacket_descriptor d;
	uint32_t off, cnt, done[2] = { NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, NVSP_STAT_SUCCESS };

	ck_assert_int_gt(guest_recv(buf, sizeof(buf), &d), 0);
	ck_assert_uint_eq(d.type, VM_PKT_DATA_USING_XFER_PAGES);
	ck_assert_uint_ge(d.offset8 * 8u, 24 + 8);
	ck_assert_uint_eq(buf[16] | buf[17] << 8, NETVSC_RECEIVE_BUFFER_ID);
	ck_assert_uint_eq(get32(buf + 20), 1);
	cnt = get32(buf + 24);
	off = get32(buf + 28);
	ck_assert_uint_le(cnt, sub_alloc);
	ck_assert_uint_le((uint64_t)off + cnt, RECV_PAGES * 4096ull);
	ck_assert_uint_eq(get32(buf + d.offset8 * 8), NVSP_MSG1_SEND_RNDIS_PKT);
	ck_assert_uint_le(cnt, cap);
	memcpy(msg, th_ptr(&T, recv_gpa + off, cnt), cnt);
	guest_send(VM_PKT_COMP, 0, d.trans_id, NULL, 16, done, sizeof(done));
	return cnt;
}

/* An RNDIS message in GPA-direct pages at `gpa` (may cross a page). */
static void rndis_gpa(uint64_t tid, uint64_t gpa, const void *msg, uint32_t len)
{
	uint8_t hdr[24 + 8 + 16];
	struct nvsp_msg m = { .type = NVSP_MSG1_SEND_RNDIS_PKT };
	uint32_t off = (uint32_t)(gpa & 4095), pages = (off + len + 4095) / 4096;

	ck_assert_uint_le(pages, 2);
	memcpy(th_ptr(&T, gpa, len), msg, len);
	memset(hdr, 0, sizeof(hdr));
	put32(hdr + 20, 1);
	put32(hdr + 24, len);
	put32(hdr + 28, off);
	for (uint32_t i = 0; i < pages; i++) {
		uint64_t pfn = (gpa >> 12) + i;

		memcpy(hdr + 32 + 8 * i, &pfn, 8);
	}
	m.rndis_pkt.channel_type = NVSP_CHANNEL_CONTROL;
	m.rndis_pkt.section_index = NVSP_SECTION_NONE;
	guest_send(VM_PKT_DATA_USING_GPA_DIRECT, 1, tid, hdr, 32 + 8 * pages, &m, sizeof(m));
}

/* An RNDIS message in send section `idx`. */
static void rndis_section(uint64_t tid, uint32_t idx, uint32_t chan, const void *msg, uint32_t len)
{
	struct nvsp_msg m = { .type = NVSP_MSG1_SEND_RNDIS_PKT };

	memcpy(th_ptr(&T, send_gpa + (uint64_t)idx * section_size, len), msg, len);
	m.rndis_pkt.channel_type = chan;
	m.rndis_pkt.section_index = idx;
	m.rndis_pkt.section_size = len;
	nvsp_send(1, tid, &m);
}

/* Linux's netvsc_connect_vsp + rndis INIT; leaves the NIC initialized. */
static void guest_bring_up(uint32_t version)
{
	struct vmbus_msg_offer_channel offers[4];
	struct nvsp_msg m, r;
	struct rndis_init_req init = { { RNDIS_MSG_INIT, sizeof(init) }, 1, 1, 0, 0x4000 };
	uint8_t msg[256];

	ck_assert_int_eq(th_connect(&T, VMBUS_VERSION_WIN10_V5_2), 1);
	ck_assert_int_eq(th_request_offers(&T, offers, 4), 1);
	ck_assert_int_eq(tg_open(&T, &C, offers[0].child_relid, 0x100, 64, 64, 0, 0), 0);
	memset(&m, 0, sizeof(m));
	m.type = NVSP_MSG_INIT;
	m.init.min_ver = m.init.max_ver = version;
	nvsp_send(1, 11, &m);
	expect_comp(11, NVSP_MSG_INIT_COMPLETE, &r);
	ck_assert_uint_eq(r.init_complete.status, NVSP_STAT_SUCCESS);
	memset(&m, 0, sizeof(m));
	m.type = NVSP_MSG2_SEND_NDIS_CONFIG;
	m.ndis_config.mtu = 1514;
	nvsp_send(0, 0xFFFFFFFFFFFFFFFDull, &m);
	memset(&m, 0, sizeof(m));
	m.type = NVSP_MSG1_SEND_NDIS_VER;
	m.ndis_ver.major = 6;
	m.ndis_ver.minor = 30;
	nvsp_send(0, 0xFFFFFFFFFFFFFFFDull, &m);
	recv_gpa = th_alloc(&T, RECV_PAGES);
	ck_assert_int_eq(th_gpadl(&T, C.relid, RECV_GPADL, recv_gpa, RECV_PAGES), 0);
	memset(&m, 0, sizeof(m));
	m.type = NVSP_MSG1_SEND_RECV_BUF;
	m.send_buf.gpadl = RECV_GPADL;
	m.send_buf.id = NETVSC_RECEIVE_BUFFER_ID;
	nvsp_send(1, 12, &m);
	expect_comp(12, NVSP_MSG1_SEND_RECV_BUF_COMPLETE, &r);
	ck_assert_uint_eq(r.recv_buf_complete.status, NVSP_STAT_SUCCESS);
	ck_assert_uint_eq(r.recv_buf_complete.num_sections, 1);
	ck_assert_uint_eq(r.recv_buf_complete.offset, 0);
	sub_alloc = r.recv_buf_complete.sub_alloc_size;
	ck_assert_uint_ge(sub_alloc, 68);
	ck_assert_uint_le((uint64_t)sub_alloc * r.recv_buf_complete.num_sub_allocs, RECV_PAGES * 4096ull);
	send_gpa = th_alloc(&T, SEND_PAGES);
	ck_assert_int_eq(th_gpadl(&T, C.relid, SEND_GPADL, send_gpa, SEND_PAGES), 0);
	memset(&m, 0, sizeof(m));
	m.type = NVSP_MSG1_SEND_SEND_BUF;
	m.send_buf.gpadl = SEND_GPADL;
	nvsp_send(1, 13, &m);
	expect_comp(13, NVSP_MSG1_SEND_SEND_BUF_COMPLETE, &r);
	ck_assert_uint_eq(r.send_buf_complete.status, NVSP_STAT_SUCCESS);
	section_size = r.send_buf_complete.section_size;
	ck_assert_uint_ge(section_size, 68);
	/* RNDIS INIT with its header crossing a page boundary. */
	page_gpa = th_alloc(&T, 2);
	rndis_gpa(14, page_gpa + 4096 - 10, &init, sizeof(init));
	ck_assert_uint_eq(expect_rndis(msg, sizeof(msg)), 52);
	ck_assert_uint_eq(get32(msg), RNDIS_MSG_INIT | RNDIS_MSG_COMPLETION);
	ck_assert_uint_eq(get32(msg + 12), RNDIS_STATUS_SUCCESS);
	expect_comp(14, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, &r);
	ck_assert_uint_eq(r.rndis_pkt_complete.status, NVSP_STAT_SUCCESS);
}


START_TEST(test_device_frames_both_ways)
{
	struct rndis_oid_req q = { { RNDIS_MSG_QUERY, sizeof(q) }, 2,
				   RNDIS_OID_802_3_PERMANENT_ADDRESS, 0, 20, 0 };
	uint8_t set[sizeof(struct rndis_oid_req) + 4];
	struct rndis_oid_req s = { { RNDIS_MSG_SET, sizeof(set) }, 3,
				   RNDIS_OID_GEN_CURRENT_PACKET_FILTER, 4, 20, 0 };
	uint8_t msg[2048], frame[100], got[2048];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct nvsp_msg r;
	struct vmpacket_descriptor desc;
	json_t *st;
	ssize_t n = -1;

	device_setup();
	guest_bring_up(NVSP_PROTOCOL_VERSION_61);
	/* QUERY in a send section (as a control message). */
	rndis_section(20, 2, NVSP_CHANNEL_CONTROL, &q, sizeof(q));
	ck_assert_uint_eq(expect_rndis(msg, sizeof(msg)), 30);
	ck_assert_uint_eq(get32(msg + 16), 6);
	ck_assert_uint_eq(msg[24 + 5], 0x56);
	expect_comp(20, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, &r);
	memcpy(set, &s, sizeof(s));
	put32(set + sizeof(s), 0x0D);
	rndis_section(21, 0, NVSP_CHANNEL_CONTROL, set, sizeof(set));
	expect_rndis(msg, sizeof(msg));
	ck_assert_uint_eq(get32(msg + 12), RNDIS_STATUS_SUCCESS);
	expect_comp(21, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, &r);

	/* Guest -> backend: an RNDIS_PACKET in section 1. */
	for (uint32_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 7);
	rndis_build_packet(msg, sizeof(frame));
	memcpy(msg + 44, frame, sizeof(frame));
	rndis_section(22, 1, NVSP_CHANNEL_DATA, msg, 44 + sizeof(frame));
	expect_comp(22, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, &r);
	ck_assert_uint_eq(r.rndis_pkt_complete.status, NVSP_STAT_SUCCESS);
	for (int i = 0; i < 100 && n < 0; i++) {
		n = recv(peer, got, sizeof(got), 0);
		usleep(1000);
	}
	ck_assert_int_eq(n, (ssize_t)sizeof(frame));
	ck_assert_mem_eq(got, frame, sizeof(frame));

	/* Backend -> guest. */
	memcpy(sa.sun_path, sock_a, strlen(sock_a));
	ck_assert_int_eq(sendto(peer, frame, 60, 0, (struct sockaddr *)&sa, sizeof(sa)), 60);
	ck_assert_uint_eq(expect_rndis(msg, sizeof(msg)), 44 + 60);
	ck_assert_uint_eq(get32(msg), RNDIS_MSG_PACKET);
	ck_assert_uint_eq(get32(msg + 12), 60);
	ck_assert_mem_eq(msg + 8 + get32(msg + 8), frame, 60);

	/* A TSO frame from the backend (what a TAP with vnet headers hands
	 * over): cut into MSS segments, all in one transfer-page packet of 5
	 * ranges, each a whole frame with a valid TCP checksum marked in the
	 * checksum PPI; one completion frees every slot. */
	{
		static uint8_t big[54 + 5000];
		struct net_offload o = { .csum = true, .csum_start = 34, .csum_offset = 16,
					 .gso = NET_GSO_TCPV4, .gso_size = 1000, .hdr_len = 54 };
		uint32_t done[2] = { NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, NVSP_STAT_SUCCESS };
		uint8_t pkt[512];
		struct vmpacket_descriptor pd;

		memset(big, 0, sizeof(big));
		big[12] = 0x08;
		big[14] = 0x45;
		big[16] = (uint8_t)((20 + 20 + 5000) >> 8);
		big[17] = (uint8_t)(20 + 20 + 5000);
		big[23] = 6;
		memcpy(big + 26, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
		big[46] = 0x50;
		for (uint32_t i = 54; i < sizeof(big); i++)
			big[i] = (uint8_t)(i * 11);
		ck_assert(netvsp_backend_rx(dev, big, sizeof(big), &o));
		ck_assert_int_gt(guest_recv(pkt, sizeof(pkt), &pd), 0);
		ck_assert_uint_eq(pd.type, VM_PKT_DATA_USING_XFER_PAGES);
		ck_assert_uint_eq(get32(pkt + 20), 5);                    /* ranges */
		for (uint32_t i = 0; i < 5; i++) {
			uint32_t cnt = get32(pkt + 24 + 8 * i), off = get32(pkt + 28 + 8 * i);
			const uint8_t *m = th_ptr(&T, recv_gpa + off, cnt);

			ck_assert_uint_le(cnt, sub_alloc);
			ck_assert_uint_eq(get32(m), RNDIS_MSG_PACKET);
			ck_assert_uint_eq(get32(m + 12), 54 + 1000);          /* data_len */
			ck_assert_uint_eq(get32(m + 8 + get32(m + 28) + 4), RNDIS_PPI_CHECKSUM);
			ck_assert_uint_eq(get32(m + 8 + get32(m + 28) + 12), RNDIS_CSUM_RX_TCP_OK);
			ck_assert_int_eq(net_csum_verify(m + 8 + get32(m + 8), 54 + 1000), NET_CSUM_TCP);
			ck_assert_mem_eq(m + 8 + get32(m + 8) + 54, big + 54 + 1000 * i, 1000);
		}
		st = netvsp_ops.stats(dev);
		ck_assert_int_eq(json_integer_value(json_object_get(st, "recv_slots_free")) + 5,
				 json_integer_value(json_object_get(st, "recv_slots")));
		ck_assert_int_eq(json_integer_value(json_object_get(st, "rx_tso")), 1);
		json_decref(st);
		guest_send(VM_PKT_COMP, 0, pd.trans_id, NULL, 16, done, sizeof(done));
		for (int i = 0; i < 10; i++)
			event_base_loop(base, EVLOOP_NONBLOCK);
		st = netvsp_ops.stats(dev);
		ck_assert_int_eq(json_integer_value(json_object_get(st, "recv_slots_free")),
				 json_integer_value(json_object_get(st, "recv_slots")));
		json_decref(st);
		/* The same completion again: its slots are no longer in use. */
		guest_send(VM_PKT_COMP, 0, pd.trans_id, NULL, 16, done, sizeof(done));
		for (int i = 0; i < 10; i++)
			event_base_loop(base, EVLOOP_NONBLOCK);
		st = netvsp_ops.stats(dev);
		ck_assert_int_eq(json_integer_value(json_object_get(st, "malformed")), 1);
		json_decref(st);
	}

	/* With RSC on (the guest's OFFLOAD_PARAMETERS), the same frame goes
	 * whole, cut only to fit the sections: RNDIS_PKTINFO_ID fragments in
	 * one transfer-page packet, the checksum PPI on the first. */
	{
		static uint8_t big[54 + 5000];
		struct net_offload o = { .csum = true, .csum_start = 34, .csum_offset = 16,
					 .gso = NET_GSO_TCPV4, .gso_size = 1000, .hdr_len = 54 };
		uint32_t done[2] = { NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, NVSP_STAT_SUCCESS };
		uint8_t pkt[512], *whole = calloc(1, sizeof(big));
		struct vmpacket_descriptor pd;
		uint32_t got_len = 0, ranges;
		uint64_t ps = 0;

		memset(big, 0, sizeof(big));
		big[12] = 0x08;
		big[14] = 0x45;
		big[16] = (uint8_t)((20 + 20 + 5000) >> 8);
		big[17] = (uint8_t)(20 + 20 + 5000);
		big[23] = 6;
		memcpy(big + 26, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
		big[46] = 0x50;
		for (uint32_t i = 54; i < sizeof(big); i++)
			big[i] = (uint8_t)(i * 13);
		/* The kernel's partial checksum: the pseudo-header sum. */
		for (uint32_t i = 26; i < 34; i += 2)
			ps += (uint32_t)big[i] << 8 | big[i + 1];
		ps += 6 + 20 + 5000;
		while (ps >> 16)
			ps = (ps & 0xFFFF) + (ps >> 16);
		big[50] = (uint8_t)(ps >> 8);
		big[51] = (uint8_t)ps;
		((struct netvsp_dev *)dev)->rndis.rsc_v4 = true;
		ck_assert(netvsp_backend_rx(dev, big, sizeof(big), &o));
		((struct netvsp_dev *)dev)->rndis.rsc_v4 = false;
		ck_assert_int_gt(guest_recv(pkt, sizeof(pkt), &pd), 0);
		ranges = get32(pkt + 20);
		ck_assert_uint_ge(ranges, 2);
		for (uint32_t i = 0; i < ranges; i++) {
			uint32_t cnt = get32(pkt + 24 + 8 * i), off = get32(pkt + 28 + 8 * i);
			const uint8_t *m = th_ptr(&T, recv_gpa + off, cnt);
			const uint8_t *ppi = m + 8 + get32(m + 28);
			uint32_t nppi = get32(m + 32), flag = 0;

			ck_assert_uint_eq(get32(m), RNDIS_MSG_PACKET);
			for (uint32_t k = 0; k < nppi; k += 16)
				if (get32(ppi + k + 4) == RNDIS_PPI_PKTINFO_ID)
					flag = (get32(ppi + k + 12) >> 8) & 0xFF;
				else
					ck_assert_uint_eq(get32(ppi + k + 12) & RNDIS_CSUM_RX_TCP_OK,
							  i == 0 ? RNDIS_CSUM_RX_TCP_OK : 0);
			ck_assert_uint_eq(flag, RNDIS_PKTINFO_SUBALLOC |
						(i == 0 ? RNDIS_PKTINFO_1ST_FRAG : 0) |
						(i + 1 == ranges ? RNDIS_PKTINFO_LAST_FRAG : 0));
			memcpy(whole + got_len, m + 8 + get32(m + 8), get32(m + 12));
			got_len += get32(m + 12);
		}
		/* Joined as Linux joins them: the frame, its checksum now valid. */
		ck_assert_uint_eq(got_len, sizeof(big));
		ck_assert_int_eq(net_csum_verify(whole, got_len), NET_CSUM_TCP);
		ck_assert_mem_eq(whole + 54, big + 54, 5000);
		free(whole);
		guest_send(VM_PKT_COMP, 0, pd.trans_id, NULL, 16, done, sizeof(done));
		for (int i = 0; i < 10; i++)
			event_base_loop(base, EVLOOP_NONBLOCK);
		st = netvsp_ops.stats(dev);
		ck_assert_int_eq(json_integer_value(json_object_get(st, "rx_rsc")), 1);
		ck_assert_int_eq(json_integer_value(json_object_get(st, "recv_slots_free")),
				 json_integer_value(json_object_get(st, "recv_slots")));
		json_decref(st);
	}

	/* Link down: an INDICATE_STATUS at once (nothing told before). */
	((struct netvsp_dev *)dev)->link_interval_ns = 100000000ull; /* 2 s in real life */
	set_link(false);
	ck_assert_uint_eq(expect_rndis(msg, sizeof(msg)), 20);
	ck_assert_uint_eq(get32(msg), RNDIS_MSG_INDICATE);
	ck_assert_uint_eq(get32(msg + 8), RNDIS_STATUS_MEDIA_DISCONNECT);
	/* Flaps inside the interval are held back; at its end the guest hears
	 * the last state once (Linux applies one change per 2 s, in order). */
	set_link(true);
	set_link(false);
	set_link(true);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(tg_read(&T, &C, msg, sizeof(msg), &desc), 0);
	ck_assert_uint_eq(expect_rndis(msg, sizeof(msg)), 20);
	ck_assert_uint_eq(get32(msg + 8), RNDIS_STATUS_MEDIA_CONNECT);
	/* Down and up again inside the next interval: the guest already
	 * heard "up", so nothing is sent. */
	set_link(false);
	set_link(true);
	for (int i = 0; i < 40; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(5000);
	}
	ck_assert_int_eq(tg_read(&T, &C, msg, sizeof(msg), &desc), 0);
	/* NETWORK_CHANGE goes out at once; refused while the link is down. */
	ck_assert_int_eq(netvsp_ops.control(dev, "network_change", NULL, ctl_done, NULL, NULL), 0);
	ck_assert_int_eq(ctl_status, 0);
	ck_assert_uint_eq(expect_rndis(msg, sizeof(msg)), 20);
	ck_assert_uint_eq(get32(msg + 8), RNDIS_STATUS_NETWORK_CHANGE);
	set_link(false);
	{
		struct json_err err = { "" };

		ck_assert_int_ne(netvsp_ops.control(dev, "network_change", NULL, ctl_done, NULL, &err), 0);
		ck_assert_ptr_nonnull(strstr(err.msg, "link is down"));
	}
	ck_assert_uint_eq(expect_rndis(msg, sizeof(msg)), 20);
	ck_assert_uint_eq(get32(msg + 8), RNDIS_STATUS_MEDIA_DISCONNECT);

	st = netvsp_ops.stats(dev);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "link_changes")), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "indications")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "network_changes")), 1);
	ck_assert(json_is_false(json_object_get(st, "link_guest")));
	ck_assert_int_eq(json_integer_value(json_object_get(st, "tx_packets")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "rx_packets")), 1 + 5 + 1);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "malformed")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "recv_slots_free")),
			 json_integer_value(json_object_get(st, "recv_slots")));
	json_decref(st);
	device_teardown();
}
END_TEST

START_TEST(test_device_hostile)
{
	struct rndis_oid_req q = { { RNDIS_MSG_QUERY, sizeof(q) }, 2,
				   RNDIS_OID_802_3_PERMANENT_ADDRESS, 4, 0x7FFFFFF0u, 0 };
	struct nvsp_msg m = { .type = NVSP_MSG1_SEND_RNDIS_PKT }, r;
	uint32_t bogus_done[2] = { NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, 1 };
	uint8_t msg[256];
	json_t *st;

	device_setup();
	guest_bring_up(NVSP_PROTOCOL_VERSION_5);
	/* CVE-2021-28476's shape: NVSP 107, channel type 1, section index
	 * 0xFFFFFFFF, RNDIS in a GPA-direct buffer, a bogus info offset. */
	rndis_gpa(30, page_gpa + 4096 - 12, &q, sizeof(q));
	expect_rndis(msg, sizeof(msg));
	ck_assert_uint_eq(get32(msg + 12), RNDIS_STATUS_INVALID_DATA);
	expect_comp(30, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, &r);
	/* A section index past the send buffer, inband. */
	m.rndis_pkt.channel_type = NVSP_CHANNEL_CONTROL;
	m.rndis_pkt.section_index = 0x7FFFFFFF;
	m.rndis_pkt.section_size = 64;
	nvsp_send(1, 31, &m);
	expect_comp(31, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, &r);
	ck_assert_uint_eq(r.rndis_pkt_complete.status, NVSP_STAT_INVALID_RNDIS_PKT);
	/* A GPA-direct range outside guest RAM. */
	{
		uint8_t hdr[40];
		uint64_t pfn = 1ull << 40;

		memset(hdr, 0, sizeof(hdr));
		put32(hdr + 20, 1);
		put32(hdr + 24, 28);
		put32(hdr + 28, 0);
		memcpy(hdr + 32, &pfn, 8);
		m.rndis_pkt.section_index = NVSP_SECTION_NONE;
		guest_send(VM_PKT_DATA_USING_GPA_DIRECT, 1, 32, hdr, 40, &m, sizeof(m));
		expect_comp(32, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, &r);
		ck_assert_uint_eq(r.rndis_pkt_complete.status, NVSP_STAT_INVALID_RNDIS_PKT);
	}
	/* A completion for a receive slot never handed out. */
	guest_send(VM_PKT_COMP, 0, 77, NULL, 16, bogus_done, sizeof(bogus_done));
	/* An NVSP message shorter than its type. */
	guest_send(VM_PKT_DATA_INBAND, 1, 33, NULL, 16, &m, 2);
	expect_comp(33, NVSP_MSG1_SEND_RNDIS_PKT, &r);
	ck_assert_uint_eq(r.rndis_pkt_complete.status, NVSP_STAT_FAIL);
	/* Still serving: a good QUERY answers. */
	q.info_buflen = 0;
	q.info_buf_offset = 20;
	rndis_gpa(34, page_gpa + 100, &q, sizeof(q));
	ck_assert_uint_eq(expect_rndis(msg, sizeof(msg)), 30);
	expect_comp(34, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, &r);
	st = netvsp_ops.stats(dev);
	ck_assert_int_ge(json_integer_value(json_object_get(st, "malformed")), 4);
	json_decref(st);
	device_teardown();
}
END_TEST

START_TEST(test_device_config_errors)
{
	static const struct { const char *cfg, *key; } bad[] = {
		{ "{\"backend\": {\"kind\": \"null\"}, \"mac\": \"01:15:5d:00:00:01\"}", "devices[0].mac" },
		{ "{\"backend\": {\"kind\": \"null\"}, \"mtu\": 67}", "devices[0].mtu" },
		{ "{\"backend\": {\"kind\": \"null\"}, \"queues\": 0}", "devices[0].queues" },
		{ "{}", "devices[0].backend" },
		{ "{\"backend\": {\"kind\": \"tap\"}}", "devices[0].backend.ifname" },
		{ "{\"backend\": {\"kind\": \"null\", \"x\": 1}}", "devices[0].backend" },
		{ "{\"backend\": {\"kind\": \"dgram\", \"local\": \"/nonexistent/a\", \"remote\": \"/b\"}}",
		  "devices[0].backend.local" },
		{ "{\"backend\": {\"kind\": \"null\"}, \"capture\": \"/nonexistent/x.pcap\"}",
		  "devices[0].capture" },
	};
	struct vmbus_server_config vcfg = { 0 };

	ck_assert_int_eq(th_init(&T, 1, 0), 0);
	vmbus_server_free(T.srv);
	base = event_base_new();
	T.srv = vmbus_server_new(T.hv, base, &vcfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_err err = { "" };
		json_t *cfg = json_loads(bad[i].cfg, 0, NULL);
		void *d = NULL;

		ck_assert_ptr_nonnull(cfg);
		ck_assert_int_ne(netvsp_ops.create(T.srv, cfg, "devices[0]", &d, &err), 0);
		ck_assert_msg(strstr(err.msg, bad[i].key) != NULL, "%s: %s", bad[i].cfg, err.msg);
		json_decref(cfg);
	}
	th_fini(&T);
	event_base_free(base);
}
END_TEST

static Suite *netvsp_device_suite(void)
{
	Suite *s = suite_create("netvsp_device");
	TCase *tc = tcase_create("device");

	tcase_add_test(tc, test_device_frames_both_ways);
	tcase_add_test(tc, test_device_hostile);
	tcase_add_test(tc, test_device_config_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(netvsp_device_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
