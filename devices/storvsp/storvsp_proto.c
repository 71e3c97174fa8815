/* SPDX-License-Identifier: MIT */
/*
 * storvsp protocol, the pure part (facts §8): the initialisation state
 * machine, the packet dispatcher, EXECUTE_SRB validation and the mapping of
 * SCSI results to completions.  No channel and no guest memory here, so the
 * unit tests and the fuzzer drive it with plain buffers.
 *
 * Dispatch is a table of operations, as src/vmbus/server.c's for channel
 * messages: each row says how long the packet must be, in which states and
 * on which channels the operation is taken, and which handler runs it; the
 * row is checked before the handler runs (see storvsp_ops below).
 *
 * Order the guest follows (storvsc_channel_init, Linux 6.1), each step an
 * inband packet with trans_id VMBUS_RQST_INIT and a completion asked for:
 *   BEGIN_INITIALIZATION -> QUERY_PROTOCOL_VERSION (0x0602, 0x0600, 0x0501
 *   until one is accepted) -> QUERY_PROPERTIES -> END_INITIALIZATION ->
 *   CREATE_SUB_CHANNELS (when the properties allowed multi-channel).
 * Out-of-order packets are answered INVALID_DEVICE_STATE, as Hyper-V and
 * OpenVMM do; every answer is a COMPLETE_IO, even a refusal (facts §8.2).
 */
#include <errno.h>
#include <string.h>

#include "core/util.h"
#include "devices/storvsp/storvsp_internal.h"

/* ---- sizes per version ---------------------------------------------------- */

bool storvsp_version_supported(uint16_t v)
{
	/* Linux 6.1 tries WIN10, WIN8.1, WIN8 (storvsc_drv.c protocol_version[]).
	 * WIN7 and WIN6 are what older guests fall back to; they differ only in
	 * sizes (36-byte request, 18-byte sense, no multi-channel), which every
	 * size below follows, so they are accepted as Hyper-V does. */
	switch (v) {
	case VMSTOR_PROTO_VERSION_WIN10:
	case VMSTOR_PROTO_VERSION_WIN8_1:
	case VMSTOR_PROTO_VERSION_WIN8:
	case VMSTOR_PROTO_VERSION_WIN7:
	case VMSTOR_PROTO_VERSION_WIN6:
		return true;
	default:
		return false;
	}
}

uint32_t storvsp_request_size(uint16_t version)
{
	return version >= VMSTOR_PROTO_VERSION_WIN8 ? VMSCSI_REQUEST_LEN_V2 : VMSCSI_REQUEST_LEN_V1;
}

uint8_t storvsp_sense_size(uint16_t version)
{
	return version >= VMSTOR_PROTO_VERSION_WIN8 ? VSTOR_SENSE_SIZE : VSTOR_SENSE_SIZE_PRE_WIN8;
}

uint32_t storvsp_reply_len(uint32_t rx_len, uint16_t version)
{
	/* Hyper-V answers with as many bytes as the request had, not the
	 * version's size: Linux 6.1 sends 64 from the first packet on and
	 * drops completions shorter than sizeof(vstor_packet) (OpenVMM
	 * parse_packet notes the same).  Never less than the version's size,
	 * never more than the 64-byte struct (storvsc max_pkt_size 80). */
	uint32_t min = VSTOR_PACKET_HDR_SIZE + storvsp_request_size(version);

	if (rx_len < min)
		return min;
	return rx_len > sizeof(struct vstor_packet) ? (uint32_t)sizeof(struct vstor_packet) : rx_len;
}

const char *storvsp_state_name(enum storvsp_state s)
{
	switch (s) {
	case STORVSP_WAIT_BEGIN: return "wait_begin";
	case STORVSP_WAIT_VERSION: return "wait_version";
	case STORVSP_WAIT_PROPERTIES: return "wait_properties";
	case STORVSP_WAIT_END: return "wait_end";
	case STORVSP_READY: return "ready";
	}
	return "?";
}

