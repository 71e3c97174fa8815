/* SPDX-License-Identifier: MIT */
/*
 * Decoding of capture records: the record header, VMBus channel messages
 * (a field table per message type, written from include/vmbusd/proto/vmbus.h)
 * and ring packet descriptors; device payloads are in trace_decode_dev.c.
 * Every read is bounded by the bytes the record kept: a field beyond them
 * is shown as "<snapped>" in the tree and left out of the summary.
 */
#include <stdarg.h>
#include <string.h>

#include "core/guid.h"
#include "trace/trace.h"
#include "trace/trace_internal.h"
#include "vmbusd/proto/bench.h"
#include "vmbusd/proto/fcopy.h"
#include "vmbusd/proto/ic.h"
#include "vmbusd/proto/ring.h"
#include "vmbusd/proto/storvsc.h"
#include "vmbusd/proto/vmbus.h"
#include "vmbusd/proto/vss.h"

/* The netvsc class (Linux hv_netvsc's HV_NIC_GUID). */
#define TRACE_NETVSC_CLASS_GUID_STR "f8615163-df3e-46c5-913f-f2d2f965ed0e"

void trace_out_summary(struct trace_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len >= sizeof(o->line) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->line + o->len, sizeof(o->line) - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len = MIN(o->len + (size_t)n, sizeof(o->line) - 1);
}

void trace_out_field(struct trace_out *o, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (!o->tree)
		return;
	fprintf(o->tree, "%*s%s: ", 4 + 2 * o->depth, "", name);
	va_start(ap, fmt);
	vfprintf(o->tree, fmt, ap);
	va_end(ap);
	fputc('\n', o->tree);
}

static const char *const trace_event_names[VMBUS_TRACE_EVENT_COUNT] = {
	[VMBUS_TRACE_NONE] = "none",
	[VMBUS_TRACE_MSG_IN] = "msg_in",
	[VMBUS_TRACE_MSG_OUT] = "msg_out",
	[VMBUS_TRACE_PKT_IN] = "pkt_in",
	[VMBUS_TRACE_PKT_OUT] = "pkt_out",
	[VMBUS_TRACE_GPADL_CREATE] = "gpadl_create",
	[VMBUS_TRACE_GPADL_TEARDOWN] = "gpadl_teardown",
	[VMBUS_TRACE_SIGNAL_IN] = "signal_in",
	[VMBUS_TRACE_SIGNAL_OUT] = "signal_out",
	[VMBUS_TRACE_INTERRUPT] = "interrupt",
	[VMBUS_TRACE_MSR_WRITE] = "msr_write",
	[VMBUS_TRACE_ATTACH] = "attach",
	[VMBUS_TRACE_RESET] = "reset",
	[VMBUS_TRACE_DETACH] = "detach",
	[VMBUS_TRACE_DATA_IN] = "data_in",
	[VMBUS_TRACE_DATA_OUT] = "data_out",
};

const char *trace_event_name(uint16_t event)
{
	return event < VMBUS_TRACE_EVENT_COUNT ? trace_event_names[event] : "unknown";
}

const char *trace_dir_name(uint8_t dir)
{
	return dir == VMBUS_TRACE_DIR_G2H ? "G>H" : dir == VMBUS_TRACE_DIR_H2G ? "H>G" : "---";
}

static const struct {
	const char *name;
	const char *class_guid;
} trace_protos[VMBUS_TRACE_PROTO_COUNT] = {
	[VMBUS_TRACE_PROTO_UNKNOWN] = { "-", NULL },
	[VMBUS_TRACE_PROTO_STORVSC] = { "storvsc", STORVSC_SCSI_CLASS_GUID_STR },
	[VMBUS_TRACE_PROTO_NETVSC] = { "netvsc", TRACE_NETVSC_CLASS_GUID_STR },
	[VMBUS_TRACE_PROTO_HEARTBEAT] = { "heartbeat", IC_HEARTBEAT_CLASS_GUID_STR },
	[VMBUS_TRACE_PROTO_SHUTDOWN] = { "shutdown", IC_SHUTDOWN_CLASS_GUID_STR },
	[VMBUS_TRACE_PROTO_TIMESYNC] = { "timesync", IC_TIMESYNC_CLASS_GUID_STR },
	[VMBUS_TRACE_PROTO_KVP] = { "kvp", IC_KVP_CLASS_GUID_STR },
	[VMBUS_TRACE_PROTO_BENCH] = { "bench", BENCH_CLASS_GUID_STR },
	[VMBUS_TRACE_PROTO_VSS] = { "vss", IC_VSS_CLASS_GUID_STR },
	[VMBUS_TRACE_PROTO_FCOPY] = { "fcopy", IC_FCOPY_CLASS_GUID_STR },
};

