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

#include "core/gmem.h"
#include "hv/hv.h"
#include "vmbusd/proto/ring.h"
#include "vmbusd/proto/vmbus.h"

struct vmbus_server;
struct vmbus_channel;

struct vmbus_server_config {
	uint32_t max_version; /* highest version accepted, e.g. VMBUS_VERSION(4, 0); 0 = 5.3 */
};

enum vmbus_conn_state {
	VMBUS_DISCONNECTED = 0, /* no INITIATE_CONTACT accepted yet (or after UNLOAD/reset) */
	VMBUS_CONNECTED,        /* version agreed */
	VMBUS_OFFERS_SENT,      /* REQUESTOFFERS answered */
};

struct vmbus_server_stats {
	uint64_t messages;          /* channel messages received */
	uint64_t malformed;         /* ... of which were refused as malformed */
	uint64_t wrong_state;       /* ... or arrived in the wrong state */
	uint64_t versions_refused;
	uint64_t offers_sent;
	uint64_t gpadls_created;
	uint64_t gpadls_refused;
	uint64_t channels_opened;
	uint64_t ring_errors;       /* corrupt rings detected */
	uint64_t unloads;
	uint64_t messages_sent;     /* host->guest messages handed to the SynIC */
	uint64_t post_queued;       /* ... that first waited for -ENOSPC to clear */
	uint64_t post_errors;       /* ... that were dropped (-ENODEV, queue full) */
};

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
/* Calls ops->notify again on the next event-loop iteration (once, however
 * often it is asked before then).  For a notify loop that stopped after its
 * packet budget with packets left in the ring: the guest will not signal
 * again for them (facts §6.5).  Does nothing when the channel is not open
 * or the server has no event base. */
void vmbus_chan_kick(struct vmbus_channel *ch);

struct vmbus_chan_stats {
	uint64_t packets_in, bytes_in;     /* guest -> host packets read */
	uint64_t packets_out, bytes_out;   /* host -> guest packets written */
	uint64_t signals_in;               /* guest signals (HvSignalEvent) */
	uint64_t signals_out;              /* interrupts raised to the guest */
	uint64_t send_full;                /* sends refused with -EAGAIN */
};
const struct vmbus_chan_stats *vmbus_chan_stats(const struct vmbus_channel *ch);
struct gmem *vmbus_chan_gmem(const struct vmbus_channel *ch);

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
 * Signals the guest as facts §6.5 requires.  0, -EAGAIN (ring full: the
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
