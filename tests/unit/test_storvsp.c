/* SPDX-License-Identifier: MIT */
/*
 * storvsp: the pure protocol (devices/storvsp_proto.c) packet by packet,
 * then the device end to end over a real channel (tests/unit/vmbus_harness.h
 * plays the guest's ring side; a raw image in /tmp is the disk).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/util.h"
#include "devices/storvsp.h"
#include "vmbus_harness.h"

/* ---- helpers -------------------------------------------------------------- */

static struct storvsp_proto P;

static struct vstor_packet pkt_op(uint32_t op)
{
	struct vstor_packet p;

	memset(&p, 0, sizeof(p));
	p.operation = op;
	p.flags = VSTOR_FLAG_REQUEST_COMPLETION;
	return p;
}

static void dispatch_len(const struct vstor_packet *p, uint32_t len, bool primary,
			 struct storvsp_decision *d)
{
	struct storvsp_input in = {
		.pkt_type = VM_PKT_DATA_INBAND, .want_completion = true, .primary = primary,
		.data = (const uint8_t *)p, .len = len,
	};

	storvsp_proto_dispatch(&P, &in, d);
}

static void dispatch(const struct vstor_packet *p, struct storvsp_decision *d)
{
	dispatch_len(p, sizeof(*p), true, d);
}

/* Linux 6.1 storvsc_channel_init up to END_INITIALIZATION. */
static void linux_init(uint16_t subchannels)
{
	struct storvsp_decision d;
	struct vstor_packet p;

	storvsp_proto_init(&P, subchannels, STORVSP_DEFAULT_MAX_TRANSFER);
	p = pkt_op(VSTOR_OP_BEGIN_INITIALIZATION);
	dispatch(&p, &d);
	ck_assert_int_eq(d.reply.status, 0);
	p = pkt_op(VSTOR_OP_QUERY_PROTOCOL_VERSION);
	p.version.major_minor = VMSTOR_PROTO_VERSION_WIN10;
	dispatch(&p, &d);
	ck_assert_int_eq(d.reply.status, 0);
	p = pkt_op(VSTOR_OP_QUERY_PROPERTIES);
	dispatch(&p, &d);
	ck_assert_int_eq(d.reply.status, 0);
	p = pkt_op(VSTOR_OP_END_INITIALIZATION);
	dispatch(&p, &d);
	ck_assert_int_eq(d.reply.status, 0);
	ck_assert_int_eq(P.state, STORVSP_READY);
}

static struct vstor_packet srb_pkt(uint8_t op, uint8_t data_in, uint32_t len)
{
	struct vstor_packet p = pkt_op(VSTOR_OP_EXECUTE_SRB);

	p.vm_srb.length = sizeof(struct vmscsi_request);
	p.vm_srb.cdb_length = 10;
	p.vm_srb.sense_info_length = VSTOR_SENSE_SIZE;
	p.vm_srb.data_in = data_in;
	p.vm_srb.data_transfer_length = len;
	p.vm_srb.cdb[0] = op;
	p.vm_srb.lun = 3;
	p.vm_srb.time_out_value = 60;
	return p;
}

static void dispatch_srb(const struct vstor_packet *p, uint32_t len, bool gpa, uint64_t buf,
			 struct storvsp_decision *d)
{
	struct storvsp_input in = {
		.pkt_type = gpa ? VM_PKT_DATA_USING_GPA_DIRECT : VM_PKT_DATA_INBAND,
		.want_completion = true, .primary = false,
		.data = (const uint8_t *)p, .len = len, .buffer_len = buf,
	};

	storvsp_proto_dispatch(&P, &in, d);
}

/* ---- wire layout ------------------------------------------------------------ */

START_TEST(test_layout)
{
	/* Offsets inside vstor_packet, facts §8.1 (pahole). */
	ck_assert_uint_eq(sizeof(struct vstor_packet), 64);
	ck_assert_uint_eq(sizeof(struct vmscsi_request), 52);
	ck_assert_uint_eq(offsetof(struct vstor_packet, vm_srb) + offsetof(struct vmscsi_request, length), 12);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, srb_status), 14);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, scsi_status), 15);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, path_id), 17);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, target_id), 18);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, lun), 19);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, cdb_length), 20);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, sense_info_length), 21);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, data_in), 22);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, data_transfer_length), 24);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, cdb), 28);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, reserve), 48);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, queue_tag), 50);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, srb_flags), 52);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, time_out_value), 56);
	ck_assert_uint_eq(12 + offsetof(struct vmscsi_request, queue_sort_key), 60);
	ck_assert_uint_eq(12 + offsetof(struct vmstorage_channel_properties, max_channel_cnt), 16);
	ck_assert_uint_eq(12 + offsetof(struct vmstorage_channel_properties, flags), 20);
	ck_assert_uint_eq(12 + offsetof(struct vmstorage_channel_properties, max_transfer_bytes), 24);
	ck_assert_uint_eq(offsetof(struct vstor_packet, sub_channel_count), 12);
	ck_assert_uint_eq(VMSCSI_REQUEST_LEN_V1, 36);
}
END_TEST

START_TEST(test_sizes_per_version)
{
	ck_assert_uint_eq(storvsp_request_size(VMSTOR_PROTO_VERSION_WIN10), 52);
	ck_assert_uint_eq(storvsp_request_size(VMSTOR_PROTO_VERSION_WIN8), 52);
	ck_assert_uint_eq(storvsp_request_size(VMSTOR_PROTO_VERSION_WIN7), 36);
	ck_assert_uint_eq(storvsp_request_size(0), 36);
	ck_assert_uint_eq(storvsp_sense_size(VMSTOR_PROTO_VERSION_WIN8_1), 20);
	ck_assert_uint_eq(storvsp_sense_size(VMSTOR_PROTO_VERSION_WIN6), 18);
	/* Linux 6.1 sends 64 from its first packet: always answered with 64. */
	ck_assert_uint_eq(storvsp_reply_len(64, 0), 64);
	ck_assert_uint_eq(storvsp_reply_len(64, VMSTOR_PROTO_VERSION_WIN10), 64);
	ck_assert_uint_eq(storvsp_reply_len(200, VMSTOR_PROTO_VERSION_WIN10), 64);
	/* A pre-Win8 guest's 48-byte packets get 48-byte answers. */
	ck_assert_uint_eq(storvsp_reply_len(48, 0), 48);
	ck_assert_uint_eq(storvsp_reply_len(48, VMSTOR_PROTO_VERSION_WIN7), 48);
	ck_assert_uint_eq(storvsp_reply_len(4, 0), 48);
	ck_assert_uint_eq(storvsp_reply_len(48, VMSTOR_PROTO_VERSION_WIN8), 64);
}
END_TEST

/* ---- initialisation --------------------------------------------------------- */

