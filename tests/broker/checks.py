"""checks.py -- packet-exact checks of mqspec-broker's session rules.

Each check takes (port, ns): the broker's port and a prefix unique to the run
that every client id and topic starts with. It returns normally when the
broker is right and raises AssertionError (with expected / observed) when not.
broker-raw.t runs all of them against the broker; broker-defects.t runs, for
each --defect, the checks that must catch it.

Timings are short (Session Expiry 1-2 s) so the whole file runs in under a
minute; each wait has a deadline.
"""
import time

from mqttraw import (Client, Closed, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT,
                     SUBACK, MEI, SUBID, SEI, ASSIGNED_ID, WILL_DELAY, RECV_MAX, TOPIC_ALIAS,
                     MAX_PACKET, USER_PROP, ack, sub_opts, connect, publish, packet)
from mqttraw import disconnect as disconnect_pkt


def eq(what, expected, observed):
    if expected != observed:
        raise AssertionError('%s: expected %r, observed %r' % (what, expected, observed))


def ok(what, cond):
    if not cond:
        raise AssertionError(what)


def settle():
    """A client's close is seen by the broker a little later, and nothing on
    the wire says when: a message published in between legitimately goes out
    on the dying connection (and is then resent with DUP 1). Checks that need
    "published while offline" wait this long after closing."""
    time.sleep(0.2)


def sub_client(port, cid, v=5, clean=True, sei=None, topic=None, qos=1, **kw):
    c = Client(port, v=v, name=cid)
    p = [(SEI, sei)] if sei is not None and v == 5 else None
    ca = c.connect(cid, clean=clean, p=p, **kw)
    if topic:
        c.subscribe([(topic, sub_opts(qos))])
    return c, ca


def pub_client(port, ns, v=5):
    c = Client(port, v=v, name='pub')
    c.connect(ns + '-pub')
    return c


# ---- A: Clean Start and Session Present ----

def check_clean_start_new_session(port, ns):
    c, ca = sub_client(port, ns + 'a', sei=300)
    eq('CONNACK reason', 0, ca.reason)
    eq('Session Present on a first connect', False, ca.sp)
    eq('CONNACK flag bits 7-1', 0, ca.ack_flags & 0xFE)
    c.disconnect()


def check_clean_start_discards(port, ns):
    t = ns + '/cs'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t)
    c.disconnect()
    settle()
    p = pub_client(port, ns)
    p.publish(t, 'm1', qos=1)
    c, ca = sub_client(port, ns + 'a', clean=True, sei=300)
    eq('Session Present after Clean Start 1', False, ca.sp)
    c.quiet(0.5)
    p.publish(t, 'm2', qos=1)
    c.quiet(0.5)
    c.disconnect()
    p.disconnect()


def check_resume_session_present(port, ns):
    t = ns + '/r'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t)
    c.disconnect()
    settle()
    p = pub_client(port, ns)
    p.publish(t, 'm1', qos=1)
    c, ca = sub_client(port, ns + 'a', clean=False, sei=300)
    eq('Session Present on resume', True, ca.sp)
    m = c.expect(PUBLISH)
    eq('queued payload', 'm1', m.payload)
    eq('DUP of a first delivery', False, m.dup)
    c.disconnect()
    p.disconnect()


def check_empty_session_present(port, ns):
    c, _ = sub_client(port, ns + 'a', sei=300)
    c.disconnect()
    c, ca = sub_client(port, ns + 'a', clean=False, sei=300)
    eq('Session Present for an empty session', True, ca.sp)
    c.disconnect()


def check_refused_connect_keeps_session(port, ns):
    t = ns + '/x'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t)
    c2 = Client(port, name='c2')
    c2.send(connect(ns + 'a', clean=True, p=[(0x15, 'SCRAM-SHA-1')]) +
            packet(8, 2, b'\x00\x01\x00' + b'\x00\x01x\x01'))
    ca = c2.expect(CONNACK)
    ok('refused CONNACK reason >= 0x80, got 0x%02x' % ca.reason, ca.reason >= 0x80)
    eq('Session Present on a refused CONNACK', False, ca.sp)
    closed, got = c2.closed()
    ok('connection closed after refusal', closed)
    eq('packets after refusal', [], [g.type for g in got])
    p = pub_client(port, ns)
    p.publish(t, 'still', qos=1)
    eq('live client still receives', 'still', c.expect(PUBLISH).payload)
    c.disconnect()
    p.disconnect()


