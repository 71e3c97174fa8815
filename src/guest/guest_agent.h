/* SPDX-License-Identifier: MIT */
/* `vmbus-guest agent`: the synthetic guest driven by the scenario engine
 * over stdin/stdout (the real guest's console protocol); guest_agent.c. */
#ifndef VMBUSD_GUEST_AGENT_H
#define VMBUSD_GUEST_AGENT_H

#include "guest/guest.h"

/* Runs until stdin closes, the host powers the guest off, or the daemon
 * goes away.  Returns the tool's exit status (0, or 2 on a failure). */
int guest_agent_main(const struct guest_opts *opts);

#endif
