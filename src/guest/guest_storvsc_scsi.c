/* SPDX-License-Identifier: MIT */
/*
 * guest_storvsc_scsi: the SCSI side of the synthetic storvsc.  SRBs as
 * storvsc_queuecommand builds them, completions decoded and checked,
 * one command waited for (unit attentions retried like the midlayer),
 * data patterns, and the batch engine: many requests in flight over
 * every channel, completions in any order.
 */
#include "guest/guest_storvsc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* ---- SCSI helpers ---------------------------------------------------------------- */

void sc_srb_fill(struct vstor_packet *vp, uint8_t lun, const uint8_t *cdb, uint8_t cdb_len,
		 uint8_t data_in, uint32_t len)
{
	struct vmscsi_request *r = &vp->vm_srb;

	/* storvsc_queuecommand + storvsc_do_io. */
	memset(vp, 0, sizeof(*vp));
	vp->operation = VSTOR_OP_EXECUTE_SRB;
	vp->flags = VSTOR_FLAG_REQUEST_COMPLETION;
	r->length = sizeof(*r);
	r->lun = lun;
	r->cdb_length = cdb_len;
	r->sense_info_length = VSTOR_SENSE_SIZE;
	r->data_in = data_in;
	r->data_transfer_length = len;
	memcpy(r->cdb, cdb, MIN(cdb_len, (uint8_t)VSTOR_CDB_MAX));
	r->time_out_value = 60;
	r->queue_tag = 0xFF;      /* SP_UNTAGGED */
	r->queue_action = 0x20;   /* SRB_SIMPLE_TAG_REQUEST */
	r->srb_flags = SRB_FLAGS_QUEUE_ACTION_ENABLE | SRB_FLAGS_DISABLE_SYNCH_TRANSFER |
		       (data_in == VSTOR_DATA_OUT ? SRB_FLAGS_DATA_OUT :
			data_in == VSTOR_DATA_IN ? SRB_FLAGS_DATA_IN :
			SRB_FLAGS_DATA_IN | SRB_FLAGS_DATA_OUT);
}

static void sc_parse_sense(struct sc_result *r)
{
	const uint8_t *s = r->sense;
	uint8_t code = s[0] & 0x7F;

	r->key = r->asc = r->ascq = -1;
	if (r->sense_len < 3)
		return;
	if (code == 0x72 || code == 0x73) {
		r->key = s[1] & 0xF;
		r->asc = s[2];
		r->ascq = s[3];
	} else if (code == 0x70 || code == 0x71) {
		r->key = s[2] & 0xF;
		r->asc = r->sense_len > 12 ? s[12] : -1;
		r->ascq = r->sense_len > 13 ? s[13] : -1;
	}
}

/* Decodes a completion and checks what Linux relies on. */
void sc_decode(struct sc *sc, const struct sc_req *req, struct sc_result *r)
{
	const struct vmscsi_request *s = &req->resp.vm_srb;

	memset(r, 0, sizeof(*r));
	r->status = req->resp.status;
	r->srb_status = s->srb_status;
	r->scsi_status = s->scsi_status;
	r->bytes = s->data_transfer_length;
	r->sense_len = s->sense_info_length;
	r->key = r->asc = r->ascq = -1;
	if (req->resp.operation != VSTOR_OP_COMPLETE_IO)
		sc_host_error(sc, "trans_id %#llx: completion operation %u, not COMPLETE_IO (Linux "
			      "never completes the command)", (unsigned long long)req->trans_id,
			      req->resp.operation);
	if (r->bytes > req->pkt.vm_srb.data_transfer_length)
		sc_host_error(sc, "trans_id %#llx: data_transfer_length %u above the %u asked",
			      (unsigned long long)req->trans_id, r->bytes,
			      req->pkt.vm_srb.data_transfer_length);
	if (r->sense_len > VSTOR_SENSE_SIZE) {
		sc_host_error(sc, "trans_id %#llx: sense_info_length %u above 20",
			      (unsigned long long)req->trans_id, r->sense_len);
		r->sense_len = VSTOR_SENSE_SIZE;
	}
	/* Linux reads sense only with SRB_STATUS_AUTOSENSE_VALID. */
	if (r->srb_status & SRB_STATUS_AUTOSENSE_VALID) {
		memcpy(r->sense, s->sense_data, r->sense_len);
		sc_parse_sense(r);
	}
}

bool sc_result_good(const struct sc_result *r)
{
	return SRB_STATUS_CODE(r->srb_status) == SRB_STATUS_SUCCESS && r->scsi_status == 0;
}

static bool sc_result_is_ua(const struct sc_result *r)
{
	return r->scsi_status == 2 && r->key == 6;
}

