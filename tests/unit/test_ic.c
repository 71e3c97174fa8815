/* SPDX-License-Identifier: MIT */
/* Unit tests of the integration components' pure builders and parsers
 * (devices/ic/icmsg.c, utf16.c, kvp_msg.c and the per-IC helpers). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/guid.h"
#include "devices/ic/ic_internal.h"
#include "core/util.h"
#include "devices/registry.h"

static const struct ic_version svc_versions[] = { { 4, 0 }, { 3, 0 }, { 1, 0 } };

/* ---- Framing ----------------------------------------------------------- */

START_TEST(test_header_layout)
{
	uint8_t buf[64];
	struct vmbuspipe_hdr pipe;
	struct icmsg_hdr hdr;

	ck_assert_int_eq(icmsg_build_header(buf, sizeof(buf), ICMSGTYPE_HEARTBEAT, ic_ver(3, 0),
					    ic_ver(3, 0), 36, 7), 64);
	memcpy(&pipe, buf, sizeof(pipe));
	memcpy(&hdr, buf + 8, sizeof(hdr));
	ck_assert_uint_eq(pipe.flags, 1);
	ck_assert_uint_eq(pipe.msgsize, 20 + 36);
	ck_assert_uint_eq(hdr.icverframe.major, 3);
	ck_assert_uint_eq(hdr.icmsgtype, ICMSGTYPE_HEARTBEAT);
	ck_assert_uint_eq(hdr.icmsgsize, 36);
	ck_assert_uint_eq(hdr.icflags, ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_REQUEST);
	ck_assert_uint_eq(hdr.ictransaction_id, 7);
	ck_assert_uint_eq(hdr.status, 0);
	ck_assert_int_eq(icmsg_build_header(buf, sizeof(buf), 1, ic_ver(3, 0), ic_ver(3, 0), 37, 0),
			 -EMSGSIZE);
	ck_assert_int_eq(icmsg_build_header(buf, 27, 1, ic_ver(3, 0), ic_ver(3, 0), 0, 0), -EMSGSIZE);
}
END_TEST

START_TEST(test_negotiate_build)
{
	uint8_t buf[64];
	struct icmsg_negotiate neg;
	struct ic_version v[5];

	ck_assert_int_eq(icmsg_build_negotiate(buf, sizeof(buf), ic_fw_versions, 2, svc_versions, 3),
			 8 + 5 * 4);
	memcpy(&neg, buf, sizeof(neg));
	memcpy(v, buf + 8, sizeof(v));
	ck_assert_uint_eq(neg.icframe_vercnt, 2);
	ck_assert_uint_eq(neg.icmsg_vercnt, 3);
	ck_assert_uint_eq(v[0].major, 3);
	ck_assert_uint_eq(v[1].major, 1);
	ck_assert_uint_eq(v[2].major, 4);
	ck_assert_uint_eq(v[4].major, 1);
	ck_assert_int_eq(icmsg_build_negotiate(buf, 20, ic_fw_versions, 2, svc_versions, 3), -EMSGSIZE);
	ck_assert_int_eq(icmsg_build_negotiate(buf, sizeof(buf), ic_fw_versions, 0, svc_versions, 3),
			 -EINVAL);
	ck_assert_int_eq(icmsg_build_negotiate(buf, sizeof(buf), ic_fw_versions, 2, svc_versions, 101),
			 -EINVAL);
}
END_TEST

/* What Linux's vmbus_prep_negotiate_resp() does to the host's buffer. */
static size_t linux_answer(uint8_t *body, uint16_t nfw, uint16_t nsvc, struct ic_version fw,
			   struct ic_version svc)
{
	struct icmsg_negotiate neg = { .icframe_vercnt = nfw, .icmsg_vercnt = nsvc };

	memcpy(body, &neg, sizeof(neg));
	memcpy(body + 8, &fw, 4);
	memcpy(body + 12, &svc, 4);
	return 8 + 5 * 4; /* the host's length, unchanged */
}