# ---- C: Session Expiry ----

def check_sei_absent_ends_session(port, ns):
    t = ns + '/c1'
    c, _ = sub_client(port, ns + 'a', topic=t)
    c.close()
    time.sleep(0.2)
    p = pub_client(port, ns)
    p.publish(t, 'm', qos=1)
    c, ca = sub_client(port, ns + 'a', clean=False, sei=300)
    eq('Session Present after SEI absent', False, ca.sp)
    c.quiet(0.5)
    c.disconnect()
    p.disconnect()


def check_sei_expires(port, ns):
    c, _ = sub_client(port, ns + 'a', sei=2)
    c.close()
    time.sleep(1.0)
    c, ca = sub_client(port, ns + 'a', clean=False, sei=2)
    eq('Session Present before the expiry', True, ca.sp)
    c.close()
    time.sleep(3.0)
    c, ca = sub_client(port, ns + 'a', clean=False, sei=2)
    eq('Session Present after the expiry', False, ca.sp)
    c.disconnect()


def check_sei_from_latest_close(port, ns):
    c, _ = sub_client(port, ns + 'a', sei=2)
    c.close()
    time.sleep(1.5)
    c, ca = sub_client(port, ns + 'a', clean=False, sei=2)
    eq('Session Present at 1.5 s', True, ca.sp)
    time.sleep(1.5)
    c.close()
    time.sleep(1.2)
    c, ca = sub_client(port, ns + 'a', clean=False, sei=2)
    eq('Session Present 1.2 s after the latest close', True, ca.sp)
    c.disconnect()


def check_disconnect_sei_changes_expiry(port, ns):
    c, _ = sub_client(port, ns + 'a', sei=1)
    c.disconnect(0, [(SEI, 30)])
    time.sleep(2.0)
    c, ca = sub_client(port, ns + 'a', clean=False, sei=30)
    eq('Session Present: DISCONNECT raised SEI 1 to 30', True, ca.sp)
    c.disconnect(0, [(SEI, 0)])
    time.sleep(0.2)
    c, ca = sub_client(port, ns + 'a', clean=False, sei=30)
    eq('Session Present: DISCONNECT set SEI 0', False, ca.sp)
    c.disconnect()


def check_disconnect_sei_after_zero_is_0x82(port, ns):
    w, _ = sub_client(port, ns + 'w', topic=ns + '/will')
    c = Client(port, name='c')
    c.connect(ns + 'a', will={'topic': ns + '/will', 'payload': 'gone', 'qos': 1})
    c.send(disconnect_pkt(0, [(SEI, 3600)]))
    d = c.expect(DISCONNECT)
    eq('server DISCONNECT reason', 0x82, d.reason)
    eq('SEI in server DISCONNECT', None, d.prop(SEI))
    closed, _ = c.closed()
    ok('closed after DISCONNECT 0x82', closed)
    eq('Will published', 'gone', w.expect(PUBLISH).payload)
    c, ca = sub_client(port, ns + 'a', clean=False, sei=300)
    eq('Session Present: session ended per CONNECT SEI 0', False, ca.sp)
    c.disconnect()
    w.disconnect()


def check_sei_cap_reported(port, ns):
    # needs max_session_expiry 100 in the broker's config (broker-raw.t gives it)
    c, ca = sub_client(port, ns + 'a', sei=0xFFFFFFFF)
    eq('CONNACK Session Expiry when capped', 100, ca.prop(SEI))
    c.disconnect()
    c, ca = sub_client(port, ns + 'b', sei=50)
    eq('CONNACK Session Expiry when not capped', None, ca.prop(SEI))
    c.disconnect()


# ---- D: state and redelivery ----

