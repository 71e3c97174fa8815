/* SPDX-License-Identifier: MIT */
/* The scenario `io` step (step_io.c), listed in steps.c's table. */
#ifndef VMBUSD_SCENARIO_STEP_IO_H
#define VMBUSD_SCENARIO_STEP_IO_H

#include <jansson.h>
#include <stddef.h>

struct scenario;

int step_io_check(json_t *spec, const char *path, char *err, size_t errlen);
int step_io_start(struct scenario *sc, json_t *spec);
void step_io_poll(struct scenario *sc, json_t *spec);

#define STEP_IO_KEYS "driver,run,expect,absent,expect_rc,wait_ms,background"

#endif
