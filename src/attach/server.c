/* SPDX-License-Identifier: MIT */
/*
 * The plugin-protocol listener (docs/plugin-protocol.md): a Unix socket on
 * the event loop that accepts one frontend at a time.  A second frontend
 * is not simply closed: it is read until its ATTACH and answered -EBUSY,
 * so that it can tell "busy" from "crashed" (attach.h, attach_reply).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "attach/attach_internal.h"
#include "core/log.h"

#define ATTACH_LISTEN_BACKLOG 8

static void attach_server_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct attach_server *srv = arg;

	/* Drain the backlog: the listener is level-triggered, but handling
	 * everything now keeps a burst of peers from waiting a loop round. */
	for (;;) {
		struct attach_conn *c;
		bool reject;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("attach: accept: %s", strerror(errno));
			return;
		}
		srv->stats.connections++;
		reject = srv->frontend != NULL;
		if (reject && srv->n_rejects >= ATTACH_MAX_REJECTS) {
			srv->stats.busy_closed++;
			log_warn("attach: too many frontends at once; closing one unanswered");
			close(fd);
			continue;
		}
		c = attach_conn_new(srv, fd, reject);
		if (!c) {
			log_error("attach: out of memory for a connection");
			close(fd);
			continue;
		}
		if (reject) {
			log_warn("attach: a frontend is already connected; refusing another");
			TAILQ_INSERT_TAIL(&srv->rejects, c, link);
			srv->n_rejects++;
		} else {
			log_info("attach: frontend connected");
			srv->frontend = c;
		}
	}
}

/* Removes a stale socket file left by an earlier run, but nothing else:
 * a path that is not a socket is a configuration mistake to report. */
static int attach_server_unlink_stale(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (unlink(path) < 0)
		return -errno;
	return 0;
}

struct attach_server *attach_server_new(struct event_base *base, const char *path,
					const struct attach_backend_ops *ops, void *opaque)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct attach_server *srv;
	int ret;

	if (!base || !path || !ops || !ops->attach || !ops->msr_read || !ops->msr_write ||
	    !ops->hypercall) {
		log_error("attach: server needs an event base, a path and backend ops");
		return NULL;
	}
	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("attach: socket path too long: %s", path);
		return NULL;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->base = base;
	srv->ops = ops;
	srv->opaque = opaque;
	srv->listen_fd = -1;
	TAILQ_INIT(&srv->rejects);
	srv->path = strdup(path);
	if (!srv->path)
		goto fail;

	ret = attach_server_unlink_stale(path);
	if (ret < 0) {
		log_error("attach: %s: %s", path,
			  ret == -EEXIST ? "exists and is not a socket" : strerror(-ret));
		goto fail;
	}
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->listen_fd < 0) {
		log_error("attach: socket: %s", strerror(errno));
		goto fail;
	}
	if (bind(srv->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(srv->listen_fd, ATTACH_LISTEN_BACKLOG) < 0) {
		log_error("attach: listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	srv->ev_listen = event_new(base, srv->listen_fd, EV_READ | EV_PERSIST,
				   attach_server_on_accept, srv);
	if (!srv->ev_listen || event_add(srv->ev_listen, NULL) < 0) {
		log_error("attach: cannot watch the listening socket");
		goto fail;
	}
	log_info("attach: listening on %s", path);
	return srv;

fail:
	if (srv->ev_listen)
		event_free(srv->ev_listen);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(path);
	}
	free(srv->path);
	free(srv);
	return NULL;
}

void attach_server_free(struct attach_server *srv)
{
	struct attach_conn *c;

	if (!srv)
		return;
	if (srv->frontend)
		attach_conn_close(srv->frontend, NULL);
	while ((c = TAILQ_FIRST(&srv->rejects)) != NULL)
		attach_conn_close(c, NULL);
	event_free(srv->ev_listen);
	close(srv->listen_fd);
	unlink(srv->path);
	free(srv->path);
	free(srv);
}

bool attach_server_attached(const struct attach_server *srv)
{
	return srv && srv->frontend && srv->frontend->attached;
}

uint64_t attach_server_generation(const struct attach_server *srv)
{
	return srv ? srv->generation : 0;
}

STATS_DEFINE(attach_stats, struct attach_stats, ATTACH_STATS)

json_t *attach_server_stats_json(const struct attach_server *srv)
{
	static const struct attach_stats none;

	return attach_stats_json(srv ? &srv->stats : &none, NULL);
}
