/* SPDX-License-Identifier: MIT */
/*
 * Channel-management messages (src/vmbus/server.c, offer.c, channel.c)
 * through HvPostMessage and the SIM slot: every message type valid, short,
 * oversize and in the wrong state; version negotiation at each version and
 * with a cap; offers; open/close; rescind and relid release; unload;
 * modifychannel; hv_sock refusal; message queueing behind the SynIC.
 */
#include <check.h>

#include "core/util.h"
#include "tests/unit/vmbus_harness.h"

static const uint32_t all_versions[] = {
	VMBUS_VERSION_WS2008,     VMBUS_VERSION_WIN7,       VMBUS_VERSION_WIN8,
	VMBUS_VERSION_WIN8_1,     VMBUS_VERSION_WIN10,      VMBUS_VERSION_WIN10_V4_1,
	VMBUS_VERSION_WIN10_V5,   VMBUS_VERSION_WIN10_V5_1, VMBUS_VERSION_WIN10_V5_2,
	VMBUS_VERSION_WIN10_V5_3,
};

static void unload(struct th *t)
{
	struct vmbus_msg_header m = { .msgtype = CHANNELMSG_UNLOAD };

	th_post(t, 0, 1, &m, sizeof(m));
	ck_assert_int_eq(th_recv(t, 0, NULL, NULL), CHANNELMSG_UNLOAD_RESPONSE);
	ck_assert_int_eq(vmbus_server_state(t->srv), VMBUS_DISCONNECTED);
}

START_TEST(version_each)
{
	struct th t;
	uint32_t v = all_versions[_i];
	struct vmbus_msg_initiate_contact ic = {
		.header.msgtype = CHANNELMSG_INITIATE_CONTACT,
		.vmbus_version_requested = v,
		.target_vcpu = 1,
	};
	struct vmbus_msg_version_response r;

	ck_assert_int_eq(th_init(&t, 2, 0), 0);
	if (v >= VMBUS_VERSION_WIN10_V5)
		ic.msg_sint = 2;
	th_post(&t, 0, v >= VMBUS_VERSION_WIN10_V5 ? 4 : 1, &ic, sizeof(ic));
	/* The answer goes to the VP the guest named. */
	ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), 0);
	ck_assert_int_eq(th_recv(&t, 1, &r, NULL), CHANNELMSG_VERSION_RESPONSE);
	ck_assert_int_eq(r.version_supported, 1);
	ck_assert_int_eq(r.connection_state, 0);
	ck_assert_uint_eq(r.msg_conn_id, v >= VMBUS_VERSION_WIN10_V5 ? 1u : 0u);
	ck_assert_uint_eq(vmbus_server_version(t.srv), v);
	ck_assert_int_eq(vmbus_server_state(t.srv), VMBUS_CONNECTED);
	th_fini(&t);
}
END_TEST

START_TEST(version_cap_fallback)
{
	struct th t;
	int refused = 0;

	/* Capped at 4.0 like QEMU: Linux walks 5.3 .. 4.1 (refused) to 4.0. */
	ck_assert_int_eq(th_init(&t, 1, VMBUS_VERSION_WIN10), 0);
	for (int i = (int)ARRAY_SIZE(all_versions) - 1; i >= 0; i--) {
		int ok = th_connect(&t, all_versions[i]);

		ck_assert_int_ge(ok, 0);
		if (ok) {
			ck_assert_uint_eq(all_versions[i], VMBUS_VERSION_WIN10);
			break;
		}
		refused++;
		ck_assert_int_eq(vmbus_server_state(t.srv), VMBUS_DISCONNECTED);
	}
	ck_assert_int_eq(refused, 5);
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->versions_refused, 5);
	ck_assert_uint_eq(vmbus_server_version(t.srv), VMBUS_VERSION_WIN10);
	th_fini(&t);
}
END_TEST

