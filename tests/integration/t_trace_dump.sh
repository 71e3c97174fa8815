# Capture (`serve --trace`, and the config's "trace" key) and `vmbusd dump`:
# a synthetic-guest session with storvsc I/O, every IC and a KVP round trip
# is recorded in order and decoded; filters, -v, a snapped and a rotated
# capture, and damaged or foreign files.
. ./lib.sh
. ./trace_lib.sh
capture_session --trace "$T/cap.pcap"
"$VMBUSD" dump "$T/cap.pcap" >"$T/dump" || { cat "$T/dump"; fail "dump failed"; }
# Partition events, channel messages both ways, GPADLs, signals, interrupts.
expect_line "$T/dump" 'attach' 'vps=2'
expect_line "$T/dump" 'G>H' 'msr_write' 'SIMP(0x40000083)'
expect_line "$T/dump" 'G>H' 'msg_in' 'INITIATE_CONTACT' 'vmbus_version_requested=5.3'
expect_line "$T/dump" 'H>G' 'msg_out' 'VERSION_RESPONSE' 'version_supported=1'
expect_line "$T/dump" 'H>G' 'msg_out' 'storvsc' 'OFFERCHANNEL' 'if_type=ba6163d9-04a1-4d29-b605-72e2ffb1dc7f'
expect_line "$T/dump" 'gpadl_create' 'storvsc' 'pfns='
expect_line "$T/dump" 'gpadl_teardown'
expect_line "$T/dump" 'signal_in' 'conn='
expect_line "$T/dump" 'signal_out' 'flag='
expect_line "$T/dump" 'interrupt' 'vector=0x'
expect_line "$T/dump" 'detach'
# Ring packets with the device protocol decoded.
expect_line "$T/dump" 'G>H' 'pkt_in' 'storvsc' 'EXECUTE_SRB' 'WRITE(10)(0x2a)' 'lba=100 blocks=8'
expect_line "$T/dump" 'G>H' 'pkt_in' 'storvsc' 'EXECUTE_SRB' 'READ(10)(0x28)' 'lba=100 blocks=8'
expect_line "$T/dump" 'G>H' 'pkt_in' 'storvsc' 'SYNCHRONIZE_CACHE(10)(0x35)'
expect_line "$T/dump" 'H>G' 'pkt_out' 'storvsc' 'COMP' 'COMPLETE_IO' 'srb_status=0x01'
# Data outside the ring (capture version 2): what the write took from the
# guest's pages and what the read put there, tied to their requests.
expect_line "$T/dump" 'G>H' 'data_in' 'storvsc' 'tid=0x' '4096 bytes [a5'
expect_line "$T/dump" 'H>G' 'data_out' 'storvsc' 'tid=0x' '4096 bytes [a5'
"$VMBUSD" dump -v --type data_out --device storvsc "$T/cap.pcap" >"$T/d"
expect_line "$T/d" 'data.trans_id: 0x'
expect_line "$T/d" 'data.bytes: 4096'
# A completion names the command it completes.
expect_line "$T/dump" 'H>G' 'pkt_out' 'COMPLETE_IO' 'srb_status=0x01' '(for WRITE(10)(0x2a) lba=100 blocks=8)'
expect_line "$T/dump" 'H>G' 'pkt_out' 'kvp' 'KVPEXCHANGE request SET' 'key="trace-key"' 'value="trace-value"'
expect_line "$T/dump" 'G>H' 'pkt_in' 'kvp' 'KVPEXCHANGE response SET' 'key="trace-key"'
expect_line "$T/dump" 'H>G' 'pkt_out' 'kvp' 'key="pushed-key"'
expect_line "$T/dump" 'G>H' 'pkt_in' 'heartbeat' 'ic HEARTBEAT response' 'seq='
expect_line "$T/dump" 'H>G' 'pkt_out' 'shutdown' 'ic SHUTDOWN request' 'flags=0 (shutdown)'
expect_line "$T/dump" 'H>G' 'pkt_out' 'timesync' 'ic TIMESYNC request'
expect_line "$T/dump" 'pkt_out' 'ic NEGOTIATE request'
# In order: the record numbers count up from 0 with no gap.
"$VMBUSD" dump -v "$T/cap.pcap" | sed -n 's/^    record: #\([0-9]*\) .*/\1/p' >"$T/seq"
[ "$(head -1 "$T/seq")" = 0 ] || fail "first record is not #0"
awk 'NR > 1 && $1 != prev + 1 { exit 1 } { prev = $1 }' "$T/seq" || fail "record numbers not consecutive"
[ "$(wc -l <"$T/seq")" = "$(wc -l <"$T/dump")" ] || fail "-v and the one-line form disagree"
# Filters.
"$VMBUSD" dump --device kvp "$T/cap.pcap" >"$T/kvp"
grep -qv ' kvp ' "$T/kvp" && { cat "$T/kvp"; fail "--device kvp let other records through"; }
"$VMBUSD" dump --type 'WRITE(10)' -v "$T/cap.pcap" >"$T/w"
# The request and, naming it, its completion.
[ "$(grep -cE "^ *[0-9]+\.[0-9]{9} G>H" "$T/w")" = 1 ] || { cat "$T/w"; fail "--type WRITE(10): not one request"; }
[ "$(grep -cE "^ *[0-9]+\.[0-9]{9} H>G.*COMPLETE_IO" "$T/w")" = 1 ] || { cat "$T/w"; fail "--type WRITE(10): not one completion"; }
expect_line "$T/w" 'scsi.lba: 100'
expect_line "$T/w" 'scsi.blocks: 8'
expect_line "$T/w" 'srb.data_transfer_length: 4096'
relid=$(sed -n 's/.*OFFERCHANNEL child_relid=\([0-9]*\) if_type=ba6163d9.*sub_channel_index=0 .*/\1/p' "$T/dump" | head -1)
"$VMBUSD" dump --relid "$relid" --type msg_in "$T/cap.pcap" >"$T/r"
expect_line "$T/r" 'OPENCHANNEL' "child_relid=$relid"
awk -v r="$relid" '$4 != r { exit 1 }' "$T/r" || { cat "$T/r"; fail "--relid let other relids through"; }

