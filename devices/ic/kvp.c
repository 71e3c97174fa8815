/* SPDX-License-Identifier: MIT */
/*
 * Key-value-pair exchange IC (facts §7.2; Linux drivers/hv/hv_kvp.c,
 * tools/hv/hv_kvp_daemon.c).  Keys and values travel as UTF-16LE with a
 * NUL, sizes in bytes including it.  Linux hands each request to
 * hv_kvp_daemon and answers in the host's own buffer, so every body goes
 * out at its op's full size, zero-filled (the guest writes no terminator
 * of its own).  Linux answers NEGOTIATE only once the daemon registered
 * (55 s or never), so nothing here times out before the IC is ready.
 *
 * Config: {"push": {"key": "value", ...}} set into the external pool
 * (0) each time the IC becomes ready, one after the other, after the
 * host's own items into the auto-external pool (3, kvp_host.c; "host_data"
 * changes them); plus the common IC keys.
 * Controls (queued while negotiating, -ENOTCONN while the channel is
 * closed); pool = 0..4 or "external", "guest", "auto", "auto_external",
 * "auto_internal":
 *   "set" {pool, key, value}   -> done(0, {"status": 0, ...})
 *   "get" {pool, key}          -> done(0, {"key", "value"})
 *   "delete" {pool, key}       -> done(0, {"status": 0, ...})
 *   "enumerate" {pool, index}  -> done(0, {"index", "key", "value"})
 *   "enumerate-all" {pool}     -> done(0, {key: value, ...}) walking
 *                                 indices until the guest says HV_S_CONT
 * A failure status from the guest gives done(-EIO, {"status": hresult,
 * "status_name": ...}) (HV_S_CONT: no such key / past the last index).
 * Stats: per-op counts, failed, pushed, push_failed and the framework's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "devices/device.h"
#include "devices/ic/ic_internal.h"
#include "devices/registry.h"

#define KVP_ENUMERATE_MAX 4096u /* enumerate-all gives up past this index */

static const struct ic_version kvp_versions[] = { { 4, 0 }, { 3, 0 }, { 1, 0 } };

static const char *const kvp_pool_names[KVP_POOL_COUNT] = {
	"external", "guest", "auto", "auto_external", "auto_internal",
};

/* Reported beside the framework's counters (core/stats.h). */
#define KVP_STATS(X)                                                     \
	X(sets, "SET requests submitted")                                \
	X(gets, "GET requests submitted")                                \
	X(deletes, "DELETE requests submitted")                          \
	X(enumerates, "ENUMERATE requests submitted")                    \
	X(failed, "answers with a failure status")                       \
	X(pushed, "configured \"push\" pairs the guest accepted")        \
	X(push_failed, "configured \"push\" pairs that failed")

struct kvp {
	struct ic_dev ic;
	json_t *host_data;     /* pool 3's items (kvp_host.c), or NULL */
	json_t *push;          /* object of strings, or NULL */
	json_t *pushing;       /* host_data, then push; NULL once all are answered */
	void *push_iter;       /* next pair of `pushing` */
	STATS_FIELDS(KVP_STATS)
};

/* One control action in flight. */
struct kvp_call {
	struct ic_call *call;   /* NULL for pushes */
	bool push;              /* from the configuration's "push" */
	uint8_t op;
	uint8_t pool;
	bool all;               /* enumerate-all */
	uint32_t index;
	json_t *acc;            /* enumerate-all: pairs so far */
	char key[HV_KVP_EXCHANGE_MAX_KEY_SIZE];
};

/* ---- Configuration ---------------------------------------------------------- */

int kvp_pool_from_json(const json_t *v, uint8_t *pool_out)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0 || i >= KVP_POOL_COUNT)
			return -EINVAL;
		*pool_out = (uint8_t)i;
		return 0;
	}
	if (json_is_string(v)) {
		for (uint8_t i = 0; i < KVP_POOL_COUNT; i++) {
			if (strcmp(json_string_value(v), kvp_pool_names[i]) == 0) {
				*pool_out = i;
				return 0;
			}
		}
	}
	return -EINVAL;
}