START_TEST(test_linux_init_sequence)
{
	struct storvsp_decision d;
	struct vstor_packet p;

	storvsp_proto_init(&P, 4, STORVSP_DEFAULT_MAX_TRANSFER);
	p = pkt_op(VSTOR_OP_BEGIN_INITIALIZATION);
	dispatch(&p, &d);
	ck_assert_int_eq(d.verdict, STORVSP_REPLY);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_NONE);
	ck_assert_uint_eq(d.reply.operation, VSTOR_OP_COMPLETE_IO);
	ck_assert_uint_eq(d.reply.status, 0);
	ck_assert_uint_eq(d.reply_len, 64);

	p = pkt_op(VSTOR_OP_QUERY_PROTOCOL_VERSION);
	p.version.major_minor = VMSTOR_PROTO_VERSION_WIN10;
	dispatch(&p, &d);
	ck_assert_int_eq(d.verdict, STORVSP_REPLY);
	ck_assert_uint_eq(d.reply.operation, VSTOR_OP_COMPLETE_IO);
	ck_assert_uint_eq(d.reply.status, 0);
	ck_assert_uint_eq(d.reply.version.major_minor, 0x0602);
	ck_assert_uint_eq(P.version, 0x0602);

	p = pkt_op(VSTOR_OP_QUERY_PROPERTIES);
	dispatch(&p, &d);
	ck_assert_uint_eq(d.reply.status, 0);
	ck_assert_uint_eq(d.reply.properties.max_transfer_bytes, 0x40000);
	ck_assert_uint_eq(d.reply.properties.flags, STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL);
	ck_assert_uint_eq(d.reply.properties.max_channel_cnt, 4);

	p = pkt_op(VSTOR_OP_END_INITIALIZATION);
	dispatch(&p, &d);
	ck_assert_uint_eq(d.reply.status, 0);
	ck_assert_int_eq(P.state, STORVSP_READY);

	p = pkt_op(VSTOR_OP_CREATE_SUB_CHANNELS);
	p.sub_channel_count = 3;
	dispatch(&p, &d);
	ck_assert_int_eq(d.verdict, STORVSP_SUBCHANNELS);
	ck_assert_uint_eq(d.subchannels, 3);
	ck_assert_uint_eq(d.reply.status, 0);
	ck_assert_uint_eq(d.reply.operation, VSTOR_OP_COMPLETE_IO);
	/* A smaller count later keeps what was granted; above max is refused. */
	p.sub_channel_count = 1;
	dispatch(&p, &d);
	ck_assert_uint_eq(d.subchannels, 3);
	p.sub_channel_count = 5;
	dispatch(&p, &d);
	ck_assert_int_eq(d.verdict, STORVSP_REPLY);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_MALFORMED);
	ck_assert_uint_eq(d.reply.status, VSTOR_STATUS_INVALID_PARAMETER);
	ck_assert_uint_eq(P.subchannels, 3);
}
END_TEST

START_TEST(test_version_fallback)
{
	static const uint16_t refused[] = { 0x0700, 0x0603, 0x0000, 0xFFFF, 0x0500 };
	static const uint16_t accepted[] = { 0x0602, 0x0600, 0x0501, 0x0402, 0x0200 };
	struct storvsp_decision d;
	struct vstor_packet p;

	for (size_t i = 0; i < ARRAY_SIZE(accepted); i++) {
		storvsp_proto_init(&P, 8, 0x40000);
		p = pkt_op(VSTOR_OP_BEGIN_INITIALIZATION);
		dispatch(&p, &d);
		for (size_t j = 0; j < ARRAY_SIZE(refused); j++) {
			p = pkt_op(VSTOR_OP_QUERY_PROTOCOL_VERSION);
			p.version.major_minor = refused[j];
			dispatch(&p, &d);
			/* Refused, but still a COMPLETE_IO: Linux tries the next. */
			ck_assert_int_eq(d.verdict, STORVSP_REPLY);
			ck_assert_int_eq(d.fault, STORVSP_FAULT_NONE);
			ck_assert_uint_eq(d.reply.operation, VSTOR_OP_COMPLETE_IO);
			ck_assert_uint_eq(d.reply.status, VSTOR_STATUS_REVISION_MISMATCH);
			ck_assert_int_eq(P.state, STORVSP_WAIT_VERSION);
		}
		p = pkt_op(VSTOR_OP_QUERY_PROTOCOL_VERSION);
		p.version.major_minor = accepted[i];
		dispatch(&p, &d);
		ck_assert_uint_eq(d.reply.status, 0);
		p = pkt_op(VSTOR_OP_QUERY_PROPERTIES);
		dispatch(&p, &d);
		/* Multi-channel only from WIN8 (5.1) on. */
		ck_assert_uint_eq(d.reply.properties.flags, accepted[i] >= 0x0501 ? 1 : 0);
		ck_assert_uint_eq(d.reply.properties.max_channel_cnt, accepted[i] >= 0x0501 ? 8 : 0);
	}
}
END_TEST

START_TEST(test_no_multichannel)
{
	struct storvsp_decision d;
	struct vstor_packet p;

	linux_init(0);
	p = pkt_op(VSTOR_OP_QUERY_PROPERTIES);
	storvsp_proto_init(&P, 0, 0x100000);
	P.state = STORVSP_WAIT_PROPERTIES;
	P.version = VMSTOR_PROTO_VERSION_WIN10;
	dispatch(&p, &d);
	ck_assert_uint_eq(d.reply.properties.flags, 0);
	ck_assert_uint_eq(d.reply.properties.max_channel_cnt, 0);
	ck_assert_uint_eq(d.reply.properties.max_transfer_bytes, 0x100000);
	p = pkt_op(VSTOR_OP_END_INITIALIZATION);
	dispatch(&p, &d);
	p = pkt_op(VSTOR_OP_CREATE_SUB_CHANNELS);
	p.sub_channel_count = 1;
	dispatch(&p, &d);
	ck_assert_int_eq(d.verdict, STORVSP_REPLY);
	ck_assert_uint_eq(d.reply.status, VSTOR_STATUS_INVALID_PARAMETER);
}
END_TEST

