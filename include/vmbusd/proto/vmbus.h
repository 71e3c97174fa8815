/* SPDX-License-Identifier: MIT */
/*
 * VMBus channel-management messages (facts §5; Linux 6.1
 * include/linux/hyperv.h, drivers/hv/channel_mgmt.c).  Every message fits
 * one SynIC payload (240 bytes) and starts with an 8-byte header.
 */
#ifndef VMBUSD_PROTO_VMBUS_H
#define VMBUSD_PROTO_VMBUS_H

#include <stdint.h>

/* The 16 wire bytes of a GUID as the guest's guid_t holds them: the first
 * three fields little-endian (facts §7.3). */
struct guid {
	uint8_t b[16];
} __attribute__((packed));
_Static_assert(sizeof(struct guid) == 16, "guid");

#define VMBUS_VERSION(major, minor) (((uint32_t)(major) << 16) | (uint32_t)(minor))
#define VMBUS_VERSION_WS2008   VMBUS_VERSION(0, 13)
#define VMBUS_VERSION_WIN7     VMBUS_VERSION(1, 1)
#define VMBUS_VERSION_WIN8     VMBUS_VERSION(2, 4)
#define VMBUS_VERSION_WIN8_1   VMBUS_VERSION(3, 0)
#define VMBUS_VERSION_WIN10    VMBUS_VERSION(4, 0)
#define VMBUS_VERSION_WIN10_V4_1 VMBUS_VERSION(4, 1)
#define VMBUS_VERSION_WIN10_V5 VMBUS_VERSION(5, 0)
#define VMBUS_VERSION_WIN10_V5_1 VMBUS_VERSION(5, 1)
#define VMBUS_VERSION_WIN10_V5_2 VMBUS_VERSION(5, 2)
#define VMBUS_VERSION_WIN10_V5_3 VMBUS_VERSION(5, 3)

/* Connection ids the guest posts on (facts §5.1). */
#define VMBUS_MESSAGE_CONNECTION_ID   1u /* everything before 5.0 */
#define VMBUS_MESSAGE_CONNECTION_ID_4 4u /* INITIATE_CONTACT from 5.0 on */

#define VMBUS_MAX_RELID       2047u /* MAX_CHANNEL_RELIDS = 2048; relid 0 is special */
#define VMBUS_MSG_MAX         240u

enum vmbus_msg_type {
	CHANNELMSG_INVALID                = 0,
	CHANNELMSG_OFFERCHANNEL           = 1,
	CHANNELMSG_RESCIND_CHANNELOFFER   = 2,
	CHANNELMSG_REQUESTOFFERS          = 3,
	CHANNELMSG_ALLOFFERS_DELIVERED    = 4,
	CHANNELMSG_OPENCHANNEL            = 5,
	CHANNELMSG_OPENCHANNEL_RESULT     = 6,
	CHANNELMSG_CLOSECHANNEL           = 7,
	CHANNELMSG_GPADL_HEADER           = 8,
	CHANNELMSG_GPADL_BODY             = 9,
	CHANNELMSG_GPADL_CREATED          = 10,
	CHANNELMSG_GPADL_TEARDOWN         = 11,
	CHANNELMSG_GPADL_TORNDOWN         = 12,
	CHANNELMSG_RELID_RELEASED         = 13,
	CHANNELMSG_INITIATE_CONTACT       = 14,
	CHANNELMSG_VERSION_RESPONSE       = 15,
	CHANNELMSG_UNLOAD                 = 16,
	CHANNELMSG_UNLOAD_RESPONSE        = 17,
	CHANNELMSG_18                     = 18,
	CHANNELMSG_19                     = 19,
	CHANNELMSG_20                     = 20,
	CHANNELMSG_TL_CONNECT_REQUEST     = 21,
	CHANNELMSG_MODIFYCHANNEL          = 22,
	CHANNELMSG_TL_CONNECT_RESULT      = 23,
	CHANNELMSG_MODIFYCHANNEL_RESPONSE = 24,
	CHANNELMSG_COUNT                  = 25,
};

struct vmbus_msg_header {
	uint32_t msgtype; /* enum vmbus_msg_type */
	uint32_t padding;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_header) == 8, "vmbus_msg_header");

/* 1: host offers a channel (min payload Linux accepts: 196). */
struct vmbus_msg_offer_channel {
	struct vmbus_msg_header header;
	struct guid if_type;          /* device class */
	struct guid if_instance;      /* unique per primary device */
	uint64_t reserved1;
	uint64_t reserved2;
	uint16_t chn_flags;           /* 0; 0x2000 would mean hv_sock */
	uint16_t mmio_megabytes;      /* 0 */
	uint8_t user_def[120];        /* pipe mode etc.; 0 */
	uint16_t sub_channel_index;   /* 0 = primary */
	uint16_t reserved3;
	uint32_t child_relid;         /* 1 .. 2047 */
	uint8_t monitorid;            /* 0 */
	uint8_t monitor_allocated;    /* bit 0; 0 so the guest signals by hypercall */
	uint16_t is_dedicated_interrupt; /* bit 0 */
	uint32_t connection_id;       /* what the guest's HvSignalEvent carries */
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_offer_channel) == 196, "offer_channel");

