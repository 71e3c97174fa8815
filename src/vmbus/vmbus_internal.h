/* SPDX-License-Identifier: MIT */
/*
 * vmbus/ internals shared by server.c (connection state, dispatch),
 * offer.c (relids, offers, rescind), gpadl.c, channel.c (open/close/modify,
 * guest signals), ring.c (host side of the rings) and packet.c.
 * Nothing outside src/vmbus/ includes this.
 */
#ifndef VMBUSD_VMBUS_INTERNAL_H
#define VMBUSD_VMBUS_INTERNAL_H

#include "core/fault_class.h"
#include "vmbus/vmbus.h"

/* Limits on what a guest can make the host hold (all guest-controlled). */
#define VMBUS_GPADL_MAX_PAGES      262144u  /* one GPADL: 1 GiB */
#define VMBUS_GPADL_TOTAL_PAGES    1048576u /* all GPADLs: 4 GiB of guest RAM */
#define VMBUS_GPADL_MAX_PER_CHAN   64u
#define VMBUS_GPADL_MAX_TOTAL      1024u
#define VMBUS_GPADL_HASH           256u
#define VMBUS_OUTQ_MAX             4096u    /* host->guest messages waiting for -ENOSPC to clear */
#define VMBUS_CONN_ID_BASE         0x10u    /* channel connection id = base + relid (as QEMU) */
#define VMBUS_DEFAULT_MAX_PKT      4096u

/* Status values we put in GPADL_CREATED, OPENCHANNEL_RESULT,
 * MODIFYCHANNEL_RESPONSE and TL_CONNECT_RESULT (Linux only tests != 0). */
#define VMBUS_STATUS_UNSUCCESSFUL  0xC0000001u
#define VMBUS_STATUS_CONN_REFUSED  0xC0000236u

/* One ring of a channel, as the host sees it. */
struct vmbus_ring {
	struct vmbus_ring_header *hdr; /* guest page: both sides write parts of it */
	uint8_t *data;                 /* data area, mapped twice back to back */
	uint32_t size;                 /* data area bytes (page multiple) */
	uint32_t idx;                  /* host's own index: read (g->h) or write (h->g) */
	/* Guest->host ring inside a batch (ring.c "Batches"): */
	uint32_t peer;                 /* last guest write_index loaded and checked */
	uint32_t published;            /* our index (read_index of "in", write_index of
					* "out") as last stored for the guest */
	uint32_t consumed;             /* bytes read since the last pending_send_sz check */
	bool drained;                  /* this batch's recv found the ring empty */
	/* Host->guest ring inside a batch: */
	uint32_t batch_start;          /* write index when the batch's first send began */
	bool batch_sent;               /* a send in this batch still owes its signal decision */
	void *map;                     /* whole reservation, for munmap */
	size_t map_len;
};

/* A host->guest packet held back by timing.delay / timing.reorder. */
struct vmbus_held_pkt {
	struct vmbus_held_pkt *next;
	uint16_t type;
	uint16_t flags;
	uint64_t trans_id;
	uint32_t hdr_len;
	uint32_t len;                  /* payload bytes in data[] */
	uint8_t data[];
};

/* What a ring.* / timing.* fault changes in one packet write (fault.c). */
struct vmbus_ring_mangle {
	int32_t len8;                  /* descriptor len8 to write; -1 = the true one */
	int32_t offset8;               /* descriptor offset8; -1 = the true one */
	bool bad_write_index;          /* publish a write index beyond the ring */
	bool bad_pending_send_sz;      /* set pending_send_sz beyond the ring */
	bool no_signal;                /* withhold the interrupt */
};

struct vmbus_gpadl_range {
	uint32_t byte_count;
	uint32_t byte_offset;
	uint32_t first_pfn;            /* index into gpadl->words */
	uint32_t n_pfns;
};

struct vmbus_gpadl {
	struct vmbus_gpadl *hnext;     /* hash chain */
	struct vmbus_channel *ch;      /* owner; NULL if the header named an unknown relid */
	uint32_t handle;
	uint32_t relid;
	uint16_t rangecount;
	bool complete;
	bool in_use;                   /* the ring GPADL of an open channel */
	bool teardown_pending;         /* TEARDOWN arrived while in use: answer at close */
	uint32_t buflen;               /* range_buflen from the header */
	uint32_t filled;               /* bytes received so far */
	uint64_t *words;               /* the range buffer, u64-aligned */
	struct vmbus_gpadl_range *ranges;
	uint32_t n_pages;              /* PFNs over all ranges */
	uint64_t size;                 /* sum of byte_count */
};

