/* SPDX-License-Identifier: MIT */
/*
 * NVSP, the netvsc channel protocol (facts §9.1-9.2), as a pure function of
 * one guest packet: no channel, no guest memory.  The device (netvsp.c)
 * carries out the verdict.
 *
 * Dispatch is one table indexed by the NVSP type, checked before any
 * handler runs: the VMBus packet type the message may arrive in, its
 * minimum length, the protocol state, the lowest NVSP version that has it.
 * Linux sends every message as 40 bytes; a hostile guest may send fewer,
 * so each entry asks only for the bytes its handler reads.
 *
 * Linux waits without a timeout for INIT_COMPLETE, SEND_RECV_BUF_COMPLETE,
 * SEND_SEND_BUF_COMPLETE and the SUBCHANNEL completion (facts §4.3): each
 * gets an answer, a refusal if need be (status FAIL), whenever the guest
 * asked for a completion.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "core/util.h"
#include "devices/netvsp/netvsp_internal.h"
#include "vmbusd/proto/ring.h"

static const uint32_t nvsp_versions[] = {
	NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_6, NVSP_PROTOCOL_VERSION_5,
	NVSP_PROTOCOL_VERSION_4, NVSP_PROTOCOL_VERSION_2, NVSP_PROTOCOL_VERSION_1,
};

bool nvsp_version_supported(uint32_t version)
{
	for (size_t i = 0; i < ARRAY_SIZE(nvsp_versions); i++)
		if (nvsp_versions[i] == version)
			return true;
	return false;
}

void nvsp_proto_init(struct nvsp_proto *p, uint32_t config_mtu, uint16_t max_subchannels)
{
	memset(p, 0, sizeof(*p));
	p->config_mtu = config_mtu;
	p->max_subchannels = max_subchannels;
}

void nvsp_proto_reset(struct nvsp_proto *p)
{
	nvsp_proto_init(p, p->config_mtu, p->max_subchannels);
}

uint32_t nvsp_max_frame(const struct nvsp_proto *p)
{
	/* The guest may have been configured with a larger MTU than the host
	 * (it says so in NDIS_CONFIG): take the larger, plus Ethernet and a
	 * VLAN tag. */
	return MAX(p->config_mtu, p->guest_mtu) + 14u + 4u;
}

static void nvsp_fail(struct nvsp_decision *out, enum netvsp_fault f, const char *why)
{
	out->fault = f;
	out->why = why;
}

/* A completion of type `type` whose first field (status) is `status`. */
static void nvsp_reply(const struct nvsp_input *in, struct nvsp_decision *out, uint32_t type,
		       uint32_t status)
{
	memset(&out->msg, 0, sizeof(out->msg));
	out->msg.type = type;
	memcpy(out->msg.raw, &status, sizeof(status));
	out->reply = in->want_completion;
}

/* ---- handlers: msg is a private copy of NVSP_MSG_SIZE bytes, zero-filled
 * past what the guest sent (at least the entry's min_len) -------------------- */

static void nvsp_handle_init(struct nvsp_proto *p, const struct nvsp_input *in,
			     const struct nvsp_msg *msg, struct nvsp_decision *out)
{
	uint32_t v = msg->init.max_ver;

	/* Linux sends min == max and tries the next version on a failure;
	 * agree on the guest's max when we know it. */
	nvsp_reply(in, out, NVSP_MSG_INIT_COMPLETE, 0);
	out->msg.init_complete.status = NVSP_STAT_FAIL;
	if (!in->primary) {
		nvsp_fail(out, NETVSP_FAULT_WRONG_STATE, "INIT on a subchannel");
		return;
	}
	if (msg->init.min_ver > msg->init.max_ver || !nvsp_version_supported(v)) {
		nvsp_fail(out, NETVSP_FAULT_UNSUPPORTED, "INIT for a version not served");
		return;
	}
	/* A new INIT starts the session over (Linux reinitialises after an
	 * MTU change by closing the channel, but be forgiving). */
	nvsp_proto_reset(p);
	p->version = v;
	p->state = NVSP_READY;
	out->msg.init_complete.negotiated_ver = v;
	out->msg.init_complete.max_mdl_chain_len = 34; /* Hyper-V's MAX_MULTIPAGE_BUFFER_COUNT */
	out->msg.init_complete.status = NVSP_STAT_SUCCESS;
}

