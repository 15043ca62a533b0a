#!/bin/sh
# broker-store.t -- the durable store of mqspec-broker --data DIR: torn,
# truncated and corrupt logs are cut with a warning (never a crash), unusable
# directories give exit 2 with a clear message, and what must survive a
# restart does (queues with their properties, in-flight copies, Wills,
# Message Expiry counting while down, retained messages, each --sync policy,
# compaction under churn).
# tests/broker/store_check.py says how. About 12 s.
#
# BROKER=build-san/mqspec-broker runs it against the sanitizer build.
cd "$(dirname "$0")/.." || exit 1
BROKER=${BROKER:-${BUILD:-build}/mqspec-broker}
if [ ! -x "$BROKER" ]; then echo "1..0 # SKIP $BROKER not built"; exit 0; fi
if ! command -v python3 >/dev/null 2>&1; then echo "1..0 # SKIP no python3"; exit 0; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mqspec-store.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
timeout 120 python3 tests/broker/store_check.py "$BROKER" "$tmp"; rc=$?
if [ $rc != 0 ]; then
    for f in "$tmp"/broker-*.log; do
        grep -E 'warn|error|ERROR' "$f" | tail -3 | sed "s|^|# $(basename "$f"): |"
    done
fi
exit $rc
