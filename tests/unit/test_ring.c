/* SPDX-License-Identifier: MIT */
/*
 * Host side of the VMBus rings (src/vmbus/ring.c, packet.c) against a real
 * memfd guest and hv partition: empty, wrap, full, the signalling rules in
 * both directions, corrupt guest indices and descriptors, size limits,
 * fault points and GPA-direct decoding.
 */
#include <check.h>

#include "core/fault.h"
#include "tests/unit/vmbus_harness.h"

struct fix {
	struct th t;
	struct td d;
	struct tg_chan c;
};

/* Connected guest, offers delivered, one channel open on 4+4 ring pages. */
static void fix_setup(struct fix *f, uint32_t max_pkt, bool every, uint32_t start)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(th_init(&f->t, 2, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&f->t, &f->d, 1, max_pkt, every));
	ck_assert_int_eq(th_connect(&f->t, VMBUS_VERSION_WIN10_V5_2), 1);
	ck_assert_int_eq(th_request_offers(&f->t, NULL, 0), 1);
	ck_assert_int_eq(tg_open(&f->t, &f->c, vmbus_chan_relid(f->d.ch), 0xE1E10, 4, 4, 1, start),
			 0);
	ck_assert(vmbus_chan_is_open(f->d.ch));
}

START_TEST(ring_empty)
{
	struct fix f;
	struct vmbus_pkt pkt;

	fix_setup(&f, 0, false, 0);
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 0);
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 0);
	ck_assert(vmbus_chan_can_send(f.d.ch, 100));
	/* A guest signal on an empty ring is counted and harmless. */
	ck_assert_int_eq(th_signal(&f.t, 0, f.c.conn_id), HV_STATUS_SUCCESS);
	ck_assert_int_eq(vmbus_chan_stats(f.d.ch)->signals_in, 1);
	ck_assert_int_eq(f.d.notifies, 1);
	th_fini(&f.t);
}
END_TEST

START_TEST(ring_recv_basic)
{
	struct fix f;
	struct vmbus_pkt pkt;
	const char msg[] = "hello, host";

	fix_setup(&f, 0, false, 0);
	ck_assert_int_eq(tg_write(&f.t, &f.c, VM_PKT_DATA_INBAND, 42, msg, sizeof(msg)), 1);
	ck_assert_int_eq(f.d.notifies, 1);
	/* Second packet: ring not empty, so the guest does not signal. */
	ck_assert_int_eq(tg_write(&f.t, &f.c, VM_PKT_DATA_INBAND, 43, msg, 3), 0);
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 1);
	ck_assert_int_eq(pkt.type, VM_PKT_DATA_INBAND);
	ck_assert_int_eq(pkt.flags, 1);
	ck_assert_uint_eq(pkt.trans_id, 42);
	ck_assert_int_eq(pkt.raw_len, 16 + 16);
	ck_assert_int_eq(pkt.data_len, 16);
	ck_assert_mem_eq(pkt.data, msg, sizeof(msg));
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 1);
	ck_assert_uint_eq(pkt.trans_id, 43);
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 0);
	/* The read index is published: 32+8 + 24+8. */
	ck_assert_uint_eq(tg_ld(TG_R(&f.c.out)), 72);
	ck_assert_uint_eq(vmbus_chan_stats(f.d.ch)->packets_in, 2);
	/* Empty again, so the next write signals again. */
	ck_assert_int_eq(tg_write(&f.t, &f.c, VM_PKT_DATA_INBAND, 44, msg, 3), 1);
	th_fini(&f.t);
}
END_TEST

