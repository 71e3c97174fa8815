# Sourced by the trace tests after lib.sh: capture_session [serve options...]
# runs a synthetic-guest session under `vmbusd serve` with the options given
# (which set up the capture) and stops the daemon, so the capture is
# complete: a storvsc write + read back of LBA 100..107 (pattern 0xa5) and
# a flush, then every IC opened, heartbeats, a host KVP set of
# "trace-key" = "trace-value" answered by the guest, a pushed key, and a
# poweroff request the guest accepts.
truncate -s 4M "$T/disk.img"
cat >"$T/c.json" <<JSON
{"devices":[{"type":"heartbeat","interval_ms":200},{"type":"shutdown"},
  {"type":"timesync","interval_ms":0},
  {"type":"kvp","push":{"pushed-key":"pushed-value"}},
  {"type":"storvsp","disks":[{"path":"$T/disk.img"}]}]}
JSON
capture_session() {
	start_daemon --config "$T/c.json" "$@"
	guest storvsc write 0 100 8 0xa5 read-verify 0 100 8 0xa5 sync 0 >"$T/st.out" ||
		{ cat "$T/st.out"; fail "storvsc script failed"; }
	"${GUEST[@]}" run --until-shutdown >"$T/g.out" &
	local gpid=$!
	ctl wait devices.kvp.state = ready -t 10
	ctl wait devices.heartbeat.beats '>=' 2 -t 10
	ctl control kvp set '{"pool":0,"key":"trace-key","value":"trace-value"}' >/dev/null ||
		fail "kvp set"
	ctl wait devices.shutdown.state = ready -t 10
	ctl control shutdown shutdown '{"action":"poweroff"}' >/dev/null || fail "shutdown refused"
	wait "$gpid" || fail "guest did not exit on shutdown"
	ctl wait attached = false -t 5
	stop_daemon
}
