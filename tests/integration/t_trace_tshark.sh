# The Wireshark dissector (tools/wireshark/vmbus.lua) on captures made here:
# tshark decodes the synthetic-guest session's channel messages, the vstor
# operations and SCSI CDBs (WRITE(10) at LBA 100), the ICs and the KVP
# key/value pair, with no Lua error or malformed record anywhere, also on a
# snapped capture; NVSP and RNDIS on a capture built byte by byte; and
# `vmbusd dump` agrees with tshark on the record count.
. ./lib.sh
. ./trace_lib.sh
command -v tshark >/dev/null || { echo "SKIP: tshark not installed (scripts/install-deps installs it)"; exit 0; }
LUA=$(cd ../.. && pwd)/tools/wireshark/vmbus.lua
ts() { tshark -X lua_script:"$LUA" "$@" 2>/dev/null; }
capture_session --trace "$T/cap.pcap"

ts -r "$T/cap.pcap" -V >"$T/v" || fail "tshark -V failed"
! grep -E 'Lua Error|Malformed|Not a vmbusd record' "$T/v" || fail "dissector errors"
# Channel messages by name, with fields.
expect_line "$T/v" 'Channel message: INITIATE_CONTACT (14)'
expect_line "$T/v" 'vmbus_version_requested: 5.3'
expect_line "$T/v" 'Channel message: OFFERCHANNEL (1)'
expect_line "$T/v" 'if_type (device class): ba6163d9-04a1-4d29-b605-72e2ffb1dc7f'
expect_line "$T/v" 'Channel message: OPENCHANNEL (5)'
expect_line "$T/v" 'Channel message: GPADL_HEADER (8)'
expect_line "$T/v" 'Channel message: VERSION_RESPONSE (15)'
expect_line "$T/v" 'Packet type: DATA_USING_GPA_DIRECT (9)'
# vstor and the SCSI CDB of the write: opcode, LBA, length; completions.
ts -r "$T/cap.pcap" -Y 'vstor.scsi.opcode == 0x2a' -T fields -e vmbus.dir -e vstor.operation \
	-e vstor.scsi.lba -e vstor.scsi.length -e vstor.srb.data_transfer_length >"$T/w"
[ "$(cat "$T/w")" = "$(printf '1\t3\t100\t8\t4096')" ] || { cat "$T/w"; fail "WRITE(10) fields"; }
ts -r "$T/cap.pcap" -Y 'vstor.scsi.opcode == 0x28' -T fields -e vstor.scsi.lba >"$T/r"
[ "$(cat "$T/r")" = 100 ] || { cat "$T/r"; fail "READ(10) LBA"; }
ts -r "$T/cap.pcap" -Y 'vstor.operation == 1 && vstor.srb_status == 0x01' -T fields -e vmbus.seq >"$T/c"
[ -s "$T/c" ] || fail "no successful COMPLETE_IO decoded"
expect_line "$T/v" 'SCSI opcode: SYNCHRONIZE_CACHE(10) (0x35)'
expect_line "$T/v" 'Completes: WRITE(10) lba=100 len=8'
expect_line "$T/v" 'Operation: QUERY_PROTOCOL_VERSION (9)'
# Data records (version 2): the read's bytes, tied to its request's trans_id.
ts -r "$T/cap.pcap" -Y 'vmbus.event == 15 && vmbus.proto == 1 && vmbus.data.len == 4096' -T fields \
	-e vmbus.dir -e vmbus.data.trans_id -e vmbus.data.bytes >"$T/d"
grep -qE "^2	0x[0-9a-f]+	(a5){4096}$" "$T/d" || { cat "$T/d"; fail "storvsc data_out fields"; }
expect_line "$T/v" 'Event: data_in (14)'
# ICs: negotiation, heartbeat, shutdown, timesync, KVP with UTF-16 decoded.
ts -r "$T/cap.pcap" -Y 'kvp.key == "trace-key"' -T fields -e vmbus.dir -e kvp.operation \
	-e kvp.pool -e kvp.value >"$T/k"
grep -qx "$(printf '2\t1\t0\ttrace-value')" "$T/k" || { cat "$T/k"; fail "KVP SET request"; }
grep -qx "$(printf '1\t1\t0\ttrace-value')" "$T/k" || { cat "$T/k"; fail "KVP SET response"; }
expect_line "$T/v" 'IC message type: NEGOTIATE (0)'
expect_line "$T/v" 'seq_num: '
expect_line "$T/v" 'IC message type: SHUTDOWN (3)'
expect_line "$T/v" 'flags: shutdown (0)'
expect_line "$T/v" 'IC message type: TIMESYNC (4)'
# Partition events and the header fields.
expect_line "$T/v" 'Event: attach (11)'
expect_line "$T/v" 'MSR: SIMP (0x40000083)'
expect_line "$T/v" 'Event: interrupt (9)'
expect_line "$T/v" 'Event: gpadl_create (5)'
# The summary line and dump agree on the records.
ts -r "$T/cap.pcap" >"$T/sum"
expect_line "$T/sum" 'H>G relid' 'pkt_out kvp' 'KVPEXCHANGE request SET' 'key="trace-key"'
expect_line "$T/sum" 'G>H relid' 'pkt_in storvsc' 'EXECUTE_SRB' 'WRITE(10) (0x2a) lba=100 len=8'
"$VMBUSD" dump "$T/cap.pcap" >"$T/dump" || fail "vmbusd dump failed"
[ "$(wc -l <"$T/dump")" = "$(wc -l <"$T/sum")" ] || fail "dump and tshark count different records"
expect_line "$T/dump" 'pkt_in' 'WRITE(10)(0x2a)' 'lba=100 blocks=8'
expect_line "$T/dump" 'key="trace-key"' 'value="trace-value"'

