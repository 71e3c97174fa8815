/* SPDX-License-Identifier: MIT */
/*
 * The host->guest fault classes vmbus/ owns (core/fault_class.h,
 * docs/faults.md): malformed channel messages (msg.*), malformed ring
 * packets and ring headers (ring.*), and timing (timing.*) of messages and
 * packets.  vmbus_post() and vmbus_chan_send() come here only when one of
 * their classes is armed or something is held (one branch on
 * fault_class_mask); this file decides per message or packet and writes
 * the bytes.
 *
 * Malformed messages are extra copies of the real message, mangled, sent
 * just before it (after it for msg.offer_duplicate_relid, which needs the
 * relid to be live): a guest that checks drops the copy and carries on
 * with the real one, so one boot can take several classes.  Malformed
 * packets are the real packet with its descriptor or the ring header
 * mangled: the packet itself is what the guest must refuse.
 *
 * Held bytes.  timing.delay holds the packet (message) and everything sent
 * after it on the channel (connection) until `ms` passed, keeping the
 * order; timing.reorder holds one until the next one went out (or 1 s).
 * A held packet was "sent" for its device (vmbus_chan_send returned 0); at
 * most VMBUS_HELD_MAX wait per channel, later sends get -EAGAIN and are
 * retried from notify like a full ring.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "vmbus/vmbus_internal.h"

#define VMBUS_HELD_MAX         256u
#define VMBUS_REORDER_WAIT_NS  1000000000ull  /* reorder with nothing following */
#define VMBUS_SPURIOUS_NS      20000000ull    /* spurious interrupt after the packet */
#define VMBUS_HELD_RETRY_NS    1000000ull     /* release hit a full ring */
#define VMBUS_FAULT_BAD_RELID  4096u          /* >= Linux's MAX_CHANNEL_RELIDS (2048) */
#define VMBUS_FAULT_BAD_MSGTYPE 200u          /* >= CHANNELMSG_COUNT */

/* ---- channels -------------------------------------------------------------- */

static const char *chan_dev(const struct vmbus_channel *ch)
{
	/* An unlabelled channel can never match a device target. */
	return ch->label[0] ? ch->label : "\x01";
}

bool vmbus_chan_fault_slow(const struct vmbus_channel *ch, enum fault_class c)
{
	if (fault_take_slow(c, chan_dev(ch), ch->params.sub_channel_index)) {
		log_info("fault: %s fires on relid %u (%s)", fault_classes[c].name, ch->relid,
			 ch->label);
		return true;
	}
	return false;
}

static void fault_chan_timer(evutil_socket_t fd, short what, void *opaque);

static void fault_chan_arm_timer(struct vmbus_channel *ch)
{
	uint64_t now = now_ns(), due = UINT64_MAX, wait;
	struct timeval tv;

	if (ch->held_head)
		due = ch->held_until_ns;
	if (ch->spurious_at_ns && ch->spurious_at_ns < due)
		due = ch->spurious_at_ns;
	if (due == UINT64_MAX || !ch->srv->base)
		return;
	if (!ch->fault_ev && !(ch->fault_ev = evtimer_new(ch->srv->base, fault_chan_timer, ch)))
		return;
	wait = due > now ? due - now : 0;
	tv.tv_sec = (time_t)(wait / 1000000000ull);
	tv.tv_usec = (suseconds_t)(wait % 1000000000ull / 1000);
	evtimer_add(ch->fault_ev, &tv);
}

static int fault_hold(struct vmbus_channel *ch, uint16_t type, uint16_t flags, uint64_t trans_id,
		      uint32_t hdr_len, const struct iovec *iov, int iovcnt, size_t payload)
{
	struct vmbus_held_pkt *h;
	uint8_t *p;

	if (ch->held_n >= VMBUS_HELD_MAX)
		return -EAGAIN;
	h = malloc(sizeof(*h) + payload);
	if (!h)
		return -ENOMEM;
	h->next = NULL;
	h->type = type;
	h->flags = flags;
	h->trans_id = trans_id;
	h->hdr_len = hdr_len;
	h->len = (uint32_t)payload;
	p = h->data;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	if (!ch->held_head) {
		ch->held_tail = &ch->held_head;
		fault_held_ref(+1);
	}
	*ch->held_tail = h;
	ch->held_tail = &h->next;
	ch->held_n++;
	return 0;
}

static void fault_drop_held(struct vmbus_channel *ch)
{
	struct vmbus_held_pkt *h;

	if (!ch->held_head)
		return;
	while ((h = ch->held_head) != NULL) {
		ch->held_head = h->next;
		free(h);
	}
	ch->held_n = 0;
	ch->held_reorder = false;
	fault_held_ref(-1);
}

/* Writes held packets in order.  0 when none is left, -EAGAIN (ring full:
 * the rest waits), another -errno (channel gone: dropped). */