static void nvsp_handle_ndis_ver(struct nvsp_proto *p, const struct nvsp_input *in,
				 const struct nvsp_msg *msg, struct nvsp_decision *out)
{
	p->ndis_major = msg->ndis_ver.major;
	p->ndis_minor = msg->ndis_ver.minor;
	/* No completion defined; answer only if asked. */
	nvsp_reply(in, out, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, NVSP_STAT_SUCCESS);
	out->reply = false;
}

static void nvsp_handle_ndis_config(struct nvsp_proto *p, const struct nvsp_input *in,
				    const struct nvsp_msg *msg, struct nvsp_decision *out)
{
	uint32_t mtu = msg->ndis_config.mtu;

	if (mtu < NETVSP_MIN_MTU + 14u || mtu > NETVSP_MAX_MTU + 14u) {
		nvsp_fail(out, NETVSP_FAULT_MALFORMED, "NDIS_CONFIG mtu out of range");
		return;
	}
	p->guest_mtu = mtu - 14u;
	p->capability = msg->ndis_config.capability;
}

static void nvsp_handle_recv_buf(struct nvsp_proto *p, const struct nvsp_input *in,
				 const struct nvsp_msg *msg, struct nvsp_decision *out)
{
	uint64_t size;
	uint32_t section;

	nvsp_reply(in, out, NVSP_MSG1_SEND_RECV_BUF_COMPLETE, NVSP_STAT_FAIL);
	if (!in->primary) {
		nvsp_fail(out, NETVSP_FAULT_WRONG_STATE, "receive buffer on a subchannel");
		return;
	}
	if (p->recv_buf) {
		nvsp_fail(out, NETVSP_FAULT_WRONG_STATE, "second receive buffer");
		return;
	}
	if (msg->send_buf.id != NETVSC_RECEIVE_BUFFER_ID) {
		nvsp_fail(out, NETVSP_FAULT_MALFORMED, "receive buffer id is not 0xCAFE");
		return;
	}
	size = in->gpadl_size ? in->gpadl_size(in->ctx, msg->send_buf.gpadl) : 0;
	/* One sub-allocation holds one RNDIS_PACKET with the largest frame
	 * (facts §9.5: each range <= sub_alloc_size); 64 bytes spare for
	 * per-packet info. */
	section = (uint32_t)ALIGN_UP(sizeof(struct rndis_packet) + nvsp_max_frame(p) + 64u, 64u);
	section = MAX(section, NETVSP_RECV_SECTION_MIN);
	if (size < section || size > UINT32_MAX) {
		nvsp_fail(out, NETVSP_FAULT_MALFORMED, "receive buffer GPADL unknown or too small");
		return;
	}
	p->recv_buf = true;
	p->recv_gpadl = msg->send_buf.gpadl;
	p->recv_section_size = section;
	p->recv_sections = (uint32_t)(size / section);
	out->msg.recv_buf_complete.status = NVSP_STAT_SUCCESS;
	out->msg.recv_buf_complete.num_sections = 1;
	out->msg.recv_buf_complete.offset = 0;
	out->msg.recv_buf_complete.sub_alloc_size = section;
	out->msg.recv_buf_complete.num_sub_allocs = p->recv_sections;
	out->msg.recv_buf_complete.end_offset = section * p->recv_sections;
	out->verdict = NVSP_RECV_BUF_ATTACHED;
}

static void nvsp_handle_send_buf(struct nvsp_proto *p, const struct nvsp_input *in,
				 const struct nvsp_msg *msg, struct nvsp_decision *out)
{
	uint64_t size;

	nvsp_reply(in, out, NVSP_MSG1_SEND_SEND_BUF_COMPLETE, NVSP_STAT_FAIL);
	if (!in->primary || p->send_buf) {
		nvsp_fail(out, NETVSP_FAULT_WRONG_STATE, "send buffer twice or on a subchannel");
		return;
	}
	size = in->gpadl_size ? in->gpadl_size(in->ctx, msg->send_buf.gpadl) : 0;
	if (size < NETVSP_SEND_SECTION_SIZE || size > UINT32_MAX) {
		nvsp_fail(out, NETVSP_FAULT_MALFORMED, "send buffer GPADL unknown or too small");
		return;
	}
	p->send_buf = true;
	p->send_gpadl = msg->send_buf.gpadl;
	p->send_section_size = NETVSP_SEND_SECTION_SIZE;
	p->send_sections = (uint32_t)(size / NETVSP_SEND_SECTION_SIZE);
	out->msg.send_buf_complete.status = NVSP_STAT_SUCCESS;
	out->msg.send_buf_complete.section_size = NETVSP_SEND_SECTION_SIZE;
}

