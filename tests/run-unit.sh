#!/usr/bin/env bash
# Runs every check(3) unit-test binary given, then prints one total line.
# Each binary prints check's own summary ("100%: Checks: N, Failures: 0, Errors: 0").
set -u
passed=0 failed=0
for t in "$@"; do
	out=$(CK_FORK=yes "$t" 2>&1); rc=$?
	echo "$out" | grep -vE '^Running suite' | sed "s|^|$(basename "$t"): |"
	checks=$(echo "$out" | sed -nE 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/p' | tail -1)
	if [ -z "$checks" ]; then
		echo "$(basename "$t"): no check summary (crashed?), exit $rc"; failed=$((failed + 1)); continue
	fi
	read -r n f e <<<"$checks"
	passed=$((passed + n - f - e)); failed=$((failed + f + e))
	[ "$rc" -eq 0 ] || [ $((f + e)) -gt 0 ] || { echo "$(basename "$t"): exit $rc"; failed=$((failed + 1)); }
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
