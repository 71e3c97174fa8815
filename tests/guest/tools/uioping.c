/* SPDX-License-Identifier: MIT */
/*
 * uioping: what a user-space VMBus driver (DPDK's netvsc PMD over
 * uio_hv_generic) does first, without DPDK: map the channel's rings and
 * the child->parent monitor page from /dev/uioN, write one NVSP INIT
 * packet into the guest->host ring, signal the host ONLY by setting the
 * channel's bit in the monitor page (no hypercall: user space has none),
 * and wait for INIT_COMPLETE in the host->guest ring.  Built statically
 * into the test guest (facts §5.5, §6.1, §6.2, §9.1).
 *
 *   uioping /dev/uioN MONITOR_ID
 *
 * Prints "uioping: init_complete status=S version=0xV" and exits 0 when
 * the host answered with status 1 (success); exits 1 otherwise.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

struct ring {
	volatile uint32_t *write_index; /* header @0 */
	volatile uint32_t *read_index;  /* header @4 */
	uint8_t *data;                  /* after the header page */
	uint32_t size;
};

static long map_size(const char *uio, int map)
{
	char path[128], buf[64];
	FILE *f;
	long v = -1;

	snprintf(path, sizeof(path), "/sys/class/uio/%s/maps/map%d/size", uio, map);
	f = fopen(path, "r");
	if (f && fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 0);
	if (f)
		fclose(f);
	return v;
}

static void ring_init(struct ring *r, uint8_t *base, uint32_t bytes)
{
	r->write_index = (volatile uint32_t *)(void *)base;
	r->read_index = (volatile uint32_t *)(void *)(base + 4);
	r->data = base + PAGE;
	r->size = bytes - PAGE;
}

static void ring_put(struct ring *r, uint32_t *off, const void *src, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		r->data[*off] = ((const uint8_t *)src)[i];
		*off = (*off + 1) % r->size;
	}
}

static void ring_get(struct ring *r, uint32_t off, void *dst, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		((uint8_t *)dst)[i] = r->data[(off + i) % r->size];
}

int main(int argc, char **argv)
{
	/* NVSP INIT (type 1), versions 6.1 .. 6.1, padded to the 40 bytes of
	 * Linux's struct nvsp_message. */
	uint32_t init[10] = { 1, 0x60001, 0x60001 };
	uint8_t desc[16] = { 0 }, rdesc[16];
	uint32_t reply[4];
	const char *uio;
	long rings, mon_size;
	uint8_t *rmap, *mon;
	struct ring tx, rx;
	uint32_t id, w, off, r, pkt = 16 + sizeof(init);
	uint64_t trailer;
	int fd;

	if (argc != 3 || strncmp(argv[1], "/dev/", 5)) {
		fprintf(stderr, "usage: uioping /dev/uioN MONITOR_ID\n");
		return 2;
	}
	uio = argv[1] + 5;
	id = (uint32_t)strtoul(argv[2], NULL, 0);
	rings = map_size(uio, 0);
	mon_size = map_size(uio, 2);
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || rings < 4 * (long)PAGE || mon_size < (long)PAGE || id >= 128) {
		perror("uioping: open/maps");
		return 1;
	}
	/* uio: map N is at offset N pages. */
	rmap = mmap(NULL, (size_t)rings, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	mon = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * PAGE);
	if (rmap == MAP_FAILED || mon == MAP_FAILED) {
		perror("uioping: mmap");
		return 1;
	}
	/* The kernel's vmbus_alloc_ring(): guest->host ring first, then
	 * host->guest, each a header page and its data. */
	ring_init(&tx, rmap, (uint32_t)rings / 2);
	ring_init(&rx, rmap + rings / 2, (uint32_t)rings / 2);

	/* Descriptor: VM_PKT_DATA_INBAND (6), offset8 2, len8, flags 1
	 * (completion requested), trans_id 1 (facts §6.2). */
	desc[0] = 6;
	desc[2] = 2;
	desc[4] = (uint8_t)(pkt / 8);
	desc[6] = 1;
	desc[8] = 1;
	w = *tx.write_index;
	off = w;
	ring_put(&tx, &off, desc, sizeof(desc));
	ring_put(&tx, &off, init, sizeof(init));
	trailer = (uint64_t)w << 32;
	ring_put(&tx, &off, &trailer, sizeof(trailer));
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*tx.write_index = off;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* The monitor page is the only way user space can signal. */
	__atomic_fetch_or((uint32_t *)(void *)(mon + 8 + (id / 32) * 8), 1u << (id % 32),
			  __ATOMIC_SEQ_CST);

	for (int i = 0; i < 1000; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (*rx.read_index != *rx.write_index)
			break;
		nanosleep(&ts, NULL);
	}
	r = *rx.read_index;
	if (r == *rx.write_index) {
		fprintf(stderr, "uioping: no answer in 10 s\n");
		return 1;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ring_get(&rx, r, rdesc, sizeof(rdesc));
	ring_get(&rx, r + (uint32_t)rdesc[2] * 8, reply, sizeof(reply));
	*rx.read_index = (r + (uint32_t)(rdesc[4] | rdesc[5] << 8) * 8 + 8) % rx.size;
	printf("uioping: packet type=%u msg=%u init_complete status=%u version=0x%x\n", rdesc[0],
	       reply[0], reply[3], reply[1]);
	return reply[0] == 2 && reply[3] == 1 ? 0 : 1;
}
