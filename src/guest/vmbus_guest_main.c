/* SPDX-License-Identifier: MIT */
/*
 * vmbus-guest: the synthetic guest as a command-line tool.  One JSON event
 * per line on stdout, logs on stderr.  Exit status: 0 success, 1 usage,
 * 2 failure (attach, protocol, daemon gone), 3 a `run` condition was not
 * met in time, 4 a `storvsc` step failed its verification.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/guid.h"
#include "core/log.h"
#include "core/util.h"
#include "guest/guest.h"
#include "guest/guest_bench.h"
#include "guest/guest_netvsc.h"
#include "guest/guest_storvsc.h"

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_FAIL = 2, EXIT_TIMEOUT = 3, EXIT_VERIFY = 4 };

static const char usage_text[] =
	"usage: vmbus-guest --socket PATH [options] COMMAND [args]\n"
	"options:\n"
	"  --socket PATH         the daemon's plugin socket (vmbusd serve --socket)\n"
	"  --vcpus N             vCPUs (default 2)\n"
	"  --mem MIB             guest RAM in MiB (default 64)\n"
	"  --max-version X.Y     highest VMBus version to propose (default 5.3)\n"
	"  --timeout S           bound of every protocol wait (default 10)\n"
	"  --raw-messages        also print every host message as a \"message\" event\n"
	"  --kvp-get-value       KVP GET returns the stored value (Linux returns \"\")\n"
	"  --verbose             debug logs on stderr\n"
	"commands:\n"
	"  negotiate                         negotiate, list offers, unload\n"
	"  run [--until-heartbeats N] [--until-shutdown] [--duration S]\n"
	"      [--exit-after-event NAME]     open and serve every known IC channel\n"
	"  raw-msg FILE [--no-negotiate] [--conn-id N] [--message-type N]\n"
	"      [--payload-size N] [--wait-ms N]   post FILE as one channel message\n"
	"  raw-ring --class GUID FILE [--wait-ms N] [--ring-kib K]\n"
	"                                    write FILE raw into a channel's ring\n"
	"  reboot-cycle N                    negotiate, open ICs, unload, reset; N times\n"
	"  bench --size S --count N --direction g2h|h2g [--ring-kib K] [--target-vp N]\n"
	"  storvsc [--subchannels N] [--queue-depth Q] STEP...\n"
	"                                    drive the first SCSI controller like hv_storvsc;\n"
	"                                    one JSON line per step, exit 4 at the first\n"
	"                                    failed verification (--help-storvsc: the steps)\n"
	"  netvsc [--nvsp-version V] [--frames N] [--frame-size B] [--subchannels N]\n"
	"                                    bring up every synthetic NIC like hv_netvsc (NVSP V,\n"
	"                                    e.g. 0x50000; default Linux's list) and send N frames\n"
	"                                    from each NIC to the next; exit 4 if one is lost\n";

struct cli {
	struct guest_opts opts;
	/* run */
	uint64_t until_heartbeats;
	bool until_shutdown;
	double duration;
	const char *exit_event;
	/* raw */
	bool no_negotiate;
	int64_t conn_id;
	uint32_t message_type;
	int64_t payload_size;
	int wait_ms;
	const char *class_str;
	uint32_t ring_kib;
	/* bench */
	uint32_t size;
	uint64_t count;
	const char *direction;
	uint32_t target_vp;
	/* storvsc */
	int subchannels;
	uint32_t queue_depth;
	/* netvsc */
	struct guest_netvsc_params netvsc;
};

static void on_signal(int sig)
{
	guest_interrupted = 1;
}

static int parse_version(const char *s, uint32_t *out)
{
	unsigned int maj, min;
	char extra;

	if (sscanf(s, "%u.%u%c", &maj, &min, &extra) != 2 || maj > 0xFFFF || min > 0xFFFF)
		return -EINVAL;
	*out = VMBUS_VERSION(maj, min);
	return 0;
}

static int read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	*len = 0;
	while ((n = read(fd, buf + *len, cap - *len)) > 0)
		*len += (size_t)n;
	if (n == 0 && *len == cap) {
		uint8_t extra;

		if (read(fd, &extra, 1) > 0)
			n = -2;
	}
	close(fd);
	if (n == -2)
		return -EFBIG;
	return n < 0 ? -errno : 0;
}

static int fail_code(int ret)
{
	return ret == 0 ? EXIT_OK : EXIT_FAIL;
}