START_TEST(test_out_of_order)
{
	struct storvsp_decision d;
	struct vstor_packet p;

	storvsp_proto_init(&P, 2, 0x40000);
	/* Nothing but BEGIN first. */
	static const uint32_t early[] = { VSTOR_OP_QUERY_PROTOCOL_VERSION, VSTOR_OP_QUERY_PROPERTIES,
					  VSTOR_OP_END_INITIALIZATION, VSTOR_OP_CREATE_SUB_CHANNELS,
					  VSTOR_OP_RESET_BUS };
	for (size_t i = 0; i < ARRAY_SIZE(early); i++) {
		p = pkt_op(early[i]);
		p.version.major_minor = VMSTOR_PROTO_VERSION_WIN10;
		dispatch(&p, &d);
		ck_assert_int_eq(d.verdict, STORVSP_REPLY);
		ck_assert_int_eq(d.fault, STORVSP_FAULT_WRONG_STATE);
		ck_assert_uint_eq(d.reply.operation, VSTOR_OP_COMPLETE_IO);
		ck_assert_uint_eq(d.reply.status, VSTOR_STATUS_INVALID_DEVICE_STATE);
		ck_assert_int_eq(P.state, STORVSP_WAIT_BEGIN);
	}
	/* I/O before END_INITIALIZATION: refused with an SRB error too. */
	p = srb_pkt(0x00, VSTOR_DATA_UNKNOWN, 0);
	dispatch_srb(&p, 64, false, 0, &d);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_WRONG_STATE);
	ck_assert_uint_eq(d.reply.status, VSTOR_STATUS_INVALID_DEVICE_STATE);
	ck_assert_uint_eq(d.reply.vm_srb.srb_status, SRB_STATUS_INVALID_REQUEST);
	ck_assert_uint_eq(d.reply.vm_srb.lun, 3);
	/* END straight after the version: properties must come first. */
	p = pkt_op(VSTOR_OP_BEGIN_INITIALIZATION);
	dispatch(&p, &d);
	p = pkt_op(VSTOR_OP_QUERY_PROTOCOL_VERSION);
	p.version.major_minor = VMSTOR_PROTO_VERSION_WIN8;
	dispatch(&p, &d);
	p = pkt_op(VSTOR_OP_END_INITIALIZATION);
	dispatch(&p, &d);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_WRONG_STATE);
	/* BEGIN restarts before READY ... */
	p = pkt_op(VSTOR_OP_BEGIN_INITIALIZATION);
	dispatch(&p, &d);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_NONE);
	ck_assert_uint_eq(P.version, 0);
	/* ... but not after, nor on a subchannel. */
	linux_init(2);
	p = pkt_op(VSTOR_OP_BEGIN_INITIALIZATION);
	dispatch(&p, &d);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_WRONG_STATE);
	ck_assert_int_eq(P.state, STORVSP_READY);
	p = pkt_op(VSTOR_OP_CREATE_SUB_CHANNELS);
	p.sub_channel_count = 1;
	dispatch_len(&p, 64, false, &d);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_WRONG_STATE);
	storvsp_proto_reset(&P);
	ck_assert_int_eq(P.state, STORVSP_WAIT_BEGIN);
	ck_assert_uint_eq(P.version, 0);
}
END_TEST

START_TEST(test_resets_and_unsupported)
{
	static const uint32_t resets[] = { VSTOR_OP_RESET_LUN, VSTOR_OP_RESET_ADAPTER,
					   VSTOR_OP_RESET_BUS };
	static const uint32_t bad[] = { VSTOR_OP_FCHBA_DATA, VSTOR_OP_ENUMERATE_BUS,
					VSTOR_OP_REMOVE_DEVICE, VSTOR_OP_COMPLETE_IO, 0, 14, 99,
					0xFFFFFFFFu };
	struct storvsp_decision d;
	struct vstor_packet p;

	linux_init(0);
	for (size_t i = 0; i < ARRAY_SIZE(resets); i++) {
		p = pkt_op(resets[i]);
		dispatch_len(&p, 64, i == 1, &d);
		ck_assert_int_eq(d.verdict, STORVSP_REPLY);
		ck_assert_int_eq(d.fault, STORVSP_FAULT_NONE);
		ck_assert_uint_eq(d.reply.status, 0);
		ck_assert_uint_eq(d.reply.operation, VSTOR_OP_COMPLETE_IO);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		p = pkt_op(bad[i]);
		dispatch(&p, &d);
		ck_assert_int_eq(d.verdict, STORVSP_REPLY);
		ck_assert_int_eq(d.fault, STORVSP_FAULT_UNSUPPORTED);
		ck_assert_uint_eq(d.reply.status, VSTOR_STATUS_INVALID_DEVICE_REQUEST);
		ck_assert_uint_eq(d.reply.operation, VSTOR_OP_COMPLETE_IO);
		ck_assert_int_eq(P.state, STORVSP_READY);
	}
}
END_TEST

START_TEST(test_malformed_packets)
{
	struct storvsp_decision d;
	struct vstor_packet p = pkt_op(VSTOR_OP_BEGIN_INITIALIZATION);
	struct storvsp_input in = {
		.pkt_type = VM_PKT_DATA_INBAND, .want_completion = true, .primary = true,
		.data = (const uint8_t *)&p, .len = 11,
	};

	storvsp_proto_init(&P, 0, 0x40000);
	/* Shorter than the header: answered, 64 bytes as Linux needs. */
	storvsp_proto_dispatch(&P, &in, &d);
	ck_assert_int_eq(d.verdict, STORVSP_REPLY);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_MALFORMED);
	ck_assert_uint_eq(d.reply.status, VSTOR_STATUS_INVALID_PARAMETER);
	ck_assert_uint_eq(d.reply_len, 48);
	in.len = 0;
	storvsp_proto_dispatch(&P, &in, &d);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_MALFORMED);
	/* No completion asked: nothing sent, still counted. */
	in.len = 11;
	in.want_completion = false;
	storvsp_proto_dispatch(&P, &in, &d);
	ck_assert_int_eq(d.verdict, STORVSP_DROP);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_MALFORMED);
	/* A completion packet from the guest: dropped, never answered. */
	in.len = 64;
	in.want_completion = true;
	in.pkt_type = VM_PKT_COMP;
	storvsp_proto_dispatch(&P, &in, &d);
	ck_assert_int_eq(d.verdict, STORVSP_DROP);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_MALFORMED);
	/* Other packet types. */
	in.pkt_type = VM_PKT_DATA_USING_XFER_PAGES;
	storvsp_proto_dispatch(&P, &in, &d);
	ck_assert_int_eq(d.verdict, STORVSP_REPLY);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_MALFORMED);
	/* A buffer on BEGIN_INITIALIZATION. */
	in.pkt_type = VM_PKT_DATA_USING_GPA_DIRECT;
	in.buffer_len = 4096;
	storvsp_proto_dispatch(&P, &in, &d);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_MALFORMED);
	ck_assert_int_eq(P.state, STORVSP_WAIT_BEGIN);
	/* Truncated bodies. */
	p = pkt_op(VSTOR_OP_BEGIN_INITIALIZATION);
	dispatch(&p, &d);
	p = pkt_op(VSTOR_OP_QUERY_PROTOCOL_VERSION);
	p.version.major_minor = VMSTOR_PROTO_VERSION_WIN10;
	dispatch_len(&p, 13, true, &d);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_MALFORMED);
	ck_assert_int_eq(P.state, STORVSP_WAIT_VERSION);
	dispatch_len(&p, 16, true, &d);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_NONE);
	ck_assert_uint_eq(d.reply_len, 48);
}
END_TEST

/* ---- EXECUTE_SRB validation --------------------------------------------------- */

