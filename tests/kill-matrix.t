#!/usr/bin/perl
# Proof that the scenarios can fail: every deliberate defect of mqspec-broker
# (mqspec-broker --defect list) must make at least one scenario fail, while the
# same broker without defects passes every scenario (tests/suite-bundled.t).
# Prints the defect x scenario kill matrix as TAP comments.
#
# A defect is "caught" by a scenario whose verdict is fail or warn against the
# broker with that defect and pass against the same broker without it (a
# SHOULD the clean broker does not meet would otherwise "catch" everything).
# An error verdict is not a catch: it means mqspec could not judge.
# A scenario of level `may` can only ever say info (the standard leaves the
# behaviour open, v5.takeover.cross-user-takeover for one): for it, info
# against the defect and pass against the clean broker is the catch.
#
# mqspec starts each broker itself (its embedded mode, the defect passed in
# MQSPEC_BROKER_DEFECTS), so the broker gets the run's second user (the
# cross-user scenarios run) and can be restarted (restart_broker).
use strict;
use warnings;
use JSON::PP;
use File::Temp qw(tempdir);
use IO::Handle;
use FindBin;
chdir "$FindBin::Bin/.." or die;

# Defects whose rule needs a broker configuration no scenario can assume;
# each is checked packet by packet in tests/broker-raw.t instead.
my %elsewhere = (
    'expiry-cap-not-reported' => 'needs max_session_expiry configured; tests/broker-raw.t checks it',
);
# Scenarios that no deliberate defect can make fail, with the reason; keep
# this list very short: a new scenario normally comes with the defect it
# catches (broker/defect.c).
my %exempt = (
);
# Suite runs side by side. They mostly wait on timers (Will delays, expiry,
# keep alive), so 6 fit on 2 cores: 53 defects take about 5 min where 4 side
# by side took 7 (a 2-core machine, 119 scenarios).
my $parallel = $ENV{KILL_MATRIX_PARALLEL} || 6;

my $broker = 'build/mqspec-broker';
unless (-x $broker) { print "1..0 # SKIP $broker not built\n"; exit 0; }
my @defects = map { (split ' ', $_)[0] } grep { /\S/ } `$broker --defect list`;
my $tmp = tempdir(CLEANUP => 1);

# Runs the whole suite against a broker with one defect; leaves JSON in $tmp.
sub run_one {
    my ($defect) = @_;
    local $ENV{MQSPEC_BROKER_DEFECTS} = $defect eq 'none' ? '' : $defect;
    system("build/mqspec run -j 16 --json $tmp/$defect.json scenarios >$tmp/$defect.tap 2>&1");
}

my @queue = ('none', grep { !$elsewhere{$_} } @defects);
my %running;
while (@queue || %running) {
    while (@queue && keys(%running) < $parallel) {
        my $d = shift @queue;
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) { run_one($d); exit 0; }
        $running{$pid} = $d;
    }
    my $done = waitpid(-1, 0);
    delete $running{$done};
}

# fail or warn; or info from a scenario whose level is `may` (see above).
sub caught {
    my ($s) = @_;
    return $s->{verdict} =~ /^(fail|warn)$/ || ($s->{verdict} eq 'info' && ($s->{level} // '') eq 'may');
}

my (@ids, %killers, $n, %clean);
if (-s "$tmp/none.json" && open my $j, '<', "$tmp/none.json") {
    %clean = map { $_->{id} => $_->{verdict} } @{decode_json(do { local $/; <$j> })->{scenarios}};
}
for my $d (@defects) {
    next if $elsewhere{$d};
    my $f = "$tmp/$d.json";
    next unless -s $f;
    open my $j, '<', $f or next;
    my $doc = decode_json(do { local $/; <$j> });
    @ids = map { $_->{id} } @{$doc->{scenarios}} unless @ids;
    $killers{$d} = { map { $_->{id} => $_->{verdict} }
                     grep { caught($_) && ($clean{$_->{id}} // '') eq 'pass' }
                     @{$doc->{scenarios}} };
}

print "# kill matrix: rows are defects, columns scenarios (X = caught, e = error, - = not a pass on the clean broker)\n";
my %col; @col{@ids} = (1 .. @ids);
for my $i (0 .. $#ids) { printf "# %3d %s\n", $i + 1, $ids[$i]; }
my $header = join '', map { $_ % 10 } 1 .. @ids;
printf "# %-32s %s\n", '', $header;
for my $d (@defects) {
    if ($elsewhere{$d}) { printf "# %-32s (%s)\n", $d, $elsewhere{$d}; next; }
    my $f = "$tmp/$d.json";
    my (%verdict, %by);
    if (-s $f) { open my $j, '<', $f; %by = map { $_->{id} => $_ } @{decode_json(do { local $/; <$j> })->{scenarios}}; %verdict = map { $_ => $by{$_}{verdict} } keys %by; }
    my $row = join '', map { my $v = $verdict{$_} // '?';
                             ($clean{$_} // '') ne 'pass' ? '-' : caught($by{$_} // {verdict => $v}) ? 'X' : $v eq 'error' ? 'e' : '.' } @ids;
    printf "# %-32s %s\n", $d, $row;
}
STDOUT->flush;

my $t = 0;
for my $d (@defects) {
    $t++;
    if ($elsewhere{$d}) { print "ok $t - $d # SKIP $elsewhere{$d}\n"; next; }
    my @k = sort keys %{$killers{$d} // {}};
    if (@k) { print "ok $t - $d is caught by " . scalar(@k) . " scenario(s): " . join(', ', @k[0 .. ($#k < 2 ? $#k : 2)]) . (@k > 3 ? ', ...' : '') . "\n"; }
    else { print "not ok $t - $d is caught by no scenario\n"; }
}

# The other direction: a scenario that no defect can make fail proves nothing
# about a broker, so every scenario passing on the clean broker must be caught
# by at least one defect, unless %exempt (top) says why it cannot be.
for my $id (@ids) {
    $t++;
    if ($exempt{$id}) { print "ok $t - scenario $id # SKIP $exempt{$id}\n"; next; }
    my $c = $clean{$id} // 'missing';
    if ($c ne 'pass') { print "ok $t - scenario $id # SKIP $c on the clean broker (tests/suite-bundled.t judges that)\n"; next; }
    my @by = grep { $killers{$_} && $killers{$_}{$id} } @defects;
    if (@by) { print "ok $t - scenario $id is caught by " . scalar(@by) . " defect(s): " . join(', ', @by[0 .. ($#by < 2 ? $#by : 2)]) . (@by > 3 ? ', ...' : '') . "\n"; }
    else { print "not ok $t - scenario $id is caught by no defect\n"; }
}
print "1..$t\n";