static void nvsp_handle_revoke_recv(struct nvsp_proto *p, const struct nvsp_input *in,
				    const struct nvsp_msg *msg, struct nvsp_decision *out)
{
	if (!p->recv_buf || msg->revoke_buf.id != NETVSC_RECEIVE_BUFFER_ID) {
		nvsp_fail(out, NETVSP_FAULT_WRONG_STATE, "revoke of a receive buffer that is not there");
		return;
	}
	p->recv_buf = false;
	p->recv_sections = 0;
	out->verdict = NVSP_RECV_BUF_REVOKED;
}

static void nvsp_handle_revoke_send(struct nvsp_proto *p, const struct nvsp_input *in,
				    const struct nvsp_msg *msg, struct nvsp_decision *out)
{
	if (!p->send_buf) {
		nvsp_fail(out, NETVSP_FAULT_WRONG_STATE, "revoke of a send buffer that is not there");
		return;
	}
	p->send_buf = false;
	p->send_sections = 0;
	out->verdict = NVSP_SEND_BUF_REVOKED;
}

static void nvsp_handle_rndis_pkt(struct nvsp_proto *p, const struct nvsp_input *in,
				  const struct nvsp_msg *msg, struct nvsp_decision *out)
{
	uint32_t idx = msg->rndis_pkt.section_index, sz = msg->rndis_pkt.section_size;

	/* The completion frees the guest's send section and TX slot: it goes
	 * out whatever happens to the message (facts §9.4). */
	nvsp_reply(in, out, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, NVSP_STAT_INVALID_RNDIS_PKT);
	if (msg->rndis_pkt.channel_type > NVSP_CHANNEL_CONTROL) {
		nvsp_fail(out, NETVSP_FAULT_MALFORMED, "RNDIS channel type is not 0 or 1");
		return;
	}
	if (idx != NVSP_SECTION_NONE) {
		/* CVE-2021-28476 was an unchecked index here. */
		if (!p->send_buf || idx >= p->send_sections) {
			nvsp_fail(out, NETVSP_FAULT_MALFORMED, "send section index out of range");
			return;
		}
		if (sz == 0 || sz > p->send_section_size) {
			nvsp_fail(out, NETVSP_FAULT_MALFORMED, "send section size out of range");
			return;
		}
	} else if (in->pkt_type != VM_PKT_DATA_USING_GPA_DIRECT) {
		nvsp_fail(out, NETVSP_FAULT_MALFORMED, "RNDIS message neither in a section nor in pages");
		return;
	}
	out->msg.rndis_pkt_complete.status = NVSP_STAT_SUCCESS;
	out->rndis.channel_type = msg->rndis_pkt.channel_type;
	out->rndis.section_index = idx;
	out->rndis.section_size = idx == NVSP_SECTION_NONE ? 0 : sz;
	out->verdict = NVSP_RNDIS;
}

static void nvsp_handle_rndis_done(struct nvsp_proto *p, const struct nvsp_input *in,
				   const struct nvsp_msg *msg, struct nvsp_decision *out)
{
	/* The status does not matter: the receive buffer range is free. */
	out->verdict = NVSP_RX_DONE;
}

static void nvsp_handle_switch_dp(struct nvsp_proto *p, const struct nvsp_input *in,
				  const struct nvsp_msg *msg, struct nvsp_decision *out)
{
	/* There is never a VF (we send no VF_ASSOCIATION, so a "no VF" is
	 * the guest's default): the synthetic path is the only one. */
	nvsp_reply(in, out, NVSP_MSG4_SWITCH_DATA_PATH, NVSP_STAT_SUCCESS);
	if (msg->switch_dp.active_datapath != 0)
		nvsp_fail(out, NETVSP_FAULT_UNSUPPORTED, "switch to a VF data path (there is none)");
}

