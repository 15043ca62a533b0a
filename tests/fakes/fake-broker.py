#!/usr/bin/env python3
"""fake-broker.py -- a broker that misbehaves on purpose, for tests/broker-faults.t.

What it is for: proving that mqspec survives a broken broker. It listens on a
free loopback port (written to PORTFILE once listening), serves any number of
connections in one select loop, and misbehaves in one way, chosen by MODE:

  silent      accepts, reads, never answers
  garbage     answers the CONNECT with 64 fixed pseudo-random bytes
  badtype     answers the CONNECT with a packet of the reserved type 0
  halfconnack answers the CONNECT with the first 3 bytes of a 5.0 CONNACK, then FIN
  slow        answers the CONNECT with a valid CONNACK, one byte per second
              (a 5.0 CONNACK padded with a Reason String, so it takes 30 s)
  dies        a minimal acknowledger (CONNACK, SUBACK, PUBACK, PUBREC, PUBCOMP,
              UNSUBACK, PINGRESP) that routes nothing; it writes "acked-publish"
              to EVENTFILE when it has acknowledged a PUBLISH, so that a test can
              kill it while a client waits for the message

What it is not: an MQTT broker. It routes no message, keeps no session and
checks nothing. Loopback only; it exits by itself after LIFETIME seconds
(SIGALRM) whatever happens.

usage: fake-broker.py MODE PORTFILE [EVENTFILE] [LIFETIME]
"""
import os
import random
import select
import signal
import socket
import sys
import time


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def parse_packets(buf):
    """Splits complete packets off buf: returns (packets, rest)."""
    pkts = []
    while True:
        if len(buf) < 2:
            return pkts, buf
        mult, length, i = 1, 0, 1
        while True:
            if i >= len(buf):
                return pkts, buf
            b = buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80 or i > 4:
                break
        if len(buf) < i + length:
            return pkts, buf
        pkts.append((buf[0], bytes(buf[i:i + length])))
        buf = buf[i + length:]


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.inbuf = b""
        self.out = b""
        self.version = 5
        self.slow_next = 0.0     # slow mode: when the next byte may go
        self.fin_after_out = False


def connack(version, pad=0):
    if version == 5:
        props = b""
        if pad:
            props = b"\x1f" + len(b"x" * pad).to_bytes(2, "big") + b"x" * pad
        body = b"\x00\x00" + varint(len(props)) + props
    else:
        body = b"\x00\x00"
    return b"\x20" + varint(len(body)) + body


def answer(mode, c, ptype, body, event):
    """What the acknowledger (mode dies) sends back for one packet."""
    kind = ptype >> 4
    v5 = c.version == 5
    if kind == 1:                                    # CONNECT
        # protocol name (2 + 4 bytes "MQTT", or 2 + 6 for "MQIsdp"), then the level
        nl = int.from_bytes(body[0:2], "big") if len(body) >= 2 else 4
        c.version = body[2 + nl] if len(body) > 2 + nl else 5
        return connack(c.version)
    if kind == 8:                                    # SUBSCRIBE: grant QoS 1 per filter
        pid = body[0:2]
        i = 2
        if v5:
            # property length (a varint) and the properties
            mult, plen = 1, 0
            while i < len(body):
                b = body[i]
                i += 1
                plen += (b & 0x7F) * mult
                mult *= 128
                if not b & 0x80:
                    break
            i += plen
        n = 0
        while i + 2 <= len(body) and n < 1000:
            flen = int.from_bytes(body[i:i + 2], "big")
            i += 2 + flen + 1
            n += 1
        codes = bytes([1] * max(n, 1))
        rest = pid + (b"\x00" if v5 else b"") + codes
        return b"\x90" + varint(len(rest)) + rest
    if kind == 10:                                   # UNSUBSCRIBE
        rest = body[0:2] + (b"\x00\x00" if v5 else b"")
        return b"\xb0" + varint(len(rest)) + rest
    if kind == 3:                                    # PUBLISH
        qos = (ptype >> 1) & 3
        if qos == 0:
            return b""
        tl = int.from_bytes(body[0:2], "big")
        pid = body[2 + tl:4 + tl]
        if event:
            with open(event, "a") as f:
                f.write("acked-publish\n")
        return (b"\x40\x02" if qos == 1 else b"\x50\x02") + pid
    if kind == 6:                                    # PUBREL
        return b"\x70\x02" + body[0:2]
    if kind == 12:                                   # PINGREQ
        return b"\xd0\x00"
    return b""


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    mode, portfile = sys.argv[1], sys.argv[2]
    event = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    lifetime = int(sys.argv[4]) if len(sys.argv) > 4 else 90
    if mode not in ("silent", "garbage", "badtype", "halfconnack", "slow", "dies"):
        sys.stderr.write("fake-broker: unknown mode %s\n" % mode)
        return 2
    signal.signal(signal.SIGALRM, lambda *_: os._exit(0))
    signal.alarm(lifetime)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", 0))
    lst.listen(64)
    lst.setblocking(False)
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % lst.getsockname()[1])
    os.rename(tmp, portfile)

    garbage = bytes(random.Random(8).getrandbits(8) for _ in range(64))
    if garbage[0] >> 4 in (2, 13, 14):       # keep it garbage: not a CONNACK, PINGRESP, DISCONNECT
        garbage = b"\xf7" + garbage[1:]
    conns = {}
    while True:
        now = time.monotonic()
        rd = [lst] + [c.sock for c in conns.values()]
        wr = [c.sock for c in conns.values() if c.out and (mode != "slow" or c.slow_next <= now)]
        r, w, _ = select.select(rd, wr, [], 0.2)
        for s in r:
            if s is lst:
                try:
                    ns, _ = lst.accept()
                except OSError:
                    continue
                ns.setblocking(False)
                conns[ns.fileno()] = Conn(ns)
                continue
            c = conns.get(s.fileno())
            if c is None:
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                del conns[s.fileno()]
                s.close()
                continue
            if mode == "silent":
                continue
            pkts, c.inbuf = parse_packets(c.inbuf + data)
            for ptype, body in pkts:
                if mode == "dies":
                    c.out += answer(mode, c, ptype, body, event)
                    if ptype >> 4 == 14:             # DISCONNECT
                        c.fin_after_out = True
                elif ptype >> 4 == 1:
                    if mode == "garbage":
                        c.out += garbage
                    elif mode == "badtype":
                        c.out += b"\x00\x02\x00\x00"
                    elif mode == "halfconnack":
                        c.out += connack(5)[:3]
                        c.fin_after_out = True
                    elif mode == "slow":
                        answer(mode, c, ptype, body, None)   # learns the version
                        c.out += connack(c.version, pad=24)
                        c.slow_next = time.monotonic() + 1.0
        for s in w:
            c = conns.get(s.fileno())
            if c is None:
                continue
            n = 1 if mode == "slow" else len(c.out)
            try:
                sent = s.send(c.out[:n])
            except OSError:
                sent = len(c.out)
            c.out = c.out[sent:]
            c.slow_next = time.monotonic() + 1.0
            if not c.out and c.fin_after_out:
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass


if __name__ == "__main__":
    sys.exit(main())
