#!/bin/sh
# broker-tls.t -- build/mqspec-broker's TLS listener (--tls-port 0 --cert --key)
# with a throw-away self-signed certificate: mosquitto clients keep a session
# over TLS, a large message crosses TLS both ways, and plain bytes or an
# abandoned handshake on the TLS port do not disturb the broker.
cd "$(dirname "$0")/.." || exit 1
BROKER=${BROKER:-build/mqspec-broker}
if [ ! -x "$BROKER" ]; then echo "1..0 # SKIP $BROKER not built"; exit 0; fi
if ! command -v openssl >/dev/null || ! command -v mosquitto_sub >/dev/null; then
    echo "1..0 # SKIP needs openssl and mosquitto-clients"; exit 0
fi
dir=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
echo "1..7"
n=1
tap() { # tap OK|FAIL NAME [DETAIL]
    if [ "$1" = OK ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; [ -n "${3:-}" ] && echo "#   $3"; fi
    n=$((n + 1))
}

tests/lib/pki.sh "$dir/pki" >/dev/null || { tap FAIL "tests/lib/pki.sh makes the test PKI"; exit 1; }
cp "$dir/pki/server.pem" "$dir/cert.pem"; cp "$dir/pki/server.key" "$dir/key.pem"
# -v: the debug log says when a SUBSCRIBE is done, which the large-message step awaits.
"$BROKER" -v -p 0 --tls-port 0 --cert "$dir/cert.pem" --key "$dir/key.pem" >"$dir/ready" 2>"$dir/log" &
pid=$!
i=0
while [ $i -lt 100 ] && ! grep -q '^listening-tls ' "$dir/ready"; do sleep 0.05; i=$((i + 1)); done
port=$(awk '$1 == "listening" { print $3 }' "$dir/ready")
tport=$(awk '$1 == "listening-tls" { print $3 }' "$dir/ready")
if [ -n "$port" ] && [ -n "$tport" ]; then tap OK "ready lines for TCP ($port) and TLS ($tport)"
else tap FAIL "ready lines for TCP and TLS" "$(cat "$dir/ready" "$dir/log")"; exit 1; fi

tls="-h localhost -p $tport --cafile $dir/pki/ca.pem"     # verified: CA and host name
ns="bt$$"
timeout 10 mosquitto_sub $tls -V mqttv5 -i "$ns-s" -c -x 300 -q 1 -t "$ns/#" -E >/dev/null 2>&1
timeout 10 mosquitto_pub $tls -V mqttv5 -q 1 -t "$ns/a" -m over-tls
timeout 10 mosquitto_pub -p "$port" -V mqttv311 -q 1 -t "$ns/b" -m over-tcp
got=$(timeout 10 mosquitto_sub $tls -V mqttv5 -i "$ns-s" -c -x 300 -q 1 -t "$ns/#" -C 2 -W 5 | tr '\n' ' ')
if [ "$got" = "over-tls over-tcp " ]; then tap OK "a session kept over TLS gets messages published over TLS and TCP"
else tap FAIL "a session kept over TLS gets messages published over TLS and TCP" "got '$got'"; fi

head -c 300000 /dev/urandom | base64 -w0 >"$dir/big"
timeout 10 mosquitto_sub $tls -t "$ns/big" -C 1 -W 8 >"$dir/big.out" &
sub=$!
i=0
while [ $i -lt 100 ] && ! grep -q "subscribed to $ns/big" "$dir/log"; do sleep 0.05; i=$((i + 1)); done
timeout 10 mosquitto_pub $tls -t "$ns/big" -f "$dir/big"
wait $sub
if tr -d '\n' <"$dir/big.out" | cmp -s - "$dir/big"; then tap OK "a 400 kB message crosses TLS both ways intact"
else tap FAIL "a 400 kB message crosses TLS both ways intact" "$(wc -c <"$dir/big.out") bytes received"; fi

# Plain MQTT on the TLS port, and a handshake abandoned half way.
/usr/bin/python3 - "$tport" <<'PY'
import socket, sys
p = int(sys.argv[1])
s = socket.create_connection(('127.0.0.1', p), timeout=3)
s.sendall(b'\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01x')
try:
    s.recv(100)
except OSError:
    pass
s.close()
s = socket.create_connection(('127.0.0.1', p), timeout=3)
s.sendall(b'\x16\x03\x01\x00\xff\x01\x00')      # the start of a ClientHello, then nothing
s.close()
PY
if kill -0 "$pid" 2>/dev/null; then tap OK "plain bytes and an abandoned handshake on the TLS port: broker still up"
else tap FAIL "plain bytes and an abandoned handshake on the TLS port: broker still up"; fi
got=$(timeout 10 mosquitto_pub $tls -t "$ns/x" -m y 2>&1 && echo sent)
if [ "$got" = sent ]; then tap OK "TLS clients are still served afterwards"; else tap FAIL "TLS clients are still served afterwards" "$got"; fi

if "$BROKER" -p 0 --tls-port 0 --cert "$dir/missing.pem" --key "$dir/key.pem" >/dev/null 2>&1; then
    tap FAIL "a missing certificate is refused at start"
else tap OK "a missing certificate is refused at start"; fi

if kill -TERM "$pid" 2>/dev/null && wait "$pid"; then tap OK "broker exits 0 on SIGTERM"
else tap FAIL "broker exits 0 on SIGTERM" "$(tail -5 "$dir/log")"; fi
pid=
