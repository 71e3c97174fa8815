/* SPDX-License-Identifier: MIT */
/*
 * SynIC, host side: message slots and event flags in guest pages (facts
 * §3; TLFS chapter 11).
 *
 * The guest's vCPUs run in another process (the frontend) at the same time
 * as this code, on the same SIM/SIEF pages.  The contract per slot:
 *
 *   host (here)                           guest (vmbus_signal_eom)
 *   ----------                            -------------------------
 *   D1 load-acquire type == NONE?         G1 copy the slot
 *   D2 write payload, size, flags         G2 cmpxchg(type, old, NONE)   [full barrier]
 *   D3 store-release type                 G3 if flags & msg_pending:
 *   D4 raise the SINT's vector                  wrmsr(EOM)
 *
 * D3 pairs with the guest's read of the type before it copies: whoever sees
 * a non-zero type sees the payload.  D1 pairs with G2: the slot is ours
 * only after the guest's store of NONE, and then the guest no longer reads
 * what we overwrite.
 *
 * A busy slot is the race that matters.  We set msg_pending in the occupant
 * (P1) and then look at its type again (P2); the guest frees the slot (G2)
 * and then reads msg_pending (G3).  P1 and G2 are both atomic read-modify-
 * writes, so they are totally ordered, and both sides use full barriers
 * between their store and their load (SEQ_CST here, LOCK-prefixed cmpxchg
 * there): either the guest sees msg_pending and sends an EOM, or P2 sees
 * the slot free and we deliver at once.  Both may happen; an EOM that finds
 * nothing to do is harmless.  (KVM avoids the race by delivering from the
 * vCPU thread; we cannot, facts §3.4.)
 *
 * Messages that wait are kept in a FIFO per (VP, SINT) and leave it in
 * order: a new message never overtakes a queued one.  A message delivered
 * from the queue while others still wait carries msg_pending itself, so the
 * guest EOMs again after freeing it.
 *
 * Event flags are one atomic fetch-or on a 64-bit word, the size Linux's
 * sync_test_and_clear_bit() uses on the same words; the interrupt is only
 * needed on a 0 -> 1 transition, because a set flag means the guest has not
 * scanned yet and will see this event too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/trace.h"
#include "hv/hv_internal.h"

#define HV_MSG_OFF_TYPE  0u
#define HV_MSG_OFF_SIZE  4u
#define HV_MSG_OFF_FLAGS 5u
#define HV_MSG_OFF_RSVD  6u
#define HV_MSG_OFF_SENDER 8u
#define HV_MSG_OFF_PAYLOAD 16u
#define HV_MSG_SLOT_SIZE ((uint32_t)sizeof(struct hv_message))

/* Host pointer to slot `sint` of the VP's SIM page, or NULL (page outside
 * RAM, or not enabled).  SIMP holds a page-aligned GPA and the regions are
 * page-aligned mappings, so the 4-byte type is naturally aligned. */
static uint8_t *synic_slot(struct hv_partition *hv, const struct hv_vp *v, uint32_t sint)
{
	uint64_t gpa = (v->simp & HV_MSR_PAGE_MASK) + (uint64_t)sint * HV_MSG_SLOT_SIZE;

	return gmem_translate(hv->mem, gpa, HV_MSG_SLOT_SIZE);
}

static bool synic_enabled(const struct hv_vp *v, uint64_t page_msr)
{
	return (v->scontrol & HV_MSR_ENABLE) && (page_msr & HV_MSR_ENABLE);
}

static void synic_raise(struct hv_partition *hv, uint32_t vp, uint32_t sint)
{
	uint64_t sint_msr = hv->vp[vp].sint[sint];

	/* A masked SINT keeps its messages and flags but is not interrupted;
	 * a polling SINT is read by the guest on its own schedule. */
	if (sint_msr & (HV_SINT_MASKED | HV_SINT_POLLING))
		return;
	hv->stats.irqs_raised++;
	trace_emit(VMBUS_TRACE_INTERRUPT, 0, vp, sint, sint_msr & HV_SINT_VECTOR_MASK, NULL, 0);
	if (hv->irq.raise)
		hv->irq.raise(hv->irq.opaque, vp, (uint8_t)(sint_msr & HV_SINT_VECTOR_MASK));
}

/* D1-D3 above: writes `msg` into the slot if it is free.  `flags` becomes
 * the message's message_flags (msg_pending when more are queued). */
