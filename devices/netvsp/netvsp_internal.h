/* SPDX-License-Identifier: MIT */
/*
 * netvsp: the Hyper-V synthetic NIC that Linux hv_netvsc drives (facts §9).
 * Internal to devices/netvsp/ and to the unit tests and fuzzers, which call
 * the pure protocol functions directly.
 *
 * Split along one seam:
 *  - nvsp.c: NVSP (the channel protocol) as a pure function of the packet:
 *    version negotiation, buffers, subchannels, RNDIS envelopes.  A table
 *    {handler, min_len, states, min_version, packet types, name} checked
 *    before any handler runs.
 *  - rndis.c: RNDIS (the NIC protocol inside NVSP 107) on a private linear
 *    copy of one message: control messages through a table by type, QUERY
 *    and SET through tables by OID, PACKET with its per-packet info checked.
 *  - netvsp.c: the device: channels (primary + subchannels = queues),
 *    receive/send buffers, the notify loop, the backend's receive side;
 *  - netvsp_dev.c: config, control (link), stats, create/destroy.
 */
#ifndef VMBUSD_DEVICES_NETVSP_INTERNAL_H
#define VMBUSD_DEVICES_NETVSP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/stats.h"
#include "vmbus/vmbus.h"
#include "vmbusd/proto/nvsp.h"
#include "vmbusd/proto/rndis.h"

#define NETVSP_MAX_QUEUES        16u     /* config ceiling for "queues" */
#define NETVSP_RECV_SECTION_MIN  1728u   /* Hyper-V's receive sub-allocation */
#define NETVSP_SEND_SECTION_SIZE 6144u   /* Hyper-V's send section (facts §9.2) */
#define NETVSP_MIN_SECTION       68u     /* Linux refuses smaller sections */
#define NETVSP_MAX_MTU           65521u  /* netvsc's NETVSC_MTU - ETH_HLEN */
#define NETVSP_MIN_MTU           68u
/* Largest RNDIS message accepted from the guest (a 64 KiB frame with its
 * header and per-packet info). */
#define NETVSP_MAX_RNDIS_MSG     (65536u + 4096u)
/* Largest RNDIS control reply we build (QUERY_C with the OID list). */
#define RNDIS_REPLY_MAX          256u
/* Largest LSO frame advertised (ndis_lsov2_offload ip4/ip6_maxsz); Linux
 * caps its GSO size at it.  Below 64 KiB so a frame with its headers and
 * RNDIS header fits NETVSP_MAX_RNDIS_MSG. */
#define NETVSP_LSO_MAX_SIZE      62780u
#define NETVSP_LSO_MIN_SEGS      2u

enum netvsp_fault {
	NETVSP_FAULT_NONE = 0,
	NETVSP_FAULT_MALFORMED,   /* bad type, length, offset or field */
	NETVSP_FAULT_WRONG_STATE, /* a valid message out of protocol order */
	NETVSP_FAULT_UNSUPPORTED, /* a message or OID this host does not serve */
};

/* ---- NVSP (nvsp.c) --------------------------------------------------------- */

enum nvsp_state {
	NVSP_WAIT_INIT = 0,       /* channel opened: only INIT */
	NVSP_READY,               /* version agreed: everything else */
};

struct nvsp_proto {
	enum nvsp_state state;
	uint32_t version;         /* negotiated NVSP_PROTOCOL_VERSION_*, 0 before */
	uint32_t config_mtu;      /* the configured MTU (frames of mtu + 14 [+ 4]) */
	uint32_t guest_mtu;       /* NDIS_CONFIG's mtu - 14, 0 when not sent */
	uint64_t capability;      /* NDIS_CONFIG's capability bits */
	uint32_t ndis_major, ndis_minor;
	uint16_t max_subchannels; /* queues - 1 */
	uint16_t subchannels;     /* granted in this session */
	bool recv_buf;            /* a receive buffer is attached */
	uint32_t recv_gpadl;
	uint32_t recv_section_size, recv_sections;
	bool send_buf;
	uint32_t send_gpadl;
	uint32_t send_section_size, send_sections;
};

