#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The test internet's upstream DNS server (tests/alk-test-inet.h).

Usage: dns-server.py ADDR PORT LOG

UDP only, one question a query, authoritative for the zone below (TTL 300);
every other name is NXDOMAIN. Each query name received is appended to LOG
(one a line, as sent, without the final dot, unprintable bytes and dots
inside a label escaped as \\DDD) before the answer goes out, so a test may
read the log as soon as it has its answer. Standard library only.
"""
import socket
import struct
import sys

TTL = 300
A, CNAME, ANY = 1, 5, 255
IN = 1
NOERROR, FORMERR, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 3, 4, 5

# name -> records (owner, type, data), in answer order
ZONE = {
    "allowed.test": [("allowed.test", A, "198.18.1.10")],
    "denied.test": [("denied.test", A, "198.18.1.20")],
    "cname.allowed.test": [
        ("cname.allowed.test", CNAME, "allowed.test"),
        ("allowed.test", A, "198.18.1.10"),
    ],
    "meta.allowed.test": [("meta.allowed.test", A, "169.254.169.254")],
    "loop.allowed.test": [("loop.allowed.test", A, "127.0.0.1")],
    # a hostile upstream: an extra record for a name nobody asked about
    "inject.allowed.test": [
        ("inject.allowed.test", A, "198.18.1.10"),
        ("denied.test", A, "198.18.1.20"),
    ],
}


class Malformed(Exception):
    pass


def encode_name(name):
    out = b""
    for label in name.split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def decode_question(packet):
    """(labels, end offset) of the question at offset 12; no compression."""
    labels, pos, total = [], 12, 0
    while True:
        if pos >= len(packet):
            raise Malformed("name runs past the packet")
        length = packet[pos]
        if length == 0:
            return labels, pos + 1
        if length > 63:
            raise Malformed("label too long or a pointer")
        total += length + 1
        if total > 255:
            raise Malformed("name too long")
        labels.append(packet[pos + 1 : pos + 1 + length])
        pos += 1 + length


def printable(labels):
    def esc(label):
        return "".join(
            chr(b) if 0x21 <= b <= 0x7E and b not in b".\\" else "\\%03d" % b for b in label
        )

    return ".".join(esc(label) for label in labels) or "."


def record(owner, rtype, data):
    if rtype == A:
        rdata = socket.inet_aton(data)
    else:
        rdata = encode_name(data)
    return encode_name(owner) + struct.pack("!HHIH", rtype, IN, TTL, len(rdata)) + rdata


def reply(qid, flags, rcode, question=b"", answers=()):
    rflags = 0x8000 | (flags & 0x7800) | 0x0400 | (flags & 0x0100) | rcode
    header = struct.pack("!HHHHHH", qid, rflags, 1 if question else 0, len(answers), 0, 0)
    return header + question + b"".join(answers)


def answer(packet, log):
    if len(packet) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if flags & 0x8000:
        return None  # a response: never answer those
    if qdcount != 1:
        return reply(qid, flags, FORMERR)
    try:
        labels, end = decode_question(packet)
    except Malformed:
        return reply(qid, flags, FORMERR)
    if end + 4 > len(packet):
        return reply(qid, flags, FORMERR)
    qtype, qclass = struct.unpack("!HH", packet[end : end + 4])
    question = packet[12 : end + 4]
    name = printable(labels)
    with open(log, "a", encoding="ascii") as f:
        f.write(name + "\n")
    if (flags >> 11) & 0xF != 0:
        return reply(qid, flags, NOTIMP, question)
    if qclass not in (IN, ANY):
        return reply(qid, flags, REFUSED, question)
    records = ZONE.get(name.lower())
    if records is None:
        return reply(qid, flags, NXDOMAIN, question)
    # a CNAME holds for every type; other types than A have no data here
    chosen = [r for r in records if qtype in (A, ANY) or r[1] == CNAME]
    return reply(qid, flags, NOERROR, question, [record(*r) for r in chosen])


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: dns-server.py ADDR PORT LOG")
    addr, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((addr, port))
    while True:
        packet, peer = sock.recvfrom(4096)
        try:
            out = answer(packet, log)
        except Exception as e:  # one bad packet must not stop the server
            print("dns-server: %r from %s" % (e, peer), file=sys.stderr, flush=True)
            continue
        if out is not None:
            sock.sendto(out, peer)


if __name__ == "__main__":
    main()
