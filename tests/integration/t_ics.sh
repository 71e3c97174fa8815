# Every integration component opens and negotiates the versions Linux picks.
. ./lib.sh
start_daemon
guest run --until-heartbeats 1 >"$T/r.out" || { cat "$T/r.out"; fail "run"; }
for d in heartbeat shutdown timesync kvp; do
	expect_event "$T/r.out" "\"event\":\"opened\",\"relid\""
	grep -q "\"event\":\"ic_negotiate\",\"relid\":[0-9]*,\"device\":\"$d\",\"ok\":true" "$T/r.out" ||
		fail "$d did not negotiate"
done
expect_event "$T/r.out" '"device":"heartbeat","ok":true,"framework":"3.0","version":"3.0"'
expect_event "$T/r.out" '"device":"shutdown","ok":true,"framework":"3.0","version":"3.2"'
expect_event "$T/r.out" '"device":"timesync","ok":true,"framework":"3.0","version":"4.0"'
expect_event "$T/r.out" '"device":"kvp","ok":true,"framework":"3.0","version":"4.0"'
# timesync sends SYNC at open: the guest read its reference counter.
expect_event "$T/r.out" '"event":"timesync"'
stop_daemon