/* One guest packet as NVSP sees it. */
struct nvsp_input {
	uint16_t pkt_type;        /* VM_PKT_* */
	bool want_completion;     /* VMBus descriptor flags & 1 */
	bool primary;             /* arrived on the primary channel */
	const uint8_t *data;      /* payload (after offset8) */
	uint32_t len;
	/* Size of a GPADL on the primary channel, 0 if there is none. */
	uint64_t (*gpadl_size)(void *ctx, uint32_t gpadl);
	void *ctx;
};

enum nvsp_verdict {
	NVSP_DROP = 0,            /* nothing to do (a reply may still be sent) */
	NVSP_RNDIS,               /* an RNDIS message: `rndis` says where it is */
	NVSP_RX_DONE,             /* the guest completed host->guest packet `trans_id` */
	NVSP_SUBCHANNELS,         /* grant `subchannels` in all, then reply */
	NVSP_RECV_BUF_ATTACHED,   /* a receive buffer was accepted */
	NVSP_RECV_BUF_REVOKED,    /* stop using the receive buffer now */
	NVSP_SEND_BUF_REVOKED,
};

struct nvsp_decision {
	enum nvsp_verdict verdict;
	enum netvsp_fault fault;
	const char *why;          /* fault != NONE: for the (rate-limited) log */
	uint32_t type;            /* the guest's NVSP type, 0 if unreadable */
	bool reply;               /* send `msg` as the completion */
	struct nvsp_msg msg;
	struct {
		uint32_t channel_type;
		uint32_t section_index;   /* NVSP_SECTION_NONE or < send_sections */
		uint32_t section_size;    /* <= send_section_size */
	} rndis;
	uint16_t subchannels;     /* SUBCHANNELS: total wanted */
};

void nvsp_proto_init(struct nvsp_proto *p, uint32_t config_mtu, uint16_t max_subchannels);
/* The primary channel (re)opened: back to WAIT_INIT, buffers forgotten. */
void nvsp_proto_reset(struct nvsp_proto *p);
/* Decides what one guest packet means.  Never fails; updates p. */
void nvsp_dispatch(struct nvsp_proto *p, const struct nvsp_input *in, struct nvsp_decision *out);
bool nvsp_version_supported(uint32_t version);
const char *nvsp_type_name(uint32_t type);
/* The largest frame (Ethernet header, VLAN tag, no FCS) this session allows. */
uint32_t nvsp_max_frame(const struct nvsp_proto *p);

/* ---- RNDIS (rndis.c) ---------------------------------------------------------- */

enum rndis_state_id {
	RNDIS_UNINITIALIZED = 0,  /* before INIT and after HALT */
	RNDIS_INITIALIZED,
};

struct rndis_state {
	enum rndis_state_id state;
	uint8_t mac[6];
	uint32_t mtu;             /* reported by GEN_MAXIMUM_FRAME_SIZE */
	uint32_t max_frame;       /* frames longer than this are refused */
	uint32_t nvsp_version;    /* gates the version-dependent OIDs */
	uint16_t queues;          /* RSS queues offered (1 = no RSS) */
	bool link_up;
	uint32_t filter;          /* GEN_CURRENT_PACKET_FILTER */
	uint64_t link_speed;      /* units of 100 bit/s */
	uint32_t offload_sets;    /* TCP_OFFLOAD_PARAMETERS accepted */
	bool rss_enabled;
	bool rsc_offer;           /* config "rsc": offered at NVSP 6.1 */
	bool rsc_v4, rsc_v6;      /* the guest turned RSC on (OFFLOAD_PARAMETERS) */
	uint16_t itab_len;        /* RSS indirection entries (u32 each) */
	uint32_t itab[NDIS_RSS_MAX_ITAB];
	uint8_t key[NDIS_RSS_MAX_KEY];
};