void storvsp_proto_init(struct storvsp_proto *p, uint16_t max_subchannels,
			uint32_t max_transfer_bytes)
{
	memset(p, 0, sizeof(*p));
	p->max_subchannels = max_subchannels;
	p->max_transfer_bytes = max_transfer_bytes;
}

void storvsp_proto_reset(struct storvsp_proto *p)
{
	p->state = STORVSP_WAIT_BEGIN;
	p->version = 0;
	p->subchannels = 0;
}

static bool storvsp_multichannel(const struct storvsp_proto *p)
{
	/* Linux honours the flag only from WIN8 on (multi-channel came with 5.1). */
	return p->version >= VMSTOR_PROTO_VERSION_WIN8 && p->max_subchannels > 0;
}

/* ---- EXECUTE_SRB ------------------------------------------------------------ */

int storvsp_srb_parse(const uint8_t *data, uint32_t len, uint16_t version,
		      uint32_t max_transfer, bool inband, uint64_t buffer_len,
		      struct storvsp_srb *out, const char **why)
{
	struct vstor_packet pkt;
	const struct vmscsi_request *r = &pkt.vm_srb;
	uint32_t req_size = storvsp_request_size(version);

	memset(out, 0, sizeof(*out));
	out->reply_len = storvsp_reply_len(len, version);
	memset(&pkt, 0, sizeof(pkt));
	memcpy(&pkt, data, MIN(len, (uint32_t)sizeof(pkt)));
	/* Echo the address even when refusing: Linux logs it. */
	if (len >= VSTOR_PACKET_HDR_SIZE + 8) {
		out->path_id = r->path_id;
		out->target_id = r->target_id;
		out->lun = r->lun;
	}
	if (len < VSTOR_PACKET_HDR_SIZE + req_size) {
		*why = "EXECUTE_SRB shorter than the version's request";
		return -EINVAL;
	}
	if (r->length < VMSCSI_REQUEST_LEN_V1 || r->length > sizeof(struct vmscsi_request) ||
	    r->length > len - VSTOR_PACKET_HDR_SIZE) {
		*why = "vmscsi_request.length out of range";
		return -EINVAL;
	}
	if (r->cdb_length == 0 || r->cdb_length > VSTOR_CDB_MAX) {
		*why = "cdb_length not in 1..16";
		return -EINVAL;
	}
	if (r->data_in > VSTOR_DATA_UNKNOWN) {
		*why = "data_in not 0, 1 or 2";
		return -EINVAL;
	}
	if (r->data_transfer_length > max_transfer) {
		*why = "data_transfer_length above max_transfer_bytes";
		return -EINVAL;
	}
	if (r->data_transfer_length > 0) {
		if (r->data_in == VSTOR_DATA_UNKNOWN) {
			*why = "data_transfer_length without a data direction";
			return -EINVAL;
		}
		if (inband) {
			*why = "data_transfer_length in a packet without a buffer";
			return -EINVAL;
		}
		if (buffer_len < r->data_transfer_length) {
			*why = "GPA-direct buffer shorter than data_transfer_length";
			return -EINVAL;
		}
	}
	memcpy(out->cdb, r->cdb, r->cdb_length);
	out->cdb_len = r->cdb_length;
	out->data_in = r->data_in;
	out->xfer_len = r->data_transfer_length;
	out->sense_cap = MIN(r->sense_info_length, storvsp_sense_size(version));
	/* The Win8 extension is present only in 52-byte requests. */
	out->srb_flags = r->length >= VMSCSI_REQUEST_LEN_V2 ? r->srb_flags : 0;
	return 0;
}

static void storvsp_srb_reply_init(const struct storvsp_srb *srb, struct vstor_packet *out)
{
	memset(out, 0, sizeof(*out));
	out->operation = VSTOR_OP_COMPLETE_IO;
	out->vm_srb.length = (uint16_t)(srb->reply_len - VSTOR_PACKET_HDR_SIZE);
	out->vm_srb.path_id = srb->path_id;
	out->vm_srb.target_id = srb->target_id;
	out->vm_srb.lun = srb->lun;
	out->vm_srb.cdb_length = srb->cdb_len;
	out->vm_srb.data_in = srb->data_in;
}

