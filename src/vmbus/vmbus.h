/* SPDX-License-Identifier: MIT */
/*
 * vmbus/: the VMBus channel server (facts §5) and the host side of the ring
 * buffers (facts §6).  This is the API devices use; it never includes
 * devices/.  Everything runs on the event-loop thread.
 */
#ifndef VMBUSD_VMBUS_VMBUS_H
#define VMBUSD_VMBUS_VMBUS_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/fault_class.h"
#include "core/gmem.h"
#include "core/stats.h"
#include "hv/hv.h"
#include "vmbusd/proto/ring.h"
#include "vmbusd/proto/vmbus.h"

struct vmbus_server;
struct vmbus_channel;

/* Monitored notification (MNF, facts §5.5): the default latency the host
 * writes for each monitor id, and the bounds on what a guest may ask for
 * (DPDK's netvsc PMD writes its `latency` devarg, 50 us by default). */
#define VMBUS_MONITOR_LATENCY_DEFAULT_US 100u
#define VMBUS_MONITOR_LATENCY_MIN_US     10u   /* the fastest a guest makes us scan */
#define VMBUS_MONITOR_LATENCY_MAX_US     6553u /* u16 of 100 ns units */
/* After this many scans in a row found nothing, the scan slows to the idle
 * period until a bit is found or the host interrupts a monitored channel
 * (monitor.c: a tick costs a daemon wake-up whatever it finds). */
#define VMBUS_MONITOR_IDLE_SCANS         64u
#define VMBUS_MONITOR_IDLE_DEFAULT_US    2000u
#define VMBUS_MONITOR_IDLE_MAX_US        100000u

struct vmbus_server_config {
	uint32_t max_version; /* highest version accepted, e.g. VMBUS_VERSION(4, 0); 0 = 5.3 */
	uint32_t monitor_latency_us; /* MNF scan period written to the monitor page;
				      * 0 = VMBUS_MONITOR_LATENCY_DEFAULT_US */
	uint32_t monitor_idle_us;    /* scan period once idle (>= the latency);
				      * 0 = VMBUS_MONITOR_IDLE_DEFAULT_US */
	/* Asks the frontend to check the monitor's pending words whenever a
	 * vCPU halts, and to ring vmbus_server_monitor_idle() when any is set
	 * (attach.h, the idle watch); gpa 0 ends it.  NULL: the timer only. */
	void (*idle_watch)(void *opaque, uint64_t gpa, uint64_t mask);
	void *idle_opaque;
};

enum vmbus_conn_state {
	VMBUS_DISCONNECTED = 0, /* no INITIATE_CONTACT accepted yet (or after UNLOAD/reset) */
	VMBUS_CONNECTED,        /* version agreed */
	VMBUS_OFFERS_SENT,      /* REQUESTOFFERS answered */
};

/* The server's counters (core/stats.h).  Every guest message that is
 * refused moves `malformed` or `wrong_state` (and, for some, a counter of
 * its own below); nothing is dropped uncounted. */
#define VMBUS_SERVER_STATS(X)                                                           \
	X(messages, "channel messages received")                                        \
	X(malformed, "... refused as malformed (length, type, field, unknown relid or handle)") \
	X(wrong_state, "... that arrived in the wrong state")                           \
	X(versions_refused, "INITIATE_CONTACT answered version_supported = 0")         \
	X(offers_sent, "OFFERCHANNEL messages sent")                                    \
	X(gpadls_created, "GPADLs accepted (GPADL_CREATED status 0)")                  \
	X(gpadls_refused, "GPADLs refused (GPADL_CREATED with an error status)")       \
	X(channels_opened, "OPENCHANNEL answered with status 0")                        \
	X(opens_refused, "OPENCHANNEL refused by the device's open()")                 \
	X(tl_connects_refused, "TL_CONNECT_REQUEST (hv_sock) refused: no services")    \
	X(ring_errors, "corrupt rings detected")                                        \
	X(unloads, "UNLOAD messages served")                                            \
	X(messages_sent, "host->guest messages handed to the SynIC")                    \
	X(post_queued, "... that first waited for -ENOSPC to clear")                    \
	X(post_errors, "... that were dropped (-ENODEV, queue full)")                 \
	X(monitor_pages_refused, "INITIATE_CONTACT monitor pages unusable: offers went out unmonitored") \
	X(monitor_scans, "monitor page scans (timer ticks while a monitored channel was open)") \
	X(monitor_signals, "pending bits found set for an open monitored channel")    \
	X(monitor_stray, "pending bits set for a monitor id no open channel owns (cleared, ignored)") \
	X(monitor_idle_scans, "scans run because a vCPU halted with monitor bits pending")