struct vmbus_channel {
	struct vmbus_server *srv;
	struct vmbus_channel *next;    /* offer order */
	const struct vmbus_channel_ops *ops;
	void *priv;
	struct vmbus_offer_params params;
	uint8_t user_def[120];
	uint32_t relid;
	uint32_t conn_id;
	uint32_t max_pkt;

	bool offered;                  /* the guest has seen OFFERCHANNEL this connection */
	bool rescinded;                /* RESCIND sent, waiting for RELID_RELEASED */
	bool withdrawn;                /* rescinded by the operator (vmbus_chan_withdraw):
					* kept, with its device, for vmbus_chan_reoffer */
	bool open;
	bool opening;                  /* inside ops->open: signals are deferred */
	bool closing;                  /* inside ops->close: no traffic */
	bool broken;                   /* corrupt ring seen: silent until closed */
	bool signal_deferred;
	bool port_registered;
	bool batching;                 /* inside ops->notify: index stores and signals deferred */
	bool polling;                  /* "in".interrupt_mask set by vmbus_chan_run_notify's poll */
	uint32_t out_need;             /* polling: bytes a full "out" must free, not yet
					* asked of the guest (ring.c "Polling") */
	uint64_t poll_moved_ns;        /* polling: when a batch last moved a packet */

	uint32_t target_vp;
	uint32_t openid;
	struct vmbus_gpadl *ring_gpadl;
	uint32_t n_gpadls;

	struct vmbus_ring in;          /* guest -> host */
	struct vmbus_ring out;         /* host -> guest */
	uint8_t *rx_buf;               /* private copy of the current packet */
	uint32_t rx_cap;

	int monitor_id;                /* 0..127, -1 = not monitored (monitor.c) */
	bool monitor_offered;          /* this connection's offer had monitor_allocated = 1 */

	struct event *kick_ev;         /* deferred ops->notify (fault-injected -EAGAIN) */
	/* fault.c: packets held by timing.delay/reorder, in send order */
	struct vmbus_held_pkt *held_head, **held_tail;
	uint32_t held_n;
	bool held_reorder;             /* release after the next packet */
	uint64_t held_until_ns;        /* release time (delay; reorder's fallback) */
	uint64_t spurious_at_ns;       /* timing.spurious_interrupt due; 0 = none */
	struct event *fault_ev;
	char label[VMBUS_CHAN_LABEL_MAX]; /* owner, for reports; "" = unknown */
	struct vmbus_chan_stats stats;
};

struct vmbus_outmsg {
	struct vmbus_outmsg *next;
	uint32_t size;
	uint8_t data[VMBUS_MSG_MAX];
};

/* Monitored notification state (monitor.c). */
struct vmbus_monitor {
	uint8_t *page[2];              /* host view of monitor_page1/2; NULL = unusable */
	uint64_t gpa[2];
	struct vmbus_channel *owner[HV_MONITOR_IDS]; /* who holds each monitor id */
	int timer_fd;                  /* periodic timerfd: armed only while scanning */
	struct event *scan_ev;         /* its read event, registered for good */
	uint32_t latency_us;           /* configured default latency */
	uint32_t idle_us;              /* period after VMBUS_MONITOR_IDLE_SCANS empty scans */
	uint32_t period_us;            /* the timer's period now; 0 = stopped */
	uint32_t empty_scans;          /* in a row, while active */
	bool active;                   /* ticking at the latency, not the idle period */
	bool idle_seen;                /* a doorbell scan found a bit: the frontend checks */
	uint32_t finds_tick;           /* scans that found a bit, by tick and by doorbell, */
	uint32_t finds_bell;           /* halved together as they grow: the recent share */
	void (*idle_watch)(void *opaque, uint64_t gpa, uint64_t mask); /* config */
	void *idle_opaque;
};

struct vmbus_server {
	struct hv_partition *hv;
	struct event_base *base;
	uint32_t max_version;
	uint32_t version;
	enum vmbus_conn_state state;
	uint32_t target_vcpu;          /* VP for host->guest messages */

	struct vmbus_channel *relids[VMBUS_MAX_RELID + 1];
	struct vmbus_channel *chan_head;
	struct vmbus_channel **chan_tail;

	struct vmbus_gpadl *gpadls[VMBUS_GPADL_HASH];
	uint32_t n_gpadls;
	uint64_t gpadl_pages;

	struct vmbus_outmsg *outq_head;
	struct vmbus_outmsg **outq_tail;
	uint32_t outq_len;
	struct event *outq_ev;
	uint64_t outq_hold_until_ns;   /* timing.delay on messages: not before */
	struct vmbus_outmsg *reorder_msg; /* timing.reorder: sent after the next one */
	uint64_t reorder_until_ns;
	struct event *fault_ev;

