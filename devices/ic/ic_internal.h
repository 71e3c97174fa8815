/* SPDX-License-Identifier: MIT */
/*
 * The integration-component framework shared by heartbeat, shutdown,
 * timesync and KVP (facts §7).  Internal to devices/ic/ (and the unit tests
 * and fuzzers, which call the pure builders and parsers directly).
 *
 * One IC is one util channel.  The host speaks first: when the guest opens
 * the channel the framework sends NEGOTIATE, and once the guest has chosen
 * a framework and a service version the IC is ready.  Every host message is
 * a transaction the guest answers in the same buffer with
 * icflags = TRANSACTION|RESPONSE and the host's trans_id (facts §7.1).
 * Linux reads one packet per interrupt and, for KVP, does not read the next
 * until it has answered, so the framework keeps ONE request outstanding per
 * channel and queues the rest (bounded).
 */
#ifndef VMBUSD_DEVICES_IC_IC_INTERNAL_H
#define VMBUSD_DEVICES_IC_IC_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "core/stats.h"
#include "devices/device.h"
#include "vmbus/vmbus.h"
#include "vmbusd/proto/ic.h"

#define IC_QUEUE_MAX          32u     /* requests waiting behind the outstanding one */
#define IC_DEFAULT_TIMEOUT_MS 120000u /* > Linux's 30 s daemon timeout (HV_UTIL_TIMEOUT) */

/* Keys every IC's configuration accepts (besides its own). */
#define IC_COMMON_KEYS "type", "name", "instance", "timeout_ms"

enum ic_state {
	IC_CLOSED = 0,   /* channel not open: requests refused with -ENOTCONN */
	IC_NEGOTIATING,  /* NEGOTIATE sent; requests are queued */
	IC_READY,        /* versions agreed; requests flow */
	IC_FAILED,       /* NEGOTIATE failed or was malformed: -EPROTO until reopened */
};

/* The framework's counters (core/stats.h), shared by every IC.  The
 * malformed guest packets are a list of their own: they are reported as
 * "malformed": {"total", each kind}. */
#define IC_STATS(X)                                                                    \
	X(negotiations, "NEGOTIATE exchanges completed")                               \
	X(negotiate_refused, "... the guest matched nothing or chose a version not offered") \
	X(requests_sent, "requests written to the ring")                                \
	X(responses, "matched responses")                                               \
	X(timeouts, "requests the guest did not answer in time")                        \
	X(cancelled, "requests dropped because the channel closed")                     \
	X(queue_full, "requests refused with -EBUSY")                                   \
	X(send_errors, "sends refused other than -EAGAIN")                              \
	X(send_retries, "sends deferred by a full ring")
/* Malformed guest packets, each counted, logged and ignored. */
#define IC_MALFORMED_STATS(X)                                                     \
	X(not_inband, "packet type other than VM_PKT_DATA_INBAND")                \
	X(too_short, "fewer than 28 bytes")                                       \
	X(bad_size, "icmsgsize larger than the packet")                           \
	X(unexpected, "not a response, or answers nothing outstanding")           \
	X(bad_body, "a matched response whose body did not parse")
struct ic_stats {
	STATS_FIELDS(IC_STATS)
	STATS_FIELDS(IC_MALFORMED_STATS)
};


/* A parsed guest response: header copied, body pointing into the packet. */
struct ic_reply {
	struct icmsg_hdr hdr;
	const uint8_t *body;  /* packet payload + 28 */
	size_t body_len;      /* payload bytes after the header */
};

struct ic_dev;
/* Completion of one request: err == 0 with the guest's reply (whose status
 * may still be a failure HRESULT), or err < 0 and reply == NULL:
 * -ECONNRESET (channel closed), -ETIMEDOUT, -EPROTO (negotiation failed),
 * -EMSGSIZE / -EPIPE (could not send). */
typedef void (*ic_reply_fn)(struct ic_dev *ic, void *arg, int err, const struct ic_reply *reply);

struct ic_service {
	const char *name;             /* for logs */
	const char *class_guid;       /* facts §7.3 */
	const char *default_instance; /* used when the config has no "instance" */
	uint16_t msgtype;             /* ICMSGTYPE_* of the service's requests */
	uint32_t max_pkt_size;        /* facts §6.4 */
	const struct ic_version *versions; /* service versions offered */
	size_t n_versions;
	void (*ready)(struct ic_dev *ic); /* negotiated (may submit) */
	void (*down)(struct ic_dev *ic);  /* channel closed; queue already flushed */
};

struct ic_request;

