/* SPDX-License-Identifier: MIT */
/* The synthetic guest's ring on plain memory: round trips, wrap, full,
 * the signal decisions of facts §6.5, and hostile host indices. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest_ring.h"

#define RING_BYTES (4096u + 512u) /* 512-byte data area: wraps quickly */

static uint8_t *mem;
static struct guest_ring ring;

static void setup(void)
{
	mem = aligned_alloc(4096, 8192);
	memset(mem, 0xAA, 8192);
	ck_assert_int_eq(guest_ring_setup(&ring, mem, RING_BYTES, 512), 0);
	guest_ring_init_header(&ring);
}

static void teardown(void)
{
	free(mem);
}

/* A second view of the same memory plays the host's reader/writer. */
static struct guest_ring host_view(void)
{
	struct guest_ring h;

	ck_assert_int_eq(guest_ring_setup(&h, mem, RING_BYTES, 512), 0);
	return h;
}

START_TEST(test_init_header)
{
	ck_assert_uint_eq(ring.hdr->write_index, 0);
	ck_assert_uint_eq(ring.hdr->read_index, 0);
	ck_assert_uint_eq(ring.hdr->feature_bits, 1);
	ck_assert_uint_eq(ring.size, 512);
	ck_assert_int_eq(guest_ring_setup(&ring, mem, 4096, 512), -EINVAL);
}
END_TEST

START_TEST(test_send_layout_and_signal)
{
	uint8_t payload[5] = { 1, 2, 3, 4, 5 };
	struct vmpacket_descriptor d;
	uint64_t trailer;
	bool sig;

	ck_assert_int_eq(guest_ring_send(&ring, VM_PKT_DATA_INBAND, 1, 0x1234, payload, 5, &sig), 0);
	ck_assert(sig); /* empty before, host unmasked */
	memcpy(&d, ring.data, sizeof(d));
	ck_assert_uint_eq(d.type, VM_PKT_DATA_INBAND);
	ck_assert_uint_eq(d.offset8, 2);
	ck_assert_uint_eq(d.len8, 3); /* 16 + 5 -> 24 */
	ck_assert_uint_eq(d.flags, 1);
	ck_assert_uint_eq(d.trans_id, 0x1234);
	ck_assert_mem_eq(ring.data + 16, payload, 5);
	ck_assert_uint_eq(ring.data[21], 0);
	ck_assert_uint_eq(ring.data[23], 0);
	memcpy(&trailer, ring.data + 24, 8);
	ck_assert_uint_eq(trailer, 0); /* old write index 0 << 32 */
	ck_assert_uint_eq(ring.hdr->write_index, 32);

	/* Host has not read: the ring was not empty -> no signal. */
	ck_assert_int_eq(guest_ring_send(&ring, VM_PKT_DATA_INBAND, 0, 1, payload, 5, &sig), 0);
	ck_assert(!sig);
	memcpy(&trailer, ring.data + 56, 8);
	ck_assert_uint_eq(trailer, 32ull << 32);

	/* Host caught up -> empty -> signal again. */
	ring.hdr->read_index = 64;
	ck_assert_int_eq(guest_ring_send(&ring, VM_PKT_DATA_INBAND, 0, 1, payload, 5, &sig), 0);
	ck_assert(sig);

	/* Host masked its interrupts -> no signal even when empty. */
	ring.hdr->read_index = 96;
	ring.hdr->interrupt_mask = 1;
	ck_assert_int_eq(guest_ring_send(&ring, VM_PKT_DATA_INBAND, 0, 1, payload, 5, &sig), 0);
	ck_assert(!sig);
}
END_TEST

START_TEST(test_full_never_completely)
{
	uint8_t payload[104]; /* 16 + 104 = 120 + 8 trailer = 128 per packet */
	bool sig;
	int n = 0;

	memset(payload, 7, sizeof(payload));
	while (guest_ring_send(&ring, VM_PKT_DATA_INBAND, 0, 0, payload, sizeof(payload), &sig) == 0)
		n++;
	/* 512 bytes hold 4 x 128 exactly, but a ring is never filled completely. */
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(guest_ring_send(&ring, VM_PKT_DATA_INBAND, 0, 0, payload, sizeof(payload), &sig),
			 -EAGAIN);
	ck_assert_uint_eq(guest_ring_bytes_to_write(&ring), 128);
	/* A packet that can never fit. */
	ck_assert_int_eq(guest_ring_send(&ring, VM_PKT_DATA_INBAND, 0, 0, payload, 600, &sig), -EMSGSIZE);
}
END_TEST

