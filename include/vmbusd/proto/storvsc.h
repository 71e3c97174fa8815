/* SPDX-License-Identifier: MIT */
/*
 * vstor: the storvsc <-> storvsp protocol (facts §8; Linux 6.1
 * drivers/scsi/storvsc_drv.c, cross-checked with OpenVMM
 * vm/devices/storage/storvsp/src/protocol.rs).
 *
 * Every guest packet's payload is one `struct vstor_packet`: a 12-byte
 * header {operation, flags, status} and a 52-byte union.  Linux 6.1 always
 * sends the full 64 bytes (it dropped pre-Win8 hosts and vmscsi_size_delta);
 * older guests that negotiate WIN7/WIN6 send 48 (the request lacks the
 * 16-byte Win8 extension).  The host answers with a VM_PKT_COMP whose
 * payload has the size of the request it answers (Hyper-V behaviour that
 * Linux relies on: storvsc copies sizeof(vstor_packet) and drops shorter
 * completions; its max_pkt_size is 16 + 64 = 80, facts §6.4).
 */
#ifndef VMBUSD_PROTO_STORVSC_H
#define VMBUSD_PROTO_STORVSC_H

#include <stdint.h>

/* Device class of a SCSI controller (facts §7.3, OpenVMM SCSI_INTERFACE_ID). */
#define STORVSC_SCSI_CLASS_GUID_STR "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f"
/* The IDE accelerator class Hyper-V Generation 1 VMs offer for their IDE
 * disks (Linux HV_IDE_GUID; hv_storvsc binds it too).  Linux adds the one
 * disk of such a device itself, at channel 0, target = instance bytes 4-5
 * (wire order), LUN 0, and never scans it (storvsc_probe). */
#define STORVSC_IDE_CLASS_GUID_STR "32412632-86cb-44a2-9b5c-50d1417354f5"

/* Largest host->guest packet storvsc accepts: descriptor + vstor_packet. */
#define STORVSC_MAX_PKT_SIZE 80u

/* Protocol versions: major in the high byte, minor in the low byte. */
#define VMSTOR_PROTO_VERSION(major, minor) ((uint16_t)(((major) & 0xff) << 8 | ((minor) & 0xff)))
#define VMSTOR_PROTO_VERSION_WIN6   VMSTOR_PROTO_VERSION(2, 0)
#define VMSTOR_PROTO_VERSION_WIN7   VMSTOR_PROTO_VERSION(4, 2)
#define VMSTOR_PROTO_VERSION_WIN8   VMSTOR_PROTO_VERSION(5, 1)
#define VMSTOR_PROTO_VERSION_WIN8_1 VMSTOR_PROTO_VERSION(6, 0)
#define VMSTOR_PROTO_VERSION_WIN10  VMSTOR_PROTO_VERSION(6, 2)

enum vstor_operation {
	VSTOR_OP_COMPLETE_IO          = 1,  /* host -> guest: every completion */
	VSTOR_OP_REMOVE_DEVICE        = 2,  /* host -> guest (unsolicited): rescan */
	VSTOR_OP_EXECUTE_SRB          = 3,  /* guest -> host: one SCSI command */
	VSTOR_OP_RESET_LUN            = 4,
	VSTOR_OP_RESET_ADAPTER        = 5,
	VSTOR_OP_RESET_BUS            = 6,  /* Linux eh_host_reset, trans_id VMBUS_RQST_RESET */
	VSTOR_OP_BEGIN_INITIALIZATION = 7,
	VSTOR_OP_END_INITIALIZATION   = 8,
	VSTOR_OP_QUERY_PROTOCOL_VERSION = 9,
	VSTOR_OP_QUERY_PROPERTIES     = 10,
	VSTOR_OP_ENUMERATE_BUS        = 11, /* host -> guest (unsolicited): rescan */
	VSTOR_OP_FCHBA_DATA           = 12, /* Fibre Channel only; not a SCSI controller's */
	VSTOR_OP_CREATE_SUB_CHANNELS  = 13,
	VSTOR_OP_MAX                  = 13,
};

/* vstor_packet.flags */
#define VSTOR_FLAG_REQUEST_COMPLETION 0x1u

/* vstor_packet.status: NTSTATUS values (OpenVMM protocol.rs).  Linux only
 * tests status != 0 during initialisation and ignores it for I/O. */
