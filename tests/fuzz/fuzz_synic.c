/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the host side of the SynIC (src/hv/synic.c) against a guest that
 * owns its SIM and SIEF pages: the host posts messages and signals events
 * on four vCPUs and all sixteen SINTs while the guest takes messages as
 * Linux does (copy, free the slot, EOM when msg_pending), frees them
 * without the EOM, EOMs for nothing, rewrites slot headers and payloads
 * and event-flag words with arbitrary values, reprograms SINTs (masked,
 * polling, vectors), turns SCONTROL off and on, moves its pages, and
 * resets the partition.
 *
 * Checked: nothing is read or written outside the pages (ASan); an event
 * leaves its flag set and raises the SINT's vector exactly when the flag
 * was clear and the SINT is neither masked nor polling; a post that lands
 * in the slot raises the vector under the same rule; the queue never
 * grows past one message per post.  And while the guest plays by the
 * rules on a vCPU (no scribbling, no page moves, no reset), every message
 * the host posted there arrives, exactly once and in order, by the end,
 * with the guest EOMing only when msg_pending asks it to (unless it once
 * skipped such an EOM: then the end sends EOMs regardless).
 *
 * Input: records of 8 bytes [op u8][x u8][y u16][z u32]; op bits 2:0 pick
 * the action, bits 4:3 the vCPU; x bits 3:0 the SINT.
 */
#include <errno.h>

#include "core/log.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/vmbus_harness.h"

#define FZ_VCPUS 4u
#define FZ_MAGIC 0x5A5A1C0Du

static struct th fz;
static bool fz_ready;

static struct {
	uint64_t simp, siefp, sint[HV_SINT_COUNT];
	bool scontrol;
	bool dirty;                          /* the guest broke the rules here */
	bool forgot_eom;                     /* ... by not EOMing a msg_pending */
	uint32_t sent[HV_SINT_COUNT];        /* messages accepted by post */
	uint32_t got[HV_SINT_COUNT];         /* messages taken by the guest */
} vps[FZ_VCPUS];

/* Linux's hv_synic_enable_regs(), and the model of it. */
static void vp_enable(uint32_t vp)
{
	th_synic_enable(&fz, vp);
	memset(&vps[vp], 0, sizeof(vps[vp]));
	vps[vp].simp = TH_SIMP(vp) | 1;
	vps[vp].siefp = TH_SIEF(vp) | 1;
	for (uint32_t s = 0; s < HV_SINT_COUNT; s++)
		vps[vp].sint[s] = HV_SINT_MASKED;
	vps[vp].sint[VMBUS_MESSAGE_SINT] = HV_CALLBACK_VECTOR;
	vps[vp].scontrol = true;
}

static void reset_all(void)
{
	hv_partition_reset(fz.hv);
	for (uint32_t vp = 0; vp < FZ_VCPUS; vp++)
		vp_enable(vp);
}

static bool sint_interrupts(uint32_t vp, uint32_t sint)
{
	return !(vps[vp].sint[sint] & (HV_SINT_MASKED | HV_SINT_POLLING));
}

static uint8_t *slot_of(uint32_t vp, uint32_t sint)
{
	return th_ptr(&fz, (vps[vp].simp & HV_MSR_PAGE_MASK) + sint * 256ull, 256);
}

static uint64_t *flags_word(uint32_t vp, uint32_t sint, uint32_t word)
{
	return th_ptr(&fz, (vps[vp].siefp & HV_MSR_PAGE_MASK) + sint * 256ull + word * 8ull, 8);
}

