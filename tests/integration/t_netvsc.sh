# netvsc: the synthetic hv_netvsc brings up two NICs wired to each other by
# dgram sockets (QEMU's -netdev dgram framing), at every NVSP version Linux
# 6.1 tries, and sends frames both ways through the host (from send
# sections and from GPA-direct pages with the RNDIS header crossing a page),
# then once more with a subchannel on the 2-queue NIC.
. ./lib.sh
cat >"$T/c.json" <<JSON
{"devices":[
  {"type":"netvsp","name":"n0","mac":"00:15:5d:00:00:10","queues":2,
   "backend":{"kind":"dgram","local":"$T/a.sock","remote":"$T/b.sock"},"capture":"$T/n0.pcap"},
  {"type":"netvsp","name":"n1","mac":"00:15:5d:00:00:11",
   "backend":{"kind":"dgram","local":"$T/b.sock","remote":"$T/a.sock"}}]}
JSON
start_daemon --config "$T/c.json"
for v in 0x60001 0x60000 0x50000 0x40000 0x30002 0x2; do
	guest netvsc --nvsp-version "$v" --frames 50 --frame-size 600 >"$T/out" ||
		{ cat "$T/out"; fail "netvsc at NVSP $v failed"; }
	expect_event "$T/out" '"event":"netvsc_up","ok":true'
	expect_event "$T/out" '"event":"netvsc_done","ok":true'
	expect_line "$T/out" '"nvsp_version":'"$((v))" '"mac":"00:15:5d:00:00:10"'
done
# Linux's own version list: it gets 6.1; n0 (2 queues) opens a subchannel
# and its frames go out over both channels.
guest netvsc --frames 200 --frame-size 1514 --subchannels 3 >"$T/out" || { cat "$T/out"; fail "netvsc failed"; }
expect_line "$T/out" '"nvsp_version":393217' '"mac":"00:15:5d:00:00:10"' '"channels":2'
expect_event "$T/out" '"event":"netvsc_done","ok":true'
grep -q '"event":"error"' "$T/out" && fail "error events"
daemon_alive
st=$(ctl status)
for k in n0 n1; do
	[ "$(jq ".result.devices.$k.malformed" <<<"$st")" = 0 ] || fail "$k: malformed packets: $st"
	[ "$(jq ".result.devices.$k.tx_packets" <<<"$st")" -ge 500 ] || fail "$k: tx_packets: $st"
	[ "$(jq ".result.devices.$k.rx_packets" <<<"$st")" -ge 500 ] || fail "$k: rx_packets: $st"
done
# The capture holds every frame of n0, both ways (24-byte pcap header + records).
[ "$(stat -c %s "$T/n0.pcap")" -gt $((1000 * 600)) ] || fail "capture too small"
stop_daemon
