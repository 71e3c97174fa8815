/* SPDX-License-Identifier: MIT */
/*
 * Monitored notification (src/vmbus/monitor.c): monitor ids and offers,
 * the entries the host writes into the guest's monitor pages, refusal of
 * unusable pages, the scan (pending bits cleared atomically, honoured only
 * for open monitored channels, strays counted), HvSignalEvent on a
 * monitored channel, subchannels, the latency hint and unload.
 */
#include <check.h>
#include <stddef.h>

#include "core/util.h"
#include "tests/unit/vmbus_harness.h"

#define PEND(page, g) ((uint32_t *)(void *)((page) + 8 + (g) * 8))
#define LAT(page, id) ((uint16_t *)(void *)((page) + 576 + (id) * 2))
#define PARAM(page, id) ((uint32_t *)(void *)((page) + 1088 + (id) * 8))

/* INITIATE_CONTACT at 5.3 with the given monitor pages; version_supported. */
static int connect_with(struct th *t, uint64_t p1, uint64_t p2)
{
	struct vmbus_msg_initiate_contact ic = {
		.header.msgtype = CHANNELMSG_INITIATE_CONTACT,
		.vmbus_version_requested = VMBUS_VERSION_WIN10_V5_3,
		.msg_sint = VMBUS_MESSAGE_SINT,
		.monitor_page1 = p1,
		.monitor_page2 = p2,
	};
	struct vmbus_msg_version_response resp;

	th_post(t, 0, VMBUS_MESSAGE_CONNECTION_ID_4, &ic, sizeof(ic));
	if (th_recv(t, 0, &resp, NULL) != CHANNELMSG_VERSION_RESPONSE)
		return -1;
	return resp.version_supported;
}

struct mon_fixture {
	struct th t;
	struct td d[3];
	uint64_t pages;   /* GPA of page 1; page 2 follows */
	uint8_t *p1, *p2;
	struct vmbus_msg_offer_channel o[4];
};

/* Three channels: 0 and 1 monitored, 2 not; connected; offers taken. */
static void mon_setup(struct mon_fixture *f)
{
	ck_assert_int_eq(th_init(&f->t, 2, 0), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_ptr_nonnull(td_offer(&f->t, &f->d[i], (uint8_t)(i + 1), 0, false));
		ck_assert_int_eq(vmbus_chan_set_monitored(f->d[i].ch, i < 2), 0);
	}
	f->pages = th_alloc(&f->t, 2);
	f->p1 = th_ptr(&f->t, f->pages, 4096);
	f->p2 = th_ptr(&f->t, f->pages + 4096, 4096);
	ck_assert_int_eq(connect_with(&f->t, f->pages, f->pages + 4096), 1);
	ck_assert_int_eq(th_request_offers(&f->t, f->o, 4), 3);
}

START_TEST(offers_and_page_entries)
{
	struct mon_fixture f;

	mon_setup(&f);
	ck_assert_int_eq(vmbus_chan_monitor_id(f.d[0].ch), 0);
	ck_assert_int_eq(vmbus_chan_monitor_id(f.d[1].ch), 1);
	ck_assert_int_eq(vmbus_chan_monitor_id(f.d[2].ch), -1);
	for (int i = 0; i < 2; i++) {
		uint32_t id = f.o[i].monitorid;

		ck_assert_int_eq(f.o[i].monitor_allocated, 1);
		ck_assert_uint_eq(id, (uint32_t)i);
		/* Both pages: connection id, flag 0, default latency 100 us. */
		ck_assert_uint_eq(*PARAM(f.p1, id), f.o[i].connection_id);
		ck_assert_uint_eq(*PARAM(f.p2, id), f.o[i].connection_id);
		ck_assert_uint_eq(PARAM(f.p2, id)[1], 0);
		ck_assert_uint_eq(*LAT(f.p2, id), 1000);
		ck_assert_uint_eq(*LAT(f.p1, id), 1000);
	}
	ck_assert_int_eq(f.o[2].monitor_allocated, 0);
	ck_assert_int_eq(f.o[2].monitorid, 0);
	/* Group 0 enabled, the others not. */
	ck_assert_uint_eq(*(uint32_t *)(void *)f.p2, 1);
	/* The guest has seen the offers: too late to change. */
	ck_assert_int_eq(vmbus_chan_set_monitored(f.d[2].ch, true), -EBUSY);
	ck_assert_uint_eq(vmbus_server_stats(f.t.srv)->monitor_pages_refused, 0);
	th_fini(&f.t);
}
END_TEST

