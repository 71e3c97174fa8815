# vmbus-guest raw-hcall: one hypercall with a verbatim control word, its
# input in a guest page, at any GPA, or in registers (fast).  Each bad one
# is refused with the HV status the TLFS gives it, the daemon logs it and
# keeps serving; the good ones show the tool places inputs correctly.
. ./lib.sh
start_daemon
n=0
# hcall NAME STATUS ARGS...: raw-hcall ARGS answers HV status STATUS.
hcall() {
	local name=$1 want=$2; shift 2
	guest raw-hcall --wait-ms 0 "$@" >"$T/$name.out" 2>&1 ||
		{ cat "$T/$name.out"; fail "$name: tool failed"; }
	daemon_alive
	expect_line "$T/$name.out" '"event":"hcall"' "\"status\":$want,"
	[ "$want" = 0 ] || n=$((n + 1))
}
# le64 N: one little-endian 64-bit word.
le64() { le32 $(($1 & 0xFFFFFFFF)) $(($1 >> 32)); }

# The control word: an unknown call code, rep/reserved bits on a simple
# call, HvPostMessage (0x5c) in its fast form, which it does not have.
hcall unknown_code 2 --control 7777
grep -q 'unknown hypercall code 0x7777' "$T/daemon.log" || fail "unknown code not logged"
hcall rep_count 3 --control 10000005c --input-gpa 0x1000
hcall reserved_bits 3 --control 800005d --fast 0x11
hcall fast_post 3 --control 1005c --fast 1
# HvPostMessage's input block (256 bytes, 8-aligned, within one page):
# outside guest RAM, misaligned, straddling a page.
{ le32 1 0 1 8; le64 3; } >"$T/req_offers" # conn 1, type 1, 8 bytes: REQUESTOFFERS
hcall outside_ram 5 --control 5c --input-gpa 0x7ff000000000
hcall misaligned 4 --control 5c --input "$T/req_offers" --input-offset 4
hcall straddling 4 --control 5c --input "$T/req_offers" --input-offset 4000
# HvSignalEvent: unknown connection id (fast and slow), flag number 1,
# a vCPU that does not exist.
hcall signal_unknown_fast 18 --control 1005d --fast 0x99
le64 0x99 >"$T/sig_unknown"
hcall signal_unknown_slow 18 --control 5d --input "$T/sig_unknown"
hcall signal_flag 5 --control 1005d --fast 0x100000011
hcall bad_vcpu 5 --control 1005d --vcpu 7 --fast 0x11

# Positive controls: the same inputs, well formed, succeed.  A slow
# HvPostMessage of REQUESTOFFERS from the tool's page makes the host
# deliver the offers (the tool shows them as events).
hcall post_ok 0 --negotiate --control 5c --input "$T/req_offers" --wait-ms 500
expect_line "$T/post_ok.out" '"name":"ALLOFFERS_DELIVERED"'
hcall signal_ok 0 --offers --control 1005d --fast 17 # heartbeat's connection id
expect_line "$T/signal_ok.out" '"event":"offer"' '"conn_id":17' '"device":"heartbeat"'

# Counted where the daemon reports hypercall refusals (keys named after
# the partition's statistics; absent in older status reports).
st=$(ctl status)
refused=$(jq '[.. | objects | .hc_refused? // empty] | first // "none"' <<<"$st")
if [ "$refused" != '"none"' ] && [ "$refused" != null ]; then
	[ "$refused" -ge "$n" ] || fail "$n hypercalls refused, $refused counted"
fi
unknown=$(jq '[.. | objects | .hc_unknown_code? // empty] | first // "none"' <<<"$st")
if [ "$unknown" != '"none"' ] && [ "$unknown" != null ]; then
	[ "$unknown" -ge 1 ] || fail "unknown hypercall code not counted"
fi

guest run --until-heartbeats 2 >"$T/after.out" || fail "daemon no longer serves"
expect_event "$T/after.out" '"device":"kvp","ok":true'
stop_daemon
