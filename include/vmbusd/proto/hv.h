/* SPDX-License-Identifier: MIT */
/*
 * Hyper-V partition interface wire formats: CPUID leaves, synthetic MSR
 * numbers, the hypercall ABI and the SynIC message and event-flag pages.
 * Facts §1-§3 (Linux 6.1 arch/x86/include/asm/hyperv-tlfs.h,
 * include/asm-generic/hyperv-tlfs.h).
 */
#ifndef VMBUSD_PROTO_HV_H
#define VMBUSD_PROTO_HV_H

#include <stdint.h>

#define HV_PAGE_SIZE  4096u
#define HV_PAGE_SHIFT 12

/* ---- CPUID (facts §1.2, §1.3) ----------------------------------------- */
#define HV_CPUID_VENDOR_AND_MAX   0x40000000u
#define HV_CPUID_INTERFACE        0x40000001u
#define HV_CPUID_VERSION          0x40000002u
#define HV_CPUID_FEATURES         0x40000003u
#define HV_CPUID_ENLIGHTENMENT    0x40000004u
#define HV_CPUID_IMPLEMENT_LIMITS 0x40000005u
#define HV_CPUID_MSI_EXT_DEST_A   0x40000081u /* read unconditionally by Linux */
#define HV_CPUID_MSI_EXT_DEST_B   0x40000082u

#define HV_CPUID_SIGNATURE_EBX 0x7263694Du /* "Micr" */
#define HV_CPUID_SIGNATURE_ECX 0x666F736Fu /* "osof" */
#define HV_CPUID_SIGNATURE_EDX 0x76482074u /* "t Hv" */
#define HV_CPUID_INTERFACE_HV1 0x31237648u /* "Hv#1" */

/* 0x40000003 EAX, partition privileges (group A) */
#define HV_FEAT_SYNIC            (1u << 2)
#define HV_FEAT_TIME_REF_COUNT   (1u << 1)  /* alone: sched_clock becomes an MSR exit */
#define HV_FEAT_SYNTIMER         (1u << 3)  /* stimer0-3, MSRs 0x400000B0-B7 */
#define HV_FEAT_HYPERCALL        (1u << 5)  /* required by ms_hyperv_platform() */
#define HV_FEAT_VP_INDEX         (1u << 6)  /* required by ms_hyperv_platform() */
#define HV_FEAT_REFERENCE_TSC    (1u << 9)  /* MSR 0x40000021, the TSC page */
#define HV_FEAT_FREQUENCY_MSRS   (1u << 11)
#define HV_FEAT_TSC_INVARIANT    (1u << 15) /* else mark_tsc_unstable() */
/* 0x40000003 EBX (group B) */
#define HV_FEAT_POST_MESSAGES    (1u << 4)
#define HV_FEAT_SIGNAL_EVENTS    (1u << 5)
/* 0x40000003 EDX */
#define HV_FEAT_FREQ_MSRS_AVAIL  (1u << 8)
#define HV_FEAT_STIMER_DIRECT    (1u << 19) /* stimer direct mode (a vector, no message) */
/* 0x40000004 EAX: the only hint we set; without it Linux never EOIs 0xF3 */
#define HV_HINT_DEPRECATE_AEOI   (1u << 9)