START_TEST(version_refusals)
{
	struct th t;
	struct vmbus_msg_initiate_contact ic = {
		.header.msgtype = CHANNELMSG_INITIATE_CONTACT,
		.vmbus_version_requested = VMBUS_VERSION_WIN10_V5_2,
		.target_vcpu = 0,
		.msg_sint = 3, /* not VMBus's SINT */
	};
	struct vmbus_msg_version_response r;

	ck_assert_int_eq(th_init(&t, 2, 0), 0);
	th_post(&t, 0, 4, &ic, sizeof(ic));
	ck_assert_int_eq(th_recv(&t, 0, &r, NULL), CHANNELMSG_VERSION_RESPONSE);
	ck_assert_int_eq(r.version_supported, 0);
	/* Unknown versions. */
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION(6, 0)), 0);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION(4, 2)), 0);
	ck_assert_int_eq(th_connect(&t, 0), 0);
	/* target_vcpu beyond the VPs: nowhere to answer. */
	ic.msg_sint = 2;
	ic.target_vcpu = 2;
	th_post(&t, 0, 4, &ic, sizeof(ic));
	ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), 0);
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->malformed, 1);
	ck_assert_int_eq(vmbus_server_state(t.srv), VMBUS_DISCONNECTED);
	/* Linux's first try on id 4 then works. */
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	th_fini(&t);
}
END_TEST

START_TEST(offers_and_all_delivered)
{
	struct th t;
	struct td d[3];
	struct vmbus_msg_offer_channel o[3];
	uint8_t ud[120];

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	memset(ud, 0x5A, sizeof(ud));
	ck_assert_ptr_nonnull(td_offer(&t, &d[0], 1, 0, false));
	ck_assert_ptr_nonnull(td_offer(&t, &d[1], 2, 0, false));
	{
		struct vmbus_offer_params p = { .sub_channel_index = 1, .user_def = ud };

		p.if_instance.b[0] = 2;
		memset(&d[2], 0, sizeof(d[2]));
		d[2].ch = vmbus_offer(t.srv, &p, &td_ops, &d[2]);
		ck_assert_ptr_nonnull(d[2].ch);
	}
	/* Nothing is sent before the guest asks. */
	ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), 0);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_2), 1);
	ck_assert_int_eq(th_request_offers(&t, o, 3), 3);
	ck_assert_int_eq(vmbus_server_state(t.srv), VMBUS_OFFERS_SENT);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(o[i].header.msgtype, CHANNELMSG_OFFERCHANNEL);
		ck_assert_uint_eq(o[i].child_relid, (uint32_t)i + 1);
		ck_assert_uint_eq(o[i].connection_id, vmbus_chan_conn_id(d[i].ch));
		ck_assert_uint_ge(o[i].connection_id, 16);
		ck_assert_int_eq(o[i].monitor_allocated, 0);
		ck_assert_int_eq(o[i].is_dedicated_interrupt, 1);
		ck_assert_int_eq(o[i].if_type.b[0], i < 2 ? 0xAA : 0);
	}
	ck_assert_int_eq(o[2].sub_channel_index, 1);
	ck_assert_mem_eq(o[2].user_def, ud, sizeof(ud));
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->offers_sent, 3);
	/* Second REQUESTOFFERS: wrong state, no duplicate offers. */
	{
		struct vmbus_msg_header m = { .msgtype = CHANNELMSG_REQUESTOFFERS };

		th_post(&t, 0, 1, &m, sizeof(m));
		ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), 0);
		ck_assert_uint_eq(vmbus_server_stats(t.srv)->wrong_state, 1);
	}
	/* A late offer goes out at once. */
	{
		struct td late;
		struct vmbus_msg_offer_channel lo;

		ck_assert_ptr_nonnull(td_offer(&t, &late, 9, 0, false));
		ck_assert_int_eq(th_recv(&t, 0, &lo, NULL), CHANNELMSG_OFFERCHANNEL);
		ck_assert_uint_eq(lo.child_relid, 4);
	}
	th_fini(&t);
}
END_TEST

