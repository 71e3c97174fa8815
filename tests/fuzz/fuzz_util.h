/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the fuzz targets: a reader that turns the fuzzer's
 * bytes into integers (reading zeros past the end, so every input is a
 * complete program and short inputs still run), an invariant check that
 * traps (libFuzzer reports a trap as a crash and saves the input), and the
 * guest-physical addresses worth aiming at in the harness's RAM layout.
 */
#ifndef VMBUSD_TESTS_FUZZ_UTIL_H
#define VMBUSD_TESTS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/gmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test, not of the input: a trap is what
 * libFuzzer turns into a saved crash reproducer. */
#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

struct fz_in {
	const uint8_t *p;
	size_t len, pos;
};

static inline bool fz_more(const struct fz_in *in)
{
	return in->pos < in->len;
}

static inline void fz_bytes(struct fz_in *in, void *dst, size_t n)
{
	size_t have = in->pos < in->len ? in->len - in->pos : 0;

	if (have > n)
		have = n;
	memcpy(dst, in->p + in->pos, have);
	memset((uint8_t *)dst + have, 0, n - have);
	in->pos += n;
}

static inline uint8_t fz_u8(struct fz_in *in)
{
	uint8_t v;

	fz_bytes(in, &v, sizeof(v));
	return v;
}

static inline uint16_t fz_u16(struct fz_in *in)
{
	uint16_t v;

	fz_bytes(in, &v, sizeof(v));
	return v;
}

static inline uint32_t fz_u32(struct fz_in *in)
{
	uint32_t v;

	fz_bytes(in, &v, sizeof(v));
	return v;
}

static inline uint64_t fz_u64(struct fz_in *in)
{
	uint64_t v;

	fz_bytes(in, &v, sizeof(v));
	return v;
}

/*
 * Guest RAM as the hv/ targets lay it out: the harness's 64 MiB at GPA 0
 * (vmbus_harness.h), a hole, and a second 1 MiB region at FZ_RAM2, so that
 * "just past a region", "in a hole" and "in another region" are all one
 * pick away.  fz_gpa() maps a fuzzer word onto those places; the low 12
 * bits stay the fuzzer's, so alignment and page crossing are exercised too.
 */
#define FZ_RAM1_END (64ull << 20)
#define FZ_RAM2     (128ull << 20)
#define FZ_RAM2_SIZE (1ull << 20)

static inline uint64_t fz_gpa(uint64_t raw)
{
	uint64_t low = raw & 0xFFF, page = (raw >> 12) & 0xFF;

	switch ((raw >> 60) & 7) {
	case 0: /* the harness's free pages below the ring allocations */
		return 0x30000 + page * 0x1000 % 0xD0000 + low;
	case 1: /* the last pages of the first region, and just past it */
		return FZ_RAM1_END - 0x4000 + (page % 8) * 0x1000 + low;
	case 2: /* the hole between the regions */
		return FZ_RAM1_END + page * 0x1000 + low;
	case 3: /* the second region, its end, and past it */
		return FZ_RAM2 + FZ_RAM2_SIZE - 0x80000 + page * 0x1000 % 0x82000 + low;
	case 4: /* the top of the address space: overflow in gpa + len */
		return UINT64_MAX - page * 0x1000 - 0xFFF + low;
	default:
		return raw;
	}
}

/* Adds the second region to a harness's RAM; 0 or -1. */
static inline int fz_add_ram2(struct gmem *mem)
{
	int fd = memfd_create("fuzz-ram2", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)FZ_RAM2_SIZE) < 0 ||
	    gmem_add(mem, FZ_RAM2, FZ_RAM2_SIZE, fd, 0) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return 0;
}

#endif
