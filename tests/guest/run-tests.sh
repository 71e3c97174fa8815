#!/usr/bin/env bash
# Real Linux guest tests (make check-guest): every scenario in
# tests/guest/scenarios/ plus scenarios/demo.json under `vmbusd run`, and two
# guests at once (one daemon each).  `run-tests.sh NAME...` runs a subset.
# Logs of a failed run are kept and shown.
set -u
cd "$(dirname "$0")/../.."
VMBUSD=${VMBUSD:-build/vmbusd}
QEMU=$(qemu/build.sh --print-path) || { echo "guest: cannot build the patched QEMU"; exit 1; }
GUEST_DIR=$(tests/guest/build-guest.sh --print-dir) || { echo "guest: cannot build the guest image"; exit 1; }
work=$(mktemp -d /tmp/vmbusd-guest.XXXXXX)
SSDT=$(qemu/build-ssdt.sh "$work" | tail -1) || { echo "guest: cannot build the SSDT"; exit 1; }
export VMBUSD_QEMU=$QEMU VMBUSD_GUEST_DIR=$GUEST_DIR VMBUSD_SSDT=$SSDT

passed=0 failed=0 failures=()

# run_scenario NAME FILE: one `vmbusd run`, its own work directory.
run_scenario() {
	local name=$1 file=$2 dir=$work/$1
	mkdir -p "$dir"
	timeout 400 "$VMBUSD" run --workdir "$dir" "$file" >"$dir/run.log" 2>&1
}

report() { # NAME RC
	if [ "$2" -eq 0 ]; then
		printf 'guest: %-22s ok   (%s)\n' "$1" "$(grep -Eo 'boot to all VMBus devices bound: [0-9.]+ s' "$work/$1/run.log" | head -1)"
		passed=$((passed + 1))
	else
		printf 'guest: %-22s FAIL\n' "$1"
		sed 's/^/    /' "$work/$1/run.log" | tail -40
		[ -f "$work/$1/console.log" ] && { echo "    --- console (tail) ---"; tail -25 "$work/$1/console.log" | sed 's/^/    /'; }
		failed=$((failed + 1)); failures+=("$1")
	fi
}

wanted() { [ $# -eq 0 ] || [[ " $* " == *" $NAME "* ]]; }

for file in scenarios/demo.json tests/guest/scenarios/*.json; do
	NAME=$(basename "$file" .json)
	[ "$NAME" = small ] && continue
	wanted "$@" || continue
	run_scenario "$NAME" "$file"; report "$NAME" $?
done

NAME=two-guests
if wanted "$@"; then
	run_scenario two-guests-a tests/guest/scenarios/small.json & a=$!
	run_scenario two-guests-b tests/guest/scenarios/small.json & b=$!
	wait $a; ra=$?; wait $b; rb=$?
	report two-guests-a $ra; report two-guests-b $rb
fi

if [ "$failed" -eq 0 ]; then rm -rf "$work"; else echo "guest: failed: ${failures[*]} (logs in $work)"; fi
echo "guest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
