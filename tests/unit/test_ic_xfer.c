/* SPDX-License-Identifier: MIT */
/* Unit tests of the VSS and file-copy ICs' pure builders and parsers
 * (devices/ic/vss_msg.c, fcopy_msg.c). */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "devices/ic/ic_internal.h"
#include "devices/ic/xfer_msg.h"
#include "devices/registry.h"

START_TEST(test_vss_build_parse)
{
	uint8_t buf[64];
	uint32_t flags = 99;

	memset(buf, 0xAA, sizeof(buf));
	ck_assert_int_eq(vss_msg_build(buf, sizeof(buf), VSS_OP_FREEZE), 12);
	ck_assert_uint_eq(buf[0], 5);
	for (int i = 1; i < 12; i++)
		ck_assert_uint_eq(buf[i], 0);
	ck_assert_uint_eq(buf[12], 0xAA); /* nothing past the message */
	ck_assert_int_eq(vss_msg_build(buf, 11, VSS_OP_THAW), -EMSGSIZE);
	ck_assert_int_eq(vss_msg_build(buf, sizeof(buf), VSS_OP_COUNT), -EINVAL);
	ck_assert_int_eq(vss_msg_build(buf, sizeof(buf), VSS_OP_THAW), 12);
	ck_assert_uint_eq(buf[0], 6);

	/* HOT_BACKUP answered by Linux: flags = VSS_HBU_NO_AUTO_RECOVERY. */
	ck_assert_int_eq(vss_msg_build(buf, sizeof(buf), VSS_OP_HOT_BACKUP), 12);
	buf[8] = 5;
	ck_assert_int_eq(vss_msg_parse_reply(buf, 12, VSS_OP_HOT_BACKUP, &flags), 0);
	ck_assert_uint_eq(flags, VSS_HBU_NO_AUTO_RECOVERY);
	ck_assert_int_eq(vss_msg_parse_reply(buf, 11, VSS_OP_HOT_BACKUP, &flags), -EBADMSG);
	ck_assert_int_eq(vss_msg_parse_reply(buf, 12, VSS_OP_FREEZE, &flags), -EBADMSG);
	ck_assert_str_eq(vss_op_name(VSS_OP_FREEZE), "freeze");
	ck_assert_str_eq(vss_op_name(VSS_OP_HOT_BACKUP), "check");
	ck_assert_ptr_null(vss_op_name(200));
}
END_TEST

START_TEST(test_fcopy_split)
{
	char dir[16], name[16];

	ck_assert_int_eq(fcopy_msg_split_path("/tmp/in/a.bin", dir, sizeof(dir), name, sizeof(name)), 0);
	ck_assert_str_eq(dir, "/tmp/in");
	ck_assert_str_eq(name, "a.bin");
	ck_assert_int_eq(fcopy_msg_split_path("/a", dir, sizeof(dir), name, sizeof(name)), 0);
	ck_assert_str_eq(dir, "/");
	ck_assert_str_eq(name, "a");
	ck_assert_int_eq(fcopy_msg_split_path("a/b", dir, sizeof(dir), name, sizeof(name)), -EINVAL);
	ck_assert_int_eq(fcopy_msg_split_path("/a/", dir, sizeof(dir), name, sizeof(name)), -EINVAL);
	ck_assert_int_eq(fcopy_msg_split_path("/a/..", dir, sizeof(dir), name, sizeof(name)), -EINVAL);
	ck_assert_int_eq(fcopy_msg_split_path("", dir, sizeof(dir), name, sizeof(name)), -EINVAL);
	ck_assert_int_eq(fcopy_msg_split_path(NULL, dir, sizeof(dir), name, sizeof(name)), -EINVAL);
	ck_assert_int_eq(fcopy_msg_split_path("/a/0123456789abcdef", dir, sizeof(dir), name, sizeof(name)),
			 -E2BIG);
	ck_assert_int_eq(fcopy_msg_split_path("/0123456789abcdef/a", dir, sizeof(dir), name, sizeof(name)),
			 -E2BIG);
}
END_TEST

