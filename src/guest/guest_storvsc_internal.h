/* SPDX-License-Identifier: MIT */
/*
 * What the synthetic storvsc's files share:
 *  - guest_storvsc.c          the driver: wire, requests, channel callback,
 *                             initialisation, close;
 *  - guest_storvsc_scsi.c     SCSI helpers (SRBs, sense, results), patterns
 *                             and the batch engine;
 *  - guest_storvsc_script.c   the script: step helpers, the step table, the
 *                             parser and guest_storvsc_run;
 *  - guest_storvsc_steps.c    the steps;
 *  - guest_storvsc_hostile.c  the hostile step (malformed requests).
 */
#ifndef VMBUSD_GUEST_STORVSC_INTERNAL_H
#define VMBUSD_GUEST_STORVSC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/guest.h"
#include "guest/guest_storvsc.h"
#include "vmbusd/proto/storvsc.h"

#define SC_RING_BYTES      (32u * HV_PAGE_SIZE) /* per direction (Linux: 32 + 32 pages) */
#define SC_MAX_CHANNELS    65u                  /* primary + STORVSP's 64 */
#define SC_MAX_QD          1024u
#define SC_DEFAULT_QD      64u
#define SC_HOSTILE_WAIT_MS 1000
#define SC_UA_RETRIES      3
#define SC_MAX_STEP_ARGS   4
#define SC_MAX_STEP_KV     4
#define SC_HOLD_TRANS_ID   0x4000000000000000ull /* `hold` requests: no tag */

/* ---- state ------------------------------------------------------------------- */

struct sc;
struct sc_batch;

/* One request: a tag (slot) while busy. */
struct sc_req {
	bool busy;                 /* the tag is taken */
	bool sent;
	bool done;                 /* the completion arrived */
	bool abandoned;            /* given up on (timeout, ignored hostile packet) */
	bool counted;              /* counts in sc->inflight */
	uint16_t tag;
	unsigned int ci;           /* channel index it went out on */
	uint64_t trans_id;
	uint64_t seq;              /* submission order */
	struct vstor_packet pkt;   /* as sent */
	struct vstor_packet resp;  /* the completion */
	uint32_t resp_len;
	/* data buffer in guest RAM */
	uint64_t buf_gpa;
	uint32_t buf_pages;
	uint32_t buf_off;
	uint32_t buf_len;
	uint8_t *buf;              /* host view of buf_gpa + buf_off */
	/* batch bookkeeping */
	struct sc_batch *batch;
	unsigned int job;
};

/* A decoded completion. */
struct sc_result {
	uint32_t status;           /* vstor_packet.status (NTSTATUS) */
	uint8_t srb_status;
	uint8_t scsi_status;
	uint8_t sense_len;
	uint8_t sense[VSTOR_SENSE_SIZE];
	uint32_t bytes;            /* data_transfer_length */
	int key, asc, ascq;        /* -1 without autosense */
	unsigned int ua_retries;
};

struct sc_geo {
	uint32_t block_size;       /* 0 = unknown */
	uint64_t blocks;
};

struct sc {
	struct guest *g;
	const struct guest_storvsc_params *params;
	struct guest_channel *chan[SC_MAX_CHANNELS];
	uint32_t relid[SC_MAX_CHANNELS];
	unsigned int n_chan;
	unsigned int rr;           /* next channel for a request */
	uint16_t version;
	struct vmstorage_channel_properties props;

	struct sc_req ctl;         /* VMBUS_RQST_INIT / VMBUS_RQST_RESET: one at a time */
	struct sc_req *slots;
	unsigned int qd;
	unsigned int next_tag;
	unsigned int inflight;
	uint64_t seq;
	uint64_t max_done_seq;
	uint64_t out_of_order;     /* completions that overtook an older request */
	uint64_t late;             /* completions of abandoned requests */

	uint64_t enumerates;       /* unsolicited ENUMERATE_BUS / REMOVE_DEVICE seen */
	uint64_t enum_consumed;
	uint64_t host_errors;      /* protocol violations by the host */

	struct sc_geo geo[256];        /* by LUN, of path 0 / target 0 */
	uint8_t cur_path, cur_target;  /* the step's address (LUN given as P:T:L) */
	struct sc_result last;     /* the previous command, for expect-* */
	bool have_last;
	bool detached;             /* the `detach` step let go of the daemon on purpose */
	uint64_t held_answers;     /* completions of `hold` requests */
};

/* ---- big-endian fields ------------------------------------------------------- */

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)get_be16(p) << 16 | get_be16(p + 2);
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* ---- the driver (guest_storvsc.c) --------------------------------------------- */

/* How one request goes on the wire; the hostile steps bend it. */
struct sc_wire {
	uint16_t type;             /* VM_PKT_DATA_INBAND or VM_PKT_DATA_USING_GPA_DIRECT */
	uint32_t rangecount;       /* GPA-direct: ranges claimed; 0 omits the range */
	uint32_t range_len;
	uint32_t range_off;
	uint32_t n_pfns;
	const uint64_t *pfns;
	uint32_t payload_len;      /* vstor_packet bytes: 64, fewer to truncate */
};

