#!/usr/bin/env bash
# Guest benchmarks for `make bench`, each against a reference measured in
# this same run on the same machine (so the ratios mean something anywhere):
#   1. boot: QEMU start -> "every VMBus device bound" on vmbusd (a storvsp
#      disk and a netvsp NIC), versus QEMU start -> "every virtio device
#      bound" for the same kernel and initramfs on the same QEMU binary and
#      machine with a virtio-blk disk and a virtio-net NIC, their modules
#      loaded the same way (vmbusd.modules=); plus a plain boot to init for
#      scale.  The vmbusd boot's round trips to the daemon (MSR reads and
#      writes, EOMs, hypercalls, posts) are read from its status;
#   2. storage: one guest with a storvsc disk on vmbusd, a QEMU virtio-blk
#      disk and a QEMU virtio-scsi disk (identical raw images; virtio-scsi
#      shares storvsc's guest SCSI path, so storvsc / virtio-scsi is the
#      part a host decides), the rows interleaved: 1 MiB sequential read and write and
#      4 KiB random read and write with O_DIRECT, at queue depth 1 (one job)
#      and at queue depth 32 per job with one job per vCPU, storvsc with its
#      subchannels against virtio-blk with as many queues (fio in the
#      guest, through tests/guest/rootfs/usr/bin/fiobench: psync at QD 1,
#      libaio above);
#   3. network: the same guest, TCP guest -> host and host -> guest over a
#      TAP in a network namespace, through netvsc on vmbusd versus QEMU's
#      virtio-net (BENCH_NET_MIB each way, default 64);
#   4. DPDK: packets/s through dpdk-testpmd macswap with the netvsc PMD on a
#      netvsp NIC, 64 and 1500 bytes (tests/guest/bench-dpdk.sh; no reference).
# BENCH_RUNS runs of each measurement (storage: rounds inside one guest,
# default 5; the others: guests, default 3), the sides alternating; medians
# are reported.  BENCH_ONLY=boot|storage|net runs one part.
# BENCH_NET_NOVNET=1 / BENCH_NET_RSC=1 add netvsc variants (below).
set -euo pipefail
cd "$(dirname "$0")/../.."
VMBUSD=${VMBUSD:-build/vmbusd}
RUNS=${BENCH_RUNS:-3}
ONLY=${BENCH_ONLY:-all}
VCPUS=2
QEMU=$(qemu/build.sh --print-path)
GUEST_DIR=$(tests/guest/build-guest.sh --print-dir 2>/dev/null)
work=$(mktemp -d /tmp/vmbusd-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
SSDT=$(qemu/build-ssdt.sh "$work" | tail -1)
export VMBUSD_QEMU=$QEMU VMBUSD_GUEST_DIR=$GUEST_DIR VMBUSD_SSDT=$SSDT
part() { [ "$ONLY" = all ] || [ "$ONLY" = "$1" ]; }

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# BENCH_JSON=FILE (make bench: build/bench-guest.json): every row also as
# JSON for `vmbusd bench compare OLD NEW` — "value" its figure and "ratio"
# against its same-run reference, both higher-is-better (a boot is given as
# boots per minute and virtio's time / vmbusd's).
jrow() { # NAME SIZE VALUE UNIT RATIO
	printf '{"direction": "%s", "size": %s, "value": %s, "unit": "%s", "ratio": %s}\n' \
		"$1" "$2" "$3" "$4" "$5" >>"$work/rows.jsonl"
}
jwrite() {
	[ -n "${BENCH_JSON:-}" ] || return 0
	{ echo '{"bench": "guest", "rows": ['; sed '$!s/$/,/' "$work/rows.jsonl" 2>/dev/null; echo ']}'; } >"$BENCH_JSON"
	echo "bench: rows written to $BENCH_JSON"
}
dd if=/dev/zero of="$work/disk.img" bs=1M count=512 status=none

# QEMU start -> the first console line matching MARKER, in seconds.  The
# machine is the one `vmbusd run` starts (same memory backend and type),
# without the vmbus-user device and its ACPI table.
qemu_boot() { # MARKER KERNEL-ARGS [QEMU-ARGS...]
	local marker=$1 append=$2 start line
	shift 2
	start=$(date +%s%N)
	while IFS= read -r line; do
		case "$line" in *"@@VMBUSD $marker"*)
			awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'
			break ;;
		esac
	done < <(timeout 120 "$QEMU" -accel tcg -cpu max,+hypervisor -smp $VCPUS -m 512 \
		-object memory-backend-memfd,id=mem0,size=512M,share=on -machine pc,memory-backend=mem0 \
		-nodefaults -nic none -display none -serial stdio -L /usr/share/qemu -L /usr/share/seabios \
		-kernel "$GUEST_DIR/vmlinuz" -initrd "$GUEST_DIR/initrd.img" -no-reboot \
		-append "console=ttyS0 panic=-1 $append" "$@" </dev/null 2>/dev/null)
}
VIRTIO_DISK=(-drive "file=$work/disk.img,if=none,id=d0,format=raw"
	     -device "virtio-blk-pci,drive=d0,num-queues=$VCPUS")

