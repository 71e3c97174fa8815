# A bad configuration is a clear error naming the key, with a non-zero exit.
. ./lib.sh
check() { # CONFIG-TEXT EXPECTED-SUBSTRING
	printf '%s' "$1" >"$T/bad.json"
	if "$VMBUSD" serve --socket "$T/x.sock" --config "$T/bad.json" >"$T/err" 2>&1; then
		fail "accepted: $1"
	fi
	grep -qF -- "$2" "$T/err" || { cat "$T/err"; fail "error for '$1' lacks '$2'"; }
}
check '{"devices":[{"type":"nope"}]}' 'devices[0].type: unknown device "nope"'
check '{"devices":[{"type":"heartbeat","interval_ms":0}]}' 'devices[0].interval_ms'
check '{"devices":[{"type":"heartbeat","instance":"xyz"}]}' 'devices[0].instance'
check '{"devices":[{"type":"heartbeat","colour":1}]}' 'devices[0].colour: unknown key'
check '{"devices":[{"type":"bench","poll_us":10001}]}' 'devices[0].poll_us'
check '{"vmbus":{"max_version":"9.9"}}' 'vmbus.max_version'
check '{"devices":{}}' 'devices: must be an array'
check '{"hv":{"stimer":1}}' 'hv.stimer'
check '{"hv":{"tsc_pages":true}}' 'hv.tsc_pages: unknown key'
check '{"hv":[]}' 'hv: must be an object'
check '{"devices":[{"type":"kvp","name":"a"},{"type":"kvp","name":"a"}]}' 'devices[1].name'
check '{"devices": [' 'bad.json:'
# Two devices that would offer the same class and instance (Linux would drop one).
check '{"devices":[{"type":"heartbeat"},{"type":"heartbeat"}]}' 'devices[1].instance: another device already offers'
check '{"devices":[{"type":"storvsp","controller":3},{"type":"storvsp","controller":3}]}' 'devices[1].instance'
# A disk names the controller it is listed under.
truncate -s 1M "$T/d.img"
check "{\"devices\":[{\"type\":\"storvsp\",\"controller\":0,\"disks\":[{\"path\":\"$T/d.img\",\"controller\":1}]}]}" 'devices[0].disks[0].controller: 1, but it is listed under controller 0'
check '{"devices":[{"type":"storvsp","disks":[{"path":"/nonexistent/x.img"}]}]}' 'devices[0].disks[0]'
# A scenario's "replay" replaces "devices"; its form is checked before any run.
printf '{"devices":[],"replay":"x.pcap","steps":[{"step":"bound"}]}' >"$T/s.json"
"$VMBUSD" run --check "$T/s.json" >"$T/err" 2>&1 && fail "devices and replay accepted"
grep -qF '"devices" or "replay", not both' "$T/err" || { cat "$T/err"; fail "devices + replay"; }
printf '{"replay":{"file":"x.pcap","colour":1},"steps":[{"step":"bound"}]}' >"$T/s.json"
"$VMBUSD" run --check "$T/s.json" >"$T/err" 2>&1 && fail "replay.colour accepted"
grep -qF 'replay.colour: unknown key' "$T/err" || { cat "$T/err"; fail "replay.colour"; }
printf '{"replay":"x.pcap","steps":[{"step":"bound"}]}' >"$T/s.json"
"$VMBUSD" run --check "$T/s.json" >"$T/err" 2>&1 || { cat "$T/err"; fail "replay as a file name refused"; }
"$VMBUSD" serve --socket "$T/x.sock" --max-version 7.1 >"$T/err" 2>&1 && fail "bad --max-version accepted"
"$VMBUSD" --version | grep -q '^vmbusd ' || fail "--version"
"$VMBUSD" --help | grep -q 'serve' || fail "--help"
"$VMBUSD" nosuchcommand >/dev/null 2>&1 && fail "unknown command accepted"
true
