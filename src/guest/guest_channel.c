/* SPDX-License-Identifier: MIT */
/*
 * Channels, guest side (facts §5.3-§6): GPADLs split into a header of at
 * most 26 PFNs and bodies of at most 28, the ring GPADL and ring init
 * between GPADL_CREATED and OPENCHANNEL, close and teardown, and packet
 * I/O with Linux's signalling (vmbus_setevent).
 */
#include "guest/guest.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "vmbusd/proto/bench.h"

static const struct {
	const char *class_str;
	const char *name;
} device_names[] = {
	{ "57164f39-9115-4e78-ab55-382f3bd5422d", "heartbeat" },
	{ "0e0b6031-5213-4934-818b-38d90ced39db", "shutdown" },
	{ "9527e630-d0ae-497b-adce-e80ab0175caf", "timesync" },
	{ "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6", "kvp" },
	{ "35fa2e29-ea23-4236-96ae-3a6ebacba440", "vss" },
	{ "34d14be3-dee4-41c8-9ae7-6b174977c192", "fcopy" },
	{ "f8615163-df3e-46c5-913f-f2d2f965ed0e", "network" },
	{ "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f", "scsi" },
	{ "32412632-86cb-44a2-9b5c-50d1417354f5", "ide" },
	{ "525074dc-8985-46e2-8057-a307dc18a502", "dynmem" },
	{ "2f9bcc4a-0069-4af3-b76b-6fd0be528cda", "fc" },
	{ BENCH_CLASS_GUID_STR, "bench" },
};

const char *guest_channel_device_name(const char *class_str)
{
	for (size_t i = 0; i < ARRAY_SIZE(device_names); i++)
		if (!strcasecmp(device_names[i].class_str, class_str))
			return device_names[i].name;
	return "unknown";
}

struct guest_channel *guest_channel_find(struct guest *g, const char *class_str, unsigned int nth)
{
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct guest_channel *ch = g->chan[relid];

		if (ch && !ch->rescinded && !strcasecmp(ch->class_str, class_str) && nth-- == 0)
			return ch;
	}
	return NULL;
}

int guest_channel_gpadl_create(struct guest *g, struct guest_channel *ch, uint64_t gpa,
			       uint32_t n_pages, uint32_t *handle)
{
	uint8_t buf[VMBUS_MSG_MAX];
	struct vmbus_msg_gpadl_header *hdr = (void *)buf;
	struct vmbus_gpa_range range;
	uint64_t pfn = gpa >> HV_PAGE_SHIFT;
	uint32_t done, k;
	int ret;

	/* range_buflen is a u16: 8 + 8 * n must fit (Linux truncates it
	 * silently beyond 8190 pages; refuse instead). */
	if (n_pages == 0 || 8u + 8u * (uint64_t)n_pages > UINT16_MAX)
		return -E2BIG;
	*handle = g->next_gpadl++;

	memset(buf, 0, sizeof(buf));
	hdr->header.msgtype = CHANNELMSG_GPADL_HEADER;
	hdr->child_relid = ch->relid;
	hdr->gpadl = *handle;
	hdr->range_buflen = (uint16_t)(8u + 8u * n_pages);
	hdr->rangecount = 1;
	range.byte_count = n_pages * HV_PAGE_SIZE;
	range.byte_offset = 0;
	memcpy(buf + sizeof(*hdr), &range, sizeof(range));
	k = MIN(n_pages, VMBUS_GPADL_HEADER_MAX_PFNS);
	for (uint32_t i = 0; i < k; i++) {
		uint64_t p = pfn + i;

		memcpy(buf + sizeof(*hdr) + sizeof(range) + 8u * i, &p, 8);
	}
	/* Expect before posting: the reply may race the last body. */
	guest_vmbus_expect(g, CHANNELMSG_GPADL_CREATED, ch->relid, *handle);
	ret = guest_vmbus_post(g, buf, (uint32_t)(sizeof(*hdr) + sizeof(range) + 8u * k));
	for (done = k; ret == 0 && done < n_pages; done += k) {
		struct vmbus_msg_gpadl_body *body = (void *)buf;

		memset(buf, 0, sizeof(buf));
		body->header.msgtype = CHANNELMSG_GPADL_BODY;
		body->msgnumber = 0; /* Linux leaves it 0 */
		body->gpadl = *handle;
		k = MIN(n_pages - done, VMBUS_GPADL_BODY_MAX_PFNS);
		for (uint32_t i = 0; i < k; i++) {
			uint64_t p = pfn + done + i;

			memcpy(buf + sizeof(*body) + 8u * i, &p, 8);
		}
		ret = guest_vmbus_post(g, buf, (uint32_t)(sizeof(*body) + 8u * k));
	}
	if (ret) {
		g->pending.want = 0;
		return ret;
	}
	ret = guest_vmbus_wait_pending(g, "GPADL_CREATED");
	if (ret)
		return ret;
	if (g->pending.status == UINT32_MAX)
		return -ENODEV; /* rescinded meanwhile */
	if (g->pending.status != 0) {
		guest_error(g, "gpadl", "GPADL %#x on relid %u refused, creation_status %#x",
			    *handle, ch->relid, g->pending.status);
		return -EDQUOT;
	}
	return 0;
}

