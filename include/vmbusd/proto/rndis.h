/* SPDX-License-Identifier: MIT */
/*
 * RNDIS as netvsc carries it inside NVSP SEND_RNDIS_PKT (facts §9.3-9.5;
 * Linux 6.1 include/linux/rndis.h, drivers/net/hyperv/rndis_filter.c,
 * hyperv_net.h).
 *
 * Every message is an 8-byte header {type, len} and a body.  Offsets in
 * bodies (info_buf_offset, data_offset, ppi_offset) count from the body,
 * i.e. from message byte 8.  All little-endian.
 */
#ifndef VMBUSD_PROTO_RNDIS_H
#define VMBUSD_PROTO_RNDIS_H

#include <stdint.h>

enum rndis_msg_type {
	RNDIS_MSG_PACKET        = 1,
	RNDIS_MSG_INIT          = 2,
	RNDIS_MSG_HALT          = 3,  /* on removal; no reply */
	RNDIS_MSG_QUERY         = 4,
	RNDIS_MSG_SET           = 5,
	RNDIS_MSG_RESET         = 6,
	RNDIS_MSG_INDICATE      = 7,  /* H->G: status indication */
	RNDIS_MSG_KEEPALIVE     = 8,  /* never sent by Linux 6.1 */
	RNDIS_MSG_TYPE_MAX      = 9,
	RNDIS_MSG_COMPLETION    = 0x80000000u, /* OR'ed into the request's type */
};

#define RNDIS_STATUS_SUCCESS          0x00000000u
#define RNDIS_STATUS_FAILURE          0xC0000001u
#define RNDIS_STATUS_INVALID_DATA     0xC0010015u
#define RNDIS_STATUS_NOT_SUPPORTED    0xC00000BBu
#define RNDIS_STATUS_MEDIA_CONNECT    0x4001000Bu
#define RNDIS_STATUS_MEDIA_DISCONNECT 0x4001000Cu
#define RNDIS_STATUS_NETWORK_CHANGE   0x40010018u
#define RNDIS_STATUS_LINK_SPEED_CHANGE 0x40010013u

/* OIDs Linux 6.1 queries or sets (rndis_filter.c, hyperv_net.h). */
#define RNDIS_OID_GEN_SUPPORTED_LIST          0x00010101u
#define RNDIS_OID_GEN_HARDWARE_STATUS         0x00010102u
#define RNDIS_OID_GEN_MEDIA_SUPPORTED         0x00010103u
#define RNDIS_OID_GEN_MEDIA_IN_USE            0x00010104u
#define RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE      0x00010106u
#define RNDIS_OID_GEN_LINK_SPEED              0x00010107u
#define RNDIS_OID_GEN_CURRENT_PACKET_FILTER   0x0001010Eu
#define RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE      0x00010111u
#define RNDIS_OID_GEN_MEDIA_CONNECT_STATUS    0x00010114u
#define RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES 0x00010203u
#define RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS 0x00010204u
#define RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER  0x0001021Bu
#define RNDIS_OID_GEN_FRIENDLY_NAME           0x00020216u
#define RNDIS_OID_802_3_PERMANENT_ADDRESS     0x01010101u
#define RNDIS_OID_802_3_CURRENT_ADDRESS       0x01010102u
#define RNDIS_OID_802_3_MULTICAST_LIST        0x01010103u
#define RNDIS_OID_802_3_MAXIMUM_LIST_SIZE     0x01010104u
#define RNDIS_OID_TCP_OFFLOAD_CURRENT_CONFIG  0xFC01020Bu
#define RNDIS_OID_TCP_OFFLOAD_PARAMETERS      0xFC01020Cu
#define RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES 0xFC01020Du

/* GEN_CURRENT_PACKET_FILTER bits (Linux sets 0x0B/0x0D on open, 0 on close). */
#define RNDIS_FILTER_DIRECTED       0x0001u
#define RNDIS_FILTER_MULTICAST      0x0002u
#define RNDIS_FILTER_ALL_MULTICAST  0x0004u
#define RNDIS_FILTER_BROADCAST      0x0008u
#define RNDIS_FILTER_PROMISCUOUS    0x0020u

/* GEN_MEDIA_CONNECT_STATUS values. */
#define RNDIS_MEDIA_STATE_CONNECTED    0u
#define RNDIS_MEDIA_STATE_DISCONNECTED 1u

struct rndis_hdr {
	uint32_t type;                 /* enum rndis_msg_type (| COMPLETION) */
	uint32_t len;                  /* whole message, header included */
} __attribute__((packed));
_Static_assert(sizeof(struct rndis_hdr) == 8, "rndis header");

