/* SPDX-License-Identifier: MIT */
/*
 * Hypercall decoding (facts §2; TLFS chapter 3).  A 6.1 guest with our
 * CPUID issues only HvPostMessage (slow) and HvSignalEvent (fast); every
 * other code is INVALID_HYPERCALL_CODE (facts §2.3, §11).
 *
 * Everything here is guest input: the control word, the GPAs and the bytes
 * at them.  Input blocks are copied out of guest memory before they are
 * looked at (the guest may change them under us; a check on guest memory
 * followed by a second read would be a double fetch), every refusal is
 * counted and logged with a rate limit, and the result is an HV_STATUS.
 */
#include <string.h>

#include "core/fault.h"
#include "core/log.h"
#include "core/trace.h"
#include "hv/hv_internal.h"

/* Control word bits 31:27, 47:44 and 63:60 are reserved (facts §2.1). */
#define HV_HC_RESERVED_MASK ((0x1Full << 27) | (0xFull << 44) | (0xFull << 60))
/* Input blocks are 8-byte aligned and may not cross a page (TLFS 3.6). */
#define HV_HC_INPUT_ALIGN 8u
/* HvSignalEvent input bits 63:48 and the connection id's bits 31:24 are
 * reserved (TLFS HV_CONNECTION_ID; KVM kvm_hvcall_signal_event()). */
#define HV_SIGNAL_RESERVED_MASK (0xFFFF000000000000ull | 0xFF000000ull)
/* message_type values with bit 31 set are hypervisor messages (timers,
 * intercepts); a guest may not post them (TLFS 11.10.1). */
#define HV_MESSAGE_TYPE_HYPERVISOR_BIT 0x80000000u

/* Every hypercall ends here: each refusal is counted once, by its cause. */
static uint64_t hv_hc_result(struct hv_partition *hv, uint16_t status)
{
	switch (status) {
	case HV_STATUS_SUCCESS:
		break;
	case HV_STATUS_INVALID_HYPERCALL_CODE:
		hv->stats.hc_refused++;
		hv->stats.hc_unknown_code++;
		break;
	case HV_STATUS_INVALID_CONNECTION_ID:
		hv->stats.hc_refused++;
		hv->stats.hc_unknown_conn++;
		break;
	case HV_STATUS_INSUFFICIENT_BUFFERS:
		hv->stats.hc_refused++;
		hv->stats.hc_busy++;
		break;
	default:
		hv->stats.hc_refused++;
		hv->stats.hc_bad_input++;
		break;
	}
	/* RAX bits 15:0 = status; reps completed stay 0: neither call we
	 * implement is a rep call. */
	return status;
}

/* Reads a slow call's input block: aligned, inside one page, inside RAM. */
static uint16_t hv_hc_read_input(struct hv_partition *hv, uint64_t gpa, void *buf, size_t len)
{
	if (gpa & (HV_HC_INPUT_ALIGN - 1))
		return HV_STATUS_INVALID_ALIGNMENT;
	if ((gpa & (HV_PAGE_SIZE - 1)) + len > HV_PAGE_SIZE)
		return HV_STATUS_INVALID_ALIGNMENT;
	if (gmem_read(hv->mem, gpa, buf, len) < 0)
		return HV_STATUS_INVALID_PARAMETER;
	return HV_STATUS_SUCCESS;
}

static uint16_t hv_hc_post_message(struct hv_partition *hv, uint32_t vp, uint64_t control,
				   uint64_t input_gpa)
{
	struct hv_input_post_message in;
	struct hv_port *p;
	struct hv_port port;
	uint32_t conn_id;
	uint16_t status;

	/* HvPostMessage has a 256-byte input block: no fast form (TLFS 3.7
	 * lists fast calls; QEMU refuses it too). */
	if (control & HV_HC_FAST) {
		log_guest("vp %u: fast HvPostMessage refused", vp);
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	}
	status = hv_hc_read_input(hv, input_gpa, &in, sizeof(in));
	if (status != HV_STATUS_SUCCESS) {
		log_guest("vp %u: HvPostMessage input at %#llx unusable (status %u)", vp,
			  (unsigned long long)input_gpa, status);
		return status;
	}
	trace_emit("hv.post_message", in.connection_id, &in, sizeof(in));

	if (in.reserved != 0 || (in.connection_id & ~HV_CONNECTION_ID_MASK)) {
		log_guest("vp %u: HvPostMessage reserved fields set", vp);
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	}
	conn_id = in.connection_id;
	if (in.message_type == HVMSG_NONE || (in.message_type & HV_MESSAGE_TYPE_HYPERVISOR_BIT)) {
		log_guest("vp %u: HvPostMessage bad message type %#x", vp, in.message_type);
		return HV_STATUS_INVALID_PARAMETER;
	}
	if (in.payload_size > HV_MESSAGE_PAYLOAD_MAX) {
		log_guest("vp %u: HvPostMessage payload size %u > %u", vp, in.payload_size,
			  HV_MESSAGE_PAYLOAD_MAX);
		return HV_STATUS_INVALID_PARAMETER;
	}
	p = hv_port_find(&hv->msg_ports, conn_id);
	if (!p) {
		/* Also what a guest probing for connection ids gets (Linux
		 * tries INITIATE_CONTACT on id 4 then 1; facts §2.3). */
		log_debug("vp %u: HvPostMessage to unknown connection id %u", vp, conn_id);
		return HV_STATUS_INVALID_CONNECTION_ID;
	}
	/* Copy: the handler may (un)register ports, moving the table. */
	port = *p;
	if (fault_hit("hv.post_message"))
		return HV_STATUS_INSUFFICIENT_BUFFERS;
	hv->stats.post_messages++;
	return port.fn.msg(port.opaque, vp, conn_id, in.payload, in.payload_size);
}

