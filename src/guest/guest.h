/* SPDX-License-Identifier: MIT */
/*
 * libvmbus-guest: a synthetic Hyper-V guest that attaches to `vmbusd serve`
 * through the plugin protocol and behaves like Linux 6.1 hv_vmbus/hv_utils
 * (facts §1-§7).  It includes only core/ and proto/: never server code.
 *
 * Layout: guest_attach (plugin-protocol client), guest_mem (page
 * allocator), guest_cpu (MSRs, SynIC, interrupts), guest_vmbus (connection
 * messages), guest_channel (GPADLs, open/close, rings), guest_ic and
 * guest_kvp (util drivers), guest_bench (ring benchmark), guest_raw (the
 * tool's hostile modes), and this file's
 * guest.c (lifecycle, the wait loop, event output).
 *
 * Single-threaded: every wait runs the "CPU" (polls the irq eventfds),
 * dispatches queued SynIC messages and runs channel callbacks until a
 * condition holds or a timeout passes.  Every wait is bounded.
 */
#ifndef VMBUSD_GUEST_GUEST_H
#define VMBUSD_GUEST_GUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest/guest_attach.h"
#include "guest/guest_mem.h"
#include "guest/guest_ring.h"
#include "vmbusd/proto/hv.h"
#include "vmbusd/proto/vmbus.h"

/* Linux 6.1.192's guest OS id (facts §1.4). */
#define GUEST_OS_ID_LINUX_6_1 0x8100000601C00000ull
#define GUEST_MSGQ_LEN 256u
#define GUEST_FIRST_GPADL 0xE1E10u /* Linux's first GPADL handle */

struct guest_opts {
	const char *socket;
	uint32_t n_vcpus;     /* default 2 */
	uint64_t mem_bytes;   /* default 64 MiB */
	uint64_t ram_gpa;     /* default 0 */
	uint32_t max_version; /* VMBUS_VERSION(); 0 = the highest */
	int timeout_ms;       /* every protocol wait; default 10 s */
	bool raw_messages;    /* also report every host message as "message" */
	bool quiet;           /* no JSON on stdout (library callers) */
	bool kvp_get_value;   /* KVP GET returns the stored value (Linux returns "") */
	const char *fcopy_root;   /* fcopy daemon's "/" (NULL: no daemon, HV_E_FAIL) */
	uint64_t fcopy_max_bytes; /* fcopy writes past this: HV_ERROR_DISK_FULL (0: none) */
	bool monitor_hypercall;   /* signal monitored channels by HvSignalEvent too
				   * (Linux's low_latency path) instead of the monitor bit */
	bool no_monitor_pages;    /* INITIATE_CONTACT with monitor pages 0 (hostile) */
	uint32_t first_gpadl;     /* first GPADL handle; 0 = GUEST_FIRST_GPADL (a replay
				   * test gives another: handles are the guest's choice) */
};

struct guest_cpu {
	uint32_t vp_index;
	uint64_t vp_assist_gpa;
	uint64_t simp_gpa;
	uint64_t siefp_gpa;
	uint64_t post_page_gpa;         /* HvPostMessage input page */
	struct hv_message_page *simp;
	struct hv_event_flags_page *sief;
	uint8_t sint_vector;
	bool synic_ready;
	uint64_t irqs;                  /* 0xF3 deliveries */
	uint64_t spurious;              /* other vectors, or before SynIC setup */
	uint64_t messages;
	uint64_t eoms;
};

struct guest;
struct guest_channel;

typedef void (*guest_chan_event_fn)(struct guest *g, struct guest_channel *ch);

struct guest_channel {
	struct vmbus_msg_offer_channel offer;
	uint32_t relid;
	uint32_t conn_id;
	char class_str[37];
	char instance_str[37];
	const char *device;         /* "heartbeat", "kvp", ... or "unknown" */
	bool rescinded;
	bool open;
	uint32_t target_vp;

	/* ring GPADL: pages [0, send_pages) guest->host, the rest host->guest */
	uint32_t ring_gpadl;
	uint64_t ring_gpa;
	uint32_t ring_pages;
	uint32_t send_pages;
	struct guest_ring out;
	struct guest_ring in;
	uint8_t *rxbuf;             /* max_pkt bytes */
	uint32_t max_pkt;

