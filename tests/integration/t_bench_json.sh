# `vmbusd bench ring --json` and `vmbusd bench compare`: every row measured
# against the bare two-process ring of the same run, written for tools, and
# two results compared row by row (a tiny scale: this checks the plumbing,
# not the speed; `make bench` measures).
. ./lib.sh
"$VMBUSD" bench ring 0.004 --rounds 1 --json "$T/a.json" >"$T/a.out" || { cat "$T/a.out"; fail "bench a"; }
"$VMBUSD" bench ring 0.004 --rounds 2 --json "$T/b.json" >"$T/b.out" || { cat "$T/b.out"; fail "bench b"; }
python3 - "$T/a.json" <<'PY' || fail "bench JSON"
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["rows"]
assert d["bench"] == "ring" and len(rows) == 12, rows
for r in rows:
    for k in ("direction", "size", "packets", "rounds", "gbps", "mpps", "signals_per_packet",
              "bare_gbps", "bare_mpps", "ratio"):
        assert k in r, (k, r)
    assert r["gbps"] > 0 and r["bare_gbps"] > 0
    assert abs(r["ratio"] - r["gbps"] / r["bare_gbps"]) < 1e-6 * r["ratio"] + 1e-9
PY
"$VMBUSD" bench compare "$T/a.json" "$T/b.json" >"$T/cmp" || { cat "$T/cmp"; fail "compare"; }
[ "$(grep -c '^[gh]2[hg]' "$T/cmp")" -eq 12 ] || { cat "$T/cmp"; fail "compare rows"; }
grep -q 'row(s) more than 10 % slower' "$T/cmp" || { cat "$T/cmp"; fail "compare summary"; }
echo '{"not":"bench"}' >"$T/x.json"
"$VMBUSD" bench compare "$T/a.json" "$T/x.json" 2>"$T/err" && fail "compare accepted a non-result"
grep -q 'not a vmbusd bench result' "$T/err" || { cat "$T/err"; fail "compare message"; }
