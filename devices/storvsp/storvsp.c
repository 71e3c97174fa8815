/* SPDX-License-Identifier: MIT */
/*
 * storvsp: the Hyper-V synthetic SCSI controller that Linux hv_storvsc
 * drives (facts §8).  The wire formats are in vmbusd/proto/storvsc.h, the
 * pure protocol (state machine, validation, completions) in storvsp_proto.c,
 * the disks, hot plug, control verbs and stats in storvsp_disk.c; this file
 * owns the channels, the requests in flight and the device lifecycle.
 *
 * Channels.  The primary is offered at create.  When the guest asks with
 * CREATE_SUB_CHANNELS, subchannels 1..n are offered with the same GUIDs;
 * I/O then arrives on any of them and each request is completed on the
 * channel it came in on.  When the primary closes (driver unbind, UNLOAD,
 * reset) the subchannels are rescinded, as Hyper-V does, and a later
 * CREATE_SUB_CHANNELS offers fresh ones.
 *
 * Requests.  Each EXECUTE_SRB becomes a struct storvsp_req that holds the
 * validated SRB, the guest's buffer as host iovecs (GPA-direct pages mapped
 * straight into the SCSI target: no bounce copy) and the struct scsi_cmd.
 * Completions go out in whatever order the target finishes them.  When the
 * host->guest ring is full the completion waits in the channel's queue and
 * is retried from notify (the guest signals once it has read); while
 * anything waits, and while STORVSP_MAX_INFLIGHT requests run, the channel
 * stops reading its ring, so the queue never holds more than the requests
 * in flight.  A request remembers its channel's generation: one that
 * finishes after the channel closed (or closed and reopened) is dropped,
 * and a channel object whose vmbus channel is gone lives on until its last
 * request is done.
 *
 * Guest memory after close.  A request's buffer is guest memory (no
 * bounce), so a channel's close — whatever causes it: CLOSECHANNEL,
 * rescind, RESET, the frontend detaching, the daemon stopping — cancels
 * every request of the channel still running (scsi_cmd_cancel ->
 * blk_cancel) before it returns, and it returns before vmbus unmaps the
 * rings or the partition lets go of guest RAM.  What may then still be
 * running is only the block system call already inside a buffer, which
 * blk_cancel waits for (blk.h).  Their completions come later and are
 * dropped by the generation check.
 *
 * Bounds.  A GPA-direct list may span at most max_transfer_bytes / 4096 + 1
 * pages (what the largest acceptable transfer needs; longer lists are
 * refused before anything is allocated), a channel runs at most
 * STORVSP_MAX_INFLIGHT requests and the controller STORVSP_MAX_INFLIGHT_DEV;
 * at a limit the channel leaves its ring unread until requests complete.
 * A notify handles at most VMBUS_NOTIFY_BUDGET packets, then yields to
 * the event loop (vmbus_chan_notify_later).
 *
 * Addressing.  One target: path 0, target 0, LUNs from the config
 * ("lun" per disk).  That is where Hyper-V puts a controller's disks and
 * what Linux tooling expects (host:0:0:lun).  Every other path/target of
 * storvsc's scan (paths 0-7 x targets 0-1) is an empty target: INQUIRY
 * answers PQ=3 (no phantom disk), REPORT LUNS an empty list, anything else
 * INVALID_LUN.
 *
 * Hot plug.  add-disk / remove-disk attach or detach a LUN (the target
 * queues REPORTED LUNS DATA HAS CHANGED on the other LUNs) and send the
 * unsolicited ENUMERATE_BUS (trans_id 0) that makes storvsc rescan
 * (facts §8.5).  A removed disk closes once its last command is done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guid.h"
#include "core/log.h"
#include "core/trace.h"
#include "core/util.h"
#include "devices/scsi/scsi.h"
#include "devices/registry.h"
#include "devices/storvsp/storvsp_internal.h"

struct storvsp_req {
	struct scsi_cmd cmd;
	struct storvsp_chan *chan;
	struct storvsp_disk *disk;    /* NULL when no LUN was there */
	uint32_t gen;
	uint64_t trans_id;
	bool want_completion;
	struct storvsp_srb srb;
	struct vstor_packet reply;
	struct storvsp_req *next;     /* on the channel's pending-completion queue */
	struct storvsp_req *lprev, *lnext; /* on the channel's live list while running */
	struct iovec iov[];
};