START_TEST(test_roundtrip_wrap)
{
	struct guest_ring host = host_view();
	uint8_t payload[200], buf[512];
	struct guest_ring_pkt pkt;
	bool sig;

	/* Guest writes, the host view reads it back with the same code: the
	 * packets cross the end of the data area several times. */
	for (int i = 0; i < 40; i++) {
		uint32_t len = (uint32_t)(i * 37) % 200 + 1;

		memset(payload, i, len);
		ck_assert_int_eq(guest_ring_send(&ring, VM_PKT_DATA_INBAND, 1, (uint64_t)i, payload, len, &sig), 0);
		ck_assert_int_eq(guest_ring_recv(&host, buf, sizeof(buf), &pkt, &sig), 0);
		ck_assert_uint_eq(pkt.type, VM_PKT_DATA_INBAND);
		ck_assert_uint_eq(pkt.trans_id, (uint64_t)i);
		ck_assert_uint_eq(pkt.payload_len, (len + 7u) & ~7u);
		for (uint32_t k = 0; k < len; k++)
			ck_assert_uint_eq(pkt.payload[k], (uint8_t)i);
		ck_assert_int_eq(guest_ring_recv(&host, buf, sizeof(buf), &pkt, &sig), -EAGAIN);
	}
	ck_assert(!ring.broken && !host.broken);
}
END_TEST

START_TEST(test_read_signal_pending_send)
{
	struct guest_ring host = host_view();
	uint8_t payload[104], buf[512];
	struct guest_ring_pkt pkt;
	bool sig;

	/* Here `host` is the writer and `ring` the guest reader. */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(guest_ring_send(&host, VM_PKT_DATA_INBAND, 0, 0, payload, 104, &sig), 0);
	/* Writer blocked, wants 200 bytes; free is 128. */
	ring.hdr->pending_send_sz = 200;
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), 0);
	ck_assert(sig); /* 128 -> 256 crosses 200 */
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), 0);
	ck_assert(!sig); /* already had enough */
	ring.hdr->pending_send_sz = 0;
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), 0);
	ck_assert(!sig);
}
END_TEST

/* hv_pkt_iter_first .. hv_pkt_iter_close: read_index stored once at the
 * end, one pending_send_sz decision for the whole run. */
START_TEST(test_batched_read)
{
	struct guest_ring host = host_view();
	uint8_t payload[104], buf[512];
	struct guest_ring_pkt pkt;
	bool sig;

	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(guest_ring_send(&host, VM_PKT_DATA_INBAND, 0, 0, payload, 104, &sig), 0);
	ring.hdr->pending_send_sz = 300; /* free 128 now; 512 after all three */
	guest_ring_recv_begin(&ring);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), 0);
		ck_assert(!sig);
		ck_assert_uint_eq(ring.hdr->read_index, 0); /* not yet stored */
	}
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), -EAGAIN);
	ck_assert(guest_ring_recv_end(&ring)); /* 128 -> 512 crosses 300 */
	ck_assert_uint_eq(ring.hdr->read_index, ring.hdr->write_index);
	ck_assert(!guest_ring_recv_end(&ring)); /* nothing read since */
}
END_TEST

START_TEST(test_hostile_indices)
{
	uint8_t buf[512];
	struct guest_ring_pkt pkt;
	bool sig;

	ring.hdr->write_index = 4096; /* outside the data area */
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), -EIO);
	ck_assert(ring.broken);
	ck_assert_ptr_nonnull(ring.error);
	/* Once broken, stays unused. */
	ring.hdr->write_index = 0;
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), -EIO);

	guest_ring_init_header(&ring);
	ring.hdr->write_index = 13; /* unaligned */
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), -EIO);

	guest_ring_init_header(&ring);
	ring.hdr->read_index = 0xFFFFFFF8u; /* writer side: bad read index */
	ck_assert_int_eq(guest_ring_send(&ring, VM_PKT_DATA_INBAND, 0, 0, buf, 8, &sig), -EIO);
}
END_TEST

