/* SPDX-License-Identifier: MIT */
/*
 * bench: the ring-benchmark device (include/vmbusd/proto/bench.h).  It sinks
 * the guest's DATA packets, sources DATA packets on request and reports its
 * counters, so `vmbusd bench ring` measures the ring path and nothing else.
 * Not a Hyper-V device: Linux has no driver for its class and ignores it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/guid.h"
#include "core/log.h"
#include "core/util.h"
#include "devices/registry.h"
#include "vmbusd/proto/bench.h"

/* Large enough for the 64 KiB benchmark packets plus the descriptor. */
#define BENCH_MAX_PKT (128u * 1024u)
/* A stream device: after a batch keep polling the rings this long before
 * sleeping on the guest's next signal (src/vmbus/ring.c "Polling"). */
#define BENCH_POLL_US 50u

/* The device's counters (core/stats.h); the rx/tx ones restart at every
 * open, since a benchmark reads them for its own run. */
#define BENCH_STATS(X)                                                     \
	X(rx_packets, "DATA packets sunk since the channel opened")        \
	X(rx_bytes, "... their payload bytes")                             \
	X(tx_packets, "DATA packets sourced since the channel opened")     \
	X(tx_bytes, "... their payload bytes")                             \
	X(malformed, "packets refused: not inband, short, SOURCE size out of range")

struct bench_dev {
	struct vmbus_channel *ch;
	STATS_FIELDS(BENCH_STATS)
	uint64_t tx_remaining;       /* packets still to source */
	uint32_t tx_size;            /* payload bytes per sourced packet */
	bool report_pending;
	struct vmbus_chan_stats at_open; /* channel counters are per offer: report deltas */
	uint64_t report_trans_id;
	uint8_t *tx_buf;             /* one sourced payload, built once */
};

/* ---- packet handlers ------------------------------------------------------ */

static void bench_handle(struct bench_dev *b, const struct vmbus_pkt *pkt)
{
	struct bench_msg msg;

	if (pkt->type != VM_PKT_DATA_INBAND || pkt->data_len < sizeof(msg)) {
		b->malformed++;
		log_guest("bench: packet type %u, %u bytes: ignored", pkt->type, pkt->data_len);
		return;
	}
	memcpy(&msg, pkt->data, sizeof(msg));
	switch (msg.op) {
	case BENCH_OP_DATA:
		b->rx_packets++;
		b->rx_bytes += pkt->data_len;
		break;
	case BENCH_OP_SOURCE:
		if (msg.size < sizeof(msg) || msg.size > BENCH_MAX_PKT - sizeof(struct vmpacket_descriptor)) {
			b->malformed++;
			log_guest("bench: SOURCE size %u out of range", msg.size);
			break;
		}
		b->tx_remaining = msg.count;
		b->tx_size = msg.size;
		memset(b->tx_buf, 0xA5, msg.size);
		memcpy(b->tx_buf, &(struct bench_msg){ .op = BENCH_OP_DATA, .size = msg.size },
		       sizeof(msg));
		break;
	case BENCH_OP_REPORT:
		b->report_pending = true;
		b->report_trans_id = pkt->trans_id;
		break;
	default:
		b->malformed++;
		log_guest("bench: unknown op %u", msg.op);
	}
}

/* Sends what is owed: sourced packets first, then a pending report. */
static void bench_pump(struct bench_dev *b)
{
	while (b->tx_remaining > 0) {
		int rc = vmbus_chan_send_inband(b->ch, 0, 0, b->tx_buf, b->tx_size);

		if (rc == -EAGAIN)
			return; /* the guest signals when it has read */
		if (rc) {
			b->tx_remaining = 0;
			break;
		}
		b->tx_remaining--;
		b->tx_packets++;
		b->tx_bytes += b->tx_size;
	}
	if (b->report_pending) {
		const struct vmbus_chan_stats *st = vmbus_chan_stats(b->ch);
		struct bench_report r = {
			.op = BENCH_OP_REPORT,
			.rx_packets = b->rx_packets, .rx_bytes = b->rx_bytes,
			.tx_packets = b->tx_packets, .tx_bytes = b->tx_bytes,
			.rx_signals = st->signals_in - b->at_open.signals_in,
			.tx_signals = st->signals_out - b->at_open.signals_out,
		};

		if (vmbus_chan_send_comp(b->ch, b->report_trans_id, &r, sizeof(r)) != -EAGAIN)
			b->report_pending = false;
	}
}