START_TEST(test_srb_valid)
{
	struct storvsp_decision d;
	struct vstor_packet p;

	linux_init(0);
	/* READ(10) of 8 sectors into a 4 KiB GPA-direct buffer. */
	p = srb_pkt(0x28, VSTOR_DATA_IN, 4096);
	p.vm_srb.srb_flags = SRB_FLAGS_DATA_IN | SRB_FLAGS_DISABLE_SYNCH_TRANSFER;
	dispatch_srb(&p, 64, true, 4096, &d);
	ck_assert_int_eq(d.verdict, STORVSP_EXECUTE);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_NONE);
	ck_assert_uint_eq(d.srb.cdb[0], 0x28);
	ck_assert_uint_eq(d.srb.cdb_len, 10);
	ck_assert_uint_eq(d.srb.xfer_len, 4096);
	ck_assert_uint_eq(d.srb.lun, 3);
	ck_assert_uint_eq(d.srb.sense_cap, 20);
	ck_assert_uint_eq(d.srb.reply_len, 64);
	ck_assert_uint_eq(d.srb.srb_flags, SRB_FLAGS_DATA_IN | SRB_FLAGS_DISABLE_SYNCH_TRANSFER);
	/* A larger buffer than the transfer is fine (only the transfer moves). */
	dispatch_srb(&p, 64, true, 8192, &d);
	ck_assert_int_eq(d.verdict, STORVSP_EXECUTE);
	/* TEST UNIT READY: inband, no data. */
	p = srb_pkt(0x00, VSTOR_DATA_UNKNOWN, 0);
	p.vm_srb.cdb_length = 6;
	dispatch_srb(&p, 64, false, 0, &d);
	ck_assert_int_eq(d.verdict, STORVSP_EXECUTE);
	ck_assert_uint_eq(d.srb.xfer_len, 0);
	/* The guest's sense buffer bounds what goes back. */
	p.vm_srb.sense_info_length = 8;
	dispatch_srb(&p, 64, false, 0, &d);
	ck_assert_uint_eq(d.srb.sense_cap, 8);
	p.vm_srb.sense_info_length = 255;
	dispatch_srb(&p, 64, false, 0, &d);
	ck_assert_uint_eq(d.srb.sense_cap, 20);
	/* No completion asked: still executed. */
	{
		struct storvsp_input in = {
			.pkt_type = VM_PKT_DATA_INBAND, .want_completion = false,
			.data = (const uint8_t *)&p, .len = 64,
		};

		storvsp_proto_dispatch(&P, &in, &d);
		ck_assert_int_eq(d.verdict, STORVSP_EXECUTE);
	}
}
END_TEST

START_TEST(test_srb_invalid)
{
	struct storvsp_decision d;
	struct vstor_packet p;
	struct storvsp_input in;

	linux_init(0);
#define REFUSED(pkt, len, gpa, buf)                                                        \
	do {                                                                              \
		dispatch_srb(&(pkt), (len), (gpa), (buf), &d);                             \
		ck_assert_int_eq(d.verdict, STORVSP_REPLY);                               \
		ck_assert_int_eq(d.fault, STORVSP_FAULT_MALFORMED);                       \
		ck_assert_uint_eq(d.reply.operation, VSTOR_OP_COMPLETE_IO);               \
		ck_assert_uint_eq(d.reply.vm_srb.srb_status, SRB_STATUS_INVALID_REQUEST); \
		ck_assert_uint_eq(d.reply.vm_srb.data_transfer_length, 0);                \
		ck_assert_uint_eq(d.reply.status, VSTOR_STATUS_INVALID_PARAMETER);        \
		ck_assert_uint_eq(d.reply_len, 64);                                       \
	} while (0)

	p = srb_pkt(0x28, VSTOR_DATA_IN, 4096);
	REFUSED(p, 48, true, 4096);          /* WIN10 needs the 52-byte request */
	REFUSED(p, 12, true, 4096);
	REFUSED(p, 63, true, 4096);
	REFUSED(p, 64, true, 4095);          /* buffer shorter than the transfer */
	REFUSED(p, 64, false, 0);            /* data but inband */
	p.vm_srb.cdb_length = 0;
	REFUSED(p, 64, true, 4096);
	p.vm_srb.cdb_length = 17;
	REFUSED(p, 64, true, 4096);
	p = srb_pkt(0x28, 3, 4096);
	REFUSED(p, 64, true, 4096);          /* data_in */
	p = srb_pkt(0x28, VSTOR_DATA_UNKNOWN, 4096);
	REFUSED(p, 64, true, 4096);          /* length without direction */
	p = srb_pkt(0x28, VSTOR_DATA_IN, 0x40000 + 512);
	REFUSED(p, 64, true, 0x80000);       /* above max_transfer_bytes */
	p = srb_pkt(0x28, VSTOR_DATA_IN, 4096);
	p.vm_srb.length = 35;
	REFUSED(p, 64, true, 4096);
	p.vm_srb.length = 53;
	REFUSED(p, 64, true, 4096);
	p.vm_srb.length = 0xFFFF;
	REFUSED(p, 64, true, 4096);
	/* GPA ranges outside RAM. */
	p = srb_pkt(0x28, VSTOR_DATA_IN, 4096);
	memset(&in, 0, sizeof(in));
	in.pkt_type = VM_PKT_DATA_USING_GPA_DIRECT;
	in.want_completion = true;
	in.data = (const uint8_t *)&p;
	in.len = 64;
	in.buffer_bad = true;
	storvsp_proto_dispatch(&P, &in, &d);
	ck_assert_int_eq(d.fault, STORVSP_FAULT_MALFORMED);
	ck_assert_uint_eq(d.reply.vm_srb.srb_status, SRB_STATUS_INVALID_REQUEST);
	ck_assert_int_eq(P.state, STORVSP_READY);
#undef REFUSED
}
END_TEST

START_TEST(test_srb_win7_sizes)
{
	struct storvsp_decision d;
	struct vstor_packet p;

	storvsp_proto_init(&P, 8, 0x40000);
	P.state = STORVSP_READY;
	P.version = VMSTOR_PROTO_VERSION_WIN7;
	p = srb_pkt(0x12, VSTOR_DATA_IN, 36);
	p.vm_srb.length = VMSCSI_REQUEST_LEN_V1;
	dispatch_srb(&p, 48, true, 4096, &d);
	ck_assert_int_eq(d.verdict, STORVSP_EXECUTE);
	ck_assert_uint_eq(d.srb.sense_cap, 18);
	ck_assert_uint_eq(d.srb.reply_len, 48);
	ck_assert_uint_eq(d.srb.srb_flags, 0);
}
END_TEST

/* ---- completions ----------------------------------------------------------------- */

