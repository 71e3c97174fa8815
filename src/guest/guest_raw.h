/* SPDX-License-Identifier: MIT */
/*
 * The synthetic guest's hostile modes: aim raw bytes at any layer of the
 * host.
 *
 *   raw-msg   one HvPostMessage per FILE, after optionally connecting,
 *             requesting offers, selecting or opening a channel and
 *             creating an extra GPADL on it (so the bytes can name a real
 *             relid or GPADL handle; --patch-u32 writes them in);
 *   raw-hcall one hypercall with a verbatim control word: slow with its
 *             input block in a guest page (or any GPA, even outside RAM),
 *             or fast with two input qwords;
 *   raw-ring  on an opened channel, bytes into the guest->host ring either
 *             verbatim or framed as one VMBus packet (descriptor fields
 *             chosen or computed, zero padding, trailer), and/or one
 *             ring-header field of either ring overwritten; then a signal.
 *
 * Everything the host answers is printed as JSON events like the other
 * modes (host messages as "message" events with their decoded status).
 * The modes never judge the answers: the integration tests do.
 */
#ifndef VMBUSD_GUEST_RAW_H
#define VMBUSD_GUEST_RAW_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest/guest.h"

#define GUEST_RAW_MAX_PATCHES 16u
#define GUEST_RAW_MAX_SETS 8u
/* getopt codes of guest_raw_options, above the tool's own. */
#define GUEST_RAW_OPT_BASE 1024

/* --patch-u32 [N:]OFFSET=VALUE: VALUE is a number or one of the names
 * below, resolved once the channel and extra GPADL exist. */
enum guest_raw_value {
	GUEST_RAW_NUMBER,
	GUEST_RAW_RELID,      /* the selected channel's relid */
	GUEST_RAW_GPADL,      /* the extra GPADL, else the ring GPADL */
	GUEST_RAW_RING_GPADL, /* the opened channel's ring GPADL */
	GUEST_RAW_CONN_ID,    /* the channel's offer connection id */
	GUEST_RAW_GPA,        /* GPA of the extra GPADL's first page */
	GUEST_RAW_VP,         /* vCPU 0's VP index */
};

struct guest_raw_patch {
	uint32_t file;        /* 1-based FILE it applies to; 0 = every FILE */
	uint32_t offset;
	enum guest_raw_value what;
	uint32_t number;
};

/* A ring-header word to overwrite: the guest->host ring (h2g false) or
 * the host->guest ring. */
struct guest_raw_set {
	bool h2g;
	uint32_t field;       /* byte offset in struct vmbus_ring_header */
	const char *name;
	uint32_t value;
};

struct guest_raw_args {
	/* set-up before the raw action (every mode) */
	bool no_negotiate;    /* raw-msg: not even INITIATE_CONTACT */
	bool negotiate;       /* raw-hcall: connect first (default: SynIC only) */
	bool offers;          /* REQUESTOFFERS and wait for ALLOFFERS_DELIVERED */
	const char *channel;  /* CLASS GUID or device name ("heartbeat", "scsi") */
	bool open;            /* open it like a driver (ring GPADL + OPENCHANNEL) */
	uint32_t gpadl_pages; /* extra GPADL on the channel; 0 = none */
	uint32_t ring_kib;    /* each ring's size when opening (default 16) */
	int wait_ms;          /* host answers are awaited this long after an action */
	struct guest_raw_patch patch[GUEST_RAW_MAX_PATCHES];
	uint32_t n_patch;

	/* raw-msg */
	int64_t conn_id;      /* < 0: the negotiated message connection id */
	uint32_t message_type;
	int64_t payload_size; /* < 0: each FILE's length */

	/* raw-hcall */
	const char *control;  /* hex control word; required */
	const char *input_file;
	const char *input_hex;
	int64_t input_gpa;    /* >= 0: passed verbatim */
	uint32_t input_offset;
	bool fast;
	uint64_t fast_in[2];
	uint64_t output_gpa;
	uint32_t vcpu;

	/* raw-ring */
	bool frame;
	uint16_t pkt_type;
	uint16_t pkt_flags;
	int32_t offset8;      /* < 0: 2 (payload right after the descriptor) */
	int32_t len8;         /* < 0: the real length */
	uint64_t trans_id;
	bool no_signal;
	struct guest_raw_set set[GUEST_RAW_MAX_SETS];
	uint32_t n_set;
};

extern const struct option guest_raw_options[];
/* Options and one example per mode, for the tool's --help-raw. */
extern const char guest_raw_usage[];

/* Defaults (HVMSG_VMBUS, packet type 6, computed descriptor, ...). */
void guest_raw_args_init(struct guest_raw_args *a);
/* One option of guest_raw_options (getopt code, argument): 0 or -EINVAL
 * with a message logged. */
int guest_raw_option(struct guest_raw_args *a, int code, const char *arg);

/* Runs "raw-msg", "raw-hcall" or "raw-ring" with the positional FILEs.
 * Returns the tool's exit status: 0 when every action reached the daemon
 * and it is still alive afterwards, 1 usage, 2 otherwise. */
int guest_raw_main(const char *cmd, struct guest_raw_args *a, const struct guest_opts *opts,
		   int n_files, char **files);

/* The same actions on a guest that is already up (the scenario agent):
 * argv[0] is "raw-msg", "raw-hcall" or "raw-ring", then the options above
 * (no --input FILE), then the bytes as hex words instead of FILEs.  The
 * events go out through g's event hook.  0 when the action reached the
 * daemon and the daemon still answers; -EINVAL for a usage error. */
int guest_raw_run_words(struct guest *g, int argc, char **argv);

#endif
