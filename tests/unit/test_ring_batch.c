/* SPDX-License-Identifier: MIT */
/*
 * Batches and polling on the host side of the rings (src/vmbus/ring.c
 * "Batches", "Polling"): inside ops->notify read_index is stored when the
 * ring is found empty and at the end, pending_send_sz is checked once, the
 * host->guest interrupt is decided once; a polling channel masks guest
 * signals while it spins and unmasks before it sleeps.
 */
#include <check.h>

#include "tests/unit/vmbus_harness.h"

struct fix {
	struct th t;
	struct td d;
	struct tg_chan c;
};

static struct fix *cur; /* for the notify hooks */

static void fix_setup(struct fix *f, bool every, uint32_t poll_us)
{
	memset(f, 0, sizeof(*f));
	cur = f;
	ck_assert_int_eq(th_init(&f->t, 2, 0), 0);
	ck_assert_ptr_nonnull(td_offer_poll(&f->t, &f->d, 1, 0, every, poll_us));
	ck_assert_int_eq(th_connect(&f->t, VMBUS_VERSION_WIN10_V5_2), 1);
	ck_assert_int_eq(th_request_offers(&f->t, NULL, 0), 1);
	ck_assert_int_eq(tg_open(&f->t, &f->c, vmbus_chan_relid(f->d.ch), 0xE1E10, 4, 4, 1, 0), 0);
}

/* A guest write that raises no signal (as if it saw interrupt_mask set). */
static void write_unsignalled(struct fix *f, uint64_t id)
{
	uint32_t mask = tg_ld(TG_MASK(&f->c.out));

	tg_st(TG_MASK(&f->c.out), 1);
	ck_assert_int_eq(tg_write(&f->t, &f->c, VM_PKT_DATA_INBAND, id, "abcdefgh", 8), 0);
	tg_st(TG_MASK(&f->c.out), mask);
}

/* ---- read_index inside a batch ------------------------------------------------ */

static uint32_t seen_r[8];
static int n_seen;

static void hook_read_each(struct td *d)
{
	struct vmbus_pkt pkt;

	while (vmbus_chan_recv(d->ch, &pkt) == 1) {
		d->drained++;
		if (n_seen < 8)
			seen_r[n_seen++] = tg_ld(TG_R(&cur->c.out));
	}
}

