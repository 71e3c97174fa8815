/* SPDX-License-Identifier: MIT */
#include "guest/guest_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest/guest_attach.h"
#include "vmbusd/proto/hv.h"

int guest_mem_init(struct guest_mem *m, struct guest_attach *att)
{
	memset(m, 0, sizeof(*m));
	m->att = att;
	m->base_gpa = att->ram_gpa;
	m->n_pages = att->ram_size / HV_PAGE_SIZE;
	m->used = calloc(m->n_pages ? m->n_pages : 1, 1);
	if (!m->used)
		return -ENOMEM;
	if (m->base_gpa == 0 && m->n_pages) {
		m->used[0] = 1; /* GPA 0 stays unused */
		m->n_used = 1;
	}
	return 0;
}

void guest_mem_fini(struct guest_mem *m)
{
	free(m->used);
	m->used = NULL;
}

void guest_mem_reset(struct guest_mem *m)
{
	if (m->att->ram)
		memset(m->att->ram, 0, m->att->ram_size);
	memset(m->used, 0, m->n_pages);
	m->n_used = 0;
	if (m->base_gpa == 0 && m->n_pages) {
		m->used[0] = 1;
		m->n_used = 1;
	}
}

uint64_t guest_mem_alloc(struct guest_mem *m, uint64_t n_pages)
{
	uint64_t run = 0;

	if (n_pages == 0 || n_pages > m->n_pages)
		return 0;
	for (uint64_t p = 0; p < m->n_pages; p++) {
		run = m->used[p] ? 0 : run + 1;
		if (run == n_pages) {
			uint64_t first = p + 1 - n_pages;
			uint64_t gpa = m->base_gpa + first * HV_PAGE_SIZE;

			memset(m->used + first, 1, n_pages);
			m->n_used += n_pages;
			memset(guest_attach_gpa(m->att, gpa, n_pages * HV_PAGE_SIZE), 0,
			       n_pages * HV_PAGE_SIZE);
			return gpa;
		}
	}
	return 0;
}

void guest_mem_free(struct guest_mem *m, uint64_t gpa, uint64_t n_pages)
{
	uint64_t first;

	if (gpa < m->base_gpa)
		return;
	first = (gpa - m->base_gpa) / HV_PAGE_SIZE;
	for (uint64_t p = first; p < first + n_pages && p < m->n_pages; p++) {
		if (m->used[p]) {
			m->used[p] = 0;
			m->n_used--;
		}
	}
}

void *guest_mem_ptr(struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	return guest_attach_gpa(m->att, gpa, len);
}
