"""crash.py -- kill -9 mqspec-broker --data at random moments; nothing
acknowledged may be lost, nothing at QoS 2 may arrive twice.

What it is for: tests/broker-crash.t. Three durable subscribers (MQTT 5 with
Session Expiry 600 at QoS 2 and at QoS 1, and 3.1.1 CleanSession 0 at QoS 2)
subscribe and go offline. Two publishers with durable sessions (5.0 and 3.1.1)
publish numbered messages at QoS 1 and 2, alternately, with up to WINDOW in
flight each, while the broker is killed with SIGKILL after a random delay,
KILLS times, and restarted on the same port with the same --data directory.
After each restart the publishers resume their sessions and resend what was
not acknowledged, as the standard asks: PUBLISH with DUP 1 and the same packet
id before PUBACK / PUBREC, PUBREL after PUBREC. A message counts as
acknowledged at PUBACK (QoS 1) or PUBREC (QoS 2: the server owns it then).
Finally the subscribers resume and drain their queues: every acknowledged
message must be there, at QoS 2 exactly once. A fourth durable subscriber
(5.0, QoS 2) stays connected through the kills, acknowledging as it goes, and
reconnects after each restart: it exercises the in-flight state (sent, PUBREC
received) across crashes, and must also get everything, QoS 2 once.

Also checked on the way: expiry counts while the broker is down (a session
with Session Expiry 1 is gone after 1.5 s of broker down time, while one with
600 is not), and the Will of a client whose connection the crash cut is
published after the restart.

Prints TAP. CRASH_SEED=N repeats a run; CRASH_KILLS=N changes the count.

What it is not: a test of power loss (a killed process loses nothing the
kernel has; see docs/broker.md on --sync) or of performance.
"""
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mqttraw import (Client, Closed, ready_line, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP,  # noqa: E402
                     SEI, ack, publish, sub_opts)

BIN = sys.argv[1]
WORK = sys.argv[2]
DATA = os.path.join(WORK, 'data')
KILLS = int(os.environ.get('CRASH_KILLS', '22'))
SEED = int(os.environ.get('CRASH_SEED', str(int(time.time() * 1000) % 1000000)))
WINDOW = 16
RATE = 400          # new messages per second and publisher: kills land mid-stream
rng = random.Random(SEED)

tests = 0
failed = 0


def ok(cond, name):
    global tests, failed
    tests += 1
    print('%sok %d - %s' % ('' if cond else 'not ', tests, name), flush=True)
    if not cond:
        failed += 1
    return cond


live = []      # the broker running now, killed whatever happens to the test


def cleanup(*_):
    for b in live:
        if b.proc.poll() is None:
            b.proc.kill()
    sys.exit(1)


class Broker:
    def __init__(self, port=0):
        conf = os.path.join(WORK, 'broker.conf')
        with open(conf, 'w') as f:
            # A small compaction threshold, so kills also land during and
            # between compactions.
            f.write('max_queued_messages 1000000\ncompact_min 65536\n')
        self.log = open(os.path.join(WORK, 'broker.log'), 'ab')
        self.proc = subprocess.Popen([BIN, '-p', str(port), '--data', DATA, '--sync', 'always',
                                      '-c', conf], stdout=subprocess.PIPE, stderr=self.log)
        line, self.port = ready_line(self.proc, 10)
        if self.port is None:
            self.kill()
            raise RuntimeError('broker did not start: %r (see %s/broker.log)' % (line, WORK))
        live[:] = [self]

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        live.clear()
        self.proc.stdout.close()
        self.log.close()


class Publisher:
    """A durable publishing session with its own in-flight bookkeeping."""

    def __init__(self, cid, v):
        self.cid, self.v = cid, v
        self.n = 0
        self.out = {}           # pid -> [n, qos, stage]; stage 'pub' or 'rel'
        self.order = []         # pids in send order, for the resend
        self.acked = {1: set(), 2: set()}
        self.c = None
        self.first = True
        self.t0 = time.monotonic()

    def connect(self, port):
        self.c = Client(port, v=self.v, name=self.cid)
        # 3.1.1 has no expiry: CleanSession 0 is what makes it durable.
        kw = {'clean': self.first and self.v == 5}
        if self.v == 5:
            kw['p'] = [(SEI, 600)]
        ca = self.c.connect(self.cid, **kw)
        present = ca.sp
        if not self.first and not present:
            raise AssertionError('%s: session not present after restart' % self.cid)
        self.first = False
        # Resend in the original order [MQTT-4.4.0-1].
        for pid in self.order:
            n, qos, stage = self.out[pid]
            if stage == 'pub':
                self.c.send(publish('crash/q%d' % qos, self.payload(n), qos=qos, pid=pid, dup=True, v=self.v))
            else:
                self.c.send(ack(PUBREL, pid, v=self.v))

    def payload(self, n):
        return ('%s %d' % (self.cid, n)).encode()

    def fill(self, limit=True):
        allowed = int((time.monotonic() - self.t0) * RATE)
        while len(self.out) < WINDOW and limit and self.n < allowed:
            self.n += 1
            qos = 1 if self.n % 2 else 2
            pid = self.n % 65535 + 1
            self.out[pid] = [self.n, qos, 'pub']
            self.order.append(pid)
            self.c.send(publish('crash/q%d' % qos, self.payload(self.n), qos=qos, pid=pid, v=self.v))

    def done(self, pid):
        del self.out[pid]
        self.order.remove(pid)

    def handle(self, p):
        e = self.out.get(p.pid)
        if e is None:
            return
        n, qos, stage = e
        if p.type == PUBACK and qos == 1:
            self.acked[1].add(n)
            self.done(p.pid)
        elif p.type == PUBREC and qos == 2:
            self.acked[2].add(n)
            e[2] = 'rel'
            self.c.send(ack(PUBREL, p.pid, v=self.v))
        elif p.type == PUBCOMP and qos == 2 and stage == 'rel':
            self.done(p.pid)

    def pump(self, until, more=True):
        """Publishes and handles acks until `until` (monotonic) or a broken connection."""
        try:
            while time.monotonic() < until:
                if more:
                    self.fill()
                elif not self.out:
                    return
                p = self.c.recv(min(0.05, max(0.0, until - time.monotonic())))
                if p is not None:
                    self.handle(p)
        except (Closed, OSError):
            pass


