/* SPDX-License-Identifier: MIT */
/*
 * The vmbusd plugin protocol: the wire format between a frontend (the QEMU
 * vmbus-user device, or the synthetic guest) and the daemon.
 *
 * This header is self-contained on purpose: qemu/build.sh copies it into the
 * QEMU tree so that the plugin and the daemon share one definition.  Only
 * <stdint.h> is needed.  docs/plugin-protocol.md explains the semantics.
 *
 * Transport: a SOCK_STREAM Unix socket.  Every message is a 16-byte header
 * followed by `size` payload bytes; file descriptors travel as SCM_RIGHTS
 * ancillary data on the first byte of the header.  The frontend sends
 * requests, the daemon answers every request with exactly one reply of the
 * same type carrying ATTACH_F_REPLY.  The daemon never sends anything
 * unsolicited on the socket: asynchronous traffic uses eventfds.
 */
#ifndef VMBUSD_PROTO_ATTACH_H
#define VMBUSD_PROTO_ATTACH_H

#include <stdint.h>

/* 2: ATTACH carries the guest TSC rate; CLOCK ties the guest TSC to the
 * host clock.  3: the idle watch (struct attach_irq_slot) and its doorbell,
 * one more eventfd in the ATTACH reply.  A daemon refuses any other
 * version with -EPROTO. */
#define ATTACH_PROTOCOL_VERSION 3u

/* Limits both sides enforce before trusting a count. */
#define ATTACH_MAX_REGIONS    16u   /* guest RAM regions per attach */
#define ATTACH_MAX_VCPUS      64u   /* fds per SCM_RIGHTS stay well under 253 */
#define ATTACH_MAX_CPUID      64u   /* leaves in the attach reply */
#define ATTACH_MAX_PAYLOAD    8192u /* no message is larger than this */

enum attach_msg_type {
	ATTACH_MSG_ATTACH    = 1, /* frontend hands over RAM, gets CPUID + irq fds */
	ATTACH_MSG_MSR_READ  = 2, /* RDMSR of a synthetic MSR */
	ATTACH_MSG_MSR_WRITE = 3, /* WRMSR of a synthetic MSR */
	ATTACH_MSG_HYPERCALL = 4, /* the guest executed the hypercall page */
	ATTACH_MSG_RESET     = 5, /* guest system reset: partition state back to power-on */
	ATTACH_MSG_DETACH    = 6, /* orderly goodbye; the daemon closes after replying */
	ATTACH_MSG_CLOCK     = 7, /* v2: "the guest TSC read T at host time N" */
};

#define ATTACH_F_REPLY 0x1u /* set on every daemon -> frontend reply */

struct attach_hdr {
	uint32_t type;  /* enum attach_msg_type */
	uint32_t flags; /* ATTACH_F_* */
	uint32_t size;  /* payload bytes that follow this header */
	uint32_t seq;   /* chosen by the frontend, echoed in the reply */
} __attribute__((packed));
_Static_assert(sizeof(struct attach_hdr) == 16, "attach_hdr");

/* ---- ATTACH ------------------------------------------------------------ */

struct attach_region {
	uint64_t gpa;       /* guest-physical base of the region */
	uint64_t size;      /* bytes; page multiple */
	uint64_t fd_offset; /* offset of gpa inside the region's memfd */
} __attribute__((packed));
_Static_assert(sizeof(struct attach_region) == 24, "attach_region");

/*
 * Request payload; n_regions memfds follow as SCM_RIGHTS, one per region.
 * `version` comes first in every version of this struct, so a daemon can
 * always read it and answer a frontend of another version with -EPROTO.
 */
struct attach_req {
	uint32_t version;   /* ATTACH_PROTOCOL_VERSION spoken by the frontend */
	uint32_t n_vcpus;   /* 1 .. ATTACH_MAX_VCPUS; VP index == vCPU index */
	uint32_t n_regions; /* 1 .. ATTACH_MAX_REGIONS */
	uint32_t flags;     /* reserved, 0 */
	/* v2: the rate at which the guest's RDTSC counts, in Hz, as the guest
	 * observes it (QEMU TCG: the host TSC rate); 0 = unknown, and then the
	 * daemon offers neither the TSC page nor the frequency MSRs. */
	uint64_t tsc_hz;
	struct attach_region regions[];
} __attribute__((packed));
_Static_assert(sizeof(struct attach_req) == 24, "attach_req");
/* The fixed part a version-1 frontend sent (no tsc_hz). */
#define ATTACH_REQ_V1_SIZE 16u

struct attach_cpuid {
	uint32_t function; /* 0x40000000 .. 0x400000FF */
	uint32_t index;    /* sub-leaf (ECX); these leaves ignore it */
	uint32_t eax, ebx, ecx, edx;
} __attribute__((packed));
_Static_assert(sizeof(struct attach_cpuid) == 24, "attach_cpuid");

/*
 * Reply payload.  On status 0 the reply carries 2 + n_vcpus fds: the irq
 * area memfd (struct attach_irq_slot[n_vcpus]), then one eventfd per vCPU
 * that the daemon writes after setting bits in that vCPU's slot, then the
 * idle doorbell, an eventfd the frontend writes (struct attach_irq_slot).
 * A frontend answers every leaf of 0x40000000..0x400000FF not in the
 * table with zeros.
 */
struct attach_reply {
	int32_t status;   /* 0, or -errno (EPROTO version, EBUSY already attached, EINVAL) */
	uint32_t version; /* version the daemon speaks */
	uint32_t n_cpuid; /* entries that follow */
	uint32_t irq_area_size; /* bytes of the irq memfd to map */
	struct attach_cpuid cpuid[];
} __attribute__((packed));
_Static_assert(sizeof(struct attach_reply) == 16, "attach_reply");

