/* SPDX-License-Identifier: MIT */
/*
 * Util IC drivers like Linux 6.1 hv_utils (facts §7): version negotiation
 * (vmbus_prep_negotiate_resp), heartbeat, shutdown and time sync; KVP's
 * exchange is in guest_kvp.c.  Every reply is the received buffer, same
 * length, icflags = TRANSACTION|RESPONSE, VM_PKT_DATA_INBAND, flags 0,
 * trans_id echoed.
 */
#include "guest/guest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "guest/guest_kvp.h"
#include "guest/guest_xfer.h"
#include "vmbusd/proto/ic.h"

#define IC_VER(maj, min) (((uint32_t)(maj) << 16) | (uint32_t)(min))

enum ic_kind { IC_HEARTBEAT, IC_SHUTDOWN, IC_TIMESYNC, IC_KVP, IC_VSS, IC_FCOPY };

struct ic_desc {
	enum ic_kind kind;
	const char *device;     /* guest_channel_device_name() */
	uint16_t msgtype;       /* the service's own icmsgtype */
	const uint32_t *versions;
	unsigned int n_versions;
	uint32_t max_pkt;       /* Linux max_pkt_size (facts §6.4) */
	bool one_per_event;     /* reads one packet per interrupt */
	const uint32_t *fw;     /* framework versions accepted; NULL: 3.0, 1.0 */
	unsigned int n_fw;
};

static const uint32_t fw_versions[] = { IC_VER(3, 0), IC_VER(1, 0) };
static const uint32_t hb_versions[] = { IC_VER(3, 0), IC_VER(1, 0) };
static const uint32_t sd_versions[] = { IC_VER(3, 2), IC_VER(3, 1), IC_VER(3, 0), IC_VER(1, 0) };
static const uint32_t ts_versions[] = { IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0) };
static const uint32_t kvp_versions[] = { IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0) };
static const uint32_t fw3_only[] = { IC_VER(3, 0) };
static const uint32_t vss_versions[] = { IC_VER(5, 0) };
static const uint32_t fcopy_versions[] = { IC_VER(1, 1) };

static const struct ic_desc ic_descs[] = {
	{ IC_HEARTBEAT, "heartbeat", ICMSGTYPE_HEARTBEAT, hb_versions, ARRAY_SIZE(hb_versions), 4096, false, NULL, 0 },
	{ IC_SHUTDOWN, "shutdown", ICMSGTYPE_SHUTDOWN, sd_versions, ARRAY_SIZE(sd_versions), 4096, true, NULL, 0 },
	{ IC_TIMESYNC, "timesync", ICMSGTYPE_TIMESYNC, ts_versions, ARRAY_SIZE(ts_versions), 4096, false, NULL, 0 },
	{ IC_KVP, "kvp", ICMSGTYPE_KVPEXCHANGE, kvp_versions, ARRAY_SIZE(kvp_versions), 16384, false, NULL, 0 },
	{ IC_VSS, "vss", ICMSGTYPE_VSS, vss_versions, ARRAY_SIZE(vss_versions), 8192, false,
	  fw3_only, ARRAY_SIZE(fw3_only) },
	{ IC_FCOPY, "fcopy", ICMSGTYPE_FCOPY, fcopy_versions, ARRAY_SIZE(fcopy_versions), 8192, false,
	  fw3_only, ARRAY_SIZE(fw3_only) },
};

#define IC_RING_BYTES (16u * 1024u) /* VMBUS_RING_SIZE(3 pages): header + 12 KiB */

struct ic_drv {
	const struct ic_desc *desc;
	uint32_t fw_version;
	uint32_t srv_version;   /* 0 until negotiated: timesync then uses the old format */
	bool negotiate_seen;    /* the host's NEGOTIATE was answered (agreed or not) */
	uint8_t *buf;           /* work buffer, max_pkt + slack, zeroed per packet */
	uint32_t buf_size;
	struct guest_kvp *kvp;
	struct guest_fcopy *fcopy;
};

