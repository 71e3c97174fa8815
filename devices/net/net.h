/* SPDX-License-Identifier: MIT */
/*
 * net: the host side of a NIC, behind one small interface (bhyve's
 * block_if in spirit): the device hands frames out and gets frames in; it
 * never knows whether they go to a TAP device, a datagram socket or
 * nowhere.
 *
 * Backends (config object `backend`, key `kind`):
 *   tap    {"kind": "tap", "ifname": "vmbt0", "vnet_hdr": true}   a Linux
 *          TAP device, created if it does not exist (then it goes away with
 *          vmbusd), attached if it does (persistent, e.g. made by `ip tuntap
 *          add`).  With vnet headers (the default) a frame may go out with
 *          its checksum left to the kernel and as one large TCP frame the
 *          kernel segments (or delivers whole to a local socket); frames
 *          in may come the same way (TUNSETOFFLOAD: checksum, TSO4/6):
 *          the rx callback gets the offload.
 *   dgram  {"kind": "dgram", "local": PATH, "remote": PATH}  a Unix datagram
 *          socket, one Ethernet frame per datagram: QEMU's `-netdev dgram`
 *          framing, so two vmbusd NICs, or one and a QEMU NIC, share a wire.
 *   null   {"kind": "null"}   frames out are counted and dropped; none come in.
 * Any NIC can also `capture` every frame both ways to a pcap file.
 *
 * Threading contract: everything runs on the event-loop thread of the
 * event_base given to net_backend_open(); no callback runs on any other
 * thread, and none runs after net_backend_close() returns.
 *
 * Receive: the backend calls rx(opaque, frame, len) for each frame; the
 * frame is valid only during the call.  rx returns true when it took the
 * frame, false when it cannot now (no receive-buffer space, ring full):
 * the backend then keeps that frame, stops reading, and delivers the same
 * frame first after net_backend_rx_resume().  Frames are never reordered.
 * A backend reads at most NET_RX_BUDGET frames per event-loop turn.
 *
 * Transmit: net_backend_send() takes one frame as an iovec and returns at
 * once: 0 (sent, queued, or dropped on purpose, e.g. null), -ENOBUFS (the
 * host side stayed full and NET_TXQ_MAX frames already wait: dropped and
 * counted, as a NIC would), or another -errno (counted).  A frame the
 * host side refuses with EAGAIN is copied into a bounded queue and sent,
 * in order, when the descriptor is writable again.  The iovec may be
 * reused as soon as the call returns.
 */
#ifndef VMBUSD_DEVICES_NET_NET_H
#define VMBUSD_DEVICES_NET_NET_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/json.h"
#include "core/stats.h"

#define NET_RX_BUDGET   64u
#define NET_MAX_FRAME   65550u   /* a 64 KiB frame with its Ethernet/VLAN header */

struct net_backend;

struct net_offload;
/* `frame` is the backend's buffer: the device may complete a checksum in
 * it.  `o` is NULL for a whole, checksummed frame; else what the host
 * side left to the NIC (a TAP with vnet headers: a partial checksum, or a
 * TCP frame larger than the MTU to be segmented or coalesced). */
typedef bool (*net_rx_fn)(void *opaque, uint8_t *frame, size_t len, const struct net_offload *o);

#define NET_BACKEND_STATS(X)                                                          \
	X(tx_frames, "frames sent to the host side")                                  \
	X(tx_bytes, "... their bytes")                                                \
	X(tx_errors, "frames the host side refused (other than EAGAIN)")              \
	X(tx_queued, "frames that waited for EAGAIN to clear")                        \
	X(tx_dropped, "frames dropped with the wait queue full")                      \
	X(tx_offloaded, "frames sent with their checksum or segmentation left to the kernel") \
	X(rx_frames, "frames read from the host side and taken by the device")        \
	X(rx_bytes, "... their bytes")                                                \
	X(rx_errors, "read errors (the backend stops reading)")                       \
	X(rx_paused, "times reading stopped until the device had room")               \
	X(captured, "frames written to the capture file")
STATS_STRUCT(net_backend_stats, NET_BACKEND_STATS);
STATS_DECLARE(net_backend_stats, struct net_backend_stats);

/* Opens the backend described by `cfg` (the "backend" object; path names it
 * in errors) and, when `capture` is not NULL, a pcap file.  NULL with err
 * filled (the key named) on failure. */