/* ---- Handlers --------------------------------------------------------------- */

static void kvp_reply(struct ic_dev *ic, void *arg, int err, const struct ic_reply *reply);

static int kvp_submit(struct kvp *kvp, struct kvp_call *kc, const char *value)
{
	uint8_t body[HV_KVP_BODY_ENUMERATE];
	int len, rc;

	switch (kc->op) {
	case KVP_OP_SET: len = kvp_msg_build_set(body, sizeof(body), kc->pool, kc->key, value); break;
	case KVP_OP_GET: len = kvp_msg_build_get(body, sizeof(body), kc->pool, kc->key); break;
	case KVP_OP_DELETE: len = kvp_msg_build_delete(body, sizeof(body), kc->pool, kc->key); break;
	default: len = kvp_msg_build_enumerate(body, sizeof(body), kc->pool, kc->index); break;
	}
	if (len < 0)
		return len;
	rc = ic_submit(&kvp->ic, body, (size_t)len, 0, kvp_reply, kc);
	if (rc == 0) {
		switch (kc->op) {
		case KVP_OP_SET: kvp->sets++; break;
		case KVP_OP_GET: kvp->gets++; break;
		case KVP_OP_DELETE: kvp->deletes++; break;
		default: kvp->enumerates++; break;
		}
	}
	return rc;
}

static void kvp_push_next(struct kvp *kvp);

static void kvp_call_free(struct kvp_call *kc)
{
	json_decref(kc->acc);
	free(kc);
}

/* Completes a control with a guest answer: 0 and the result, or the
 * failure status.  Returns true when kc went out again (enumerate-all). */
static bool kvp_answer(struct kvp *kvp, struct kvp_call *kc, const struct ic_reply *reply)
{
	struct kvp_pair pair;
	json_t *res = NULL;
	int rc;

	if (reply->hdr.status != HV_S_OK) {
		if (kc->all && reply->hdr.status == HV_S_CONT) { /* past the last index */
			ic_call_finish(kc->call, 0, json_incref(kc->acc));
			return false;
		}
		kvp->failed++;
		res = ic_status_json(reply->hdr.status);
		if (kc->all)
			json_object_set(res, "partial", kc->acc);
		ic_call_finish(kc->call, -EIO, res);
		return false;
	}
	switch (kc->op) {
	case KVP_OP_SET:
	case KVP_OP_DELETE:
		ic_call_finish(kc->call, 0, ic_status_json(reply->hdr.status));
		return false;
	case KVP_OP_GET:
		rc = kvp_msg_parse_get(reply->body, reply->body_len, &pair);
		if (!rc)
			res = json_pack("{s:s, s:s}", "key", kc->key, "value", pair.value);
		break;
	default:
		rc = kvp_msg_parse_enumerate(reply->body, reply->body_len, &pair);
		if (rc || !kc->all) {
			if (!rc)
				res = json_pack("{s:I, s:s, s:s}", "index", (json_int_t)kc->index,
						"key", pair.key, "value", pair.value);
			break;
		}
		json_object_set_new(kc->acc, pair.key, json_string(pair.value));
		if (++kc->index >= KVP_ENUMERATE_MAX) {
			ic_call_finish(kc->call, -EOVERFLOW, json_pack("{s:O}", "partial", kc->acc));
			return false;
		}
		rc = kvp_submit(kvp, kc, NULL);
		if (rc) {
			ic_call_finish(kc->call, rc, json_pack("{s:O}", "partial", kc->acc));
			return false;
		}
		return true;
	}
	if (rc) {
		ic_bad_body(&kvp->ic, "malformed KVP answer");
		ic_call_finish(kc->call, -EBADMSG, NULL);
		return false;
	}
	ic_call_finish(kc->call, 0, res);
	return false;
}

