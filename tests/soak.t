#!/bin/sh
# mqspec soak, small: a few hundred persistent sessions through a few
# disconnect / publish / resume cycles against the bundled broker, MQTT 5 and
# 3.1.1: nothing lost, no QoS 2 duplicate, nothing out of order, exit 0. Then
# proof that it can fail: the bundled broker with a defect that drops queued
# messages (lost > 0), and one that gives redelivered QoS 2 messages new packet
# ids (a QoS 2 duplicate at the subscriber); both exit 1. Bad options exit 2.
# About 5 s (the defect runs wait 1 s for messages that never come).
cd "$(dirname "$0")/.." || exit 1
bin=build/mqspec
[ -x build/mqspec-broker ] || { echo "1..0 # SKIP build/mqspec-broker not built"; exit 0; }
n=0; fail=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
field() { awk -v k="$1" 'index($0, "  " k " ") == 1 { split(substr($0, length(k) + 3), a, " "); print a[1]; exit }' "$2"; }
echo "1..14"

tmp=$(mktemp -d)
bpid=
trap '[ -n "$bpid" ] && kill $bpid 2>/dev/null; rm -rf "$tmp"' EXIT

timeout 60 $bin soak --sessions 300 --cycles 3 --messages 10 --deadline 50 >"$tmp/v5.out" 2>"$tmp/v5.err"; rc=$?
[ $rc = 0 ]; ok $? "MQTT 5, 300 sessions x 3 cycles against the bundled broker: exit 0 (got $rc)"
[ "$(field published "$tmp/v5.out")" = 9000 ] && [ "$(field delivered "$tmp/v5.out")" = 9000 ]
ok $? "9000 published and 9000 delivered"
[ "$(field lost "$tmp/v5.out")" = 0 ] && [ "$(field 'duplicated (QoS 2)' "$tmp/v5.out")" = 0 ] &&
    [ "$(field 'out of order' "$tmp/v5.out")" = 0 ]
ok $? "zero lost, zero QoS 2 duplicates, zero out of order"
[ "$(field 'cut off mid-queue' "$tmp/v5.out")" = 900 ]; ok $? "every session was cut off mid-queue once per cycle"
[ "$(grep -c '^cycle [0-9]/3: ' "$tmp/v5.err")" = 3 ]; ok $? "a progress line per cycle on stderr"

timeout 60 $bin soak --protocol 3.1.1 --qos 2 --sessions 200 --cycles 2 --deadline 50 >"$tmp/v3.out" 2>"$tmp/v3.err"; rc=$?
[ $rc = 0 ] && [ "$(field lost "$tmp/v3.out")" = 0 ] && [ "$(field 'duplicated (QoS 2)' "$tmp/v3.out")" = 0 ]
ok $? "MQTT 3.1.1 at QoS 2: exit 0, nothing lost or duplicated (got $rc)"

# A broker with a defect, started here so that the soak gets --broker.
start_broker() {
    build/mqspec-broker -p 0 --defect "$1" </dev/null >"$tmp/ready" 2>/dev/null &
    bpid=$!
    i=0
    while ! grep -q '^listening ' "$tmp/ready" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    port=$(awk '/^listening /{print $3; exit}' "$tmp/ready")
}
stop_broker() { kill $bpid 2>/dev/null; wait $bpid 2>/dev/null; bpid=; }

start_broker offline-queue-dropped
timeout 60 $bin soak --broker "mqtt://127.0.0.1:$port" --sessions 100 --cycles 1 --idle-ms 1000 --deadline 50 >"$tmp/d1.out" 2>"$tmp/d1.err"; rc=$?
stop_broker
[ $rc = 1 ]; ok $? "offline-queue-dropped: exit 1 (got $rc)"
[ "$(field lost "$tmp/d1.out")" = 1000 ]; ok $? "offline-queue-dropped: all 1000 messages counted lost"
grep -q '^result: FAIL' "$tmp/d1.out"; ok $? "offline-queue-dropped: the report says FAIL"

start_broker new-packet-id-on-redelivery
timeout 60 $bin soak --broker "mqtt://127.0.0.1:$port" --qos 2 --sessions 100 --cycles 1 --idle-ms 1000 --deadline 50 >"$tmp/d2.out" 2>"$tmp/d2.err"; rc=$?
stop_broker
d=$(field 'duplicated (QoS 2)' "$tmp/d2.out")
[ $rc = 1 ] && [ "${d:-0}" -gt 0 ]; ok $? "new-packet-id-on-redelivery: QoS 2 duplicates found ($d), exit $rc"

$bin soak --sessions 0 >/dev/null 2>&1; [ $? = 2 ]; ok $? "--sessions 0 exits 2"
$bin soak --qos 3 >/dev/null 2>&1; [ $? = 2 ]; ok $? "--qos 3 exits 2"
$bin soak --broker mqtt://192.0.2.1:1883 >/dev/null 2>&1; [ $? = 2 ]; ok $? "a broker that is not on loopback is refused (exit 2)"
port=$(ci/brokers/free-port)
$bin soak --broker "mqtt://127.0.0.1:$port" >/dev/null 2>&1; [ $? = 3 ]; ok $? "nothing listening: exit 3"
[ $fail = 0 ] || { echo "# outputs:"; cat "$tmp"/*.out | sed 's/^/# /'; }
exit $fail
