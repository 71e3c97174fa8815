# Checks the JUnit and TAP files `vmbusd run --keep-going` wrote for
# tests/guest/reports/ (run-tests.sh "reports"): both well formed, the failing
# step failed with its detail, the steps after it ran and passed, the bad
# scenario is one failing "load" case.
import sys
import xml.etree.ElementTree as ET

junit, tap = sys.argv[1], sys.argv[2]
root = ET.parse(junit).getroot()
assert root.tag == "testsuites", root.tag
suites = {s.get("name"): s for s in root.findall("testsuite")}
assert len(suites) == 2, suites.keys()
kg = next(s for n, s in suites.items() if n.startswith("reports: a step"))
bad = next(s for n, s in suites.items() if n.endswith("bad.json"))  # named by path: never loaded
cases = kg.findall("testcase")
assert len(cases) == 5 and kg.get("failures") == "1" and kg.get("skipped") == "0", ET.tostring(kg)
fail = cases[1].find("failure")
assert fail is not None and "never-there" in fail.get("message"), ET.tostring(cases[1])
assert "<looked & found>" in fail.get("message"), fail.get("message")  # escaped and back
assert all(c.find("failure") is None for i, c in enumerate(cases) if i != 1)
assert cases[2].get("name") == "03 ran after the failure", cases[2].get("name")
load = bad.findall("testcase")
assert len(load) == 1 and load[0].get("name") == "load" and load[0].find("failure") is not None
assert "no-such-step" in load[0].find("failure").get("message")
assert root.get("tests") == "6" and root.get("failures") == "2", root.attrib

lines = open(tap).read().splitlines()
assert lines[0] == "TAP version 13" and lines[1] == "1..6", lines[:2]
points = [l for l in lines if l.startswith(("ok ", "not ok "))]
assert len(points) == 6, points
assert sum(p.startswith("not ok") for p in points) == 2, points
assert points[1].startswith("not ok 2 - ") and "fails on purpose" in points[1], points[1]
assert points[2].startswith("ok 3 - ") and "ran after the failure" in points[2], points[2]
print("reports: JUnit and TAP as expected")