static void post(uint32_t vp, uint32_t sint, uint8_t x, uint16_t y, uint32_t z)
{
	uint8_t payload[HV_MESSAGE_PAYLOAD_MAX + 16];
	uint32_t size = y % 256, type = (x & 0x80) ? z : HVMSG_VMBUS;
	uint32_t seq = vps[vp].sent[sint], before = synic_queued(fz.hv, vp, sint);
	uint64_t irqs = fz.irqs[vp];
	uint64_t delivered = hv_partition_stats(fz.hv)->synic_delivered;
	int ret;

	memset(payload, (int)z, sizeof(payload));
	memcpy(payload, &(uint32_t){ FZ_MAGIC }, 4);
	memcpy(payload + 4, &seq, 4);
	ret = synic_post_message(fz.hv, vp, sint, type, payload, size);
	if (size > HV_MESSAGE_PAYLOAD_MAX || type == HVMSG_NONE) {
		CHECK(ret == -EINVAL);
	} else if (!vps[vp].scontrol || !(vps[vp].simp & 1)) {
		CHECK(ret == -ENODEV);
	} else {
		CHECK(ret == 0 || ret == -ENOSPC);
		if (ret == 0 && size >= 8 && type == HVMSG_VMBUS)
			vps[vp].sent[sint]++;
		else if (ret == 0)
			vps[vp].dirty = true; /* a message the order check cannot name */
	}
	CHECK(synic_queued(fz.hv, vp, sint) <= before + 1);
	delivered = hv_partition_stats(fz.hv)->synic_delivered - delivered;
	CHECK(delivered <= 1);
	CHECK(fz.irqs[vp] - irqs == (sint_interrupts(vp, sint) ? delivered : 0));
}

/* vmbus_on_msg_dpc + vmbus_signal_eom: copy, free the slot (a full
 * barrier, the guest's cmpxchg), EOM if msg_pending; `eom` 0 forgets the
 * EOM, 2 sends one regardless. */
static void take(uint32_t vp, uint32_t sint, int eom)
{
	uint8_t *slot = slot_of(vp, sint), copy[256];
	uint32_t *type = (uint32_t *)(void *)slot, t, magic, seq;

	if (!(vps[vp].simp & 1))
		return;
	t = __atomic_load_n(type, __ATOMIC_ACQUIRE);
	if (t != HVMSG_NONE) {
		memcpy(copy, slot, sizeof(copy));
		memcpy(&magic, copy + 16, 4);
		memcpy(&seq, copy + 20, 4);
		if (!vps[vp].dirty) {
			/* Exactly the next message, whole, with its header. */
			CHECK(t == HVMSG_VMBUS && copy[4] >= 8 && copy[4] <= HV_MESSAGE_PAYLOAD_MAX);
			CHECK(magic == FZ_MAGIC && seq == vps[vp].got[sint]);
		}
		vps[vp].got[sint]++;
		__atomic_store_n(type, HVMSG_NONE, __ATOMIC_SEQ_CST);
	}
	if (eom == 2 || (eom == 1 && t != HVMSG_NONE && (slot[5] & HV_MSG_FLAG_PENDING)))
		CHECK(hv_msr_write(fz.hv, vp, HV_MSR_EOM, 0, NULL, NULL) == 0);
	else if (t != HVMSG_NONE && (slot[5] & HV_MSG_FLAG_PENDING))
		vps[vp].forgot_eom = true;
}

static void signal_event(uint32_t vp, uint32_t sint, uint16_t y, uint8_t x)
{
	uint32_t flag = (x & 0x80) ? y : y % HV_EVENT_FLAGS_COUNT;
	uint64_t irqs = fz.irqs[vp], *w, old = 0;
	int ret;

	if (flag < HV_EVENT_FLAGS_COUNT && (vps[vp].siefp & 1))
		old = *flags_word(vp, sint, flag / 64);
	ret = synic_signal_event(fz.hv, vp, sint, flag);
	if (flag >= HV_EVENT_FLAGS_COUNT) {
		CHECK(ret == -EINVAL);
	} else if (!vps[vp].scontrol || !(vps[vp].siefp & 1)) {
		CHECK(ret == -ENODEV && fz.irqs[vp] == irqs);
	} else {
		CHECK(ret == 0);
		w = flags_word(vp, sint, flag / 64);
		CHECK(*w & (1ull << (flag % 64)));
		/* Only a 0 -> 1 transition needs the interrupt (synic.c). */
		CHECK(fz.irqs[vp] - irqs ==
		      (!(old & (1ull << (flag % 64))) && sint_interrupts(vp, sint) ? 1u : 0u));
	}
}

