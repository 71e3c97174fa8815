# The time enlightenments through the plugin protocol: the TSC page agrees
# with TIME_REF_COUNT, a message-mode one-shot stimer arrives (not early)
# as HVMSG_TIMER_EXPIRED, a direct-mode periodic stimer raises its vector;
# with "hv" switched off, none of it is offered.
. ./lib.sh
# Defaults: the page and message-mode timers; direct mode is off (#GP).
start_daemon
guest timers >"$T/d.out" || { cat "$T/d.out"; fail "vmbus-guest timers failed (defaults)"; }
grep -q '"direct_mode":false' "$T/d.out" || fail "direct mode offered by default"
stop_daemon
echo '{"hv":{"stimer_direct":true}}' >"$T/direct.json"
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