START_TEST(test_completion_mapping)
{
	struct storvsp_srb srb = { .lun = 2, .cdb_len = 10, .data_in = VSTOR_DATA_IN,
				   .xfer_len = 4096, .sense_cap = 20, .reply_len = 64 };
	uint8_t sense[18] = { 0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0x00 };
	struct storvsp_scsi_result r = { .scsi_status = 0, .transferred = 512 };
	struct vstor_packet out;

	storvsp_srb_complete(&srb, &r, &out);
	ck_assert_uint_eq(out.operation, VSTOR_OP_COMPLETE_IO);
	ck_assert_uint_eq(out.status, 0);
	ck_assert_uint_eq(out.vm_srb.srb_status, SRB_STATUS_SUCCESS);
	ck_assert_uint_eq(out.vm_srb.scsi_status, 0);
	ck_assert_uint_eq(out.vm_srb.data_transfer_length, 512);
	ck_assert_uint_eq(out.vm_srb.length, 52);
	ck_assert_uint_eq(out.vm_srb.lun, 2);
	ck_assert_uint_eq(out.vm_srb.sense_info_length, 0);
	/* Never more than the guest's buffer. */
	r.transferred = 1u << 20;
	storvsp_srb_complete(&srb, &r, &out);
	ck_assert_uint_eq(out.vm_srb.data_transfer_length, 4096);
	/* CHECK CONDITION: ERROR|AUTOSENSE_VALID, sense copied. */
	r.scsi_status = 0x02;
	r.transferred = 0;
	r.sense = sense;
	r.sense_len = sizeof(sense);
	storvsp_srb_complete(&srb, &r, &out);
	ck_assert_uint_eq(out.vm_srb.scsi_status, 2);
	ck_assert_uint_eq(out.vm_srb.srb_status, SRB_STATUS_ERROR | SRB_STATUS_AUTOSENSE_VALID);
	ck_assert_uint_eq(out.vm_srb.sense_info_length, 18);
	ck_assert_mem_eq(out.vm_srb.sense_data, sense, 18);
	ck_assert_uint_eq(out.vm_srb.sense_data[18], 0);
	/* ... cut to the guest's buffer, or no AUTOSENSE when it has none. */
	srb.sense_cap = 8;
	storvsp_srb_complete(&srb, &r, &out);
	ck_assert_uint_eq(out.vm_srb.sense_info_length, 8);
	ck_assert_uint_eq(out.vm_srb.sense_data[12], 0);
	srb.sense_cap = 0;
	storvsp_srb_complete(&srb, &r, &out);
	ck_assert_uint_eq(out.vm_srb.srb_status, SRB_STATUS_ERROR);
	ck_assert_uint_eq(out.vm_srb.sense_info_length, 0);
	/* Missing LUN. */
	r.lun_missing = true;
	r.transferred = 100;
	storvsp_srb_complete(&srb, &r, &out);
	ck_assert_uint_eq(out.vm_srb.srb_status, SRB_STATUS_INVALID_LUN);
	ck_assert_uint_eq(out.vm_srb.data_transfer_length, 0);
	ck_assert_uint_eq(out.vm_srb.scsi_status, 0);
	/* BUSY retries; anything else is an error. */
	r.lun_missing = false;
	r.scsi_status = 0x08;
	storvsp_srb_complete(&srb, &r, &out);
	ck_assert_uint_eq(out.vm_srb.srb_status, SRB_STATUS_BUSY);
	r.scsi_status = 0x18;
	storvsp_srb_complete(&srb, &r, &out);
	ck_assert_uint_eq(out.vm_srb.srb_status, SRB_STATUS_ERROR);
	ck_assert_uint_eq(out.vm_srb.scsi_status, 0x18);
	/* Refusal helper. */
	storvsp_srb_refuse(&srb, SRB_STATUS_INVALID_REQUEST, VSTOR_STATUS_INVALID_PARAMETER, &out);
	ck_assert_uint_eq(out.vm_srb.srb_status, SRB_STATUS_INVALID_REQUEST);
	ck_assert_uint_eq(out.status, VSTOR_STATUS_INVALID_PARAMETER);
	ck_assert_uint_eq(out.operation, VSTOR_OP_COMPLETE_IO);
}
END_TEST

START_TEST(test_enumerate_packet)
{
	struct vstor_packet p;

	ck_assert_uint_eq(storvsp_build_enumerate(VMSTOR_PROTO_VERSION_WIN10, &p), 64);
	ck_assert_uint_eq(p.operation, VSTOR_OP_ENUMERATE_BUS);
	ck_assert_uint_eq(p.status, 0);
	ck_assert_uint_eq(storvsp_build_enumerate(VMSTOR_PROTO_VERSION_WIN7, &p), 48);
	ck_assert_str_eq(storvsp_op_name(VSTOR_OP_EXECUTE_SRB), "EXECUTE_SRB");
	ck_assert_str_eq(storvsp_op_name(1000), "unknown");
}
END_TEST

/* ---- the device over a real channel ------------------------------------------ */

#define DISK_SECTORS 2048u
static char disk_path[64];
static struct event_base *base;
static struct th T;
static void *dev;

static int ctl_status = -1;
static json_t *ctl_result;

static void ctl_done(void *cookie, int status, json_t *result)
{
	ctl_status = status;
	json_decref(ctl_result);
	ctl_result = result;
}

static void device_setup(const char *config_text, struct json_err *err, int *rc)
{
	struct vmbus_server_config vcfg = { 0 };
	json_error_t jerr;
	json_t *cfg;

	ck_assert_int_eq(th_init(&T, 2, 0), 0);
	/* The harness's server has no event base; the block backend needs one. */
	vmbus_server_free(T.srv);
	base = event_base_new();
	T.srv = vmbus_server_new(T.hv, base, &vcfg);
	ck_assert_ptr_nonnull(T.srv);
	cfg = json_loads(config_text, 0, &jerr);
	ck_assert_ptr_nonnull(cfg);
	*rc = storvsp_ops.create(T.srv, cfg, "devices[0]", &dev, err);
	json_decref(cfg);
}

static void device_teardown(void)
{
	if (dev)
		storvsp_ops.destroy(dev);
	dev = NULL;
	th_fini(&T);
	event_base_free(base);
}

