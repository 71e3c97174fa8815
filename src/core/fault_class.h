/* SPDX-License-Identifier: MIT */
/*
 * Host -> guest fault classes, by name (docs/faults.md).
 *
 * The catalogue is one table (fault_classes[]): name, owning layer, the
 * targets a class accepts and a one-line description; `vmbusd faults`
 * prints it.  The layer that owns a wire format owns its malformations:
 * vmbus/ mangles channel messages, ring packets and timing; storvsp and
 * netvsp their own protocols.  At the point where the host builds the
 * bytes, that layer asks fault_take(class, device, channel) and, when it
 * says yes, writes the malformed bytes itself.  The harness (control
 * socket, scenario `fault` step) only arms, disarms and reports.
 *
 * Arming.  One arm per class: a target (a device's channel, by device name
 * and subchannel index, or the message connection: device ""), a count of
 * firings (0 = unlimited), a period (fire on every K-th candidate) and the
 * first candidate that may fire (1-based).  A "candidate" is one event the
 * class could mangle at its site (e.g. every host->guest packet of the
 * channel for timing.drop, every EXECUTE_SRB completion carrying data for
 * storvsc.srb_error): the count restarts at each arm.
 *
 * Cost when unarmed: fault_class_mask is one global word; every site tests
 * its bit(s) under __builtin_expect, one predictable branch.
 */