static void storvsp_chan_drain(struct storvsp_chan *c);
static const struct vmbus_channel_ops storvsp_channel_ops;

/* ---- channels and sends -------------------------------------------------- */

static struct storvsp_chan *storvsp_chan_new(struct storvsp_dev *d, uint16_t index)
{
	struct storvsp_chan *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->dev = d;
	c->index = index;
	/* The most pages a buffer of the largest acceptable transfer spans
	 * (it may start anywhere in its first page).  A page never yields
	 * more than one iovec, so this is also the most iovecs. */
	c->scratch_cap = (int)(d->proto.max_transfer_bytes / 4096 + 1);
	c->scratch = calloc((size_t)c->scratch_cap, sizeof(*c->scratch));
	if (!c->scratch) {
		free(c);
		return NULL;
	}
	return c;
}

static void storvsp_chan_free_if_idle(struct storvsp_chan *c)
{
	/* Only a channel whose vmbus side is gone and whose last request
	 * finished may go; until then completions still point to it. */
	if (c->ch || c->inflight > 0)
		return;
	free(c->scratch);
	free(c);
}

static void storvsp_req_free(struct storvsp_req *req)
{
	struct storvsp_chan *c = req->chan;

	free(req);
	storvsp_chan_free_if_idle(c);
}

static void storvsp_chan_drop_pending(struct storvsp_chan *c)
{
	while (c->pend_head) {
		struct storvsp_req *req = c->pend_head;

		c->pend_head = req->next;
		c->st.dropped++;
		free(req);
	}
	c->pend_tail = NULL;
	c->ctrl_pending = false;
	c->enum_pending = false;
}

/* An EXECUTE_SRB completion, through the storvsc.* fault classes that
 * mangle completions (docs/faults.md). */
static int storvsp_send_io_comp(struct storvsp_chan *c, struct storvsp_req *req)
{
	uint32_t len = req->srb.reply_len;

	/* Linux's requestor ids are small integers: this one was never sent. */
	if (vmbus_chan_fault(c->ch, FAULT_STORVSC_UNKNOWN_REQUEST_ID))
		vmbus_chan_send_comp(c->ch, 0xFFFFFFF0ull, &req->reply, len);
	/* Shorter than any vstor_packet (Linux: "Invalid packet len"). */
	if (vmbus_chan_fault(c->ch, FAULT_STORVSC_COMPLETION_SHORT))
		len = 8;
	return vmbus_chan_send_comp(c->ch, req->trans_id, &req->reply, len);
}

/* A READ or WRITE (6/10/12/16): what "the next I/O" of storvsc.srb_error
 * and storvsc.busy means (not INQUIRY, READ CAPACITY, ...). */
static bool storvsp_is_rw(const struct storvsp_srb *srb)
{
	switch (srb->cdb[0]) {
	case 0x08: case 0x0A: case 0x28: case 0x2A: case 0xA8: case 0xAA: case 0x88: case 0x8A:
		return srb->xfer_len > 0;
	default:
		return false;
	}
}

/* storvsc.srb_error / storvsc.busy: the next READ or WRITE fails with a
 * MEDIUM ERROR check condition, or BUSY. */
static void storvsp_fault_result(struct storvsp_chan *c, const struct storvsp_req *req,
				 struct storvsp_scsi_result *r)
{
	/* Fixed-format sense: key 3 MEDIUM ERROR, ASC/ASCQ 11/00 unrecovered
	 * read error (SPC-4 4.5.3). */
	static const uint8_t medium_error[18] = { 0x70, 0, 0x03, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x11 };

