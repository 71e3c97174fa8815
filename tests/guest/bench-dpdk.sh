#!/usr/bin/env bash
# DPDK benchmark (run by bench-guest.sh, or alone): packets per second
# through dpdk-testpmd --forward-mode=macswap with DPDK's netvsc PMD on a
# vmbusd netvsp NIC (uio_hv_generic, monitor-page signalling), at 64 and
# 1500 bytes.  The host injects frames on the NIC's dgram wire with
# tests/guest/dgram-frames.py, BENCH_DPDK_WINDOW (default 8) unanswered at a
# time, and counts the swapped ones coming back: a round-trip rate through
# the daemon, the guest's PMD and testpmd, under TCG.  testpmd's stdin is
# a pipe nobody writes to: a byte there would stop it.  No reference: there
# is no other host for this PMD to compare with.
#   BENCH_RUNS (default 3) boots; medians.  BENCH_DPDK_FRAMES (default 5000)
#   frames per size.
set -euo pipefail
cd "$(dirname "$0")/../.."
VMBUSD=${VMBUSD:-build/vmbusd}
RUNS=${BENCH_RUNS:-3}
WINDOW=${BENCH_DPDK_WINDOW:-8}
FRAMES=${BENCH_DPDK_FRAMES:-5000}
export VMBUSD_QEMU=${VMBUSD_QEMU:-$(qemu/build.sh --print-path)}
export VMBUSD_GUEST_DIR=${VMBUSD_GUEST_DIR:-$(tests/guest/build-guest.sh --print-dir 2>/dev/null)}
work=$(mktemp -d /tmp/vmbusd-bench-dpdk.XXXXXX)
trap 'rm -rf "$work"' EXIT
export VMBUSD_SSDT=${VMBUSD_SSDT:-$(qemu/build-ssdt.sh "$work" | tail -1)}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

cat >"$work/dpdk.json" <<JSON
{ "name": "DPDK testpmd macswap benchmark", "guest": { "vcpus": 2, "memory_mib": 512, "cmdline": "hugepages=64" },
  "devices": [ { "type": "shutdown" },
               { "type": "netvsp", "name": "d", "mac": "00:15:5d:00:0b:04",
                 "backend": { "kind": "dgram", "local": "\${WORKDIR}/d.sock", "remote": "\${WORKDIR}/peer.sock" } } ],
  "steps": [ { "step": "bound" },
    { "step": "guest", "run": "for n in /sys/class/net/*; do [ \\"\$(cat \$n/address)\\" = 00:15:5d:00:0b:04 ] && D=\$(basename \$(readlink \$n/device)); done; modprobe uio_hv_generic && echo f8615163-df3e-46c5-913f-f2d2f965ed0e > /sys/bus/vmbus/drivers/uio_hv_generic/new_id && echo \$D > /sys/bus/vmbus/drivers/hv_netvsc/unbind && echo \$D > /sys/bus/vmbus/drivers/uio_hv_generic/bind && (sleep 3000 2>/dev/null | LD_PRELOAD=/usr/lib/vmbusd/testpmd-qstate.so dpdk-testpmd -l 0-1 -n 1 -a \$D -- --forward-mode=macswap --total-num-mbufs=2048 --nb-cores=1 >/tmp/testpmd.log 2>&1 &) >/dev/null 2>&1 </dev/null; echo started", "expect": "started", "timeout_s": 60 },
    { "step": "status", "key": "devices.d.packet_filter", "op": "==", "value": 32, "timeout_s": 150 },
    { "step": "host", "run": "python3 tests/guest/dgram-frames.py \$WORKDIR/peer.sock \$WORKDIR/d.sock 00:15:5d:00:0b:04 $FRAMES:64,$FRAMES:1500 $WINDOW >\$WORKDIR/frames.txt; cat \$WORKDIR/frames.txt", "expect": "size=1500", "timeout_s": 600 },
    { "step": "control", "device": "shutdown", "action": "shutdown", "guest_may_exit": true }, { "step": "poweroff" } ] }
JSON

echo "== DPDK: dpdk-testpmd macswap with the netvsc PMD on netvsp (uio_hv_generic), $FRAMES frames per size, window $WINDOW, median of $RUNS =="
for i in $(seq "$RUNS"); do
	mkdir -p "$work/run$i"
	"$VMBUSD" run --workdir "$work/run$i" "$work/dpdk.json" >"$work/run$i.log" 2>&1 </dev/null ||
		{ cat "$work/run$i.log"; echo "bench: the DPDK run failed"; exit 1; }
done
for size in 64 1500; do
	runs=$(for i in $(seq "$RUNS"); do
		grep -Eo "size=$size sent=$FRAMES received=$FRAMES swapped=$FRAMES bad=0 elapsed_s=[0-9.]+ pps=[0-9]+" \
			"$work/run$i/frames.txt" | grep -Eo '[0-9]+$' || true
	done)
	[ -n "$runs" ] || { echo "bench: no DPDK result for $size bytes"; exit 1; }
	printf '%-44s %8s pkt/s   (runs: %s)\n' "testpmd macswap round trip, $size B" \
		"$(echo "$runs" | median)" "$(echo $runs)"
done
