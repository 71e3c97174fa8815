/* SPDX-License-Identifier: MIT */
/*
 * Named fault-injection points.  Lower layers ask fault_hit("ring.host_write")
 * at the places where a failure can be simulated; the harness (scenarios,
 * tests) arms points by name.  An unarmed point costs one predictable
 * branch: the armed count is checked before any string compare.
 */
#ifndef VMBUSD_CORE_FAULT_H
#define VMBUSD_CORE_FAULT_H

#include <stdbool.h>
#include <stdint.h>

extern unsigned int fault_armed_count;

bool fault_hit_slow(const char *point);

/* true when the caller should behave as if `point` failed. */
static inline bool fault_hit(const char *point)
{
	return __builtin_expect(fault_armed_count != 0, 0) && fault_hit_slow(point);
}

/* Arms `point`: the next `skip` hits pass, then `count` hits fail
 * (count 0 = forever).  Returns 0 or -ENOSPC. */
int fault_arm(const char *point, uint32_t skip, uint32_t count);
void fault_disarm_all(void);
/* How often an armed point fired. */
uint32_t fault_fired(const char *point);

#endif