START_TEST(bad_pages_refused)
{
	static const struct { uint64_t p1, p2; } cases[] = {
		{ 0, 0 },                                  /* what a guest without pages sends */
		{ TH_ALLOC_BASE, 0 },
		{ TH_ALLOC_BASE + 8, TH_ALLOC_BASE + 4096 }, /* unaligned */
		{ TH_ALLOC_BASE, TH_ALLOC_BASE },            /* the same page twice */
		{ TH_ALLOC_BASE, TH_RAM_SIZE },              /* past the end of RAM */
		{ TH_RAM_SIZE - 4096, ~0ull & ~4095ull },
	};
	struct th t;
	struct td d;
	struct vmbus_msg_offer_channel o;

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&t, &d, 1, 0, false));
	ck_assert_int_eq(vmbus_chan_set_monitored(d.ch, true), 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vmbus_msg_header m = { .msgtype = CHANNELMSG_UNLOAD };

		/* The connection comes up; the offer is unmonitored. */
		ck_assert_int_eq(connect_with(&t, cases[i].p1, cases[i].p2), 1);
		ck_assert_int_eq(th_request_offers(&t, &o, 1), 1);
		ck_assert_int_eq(o.monitor_allocated, 0);
		ck_assert_uint_eq(vmbus_server_stats(t.srv)->monitor_pages_refused, i + 1);
		ck_assert_int_eq(vmbus_server_monitor_scan(t.srv), 0);
		th_post(&t, 0, 1, &m, sizeof(m));
		th_drain(&t, 0);
	}
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->monitor_scans, 0);
	th_fini(&t);
}
END_TEST

START_TEST(scan_signals_and_clears)
{
	struct mon_fixture f;
	struct tg_chan c0, c2;

	mon_setup(&f);
	ck_assert_int_eq(tg_open(&f.t, &c0, 1, 0xA0, 4, 4, 0, 0), 0);
	ck_assert_int_eq(tg_open(&f.t, &c2, 3, 0xA2, 4, 4, 0, 0), 0);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), 100);
	/* Nothing pending: no signal, nothing written. */
	ck_assert_int_eq(vmbus_server_monitor_scan(f.t.srv), 0);
	/* Channel 0's bit (open): one notify, the bit cleared. */
	__atomic_fetch_or(PEND(f.p2, 0), 1u << 0, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(vmbus_server_monitor_scan(f.t.srv), 1);
	ck_assert_int_eq(f.d[0].notifies, 1);
	ck_assert_uint_eq(*PEND(f.p2, 0), 0);
	ck_assert_uint_eq(vmbus_chan_stats(f.d[0].ch)->monitor_signals_in, 1);
	ck_assert_uint_eq(vmbus_chan_stats(f.d[0].ch)->signals_in, 0);
	/* Channel 1's bit (offered monitored, not open), an id nobody owns
	 * and a bit in group 3: all cleared, counted as strays. */
	__atomic_fetch_or(PEND(f.p2, 0), (1u << 1) | (1u << 17), __ATOMIC_SEQ_CST);
	__atomic_fetch_or(PEND(f.p2, 3), 1u << 31, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(vmbus_server_monitor_scan(f.t.srv), 0);
	ck_assert_uint_eq(*PEND(f.p2, 0), 0);
	ck_assert_uint_eq(*PEND(f.p2, 3), 0);
	ck_assert_int_eq(f.d[1].notifies, 0);
	ck_assert_uint_eq(vmbus_server_stats(f.t.srv)->monitor_stray, 3);
	ck_assert_uint_eq(vmbus_server_stats(f.t.srv)->monitor_signals, 1);
	/* The "armed" word and page 1 are not acted on. */
	__atomic_fetch_or(PEND(f.p2, 0) + 1, 1u, __ATOMIC_SEQ_CST);
	__atomic_fetch_or(PEND(f.p1, 0), 1u, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(vmbus_server_monitor_scan(f.t.srv), 0);
	ck_assert_int_eq(f.d[0].notifies, 1);
	/* HvSignalEvent still reaches a monitored channel (Linux low_latency). */
	ck_assert_int_eq(th_signal(&f.t, 0, c0.conn_id), HV_STATUS_SUCCESS);
	ck_assert_int_eq(f.d[0].notifies, 2);
	ck_assert_uint_eq(vmbus_chan_stats(f.d[0].ch)->signals_in, 1);
	/* Real traffic: a packet written, signalled by the monitor bit. */
	f.d[0].drain_on_notify = true;
	ck_assert_int_ge(tg_write(&f.t, &c0, VM_PKT_DATA_INBAND, 1, "abcdefgh", 8), 0);
	__atomic_fetch_or(PEND(f.p2, 0), 1u << 0, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(vmbus_server_monitor_scan(f.t.srv), 1);
	ck_assert_int_eq(f.d[0].drained, 1);
	th_fini(&f.t);
}
END_TEST

START_TEST(timer_follows_open_channels_and_hint)
{
	struct mon_fixture f;
	struct tg_chan c0, c1, c2;
	struct vmbus_msg_relid close = { .header.msgtype = CHANNELMSG_CLOSECHANNEL };

	mon_setup(&f);
	/* An unmonitored channel open: no scan. */
	ck_assert_int_eq(tg_open(&f.t, &c2, 3, 0xA2, 4, 4, 0, 0), 0);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), 0);
	/* The guest asks 50 us for channel 1 (DPDK's rte_vmbus_set_latency)
	 * and 0 for channel 0: the fastest wins, clamped to the floor. */
	*LAT(f.p2, 1) = 500;
	ck_assert_int_eq(tg_open(&f.t, &c1, 2, 0xA1, 4, 4, 0, 0), 0);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), 50);
	*LAT(f.p2, 0) = 0;
	ck_assert_int_eq(tg_open(&f.t, &c0, 1, 0xA0, 4, 4, 0, 0), 0);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), VMBUS_MONITOR_LATENCY_MIN_US);
	/* A hostile huge hint is clamped too. */
	close.child_relid = 1;
	th_post(&f.t, 0, 1, &close, sizeof(close));
	*LAT(f.p2, 1) = 0xFFFF;
	close.child_relid = 2;
	th_post(&f.t, 0, 1, &close, sizeof(close));
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), 0);
	ck_assert_int_eq(tg_open(&f.t, &c1, 2, 0xB1, 4, 4, 0, 0), 0);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), VMBUS_MONITOR_LATENCY_MAX_US);
	th_fini(&f.t);
}
END_TEST