void sc_result_json(json_t *o, const struct sc_result *r)
{
	json_object_set_new(o, "scsi_status", json_integer(r->scsi_status));
	json_object_set_new(o, "srb_status", json_integer(r->srb_status));
	json_object_set_new(o, "status", json_integer(r->status));
	json_object_set_new(o, "bytes", json_integer(r->bytes));
	if (r->key >= 0)
		json_object_set_new(o, "sense", json_sprintf("%x/%02x/%02x", r->key, r->asc & 0xFF,
							      r->ascq & 0xFF));
	if (r->ua_retries)
		json_object_set_new(o, "unit_attentions", json_integer(r->ua_retries));
}

/*
 * One command, waited for, on the next channel; unit attentions retried
 * like the midlayer does.  `in` receives `len` bytes (the buffer starts
 * zeroed).  0 when answered (whatever the status), -errno otherwise.
 */
int sc_exec(struct sc *sc, uint8_t lun, const uint8_t *cdb, uint8_t cdb_len, uint8_t dir,
	    uint32_t len, const void *out, void *in, struct sc_result *res, bool ua_retry)
{
	unsigned int ua = 0;

	for (;;) {
		/* Small buffers at an odd offset, like kmalloc'ed ones. */
		struct sc_req *req = sc_req_get(sc, sc_next_chan(sc), len, len && len < 2048 ? 0x208 : 0);
		int ret;

		if (!req)
			return -ENOMEM;
		sc_srb_fill(&req->pkt, lun, cdb, cdb_len, len ? dir : VSTOR_DATA_UNKNOWN, len);
		if (out && len)
			memcpy(req->buf, out, len);
		ret = sc_req_submit(sc, req);
		if (!ret)
			ret = sc_wait_req(sc, req, sc->g->opts.timeout_ms);
		if (ret) {
			sc_req_abandon(sc, req);
			return ret;
		}
		sc_decode(sc, req, res);
		if (in && len)
			memcpy(in, req->buf, len);
		sc_req_put(sc, req);
		if (ua_retry && sc_result_is_ua(res) && ua < SC_UA_RETRIES) {
			ua++;
			continue;
		}
		res->ua_retries = ua;
		return 0;
	}
}

/* ---- patterns ----------------------------------------------------------------- */

/* "lba": every 16 bytes of block L read "LBA=%011llu\n" (L mod 10^11), so
 * `printf` + `yes` in a test can build the expected image. */
static void sc_pattern_block(uint8_t *p, uint64_t lba, uint32_t bs, int pattern)
{
	if (pattern != SC_PATTERN_LBA) {
		memset(p, pattern, bs);
		return;
	}
	for (uint32_t i = 0; i + 16 <= bs; i += 16) {
		char line[17];

		snprintf(line, sizeof(line), "LBA=%011llu\n", (unsigned long long)(lba % 100000000000ull));
		memcpy(p + i, line, 16);
	}
}

/* 0 when buf holds the pattern, else the offset of the first difference + 1. */
static uint64_t sc_pattern_check(const uint8_t *buf, uint64_t lba, uint32_t nblocks, uint32_t bs,
				 int pattern, uint8_t *got, uint8_t *want)
{
	uint8_t *blk = malloc(bs);
	uint64_t bad = 0;

	if (!blk)
		return 1;
	for (uint32_t b = 0; b < nblocks && !bad; b++) {
		sc_pattern_block(blk, lba + b, bs, pattern);
		for (uint32_t i = 0; i < bs; i++) {
			if (buf[(uint64_t)b * bs + i] != blk[i]) {
				*got = buf[(uint64_t)b * bs + i];
				*want = blk[i];
				bad = (uint64_t)b * bs + i + 1;
				break;
			}
		}
	}
	free(blk);
	return bad;
}

/* ---- the batch engine ---------------------------------------------------------- */

static bool sc_batch_pred(struct guest *g, void *arg)
{
	struct sc *sc = ((void **)arg)[0];
	struct sc_batch *b = ((void **)arg)[1];

	for (unsigned int i = 0; i < sc->qd; i++)
		if (sc->slots[i].busy && sc->slots[i].done && sc->slots[i].batch == b &&
		    !sc->slots[i].abandoned)
			return true;
	return false;
}