START_TEST(ring_wrap_both_ways)
{
	struct fix f;
	struct vmbus_pkt pkt;
	uint8_t payload[200], back[256];
	struct vmpacket_descriptor d;
	uint32_t size;

	/* Both rings start 16 bytes before the end: every packet wraps. */
	fix_setup(&f, 0, false, 3 * 4096 - 16);
	size = f.c.out.size;
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(tg_write(&f.t, &f.c, VM_PKT_DATA_INBAND, 7, payload, sizeof(payload)), 1);
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 1);
	ck_assert_uint_eq(pkt.trans_id, 7);
	ck_assert_int_eq(pkt.data_len, 200);
	ck_assert_mem_eq(pkt.data, payload, sizeof(payload));
	ck_assert_uint_eq(tg_ld(TG_R(&f.c.out)), (size - 16 + 216 + 8) % size);

	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 9, 1, payload, sizeof(payload)), 0);
	ck_assert_uint_eq(tg_ld(TG_W(&f.c.in)), (size - 16 + 216 + 8) % size);
	ck_assert_int_eq(tg_read(&f.t, &f.c, back, sizeof(back), &d), 216);
	ck_assert_int_eq(d.type, VM_PKT_DATA_INBAND);
	ck_assert_int_eq(d.offset8, 2);
	ck_assert_int_eq(d.len8, 27);
	ck_assert_uint_eq(d.trans_id, 9);
	ck_assert_mem_eq(back + 16, payload, sizeof(payload));
	/* The trailer is the old write index << 32. */
	{
		uint64_t trailer;

		tg_copy_out(&f.c.in, (size - 16 + 216) % size, &trailer, 8);
		ck_assert_uint_eq(trailer, (uint64_t)(size - 16) << 32);
	}
	th_fini(&f.t);
}
END_TEST

START_TEST(ring_full_and_pending)
{
	struct fix f;
	uint8_t payload[1000] = { 0 };
	uint32_t w, r, free_b;
	int sent = 0, ret;

	fix_setup(&f, 0, false, 0);
	/* Guest reader masks interrupts while "draining" (never here). */
	while ((ret = vmbus_chan_send_inband(f.d.ch, (uint64_t)sent, 0, payload, sizeof(payload))) == 0)
		sent++;
	ck_assert_int_eq(ret, -EAGAIN);
	/* 12 KiB data, 1024 bytes a packet: 11 fit, never the 12th (would fill it). */
	ck_assert_int_eq(sent, 11);
	w = tg_ld(TG_W(&f.c.in));
	r = tg_ld(TG_R(&f.c.in));
	free_b = w >= r ? f.c.in.size - (w - r) : r - w;
	ck_assert_uint_gt(free_b, 0);
	ck_assert_uint_eq(tg_ld(TG_PEND(&f.c.in)), 1024);
	ck_assert_uint_eq(vmbus_chan_stats(f.d.ch)->send_full, 1);
	ck_assert(!vmbus_chan_can_send(f.d.ch, sizeof(payload)));
	/* The guest reads one packet: free space crosses pending, it signals. */
	ck_assert_int_eq(f.d.notifies, 0);
	ck_assert_int_eq(tg_read(&f.t, &f.c, NULL, 0, NULL), 1016);
	ck_assert_int_eq(f.d.notifies, 1);
	ck_assert(vmbus_chan_can_send(f.d.ch, sizeof(payload)));
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 99, 0, payload, sizeof(payload)), 0);
	ck_assert_uint_eq(tg_ld(TG_PEND(&f.c.in)), 0);
	th_fini(&f.t);
}
END_TEST

START_TEST(ring_guest_pending_send_sz)
{
	struct fix f;
	struct vmbus_pkt pkt;
	uint8_t payload[1000] = { 0 };
	int n = 0;

	fix_setup(&f, 0, false, 0);
	while (tg_write(&f.t, &f.c, VM_PKT_DATA_INBAND, 1, payload, sizeof(payload)) >= 0)
		n++;
	ck_assert_int_eq(n, 11);
	/* The blocked guest writer asks to be woken at 1024 bytes free. */
	*TG_PEND(&f.c.out) = 2048 + 8;
	(void)th_event(&f.t, 1, f.c.relid);
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 1); /* 2048 free: not yet */
	ck_assert(!th_event(&f.t, 1, f.c.relid));
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 1); /* crosses: signal */
	ck_assert(th_event(&f.t, 1, f.c.relid));
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 1); /* was already enough */
	ck_assert(!th_event(&f.t, 1, f.c.relid));
	th_fini(&f.t);
}
END_TEST