struct rndis_init_req {
	struct rndis_hdr hdr;
	uint32_t req_id;
	uint32_t major;                /* 1 */
	uint32_t minor;                /* 0 */
	uint32_t max_xfer_size;        /* 0x4000 */
} __attribute__((packed));
_Static_assert(sizeof(struct rndis_init_req) == 24, "rndis init");

struct rndis_init_cmplt {
	struct rndis_hdr hdr;
	uint32_t req_id;
	uint32_t status;               /* must be SUCCESS or probe fails */
	uint32_t major, minor;
	uint32_t dev_flags;            /* 1: connectionless */
	uint32_t medium;               /* 0: 802.3 */
	uint32_t max_pkt_per_msg;      /* > 1 lets Linux batch TX in one section */
	uint32_t max_xfer_size;
	uint32_t pkt_alignment_factor; /* alignment = 1 << factor */
	uint32_t af_list_offset, af_list_size;
} __attribute__((packed));
_Static_assert(sizeof(struct rndis_init_cmplt) == 52, "rndis init complete");

/* QUERY and SET requests share a layout. */
struct rndis_oid_req {
	struct rndis_hdr hdr;
	uint32_t req_id;
	uint32_t oid;
	uint32_t info_buflen;
	uint32_t info_buf_offset;      /* from req_id; Linux: 20 */
	uint32_t dev_vc_handle;
} __attribute__((packed));
_Static_assert(sizeof(struct rndis_oid_req) == 28, "rndis query/set");

struct rndis_query_cmplt {
	struct rndis_hdr hdr;
	uint32_t req_id;
	uint32_t status;               /* Linux ignores it ... */
	uint32_t info_buflen;          /* ... but fails a query whose */
	uint32_t info_buf_offset;      /* offset (from req_id) is < 16 */
} __attribute__((packed));
_Static_assert(sizeof(struct rndis_query_cmplt) == 24, "rndis query complete");

struct rndis_set_cmplt {
	struct rndis_hdr hdr;
	uint32_t req_id;
	uint32_t status;               /* checked for TCP_OFFLOAD_PARAMETERS */
} __attribute__((packed));
_Static_assert(sizeof(struct rndis_set_cmplt) == 16, "rndis set complete");

struct rndis_reset_cmplt {
	struct rndis_hdr hdr;
	uint32_t status;
	uint32_t addressing_reset;
} __attribute__((packed));
_Static_assert(sizeof(struct rndis_reset_cmplt) == 16, "rndis reset complete");

struct rndis_keepalive_cmplt {
	struct rndis_hdr hdr;
	uint32_t req_id;
	uint32_t status;
} __attribute__((packed));
_Static_assert(sizeof(struct rndis_keepalive_cmplt) == 16, "rndis keepalive complete");

struct rndis_indicate_status {
	struct rndis_hdr hdr;
	uint32_t status;               /* RNDIS_STATUS_MEDIA_* */
	uint32_t status_buflen;
	uint32_t status_buf_offset;
} __attribute__((packed));
_Static_assert(sizeof(struct rndis_indicate_status) == 20, "rndis indicate status");

struct rndis_packet {
	struct rndis_hdr hdr;
	uint32_t data_offset;          /* from here (message byte 8) */
	uint32_t data_len;             /* the Ethernet frame */
	uint32_t oob_data_offset, oob_data_len, num_oob_data_elements;
	uint32_t ppi_offset;           /* from here; per-packet info elements */
	uint32_t ppi_len;
	uint32_t vc_handle, reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct rndis_packet) == 44, "rndis packet");
#define RNDIS_PACKET_BODY 36u

/* One per-packet-info element (rndis_per_packet_info). */
struct rndis_ppi {
	uint32_t size;                 /* element, header included */
	uint32_t type;                 /* bit 31: internal (Hyper-V private) type */
	uint32_t ppi_offset;           /* data, from the element's start (12) */
} __attribute__((packed));
_Static_assert(sizeof(struct rndis_ppi) == 12, "rndis ppi");