START_TEST(test_fcopy_start)
{
	static uint8_t buf[2048];
	struct hv_start_fcopy m;
	char longname[300];

	memset(buf, 0xAA, sizeof(buf));
	ck_assert_int_eq(fcopy_msg_build_start(buf, sizeof(buf), "/tmp", "f\xc3\xa9", FCOPY_OVER_WRITE, 12345),
			 1088);
	memcpy(&m, buf, sizeof(m));
	ck_assert_uint_eq(m.hdr.operation, START_FILE_COPY);
	ck_assert_uint_eq(m.copy_flags, FCOPY_OVER_WRITE);
	ck_assert_uint_eq(m.file_size, 12345);
	/* UTF-16LE at the field offsets: file name @36, path @556. */
	ck_assert_uint_eq(offsetof(struct hv_start_fcopy, file_name), 36);
	ck_assert_uint_eq(offsetof(struct hv_start_fcopy, path_name), 556);
	ck_assert_uint_eq(offsetof(struct hv_start_fcopy, copy_flags), 1076);
	ck_assert_uint_eq(buf[36], 'f');
	ck_assert_uint_eq(buf[37], 0);
	ck_assert_uint_eq(buf[38], 0xE9); /* U+00E9 */
	ck_assert_uint_eq(buf[40], 0);
	ck_assert_uint_eq(buf[556], '/');
	ck_assert_uint_eq(buf[558], 't');
	ck_assert_uint_eq(buf[564], 0);
	ck_assert_uint_eq(buf[1087], 0);
	ck_assert_uint_eq(buf[1088], 0xAA);

	ck_assert_int_eq(fcopy_msg_build_start(buf, 1087, "/", "a", 0, 0), -EMSGSIZE);
	ck_assert_int_eq(fcopy_msg_build_start(buf, sizeof(buf), "/", "", 0, 0), -EINVAL);
	ck_assert_int_eq(fcopy_msg_build_start(buf, sizeof(buf), "/", "\xff", 0, 0), -EINVAL);
	memset(longname, 'x', 259);
	longname[259] = '\0';
	ck_assert_int_eq(fcopy_msg_build_start(buf, sizeof(buf), "/", longname, 0, 0), 1088);
	longname[259] = 'x';
	longname[260] = '\0';
	ck_assert_int_eq(fcopy_msg_build_start(buf, sizeof(buf), "/", longname, 0, 0), -E2BIG);
	/* 130 two-byte characters: 130 UTF-16 units but 260 UTF-8 bytes,
	 * which Linux would truncate to 259. */
	for (int i = 0; i < 130; i++)
		memcpy(longname + 2 * i, "\xc3\xa9", 2);
	longname[260] = '\0';
	ck_assert_int_eq(fcopy_msg_build_start(buf, sizeof(buf), "/", longname, 0, 0), -E2BIG);
}
END_TEST