	bool event_pending;         /* SIEF bit seen, callback not yet run */
	uint64_t n_events;          /* SIEF bits seen for this relid */
	uint64_t n_spurious;        /* ... that found the host->guest ring empty */
	uint64_t n_signals;         /* HvSignalEvent issued */
	bool ring_error_reported;

	guest_chan_event_fn on_event;
	void *drv;                  /* driver state */
	void (*drv_free)(void *drv);
};

/* The one channel-management request in flight (the client is sequential). */
struct guest_pending {
	uint32_t want;   /* msgtype awaited, 0 = none */
	uint32_t relid;
	uint32_t id;     /* gpadl handle or openid */
	bool done;
	uint32_t status;
	uint8_t msg[HV_MESSAGE_PAYLOAD_MAX];
	uint32_t len;
};

typedef void (*guest_event_fn)(struct guest *g, const char *name, json_t *ev, void *opaque);

struct guest {
	struct guest_opts opts;
	struct guest_attach att;
	struct guest_mem mem;
	struct guest_cpu cpu[ATTACH_MAX_VCPUS];
	uint64_t hypercall_gpa;
	uint32_t hints;              /* CPUID 0x40000004 EAX */

	/* SynIC messages copied out of the SIMP slot, in arrival order */
	struct hv_message msgq[GUEST_MSGQ_LEN];
	uint32_t msgq_head;
	uint32_t msgq_count;

	/* VMBus connection */
	bool connected;
	uint32_t version;
	uint32_t msg_conn_id;
	uint64_t int_page_gpa;
	uint64_t monitor_gpa;        /* two pages: monitor_page1, monitor_page2 */
	bool all_offers;
	uint32_t n_offers;
	bool unloaded;
	uint32_t next_gpadl;
	struct guest_pending pending;
	struct guest_channel *chan[VMBUS_MAX_RELID + 1];

	/* output */
	guest_event_fn on_event;
	void *on_event_opaque;
	uint64_t n_errors;
	bool stop;                   /* set by an event hook or a signal */
};

/* ---- guest.c: lifecycle, waiting, events --------------------------------- */

/* Attaches, checks the CPUID signature, boots every vCPU (MSRs + SynIC).
 * On failure everything is released and -errno returned. */
int guest_open(struct guest *g, const struct guest_opts *opts);
/* Best effort: closes open channels, UNLOADs, DETACHes, frees. */
void guest_close(struct guest *g, bool detach);
/* Guest reboot: RESET the partition, zero RAM, forget VMBus state, boot the
 * vCPUs again. */
int guest_reboot(struct guest *g);

/* Runs the guest until done(g, arg) or timeout_ms (-ETIMEDOUT); also
 * -ECONNRESET when the daemon vanished, -EINTR when g->stop was set. */
int guest_wait(struct guest *g, bool (*done)(struct guest *g, void *arg), void *arg, int timeout_ms);

