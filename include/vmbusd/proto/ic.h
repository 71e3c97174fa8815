/* SPDX-License-Identifier: MIT */
/*
 * Integration-component framework (facts §7; Linux 6.1
 * include/linux/hyperv.h, drivers/hv/hv_util.c, hv_kvp.c,
 * include/uapi/linux/hyperv.h).  Host messages are VM_PKT_DATA_INBAND
 * packets whose payload is a pipe header, an IC header and the body at
 * offset 28.
 */
#ifndef VMBUSD_PROTO_IC_H
#define VMBUSD_PROTO_IC_H

#include <stdint.h>

struct vmbuspipe_hdr {
	uint32_t flags;   /* 1 = data; Linux ignores it */
	uint32_t msgsize; /* bytes that follow; Linux ignores it */
} __attribute__((packed));
_Static_assert(sizeof(struct vmbuspipe_hdr) == 8, "vmbuspipe_hdr");

struct ic_version {
	uint16_t major;
	uint16_t minor;
} __attribute__((packed));
_Static_assert(sizeof(struct ic_version) == 4, "ic_version");

enum icmsg_type {
	ICMSGTYPE_NEGOTIATE   = 0,
	ICMSGTYPE_HEARTBEAT   = 1,
	ICMSGTYPE_KVPEXCHANGE = 2,
	ICMSGTYPE_SHUTDOWN    = 3,
	ICMSGTYPE_TIMESYNC    = 4,
	ICMSGTYPE_VSS         = 5,
	ICMSGTYPE_FCOPY       = 7,
};

/* The integration components' device classes (facts §7.3; the offer's if_type). */
#define IC_HEARTBEAT_CLASS_GUID_STR "57164f39-9115-4e78-ab55-382f3bd5422d"
#define IC_SHUTDOWN_CLASS_GUID_STR  "0e0b6031-5213-4934-818b-38d90ced39db"
#define IC_TIMESYNC_CLASS_GUID_STR  "9527e630-d0ae-497b-adce-e80ab0175caf"
#define IC_KVP_CLASS_GUID_STR       "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6"

#define ICMSGHDRFLAG_TRANSACTION 1u
#define ICMSGHDRFLAG_REQUEST     2u
#define ICMSGHDRFLAG_RESPONSE    4u

#define HV_S_OK    0x00000000u
#define HV_E_FAIL  0x80004005u
#define HV_S_CONT  0x80070103u /* KVP: no such key / end of enumeration (hv_kvp_daemon) */
#define HV_ERROR_NOT_SUPPORTED 0x80070032u
#define HV_ERROR_MACHINE_LOCKED 0x800704F7u
#define HV_ERROR_DEVICE_NOT_CONNECTED 0x8007048Fu
#define HV_INVALIDARG 0x80070057u
#define HV_GUID_NOTFOUND 0x80041002u
#define HV_ERROR_ALREADY_EXISTS 0x80070050u
#define HV_ERROR_DISK_FULL 0x80070070u

struct icmsg_hdr {
	struct ic_version icverframe; /* framework version */
	uint16_t icmsgtype;           /* enum icmsg_type */
	struct ic_version icvermsg;   /* message (service) version */
	uint16_t icmsgsize;           /* body bytes */
	uint32_t status;              /* HV_S_OK or an HRESULT */
	uint8_t ictransaction_id;
	uint8_t icflags;              /* ICMSGHDRFLAG_* */
	uint8_t reserved[2];
} __attribute__((packed));
_Static_assert(sizeof(struct icmsg_hdr) == 20, "icmsg_hdr");

/* Offset of every IC body inside the packet payload. */
#define ICMSG_HDR_OFFSET  (sizeof(struct vmbuspipe_hdr))                          /* 8 */
#define ICMSG_BODY_OFFSET (sizeof(struct vmbuspipe_hdr) + sizeof(struct icmsg_hdr)) /* 28 */
#define IC_MAX_VERSIONS   100u /* Linux refuses counts above this */