/* ---- negotiate ----------------------------------------------------------- */

static int cmd_negotiate(struct cli *c)
{
	struct guest g;
	int ret = guest_open(&g, &c->opts);

	if (ret)
		return EXIT_FAIL;
	ret = guest_vmbus_connect(&g);
	if (!ret)
		ret = guest_vmbus_request_offers(&g);
	if (!ret)
		ret = guest_vmbus_unload(&g);
	guest_close(&g, true);
	return fail_code(ret);
}

/* ---- run ------------------------------------------------------------------ */

struct run_state {
	struct cli *c;
	uint64_t heartbeats;
	bool met;
};

static void run_on_event(struct guest *g, const char *name, json_t *ev, void *opaque)
{
	struct run_state *rs = opaque;

	if (!strcmp(name, "heartbeat") && rs->c->until_heartbeats &&
	    ++rs->heartbeats >= rs->c->until_heartbeats)
		rs->met = true;
	if (!strcmp(name, "shutdown") && rs->c->until_shutdown)
		rs->met = true;
	if (rs->c->exit_event && !strcmp(name, rs->c->exit_event))
		rs->met = true;
}

/* The run condition held and no IC is half-way through its negotiation:
 * an IC opened before the condition was met answers NEGOTIATE first, so
 * the output always says how each IC negotiated, however loaded the host. */
static bool run_finished(struct guest *g, const struct run_state *rs)
{
	if (!rs->met)
		return false;
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++)
		if (g->chan[relid] && guest_ic_negotiating(g->chan[relid]))
			return false;
	return true;
}

static bool run_done(struct guest *g, void *arg)
{
	struct run_state *rs = arg;

	if (run_finished(g, rs))
		return true;
	/* A late offer of a known IC: probe it like a driver would. */
	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct guest_channel *ch = g->chan[relid];

		if (ch && !ch->open && !ch->rescinded && guest_ic_known(ch))
			return true;
	}
	return false;
}

static int cmd_run(struct cli *c)
{
	struct run_state rs = { .c = c };
	bool has_until = c->until_heartbeats || c->until_shutdown || c->exit_event;
	uint64_t deadline = 0;
	struct guest g;
	int ret, code = EXIT_OK;

	if (c->duration > 0)
		deadline = now_ns() + (uint64_t)(c->duration * 1e9);
	else if (has_until)
		deadline = now_ns() + (uint64_t)c->opts.timeout_ms * 1000000ull;
	ret = guest_open(&g, &c->opts);
	if (ret)
		return EXIT_FAIL;
	g.on_event = run_on_event;
	g.on_event_opaque = &rs;
	ret = guest_vmbus_connect(&g);
	if (!ret)
		ret = guest_vmbus_request_offers(&g);
	if (!ret) {
		int n = guest_ic_open_all(&g);

		ret = n < 0 ? n : 0;
	}
	while (!ret && !run_finished(&g, &rs)) {
		int slice = 1000;

		if (deadline) {
			uint64_t now = now_ns();

			if (now >= deadline) {
				ret = -ETIMEDOUT;
				break;
			}
			slice = (int)MIN((deadline - now + 999999) / 1000000, (uint64_t)1000);
		}
		ret = guest_wait(&g, run_done, &rs, slice);
		if (ret == -ETIMEDOUT)
			ret = 0;
		if (!ret && !run_finished(&g, &rs)) {
			int n = guest_ic_open_all(&g);

			ret = n < 0 ? n : 0;
		}
	}
	if (ret == -ETIMEDOUT) {
		if (has_until) {
			guest_error(&g, "timeout", "run condition not met in time");
			code = EXIT_TIMEOUT;
		}
	} else if (ret == -EINTR) {
		code = EXIT_OK; /* SIGINT/SIGTERM: an orderly stop */
		guest_interrupted = 0;
	} else if (ret) {
		code = EXIT_FAIL;
	}
	guest_close(&g, true);
	return code;
}

/* ---- raw-msg ---------------------------------------------------------------- */

static bool never(struct guest *g, void *arg)
{
	return false;
}

static void report_alive(struct guest *g, bool *alive)
{
	uint64_t v;
	int ret = g->att.dead ? -ECONNRESET : guest_attach_msr_read(&g->att, 0, HV_MSR_VP_INDEX, &v);

	*alive = ret == 0 || ret == -EPERM;
	guest_emit(g, json_pack("{s:s, s:b}", "event", "alive", "ok", *alive));
}

