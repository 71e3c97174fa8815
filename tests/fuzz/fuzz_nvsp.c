/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes NVSP (devices/netvsp/nvsp.c) and, behind it, RNDIS
 * (devices/netvsp/rndis.c): exactly what netvsp_handle_packet() runs on
 * each guest packet, minus guest memory.  The input is a sequence of
 * packets, so every NVSP state and version is reached:
 *
 *   byte 0          max subchannels (low 4 bits)
 *   then records:   u8 packet-type selector, u8 flags (bit 0 completion
 *                   asked, bit 1 on a subchannel), u8 payload length,
 *                   payload; when NVSP decides "RNDIS", u16 length and the
 *                   RNDIS message bytes (the section or GPA-direct buffer)
 *
 * Every payload lives in its own allocation of its exact size, so a read
 * past it hits ASan.  tests/fuzz/corpus/nvsp/cve_2021_28476 has the shape
 * of the vmswitch bug: NVSP 107 (0x6B), channel type 1, section index
 * 0xFFFFFFFF, the RNDIS message in a GPA-direct buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/net/net.h"
#include "devices/netvsp/netvsp_internal.h"
#include "vmbusd/proto/ring.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static const uint16_t types[] = {
	VM_PKT_DATA_INBAND, VM_PKT_DATA_USING_GPA_DIRECT, VM_PKT_COMP, VM_PKT_DATA_USING_XFER_PAGES,
	VM_PKT_INVALID,
};

/* GPADL handles map to sizes the fuzzer can pick: 0 (none) to 32 MiB. */
static uint64_t fuzz_gpadl_size(void *ctx, uint32_t gpadl)
{
	return (uint64_t)(gpadl & 0x1FFF) * 4096;
}

static void check_rndis(const struct rndis_state *r, uint32_t len, const struct rndis_decision *d)
{
	CHECK((d->fault == NETVSP_FAULT_NONE) == (d->why == NULL));
	CHECK(d->consumed <= len);
	CHECK(r->state <= RNDIS_INITIALIZED);
	CHECK(r->itab_len <= NDIS_RSS_MAX_ITAB);
	for (uint32_t i = 0; i < r->itab_len; i++)
		CHECK(r->itab[i] < r->queues);
	switch (d->verdict) {
	case RNDIS_DROP:
		break;
	case RNDIS_REPLY: {
		uint32_t t, l;

		CHECK(d->reply_len >= 16 && d->reply_len <= RNDIS_REPLY_MAX);
		memcpy(&t, d->reply, 4);
		memcpy(&l, d->reply + 4, 4);
		CHECK(t & RNDIS_MSG_COMPLETION);
		CHECK(l == d->reply_len);
		break;
	}
	case RNDIS_DATA:
		CHECK(d->fault == NETVSP_FAULT_NONE);
		CHECK(d->frame.len >= 14 &&
		      d->frame.len <= (d->frame.has_lso ? 65536u + 256u : r->max_frame));
		CHECK((uint64_t)d->frame.offset + d->frame.len <= d->consumed);
		break;
	}
}


static int fuzz_emit(void *opaque, const uint8_t *hdr, size_t hlen, const uint8_t *payload,
		     size_t plen)
{
	volatile uint8_t sum = 0;

	CHECK(hlen <= NET_TSO_MAX_HDR);
	for (size_t i = 0; i < hlen; i++)
		sum += hdr[i];
	for (size_t i = 0; i < plen; i++)
		sum += payload[i];
	(void)sum;
	return 0;
}

static void fuzz_rndis_one(struct rndis_state *r, const uint8_t *data, uint32_t len)
{
	struct rndis_decision d;
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return;
	memcpy(copy, data, len);
	rndis_dispatch(r, copy, len, &d);
	check_rndis(r, len, &d);
	if (d.verdict == RNDIS_DATA) {
		/* The device reads the frame: touch every byte. */
		volatile uint8_t sum = 0;

		for (uint32_t i = 0; i < d.frame.len; i++)
			sum += copy[d.frame.offset + i];
		(void)sum;
		/* The device segments LSO frames ... */
		if (d.frame.has_lso)
			net_tso_segment(copy + d.frame.offset, d.frame.len, d.frame.lso_tcp_off,
					d.frame.lso_mss, d.frame.lso_ipv6, fuzz_emit, NULL);
		/* ... and completes an offloaded checksum in place. */
		if (d.frame.csum_needed)
			CHECK(net_csum_complete(copy + d.frame.offset, d.frame.len, d.frame.csum_start,
						d.frame.csum_offset, d.frame.csum & RNDIS_CSUM_TX_UDP) == 0);
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x00, 0x15, 0x5d, 1, 2, 3 };
	struct nvsp_proto p;
	struct rndis_state r;
	size_t pos = 1;

	if (size < 1)
		return 0;
	nvsp_proto_init(&p, 1500, data[0] & 0xF);
	rndis_init(&r, mac, 1500, (uint16_t)((data[0] & 0xF) + 1));
	while (pos + 3 <= size) {
		struct nvsp_input in = { 0 };
		struct nvsp_decision d;
		uint8_t sel = data[pos], flags = data[pos + 1], len = data[pos + 2];
		uint8_t *payload;

		pos += 3;
		if (len > size - pos)
			len = (uint8_t)(size - pos);
		payload = malloc(len ? len : 1);
		if (!payload)
			return 0;
		memcpy(payload, data + pos, len);
		pos += len;
		in.pkt_type = types[sel % (sizeof(types) / sizeof(types[0]))];
		in.want_completion = flags & 1;
		in.primary = !(flags & 2);
		in.data = payload;
		in.len = len;
		in.gpadl_size = fuzz_gpadl_size;
		nvsp_dispatch(&p, &in, &d);
		free(payload);

		CHECK((d.fault == NETVSP_FAULT_NONE) == (d.why == NULL));
		CHECK(!d.reply || in.want_completion);
		CHECK(p.state <= NVSP_READY);
		CHECK(p.version == 0 || nvsp_version_supported(p.version));
		CHECK(p.subchannels <= p.max_subchannels);
		CHECK(!p.recv_buf || (p.recv_section_size >= NETVSP_MIN_SECTION &&
				      (uint64_t)p.recv_section_size * p.recv_sections <=
				      fuzz_gpadl_size(NULL, p.recv_gpadl)));
		CHECK(!p.send_buf || (uint64_t)p.send_section_size * p.send_sections <=
				      fuzz_gpadl_size(NULL, p.send_gpadl));
		switch (d.verdict) {
		case NVSP_RNDIS: {
			uint16_t rlen = 0;

			CHECK(d.rndis.section_index == NVSP_SECTION_NONE ||
			      (p.send_buf && d.rndis.section_index < p.send_sections &&
			       d.rndis.section_size <= p.send_section_size));
			CHECK(d.rndis.section_index != NVSP_SECTION_NONE ||
			      in.pkt_type == VM_PKT_DATA_USING_GPA_DIRECT);
			if (pos + 2 <= size) {
				memcpy(&rlen, data + pos, 2);
				pos += 2;
			}
			if (rlen > size - pos)
				rlen = (uint16_t)(size - pos);
			r.nvsp_version = p.version;
			fuzz_rndis_one(&r, data + pos, rlen);
			pos += rlen;
			break;
		}
		case NVSP_SUBCHANNELS:
			CHECK(in.primary && p.version >= NVSP_PROTOCOL_VERSION_5);
			CHECK(d.subchannels <= p.max_subchannels);
			break;
		case NVSP_RX_DONE:
			CHECK(in.pkt_type == VM_PKT_COMP);
			break;
		default:
			break;
		}
	}
	return 0;
}
