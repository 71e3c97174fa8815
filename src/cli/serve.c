/* SPDX-License-Identifier: MIT */
/* `vmbusd serve`: run the daemon on a socket until SIGINT/SIGTERM or "quit". */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "host/host.h"
#include "core/log.h"
#include "trace/trace.h"

static void serve_usage(FILE *f)
{
	fputs("usage: vmbusd serve --socket PATH [--config FILE] [--control PATH]\n"
	      "                    [--max-version X.Y] [--log-level error|warn|info|debug]\n"
	      "                    [--trace FILE [--trace-max-mb N] [--trace-snap N]]\n"
	      "  --socket PATH      plugin-protocol socket the frontend (QEMU, vmbus-guest) connects to\n"
	      "  --config FILE      devices to offer (JSON); default: heartbeat, shutdown, timesync, kvp\n"
	      "  --control PATH     control socket (default: PATH.ctl next to --socket)\n"
	      "  --max-version X.Y  highest VMBus version to accept (overrides vmbus.max_version)\n"
	      CLI_TRACE_USAGE
	      "                     (the config's \"trace\" key sets the same; options win)\n",
	      f);
}

int cli_set_log_level(const char *cmd, const char *name)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++) {
		if (strcmp(names[i], name) == 0) {
			log_set_level((enum log_level)i);
			return 0;
		}
	}
	fprintf(stderr, "vmbusd %s: --log-level: unknown level \"%s\" (error, warn, info, debug)\n",
		cmd, name);
	return -1;
}

int cli_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'f' },
		{ "control", required_argument, NULL, 'c' },
		{ "max-version", required_argument, NULL, 'm' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		CLI_TRACE_LONGOPTS,
		{ 0 },
	};
	const char *sock = NULL, *config = NULL, *control = NULL, *maxv = NULL;
	struct host_config cfg;
	struct json_err err = { "" };
	struct trace_opts topts = { 0 }, tcli = { 0 };
	struct event_base *base;
	struct host d;
	char ctl_default[256];
	int opt;

	while ((opt = getopt_long(argc, argv, "s:f:c:m:l:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'f': config = optarg; break;
		case 'c': control = optarg; break;
		case 'm': maxv = optarg; break;
		case 'l':
			if (cli_set_log_level("serve", optarg))
				return 2;
			break;
		case 'h': serve_usage(stdout); return 0;
		case CLI_OPT_TRACE: case CLI_OPT_TRACE_MAX_MB: case CLI_OPT_TRACE_SNAP:
			if (cli_trace_option("serve", opt, optarg, &tcli))
				return 2;
			break;
		default: serve_usage(stderr); return 2;
		}
	}
	if (!sock || optind != argc) {
		serve_usage(stderr);
		return 2;
	}
	if (!control) {
		snprintf(ctl_default, sizeof(ctl_default), "%s.ctl", sock);
		control = ctl_default;
	}
	if (host_config_load(config, &cfg, &err)) {
		fprintf(stderr, "vmbusd serve: %s: %s\n", config ? config : "config", err.msg);
		return 1;
	}
	if (trace_opts_from_json(cfg.root, &topts, &err)) {
		fprintf(stderr, "vmbusd serve: %s: %s\n", config ? config : "config", err.msg);
		host_config_free(&cfg);
		return 1;
	}
	if (tcli.path)
		topts.path = tcli.path;
	if (tcli.max_bytes)
		topts.max_bytes = tcli.max_bytes;
	if (tcli.snap)
		topts.snap = tcli.snap;
	/* Before the frontend can attach: the capture starts with ATTACH. */
	if (cli_trace_start("serve", &topts)) {
		host_config_free(&cfg);
		return 1;
	}
	if (maxv && host_parse_version(maxv, &cfg.max_version)) {
		fprintf(stderr, "vmbusd serve: --max-version: \"%s\" is not a VMBus version\n", maxv);
		host_config_free(&cfg);
		trace_writer_stop(NULL);
		return 2;
	}
	/* A frontend that vanishes mid-write must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (!base || host_init(&d, base, &cfg, sock, control, &err)) {
		fprintf(stderr, "vmbusd serve: %s\n", base ? err.msg : "cannot create event loop");
		host_config_free(&cfg);
		trace_writer_stop(NULL);
		if (base)
			event_base_free(base);
		return 1;
	}
	log_info("serving on %s (control %s), %u devices", sock, control, d.n_devices);
	event_base_dispatch(base);
	host_fini(&d);
	trace_writer_stop(NULL);
	host_config_free(&cfg);
	event_base_free(base);
	return 0;
}