START_TEST(scan_idles_and_wakes)
{
	struct mon_fixture f;
	struct tg_chan c0;

	mon_setup(&f);
	ck_assert_int_eq(tg_open(&f.t, &c0, 1, 0xA0, 4, 4, 0, 0), 0);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), 100);
	/* Quiet: after VMBUS_MONITOR_IDLE_SCANS empty scans, the idle period. */
	for (uint32_t i = 0; i + 1 < VMBUS_MONITOR_IDLE_SCANS; i++)
		vmbus_server_monitor_scan(f.t.srv);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), 100);
	vmbus_server_monitor_scan(f.t.srv);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), VMBUS_MONITOR_IDLE_DEFAULT_US);
	/* A bit found: back to the latency at once. */
	__atomic_fetch_or(PEND(f.p2, 0), 1u, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(vmbus_server_monitor_scan(f.t.srv), 1);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), 100);
	/* Idle again; the host interrupting the guest on the channel wakes it. */
	for (uint32_t i = 0; i < VMBUS_MONITOR_IDLE_SCANS; i++)
		vmbus_server_monitor_scan(f.t.srv);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), VMBUS_MONITOR_IDLE_DEFAULT_US);
	ck_assert_int_eq(vmbus_chan_send_inband(f.d[0].ch, 7, 0, "12345678", 8), 0);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), 100);
	th_fini(&f.t);
}
END_TEST

START_TEST(subchannel_inherits_and_ids_run_out)
{
	struct th t;
	struct td d, sub, many[HV_MONITOR_IDS];
	struct vmbus_offer_params p = { .sub_channel_index = 1 };
	int n = 0;

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&t, &d, 1, 0, false));
	ck_assert_int_eq(vmbus_chan_set_monitored(d.ch, true), 0);
	ck_assert_int_eq(vmbus_chan_set_monitored(d.ch, true), 0); /* idempotent */
	p.if_type.b[0] = 0xAA; /* td_offer's class */
	p.if_instance.b[0] = 1;
	memset(&sub, 0, sizeof(sub));
	sub.ch = vmbus_offer(t.srv, &p, &td_ops, &sub);
	ck_assert_ptr_nonnull(sub.ch);
	ck_assert_int_eq(vmbus_chan_monitor_id(sub.ch), 1);
	/* Off releases the id; the next channel takes it. */
	ck_assert_int_eq(vmbus_chan_set_monitored(sub.ch, false), 0);
	ck_assert_int_eq(vmbus_chan_monitor_id(sub.ch), -1);
	for (uint32_t i = 0; i < HV_MONITOR_IDS; i++) {
		ck_assert_ptr_nonnull(td_offer(&t, &many[i], (uint8_t)(10 + i), 0, false));
		if (vmbus_chan_set_monitored(many[i].ch, true) == 0)
			n++;
		else
			ck_assert_int_eq(vmbus_chan_set_monitored(many[i].ch, true), -ENOSPC);
	}
	ck_assert_int_eq(n, HV_MONITOR_IDS - 1);
	ck_assert_int_eq(vmbus_chan_monitor_id(many[0].ch), 1);
	/* A rescinded-and-freed channel gives its id back. */
	vmbus_rescind(many[0].ch); /* never offered: freed at once */
	ck_assert_int_eq(vmbus_chan_set_monitored(many[HV_MONITOR_IDS - 1].ch, true), 0);
	ck_assert_int_eq(vmbus_chan_monitor_id(many[HV_MONITOR_IDS - 1].ch), 1);
	th_fini(&t);
}
END_TEST