START_TEST(ring_signal_rules_h2g)
{
	struct fix f;
	uint64_t irqs;

	fix_setup(&f, 0, false, 0);
	/* Empty -> non-empty with mask 0: SIEF bit on target VP 1 + interrupt. */
	irqs = f.t.irqs[1];
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 1, 0, "a", 1), 0);
	ck_assert(th_event(&f.t, 1, f.c.relid));
	ck_assert(!th_event(&f.t, 0, f.c.relid));
	ck_assert_uint_eq(f.t.irqs[1], irqs + 1);
	/* Not empty before: no signal. */
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 2, 0, "b", 1), 0);
	ck_assert(!th_event(&f.t, 1, f.c.relid));
	/* Guest drains; with the mask set the next write does not signal. */
	while (tg_read(&f.t, &f.c, NULL, 0, NULL) > 0)
		;
	*TG_MASK(&f.c.in) = 1;
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 3, 0, "c", 1), 0);
	ck_assert(!th_event(&f.t, 1, f.c.relid));
	while (tg_read(&f.t, &f.c, NULL, 0, NULL) > 0)
		;
	*TG_MASK(&f.c.in) = 0;
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 4, 0, "d", 1), 0);
	ck_assert(th_event(&f.t, 1, f.c.relid));
	ck_assert_uint_eq(vmbus_chan_stats(f.d.ch)->signals_out, 2);
	th_fini(&f.t);
}
END_TEST

START_TEST(ring_signal_every_packet)
{
	struct fix f;

	fix_setup(&f, 0, true, 0);
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 1, 0, "a", 1), 0);
	ck_assert(th_event(&f.t, 1, f.c.relid));
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 2, 0, "b", 1), 0);
	ck_assert(th_event(&f.t, 1, f.c.relid));
	/* ... but never through the guest's interrupt_mask. */
	*TG_MASK(&f.c.in) = 1;
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 3, 0, "c", 1), 0);
	ck_assert(!th_event(&f.t, 1, f.c.relid));
	th_fini(&f.t);
}
END_TEST

START_TEST(ring_signal_after_modify)
{
	struct fix f;
	struct vmbus_msg_modify_channel m = {
		.header.msgtype = CHANNELMSG_MODIFYCHANNEL, .target_vp = 0,
	};

	fix_setup(&f, 0, false, 0);
	m.child_relid = f.c.relid;
	th_post(&f.t, 0, 1, &m, sizeof(m));
	ck_assert_int_eq(vmbus_chan_target_vp(f.d.ch), 0);
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 1, 0, "a", 1), 0);
	ck_assert(th_event(&f.t, 0, f.c.relid));
	ck_assert(!th_event(&f.t, 1, f.c.relid));
	th_fini(&f.t);
}
END_TEST

/* Corrupts something, expects -EPIPE, and checks a second channel works. */
static void corrupt_case(int which)
{
	struct fix f;
	struct td d2;
	struct tg_chan c2;
	struct vmbus_pkt pkt;
	uint8_t raw[64] = { 0 };
	struct vmpacket_descriptor *d = (void *)raw;

	fix_setup(&f, 0, false, 0);
	ck_assert_ptr_nonnull(td_offer(&f.t, &d2, 2, 0, false));
	th_drain(&f.t, 0);
	ck_assert_int_eq(tg_open(&f.t, &c2, vmbus_chan_relid(d2.ch), 0xE1E11, 4, 4, 0, 0), 0);

	d->type = VM_PKT_DATA_INBAND;
	d->offset8 = 2;
	d->len8 = 4;
	switch (which) {
	case 0: *TG_W(&f.c.out) = 12; break;                   /* unaligned */
	case 1: *TG_W(&f.c.out) = f.c.out.size; break;         /* beyond size */
	case 2: *TG_W(&f.c.out) = 0xFFFFFFF8u; break;          /* far beyond */
	case 3: d->offset8 = 1; tg_write_raw(&f.t, &f.c, raw, 40); break;
	case 4: d->offset8 = 5; tg_write_raw(&f.t, &f.c, raw, 40); break;
	case 5: d->len8 = 40; tg_write_raw(&f.t, &f.c, raw, 40); break; /* len8 beyond avail */
	case 6: tg_write_raw(&f.t, &f.c, raw, 8); break;       /* partial descriptor */
	case 7: d->offset8 = 0; d->len8 = 0; tg_write_raw(&f.t, &f.c, raw, 8 + 8); break;
	}
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), -EPIPE);
	ck_assert_int_eq(vmbus_server_stats(f.t.srv)->ring_errors, 1);
	/* Stays silent (and is not re-logged/re-counted) until closed. */
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), -EPIPE);
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 1, 0, "x", 1), -EPIPE);
	ck_assert_int_eq(vmbus_server_stats(f.t.srv)->ring_errors, 1);

	/* The other channel is unaffected. */
	ck_assert_int_eq(tg_write(&f.t, &c2, VM_PKT_DATA_INBAND, 5, "ok", 2), 1);
	ck_assert_int_eq(vmbus_chan_recv(d2.ch, &pkt), 1);
	ck_assert_uint_eq(pkt.trans_id, 5);
	ck_assert_int_eq(vmbus_chan_send_inband(d2.ch, 6, 0, "ok", 2), 0);
	th_fini(&f.t);
}