/* ---- Synthetic MSRs (facts §1.4) -------------------------------------- */
#define HV_MSR_GUEST_OS_ID       0x40000000u /* partition-wide */
#define HV_MSR_HYPERCALL         0x40000001u /* partition-wide */
#define HV_MSR_VP_INDEX          0x40000002u
#define HV_MSR_TIME_REF_COUNT    0x40000020u
#define HV_MSR_REFERENCE_TSC     0x40000021u
#define HV_MSR_TSC_FREQUENCY     0x40000022u
#define HV_MSR_APIC_FREQUENCY    0x40000023u
#define HV_MSR_VP_ASSIST_PAGE    0x40000073u
#define HV_MSR_SCONTROL          0x40000080u
#define HV_MSR_SVERSION          0x40000081u
#define HV_MSR_SIEFP             0x40000082u
#define HV_MSR_SIMP              0x40000083u
#define HV_MSR_EOM               0x40000084u
#define HV_MSR_SINT0             0x40000090u
#define HV_MSR_SINT15            0x4000009Fu
#define HV_MSR_STIMER0_CONFIG    0x400000B0u /* stimer n: CONFIG 0xB0+2n, COUNT 0xB1+2n */
#define HV_MSR_STIMER3_COUNT     0x400000B7u
#define HV_MSR_TSC_INVARIANT_CTL 0x40000118u
#define HV_MSR_RANGE_FIRST       0x40000000u
#define HV_MSR_RANGE_LAST        0x400001FFu

#define HV_MSR_ENABLE            (1ull << 0)  /* SIMP/SIEFP/SCONTROL/HYPERCALL bit 0 */
#define HV_MSR_PAGE_MASK         (~0xFFFull)  /* GPA bits 63:12 */
#define HV_SINT_VECTOR_MASK      0xFFull
#define HV_SINT_MASKED           (1ull << 16)
#define HV_SINT_AUTO_EOI         (1ull << 17)
#define HV_SINT_POLLING          (1ull << 18)
#define HV_SINT_COUNT            16u

/* ---- Hypercalls (facts §2) ------------------------------------------- */
#define HV_HC_CODE_MASK          0xFFFFull
#define HV_HC_FAST               (1ull << 16)
#define HV_HC_VARHEAD_SHIFT      17
#define HV_HC_VARHEAD_MASK       (0x3FFull << 17)
#define HV_HC_REP_COUNT_SHIFT    32
#define HV_HC_REP_COUNT_MASK     (0xFFFull << 32)
#define HV_HC_REP_START_SHIFT    48
#define HV_HC_REP_START_MASK     (0xFFFull << 48)

#define HVCALL_POST_MESSAGE      0x005Cu
#define HVCALL_SIGNAL_EVENT      0x005Du

enum hv_status {
	HV_STATUS_SUCCESS                 = 0,
	HV_STATUS_INVALID_HYPERCALL_CODE  = 2,
	HV_STATUS_INVALID_HYPERCALL_INPUT = 3,
	HV_STATUS_INVALID_ALIGNMENT       = 4,
	HV_STATUS_INVALID_PARAMETER       = 5,
	HV_STATUS_ACCESS_DENIED           = 6,
	HV_STATUS_OPERATION_DENIED        = 8,
	HV_STATUS_INSUFFICIENT_MEMORY     = 11,
	HV_STATUS_INVALID_PORT_ID         = 17,
	HV_STATUS_INVALID_CONNECTION_ID   = 18,
	HV_STATUS_INSUFFICIENT_BUFFERS    = 19,
};

#define HV_MESSAGE_PAYLOAD_MAX 240u
#define HV_CONNECTION_ID_MASK  0x00FFFFFFu

/* HvPostMessage input, at the GPA in RDX (drivers/hv/hyperv_vmbus.h:99). */
struct hv_input_post_message {
	uint32_t connection_id; /* bits 23:0 = id */
	uint32_t reserved;
	uint32_t message_type;  /* Linux always sends 1 */
	uint32_t payload_size;  /* <= 240 */
	uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
} __attribute__((packed));
_Static_assert(sizeof(struct hv_input_post_message) == 256, "hv_input_post_message");

/* HvSignalEvent fast input qword: connection id 31:0, flag number 47:32. */
#define HV_SIGNAL_CONN_ID(q)  ((uint32_t)((q) & 0xFFFFFFFFull))
#define HV_SIGNAL_FLAG_NR(q)  ((uint32_t)(((q) >> 32) & 0xFFFFull))

/* ---- Reference TSC page (TLFS 12.7; Linux struct ms_hyperv_tsc_page) --- */