static void kvp_reply(struct ic_dev *ic, void *arg, int err, const struct ic_reply *reply)
{
	struct kvp *kvp = ic->owner;
	struct kvp_call *kc = arg;

	if (kc->push) {
		if (err || reply->hdr.status != HV_S_OK) {
			kvp->push_failed++;
			log_warn("kvp: pushing \"%s\" failed: %s", kc->key,
				 err ? strerror(-err) : ic_status_name(reply->hdr.status));
		} else {
			kvp->pushed++;
		}
		kvp_call_free(kc);
		if (ic->state == IC_READY) /* not after a close: the next open pushes again */
			kvp_push_next(kvp);
		return;
	}
	if (err) {
		ic_call_finish(kc->call, err, NULL);
		kvp_call_free(kc);
		return;
	}
	if (!kvp_answer(kvp, kc, reply))
		kvp_call_free(kc);
}

/* Whenever the IC becomes ready: the host's items into the auto-external
 * pool first (as Hyper-V does), then the configured pairs into the
 * external pool, one SET at a time (the answer sends the next). */
static void kvp_push_next(struct kvp *kvp)
{
	for (;;) {
		const char *key;
		json_t *value;
		struct kvp_call *kc;
		int rc;

		if (!kvp->push_iter && kvp->pushing == kvp->host_data && kvp->push) {
			kvp->pushing = kvp->push;
			kvp->push_iter = json_object_iter(kvp->push);
		}
		if (!kvp->pushing || !kvp->push_iter) {
			kvp->pushing = NULL;   /* every item answered (or failed) */
			return;
		}
		key = json_object_iter_key(kvp->push_iter);
		value = json_object_iter_value(kvp->push_iter);
		kvp->push_iter = json_object_iter_next(kvp->pushing, kvp->push_iter);
		kc = calloc(1, sizeof(*kc));
		if (!kc)
			return;
		kc->push = true;
		kc->op = KVP_OP_SET;
		kc->pool = kvp->pushing == kvp->host_data ? KVP_POOL_AUTO_EXTERNAL : KVP_POOL_EXTERNAL;
		snprintf(kc->key, sizeof(kc->key), "%s", key);
		rc = kvp_submit(kvp, kc, json_string_value(value));
		if (rc == 0)
			return; /* the answer pushes the next */
		kvp->push_failed++;
		log_warn("kvp: pushing \"%s\" failed: %s", key, strerror(-rc));
		kvp_call_free(kc);
	}
}

/* Refuses a key or value that would not fit its field (in both its UTF-16
 * and its UTF-8 form, which Linux converts it back to). */
static int kvp_check_string(const json_t *args, const char *verb, const char *name, size_t cap,
			    const char **out, struct json_err *err)
{
	uint8_t tmp[HV_KVP_EXCHANGE_MAX_VALUE_SIZE];
	int rc = json_get_string(args, verb, name, true, out, err);

	if (rc)
		return rc;
	rc = kvp_msg_put_string(tmp, cap, *out);
	if (rc == -E2BIG)
		return json_fail(err, verb, name, "too long (at most %zu UTF-16 units and %zu UTF-8 bytes)",
				 cap / 2 - 1, cap - 1);
	if (rc < 0)
		return json_fail(err, verb, name, "not valid UTF-8");
	return 0;
}

