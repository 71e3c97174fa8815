/* SPDX-License-Identifier: MIT */
/*
 * A tiny in-test guest for the vmbus/ unit tests (test_ring, test_gpadl,
 * test_chanmsg) and fuzzers: real memfd guest RAM, a real hv partition
 * with the SynIC programmed through hv_msr_write, channel messages posted
 * with hv_hypercall(HvPostMessage) from a page of guest RAM, host->guest
 * messages read from the SIM slot (cleared and EOMed as Linux does), and
 * a guest side of the rings written from the facts (§6), not from ring.c.
 *
 * Functions here return error values instead of asserting so the fuzzers
 * can use them too; the tests assert on the results.
 */
#ifndef VMBUS_HARNESS_H
#define VMBUS_HARNESS_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/gmem.h"
#include "hv/hv.h"
#include "vmbus/vmbus.h"

#define TH_RAM_SIZE   (64ull << 20)
#define TH_MAX_VCPUS  4u
#define TH_SIMP(vp)   (0x10000ull + (uint64_t)(vp) * 0x1000)
#define TH_SIEF(vp)   (0x20000ull + (uint64_t)(vp) * 0x1000)
#define TH_INPUT      0x30000ull
#define TH_ALLOC_BASE 0x100000ull

struct th {
	struct gmem mem;
	struct hv_partition *hv;
	struct vmbus_server *srv;
	uint32_t n_vcpus;
	uint64_t irqs[TH_MAX_VCPUS];
	uint64_t next_alloc;
	uint64_t idle_gpa, idle_mask; /* the monitor's idle watch, as set last */
	uint32_t idle_watches;        /* calls of it */
};

static inline void th_irq(void *opaque, uint32_t vp, uint8_t vector)
{
	struct th *t = opaque;

	if (vp < TH_MAX_VCPUS)
		t->irqs[vp]++;
}

static inline void *th_ptr(struct th *t, uint64_t gpa, uint64_t len)
{
	return gmem_translate(&t->mem, gpa, len);
}

/* Programs VP's SynIC the way hv_vmbus does (facts §1.4, §3.1). */
static inline int th_synic_enable(struct th *t, uint32_t vp)
{
	uint32_t action = 0;
	uint64_t arg = 0;
	int ret = 0;

	ret |= hv_msr_write(t->hv, vp, HV_MSR_SIMP, TH_SIMP(vp) | 1, &action, &arg);
	ret |= hv_msr_write(t->hv, vp, HV_MSR_SIEFP, TH_SIEF(vp) | 1, &action, &arg);
	ret |= hv_msr_write(t->hv, vp, HV_MSR_SINT0 + VMBUS_MESSAGE_SINT, HV_CALLBACK_VECTOR,
			    &action, &arg);
	ret |= hv_msr_write(t->hv, vp, HV_MSR_SCONTROL, 1, &action, &arg);
	return ret;
}

static inline void th_idle_watch(void *opaque, uint64_t gpa, uint64_t mask)
{
	struct th *t = opaque;

	t->idle_gpa = gpa;
	t->idle_mask = mask;
	t->idle_watches++;
}

static inline int th_init(struct th *t, uint32_t n_vcpus, uint32_t max_version)
{
	struct hv_irq_sink sink = { .raise = th_irq, .opaque = t };
	struct hv_config hcfg = { .n_vcpus = n_vcpus };
	struct vmbus_server_config vcfg = { .max_version = max_version,
					    .idle_watch = th_idle_watch, .idle_opaque = t };
	int fd;

	memset(t, 0, sizeof(*t));
	t->n_vcpus = n_vcpus;
	t->next_alloc = TH_ALLOC_BASE;
	gmem_init(&t->mem);
	fd = memfd_create("th-ram", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)TH_RAM_SIZE) < 0)
		return -errno;
	if (gmem_add(&t->mem, 0, TH_RAM_SIZE, fd, 0) < 0)
		return -EINVAL;
	t->hv = hv_partition_new(&sink);
	if (!t->hv || hv_partition_bind(t->hv, &t->mem, &hcfg) < 0)
		return -EINVAL;
	for (uint32_t vp = 0; vp < n_vcpus; vp++)
		if (th_synic_enable(t, vp))
			return -EINVAL;
	t->srv = vmbus_server_new(t->hv, NULL, &vcfg);
	return t->srv ? 0 : -ENOMEM;
}

