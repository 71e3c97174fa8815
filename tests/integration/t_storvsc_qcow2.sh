# storvsc over a qcow2 image (NBD backend: qemu-storage-daemon + libnbd).
# Without NBD support the daemon must refuse format qcow2 with its clear
# "needs vmbusd built with libnbd" error; the test is then skipped.
. ./lib.sh
command -v qemu-img >/dev/null || { echo "skipped: no qemu-img"; exit 0; }
qemu-img create -q -f qcow2 "$T/q.qcow2" 16M
cat >"$T/c.json" <<JSON
{"devices":[{"type":"storvsp","subchannels":1,"disks":[
  {"path":"$T/q.qcow2","format":"qcow2","serial":"QCOW","lun":0}]}]}
JSON
"$VMBUSD" serve --socket "$SOCK" --control "$CTL" --config "$T/c.json" >"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 300); do
	[ -S "$SOCK" ] && [ -S "$CTL" ] && break
	if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
		wait "$DAEMON_PID" || true
		if grep -q 'format "qcow2" needs vmbusd built with libnbd' "$T/daemon.log"; then
			echo "skipped: no NBD backend"
			: >"$T/daemon.log"
			exit 0
		fi
		cat "$T/daemon.log"; fail "daemon refused the qcow2 image without the NBD message"
	fi
	sleep 0.05
done
[ -S "$CTL" ] || fail "daemon did not create its sockets"
grep -q 'qcow2' "$T/daemon.log" || fail "daemon log does not name the format"
guest storvsc --subchannels 1 \
	inquiry-vpd 0 0x80 serial=QCOW \
	capacity 0 bytes=16777216 \
	write 0 0 8 0xc3 write 0 30000 100 lba write 0 32767 1 lba \
	parallel 0 64 lba=2048 \
	read-verify 0 0 8 0xc3 read-verify 0 30000 100 lba read-verify 0 32767 1 lba \
	read-verify 0 8 1000 0 \
	write 0 32768 1 0 expect-sense 5/21/00 \
	sync 0 >"$T/out" || { cat "$T/out"; fail "storvsc script failed"; }
expect_event "$T/out" '"event":"storvsc_done","ok":true'
st=$(ctl status)
[ "$(jq -r '.result.devices.storvsp.disks[0].scsi.blk.format' <<<"$st")" = qcow2 ] || fail "format: $st"
stop_daemon

# What qemu-img reads from the image is what the guest wrote.
qemu-img check -q "$T/q.qcow2" || fail "qcow2 image is inconsistent"
qemu-img convert -f qcow2 -O raw "$T/q.qcow2" "$T/got.raw"
truncate -s 16M "$T/exp.raw"
bytes 0xc3 4096 | put "$T/exp.raw" 0
lba_blocks 30000 100 | put "$T/exp.raw" 30000
lba_blocks 32767 1 | put "$T/exp.raw" 32767
lba_blocks 2048 512 | put "$T/exp.raw" 2048       # parallel: 64 x 4 KiB from LBA 2048
cmp "$T/got.raw" "$T/exp.raw" || fail "qcow2 contents differ from what was written"
