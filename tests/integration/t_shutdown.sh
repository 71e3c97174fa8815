# Shutdown delivered: poweroff and reboot requests reach the guest with the
# right flags, the guest accepts them, the host reports success.
. ./lib.sh
start_daemon
for action in poweroff:0 reboot:2; do
	"${GUEST[@]}" run --until-shutdown >"$T/g.out" &
	gpid=$!
	ctl wait devices.shutdown.state = ready -t 10
	ctl control shutdown shutdown "{\"action\":\"${action%%:*}\"}" >"$T/s.out" || { cat "$T/s.out"; fail "${action%%:*} refused"; }
	wait "$gpid" || fail "guest did not exit on shutdown"
	expect_event "$T/g.out" "\"event\":\"shutdown\",\"relid\":2,\"flags\":${action##*:}"
	ctl wait attached = false -t 5
done
stop_daemon