int guest_channel_gpadl_teardown(struct guest *g, struct guest_channel *ch, uint32_t handle)
{
	struct vmbus_msg_gpadl_teardown msg = {
		.header.msgtype = CHANNELMSG_GPADL_TEARDOWN,
		.child_relid = ch->relid,
		.gpadl = handle,
	};
	int ret;

	/* vmbus_teardown_gpadl posts nothing for a rescinded channel. */
	if (ch->rescinded)
		return 0;
	guest_vmbus_expect(g, CHANNELMSG_GPADL_TORNDOWN, ch->relid, handle);
	ret = guest_vmbus_post(g, &msg, sizeof(msg));
	if (ret) {
		g->pending.want = 0;
		return ret;
	}
	return guest_vmbus_wait_pending(g, "GPADL_TORNDOWN");
}

static void channel_free_ring(struct guest *g, struct guest_channel *ch)
{
	if (ch->ring_gpa)
		guest_mem_free(&g->mem, ch->ring_gpa, ch->ring_pages);
	ch->ring_gpa = 0;
	ch->ring_pages = 0;
	free(ch->rxbuf);
	ch->rxbuf = NULL;
}

int guest_channel_open(struct guest *g, struct guest_channel *ch, uint32_t ring_bytes,
		       uint32_t max_pkt, uint32_t target_vp)
{
	struct vmbus_msg_open_channel msg;
	uint32_t each = ring_bytes / HV_PAGE_SIZE;
	uint8_t *base;
	int ret;

	if (ch->open || ch->rescinded || each < 2 || target_vp >= g->att.n_vcpus)
		return -EINVAL;
	ch->ring_pages = 2 * each;
	ch->send_pages = each;
	ch->ring_gpa = guest_mem_alloc(&g->mem, ch->ring_pages);
	ch->max_pkt = max_pkt;
	ch->rxbuf = calloc(1, max_pkt);
	if (!ch->ring_gpa || !ch->rxbuf) {
		channel_free_ring(g, ch);
		return -ENOMEM;
	}
	ret = guest_channel_gpadl_create(g, ch, ch->ring_gpa, ch->ring_pages, &ch->ring_gpadl);
	if (ret) {
		channel_free_ring(g, ch);
		return ret;
	}
	/* hv_ringbuffer_init: after GPADL_CREATED, before OPENCHANNEL. */
	base = guest_mem_ptr(&g->mem, ch->ring_gpa, (uint64_t)ch->ring_pages * HV_PAGE_SIZE);
	guest_ring_setup(&ch->out, base, each * HV_PAGE_SIZE, max_pkt);
	guest_ring_setup(&ch->in, base + (size_t)each * HV_PAGE_SIZE, each * HV_PAGE_SIZE, max_pkt);
	guest_ring_init_header(&ch->out);
	guest_ring_init_header(&ch->in);
	ch->target_vp = target_vp;

	memset(&msg, 0, sizeof(msg));
	msg.header.msgtype = CHANNELMSG_OPENCHANNEL;
	msg.child_relid = ch->relid;
	msg.openid = ch->relid;
	msg.ringbuffer_gpadl = ch->ring_gpadl;
	msg.target_vp = g->cpu[target_vp].vp_index;
	msg.downstream_ring_offset = each;
	guest_vmbus_expect(g, CHANNELMSG_OPENCHANNEL_RESULT, ch->relid, ch->relid);
	ret = guest_vmbus_post(g, &msg, sizeof(msg));
	if (ret)
		g->pending.want = 0;
	else
		ret = guest_vmbus_wait_pending(g, "OPENCHANNEL_RESULT");
	if (!ret && g->pending.status == UINT32_MAX)
		ret = -ENODEV;
	if (!ret && g->pending.status != 0) {
		guest_emit(g, json_pack("{s:s, s:i, s:s, s:i}", "event", "open_failed", "relid",
					(json_int_t)ch->relid, "device", ch->device, "status",
					(json_int_t)g->pending.status));
		ret = -EAGAIN;
	}
	if (ret) {
		if (ret != -ECONNRESET && ret != -ETIMEDOUT)
			guest_channel_gpadl_teardown(g, ch, ch->ring_gpadl);
		channel_free_ring(g, ch);
		return ret;
	}
	ch->open = true;
	ch->ring_error_reported = false;
	guest_emit(g, json_pack("{s:s, s:i, s:s, s:i, s:i, s:i}", "event", "opened", "relid",
				(json_int_t)ch->relid, "device", ch->device, "gpadl",
				(json_int_t)ch->ring_gpadl, "target_vp", (json_int_t)msg.target_vp,
				"ring_bytes", (json_int_t)ring_bytes));
	return 0;
}