#define RNDIS_PPI_INTERNAL        0x80000000u
enum rndis_ppi_type {              /* ndis_per_pkt_info_type */
	RNDIS_PPI_CHECKSUM   = 0,      /* ndis_tcp_ip_checksum_info, u32 */
	RNDIS_PPI_LSO        = 2,      /* ndis_tcp_lso_info, u32 */
	RNDIS_PPI_8021Q      = 6,      /* ndis_pkt_8021q_info, u32 */
	RNDIS_PPI_HASH_VALUE = 8,      /* NBL_HASH_VALUE: u32 (TX with > 1 queue) */
};
/* Internal (bit 31) type 1, RNDIS_PKTINFO_ID: {u8 ver, u8 flag, u16 id}.
 * A frame larger than a receive section (RSC) travels as fragments, one
 * RNDIS_PACKET per range of one transfer-page packet: SUBALLOC on each,
 * 1ST_FRAG on the first, LAST_FRAG on the last (Linux's
 * rndis_filter_receive_data joins them). */
#define RNDIS_PPI_PKTINFO_ID     (RNDIS_PPI_INTERNAL | 1u)
#define RNDIS_PKTINFO_SUBALLOC   0x01u
#define RNDIS_PKTINFO_1ST_FRAG   0x02u
#define RNDIS_PKTINFO_LAST_FRAG  0x04u

/* Checksum PPI, transmit direction (bits of the u32). */
#define RNDIS_CSUM_TX_IPV4       (1u << 0)
#define RNDIS_CSUM_TX_IPV6       (1u << 1)
#define RNDIS_CSUM_TX_TCP        (1u << 2)
#define RNDIS_CSUM_TX_UDP        (1u << 3)
#define RNDIS_CSUM_TX_IP_HEADER  (1u << 4)
#define RNDIS_CSUM_TX_TCP_OFFSET(v) (((v) >> 16) & 0x3FFu)
/* Checksum PPI, receive direction: what the host verified (Linux marks a
 * frame CHECKSUM_UNNECESSARY on TCP or UDP succeeded, netvsc_alloc_recv_skb). */
#define RNDIS_CSUM_RX_TCP_OK     (1u << 3)
#define RNDIS_CSUM_RX_UDP_OK     (1u << 4)
#define RNDIS_CSUM_RX_IP_OK      (1u << 5)
/* LSOv2 PPI, transmit: mss bits 0..19, tcp header offset 20..29, type
 * bit 30 (1 = v2), ip version bit 31 (0 = IPv4, 1 = IPv6). */
#define RNDIS_LSO_MSS(v)         ((v) & 0xFFFFFu)
#define RNDIS_LSO_TCP_OFFSET(v)  (((v) >> 20) & 0x3FFu)
#define RNDIS_LSO_V2(v)          (((v) >> 30) & 1u)
#define RNDIS_LSO_IPV6(v)        (((v) >> 31) & 1u)

/* NDIS object header of the offload/RSS structures. */
struct ndis_obj_header {
	uint8_t type;                  /* 0xA7 offload, 0x88 RSS caps, 0x89 RSS params */
	uint8_t revision;
	uint16_t size;
} __attribute__((packed));
_Static_assert(sizeof(struct ndis_obj_header) == 4, "ndis object header");

#define NDIS_OBJECT_TYPE_OFFLOAD          0xA7u
#define NDIS_OBJECT_TYPE_RSS_CAPABILITIES 0x88u
#define NDIS_OBJECT_TYPE_RSS_PARAMETERS   0x89u
/* ndis_offload sizes: revision 1 (NDIS 6.0) .. 3 (6.30); Linux accepts a
 * reply of 112..156 bytes whose header.size is in that range. */
#define NDIS_OFFLOAD_SIZE_6_0  112u
#define NDIS_OFFLOAD_SIZE_6_30 156u
/* ndis_offload (revision 3, NDIS 6.30) ndis_rsc_offload {u8 ip4, ip6} at
 * 144: receive segment coalescing offered (Linux's rndis_netdev_set_hwcaps
 * then offers NETIF_F_LRO). */
#define NDIS_OFFLOAD_RSC_IP4   144u
#define NDIS_OFFLOAD_RSC_IP6   145u
/* ndis_offload_params: rsc_ip_v4 / rsc_ip_v6 bytes (0 no change, 1 off, 2 on). */
#define NDIS_OFFLOAD_PARAMS_RSC_IP4 22u
#define NDIS_OFFLOAD_PARAMS_RSC_IP6 23u
#define NDIS_OFFLOAD_PARAMS_RSC_DISABLED 1u
#define NDIS_OFFLOAD_PARAMS_RSC_ENABLED  2u
/* ndis_offload's checksum part (ndis_csum_offload), right after the
 * header: u32 {ip4_txenc, ip4_txcsum, ip4_rxenc, ip4_rxcsum, ip6_txenc,
 * ip6_txcsum, ip6_rxenc, ip6_rxcsum}.  Linux turns on TCP checksum offload
 * only when all of NDIS_TXCSUM_ALL_TCP4 / _TCP6 are set, UDP with the UDP
 * bit alone (rndis_netdev_set_hwcaps). */
