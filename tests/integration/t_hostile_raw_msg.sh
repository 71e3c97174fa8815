# vmbus-guest raw-msg reaching a real channel: the tool requests offers,
# selects or opens a channel, creates an extra GPADL and writes their
# relid/handle into the bytes (--patch-u32), then posts several messages
# in order.  The host answers each OPENCHANNEL / MODIFYCHANNEL with the
# protocol's result, counts the refusals, and keeps serving.
. ./lib.sh
start_daemon
st() { ctl status | jq -r ".result.$1"; }
# reaches KEY OP VALUE WHY: the status value comes to compare true within 5 s.
reaches() { ctl wait "$1" "$2" "$3" -t 5 >/dev/null || fail "$4"; }
UNSUCCESSFUL=3221225473 # VMBUS_STATUS_UNSUCCESSFUL, 0xC0000001
# The results of the named host message, in arrival order, one line.
results() { grep -F "\"name\":\"$2\"" "$1" | jq -r .status | tr '\n' ' '; }

# OPENCHANNEL, 148 bytes: msgtype 5; child_relid @8, openid @12,
# ringbuffer_gpadl @16, target_vp @20, downstream_ring_offset @24 (pages).
{ le32 5 0 0 0 0 0 2; bytes 0 120; } >"$T/open"
mal0=$(st vmbus.malformed)
# On the (not yet opened) heartbeat channel: a ring GPADL nobody created,
# then the tool's extra 4-page GPADL as the ring (2 + 2 pages: a valid
# open), then the same again (the channel is open now).
guest raw-msg --channel heartbeat --gpadl 4 --patch-u32 8=relid --patch-u32 12=relid \
	--patch-u32 1:16=0xdead --patch-u32 2:16=gpadl --patch-u32 3:16=gpadl \
	--wait-ms 300 "$T/open" "$T/open" "$T/open" >"$T/open.out" ||
	{ cat "$T/open.out"; fail "raw-msg --channel --gpadl failed"; }
daemon_alive
expect_line "$T/open.out" '"event":"gpadl"' '"pages":4'
for i in 1 2 3; do
	expect_line "$T/open.out" '"event":"post"' "\"file\":$i," '"status":0'
done
[ "$(results "$T/open.out" OPENCHANNEL_RESULT)" = "$UNSUCCESSFUL 0 $UNSUCCESSFUL " ] ||
	{ cat "$T/open.out"; fail "OPENCHANNEL results not refused/accepted/refused"; }
reaches vmbus.malformed '>=' $((mal0 + 2)) "refused opens not counted"

# A ring GPADL that belongs to another channel is refused too: the extra
# GPADL is created on the shutdown channel, the OPENCHANNEL names relid 1
# (heartbeat in the default configuration, checked from the offers).
mal0=$(st vmbus.malformed)
guest raw-msg --channel shutdown --gpadl 4 --patch-u32 8=1 --patch-u32 12=1 --patch-u32 16=gpadl \
	--wait-ms 300 "$T/open" >"$T/foreign.out" || { cat "$T/foreign.out"; fail "raw-msg failed"; }
expect_line "$T/foreign.out" '"event":"offer","relid":1,' '"device":"heartbeat"'
[ "$(results "$T/foreign.out" OPENCHANNEL_RESULT)" = "$UNSUCCESSFUL " ] ||
	{ cat "$T/foreign.out"; fail "another channel's GPADL accepted as a ring"; }
reaches vmbus.malformed '>' "$mal0" "foreign ring GPADL not counted"

# MODIFYCHANNEL (version 5.3 answers it): child_relid @8, target_vp @12.
# On the channel the tool opened (--open): VP 1 exists, VP 9999 does not.
le32 22 0 0 1 >"$T/modify_ok"
le32 22 0 0 9999 >"$T/modify_bad"
guest raw-msg --open heartbeat --patch-u32 8=relid --wait-ms 300 \
	"$T/modify_ok" "$T/modify_bad" >"$T/modify.out" ||
	{ cat "$T/modify.out"; fail "raw-msg --open failed"; }
expect_line "$T/modify.out" '"event":"opened"' '"device":"heartbeat"'
[ "$(results "$T/modify.out" MODIFYCHANNEL_RESPONSE)" = "0 $UNSUCCESSFUL " ] ||
	{ cat "$T/modify.out"; fail "MODIFYCHANNEL results not accepted/refused"; }

# Usage errors never reach the daemon: a patch beyond the bytes, a name
# the set-up did not create, --gpadl without a channel.
rc=0; guest raw-msg --patch-u32 200=7 "$T/modify_ok" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "patch beyond the bytes: exit $rc"
rc=0; guest raw-msg --offers --patch-u32 8=relid "$T/modify_ok" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "relid without a channel: exit $rc"
rc=0; guest raw-msg --gpadl 2 "$T/modify_ok" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "--gpadl without a channel: exit $rc"
daemon_alive

guest run --until-heartbeats 2 >"$T/after.out" || fail "daemon no longer serves"
expect_event "$T/after.out" '"device":"kvp","ok":true'
stop_daemon