	if (!storvsp_is_rw(&req->srb) || r->lun_missing)
		return;
	if (vmbus_chan_fault(c->ch, FAULT_STORVSC_SRB_ERROR)) {
		r->scsi_status = 0x02;
		r->sense = medium_error;
		r->sense_len = sizeof(medium_error);
		r->transferred = 0;
	} else if (vmbus_chan_fault(c->ch, FAULT_STORVSC_BUSY)) {
		r->scsi_status = 0x08;
		r->sense = NULL;
		r->sense_len = 0;
		r->transferred = 0;
	}
}

/* Sends what waits for ring space.  true when nothing waits any more. */
static bool storvsp_chan_flush(struct storvsp_chan *c)
{
	int rc;

	if (c->ctrl_pending) {
		rc = vmbus_chan_send_comp(c->ch, c->ctrl_trans_id, &c->ctrl_reply, c->ctrl_len);
		if (rc == -EAGAIN)
			return false;
		if (rc)
			c->st.dropped++;
		c->ctrl_pending = false;
	}
	while (c->pend_head) {
		struct storvsp_req *req = c->pend_head;

		rc = storvsp_send_io_comp(c, req);
		if (rc == -EAGAIN)
			return false;
		if (rc)
			c->st.dropped++;
		c->pend_head = req->next;
		if (!c->pend_head)
			c->pend_tail = NULL;
		free(req);
	}
	if (c->enum_pending) {
		struct vstor_packet pkt;
		uint32_t len = storvsp_build_enumerate(c->dev->proto.version, &pkt);

		rc = vmbus_chan_send_inband(c->ch, 0, 0, &pkt, len);
		if (rc == -EAGAIN)
			return false;
		c->enum_pending = false;
		if (!rc)
			c->dev->enumerates++;
	}
	return true;
}

static void storvsp_send_reply(struct storvsp_chan *c, uint64_t trans_id,
			       const struct vstor_packet *reply, uint32_t len)
{
	int rc = -EAGAIN;

	if (!c->ctrl_pending)
		rc = vmbus_chan_send_comp(c->ch, trans_id, reply, len);
	if (rc == -EAGAIN) {
		/* The drain loop reads nothing while this waits, so one slot is
		 * enough; a second reply could only come from a bug. */
		if (c->ctrl_pending) {
			c->st.dropped++;
			return;
		}
		c->ctrl_pending = true;
		c->ctrl_trans_id = trans_id;
		c->ctrl_len = len;
		c->ctrl_reply = *reply;
		c->st.queued++;
	} else if (rc) {
		c->st.dropped++;
		log_guest("storvsp: relid %u: completion not sent: %s", vmbus_chan_relid(c->ch),
			  strerror(-rc));
	}
}

/* Tells the guest to rescan (hot plug).  Only once it is ready for I/O:
 * before that, its own scan after init sees the current LUNs anyway. */
void storvsp_notify_rescan(struct storvsp_dev *d)
{
	struct storvsp_chan *c = d->chans[0];

	if (!c || !c->open || d->proto.state != STORVSP_READY)
		return;
	c->enum_pending = true;
	storvsp_chan_drain(c);
}

/* ---- EXECUTE_SRB ----------------------------------------------------------- */

/* A slot of the controller's in-flight budget came free: channels that
 * stopped at it read on.  (A channel stopped at its own limit is resumed
 * by its own completions, at the end of storvsp_req_done.) */
static void storvsp_resume_throttled(struct storvsp_dev *d)
{
	if (d->inflight >= STORVSP_MAX_INFLIGHT_DEV)
		return;
	for (unsigned int i = 0; i <= d->n_sub; i++) {
		struct storvsp_chan *c = d->chans[i];

		if (c && c->dev_throttled) {
			c->dev_throttled = false;
			if (c->open)
				vmbus_chan_notify_later(c->ch);
		}
	}
}

