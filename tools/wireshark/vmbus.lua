-- SPDX-License-Identifier: MIT
--
-- Wireshark dissector for vmbusd captures (`vmbusd serve --trace FILE`).
--
--   wireshark -X lua_script:tools/wireshark/vmbus.lua FILE
--   tshark -X lua_script:tools/wireshark/vmbus.lua -r FILE -V
--   (or copy it into ~/.local/lib/wireshark/plugins/)
--
-- A capture is a pcap of link type LINKTYPE_USER0 (147); each record is one
-- bus event: a 40-byte header (include/vmbusd/proto/trace.h), then the
-- event's bytes -- a VMBus channel message, a ring packet (descriptor and
-- payload), a GPADL's range list, or device data outside the ring
-- (data_in/data_out, record version 2: where it lies, and an RNDIS message
-- for netvsc).
-- The header names the channel's device protocol, so ring payloads are
-- decoded as vstor + SCSI, IC (heartbeat, shutdown, timesync, KVP) or
-- NVSP.  Field names: vmbus.*, vmbus.msg.*, vmbus.pkt.*, vstor.*,
-- vstor.scsi.*, ic.*, kvp.*, nvsp.*, rndis.*.  Records may be snapped
-- (--trace-snap): every field is read only when its bytes are present.

local p_vmbus = Proto("vmbus", "vmbusd VMBus trace")
local p_vstor = Proto("vstor", "Hyper-V storage (vstor)")
local p_ic = Proto("hvic", "Hyper-V integration component")
local p_nvsp = Proto("nvsp", "Hyper-V network (NVSP)")
local p_rndis = Proto("hvrndis", "RNDIS (Hyper-V netvsc)")

local MAGIC = 0x54424d56
-- Wireshark 4.0 embeds Lua 5.2: no bitwise operators, bit32 instead.
local band, rsh = bit32.band, bit32.rshift

-- ---- value strings (numbers from include/vmbusd/proto and Linux) ---------

local events = {
	[1] = "msg_in", [2] = "msg_out", [3] = "pkt_in", [4] = "pkt_out",
	[5] = "gpadl_create", [6] = "gpadl_teardown", [7] = "signal_in",
	[8] = "signal_out", [9] = "interrupt", [10] = "msr_write", [11] = "attach",
	[12] = "reset", [13] = "detach", [14] = "data_in", [15] = "data_out",
}
local dirs = { [0] = "host", [1] = "guest->host", [2] = "host->guest" }
local dir_short = { [0] = "---", [1] = "G>H", [2] = "H>G" }
local protos = {
	[0] = "unknown", [1] = "storvsc", [2] = "netvsc", [3] = "heartbeat",
	[4] = "shutdown", [5] = "timesync", [6] = "kvp", [7] = "bench", [8] = "vss", [9] = "fcopy",
}
local chanmsgs = {
	[0] = "INVALID", [1] = "OFFERCHANNEL", [2] = "RESCIND_CHANNELOFFER",
	[3] = "REQUESTOFFERS", [4] = "ALLOFFERS_DELIVERED", [5] = "OPENCHANNEL",
	[6] = "OPENCHANNEL_RESULT", [7] = "CLOSECHANNEL", [8] = "GPADL_HEADER",
	[9] = "GPADL_BODY", [10] = "GPADL_CREATED", [11] = "GPADL_TEARDOWN",
	[12] = "GPADL_TORNDOWN", [13] = "RELID_RELEASED", [14] = "INITIATE_CONTACT",
	[15] = "VERSION_RESPONSE", [16] = "UNLOAD", [17] = "UNLOAD_RESPONSE",
	[21] = "TL_CONNECT_REQUEST", [22] = "MODIFYCHANNEL", [23] = "TL_CONNECT_RESULT",
	[24] = "MODIFYCHANNEL_RESPONSE",
}
local pkttypes = {
	[0] = "INVALID", [1] = "SYNCH", [2] = "ADD_XFER_PAGESET", [3] = "RM_XFER_PAGESET",
	[4] = "ESTABLISH_GPADL", [5] = "TEARDOWN_GPADL", [6] = "DATA_INBAND",
	[7] = "DATA_USING_XFER_PAGES", [8] = "DATA_USING_GPADL",
	[9] = "DATA_USING_GPA_DIRECT", [10] = "CANCEL_REQUEST", [11] = "COMP",
	[12] = "DATA_USING_ADDITIONAL_PKT", [13] = "ADDITIONAL_DATA",
}
local msrs = {
	[0x40000000] = "GUEST_OS_ID", [0x40000001] = "HYPERCALL", [0x40000073] = "VP_ASSIST_PAGE",
	[0x40000080] = "SCONTROL", [0x40000082] = "SIEFP", [0x40000083] = "SIMP",
	[0x40000084] = "EOM", [0x40000118] = "TSC_INVARIANT_CTL",
}
for i = 0, 15 do msrs[0x40000090 + i] = "SINT" .. i end
local vstor_ops = {
	[1] = "COMPLETE_IO", [2] = "REMOVE_DEVICE", [3] = "EXECUTE_SRB", [4] = "RESET_LUN",
	[5] = "RESET_ADAPTER", [6] = "RESET_BUS", [7] = "BEGIN_INITIALIZATION",
	[8] = "END_INITIALIZATION", [9] = "QUERY_PROTOCOL_VERSION", [10] = "QUERY_PROPERTIES",
	[11] = "ENUMERATE_BUS", [12] = "FCHBA_DATA", [13] = "CREATE_SUB_CHANNELS",
}
local srb_statuses = {
	[0x00] = "PENDING", [0x01] = "SUCCESS", [0x02] = "ABORTED", [0x04] = "ERROR",
	[0x06] = "INVALID_REQUEST", [0x09] = "TIMEOUT", [0x0a] = "SELECTION_TIMEOUT",
	[0x0e] = "BUS_RESET", [0x12] = "DATA_OVERRUN", [0x20] = "INVALID_LUN",
	[0x30] = "INTERNAL_ERROR",
}
local scsi_statuses = { [0] = "GOOD", [2] = "CHECK_CONDITION", [8] = "BUSY",
	[0x18] = "RESERVATION_CONFLICT", [0x28] = "TASK_SET_FULL" }
