# KVP round trip: a pushed key at open, host set/get/delete/enumerate against
# the guest's pools, and the guest's auto pool.
. ./lib.sh
cat >"$T/c.json" <<'JSON'
{"devices":[{"type":"kvp","push":{"pushed-key":"pushed-value"},
  "host_data":{"VirtualMachineName":"it-vm","HostingSystemEditionId":null,"Extra":"x"}}]}
JSON
start_daemon --config "$T/c.json"
"${GUEST[@]}" --kvp-get-value run --duration 20 >"$T/g.out" &
ctl wait devices.kvp.state = ready -t 10
ctl wait devices.kvp.pushed '>=' 1 -t 5
ctl wait devices.kvp.pushing = false -t 10
ctl control kvp set '{"pool":0,"key":"k1","value":"value one"}' >/dev/null || fail "set"
ctl control kvp get '{"pool":0,"key":"k1"}' >"$T/get.out" || fail "get"
grep -q '"value":"value one"' "$T/get.out" || { cat "$T/get.out"; fail "get returned the wrong value"; }
ctl control kvp enumerate-all '{"pool":2}' >"$T/auto.out" || fail "enumerate auto pool"
for k in OSName NetworkAddressIPv4 FullyQualifiedDomainName; do
	grep -q "\"$k\"" "$T/auto.out" || { cat "$T/auto.out"; fail "auto pool lacks $k"; }
done
ctl control kvp enumerate-all '{"pool":0}' >"$T/ext.out" || fail "enumerate external pool"
grep -q '"pushed-key":"pushed-value"' "$T/ext.out" || { cat "$T/ext.out"; fail "pushed key missing"; }
# The host's own items in the auto-external pool (3), as Hyper-V writes them,
# with the configuration's changes.
ctl control kvp enumerate-all '{"pool":3}' >"$T/host.out" || fail "enumerate pool 3"
for k in HostName PhysicalHostName VirtualMachineId HostingSystemOsMajor \
	HostingSystemProcessorArchitecture HostingSystemNestedLevel; do
	grep -q "\"$k\"" "$T/host.out" || { cat "$T/host.out"; fail "pool 3 lacks $k"; }
done
grep -q "\"HostName\":\"$(hostname)\"" "$T/host.out" || { cat "$T/host.out"; fail "HostName"; }
grep -q '"VirtualMachineName":"it-vm"' "$T/host.out" || { cat "$T/host.out"; fail "override"; }
grep -q '"Extra":"x"' "$T/host.out" || { cat "$T/host.out"; fail "added item"; }
grep -q HostingSystemEditionId "$T/host.out" && { cat "$T/host.out"; fail "removed item pushed"; }
ctl control kvp delete '{"pool":0,"key":"k1"}' >/dev/null || fail "delete"
ctl control kvp get '{"pool":0,"key":"k1"}' >/dev/null && fail "get after delete succeeded"
expect_line "$T/g.out" '"op":"set"' '"pool":0' '"key":"k1"' '"value":"value one"'
expect_line "$T/g.out" '"op":"delete"' '"key":"k1"'
stop_daemon