struct icmsg_negotiate {
	uint16_t icframe_vercnt; /* framework versions first ... */
	uint16_t icmsg_vercnt;   /* ... then message versions */
	uint32_t reserved;
	struct ic_version icversion_data[]; /* icframe_vercnt + icmsg_vercnt */
} __attribute__((packed));
_Static_assert(sizeof(struct icmsg_negotiate) == 8, "icmsg_negotiate");
/* The guest answers in the host's buffer, same length (vmbus_prep_negotiate_resp,
 * channel_mgmt.c): counts 1/1 with icversion_data[0] = framework and [1] =
 * service version it chose, or counts 0/0 when nothing matched; icmsgsize
 * becomes 0x10; status is left as the host sent it. */

/* Heartbeat (type 1). */
struct heartbeat_msg_data {
	uint64_t seq_num;      /* guest echoes seq_num + 1 */
	uint32_t reserved[8];
} __attribute__((packed));
_Static_assert(sizeof(struct heartbeat_msg_data) == 40, "heartbeat_msg_data");

/* Shutdown (type 3); the guest needs the full 2060-byte body. */
#define SHUTDOWN_FLAG_SHUTDOWN  0u /* and 1 (forced) */
#define SHUTDOWN_FLAG_REBOOT    2u /* and 3 */
#define SHUTDOWN_FLAG_HIBERNATE 4u /* and 5 */
struct shutdown_msg_data {
	uint32_t reason_code;
	uint32_t timeout_seconds;
	uint32_t flags;
	uint8_t display_message[2048];
} __attribute__((packed));
_Static_assert(sizeof(struct shutdown_msg_data) == 2060, "shutdown_msg_data");

/* Time sync (type 4). */
#define ICTIMESYNCFLAG_PROBE  0u
#define ICTIMESYNCFLAG_SYNC   1u
#define ICTIMESYNCFLAG_SAMPLE 2u
#define WLTIMEDELTA 116444736000000000ull /* 100 ns ticks, 1601-01-01 .. 1970-01-01 */

struct ictimesync_data { /* service version <= 3.0 */
	uint64_t parenttime;    /* 100 ns since 1601-01-01 UTC */
	uint64_t childtime;
	uint64_t roundtriptime;
	uint8_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct ictimesync_data) == 25, "ictimesync_data");

struct ictimesync_ref_data { /* service version 4.0 */
	uint64_t parenttime;
	uint64_t vmreferencetime; /* partition reference counter at sampling */
	uint8_t flags;
	uint8_t leapflags;
	uint8_t stratum;
	uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct ictimesync_ref_data) == 22, "ictimesync_ref_data");

/* KVP (type 2), include/uapi/linux/hyperv.h. */
#define HV_KVP_EXCHANGE_MAX_KEY_SIZE   512u /* bytes, UTF-16 */
#define HV_KVP_EXCHANGE_MAX_VALUE_SIZE 2048u

enum hv_kvp_op {
	KVP_OP_GET = 0,
	KVP_OP_SET = 1,
	KVP_OP_DELETE = 2,
	KVP_OP_ENUMERATE = 3,
	KVP_OP_GET_IP_INFO = 4,
	KVP_OP_SET_IP_INFO = 5,
	KVP_OP_COUNT = 6,
};

enum hv_kvp_pool {
	KVP_POOL_EXTERNAL = 0,   /* host-written, guest-readable */
	KVP_POOL_GUEST = 1,      /* guest-written */
	KVP_POOL_AUTO = 2,       /* guest facts the daemon fills (OS name, IPs) */
	KVP_POOL_AUTO_EXTERNAL = 3,
	KVP_POOL_AUTO_INTERNAL = 4,
	KVP_POOL_COUNT = 5,
};

#define REG_SZ 1u
#define REG_U32 4u
#define REG_U64 8u

struct hv_kvp_hdr {
	uint8_t operation; /* enum hv_kvp_op */
	uint8_t pool;      /* enum hv_kvp_pool */
	uint16_t pad;
} __attribute__((packed));
_Static_assert(sizeof(struct hv_kvp_hdr) == 4, "hv_kvp_hdr");

struct hv_kvp_exchg_msg_value {
	uint32_t value_type;  /* REG_SZ etc. */
	uint32_t key_size;    /* bytes incl. the UTF-16 NUL (<= 512) */
	uint32_t value_size;  /* bytes incl. the UTF-16 NUL (<= 2048) for REG_SZ.
			       * Linux answers size = 2 * (units + 1) without
			       * writing the NUL itself: it relies on the host
			       * having zeroed the field. */
	uint8_t key[HV_KVP_EXCHANGE_MAX_KEY_SIZE];
	uint8_t value[HV_KVP_EXCHANGE_MAX_VALUE_SIZE]; /* union with u32/u64 */
} __attribute__((packed));
_Static_assert(sizeof(struct hv_kvp_exchg_msg_value) == 2572, "kvp value");

