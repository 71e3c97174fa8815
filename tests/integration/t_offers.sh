# Offers: the default device set, then a configured set with fixed instance
# GUIDs; every offer has a unique relid and connection id, no monitor page.
. ./lib.sh
start_daemon
guest negotiate >"$T/o.out"
for cls in 57164f39-9115-4e78-ab55-382f3bd5422d 0e0b6031-5213-4934-818b-38d90ced39db \
	   9527e630-d0ae-497b-adce-e80ab0175caf a9a0f4e7-5a45-4d96-b827-8a841e8c03e6; do
	expect_event "$T/o.out" "\"class\":\"$cls\""
done
[ "$(grep -c '"event":"offer"' "$T/o.out")" = 4 ] || fail "expected 4 offers"
[ "$(grep -o '"relid":[0-9]*' "$T/o.out" | sort -u | wc -l)" = 4 ] || fail "relids not unique"
[ "$(grep -o '"conn_id":[0-9]*' "$T/o.out" | sort -u | wc -l)" = 4 ] || fail "connection ids not unique"
grep -q '"monitor_allocated":true' "$T/o.out" && fail "monitor pages must not be offered"
stop_daemon
cat >"$T/c.json" <<'JSON'
{ "devices": [
  { "type": "heartbeat", "instance": "11111111-2222-3333-4444-555555555555" },
  { "type": "kvp", "name": "kvp-a" } ] }
JSON
start_daemon --config "$T/c.json"
guest negotiate >"$T/o2.out"
[ "$(grep -c '"event":"offer"' "$T/o2.out")" = 2 ] || fail "expected 2 offers"
expect_event "$T/o2.out" '"instance":"11111111-2222-3333-4444-555555555555"'
ctl status >"$T/st.json"
grep -q '"kvp-a"' "$T/st.json" || fail "device name from config not used"
stop_daemon
