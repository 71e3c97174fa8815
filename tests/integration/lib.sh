# Helpers shared by the integration tests (sourced).  Every test runs in its
# own temporary directory; the daemon and guests it starts are killed on exit.
set -euo pipefail
T=$(mktemp -d /tmp/vmbusd-it.XXXXXX)
SOCK=$T/vmbus.sock
CTL=$T/vmbus.sock.ctl
DAEMON_PID=
cleanup() {
	local rc=$?
	jobs -p | xargs -r kill -9 2>/dev/null || true
	if [ $rc -ne 0 ] && [ -f "$T/daemon.log" ]; then
		echo "--- daemon log (tail) ---"; tail -30 "$T/daemon.log"
	fi
	[ -n "${KEEP_T:-}" ] && [ $rc -ne 0 ] && echo "kept $T" || rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# start_daemon [serve options...]: starts vmbusd serve and waits for its sockets.
start_daemon() {
	"$VMBUSD" serve --socket "$SOCK" --control "$CTL" "$@" >"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && [ -S "$CTL" ] && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$T/daemon.log"; fail "daemon exited"; }
		sleep 0.05
	done
	fail "daemon did not create its sockets"
}

# daemon_alive: fails the test if the daemon died (crash, assert, sanitizer).
daemon_alive() {
	kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$T/daemon.log"; fail "daemon died"; }
}

stop_daemon() {
	"$VMBUSD" ctl -c "$CTL" quit >/dev/null
	wait "$DAEMON_PID" || fail "daemon exited with $?"
	if grep -E 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$T/daemon.log"; then
		fail "sanitizer report in daemon log"
	fi
}

ctl() { "$VMBUSD" ctl -c "$CTL" "$@"; }

# guest ARGS...: runs vmbus-guest against the daemon (JSON lines on stdout).
# In the background use "${GUEST[@]}" ARGS &: $! of a backgrounded shell
# function is a subshell, and killing it would leave the guest running.
GUEST=("$VMBUS_GUEST" --socket "$SOCK")
guest() { "${GUEST[@]}" "$@"; }

# expect_line FILE FRAGMENT...: one line of FILE contains every fragment.
expect_line() {
	local file=$1; shift
	local pat line
	while IFS= read -r line; do
		for pat in "$@"; do
			case "$line" in *"$pat"*) ;; *) continue 2 ;; esac
		done
		return 0
	done <"$file"
	echo "--- $file ---"; cat "$file"; fail "no line with: $*"
}

# expect_event FILE JSON-FRAGMENT: a line of FILE contains the fragment.
expect_event() {
	grep -qF -- "$2" "$1" || { echo "--- $1 ---"; cat "$1"; fail "no event matching $2"; }
}

# le32 N...: little-endian 32-bit words as raw bytes on stdout.
le32() {
	local v
	for v in "$@"; do
		printf "\\x$(printf %02x $((v & 255)))\\x$(printf %02x $(((v >> 8) & 255)))\\x$(printf %02x $(((v >> 16) & 255)))\\x$(printf %02x $(((v >> 24) & 255)))"
	done
}

# Expected disk images for the storvsc tests, built independently of the
# synthetic guest's pattern code:
# bytes VALUE COUNT: COUNT bytes of VALUE on stdout.
bytes() { head -c "$2" /dev/zero | tr '\0' "\\$(printf %03o "$1")"; }
# lba_blocks FIRST N: N 512-byte blocks in the guest's "lba" pattern (every
# 16 bytes of block L read "LBA=%011d\n").
lba_blocks() {
	local l k
	for ((l = $1; l < $1 + $2; l++)); do
		for ((k = 0; k < 32; k++)); do printf 'LBA=%011d\n' "$l"; done
	done
}
# put FILE LBA: stdin into FILE at 512-byte block LBA.
put() { dd of="$1" bs=512 seek="$2" conv=notrunc status=none; }

# replay_against CAPTURE [replay options...] -- GUEST-ARGS...: `vmbusd
# replay` on its own socket and a fresh synthetic guest against it.  The
# replay's output goes to $T/r.out, the guest's to $T/g2.out and its exit
# status to GRC; returns the replay's exit status.
replay_against() {
	local cap=$1 rpid rc=0 ropts=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do ropts+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	rm -f "$T/r.sock"
	"$VMBUSD" replay "$cap" --socket "$T/r.sock" --timeout 30 "${ropts[@]}" >"$T/r.out" 2>&1 &
	rpid=$!
	for _ in $(seq 300); do [ -S "$T/r.sock" ] && break; sleep 0.1; done  # a large capture loads for a while under ASan
	GRC=0
	"$VMBUS_GUEST" --socket "$T/r.sock" "$@" >"$T/g2.out" 2>&1 || GRC=$?
	wait "$rpid" || rc=$?
	return $rc
}