const char *trace_proto_name(uint8_t proto)
{
	return proto < VMBUS_TRACE_PROTO_COUNT ? trace_protos[proto].name : "?";
}

uint8_t trace_proto_of_class(const struct guid *if_type)
{
	for (uint8_t p = 1; p < VMBUS_TRACE_PROTO_COUNT; p++) {
		struct guid g;

		if (guid_parse(trace_protos[p].class_guid, &g) == 0 && !memcmp(&g, if_type, sizeof(g)))
			return p;
	}
	return VMBUS_TRACE_PROTO_UNKNOWN;
}

/* ---- channel messages ----------------------------------------------------- */

enum tf_kind { TF_DEC, TF_HEX, TF_VERSION, TF_GUID };

struct trace_field {
	const char *name;
	uint16_t off;
	uint8_t size;        /* 1, 2, 4, 8 or 16 (GUID) */
	uint8_t kind;        /* enum tf_kind */
	bool summary;        /* also on the one-line form */
};

struct trace_msg_desc {
	const char *name;
	struct trace_field f[11];    /* ends at the first nameless entry */
};

#define F(n, o, s, k, sum) { n, o, s, k, sum }
static const struct trace_msg_desc trace_msgs[CHANNELMSG_COUNT] = {
	[CHANNELMSG_INVALID] = { "INVALID", { { 0 } } },
	[CHANNELMSG_OFFERCHANNEL] = { "OFFERCHANNEL", {
		F("child_relid", 184, 4, TF_DEC, true), F("if_type", 8, 16, TF_GUID, true),
		F("if_instance", 24, 16, TF_GUID, false), F("chn_flags", 56, 2, TF_HEX, false),
		F("mmio_megabytes", 58, 2, TF_DEC, false), F("sub_channel_index", 180, 2, TF_DEC, true),
		F("monitorid", 188, 1, TF_DEC, false), F("monitor_allocated", 189, 1, TF_DEC, false),
		F("is_dedicated_interrupt", 190, 2, TF_DEC, false),
		F("connection_id", 192, 4, TF_DEC, true) } },
	[CHANNELMSG_RESCIND_CHANNELOFFER] = { "RESCIND_CHANNELOFFER", {
		F("child_relid", 8, 4, TF_DEC, true) } },
	[CHANNELMSG_REQUESTOFFERS] = { "REQUESTOFFERS", { { 0 } } },
	[CHANNELMSG_ALLOFFERS_DELIVERED] = { "ALLOFFERS_DELIVERED", { { 0 } } },
	[CHANNELMSG_OPENCHANNEL] = { "OPENCHANNEL", {
		F("child_relid", 8, 4, TF_DEC, true), F("openid", 12, 4, TF_DEC, false),
		F("ringbuffer_gpadl", 16, 4, TF_HEX, true), F("target_vp", 20, 4, TF_DEC, true),
		F("downstream_ring_offset", 24, 4, TF_DEC, true) } },
	[CHANNELMSG_OPENCHANNEL_RESULT] = { "OPENCHANNEL_RESULT", {
		F("child_relid", 8, 4, TF_DEC, true), F("openid", 12, 4, TF_DEC, false),
		F("status", 16, 4, TF_HEX, true) } },
	[CHANNELMSG_CLOSECHANNEL] = { "CLOSECHANNEL", { F("child_relid", 8, 4, TF_DEC, true) } },
	[CHANNELMSG_GPADL_HEADER] = { "GPADL_HEADER", {
		F("child_relid", 8, 4, TF_DEC, true), F("gpadl", 12, 4, TF_HEX, true),
		F("range_buflen", 16, 2, TF_DEC, true), F("rangecount", 18, 2, TF_DEC, true),
		F("range0.byte_count", 20, 4, TF_DEC, false), F("range0.byte_offset", 24, 4, TF_DEC, false) } },
	[CHANNELMSG_GPADL_BODY] = { "GPADL_BODY", {
		F("msgnumber", 8, 4, TF_DEC, false), F("gpadl", 12, 4, TF_HEX, true) } },
	[CHANNELMSG_GPADL_CREATED] = { "GPADL_CREATED", {
		F("child_relid", 8, 4, TF_DEC, true), F("gpadl", 12, 4, TF_HEX, true),
		F("creation_status", 16, 4, TF_HEX, true) } },
	[CHANNELMSG_GPADL_TEARDOWN] = { "GPADL_TEARDOWN", {
		F("child_relid", 8, 4, TF_DEC, true), F("gpadl", 12, 4, TF_HEX, true) } },
	[CHANNELMSG_GPADL_TORNDOWN] = { "GPADL_TORNDOWN", { F("gpadl", 8, 4, TF_HEX, true) } },
	[CHANNELMSG_RELID_RELEASED] = { "RELID_RELEASED", { F("child_relid", 8, 4, TF_DEC, true) } },
	[CHANNELMSG_INITIATE_CONTACT] = { "INITIATE_CONTACT", {
		F("vmbus_version_requested", 8, 4, TF_VERSION, true),
		F("target_vcpu", 12, 4, TF_DEC, true), F("msg_sint", 16, 1, TF_DEC, true),
		F("interrupt_page", 16, 8, TF_HEX, false), F("monitor_page1", 24, 8, TF_HEX, false),
		F("monitor_page2", 32, 8, TF_HEX, false) } },
	[CHANNELMSG_VERSION_RESPONSE] = { "VERSION_RESPONSE", {
		F("version_supported", 8, 1, TF_DEC, true), F("connection_state", 9, 1, TF_DEC, false),
		F("msg_conn_id", 12, 4, TF_DEC, true) } },
	[CHANNELMSG_UNLOAD] = { "UNLOAD", { { 0 } } },
	[CHANNELMSG_UNLOAD_RESPONSE] = { "UNLOAD_RESPONSE", { { 0 } } },
	[CHANNELMSG_18] = { "CHANNELMSG_18", { { 0 } } },
	[CHANNELMSG_19] = { "CHANNELMSG_19", { { 0 } } },
	[CHANNELMSG_20] = { "CHANNELMSG_20", { { 0 } } },
	[CHANNELMSG_TL_CONNECT_REQUEST] = { "TL_CONNECT_REQUEST", {
		F("guest_endpoint_id", 8, 16, TF_GUID, true), F("host_service_id", 24, 16, TF_GUID, true) } },
	[CHANNELMSG_MODIFYCHANNEL] = { "MODIFYCHANNEL", {
		F("child_relid", 8, 4, TF_DEC, true), F("target_vp", 12, 4, TF_DEC, true) } },
	[CHANNELMSG_TL_CONNECT_RESULT] = { "TL_CONNECT_RESULT", {
		F("guest_endpoint_id", 8, 16, TF_GUID, true), F("status", 24, 4, TF_HEX, true) } },
	[CHANNELMSG_MODIFYCHANNEL_RESPONSE] = { "MODIFYCHANNEL_RESPONSE", {
		F("child_relid", 8, 4, TF_DEC, true), F("status", 12, 4, TF_HEX, true) } },
};
#undef F

