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
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
port=$(ci/brokers/mosquitto start "$dir")
free=$(ci/brokers/free-port)
# The binary has its own deadlines; timeout is the last resort against a hang.
timeout 120 "$bin" "$port" "$free"
