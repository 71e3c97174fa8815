# KVP round trip: a pushed key at open, host set/get/delete/enumerate against
# the guest's pools, and the guest's auto pool.
. ./lib.sh
echo '{"devices":[{"type":"kvp","push":{"pushed-key":"pushed-value"}}]}' >"$T/c.json"
start_daemon --config "$T/c.json"
"${GUEST[@]}" --kvp-get-value run --duration 20 >"$T/g.out" &
ctl wait devices.kvp.state = ready -t 10
ctl wait devices.kvp.pushed '>=' 1 -t 5
ctl control kvp set '{"pool":0,"key":"k1","value":"value one"}' >/dev/null || fail "set"
ctl control kvp get '{"pool":0,"key":"k1"}' >"$T/get.out" || fail "get"
grep -q '"value":"value one"' "$T/get.out" || { cat "$T/get.out"; fail "get returned the wrong value"; }
ctl control kvp enumerate-all '{"pool":2}' >"$T/auto.out" || fail "enumerate auto pool"
for k in OSName NetworkAddressIPv4 FullyQualifiedDomainName; do
	grep -q "\"$k\"" "$T/auto.out" || { cat "$T/auto.out"; fail "auto pool lacks $k"; }
done
ctl control kvp enumerate-all '{"pool":0}' >"$T/ext.out" || fail "enumerate external pool"
grep -q '"pushed-key":"pushed-value"' "$T/ext.out" || { cat "$T/ext.out"; fail "pushed key missing"; }
ctl control kvp delete '{"pool":0,"key":"k1"}' >/dev/null || fail "delete"
ctl control kvp get '{"pool":0,"key":"k1"}' >/dev/null && fail "get after delete succeeded"
expect_line "$T/g.out" '"op":"set"' '"pool":0' '"key":"k1"' '"value":"value one"'
expect_line "$T/g.out" '"op":"delete"' '"key":"k1"'
stop_daemon
