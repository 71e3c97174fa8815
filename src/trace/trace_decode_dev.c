/* SPDX-License-Identifier: MIT */
/*
 * Decoding of device payloads inside ring packets, written from the wire
 * structs: vstor and the SCSI CDB (include/vmbusd/proto/storvsc.h), the IC
 * framework, heartbeat, shutdown, timesync and KVP (proto/ic.h), NVSP and
 * RNDIS (numbers from Linux drivers/net/hyperv/hyperv_net.h and
 * include/linux/rndis.h).  Offsets are relative to the payload (after
 * the packet descriptor); every read is bounded by the kept bytes.
 */
#include <string.h>

#include "trace/trace_internal.h"
#include "vmbusd/proto/ic.h"
#include "vmbusd/proto/storvsc.h"

/* ---- vstor and SCSI ------------------------------------------------------------ */

static const char *const vstor_op_names[] = {
	[VSTOR_OP_COMPLETE_IO] = "COMPLETE_IO",
	[VSTOR_OP_REMOVE_DEVICE] = "REMOVE_DEVICE",
	[VSTOR_OP_EXECUTE_SRB] = "EXECUTE_SRB",
	[VSTOR_OP_RESET_LUN] = "RESET_LUN",
	[VSTOR_OP_RESET_ADAPTER] = "RESET_ADAPTER",
	[VSTOR_OP_RESET_BUS] = "RESET_BUS",
	[VSTOR_OP_BEGIN_INITIALIZATION] = "BEGIN_INITIALIZATION",
	[VSTOR_OP_END_INITIALIZATION] = "END_INITIALIZATION",
	[VSTOR_OP_QUERY_PROTOCOL_VERSION] = "QUERY_PROTOCOL_VERSION",
	[VSTOR_OP_QUERY_PROPERTIES] = "QUERY_PROPERTIES",
	[VSTOR_OP_ENUMERATE_BUS] = "ENUMERATE_BUS",
	[VSTOR_OP_FCHBA_DATA] = "FCHBA_DATA",
	[VSTOR_OP_CREATE_SUB_CHANNELS] = "CREATE_SUB_CHANNELS",
};

static const struct {
	uint8_t op;
	uint8_t form;       /* 0: no LBA; 6, 10, 12, 16: where LBA and length are */
	const char *name;
} scsi_ops[] = {
	{ 0x00, 0, "TEST_UNIT_READY" }, { 0x03, 0, "REQUEST_SENSE" }, { 0x08, 6, "READ(6)" },
	{ 0x0a, 6, "WRITE(6)" }, { 0x12, 0, "INQUIRY" }, { 0x15, 0, "MODE_SELECT(6)" },
	{ 0x1a, 0, "MODE_SENSE(6)" }, { 0x1b, 0, "START_STOP_UNIT" },
	{ 0x1e, 0, "PREVENT_ALLOW_MEDIUM_REMOVAL" }, { 0x25, 0, "READ_CAPACITY(10)" },
	{ 0x28, 10, "READ(10)" }, { 0x2a, 10, "WRITE(10)" }, { 0x2f, 10, "VERIFY(10)" },
	{ 0x35, 10, "SYNCHRONIZE_CACHE(10)" }, { 0x41, 10, "WRITE_SAME(10)" }, { 0x42, 0, "UNMAP" },
	{ 0x55, 0, "MODE_SELECT(10)" }, { 0x5a, 0, "MODE_SENSE(10)" },
	{ 0x5e, 0, "PERSISTENT_RESERVE_IN" }, { 0x88, 16, "READ(16)" }, { 0x8a, 16, "WRITE(16)" },
	{ 0x8f, 16, "VERIFY(16)" }, { 0x91, 16, "SYNCHRONIZE_CACHE(16)" },
	{ 0x93, 16, "WRITE_SAME(16)" }, { 0x9e, 0, "SERVICE_ACTION_IN(16)" },
	{ 0xa0, 0, "REPORT_LUNS" }, { 0xa3, 0, "MAINTENANCE_IN" }, { 0xa8, 12, "READ(12)" },
	{ 0xaa, 12, "WRITE(12)" },
};