STATS_STRUCT(vmbus_server_stats, VMBUS_SERVER_STATS);
STATS_DECLARE(vmbus_server_stats, struct vmbus_server_stats);


struct vmbus_server *vmbus_server_new(struct hv_partition *hv, struct event_base *base,
				      const struct vmbus_server_config *cfg);
/* Rescinds nothing: closes channels, frees every offer and the server. */
void vmbus_server_free(struct vmbus_server *srv);
/* The guest was reset or its frontend detached: close every open channel
 * (ops->close), drop GPADLs, forget the negotiated version.  Offers stay and
 * are offered again on the next REQUESTOFFERS. */
void vmbus_server_reset(struct vmbus_server *srv);

uint32_t vmbus_server_version(const struct vmbus_server *srv); /* 0 when disconnected */
enum vmbus_conn_state vmbus_server_state(const struct vmbus_server *srv);
const struct vmbus_server_stats *vmbus_server_stats(const struct vmbus_server *srv);
struct event_base *vmbus_server_base(const struct vmbus_server *srv);
struct hv_partition *vmbus_server_hv(const struct vmbus_server *srv);
/* Retries host->guest messages that the SynIC refused with -ENOSPC (done
 * by itself on the next guest message and on a 1 ms timer when the server
 * has an event base).  Returns how many still wait. */
int vmbus_server_flush(struct vmbus_server *srv);

/* ---- Offers and channels ---------------------------------------------- */

struct vmbus_channel_ops {
	/* The guest opened the channel; its rings are mapped.  Return 0, or a
	 * non-zero status for OPENCHANNEL_RESULT to refuse. */
	int (*open)(struct vmbus_channel *ch);
	/* The guest signalled: drain with vmbus_chan_recv() until it returns 0,
	 * and retry sends that failed with -EAGAIN. */
	void (*notify)(struct vmbus_channel *ch);
	/* Closed by the guest, rescinded, or reset.  No traffic after this; the
	 * rings are unmapped when it returns. */
	void (*close)(struct vmbus_channel *ch);
};

struct vmbus_offer_params {
	struct guid if_type;          /* device class (facts §7.3) */
	struct guid if_instance;      /* unique per primary device */
	uint16_t sub_channel_index;   /* 0 = primary */
	uint32_t max_pkt_size;        /* largest host->guest packet the guest's
				       * driver takes (facts §6.4); 0 = 4096 */
	bool signal_every_packet;     /* util channels read one packet per
				       * interrupt: never skip a signal */
	uint32_t poll_us;             /* after a notify that moved packets, keep
				       * polling the rings this long (guest
				       * signals masked) before sleeping; 0 =
				       * never poll (ring.c "Polling") */
	const uint8_t *user_def;      /* 120 bytes or NULL */
};

/* Registers an offer; sends OFFERCHANNEL at once when offers were already
 * requested.  NULL with errno EEXIST (this class, instance and subchannel
 * index is already offered), ENOSPC (relids ran out) or ENOMEM. */
struct vmbus_channel *vmbus_offer(struct vmbus_server *srv, const struct vmbus_offer_params *p,
				  const struct vmbus_channel_ops *ops, void *priv);
/* Withdraws an offer (RESCIND_CHANNELOFFER); closes it first if open.  The
 * channel object is freed once the guest released the relid (or at once
 * when the guest never saw the offer); do not touch it after this call. */
void vmbus_rescind(struct vmbus_channel *ch);
/* The operator's rescind and re-offer of any channel (scenario steps,
 * `ctl channel`): withdraw sends RESCIND_CHANNELOFFER like vmbus_rescind()
 * but keeps the channel and its device; after the guest's RELID_RELEASED
 * (-EBUSY before it), reoffer offers it again under the same relid.  A
 * withdrawn channel is not offered on REQUESTOFFERS.  -EALREADY when it
 * already is (or is not) withdrawn. */
int vmbus_chan_withdraw(struct vmbus_channel *ch);
int vmbus_chan_reoffer(struct vmbus_channel *ch);
bool vmbus_chan_is_withdrawn(const struct vmbus_channel *ch);
/* RESCIND_CHANNELOFFER sent, RELID_RELEASED not yet received. */
bool vmbus_chan_is_rescinded(const struct vmbus_channel *ch);
/* Monitored notification (facts §5.5).  Call before the offer reaches the
 * guest (right after vmbus_offer(), while the guest has not asked for
 * offers): on = give the channel a monitor id, so that its offer carries
 * monitor_allocated = 1 whenever the guest's monitor pages are usable.
 * Subchannels offered later take their primary's choice.  0, -EBUSY (the
 * guest has seen the offer), -ENOSPC (all 128 monitor ids are taken). */
