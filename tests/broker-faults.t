#!/bin/sh
# broker-faults.t -- faults on the broker side never hang or crash the harness.
#
# What it is for: each fault of tests/fakes/fake-broker.py (and a port with
# nothing listening) against two scenarios, one whose first client uses the
# mosquitto driver and one whose first client uses the raw driver. For each run:
# no crash (exit 1, or 3 for nothing listening; never a signal), finished in
# under 30 s, TAP that TAP::Parser accepts, an `error` verdict (never fail) and
# a reason that names what happened. The two drivers of a fault run side by
# side. Every fake stops by itself (alarm) and is killed by PID on exit.
#
# What it is not: a test of the bundled broker, or of judging a correct one.
cd "$(dirname "$0")/.." || exit 1
bin=${MQSPEC:-${BUILD:-build}/mqspec}
if [ ! -x "$bin" ]; then
    echo "1..0 # SKIP $bin is not built"
    exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "1..0 # SKIP no python3"
    exit 0
fi
MOSQ=v5.queueing.offline-messages-delivered-on-resume
RAW=v5.inflight.qos1-redelivered-with-dup-and-same-id
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mqspec-faults.XXXXXX") || exit 1
pids=""
runs=""
fake=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
n=0
fail=0
ok() {
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}

# start_fake MODE: starts the fake, sets $port and $fake (its PID).
start_fake() {
    rm -f "$tmp/port" "$tmp/events"
    python3 tests/fakes/fake-broker.py "$1" "$tmp/port" "$tmp/events" 90 &
    fake=$!
    pids="$pids $fake"
    i=0
    while [ ! -s "$tmp/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    port=$(cat "$tmp/port" 2>/dev/null)
}

# run NAME SCENARIO-GLOB EXTRA-OPTIONS...: one mqspec run in the background;
# its output in $tmp/NAME.{out,err,rc,secs}.
run() {
    name=$1
    glob=$2
    shift 2
    (
        start=$(date +%s.%N)
        timeout -k 5 60 "$bin" run --no-retry "$@" --broker "mqtt://127.0.0.1:$port" \
            --only "$glob" scenarios >"$tmp/$name.out" 2>"$tmp/$name.err"
        echo $? >"$tmp/$name.rc"
        end=$(date +%s.%N)
        echo "$start $end" | awk '{ printf "%.1f\n", $2 - $1 }' >"$tmp/$name.secs"
    ) &
    runs="$runs $!"
}

# finish: waits for the runs started since the last finish, then kills the fake.
finish() {
    # shellcheck disable=SC2086
    wait $runs
    runs=""
    [ -n "$fake" ] && kill "$fake" 2>/dev/null
    fake=""
}

# judge NAME FAULT REASON-REGEX [EXIT-STATUSES]: the assertions of one run.
judge() {
    name=$1
    fault=$2
    re=$3
    codes=${4:-1}
    rc=$(cat "$tmp/$name.rc")
    secs=$(cat "$tmp/$name.secs")
    case " $codes " in *" $rc "*) r=0 ;; *) r=1 ;; esac
    ok $r "$name: exit status in {$codes}, no crash or hang (exit $rc)"
    awk -v s="$secs" 'BEGIN { exit !(s < 30) }'
    ok $? "$name: finished within the step deadlines ($secs s)"
    perl -MTAP::Parser -e '
        my $tap = do { local $/; <STDIN> };
        my $p = TAP::Parser->new({ tap => $tap });
        1 while defined $p->next;
        exit(($p->parse_errors || !defined $p->plan) ? 1 : 0)' <"$tmp/$name.out"
    ok $? "$name: TAP::Parser accepts the output"
    if [ "$codes" = 3 ]; then
        grep -q '^1\.\.0 # SKIP broker unreachable' "$tmp/$name.out" &&
            grep -Eq "$re" "$tmp/$name.err"
        ok $? "$name: nothing run, the reason on stderr matches /$re/"
    else
        v=$(sed -n 's/^  verdict: //p' "$tmp/$name.out" | sort | uniq -c | tr -s ' ' | tr '\n' ',')
        ! grep -q '^  verdict: fail' "$tmp/$name.out" && grep -q '^  verdict: error' "$tmp/$name.out"
        ok $? "$name: verdict error, never fail ($v)"
        grep -E '^  reason: ' "$tmp/$name.out" | head -1 | grep -Eq "$re"
        ok $? "$name: the reason names the fault (/$re/)"
    fi
    reason=$(sed -n 's/^  reason: //p' "$tmp/$name.out" | head -1)
    [ -n "$reason" ] || reason=$(head -1 "$tmp/$name.err")
    echo "# $fault x $name: exit $rc, $secs s, $reason"
}

# 1. Refused: nothing listens on the port (exit 3 quickly, the reason printed).
port=$(ci/brokers/free-port)
run refused-mosq "$MOSQ"
run refused-raw "$RAW"
finish
judge refused-mosq refused 'unreachable.*refused' 3
judge refused-raw refused 'unreachable.*refused' 3

# 2. Accepts and never answers: no CONNACK within the connect deadline.
start_fake silent
run silent-mosq "$MOSQ" --no-probe
run silent-raw "$RAW" --no-probe
finish
judge silent-mosq silent 'no CONNACK within 10 s'
judge silent-raw silent 'no CONNACK within 10 s'

# 3. Garbage (fixed pseudo-random bytes) and 4. a reserved packet type, as the
#    answer to CONNECT; with the probe, which must survive them too.
for mode in garbage badtype; do
    start_fake $mode
    run $mode-mosq "$MOSQ"
    run $mode-raw "$RAW"
        finish
    judge $mode-mosq $mode 'could not connect: undecodable or unexpected packet'
    judge $mode-raw $mode 'not a CONNACK \(undecodable'
done

# 5. Half a CONNACK, then FIN.
start_fake halfconnack
run halfconnack-mosq "$MOSQ"
run halfconnack-raw "$RAW"
finish
judge halfconnack-mosq halfconnack 'could not connect: closed by the server mid-packet'
judge halfconnack-raw halfconnack 'could not connect: closed by broker mid-packet \(3 bytes of an incomplete CONNACK\)'

# 6. One byte per second (a 32 byte CONNACK): the connect deadline ends it.
start_fake slow
run slow-mosq "$MOSQ" --no-probe
run slow-raw "$RAW" --no-probe
finish
judge slow-mosq slow 'no CONNACK within 10 s'
judge slow-raw slow 'no CONNACK within 10 s'

# 7. Dies mid-scenario: CONNACK, SUBACK and PUBACK come, then the fake is killed
#    while the subscriber waits for the message. The mosquitto run has two
#    scenarios (-j 1): the second must still be run, and err at once.
for drv in mosq raw; do
    start_fake dies
    if [ $drv = mosq ]; then
        run dies-$drv 'v5.queueing.offline-messages-delivered-*' --no-probe -j 1
    else
        run dies-$drv "$RAW" --no-probe
    fi
    i=0
    while ! grep -q acked-publish "$tmp/events" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i + 1))
    done
    sleep 0.3
    kill "$fake" 2>/dev/null
    finish
done
judge dies-mosq dies 'no PUBLISH: the broker is gone'
grep -c '^  verdict: error' "$tmp/dies-mosq.out" | grep -qx 2
ok $? "dies-mosq: the run goes on: the next scenario is run and errs (could not connect)"
judge dies-raw dies 'no PUBLISH: the broker is gone'

echo "1..$n"
exit $fail