	struct vmbus_monitor mon;

	struct vmbus_server_stats stats;
};

/* server.c */
void vmbus_post(struct vmbus_server *srv, const void *msg, uint32_t size);
/* Straight to the SynIC or the -ENOSPC queue: no fault hooks (fault.c). */
void vmbus_post_plain(struct vmbus_server *srv, const void *msg, uint32_t size);
/* Queues a message behind the others and arms the retry timer. */
void vmbus_outq_push(struct vmbus_server *srv, const void *msg, uint32_t size);
void vmbus_outq_arm_us(struct vmbus_server *srv, uint64_t us);
uint32_t vmbus_n_vcpus(const struct vmbus_server *srv);
/* Closes every channel, drops every GPADL (no messages), frees rescinded
 * channels, clears offered flags. */
void vmbus_server_drop_all(struct vmbus_server *srv);

/* Message handlers; `msg` is a private copy, size >= the table minimum. */
typedef void (*vmbus_msg_handler)(struct vmbus_server *srv, uint32_t vp, const void *msg,
				  uint32_t size);
void vmbus_handle_request_offers(struct vmbus_server *srv, uint32_t vp, const void *msg,
				 uint32_t size);
void vmbus_handle_relid_released(struct vmbus_server *srv, uint32_t vp, const void *msg,
				 uint32_t size);
void vmbus_handle_gpadl_header(struct vmbus_server *srv, uint32_t vp, const void *msg,
			       uint32_t size);
void vmbus_handle_gpadl_body(struct vmbus_server *srv, uint32_t vp, const void *msg,
			     uint32_t size);
void vmbus_handle_gpadl_teardown(struct vmbus_server *srv, uint32_t vp, const void *msg,
				 uint32_t size);
void vmbus_handle_open_channel(struct vmbus_server *srv, uint32_t vp, const void *msg,
			       uint32_t size);
void vmbus_handle_close_channel(struct vmbus_server *srv, uint32_t vp, const void *msg,
				uint32_t size);
void vmbus_handle_modify_channel(struct vmbus_server *srv, uint32_t vp, const void *msg,
				 uint32_t size);

/* offer.c */
/* The channel the guest may address by `relid` now (offered, known). */
struct vmbus_channel *vmbus_chan_lookup(struct vmbus_server *srv, uint32_t relid);
void vmbus_chan_free(struct vmbus_channel *ch);
void vmbus_send_offer(struct vmbus_channel *ch);

/* gpadl.c */
struct vmbus_gpadl *vmbus_gpadl_find(struct vmbus_server *srv, uint32_t handle);
/* Frees every GPADL of `ch` (all when ch is NULL) without telling the guest. */
void vmbus_gpadl_drop(struct vmbus_server *srv, struct vmbus_channel *ch);
/* The ring GPADL was released by a close: answers a deferred teardown. */
void vmbus_gpadl_release(struct vmbus_server *srv, struct vmbus_gpadl *g);
/* Page list of a GPADL made only of whole pages; NULL otherwise. */
const uint64_t *vmbus_gpadl_pages(const struct vmbus_gpadl *g, uint32_t *n_pages);

/* channel.c */
/* ops->close, unmap, release the ring GPADL.  Idempotent. */
void vmbus_chan_close(struct vmbus_channel *ch);
void vmbus_chan_signal_guest(struct vmbus_channel *ch);
/* The guest signalled the channel (HvSignalEvent or its monitor bit). */
void vmbus_chan_signalled(struct vmbus_channel *ch);
int vmbus_chan_register_port(struct vmbus_channel *ch);

/* monitor.c */
int vmbus_monitor_init(struct vmbus_server *srv, uint32_t latency_us, uint32_t idle_us);
/* The host interrupted the guest on a monitored channel: scan at the
 * latency again (the answer is coming). */
void vmbus_monitor_kick(struct vmbus_server *srv);
void vmbus_monitor_fini(struct vmbus_server *srv);
/* INITIATE_CONTACT accepted: maps and checks the two pages (0 or -EINVAL;
 * on -EINVAL offers go out unmonitored, counted). */
int vmbus_monitor_connect(struct vmbus_server *srv, uint64_t gpa1, uint64_t gpa2);
/* Forgets the pages and stops the scan (UNLOAD, reset, new contact). */
void vmbus_monitor_disconnect(struct vmbus_server *srv);
/* Before OFFERCHANNEL: decides monitor_allocated for this connection and
 * fills the channel's latency and parameter entries.  True = monitored. */
