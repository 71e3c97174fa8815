/* SPDX-License-Identifier: MIT */
/*
 * The ring-benchmark device (vmbusd's own, not a Hyper-V protocol): a
 * channel that sinks and sources packets so that `vmbusd bench ring` can
 * measure the ring path between two processes.  All packets are
 * VM_PKT_DATA_INBAND; the guest is the driver.
 *
 *   guest -> host  BENCH_OP_DATA     payload of any size; counted, dropped
 *   guest -> host  BENCH_OP_SOURCE   host sends `count` DATA packets of
 *                                    `size` payload bytes, as fast as the
 *                                    ring allows
 *   guest -> host  BENCH_OP_REPORT   flags = completion requested: the host
 *                                    answers VM_PKT_COMP with struct
 *                                    bench_report once every earlier packet
 *                                    was consumed (and every sourced one sent)
 */
#ifndef VMBUSD_PROTO_BENCH_H
#define VMBUSD_PROTO_BENCH_H

#include <stdint.h>

/* {9e6e3a1d-7c2b-4f0e-8a55-5d1b0c7e2f41}, wire order. */
#define BENCH_CLASS_GUID_STR "9e6e3a1d-7c2b-4f0e-8a55-5d1b0c7e2f41"

enum bench_op {
	BENCH_OP_DATA = 1,
	BENCH_OP_SOURCE = 2,
	BENCH_OP_REPORT = 3,
};

struct bench_msg {
	uint32_t op;      /* enum bench_op */
	uint32_t size;    /* SOURCE: payload bytes per packet (>= 8) */
	uint64_t count;   /* SOURCE: packets to send */
	/* DATA: the payload continues after these 16 bytes */
} __attribute__((packed));
_Static_assert(sizeof(struct bench_msg) == 16, "bench_msg");

struct bench_report {
	uint32_t op;             /* BENCH_OP_REPORT */
	uint32_t reserved;
	uint64_t rx_packets;     /* DATA packets the host consumed */
	uint64_t rx_bytes;
	uint64_t tx_packets;     /* DATA packets the host sent */
	uint64_t tx_bytes;
	uint64_t rx_signals;     /* guest -> host signals received */
	uint64_t tx_signals;     /* host -> guest interrupts raised */
} __attribute__((packed));
_Static_assert(sizeof(struct bench_report) == 56, "bench_report");

#endif /* VMBUSD_PROTO_BENCH_H */