/* Prints one JSON event line (takes the reference), then calls on_event. */
void guest_emit(struct guest *g, json_t *ev);
/* {"event":"error","what":what,"message":...} plus a log line. */
void guest_error(struct guest *g, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "5.3" for VMBUS_VERSION(5, 3); buf of 16. */
const char *guest_version_str(uint32_t version, char buf[16]);
/* Lower-case hex of up to 4096 bytes (caller frees). */
char *guest_hex(const void *data, size_t len);

/* Set by SIGINT/SIGTERM handlers of the tool; guest_wait returns -EINTR. */
extern volatile int guest_interrupted;

/* ---- guest_cpu.c ------------------------------------------------------- */
int guest_cpu_check_cpuid(struct guest *g);
/* Linux's per-CPU boot path (hv_cpu_init, and hyperv_init on the BSP). */
int guest_cpu_boot(struct guest *g, uint32_t vcpu);
/* hv_synic_enable_regs. */
int guest_cpu_synic_init(struct guest *g, uint32_t vcpu);
/* Waits up to timeout_ms for interrupts and handles them (vmbus_isr). */
int guest_cpu_poll(struct guest *g, int timeout_ms);
/* Pops the oldest queued SynIC message; false when none. */
bool guest_cpu_pop_message(struct guest *g, struct hv_message *out);

/* ---- guest_vmbus.c ----------------------------------------------------- */
/* vmbus_post_msg with Linux's retry policy.  0, -EINVAL (status 18 on
 * INITIATE_CONTACT), -EAGAIN (still busy after the retries) or -EIO. */
int guest_vmbus_post(struct guest *g, const void *msg, uint32_t len);
/* One HvPostMessage with every field chosen by the caller; *status is the
 * hypercall's HV status (hostile-input tests). */
int guest_vmbus_post_raw(struct guest *g, uint32_t conn_id, uint32_t message_type,
			 uint32_t payload_size, const void *payload, uint32_t len, uint64_t *status);
/* vmbus_negotiate_version over the version list, highest first. */
int guest_vmbus_connect(struct guest *g);
/* REQUESTOFFERS, then waits for ALLOFFERS_DELIVERED. */
int guest_vmbus_request_offers(struct guest *g);
/* UNLOAD and wait for UNLOAD_RESPONSE (skipped below 3.0, like Linux). */
int guest_vmbus_unload(struct guest *g);
/* Dispatches queued messages and runs pending channel callbacks. */
void guest_vmbus_process(struct guest *g);
/* From the ISR: the SIEF bit for relid was set. */
void guest_vmbus_channel_event(struct guest *g, uint32_t relid, uint32_t vcpu);
/* Forgets all connection and channel state (after RESET). */
void guest_vmbus_forget(struct guest *g);
/* Waits for the pending reply (set with guest_vmbus_expect). */
void guest_vmbus_expect(struct guest *g, uint32_t msgtype, uint32_t relid, uint32_t id);
int guest_vmbus_wait_pending(struct guest *g, const char *what);

/* ---- guest_channel.c --------------------------------------------------- */
const char *guest_channel_device_name(const char *class_str);
struct guest_channel *guest_channel_find(struct guest *g, const char *class_str, unsigned int nth);
int guest_channel_gpadl_create(struct guest *g, struct guest_channel *ch, uint64_t gpa,
			       uint32_t n_pages, uint32_t *handle);
int guest_channel_gpadl_teardown(struct guest *g, struct guest_channel *ch, uint32_t handle);
/* GPADL, ring init, OPENCHANNEL, wait for the result. */
int guest_channel_open(struct guest *g, struct guest_channel *ch, uint32_t ring_bytes,
		       uint32_t max_pkt, uint32_t target_vp);
/* CLOSECHANNEL, GPADL_TEARDOWN (unless rescinded), frees the ring. */
int guest_channel_close(struct guest *g, struct guest_channel *ch);
/* Ring write + signal decision.  -EAGAIN when full (in a burst, after
 * publishing the burst's packets so the host can make room). */
int guest_channel_send(struct guest *g, struct guest_channel *ch, uint16_t type, uint16_t flags,
		       uint64_t trans_id, const void *payload, uint32_t len);
int guest_channel_signal(struct guest *g, struct guest_channel *ch);
/* Next inbound packet (into ch->rxbuf).  0, -EAGAIN when empty, -EMSGSIZE
 * (skipped oversized packet, reported), -EIO (broken ring, reported). */
int guest_channel_recv(struct guest *g, struct guest_channel *ch, struct guest_ring_pkt *pkt);
/* Around a run of guest_channel_recv: read_index stored once at the end,
 * and the host signalled then if its pending_send_sz was crossed
 * (hv_pkt_iter_close), as Linux's drivers read. */
void guest_channel_recv_begin(struct guest_channel *ch);
void guest_channel_recv_end(struct guest *g, struct guest_channel *ch);
/* Around a burst of guest_channel_send: write_index stored and the signal
 * decided once per GUEST_RING_PUBLISH_BYTES and at the end (guest_ring.h). */
void guest_channel_send_begin(struct guest_channel *ch);
void guest_channel_send_end(struct guest *g, struct guest_channel *ch);

/* ---- guest_ic.c / guest_kvp.c ------------------------------------------ */
/* Opens every util channel this guest knows (heartbeat, shutdown,
 * timesync, KVP) with its driver; returns how many opened. */
int guest_ic_open_all(struct guest *g);
/* Opens one of them with its driver: 0 or -errno (-EINVAL: not an IC, or
 * already open or rescinded). */
int guest_ic_open(struct guest *g, struct guest_channel *ch);
bool guest_ic_known(const struct guest_channel *ch);
/* An open IC channel whose NEGOTIATE has not arrived (and been answered) yet. */
bool guest_ic_negotiating(const struct guest_channel *ch);

#endif
