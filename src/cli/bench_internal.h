/* SPDX-License-Identifier: MIT */
/* `vmbusd bench`: the ring benchmark (bench.c), its bare reference
 * (bench_bare.c) and the comparison of two result files (bench_compare.c). */
#ifndef VMBUSD_CLI_BENCH_INTERNAL_H
#define VMBUSD_CLI_BENCH_INTERNAL_H

#include <stdint.h>

/* Moves `count` packets of `size` bytes through the bare two-process ring
 * with a data area of `ring_size` bytes (8-aligned, two records at least);
 * 0 with the time from start to the last packet consumed, or -errno. */
int bench_bare_run(uint32_t size, uint64_t count, uint32_t ring_size, uint64_t *elapsed_ns);

/* `vmbusd bench compare OLD.json NEW.json`: the ratio NEW/OLD per row. */
int bench_compare(const char *old_path, const char *new_path);

#endif