static void make_disk(void)
{
	uint8_t sector[512];
	int fd;

	snprintf(disk_path, sizeof(disk_path), "/tmp/test_storvsp_%d.img", (int)getpid());
	fd = open(disk_path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	for (uint32_t i = 0; i < DISK_SECTORS; i++) {
		memset(sector, (int)(i & 0xFF), sizeof(sector));
		ck_assert_int_eq(write(fd, sector, sizeof(sector)), (int)sizeof(sector));
	}
	close(fd);
}

/* Writes one guest packet, signals, and lets the device run. */
static void guest_send(struct tg_chan *c, uint16_t type, uint64_t tid, const void *raw_hdr,
		       uint32_t hdr_len, const struct vstor_packet *p)
{
	uint8_t buf[1024];
	uint32_t total = (hdr_len + sizeof(*p) + 7) & ~7u;
	struct vmpacket_descriptor d = {
		.type = type, .offset8 = (uint16_t)(hdr_len / 8), .len8 = (uint16_t)(total / 8),
		.flags = 1, .trans_id = tid,
	};
	uint64_t trailer = 0;

	memset(buf, 0, sizeof(buf));
	if (hdr_len > 16)
		memcpy(buf, raw_hdr, hdr_len);
	memcpy(buf, &d, 16);
	memcpy(buf + hdr_len, p, sizeof(*p));
	memcpy(buf + total, &trailer, 8);
	ck_assert_int_ge(tg_write_raw(&T, c, buf, total + 8), 0);
	th_signal(&T, 0, c->conn_id);
}

/* Runs the loop until a completion arrives (or gives up). */
static int guest_recv(struct tg_chan *c, struct vstor_packet *p, struct vmpacket_descriptor *d)
{
	uint8_t buf[256];
	int len = 0;

	for (int i = 0; i < 2000 && (len = tg_read(&T, c, buf, sizeof(buf), d)) == 0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(500);
	}
	if (len > 0)
		memcpy(p, buf + d->offset8 * 8, sizeof(*p));
	return len;
}

static void guest_init_op(struct tg_chan *c, uint32_t op, uint16_t arg, struct vstor_packet *out)
{
	struct vstor_packet p = pkt_op(op);
	struct vmpacket_descriptor d;

	p.version.major_minor = arg; /* also sub_channel_count: same offset */
	guest_send(c, VM_PKT_DATA_INBAND, STORVSC_RQST_INIT, NULL, 16, &p);
	ck_assert_int_eq(guest_recv(c, out, &d), 80);
	ck_assert_uint_eq(d.type, VM_PKT_COMP);
	ck_assert_uint_eq(d.trans_id, STORVSC_RQST_INIT);
	ck_assert_uint_eq(d.offset8, 2);
	ck_assert_uint_eq(out->operation, VSTOR_OP_COMPLETE_IO);
}

static void guest_open_primary(struct tg_chan *c, int *n_offers)
{
	struct vmbus_msg_offer_channel offers[4];

	ck_assert_int_eq(th_connect(&T, VMBUS_VERSION_WIN10_V5_2), 1);
	*n_offers = th_request_offers(&T, offers, 4);
	ck_assert_int_eq(*n_offers, 1);
	ck_assert_uint_eq(offers[0].sub_channel_index, 0);
	ck_assert_int_eq(tg_open(&T, c, offers[0].child_relid, 0x100, 32, 32, 0, 0), 0);
}

static uint8_t srb_target; /* target_id of the next guest_srb() */

/* An EXECUTE_SRB over `len` bytes of guest RAM at gpa (GPA-direct), or
 * inband when len == 0. */
static void guest_srb(struct tg_chan *c, uint64_t tid, const uint8_t *cdb, uint8_t cdb_len,
		      uint8_t data_in, uint64_t gpa, uint32_t len, uint8_t lun)
{
	struct vstor_packet p = pkt_op(VSTOR_OP_EXECUTE_SRB);
	uint8_t hdr[16 + 16 + 8 * 8];
	uint32_t pages = (uint32_t)((len + 4095) / 4096);

	p.vm_srb.length = sizeof(struct vmscsi_request);
	p.vm_srb.lun = lun;
	p.vm_srb.target_id = srb_target;
	p.vm_srb.cdb_length = cdb_len;
	p.vm_srb.sense_info_length = VSTOR_SENSE_SIZE;
	p.vm_srb.data_in = data_in;
	p.vm_srb.data_transfer_length = len;
	memcpy(p.vm_srb.cdb, cdb, cdb_len);
	if (len == 0) {
		guest_send(c, VM_PKT_DATA_INBAND, tid, NULL, 16, &p);
		return;
	}
	memset(hdr, 0, sizeof(hdr));
	{
		uint32_t rc = 1, off = 0;

		memcpy(hdr + 20, &rc, 4);
		memcpy(hdr + 24, &len, 4);
		memcpy(hdr + 28, &off, 4);
		for (uint32_t i = 0; i < pages; i++) {
			uint64_t pfn = (gpa >> 12) + i;

			memcpy(hdr + 32 + 8 * i, &pfn, 8);
		}
	}
	guest_send(c, VM_PKT_DATA_USING_GPA_DIRECT, tid, hdr, 32 + 8 * pages, &p);
}

START_TEST(test_device_config_errors)
{
	struct json_err err = { "" };
	int rc;

	device_setup("{\"disks\": [{\"path\": \"/nonexistent/x.img\", \"format\": \"raw\"}]}", &err,
		     &rc);
	ck_assert_int_ne(rc, 0);
	ck_assert_msg(strstr(err.msg, "devices[0].disks[0].path: /nonexistent/x.img") != NULL,
		      "%s", err.msg);
	device_teardown();
	device_setup("{\"subchannels\": 65}", &err, &rc);
	ck_assert_int_ne(rc, 0);
	ck_assert_msg(strstr(err.msg, "devices[0].subchannels") != NULL, "%s", err.msg);
	device_teardown();
	device_setup("{\"max_transfer_bytes\": 5000}", &err, &rc);
	ck_assert_msg(strstr(err.msg, "devices[0].max_transfer_bytes") != NULL, "%s", err.msg);
	device_teardown();
	device_setup("{\"disk\": []}", &err, &rc);
	ck_assert_msg(strstr(err.msg, "devices[0].disk: unknown key") != NULL, "%s", err.msg);
	device_teardown();
	make_disk();
	{
		char cfg[256];

		snprintf(cfg, sizeof(cfg),
			 "{\"disks\": [{\"path\": \"%s\", \"format\": \"raw\", \"lun\": 1},"
			 " {\"path\": \"%s\", \"format\": \"raw\", \"lun\": 1}]}", disk_path, disk_path);
		device_setup(cfg, &err, &rc);
		ck_assert_int_ne(rc, 0);
		ck_assert_msg(strstr(err.msg, "devices[0].disks[1].lun") != NULL, "%s", err.msg);
		device_teardown();
	}
	unlink(disk_path);
}
END_TEST

START_TEST(test_device_end_to_end)
{
	static const uint8_t inquiry[6] = { 0x12, 0, 0, 0, 36, 0 };
	static const uint8_t tur[6] = { 0 };
	struct json_err err = { "" };
	struct tg_chan c;
	struct vstor_packet r;
	struct vmpacket_descriptor d;
	char cfg[256];
	uint64_t buf;
	uint8_t *mem;
	int rc, n;

	make_disk();
	snprintf(cfg, sizeof(cfg),
		 "{\"subchannels\": 2, \"disks\": [{\"path\": \"%s\", \"format\": \"raw\", \"lun\": 0}]}",
		 disk_path);
	device_setup(cfg, &err, &rc);
	ck_assert_msg(rc == 0, "%s", err.msg);
	guest_open_primary(&c, &n);

	/* The Linux 6.1 init sequence, packet for packet. */
	guest_init_op(&c, VSTOR_OP_BEGIN_INITIALIZATION, 0, &r);
	ck_assert_uint_eq(r.status, 0);
	guest_init_op(&c, VSTOR_OP_QUERY_PROTOCOL_VERSION, VMSTOR_PROTO_VERSION_WIN10, &r);
	ck_assert_uint_eq(r.status, 0);
	guest_init_op(&c, VSTOR_OP_QUERY_PROPERTIES, 0, &r);
	ck_assert_uint_eq(r.status, 0);
	ck_assert_uint_eq(r.properties.max_transfer_bytes, 0x40000);
	ck_assert_uint_eq(r.properties.flags, 1);
	ck_assert_uint_eq(r.properties.max_channel_cnt, 2);
	guest_init_op(&c, VSTOR_OP_END_INITIALIZATION, 0, &r);
	ck_assert_uint_eq(r.status, 0);
	guest_init_op(&c, VSTOR_OP_CREATE_SUB_CHANNELS, 2, &r);
	ck_assert_uint_eq(r.status, 0);
	/* Two OFFERCHANNELs with the same GUIDs, indices 1 and 2. */
	{
		struct vmbus_msg_offer_channel o;
		uint32_t type;
		int subs = 0;

		while ((type = th_recv(&T, 0, &o, NULL)) != 0) {
			if (type != CHANNELMSG_OFFERCHANNEL)
				continue;
			subs++;
			ck_assert_uint_eq(o.sub_channel_index, (uint16_t)subs);
		}
		ck_assert_int_eq(subs, 2);
	}

	/* INQUIRY on LUN 0 into guest RAM. */
	buf = th_alloc(&T, 4);
	mem = th_ptr(&T, buf, 4 * 4096);
	guest_srb(&c, 7, inquiry, 6, VSTOR_DATA_IN, buf, 36, 0);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(d.type, VM_PKT_COMP);
	ck_assert_uint_eq(d.trans_id, 7);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
	ck_assert_uint_eq(r.vm_srb.data_transfer_length, 36);
	ck_assert_uint_eq(mem[0] & 0x1F, 0);        /* direct-access block device */
	/* INQUIRY on a LUN that is not there: PQ=3 PDT=0x1F. */
	memset(mem, 0, 64);
	guest_srb(&c, 8, inquiry, 6, VSTOR_DATA_IN, buf, 36, 5);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
	ck_assert_uint_eq(mem[0], 0x7F);
	/* ... and on LUN 0 of another target (Linux scans targets 0-1). */
	memset(mem, 0, 64);
	srb_target = 1;
	guest_srb(&c, 80, inquiry, 6, VSTOR_DATA_IN, buf, 36, 0);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
	ck_assert_uint_eq(r.vm_srb.target_id, 1);
	ck_assert_uint_eq(mem[0], 0x7F);
	srb_target = 0;
	/* LUN 255 (the largest the guest can address). */
	guest_srb(&c, 81, tur, 6, VSTOR_DATA_UNKNOWN, 0, 0, 255);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_INVALID_LUN);
	/* TEST UNIT READY to a missing LUN: INVALID_LUN. */
	guest_srb(&c, 9, tur, 6, VSTOR_DATA_UNKNOWN, 0, 0, 5);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_INVALID_LUN);
	/* READ(10) of sectors 1..8 straight into guest RAM. */
	{
		static const uint8_t read10[10] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 8, 0 };
		static const uint8_t write10[10] = { 0x2A, 0, 0, 0, 0, 3, 0, 0, 1, 0 };

		memset(mem, 0xEE, 4 * 4096);
		guest_srb(&c, 10, read10, 10, VSTOR_DATA_IN, buf, 4096, 0);
		ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
		ck_assert_uint_eq(d.trans_id, 10);
		ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
		ck_assert_uint_eq(r.vm_srb.data_transfer_length, 4096);
		for (int s = 0; s < 8; s++)
			ck_assert_uint_eq(mem[s * 512 + 100], (uint8_t)(s + 1));
		/* WRITE(10) of sector 3, then read it back. */
		memset(mem, 0xA5, 512);
		guest_srb(&c, 11, write10, 10, VSTOR_DATA_OUT, buf, 512, 0);
		ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
		ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
		ck_assert_uint_eq(r.vm_srb.data_transfer_length, 512);
		memset(mem, 0, 4096);
		guest_srb(&c, 12, read10, 10, VSTOR_DATA_IN, buf, 4096, 0);
		ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
		ck_assert_uint_eq(mem[2 * 512], 0xA5);
		ck_assert_uint_eq(mem[1 * 512], 2);
	}
	/* A malformed SRB is answered and the device keeps serving. */
	{
		static const uint8_t bad[6] = { 0x12, 0, 0, 0, 36, 0 };

		guest_srb(&c, 13, bad, 0, VSTOR_DATA_IN, buf, 36, 0);
		ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
		ck_assert_uint_eq(d.trans_id, 13);
		ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_INVALID_REQUEST);
		guest_srb(&c, 14, tur, 6, VSTOR_DATA_UNKNOWN, 0, 0, 0);
		ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
		ck_assert_uint_eq(d.trans_id, 14);
	}
	/* Hot-add: the guest gets an unsolicited ENUMERATE_BUS (trans_id 0). */
	{
		json_t *args = json_pack("{s:s,s:s,s:i}", "path", disk_path, "format", "raw", "lun", 4);

		ck_assert_int_eq(storvsp_ops.control(dev, "add-disk", args, ctl_done, NULL, &err), 0);
		json_decref(args);
		ck_assert_int_eq(ctl_status, 0);
		ck_assert_int_eq(json_integer_value(json_object_get(ctl_result, "lun")), 4);
	}
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(d.type, VM_PKT_DATA_INBAND);
	ck_assert_uint_eq(d.trans_id, 0);
	ck_assert_uint_eq(r.operation, VSTOR_OP_ENUMERATE_BUS);
	device_teardown();
	unlink(disk_path);
}
END_TEST