static bool synic_try_write_slot(uint8_t *slot, uint32_t type, const void *payload,
				 uint32_t size, uint8_t flags, uint32_t vp)
{
	uint32_t *type_p = (uint32_t *)(void *)(slot + HV_MSG_OFF_TYPE);
	uint64_t sender = 0;
	uint16_t rsvd = 0;
	uint8_t size8 = size & SYNIC_POST_CLAIM_OVERSIZE ? 255 : (uint8_t)size;

	size &= ~SYNIC_POST_CLAIM_OVERSIZE;

	/* Acquire: pairs with the guest's cmpxchg to NONE (G2), after which
	 * it no longer reads the slot we are about to overwrite. */
	if (__atomic_load_n(type_p, __ATOMIC_ACQUIRE) != HVMSG_NONE)
		return false;
	memcpy(slot + HV_MSG_OFF_PAYLOAD, payload, size);
	memset(slot + HV_MSG_OFF_PAYLOAD + size, 0, HV_MESSAGE_PAYLOAD_MAX - size);
	memcpy(slot + HV_MSG_OFF_SIZE, &size8, 1);
	__atomic_store_n(slot + HV_MSG_OFF_FLAGS, flags, __ATOMIC_RELAXED);
	memcpy(slot + HV_MSG_OFF_RSVD, &rsvd, sizeof(rsvd));
	memcpy(slot + HV_MSG_OFF_SENDER, &sender, sizeof(sender));
	/* Release, and last: a guest that sees the type sees the rest (D3). */
	__atomic_store_n(type_p, type, __ATOMIC_RELEASE);
	trace_emit(VMBUS_TRACE_MSG_OUT, 0, vp, type, flags, payload, size);
	return true;
}

/* Delivers queued messages of (vp, sint) while the slot is free — at most
 * one in practice, since delivering occupies the slot. */
static void synic_pump_sint(struct hv_partition *hv, uint32_t vp, uint32_t sint)
{
	struct hv_vp *v = &hv->vp[vp];
	struct synic_queue *q = &v->queue[sint];
	struct synic_msg *m;
	uint8_t *slot;

	if (q->count == 0 || !synic_enabled(v, v->simp))
		return;
	slot = synic_slot(hv, v, sint);
	if (!slot) {
		hv->stats.synic_faults++;
		log_guest("vp %u: SIM page %#llx outside RAM", vp,
			  (unsigned long long)(v->simp & HV_MSR_PAGE_MASK));
		return;
	}
	m = TAILQ_FIRST(&q->msgs);
	if (!synic_try_write_slot(slot, m->type, m->payload, m->size,
				  q->count > 1 ? HV_MSG_FLAG_PENDING : 0, vp))
		return;
	TAILQ_REMOVE(&q->msgs, m, link);
	q->count--;
	free(m);
	hv->stats.synic_delivered++;
	synic_raise(hv, vp, sint);
}

void synic_vp_pump(struct hv_partition *hv, uint32_t vp)
{
	if (!hv_vp_valid(hv, vp))
		return;
	for (uint32_t sint = 0; sint < HV_SINT_COUNT; sint++)
		synic_pump_sint(hv, vp, sint);
}

void synic_vp_clear(struct hv_vp *v)
{
	for (uint32_t sint = 0; sint < HV_SINT_COUNT; sint++) {
		struct synic_queue *q = &v->queue[sint];
		struct synic_msg *m;

		while ((m = TAILQ_FIRST(&q->msgs)) != NULL) {
			TAILQ_REMOVE(&q->msgs, m, link);
			free(m);
		}
		q->count = 0;
	}
}

static int synic_enqueue(struct hv_partition *hv, struct synic_queue *q, uint32_t type,
			 const void *payload, uint32_t size)
{
	struct synic_msg *m;

	if (q->count >= SYNIC_QUEUE_MAX) {
		hv->stats.synic_queue_full++;
		return -ENOSPC;
	}
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->type = type;
	m->size = size; /* SYNIC_POST_CLAIM_OVERSIZE kept for the slot write */
	memcpy(m->payload, payload, size & ~SYNIC_POST_CLAIM_OVERSIZE);
	TAILQ_INSERT_TAIL(&q->msgs, m, link);
	q->count++;
	hv->stats.synic_queued++;
	return 0;
}