#ifndef VMBUSD_CORE_FAULT_CLASS_H
#define VMBUSD_CORE_FAULT_CLASS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* X(enum suffix, name, layer, targets, description) */
#define FAULT_TGT_MSG  1u /* the message connection (device "") */
#define FAULT_TGT_CHAN 2u /* one channel: device name + subchannel index */
#define FAULT_CLASSES(X)                                                                      \
	X(MSG_TYPE_OUT_OF_RANGE, "msg.type_out_of_range", "vmbus", FAULT_TGT_MSG,             \
	  "a channel message whose type is >= the message count")                             \
	X(MSG_OVERSIZE, "msg.oversize", "vmbus", FAULT_TGT_MSG,                               \
	  "a SynIC message whose payload_size is over 240 (255)")                             \
	X(MSG_UNDERSIZE, "msg.undersize", "vmbus", FAULT_TGT_MSG,                             \
	  "a channel message shorter than its type's minimum (a copy cut to 8 bytes)")        \
	X(MSG_OFFER_BAD_RELID, "msg.offer_bad_relid", "vmbus", FAULT_TGT_MSG,                 \
	  "an offer whose child relid is beyond the maximum (4096)")                          \
	X(MSG_OFFER_DUPLICATE_RELID, "msg.offer_duplicate_relid", "vmbus", FAULT_TGT_MSG,     \
	  "an offer of a new instance reusing the relid of the offer just sent")              \
	X(MSG_GPADL_CREATED_UNKNOWN, "msg.gpadl_created_unknown", "vmbus", FAULT_TGT_MSG,     \
	  "GPADL_CREATED for a GPADL the guest never asked for")                              \
	X(MSG_OPEN_RESULT_UNKNOWN, "msg.open_result_unknown", "vmbus", FAULT_TGT_MSG,         \
	  "OPENCHANNEL_RESULT for an unknown relid")                                          \
	X(RING_LEN_BELOW_16, "ring.len_below_16", "vmbus", FAULT_TGT_CHAN,                    \
	  "a packet whose length (len8 * 8) is under the 16-byte descriptor")                 \
	X(RING_LEN_BEYOND_AVAIL, "ring.len_beyond_avail", "vmbus", FAULT_TGT_CHAN,            \
	  "a packet longer than the bytes in the ring")                                       \
	X(RING_OFFSET_BEYOND_LEN, "ring.offset_beyond_len", "vmbus", FAULT_TGT_CHAN,          \
	  "a data offset (offset8) beyond the packet")                                        \
	X(RING_WRITE_INDEX_BEYOND, "ring.write_index_beyond", "vmbus", FAULT_TGT_CHAN,        \
	  "a write index beyond the ring's data area")                                        \
	X(RING_PENDING_SEND_SZ_BEYOND, "ring.pending_send_sz_beyond", "vmbus", FAULT_TGT_CHAN, \
	  "pending_send_sz larger than the ring")                                             \
	X(STORVSC_COMPLETION_SHORT, "storvsc.completion_short", "storvsp", FAULT_TGT_CHAN,    \
	  "a completion shorter than a vstor packet (8 bytes)")                               \
	X(STORVSC_UNKNOWN_REQUEST_ID, "storvsc.unknown_request_id", "storvsp", FAULT_TGT_CHAN, \
	  "a completion for a request id never sent (before the real one)")                   \
	X(STORVSC_SRB_ERROR, "storvsc.srb_error", "storvsp", FAULT_TGT_CHAN,                  \
	  "SRB error, CHECK CONDITION, sense MEDIUM ERROR 3/11/00 for the next READ/WRITE")     \
	X(STORVSC_BUSY, "storvsc.busy", "storvsp", FAULT_TGT_CHAN,                            \
	  "SRB_STATUS_BUSY for the next READ/WRITE")                                                 \
	X(NETVSC_RECV_SECTION_SMALL, "netvsc.recv_section_small", "netvsp", FAULT_TGT_CHAN,   \
	  "receive-buffer section size below the minimum MTU (32 < 68)")                           \
	X(NETVSC_RECV_SECTIONS_OVERFLOW, "netvsc.recv_sections_overflow", "netvsp",           \
	  FAULT_TGT_CHAN, "receive-buffer section count x size beyond the buffer")            \
	X(NETVSC_XFER_RANGE_OUTSIDE, "netvsc.xfer_range_outside", "netvsp", FAULT_TGT_CHAN,   \
	  "a transfer-page range outside the receive buffer")                                 \
	X(NETVSC_RNDIS_LEN_BELOW_HEADER, "netvsc.rndis_len_below_header", "netvsp",           \
	  FAULT_TGT_CHAN, "RNDIS msg_len below its 8-byte header")                            \
	X(NETVSC_RNDIS_LEN_BEYOND, "netvsc.rndis_len_beyond", "netvsp", FAULT_TGT_CHAN,       \
	  "RNDIS msg_len beyond the transfer range")                                          \
	X(NETVSC_RNDIS_DATA_OFFSET_BAD, "netvsc.rndis_data_offset_bad", "netvsp",             \
	  FAULT_TGT_CHAN, "RNDIS_PACKET data offset out of bounds")                           \
	X(NETVSC_PPI_OUT_OF_BOUNDS, "netvsc.ppi_out_of_bounds", "netvsp", FAULT_TGT_CHAN,     \
	  "RNDIS_PACKET per-packet-info offset and size out of bounds")                       \
	X(NETVSC_STATUS_INDICATION_SHORT, "netvsc.status_indication_short", "netvsp",         \
	  FAULT_TGT_CHAN, "a status indication shorter than its header (12 bytes)")           \
	X(TIMING_DROP, "timing.drop", "vmbus", FAULT_TGT_MSG | FAULT_TGT_CHAN,                \
	  "the next message or packet is never sent")                                         \
	X(TIMING_DELAY, "timing.delay", "vmbus", FAULT_TGT_MSG | FAULT_TGT_CHAN,              \
	  "it is sent `ms` later (and what follows it waits behind it)")                      \
	X(TIMING_DUPLICATE, "timing.duplicate", "vmbus", FAULT_TGT_MSG | FAULT_TGT_CHAN,      \
	  "it is sent twice")                                                                 \
	X(TIMING_REORDER, "timing.reorder", "vmbus", FAULT_TGT_MSG | FAULT_TGT_CHAN,          \
	  "it swaps with the following one (sent alone after 1 s if none follows)")           \
	X(TIMING_WITHHOLD_INTERRUPT, "timing.withhold_interrupt", "vmbus", FAULT_TGT_CHAN,    \
	  "the packet arrives, the interrupt does not")                                       \
	X(TIMING_SPURIOUS_INTERRUPT, "timing.spurious_interrupt", "vmbus", FAULT_TGT_CHAN,    \
	  "an interrupt with nothing new in the ring (20 ms after the packet)")