static int fault_release(struct vmbus_channel *ch)
{
	struct vmbus_held_pkt *h;

	while ((h = ch->held_head) != NULL) {
		struct iovec iov = { h->data, h->len };
		int rc = vmbus_ring_write(ch, h->type, h->flags, h->trans_id, h->hdr_len, &iov, 1,
					  h->len, NULL);

		if (rc == -EAGAIN) {
			ch->held_until_ns = now_ns() + VMBUS_HELD_RETRY_NS;
			fault_chan_arm_timer(ch);
			return rc;
		}
		if (rc) {
			fault_drop_held(ch);
			return rc;
		}
		ch->held_head = h->next;
		ch->held_n--;
		free(h);
	}
	ch->held_reorder = false;
	fault_held_ref(-1);
	return 0;
}

static void fault_chan_timer(evutil_socket_t fd, short what, void *opaque)
{
	struct vmbus_channel *ch = opaque;
	uint64_t now = now_ns();

	if (ch->spurious_at_ns && ch->spurious_at_ns <= now) {
		ch->spurious_at_ns = 0;
		/* Nothing new in the ring: the guest finds it empty. */
		if (ch->open && !ch->closing)
			vmbus_chan_signal_guest(ch);
	}
	if (ch->held_head && ch->held_until_ns <= now) {
		ch->held_reorder = false;
		if (fault_release(ch) == 0 && ch->open && !ch->closing)
			vmbus_chan_notify_later(ch); /* sends refused while holding */
	}
	fault_chan_arm_timer(ch);
}

int vmbus_fault_send(struct vmbus_channel *ch, uint16_t type, uint16_t flags, uint64_t trans_id,
		     uint32_t hdr_len, const struct iovec *iov, int iovcnt, size_t payload)
{
	const char *dev = chan_dev(ch);
	uint32_t idx = ch->params.sub_channel_index;
	struct vmbus_ring_mangle m = { .len8 = -1, .offset8 = -1 };
	bool mangle = false;
	int rc;

	if (ch->held_head) {
		if (ch->held_reorder) {
			/* The following one: it goes first, then the held one. */
			rc = vmbus_ring_write(ch, type, flags, trans_id, hdr_len, iov, iovcnt, payload,
					      NULL);
			if (rc)
				return rc;
			ch->held_reorder = false;
			fault_release(ch);
			return 0;
		}
		if (now_ns() < ch->held_until_ns || fault_release(ch) != 0) {
			/* Behind the held ones, in order. */
			rc = fault_hold(ch, type, flags, trans_id, hdr_len, iov, iovcnt, payload);
			if (rc == -EAGAIN)
				ch->stats.send_full++;
			return rc;
		}
	}
	if (fault_take(FAULT_TIMING_DROP, dev, idx)) {
		log_info("fault: timing.drop: relid %u packet (trans_id %#llx) not sent", ch->relid,
			 (unsigned long long)trans_id);
		return 0;
	}
	if (fault_take(FAULT_TIMING_DELAY, dev, idx)) {
		log_info("fault: timing.delay: relid %u packet (trans_id %#llx) held %u ms", ch->relid,
			 (unsigned long long)trans_id, fault_class_ms(FAULT_TIMING_DELAY));
		rc = fault_hold(ch, type, flags, trans_id, hdr_len, iov, iovcnt, payload);
		if (rc)
			return rc;
		ch->held_until_ns = now_ns() + (uint64_t)fault_class_ms(FAULT_TIMING_DELAY) * 1000000ull;
		fault_chan_arm_timer(ch);
		return 0;
	}
	if (fault_take(FAULT_TIMING_REORDER, dev, idx)) {
		rc = fault_hold(ch, type, flags, trans_id, hdr_len, iov, iovcnt, payload);
		if (rc)
			return rc;
		log_info("fault: timing.reorder: relid %u packet (trans_id %#llx) waits for the next",
			 ch->relid, (unsigned long long)trans_id);
		ch->held_reorder = true;
		ch->held_until_ns = now_ns() + VMBUS_REORDER_WAIT_NS;
		fault_chan_arm_timer(ch);
		return 0;
	}
	/* Descriptor lies (facts §6.3: 16 <= offset8 * 8 <= len8 * 8 <= avail). */
	if (fault_take(FAULT_RING_LEN_BELOW_16, dev, idx)) {
		m.len8 = 1;
		mangle = true;
	}
	if (fault_take(FAULT_RING_LEN_BEYOND_AVAIL, dev, idx)) {
		m.len8 = 0xFFFF;
		mangle = true;
	}
	if (fault_take(FAULT_RING_OFFSET_BEYOND_LEN, dev, idx)) {
		uint32_t len8 = (uint32_t)(ALIGN_UP(sizeof(struct vmpacket_descriptor) + payload, 8) / 8);

		m.offset8 = (int32_t)MIN(len8 + 1, 0xFFFFu);
		mangle = true;
	}
	if (fault_take(FAULT_RING_WRITE_INDEX_BEYOND, dev, idx)) {
		m.bad_write_index = true;
		mangle = true;
	}
	if (fault_take(FAULT_RING_PENDING_SEND_SZ_BEYOND, dev, idx)) {
		m.bad_pending_send_sz = true;
		mangle = true;
	}
	if (fault_take(FAULT_TIMING_WITHHOLD_INTERRUPT, dev, idx)) {
		m.no_signal = true;
		mangle = true;
	}
	if (mangle)
		log_info("fault: relid %u: packet (trans_id %#llx) written mangled", ch->relid,
			 (unsigned long long)trans_id);
	rc = vmbus_ring_write(ch, type, flags, trans_id, hdr_len, iov, iovcnt, payload,
			      mangle ? &m : NULL);
	if (rc)
		return rc;
	if (fault_take(FAULT_TIMING_DUPLICATE, dev, idx))
		vmbus_ring_write(ch, type, flags, trans_id, hdr_len, iov, iovcnt, payload, NULL);
	if (fault_take(FAULT_TIMING_SPURIOUS_INTERRUPT, dev, idx)) {
		ch->spurious_at_ns = now_ns() + VMBUS_SPURIOUS_NS;
		fault_chan_arm_timer(ch);
	}
	return 0;
}

