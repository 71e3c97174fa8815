/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the synthetic MSRs (src/hv/msr.c) with sequences of RDMSR/WRMSR
 * on four vCPUs over 0x40000000..0x400001FF and a little either side,
 * interleaved with what the SynIC does in between (the host posting a
 * message, the guest freeing a slot, an event, a partition reset), since
 * SINT/SIMP/SCONTROL/EOM writes are what pump queued messages into guest
 * pages.  Page MSRs get GPAs inside RAM, at its end, in a hole between two
 * regions, in the second region and past the address space (fuzz_util.h).
 *
 * Each access is checked against a small model of the registers written
 * from the TLFS rules msr.c cites (what must #GP, what reads back, which
 * write asks the frontend to place the hypercall page), so the target
 * finds wrong answers as well as crashes.
 *
 * Input: byte 0 bit 0 runs Linux's start-up sequence first (hv_vmbus's
 * hv_init + hv_synic_enable_regs on every CPU), so the fuzzer starts from
 * a live SynIC.  Then records of 11 bytes: [op u8][msr u16][value u64].
 *   op bits 1:0  0 RDMSR, 1 WRMSR, 2 WRMSR with a GPA picked by fz_gpa()
 *                in bits 63:12, 3 a SynIC event (bits 7:5 pick it)
 *   op bits 3:2  the vCPU; bit 4 makes it one the partition does not have
 *   msr          0x40000000 - 8 + msr % 0x210
 */
#include <errno.h>

#include "core/log.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/vmbus_harness.h"

#define FZ_VCPUS 4u
#define FZ_SINT_VALID (HV_SINT_VECTOR_MASK | HV_SINT_MASKED | HV_SINT_AUTO_EOI | HV_SINT_POLLING)

static struct th fz;
static bool fz_ready;

/* What the registers must read back, per TLFS; reset with the partition. */
static struct {
	uint64_t guest_os_id, hypercall, tsc_ctl;
	struct {
		uint64_t scontrol, simp, siefp, assist, sint[HV_SINT_COUNT];
	} vp[FZ_VCPUS];
} model;

static void model_reset(void)
{
	memset(&model, 0, sizeof(model));
	for (uint32_t v = 0; v < FZ_VCPUS; v++)
		for (uint32_t s = 0; s < HV_SINT_COUNT; s++)
			model.vp[v].sint[s] = HV_SINT_MASKED;
}

static bool in_ram(uint64_t gpa)
{
	return gpa < FZ_RAM1_END || (gpa >= FZ_RAM2 && gpa < FZ_RAM2 + FZ_RAM2_SIZE);
}

static bool page_is_zero(uint64_t gpa)
{
	const uint8_t *p = th_ptr(&fz, gpa, 4096);

	for (size_t i = 0; i < 4096; i++)
		if (p[i])
			return false;
	return true;
}

static void do_read(uint32_t vp, uint32_t msr)
{
	uint64_t v = 0xDEADBEEF;
	int ret = hv_msr_read(fz.hv, vp, msr, &v);
	bool in_range = msr >= HV_MSR_RANGE_FIRST && msr <= HV_MSR_RANGE_LAST;

	if (!in_range || vp >= FZ_VCPUS) {
		CHECK(ret == -EPERM && v == 0);
		return;
	}
	if (msr >= HV_MSR_SINT0 && msr <= HV_MSR_SINT15) {
		CHECK(ret == 0 && v == model.vp[vp].sint[msr - HV_MSR_SINT0]);
		return;
	}
	switch (msr) {
	case HV_MSR_TSC_FREQUENCY:
	case HV_MSR_APIC_FREQUENCY:
		/* Not advertised (tsc_hz 0): #GP, as Hyper-V without the bit. */
		CHECK(ret == -EPERM && v == 0);
		return;
	case HV_MSR_TIME_REF_COUNT:
		CHECK(ret == 0);
		return;
	}
	CHECK(ret == 0);
	switch (msr) {
	case HV_MSR_GUEST_OS_ID: CHECK(v == model.guest_os_id); break;
	case HV_MSR_HYPERCALL: CHECK(v == model.hypercall); break;
	case HV_MSR_VP_INDEX: CHECK(v == vp); break;
	case HV_MSR_VP_ASSIST_PAGE: CHECK(v == model.vp[vp].assist); break;
	case HV_MSR_SCONTROL: CHECK(v == model.vp[vp].scontrol); break;
	case HV_MSR_SVERSION: CHECK(v == 1); break;
	case HV_MSR_SIEFP: CHECK(v == model.vp[vp].siefp); break;
	case HV_MSR_SIMP: CHECK(v == model.vp[vp].simp); break;
	case HV_MSR_TSC_INVARIANT_CTL: CHECK(v == model.tsc_ctl); break;
	default: CHECK(v == 0); break; /* unimplemented reads 0 (facts §11) */
	}
}

