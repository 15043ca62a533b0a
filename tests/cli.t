#!/bin/sh
# The command line as a user meets it: version, help, exit codes for bad
# invocations, an unreachable broker (exit 3, quickly) and a broker that accepts
# TCP but never answers (error verdicts within the step deadlines, no hang).
cd "$(dirname "$0")/.." || exit 1
bin=build/mqspec
n=0; fail=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
echo "1..11"

$bin --version | grep -q '^mqspec [0-9]'; ok $? "--version prints a version"
$bin --help | grep -q 'run'; ok $? "--help lists the commands"
$bin run --help | grep -q -- '--broker'; ok $? "run --help lists its options"
$bin frobnicate >/dev/null 2>&1; [ $? = 2 ]; ok $? "an unknown command exits 2"
$bin run --no-such-option >/dev/null 2>&1; [ $? = 2 ]; ok $? "an unknown option exits 2"
$bin run --broker http://x >/dev/null 2>&1; [ $? = 2 ]; ok $? "a broker URL that is not mqtt:// exits 2"

tmp=$(mktemp -d); trap 'kill $lpid 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(ci/brokers/free-port)
start=$(date +%s)
$bin run --broker "mqtt://127.0.0.1:$port" scenarios >"$tmp/out" 2>"$tmp/err"; rc=$?
took=$(( $(date +%s) - start ))
[ $rc = 3 ]; ok $? "nothing listening: exit 3 (got $rc)"
[ $took -le 10 ]; ok $? "nothing listening: answered within 10 s (took $took s)"
grep -q 'unreachable' "$tmp/err"; ok $? "nothing listening: the reason is printed"

# A listener that accepts and never says a word; it exits by itself.
port=$(ci/brokers/free-port)
perl -MIO::Socket::INET -e '
    my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], Listen => 64, ReuseAddr => 1) or die;
    my @held; $SIG{ALRM} = sub { exit 0 }; alarm 60;
    while (my $c = $l->accept) { push @held, $c }' "$port" &
lpid=$!
ci/brokers/wait-port 127.0.0.1 "$port" 5
start=$(date +%s)
timeout 60 $bin run -j 4 --broker "mqtt://127.0.0.1:$port" --only 'v5.queueing.offline-messages-delivered-on-resume' scenarios >"$tmp/out" 2>"$tmp/err"; rc=$?
took=$(( $(date +%s) - start ))
[ $rc = 1 ] && grep -q 'no CONNACK within' "$tmp/out"; ok $? "silent broker: an error verdict naming the missing CONNACK (exit $rc)"
[ $took -le 30 ]; ok $? "silent broker: no hang (took $took s)"
exit $fail
