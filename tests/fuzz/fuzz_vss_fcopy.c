/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the VSS and file-copy ICs' message code (devices/ic/vss_msg.c,
 * fcopy_msg.c).  The input is the payload of one guest->host packet, as
 * ic_chan_notify() hands it on: the reply parsers must accept or reject
 * it without reading out of bounds.  The same bytes, as a NUL-terminated
 * string, also drive the host-side path splitter and START_FILE_COPY
 * builder (their input comes from control requests), whose output must
 * stay within the wire struct and decode back to what went in.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "devices/ic/ic_internal.h"
#include "devices/ic/xfer_msg.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static void fuzz_body(const uint8_t *body, size_t len)
{
	uint32_t flags;

	for (uint8_t op = 0; op < VSS_OP_COUNT; op++)
		if (vss_msg_parse_reply(body, len, op, &flags) == 0)
			CHECK(len >= sizeof(struct hv_vss_msg) && body[0] == op);
	for (uint32_t op = START_FILE_COPY; op <= CANCEL_FCOPY; op++)
		if (fcopy_msg_parse_reply(body, len, op) == 0)
			CHECK(len >= sizeof(struct hv_fcopy_hdr));
}

static void fuzz_path(const uint8_t *data, size_t size)
{
	static uint8_t msg[sizeof(struct hv_start_fcopy) + 16];
	char path[600], dir[600], name[600], back[4 * W_MAX_PATH];
	size_t n = size < sizeof(path) - 1 ? size : sizeof(path) - 1;
	int rc;

	memcpy(path, data, n);
	path[n] = '\0';
	if (fcopy_msg_split_path(path, dir, sizeof(dir), name, sizeof(name)))
		return;
	CHECK(dir[0] == '/' && name[0] && !strchr(name, '/'));
	memset(msg, 0xA5, sizeof(msg));
	rc = fcopy_msg_build_start(msg, sizeof(msg), dir, name, FCOPY_OVER_WRITE, n);
	if (rc < 0)
		return;
	CHECK(rc == (int)sizeof(struct hv_start_fcopy));
	for (size_t i = sizeof(struct hv_start_fcopy); i < sizeof(msg); i++)
		CHECK(msg[i] == 0xA5);
	/* The name decodes back (the guest's conversion, in our decoder). */
	CHECK(utf16_decode(msg + offsetof(struct hv_start_fcopy, file_name), W_MAX_PATH * 2,
			   W_MAX_PATH * 2, back, sizeof(back)) >= 0);
	CHECK(strcmp(back, name) == 0);
	CHECK(strlen(back) <= FCOPY_NAME_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ic_reply reply;
	/* Copy so that reads past the end hit ASan's redzone. */
	uint8_t *buf = __builtin_malloc(size ? size : 1);

	memcpy(buf, data, size);
	if (icmsg_parse_reply(buf, size, &reply) == 0)
		fuzz_body(reply.body, reply.body_len);
	fuzz_body(buf, size);
	fuzz_path(buf, size);
	__builtin_free(buf);
	return 0;
}