START_TEST(test_hostile_descriptors)
{
	struct vmpacket_descriptor d = { .type = 6, .offset8 = 2, .len8 = 2 };
	uint8_t buf[512];
	struct guest_ring_pkt pkt;
	bool sig;

	/* len8 larger than what was published. */
	d.len8 = 40;
	memcpy(ring.data, &d, sizeof(d));
	ring.hdr->write_index = 24;
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), -EIO);

	/* offset8 beyond len8. */
	guest_ring_init_header(&ring);
	d.len8 = 2;
	d.offset8 = 5;
	memcpy(ring.data, &d, sizeof(d));
	ring.hdr->write_index = 24;
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), -EIO);

	/* len8 0. */
	guest_ring_init_header(&ring);
	d.len8 = 0;
	d.offset8 = 0;
	memcpy(ring.data, &d, sizeof(d));
	ring.hdr->write_index = 24;
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), -EIO);

	/* Published fewer bytes than a descriptor. */
	guest_ring_init_header(&ring);
	ring.hdr->write_index = 8;
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), -EIO);

	/* Well formed but larger than max_pkt: skipped, ring stays usable. */
	guest_ring_init_header(&ring);
	ring.max_pkt = 64;
	d.len8 = 12; /* 96 bytes */
	d.offset8 = 2;
	memcpy(ring.data, &d, sizeof(d));
	ring.hdr->write_index = 104;
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), -EMSGSIZE);
	ck_assert(!ring.broken);
	ck_assert_uint_eq(ring.hdr->read_index, 104);
	ck_assert_int_eq(guest_ring_recv(&ring, buf, sizeof(buf), &pkt, &sig), -EAGAIN);
}
END_TEST

START_TEST(test_raw_and_unmask)
{
	uint8_t junk[40];
	bool sig;

	memset(junk, 0x5A, sizeof(junk));
	ck_assert_int_eq(guest_ring_send_raw(&ring, junk, 13, &sig), 0);
	ck_assert(sig);
	ck_assert_uint_eq(ring.hdr->write_index, 13);
	ck_assert_mem_eq(ring.data, junk, 13);

	guest_ring_init_header(&ring);
	guest_ring_mask(&ring);
	ck_assert_uint_eq(ring.hdr->interrupt_mask, 1);
	ring.hdr->write_index = 32; /* host published while masked */
	ck_assert_uint_eq(guest_ring_unmask(&ring), 32);
	ck_assert_uint_eq(ring.hdr->interrupt_mask, 0);
}
END_TEST

/* A burst: write_index stored once for several packets, at the end, with
 * the signal decided for all of them (the host had read everything). */
START_TEST(test_send_burst)
{
	uint8_t payload[8] = { 0 };
	bool sig;

	guest_ring_send_begin(&ring);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(guest_ring_send(&ring, VM_PKT_DATA_INBAND, 0, 0, payload, 8, &sig), 0);
		ck_assert(!sig);
		ck_assert_uint_eq(ring.hdr->write_index, 0); /* not yet stored */
	}
	ck_assert(guest_ring_send_pending(&ring));
	ck_assert(guest_ring_send_end(&ring)); /* host idle at 0 == old write index */
	ck_assert_uint_eq(ring.hdr->write_index, 3 * 32);
	ck_assert(!guest_ring_send_pending(&ring));
	/* The host has not read: the next burst raises no signal. */
	guest_ring_send_begin(&ring);
	ck_assert_int_eq(guest_ring_send(&ring, VM_PKT_DATA_INBAND, 0, 0, payload, 8, &sig), 0);
	ck_assert(!guest_ring_send_end(&ring));
	ck_assert_uint_eq(ring.hdr->write_index, 4 * 32);
}
END_TEST

