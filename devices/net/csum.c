/* SPDX-License-Identifier: MIT */
/* net: the Internet checksum (RFC 1071) for checksums a guest offloads. */
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