static void nvsp_handle_subchannel(struct nvsp_proto *p, const struct nvsp_input *in,
				   const struct nvsp_msg *msg, struct nvsp_decision *out)
{
	uint32_t n = msg->subchannel.num;

	nvsp_reply(in, out, NVSP_MSG5_SUBCHANNEL, NVSP_STAT_FAIL);
	if (!in->primary) {
		nvsp_fail(out, NETVSP_FAULT_WRONG_STATE, "SUBCHANNEL on a subchannel");
		return;
	}
	if (msg->subchannel.op != NVSP_SUBCHANNEL_ALLOCATE) {
		nvsp_fail(out, NETVSP_FAULT_MALFORMED, "SUBCHANNEL op is not ALLOCATE");
		return;
	}
	/* Linux requires the granted count <= the asked one. */
	n = MIN(n, (uint32_t)p->max_subchannels);
	p->subchannels = (uint16_t)MAX((uint32_t)p->subchannels, n);
	out->msg.subchannel_complete.status = NVSP_STAT_SUCCESS;
	out->msg.subchannel_complete.num = n;
	out->subchannels = (uint16_t)n;
	out->verdict = NVSP_SUBCHANNELS;
}

/* ---- the table ---------------------------------------------------------------- */

typedef void (*nvsp_handler)(struct nvsp_proto *p, const struct nvsp_input *in,
			     const struct nvsp_msg *msg, struct nvsp_decision *out);

#define PK_INBAND (1u << 0)
#define PK_GPA    (1u << 1)
#define PK_COMP   (1u << 2)
#define ST_INIT   (1u << NVSP_WAIT_INIT)
#define ST_READY  (1u << NVSP_READY)

struct nvsp_entry {
	nvsp_handler handler;     /* NULL: host->guest only, or not served */
	uint32_t min_len;         /* bytes the handler reads */
	uint32_t states;
	uint32_t min_version;     /* lowest NVSP version with this message */
	uint32_t pkts;            /* VMBus packet types it may arrive in */
	const char *name;
};

static const struct nvsp_entry nvsp_table[NVSP_MSG_TYPE_MAX] = {
	[NVSP_MSG_INIT] = { nvsp_handle_init, NVSP_LEN(init), ST_INIT | ST_READY, 0, PK_INBAND,
		"INIT" },
	[NVSP_MSG_INIT_COMPLETE] = { NULL, 0, 0, 0, 0, "INIT_COMPLETE" },
	[NVSP_MSG1_SEND_NDIS_VER] = { nvsp_handle_ndis_ver, NVSP_LEN(ndis_ver), ST_READY, 0,
		PK_INBAND, "SEND_NDIS_VER" },
	[NVSP_MSG1_SEND_RECV_BUF] = { nvsp_handle_recv_buf, NVSP_LEN(send_buf), ST_READY, 0,
		PK_INBAND, "SEND_RECV_BUF" },
	[NVSP_MSG1_SEND_RECV_BUF_COMPLETE] = { NULL, 0, 0, 0, 0, "SEND_RECV_BUF_COMPLETE" },
	[NVSP_MSG1_REVOKE_RECV_BUF] = { nvsp_handle_revoke_recv, NVSP_LEN(revoke_buf), ST_READY,
		0, PK_INBAND, "REVOKE_RECV_BUF" },
	[NVSP_MSG1_SEND_SEND_BUF] = { nvsp_handle_send_buf, NVSP_LEN(send_buf), ST_READY, 0,
		PK_INBAND, "SEND_SEND_BUF" },
	[NVSP_MSG1_SEND_SEND_BUF_COMPLETE] = { NULL, 0, 0, 0, 0, "SEND_SEND_BUF_COMPLETE" },
	[NVSP_MSG1_REVOKE_SEND_BUF] = { nvsp_handle_revoke_send, NVSP_LEN(revoke_buf), ST_READY,
		0, PK_INBAND, "REVOKE_SEND_BUF" },
	[NVSP_MSG1_SEND_RNDIS_PKT] = { nvsp_handle_rndis_pkt, NVSP_LEN(rndis_pkt), ST_READY, 0,
		PK_INBAND | PK_GPA, "SEND_RNDIS_PKT" },
	[NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE] = { nvsp_handle_rndis_done, NVSP_LEN(rndis_pkt_complete),
		ST_READY, 0, PK_COMP, "SEND_RNDIS_PKT_COMPLETE" },
	[NVSP_MSG2_SEND_NDIS_CONFIG] = { nvsp_handle_ndis_config, NVSP_LEN(ndis_config), ST_READY,
		NVSP_PROTOCOL_VERSION_2, PK_INBAND, "SEND_NDIS_CONFIG" },
	[NVSP_MSG4_SEND_VF_ASSOCIATION] = { NULL, 0, 0, 0, 0, "SEND_VF_ASSOCIATION" },
	[NVSP_MSG4_SWITCH_DATA_PATH] = { nvsp_handle_switch_dp, NVSP_LEN(switch_dp), ST_READY,
		NVSP_PROTOCOL_VERSION_4, PK_INBAND, "SWITCH_DATA_PATH" },
	[NVSP_MSG5_SUBCHANNEL] = { nvsp_handle_subchannel, NVSP_LEN(subchannel), ST_READY,
		NVSP_PROTOCOL_VERSION_5, PK_INBAND, "SUBCHANNEL" },
	[NVSP_MSG5_SEND_INDIRECTION_TABLE] = { NULL, 0, 0, 0, 0, "SEND_INDIRECTION_TABLE" },
};

