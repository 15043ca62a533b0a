"""robust.py -- the bundled broker's bounds under client faults, checked from
outside with raw sockets: a connection flood beyond max_clients, a barrage of
oversized packets, and slow partial packets. The broker must answer as the
standard and docs/broker.md say, keep serving an established client, keep its
resident memory (VmRSS in /proc/PID/status) under a bound, and exit 0 on
SIGTERM. Then the same barrage against `--defect ignore-max-packet-size` must
break the memory bound: proof that the bound can fail. Prints TAP.

    robust.py BROKER

What it is not: the scenarios of scenarios/robustness, which judge any broker
through mqspec; this test knows the bundled broker's configuration and its
process, which no scenario can see.

The memory bound. Configured with max_clients 64 and max_packet_size 65536,
the broker holds at most 64 connections, each with an input buffer of at most
the largest packet it accepts plus one read (64 KiB + 32 KiB) and an output
buffer of a few packets here: 64 x 96 KiB = 6 MiB at worst; an offline session
queues at most max_queued_messages 100 messages (of 1 KiB here: 0.1 MiB) and
drops the rest of the 2000 published for it. A bound of 12 MiB of growth
leaves malloc's own slack on top of that. The oversized barrage
streams 24 connections x 1 MiB: a broker that buffered oversized packets
instead of refusing them from their fixed header would grow by about 24 MiB.
"""
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mqttraw import (Broker, Client, Closed, connect, publish, varint,  # noqa: E402
                     DISCONNECT, PUBACK, PUBLISH, SEI)

MAX_CLIENTS = 64
MAX_PACKET = 65536
MAX_QUEUED = 100
OFFLINE = 2000
BOUND = 12 << 20
FLOOD = 200
BARRAGE = 24
STREAM = 1 << 20
SLOW = 40

n = 0
failed = 0


def ok(cond, what, diag=None):
    global n, failed
    n += 1
    print('%s %d - %s' % ('ok' if cond else 'not ok', n, what))
    if not cond:
        failed += 1
        if diag:
            print('#   ' + str(diag).replace('\n', '\n#   '))
    sys.stdout.flush()
    return cond


def rss(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    return 0


def served(port_or_client, tag):
    """The established client still gets its own message back."""
    c = port_or_client
    c.publish('r/t', tag, qos=0)
    p = c.recv(3.0)
    return p is not None and p.type == PUBLISH and p.payload == tag


def flood(port):
    """FLOOD connections without CONNECT; returns how many the broker closed at once."""
    socks = []
    for _ in range(FLOOD):
        try:
            socks.append(socket.create_connection(('127.0.0.1', port), timeout=2))
        except OSError:
            pass
    closed = 0
    deadline = time.monotonic() + 2.0
    for s in socks:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if s.recv(1) == b'':
                closed += 1
        except socket.timeout:
            pass
        except OSError:
            closed += 1
    return socks, closed


def barrage(port, pid):
    """BARRAGE connections, each CONNECT then a PUBLISH announcing 200 MB and
    STREAM bytes of it, all held open. Returns (how many got DISCONNECT 0x95
    and a close, the broker's VmRSS while they were all open)."""
    body = b'x' * STREAM
    conns = []
    for i in range(BARRAGE):
        c = Client(port, name='big%d' % i)
        conns.append(c)
        try:
            c.connect('robust-big%d' % i)
            c.sock.setblocking(True)
            c.sock.settimeout(2)
            c.sock.sendall(bytes([PUBLISH << 4]) + varint(200 << 20) + body)
        except (OSError, AssertionError, Closed):
            pass
        c.sock.setblocking(False)
    held_rss = rss(pid)
    refused = 0
    deadline = time.monotonic() + 3.0
    for c in conns:
        got95 = False
        try:
            while True:
                p = c.recv(max(0.01, deadline - time.monotonic()))
                if p is None:
                    break
                if p.type == DISCONNECT and p.reason == 0x95:
                    got95 = True
        except Closed:
            refused += got95
        c.close()
    return refused, held_rss


def offline_queue(port, est):
    """A session offline while OFFLINE QoS 1 messages of 1 KiB arrive for it:
    returns how many it receives on resume (max_queued_messages keeps 100)."""
    q = Client(port, name='q')
    q.connect('robust-q', clean=True, p=[(SEI, 300)])
    q.subscribe([('r/q', 1)])
    q.disconnect()
    body = 'q' * 1024
    data = b''.join(publish('r/q', body, qos=1, pid=1 + i % 65000) for i in range(OFFLINE))
    est.send(data)
    acks = 0
    while acks < OFFLINE:
        p = est.recv(3.0)
        if p is None:
            break
        acks += p.type == PUBACK
    q = Client(port, name='q2')
    q.connect('robust-q', clean=False, p=[(SEI, 0)])
    got = 0
    while True:
        p = q.recv(1.0)
        if p is None:
            break
        got += p.type == PUBLISH
    q.close()
    return acks, got


def slow(port):
    """SLOW connections, each sending the first 10 bytes of a CONNECT, held."""
    socks = []
    head = connect('robust-slow', v=5)[:10]
    for _ in range(SLOW):
        s = socket.create_connection(('127.0.0.1', port), timeout=2)
        for b in head:
            s.sendall(bytes([b]))
        socks.append(s)
    return socks


def run(binary, defects):
    cfg = tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False)
    cfg.write('max_clients %d\nmax_packet_size %d\nmax_queued_messages %d\n'
              % (MAX_CLIENTS, MAX_PACKET, MAX_QUEUED))
    cfg.close()
    b = Broker(binary, defects=defects, config=cfg.name, log=os.environ.get('BROKER_LOG'))
    os.unlink(cfg.name)
    return b