void storvsp_srb_refuse(const struct storvsp_srb *srb, uint8_t srb_status, uint32_t status,
			struct vstor_packet *out)
{
	storvsp_srb_reply_init(srb, out);
	out->status = status;
	out->vm_srb.srb_status = srb_status;
}

void storvsp_srb_complete(const struct storvsp_srb *srb, const struct storvsp_scsi_result *r,
			  struct vstor_packet *out)
{
	uint64_t moved = MIN(r->transferred, (uint64_t)srb->xfer_len);
	uint32_t sense = 0;

	storvsp_srb_reply_init(srb, out);
	/* Bytes moved, whatever the status: Linux keeps them only on SUCCESS,
	 * DATA_OVERRUN and the statuses it forces to SUCCESS (INQUIRY, MODE
	 * SENSE), and sets the residual from them. */
	out->vm_srb.data_transfer_length = (uint32_t)moved;
	if (r->lun_missing) {
		/* Linux: DID_NO_CONNECT and the sdev is removed (facts §8.5). */
		out->vm_srb.srb_status = SRB_STATUS_INVALID_LUN;
		out->vm_srb.data_transfer_length = 0;
		out->status = VSTOR_STATUS_DEVICE_DOES_NOT_EXIST;
		return;
	}
	out->vm_srb.scsi_status = r->scsi_status;
	switch (r->scsi_status) {
	case 0x00: /* GOOD */
		out->vm_srb.srb_status = SRB_STATUS_SUCCESS;
		out->status = VSTOR_STATUS_SUCCESS;
		return;
	case 0x02: /* CHECK CONDITION: sense goes along when the guest has room */
		if (r->sense && r->sense_len > 0)
			sense = MIN(r->sense_len, (uint32_t)srb->sense_cap);
		out->vm_srb.srb_status = SRB_STATUS_ERROR | (sense ? SRB_STATUS_AUTOSENSE_VALID : 0);
		out->vm_srb.sense_info_length = (uint8_t)sense;
		memcpy(out->vm_srb.sense_data, r->sense, sense);
		out->status = VSTOR_STATUS_IO_DEVICE_ERROR;
		return;
	case 0x08: /* BUSY */
	case 0x28: /* TASK SET FULL */
		out->vm_srb.srb_status = SRB_STATUS_BUSY;
		out->status = VSTOR_STATUS_DEVICE_BUSY;
		return;
	default:
		out->vm_srb.srb_status = SRB_STATUS_ERROR;
		out->status = VSTOR_STATUS_IO_DEVICE_ERROR;
		return;
	}
}

uint32_t storvsp_build_enumerate(uint16_t version, struct vstor_packet *out)
{
	memset(out, 0, sizeof(*out));
	out->operation = VSTOR_OP_ENUMERATE_BUS;
	return VSTOR_PACKET_HDR_SIZE + storvsp_request_size(version);
}

/* ---- refusals ------------------------------------------------------------------ */

static void storvsp_reply(struct storvsp_decision *d, const struct storvsp_input *in,
			  uint32_t status)
{
	d->reply.operation = VSTOR_OP_COMPLETE_IO;
	d->reply.status = status;
	d->verdict = in->want_completion ? STORVSP_REPLY : STORVSP_DROP;
}

static void storvsp_fault(struct storvsp_decision *d, const struct storvsp_input *in,
			  enum storvsp_fault fault, const char *why, uint32_t status)
{
	d->fault = fault;
	d->why = why;
	storvsp_reply(d, in, status);
}

/* ---- handlers, one per operation: each runs after the table's checks ---------- */

