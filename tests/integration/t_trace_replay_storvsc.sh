# `vmbusd replay` of a storvsc session: the capture (version 2) holds what
# every disk read put into the guest's pages (data_out records, a 256 KiB
# read in two), and the replay writes it into the pages a fresh guest lists
# for the same requests: the fresh guest, with no disk behind the replay,
# reads back what the first one read (a pattern put on the disk image by
# this test, a 256 KiB "lba" pattern, 16 parallel requests over the
# primary and a subchannel that the replay offers where the capture did),
# with its GPADL handles chosen differently.  An edited data record (one
# byte of the read of LBA 100) makes the guest's verification fail there;
# a snapped data record is refused.
. ./lib.sh
truncate -s 4M "$T/disk.img"
head -c 4096 /dev/zero | tr '\0' '\245' | dd of="$T/disk.img" bs=512 seek=100 conv=notrunc 2>/dev/null
cat >"$T/c.json" <<JSON
{"devices":[{"type":"storvsp","disks":[{"path":"$T/disk.img"}]}]}
JSON
STEPS=(write 0 1000 512 lba read-verify 0 1000 512 lba parallel 0 16 lba=2000 read-verify 0 100 8 0xa5)
start_daemon --config "$T/c.json" --trace "$T/cap.pcap"
guest storvsc --subchannels 1 "${STEPS[@]}" >"$T/g.out" || { cat "$T/g.out"; fail "capture run"; }
stop_daemon
"$VMBUSD" dump "$T/cap.pcap" >"$T/dump"
expect_line "$T/dump" 'H>G' 'data_out' 'storvsc' '4096 bytes [a5'
expect_line "$T/dump" 'H>G' 'data_out' 'storvsc' 'at=131072 131072 bytes'
expect_line "$T/dump" 'G>H' 'data_in' 'storvsc' '131072 bytes'
expect_line "$T/dump" 'OFFERCHANNEL' 'sub_channel_index=1'

# replay_run CAPTURE [replay options]: the replay on its own socket, a fresh
# guest (other GPADL handles) running the same steps against it.
replay_run() { replay_against "$@" -- --first-gpadl 0x40000 storvsc --subchannels 1 "${STEPS[@]}"; }
replay_run "$T/cap.pcap" || { cat "$T/r.out" "$T/g2.out"; fail "replay failed"; }
[ $GRC = 0 ] || { cat "$T/g2.out"; fail "the guest's steps failed against the replay: $GRC"; }
expect_line "$T/r.out" 'every channel played to its end' 'no divergence'
n=$(grep -c 'data_out' "$T/dump")
expect_line "$T/r.out" "$n data records written"
expect_line "$T/g2.out" '"step":"read-verify"' '"ok":true' '"lba":100' '"bytes":4096'
expect_line "$T/g2.out" '"step":"read-verify"' '"ok":true' '"lba":1000' '"bytes":262144'
expect_line "$T/g2.out" '"step":"parallel"' '"ok":true' '"per_channel":[16,16]'

# An edit the guest sees: byte 7 of the data LBA 100 read becomes 0x00.
seq=$("$VMBUSD" dump -v "$T/cap.pcap" | awk '/data_out .* 4096 bytes \[a5/ { f = 1; next }
	f && !n && /^    record: #/ { n = $2; sub("#", "", n); print n }')
[ -n "$seq" ] || fail "the data record of the LBA 100 read not found"
echo "{\"edits\": [{\"record\": $seq, \"action\": \"patch\", \"offset\": 7, \"hex\": \"00\"}]}" >"$T/e.json"
replay_run "$T/cap.pcap" --edit "$T/e.json" || { cat "$T/r.out"; fail "edited replay failed"; }
[ $GRC = 4 ] || { cat "$T/g2.out"; fail "the guest did not see the edited data: exit $GRC"; }
expect_line "$T/g2.out" '"step":"read-verify"' '"ok":false' '"lba":100'
echo "{\"edits\": [{\"record\": $seq, \"action\": \"patch\", \"offset\": 4096, \"hex\": \"00\"}]}" >"$T/e.json"
rc=0; "$VMBUSD" replay "$T/cap.pcap" --edit "$T/e.json" --socket "$T/x.sock" >"$T/e.out" 2>&1 || rc=$?
[ $rc = 2 ] || fail "a patch past the data: exit $rc"
expect_line "$T/e.out" 'edits[0]: the patch does not fit' "bytes 0..4096"

# A capture whose data records are snapped cannot be replayed.
start_daemon --config "$T/c.json" --trace "$T/snap.pcap" --trace-snap 2048
guest storvsc read-verify 0 100 8 0xa5 >/dev/null || fail "snapped capture run"
stop_daemon
rc=0; "$VMBUSD" replay "$T/snap.pcap" --socket "$T/x.sock" >"$T/e.out" 2>&1 || rc=$?
[ $rc = 2 ] || fail "replay of a snapped capture: exit $rc"
expect_line "$T/e.out" 'is snapped' 'needs whole packets and data'
