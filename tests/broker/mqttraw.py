"""mqttraw.py -- a tiny raw MQTT 3.1.1 / 5.0 client for the broker's tests.

What it is for: sending exactly the packets a check needs (SEI absent versus 0,
acks withheld, DUP and packet ids observed, DISCONNECT with properties, a
second CONNECT) and reading exactly what mqspec-broker answers, over a plain
socket, with a deadline on every wait.

What it is not: a client library. Nothing is automatic: no acks, no keep
alive, no reconnect. Written for these tests only; the harness has its own
codec in mqtt/.
"""
import os
import select
import socket
import struct
import subprocess
import time

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

# property id -> wire type
PROP_TYPES = {}
for _i in (0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A):
    PROP_TYPES[_i] = 'byte'
for _i in (0x13, 0x21, 0x22, 0x23):
    PROP_TYPES[_i] = 'u16'
for _i in (0x02, 0x11, 0x18, 0x27):
    PROP_TYPES[_i] = 'u32'
PROP_TYPES[0x0B] = 'varint'
for _i in (0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F):
    PROP_TYPES[_i] = 'str'
for _i in (0x09, 0x16):
    PROP_TYPES[_i] = 'bin'
PROP_TYPES[0x26] = 'pair'

MEI, SUBID, SEI, ASSIGNED_ID, SERVER_KA = 0x02, 0x0B, 0x11, 0x12, 0x13
WILL_DELAY, RECV_MAX, TA_MAX, TOPIC_ALIAS, MAX_PACKET, USER_PROP = 0x18, 0x21, 0x22, 0x23, 0x27, 0x26


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack('>H', len(b)) + b


def props(items):
    """items: list of (id, value); value is a (name, value) tuple for 0x26."""
    out = bytearray()
    for pid, v in items or []:
        t = PROP_TYPES[pid]
        out += varint(pid)
        if t == 'byte':
            out += bytes([v])
        elif t == 'u16':
            out += struct.pack('>H', v)
        elif t == 'u32':
            out += struct.pack('>I', v)
        elif t == 'varint':
            out += varint(v)
        elif t in ('str', 'bin'):
            out += utf8(v)
        else:
            out += utf8(v[0]) + utf8(v[1])
    return varint(len(out)) + bytes(out)


def packet(ptype, flags, body):
    return bytes([ptype << 4 | flags]) + varint(len(body)) + body


def connect(cid, v=5, clean=True, keepalive=60, p=None, will=None, level=None, user=None, password=None):
    """will: dict(topic, payload, qos=0, retain=False, props=[])"""
    flags = 0x02 if clean else 0
    if will:
        flags |= 0x04 | (will.get('qos', 0) << 3) | (0x20 if will.get('retain') else 0)
    if user is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    body = utf8('MQTT') + bytes([level if level is not None else (5 if v == 5 else 4), flags])
    body += struct.pack('>H', keepalive)
    if v == 5:
        body += props(p)
    body += utf8(cid)
    if will:
        if v == 5:
            body += props(will.get('props'))
        body += utf8(will['topic']) + utf8(will['payload'])
    if user is not None:
        body += utf8(user)
    if password is not None:
        body += utf8(password)
    return packet(CONNECT, 0, body)


def publish(topic, payload, qos=0, pid=None, retain=False, dup=False, v=5, p=None):
    body = utf8(topic)
    if qos:
        body += struct.pack('>H', pid)
    if v == 5:
        body += props(p)
    body += payload.encode() if isinstance(payload, str) else payload
    return packet(PUBLISH, (8 if dup else 0) | qos << 1 | (1 if retain else 0), body)


def subscribe(pid, filters, v=5, p=None):
    """filters: list of (filter, options byte)"""
    body = struct.pack('>H', pid)
    if v == 5:
        body += props(p)
    for f, o in filters:
        body += utf8(f) + bytes([o])
    return packet(SUBSCRIBE, 2, body)


def sub_opts(qos, nl=False, rap=False, rh=0):
    return qos | (4 if nl else 0) | (8 if rap else 0) | rh << 4