if part boot; then
cat >"$work/boot.json" <<JSON
{ "name": "boot benchmark", "guest": { "vcpus": $VCPUS, "memory_mib": 512, "cmdline": "vmbusd.poweroff=bound vmbusd.expect=2 vmbusd.modules=hv_vmbus,hv_storvsc,hv_netvsc" },
  "devices": [ { "type": "storvsp", "disks": [ { "path": "$work/disk.img", "format": "raw" } ] },
               { "type": "netvsp", "name": "net0", "backend": { "kind": "null" } } ],
  "steps": [ { "step": "bound" },
             { "step": "status", "key": "hv.msr_reads", "op": ">=", "value": 0, "host_only": true },
             { "step": "status", "key": "hv.msr_writes", "op": ">=", "value": 0, "host_only": true },
             { "step": "status", "key": "hv.synic_eoms", "op": ">=", "value": 0, "host_only": true },
             { "step": "status", "key": "hv.hypercalls", "op": ">=", "value": 0, "host_only": true },
             { "step": "status", "key": "hv.post_messages", "op": ">=", "value": 0, "host_only": true },
             { "step": "status", "key": "hv.signal_events", "op": ">=", "value": 0, "host_only": true },
             { "step": "status", "key": "attach.requests", "op": ">=", "value": 0, "host_only": true },
             { "step": "poweroff" } ] }
JSON
echo "== boot: QEMU start to every device bound: VMBus (storvsp + netvsp) on vmbusd vs virtio-blk + virtio-net, median of $RUNS =="
plain=() virtio=() ours=()
for i in $(seq "$RUNS"); do
	plain+=("$(qemu_boot init vmbusd.poweroff=init)")
	virtio+=("$(qemu_boot virtio-devices \
		"vmbusd.modules=virtio_pci,virtio_blk,virtio_net vmbusd.virtio_expect=2 vmbusd.poweroff=bound" \
		"${VIRTIO_DISK[@]}" -netdev hubport,id=n0,hubid=0 -device virtio-net-pci,netdev=n0,romfile=)")
	mkdir -p "$work/boot$i"
	"$VMBUSD" run --workdir "$work/boot$i" "$work/boot.json" >"$work/boot$i.log" 2>&1 ||
		{ cat "$work/boot$i.log"; echo "bench: the vmbusd boot failed"; exit 1; }
	ours+=("$(grep -Eo 'devices bound: [0-9.]+' "$work/boot$i.log" | grep -Eo '[0-9.]+$')")
done
p=$(printf '%s\n' "${plain[@]}" | median); v=$(printf '%s\n' "${virtio[@]}" | median)
o=$(printf '%s\n' "${ours[@]}" | median)
printf '%-48s %8s s   (runs: %s)\n' "plain boot to init (no devices)" "$p" "${plain[*]}"
printf '%-48s %8s s   (runs: %s)\n' "virtio: boot to virtio-blk + virtio-net bound" "$v" "${virtio[*]}"
printf '%-48s %8s s   (runs: %s)\n' "vmbusd: boot to storvsc + netvsc bound" "$o" "${ours[*]}"
awk -v o="$o" -v v="$v" 'BEGIN { printf "%-48s %8.2f\n", "ratio (vmbusd / virtio)", o / v }'
jrow "boot to devices bound" 0 "$(awk -v o="$o" 'BEGIN { print 60 / o }')" "boots/min" \
	"$(awk -v o="$o" -v v="$v" 'BEGIN { print v / o }')"
