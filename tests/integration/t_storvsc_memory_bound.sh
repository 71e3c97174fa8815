# The memory one guest can make the daemon hold is bounded (README: "Memory
# a guest can make the daemon hold").  With a slow disk ("blk.delay"), a
# guest sends thousands of maximal READs on nine channels and never waits;
# the daemon holds at most STORVSP_MAX_INFLIGHT_DEV (2048) of them, each at
# most max_transfer_bytes / 4096 + 1 translations, then leaves the rings
# unread.  A guest listing far more pages than a transfer can use has its
# requests refused as malformed before anything is allocated (the daemon
# once held a translation per listed page: 400 such SRBs took 96 MB).
. ./lib.sh
truncate -s 8M "$T/a.img"
cat >"$T/c.json" <<JSON
{"devices":[{"type":"storvsp","subchannels":8,"disks":[{"path":"$T/a.img"}]}]}
JSON
start_daemon --config "$T/c.json"
anon_kib() { awk '/^RssAnon:/ { print $2 }' "/proc/$DAEMON_PID/status"; }
status_num() { # status_num PYTHON-EXPR over the status as s
	ctl status | python3 -c "import json,sys; s=json.load(sys.stdin)['result']; print($1)"
}
ctl fault blk.delay 0 0 >/dev/null
base=$(anon_kib)

# 1. Long lists: 2000 pages per request.  All refused, nothing held.
"${GUEST[@]}" storvsc --subchannels 8 hold 3000 pages=2000 sleep 600000 >"$T/long" 2>/dev/null &
G=$!
for _ in $(seq 100); do
	grep -q '"step":"hold"' "$T/long" && break
	kill -0 $G 2>/dev/null || { cat "$T/long"; fail "guest exited"; }
	sleep 0.1
done
sent=$(grep -o '"sent":[0-9]*' "$T/long" | cut -d: -f2)
ctl wait devices.storvsp.malformed '>=' "$sent" -t 30 >/dev/null ||
	fail "not all $sent long lists were refused"
held=$(status_num 's["devices"]["storvsp"]["in_flight"]')
malformed=$(status_num 's["devices"]["storvsp"]["malformed"]')
echo "long lists: sent $sent, held $held, refused as malformed $malformed, anon +$(( $(anon_kib) - base )) KiB"
[ "$held" -eq 0 ] || fail "$held requests with 2000-page lists held"
[ "$malformed" -ge "$sent" ] || fail "only $malformed of $sent long lists refused"
kill -TERM $G; wait $G || true

# 2. Maximal requests: held up to the controller's limit, then throttled.
"${GUEST[@]}" storvsc --subchannels 8 hold 20000 sleep 600000 >"$T/max" 2>/dev/null &
G=$!
prev=-1
for _ in $(seq 100); do
	held=$(status_num 's["devices"]["storvsp"]["in_flight"]')
	[ "$held" = "$prev" ] && grep -q '"step":"hold"' "$T/max" && break
	prev=$held
	kill -0 $G 2>/dev/null || { cat "$T/max"; fail "guest exited"; }
	sleep 0.5
done
grow=$(( $(anon_kib) - base ))
throttled=$(status_num 'sum(c["throttled"] for c in s["devices"]["storvsp"]["channels"])')
echo "maximal requests: held $held, throttled $throttled times, anon +$grow KiB"
[ "$held" -le 2048 ] || fail "$held requests held: over the controller limit of 2048"
[ "$held" -ge 1024 ] || fail "only $held requests held: the test did not reach the limit"
[ "$throttled" -gt 0 ] || fail "no channel was throttled"
# 2048 requests x (struct storvsp_req + 257 iovecs, 1 MiB transfers) is
# ~9 MiB; allow the allocator and the daemon's other growth some slack.
[ "$grow" -lt 20480 ] || fail "the daemon's anonymous memory grew by $grow KiB"
kill -TERM $G; wait $G || true
ctl fault blk.delay 4294967295 1 >/dev/null
daemon_alive
guest storvsc tur 0 >/dev/null || fail "next guest"
stop_daemon