/* The idle watch (monitor.c): the frontend is pointed at page 2's pending
 * words while the pages are in use, and its doorbell scans at once. */
START_TEST(idle_watch_follows_the_pages)
{
	struct mon_fixture f;
	struct tg_chan c0;
	struct vmbus_msg_header m = { .msgtype = CHANNELMSG_UNLOAD };

	mon_setup(&f);
	ck_assert_uint_eq(f.t.idle_gpa, f.pages + 4096 + 8);
	ck_assert_uint_eq(f.t.idle_mask, 0xffffffffu);
	ck_assert_int_eq(tg_open(&f.t, &c0, 1, 0xA0, 4, 4, 0, 0), 0);
	__atomic_fetch_or(PEND(f.p2, 0), 1u << 0, __ATOMIC_SEQ_CST);
	vmbus_server_monitor_idle(f.t.srv);
	ck_assert_int_eq(f.d[0].notifies, 1);
	ck_assert_uint_eq(*PEND(f.p2, 0), 0);
	ck_assert_uint_eq(vmbus_server_stats(f.t.srv)->monitor_idle_scans, 1);
	/* The frontend checks, so the timer is left to idle: doorbell scans
	 * do not count as empty or found, interrupting the guest does not
	 * speed it up, ticks that find more bits than the doorbell did (a
	 * busy vCPU the watch misses) do. */
	for (uint32_t i = 0; i < VMBUS_MONITOR_IDLE_SCANS; i++)
		vmbus_server_monitor_scan(f.t.srv);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), VMBUS_MONITOR_IDLE_DEFAULT_US);
	ck_assert_int_eq(vmbus_chan_send_inband(f.d[0].ch, 7, 0, "12345678", 8), 0);
	__atomic_fetch_or(PEND(f.p2, 0), 1u << 0, __ATOMIC_SEQ_CST);
	vmbus_server_monitor_idle(f.t.srv);
	ck_assert_int_eq(f.d[0].notifies, 2);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), VMBUS_MONITOR_IDLE_DEFAULT_US);
	for (int i = 0; i < 3; i++) {
		__atomic_fetch_or(PEND(f.p2, 0), 1u << 0, __ATOMIC_SEQ_CST);
		ck_assert_int_eq(vmbus_server_monitor_scan(f.t.srv), 1);
	}
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), 100);
	/* A stray bit is cleared too, so it does not ring at every halt. */
	__atomic_fetch_or(PEND(f.p2, 2), 1u << 5, __ATOMIC_SEQ_CST);
	vmbus_server_monitor_idle(f.t.srv);
	ck_assert_uint_eq(*PEND(f.p2, 2), 0);
	th_post(&f.t, 0, 1, &m, sizeof(m));
	ck_assert_int_eq(th_recv(&f.t, 0, NULL, NULL), CHANNELMSG_UNLOAD_RESPONSE);
	ck_assert_uint_eq(f.t.idle_gpa, 0);
	/* Pages gone: a late doorbell touches nothing. */
	__atomic_fetch_or(PEND(f.p2, 0), 1u, __ATOMIC_SEQ_CST);
	vmbus_server_monitor_idle(f.t.srv);
	ck_assert_uint_eq(*PEND(f.p2, 0), 1);
	ck_assert_uint_eq(vmbus_server_stats(f.t.srv)->monitor_idle_scans, 3);
	th_fini(&f.t);
}
END_TEST

/* With a frontend watch that rings for nearly every bit, a tick that finds
 * one only raced the doorbell: the timer stays idle.  Ticks that find a
 * real share of the bits (a busy vCPU the watch misses) wake it. */
