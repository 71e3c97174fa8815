/* SPDX-License-Identifier: MIT */
/*
 * net: TCP segmentation of a large frame a guest hands over with LSO (the
 * NIC's job it offloaded), so that every backend gets frames of at most
 * headers + MSS with valid IPv4/IPv6 lengths and TCP checksums.
 *
 * The input is the guest's frame as Linux's netvsc sends it (facts §9.4):
 * IPv4 total length and header checksum 0, or IPv6 payload length 0; the
 * TCP checksum holding a pseudo-header sum that we do not trust (every
 * segment's checksum is computed from scratch).  Each segment copies the
 * Ethernet, IP and TCP headers, then: IPv4 total length, id + i, header
 * checksum; IPv6 payload length; TCP sequence number + offset, FIN and PSH
 * only on the last segment, CWR only on the first, the checksum.
 */
#include <errno.h>
#include <string.h>

#include "core/util.h"
#include "devices/net/net.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t sum_bytes(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += rd16(p + i);
	if (i < len)
		sum += (uint32_t)p[i] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)sum;
}

/* The frame is Ethernet + IPv4/IPv6 + TCP at tcp_off as LSO needs; its
 * TCP header length, or 0. */
static size_t tso_check(const uint8_t *frame, size_t len, size_t tcp_off, uint32_t mss, bool ipv6)
{
	size_t ip_off = 14, thl;
	uint16_t ethertype;

	if (len < 14 || mss < NET_TSO_MIN_MSS)
		return 0;
	ethertype = rd16(frame + 12);
	if (ethertype != (ipv6 ? 0x86DD : 0x0800))
		return 0;
	if (tcp_off < ip_off + (ipv6 ? 40u : 20u) || tcp_off + 20 > len)
		return 0;
	if (!ipv6 && ((frame[ip_off] >> 4) != 4 || (size_t)(frame[ip_off] & 0xF) * 4 != tcp_off - ip_off ||
		      frame[ip_off + 9] != 6))
		return 0;
	if (ipv6 && ((frame[ip_off] >> 4) != 6 || (tcp_off == ip_off + 40 && frame[ip_off + 6] != 6)))
		return 0;
	thl = (size_t)(frame[tcp_off + 12] >> 4) * 4;
	if (thl < 20 || tcp_off + thl > len || tcp_off + thl > NET_TSO_MAX_HDR)
		return 0;
	return thl;
}

int net_tso_segment(const uint8_t *frame, size_t len, size_t tcp_off, uint32_t mss, bool ipv6,
		    net_tso_emit_fn emit, void *opaque)
{
	uint8_t hdr[NET_TSO_MAX_HDR];
	size_t ip_off = 14, thl, hlen, payload, off;
	uint32_t seq, i, nseg;
	uint16_t id = 0;
	uint8_t flags;

	if (!(thl = tso_check(frame, len, tcp_off, mss, ipv6)))
		return -EINVAL;
	hlen = tcp_off + thl;
	payload = len - hlen;
	nseg = payload ? (uint32_t)((payload + mss - 1) / mss) : 1;
	if (nseg > NET_TSO_MAX_SEGS)
		return -E2BIG;
	seq = (uint32_t)frame[tcp_off + 4] << 24 | (uint32_t)frame[tcp_off + 5] << 16 |
	      (uint32_t)frame[tcp_off + 6] << 8 | frame[tcp_off + 7];
	flags = frame[tcp_off + 13];
	if (!ipv6)
		id = rd16(frame + ip_off + 4);
	for (i = 0, off = 0; i < nseg; i++) {
		size_t chunk = payload - off < mss ? payload - off : mss;
		uint32_t s = seq + (uint32_t)off, sum;
		size_t tcp_len = thl + chunk;
		uint8_t *th = hdr + tcp_off;
		int rc;

		memcpy(hdr, frame, hlen);
		if (!ipv6) {
			wr16(hdr + ip_off + 2, (uint16_t)(tcp_off - ip_off + tcp_len));
			wr16(hdr + ip_off + 4, (uint16_t)(id + i));
			wr16(hdr + ip_off + 10, 0);
			wr16(hdr + ip_off + 10, (uint16_t)~fold(sum_bytes(hdr + ip_off, tcp_off - ip_off, 0)));
			/* Pseudo header: addresses, protocol, TCP length. */
			sum = sum_bytes(hdr + ip_off + 12, 8, 0) + 6 + (uint32_t)tcp_len;
		} else {
			wr16(hdr + ip_off + 4, (uint16_t)(tcp_off - ip_off - 40 + tcp_len));
			sum = sum_bytes(hdr + ip_off + 8, 32, 0) + 6 + (uint32_t)tcp_len;
		}
		th[4] = (uint8_t)(s >> 24);
		th[5] = (uint8_t)(s >> 16);
		th[6] = (uint8_t)(s >> 8);
		th[7] = (uint8_t)s;
		th[13] = flags;
		if (i + 1 < nseg)
			th[13] &= (uint8_t)~0x09;  /* FIN, PSH: last segment only */
		if (i > 0)
			th[13] &= (uint8_t)~0x80;  /* CWR: first segment only */
		wr16(th + 16, 0);
		sum = sum_bytes(th, thl, sum);
		sum = sum_bytes(frame + hlen + off, chunk, sum);
		wr16(th + 16, (uint16_t)~fold(sum));
		rc = emit(opaque, hdr, hlen, frame + hlen + off, chunk);
		if (rc)
			return rc;
		off += chunk;
	}
	return (int)nseg;
}

int net_tso_prepare(uint8_t *frame, size_t len, size_t tcp_off, uint32_t mss, bool ipv6,
		    struct net_offload *o)
{
	size_t ip_off = 14, thl, tcp_len;
	uint32_t sum;

	if (!(thl = tso_check(frame, len, tcp_off, mss, ipv6)) || len > 65535 + 14)
		return -EINVAL;
	tcp_len = len - tcp_off;
	if (!ipv6) {
		if (tcp_off - ip_off + tcp_len > 0xFFFF)
			return -EINVAL;
		wr16(frame + ip_off + 2, (uint16_t)(tcp_off - ip_off + tcp_len));
		wr16(frame + ip_off + 10, 0);
		wr16(frame + ip_off + 10, (uint16_t)~fold(sum_bytes(frame + ip_off, tcp_off - ip_off, 0)));
		sum = sum_bytes(frame + ip_off + 12, 8, 0) + 6 + (uint32_t)tcp_len;
	} else {
		if (tcp_off - ip_off - 40 + tcp_len > 0xFFFF)
			return -EINVAL;
		wr16(frame + ip_off + 4, (uint16_t)(tcp_off - ip_off - 40 + tcp_len));
		sum = sum_bytes(frame + ip_off + 8, 32, 0) + 6 + (uint32_t)tcp_len;
	}
	/* Not inverted: the partial sum the checksum completion starts from. */
	wr16(frame + tcp_off + 16, fold(sum));
	memset(o, 0, sizeof(*o));
	o->csum = true;
	o->csum_start = (uint16_t)tcp_off;
	o->csum_offset = 16;
	o->hdr_len = (uint16_t)(tcp_off + thl);
	/* The kernel refuses a GSO frame that is one segment or less. */
	if (len - tcp_off - thl > mss) {
		o->gso = ipv6 ? NET_GSO_TCPV6 : NET_GSO_TCPV4;
		o->gso_size = (uint16_t)MIN(mss, 0xFFFFu);
		o->gso_ecn = (frame[tcp_off + 13] & 0x80) != 0;  /* CWR */
	}
	return 0;
}
