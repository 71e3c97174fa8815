/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the host side of the rings (src/vmbus/ring.c) against a guest
 * that changes them *while* the host reads and writes: a second thread
 * keeps storing fuzzer-chosen values into the guest-owned header words of
 * both rings (write_index, read_index, interrupt_mask, pending_send_sz —
 * and the host-owned ones too, since a guest can) and into the data
 * areas, round after round, for as long as the host works on the channel.
 * This is the double-fetch hunt fuzz_ring.c cannot do: a length checked
 * on one read and used after a second, an index validated and then
 * reloaded, a descriptor parsed in place.
 *
 * The host must never touch memory outside its mappings or rx buffer
 * (ASan, and a SIGSEGV on the PROT_NONE guard behind each double map),
 * must only hand out packets that fit the ring, and must stay broken once
 * it saw a corrupt index.  Runs are not deterministic by design: replay a
 * crash input many times (`fuzz_ring_race -runs=1000 crash-…`).  How often
 * the two threads really overlap depends on the machine: with two cores
 * and a load of 12 the thread played at least one round during the
 * host's work in about 4 % of runs (with a free core it should be most;
 * not measured here).
 *
 * Input: [cfg u8][start u32][n u8] then n script entries
 * [what u8][a u32][b u32], then [len u16] and len bytes placed in the
 * guest->host ring as its initial contents, then host operation bytes.
 *   cfg bit 0: signal_every_packet; bits 2:1 ring pages - 2 per direction
 *   what % 12: 0-3 the guest->host header word (write, read, mask,
 *     pending) := a; 4-7 the same in host->guest; 8-9 a data word of
 *     either ring at a := b; 10 both indices of one ring at once;
 *     11 the guest behaves for a while (yields)
 *   host ops: low 3 bits pick recv (up to 16 packets), send, can_send,
 *   a guest signal, a guest read of host->guest, GPA-direct decode.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "core/log.h"
#include "core/util.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/vmbus_harness.h"

#define FZ_SCRIPT_MAX 32

struct fz_step {
	uint8_t what;
	uint32_t a, b;
};

static struct th fz;
static bool fz_ready;

/*
 * The guest thread lives as long as the process (a thread per input costs
 * more than the input itself under ASan on a busy machine).  Handshake:
 * main fills in the script and the channel, then store-releases `go` = a
 * new generation; the thread plays rounds until `stop` holds that
 * generation too, then store-releases `parked` = it.  (The thread may see
 * `go` only after main already stopped it: it then plays nothing but still
 * parks, so main never waits on a generation the thread missed.)  Main
 * waits for `parked` before it tears the channel down or writes the next
 * script, so no store of one input lands in the next.
 */
static struct {
	struct fz_step step[FZ_SCRIPT_MAX];
	uint32_t n;
	struct tg_chan *c;
	int go;       /* main -> thread: generation to play */
	int started;  /* thread -> main: generation it is playing */
	int stop;     /* main -> thread: generation to stop */
	int parked;   /* thread -> main: last generation it finished */
	int gen;
} race;