int guest_channel_close(struct guest *g, struct guest_channel *ch)
{
	struct vmbus_msg_relid msg = { .header.msgtype = CHANNELMSG_CLOSECHANNEL,
				       .child_relid = ch->relid };
	int ret;

	if (!ch->open)
		return 0;
	ch->open = false;
	ch->event_pending = false;
	ret = guest_vmbus_post(g, &msg, sizeof(msg));
	if (!ret)
		ret = guest_channel_gpadl_teardown(g, ch, ch->ring_gpadl);
	if (ch->drv_free && ch->drv)
		ch->drv_free(ch->drv);
	ch->drv = NULL;
	ch->drv_free = NULL;
	ch->on_event = NULL;
	/* After a failed teardown the host may still use the pages: leak
	 * them rather than hand them out again. */
	if (!ret)
		channel_free_ring(g, ch);
	guest_emit(g, json_pack("{s:s, s:i, s:s}", "event", "closed", "relid", (json_int_t)ch->relid,
				"device", ch->device));
	return ret;
}

int guest_channel_signal(struct guest *g, struct guest_channel *ch)
{
	uint64_t status = 0;
	int ret;

	if ((ch->offer.monitor_allocated & 1) && !g->opts.monitor_hypercall) {
		/* Monitored channel: Linux sets the relid bit in the send
		 * interrupt page and the monitor trigger bit, no hypercall. */
		uint8_t *intp = guest_mem_ptr(&g->mem, g->int_page_gpa, HV_PAGE_SIZE);
		uint8_t *mon = guest_mem_ptr(&g->mem, g->monitor_gpa + HV_PAGE_SIZE, HV_PAGE_SIZE);
		uint32_t grp = ch->offer.monitorid / 32u, bit = ch->offer.monitorid % 32u;

		if (intp)
			atomic_fetch_or((_Atomic uint8_t *)(void *)(intp + HV_PAGE_SIZE / 2 + ch->relid / 8),
					(uint8_t)(1u << (ch->relid % 8)));
		if (mon && grp < 4)
			atomic_fetch_or((_Atomic uint32_t *)(void *)(mon + 8 + grp * 8), 1u << bit);
		ch->n_signals++;
		return 0;
	}
	if (!(ch->offer.is_dedicated_interrupt & 1)) {
		uint8_t *intp = guest_mem_ptr(&g->mem, g->int_page_gpa, HV_PAGE_SIZE);

		if (intp)
			atomic_fetch_or((_Atomic uint8_t *)(void *)(intp + HV_PAGE_SIZE / 2 + ch->relid / 8),
					(uint8_t)(1u << (ch->relid % 8)));
	}
	ch->n_signals++;
	/* The callback runs on the channel's target CPU, so it signals from
	 * there; the return value is ignored, as in Linux. */
	ret = guest_attach_signal_event(&g->att, ch->target_vp, ch->conn_id, &status);
	return ret;
}