/* Creates the device with one disk at LUN 0, opens the primary with
 * `in_pages` host->guest ring pages and runs Linux's init up to END. */
static void device_ready(struct tg_chan *c, unsigned int subchannels, uint32_t in_pages)
{
	struct json_err err = { "" };
	struct vstor_packet r;
	struct vmbus_msg_offer_channel offers[2];
	char cfg[256];
	int rc;

	make_disk();
	snprintf(cfg, sizeof(cfg),
		 "{\"subchannels\": %u, \"disks\": [{\"path\": \"%s\", \"format\": \"raw\"}]}",
		 subchannels, disk_path);
	device_setup(cfg, &err, &rc);
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert_int_eq(th_connect(&T, VMBUS_VERSION_WIN10_V5_2), 1);
	ck_assert_int_eq(th_request_offers(&T, offers, 2), 1);
	ck_assert_int_eq(tg_open(&T, c, offers[0].child_relid, 0x100, 8, in_pages, 0, 0), 0);
	guest_init_op(c, VSTOR_OP_BEGIN_INITIALIZATION, 0, &r);
	guest_init_op(c, VSTOR_OP_QUERY_PROTOCOL_VERSION, VMSTOR_PROTO_VERSION_WIN10, &r);
	ck_assert_uint_eq(r.status, 0);
	guest_init_op(c, VSTOR_OP_QUERY_PROPERTIES, 0, &r);
	guest_init_op(c, VSTOR_OP_END_INITIALIZATION, 0, &r);
	ck_assert_uint_eq(r.status, 0);
}

static json_t *device_chan_stats(unsigned int index)
{
	json_t *st = storvsp_ops.stats(dev);
	json_t *ch = json_incref(json_array_get(json_object_get(st, "channels"), index));

	json_decref(st);
	return ch;
}

