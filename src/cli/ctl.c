/* SPDX-License-Identifier: MIT */
/*
 * `vmbusd ctl`: a small client of the control socket for scripts and tests.
 *
 *   vmbusd ctl -c PATH status
 *   vmbusd ctl -c PATH control DEVICE ACTION ['{"json":"args"}']
 *   vmbusd ctl -c PATH fault POINT [SKIP [COUNT]]
 *   vmbusd ctl -c PATH channel DEVICE rescind|offer [INDEX]
 *   vmbusd ctl -c PATH fault arm CLASS [device=D] [channel=N] [count=N] [every=K]
 *                                      [from=M] [ms=T]
 *   vmbusd ctl -c PATH fault disarm CLASS|all
 *   vmbusd ctl -c PATH fault list
 *   vmbusd ctl -c PATH wait KEY OP VALUE [--timeout S]   (OP: = != >= > <= <)
 *   vmbusd ctl -c PATH quit
 *
 * `wait` polls status until the dotted KEY (e.g. vmbus.version,
 * devices.heartbeat.beats) compares true, so tests need no JSON tool.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/util.h"

static int ctl_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* Sends one request and reads its one-line reply (timeout_ms for the reply). */
static json_t *ctl_request(int fd, json_t *req, int timeout_ms)
{
	static char buf[1 << 20];
	size_t used = 0;
	char *text = json_dumps(req, JSON_COMPACT);
	size_t len = strlen(text);

	text = realloc(text, len + 2);
	text[len++] = '\n';
	if (write(fd, text, len) != (ssize_t)len) {
		free(text);
		return NULL;
	}
	free(text);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *nl;
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			return NULL;
		n = read(fd, buf + used, sizeof(buf) - 1 - used);
		if (n <= 0)
			return NULL;
		used += (size_t)n;
		buf[used] = '\0';
		nl = strchr(buf, '\n');
		if (nl) {
			*nl = '\0';
			return json_loads(buf, 0, NULL);
		}
		if (used == sizeof(buf) - 1)
			return NULL;
	}
}

static int ctl_wait(int fd, const char *key, const char *op, const char *want, double timeout_s)
{
	uint64_t deadline = now_ns() + (uint64_t)(timeout_s * 1e9);
	json_t *last = NULL;

	for (;;) {
		json_t *req = json_pack("{s:s}", "verb", "status");
		json_t *rep = ctl_request(fd, req, 5000);
		json_t *v;

		json_decref(req);
		if (!rep) {
			fprintf(stderr, "vmbusd ctl: daemon stopped answering\n");
			return 1;
		}
		v = json_path_get(json_object_get(rep, "result"), key);
		if (json_compare(v, op, want) == 1) {
			json_decref(last);
			json_decref(rep);
			return 0;
		}
		json_decref(last);
		last = json_incref(v);
		json_decref(rep);
		if (now_ns() > deadline) {
			char *t = last ? json_dumps(last, JSON_ENCODE_ANY) : NULL;

			fprintf(stderr, "vmbusd ctl: timeout after %.1f s waiting for %s %s %s (is %s)\n",
				timeout_s, key, op, want, t ? t : "missing");
			free(t);
			json_decref(last);
			return 1;
		}
		usleep(20000);
	}
}

/* `fault arm|disarm|list ...` as a request (docs/faults.md); NULL after a
 * usage message. */
static json_t *ctl_fault_request(int argc, char **argv)
{
	const char *op = argv[0];
	json_t *req = json_pack("{s:s,s:s}", "verb", "fault", "op", op);

	if (!strcmp(op, "list") && argc == 1)
		return req;
	if (!strcmp(op, "disarm") && argc == 2) {
		json_object_set_new(req, "class", json_string(argv[1]));
		return req;
	}
	if (!strcmp(op, "arm") && argc >= 2) {
		json_object_set_new(req, "class", json_string(argv[1]));
		for (int i = 2; i < argc; i++) {
			char *eq = strchr(argv[i], '='), *end;
			unsigned long long v;

			if (!eq || eq == argv[i])
				goto usage;
			*eq = '\0';
			if (!strcmp(argv[i], "device")) {
				json_object_set_new(req, "device", json_string(eq + 1));
				continue;
			}
			v = strtoull(eq + 1, &end, 0);
			if (*end || end == eq + 1)
				goto usage;
			json_object_set_new(req, argv[i], json_integer((json_int_t)v));
		}
		return req;
	}
usage:
	json_decref(req);
	fputs("vmbusd ctl: fault arm CLASS [device=D] [channel=N] [count=N] [every=K] [from=M] "
	      "[ms=T] | fault disarm CLASS|all | fault list\n", stderr);
	return NULL;
}

