/* SPDX-License-Identifier: MIT */
/*
 * Guest memory: the frontend's RAM regions (memfds) mapped into this
 * process, and overflow-safe translation of guest-physical ranges.
 *
 * Every GPA, length and page number here comes from the guest.  The rule:
 * a translation either covers the whole requested range inside mapped RAM
 * or fails; nothing is ever clamped.
 */
#ifndef VMBUSD_CORE_GMEM_H
#define VMBUSD_CORE_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define GMEM_MAX_REGIONS 16u
#define GMEM_PAGE_SIZE 4096u
#define GMEM_PAGE_SHIFT 12

struct gmem_region {
	uint64_t gpa;       /* page aligned */
	uint64_t size;      /* page multiple, > 0 */
	uint64_t fd_offset; /* offset of gpa inside fd */
	int fd;             /* owned */
	uint8_t *hva;       /* MAP_SHARED mapping of [gpa, gpa + size) */
	uint64_t *mapped;   /* one bit a page: populated ahead of use (gmem.c) */
};

struct gmem {
	struct gmem_region region[GMEM_MAX_REGIONS];
	unsigned int n_regions;
};

void gmem_init(struct gmem *mem);
/* Maps [fd_offset, fd_offset + size) of fd at gpa.  Takes ownership of fd
 * on success.  Fails with -EINVAL for unaligned, empty, overflowing or
 * overlapping regions, -ENOSPC when full, or mmap's -errno. */
int gmem_add(struct gmem *mem, uint64_t gpa, uint64_t size, int fd, uint64_t fd_offset);
/* Unmaps and closes everything. */
void gmem_release(struct gmem *mem);

/* Host pointer for [gpa, gpa + len) if it lies inside one region, else
 * NULL.  len 0 is allowed (and then gpa must still be inside RAM). */
void *gmem_translate(const struct gmem *mem, uint64_t gpa, uint64_t len);

/* The region that holds gpa, or NULL. */
const struct gmem_region *gmem_find(const struct gmem *mem, uint64_t gpa);

/* Copies between guest RAM and a host buffer; -EFAULT if any byte of the
 * range is outside RAM (then nothing was copied). */
int gmem_read(const struct gmem *mem, uint64_t gpa, void *buf, size_t len);
int gmem_write(const struct gmem *mem, uint64_t gpa, const void *buf, size_t len);

/* Translates [gpa, gpa + len) into host iovecs, split at region ends.
 * Returns the iovec count, -EFAULT outside RAM or on overflow, -E2BIG if
 * more than max_iov would be needed. */
int gmem_range_iov(const struct gmem *mem, uint64_t gpa, uint64_t len,
		   struct iovec *iov, int max_iov);

/* Translates a page list (GPADLs, GPA-direct ranges): byte `offset` into
 * the first page, `len` bytes in all, pages pfns[0..n_pfns).  The list must
 * hold exactly the pages the range touches (ceil((offset + len) / 4096)
 * when len > 0), offset < 4096.  Physically contiguous pages merge into
 * one iovec.  Returns the iovec count, -EINVAL for a list that does not
 * match the range, -EFAULT for a page outside RAM, -E2BIG past max_iov.
 * On success the pages this process has not used yet are populated first
 * (gmem.c, "Populating ahead of use"), since the caller is about to move
 * data through them. */
int gmem_pfns_iov(const struct gmem *mem, const uint64_t *pfns, uint32_t n_pfns,
		  uint32_t offset, uint64_t len, struct iovec *iov, int max_iov);

/* True once the page holding gpa was populated here (tests). */
bool gmem_page_populated(const struct gmem *mem, uint64_t gpa);

/* The fd and file offset that back the page at gpa (page aligned), for
 * callers that remap guest pages (ring double mapping).  -EFAULT if none. */
int gmem_page_fd(const struct gmem *mem, uint64_t gpa, int *fd, uint64_t *file_offset);

#endif