static void ic_drv_free(void *p)
{
	struct ic_drv *d = p;

	if (d->kvp)
		guest_kvp_free(d->kvp);
	guest_fcopy_free(d->fcopy);
	free(d->buf);
	free(d);
}

static const struct ic_desc *ic_find(const struct guest_channel *ch)
{
	for (size_t i = 0; i < ARRAY_SIZE(ic_descs); i++)
		if (!strcmp(ic_descs[i].device, ch->device))
			return &ic_descs[i];
	return NULL;
}

bool guest_ic_known(const struct guest_channel *ch)
{
	return ic_find(ch) != NULL && ch->offer.sub_channel_index == 0;
}

bool guest_ic_negotiating(const struct guest_channel *ch)
{
	const struct ic_drv *d = ch->drv;

	return ch->open && ch->drv_free == ic_drv_free && d && !d->negotiate_seen;
}

static const char *ver_str(uint32_t v, char buf[16])
{
	return guest_version_str(v, buf);
}

/* vmbus_prep_negotiate_resp, field for field (channel_mgmt.c). */
static bool ic_negotiate(struct icmsg_hdr *hdr, uint8_t *buf, uint32_t buflen,
			 const uint32_t *fw, unsigned int n_fw, const uint32_t *srv,
			 unsigned int n_srv, uint32_t *nego_fw, uint32_t *nego_srv)
{
	struct icmsg_negotiate *neg = (void *)(buf + ICMSG_BODY_OFFSET);
	struct ic_version *vd = (void *)(buf + ICMSG_BODY_OFFSET + sizeof(*neg));
	uint32_t fmaj, fmin = 0, mmaj, mmin = 0;
	bool found = false;

	if (buflen < ICMSG_BODY_OFFSET + offsetof(struct icmsg_negotiate, reserved))
		return false; /* no reply fields touched */
	hdr->icmsgsize = 0x10;
	fmaj = neg->icframe_vercnt;
	mmaj = neg->icmsg_vercnt;
	if (neg->icframe_vercnt > IC_MAX_VERSIONS || neg->icmsg_vercnt > IC_MAX_VERSIONS ||
	    ICMSG_BODY_OFFSET + sizeof(*neg) + 4u * ((uint32_t)neg->icframe_vercnt + neg->icmsg_vercnt) > buflen)
		goto out;
	for (unsigned int i = 0; i < n_fw && !found; i++)
		for (unsigned int j = 0; j < neg->icframe_vercnt; j++)
			if (vd[j].major == fw[i] >> 16 && vd[j].minor == (fw[i] & 0xFFFFu)) {
				fmaj = vd[j].major;
				fmin = vd[j].minor;
				found = true;
				break;
			}
	if (!found)
		goto out;
	found = false;
	for (unsigned int i = 0; i < n_srv && !found; i++)
		for (unsigned int j = neg->icframe_vercnt;
		     j < (unsigned int)neg->icframe_vercnt + neg->icmsg_vercnt; j++)
			if (vd[j].major == srv[i] >> 16 && vd[j].minor == (srv[i] & 0xFFFFu)) {
				mmaj = vd[j].major;
				mmin = vd[j].minor;
				found = true;
				break;
			}
out:
	neg->icframe_vercnt = found ? 1 : 0;
	neg->icmsg_vercnt = found ? 1 : 0;
	*nego_fw = (fmaj << 16) | fmin;
	*nego_srv = (mmaj << 16) | mmin;
	vd[0].major = (uint16_t)fmaj;
	vd[0].minor = (uint16_t)fmin;
	vd[1].major = (uint16_t)mmaj;
	vd[1].minor = (uint16_t)mmin;
	return found;
}

/* Returns false when Linux would send no reply. */
static bool ic_heartbeat(struct guest *g, struct guest_channel *ch, uint8_t *buf, uint32_t len,
			 struct icmsg_hdr *hdr)
{
	uint64_t seq;