static inline void th_fini(struct th *t)
{
	vmbus_server_free(t->srv);
	hv_partition_free(t->hv);
	gmem_release(&t->mem);
}

/* Page-aligned guest RAM, zeroed. */
static inline uint64_t th_alloc(struct th *t, uint32_t pages)
{
	uint64_t gpa = t->next_alloc;

	t->next_alloc += (uint64_t)pages * 4096;
	if (t->next_alloc > TH_RAM_SIZE)
		return 0;
	memset(th_ptr(t, gpa, (uint64_t)pages * 4096), 0, (size_t)pages * 4096);
	return gpa;
}

/* HvPostMessage from VP `vp`; returns the HV status. */
static inline uint16_t th_post(struct th *t, uint32_t vp, uint32_t conn_id, const void *msg,
			       uint32_t size)
{
	struct hv_input_post_message in = {
		.connection_id = conn_id,
		.message_type = 1,
		.payload_size = size,
	};

	memcpy(in.payload, msg, size > sizeof(in.payload) ? sizeof(in.payload) : size);
	gmem_write(&t->mem, TH_INPUT, &in, sizeof(in));
	return (uint16_t)(hv_hypercall(t->hv, vp, HVCALL_POST_MESSAGE, TH_INPUT, 0, NULL) & 0xFFFF);
}

static inline uint16_t th_signal(struct th *t, uint32_t vp, uint32_t conn_id)
{
	uint32_t fast_id = 0;

	return (uint16_t)(hv_hypercall(t->hv, vp, HVCALL_SIGNAL_EVENT | HV_HC_FAST, conn_id, 0,
				       &fast_id) & 0xFFFF);
}

/* Takes the message in VP's SINT2 slot as Linux does (copy, free the slot,
 * EOM if msg_pending).  Returns the VMBus msgtype, or 0 if the slot was
 * empty.  *size gets the payload size. */
static inline uint32_t th_recv(struct th *t, uint32_t vp, void *buf, uint32_t *size)
{
	uint8_t *raw = th_ptr(t, TH_SIMP(vp) + VMBUS_MESSAGE_SINT * 256, 256);
	struct hv_message *slot = (struct hv_message *)raw;
	uint32_t *type_p = (uint32_t *)(void *)raw;
	uint32_t msgtype = 0, len;
	uint8_t flags;

	if (__atomic_load_n(type_p, __ATOMIC_ACQUIRE) == HVMSG_NONE)
		return 0;
	len = slot->header.payload_size;
	if (len > sizeof(slot->payload))
		len = sizeof(slot->payload);
	if (buf)
		memcpy(buf, slot->payload, len);
	if (size)
		*size = len;
	memcpy(&msgtype, slot->payload, sizeof(msgtype));
	flags = slot->header.message_flags;
	__atomic_store_n(type_p, HVMSG_NONE, __ATOMIC_SEQ_CST);
	if (flags & HV_MSG_FLAG_PENDING) {
		uint32_t action = 0;
		uint64_t arg = 0;

		hv_msr_write(t->hv, vp, HV_MSR_EOM, 0, &action, &arg);
	}
	return msgtype;
}

/* Drops every pending host->guest message; returns how many. */
static inline int th_drain(struct th *t, uint32_t vp)
{
	uint8_t buf[256];
	int n = 0;

	while (th_recv(t, vp, buf, NULL))
		n++;
	return n;
}

/* Tests and clears event flag `relid` of SINT2 in VP's SIEF page. */
static inline bool th_event(struct th *t, uint32_t vp, uint32_t relid)
{
	uint8_t *flags = th_ptr(t, TH_SIEF(vp) + VMBUS_MESSAGE_SINT * 256, 256);
	uint8_t bit = (uint8_t)(1u << (relid % 8));
	uint8_t old = __atomic_fetch_and(&flags[relid / 8], (uint8_t)~bit, __ATOMIC_SEQ_CST);

	return old & bit;
}

/* INITIATE_CONTACT for `version` (on id 4 from 5.0 on, as Linux); returns
 * version_supported, or -1 without an answer. */
