# Garbage in a channel's ring: the channel is silenced (counted), the daemon
# and every later session are unaffected.
. ./lib.sh
start_daemon
hb=57164f39-9115-4e78-ab55-382f3bd5422d
le32 6 0 0 0 >"$T/zero_len"                         # type 6, offset8 0, len8 0
guest raw-ring --class "$hb" "$T/zero_len" >/dev/null 2>&1 || true
le32 393222 2 0 0 >"$T/huge_len"                     # offset8 6, len8 0xffff
guest raw-ring --class "$hb" "$T/huge_len" >/dev/null 2>&1 || true
for i in $(seq 10); do
	head -c $((8 * (RANDOM % 64 + 1))) /dev/urandom >"$T/rnd"
	guest raw-ring --class "$hb" "$T/rnd" >/dev/null 2>&1 || true
	daemon_alive
done
errors=$(ctl status | grep -o '"ring_errors":[0-9]*' | cut -d: -f2)
[ "$errors" -ge 2 ] || fail "corrupt rings not counted ($errors)"
guest run --until-heartbeats 2 >"$T/after.out" || fail "daemon no longer serves"
stop_daemon
