/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes every parser of guest answers on the integration-component
 * channels.  The input is the payload of one guest->host packet (pipe
 * header, IC header, body), exactly what ic_chan_notify() hands on.  The
 * parsers must reject or accept it without reading out of bounds; what
 * they accept must satisfy the invariants checked here.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "devices/ic/ic_internal.h"

static const struct ic_version offered[] = { { 4, 0 }, { 3, 2 }, { 3, 1 }, { 3, 0 }, { 1, 0 } };

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static void fuzz_body(const uint8_t *body, size_t len)
{
	static struct kvp_pair pair;
	struct ic_version fw, svc;
	uint64_t seq;
	char out[64];
	int rc;

	rc = icmsg_parse_negotiate(body, len, ic_fw_versions, 2, offered, 5, &fw, &svc);
	if (rc == 0) {
		CHECK(fw.major == 3 || fw.major == 1);
		CHECK(len >= 8 + 2 * sizeof(struct ic_version));
	}
	if (heartbeat_parse_reply(body, len, &seq) == 0)
		CHECK(len >= sizeof(uint64_t));
	if (kvp_msg_parse_get(body, len, &pair) == 0)
		CHECK(strlen(pair.value) < sizeof(pair.value));
	if (kvp_msg_parse_enumerate(body, len, &pair) == 0) {
		CHECK(strlen(pair.key) < sizeof(pair.key));
		CHECK(strlen(pair.value) < sizeof(pair.value));
	}
	/* The UTF-16 decoder with the body's first bytes as a size field. */
	if (len >= 2) {
		size_t size = body[0] | (size_t)body[1] << 8;

		rc = utf16_decode(body + 2, size, len - 2, out, sizeof(out));
		CHECK(rc < (int)sizeof(out));
		if (rc >= 0)
			CHECK(strlen(out) == (size_t)rc);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ic_reply reply;

	/* Copy so that reads past the end hit ASan's redzone, not the
	 * fuzzer's larger buffer. */
	uint8_t *buf = __builtin_malloc(size ? size : 1);

	memcpy(buf, data, size);
	if (icmsg_parse_reply(buf, size, &reply) == 0) {
		CHECK(reply.body == buf + ICMSG_BODY_OFFSET);
		CHECK(reply.body_len == size - ICMSG_BODY_OFFSET);
		CHECK(reply.hdr.icmsgsize <= reply.body_len);
		fuzz_body(reply.body, reply.body_len);
	}
	/* The body parsers also see the raw input, whatever its header. */
	fuzz_body(buf, size);
	__builtin_free(buf);
	return 0;
}
