#!/usr/bin/perl
# Broker profiles (`mqspec run --profile FILE`, docs/brokers.md) and the
# restart_broker step's availability:
#  - bad profile files stop the run with FILE:LINE:COL: message and exit 2;
#  - a good profile's limits skip scenarios with the reason, and the JSON says
#    which capabilities came from the profile and which from the probe;
#  - restart_broker is skipped against a broker mqspec does not run (mosquitto);
#  - a profile's start / stop commands let mqspec run and restart a broker.
# Takes about 5 s.
use strict;
use warnings;
use JSON::PP;
use File::Temp qw(tempdir);
use FindBin;
chdir "$FindBin::Bin/.." or die;

my $bin = 'build/mqspec';
unless (-x $bin && -x 'build/mqspec-broker') { print "1..0 # SKIP not built\n"; exit 0; }
my $tmp = tempdir(CLEANUP => 1);
my $n = 0;
my $failed = 0;
sub ok { my ($c, $name) = @_; $n++; print(($c ? 'ok' : 'not ok') . " $n - $name\n"); $failed = 1 unless $c; }
sub write_file { my ($f, $t) = @_; open my $h, '>', $f or die "$f: $!"; print $h $t; close $h; }
sub slurp { my ($f) = @_; open my $h, '<', $f or return ''; local $/; <$h> }
sub run_json {
    my ($args, $json) = @_;
    my $out = `$bin run $args --json $json 2>$tmp/err`;
    my $rc = $? >> 8;
    my $doc = -s $json ? decode_json(slurp($json)) : {scenarios => []};
    return ($rc, $doc, $out);
}
sub verdicts { my ($doc) = @_; return { map { $_->{id} => $_ } @{$doc->{scenarios}} }; }

