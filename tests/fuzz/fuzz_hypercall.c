/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes hypercall decoding (src/hv/hypercall.c): arbitrary control words
 * (call code, fast bit, variable header size, rep count and start,
 * reserved bits), input GPAs inside and outside RAM, unaligned and across
 * a page, fast inputs, and the bytes of the input block, from any vCPU.
 * The partition is bound and live: the VMBus channel server listens on
 * connection ids 1 and 4 (and a channel's event port once it is opened),
 * so accepted HvPostMessage/HvSignalEvent calls run through to it; a port
 * of our own (FZ_CONN) checks what a handler is handed.
 *
 * Checked for every call, from the TLFS rules hypercall.c cites: RAX
 * carries only a status (neither call is a rep call, so no reps
 * completed); an unknown code is INVALID_HYPERCALL_CODE; reserved or rep
 * bits are INVALID_HYPERCALL_INPUT; a misplaced input block is
 * INVALID_ALIGNMENT or INVALID_PARAMETER; a port handler sees exactly the
 * payload the guest wrote, never more than 240 bytes, and its status is
 * what the guest gets; only a fast HvSignalEvent may name a connection id
 * for the eventfd path.
 *
 * Input: byte 0 bit 0 connects the guest (INITIATE_CONTACT, offers) and
 * bit 1 also opens channel 1.  Then records:
 *   [sel u8][code u16][control u64][input u64][output u64]
 *   [conn u32][rsvd u32][type u32][size u8][n u8][n payload bytes]
 * sel bits 1:0 vCPU, bit 2 a vCPU that does not exist, bits 4:3 the call
 * (0 HvPostMessage, 1 HvSignalEvent, 2 `code`, 3 a real Hyper-V code we do
 * not implement), bit 5 fast, bit 6 ORs control bits 63:16 in, bit 7 aims
 * the input at fz_gpa(input) instead of the input page.  conn/rsvd/type/
 * size build the input block (an HvPostMessage header; its first qword is
 * also a slow HvSignalEvent's input); conn's bits 31:30 pick a connection
 * id that exists (ours, 1 or 4, channel 1's) unless 3.
 */
#include <errno.h>

#include "core/log.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/vmbus_harness.h"

#define FZ_VCPUS 2u
#define FZ_CONN  0x123456u /* a port of our own, registered once */

static struct th fz;
static bool fz_ready;

/* What our port handler saw and must have seen. */
static struct {
	struct hv_input_post_message expect; /* the block as the guest wrote it */
	bool armed;                          /* a post to FZ_CONN may arrive */
	uint32_t posts, events;
	uint16_t status;                     /* what the handler answered */
} port;

/* Real Hyper-V call codes (TLFS appendix A) that this host does not
 * implement: each must be INVALID_HYPERCALL_CODE, never a crash. */
static const uint16_t other_codes[8] = {
	0x0002, /* HvFlushVirtualAddressSpace */
	0x0003, /* HvFlushVirtualAddressList */
	0x0008, /* HvNotifyLongSpinWait */
	0x0013, /* HvFlushVirtualAddressSpaceEx */
	0x0014, /* HvFlushVirtualAddressListEx */
	0x004A, /* HvSendSyntheticClusterIpi */
	0x0099, /* HvRetargetDeviceInterrupt */
	0x00AF, /* HvExtCallQueryCapabilities */
};

static uint16_t fz_port_msg(void *opaque, uint32_t vp, uint32_t conn_id, const void *payload,
			    uint32_t size)
{
	(void)opaque;
	CHECK(port.armed && vp < FZ_VCPUS && conn_id == FZ_CONN);
	/* The handler gets the bytes as they were when the call was made,
	 * and only as many as the guest said, at most a message's worth. */
	CHECK(size == port.expect.payload_size && size <= HV_MESSAGE_PAYLOAD_MAX);
	CHECK(memcmp(payload, port.expect.payload, size) == 0);
	port.posts++;
	/* Either answer reaches the guest unchanged. */
	port.status = (size && port.expect.payload[0] & 1) ? HV_STATUS_INSUFFICIENT_BUFFERS
							  : HV_STATUS_SUCCESS;
	return port.status;
}

static void fz_port_evt(void *opaque, uint32_t conn_id)
{
	(void)opaque;
	CHECK(conn_id == FZ_CONN);
	port.events++;
}

/* Bits 31:30: 0 our port, 1 the VMBus message ports (1, or 4 when bit 0
 * is set), 2 channel 1's event port, 3 the raw value. */
static uint32_t pick_conn(uint32_t raw)
{
	switch (raw >> 30) {
	case 0:
		return FZ_CONN;
	case 1:
		return raw & 1 ? VMBUS_MESSAGE_CONNECTION_ID_4 : VMBUS_MESSAGE_CONNECTION_ID;
	case 2:
		return 0x11;
	default:
		return raw;
	}
}

static bool block_readable(uint64_t gpa, size_t len)
{
	return (gpa & 7) == 0 && (gpa & 4095) + len <= 4096 && th_ptr(&fz, gpa, len) != NULL;
}

static void one_call(struct fz_in *in)
{
	uint8_t sel = fz_u8(in);
	uint16_t raw_code = fz_u16(in);
	uint64_t hi = fz_u64(in), input = fz_u64(in), output = fz_u64(in);
	struct hv_input_post_message blk = { 0 };
	uint32_t vp = sel & 3, signal_id = 0xFFFFFFFF, n, call = (sel >> 3) & 3;
	uint64_t control, gpa = TH_INPUT, rax, q, q_mem;
	bool fast = sel & 0x20, clean, wrote = false;
	uint16_t code, st;
	uint32_t posts = port.posts, events = port.events;

	blk.connection_id = pick_conn(fz_u32(in));
	blk.reserved = fz_u32(in);
	blk.message_type = fz_u32(in);
	blk.payload_size = fz_u8(in);
	n = fz_u8(in);
	fz_bytes(in, blk.payload, n < sizeof(blk.payload) ? n : sizeof(blk.payload));
	if (n > sizeof(blk.payload))
		in->pos += n - sizeof(blk.payload);

	if (sel & 4)
		vp = FZ_VCPUS + (sel & 3) * 1000;
	code = call == 0 ? HVCALL_POST_MESSAGE : call == 1 ? HVCALL_SIGNAL_EVENT :
	       call == 2 ? raw_code : other_codes[raw_code & 7];
	control = code | (fast ? HV_HC_FAST : 0);
	if (sel & 0x40)
		control |= hi & ~HV_HC_CODE_MASK;
	fast = control & HV_HC_FAST;
	if (sel & 0x80)
		gpa = fz_gpa(input);
	/* The guest's input page holds the block wherever it fits in RAM. */
	if (gmem_write(&fz.mem, gpa, &blk, sizeof(blk)) == 0)
		wrote = true;
	if (fast && code == HVCALL_SIGNAL_EVENT && !(sel & 0x80))
		input = blk.connection_id | ((uint64_t)blk.reserved << 32);
	else if (!fast)
		input = gpa;

	/* A slow HvSignalEvent reads 8 bytes, which may be readable where
	 * the whole block did not fit: take them as the guest left them. */
	if (gmem_read(&fz.mem, input, &q_mem, sizeof(q_mem)) < 0)
		q_mem = 0;
	port.expect = blk;
	port.armed = wrote && !fast && code == HVCALL_POST_MESSAGE;
	rax = hv_hypercall(fz.hv, vp, control, input, output, &signal_id);
	port.armed = false;
	st = (uint16_t)rax;

	/* Neither implemented call is a rep call: no reps completed, ever. */
	CHECK((rax >> 16) == 0);
	CHECK(signal_id == 0 || (st == HV_STATUS_SUCCESS && fast && code == HVCALL_SIGNAL_EVENT));
	if (vp >= FZ_VCPUS) {
		CHECK(st == HV_STATUS_INVALID_PARAMETER);
		return;
	}
	if (code != HVCALL_POST_MESSAGE && code != HVCALL_SIGNAL_EVENT) {
		CHECK(st == HV_STATUS_INVALID_HYPERCALL_CODE);
		return;
	}
	clean = !(control & ((0x1Full << 27) | (0xFull << 44) | (0xFull << 60) |
			     HV_HC_VARHEAD_MASK | HV_HC_REP_COUNT_MASK | HV_HC_REP_START_MASK));
	if (!clean) {
		CHECK(st == HV_STATUS_INVALID_HYPERCALL_INPUT);
		return;
	}
	if (!fast && !block_readable(input, code == HVCALL_POST_MESSAGE ? sizeof(blk) : 8)) {
		CHECK(st == HV_STATUS_INVALID_ALIGNMENT || st == HV_STATUS_INVALID_PARAMETER);
		CHECK(port.posts == posts && port.events == events);
		return;
	}
	if (code == HVCALL_POST_MESSAGE) {
		if (fast) {
			CHECK(st == HV_STATUS_INVALID_HYPERCALL_INPUT);
		} else if (blk.connection_id == FZ_CONN && blk.reserved == 0 &&
			   blk.message_type != 0 && !(blk.message_type >> 31) &&
			   blk.payload_size <= HV_MESSAGE_PAYLOAD_MAX) {
			CHECK(port.posts == posts + 1 && st == port.status);
		} else {
			CHECK(port.posts == posts);
		}
		return;
	}
	/* HvSignalEvent: the qword is the fast input or the block's first. */
	q = fast ? input : q_mem;
	if ((q & 0xFFFFFFFF) == FZ_CONN && (q >> 32) == 0)
		CHECK(st == HV_STATUS_SUCCESS && port.events == events + 1);
	else if ((q >> 32) != 0)
		CHECK(st != HV_STATUS_SUCCESS && port.events == events);
	/* What the frontend does with a fast path it was handed: later
	 * kicks arrive through hv_signal_event_port(). */
	if (signal_id)
		hv_signal_event_port(fz.hv, signal_id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmbus_server_config cfg = { 0 };
	struct fz_in in = { data, size, 0 };
	static struct td d;
	uint8_t setup;

	if (!fz_ready) {
		log_set_level(LOG_ERROR);
		if (th_init(&fz, FZ_VCPUS, 0) != 0 || fz_add_ram2(&fz.mem) != 0 ||
		    hv_register_message_port(fz.hv, FZ_CONN, fz_port_msg, NULL) != 0 ||
		    hv_register_event_port(fz.hv, FZ_CONN, fz_port_evt, NULL) != 0)
			return 0;
		vmbus_server_free(fz.srv);
		fz.srv = NULL;
		fz_ready = true;
	}
	if (size < 1)
		return 0;
	/* A fresh partition and channel server per input: deterministic. */
	hv_partition_reset(fz.hv);
	for (uint32_t vp = 0; vp < FZ_VCPUS; vp++)
		th_synic_enable(&fz, vp);
	fz.next_alloc = TH_ALLOC_BASE;
	fz.srv = vmbus_server_new(fz.hv, NULL, &cfg);
	if (!fz.srv)
		return 0;
	td_offer(&fz, &d, 1, 0, false);
	d.drain_on_notify = true;
	setup = fz_u8(&in);
	if (setup & 1) {
		th_connect(&fz, VMBUS_VERSION_WIN10_V5_3);
		th_request_offers(&fz, NULL, 0);
		if (setup & 2) {
			struct tg_chan c;

			tg_open(&fz, &c, 1, 0xE1E10, 2, 2, 0, 0);
		}
	}
	while (fz_more(&in)) {
		one_call(&in);
		/* The guest takes whatever the channel server answered. */
		for (uint32_t vp = 0; vp < FZ_VCPUS; vp++)
			th_drain(&fz, vp);
		vmbus_server_flush(fz.srv);
	}
	th_drain(&fz, 0);
	vmbus_server_free(fz.srv);
	fz.srv = NULL;
	return 0;
}