bool vmbus_monitor_offer(struct vmbus_channel *ch);
/* A subchannel takes its primary's monitor choice (vmbus_offer). */
void vmbus_monitor_inherit(struct vmbus_channel *ch);
void vmbus_monitor_release(struct vmbus_channel *ch);
/* Starts, retunes or stops the scan timer after opens and closes. */
void vmbus_monitor_update(struct vmbus_server *srv);

/* fault.c: the host->guest fault classes of vmbus/ (core/fault_class.h) */
#define VMBUS_FAULT_MSG_MASK                                                             \
	(FAULT_BIT(FAULT_MSG_TYPE_OUT_OF_RANGE) | FAULT_BIT(FAULT_MSG_OVERSIZE) |        \
	 FAULT_BIT(FAULT_MSG_UNDERSIZE) | FAULT_BIT(FAULT_MSG_OFFER_BAD_RELID) |        \
	 FAULT_BIT(FAULT_MSG_OFFER_DUPLICATE_RELID) |                                     \
	 FAULT_BIT(FAULT_MSG_GPADL_CREATED_UNKNOWN) | FAULT_BIT(FAULT_MSG_OPEN_RESULT_UNKNOWN) | \
	 VMBUS_FAULT_TIMING_MASK | FAULT_BIT(FAULT_HELD_BIT))
#define VMBUS_FAULT_TIMING_MASK                                                          \
	(FAULT_BIT(FAULT_TIMING_DROP) | FAULT_BIT(FAULT_TIMING_DELAY) |                  \
	 FAULT_BIT(FAULT_TIMING_DUPLICATE) | FAULT_BIT(FAULT_TIMING_REORDER) |           \
	 FAULT_BIT(FAULT_TIMING_WITHHOLD_INTERRUPT) | FAULT_BIT(FAULT_TIMING_SPURIOUS_INTERRUPT))
#define VMBUS_FAULT_SEND_MASK                                                            \
	(FAULT_BIT(FAULT_RING_LEN_BELOW_16) | FAULT_BIT(FAULT_RING_LEN_BEYOND_AVAIL) |   \
	 FAULT_BIT(FAULT_RING_OFFSET_BEYOND_LEN) | FAULT_BIT(FAULT_RING_WRITE_INDEX_BEYOND) | \
	 FAULT_BIT(FAULT_RING_PENDING_SEND_SZ_BEYOND) | VMBUS_FAULT_TIMING_MASK |         \
	 FAULT_BIT(FAULT_HELD_BIT))
/* vmbus_post with a fault class armed or a message held: true when the
 * message was consumed (dropped, held, or already posted). */
bool vmbus_fault_post(struct vmbus_server *srv, const void *msg, uint32_t size);
/* vmbus_chan_send with a fault class armed or packets held. */
int vmbus_fault_send(struct vmbus_channel *ch, uint16_t type, uint16_t flags, uint64_t trans_id,
		     uint32_t hdr_len, const struct iovec *iov, int iovcnt, size_t payload);
/* A guest signal on a channel with held packets: try to release them. */
void vmbus_fault_chan_signalled(struct vmbus_channel *ch);
/* Channel closed / freed, server freed: drop held bytes and timers. */
void vmbus_fault_chan_close(struct vmbus_channel *ch);
void vmbus_fault_chan_free(struct vmbus_channel *ch);
void vmbus_fault_server_reset(struct vmbus_server *srv);
void vmbus_fault_server_free(struct vmbus_server *srv);

/* ring.c */
/* Writes one packet (arguments checked by vmbus_chan_send), applying `m`
 * when not NULL.  0, -EAGAIN (full), -EPIPE (corrupt guest index). */
int vmbus_ring_write(struct vmbus_channel *ch, uint16_t type, uint16_t flags, uint64_t trans_id,
		     uint32_t hdr_len, const struct iovec *iov, int iovcnt, size_t payload,
		     const struct vmbus_ring_mangle *m);
int vmbus_ring_map(struct vmbus_ring *ring, const struct gmem *mem, const uint64_t *pfns,
		   uint32_t n_pages);
void vmbus_ring_unmap(struct vmbus_ring *ring);
/* Validates the guest-written indices at open and takes the host's own. */
int vmbus_ring_start(struct vmbus_channel *ch);
/* Runs ops->notify as one batch (ring.c "Batches"), then polls the ring
 * for a while if the channel asked for it (vmbus_offer_params.poll_us).
 * Every path that calls ops->notify goes through here. */
void vmbus_chan_run_notify(struct vmbus_channel *ch);

#endif
