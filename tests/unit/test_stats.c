/* SPDX-License-Identifier: MIT */
/* Unit tests for core/stats.h and the status it feeds: a counter list
 * generates a struct and a JSON object with exactly its fields; every
 * list the daemon keeps matches its struct; the vmbus/hv status shows
 * every counter, every channel (with its owner), and refusals move them. */
#include <check.h>
#include <string.h>

#include "core/stats.h"
#include "devices/storvsp/storvsp_internal.h"
#include "vmbus_harness.h"
#include "attach/attach.h"

#define TEST_STATS(X)                   \
	X(alpha, "the first counter")   \
	X(beta, "the second counter")   \
	X(gamma, "the third counter")
STATS_STRUCT(test_stats, TEST_STATS);
STATS_DEFINE_STATIC(test_stats, struct test_stats, TEST_STATS)

/* A container with the fields inline, as devices embed them. */
struct test_dev {
	int other;
	STATS_FIELDS(TEST_STATS)
	char tail;
};
STATS_DEFINE_STATIC(test_dev, struct test_dev, TEST_STATS)

/* `o` has an integer for every field of the table, equal to the struct's. */
static void assert_has_fields(json_t *o, const void *base, const struct stats_field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_object_get(o, f[i].name);
		uint64_t want;

		ck_assert_msg(json_is_integer(v), "key %s missing", f[i].name);
		memcpy(&want, (const char *)base + f[i].offset, sizeof(want));
		ck_assert_uint_eq((uint64_t)json_integer_value(v), want);
	}
}

/* The table is the struct, one uint64_t per entry, in order, each named
 * once and documented; its JSON has exactly those keys. */
static void assert_list_is_struct(const struct stats_field *f, size_t n, size_t size)
{
	uint64_t vals[64];
	json_t *o;

	ck_assert_uint_le(n, 64);
	ck_assert_uint_eq(n * sizeof(uint64_t), size);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(f[i].offset, i * sizeof(uint64_t));
		ck_assert_msg(f[i].doc && f[i].doc[0], "%s has no description", f[i].name);
		for (size_t k = 0; k < i; k++)
			ck_assert_msg(strcmp(f[i].name, f[k].name), "%s twice", f[i].name);
		vals[i] = 1000 + i;
	}
	o = stats_json(vals, f, n, NULL);
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(json_object_size(o), n);
	assert_has_fields(o, vals, f, n);
	json_decref(o);
}

START_TEST(list_generates_struct_and_json)
{
	struct test_stats s = { .alpha = 1, .beta = 2, .gamma = 1ull << 40 };
	const struct stats_field *f;
	json_t *o;
	size_t n;

	f = test_stats_fields(&n);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(f[1].name, "beta");
	ck_assert_str_eq(f[2].doc, "the third counter");
	assert_list_is_struct(f, n, sizeof(s));

	o = test_stats_json(&s, NULL);
	ck_assert_uint_eq(json_object_size(o), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "gamma")), 1ll << 40);
	json_decref(o);

	/* `into`: the counters join what the object already has. */
	o = json_pack("{s:s}", "state", "ready");
	ck_assert_ptr_eq(test_stats_json(&s, o), o);
	ck_assert_uint_eq(json_object_size(o), 4);
	ck_assert_str_eq(json_string_value(json_object_get(o, "state")), "ready");
	json_decref(o);
}
END_TEST

START_TEST(fields_inline_in_a_container)
{
	struct test_dev d = { .other = -1, .alpha = 7, .beta = 8, .gamma = 9, .tail = 'x' };
	const struct stats_field *f;
	json_t *o;
	size_t n;

	f = test_dev_fields(&n);
	ck_assert_uint_eq(f[0].offset, offsetof(struct test_dev, alpha));
	o = test_dev_json(&d, NULL);
	ck_assert_uint_eq(json_object_size(o), 3);
	assert_has_fields(o, &d, f, n);
	ck_assert_uint_eq(stats_total(&d, f, n), 24);
	json_decref(o);
}
END_TEST

START_TEST(add_sums_every_field)
{
	struct test_stats a = { 1, 2, 3 }, b = { 10, 20, 30 };
	size_t n;
	const struct stats_field *f = test_stats_fields(&n);

	stats_add(&a, &b, f, n);
	ck_assert_uint_eq(a.alpha, 11);
	ck_assert_uint_eq(a.beta, 22);
	ck_assert_uint_eq(a.gamma, 33);
	ck_assert_uint_eq(stats_total(&a, f, n), 66);
}
END_TEST

/* Every list the daemon keeps as a struct of its own. */
START_TEST(daemon_lists_match_their_structs)
{
	const struct stats_field *f;
	size_t n;

	f = hv_stats_fields(&n);
	assert_list_is_struct(f, n, sizeof(struct hv_stats));
	f = vmbus_server_stats_fields(&n);
	assert_list_is_struct(f, n, sizeof(struct vmbus_server_stats));
	f = vmbus_chan_stats_fields(&n);
	assert_list_is_struct(f, n, sizeof(struct vmbus_chan_stats));
	f = attach_stats_fields(&n);
	assert_list_is_struct(f, n, sizeof(struct attach_stats));
	f = storvsp_chan_stats_fields(&n);
	assert_list_is_struct(f, n, sizeof(struct storvsp_chan_stats));
}
END_TEST

