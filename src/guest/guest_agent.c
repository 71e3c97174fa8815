/* SPDX-License-Identifier: MIT */
/*
 * `vmbus-guest agent`: the synthetic guest as a scenario guest.  It speaks
 * the console protocol of the real test guest's init (tests/guest/README.md)
 * on stdin/stdout, so the scenario engine drives it exactly like QEMU's
 * serial console:
 *
 *   out  @@VMBUSD init                       a boot begins
 *        @@VMBUSD vmbus-version X.Y          negotiated
 *        @@VMBUSD bound INSTANCE {CLASS} DRV a channel opened like a driver
 *        @@VMBUSD unbound INSTANCE {CLASS} DRV  closed, or rescinded by the host
 *        @@VMBUSD devices N                  N devices bound after the offers
 *        @@VMBUSD poweroff                   the shutdown IC said power off
 *        @@VMBUSD detected WHAT MESSAGE      a malformed or unexpected thing from
 *                                            the host, refused (any time: a bad
 *                                            offer arrives outside any command)
 *        @@OUT ID TEXT / @@VMBUSD done ID RC a command's output and status
 *   in   @@CMD ID ping                       an MSR round trip through the daemon
 *        @@CMD ID unbind RELID | bind RELID  a driver's remove / probe
 *        @@CMD ID hostile raw-msg|raw-hcall|raw-ring OPTIONS HEX...
 *        @@CMD ID io storvsc|netvsc ...      traffic through a real driver
 *                                            (guest_agent_io.c)
 *
 * It binds every primary channel: the util channels with their drivers
 * (guest_ic), any other class by opening its ring only, which is what
 * "bound" means to the host.  A channel offered later (re-offered after a
 * rescind) is bound when it arrives; one the scenario unbound stays so.
 * Reboot (shutdown IC "reboot") is the tool's reboot: RESET, then a new
 * boot with new markers.
 */
#include "guest/guest_agent.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "guest/guest_raw.h"

#define AGENT_LINE_MAX 8192
#define AGENT_RING_BYTES (64u * 1024u)
#define AGENT_MAX_PKT 16384u
#define AGENT_MAX_WORDS 64

struct agent {
	struct guest *g;
	char in[AGENT_LINE_MAX];
	size_t in_len;
	bool eof;
	bool held[VMBUS_MAX_RELID + 1];   /* unbound by a command: not re-bound */
	bool bound[VMBUS_MAX_RELID + 1];  /* a "bound" marker is out for it */
	unsigned int cmd_id;              /* command running (its events are @@OUT) */
	const char *shutdown;             /* "poweroff" / "reboot" asked by the host */
};

