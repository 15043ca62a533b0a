#!/bin/sh
# broker-robust.t -- build/mqspec-broker under client faults (tests/broker/robust.py):
# a connection flood beyond max_clients, oversized packets, partial packets.
# It must answer as docs/broker.md says, keep serving an established client,
# keep its resident memory under a stated bound and exit 0; the same barrage
# against --defect ignore-max-packet-size must break the bound. About 5 s.
cd "$(dirname "$0")/.." || exit 1
BROKER=${BROKER:-build/mqspec-broker}
if [ ! -x "$BROKER" ]; then echo "1..0 # SKIP $BROKER not built"; exit 0; fi
exec timeout 120 /usr/bin/python3 tests/broker/robust.py "$BROKER"