def check_redelivery_qos1(port, ns):
    t = ns + '/d3'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t)
    p = pub_client(port, ns)
    p.publish(t, 'm1', qos=1)
    m = c.expect(PUBLISH)
    eq('first DUP', False, m.dup)
    c.ping()
    c.quiet(0.3)                    # never resent on the same connection
    c.close()
    settle()
    p.publish(t, 'm2', qos=1)
    c, ca = sub_client(port, ns + 'a', clean=False, sei=300)
    eq('Session Present', True, ca.sp)
    r = c.expect(PUBLISH)
    eq('resent payload', 'm1', r.payload)
    eq('resent DUP', True, r.dup)
    eq('resent packet id', m.pid, r.pid)
    q = c.expect(PUBLISH)
    eq('queued payload after the resend', 'm2', q.payload)
    eq('queued DUP', False, q.dup)
    ok('queued packet id differs from the in-flight one', q.pid != m.pid)
    c.send(ack(PUBACK, r.pid))
    c.send(ack(PUBACK, q.pid))
    c.ping()
    c.close()
    c, _ = sub_client(port, ns + 'a', clean=False, sei=300)
    c.quiet(0.5)
    c.disconnect()
    p.disconnect()


def check_no_resend_on_live_connection(port, ns):
    t = ns + '/d4'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t)
    p = pub_client(port, ns)
    p.publish(t, 'm1', qos=1)
    c.expect(PUBLISH)
    c.quiet(3.0)            # [MQTT-4.4.0-1]: resend at no other time
    c.disconnect()
    p.disconnect()


def check_redelivery_qos2_publish(port, ns):
    t = ns + '/d5a'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t, qos=2)
    p = pub_client(port, ns)
    p.publish(t, 'm1', qos=2)
    m = c.expect(PUBLISH)
    c.close()
    c, _ = sub_client(port, ns + 'a', clean=False, sei=300)
    r = c.expect(PUBLISH)
    eq('resent QoS 2 DUP', True, r.dup)
    eq('resent QoS 2 packet id', m.pid, r.pid)
    c.send(ack(PUBREC, r.pid))
    eq('PUBREL id', r.pid, c.expect(PUBREL).pid)
    c.send(ack(PUBCOMP, r.pid))
    c.disconnect()
    p.disconnect()


def check_redelivery_pubrel(port, ns):
    t = ns + '/d5b'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t, qos=2)
    p = pub_client(port, ns)
    p.publish(t, 'm1', qos=2)
    m = c.expect(PUBLISH)
    c.send(ack(PUBREC, m.pid))
    eq('PUBREL', m.pid, c.expect(PUBREL).pid)
    c.close()
    c, _ = sub_client(port, ns + 'a', clean=False, sei=300)
    r = c.expect(PUBREL)
    eq('resent PUBREL id', m.pid, r.pid)
    c.send(ack(PUBCOMP, r.pid))
    c.quiet(0.3)
    c.disconnect()
    p.disconnect()


def check_no_resend_after_clean_start(port, ns):
    t = ns + '/d10'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t)
    p = pub_client(port, ns)
    p.publish(t, 'm1', qos=1)
    c.expect(PUBLISH)
    c.close()
    c, ca = sub_client(port, ns + 'a', clean=True, sei=300)
    eq('Session Present', False, ca.sp)
    c.quiet(0.7)
    c.disconnect()
    p.disconnect()


def check_receive_maximum_on_resume(port, ns):
    t = ns + '/l1'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t)
    p = pub_client(port, ns)
    for i in range(5):
        p.publish(t, 'm%d' % i, qos=1, pid=i + 1)
    got = [c.expect(PUBLISH) for _ in range(5)]
    c.close()
    settle()
    for i in range(5, 8):
        p.publish(t, 'm%d' % i, qos=1, pid=i + 1)
    c = Client(port, name='c')
    ca = c.connect(ns + 'a', clean=False, p=[(SEI, 300), (RECV_MAX, 2)])
    eq('Session Present', True, ca.sp)
    seen, outstanding = [], []
    for _ in range(40):
        if len(seen) == 8:
            break
        m = c.recv(0.3)
        if m is None:
            ok('delivery stalled with nothing to acknowledge', outstanding)
            c.send(ack(PUBACK, outstanding.pop(0)))
            continue
        eq('packet type', PUBLISH, m.type)
        seen.append(m)
        outstanding.append(m.pid)
        ok('at most 2 unacknowledged PUBLISHes (had %d)' % len(outstanding), len(outstanding) <= 2)
    eq('order on resume', ['m%d' % i for i in range(8)], [m.payload for m in seen])
    eq('DUP flags', [True] * 5 + [False] * 3, [m.dup for m in seen])
    eq('resent ids', [g.pid for g in got], [m.pid for m in seen[:5]])
    c.disconnect()
    p.disconnect()


