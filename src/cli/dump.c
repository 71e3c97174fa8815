/* SPDX-License-Identifier: MIT */
/* `vmbusd dump FILE...`: decode captures written by --trace. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "trace/trace.h"

static void dump_usage(FILE *f)
{
	fputs("usage: vmbusd dump FILE... [-v] [--relid N] [--device NAME] [--type T]\n"
	      "  -v, --verbose    the field tree of every record under its line\n"
	      "  --relid N        only records of channel N\n"
	      "  --device NAME    only records of channels of one protocol: storvsc, netvsc,\n"
	      "                   heartbeat, shutdown, timesync, kvp, vss, fcopy, bench\n"
	      "  --type T         an event (msg_in, msg_out, pkt_in, pkt_out, gpadl_create,\n"
	      "                   gpadl_teardown, signal_in, signal_out, interrupt, msr_write,\n"
	      "                   attach, reset, detach, data_in, data_out) or a decoded name\n"
	      "                   (OPENCHANNEL, EXECUTE_SRB, WRITE(10), KVPEXCHANGE, ...)\n"
	      "Give FILE.1 before FILE to read a rotated capture in order.\n"
	      "Exit status: 0 ok, 1 a file is truncated or corrupt (records before the damage\n"
	      "are printed), 2 not a vmbusd capture or usage error.\n",
	      f);
}

int cli_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "relid", required_argument, NULL, 'r' },
		{ "device", required_argument, NULL, 'd' },
		{ "type", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct trace_dump_opts o = { .relid = -1 };
	int opt, rc = 0;
	char *end;

	while ((opt = getopt_long(argc, argv, "vr:d:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'v': o.verbose = true; break;
		case 'r':
			o.relid = strtol(optarg, &end, 0);
			if (*end || o.relid < 0 || o.relid > 0xFFFFFFFFll) {
				fprintf(stderr, "vmbusd dump: --relid: \"%s\" is not a relid\n", optarg);
				return 2;
			}
			break;
		case 'd': o.device = optarg; break;
		case 't': o.type = optarg; break;
		case 'h': dump_usage(stdout); return 0;
		default: dump_usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		dump_usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		int r = trace_dump_file(argv[i], &o, stdout, stderr);

		rc = r > rc ? r : rc;
	}
	return rc;
}

int cli_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "control", required_argument, NULL, 'c' },
		{ "session", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "edit", required_argument, NULL, 'e' },
		{ "pace", required_argument, NULL, 'p' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		CLI_TRACE_LONGOPTS,
		{ 0 },
	};
	struct trace_replay_opts o = { 0 };
	struct trace_opts topts = { 0 };
	const char *usage =
		"usage: vmbusd replay FILE --socket PATH [--control PATH] [--session N] [--timeout S]\n"
		"                     [--edit RULES.json] [--pace PERCENT]\n"
		"  plays the host side of a capture against a new guest attaching on PATH:\n"
		"  the captured offers are made again and each channel answers the guest\n"
		"  with the captured host packets; reports the first divergence.\n"
		"  --session N   the N-th attach of the capture (default 1)\n"
		"  --timeout S   give up after S seconds (default 60)\n"
		"  --edit RULES  {\"edits\": [{\"record\": N, \"action\": \"drop\"},\n"
		"                 {\"record\": N, \"action\": \"patch\", \"offset\": K, \"hex\": \"..\"},\n"
		"                 {\"record\": N, \"action\": \"insert\", \"dir\": \"out\", \"hex\": \"..\"}]}\n"
		"                records as `vmbusd dump -v` numbers them; offsets count from the\n"
		"                packet descriptor (in a data_out record: from its first byte);\n"
		"                an insert goes before record N on its channel\n"
		"  --pace P      captured pauses before host-initiated packets at P % (default 100;\n"
		"                0: none)\n"
		"  --trace FILE  capture the replayed session too (and --trace-max-mb, --trace-snap)\n"
		"Exit status: 0 every channel played to its end, 1 divergence, 2 error, 3 timeout.\n";
	int opt;

	o.pace_percent = 100;
	while ((opt = getopt_long(argc, argv, "s:c:n:t:e:p:l:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': o.socket = optarg; break;
		case 'c': o.control = optarg; break;
		case 'n': o.session = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': o.timeout_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'e': o.edit = optarg; break;
		case 'p': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || end == optarg || v > 10000) {
				fprintf(stderr, "vmbusd replay: --pace %s: a percentage, 0..10000\n", optarg);
				return 2;
			}
			o.pace_percent = (unsigned)v;
			break;
		}
		case 'l':
			if (cli_set_log_level("replay", optarg))
				return 2;
			break;
		case 'h': fputs(usage, stdout); return 0;
		case CLI_OPT_TRACE: case CLI_OPT_TRACE_MAX_MB: case CLI_OPT_TRACE_SNAP:
			if (cli_trace_option("replay", opt, optarg, &topts))
				return 2;
			break;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!o.socket || optind != argc - 1) {
		fputs(usage, stderr);
		return 2;
	}
	o.path = argv[optind];
	signal(SIGPIPE, SIG_IGN);
	if (cli_trace_start("replay", &topts))
		return 2;
	opt = trace_replay(&o, stdout, stderr);
	trace_writer_stop(NULL);
	return opt;
}

/* The --trace options shared by serve, run and bench. */
int cli_trace_option(const char *cmd, int opt, const char *arg, struct trace_opts *t)
{
	char *end;
	unsigned long long v;

	switch (opt) {
	case CLI_OPT_TRACE:
		t->path = arg;
		return 0;
	case CLI_OPT_TRACE_MAX_MB:
	case CLI_OPT_TRACE_SNAP:
		v = strtoull(arg, &end, 10);
		if (*end || !*arg || v > (opt == CLI_OPT_TRACE_SNAP ? 0xFFFFFFFFull : 1ull << 20)) {
			fprintf(stderr, "vmbusd %s: --trace-%s: \"%s\" is not a number in range\n", cmd,
				opt == CLI_OPT_TRACE_SNAP ? "snap" : "max-mb", arg);
			return -1;
		}
		if (opt == CLI_OPT_TRACE_SNAP)
			t->snap = (uint32_t)v;
		else
			t->max_bytes = v << 20;
		return 0;
	default:
		return -1;
	}
}

int cli_trace_start(const char *cmd, const struct trace_opts *t)
{
	struct json_err err = { "" };

	if (!t->path)
		return 0;
	if (trace_writer_start(t, &err)) {
		fprintf(stderr, "vmbusd %s: %s\n", cmd, err.msg);
		return -1;
	}
	return 0;
}