struct ic_dev {
	const struct ic_service *svc;
	void *owner;                  /* the service's device state */
	struct vmbus_server *srv;
	struct vmbus_channel *chan;
	struct event *kick;           /* deferred pump: sends the next request */
	struct event *timer;          /* timeout of the outstanding request */
	struct event *sweep;          /* expires queued requests (guest never ready) */
	enum ic_state state;
	struct ic_version fw_ver;     /* negotiated */
	struct ic_version svc_ver;
	struct ic_request *cur;       /* outstanding (or waiting for ring space) */
	bool cur_sent;
	struct ic_request *head, *tail;
	unsigned int queued;
	uint64_t next_trans_id;
	uint8_t next_xid;
	uint32_t timeout_ms;          /* config "timeout_ms"; 0 = wait for ever */
	struct ic_stats stats;
};

/* ---- Lifecycle (ic.c) ------------------------------------------------- */

/* Reads "instance" and "timeout_ms" from config and offers the channel.
 * The service checks its own keys before (json_check_keys with
 * IC_COMMON_KEYS). */
int ic_create(struct ic_dev *ic, const struct ic_service *svc, void *owner,
	      struct vmbus_server *srv, const json_t *config, const char *path,
	      struct json_err *err);
/* Rescinds the offer (completing pending requests with -ECONNRESET). */
void ic_destroy(struct ic_dev *ic);

/* Queues one request of the service's msgtype; the framework adds the pipe
 * and IC headers with the negotiated versions.  0 (fn follows exactly
 * once, never before this returns), -ENOTCONN (channel closed), -EPROTO
 * (negotiation failed), -EBUSY (queue full), -EMSGSIZE, -ENOMEM.
 * timeout_ms 0 takes the device's timeout. */
int ic_submit(struct ic_dev *ic, const void *body, size_t body_len, uint32_t timeout_ms,
	      ic_reply_fn fn, void *arg);
/* A request is outstanding or queued. */
bool ic_busy(const struct ic_dev *ic);
/* A matched response's body was malformed: count and log it. */
void ic_bad_body(struct ic_dev *ic, const char *why);
/* The framework's state and counters as a new JSON object. */
json_t *ic_stats_json(const struct ic_dev *ic);

/* Maps the outcome of a request to a control completion: 0 for HV_S_OK,
 * -EIO with {"status": n, "status_name": "..."} for a failure HRESULT. */
int ic_status_errno(uint32_t status);
const char *ic_status_name(uint32_t status);
json_t *ic_status_json(uint32_t status);

/* A control action waiting for the guest's answer. */
struct ic_call {
	device_control_done done;
	void *cookie;
};
struct ic_call *ic_call_new(device_control_done done, void *cookie);
/* done(cookie, status, result) once, then frees the call. */
void ic_call_finish(struct ic_call *call, int status, json_t *result);
/* Finishes with the outcome of a request: err as is, or the guest's
 * status (0 / -EIO) with {"status", "status_name"}. */
void ic_call_finish_reply(struct ic_call *call, int err, const struct ic_reply *reply);
/* Fills err for a refused ic_submit() and returns rc. */
int ic_submit_error(struct json_err *err, const char *verb, int rc);

/* ---- Pure message builders and parsers (icmsg.c, utf16.c) --------------- */

/* Writes the pipe header and IC header for a `body_len`-byte body into buf
 * (>= 28 bytes): pipe flags 1, msgsize = 20 + body_len, icflags
 * TRANSACTION|REQUEST.  Returns 28 + body_len, or -EMSGSIZE. */
int icmsg_build_header(uint8_t *buf, size_t cap, uint16_t msgtype, struct ic_version fw,
		       struct ic_version svc, size_t body_len, uint8_t xid);
/* The NEGOTIATE body: counts, then framework versions, then service
 * versions.  Returns its length or -EINVAL (counts 0 or > 100) / -EMSGSIZE. */
int icmsg_build_negotiate(uint8_t *buf, size_t cap, const struct ic_version *fw, size_t nfw,
			  const struct ic_version *svc, size_t nsvc);
/* Parses a guest packet payload as a response: -EBADMSG when shorter than
 * 28 bytes or icmsgsize exceeds the body, -EPROTO when icflags lacks
 * TRANSACTION|RESPONSE.  0 otherwise. */
int icmsg_parse_reply(const uint8_t *data, size_t len, struct ic_reply *out);
/* Parses a NEGOTIATE response body against what the host offered: 0 with
 * the chosen versions, -EBADMSG (short, counts > 100 or beyond the body),
 * -ENOTSUP (guest matched nothing: counts 0), -EPROTO (a chosen version
 * the host did not offer). */
int icmsg_parse_negotiate(const uint8_t *body, size_t len, const struct ic_version *fw,
			  size_t nfw, const struct ic_version *svc, size_t nsvc,
			  struct ic_version *fw_out, struct ic_version *svc_out);

