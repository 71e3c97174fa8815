/* SPDX-License-Identifier: MIT */
/*
 * The synthetic guest's "CPU": Hyper-V detection from the CPUID table, the
 * MSR sequence Linux 6.1 runs at boot and at hv_vmbus load (facts §1.4,
 * §1.5), and interrupt handling like sysvec_hyperv_callback -> vmbus_isr
 * (facts §3.2, §3.4).
 */
#include "guest/guest.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define KVM_SIG_EBX 0x4b4d564bu /* "KVMK" */
#define KVM_SIG_ECX 0x564b4d56u /* "VMKV" */
#define KVM_SIG_EDX 0x0000004du /* "M\0\0\0" */

int guest_cpu_check_cpuid(struct guest *g)
{
	uint32_t eax, ebx, ecx, edx;

	/* kvm_detect() would win over ms_hyperv_platform() if any KVM
	 * signature leaf exists in the range (facts §1.1). */
	for (uint32_t base = 0x40000000u; base < 0x40000100u; base += 0x100u) {
		guest_attach_cpuid(&g->att, base, &eax, &ebx, &ecx, &edx);
		if (ebx == KVM_SIG_EBX && ecx == KVM_SIG_ECX && edx == KVM_SIG_EDX) {
			guest_error(g, "cpuid", "KVM signature at %#x: Linux would pick KVM", base);
			return -ENODEV;
		}
	}
	guest_attach_cpuid(&g->att, HV_CPUID_VENDOR_AND_MAX, &eax, &ebx, &ecx, &edx);
	if (ebx != HV_CPUID_SIGNATURE_EBX || ecx != HV_CPUID_SIGNATURE_ECX ||
	    edx != HV_CPUID_SIGNATURE_EDX) {
		guest_error(g, "cpuid", "no \"Microsoft Hv\" signature at 0x40000000");
		return -ENODEV;
	}
	if (eax < 0x40000005u || eax > 0x4000FFFFu) {
		guest_error(g, "cpuid", "max leaf %#x outside [0x40000005, 0x4000FFFF]", eax);
		return -ENODEV;
	}
	guest_attach_cpuid(&g->att, HV_CPUID_FEATURES, &eax, &ebx, &ecx, &edx);
	if ((eax & (HV_FEAT_HYPERCALL | HV_FEAT_VP_INDEX)) != (HV_FEAT_HYPERCALL | HV_FEAT_VP_INDEX)) {
		guest_error(g, "cpuid", "0x40000003.EAX=%#x lacks HYPERCALL and VP_INDEX", eax);
		return -ENODEV;
	}
	if (ebx & (1u << 12))
		guest_error(g, "cpuid", "CPU_MANAGEMENT set: Linux would think it is the root partition");
	if (ebx & (1u << 1))
		log_warn("cpuid: ACCESS_PARTITION_ID set: Linux would issue HvGetPartitionId");
	guest_attach_cpuid(&g->att, HV_CPUID_ENLIGHTENMENT, &eax, &ebx, &ecx, &edx);
	g->hints = eax;
	if (!(g->hints & HV_HINT_DEPRECATE_AEOI))
		log_warn("cpuid: hint bit 9 clear: Linux would request auto-EOI for SINT2");
	return 0;
}

static int cpu_msr_fail(struct guest *g, uint32_t vcpu, uint32_t msr, const char *op, int ret)
{
	if (ret == -EPERM)
		guest_error(g, "msr", "vCPU %u: %s of MSR %#x raised #GP", vcpu, op, msr);
	else
		guest_error(g, "msr", "vCPU %u: %s of MSR %#x failed: %s", vcpu, op, msr, strerror(-ret));
	return ret == -EPERM ? -EIO : ret;
}

static int cpu_rdmsr(struct guest *g, uint32_t vcpu, uint32_t msr, uint64_t *v)
{
	int ret = guest_attach_msr_read(&g->att, vcpu, msr, v);

	return ret ? cpu_msr_fail(g, vcpu, msr, "read", ret) : 0;
}

static int cpu_wrmsr(struct guest *g, uint32_t vcpu, uint32_t msr, uint64_t v)
{
	int ret = guest_attach_msr_write(&g->att, vcpu, msr, v);

	return ret ? cpu_msr_fail(g, vcpu, msr, "write", ret) : 0;
}

