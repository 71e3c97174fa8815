/* SPDX-License-Identifier: MIT */
/*
 * hv/: the Hyper-V partition interface owned by the daemon — CPUID leaves,
 * synthetic MSRs, hypercalls and the SynIC (facts §1-§3).  It sees guest
 * memory and an "inject interrupt" callback, never the frontend itself.
 *
 * Upper layers (vmbus/) register message ports (HvPostMessage targets) and
 * event ports (HvSignalEvent targets) by connection id, and use
 * synic_post_message()/synic_signal_event() to talk to the guest.
 */
#ifndef VMBUSD_HV_HV_H
#define VMBUSD_HV_HV_H

#include <stdbool.h>
#include <stdint.h>

#include "core/gmem.h"
#include "vmbusd/proto/attach.h"
#include "vmbusd/proto/hv.h"

struct hv_partition;

struct hv_irq_sink {
	void (*raise)(void *opaque, uint32_t vp, uint8_t vector);
	void *opaque;
};

/* A message posted by the guest.  Returns an HV_STATUS_* that becomes the
 * hypercall result (e.g. INSUFFICIENT_BUFFERS to make the guest retry). */
typedef uint16_t (*hv_message_handler)(void *opaque, uint32_t vp, uint32_t conn_id,
				       const void *payload, uint32_t size);
/* HvSignalEvent for an event port. */
typedef void (*hv_event_handler)(void *opaque, uint32_t conn_id);

struct hv_config {
	uint32_t n_vcpus;
	uint64_t tsc_hz;    /* reported by HV_MSR_TSC_FREQUENCY; 0 = do not advertise */
};

/* The partition lives across attaches; hv_partition_bind() connects it to
 * the memory of the current frontend, hv_partition_unbind() forgets it. */
struct hv_partition *hv_partition_new(const struct hv_irq_sink *irq);
void hv_partition_free(struct hv_partition *hv);
int hv_partition_bind(struct hv_partition *hv, struct gmem *mem, const struct hv_config *cfg);
void hv_partition_unbind(struct hv_partition *hv);
bool hv_partition_bound(const struct hv_partition *hv);
/* Power-on state of every MSR and SynIC page; queued messages dropped. */
void hv_partition_reset(struct hv_partition *hv);
struct gmem *hv_partition_gmem(struct hv_partition *hv);
uint32_t hv_partition_vcpus(const struct hv_partition *hv);

/* CPUID leaves for the frontend (facts §1.2, §11).  Returns the count. */
uint32_t hv_cpuid_fill(const struct hv_partition *hv, struct attach_cpuid *out, uint32_t max);

/* 0 or -EPERM (#GP). */
int hv_msr_read(struct hv_partition *hv, uint32_t vp, uint32_t msr, uint64_t *value);
int hv_msr_write(struct hv_partition *hv, uint32_t vp, uint32_t msr, uint64_t value,
		 uint32_t *action, uint64_t *arg);

/* Decodes and runs one hypercall; returns RAX.  See attach_backend_ops. */
uint64_t hv_hypercall(struct hv_partition *hv, uint32_t vp, uint64_t control,
		      uint64_t input, uint64_t output, uint32_t *signal_conn_id);
/* The eventfd fast path for HvSignalEvent. */
void hv_signal_event_port(struct hv_partition *hv, uint32_t conn_id);

int hv_register_message_port(struct hv_partition *hv, uint32_t conn_id,
			     hv_message_handler fn, void *opaque);
void hv_unregister_message_port(struct hv_partition *hv, uint32_t conn_id);
int hv_register_event_port(struct hv_partition *hv, uint32_t conn_id,
			   hv_event_handler fn, void *opaque);
void hv_unregister_event_port(struct hv_partition *hv, uint32_t conn_id);

/* Partition reference time in 100 ns units (HV_MSR_TIME_REF_COUNT). */
uint64_t hv_time_ref_count(const struct hv_partition *hv);

/* ---- SynIC, host side (facts §3.4) ------------------------------------ */

/* Delivers a message to (vp, sint) now if its slot is free, else marks the
 * occupant msg_pending and queues it for the guest's EOM.  -ENODEV when
 * that VP's SynIC/SIMP/SINT is not enabled, -ENOSPC when the queue is full,
 * -EINVAL for a bad size or VP. */
int synic_post_message(struct hv_partition *hv, uint32_t vp, uint32_t sint,
		       uint32_t message_type, const void *payload, uint32_t size);
/* Sets event flag `flag` of `sint` in VP's SIEF page and interrupts the VP
 * (unless the flag was already set).  -ENODEV when not enabled. */
int synic_signal_event(struct hv_partition *hv, uint32_t vp, uint32_t sint, uint32_t flag);
/* true when (vp, sint) can receive messages. */
bool synic_sint_ready(const struct hv_partition *hv, uint32_t vp, uint32_t sint);
/* Messages waiting for an EOM on (vp, sint). */
uint32_t synic_queued(const struct hv_partition *hv, uint32_t vp, uint32_t sint);

#endif