static void channel_report_ring(struct guest *g, struct guest_channel *ch, struct guest_ring *r,
				const char *dir)
{
	if (ch->ring_error_reported)
		return;
	ch->ring_error_reported = true;
	guest_error(g, "ring", "relid %u %s ring: %s", ch->relid, dir, r->error ? r->error : "broken");
}

int guest_channel_send(struct guest *g, struct guest_channel *ch, uint16_t type, uint16_t flags,
		       uint64_t trans_id, const void *payload, uint32_t len)
{
	bool sig = false;
	int ret;

	if (!ch->open)
		return -ENOTCONN;
	ret = guest_ring_send(&ch->out, type, flags, trans_id, payload, len, &sig);
	if (ret == -EAGAIN && guest_ring_send_pending(&ch->out)) {
		/* A burst's packets are all the host can free room by reading:
		 * let it see them before the caller waits. */
		if (guest_ring_send_flush(&ch->out))
			guest_channel_signal(g, ch);
		return ret;
	}
	if (ret == -EIO)
		channel_report_ring(g, ch, &ch->out, "guest->host");
	if (ret)
		return ret;
	if (sig)
		guest_channel_signal(g, ch);
	return 0;
}

void guest_channel_send_begin(struct guest_channel *ch)
{
	guest_ring_send_begin(&ch->out);
}

void guest_channel_send_end(struct guest *g, struct guest_channel *ch)
{
	if (ch->open && guest_ring_send_end(&ch->out))
		guest_channel_signal(g, ch);
}

void guest_channel_recv_begin(struct guest_channel *ch)
{
	guest_ring_recv_begin(&ch->in);
}

void guest_channel_recv_end(struct guest *g, struct guest_channel *ch)
{
	if (ch->open && guest_ring_recv_end(&ch->in))
		guest_channel_signal(g, ch);
}

int guest_channel_recv(struct guest *g, struct guest_channel *ch, struct guest_ring_pkt *pkt)
{
	bool sig = false;
	int ret;

	if (!ch->open)
		return -ENOTCONN;
	ret = guest_ring_recv(&ch->in, ch->rxbuf, ch->max_pkt, pkt, &sig);
	if (sig)
		guest_channel_signal(g, ch);
	if (ch->in.bad_pending) {
		guest_error(g, "ring", "relid %u host->guest ring: pending_send_sz %u beyond the "
			    "%u-byte ring; no signal sent", ch->relid, ch->in.bad_pending, ch->in.size);
		ch->in.bad_pending = 0;
	}
	if (ret == -EIO)
		channel_report_ring(g, ch, &ch->in, "host->guest");
	else if (ret == -EMSGSIZE)
		guest_error(g, "ring", "relid %u: %u-byte packet exceeds max_pkt_size %u "
			    "(Linux would truncate it and desynchronise); skipped",
			    ch->relid, pkt->len, ch->max_pkt);
	return ret;
}
