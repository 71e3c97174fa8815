/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the host side of a channel's rings: the input becomes the bytes
 * of an open channel's guest->host ring and the guest-owned words of both
 * ring headers; the host drains with vmbus_chan_recv (decoding GPA-direct
 * packets) and sends back through a ring whose read index is fuzzed too.
 *
 * Input: 24 header bytes
 *   u32 start      both rings' indices before OPENCHANNEL
 *   u32 g2h_write  the guest's write index after the bytes are placed
 *   u32 h2g_read   the guest's read index of the host->guest ring
 *   u32 h2g_mask   its interrupt_mask
 *   u32 g2h_pend   its pending_send_sz on the guest->host ring
 *   u32 sends      how many packets the host tries to send (low 5 bits)
 * then the ring data, placed from `start` on, wrapping.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "tests/unit/vmbus_harness.h"

static struct th fz;
static bool fz_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Mostly valid, sometimes unaligned or out of range, as a guest could. */
static uint32_t fz_index(uint32_t raw, uint32_t ring_size)
{
	switch (raw >> 30) {
	case 0:
	case 1:
		return (raw % ring_size) & ~7u;
	case 2:
		return raw % (ring_size + 64);
	default:
		return raw;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmbus_server_config cfg = { 0 };
	uint32_t h[6], start, sends;
	struct tg_chan c;
	static struct td d;
	struct vmbus_pkt pkt;
	int ret;

	if (!fz_ready) {
		log_set_level(LOG_ERROR);
		if (th_init(&fz, 1, 0) != 0)
			return 0;
		vmbus_server_free(fz.srv);
		fz_ready = true;
	}
	if (size < sizeof(h))
		return 0;
	memcpy(h, data, sizeof(h));
	data += sizeof(h);
	size -= sizeof(h);

	hv_partition_reset(fz.hv);
	th_synic_enable(&fz, 0);
	fz.next_alloc = TH_ALLOC_BASE;
	fz.srv = vmbus_server_new(fz.hv, NULL, &cfg);
	if (!fz.srv)
		return 0;
	if (!td_offer(&fz, &d, 1, 4096, h[5] & 0x20))
		goto out;
	th_connect(&fz, VMBUS_VERSION_WIN10_V5_3);
	th_request_offers(&fz, NULL, 0);
	start = (h[0] % (3 * 4096)) & ~7u;
	if (tg_open(&fz, &c, 1, 0xE1E10, 4, 4, 0, start) != 0)
		goto out;

	if (size > c.out.size)
		size = c.out.size;
	tg_copy_in(&c.out, start, data, (uint32_t)size);
	*TG_PEND(&c.out) = h[4];
	*TG_MASK(&c.in) = h[3] & 1;
	__atomic_store_n(TG_W(&c.out), fz_index(h[1], c.out.size), __ATOMIC_RELEASE);
	__atomic_store_n(TG_R(&c.in), fz_index(h[2], c.in.size), __ATOMIC_RELEASE);

	for (int i = 0; i < 4096; i++) {
		struct iovec iov[8];
		uint64_t total;

		ret = vmbus_chan_recv(d.ch, &pkt);
		if (ret <= 0)
			break;
		if (pkt.type == VM_PKT_DATA_USING_GPA_DIRECT)
			vmbus_pkt_gpa_direct_iov(&pkt, &fz.mem, iov, 8, &total);
	}
	sends = h[5] & 0x1F;
	for (uint32_t i = 0; i < sends; i++) {
		uint8_t buf[600];

		memset(buf, (int)i, sizeof(buf));
		ret = vmbus_chan_send_inband(d.ch, i, 1, buf, (i * 97) % sizeof(buf));
		if (ret == -EAGAIN && (i & 1))
			tg_read(&fz, &c, NULL, 0, NULL);
	}
	while (tg_read(&fz, &c, NULL, 0, NULL) > 0 && sends--)
		;
out:
	th_drain(&fz, 0);
	vmbus_server_free(fz.srv);
	fz.srv = NULL;
	return 0;
}