int guest_cpu_boot(struct guest *g, uint32_t vcpu)
{
	struct guest_cpu *c = &g->cpu[vcpu];
	uint64_t v;
	int ret;

	/* hv_cpu_init: VP index first, then the VP assist page. */
	ret = cpu_rdmsr(g, vcpu, HV_MSR_VP_INDEX, &v);
	if (ret)
		return ret;
	c->vp_index = (uint32_t)v;
	if (v != vcpu)
		log_warn("vCPU %u reports VP index %llu", vcpu, (unsigned long long)v);
	c->vp_assist_gpa = guest_mem_alloc(&g->mem, 1);
	if (!c->vp_assist_gpa)
		return -ENOMEM;
	ret = cpu_wrmsr(g, vcpu, HV_MSR_VP_ASSIST_PAGE, c->vp_assist_gpa | HV_MSR_ENABLE);
	if (ret)
		return ret;
	if (vcpu != 0)
		return 0;

	/* hyperv_init on the BSP: guest id, then the hypercall page. */
	ret = cpu_wrmsr(g, 0, HV_MSR_GUEST_OS_ID, GUEST_OS_ID_LINUX_6_1);
	if (ret)
		return ret;
	g->hypercall_gpa = guest_mem_alloc(&g->mem, 1);
	if (!g->hypercall_gpa)
		return -ENOMEM;
	ret = cpu_rdmsr(g, 0, HV_MSR_HYPERCALL, &v);
	if (ret)
		return ret;
	v = (v & 0xFFEull) | g->hypercall_gpa | HV_MSR_ENABLE;
	ret = cpu_wrmsr(g, 0, HV_MSR_HYPERCALL, v);
	if (ret)
		return ret;
	if (!g->att.hypercall_page_seen || g->att.hypercall_page_gpa != g->hypercall_gpa)
		guest_error(g, "hypercall_page",
			    "enabling the hypercall page at %#llx gave no HYPERCALL_PAGE action for it",
			    (unsigned long long)g->hypercall_gpa);
	/* hv_is_hyperv_initialized(), run by hv_vmbus: bit 0 must read back. */
	ret = cpu_rdmsr(g, 0, HV_MSR_HYPERCALL, &v);
	if (ret)
		return ret;
	if (!(v & HV_MSR_ENABLE)) {
		guest_error(g, "hypercall_page", "HYPERCALL MSR reads back %#llx without bit 0: "
			    "hv_vmbus would fail with -ENODEV", (unsigned long long)v);
		return -ENODEV;
	}
	return 0;
}

int guest_cpu_synic_init(struct guest *g, uint32_t vcpu)
{
	struct guest_cpu *c = &g->cpu[vcpu];
	uint64_t v;
	int ret;

	c->simp_gpa = guest_mem_alloc(&g->mem, 1);
	c->siefp_gpa = guest_mem_alloc(&g->mem, 1);
	c->post_page_gpa = guest_mem_alloc(&g->mem, 1);
	if (!c->simp_gpa || !c->siefp_gpa || !c->post_page_gpa)
		return -ENOMEM;
	c->simp = guest_mem_ptr(&g->mem, c->simp_gpa, HV_PAGE_SIZE);
	c->sief = guest_mem_ptr(&g->mem, c->siefp_gpa, HV_PAGE_SIZE);

	/* hv_synic_enable_regs: each register is read, modified, written. */
	ret = cpu_rdmsr(g, vcpu, HV_MSR_SIMP, &v);
	if (!ret)
		ret = cpu_wrmsr(g, vcpu, HV_MSR_SIMP, (v & 0xFFEull) | c->simp_gpa | HV_MSR_ENABLE);
	if (!ret)
		ret = cpu_rdmsr(g, vcpu, HV_MSR_SIEFP, &v);
	if (!ret)
		ret = cpu_wrmsr(g, vcpu, HV_MSR_SIEFP, (v & 0xFFEull) | c->siefp_gpa | HV_MSR_ENABLE);
	if (!ret)
		ret = cpu_rdmsr(g, vcpu, HV_MSR_SINT0 + VMBUS_MESSAGE_SINT, &v);
	if (ret)
		return ret;
	v &= ~(HV_SINT_VECTOR_MASK | HV_SINT_MASKED | HV_SINT_AUTO_EOI);
	v |= HV_CALLBACK_VECTOR;
	if (!(g->hints & HV_HINT_DEPRECATE_AEOI))
		v |= HV_SINT_AUTO_EOI; /* auto_eoi = hv_recommend_using_aeoi() */
	c->sint_vector = HV_CALLBACK_VECTOR;
	ret = cpu_wrmsr(g, vcpu, HV_MSR_SINT0 + VMBUS_MESSAGE_SINT, v);
	if (!ret)
		ret = cpu_rdmsr(g, vcpu, HV_MSR_SCONTROL, &v);
	if (!ret)
		ret = cpu_wrmsr(g, vcpu, HV_MSR_SCONTROL, v | HV_MSR_ENABLE);
	if (ret)
		return ret;
	c->synic_ready = true;
	return 0;
}

static void cpu_queue_message(struct guest *g, const struct hv_message *m)
{
	if (g->msgq_count == GUEST_MSGQ_LEN) {
		guest_error(g, "synic", "message queue full: message dropped");
		return;
	}
	g->msgq[(g->msgq_head + g->msgq_count) % GUEST_MSGQ_LEN] = *m;
	g->msgq_count++;
}

bool guest_cpu_pop_message(struct guest *g, struct hv_message *out)
{
	if (!g->msgq_count)
		return false;
	*out = g->msgq[g->msgq_head];
	g->msgq_head = (g->msgq_head + 1) % GUEST_MSGQ_LEN;
	g->msgq_count--;
	return true;
}