static int kvp_control(void *dev, const char *verb, const json_t *args,
		       device_control_done done, void *cookie, struct json_err *err)
{
	static const char *const keys_kv[] = { "pool", "key", "value", NULL };
	static const char *const keys_k[] = { "pool", "key", NULL };
	static const char *const keys_idx[] = { "pool", "index", NULL };
	static const char *const keys_pool[] = { "pool", NULL };
	struct kvp *kvp = dev;
	const char *const *keys;
	const char *key = "", *value = NULL;
	uint64_t index = 0;
	struct kvp_call *kc;
	uint8_t op, pool;
	bool all = false;
	int rc;

	if (strcmp(verb, "set") == 0) {
		op = KVP_OP_SET;
		keys = keys_kv;
	} else if (strcmp(verb, "get") == 0) {
		op = KVP_OP_GET;
		keys = keys_k;
	} else if (strcmp(verb, "delete") == 0) {
		op = KVP_OP_DELETE;
		keys = keys_k;
	} else if (strcmp(verb, "enumerate") == 0) {
		op = KVP_OP_ENUMERATE;
		keys = keys_idx;
	} else if (strcmp(verb, "enumerate-all") == 0) {
		op = KVP_OP_ENUMERATE;
		keys = keys_pool;
		all = true;
	} else {
		return -ENOTSUP;
	}
	if (!args)
		return json_fail(err, NULL, verb, "needs arguments");
	rc = json_check_keys(args, verb, keys, err);
	if (rc)
		return rc;
	if (!json_object_get(args, "pool"))
		return json_fail(err, verb, "pool", "required key is missing");
	if (kvp_pool_from_json(json_object_get(args, "pool"), &pool))
		return json_fail(err, verb, "pool", "must be 0..4 or \"external\", \"guest\", "
				 "\"auto\", \"auto_external\", \"auto_internal\"");
	if (op != KVP_OP_ENUMERATE)
		rc = kvp_check_string(args, verb, "key", HV_KVP_EXCHANGE_MAX_KEY_SIZE, &key, err);
	if (!rc && op == KVP_OP_SET)
		rc = kvp_check_string(args, verb, "value", HV_KVP_EXCHANGE_MAX_VALUE_SIZE, &value, err);
	if (!rc && op == KVP_OP_ENUMERATE && !all)
		rc = json_get_u64(args, verb, "index", true, 0, UINT32_MAX, &index, err);
	if (rc)
		return rc;

	kc = calloc(1, sizeof(*kc));
	if (!kc)
		return -ENOMEM;
	kc->op = op;
	kc->pool = pool;
	kc->all = all;
	kc->index = (uint32_t)index;
	snprintf(kc->key, sizeof(kc->key), "%s", key);
	kc->call = ic_call_new(done, cookie);
	kc->acc = all ? json_object() : NULL;
	if (!kc->call || (all && !kc->acc)) {
		free(kc->call);
		kvp_call_free(kc);
		return -ENOMEM;
	}
	rc = kvp_submit(kvp, kc, value);
	if (rc) {
		free(kc->call);
		kvp_call_free(kc);
		return ic_submit_error(err, verb, rc);
	}
	return 0;
}

/* ---- Lifecycle ---------------------------------------------------------------- */

static void kvp_ready(struct ic_dev *ic)
{
	struct kvp *kvp = ic->owner;

	kvp->pushing = kvp->host_data ? kvp->host_data : kvp->push;
	kvp->push_iter = kvp->pushing ? json_object_iter(kvp->pushing) : NULL;
	kvp_push_next(kvp);
}

static void kvp_down(struct ic_dev *ic)
{
	struct kvp *kvp = ic->owner;

	kvp->pushing = NULL;
	kvp->push_iter = NULL;
}

static const struct ic_service kvp_service = {
	.name = "kvp",
	.class_guid = IC_KVP_CLASS_GUID_STR,
	.default_instance = "242ff919-07db-4180-9c2e-b86cb68c8c55",
	.msgtype = ICMSGTYPE_KVPEXCHANGE,
	.max_pkt_size = 16384, /* hv_kvp_init: HV_HYP_PAGE_SIZE * 4 (facts §6.4) */
	.versions = kvp_versions,
	.n_versions = ARRAY_SIZE(kvp_versions),
	.ready = kvp_ready,
	.down = kvp_down,
};

static void kvp_destroy(void *dev)
{
	struct kvp *kvp = dev;

	if (!kvp)
		return;
	ic_destroy(&kvp->ic);
	json_decref(kvp->push);
	json_decref(kvp->host_data);
	free(kvp);
}