START_TEST(short_messages)
{
	static const struct { uint32_t type, min; } cases[] = {
		{ CHANNELMSG_REQUESTOFFERS, 8 },      { CHANNELMSG_OPENCHANNEL, 148 },
		{ CHANNELMSG_CLOSECHANNEL, 12 },      { CHANNELMSG_GPADL_HEADER, 28 },
		{ CHANNELMSG_GPADL_BODY, 16 },        { CHANNELMSG_GPADL_TEARDOWN, 16 },
		{ CHANNELMSG_RELID_RELEASED, 12 },    { CHANNELMSG_INITIATE_CONTACT, 40 },
		{ CHANNELMSG_UNLOAD, 8 },             { CHANNELMSG_TL_CONNECT_REQUEST, 40 },
		{ CHANNELMSG_MODIFYCHANNEL, 16 },
	};
	struct th t;
	uint8_t msg[VMBUS_MSG_MAX] = { 0 };
	uint64_t expect = 0;

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		memcpy(msg, &cases[i].type, 4);
		if (cases[i].min > 8) {
			th_post(&t, 0, 1, msg, cases[i].min - 1);
			expect++;
		}
		th_post(&t, 0, 1, msg, 4);
		expect++;
		ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), 0);
	}
	th_post(&t, 0, 1, msg, 0);
	expect++;
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->malformed, expect);
	ck_assert_int_eq(vmbus_server_state(t.srv), VMBUS_CONNECTED);
	th_fini(&t);
}
END_TEST

START_TEST(unknown_and_host_only_types)
{
	static const uint32_t types[] = {
		CHANNELMSG_INVALID, CHANNELMSG_OFFERCHANNEL, CHANNELMSG_RESCIND_CHANNELOFFER,
		CHANNELMSG_ALLOFFERS_DELIVERED, CHANNELMSG_OPENCHANNEL_RESULT,
		CHANNELMSG_GPADL_CREATED, CHANNELMSG_GPADL_TORNDOWN, CHANNELMSG_VERSION_RESPONSE,
		CHANNELMSG_UNLOAD_RESPONSE, 18, 19, 20, CHANNELMSG_TL_CONNECT_RESULT,
		CHANNELMSG_MODIFYCHANNEL_RESPONSE, CHANNELMSG_COUNT, 0xFFFFFFFF,
	};
	struct th t;
	uint8_t msg[VMBUS_MSG_MAX] = { 0 };

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10), 1);
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		memcpy(msg, &types[i], 4);
		ck_assert_int_eq(th_post(&t, 0, 1, msg, 200), HV_STATUS_SUCCESS);
	}
	ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), 0);
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->malformed, ARRAY_SIZE(types));
	ck_assert_int_eq(vmbus_server_state(t.srv), VMBUS_CONNECTED);
	th_fini(&t);
}
END_TEST

START_TEST(oversize_messages)
{
	struct th t;
	uint8_t msg[VMBUS_MSG_MAX] = { 0 };
	uint32_t type = CHANNELMSG_REQUESTOFFERS;
	struct hv_input_post_message in = { .connection_id = 1, .message_type = 1,
					    .payload_size = 241 };

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10), 1);
	/* Longer than the struct, within 240: the extra bytes are ignored. */
	memcpy(msg, &type, 4);
	th_post(&t, 0, 1, msg, VMBUS_MSG_MAX);
	ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), CHANNELMSG_ALLOFFERS_DELIVERED);
	/* Beyond 240: the hypercall layer refuses, the server never sees it. */
	gmem_write(&t.mem, TH_INPUT, &in, sizeof(in));
	ck_assert_uint_ne(hv_hypercall(t.hv, 0, HVCALL_POST_MESSAGE, TH_INPUT, 0, NULL) & 0xFFFF, 0);
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->messages, 2);
	th_fini(&t);
}
END_TEST