#define NDIS_OFFLOAD_IP4_TXENC   4u
#define NDIS_OFFLOAD_IP4_TXCSUM  8u
#define NDIS_OFFLOAD_IP6_TXENC   20u
#define NDIS_OFFLOAD_IP6_TXCSUM  24u
#define NDIS_OFFLOAD_IP4_RXCSUM  16u
#define NDIS_OFFLOAD_IP6_RXCSUM  32u
#define NDIS_OFFLOAD_ENCAP_8023  0x0002u
#define NDIS_TXCSUM_CAP_IP4OPT   0x001u
#define NDIS_TXCSUM_CAP_TCP4OPT  0x004u
#define NDIS_TXCSUM_CAP_TCP4     0x010u
#define NDIS_TXCSUM_CAP_UDP4     0x040u
#define NDIS_TXCSUM_CAP_IP6EXT   0x001u
#define NDIS_TXCSUM_CAP_TCP6OPT  0x004u
#define NDIS_TXCSUM_CAP_TCP6     0x010u
#define NDIS_TXCSUM_CAP_UDP6     0x040u
/* ndis_offload's ndis_lsov2_offload at byte 80: u32 {ip4_encap, ip4_maxsz,
 * ip4_minsg, ip6_encap, ip6_maxsz, ip6_minsg, ip6_opts}.  Linux turns on
 * TSO when ip4_encap has 802.3 (and caps its GSO size at ip4_maxsz), TSO6
 * when ip6_encap has 802.3 and ip6_opts has both NDIS_LSOV2_CAP_IP6 bits. */
#define NDIS_OFFLOAD_LSOV2_IP4_ENCAP 80u
#define NDIS_OFFLOAD_LSOV2_IP4_MAXSZ 84u
#define NDIS_OFFLOAD_LSOV2_IP4_MINSG 88u
#define NDIS_OFFLOAD_LSOV2_IP6_ENCAP 92u
#define NDIS_OFFLOAD_LSOV2_IP6_MAXSZ 96u
#define NDIS_OFFLOAD_LSOV2_IP6_MINSG 100u
#define NDIS_OFFLOAD_LSOV2_IP6_OPTS  104u
#define NDIS_LSOV2_CAP_IP6EXT        0x001u
#define NDIS_LSOV2_CAP_TCP6OPT       0x004u

/* OID_GEN_RECEIVE_SCALE_CAPABILITIES reply (ndis_recv_scale_cap, 18 B). */
struct ndis_rss_caps {
	struct ndis_obj_header hdr;    /* 0x88, rev 2, size 18 */
	uint32_t cap_flag;
	uint32_t num_int_msg;
	uint32_t num_recv_que;         /* Linux opens min(this, cpus) queues */
	uint16_t num_indirect_tabent;  /* <= 128 */
} __attribute__((packed));
_Static_assert(sizeof(struct ndis_rss_caps) == 18, "rss caps");

/* OID_GEN_RECEIVE_SCALE_PARAMETERS set (ndis_recv_scale_param).  Linux
 * declares it without __packed: the u16 sizes are followed by 2 bytes of
 * alignment padding, and it puts the table right after the 40 bytes. */
struct ndis_rss_params {
	struct ndis_obj_header hdr;    /* 0x89, rev 2 */
	uint16_t flag;                 /* NDIS_RSS_PARAM_FLAG_* */
	uint16_t base_cpu_number;
	uint32_t hashinfo;
	uint16_t indirect_tabsize;     /* bytes of u32 entries (Linux: 128 * 4) */
	uint16_t pad1;
	uint32_t indirect_taboffset;   /* from the struct's start (Linux: 40) */
	uint16_t hashkey_size;         /* 40 */
	uint16_t pad2;
	uint32_t hashkey_offset;       /* from the struct's start */
	uint32_t processor_masks_offset;
	uint32_t num_processor_masks;
	uint32_t processor_masks_entry_size;
} __attribute__((packed));
_Static_assert(sizeof(struct ndis_rss_params) == 40, "rss params");
#define NDIS_RSS_PARAM_FLAG_DISABLE_RSS 0x0010u
#define NDIS_RSS_MAX_ITAB     128u
#define NDIS_RSS_MAX_KEY      40u

#endif
