#!/usr/bin/python3
"""pinger: ICMP echo at a fixed rate with absolute-time pacing (iputils ping cannot keep 100/s
on these machines), recording every reply's arrival time.

usage: pinger.py DST RATE SECONDS OUT
OUT gets "sent N" on the first line, then "reply SEQ SENT_AT RECEIVED_AT" (epoch seconds) per
echo reply; SENT_AT comes back in the echoed payload.
"""
import os
import select
import socket
import struct
import sys
import time


def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    dst, rate, seconds, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    ident = os.getpid() & 0xFFFF
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setblocking(False)
    period = 1.0 / rate
    start = time.monotonic()
    end = start + seconds
    seq, replies = 0, []
    next_send = start
    while True:
        now = time.monotonic()
        if now >= end + 1.0:  # one more second for the last replies
            break
        if now >= next_send and now < end:
            payload = struct.pack("!d", time.time()) + b"u" * 48
            hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq & 0xFFFF)
            pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, seq & 0xFFFF) + payload
            try:
                sock.sendto(pkt, (dst, 0))
            except OSError:
                pass  # e.g. no neighbour yet: counts as sent and lost
            seq += 1
            next_send += period
        timeout = max(0.0, min(next_send, end + 1.0) - time.monotonic())
        r, _, _ = select.select([sock], [], [], timeout)
        while r:
            try:
                data = sock.recv(2048)
            except BlockingIOError:
                break
            ihl = (data[0] & 0x0F) * 4
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident and len(data) >= ihl + 16:
                sent_at = struct.unpack("!d", data[ihl + 8:ihl + 16])[0]
                replies.append((rseq, sent_at, time.time()))
    with open(out, "w") as f:
        f.write(f"sent {seq}\n")
        for rseq, sent_at, t in replies:
            f.write(f"reply {rseq} {sent_at:.6f} {t:.6f}\n")


if __name__ == "__main__":
    main()
