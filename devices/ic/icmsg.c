/* SPDX-License-Identifier: MIT */
/*
 * The IC framing as pure functions (facts §7.1, §7.2): building the pipe
 * and IC headers and the NEGOTIATE body, parsing the guest's answers.  No
 * channel, no state: the unit tests and the fuzzer call them directly.
 */
#include "devices/ic/ic_internal.h"

#include <errno.h>
#include <string.h>

int icmsg_build_header(uint8_t *buf, size_t cap, uint16_t msgtype, struct ic_version fw,
		       struct ic_version svc, size_t body_len, uint8_t xid)
{
	struct vmbuspipe_hdr pipe;
	struct icmsg_hdr hdr;

	if (cap < ICMSG_BODY_OFFSET || body_len > UINT16_MAX || body_len > cap - ICMSG_BODY_OFFSET)
		return -EMSGSIZE;
	/* Linux ignores the pipe header; OpenVMM sends flags 1 (data) and the
	 * bytes that follow (facts §7.1). */
	pipe.flags = 1;
	pipe.msgsize = (uint32_t)(sizeof(hdr) + body_len);
	memset(&hdr, 0, sizeof(hdr));
	hdr.icverframe = fw;
	hdr.icmsgtype = msgtype;
	hdr.icvermsg = svc;
	hdr.icmsgsize = (uint16_t)body_len;
	hdr.status = HV_S_OK;
	hdr.ictransaction_id = xid;
	hdr.icflags = ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_REQUEST;
	memcpy(buf, &pipe, sizeof(pipe));
	memcpy(buf + ICMSG_HDR_OFFSET, &hdr, sizeof(hdr));
	return (int)(ICMSG_BODY_OFFSET + body_len);
}

int icmsg_build_negotiate(uint8_t *buf, size_t cap, const struct ic_version *fw, size_t nfw,
			  const struct ic_version *svc, size_t nsvc)
{
	struct icmsg_negotiate neg;
	size_t len = sizeof(neg) + (nfw + nsvc) * sizeof(struct ic_version);

	if (nfw == 0 || nsvc == 0 || nfw > IC_MAX_VERSIONS || nsvc > IC_MAX_VERSIONS)
		return -EINVAL;
	if (len > cap)
		return -EMSGSIZE;
	memset(&neg, 0, sizeof(neg));
	neg.icframe_vercnt = (uint16_t)nfw;
	neg.icmsg_vercnt = (uint16_t)nsvc;
	memcpy(buf, &neg, sizeof(neg));
	memcpy(buf + sizeof(neg), fw, nfw * sizeof(*fw));
	memcpy(buf + sizeof(neg) + nfw * sizeof(*fw), svc, nsvc * sizeof(*svc));
	return (int)len;
}

int icmsg_parse_reply(const uint8_t *data, size_t len, struct ic_reply *out)
{
	const uint8_t want = ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_RESPONSE;

	if (len < ICMSG_BODY_OFFSET)
		return -EBADMSG;
	memcpy(&out->hdr, data + ICMSG_HDR_OFFSET, sizeof(out->hdr));
	out->body = data + ICMSG_BODY_OFFSET;
	out->body_len = len - ICMSG_BODY_OFFSET;
	if (out->hdr.icmsgsize > out->body_len)
		return -EBADMSG;
	if ((out->hdr.icflags & want) != want)
		return -EPROTO;
	return 0;
}

static bool icmsg_version_in(struct ic_version v, const struct ic_version *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].major == v.major && list[i].minor == v.minor)
			return true;
	return false;
}

int icmsg_parse_negotiate(const uint8_t *body, size_t len, const struct ic_version *fw,
			  size_t nfw, const struct ic_version *svc, size_t nsvc,
			  struct ic_version *fw_out, struct ic_version *svc_out)
{
	struct icmsg_negotiate neg;
	size_t n;

	if (len < sizeof(neg))
		return -EBADMSG;
	memcpy(&neg, body, sizeof(neg));
	if (neg.icframe_vercnt > IC_MAX_VERSIONS || neg.icmsg_vercnt > IC_MAX_VERSIONS)
		return -EBADMSG;
	n = (size_t)neg.icframe_vercnt + neg.icmsg_vercnt;
	if (n * sizeof(struct ic_version) > len - sizeof(neg))
		return -EBADMSG;
	/* Linux answers 0/0 when it found no common version. */
	if (neg.icframe_vercnt == 0 || neg.icmsg_vercnt == 0)
		return -ENOTSUP;
	/* Framework list first, then the service list: the chosen ones lead. */
	memcpy(fw_out, body + sizeof(neg), sizeof(*fw_out));
	memcpy(svc_out, body + sizeof(neg) + (size_t)neg.icframe_vercnt * sizeof(struct ic_version),
	       sizeof(*svc_out));
	if (!icmsg_version_in(*fw_out, fw, nfw) || !icmsg_version_in(*svc_out, svc, nsvc))
		return -EPROTO;
	return 0;
}
