/* SPDX-License-Identifier: MIT */
/*
 * A SCSI block-device target (SPC-3 / SBC-3 subset) on top of a blk_backend.
 * It knows nothing about VMBus: storvsp turns an EXECUTE_SRB packet into a
 * struct scsi_cmd, runs it, and turns status/sense/transferred back into a
 * vmscsi_request (hyperv-guest-facts §8.3).
 *
 * Two levels:
 *  - struct scsi_lun: one logical unit (a disk).  scsi_lun_execute() runs any
 *    CDB against it.
 *  - struct scsi_target: LUNs 0..SCSI_TARGET_MAX_LUNS-1 of one target, with
 *    REPORT LUNS, the "missing LUN" answers (facts §8.5) and the unit
 *    attentions of hot-add/remove.  Optional: storvsp may keep its own table
 *    and call scsi_lun_execute()/scsi_missing_lun_execute() directly.
 *
 * Threading: all of it runs on the event-loop thread that owns the
 * backend.  done() may run synchronously inside scsi_*_execute() (commands
 * that need no I/O) or later from the loop (READ/WRITE/SYNC CACHE/UNMAP/
 * WRITE SAME).  The scsi_cmd, its CDB bytes, iovecs and data buffers must stay
 * valid until done() runs.  CDB contents never trigger asserts.
 */
#ifndef VMBUSD_DEVICES_SCSI_H
#define VMBUSD_DEVICES_SCSI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/blk/blk.h"

/* SAM-5 status codes. */
#define SCSI_STATUS_GOOD            0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02
#define SCSI_STATUS_BUSY            0x08

/* Sense keys (SPC-3 4.5.6). */
#define SCSI_SENSE_NO_SENSE        0x0
#define SCSI_SENSE_NOT_READY       0x2
#define SCSI_SENSE_MEDIUM_ERROR    0x3
#define SCSI_SENSE_HARDWARE_ERROR  0x4
#define SCSI_SENSE_ILLEGAL_REQUEST 0x5
#define SCSI_SENSE_UNIT_ATTENTION  0x6
#define SCSI_SENSE_DATA_PROTECT    0x7
#define SCSI_SENSE_ABORTED_COMMAND 0xB

/* Fixed-format sense data is 18 bytes (SPC-3 4.5.3); storvsc's buffer is 20
 * (facts §8.1), so it always fits. */
#define SCSI_SENSE_LEN 18

/* The largest transfer one command may ask for; reported in the Block
 * Limits VPD page (0xB0).  storvsp's max_transfer_bytes should be <= this. */
#define SCSI_MAX_TRANSFER_BYTES (8u << 20)

#define SCSI_TARGET_MAX_LUNS 256

struct scsi_lun;
struct scsi_target;

enum scsi_dir {
	SCSI_DIR_NONE = 0,   /* no data phase */
	SCSI_DIR_READ,       /* data-in: target -> initiator (storvsc data_in = 1) */
	SCSI_DIR_WRITE,      /* data-out: initiator -> target (storvsc data_in = 0) */
};

struct scsi_cmd {
	/* --- in: filled by the caller --- */
	const uint8_t *cdb;
	uint8_t cdb_len;         /* bytes valid in cdb (storvsc: up to 16) */
	enum scsi_dir dir;
	struct iovec *iov;       /* the data buffer (guest memory), data_len bytes in total */
	int iovcnt;
	uint64_t data_len;       /* the initiator's buffer size (SRB data_transfer_length) */
	void (*done)(struct scsi_cmd *cmd);
	void *opaque;            /* the caller's */
	/* --- out: valid when done() runs --- */
	uint8_t status;          /* SCSI_STATUS_* */
	uint8_t sense[SCSI_SENSE_LEN];
	uint8_t sense_len;       /* 0, or SCSI_SENSE_LEN with CHECK CONDITION */
	bool lun_missing;        /* set by scsi_target_execute/scsi_missing_lun_execute for a
	                          * command (other than INQUIRY/REPORT LUNS) addressed to a LUN
	                          * that is not present; storvsp should answer
	                          * SRB_STATUS_INVALID_LUN (0x20, facts §8.5).  status/sense
	                          * hold CHECK CONDITION / LOGICAL UNIT NOT SUPPORTED (25h)
	                          * for a caller that wants a SCSI answer instead. */
	uint64_t transferred;    /* bytes actually moved (<= data_len) */
	/* --- private to the target --- */
	struct blk_request blk;
	struct scsi_lun *lun_;
	struct iovec *iov_trim_; /* when the I/O is shorter than the buffer */
	uint64_t left_;          /* UNMAP: descriptors or WRITE SAME blocks still to do */
	uint64_t pos_;
	uint8_t *bounce_;        /* UNMAP parameter list / WRITE SAME pattern */
	int err_;
	bool blk_busy_;          /* blk is submitted and its done() has not run */
	bool cancelled_;         /* scsi_cmd_cancel() ran */
};

struct scsi_lun_config {
	const char *serial;      /* Unit Serial Number VPD (0x80); also seeds the NAA
	                          * designator (0x83).  NULL -> derived from the path. */
	const char *vendor;      /* 8 chars max; NULL -> "Msft" (facts §8.3: Linux enables
	                          * WRITE SAME only for vendor "Msft" on WIN10 protocol) */
	const char *product;     /* 16 chars max; NULL -> "Virtual Disk" */
	const char *revision;    /* 4 chars max; NULL -> "1.0" */
	bool power_on_ua;        /* start with POWER ON, RESET OCCURRED pending (default
	                          * false: keeps the first scan quiet) */
};