static void sc_rw_cdb(uint8_t *cdb, uint8_t *cdb_len, bool write, uint64_t lba, uint32_t nblocks)
{
	memset(cdb, 0, 16);
	/* sd: READ/WRITE(10) while they can address it, else (16). */
	if (lba + nblocks <= 0xFFFFFFFFull && nblocks <= 0xFFFF) {
		cdb[0] = write ? 0x2A : 0x28;
		put_be32(cdb + 2, (uint32_t)lba);
		put_be16(cdb + 7, (uint16_t)nblocks);
		*cdb_len = 10;
	} else {
		cdb[0] = write ? 0x8A : 0x88;
		put_be64(cdb + 2, lba);
		put_be32(cdb + 10, nblocks);
		*cdb_len = 16;
	}
}

static void sc_batch_complete(struct sc *sc, struct sc_batch *b, struct sc_req *req)
{
	struct sc_job *job = &b->jobs[req->job];
	struct sc_result r;

	sc_decode(sc, req, &r);
	if (sc_result_is_ua(&r) && job->ua < SC_UA_RETRIES) {
		job->ua++;
		b->ua_retries++;
		job->state = 0;           /* send it again */
		sc_req_put(sc, req);
		return;
	}
	job->state = 2;
	b->done++;
	b->any = r;
	if (!sc_result_good(&r)) {
		if (!b->have_bad) {
			b->have_bad = true;
			b->bad = r;
		}
	} else {
		uint32_t len = job->nblocks * b->bs;

		b->bytes += r.bytes;
		if (r.bytes != len && !b->mismatch[0])
			snprintf(b->mismatch, sizeof(b->mismatch),
				 "LBA %llu: %u bytes transferred, %u asked",
				 (unsigned long long)job->lba, r.bytes, len);
		if (!b->write && !b->mismatch[0]) {
			uint8_t got = 0, want = 0;
			uint64_t at = sc_pattern_check(req->buf, job->lba, job->nblocks, b->bs, b->pattern,
						       &got, &want);

			if (at)
				snprintf(b->mismatch, sizeof(b->mismatch),
					 "LBA %llu byte %llu: read 0x%02x, expected 0x%02x",
					 (unsigned long long)(job->lba + (at - 1) / b->bs),
					 (unsigned long long)((at - 1) % b->bs), got, want);
		}
	}
	sc_req_put(sc, req);
}

/* Runs every job of b with up to qd requests in flight, round-robin over
 * the channels; completions in any order.  0 or -errno. */
int sc_run_batch(struct sc *sc, struct sc_batch *b)
{
	void *arg[2] = { sc, b };
	unsigned int cursor = 0;
	int ret = 0;

	while (b->done < b->n) {
		while (cursor < b->n && sc->inflight < sc->qd) {
			struct sc_job *job = &b->jobs[cursor];
			uint32_t len = job->nblocks * b->bs;
			unsigned int ci;
			struct sc_req *req;
			uint8_t cdb[16], cdb_len;

			if (job->state != 0) {
				cursor++;
				continue;
			}
			ci = sc_next_chan(sc);
			req = sc_req_get(sc, ci, len, job->off);
			if (!req) {
				if (sc->inflight == 0)
					return -ENOMEM;
				break;
			}
			sc_rw_cdb(cdb, &cdb_len, b->write, job->lba, job->nblocks);
			sc_srb_fill(&req->pkt, b->lun, cdb, cdb_len, b->write ? VSTOR_DATA_OUT : VSTOR_DATA_IN,
				    len);
			if (b->write)
				for (uint32_t k = 0; k < job->nblocks; k++)
					sc_pattern_block(req->buf + (uint64_t)k * b->bs, job->lba + k, b->bs,
							 b->pattern);
			req->batch = b;
			req->job = cursor;
			ret = sc_req_submit(sc, req);
			if (ret) {
				sc_req_put(sc, req);
				goto fail;
			}
			job->state = 1;
			b->per_chan[ci]++;
			b->max_inflight = MAX(b->max_inflight, sc->inflight);
			cursor++;
		}
		ret = guest_wait(sc->g, sc_batch_pred, arg, sc->g->opts.timeout_ms);
		if (ret) {
			if (ret == -ETIMEDOUT)
				guest_error(sc->g, "storvsc", "%u of %u requests unanswered after %d ms",
					    b->n - b->done, b->n, sc->g->opts.timeout_ms);
			goto fail;
		}
		for (unsigned int i = 0; i < sc->qd; i++) {
			struct sc_req *req = &sc->slots[i];

			if (req->busy && req->done && req->batch == b && !req->abandoned) {
				unsigned int job = req->job;

				sc_batch_complete(sc, b, req);
				if (b->jobs[job].state == 0 && job < cursor)
					cursor = job;
			}
		}
	}
	return 0;
fail:
	for (unsigned int i = 0; i < sc->qd; i++)
		if (sc->slots[i].busy && sc->slots[i].batch == b)
			sc_req_abandon(sc, &sc->slots[i]);
	return ret;
}