enum rndis_verdict {
	RNDIS_DROP = 0,           /* nothing to send */
	RNDIS_REPLY,              /* send `reply` to the guest (receive buffer) */
	RNDIS_DATA,               /* `frame` goes to the backend */
};

/* A validated RNDIS_PACKET: offsets into the message given to dispatch. */
struct rndis_frame {
	uint32_t offset;          /* of the Ethernet frame in the message */
	uint32_t len;             /* >= 14 and <= max_frame */
	bool has_csum, has_lso, has_vlan, has_hash;
	uint32_t csum;            /* RNDIS_CSUM_TX_* */
	bool csum_needed;         /* the host completes a TCP/UDP checksum: */
	uint32_t csum_start;      /* transport header offset in the frame */
	uint32_t csum_offset;     /* of the checksum field in that header (16 / 6) */
	uint32_t lso_mss;         /* has_lso: segment to this payload size ... */
	uint32_t lso_tcp_off;     /* ... the TCP header at this offset ... */
	bool lso_ipv6;            /* ... over IPv6 (else IPv4) */
	uint32_t lso;             /* RNDIS_LSO_* */
	uint32_t vlan;            /* ndis_pkt_8021q_info: vlan id bits 4..15, prio 0..2 */
	uint32_t hash;
};

struct rndis_decision {
	enum rndis_verdict verdict;
	enum netvsp_fault fault;
	const char *why;
	uint32_t type;            /* the message's type, 0 if unreadable */
	uint32_t oid;             /* QUERY/SET: the OID */
	uint32_t consumed;        /* bytes of this message (0: stop parsing) */
	bool filter_changed;      /* a SET of the packet filter */
	bool halted;              /* HALT: stop sending data */
	uint8_t reply[RNDIS_REPLY_MAX] __attribute__((aligned(8)));
	uint32_t reply_len;
	struct rndis_frame frame;
};

void rndis_init(struct rndis_state *r, const uint8_t mac[6], uint32_t mtu, uint16_t queues);
/* The NIC starts over (primary channel reopened). */
void rndis_reset(struct rndis_state *r);
/* One RNDIS message at the start of msg[0..len) (a private copy). */
void rndis_dispatch(struct rndis_state *r, const uint8_t *msg, uint32_t len,
		    struct rndis_decision *out);
/* Builds the RNDIS_PACKET header (44 bytes) for a frame of `frame_len`
 * bytes that follows it; returns 44. */
uint32_t rndis_build_packet(uint8_t *buf, uint32_t frame_len);
/* The same with a checksum PPI carrying `csum` (RNDIS_CSUM_RX_*) when it
 * is not 0: RNDIS_RX_HDR_MAX bytes at most; returns the header's length. */
#define RNDIS_RX_HDR_MAX (44u + 16u + 16u)
uint32_t rndis_build_packet_csum(uint8_t *buf, uint32_t frame_len, uint32_t csum);
/* ... and an RNDIS_PKTINFO_ID element with `frag` (RNDIS_PKTINFO_*) when
 * it is not 0: one fragment of a coalesced frame. */
uint32_t rndis_build_packet_ppi(uint8_t *buf, uint32_t frame_len, uint32_t csum, uint8_t frag);
/* Builds an INDICATE_STATUS (20 bytes) carrying `status`; returns 20. */
uint32_t rndis_build_indicate(uint8_t *buf, uint32_t status);
const char *rndis_type_name(uint32_t type);

/* ---- The device (netvsp.c: queues, buffers, the notify loop; netvsp_dev.c:
 * config, control, stats, lifecycle) -------------------------------------- */

#define NETVSP_CTRL_MAX 64u   /* control replies waiting for receive-buffer space */
/* Ranges (RNDIS messages) in one transfer-page packet: a 64 KiB TSO frame
 * from the backend cut into segments of an MSS >= 256 fits (Linux takes up
 * to 375, NETVSC_MAX_XFER_PAGE_RANGES). */