START_TEST(test_negotiate_parse)
{
	uint8_t body[8 + 100 * 4 * 2];
	struct ic_version fw, svc;
	size_t len;

	memset(body, 0, sizeof(body));
	len = linux_answer(body, 1, 1, ic_ver(3, 0), ic_ver(4, 0));
	ck_assert_int_eq(icmsg_parse_negotiate(body, len, ic_fw_versions, 2, svc_versions, 3, &fw, &svc), 0);
	ck_assert_uint_eq(fw.major, 3);
	ck_assert_uint_eq(svc.major, 4);
	ck_assert_uint_eq(svc.minor, 0);

	/* Short: not even the counts. */
	ck_assert_int_eq(icmsg_parse_negotiate(body, 7, ic_fw_versions, 2, svc_versions, 3, &fw, &svc),
			 -EBADMSG);
	/* Counts within the limit but beyond the buffer. */
	ck_assert_int_eq(icmsg_parse_negotiate(body, 8 + 4, ic_fw_versions, 2, svc_versions, 3, &fw, &svc),
			 -EBADMSG);
	linux_answer(body, 3, 3, ic_ver(3, 0), ic_ver(4, 0));
	ck_assert_int_eq(icmsg_parse_negotiate(body, 8 + 5 * 4, ic_fw_versions, 2, svc_versions, 3, &fw,
					       &svc), -EBADMSG);
	/* Counts over 100. */
	linux_answer(body, 101, 1, ic_ver(3, 0), ic_ver(4, 0));
	ck_assert_int_eq(icmsg_parse_negotiate(body, sizeof(body), ic_fw_versions, 2, svc_versions, 3,
					       &fw, &svc), -EBADMSG);
	linux_answer(body, 1, 0xffff, ic_ver(3, 0), ic_ver(4, 0));
	ck_assert_int_eq(icmsg_parse_negotiate(body, sizeof(body), ic_fw_versions, 2, svc_versions, 3,
					       &fw, &svc), -EBADMSG);
	/* 100 each is allowed when the buffer holds them. */
	linux_answer(body, 100, 100, ic_ver(3, 0), ic_ver(4, 0));
	memcpy(body + 8 + 100 * 4, &(struct ic_version){ 3, 0 }, 4);
	ck_assert_int_eq(icmsg_parse_negotiate(body, sizeof(body), ic_fw_versions, 2, svc_versions, 3,
					       &fw, &svc), 0);
	ck_assert_uint_eq(svc.major, 3);
	/* No common version: Linux answers 0/0. */
	linux_answer(body, 0, 0, ic_ver(0, 0), ic_ver(0, 0));
	ck_assert_int_eq(icmsg_parse_negotiate(body, len, ic_fw_versions, 2, svc_versions, 3, &fw, &svc),
			 -ENOTSUP);
	/* Versions the host never offered. */
	linux_answer(body, 1, 1, ic_ver(2, 0), ic_ver(4, 0));
	ck_assert_int_eq(icmsg_parse_negotiate(body, len, ic_fw_versions, 2, svc_versions, 3, &fw, &svc),
			 -EPROTO);
	linux_answer(body, 1, 1, ic_ver(3, 0), ic_ver(5, 0));
	ck_assert_int_eq(icmsg_parse_negotiate(body, len, ic_fw_versions, 2, svc_versions, 3, &fw, &svc),
			 -EPROTO);
	linux_answer(body, 1, 1, ic_ver(3, 0), ic_ver(4, 1));
	ck_assert_int_eq(icmsg_parse_negotiate(body, len, ic_fw_versions, 2, svc_versions, 3, &fw, &svc),
			 -EPROTO);
}
END_TEST

