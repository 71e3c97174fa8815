/* SPDX-License-Identifier: MIT */
/*
 * attach/ private state, shared by server.c (listener, accept), conn.c
 * (framing, fds, replies, teardown), request.c (message handlers) and
 * irq.c (irq area, per-vCPU eventfds, signal eventfds).
 */
#ifndef VMBUSD_ATTACH_INTERNAL_H
#define VMBUSD_ATTACH_INTERNAL_H

#include <stddef.h>
#include <sys/queue.h>

#include "attach/attach.h"

/* Every fd a peer may legitimately send in one message: the ATTACH memfds. */
#define ATTACH_CONN_MAX_FDS ATTACH_MAX_REGIONS
/* Room for as many fds as one SCM_RIGHTS message can carry (Linux
 * SCM_MAX_FD), so that the kernel never truncates and silently drops them:
 * we see every fd the peer sent and close the unexpected ones ourselves. */
#define ATTACH_RECV_CMSG_FDS 253u
/* Replies carry at most the irq memfd, one eventfd per vCPU and the idle
 * doorbell. */
#define ATTACH_SEND_MAX_FDS (2u + ATTACH_MAX_VCPUS)
/* A peer that leaves a reply unread this long is detached. */
#define ATTACH_WRITE_TIMEOUT_MS 1000u
/* A peer that stops in the middle of a message this long is detached. */
#define ATTACH_PARTIAL_TIMEOUT_MS 5000u
/* Frontends turned away with -EBUSY at the same time; more are closed
 * without a reply. */
#define ATTACH_MAX_REJECTS 4u
/* Signal eventfds per attach (one per connection id; VMBus relids stop at
 * 2047, so twice that is generous). */
#define ATTACH_MAX_SIGNAL_FDS 4096u

struct attach_conn;

struct attach_signal_fd {
	uint32_t conn_id;
	int fd;
	struct event *ev;
	struct attach_conn *conn;
};

struct attach_conn {
	struct attach_server *srv;
	int fd;
	struct event *ev_read;   /* EV_READ | EV_PERSIST; timeout while mid-message */
	struct event *ev_write;  /* armed while a reply is only partly sent */
	bool reject;             /* a second frontend: answer -EBUSY, then close */
	bool attached;           /* ATTACH succeeded: backend->attach was called */
	bool closing;            /* close once the pending reply is out */
	TAILQ_ENTRY(attach_conn) link; /* on srv->rejects */

	/* The request being assembled. */
	struct attach_hdr hdr;
	uint32_t hdr_got;
	uint32_t payload_got;
	int fds[ATTACH_CONN_MAX_FDS];
	uint32_t n_fds;
	uint8_t payload[ATTACH_MAX_PAYLOAD];

	/* The reply being sent; fds are borrowed, and sent with the first byte. */
	uint8_t out[sizeof(struct attach_hdr) + ATTACH_MAX_PAYLOAD];
	uint32_t out_len;
	uint32_t out_off;
	int out_fds[ATTACH_SEND_MAX_FDS];
	uint32_t n_out_fds;

	/* What an ATTACH set up; released on teardown. */
	struct gmem mem;
	uint32_t n_vcpus;
	int irq_memfd;
	void *irq_area;
	size_t irq_area_size;
	int irq_efd[ATTACH_MAX_VCPUS];
	int idle_efd;            /* the idle doorbell: the frontend writes it */
	struct event *idle_ev;
	struct attach_signal_fd **sig;
	uint32_t n_sig;
	uint32_t cap_sig;
};

TAILQ_HEAD(attach_conn_list, attach_conn);

struct attach_server {
	struct event_base *base;
	const struct attach_backend_ops *ops;
	void *opaque;
	char *path;
	int listen_fd;
	struct event *ev_listen;
	struct attach_conn *frontend;    /* the one frontend, attached or not yet */
	struct attach_conn_list rejects; /* connections being turned away */
	uint32_t n_rejects;
	uint64_t generation;
	struct attach_stats stats;
};

/* conn.c */
struct attach_conn *attach_conn_new(struct attach_server *srv, int fd, bool reject);
/* Tears the connection down (backend->detach if it had attached) and frees
 * it.  `why` is logged; NULL for an orderly close. */
void attach_conn_close(struct attach_conn *c, const char *why);
/* Queues one reply; it goes out now or when the socket drains.  -errno
 * when the peer is gone (the caller closes). */
int attach_conn_reply(struct attach_conn *c, const void *payload, uint32_t len,
		      const int *fds, uint32_t n_fds);

/* request.c */
/* Checks a complete header: 0 or -EPROTO (the connection is dropped). */
int attach_request_check_header(const struct attach_conn *c, const struct attach_hdr *hdr);
/* Runs one complete request.  0, or -errno to drop the connection. */
int attach_request_dispatch(struct attach_conn *c);

/* irq.c */
int attach_irq_setup(struct attach_conn *c, uint32_t n_vcpus);
void attach_irq_teardown(struct attach_conn *c);
/* Forgets vectors nobody delivered (guest reset). */
void attach_irq_clear(struct attach_conn *c);
/* The eventfd serving `conn_id`, created on first use; -errno. */
int attach_signal_fd_get(struct attach_conn *c, uint32_t conn_id);
void attach_signal_fds_drop(struct attach_conn *c);

#endif
