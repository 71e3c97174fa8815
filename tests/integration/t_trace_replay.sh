# `vmbusd replay`: an IC session (heartbeats, a pushed KVP key, a host KVP
# set, timesync, a poweroff request) is captured, then played against a
# fresh synthetic guest with no daemon devices at all: every channel plays
# to its end with no divergence, the guest sees the same KVP values and the
# poweroff.  An edited capture (the guest's captured KVP answer changed by
# one byte) makes the replay stop at that record with both packets decoded.
. ./lib.sh
cat >"$T/c.json" <<JSON
{"devices":[{"type":"heartbeat","interval_ms":200},{"type":"shutdown"},
  {"type":"timesync","interval_ms":0},{"type":"kvp","push":{"pushed-key":"pushed-value"}}]}
JSON
start_daemon --config "$T/c.json" --trace "$T/cap.pcap"
"${GUEST[@]}" run --until-shutdown >"$T/g.out" &
gpid=$!
ctl wait devices.kvp.state = ready -t 10
ctl wait devices.heartbeat.beats '>=' 3 -t 10
ctl control kvp set '{"pool":0,"key":"trace-key","value":"trace-value"}' >/dev/null || fail "kvp set"
ctl wait devices.shutdown.state = ready -t 10
ctl control shutdown shutdown '{"action":"poweroff"}' >/dev/null || fail "shutdown"
wait "$gpid" || fail "guest did not exit on shutdown"
stop_daemon

# replay_run CAPTURE: the replay on its own socket, a fresh guest against it.
replay_run() { replay_against "$1" -- run --until-shutdown --duration 10; }
replay_run "$T/cap.pcap" || { cat "$T/r.out"; fail "replay of the unedited capture failed"; }
expect_line "$T/r.out" 'every channel played to its end' 'no divergence'
# Same guest-visible outcome: the KVP values set and the poweroff request.
expect_line "$T/g2.out" '"op":"set"' '"key":"pushed-key"' '"value":"pushed-value"'
expect_line "$T/g2.out" '"op":"set"' '"key":"trace-key"' '"value":"trace-value"'
expect_event "$T/g2.out" '"event":"shutdown","relid":2,"flags":0'
[ "$(grep -c '"event":"heartbeat"' "$T/g2.out")" = "$(grep -c '"event":"heartbeat"' "$T/g.out")" ] ||
	fail "a different number of heartbeats than captured"

# A guest that leaves early (0.3 s: before the host's KVP set and the
# poweroff request are due) ends the IC channels with only host-started
# exchanges to go: "ended", exit 4, not "every channel played to its end".
rc=0; replay_against "$T/cap.pcap" -- run --duration 0.3 || rc=$?
[ $rc = 4 ] || { cat "$T/r.out"; fail "replay to a guest that left early: exit $rc, want 4"; }
expect_line "$T/r.out" 'the guest left before the capture' 'host-started' 'no divergence'

# Edit the capture: the guest's answer to the host's set now says "trace-Key".
off=$(LC_ALL=C grep -obUaP 't\x00r\x00a\x00c\x00e\x00-\x00k\x00e\x00y' "$T/cap.pcap" | cut -d: -f1 | sed -n 2p)
[ -n "$off" ] || fail "KVP key not found in the capture"
cp "$T/cap.pcap" "$T/edited.pcap"
printf 'K' | dd of="$T/edited.pcap" bs=1 seek=$((off + 12)) conv=notrunc 2>/dev/null
"$VMBUSD" dump --type SET "$T/edited.pcap" | grep -q 'response SET pool=0 key="trace-Key"' || fail "edit"
rc=0; replay_run "$T/edited.pcap" || rc=$?
[ $rc = 1 ] || { cat "$T/r.out"; fail "edited replay: exit $rc, want 1 (divergence)"; }
seq=$("$VMBUSD" dump -v --type SET "$T/edited.pcap" | sed -n 's/^    record: #\([0-9]*\) pkt_in .*/\1/p' | tail -1)
expect_line "$T/r.out" 'DIVERGED on relid' '-kvp' "at captured record #$seq" 'payload bytes'
expect_line "$T/r.out" 'captured:' 'KVPEXCHANGE response SET' 'key="trace-Key"'
expect_line "$T/r.out" 'guest:' 'KVPEXCHANGE response SET' 'key="trace-key"'
expect_line "$T/r.out" '*' 'key: "trace-Key"' '|' 'key: "trace-key"'