START_TEST(ring_corrupt)
{
	corrupt_case(_i);
}
END_TEST

START_TEST(ring_corrupt_h2g_read_index)
{
	struct fix f;

	fix_setup(&f, 0, false, 0);
	*TG_R(&f.c.in) = 4;
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 1, 0, "x", 1), -EPIPE);
	ck_assert_int_eq(vmbus_server_stats(f.t.srv)->ring_errors, 1);
	ck_assert(!vmbus_chan_can_send(f.d.ch, 1));
	th_fini(&f.t);
}
END_TEST

START_TEST(ring_reopen_after_corrupt)
{
	struct fix f;
	struct vmbus_pkt pkt;
	struct vmbus_msg_relid close = { .header.msgtype = CHANNELMSG_CLOSECHANNEL };
	struct vmbus_msg_gpadl_teardown td = { .header.msgtype = CHANNELMSG_GPADL_TEARDOWN };

	fix_setup(&f, 0, false, 0);
	*TG_W(&f.c.out) = 3;
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), -EPIPE);
	close.child_relid = f.c.relid;
	th_post(&f.t, 0, 1, &close, sizeof(close));
	ck_assert_int_eq(f.d.closes, 1);
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), -EPIPE); /* closed */
	td.child_relid = f.c.relid;
	td.gpadl = f.c.gpadl;
	th_post(&f.t, 0, 1, &td, sizeof(td));
	ck_assert_int_eq(th_recv(&f.t, 0, NULL, NULL), CHANNELMSG_GPADL_TORNDOWN);
	ck_assert_int_eq(tg_open(&f.t, &f.c, f.c.relid, 0xE1E20, 4, 4, 1, 0), 0);
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 0);
	ck_assert_int_eq(tg_write(&f.t, &f.c, VM_PKT_COMP, 3, "z", 1), 1);
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 1);
	ck_assert_int_eq(pkt.type, VM_PKT_COMP);
	th_fini(&f.t);
}
END_TEST

START_TEST(ring_oversize_send)
{
	struct fix f;
	uint8_t big[128] = { 0 };
	struct iovec iov[2] = { { big, 8 }, { big, 56 } };

	/* storvsc: packets of at most 80 bytes (facts §6.4). */
	fix_setup(&f, 80, false, 0);
	ck_assert_int_eq(vmbus_chan_send_comp(f.d.ch, 1, big, 64), 0);
	ck_assert_int_eq(vmbus_chan_send_comp(f.d.ch, 1, big, 65), -EMSGSIZE);
	ck_assert(!vmbus_chan_can_send(f.d.ch, 65));
	ck_assert(vmbus_chan_can_send(f.d.ch, 64));
	/* hdr_len counts into offset8; must be 8-aligned and inside the payload. */
	ck_assert_int_eq(vmbus_chan_send(f.d.ch, VM_PKT_DATA_USING_XFER_PAGES, 0, 1, 8, iov, 2), 0);
	ck_assert_int_eq(vmbus_chan_send(f.d.ch, VM_PKT_DATA_INBAND, 0, 1, 4, iov, 2), -EINVAL);
	ck_assert_int_eq(vmbus_chan_send(f.d.ch, VM_PKT_DATA_INBAND, 0, 1, 72, iov, 2), -EINVAL);
	{
		struct vmpacket_descriptor d;

		ck_assert_int_eq(tg_read(&f.t, &f.c, NULL, 0, &d), 80);
		ck_assert_int_eq(tg_read(&f.t, &f.c, NULL, 0, &d), 80);
		ck_assert_int_eq(d.offset8, 3);
		ck_assert_int_eq(d.type, VM_PKT_DATA_USING_XFER_PAGES);
	}
	th_fini(&f.t);
}
END_TEST