# A snapped capture: every field past the kept bytes is left out, no error.
capture_session --trace "$T/snap.pcap" --trace-snap 30
ts -r "$T/snap.pcap" -V >"$T/sv" || fail "tshark on a snapped capture"
! grep -E 'Lua Error|Malformed' "$T/sv" || fail "dissector errors on a snapped capture"
expect_line "$T/sv" 'Record snapped'

# NVSP and RNDIS from netvsp itself: a NIC brought up by the synthetic
# hv_netvsc; the RNDIS replies lie in the receive buffer (GPADL, offset).
cat >"$T/n.json" <<JSON
{"devices":[{"type":"netvsp","mac":"00:15:5d:00:00:10","backend":{"kind":"null"}}]}
JSON
start_daemon --config "$T/n.json" --trace "$T/nv.pcap"
guest netvsc --frames 0 >"$T/n.out" || { cat "$T/n.out"; fail "netvsc bring-up"; }
stop_daemon
ts -r "$T/nv.pcap" -V >"$T/nvv" || fail "tshark on the netvsp capture"
! grep -E 'Lua Error|Malformed' "$T/nvv" || fail "dissector errors on netvsp records"
ts -r "$T/nv.pcap" -Y 'vmbus.event == 15 && rndis.msg_type == 0x80000004' -T fields \
	-e vmbus.dir -e vmbus.data.gpadl -e rndis.status >"$T/q"
grep -qE "^2	0x000e1e1[0-9a-f]	0x00000000$" "$T/q" || { cat "$T/q"; fail "netvsp data_out (QUERY_CMPLT) fields"; }
ts -r "$T/nv.pcap" -Y 'vmbus.event == 14 && rndis.msg_type == 4' -T fields -e rndis.oid >"$T/q"
grep -qx '0x01010101' "$T/q" || { cat "$T/q"; fail "netvsp data_in (QUERY OID_802_3_PERMANENT_ADDRESS)"; }

# NVSP and RNDIS, from a capture written byte by byte (netvsp's records).
rec() { # EVENT DIR PROTO RELID ID DATA-FILE
	local n; n=$(stat -c %s "$6")
	le32 0 0 $((40 + n)) $((40 + n))
	le32 0x54424d56; printf '\x01\x28'; printf "\\x$(printf %02x "$1")\\x00"
	printf "\\x$(printf %02x "$2")\\x$(printf %02x "$3")\\x00\\x00"
	le32 "$4" 0 "$5" 0 0 "$n" 0; cat "$6"
}
le32 1 0x20002 0x60001 0 0 0 0 0 0 0 >"$T/nvsp.bin"                 # NVSP INIT
le32 4 28 7 0x00010114 4 20 0 >"$T/rndis.bin"                         # QUERY media connect
{
	le32 0xa1b23c4d; printf '\x02\x00\x04\x00'; le32 0 0 262144 147
	{ printf '\x06\x00\x02\x00\x08\x00\x01\x00'; le32 7 0; cat "$T/nvsp.bin"; printf '\0\0\0\0\0\0\0\0'; } >"$T/pkt.bin"
	rec 3 1 2 9 0 "$T/pkt.bin"
	rec 14 1 2 9 0 "$T/rndis.bin"
} >"$T/net.pcap"
ts -r "$T/net.pcap" -V >"$T/nv" || fail "tshark on the netvsc capture"
! grep -E 'Lua Error|Malformed' "$T/nv" || { cat "$T/nv"; fail "dissector errors on netvsc records"; }
expect_line "$T/nv" 'NVSP message: INIT (1)'
expect_line "$T/nv" 'max_protocol_ver: 0x00060001'
expect_line "$T/nv" 'RNDIS message: QUERY_MSG (0x00000004)'
expect_line "$T/nv" 'OID: OID_GEN_MEDIA_CONNECT_STATUS (0x00010114)'
expect_line "$T/nv" 'request_id: 7'
"$VMBUSD" dump "$T/net.pcap" >"$T/nd" || fail "dump of the netvsc capture"
expect_line "$T/nd" 'nvsp INIT' 'max=0x60001'
expect_line "$T/nd" 'rndis QUERY_MSG' 'req_id=7' 'OID_GEN_MEDIA_CONNECT_STATUS'