/* --- one logical unit ---------------------------------------------------- */

/* Creates a LUN on blk (which it does not own: close blk after destroying
 * the LUN).  Returns 0 or -errno (-EINVAL with err set for a bad identity). */
int scsi_lun_create(struct blk_backend *blk, const struct scsi_lun_config *cfg,
		    struct scsi_lun **out, struct json_err *err);
/* No command may be in flight (blk_close() before this completes them). */
void scsi_lun_destroy(struct scsi_lun *lun);
struct blk_backend *scsi_lun_backend(const struct scsi_lun *lun);

/* Runs cmd; done() follows exactly once (maybe before this returns). */
void scsi_lun_execute(struct scsi_lun *lun, struct scsi_cmd *cmd);

/* The initiator's buffer is going away (its channel closed, the guest
 * reset or detached): when this returns, neither the target nor its block
 * backend touch cmd->iov or its memory again (blk_cancel(), see blk.h for
 * what that may wait for), and no further step of the command starts.
 * done() still follows exactly once, from the loop, with whatever status
 * the command reached (ABORTED COMMAND when it was cut short). */
void scsi_cmd_cancel(struct scsi_cmd *cmd);

/* Queues a unit attention (sense key 6) with asc/ascq, reported to the next
 * command other than INQUIRY, REPORT LUNS or REQUEST SENSE's read of it
 * (SPC-3 5.9.7 / SAM-4 5.8.7).  The queue holds a few; duplicates merge. */
void scsi_lun_unit_attention(struct scsi_lun *lun, uint8_t asc, uint8_t ascq);
#define SCSI_UA_POWER_ON_RESET        0x29, 0x00
#define SCSI_UA_CAPACITY_CHANGED      0x2A, 0x09
#define SCSI_UA_REPORTED_LUNS_CHANGED 0x3F, 0x0E

/* Re-reads the backend size; when it changed, queues CAPACITY DATA HAS
 * CHANGED (storvsc rescans the device on 0x2A/0x09).  0, 1 (changed) or -errno. */
int scsi_lun_refresh_capacity(struct scsi_lun *lun);

/* Counters: {"commands", "check_conditions", "unit_attentions", "blk": {...}}. */
json_t *scsi_lun_stats(const struct scsi_lun *lun);

/* For a command to a LUN that does not exist (facts §8.5):
 * standard INQUIRY -> GOOD with byte 0 = 0x7F (PQ=3, PDT=0x1F), vendor and
 *   product blank; VPD INQUIRY -> CHECK CONDITION / INVALID FIELD IN CDB;
 * anything else -> cmd->lun_missing = true (storvsp: SRB_STATUS_INVALID_LUN).
 * REPORT LUNS needs the target's LUN list: use scsi_target_execute().
 * done() runs before this returns. */
void scsi_missing_lun_execute(struct scsi_cmd *cmd);

/* REPORT LUNS (SPC-3 6.21) listing LUN numbers luns[0..n-1] (< 16384), for
 * a caller that keeps its own LUN table.  done() runs before this returns.
 * scsi_lun_execute() on its own answers REPORT LUNS with just LUN 0. */
void scsi_report_luns_execute(struct scsi_cmd *cmd, const uint16_t *luns, unsigned n);

/* --- a target: a set of LUNs --------------------------------------------- */

struct scsi_target *scsi_target_create(void);
/* Destroys every attached LUN (not their backends: see scsi_target_detach). */
void scsi_target_destroy(struct scsi_target *t);
/* Puts lun at number lun_no (the target takes ownership); the other present
 * LUNs get REPORTED LUNS DATA HAS CHANGED when `notify`.  -EEXIST, -ERANGE. */
int scsi_target_attach(struct scsi_target *t, unsigned lun_no, struct scsi_lun *lun, bool notify);
/* Removes and returns LUN lun_no (the caller destroys it), or NULL; the
 * remaining LUNs get REPORTED LUNS DATA HAS CHANGED when `notify`. */
struct scsi_lun *scsi_target_detach(struct scsi_target *t, unsigned lun_no, bool notify);
struct scsi_lun *scsi_target_lun(const struct scsi_target *t, unsigned lun_no);
/* Runs cmd for LUN lun_no: REPORT LUNS is answered for the whole target
 * (SPC-3 6.21: it may be addressed to any LUN, present or not) and clears
 * that LUN's REPORTED LUNS DATA HAS CHANGED; a missing LUN behaves as
 * scsi_missing_lun_execute(). */
void scsi_target_execute(struct scsi_target *t, unsigned lun_no, struct scsi_cmd *cmd);

/* Parses the LUN identity keys of a device's JSON object: "serial",
 * "vendor", "product", "revision" (all optional strings; point into obj). */
int scsi_lun_config_from_json(const json_t *obj, const char *path, struct scsi_lun_config *cfg,
			      struct json_err *err);
#define SCSI_LUN_CONFIG_KEYS "serial", "vendor", "product", "revision"

#endif
