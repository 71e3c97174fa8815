/* SPDX-License-Identifier: MIT */
/*
 * Monitored notification (MNF, facts §5.5): the guest signals a channel by
 * setting a bit in a shared page instead of calling HvSignalEvent.
 *
 * The contract, from the guest's side (Linux channel.c vmbus_setevent(),
 * DPDK drivers/bus/vmbus vmbus_set_monitor()):
 *   - INITIATE_CONTACT names two guest pages, monitor_page1 (parent ->
 *     child) and monitor_page2 (child -> parent), in every version;
 *   - an offer with monitor_allocated = 1 and monitorid M makes the guest
 *     signal the channel with a locked OR of bit M % 32 into
 *     trigger_group[M / 32].pending of page 2 (Linux also sets the relid
 *     bit of its send interrupt page, which the host may ignore: every
 *     offer here has is_dedicated_interrupt = 1);
 *   - Linux still calls HvSignalEvent for a monitored channel in some paths
 *     (low_latency channels, and whenever monitor_allocated is 0), so the
 *     channel's event port stays registered: both paths reach the device.
 *   - DPDK writes its wanted latency (100 ns units) into
 *     latency[M / 32][M % 32] of page 2 (rte_vmbus_set_latency()).
 *
 * In Hyper-V the hypervisor watches the page and signals the connection in
 * parameter[M / 32][M % 32] after latency[..] x 100 ns.  Here the daemon
 * does it: a periodic timer, running only while a channel that was offered
 * monitored is open, scans the four pending words of page 2.  The timer is
 * a timerfd in the event loop rather than a libevent timeout: epoll_wait
 * rounds timeouts up to whole milliseconds, and re-arming a one-shot timer
 * every tick would double the cost of a tick (measured: README,
 * "Monitored notification").
 * Its period is the smallest latency that an open monitored channel's
 * entry holds, clamped to [VMBUS_MONITOR_LATENCY_MIN_US,
 * VMBUS_MONITOR_LATENCY_MAX_US]; the host writes the configured default
 * there when it offers the channel, as Hyper-V fills the entries it owns.
 *
 * A tick costs a wake-up of the daemon (~20 us of CPU on the loaded test
 * machine, whatever the scan finds), so an idle guest would keep a core
 * 15-25 % busy at 50-100 us.  The scan therefore idles: after
 * VMBUS_MONITOR_IDLE_SCANS scans in a row that found nothing it slows to
 * the idle period (vmbus.monitor_idle_us, default 2 ms; equal to the
 * latency = never idle), and goes back to the latency at the first bit it
 * finds and whenever the host interrupts the guest on a monitored channel
 * (the guest's answer, a completion or its read of the ring, is then what
 * the next ticks will find).  So a burst of traffic runs at the latency;
 * only the first signal after a quiet spell waits up to the idle period.
 *
 * The idle watch.  A guest at queue depth 1 posts a request, sets its bit
 * and, with nothing else to do, halts: the request would wait for the next
 * tick (half the latency on average, a quarter of a 4 KiB read's time at
 * queue depth 1 in tests/guest/bench-guest.sh).  So the pending words are
 * also handed to the frontend (attach.h, the idle watch): it checks them
 * when a vCPU halts and rings a doorbell that scans at once.  A halting
 * vCPU is the moment a bit can no longer be joined by more work from that
 * vCPU, so nothing is lost by not batching further; a busy guest does not
 * halt and is served by the ticks, which batch.  Under KVM the vCPU halts
 * in the kernel, unseen: the ticks alone serve, as before.  Once a doorbell
 * scan has found a bit (the frontend does check), interrupting the guest
 * no longer speeds the timer up, and doorbell scans neither speed it up nor
 * count as empty: at queue depth 1 every request comes by the doorbell and
 * the timer idles, one wake-up per request instead of three (two ticks of
 * 100 us, which cost a 2-core machine's vCPUs as much as the I/O itself).
 * QEMU also looks when a vCPU reads its TSC, which the guest does within
 * microseconds of setting a bit and which a busy vCPU does all the time;
 * then a tick finds a bit only by racing the doorbell, and such a find
 * must not keep the timer active (it did: 15,000 wake-ups a second for
 * nothing, 3x the daemon's CPU per request).  So a tick's find makes the
 * timer active only while ticks find more of the bits than the doorbell
 * does (vmbus_monitor_count_find): a busy vCPU that a halt-only watch
 * misses, or no watch at all.
 *
 * The pages are guest memory: the guest may write anything at any time.
 * A pending word is taken with one atomic exchange (copy once: the bits
 * acted on are exactly the bits cleared); a bit is honoured only for a
 * monitor id owned by a channel that is open and was offered monitored in
 * this connection; everything else is counted (monitor_stray) and
 * dropped.  Latency hints are loaded once per use and clamped.  Pages that
 * are zero, unaligned, the same page twice or outside guest RAM are
 * refused: the connection still comes up, its offers go out with
 * monitor_allocated = 0 and the guest signals by hypercall.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/trace.h"
#include "core/util.h"
#include "vmbus/vmbus_internal.h"

/* Scans that found a bit are counted over about the last this many. */
#define VMBUS_MONITOR_FINDS_WINDOW 64u

