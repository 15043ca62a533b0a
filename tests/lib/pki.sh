#!/bin/sh
# tests/lib/pki.sh DIR -- a throw-away test PKI, made at test time with the
# openssl command line (no key is ever committed). EC P-256 keys: fast.
#
#   DIR/ca.pem, ca.key              the test CA
#   DIR/server.pem, server.key      CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1
#   DIR/client.pem, client.key      a client certificate (CN=mqspec-client)
#   DIR/expired.pem, expired.key    like server, but expired in 2020
#   DIR/wronghost.pem, wronghost.key  CN and SAN wrong.example (hostname mismatch)
#   DIR/other-ca.pem, other-ca.key  an unrelated CA (for "unknown CA")
#   DIR/other-server.pem, .key      localhost, signed by the unrelated CA
#
# Exit status 0, or non-zero with openssl's output on stderr. Takes ~0.2 s.
set -eu
d=${1:?usage: pki.sh DIR}
mkdir -p "$d"
log="$d/openssl.log"
: >"$log"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

run() { "$@" >>"$log" 2>&1 || { cat "$log" >&2; exit 1; }; }

ca() { # ca NAME CN
    run openssl req -x509 $ec -keyout "$d/$1.key" -out "$d/$1.pem" -days 2 \
        -subj "/CN=$2" -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign
}

leaf() { # leaf NAME CA CN SAN EKU
    printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\nextendedKeyUsage=%s\n' "$4" "$5" >"$d/$1.ext"
    run openssl req $ec -keyout "$d/$1.key" -out "$d/$1.csr" -subj "/CN=$3"
    run openssl x509 -req -in "$d/$1.csr" -CA "$d/$2.pem" -CAkey "$d/$2.key" -CAcreateserial \
        -out "$d/$1.pem" -days 2 -extfile "$d/$1.ext"
}

ca ca "mqspec test CA"
ca other-ca "unrelated test CA"
leaf server ca localhost "DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth
leaf client ca mqspec-client "DNS:mqspec-client" clientAuth
leaf wronghost ca wrong.example "DNS:wrong.example" serverAuth
leaf other-server other-ca localhost "DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth

# Expired: x509 -req cannot back-date, `openssl ca` can.
mkdir -p "$d/db"
: >"$d/db/index"
echo 1000 >"$d/db/serial"
cat >"$d/db/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $d/db/index
serial = $d/db/serial
new_certs_dir = $d/db
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[ext]
basicConstraints = CA:FALSE
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage = serverAuth
CNF
run openssl req $ec -keyout "$d/expired.key" -out "$d/expired.csr" -subj "/CN=localhost"
run openssl ca -batch -config "$d/db/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" \
    -in "$d/expired.csr" -out "$d/expired.pem" -notext -extensions ext \
    -startdate 20200101000000Z -enddate 20200102000000Z
chmod 600 "$d"/*.key
