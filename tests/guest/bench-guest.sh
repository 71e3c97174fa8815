#!/usr/bin/env bash
# Guest benchmarks for `make bench`, each against a reference measured in
# this same run on the same machine (so the ratios mean something anywhere):
#   1. boot: QEMU start -> "every VMBus device bound" on vmbusd, versus
#      QEMU start -> init on the same QEMU binary and kernel without VMBus;
#   2. storage: the same guest and the same raw image, through storvsc on
#      vmbusd versus QEMU's virtio-blk: sequential 1 MiB O_DIRECT read and
#      write, 4 KiB random read (queue depth 1, tests/guest/tools/iobench.c);
#   3. network: the same guest, TCP guest -> host and host -> guest over a
#      TAP in a network namespace, through netvsc on vmbusd versus QEMU's
#      virtio-net (BENCH_NET_MIB each way, default 64);
#   4. DPDK: packets/s through dpdk-testpmd macswap with the netvsc PMD on a
#      netvsp NIC, 64 and 1500 bytes (tests/guest/bench-dpdk.sh; no reference).
# BENCH_RUNS (default 3) runs of each measurement; medians are reported.
set -euo pipefail
cd "$(dirname "$0")/../.."
VMBUSD=${VMBUSD:-build/vmbusd}
RUNS=${BENCH_RUNS:-3}
QEMU=$(qemu/build.sh --print-path)
GUEST_DIR=$(tests/guest/build-guest.sh --print-dir 2>/dev/null)
work=$(mktemp -d /tmp/vmbusd-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
SSDT=$(qemu/build-ssdt.sh "$work" | tail -1)
export VMBUSD_QEMU=$QEMU VMBUSD_GUEST_DIR=$GUEST_DIR VMBUSD_SSDT=$SSDT

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Plain boot: QEMU start -> "@@VMBUSD init" (the init powers off at once).
plain_boot() {
	local start line
	start=$(date +%s%N)
	while IFS= read -r line; do
		case "$line" in *"@@VMBUSD init"*)
			awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'
			break ;;
		esac
	done < <(timeout 120 "$QEMU" -accel tcg -cpu max,+hypervisor -smp 2 -m 512 -nodefaults -nic none \
		-display none -serial stdio -L /usr/share/qemu -L /usr/share/seabios \
		-kernel "$GUEST_DIR/vmlinuz" -initrd "$GUEST_DIR/initrd.img" -no-reboot \
		-append "console=ttyS0 panic=-1 vmbusd.poweroff=init" </dev/null 2>/dev/null)
}

cat >"$work/boot.json" <<'JSON'
{ "name": "boot benchmark", "guest": { "vcpus": 2, "memory_mib": 512 },
  "steps": [ { "step": "bound" }, { "step": "control", "device": "shutdown", "action": "shutdown", "guest_may_exit": true },
             { "step": "poweroff" } ] }
JSON

echo "== boot: QEMU start to all VMBus devices bound (vmbusd) vs to init (plain), median of $RUNS =="
plain=() ours=()
for i in $(seq "$RUNS"); do
	plain+=("$(plain_boot)")
	mkdir -p "$work/boot$i"
	"$VMBUSD" run --workdir "$work/boot$i" "$work/boot.json" >"$work/boot$i.log" 2>&1 ||
		{ cat "$work/boot$i.log"; echo "bench: the vmbusd boot failed"; exit 1; }
	ours+=("$(grep -Eo 'devices bound: [0-9.]+' "$work/boot$i.log" | grep -Eo '[0-9.]+$')")
done
p=$(printf '%s\n' "${plain[@]}" | median); o=$(printf '%s\n' "${ours[@]}" | median)
printf '%-44s %8s s   (runs: %s)\n' "plain QEMU boot to init" "$p" "${plain[*]}"
printf '%-44s %8s s   (runs: %s)\n' "vmbusd: boot to all VMBus devices bound" "$o" "${ours[*]}"
awk -v o="$o" -v p="$p" 'BEGIN { printf "%-44s %8.2f\n", "ratio (vmbusd bound / plain init)", o / p }'

