#!/bin/sh
# reports.t -- runs the unit tests of the results model and the TAP/JSON writers.
# A thin wrapper so `prove tests/*.t` picks up the compiled test; the tests
# themselves are in tests/unit/t-reports.c. Not for: checking the output with
# real consumers (that is tap-parse.t).
cd "$(dirname "$0")/.." || exit 1
bin="${BUILD:-build}/tests/t-reports"
if [ ! -x "$bin" ]; then
    echo "1..1"
    echo "not ok 1 - $bin is not built (make $bin)"
    exit 1
fi
exec "$bin"
