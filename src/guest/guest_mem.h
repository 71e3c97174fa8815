/* SPDX-License-Identifier: MIT */
/*
 * Page allocator over the synthetic guest's RAM: SynIC pages, hypercall
 * input pages, GPADL buffers.  Allocations are physically contiguous runs
 * (so a ring is contiguous in this process too); page 0 is never handed
 * out so that GPA 0 can keep meaning "none".
 */
#ifndef VMBUSD_GUEST_MEM_H
#define VMBUSD_GUEST_MEM_H

#include <stdint.h>

struct guest_attach;

struct guest_mem {
	struct guest_attach *att;
	uint64_t base_gpa;
	uint64_t n_pages;
	uint8_t *used;      /* one byte per page: 0 free, 1 used */
	uint64_t n_used;
};

int guest_mem_init(struct guest_mem *m, struct guest_attach *att);
void guest_mem_fini(struct guest_mem *m);
/* Frees everything and zeroes guest RAM (a guest reboot). */
void guest_mem_reset(struct guest_mem *m);

/* Zeroed, contiguous pages; returns the GPA or 0 when RAM is exhausted. */
uint64_t guest_mem_alloc(struct guest_mem *m, uint64_t n_pages);
void guest_mem_free(struct guest_mem *m, uint64_t gpa, uint64_t n_pages);
/* Host pointer for an allocation (NULL if outside RAM). */
void *guest_mem_ptr(struct guest_mem *m, uint64_t gpa, uint64_t len);

#endif