START_TEST(wrong_state_messages)
{
	static const uint32_t types[] = {
		CHANNELMSG_REQUESTOFFERS, CHANNELMSG_OPENCHANNEL, CHANNELMSG_CLOSECHANNEL,
		CHANNELMSG_GPADL_HEADER, CHANNELMSG_GPADL_BODY, CHANNELMSG_GPADL_TEARDOWN,
		CHANNELMSG_RELID_RELEASED, CHANNELMSG_TL_CONNECT_REQUEST, CHANNELMSG_MODIFYCHANNEL,
	};
	struct th t;
	uint8_t msg[VMBUS_MSG_MAX] = { 0 };

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		memcpy(msg, &types[i], 4);
		th_post(&t, 0, 1, msg, 200);
	}
	ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), 0);
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->wrong_state, ARRAY_SIZE(types));
	/* UNLOAD while disconnected: counted, still answered. */
	unload(&t);
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->wrong_state, ARRAY_SIZE(types) + 1);
	/* INITIATE_CONTACT while connected: a new kernel, start over. */
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10), 1);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	ck_assert_uint_eq(vmbus_server_version(t.srv), VMBUS_VERSION_WIN10_V5_3);
	th_fini(&t);
}
END_TEST

START_TEST(open_close)
{
	struct th t;
	struct td d;
	struct tg_chan c;
	struct vmbus_msg_relid close = { .header.msgtype = CHANNELMSG_CLOSECHANNEL };

	ck_assert_int_eq(th_init(&t, 2, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&t, &d, 1, 0, false));
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 1);
	ck_assert_int_eq(tg_open(&t, &c, 1, 0xE1E10, 8, 8, 1, 0), 0);
	ck_assert_int_eq(d.opens, 1);
	ck_assert(vmbus_chan_is_open(d.ch));
	ck_assert_uint_eq(vmbus_chan_target_vp(d.ch), 1);
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->channels_opened, 1);
	close.child_relid = 1;
	th_post(&t, 0, 1, &close, sizeof(close));
	ck_assert_int_eq(d.closes, 1);
	ck_assert(!vmbus_chan_is_open(d.ch));
	ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), 0); /* no reply */
	/* Close again: wrong state, no second ops->close. */
	th_post(&t, 0, 1, &close, sizeof(close));
	ck_assert_int_eq(d.closes, 1);
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->wrong_state, 1);
	/* Close of an unknown relid. */
	close.child_relid = 99;
	th_post(&t, 0, 1, &close, sizeof(close));
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->malformed, 1);
	th_fini(&t);
}
END_TEST

static int64_t open_raw(struct th *t, uint32_t relid, uint32_t gpadl, uint32_t vp, uint32_t down)
{
	struct vmbus_msg_open_channel o = {
		.header.msgtype = CHANNELMSG_OPENCHANNEL, .child_relid = relid, .openid = 77,
		.ringbuffer_gpadl = gpadl, .target_vp = vp, .downstream_ring_offset = down,
	};
	struct vmbus_msg_open_result r;

	th_post(t, 0, 1, &o, sizeof(o));
	if (th_recv(t, 0, &r, NULL) != CHANNELMSG_OPENCHANNEL_RESULT)
		return -1;
	ck_assert_uint_eq(r.child_relid, relid);
	ck_assert_uint_eq(r.openid, 77);
	return r.status;
}