class LiveSub:
    """A durable QoS 2 subscriber that stays connected through the kills and
    reconnects after each: what it receives is handed to the application
    once, QoS 2 by the receiver's side of the protocol (a packet id awaiting
    PUBREL is not delivered again when its PUBLISH is resent, §4.3.3), which
    the client keeps across reconnections as its session state."""

    def __init__(self, cid):
        self.cid = cid
        self.c = None
        self.first = True
        self.awaiting_rel = set()
        self.got = []           # (payload, qos) handed to the application
        self.last = time.monotonic()

    def connect(self, port):
        self.c = Client(port, name=self.cid)
        ca = self.c.connect(self.cid, clean=self.first, p=[(SEI, 600)])
        if self.first:
            self.c.subscribe([('crash/#', sub_opts(2))])
        elif not ca.sp:
            raise AssertionError('%s: session not present after restart' % self.cid)
        self.first = False

    def pump(self, until):
        try:
            while time.monotonic() < until:
                p = self.c.recv(max(0.0, min(0.01, until - time.monotonic())))
                if p is None:
                    return
                self.last = time.monotonic()
                if p.type == PUBLISH and p.qos == 1:
                    self.got.append((p.payload, 1))
                    self.c.send(ack(PUBACK, p.pid))
                elif p.type == PUBLISH and p.qos == 2:
                    if p.pid not in self.awaiting_rel:
                        self.got.append((p.payload, 2))
                        self.awaiting_rel.add(p.pid)
                    self.c.send(ack(PUBREC, p.pid))
                elif p.type == PUBREL:
                    self.awaiting_rel.discard(p.pid)
                    self.c.send(ack(PUBCOMP, p.pid))
        except (Closed, OSError):
            pass


def pump_all(pubs, until, more=True, live=None):
    """Round-robin over the publishers and the live subscriber, in short slices."""
    while time.monotonic() < until:
        for p in pubs:
            p.pump(min(until, time.monotonic() + 0.02), more)
        if live:
            live.pump(min(until, time.monotonic() + 0.02))
        if not more and all(not p.out for p in pubs):
            return


def drain(port, cid, v, want):
    """Resumes a subscriber and takes everything queued for it: [(payload, qos)].
    It stops once every payload in `want` has come and 0.5 s passed quietly (so
    a duplicate would still be seen), or after 30 s: never on a mere pause of a
    loaded machine while something is still missing."""
    c = Client(port, v=v, name=cid)
    kw = {'clean': False}
    if v == 5:
        kw['p'] = [(SEI, 600)]
    ca = c.connect(cid, **kw)
    got = []
    seen = set()
    pending_rel = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        p = c.recv(0.5)
        if p is None:
            if want <= seen:
                break
            continue
        if p.type == PUBLISH:
            got.append((p.payload, p.qos, p.topic))
            seen.add(p.payload)
            if p.qos == 1:
                c.send(ack(PUBACK, p.pid, v=v))
            elif p.qos == 2:
                c.send(ack(PUBREC, p.pid, v=v))
                pending_rel.add(p.pid)
        elif p.type == PUBREL:
            pending_rel.discard(p.pid)
            c.send(ack(PUBCOMP, p.pid, v=v))
    c.disconnect()
    return ca.sp, got


