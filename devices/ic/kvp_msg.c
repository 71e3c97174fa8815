/* SPDX-License-Identifier: MIT */
/*
 * KVP message bodies as pure functions (Linux drivers/hv/hv_kvp.c): the
 * host's requests, zero-filled at their op's full size because Linux
 * answers in the host's buffer and writes no string terminator of its
 * own, and the parsers of the guest's answers, which trust no size field.
 */
#include "devices/ic/ic_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void kvp_msg_put_hdr(uint8_t *buf, uint8_t op, uint8_t pool)
{
	struct hv_kvp_hdr h = { .operation = op, .pool = pool, .pad = 0 };

	memcpy(buf, &h, sizeof(h));
}

/* UTF-16 into a field of `cap` bytes: the size in bytes with the NUL.
 * Also refuses strings whose UTF-8 form Linux would truncate: it converts
 * back into cap - 1 bytes plus a NUL (kvp_send_key). */
int kvp_msg_put_string(uint8_t *field, size_t cap, const char *s)
{
	if (strlen(s) > cap - 1)
		return -E2BIG;
	return utf16_encode(s, field, cap);
}

static int kvp_msg_build_value(uint8_t *buf, size_t cap, uint8_t op, uint8_t pool, const char *key,
			   const char *value)
{
	struct hv_kvp_exchg_msg_value v;
	int rc;

	if (cap < HV_KVP_BODY_GET_SET)
		return -EMSGSIZE;
	if (pool >= KVP_POOL_COUNT)
		return -EINVAL;
	memset(buf, 0, HV_KVP_BODY_GET_SET);
	memset(&v, 0, sizeof(v));
	v.value_type = REG_SZ;
	rc = kvp_msg_put_string(v.key, sizeof(v.key), key);
	if (rc < 0)
		return rc;
	v.key_size = (uint32_t)rc;
	if (value) {
		rc = kvp_msg_put_string(v.value, sizeof(v.value), value);
		if (rc < 0)
			return rc;
		v.value_size = (uint32_t)rc;
	}
	kvp_msg_put_hdr(buf, op, pool);
	memcpy(buf + sizeof(struct hv_kvp_hdr), &v, sizeof(v));
	return (int)HV_KVP_BODY_GET_SET;
}

int kvp_msg_build_set(uint8_t *buf, size_t cap, uint8_t pool, const char *key, const char *value)
{
	return kvp_msg_build_value(buf, cap, KVP_OP_SET, pool, key, value);
}

int kvp_msg_build_get(uint8_t *buf, size_t cap, uint8_t pool, const char *key)
{
	return kvp_msg_build_value(buf, cap, KVP_OP_GET, pool, key, NULL);
}

int kvp_msg_build_delete(uint8_t *buf, size_t cap, uint8_t pool, const char *key)
{
	struct hv_kvp_msg_delete d;
	int rc;

	if (cap < HV_KVP_BODY_DELETE)
		return -EMSGSIZE;
	if (pool >= KVP_POOL_COUNT)
		return -EINVAL;
	memset(&d, 0, sizeof(d));
	rc = kvp_msg_put_string(d.key, sizeof(d.key), key);
	if (rc < 0)
		return rc;
	d.key_size = (uint32_t)rc;
	memset(buf, 0, HV_KVP_BODY_DELETE);
	kvp_msg_put_hdr(buf, KVP_OP_DELETE, pool);
	memcpy(buf + sizeof(struct hv_kvp_hdr), &d, sizeof(d));
	return (int)HV_KVP_BODY_DELETE;
}

int kvp_msg_build_enumerate(uint8_t *buf, size_t cap, uint8_t pool, uint32_t index)
{
	if (cap < HV_KVP_BODY_ENUMERATE)
		return -EMSGSIZE;
	if (pool >= KVP_POOL_COUNT)
		return -EINVAL;
	memset(buf, 0, HV_KVP_BODY_ENUMERATE);
	kvp_msg_put_hdr(buf, KVP_OP_ENUMERATE, pool);
	memcpy(buf + sizeof(struct hv_kvp_hdr), &index, sizeof(index));
	return (int)HV_KVP_BODY_ENUMERATE;
}

/* The value of an answered hv_kvp_exchg_msg_value (sizes checked). */
static int kvp_msg_parse_value(const struct hv_kvp_exchg_msg_value *v, struct kvp_pair *out)
{
	out->value_type = v->value_type;
	switch (v->value_type) {
	case REG_SZ:
		if (v->value_size > sizeof(v->value))
			return -EBADMSG;
		return utf16_decode(v->value, v->value_size, sizeof(v->value), out->value,
				    sizeof(out->value)) < 0 ? -EBADMSG : 0;
	case REG_U32: {
		uint32_t x;

		memcpy(&x, v->value, sizeof(x));
		snprintf(out->value, sizeof(out->value), "%" PRIu32, x);
		return 0;
	}
	case REG_U64: {
		uint64_t x;

		memcpy(&x, v->value, sizeof(x));
		snprintf(out->value, sizeof(out->value), "%" PRIu64, x);
		return 0;
	}
	default:
		return -EBADMSG;
	}
}

static int kvp_msg_check_hdr(const uint8_t *body, size_t len, size_t want, uint8_t op)
{
	struct hv_kvp_hdr h;

	if (len < want)
		return -EBADMSG;
	memcpy(&h, body, sizeof(h));
	return h.operation == op ? 0 : -EBADMSG;
}

int kvp_msg_parse_get(const uint8_t *body, size_t len, struct kvp_pair *out)
{
	struct hv_kvp_exchg_msg_value v;

	memset(out, 0, sizeof(*out));
	if (kvp_msg_check_hdr(body, len, HV_KVP_BODY_GET_SET, KVP_OP_GET))
		return -EBADMSG;
	memcpy(&v, body + sizeof(struct hv_kvp_hdr), sizeof(v));
	return kvp_msg_parse_value(&v, out);
}

int kvp_msg_parse_enumerate(const uint8_t *body, size_t len, struct kvp_pair *out)
{
	struct hv_kvp_msg_enumerate e;

	memset(out, 0, sizeof(*out));
	if (kvp_msg_check_hdr(body, len, HV_KVP_BODY_ENUMERATE, KVP_OP_ENUMERATE))
		return -EBADMSG;
	memcpy(&e, body + sizeof(struct hv_kvp_hdr), sizeof(e));
	if (e.data.key_size > sizeof(e.data.key) ||
	    utf16_decode(e.data.key, e.data.key_size, sizeof(e.data.key), out->key,
			 sizeof(out->key)) < 0)
		return -EBADMSG;
	return kvp_msg_parse_value(&e.data, out);
}
