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
#include "core/stats.h"
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

/* The time enlightenments the partition offers (daemon config "hv"). */
struct hv_features {
	bool tsc_page;       /* REFERENCE_TSC + TIME_REF_COUNT; needs tsc_hz */
	bool time_ref_count; /* TIME_REF_COUNT alone (the MSR clocksource) */
	bool stimer;         /* SYNTIMER: stimer0-3 */
	bool stimer_direct;  /* stimer direct mode (with stimer) */
	bool frequency_msrs; /* TSC/APIC_FREQUENCY; needs tsc_hz */
};

struct hv_config {
	uint32_t n_vcpus;
	uint64_t tsc_hz;    /* guest TSC rate from the frontend; 0 = unknown */
	uint64_t apic_hz;   /* reported by HV_MSR_APIC_FREQUENCY;
			     * 0 = 1 GHz, what QEMU's emulated APIC counts */
	struct hv_features feat;
};

/* Where the partition asks for a call to hv_stimer_run(): at CLOCK_MONOTONIC
 * `deadline_ns`, or never (UINT64_MAX).  A new request replaces the last. */
struct hv_timer_sink {
	void (*arm)(void *opaque, uint64_t deadline_ns);
	void *opaque;
};

/* The partition's counters (core/stats.h).  "refused" means the guest got a
 * non-SUCCESS status or a #GP because its input was malformed or named
 * something that does not exist; each refusal moves hc_refused or msr_gp
 * and, where it has one, its own counter. */
#define HV_STATS(X)                                                                    \
	X(hypercalls, "every hypercall the frontend forwarded")                        \
	X(hc_refused, "hypercalls answered with an error status")                      \
	X(hc_unknown_code, "... of which INVALID_HYPERCALL_CODE")                      \
	X(hc_bad_input, "... of which a bad control word, input block or field")       \
	X(hc_unknown_conn, "... of which INVALID_CONNECTION_ID (Linux probes 4 then 1)") \
	X(hc_busy, "... of which INSUFFICIENT_BUFFERS (the guest retries)")            \
	X(post_messages, "HvPostMessage handed to a message port")                     \
	X(signal_events, "HvSignalEvent handed to an event port (any path)")          \
	X(signal_unknown, "eventfd kicks for an unregistered connection id")           \
	X(msr_gp, "RDMSR/WRMSR answered with #GP")                                     \
	X(msr_ignored, "WRMSR ignored as TLFS says: hypercall MSR locked or set before GUEST_OS_ID") \
	X(synic_delivered, "messages written into a SIM slot")                         \
	X(synic_queued, "posts that had to wait for an EOM")                           \
	X(synic_queue_full, "posts refused with -ENOSPC (queue full)")                 \
	X(synic_not_ready, "posts and events refused: SCONTROL, SIMP or SIEFP off")    \
	X(synic_eoms, "EOM writes")                                                    \
	X(synic_faults, "SIM/SIEF page outside guest RAM")                             \
	X(events_signalled, "synic_signal_event() calls that set a flag")              \
	X(irqs_raised, "interrupts handed to the irq sink")                          \
	X(tsc_page_updates, "reference TSC page (re)writes with a valid sequence")   \
	X(stimer_writes, "synthetic timer CONFIG/COUNT writes (each a round trip)")  \
	X(stimer_expired, "synthetic timer expirations delivered")                   \
	X(stimer_missed, "expirations not delivered: SynIC off, bad vector, slot busy")
STATS_STRUCT(hv_stats, HV_STATS);
STATS_DECLARE(hv_stats, struct hv_stats);

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
const struct hv_stats *hv_partition_stats(const struct hv_partition *hv);
/* {"bound", "vcpus", and every HV_STATS counter}: a new object or NULL. */
json_t *hv_partition_status_json(const struct hv_partition *hv);

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
/* The frontend's CLOCK sample: the guest TSC read `guest_tsc` at host
 * CLOCK_MONOTONIC `host_ns`; rewrites the reference TSC page. */
void hv_partition_clock(struct hv_partition *hv, uint64_t guest_tsc, uint64_t host_ns);
/* The host's timer for the synthetic timers (NULL: none). */
void hv_partition_set_timer_sink(struct hv_partition *hv, const struct hv_timer_sink *sink);
/* Delivers every synthetic timer expiration due now, then re-arms the sink. */
void hv_stimer_run(struct hv_partition *hv);
/* Same at reference time `now` (tests). */
void hv_stimer_run_at(struct hv_partition *hv, uint64_t now);
/* The TSC page math: scale and offset so that ((tsc * scale) >> 64) +
 * offset is reference time `ref` at TSC `tsc`, for a TSC of tsc_hz.
 * -EINVAL when tsc_hz <= 10 MHz. */
int hv_tsc_page_params(uint64_t tsc_hz, uint64_t tsc, int64_t ref, uint64_t *scale,
		       int64_t *offset);
/* What the guest computes from the page at TSC `tsc`. */
uint64_t hv_tsc_page_ref(uint64_t scale, int64_t offset, uint64_t tsc);

/* ---- SynIC, host side (facts §3.4) ------------------------------------ */

/* Delivers a message to (vp, sint) now if its slot is free, else marks the
 * occupant msg_pending and queues it for the guest's EOM.  -ENODEV when
 * that VP's SCONTROL or SIMP is not enabled (a masked SINT still receives
 * the message, without an interrupt, as on Hyper-V and KVM), -ENOSPC when
 * the queue is full, -EFAULT when the SIM page is outside guest RAM,
 * -EINVAL for a bad size, type, SINT or VP.  On success the message is
 * either in the slot or queued (synic_queued() tells). */
int synic_post_message(struct hv_partition *hv, uint32_t vp, uint32_t sint,
		       uint32_t message_type, const void *payload, uint32_t size);
/* OR'ed into synic_post_message's size by fault injection (msg.oversize):
 * the payload is delivered, the slot's payload_size says 255 (> 240). */
#define SYNIC_POST_CLAIM_OVERSIZE 0x80000000u
/* Sets event flag `flag` of `sint` in VP's SIEF page and interrupts the VP
 * (unless the flag was already set or the SINT is masked or polling).
 * -ENODEV when SCONTROL or SIEFP is not enabled, -EFAULT when the SIEF
 * page is outside guest RAM, -EINVAL for a bad flag, SINT or VP. */
int synic_signal_event(struct hv_partition *hv, uint32_t vp, uint32_t sint, uint32_t flag);
/* true when (vp, sint) can receive messages and will be interrupted for
 * them: SCONTROL and SIMP enabled, SINT unmasked.  (synic_post_message()
 * also delivers to a masked SINT — the message waits in the slot for a
 * polling guest — but raises no interrupt.) */
bool synic_sint_ready(const struct hv_partition *hv, uint32_t vp, uint32_t sint);
/* Messages waiting for an EOM on (vp, sint). */
uint32_t synic_queued(const struct hv_partition *hv, uint32_t vp, uint32_t sint);

#endif