def check_offline_queue(port, ns):
    t = ns + '/g'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t, qos=2)
    c.close()
    settle()
    p = pub_client(port, ns)
    p.publish(t, 'q0', qos=0)
    p.publish(t, 'q1', qos=1, pid=1)
    p.publish(t, 'q2', qos=2, pid=2)
    p.ping()
    c, ca = sub_client(port, ns + 'a', clean=False, sei=300)
    m1 = c.expect(PUBLISH)
    m2 = c.expect(PUBLISH)
    eq('offline messages (QoS 0 not queued by default)', ['q1', 'q2'], [m1.payload, m2.payload])
    eq('QoS', [1, 2], [m1.qos, m2.qos])
    c.disconnect()
    p.disconnect()


def check_inbound_qos2_dedup(port, ns):
    t = ns + '/d6'
    w, _ = sub_client(port, ns + 'w', topic=t)
    c, _ = sub_client(port, ns + 'a', sei=300)
    c.send(publish(t, 'x', qos=2, pid=7))
    eq('PUBREC', 7, c.expect(PUBREC).pid)
    c.close()
    c, _ = sub_client(port, ns + 'a', clean=False, sei=300)
    c.send(publish(t, 'x', qos=2, pid=7, dup=True))
    eq('PUBREC for the duplicate', 7, c.expect(PUBREC).pid)
    c.send(ack(PUBREL, 7))
    eq('PUBCOMP', 7, c.expect(PUBCOMP).pid)
    eq('one copy', 'x', w.expect(PUBLISH).payload)
    w.send(ack(PUBACK, 1))
    w.quiet(0.5)
    c.disconnect()
    w.disconnect()


# ---- E: Will ----

def will_watch(port, ns):
    w, _ = sub_client(port, ns + 'w', topic=ns + '/will')
    return w


def check_will_on_close(port, ns):
    w = will_watch(port, ns)
    c = Client(port, name='c')
    c.connect(ns + 'a', p=[(SEI, 60)], will={'topic': ns + '/will', 'payload': 'bye', 'qos': 1,
                                              'props': [(USER_PROP, ('k', '1')), (USER_PROP, ('k', '2')),
                                                        (0x03, 'text/plain')]})
    c.close()
    m = w.expect(PUBLISH)
    eq('Will payload', 'bye', m.payload)
    eq('Will user properties in order', [('k', '1'), ('k', '2')], m.props_all(USER_PROP))
    eq('Will content type', 'text/plain', m.prop(0x03))
    eq('Will Delay not forwarded', None, m.prop(WILL_DELAY))
    w.disconnect()


def check_no_will_on_disconnect(port, ns):
    w = will_watch(port, ns)
    c = Client(port, name='c')
    c.connect(ns + 'a', p=[(SEI, 60)], will={'topic': ns + '/will', 'payload': 'bye'})
    c.disconnect(0)
    w.quiet(0.7)
    w.disconnect()


def check_will_delay(port, ns):
    w = will_watch(port, ns)
    c = Client(port, name='c')
    c.connect(ns + 'a', p=[(SEI, 60)], will={'topic': ns + '/will', 'payload': 'late',
                                              'props': [(WILL_DELAY, 2)]})
    t0 = time.monotonic()
    c.close()
    m = w.expect(PUBLISH, timeout=5)
    dt = time.monotonic() - t0
    ok('Will after its 2 s delay (%.2f s)' % dt, 1.8 <= dt <= 3.5)
    eq('payload', 'late', m.payload)
    w.disconnect()