struct net_backend *net_backend_open(const json_t *cfg, const char *path, const char *capture,
				     struct event_base *base, net_rx_fn rx, void *opaque,
				     struct json_err *err);
int net_backend_send(struct net_backend *be, const struct iovec *iov, int iovcnt);

/* What a frame leaves to the host side (virtio's vnet header): only for a
 * backend where net_backend_offloads() is true. */
enum net_gso { NET_GSO_NONE = 0, NET_GSO_TCPV4, NET_GSO_TCPV6 };
struct net_offload {
	bool csum;                /* the 16-bit field at csum_start + csum_offset */
	uint16_t csum_start;      /* holds the pseudo-header sum: complete it */
	uint16_t csum_offset;
	enum net_gso gso;         /* segment into gso_size payloads ... */
	bool gso_ecn;             /* ... the first with CWR set */
	uint16_t gso_size;
	uint16_t hdr_len;         /* Ethernet + IP + TCP headers */
};
#define NET_MAX_IOV 8
bool net_backend_offloads(const struct net_backend *be);
/* net_backend_send() with offloads (o may be NULL); iovcnt <= NET_MAX_IOV.
 * -EOPNOTSUPP when o asks for an offload the backend does not do. */
int net_backend_send_offload(struct net_backend *be, const struct iovec *iov, int iovcnt,
			     const struct net_offload *o);
void net_backend_rx_resume(struct net_backend *be);
void net_backend_close(struct net_backend *be);
const char *net_backend_kind(const struct net_backend *be);
const struct net_backend_stats *net_backend_stats(const struct net_backend *be);

/* Completes a checksum the guest left to the NIC (CHECKSUM_PARTIAL, as
 * virtio's NEEDS_CSUM): the 16-bit field at frame[start + offset] holds
 * the pseudo-header sum; the one's-complement sum of frame[start, len)
 * (that field included) is folded, inverted and stored there (0 becomes
 * 0xFFFF when `udp`).  -EINVAL when the field is not inside the frame.
 * Pure: no state, unit-tested. */
int net_csum_complete(uint8_t *frame, size_t len, size_t start, size_t offset, bool udp);

/* Verifies the TCP or UDP checksum of a whole frame (Ethernet + IPv4
 * without fragments, or IPv6 with TCP/UDP right after its header): 
 * NET_CSUM_TCP / NET_CSUM_UDP when it is right, 0 when the frame is not
 * such a frame, has no UDP checksum, or the checksum is wrong (the guest
 * then checks it itself and drops it).  Pure, read-only. */
#define NET_CSUM_TCP 1
#define NET_CSUM_UDP 2
int net_csum_verify(const uint8_t *frame, size_t len);

/* TCP segmentation of an LSO frame (tso.c): Ethernet + IPv4 (or IPv6
 * without extension headers, ipv6) + TCP at tcp_off, split into segments
 * of at most `mss` payload bytes with lengths, ids, sequence numbers,
 * flags and checksums of their own.  emit(opaque, headers, hlen, payload,
 * plen) gets each; a non-zero return stops and is returned.  The number
 * of segments, or -EINVAL (not such a frame, headers out of bounds, mss <
 * NET_TSO_MIN_MSS), -E2BIG (more than NET_TSO_MAX_SEGS segments).  Pure. */
#define NET_TSO_MIN_MSS  64u
#define NET_TSO_MAX_SEGS 1100u     /* 64 KiB at the minimum MSS */
#define NET_TSO_MAX_HDR  256u      /* Ethernet + IP (with options) + TCP (with options) */
typedef int (*net_tso_emit_fn)(void *opaque, const uint8_t *hdr, size_t hlen,
			       const uint8_t *payload, size_t plen);
int net_tso_segment(const uint8_t *frame, size_t len, size_t tcp_off, uint32_t mss, bool ipv6,
		    net_tso_emit_fn emit, void *opaque);
/* The same frame made ready for a backend that segments (vnet headers):
 * checked as net_tso_segment() does, then in place the IPv4 total length
 * and header checksum (or the IPv6 payload length) of the whole frame and
 * the TCP checksum field set to the pseudo-header sum with the TCP length
 * (what Linux's GSO expects; the guest's value is not trusted), and `o`
 * filled: TCPV4/TCPV6 at `mss`, or no GSO (checksum only) when the
 * payload fits one segment.  0 or -EINVAL.  Pure. */
int net_tso_prepare(uint8_t *frame, size_t len, size_t tcp_off, uint32_t mss, bool ipv6,
		    struct net_offload *o);

#endif