const char *trace_chanmsg_name(uint32_t type)
{
	return type < CHANNELMSG_COUNT ? trace_msgs[type].name : NULL;
}

uint64_t trace_get(const uint8_t *p, size_t len, size_t off, unsigned size, bool *ok)
{
	uint64_t v = 0;

	if (off > len || size > len - off) {
		*ok = false;
		return 0;
	}
	memcpy(&v, p + off, size); /* little-endian host (x86-64, as the guest) */
	*ok = true;
	return v;
}

uint32_t trace_chanmsg_relid(const void *msg, size_t len)
{
	uint32_t type;
	bool ok;

	type = (uint32_t)trace_get(msg, len, 0, 4, &ok);
	if (!ok || type >= CHANNELMSG_COUNT)
		return 0;
	for (const struct trace_field *f = trace_msgs[type].f; f->name; f++)
		if (!strcmp(f->name, "child_relid"))
			return (uint32_t)trace_get(msg, len, f->off, 4, &ok);
	return 0;
}

static void trace_field_show(const uint8_t *p, size_t len, const struct trace_field *f,
			     struct trace_out *o)
{
	char text[GUID_STR_LEN];
	uint64_t v;
	bool ok;

	if (f->kind == TF_GUID) {
		if (f->off > len || 16 > len - f->off) {
			trace_out_field(o, f->name, "<snapped>");
			return;
		}
		guid_format((const struct guid *)(const void *)(p + f->off), text);
		trace_out_field(o, f->name, "%s", text);
		if (f->summary)
			trace_out_summary(o, " %s=%s", f->name, text);
		return;
	}
	v = trace_get(p, len, f->off, f->size, &ok);
	if (!ok) {
		trace_out_field(o, f->name, "<snapped>");
		return;
	}
	switch (f->kind) {
	case TF_HEX:
		trace_out_field(o, f->name, "0x%llx", (unsigned long long)v);
		if (f->summary)
			trace_out_summary(o, " %s=0x%llx", f->name, (unsigned long long)v);
		break;
	case TF_VERSION:
		trace_out_field(o, f->name, "%u.%u", (unsigned)(v >> 16), (unsigned)(v & 0xFFFF));
		if (f->summary)
			trace_out_summary(o, " %s=%u.%u", f->name, (unsigned)(v >> 16),
					  (unsigned)(v & 0xFFFF));
		break;
	default:
		trace_out_field(o, f->name, "%llu", (unsigned long long)v);
		if (f->summary)
			trace_out_summary(o, " %s=%llu", f->name, (unsigned long long)v);
	}
}