def check_will_at_session_end(port, ns):
    w = will_watch(port, ns)
    c = Client(port, name='c')
    c.connect(ns + 'a', p=[(SEI, 1)], will={'topic': ns + '/will', 'payload': 'x',
                                             'props': [(WILL_DELAY, 10)]})
    t0 = time.monotonic()
    c.close()
    w.expect(PUBLISH, timeout=4)
    dt = time.monotonic() - t0
    ok('Will when the session ends at 1 s, not at 10 s (%.2f s)' % dt, 0.8 <= dt <= 2.5)
    w.disconnect()


def check_will_suppressed_on_resume(port, ns):
    w = will_watch(port, ns)
    c = Client(port, name='c')
    c.connect(ns + 'a', p=[(SEI, 60)], will={'topic': ns + '/will', 'payload': 'x',
                                              'props': [(WILL_DELAY, 2)]})
    c.close()
    time.sleep(0.5)
    c, ca = sub_client(port, ns + 'a', clean=False, sei=60)
    eq('Session Present', True, ca.sp)
    w.quiet(2.5)
    c.close()
    w.quiet(0.5)        # the new connection had no Will
    w.disconnect()


def check_will_clean_start_ends_session(port, ns):
    w = will_watch(port, ns)
    c = Client(port, name='c')
    c.connect(ns + 'a', p=[(SEI, 60)], will={'topic': ns + '/will', 'payload': 'x',
                                              'props': [(WILL_DELAY, 30)]})
    c.close()
    w.quiet(0.3)
    c, ca = sub_client(port, ns + 'a', clean=True)
    eq('Session Present', False, ca.sp)
    w.expect(PUBLISH, timeout=1.0)
    c.disconnect()
    w.disconnect()


def check_will_retain(port, ns):
    c = Client(port, name='c')
    c.connect(ns + 'a', will={'topic': ns + '/rwill', 'payload': 'kept', 'retain': True, 'qos': 1})
    c.close()
    time.sleep(0.3)
    w = Client(port, name='w')
    w.connect(ns + 'w')
    w.subscribe([(ns + '/rwill', sub_opts(1))])
    m = w.expect(PUBLISH)
    eq('retained Will', ('kept', True), (m.payload, m.retain))
    w.publish(ns + '/rwill', '', retain=True)
    w.disconnect()


def check_keepalive_timeout_will(port, ns):
    w = will_watch(port, ns)
    c = Client(port, name='c')
    c.connect(ns + 'a', keepalive=1, will={'topic': ns + '/will', 'payload': 'ka'})
    t0 = time.monotonic()
    closed, got = c.closed(timeout=4)
    dt = time.monotonic() - t0
    ok('closed by keep alive in 1.5 s (%.2f s)' % dt, closed and 1.3 <= dt <= 2.5)
    eq('DISCONNECT 0x8D first', [(DISCONNECT, 0x8D)], [(g.type, g.reason) for g in got])
    eq('Will', 'ka', w.expect(PUBLISH).payload)
    w.disconnect()


# ---- F: takeover ----

def check_takeover(port, ns):
    c, _ = sub_client(port, ns + 'a', sei=300)
    c2, ca = sub_client(port, ns + 'a', clean=False, sei=300)
    eq('Session Present for the new connection', True, ca.sp)
    closed, got = c.closed()
    eq('old connection gets DISCONNECT 0x8E', [(DISCONNECT, 0x8E)], [(g.type, g.reason) for g in got])
    ok('old connection closed', closed)
    c2.disconnect()


def check_takeover_storm(port, ns):
    t = ns + '/f8'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t)
    p = pub_client(port, ns)
    p.publish(t, 'm1', qos=1)
    first = c.expect(PUBLISH)
    conns = [c]
    for i in range(6):              # pipelined: no CONNACK awaited in between
        x = Client(port, name='c%d' % i)
        x.send(connect(ns + 'a', clean=False, p=[(SEI, 300)]))
        conns.append(x)
    last = conns[-1]
    ca = last.expect(CONNACK)
    eq('final Session Present', True, ca.sp)
    m = last.expect(PUBLISH)
    eq('in-flight message survives the storm', ('m1', True, first.pid), (m.payload, m.dup, m.pid))
    for x in conns[:-1]:
        closed, got = x.closed()
        ok('%s closed' % x.name, closed)
        ok('%s ended with DISCONNECT 0x8E' % x.name, got and (got[-1].type, got[-1].reason) == (DISCONNECT, 0x8E))
    last.send(ack(PUBACK, m.pid))
    last.ping()
    last.disconnect()
    p.disconnect()


