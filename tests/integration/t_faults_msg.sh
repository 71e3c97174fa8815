# Host->guest faults on the message connection (docs/faults.md): each
# msg.* class and the timing classes on messages, armed by name through the
# control socket; the synthetic guest must report the malformed message it
# dropped and carry on (a heartbeat arrives afterwards), and `ctl status`
# counts the firing.
. ./lib.sh
start_daemon
# A bad request is refused with a reason.
ctl fault arm no.such.class >"$T/r" && fail "unknown class armed"
expect_event "$T/r" 'no fault class'
ctl fault arm msg.undersize device=heartbeat >"$T/r" && fail "msg class armed on a channel"
expect_event "$T/r" 'targets the message connection'
ctl fault arm storvsc.busy device=nosuch >"$T/r" && fail "no such device accepted"
expect_event "$T/r" 'no such device'
ctl fault arm timing.delay >"$T/r" && fail "delay without ms accepted"

# run_with CLASS [ARM ARGS]: arms CLASS once, runs a guest until a heartbeat.
run_with() {
	local cls=$1; shift
	ctl fault arm "$cls" "$@" >/dev/null || fail "arm $cls"
	guest --timeout 8 run --until-heartbeats 1 >"$T/$cls.out" 2>"$T/$cls.err" || true
	daemon_alive
}
# check CLASS FRAGMENT: the guest reported FRAGMENT, still got its heartbeat,
# and the class fired exactly once.
check() {
	expect_event "$T/$1.out" "$2"
	expect_event "$T/$1.out" '"event":"heartbeat"'
	[ "$(ctl status | jq ".result.faults.fired.$1")" = 1 ] || fail "$1 did not fire once"
}
run_with msg.type_out_of_range
check msg.type_out_of_range 'unknown msgtype 200 dropped'
run_with msg.oversize
check msg.oversize 'payload_size 255 > 240 dropped'
run_with msg.undersize
check msg.undersize 'with payload_size 8 <'
run_with msg.offer_bad_relid
check msg.offer_bad_relid 'offer with relid 4096 outside 1..2047 ignored'
run_with msg.offer_duplicate_relid
check msg.offer_duplicate_relid 'second offer for relid'
run_with msg.gpadl_created_unknown
check msg.gpadl_created_unknown 'GPADL_CREATED that matches no request'
run_with msg.open_result_unknown
check msg.open_result_unknown 'OPENCHANNEL_RESULT that matches no request'

# Timing.  Messages of a connection: 1 VERSION_RESPONSE, 2-5 the four
# offers (heartbeat, shutdown, timesync, kvp), 6 ALLOFFERS_DELIVERED.
run_with timing.drop from=3
check timing.drop '"event":"all_offers","count":3'
run_with timing.duplicate from=3
check timing.duplicate 'second offer for relid'
# The last offer swaps with ALLOFFERS_DELIVERED: the guest sees the end of
# the offers before the kvp offer.
run_with timing.reorder from=5
check timing.reorder '"event":"all_offers","count":3'
awk '/"all_offers"/ { a = NR } /"event":"offer".*"device":"kvp"/ { k = NR } END { exit !(a && k > a) }' \
	"$T/timing.reorder.out" || fail "reorder: kvp offer not after ALLOFFERS_DELIVERED"
# A delayed VERSION_RESPONSE: negotiation waits 1.5 s (Linux waits 5 s per
# version before trying the next).
ctl fault arm timing.delay ms=1500 >/dev/null
t0=$(date +%s%N)
guest --timeout 8 negotiate >"$T/delay.out" || fail "negotiate after a delay"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -ge 1500 ] || fail "delay: negotiation took only $ms ms"
[ "$(ctl status | jq '.result.faults.fired.timing.delay')" = 1 ] || fail "delay not counted"

# Rate and disarm: every 2nd message from the 2nd on, until disarmed.
ctl fault arm msg.type_out_of_range count=0 every=2 from=2 >/dev/null
ctl fault list >"$T/list"
expect_event "$T/list" '"class":"msg.type_out_of_range","device":"","count":0,"every":2,"from":2'
[ "$(jq '.result.catalogue | length' "$T/list")" = 30 ] || fail "catalogue is not 30 classes"
guest --timeout 8 negotiate >"$T/rate.out" || true
# 6 messages + UNLOAD_RESPONSE: copies before messages 2, 4 and 6.
[ "$(grep -c 'unknown msgtype 200' "$T/rate.out")" = 3 ] || fail "rate: $(cat "$T/rate.out")"
ctl fault disarm msg.type_out_of_range >/dev/null
guest --timeout 8 negotiate >"$T/after.out" || fail "negotiate after disarm"
grep -q '"event":"error"' "$T/after.out" && fail "errors after disarm"
[ "$(ctl status | jq '.result.faults.armed | length')" = 0 ] || fail "still armed"
stop_daemon