START_TEST(open_refusals)
{
	struct th t;
	struct td d, d2;
	struct tg_chan c;
	uint64_t gpa;

	ck_assert_int_eq(th_init(&t, 2, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&t, &d, 1, 0, false));
	ck_assert_ptr_nonnull(td_offer(&t, &d2, 2, 0, false));
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_2), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 2);
	gpa = th_alloc(&t, 8);
	ck_assert_int_eq(th_gpadl(&t, 1, 100, gpa, 8), 0);
	ck_assert_int_ne(open_raw(&t, 5, 100, 0, 4), 0);   /* unknown relid */
	ck_assert_int_ne(open_raw(&t, 1, 101, 0, 4), 0);   /* unknown GPADL */
	ck_assert_int_ne(open_raw(&t, 2, 100, 0, 4), 0);   /* another channel's GPADL */
	ck_assert_int_ne(open_raw(&t, 1, 100, 2, 4), 0);   /* VP out of range */
	ck_assert_int_ne(open_raw(&t, 1, 100, 0, 1), 0);   /* g->h ring without data */
	ck_assert_int_ne(open_raw(&t, 1, 100, 0, 7), 0);   /* h->g ring without data */
	ck_assert_int_ne(open_raw(&t, 1, 100, 0, 9), 0);   /* beyond the GPADL */
	/* Corrupt indices written before open. */
	*(uint32_t *)th_ptr(&t, gpa, 4) = 6;
	ck_assert_int_ne(open_raw(&t, 1, 100, 0, 4), 0);
	*(uint32_t *)th_ptr(&t, gpa, 4) = 0;
	ck_assert_int_eq(d.opens, 0);
	/* Device refuses: its status is passed on, the GPADL is free again. */
	d.open_status = 0x1234;
	ck_assert_int_eq(open_raw(&t, 1, 100, 0, 4), 0x1234);
	ck_assert_int_eq(d.opens, 1);
	ck_assert_int_eq(d.closes, 0);
	d.open_status = 0;
	ck_assert_int_eq(open_raw(&t, 1, 100, 0, 4), 0);
	ck_assert_int_ne(open_raw(&t, 1, 100, 0, 4), 0);   /* already open */
	/* A ring GPADL cannot serve two channels. */
	ck_assert_int_eq(tg_open(&t, &c, 2, 200, 2, 2, 0, 0), 0);
	ck_assert_int_eq(d.opens, 2);
	ck_assert_int_eq(d2.opens, 1);
	th_fini(&t);
	/* th_fini freed the server: ops->close ran for both. */
	ck_assert_int_eq(d.closes, 1);
	ck_assert_int_eq(d2.closes, 1);
}
END_TEST

START_TEST(rescind_and_release)
{
	struct th t;
	struct td d, d2, d3;
	struct tg_chan c;
	struct vmbus_msg_rescind_offer r;
	struct vmbus_msg_relid rel = { .header.msgtype = CHANNELMSG_RELID_RELEASED, .child_relid = 1 };
	struct vmbus_msg_offer_channel o;

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&t, &d, 1, 0, false));
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_2), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 1);
	ck_assert_int_eq(tg_open(&t, &c, 1, 10, 2, 2, 0, 0), 0);

	vmbus_rescind(d.ch);
	ck_assert_int_eq(d.closes, 1);
	ck_assert_int_eq(th_recv(&t, 0, &r, NULL), CHANNELMSG_RESCIND_CHANNELOFFER);
	ck_assert_uint_eq(r.child_relid, 1);
	/* The relid is not reused before the guest releases it. */
	ck_assert_ptr_nonnull(td_offer(&t, &d2, 2, 0, false));
	ck_assert_int_eq(th_recv(&t, 0, &o, NULL), CHANNELMSG_OFFERCHANNEL);
	ck_assert_uint_eq(o.child_relid, 2);
	/* Linux closes and tears the ring GPADL down after a rescind. */
	{
		struct vmbus_msg_relid cl = { .header.msgtype = CHANNELMSG_CLOSECHANNEL, .child_relid = 1 };
		struct vmbus_msg_gpadl_teardown td = { .header.msgtype = CHANNELMSG_GPADL_TEARDOWN,
						       .child_relid = 1, .gpadl = 10 };

		th_post(&t, 0, 1, &cl, sizeof(cl));
		th_post(&t, 0, 1, &td, sizeof(td));
		ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), CHANNELMSG_GPADL_TORNDOWN);
		ck_assert_int_eq(d.closes, 1);
		ck_assert_uint_eq(vmbus_server_stats(t.srv)->wrong_state, 0);
	}
	/* Opening a rescinded channel is refused. */
	ck_assert_int_ne(open_raw(&t, 1, 10, 0, 2), 0);
	th_post(&t, 0, 1, &rel, sizeof(rel));
	/* Released: relid 1 is free for the next offer. */
	ck_assert_ptr_nonnull(td_offer(&t, &d3, 3, 0, false));
	ck_assert_int_eq(th_recv(&t, 0, &o, NULL), CHANNELMSG_OFFERCHANNEL);
	ck_assert_uint_eq(o.child_relid, 1);
	/* RELID_RELEASED for a channel that was not rescinded. */
	rel.child_relid = 2;
	th_post(&t, 0, 1, &rel, sizeof(rel));
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->wrong_state, 1);
	/* Rescind of an offer the guest never saw frees it at once. */
	unload(&t);
	vmbus_rescind(d2.ch);
	ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), 0);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_2), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 1);
	th_fini(&t);
}
END_TEST