/* SIMP/SIEFP: #GP for an enabled page outside RAM; a newly enabled page
 * is zeroed (msr.c); bits 11:1 are dropped. */
static void write_page_msr(uint32_t msr, uint64_t *shadow, uint64_t value, int ret)
{
	uint64_t gpa = value & HV_MSR_PAGE_MASK;
	bool same = (*shadow & HV_MSR_ENABLE) && (*shadow & HV_MSR_PAGE_MASK) == gpa;

	if ((value & HV_MSR_ENABLE) && !in_ram(gpa)) {
		CHECK(ret == -EPERM);
		return;
	}
	CHECK(ret == 0);
	*shadow = value & (HV_MSR_PAGE_MASK | HV_MSR_ENABLE);
	/* A SIMP write pumps queued messages into the fresh page; an SIEF
	 * page is only written by events, so it must read all zeros. */
	if ((value & HV_MSR_ENABLE) && !same && msr == HV_MSR_SIEFP)
		CHECK(page_is_zero(gpa));
}

static void do_write(uint32_t vp, uint32_t msr, uint64_t value)
{
	uint32_t action = 0xFFFF;
	uint64_t arg = 0xFFFF;
	bool in_range = msr >= HV_MSR_RANGE_FIRST && msr <= HV_MSR_RANGE_LAST;
	int ret = hv_msr_write(fz.hv, vp, msr, value, &action, &arg);

	/* Only an accepted HYPERCALL write may ask the frontend for anything. */
	if (msr != HV_MSR_HYPERCALL || ret != 0)
		CHECK(action == ATTACH_ACTION_NONE && arg == 0);
	if (!in_range || vp >= FZ_VCPUS) {
		CHECK(ret == -EPERM);
		return;
	}
	if (msr >= HV_MSR_SINT0 && msr <= HV_MSR_SINT15) {
		/* An unmasked SINT may not use an exception vector (TLFS 11.8.4). */
		if (!(value & HV_SINT_MASKED) && (value & HV_SINT_VECTOR_MASK) < 16) {
			CHECK(ret == -EPERM);
		} else {
			CHECK(ret == 0);
			model.vp[vp].sint[msr - HV_MSR_SINT0] = value & FZ_SINT_VALID;
		}
		return;
	}
	switch (msr) {
	case HV_MSR_GUEST_OS_ID:
		CHECK(ret == 0);
		model.guest_os_id = value;
		if (value == 0)
			model.hypercall &= ~HV_MSR_ENABLE;
		break;
	case HV_MSR_HYPERCALL:
		/* TLFS 3.13: ignored before GUEST_OS_ID and once locked; an
		 * enabled page must be RAM, and is then handed to the frontend. */
		if (model.guest_os_id == 0 || (model.hypercall & 2)) {
			CHECK(ret == 0 && action == ATTACH_ACTION_NONE);
		} else if ((value & HV_MSR_ENABLE) && !in_ram(value & HV_MSR_PAGE_MASK)) {
			CHECK(ret == -EPERM);
		} else {
			CHECK(ret == 0);
			if (value & HV_MSR_ENABLE)
				CHECK(action == ATTACH_ACTION_HYPERCALL_PAGE &&
				      arg == (value & HV_MSR_PAGE_MASK));
			else
				CHECK(action == ATTACH_ACTION_NONE);
			model.hypercall = value & (HV_MSR_PAGE_MASK | 3);
		}
		break;
	case HV_MSR_VP_INDEX:
	case HV_MSR_TIME_REF_COUNT:
	case HV_MSR_TSC_FREQUENCY:
	case HV_MSR_APIC_FREQUENCY:
	case HV_MSR_SVERSION:
		CHECK(ret == -EPERM); /* read-only */
		break;
	case HV_MSR_VP_ASSIST_PAGE:
		CHECK(ret == 0);
		model.vp[vp].assist = value;
		break;
	case HV_MSR_SCONTROL:
		CHECK(ret == 0);
		model.vp[vp].scontrol = value & HV_MSR_ENABLE;
		break;
	case HV_MSR_SIEFP:
		write_page_msr(msr, &model.vp[vp].siefp, value, ret);
		break;
	case HV_MSR_SIMP:
		write_page_msr(msr, &model.vp[vp].simp, value, ret);
		break;
	case HV_MSR_TSC_INVARIANT_CTL:
		CHECK(ret == 0);
		model.tsc_ctl = value;
		break;
	default:
		CHECK(ret == 0); /* in range, unimplemented: ignored */
		break;
	}
}

/* A slot of VP's SIM page, or NULL when the SIMP is off or outside RAM. */
static uint8_t *sim_slot(uint32_t vp, uint32_t sint)
{
	if (!(model.vp[vp].simp & HV_MSR_ENABLE))
		return NULL;
	return th_ptr(&fz, (model.vp[vp].simp & HV_MSR_PAGE_MASK) + sint * 256ull, 256);
}