static void msr_op(uint32_t vp, uint32_t sint, uint8_t x, uint16_t y, uint32_t z)
{
	uint64_t v;

	switch ((x >> 4) & 7) {
	case 0:
	case 1:
		/* SINTx: vector, masked (bit 16), auto-EOI, polling (bit 18). */
		v = (z & 0xFF) | ((uint64_t)(y & 7) << 16);
		if (hv_msr_write(fz.hv, vp, HV_MSR_SINT0 + sint, v, NULL, NULL) == 0)
			vps[vp].sint[sint] = v;
		break;
	case 2:
		vps[vp].scontrol = z & 1;
		CHECK(hv_msr_write(fz.hv, vp, HV_MSR_SCONTROL, z & 1, NULL, NULL) == 0);
		break;
	case 3:
		CHECK(hv_msr_write(fz.hv, vp, HV_MSR_EOM, 0, NULL, NULL) == 0);
		break;
	case 4:
	case 5: {
		/* Move (or disable, or rewrite) a page: what was in the old
		 * SIM page is lost to this model, so the order check stops. */
		bool simp = (x >> 4) & 1;
		uint64_t gpa = 0x40000 + (uint64_t)(y % 24) * 0x1000;

		v = gpa | (z & 1);
		if (hv_msr_write(fz.hv, vp, simp ? HV_MSR_SIMP : HV_MSR_SIEFP, v, NULL, NULL) == 0) {
			if (simp)
				vps[vp].simp = v;
			else
				vps[vp].siefp = v;
		}
		vps[vp].dirty = true;
		break;
	}
	default:
		reset_all();
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size, 0 };

	if (!fz_ready) {
		log_set_level(LOG_ERROR);
		if (th_init(&fz, FZ_VCPUS, 0) != 0)
			return 0;
		vmbus_server_free(fz.srv);
		fz.srv = NULL;
		fz_ready = true;
	}
	reset_all();
	while (fz_more(&in)) {
		uint8_t op = fz_u8(&in), x = fz_u8(&in);
		uint16_t y = fz_u16(&in);
		uint32_t z = fz_u32(&in), vp = (op >> 3) & 3, sint = x & 15;
		uint8_t *slot;

		switch (op & 7) {
		case 0:
		case 1:
			post(vp, sint, x, y, z);
			break;
		case 2:
			take(vp, sint, (int)(y % 3));
			break;
		case 3:
			signal_event(vp, sint, y, x);
			break;
		case 4:
			/* The guest clears or sets event flags at will. */
			if (vps[vp].siefp & 1)
				*flags_word(vp, sint, y % 32) = (uint64_t)z << (x >> 6 << 4);
			break;
		case 5:
			/* The guest scribbles over a slot: type, size, flags, payload. */
			if (vps[vp].simp & 1) {
				slot = slot_of(vp, sint);
				memcpy(slot + (y % 64) * 4, &z, 4);
				vps[vp].dirty = true;
			}
			break;
		default:
			msr_op(vp, sint, x, y, z);
			break;
		}
	}
	/* The end of the run: a rule-abiding guest gets everything. */
	for (uint32_t vp = 0; vp < FZ_VCPUS; vp++) {
		if (!vps[vp].scontrol || !(vps[vp].simp & 1))
			continue;
		for (uint32_t s = 0; s < HV_SINT_COUNT; s++) {
			/* As Linux: EOM only when msg_pending says so, which
			 * must be enough unless the guest skipped one before
			 * (then an EOM for nothing is what unsticks it). */
			for (uint32_t i = 0; i <= vps[vp].sent[s] + 1; i++)
				take(vp, s, vps[vp].forgot_eom ? 2 : 1);
			if (!vps[vp].dirty) {
				CHECK(synic_queued(fz.hv, vp, s) == 0);
				CHECK(vps[vp].got[s] == vps[vp].sent[s]);
			}
		}
	}
	return 0;
}
