# 1,000 heartbeats: the guest echoes seq+1 each time and the host counts them;
# then a dropped beat does not stop them.
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

# A beat lost on the way (timing.drop: never written to the ring) is given up
# after answer_timeout_ms and the next tick sends a new one: heartbeats go on.
echo '{"devices":[{"type":"heartbeat","interval_ms":50,"answer_timeout_ms":300}]}' >"$T/c2.json"
start_daemon --config "$T/c2.json"
"${GUEST[@]}" --timeout 30 run --duration 8 >"$T/r2.out" &
gp=$!
ctl wait devices.heartbeat.beats '>=' 3 -t 10
ctl fault arm timing.drop device=heartbeat >/dev/null || fail "arm timing.drop"
ctl wait devices.heartbeat.unanswered '==' 1 -t 5 || fail "the dropped beat was not given up"
b=$(ctl status | jq '.result.devices.heartbeat.beats')
ctl wait devices.heartbeat.beats '>=' $((b + 5)) -t 5 || fail "no beats after the dropped one"
[ "$(ctl status | jq '.result.faults.fired.timing.drop')" = 1 ] || fail "timing.drop did not fire once"
kill $gp 2>/dev/null; wait $gp 2>/dev/null || true
stop_daemon