static uint64_t be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void trace_decode_cdb(const uint8_t *cdb, unsigned n, struct trace_out *o)
{
	const char *name = "UNKNOWN";
	uint64_t lba = 0, blocks = 0;
	unsigned form = 0;

	if (n == 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(scsi_ops); i++) {
		if (scsi_ops[i].op == cdb[0]) {
			name = scsi_ops[i].name;
			form = scsi_ops[i].form;
		}
	}
	trace_out_summary(o, " %s(0x%02x)", name, cdb[0]);
	trace_out_field(o, "scsi.opcode", "%s (0x%02x)", name, cdb[0]);
	if (form == 6 && n >= 6) {
		lba = (uint64_t)(cdb[1] & 0x1f) << 16 | be(cdb + 2, 2);
		blocks = cdb[4] ? cdb[4] : 256;
	} else if (form == 10 && n >= 10) {
		lba = be(cdb + 2, 4);
		blocks = be(cdb + 7, 2);
	} else if (form == 12 && n >= 12) {
		lba = be(cdb + 2, 4);
		blocks = be(cdb + 6, 4);
	} else if (form == 16 && n >= 16) {
		lba = be(cdb + 2, 8);
		blocks = be(cdb + 10, 4);
	} else {
		form = 0;
	}
	if (form) {
		trace_out_summary(o, " lba=%llu blocks=%llu", (unsigned long long)lba,
				  (unsigned long long)blocks);
		trace_out_field(o, "scsi.lba", "%llu", (unsigned long long)lba);
		trace_out_field(o, "scsi.blocks", "%llu", (unsigned long long)blocks);
	}
}

void trace_decode_vstor(const uint8_t *p, size_t len, struct trace_out *o)
{
	uint32_t op, flags, status;
	bool ok;

	op = (uint32_t)trace_get(p, len, 0, 4, &ok);
	flags = (uint32_t)trace_get(p, len, 4, 4, &ok);
	status = (uint32_t)trace_get(p, len, 8, 4, &ok);
	if (!ok) {
		trace_out_summary(o, " vstor <short: %zu bytes>", len);
		return;
	}
	const char *name = op < ARRAY_SIZE(vstor_op_names) && vstor_op_names[op] ?
			   vstor_op_names[op] : "UNKNOWN";
	trace_out_summary(o, " vstor %s", name);
	if (status)
		trace_out_summary(o, " status=0x%x", status);
	trace_out_field(o, "vstor", "%s", name);
	o->depth++;
	trace_out_field(o, "operation", "%s (%u)", name, op);
	trace_out_field(o, "flags", "0x%x", flags);
	trace_out_field(o, "status", "0x%08x", status);
	if ((op == VSTOR_OP_EXECUTE_SRB || op == VSTOR_OP_COMPLETE_IO) && len >= 12 + 36) {
		const uint8_t *s = p + 12;
		uint32_t xfer = (uint32_t)trace_get(s, len - 12, 12, 4, &ok);
		unsigned cdb_len = MIN(s[8], VSTOR_CDB_MAX);

		trace_out_field(o, "srb.length", "%u", (unsigned)trace_get(s, len - 12, 0, 2, &ok));
		trace_out_field(o, "srb.srb_status", "0x%02x", s[2]);
		trace_out_field(o, "srb.scsi_status", "0x%02x", s[3]);
		trace_out_field(o, "srb.path_id", "%u", s[5]);
		trace_out_field(o, "srb.target_id", "%u", s[6]);
		trace_out_field(o, "srb.lun", "%u", s[7]);
		trace_out_field(o, "srb.cdb_length", "%u", s[8]);
		trace_out_field(o, "srb.sense_info_length", "%u", s[9]);
		trace_out_field(o, "srb.data_in", "%u", s[10]);
		trace_out_field(o, "srb.data_transfer_length", "%u", xfer);
		trace_out_summary(o, " lun=%u", s[7]);
		if (op == VSTOR_OP_EXECUTE_SRB) {
			trace_decode_cdb(s + 16, cdb_len, o);
			trace_out_summary(o, " xfer=%u", xfer);
		} else {
			trace_out_summary(o, " srb_status=0x%02x scsi_status=0x%02x xfer=%u", s[2],
					  s[3], xfer);
			if ((s[2] & SRB_STATUS_AUTOSENSE_VALID) && s[9] >= 14) {
				trace_out_summary(o, " sense=%x/%02x/%02x", s[16 + 2] & 0xf,
						  s[16 + 12], s[16 + 13]);
				trace_out_field(o, "sense.key", "0x%x", s[16 + 2] & 0xf);
				trace_out_field(o, "sense.asc", "0x%02x", s[16 + 12]);
				trace_out_field(o, "sense.ascq", "0x%02x", s[16 + 13]);
			}
		}
	} else if (op == VSTOR_OP_QUERY_PROTOCOL_VERSION && len >= 16) {
		trace_out_summary(o, " version=%u.%u", p[13], p[12]);
		trace_out_field(o, "version", "%u.%u", p[13], p[12]);
	} else if (op == VSTOR_OP_QUERY_PROPERTIES && len >= 12 + 16) {
		trace_out_field(o, "max_channel_cnt", "%llu",
				(unsigned long long)trace_get(p, len, 16, 2, &ok));
		trace_out_field(o, "properties.flags", "0x%llx",
				(unsigned long long)trace_get(p, len, 20, 4, &ok));
		trace_out_field(o, "max_transfer_bytes", "%llu",
				(unsigned long long)trace_get(p, len, 24, 4, &ok));
	} else if (op == VSTOR_OP_CREATE_SUB_CHANNELS && len >= 14) {
		trace_out_summary(o, " count=%llu", (unsigned long long)trace_get(p, len, 12, 2, &ok));
		trace_out_field(o, "sub_channel_count", "%llu",
				(unsigned long long)trace_get(p, len, 12, 2, &ok));
	}
	o->depth--;
}