static inline int th_connect(struct th *t, uint32_t version)
{
	struct vmbus_msg_initiate_contact ic = {
		.header.msgtype = CHANNELMSG_INITIATE_CONTACT,
		.vmbus_version_requested = version,
		.target_vcpu = 0,
	};
	struct vmbus_msg_version_response resp;
	uint32_t conn = VMBUS_MESSAGE_CONNECTION_ID;

	if (version >= VMBUS_VERSION_WIN10_V5) {
		ic.msg_sint = VMBUS_MESSAGE_SINT;
		conn = VMBUS_MESSAGE_CONNECTION_ID_4;
	}
	if (th_post(t, 0, conn, &ic, sizeof(ic)) != HV_STATUS_SUCCESS)
		return -1;
	if (th_recv(t, 0, &resp, NULL) != CHANNELMSG_VERSION_RESPONSE)
		return -1;
	return resp.version_supported;
}

/* REQUESTOFFERS; records the offers; returns their count or -1. */
static inline int th_request_offers(struct th *t, struct vmbus_msg_offer_channel *offers,
				    int max)
{
	struct vmbus_msg_header req = { .msgtype = CHANNELMSG_REQUESTOFFERS };
	uint8_t buf[256];
	uint32_t type;
	int n = 0;

	th_post(t, 0, VMBUS_MESSAGE_CONNECTION_ID, &req, sizeof(req));
	while ((type = th_recv(t, 0, buf, NULL)) != 0) {
		if (type == CHANNELMSG_ALLOFFERS_DELIVERED)
			return n;
		if (type != CHANNELMSG_OFFERCHANNEL)
			return -1;
		if (offers && n < max)
			memcpy(&offers[n], buf, sizeof(*offers));
		n++;
	}
	return -1;
}

/* Creates a GPADL over `pages` pages from `pfns` (or pfn(gpa)+i) the way
 * Linux does: one header with up to 26 PFNs, bodies of up to 28.  Returns
 * creation_status, or -1 when no GPADL_CREATED came; *bodies gets the
 * number of bodies posted. */
static inline int64_t th_gpadl_pfns(struct th *t, uint32_t relid, uint32_t handle,
				    const uint64_t *pfns, uint32_t pages, int *bodies)
{
	uint8_t msg[VMBUS_MSG_MAX];
	struct vmbus_msg_gpadl_header *h = (void *)msg;
	struct vmbus_msg_gpadl_body *b = (void *)msg;
	struct vmbus_msg_gpadl_created created;
	uint32_t first = pages < VMBUS_GPADL_HEADER_MAX_PFNS ? pages : VMBUS_GPADL_HEADER_MAX_PFNS;
	uint32_t done, type;
	int nb = 0;

	memset(msg, 0, sizeof(msg));
	h->header.msgtype = CHANNELMSG_GPADL_HEADER;
	h->child_relid = relid;
	h->gpadl = handle;
	h->range_buflen = (uint16_t)(8 + 8 * pages);
	h->rangecount = 1;
	h->range[0].byte_count = pages * 4096;
	h->range[0].byte_offset = 0;
	memcpy(msg + 28, pfns, first * 8);
	th_post(t, 0, VMBUS_MESSAGE_CONNECTION_ID, msg, 28 + first * 8);
	for (done = first; done < pages; nb++) {
		uint32_t n = pages - done < VMBUS_GPADL_BODY_MAX_PFNS ? pages - done :
									VMBUS_GPADL_BODY_MAX_PFNS;

		memset(msg, 0, sizeof(msg));
		b->header.msgtype = CHANNELMSG_GPADL_BODY;
		b->gpadl = handle;
		memcpy(msg + 16, pfns + done, n * 8);
		th_post(t, 0, VMBUS_MESSAGE_CONNECTION_ID, msg, 16 + n * 8);
		done += n;
	}
	if (bodies)
		*bodies = nb;
	while ((type = th_recv(t, 0, &created, NULL)) != 0)
		if (type == CHANNELMSG_GPADL_CREATED && created.gpadl == handle)
			return created.creation_status;
	return -1;
}

static inline int64_t th_gpadl(struct th *t, uint32_t relid, uint32_t handle, uint64_t gpa,
			       uint32_t pages)
{
	uint64_t *pfns = calloc(pages, 8);
	int64_t ret;

	for (uint32_t i = 0; i < pages; i++)
		pfns[i] = (gpa >> 12) + i;
	ret = th_gpadl_pfns(t, relid, handle, pfns, pages, NULL);
	free(pfns);
	return ret;
}

/* ---- the guest side of one channel's rings (facts §6) ------------------- */

