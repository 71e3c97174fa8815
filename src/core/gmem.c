/* SPDX-License-Identifier: MIT */
/*
 * Populating ahead of use.  This process maps guest RAM apart from the
 * frontend, so its first touch of each guest page is a page fault of its
 * own even when the guest's page is long there: the frontend's page
 * tables, which the guest's accesses filled, are not ours.  On a nested
 * host such a fault costs about 10 us (README, "Round 6"), 2.5 ms for the
 * first 1 MiB read into a guest buffer this process has not seen, where
 * QEMU's thread pool, writing through the frontend's mapping, pays none.
 * MADV_POPULATE_WRITE (Linux 5.14) maps a run of pages in one call, at
 * 0.2-0.5 us a page, or 1.7 us for a lone one.  So gmem_pfns_iov, whose
 * callers are about to move data through the pages, populates the pages
 * of a request that are not marked in the region's `mapped` bitmap, one
 * call per run of adjacent ones, and marks them.  Nothing else changes:
 * the pages populated are the ones the guest named for the transfer, so
 * no page outside them is allocated, and the bitmap is only a hint: a
 * page the kernel unmaps later (migration, reclaim) just faults again, as
 * before.  The bits are set with atomic ORs, so translations from several
 * threads at most populate a page twice.
 */
#include "core/gmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/util.h"

void gmem_init(struct gmem *mem)
{
	memset(mem, 0, sizeof(*mem));
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int gmem_add(struct gmem *mem, uint64_t gpa, uint64_t size, int fd, uint64_t fd_offset)
{
	struct gmem_region *r;
	uint64_t end, *mapped;
	void *hva;

	if (mem->n_regions >= GMEM_MAX_REGIONS)
		return -ENOSPC;
	if (size == 0 || (gpa | size | fd_offset) & (GMEM_PAGE_SIZE - 1))
		return -EINVAL;
	if (add_overflows_u64(gpa, size, &end) || add_overflows_u64(fd_offset, size, &end))
		return -EINVAL;
	if (size > SIZE_MAX || fd_offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	for (unsigned int i = 0; i < mem->n_regions; i++)
		if (ranges_overlap(gpa, size, mem->region[i].gpa, mem->region[i].size))
			return -EINVAL;

	mapped = calloc((size_t)((size / GMEM_PAGE_SIZE + 63) / 64), sizeof(*mapped));
	if (!mapped)
		return -ENOMEM;
	hva = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)fd_offset);
	if (hva == MAP_FAILED) {
		int err = -errno;

		free(mapped);
		return err;
	}
	r = &mem->region[mem->n_regions++];
	r->mapped = mapped;
	r->gpa = gpa;
	r->size = size;
	r->fd = fd;
	r->fd_offset = fd_offset;
	r->hva = hva;
	return 0;
}

void gmem_release(struct gmem *mem)
{
	for (unsigned int i = 0; i < mem->n_regions; i++) {
		munmap(mem->region[i].hva, (size_t)mem->region[i].size);
		close(mem->region[i].fd);
		free(mem->region[i].mapped);
	}
	gmem_init(mem);
}

