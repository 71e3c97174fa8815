/* SPDX-License-Identifier: MIT */
#include "core/fault.h"

#include <errno.h>
#include <string.h>

#include "core/util.h"

#define FAULT_MAX_POINTS 32
#define FAULT_NAME_MAX 48

struct fault_point {
	char name[FAULT_NAME_MAX];
	uint32_t skip;
	uint32_t count; /* 0 = forever */
	uint32_t fired;
};

static struct fault_point points[FAULT_MAX_POINTS];
unsigned int fault_armed_count;

static struct fault_point *fault_find(const char *point)
{
	for (unsigned int i = 0; i < fault_armed_count; i++)
		if (strcmp(points[i].name, point) == 0)
			return &points[i];
	return NULL;
}

bool fault_hit_slow(const char *point)
{
	struct fault_point *p = fault_find(point);

	if (!p)
		return false;
	if (p->skip > 0) {
		p->skip--;
		return false;
	}
	if (p->count != 0 && p->fired >= p->count)
		return false;
	p->fired++;
	return true;
}

int fault_arm(const char *point, uint32_t skip, uint32_t count)
{
	struct fault_point *p = fault_find(point);

	if (!p) {
		if (fault_armed_count >= FAULT_MAX_POINTS || strlen(point) >= FAULT_NAME_MAX)
			return -ENOSPC;
		p = &points[fault_armed_count++];
		strcpy(p->name, point);
	}
	p->skip = skip;
	p->count = count;
	p->fired = 0;
	return 0;
}

void fault_disarm_all(void)
{
	memset(points, 0, sizeof(points));
	fault_armed_count = 0;
}

uint32_t fault_fired(const char *point)
{
	struct fault_point *p = fault_find(point);

	return p ? p->fired : 0;
}
