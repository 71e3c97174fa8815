/* SPDX-License-Identifier: MIT */
/*
 * vmbus-guest: the synthetic guest as a command-line tool.  One JSON event
 * per line on stdout, logs on stderr.  Exit status: 0 success, 1 usage,
 * 2 failure (attach, protocol, daemon gone), 3 a `run` condition was not
 * met in time, 4 a `storvsc` step failed its verification.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guid.h"
#include "core/log.h"
#include "core/util.h"
#include "guest/guest.h"
#include "guest/guest_agent.h"
#include "guest/guest_timers.h"
#include "guest/guest_bench.h"
#include "guest/guest_netvsc.h"
#include "guest/guest_raw.h"
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
	"  --fcopy-root DIR      run the fcopy daemon with DIR as its \"/\" (else: no daemon)\n"
	"  --fcopy-max-bytes N   fcopy writes past N bytes fail: disk full\n"
	"  --monitor-hypercall   signal monitored channels with HvSignalEvent, not the\n"
	"                        monitor page (Linux's low_latency channels)\n"
	"  --no-monitor-pages    propose monitor pages at GPA 0 (the host must refuse them)\n"
	"  --first-gpadl N       first GPADL handle (default Linux's 0xE1E10)\n"
	"  --verbose             debug logs on stderr\n"
	"commands:\n"
	"  negotiate                         negotiate, list offers, unload\n"
	"  agent                             the scenario engine's synthetic guest: binds every\n"
	"                                    channel, then @@CMD lines on stdin: ping, bind, unbind,\n"
	"                                    hostile, io storvsc|netvsc (guest_agent.c)\n"
	"  run [--until-heartbeats N] [--until-shutdown] [--duration S]\n"
	"      [--exit-after-event NAME]     open and serve every known IC channel\n"
	"  raw-msg [FILE...] [--offers] [--channel|--open CLASS|NAME] [--gpadl PAGES]\n"
	"      [--patch-u32 [N:]OFF=V] [--conn-id N] [--message-type N] [--payload-size N]\n"
	"                                    post each FILE as one channel message\n"
	"  raw-hcall --control HEX [--input FILE|--input-hex HEX|--input-gpa GPA|--fast Q0,Q1]\n"
	"                                    issue one hypercall, print its HV status\n"
	"  raw-ring --open CLASS|NAME [FILE...] [--frame ...] [--set [h2g.]FIELD=N]\n"
	"                                    bytes or a packet into a channel's ring, a\n"
	"                                    ring-header field overwritten; then a signal\n"
	"                                    (--help-raw: every option of the raw modes)\n"
	"  reboot-cycle N                    negotiate, open ICs, unload, reset; N times\n"
	"  timers                            TSC page, stimer message/direct mode; costs\n"
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
	/* raw-msg, raw-hcall, raw-ring */
	struct guest_raw_args raw;
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

