#!/usr/bin/env python3
"""make-corpus.py -- writes the seed corpus for fuzz_decode (corpus/decode/).

What it is for: a reproducible set of small packets, every type in 3.1.1 and
5.0 plus a few malformed ones, written byte for byte from the standard's
layouts. Run it from anywhere; it rewrites the seed files it names.
What it is not: the unit-test vectors (those live in tests/unit/).
"""
import os

SEEDS = {
    "v4-connect": "10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 63 31",
    "v4-connect-will-user-pass": "10 1c 00 04 4d 51 54 54 04 ee 00 3c 00 02 63 31"
                                 " 00 01 77 00 03 62 79 65 00 01 75 00 01 70",
    "v4-connack": "20 02 01 00",
    "v4-publish-q0": "30 07 00 03 61 2f 62 68 69",
    "v4-publish-q1": "32 09 00 03 61 2f 62 00 07 68 69",
    "v4-publish-q2-dup-retain": "3d 09 00 03 61 2f 62 00 07 68 69",
    "v4-puback": "40 02 00 07",
    "v4-pubrec": "50 02 00 07",
    "v4-pubrel": "62 02 00 07",
    "v4-pubcomp": "70 02 00 07",
    "v4-subscribe": "82 08 00 01 00 03 61 2f 2b 01",
    "v4-suback": "90 03 00 01 01",
    "v4-unsubscribe": "a2 07 00 02 00 03 61 2f 2b",
    "v4-unsuback": "b0 02 00 02",
    "v4-pingreq": "c0 00",
    "v4-pingresp": "d0 00",
    "v4-disconnect": "e0 00",
    "v5-connect": "10 14 00 04 4d 51 54 54 05 02 00 3c 05 11 00 00 00 0a 00 02 63 31",
    "v5-connect-will": "10 1b 00 04 4d 51 54 54 05 06 00 3c 00 00 02 63 31"
                       " 05 18 00 00 00 05 00 01 77 00 01 78",
    "v5-connack": "20 03 00 00 00",
    "v5-connack-props": "20 08 01 00 05 11 00 00 00 3c",
    "v5-publish-alias": "32 0d 00 03 61 2f 62 00 07 03 23 00 01 68 69",
    "v5-publish-props": "30 1e 00 01 74 19 01 01 02 00 00 00 0a 03 00 01 74 09 00 02 00 ff"
                        " 0b 05 26 00 01 6b 00 01 76 6d",
    "v5-puback-short": "40 02 00 07",
    "v5-puback-reason": "40 03 00 07 10",
    "v5-puback-props": "40 07 00 07 83 03 1f 00 00",
    "v5-pubrec": "50 04 00 07 00 00",
    "v5-pubrel": "62 03 00 07 92",
    "v5-pubcomp": "70 02 00 07",
    "v5-subscribe": "82 0b 00 01 02 0b 05 00 03 61 2f 2b 2d",
    "v5-suback": "90 04 00 01 00 01",
    "v5-unsubscribe": "a2 08 00 02 00 00 03 61 2f 2b",
    "v5-unsuback": "b0 04 00 02 00 00",
    "v5-disconnect-empty": "e0 00",
    "v5-disconnect-will": "e0 01 04",
    "v5-disconnect-props": "e0 07 00 05 11 00 00 00 00",
    "v5-auth-empty": "f0 00",
    "v5-auth": "f0 06 18 04 15 00 01 78",
    "stream": "10 0e 00 04 4d 51 54 54 04 02 00 3c 00 02 63 31 82 08 00 01 00 03 61 2f 2b 01"
              " 32 09 00 03 61 2f 62 00 07 68 69 c0 00 e0 00",
    "bad-subscribe-flags": "80 08 00 01 00 03 61 2f 2b 01",
    "bad-publish-qos3": "36 09 00 03 61 2f 62 00 07 68 69",
    "bad-length-5-bytes": "30 ff ff ff ff 7f",
    "bad-utf8-topic": "30 04 00 02 c0 80",
    "bad-dup-prop": "20 0d 00 00 0a 11 00 00 00 01 11 00 00 00 02",
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "decode")
os.makedirs(here, exist_ok=True)
for name, hexs in SEEDS.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(bytes.fromhex(hexs))
