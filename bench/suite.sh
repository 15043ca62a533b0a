#!/bin/sh
# suite.sh -- `make bench`: how long the whole scenario suite takes against the
# bundled broker, serial (-j 1) and parallel (the default, -j auto), beside the
# longest single scenario, which bounds any parallel run from below.
#
# What it is for: the figures of docs/bench.md ("the suite"): serial and
# parallel wall time, the longest scenario, the ratio parallel / longest
# (goal <= 1.25), and the harness's own CPU time (from the results JSON,
# getrusage of the mqspec process) apart from the brokers' and from the waits.
# mqspec starts the bundled broker itself, as `make run` does, so that the
# scenarios that need a broker it runs (restart_broker, a second user) run.
#
# What it is not: a test (it exits 0 when both runs ran, whatever the ratio;
# a goal not met is printed, not failed), nor the broker benchmark
# (bench/run.sh, `make bench-broker`).
#
#   BENCH_SERIAL=0   skip the serial run (about 4 minutes)
#   BENCH_RUNS=N     parallel runs (default 3); the median is shown
set -eu
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
serial=${BENCH_SERIAL:-1}
runs=${BENCH_RUNS:-3}
out=$(mktemp -d "${TMPDIR:-/tmp}/mqspec-suite.XXXXXX")

cleanup() {
    rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU seconds of mqspec and the brokers it started and waited for (user+sys),
# from /usr/bin/time when it is there.
timer=
[ -x /usr/bin/time ] && timer="/usr/bin/time -f %U+%S -o"

now() { date +%s.%N; }

# run NAME ARGS...: one suite run; wall seconds in $out/NAME.wall, JSON in
# $out/NAME.json, CPU seconds of mqspec and its brokers in $out/NAME.cpu.
run() {
    name=$1
    shift
    t0=$(now)
    rc=0
    if [ -n "$timer" ]; then
        $timer "$out/$name.time" "$BUILD/mqspec" run --json "$out/$name.json" "$@" scenarios \
            >"$out/$name.tap" 2>"$out/$name.err" || rc=$?
    else
        "$BUILD/mqspec" run --json "$out/$name.json" "$@" scenarios >"$out/$name.tap" 2>"$out/$name.err" || rc=$?
    fi
    t1=$(now)
    echo "$t0 $t1" | awk '{ printf "%.2f\n", $2 - $1 }' > "$out/$name.wall"
    if [ -s "$out/$name.time" ]; then
        tail -1 "$out/$name.time" | awk -F+ '{ printf "%.2f\n", $1 + $2 }' > "$out/$name.cpu"
    else
        echo -1 > "$out/$name.cpu"
    fi
    if [ "$rc" -gt 1 ]; then
        echo "bench: mqspec run $* exited $rc:" >&2
        tail -5 "$out/$name.err" >&2
        exit 1
    fi
}

echo "suite: $(find scenarios -name '*.yaml' | wc -l) scenario files against the bundled mqspec-broker (started by mqspec); CPUs: $(nproc); $(uname -sr)"
if [ "$serial" != 0 ]; then
    echo "serial run (-j 1), about 4 minutes ..."
    run serial -j 1
fi
k=1
while [ $k -le "$runs" ]; do
    run "parallel$k"
    k=$((k + 1))
done

# The figures, from the JSON of each run (perl's core JSON::PP).
perl -MJSON::PP -e '
    my ($dir, $serial, $runs) = @ARGV;
    sub slurp { local $/; open my $f, "<", $_[0] or die "$_[0]: $!"; <$f> }
    sub one {
        my ($name) = @_;
        my $j = decode_json(slurp("$dir/$name.json"));
        my ($wall) = slurp("$dir/$name.wall") =~ /([\d.]+)/;
        my ($all) = slurp("$dir/$name.cpu") =~ /(-?[\d.]+)/;
        my ($long) = sort { $b->{duration_ms} <=> $a->{duration_ms} } @{$j->{scenarios}};
        my $c = $j->{counts};
        my $cpu = $j->{scheduling}{harness_cpu_ms} || {user => 0, sys => 0};
        my ($u, $s) = ($cpu->{user} / 1000, $cpu->{sys} / 1000);
        return { wall => $wall, run_ms => $j->{duration_ms},
                 bcpu => $all < 0 ? "n/a" : sprintf("%.2f", $all - $u - $s),
                 user => $u, sys => $s,
                 long => $long->{duration_ms} / 1000, long_id => $long->{id},
                 n => scalar @{$j->{scenarios}}, requeued => $j->{scheduling}{requeued} // 0,
                 verdicts => join(" ", map { "$c->{$_} $_" } grep { $c->{$_} } sort keys %$c) };
    }
    my @rows;
    push @rows, ["serial (-j 1)", one("serial")] if $serial;
    my @par = sort { $a->{wall} <=> $b->{wall} } map { one("parallel$_") } 1 .. $runs;
    my $med = $par[int(@par / 2)];
    push @rows, ["parallel (-j auto, run $_)", $par[$_ - 1]] for 1 .. @par;
    printf "\n%-26s %8s %8s %10s %10s %10s  %s\n", "run", "wall s", "run s", "harness", "harness", "brokers",
        "verdicts";
    printf "%-26s %8s %8s %10s %10s %10s\n", "", "", "", "user s", "sys s", "CPU s";
    printf "%-26s %8.2f %8.2f %10.2f %10.2f %10s  %s%s\n", $_->[0], @{$_->[1]}{qw(wall)},
        $_->[1]{run_ms} / 1000, @{$_->[1]}{qw(user sys bcpu verdicts)},
        $_->[1]{requeued} ? ", $_->[1]{requeued} re-queued" : "" for @rows;
    # The longest scenario from the serial run when there is one: alone on
    # the machine, it is the scenario'"'"'s own length, not stretched by the others.
    my $ref = $serial ? one("serial") : $med;
    my $ratio = $med->{wall} / $ref->{long};
    printf "\nlongest scenario: %.2f s (%s, %s run)\n", $ref->{long}, $ref->{long_id},
        $serial ? "serial" : "parallel";
    printf "parallel wall (median of %d): %.2f s; ratio parallel / longest: %.2f (goal <= 1.25: %s)\n",
        scalar @par, $med->{wall}, $ratio, $ratio <= 1.25 ? "met" : "NOT met";
    printf "serial / parallel: %.1fx\n", $rows[0][1]{wall} / $med->{wall} if $serial;
    printf "harness CPU in the parallel run: %.2f s (%.1f %% of its wall time); the rest is waiting\n",
        $med->{user} + $med->{sys}, 100 * ($med->{user} + $med->{sys}) / $med->{wall};
' "$out" "$([ "$serial" != 0 ] && echo 1 || echo 0)" "$runs"
