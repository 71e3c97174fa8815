# Host->guest faults on synthetic NICs (docs/faults.md): every netvsc.*
# class, armed on one NIC by device name.  The synthetic hv_netvsc applies
# Linux 6.1's checks (netvsc_init_buf, netvsc_receive, rndis_filter_receive,
# netvsc_linkstatus_callback) and must report each malformed receive.
. ./lib.sh
cat >"$T/c.json" <<JSON
{"devices":[
  {"type":"netvsp","name":"n0","mac":"00:15:5d:00:00:10",
   "backend":{"kind":"dgram","local":"$T/a.sock","remote":"$T/b.sock"}},
  {"type":"netvsp","name":"n1","mac":"00:15:5d:00:00:11",
   "backend":{"kind":"dgram","local":"$T/b.sock","remote":"$T/a.sock"}}]}
JSON
start_daemon --config "$T/c.json"
fired() { ctl status | jq ".result.faults.fired.$1 // 0"; }
# nv CLASS FRAGMENT [ARM ARGS]: arms CLASS on n0, brings both NICs up and
# sends frames; the guest must report FRAGMENT, the class fire once.
nv() {
	local cls=$1 frag=$2; shift 2
	ctl fault arm "$cls" device=n0 "$@" >/dev/null || fail "arm $cls"
	guest --timeout 2 netvsc --frames 20 --frame-size 200 >"$T/$cls.out" 2>"$T/$cls.err" || true
	daemon_alive
	expect_event "$T/$cls.out" "$frag"
	[ "$(fired "$cls")" = 1 ] || fail "$cls did not fire once"
}
nv netvsc.recv_section_small 'receive buffer completion refused by Linux'
nv netvsc.recv_sections_overflow 'receive buffer completion refused by Linux'
nv netvsc.xfer_range_outside 'receive range outside the buffer'
nv netvsc.rndis_len_below_header 'RNDIS msg_len past the range'
nv netvsc.rndis_len_beyond 'RNDIS msg_len past the range'
# Data classes hit RNDIS_PACKETs only (the frames n1 sends to n0).
nv netvsc.rndis_data_offset_bad 'RNDIS_PACKET data out of bounds'
nv netvsc.ppi_out_of_bounds 'RNDIS_PACKET per-packet info out of bounds'
# A link change sends RNDIS_INDICATE_STATUS: the first one arrives short.
# The guest keeps sending until it has seen it (it is killed then): with
# 200000 frames it could finish and exit before the flap reached it (one
# ASan run in ~6 failed so).
ctl fault arm netvsc.status_indication_short device=n0 >/dev/null
"${GUEST[@]}" --timeout 6 netvsc --frames 5000000 --frame-size 64 >"$T/ind.out" 2>"$T/ind.err" &
gp=$!
ctl --timeout 10 wait devices.n0.rx_packets '>' 10 >/dev/null || fail "n0 never came up"
ctl control n0 link '{"up":false}' >/dev/null
ctl control n0 link '{"up":true}' >/dev/null
for _ in $(seq 100); do grep -q 'RNDIS_INDICATE_STATUS' "$T/ind.out" && break; sleep 0.05; done
kill -TERM $gp 2>/dev/null || true
wait $gp || true
daemon_alive
expect_event "$T/ind.out" 'RNDIS_INDICATE_STATUS shorter than its header'
[ "$(fired netvsc.status_indication_short)" = 1 ] || fail "status_indication_short did not fire"
# Nothing armed: a clean run.
guest netvsc --frames 50 --frame-size 600 >"$T/clean.out" || fail "clean run: $(cat "$T/clean.out")"
grep -q '"event":"error"' "$T/clean.out" && fail "errors in the clean run"
stop_daemon