#define FAULT_ENUM_(e, n, l, t, d) FAULT_##e,
enum fault_class { FAULT_CLASSES(FAULT_ENUM_) FAULT_CLASS_COUNT };
#undef FAULT_ENUM_

_Static_assert(FAULT_CLASS_COUNT < 63, "fault_class_mask has 63 class bits");

struct fault_class_info {
	const char *name;
	const char *layer;
	unsigned int targets; /* FAULT_TGT_* */
	const char *desc;
};
extern const struct fault_class_info fault_classes[FAULT_CLASS_COUNT];

/* Bit c set: class c is armed.  Bit FAULT_HELD_BIT: some channel or the
 * message connection holds delayed/reordered bytes (vmbus/ must look even
 * after the class that held them ran out). */
#define FAULT_HELD_BIT 63
#define FAULT_BIT(c) (1ull << (c))
extern uint64_t fault_class_mask;

/* The class named `name`, or -ENOENT. */
int fault_class_find(const char *name);

#define FAULT_DEVICE_MAX 64
#define FAULT_ANY_CHANNEL UINT32_MAX   /* every channel of the device */

struct fault_spec {
	enum fault_class cls;
	char device[FAULT_DEVICE_MAX]; /* "" = the message connection */
	uint32_t channel;              /* subchannel index, 0 = primary; FAULT_ANY_CHANNEL */
	uint32_t count;                /* firings; 0 = unlimited */
	uint32_t every;                /* fire on every K-th candidate; 0 or 1 = each */
	uint64_t from;                 /* first candidate that may fire, 1-based; 0 = 1 */
	uint32_t ms;                   /* timing.delay */
};

/* Arms (or re-arms) s->cls.  -EINVAL with a reason in err (a target the
 * class does not take, ms without timing.delay, ...). */
int fault_class_arm(const struct fault_spec *s, char *err, size_t errlen);
/* Disarms one class (its fired count stays); -ENOENT if not armed. */
int fault_class_disarm(enum fault_class c);
void fault_class_disarm_all(void);
/* Forgets arms and counts (tests). */
void fault_class_reset(void);

/* The slow half of fault_take: the class is armed; does this candidate
 * (device, channel) fire?  device NULL or "" = the message connection. */
bool fault_take_slow(enum fault_class c, const char *device, uint32_t channel);

static inline bool fault_class_armed(enum fault_class c)
{
	return __builtin_expect((fault_class_mask & FAULT_BIT(c)) != 0, 0);
}

/* true: mangle this candidate. */
static inline bool fault_take(enum fault_class c, const char *device, uint32_t channel)
{
	return fault_class_armed(c) && fault_take_slow(c, device, channel);
}

/* timing.delay's ms of the current arm (0 when not armed). */
uint32_t fault_class_ms(enum fault_class c);
/* How often class c fired since the daemon started. */
uint64_t fault_class_fired(enum fault_class c);
/* Some bytes are held for delay/reorder: +1 / -1 (sets FAULT_HELD_BIT). */
void fault_held_ref(int delta);

/* {"armed": [{class, device, channel, count, every, from, ms, seen, fired}],
 *  "fired": {"msg": {"oversize": n}, ...} (classes that fired at least once,
 *  grouped by the prefix of their name: status path faults.fired.msg.oversize)} */
json_t *fault_class_status_json(void);
/* One arm as JSON, for replies. */
json_t *fault_spec_json(const struct fault_spec *s);

#endif
