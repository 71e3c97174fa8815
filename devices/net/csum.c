/* SPDX-License-Identifier: MIT */
/* net: the Internet checksum (RFC 1071): completing the checksums a guest
 * offloads, verifying the ones a guest receives. */
#include <errno.h>
#include <string.h>

#include "devices/net/net.h"

int net_csum_complete(uint8_t *frame, size_t len, size_t start, size_t offset, bool udp)
{
	uint64_t sum = 0;
	size_t i;
	uint16_t c;

	if (start > len || offset > len - start || len - start - offset < 2)
		return -EINVAL;
	/* Big-endian 16-bit words; an odd last byte is padded with zero. */
	for (i = start; i + 1 < len; i += 2)
		sum += (uint32_t)frame[i] << 8 | frame[i + 1];
	if (i < len)
		sum += (uint32_t)frame[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	c = (uint16_t)~sum;
	if (udp && c == 0)
		c = 0xFFFF;
	frame[start + offset] = (uint8_t)(c >> 8);
	frame[start + offset + 1] = (uint8_t)c;
	return 0;
}

static uint64_t sum_words(const uint8_t *p, size_t len, uint64_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < len)
		sum += (uint32_t)p[i] << 8;
	return sum;
}

int net_csum_verify(const uint8_t *f, size_t len)
{
	size_t ip = 14, l4, l4_len;
	uint64_t sum;
	uint8_t proto;

	if (len < 14 + 40)
		return 0;
	if (f[12] == 0x08 && f[13] == 0x00) {
		size_t ihl = (size_t)(f[ip] & 0xF) * 4, tot = (size_t)f[ip + 2] << 8 | f[ip + 3];

		if ((f[ip] >> 4) != 4 || ihl < 20 || tot < ihl || tot > len - ip ||
		    ((f[ip + 6] & 0x3F) | f[ip + 7]))  /* MF or a fragment offset */
			return 0;
		proto = f[ip + 9];
		l4 = ip + ihl;
		l4_len = tot - ihl;
		sum = sum_words(f + ip + 12, 8, 0);
	} else if (f[12] == 0x86 && f[13] == 0xDD) {
		size_t plen = (size_t)f[ip + 4] << 8 | f[ip + 5];

		if ((f[ip] >> 4) != 6 || plen > len - ip - 40)
			return 0;
		proto = f[ip + 6];
		l4 = ip + 40;
		l4_len = plen;
		sum = sum_words(f + ip + 8, 32, 0);
	} else {
		return 0;
	}
	if (proto == 6 ? l4_len < 20 : proto == 17 ? l4_len < 8 : true)
		return 0;
	if (proto == 17 && !f[l4 + 6] && !f[l4 + 7])
		return 0;  /* IPv4 UDP without a checksum (IPv6 forbids it) */
	sum = sum_words(f + l4, l4_len, sum + proto + l4_len);
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	if (sum != 0xFFFF)
		return 0;
	return proto == 6 ? NET_CSUM_TCP : NET_CSUM_UDP;
}