echo
echo "== storage: storvsc on vmbusd vs virtio-blk, same guest, same raw image =="
dd if=/dev/zero of="$work/disk.img" bs=1M count=512 status=none
iob() { # DEV -> the three iobench steps
	cat <<JSON
    { "step": "guest", "run": "iobench $1 read 1048576 256", "expect": "iobench", "timeout_s": 300 },
    { "step": "guest", "run": "iobench $1 write 1048576 256", "expect": "iobench", "timeout_s": 300 },
    { "step": "guest", "run": "iobench $1 randread 4096 4000", "expect": "iobench", "timeout_s": 300 },
JSON
}
cat >"$work/storvsc.json" <<JSON
{ "name": "storvsc benchmark", "guest": { "vcpus": 2, "memory_mib": 512 },
  "devices": [ { "type": "shutdown" },
               { "type": "storvsp", "disks": [ { "path": "$work/disk.img", "format": "raw", "lun": 0 } ] } ],
  "steps": [ { "step": "bound" }, { "step": "marker", "event": "ready" },
$(iob /dev/sda)
    { "step": "control", "device": "shutdown", "action": "shutdown", "guest_may_exit": true }, { "step": "poweroff" } ] }
JSON
cat >"$work/virtio.json" <<JSON
{ "name": "virtio-blk baseline", "guest": { "vcpus": 2, "memory_mib": 512,
    "qemu_args": [ "-drive", "file=$work/disk.img,if=virtio,format=raw" ] },
  "devices": [ { "type": "shutdown" } ],
  "steps": [ { "step": "bound" }, { "step": "marker", "event": "ready" },
    { "step": "guest", "run": "modprobe virtio_pci && modprobe virtio_blk && sleep 1 && ls /dev/vda", "expect": "vda" },
$(iob /dev/vda)
    { "step": "control", "device": "shutdown", "action": "shutdown", "guest_may_exit": true }, { "step": "poweroff" } ] }
JSON
# Alternate the two so drift on a shared machine hits both alike; medians.
for i in $(seq "$RUNS"); do
	for which in storvsc virtio; do
		mkdir -p "$work/$which$i"
		"$VMBUSD" run --workdir "$work/$which$i" "$work/$which.json" >"$work/$which$i.log" 2>&1 ||
			{ cat "$work/$which$i.log"; echo "bench: the $which run failed"; exit 1; }
	done
done
val() { # WHICH MODE KEY -> median over the runs
	for i in $(seq "$RUNS"); do
		grep -Eo "iobench $2 bs=[0-9]+ ops=[0-9]+ secs=[0-9.]+ MBps=[0-9.]+ IOPS=[0-9]+" "$work/$1$i.log" |
			grep -Eo "$3=[0-9.]+" | cut -d= -f2
	done | median
}
printf '%-34s %12s %12s %8s   (median of %s runs each)\n' "metric" "storvsc" "virtio-blk" "ratio" "$RUNS"
for row in "read MBps seq 1 MiB read (MB/s)" "write MBps seq 1 MiB write (MB/s)" "randread IOPS 4 KiB random read (IOPS)"; do
	set -- $row; mode=$1 key=$2; shift 2
	s=$(val storvsc "$mode" "$key"); v=$(val virtio "$mode" "$key")
	awk -v n="$*" -v s="$s" -v v="$v" 'BEGIN { printf "%-34s %12s %12s %8.2f\n", n, s, v, s / v }'
done

