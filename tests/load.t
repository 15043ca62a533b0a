#!/bin/sh
# load.t -- runs the loader's unit tests (tests/unit/t-load.c), which print TAP.
cd "$(dirname "$0")/.." || exit 1
T=${BUILD:-build}/tests/t-load
if [ ! -x "$T" ]; then
    echo "1..0 # SKIP $T is not built"
    exit 0
fi
exec "$T"
