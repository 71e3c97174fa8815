/* SPDX-License-Identifier: MIT */
/* Shared by scsi.c (dispatch, LUNs, target), scsi_spc.c (SPC-3 commands:
 * INQUIRY, MODE SENSE, ...) and scsi_sbc.c (SBC-3 block commands). */
#ifndef VMBUSD_DEVICES_SCSI_INTERNAL_H
#define VMBUSD_DEVICES_SCSI_INTERNAL_H

#include "core/stats.h"
#include "devices/scsi/scsi.h"

/* Additional sense codes (SPC-3 Annex D), as asc << 8 | ascq. */
#define ASC_NONE                      0x0000
#define ASC_LUN_NOT_READY             0x0400
#define ASC_WRITE_ERROR               0x0C00
#define ASC_UNRECOVERED_READ_ERROR    0x1100
#define ASC_PARAMETER_LIST_LENGTH     0x1A00
#define ASC_INVALID_OPCODE            0x2000
#define ASC_LBA_OUT_OF_RANGE          0x2100
#define ASC_INVALID_FIELD_IN_CDB      0x2400
#define ASC_LUN_NOT_SUPPORTED         0x2500
#define ASC_INVALID_FIELD_IN_PARAM    0x2600
#define ASC_WRITE_PROTECTED           0x2700
#define ASC_SPACE_ALLOC_FAILED_WP     0x2707
#define ASC_SAVING_PARAMS_UNSUPPORTED 0x3900

#define SCSI_UA_QUEUE 4
#define SCSI_BLOCK_SHIFT 9        /* 512-byte logical blocks (BLK_SECTOR_SIZE) */
#define SCSI_MAX_XFER_BLOCKS (SCSI_MAX_TRANSFER_BYTES >> SCSI_BLOCK_SHIFT)
/* Block Limits VPD (SBC-3 6.5.3): one UNMAP / WRITE SAME covers at most
 * this many blocks (2 GiB), with at most this many descriptors. */
#define SCSI_MAX_UNMAP_BLOCKS (1u << 22)
#define SCSI_MAX_UNMAP_DESCRIPTORS 256u
#define SCSI_MAX_WRITE_SAME_BLOCKS (1u << 22)

/* A LUN's counters (core/stats.h), reported by scsi_lun_stats(). */
#define SCSI_LUN_STATS(X)                                                        \
	X(commands, "commands dispatched to the LUN")                            \
	X(check_conditions, "commands completed with a status other than GOOD") \
	X(unit_attentions, "unit attentions raised")                             \
	X(io_errors, "commands failed by the backend")

struct scsi_lun {
	struct blk_backend *blk;
	uint64_t nblocks;         /* capacity in logical blocks */
	bool readonly, discard, write_cache, lbprz;
	char vendor[9], product[17], revision[5];
	char serial[65];
	uint8_t naa[8];           /* NAA 3 (locally assigned) designator */
	struct { uint8_t asc, ascq; } ua[SCSI_UA_QUEUE];
	unsigned n_ua;
	unsigned in_flight;
	STATS_FIELDS(SCSI_LUN_STATS)
};

/* ---- big-endian fields ---- */
static inline uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get_be24(const uint8_t *p) { return (uint32_t)p[0] << 16 | get_be16(p + 1); }
static inline uint32_t get_be32(const uint8_t *p) { return (uint32_t)get_be16(p) << 16 | get_be16(p + 2); }
static inline uint64_t get_be64(const uint8_t *p) { return (uint64_t)get_be32(p) << 32 | get_be32(p + 4); }
static inline void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put_be32(uint8_t *p, uint32_t v) { put_be16(p, (uint16_t)(v >> 16)); put_be16(p + 2, (uint16_t)v); }
static inline void put_be64(uint8_t *p, uint64_t v) { put_be32(p, (uint32_t)(v >> 32)); put_be32(p + 4, (uint32_t)v); }

/* ---- completing a command (scsi.c) ---- */
/* GOOD, then done(). */
void scsi_good(struct scsi_cmd *cmd);
/* BUSY (SAM-4 5.3.1): out of memory; the initiator retries. */
void scsi_busy(struct scsi_cmd *cmd);
/* CHECK CONDITION with fixed-format sense key/asc (ASC_*), then done().
 * field >= 0 adds a sense-key-specific field pointer to that CDB byte
 * (SPC-3 4.5.2.4.2) for ILLEGAL REQUEST. */
void scsi_check(struct scsi_cmd *cmd, uint8_t key, uint16_t asc, int field);
/* Short forms used everywhere. */
#define scsi_invalid_field(cmd, byte) scsi_check(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, byte)
#define scsi_lba_out_of_range(cmd) scsi_check(cmd, SCSI_SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, -1)
#define scsi_write_protected(cmd) scsi_check(cmd, SCSI_SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED, -1)
/* Fills sense[] (fixed format, SPC-3 4.5.3) without completing. */
void scsi_build_sense(uint8_t *sense, uint8_t key, uint16_t asc);

/* Copies min(len, alloc, data_len) bytes of buf to the data-in buffer,
 * sets transferred and completes GOOD.  Allocation lengths truncate
 * (SPC-3 4.3.4.6); a data-out or no-data command gets nothing. */
void scsi_data_in(struct scsi_cmd *cmd, const void *buf, uint64_t len, uint64_t alloc);
/* Gathers up to len bytes of the data-out buffer into buf; returns the
 * number copied (0 when the command carries no data-out). */
uint64_t scsi_data_out(const struct scsi_cmd *cmd, void *buf, uint64_t len);
/* Bytes the initiator's buffer really holds: min(data_len, iov total). */
uint64_t scsi_buffer_len(const struct scsi_cmd *cmd);

/* ---- command handlers: run with cdb_len already checked ---- */
typedef void scsi_handler(struct scsi_lun *lun, struct scsi_cmd *cmd);
scsi_handler scsi_spc_inquiry, scsi_spc_request_sense, scsi_spc_mode_sense,
	scsi_spc_read_capacity10, scsi_spc_service_action_in16, scsi_spc_report_luns_single;
scsi_handler scsi_sbc_read_write, scsi_sbc_sync_cache, scsi_sbc_unmap, scsi_sbc_write_same,
	scsi_sbc_verify;
/* Drops a pending unit attention asc/ascq, if queued. */
void scsi_lun_clear_ua(struct scsi_lun *lun, uint8_t asc, uint8_t ascq);
/* Pops the oldest unit attention into sense (REQUEST SENSE); false if none. */
bool scsi_lun_pop_ua(struct scsi_lun *lun, uint8_t *sense);

/* The standard INQUIRY data for lun (or a missing LUN when NULL). */
#define SCSI_STD_INQUIRY_LEN 36
void scsi_spc_std_inquiry(const struct scsi_lun *lun, uint8_t *buf);
/* REPORT LUNS data for the given LUN numbers; checks the CDB. */
void scsi_spc_report_luns(struct scsi_cmd *cmd, const uint16_t *luns, unsigned n);

#endif