/* ---- integration components -------------------------------------------------- */

void trace_utf16_to_utf8(const uint8_t *p, size_t bytes, char *out, size_t out_len)
{
	size_t n = 0;

	for (size_t i = 0; i + 1 < bytes; i += 2) {
		uint32_t c = p[i] | (uint32_t)p[i + 1] << 8;
		char enc[4];
		size_t k;

		if (c == 0)
			break;
		if (c >= 0xD800 && c <= 0xDBFF && i + 3 < bytes) {
			uint32_t lo = p[i + 2] | (uint32_t)p[i + 3] << 8;

			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
				i += 2;
			}
		}
		if (c >= 0xD800 && c <= 0xDFFF)
			c = 0xFFFD;
		if (c < 0x20 || c == 0x7f) {
			enc[0] = '?';
			k = 1;
		} else if (c < 0x80) {
			enc[0] = (char)c;
			k = 1;
		} else if (c < 0x800) {
			enc[0] = (char)(0xC0 | c >> 6);
			enc[1] = (char)(0x80 | (c & 0x3F));
			k = 2;
		} else if (c < 0x10000) {
			enc[0] = (char)(0xE0 | c >> 12);
			enc[1] = (char)(0x80 | ((c >> 6) & 0x3F));
			enc[2] = (char)(0x80 | (c & 0x3F));
			k = 3;
		} else {
			enc[0] = (char)(0xF0 | c >> 18);
			enc[1] = (char)(0x80 | ((c >> 12) & 0x3F));
			enc[2] = (char)(0x80 | ((c >> 6) & 0x3F));
			enc[3] = (char)(0x80 | (c & 0x3F));
			k = 4;
		}
		if (n + k + 1 > out_len)
			break;
		memcpy(out + n, enc, k);
		n += k;
	}
	if (out_len)
		out[n] = '\0';
}

static const char *const ic_type_names[] = {
	"NEGOTIATE", "HEARTBEAT", "KVPEXCHANGE", "SHUTDOWN", "TIMESYNC", "VSS", "6", "FCOPY",
};
static const char *const kvp_op_names[] = {
	"GET", "SET", "DELETE", "ENUMERATE", "GET_IP_INFO", "SET_IP_INFO",
};