static void storvsp_req_done(struct scsi_cmd *cmd)
{
	struct storvsp_req *req = container_of(cmd, struct storvsp_req, cmd);
	struct storvsp_chan *c = req->chan;
	struct storvsp_dev *d = c->dev;
	struct storvsp_disk *disk = req->disk;
	struct storvsp_scsi_result r = {
		.scsi_status = cmd->status,
		.lun_missing = cmd->lun_missing,
		.transferred = cmd->transferred,
		.sense = cmd->sense,
		.sense_len = cmd->sense_len,
	};
	uint8_t srb_status;
	int rc;

	/* Off the live list: its buffer is no longer in use. */
	if (req->lprev)
		req->lprev->lnext = req->lnext;
	else
		c->live = req->lnext;
	if (req->lnext)
		req->lnext->lprev = req->lprev;
	if (__builtin_expect(fault_class_mask != 0, 0))
		storvsp_fault_result(c, req, &r);
	storvsp_srb_complete(&req->srb, &r, &req->reply);
	srb_status = SRB_STATUS_CODE(req->reply.vm_srb.srb_status);
	if (srb_status == SRB_STATUS_INVALID_LUN)
		c->st.invalid_lun++;
	else if (srb_status != SRB_STATUS_SUCCESS)
		c->st.errors++;
	if (req->srb.data_in == VSTOR_DATA_IN)
		c->st.bytes_read += req->reply.vm_srb.data_transfer_length;
	else if (req->srb.data_in == VSTOR_DATA_OUT)
		c->st.bytes_written += req->reply.vm_srb.data_transfer_length;

	c->inflight--;
	d->inflight--;
	if (disk && --disk->inflight == 0 && !disk->attached && !disk->closing)
		storvsp_disk_idle(disk);
	storvsp_resume_throttled(d);

	/* A capture holds what a read put into the guest's pages, ahead of
	 * the completion, so a replay can put it into the new guest's pages
	 * for the same request (proto/trace.h, "Data records"). */
	if (trace_active() && req->srb.data_in == VSTOR_DATA_IN && cmd->transferred && c->open &&
	    req->gen == c->gen)
		trace_emit_iov(VMBUS_TRACE_DATA_OUT, vmbus_chan_relid(c->ch), 0, 0,
			       req->trans_id, req->iov, req->cmd.iovcnt, cmd->transferred);
	if (!req->want_completion || !c->open || req->gen != c->gen) {
		if (req->want_completion)
			c->st.dropped++;
		storvsp_req_free(req);
		return;
	}
	rc = -EAGAIN;
	if (!c->pend_head && !c->ctrl_pending)
		rc = storvsp_send_io_comp(c, req);
	if (rc == -EAGAIN) {
		req->next = NULL;
		if (c->pend_tail)
			c->pend_tail->next = req;
		else
			c->pend_head = req;
		c->pend_tail = req;
		c->st.queued++;
	} else {
		if (rc)
			c->st.dropped++;
		free(req);
	}
	/* A request slot came free: read on if the ring was left at the limit. */
	storvsp_chan_drain(c);
}

static int storvsp_iov_trim(struct iovec *iov, int n, uint64_t len)
{
	int i;

	for (i = 0; i < n && len > 0; i++) {
		if (iov[i].iov_len > len)
			iov[i].iov_len = (size_t)len;
		len -= iov[i].iov_len;
	}
	return i;
}

