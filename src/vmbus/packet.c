/* SPDX-License-Identifier: MIT */
/*
 * Packet helpers for devices: decoding VM_PKT_DATA_USING_GPA_DIRECT into
 * host iovecs (facts §6.2) and the common send forms.
 *
 * GPA-direct layout after the 16-byte descriptor: reserved u32, rangecount
 * u32, then rangecount variable-size ranges {byte_count u32, byte_offset
 * u32, pfn[ceil((byte_offset + byte_count) / 4096)]}, all inside the
 * offset8 header.  storvsc sends one range; netvsc builds N ranges that may
 * each span pages, so the general form is parsed.  The packet is the
 * host's private copy (vmbus_chan_recv), and every page is checked against
 * guest RAM by gmem_pfns_iov.
 */
#include <errno.h>
#include <string.h>

#include "core/util.h"
#include "vmbus/vmbus_internal.h"

int vmbus_pkt_gpa_direct_iov(const struct vmbus_pkt *pkt, const struct gmem *mem,
			     struct iovec *iov, int max_iov, uint64_t *total)
{
	struct vmbus_gpa_direct_header hdr;
	uint32_t hdr_end, pos;
	uint64_t sum = 0;
	int n = 0;

	*total = 0;
	if (!pkt || !mem || pkt->type != VM_PKT_DATA_USING_GPA_DIRECT)
		return -EINVAL;
	/* The range array lives inside the offset8 header. */
	hdr_end = (uint32_t)(pkt->data - pkt->raw);
	if (hdr_end > pkt->raw_len || hdr_end < sizeof(hdr))
		return -EINVAL;
	memcpy(&hdr, pkt->raw, sizeof(hdr));
	pos = sizeof(hdr);
	for (uint32_t i = 0; i < hdr.rangecount; i++) {
		struct vmbus_gpa_direct_range range;
		uint64_t n_pfns;
		uint64_t pfns_buf[64];
		const uint64_t *pfns;
		int ret;

		if (hdr_end - pos < sizeof(range))
			return -EINVAL;
		memcpy(&range, pkt->raw + pos, sizeof(range));
		pos += sizeof(range);
		if (range.byte_offset >= GMEM_PAGE_SIZE)
			return -EINVAL;
		n_pfns = range.byte_count == 0 ? 0 :
			((uint64_t)range.byte_offset + range.byte_count + GMEM_PAGE_SIZE - 1) /
			GMEM_PAGE_SIZE;
		if (n_pfns > (hdr_end - pos) / 8)
			return -EINVAL;
		/* The copy is 8-aligned (malloc) but the array need not be. */
		if (((uintptr_t)(pkt->raw + pos) & 7) == 0) {
			pfns = (const uint64_t *)(const void *)(pkt->raw + pos);
		} else if (n_pfns <= ARRAY_SIZE(pfns_buf)) {
			memcpy(pfns_buf, pkt->raw + pos, (size_t)n_pfns * 8);
			pfns = pfns_buf;
		} else {
			return -EINVAL;
		}
		pos += (uint32_t)n_pfns * 8;
		if (range.byte_count == 0)
			continue;
		if (n >= max_iov)
			return -E2BIG;
		ret = gmem_pfns_iov(mem, pfns, (uint32_t)n_pfns, range.byte_offset,
				    range.byte_count, iov + n, max_iov - n);
		if (ret < 0)
			return ret;
		n += ret;
		sum += range.byte_count;
	}
	*total = sum;
	return n;
}

int vmbus_chan_send_inband(struct vmbus_channel *ch, uint64_t trans_id, uint16_t flags,
			   const void *data, size_t len)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };

	return vmbus_chan_send(ch, VM_PKT_DATA_INBAND, flags, trans_id, 0, &iov, len ? 1 : 0);
}

int vmbus_chan_send_comp(struct vmbus_channel *ch, uint64_t trans_id, const void *data,
			 size_t len)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };

	return vmbus_chan_send(ch, VM_PKT_COMP, 0, trans_id, 0, &iov, len ? 1 : 0);
}
