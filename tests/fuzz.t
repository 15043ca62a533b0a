#!/bin/sh
# fuzz.t -- builds the libFuzzer decoder target and runs it for FUZZ_SECONDS
# (default 60) on a scratch copy of the seed corpus, so the repository's corpus
# is never written to. One TAP test: ok when libFuzzer found no crash, leak,
# timeout or round-trip disagreement. Skipped where clang is not installed.
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
SECS=${FUZZ_SECONDS:-60}
if ! command -v clang >/dev/null 2>&1; then
    echo "1..0 # SKIP no clang"
    exit 0
fi
echo "1..1"
if ! make -s "$BUILD/fuzz/fuzz_decode" >&2; then
    echo "not ok 1 - fuzz_decode builds"
    exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mqspec-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/corpus" "$tmp/artifacts"
cp tests/fuzz/corpus/decode/* "$tmp/corpus/"
"$BUILD/fuzz/fuzz_decode" -max_total_time="$SECS" -print_final_stats=1 \
    -artifact_prefix="$tmp/artifacts/" "$tmp/corpus" >"$tmp/log" 2>&1
rc=$?
grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)' "$tmp/log" | sed 's/^/# /'
if [ "$rc" -eq 0 ] && [ -z "$(ls -A "$tmp/artifacts")" ]; then
    echo "ok 1 - fuzz_decode ran ${SECS}s without a crash"
else
    echo "not ok 1 - fuzz_decode failed (exit $rc)"
    tail -40 "$tmp/log" | sed 's/^/# /'
    for f in "$tmp"/artifacts/*; do
        [ -e "$f" ] && cp "$f" tests/fuzz/ && echo "# saved tests/fuzz/$(basename "$f")"
    done
fi
