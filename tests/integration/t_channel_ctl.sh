# `vmbusd ctl channel DEVICE rescind|offer [INDEX]`: the operator's rescind
# and re-offer of a channel (host/actions.c, shared with the scenario steps
# "rescind" and "offer").  vmbus-guest `run` plays the guest: it releases a
# rescinded relid and opens a re-offered IC like hv_utils.  Refusals come
# back as errors; the daemon keeps serving.
. ./lib.sh
echo '{"devices":[{"type":"heartbeat","interval_ms":50},{"type":"kvp"}]}' >"$T/c.json"
start_daemon --config "$T/c.json"
"${GUEST[@]}" --timeout 30 run --duration 20 >"$T/g.out" 2>"$T/g.err" &
ctl wait devices.kvp.state = ready -t 10 >/dev/null || fail "kvp never ready"

# Refused: not withdrawn yet, an unknown device or channel, an unknown action.
ctl channel kvp offer >"$T/r" && fail "offer of an offered channel accepted"
grep -q 'not rescinded' "$T/r" || fail "offer refusal: $(cat "$T/r")"
ctl channel nosuch rescind >"$T/r" && fail "unknown device accepted"
grep -q '"status":-2' "$T/r" || fail "unknown device: $(cat "$T/r")"
ctl channel kvp rescind 3 >"$T/r" && fail "unknown channel index accepted"
ctl channel kvp unplug >"$T/r" && fail "unknown action accepted"
grep -q '"status":-22' "$T/r" || fail "unknown action: $(cat "$T/r")"

# Rescind: the guest sees it and releases the relid; the channel is kept.
ctl channel kvp rescind >/dev/null || fail "rescind refused"
ctl wait vmbus.channels.1.withdrawn = true -t 5 >/dev/null || fail "not withdrawn"
ctl wait vmbus.channels.1.rescinded = false -t 5 >/dev/null || fail "the guest did not release the relid"
expect_event "$T/g.out" '"event":"rescind","relid":2'
expect_event "$T/g.out" '"event":"relid_released","relid":2'
ctl channel kvp rescind >"$T/r" && fail "second rescind accepted"
beats=$(ctl status | grep -o '"beats":[0-9]*' | head -1 | cut -d: -f2)
ctl wait devices.heartbeat.beats '>' "$beats" -t 5 >/dev/null || fail "heartbeat stopped"

# Offer again: same relid, the guest opens it, KVP negotiates again.
ctl channel kvp offer 0 >/dev/null || fail "offer refused"
ctl wait vmbus.channels.1.open = true -t 10 >/dev/null || fail "re-offered channel not opened"
ctl wait devices.kvp.negotiations '>=' 2 -t 10 >/dev/null || fail "kvp did not negotiate again"
[ "$(grep -c '"event":"offer","relid":2' "$T/g.out")" = 2 ] || fail "not offered twice on relid 2"
daemon_alive
stop_daemon
