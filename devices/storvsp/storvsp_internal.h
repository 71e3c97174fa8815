/* SPDX-License-Identifier: MIT */
/*
 * storvsp: the Hyper-V synthetic SCSI controller (facts §8).  Internal to
 * devices/storvsp*.c and to the unit tests and fuzzers, which call the pure
 * protocol functions directly.
 *
 * Split along one seam:
 *  - storvsp_proto.c: pure functions, no channel, no memory but the packet.
 *    The init state machine and packet dispatcher (what to answer, what to
 *    run), EXECUTE_SRB validation, completion building, SCSI result ->
 *    srb_status mapping.
 *  - storvsp.c: channels (primary + subchannels), in-flight requests, the
 *    notify loop, the SCSI target and its disks, config, control verbs and
 *    stats.
 *
 * One storvsp device is one SCSI controller: one primary channel, up to
 * `subchannels` subchannels the guest asks for, and one target (path 0,
 * target 0) with the configured LUNs.  A second controller is simply a
 * second storvsp device in the configuration's devices array.
 */
#ifndef VMBUSD_DEVICES_STORVSP_INTERNAL_H
#define VMBUSD_DEVICES_STORVSP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"
#include "core/stats.h"
#include "devices/device.h"
#include "vmbus/vmbus.h"
#include "vmbusd/proto/storvsc.h"

/* SRB status for a busy target (not in storvsc's list, so Linux leaves the
 * host byte alone and the midlayer retries on SAM status BUSY). */
#define SRB_STATUS_BUSY 0x05

#define STORVSP_MAX_SUBCHANNELS      64u     /* config ceiling for "subchannels" */
#define STORVSP_DEFAULT_SUBCHANNELS  8u      /* the guest asks for min(cpus - 1, this) */
#define STORVSP_DEFAULT_POLL_US      0u      /* ring poll after a batch (ring.c "Polling") */
#define STORVSP_DEFAULT_MAX_TRANSFER 0x100000u /* 1 MiB: README "Storage" (Hyper-V allows 8 MiB) */
#define STORVSP_MAX_LUN              254u    /* config ceiling (Linux: max_lun 255) */
/* Requests in flight per channel, and per controller (all its channels),
 * before a channel stops reading its ring (it resumes as they complete).
 * Linux keeps at most ~200 per channel (its ring holds no more), so these
 * never slow a real guest; they bound what a hostile one makes us hold.
 * Each request is a struct storvsp_req plus one iovec per page its buffer
 * spans, at most max_transfer_bytes / 4096 + 1 (larger lists are refused
 * before anything is allocated): with the defaults (256 KiB) a controller
 * holds at most STORVSP_MAX_INFLIGHT_DEV x ~1.3 KiB = ~2.7 MiB of requests.
 * README ("Memory a guest can make the daemon hold") adds it all up. */
#define STORVSP_MAX_INFLIGHT         512u
#define STORVSP_MAX_INFLIGHT_DEV     2048u

/* ---- Pure protocol (storvsp_proto.c) ------------------------------------ */

enum storvsp_state {
	STORVSP_WAIT_BEGIN = 0, /* channel opened: only BEGIN_INITIALIZATION */
	STORVSP_WAIT_VERSION,   /* QUERY_PROTOCOL_VERSION until one is accepted */
	STORVSP_WAIT_PROPERTIES,/* version agreed: QUERY_PROPERTIES (or another version) */
	STORVSP_WAIT_END,       /* CREATE_SUB_CHANNELS or END_INITIALIZATION */
	STORVSP_READY,          /* I/O on every channel */
};

/* The protocol state of one controller: reset when its primary opens. */
struct storvsp_proto {
	enum storvsp_state state;
	uint16_t version;             /* negotiated VMSTOR_PROTO_VERSION_*, 0 before */
	uint16_t max_subchannels;     /* advertised max_channel_cnt (config) */
	uint32_t max_transfer_bytes;  /* advertised and enforced per request */
	uint16_t subchannels;         /* subchannels granted in this session */
};