START_TEST(batch_read_index_stored_once)
{
	struct fix f;

	fix_setup(&f, false, 0);
	n_seen = 0;
	write_unsignalled(&f, 1);
	write_unsignalled(&f, 2);
	write_unsignalled(&f, 3);
	f.d.hook = hook_read_each;
	ck_assert_int_eq(th_signal(&f.t, 0, f.c.conn_id), HV_STATUS_SUCCESS);
	ck_assert_int_eq(f.d.drained, 3);
	/* Not stored packet by packet: the guest saw 0 until the batch found
	 * the ring empty, then everything at once. */
	ck_assert_int_eq(n_seen, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(seen_r[i], 0);
	ck_assert_uint_eq(tg_ld(TG_R(&f.c.out)), tg_ld(TG_W(&f.c.out)));
	th_fini(&f.t);
}
END_TEST

/* A blocked guest writer is woken once, for the whole batch. */
START_TEST(batch_pending_send_sz_once)
{
	struct fix f;
	uint8_t payload[1000] = { 0 };
	int n = 0;

	fix_setup(&f, false, 0);
	while (tg_write(&f.t, &f.c, VM_PKT_DATA_INBAND, 1, payload, sizeof(payload)) >= 0)
		n++;
	ck_assert_int_eq(n, 11); /* the first write signalled: notify ran, read nothing */
	tg_st(TG_PEND(&f.c.out), 2048 + 8);
	(void)th_event(&f.t, 1, f.c.relid);
	f.d.drain_on_notify = true;
	ck_assert_int_eq(th_signal(&f.t, 0, f.c.conn_id), HV_STATUS_SUCCESS);
	ck_assert_int_eq(f.d.drained, 11);
	ck_assert(th_event(&f.t, 1, f.c.relid));
	ck_assert_uint_eq(vmbus_chan_stats(f.d.ch)->signals_out, 1);
	th_fini(&f.t);
}
END_TEST

/* ---- the host->guest interrupt decision ---------------------------------------- */

static int sends_per_notify;

static void hook_send(struct td *d)
{
	for (int i = 0; i < sends_per_notify; i++)
		ck_assert_int_eq(vmbus_chan_send_inband(d->ch, (uint64_t)i, 0, "x", 1), 0);
}

START_TEST(batch_one_interrupt_per_batch)
{
	struct fix f;

	fix_setup(&f, false, 0);
	f.d.hook = hook_send;
	sends_per_notify = 3;
	ck_assert_int_eq(th_signal(&f.t, 0, f.c.conn_id), HV_STATUS_SUCCESS);
	ck_assert(th_event(&f.t, 1, f.c.relid));
	ck_assert_uint_eq(vmbus_chan_stats(f.d.ch)->signals_out, 1);
	/* Unread packets and mask 0: the guest may sleep on them, interrupt. */
	ck_assert_int_eq(th_signal(&f.t, 0, f.c.conn_id), HV_STATUS_SUCCESS);
	ck_assert_uint_eq(vmbus_chan_stats(f.d.ch)->signals_out, 2);
	/* Masked (the guest is draining): none. */
	tg_st(TG_MASK(&f.c.in), 1);
	ck_assert_int_eq(th_signal(&f.t, 0, f.c.conn_id), HV_STATUS_SUCCESS);
	ck_assert_uint_eq(vmbus_chan_stats(f.d.ch)->signals_out, 2);
	/* Nothing sent: none, even with unread packets. */
	tg_st(TG_MASK(&f.c.in), 0);
	sends_per_notify = 0;
	ck_assert_int_eq(th_signal(&f.t, 0, f.c.conn_id), HV_STATUS_SUCCESS);
	ck_assert_uint_eq(vmbus_chan_stats(f.d.ch)->signals_out, 2);
	ck_assert_uint_eq(vmbus_chan_stats(f.d.ch)->packets_out, 9);
	th_fini(&f.t);
}
END_TEST

START_TEST(batch_signal_every_packet_kept)
{
	struct fix f;

	fix_setup(&f, true, 0);
	f.d.hook = hook_send;
	sends_per_notify = 3;
	ck_assert_int_eq(th_signal(&f.t, 0, f.c.conn_id), HV_STATUS_SUCCESS);
	ck_assert_uint_eq(vmbus_chan_stats(f.d.ch)->signals_out, 3);
	th_fini(&f.t);
}
END_TEST

/* ---- write_index inside a batch ------------------------------------------------ */

static uint32_t w_seen[16], pend_at_full;
static int n_sent;

/* Sends 1000-byte packets until the ring is full, noting the write_index
 * the guest could see after each. */
static void hook_send_until_full(struct td *d)
{
	static const uint8_t payload[1000];

	n_sent = 0;
	while (n_sent < 16 && vmbus_chan_send_inband(d->ch, 1, 0, payload, sizeof(payload)) == 0)
		w_seen[n_sent++] = tg_ld(TG_W(&cur->c.in));
	pend_at_full = tg_ld(TG_PEND(&cur->c.in));
	d->hook = NULL;
}

START_TEST(batch_write_index_deferred)
{
	struct fix f;

	fix_setup(&f, false, 0);
	f.d.hook = hook_send;
	sends_per_notify = 3;
	ck_assert_int_eq(th_signal(&f.t, 0, f.c.conn_id), HV_STATUS_SUCCESS);
	/* three 32-byte packets, stored once at the end of the batch */
	ck_assert_uint_eq(tg_ld(TG_W(&f.c.in)), 3 * 32);
	ck_assert_uint_eq(vmbus_chan_stats(f.d.ch)->signals_out, 1);
	th_fini(&f.t);
}
END_TEST

/* Stored every RING_PUBLISH_BYTES inside a batch (at most half the ring:
 * 6 KiB here), and before the host waits on a full ring: the guest can
 * only make room by reading. */
START_TEST(batch_write_index_published_when_full)
{
	struct fix f;

	fix_setup(&f, false, 0);
	f.d.hook = hook_send_until_full;
	ck_assert_int_eq(th_signal(&f.t, 0, f.c.conn_id), HV_STATUS_SUCCESS);
	/* 12 KiB data area, 1024 bytes a packet: 11 fit (never completely full) */
	ck_assert_int_eq(n_sent, 11);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(w_seen[i], 0);
	for (int i = 5; i < 11; i++)
		ck_assert_uint_eq(w_seen[i], 6 * 1024);
	ck_assert_uint_eq(pend_at_full, 1024);
	ck_assert_uint_eq(tg_ld(TG_W(&f.c.in)), 11 * 1024);
	th_fini(&f.t);
}
END_TEST

/* ---- polling ---------------------------------------------------------------------- */

static uint32_t mask_at[8];

static void hook_poll(struct td *d)
{
	int n = d->notifies;

	if (n <= 8)
		mask_at[n - 1] = tg_ld(TG_MASK(&cur->c.out));
	if (n == 1) {
		write_unsignalled(cur, 2);     /* arrives after the drain */
	} else if (n == 2) {
		/* Polling: the host masked, so a Linux-rule write does not signal. */
		ck_assert_int_eq(tg_write(&cur->t, &cur->c, VM_PKT_DATA_INBAND, 3, "x", 1), 0);
	} else if (n == 3) {
		d->drain_on_notify = false;    /* the device stops reading */
		write_unsignalled(cur, 4);
	}
}

START_TEST(poll_masks_then_sleeps)
{
	struct fix f;

	fix_setup(&f, false, 2000);
	f.d.drain_on_notify = true;
	f.d.hook = hook_poll;
	memset(mask_at, 0xFF, sizeof(mask_at));
	ck_assert_int_eq(tg_write(&f.t, &f.c, VM_PKT_DATA_INBAND, 1, "x", 1), 1);
	/* 1: signalled; 2 and 3: found by polling, mask set; 4: read nothing
	 * (the device stopped), so polling ended and did not spin on it. */
	ck_assert_int_eq(f.d.notifies, 4);
	ck_assert_int_eq(f.d.drained, 3);
	ck_assert_uint_eq(mask_at[0], 0);
	ck_assert_uint_eq(mask_at[1], 1);
	ck_assert_uint_eq(mask_at[2], 1);
	ck_assert_uint_eq(tg_ld(TG_MASK(&f.c.out)), 0);
	ck_assert_uint_eq(vmbus_chan_stats(f.d.ch)->signals_in, 1);
	th_fini(&f.t);
}
END_TEST

/* The window passes with nothing new: unmasked, and the next write signals. */
START_TEST(poll_window_ends)
{
	struct fix f;

	fix_setup(&f, false, 500);
	f.d.drain_on_notify = true;
	ck_assert_int_eq(tg_write(&f.t, &f.c, VM_PKT_DATA_INBAND, 1, "x", 1), 1);
	ck_assert_int_eq(f.d.notifies, 1);
	ck_assert_uint_eq(tg_ld(TG_MASK(&f.c.out)), 0);
	ck_assert_int_eq(tg_write(&f.t, &f.c, VM_PKT_DATA_INBAND, 2, "x", 1), 1);
	ck_assert_int_eq(f.d.drained, 2);
	th_fini(&f.t);
}
END_TEST

/* A polling channel that fills "out" keeps its need to itself while it
 * polls (the guest's reads meanwhile would each signal it), and asks the
 * guest for room only when the window passes and it goes to sleep. */
START_TEST(poll_full_ring_asks_only_before_sleep)
{
	struct fix f;

	fix_setup(&f, false, 500);
	f.d.hook = hook_send_until_full;
	ck_assert_int_eq(th_signal(&f.t, 0, f.c.conn_id), HV_STATUS_SUCCESS);
	ck_assert_int_eq(n_sent, 11);
	ck_assert_uint_eq(pend_at_full, 0);                  /* not asked while polling */
	ck_assert_uint_eq(tg_ld(TG_PEND(&f.c.in)), 1024);    /* asked before sleeping */
	ck_assert_uint_eq(tg_ld(TG_W(&f.c.in)), 11 * 1024);
	ck_assert_uint_eq(tg_ld(TG_MASK(&f.c.out)), 0);      /* guest signals unmasked */
	th_fini(&f.t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ring_batch");
	TCase *tc = tcase_create("ring_batch");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, batch_read_index_stored_once);
	tcase_add_test(tc, batch_pending_send_sz_once);
	tcase_add_test(tc, batch_one_interrupt_per_batch);
	tcase_add_test(tc, batch_signal_every_packet_kept);
	tcase_add_test(tc, batch_write_index_deferred);
	tcase_add_test(tc, batch_write_index_published_when_full);
	tcase_add_test(tc, poll_masks_then_sleeps);
	tcase_add_test(tc, poll_window_ends);
	tcase_add_test(tc, poll_full_ring_asks_only_before_sleep);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
