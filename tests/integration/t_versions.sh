# Negotiation at every version: the daemon capped at V makes the synthetic
# guest (which starts at 5.3 and falls back like Linux) settle on exactly V.
# Then the guest-side cap: daemon at 5.3, guest proposing at most V.
. ./lib.sh
for v in 5.3 5.2 5.1 5.0 4.1 4.0 3.0 2.4 1.1 0.13; do
	start_daemon --max-version "$v"
	guest negotiate >"$T/neg.out" || fail "negotiate with daemon capped at $v"
	expect_event "$T/neg.out" "\"event\":\"version\",\"version\":\"$v\""
	expect_event "$T/neg.out" '"event":"all_offers","count":4'
	refused=$(ctl status | grep -o '"versions_refused":[0-9]*' | cut -d: -f2)
	# Every version above the cap was refused once before V was accepted.
	above=$(printf '5.3\n5.2\n5.1\n5.0\n4.1\n4.0\n3.0\n2.4\n1.1\n0.13\n' | sed "/^$v\$/,\$d" | wc -l)
	[ "$refused" = "$above" ] || fail "cap $v: $refused versions refused, expected $above"
	stop_daemon
done
start_daemon
for v in 5.0 4.0 2.4; do
	guest --max-version "$v" negotiate >"$T/neg.out" || fail "guest capped at $v"
	expect_event "$T/neg.out" "\"event\":\"version\",\"version\":\"$v\""
done
stop_daemon