static void agent_marker(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void agent_marker(const char *fmt, ...)
{
	va_list ap;

	fputs("@@VMBUSD ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static const char *agent_driver(const struct guest_channel *ch)
{
	return guest_ic_known(ch) ? "hv_utils" : ch->device;
}

/* A driver-less channel: its packets are read and dropped, so the host's
 * ring never fills. */
static void agent_drain(struct guest *g, struct guest_channel *ch)
{
	struct guest_ring_pkt pkt;

	while (guest_channel_recv(g, ch, &pkt) == 0)
		;
}

static void agent_on_event(struct guest *g, const char *name, json_t *ev, void *opaque)
{
	struct agent *ag = opaque;
	char *text;

	if (!strcmp(name, "shutdown")) {
		const char *action = json_string_value(json_object_get(ev, "action"));

		if (action && (!strcmp(action, "poweroff") || !strcmp(action, "reboot")))
			ag->shutdown = !strcmp(action, "poweroff") ? "poweroff" : "reboot";
	}
	if (!strcmp(name, "rescind")) {
		uint32_t relid = (uint32_t)json_integer_value(json_object_get(ev, "relid"));
		struct guest_channel *ch = relid <= VMBUS_MAX_RELID ? g->chan[relid] : NULL;

		if (ch && ag->bound[relid]) {
			agent_marker("unbound %s {%s} %s", ch->instance_str, ch->class_str,
				     agent_driver(ch));
			ag->bound[relid] = false;
		}
		if (relid <= VMBUS_MAX_RELID)
			ag->held[relid] = false; /* a new offer is a new device */
	}
	if (!strcmp(name, "error")) {
		char msg[600];

		/* One marker line, whatever the text holds. */
		snprintf(msg, sizeof(msg), "%s %s",
			 json_string_value(json_object_get(ev, "what")) ?: "?",
			 json_string_value(json_object_get(ev, "message")) ?: "");
		for (char *c = msg; *c; c++)
			if (*c == '\n' || *c == '\r')
				*c = ' ';
		agent_marker("detected %s", msg);
	}
	if (!ag->cmd_id)
		return;
	text = json_dumps(ev, JSON_COMPACT);
	if (text)
		printf("@@OUT %u %s\n", ag->cmd_id, text);
	fflush(stdout);
	free(text);
}

/* Opens one primary channel like its driver's probe; 0 or -errno. */
static int agent_bind(struct agent *ag, struct guest_channel *ch)
{
	struct guest *g = ag->g;
	int ret;

	if (guest_ic_known(ch)) {
		ret = guest_ic_open(g, ch);
	} else {
		ret = guest_channel_open(g, ch, AGENT_RING_BYTES, AGENT_MAX_PKT, 0);
		if (!ret)
			ch->on_event = agent_drain;
	}
	if (ret)
		return ret;
	ag->bound[ch->relid] = true;
	agent_marker("bound %s {%s} %s", ch->instance_str, ch->class_str, agent_driver(ch));
	return 0;
}

/* Every primary channel not bound yet, not held and not rescinded. */
static int agent_bind_all(struct agent *ag)
{
	int bound = 0;

	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct guest_channel *ch = ag->g->chan[relid];
		int ret;

		if (!ch || ch->open || ch->rescinded || ag->held[relid] || ch->offer.sub_channel_index)
			continue;
		ret = agent_bind(ag, ch);
		if (ret == -ECONNRESET || ret == -ENOMEM)
			return ret;
		bound += ret == 0;
	}
	return bound;
}

/* Every packet the guest wrote has been read by the host.  Before a
 * reboot: the shutdown IC's answer sits in the ring with a signal, and the
 * host reads it asynchronously, while UNLOAD is served at once. */
static bool agent_rings_drained(struct guest *g, void *arg)
{
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		const struct guest_channel *ch = g->chan[relid];

		if (ch && ch->open && ch->out.hdr && !ch->out.broken &&
		    __atomic_load_n(&ch->out.hdr->read_index, __ATOMIC_ACQUIRE) != ch->out.priv_index)
			return false;
	}
	return true;
}

/* guest_wait() sleeps in the interrupt poll: nothing wakes it for stdin
 * or for the host reading a ring, so it runs in short slices. */
#define AGENT_SLICE_MS 5

static void agent_wait_drained(struct guest *g)
{
	for (int waited = 0; waited < 1000 && !agent_rings_drained(g, NULL); waited += AGENT_SLICE_MS)
		if (guest_wait(g, agent_rings_drained, NULL, AGENT_SLICE_MS) == -ECONNRESET)
			break;
}

/* A boot: connect, offers, bind.  The markers a real guest's init prints. */
static int agent_boot(struct agent *ag)
{
	struct guest *g = ag->g;
	char v[16];
	int ret, n;

	agent_marker("init synthetic");
	memset(ag->bound, 0, sizeof(ag->bound));
	memset(ag->held, 0, sizeof(ag->held));
	ret = guest_vmbus_connect(g);
	if (ret)
		return ret;
	agent_marker("vmbus-version %s", guest_version_str(g->version, v));
	ret = guest_vmbus_request_offers(g);
	if (ret)
		return ret;
	n = agent_bind_all(ag);
	if (n < 0)
		return n;
	agent_marker("devices %d", n);
	agent_marker("ready");
	return 0;
}

static bool agent_wake(struct guest *g, void *arg)
{
	struct agent *ag = arg;
	struct pollfd p = { .fd = 0, .events = POLLIN };

	if (ag->shutdown)
		return true;
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		const struct guest_channel *ch = g->chan[relid];

		if (ch && !ch->open && !ch->rescinded && !ag->held[relid] &&
		    !ch->offer.sub_channel_index && g->all_offers)
			return true;
	}
	return !ag->eof && poll(&p, 1, 0) > 0;
}

static struct guest_channel *agent_channel(struct agent *ag, const char *word)
{
	char *end;
	unsigned long relid = strtoul(word ? word : "", &end, 10);

	if (!word || *end || relid == 0 || relid > VMBUS_MAX_RELID)
		return NULL;
	return ag->g->chan[relid];
}

/* `io DRIVER ...`: the agent's ring-only bindings of that class are
 * closed (a driver's remove), the real driver runs on fresh channels, and
 * the main loop binds them again afterwards.  Whatever the host sent, the
 * worst outcome is a broken channel: the driver reports it and closes. */
static int agent_io(struct agent *ag, int argc, char **argv)
{
	const char *cls = guest_agent_io_class(argv[0]);
	bool mine[VMBUS_MAX_RELID + 1] = { false };
	struct guest *g = ag->g;
	int rc = 0;

	if (!cls) {
		printf("@@OUT %u io: no driver %s (storvsc, netvsc)\n", ag->cmd_id, argv[0]);
		return 127;
	}
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct guest_channel *ch = g->chan[relid];

		if (!ch || ch->rescinded || ch->offer.sub_channel_index || strcmp(ch->class_str, cls))
			continue;
		if (ch->open && guest_channel_close(g, ch)) {
			rc = 2; /* the connection broke: nothing to drive */
			break;
		}
		if (ag->bound[relid])
			agent_marker("unbound %s {%s} %s", ch->instance_str, ch->class_str,
				     agent_driver(ch));
		ag->bound[relid] = false;
		mine[relid] = !ag->held[relid];
		ag->held[relid] = true;
	}
	if (!rc)
		rc = guest_agent_io(g, argc, argv);
	if (rc == 127)
		printf("@@OUT %u usage: io storvsc [wait=MS] STEP... | io netvsc [frames=N] "
		       "[size=B] [hold=MS] [wait=MS]\n", ag->cmd_id);
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++)
		if (mine[relid])
			ag->held[relid] = false;
	return g->att.dead ? 2 : rc;
}