START_TEST(ring_larger_than_ring)
{
	struct fix f;
	static uint8_t big[16384];

	fix_setup(&f, 16384, false, 0); /* KVP-sized limit, 12 KiB ring */
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 1, 0, big, 12 * 1024), -EMSGSIZE);
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 1, 0, big, 8 * 1024), 0);
	th_fini(&f.t);
}
END_TEST

START_TEST(ring_fault_points)
{
	struct fix f;
	struct vmbus_pkt pkt;

	fix_setup(&f, 0, false, 0);
	ck_assert_int_eq(tg_write(&f.t, &f.c, VM_PKT_DATA_INBAND, 1, "a", 1), 1);
	ck_assert_int_eq(fault_arm("vmbus.recv", 0, 1), 0);
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), -EPIPE);
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 1); /* only that call */
	ck_assert_int_eq(fault_arm("vmbus.send", 0, 1), 0);
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 1, 0, "a", 1), -EAGAIN);
	ck_assert_int_eq(vmbus_chan_send_inband(f.d.ch, 1, 0, "a", 1), 0);
	ck_assert_int_eq(fault_fired("vmbus.send"), 1);
	fault_disarm_all();
	th_fini(&f.t);
}
END_TEST

START_TEST(ring_send_on_open_deferred_signal)
{
	struct th t;
	struct td d;
	struct tg_chan c;

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&t, &d, 1, 0, true));
	d.send_on_open = true;
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 1);
	ck_assert_int_eq(tg_open(&t, &c, 1, 5, 2, 2, 0, 0), 0);
	ck_assert(th_event(&t, 0, 1));
	ck_assert_int_eq(tg_read(&t, &c, NULL, 0, NULL), 24);
	th_fini(&t);
}
END_TEST

/* ---- GPA direct --------------------------------------------------------- */

static struct vmbus_pkt gpa_pkt(uint64_t *words, uint32_t n_words)
{
	struct vmbus_pkt p = {
		.type = VM_PKT_DATA_USING_GPA_DIRECT,
		.raw = (const uint8_t *)words,
		.raw_len = n_words * 8 + 16,
		.data = (const uint8_t *)(words + n_words),
		.data_len = 16,
	};
	struct vmpacket_descriptor d = { .type = p.type, .offset8 = (uint16_t)n_words,
					 .len8 = (uint16_t)(n_words + 2) };

	memcpy(words, &d, 16);
	return p;
}

