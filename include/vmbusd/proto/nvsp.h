/* SPDX-License-Identifier: MIT */
/*
 * NVSP: the netvsc <-> netvsp protocol on a network channel (facts §9.1;
 * Linux 6.1 drivers/net/hyperv/hyperv_net.h and netvsc.c).
 *
 * Every NVSP message is one `struct nvsp_msg`: a u32 type and a 36-byte
 * union, 40 bytes in all.  Linux always sends 40 bytes and reads the
 * completion's fields cumulatively (INIT_COMPLETE is length-checked as if it
 * were SEND_RECV_BUF_COMPLETE), so the host always answers with 40 bytes.
 * Completions are VM_PKT_COMP packets that echo the guest's trans_id.
 */
#ifndef VMBUSD_PROTO_NVSP_H
#define VMBUSD_PROTO_NVSP_H

#include <stdint.h>

/* Device class of a synthetic NIC (facts §7.3). */
#define NETVSC_CLASS_GUID_STR "f8615163-df3e-46c5-913f-f2d2f965ed0e"

/* Largest host->guest packet netvsc takes (facts §6.4: NETVSC_MAX_PKT_SIZE
 * = 24 + 562 * 8 + 40 + 64). */
#define NETVSC_MAX_PKT_SIZE 4624u

/* Protocol versions Linux 6.1 tries, highest first (netvsc_connect_vsp). */
#define NVSP_PROTOCOL_VERSION_1   0x00002u
#define NVSP_PROTOCOL_VERSION_2   0x30002u
#define NVSP_PROTOCOL_VERSION_4   0x40000u
#define NVSP_PROTOCOL_VERSION_5   0x50000u
#define NVSP_PROTOCOL_VERSION_6   0x60000u
#define NVSP_PROTOCOL_VERSION_61  0x60001u

enum nvsp_msg_type {
	NVSP_MSG_INIT                  = 1,   /* G->H: min/max version */
	NVSP_MSG_INIT_COMPLETE         = 2,   /* H->G completion */
	NVSP_MSG1_SEND_NDIS_VER        = 100, /* G->H, no completion */
	NVSP_MSG1_SEND_RECV_BUF        = 101, /* G->H: receive buffer GPADL */
	NVSP_MSG1_SEND_RECV_BUF_COMPLETE = 102,
	NVSP_MSG1_REVOKE_RECV_BUF      = 103,
	NVSP_MSG1_SEND_SEND_BUF        = 104, /* G->H: send buffer GPADL */
	NVSP_MSG1_SEND_SEND_BUF_COMPLETE = 105,
	NVSP_MSG1_REVOKE_SEND_BUF      = 106,
	NVSP_MSG1_SEND_RNDIS_PKT       = 107, /* both ways: one RNDIS message */
	NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE = 108,
	NVSP_MSG2_SEND_NDIS_CONFIG     = 125, /* v2+, G->H, no completion */
	NVSP_MSG4_SEND_VF_ASSOCIATION  = 128, /* v4+, H->G inband */
	NVSP_MSG4_SWITCH_DATA_PATH     = 129, /* v4+, G->H: only when a VF exists */
	NVSP_MSG4_UPLINK_CONNECT_STATE = 130, /* deprecated */
	NVSP_MSG5_OID_QUERY_EX         = 131,
	NVSP_MSG5_OID_QUERY_EX_COMP    = 132,
	NVSP_MSG5_SUBCHANNEL           = 133, /* v5+, G->H and its completion */
	NVSP_MSG5_SEND_INDIRECTION_TABLE = 134, /* v5+, H->G inband */
	NVSP_MSG_TYPE_MAX              = 135, /* table size */
};

enum nvsp_status {
	NVSP_STAT_NONE = 0,
	NVSP_STAT_SUCCESS = 1,       /* the only status Linux accepts */
	NVSP_STAT_FAIL = 2,
	NVSP_STAT_PROTOCOL_TOO_NEW = 3,
	NVSP_STAT_PROTOCOL_TOO_OLD = 4,
	NVSP_STAT_INVALID_RNDIS_PKT = 5,
	NVSP_STAT_BUSY = 6,
	NVSP_STAT_PROTOCOL_UNSUPPORTED = 7,
};

/* The id Linux gives its receive buffer (NETVSC_RECEIVE_BUFFER_ID) and the
 * transfer page set id of host->guest data packets. */
#define NETVSC_RECEIVE_BUFFER_ID 0xCAFEu
#define NETVSC_SEND_BUFFER_ID    0u
/* send_buf_section_index of an RNDIS message that is not in the send
 * buffer (it travels as GPA-direct ranges). */