local sense_keys = {
	[0] = "NO_SENSE", [1] = "RECOVERED_ERROR", [2] = "NOT_READY", [3] = "MEDIUM_ERROR",
	[4] = "HARDWARE_ERROR", [5] = "ILLEGAL_REQUEST", [6] = "UNIT_ATTENTION",
	[7] = "DATA_PROTECT", [0xb] = "ABORTED_COMMAND",
}
-- opcode -> { name, CDB form holding LBA and length (0: none) }
local scsi_ops = {
	[0x00] = { "TEST_UNIT_READY", 0 }, [0x03] = { "REQUEST_SENSE", 0 },
	[0x08] = { "READ(6)", 6 }, [0x0a] = { "WRITE(6)", 6 }, [0x12] = { "INQUIRY", 0 },
	[0x15] = { "MODE_SELECT(6)", 0 }, [0x1a] = { "MODE_SENSE(6)", 0 },
	[0x1b] = { "START_STOP_UNIT", 0 }, [0x1e] = { "PREVENT_ALLOW_MEDIUM_REMOVAL", 0 },
	[0x25] = { "READ_CAPACITY(10)", 0 }, [0x28] = { "READ(10)", 10 },
	[0x2a] = { "WRITE(10)", 10 }, [0x2f] = { "VERIFY(10)", 10 },
	[0x35] = { "SYNCHRONIZE_CACHE(10)", 10 }, [0x41] = { "WRITE_SAME(10)", 10 },
	[0x42] = { "UNMAP", 0 }, [0x55] = { "MODE_SELECT(10)", 0 }, [0x5a] = { "MODE_SENSE(10)", 0 },
	[0x5e] = { "PERSISTENT_RESERVE_IN", 0 }, [0x88] = { "READ(16)", 16 },
	[0x8a] = { "WRITE(16)", 16 }, [0x8f] = { "VERIFY(16)", 16 },
	[0x91] = { "SYNCHRONIZE_CACHE(16)", 16 }, [0x93] = { "WRITE_SAME(16)", 16 },
	[0x9e] = { "SERVICE_ACTION_IN(16)", 0 }, [0xa0] = { "REPORT_LUNS", 0 },
	[0xa3] = { "MAINTENANCE_IN", 0 }, [0xa8] = { "READ(12)", 12 }, [0xaa] = { "WRITE(12)", 12 },
}
local scsi_op_names = {}
for k, v in pairs(scsi_ops) do scsi_op_names[k] = v[1] end
local ic_types = { [0] = "NEGOTIATE", [1] = "HEARTBEAT", [2] = "KVPEXCHANGE",
	[3] = "SHUTDOWN", [4] = "TIMESYNC", [5] = "VSS", [7] = "FCOPY" }
local kvp_ops = { [0] = "GET", [1] = "SET", [2] = "DELETE", [3] = "ENUMERATE",
	[4] = "GET_IP_INFO", [5] = "SET_IP_INFO" }
local kvp_pools = { [0] = "external", [1] = "guest", [2] = "auto", [3] = "auto_external",
	[4] = "auto_internal" }
local nvsp_types = {
	[1] = "INIT", [2] = "INIT_COMPLETE", [100] = "SEND_NDIS_VER", [101] = "SEND_RECV_BUF",
	[102] = "SEND_RECV_BUF_COMPLETE", [103] = "REVOKE_RECV_BUF", [104] = "SEND_SEND_BUF",
	[105] = "SEND_SEND_BUF_COMPLETE", [106] = "REVOKE_SEND_BUF", [107] = "SEND_RNDIS_PKT",
	[108] = "SEND_RNDIS_PKT_COMPLETE", [125] = "SEND_NDIS_CONFIG",
	[128] = "SEND_VF_ASSOCIATION", [129] = "SWITCH_DATA_PATH",
	[130] = "UPLINK_CONNECT_STATE", [131] = "OID_QUERY_EX", [132] = "OID_QUERY_EX_COMP",
	[133] = "SUBCHANNEL", [134] = "SEND_INDIRECTION_TABLE",
}
local nvsp_statuses = { [0] = "NONE", [1] = "SUCCESS", [2] = "FAIL", [3] = "PROTOCOL_TOO_NEW",
	[4] = "PROTOCOL_TOO_OLD", [5] = "INVALID_RNDIS_PKT", [6] = "BUSY",
	[7] = "PROTOCOL_UNSUPPORTED" }
local rndis_types = {
	[1] = "PACKET_MSG", [2] = "INITIALIZE_MSG", [0x80000002] = "INITIALIZE_CMPLT",
	[3] = "HALT_MSG", [4] = "QUERY_MSG", [0x80000004] = "QUERY_CMPLT", [5] = "SET_MSG",
	[0x80000005] = "SET_CMPLT", [6] = "RESET_MSG", [0x80000006] = "RESET_CMPLT",
	[7] = "INDICATE_STATUS_MSG", [8] = "KEEPALIVE_MSG", [0x80000008] = "KEEPALIVE_CMPLT",
}
local rndis_oids = {
	[0x00010101] = "OID_GEN_SUPPORTED_LIST", [0x00010102] = "OID_GEN_HARDWARE_STATUS",
	[0x00010103] = "OID_GEN_MEDIA_SUPPORTED", [0x00010104] = "OID_GEN_MEDIA_IN_USE",
	[0x00010106] = "OID_GEN_MAXIMUM_FRAME_SIZE", [0x00010107] = "OID_GEN_LINK_SPEED",
	[0x0001010e] = "OID_GEN_CURRENT_PACKET_FILTER", [0x00010111] = "OID_GEN_MAXIMUM_TOTAL_SIZE",
	[0x00010114] = "OID_GEN_MEDIA_CONNECT_STATUS",
	[0x00010203] = "OID_GEN_RECEIVE_SCALE_CAPABILITIES",
	[0x00010204] = "OID_GEN_RECEIVE_SCALE_PARAMETERS",
	[0x0001021b] = "OID_GEN_RNDIS_CONFIG_PARAMETER", [0x00020216] = "OID_GEN_FRIENDLY_NAME",
	[0x01010101] = "OID_802_3_PERMANENT_ADDRESS", [0x01010102] = "OID_802_3_CURRENT_ADDRESS",
	[0x01010103] = "OID_802_3_MULTICAST_LIST", [0x01010104] = "OID_802_3_MAXIMUM_LIST_SIZE",
	[0xfc01020b] = "OID_TCP_OFFLOAD_CURRENT_CONFIG", [0xfc01020c] = "OID_TCP_OFFLOAD_PARAMETERS",
	[0xfc01020d] = "OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES",
}
local rndis_statuses = { [0] = "SUCCESS", [0xc0000001] = "FAILURE",
	[0xc0010015] = "INVALID_DATA", [0xc00000bb] = "NOT_SUPPORTED",
	[0x4001000b] = "MEDIA_CONNECT", [0x4001000c] = "MEDIA_DISCONNECT",
	[0x40010018] = "NETWORK_CHANGE", [0x40010013] = "LINK_SPEED_CHANGE" }