def main():
    binary = sys.argv[1]
    print('1..12')
    b = run(binary, [])
    base = rss(b.proc.pid)
    est = Client(b.port, name='est')
    est.connect('robust-est')
    est.subscribe([('r/t', 1)])

    socks, closed = flood(b.port)
    ok(closed >= FLOOD - MAX_CLIENTS + 1,
       'a flood of %d connections beyond max_clients %d: %d accepted and closed at once'
       % (FLOOD, MAX_CLIENTS, closed))
    ok(served(est, 'after-flood'), 'the established client is still served during the flood')
    for s in socks:
        s.close()
    time.sleep(0.3)     # the broker sees the flood's FINs and frees those slots
    late = Client(b.port, name='late')
    try:
        ca = late.connect('robust-late')
        ok(ca.reason == 0, 'a new client is accepted once the flood is gone')
    except (AssertionError, Closed) as e:
        ok(False, 'a new client is accepted once the flood is gone', e)
    late.close()

    refused, peak = barrage(b.port, b.proc.pid)
    ok(refused == BARRAGE, '%d PUBLISHes announcing 200 MB (max_packet_size %d): DISCONNECT 0x95 and '
       'close for %d' % (BARRAGE, MAX_PACKET, refused))
    ok(served(est, 'after-barrage'), 'the established client is still served after the barrage')

    acks, got = offline_queue(b.port, est)
    ok(acks == OFFLINE and got == MAX_QUEUED,
       '%d QoS 1 messages for an offline session: all acknowledged (%d), %d queued and delivered on '
       'resume (max_queued_messages %d)' % (OFFLINE, acks, got, MAX_QUEUED))

    held = slow(b.port)
    ok(served(est, 'with-slow'), 'the established client is served while %d partial CONNECTs are held' % SLOW)
    grown = max(rss(b.proc.pid), peak) - base
    ok(grown < BOUND, 'resident memory grew by %.1f MiB at most over flood, barrage, offline queue '
       'and partial packets (bound %d MiB)' % (grown / 1048576.0, BOUND >> 20))
    for s in held:
        s.close()
    est.close()
    rc = b.stop()
    ok(rc == 0, 'the broker exits 0 on SIGTERM (exit %s)' % rc)

    # The same barrage where oversized packets are buffered: the bound must break.
    b = run(binary, ['ignore-max-packet-size'])
    base = rss(b.proc.pid)
    refused, peak = barrage(b.port, b.proc.pid)
    ok(refused < BARRAGE, 'with --defect ignore-max-packet-size the oversized PUBLISHes are not refused '
       '(%d of %d)' % (refused, BARRAGE))
    grown = peak - base
    ok(grown >= BOUND, 'with --defect ignore-max-packet-size resident memory grows past the bound '
       '(%.1f MiB): the bound can fail' % (grown / 1048576.0))
    rc = b.stop()
    ok(rc == 0, 'the defective broker exits 0 on SIGTERM too (exit %s)' % rc)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
