/* SPDX-License-Identifier: MIT */
/*
 * hv/ private state, shared by partition.c, ports.c, cpuid.c, msr.c,
 * hypercall.c and synic.c.  Nothing outside src/hv/ includes this.
 *
 * Threading: every function of hv/ runs on the event-loop thread.  The only
 * concurrency is with the guest's vCPUs, which run in another process and
 * touch the SynIC pages in shared guest RAM; synic.c is the one file that
 * deals with that (see its header comment).
 */
#ifndef VMBUSD_HV_INTERNAL_H
#define VMBUSD_HV_INTERNAL_H

#include <stdint.h>
#include <sys/queue.h>

#include "hv/hv.h"

/* Messages a (VP, SINT) may have waiting for an EOM before posts fail with
 * -ENOSPC.  VMBus keeps at most a handful in flight; the bound only stops a
 * guest that never frees its slot from making the host allocate forever. */
#define SYNIC_QUEUE_MAX 1024u

/* APIC timer frequency reported when hv_config.apic_hz is 0: QEMU's
 * emulated local APIC counts nanoseconds (1 GHz bus), as does KVM's default
 * (facts §1.4, §10). */
#define HV_DEFAULT_APIC_HZ 1000000000ull

/* Power-on value of every SINTx MSR: masked, vector 0 (facts §1.4). */
#define HV_SINT_POWER_ON HV_SINT_MASKED

struct synic_msg {
	TAILQ_ENTRY(synic_msg) link;
	uint32_t type;
	uint32_t size;
	uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
};
TAILQ_HEAD(synic_msg_list, synic_msg);

struct synic_queue {
	struct synic_msg_list msgs;
	uint32_t count;
};

/* One synthetic timer (timer.c). */
struct hv_stimer {
	uint64_t config;   /* HV_STIMER_* bits */
	uint64_t count;    /* one-shot: absolute reference time; periodic: period */
	uint64_t exp_time; /* reference time it is due, while armed */
	bool armed;
};

/* One virtual processor: its SynIC registers and message queues. */
struct hv_vp {
	struct hv_stimer stimer[HV_STIMER_COUNT];
	uint64_t vp_assist;   /* HV_MSR_VP_ASSIST_PAGE, accepted and ignored */
	uint64_t scontrol;    /* bit 0 enables the SynIC */
	uint64_t siefp;       /* SIEF page GPA | enable */
	uint64_t simp;        /* SIM page GPA | enable */
	uint64_t sint[HV_SINT_COUNT];
	struct synic_queue queue[HV_SINT_COUNT];
};

struct hv_port {
	uint32_t conn_id;     /* bits 23:0 only */
	union {
		hv_message_handler msg;
		hv_event_handler evt;
	} fn;
	void *opaque;
};

/* A registry of ports, sorted by conn_id for binary search. */
struct hv_port_table {
	struct hv_port *ports;
	uint32_t count;
	uint32_t cap;
};

struct hv_partition {
	struct hv_irq_sink irq;
	struct gmem *mem;          /* NULL while unbound */
	struct hv_config cfg;
	struct hv_vp *vp;          /* cfg.n_vcpus entries while bound */

	/* Partition-wide MSRs (facts §1.4): one value seen by every vCPU. */
	uint64_t guest_os_id;
	uint64_t hypercall;
	uint64_t tsc_invariant_ctl;
	uint64_t ref_time_base_ns; /* now_ns() at the last reset */
	uint64_t reference_tsc;    /* HV_MSR_REFERENCE_TSC: page GPA | enable */
	uint32_t tsc_sequence;     /* last valid sequence written to the page */
	bool clock_valid;          /* a CLOCK sample arrived */
	uint64_t clock_tsc;        /* ... the guest TSC ... */
	uint64_t clock_ns;         /* ... at this host CLOCK_MONOTONIC time */
	struct hv_timer_sink timer;
	uint64_t timer_armed_ns;   /* what the sink was last asked for */

	struct hv_port_table msg_ports;
	struct hv_port_table evt_ports;

	struct hv_stats stats;
};

/* ports.c */
struct hv_port *hv_port_find(const struct hv_port_table *t, uint32_t conn_id);
void hv_port_table_free(struct hv_port_table *t);

/* synic.c */
/* Drops every queued message of the VP. */
void synic_vp_clear(struct hv_vp *vp);
/* Tries to deliver the head of every non-empty queue of `vp` (after an EOM
 * or a SynIC register change). */
void synic_vp_pump(struct hv_partition *hv, uint32_t vp);

/* timer.c */
uint64_t hv_ref_at_ns(const struct hv_partition *hv, uint64_t ns);
uint64_t hv_ns_at_ref(const struct hv_partition *hv, uint64_t ref);
void hv_tsc_page_update(struct hv_partition *hv);
/* 0, or -EFAULT when the page is enabled outside guest RAM. */
int hv_msr_write_reference_tsc(struct hv_partition *hv, uint64_t value);
/* msr in HV_MSR_STIMER0_CONFIG..HV_MSR_STIMER3_COUNT; 0 or -EPERM. */
int hv_stimer_msr_read(struct hv_partition *hv, uint32_t vp, uint32_t msr, uint64_t *value);
int hv_stimer_msr_write(struct hv_partition *hv, uint32_t vp, uint32_t msr, uint64_t value);
void hv_stimer_vp_reset(struct hv_partition *hv, struct hv_vp *vp);
/* After every VP was reset: tell the sink nothing is due. */
void hv_stimer_reset_done(struct hv_partition *hv);

/* partition.c */
static inline bool hv_vp_valid(const struct hv_partition *hv, uint32_t vp)
{
	return hv->mem != NULL && vp < hv->cfg.n_vcpus;
}

#endif