int cli_ctl(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL, *verb;
	double timeout_s = 30;
	json_t *req, *rep;
	int fd, opt, rc;

	while ((opt = getopt_long(argc, argv, "c:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 't': timeout_s = strtod(optarg, NULL); break;
		default:
			fputs("usage: vmbusd ctl -c CONTROL_SOCKET {status|control DEV ACTION [ARGS]|"
			      "channel DEV rescind|offer [INDEX]|fault POINT [SKIP [COUNT]]|"
			      "fault arm|disarm|list ...|wait KEY OP VALUE|quit} [-t SECONDS]\n", stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (!path || optind >= argc) {
		fputs("vmbusd ctl: need --control PATH and a verb (see --help)\n", stderr);
		return 2;
	}
	fd = ctl_connect(path);
	if (fd < 0) {
		fprintf(stderr, "vmbusd ctl: %s: %s\n", path, strerror(-fd));
		return 1;
	}
	verb = argv[optind++];
	if (!strcmp(verb, "wait")) {
		if (argc - optind != 3) {
			fputs("vmbusd ctl: wait KEY OP VALUE\n", stderr);
			close(fd);
			return 2;
		}
		rc = ctl_wait(fd, argv[optind], argv[optind + 1], argv[optind + 2], timeout_s);
		close(fd);
		return rc;
	}
	if (!strcmp(verb, "control")) {
		json_t *args = NULL;

		if (argc - optind < 2) {
			fputs("vmbusd ctl: control DEVICE ACTION [JSON-ARGS]\n", stderr);
			close(fd);
			return 2;
		}
		if (argc - optind >= 3) {
			args = json_loads(argv[optind + 2], 0, NULL);
			if (!json_is_object(args)) {
				fprintf(stderr, "vmbusd ctl: args must be a JSON object: %s\n",
					argv[optind + 2]);
				close(fd);
				return 2;
			}
		}
		req = json_pack("{s:s,s:s,s:s,s:o}", "verb", "control", "device", argv[optind],
				"action", argv[optind + 1], "args", args ? args : json_object());
	} else if (!strcmp(verb, "channel")) {
		if (argc - optind < 2) {
			fputs("vmbusd ctl: channel DEVICE rescind|offer [INDEX]\n", stderr);
			close(fd);
			return 2;
		}
		req = json_pack("{s:s,s:s,s:s,s:I}", "verb", "channel", "device", argv[optind],
				"action", argv[optind + 1], "index",
				(json_int_t)(argc - optind > 2 ? atoll(argv[optind + 2]) : 0));
	} else if (!strcmp(verb, "fault")) {
		if (argc - optind < 1) {
			fputs("vmbusd ctl: fault POINT [SKIP [COUNT]]\n", stderr);
			close(fd);
			return 2;
		}
		if (!strcmp(argv[optind], "arm") || !strcmp(argv[optind], "disarm") ||
		    !strcmp(argv[optind], "list")) {
			req = ctl_fault_request(argc - optind, argv + optind);
			if (!req) {
				close(fd);
				return 2;
			}
		} else
		req = json_pack("{s:s,s:s,s:I,s:I}", "verb", "fault", "point", argv[optind],
				"skip", (json_int_t)(argc - optind > 1 ? atoll(argv[optind + 1]) : 0),
				"count", (json_int_t)(argc - optind > 2 ? atoll(argv[optind + 2]) : 0));
	} else {
		req = json_pack("{s:s}", "verb", verb);
	}
	json_object_set_new(req, "id", json_integer(1));
	rep = ctl_request(fd, req, (int)(timeout_s * 1000));
	json_decref(req);
	close(fd);
	if (!rep) {
		fprintf(stderr, "vmbusd ctl: no reply within %.1f s\n", timeout_s);
		return 1;
	}
	{
		char *text = json_dumps(rep, JSON_COMPACT);

		puts(text);
		free(text);
	}
	rc = json_integer_value(json_object_get(rep, "status")) == 0 ? 0 : 1;
	json_decref(rep);
	return rc;
}