def main():
    os.makedirs(WORK, exist_ok=True)
    print('# seed %d (CRASH_SEED=%d repeats this run), %d kills' % (SEED, SEED, KILLS), flush=True)
    b = Broker()
    port = b.port
    subs = [('crash-s5', 5, 2), ('crash-s3', 4, 2), ('crash-s1', 5, 1)]
    for cid, v, q in subs:
        c = Client(port, v=v, name=cid)
        kw = {'clean': True} if v == 5 else {'clean': False}
        if v == 5:
            kw['p'] = [(SEI, 600)]
        c.connect(cid, **kw)
        filters = [('crash/#', sub_opts(q))]
        if cid == 'crash-s5':
            filters.append(('will/#', sub_opts(1)))
        c.subscribe(filters)
        c.disconnect()

    live = LiveSub('crash-live')
    live.connect(port)

    # Expiry while down: 1 s against 600 s, across 1.5 s with no broker.
    for cid, sei in (('crash-short', 1), ('crash-long', 600)):
        c = Client(port, name=cid)
        c.connect(cid, clean=True, p=[(SEI, sei)])
        c.disconnect()
    # A client connected when the broker dies: its Will must still go out.
    w = Client(port, name='crash-will')
    w.connect('crash-will', clean=True, will={'topic': 'will/crash', 'payload': 'cut by the crash', 'qos': 1})
    b.kill()
    time.sleep(1.5)         # the broker must be down while the time passes
    b = Broker(port)
    sp = {}
    for cid in ('crash-short', 'crash-long'):
        c = Client(port, name=cid)
        sp[cid] = c.connect(cid, clean=False, p=[(SEI, 600)]).sp
        c.disconnect()
    ok(not sp['crash-short'], 'a session with expiry 1 s is gone after 1.5 s of broker down time (Session Present 0)')
    ok(sp['crash-long'], 'a session with expiry 600 s is still there (Session Present 1)')

    pubs = [Publisher('crash-p5', 5), Publisher('crash-p3', 4)]
    kills = 0
    errors = []
    while kills < KILLS:
        try:
            for p in pubs:
                p.connect(port)
            live.connect(port)
        except (AssertionError, Closed, OSError) as e:
            errors.append(str(e))
            break
        pump_all(pubs, time.monotonic() + rng.uniform(0.02, 0.5), live=live)
        b.kill()
        kills += 1
        b = Broker(port)
    ok(not errors, 'publishers resumed their sessions after every restart %s' % (errors[:1] or ''))

    # Let everything in flight finish on a broker that stays up.
    for p in pubs:
        p.connect(port)
    live.connect(port)
    pump_all(pubs, time.monotonic() + 15, more=False, live=live)
    left = sum(len(p.out) for p in pubs)
    ok(left == 0, 'every message in flight completed after the last restart (%d left)' % left)

    acked = {1: set(), 2: set()}
    for p in pubs:
        for q in (1, 2):
            acked[q] |= {p.payload(n).decode() for n in p.acked[q]}
    nacked = len(acked[1]) + len(acked[2])

    # The connected subscriber: until it has everything and 0.5 s passed
    # quietly, or 30 s.
    want = acked[1] | acked[2]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live.pump(time.monotonic() + 0.1)
        if time.monotonic() - live.last >= 0.5 and want <= {pl for pl, _ in live.got}:
            break

    lost = dup = checked = 0
    will_seen = False
    for cid, v, q in subs:
        present, got = drain(port, cid, v, want | ({'cut by the crash'} if cid == 'crash-s5' else set()))
        ok(present, '%s resumed its session (Session Present 1)' % cid)
        counts = {}
        for payload, qos, topic in got:
            if topic == 'will/crash':
                will_seen = will_seen or payload == 'cut by the crash'
                continue
            counts[payload] = counts.get(payload, 0) + 1
        l = [m for q2 in (1, 2) for m in acked[q2] if counts.get(m, 0) == 0]
        d = [m for m in acked[2] if counts.get(m, 0) > 1] if q == 2 else []
        checked += len(acked[1]) + len(acked[2])
        lost += len(l)
        dup += len(d)
        ok(not l, '%s: every acknowledged message arrived (%d lost%s)' % (cid, len(l), ', e.g. ' + l[0] if l else ''))
        if q == 2:
            ok(not d, '%s: no QoS 2 message twice (%d duplicated%s)' % (cid, len(d), ', e.g. ' + d[0] if d else ''))
    counts = {}
    for payload, qos in live.got:
        counts[payload] = counts.get(payload, 0) + 1
    lv = [m for q2 in (1, 2) for m in acked[q2] if counts.get(m, 0) == 0]
    dv = [m for m in acked[2] if counts.get(m, 0) > 1]
    checked += nacked
    lost += len(lv)
    dup += len(dv)
    ok(not lv, 'crash-live (connected through the kills): every acknowledged message arrived (%d lost%s)'
       % (len(lv), ', e.g. ' + lv[0] if lv else ''))
    ok(not dv, 'crash-live: no QoS 2 message handed over twice (%d duplicated%s)' % (len(dv), ', e.g. ' + dv[0] if dv else ''))
    ok(will_seen, 'the Will of a client connected at the crash was published after the restart')
    b.kill()
    ok(kills >= 20 and nacked > 0, '%d kills, %d messages acknowledged' % (kills, nacked))
    print('# %d kills, %d messages acknowledged, %d checked, %d lost, %d duplicated at QoS 2'
          % (kills, nacked, checked, lost, dup), flush=True)
    print('1..%d' % tests)
    return 1 if failed else 0


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, cleanup)
    try:
        sys.exit(main())
    finally:
        for b in live:
            if b.proc.poll() is None:
                b.proc.kill()