echo "round trips of the last vmbusd boot (to every device bound, both vCPUs):"
grep -Eo '(hv|attach)\.[a-z_]+ = [0-9]+' "$work/boot$RUNS.log" | sed 's/^/  /'
fi

if part storage; then
echo
echo "== storage: storvsc on vmbusd vs virtio-blk and virtio-scsi, one guest with all three, rows interleaved =="
# One guest holds three disks: LUN 0 of a storvsp controller (sda), a
# virtio-blk disk (vda) and a virtio-scsi disk (the guest links it as
# /dev/vscsi), identical raw images.  virtio-blk is the issue's reference;
# virtio-scsi runs the same guest SCSI midlayer and sd driver as storvsc,
# so storvsc / virtio-scsi isolates what the host side (daemon, plugin,
# VMBus signalling) costs.  Every row runs on sda and then at once on vda
# and vscsi, ROUNDS times over (BENCH_RUNS, default 5), and
# each cell is the median: on a machine shared with other work the load
# changes within seconds and by 2x, so only rows measured side by side
# compare.  Rows: MODE BS COUNT QD JOBS; QD 32 runs one job per vCPU, so
# storvsc spreads over its primary channel and subchannel(s) (Linux asks
# for min(vCPUs - 1, offered) subchannels) and virtio-blk and virtio-scsi
# over as many queues.  BENCH_VMBUSD_BEFORE=path runs the same guest again
# on that (older) daemon and prints both storvsc/virtio-blk ratios: what a
# change bought, each measured against the virtio-blk of its own guest.
ROUNDS=${BENCH_RUNS:-5}
# BENCH_PIN=N runs every row's fio on vCPU N (taskset), for all three
# disks alike: with BENCH_STORVSP='"subchannels": 0' and N the vCPU its one
# channel interrupts (printed), storvsc completes on the submitting vCPU, as
# virtio does; without, Linux's storvsc completes on the other (README).
pin=${BENCH_PIN:+taskset -c $BENCH_PIN }
# Row lengths: every row runs for a few hundred milliseconds.  1 MiB rows of
# 128 (QD1) and 256 (QD32) requests ran 50-200 ms, mostly ramp: QD32 reads
# ran 1.1 GB/s over 256 requests and 3 GB/s over 1,024.
ROWS="read 1048576 512 1 1
write 1048576 512 1 1
randread 4096 3000 1 1
randwrite 4096 3000 1 1
read 1048576 1024 32 $VCPUS
write 1048576 1024 32 $VCPUS
randread 4096 12000 32 $VCPUS
randwrite 4096 12000 32 $VCPUS"
# Written the same way as disk.img: the host's page cache holds both alike
# (how a file was written decides its folio sizes, and ext4's buffered
# write cost grows with them).
dd if=/dev/zero of="$work/disk-virtio.img" bs=1M count=512 status=none
dd if=/dev/zero of="$work/disk-vscsi.img" bs=1M count=512 status=none
steps() {
	for r in $(seq "$ROUNDS"); do
		echo "$ROWS" | while read -r mode bs count qd jobs; do
			for dev in sda:storvsc vda:virtio-blk vscsi:virtio-scsi; do
				echo "    { \"step\": \"guest\", \"title\": \"${dev#*:}\", \"run\": \"${pin}fiobench /dev/${dev%%:*} $mode $bs $count $qd $jobs\", \"expect\": \"fio $mode bs=\", \"timeout_s\": 300 },"
			done
		done
	done
}
# The subchannel carries I/O too, unless BENCH_STORVSP sets the count.
sub_check='    { "step": "status", "key": "devices.disk.channels.1.requests", "op": ">", "value": 0, "host_only": true },'
case ${BENCH_STORVSP:-} in *subchannels*) sub_check= ;; esac
cat >"$work/storage.json" <<JSON
{ "name": "storvsc, virtio-blk and virtio-scsi benchmark", "guest": { "vcpus": $VCPUS, "memory_mib": 512,
    "qemu_args": [ "-drive", "file=$work/disk-virtio.img,if=none,id=d0,format=raw",
                   "-device", "virtio-blk-pci,drive=d0,num-queues=$VCPUS",
                   "-drive", "file=$work/disk-vscsi.img,if=none,id=d1,format=raw",
                   "-device", "virtio-scsi-pci,id=vs,num_queues=$VCPUS", "-device", "scsi-hd,drive=d1,bus=vs.0" ] },
  "devices": [ { "type": "shutdown" },
               { "type": "storvsp", "name": "disk", ${BENCH_STORVSP:+$BENCH_STORVSP,} "disks": [ { "path": "$work/disk.img", "format": "raw", "lun": 0 } ] } ],
  "steps": [ { "step": "bound" }, { "step": "marker", "event": "ready" },
    { "step": "guest", "run": "modprobe virtio_pci && modprobe virtio_blk && modprobe virtio_scsi && sleep 1 && ls /dev/vda", "expect": "vda" },
    { "step": "guest", "run": "for d in /sys/block/sd*; do grep -q QEMU \$d/device/vendor && ln -sf /dev/\${d##*/} /dev/vscsi; done; ls -l /dev/vscsi", "expect": "vscsi -> /dev/sd" },
    { "step": "guest", "run": "for d in /sys/bus/vmbus/devices/*; do grep -q ba6163d9 \$d/class_id && for c in \$d/channels/*; do printf 'relid %s on vCPU %s, ' \${c##*/} \$(cat \$c/cpu); done; done; echo storvsc channels", "expect": "storvsc channels" },
$(steps)
    { "step": "status", "key": "devices.disk.channels.0.requests", "op": ">", "value": 0, "host_only": true },
$sub_check
$(for k in inline_done inline_blocking inline_missed inline_stalls; do
	echo "    { \"step\": \"status\", \"key\": \"devices.disk.disks.0.scsi.blk.$k\", \"op\": \">=\", \"value\": 0, \"host_only\": true },"
done)
    { "step": "control", "device": "shutdown", "action": "shutdown", "guest_may_exit": true }, { "step": "poweroff" } ] }