static void storvsp_handle_begin_initialization(struct storvsp_proto *p,
						const struct storvsp_input *in,
						const struct vstor_packet *pkt,
						struct storvsp_decision *d)
{
	/* Restartable until END_INITIALIZATION (the table refuses it in
	 * READY: I/O may be in flight and only a channel close starts over). */
	p->state = STORVSP_WAIT_VERSION;
	p->version = 0;
	storvsp_reply(d, in, VSTOR_STATUS_SUCCESS);
}

static void storvsp_handle_query_protocol_version(struct storvsp_proto *p,
						  const struct storvsp_input *in,
						  const struct vstor_packet *pkt,
						  struct storvsp_decision *d)
{
	d->reply.version.major_minor = pkt->version.major_minor;
	if (!storvsp_version_supported(pkt->version.major_minor)) {
		/* Not a fault: the guest walks down its list (facts §8.2). */
		storvsp_reply(d, in, VSTOR_STATUS_REVISION_MISMATCH);
		return;
	}
	p->version = pkt->version.major_minor;
	p->state = STORVSP_WAIT_PROPERTIES;
	storvsp_reply(d, in, VSTOR_STATUS_SUCCESS);
}

static void storvsp_handle_query_properties(struct storvsp_proto *p,
					    const struct storvsp_input *in,
					    const struct vstor_packet *pkt,
					    struct storvsp_decision *d)
{
	d->reply.properties.max_transfer_bytes = p->max_transfer_bytes;
	if (storvsp_multichannel(p)) {
		d->reply.properties.flags = STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL;
		d->reply.properties.max_channel_cnt = p->max_subchannels;
	}
	p->state = STORVSP_WAIT_END;
	storvsp_reply(d, in, VSTOR_STATUS_SUCCESS);
}

static void storvsp_handle_end_initialization(struct storvsp_proto *p,
					      const struct storvsp_input *in,
					      const struct vstor_packet *pkt,
					      struct storvsp_decision *d)
{
	p->state = STORVSP_READY;
	storvsp_reply(d, in, VSTOR_STATUS_SUCCESS);
}

static void storvsp_handle_create_sub_channels(struct storvsp_proto *p,
					       const struct storvsp_input *in,
					       const struct vstor_packet *pkt,
					       struct storvsp_decision *d)
{
	if (!storvsp_multichannel(p) || pkt->sub_channel_count > p->max_subchannels) {
		storvsp_fault(d, in, STORVSP_FAULT_MALFORMED,
			      "sub_channel_count above the advertised max_channel_cnt",
			      VSTOR_STATUS_INVALID_PARAMETER);
		return;
	}
	/* Granted subchannels stay until the primary closes: a smaller
	 * count later does not take any back. */
	if (pkt->sub_channel_count > p->subchannels)
		p->subchannels = pkt->sub_channel_count;
	d->subchannels = p->subchannels;
	storvsp_reply(d, in, VSTOR_STATUS_SUCCESS);
	d->verdict = STORVSP_SUBCHANNELS;
}

/* The resets are no-ops, as on Hyper-V: requests in flight still complete,
 * which is what storvsc_host_reset_handler waits for (facts §8.3). */
static void storvsp_handle_reset_lun(struct storvsp_proto *p, const struct storvsp_input *in,
				     const struct vstor_packet *pkt, struct storvsp_decision *d)
{
	storvsp_reply(d, in, VSTOR_STATUS_SUCCESS);
}

static void storvsp_handle_reset_adapter(struct storvsp_proto *p, const struct storvsp_input *in,
					 const struct vstor_packet *pkt,
					 struct storvsp_decision *d)
{
	storvsp_reply(d, in, VSTOR_STATUS_SUCCESS);
}

static void storvsp_handle_reset_bus(struct storvsp_proto *p, const struct storvsp_input *in,
				     const struct vstor_packet *pkt, struct storvsp_decision *d)
{
	storvsp_reply(d, in, VSTOR_STATUS_SUCCESS);
}

/* EXECUTE_SRB's body check: its length depends on the negotiated version,
 * so the table's minimum is only the header.  It runs before the state
 * check, so a malformed SRB counts as malformed in any state (OpenVMM's
 * parse_packet comes before its state match too).  d->srb keeps the address
 * even on failure, for storvsp_refuse_srb. */
