/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the vstor dispatcher (devices/storvsp_proto.c): the state machine,
 * EXECUTE_SRB validation and completion building, exactly the code that
 * storvsp_handle_packet() runs on each guest packet.  The input is a
 * sequence of packets, so the fuzzer reaches every protocol state:
 *
 *   byte 0          max_subchannels for the controller
 *   then records:   u8 type selector, u8 flags (bit 0 completion asked,
 *                   bit 1 primary, bit 2 buffer_bad), u32 buffer_len,
 *                   u8 payload length, payload bytes
 *
 * Each payload is copied into its own allocation so reads past its end hit
 * ASan.  What the dispatcher decides must satisfy the invariants below.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/storvsp/storvsp_internal.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static const uint16_t types[] = {
	VM_PKT_DATA_INBAND, VM_PKT_DATA_USING_GPA_DIRECT, VM_PKT_COMP, VM_PKT_DATA_USING_XFER_PAGES,
	VM_PKT_DATA_USING_GPADL, VM_PKT_INVALID,
};

static void check_decision(const struct storvsp_proto *p, const struct storvsp_input *in,
			   const struct storvsp_decision *d, uint8_t seed)
{
	uint32_t min_len = VSTOR_PACKET_HDR_SIZE + storvsp_request_size(p->version);

	CHECK(p->state <= STORVSP_READY);
	CHECK(p->version == 0 || storvsp_version_supported(p->version));
	CHECK(p->state < STORVSP_WAIT_PROPERTIES || p->version != 0);
	CHECK(p->subchannels <= p->max_subchannels);
	CHECK((d->fault == STORVSP_FAULT_NONE) == (d->why == NULL));
	switch (d->verdict) {
	case STORVSP_DROP:
		break;
	case STORVSP_REPLY:
		CHECK(in->want_completion);
		CHECK(d->reply.operation == VSTOR_OP_COMPLETE_IO);
		CHECK(d->reply_len <= sizeof(struct vstor_packet));
		CHECK(d->reply_len >= VSTOR_PACKET_HDR_SIZE + VMSCSI_REQUEST_LEN_V1);
		break;
	case STORVSP_SUBCHANNELS:
		CHECK(in->primary);
		CHECK(d->fault == STORVSP_FAULT_NONE);
		CHECK(d->subchannels <= p->max_subchannels);
		CHECK(p->version >= VMSTOR_PROTO_VERSION_WIN8);
		CHECK(d->reply.operation == VSTOR_OP_COMPLETE_IO && d->reply.status == 0);
		break;
	case STORVSP_EXECUTE: {
		const struct storvsp_srb *s = &d->srb;
		struct storvsp_scsi_result r;
		struct vstor_packet out;
		uint8_t sense[32];

		CHECK(p->state == STORVSP_READY);
		CHECK(d->fault == STORVSP_FAULT_NONE);
		CHECK(s->cdb_len >= 1 && s->cdb_len <= VSTOR_CDB_MAX);
		CHECK(s->data_in <= VSTOR_DATA_UNKNOWN);
		CHECK(s->xfer_len <= p->max_transfer_bytes);
		CHECK(s->xfer_len == 0 || (in->pkt_type == VM_PKT_DATA_USING_GPA_DIRECT &&
					   s->xfer_len <= in->buffer_len && !in->buffer_bad &&
					   s->data_in != VSTOR_DATA_UNKNOWN));
		CHECK(s->sense_cap <= storvsp_sense_size(p->version));
		CHECK(s->reply_len >= min_len && s->reply_len <= sizeof(struct vstor_packet));
		CHECK(in->len >= min_len);
		/* A completion for whatever the target might answer. */
		memset(sense, seed, sizeof(sense));
		memset(&r, 0, sizeof(r));
		r.scsi_status = seed;
		r.lun_missing = seed & 1;
		r.transferred = (uint64_t)seed * 4099;
		r.sense = sense;
		r.sense_len = seed % sizeof(sense);
		storvsp_srb_complete(s, &r, &out);
		CHECK(out.operation == VSTOR_OP_COMPLETE_IO);
		CHECK(out.vm_srb.data_transfer_length <= s->xfer_len);
		CHECK(out.vm_srb.sense_info_length <= s->sense_cap);
		CHECK(out.vm_srb.srb_status != SRB_STATUS_PENDING);
		CHECK(!(out.vm_srb.srb_status & SRB_STATUS_AUTOSENSE_VALID) ||
		      out.vm_srb.sense_info_length > 0);
		break;
	}
	default:
		CHECK(0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct storvsp_proto p;
	size_t pos = 1;

	if (size < 1)
		return 0;
	storvsp_proto_init(&p, data[0] % (STORVSP_MAX_SUBCHANNELS + 1), STORVSP_DEFAULT_MAX_TRANSFER);
	while (pos + 7 <= size) {
		struct storvsp_input in;
		struct storvsp_decision d;
		uint32_t buffer_len;
		uint8_t flags = data[pos + 1], len = data[pos + 6];
		uint8_t *payload;

		memset(&in, 0, sizeof(in));
		in.pkt_type = types[data[pos] % (sizeof(types) / sizeof(types[0]))];
		in.want_completion = flags & 1;
		in.primary = flags & 2;
		in.buffer_bad = flags & 4;
		memcpy(&buffer_len, data + pos + 2, 4);
		in.buffer_len = buffer_len;
		pos += 7;
		if (len > size - pos)
			len = (uint8_t)(size - pos);
		payload = malloc(len ? len : 1);
		memcpy(payload, data + pos, len);
		pos += len;
		in.data = payload;
		in.len = len;
		storvsp_proto_dispatch(&p, &in, &d);
		check_decision(&p, &in, &d, len ? payload[0] : 0);
		free(payload);
		if (flags & 8)
			storvsp_proto_reset(&p);
	}
	return 0;
}