#define MON_PENDING_OFF(g) \
	(offsetof(struct hv_monitor_page, trigger_group) + (g) * sizeof(struct hv_monitor_trigger_group))
#define MON_LATENCY_OFF(g, b) \
	(offsetof(struct hv_monitor_page, latency) + ((g) * HV_MONITOR_BITS_PER_GROUP + (b)) * 2u)
#define MON_PARAM_OFF(g, b) \
	(offsetof(struct hv_monitor_page, parameter) + \
	 ((g) * HV_MONITOR_BITS_PER_GROUP + (b)) * sizeof(struct hv_monitor_parameter))

/* Every field touched is naturally aligned inside a page-aligned page, so
 * plain aligned pointers serve the atomics (not the packed struct). */
static uint32_t *mon_u32(uint8_t *page, size_t off)
{
	return (uint32_t *)(void *)(page + off);
}

static uint16_t *mon_u16(uint8_t *page, size_t off)
{
	return (uint16_t *)(void *)(page + off);
}

/* Active: ticks at the latency; idle: at the idle period (see above). */
static void vmbus_monitor_set_active(struct vmbus_server *srv, bool active)
{
	srv->mon.empty_scans = 0;
	if (srv->mon.active == active)
		return;
	srv->mon.active = active;
	vmbus_monitor_update(srv);
}

static void vmbus_monitor_timer(evutil_socket_t fd, short what, void *opaque)
{
	struct vmbus_server *srv = opaque;
	uint64_t expirations;

	/* Missed ticks are not made up: one scan sees every bit set since. */
	if (read(fd, &expirations, sizeof(expirations)) < 0)
		return; /* EAGAIN: disarmed meanwhile */
	vmbus_server_monitor_scan(srv);
	/* A guest may have changed its latency hint (DPDK does after open). */
	vmbus_monitor_update(srv);
}

/* Periodic timer of `period_us` (0 = stopped). */
static void vmbus_monitor_arm(struct vmbus_monitor *m, uint32_t period_us)
{
	struct itimerspec its = { 0 };

	m->period_us = period_us;
	if (m->timer_fd < 0)
		return;
	its.it_interval.tv_nsec = (long)period_us * 1000;
	its.it_value = its.it_interval;
	timerfd_settime(m->timer_fd, 0, &its, NULL);
}

