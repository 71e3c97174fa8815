/* SPDX-License-Identifier: MIT */
/*
 * Shared fixture of the hv/ unit tests (test_synic, test_msr,
 * test_hypercall): a partition bound to memfd-backed guest RAM at GPA 0 and
 * an irq sink that records what it is asked to raise.  Header-only so each
 * test stays one standalone program.
 */
#ifndef VMBUSD_TESTS_HV_FIXTURE_H
#define VMBUSD_TESTS_HV_FIXTURE_H

#include <check.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/gmem.h"
#include "hv/hv.h"

#define FIX_RAM_SIZE (1u << 20) /* 1 MiB of guest RAM at GPA 0 */
#define FIX_VCPUS 2u
#define FIX_MAX_IRQS 4096u

struct fix_irq {
	uint32_t vp;
	uint8_t vector;
};

static struct gmem fix_mem;
static struct hv_partition *fix_hv;
static struct fix_irq fix_irqs[FIX_MAX_IRQS];
static uint32_t fix_n_irqs;

static void fix_raise(void *opaque, uint32_t vp, uint8_t vector)
{
	(void)opaque;
	if (fix_n_irqs < FIX_MAX_IRQS)
		fix_irqs[fix_n_irqs] = (struct fix_irq){ vp, vector };
	fix_n_irqs++;
}

static void fix_setup_cfg(const struct hv_config *cfg)
{
	static const struct hv_irq_sink sink = { .raise = fix_raise, .opaque = NULL };
	int fd = memfd_create("test-ram", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, FIX_RAM_SIZE), 0);
	gmem_init(&fix_mem);
	ck_assert_int_eq(gmem_add(&fix_mem, 0, FIX_RAM_SIZE, fd, 0), 0);
	fix_hv = hv_partition_new(&sink);
	ck_assert_ptr_nonnull(fix_hv);
	ck_assert_int_eq(hv_partition_bind(fix_hv, &fix_mem, cfg), 0);
	fix_n_irqs = 0;
}

static void fix_setup(void)
{
	struct hv_config cfg = { .n_vcpus = FIX_VCPUS, .tsc_hz = 0 };

	fix_setup_cfg(&cfg);
}

static void fix_teardown(void)
{
	hv_partition_free(fix_hv);
	fix_hv = NULL;
	gmem_release(&fix_mem);
}

/* Host pointer to guest RAM. */
static inline uint8_t *fix_ptr(uint64_t gpa)
{
	uint8_t *p = gmem_translate(&fix_mem, gpa, 1);

	ck_assert_ptr_nonnull(p);
	return p;
}

static inline void fix_wrmsr(uint32_t vp, uint32_t msr, uint64_t value)
{
	ck_assert_int_eq(hv_msr_write(fix_hv, vp, msr, value, NULL, NULL), 0);
}

static inline uint64_t fix_rdmsr(uint32_t vp, uint32_t msr)
{
	uint64_t v = ~0ull;

	ck_assert_int_eq(hv_msr_read(fix_hv, vp, msr, &v), 0);
	return v;
}

/* What Linux's hv_synic_enable_regs() does on one CPU (facts §1.5). */
static inline void fix_enable_synic(uint32_t vp, uint64_t simp_gpa, uint64_t siefp_gpa)
{
	fix_wrmsr(vp, HV_MSR_SIMP, simp_gpa | HV_MSR_ENABLE);
	fix_wrmsr(vp, HV_MSR_SIEFP, siefp_gpa | HV_MSR_ENABLE);
	fix_wrmsr(vp, HV_MSR_SINT0 + VMBUS_MESSAGE_SINT, HV_CALLBACK_VECTOR);
	fix_wrmsr(vp, HV_MSR_SCONTROL, 1);
}

#endif