static void storvsp_execute(struct storvsp_chan *c, const struct vmbus_pkt *pkt,
			    const struct storvsp_srb *srb, int niov)
{
	struct storvsp_dev *d = c->dev;
	bool on_target = srb->path_id == 0 && srb->target_id == 0;
	struct storvsp_req *req;

	req = calloc(1, sizeof(*req) + (size_t)(niov > 0 ? niov : 0) * sizeof(struct iovec));
	if (!req) {
		/* BUSY: Linux's midlayer retries. */
		struct vstor_packet reply;

		storvsp_srb_refuse(srb, SRB_STATUS_BUSY, VSTOR_STATUS_DEVICE_BUSY, &reply);
		if (pkt->flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED)
			storvsp_send_reply(c, pkt->trans_id, &reply, srb->reply_len);
		return;
	}
	req->chan = c;
	req->gen = c->gen;
	req->trans_id = pkt->trans_id;
	req->want_completion = pkt->flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED;
	req->srb = *srb;
	if (srb->xfer_len > 0 && niov > 0) {
		memcpy(req->iov, c->scratch, (size_t)niov * sizeof(struct iovec));
		req->cmd.iov = req->iov;
		req->cmd.iovcnt = storvsp_iov_trim(req->iov, niov, srb->xfer_len);
	}
	req->cmd.cdb = req->srb.cdb;
	req->cmd.cdb_len = req->srb.cdb_len;
	req->cmd.dir = srb->data_in == VSTOR_DATA_IN ? SCSI_DIR_READ :
		       srb->data_in == VSTOR_DATA_OUT ? SCSI_DIR_WRITE : SCSI_DIR_NONE;
	req->cmd.data_len = srb->xfer_len;
	req->cmd.done = storvsp_req_done;
	req->cmd.opaque = req;
	/* lun is the guest's byte (0..255); disks[] covers it all. */
	if (on_target && d->disks[srb->lun] && d->disks[srb->lun]->attached) {
		req->disk = d->disks[srb->lun];
		req->disk->inflight++;
	}
	c->inflight++;
	d->inflight++;
	c->st.requests++;
	req->lnext = c->live;
	if (c->live)
		c->live->lprev = req;
	c->live = req;
	if (trace_active() && req->cmd.dir == SCSI_DIR_WRITE)
		trace_emit_iov(VMBUS_TRACE_DATA_IN, vmbus_chan_relid(c->ch), 0, 0,
			       req->trans_id, req->iov, req->cmd.iovcnt, srb->xfer_len);
	/* done() may run before this returns (commands without I/O). */
	scsi_target_execute(on_target ? d->target : d->empty, srb->lun, &req->cmd);
}

/* ---- packet handling and the notify loop --------------------------------- */

/* Decodes a GPA-direct buffer into c->scratch: the iovec count, or < 0
 * (-E2BIG for a list longer than any acceptable transfer needs: refused
 * as malformed, so a guest cannot make us hold a translation per page of
 * a huge list). */
static int storvsp_decode_buffer(struct storvsp_chan *c, const struct vmbus_pkt *pkt,
				 uint64_t *total)
{
	return vmbus_pkt_gpa_direct_iov(pkt, vmbus_chan_gmem(c->ch), c->scratch, c->scratch_cap,
					total);
}

static int storvsp_grant_subchannels(struct storvsp_dev *d, unsigned int count)
{
	while (d->n_sub < count) {
		struct vmbus_offer_params p = d->offer;
		struct storvsp_chan *sc;

		p.sub_channel_index = (uint16_t)(d->n_sub + 1);
		sc = storvsp_chan_new(d, p.sub_channel_index);
		if (!sc)
			return -ENOMEM;
		sc->ch = vmbus_offer(d->srv, &p, &storvsp_channel_ops, sc);
		if (!sc->ch) {
			free(sc);
			return -ENOSPC;
		}
		d->chans[++d->n_sub] = sc;
	}
	return 0;
}

