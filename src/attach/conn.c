/* SPDX-License-Identifier: MIT */
/*
 * One frontend connection: assembling requests (header, payload, fds) from
 * a non-blocking socket, sending replies, and tearing everything down.
 *
 * The peer is untrusted.  Reads are exact (never past the current message,
 * so fds are attributed to the message whose bytes carried them), every fd
 * that arrives is recorded and closed unless a handler takes it, and any
 * framing violation, EOF or socket error ends the connection through
 * attach_conn_close(), which is the only place that releases resources.
 *
 * Flow control: a request is answered before the next one is read.  While
 * a reply is only partly sent the read event is off, so a peer that sends
 * without reading cannot make us buffer more than one reply; if it leaves
 * that reply unread for ATTACH_WRITE_TIMEOUT_MS it is detached.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attach/attach_internal.h"
#include "core/log.h"
#include "core/util.h"

static void attach_conn_on_read(evutil_socket_t fd, short what, void *arg);
static void attach_conn_on_write(evutil_socket_t fd, short what, void *arg);

static struct timeval attach_ms_to_tv(uint32_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000u, .tv_usec = (ms % 1000u) * 1000u };

	return tv;
}

struct attach_conn *attach_conn_new(struct attach_server *srv, int fd, bool reject)
{
	struct attach_conn *c = calloc(1, sizeof(*c));
	struct timeval tv;

	if (!c)
		return NULL;
	c->srv = srv;
	c->fd = fd;
	c->reject = reject;
	c->irq_memfd = -1;
	c->idle_efd = -1;
	for (uint32_t i = 0; i < ATTACH_MAX_VCPUS; i++)
		c->irq_efd[i] = -1;
	gmem_init(&c->mem);
	c->ev_read = event_new(srv->base, fd, EV_READ | EV_PERSIST, attach_conn_on_read, c);
	c->ev_write = event_new(srv->base, fd, EV_WRITE, attach_conn_on_write, c);
	if (!c->ev_read || !c->ev_write) {
		if (c->ev_read)
			event_free(c->ev_read);
		if (c->ev_write)
			event_free(c->ev_write);
		free(c);
		return NULL;
	}
	/* A frontend being turned away gets one write timeout to say what
	 * it wants; an accepted one may stay idle forever between messages. */
	tv = attach_ms_to_tv(ATTACH_WRITE_TIMEOUT_MS);
	event_add(c->ev_read, reject ? &tv : NULL);
	return c;
}

/* Closes the fds of the request being assembled that no handler took. */
static void attach_conn_drop_fds(struct attach_conn *c)
{
	for (uint32_t i = 0; i < c->n_fds; i++)
		if (c->fds[i] >= 0)
			close(c->fds[i]);
	c->n_fds = 0;
}

static void attach_conn_reset_input(struct attach_conn *c)
{
	attach_conn_drop_fds(c);
	c->hdr_got = 0;
	c->payload_got = 0;
}

void attach_conn_close(struct attach_conn *c, const char *why)
{
	struct attach_server *srv = c->srv;

	if (why)
		log_warn("attach: %s dropped: %s", c->reject ? "refused frontend" : "frontend", why);
	if (c->attached) {
		c->attached = false;
		if (srv->ops->detach)
			srv->ops->detach(srv->opaque);
	}
	attach_signal_fds_drop(c);
	attach_irq_teardown(c);
	gmem_release(&c->mem);
	attach_conn_drop_fds(c);
	event_free(c->ev_read);
	event_free(c->ev_write);
	close(c->fd);
	if (c->reject) {
		TAILQ_REMOVE(&srv->rejects, c, link);
		srv->n_rejects--;
	} else if (srv->frontend == c) {
		srv->frontend = NULL;
	}
	free(c);
}

/* ---- sending -------------------------------------------------------- */

/* Sends what is left of c->out.  0 when all is out, -EAGAIN when the
 * socket is full, another -errno when the peer is gone. */