-- ---- fields ------------------------------------------------------------------

local U8, U16, U32, U64 = ProtoField.uint8, ProtoField.uint16, ProtoField.uint32, ProtoField.uint64
local D, H = base.DEC, base.HEX
local f = {
	magic = U32("vmbus.magic", "Magic", H), version = U8("vmbus.version", "Version"),
	hdr_len = U8("vmbus.hdr_len", "Header length"), event = U16("vmbus.event", "Event", D, events),
	dir = U8("vmbus.dir", "Direction", D, dirs), proto = U8("vmbus.proto", "Channel protocol", D, protos),
	flags = U16("vmbus.flags", "Flags", H), relid = U32("vmbus.relid", "Relid"),
	vp = U32("vmbus.vp", "VP"), id = U32("vmbus.id", "Id"), arg = U64("vmbus.arg", "Argument", H),
	orig_len = U32("vmbus.orig_len", "Original length"), seq = U32("vmbus.seq", "Record number"),
	conn_id = U32("vmbus.connection_id", "Connection id"), hv_type = U32("vmbus.hv_msg_type", "HV message type"),
	msr = U32("vmbus.msr", "MSR", H, msrs), msr_value = U64("vmbus.msr_value", "MSR value", H),
	sint = U32("vmbus.sint", "SINT"), vector = U64("vmbus.vector", "Vector", H),
	gpadl = U32("vmbus.gpadl", "GPADL", H), flag = U32("vmbus.event_flag", "Event flag"),
	data_gpadl = U32("vmbus.data.gpadl", "Data in GPADL", H),
	data_offset = U64("vmbus.data.offset", "Data offset in the GPADL"),
	data_tid = U64("vmbus.data.trans_id", "Data in the pages of packet trans_id", H),
	data_buf_offset = U32("vmbus.data.buf_offset", "Data offset in the packet's pages"),
	data_len = U32("vmbus.data.len", "Data bytes"),
	data_bytes = ProtoField.bytes("vmbus.data.bytes", "Data"),

	msgtype = U32("vmbus.msg.type", "Channel message", D, chanmsgs),
	child_relid = U32("vmbus.msg.child_relid", "child_relid"),
	if_type = ProtoField.guid("vmbus.msg.if_type", "if_type (device class)"),
	if_instance = ProtoField.guid("vmbus.msg.if_instance", "if_instance"),
	chn_flags = U16("vmbus.msg.chn_flags", "chn_flags", H),
	mmio_megabytes = U16("vmbus.msg.mmio_megabytes", "mmio_megabytes"),
	sub_channel_index = U16("vmbus.msg.sub_channel_index", "sub_channel_index"),
	monitorid = U8("vmbus.msg.monitorid", "monitorid"),
	monitor_allocated = U8("vmbus.msg.monitor_allocated", "monitor_allocated"),
	is_dedicated_interrupt = U16("vmbus.msg.is_dedicated_interrupt", "is_dedicated_interrupt"),
	connection_id = U32("vmbus.msg.connection_id", "connection_id"),
	openid = U32("vmbus.msg.openid", "openid"),
	ringbuffer_gpadl = U32("vmbus.msg.ringbuffer_gpadl", "ringbuffer_gpadl", H),
	target_vp = U32("vmbus.msg.target_vp", "target_vp"),
	downstream_ring_offset = U32("vmbus.msg.downstream_ring_offset", "downstream_ring_offset"),
	status = U32("vmbus.msg.status", "status", H),
	msg_gpadl = U32("vmbus.msg.gpadl", "gpadl", H),
	range_buflen = U16("vmbus.msg.range_buflen", "range_buflen"),
	rangecount = U16("vmbus.msg.rangecount", "rangecount"),
	byte_count = U32("vmbus.msg.byte_count", "byte_count"),
	byte_offset = U32("vmbus.msg.byte_offset", "byte_offset"),
	pfn = U64("vmbus.msg.pfn", "pfn", H), msgnumber = U32("vmbus.msg.msgnumber", "msgnumber"),
	version_requested = ProtoField.string("vmbus.msg.version_requested", "vmbus_version_requested"),
	target_vcpu = U32("vmbus.msg.target_vcpu", "target_vcpu"),
	msg_sint = U8("vmbus.msg.msg_sint", "msg_sint"),
	monitor_page1 = U64("vmbus.msg.monitor_page1", "monitor_page1", H),
	monitor_page2 = U64("vmbus.msg.monitor_page2", "monitor_page2", H),
	version_supported = U8("vmbus.msg.version_supported", "version_supported"),
	connection_state = U8("vmbus.msg.connection_state", "connection_state"),
	msg_conn_id = U32("vmbus.msg.msg_conn_id", "msg_conn_id"),
	guest_endpoint_id = ProtoField.guid("vmbus.msg.guest_endpoint_id", "guest_endpoint_id"),
	host_service_id = ProtoField.guid("vmbus.msg.host_service_id", "host_service_id"),

	pkt_type = U16("vmbus.pkt.type", "Packet type", D, pkttypes),
	offset8 = U16("vmbus.pkt.offset8", "offset8"), len8 = U16("vmbus.pkt.len8", "len8"),
	pkt_flags = U16("vmbus.pkt.flags", "flags", H),
	trans_id = U64("vmbus.pkt.trans_id", "trans_id", H),
	pkt_rangecount = U32("vmbus.pkt.rangecount", "rangecount"),
	pkt_byte_count = U32("vmbus.pkt.byte_count", "range byte_count"),
	pkt_byte_offset = U32("vmbus.pkt.byte_offset", "range byte_offset"),
	pkt_pfn = U64("vmbus.pkt.pfn", "range pfn", H),
}
local fs = {
	op = U32("vstor.operation", "Operation", D, vstor_ops), flags = U32("vstor.flags", "Flags", H),
	status = U32("vstor.status", "Status", H),
	srb_length = U16("vstor.srb.length", "length"),
	srb_status = U8("vstor.srb_status", "srb_status", H),
	scsi_status = U8("vstor.scsi_status", "scsi_status", H, scsi_statuses),
	port = U8("vstor.srb.port_number", "port_number"), path = U8("vstor.srb.path_id", "path_id"),
	target = U8("vstor.srb.target_id", "target_id"), lun = U8("vstor.srb.lun", "lun"),
	cdb_length = U8("vstor.srb.cdb_length", "cdb_length"),
	sense_len = U8("vstor.srb.sense_info_length", "sense_info_length"),
	data_in = U8("vstor.srb.data_in", "data_in", D, { [0] = "WRITE", [1] = "READ", [2] = "NONE" }),
	xfer = U32("vstor.srb.data_transfer_length", "data_transfer_length"),
	srb_flags = U32("vstor.srb.srb_flags", "srb_flags", H),
	timeout = U32("vstor.srb.time_out_value", "time_out_value"),
	cdb = ProtoField.bytes("vstor.scsi.cdb", "CDB"),
	opcode = U8("vstor.scsi.opcode", "SCSI opcode", H, scsi_op_names),
	lba = U64("vstor.scsi.lba", "LBA"), length = U32("vstor.scsi.length", "Transfer length (blocks)"),
	sense_key = U8("vstor.sense.key", "Sense key", H, sense_keys),
	asc = U8("vstor.sense.asc", "ASC", H), ascq = U8("vstor.sense.ascq", "ASCQ", H),
	version = U16("vstor.version", "Protocol version", H), revision = U16("vstor.revision", "Revision"),
	max_channel_cnt = U16("vstor.max_channel_cnt", "max_channel_cnt"),
	prop_flags = U32("vstor.properties.flags", "flags", H),
	max_transfer_bytes = U32("vstor.max_transfer_bytes", "max_transfer_bytes"),
	sub_channel_count = U16("vstor.sub_channel_count", "sub_channel_count"),
	completes = ProtoField.string("vstor.completes", "Completes"),
}
-- EXECUTE_SRB requests seen, by "relid:trans_id", so that a COMPLETE_IO names
-- the command it completes (filled in capture order on the first pass).
local srb_requests = {}
function p_vmbus.init() srb_requests = {} end
local fi = {
	pipe_flags = U32("ic.pipe.flags", "pipe flags"), pipe_size = U32("ic.pipe.msgsize", "pipe msgsize"),
	verframe = ProtoField.string("ic.icverframe", "Framework version"),
	msgtype = U16("ic.msgtype", "IC message type", D, ic_types),
	vermsg = ProtoField.string("ic.icvermsg", "Message version"),
	msgsize = U16("ic.msgsize", "icmsgsize"), status = U32("ic.status", "status", H),
	tid = U8("ic.transaction_id", "ictransaction_id"), flags = U8("ic.flags", "icflags", H),
	fw_count = U16("ic.framework_version_count", "icframe_vercnt"),
	svc_count = U16("ic.service_version_count", "icmsg_vercnt"),
	fw_version = ProtoField.string("ic.framework_version", "Framework version offered"),
	svc_version = ProtoField.string("ic.service_version", "Service version offered"),
	hb_seq = U64("ic.heartbeat.seq_num", "seq_num"),
	sd_reason = U32("ic.shutdown.reason_code", "reason_code", H),
	sd_timeout = U32("ic.shutdown.timeout_seconds", "timeout_seconds"),
	sd_flags = U32("ic.shutdown.flags", "flags", D, { [0] = "shutdown", [1] = "shutdown (forced)",
		[2] = "reboot", [3] = "reboot (forced)", [4] = "hibernate", [5] = "hibernate (forced)" }),
	sd_message = ProtoField.string("ic.shutdown.message", "display_message"),
	ts_parent = U64("ic.timesync.parenttime", "parenttime"),
	ts_child = U64("ic.timesync.childtime", "childtime / vmreferencetime"),
	ts_flags = U8("ic.timesync.flags", "flags", D, { [0] = "PROBE", [1] = "SYNC", [2] = "SAMPLE" }),
	kvp_op = U8("kvp.operation", "Operation", D, kvp_ops), kvp_pool = U8("kvp.pool", "Pool", D, kvp_pools),
	kvp_index = U32("kvp.index", "Index"), kvp_vtype = U32("kvp.value_type", "value_type"),
	kvp_key_size = U32("kvp.key_size", "key_size"), kvp_value_size = U32("kvp.value_size", "value_size"),
	kvp_key = ProtoField.string("kvp.key", "Key"), kvp_value = ProtoField.string("kvp.value", "Value"),
	kvp_value_u = U64("kvp.value_int", "Value"),
}
local fn = {
	msgtype = U32("nvsp.msg_type", "NVSP message", D, nvsp_types),
	min_ver = U32("nvsp.min_protocol_ver", "min_protocol_ver", H),
	max_ver = U32("nvsp.max_protocol_ver", "max_protocol_ver", H),
	status = U32("nvsp.status", "status", D, nvsp_statuses),
	gpadl = U32("nvsp.gpadl_handle", "gpadl_handle", H), buf_id = U16("nvsp.id", "id", H),
	ndis_major = U32("nvsp.ndis_major", "ndis_major"), ndis_minor = U32("nvsp.ndis_minor", "ndis_minor"),
	channel_type = U32("nvsp.channel_type", "channel_type", D, { [0] = "data", [1] = "control" }),
	section_index = U32("nvsp.send_buf_section_index", "send_buf_section_index", H),
	section_size = U32("nvsp.send_buf_section_size", "send_buf_section_size"),
	num_sections = U32("nvsp.num_sections", "num_sections"),
	section_size2 = U32("nvsp.section_size", "section_size"),
	sub_op = U32("nvsp.subchannel.op", "op"), sub_num = U32("nvsp.subchannel.num", "num_subchannels"),
}
local fr = {
	msgtype = U32("rndis.msg_type", "RNDIS message", H, rndis_types),
	msg_len = U32("rndis.msg_len", "msg_len"), request_id = U32("rndis.request_id", "request_id"),
	oid = U32("rndis.oid", "OID", H, rndis_oids), status = U32("rndis.status", "status", H, rndis_statuses),
	info_len = U32("rndis.info_buflen", "info_buflen"), info_off = U32("rndis.info_buf_offset", "info_buf_offset"),
	major = U32("rndis.major_version", "major_version"), minor = U32("rndis.minor_version", "minor_version"),
	max_xfer = U32("rndis.max_xfer_size", "max_xfer_size"),
	data_offset = U32("rndis.data_offset", "data_offset"), data_len = U32("rndis.data_len", "data_len"),
	ppi_offset = U32("rndis.per_pkt_info_offset", "per_pkt_info_offset"),
	ppi_len = U32("rndis.per_pkt_info_len", "per_pkt_info_len"),
}
local function fields_of(t) local l = {} for _, v in pairs(t) do l[#l + 1] = v end return l end
p_vmbus.fields = fields_of(f)
p_vstor.fields = fields_of(fs)
p_ic.fields = fields_of(fi)
p_nvsp.fields = fields_of(fn)
p_rndis.fields = fields_of(fr)

local e_short = ProtoExpert.new("vmbus.snapped", "Record snapped: field not captured",
	expert.group.UNDECODED, expert.severity.NOTE)
local e_bad = ProtoExpert.new("vmbus.bad", "Not a vmbusd record", expert.group.MALFORMED,
	expert.severity.ERROR)
p_vmbus.experts = { e_short, e_bad }

-- ---- helpers: every read checks that its bytes were captured -----------------

-- b: TvbRange of the event data (or nil when empty).
local function has(b, off, n) return b ~= nil and off >= 0 and off + n <= b:len() end
local function u(b, off, n) if not has(b, off, n) then return nil end
	if n == 8 then return b(off, 8):le_uint64() end return b(off, n):le_uint() end
local function add(tree, field, b, off, n)
	if has(b, off, n) then return tree:add_le(field, b(off, n)) end
	tree:add_proto_expert_info(e_short, "not captured: " .. tostring(field))
	return nil
end
local function be(b, off, n) local v = 0 for i = 0, n - 1 do v = v * 256 + b(off + i, 1):uint() end return v end
local function ver_text(v) return string.format("%d.%d", rsh(v, 16), band(v, 0xffff)) end
local function icver_text(v) return string.format("%d.%d", band(v, 0xffff), rsh(v, 16)) end

-- UTF-16LE string of at most `size` bytes (stops at NUL) at off.
local function utf16(b, off, size)
	local n, avail = 0, has(b, off, 0) and (b:len() - off) or 0
	if size > avail then size = avail end
	while n + 1 < size and b(off + n, 2):le_uint() ~= 0 do n = n + 2 end
	if n == 0 then return "", nil end
	return b(off, n):le_ustring(), b(off, n)
end

-- ---- channel messages -------------------------------------------------------------

local msg_fields = {
	[1] = { { "child_relid", 184, 4 }, { "if_type", 8, 16 }, { "if_instance", 24, 16 },
		{ "chn_flags", 56, 2 }, { "mmio_megabytes", 58, 2 }, { "sub_channel_index", 180, 2 },
		{ "monitorid", 188, 1 }, { "monitor_allocated", 189, 1 },
		{ "is_dedicated_interrupt", 190, 2 }, { "connection_id", 192, 4 } },
	[2] = { { "child_relid", 8, 4 } },
	[5] = { { "child_relid", 8, 4 }, { "openid", 12, 4 }, { "ringbuffer_gpadl", 16, 4 },
		{ "target_vp", 20, 4 }, { "downstream_ring_offset", 24, 4 } },
	[6] = { { "child_relid", 8, 4 }, { "openid", 12, 4 }, { "status", 16, 4 } },
	[7] = { { "child_relid", 8, 4 } },
	[8] = { { "child_relid", 8, 4 }, { "msg_gpadl", 12, 4 }, { "range_buflen", 16, 2 },
		{ "rangecount", 18, 2 }, { "byte_count", 20, 4 }, { "byte_offset", 24, 4 } },
	[9] = { { "msgnumber", 8, 4 }, { "msg_gpadl", 12, 4 } },
	[10] = { { "child_relid", 8, 4 }, { "msg_gpadl", 12, 4 }, { "status", 16, 4 } },
	[11] = { { "child_relid", 8, 4 }, { "msg_gpadl", 12, 4 } },
	[12] = { { "msg_gpadl", 8, 4 } },
	[13] = { { "child_relid", 8, 4 } },
	[14] = { { "target_vcpu", 12, 4 }, { "msg_sint", 16, 1 }, { "monitor_page1", 24, 8 },
		{ "monitor_page2", 32, 8 } },
	[15] = { { "version_supported", 8, 1 }, { "connection_state", 9, 1 }, { "msg_conn_id", 12, 4 } },
	[21] = { { "guest_endpoint_id", 8, 16 }, { "host_service_id", 24, 16 } },
	[22] = { { "child_relid", 8, 4 }, { "target_vp", 12, 4 } },
	[23] = { { "guest_endpoint_id", 8, 16 }, { "status", 24, 4 } },
	[24] = { { "child_relid", 8, 4 }, { "status", 12, 4 } },
}

local function dissect_chanmsg(b, tree)
	local t = u(b, 0, 4)
	if t == nil then return "<short message>" end
	local name = chanmsgs[t] or ("CHANNELMSG_" .. t)
	local st = tree:add_le(f.msgtype, b(0, 4))
	local info = name
	if t == 14 and has(b, 8, 4) then
		local v = u(b, 8, 4)
		st:add(f.version_requested, b(8, 4), ver_text(v))
		info = info .. " version=" .. ver_text(v)
	end
	for _, d in ipairs(msg_fields[t] or {}) do
		local it = add(st, f[d[1]], b, d[2], d[3])
		if it and d[3] <= 4 and (d[1] == "child_relid" or d[1] == "msg_gpadl" or d[1] == "status") then
			info = info .. string.format(" %s=%s", d[1] == "msg_gpadl" and "gpadl" or d[1],
				d[1] == "child_relid" and tostring(u(b, d[2], 4)) or string.format("0x%x", u(b, d[2], 4)))
		end
	end
	local pfn_off = (t == 8 and 28) or (t == 9 and 16) or nil
	if pfn_off then
		local i = pfn_off
		while has(b, i, 8) do st:add_le(f.pfn, b(i, 8)) i = i + 8 end
	end
	return info
end

-- ---- vstor / SCSI -------------------------------------------------------------------

local function dissect_vstor(b, pinfo, root, key)
	local op = u(b, 0, 4)
	if op == nil then return "vstor <short>" end
	local tree = root:add(p_vstor, b)
	tree:add_le(fs.op, b(0, 4))
	add(tree, fs.flags, b, 4, 4)
	add(tree, fs.status, b, 8, 4)
	local name = vstor_ops[op] or ("op " .. op)
	local info = "vstor " .. name
	local status = u(b, 8, 4)
	if status and status ~= 0 then info = info .. string.format(" status=0x%x", status) end
	if (op == 3 or op == 1) and has(b, 12, 36) then
		local s = 12
		add(tree, fs.srb_length, b, s, 2)
		add(tree, fs.srb_status, b, s + 2, 1)
		add(tree, fs.scsi_status, b, s + 3, 1)
		add(tree, fs.port, b, s + 4, 1)
		add(tree, fs.path, b, s + 5, 1)
		add(tree, fs.target, b, s + 6, 1)
		add(tree, fs.lun, b, s + 7, 1)
		add(tree, fs.cdb_length, b, s + 8, 1)
		add(tree, fs.sense_len, b, s + 9, 1)
		add(tree, fs.data_in, b, s + 10, 1)
		add(tree, fs.xfer, b, s + 12, 4)
		if has(b, s + 40, 8) then
			add(tree, fs.srb_flags, b, s + 40, 4)
			add(tree, fs.timeout, b, s + 44, 4)
		end
		info = info .. " lun=" .. u(b, s + 7, 1)
		if op == 3 then
			local n = math.min(u(b, s + 8, 1), 16)
			local c = s + 16
			if n > 0 then
				local ct = tree:add(fs.cdb, b(c, n))
				local opc = u(b, c, 1)
				ct:add(fs.opcode, b(c, 1))
				local d = scsi_ops[opc] or { string.format("0x%02x", opc), 0 }
				info = info .. string.format(" %s (0x%02x)", d[1], opc)
				local form, lba, len = d[2], nil, nil
				if form == 6 and n >= 6 then
					lba = band(u(b, c + 1, 1), 0x1f) * 65536 + be(b, c + 2, 2)
					len = u(b, c + 4, 1) if len == 0 then len = 256 end
					ct:add(fs.lba, b(c + 1, 3), UInt64.new(lba)) ct:add(fs.length, b(c + 4, 1), len)
				elseif form == 10 and n >= 10 then
					lba, len = be(b, c + 2, 4), be(b, c + 7, 2)
					ct:add(fs.lba, b(c + 2, 4), UInt64.new(lba)) ct:add(fs.length, b(c + 7, 2), len)
				elseif form == 12 and n >= 12 then
					lba, len = be(b, c + 2, 4), be(b, c + 6, 4)
					ct:add(fs.lba, b(c + 2, 4), UInt64.new(lba)) ct:add(fs.length, b(c + 6, 4), len)
				elseif form == 16 and n >= 16 then
					lba, len = b(c + 2, 8):uint64(), be(b, c + 10, 4)
					ct:add(fs.lba, b(c + 2, 8), lba) ct:add(fs.length, b(c + 10, 4), len)
				end
				if lba ~= nil then info = info .. " lba=" .. tostring(lba) .. " len=" .. len end
				if key then
					srb_requests[key] = d[1] .. (lba ~= nil and (" lba=" .. tostring(lba) .. " len=" .. len) or "")
				end
			end
		else
			local ss, sc = u(b, s + 2, 1), u(b, s + 3, 1)
			info = info .. string.format(" srb_status=%s scsi_status=%s",
				srb_statuses[band(ss, 0x3f)] or string.format("0x%02x", ss), scsi_statuses[sc] or sc)
			local req = key and srb_requests[key]
			if req then
				tree:add(fs.completes, b(0, 4), req)
				info = info .. " (for " .. req .. ")"
			end
			if band(ss, 0x80) ~= 0 and u(b, s + 9, 1) >= 14 and has(b, s + 16, 14) then
				tree:add(fs.sense_key, b(s + 18, 1), band(u(b, s + 18, 1), 0xf))
				tree:add(fs.asc, b(s + 28, 1))
				tree:add(fs.ascq, b(s + 29, 1))
				info = info .. string.format(" sense=%x/%02x/%02x", band(u(b, s + 18, 1), 0xf),
					u(b, s + 28, 1), u(b, s + 29, 1))
			end
		end
	elseif op == 9 and has(b, 12, 4) then
		tree:add_le(fs.version, b(12, 2))
		tree:add_le(fs.revision, b(14, 2))
		info = info .. string.format(" version=%d.%d", u(b, 13, 1), u(b, 12, 1))
	elseif op == 10 and has(b, 28, 4) then
		tree:add_le(fs.max_channel_cnt, b(16, 2))
		tree:add_le(fs.prop_flags, b(20, 4))
		tree:add_le(fs.max_transfer_bytes, b(24, 4))
	elseif op == 13 and has(b, 12, 2) then
		tree:add_le(fs.sub_channel_count, b(12, 2))
	end
	return info
end

-- ---- integration components ----------------------------------------------------------

local function dissect_kvp(b, tree)
	if not has(b, 0, 4) then return "" end
	local op, pool = u(b, 0, 1), u(b, 1, 1)
	tree:add(fi.kvp_op, b(0, 1))
	tree:add(fi.kvp_pool, b(1, 1))
	local info = string.format(" %s pool=%d", kvp_ops[op] or tostring(op), pool)
	local base_off
	if op == 2 then
		local ks = u(b, 4, 4)
		if ks == nil then return info end
		tree:add_le(fi.kvp_key_size, b(4, 4))
		local key, r = utf16(b, 8, math.min(ks, 512))
		if r then tree:add(fi.kvp_key, r, key) end
		return info .. ' key="' .. key .. '"'
	elseif op == 3 then
		base_off = 8
		add(tree, fi.kvp_index, b, 4, 4)
	elseif op == 0 or op == 1 then
		base_off = 4
	else
		return info
	end
	local vt, ks, vs = u(b, base_off, 4), u(b, base_off + 4, 4), u(b, base_off + 8, 4)
	if vs == nil then return info end
	tree:add_le(fi.kvp_vtype, b(base_off, 4))
	tree:add_le(fi.kvp_key_size, b(base_off + 4, 4))
	tree:add_le(fi.kvp_value_size, b(base_off + 8, 4))
	local key, kr = utf16(b, base_off + 12, math.min(ks, 512))
	if kr then tree:add(fi.kvp_key, kr, key) end
	info = info .. ' key="' .. key .. '"'
	local voff = base_off + 12 + 512
	if vt == 4 or vt == 8 then
		local n = vt == 4 and 4 or 8
		if has(b, voff, n) then
			tree:add_le(fi.kvp_value_u, b(voff, n))
			info = info .. " value=" .. tostring(u(b, voff, n))
		end
	else
		local val, vr = utf16(b, voff, math.min(vs, 2048))
		if vr then tree:add(fi.kvp_value, vr, val) end
		info = info .. ' value="' .. val .. '"'
	end
	return info
end

local function dissect_ic(b, pinfo, root)
	if not has(b, 0, 28) then return "ic <short>" end
	local tree = root:add(p_ic, b)
	tree:add_le(fi.pipe_flags, b(0, 4))
	tree:add_le(fi.pipe_size, b(4, 4))
	tree:add(fi.verframe, b(8, 4), icver_text(u(b, 8, 4)))
	tree:add_le(fi.msgtype, b(12, 2))
	local vermsg = u(b, 14, 4)
	tree:add(fi.vermsg, b(14, 4), icver_text(vermsg))
	tree:add_le(fi.msgsize, b(18, 2))
	tree:add_le(fi.status, b(20, 4))
	tree:add(fi.tid, b(24, 1))
	tree:add(fi.flags, b(25, 1))
	local t, flags, status = u(b, 12, 2), u(b, 25, 1), u(b, 20, 4)
	local info = "ic " .. (ic_types[t] or tostring(t)) .. (band(flags, 4) ~= 0 and " response" or " request")
	if status ~= 0 then info = info .. string.format(" status=0x%x", status) end
	local body = has(b, 28, 1) and b(28) or nil
	if body == nil then return info end
	if t == 0 and has(body, 0, 8) then
		local nf, nm = u(body, 0, 2), u(body, 2, 2)
		tree:add_le(fi.fw_count, body(0, 2))
		tree:add_le(fi.svc_count, body(2, 2))
		for i = 0, math.min(nf + nm, 16) - 1 do
			if not has(body, 8 + 4 * i, 4) then break end
			tree:add(i < nf and fi.fw_version or fi.svc_version, body(8 + 4 * i, 4),
				icver_text(u(body, 8 + 4 * i, 4)))
		end
	elseif t == 1 and has(body, 0, 8) then
		tree:add_le(fi.hb_seq, body(0, 8))
		info = info .. " seq=" .. tostring(u(body, 0, 8))
	elseif t == 3 and has(body, 0, 12) then
		tree:add_le(fi.sd_reason, body(0, 4))
		tree:add_le(fi.sd_timeout, body(4, 4))
		tree:add_le(fi.sd_flags, body(8, 4))
		if has(body, 12, 1) then tree:add(fi.sd_message, body(12, math.min(body:len() - 12, 2048))) end
		info = info .. " flags=" .. u(body, 8, 4)
	elseif t == 4 and has(body, 0, 17) then
		local ref = band(vermsg, 0xffff) >= 4
		tree:add_le(fi.ts_parent, body(0, 8))
		tree:add_le(fi.ts_child, body(8, 8))
		local fo = ref and 16 or 24
		if has(body, fo, 1) then tree:add(fi.ts_flags, body(fo, 1)) end
	elseif t == 2 then
		info = info .. dissect_kvp(body, tree)
	end
	return info
end

-- ---- NVSP and RNDIS -------------------------------------------------------------------

local function dissect_rndis(b, pinfo, root)
	if not has(b, 0, 12) then return "rndis <short>" end
	local tree = root:add(p_rndis, b)
	local t = u(b, 0, 4)
	tree:add_le(fr.msgtype, b(0, 4))
	tree:add_le(fr.msg_len, b(4, 4))
	local info = "rndis " .. (rndis_types[t] or string.format("0x%x", t))
	if t == 1 then
		add(tree, fr.data_offset, b, 8, 4)
		add(tree, fr.data_len, b, 12, 4)
		add(tree, fr.ppi_offset, b, 32, 4)
		add(tree, fr.ppi_len, b, 36, 4)
	elseif t == 7 then
		tree:add_le(fr.status, b(8, 4))
		info = info .. " " .. (rndis_statuses[u(b, 8, 4)] or string.format("0x%x", u(b, 8, 4)))
	else
		tree:add_le(fr.request_id, b(8, 4))
		info = info .. " req_id=" .. u(b, 8, 4)
		if (t == 4 or t == 5) and has(b, 12, 4) then
			tree:add_le(fr.oid, b(12, 4))
			add(tree, fr.info_len, b, 16, 4)
			add(tree, fr.info_off, b, 20, 4)
			info = info .. " " .. (rndis_oids[u(b, 12, 4)] or string.format("OID 0x%08x", u(b, 12, 4)))
		elseif t == 2 and has(b, 12, 12) then
			tree:add_le(fr.major, b(12, 4))
			tree:add_le(fr.minor, b(16, 4))
			tree:add_le(fr.max_xfer, b(20, 4))
		elseif band(t, 0x80000000) ~= 0 and has(b, 12, 4) then
			tree:add_le(fr.status, b(12, 4))
			info = info .. " " .. (rndis_statuses[u(b, 12, 4)] or string.format("status=0x%x", u(b, 12, 4)))
		end
	end
	return info
end

local function dissect_nvsp(b, pinfo, root)
	local t = u(b, 0, 4)
	if t == nil then return "nvsp <short>" end
	local tree = root:add(p_nvsp, b)
	tree:add_le(fn.msgtype, b(0, 4))
	local info = "nvsp " .. (nvsp_types[t] or tostring(t))
	if t == 1 then
		add(tree, fn.min_ver, b, 4, 4) add(tree, fn.max_ver, b, 8, 4)
	elseif t == 2 then
		add(tree, fn.status, b, 12, 4)
	elseif t == 100 then
		add(tree, fn.ndis_major, b, 4, 4) add(tree, fn.ndis_minor, b, 8, 4)
	elseif t == 101 or t == 104 then
		add(tree, fn.gpadl, b, 4, 4) add(tree, fn.buf_id, b, 8, 2)
	elseif t == 102 then
		add(tree, fn.status, b, 4, 4) add(tree, fn.num_sections, b, 8, 4)
	elseif t == 105 then
		add(tree, fn.status, b, 4, 4) add(tree, fn.section_size2, b, 8, 4)
	elseif t == 107 then
		add(tree, fn.channel_type, b, 4, 4) add(tree, fn.section_index, b, 8, 4)
		add(tree, fn.section_size, b, 12, 4)
	elseif t == 108 then
		add(tree, fn.status, b, 4, 4)
		local s = u(b, 4, 4)
		if s then info = info .. " " .. (nvsp_statuses[s] or tostring(s)) end
	elseif t == 133 then
		add(tree, fn.sub_op, b, 4, 4) add(tree, fn.sub_num, b, 8, 4)
	end
	return info
end

-- ---- ring packets -------------------------------------------------------------------------

local payload_dissectors = {
	[1] = dissect_vstor, [2] = dissect_nvsp, [3] = dissect_ic, [4] = dissect_ic,
	[5] = dissect_ic, [6] = dissect_ic, [8] = dissect_ic, [9] = dissect_ic,
}

local function dissect_packet(b, proto, pinfo, tree, root, relid)
	if not has(b, 0, 16) then return "<packet shorter than its descriptor>" end
	local pt = tree:add(b(0, 16), "Packet descriptor")
	pt:add_le(f.pkt_type, b(0, 2))
	pt:add_le(f.offset8, b(2, 2))
	pt:add_le(f.len8, b(4, 2))
	pt:add_le(f.pkt_flags, b(6, 2))
	pt:add_le(f.trans_id, b(8, 8))
	local t, off = u(b, 0, 2), u(b, 2, 2) * 8
	local info = string.format("%s tid=0x%s", pkttypes[t] or tostring(t), b(8, 8):le_uint64():tohex():gsub("^0+(.)", "%1"))
	if t == 9 and has(b, 24, 8) then
		add(pt, f.pkt_rangecount, b, 20, 4)
		add(pt, f.pkt_byte_count, b, 24, 4)
		add(pt, f.pkt_byte_offset, b, 28, 4)
		local i = 32
		while i + 8 <= off and has(b, i, 8) do pt:add_le(f.pkt_pfn, b(i, 8)) i = i + 8 end
	end
	local d = payload_dissectors[proto]
	if d and off >= 16 and has(b, off, 1) then
		info = info .. " " .. d(b(off), pinfo, root, relid .. ":" .. b(8, 8):le_uint64():tohex())
	end
	return info
end

-- ---- the record ----------------------------------------------------------------------------------

function p_vmbus.dissector(tvb, pinfo, root)
	pinfo.cols.protocol = "VMBus"
	local tree = root:add(p_vmbus, tvb())
	if tvb:len() < 40 or tvb(0, 4):le_uint() ~= MAGIC then
		tree:add_proto_expert_info(e_bad)
		return
	end
	local hl = tvb(5, 1):uint()
	local ev, dir, proto = tvb(6, 2):le_uint(), tvb(8, 1):uint(), tvb(9, 1):uint()
	local relid, vp, id = tvb(12, 4):le_uint(), tvb(16, 4):le_uint(), tvb(20, 4):le_uint()
	tree:add_le(f.magic, tvb(0, 4))
	tree:add(f.version, tvb(4, 1))
	tree:add(f.hdr_len, tvb(5, 1))
	tree:add_le(f.event, tvb(6, 2))
	tree:add(f.dir, tvb(8, 1))
	tree:add(f.proto, tvb(9, 1))
	tree:add_le(f.flags, tvb(10, 2))
	tree:add_le(f.relid, tvb(12, 4))
	tree:add_le(f.vp, tvb(16, 4))
	tree:add_le(f.id, tvb(20, 4))
	tree:add_le(f.arg, tvb(24, 8))
	tree:add_le(f.orig_len, tvb(32, 4))
	tree:add_le(f.seq, tvb(36, 4))
	if hl < 40 or hl > tvb:len() then
		tree:add_proto_expert_info(e_bad, "header length out of range")
		return
	end
	if band(tvb(10, 2):le_uint(), 1) ~= 0 then
		tree:add_proto_expert_info(e_short, string.format("Record snapped: %d of %d data bytes kept",
			tvb:len() - hl, tvb(32, 4):le_uint()))
	end
	local b = hl < tvb:len() and tvb(hl) or nil
	local info
	if ev == 1 or ev == 2 then
		if ev == 1 then tree:add_le(f.conn_id, tvb(20, 4)) else tree:add_le(f.hv_type, tvb(20, 4)) end
		info = b and dissect_chanmsg(b, tree) or "<no data>"
	elseif ev == 3 or ev == 4 then
		info = b and dissect_packet(b, proto, pinfo, tree, root, relid) or "<no data>"
	elseif ev == 5 or ev == 6 then
		tree:add_le(f.gpadl, tvb(20, 4))
		info = string.format("gpadl=0x%x", id)
		if ev == 5 and b then
			add(tree, f.pkt_byte_count, b, 0, 4)
			add(tree, f.pkt_byte_offset, b, 4, 4)
			local i = 8
			while has(b, i, 8) do tree:add_le(f.pfn, b(i, 8)) i = i + 8 end
			info = info .. string.format(" pages=%d", math.floor((b:len() - 8) / 8))
		end
	elseif ev == 7 then
		tree:add_le(f.conn_id, tvb(20, 4))
		info = "conn=" .. id
	elseif ev == 8 then
		tree:add_le(f.flag, tvb(12, 4))
		tree:add_le(f.sint, tvb(20, 4))
		info = "flag=" .. relid
	elseif ev == 9 then
		tree:add_le(f.sint, tvb(20, 4))
		tree:add_le(f.vector, tvb(24, 8))
		info = string.format("sint=%d vector=0x%x", id, tvb(24, 4):le_uint())
	elseif ev == 10 then
		tree:add_le(f.msr, tvb(20, 4))
		tree:add_le(f.msr_value, tvb(24, 8))
		info = string.format("%s=0x%s", msrs[id] or string.format("MSR 0x%x", id),
			tvb(24, 8):le_uint64():tohex())
	elseif ev == 14 or ev == 15 then
		-- Where the bytes lie: a GPADL and an offset, or the pages of
		-- the guest packet with this trans_id (proto/trace.h, version 2).
		if id ~= 0 then
			tree:add_le(f.data_gpadl, tvb(20, 4))
			tree:add_le(f.data_offset, tvb(24, 8))
			info = string.format("gpadl=0x%x offset=%s", id, tvb(24, 8):le_uint64():tonumber())
		else
			tree:add_le(f.data_tid, tvb(24, 8))
			tree:add_le(f.data_buf_offset, tvb(16, 4))
			info = "tid=0x" .. tvb(24, 8):le_uint64():tohex()
			if vp ~= 0 then info = info .. " at=" .. vp end
		end
		tree:add_le(f.data_len, tvb(32, 4))
		if b and proto == 2 then
			info = info .. " " .. dissect_rndis(b, pinfo, root)
		else
			if b then tree:add(f.data_bytes, b) end
			info = info .. string.format(" %d bytes", tvb(32, 4):le_uint())
		end
	else
		info = ""
	end
	pinfo.cols.info = string.format("%s relid %d %s %s %s", dir_short[dir] or "?", relid,
		events[ev] or tostring(ev), protos[proto] or "?", info)
end

local encap = (wtap_encaps and wtap_encaps.USER0) or wtap.USER0
DissectorTable.get("wtap_encap"):add(encap, p_vmbus)