JSON
run_storage() { # NAME DAEMON [SCENARIO]
	mkdir -p "$work/$1"
	"$2" run --workdir "$work/$1" "$work/${3:-storage.json}" >"$work/$1.log" 2>&1 ||
		{ cat "$work/$1.log"; echo "bench: the $1 storage run failed"; exit 1; }
	[ -z "${BENCH_KEEP:-}" ] || cp "$work/$1.log" "$BENCH_KEEP/"
}
run_storage after "$VMBUSD"
# An older daemon may lack some of the inline counters: its run skips them.
if [ -n "${BENCH_VMBUSD_BEFORE:-}" ]; then
	grep -v 'scsi\.blk\.inline_' "$work/storage.json" >"$work/storage-before.json"
	run_storage before "$BENCH_VMBUSD_BEFORE" storage-before.json
fi
val() { # RUN TITLE MODE BS QD KEY -> the median over the rounds
	grep -E "ok +$2 +fio $3 bs=$4 ops=[0-9]+ secs=[0-9.]+ MBps=[0-9.]+ IOPS=[0-9]+ qd=$5 " \
		"$work/$1.log" | grep -Eo " $6=[0-9.]+" | cut -d= -f2 | median
}
printf '%-34s %9s %10s %6s %11s %6s' "metric (median of $ROUNDS rounds)" "storvsc" "virtio-blk" "ratio" "virtio-scsi" "ratio"
[ -z "${BENCH_VMBUSD_BEFORE:-}" ] || printf '  %9s %10s %6s' "before" "virtio-blk" "ratio"
echo
echo "$ROWS" | while read -r mode bs count qd jobs; do
	if [ "$bs" -ge 1048576 ]; then key=MBps unit="MB/s" what="1 MiB $mode"
	else key=IOPS unit=IOPS what="4 KiB $mode"; fi
	s=$(val after storvsc "$mode" "$bs" "$qd" "$key"); v=$(val after virtio-blk "$mode" "$bs" "$qd" "$key")
	c=$(val after virtio-scsi "$mode" "$bs" "$qd" "$key")
	rv=$(awk -v s="$s" -v v="$v" 'BEGIN { print s / v }')
	rc=$(awk -v s="$s" -v c="$c" 'BEGIN { print s / c }')
	printf '%-34s %9s %10s %6.2f %11s %6.2f' "$what QD$qd x$jobs ($unit)" "$s" "$v" "$rv" "$c" "$rc"
	jrow "storvsc $mode QD$qd x$jobs" "$bs" "$s" "$unit" "$rv"
	jrow "storvsc $mode QD$qd x$jobs vs virtio-scsi" "$bs" "$s" "$unit" "$rc"
	if [ -n "${BENCH_VMBUSD_BEFORE:-}" ]; then
		s=$(val before storvsc "$mode" "$bs" "$qd" "$key"); v=$(val before virtio-blk "$mode" "$bs" "$qd" "$key")
		awk -v s="$s" -v v="$v" 'BEGIN { printf "  %9s %10s %6.2f", s, v, s / v }'
	fi
	echo
