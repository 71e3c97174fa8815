/* SPDX-License-Identifier: MIT */
/*
 * The control socket: one JSON object per line in, one per line out.
 *
 *   {"id":1,"verb":"status"}
 *   {"id":2,"verb":"control","device":"shutdown","action":"shutdown","args":{"action":"reboot"}}
 *   {"id":3,"verb":"fault","point":"vmbus.send","skip":0,"count":1}
 *   {"id":5,"verb":"channel","device":"kvp","index":0,"action":"rescind"}
 *   {"id":6,"verb":"fault","op":"arm","class":"storvsc.busy","device":"disk0","count":1}
 *   {"id":7,"verb":"fault","op":"disarm","class":"storvsc.busy"}   (or "all")
 *   {"id":8,"verb":"fault","op":"list"}   (the catalogue and what is armed)
 *   {"id":4,"verb":"quit"}
 *
 * Every request gets {"id":..,"status":0|-errno[,"error":".."][,"result":..]}.
 * Device actions complete asynchronously (a KVP GET waits for the guest), so
 * replies can come out of order; the id pairs them.  The control socket is
 * the host operator's, not the guest's: it is trusted, but still parsed
 * defensively.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/log.h"
#include "host/host.h"

#define CONTROL_LINE_MAX (64 * 1024)

struct control_server {
	struct host *d;
	struct control_conn *conns;   /* open connections, freed with the server */
	struct evconnlistener *listener;
	char path[108];
};

struct control_conn {
	struct control_server *srv;
	struct control_conn *next, **pprev;
	struct bufferevent *bev;
	unsigned int pending;   /* device actions still running */
	bool closing;           /* peer gone: free when pending drops to 0 */
};

struct control_req {
	struct control_conn *conn;
	json_t *id;
};

static void control_conn_put(struct control_conn *c)
{
	if (c->closing && c->pending == 0) {
		if (c->bev)
			bufferevent_free(c->bev);
		*c->pprev = c->next;
		if (c->next)
			c->next->pprev = c->pprev;
		free(c);
	}
}

static void control_reply(struct control_conn *c, json_t *id, int status, const char *error,
			  json_t *result)
{
	json_t *r = json_object();
	char *text;

	json_object_set(r, "id", id ? id : json_null());
	json_object_set_new(r, "status", json_integer(status));
	if (error)
		json_object_set_new(r, "error", json_string(error));
	if (result)
		json_object_set_new(r, "result", result);
	text = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	if (text && c->bev && !c->closing) {
		bufferevent_write(c->bev, text, strlen(text));
		bufferevent_write(c->bev, "\n", 1);
	}
	free(text);
}

static void control_device_done(void *cookie, int status, json_t *result)
{
	struct control_req *req = cookie;
	struct control_conn *c = req->conn;

	control_reply(c, req->id, status, status ? strerror(-status) : NULL, result);
	json_decref(req->id);
	free(req);
	c->pending--;
	control_conn_put(c);
}

static void control_device(struct control_server *s, struct control_conn *c, json_t *id,
			   json_t *msg)
{
	const char *name = json_string_value(json_object_get(msg, "device"));
	const char *action = json_string_value(json_object_get(msg, "action"));
	struct control_req *req;
	struct json_err err = { "" };
	int rc;

	if (!name || !action) {
		control_reply(c, id, -EINVAL, "\"device\" and \"action\" are required", NULL);
		return;
	}
	req = calloc(1, sizeof(*req));
	if (!req) {
		control_reply(c, id, -ENOMEM, "out of memory", NULL);
		return;
	}
	req->conn = c;
	req->id = json_incref(id);
	c->pending++;
	rc = host_device_control(s->d, name, action, json_object_get(msg, "args"),
				 control_device_done, req, &err);
	if (rc) {
		/* Refused up front: done() was not and will not be called. */
		control_reply(c, id, rc, err.msg[0] ? err.msg : strerror(-rc), NULL);
		json_decref(req->id);
		free(req);
		c->pending--;
	}
}

/* {"verb":"channel","device":NAME,"index":N,"action":"rescind"|"offer"} */
static void control_channel(struct control_server *s, struct control_conn *c, json_t *id,
			    json_t *msg)
{
	const char *name = json_string_value(json_object_get(msg, "device"));
	const char *action = json_string_value(json_object_get(msg, "action"));
	json_t *index = json_object_get(msg, "index");
	struct json_err err = { "" };
	int rc;

	if (!name || !action || (index && (!json_is_integer(index) || json_integer_value(index) < 0 ||
					    json_integer_value(index) > 0xFFFF))) {
		control_reply(c, id, -EINVAL,
			      "\"device\", \"action\" (rescind, offer) and an optional \"index\" expected",
			      NULL);
		return;
	}
	rc = host_channel_action(s->d, name, index ? (unsigned int)json_integer_value(index) : 0,
				 action, &err);
	control_reply(c, id, rc, rc ? err.msg : NULL, NULL);
}

