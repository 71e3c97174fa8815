/* SPDX-License-Identifier: MIT */
/* net: what the backends (tap.c, dgram.c, null in net.c) share with net.c. */
#ifndef VMBUSD_DEVICES_NET_INTERNAL_H
#define VMBUSD_DEVICES_NET_INTERNAL_H

#include <stdio.h>
#include <sys/types.h>

#include "devices/net/net.h"

struct net_backend_ops {
	const char *name;         /* the config's "kind" */
	/* Parses cfg (errors name the key under path), sets be->fd (or -1:
	 * never readable). */
	int (*open)(struct net_backend *be, const json_t *cfg, const char *path,
		    struct json_err *err);
	/* One frame out (after the vnet header when vnet_hdr_len): 0 or -errno. */
	int (*send)(struct net_backend *be, const struct iovec *iov, int iovcnt);
	/* One frame in (without any vnet header, whose offloads go to
	 * rx_off/rx_has_off): its length, -EAGAIN when none waits, -errno. */
	ssize_t (*recv)(struct net_backend *be, uint8_t *buf, size_t cap);
	void (*close)(struct net_backend *be); /* optional; fd is closed by net.c */
};

#define NET_TXQ_MAX 256u

struct net_txq_frame {
	struct net_txq_frame *next;
	size_t len;
	uint8_t data[];
};

struct net_backend {
	const struct net_backend_ops *ops;
	int fd;
	struct event *ev;
	net_rx_fn rx;
	void *opaque;
	uint8_t *rx_buf;          /* NET_MAX_FRAME bytes */
	bool held;                /* rx_buf holds a frame the device refused */
	size_t held_len;
	struct pcap *capture_pcap;     /* pcap_open_dead(DLT_EN10MB) */
	struct pcap_dumper *capture;   /* the "capture" file */
	uint8_t *capture_buf;          /* one frame gathered for pcap_dump() */
	struct net_backend_stats st;
	/* Frames the host side refused with EAGAIN, sent when the fd is
	 * writable again (as QEMU's net queue does): a short burst is not
	 * lost to a small socket queue (a Unix datagram peer queues 10). */
	struct net_txq_frame *txq_head, *txq_tail;
	unsigned int txq_len;
	struct event *wev;
	size_t vnet_hdr_len;      /* tap: a virtio_net_hdr before every frame, or 0 */
	struct net_offload rx_off;     /* of the frame in rx_buf (recv fills it) */
	bool rx_has_off;
	bool connected;           /* dgram: connect()ed to remote */
	char *remote;             /* dgram: the peer's socket path */
	char *local;              /* dgram: our socket path (unlinked at close) */
};

extern const struct net_backend_ops net_tap_ops;
extern const struct net_backend_ops net_dgram_ops;

#endif