/*
 * One vCPU's pending interrupt vectors, in the shared irq area.  The daemon
 * sets bit V with an atomic fetch-or (release) and then writes the vCPU's
 * eventfd; the frontend exchanges each word with 0 (acquire) and injects a
 * fixed, edge-triggered interrupt for every set bit to that vCPU's local
 * APIC.  Because the bitmap is the source of truth, coalesced eventfd kicks
 * lose nothing.
 *
 * The idle watch (v3).  While idle_gpa is non-zero, a frontend that sees
 * this vCPU about to halt (HLT) reads the four little-endian 64-bit words
 * at guest-physical idle_gpa (8-byte aligned, inside one page of guest
 * RAM) and, when any of them has a bit of idle_mask set, writes 1 to the
 * idle doorbell.  It may also look when the vCPU reads its clock (TCG:
 * RDTSC), ringing then only for bits that were clear at that vCPU's
 * previous look.  The daemon stores idle_mask, then idle_gpa (release);
 * the frontend loads idle_gpa (acquire), then idle_mask.  It is a hint: a
 * frontend that never checks (under KVM a vCPU halts inside the kernel)
 * loses only latency.  vmbusd points it at the pending words of the
 * guest's child->parent monitor page, which the guest sets instead of
 * calling HvSignalEvent (MNF, docs/plugin-protocol.md).
 */
struct attach_irq_slot {
	uint64_t pending[4]; /* bit V of the 256 = vector V */
	uint64_t idle_gpa;   /* v3: 0 = no watch */
	uint64_t idle_mask;
	uint64_t reserved[2];
} __attribute__((packed));
_Static_assert(sizeof(struct attach_irq_slot) == 64, "attach_irq_slot");

/* ---- MSR_READ / MSR_WRITE ---------------------------------------------- */

struct attach_msr_req {
	uint32_t vcpu;  /* VP index of the vCPU that executed RDMSR/WRMSR */
	uint32_t msr;   /* ECX; the frontend forwards 0x40000000..0x400001FF */
	uint64_t value; /* WRMSR: EDX:EAX; RDMSR: 0 */
} __attribute__((packed));
_Static_assert(sizeof(struct attach_msr_req) == 16, "attach_msr_req");

enum attach_msr_result {
	ATTACH_MSR_OK = 0,
	ATTACH_MSR_GP = 1, /* raise #GP(0) in the guest */
};

enum attach_msr_action {
	ATTACH_ACTION_NONE = 0,
	/*
	 * The guest enabled the hypercall page at `arg` (page-aligned GPA).
	 * The frontend writes its own stub there through its memory API, so a
	 * translating CPU sees the new code; the daemon never writes guest code.
	 * Stub contract: the page must make the frontend see RCX (control),
	 * RDX (input) and R8 (output) and return the daemon's result in RAX.
	 */
	ATTACH_ACTION_HYPERCALL_PAGE = 1,
};

struct attach_msr_reply {
	uint32_t result; /* enum attach_msr_result */
	uint32_t action; /* enum attach_msr_action (writes only) */
	uint64_t value;  /* RDMSR result; for an action, its argument */
} __attribute__((packed));
_Static_assert(sizeof(struct attach_msr_reply) == 16, "attach_msr_reply");

/* ---- HYPERCALL --------------------------------------------------------- */

struct attach_hypercall_req {
	uint32_t vcpu;
	uint32_t reserved;
	uint64_t control; /* RCX: call code 15:0, fast bit 16, rep fields */
	uint64_t input;   /* RDX: input GPA (slow) or input qword 0 (fast) */
	uint64_t output;  /* R8: output GPA (slow) or input qword 1 (fast) */
} __attribute__((packed));
_Static_assert(sizeof(struct attach_hypercall_req) == 32, "attach_hypercall_req");

/*
 * If flags has ATTACH_HC_SIGNAL_FD, the reply carries one eventfd: from now
 * on the frontend may turn a fast HvSignalEvent (call code 0x5D, fast bit
 * set, flag number 0) for connection id `conn_id` into a write of 1 to that
 * eventfd and return HV_STATUS_SUCCESS without a round trip.  The fd stays
 * valid until RESET or detach.
 */
#define ATTACH_HC_SIGNAL_FD 0x1u

struct attach_hypercall_reply {
	uint64_t result;  /* RAX */
	uint32_t flags;   /* ATTACH_HC_* */
	uint32_t conn_id; /* connection id the attached eventfd serves */
} __attribute__((packed));
_Static_assert(sizeof(struct attach_hypercall_reply) == 16, "attach_hypercall_reply");

/* ---- CLOCK (v2) -------------------------------------------------------- */

/*
 * "At host CLOCK_MONOTONIC time host_ns, the guest's TSC read guest_tsc"
 * (all vCPUs share one TSC).  With attach_req.tsc_hz this lets the daemon
 * write a reference TSC page that maps the guest TSC onto its reference
 * counter.  The frontend sends it whenever that relation changes: when the
 * guest starts running (QEMU: the VM enters the running state; its TSC does
 * not count while stopped) and after a RESET.  Reply: attach_status_reply.
 */
struct attach_clock_req {
	uint64_t guest_tsc; /* the guest's RDTSC value */
	uint64_t host_ns;   /* clock_gettime(CLOCK_MONOTONIC) on the host, ns */
} __attribute__((packed));
_Static_assert(sizeof(struct attach_clock_req) == 16, "attach_clock_req");

/* ---- RESET / DETACH: empty request; the reply is an int32 status ------- */

struct attach_status_reply {
	int32_t status;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct attach_status_reply) == 8, "attach_status_reply");

#endif /* VMBUSD_PROTO_ATTACH_H */