def ack(ptype, pid, reason=None, v=5):
    body = struct.pack('>H', pid)
    if v == 5 and reason is not None:
        body += bytes([reason])
    return packet(ptype, 2 if ptype == PUBREL else 0, body)


def disconnect(reason=None, p=None, v=5):
    if v != 5 or (reason is None and p is None):
        return packet(DISCONNECT, 0, b'')
    body = bytes([reason or 0])
    if p is not None:
        body += props(p)
    return packet(DISCONNECT, 0, body)


def parse_props(buf, i):
    n, i = read_varint(buf, i)
    end = i + n
    out = []
    while i < end:
        pid, i = read_varint(buf, i)
        t = PROP_TYPES[pid]
        if t == 'byte':
            v = buf[i]; i += 1
        elif t == 'u16':
            v = struct.unpack_from('>H', buf, i)[0]; i += 2
        elif t == 'u32':
            v = struct.unpack_from('>I', buf, i)[0]; i += 4
        elif t == 'varint':
            v, i = read_varint(buf, i)
        elif t in ('str', 'bin'):
            ln = struct.unpack_from('>H', buf, i)[0]
            v = bytes(buf[i + 2:i + 2 + ln]); i += 2 + ln
            if t == 'str':
                v = v.decode()
        else:
            l1 = struct.unpack_from('>H', buf, i)[0]
            k = bytes(buf[i + 2:i + 2 + l1]).decode(); i += 2 + l1
            l2 = struct.unpack_from('>H', buf, i)[0]
            v = (k, bytes(buf[i + 2:i + 2 + l2]).decode()); i += 2 + l2
        out.append((pid, v))
    return out, end


def read_varint(buf, i):
    n, mult = 0, 1
    while True:
        b = buf[i]
        i += 1
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            return n, i


class Pkt:
    def __init__(self, **kw):
        self.__dict__.update(kw)

    def prop(self, pid, default=None):
        for k, v in getattr(self, 'props', []):
            if k == pid:
                return v
        return default

    def props_all(self, pid):
        return [v for k, v in getattr(self, 'props', []) if k == pid]

    def __repr__(self):
        return 'Pkt(%r)' % self.__dict__


def parse(first, body, v):
    t = first >> 4
    p = Pkt(type=t, flags=first & 15, props=[])
    if t == CONNACK:
        p.sp = bool(body[0] & 1)
        p.ack_flags = body[0]
        p.reason = body[1]
        if v == 5 and len(body) > 2:
            p.props, _ = parse_props(body, 2)
    elif t == PUBLISH:
        p.dup = bool(first & 8)
        p.qos = (first >> 1) & 3
        p.retain = bool(first & 1)
        ln = struct.unpack_from('>H', body, 0)[0]
        p.topic = bytes(body[2:2 + ln]).decode()
        i = 2 + ln
        p.pid = None
        if p.qos:
            p.pid = struct.unpack_from('>H', body, i)[0]
            i += 2
        if v == 5:
            p.props, i = parse_props(body, i)
        p.payload = bytes(body[i:]).decode(errors='replace')
    elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        p.pid = struct.unpack_from('>H', body, 0)[0]
        p.reason = body[2] if len(body) > 2 else 0
    elif t in (SUBACK, UNSUBACK):
        p.pid = struct.unpack_from('>H', body, 0)[0]
        i = 2
        if v == 5:
            p.props, i = parse_props(body, i)
        p.reasons = list(body[i:])
    elif t == DISCONNECT:
        p.reason = body[0] if body else 0
        if len(body) > 1:
            p.props, _ = parse_props(body, 1)
    return p


class Closed(Exception):
    pass


