#!/bin/sh
# fuzz.t -- builds the libFuzzer targets and runs each for FUZZ_SECONDS
# (default 30, so the two take about a minute) on a scratch copy of its seed
# corpus, so the repository's corpora are never written to:
#   fuzz_decode  the MQTT decoder (tests/fuzz/corpus/decode)
#   fuzz_load    the scenario loader (tests/fuzz/corpus/load, load.dict)
# Before fuzzing, fuzz_load replays every file of tests/bad-input/ and of
# scenarios/ once, so each regression case is also a crash / leak check under
# ASan and UBSan. ok when libFuzzer found no crash, leak, timeout or broken
# promise. Skipped where clang is not installed.
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
SECS=${FUZZ_SECONDS:-30}
if ! command -v clang >/dev/null 2>&1; then
    echo "1..0 # SKIP no clang"
    exit 0
fi
echo "1..4"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mqspec-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0

save_artifacts() {
    for f in "$1"/*; do
        [ -e "$f" ] && cp "$f" tests/fuzz/ && echo "# saved tests/fuzz/$(basename "$f")"
    done
}

fuzz() {    # fuzz TARGET EXTRA-OPTIONS...
    t=$1
    shift
    n=$((n + 1))
    if ! make -s "$BUILD/fuzz/fuzz_$t" >&2; then
        echo "not ok $n - fuzz_$t builds"
        return 1
    fi
    mkdir "$tmp/$t" "$tmp/$t.art"
    cp tests/fuzz/corpus/"$t"/* "$tmp/$t/"
    "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECS" -print_final_stats=1 "$@" \
        -artifact_prefix="$tmp/$t.art/" "$tmp/$t" >"$tmp/$t.log" 2>&1
    rc=$?
    grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)' "$tmp/$t.log" |
        sed 's/^/# /'
    if [ "$rc" -eq 0 ] && [ -z "$(ls -A "$tmp/$t.art")" ]; then
        echo "ok $n - fuzz_$t ran ${SECS}s without a finding"
    else
        echo "not ok $n - fuzz_$t failed (exit $rc)"
        tail -40 "$tmp/$t.log" | sed 's/^/# /'
        save_artifacts "$tmp/$t.art"
    fi
}

fuzz decode

# fuzz_load: replay the regression cases and the catalogue first.
n=$((n + 1))
if ! make -s "$BUILD/fuzz/fuzz_load" >&2; then
    echo "not ok $n - fuzz_load builds"
    echo "not ok $((n + 1)) - fuzz_load replay (not built)"
    echo "not ok $((n + 2)) - fuzz_load run (not built)"
    exit 0
fi
echo "ok $n - fuzz_load builds"
n=$((n + 1))
find tests/bad-input scenarios -name '*.yaml' | sort >"$tmp/replay.list"
# shellcheck disable=SC2046
"$BUILD/fuzz/fuzz_load" -runs=1 $(cat "$tmp/replay.list") >"$tmp/replay.log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
    echo "ok $n - fuzz_load replays the $(wc -l <"$tmp/replay.list") files of tests/bad-input and scenarios cleanly"
else
    echo "not ok $n - fuzz_load replay of tests/bad-input and scenarios (exit $rc)"
    grep -E 'Running: |ERROR|SUMMARY|fuzz_load:' "$tmp/replay.log" | tail -10 | sed 's/^/# /'
fi
fuzz load -dict=tests/fuzz/load.dict -timeout=10