/* A protocol violation by the host: counted and reported. */
void sc_host_error(struct sc *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The next open channel, round-robin. */
unsigned int sc_next_chan(struct sc *sc);

/* A tag on channel ci with a zeroed buffer of buf_len bytes at buf_off in
 * its first page; NULL when every tag is taken or RAM is exhausted. */
struct sc_req *sc_req_get(struct sc *sc, unsigned int ci, uint32_t buf_len, uint32_t buf_off);
void sc_req_put(struct sc *sc, struct sc_req *req);
/* Sends req->pkt as w describes. */
int sc_req_submit_wire(struct sc *sc, struct sc_req *req, const struct sc_wire *w);
/* Sends req->pkt with its buffer as one GPA-direct range, else inband. */
int sc_req_submit(struct sc *sc, struct sc_req *req);
/* Gives up on a request (a sent one keeps its tag until a late completion). */
void sc_req_abandon(struct sc *sc, struct sc_req *req);
int sc_wait_req(struct sc *sc, struct sc_req *req, int ms);

/* One init/reset packet, its completion copied back into vp. */
int sc_ctl_exec(struct sc *sc, uint64_t trans_id, struct vstor_packet *vp);
bool sc_vop_ok(const struct vstor_packet *vp);
/* Opens the channels and initialises; 0, GUEST_STORVSC_VERIFY_FAILED or -errno. */
int sc_init(struct sc *sc, const struct guest_storvsc_params *p, json_t *out);
void sc_close_all(struct sc *sc);

/* ---- SCSI and the batch engine (guest_storvsc_scsi.c) ------------------------- */

#define SC_PATTERN_LBA (-1)

struct sc_job {
	uint64_t lba;
	uint32_t nblocks;
	uint32_t off;              /* buffer offset in its first page */
	uint8_t state;             /* 0 to send, 1 in flight, 2 done */
	uint8_t ua;
};

struct sc_batch {
	uint8_t lun;
	bool write;
	int pattern;
	uint32_t bs;
	struct sc_job *jobs;
	unsigned int n;
	/* results */
	unsigned int done;
	uint64_t bytes;
	bool have_bad;
	struct sc_result bad;       /* first failed command */
	struct sc_result any;       /* the last completed one */
	char mismatch[200];
	unsigned int per_chan[SC_MAX_CHANNELS];
	unsigned int max_inflight;
	unsigned int ua_retries;
};

void sc_srb_fill(struct vstor_packet *vp, uint8_t lun, const uint8_t *cdb, uint8_t cdb_len,
		 uint8_t data_in, uint32_t len);
void sc_decode(struct sc *sc, const struct sc_req *req, struct sc_result *r);
bool sc_result_good(const struct sc_result *r);
void sc_result_json(json_t *o, const struct sc_result *r);
int sc_exec(struct sc *sc, uint8_t lun, const uint8_t *cdb, uint8_t cdb_len, uint8_t dir,
	    uint32_t len, const void *out, void *in, struct sc_result *res, bool ua_retry);
int sc_run_batch(struct sc *sc, struct sc_batch *b);

/* ---- the script (guest_storvsc_script.c) -------------------------------------- */

struct step;
typedef int (*step_fn)(struct sc *sc, struct step *st);

struct step_def {
	const char *name;
	int nargs;
	const char *keys;          /* key=value expectations it takes, comma-separated */
	step_fn fn;
};

struct step {
	const struct step_def *def;
	struct sc *sc;
	char *args[SC_MAX_STEP_ARGS];
	int nargs;
	char *kv[SC_MAX_STEP_KV];
	int nkv;
	bool expect_next;          /* an expect-* follows: a failed status is not a failure */
	bool no_ua_retry;          /* expect-sense 6/...: keep the unit attention */
	json_t *out;
	bool failed;
};

void step_fail(struct step *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *step_kv(const struct step *st, const char *key);
int sc_parse_u64(const char *s, uint64_t *out);
int sc_parse_lun(struct step *st, const char *s, uint8_t *lun);
void step_result(struct sc *sc, struct step *st, const struct sc_result *r);
void step_expect_str(struct step *st, const char *key, const char *got);
void step_expect_num(struct step *st, const char *key, uint64_t got);
int sc_cmd(struct sc *sc, struct step *st, uint8_t lun, const uint8_t *cdb, uint8_t cdb_len,
	   uint8_t dir, uint32_t len, const void *out, void *in, struct sc_result *r);

/* ---- the steps (guest_storvsc_steps.c, guest_storvsc_hostile.c) --------------- */

int step_inquiry(struct sc *sc, struct step *st);
int step_inquiry_vpd(struct sc *sc, struct step *st);
int step_report_luns(struct sc *sc, struct step *st);
int step_capacity(struct sc *sc, struct step *st);
int step_mode_sense(struct sc *sc, struct step *st);
int step_tur(struct sc *sc, struct step *st);
int step_sync(struct sc *sc, struct step *st);
int step_unmap(struct sc *sc, struct step *st);
int step_write(struct sc *sc, struct step *st);
int step_read_verify(struct sc *sc, struct step *st);
int step_parallel(struct sc *sc, struct step *st);
int step_raw_cdb(struct sc *sc, struct step *st);
int step_reset(struct sc *sc, struct step *st);
int step_rebind(struct sc *sc, struct step *st);
int step_wait_enumerate(struct sc *sc, struct step *st);
int step_sleep(struct sc *sc, struct step *st);
int step_expect_sense(struct sc *sc, struct step *st);
int step_expect_srb(struct sc *sc, struct step *st);
int step_hostile(struct sc *sc, struct step *st);
/* guest_storvsc_lifetime.c */
int step_read_async(struct sc *sc, struct step *st);
int step_close(struct sc *sc, struct step *st);
int step_partition_reset(struct sc *sc, struct step *st);
int step_detach(struct sc *sc, struct step *st);
int step_untouched(struct sc *sc, struct step *st);
int step_hold(struct sc *sc, struct step *st);
struct guest_channel *sc_chan(struct sc *sc, unsigned int ci);

#endif