class Client:
    def __init__(self, port, v=5, name='c'):
        self.v = v
        self.name = name
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=5)
        self.sock.setblocking(False)
        self.buf = bytearray()
        self.eof = False

    def send(self, data):
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def _fill(self, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return False
            try:
                d = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionResetError:
                d = b''
            if not d:
                self.eof = True
                return False
            self.buf += d
            return True

    def _take(self):
        if len(self.buf) < 2:
            return None
        try:
            n, i = read_varint(self.buf, 1)
        except IndexError:
            return None
        if len(self.buf) < i + n:
            return None
        first, body = self.buf[0], bytes(self.buf[i:i + n])
        del self.buf[:i + n]
        return parse(first, body, self.v)

    def recv(self, timeout=3.0):
        """The next packet, or None at the deadline; Closed if the server closed."""
        deadline = time.monotonic() + timeout
        while True:
            p = self._take()
            if p:
                return p
            if self.eof:
                raise Closed()
            if not self._fill(deadline):
                if self.eof:
                    raise Closed()
                return None

    def expect(self, ptype, timeout=3.0):
        p = self.recv(timeout)
        if p is None:
            raise AssertionError('%s: expected %s, got nothing in %.1f s' % (self.name, ptype, timeout))
        if p.type != ptype:
            raise AssertionError('%s: expected packet type %d, got %r' % (self.name, ptype, p))
        return p

    def quiet(self, timeout):
        """Asserts that nothing arrives within timeout seconds."""
        p = self.recv(timeout)
        if p is not None:
            raise AssertionError('%s: expected nothing, got %r' % (self.name, p))

    def closed(self, timeout=3.0):
        """True when the server closed the connection within timeout (packets before it are returned too)."""
        deadline = time.monotonic() + timeout
        got = []
        while time.monotonic() < deadline:
            try:
                p = self.recv(deadline - time.monotonic())
            except Closed:
                return True, got
            if p is None:
                break
            got.append(p)
        return False, got

    def connect(self, cid, timeout=3.0, **kw):
        self.send(connect(cid, v=self.v, **kw))
        return self.expect(CONNACK, timeout)

    def subscribe(self, filters, pid=1, p=None):
        self.send(subscribe(pid, filters, v=self.v, p=p))
        return self.expect(SUBACK)

    def publish(self, topic, payload, qos=0, pid=1, retain=False, p=None, wait=True):
        self.send(publish(topic, payload, qos=qos, pid=pid, retain=retain, v=self.v, p=p))
        if qos == 1 and wait:
            return self.expect(PUBACK)
        if qos == 2 and wait:
            self.expect(PUBREC)
            self.send(ack(PUBREL, pid, v=self.v))
            return self.expect(PUBCOMP)
        return None

    def ping(self):
        """A round trip: everything the server sent before PINGRESP is returned."""
        self.send(packet(PINGREQ, 0, b''))
        got = []
        for _ in range(1000):
            p = self.recv(3.0)
            if p is None:
                raise AssertionError('%s: no PINGRESP' % self.name)
            if p.type == PINGRESP:
                return got
            got.append(p)
        raise AssertionError('too many packets before PINGRESP')

    def disconnect(self, reason=None, p=None):
        self.send(disconnect(reason, p, v=self.v))
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def ready_line(proc, timeout):
    """Reads mqspec-broker's first stdout line, "listening HOST PORT", for at
    most timeout seconds. Returns (the line, the port or None)."""
    deadline = time.monotonic() + timeout
    line = b''
    while time.monotonic() < deadline and not line.endswith(b'\n'):
        r, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
        if not r:
            break
        c = os.read(proc.stdout.fileno(), 1)
        if not c:
            break
        line += c
    parts = line.decode().split()
    if len(parts) == 3 and parts[0] == 'listening':
        return line, int(parts[2])
    return line, None


class Broker:
    """Starts build/mqspec-broker -p 0 and reads its port from the ready line."""

    def __init__(self, binary, defects=(), config=None, log=None, verbose=False):
        args = [binary, '-p', '0']
        for d in defects:
            args += ['--defect', d]
        if config:
            args += ['-c', config]
        if verbose:
            args.append('-v')
        self.log = open(log or os.devnull, 'ab')
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        line, self.port = ready_line(self.proc, 5)
        if self.port is None:
            self.stop()
            raise RuntimeError('broker did not print its ready line: %r' % line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode
