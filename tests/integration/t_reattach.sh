# The frontend killed mid-negotiation (and mid-run): the daemon survives,
# forgets the partition, and serves the next frontend from scratch.
. ./lib.sh
start_daemon
for delay in 0.005 0.02 0.05 0.2; do
	"${GUEST[@]}" run --duration 10 >/dev/null 2>&1 &
	gpid=$!
	sleep "$delay"
	kill -9 "$gpid"; wait "$gpid" 2>/dev/null || true
	ctl wait attached = false -t 5
	daemon_alive
	guest negotiate >"$T/n.out" || fail "negotiate after a kill at ${delay}s"
	expect_event "$T/n.out" '"version":"5.3"'
done
# The four clean sessions at least: a killed guest counts only if it got
# to attach before the kill, which a loaded machine (or ASan) may not let
# even the 200 ms one do.
ctl wait generation '>=' 4 -t 2
stop_daemon
