/* SPDX-License-Identifier: MIT */
/*
 * KVP exchange (facts §7; Linux drivers/hv/hv_kvp.c, tools/hv/hv_kvp_daemon.c,
 * include/uapi/linux/hyperv.h).  The wire body at offset 28 is struct
 * hv_kvp_msg ({operation, pool, pad} then the op's union member), except
 * GET_IP_INFO / SET_IP_INFO which use struct hv_kvp_ip_msg (2-byte header).
 * Strings travel as UTF-16LE; the pools hold UTF-8 like the daemon's files.
 *
 * Behaviour kept from Linux (kernel + daemon together):
 *  - SET/GET/DELETE key match is exact (memcmp over the UTF-8 key + NUL).
 *  - GET of a present key answers status 0 with an EMPTY value: the kernel
 *    never passes value_size to the daemon and copies the value back from
 *    the enumerate member's offset.  opts.kvp_get_value returns the stored
 *    value instead.  GET/DELETE of a missing key: HV_S_CONT.
 *  - ENUMERATE past the end (or of the auto pool past index 9): HV_S_CONT,
 *    which ends the host's iteration; no key/value written.
 *  - Errors leave the buffer as received except for the status.
 *  - Unknown operations: status 0 and an empty key/value written at the
 *    enumerate member (the kernel's default path).
 *  - GET_IP_INFO: HV_E_FAIL (no adapter matches); SET_IP_INFO:
 *    HV_GUID_NOTFOUND (the daemon finds no interface for the GUID).
 */
#include "guest/guest_kvp.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/util.h"
#include "guest/guest.h"

#define KVP_KEY_MAX   HV_KVP_EXCHANGE_MAX_KEY_SIZE
#define KVP_VALUE_MAX HV_KVP_EXCHANGE_MAX_VALUE_SIZE
#define KVP_MAX_RECORDS 4096u
#define HV_DRV_VERSION "3.1" /* what hv_kvp registers as IntegrationServicesVersion */

struct kvp_record {
	char key[KVP_KEY_MAX];
	char value[KVP_VALUE_MAX];
};

struct kvp_pool {
	struct kvp_record *rec;
	uint32_t n;
};

struct guest_kvp {
	struct kvp_pool pool[KVP_POOL_COUNT];
};

/* Wire offsets inside the KVP body (after the 4-byte hv_kvp_hdr). */
#define KVP_BODY          4u
#define KVP_VAL_TYPE      0u
#define KVP_VAL_KEY_SIZE  4u
#define KVP_VAL_VAL_SIZE  8u
#define KVP_VAL_KEY       12u
#define KVP_VAL_VALUE     (12u + KVP_KEY_MAX)
#define KVP_ENUM_DATA     4u /* hv_kvp_msg_enumerate: index, then the value struct */

struct guest_kvp *guest_kvp_new(void)
{
	return calloc(1, sizeof(struct guest_kvp));
}

void guest_kvp_free(void *p)
{
	struct guest_kvp *kvp = p;

	if (!kvp)
		return;
	for (unsigned int i = 0; i < KVP_POOL_COUNT; i++)
		free(kvp->pool[i].rec);
	free(kvp);
}

int guest_kvp_utf16_to_utf8(const uint8_t *in, uint32_t inlen, char *out, uint32_t maxout)
{
	uint32_t o = 0;

	for (uint32_t i = 0; i < inlen; i++) {
		uint32_t c = (uint32_t)in[2 * i] | ((uint32_t)in[2 * i + 1] << 8);
		char enc[4];
		uint32_t n;

		if (c == 0)
			break;
		if (c >= 0xD800 && c < 0xDC00 && i + 1 < inlen) {
			uint32_t c2 = (uint32_t)in[2 * i + 2] | ((uint32_t)in[2 * i + 3] << 8);

			if (c2 >= 0xDC00 && c2 < 0xE000) {
				c = 0x10000 + ((c - 0xD800) << 10) + (c2 - 0xDC00);
				i++;
			} else {
				c = 0xFFFD;
			}
		} else if (c >= 0xD800 && c < 0xE000) {
			c = 0xFFFD; /* lone surrogate: keep the output valid UTF-8 */
		}
		if (c < 0x80) {
			enc[0] = (char)c;
			n = 1;
		} else if (c < 0x800) {
			enc[0] = (char)(0xC0 | (c >> 6));
			enc[1] = (char)(0x80 | (c & 0x3F));
			n = 2;
		} else if (c < 0x10000) {
			enc[0] = (char)(0xE0 | (c >> 12));
			enc[1] = (char)(0x80 | ((c >> 6) & 0x3F));
			enc[2] = (char)(0x80 | (c & 0x3F));
			n = 3;
		} else {
			enc[0] = (char)(0xF0 | (c >> 18));
			enc[1] = (char)(0x80 | ((c >> 12) & 0x3F));
			enc[2] = (char)(0x80 | ((c >> 6) & 0x3F));
			enc[3] = (char)(0x80 | (c & 0x3F));
			n = 4;
		}
		if (o + n > maxout)
			break;
		memcpy(out + o, enc, n);
		o += n;
	}
	return (int)o;
}

