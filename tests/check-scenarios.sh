#!/usr/bin/env bash
# Every scenario the project ships is valid: against the JSON Schema
# (docs/scenario.schema.json, python3-jsonschema) and against the engine's
# own checks (`vmbusd run --check`: step kinds, each step's keys, device
# types), so neither can drift from the other or from the files.
set -u
cd "$(dirname "$0")/.."
VMBUSD=${VMBUSD:-build/vmbusd}
files=(scenarios/*.json tests/guest/scenarios/*.json tests/guest/wire/*.json tests/guest/reports/keep-going.json)
rc=0
python3 - docs/scenario.schema.json "${files[@]}" <<'PY' || rc=1
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
bad = 0
for f in sys.argv[2:]:
    for e in v.iter_errors(json.load(open(f))):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)
        print(f"{f}: {path.lstrip('.') or '(top)'}: {e.message[:200]}")
        bad += 1
sys.exit(1 if bad else 0)
PY
"$VMBUSD" run --check "${files[@]}" || rc=1
# And the schema refuses what the engine refuses (a typo in a step key).
printf '{"steps":[{"step":"guest","run":"true","expext":"x"}]}' >/tmp/vmbusd-schema-typo.$$.json
python3 -c "
import json, sys, jsonschema
v = jsonschema.Draft202012Validator(json.load(open('docs/scenario.schema.json')))
sys.exit(0 if list(v.iter_errors(json.load(open(sys.argv[1])))) else 1)" /tmp/vmbusd-schema-typo.$$.json ||
	{ echo "check-scenarios: the schema accepted a step with an unknown key"; rc=1; }
"$VMBUSD" run --check /tmp/vmbusd-schema-typo.$$.json >/dev/null &&
	{ echo "check-scenarios: vmbusd run --check accepted a step with an unknown key"; rc=1; }
rm -f /tmp/vmbusd-schema-typo.$$.json
[ $rc -eq 0 ] && echo "scenarios: ${#files[@]} files valid (schema and engine)"
exit $rc
