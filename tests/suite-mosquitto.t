#!/usr/bin/perl
# The whole scenario suite against a real third-party broker, Debian's
# mosquitto 2.0.11: the output is TAP that prove accepts, the JSON lists every
# scenario with its verdict and driver, and every verdict is the one we expect
# (tests/expected/mosquitto-2.0.11.txt lists, with reasons, where mosquitto
# deviates from the standard; everything else must pass).
use strict;
use warnings;
use JSON::PP;
use TAP::Parser;
use File::Temp qw(tempdir);
use FindBin;
chdir "$FindBin::Bin/.." or die;

my $tmp = tempdir(CLEANUP => 1);
my $port = `ci/brokers/mosquitto start $tmp/broker`;
chomp $port;
END { system("ci/brokers/mosquitto", "stop", "$tmp/broker") if $tmp; }
die "mosquitto did not start\n" unless $port =~ /^\d+$/;

my $rc = system("build/mqspec run -j 8 --broker mqtt://127.0.0.1:$port --json $tmp/r.json scenarios > $tmp/r.tap 2> $tmp/r.err") >> 8;
my $n = 0;
sub ok { my ($c, $d) = @_; $n++; print(($c ? "ok" : "not ok") . " $n - $d\n"); $c }

my %expected;
open my $e, '<', 'tests/expected/mosquitto-2.0.11.txt' or die;
while (<$e>) { next if /^\s*(#|$)/; my ($id, $v) = split; $expected{$id} = $v; }

ok($rc == 0 || $rc == 1, "mqspec run exits 0 or 1 (got $rc)");
my $p = TAP::Parser->new({source => "$tmp/r.tap"});
my @points;
while (my $r = $p->next) { push @points, $r if $r->is_test; }
ok(!$p->parse_errors, "the output is TAP that prove accepts") or print "# $_\n" for $p->parse_errors;
open my $j, '<', "$tmp/r.json" or die "no JSON: $!";
my $doc = decode_json(do { local $/; <$j> });
my @sc = @{$doc->{scenarios}};
ok(@sc >= 12, "at least 12 scenarios ran (" . scalar(@sc) . ")");
ok(@sc == @points, "one TAP test point per scenario in the JSON");
my %by_id = map { $_->{id} => $_ } @sc;
my $demo = $by_id{'v5.queueing.offline-messages-delivered-on-resume'};
ok($demo && $demo->{verdict} eq 'pass', "the demonstration scenario passes");
# A skipped scenario opens no connection, so it has no drivers to name.
ok(!grep({ $_->{verdict} ne 'skip' && !$_->{drivers} } @sc), "every scenario that ran names its drivers");
ok(scalar(grep { ($_->{drivers} // '') =~ /=raw/ } @sc) && scalar(grep { ($_->{drivers} // '') =~ /=mosquitto/ } @sc),
   "both drivers were used");
for my $s (@sc) {
    my $want = $expected{$s->{id}} // 'pass';
    # A pass that needed the re-run (a race under this machine's load) is
    # still a pass for the broker; it is shown, not hidden.
    my $got = $s->{verdict} eq 'flaky' && $want eq 'pass' ? 'pass' : $s->{verdict};
    print "# flaky: $s->{id}: ", ($s->{reason} // ''), "\n" if $s->{verdict} eq 'flaky';
    ok($got eq $want, "$s->{id}: $want") or do {
        print "# got $s->{verdict}: ", ($s->{reason} // ''), "\n";
        if ($s->{failure}) { print "#   expected: $s->{failure}{expected}\n#   observed: $s->{failure}{observed}\n"; }
    };
}
for my $id (sort keys %expected) { ok($by_id{$id}, "expected-verdict entry $id names a scenario"); }
print "1..$n\n";
