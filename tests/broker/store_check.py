"""store_check.py -- the durable store of mqspec-broker (--data DIR) itself.

What it is for: tests/broker-store.t. Damaged and unusable data directories
(a torn or truncated tail is cut with a warning and what precedes it is kept;
a flipped byte ends the log there; a file that is not a store, a DIR that is a
file, a DIR in use by another broker: exit 2 with a clear message), and what
the store keeps across a restart: subscriptions with their options and
identifiers, queued messages with their properties, in-flight copies (resent
with DUP and the same id, or PUBREL), Message Expiry counting while the
broker is down, a Will Delay counting from the restart, retained messages,
every --sync policy, and a log that compaction keeps small under churn.

What it is not: the crash test (crash.py), which kills the broker mid-stream.
Prints TAP.
"""
import os
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mqttraw import (Client, MEI, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SEI, SUBID,  # noqa: E402
                     USER_PROP, WILL_DELAY, ack, ready_line, sub_opts)

BIN = sys.argv[1]
WORK = sys.argv[2]
tests = failed = 0
live = []


def ok(cond, name):
    global tests, failed
    tests += 1
    print('%sok %d - %s' % ('' if cond else 'not ', tests, name), flush=True)
    if not cond:
        failed += 1
    return cond


class Broker:
    def __init__(self, data, extra=(), conf=None, expect_fail=False):
        self.logpath = os.path.join(WORK, 'broker-%d.log' % len(os.listdir(WORK)))
        self.log = open(self.logpath, 'ab')
        args = [BIN, '-p', '0', '--data', data] + list(extra)
        if conf:
            args += ['-c', conf]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        live.append(self)
        line, self.port = ready_line(self.proc, 10)
        if self.port is None and not expect_fail:
            raise RuntimeError('broker did not start: %r' % line)

    def text(self):
        with open(self.logpath, 'rb') as f:
            return f.read().decode(errors='replace')

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        if self in live:
            live.remove(self)
        return rc


def setup(data, n=3):
    """A durable subscriber with n queued QoS 1 messages; the broker stopped."""
    b = Broker(data)
    c = Client(b.port, name='sub')
    c.connect('sub', clean=True, p=[(SEI, 600)])
    c.subscribe([('t/#', sub_opts(1))], p=[(SUBID, 7)])
    c.disconnect()
    p = Client(b.port, name='pub')
    p.connect('pub', clean=True)
    for i in range(n):
        p.publish('t/%d' % i, 'm%d' % i, qos=1, pid=i + 1, p=[(USER_PROP, ('k', 'v%d' % i))])
    p.disconnect()
    b.stop()


def resume(b, cid='sub', quiet=1.0):
    c = Client(b.port, name=cid)
    ca = c.connect(cid, clean=False, p=[(SEI, 600)])
    got = []
    while True:
        pk = c.recv(quiet)
        if pk is None:
            break
        if pk.type == PUBLISH:
            got.append(pk)
            if pk.qos == 1:
                c.send(ack(PUBACK, pk.pid))
    c.disconnect()
    return ca.sp, got


def fresh(name):
    d = os.path.join(WORK, name)
    os.makedirs(d)
    return d