/* A validated EXECUTE_SRB, copied out of the packet. */
struct storvsp_srb {
	uint8_t path_id, target_id, lun;
	uint8_t cdb[VSTOR_CDB_MAX];
	uint8_t cdb_len;              /* 1..16 */
	uint8_t data_in;              /* VSTOR_DATA_* */
	uint32_t xfer_len;            /* bytes to move: the guest's data_transfer_length */
	uint8_t sense_cap;            /* sense bytes the completion may carry */
	uint32_t srb_flags;
	uint32_t reply_len;           /* payload bytes of the completion (48 or 64) */
};

enum storvsp_verdict {
	STORVSP_DROP = 0,     /* nothing to send (no completion asked, or not answerable) */
	STORVSP_REPLY,        /* send `reply` (reply_len bytes) as the completion */
	STORVSP_EXECUTE,      /* run `srb`; its completion comes later */
	STORVSP_SUBCHANNELS,  /* grant `subchannels` in all, then send `reply` */
};

enum storvsp_fault {
	STORVSP_FAULT_NONE = 0,
	STORVSP_FAULT_MALFORMED,   /* bad type, length or field */
	STORVSP_FAULT_WRONG_STATE, /* valid operation out of protocol order */
	STORVSP_FAULT_UNSUPPORTED, /* an operation this host does not serve */
};

/* One guest packet as the dispatcher sees it. */
struct storvsp_input {
	uint16_t pkt_type;         /* VM_PKT_* */
	bool want_completion;      /* VMBus descriptor flags & 1 */
	bool primary;              /* arrived on the primary channel */
	const uint8_t *data;       /* payload (after offset8) */
	uint32_t len;
	uint64_t buffer_len;       /* GPA-direct bytes described (0 for inband) */
	bool buffer_bad;           /* GPA-direct ranges did not decode */
};

struct storvsp_decision {
	enum storvsp_verdict verdict;
	enum storvsp_fault fault;
	const char *why;              /* fault != NONE: for the (rate-limited) log */
	struct log_ratelimit *rl;     /* the cause's limiter for that log line: the
				       * operation's row, or the packet-level one */
	uint32_t operation;           /* the guest's operation, 0 if unreadable */
	struct vstor_packet reply;    /* REPLY / SUBCHANNELS */
	uint32_t reply_len;           /* bytes of reply to send */
	struct storvsp_srb srb;       /* EXECUTE */
	uint16_t subchannels;         /* SUBCHANNELS: total wanted */
};

/*
 * One row of the operation table (storvsp_proto.c), the way
 * src/vmbus/server.c dispatches channel messages: storvsp_proto_dispatch
 * checks the row (buffer, length, body, state, channel) before the handler
 * runs, so a handler only does its operation's work.  Rows with a NULL
 * handler name operations the host refuses as unsupported.
 */
struct storvsp_op {
	uint32_t operation;           /* VSTOR_OP_*, also the row's index */
	const char *name;             /* for logs; every row has one */
	uint32_t min_len;             /* payload bytes, vstor header included */
	uint32_t states;              /* bitmask of 1u << enum storvsp_state */
	bool primary_only;            /* initialisation: the primary channel only */
	bool takes_buffer;            /* may come GPA-direct (EXECUTE_SRB only) */
	/* Body check beyond min_len, before the state check; false with d->why
	 * set refuses it as malformed.  NULL: none. */
	bool (*parse)(const struct storvsp_proto *p, const struct storvsp_input *in,
		      struct storvsp_decision *d);
	/* Shapes a refusal's COMPLETE_IO after its status is set; NULL: the
	 * status alone. */
	void (*refuse)(struct storvsp_decision *d, uint32_t status);
	void (*handler)(struct storvsp_proto *p, const struct storvsp_input *in,
			const struct vstor_packet *pkt, struct storvsp_decision *d);
	struct log_ratelimit *rl;     /* this operation's refusal log limiter */
};

