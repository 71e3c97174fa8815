# Hostile channel messages and hypercall inputs: each is refused with the
# protocol's answer (or ignored), counted, and the daemon keeps serving.
. ./lib.sh
start_daemon
post() { # NAME FILE [raw-msg options]: posts, records the hypercall status
	local name=$1 file=$2; shift 2
	guest raw-msg "$file" "$@" >"$T/$name.out" 2>&1 || true
	daemon_alive
	grep -q '"event":"post"' "$T/$name.out" || { cat "$T/$name.out"; fail "$name: no post event"; }
}
le32 14 0 >"$T/short_contact"                      # INITIATE_CONTACT, 8 of 40 bytes
post short_contact "$T/short_contact" --no-negotiate
le32 99 0 >"$T/unknown_type"                       # message type 99
post unknown_type "$T/unknown_type"
le32 5 0 1 1 0 0 0 >"$T/open_early"                # OPENCHANNEL before any contact
post open_early "$T/open_early" --no-negotiate
le32 9 0 0 12345 1 2 >"$T/gpadl_body_unknown"      # GPADL_BODY for an unknown handle
post gpadl_body_unknown "$T/gpadl_body_unknown"
le32 8 0 1 7 4294967295 >"$T/gpadl_header_huge"   # rangecount 0xffff, buflen 0xffff
post gpadl_header_huge "$T/gpadl_header_huge"
le32 11 0 99 5 >"$T/teardown_unknown"              # GPADL_TEARDOWN, unknown relid
post teardown_unknown "$T/teardown_unknown"
le32 22 0 1 9999 >"$T/modify_bad_vp"               # MODIFYCHANNEL to a VP that does not exist
post modify_bad_vp "$T/modify_bad_vp"
# Hypercall-level refusals: payload over 240 bytes, unknown connection id.
le32 3 0 >"$T/request_offers"
post oversize "$T/request_offers" --payload-size 241
grep -q '"status":5' "$T/oversize.out" || fail "payload 241 not refused with INVALID_PARAMETER"
post bad_conn "$T/request_offers" --conn-id 77
grep -q '"status":18' "$T/bad_conn.out" || fail "unknown connection id not refused with 18"
post bad_type "$T/request_offers" --message-type 0
grep -q '"status":5' "$T/bad_type.out" || fail "message type 0 not refused"
# Random bytes as messages.
for i in $(seq 20); do
	head -c $((RANDOM % 240 + 1)) /dev/urandom >"$T/rnd"
	post "rnd$i" "$T/rnd"
done
malformed=$(ctl status | grep -o '"malformed":[0-9]*' | head -1 | cut -d: -f2)
[ "$malformed" -ge 4 ] || fail "only $malformed malformed messages counted"
# Still serving: a clean guest negotiates and opens everything.
guest run --until-heartbeats 1 >"$T/after.out" || fail "daemon no longer serves"
expect_event "$T/after.out" '"device":"kvp","ok":true'
stop_daemon