	if (len < ICMSG_BODY_OFFSET + sizeof(uint64_t)) {
		guest_error(g, "heartbeat", "relid %u: %u-byte heartbeat too short; dropped", ch->relid, len);
		return false;
	}
	memcpy(&seq, buf + ICMSG_BODY_OFFSET, sizeof(seq));
	guest_emit(g, json_pack("{s:s, s:i, s:I}", "event", "heartbeat", "relid", (json_int_t)ch->relid,
				"seq", (json_int_t)seq));
	seq += 1;
	memcpy(buf + ICMSG_BODY_OFFSET, &seq, sizeof(seq));
	return true;
}

static bool ic_shutdown(struct guest *g, struct guest_channel *ch, uint8_t *buf, uint32_t len,
			struct icmsg_hdr *hdr)
{
	struct shutdown_msg_data m;
	const char *action;

	if (len < ICMSG_BODY_OFFSET + sizeof(struct shutdown_msg_data)) {
		guest_error(g, "shutdown", "relid %u: %u-byte shutdown message < 2088 bytes; ignored "
			    "without a reply, as Linux does", ch->relid, len);
		return false;
	}
	memcpy(&m, buf + ICMSG_BODY_OFFSET, sizeof(m));
	switch (m.flags) {
	case 0:
	case 1:
		hdr->status = HV_S_OK;
		action = "poweroff";
		break;
	case 2:
	case 3:
		hdr->status = HV_S_OK;
		action = "reboot";
		break;
	case 4:
	case 5:
		hdr->status = HV_E_FAIL; /* no hibernation support here */
		action = "hibernate";
		break;
	default:
		hdr->status = HV_E_FAIL;
		action = "invalid";
		break;
	}
	guest_emit(g, json_pack("{s:s, s:i, s:i, s:i, s:i, s:s, s:I}", "event", "shutdown", "relid",
				(json_int_t)ch->relid, "flags", (json_int_t)m.flags, "reason_code",
				(json_int_t)m.reason_code, "timeout_seconds", (json_int_t)m.timeout_seconds,
				"action", action, "status", (json_int_t)hdr->status));
	return true;
}

static uint64_t ic_read_refcount(struct guest *g, struct guest_channel *ch)
{
	uint64_t v = 0;
	int ret = guest_attach_msr_read(&g->att, ch->target_vp, HV_MSR_TIME_REF_COUNT, &v);

	/* An unimplemented MSR is a WARN and 0 in Linux. */
	if (ret == -EPERM)
		guest_error(g, "timesync", "reading TIME_REF_COUNT raised #GP");
	return ret ? 0 : v;
}

