/* SPDX-License-Identifier: MIT */
/* The subcommands of `vmbusd`; each returns the process exit status. */
#ifndef VMBUSD_CLI_CLI_H
#define VMBUSD_CLI_CLI_H

int cli_serve(int argc, char **argv);
int cli_ctl(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_dump(int argc, char **argv);
int cli_replay(int argc, char **argv);
int cli_faults(int argc, char **argv);

/* --trace FILE, --trace-max-mb N, --trace-snap N (getopt values below). */
struct trace_opts;
enum { CLI_OPT_TRACE = 0x100, CLI_OPT_TRACE_MAX_MB, CLI_OPT_TRACE_SNAP };
#define CLI_TRACE_LONGOPTS                                                  \
	{ "trace", required_argument, NULL, CLI_OPT_TRACE },                 \
	{ "trace-max-mb", required_argument, NULL, CLI_OPT_TRACE_MAX_MB },   \
	{ "trace-snap", required_argument, NULL, CLI_OPT_TRACE_SNAP }
#define CLI_TRACE_USAGE                                                                   \
	"  --trace FILE       capture every message, packet, GPADL, signal and MSR write\n" \
	"                     into FILE (pcap; vmbusd dump / tools/wireshark/vmbus.lua)\n"  \
	"  --trace-max-mb N   cap: FILE rotates to FILE.1 at N/2 MiB (both hold <= N MiB)\n"  \
	"  --trace-snap N     keep at most N data bytes per record\n"
/* 0, or -1 with a message printed. */
int cli_trace_option(const char *cmd, int opt, const char *arg, struct trace_opts *t);
int cli_trace_start(const char *cmd, const struct trace_opts *t);

/* Sets the log level from "error" .. "debug"; -1 (message printed) when
 * the name is unknown. */
int cli_set_log_level(const char *cmd, const char *name);

#endif
