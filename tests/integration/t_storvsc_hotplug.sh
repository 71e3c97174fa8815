# storvsc hot plug: add-disk sends the unsolicited ENUMERATE_BUS
# (trans_id 0), the other LUNs report REPORTED LUNS DATA HAS CHANGED
# (6/3F/0E) and REPORT LUNS lists the new LUN, which then does I/O;
# remove-disk sends another ENUMERATE_BUS, the LUN is gone from REPORT LUNS,
# answers INVALID_LUN (srb 0x20) and INQUIRY PQ=3.
. ./lib.sh
truncate -s 16M "$T/a.img"
truncate -s 4M "$T/n.img"
cat >"$T/c.json" <<JSON
{"devices":[{"type":"storvsp","disks":[{"path":"$T/a.img","lun":0}]}]}
JSON
start_daemon --config "$T/c.json"
"${GUEST[@]}" storvsc \
	report-luns luns=0 \
	wait-enumerate \
	tur 0 expect-sense 6/3f/0e \
	report-luns luns=0,3 \
	inquiry 3 vendor=Msft byte0=0 \
	inquiry-vpd 3 0x80 serial=HOT-3 \
	capacity 3 bytes=4194304 \
	write 3 100 16 lba read-verify 3 100 16 lba \
	tur 0 \
	wait-enumerate \
	report-luns luns=0 \
	tur 3 expect-srb 20 \
	inquiry 3 byte0=0x7f \
	read-verify 0 0 8 0 >"$T/out" &
G=$!
wait_for() { # wait_for COUNT PATTERN
	for _ in $(seq 200); do
		[ "$(grep -c -- "$2" "$T/out")" -ge "$1" ] && return 0
		kill -0 $G 2>/dev/null || { cat "$T/out"; fail "guest exited early"; }
		sleep 0.05
	done
	cat "$T/out"; fail "timed out waiting for $2"
}
wait_for 1 '"step":"report-luns"'
ctl control storvsp add-disk "{\"path\":\"$T/n.img\",\"lun\":3,\"serial\":\"HOT-3\"}" >"$T/add" ||
	fail "add-disk: $(cat "$T/add")"
grep -q '"lun":3' "$T/add" || fail "add-disk answered $(cat "$T/add")"
wait_for 2 '"step":"tur"'
ctl control storvsp remove-disk '{"lun":3}' >"$T/rm" || fail "remove-disk: $(cat "$T/rm")"
wait $G || { cat "$T/out"; fail "guest script failed"; }
expect_event "$T/out" '"event":"storvsc_done","ok":true'
[ "$(grep -c '"event":"storvsc_unsolicited","operation":"ENUMERATE_BUS"' "$T/out")" = 2 ] ||
	fail "expected two ENUMERATE_BUS"
st=$(ctl status)
[ "$(jq '.result.devices.storvsp.enumerates' <<<"$st")" = 2 ] || fail "enumerates: $st"
[ "$(jq '.result.devices.storvsp.disks | length' <<<"$st")" = 1 ] || fail "disks: $st"
# The hot-added disk really got the data.
dd if="$T/n.img" bs=512 skip=100 count=1 status=none | head -c 16 | grep -q '^LBA=00000000100$' ||
	fail "hot-added image lacks the written block"
daemon_alive
stop_daemon
