#!/bin/bash
# Boot the vmbusd test guest under plain (Debian) QEMU with TCG and no VMBus.
# This is the baseline for the "boot to init" benchmark and a smoke test of
# the guest image and its marker/command protocol:
#   - waits for "@@VMBUSD ready", runs "@@CMD 1 uname -r" over the serial
#     console and checks "@@OUT 1 <kernel version>" / "@@VMBUSD done 1 0",
#   - sends "@@CMD 2 poweroff" and waits for QEMU to exit.
# The last line is "plain-boot-to-init <guest uptime s> wall <s>".
#
#   run-plain.sh [--quick] [--cmd CMD]... [--log FILE] [-- EXTRA KERNEL PARAMS...]
#     --quick   only boot and power off (vmbusd.poweroff=1), no command test
#     --cmd     run CMD in the guest after the uname test (output to stderr)
#     --repeat N  N --quick boots; prints each result, then
#               "plain-boot-to-init-summary min <s> median <s> max <s>"
#
# Environment: QEMU (default qemu-system-x86_64, installed via apt if
# missing), QEMU_MEM (512), QEMU_SMP (1), QEMU_CPU (max), QEMU_EXTRA,
# TIMEOUT (seconds for the whole run, 120), GUEST_DIR (skip build-guest.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
quick=0 logf="" extra=() cmds=()
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--log) logf=$2; shift ;;
	--cmd) cmds+=("$2"); shift ;;
	--repeat)
		n=$2; shift 2
		res=""
		for _ in $(seq "$n"); do
			r=$("$0" --quick "$@" 2>/dev/null | tail -n 1) || { echo "run-plain: boot failed" >&2; exit 1; }
			echo "$r"
			res="$res${r#plain-boot-to-init } "
		done
		printf '%s\n' $res | awk 'NR % 3 == 1' | sort -n | awk '
			{ v[NR] = $1 }
			END { printf "plain-boot-to-init-summary min %s median %s max %s\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
		exit 0 ;;
	--) shift; extra=("$@"); break ;;
	-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
	*) echo "run-plain: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

QEMU=${QEMU:-qemu-system-x86_64}
if ! command -v "$QEMU" >/dev/null; then
	SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
	echo "run-plain: installing qemu-system-x86" >&2
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-system-x86 >&2
fi
dir=${GUEST_DIR:-$("$HERE/build-guest.sh" --print-dir | tail -n 1)}
kv=$(cat "$dir/kernel-version")
TIMEOUT=${TIMEOUT:-120}

append="console=ttyS0 panic=-1 quiet vmbusd.wait=20"
[ $quick = 0 ] || append="$append vmbusd.poweroff=1"
[ ${#extra[@]} = 0 ] || append="$append ${extra[*]}"

[ -n "$logf" ] || logf=$(mktemp "${TMPDIR:-/tmp}/vmbusd-plain.XXXXXX.log")
: >"$logf"
echo "run-plain: $QEMU, kernel $kv, log $logf" >&2
echo "run-plain: append: $append" >&2

now() { date +%s.%N; }
t0=$(now)
# shellcheck disable=SC2086
coproc QEMU_PROC {
	exec "$QEMU" -M pc -accel tcg -cpu "${QEMU_CPU:-max}" -m "${QEMU_MEM:-512}" \
		-smp "${QEMU_SMP:-1}" -nic none -display none -monitor none \
		-serial stdio -no-reboot \
		-kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" -append "$append" \
		${QEMU_EXTRA:-} 2>&1
}
qpid=$QEMU_PROC_PID
exec {qin}>&"${QEMU_PROC[1]}" {qout}<&"${QEMU_PROC[0]}"

fail() {
	echo "run-plain: FAIL: $*" >&2
	kill "$qpid" 2>/dev/null || true
	exit 1
}

# expect REGEX: read console lines until one matches; sets $line.
expect() {
	local left
	while :; do
		left=$(awk -v a="$t0" -v b="$(now)" -v t="$TIMEOUT" 'BEGIN { d = t - (b - a); print (d > 0 ? d : 0) }')
		if ! IFS= read -r -t "$left" line <&"$qout"; then
			fail "timeout or EOF waiting for /$1/"
		fi
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$logf"
		case "$line" in @@*) echo "  $line" >&2 ;; esac
		[[ "$line" =~ $1 ]] && return 0
	done
}

expect '^@@VMBUSD init '
init_up=${line#@@VMBUSD init }
init_wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')

expect '^@@VMBUSD (ready |poweroff)'
if [ $quick = 0 ]; then
	printf '@@CMD 1 uname -r\n' >&"$qin"
	expect '^@@OUT 1 '
	[ "$line" = "@@OUT 1 $kv" ] || fail "unexpected output: $line"
	expect '^@@VMBUSD done 1 '
	[ "$line" = "@@VMBUSD done 1 0" ] || fail "unexpected status: $line"
	id=10
	for c in "${cmds[@]}"; do
		id=$((id + 1))
		printf '@@CMD %s %s\n' "$id" "$c" >&"$qin"
		expect "^@@VMBUSD done $id "
	done
	printf '@@CMD 2 poweroff\n' >&"$qin"
fi
case "$line" in *poweroff*) ;; *) expect '^@@VMBUSD poweroff' ;; esac
# Drain the console until QEMU exits.
while IFS= read -r -t 30 line <&"$qout"; do
	printf '%s\n' "${line%$'\r'}" >>"$logf"
done
for _ in $(seq 100); do
	kill -0 "$qpid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$qpid" 2>/dev/null && fail "QEMU did not exit after poweroff"
wait "$qpid" 2>/dev/null || true
total=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
echo "run-plain: OK, QEMU exited after ${total}s" >&2
echo "plain-boot-to-init $init_up wall $init_wall"
