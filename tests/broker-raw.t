#!/bin/sh
# broker-raw.t -- packet-exact checks of build/mqspec-broker's session rules
# (Clean Start, Session Present, Session Expiry, redelivery with DUP and the
# original packet ids, PUBREL resend, Receive Maximum on resume, Will and Will
# Delay, takeover 0x8E, DISCONNECT SEI 0x82, message expiry, retained, shared,
# topic aliases, client ids, 3.1.1) over raw sockets: tests/broker/checks.py.
# Set BROKER=path to test another build (e.g. build-san/mqspec-broker),
# BROKER_LOG=file for the broker's debug log.
cd "$(dirname "$0")/.." || exit 1
BROKER=${BROKER:-build/mqspec-broker}
if [ ! -x "$BROKER" ]; then echo "1..0 # SKIP $BROKER not built"; exit 0; fi
exec timeout 180 /usr/bin/python3 tests/broker/run_checks.py "$BROKER"
