/* SPDX-License-Identifier: MIT */
/* Small helpers every layer uses: sizes, overflow-checked arithmetic, time. */
#ifndef VMBUSD_CORE_UTIL_H
#define VMBUSD_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define CLAMP(v, lo, hi) MIN(MAX((v), (lo)), (hi))
#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define UNUSED __attribute__((unused))

/* true when a + b overflows; *res is only meaningful when false. */
static inline bool add_overflows_u64(uint64_t a, uint64_t b, uint64_t *res)
{
	return __builtin_add_overflow(a, b, res);
}

static inline bool mul_overflows_u64(uint64_t a, uint64_t b, uint64_t *res)
{
	return __builtin_mul_overflow(a, b, res);
}

/* Monotonic nanoseconds. */
uint64_t now_ns(void);
/* Wall clock in nanoseconds since the Unix epoch. */
uint64_t wall_ns(void);

#endif
