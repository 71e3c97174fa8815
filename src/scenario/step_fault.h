/* SPDX-License-Identifier: MIT */
/* The scenario `fault` step (step_fault.c), listed in steps.c's table. */
#ifndef VMBUSD_SCENARIO_STEP_FAULT_H
#define VMBUSD_SCENARIO_STEP_FAULT_H

#include <jansson.h>

struct scenario;

int step_fault_start(struct scenario *sc, json_t *spec);
void step_fault_poll(struct scenario *sc, json_t *spec);

#define STEP_FAULT_KEYS "class,device,channel,count,every,from,ms,disarm,expect_fired,expect_dmesg"

#endif
