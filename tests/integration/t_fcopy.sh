# File copy into the synthetic guest's fcopy daemon: a file crossing many
# 6 KiB chunks arrives byte for byte; an existing target without overwrite
# fails with "exists", with overwrite it is replaced; a full disk fails
# with "disk full" and the partial file is removed (CANCEL_FCOPY); an empty
# file; bad arguments are refused; without a daemon the guest refuses.
# (With create_path the host ends path_name with '/', so the daemon names
# the file "/in/sub//a.bin", as hv_fcopy_daemon would.)
. ./lib.sh
echo '{"devices":[{"type":"fcopy","timeout_ms":5000}]}' >"$T/c.json"
mkdir -p "$T/root"
head -c 1000003 /dev/urandom >"$T/a.bin"
head -c 3000000 /dev/urandom >"$T/big.bin"
: >"$T/empty.bin"
start_daemon --config "$T/c.json"
"${GUEST[@]}" --fcopy-root "$T/root" --fcopy-max-bytes 2000000 run --duration 60 >"$T/g.out" &
gpid=$!
ctl wait devices.fcopy.state = ready -t 10
ctl control fcopy copy "{\"src\":\"$T/a.bin\",\"dst\":\"/in/sub/a.bin\",\"create_path\":true}" >"$T/c1.out" ||
	{ cat "$T/c1.out"; fail "copy"; }
grep -q '"bytes":1000003' "$T/c1.out" || { cat "$T/c1.out"; fail "wrong byte count"; }
grep -q '"chunks":163' "$T/c1.out" || { cat "$T/c1.out"; fail "not 163 chunks of 6 KiB"; }
cmp "$T/a.bin" "$T/root/in/sub/a.bin" || fail "the guest's copy differs"
ctl control fcopy copy "{\"src\":\"$T/empty.bin\",\"dst\":\"/in/sub/a.bin\"}" >"$T/c2.out" &&
	fail "copy over an existing file succeeded"
grep -q '"error":"exists"' "$T/c2.out" || { cat "$T/c2.out"; fail "no \"exists\""; }
cmp "$T/a.bin" "$T/root/in/sub/a.bin" || fail "the refused copy changed the file"
ctl control fcopy copy "{\"src\":\"$T/empty.bin\",\"dst\":\"/in/sub/a.bin\",\"overwrite\":true}" >/dev/null ||
	fail "overwrite"
[ -f "$T/root/in/sub/a.bin" ] && [ ! -s "$T/root/in/sub/a.bin" ] || fail "not replaced by the empty file"
ctl control fcopy copy "{\"src\":\"$T/big.bin\",\"dst\":\"/in/big.bin\"}" >"$T/c3.out" &&
	fail "copy past the disk's end succeeded"
grep -q '"error":"disk full"' "$T/c3.out" || { cat "$T/c3.out"; fail "no \"disk full\""; }
[ ! -e "$T/root/in/big.bin" ] || fail "the partial file was not removed"
ctl control fcopy copy "{\"src\":\"$T/a.bin\",\"dst\":\"/missing/dir/a.bin\"}" >"$T/c4.out" &&
	fail "copy into a missing directory without create_path succeeded"
grep -q '"error":"failed"' "$T/c4.out" || { cat "$T/c4.out"; fail "missing directory: no \"failed\""; }
ctl control fcopy copy "{\"src\":\"$T/a.bin\",\"dst\":\"relative\"}" >/dev/null 2>&1 && fail "relative dst accepted"
ctl control fcopy copy "{\"src\":\"$T/nope\",\"dst\":\"/x\"}" >/dev/null 2>&1 && fail "missing src accepted"
ctl control fcopy copy "{\"src\":\"$T\",\"dst\":\"/x\"}" >/dev/null 2>&1 && fail "directory src accepted"
ctl wait devices.fcopy.copies = 2 -t 5
ctl wait devices.fcopy.cancels = 1 -t 5
expect_line "$T/g.out" '"event":"fcopy"' '"op":"complete"' '"path":"/in/sub//a.bin"' '"bytes":1000003'
expect_line "$T/g.out" '"event":"fcopy"' '"op":"cancel"' '"path":"/in/big.bin"'
kill "$gpid"; wait "$gpid" 2>/dev/null || true
ctl wait attached = false -t 5
# No daemon in the guest: Linux answers HV_E_FAIL at once.
"${GUEST[@]}" run --duration 30 >"$T/g2.out" &
ctl wait devices.fcopy.state = ready -t 10
ctl control fcopy copy "{\"src\":\"$T/a.bin\",\"dst\":\"/x.bin\"}" >"$T/c5.out" && fail "copy without a daemon succeeded"
grep -q '"status_name":"HV_E_FAIL"' "$T/c5.out" || { cat "$T/c5.out"; fail "no HV_E_FAIL"; }
stop_daemon
