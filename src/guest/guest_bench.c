/* SPDX-License-Identifier: MIT */
#include "guest/guest_bench.h"

#include <errno.h>
#include <stddef.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define BENCH_REPORT_TRANS_ID 0xBE4C0000u

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

/* Runs the CPU briefly and dispatches control messages if any arrived. */
static int bench_idle(struct guest *g, int ms)
{
	int ret = guest_cpu_poll(g, ms);

	if (g->msgq_count)
		guest_vmbus_process(g);
	if (g->att.dead)
		return -ECONNRESET;
	if (guest_interrupted)
		return -EINTR;
	return ret == -EINTR ? 0 : ret;
}

/* How long a writer facing a full ring spins on the host's read index
 * before it asks for an interrupt (pending_send_sz) and sleeps: a busy
 * vCPU that keeps sending, as a Linux guest's does between interrupts. */
#define BENCH_SPIN_NS 50000u

static int bench_send(struct guest *g, struct guest_channel *ch, uint16_t flags, uint64_t trans_id,
		      const void *buf, uint32_t len, struct guest_bench_result *res)
{
	uint32_t need = guest_ring_pkt_bytes(len);
	uint64_t deadline = 0, spin_until = 0;
	unsigned spins = 0;
	bool waiting = false;

	for (;;) {
		int ret = guest_channel_send(g, ch, VM_PKT_DATA_INBAND, flags, trans_id, buf, len);

		if (ret != -EAGAIN) {
			if (waiting)
				guest_ring_set_pending_send(&ch->out, 0);
			return ret;
		}
		if (!deadline) {
			/* The clock is read only once the ring is full. */
			uint64_t now = now_ns();

			res->ring_full_waits++;
			deadline = now + (uint64_t)g->opts.timeout_ms * 1000000ull;
			spin_until = now + BENCH_SPIN_NS;
		}
		if (!waiting) {
			for (int spin = 0; spin < 64 && guest_ring_bytes_to_write(&ch->out) <= need; spin++)
				cpu_relax();
			/* Let a host sharing this CPU run (as bench_bare.c does). */
			if (++spins % 4 == 0)
				sched_yield();
			if (guest_ring_bytes_to_write(&ch->out) > need || now_ns() < spin_until)
				continue;
			/* Ask the host to interrupt once `need` bytes are free,
			 * then re-check (the space may have freed meanwhile). */
			res->ring_full_sleeps++;
			waiting = true;
			guest_ring_set_pending_send(&ch->out, need);
			continue;
		}
		if (now_ns() > deadline) {
			guest_ring_set_pending_send(&ch->out, 0);
			guest_error(g, "bench", "guest->host ring stayed full for %d ms", g->opts.timeout_ms);
			return -ETIMEDOUT;
		}
		if (guest_ring_bytes_to_write(&ch->out) > need)
			continue;
		/* The poll timeout covers a host that does not implement
		 * pending_send_sz. */
		ret = bench_idle(g, 1);
		if (ret)
			return ret;
	}
}

/* Drains the inbound ring; counts DATA, catches the REPORT completion. */
static int bench_drain(struct guest *g, struct guest_channel *ch, const struct guest_bench_params *p,
		       struct guest_bench_result *res, bool *report_seen)
{
	struct guest_ring_pkt pkt;
	int n = 0, ret;

	guest_channel_recv_begin(ch);
	while ((ret = guest_channel_recv(g, ch, &pkt)) == 0 || ret == -EMSGSIZE) {
		if (ret)
			continue;
		n++;
		if (pkt.type == VM_PKT_COMP && pkt.trans_id == BENCH_REPORT_TRANS_ID) {
			memcpy(&res->report, pkt.payload, MIN(pkt.payload_len, (uint32_t)sizeof(res->report)));
			if (pkt.payload_len < sizeof(res->report))
				guest_error(g, "bench", "REPORT completion of %u bytes < %zu", pkt.payload_len,
					    sizeof(res->report));
			*report_seen = true;
		} else if (pkt.type == VM_PKT_DATA_INBAND && p->h2g) {
			res->packets++;
			res->bytes += p->size;
		}
	}
	guest_channel_recv_end(g, ch);
	if (ret == -EIO)
		return ret;
	return n;
}

