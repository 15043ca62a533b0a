#!/bin/sh
# Parallel scheduling (-j auto): a broker that turns connections away lowers
# the parallelism instead of failing scenarios. The bundled broker with
# max_clients 10 closes every connection beyond ten at once; the 3.1.1
# scenarios (about 40 clients, started together) must all still pass, with
# the re-queues and the lowering reported in TAP and JSON. Then the same
# broker with busy_clients 3, which answers a CONNECT beyond three connections
# with CONNACK 0x89 Server busy: the v5.c* scenarios must all pass. Also the
# option checks of -j and --max-connections. About 15 s.
cd "$(dirname "$0")/.." || exit 1
bin=build/mqspec
[ -x build/mqspec-broker ] || { echo "1..0 # SKIP build/mqspec-broker not built"; exit 0; }
n=0; fail=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
echo "1..12"

$bin run -j 0 scenarios >/dev/null 2>&1; [ $? = 2 ]; ok $? "-j 0 exits 2"
$bin run -j lots scenarios >/dev/null 2>&1; [ $? = 2 ]; ok $? "-j lots exits 2"
$bin run --max-connections 0 scenarios >/dev/null 2>&1; [ $? = 2 ]; ok $? "--max-connections 0 exits 2"

tmp=$(mktemp -d)
bpid=
trap '[ -n "$bpid" ] && kill $bpid 2>/dev/null; rm -rf "$tmp"' EXIT
printf 'max_clients 10\n' > "$tmp/broker.conf"
build/mqspec-broker -p 0 -c "$tmp/broker.conf" </dev/null >"$tmp/ready" 2>"$tmp/broker.log" &
bpid=$!
i=0
while ! grep -q '^listening ' "$tmp/ready" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
port=$(awk '/^listening /{print $3; exit}' "$tmp/ready")

# Not scenarios/robustness: its flood holds 128 connections, which a broker
# limited to 10 turns away by design (and the new client after it too).
dirs=$(ls -d scenarios/*/ | grep -v '^scenarios/robustness/$')
# shellcheck disable=SC2086
timeout 120 $bin run --broker "mqtt://127.0.0.1:$port" --only 'v311.*' --json "$tmp/r.json" $dirs \
    >"$tmp/r.tap" 2>"$tmp/r.err"; rc=$?
[ $rc = 0 ]; ok $? "every 3.1.1 scenario passes against a broker limited to 10 connections (exit $rc)"
grep -q '^# parallelism lowered to ' "$tmp/r.tap"; ok $? "the lowering is a TAP comment"
grep -q 'max_clients (10) reached' "$tmp/broker.log"; ok $? "the broker did refuse connections"

perl -MJSON::PP -e '
    local $/; open my $f, "<", $ARGV[0] or die; my $j = decode_json(<$f>);
    my $s = $j->{scheduling};
    my $notes = grep { grep { /^re-queued \(\d\) after the broker refused a connection/ } @{$_->{notes}} } @{$j->{scenarios}};
    print $s->{jobs} eq "auto" && $s->{max_connections} == 256 ? "" : "not ", "ok 7 - JSON: jobs auto, budget 256\n";
    print $s->{requeued} > 0 && @{$s->{lowered}} > 0 && $s->{lowered}[0]{max_connections} < 256
        ? "" : "not ", "ok 8 - JSON: requeued $s->{requeued}, lowered ", scalar @{$s->{lowered}}, " time(s)\n";
    print $notes > 0 ? "" : "not ", "ok 9 - a re-queued scenario says so in its notes ($notes)\n";
' "$tmp/r.json" | tee "$tmp/json.tap"
grep -q '^not ok' "$tmp/json.tap" && fail=1
[ -s "$tmp/json.tap" ] || fail=1
n=9

kill $bpid 2>/dev/null; wait $bpid 2>/dev/null
printf 'busy_clients 3\n' > "$tmp/busy.conf"
build/mqspec-broker -p 0 -c "$tmp/busy.conf" </dev/null >"$tmp/ready2" 2>"$tmp/broker2.log" &
bpid=$!
i=0
while ! grep -q '^listening ' "$tmp/ready2" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
port=$(awk '/^listening /{print $3; exit}' "$tmp/ready2")
timeout 120 $bin run --broker "mqtt://127.0.0.1:$port" --only 'v5.c*' scenarios >"$tmp/b.tap" 2>"$tmp/b.err"; rc=$?
[ $rc = 0 ]; ok $? "every v5.c* scenario passes against a broker busy beyond 3 connections (exit $rc)"
grep -q '^# parallelism lowered to .*CONNACK 0x89 Server busy' "$tmp/b.tap"; ok $? "the lowering names CONNACK 0x89"
grep -q '^# verdicts: .* 0 error' "$tmp/b.tap"; ok $? "no error verdict"
[ $fail = 0 ] || { echo "# TAP of the runs:"; cat "$tmp/r.tap" "$tmp/b.tap" 2>/dev/null | sed 's/^/# /' | grep -v '^# ok' | head -60; }
exit $fail
