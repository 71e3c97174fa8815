# 1,000 heartbeats: the guest echoes seq+1 each time and the host counts them.
. ./lib.sh
echo '{"devices":[{"type":"heartbeat","interval_ms":1}]}' >"$T/c.json"
start_daemon --config "$T/c.json"
guest --timeout 60 run --until-heartbeats 1000 >"$T/r.out" || fail "guest did not see 1000 heartbeats"
[ "$(grep -c '"event":"heartbeat"' "$T/r.out")" -ge 1000 ] || fail "fewer than 1000 heartbeat events"
ctl wait devices.heartbeat.beats '>=' 1000 -t 5
# Every echo was seq+1 with status OK.  (Misses — a tick while the previous
# beat is unanswered — depend on timing at a 1 ms interval and are allowed.)
ctl status >"$T/st.json"
grep -q '"bad_body":0' "$T/st.json" || fail "wrong heartbeat echoes counted"
grep -q '"failed":0' "$T/st.json" || fail "heartbeats answered with a failure status"
stop_daemon