/* The operator's rescind (vmbus_chan_withdraw): the guest sees a rescind,
 * the device its close; after RELID_RELEASED the same channel (same
 * device, same relid) can be offered again and opened again, but not
 * before, and REQUESTOFFERS does not bring it back on its own. */
START_TEST(withdraw_and_reoffer)
{
	struct th t;
	struct td d, d2;
	struct tg_chan c;
	struct vmbus_msg_rescind_offer r;
	struct vmbus_msg_relid rel = { .header.msgtype = CHANNELMSG_RELID_RELEASED, .child_relid = 1 };
	struct vmbus_msg_offer_channel o;

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&t, &d, 1, 0, false));
	ck_assert_ptr_nonnull(td_offer(&t, &d2, 2, 0, false));
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_2), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 2);
	ck_assert_int_eq(tg_open(&t, &c, 1, 10, 2, 2, 0, 0), 0);

	ck_assert_int_eq(vmbus_chan_reoffer(d.ch), -EALREADY);  /* not withdrawn */
	ck_assert_int_eq(vmbus_chan_withdraw(d.ch), 0);
	ck_assert_int_eq(d.closes, 1);
	ck_assert(vmbus_chan_is_withdrawn(d.ch));
	ck_assert_int_eq(th_recv(&t, 0, &r, NULL), CHANNELMSG_RESCIND_CHANNELOFFER);
	ck_assert_uint_eq(r.child_relid, 1);
	ck_assert_int_eq(vmbus_chan_withdraw(d.ch), -EALREADY);
	/* The guest has not released it: no re-offer yet, no open. */
	ck_assert_int_eq(vmbus_chan_reoffer(d.ch), -EBUSY);
	ck_assert_int_ne(open_raw(&t, 1, 10, 0, 2), 0);
	th_post(&t, 0, 1, &rel, sizeof(rel));
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->wrong_state, 0);
	/* Released: the channel is kept (not freed), its GPADL is gone, and a
	 * message for its relid is refused like one for an unknown relid. */
	ck_assert_uint_eq(vmbus_chan_gpadl_size(d.ch, 10), 0);
	rel.child_relid = 1;
	th_post(&t, 0, 1, &rel, sizeof(rel));
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->wrong_state, 1);
	/* A reconnect does not offer it. */
	unload(&t);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_2), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 1);
	/* Offered again: the same relid, and the same device opens. */
	ck_assert_int_eq(vmbus_chan_reoffer(d.ch), 0);
	ck_assert(!vmbus_chan_is_withdrawn(d.ch));
	ck_assert_int_eq(th_recv(&t, 0, &o, NULL), CHANNELMSG_OFFERCHANNEL);
	ck_assert_uint_eq(o.child_relid, 1);
	ck_assert_int_eq(tg_open(&t, &c, 1, 11, 2, 2, 0, 0), 0);
	ck_assert_int_eq(d.opens, 2);
	/* The device's own rescind of a withdrawn channel frees it for good:
	 * withdrawn, released, then vmbus_rescind(). */
	ck_assert_int_eq(vmbus_chan_withdraw(d2.ch), 0);
	ck_assert_int_eq(th_recv(&t, 0, &r, NULL), CHANNELMSG_RESCIND_CHANNELOFFER);
	rel.child_relid = r.child_relid;
	th_post(&t, 0, 1, &rel, sizeof(rel));
	vmbus_rescind(d2.ch);   /* freed at once: the guest no longer knows it */
	ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), 0);
	th_fini(&t);
}
END_TEST