void vmbus_fault_chan_signalled(struct vmbus_channel *ch)
{
	/* The guest read: a release that hit a full ring may go on now. */
	if (ch->held_head && !ch->held_reorder && now_ns() >= ch->held_until_ns)
		fault_release(ch);
}

void vmbus_fault_chan_close(struct vmbus_channel *ch)
{
	fault_drop_held(ch);
	ch->spurious_at_ns = 0;
	if (ch->fault_ev)
		evtimer_del(ch->fault_ev);
}

void vmbus_fault_chan_free(struct vmbus_channel *ch)
{
	vmbus_fault_chan_close(ch);
	if (ch->fault_ev)
		event_free(ch->fault_ev);
	ch->fault_ev = NULL;
}

/* ---- the message connection ----------------------------------------------- */

static void fault_srv_arm(struct vmbus_server *srv, uint64_t ns);

static void fault_srv_timer(evutil_socket_t fd, short what, void *opaque)
{
	struct vmbus_server *srv = opaque;
	struct vmbus_outmsg *m = srv->reorder_msg;
	uint64_t now = now_ns();

	if (!m)
		return;
	if (now < srv->reorder_until_ns) {
		/* Early by the timer's clock: wait for the rest. */
		fault_srv_arm(srv, srv->reorder_until_ns - now);
		return;
	}
	srv->reorder_msg = NULL;
	fault_held_ref(-1);
	vmbus_post_plain(srv, m->data, m->size);
	free(m);
}

static void fault_srv_arm(struct vmbus_server *srv, uint64_t ns)
{
	struct timeval tv = { (time_t)(ns / 1000000000ull), (suseconds_t)(ns % 1000000000ull / 1000) };

	if (!srv->base)
		return;
	if (!srv->fault_ev && !(srv->fault_ev = evtimer_new(srv->base, fault_srv_timer, srv)))
		return;
	evtimer_add(srv->fault_ev, &tv);
}

/* Posts a mangled copy: the SynIC takes any payload up to 240 bytes. */
static void fault_post_copy(struct vmbus_server *srv, const void *msg, uint32_t size,
			    uint32_t off, uint32_t value, const char *cls)
{
	uint8_t buf[VMBUS_MSG_MAX] = { 0 };

	memcpy(buf, msg, size);
	if (off + 4 <= size)
		memcpy(buf + off, &value, 4);
	log_info("fault: %s: a mangled copy of message type %u", cls, *(const uint32_t *)msg);
	vmbus_post_plain(srv, buf, size);
}