/* ---- notify loop ---------------------------------------------------------- */

static void bench_notify(struct vmbus_channel *ch)
{
	struct bench_dev *b = vmbus_chan_priv(ch);
	struct vmbus_pkt pkt;

	for (int n = 0;; n++) {
		if (n == VMBUS_NOTIFY_BUDGET) {   /* the rest on the loop's next turn */
			vmbus_chan_notify_later(ch);
			break;
		}
		if (vmbus_chan_recv(ch, &pkt) <= 0)
			break;
		bench_handle(b, &pkt);
	}
	bench_pump(b);
}

/* ---- lifecycle ------------------------------------------------------------ */

static int bench_open(struct vmbus_channel *ch)
{
	struct bench_dev *b = vmbus_chan_priv(ch);

	b->rx_packets = b->rx_bytes = b->tx_packets = b->tx_bytes = 0;
	b->tx_remaining = 0;
	b->report_pending = false;
	b->at_open = *vmbus_chan_stats(ch);
	return 0;
}

static void bench_close(struct vmbus_channel *ch)
{
	struct bench_dev *b = vmbus_chan_priv(ch);

	b->tx_remaining = 0;
	b->report_pending = false;
}

static const struct vmbus_channel_ops bench_channel_ops = {
	.open = bench_open,
	.notify = bench_notify,
	.close = bench_close,
};

static int bench_create(struct vmbus_server *srv, const json_t *config, const char *path,
			void **out, struct json_err *err)
{
	static const char *const keys[] = { "instance", "poll_us", NULL };
	struct vmbus_offer_params p = { .max_pkt_size = BENCH_MAX_PKT };
	uint64_t poll_us = BENCH_POLL_US;
	struct bench_dev *b;
	int rc;

	if ((rc = json_check_keys(config, path, keys, err)))
		return rc;
	if ((rc = json_get_u64(config, path, "poll_us", false, 0, 10000, &poll_us, err)))
		return rc;
	p.poll_us = (uint32_t)poll_us;
	guid_parse(BENCH_CLASS_GUID_STR, &p.if_type);
	guid_parse("00000000-0000-0000-0000-000000000b0b", &p.if_instance);
	if ((rc = json_get_guid(config, path, "instance", false, &p.if_instance, err)))
		return rc;
	b = calloc(1, sizeof(*b));
	if (!b || !(b->tx_buf = malloc(BENCH_MAX_PKT))) {
		free(b);
		return json_fail(err, path, NULL, "out of memory");
	}
	b->ch = vmbus_offer(srv, &p, &bench_channel_ops, b);
	if (!b->ch) {
		int e = errno;

		free(b->tx_buf);
		free(b);
		return json_fail(err, path, "instance", "%s", vmbus_offer_strerror(e));
	}
	*out = b;
	return 0;
}

static void bench_destroy(void *dev)
{
	struct bench_dev *b = dev;

	vmbus_rescind(b->ch);
	free(b->tx_buf);
	free(b);
}

STATS_DEFINE_STATIC(bench_counters, struct bench_dev, BENCH_STATS)

static json_t *bench_stats(void *dev)
{
	return bench_counters_json(dev, NULL);
}

const struct vmbus_device_ops bench_ops = {
	.name = "bench",
	.class_guid = BENCH_CLASS_GUID_STR,
	.guest_driver = NULL,   /* vmbusd's own class: no Linux driver */
	.description = "ring benchmark sink/source (vmbusd's own class)",
	.create = bench_create,
	.destroy = bench_destroy,
	.stats = bench_stats,
};
