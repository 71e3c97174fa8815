/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the VMBus channel server with sequences of channel messages
 * posted through HvPostMessage by a set-up guest (SynIC enabled, two
 * channels offered, optionally connected with offers delivered).
 *
 * Input: byte 0 picks the version cap and whether to connect first; then
 * records of [type u8][ctl u8][len u8][len body bytes], each posted as a
 * message whose 8-byte header carries `type` and whose body follows.
 * ctl bit 0: post on connection id 4; bit 1: leave the SIM slot full (the
 * guest does not take its messages); bit 2: the guest signals channel
 * (ctl >> 4) & 3; bit 3: the host rescinds / sends on a channel.
 * Every input runs against a fresh server; it must never crash or leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"
#include "tests/unit/vmbus_harness.h"

static struct th fz;
static bool fz_ready;

static const uint32_t fz_caps[4] = {
	0, VMBUS_VERSION_WIN10, VMBUS_VERSION_WIN10_V5_2, VMBUS_VERSION_WIN8,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmbus_server_config cfg = { 0 };
	static struct td d[2];
	size_t pos = 1;

	if (!fz_ready) {
		log_set_level(LOG_ERROR);
		if (th_init(&fz, 2, 0) != 0)
			return 0;
		vmbus_server_free(fz.srv);
		fz_ready = true;
	}
	if (size < 1)
		return 0;
	/* Fresh partition state and server per input. */
	hv_partition_reset(fz.hv);
	for (uint32_t vp = 0; vp < fz.n_vcpus; vp++)
		th_synic_enable(&fz, vp);
	fz.next_alloc = TH_ALLOC_BASE;
	cfg.max_version = fz_caps[data[0] & 3];
	fz.srv = vmbus_server_new(fz.hv, NULL, &cfg);
	if (!fz.srv)
		return 0;
	td_offer(&fz, &d[0], 1, 0, false);
	td_offer(&fz, &d[1], 2, 80, true);
	d[0].drain_on_notify = d[1].drain_on_notify = true;
	d[1].send_on_open = true;
	if (data[0] & 4) {
		th_connect(&fz, VMBUS_VERSION_WIN10_V5_3);
		th_connect(&fz, VMBUS_VERSION_WIN10);
		th_request_offers(&fz, NULL, 0);
		if (data[0] & 8) {
			struct tg_chan c;

			tg_open(&fz, &c, 1, 0xE1E10, 2, 2, 0, 0);
		}
	}

	while (pos + 3 <= size) {
		uint8_t msg[VMBUS_MSG_MAX] = { 0 };
		uint8_t type = data[pos], ctl = data[pos + 1], len = data[pos + 2];
		uint32_t n;

		pos += 3;
		if (len > size - pos)
			len = (uint8_t)(size - pos);
		n = len > VMBUS_MSG_MAX - 8 ? VMBUS_MSG_MAX - 8 : len;
		msg[0] = type;
		memcpy(msg + 8, data + pos, n);
		pos += len;
		/* Short messages too: a length byte of 0..7 cuts the header. */
		th_post(&fz, 0, (ctl & 1) ? 4 : 1, msg, (ctl & 0x40) ? (n & 7) : n + 8);
		if (ctl & 4)
			th_signal(&fz, 0, 0x10 + 1 + ((ctl >> 4) & 1));
		if (ctl & 8) {
			struct td *dd = &d[(ctl >> 4) & 1];

			if (ctl & 0x80) {
				if (dd->ch) {
					vmbus_rescind(dd->ch);
					dd->ch = NULL;
				}
			} else if (dd->ch) {
				vmbus_chan_send_inband(dd->ch, 1, 1, msg, n);
			}
		}
		if (!(ctl & 2))
			th_drain(&fz, 0);
		vmbus_server_flush(fz.srv);
	}
	th_drain(&fz, 0);
	th_drain(&fz, 1);
	vmbus_server_free(fz.srv);
	fz.srv = NULL;
	return 0;
}