START_TEST(test_fcopy_write_ops)
{
	static uint8_t buf[8192], data[DATA_FRAGMENT];
	struct hv_do_fcopy *m = (struct hv_do_fcopy *)buf;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	memset(buf, 0xAA, sizeof(buf));
	ck_assert_int_eq(fcopy_msg_build_write(buf, sizeof(buf), 6144, data, 100), 6196);
	ck_assert_uint_eq(m->hdr.operation, WRITE_TO_FILE);
	ck_assert_uint_eq(m->offset, 6144);
	ck_assert_uint_eq(m->size, 100);
	ck_assert_uint_eq(offsetof(struct hv_do_fcopy, data), 52);
	ck_assert_int_eq(memcmp(buf + 52, data, 100), 0);
	ck_assert_uint_eq(buf[52 + 100], 0);   /* zero-filled to the full size */
	ck_assert_uint_eq(buf[6195], 0);
	ck_assert_uint_eq(buf[6196], 0xAA);
	ck_assert_int_eq(fcopy_msg_build_write(buf, sizeof(buf), 0, data, DATA_FRAGMENT), 6196);
	ck_assert_int_eq(fcopy_msg_build_write(buf, sizeof(buf), 0, data, DATA_FRAGMENT + 1), -EINVAL);
	ck_assert_int_eq(fcopy_msg_build_write(buf, 6195, 0, data, 1), -EMSGSIZE);
	ck_assert_int_eq(fcopy_msg_build_write(buf, sizeof(buf), 0, NULL, 0), 6196);

	ck_assert_int_eq(fcopy_msg_build_op(buf, sizeof(buf), COMPLETE_FCOPY), 36);
	ck_assert_int_eq(fcopy_msg_parse_reply(buf, 36, COMPLETE_FCOPY), 0);
	ck_assert_int_eq(fcopy_msg_parse_reply(buf, 35, COMPLETE_FCOPY), -EBADMSG);
	ck_assert_int_eq(fcopy_msg_parse_reply(buf, 36, CANCEL_FCOPY), -EBADMSG);
	ck_assert_int_eq(fcopy_msg_build_op(buf, sizeof(buf), CANCEL_FCOPY), 36);
	ck_assert_int_eq(fcopy_msg_build_op(buf, sizeof(buf), WRITE_TO_FILE), -EINVAL);
	ck_assert_int_eq(fcopy_msg_build_op(buf, 35, CANCEL_FCOPY), -EMSGSIZE);

	ck_assert_int_eq(fcopy_status_errno(HV_S_OK), 0);
	ck_assert_int_eq(fcopy_status_errno(HV_ERROR_ALREADY_EXISTS), -EEXIST);
	ck_assert_int_eq(fcopy_status_errno(HV_ERROR_DISK_FULL), -ENOSPC);
	ck_assert_int_eq(fcopy_status_errno(HV_E_FAIL), -EIO);
}
END_TEST

START_TEST(test_packets_fit)
{
	/* Every request fits Linux's 2-page receive size with the 16-byte
	 * descriptor (hv_fcopy_init: max_pkt_size = HV_HYP_PAGE_SIZE * 2). */
	ck_assert_uint_le(16 + ICMSG_BODY_OFFSET + sizeof(struct hv_do_fcopy), 8192);
	ck_assert_uint_le(16 + ICMSG_BODY_OFFSET + sizeof(struct hv_vss_msg), 4096);
	/* COMPLETE/CANCEL reach the daemon as the whole packet, whose read
	 * buffer is sizeof(hv_do_fcopy). */
	ck_assert_uint_le(ICMSG_BODY_OFFSET + sizeof(struct hv_fcopy_hdr), sizeof(struct hv_do_fcopy));
	ck_assert_ptr_eq(device_lookup("vss"), &vss_ops);
	ck_assert_ptr_eq(device_lookup("fcopy"), &fcopy_ops);
	ck_assert_str_eq(vss_ops.class_guid, "35fa2e29-ea23-4236-96ae-3a6ebacba440");
	ck_assert_str_eq(fcopy_ops.class_guid, "34d14be3-dee4-41c8-9ae7-6b174977c192");
}
END_TEST

static json_t *peer_stats(void *ctx, const char *name)
{
	return strcmp(name, ctx) == 0 ? json_pack("{s:[{s:i, s:s}]}", "disks", "lun", 2, "path", "/x.img")
				      : NULL;
}

START_TEST(test_peer_lookup)
{
	json_t *st;

	ck_assert_ptr_null(device_peer_stats("storvsp"));
	device_set_peer_lookup(peer_stats, "storvsp");
	st = device_peer_stats("storvsp");
	ck_assert_ptr_nonnull(st);
	json_decref(st);
	ck_assert_ptr_null(device_peer_stats("other"));
	ck_assert_ptr_null(device_peer_stats(NULL));
	device_set_peer_lookup(NULL, NULL);
	ck_assert_ptr_null(device_peer_stats("storvsp"));
}
END_TEST

static Suite *xfer_suite(void)
{
	Suite *s = suite_create("ic_xfer");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_vss_build_parse);
	tcase_add_test(tc, test_fcopy_split);
	tcase_add_test(tc, test_fcopy_start);
	tcase_add_test(tc, test_fcopy_write_ops);
	tcase_add_test(tc, test_packets_fit);
	tcase_add_test(tc, test_peer_lookup);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xfer_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