struct hv_kvp_msg_enumerate {
	uint32_t index;
	struct hv_kvp_exchg_msg_value data;
} __attribute__((packed));
_Static_assert(sizeof(struct hv_kvp_msg_enumerate) == 2576, "kvp enumerate");

struct hv_kvp_msg_delete {
	uint32_t key_size;
	uint8_t key[HV_KVP_EXCHANGE_MAX_KEY_SIZE];
} __attribute__((packed));
_Static_assert(sizeof(struct hv_kvp_msg_delete) == 516, "kvp delete");

/* KVP_OP_GET_IP_INFO / KVP_OP_SET_IP_INFO value, wire form in UTF-16LE. */
#define ADDR_FAMILY_NONE    0x00u
#define ADDR_FAMILY_IPV4    0x01u
#define ADDR_FAMILY_IPV6    0x02u
#define MAX_ADAPTER_ID_SIZE 128u
#define MAX_IP_ADDR_SIZE    1024u
#define MAX_GATEWAY_SIZE    512u
struct hv_kvp_ipaddr_value {
	uint16_t adapter_id[MAX_ADAPTER_ID_SIZE];
	uint8_t addr_family;  /* ADDR_FAMILY_* */
	uint8_t dhcp_enabled;
	uint16_t ip_addr[MAX_IP_ADDR_SIZE];
	uint16_t sub_net[MAX_IP_ADDR_SIZE];
	uint16_t gate_way[MAX_GATEWAY_SIZE];
	uint16_t dns_addr[MAX_IP_ADDR_SIZE];
} __attribute__((packed));
_Static_assert(sizeof(struct hv_kvp_ipaddr_value) == 7426, "kvp ipaddr");

/* The KVP body @28 for GET, SET, DELETE and ENUMERATE: header, then the
 * op-specific part.  (Linux's uapi union also holds hv_kvp_ipaddr_value at
 * offset 4, but that is only the kernel<->daemon form: on the wire the IP
 * messages use struct hv_kvp_ip_msg below, with no pad, so it is left out
 * here.)  The guest answers in the host's buffer with the host's length
 * (kvp_respond_to_host: buf_len = recv_len) and trusts the host to have
 * sent the whole op struct, so always send the full sizes below. */
struct hv_kvp_msg {
	struct hv_kvp_hdr kvp_hdr;
	union {
		struct hv_kvp_exchg_msg_value get; /* GET: key in, value out */
		struct hv_kvp_exchg_msg_value set; /* SET: key and value in */
		struct hv_kvp_msg_delete delete_;
		struct hv_kvp_msg_enumerate enumerate; /* index in, key and value out */
	} body;
} __attribute__((packed));
_Static_assert(sizeof(struct hv_kvp_msg) == 2580, "hv_kvp_msg");

#define HV_KVP_BODY_GET_SET   (sizeof(struct hv_kvp_hdr) + sizeof(struct hv_kvp_exchg_msg_value)) /* 2576 */
#define HV_KVP_BODY_DELETE    (sizeof(struct hv_kvp_hdr) + sizeof(struct hv_kvp_msg_delete))      /* 520 */
#define HV_KVP_BODY_ENUMERATE (sizeof(struct hv_kvp_hdr) + sizeof(struct hv_kvp_msg_enumerate))   /* 2580 */

/* KVP_OP_GET_IP_INFO / KVP_OP_SET_IP_INFO body @28 (hv_kvp.c
 * process_ob_ipinfo/process_ib_ipinfo): operation and pool, then the value
 * at offset 2 -- NOT the hv_kvp_hdr + union layout above. */
struct hv_kvp_ip_msg {
	uint8_t operation; /* KVP_OP_GET_IP_INFO or KVP_OP_SET_IP_INFO */
	uint8_t pool;
	struct hv_kvp_ipaddr_value kvp_ip_val;
} __attribute__((packed));
_Static_assert(sizeof(struct hv_kvp_ip_msg) == 7428, "hv_kvp_ip_msg");

#endif /* VMBUSD_PROTO_IC_H */