# Damaged and foreign files.
size=$(stat -c %s "$T/cap.pcap")
head -c $((size - 7)) "$T/cap.pcap" >"$T/trunc.pcap"
rc=0; "$VMBUSD" dump "$T/trunc.pcap" >"$T/trunc.out" 2>"$T/trunc.err" || rc=$?
[ $rc = 1 ] || fail "truncated capture: exit $rc, want 1"
expect_line "$T/trunc.err" 'truncated record' 'stopped there'
[ "$(wc -l <"$T/trunc.out")" = $(($(wc -l <"$T/dump") - 1)) ] || fail "truncated: records before the damage not all printed"
rc=0; "$VMBUSD" dump "$T/c.json" 2>"$T/foreign.err" || rc=$?
[ $rc = 2 ] || fail "foreign file: exit $rc, want 2"
expect_line "$T/foreign.err" 'not a vmbusd capture'

# The config's "trace" key, with snapping and a size cap (rotation).
cat >"$T/c2.json" <<JSON
{"trace":{"file":"$T/cfg.pcap","snap":24,"max_mb":1},"devices":[{"type":"bench"}]}
JSON
start_daemon --config "$T/c2.json"
guest bench --size 64 --count 30000 --direction g2h >"$T/b.out" || { cat "$T/b.out"; fail "bench"; }
stop_daemon
[ -f "$T/cfg.pcap.1" ] || fail "no rotation at max_mb 1"
for f in "$T/cfg.pcap.1" "$T/cfg.pcap"; do
	[ "$(stat -c %s "$f")" -le 524288 ] || fail "$f larger than max_mb/2"
	"$VMBUSD" dump -v "$f" >"$T/snap" || fail "dump $f"
done
grep -q 'kept 24 (snapped)' "$T/snap" || fail "--trace-snap 24 not applied"
expect_line "$T/snap" 'pkt_in' 'bench'
