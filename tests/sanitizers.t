#!/bin/sh
# Everything again under AddressSanitizer (with LeakSanitizer) and
# UndefinedBehaviorSanitizer, in build-san/: the unit tests, the whole suite
# against the bundled broker (both binaries instrumented), the --data store
# checks (tests/broker-store.t) against the instrumented broker, and the whole suite
# against Debian's mosquitto (both drivers instrumented). Any report fails.
cd "$(dirname "$0")/.." || exit 1
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
B=build-san
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87
n=0; fail=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
tmp=$(mktemp -d); trap 'ci/brokers/mosquitto stop "$tmp/mosq" 2>/dev/null; rm -rf "$tmp"' EXIT

make -s BUILD=$B OPT="-O1 -g" SAN="$SAN" all >"$tmp/build.log" 2>&1
ok $? "the sanitizer build compiles cleanly (-Werror)"
[ -x $B/mqspec ] || { echo "1..$n"; cat "$tmp/build.log" | sed 's/^/# /' | tail -20; exit 1; }

for t in t-mqtt-codec t-load t-reports; do
    $B/tests/$t >"$tmp/$t.out" 2>&1; rc=$?
    [ $rc = 0 ] && ! grep -q '^not ok' "$tmp/$t.out"; ok $? "$t passes under the sanitizers (exit $rc)"
    grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$tmp/$t.out" | head -3 | sed 's/^/# /'
done

$B/mqspec run -j 8 --broker-log "$tmp/broker.log" scenarios >"$tmp/bundled.tap" 2>"$tmp/bundled.err"; rc=$?
ok $rc "the suite passes against the instrumented bundled broker (exit $rc)"
! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$tmp/bundled.err" "$tmp/broker.log"
ok $? "no sanitizer report from mqspec or mqspec-broker"
grep -hE 'ERROR: (Address|Leak)Sanitizer|runtime error|SUMMARY' "$tmp/bundled.err" "$tmp/broker.log" | head -5 | sed 's/^/# /'

# The --data store: replay, compaction, damaged logs, graceful stops (leaks).
BROKER=$B/mqspec-broker tests/broker-store.t >"$tmp/store.tap" 2>&1; rc=$?
ok $rc "tests/broker-store.t passes against the instrumented broker, no sanitizer report (exit $rc)"
grep '^not ok' "$tmp/store.tap" | head -3 | sed 's/^/# /'

$B/mqspec soak --sessions 200 --cycles 2 --broker-log "$tmp/soak-broker.log" >"$tmp/soak.out" 2>"$tmp/soak.err"; rc=$?
ok $rc "a small soak (200 sessions, 2 cycles) passes against the instrumented bundled broker (exit $rc)"
! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$tmp/soak.err" "$tmp/soak-broker.log"
ok $? "no sanitizer report from mqspec soak or mqspec-broker"
grep -hE 'ERROR: (Address|Leak)Sanitizer|runtime error|SUMMARY' "$tmp/soak.err" "$tmp/soak-broker.log" | head -5 | sed 's/^/# /'

port=$(ci/brokers/mosquitto start "$tmp/mosq")
$B/mqspec run -j 8 --broker "mqtt://127.0.0.1:$port" scenarios >"$tmp/mosq.tap" 2>"$tmp/mosq.err"; rc=$?
[ $rc = 0 ] || [ $rc = 1 ]; ok $? "the suite runs to its end against mosquitto (exit $rc)"
! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$tmp/mosq.err"
ok $? "no sanitizer report from mqspec's drivers against mosquitto"
grep -hE 'ERROR: (Address|Leak)Sanitizer|runtime error|SUMMARY' "$tmp/mosq.err" | head -5 | sed 's/^/# /'
echo "1..$n"
exit $fail