const char *nvsp_type_name(uint32_t type)
{
	if (type < NVSP_MSG_TYPE_MAX && nvsp_table[type].name)
		return nvsp_table[type].name;
	return "?";
}

static uint32_t nvsp_pkt_bit(uint16_t pkt_type)
{
	switch (pkt_type) {
	case VM_PKT_DATA_INBAND:
		return PK_INBAND;
	case VM_PKT_DATA_USING_GPA_DIRECT:
		return PK_GPA;
	case VM_PKT_COMP:
		return PK_COMP;
	default:
		return 0;
	}
}

void nvsp_dispatch(struct nvsp_proto *p, const struct nvsp_input *in, struct nvsp_decision *out)
{
	struct nvsp_msg msg;
	const struct nvsp_entry *e;

	memset(out, 0, sizeof(*out));
	if (in->len < sizeof(msg.type)) {
		nvsp_fail(out, NETVSP_FAULT_MALFORMED, "packet shorter than an NVSP type");
		return;
	}
	/* A private copy, zero-filled past what the guest sent. */
	memset(&msg, 0, sizeof(msg));
	memcpy(&msg, in->data, MIN(in->len, (uint32_t)sizeof(msg)));
	out->type = msg.type;
	e = msg.type < NVSP_MSG_TYPE_MAX ? &nvsp_table[msg.type] : NULL;
	if (!e || !e->handler) {
		nvsp_fail(out, NETVSP_FAULT_UNSUPPORTED, "NVSP type not served");
		/* Whatever it was, a guest that asked for a completion waits. */
		if (in->pkt_type != VM_PKT_COMP)
			nvsp_reply(in, out, msg.type, NVSP_STAT_FAIL);
		return;
	}
	if (!(e->pkts & nvsp_pkt_bit(in->pkt_type))) {
		nvsp_fail(out, NETVSP_FAULT_MALFORMED, "NVSP message in the wrong VMBus packet type");
		if (in->pkt_type != VM_PKT_COMP)
			nvsp_reply(in, out, msg.type, NVSP_STAT_FAIL);
		return;
	}
	if (in->len < e->min_len) {
		nvsp_fail(out, NETVSP_FAULT_MALFORMED, "NVSP message too short");
		if (in->pkt_type != VM_PKT_COMP)
			nvsp_reply(in, out, msg.type, NVSP_STAT_FAIL);
		return;
	}
	if (!(e->states & (1u << p->state))) {
		nvsp_fail(out, NETVSP_FAULT_WRONG_STATE, "NVSP message before INIT");
		if (in->pkt_type != VM_PKT_COMP)
			nvsp_reply(in, out, msg.type, NVSP_STAT_FAIL);
		return;
	}
	if (p->version < e->min_version) {
		nvsp_fail(out, NETVSP_FAULT_WRONG_STATE, "NVSP message newer than the negotiated version");
		nvsp_reply(in, out, msg.type, NVSP_STAT_FAIL);
		return;
	}
	e->handler(p, in, &msg, out);
}