/* The page the guest names in HV_MSR_REFERENCE_TSC (GPA 63:12 | enable).
 * Reference time in 100 ns = ((tsc * tsc_scale) >> 64) + tsc_offset, read
 * under tsc_sequence like a seqlock; sequence 0 tells the guest to read
 * HV_MSR_TIME_REF_COUNT instead (Linux hv_read_tsc_page_tsc()). */
struct hv_reference_tsc_page {
	uint32_t tsc_sequence; /* 0 = invalid; changes on every update */
	uint32_t reserved1;
	uint64_t tsc_scale;    /* 2^64 * 10^7 / TSC Hz */
	int64_t tsc_offset;    /* 100 ns units */
} __attribute__((packed));
_Static_assert(sizeof(struct hv_reference_tsc_page) == 24, "hv_reference_tsc_page");

/* The reference counter and the stimer counts tick at 10 MHz (TLFS 12.4). */
#define HV_REF_HZ 10000000ull

/* ---- Synthetic timers (TLFS 12.9; Linux union hv_stimer_config) -------- */
#define HV_STIMER_COUNT          4u
#define HV_STIMER_ENABLE         (1ull << 0)
#define HV_STIMER_PERIODIC       (1ull << 1)
#define HV_STIMER_LAZY           (1ull << 2)  /* accepted, meaningless here */
#define HV_STIMER_AUTO_ENABLE    (1ull << 3)  /* a COUNT write != 0 sets ENABLE */
#define HV_STIMER_VECTOR_SHIFT   4            /* bits 11:4, direct mode vector */
#define HV_STIMER_VECTOR_MASK    (0xFFull << 4)
#define HV_STIMER_DIRECT_MODE    (1ull << 12) /* interrupt at the vector, no message */
#define HV_STIMER_SINTX_SHIFT    16           /* bits 19:16, message mode SINT */
#define HV_STIMER_SINTX_MASK     (0xFull << 16)
#define HV_STIMER_VALID_BITS     (HV_STIMER_ENABLE | HV_STIMER_PERIODIC | HV_STIMER_LAZY | \
				  HV_STIMER_AUTO_ENABLE | HV_STIMER_VECTOR_MASK |           \
				  HV_STIMER_DIRECT_MODE | HV_STIMER_SINTX_MASK)

/* Payload of an HVMSG_TIMER_EXPIRED message (Linux struct
 * hv_timer_message_payload). */
struct hv_timer_message_payload {
	uint32_t timer_index;     /* 0..3 */
	uint32_t reserved;
	uint64_t expiration_time; /* reference time the timer was due */
	uint64_t delivery_time;   /* reference time the message was written */
} __attribute__((packed));
_Static_assert(sizeof(struct hv_timer_message_payload) == 24, "hv_timer_message_payload");

/* ---- SynIC pages (facts §3.1) ---------------------------------------- */
#define HVMSG_NONE          0u
#define HVMSG_VMBUS         1u  /* the type QEMU and Hyper-V use for VMBus */
#define HVMSG_TIMER_EXPIRED 0x80000010u /* a synthetic timer in message mode */
#define HV_MSG_FLAG_PENDING 0x1u

struct hv_message_header {
	uint32_t message_type;  /* 0 = slot free; written last by the host */
	uint8_t payload_size;   /* <= 240 */
	uint8_t message_flags;  /* bit 0 msg_pending */
	uint16_t reserved;
	uint64_t sender;        /* port / sender, ignored by Linux */
} __attribute__((packed));
_Static_assert(sizeof(struct hv_message_header) == 16, "hv_message_header");

struct hv_message {
	struct hv_message_header header;
	uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
} __attribute__((packed));
_Static_assert(sizeof(struct hv_message) == 256, "hv_message");

struct hv_message_page {
	struct hv_message sint_message[HV_SINT_COUNT]; /* slot n belongs to SINT n */
} __attribute__((packed));
_Static_assert(sizeof(struct hv_message_page) == HV_PAGE_SIZE, "hv_message_page");

