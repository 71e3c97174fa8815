#!/usr/bin/env bash
# The shipped scenarios, checked and run:
#  1. every one is valid against the JSON Schema (docs/scenario.schema.json,
#     python3-jsonschema) and the engine's own checks (`vmbusd run --check`:
#     step kinds, each step's keys and values, device names and types, the
#     guest kind), so neither can drift from the other or from the files;
#  2. the schema and the engine refuse the same mistakes;
#  3. every synthetic-guest scenario (no QEMU; milliseconds each) RUNS, in one
#     `vmbusd run --keep-going --junit`, and the JUnit file is well formed;
#  4. the engine can fail: tests/scenarios/fail-verdict.json fails exactly
#     the steps it should with the messages it should, and the invalid files
#     there are refused before anything starts, naming the JSON path.
# Real-guest scenarios run in `make check-guest` (tests/guest/run-tests.sh).
set -u
cd "$(dirname "$0")/.."
VMBUSD=${VMBUSD:-build/vmbusd}
VMBUS_GUEST=${VMBUS_GUEST:-$(dirname "$VMBUSD")/vmbus-guest}
export VMBUS_GUEST
files=(scenarios/*.json tests/guest/scenarios/*.json tests/guest/replay/*.json tests/guest/wire/*.json tests/guest/reports/keep-going.json
	tests/scenarios/fail-verdict.json)
refused=(tests/scenarios/fail-invalid.json tests/scenarios/fail-real-step.json
	tests/scenarios/fail-io-background.json)
T=$(mktemp -d /tmp/vmbusd-check-scenarios.XXXXXX)
trap 'rm -rf "$T"' EXIT
rc=0
mkdir -p "$T/run" "$T/fail"
fail() { echo "check-scenarios: $*"; rc=1; }

# ---- 1, 2: schema and engine agree -------------------------------------------
python3 - docs/scenario.schema.json "${files[@]}" -- "${refused[@]}" <<'PY' || rc=1
import json, sys
import jsonschema
args = sys.argv[2:]
sep = args.index("--")
good, bad = args[:sep], args[sep + 1:]
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
errors = 0
for f in good:
    for e in v.iter_errors(json.load(open(f))):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)
        print(f"{f}: {path.lstrip('.') or '(top)'}: {e.message[:200]}")
        errors += 1
for f in bad:
    if not list(v.iter_errors(json.load(open(f)))):
        print(f"{f}: the schema accepts what the engine refuses")
        errors += 1
sys.exit(1 if errors else 0)
PY
"$VMBUSD" run --check "${files[@]}" >"$T/check.out" || { cat "$T/check.out"; rc=1; }
printf '{"steps":[{"step":"guest","run":"true","expext":"x"}]}' >"$T/typo.json"
python3 -c "
import json, sys, jsonschema
v = jsonschema.Draft202012Validator(json.load(open('docs/scenario.schema.json')))
sys.exit(0 if list(v.iter_errors(json.load(open(sys.argv[1])))) else 1)" "$T/typo.json" ||
	fail "the schema accepted a step with an unknown key"
"$VMBUSD" run --check "$T/typo.json" >/dev/null &&
	fail "vmbusd run --check accepted a step with an unknown key"

# ---- 3: run every synthetic-guest scenario ---------------------------------------
mapfile -t synthetic < <(python3 -c "
import json, sys
for f in sys.argv[1:]:
    if json.load(open(f)).get('guest', {}).get('kind') == 'synthetic' and 'tests/scenarios/' not in f:
        print(f)" "${files[@]}")
if [ ${#synthetic[@]} -lt 20 ]; then
	fail "only ${#synthetic[@]} synthetic-guest scenarios found"
fi
start=$(date +%s.%N)
"$VMBUSD" run --keep-going --junit "$T/junit.xml" --workdir "$T/run" "${synthetic[@]}" \
	>"$T/run.out" 2>&1
status=$?
end=$(date +%s.%N)
if [ $status -ne 0 ]; then
	grep -E 'FAIL|NOT RUN|vmbusd run: .*:' "$T/run.out" | head -40
	fail "synthetic scenarios: vmbusd run exited $status (log above)"
fi
python3 - "$T/junit.xml" "${#synthetic[@]}" <<'PY' || fail "the JUnit report is wrong"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = root.findall("testsuite")
cases = root.findall("testsuite/testcase")
assert root.tag == "testsuites" and len(suites) == int(sys.argv[2]), "one suite per scenario"
assert int(root.get("tests")) == len(cases) > 0, "tests= counts the test cases"
assert root.get("failures") == "0", "failures=%s" % root.get("failures")
PY
tail -n 1 "$T/run.out"
python3 -c "import sys; print('synthetic scenarios: %s run in %.1f s' % (sys.argv[1], float(sys.argv[3]) - float(sys.argv[2])))" \
	${#synthetic[@]} "$start" "$end"

# ---- 4: the engine fails when it should ---------------------------------------------
"$VMBUSD" run --keep-going --junit "$T/fail.xml" --tap "$T/fail.tap" --workdir "$T/fail" \
	tests/scenarios/fail-verdict.json >"$T/fail.out" 2>&1
status=$?
[ $status -eq 1 ] || fail "fail-verdict.json: exit status $status, expected 1"
python3 - "$T/fail.xml" <<'PY' || { cat "$T/fail.out"; fail "fail-verdict.json: wrong verdicts"; }
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().findall("testsuite/testcase")
verdict = [(c.get("name")[:2], c.find("failure").get("message") if c.find("failure") is not None else None)
           for c in cases]
assert [v[0] for v in verdict] == ["01", "02", "03", "04", "05", "06"], verdict
assert [v[1] is None for v in verdict] == [True, False, True, False, True, False], verdict
assert "expected 4.0" in verdict[1][1], verdict[1]
assert "answered INVALID_HYPERCALL_CODE, expected SUCCESS" in verdict[3][1], verdict[3]
assert "no VERSION_RESPONSE from the host" in verdict[5][1], verdict[5]
PY
grep -q '^not ok 2 ' "$T/fail.tap" && grep -q '^ok 3 ' "$T/fail.tap" ||
	fail "fail-verdict.json: the TAP report does not say which steps failed"
for f in "${refused[@]}"; do
	"$VMBUSD" run "$f" >"$T/refused.out" 2>&1
	status=$?
	[ $status -eq 2 ] || fail "$f: exit status $status, expected 2 (not run)"
	grep -q "synthetic guest started\|guest started" "$T/refused.out" &&
		fail "$f: something started before the file was refused"
	grep -qF "$f: $(cat "${f%.json}.expect")" "$T/refused.out" ||
		{ cat "$T/refused.out"; fail "$f: the message does not name $(cat "${f%.json}.expect")"; }
done

[ $rc -eq 0 ] && echo "scenarios: ${#files[@]} files valid (schema and engine), ${#synthetic[@]} synthetic ones passed, the failing ones fail"
exit $rc