done
echo "storvsc requests per channel (primary, subchannel):"
grep -Eo 'disk\.channels\.[0-9]+\.requests = [0-9]+' "$work/after.log" | sed 's/^/  /' || true
grep -Eo 'relid .*storvsc channels' "$work/after.log" | sed 's/^/  interrupts: /' || true
echo "storvsc requests done on the daemon's loop (the raw backend's inline path, devices/blk/raw.c):"
grep -Eo 'blk\.inline_[a-z]+ = [0-9]+' "$work/after.log" | sed 's/^/  /' || true

# The daemon's own cost per request, which the machine's load hardly moves
# (throughput above does): CPU time (utime + stime, all threads) and
# context switches (voluntary + not, all threads) of the vmbusd process
# across each row on sda, read from /proc by host steps (their parent is
# the daemon) — BENCH_RUNS rounds, medians.
snap='{ "step": "host", "run": "echo cost LABEL $(awk \u0027{ print $14 + $15 }\u0027 /proc/$PPID/stat) $(cat /proc/$PPID/task/*/status | awk \u0027/ctxt_switches/ { s += $2 } END { print s }\u0027)", "expect": "cost" },'
COST_ROWS="randread 4096 3000 1 1
randwrite 4096 3000 1 1
randread 4096 12000 32 $VCPUS
randwrite 4096 12000 32 $VCPUS
read 1048576 256 32 $VCPUS"
cost_steps() {
	for r in $(seq "$ROUNDS"); do
		echo "$COST_ROWS" | while read -r mode bs count qd jobs; do
			echo "    ${snap/LABEL/a}"
			echo "    { \"step\": \"guest\", \"run\": \"fiobench /dev/sda $mode $bs $count $qd $jobs\", \"expect\": \"fio $mode bs=\", \"timeout_s\": 300 },"
			echo "    ${snap/LABEL/b}"
		done
	done
}
cat >"$work/cost.json" <<JSON
{ "name": "storvsp cost per request", "guest": { "vcpus": $VCPUS, "memory_mib": 512 },
  "devices": [ { "type": "shutdown" },
               { "type": "storvsp", "name": "disk", "disks": [ { "path": "$work/disk.img", "format": "raw", "lun": 0 } ] } ],
  "steps": [ { "step": "bound" }, { "step": "marker", "event": "ready" },
$(cost_steps)
    { "step": "control", "device": "shutdown", "action": "shutdown", "guest_may_exit": true }, { "step": "poweroff" } ] }