int vmbus_monitor_init(struct vmbus_server *srv, uint32_t latency_us, uint32_t idle_us)
{
	struct vmbus_monitor *m = &srv->mon;

	memset(m, 0, sizeof(*m));
	m->latency_us = latency_us ? latency_us : VMBUS_MONITOR_LATENCY_DEFAULT_US;
	m->latency_us = CLAMP(m->latency_us, VMBUS_MONITOR_LATENCY_MIN_US,
			      VMBUS_MONITOR_LATENCY_MAX_US);
	m->idle_us = idle_us ? idle_us : VMBUS_MONITOR_IDLE_DEFAULT_US;
	m->idle_us = CLAMP(m->idle_us, m->latency_us, VMBUS_MONITOR_IDLE_MAX_US);
	m->timer_fd = -1;
	if (!srv->base)
		return 0; /* unit tests scan by hand */
	m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->timer_fd < 0)
		return -errno;
	m->scan_ev = event_new(srv->base, m->timer_fd, EV_READ | EV_PERSIST, vmbus_monitor_timer,
			       srv);
	/* Registered once; it fires only while the timerfd is armed. */
	if (!m->scan_ev || event_add(m->scan_ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

void vmbus_monitor_fini(struct vmbus_server *srv)
{
	vmbus_monitor_disconnect(srv);
	if (srv->mon.scan_ev)
		event_free(srv->mon.scan_ev);
	srv->mon.scan_ev = NULL;
	if (srv->mon.timer_fd >= 0)
		close(srv->mon.timer_fd);
	srv->mon.timer_fd = -1;
}

static const char *vmbus_monitor_check(const struct gmem *mem, uint64_t gpa1, uint64_t gpa2)
{
	if (!gpa1 || !gpa2)
		return "zero address";
	if ((gpa1 | gpa2) & (HV_PAGE_SIZE - 1))
		return "not page-aligned";
	if (gpa1 == gpa2)
		return "the same page twice";
	if (!mem || !gmem_translate(mem, gpa1, HV_PAGE_SIZE) ||
	    !gmem_translate(mem, gpa2, HV_PAGE_SIZE))
		return "outside guest RAM";
	return NULL;
}

int vmbus_monitor_connect(struct vmbus_server *srv, uint64_t gpa1, uint64_t gpa2)
{
	const struct gmem *mem = hv_partition_gmem(srv->hv);
	struct vmbus_monitor *m = &srv->mon;
	const char *why;

	vmbus_monitor_disconnect(srv);
	why = vmbus_monitor_check(mem, gpa1, gpa2);
	if (why) {
		srv->stats.monitor_pages_refused++;
		log_guest("vmbus: monitor pages %#llx/%#llx refused (%s): offers go out unmonitored",
			  (unsigned long long)gpa1, (unsigned long long)gpa2, why);
		return -EINVAL;
	}
	m->gpa[0] = gpa1;
	m->gpa[1] = gpa2;
	m->page[0] = gmem_translate(mem, gpa1, HV_PAGE_SIZE);
	m->page[1] = gmem_translate(mem, gpa2, HV_PAGE_SIZE);
	/* The four trigger groups: pending in the low half of each 8-byte
	 * group (armed, the high half, is never set here). */
	if (m->idle_watch)
		m->idle_watch(m->idle_opaque, gpa2 + MON_PENDING_OFF(0), UINT32_MAX);
	return 0;
}

void vmbus_monitor_disconnect(struct vmbus_server *srv)
{
	struct vmbus_monitor *m = &srv->mon;

	if (m->idle_watch && m->page[1])
		m->idle_watch(m->idle_opaque, 0, 0);
	m->idle_seen = false;
	m->finds_tick = m->finds_bell = 0;
	m->page[0] = m->page[1] = NULL;
	m->gpa[0] = m->gpa[1] = 0;
	for (struct vmbus_channel *ch = srv->chan_head; ch; ch = ch->next)
		ch->monitor_offered = false;
	vmbus_monitor_arm(m, 0);
}

/* ---- monitor ids -------------------------------------------------------- */

static int vmbus_monitor_alloc(struct vmbus_channel *ch)
{
	struct vmbus_monitor *m = &ch->srv->mon;

	if (ch->monitor_id >= 0)
		return 0;
	for (int id = 0; id < (int)HV_MONITOR_IDS; id++) {
		if (!m->owner[id]) {
			m->owner[id] = ch;
			ch->monitor_id = id;
			return 0;
		}
	}
	return -ENOSPC;
}

void vmbus_monitor_release(struct vmbus_channel *ch)
{
	if (ch->monitor_id >= 0 && ch->monitor_id < (int)HV_MONITOR_IDS &&
	    ch->srv->mon.owner[ch->monitor_id] == ch)
		ch->srv->mon.owner[ch->monitor_id] = NULL;
	ch->monitor_id = -1;
	ch->monitor_offered = false;
}

int vmbus_chan_set_monitored(struct vmbus_channel *ch, bool on)
{
	if (ch->offered)
		return -EBUSY;
	if (!on) {
		vmbus_monitor_release(ch);
		return 0;
	}
	return vmbus_monitor_alloc(ch);
}

int vmbus_chan_monitor_id(const struct vmbus_channel *ch)
{
	return ch->monitor_id;
}

void vmbus_monitor_inherit(struct vmbus_channel *ch)
{
	const struct vmbus_channel *p;

	if (ch->params.sub_channel_index == 0)
		return;
	for (p = ch->srv->chan_head; p; p = p->next) {
		if (p != ch && !p->rescinded && p->params.sub_channel_index == 0 &&
		    !memcmp(&p->params.if_type, &ch->params.if_type, sizeof(struct guid)) &&
		    !memcmp(&p->params.if_instance, &ch->params.if_instance, sizeof(struct guid))) {
			if (p->monitor_id >= 0 && vmbus_monitor_alloc(ch) < 0)
				log_info("vmbus: relid %u: no monitor id left, offered unmonitored",
					 ch->relid);
			return;
		}
	}
}

/* ---- offers and the scan ------------------------------------------------ */

bool vmbus_monitor_offer(struct vmbus_channel *ch)
{
	struct vmbus_monitor *m = &ch->srv->mon;
	uint32_t g, b;

	ch->monitor_offered = false;
	if (ch->monitor_id < 0 || !m->page[1])
		return false;
	g = (uint32_t)ch->monitor_id / HV_MONITOR_BITS_PER_GROUP;
	b = (uint32_t)ch->monitor_id % HV_MONITOR_BITS_PER_GROUP;
	/* The entries Hyper-V owns: the connection to signal and the latency,
	 * in both pages (Linux shows page 1's as server_monitor_*, page 2's
	 * as client_monitor_* in sysfs), and the group enabled for scanning. */
	for (int i = 0; i < 2; i++) {
		uint8_t *page = m->page[i];

		__atomic_store_n(mon_u32(page, MON_PARAM_OFF(g, b)), ch->conn_id, __ATOMIC_RELAXED);
		__atomic_store_n(mon_u32(page, MON_PARAM_OFF(g, b) + 4), 0u, __ATOMIC_RELAXED);
		__atomic_store_n(mon_u16(page, MON_LATENCY_OFF(g, b)),
				 (uint16_t)(m->latency_us * 10u), __ATOMIC_RELAXED);
		__atomic_fetch_or(mon_u32(page, offsetof(struct hv_monitor_page, trigger_state)),
				  1u << g, __ATOMIC_RELAXED);
	}
	/* Published before the offer: the guest reads them after it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ch->monitor_offered = true;
	return true;
}

static bool vmbus_monitor_live(const struct vmbus_channel *ch)
{
	return ch->monitor_offered && ch->open && !ch->closing && !ch->rescinded;
}

/* A scan found a bit; returns whether ticks found more of them lately
 * than the doorbell did, i.e. whether ticks are what serves this guest.
 * A frontend watch that sees each bit at once leaves a tick only the bits
 * it finds by racing the doorbell: the time from the guest's store to the
 * doorbell scan, some 10 % of a 100 us tick period on the test machine.
 * A lower threshold (1 tick find in 9 was tried) is bistable: once the
 * timer ticks fast, its own races keep it fast. */
static bool vmbus_monitor_count_find(struct vmbus_monitor *m, bool by_tick)
{
	if (by_tick)
		m->finds_tick++;
	else
		m->finds_bell++;
	if (m->finds_tick + m->finds_bell > VMBUS_MONITOR_FINDS_WINDOW) {
		m->finds_tick /= 2;
		m->finds_bell /= 2;
	}
	return m->finds_tick > m->finds_bell;
}

/* One pass over the pending words.  A timer scan moves the timer between
 * active and idle; a doorbell scan leaves it alone (see the file comment). */
static int vmbus_monitor_scan(struct vmbus_server *srv, bool timer)
{
	struct vmbus_monitor *m = &srv->mon;
	int n = 0, stray = 0;

	if (!m->page[1])
		return 0;
	srv->stats.monitor_scans++;
	for (uint32_t g = 0; g < HV_MONITOR_GROUPS; g++) {
		uint32_t *pending, bits;

		/* The page may vanish under a callback (a device that ends the
		 * connection is not expected, but costs nothing to honour). */
		if (!m->page[1])
			break;
		pending = mon_u32(m->page[1], MON_PENDING_OFF(g));
		/* A plain load first: an idle scan writes nothing to the
		 * guest's cache line. */
		if (!__atomic_load_n(pending, __ATOMIC_RELAXED))
			continue;
		/* Take and clear in one step; pairs with the guest's locked
		 * OR, which follows its ring write: acquire makes that write
		 * visible before the device reads the ring.  A bit set after
		 * the exchange is found by the next scan. */
		bits = __atomic_exchange_n(pending, 0u, __ATOMIC_ACQ_REL);
		while (bits) {
			uint32_t b = (uint32_t)__builtin_ctz(bits);
			struct vmbus_channel *ch = m->owner[g * HV_MONITOR_BITS_PER_GROUP + b];

			bits &= bits - 1;
			if (!ch || !vmbus_monitor_live(ch)) {
				srv->stats.monitor_stray++;
				stray++;
				continue;
			}
			srv->stats.monitor_signals++;
			ch->stats.monitor_signals_in++;
			trace_emit(VMBUS_TRACE_SIGNAL_IN, ch->relid, VMBUS_TRACE_VP_NONE, ch->conn_id,
				   0, NULL, 0);
			vmbus_chan_signalled(ch);
			n++;
		}
	}
	if (!timer)
		return n;
	if (n && vmbus_monitor_count_find(m, true))
		vmbus_monitor_set_active(srv, true);
	else if (!stray && m->active && ++m->empty_scans >= VMBUS_MONITOR_IDLE_SCANS)
		vmbus_monitor_set_active(srv, false);
	return n;
}

int vmbus_server_monitor_scan(struct vmbus_server *srv)
{
	return vmbus_monitor_scan(srv, true);
}

void vmbus_server_monitor_idle(struct vmbus_server *srv)
{
	if (!srv->mon.page[1])
		return;
	/* Scanned even with no monitored channel open: that clears stray
	 * bits, which would otherwise ring again at every halt. */
	srv->stats.monitor_idle_scans++;
	if (vmbus_monitor_scan(srv, false) > 0) {
		srv->mon.idle_seen = true;
		vmbus_monitor_count_find(&srv->mon, false);
	}
}

void vmbus_monitor_kick(struct vmbus_server *srv)
{
	/* With a frontend that rings when the guest halts, the guest's answer
	 * is announced by the doorbell if the guest idles before it, and by
	 * the timer (which then speeds up) if it stays busy. */
	if (srv->mon.page[1] && !srv->mon.idle_seen)
		vmbus_monitor_set_active(srv, true);
}

/* The latency an open monitored channel asks for now, in us. */
static uint32_t vmbus_monitor_latency(const struct vmbus_server *srv,
				      const struct vmbus_channel *ch)
{
	uint32_t g = (uint32_t)ch->monitor_id / HV_MONITOR_BITS_PER_GROUP;
	uint32_t b = (uint32_t)ch->monitor_id % HV_MONITOR_BITS_PER_GROUP;
	uint16_t units = __atomic_load_n(mon_u16(srv->mon.page[1], MON_LATENCY_OFF(g, b)),
					 __ATOMIC_RELAXED);
	uint32_t us = ((uint32_t)units + 9u) / 10u;

	return CLAMP(us, VMBUS_MONITOR_LATENCY_MIN_US, VMBUS_MONITOR_LATENCY_MAX_US);
}

void vmbus_monitor_update(struct vmbus_server *srv)
{
	struct vmbus_monitor *m = &srv->mon;
	uint32_t period = 0;

	if (m->page[1]) {
		for (const struct vmbus_channel *ch = srv->chan_head; ch; ch = ch->next) {
			if (!vmbus_monitor_live(ch))
				continue;
			uint32_t us = vmbus_monitor_latency(srv, ch);

			period = period ? MIN(period, us) : us;
		}
	}
	if (period && !m->active)
		period = MAX(period, m->idle_us);
	if (period != m->period_us)
		vmbus_monitor_arm(m, period);
}

uint32_t vmbus_server_monitor_period_us(const struct vmbus_server *srv)
{
	return srv->mon.period_us;
}