START_TEST(test_reply_parse)
{
	uint8_t buf[64];
	struct icmsg_hdr hdr;
	struct ic_reply r;

	icmsg_build_header(buf, sizeof(buf), ICMSGTYPE_HEARTBEAT, ic_ver(3, 0), ic_ver(3, 0), 36, 1);
	/* Still a request: not an answer. */
	ck_assert_int_eq(icmsg_parse_reply(buf, 64, &r), -EPROTO);
	memcpy(&hdr, buf + 8, sizeof(hdr));
	hdr.icflags = ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_RESPONSE;
	hdr.status = HV_E_FAIL;
	memcpy(buf + 8, &hdr, sizeof(hdr));
	ck_assert_int_eq(icmsg_parse_reply(buf, 64, &r), 0);
	ck_assert_uint_eq(r.body_len, 36);
	ck_assert_ptr_eq(r.body, buf + 28);
	ck_assert_uint_eq(r.hdr.status, HV_E_FAIL);
	ck_assert_int_eq(icmsg_parse_reply(buf, 27, &r), -EBADMSG);
	ck_assert_int_eq(icmsg_parse_reply(buf, 28 + 35, &r), -EBADMSG); /* icmsgsize > body */
	ck_assert_int_eq(icmsg_parse_reply(buf, 0, &r), -EBADMSG);
}
END_TEST

/* ---- Heartbeat, shutdown, timesync ---------------------------------------- */

START_TEST(test_heartbeat)
{
	struct heartbeat_msg_data d;
	uint64_t seq = 0;

	heartbeat_build_body(&d, 41);
	d.seq_num++; /* what the guest does */
	ck_assert_int_eq(heartbeat_parse_reply((const uint8_t *)&d, sizeof(d), &seq), 0);
	ck_assert_uint_eq(seq, 42);
	ck_assert_int_eq(heartbeat_parse_reply((const uint8_t *)&d, 8, &seq), 0);
	ck_assert_int_eq(heartbeat_parse_reply((const uint8_t *)&d, 7, &seq), -EBADMSG);
	ck_assert_int_eq(heartbeat_parse_reply((const uint8_t *)&d, 0, &seq), -EBADMSG);
}
END_TEST

START_TEST(test_shutdown)
{
	struct shutdown_msg_data *d = malloc(sizeof(*d));
	char *longmsg = malloc(2000);
	uint32_t flags;

	ck_assert_uint_eq(sizeof(*d), 2060);
	ck_assert_uint_ge(ICMSG_BODY_OFFSET + sizeof(*d), 2088); /* facts §7.4 */
	ck_assert_int_eq(shutdown_flags("poweroff", false, &flags), 0);
	ck_assert_uint_eq(flags, 0);
	ck_assert_int_eq(shutdown_flags("poweroff", true, &flags), 0);
	ck_assert_uint_eq(flags, 1);
	ck_assert_int_eq(shutdown_flags("reboot", true, &flags), 0);
	ck_assert_uint_eq(flags, 3);
	ck_assert_int_eq(shutdown_flags("hibernate", false, &flags), 0);
	ck_assert_uint_eq(flags, 4);
	ck_assert_int_eq(shutdown_flags("halt", false, &flags), -EINVAL);

	ck_assert_int_eq(shutdown_build_body(d, 2, 7, 30, "bye"), 0);
	ck_assert_uint_eq(d->flags, 2);
	ck_assert_uint_eq(d->reason_code, 7);
	ck_assert_uint_eq(d->timeout_seconds, 30);
	ck_assert_mem_eq(d->display_message, "b\0y\0e\0\0\0", 8);
	memset(longmsg, 'x', 1023);
	longmsg[1023] = '\0';
	ck_assert_int_eq(shutdown_build_body(d, 0, 0, 0, longmsg), 0);
	longmsg[1023] = 'x';
	longmsg[1024] = '\0';
	ck_assert_int_eq(shutdown_build_body(d, 0, 0, 0, longmsg), -E2BIG);
	free(longmsg);
	free(d);
}
END_TEST