/* A reader that found the ring empty spins (interrupts still masked) for
 * up to BENCH_SPIN_NS before it unmasks and sleeps, as a busy vCPU's NAPI
 * poll would; true when data arrived meanwhile. */
static bool bench_spin_for_data(struct guest_channel *ch)
{
	uint64_t until = now_ns() + BENCH_SPIN_NS;
	unsigned spins = 0;

	do {
		for (int i = 0; i < 64; i++) {
			if (guest_ring_bytes_to_read(&ch->in))
				return true;
			cpu_relax();
		}
		if (++spins % 4 == 0)
			sched_yield(); /* a host sharing this CPU runs */
	} while (now_ns() < until);
	return false;
}

/* Waits for the REPORT completion, or (until_data) for all sourced data. */
static int bench_wait_report(struct guest *g, struct guest_channel *ch,
			     const struct guest_bench_params *p, struct guest_bench_result *res,
			     bool *report_seen, bool until_data)
{
	uint64_t deadline = now_ns() + (uint64_t)g->opts.timeout_ms * 1000000ull;

	while (!*report_seen) {
		uint64_t before = res->packets;
		int ret;

		guest_ring_mask(&ch->in);
		ret = bench_drain(g, ch, p, res, report_seen);
		if (ret < 0)
			return ret;
		if (!*report_seen && !(until_data && res->packets >= p->count) &&
		    bench_spin_for_data(ch))
			continue; /* still masked: the host did not interrupt */
		if (guest_ring_unmask(&ch->in))
			continue; /* arrived while masked: no interrupt will come */
		if (*report_seen || (until_data && res->packets >= p->count))
			break;
		if (res->packets != before)
			deadline = now_ns() + (uint64_t)g->opts.timeout_ms * 1000000ull;
		if (now_ns() > deadline) {
			guest_error(g, "bench", "no progress for %d ms (%llu of %llu packets)",
				    g->opts.timeout_ms, (unsigned long long)res->packets,
				    (unsigned long long)p->count);
			return -ETIMEDOUT;
		}
		ret = bench_idle(g, 10);
		if (ret)
			return ret;
		if (!ch->open)
			return -ENODEV;
	}
	return 0;
}