echo
echo "== network: netvsc on vmbusd vs virtio-net, same guest, same TAP arrangement (netns) =="
# TCP over a TAP that the test moves into its own network namespace; busybox
# nc both ends; NET_MIB each way; Mbit/s from the guest's /proc/uptime.
NET_MIB=${BENCH_NET_MIB:-64}
ns=vmbusd-bench-net
netsteps() { # NIC-setup guest command
	cat <<JSON
    { "step": "host", "run": "ip netns del $ns 2>/dev/null; ip netns add $ns && ip link set vmbtb0 netns $ns && ip -n $ns addr add 10.215.0.1/24 dev vmbtb0 && ip -n $ns link set vmbtb0 up && echo ok", "expect": "ok" },
    { "step": "guest", "run": "$1 ip addr add 10.215.0.2/24 dev eth0 && ip link set eth0 up && sleep 2 && ping -c 1 -W 5 10.215.0.1 >/dev/null && echo up", "expect": "up", "timeout_s": 60 },
    { "step": "host", "run": "(sleep 300 | ip netns exec $ns busybox nc -l -p 5001 >/dev/null 2>&1 &); sleep 0.5; echo ok", "expect": "ok" },
    { "step": "guest", "run": "s=\$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero bs=1M count=$NET_MIB 2>/dev/null | nc 10.215.0.1 5001; e=\$(cut -d' ' -f1 /proc/uptime); awk -v s=\$s -v e=\$e 'BEGIN { printf \"netbench g2h mbits=%.1f\\\\n\", $NET_MIB * 8.388608 / (e - s) }'", "expect": "netbench", "timeout_s": 600 },
    { "step": "host", "run": "(dd if=/dev/zero bs=1M count=$NET_MIB 2>/dev/null | ip netns exec $ns busybox nc -l -p 5002 >/dev/null 2>&1 &); sleep 0.5; echo ok", "expect": "ok" },
    { "step": "guest", "run": "s=\$(cut -d' ' -f1 /proc/uptime); nc 10.215.0.1 5002 -e sh -c 'cat >/dev/null'; e=\$(cut -d' ' -f1 /proc/uptime); awk -v s=\$s -v e=\$e 'BEGIN { printf \"netbench h2g mbits=%.1f\\\\n\", $NET_MIB * 8.388608 / (e - s) }'", "expect": "netbench", "timeout_s": 600 },
    { "step": "control", "device": "shutdown", "action": "shutdown", "guest_may_exit": true }, { "step": "poweroff" },
    { "step": "host", "run": "ip netns del $ns && echo ok", "expect": "ok" } ] }
JSON
}
cat >"$work/netvsc.json" <<JSON
{ "name": "netvsc benchmark", "guest": { "vcpus": 2, "memory_mib": 512 },
  "devices": [ { "type": "shutdown" },
               { "type": "netvsp", "name": "net0", "queues": 2, "backend": { "kind": "tap", "ifname": "vmbtb0" } } ],
  "steps": [ { "step": "bound" }, { "step": "marker", "event": "ready" },
$(netsteps "")
JSON
cat >"$work/virtionet.json" <<JSON
{ "name": "virtio-net baseline", "guest": { "vcpus": 2, "memory_mib": 512,
    "qemu_args": [ "-netdev", "tap,id=n0,ifname=vmbtb0,script=no,downscript=no",
                   "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,romfile=" ] },
  "devices": [ { "type": "shutdown" } ],
  "steps": [ { "step": "bound" }, { "step": "marker", "event": "ready" },
$(netsteps "modprobe virtio_pci && modprobe virtio_net && sleep 1 &&")
JSON
for i in $(seq "$RUNS"); do
	for which in netvsc virtionet; do
		mkdir -p "$work/$which$i"
		"$VMBUSD" run --workdir "$work/$which$i" "$work/$which.json" >"$work/$which$i.log" 2>&1 </dev/null ||
			{ cat "$work/$which$i.log"; ip netns del "$ns" 2>/dev/null; echo "bench: the $which run failed"; exit 1; }
	done
done
nval() { # WHICH DIR -> median Mbit/s over the runs
	for i in $(seq "$RUNS"); do
		grep -Eo "netbench $2 mbits=[0-9.]+" "$work/$1$i.log" | grep -Eo '[0-9.]+$'
	done | median
}
printf '%-34s %12s %12s %8s   (median of %s runs each, %s MiB)\n' "metric" "netvsc" "virtio-net" "ratio" "$RUNS" "$NET_MIB"
for dir in g2h h2g; do
	s=$(nval netvsc $dir); v=$(nval virtionet $dir)
	awk -v n="TCP $dir (Mbit/s)" -v s="$s" -v v="$v" 'BEGIN { printf "%-34s %12s %12s %8.2f\n", n, s, v, s / v }'
done

echo
VMBUSD=$VMBUSD BENCH_RUNS=$RUNS tests/guest/bench-dpdk.sh