/* PFN lists of GPADL_HEADER/BODY and of GPADL_CREATE records: tree only. */
static void trace_pfns(const uint8_t *p, size_t len, size_t off, struct trace_out *o)
{
	size_t n = off < len ? (len - off) / 8 : 0;
	bool ok;

	trace_out_summary(o, " pfns=%zu", n);
	for (size_t i = 0; i < n && o->tree; i++)
		trace_out_field(o, "pfn", "0x%llx",
				(unsigned long long)trace_get(p, len, off + 8 * i, 8, &ok));
}

void trace_decode_chanmsg(const uint8_t *p, size_t len, struct trace_out *o)
{
	const struct trace_msg_desc *d;
	uint32_t type;
	bool ok;

	type = (uint32_t)trace_get(p, len, 0, 4, &ok);
	if (!ok) {
		trace_out_summary(o, " <short message: %zu bytes>", len);
		return;
	}
	d = type < CHANNELMSG_COUNT ? &trace_msgs[type] : NULL;
	if (!d) {
		trace_out_summary(o, " CHANNELMSG_%u (unknown)", type);
		trace_out_field(o, "msgtype", "%u (unknown)", type);
		return;
	}
	trace_out_summary(o, " %s", d->name);
	trace_out_field(o, "msgtype", "%s (%u)", d->name, type);
	o->depth++;
	for (const struct trace_field *f = d->f; f->name; f++)
		trace_field_show(p, len, f, o);
	if (type == CHANNELMSG_GPADL_HEADER)
		trace_pfns(p, len, 28, o);
	else if (type == CHANNELMSG_GPADL_BODY)
		trace_pfns(p, len, 16, o);
	o->depth--;
}

/* ---- ring packets ----------------------------------------------------------- */

static const char *const trace_pkt_names[] = {
	"INVALID", "SYNCH", "ADD_XFER_PAGESET", "RM_XFER_PAGESET", "ESTABLISH_GPADL",
	"TEARDOWN_GPADL", "DATA_INBAND", "DATA_USING_XFER_PAGES", "DATA_USING_GPADL",
	"DATA_USING_GPA_DIRECT", "CANCEL_REQUEST", "COMP", "DATA_USING_ADDITIONAL_PKT",
	"ADDITIONAL_DATA",
};

