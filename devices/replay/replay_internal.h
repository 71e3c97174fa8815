/* SPDX-License-Identifier: MIT */
/*
 * The replay device's own header: the script and device state shared by
 * replay.c (config, lifecycle, stats) and replay_play.c (matching guest
 * packets, playing host steps, pacing).  What the device does: replay.c.
 */
#ifndef VMBUSD_DEVICES_REPLAY_INTERNAL_H
#define VMBUSD_DEVICES_REPLAY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"

#define REPLAY_TID_MAP 256
#define REPLAY_WINDOW 256       /* steps ahead a guest packet may be matched in */
#define REPLAY_MAX_PACE_NS 10000000000ull /* longest captured pause kept */
#define REPLAY_GPADL_MAP 16
#define REPLAY_SAVED_PKTS 256
#define REPLAY_MAX_SUB 64
#define REPLAY_DATA_IOV 1024 /* pages of a 4 MiB buffer */
/* vmbusd's own class for a replay device given no "class".  The one
 * exception to "the class lives in the ops": a replay offers the class of
 * the channel it plays, which only the capture knows. */
#define REPLAY_CLASS_GUID_STR "7a3c8f10-5d2e-4b9a-9c61-2f0e8d4b7a11"

enum replay_kind { STEP_IN, STEP_OUT, STEP_DATA, STEP_OFFER };

struct replay_step {
	enum replay_kind kind;
	uint32_t seq;          /* record number in the capture */
	uint8_t *raw;          /* packet: descriptor onwards; data: the bytes */
	uint32_t len;
	uint32_t gpadl_at;     /* in: byte of raw holding a GPADL handle (0: none) */
	uint32_t gpadl;        /* data: captured GPADL handle, 0 = packet pages */
	uint64_t offset;       /* data: offset in the GPADL or in the packet's pages */
	uint64_t tid;          /* data (packet pages): the captured trans id */
	uint16_t sub;          /* offer: subchannel index */
	int32_t req;           /* host step answering guest packet steps[req]; -1: unsolicited */
	int32_t ref;           /* unsolicited: the last guest packet step before it, -1: none */
	uint64_t ts;           /* capture time, ns */
	uint64_t live_ns;      /* guest packet: when it was matched (CLOCK_MONOTONIC) */
	struct vmbus_channel *live_ch; /* guest packet: the channel it came on (its answers go there) */
	bool done;             /* guest packet matched / host step played */
};

/* A live GPA-direct guest packet, kept for the data step of its request. */
struct replay_saved {
	uint64_t tid;          /* captured trans id */
	uint8_t *raw;
	uint32_t len;
};

struct replay_dev {
	struct vmbus_server *srv;
	struct vmbus_channel *ch;
	struct replay_dev *primary;        /* NULL for a primary */
	struct vmbus_offer_params offer;
	uint32_t capture_relid;
	struct replay_step *steps;
	uint32_t n_steps, next;
	uint32_t matched, sent, data_written;
	uint32_t late_completions;         /* guest completions past the capture's end */
	bool gone;                         /* the guest closed the channel (or went away) */
	bool diverged;
	char why[160];
	uint32_t div_seq;
	char *div_expected, *div_actual;   /* hex */
	struct { uint64_t captured, live; } tids[REPLAY_TID_MAP];
	uint32_t n_tids;
	struct { uint32_t captured, live; } gpadls[REPLAY_GPADL_MAP]; /* on the primary */
	uint32_t n_gpadls;
	struct replay_saved saved[REPLAY_SAVED_PKTS];
	uint32_t saved_next;
	struct event *timer;               /* a paced host step is due */
	uint32_t pace_percent;             /* captured pauses stretched to this (100: as captured) */
	/* Subchannels (primary only): their configs until offered. */
	json_t *sub_cfg;
	struct replay_dev *subs[REPLAY_MAX_SUB];
	uint32_t n_subs;
};


#define REPLAY_MAX_DEVS 128
/* Every channel of the one replay of this process (primaries and
 * subchannels): the order across channels looks at all of them. */
extern struct replay_dev *replay_devs[REPLAY_MAX_DEVS];
extern unsigned replay_n_devs;

/* replay_play.c */
void replay_pump(struct replay_dev *r);
void replay_notify(struct vmbus_channel *ch);
void replay_timer_fired(evutil_socket_t fd, short what, void *opaque);
void replay_link_answers(struct replay_dev *r);
/* The guest went away with only host-started exchanges left (replay_play.c). */
bool replay_cut_short(const struct replay_dev *r);
/* replay.c: offers subchannel `index` of primary r (its "offer" step). */
struct replay_dev *replay_offer_sub(struct replay_dev *r, uint16_t index, struct json_err *err);

#endif