/* vmbus_isr for one vCPU: its SIEF SINT2 area, then its SIMP slot 2. */
static void cpu_isr(struct guest *g, uint32_t vcpu)
{
	struct guest_cpu *c = &g->cpu[vcpu];
	uint8_t *flags = c->sief->sint_flags[VMBUS_MESSAGE_SINT];
	uint8_t *slot = (uint8_t *)(void *)c->simp + VMBUS_MESSAGE_SINT * sizeof(struct hv_message);
	_Atomic uint32_t *type_p = (_Atomic uint32_t *)(void *)(slot +
			offsetof(struct hv_message_header, message_type));
	_Atomic uint8_t *mflags_p = (_Atomic uint8_t *)(void *)(slot +
			offsetof(struct hv_message_header, message_flags));
	uint32_t type;

	c->irqs++;
	/* 1. Channel events: test-and-clear each set bit; relid 0 is skipped
	 * (and left set), as Linux does. */
	for (unsigned int w = 0; w < HV_EVENT_FLAGS_BYTES / 8; w++) {
		_Atomic uint64_t *p = (_Atomic uint64_t *)(void *)(flags + w * 8);
		uint64_t v = atomic_load_explicit(p, memory_order_relaxed);

		while (v) {
			unsigned int bit = (unsigned int)__builtin_ctzll(v);
			uint64_t mask = 1ull << bit;
			uint32_t relid = w * 64u + bit;

			v &= v - 1;
			if (relid == 0)
				continue;
			/* acq_rel: the clear is ordered before we look at the
			 * ring (pairs with the host's release set of the bit). */
			if (!(atomic_fetch_and_explicit(p, ~mask, memory_order_acq_rel) & mask))
				continue;
			guest_vmbus_channel_event(g, relid, vcpu);
		}
	}

	/* 2. The message slot (facts §3.4).  The host writes message_type
	 * last with release; acquire here makes the payload visible. */
	type = atomic_load_explicit(type_p, memory_order_acquire);
	if (type != HVMSG_NONE) {
		struct hv_message copy;
		uint32_t expected = type;

		memcpy(&copy, slot, sizeof(copy));
		copy.header.message_type = type;
		/* cmpxchg then read msg_pending from the slot, not the copy:
		 * the host may set it while we copy. */
		if (atomic_compare_exchange_strong(type_p, &expected, HVMSG_NONE)) {
			if (atomic_load(mflags_p) & HV_MSG_FLAG_PENDING) {
				c->eoms++;
				if (guest_attach_msr_write(&g->att, vcpu, HV_MSR_EOM, 0) < 0 && !g->att.dead)
					guest_error(g, "synic", "EOM write failed on vCPU %u", vcpu);
			}
		}
		c->messages++;
		if (copy.header.payload_size > HV_MESSAGE_PAYLOAD_MAX) {
			guest_error(g, "synic", "message with payload_size %u > 240 dropped (Linux WARNs)",
				    copy.header.payload_size);
			return;
		}
		cpu_queue_message(g, &copy);
	}
}

/* The pending-vector area is the source of truth: exchange every word. */
static void cpu_take_vectors(struct guest *g, uint32_t vcpu)
{
	uint8_t *slot = (uint8_t *)(void *)g->att.irq_area + vcpu * sizeof(struct attach_irq_slot);

	for (unsigned int w = 0; w < 4; w++) {
		_Atomic uint64_t *p = (_Atomic uint64_t *)(void *)(slot + w * sizeof(uint64_t));
		/* acquire pairs with the daemon's release fetch-or. */
		uint64_t v = atomic_exchange_explicit(p, 0, memory_order_acquire);

		while (v) {
			unsigned int vector = w * 64u + (unsigned int)__builtin_ctzll(v);

			v &= v - 1;
			if (g->cpu[vcpu].synic_ready && vector == g->cpu[vcpu].sint_vector)
				cpu_isr(g, vcpu);
			else
				g->cpu[vcpu].spurious++;
		}
	}
}

int guest_cpu_poll(struct guest *g, int timeout_ms)
{
	struct pollfd p[ATTACH_MAX_VCPUS + 1];
	uint32_t n = g->att.n_vcpus;
	int ret;

	if (g->att.dead)
		return -ECONNRESET;
	for (uint32_t i = 0; i < n; i++) {
		p[i].fd = g->att.irq_fd[i];
		p[i].events = POLLIN;
		p[i].revents = 0;
	}
	/* About to wait: what a halting vCPU does (attach.h, the idle watch). */
	if (timeout_ms != 0)
		guest_attach_idle(&g->att, 0);
	/* The daemon never writes unsolicited: readable/HUP means gone. */
	p[n].fd = g->att.sock;
	p[n].events = POLLIN | POLLRDHUP;
	p[n].revents = 0;
	ret = poll(p, n + 1, timeout_ms);
	if (ret < 0)
		return errno == EINTR ? -EINTR : -errno;
	if (p[n].revents) {
		guest_attach_check_alive(&g->att);
		if (g->att.dead)
			return -ECONNRESET;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t cnt;

		if (!(p[i].revents & POLLIN))
			continue;
		/* Drain the counter; coalesced kicks lose nothing because the
		 * bitmap holds the vectors. */
		if (read(p[i].fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
			return -errno;
		cpu_take_vectors(g, i);
	}
	return 0;
}
