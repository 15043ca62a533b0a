#!/usr/bin/perl
# tap-parse.t -- checks the report writers' output with real consumers.
#
# What it is for: the TAP that mqspec streams must be accepted by TAP::Parser
# (what prove uses) with the right counts of tests, skips and todos and every
# YAML block readable; the JSON must load in a real JSON parser with the
# documented shape. The sample run comes from build/tests/t-reports, which
# emits it on --emit-tap [--verbose] and --emit-json PATH.
#
# What it is not: a unit test of the writers (tests/unit/t-reports.c).
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use TAP::Parser;
use Test::More;

chdir(dirname(__FILE__) . '/..') or die "chdir: $!";
my $bin = ($ENV{BUILD} || 'build') . '/tests/t-reports';
plan skip_all => "$bin is not built (make $bin)" unless -x $bin;

for my $verbose (0, 1) {
    my $mode = $verbose ? 'verbose' : 'plain';
    my $tap = `$bin --emit-tap @{[ $verbose ? '--verbose' : '' ]}`;
    is($?, 0, "$mode: $bin --emit-tap exits 0");

    my $p = TAP::Parser->new({ tap => $tap });
    my ($yaml, $comments, $last) = (0, 0, '');
    my %yaml_of;
    my $test_no = 0;
    while (my $r = $p->next) {
        $last = $r->as_string;
        $test_no = $r->number if $r->is_test;
        $comments++ if $r->is_comment;
        if ($r->is_yaml) {
            $yaml++;
            $yaml_of{$test_no} = $r->data;
        }
    }
    is($p->version, 13, "$mode: TAP version 13");
    is_deeply([$p->parse_errors], [], "$mode: no parse errors");
    is($p->tests_planned, 8, "$mode: 8 planned");
    is($p->tests_run, 8, "$mode: 8 run");
    is(scalar $p->skipped, 1, "$mode: 1 skip");
    is(scalar $p->todo, 2, "$mode: 2 todo (the known failure, the flaky one)");
    # fail and error; the TODO does not count as failed
    is_deeply([$p->failed], [2, 6], "$mode: tests 2 and 6 failed");
    is(scalar $p->todo_passed, 0, "$mode: no TODO passed");
    is($yaml, $verbose ? 8 : 4, "$mode: YAML blocks read");
    like($last, qr/^# mqspec: 8 scenarios, 1 pass, 1 fail, .* in 38\.2 s against mqtt:/,
         "$mode: the summary line is last");

    my $fail = $yaml_of{2} || {};
    is($fail->{verdict}, 'fail', "$mode: the fail block has its verdict");
    is($fail->{step}{number}, 11, "$mode: ... the step number");
    is($fail->{step}{at}, 'scenarios/sample/sample.yaml:31:5', "$mode: ... file:line:col");
    like($fail->{expected} || '', qr/\Amessages \[m2, m3\] in order\nline1\nline2\r\n  indented: yes\n/,
         "$mode: ... expected, with escapes decoded");
    like($fail->{trace} || '', qr/^\+1234ms publisher > PUBLISH /m, "$mode: ... the trace");
    is(ref $fail->{timings}, 'ARRAY', "$mode: ... timings as a list");
    is($fail->{timings}[0]{by_ms}, 5000, "$mode: ... with their bounds");
}

# JSON: loaded by python3 where it exists (strict about UTF-8), else JSON::PP.
my $dir = tempdir(CLEANUP => 1);
my $json = "$dir/results.json";
system($bin, '--emit-json', $json);
is($?, 0, "--emit-json exits 0");
ok(-s $json, "the JSON file was written");

my $py = <<'PY';
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8", errors="strict"))
assert d["schema"] == "mqspec-results/1", d["schema"]
assert set(d["counts"]) == {"pass", "fail", "warn", "info", "skip", "error", "known", "flaky"}
assert len(d["scenarios"]) == 8
keys = {"id", "title", "file", "spec", "level", "protocol", "verdict", "reason", "drivers",
        "started_ms", "duration_ms", "failure", "timings", "notes", "trace"}
# Keys added later without a schema bump (docs/results-json.md) are allowed.
keys |= {"ns", "client_names", "client_ids", "baseline"}
for s in d["scenarios"]:
    assert set(s) == keys, set(s) ^ keys
assert [s["verdict"] for s in d["scenarios"]] == list(d["counts"])
f = d["scenarios"][1]["failure"]
assert f["step"] == 11 and f["line"] == 31 and f["col"] == 5, f
assert "\n- not a list\n" in f["expected"]
assert "\ufffd" in f["observed"]
assert d["scenarios"][1]["trace"][1]["dir"] == "sent"
print("ok")
PY
{
    my $have_py = system('python3 -c "" 2>/dev/null') == 0;
    if ($have_py) {
        open(my $ph, '-|', 'python3', '-c', $py, $json) or die "python3: $!";
        my $out = do { local $/; <$ph> };
        close($ph);
        is($out, "ok\n", "python3 loads the JSON and finds the documented shape")
            or diag("python3 exit status $?");
    } else {
        require JSON::PP;
        open(my $fh, '<:raw', $json) or die "$json: $!";
        my $raw = do { local $/; <$fh> };
        my $d = eval { JSON::PP->new->utf8->decode($raw) };
        ok($d && $d->{schema} eq 'mqspec-results/1' && @{ $d->{scenarios} } == 8,
           "JSON::PP loads the JSON and finds the documented shape") or diag($@);
    }
}

done_testing();