JSON
run_cost() { # NAME DAEMON -> "ops us-per-op cs-per-op" per step, in order
	mkdir -p "$work/cost-$1"
	"$2" run --workdir "$work/cost-$1" "$work/cost.json" >"$work/cost-$1.log" 2>&1 ||
		{ cat "$work/cost-$1.log"; echo "bench: the $1 cost run failed"; exit 1; }
	[ -z "${BENCH_KEEP:-}" ] || cp "$work/cost-$1.log" "$BENCH_KEEP/"
	grep -Eo 'cost [ab] [0-9]+ [0-9]+|fio [a-z]+ bs=[0-9]+ ops=[0-9]+ secs=[0-9.]+ MBps=[0-9.]+ IOPS=[0-9]+ qd=[0-9]+' "$work/cost-$1.log" |
		awk -v hz="$(getconf CLK_TCK)" '
			$2 == "a" { t = $3; c = $4 }
			$1 == "fio" { split($4, o, "="); ops = o[2]; row = $2 " " $3 " " $8 }
			$2 == "b" { printf "%s %.1f %.2f\n", row, ($3 - t) * 1e6 / hz / ops, ($4 - c) / ops }'
}
cost_cell() { # FILE ROW-PREFIX FIELD -> median
	grep "^$2 " "$1" | awk -v f="$3" '{ print $f }' | median
}
run_cost after "$VMBUSD" >"$work/cost-after.txt"
[ -z "${BENCH_VMBUSD_BEFORE:-}" ] || run_cost before "$BENCH_VMBUSD_BEFORE" >"$work/cost-before.txt"
echo
printf '%-34s %14s %14s' "daemon cost per storvsc request" "CPU us/req" "switches/req"
[ -z "${BENCH_VMBUSD_BEFORE:-}" ] || printf '  %14s %14s' "before: us/req" "switches/req"
echo
echo "$COST_ROWS" | while read -r mode bs count qd jobs; do
	printf '%-34s %14s %14s' "$mode bs=$bs QD$qd x$jobs" \
		"$(cost_cell "$work/cost-after.txt" "$mode bs=$bs qd=$qd" 4)" \
		"$(cost_cell "$work/cost-after.txt" "$mode bs=$bs qd=$qd" 5)"
	[ -z "${BENCH_VMBUSD_BEFORE:-}" ] ||
		printf '  %14s %14s' "$(cost_cell "$work/cost-before.txt" "$mode bs=$bs qd=$qd" 4)" \
			"$(cost_cell "$work/cost-before.txt" "$mode bs=$bs qd=$qd" 5)"
	echo
done
fi

part net || { jwrite; exit 0; }
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
# BENCH_NET_NOVNET=1 adds netvsc with a TAP without vnet headers (every
# LSO frame segmented and every checksum completed in vmbusd).
sed 's/"ifname": "vmbtb0" }/"ifname": "vmbtb0", "vnet_hdr": false }/' "$work/netvsc.json" >"$work/novnet.json"
# BENCH_NET_RSC=1 adds netvsc with RSC offered ("rsc": true: the host
# kernel's TSO frames reach the guest whole instead of as MSS segments).
sed 's/"queues": 2,/"queues": 2, "rsc": true,/' "$work/netvsc.json" >"$work/rsc.json"
variants="netvsc virtionet"
[ "${BENCH_NET_NOVNET:-0}" = 1 ] && variants="$variants novnet"
[ "${BENCH_NET_RSC:-0}" = 1 ] && variants="$variants rsc"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$RUNS"); do
	for which in $variants; do
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
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
runs() { # WHICH DIR -> every run's Mbit/s
	for i in $(seq "$RUNS"); do
		grep -Eo "netbench $2 mbits=[0-9.]+" "$work/$1$i.log" | grep -Eo '[0-9.]+$'
	done | tr '\n' ' '
}
printf '%-34s %12s %12s %8s   (median of %s runs each, %s MiB)\n' "metric" "netvsc" "virtio-net" "ratio" "$RUNS" "$NET_MIB"
for dir in g2h h2g; do
	s=$(nval netvsc $dir); v=$(nval virtionet $dir)
	awk -v n="TCP $dir (Mbit/s)" -v s="$s" -v v="$v" 'BEGIN { printf "%-34s %12s %12s %8.2f\n", n, s, v, s / v }'
	jrow "net TCP $dir" 0 "$s" "Mbit/s" "$(awk -v s="$s" -v v="$v" 'BEGIN { print s / v }')"
	if [[ $variants == *novnet* ]]; then
		s=$(nval novnet $dir)
		awk -v n="TCP $dir, TAP without vnet hdr" -v s="$s" -v v="$v" 'BEGIN { printf "%-34s %12s %12s %8.2f\n", n, s, v, s / v }'
	fi
	if [[ $variants == *rsc* ]]; then
		s=$(nval rsc $dir)
		awk -v n="TCP $dir, RSC offered" -v s="$s" -v v="$v" 'BEGIN { printf "%-34s %12s %12s %8.2f\n", n, s, v, s / v }'
	fi
done
for w in $variants; do echo "runs $w: g2h $(runs "$w" g2h)/ h2g $(runs "$w" h2g)"; done

echo
VMBUSD=$VMBUSD BENCH_RUNS=$RUNS tests/guest/bench-dpdk.sh
jwrite