START_TEST(test_timesync)
{
	uint8_t buf[32];
	struct ictimesync_ref_data r;
	struct ictimesync_data o;

	ck_assert_uint_eq(timesync_parenttime(0), WLTIMEDELTA);
	ck_assert_uint_eq(timesync_parenttime(1000000000ull), WLTIMEDELTA + 10000000ull);
	ck_assert_uint_eq(timesync_build_body(buf, sizeof(buf), ic_ver(4, 0), 111, 222,
					      ICTIMESYNCFLAG_SYNC), 22);
	memcpy(&r, buf, sizeof(r));
	ck_assert_uint_eq(r.parenttime, 111);
	ck_assert_uint_eq(r.vmreferencetime, 222);
	ck_assert_uint_eq(r.flags, ICTIMESYNCFLAG_SYNC);
	ck_assert_uint_eq(timesync_build_body(buf, sizeof(buf), ic_ver(3, 0), 333, 222,
					      ICTIMESYNCFLAG_SAMPLE), 25);
	memcpy(&o, buf, sizeof(o));
	ck_assert_uint_eq(o.parenttime, 333);
	ck_assert_uint_eq(o.childtime, 0);
	ck_assert_uint_eq(o.flags, ICTIMESYNCFLAG_SAMPLE);
	ck_assert_uint_eq(timesync_build_body(buf, 21, ic_ver(4, 0), 1, 2, 1), 0);
	ck_assert_uint_eq(timesync_build_body(buf, 24, ic_ver(1, 0), 1, 2, 1), 0);
}
END_TEST

/* ---- UTF-16 -------------------------------------------------------------- */