def check_will_on_reset(port, ns):
    import socket
    import struct
    w = will_watch(port, ns)
    c = Client(port, name='c')
    c.connect(ns + 'a', will={'topic': ns + '/will', 'payload': 'rst'})
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    c.close()
    eq('Will after a reset', 'rst', w.expect(PUBLISH).payload)
    w.disconnect()


def check_takeover_sei0_not_inherited(port, ns):
    w = will_watch(port, ns)
    t = ns + '/f4'
    c = Client(port, name='c')
    c.connect(ns + 'a', will={'topic': ns + '/will', 'payload': 'x', 'props': [(WILL_DELAY, 30)]})
    c.subscribe([(t, sub_opts(1))])
    c2, ca = sub_client(port, ns + 'a', clean=False, sei=300)
    eq('Session Present: SEI 0 session never inherited', False, ca.sp)
    w.expect(PUBLISH, timeout=1)
    p = pub_client(port, ns)
    p.publish(t, 'm', qos=1)
    c2.quiet(0.3)
    for x in (c, c2, w, p):
        x.close()


def check_takeover_v311(port, ns):
    c, _ = sub_client(port, ns + 'a', v=4, clean=False)
    c2, ca = sub_client(port, ns + 'a', v=4, clean=False)
    eq('Session Present', True, ca.sp)
    closed, got = c.closed()
    ok('old 3.1.1 connection closed without DISCONNECT', closed and not got)
    c2.disconnect()
    c3, ca = sub_client(port, ns + 'a', v=4, clean=True)
    c3.disconnect()


# ---- H: message expiry ----

def check_message_expiry(port, ns):
    t = ns + '/h'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t)
    c.close()
    settle()
    p = pub_client(port, ns)
    p.publish(t, 'short', qos=1, pid=1, p=[(MEI, 1)])
    p.publish(t, 'long', qos=1, pid=2, p=[(MEI, 6)])
    p.publish(t, 'none', qos=1, pid=3)
    time.sleep(2.2)
    c, _ = sub_client(port, ns + 'a', clean=False, sei=300)
    a = c.expect(PUBLISH)
    b = c.expect(PUBLISH)
    eq('expired message dropped', ['long', 'none'], [a.payload, b.payload])
    ok('forwarded MEI is the remaining time (got %r)' % a.prop(MEI), a.prop(MEI) in (3, 4))
    eq('no MEI added', None, b.prop(MEI))
    c.disconnect()
    p.disconnect()


# ---- I, K: subscriptions, retained ----

def check_subscription_options_survive(port, ns):
    t = ns + '/i'
    c = Client(port, name='c')
    c.connect(ns + 'a', p=[(SEI, 300)])
    c.subscribe([(t, sub_opts(1, nl=True, rap=True))], p=[(SUBID, 7)])
    c.close()
    settle()
    p = pub_client(port, ns)
    p.publish(t, 'r', qos=1, retain=True)
    c, _ = sub_client(port, ns + 'a', clean=False, sei=300)
    m = c.expect(PUBLISH)
    eq('Subscription Identifier after resume', [7], m.props_all(SUBID))
    eq('Retain As Published', True, m.retain)
    c.send(ack(PUBACK, m.pid))
    p.publish(t, 'again', qos=1)
    m = c.expect(PUBLISH)
    eq('Subscription Identifier on a message published after resume', [7], m.props_all(SUBID))
    c.send(ack(PUBACK, m.pid))
    c.publish(t, 'own', qos=1, pid=9)
    c.quiet(0.4)            # No Local
    p.publish(t, '', qos=0, retain=True)
    c.disconnect()
    p.disconnect()