/* A KVP key or value: `size` bytes claimed, `max` the field, at p+off. */
static void trace_kvp_string(const uint8_t *p, size_t len, size_t off, uint32_t size,
			     uint32_t max, const char *name, struct trace_out *o)
{
	char text[HV_KVP_EXCHANGE_MAX_VALUE_SIZE * 2];
	size_t avail = off < len ? len - off : 0;

	trace_utf16_to_utf8(p + MIN(off, len), MIN(MIN((size_t)size, (size_t)max), avail), text,
			    sizeof(text));
	trace_out_summary(o, " %s=\"%.80s\"", name, text);
	trace_out_field(o, name, "\"%s\" (%u bytes)", text, size);
}

static void trace_decode_kvp(const uint8_t *b, size_t len, struct trace_out *o)
{
	uint32_t op, pool, key_size, value_size, vtype;
	size_t base;
	bool ok;

	if (len < 4)
		return;
	op = b[0];
	pool = b[1];
	trace_out_summary(o, " %s pool=%u", op < ARRAY_SIZE(kvp_op_names) ? kvp_op_names[op] : "?",
			  pool);
	trace_out_field(o, "kvp.operation", "%s (%u)",
			op < ARRAY_SIZE(kvp_op_names) ? kvp_op_names[op] : "?", op);
	trace_out_field(o, "kvp.pool", "%u", pool);
	if (op == KVP_OP_DELETE) {
		key_size = (uint32_t)trace_get(b, len, 4, 4, &ok);
		if (ok)
			trace_kvp_string(b, len, 8, key_size, HV_KVP_EXCHANGE_MAX_KEY_SIZE, "key", o);
		return;
	}
	if (op != KVP_OP_GET && op != KVP_OP_SET && op != KVP_OP_ENUMERATE)
		return;
	base = op == KVP_OP_ENUMERATE ? 8 : 4;
	if (op == KVP_OP_ENUMERATE) {
		trace_out_summary(o, " index=%llu", (unsigned long long)trace_get(b, len, 4, 4, &ok));
		trace_out_field(o, "kvp.index", "%llu", (unsigned long long)trace_get(b, len, 4, 4, &ok));
	}
	vtype = (uint32_t)trace_get(b, len, base, 4, &ok);
	key_size = (uint32_t)trace_get(b, len, base + 4, 4, &ok);
	value_size = (uint32_t)trace_get(b, len, base + 8, 4, &ok);
	if (!ok)
		return;
	trace_out_field(o, "kvp.value_type", "%u", vtype);
	trace_kvp_string(b, len, base + 12, key_size, HV_KVP_EXCHANGE_MAX_KEY_SIZE, "key", o);
	if (vtype == REG_U32 || vtype == REG_U64) {
		uint64_t v = trace_get(b, len, base + 12 + HV_KVP_EXCHANGE_MAX_KEY_SIZE,
				       vtype == REG_U32 ? 4 : 8, &ok);

		trace_out_summary(o, " value=%llu", (unsigned long long)v);
		trace_out_field(o, "value", "%llu", (unsigned long long)v);
	} else {
		trace_kvp_string(b, len, base + 12 + HV_KVP_EXCHANGE_MAX_KEY_SIZE, value_size,
				 HV_KVP_EXCHANGE_MAX_VALUE_SIZE, "value", o);
	}
}

