"""garbage.py -- robustness: many short connections to mqspec-broker, each a
CONNECT followed by a random mix of valid and mutated packets (fixed seed), for
a few seconds. The broker must stay up, still serve a normal client and exit 0
(with ASan, that exit status includes the leak check). Prints TAP.

    garbage.py BROKER SECONDS
"""
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mqttraw import (Broker, Client, connect, publish, subscribe, ack, disconnect, packet,  # noqa: E402
                     PUBACK, PUBREC, PUBREL, PUBCOMP, PINGREQ, MEI, SEI, WILL_DELAY)

rnd = random.Random(20261126)


def some_packet(v):
    k = rnd.randrange(6)
    if k == 0:
        return publish('g/' + rnd.choice('ab'), 'x', qos=rnd.randint(0, 2), pid=rnd.randint(1, 5), v=v,
                       retain=rnd.random() < .3, p=[(MEI, 5)] if v == 5 else None)
    if k == 1:
        return subscribe(rnd.randint(1, 9), [(rnd.choice(['g/#', '+/a', '$share/s/g/a', 'g/a']),
                                              rnd.randint(0, 0x3f))], v=v)
    if k == 2:
        return ack(rnd.choice([PUBACK, PUBREC, PUBREL, PUBCOMP]), rnd.randint(1, 5), v=v)
    if k == 3:
        return packet(PINGREQ, 0, b'')
    if k == 4:
        will = {'topic': 'g/w', 'payload': 'x', 'props': [(WILL_DELAY, 1)] if v == 5 else []}
        return connect('gb%d' % rnd.randint(0, 3), v=v, clean=rnd.random() < .5,
                       p=[(SEI, rnd.choice([0, 1, 300]))] if v == 5 else None,
                       will=will if rnd.random() < .5 else None)
    return disconnect(rnd.choice([0, 4, 0x80]), [(SEI, rnd.choice([0, 5]))] if rnd.random() < .5 else None, v=v)


def mutate(d):
    d = bytearray(d)
    for _ in range(rnd.randint(1, 3)):
        op = rnd.random()
        if op < .5 and d:
            d[rnd.randrange(len(d))] = rnd.randrange(256)
        elif op < .8 and d:
            del d[rnd.randrange(len(d)):]
        else:
            d += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
    return bytes(d)


def main():
    binary, seconds = sys.argv[1], float(sys.argv[2])
    print('1..3')
    b = Broker(binary, log=os.environ.get('BROKER_LOG'))
    n, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline and b.proc.poll() is None:
        v = rnd.choice([4, 5])
        data = connect('gb%d' % rnd.randint(0, 3), v=v, clean=rnd.random() < .5,
                       p=[(SEI, 2)] if v == 5 else None)
        for _ in range(rnd.randint(1, 12)):
            pk = some_packet(v)
            data += mutate(pk) if rnd.random() < .3 else pk
        try:
            s = socket.create_connection(('127.0.0.1', b.port), timeout=2)
            s.sendall(data)
            if rnd.random() < .3:
                s.recv(4096)
            s.close()
        except OSError:
            pass
        n += 1
    alive = b.proc.poll() is None
    print('%s 1 - broker survives %d connections of random and mutated packets' % ('ok' if alive else 'not ok', n))
    try:
        c = Client(b.port, name='after')
        ca = c.connect('after-garbage')
        c.ping()
        c.disconnect()
        print('%s 2 - a normal client is served afterwards' % ('ok' if ca.reason == 0 else 'not ok'))
    except Exception as e:  # noqa: BLE001
        print('not ok 2 - a normal client is served afterwards\n#   %s' % e)
    rc = b.stop()
    print('%s 3 - broker exits 0 on SIGTERM (status %s)' % ('ok' if rc == 0 else 'not ok', rc))


main()