const char *trace_pkt_type_name(uint32_t type)
{
	return type < ARRAY_SIZE(trace_pkt_names) ? trace_pkt_names[type] : "UNKNOWN";
}

static void trace_decode_packet(const struct trace_record *rec, struct trace_out *o)
{
	const uint8_t *p = rec->data;
	size_t len = rec->data_len, off;
	uint32_t type, off8, len8, flags;
	uint64_t tid;
	bool ok;

	type = (uint32_t)trace_get(p, len, 0, 2, &ok);
	off8 = (uint32_t)trace_get(p, len, 2, 2, &ok);
	len8 = (uint32_t)trace_get(p, len, 4, 2, &ok);
	flags = (uint32_t)trace_get(p, len, 6, 2, &ok);
	tid = trace_get(p, len, 8, 8, &ok);
	if (!ok) {
		trace_out_summary(o, " <packet shorter than its descriptor: %zu bytes>", len);
		return;
	}
	trace_out_summary(o, " %s tid=0x%llx", trace_pkt_type_name(type), (unsigned long long)tid);
	trace_out_field(o, "descriptor", "%s", trace_pkt_type_name(type));
	o->depth++;
	trace_out_field(o, "type", "%s (%u)", trace_pkt_type_name(type), type);
	trace_out_field(o, "offset8", "%u (%u bytes)", off8, off8 * 8);
	trace_out_field(o, "len8", "%u (%u bytes)", len8, len8 * 8);
	trace_out_field(o, "flags", "0x%x%s", flags,
			flags & VMBUS_PKT_FLAG_COMPLETION_REQUESTED ? " (completion requested)" : "");
	trace_out_field(o, "trans_id", "0x%llx", (unsigned long long)tid);
	if (type == VM_PKT_DATA_USING_GPA_DIRECT) {
		uint32_t ranges = (uint32_t)trace_get(p, len, 20, 4, &ok);

		if (ok) {
			trace_out_field(o, "rangecount", "%u", ranges);
			trace_out_field(o, "range0.byte_count", "%llu",
					(unsigned long long)trace_get(p, len, 24, 4, &ok));
			trace_out_field(o, "range0.byte_offset", "%llu",
					(unsigned long long)trace_get(p, len, 28, 4, &ok));
		}
	}
	o->depth--;
	off = (size_t)off8 * 8;
	if (off < 16 || off > len)
		return;
	p += off;
	len -= off;
	switch (rec->hdr.proto) {
	case VMBUS_TRACE_PROTO_STORVSC:
		trace_decode_vstor(p, len, o);
		break;
	case VMBUS_TRACE_PROTO_HEARTBEAT:
	case VMBUS_TRACE_PROTO_SHUTDOWN:
	case VMBUS_TRACE_PROTO_TIMESYNC:
	case VMBUS_TRACE_PROTO_KVP:
	case VMBUS_TRACE_PROTO_VSS:
	case VMBUS_TRACE_PROTO_FCOPY:
		trace_decode_ic(p, len, o);
		break;
	case VMBUS_TRACE_PROTO_NETVSC:
		trace_decode_nvsp(p, len, o);
		break;
	default:
		break;
	}
}

/* ---- records ---------------------------------------------------------------- */

static const char *trace_msr_name(uint32_t msr)
{
	switch (msr) {
	case 0x40000000: return "GUEST_OS_ID";
	case 0x40000001: return "HYPERCALL";
	case 0x40000073: return "VP_ASSIST_PAGE";
	case 0x40000080: return "SCONTROL";
	case 0x40000082: return "SIEFP";
	case 0x40000083: return "SIMP";
	case 0x40000084: return "EOM";
	case 0x40000118: return "TSC_INVARIANT_CTL";
	default:
		return msr >= 0x40000090 && msr <= 0x4000009F ? "SINTx" : "MSR";
	}
}