START_TEST(test_utf16)
{
	uint8_t u[16];
	char out[16];

	/* U+00E9, U+20AC, U+1F600 (a surrogate pair). */
	ck_assert_int_eq(utf16_encode("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", u, sizeof(u)), 10);
	ck_assert_mem_eq(u, "\xe9\x00\xac\x20\x3d\xd8\x00\xde\x00\x00", 10);
	ck_assert_int_eq(utf16_decode(u, 10, 10, out, sizeof(out)), 9);
	ck_assert_str_eq(out, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	ck_assert_int_eq(utf16_encode("abcdefg", u, 16), 16);
	ck_assert_int_eq(utf16_encode("abcdefgh", u, 16), -E2BIG);
	ck_assert_int_eq(utf16_encode("\xff", u, 16), -EINVAL);
	ck_assert_int_eq(utf16_encode("\xc0\x80", u, 16), -EINVAL);      /* overlong NUL */
	ck_assert_int_eq(utf16_encode("\xed\xa0\x80", u, 16), -EINVAL);  /* surrogate */
	ck_assert_int_eq(utf16_encode("\xe2\x82", u, 16), -EINVAL);      /* truncated */

	/* Hostile sizes. */
	memcpy(u, "a\0b\0\0\0", 6);
	ck_assert_int_eq(utf16_decode(u, 6, 6, out, sizeof(out)), 2);
	ck_assert_int_eq(utf16_decode(u, 5, 6, out, sizeof(out)), -EBADMSG); /* odd */
	ck_assert_int_eq(utf16_decode(u, 0, 6, out, sizeof(out)), -EBADMSG);
	ck_assert_int_eq(utf16_decode(u, 8, 6, out, sizeof(out)), -EBADMSG); /* beyond avail */
	ck_assert_int_eq(utf16_decode(u, 4, 6, out, sizeof(out)), -EBADMSG); /* no NUL */
	ck_assert_int_eq(utf16_decode(u, 6, 6, out, 2), -E2BIG);
	/* Lone surrogates become U+FFFD. */
	memcpy(u, "\x00\xd8\x41\x00\x00\xdc\x00\x00", 8);
	ck_assert_int_eq(utf16_decode(u, 8, 8, out, sizeof(out)), 7);
	ck_assert_str_eq(out, "\xef\xbf\xbd" "A" "\xef\xbf\xbd");
	/* A high surrogate as the last unit before the size ends. */
	memcpy(u, "\x00\xd8", 2);
	ck_assert_int_eq(utf16_decode(u, 2, 2, out, sizeof(out)), -EBADMSG);
}
END_TEST

/* ---- KVP ------------------------------------------------------------------- */

static uint8_t kvp_buf[HV_KVP_BODY_ENUMERATE + 16];

START_TEST(test_kvp_build)
{
	struct hv_kvp_hdr h;
	struct hv_kvp_exchg_msg_value v;
	struct hv_kvp_msg_delete d;
	uint32_t index;
	char key[600];

	ck_assert_int_eq(kvp_msg_build_set(kvp_buf, sizeof(kvp_buf), KVP_POOL_EXTERNAL, "ab", "xyz"),
			 2576);
	memcpy(&h, kvp_buf, sizeof(h));
	memcpy(&v, kvp_buf + 4, sizeof(v));
	ck_assert_uint_eq(h.operation, KVP_OP_SET);
	ck_assert_uint_eq(h.pool, 0);
	ck_assert_uint_eq(v.value_type, REG_SZ);
	ck_assert_uint_eq(v.key_size, 6);
	ck_assert_uint_eq(v.value_size, 8);
	ck_assert_mem_eq(v.key, "a\0b\0\0\0", 6);
	ck_assert_mem_eq(v.value, "x\0y\0z\0\0\0", 8);
	ck_assert_uint_eq(v.value[8], 0); /* zero-filled beyond */

	ck_assert_int_eq(kvp_msg_build_get(kvp_buf, sizeof(kvp_buf), KVP_POOL_GUEST, "k"), 2576);
	memcpy(&h, kvp_buf, sizeof(h));
	memcpy(&v, kvp_buf + 4, sizeof(v));
	ck_assert_uint_eq(h.operation, KVP_OP_GET);
	ck_assert_uint_eq(h.pool, 1);
	ck_assert_uint_eq(v.key_size, 4);
	ck_assert_uint_eq(v.value_size, 0);

	ck_assert_int_eq(kvp_msg_build_delete(kvp_buf, sizeof(kvp_buf), 4, "kk"), 520);
	memcpy(&h, kvp_buf, sizeof(h));
	memcpy(&d, kvp_buf + 4, sizeof(d));
	ck_assert_uint_eq(h.operation, KVP_OP_DELETE);
	ck_assert_uint_eq(d.key_size, 6);

	ck_assert_int_eq(kvp_msg_build_enumerate(kvp_buf, sizeof(kvp_buf), KVP_POOL_AUTO, 9), 2580);
	memcpy(&h, kvp_buf, sizeof(h));
	memcpy(&index, kvp_buf + 4, 4);
	ck_assert_uint_eq(h.operation, KVP_OP_ENUMERATE);
	ck_assert_uint_eq(index, 9);

	/* Pools, buffer sizes. */
	ck_assert_int_eq(kvp_msg_build_set(kvp_buf, sizeof(kvp_buf), 5, "a", "b"), -EINVAL);
	ck_assert_int_eq(kvp_msg_build_enumerate(kvp_buf, sizeof(kvp_buf), 200, 0), -EINVAL);
	ck_assert_int_eq(kvp_msg_build_set(kvp_buf, 2575, 0, "a", "b"), -EMSGSIZE);
	ck_assert_int_eq(kvp_msg_build_delete(kvp_buf, 519, 0, "a"), -EMSGSIZE);

	/* Key lengths: 255 UTF-16 units + NUL fit 512 bytes, 256 do not. */
	memset(key, 'k', 255);
	key[255] = '\0';
	ck_assert_int_eq(kvp_msg_build_set(kvp_buf, sizeof(kvp_buf), 0, key, "v"), 2576);
	memcpy(&v, kvp_buf + 4, sizeof(v));
	ck_assert_uint_eq(v.key_size, 512);
	key[255] = 'k';
	key[256] = '\0';
	ck_assert_int_eq(kvp_msg_build_set(kvp_buf, sizeof(kvp_buf), 0, key, "v"), -E2BIG);
	ck_assert_int_eq(kvp_msg_build_delete(kvp_buf, sizeof(kvp_buf), 0, key), -E2BIG);
	/* 170 three-byte characters: 342 UTF-16 bytes but 510 UTF-8 bytes. */
	for (int i = 0; i < 171; i++)
		memcpy(key + 3 * i, "\xe2\x82\xac", 3);
	key[3 * 170] = '\0';
	ck_assert_int_eq(kvp_msg_build_get(kvp_buf, sizeof(kvp_buf), 0, key), 2576);
	key[3 * 170] = '\xe2';
	key[3 * 171] = '\0'; /* 513 UTF-8 bytes: Linux would truncate it */
	ck_assert_int_eq(kvp_msg_build_get(kvp_buf, sizeof(kvp_buf), 0, key), -E2BIG);
	ck_assert_int_eq(kvp_msg_build_set(kvp_buf, sizeof(kvp_buf), 0, "k", "\xc3"), -EINVAL);
}
END_TEST

/* An answer as Linux writes it: the host's buffer with the value filled. */
/* S("...") passes a literal and its length (NULs included). */
#define S(lit) lit, sizeof(lit) - 1
#define NONE NULL, 0
static void kvp_answer(uint8_t op, uint32_t type, const char *key16, size_t key_len,
		       uint32_t key_size, const char *val16, size_t val_len, uint32_t val_size)
{
	struct hv_kvp_hdr h = { .operation = op };
	struct hv_kvp_exchg_msg_value v;
	size_t off = 4 + (op == KVP_OP_ENUMERATE ? 4 : 0);

	memset(kvp_buf, 0, sizeof(kvp_buf));
	memset(&v, 0, sizeof(v));
	v.value_type = type;
	v.key_size = key_size;
	v.value_size = val_size;
	if (key16)
		memcpy(v.key, key16, key_len);
	if (val16)
		memcpy(v.value, val16, val_len);
	memcpy(kvp_buf, &h, sizeof(h));
	memcpy(kvp_buf + off, &v, sizeof(v));
}

START_TEST(test_kvp_parse)
{
	static struct kvp_pair p;
	const size_t g = HV_KVP_BODY_GET_SET, e = HV_KVP_BODY_ENUMERATE;

	kvp_answer(KVP_OP_GET, REG_SZ, S("k\0\0\0"), 4, S("h\0i\0\0\0"), 6);
	ck_assert_int_eq(kvp_msg_parse_get(kvp_buf, g, &p), 0);
	ck_assert_str_eq(p.value, "hi");
	ck_assert_int_eq(kvp_msg_parse_get(kvp_buf, g - 1, &p), -EBADMSG); /* short */
	ck_assert_int_eq(kvp_msg_parse_enumerate(kvp_buf, e, &p), -EBADMSG); /* wrong op */
	kvp_answer(KVP_OP_GET, REG_SZ, NONE, 0, S("h\0i\0\0\0"), 5); /* odd */
	ck_assert_int_eq(kvp_msg_parse_get(kvp_buf, g, &p), -EBADMSG);
	kvp_answer(KVP_OP_GET, REG_SZ, NONE, 0, S("h\0i\0"), 4); /* no NUL */
	ck_assert_int_eq(kvp_msg_parse_get(kvp_buf, g, &p), -EBADMSG);
	kvp_answer(KVP_OP_GET, REG_SZ, NONE, 0, NONE, 2050); /* over 2048 */
	ck_assert_int_eq(kvp_msg_parse_get(kvp_buf, g, &p), -EBADMSG);
	kvp_answer(KVP_OP_GET, REG_SZ, NONE, 0, NONE, 0xffffffffu);
	ck_assert_int_eq(kvp_msg_parse_get(kvp_buf, g, &p), -EBADMSG);
	kvp_answer(KVP_OP_GET, REG_SZ, NONE, 0, NONE, 0);
	ck_assert_int_eq(kvp_msg_parse_get(kvp_buf, g, &p), -EBADMSG);
	kvp_answer(KVP_OP_GET, REG_U32, NONE, 0, S("\x2a\0\0\0"), 4);
	ck_assert_int_eq(kvp_msg_parse_get(kvp_buf, g, &p), 0);
	ck_assert_str_eq(p.value, "42");
	kvp_answer(KVP_OP_GET, REG_U64, NONE, 0, S("\0\0\0\0\1\0\0\0"), 8);
	ck_assert_int_eq(kvp_msg_parse_get(kvp_buf, g, &p), 0);
	ck_assert_str_eq(p.value, "4294967296");
	kvp_answer(KVP_OP_GET, 3 /* REG_BINARY */, NONE, 0, NONE, 4);
	ck_assert_int_eq(kvp_msg_parse_get(kvp_buf, g, &p), -EBADMSG);

	kvp_answer(KVP_OP_ENUMERATE, REG_SZ, S("O\0S\0\0\0"), 6, S("L\0i\0n\0u\0x\0\0\0"), 12);
	ck_assert_int_eq(kvp_msg_parse_enumerate(kvp_buf, e, &p), 0);
	ck_assert_str_eq(p.key, "OS");
	ck_assert_str_eq(p.value, "Linux");
	ck_assert_int_eq(kvp_msg_parse_enumerate(kvp_buf, e - 1, &p), -EBADMSG);
	kvp_answer(KVP_OP_ENUMERATE, REG_SZ, S("O\0S\0"), 4, S("x\0\0\0"), 4); /* key without NUL */
	ck_assert_int_eq(kvp_msg_parse_enumerate(kvp_buf, e, &p), -EBADMSG);
	kvp_answer(KVP_OP_ENUMERATE, REG_SZ, S("O\0S\0\0\0"), 514, S("x\0\0\0"), 4); /* key_size > 512 */
	ck_assert_int_eq(kvp_msg_parse_enumerate(kvp_buf, e, &p), -EBADMSG);
	kvp_answer(KVP_OP_ENUMERATE, REG_SZ, S("O\0S\0\0\0"), 7, S("x\0\0\0"), 4); /* odd key_size */
	ck_assert_int_eq(kvp_msg_parse_enumerate(kvp_buf, e, &p), -EBADMSG);
	/* Full-size strings with the NUL in the last unit are fine. */
	kvp_answer(KVP_OP_ENUMERATE, REG_SZ, NONE, 512, NONE, 2048);
	memset(kvp_buf + 8 + 12, 'a', 510);
	memset(kvp_buf + 8 + 12 + 512, 'b', 2046);
	ck_assert_int_eq(kvp_msg_parse_enumerate(kvp_buf, e, &p), 0);
	ck_assert_uint_eq(strlen(p.key), 255 * 3); /* U+6161 is 3 bytes in UTF-8 */
	ck_assert_uint_eq(strlen(p.value), 1023 * 3);
}
END_TEST

START_TEST(test_kvp_pool)
{
	uint8_t pool = 99;
	json_t *v;

	v = json_string("auto");
	ck_assert_int_eq(kvp_pool_from_json(v, &pool), 0);
	ck_assert_uint_eq(pool, KVP_POOL_AUTO);
	json_decref(v);
	v = json_integer(4);
	ck_assert_int_eq(kvp_pool_from_json(v, &pool), 0);
	ck_assert_uint_eq(pool, 4);
	json_decref(v);
	v = json_integer(5);
	ck_assert_int_eq(kvp_pool_from_json(v, &pool), -EINVAL);
	json_decref(v);
	v = json_integer(-1);
	ck_assert_int_eq(kvp_pool_from_json(v, &pool), -EINVAL);
	json_decref(v);
	v = json_string("Auto");
	ck_assert_int_eq(kvp_pool_from_json(v, &pool), -EINVAL);
	json_decref(v);
	ck_assert_int_eq(kvp_pool_from_json(NULL, &pool), -EINVAL);
}
END_TEST

/* Pool 3's host items: defaults from this machine, overrides, removals,
 * additions, "false" for none, and errors naming the key. */
START_TEST(test_kvp_host_data)
{
	struct json_err err = { "" };
	json_error_t jerr;
	json_t *cfg, *o;
	char host[256] = "";

	cfg = json_object();
	ck_assert_int_eq(kvp_host_data(cfg, "devices[3]", &o, &err), 0);
	ck_assert_int_eq(json_object_size(o), 16);
	gethostname(host, sizeof(host) - 1);
	ck_assert_str_eq(json_string_value(json_object_get(o, "HostName")), host);
	ck_assert_str_eq(json_string_value(json_object_get(o, "VirtualMachineName")), "vmbusd");
	ck_assert_int_eq(strlen(json_string_value(json_object_get(o, "VirtualMachineId"))), 36);
	json_decref(o);
	json_decref(cfg);

	cfg = json_loads("{\"host_data\": {\"VirtualMachineName\": \"db7\", \"HostName\": null,"
			 " \"Rack\": \"r12\"}}", 0, &jerr);
	ck_assert_int_eq(kvp_host_data(cfg, "devices[3]", &o, &err), 0);
	ck_assert_str_eq(json_string_value(json_object_get(o, "VirtualMachineName")), "db7");
	ck_assert_ptr_null(json_object_get(o, "HostName"));
	ck_assert_str_eq(json_string_value(json_object_get(o, "Rack")), "r12");
	json_decref(o);
	json_decref(cfg);

	cfg = json_loads("{\"host_data\": false}", 0, &jerr);
	ck_assert_int_eq(kvp_host_data(cfg, "devices[3]", &o, &err), 0);
	ck_assert_ptr_null(o);
	json_decref(cfg);

	cfg = json_loads("{\"host_data\": {\"VirtualMachineName\": 7}}", 0, &jerr);
	ck_assert_int_eq(kvp_host_data(cfg, "devices[3]", &o, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "devices[3].host_data.VirtualMachineName") != NULL, "%s", err.msg);
	json_decref(cfg);

	cfg = json_loads("{\"host_data\": \"yes\"}", 0, &jerr);
	ck_assert_int_eq(kvp_host_data(cfg, "devices[3]", &o, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "devices[3].host_data") != NULL, "%s", err.msg);
	json_decref(cfg);
}
END_TEST

START_TEST(test_registry)
{
	ck_assert_ptr_eq(device_lookup("heartbeat"), &heartbeat_ops);
	ck_assert_ptr_eq(device_lookup("shutdown"), &shutdown_ops);
	ck_assert_ptr_eq(device_lookup("timesync"), &timesync_ops);
	ck_assert_ptr_eq(device_lookup("kvp"), &kvp_ops);
	ck_assert_ptr_null(device_lookup("nope"));
	ck_assert_ptr_null(device_lookup(NULL));
	for (size_t i = 0; i < device_table_len; i++) {
		ck_assert_ptr_nonnull(device_table[i]->name);
		ck_assert_ptr_nonnull(device_table[i]->create);
		ck_assert_ptr_nonnull(device_table[i]->destroy);
		ck_assert_ptr_eq(device_lookup(device_table[i]->name), device_table[i]);
		/* The class lives in the ops: the scenario engine and the
		 * offers take it from there and nowhere else. */
		struct guid cls;
		ck_assert_ptr_nonnull(device_table[i]->class_guid);
		ck_assert_int_eq(guid_parse(device_table[i]->class_guid, &cls), 0);
	}
}
END_TEST

static Suite *ic_suite(void)
{
	Suite *s = suite_create("ic");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_header_layout);
	tcase_add_test(tc, test_negotiate_build);
	tcase_add_test(tc, test_negotiate_parse);
	tcase_add_test(tc, test_reply_parse);
	tcase_add_test(tc, test_heartbeat);
	tcase_add_test(tc, test_shutdown);
	tcase_add_test(tc, test_timesync);
	tcase_add_test(tc, test_utf16);
	tcase_add_test(tc, test_kvp_build);
	tcase_add_test(tc, test_kvp_parse);
	tcase_add_test(tc, test_kvp_pool);
	tcase_add_test(tc, test_registry);
	tcase_add_test(tc, test_kvp_host_data);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ic_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
