# 1,000 heartbeats: the guest echoes seq+1 each time and the host counts them.
. ./lib.sh
echo '{"devices":[{"type":"heartbeat","interval_ms":1}]}' >"$T/c.json"
start_daemon --config "$T/c.json"
guest --timeout 60 run --until-heartbeats 1000 >"$T/r.out" || fail "guest did not see 1000 heartbeats"
[ "$(grep -c '"event":"heartbeat"' "$T/r.out")" -ge 1000 ] || fail "fewer than 1000 heartbeat events"
ctl wait devices.heartbeat.beats '>=' 1000 -t 5
ctl status | grep -q '"misses":0' || fail "heartbeat misses reported"
stop_daemon
