#!/usr/bin/env bash
# Integration tests: `vmbusd serve` and `vmbus-guest` as separate processes.
# Each tests/integration/t_*.sh is one test (exit 0 = pass); `run.sh NAME...`
# runs a subset.  Needs VMBUSD and VMBUS_GUEST (the Makefile sets them).
set -u
cd "$(dirname "$0")"
: "${VMBUSD:?set VMBUSD}" "${VMBUS_GUEST:?set VMBUS_GUEST}"
export VMBUSD VMBUS_GUEST
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(t_*.sh)
passed=0 failed=0 failures=()
for t in "${tests[@]}"; do
	t=${t%.sh}.sh
	start=$(date +%s%N)
	log=$(mktemp)
	if timeout 300 bash "$t" >"$log" 2>&1; then
		ms=$(( ($(date +%s%N) - start) / 1000000 ))
		printf 'integration: %-28s ok   (%d.%03d s)\n' "${t%.sh}" $((ms / 1000)) $((ms % 1000))
		passed=$((passed + 1))
	else
		printf 'integration: %-28s FAIL\n' "${t%.sh}"
		sed 's/^/    /' "$log" | tail -60
		failed=$((failed + 1)); failures+=("${t%.sh}")
	fi
	rm -f "$log"
done
[ "$failed" -eq 0 ] || echo "integration: failed: ${failures[*]}"
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