/* A full ring in a burst: the send fails, the burst's packets are still
 * unpublished (the caller must flush before it waits), and a read index
 * cached by the burst is reloaded before -EAGAIN is believed. */
START_TEST(test_send_burst_full)
{
	uint8_t payload[104] = { 0 };
	bool sig;
	int n = 0;

	guest_ring_send_begin(&ring);
	while (guest_ring_send(&ring, VM_PKT_DATA_INBAND, 0, 0, payload, sizeof(payload), &sig) == 0)
		n++;
	ck_assert_int_eq(n, 3); /* 3 x 128 of 512; a 4th would fill it */
	/* Half a small ring is the most a burst hides. */
	ck_assert_uint_eq(ring.hdr->write_index, 256);
	ck_assert(guest_ring_send_pending(&ring));
	/* The host was told at that store; it has not read since. */
	ck_assert(!guest_ring_send_flush(&ring));
	ck_assert_uint_eq(ring.hdr->write_index, 384);
	ring.hdr->read_index = 256; /* the host read two */
	ck_assert_int_eq(guest_ring_send(&ring, VM_PKT_DATA_INBAND, 0, 0, payload, sizeof(payload), &sig), 0);
	ck_assert(!guest_ring_send_end(&ring)); /* the host was not idle at 384 */
	ck_assert_uint_eq(ring.hdr->write_index, 0); /* 512 wraps to 0 */
	/* A bad read index is still caught in a burst once it is loaded. */
	guest_ring_send_begin(&ring);
	ring.hdr->read_index = 4096;
	ck_assert_int_eq(guest_ring_send(&ring, VM_PKT_DATA_INBAND, 0, 0, payload, 8, &sig), -EIO);
	ck_assert(ring.broken);
}
END_TEST

/* A long batch of reads stores read_index every GUEST_RING_PUBLISH_BYTES,
 * so a host writer waiting for room need not wait for the batch's end. */
START_TEST(test_batched_read_publishes_early)
{
	const uint32_t bytes = 4096 + 4 * GUEST_RING_PUBLISH_BYTES;
	uint8_t *big = aligned_alloc(4096, bytes), payload[1000] = { 0 }, buf[1024 + 8];
	struct guest_ring w, rd;
	struct guest_ring_pkt pkt;
	uint32_t per = guest_ring_pkt_bytes(sizeof(payload)), n = 0, stores = 0, last = 0;
	bool sig;

	memset(big, 0, bytes);
	ck_assert_int_eq(guest_ring_setup(&w, big, bytes, sizeof(buf)), 0);
	ck_assert_int_eq(guest_ring_setup(&rd, big, bytes, sizeof(buf)), 0);
	while (guest_ring_send(&w, VM_PKT_DATA_INBAND, 0, 0, payload, sizeof(payload), &sig) == 0)
		n++;
	guest_ring_recv_begin(&rd);
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_int_eq(guest_ring_recv(&rd, buf, sizeof(buf), &pkt, &sig), 0);
		if (rd.hdr->read_index != last) {
			stores++;
			last = rd.hdr->read_index;
			ck_assert_uint_ge(last, GUEST_RING_PUBLISH_BYTES * stores);
		}
	}
	ck_assert_uint_eq(stores, n * per / GUEST_RING_PUBLISH_BYTES);
	guest_ring_recv_end(&rd);
	ck_assert_uint_eq(rd.hdr->read_index, rd.hdr->write_index);
	free(big);
}
END_TEST

static Suite *ring_suite(void)
{
	Suite *s = suite_create("guest_ring");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_init_header);
	tcase_add_test(tc, test_send_burst);
	tcase_add_test(tc, test_send_burst_full);
	tcase_add_test(tc, test_batched_read_publishes_early);
	tcase_add_test(tc, test_send_layout_and_signal);
	tcase_add_test(tc, test_full_never_completely);
	tcase_add_test(tc, test_roundtrip_wrap);
	tcase_add_test(tc, test_read_signal_pending_send);
	tcase_add_test(tc, test_batched_read);
	tcase_add_test(tc, test_hostile_indices);
	tcase_add_test(tc, test_hostile_descriptors);
	tcase_add_test(tc, test_raw_and_unmask);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ring_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