void trace_decode_ic(const uint8_t *p, size_t len, struct trace_out *o)
{
	const uint8_t *b;
	uint32_t type, status, size, flags, verframe, vermsg;
	size_t blen;
	bool ok;

	type = (uint32_t)trace_get(p, len, 12, 2, &ok);
	verframe = (uint32_t)trace_get(p, len, 8, 4, &ok);
	vermsg = (uint32_t)trace_get(p, len, 14, 4, &ok);
	size = (uint32_t)trace_get(p, len, 18, 2, &ok);
	status = (uint32_t)trace_get(p, len, 20, 4, &ok);
	flags = (uint32_t)trace_get(p, len, 25, 1, &ok);
	if (!ok) {
		trace_out_summary(o, " ic <short: %zu bytes>", len);
		return;
	}
	const char *name = type < ARRAY_SIZE(ic_type_names) ? ic_type_names[type] : "UNKNOWN";
	trace_out_summary(o, " ic %s%s", name,
			  flags & ICMSGHDRFLAG_RESPONSE ? " response" : " request");
	if (status)
		trace_out_summary(o, " status=0x%x", status);
	trace_out_field(o, "ic", "%s", name);
	o->depth++;
	trace_out_field(o, "icverframe", "%u.%u", verframe & 0xFFFF, verframe >> 16);
	trace_out_field(o, "icmsgtype", "%s (%u)", name, type);
	trace_out_field(o, "icvermsg", "%u.%u", vermsg & 0xFFFF, vermsg >> 16);
	trace_out_field(o, "icmsgsize", "%u", size);
	trace_out_field(o, "status", "0x%08x", status);
	trace_out_field(o, "ictransaction_id", "%u", p[24]);
	trace_out_field(o, "icflags", "0x%x", flags);
	b = p + ICMSG_BODY_OFFSET;
	blen = len > ICMSG_BODY_OFFSET ? len - ICMSG_BODY_OFFSET : 0;
	if (len < ICMSG_BODY_OFFSET)
		b = p;
	switch (type) {
	case ICMSGTYPE_NEGOTIATE: {
		uint32_t nf = (uint32_t)trace_get(b, blen, 0, 2, &ok);
		uint32_t nm = (uint32_t)trace_get(b, blen, 2, 2, &ok);

		if (!ok)
			break;
		trace_out_summary(o, " framework_versions=%u service_versions=%u", nf, nm);
		trace_out_field(o, "icframe_vercnt", "%u", nf);
		trace_out_field(o, "icmsg_vercnt", "%u", nm);
		for (uint32_t i = 0; i < nf + nm && i < 16; i++) {
			uint32_t v = (uint32_t)trace_get(b, blen, 8 + 4 * i, 4, &ok);

			if (!ok)
				break;
			trace_out_field(o, i < nf ? "framework_version" : "service_version", "%u.%u",
					v & 0xFFFF, v >> 16);
			if (i == 0 || i == nf)
				trace_out_summary(o, " %s=%u.%u", i < nf ? "fw" : "svc", v & 0xFFFF,
						  v >> 16);
		}
		break;
	}
	case ICMSGTYPE_HEARTBEAT: {
		uint64_t seq = trace_get(b, blen, 0, 8, &ok);

		if (ok) {
			trace_out_summary(o, " seq=%llu", (unsigned long long)seq);
			trace_out_field(o, "heartbeat.seq_num", "%llu", (unsigned long long)seq);
		}
		break;
	}
	case ICMSGTYPE_SHUTDOWN: {
		uint32_t reason = (uint32_t)trace_get(b, blen, 0, 4, &ok);
		uint32_t timeout = (uint32_t)trace_get(b, blen, 4, 4, &ok);
		uint32_t sflags = (uint32_t)trace_get(b, blen, 8, 4, &ok);

		if (!ok)
			break;
		trace_out_summary(o, " flags=%u (%s) reason=0x%x timeout=%u", sflags,
				  sflags >= 4 ? "hibernate" : sflags >= 2 ? "reboot" : "shutdown",
				  reason, timeout);
		trace_out_field(o, "shutdown.reason_code", "0x%x", reason);
		trace_out_field(o, "shutdown.timeout_seconds", "%u", timeout);
		trace_out_field(o, "shutdown.flags", "%u", sflags);
		break;
	}
	case ICMSGTYPE_TIMESYNC: {
		uint64_t parent = trace_get(b, blen, 0, 8, &ok);
		bool ref = (vermsg & 0xFFFF) >= 4;
		uint32_t tflags = (uint32_t)trace_get(b, blen, ref ? 16 : 24, 1, &ok);

		if (!ok)
			break;
		trace_out_summary(o, " parenttime=%llu flags=%u", (unsigned long long)parent, tflags);
		trace_out_field(o, "timesync.parenttime", "%llu", (unsigned long long)parent);
		trace_out_field(o, ref ? "timesync.vmreferencetime" : "timesync.childtime", "%llu",
				(unsigned long long)trace_get(b, blen, 8, 8, &ok));
		trace_out_field(o, "timesync.flags", "%u", tflags);
		break;
	}
	case ICMSGTYPE_KVPEXCHANGE:
		trace_decode_kvp(b, blen, o);
		break;
	default:
		break;
	}
	o->depth--;
}