int vmbus_chan_set_monitored(struct vmbus_channel *ch, bool on);
/* The channel's monitor id, or -1 when it has none. */
int vmbus_chan_monitor_id(const struct vmbus_channel *ch);
/* Scans the guest's child->parent monitor page once: every pending bit is
 * cleared atomically and, when an open channel owns it, handled like that
 * channel's HvSignalEvent.  The server's timer calls this every monitor
 * latency while a channel offered as monitored is open; tests call it
 * directly.  Returns the number of channels signalled. */
int vmbus_server_monitor_scan(struct vmbus_server *srv);
/* The scan period now in force (us), 0 when the timer is not running. */
uint32_t vmbus_server_monitor_period_us(const struct vmbus_server *srv);
/* The frontend's idle doorbell: a vCPU halted with monitor bits pending;
 * scans at once. */
void vmbus_server_monitor_idle(struct vmbus_server *srv);

/* Why an offer failed, for a device's configuration error (errno above). */
const char *vmbus_offer_strerror(int err);

void *vmbus_chan_priv(const struct vmbus_channel *ch);
uint32_t vmbus_chan_relid(const struct vmbus_channel *ch);
uint16_t vmbus_chan_sub_index(const struct vmbus_channel *ch);
uint32_t vmbus_chan_target_vp(const struct vmbus_channel *ch);
bool vmbus_chan_is_open(const struct vmbus_channel *ch);
/* The connection id of the offer (what the guest's HvSignalEvent carries). */
uint32_t vmbus_chan_conn_id(const struct vmbus_channel *ch);
struct vmbus_server *vmbus_chan_server(const struct vmbus_channel *ch);

/* A channel's counters; they live as long as the offer (a reopen does not
 * reset them). */
#define VMBUS_CHAN_STATS(X)                                                          \
	X(packets_in, "guest->host packets read")                                    \
	X(bytes_in, "... their bytes, descriptors included")                          \
	X(packets_out, "host->guest packets written")                                 \
	X(bytes_out, "... their bytes, descriptors included")                         \
	X(signals_in, "guest signals (HvSignalEvent)")                                \
	X(monitor_signals_in, "guest signals through the monitor page (MNF)")         \
	X(signals_out, "interrupts raised to the guest")                              \
	X(signal_errors, "interrupts that could not be raised (SynIC off, SIEF page bad)") \
	X(send_full, "sends refused with -EAGAIN (ring full)")                        \
	X(ring_broken, "corrupt ring indices or descriptors seen (vmbus.ring_errors per channel)")
STATS_STRUCT(vmbus_chan_stats, VMBUS_CHAN_STATS);
STATS_DECLARE(vmbus_chan_stats, struct vmbus_chan_stats);
const struct vmbus_chan_stats *vmbus_chan_stats(const struct vmbus_channel *ch);
struct gmem *vmbus_chan_gmem(const struct vmbus_channel *ch);

/* Fairness.  A device's notify reads at most VMBUS_NOTIFY_BUDGET packets,
 * then, if it stopped with packets left, calls vmbus_chan_notify_later():
 * ops->notify runs again on the next turn of the event loop, after the
 * loop has polled every other source (other channels' signals, the control
 * socket, the frontend, timers).  So a guest that keeps one ring non-empty
 * cannot starve the other channels or the host's own work. */
#define VMBUS_NOTIFY_BUDGET 256
void vmbus_chan_notify_later(struct vmbus_channel *ch);

/* ---- Fault injection (core/fault_class.h) ------------------------------ */

/* Whether a device should mangle this candidate of class c on this channel
 * (its target is the channel's device name and subchannel index).  One
 * branch when the class is not armed. */
bool vmbus_chan_fault_slow(const struct vmbus_channel *ch, enum fault_class c);
static inline bool vmbus_chan_fault(const struct vmbus_channel *ch, enum fault_class c)
{
	return fault_class_armed(c) && vmbus_chan_fault_slow(ch, c);
}

/* ---- Reports ------------------------------------------------------------ */

#define VMBUS_CHAN_LABEL_MAX 64

/* Every channel in offer order (rescinded ones waiting for RELID_RELEASED
 * included): pass NULL for the first; NULL after the last. */
struct vmbus_channel *vmbus_server_next_channel(const struct vmbus_server *srv,
						const struct vmbus_channel *prev);