static const struct stats_field *find_field(const struct stats_field *f, size_t n,
					    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(f[i].name, name))
			return &f[i];
	return NULL;
}

START_TEST(status_shows_every_counter_channel_and_refusal)
{
	struct th t;
	struct td d[3];
	struct vmbus_msg_tl_connect_request tl = { .header.msgtype = CHANNELMSG_TL_CONNECT_REQUEST };
	struct vmbus_msg_header unknown = { .msgtype = 99 };
	struct vmbus_offer_params p = { .sub_channel_index = 1 };
	const struct stats_field *f;
	json_t *hv, *vm, *chans, *c;
	uint64_t pfn_outside = TH_RAM_SIZE >> 12;
	size_t n, i;

	ck_assert_int_eq(th_init(&t, 2, 0), 0);
	ck_assert_ptr_nonnull(td_offer(&t, &d[0], 1, 0, false));
	vmbus_chan_set_label(d[0].ch, "disk0");
	ck_assert_ptr_nonnull(td_offer(&t, &d[1], 2, 0, false));
	/* A subchannel of the first, offered later: it takes "disk0". */
	p.if_type.b[0] = 0xAA;
	p.if_instance.b[0] = 1;
	memset(&d[2], 0, sizeof(d[2]));
	d[2].ch = vmbus_offer(t.srv, &p, &td_ops, &d[2]);
	ck_assert_ptr_nonnull(d[2].ch);
	ck_assert_str_eq(vmbus_chan_label(d[2].ch), "disk0");

	ck_assert_int_eq(th_connect(&t, VMBUS_VERSION_WIN10_V5_3), 1);
	ck_assert_int_eq(th_request_offers(&t, NULL, 0), 3);
	/* Refusals, one of each kind this test can reach. */
	th_post(&t, 0, VMBUS_MESSAGE_CONNECTION_ID, &unknown, sizeof(unknown));
	th_post(&t, 0, VMBUS_MESSAGE_CONNECTION_ID, &tl, sizeof(tl));
	th_drain(&t, 0);
	ck_assert_int_ne(th_gpadl_pfns(&t, vmbus_chan_relid(d[1].ch), 7, &pfn_outside, 1, NULL), 0);
	ck_assert_uint_eq(hv_hypercall(t.hv, 0, 0x7F, 0, 0, NULL) & 0xFFFF,
			  HV_STATUS_INVALID_HYPERCALL_CODE);
	th_post(&t, 0, 77, &unknown, sizeof(unknown));

	hv = hv_partition_status_json(t.hv);
	f = hv_stats_fields(&n);
	assert_has_fields(hv, hv_partition_stats(t.hv), f, n);
	ck_assert_int_eq(json_integer_value(json_object_get(hv, "hc_unknown_code")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(hv, "hc_unknown_conn")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(hv, "hc_refused")), 2);
	ck_assert_ptr_nonnull(find_field(f, n, "synic_not_ready"));

	vm = vmbus_server_status_json(t.srv);
	f = vmbus_server_stats_fields(&n);
	assert_has_fields(vm, vmbus_server_stats(t.srv), f, n);
	ck_assert_str_eq(json_string_value(json_object_get(vm, "version")), "5.3");
	ck_assert_int_eq(json_integer_value(json_object_get(vm, "tl_connects_refused")), 1);
	/* The unknown type and the GPADL whose page is outside RAM. */
	ck_assert_int_eq(json_integer_value(json_object_get(vm, "malformed")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(vm, "gpadls_refused")), 1);

	chans = json_object_get(vm, "channels");
	ck_assert_uint_eq(json_array_size(chans), 3);
	f = vmbus_chan_stats_fields(&n);
	json_array_foreach(chans, i, c) {
		ck_assert_int_eq(json_integer_value(json_object_get(c, "relid")),
				 vmbus_chan_relid(d[i].ch));
		ck_assert(json_is_false(json_object_get(c, "open")));
		assert_has_fields(c, vmbus_chan_stats(d[i].ch), f, n);
	}
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(chans, 0), "device")),
			 "disk0");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(chans, 2), "device")),
			 "disk0");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(chans, 2),
							    "subchannel")), 1);
	/* Unlabelled: the class GUID stands in. */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(chans, 1), "device")),
			 json_string_value(json_object_get(json_array_get(chans, 1), "class")));

	json_decref(hv);
	json_decref(vm);
	th_fini(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("stats");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, list_generates_struct_and_json);
	tcase_add_test(tc, fields_inline_in_a_container);
	tcase_add_test(tc, add_sums_every_field);
	tcase_add_test(tc, daemon_lists_match_their_structs);
	tcase_add_test(tc, status_shows_every_counter_channel_and_refusal);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
