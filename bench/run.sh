#!/bin/sh
# run.sh -- `make bench-broker`: starts mqspec-broker and Debian mosquitto on
# free loopback ports, drives both with build/mqspec-bench (same generator,
# same parameters), and prints the side-by-side table (docs/bench.md).
#
# What it is not: a test. It prints figures and exits 0 unless something
# could not run at all; goals not met are printed, not failed.
#
# Each broker is started twice, fresh: once for the throughput workloads and
# once for the session workloads, so that the memory figure starts from an
# idle broker. Brokers are stopped by PID, on every exit path (trap).
set -eu
BUILD=${BUILD:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
brokers="$here/ci/brokers"
bench="$BUILD/mqspec-bench"
out=$(mktemp -d "${TMPDIR:-/tmp}/mqspec-bench.XXXXXX")

cleanup() {
    for f in "$out"/*.pid; do
        [ -f "$f" ] && "$brokers/stop-pid" "$f"
    done
    rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 10,000 sessions through at most 2,000 connections at once, plus the broker's
# own descriptors: both the brokers and the generator inherit this limit.
want=12000
have=$(ulimit -n)
if [ "$have" != unlimited ] && [ "$have" -lt "$want" ]; then
    ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
echo "open files: $(ulimit -n); CPUs: $(nproc); $(uname -sr)"

[ -x /usr/sbin/mosquitto ] || { echo "bench-broker: /usr/sbin/mosquitto not found (apt-get install mosquitto)" >&2; exit 1; }

start_ours() { # NAME -> port on stdout, pid in $out/NAME.pid
    cat > "$out/ours.conf" <<CONF
# Raised where a default would limit the workloads (1000 connections, 1000
# queued per session); max_inflight keeps its default of 1000.
max_clients 20000
max_queued_messages 20000
CONF
    "$BUILD/mqspec-broker" -p 0 -c "$out/ours.conf" </dev/null >"$out/$1.ready" 2>"$out/$1.log" &
    echo $! > "$out/$1.pid"
    i=0
    while ! grep -q '^listening ' "$out/$1.ready" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "mqspec-broker did not start; see $out/$1.log" >&2; cat "$out/$1.log" >&2; exit 1; }
        sleep 0.1
    done
    awk '/^listening /{print $3; exit}' "$out/$1.ready"
}

start_mosquitto() { # NAME -> port on stdout, pid in $out/NAME.pid
    port=$("$brokers/free-port")
    cat > "$out/$1.conf" <<CONF
per_listener_settings false
allow_anonymous true
listener $port 127.0.0.1
persistence false
log_dest stderr
# Enough for 10 queued messages per session and for every in-flight message
# of the throughput workloads.
max_queued_messages 20000
# 0 = no limit. mosquitto 2.0.11 miscounts messages that go through its
# per-client queue when the in-flight limit is reached (fixed in 2.0.13) and
# then drops new ones for that client for good; without the limit nothing
# waits in that queue on a live connection.
max_inflight_messages 0
CONF
    /usr/sbin/mosquitto -c "$out/$1.conf" </dev/null >/dev/null 2>"$out/$1.log" &
    echo $! > "$out/$1.pid"
    "$brokers/wait-port" 127.0.0.1 "$port" 10 || { echo "mosquitto did not start; see $out/$1.log" >&2; cat "$out/$1.log" >&2; exit 1; }
    echo "$port"
}

stop() { "$brokers/stop-pid" "$out/$1.pid"; }

# Every workload has its own 60 s deadline; timeout(1) is the backstop should
# the generator itself hang (4 throughput workloads, 3 session phases).


echo "throughput: mqspec-broker"
port=$(start_ours tp-ours)
timeout -k 5 280 "$bench" throughput --label mqspec-broker --port "$port" >>"$out/results" || true
stop tp-ours

echo "throughput: mosquitto"
port=$(start_mosquitto tp-mosq)
timeout -k 5 280 "$bench" throughput --label mosquitto --port "$port" >>"$out/results" || true
stop tp-mosq

echo "sessions: mqspec-broker"
port=$(start_ours s-ours)
timeout -k 5 200 "$bench" sessions --label mqspec-broker --port "$port" --pid "$(cat "$out/s-ours.pid")" >>"$out/results" || true
stop s-ours

echo "sessions: mosquitto"
port=$(start_mosquitto s-mosq)
timeout -k 5 200 "$bench" sessions --label mosquitto --port "$port" --pid "$(cat "$out/s-mosq.pid")" >>"$out/results" || true
stop s-mosq

echo
echo "raw results:"
sed 's/^/  /' "$out/results"
echo
"$bench" report "$out/results"
if [ -n "${BENCH_RESULTS:-}" ]; then
    cp "$out/results" "$BENCH_RESULTS"
fi
