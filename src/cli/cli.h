/* SPDX-License-Identifier: MIT */
/* The subcommands of `vmbusd`; each returns the process exit status. */
#ifndef VMBUSD_CLI_CLI_H
#define VMBUSD_CLI_CLI_H

int cli_serve(int argc, char **argv);
int cli_ctl(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_run(int argc, char **argv);

/* "error" .. "debug" -> enum log_level, -1 when unknown. */
int cli_log_level(const char *name);

#endif
