#!/bin/sh
# broker-crash.t -- durable sessions survive kill -9: mqspec-broker --data DIR
# --sync always is killed with SIGKILL at random moments (22 times) while two
# publishers send QoS 1 and QoS 2 messages to three offline durable
# subscribers and one connected through the kills, and restarted on the same
# port; at the end every message whose PUBACK / PUBREC the publishers received
# must have reached every subscriber,
# the QoS 2 ones exactly once (tests/broker/crash.py, which says how). Also:
# expiry counts while the broker is down, and the Will of a client cut off by
# the crash is published after the restart. About 15 s.
#
# CRASH_SEED=N repeats a run (the seed is printed); BROKER= another binary.
cd "$(dirname "$0")/.." || exit 1
BROKER=${BROKER:-${BUILD:-build}/mqspec-broker}
if [ ! -x "$BROKER" ]; then echo "1..0 # SKIP $BROKER not built"; exit 0; fi
if ! command -v python3 >/dev/null 2>&1; then echo "1..0 # SKIP no python3"; exit 0; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mqspec-crash.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
timeout 120 python3 tests/broker/crash.py "$BROKER" "$tmp"; rc=$?
if [ $rc != 0 ]; then
    echo "# broker log (last lines):"
    tail -15 "$tmp/broker.log" | sed 's/^/#   /'
fi
exit $rc
