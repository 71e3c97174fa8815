#!/usr/bin/env bash
# Short libFuzzer runs of every target: make fuzz (FUZZ_SECONDS per target).
# Each target starts from its seed corpus in tests/fuzz/corpus/<name>/ (if
# any) and a scratch copy, so CI never writes into the tree.
set -u
secs=$1; shift
passed=0 failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for bin in "$@"; do
	name=$(basename "$bin")
	mkdir -p "$work/$name"
	seeds=tests/fuzz/corpus/${name#fuzz_}
	[ -d "$seeds" ] && cp -r "$seeds"/. "$work/$name/"
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/$name-" "$work/$name" >"$work/$name.log" 2>&1; then
		echo "fuzz: $name: ok ($(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$work/$name.log" | grep -Eo '[0-9]+$') runs)"
		passed=$((passed + 1))
	else
		echo "fuzz: $name: FAILED"; tail -40 "$work/$name.log"
		mkdir -p build-fuzz/crashes && cp "$work/$name"-* build-fuzz/crashes/ 2>/dev/null
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
