/* SPDX-License-Identifier: MIT */
/*
 * `vmbusd run SCENARIO.json`: the host in-process, a real Linux guest in the
 * patched QEMU, the scenario's steps in order.  The QEMU binary, the guest
 * image and the SSDT come from options, from the environment
 * (VMBUSD_QEMU, VMBUSD_GUEST_DIR, VMBUSD_SSDT), or else from the project's
 * own build scripts (which build them on first use).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "scenario/scenario.h"
#include "trace/trace.h"

/* Runs a shell command and returns its last output line (malloc'd) or NULL. */
static char *run_capture(const char *cmd)
{
	char line[4096], *last = NULL;
	FILE *p;

	fprintf(stderr, "vmbusd run: %s\n", cmd);
	p = popen(cmd, "r");
	if (!p)
		return NULL;
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0]) {
			free(last);
			last = strdup(line);
		}
	}
	if (pclose(p) != 0) {
		free(last);
		return NULL;
	}
	return last;
}

/* An explicit option, else the environment, else the project's script
 * (relative to the source tree) run with `args`. */
static char *resolve(const char *given, const char *env, const char *script, const char *args)
{
	char cmd[1024];
	const char *e = getenv(env);

	if (given)
		return strdup(given);
	if (e && *e)
		return strdup(e);
	snprintf(cmd, sizeof(cmd), "%s/%s %s", VMBUSD_SRCDIR, script, args);
	return run_capture(cmd);
}

int cli_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qemu", required_argument, NULL, 'q' },
		{ "guest-dir", required_argument, NULL, 'g' },
		{ "ssdt", required_argument, NULL, 's' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "echo-console", no_argument, NULL, 'e' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		CLI_TRACE_LONGOPTS,
		{ 0 },
	};
	const char *qemu_opt = NULL, *guest_opt = NULL, *ssdt_opt = NULL, *workdir = NULL;
	char kernel[1024], initrd[1024], tmpl[] = "/tmp/vmbusd-run.XXXXXX";
	char *qemu = NULL, *guest = NULL, *ssdt = NULL;
	struct scenario_paths paths = { 0 };
	struct trace_opts topts = { 0 };
	int opt, rc = 2;

	log_set_level(LOG_WARN);
	while ((opt = getopt_long(argc, argv, "q:g:s:w:el:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'q': qemu_opt = optarg; break;
		case 'g': guest_opt = optarg; break;
		case 's': ssdt_opt = optarg; break;
		case 'w': workdir = optarg; break;
		case 'e': paths.echo_console = true; break;
		case 'l':
			if (cli_set_log_level("run", optarg))
				return 2;
			break;
		case CLI_OPT_TRACE: case CLI_OPT_TRACE_MAX_MB: case CLI_OPT_TRACE_SNAP:
			if (cli_trace_option("run", opt, optarg, &topts))
				return 2;
			break;
		default:
			fputs("usage: vmbusd run SCENARIO.json [--qemu PATH] [--guest-dir DIR] [--ssdt FILE]\n"
			      "                  [--workdir DIR] [--echo-console] [--log-level LEVEL]\n"
			      "                  [--trace FILE [--trace-max-mb N] [--trace-snap N]]\n"
			      CLI_TRACE_USAGE,
			      opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1) {
		fputs("vmbusd run: exactly one scenario file expected (see --help)\n", stderr);
		return 2;
	}
	if (access(argv[optind], R_OK) != 0) {
		fprintf(stderr, "vmbusd run: %s: %s\n", argv[optind], strerror(errno));
		return 2;
	}
	if (!workdir && !(workdir = mkdtemp(tmpl))) {
		fprintf(stderr, "vmbusd run: cannot create a work directory: %s\n", strerror(errno));
		return 2;
	}
	qemu = resolve(qemu_opt, "VMBUSD_QEMU", "qemu/build.sh", "--print-path");
	guest = resolve(guest_opt, "VMBUSD_GUEST_DIR", "tests/guest/build-guest.sh", "--print-dir");
	ssdt = resolve(ssdt_opt, "VMBUSD_SSDT", "qemu/build-ssdt.sh", workdir);
	if (!qemu || !guest || !ssdt) {
		fprintf(stderr, "vmbusd run: cannot find the %s (see the messages above)\n",
			!qemu ? "patched QEMU" : !guest ? "guest image" : "SSDT");
		goto out;
	}
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", guest);
	snprintf(initrd, sizeof(initrd), "%s/initrd.img", guest);
	paths.qemu = qemu;
	paths.kernel = kernel;
	paths.initrd = initrd;
	paths.ssdt = ssdt;
	paths.workdir = workdir;
	if (cli_trace_start("run", &topts))
		goto out;
	rc = scenario_run_file(argv[optind], &paths);
	trace_writer_stop(NULL);
out:
	free(qemu);
	free(guest);
	free(ssdt);
	return rc;
}