/* The row of operation op, or NULL when op has none (unknown numbers). */
const struct storvsp_op *storvsp_op_lookup(uint32_t op);

void storvsp_proto_init(struct storvsp_proto *p, uint16_t max_subchannels,
			uint32_t max_transfer_bytes);
/* The primary channel (re)opened: back to WAIT_BEGIN. */
void storvsp_proto_reset(struct storvsp_proto *p);
/* Decides what one guest packet means.  Never fails; updates p. */
void storvsp_proto_dispatch(struct storvsp_proto *p, const struct storvsp_input *in,
			    struct storvsp_decision *out);

/* Request size (vmscsi_request bytes) of a protocol version: 52 from WIN8,
 * 36 before and before negotiation; sense bytes: 20 from WIN8, 18 before. */
uint32_t storvsp_request_size(uint16_t version);
uint8_t storvsp_sense_size(uint16_t version);
bool storvsp_version_supported(uint16_t major_minor);
/* Payload size of the answer to a `rx_len`-byte request (Hyper-V answers
 * with the size the guest sent, at least the version's size, at most 64). */
uint32_t storvsp_reply_len(uint32_t rx_len, uint16_t version);

/* Validates an EXECUTE_SRB whose payload is `len` bytes.  0 with *out
 * filled, or -EINVAL with *why set. */
int storvsp_srb_parse(const uint8_t *data, uint32_t len, uint16_t version,
		      uint32_t max_transfer, bool inband, uint64_t buffer_len,
		      struct storvsp_srb *out, const char **why);

/* The outcome of one SCSI command, as storvsp maps it. */
struct storvsp_scsi_result {
	uint8_t scsi_status;          /* SAM status */
	bool lun_missing;             /* -> SRB_STATUS_INVALID_LUN */
	uint64_t transferred;         /* bytes moved */
	const uint8_t *sense;         /* CHECK CONDITION sense, or NULL */
	uint32_t sense_len;
};
/* Builds the COMPLETE_IO for srb from a SCSI result (facts §8.3). */
void storvsp_srb_complete(const struct storvsp_srb *srb, const struct storvsp_scsi_result *r,
			  struct vstor_packet *out);
/* A COMPLETE_IO that refuses srb without running it: srb_status (e.g.
 * SRB_STATUS_INVALID_REQUEST), NT status `status`, no data. */
void storvsp_srb_refuse(const struct storvsp_srb *srb, uint8_t srb_status, uint32_t status,
			struct vstor_packet *out);
/* The unsolicited ENUMERATE_BUS that makes Linux rescan (facts §8.5);
 * returns its payload length. */
uint32_t storvsp_build_enumerate(uint16_t version, struct vstor_packet *out);

/* The row's name, "unknown" for numbers without one. */
const char *storvsp_op_name(uint32_t op);
const char *storvsp_state_name(enum storvsp_state s);

/* ---- The device (storvsp.c: channels and I/O; storvsp_disk.c: disks,
 * hot plug, control verbs, stats) ------------------------------------------- */

struct blk_backend;
struct scsi_lun;
struct scsi_target;
struct event;
struct storvsp_dev;
struct storvsp_req;

/* One channel's counters (core/stats.h); the device reports each channel
 * and their sum.  Every refused guest packet moves malformed, wrong_state
 * or unsupported. */
#define STORVSP_CHAN_STATS(X)                                                         \
	X(packets, "guest packets read")                                              \
	X(requests, "EXECUTE_SRBs started")                                           \
	X(bytes_read, "device -> guest (data-in)")                                    \
	X(bytes_written, "guest -> device (data-out)")                                \
	X(errors, "SRBs completed with a failure status (not INVALID_LUN)")          \
	X(invalid_lun, "SRBs to a LUN that is not there")                             \
	X(malformed, "refused packets (bad type, length or field)")                   \
	X(wrong_state, "packets out of protocol order")                               \
	X(unsupported, "operations the host does not serve")                          \
	X(queued, "completions that waited for ring space")                           \
	X(dropped, "completions not sent: channel closed / send error")               \
	X(throttled, "times the ring was left unread at the in-flight limit")