static bool storvsp_parse_execute_srb(const struct storvsp_proto *p,
				      const struct storvsp_input *in,
				      struct storvsp_decision *d)
{
	const char *why = NULL;
	bool inband = in->pkt_type == VM_PKT_DATA_INBAND;

	if (storvsp_srb_parse(in->data, in->len, p->version, p->max_transfer_bytes, inband,
			      in->buffer_len, &d->srb, &why) < 0) {
		/* Undecodable ranges reach the parser as a 0-byte buffer: name
		 * the real cause. */
		d->why = in->buffer_bad ? "GPA-direct ranges outside guest RAM" : why;
		return false;
	}
	if (in->buffer_bad) {
		d->why = "GPA-direct ranges outside guest RAM";
		return false;
	}
	return true;
}

/* Every refused SRB is answered as an SRB (INVALID_REQUEST, the address
 * echoed): Linux logs the address and fails just that command. */
static void storvsp_refuse_srb(struct storvsp_decision *d, uint32_t status)
{
	storvsp_srb_refuse(&d->srb, SRB_STATUS_INVALID_REQUEST, status, &d->reply);
}

static void storvsp_handle_execute_srb(struct storvsp_proto *p, const struct storvsp_input *in,
				       const struct vstor_packet *pkt, struct storvsp_decision *d)
{
	d->verdict = STORVSP_EXECUTE;
}

/* ---- the operation table ------------------------------------------------------- */

#define ST(s)       (1u << (s))
#define ST_ANY      (ST(STORVSP_WAIT_BEGIN) | ST(STORVSP_WAIT_VERSION) | \
		     ST(STORVSP_WAIT_PROPERTIES) | ST(STORVSP_WAIT_END) | ST(STORVSP_READY))
#define ST_INIT     (ST_ANY & ~ST(STORVSP_READY))
#define HDR         VSTOR_PACKET_HDR_SIZE
/* A limiter per cause: a guest flooding one refused operation must not
 * hide the first line of another (file-scope compound literals are static). */
#define RL          (&(struct log_ratelimit){ 0 })

/*
 * One row per vstor operation (facts §8.1), indexed by its number.  The
 * dispatcher checks, in this order and before any handler runs: a buffer
 * only where takes_buffer, a handler at all (NULL: the host does not serve
 * it), min_len, the row's parse step, the state mask, primary_only.  Each
 * refusal is a COMPLETE_IO with the protocol's status (facts §8.2): Linux
 * waits for an answer to every init step and fails the step on a bad status.
 *
 * States: Linux's order (facts §8.2) is BEGIN, QUERY_PROTOCOL_VERSION until
 * accepted, QUERY_PROPERTIES, END, then CREATE_SUB_CHANNELS.  A version may
 * be asked again after one was accepted, properties again before END;
 * CREATE_SUB_CHANNELS is also taken just before END, as OpenVMM does.
 */
