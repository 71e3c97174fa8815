/* SPDX-License-Identifier: MIT */
/*
 * storvsp: the pure protocol (devices/storvsp/storvsp_proto.c) packet by packet.
 * The device over a real channel is test_storvsp_device's.
 */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "devices/storvsp/storvsp_internal.h"
#include "storvsp_fixture.h"

/* ---- helpers -------------------------------------------------------------- */

static struct storvsp_proto P;

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
	ck_assert_uint_eq(d.reply.properties.max_transfer_bytes, STORVSP_DEFAULT_MAX_TRANSFER);
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
	p = srb_pkt(0x28, VSTOR_DATA_IN, STORVSP_DEFAULT_MAX_TRANSFER + 512);
	REFUSED(p, 64, true, 2 * STORVSP_DEFAULT_MAX_TRANSFER); /* above max_transfer_bytes */
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

/* ---- the operation table ------------------------------------------------------- */

/* A packet of operation op that passes its row's length and body checks. */
static struct vstor_packet table_pkt(uint32_t op)
{
	struct vstor_packet p = op == VSTOR_OP_EXECUTE_SRB ? srb_pkt(0x00, VSTOR_DATA_UNKNOWN, 0)
							   : pkt_op(op);

	/* The bodies share one union: set only the operation's own. */
	if (op == VSTOR_OP_QUERY_PROTOCOL_VERSION)
		p.version.major_minor = VMSTOR_PROTO_VERSION_WIN10;
	if (op == VSTOR_OP_CREATE_SUB_CHANNELS)
		p.sub_channel_count = 1;
	return p;
}

START_TEST(test_op_table_rows)
{
	/* Every operation has a row named after it; numbers outside have none. */
	for (uint32_t op = VSTOR_OP_COMPLETE_IO; op <= VSTOR_OP_MAX; op++) {
		const struct storvsp_op *e = storvsp_op_lookup(op);

		ck_assert_ptr_nonnull(e);
		ck_assert_uint_eq(e->operation, op);
		ck_assert_ptr_nonnull(e->name);
		ck_assert_str_eq(storvsp_op_name(op), e->name);
		ck_assert_ptr_nonnull(e->rl);
		for (uint32_t o = VSTOR_OP_COMPLETE_IO; o < op; o++)
			ck_assert_ptr_ne(storvsp_op_lookup(o)->rl, e->rl);
		if (!e->handler)
			continue;
		/* Served: at least the header, in some state. */
		ck_assert_uint_ge(e->min_len, VSTOR_PACKET_HDR_SIZE);
		ck_assert_uint_ne(e->states, 0);
		ck_assert(!e->takes_buffer || op == VSTOR_OP_EXECUTE_SRB);
	}
	ck_assert_ptr_null(storvsp_op_lookup(0));
	ck_assert_ptr_null(storvsp_op_lookup(VSTOR_OP_MAX + 1));
	ck_assert_ptr_null(storvsp_op_lookup(0xFFFFFFFFu));
	ck_assert_str_eq(storvsp_op_name(0), "unknown");
	/* The host serves exactly the guest -> host operations of a SCSI
	 * controller (facts §8.1). */
	ck_assert_ptr_null(storvsp_op_lookup(VSTOR_OP_COMPLETE_IO)->handler);
	ck_assert_ptr_null(storvsp_op_lookup(VSTOR_OP_REMOVE_DEVICE)->handler);
	ck_assert_ptr_null(storvsp_op_lookup(VSTOR_OP_ENUMERATE_BUS)->handler);
	ck_assert_ptr_null(storvsp_op_lookup(VSTOR_OP_FCHBA_DATA)->handler);
	ck_assert_ptr_nonnull(storvsp_op_lookup(VSTOR_OP_EXECUTE_SRB)->handler);
}
END_TEST

START_TEST(test_op_table_refusals)
{
	struct storvsp_decision d;
	struct vstor_packet p;

	for (uint32_t op = VSTOR_OP_COMPLETE_IO; op <= VSTOR_OP_MAX + 3; op++) {
		const struct storvsp_op *e = storvsp_op_lookup(op);

		for (int s = STORVSP_WAIT_BEGIN; s <= STORVSP_READY; s++) {
			storvsp_proto_init(&P, 2, 0x40000);
			P.state = s;
			P.version = VMSTOR_PROTO_VERSION_WIN10;
			p = table_pkt(op);
			dispatch(&p, &d);
			ck_assert_uint_eq(d.operation, op);
			ck_assert_ptr_nonnull(d.rl);
			if (d.fault != STORVSP_FAULT_NONE)
				ck_assert_uint_eq(d.reply.operation, VSTOR_OP_COMPLETE_IO);
			if (!e || !e->handler) {
				/* Unknown or not served: unsupported, state kept. */
				ck_assert_int_eq(d.verdict, STORVSP_REPLY);
				ck_assert_int_eq(d.fault, STORVSP_FAULT_UNSUPPORTED);
				ck_assert_uint_eq(d.reply.status, VSTOR_STATUS_INVALID_DEVICE_REQUEST);
				ck_assert_int_eq(P.state, s);
				continue;
			}
			ck_assert_ptr_eq(d.rl, e->rl);
			if (!(e->states & (1u << s))) {
				ck_assert_int_eq(d.verdict, STORVSP_REPLY);
				ck_assert_int_eq(d.fault, STORVSP_FAULT_WRONG_STATE);
				ck_assert_uint_eq(d.reply.status, VSTOR_STATUS_INVALID_DEVICE_STATE);
				ck_assert_int_eq(P.state, s);
				continue;
			}
			ck_assert_int_eq(d.fault, STORVSP_FAULT_NONE);
			/* Allowed state, but shorter than the row's minimum. */
			if (e->min_len > VSTOR_PACKET_HDR_SIZE) {
				P.state = s;
				dispatch_len(&p, e->min_len - 1, true, &d);
				ck_assert_int_eq(d.fault, STORVSP_FAULT_MALFORMED);
				ck_assert_uint_eq(d.reply.status, VSTOR_STATUS_INVALID_PARAMETER);
				ck_assert_int_eq(P.state, s);
			}
			/* Allowed state, on a subchannel. */
			P.state = s;
			dispatch_len(&p, sizeof(p), false, &d);
			if (e->primary_only) {
				ck_assert_int_eq(d.fault, STORVSP_FAULT_WRONG_STATE);
				ck_assert_uint_eq(d.reply.status, VSTOR_STATUS_INVALID_DEVICE_STATE);
				ck_assert_int_eq(P.state, s);
			} else {
				ck_assert_int_eq(d.fault, STORVSP_FAULT_NONE);
			}
		}
	}
}
END_TEST

static Suite *storvsp_proto_suite(void)
{
	Suite *s = suite_create("storvsp_proto");
	TCase *tc = tcase_create("proto");

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
	tcase_add_test(tc, test_op_table_rows);
	tcase_add_test(tc, test_op_table_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(storvsp_proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