static int cmd_raw_msg(struct cli *c, const char *file)
{
	uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
	uint64_t status;
	size_t len;
	struct guest g;
	bool alive;
	uint32_t conn_id, psize;
	int ret;

	ret = read_file(file, payload, sizeof(payload), &len);
	if (ret) {
		log_error("%s: %s (at most 240 bytes; use --payload-size to claim more)", file, strerror(-ret));
		return EXIT_USAGE;
	}
	if (guest_open(&g, &c->opts))
		return EXIT_FAIL;
	if (!c->no_negotiate) {
		ret = guest_vmbus_connect(&g);
		if (ret) {
			guest_close(&g, true);
			return EXIT_FAIL;
		}
	}
	conn_id = c->conn_id >= 0 ? (uint32_t)c->conn_id
				  : (g.connected ? g.msg_conn_id : VMBUS_MESSAGE_CONNECTION_ID);
	psize = c->payload_size >= 0 ? (uint32_t)c->payload_size : (uint32_t)len;
	g.opts.raw_messages = true;
	ret = guest_vmbus_post_raw(&g, conn_id, c->message_type, psize, payload, (uint32_t)len, &status);
	if (ret) {
		guest_error(&g, "raw-msg", "hypercall failed: %s", strerror(-ret));
	} else {
		guest_emit(&g, json_pack("{s:s, s:I, s:i, s:i, s:i}", "event", "post", "status",
					 (json_int_t)status, "conn_id", (json_int_t)conn_id, "payload_size",
					 (json_int_t)psize, "bytes", (json_int_t)len));
		guest_wait(&g, never, NULL, c->wait_ms);
	}
	report_alive(&g, &alive);
	guest_close(&g, true);
	return alive && !ret ? EXIT_OK : EXIT_FAIL;
}

/* ---- raw-ring --------------------------------------------------------------- */

static void raw_print_packets(struct guest *g, struct guest_channel *ch)
{
	struct guest_ring_pkt pkt;
	int ret;

	while ((ret = guest_channel_recv(g, ch, &pkt)) == 0 || ret == -EMSGSIZE) {
		char *hex;

		if (ret)
			continue;
		hex = guest_hex(pkt.payload, pkt.payload_len);
		guest_emit(g, json_pack("{s:s, s:i, s:i, s:i, s:I, s:i, s:i, s:s}", "event", "packet",
					"relid", (json_int_t)ch->relid, "type", (json_int_t)pkt.type,
					"flags", (json_int_t)pkt.flags, "trans_id", (json_int_t)pkt.trans_id,
					"len", (json_int_t)pkt.len, "offset", (json_int_t)pkt.offset,
					"hex", hex ? hex : ""));
		free(hex);
	}
}

static int cmd_raw_ring(struct cli *c, const char *file)
{
	struct guest_channel *ch;
	struct guid gid;
	char class_str[GUID_STR_LEN];
	uint8_t *bytes;
	size_t len;
	struct guest g;
	bool alive, sig = false;
	uint64_t status = 0;
	int ret;

	if (!c->class_str || guid_parse(c->class_str, &gid)) {
		log_error("raw-ring needs --class GUID");
		return EXIT_USAGE;
	}
	guid_format(&gid, class_str);
	bytes = malloc(1u << 20);
	if (!bytes)
		return EXIT_FAIL;
	ret = read_file(file, bytes, 1u << 20, &len);
	if (ret) {
		log_error("%s: %s", file, strerror(-ret));
		free(bytes);
		return EXIT_USAGE;
	}
	if (guest_open(&g, &c->opts)) {
		free(bytes);
		return EXIT_FAIL;
	}
	ret = guest_vmbus_connect(&g);
	if (!ret)
		ret = guest_vmbus_request_offers(&g);
	ch = ret ? NULL : guest_channel_find(&g, class_str, 0);
	if (!ret && !ch) {
		guest_error(&g, "raw-ring", "no channel of class %s offered", class_str);
		ret = -ENODEV;
	}
	if (!ret)
		ret = guest_channel_open(&g, ch, (c->ring_kib ? c->ring_kib : 16) * 1024u, 16384, 0);
	if (!ret) {
		ch->on_event = raw_print_packets;
		ret = guest_ring_send_raw(&ch->out, bytes, (uint32_t)MIN(len, (size_t)UINT32_MAX), &sig);
		if (ret) {
			guest_error(&g, "raw-ring", "%zu bytes do not fit the %u-byte ring: %s", len,
				    ch->out.size, strerror(-ret));
		} else {
			guest_emit(&g, json_pack("{s:s, s:i, s:i, s:b}", "event", "raw_written", "bytes",
						 (json_int_t)len, "write_index",
						 (json_int_t)ch->out.priv_index, "signal_needed", sig));
			/* Raw mode always kicks the host. */
			guest_attach_signal_event(&g.att, ch->target_vp, ch->conn_id, &status);
			ch->n_signals++;
			guest_wait(&g, never, NULL, c->wait_ms);
			if (ch->open)
				raw_print_packets(&g, ch);
			if (g.chan[ch->relid] == ch && ch->ring_gpa)
				guest_emit(&g, json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "event", "ring",
							 "g2h_read_index", (json_int_t)ch->out.hdr->read_index,
							 "g2h_write_index", (json_int_t)ch->out.hdr->write_index,
							 "h2g_read_index", (json_int_t)ch->in.hdr->read_index,
							 "h2g_write_index", (json_int_t)ch->in.hdr->write_index,
							 "g2h_interrupt_mask", (json_int_t)ch->out.hdr->interrupt_mask));
		}
	}
	free(bytes);
	report_alive(&g, &alive);
	guest_close(&g, true);
	return alive && !ret ? EXIT_OK : EXIT_FAIL;
}

