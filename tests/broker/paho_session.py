"""paho_session.py -- the Python paho client (Debian python3-paho-mqtt 1.6.1)
against mqspec-broker: a persistent session goes offline, messages are
published, it resumes with Session Present 1 and gets them; and an MQTT 5
session with Session Expiry 1 is gone after 2.5 s. Prints TAP lines from
TAP_START on; run with /usr/bin/python3 (the pyenv python3 has no paho).

    paho_session.py PORT TAP_START PREFIX
"""
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

PORT, N, NS = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


class Conn:
    def __init__(self, cid, v5, clean, sei=None):
        self.v5 = v5
        self.sp = None
        self.rc = None
        self.msgs = []
        self.subacked = False
        proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        kw = {} if v5 else {'clean_session': clean}
        self.c = mqtt.Client(client_id=cid, protocol=proto, **kw)
        self.c.on_connect = self.on_connect
        self.c.on_message = lambda c, u, m: self.msgs.append(m.payload.decode())
        self.c.on_subscribe = self.on_subscribe
        if v5:
            props = None
            if sei is not None:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = sei
            self.c.connect('127.0.0.1', PORT, 30, clean_start=clean, properties=props)
        else:
            self.c.connect('127.0.0.1', PORT, 30)
        self.until(lambda: self.rc is not None, 'CONNACK')

    def on_connect(self, c, u, flags, rc, props=None):
        self.sp = bool(flags.get('session present'))
        self.rc = rc

    def on_subscribe(self, *a):
        self.subacked = True

    def until(self, cond, what, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not cond() and time.monotonic() < deadline:
            self.c.loop(0.05)
        if not cond():
            raise AssertionError('timed out waiting for ' + what)

    def subscribe(self, topic):
        self.subacked = False
        self.c.subscribe(topic, qos=1)
        self.until(lambda: self.subacked, 'SUBACK')

    def publish(self, topic, payload):
        info = self.c.publish(topic, payload, qos=1)
        self.until(info.is_published, 'PUBACK')

    def close(self):
        self.c.disconnect()
        self.c.loop(0.05)


n = N


def tap(ok, name, why=''):
    global n
    print('%s %d - %s%s' % ('ok' if ok else 'not ok', n, name, '' if ok else '\n#   ' + why))
    sys.stdout.flush()
    n += 1


def offline_round(v5):
    ver = 'v5' if v5 else 'v311'
    cid, topic = '%s-paho-%s' % (NS, ver), '%s/paho/%s' % (NS, ver)
    try:
        s = Conn(cid, v5, clean=True if v5 else False, sei=300)
        s.subscribe(topic)
        s.close()
        p = Conn(cid + '-pub', v5, clean=True)
        for i in range(3):
            p.publish(topic, 'p%d' % i)
        p.close()
        s = Conn(cid, v5, clean=False, sei=300)
        tap(s.sp is True, 'paho %s: Session Present 1 on resume' % ver, 'session present %r' % s.sp)
        s.until(lambda: len(s.msgs) >= 3, '3 offline messages')
        tap(s.msgs == ['p0', 'p1', 'p2'], 'paho %s: offline messages delivered in order' % ver, repr(s.msgs))
        s.close()
        Conn(cid, v5, clean=True, sei=0).close()
    except AssertionError as e:
        tap(False, 'paho %s: offline round' % ver, str(e))


def expiry_round():
    cid = '%s-paho-exp' % NS
    try:
        s = Conn(cid, True, clean=True, sei=1)
        s.close()
        time.sleep(2.5)
        s = Conn(cid, True, clean=False, sei=1)
        tap(s.sp is False, 'paho v5: Session Expiry 1 ended the session (Session Present 0 after 2.5 s)',
            'session present %r' % s.sp)
        s.close()
    except AssertionError as e:
        tap(False, 'paho v5: expiry round', str(e))


offline_round(True)
offline_round(False)
expiry_round()