static void storvsp_handle_packet(struct storvsp_chan *c, const struct vmbus_pkt *pkt)
{
	struct storvsp_dev *d = c->dev;
	struct storvsp_input in = {
		.pkt_type = pkt->type,
		.want_completion = pkt->flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED,
		.primary = c->index == 0,
		.data = pkt->data,
		.len = pkt->data_len,
	};
	struct storvsp_decision dec;
	int niov = 0;

	c->st.packets++;
	if (pkt->type == VM_PKT_DATA_USING_GPA_DIRECT) {
		niov = storvsp_decode_buffer(c, pkt, &in.buffer_len);
		if (niov < 0) {
			in.buffer_bad = true;
			in.buffer_len = 0;
		}
	}
	storvsp_proto_dispatch(&d->proto, &in, &dec);
	switch (dec.fault) {
	case STORVSP_FAULT_NONE:
		break;
	case STORVSP_FAULT_MALFORMED:
		c->st.malformed++;
		break;
	case STORVSP_FAULT_WRONG_STATE:
		c->st.wrong_state++;
		break;
	case STORVSP_FAULT_UNSUPPORTED:
		c->st.unsupported++;
		break;
	}
	/* The operation's own limiter (its table row), so a flood of one
	 * refused operation does not hide another's first line. */
	if (dec.fault != STORVSP_FAULT_NONE)
		log_guest_rl(dec.rl, "storvsp %s: channel %u: %s (op %u %s, type %u, %u bytes): refused",
			     d->path, c->index, dec.why, dec.operation,
			     storvsp_op_name(dec.operation), pkt->type, pkt->data_len);

	switch (dec.verdict) {
	case STORVSP_DROP:
		return;
	case STORVSP_REPLY:
		storvsp_send_reply(c, pkt->trans_id, &dec.reply, dec.reply_len);
		return;
	case STORVSP_SUBCHANNELS:
		/* Answer first, then offer: Linux set its sc_creation callback
		 * before asking, so the order is free; this is Hyper-V's. */
		if (d->n_sub < dec.subchannels) {
			int rc = storvsp_grant_subchannels(d, dec.subchannels);

			if (rc) {
				log_warn("storvsp %s: only %u of %u subchannels offered: %s", d->path,
					 d->n_sub, dec.subchannels, strerror(-rc));
				d->proto.subchannels = (uint16_t)d->n_sub;
				dec.reply.status = VSTOR_STATUS_UNSUCCESSFUL;
			}
		}
		if (in.want_completion)
			storvsp_send_reply(c, pkt->trans_id, &dec.reply, dec.reply_len);
		return;
	case STORVSP_EXECUTE:
		storvsp_execute(c, pkt, &dec.srb, niov);
		return;
	}
}

static void storvsp_chan_drain(struct storvsp_chan *c)
{
	struct vmbus_pkt pkt;

	if (c->in_drain)
		return;
	c->in_drain = true;
	for (unsigned int n = 0; c->open; n++) {
		if (!storvsp_chan_flush(c))
			break;  /* the guest signals when it has read */
		if (c->inflight >= STORVSP_MAX_INFLIGHT) {
			c->st.throttled++;
			break;  /* storvsp_req_done() comes back here */
		}
		if (c->dev->inflight >= STORVSP_MAX_INFLIGHT_DEV) {
			c->st.throttled++;
			c->dev_throttled = true;
			break;  /* storvsp_resume_throttled() comes back */
		}
		if (n == VMBUS_NOTIFY_BUDGET) {
			vmbus_chan_notify_later(c->ch);
			break;  /* the other channels and the loop get a turn */
		}
		if (vmbus_chan_recv(c->ch, &pkt) <= 0)
			break;
		storvsp_handle_packet(c, &pkt);
	}
	c->in_drain = false;
}

static void storvsp_chan_notify(struct vmbus_channel *ch)
{
	storvsp_chan_drain(vmbus_chan_priv(ch));
}

static int storvsp_chan_open(struct vmbus_channel *ch)
{
	struct storvsp_chan *c = vmbus_chan_priv(ch);

	c->open = true;
	if (c->index == 0)
		storvsp_proto_reset(&c->dev->proto);
	return 0;
}

static void storvsp_rescind_subchannels(struct storvsp_dev *d)
{
	while (d->n_sub > 0) {
		struct storvsp_chan *sc = d->chans[d->n_sub];
		struct vmbus_channel *ch = sc->ch;

		d->chans[d->n_sub--] = NULL;
		vmbus_rescind(ch);   /* closes it first: storvsp_chan_close() */
		sc->ch = NULL;
		storvsp_chan_free_if_idle(sc);
	}
	d->proto.subchannels = 0;
}

/* The channel's guest memory is going away: no request of it may touch its
 * buffer any more (see "Guest memory after close" at the top). */
static void storvsp_chan_cancel_io(struct storvsp_chan *c)
{
	/* scsi_cmd_cancel never completes a command inside the call, so the
	 * list does not change under the walk. */
	for (struct storvsp_req *req = c->live; req; req = req->lnext)
		scsi_cmd_cancel(&req->cmd);
}