/* One command; its status (0 success). */
static int agent_command(struct agent *ag, int argc, char **argv)
{
	struct guest *g = ag->g;
	struct guest_channel *ch;
	uint64_t vp;
	int ret;

	if (!strcmp(argv[0], "ping") && argc == 1) {
		ret = guest_attach_msr_read(&g->att, 0, HV_MSR_VP_INDEX, &vp);
		printf("@@OUT %u %s\n", ag->cmd_id, ret ? strerror(-ret) : "alive");
		return ret ? 1 : 0;
	}
	if ((!strcmp(argv[0], "unbind") || !strcmp(argv[0], "bind")) && argc == 2) {
		ch = agent_channel(ag, argv[1]);
		if (!ch || ch->rescinded) {
			printf("@@OUT %u no channel %s\n", ag->cmd_id, argv[1]);
			return 1;
		}
		if (!strcmp(argv[0], "unbind")) {
			ag->held[ch->relid] = true;
			if (!ch->open)
				return 0;
			ret = guest_channel_close(g, ch);
			if (!ret) {
				ag->bound[ch->relid] = false;
				agent_marker("unbound %s {%s} %s", ch->instance_str, ch->class_str,
					     agent_driver(ch));
			}
			return ret ? 1 : 0;
		}
		ag->held[ch->relid] = false;
		return ch->open ? 0 : agent_bind(ag, ch) ? 1 : 0;
	}
	if (!strcmp(argv[0], "io") && argc >= 2)
		return agent_io(ag, argc - 1, argv + 1);
	if (!strcmp(argv[0], "hostile") && argc >= 2)
		return guest_raw_run_words(g, argc - 1, argv + 1) == 0 ? 0 : 1;
	printf("@@OUT %u unknown command %s\n", ag->cmd_id, argv[0]);
	return 127;
}

/* "@@CMD ID WORDS..." lines from stdin. */
static void agent_read_commands(struct agent *ag)
{
	ssize_t n = read(0, ag->in + ag->in_len, sizeof(ag->in) - 1 - ag->in_len);
	char *line, *nl;

	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			ag->eof = true;
		return;
	}
	ag->in_len += (size_t)n;
	ag->in[ag->in_len] = '\0';
	line = ag->in;
	while ((nl = strchr(line, '\n')) != NULL) {
		char *words[AGENT_MAX_WORDS], *save = NULL, *w;
		unsigned int id;
		int argc = 0, rc;

		*nl = '\0';
		if (sscanf(line, "@@CMD %u", &id) == 1) {
			strtok_r(line, " ", &save); /* @@CMD */
			strtok_r(NULL, " ", &save); /* ID */
			while (argc < AGENT_MAX_WORDS && (w = strtok_r(NULL, " ", &save)) != NULL)
				words[argc++] = w;
			ag->cmd_id = id;
			rc = argc ? agent_command(ag, argc, words) : 127;
			ag->cmd_id = 0;
			agent_marker("done %u %d", id, rc);
		}
		line = nl + 1;
	}
	ag->in_len = strlen(line);
	memmove(ag->in, line, ag->in_len + 1);
	if (ag->in_len == sizeof(ag->in) - 1)
		ag->in_len = 0; /* a line longer than any command: dropped */
}

int guest_agent_main(const struct guest_opts *opts)
{
	struct agent *ag = calloc(1, sizeof(*ag));
	struct guest_opts o = *opts;
	int ret;

	if (!ag)
		return 2;
	ag->g = calloc(1, sizeof(*ag->g));
	if (!ag->g) {
		free(ag);
		return 2;
	}
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	o.quiet = true; /* events go out as @@OUT lines of the running command */
	ret = guest_open(ag->g, &o);
	if (!ret) {
		ag->g->on_event = agent_on_event;
		ag->g->on_event_opaque = ag;
		ret = agent_boot(ag);
	}
	while (!ret) {
		ret = guest_wait(ag->g, agent_wake, ag, AGENT_SLICE_MS);
		if (ret == -ETIMEDOUT)
			ret = 0;
		if (ret)
			break;
		if (ag->shutdown && !strcmp(ag->shutdown, "poweroff")) {
			agent_wait_drained(ag->g);
			agent_marker("poweroff");
			break;
		}
		if (ag->shutdown) {
			ag->shutdown = NULL;
			agent_wait_drained(ag->g);
			ret = guest_vmbus_unload(ag->g);
			if (!ret)
				ret = guest_reboot(ag->g);
			if (!ret)
				ret = agent_boot(ag);
			continue;
		}
		if (ag->g->all_offers && agent_bind_all(ag) < 0)
			ret = -EIO;
		agent_read_commands(ag);
		if (ag->eof)
			break;
	}
	if (ret)
		log_error("agent: %s", strerror(-ret));
	guest_close(ag->g, true);
	free(ag->g);
	free(ag);
	return ret ? 2 : 0;
}
