# `vmbusd replay` of a netvsc session: two NICs wired to each other, one
# with a subchannel, frames both ways.  The capture (version 2) holds every
# RNDIS message the host put into a receive buffer (data_out: control
# replies, received frames) with its GPADL and offset, and every RNDIS
# message the guest sent (data_in).  The replay maps the receive and send
# buffer GPADLs of a fresh guest that chose other handles, writes each
# message where the capture says, offers the subchannel when the capture
# did, and plays frames received on one NIC after the frame sent on the
# other: the fresh guest brings both NICs up with the same MACs, and every
# frame arrives.  An edited data record (the last byte of NIC 0's
# permanent address) gives the guest another MAC.
. ./lib.sh
cat >"$T/c.json" <<JSON
{"devices":[
  {"type":"netvsp","name":"n0","mac":"00:15:5d:00:00:10","queues":2,
   "backend":{"kind":"dgram","local":"$T/a.sock","remote":"$T/b.sock"}},
  {"type":"netvsp","name":"n1","mac":"00:15:5d:00:00:11",
   "backend":{"kind":"dgram","local":"$T/b.sock","remote":"$T/a.sock"}}]}
JSON
ARGS=(netvsc --frames 20 --frame-size 600 --subchannels 2)
start_daemon --config "$T/c.json" --trace "$T/cap.pcap"
guest "${ARGS[@]}" >"$T/g.out" || { cat "$T/g.out"; fail "capture run"; }
stop_daemon
"$VMBUSD" dump "$T/cap.pcap" >"$T/dump"
expect_line "$T/dump" 'G>H' 'data_in' 'netvsc' 'rndis QUERY_MSG' 'OID_802_3_PERMANENT_ADDRESS'
expect_line "$T/dump" 'H>G' 'data_out' 'netvsc' 'gpadl=0x' 'offset=' 'rndis QUERY_CMPLT'
expect_line "$T/dump" 'H>G' 'data_out' 'netvsc' 'rndis PACKET_MSG'
expect_line "$T/dump" 'G>H' 'data_in' 'netvsc' 'rndis PACKET_MSG'
expect_line "$T/dump" 'OFFERCHANNEL' 'sub_channel_index=1'

# replay_run CAPTURE [replay options]: a fresh guest (other GPADL handles)
# running the same netvsc session against the replay.
replay_run() { replay_against "$@" -- --first-gpadl 0x70000 "${ARGS[@]}"; }
replay_run "$T/cap.pcap" || { cat "$T/r.out" "$T/g2.out"; fail "replay failed"; }
[ $GRC = 0 ] || { cat "$T/g2.out"; fail "the guest failed against the replay: $GRC"; }
expect_line "$T/r.out" 'every channel played to its end' "$(grep -c data_out "$T/dump") data records written" \
	'no divergence'
expect_line "$T/g2.out" '"event":"netvsc_up","ok":true' '"mac":"00:15:5d:00:00:10"' '"channels":2' \
	'"mac":"00:15:5d:00:00:11"'
expect_line "$T/g2.out" '"event":"netvsc_done","ok":true' '"rx_frames":20,"rx_bad":0'
# The live guest's GPADLs differ from the captured ones (the map was needed).
expect_line "$T/g2.out" '"event":"opened"' '"gpadl":458752'
! grep -q '"gpadl":925200' "$T/g2.out" || fail "the fresh guest used the captured GPADL handles"

# The edit: NIC 0's permanent address ends in 0x42 (QUERY_CMPLT: 24 bytes
# of header, then the 6-byte address).
seq=$("$VMBUSD" dump -v "$T/cap.pcap" | awk '/data_in .*OID_802_3_PERMANENT_ADDRESS/ { w = 1; next }
	w && /data_out .*QUERY_CMPLT/ { f = 1; next }
	f && !n && /^    record: #/ { n = $2; sub("#", "", n); print n }')
[ -n "$seq" ] || fail "the permanent address reply not found"
echo "{\"edits\": [{\"record\": $seq, \"action\": \"patch\", \"offset\": 29, \"hex\": \"42\"}]}" >"$T/e.json"
replay_run "$T/cap.pcap" --edit "$T/e.json" || true
expect_line "$T/g2.out" '"event":"netvsc_up"' '"nic":0,"mac":"00:15:5d:00:00:42"'
