#!/bin/sh
# Ground truth: the whole scenario suite against the bundled mqspec-broker,
# started by mqspec itself (no --broker). Every scenario must pass: mqspec's own
# TAP goes straight to prove.
cd "$(dirname "$0")/.." || exit 1
[ -x build/mqspec-broker ] || { echo "1..0 # SKIP build/mqspec-broker not built"; exit 0; }
exec build/mqspec run scenarios
