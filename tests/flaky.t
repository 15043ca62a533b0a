#!/bin/sh
# A failure is re-run once: failing again confirms it (the first attempt's
# details stay, with a note), passing makes it `flaky`, which TAP shows as a
# TODO and which does not fail the run. tests/data/fails-once.yaml fails on its
# first attempt only, on any conforming broker (here the bundled one).
cd "$(dirname "$0")/.." || exit 1
[ -x build/mqspec-broker ] || { echo "1..0 # SKIP build/mqspec-broker not built"; exit 0; }
n=0; fail=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

build/mqspec run --json "$tmp/r.json" tests/data/fails-once.yaml >"$tmp/out" 2>&1; rc=$?
ok $([ $rc = 0 ]; echo $?) "a scenario that passes on its re-run does not fail the run (exit $rc)"
grep -q '^not ok 1 - test.fails-once.* # TODO flaky: failed once' "$tmp/out"
ok $? "TAP shows it as a flaky TODO with the first attempt's reason"
/usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["scenarios"][0]
assert s["verdict"] == "flaky", s["verdict"]
assert s["failure"]["step"] == 5 and "RETAIN is 0" in s["failure"]["observed"], s["failure"]
' "$tmp/r.json"
ok $? "the JSON verdict is flaky and keeps the first attempt's failure (step 5, RETAIN 0)"

build/mqspec run --no-retry tests/data/fails-once.yaml >"$tmp/out2" 2>&1; rc=$?
ok $([ $rc = 1 ]; echo $?) "with --no-retry the same scenario fails (exit $rc)"
grep -q '^not ok 1 - test.fails-once' "$tmp/out2" && ! grep -q 'TODO' "$tmp/out2"
ok $? "... as a plain failure"
echo "1..$n"
exit $fail