#define NETVSP_MAX_RANGES 256u
/* Per segment of such a frame: its RNDIS header and Ethernet/IP/TCP headers. */
#define NETVSP_RX_SEG_HDR (64u + 256u)
#define NETVSP_SLOT_HEAD   1u  /* first slot of a transfer-page packet */
#define NETVSP_SLOT_MEMBER 2u  /* another slot of one */

/* One RNDIS message for the receive buffer: a header and data. */
struct netvsp_msgpart {
	const uint8_t *hdr;
	uint32_t hlen;
	const uint8_t *data;
	uint32_t dlen;
};

struct net_backend;
struct net_offload;
struct event;

/* Per queue (channel); the NIC's totals are their sum (core/stats.h). */
#define NETVSP_QUEUE_STATS(X)                                                          \
	X(packets, "guest packets read from this channel")                            \
	X(tx_packets, "guest frames handed to the backend (an LSO frame counts once)")  \
	X(tx_bytes, "... their bytes")                                                 \
	X(rx_packets, "backend frames delivered to the guest")                         \
	X(rx_bytes, "... their bytes")                                                 \
	X(tx_drops, "guest frames or segments not sent (backend error, link down)")    \
	X(tx_checksums, "guest frames whose TCP/UDP checksum the host completed (or its kernel)") \
	X(tx_lso, "guest LSO frames (segmented here, or by the kernel: tx_gso)")        \
	X(tx_gso, "guest LSO frames handed whole to a TAP with vnet headers")          \
	X(tx_segments, "frames (whole or LSO segments) handed to the backend")         \
	X(rx_drops, "backend frames not delivered (no listener, filter 0, link down)") \
	X(rx_csum_ok, "backend frames whose TCP/UDP checksum the host verified for the guest") \
	X(rx_tso, "TSO frames from the backend cut into segments for the guest")        \
	X(rx_rsc, "TSO frames from the backend given whole to the guest (RSC)")         \
	X(malformed, "refused guest packets or messages (bad type, length, offset)")   \
	X(wrong_state, "guest messages out of protocol order")                         \
	X(unsupported, "guest messages or OIDs this host does not serve")              \
	X(budget_yields, "notify stopped at VMBUS_NOTIFY_BUDGET and re-armed")         \
	X(completions_queued, "NVSP completions that waited for ring space")
STATS_STRUCT(netvsp_queue_stats, NETVSP_QUEUE_STATS);
STATS_DECLARE(netvsp_queue_stats, struct netvsp_queue_stats);

/* Per NIC, beside the queue totals. */
#define NETVSP_DEV_STATS(X)                                                             \
	X(link_changes, "link up/down changes asked with the link control action")     \
	X(link_deferred, "link changes held back by the 2 s pacing (netvsp_link.c)")    \
	X(network_changes, "NETWORK_CHANGE indications (network_change control action)") \
	X(indications, "INDICATE_STATUS messages queued for the guest")                \
	X(control_dropped, "RNDIS replies or indications dropped (queue full, send error)") \
	X(stale_completions, "guest completions of packets from before a buffer revoke")

struct netvsp_dev;

struct netvsp_queue {
	struct netvsp_dev *d;
	struct vmbus_channel *ch;
	uint16_t index;
	bool open;
	bool in_drain;
	bool comp_pending;        /* one NVSP completion waiting for ring space */
	uint64_t comp_tid;
	struct nvsp_msg comp;
	struct iovec *scratch;    /* GPA-direct decode buffer */
	int scratch_cap;
	struct netvsp_queue_stats st;
};

struct netvsp_ctrl {
	struct netvsp_ctrl *next;
	uint32_t len;
	uint8_t msg[RNDIS_REPLY_MAX];
};