static int cmd_timers(struct cli *c)
{
	struct guest_timers_result r;
	struct guest g;
	json_t *o;
	int ret;

	if (guest_open(&g, &c->opts))
		return EXIT_FAIL;
	ret = guest_timers_run(&g, &r);
	o = guest_timers_json(&r);
	if (o) {
		char *s = json_dumps(o, JSON_COMPACT);

		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(o);
	}
	guest_close(&g, true);
	if (!ret && (!r.tsc_page_valid || !r.oneshot_ok || (r.direct_mode && !r.periodic_irqs)))
		ret = -EIO;
	return fail_code(ret);
}

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
	enum { O_SOCKET = 256, O_VCPUS, O_MEM, O_MAXVER, O_TIMEOUT, O_RAWMSG, O_KVPGET, O_FCROOT, O_FCMAX, O_VERBOSE, O_FIRST_GPADL,
	       O_UNTIL_HB, O_UNTIL_SD, O_DURATION, O_EXIT_AFTER, O_WAIT, O_RING_KIB, O_SIZE, O_COUNT,
	       O_DIR, O_TVP, O_SUBCH, O_QD, O_HELP_SC, O_HELP_RAW, O_HELP, O_NVSP_VER, O_FRAMES, O_FRAME_SIZE,
	       O_MON_HCALL, O_NO_MON };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "vcpus", required_argument, NULL, O_VCPUS },
		{ "mem", required_argument, NULL, O_MEM },
		{ "max-version", required_argument, NULL, O_MAXVER },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "raw-messages", no_argument, NULL, O_RAWMSG },
		{ "kvp-get-value", no_argument, NULL, O_KVPGET },
		{ "fcopy-root", required_argument, NULL, O_FCROOT },
		{ "fcopy-max-bytes", required_argument, NULL, O_FCMAX },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ "first-gpadl", required_argument, NULL, O_FIRST_GPADL },
		{ "until-heartbeats", required_argument, NULL, O_UNTIL_HB },
		{ "until-shutdown", no_argument, NULL, O_UNTIL_SD },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "exit-after-event", required_argument, NULL, O_EXIT_AFTER },
		{ "wait-ms", required_argument, NULL, O_WAIT },
		{ "ring-kib", required_argument, NULL, O_RING_KIB },
		{ "size", required_argument, NULL, O_SIZE },
		{ "count", required_argument, NULL, O_COUNT },
		{ "direction", required_argument, NULL, O_DIR },
		{ "target-vp", required_argument, NULL, O_TVP },
		{ "subchannels", required_argument, NULL, O_SUBCH },
		{ "queue-depth", required_argument, NULL, O_QD },
		{ "help-storvsc", no_argument, NULL, O_HELP_SC },
		{ "help-raw", no_argument, NULL, O_HELP_RAW },
		{ "nvsp-version", required_argument, NULL, O_NVSP_VER },
		{ "frames", required_argument, NULL, O_FRAMES },
		{ "frame-size", required_argument, NULL, O_FRAME_SIZE },
		{ "monitor-hypercall", no_argument, NULL, O_MON_HCALL },
		{ "no-monitor-pages", no_argument, NULL, O_NO_MON },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	/* The tool's options, then the raw modes' (guest_raw_opts.c), in one
	 * getopt loop: any option may stand anywhere on the line. */
	static struct option all_opts[ARRAY_SIZE(longopts) + 64];
	struct cli c = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	const char *cmd;
	int opt;

	log_set_ident("vmbus-guest");
	c.opts.n_vcpus = 2;
	c.opts.mem_bytes = 64ull << 20;
	c.opts.timeout_ms = 10000;
	guest_raw_args_init(&c.raw);
	c.subchannels = -1;
	{
		size_t n = ARRAY_SIZE(longopts) - 1, k = 0;

		memcpy(all_opts, longopts, n * sizeof(longopts[0]));
		while (guest_raw_options[k].name && n + 1 < ARRAY_SIZE(all_opts))
			all_opts[n++] = guest_raw_options[k++];
	}
	while ((opt = getopt_long(argc, argv, "hv", all_opts, NULL)) != -1) {
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
		case O_FCROOT: c.opts.fcopy_root = optarg; break;
		case O_FCMAX: c.opts.fcopy_max_bytes = strtoull(optarg, NULL, 0); break;
		case O_MON_HCALL: c.opts.monitor_hypercall = true; break;
		case O_NO_MON: c.opts.no_monitor_pages = true; break;
		case O_FIRST_GPADL: c.opts.first_gpadl = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'v':
		case O_VERBOSE: log_set_level(LOG_DEBUG); break;
		case O_UNTIL_HB: c.until_heartbeats = strtoull(optarg, NULL, 0); break;
		case O_UNTIL_SD: c.until_shutdown = true; break;
		case O_DURATION: c.duration = strtod(optarg, NULL); break;
		case O_EXIT_AFTER: c.exit_event = optarg; break;
		case O_WAIT: c.raw.wait_ms = (int)strtol(optarg, NULL, 0); break;
		case O_RING_KIB: c.ring_kib = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_SIZE: c.size = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_COUNT: c.count = strtoull(optarg, NULL, 0); break;
		case O_DIR: c.direction = optarg; break;
		case O_TVP: c.target_vp = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_SUBCH: c.subchannels = (int)strtol(optarg, NULL, 0); break;
		case O_QD: c.queue_depth = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_HELP_SC: fputs(guest_storvsc_usage, stdout); return EXIT_OK;
		case O_HELP_RAW: fputs(guest_raw_usage, stdout); return EXIT_OK;
		case O_NVSP_VER: c.netvsc.nvsp_version = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_FRAMES: c.netvsc.frames = (uint32_t)strtoul(optarg, NULL, 0); break;
		case O_FRAME_SIZE: c.netvsc.frame_size = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'h':
		case O_HELP: fputs(usage_text, stdout); return EXIT_OK;
		default:
			if (opt >= GUEST_RAW_OPT_BASE) {
				if (guest_raw_option(&c.raw, opt, optarg))
					return EXIT_USAGE;
				break;
			}
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc || !c.opts.socket) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (c.opts.n_vcpus < 1 || c.opts.n_vcpus > ATTACH_MAX_VCPUS || c.opts.mem_bytes < (1ull << 20) ||
	    c.opts.timeout_ms <= 0 || c.raw.wait_ms < 0) {
		log_error("bad --vcpus (1..%u), --mem (>= 1), --timeout or --wait-ms", ATTACH_MAX_VCPUS);
		return EXIT_USAGE;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	cmd = argv[optind];
	if (!strcmp(cmd, "negotiate") && optind + 1 == argc)
		return cmd_negotiate(&c);
	if (!strcmp(cmd, "agent") && optind + 1 == argc)
		return guest_agent_main(&c.opts);
	if (!strcmp(cmd, "run") && optind + 1 == argc)
		return cmd_run(&c);
	if (!strcmp(cmd, "raw-msg") || !strcmp(cmd, "raw-hcall") || !strcmp(cmd, "raw-ring")) {
		c.raw.ring_kib = c.ring_kib;
		return guest_raw_main(cmd, &c.raw, &c.opts, argc - optind - 1, argv + optind + 1);
	}
	if (!strcmp(cmd, "reboot-cycle") && optind + 2 == argc)
		return cmd_reboot_cycle(&c, argv[optind + 1]);
	if (!strcmp(cmd, "bench") && optind + 1 == argc)
		return cmd_bench(&c);
	if (!strcmp(cmd, "timers") && optind + 1 == argc)
		return cmd_timers(&c);
	if (!strcmp(cmd, "storvsc"))
		return cmd_storvsc(&c, argc - optind - 1, argv + optind + 1);
	if (!strcmp(cmd, "netvsc") && optind + 1 == argc)
		return cmd_netvsc(&c);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}