def main():
    log = lambda d: os.path.join(d, 'store.log')  # noqa: E731

    # ---- what survives a restart ----
    d = fresh('keep')
    setup(d)
    b = Broker(d)
    sp, got = resume(b)
    ok(sp and [g.payload for g in got] == ['m0', 'm1', 'm2'],
       'queued messages survive a restart, in order (%s)' % [g.payload for g in got])
    ok(all(g.prop(SUBID) == 7 and g.prop(USER_PROP) == ('k', 'v%d' % i) for i, g in enumerate(got)),
       'with their Subscription Identifier and User Property')
    b.stop()

    # Message Expiry counts while down; retained messages are kept.
    d = fresh('expiry')
    b = Broker(d)
    c = Client(b.port)
    c.connect('sub', clean=True, p=[(SEI, 600)])
    c.subscribe([('e/#', sub_opts(1))])
    c.disconnect()
    p = Client(b.port)
    p.connect('pub')
    p.publish('e/short', 'short', qos=1, pid=1, p=[(MEI, 1)])
    p.publish('e/long', 'long', qos=1, pid=2, p=[(MEI, 100)])
    p.publish('r/kept', 'retained', qos=1, pid=3, retain=True)
    p.disconnect()
    b.stop()
    time.sleep(1.3)         # the broker is down while the time passes
    b = Broker(d)
    sp, got = resume(b)
    pl = [g.payload for g in got]
    ok(pl == ['long'], 'a message whose expiry passed while the broker was down is dropped (%s)' % pl)
    mei = got[0].prop(MEI) if got else None
    ok(mei is not None and 90 <= mei <= 99, 'the remaining expiry counts the time down (MEI %s of 100)' % mei)
    c = Client(b.port)
    c.connect('late', clean=True)
    c.subscribe([('r/#', sub_opts(1))])
    pk = c.recv(2)
    ok(pk is not None and pk.type == PUBLISH and pk.payload == 'retained' and pk.retain,
       'a retained message survives a restart')
    c.disconnect()
    b.stop()

    # In-flight state: a QoS 1 copy sent and not acknowledged, a QoS 2 copy
    # past PUBREC; after kill -9 the resume repeats them with the same ids:
    # PUBLISH with DUP 1, and PUBREL [MQTT-4.4.0-1].
    d = fresh('inflight')
    b = Broker(d)
    c = Client(b.port)
    c.connect('sub', clean=True, p=[(SEI, 600)])
    c.subscribe([('i/#', sub_opts(2))])
    p = Client(b.port)
    p.connect('pub')
    p.publish('i/1', 'one', qos=1, pid=1)
    p.publish('i/2', 'two', qos=2, pid=2)
    p1 = c.expect(PUBLISH)
    p2 = c.expect(PUBLISH)
    c.send(ack(PUBREC, p2.pid))
    rel = c.expect(PUBREL)
    b.stop(signal.SIGKILL)
    b = Broker(d)
    c = Client(b.port)
    ca = c.connect('sub', clean=False, p=[(SEI, 600)])
    a1 = c.recv(2)
    a2 = c.recv(2)
    ok(ca.sp and a1 is not None and a1.type == PUBLISH and a1.dup and a1.pid == p1.pid and a1.payload == 'one',
       'after kill -9 an unacknowledged QoS 1 copy is resent with DUP 1 and the same id (%r)' % (a1,))
    ok(a2 is not None and a2.type == PUBREL and a2.pid == rel.pid,
       'and a QoS 2 copy past PUBREC gets PUBREL again, same id, not the PUBLISH (%r)' % (a2,))
    c.send(ack(PUBACK, a1.pid) if a1 else b'')
    c.send(ack(PUBCOMP, rel.pid))
    c.ping()
    c.disconnect()
    b.stop(signal.SIGKILL)
    b = Broker(d)
    sp, got = resume(b)
    ok(sp and not got, 'once acknowledged they are gone for good (%d resent)' % len(got))
    b.stop()

    # A Will with a delay, of a client the crash cut off: the delay counts
    # from the restart (docs/broker.md), then the Will is published.
    d = fresh('will')
    b = Broker(d)
    c = Client(b.port)
    c.connect('ws', clean=True, p=[(SEI, 600)])
    c.subscribe([('w/#', sub_opts(1))])
    w = Client(b.port)
    w.connect('wd', clean=True, p=[(SEI, 600)],
              will={'topic': 'w/x', 'payload': 'late', 'qos': 1, 'props': [(WILL_DELAY, 1)]})
    b.stop(signal.SIGKILL)
    b = Broker(d)
    t0 = time.monotonic()
    c = Client(b.port)
    c.connect('ws', clean=False, p=[(SEI, 600)])
    pk = c.recv(3)
    dt = time.monotonic() - t0
    ok(pk is not None and pk.type == PUBLISH and pk.payload == 'late' and 0.5 <= dt <= 3.0,
       'a Will Delay of 1 s counts from the restart: published %.2f s after it' % dt)
    c.disconnect()
    b.stop()

    # ---- damaged logs ----
    d = fresh('torn')
    setup(d)
    size = os.path.getsize(log(d))
    with open(log(d), 'ab') as f:
        f.write(struct.pack('>II', 500, 0) + b'\x08partial')      # a record cut short
    b = Broker(d)
    sp, got = resume(b)
    ok(sp and len(got) == 3, 'a torn record at the end is dropped, the rest is loaded (%d messages)' % len(got))
    ok('not a whole valid record' in b.text(), 'with a warning in the log')
    b.stop()
    b = Broker(d)
    ok('not a whole valid record' not in b.text(), 'the torn tail is gone after that restart (rewritten)')
    b.stop()

    d = fresh('truncated')
    setup(d)
    size = os.path.getsize(log(d))
    with open(log(d), 'r+b') as f:
        f.truncate(size - 3)
    b = Broker(d)
    up = b.port is not None
    sp, got = resume(b)
    ok(up and sp, 'a log cut 3 bytes short still loads (session present, %d of 3 messages)' % len(got))
    b.stop()

    d = fresh('flipped')
    setup(d)
    with open(log(d), 'r+b') as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0xFF
        f.seek(0)
        f.write(data)
    b = Broker(d)
    up = b.port is not None
    ok(up and 'not a whole valid record' in b.text(), 'a flipped byte ends the log there with a warning, no crash')
    resume(b)
    rc = b.stop()
    ok(rc == 0, 'and the broker still runs and stops cleanly (exit %s)' % rc)

    # ---- unusable directories ----
    d = fresh('garbage')
    with open(log(d), 'wb') as f:
        f.write(os.urandom(4096))
    b = Broker(d, expect_fail=True)
    rc = b.stop()
    ok(rc == 2 and 'not an mqspec-broker store' in b.text(),
       'a store.log that is not a store: exit 2 with a clear error (exit %s)' % rc)

    f = os.path.join(WORK, 'plainfile')
    open(f, 'w').close()
    b = Broker(f, expect_fail=True)
    rc = b.stop()
    ok(rc == 2 and 'not a directory' in b.text(), '--data naming a file: exit 2 (exit %s)' % rc)
    b = Broker(os.path.join(f, 'sub'), expect_fail=True)
    rc = b.stop()
    ok(rc == 2 and '--data' in b.text(), '--data under a file (cannot be created): exit 2 (exit %s)' % rc)

    d = fresh('locked')
    b1 = Broker(d)
    b2 = Broker(d, expect_fail=True)
    rc = b2.stop()
    ok(rc == 2 and 'in use' in b2.text(), 'a DIR in use by another broker: exit 2 (exit %s)' % rc)
    b1.stop()

    # ---- sync policies and compaction ----
    for pol in ('batch', 'none'):
        d = fresh('sync-' + pol)
        b = Broker(d, ['--sync', pol])
        c = Client(b.port)
        c.connect('sub', clean=True, p=[(SEI, 600)])
        c.subscribe([('s/#', sub_opts(1))])
        c.disconnect()
        p = Client(b.port)
        p.connect('pub')
        p.publish('s/1', pol, qos=1, pid=1)
        p.disconnect()
        b.stop(signal.SIGKILL)
        b = Broker(d, ['--sync', pol])
        sp, got = resume(b)
        ok(sp and [g.payload for g in got] == [pol], '--sync %s: a message survives kill -9' % pol)
        b.stop()
    b = Broker(fresh('badsync'), ['--sync', 'sometimes'], expect_fail=True)
    ok(b.stop() == 2, '--sync with an unknown policy: exit 2')

    d = fresh('compact')
    conf = os.path.join(WORK, 'compact.conf')
    with open(conf, 'w') as f:
        f.write('compact_min 8192\n')
    b = Broker(d, conf=conf)
    s = Client(b.port)
    s.connect('sub', clean=True, p=[(SEI, 600)])
    s.subscribe([('c/#', sub_opts(1))])
    p = Client(b.port)
    p.connect('pub')
    n = 2000
    for i in range(n):
        p.publish('c/x', 'payload %d ' % i + 'x' * 100, qos=1, pid=i % 60000 + 1, wait=False)
        pk = s.expect(PUBLISH)
        s.send(ack(PUBACK, pk.pid))
        p.expect(PUBACK)
    size = os.path.getsize(log(d))
    ok(size < 64 * 1024, 'compaction keeps the log small under churn: %d bytes after %d messages of 100+ bytes' % (size, n))
    s.disconnect()
    p.publish('c/x', 'last', qos=1, pid=1)
    p.disconnect()
    b.stop(signal.SIGKILL)
    b = Broker(d, conf=conf)
    sp, got = resume(b)
    ok(sp and [g.payload for g in got] == ['last'], 'and the compacted log loads to the right state (%s)'
       % [g.payload for g in got])
    b.stop()

    # Against the sanitizer build (tests/sanitizers.t): every broker's log.
    reports = []
    for f in sorted(os.listdir(WORK)):
        if f.startswith('broker-') and f.endswith('.log'):
            with open(os.path.join(WORK, f), 'rb') as fh:
                t = fh.read().decode(errors='replace')
            if 'Sanitizer' in t or 'runtime error' in t:
                reports.append(f)
    ok(not reports, 'no sanitizer report in any broker log %s' % (reports[:3] or ''))

    print('1..%d' % tests)
    return 1 if failed else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    finally:
        for b in live:
            if b.proc.poll() is None:
                b.proc.kill()