const struct gmem_region *gmem_find(const struct gmem *mem, uint64_t gpa)
{
	for (unsigned int i = 0; i < mem->n_regions; i++) {
		const struct gmem_region *r = &mem->region[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

void *gmem_translate(const struct gmem *mem, uint64_t gpa, uint64_t len)
{
	const struct gmem_region *r = gmem_find(mem, gpa);

	/* Written so that no sum can overflow: gpa - r->gpa < r->size holds. */
	if (!r || len > r->size - (gpa - r->gpa))
		return NULL;
	return r->hva + (gpa - r->gpa);
}

int gmem_range_iov(const struct gmem *mem, uint64_t gpa, uint64_t len,
		   struct iovec *iov, int max_iov)
{
	uint64_t end;
	int n = 0;

	if (add_overflows_u64(gpa, len, &end))
		return -EFAULT;
	while (len > 0) {
		const struct gmem_region *r = gmem_find(mem, gpa);
		uint64_t chunk;

		if (!r)
			return -EFAULT;
		chunk = MIN(len, r->size - (gpa - r->gpa));
		if (n > 0 && (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == r->hva + (gpa - r->gpa)) {
			iov[n - 1].iov_len += (size_t)chunk;
		} else {
			if (n >= max_iov)
				return -E2BIG;
			iov[n].iov_base = r->hva + (gpa - r->gpa);
			iov[n].iov_len = (size_t)chunk;
			n++;
		}
		gpa += chunk;
		len -= chunk;
	}
	return n;
}

static int gmem_copy(const struct gmem *mem, uint64_t gpa, void *buf, size_t len, bool to_guest)
{
	struct iovec iov[GMEM_MAX_REGIONS];
	int n = gmem_range_iov(mem, gpa, len, iov, (int)ARRAY_SIZE(iov));
	uint8_t *p = buf;

	if (n < 0)
		return n == -E2BIG ? -EFAULT : n;
	for (int i = 0; i < n; i++) {
		if (to_guest)
			memcpy(iov[i].iov_base, p, iov[i].iov_len);
		else
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	return 0;
}

int gmem_read(const struct gmem *mem, uint64_t gpa, void *buf, size_t len)
{
	return gmem_copy(mem, gpa, buf, len, false);
}

int gmem_write(const struct gmem *mem, uint64_t gpa, const void *buf, size_t len)
{
	return gmem_copy(mem, gpa, (void *)buf, len, true);
}

/* MADV_POPULATE_WRITE refused as unknown (a kernel before 5.14): stop asking. */
static bool populate_off;

/* A run of adjacent pages of one region still to be populated. */
struct populate_run {
	const struct gmem_region *r;
	uint64_t first, n;
};

static void populate_flush(struct populate_run *run)
{
	if (run->n == 0)
		return;
	for (uint64_t pg = run->first; pg < run->first + run->n; pg++)
		__atomic_fetch_or(&run->r->mapped[pg / 64], 1ull << (pg % 64), __ATOMIC_RELAXED);
	/* Errors change nothing: the data path faults the pages in itself. */
	if (!__atomic_load_n(&populate_off, __ATOMIC_RELAXED) &&
	    madvise(run->r->hva + run->first * GMEM_PAGE_SIZE, (size_t)(run->n * GMEM_PAGE_SIZE),
		    MADV_POPULATE_WRITE) < 0 && errno == EINVAL)
		__atomic_store_n(&populate_off, true, __ATOMIC_RELAXED);
	run->n = 0;
}

/* The file comment: populates the pages of pfns[] not marked yet.  Every
 * page is inside RAM (the caller translated them all). */
static void populate_pfns(const struct gmem *mem, const uint64_t *pfns, uint32_t n_pfns)
{
	struct populate_run run = { 0 };

	for (uint32_t i = 0; i < n_pfns; i++) {
		uint64_t gpa = pfns[i] << GMEM_PAGE_SHIFT;
		const struct gmem_region *r = gmem_find(mem, gpa);
		uint64_t pg;

		if (!r)
			break; /* not reached: translated above */
		pg = (gpa - r->gpa) / GMEM_PAGE_SIZE;
		if (__atomic_load_n(&r->mapped[pg / 64], __ATOMIC_RELAXED) & (1ull << (pg % 64)))
			continue;
		if (run.n > 0 && run.r == r && run.first + run.n == pg) {
			run.n++;
			continue;
		}
		populate_flush(&run);
		run = (struct populate_run){ .r = r, .first = pg, .n = 1 };
	}
	populate_flush(&run);
}

bool gmem_page_populated(const struct gmem *mem, uint64_t gpa)
{
	const struct gmem_region *r = gmem_find(mem, gpa);
	uint64_t pg;

	if (!r)
		return false;
	pg = (gpa - r->gpa) / GMEM_PAGE_SIZE;
	return __atomic_load_n(&r->mapped[pg / 64], __ATOMIC_RELAXED) & (1ull << (pg % 64));
}

int gmem_pfns_iov(const struct gmem *mem, const uint64_t *pfns, uint32_t n_pfns,
		  uint32_t offset, uint64_t len, struct iovec *iov, int max_iov)
{
	uint64_t span, need;
	int n = 0;

	if (offset >= GMEM_PAGE_SIZE)
		return -EINVAL;
	if (add_overflows_u64(len, offset, &span))
		return -EINVAL;
	if (span > UINT64_MAX - GMEM_PAGE_SIZE)
		return -EINVAL;
	need = len ? (span + GMEM_PAGE_SIZE - 1) / GMEM_PAGE_SIZE : 0;
	if (need != n_pfns)
		return -EINVAL;

	for (uint32_t i = 0; i < n_pfns && len > 0; i++) {
		uint64_t in_page = i == 0 ? offset : 0;
		uint64_t chunk = MIN(len, GMEM_PAGE_SIZE - in_page);
		uint8_t *hva;

		if (pfns[i] > (UINT64_MAX >> GMEM_PAGE_SHIFT))
			return -EFAULT;
		hva = gmem_translate(mem, (pfns[i] << GMEM_PAGE_SHIFT) + in_page, chunk);
		if (!hva)
			return -EFAULT;
		if (n > 0 && (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == hva) {
			iov[n - 1].iov_len += (size_t)chunk;
		} else {
			if (n >= max_iov)
				return -E2BIG;
			iov[n].iov_base = hva;
			iov[n].iov_len = (size_t)chunk;
			n++;
		}
		len -= chunk;
	}
	populate_pfns(mem, pfns, n_pfns);
	return n;
}

int gmem_page_fd(const struct gmem *mem, uint64_t gpa, int *fd, uint64_t *file_offset)
{
	const struct gmem_region *r;

	if (gpa & (GMEM_PAGE_SIZE - 1))
		return -EFAULT;
	r = gmem_find(mem, gpa);
	if (!r)
		return -EFAULT;
	*fd = r->fd;
	*file_offset = r->fd_offset + (gpa - r->gpa);
	return 0;
}
