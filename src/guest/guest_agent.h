/* SPDX-License-Identifier: MIT */
/* `vmbus-guest agent`: the synthetic guest driven by the scenario engine
 * over stdin/stdout (the real guest's console protocol); guest_agent.c. */
#ifndef VMBUSD_GUEST_AGENT_H
#define VMBUSD_GUEST_AGENT_H

#include "guest/guest.h"

/* Runs until stdin closes, the host powers the guest off, or the daemon
 * goes away.  Returns the tool's exit status (0, or 2 on a failure). */
int guest_agent_main(const struct guest_opts *opts);

/* guest_agent_io.c: `io storvsc|netvsc ...` on the agent's guest, whose
 * channels of that class the caller has closed.  The command's status:
 * 0 passed, 1 a verification failed, 2 the transport broke, 127 usage. */
int guest_agent_io(struct guest *g, int argc, char **argv);
/* The class GUID string an `io` driver binds, NULL for an unknown one. */
const char *guest_agent_io_class(const char *driver);

#endif