static const struct storvsp_op storvsp_ops[VSTOR_OP_MAX + 1] = {
	/* host -> guest only: a guest sending them is refused as unsupported. */
	[VSTOR_OP_COMPLETE_IO] = { .operation = VSTOR_OP_COMPLETE_IO, .name = "COMPLETE_IO",
		.rl = RL },
	[VSTOR_OP_REMOVE_DEVICE] = { .operation = VSTOR_OP_REMOVE_DEVICE,
		.name = "REMOVE_DEVICE", .rl = RL },
	[VSTOR_OP_ENUMERATE_BUS] = { .operation = VSTOR_OP_ENUMERATE_BUS,
		.name = "ENUMERATE_BUS", .rl = RL },
	/* Fibre Channel HBAs only; this is a SCSI controller. */
	[VSTOR_OP_FCHBA_DATA] = { .operation = VSTOR_OP_FCHBA_DATA, .name = "FCHBA_DATA",
		.rl = RL },

	/* min_len is the header only: the request's length depends on the
	 * version and is parse's check, and a refusal before parse would have
	 * no request to echo.  Any channel: I/O runs on every subchannel. */
	[VSTOR_OP_EXECUTE_SRB] = { .operation = VSTOR_OP_EXECUTE_SRB, .name = "EXECUTE_SRB",
		.min_len = HDR, .states = ST(STORVSP_READY), .takes_buffer = true,
		.parse = storvsp_parse_execute_srb, .refuse = storvsp_refuse_srb,
		.handler = storvsp_handle_execute_srb, .rl = RL },
	/* Resets come from the SCSI error handler on whichever channel. */
	[VSTOR_OP_RESET_LUN] = { .operation = VSTOR_OP_RESET_LUN, .name = "RESET_LUN",
		.min_len = HDR, .states = ST(STORVSP_READY),
		.handler = storvsp_handle_reset_lun, .rl = RL },
	[VSTOR_OP_RESET_ADAPTER] = { .operation = VSTOR_OP_RESET_ADAPTER,
		.name = "RESET_ADAPTER", .min_len = HDR, .states = ST(STORVSP_READY),
		.handler = storvsp_handle_reset_adapter, .rl = RL },
	[VSTOR_OP_RESET_BUS] = { .operation = VSTOR_OP_RESET_BUS, .name = "RESET_BUS",
		.min_len = HDR, .states = ST(STORVSP_READY),
		.handler = storvsp_handle_reset_bus, .rl = RL },
	[VSTOR_OP_BEGIN_INITIALIZATION] = { .operation = VSTOR_OP_BEGIN_INITIALIZATION,
		.name = "BEGIN_INITIALIZATION", .min_len = HDR, .states = ST_INIT,
		.primary_only = true, .handler = storvsp_handle_begin_initialization, .rl = RL },
	[VSTOR_OP_QUERY_PROTOCOL_VERSION] = { .operation = VSTOR_OP_QUERY_PROTOCOL_VERSION,
		.name = "QUERY_PROTOCOL_VERSION",
		.min_len = HDR + sizeof(struct vmstorage_protocol_version),
		.states = ST(STORVSP_WAIT_VERSION) | ST(STORVSP_WAIT_PROPERTIES),
		.primary_only = true, .handler = storvsp_handle_query_protocol_version, .rl = RL },
	[VSTOR_OP_QUERY_PROPERTIES] = { .operation = VSTOR_OP_QUERY_PROPERTIES,
		.name = "QUERY_PROPERTIES", .min_len = HDR,
		.states = ST(STORVSP_WAIT_PROPERTIES) | ST(STORVSP_WAIT_END),
		.primary_only = true, .handler = storvsp_handle_query_properties, .rl = RL },
	[VSTOR_OP_END_INITIALIZATION] = { .operation = VSTOR_OP_END_INITIALIZATION,
		.name = "END_INITIALIZATION", .min_len = HDR, .states = ST(STORVSP_WAIT_END),
		.primary_only = true, .handler = storvsp_handle_end_initialization, .rl = RL },
	[VSTOR_OP_CREATE_SUB_CHANNELS] = { .operation = VSTOR_OP_CREATE_SUB_CHANNELS,
		.name = "CREATE_SUB_CHANNELS", .min_len = HDR + sizeof(uint16_t),
		.states = ST(STORVSP_WAIT_END) | ST(STORVSP_READY),
		.primary_only = true, .handler = storvsp_handle_create_sub_channels, .rl = RL },
};

/* Causes with no row: packets refused before their operation is known, and
 * operation numbers outside the table. */
static struct log_ratelimit storvsp_packet_rl, storvsp_unknown_rl;

const struct storvsp_op *storvsp_op_lookup(uint32_t op)
{
	return op < ARRAY_SIZE(storvsp_ops) && storvsp_ops[op].name ? &storvsp_ops[op] : NULL;
}

const char *storvsp_op_name(uint32_t op)
{
	const struct storvsp_op *e = storvsp_op_lookup(op);

	return e ? e->name : "unknown";
}