static void race_store(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* One round of the guest's script. */
static void race_round(bool in_thread)
{
	struct tg_chan *c = race.c;

	for (uint32_t i = 0; i < race.n; i++) {
		const struct fz_step *s = &race.step[i];
		struct tg_ring *r = (s->what & 1) ? &c->in : &c->out;
		uint32_t *w;

		switch (s->what % 12) {
		case 0: race_store(TG_W(&c->out), s->a); break;
		case 1: race_store(TG_R(&c->out), s->a); break;
		case 2: race_store(TG_MASK(&c->out), s->a); break;
		case 3: race_store(TG_PEND(&c->out), s->a); break;
		case 4: race_store(TG_W(&c->in), s->a); break;
		case 5: race_store(TG_R(&c->in), s->a); break;
		case 6: race_store(TG_MASK(&c->in), s->a); break;
		case 7: race_store(TG_PEND(&c->in), s->a); break;
		case 8:
		case 9:
			w = (uint32_t *)(void *)(r->data + ((s->a % r->size) & ~3u));
			race_store(w, s->b);
			break;
		case 10:
			race_store(TG_W(r), s->a);
			race_store(TG_R(r), s->b);
			break;
		default:
			/* A pause in the other thread; nothing when the
			 * main thread plays the round itself. */
			if (in_thread)
				sched_yield();
			break;
		}
	}
}

/* The hostile guest: replays its script while its generation runs. */
static void *race_guest(void *arg)
{
	(void)arg;
	for (;;) {
		int g = __atomic_load_n(&race.go, __ATOMIC_ACQUIRE);

		if (g == race.parked) {
			/* Between inputs: stay runnable (yield, never sleep),
			 * so that the thread is on a CPU when the next input
			 * starts; a sleeping thread woke up too late to meet
			 * the host's few microseconds of work. */
			sched_yield();
			continue;
		}
		__atomic_store_n(&race.started, g, __ATOMIC_RELEASE);
		while (__atomic_load_n(&race.stop, __ATOMIC_ACQUIRE) != g) {
			race_round(true);
			if (race.n == 0)
				sched_yield();
		}
		__atomic_store_n(&race.parked, g, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Mostly valid, sometimes unaligned or out of range (as fuzz_ring.c). */
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

static void host_recv(struct td *d, struct tg_chan *c, uint8_t op)
{
	for (int i = 0; i < 16; i++) {
		struct vmbus_pkt pkt;
		int ret = vmbus_chan_recv(d->ch, &pkt);

		CHECK(ret == 1 || ret == 0 || ret == -EPIPE);
		if (ret != 1)
			return;
		/* Whatever the guest did, a packet is a descriptor plus data
		 * that fit the ring, and its data lies inside it. */
		CHECK(pkt.raw_len >= 16 && pkt.raw_len + 8 <= c->out.size);
		CHECK(pkt.data >= pkt.raw + 16 && pkt.data + pkt.data_len == pkt.raw + pkt.raw_len);
		if (pkt.type == VM_PKT_DATA_USING_GPA_DIRECT && (op & 0x80)) {
			struct iovec iov[8];
			uint64_t total;

			vmbus_pkt_gpa_direct_iov(&pkt, &fz.mem, iov, 8, &total);
		}
	}
}

static void host_ops(struct td *d, struct tg_chan *c, struct fz_in *in)
{
	static uint8_t buf[4096];
	int ret;

	for (int n = 0; n < 64 && fz_more(in); n++) {
		uint8_t op = fz_u8(in);

		switch (op & 7) {
		case 0:
		case 1:
			host_recv(d, c, op);
			break;
		case 2:
		case 3:
			ret = vmbus_chan_send_inband(d->ch, op, 1, buf, (size_t)(op >> 2) * 60);
			CHECK(ret == 0 || ret == -EAGAIN || ret == -EPIPE || ret == -EMSGSIZE);
			break;
		case 4:
			vmbus_chan_can_send(d->ch, (size_t)(op >> 3) * 100);
			break;
		case 5:
			/* The guest signals: notify drains (drain_on_notify). */
			th_signal(&fz, 0, c->conn_id);
			break;
		default:
			/* The guest reads host->guest packets as Linux would,
			 * racing with its own other thread. */
			for (int i = 0; i < (op >> 3) && tg_read(&fz, c, NULL, 0, NULL) > 0; i++)
				;
			th_drain(&fz, 0);
			th_event(&fz, 0, c->relid);
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmbus_server_config cfg = { 0 };
	struct fz_in in = { data, size, 0 };
	static struct td d;
	struct tg_chan c;
	uint32_t start, len, pages;
	uint8_t cfg_b, init[4096];
	static pthread_t th;
	bool broken_before;
	uint64_t t0;
	int gen;

	if (!fz_ready) {
		log_set_level(LOG_ERROR);
		if (th_init(&fz, 1, 0) != 0 || pthread_create(&th, NULL, race_guest, NULL) != 0)
			return 0;
		vmbus_server_free(fz.srv);
		fz.srv = NULL;
		fz_ready = true;
	}
	if (size < 6)
		return 0;
	cfg_b = fz_u8(&in);
	start = fz_u32(&in);
	race.n = fz_u8(&in) % (FZ_SCRIPT_MAX + 1);
	for (uint32_t i = 0; i < race.n; i++) {
		race.step[i].what = fz_u8(&in);
		race.step[i].a = fz_u32(&in);
		race.step[i].b = fz_u32(&in);
	}

	hv_partition_reset(fz.hv);
	th_synic_enable(&fz, 0);
	fz.next_alloc = TH_ALLOC_BASE;
	fz.srv = vmbus_server_new(fz.hv, NULL, &cfg);
	if (!fz.srv)
		return 0;
	if (!td_offer(&fz, &d, 1, 0, cfg_b & 1))
		goto out;
	d.drain_on_notify = true;
	th_connect(&fz, VMBUS_VERSION_WIN10_V5_3);
	th_request_offers(&fz, NULL, 0);
	pages = 2 + ((cfg_b >> 1) & 3);
	start = (start % ((pages - 1) * 4096)) & ~7u;
	if (tg_open(&fz, &c, 1, 0xE1E10, pages, pages, 0, start) != 0)
		goto out;
	/* Index values mostly near the valid ones, where the bugs would be. */
	for (uint32_t i = 0; i < race.n; i++) {
		struct fz_step *st = &race.step[i];

		if (st->what % 12 < 8 || st->what % 12 == 10)
			st->a = fz_index(st->a, c.out.size);
		if (st->what % 12 == 10)
			st->b = fz_index(st->b, c.out.size);
	}

	/* What the guest wrote before it started misbehaving. */
	len = fz_u16(&in) % sizeof(init);
	fz_bytes(&in, init, len);
	if (len >= c.out.size)
		len = c.out.size - 8;
	tg_copy_in(&c.out, start, init, len);
	tg_st(TG_W(&c.out), (start + (len & ~7u)) % c.out.size);

	race.c = &c;
	/* One round here first, so every input at least meets the state its
	 * script leaves, even when the thread is slow to get a CPU. */
	race_round(false);
	gen = ++race.gen;
	__atomic_store_n(&race.go, gen, __ATOMIC_RELEASE);
	/* Without this the host's few microseconds of work are usually over
	 * before the thread runs at all.  A short busy wait: a thread that
	 * is on the other CPU answers within it; one that is not would cost
	 * a scheduler slice to wait for, more than the run is worth. */
	t0 = now_ns();
	while (__atomic_load_n(&race.started, __ATOMIC_ACQUIRE) != gen && now_ns() - t0 < 100000)
		;
	host_ops(&d, &c, &in);
	broken_before = vmbus_chan_recv(d.ch, &(struct vmbus_pkt){ 0 }) == -EPIPE;
	__atomic_store_n(&race.stop, gen, __ATOMIC_RELEASE);
	while (__atomic_load_n(&race.parked, __ATOMIC_ACQUIRE) != gen)
		sched_yield();
	/* A channel the host found corrupt stays silent until closed. */
	if (broken_before)
		CHECK(vmbus_chan_recv(d.ch, &(struct vmbus_pkt){ 0 }) == -EPIPE);
out:
	th_drain(&fz, 0);
	vmbus_server_free(fz.srv);
	fz.srv = NULL;
	return 0;
}