static int attach_conn_flush(struct attach_conn *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * ATTACH_SEND_MAX_FDS)];
		struct cmsghdr align;
	} ctrl;

	while (c->out_off < c->out_len) {
		struct iovec iov = { .iov_base = c->out + c->out_off,
				     .iov_len = c->out_len - c->out_off };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (c->n_out_fds > 0) {
			struct cmsghdr *cm;

			memset(&ctrl, 0, sizeof(ctrl));
			msg.msg_control = ctrl.buf;
			msg.msg_controllen = CMSG_SPACE(sizeof(int) * c->n_out_fds);
			cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * c->n_out_fds);
			memcpy(CMSG_DATA(cm), c->out_fds, sizeof(int) * c->n_out_fds);
		}
		/* MSG_NOSIGNAL: a vanished peer is an EPIPE, not a SIGPIPE. */
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		/* The fds went with the first byte sent. */
		c->n_out_fds = 0;
		c->out_off += (uint32_t)n;
	}
	c->out_len = 0;
	c->out_off = 0;
	return 0;
}

int attach_conn_reply(struct attach_conn *c, const void *payload, uint32_t len,
		      const int *fds, uint32_t n_fds)
{
	struct attach_hdr hdr = {
		.type = c->hdr.type,
		.flags = ATTACH_F_REPLY,
		.size = len,
		.seq = c->hdr.seq,
	};
	struct timeval tv;
	int ret;

	/* One reply per request and none pending (flow control above), so
	 * these only fail on a bug here, never on peer input. */
	if (c->out_len != 0 || len > ATTACH_MAX_PAYLOAD || n_fds > ATTACH_SEND_MAX_FDS)
		return -EINVAL;
	memcpy(c->out, &hdr, sizeof(hdr));
	if (len)
		memcpy(c->out + sizeof(hdr), payload, len);
	c->out_len = (uint32_t)sizeof(hdr) + len;
	c->out_off = 0;
	if (n_fds)
		memcpy(c->out_fds, fds, sizeof(int) * n_fds);
	c->n_out_fds = n_fds;

	ret = attach_conn_flush(c);
	if (ret != -EAGAIN)
		return ret;
	event_del(c->ev_read);
	tv = attach_ms_to_tv(ATTACH_WRITE_TIMEOUT_MS);
	event_add(c->ev_write, &tv);
	return 0;
}

/* Re-arms reading: with a timeout when a message is half read (or when
 * the connection is being turned away), else without. */
static void attach_conn_arm_read(struct attach_conn *c)
{
	struct timeval tv;

	if (c->reject) {
		tv = attach_ms_to_tv(ATTACH_WRITE_TIMEOUT_MS);
		event_add(c->ev_read, &tv);
	} else if (c->hdr_got > 0) {
		tv = attach_ms_to_tv(ATTACH_PARTIAL_TIMEOUT_MS);
		event_add(c->ev_read, &tv);
	} else {
		event_add(c->ev_read, NULL);
	}
}

static void attach_conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct attach_conn *c = arg;
	struct timeval tv;
	int ret;

	if (what & EV_TIMEOUT) {
		c->srv->stats.timeouts++;
		attach_conn_close(c, "did not read its reply for 1 s");
		return;
	}
	ret = attach_conn_flush(c);
	if (ret == -EAGAIN) {
		/* The peer read something: it gets another full period
		 * (the rule is "no reading for 1 s", not "1 s per reply"). */
		tv = attach_ms_to_tv(ATTACH_WRITE_TIMEOUT_MS);
		event_add(c->ev_write, &tv);
		return;
	}
	if (ret < 0) {
		c->srv->stats.socket_errors++;
		attach_conn_close(c, "socket error while replying");
		return;
	}
	if (c->closing) {
		attach_conn_close(c, NULL);
		return;
	}
	/* Level-triggered: requests that queued up meanwhile fire at once. */
	attach_conn_arm_read(c);
}

/* ---- receiving ------------------------------------------------------ */

