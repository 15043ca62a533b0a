#!/bin/sh
# drv-raw.t -- runs t-drv-raw (the raw packet driver's tests) against two
# throwaway Debian mosquitto 2.0 brokers on loopback: a plain one started by
# ci/brokers/mosquitto and a TLS one configured here, with a CA and server
# certificate generated now into a temp directory (no key is ever committed).
#
# Not for: testing mosquitto's TLS options or anything beyond what the driver
# needs to show (verified, unknown CA, hostname mismatch, insecure).
cd "$(dirname "$0")/.." || exit 1
bin="${BUILD:-build}/tests/t-drv-raw"
if [ ! -x "$bin" ]; then
    echo "1..1"
    echo "not ok 1 - $bin is not built (make $bin)"
    exit 1
fi
if [ ! -x /usr/sbin/mosquitto ] || ! command -v openssl >/dev/null 2>&1; then
    echo "1..0 # SKIP needs /usr/sbin/mosquitto and openssl (make deps)"
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mqspec-drv-raw.XXXXXX") || exit 1
cleanup() {
    ci/brokers/mosquitto stop "$tmp/plain" >/dev/null 2>&1
    ci/brokers/stop-pid "$tmp/tls/pid" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

port=$(ci/brokers/mosquitto start "$tmp/plain") || {
    echo "1..1"; echo "not ok 1 - mosquitto did not start"; sed 's/^/# /' "$tmp/plain/log"; exit 1; }

# Certificates: a CA, a server certificate for IP 127.0.0.1 and the name
# mqspec.invalid (so "localhost" is a hostname mismatch), and an unrelated CA.
c="$tmp/tls"
mkdir -p "$c"
gen() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$c/ca.key" -out "$c/ca.pem" -days 2 -subj "/CN=mqspec test CA" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$c/server.key" -out "$c/server.csr" -subj "/CN=mqspec-test-server" &&
    printf '%s\n' "subjectAltName=DNS:mqspec.invalid,IP:127.0.0.1" \
        "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" > "$c/ext.cnf" &&
    openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" \
        -CAcreateserial -out "$c/server.pem" -days 2 -extfile "$c/ext.cnf" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$c/other.key" -out "$c/other-ca.pem" -days 2 -subj "/CN=mqspec other CA"
}
tls_args=
if gen >"$c/openssl.log" 2>&1; then
    # mosquitto may drop to its own user when started as root: let it read.
    chmod 755 "$tmp" "$c"; chmod 644 "$c"/*.pem "$c"/*.key
    tport=$(ci/brokers/free-port)
    cat > "$c/mosquitto.conf" <<CONF
per_listener_settings false
allow_anonymous true
persistence false
log_dest stderr
log_type all
listener $tport 127.0.0.1
cafile $c/ca.pem
certfile $c/server.pem
keyfile $c/server.key
CONF
    /usr/sbin/mosquitto -c "$c/mosquitto.conf" </dev/null >/dev/null 2>"$c/log" &
    echo $! > "$c/pid"
    if ci/brokers/wait-port 127.0.0.1 "$tport" 10; then
        tls_args="$tport $c"
    else
        echo "# TLS mosquitto did not start:"; sed 's/^/#   /' "$c/log"
    fi
else
    echo "# could not generate certificates:"; sed 's/^/#   /' "$c/openssl.log"
fi

# shellcheck disable=SC2086
"$bin" "$port" $tls_args
rc=$?
if [ $rc -ne 0 ] && [ -n "${TEST_VERBOSE:-}" ]; then
    echo "# plain broker log:"; tail -n 60 "$tmp/plain/log" | sed 's/^/#   /'
fi
exit $rc
