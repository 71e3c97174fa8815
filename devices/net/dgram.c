/* SPDX-License-Identifier: MIT */
/*
 * net dgram: a Unix datagram socket bound at `local` that sends to
 * `remote`, one Ethernet frame per datagram and nothing else: the framing
 * of QEMU's `-netdev dgram,local.type=unix,...,remote.type=unix,...`, so
 * a vmbusd NIC shares a wire with another one or with a QEMU NIC.
 * A peer that is not there yet drops the frame (as a cable with nobody at
 * the other end).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/net/net_internal.h"

static int net_dgram_addr(const char *p, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(p) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, p, strlen(p));
	return 0;
}

static int net_dgram_open(struct net_backend *be, const json_t *cfg, const char *path,
			  struct json_err *err)
{
	static const char *const keys[] = { "kind", "local", "remote", NULL };
	const char *local = NULL, *remote = NULL;
	struct sockaddr_un sa;
	int rc, fd;

	if ((rc = json_check_keys(cfg, path, keys, err)) ||
	    (rc = json_get_string(cfg, path, "local", true, &local, err)) ||
	    (rc = json_get_string(cfg, path, "remote", true, &remote, err)))
		return rc;
	if (net_dgram_addr(remote, &sa))
		return json_fail(err, path, "remote", "socket path too long");
	if (net_dgram_addr(local, &sa))
		return json_fail(err, path, "local", "socket path too long");
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return json_fail(err, path, "local", "socket: %s", strerror(errno));
	unlink(local); /* a stale socket from an earlier run */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = errno;
		close(fd);
		return json_fail(err, path, "local", "%s: %s", local, strerror(rc));
	}
	be->fd = fd;
	be->local = strdup(local);
	be->remote = strdup(remote);
	if (!be->local || !be->remote)
		return json_fail(err, path, NULL, "out of memory");
	return 0;
}

static int net_dgram_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	struct sockaddr_un sa;

	/* Connected, so that poll() says when the peer's queue has room (a
	 * Unix datagram sender is not writable while the peer's queue is
	 * full); the peer may come and go, so connect lazily and again. */
	if (!be->connected) {
		net_dgram_addr(be->remote, &sa);
		if (connect(be->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return errno == EAGAIN ? -ENOTCONN : -errno; /* no peer: the frame is lost */
		be->connected = true;
	}
	if (sendmsg(be->fd, &m, MSG_DONTWAIT) < 0) {
		int e = errno;

		if (e == ECONNREFUSED || e == ENOTCONN) {
			/* The peer went away (and may come back at the same path). */
			struct sockaddr any = { .sa_family = AF_UNSPEC };

			connect(be->fd, &any, sizeof(any));
			be->connected = false;
		}
		return -e;
	}
	return 0;
}

static ssize_t net_dgram_recv(struct net_backend *be, uint8_t *buf, size_t cap)
{
	ssize_t n = recv(be->fd, buf, cap, MSG_DONTWAIT);

	return n < 0 ? -errno : n;
}

static void net_dgram_close(struct net_backend *be)
{
	if (be->local)
		unlink(be->local);
	free(be->local);
	free(be->remote);
}

const struct net_backend_ops net_dgram_ops = {
	.name = "dgram",
	.open = net_dgram_open,
	.send = net_dgram_send,
	.recv = net_dgram_recv,
	.close = net_dgram_close,
};