def check_retained_and_handling(port, ns):
    t = ns + '/k'
    p = pub_client(port, ns)
    p.publish(t, 'ret', qos=1, retain=True)
    c, _ = sub_client(port, ns + 'a', sei=300)
    c.subscribe([(t, sub_opts(1, rh=1))])
    m = c.expect(PUBLISH)
    eq('retained on subscribe', ('ret', True), (m.payload, m.retain))
    c.send(ack(PUBACK, m.pid))
    c.subscribe([(t, sub_opts(1, rh=1))], pid=2)
    c.quiet(0.4)                                    # rh=1: existed
    c.subscribe([(t, sub_opts(1, rh=2))], pid=3)
    c.quiet(0.3)
    p.publish(t, 'live', qos=1, retain=True)
    m = c.expect(PUBLISH)
    eq('RETAIN 0 on an established subscription', False, m.retain)
    c.send(ack(PUBACK, m.pid))
    c.close()
    c, ca = sub_client(port, ns + 'a', clean=False, sei=300)
    eq('Session Present', True, ca.sp)
    c.quiet(0.5)                                    # K-03: no replay on resume
    p.publish(t, '', retain=True)
    c.disconnect()
    p.disconnect()


def check_overlapping_subscriptions(port, ns):
    t = ns + '/o/x'
    c = Client(port, name='c')
    c.connect(ns + 'a')
    c.subscribe([(ns + '/o/#', sub_opts(0))], pid=1, p=[(SUBID, 1)])
    c.subscribe([(ns + '/o/+', sub_opts(2))], pid=2, p=[(SUBID, 2)])
    p = pub_client(port, ns)
    p.publish(t, 'm', qos=2)
    m = c.expect(PUBLISH)
    eq('one copy at the maximum QoS', 2, m.qos)
    eq('both Subscription Identifiers', [1, 2], sorted(m.props_all(SUBID)))
    c.quiet(0.3)
    c.disconnect()
    p.disconnect()


def check_shared_round_robin(port, ns):
    f = '$share/g/' + ns + '/s'
    a, _ = sub_client(port, ns + 'a')
    b, _ = sub_client(port, ns + 'b')
    a.subscribe([(f, sub_opts(0))])
    b.subscribe([(f, sub_opts(0))])
    p = pub_client(port, ns)
    for i in range(4):
        p.publish(ns + '/s', 'm%d' % i)
    p.ping()
    ga = [m.payload for m in a.ping()]
    gb = [m.payload for m in b.ping()]
    eq('each message once, split evenly', (2, 2, 4), (len(ga), len(gb), len(set(ga + gb))))
    for x in (a, b, p):
        x.disconnect()


# ---- L: connection-scoped state ----

def check_topic_alias_not_carried(port, ns):
    c = Client(port, name='c')
    ca = c.connect(ns + 'a', p=[(SEI, 300)])
    ok('Topic Alias Maximum announced', (ca.prop(0x22) or 0) >= 1)
    c.send(publish(ns + '/ta', 'x', p=[(TOPIC_ALIAS, 1)]))
    c.send(publish('', 'y', p=[(TOPIC_ALIAS, 1)]))
    c.ping()
    c.close()
    c = Client(port, name='c')
    c.connect(ns + 'a', clean=False, p=[(SEI, 300)])
    c.send(publish('', 'z', p=[(TOPIC_ALIAS, 1)]))
    closed, got = c.closed()
    ok('closed', closed)
    ok('DISCONNECT 0x82 or 0x94, got %r' % got, [(g.type, g.reason in (0x82, 0x94)) for g in got] == [(DISCONNECT, True)])


def check_max_packet_size(port, ns):
    t = ns + '/l4'
    c, _ = sub_client(port, ns + 'a', sei=300, topic=t)
    c.close()
    settle()
    p = pub_client(port, ns)
    p.publish(t, 'x' * 2000, qos=1, pid=1)
    p.publish(t, 'small', qos=1, pid=2)
    c = Client(port, name='c')
    c.connect(ns + 'a', clean=False, p=[(SEI, 300), (MAX_PACKET, 1024)])
    m = c.expect(PUBLISH)
    eq('big message dropped, the next one flows', 'small', m.payload)
    c.disconnect()
    p.disconnect()