static uint16_t hv_hc_signal_event(struct hv_partition *hv, uint32_t vp, uint64_t control,
				   uint64_t input, uint32_t *signal_conn_id)
{
	struct hv_port *p;
	struct hv_port port;
	uint64_t q = input;
	uint32_t conn_id;
	uint16_t status;

	if (!(control & HV_HC_FAST)) {
		status = hv_hc_read_input(hv, input, &q, sizeof(q));
		if (status != HV_STATUS_SUCCESS) {
			log_guest("vp %u: HvSignalEvent input at %#llx unusable (status %u)", vp,
				  (unsigned long long)input, status);
			return status;
		}
	}
	if (HV_SIGNAL_FLAG_NR(q) != 0) {
		/* Linux always sends flag number 0 (facts §2.3); we have no
		 * use for others. */
		log_guest("vp %u: HvSignalEvent flag number %u", vp, HV_SIGNAL_FLAG_NR(q));
		return HV_STATUS_INVALID_PARAMETER;
	}
	if (q & HV_SIGNAL_RESERVED_MASK) {
		log_guest("vp %u: HvSignalEvent reserved bits set (%#llx)", vp,
			  (unsigned long long)q);
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	}
	conn_id = HV_SIGNAL_CONN_ID(q);
	p = hv_port_find(&hv->evt_ports, conn_id);
	if (!p) {
		log_guest("vp %u: HvSignalEvent for unknown connection id %u", vp, conn_id);
		return HV_STATUS_INVALID_CONNECTION_ID;
	}
	port = *p;
	/* Only the fast form may move to the eventfd path: that is the only
	 * form the frontend can turn into a kick without reading memory. */
	if ((control & HV_HC_FAST) && signal_conn_id)
		*signal_conn_id = conn_id;
	hv->stats.signal_events++;
	port.fn.evt(port.opaque, conn_id);
	return HV_STATUS_SUCCESS;
}

uint64_t hv_hypercall(struct hv_partition *hv, uint32_t vp, uint64_t control,
		      uint64_t input, uint64_t output, uint32_t *signal_conn_id)
{
	uint16_t code = (uint16_t)(control & HV_HC_CODE_MASK);

	if (signal_conn_id)
		*signal_conn_id = 0;
	hv->stats.hypercalls++;
	if (!hv_vp_valid(hv, vp)) {
		/* A frontend bug rather than a guest one, but still input. */
		log_guest("hypercall from unknown vp %u", vp);
		return hv_hc_result(hv, HV_STATUS_INVALID_PARAMETER);
	}
	if (code != HVCALL_POST_MESSAGE && code != HVCALL_SIGNAL_EVENT) {
		log_guest("vp %u: unknown hypercall code %#x", vp, code);
		return hv_hc_result(hv, HV_STATUS_INVALID_HYPERCALL_CODE);
	}
	/* Neither call is a rep call or has a variable header (TLFS 3.7). */
	if (control & (HV_HC_RESERVED_MASK | HV_HC_VARHEAD_MASK | HV_HC_REP_COUNT_MASK |
		       HV_HC_REP_START_MASK)) {
		log_guest("vp %u: hypercall %#x control word %#llx has reserved/rep bits", vp,
			  code, (unsigned long long)control);
		return hv_hc_result(hv, HV_STATUS_INVALID_HYPERCALL_INPUT);
	}
	if (code == HVCALL_POST_MESSAGE)
		return hv_hc_result(hv, hv_hc_post_message(hv, vp, control, input));
	return hv_hc_result(hv, hv_hc_signal_event(hv, vp, control, input, signal_conn_id));
}

void hv_signal_event_port(struct hv_partition *hv, uint32_t conn_id)
{
	struct hv_port *p = hv_port_find(&hv->evt_ports, conn_id);
	struct hv_port port;

	if (!p) {
		/* A kick on an eventfd whose port went away (channel closed
		 * while the guest still signalled): harmless. */
		hv->stats.signal_unknown++;
		return;
	}
	port = *p;
	hv->stats.signal_events++;
	port.fn.evt(port.opaque, conn_id);
}