struct tg_ring {
	uint8_t *hdr;
	uint8_t *data;
	uint32_t size;
};

struct tg_chan {
	uint32_t relid, conn_id, gpadl;
	uint64_t gpa;
	uint32_t pages, down;
	struct tg_ring out; /* guest -> host: the guest writes */
	struct tg_ring in;  /* host -> guest: the guest reads */
};

#define TG_W(r)   ((uint32_t *)(void *)((r)->hdr + 0))
#define TG_R(r)   ((uint32_t *)(void *)((r)->hdr + 4))
#define TG_MASK(r) ((uint32_t *)(void *)((r)->hdr + 8))
#define TG_PEND(r) ((uint32_t *)(void *)((r)->hdr + 12))
#define TG_FEAT(r) ((uint32_t *)(void *)((r)->hdr + 64))

static inline uint32_t tg_ld(uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void tg_st(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Allocates and zeroes the ring GPADL pages, creates the GPADL and opens
 * the channel.  Returns OPENCHANNEL_RESULT status, -1 without one, -2 when
 * the GPADL failed.  `start` presets both rings' indices (wrap tests). */
static inline int64_t tg_open(struct th *t, struct tg_chan *c, uint32_t relid, uint32_t handle,
			      uint32_t out_pages, uint32_t in_pages, uint32_t target_vp,
			      uint32_t start)
{
	struct vmbus_msg_open_channel open = { .header.msgtype = CHANNELMSG_OPENCHANNEL };
	struct vmbus_msg_open_result res;
	uint32_t type;

	memset(c, 0, sizeof(*c));
	c->relid = relid;
	c->conn_id = 0x10 + relid;
	c->gpadl = handle;
	c->pages = out_pages + in_pages;
	c->down = out_pages;
	c->gpa = th_alloc(t, c->pages);
	if (th_gpadl(t, relid, handle, c->gpa, c->pages) != 0)
		return -2;
	c->out.hdr = th_ptr(t, c->gpa, 4096);
	c->out.data = th_ptr(t, c->gpa + 4096, (out_pages - 1) * 4096ull);
	c->out.size = (out_pages - 1) * 4096;
	c->in.hdr = th_ptr(t, c->gpa + out_pages * 4096ull, 4096);
	c->in.data = th_ptr(t, c->gpa + (out_pages + 1) * 4096ull, (in_pages - 1) * 4096ull);
	c->in.size = (in_pages - 1) * 4096;
	/* Linux initialises the headers after GPADL_CREATED, before OPEN. */
	*TG_FEAT(&c->out) = 1;
	*TG_FEAT(&c->in) = 1;
	*TG_W(&c->out) = *TG_R(&c->out) = start;
	*TG_W(&c->in) = *TG_R(&c->in) = start;
	open.child_relid = relid;
	open.openid = relid;
	open.ringbuffer_gpadl = handle;
	open.target_vp = target_vp;
	open.downstream_ring_offset = out_pages;
	th_post(t, 0, VMBUS_MESSAGE_CONNECTION_ID, &open, sizeof(open));
	while ((type = th_recv(t, 0, &res, NULL)) != 0)
		if (type == CHANNELMSG_OPENCHANNEL_RESULT && res.child_relid == relid)
			return res.status;
	return -1;
}

static inline void tg_copy_in(struct tg_ring *r, uint32_t off, const void *src, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		r->data[(off + i) % r->size] = ((const uint8_t *)src)[i];
}

static inline void tg_copy_out(struct tg_ring *r, uint32_t off, void *dst, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		((uint8_t *)dst)[i] = r->data[(off + i) % r->size];
}

/* Writes raw ring bytes at the guest's write index and publishes it, then
 * signals as Linux does (mask 0 and the ring was empty).  Returns 1 when it
 * signalled, 0 when not, -EAGAIN when it would not fit. */
static inline int tg_write_raw(struct th *t, struct tg_chan *c, const void *bytes, uint32_t len)
{
	struct tg_ring *r = &c->out;
	uint32_t w = tg_ld(TG_W(r)), rd = tg_ld(TG_R(r));
	uint32_t free_b = w >= rd ? r->size - (w - rd) : rd - w;

	if (free_b <= len)
		return -EAGAIN;
	tg_copy_in(r, w, bytes, len);
	tg_st(TG_W(r), (w + len) % r->size);
	if (tg_ld(TG_MASK(r)) == 0 && w == tg_ld(TG_R(r))) {
		th_signal(t, 0, c->conn_id);
		return 1;
	}
	return 0;
}

/* A well-formed inband packet with `len` payload bytes. */
static inline int tg_write(struct th *t, struct tg_chan *c, uint16_t type, uint64_t trans_id,
			   const void *payload, uint32_t len)
{
	uint32_t pkt = (16 + len + 7) & ~7u;
	uint8_t *buf = calloc(1, pkt + 8);
	struct vmpacket_descriptor d = {
		.type = type, .offset8 = 2, .len8 = (uint16_t)(pkt / 8), .flags = 1,
		.trans_id = trans_id,
	};
	uint64_t trailer = (uint64_t)tg_ld(TG_W(&c->out)) << 32;
	int ret;

	memcpy(buf, &d, 16);
	if (len)
		memcpy(buf + 16, payload, len);
	memcpy(buf + pkt, &trailer, 8);
	ret = tg_write_raw(t, c, buf, pkt + 8);
	free(buf);
	return ret;
}

/* Reads one host->guest packet the way Linux does, including the
 * pending_send_sz wake-up (hv_pkt_iter_close).  Returns the packet length
 * (len8 * 8), 0 when empty. */
static inline int tg_read(struct th *t, struct tg_chan *c, void *buf, uint32_t cap,
			  struct vmpacket_descriptor *desc)
{
	struct tg_ring *r = &c->in;
	uint32_t w = tg_ld(TG_W(r)), rd = tg_ld(TG_R(r)), len, pend, before, after;
	struct vmpacket_descriptor d;

	if (w == rd)
		return 0;
	tg_copy_out(r, rd, &d, 16);
	len = d.len8 * 8u;
	if (buf)
		tg_copy_out(r, rd, buf, len < cap ? len : cap);
	if (desc)
		*desc = d;
	before = w >= rd ? r->size - (w - rd) : rd - w;
	rd = (rd + len + 8) % r->size;
	tg_st(TG_R(r), rd);
	pend = tg_ld(TG_PEND(r));
	w = tg_ld(TG_W(r));
	after = w >= rd ? r->size - (w - rd) : rd - w;
	if (pend && before <= pend && after > pend)
		th_signal(t, 0, c->conn_id);
	return (int)len;
}

/* ---- a recording test device --------------------------------------------- */

struct td {
	struct vmbus_channel *ch;
	int open_status;
	int opens, closes, notifies;
	int drained;          /* packets drained by notify when drain_on_notify */
	bool drain_on_notify;
	bool send_on_open;
	void (*hook)(struct td *d); /* runs at the end of every notify */
};

static inline int td_open(struct vmbus_channel *ch)
{
	struct td *d = vmbus_chan_priv(ch);

	d->opens++;
	if (d->send_on_open && d->open_status == 0)
		vmbus_chan_send_inband(ch, 0, 0, "hello!!!", 8);
	return d->open_status;
}

static inline void td_notify(struct vmbus_channel *ch)
{
	struct td *d = vmbus_chan_priv(ch);
	struct vmbus_pkt pkt;

	d->notifies++;
	if (d->drain_on_notify)
		while (vmbus_chan_recv(ch, &pkt) == 1)
			d->drained++;
	if (d->hook)
		d->hook(d);
}

static inline void td_close(struct vmbus_channel *ch)
{
	struct td *d = vmbus_chan_priv(ch);

	d->closes++;
}

static const struct vmbus_channel_ops td_ops = {
	.open = td_open,
	.notify = td_notify,
	.close = td_close,
};

static inline struct vmbus_channel *td_offer_poll(struct th *t, struct td *d, uint8_t instance,
						  uint32_t max_pkt, bool every, uint32_t poll_us)
{
	struct vmbus_offer_params p = {
		.max_pkt_size = max_pkt,
		.signal_every_packet = every,
		.poll_us = poll_us,
	};

	memset(d, 0, sizeof(*d));
	p.if_type.b[0] = 0xAA;
	p.if_instance.b[0] = instance;
	d->ch = vmbus_offer(t->srv, &p, &td_ops, d);
	return d->ch;
}

static inline struct vmbus_channel *td_offer(struct th *t, struct td *d, uint8_t instance,
					     uint32_t max_pkt, bool every)
{
	return td_offer_poll(t, d, instance, max_pkt, every, 0);
}

#endif
