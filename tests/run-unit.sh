#!/usr/bin/env bash
# Runs every check(3) unit-test binary given, then prints one total line.
# Each binary's summary is shown; its full output only when it failed.
set -u
passed=0 failed=0
for t in "$@"; do
	name=$(basename "$t")
	# check(3) kills a test after CK_DEFAULT_TIMEOUT s (4 by default): too
	# tight for the race tests under ASan on a loaded 2-core machine.
	out=$(CK_FORK=yes CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60} "$t" 2>&1); rc=$?
	checks=$(echo "$out" | sed -nE 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/p' | tail -1)
	if [ -z "$checks" ]; then
		echo "$out" | tail -30 | sed "s|^|$name: |"
		echo "$name: no check summary (crashed?), exit $rc"; failed=$((failed + 1)); continue
	fi
	read -r n f e <<<"$checks"
	passed=$((passed + n - f - e)); failed=$((failed + f + e))
	if [ $((f + e)) -gt 0 ] || [ "$rc" -ne 0 ]; then
		echo "$out" | grep -vE '^Running suite' | sed "s|^|$name: |"
		[ $((f + e)) -gt 0 ] || { echo "$name: exit $rc"; failed=$((failed + 1)); }
	else
		printf 'unit: %-22s %3d checks ok\n' "$name" "$n"
	fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