int synic_post_message(struct hv_partition *hv, uint32_t vp, uint32_t sint,
		       uint32_t message_type, const void *payload, uint32_t size)
{
	struct hv_vp *v;
	struct synic_queue *q;
	uint8_t *slot;
	int ret;

	if (!hv->mem)
		return -ENODEV;
	if (!hv_vp_valid(hv, vp) || sint >= HV_SINT_COUNT ||
	    (size & ~SYNIC_POST_CLAIM_OVERSIZE) > HV_MESSAGE_PAYLOAD_MAX ||
	    message_type == HVMSG_NONE || (size > 0 && !payload))
		return -EINVAL;
	v = &hv->vp[vp];
	q = &v->queue[sint];
	if (!synic_enabled(v, v->simp)) {
		hv->stats.synic_not_ready++;
		return -ENODEV;
	}
	slot = synic_slot(hv, v, sint);
	if (!slot) {
		hv->stats.synic_faults++;
		log_guest("vp %u: SIM page %#llx outside RAM", vp,
			  (unsigned long long)(v->simp & HV_MSR_PAGE_MASK));
		return -EFAULT;
	}

	/* FIFO: with messages already waiting, this one waits behind them. */
	if (q->count == 0 && synic_try_write_slot(slot, message_type, payload, size, 0, vp)) {
		hv->stats.synic_delivered++;
		synic_raise(hv, vp, sint);
		return 0;
	}
	ret = synic_enqueue(hv, q, message_type, payload, size);
	if (ret < 0)
		return ret;
	/* P1: ask the guest for an EOM when it frees the occupant.  SEQ_CST
	 * makes this RMW and the load below a full barrier pair against the
	 * guest's cmpxchg + read of msg_pending (see the top of the file). */
	__atomic_fetch_or(slot + HV_MSG_OFF_FLAGS, (uint8_t)HV_MSG_FLAG_PENDING, __ATOMIC_SEQ_CST);
	/* C11 only orders a later load after a store with a SEQ_CST fence
	 * (the x86 LOCK above already is one; this states it portably). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* P2: the guest may have freed the slot before it could see P1. */
	synic_pump_sint(hv, vp, sint);
	return 0;
}

int synic_signal_event(struct hv_partition *hv, uint32_t vp, uint32_t sint, uint32_t flag)
{
	struct hv_vp *v;
	uint64_t gpa, bit, old, *word;

	if (!hv->mem)
		return -ENODEV;
	if (!hv_vp_valid(hv, vp) || sint >= HV_SINT_COUNT || flag >= HV_EVENT_FLAGS_COUNT)
		return -EINVAL;
	v = &hv->vp[vp];
	if (!synic_enabled(v, v->siefp)) {
		hv->stats.synic_not_ready++;
		return -ENODEV;
	}
	/* SINT n's flags are bytes n*256 .. n*256+255 of the SIEF page; flag
	 * f is bit f%8 of byte f/8 — on a little-endian 64-bit word that is
	 * bit f%64 of word f/64 (facts §3.1). */
	gpa = (v->siefp & HV_MSR_PAGE_MASK) + (uint64_t)sint * HV_EVENT_FLAGS_BYTES +
	      (uint64_t)(flag / 64u) * sizeof(uint64_t);
	word = gmem_translate(hv->mem, gpa, sizeof(*word));
	if (!word) {
		hv->stats.synic_faults++;
		log_guest("vp %u: SIEF page %#llx outside RAM", vp,
			  (unsigned long long)(v->siefp & HV_MSR_PAGE_MASK));
		return -EFAULT;
	}
	bit = 1ull << (flag % 64u);
	/* SEQ_CST: the flag must be visible before the interrupt request
	 * that follows (whose own release orders it for the frontend), and
	 * the RMW must be atomic against the guest's test-and-clear. */
	old = __atomic_fetch_or(word, bit, __ATOMIC_SEQ_CST);
	hv->stats.events_signalled++;
	trace_emit(VMBUS_TRACE_SIGNAL_OUT, flag, vp, sint, 0, NULL, 0);
	if (!(old & bit))
		synic_raise(hv, vp, sint);
	return 0;
}

bool synic_sint_ready(const struct hv_partition *hv, uint32_t vp, uint32_t sint)
{
	const struct hv_vp *v;

	if (!hv_vp_valid(hv, vp) || sint >= HV_SINT_COUNT)
		return false;
	v = &hv->vp[vp];
	return synic_enabled(v, v->simp) && !(v->sint[sint] & HV_SINT_MASKED);
}

uint32_t synic_queued(const struct hv_partition *hv, uint32_t vp, uint32_t sint)
{
	if (!hv_vp_valid(hv, vp) || sint >= HV_SINT_COUNT)
		return 0;
	return hv->vp[vp].queue[sint].count;
}