# Edit rules: drop the pushed key's SET and its answer, and patch the value of
# the host's set (request and captured answer alike): the guest sees exactly
# the edited session, and the replay finds no divergence (unpaced: --pace 0).
"$VMBUSD" dump -v --type SET "$T/cap.pcap" | awk '
	/^ *[0-9]+\.[0-9]+ / { k = ""; if ($0 ~ /key="pushed-key"/) k = "push"; if ($0 ~ /key="trace-key"/) k = "set"; next }
	/^    record: #/ && k != "" { n = $2; sub("#", "", n); print k, n; k = "" }' >"$T/sets"
push_req=$(awk '$1 == "push" { print $2 }' "$T/sets" | sed -n 1p)
push_ans=$(awk '$1 == "push" { print $2 }' "$T/sets" | sed -n 2p)
set_req=$(awk '$1 == "set" { print $2 }' "$T/sets" | sed -n 1p)
set_ans=$(awk '$1 == "set" { print $2 }' "$T/sets" | sed -n 2p)
[ -n "$push_ans" ] && [ -n "$set_ans" ] || { cat "$T/sets"; fail "KVP records not found"; }
# The value starts at byte 16 + 28 + 4 + 12 + 512 = 572 of the packet: "T\0R\0".
cat >"$T/rules.json" <<JSON
{"edits": [{"record": $push_req, "action": "drop"}, {"record": $push_ans, "action": "drop"},
  {"record": $set_req, "action": "patch", "offset": 572, "hex": "54005200"},
  {"record": $set_ans, "action": "patch", "offset": 572, "hex": "54005200"}]}
JSON
rm -f "$T/r.sock"
"$VMBUSD" replay "$T/cap.pcap" --edit "$T/rules.json" --pace 0 --socket "$T/r.sock" --timeout 30 >"$T/r.out" 2>&1 &
rpid=$!
for _ in $(seq 100); do [ -S "$T/r.sock" ] && break; sleep 0.05; done
"$VMBUS_GUEST" --socket "$T/r.sock" run --until-shutdown --duration 10 >"$T/g3.out" 2>&1 || true
wait "$rpid" || { cat "$T/r.out"; fail "edited replay failed"; }
expect_line "$T/r.out" 'no divergence'
expect_line "$T/g3.out" '"op":"set"' '"key":"trace-key"' '"value":"TRace-value"'
! grep -q 'pushed-key' "$T/g3.out" || fail "the dropped SET reached the guest"
echo '{"edits": [{"record": 999999, "action": "drop"}]}' >"$T/bad.json"
rc=0; "$VMBUSD" replay "$T/cap.pcap" --edit "$T/bad.json" --socket "$T/x.sock" >"$T/e.out" 2>&1 || rc=$?
[ $rc = 2 ] || fail "an edit of a missing record: exit $rc"
expect_line "$T/e.out" 'edits[0]: record #999999 is not a ring packet'

# What replay refuses: a snapped capture, a file that is not a capture.
rc=0; "$VMBUSD" replay "$T/c.json" --socket "$T/x.sock" >"$T/e.out" 2>&1 || rc=$?
[ $rc = 2 ] || fail "replay of a non-capture: exit $rc"
expect_line "$T/e.out" 'not a vmbusd capture'
start_daemon --config "$T/c.json" --trace "$T/snap.pcap" --trace-snap 16
"${GUEST[@]}" run --duration 1 >/dev/null
stop_daemon
rc=0; "$VMBUSD" replay "$T/snap.pcap" --socket "$T/x.sock" >"$T/e.out" 2>&1 || rc=$?
[ $rc = 2 ] || fail "replay of a snapped capture: exit $rc"
expect_line "$T/e.out" 'is snapped' 'needs whole packets'
