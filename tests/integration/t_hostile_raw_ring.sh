# vmbus-guest raw-ring on channels it opened like a driver: bytes framed
# as one VMBus packet (descriptor fields chosen, padding, trailer) and
# ring-header fields of either ring overwritten, then a signal.  A packet
# with a lying descriptor or a corrupt index silences the channel (counted
# in vmbus.ring_errors); a well-framed packet the device cannot parse is
# the device's malformed count.  The daemon and later sessions go on.
. ./lib.sh
truncate -s 1M "$T/a.img"
cat >"$T/c.json" <<JSON
{"devices":[{"type":"heartbeat"},{"type":"kvp"},{"type":"storvsp","disks":[{"path":"$T/a.img"}]}]}
JSON
start_daemon --config "$T/c.json"
st() { ctl status | jq -r ".result.$1"; }
# reaches KEY OP VALUE WHY: the status value comes to compare true within 5 s.
reaches() { ctl wait "$1" "$2" "$3" -t 5 >/dev/null || fail "$4"; }
# ring NAME ARGS...: raw-ring ARGS; the tool must get through.
ring() {
	local name=$1; shift
	guest raw-ring --wait-ms 300 "$@" >"$T/$name.out" 2>&1 ||
		{ cat "$T/$name.out"; fail "$name: tool failed"; }
	daemon_alive
}
printf 'not an icmsg at all, 37 bytes long..' >"$T/junk"

# Well framed: the heartbeat parses the packet (so the descriptor, the
# padding to 8 and the trailer were right) and refuses its contents.
errs=$(st vmbus.ring_errors)
mal=$(st devices.heartbeat.malformed.total)
ring framed --open heartbeat --frame "$T/junk"
expect_line "$T/framed.out" '"event":"raw_written"' '"bytes":64,' '"framed":true'
reaches devices.heartbeat.malformed.total '>' "$mal" "framed junk not malformed"
ring not_inband --open heartbeat --frame --type 11 --trans-id 0 "$T/junk"
reaches devices.heartbeat.malformed.not_inband '>=' 1 "completion packet not refused"
[ "$(st vmbus.ring_errors)" = "$errs" ] || fail "a well-framed packet broke the ring"

# Lying descriptors: offset8 inside the descriptor, offset8 past len8,
# len8 past the published bytes.  Each silences the channel once.
n=0
for lie in "--offset8 1" "--offset8 9" "--len8 0xffff"; do
	n=$((n + 1))
	ring "lie$n" --open heartbeat --frame $lie "$T/junk"
	reaches vmbus.ring_errors '>=' $((errs + n)) "descriptor $lie not counted"
done
errs=$((errs + n))

# Ring headers.  guest->host write_index unaligned: the host, as reader,
# refuses it.  host->guest read_index moved under a pending reply: the
# host, as writer, refuses it (storvsp answers every packet, so it has
# something to write; the packet goes in first, the signal comes last).
ring g2h_write --open heartbeat --set write_index=13
expect_line "$T/g2h_write.out" '"event":"ring_set"' '"ring":"g2h"' '"field":"write_index"' \
	'"value":13'
reaches vmbus.ring_errors '>=' $((errs + 1)) "g2h write_index not counted"
head -c 40 /dev/zero >"$T/zeros"
ring h2g_read --open scsi --frame --flags 1 "$T/zeros" --set h2g.read_index=12
expect_line "$T/h2g_read.out" '"event":"ring_set"' '"ring":"h2g"' '"field":"read_index"'
reaches vmbus.ring_errors '>=' $((errs + 2)) "h2g read_index not counted"
errs=$((errs + 2))
# host->guest write_index is the host's own field: the guest's reader
# refuses it (reported by the tool); the daemon does not care.  storvsp
# writes only in answer, so nothing overwrites the lie before the tool
# reads it (an IC device sends NEGOTIATE at open and would race it).
ring h2g_write --open scsi --set h2g.write_index=999999
expect_line "$T/h2g_write.out" '"event":"error"' 'host->guest ring'
# Signalling fields only change who interrupts whom: nothing to refuse,
# the channel keeps working (a later framed packet still parses).
mal=$(st devices.heartbeat.malformed.total)
ring mask --open heartbeat --set interrupt_mask=1 --set pending_send_sz=4000 \
	--set h2g.interrupt_mask=1 --set h2g.pending_send_sz=64 --frame "$T/junk"
reaches devices.heartbeat.malformed.total '>' "$mal" "packet lost after mask/pending"
[ "$(st vmbus.ring_errors)" = "$errs" ] || fail "signalling fields counted as ring errors"

# Unframed bytes, no signal: nothing happens until the channel closes.
ring quiet --open heartbeat --no-signal "$T/zeros"
if grep -q '"event":"signalled"' "$T/quiet.out"; then fail "--no-signal signalled"; fi
# Usage errors stay in the tool.
rc=0; guest raw-ring --open heartbeat --set bogus=1 >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "unknown ring field: exit $rc"
rc=0; guest raw-ring "$T/junk" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "raw-ring without a channel: exit $rc"
daemon_alive

guest run --until-heartbeats 2 >"$T/after.out" || fail "daemon no longer serves"
expect_event "$T/after.out" '"device":"kvp","ok":true'
stop_daemon