/* ---- dispatcher ------------------------------------------------------------------ */

/* A refusal by the table: the row shapes the answer when it has a shape. */
static void storvsp_refuse(const struct storvsp_op *e, const struct storvsp_input *in,
			   struct storvsp_decision *d, enum storvsp_fault fault, const char *why,
			   uint32_t status)
{
	storvsp_fault(d, in, fault, why, status);
	if (e && e->refuse)
		e->refuse(d, status);
}

void storvsp_proto_dispatch(struct storvsp_proto *p, const struct storvsp_input *in,
			    struct storvsp_decision *d)
{
	const struct storvsp_op *e;
	struct vstor_packet pkt;

	memset(d, 0, sizeof(*d));
	d->rl = &storvsp_packet_rl;
	d->reply_len = storvsp_reply_len(in->len, p->version);
	if (in->pkt_type == VM_PKT_COMP) {
		/* The host sends nothing that asks for a completion. */
		d->fault = STORVSP_FAULT_MALFORMED;
		d->why = "unexpected completion packet";
		return;
	}
	if (in->pkt_type != VM_PKT_DATA_INBAND && in->pkt_type != VM_PKT_DATA_USING_GPA_DIRECT) {
		storvsp_fault(d, in, STORVSP_FAULT_MALFORMED, "packet type not inband or GPA-direct",
			      VSTOR_STATUS_INVALID_PARAMETER);
		return;
	}
	if (in->len < VSTOR_PACKET_HDR_SIZE) {
		storvsp_fault(d, in, STORVSP_FAULT_MALFORMED, "packet shorter than the vstor header",
			      VSTOR_STATUS_INVALID_PARAMETER);
		return;
	}
	/* Short bodies read as zeros; min_len refuses them before use. */
	memset(&pkt, 0, sizeof(pkt));
	memcpy(&pkt, in->data, MIN(in->len, (uint32_t)sizeof(pkt)));
	d->operation = pkt.operation;
	e = storvsp_op_lookup(pkt.operation);
	d->rl = e ? e->rl : &storvsp_unknown_rl;

	/* A buffer where none is taken is malformed whatever the operation,
	 * known or not: the packet type is checked before the operation. */
	if (in->pkt_type != VM_PKT_DATA_INBAND && !(e && e->takes_buffer)) {
		storvsp_fault(d, in, STORVSP_FAULT_MALFORMED, "buffer on an operation that takes none",
			      VSTOR_STATUS_INVALID_PARAMETER);
		return;
	}
	if (!e || !e->handler) {
		storvsp_fault(d, in, STORVSP_FAULT_UNSUPPORTED, "operation not served by the host",
			      VSTOR_STATUS_INVALID_DEVICE_REQUEST);
		return;
	}
	if (in->len < e->min_len) {
		storvsp_refuse(e, in, d, STORVSP_FAULT_MALFORMED,
			       "shorter than the operation's minimum length",
			       VSTOR_STATUS_INVALID_PARAMETER);
		return;
	}
	if (e->parse && !e->parse(p, in, d)) {
		storvsp_refuse(e, in, d, STORVSP_FAULT_MALFORMED, d->why,
			       VSTOR_STATUS_INVALID_PARAMETER);
		return;
	}
	/* Out-of-order packets are answered INVALID_DEVICE_STATE, as Hyper-V
	 * and OpenVMM do (facts §8.2). */
	if (!(e->states & ST(p->state))) {
		storvsp_refuse(e, in, d, STORVSP_FAULT_WRONG_STATE, "out of protocol order",
			       VSTOR_STATUS_INVALID_DEVICE_STATE);
		return;
	}
	if (e->primary_only && !in->primary) {
		storvsp_refuse(e, in, d, STORVSP_FAULT_WRONG_STATE,
			       "initialisation operation on a subchannel",
			       VSTOR_STATUS_INVALID_DEVICE_STATE);
		return;
	}
	e->handler(p, in, &pkt, d);
}
