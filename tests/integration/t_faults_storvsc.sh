# Host->guest faults on a channel (docs/faults.md): the storvsc.* classes,
# the ring.* classes and the timing classes on a SCSI controller's channel,
# armed by device name through the control socket.  The synthetic
# hv_storvsc must report each malformed or mistimed packet the way Linux's
# checks would, and the daemon must keep serving.
. ./lib.sh
truncate -s 4M "$T/a.img"
cat >"$T/c.json" <<JSON
{"devices":[{"type":"storvsp","name":"disk0","disks":[{"path":"$T/a.img","lun":0}]},
  {"type":"heartbeat","interval_ms":100}]}
JSON
start_daemon --config "$T/c.json"
fired() { ctl status | jq ".result.faults.fired.$1 // 0"; }
# sc NAME STEPS...: arms nothing; runs the synthetic storvsc (exit status kept).
sc() {
	local name=$1; shift
	rc=0
	guest --timeout 2 storvsc --subchannels 0 "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
	daemon_alive
}
# Packets the host sends on the one channel before the first READ/WRITE
# completion (the init handshake, then the READ CAPACITY the synthetic
# storvsc issues before its first I/O): timing faults aim at I/O with from=$IO.
pkts() { ctl status | jq '[.result.vmbus.channels[] | select(.device == "disk0") | .packets_out] | add'; }
p0=$(pkts)
sc init sleep 1
IO=$(( $(pkts) - p0 + 2 ))
[ "$IO" -ge 3 ] || fail "init handshake of $IO packets?"

# storvsc.srb_error: the write fails with MEDIUM ERROR sense, the next one works.
ctl fault arm storvsc.srb_error device=disk0 >/dev/null
sc srb write 0 0 8 0xa5 expect-sense 3/11/00 write 0 8 8 0xa5 read-verify 0 0 16 0xa5
[ $rc = 0 ] || fail "srb_error: $(cat "$T/srb.out")"
[ "$(fired storvsc.srb_error)" = 1 ] || fail "srb_error did not fire"
ctl wait faults.fired.storvsc.srb_error = 1 >/dev/null || fail "ctl wait on a fired count"
# storvsc.busy: SRB_STATUS_BUSY (5) for the next I/O only; the second I/O
# (from=2) is the one hit.
ctl fault arm storvsc.busy device=disk0 from=2 >/dev/null
sc busy write 0 0 8 0xa5 write 0 8 8 0xa5 expect-srb 5 read-verify 0 0 8 0xa5
[ $rc = 0 ] || fail "busy: $(cat "$T/busy.out")"
[ "$(fired storvsc.busy)" = 1 ] || fail "busy did not fire"
# storvsc.unknown_request_id: reported, and the real completion still ends the I/O.
ctl fault arm storvsc.unknown_request_id device=disk0 >/dev/null
sc unknown read-verify 0 0 8 0xa5
# (a host protocol error fails the step, though its data arrived intact)
expect_line "$T/unknown.out" '"step":"read-verify"' '"srb_status":1' '"bytes":4096'
expect_event "$T/unknown.out" 'trans_id 0xfffffff0 matches no request in flight'
# storvsc.completion_short: dropped by the guest, so the I/O never completes.
ctl fault arm storvsc.completion_short device=disk0 >/dev/null
sc short read-verify 0 0 8 0xa5
[ $rc != 0 ] || fail "completion_short: the I/O completed"
expect_event "$T/short.out" '8-byte packet (type 11'
expect_event "$T/short.out" 'shorter than the 64-byte vstor_packet'

# ring.*: the guest refuses the packet and stops using the ring.  Packet 1
# on the channel is the first init completion.
for c in "ring.len_below_16:bad len8/offset8" "ring.offset_beyond_len:bad len8/offset8" \
	 "ring.len_beyond_avail:longer than the published bytes" \
	 "ring.write_index_beyond:write_index outside the data area"; do
	cls=${c%%:*}
	ctl fault arm "$cls" device=disk0 channel=0 from=2 >/dev/null
	sc "$cls" read-verify 0 0 8 0xa5
	[ $rc != 0 ] || fail "$cls: the guest did not notice"
	expect_event "$T/$cls.out" "${c#*:}"
	[ "$(fired "$cls")" = 1 ] || fail "$cls did not fire once"
done
ctl fault arm ring.pending_send_sz_beyond device=disk0 from=2 >/dev/null
sc pending read-verify 0 0 8 0xa5
expect_event "$T/pending.out" 'pending_send_sz 253952 beyond the 126976-byte ring'

# timing.* on the channel.
ctl fault arm timing.drop device=disk0 from=$IO >/dev/null
sc drop read-verify 0 0 8 0xa5 read-verify 0 0 8 0xa5
[ $rc != 0 ] || fail "drop: every I/O completed"
expect_event "$T/drop.out" 'requests unanswered after'
ctl fault arm timing.duplicate device=disk0 from=$IO >/dev/null
sc dup read-verify 0 0 8 0xa5 read-verify 0 8 8 0xa5
expect_line "$T/dup.out" '"step":"read-verify"' '"srb_status":1' '"bytes":4096'
expect_event "$T/dup.out" 'matches no request in flight'
ctl fault arm timing.delay device=disk0 from=$IO ms=1200 >/dev/null
t0=$(date +%s%N)
sc delay read-verify 0 0 8 0xa5
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc = 0 ] || fail "delay: $(cat "$T/delay.out")"
[ "$ms" -ge 1200 ] || fail "delay: done in $ms ms"
# Two writes in flight: the first completion is held until the second went out.
ctl fault arm timing.reorder device=disk0 from=$IO >/dev/null
sc reorder parallel 0 2
[ $rc = 0 ] || fail "reorder: $(cat "$T/reorder.out")"
expect_event "$T/reorder.out" '"out_of_order":1'
# The completion is in the ring, its interrupt never comes: the guest waits in vain.
ctl fault arm timing.withhold_interrupt device=disk0 from=$IO >/dev/null
sc withhold read-verify 0 0 8 0xa5
[ $rc != 0 ] || fail "withhold_interrupt: the guest saw the completion"
expect_event "$T/withhold.out" 'requests unanswered after'
ctl fault arm timing.spurious_interrupt device=disk0 from=$IO >/dev/null
sc spurious write 0 0 8 0xa5 read-verify 0 0 8 0xa5 sleep 200
[ $rc = 0 ] || fail "spurious_interrupt: $(cat "$T/spurious.out")"
expect_event "$T/spurious.out" '"event":"spurious_interrupt"'
for cls in timing.drop timing.duplicate timing.delay timing.reorder timing.withhold_interrupt \
	   timing.spurious_interrupt; do
	[ "$(fired "$cls")" = 1 ] || fail "$cls did not fire once"
done
# After all that, a clean run: nothing armed, nothing reported.
sc clean write 0 0 8 0x5a read-verify 0 0 8 0x5a
[ $rc = 0 ] || fail "clean run failed: $(cat "$T/clean.out")"
grep -q '"event":"error"' "$T/clean.out" && fail "errors in the clean run"
stop_daemon