/* ---- NVSP and RNDIS ---------------------------------------------------------------- */

static const char *trace_nvsp_name(uint32_t t)
{
	switch (t) {
	case 1: return "INIT";
	case 2: return "INIT_COMPLETE";
	case 100: return "SEND_NDIS_VER";
	case 101: return "SEND_RECV_BUF";
	case 102: return "SEND_RECV_BUF_COMPLETE";
	case 103: return "REVOKE_RECV_BUF";
	case 104: return "SEND_SEND_BUF";
	case 105: return "SEND_SEND_BUF_COMPLETE";
	case 106: return "REVOKE_SEND_BUF";
	case 107: return "SEND_RNDIS_PKT";
	case 108: return "SEND_RNDIS_PKT_COMPLETE";
	case 125: return "SEND_NDIS_CONFIG";
	case 128: return "SEND_VF_ASSOCIATION";
	case 129: return "SWITCH_DATA_PATH";
	case 130: return "UPLINK_CONNECT_STATE";
	case 131: return "OID_QUERY_EX";
	case 132: return "OID_QUERY_EX_COMP";
	case 133: return "SUBCHANNEL";
	case 134: return "SEND_INDIRECTION_TABLE";
	default: return "UNKNOWN";
	}
}

void trace_decode_nvsp(const uint8_t *p, size_t len, struct trace_out *o)
{
	uint32_t t, a, b, c;
	bool ok, okb, okc;

	t = (uint32_t)trace_get(p, len, 0, 4, &ok);
	if (!ok)
		return;
	a = (uint32_t)trace_get(p, len, 4, 4, &ok);
	b = (uint32_t)trace_get(p, len, 8, 4, &okb);
	c = (uint32_t)trace_get(p, len, 12, 4, &okc);
	trace_out_summary(o, " nvsp %s", trace_nvsp_name(t));
	trace_out_field(o, "nvsp", "%s (%u)", trace_nvsp_name(t), t);
	o->depth++;
	switch (t) {
	case 1:
		trace_out_summary(o, " min=0x%x max=0x%x", a, b);
		trace_out_field(o, "min_protocol_ver", "0x%x", a);
		trace_out_field(o, "max_protocol_ver", "0x%x", b);
		break;
	case 2:
		trace_out_summary(o, " status=%u", c);
		trace_out_field(o, "status", "%u", c);
		break;
	case 101: case 104:
		trace_out_summary(o, " gpadl=0x%x id=0x%x", a, b & 0xFFFF);
		trace_out_field(o, "gpadl_handle", "0x%x", a);
		trace_out_field(o, "id", "0x%x", b & 0xFFFF);
		break;
	case 102: case 105: case 108: case 133:
		trace_out_summary(o, " status=%u", a);
		trace_out_field(o, "status", "%u", a);
		break;
	case 107:
		trace_out_summary(o, " channel_type=%u section=%d size=%u", a, (int)b, c);
		trace_out_field(o, "channel_type", "%u", a);
		trace_out_field(o, "send_buf_section_index", "0x%x", b);
		trace_out_field(o, "send_buf_section_size", "%u", c);
		break;
	default:
		break;
	}
	(void)okb;
	(void)okc;
	o->depth--;
}