void trace_decode_record(const struct trace_record *rec, struct trace_out *o)
{
	const struct vmbus_trace_record *h = &rec->hdr;

	trace_out_field(o, "record", "#%u %s %s relid %u proto %s vp %d id %u arg 0x%llx "
			"orig_len %u kept %u%s", h->seq, trace_event_name(h->event),
			trace_dir_name(h->dir), h->relid, trace_proto_name(h->proto),
			h->vp == VMBUS_TRACE_VP_NONE ? -1 : (int)h->vp, h->id,
			(unsigned long long)h->arg, h->orig_len, rec->data_len,
			h->flags & VMBUS_TRACE_FLAG_SNAPPED ? " (snapped)" : "");
	switch (h->event) {
	case VMBUS_TRACE_MSG_IN:
	case VMBUS_TRACE_MSG_OUT:
		if (h->event == VMBUS_TRACE_MSG_IN)
			trace_out_summary(o, " conn=%u", h->id);
		trace_decode_chanmsg(rec->data, rec->data_len, o);
		break;
	case VMBUS_TRACE_PKT_IN:
	case VMBUS_TRACE_PKT_OUT:
		trace_decode_packet(rec, o);
		break;
	case VMBUS_TRACE_GPADL_CREATE: {
		bool ok;

		trace_out_summary(o, " gpadl=0x%x ranges=%llu", h->id, (unsigned long long)h->arg);
		trace_out_summary(o, " bytes=%llu offset=%llu",
				  (unsigned long long)trace_get(rec->data, rec->data_len, 0, 4, &ok),
				  (unsigned long long)trace_get(rec->data, rec->data_len, 4, 4, &ok));
		trace_pfns(rec->data, rec->data_len, 8, o);
		break;
	}
	case VMBUS_TRACE_GPADL_TEARDOWN:
		trace_out_summary(o, " gpadl=0x%x", h->id);
		break;
	case VMBUS_TRACE_SIGNAL_IN:
		trace_out_summary(o, " conn=%u", h->id);
		break;
	case VMBUS_TRACE_SIGNAL_OUT:
		trace_out_summary(o, " flag=%u sint=%u", h->relid, h->id);
		break;
	case VMBUS_TRACE_INTERRUPT:
		trace_out_summary(o, " sint=%u vector=0x%llx", h->id, (unsigned long long)h->arg);
		break;
	case VMBUS_TRACE_MSR_WRITE:
		trace_out_summary(o, " %s(0x%x)=0x%llx", trace_msr_name(h->id), h->id,
				  (unsigned long long)h->arg);
		break;
	case VMBUS_TRACE_ATTACH:
		trace_out_summary(o, " vps=%llu regions=%u", (unsigned long long)h->arg, h->id);
		break;
	case VMBUS_TRACE_DATA_IN:
	case VMBUS_TRACE_DATA_OUT:
		/* Where the bytes lie (proto/trace.h, "Data records"). */
		if (h->id) {
			trace_out_summary(o, " gpadl=0x%x offset=%llu", h->id, (unsigned long long)h->arg);
			trace_out_field(o, "data.gpadl", "0x%x", h->id);
			trace_out_field(o, "data.offset", "%llu", (unsigned long long)h->arg);
		} else {
			trace_out_summary(o, " tid=0x%llx", (unsigned long long)h->arg);
			if (h->vp)
				trace_out_summary(o, " at=%u", h->vp);
			trace_out_field(o, "data.trans_id", "0x%llx", (unsigned long long)h->arg);
			trace_out_field(o, "data.offset", "%u", h->vp);
		}
		trace_out_field(o, "data.bytes", "%u", h->orig_len);
		if (h->proto == VMBUS_TRACE_PROTO_NETVSC) {
			trace_decode_rndis(rec->data, rec->data_len, o);
		} else {
			/* The first bytes, enough to find a record by its data
			 * (an edit of what a guest reads). */
			trace_out_summary(o, " %u bytes [", h->orig_len);
			for (uint32_t i = 0; i < MIN(rec->data_len, 8u); i++)
				trace_out_summary(o, "%s%02x", i ? " " : "", rec->data[i]);
			trace_out_summary(o, "%s]", rec->data_len > 8 ? " ..." : "");
		}
		break;
	default:
		break;
	}
}