struct netvsp_dev {
	struct vmbus_server *srv;
	char path[64];
	struct vmbus_offer_params offer;
	uint8_t mac[6];
	uint32_t mtu;
	uint16_t queues;
	struct nvsp_proto nvsp;
	struct rndis_state rndis;
	struct netvsp_queue *q[NETVSP_MAX_QUEUES]; /* [0] primary */
	unsigned int n_sub;
	struct net_backend *be;
	/* receive buffer slots */
	uint32_t rb_slots;
	uint32_t *rb_free;        /* stack of free slot numbers */
	uint32_t rb_nfree;
	uint8_t *rb_used;         /* NETVSP_SLOT_* */
	uint32_t *rb_next;        /* the next slot of the same packet, or UINT32_MAX */
	uint8_t *rx_seg_hdrs;     /* NETVSP_MAX_RANGES * NETVSP_RX_SEG_HDR */
	struct netvsp_msgpart *rx_parts;  /* NETVSP_MAX_RANGES */
	struct netvsp_ctrl *ctrl_head, *ctrl_tail;
	unsigned int ctrl_count;
	uint8_t *msgbuf;          /* private copy of one guest RNDIS message */
	/* netvsp_link.c: the link state the guest last heard, and when. */
	bool link_told;
	uint64_t link_told_ns;
	uint64_t link_interval_ns;  /* NETVSP_LINK_INTERVAL_NS (tests shorten it) */
	struct event *link_timer;
	STATS_FIELDS(NETVSP_DEV_STATS)
	struct netvsp_queue_stats retired;  /* of subchannels that are gone */
};

/* The primary channel while it is open (queue 0), else NULL. */
static inline struct vmbus_channel *netvsp_primary(const struct netvsp_dev *d)
{
	return d->q[0] && d->q[0]->open ? d->q[0]->ch : NULL;
}

/* netvsp.c: the channels, guest -> host packets, the notify loop. */
extern const struct vmbus_channel_ops netvsp_channel_ops;
void netvsp_rescind_subchannels(struct netvsp_dev *d);
void netvsp_stats_add(struct netvsp_queue_stats *t, const struct netvsp_queue_stats *q);
json_t *netvsp_stats(void *dev);

/* netvsp_rx.c: host -> guest through the receive buffer. */
/* The backend's receive callback (net.h). */
bool netvsp_backend_rx(void *opaque, uint8_t *frame, size_t len, const struct net_offload *o);
/* Queues one RNDIS control message (a reply or an indication) for the guest. */
void netvsp_ctrl_send(struct netvsp_dev *d, const void *msg, uint32_t len);
void netvsp_ctrl_drop_all(struct netvsp_dev *d);
/* The guest connected its receive buffer (NVSP 101): slot tables for it. */
int netvsp_rb_attach(struct netvsp_dev *d);
void netvsp_rb_drop(struct netvsp_dev *d);
/* The guest completed transfer-page packet `tid` (NVSP 108): its slots are free. */
void netvsp_rx_done(struct netvsp_queue *q, uint64_t tid);
/* Receive-buffer or ring space came free: control replies, then the backend. */
void netvsp_rx_resume(struct netvsp_dev *d);

/* netvsp_link.c: link indications, paced as Linux applies them. */
#define NETVSP_LINK_INTERVAL_NS 2000000000ull  /* netvsc's LINKCHANGE_INT */
void netvsp_link_set(struct netvsp_dev *d, bool up);
/* -ENETDOWN (link down), -ENOTCONN (no RNDIS session) or 0. */
int netvsp_link_network_change(struct netvsp_dev *d);
void netvsp_link_update(struct netvsp_dev *d);
/* The guest read GEN_MEDIA_CONNECT_STATUS: it knows rndis.link_up. */
void netvsp_link_queried(struct netvsp_dev *d);
void netvsp_link_session_reset(struct netvsp_dev *d);
void netvsp_link_free(struct netvsp_dev *d);

#endif
