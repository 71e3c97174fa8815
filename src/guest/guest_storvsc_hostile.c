/* SPDX-License-Identifier: MIT */
/*
 * guest_storvsc_hostile: the `hostile KIND LUN` step, one malformed
 * request per kind (PFNs past RAM or overflowing, lengths the ranges do
 * not cover, bad range counts, directions, CDB lengths, truncated
 * packets, an unknown operation).
 */
#include "guest/guest_storvsc_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/*
 * hostile KIND LUN: one malformed request.  The host must answer with an
 * error completion (srb_status not SUCCESS or a non-zero status) or ignore
 * it; the daemon must stay alive (the next step shows it).
 */
int step_hostile(struct sc *sc, struct step *st)
{
	const char *kind = st->args[0];
	struct guest *g = sc->g;
	uint64_t ram_end_pfn = (g->att.ram_gpa + g->att.ram_size) >> HV_PAGE_SHIFT;
	uint8_t cdb[16] = { 0 }, lun, cdb_len = 10;
	struct sc_wire w = { .type = VM_PKT_DATA_USING_GPA_DIRECT, .rangecount = 1,
			     .payload_len = sizeof(struct vstor_packet) };
	uint64_t pfns[2] = { 0 };
	uint32_t xfer = 4096, buf_len = 0;
	uint8_t data_in = VSTOR_DATA_IN;
	struct sc_req *req;
	struct sc_result r;
	int ret, cdb_len_field = -1;
	uint32_t bs;

	if (sc_parse_lun(st, st->args[1], &lun))
		return 0;
	bs = sc->geo[lun].block_size ? sc->geo[lun].block_size : 512;
	w.pfns = pfns;
	if (!strcmp(kind, "pfn-edge")) {
		/* 4 KiB at offset 512: the last RAM page and the first past it. */
		pfns[0] = ram_end_pfn - 1;
		pfns[1] = ram_end_pfn;
		w.n_pfns = 2;
		w.range_len = 4096;
		w.range_off = 512;
	} else if (!strcmp(kind, "pfn-huge")) {
		pfns[0] = 0x00FFFFFFFFFFFFFFull; /* pfn << 12 overflows 64 bits */
		w.n_pfns = 1;
		w.range_len = 4096;
	} else if (!strcmp(kind, "overlength")) {
		buf_len = 4096;               /* one page described, 8 KiB claimed */
		xfer = 8192;
	} else if (!strcmp(kind, "over-max")) {
		/* A buffer twice max_transfer_bytes, all of it described. */
		xfer = buf_len = MAX(sc->props.max_transfer_bytes, 4096u) * 2;
	} else if (!strcmp(kind, "range-short")) {
		buf_len = 4096;
		w.range_len = 8192;           /* needs two PFNs; one listed */
	} else if (!strcmp(kind, "rangecount-0")) {
		w.rangecount = 0;
	} else if (!strcmp(kind, "rangecount-2")) {
		buf_len = 4096;
		w.rangecount = 2;             /* claims a second range that is the vstor packet */
	} else if (!strcmp(kind, "no-dir")) {
		buf_len = 4096;
		data_in = VSTOR_DATA_UNKNOWN;
	} else if (!strcmp(kind, "bad-dir")) {
		buf_len = 4096;
		data_in = 7;
	} else if (!strcmp(kind, "inband-data")) {
		w.type = VM_PKT_DATA_INBAND;
	} else if (!strcmp(kind, "cdb-len-0") || !strcmp(kind, "cdb-len-17")) {
		w.type = VM_PKT_DATA_INBAND;
		xfer = 0;
		data_in = VSTOR_DATA_UNKNOWN;
		cdb_len_field = kind[8] == '0' ? 0 : 17;
	} else if (!strncmp(kind, "short-", 6)) {
		uint64_t n;

		if (sc_parse_u64(kind + 6, &n) || n >= sizeof(struct vstor_packet)) {
			step_fail(st, "short-N wants N in 0..63");
			return 0;
		}
		w.type = VM_PKT_DATA_INBAND;
		w.payload_len = (uint32_t)n;
		xfer = 0;
		data_in = VSTOR_DATA_UNKNOWN;
	} else if (!strcmp(kind, "bad-op")) {
		w.type = VM_PKT_DATA_INBAND;
		xfer = 0;
		data_in = VSTOR_DATA_UNKNOWN;
	} else {
		step_fail(st, "unknown hostile kind \"%s\"", kind);
		return 0;
	}
	json_object_set_new(st->out, "kind", json_string(kind));
	req = sc_req_get(sc, sc_next_chan(sc), buf_len, 0);
	if (!req)
		return -ENOMEM;
	if (buf_len) {
		pfns[0] = req->buf_gpa >> HV_PAGE_SHIFT;
		w.n_pfns = 1;
		if (!w.range_len)
			w.range_len = buf_len;
		if (buf_len > 4096) {
			/* over-max: the whole buffer, one PFN per page. */
			uint64_t *many = malloc(8u * req->buf_pages);

			if (!many) {
				sc_req_put(sc, req);
				return -ENOMEM;
			}
			for (uint32_t i = 0; i < req->buf_pages; i++)
				many[i] = pfns[0] + i;
			w.pfns = many;
			w.n_pfns = req->buf_pages;
		}
	}
	if (data_in == VSTOR_DATA_UNKNOWN || xfer == 0 || data_in > 2)
		cdb[0] = xfer ? 0x28 : 0x00;  /* READ(10) or TEST UNIT READY */
	else
		cdb[0] = 0x28;
	if (cdb[0] == 0x28)
		put_be16(cdb + 7, (uint16_t)(xfer / bs));
	else
		cdb_len = 6;
	sc_srb_fill(&req->pkt, lun, cdb, cdb_len, data_in, xfer);
	if (cdb_len_field >= 0)
		req->pkt.vm_srb.cdb_length = (uint8_t)cdb_len_field;
	if (!strcmp(kind, "bad-op"))
		req->pkt.operation = 99;
	ret = sc_req_submit_wire(sc, req, &w);
	if (w.pfns != pfns)
		free((void *)w.pfns);
	if (ret) {
		sc_req_put(sc, req);
		step_fail(st, "send failed: %s", strerror(-ret));
		return ret;
	}
	ret = sc_wait_req(sc, req, MIN(SC_HOSTILE_WAIT_MS, g->opts.timeout_ms));
	if (ret == -ETIMEDOUT) {
		json_object_set_new(st->out, "answered", json_false());
		sc_req_abandon(sc, req);
		return 0;
	}
	if (ret) {
		sc_req_abandon(sc, req);
		step_fail(st, "%s", strerror(-ret));
		return ret;
	}
	json_object_set_new(st->out, "answered", json_true());
	sc_decode(sc, req, &r);
	sc_req_put(sc, req);
	sc_result_json(st->out, &r);
	sc->last = r;
	sc->have_last = true;
	if (sc_result_good(&r) && r.status == 0)
		step_fail(st, "malformed request answered with success");
	return 0;
}