#define NVSP_SECTION_NONE        0xFFFFFFFFu
/* channel_type of NVSP 107 */
#define NVSP_CHANNEL_DATA    0u
#define NVSP_CHANNEL_CONTROL 1u
/* nvsp_2_send_ndis_config.capability bits (netvsc_connect_vsp) */
#define NVSP_CAP_8021Q    (1ull << 3)
#define NVSP_CAP_SRIOV    (1ull << 2)
#define NVSP_CAP_TEAMING  (1ull << 5)
#define NVSP_CAP_RSC      (1ull << 7)
/* SUBCHANNEL op */
#define NVSP_SUBCHANNEL_ALLOCATE 1u

#define NVSP_MSG_SIZE 40u

struct nvsp_msg {
	uint32_t type;                         /* enum nvsp_msg_type */
	union {
		struct {
			uint32_t min_ver;      /* Linux sends min == max */
			uint32_t max_ver;
		} __attribute__((packed)) init;
		struct {
			uint32_t negotiated_ver; /* Linux ignores it and keeps its own */
			uint32_t max_mdl_chain_len;
			uint32_t status;         /* NVSP_STAT_SUCCESS or Linux tries the next */
		} __attribute__((packed)) init_complete;
		struct {
			uint32_t major;          /* 6 */
			uint32_t minor;          /* 30 if NVSP >= 5, else 1 */
		} __attribute__((packed)) ndis_ver;
		struct {
			uint32_t gpadl;          /* GPADL created on the primary channel */
			uint16_t id;             /* 0xCAFE (recv) / 0 (send) */
		} __attribute__((packed)) send_buf;     /* 101 and 104 */
		struct {
			uint32_t status;
			uint32_t num_sections;   /* Linux requires exactly 1 */
			uint32_t offset;         /* section 0: must be 0 */
			uint32_t sub_alloc_size; /* >= 68; each host->guest range <= this */
			uint32_t num_sub_allocs; /* size * count <= the buffer */
			uint32_t end_offset;
		} __attribute__((packed)) recv_buf_complete;
		struct {
			uint16_t id;
		} __attribute__((packed)) revoke_buf;   /* 103 and 106 */
		struct {
			uint32_t status;
			uint32_t section_size;   /* >= 68 (Linux refuses less) */
		} __attribute__((packed)) send_buf_complete;
		struct {
			uint32_t channel_type;   /* NVSP_CHANNEL_* */
			uint32_t section_index;  /* send-buffer section or NVSP_SECTION_NONE */
			uint32_t section_size;   /* bytes used in that section */
		} __attribute__((packed)) rndis_pkt;
		struct {
			uint32_t status;         /* NVSP_STAT_* */
		} __attribute__((packed)) rndis_pkt_complete;
		struct {
			uint32_t mtu;            /* the guest's MTU + 14 */
			uint32_t reserved;
			uint64_t capability;     /* NVSP_CAP_* */
		} __attribute__((packed)) ndis_config;
		struct {
			uint32_t allocated;      /* 0: no VF */
			uint32_t serial;
		} __attribute__((packed)) vf_assoc;
		struct {
			uint32_t active_datapath; /* 0 synthetic, 1 VF */
		} __attribute__((packed)) switch_dp;
		struct {
			uint32_t op;             /* NVSP_SUBCHANNEL_ALLOCATE */
			uint32_t num;            /* subchannels wanted (queues - 1) */
		} __attribute__((packed)) subchannel;
		struct {
			uint32_t status;
			uint32_t num;            /* granted; Linux requires <= asked */
		} __attribute__((packed)) subchannel_complete;
		struct {
			uint32_t count;
			uint32_t offset;
		} __attribute__((packed)) indirection;
		uint8_t raw[36];
	};
} __attribute__((packed));
_Static_assert(sizeof(struct nvsp_msg) == NVSP_MSG_SIZE, "nvsp_msg is 40 bytes");

/* Bytes of each message a host must read (type + the body it uses). */
#define NVSP_LEN(member) (4u + (uint32_t)sizeof(((struct nvsp_msg *)0)->member))

/* The VMBus transfer-page header (facts §6.2) of host->guest data: the
 * descriptor, then this, then `range_cnt` ranges. */
struct nvsp_xfer_range {
	uint32_t byte_count;
	uint32_t byte_offset;                  /* in the receive buffer */
} __attribute__((packed));
_Static_assert(sizeof(struct nvsp_xfer_range) == 8, "xfer range is 8 bytes");

struct nvsp_xfer_hdr {
	uint16_t pageset_id;                   /* NETVSC_RECEIVE_BUFFER_ID */
	uint8_t sender_owns_set;
	uint8_t reserved;
	uint32_t range_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct nvsp_xfer_hdr) == 8, "xfer header is 8 bytes");

#endif
