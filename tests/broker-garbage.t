#!/bin/sh
# broker-garbage.t -- build/mqspec-broker under a few seconds of connections
# carrying random and mutated packets (tests/broker/garbage.py, fixed seed):
# it must stay up, serve a normal client afterwards and exit 0. Run it against
# the sanitizer build with BROKER=build-san/mqspec-broker.
cd "$(dirname "$0")/.." || exit 1
BROKER=${BROKER:-build/mqspec-broker}
if [ ! -x "$BROKER" ]; then echo "1..0 # SKIP $BROKER not built"; exit 0; fi
exec timeout 60 /usr/bin/python3 tests/broker/garbage.py "$BROKER" "${GARBAGE_SECONDS:-5}"