static void storvsp_chan_close(struct vmbus_channel *ch)
{
	struct storvsp_chan *c = vmbus_chan_priv(ch);

	c->open = false;
	c->dev_throttled = false;
	c->gen++;      /* requests still running complete into nothing */
	storvsp_chan_cancel_io(c);
	storvsp_chan_drop_pending(c);
	if (c->index == 0) {
		/* The controller starts over; its subchannels go with it. */
		storvsp_proto_reset(&c->dev->proto);
		storvsp_rescind_subchannels(c->dev);
	}
}

static const struct vmbus_channel_ops storvsp_channel_ops = {
	.open = storvsp_chan_open,
	.notify = storvsp_chan_notify,
	.close = storvsp_chan_close,
};

/* ---- lifecycle ----------------------------------------------------------------- */

static void storvsp_destroy(void *opaque)
{
	struct storvsp_dev *d = opaque;

	/* Channels first (subchannels with the primary): no new requests, and
	 * completions from here on go nowhere. */
	if (d->chans[0]) {
		struct storvsp_chan *c = d->chans[0];
		struct vmbus_channel *ch = c->ch;

		vmbus_rescind(ch);
		storvsp_rescind_subchannels(d); /* when the primary was not open */
		c->ch = NULL;
		d->chans[0] = NULL;
		storvsp_chan_free_if_idle(c);
	}
	/* Then the disks: closing a backend completes its requests, which
	 * frees them and the channel objects they kept alive. */
	storvsp_disks_close_all(d);
	if (d->target)
		scsi_target_destroy(d->target);
	if (d->empty)
		scsi_target_destroy(d->empty);
	if (d->inflight) {
		/* Cannot happen with the blk contract; leak rather than let a
		 * late completion touch freed memory. */
		log_error("storvsp %s: %u requests still in flight at destroy", d->path, d->inflight);
		return;
	}
	free(d);
}

