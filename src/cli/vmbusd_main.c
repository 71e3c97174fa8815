/* SPDX-License-Identifier: MIT */
/* vmbusd: a userspace Hyper-V host.  The only place that exits. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
	fputs("usage: vmbusd COMMAND [OPTIONS]\n"
	      "\n"
	      "A userspace Hyper-V host: the partition interface, a VMBus channel server and\n"
	      "device back-ends for an unmodified guest running in QEMU (vmbus-user plugin).\n"
	      "\n"
	      "commands:\n"
	      "  serve --socket PATH [--config FILE]   run the daemon for one partition\n"
	      "  run SCENARIO.json                     daemon + patched QEMU + Linux guest, scripted\n"
	      "  ctl -c CONTROL VERB ...               talk to a running daemon's control socket\n"
	      "  bench ring [--trace FILE]             ring-buffer benchmark (two processes)\n"
	      "  dump FILE [-v] [--relid N] ...        decode a capture written by --trace\n"
	      "  replay FILE --socket PATH             play a capture's host side to a new guest\n"
	      "  faults [--json]                       the host->guest fault classes, one a line\n"
	      "\n"
	      "  vmbusd COMMAND --help   options of one command\n"
	      "  vmbusd --version\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} commands[] = {
		{ "serve", cli_serve },
		{ "run", cli_run },
		{ "ctl", cli_ctl },
		{ "bench", cli_bench },
		{ "dump", cli_dump },
		{ "replay", cli_replay },
		{ "faults", cli_faults },
	};

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("vmbusd %s\n", VMBUSD_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vmbusd: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return 2;
}