/* Fault classes by name (host_fault.c, docs/faults.md). */
static void control_fault(struct control_conn *c, json_t *id, struct host *d, json_t *msg)
{
	const char *op = json_string_value(json_object_get(msg, "op"));
	char err[160] = "";
	int rc;

	if (!op || strcmp(op, "arm") == 0) {
		rc = host_fault_arm(d, msg, err, sizeof(err));
		control_reply(c, id, rc, rc ? err : NULL, rc ? NULL : fault_class_status_json());
	} else if (strcmp(op, "disarm") == 0) {
		rc = host_fault_disarm(json_string_value(json_object_get(msg, "class")), err,
				       sizeof(err));
		control_reply(c, id, rc, rc ? err : NULL, rc ? NULL : fault_class_status_json());
	} else if (strcmp(op, "list") == 0) {
		json_t *r = fault_class_status_json();

		json_object_set_new(r, "catalogue", host_fault_catalogue_json());
		control_reply(c, id, 0, NULL, r);
	} else {
		control_reply(c, id, -EINVAL, "\"op\" is arm, disarm or list", NULL);
	}
}

static void control_handle(struct control_server *s, struct control_conn *c, const char *line)
{
	json_error_t jerr;
	json_t *msg = json_loads(line, 0, &jerr);
	json_t *id;
	const char *verb;

	if (!json_is_object(msg)) {
		control_reply(c, NULL, -EINVAL, "not a JSON object", NULL);
		json_decref(msg);
		return;
	}
	id = json_object_get(msg, "id");
	verb = json_string_value(json_object_get(msg, "verb"));
	if (!verb) {
		control_reply(c, id, -EINVAL, "\"verb\" is required", NULL);
	} else if (strcmp(verb, "status") == 0) {
		control_reply(c, id, 0, NULL, host_status(s->d));
	} else if (strcmp(verb, "control") == 0) {
		control_device(s, c, id, msg);
	} else if (strcmp(verb, "channel") == 0) {
		control_channel(s, c, id, msg);
	} else if (strcmp(verb, "fault") == 0 && (json_object_get(msg, "op") ||
						     json_object_get(msg, "class"))) {
		control_fault(c, id, s->d, msg);
	} else if (strcmp(verb, "fault") == 0) {
		const char *point = json_string_value(json_object_get(msg, "point"));
		json_int_t skip = json_integer_value(json_object_get(msg, "skip"));
		json_int_t count = json_integer_value(json_object_get(msg, "count"));

		if (!point || skip < 0 || count < 0 || skip > UINT32_MAX || count > UINT32_MAX)
			control_reply(c, id, -EINVAL, "\"point\", \"skip\", \"count\" expected", NULL);
		else
			control_reply(c, id, fault_arm(point, (uint32_t)skip, (uint32_t)count), NULL,
				      NULL);
	} else if (strcmp(verb, "quit") == 0) {
		/* Leave the loop a moment later so this reply is flushed first. */
		static const struct timeval flush_delay = { 0, 50000 };

		control_reply(c, id, 0, NULL, NULL);
		event_base_loopexit(s->d->base, &flush_delay);
	} else {
		control_reply(c, id, -ENOTSUP, "unknown verb", NULL);
	}
	json_decref(msg);
}

static void control_on_read(struct bufferevent *bev, void *arg)
{
	struct control_conn *c = arg;
	struct control_server *s = c->srv;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF))) {
		control_handle(s, c, line);
		free(line);
	}
	if (evbuffer_get_length(in) > CONTROL_LINE_MAX) {
		log_warn("control: line too long, closing");
		c->closing = true;
		control_conn_put(c);
	}
}

static void control_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* Outstanding device actions still hold c: they finish, reply
		 * into the void, and the last one frees it. */
		bufferevent_free(c->bev);
		c->bev = NULL;
		c->closing = true;
		control_conn_put(c);
	}
}

static void control_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			      int socklen, void *arg)
{
	struct control_server *s = arg;
	struct control_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return;
	}
	c->srv = s;
	c->next = s->conns;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &s->conns;
	s->conns = c;
	c->bev = bufferevent_socket_new(s->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, control_on_read, NULL, control_on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

struct control_server *control_server_new(struct host *d, const char *path)
{
	struct control_server *s = calloc(1, sizeof(*s));
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (!s)
		return NULL;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_error("control socket path too long: %s", path);
		free(s);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	strcpy(s->path, path);
	unlink(path);
	s->d = d;
	s->listener = evconnlistener_new_bind(d->base, control_on_accept, s,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 8,
					      (struct sockaddr *)&sun, sizeof(sun));
	if (!s->listener) {
		log_error("control socket %s: %s", path, strerror(errno));
		free(s);
		return NULL;
	}
	return s;
}

void control_server_free(struct control_server *s)
{
	/* Devices are destroyed after this and complete their pending actions
	 * then; a connection still waiting is detached from its socket here
	 * and freed by its last completion. */
	while (s->conns) {
		struct control_conn *c = s->conns;

		s->conns = c->next;
		if (c->next)
			c->next->pprev = &s->conns;
		c->pprev = &c->next; /* unlinked: put() must not touch the list */
		c->next = NULL;
		if (c->bev) {
			bufferevent_free(c->bev);
			c->bev = NULL;
		}
		c->closing = true;
		if (c->pending == 0)
			free(c);
	}
	evconnlistener_free(s->listener);
	unlink(s->path);
	free(s);
}