#define HV_EVENT_FLAGS_BYTES 256u /* 2048 flags per SINT */
#define HV_EVENT_FLAGS_COUNT (HV_EVENT_FLAGS_BYTES * 8u)

struct hv_event_flags_page {
	uint8_t sint_flags[HV_SINT_COUNT][HV_EVENT_FLAGS_BYTES]; /* bit n of SINT 2 = relid n */
} __attribute__((packed));
_Static_assert(sizeof(struct hv_event_flags_page) == HV_PAGE_SIZE, "hv_event_flags_page");

/* Monitored notification (TLFS "Monitor pages"; Linux struct hv_monitor_page
 * in include/asm-generic/hyperv-tlfs.h).  The guest gives two pages at
 * INITIATE_CONTACT: monitor_page1 (parent -> child, unused by Linux for
 * receiving) and monitor_page2 (child -> parent).  To signal a channel
 * offered with monitor_allocated = 1 and monitorid M, Linux (and DPDK's
 * netvsc PMD) sets bit M % 32 of trigger_group[M / 32].pending in page 2
 * with a locked OR instead of calling HvSignalEvent; the host finds it
 * within latency[M / 32][M % 32] x 100 ns and signals the connection in
 * parameter[M / 32][M % 32].  Linux reads latency and parameter only to
 * show them in sysfs (vmbus_drv.c *_monitor_latency, *_monitor_conn_id). */
#define HV_MONITOR_GROUPS        4u
#define HV_MONITOR_BITS_PER_GROUP 32u
#define HV_MONITOR_IDS (HV_MONITOR_GROUPS * HV_MONITOR_BITS_PER_GROUP)

struct hv_monitor_trigger_group {
	uint32_t pending;         /* bit n set by the guest: monitor id group*32+n fired */
	uint32_t armed;           /* hypervisor-owned in Hyper-V; Linux never reads it */
} __attribute__((packed));
_Static_assert(sizeof(struct hv_monitor_trigger_group) == 8, "hv_monitor_trigger_group");

struct hv_monitor_parameter {
	uint32_t connectionid;    /* the connection id to signal (the offer's connection_id) */
	uint16_t flagnumber;      /* event flag number within it (0 for VMBus channels) */
	uint16_t rsvdz;
} __attribute__((packed));
_Static_assert(sizeof(struct hv_monitor_parameter) == 8, "hv_monitor_parameter");

struct hv_monitor_page {
	uint32_t trigger_state;   /* bits 0..3 group_enable: groups the host scans */
	uint32_t rsvdz1;
	struct hv_monitor_trigger_group trigger_group[HV_MONITOR_GROUPS];
	uint64_t rsvdz2[3];
	int32_t next_checktime[HV_MONITOR_GROUPS][HV_MONITOR_BITS_PER_GROUP];
	uint16_t latency[HV_MONITOR_GROUPS][HV_MONITOR_BITS_PER_GROUP]; /* 100 ns units */
	uint64_t rsvdz3[32];
	struct hv_monitor_parameter parameter[HV_MONITOR_GROUPS][HV_MONITOR_BITS_PER_GROUP];
	uint8_t rsvdz4[1984];
} __attribute__((packed));
_Static_assert(sizeof(struct hv_monitor_page) == HV_PAGE_SIZE, "hv_monitor_page");
_Static_assert(__builtin_offsetof(struct hv_monitor_page, trigger_group) == 8, "trigger_group");
_Static_assert(__builtin_offsetof(struct hv_monitor_page, latency) == 576, "latency");
_Static_assert(__builtin_offsetof(struct hv_monitor_page, parameter) == 1088, "parameter");

#define VMBUS_MESSAGE_SINT 2u    /* VMBus uses SINT 2 (facts §3.1) */
#define HV_CALLBACK_VECTOR 0xF3u /* what Linux programs into SINT2 */

#endif /* VMBUSD_PROTO_HV_H */