/* ---- reboot-cycle ------------------------------------------------------------ */

struct cycle_state {
	uint64_t negotiated;
	uint64_t target;
};

static bool ics_negotiated(struct guest *g, void *arg)
{
	struct cycle_state *cs = arg;

	return cs->negotiated >= cs->target;
}

static void cycle_on_event(struct guest *g, const char *name, json_t *ev, void *opaque)
{
	if (!strcmp(name, "ic_negotiate"))
		((struct cycle_state *)opaque)->negotiated++;
}

static int cmd_reboot_cycle(struct cli *c, const char *count_str)
{
	char *end;
	unsigned long n = strtoul(count_str, &end, 0);
	struct cycle_state cs = { 0 };
	struct guest g;
	int ret = 0;

	if (*end || n == 0) {
		log_error("reboot-cycle needs a positive count");
		return EXIT_USAGE;
	}
	if (guest_open(&g, &c->opts))
		return EXIT_FAIL;
	g.on_event = cycle_on_event;
	g.on_event_opaque = &cs;
	for (unsigned long i = 1; i <= n && !ret; i++) {
		int opened;

		ret = guest_vmbus_connect(&g);
		if (!ret)
			ret = guest_vmbus_request_offers(&g);
		if (ret)
			break;
		cs.negotiated = 0; /* negotiations start while later channels open */
		opened = guest_ic_open_all(&g);
		if (opened < 0) {
			ret = opened;
			break;
		}
		/* Serve until every opened IC negotiated, or a short while. */
		cs.target = (uint64_t)opened;
		guest_wait(&g, ics_negotiated, &cs, MIN(c->opts.timeout_ms, 2000));
		/* Like kexec: UNLOAD without closing the channels first. */
		ret = guest_vmbus_unload(&g);
		if (ret)
			break;
		ret = guest_reboot(&g);
		guest_emit(&g, json_pack("{s:s, s:i, s:i, s:I, s:b}", "event", "cycle", "n", (json_int_t)i,
					 "opened", (json_int_t)opened, "negotiated", (json_int_t)cs.negotiated,
					 "ok", ret == 0));
	}
	guest_close(&g, true);
	return fail_code(ret);
}

/* ---- bench ------------------------------------------------------------------- */

static int cmd_bench(struct cli *c)
{
	struct guest_bench_params p = { 0 };
	struct guest_bench_result r;
	struct guest g;
	int ret;

	if (!c->size || !c->count || !c->direction ||
	    (strcmp(c->direction, "g2h") && strcmp(c->direction, "h2g"))) {
		log_error("bench needs --size S --count N --direction g2h|h2g");
		return EXIT_USAGE;
	}
	p.opts = c->opts;
	p.opts.quiet = true; /* one line: the result */
	p.size = c->size;
	p.count = c->count;
	p.h2g = !strcmp(c->direction, "h2g");
	p.ring_bytes = c->ring_kib * 1024u;
	p.target_vp = c->target_vp;
	if (guest_open(&g, &p.opts))
		return EXIT_FAIL;
	ret = guest_vmbus_connect(&g);
	if (!ret)
		ret = guest_vmbus_request_offers(&g);
	if (!ret)
		ret = guest_bench_run_on(&g, &p, &r);
	if (!ret) {
		g.opts.quiet = false;
		guest_emit(&g, guest_bench_json(&p, &r));
		g.opts.quiet = true;
	}
	guest_close(&g, true);
	return fail_code(ret);
}