bool vmbus_fault_post(struct vmbus_server *srv, const void *msg, uint32_t size)
{
	uint32_t type;
	struct vmbus_outmsg *held = NULL;

	memcpy(&type, msg, sizeof(type));
	/* A message held by timing.reorder goes right after this one. */
	if (srv->reorder_msg) {
		held = srv->reorder_msg;
		srv->reorder_msg = NULL;
		fault_held_ref(-1);
	}
	if (fault_take(FAULT_MSG_TYPE_OUT_OF_RANGE, NULL, 0))
		fault_post_copy(srv, msg, size, 0, VMBUS_FAULT_BAD_MSGTYPE, "msg.type_out_of_range");
	if (fault_take(FAULT_MSG_OVERSIZE, NULL, 0)) {
		log_info("fault: msg.oversize: copy of message type %u claims 255 bytes", type);
		vmbus_post_plain(srv, msg, size | SYNIC_POST_CLAIM_OVERSIZE);
	}
	if (size > 8 && fault_take(FAULT_MSG_UNDERSIZE, NULL, 0)) {
		log_info("fault: msg.undersize: copy of message type %u cut to 8 bytes", type);
		vmbus_post_plain(srv, msg, 8);
	}
	if (type == CHANNELMSG_OFFERCHANNEL && fault_take(FAULT_MSG_OFFER_BAD_RELID, NULL, 0)) {
		struct vmbus_msg_offer_channel o;

		memcpy(&o, msg, MIN(size, (uint32_t)sizeof(o)));
		o.if_instance.b[15] ^= 0xA5; /* not a duplicate of the real offer */
		o.child_relid = VMBUS_FAULT_BAD_RELID;
		o.connection_id = VMBUS_CONN_ID_BASE + VMBUS_FAULT_BAD_RELID;
		log_info("fault: msg.offer_bad_relid: offer with relid %u", o.child_relid);
		vmbus_post_plain(srv, &o, MIN(size, (uint32_t)sizeof(o)));
	}
	if (type == CHANNELMSG_GPADL_CREATED && fault_take(FAULT_MSG_GPADL_CREATED_UNKNOWN, NULL, 0))
		fault_post_copy(srv, msg, size, offsetof(struct vmbus_msg_gpadl_created, gpadl),
				0xBAD0BAD0u, "msg.gpadl_created_unknown");
	if (type == CHANNELMSG_OPENCHANNEL_RESULT &&
	    fault_take(FAULT_MSG_OPEN_RESULT_UNKNOWN, NULL, 0))
		fault_post_copy(srv, msg, size, offsetof(struct vmbus_msg_open_result, child_relid),
				VMBUS_MAX_RELID, "msg.open_result_unknown");

	/* Timing of the real message. */
	if (fault_take(FAULT_TIMING_DROP, NULL, 0)) {
		log_info("fault: timing.drop: message type %u not sent", type);
		goto consumed;
	}
	if (fault_take(FAULT_TIMING_DELAY, NULL, 0)) {
		uint64_t ns = (uint64_t)fault_class_ms(FAULT_TIMING_DELAY) * 1000000ull;

		log_info("fault: timing.delay: message type %u held %llu ms", type,
			 (unsigned long long)(ns / 1000000ull));
		srv->outq_hold_until_ns = now_ns() + ns;
		vmbus_outq_push(srv, msg, size);
		vmbus_outq_arm_us(srv, ns / 1000u);
		goto consumed;
	}
	if (!held && fault_take(FAULT_TIMING_REORDER, NULL, 0)) {
		struct vmbus_outmsg *m = calloc(1, sizeof(*m));

		if (m) {
			log_info("fault: timing.reorder: message type %u waits for the next", type);
			memcpy(m->data, msg, size);
			m->size = size;
			srv->reorder_msg = m;
			srv->reorder_until_ns = now_ns() + VMBUS_REORDER_WAIT_NS;
			fault_held_ref(+1);
			fault_srv_arm(srv, VMBUS_REORDER_WAIT_NS);
			return true;
		}
	}
	vmbus_post_plain(srv, msg, size);
	if (fault_take(FAULT_TIMING_DUPLICATE, NULL, 0)) {
		log_info("fault: timing.duplicate: message type %u sent twice", type);
		vmbus_post_plain(srv, msg, size);
	}
	if (type == CHANNELMSG_OFFERCHANNEL &&
	    fault_take(FAULT_MSG_OFFER_DUPLICATE_RELID, NULL, 0)) {
		struct vmbus_msg_offer_channel o;

		memcpy(&o, msg, MIN(size, (uint32_t)sizeof(o)));
		o.if_instance.b[15] ^= 0x5A; /* another device, the same relid */
		log_info("fault: msg.offer_duplicate_relid: second offer on relid %u", o.child_relid);
		vmbus_post_plain(srv, &o, MIN(size, (uint32_t)sizeof(o)));
	}
consumed:
	if (held) {
		vmbus_post_plain(srv, held->data, held->size);
		free(held);
	}
	return true;
}

void vmbus_fault_server_reset(struct vmbus_server *srv)
{
	if (srv->reorder_msg) {
		free(srv->reorder_msg);
		srv->reorder_msg = NULL;
		fault_held_ref(-1);
	}
	srv->outq_hold_until_ns = 0;
}

void vmbus_fault_server_free(struct vmbus_server *srv)
{
	vmbus_fault_server_reset(srv);
	if (srv->fault_ev)
		event_free(srv->fault_ev);
	srv->fault_ev = NULL;
}
