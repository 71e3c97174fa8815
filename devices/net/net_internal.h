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
	/* One frame out: 0 or -errno. */
	int (*send)(struct net_backend *be, const struct iovec *iov, int iovcnt);
	/* One frame in: its length, -EAGAIN when none waits, -errno. */
	ssize_t (*recv)(struct net_backend *be, uint8_t *buf, size_t cap);
	void (*close)(struct net_backend *be); /* optional; fd is closed by net.c */
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
	FILE *capture;
	struct net_backend_stats st;
	char *remote;             /* dgram: the peer's socket path */
	char *local;              /* dgram: our socket path (unlinked at close) */
};

extern const struct net_backend_ops net_tap_ops;
extern const struct net_backend_ops net_dgram_ops;

#endif