/* ---- storvsc ----------------------------------------------------------------- */

static int cmd_storvsc(struct cli *c, int argc, char **argv)
{
	struct guest_storvsc_params p = { .subchannels = c->subchannels,
					  .queue_depth = c->queue_depth };
	struct guest g;
	int ret;

	if (argc == 0 || guest_storvsc_check_script(argc, argv)) {
		fputs(guest_storvsc_usage, stderr);
		return EXIT_USAGE;
	}
	if (guest_open(&g, &c->opts))
		return EXIT_FAIL;
	ret = guest_vmbus_connect(&g);
	if (!ret)
		ret = guest_vmbus_request_offers(&g);
	if (!ret)
		ret = guest_storvsc_run(&g, &p, argc, argv);
	guest_close(&g, true);
	return ret == GUEST_STORVSC_VERIFY_FAILED ? EXIT_VERIFY : fail_code(ret);
}

/* ---- netvsc ------------------------------------------------------------------ */

static int cmd_netvsc(struct cli *c)
{
	struct guest g;
	int ret;

	c->netvsc.subchannels = c->subchannels > 0 ? (uint32_t)c->subchannels : 0;
	if (guest_open(&g, &c->opts))
		return EXIT_FAIL;
	ret = guest_vmbus_connect(&g);
	if (!ret)
		ret = guest_vmbus_request_offers(&g);
	if (!ret)
		ret = guest_netvsc_run(&g, &c->netvsc);
	guest_close(&g, true);
	return ret == GUEST_NETVSC_VERIFY_FAILED ? EXIT_VERIFY : fail_code(ret);
}

