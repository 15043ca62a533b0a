#!/bin/sh
# broker-defects.t -- every `mqspec-broker --defect NAME` is caught by the
# checks of tests/broker/checks.py that cover its rule: proof that the checks
# can fail, and that each defect really breaks what it says it breaks.
cd "$(dirname "$0")/.." || exit 1
BROKER=${BROKER:-build/mqspec-broker}
if [ ! -x "$BROKER" ]; then echo "1..0 # SKIP $BROKER not built"; exit 0; fi
exec timeout 300 /usr/bin/python3 tests/broker/run_checks.py "$BROKER" --defects
