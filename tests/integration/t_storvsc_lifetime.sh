# No guest RAM access after close, RESET or detach.  A slow disk (the
# daemon's "blk.delay" fault point: 1 s per request) has six 4 KiB READs
# in flight when the guest closes its channels, resets, or its frontend
# detaches (and the daemon stopping); the guest then watches the six buffers for 1.5 s: not one byte may
# change (the daemon cancels what had not started and waits for the running
# transfers before it lets go).  For raw images with the page cache, with
# cache "none" (O_DIRECT through a bounce buffer: once a SIGSEGV on detach)
# and for qcow2 through qemu-storage-daemon (NBD); the daemon keeps serving
# a next guest after each.
. ./lib.sh
{ yes 'vmbusd!' || true; } | head -c 4194304 >"$T/a.img"
qcow=
if command -v qemu-img >/dev/null && command -v qemu-storage-daemon >/dev/null; then
	qemu-img convert -O qcow2 "$T/a.img" "$T/a.qcow2"
	qcow=qcow2
fi
reads=()
for i in 0 1 2 3 4 5; do reads+=(read-async 0 $((i * 8)) 8); done
# What each case exercises: every way to let go with the page cache; with
# O_DIRECT the bounce copy (reset, detach); with NBD the backend's own
# buffers (close, detach).
for case in "raw writeback close partition-reset detach" "raw none partition-reset detach" \
	${qcow:+"qcow2 writeback close detach"}; do
	set -- $case
	fmt=$1 cache=$2 img=$T/a.img
	shift 2
	[ "$fmt" = qcow2 ] && img=$T/a.qcow2
	cat >"$T/c.json" <<JSON
{"devices":[{"type":"storvsp","disks":[{"path":"$img","format":"$fmt","cache":"$cache"}]}]}
JSON
	start_daemon --config "$T/c.json"
	for how in "$@"; do
		ctl fault blk.delay 0 0 >/dev/null
		guest storvsc "${reads[@]}" "$how" untouched 1500 >"$T/out" ||
			{ cat "$T/out"; fail "$fmt/$cache/$how: the guest's buffers changed"; }
		expect_line "$T/out" '"step":"untouched"' '"ok":true' '"changed_bytes":0'
		ctl fault blk.delay 4294967295 1 >/dev/null   # disarmed: never reached
		daemon_alive
		# The daemon serves the next guest, reads included.
		guest storvsc tur 0 raw-cdb 0 28000000004000000800 4096 in >"$T/next" ||
			{ cat "$T/next"; fail "$fmt/$cache/$how: next guest"; }
		echo "$fmt/$cache/$how: $(grep -o '"landed_before":[0-9]*' "$T/out")"
	done
	# The daemon stopping with reads in flight lets go the same way (it
	# detaches the frontend before it unmaps anything) and exits cleanly.
	ctl fault blk.delay 0 0 >/dev/null
	"${GUEST[@]}" storvsc "${reads[@]}" sleep 60000 >"$T/q" 2>&1 &
	G=$!
	for _ in $(seq 100); do
		[ "$(grep -c '"step":"read-async"' "$T/q")" -ge 6 ] && break
		sleep 0.05
	done
	stop_daemon
	wait $G || true
	echo "$fmt/$cache/daemon stop: clean"
done