/* Takes the fds out of a received control buffer.  Every fd is recorded or
 * closed here; -EPROTO for more than a message may carry or a truncated
 * control buffer. */
static int attach_conn_take_fds(struct attach_conn *c, struct msghdr *msg)
{
	int ret = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		size_t n;
		int *p;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)(void *)CMSG_DATA(cm);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, p + i, sizeof(fd));
			if (c->n_fds < ATTACH_CONN_MAX_FDS) {
				c->fds[c->n_fds++] = fd;
			} else {
				close(fd);
				ret = -EPROTO;
			}
		}
	}
	if (msg->msg_flags & MSG_CTRUNC)
		ret = -EPROTO;
	return ret;
}

/* One exact read of the rest of the header or payload.  >0 bytes read,
 * 0 on EOF, -EAGAIN, -EPROTO, or -errno. */
static ssize_t attach_conn_recv(struct attach_conn *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * ATTACH_RECV_CMSG_FDS)];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf) };
	ssize_t n;
	int ret;

	if (c->hdr_got < sizeof(c->hdr)) {
		iov.iov_base = (uint8_t *)&c->hdr + c->hdr_got;
		iov.iov_len = sizeof(c->hdr) - c->hdr_got;
	} else {
		iov.iov_base = c->payload + c->payload_got;
		iov.iov_len = c->hdr.size - c->payload_got;
	}
	do {
		/* MSG_CMSG_CLOEXEC: no window where a fork inherits them. */
		n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	ret = attach_conn_take_fds(c, &msg);
	if (ret < 0)
		return ret;
	if (n == 0)
		return 0;
	if (c->hdr_got < sizeof(c->hdr))
		c->hdr_got += (uint32_t)n;
	else
		c->payload_got += (uint32_t)n;
	return n;
}

static bool attach_conn_message_complete(const struct attach_conn *c)
{
	return c->hdr_got == sizeof(c->hdr) && c->payload_got == c->hdr.size;
}

static void attach_conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct attach_conn *c = arg;

	if (what & EV_TIMEOUT) {
		c->srv->stats.timeouts++;
		attach_conn_close(c, c->reject ? "sent no ATTACH in time"
						: "stalled in the middle of a message");
		return;
	}
	/* Bounded: at most a few messages per wakeup, so one chatty peer
	 * cannot starve the loop. */
	for (int budget = 64; budget > 0; budget--) {
		bool had_header = c->hdr_got == sizeof(c->hdr);
		ssize_t n = attach_conn_recv(c);
		int ret;

		if (n == -EAGAIN)
			break;
		if (n == 0) {
			if (c->hdr_got)
				c->srv->stats.socket_errors++;
			attach_conn_close(c, c->hdr_got ? "EOF in the middle of a message" : NULL);
			return;
		}
		if (n == -EPROTO) {
			c->srv->stats.protocol_errors++;
			attach_conn_close(c, "unexpected or too many file descriptors");
			return;
		}
		if (n < 0) {
			c->srv->stats.socket_errors++;
			attach_conn_close(c, "socket error");
			return;
		}
		if (!had_header && c->hdr_got == sizeof(c->hdr) &&
		    attach_request_check_header(c, &c->hdr) < 0) {
			c->srv->stats.protocol_errors++;
			attach_conn_close(c, "malformed message header");
			return;
		}
		if (!attach_conn_message_complete(c))
			continue;
		c->srv->stats.requests++;
		ret = attach_request_dispatch(c);
		attach_conn_reset_input(c);
		if (ret < 0) {
			/* -EPROTO: the request broke the protocol; anything
			 * else: its reply could not be sent. */
			if (ret == -EPROTO)
				c->srv->stats.protocol_errors++;
			else
				c->srv->stats.socket_errors++;
			attach_conn_close(c, "protocol error");
			return;
		}
		if (c->out_len != 0)
			return; /* reply pending: the write event resumes reading */
		if (c->closing) {
			attach_conn_close(c, NULL);
			return;
		}
	}
	attach_conn_arm_read(c);
}
