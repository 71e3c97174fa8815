/* SPDX-License-Identifier: MIT */
/*
 * The reference for `vmbusd bench ring`: the barest two-process ring that
 * moves the same packets.  One producer process, one consumer process, a
 * shared memfd holding two indices (each on its own cache line) and a
 * data area of the size vmbusd's ring of the row has; the producer copies
 * each packet in behind an 8-byte length, the consumer copies it out into
 * a buffer of its own; both busy poll, nobody signals, nothing is checked,
 * indices advance by compare and subtract (as vmbusd's do).  Whatever
 * vmbusd does beyond this (descriptors, validation, the device, the event
 * loop, signalling) is what the ratio measures.  Written for the
 * benchmark, never used to move real packets.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/bench_internal.h"
#include "core/util.h"

struct bare_hdr {
	_Alignas(64) _Atomic uint32_t head;   /* producer's: bytes written (mod ring) */
	_Alignas(64) _Atomic uint32_t tail;   /* consumer's: bytes read (mod ring) */
	_Alignas(64) _Atomic uint32_t go;     /* consumer's: start producing */
};

/* Busy polling, but a polite one: on a machine with more runnable threads
 * than cores a pure spin burns the slice its peer needs. */
static void bare_relax(unsigned *spins)
{
	if (++*spins % 1024 == 0)
		sched_yield();
	else
		__builtin_ia32_pause();
}

static uint32_t bare_advance(uint32_t ring_size, uint32_t off, uint32_t n)
{
	off += n;
	return off >= ring_size ? off - ring_size : off;
}

static uint32_t bare_copy_in(uint8_t *ring, uint32_t ring_size, uint32_t off, const void *src,
			     uint32_t len)
{
	uint32_t first = MIN(len, ring_size - off);

	memcpy(ring + off, src, first);
	memcpy(ring, (const uint8_t *)src + first, len - first);
	return bare_advance(ring_size, off, len);
}

static uint32_t bare_copy_out(const uint8_t *ring, uint32_t ring_size, uint32_t off, void *dst,
			      uint32_t len)
{
	uint32_t first = MIN(len, ring_size - off);

	memcpy(dst, ring + off, first);
	memcpy((uint8_t *)dst + first, ring, len - first);
	return bare_advance(ring_size, off, len);
}

static void bare_produce(struct bare_hdr *h, uint8_t *ring, uint32_t ring_size, uint32_t size,
			 uint64_t count)
{
	uint32_t rec = 8 + ALIGN_UP(size, 8u), head = 0, tail;
	uint8_t *pkt = calloc(1, size);
	uint64_t len = size;
	unsigned spins = 0;

	while (!atomic_load_explicit(&h->go, memory_order_acquire))
		bare_relax(&spins);
	for (uint64_t i = 0; i < count; i++) {
		/* Never full: read == write means empty, as in VMBus rings. */
		for (;;) {
			tail = atomic_load_explicit(&h->tail, memory_order_acquire);
			if ((tail > head ? tail - head : ring_size - (head - tail)) > rec)
				break;
			bare_relax(&spins);
		}
		bare_copy_in(ring, ring_size, bare_copy_in(ring, ring_size, head, &len, 8), pkt, size);
		head = bare_advance(ring_size, head, rec);
		atomic_store_explicit(&h->head, head, memory_order_release);
	}
	free(pkt);
}

int bench_bare_run(uint32_t size, uint64_t count, uint32_t ring_size, uint64_t *elapsed_ns)
{
	size_t map = sizeof(struct bare_hdr) + ring_size;
	uint32_t rec = 8 + ALIGN_UP(size, 8u), tail = 0;
	struct bare_hdr *h;
	uint8_t *ring, *out;
	uint64_t t0, len;
	unsigned spins = 0;
	int fd, status;
	pid_t pid;

	if (rec * 2 > ring_size || ring_size % 8)
		return -EINVAL;
	fd = memfd_create("vmbusd-bench-bare", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)map) < 0) {
		int e = -errno;

		if (fd >= 0)
			close(fd);
		return e;
	}
	h = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (h == MAP_FAILED)
		return -errno;
	ring = (uint8_t *)(h + 1);
	out = malloc(size);
	pid = out ? fork() : -1;
	if (pid < 0) {
		free(out);
		munmap(h, map);
		return -ENOMEM;
	}
	if (pid == 0) {
		bare_produce(h, ring, ring_size, size, count);
		_exit(0);
	}
	t0 = now_ns();
	atomic_store_explicit(&h->go, 1, memory_order_release);
	for (uint64_t i = 0; i < count; i++) {
		while (atomic_load_explicit(&h->head, memory_order_acquire) == tail)
			bare_relax(&spins);
		bare_copy_out(ring, ring_size, bare_copy_out(ring, ring_size, tail, &len, 8), out,
			      (uint32_t)len);
		tail = bare_advance(ring_size, tail, rec);
		atomic_store_explicit(&h->tail, tail, memory_order_release);
	}
	*elapsed_ns = now_ns() - t0;
	/* Keep the copies observable so the compiler cannot drop them. */
	__asm__ volatile("" : : "r"(out) : "memory");
	waitpid(pid, &status, 0);
	free(out);
	munmap(h, map);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}