static bool ic_timesync(struct guest *g, struct guest_channel *ch, struct ic_drv *d, uint8_t *buf,
			uint32_t len, struct icmsg_hdr *hdr)
{
	char vbuf[16];
	uint64_t parent, ref, cur;
	uint8_t flags;
	json_t *ev;

	if (d->srv_version > IC_VER(3, 0)) {
		struct ictimesync_ref_data t;

		if (len < ICMSG_BODY_OFFSET + sizeof(t)) {
			guest_error(g, "timesync", "relid %u: short v4 timesync (%u bytes)", ch->relid, len);
			return false;
		}
		memcpy(&t, buf + ICMSG_BODY_OFFSET, sizeof(t));
		parent = t.parenttime;
		ref = t.vmreferencetime;
		flags = t.flags;
		cur = ic_read_refcount(g, ch);
		ev = json_pack("{s:s, s:I, s:I, s:i, s:i}", "event", "timesync", "vmreferencetime",
			       (json_int_t)ref, "reftime", (json_int_t)cur, "leapflags",
			       (json_int_t)t.leapflags, "stratum", (json_int_t)t.stratum);
	} else {
		struct ictimesync_data t;

		if (len < ICMSG_BODY_OFFSET + sizeof(t)) {
			guest_error(g, "timesync", "relid %u: short timesync (%u bytes)", ch->relid, len);
			return false;
		}
		memcpy(&t, buf + ICMSG_BODY_OFFSET, sizeof(t));
		parent = t.parenttime;
		flags = t.flags;
		ref = ic_read_refcount(g, ch); /* older protocols: reftime = now */
		cur = ic_read_refcount(g, ch);
		ev = json_pack("{s:s, s:I, s:I, s:I}", "event", "timesync", "childtime",
			       (json_int_t)t.childtime, "roundtriptime", (json_int_t)t.roundtriptime,
			       "reftime", (json_int_t)cur);
	}
	if (!ev)
		return true;
	json_object_set_new(ev, "relid", json_integer(ch->relid));
	json_object_set_new(ev, "version", json_string(ver_str(d->srv_version, vbuf)));
	json_object_set_new(ev, "flags", json_integer(flags));
	json_object_set_new(ev, "parenttime", json_integer((json_int_t)parent));
	/* adj_guesttime: host time advanced by the delay since sampling. */
	if (parent >= WLTIMEDELTA)
		json_object_set_new(ev, "host_unix_ns",
				    json_integer((json_int_t)((parent - WLTIMEDELTA + (cur - ref)) * 100u)));
	json_object_set_new(ev, "sync", json_boolean(flags & ICTIMESYNCFLAG_SYNC));
	json_object_set_new(ev, "sample", json_boolean(flags & ICTIMESYNCFLAG_SAMPLE));
	guest_emit(g, ev);
	return true;
}

static void ic_on_event(struct guest *g, struct guest_channel *ch)
{
	struct ic_drv *d = ch->drv;
	const struct ic_desc *desc = d->desc;

	for (;;) {
		struct guest_ring_pkt pkt;
		struct icmsg_hdr *hdr;
		uint32_t len;
		bool reply = true;
		char fbuf[16], sbuf[16];
		int ret;

		ret = guest_channel_recv(g, ch, &pkt);
		if (ret == -EMSGSIZE)
			continue;
		if (ret)
			break;
		/* vmbus_recvpacket hands the payload over whatever the
		 * packet type; Linux does not check it. */
		len = pkt.payload_len;
		if (len == 0)
			break;
		memset(d->buf, 0, d->buf_size);
		memcpy(d->buf, pkt.payload, len);
		if (len < ICMSG_BODY_OFFSET) {
			guest_error(g, desc->device, "relid %u: %u-byte packet shorter than the IC headers",
				    ch->relid, len);
			break;
		}
		hdr = (struct icmsg_hdr *)(void *)(d->buf + ICMSG_HDR_OFFSET);
		if (hdr->icmsgtype == ICMSGTYPE_NEGOTIATE) {
			uint32_t fw = 0, srv = 0;
			bool ok;

			if (len < ICMSG_BODY_OFFSET + offsetof(struct icmsg_negotiate, reserved)) {
				/* Linux returns false without a rewrite but still replies. */
				guest_error(g, desc->device, "relid %u: short negotiate", ch->relid);
				ok = false;
			} else {
				ok = ic_negotiate(hdr, d->buf, len, desc->fw ? desc->fw : fw_versions,
						  desc->fw ? desc->n_fw : ARRAY_SIZE(fw_versions),
						  desc->versions, desc->n_versions, &fw, &srv);
			}
			d->negotiate_seen = true;
			if (ok) {
				d->fw_version = fw;
				d->srv_version = srv;
			}
			guest_emit(g, json_pack("{s:s, s:i, s:s, s:b, s:s, s:s}", "event", "ic_negotiate",
						"relid", (json_int_t)ch->relid, "device", desc->device,
						"ok", ok, "framework", ver_str(fw, fbuf), "version",
						ver_str(srv, sbuf)));
		} else if (hdr->icmsgtype == desc->msgtype) {
			switch (desc->kind) {
			case IC_HEARTBEAT:
				reply = ic_heartbeat(g, ch, d->buf, len, hdr);
				break;
			case IC_SHUTDOWN:
				reply = ic_shutdown(g, ch, d->buf, len, hdr);
				break;
			case IC_TIMESYNC:
				reply = ic_timesync(g, ch, d, d->buf, len, hdr);
				break;
			case IC_KVP:
				guest_kvp_exchange(g, d->kvp, ch->relid, d->buf, len, hdr);
				break;
			case IC_VSS:
				reply = guest_vss_handle(g, ch->relid, d->buf, len, hdr);
				break;
			case IC_FCOPY:
				reply = guest_fcopy_handle(g, d->fcopy, ch->relid, d->buf, len, hdr);
				break;
			}
		} else if (desc->kind == IC_KVP || desc->kind == IC_FCOPY) {
			/* hv_kvp_onchannelcallback: invalid type, no reply. */
			guest_error(g, desc->device, "relid %u: unexpected icmsgtype %u; no reply",
				    ch->relid, hdr->icmsgtype);
			reply = false;
		} else {
			hdr->status = HV_E_FAIL;
			guest_error(g, desc->device, "relid %u: unexpected icmsgtype %u; HV_E_FAIL",
				    ch->relid, hdr->icmsgtype);
		}
		if (reply) {
			hdr->icflags = ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_RESPONSE;
			ret = guest_channel_send(g, ch, VM_PKT_DATA_INBAND, 0, pkt.trans_id, d->buf, len);
			if (ret)
				guest_error(g, desc->device, "relid %u: reply not sent: %s", ch->relid,
					    strerror(-ret));
		} else if (desc->one_per_event) {
			break;
		}
		if (desc->one_per_event)
			break;
	}
}