# ---- bad profiles: one line each, exit 2, nothing connects ----
my @bad = (
    ["name: x\nbogus: 1\n",                    '2:1: unknown key \'bogus\''],
    ["name: x\nname: y\n",                     '2:1: \'name\' is given twice (first on line 1)'],
    ["# c\n\nmax_queued_messages: ten\n",      '3:22: max_queued_messages: expected a whole number'],
    ["queue_qos0: maybe\n",                    '1:13: queue_qos0: expected yes or no'],
    ["versions: 5, 4\n",                       '1:14: versions: \'4\' is not 5 or 3.1.1'],
    ["  name: x\n",                            '1:1: a key starts at column 1'],
    ["name x\n",                               '1:5: expected \':\' after the key'],
    ["start: true\n",                          '1:1: start needs stop too'],
    ["max_session_expiry: 4294967296\n",       '1:21: max_session_expiry: 4294967296 is out of range'],
    ["broker: http://x\n",                     '1:9: broker: a URL'],
);
my $i = 0;
for my $b (@bad) {
    my ($text, $want) = @$b;
    my $f = "$tmp/bad$i.profile";
    $i++;
    write_file($f, $text);
    my $err = `$bin run --profile $f scenarios/restart 2>&1 >/dev/null`;
    my $rc = $? >> 8;
    chomp $err;
    ok($rc == 2 && index($err, "$f:$want") >= 0 && ($err =~ tr/\n//) == 0,
       "bad profile ($want): exit 2 with FILE:LINE:COL (got $rc: $err)");
}
my $err = `$bin run --profile $tmp/missing.profile scenarios/restart 2>&1 >/dev/null`;
ok(($? >> 8) == 2 && $err =~ /missing\.profile: cannot read/, 'a missing profile file: exit 2');

# ---- limits from the profile skip scenarios, with the reason ----
mkdir "$tmp/sc" or die;
write_file("$tmp/sc/qos0.yaml", <<'EOF');
id: v5.test.qos0-queued
title: needs QoS 0 queueing
spec: [v5:MQTT-3.1.2-5]
level: may
protocol: 5
requires: [queue_qos0]
clients: {c: {}}
steps:
  - c.connect: {}
EOF
system("cp scenarios/queueing/offline-messages-delivered-on-resume.yaml $tmp/sc/") == 0 or die;
write_file("$tmp/limits.profile", <<'EOF');
# the bundled broker (no start: mqspec starts it), described with tight limits
name: limits-test
queue_qos0: no
max_queued_messages: 1
max_session_expiry: 60
EOF
my ($rc, $doc) = run_json("--profile $tmp/limits.profile $tmp/sc", "$tmp/limits.json");
my $v = verdicts($doc);
ok($rc == 0, "limits profile: the run passes (exit $rc)");
my $q0 = $v->{'v5.test.qos0-queued'} // {};
ok(($q0->{verdict} // '') eq 'skip' && ($q0->{reason} // '') =~ /does not queue QoS 0.*queue_qos0: no/,
   'queue_qos0: no skips a scenario that requires it: ' . ($q0->{reason} // 'none'));
my $oq = $v->{'v5.queueing.offline-messages-delivered-on-resume'} // {};
ok(($oq->{verdict} // '') eq 'skip' && ($oq->{reason} // '') =~ /up to 2 messages queued.*at most 1/,
   'max_queued_messages 1 skips a scenario queueing 2: ' . ($oq->{reason} // 'none'));
my %caps = map { $_->{name} => $_ } @{$doc->{broker}{capabilities} // []};
ok(($doc->{broker}{profile} // '') eq 'limits-test', 'the report names the profile');
ok(($caps{queue_qos0}{source} // '') eq 'profile' && ($caps{max_queued_messages}{value} // '') eq '1'
   && ($caps{max_session_expiry}{source} // '') eq 'profile' && ($caps{maximum_qos}{source} // '') eq 'probe'
   && ($caps{restart}{source} // '') eq 'harness',
   'capabilities carry their source (profile, probe, harness)');

# ---- restart_broker against a broker mqspec does not run ----
my $mdir = "$tmp/mosq";
chomp(my $port = `ci/brokers/mosquitto start $mdir 2>/dev/null`);
if ($port =~ /^\d+$/) {
    ($rc, $doc) = run_json("--broker mqtt://127.0.0.1:$port scenarios/restart", "$tmp/mosq.json");
    my @s = @{$doc->{scenarios}};
    my @skipped = grep { $_->{verdict} eq 'skip'
                         && $_->{reason} eq 'the harness does not manage this broker (restart_broker)' } @s;
    ok(@s >= 4 && @skipped == @s && $rc == 0,
       sprintf('mosquitto by URL: all %d restart scenarios skip, "the harness does not manage this broker"', scalar @s));
    system("ci/brokers/mosquitto stop $mdir");
} else {
    ok(0, "mosquitto did not start ($port)");
}

# ---- a profile's start / stop commands: mqspec runs and restarts the broker ----
my $help = `build/mqspec-broker --help 2>&1`;
if ($help =~ /--data/) {
    write_file("$tmp/cmd.profile", <<'EOF');
name: by-commands
start: mkdir -p {dir}/data && build/mqspec-broker -p {port} --data {dir}/data >{dir}/log 2>&1 & echo $! > {dir}/pid
stop: kill $(cat {dir}/pid)
start_timeout: 10
EOF
    ($rc, $doc) = run_json("--profile $tmp/cmd.profile --only subscription-survives scenarios/restart",
                           "$tmp/cmd.json");
    my ($s) = @{$doc->{scenarios}};
    my $trace = join "\n", map { $_->{text} } @{$s->{trace} // []};
    ok($rc == 0 && ($s->{verdict} // '') eq 'pass' && $trace =~ /listens again on port/
       && ($doc->{broker}{url} // '') =~ /started by the profile/,
       'start / stop commands: the broker is restarted and the session survives (' . ($s->{verdict} // 'none') . ')');
} else {
    print "ok " . ++$n . " # SKIP mqspec-broker has no --data yet\n";
}

print "1..$n\n";
exit $failed;