static const char *trace_rndis_name(uint32_t t)
{
	switch (t) {
	case 1: return "PACKET_MSG";
	case 2: return "INITIALIZE_MSG";
	case 0x80000002: return "INITIALIZE_CMPLT";
	case 3: return "HALT_MSG";
	case 4: return "QUERY_MSG";
	case 0x80000004: return "QUERY_CMPLT";
	case 5: return "SET_MSG";
	case 0x80000005: return "SET_CMPLT";
	case 6: return "RESET_MSG";
	case 0x80000006: return "RESET_CMPLT";
	case 7: return "INDICATE_STATUS_MSG";
	case 8: return "KEEPALIVE_MSG";
	case 0x80000008: return "KEEPALIVE_CMPLT";
	default: return "UNKNOWN";
	}
}

const char *trace_rndis_oid_name(uint32_t oid);
const char *trace_rndis_oid_name(uint32_t oid)
{
	switch (oid) {
	case 0x00010101: return "OID_GEN_SUPPORTED_LIST";
	case 0x00010102: return "OID_GEN_HARDWARE_STATUS";
	case 0x00010103: return "OID_GEN_MEDIA_SUPPORTED";
	case 0x00010104: return "OID_GEN_MEDIA_IN_USE";
	case 0x00010106: return "OID_GEN_MAXIMUM_FRAME_SIZE";
	case 0x00010107: return "OID_GEN_LINK_SPEED";
	case 0x0001010E: return "OID_GEN_CURRENT_PACKET_FILTER";
	case 0x00010111: return "OID_GEN_MAXIMUM_TOTAL_SIZE";
	case 0x00010114: return "OID_GEN_MEDIA_CONNECT_STATUS";
	case 0x00010203: return "OID_GEN_RECEIVE_SCALE_CAPABILITIES";
	case 0x00010204: return "OID_GEN_RECEIVE_SCALE_PARAMETERS";
	case 0x0001021B: return "OID_GEN_RNDIS_CONFIG_PARAMETER";
	case 0x00020216: return "OID_GEN_FRIENDLY_NAME";
	case 0x01010101: return "OID_802_3_PERMANENT_ADDRESS";
	case 0x01010102: return "OID_802_3_CURRENT_ADDRESS";
	case 0x01010103: return "OID_802_3_MULTICAST_LIST";
	case 0x01010104: return "OID_802_3_MAXIMUM_LIST_SIZE";
	case 0xFC01020B: return "OID_TCP_OFFLOAD_CURRENT_CONFIG";
	case 0xFC01020C: return "OID_TCP_OFFLOAD_PARAMETERS";
	case 0xFC01020D: return "OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES";
	default: return "OID_UNKNOWN";
	}
}

void trace_decode_rndis(const uint8_t *p, size_t len, struct trace_out *o)
{
	uint32_t t, mlen, rid, a;
	bool ok;

	t = (uint32_t)trace_get(p, len, 0, 4, &ok);
	mlen = (uint32_t)trace_get(p, len, 4, 4, &ok);
	rid = (uint32_t)trace_get(p, len, 8, 4, &ok);
	a = (uint32_t)trace_get(p, len, 12, 4, &ok);
	if (!ok) {
		trace_out_summary(o, " rndis <short: %zu bytes>", len);
		return;
	}
	trace_out_summary(o, " rndis %s", trace_rndis_name(t));
	trace_out_field(o, "rndis", "%s (0x%x)", trace_rndis_name(t), t);
	o->depth++;
	trace_out_field(o, "msg_len", "%u", mlen);
	if (t == 1) {
		trace_out_summary(o, " data_len=%u", a);
		trace_out_field(o, "data_offset", "%u", rid);
		trace_out_field(o, "data_len", "%u", a);
	} else if (t == 7) {
		trace_out_summary(o, " status=0x%x", rid);
		trace_out_field(o, "status", "0x%08x", rid);
	} else {
		trace_out_summary(o, " req_id=%u", rid);
		trace_out_field(o, "request_id", "%u", rid);
		if (t == 4 || t == 5) {
			trace_out_summary(o, " %s", trace_rndis_oid_name(a));
			trace_out_field(o, "oid", "%s (0x%08x)", trace_rndis_oid_name(a), a);
		} else if (t & 0x80000000u) {
			trace_out_summary(o, " status=0x%x", a);
			trace_out_field(o, "status", "0x%08x", a);
		}
	}
	o->depth--;
}