START_TEST(gpa_direct_multi_range)
{
	struct th t;
	uint64_t w[32] = { 0 }, total = 0;
	struct iovec iov[8];
	struct vmbus_pkt p;
	uint32_t *u = (uint32_t *)(void *)w;
	int n;

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	/* reserved, rangecount = 3 */
	u[4] = 0;
	u[5] = 3;
	/* range 0: 100 bytes at offset 4000 of pfn 0x200: spans 2 pages 0x200, 0x201 */
	u[6] = 100; u[7] = 4000; w[4] = 0x200; w[5] = 0x201;
	/* range 1: one full page 0x300 */
	u[12] = 4096; u[13] = 0; w[7] = 0x300;
	/* range 2: 10 bytes in pfn 0x400 at 8 */
	u[16] = 10; u[17] = 8; w[9] = 0x400;
	p = gpa_pkt(w, 10);
	n = vmbus_pkt_gpa_direct_iov(&p, &t.mem, iov, 8, &total);
	ck_assert_int_eq(n, 3); /* 0x200/0x201 are contiguous: one iovec */
	ck_assert_uint_eq(total, 100 + 4096 + 10);
	ck_assert_ptr_eq(iov[0].iov_base, th_ptr(&t, 0x200 * 4096ull + 4000, 1));
	ck_assert_uint_eq(iov[0].iov_len, 100);
	ck_assert_uint_eq(iov[1].iov_len, 4096);
	ck_assert_ptr_eq(iov[2].iov_base, th_ptr(&t, 0x400 * 4096ull + 8, 1));
	ck_assert_int_eq(vmbus_pkt_gpa_direct_iov(&p, &t.mem, iov, 2, &total), -E2BIG);

	/* Non-contiguous pages split. */
	w[5] = 0x500;
	n = vmbus_pkt_gpa_direct_iov(&p, &t.mem, iov, 8, &total);
	ck_assert_int_eq(n, 4);
	/* Page outside RAM. */
	w[7] = 1ull << 40;
	ck_assert_int_eq(vmbus_pkt_gpa_direct_iov(&p, &t.mem, iov, 8, &total), -EFAULT);
	w[7] = 0x300;
	/* Range array past offset8. */
	u[5] = 4;
	ck_assert_int_eq(vmbus_pkt_gpa_direct_iov(&p, &t.mem, iov, 8, &total), -EINVAL);
	u[5] = 3;
	/* byte_offset >= 4096. */
	u[17] = 4096;
	ck_assert_int_eq(vmbus_pkt_gpa_direct_iov(&p, &t.mem, iov, 8, &total), -EINVAL);
	u[17] = 8;
	/* More PFNs than the header has room for (byte_count huge). */
	u[6] = 0xFFFFFFFFu;
	ck_assert_int_eq(vmbus_pkt_gpa_direct_iov(&p, &t.mem, iov, 8, &total), -EINVAL);
	/* Wrong packet type. */
	p.type = VM_PKT_DATA_INBAND;
	ck_assert_int_eq(vmbus_pkt_gpa_direct_iov(&p, &t.mem, iov, 8, &total), -EINVAL);
	th_fini(&t);
}
END_TEST

START_TEST(gpa_direct_from_ring)
{
	struct fix f;
	struct vmbus_pkt pkt;
	uint64_t w[5] = { 0 }, total;
	uint32_t *u = (uint32_t *)(void *)w;
	struct iovec iov[2];
	uint8_t raw[56] = { 0 };
	struct vmpacket_descriptor d = { .type = VM_PKT_DATA_USING_GPA_DIRECT, .offset8 = 5,
					 .len8 = 6, .trans_id = 77 };

	fix_setup(&f, 0, false, 0);
	/* storvsc shape: one range of 512 bytes at offset 0 of page 0x600. */
	u[1] = 1;
	u[2] = 512;
	u[3] = 0;
	w[2] = 0x600;
	memcpy(raw, &d, 16);
	memcpy(raw + 16, w, 24);
	ck_assert_int_eq(tg_write_raw(&f.t, &f.c, raw, 56), 1);
	ck_assert_int_eq(vmbus_chan_recv(f.d.ch, &pkt), 1);
	ck_assert_int_eq(vmbus_pkt_gpa_direct_iov(&pkt, vmbus_chan_gmem(f.d.ch), iov, 2, &total), 1);
	ck_assert_uint_eq(total, 512);
	ck_assert_ptr_eq(iov[0].iov_base, th_ptr(&f.t, 0x600000, 512));
	th_fini(&f.t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("ring");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, ring_empty);
	tcase_add_test(tc, ring_recv_basic);
	tcase_add_test(tc, ring_wrap_both_ways);
	tcase_add_test(tc, ring_full_and_pending);
	tcase_add_test(tc, ring_guest_pending_send_sz);
	tcase_add_test(tc, ring_signal_rules_h2g);
	tcase_add_test(tc, ring_signal_every_packet);
	tcase_add_test(tc, ring_signal_after_modify);
	tcase_add_loop_test(tc, ring_corrupt, 0, 8);
	tcase_add_test(tc, ring_corrupt_h2g_read_index);
	tcase_add_test(tc, ring_reopen_after_corrupt);
	tcase_add_test(tc, ring_oversize_send);
	tcase_add_test(tc, ring_larger_than_ring);
	tcase_add_test(tc, ring_fault_points);
	tcase_add_test(tc, ring_send_on_open_deferred_signal);
	tcase_add_test(tc, gpa_direct_multi_range);
	tcase_add_test(tc, gpa_direct_from_ring);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