static void do_event(uint32_t sub, uint32_t vp, uint32_t sel, uint64_t value)
{
	uint32_t sint = sel & 15;
	uint8_t payload[HV_MESSAGE_PAYLOAD_MAX + 8];
	uint8_t *slot;
	int ret;

	vp %= FZ_VCPUS;
	switch (sub) {
	case 0:
	case 1: {
		/* The host posts; refused only for the reasons synic.h gives. */
		uint32_t size = (uint32_t)(value & 0xFF);
		uint32_t before = synic_queued(fz.hv, vp, sint);
		bool on = (model.vp[vp].scontrol & 1) && (model.vp[vp].simp & 1);

		memset(payload, (int)value, sizeof(payload));
		ret = synic_post_message(fz.hv, vp, sint, HVMSG_VMBUS, payload, size);
		if (size > HV_MESSAGE_PAYLOAD_MAX)
			CHECK(ret == -EINVAL);
		else if (!on)
			CHECK(ret == -ENODEV);
		else
			CHECK(ret == 0 || ret == -ENOSPC);
		CHECK(synic_queued(fz.hv, vp, sint) <= before + 1);
		break;
	}
	case 2:
	case 3:
		/* The guest takes the message as vmbus_signal_eom() does. */
		slot = sim_slot(vp, sint);
		if (slot && __atomic_exchange_n((uint32_t *)(void *)slot, 0, __ATOMIC_SEQ_CST) &&
		    (slot[5] & HV_MSG_FLAG_PENDING))
			CHECK(hv_msr_write(fz.hv, vp, HV_MSR_EOM, 0, NULL, NULL) == 0);
		break;
	case 4:
		ret = synic_signal_event(fz.hv, vp, sint, (uint32_t)(value % 2100));
		CHECK(ret == 0 || ret == -ENODEV || ret == -EINVAL);
		if (ret == 0)
			CHECK((model.vp[vp].scontrol & 1) && (model.vp[vp].siefp & 1));
		break;
	case 5:
		hv_partition_reset(fz.hv);
		model_reset();
		break;
	default:
		/* The guest scribbles over a SIM slot's header (flags, size). */
		slot = sim_slot(vp, sint);
		if (slot)
			memcpy(slot + 4, &value, 4);
		break;
	}
}

/* hv_vmbus on every CPU: hv_init (guest id, hypercall page), then
 * hv_synic_enable_regs (SIMP, SIEFP, SINT2 = 0xF3, SCONTROL). */
static void linux_start(void)
{
	do_write(0, HV_MSR_GUEST_OS_ID, 0x8100000000060100ull);
	do_write(0, HV_MSR_HYPERCALL, 0x7000 | 1);
	for (uint32_t vp = 0; vp < FZ_VCPUS; vp++) {
		do_read(vp, HV_MSR_VP_INDEX);
		do_write(vp, HV_MSR_SIMP, TH_SIMP(vp) | 1);
		do_write(vp, HV_MSR_SIEFP, TH_SIEF(vp) | 1);
		do_write(vp, HV_MSR_SINT0 + VMBUS_MESSAGE_SINT, HV_CALLBACK_VECTOR);
		do_write(vp, HV_MSR_SCONTROL, 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size, 0 };

	if (!fz_ready) {
		log_set_level(LOG_ERROR);
		if (th_init(&fz, FZ_VCPUS, 0) != 0 || fz_add_ram2(&fz.mem) != 0)
			return 0;
		/* No channel server: the SynIC's only users here are us. */
		vmbus_server_free(fz.srv);
		fz.srv = NULL;
		fz_ready = true;
	}
	if (size < 1)
		return 0;
	hv_partition_reset(fz.hv);
	model_reset();
	if (fz_u8(&in) & 1)
		linux_start();
	while (fz_more(&in)) {
		uint8_t op = fz_u8(&in);
		uint32_t msr = HV_MSR_RANGE_FIRST - 8 + fz_u16(&in) % 0x210;
		uint64_t value = fz_u64(&in);
		uint32_t vp = (op >> 2) & 3;

		if (op & 0x10)
			vp = (op & 0x80) ? UINT32_MAX : FZ_VCPUS + ((op >> 5) & 3);
		switch (op & 3) {
		case 0:
			do_read(vp, msr);
			break;
		case 1:
			do_write(vp, msr, value);
			break;
		case 2:
			do_write(vp, msr, (fz_gpa(value) & HV_MSR_PAGE_MASK) | (value & 0xFFF));
			break;
		default:
			do_event(op >> 5, (op >> 2) & 3, msr, value);
			break;
		}
	}
	/* Queued messages are freed by the next reset: nothing to leak. */
	return 0;
}