static int storvsp_create(struct vmbus_server *srv, const json_t *config, const char *path,
			  void **out, struct json_err *err)
{
	static const char *const keys[] = { "instance", "controller", "subchannels",
					    "max_transfer_bytes", "disks", "class", "poll_us", NULL };
	static unsigned int next_controller;
	uint64_t subchannels = STORVSP_DEFAULT_SUBCHANNELS, max_transfer = STORVSP_DEFAULT_MAX_TRANSFER;
	uint64_t controller, poll_us = STORVSP_DEFAULT_POLL_US;
	const json_t *disks, *disk;
	struct storvsp_dev *d;
	char text[GUID_STR_LEN];
	const char *cls = "scsi";
	bool ide;
	size_t i;
	int rc;

	/* Controllers are numbered in configuration order unless numbered
	 * explicitly; the number picks the stable default instance GUID. */
	controller = next_controller;
	if ((rc = json_check_keys(config, path, keys, err)) ||
	    (rc = json_get_u64(config, path, "controller", false, 0, 0xFFFF, &controller, err)) ||
	    (rc = json_get_u64(config, path, "subchannels", false, 0, STORVSP_MAX_SUBCHANNELS,
			       &subchannels, err)) ||
	    (rc = json_get_u64(config, path, "max_transfer_bytes", false, 4096,
			       SCSI_MAX_TRANSFER_BYTES, &max_transfer, err)) ||
	    (rc = json_get_string(config, path, "class", false, &cls, err)) ||
	    (rc = json_get_u64(config, path, "poll_us", false, 0, 10000, &poll_us, err)))
		return rc;
	ide = !strcmp(cls, "ide");
	if (!ide && strcmp(cls, "scsi"))
		return json_fail(err, path, "class", "\"%s\" is not \"scsi\" or \"ide\"", cls);
	/* Hyper-V's IDE controllers are single-channel; Linux would take
	 * subchannels if offered, but no Hyper-V guest has seen them. */
	if (ide && !json_object_get(config, "subchannels"))
		subchannels = 0;
	if (ide && subchannels)
		return json_fail(err, path, "subchannels", "an IDE controller has no subchannels");
	if (ide && json_array_size(json_object_get(config, "disks")) > 1)
		return json_fail(err, path, "disks", "an IDE controller serves one disk (LUN 0): "
				 "Linux adds only that one");
	if (max_transfer % 4096)
		return json_fail(err, path, "max_transfer_bytes", "must be a multiple of 4096");
	disks = json_object_get(config, "disks");
	if (disks && !json_is_array(disks))
		return json_fail(err, path, "disks", "must be an array of disk objects");

	d = calloc(1, sizeof(*d));
	if (!d)
		return json_fail(err, path, NULL, "out of memory");
	d->srv = srv;
	d->base = vmbus_server_base(srv);
	snprintf(d->path, sizeof(d->path), "%s", path);
	storvsp_proto_init(&d->proto, (uint16_t)subchannels, (uint32_t)max_transfer);
	d->ide = ide;
	guid_parse(ide ? STORVSC_IDE_CLASS_GUID_STR : STORVSC_SCSI_CLASS_GUID_STR, &d->offer.if_type);
	/* A stable default per controller, so guest device paths stay put;
	 * for IDE with bytes 4-5 zero: Linux's target for the disk. */
	next_controller = (unsigned int)controller + 1;
	d->controller = (unsigned int)controller;
	snprintf(text, sizeof(text), ide ? "d34b2567-0000-4a1d-8778-0a4ec0b9%04x"
					 : "d34b2567-b9b6-42b9-8778-0a4ec0b9%04x", d->controller);
	guid_parse(text, &d->offer.if_instance);
	d->offer.max_pkt_size = STORVSC_MAX_PKT_SIZE;
	d->offer.poll_us = (uint32_t)poll_us;
	if ((rc = json_get_guid(config, path, "instance", false, &d->offer.if_instance, err)))
		goto fail;
	if (ide && (d->offer.if_instance.b[4] || d->offer.if_instance.b[5])) {
		rc = json_fail(err, path, "instance", "an IDE controller's instance needs 0000 as its "
			       "second group (Linux adds the disk at target = those bytes; IDE has "
			       "target 0 only)");
		goto fail;
	}
	d->target = scsi_target_create();
	d->empty = scsi_target_create();
	if (!d->target || !d->empty) {
		rc = json_fail(err, path, NULL, "out of memory");
		goto fail;
	}
	json_array_foreach(disks, i, disk) {
		char dpath[96];
		unsigned int lun;

		snprintf(dpath, sizeof(dpath), "%s.disks[%zu]", path, i);
		if ((rc = storvsp_disk_add(d, disk, dpath, (unsigned int)MIN(i, STORVSP_MAX_LUN), false,
					   &lun, err)))
			goto fail;
		if (ide && lun != 0) {
			rc = json_fail(err, dpath, "lun", "an IDE controller's disk is LUN 0");
			goto fail;
		}
	}
	d->chans[0] = storvsp_chan_new(d, 0);
	if (!d->chans[0]) {
		rc = json_fail(err, path, NULL, "out of memory");
		goto fail;
	}
	d->chans[0]->ch = vmbus_offer(srv, &d->offer, &storvsp_channel_ops, d->chans[0]);
	if (!d->chans[0]->ch) {
		int e = errno;

		free(d->chans[0]);
		d->chans[0] = NULL;
		rc = json_fail(err, path, "instance", "%s", vmbus_offer_strerror(e));
		goto fail;
	}
	*out = d;
	return 0;
fail:
	storvsp_destroy(d);
	return rc;
}

const struct vmbus_device_ops storvsp_ops = {
	.name = "storvsp",
	.class_guid = STORVSC_SCSI_CLASS_GUID_STR,
	.guest_driver = "hv_storvsc",
	.monitored = true,       /* Hyper-V gives storage channels a monitor id */
	.description = "synthetic SCSI controller (Linux hv_storvsc)",
	.create = storvsp_create,
	.destroy = storvsp_destroy,
	.control = storvsp_control,
	.stats = storvsp_stats,
};
