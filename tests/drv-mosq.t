#!/bin/sh
# The libmosquitto driver (harness/drv_mosq.c) against a Debian mosquitto 2.0 on
# loopback, plus the test binary's own fake servers. Run by prove after
# `make build/tests/t-drv-mosq` (BUILD selects another build tree).
set -eu
cd "$(dirname "$0")/.."
bin="${BUILD:-build}/tests/t-drv-mosq"
if [ ! -x "$bin" ]; then
    echo "1..1"
    echo "not ok 1 - $bin is not built (make $bin)"
    exit 1
fi
if [ ! -x /usr/sbin/mosquitto ]; then
    echo "1..0 # SKIP /usr/sbin/mosquitto not installed"
    exit 0
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/mqspec-drv-mosq.XXXXXX")
cleanup() {
    ci/brokers/mosquitto stop "$dir" >/dev/null 2>&1 || true
    ci/brokers/stop-pid "$dir/tls/pid" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
port=$(ci/brokers/mosquitto start "$dir")
free=$(ci/brokers/free-port)

# A TLS broker with the test PKI of tests/lib/pki.sh (generated now, never
# committed); its unrelated CA is the failure case.
c="$dir/tls"
mkdir -p "$c"
tls_args=
if command -v openssl >/dev/null 2>&1 && tests/lib/pki.sh "$c" >/dev/null 2>&1; then
    chmod 755 "$dir" "$c"; chmod 644 "$c"/*.pem "$c"/*.key
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
        echo "# TLS mosquitto did not start"
    fi
else
    echo "# no certificates (openssl missing or failed): TLS tests skipped"
fi

# The binary has its own deadlines; timeout is the last resort against a hang.
# shellcheck disable=SC2086
timeout 120 "$bin" "$port" "$free" $tls_args
