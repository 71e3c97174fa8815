# The time enlightenments through the plugin protocol: the TSC page agrees
# with TIME_REF_COUNT, a message-mode one-shot stimer arrives (not early)
# as HVMSG_TIMER_EXPIRED, a direct-mode periodic stimer raises its vector;
# with "hv" switched off, none of it is offered.
. ./lib.sh
# Defaults: the page, no synthetic timers (each programming would be a
# round trip to the daemon).
start_daemon
guest timers >"$T/d.out" 2>&1 && fail "synthetic timers offered by default"
grep -q 'stimer\|SYNTIMER\|timer' "$T/d.out" || { cat "$T/d.out"; fail "no reason given"; }
stop_daemon
# Asked for: message-mode timers; direct mode is off (#GP).
echo '{"hv":{"stimer":true}}' >"$T/msg.json"
start_daemon --config "$T/msg.json"
guest timers >"$T/m.out" || { cat "$T/m.out"; fail "vmbus-guest timers failed (stimer)"; }
grep -q '"direct_mode":false' "$T/m.out" || fail "direct mode offered without stimer_direct"
stop_daemon
echo '{"hv":{"stimer":true,"stimer_direct":true}}' >"$T/direct.json"
start_daemon --config "$T/direct.json"
guest timers >"$T/r.out" || { cat "$T/r.out"; fail "vmbus-guest timers failed"; }
grep -q '"tsc_page_valid":true' "$T/r.out" || fail "TSC page not valid"
grep -q '"oneshot_ok":true' "$T/r.out" || fail "one-shot stimer"
grep -q '"direct_mode":true' "$T/r.out" || fail "direct mode not offered"
ctl status >"$T/st.json"
grep -q '"stimer_expired":[1-9]' "$T/st.json" || fail "no stimer expiration counted"
stop_daemon
echo '{"hv":{"tsc_page":false,"stimer":false,"frequency_msrs":false}}' >"$T/off.json"
start_daemon --config "$T/off.json"
guest timers >"$T/off.out" 2>&1 && fail "timers offered although switched off"
stop_daemon