START_TEST(test_device_subchannel_io_and_close)
{
	static const uint8_t read10[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	struct tg_chan c, sc;
	struct vstor_packet r;
	struct vmpacket_descriptor d;
	struct vmbus_msg_offer_channel o;
	uint32_t type, sub_relid = 0;
	struct vmbus_msg_relid close = { .header.msgtype = CHANNELMSG_CLOSECHANNEL };
	uint64_t buf;
	int rescinds = 0;
	json_t *st;

	device_ready(&c, 1, 8);
	guest_init_op(&c, VSTOR_OP_CREATE_SUB_CHANNELS, 1, &r);
	ck_assert_uint_eq(r.status, 0);
	while ((type = th_recv(&T, 0, &o, NULL)) != 0)
		if (type == CHANNELMSG_OFFERCHANNEL)
			sub_relid = o.child_relid;
	ck_assert_uint_ne(sub_relid, 0);
	ck_assert_int_eq(tg_open(&T, &sc, sub_relid, 0x200, 8, 8, 1, 0), 0);
	/* I/O on the subchannel completes on the subchannel. */
	buf = th_alloc(&T, 1);
	guest_srb(&sc, 42, read10, 10, VSTOR_DATA_IN, buf, 512, 0);
	ck_assert_int_eq(guest_recv(&sc, &r, &d), 80);
	ck_assert_uint_eq(d.trans_id, 42);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
	ck_assert_int_eq(tg_read(&T, &c, NULL, 0, NULL), 0);
	st = device_chan_stats(1);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "requests")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "bytes_read")), 512);
	json_decref(st);
	/* A READ in flight when the guest closes both channels (subchannel
	 * first, as Linux): its completion goes nowhere, the subchannel is
	 * rescinded, and nothing is touched after it is freed. */
	guest_srb(&sc, 43, read10, 10, VSTOR_DATA_IN, buf, 512, 0);
	close.child_relid = sub_relid;
	th_post(&T, 0, VMBUS_MESSAGE_CONNECTION_ID, &close, sizeof(close));
	close.child_relid = c.relid;
	th_post(&T, 0, VMBUS_MESSAGE_CONNECTION_ID, &close, sizeof(close));
	while ((type = th_recv(&T, 0, &o, NULL)) != 0)
		if (type == CHANNELMSG_RESCIND_CHANNELOFFER)
			rescinds++;
	ck_assert_int_eq(rescinds, 1);
	for (int i = 0; i < 50; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	st = storvsp_ops.stats(dev);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "in_flight")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "subchannels")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "wait_begin");
	json_decref(st);
	device_teardown();
	unlink(disk_path);
}
END_TEST

START_TEST(test_device_ring_full)
{
	static const uint8_t tur[6] = { 0 };
	struct tg_chan c;
	struct vstor_packet r;
	struct vmpacket_descriptor d;
	uint8_t seen[64];
	json_t *st;
	int got = 0;

	/* One data page host->guest: 46 completions of 88 bytes fit. */
	device_ready(&c, 0, 2);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 64; i++) {
		struct vstor_packet p = pkt_op(VSTOR_OP_EXECUTE_SRB);

		p.vm_srb.length = 52;
		p.vm_srb.cdb_length = 6;
		p.vm_srb.data_in = VSTOR_DATA_UNKNOWN;
		memcpy(p.vm_srb.cdb, tur, 6);
		/* Written without signalling; one signal at the end. */
		{
			uint8_t raw[96];
			struct vmpacket_descriptor h = { .type = VM_PKT_DATA_INBAND, .offset8 = 2,
							 .len8 = 10, .flags = 1,
							 .trans_id = 1000 + (uint64_t)i };

			memset(raw, 0, sizeof(raw));
			memcpy(raw, &h, 16);
			memcpy(raw + 16, &p, 64);
			ck_assert_int_ge(tg_write_raw(&T, &c, raw, 88), 0);
		}
	}
	th_signal(&T, 0, c.conn_id);
	/* The guest reads everything; its reads signal the host through
	 * pending_send_sz, which sends what waited and reads on. */
	while (got < 64 && guest_recv(&c, &r, &d) == 80) {
		ck_assert_uint_ge(d.trans_id, 1000);
		ck_assert_uint_lt(d.trans_id, 1064);
		ck_assert_uint_eq(seen[d.trans_id - 1000], 0);
		seen[d.trans_id - 1000] = 1;
		ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
		got++;
	}
	ck_assert_int_eq(got, 64);
	st = device_chan_stats(0);
	ck_assert_int_gt(json_integer_value(json_object_get(st, "queued")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(st, "dropped")), 0);
	json_decref(st);
	device_teardown();
	unlink(disk_path);
}
END_TEST

START_TEST(test_device_hot_remove)
{
	static const uint8_t tur[6] = { 0 };
	struct json_err err = { "" };
	struct tg_chan c;
	struct vstor_packet r;
	struct vmpacket_descriptor d;
	json_t *args;

	device_ready(&c, 0, 8);
	args = json_pack("{s:i}", "lun", 0);
	ctl_status = -1;
	ck_assert_int_eq(storvsp_ops.control(dev, "remove-disk", args, ctl_done, NULL, &err), 0);
	ck_assert_int_eq(ctl_status, 0);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(d.type, VM_PKT_DATA_INBAND);
	ck_assert_uint_eq(d.trans_id, 0);
	ck_assert_uint_eq(r.operation, VSTOR_OP_ENUMERATE_BUS);
	/* Linux's rescan TURs the old LUN: gone. */
	guest_srb(&c, 5, tur, 6, VSTOR_DATA_UNKNOWN, 0, 0, 0);
	ck_assert_int_eq(guest_recv(&c, &r, &d), 80);
	ck_assert_uint_eq(r.vm_srb.srb_status, SRB_STATUS_INVALID_LUN);
	/* Removing it again, or a bad verb, is refused up front. */
	ck_assert_int_eq(storvsp_ops.control(dev, "remove-disk", args, ctl_done, NULL, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "args.lun") != NULL, "%s", err.msg);
	ck_assert_int_eq(storvsp_ops.control(dev, "frobnicate", args, ctl_done, NULL, &err),
			 -ENOTSUP);
	json_decref(args);
	device_teardown();
	unlink(disk_path);
}
END_TEST

static Suite *storvsp_suite(void)
{
	Suite *s = suite_create("storvsp");
	TCase *tc = tcase_create("proto");
	TCase *dc = tcase_create("device");

	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_sizes_per_version);
	tcase_add_test(tc, test_linux_init_sequence);
	tcase_add_test(tc, test_version_fallback);
	tcase_add_test(tc, test_no_multichannel);
	tcase_add_test(tc, test_out_of_order);
	tcase_add_test(tc, test_resets_and_unsupported);
	tcase_add_test(tc, test_malformed_packets);
	tcase_add_test(tc, test_srb_valid);
	tcase_add_test(tc, test_srb_invalid);
	tcase_add_test(tc, test_srb_win7_sizes);
	tcase_add_test(tc, test_completion_mapping);
	tcase_add_test(tc, test_enumerate_packet);
	suite_add_tcase(s, tc);
	tcase_set_timeout(dc, 20);
	tcase_add_test(dc, test_device_config_errors);
	tcase_add_test(dc, test_device_end_to_end);
	tcase_add_test(dc, test_device_subchannel_io_and_close);
	tcase_add_test(dc, test_device_ring_full);
	tcase_add_test(dc, test_device_hot_remove);
	suite_add_tcase(s, dc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(storvsp_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
