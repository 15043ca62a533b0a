#!/bin/sh
# codec.t -- runs the protocol core's unit tests (TAP) under prove.
# Builds build/tests/t-mqtt-codec first if it is missing or stale.
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
make -s "$BUILD/tests/t-mqtt-codec" >&2 || { echo "1..0 # SKIP could not build t-mqtt-codec"; exit 0; }
exec "$BUILD/tests/t-mqtt-codec"