/* 2: host withdraws an offer. */
struct vmbus_msg_rescind_offer {
	struct vmbus_msg_header header;
	uint32_t child_relid;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_rescind_offer) == 12, "rescind_offer");

/* 5: guest opens a channel on a ring GPADL. */
struct vmbus_msg_open_channel {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t openid;                   /* echoed in the result; Linux uses relid */
	uint32_t ringbuffer_gpadl;         /* GPADL covering both rings */
	uint32_t target_vp;                /* VP to interrupt for this channel */
	uint32_t downstream_ring_offset;   /* page index of the host->guest ring */
	uint8_t userdata[120];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_open_channel) == 148, "open_channel");

/* 6: host answers OPENCHANNEL. */
struct vmbus_msg_open_result {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t openid;
	uint32_t status;                   /* 0 = success */
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_open_result) == 20, "open_result");

/* 7: guest closes; no reply. 13: guest releases a rescinded relid; no reply. */
struct vmbus_msg_relid {
	struct vmbus_msg_header header;
	uint32_t child_relid;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_relid) == 12, "relid msg");

/* A GPA range as GPADL messages carry it (page-granular). */
struct vmbus_gpa_range {
	uint32_t byte_count;
	uint32_t byte_offset;
	uint64_t pfn_array[];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_gpa_range) == 8, "gpa_range");

/* 8: first part of a GPADL; at most 26 PFNs fit here. */
struct vmbus_msg_gpadl_header {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t gpadl;            /* guest-chosen handle */
	uint16_t range_buflen;     /* bytes of all ranges incl. PFNs */
	uint16_t rangecount;       /* Linux: always 1 */
	struct vmbus_gpa_range range[];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_gpadl_header) == 20, "gpadl_header");
#define VMBUS_GPADL_HEADER_MAX_PFNS ((VMBUS_MSG_MAX - 20u - 8u) / 8u) /* 26 */

/* 9: more PFNs of a GPADL; at most 28 per message. */
struct vmbus_msg_gpadl_body {
	struct vmbus_msg_header header;
	uint32_t msgnumber;        /* Linux leaves 0: do not rely on it */
	uint32_t gpadl;
	uint64_t pfn[];
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_gpadl_body) == 16, "gpadl_body");
#define VMBUS_GPADL_BODY_MAX_PFNS ((VMBUS_MSG_MAX - 16u) / 8u) /* 28 */

/* 10: host answers the complete GPADL. */
struct vmbus_msg_gpadl_created {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t gpadl;
	uint32_t creation_status;  /* 0 = OK */
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_gpadl_created) == 20, "gpadl_created");

/* 11: guest tears a GPADL down. */
struct vmbus_msg_gpadl_teardown {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t gpadl;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_gpadl_teardown) == 16, "gpadl_teardown");

/* 12: host confirms; matched on gpadl only. */
struct vmbus_msg_gpadl_torndown {
	struct vmbus_msg_header header;
	uint32_t gpadl;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_gpadl_torndown) == 12, "gpadl_torndown");

/* 14: guest proposes a version. */
struct vmbus_msg_initiate_contact {
	struct vmbus_msg_header header;
	uint32_t vmbus_version_requested;
	uint32_t target_vcpu;      /* VP index for host->guest messages */
	union {
		uint64_t interrupt_page; /* < 5.0 (unused by Linux 6.1 itself) */
		struct {
			uint8_t msg_sint;  /* >= 5.0: SINT for messages (2) */
			uint8_t msg_vtl;
			uint8_t reserved[6];
		} __attribute__((packed));
	};
	uint64_t monitor_page1;    /* parent -> child */
	uint64_t monitor_page2;    /* child -> parent */
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_initiate_contact) == 40, "initiate_contact");

/* 15: host accepts or refuses the version. */
struct vmbus_msg_version_response {
	struct vmbus_msg_header header;
	uint8_t version_supported;  /* non-zero = accepted */
	uint8_t connection_state;   /* 0 = OK */
	uint16_t padding;
	uint32_t msg_conn_id;       /* >= 5.0: the id the guest posts on from now on */
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_version_response) == 16, "version_response");

/* 21: hv_sock connect request from the guest. */
struct vmbus_msg_tl_connect_request {
	struct vmbus_msg_header header;
	struct guid guest_endpoint_id;
	struct guid host_service_id;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_tl_connect_request) == 40, "tl_connect_request");

/* 23: host's answer to a TL connect (Linux has no handler). */
struct vmbus_msg_tl_connect_result {
	struct vmbus_msg_header header;
	struct guid guest_endpoint_id;
	uint32_t status;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_tl_connect_result) == 28, "tl_connect_result");

/* 22: guest moves a channel's interrupts to another VP. */
struct vmbus_msg_modify_channel {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t target_vp;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_modify_channel) == 16, "modify_channel");

/* 24: host acknowledges MODIFYCHANNEL (required from 5.3 on). */
struct vmbus_msg_modify_channel_response {
	struct vmbus_msg_header header;
	uint32_t child_relid;
	uint32_t status;
} __attribute__((packed));
_Static_assert(sizeof(struct vmbus_msg_modify_channel_response) == 16, "modify_response");

#endif /* VMBUSD_PROTO_VMBUS_H */