# ---- protocol errors, client ids ----

def check_second_connect(port, ns):
    w = will_watch(port, ns)
    c = Client(port, name='c')
    c.connect(ns + 'a', will={'topic': ns + '/will', 'payload': 'pe'})
    c.send(connect(ns + 'a'))
    closed, got = c.closed()
    ok('closed', closed)
    eq('DISCONNECT 0x82', [(DISCONNECT, 0x82)], [(g.type, g.reason) for g in got])
    eq('Will published', 'pe', w.expect(PUBLISH).payload)
    w.disconnect()


def check_malformed(port, ns):
    c = Client(port, name='c')
    c.connect(ns + 'a')
    c.send(bytes([0x30, 0x05, 0x00, 0x09, 0x61, 0x62, 0x63]))   # topic length past the end
    closed, got = c.closed()
    ok('closed', closed)
    eq('DISCONNECT 0x81', [(DISCONNECT, 0x81)], [(g.type, g.reason) for g in got])


def check_client_ids(port, ns):
    c = Client(port, name='c')
    ca = c.connect('', p=[(SEI, 300)])
    aid = ca.prop(ASSIGNED_ID)
    ok('Assigned Client Identifier', aid)
    c2 = Client(port, name='c2')
    ca2 = c2.connect('')
    ok('unique', ca2.prop(ASSIGNED_ID) not in (None, aid))
    c.disconnect()
    c, ca = sub_client(port, aid, clean=False, sei=300)
    eq('the assigned id names the session', True, ca.sp)
    c.disconnect()
    c2.disconnect()
    v3 = Client(port, v=4, name='v3')
    ca = v3.connect('', clean=False)
    eq('3.1.1 empty id with CleanSession 0', (0x02, False), (ca.reason, ca.sp))
    ok('closed', v3.closed()[0])
    v3 = Client(port, v=4, name='v3')
    eq('3.1.1 empty id with CleanSession 1', 0, v3.connect('', clean=True).reason)
    v3.disconnect()


def check_bad_protocol_level(port, ns):
    c = Client(port, v=4, name='c')
    ca = c.connect(ns + 'a', level=6)
    eq('CONNACK return code 1', 1, ca.reason)
    ok('closed', c.closed()[0])


# ---- 3.1.1 ----

def check_v311_session(port, ns):
    t = ns + '/b'
    c, _ = sub_client(port, ns + 'a', v=4, clean=False, topic=t)
    p = pub_client(port, ns)
    p.publish(t, 'm1', qos=1)
    m = c.expect(PUBLISH)
    c.close()
    settle()
    p.publish(t, 'm2', qos=1)
    c, ca = sub_client(port, ns + 'a', v=4, clean=False)
    eq('Session Present', True, ca.sp)
    r = c.expect(PUBLISH)
    eq('resent', ('m1', True, m.pid), (r.payload, r.dup, r.pid))
    eq('queued', ('m2', False), (lambda q: (q.payload, q.dup))(c.expect(PUBLISH)))
    c.disconnect()
    c, ca = sub_client(port, ns + 'a', v=4, clean=True)
    eq('CleanSession 1', False, ca.sp)
    c.disconnect()
    c, ca = sub_client(port, ns + 'a', v=4, clean=False)
    eq('a CleanSession 1 session is not kept', False, ca.sp)
    c, ca = sub_client(port, ns + 'a', v=4, clean=True)
    c.disconnect()
    p.disconnect()


def check_v311_will(port, ns):
    w = will_watch(port, ns)
    c = Client(port, v=4, name='c')
    c.connect(ns + 'a', will={'topic': ns + '/will', 'payload': 'v3'})
    c.close()
    eq('3.1.1 Will on close', 'v3', w.expect(PUBLISH).payload)
    c = Client(port, v=4, name='c')
    c.connect(ns + 'a', will={'topic': ns + '/will', 'payload': 'no'})
    c.disconnect()
    w.quiet(0.5)
    w.disconnect()


ALL = [(name[6:], fn) for name, fn in sorted(globals().items()) if name.startswith('check_')]