int main(int argc, char **argv)
{
	enum { O_SOCKET = 256, O_VCPUS, O_MEM, O_MAXVER, O_TIMEOUT, O_RAWMSG, O_KVPGET, O_VERBOSE,
	       O_UNTIL_HB, O_UNTIL_SD, O_DURATION, O_EXIT_AFTER, O_NO_NEG, O_CONN_ID, O_MSG_TYPE,
	       O_PSIZE, O_WAIT, O_CLASS, O_RING_KIB, O_SIZE, O_COUNT, O_DIR, O_TVP, O_SUBCH, O_QD, O_HELP_SC, O_HELP, O_NVSP_VER, O_FRAMES, O_FRAME_SIZE };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "vcpus", required_argument, NULL, O_VCPUS },
		{ "mem", required_argument, NULL, O_MEM },
		{ "max-version", required_argument, NULL, O_MAXVER },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "raw-messages", no_argument, NULL, O_RAWMSG },
		{ "kvp-get-value", no_argument, NULL, O_KVPGET },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ "until-heartbeats", required_argument, NULL, O_UNTIL_HB },
		{ "until-shutdown", no_argument, NULL, O_UNTIL_SD },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "exit-after-event", required_argument, NULL, O_EXIT_AFTER },
		{ "no-negotiate", no_argument, NULL, O_NO_NEG },
		{ "conn-id", required_argument, NULL, O_CONN_ID },
		{ "message-type", required_argument, NULL, O_MSG_TYPE },
		{ "payload-size", required_argument, NULL, O_PSIZE },
		{ "wait-ms", required_argument, NULL, O_WAIT },
		{ "class", required_argument, NULL, O_CLASS },
		{ "ring-kib", required_argument, NULL, O_RING_KIB },
		{ "size", required_argument, NULL, O_SIZE },
		{ "count", required_argument, NULL, O_COUNT },
		{ "direction", required_argument, NULL, O_DIR },
		{ "target-vp", required_argument, NULL, O_TVP },
		{ "subchannels", required_argument, NULL, O_SUBCH },
		{ "queue-depth", required_argument, NULL, O_QD },
		{ "help-storvsc", no_argument, NULL, O_HELP_SC },
		{ "nvsp-version", required_argument, NULL, O_NVSP_VER },
		{ "frames", required_argument, NULL, O_FRAMES },
		{ "frame-size", required_argument, NULL, O_FRAME_SIZE },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	const char *cmd;
	int opt;

	log_set_ident("vmbus-guest");
	c.opts.n_vcpus = 2;
	c.opts.mem_bytes = 64ull << 20;
	c.opts.timeout_ms = 10000;
	c.conn_id = -1;
	c.payload_size = -1;
	c.message_type = HVMSG_VMBUS;
	c.wait_ms = 500;
	c.subchannels = -1;
	while ((opt = getopt_long(argc, argv, "hv", longopts, NULL)) != -1) {
		switch (opt) {
		case O_SOCKET: c.opts.socket = optarg; break;
		case O_VCPUS: c.opts.n_vcpus = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_MEM: c.opts.mem_bytes = strtoull(optarg, NULL, 0) << 20; break;
		case O_MAXVER:
			if (parse_version(optarg, &c.opts.max_version)) {
				log_error("--max-version wants X.Y");
				return EXIT_USAGE;
			}
			break;
		case O_TIMEOUT: c.opts.timeout_ms = (int)(strtod(optarg, NULL) * 1000.0); break;
		case O_RAWMSG: c.opts.raw_messages = true; break;
		case O_KVPGET: c.opts.kvp_get_value = true; break;
		case 'v':
		case O_VERBOSE: log_set_level(LOG_DEBUG); break;
		case O_UNTIL_HB: c.until_heartbeats = strtoull(optarg, NULL, 0); break;
		case O_UNTIL_SD: c.until_shutdown = true; break;
		case O_DURATION: c.duration = strtod(optarg, NULL); break;
		case O_EXIT_AFTER: c.exit_event = optarg; break;
		case O_NO_NEG: c.no_negotiate = true; break;
		case O_CONN_ID: c.conn_id = (int64_t)strtoul(optarg, NULL, 0); break;
		case O_MSG_TYPE: c.message_type = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_PSIZE: c.payload_size = (int64_t)strtoul(optarg, NULL, 0); break;
		case O_WAIT: c.wait_ms = (int)strtol(optarg, NULL, 0); break;
		case O_CLASS: c.class_str = optarg; break;
		case O_RING_KIB: c.ring_kib = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_SIZE: c.size = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_COUNT: c.count = strtoull(optarg, NULL, 0); break;
		case O_DIR: c.direction = optarg; break;
		case O_TVP: c.target_vp = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_SUBCH: c.subchannels = (int)strtol(optarg, NULL, 0); break;
		case O_QD: c.queue_depth = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_HELP_SC: fputs(guest_storvsc_usage, stdout); return EXIT_OK;
		case O_NVSP_VER: c.netvsc.nvsp_version = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_FRAMES: c.netvsc.frames = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_FRAME_SIZE: c.netvsc.frame_size = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'h':
		case O_HELP: fputs(usage_text, stdout); return EXIT_OK;
		default: fputs(usage_text, stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc || !c.opts.socket) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (c.opts.n_vcpus < 1 || c.opts.n_vcpus > ATTACH_MAX_VCPUS || c.opts.mem_bytes < (1ull << 20) ||
	    c.opts.timeout_ms <= 0 || c.wait_ms < 0) {
		log_error("bad --vcpus (1..%u), --mem (>= 1), --timeout or --wait-ms", ATTACH_MAX_VCPUS);
		return EXIT_USAGE;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	cmd = argv[optind];
	if (!strcmp(cmd, "negotiate") && optind + 1 == argc)
		return cmd_negotiate(&c);
	if (!strcmp(cmd, "run") && optind + 1 == argc)
		return cmd_run(&c);
	if (!strcmp(cmd, "raw-msg") && optind + 2 == argc)
		return cmd_raw_msg(&c, argv[optind + 1]);
	if (!strcmp(cmd, "raw-ring") && optind + 2 == argc)
		return cmd_raw_ring(&c, argv[optind + 1]);
	if (!strcmp(cmd, "reboot-cycle") && optind + 2 == argc)
		return cmd_reboot_cycle(&c, argv[optind + 1]);
	if (!strcmp(cmd, "bench") && optind + 1 == argc)
		return cmd_bench(&c);
	if (!strcmp(cmd, "storvsc"))
		return cmd_storvsc(&c, argc - optind - 1, argv + optind + 1);
	if (!strcmp(cmd, "netvsc") && optind + 1 == argc)
		return cmd_netvsc(&c);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}
