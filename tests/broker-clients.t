#!/bin/sh
# broker-clients.t -- real clients not written here against build/mqspec-broker:
# Debian's mosquitto_sub / mosquitto_pub and the Python paho client. A
# persistent session goes offline, messages are published, it resumes and the
# offline messages arrive, for MQTT 5 and 3.1.1; and a Session Expiry ends a
# session. The broker is started with -p 0 and stopped by its PID.
cd "$(dirname "$0")/.." || exit 1
BROKER=${BROKER:-build/mqspec-broker}
if [ ! -x "$BROKER" ]; then echo "1..0 # SKIP $BROKER not built"; exit 0; fi
if ! command -v mosquitto_sub >/dev/null || ! /usr/bin/python3 -c 'import paho.mqtt' 2>/dev/null; then
    echo "1..0 # SKIP needs mosquitto-clients and python3-paho-mqtt"; exit 0
fi

dir=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

"$BROKER" -p 0 >"$dir/ready" 2>"$dir/broker.log" &
pid=$!
port=
i=0
while [ $i -lt 100 ] && [ -z "$port" ]; do
    port=$(awk '$1 == "listening" { print $3 }' "$dir/ready")
    [ -z "$port" ] && sleep 0.05
    i=$((i + 1))
done
echo "1..12"
if [ -z "$port" ]; then
    echo "not ok 1 - broker printed its ready line"; exit 1
fi
echo "ok 1 - broker ready on port $port"

ns="bc$$"
n=2
tap() { # tap OK|FAIL NAME [DETAIL]
    if [ "$1" = OK ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; [ -n "$3" ] && echo "#   $3"; fi
    n=$((n + 1))
}

# mosquitto_sub keeps a persistent session (-c, -i, -q 1), leaves, comes back.
mosq_round() { # mosq_round mqttv5|mqttv311
    v=$1 id="$ns-mosq-$1" t="$ns/mosq/$1"
    x=; [ "$v" = mqttv5 ] && x="-x 300"
    timeout 10 mosquitto_sub -p "$port" -V "$v" -i "$id" -c $x -q 1 -t "$t" -E >/dev/null 2>&1
    for m in one two three; do
        timeout 10 mosquitto_pub -p "$port" -V "$v" -q 1 -t "$t" -m "$m" || tap FAIL "pub $m"
    done
    out=$(timeout 10 mosquitto_sub -p "$port" -V "$v" -i "$id" -c $x -q 1 -t "$t" -C 3 -W 5 -d 2>&1)
    got=$(printf '%s\n' "$out" | grep -E '^(one|two|three)$' | tr '\n' ' ')
    if [ "$got" = "one two three " ]; then tap OK "mosquitto_sub $v: offline messages delivered on resume"
    else tap FAIL "mosquitto_sub $v: offline messages delivered on resume" "got '$got'"; fi
    # Resumed without subscribing again: the messages can only come from the session.
    if printf '%s\n' "$out" | grep -q 'received CONNACK (0)'; then tap OK "mosquitto_sub $v: CONNACK accepted"
    else tap FAIL "mosquitto_sub $v: CONNACK accepted" "$out"; fi
    # Clean up: a clean connect ends the session.
    timeout 10 mosquitto_sub -p "$port" -V "$v" -i "$id" -t "$t" -E >/dev/null 2>&1
}
mosq_round mqttv5
mosq_round mqttv311

# mosquitto_sub without -c: nothing is kept, nothing is delivered later.
t="$ns/mosq/clean"
timeout 10 mosquitto_sub -p "$port" -V mqttv5 -i "$ns-clean" -q 1 -t "$t" -E >/dev/null 2>&1
timeout 10 mosquitto_pub -p "$port" -V mqttv5 -q 1 -t "$t" -m lost
out=$(timeout 10 mosquitto_sub -p "$port" -V mqttv5 -i "$ns-clean" -c -x 10 -q 1 -t "$ns/other" -C 1 -W 1 2>&1)
case "$out" in
    *lost*) tap FAIL "mosquitto_sub mqttv5: a clean session keeps nothing" "$out" ;;
    *) tap OK "mosquitto_sub mqttv5: a clean session keeps nothing" ;;
esac

timeout 30 /usr/bin/python3 tests/broker/paho_session.py "$port" "$n" "$ns"
n=$((n + 5))

if kill -TERM "$pid" 2>/dev/null && wait "$pid"; then tap OK "broker exits 0 on SIGTERM"
else tap FAIL "broker exits 0 on SIGTERM" "$(tail -5 "$dir/broker.log")"; fi
pid=