int guest_kvp_utf8_to_utf16(const char *s, uint8_t *out, uint32_t maxout)
{
	const uint8_t *p = (const uint8_t *)s;
	uint32_t o = 0;

	while (*p && o < maxout) {
		uint32_t c, need;

		if (p[0] < 0x80) {
			c = p[0];
			need = 0;
		} else if ((p[0] & 0xE0) == 0xC0) {
			c = p[0] & 0x1F;
			need = 1;
		} else if ((p[0] & 0xF0) == 0xE0) {
			c = p[0] & 0x0F;
			need = 2;
		} else if ((p[0] & 0xF8) == 0xF0) {
			c = p[0] & 0x07;
			need = 3;
		} else {
			return -1;
		}
		for (uint32_t k = 1; k <= need; k++) {
			if ((p[k] & 0xC0) != 0x80)
				return -1;
			c = (c << 6) | (p[k] & 0x3F);
		}
		p += need + 1;
		if (c >= 0x10000) {
			if (o + 2 > maxout)
				break;
			c -= 0x10000;
			out[2 * o] = (uint8_t)(0xD800 + (c >> 10));
			out[2 * o + 1] = (uint8_t)((0xD800 + (c >> 10)) >> 8);
			o++;
			c = 0xDC00 + (c & 0x3FF);
		}
		out[2 * o] = (uint8_t)c;
		out[2 * o + 1] = (uint8_t)(c >> 8);
		o++;
	}
	return (int)o;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* Reads a UTF-16 string like kvp_send_key: `size_field` is passed as the
 * length in u16 units (Linux's own quirk), bounded by the buffer. */
static void kvp_get_string(const uint8_t *buf, uint32_t buf_size, uint32_t off, uint32_t size_field,
			   char *out, uint32_t out_max)
{
	uint32_t units = buf_size > off ? (buf_size - off) / 2 : 0;
	int n = guest_kvp_utf16_to_utf8(buf + off, MIN(size_field, units), out, out_max - 1);

	out[n < 0 ? 0 : n] = 0;
}

/* Writes a UTF-16 string and its byte size (incl. NUL) like
 * kvp_respond_to_host; -1 when the UTF-8 source is invalid. */
static int kvp_put_string(uint8_t *field, uint32_t max_bytes, uint8_t *size_field, const char *s)
{
	int n = guest_kvp_utf8_to_utf16(s, field, max_bytes / 2 - 2);

	if (n < 0)
		return -1;
	field[2 * n] = 0;
	field[2 * n + 1] = 0;
	wr32(size_field, 2u * ((uint32_t)n + 1u));
	return 0;
}

static struct kvp_record *kvp_lookup(struct kvp_pool *p, const char *key)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (!strcmp(p->rec[i].key, key))
			return &p->rec[i];
	return NULL;
}

static void os_release_field(const char *name, char *out, size_t max)
{
	char line[512];
	FILE *f = fopen("/etc/os-release", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(name);
		char *v, *q;

		if (strncmp(line, name, n) || line[n] != '=')
			continue;
		v = line + n + 1;
		q = out;
		/* Unquote and unescape like the daemon does. */
		while (*v && (size_t)(q - out) + 1 < max) {
			if (*v == '\\' && v[1]) {
				*q++ = v[1];
				v += 2;
			} else if (*v == '"' || *v == '\'' || *v == '\n') {
				v++;
			} else {
				*q++ = *v++;
			}
		}
		*q = 0;
		break;
	}
	fclose(f);
}

static void kvp_ip_addresses(int family, char *out, size_t max)
{
	struct ifaddrs *ifa, *c;
	size_t used = 0;

	out[0] = 0;
	if (getifaddrs(&ifa))
		return;
	for (c = ifa; c; c = c->ifa_next) {
		char tmp[INET6_ADDRSTRLEN];
		const void *addr;

		if (!c->ifa_addr || c->ifa_addr->sa_family != family || (c->ifa_flags & IFF_LOOPBACK))
			continue;
		addr = family == AF_INET ? (const void *)&((struct sockaddr_in *)(void *)c->ifa_addr)->sin_addr
					 : (const void *)&((struct sockaddr_in6 *)(void *)c->ifa_addr)->sin6_addr;
		if (!inet_ntop(family, addr, tmp, sizeof(tmp)))
			continue;
		if (used + strlen(tmp) + 2 > max)
			break;
		used += (size_t)snprintf(out + used, max - used, "%s%s", used ? ";" : "", tmp);
	}
	freeifaddrs(ifa);
}

/* The auto pool, index -> (key, value) as hv_kvp_daemon generates it. */
static bool kvp_auto(uint32_t index, char *key, char *value)
{
	static const char *const names[] = {
		"FullyQualifiedDomainName", "IntegrationServicesVersion", "NetworkAddressIPv4",
		"NetworkAddressIPv6", "OSBuildNumber", "OSName", "OSMajorVersion", "OSMinorVersion",
		"OSVersion", "ProcessorArchitecture",
	};
	struct utsname u;
	char *dash;

	if (index >= ARRAY_SIZE(names))
		return false;
	strcpy(key, names[index]);
	value[0] = 0;
	uname(&u);
	switch (index) {
	case 0:
		/* The daemon asks getaddrinfo(AI_CANONNAME); the bare host
		 * name avoids a DNS dependency in tests. */
		gethostname(value, KVP_VALUE_MAX - 1);
		value[KVP_VALUE_MAX - 1] = 0;
		break;
	case 1:
		strcpy(value, HV_DRV_VERSION);
		break;
	case 2:
		kvp_ip_addresses(AF_INET, value, KVP_VALUE_MAX);
		break;
	case 3:
		kvp_ip_addresses(AF_INET6, value, KVP_VALUE_MAX);
		break;
	case 4:
		snprintf(value, KVP_VALUE_MAX, "%s", u.release);
		break;
	case 5:
		snprintf(value, KVP_VALUE_MAX, "%s", u.sysname);
		os_release_field("NAME", value, KVP_VALUE_MAX);
		break;
	case 6:
		os_release_field("VERSION_ID", value, KVP_VALUE_MAX);
		break;
	case 7:
		break; /* only set from SuSE/redhat-release files */
	case 8:
		snprintf(value, KVP_VALUE_MAX, "%s", u.release);
		dash = strchr(value, '-');
		if (dash)
			*dash = 0;
		break;
	case 9:
		snprintf(value, KVP_VALUE_MAX, "%s", u.machine);
		break;
	}
	return true;
}

static const char *const op_names[] = { "get", "set", "delete", "enumerate", "get_ip_info",
					"set_ip_info" };

void guest_kvp_exchange(struct guest *g, struct guest_kvp *kvp, uint32_t relid, uint8_t *buf,
			uint32_t recvlen, struct icmsg_hdr *hdr)
{
	uint8_t *body = buf + ICMSG_BODY_OFFSET;
	/* Linux's recv buffer is 4 pages; ours is at least the same minus
	 * the header: only the padded part is read. */
	uint32_t body_size = 16384u - ICMSG_BODY_OFFSET;
	uint8_t op = body[0], pool_nr = body[1];
	static char key[KVP_KEY_MAX], value[KVP_VALUE_MAX];
	struct kvp_pool *pool = pool_nr < KVP_POOL_COUNT ? &kvp->pool[pool_nr] : NULL;
	uint32_t status = HV_S_OK, index = 0;
	uint8_t *data;
	json_t *ev;

	key[0] = value[0] = 0;
	ev = json_pack("{s:s, s:i, s:s, s:i}", "event", "kvp", "relid", (json_int_t)relid, "op",
		       op < ARRAY_SIZE(op_names) ? op_names[op] : "unknown", "pool", (json_int_t)pool_nr);
	if (op < KVP_OP_GET_IP_INFO && !pool) {
		/* hv_kvp_daemon would index its pool table out of bounds. */
		guest_error(g, "kvp", "pool %u out of range", pool_nr);
		status = HV_E_FAIL;
		goto done;
	}
	switch (op) {
	case KVP_OP_SET: {
		uint32_t vtype = rd32(body + KVP_BODY + KVP_VAL_TYPE);
		struct kvp_record *r;

		kvp_get_string(body, body_size, KVP_BODY + KVP_VAL_KEY,
			       rd32(body + KVP_BODY + KVP_VAL_KEY_SIZE), key, KVP_KEY_MAX);
		if (vtype == REG_SZ) {
			kvp_get_string(body, body_size, KVP_BODY + KVP_VAL_VALUE,
				       rd32(body + KVP_BODY + KVP_VAL_VAL_SIZE), value, KVP_VALUE_MAX);
		} else if (vtype == REG_U32) {
			snprintf(value, sizeof(value), "%u", rd32(body + KVP_BODY + KVP_VAL_VALUE));
		} else if (vtype == REG_U64) {
			uint64_t v;

			memcpy(&v, body + KVP_BODY + KVP_VAL_VALUE, 8);
			snprintf(value, sizeof(value), "%llu", (unsigned long long)v);
		}
		json_object_set_new(ev, "value_type", json_integer(vtype));
		r = kvp_lookup(pool, key);
		if (!r) {
			struct kvp_record *n;

			if (pool->n >= KVP_MAX_RECORDS) {
				status = HV_S_CONT;
				break;
			}
			n = realloc(pool->rec, (pool->n + 1) * sizeof(*n));
			if (!n) {
				status = HV_S_CONT;
				break;
			}
			pool->rec = n;
			r = &pool->rec[pool->n++];
			memcpy(r->key, key, sizeof(key));
		}
		memcpy(r->value, value, sizeof(value));
		break;
	}
	case KVP_OP_GET: {
		struct kvp_record *r;

		kvp_get_string(body, body_size, KVP_BODY + KVP_VAL_KEY,
			       rd32(body + KVP_BODY + KVP_VAL_KEY_SIZE), key, KVP_KEY_MAX);
		r = kvp_lookup(pool, key);
		if (!r) {
			status = HV_S_CONT;
			break;
		}
		data = body + KVP_BODY;
		if (g->opts.kvp_get_value)
			memcpy(value, r->value, sizeof(value));
		if (kvp_put_string(data + KVP_VAL_VALUE, KVP_VALUE_MAX, data + KVP_VAL_VAL_SIZE, value))
			status = HV_E_FAIL;
		wr32(data + KVP_VAL_TYPE, REG_SZ);
		break;
	}
	case KVP_OP_DELETE: {
		struct kvp_record *r;

		kvp_get_string(body, body_size, KVP_BODY + 4u, rd32(body + KVP_BODY), key, KVP_KEY_MAX);
		r = kvp_lookup(pool, key);
		if (!r) {
			status = HV_S_CONT;
			break;
		}
		memmove(r, r + 1, (size_t)(pool->rec + pool->n - (r + 1)) * sizeof(*r));
		pool->n--;
		break;
	}
	case KVP_OP_GET_IP_INFO:
		status = HV_E_FAIL;
		break;
	case KVP_OP_SET_IP_INFO:
		status = HV_GUID_NOTFOUND;
		break;
	default: /* ENUMERATE, and unknown ops which take the same path */
		if (op == KVP_OP_ENUMERATE) {
			index = rd32(body + KVP_BODY);
			json_object_set_new(ev, "index", json_integer(index));
			if (pool_nr == KVP_POOL_AUTO) {
				if (!kvp_auto(index, key, value))
					status = HV_S_CONT;
			} else if (index < pool->n) {
				memcpy(key, pool->rec[index].key, sizeof(key));
				memcpy(value, pool->rec[index].value, sizeof(value));
			} else {
				status = HV_S_CONT;
			}
			if (status != HV_S_OK)
				break;
		}
		data = body + KVP_BODY + KVP_ENUM_DATA;
		if (kvp_put_string(data + KVP_VAL_KEY, KVP_KEY_MAX, data + KVP_VAL_KEY_SIZE, key) ||
		    kvp_put_string(data + KVP_VAL_VALUE, KVP_VALUE_MAX, data + KVP_VAL_VAL_SIZE, value))
			status = HV_E_FAIL;
		wr32(data + KVP_VAL_TYPE, REG_SZ);
		break;
	}
done:
	hdr->status = status;
	if (op != KVP_OP_GET_IP_INFO && op != KVP_OP_SET_IP_INFO && op != KVP_OP_ENUMERATE &&
	    op < KVP_OP_COUNT)
		json_object_set_new(ev, "key", json_string(key));
	else if (op == KVP_OP_ENUMERATE && status == HV_S_OK)
		json_object_set_new(ev, "key", json_string(key));
	if ((op == KVP_OP_SET || (op == KVP_OP_ENUMERATE && status == HV_S_OK) ||
	     (op == KVP_OP_GET && status == HV_S_OK)))
		json_object_set_new(ev, "value", json_string(value));
	json_object_set_new(ev, "status", json_integer(status));
	json_object_set_new(ev, "len", json_integer(recvlen));
	guest_emit(g, ev);
}