#define VSTOR_STATUS_SUCCESS              0x00000000u
#define VSTOR_STATUS_BUFFER_OVERFLOW      0x80000005u
#define VSTOR_STATUS_DEVICE_BUSY          0x80000011u
#define VSTOR_STATUS_UNSUCCESSFUL         0xC0000001u
#define VSTOR_STATUS_INVALID_PARAMETER    0xC000000Du
#define VSTOR_STATUS_INVALID_DEVICE_REQUEST 0xC0000010u
#define VSTOR_STATUS_REVISION_MISMATCH    0xC0000059u /* version refused */
#define VSTOR_STATUS_DEVICE_NOT_CONNECTED 0xC000009Du
#define VSTOR_STATUS_DEVICE_DOES_NOT_EXIST 0xC00000C0u
#define VSTOR_STATUS_CANCELLED            0xC0000120u
#define VSTOR_STATUS_INVALID_DEVICE_STATE 0xC0000184u /* packet out of protocol order */
#define VSTOR_STATUS_IO_DEVICE_ERROR      0xC0000185u

/* SRB status: 6-bit code plus two flag bits (storvsc_drv.c). */
#define SRB_STATUS_PENDING          0x00 /* Linux treats it as an error with no data */
#define SRB_STATUS_SUCCESS          0x01
#define SRB_STATUS_ABORTED          0x02
#define SRB_STATUS_ERROR            0x04
#define SRB_STATUS_INVALID_REQUEST  0x06
#define SRB_STATUS_TIMEOUT          0x09
#define SRB_STATUS_SELECTION_TIMEOUT 0x0A
#define SRB_STATUS_BUS_RESET        0x0E
#define SRB_STATUS_DATA_OVERRUN     0x12 /* Linux keeps data_transfer_length */
#define SRB_STATUS_INVALID_LUN      0x20 /* Linux: DID_NO_CONNECT, removes the sdev */
#define SRB_STATUS_INTERNAL_ERROR   0x30
#define SRB_STATUS_QUEUE_FROZEN     0x40 /* flag */
#define SRB_STATUS_AUTOSENSE_VALID  0x80 /* flag: sense_data holds sense */
#define SRB_STATUS_CODE(s) ((s) & 0x3F)

/* vmscsi_request.srb_flags (what storvsc sets; informational for the host). */
#define SRB_FLAGS_QUEUE_ACTION_ENABLE    0x00000002u
#define SRB_FLAGS_DISABLE_DISCONNECT     0x00000004u
#define SRB_FLAGS_DISABLE_SYNCH_TRANSFER 0x00000008u
#define SRB_FLAGS_BYPASS_FROZEN_QUEUE    0x00000010u
#define SRB_FLAGS_DISABLE_AUTOSENSE      0x00000020u
#define SRB_FLAGS_DATA_IN                0x00000040u
#define SRB_FLAGS_DATA_OUT               0x00000080u
#define SRB_FLAGS_NO_QUEUE_FREEZE        0x00000100u

/* vmscsi_request.data_in (storvsc_request_type). */
#define VSTOR_DATA_OUT     0 /* WRITE_TYPE: guest -> device */
#define VSTOR_DATA_IN      1 /* READ_TYPE: device -> guest */
#define VSTOR_DATA_UNKNOWN 2 /* UNKNOWN_TYPE: no data (DMA_NONE) */

#define VSTOR_CDB_MAX        16u /* STORVSC_MAX_CMD_LEN */
#define VSTOR_SENSE_SIZE     20u /* POST_WIN7_STORVSC_SENSE_BUFFER_SIZE (0x14) */
#define VSTOR_SENSE_SIZE_PRE_WIN8 18u /* PRE_WIN8_STORVSC_SENSE_BUFFER_SIZE (0x12) */
#define VSTOR_CDB_SENSE_AREA 20u /* STORVSC_MAX_BUF_LEN_WITH_PADDING */

