/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes RNDIS (devices/netvsp/rndis.c) on its own: a sequence of messages
 * against one NIC state, the way a guest's control and data messages reach
 * rndis_dispatch() after the device copied them out of guest memory.
 *
 *   byte 0        RSS queues (low 4 bits + 1), bit 4: start initialized
 *   then records: u16 length, that many message bytes
 *
 * Each message is copied into an allocation of its exact size.  The
 * invariants are those fuzz_nvsp.c checks on the RNDIS it reaches.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/net/net.h"
#include "devices/netvsp/netvsp_internal.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static int count_seg(void *opaque, const uint8_t *hdr, size_t hlen, const uint8_t *payload,
		     size_t plen)
{
	volatile uint8_t sum = hdr[hlen - 1];

	if (plen)
		sum += payload[plen - 1];
	(void)sum;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x00, 0x15, 0x5d, 1, 2, 3 };
	struct rndis_state r;
	size_t pos = 1;

	if (size < 1)
		return 0;
	rndis_init(&r, mac, 1500, (uint16_t)((data[0] & 0xF) + 1));
	r.nvsp_version = NVSP_PROTOCOL_VERSION_61;
	if (data[0] & 0x10)
		r.state = RNDIS_INITIALIZED;
	while (pos + 2 <= size) {
		struct rndis_decision d;
		uint16_t len;
		uint8_t *msg;

		memcpy(&len, data + pos, 2);
		pos += 2;
		if (len > size - pos)
			len = (uint16_t)(size - pos);
		msg = malloc(len ? len : 1);
		if (!msg)
			return 0;
		memcpy(msg, data + pos, len);
		pos += len;
		rndis_dispatch(&r, msg, len, &d);
		CHECK((d.fault == NETVSP_FAULT_NONE) == (d.why == NULL));
		CHECK(d.consumed <= len);
		CHECK(r.itab_len <= NDIS_RSS_MAX_ITAB);
		for (uint32_t i = 0; i < r.itab_len; i++)
			CHECK(r.itab[i] < r.queues);
		if (d.verdict == RNDIS_REPLY) {
			uint32_t l;

			CHECK(d.reply_len >= 16 && d.reply_len <= RNDIS_REPLY_MAX);
			memcpy(&l, d.reply + 4, 4);
			CHECK(l == d.reply_len);
		} else if (d.verdict == RNDIS_DATA) {
			volatile uint8_t sum = 0;

			CHECK(d.frame.len >= 14 &&
			      d.frame.len <= (d.frame.has_lso ? 65536u + 256u : r.max_frame));
			CHECK((uint64_t)d.frame.offset + d.frame.len <= d.consumed);
			for (uint32_t i = 0; i < d.frame.len; i++)
				sum += msg[d.frame.offset + i];
			(void)sum;
			if (d.frame.has_lso) {
				/* Segmented into nothing: the bounds are the point. */
				int n = net_tso_segment(msg + d.frame.offset, d.frame.len,
							d.frame.lso_tcp_off, d.frame.lso_mss,
							d.frame.lso_ipv6, count_seg, NULL);

				CHECK(n < 0 || (n >= 1 && (uint32_t)n <= NET_TSO_MAX_SEGS));
				/* ... or made whole for a TAP with vnet headers (in
				 * place: after the read-only uses above). */
				{
					struct net_offload o;

					if (net_tso_prepare(msg + d.frame.offset, d.frame.len,
							    d.frame.lso_tcp_off, d.frame.lso_mss,
							    d.frame.lso_ipv6, &o) == 0)
						CHECK(o.csum && o.hdr_len <= d.frame.len &&
						      o.csum_start + o.csum_offset + 2u <= d.frame.len);
				}
			}
			/* The receive side's verifier reads any frame (a dgram peer's). */
			CHECK(net_csum_verify(msg + d.frame.offset, d.frame.len) >= 0);
			if (d.frame.csum_needed)
				CHECK(net_csum_complete(msg + d.frame.offset, d.frame.len,
							d.frame.csum_start, d.frame.csum_offset,
							d.frame.csum & RNDIS_CSUM_TX_UDP) == 0);
		}
		free(msg);
	}
	return 0;
}
