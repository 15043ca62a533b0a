#!/bin/sh
# sched.t -- runs t-sched (the runner's scheduling: exclusive scenarios run
# alone, -j auto starts everything at once, -j 1 starts the longest expected
# first) against a bundled mqspec-broker started here. About 5 s.
cd "$(dirname "$0")/.." || exit 1
bin="${BUILD:-build}/tests/t-sched"
[ -x "$bin" ] && [ -x "${BUILD:-build}/mqspec-broker" ] || { echo "1..0 # SKIP $bin or mqspec-broker not built"; exit 0; }
tmp=$(mktemp -d)
bpid=
trap '[ -n "$bpid" ] && kill $bpid 2>/dev/null; rm -rf "$tmp"' EXIT
"${BUILD:-build}/mqspec-broker" -p 0 </dev/null >"$tmp/ready" 2>/dev/null &
bpid=$!
i=0
while ! grep -q '^listening ' "$tmp/ready" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
port=$(awk '/^listening /{print $3; exit}' "$tmp/ready")
[ -n "$port" ] || { echo "1..0 # SKIP mqspec-broker did not start"; exit 0; }
"$bin" "$port"