struct vmscsi_request {
	uint16_t length;               /* bytes of this struct the guest filled: 52 (Win8+), 36 before */
	uint8_t srb_status;            /* host: SRB_STATUS_* | flags */
	uint8_t scsi_status;           /* host: SAM status byte (0 GOOD, 2 CHECK CONDITION) */
	uint8_t port_number;           /* guest's host number; ignored by the host */
	uint8_t path_id;               /* SCSI channel (Linux scans 0..7) */
	uint8_t target_id;             /* SCSI id (Linux scans 0..1) */
	uint8_t lun;                   /* SCSI LUN (0..254) */
	uint8_t cdb_length;            /* valid bytes of cdb, <= 16 */
	uint8_t sense_info_length;     /* guest: sense buffer size (20); host: sense bytes returned */
	uint8_t data_in;               /* VSTOR_DATA_OUT / _IN / _UNKNOWN */
	uint8_t reserved;
	uint32_t data_transfer_length; /* guest: buffer bytes; host: bytes moved */
	union {
		uint8_t cdb[VSTOR_CDB_MAX];          /* request */
		uint8_t sense_data[VSTOR_SENSE_SIZE]; /* completion */
		uint8_t reserved_array[VSTOR_CDB_SENSE_AREA];
	};
	/* Win8 extension (absent before VMSTOR_PROTO_VERSION_WIN8): */
	uint16_t reserve;
	uint8_t queue_tag;             /* SP_UNTAGGED (0xFF) from Linux */
	uint8_t queue_action;          /* SRB_SIMPLE_TAG_REQUEST (0x20) */
	uint32_t srb_flags;            /* SRB_FLAGS_* */
	uint32_t time_out_value;       /* seconds (Linux: 60) */
	uint32_t queue_sort_key;
} __attribute__((packed));
_Static_assert(sizeof(struct vmscsi_request) == 52, "vmscsi_request");

/* Size of the 16-byte Win8 extension absent from WIN7/WIN6 requests
 * (storvsc's historical vmscsi_size_delta). */
#define VMSCSI_WIN8_EXT_SIZE 16u
#define VMSCSI_REQUEST_LEN_V1 (sizeof(struct vmscsi_request) - VMSCSI_WIN8_EXT_SIZE) /* 36 */
#define VMSCSI_REQUEST_LEN_V2 sizeof(struct vmscsi_request)                          /* 52 */

#define STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL 0x1u

struct vmstorage_channel_properties {
	uint32_t reserved;
	uint16_t max_channel_cnt;      /* subchannels the guest may request (flag bit 0 required) */
	uint16_t reserved1;
	uint32_t flags;                /* STORAGE_CHANNEL_SUPPORTS_MULTI_CHANNEL */
	uint32_t max_transfer_bytes;   /* largest I/O: Linux max_sectors = rounddown(x, 4096) >> 9 */
	uint64_t reserved2;
} __attribute__((packed));
_Static_assert(sizeof(struct vmstorage_channel_properties) == 24, "channel_properties");

struct vmstorage_protocol_version {
	uint16_t major_minor;          /* VMSTOR_PROTO_VERSION_* */
	uint16_t revision;             /* Windows build revision; Linux sends 0 */
} __attribute__((packed));
_Static_assert(sizeof(struct vmstorage_protocol_version) == 4, "protocol_version");

/* Fibre Channel HBA WWNs (FCHBA_DATA); a SCSI controller never sends it. */
struct hv_fc_wwn_packet {
	uint8_t primary_active;
	uint8_t reserved1[3];
	uint8_t primary_port_wwn[8];
	uint8_t primary_node_wwn[8];
	uint8_t secondary_port_wwn[8];
	uint8_t secondary_node_wwn[8];
} __attribute__((packed));
_Static_assert(sizeof(struct hv_fc_wwn_packet) == 36, "fc_wwn_packet");

#define VSTOR_PACKET_HDR_SIZE 12u

struct vstor_packet {
	uint32_t operation;            /* enum vstor_operation */
	uint32_t flags;                /* VSTOR_FLAG_REQUEST_COMPLETION */
	uint32_t status;               /* host: VSTOR_STATUS_* in completions */
	union {
		struct vmscsi_request vm_srb;                     /* EXECUTE_SRB, its completion */
		struct vmstorage_channel_properties properties;   /* QUERY_PROPERTIES completion */
		struct vmstorage_protocol_version version;        /* QUERY_PROTOCOL_VERSION */
		struct hv_fc_wwn_packet wwn_packet;               /* FCHBA_DATA */
		uint16_t sub_channel_count;                       /* CREATE_SUB_CHANNELS */
		uint8_t buffer[52];
	};
} __attribute__((packed));
_Static_assert(sizeof(struct vstor_packet) == 64, "vstor_packet");
_Static_assert(sizeof(struct vstor_packet) + 16 == STORVSC_MAX_PKT_SIZE, "storvsc max_pkt_size");

/* Linux's sentinel trans_ids (facts §6.3): init steps and host reset. */
#define STORVSC_RQST_INIT  0xFFFFFFFFFFFFFFFDull
#define STORVSC_RQST_RESET 0xFFFFFFFFFFFFFFFCull

#endif