START_TEST(unload_closes_everything)
{
	struct th t;
	struct td d, d2;
	struct tg_chan c, c2;

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&t, &d, 1, 0, false));
	ck_assert_ptr_nonnull(td_offer(&t, &d2, 2, 0, false));
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 2);
	ck_assert_int_eq(tg_open(&t, &c, 1, 10, 2, 2, 0, 0), 0);
	ck_assert_int_eq(tg_open(&t, &c2, 2, 11, 2, 2, 0, 0), 0);
	vmbus_rescind(d2.ch);
	ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), CHANNELMSG_RESCIND_CHANNELOFFER);
	unload(&t);
	ck_assert_int_eq(d.closes, 1);
	ck_assert_int_eq(d2.closes, 1);
	ck_assert_uint_eq(vmbus_server_version(t.srv), 0);
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->unloads, 1);
	ck_assert_uint_eq(vmbus_chan_gpadl_size(d.ch, 10), 0);
	/* Reboot: renegotiate; the rescinded channel is gone. */
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 1);
	ck_assert_int_eq(tg_open(&t, &c, 1, 10, 2, 2, 0, 0), 0);
	ck_assert_int_eq(d.opens, 2);
	th_fini(&t);
}
END_TEST

START_TEST(server_reset)
{
	struct th t;
	struct td d;
	struct tg_chan c;

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&t, &d, 1, 0, false));
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 1);
	ck_assert_int_eq(tg_open(&t, &c, 1, 10, 2, 2, 0, 0), 0);
	vmbus_server_reset(t.srv);
	ck_assert_int_eq(d.closes, 1);
	ck_assert_int_eq(vmbus_server_state(t.srv), VMBUS_DISCONNECTED);
	ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), 0);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 1);
	th_fini(&t);
}
END_TEST

static int modify(struct th *t, uint32_t relid, uint32_t vp, struct vmbus_msg_modify_channel_response *r)
{
	struct vmbus_msg_modify_channel m = {
		.header.msgtype = CHANNELMSG_MODIFYCHANNEL, .child_relid = relid, .target_vp = vp,
	};

	th_post(t, 0, 1, &m, sizeof(m));
	return (int)th_recv(t, 0, r, NULL);
}

START_TEST(modifychannel_versions)
{
	struct th t;
	struct td d;
	struct tg_chan c;
	struct vmbus_msg_modify_channel_response r;

	/* 5.3: answered. */
	ck_assert_int_eq(th_init(&t, 2, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&t, &d, 1, 0, false));
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 1);
	ck_assert_int_eq(tg_open(&t, &c, 1, 10, 2, 2, 0, 0), 0);
	ck_assert_int_eq(modify(&t, 1, 1, &r), CHANNELMSG_MODIFYCHANNEL_RESPONSE);
	ck_assert_uint_eq(r.child_relid, 1);
	ck_assert_uint_eq(r.status, 0);
	ck_assert_uint_eq(vmbus_chan_target_vp(d.ch), 1);
	ck_assert_int_eq(modify(&t, 1, 2, &r), CHANNELMSG_MODIFYCHANNEL_RESPONSE);
	ck_assert_uint_ne(r.status, 0);
	ck_assert_uint_eq(vmbus_chan_target_vp(d.ch), 1);
	ck_assert_int_eq(modify(&t, 9, 0, &r), CHANNELMSG_MODIFYCHANNEL_RESPONSE);
	ck_assert_uint_ne(r.status, 0);
	/* 5.2 and 4.1: applied, not answered.  4.0: ignored. */
	unload(&t);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_2), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 1);
	ck_assert_int_eq(tg_open(&t, &c, 1, 10, 2, 2, 0, 0), 0);
	ck_assert_int_eq(modify(&t, 1, 1, &r), 0);
	ck_assert_uint_eq(vmbus_chan_target_vp(d.ch), 1);
	unload(&t);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 1);
	ck_assert_int_eq(tg_open(&t, &c, 1, 10, 2, 2, 0, 0), 0);
	ck_assert_int_eq(modify(&t, 1, 1, &r), 0);
	ck_assert_uint_eq(vmbus_chan_target_vp(d.ch), 0);
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->wrong_state, 1);
	th_fini(&t);
}
END_TEST

