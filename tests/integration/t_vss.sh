# VSS against the synthetic guest: check (HOT_BACKUP flags), freeze and
# thaw with the time frozen, and a backup of a storvsp disk named
# "storvsp:0" (raw: cp) and of a qcow2 image by path (qemu-img convert -U),
# each byte-identical to its source; a failed copy still thaws; bad
# arguments refused.
. ./lib.sh
truncate -s 8M "$T/disk.img"
printf 'VMBUSD-VSS-PATTERN' | dd of="$T/disk.img" bs=1 seek=1048576 conv=notrunc status=none
cat >"$T/c.json" <<JSON
{"devices":[{"type":"vss"},
 {"type":"storvsp","disks":[{"path":"$T/disk.img","format":"raw","lun":0}]}]}
JSON
start_daemon --config "$T/c.json"
"${GUEST[@]}" run --duration 60 >"$T/g.out" &
ctl wait devices.vss.state = ready -t 10
ctl control vss check >"$T/check.out" || { cat "$T/check.out"; fail "check"; }
grep -q '"flags":5' "$T/check.out" || { cat "$T/check.out"; fail "HOT_BACKUP flags not 5"; }
ctl control vss freeze >/dev/null || fail "freeze"
ctl wait devices.vss.frozen = true -t 5
sleep 0.2
ctl control vss thaw >"$T/thaw.out" || fail "thaw"
grep -Eq '"frozen_ms":[0-9.]+' "$T/thaw.out" || { cat "$T/thaw.out"; fail "no frozen_ms"; }
ctl wait devices.vss.frozen = false -t 5
ctl control vss backup "{\"disk\":\"storvsp:0\",\"dest\":\"$T/b.img\"}" >"$T/b1.out" || { cat "$T/b1.out"; fail "backup"; }
grep -q '"format":"raw"' "$T/b1.out" || { cat "$T/b1.out"; fail "not raw"; }
cmp "$T/disk.img" "$T/b.img" || fail "raw backup differs"
if command -v qemu-img >/dev/null; then
	qemu-img create -q -f qcow2 "$T/q.qcow2" 4M
	qemu-img convert -n -f raw -O qcow2 "$T/disk.img" "$T/q.qcow2" 2>/dev/null || true
	ctl control vss backup "{\"disk\":\"$T/q.qcow2\",\"dest\":\"$T/b.qcow2\"}" >/dev/null 2>&1 &&
		fail "an image that looks like qcow2 was backed up with no format said"
	ctl control vss backup "{\"disk\":\"$T/q.qcow2\",\"dest\":\"$T/b.qcow2\",\"format\":\"qcow2\"}" >"$T/b2.out" || { cat "$T/b2.out"; fail "qcow2 backup"; }
	grep -q '"format":"qcow2"' "$T/b2.out" || { cat "$T/b2.out"; fail "not qcow2"; }
	qemu-img compare -q "$T/q.qcow2" "$T/b.qcow2" || fail "qcow2 backup differs"
fi
ctl control vss backup "{\"disk\":\"storvsp:0\",\"dest\":\"$T/b.img\"}" >/dev/null 2>&1 && fail "existing dest accepted"
ctl control vss backup "{\"disk\":\"storvsp:7\",\"dest\":\"$T/c.img\"}" >/dev/null 2>&1 && fail "missing LUN accepted"
ctl control vss backup "{\"disk\":\"nodev:0\",\"dest\":\"$T/c.img\"}" >/dev/null 2>&1 && fail "missing device accepted"
# A copy that fails still thaws the guest, and says so.
thaws=$(ctl status | grep -o '"thaws":[0-9]*' | head -1 | cut -d: -f2)
ctl control vss backup "{\"disk\":\"storvsp:0\",\"dest\":\"$T/nodir/b.img\"}" >"$T/b3.out" 2>&1 &&
	fail "a backup into a missing directory succeeded"
grep -q '"stage":"copy"' "$T/b3.out" || { cat "$T/b3.out"; fail "the failed copy is not reported"; }
ctl wait devices.vss.frozen = false -t 5
ctl wait devices.vss.thaws = $((thaws + 1)) -t 5
ctl wait devices.vss.backups '>=' 1 -t 5
expect_line "$T/g.out" '"event":"vss"' '"op":"freeze"'
expect_line "$T/g.out" '"event":"vss"' '"op":"thaw"'
expect_line "$T/g.out" '"event":"vss"' '"op":"check"'
stop_daemon