/* hv_utils' probe of one util channel: its driver state, then the ring. */
int guest_ic_open(struct guest *g, struct guest_channel *ch)
{
	const struct ic_desc *desc;
	struct ic_drv *d;
	int ret;

	if (ch->open || ch->rescinded || !guest_ic_known(ch))
		return -EINVAL;
	desc = ic_find(ch);
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->desc = desc;
	/* Room for the largest struct Linux overlays on the buffer. */
	d->buf_size = MAX(desc->max_pkt, (uint32_t)(ICMSG_BODY_OFFSET + 8192u));
	d->buf = calloc(1, d->buf_size);
	if (desc->kind == IC_KVP)
		d->kvp = guest_kvp_new();
	if (desc->kind == IC_FCOPY)
		d->fcopy = guest_fcopy_new();
	if (!d->buf || (desc->kind == IC_KVP && !d->kvp) || (desc->kind == IC_FCOPY && !d->fcopy)) {
		ic_drv_free(d);
		return -ENOMEM;
	}
	ret = guest_channel_open(g, ch, IC_RING_BYTES, desc->max_pkt, 0);
	if (ret) {
		ic_drv_free(d);
		return ret;
	}
	ch->drv = d;
	ch->drv_free = ic_drv_free;
	ch->on_event = ic_on_event;
	/* Packets may already be waiting (the host can write right
	 * after OPENCHANNEL_RESULT): poll once like hv_poll_channel. */
	ch->event_pending = true;
	return 0;
}

int guest_ic_open_all(struct guest *g)
{
	int opened = 0;

	for (uint32_t relid = 1; relid <= VMBUS_MAX_RELID; relid++) {
		struct guest_channel *ch = g->chan[relid];
		int ret;

		if (!ch || ch->open || ch->rescinded || !guest_ic_known(ch))
			continue;
		ret = guest_ic_open(g, ch);
		if (ret == -ENOMEM || ret == -ECONNRESET || ret == -ETIMEDOUT)
			return ret;
		opened += ret == 0;
	}
	return opened;
}