int guest_bench_run_on(struct guest *g, const struct guest_bench_params *p,
		       struct guest_bench_result *res)
{
	struct guest_channel *ch = guest_channel_find(g, BENCH_CLASS_GUID_STR, 0);
	uint32_t ring_bytes = p->ring_bytes ? p->ring_bytes : 256u * 1024u;
	struct bench_msg msg;
	uint8_t *buf;
	bool report_seen = false;
	uint64_t start;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!ch) {
		guest_error(g, "bench", "the host offers no bench channel (class %s)", BENCH_CLASS_GUID_STR);
		return -ENODEV;
	}
	if (!p->h2g && p->size < sizeof(struct bench_msg)) {
		guest_error(g, "bench", "guest->host packets need size >= %zu", sizeof(struct bench_msg));
		return -EINVAL;
	}
	if (p->h2g && p->size < 8) {
		guest_error(g, "bench", "host->guest packets need size >= 8");
		return -EINVAL;
	}
	ret = guest_channel_open(g, ch, ring_bytes, MAX(4096u, ALIGN_UP(p->size, 8u) + 64u),
				 p->target_vp < g->att.n_vcpus ? p->target_vp : 0);
	if (ret)
		return ret;
	buf = calloc(1, MAX(p->size, (uint32_t)sizeof(msg)));
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = sizeof(msg); i < p->size; i++)
		buf[i] = (uint8_t)i;

	start = now_ns();
	if (!p->h2g) {
		/* Packets left in this burst: a counter, not i % burst (a
		 * 64-bit division per packet cost more than the ring write). */
		uint32_t burst = MAX(p->burst, 1u), left = 0;

		msg.op = BENCH_OP_DATA;
		msg.size = p->size;
		msg.count = 0;
		memcpy(buf, &msg, sizeof(msg));
		for (uint64_t i = 0; i < p->count; i++) {
			/* Only the count changes: stored in place (a whole-struct
			 * copy after one field's store stalls the store buffer). */
			memcpy(buf + offsetof(struct bench_msg, count), &i, sizeof(i));
			if (burst > 1 && left == 0) {
				guest_channel_send_begin(ch);
				left = burst;
			}
			ret = bench_send(g, ch, 0, i + 1, buf, p->size, res);
			if (burst > 1 && (ret || --left == 0 || i + 1 == p->count)) {
				guest_channel_send_end(g, ch);
				left = 0;
			}
			if (ret)
				goto out;
			res->packets++;
			res->bytes += p->size;
			/* Completions are not requested; keep the inbound ring
			 * drained anyway in case the host sends something. */
			if ((i & 63) == 0 && guest_ring_bytes_to_read(&ch->in)) {
				ret = bench_drain(g, ch, p, res, &report_seen);
				if (ret < 0)
					goto out;
			}
		}
	} else {
		msg.op = BENCH_OP_SOURCE;
		msg.size = p->size;
		msg.count = p->count;
		ret = bench_send(g, ch, 0, 1, &msg, sizeof(msg), res);
		if (ret)
			goto out;
		ret = bench_wait_report(g, ch, p, res, &report_seen, true);
		if (ret)
			goto out;
	}
	msg.op = BENCH_OP_REPORT;
	msg.size = 0;
	msg.count = 0;
	ret = bench_send(g, ch, VMBUS_PKT_FLAG_COMPLETION_REQUESTED, BENCH_REPORT_TRANS_ID, &msg,
			 sizeof(msg), res);
	if (ret)
		goto out;
	ret = bench_wait_report(g, ch, p, res, &report_seen, false);
	if (ret)
		goto out;
	res->elapsed_ns = now_ns() - start;
out:
	free(buf);
	res->guest_signals = ch->n_signals;
	res->guest_interrupts = ch->n_events;
	for (uint32_t i = 0; i < g->att.n_vcpus; i++)
		res->guest_irqs += g->cpu[i].irqs;
	if (ch->open && !g->att.dead)
		guest_channel_close(g, ch);
	return ret;
}

int guest_bench_run(const struct guest_bench_params *p, struct guest_bench_result *res)
{
	struct guest *g = calloc(1, sizeof(*g));
	int ret;

	if (!g)
		return -ENOMEM;
	ret = guest_open(g, &p->opts);
	if (ret) {
		free(g);
		return ret;
	}
	ret = guest_vmbus_connect(g);
	if (!ret)
		ret = guest_vmbus_request_offers(g);
	if (!ret)
		ret = guest_bench_run_on(g, p, res);
	guest_close(g, true);
	free(g);
	return ret;
}

json_t *guest_bench_json(const struct guest_bench_params *p, const struct guest_bench_result *r)
{
	return json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "event", "bench", "direction", p->h2g ? "h2g" : "g2h", "size", (json_int_t)p->size,
			 "count", (json_int_t)p->count, "elapsed_ns", (json_int_t)r->elapsed_ns,
			 "packets", (json_int_t)r->packets, "bytes", (json_int_t)r->bytes,
			 "rx_packets", (json_int_t)r->report.rx_packets,
			 "rx_bytes", (json_int_t)r->report.rx_bytes,
			 "tx_packets", (json_int_t)r->report.tx_packets,
			 "tx_bytes", (json_int_t)r->report.tx_bytes,
			 "rx_signals", (json_int_t)r->report.rx_signals,
			 "tx_signals", (json_int_t)r->report.tx_signals,
			 "guest_signals", (json_int_t)r->guest_signals,
			 "guest_interrupts", (json_int_t)r->guest_interrupts,
			 "guest_irqs", (json_int_t)r->guest_irqs,
			 "ring_full_waits", (json_int_t)r->ring_full_waits,
			 "ring_full_sleeps", (json_int_t)r->ring_full_sleeps);
}