/* UTF-8 -> UTF-16LE with a NUL, into at most `cap` bytes.  Returns the
 * bytes written including the NUL, -EINVAL (invalid UTF-8: bad sequences,
 * overlong forms, surrogates) or -E2BIG (does not fit). */
int utf16_encode(const char *utf8, uint8_t *out, size_t cap);
/* UTF-16LE (`size` bytes as the guest's size field says, `avail` bytes
 * really present) -> NUL-terminated UTF-8 in out.  The string
 * ends at the first NUL unit, which must lie within size.  Unpaired
 * surrogates become U+FFFD.  Returns the UTF-8 length, or -EBADMSG (size
 * odd, zero, beyond avail, or no NUL) / -E2BIG (out too small). */
int utf16_decode(const uint8_t *in, size_t size, size_t avail, char *out, size_t cap);

static inline struct ic_version ic_ver(uint16_t major, uint16_t minor)
{
	struct ic_version v = { .major = major, .minor = minor };
	return v;
}

/* Framework versions offered to every service (facts §7.2). */
extern const struct ic_version ic_fw_versions[2];

/* ---- Per-service builders and parsers (one file each) -------------------- */

/* heartbeat.c */
void heartbeat_build_body(struct heartbeat_msg_data *out, uint64_t seq);
/* -EBADMSG when the body does not hold seq_num. */
int heartbeat_parse_reply(const uint8_t *body, size_t len, uint64_t *seq_out);

/* shutdown.c */
/* "poweroff" | "reboot" | "hibernate" and force -> flags, or -EINVAL. */
int shutdown_flags(const char *action, bool force, uint32_t *flags_out);
/* -E2BIG when message does not fit 2048 bytes of UTF-16, -EINVAL bad UTF-8. */
int shutdown_build_body(struct shutdown_msg_data *out, uint32_t flags, uint32_t reason,
			uint32_t timeout_s, const char *message);

/* timesync.c */
/* Returns the body length for the negotiated service version (22 for
 * 4.0 and later, 25 before). */
size_t timesync_build_body(uint8_t *buf, size_t cap, struct ic_version svc, uint64_t parenttime,
			   uint64_t reftime, uint8_t flags);
/* 100 ns ticks since 1601-01-01 from Unix-epoch nanoseconds. */
uint64_t timesync_parenttime(uint64_t unix_ns);

/* kvp_msg.c */
struct kvp_pair {
	char key[HV_KVP_EXCHANGE_MAX_KEY_SIZE / 2 * 3 + 1];
	char value[HV_KVP_EXCHANGE_MAX_VALUE_SIZE / 2 * 3 + 1];
	uint32_t value_type;       /* REG_SZ; REG_U32/REG_U64 come back as decimal */
};
/* Build a KVP body into buf (>= HV_KVP_BODY_ENUMERATE bytes), zero-filled
 * as Linux relies on.  Return the body length, -EINVAL (bad pool or UTF-8)
 * or -E2BIG (key or value too long). */
int kvp_msg_build_set(uint8_t *buf, size_t cap, uint8_t pool, const char *key, const char *value);
int kvp_msg_build_get(uint8_t *buf, size_t cap, uint8_t pool, const char *key);
int kvp_msg_build_delete(uint8_t *buf, size_t cap, uint8_t pool, const char *key);
int kvp_msg_build_enumerate(uint8_t *buf, size_t cap, uint8_t pool, uint32_t index);
/* Parse the guest's answer to GET (key not reported back: out->key is
 * left empty) or ENUMERATE (key and value).  -EBADMSG on any bad size. */
int kvp_msg_parse_get(const uint8_t *body, size_t len, struct kvp_pair *out);
int kvp_msg_parse_enumerate(const uint8_t *body, size_t len, struct kvp_pair *out);
/* UTF-16 into a field of `cap` bytes: the size in bytes with the NUL, or
 * -E2BIG when the UTF-16 or the UTF-8 form (which Linux converts back
 * into cap - 1 bytes) does not fit, -EINVAL for bad UTF-8. */
int kvp_msg_put_string(uint8_t *field, size_t cap, const char *s);
/* kvp.c: "external" | "guest" | "auto" | "auto_external" | "auto_internal" or
 * 0..4 -> pool; -EINVAL otherwise. */
int kvp_pool_from_json(const json_t *v, uint8_t *pool_out);
/* kvp.c: a key (and a string value, or null when null_ok) that fits the KVP
 * fields; errors name path.key. */
int kvp_check_pair(const char *path, const char *key, const json_t *v, bool null_ok,
		   struct json_err *err);
/* kvp_host.c: the items for the auto-external pool from the device's
 * "host_data" (absent: the defaults; false: none, *out = NULL). */
int kvp_host_data(const json_t *config, const char *path, json_t **out, struct json_err *err);

#endif