START_TEST(ticks_idle_while_the_watch_serves)
{
	struct mon_fixture f;
	struct tg_chan c0;
	const uint32_t bells = 4;

	mon_setup(&f);
	ck_assert_int_eq(tg_open(&f.t, &c0, 1, 0xA0, 4, 4, 0, 0), 0);
	for (uint32_t i = 0; i < bells; i++) {
		__atomic_fetch_or(PEND(f.p2, 0), 1u, __ATOMIC_SEQ_CST);
		vmbus_server_monitor_idle(f.t.srv);
	}
	ck_assert_int_eq(f.d[0].notifies, (int)bells);
	for (uint32_t i = 0; i < VMBUS_MONITOR_IDLE_SCANS; i++)
		vmbus_server_monitor_scan(f.t.srv);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), VMBUS_MONITOR_IDLE_DEFAULT_US);
	/* Found by ticks: served every time, but only once ticks have found
	 * more bits than the doorbell (the fifth) are they worth speeding up. */
	for (uint32_t i = 1; i <= bells + 1; i++) {
		__atomic_fetch_or(PEND(f.p2, 0), 1u, __ATOMIC_SEQ_CST);
		ck_assert_int_eq(vmbus_server_monitor_scan(f.t.srv), 1);
		ck_assert_int_eq(f.d[0].notifies, (int)(bells + i));
		ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv),
				  i <= bells ? VMBUS_MONITOR_IDLE_DEFAULT_US : 100);
	}
	/* The share decays as the doorbell keeps finding bits: the counts are
	 * halved together, so old tick finds weigh less and less. */
	for (uint32_t i = 0; i < 200; i++) {
		__atomic_fetch_or(PEND(f.p2, 0), 1u, __ATOMIC_SEQ_CST);
		vmbus_server_monitor_idle(f.t.srv);
	}
	for (uint32_t i = 0; i < VMBUS_MONITOR_IDLE_SCANS; i++)
		vmbus_server_monitor_scan(f.t.srv);
	__atomic_fetch_or(PEND(f.p2, 0), 1u, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(vmbus_server_monitor_scan(f.t.srv), 1);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), VMBUS_MONITOR_IDLE_DEFAULT_US);
	th_fini(&f.t);
}
END_TEST

START_TEST(unload_forgets_pages)
{
	struct mon_fixture f;
	struct tg_chan c0;
	struct vmbus_msg_header m = { .msgtype = CHANNELMSG_UNLOAD };
	uint64_t scans, other;

	mon_setup(&f);
	ck_assert_int_eq(tg_open(&f.t, &c0, 1, 0xA0, 4, 4, 0, 0), 0);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), 100);
	th_post(&f.t, 0, 1, &m, sizeof(m));
	ck_assert_int_eq(th_recv(&f.t, 0, NULL, NULL), CHANNELMSG_UNLOAD_RESPONSE);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), 0);
	scans = vmbus_server_stats(f.t.srv)->monitor_scans;
	__atomic_fetch_or(PEND(f.p2, 0), 1u, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(vmbus_server_monitor_scan(f.t.srv), 0);
	ck_assert_uint_eq(vmbus_server_stats(f.t.srv)->monitor_scans, scans);
	ck_assert_uint_eq(*PEND(f.p2, 0), 1); /* the page is not touched any more */
	/* Reconnect with other pages: the ids are offered again. */
	other = th_alloc(&f.t, 2);
	ck_assert_int_eq(connect_with(&f.t, other, other + 4096), 1);
	ck_assert_int_eq(th_request_offers(&f.t, f.o, 4), 3);
	ck_assert_int_eq(f.o[0].monitor_allocated, 1);
	ck_assert_uint_eq(*PARAM((uint8_t *)th_ptr(&f.t, other + 4096, 4096), 0),
			  f.o[0].connection_id);
	vmbus_server_reset(f.t.srv);
	ck_assert_uint_eq(vmbus_server_monitor_period_us(f.t.srv), 0);
	ck_assert_int_eq(vmbus_server_monitor_scan(f.t.srv), 0);
	th_fini(&f.t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("monitor");
	TCase *tc = tcase_create("monitor");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, offers_and_page_entries);
	tcase_add_test(tc, bad_pages_refused);
	tcase_add_test(tc, scan_signals_and_clears);
	tcase_add_test(tc, timer_follows_open_channels_and_hint);
	tcase_add_test(tc, scan_idles_and_wakes);
	tcase_add_test(tc, subchannel_inherits_and_ids_run_out);
	tcase_add_test(tc, unload_forgets_pages);
	tcase_add_test(tc, idle_watch_follows_the_pages);
	tcase_add_test(tc, ticks_idle_while_the_watch_serves);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