int kvp_check_pair(const char *path, const char *key, const json_t *v, bool null_ok,
		   struct json_err *err)
{
	uint8_t tmp[HV_KVP_EXCHANGE_MAX_VALUE_SIZE];

	if (kvp_msg_put_string(tmp, HV_KVP_EXCHANGE_MAX_KEY_SIZE, key) < 0)
		return json_fail(err, path, key, "key too long (at most %u UTF-16 units and %u UTF-8 bytes)",
				 HV_KVP_EXCHANGE_MAX_KEY_SIZE / 2 - 1, HV_KVP_EXCHANGE_MAX_KEY_SIZE - 1);
	if (null_ok && json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return json_fail(err, path, key, null_ok ? "must be a string or null" : "must be a string");
	if (kvp_msg_put_string(tmp, sizeof(tmp), json_string_value(v)) < 0)
		return json_fail(err, path, key, "value too long (at most %u UTF-16 units and %u UTF-8 bytes)",
				 HV_KVP_EXCHANGE_MAX_VALUE_SIZE / 2 - 1, HV_KVP_EXCHANGE_MAX_VALUE_SIZE - 1);
	return 0;
}

static int kvp_parse_push(const json_t *config, const char *path, json_t **out,
			  struct json_err *err)
{
	const json_t *push = json_object_get(config, "push");
	char sub[256];
	const char *key;
	json_t *v;
	int rc;

	*out = NULL;
	if (!push)
		return 0;
	if (!json_is_object(push))
		return json_fail(err, path, "push", "must be an object of strings");
	snprintf(sub, sizeof(sub), "%s%spush", path ? path : "", path && *path ? "." : "");
	json_object_foreach((json_t *)push, key, v)
		if ((rc = kvp_check_pair(sub, key, v, false, err)))
			return rc;
	*out = json_deep_copy(push);
	return *out ? 0 : json_fail(err, path, "push", "out of memory");
}

static int kvp_create(struct vmbus_server *srv, const json_t *config, const char *path,
		      void **dev, struct json_err *err)
{
	static const char *const keys[] = { IC_COMMON_KEYS, "push", "host_data", NULL };
	struct kvp *kvp;
	json_t *push = NULL, *host = NULL;
	int rc;

	rc = json_check_keys(config, path, keys, err);
	if (!rc)
		rc = kvp_parse_push(config, path, &push, err);
	if (!rc)
		rc = kvp_host_data(config, path, &host, err);
	if (rc) {
		json_decref(push);
		return rc;
	}
	kvp = calloc(1, sizeof(*kvp));
	if (!kvp) {
		json_decref(push);
		json_decref(host);
		return json_fail(err, path, NULL, "out of memory");
	}
	kvp->push = push;
	kvp->host_data = host;
	rc = ic_create(&kvp->ic, &kvp_service, kvp, srv, config, path, err);
	if (rc) {
		json_decref(push);
		json_decref(host);
		free(kvp);
		return rc;
	}
	*dev = kvp;
	return 0;
}

STATS_DEFINE_STATIC(kvp_counters, struct kvp, KVP_STATS)

static json_t *kvp_stats(void *dev)
{
	struct kvp *kvp = dev;
	json_t *o = ic_stats_json(&kvp->ic);

	if (!o)
		return NULL;
	/* Scripts wait for "pushed" >= 1 and "pushing" false: every item in. */
	json_object_set_new(o, "pushing", json_boolean(kvp->pushing != NULL));
	json_object_set_new(o, "host_data", kvp->host_data ? json_deep_copy(kvp->host_data)
							    : json_null());
	return kvp_counters_json(kvp, o);
}

const struct vmbus_device_ops kvp_ops = {
	.name = "kvp",
	.class_guid = IC_KVP_CLASS_GUID_STR,
	.guest_driver = "hv_utils",
	.description = "Hyper-V key-value pair exchange integration component",
	.create = kvp_create,
	.destroy = kvp_destroy,
	.control = kvp_control,
	.stats = kvp_stats,
};