/* Names the channel's owner in reports (the host puts its device name
 * there: vmbus/ knows no devices).  Subchannels offered later take their
 * primary's label.  Truncated to VMBUS_CHAN_LABEL_MAX - 1 bytes. */
void vmbus_chan_set_label(struct vmbus_channel *ch, const char *label);
const char *vmbus_chan_label(const struct vmbus_channel *ch); /* "" when unset */
/* What the channel was offered with (class, instance, subchannel index). */
const struct vmbus_offer_params *vmbus_chan_offer(const struct vmbus_channel *ch);
/* One channel: {relid, device, class, instance, subchannel, conn_id,
 * offered, open, rescinded, broken, target_vp, and every counter}.
 * "device" is the label, or the class GUID when there is none. */
json_t *vmbus_chan_status_json(const struct vmbus_channel *ch);
/* {state, version, messages_waiting (host->guest messages queued for the
 * SynIC), gpadls (existing now), every VMBUS_SERVER_STATS counter,
 * "channels": [...]}. */
json_t *vmbus_server_status_json(const struct vmbus_server *srv);

/* ---- Packets ------------------------------------------------------------ */

/* One guest->host packet, copied out of the ring (so the guest cannot change
 * it under the parser).  Valid until the next vmbus_chan_recv() on the
 * channel.  The descriptor has been checked: 16 <= offset8*8 <= len8*8. */
struct vmbus_pkt {
	uint16_t type;          /* enum vmbus_packet_type */
	uint16_t flags;         /* VMBUS_PKT_FLAG_* */
	uint64_t trans_id;
	const uint8_t *raw;     /* the whole packet from its descriptor */
	uint32_t raw_len;       /* len8 * 8 */
	const uint8_t *data;    /* raw + offset8 * 8 */
	uint32_t data_len;      /* raw_len - offset8 * 8 */
};

/* 1 with *pkt filled, 0 when the ring is empty, -EPIPE when the channel is
 * not open or its ring was found corrupt (counted and logged once; the
 * channel then stays silent until the guest closes it). */
int vmbus_chan_recv(struct vmbus_channel *ch, struct vmbus_pkt *pkt);

/* Writes one host->guest packet: a descriptor from type/flags/trans_id,
 * then iov[0..iovcnt) concatenated and zero-padded to 8 bytes, then the
 * trailer.  The first hdr_len bytes of the iovecs are the type-specific
 * header counted by offset8 (0 for inband packets and completions).
 * Signals the guest as facts §6.5 requires; called from ops->notify, the
 * decision is taken once for the whole notify, after it returns (ring.c
 * "Batches").  0, -EAGAIN (ring full: the
 * host's pending_send_sz is set so the guest signals when it has read;
 * retry from notify), -EMSGSIZE (over max_pkt_size), -EPIPE (not open). */
int vmbus_chan_send(struct vmbus_channel *ch, uint16_t type, uint16_t flags, uint64_t trans_id,
		    uint32_t hdr_len, const struct iovec *iov, int iovcnt);
/* VM_PKT_DATA_INBAND with one buffer. */
int vmbus_chan_send_inband(struct vmbus_channel *ch, uint64_t trans_id, uint16_t flags,
			   const void *data, size_t len);
/* VM_PKT_COMP with one buffer. */
int vmbus_chan_send_comp(struct vmbus_channel *ch, uint64_t trans_id, const void *data, size_t len);
/* Bytes a packet with `payload` bytes after its 16-byte descriptor would
 * need, and whether it fits right now. */
bool vmbus_chan_can_send(const struct vmbus_channel *ch, size_t payload);

/* Decodes the ranges of a VM_PKT_DATA_USING_GPA_DIRECT packet into host
 * iovecs (every page checked against guest RAM).  Returns the iovec count
 * and the total bytes in *total, or -EINVAL (malformed), -EFAULT (page
 * outside RAM), -E2BIG (more than max_iov). */
int vmbus_pkt_gpa_direct_iov(const struct vmbus_pkt *pkt, const struct gmem *mem,
			     struct iovec *iov, int max_iov, uint64_t *total);

/* Host iovecs for [offset, offset + len) of a GPADL the guest created on
 * this channel (receive/send buffers).  Same returns as above, -ENOENT for
 * an unknown handle. */
int vmbus_chan_gpadl_iov(const struct vmbus_channel *ch, uint32_t gpadl, uint64_t offset,
			 uint64_t len, struct iovec *iov, int max_iov);
/* Size in bytes of a GPADL on this channel, 0 if unknown. */
uint64_t vmbus_chan_gpadl_size(const struct vmbus_channel *ch, uint32_t gpadl);

#endif