STATS_STRUCT(storvsp_chan_stats, STORVSP_CHAN_STATS);
STATS_DECLARE(storvsp_chan_stats, struct storvsp_chan_stats);


struct storvsp_chan {
	struct storvsp_dev *dev;
	struct vmbus_channel *ch;     /* NULL once rescinded */
	uint16_t index;               /* 0 = primary */
	bool open;
	bool in_drain;                /* guards against re-entry from synchronous completions */
	bool dev_throttled;           /* stopped at the controller's in-flight limit */
	uint32_t gen;                 /* bumped at every close */
	unsigned int inflight;
	struct storvsp_req *live;     /* requests running (their SCSI command not done) */
	struct storvsp_req *pend_head, *pend_tail; /* completions waiting for ring space */
	bool ctrl_pending;            /* one non-SRB reply waiting for ring space */
	uint64_t ctrl_trans_id;
	uint32_t ctrl_len;
	struct vstor_packet ctrl_reply;
	bool enum_pending;            /* unsolicited ENUMERATE_BUS waiting (primary) */
	struct iovec *scratch;        /* GPA-direct decode buffer: scratch_cap iovecs */
	int scratch_cap;              /* max_transfer_bytes / 4096 + 1: the most pages
				       * an acceptable buffer can span */
	struct storvsp_chan_stats st;
};

struct storvsp_disk {
	struct storvsp_dev *dev;
	unsigned int lun;
	struct blk_backend *blk;
	struct scsi_lun *slun;        /* owned by the target while attached */
	char *image;                  /* for stats */
	unsigned int inflight;
	bool attached;
	bool closing;                 /* inside storvsp_disk_free() */
	struct event *close_ev;       /* deferred close after remove-disk */
	device_control_done done;     /* pending remove-disk */
	void *cookie;
	struct storvsp_disk *next;    /* on the device's removing list */
};

/* The controller's own counters, beside the sum of its channels'. */
#define STORVSP_DEV_STATS(X) \
	X(enumerates, "unsolicited ENUMERATE_BUS packets sent (hot plug)")

struct storvsp_dev {
	unsigned int controller;            /* config "controller": its number */
	bool ide;                     /* offered with the IDE class (config "class") */
	struct vmbus_server *srv;
	struct event_base *base;
	char path[64];                /* "devices[N]" for messages */
	struct vmbus_offer_params offer;
	struct storvsp_proto proto;
	struct storvsp_chan *chans[1 + STORVSP_MAX_SUBCHANNELS]; /* [0] primary */
	unsigned int n_sub;
	struct scsi_target *target;   /* path 0, target 0 */
	struct scsi_target *empty;    /* every other path/target */
	struct storvsp_disk *disks[256];  /* by LUN; indexed with the guest's lun byte */
	struct storvsp_disk *removing; /* detached, closing once idle */
	unsigned int inflight;
	STATS_FIELDS(STORVSP_DEV_STATS)
};


/* storvsp.c */
/* Sends the unsolicited ENUMERATE_BUS when the guest is ready for I/O. */
void storvsp_notify_rescan(struct storvsp_dev *d);

/* storvsp_disk.c */
/* Parses one disk object (keys BLK_CONFIG_KEYS, SCSI_LUN_CONFIG_KEYS,
 * "lun"), opens it and attaches it at its LUN; errors name the key. */
int storvsp_disk_add(struct storvsp_dev *d, const json_t *obj, const char *path,
		     unsigned int default_lun, bool hotplug, unsigned int *lun_out,
		     struct json_err *err);
/* A removed disk's last command finished. */
void storvsp_disk_idle(struct storvsp_disk *disk);
/* Closes every disk (completing what is in flight); at destroy. */
void storvsp_disks_close_all(struct storvsp_dev *d);
int storvsp_control(void *dev, const char *verb, const json_t *args, device_control_done done,
		    void *cookie, struct json_err *err);
json_t *storvsp_stats(void *dev);

#endif
