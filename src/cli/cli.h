/* SPDX-License-Identifier: MIT */
/* The subcommands of `vmbusd`; each returns the process exit status. */
#ifndef VMBUSD_CLI_CLI_H
#define VMBUSD_CLI_CLI_H

int cli_serve(int argc, char **argv);
int cli_ctl(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_run(int argc, char **argv);

/* Sets the log level from "error" .. "debug"; -1 (message printed) when
 * the name is unknown. */
int cli_set_log_level(const char *cmd, const char *name);

#endif