START_TEST(tl_connect_refused)
{
	struct th t;
	struct vmbus_msg_tl_connect_request req = { .header.msgtype = CHANNELMSG_TL_CONNECT_REQUEST };
	struct vmbus_msg_tl_connect_result res;

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	memset(&req.guest_endpoint_id, 0x42, 16);
	th_post(&t, 0, 1, &req, sizeof(req));
	ck_assert_int_eq(th_recv(&t, 0, &res, NULL), CHANNELMSG_TL_CONNECT_RESULT);
	ck_assert_uint_ne(res.status, 0);
	ck_assert_mem_eq(&res.guest_endpoint_id, &req.guest_endpoint_id, 16);
	th_fini(&t);
}
END_TEST

START_TEST(queue_behind_synic)
{
	struct th t;
	struct vmbus_msg_tl_connect_request req = { .header.msgtype = CHANNELMSG_TL_CONNECT_REQUEST };
	int got = 0, n;

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	/* A guest that posts without taking its messages: the SynIC queue
	 * fills (1024 + the slot), then the server keeps them in order. */
	for (int i = 0; i < 1100; i++)
		th_post(&t, 0, 1, &req, sizeof(req));
	ck_assert_uint_gt(vmbus_server_stats(t.srv)->post_queued, 0);
	ck_assert_int_gt(vmbus_server_flush(t.srv), 0);
	while ((n = th_drain(&t, 0)) > 0 || vmbus_server_flush(t.srv) > 0)
		got += n;
	got += th_drain(&t, 0);
	ck_assert_int_eq(got, 1100);
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->post_errors, 0);
	th_fini(&t);
}
END_TEST

START_TEST(synic_off_counts_errors)
{
	struct th t;
	uint32_t action;
	uint64_t arg;
	struct vmbus_msg_header m = { .msgtype = CHANNELMSG_UNLOAD };

	ck_assert_int_eq(th_init(&t, 1, 0), 0);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	ck_assert_int_eq(hv_msr_write(t.hv, 0, HV_MSR_SCONTROL, 0, &action, &arg), 0);
	/* The guest turned its SynIC off (going down): counted, dropped. */
	th_post(&t, 0, 1, &m, sizeof(m));
	ck_assert_uint_eq(vmbus_server_stats(t.srv)->post_errors, 1);
	ck_assert_int_eq(vmbus_server_state(t.srv), VMBUS_DISCONNECTED);
	ck_assert_int_eq(th_synic_enable(&t, 0), 0);
	ck_assert_int_eq(th_recv(&t, 0, NULL, NULL), 0);
	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	th_fini(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("chanmsg");
	TCase *tc = tcase_create("chanmsg");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, version_each, 0, (int)ARRAY_SIZE(all_versions));
	tcase_add_test(tc, version_cap_fallback);
	tcase_add_test(tc, version_refusals);
	tcase_add_test(tc, offers_and_all_delivered);
	tcase_add_test(tc, short_messages);
	tcase_add_test(tc, unknown_and_host_only_types);
	tcase_add_test(tc, oversize_messages);
	tcase_add_test(tc, wrong_state_messages);
	tcase_add_test(tc, open_close);
	tcase_add_test(tc, open_refusals);
	tcase_add_test(tc, rescind_and_release);
	tcase_add_test(tc, withdraw_and_reoffer);
	tcase_add_test(tc, unload_closes_everything);
	tcase_add_test(tc, server_reset);
	tcase_add_test(tc, modifychannel_versions);
	tcase_add_test(tc, tl_connect_refused);
	tcase_add_test(tc, queue_behind_synic);
	tcase_add_test(tc, synic_off_counts_errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
