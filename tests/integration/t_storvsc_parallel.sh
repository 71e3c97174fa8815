# storvsc queueing: 256 concurrent 4 KiB writes, then 256 reads, with 64 in
# flight over the primary and 2 subchannels, every block verified; the
# daemon's per-channel stats show the requests spread over the channels.
# Then a driver rebind (subchannels closed, then the primary: the host
# rescinds the subchannels) and a fresh init with new ones, and a bus reset.
. ./lib.sh
truncate -s 16M "$T/a.img"
cat >"$T/c.json" <<JSON
{"devices":[{"type":"storvsp","subchannels":2,"disks":[{"path":"$T/a.img","lun":0}]}]}
JSON
start_daemon --config "$T/c.json"
# The sleep holds the channels open while the stats are read; SIGTERM ends it.
"${GUEST[@]}" storvsc --subchannels 2 --queue-depth 64 \
	parallel 0 256 parallel 0 256 lba=1024 sleep 20000 \
	rebind parallel 0 128 lba=2048 reset read-verify 0 1024 2048 lba >"$T/out" &
G=$!
for _ in $(seq 200); do
	[ "$(grep -c '"step":"parallel"' "$T/out")" = 2 ] && break
	kill -0 $G 2>/dev/null || { cat "$T/out"; fail "guest exited early"; }
	sleep 0.05
done
expect_line "$T/out" '"step":"init"' '"ok":true' '"channels":3'
expect_line "$T/out" '"step":"parallel"' '"ok":true' '"requests":512' '"max_in_flight":64'
# Round-robin over 3 channels: every channel carried a third of the load.
jq -e 'select(.step == "parallel") | .per_channel | length == 3 and min >= 150' "$T/out" >/dev/null ||
	fail "requests not spread over the channels: $(grep parallel "$T/out")"
st=$(ctl status)
busy=$(jq '[.result.devices.storvsp.channels[] | select(.open and .requests >= 150)] | length' <<<"$st")
[ "$busy" = 3 ] || fail "daemon saw requests on $busy channels: $st"
total=$(jq '.result.devices.storvsp.requests' <<<"$st")
[ "$total" -ge 1024 ] || fail "daemon counted $total requests"
[ "$(jq '.result.devices.storvsp.malformed' <<<"$st")" = 0 ] || fail "malformed: $st"
kill -TERM $G
wait $G || { cat "$T/out"; fail "guest failed"; }
expect_event "$T/out" '"event":"storvsc_done","ok":true'
expect_line "$T/out" '"step":"rebind"' '"ok":true' '"rescinded":2' '"channels":3'
st=$(ctl status)
[ "$(jq '.result.devices.storvsp.malformed' <<<"$st")" = 0 ] || fail "malformed: $st"
daemon_alive
stop_daemon
