# storvsc hostile requests: GPA-direct PFNs past guest RAM or overflowing,
# data_transfer_length above the buffer or above max_transfer_bytes, bad
# range headers, data without a direction, cdb_length 0 and 17, vstor
# packets truncated at every 8 bytes, an unknown operation.  Each is
# answered with an error completion (or ignored); the next good command
# succeeds, the daemon stays up and counts them, and a new session works.
. ./lib.sh
truncate -s 4M "$T/a.img"
cat >"$T/c.json" <<JSON
{"devices":[{"type":"storvsp","subchannels":1,"disks":[{"path":"$T/a.img","lun":0}]}]}
JSON
start_daemon --config "$T/c.json"
script=(write 0 0 8 lba)
for kind in pfn-edge pfn-huge overlength over-max range-short rangecount-0 rangecount-2 \
	no-dir bad-dir inband-data cdb-len-0 cdb-len-17 short-0 short-8 short-16 short-24 \
	short-32 short-40 short-48 short-56 bad-op; do
	script+=(hostile "$kind" 0 tur 0)
done
script+=(read-verify 0 0 8 lba write 0 8 8 0x77 read-verify 0 8 8 0x77)
guest storvsc --subchannels 1 "${script[@]}" >"$T/out" || { cat "$T/out"; fail "storvsc script failed"; }
expect_event "$T/out" '"event":"storvsc_done","ok":true'
[ "$(grep -c '"step":"hostile","ok":true' "$T/out")" = 21 ] || fail "not every hostile step passed"
daemon_alive
st=$(ctl status)
malformed=$(jq '.result.devices.storvsp.malformed' <<<"$st")
[ "$malformed" -ge 19 ] || fail "only $malformed malformed packets counted: $st"
# A fresh session after all that.
guest storvsc read-verify 0 0 8 lba read-verify 0 8 8 0x77 >"$T/out2" ||
	{ cat "$T/out2"; fail "second session failed"; }
daemon_alive
stop_daemon
