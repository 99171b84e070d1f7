#!/usr/bin/python3
"""tcp_attack: the attacker's side of test_tcp_attack.sh, run in the test namespace (scapy for
what a kernel socket cannot send, kernel sockets for the legitimate traffic it must not hurt).

  tcp_attack.py synflood IFACE DST_MAC DST_IP PORT SECONDS [STOPFILE [RATE]]
      SYNs to DST_IP:PORT from random spoofed sources (198.18.0.0/15, random ports and
      sequence numbers, Linux's options) at RATE per second (absent or 0: as fast as scapy's
      L2 socket sends them), for SECONDS or until STOPFILE exists.
      Prints "flooded N SYNs in S s". The SYN-ACKs go to the gateway (the kernel), which does
      not forward them: nobody ever completes a handshake.

  tcp_attack.py inject IFACE DST_MAC HOST PORT CTL INSTANCE
      Connects a kernel socket to a stack echo server at HOST:PORT and sniffs the connection to
      learn its initial sequence numbers and timestamps. Then, for each attack below: echoes
      a few KiB of fresh random bytes through the connection (byte-exact, or it fails), waits
      until both sides have acknowledged everything (seen on the wire), injects the segment(s)
      with the connection's own 4-tuple and sequence numbers (timestamps included, as the
      kernel would send them), and waits for the stack's counters (`CTL stats`) to move as
      expected; for RFC 5961's cases the challenge ACK must be seen on the wire too:
        bad-csum      data at rcv_nxt, TCP checksum wrong          in_csum_errors, in_errs
        syn-fin       SYN+FIN                                      in_drop_bad_flags
        syn-rst       SYN+RST                                      in_drop_bad_flags
        no-flags      data at rcv_nxt with no flag at all          in_drop_bad_flags
        fin-no-ack    FIN at rcv_nxt without ACK                   in_drop_bad_flags
        xmas          every flag                                   in_drop_bad_flags
        doff-small    data offset 3                                in_drop_bad_offset
        doff-past     data offset 15 on a 20-byte segment          in_drop_bad_offset
        truncated     an IPv4 datagram carrying 12 bytes of TCP    rx_drop_short
        rst-window    RST at rcv_nxt + 1000 (in window, not exact) tcp_challenge_ack + ACK
        rst-out       RST far outside the window                   in_drop_rst_bad_seq
        syn-window    SYN at rcv_nxt + 1000 on the connection      tcp_syn_challenge,
                                                                   tcp_challenge_ack + ACK
        ack-future    ACK of data never sent (snd_nxt + 100000)    in_drop_bad_ack + ACK
      After the last one, the echo goes on, then the socket shuts down and reads the echo to
      EOF. Prints "attack NAME ok ..." per attack, "echoed N SHA" at the end. Exit 0 only
      if every check held.
"""
import hashlib
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time

from scapy.all import AsyncSniffer, conf
from scapy.layers.inet import IP, TCP

from frames import csum, ip4, mac

conf.verb = 0

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


INJECTED_TTL = 77  # marks our own frames, which the sniffer sees leave too


def ipv4(src, dst, payload, proto=6, ttl=64):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), random.getrandbits(16),
                      0x4000, ttl, proto, 0, src, dst)
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def tcp_seg(src, dst, sport, dport, seq, ack, flags, opts=b"", payload=b"", wnd=65535,
            doff=None, bad_csum=False):
    """A TCP segment, checksum right unless bad_csum; doff overrides the data offset."""
    if len(opts) % 4:
        opts += b"\0" * (4 - len(opts) % 4)
    off = doff if doff is not None else (20 + len(opts)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      off << 4, flags, wnd, 0, 0) + opts
    seg = hdr + payload
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, 6, len(seg))
    c = csum(pseudo + seg)
    if bad_csum:
        c ^= 0x5A5A
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def ether(dst_mac, src_mac, payload):
    return dst_mac + src_mac + b"\x08\x00" + payload


def if_mac(iface):
    with open(f"/sys/class/net/{iface}/address") as f:
        return mac(f.read().strip())


# ---- SYN flood ---------------------------------------------------------------------------------

def synflood(iface, dst_mac, dst_ip, port, seconds, stopfile=None, rate=0):
    s = conf.L2socket(iface=iface)
    src_mac = if_mac(iface)
    dst = ip4(dst_ip)
    rnd = random.Random(0x5f17)
    # Linux's SYN options: MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
    frames = []
    for _ in range(4096):
        src = struct.pack("!I", (198 << 24 | 18 << 16) | rnd.getrandbits(17))
        opts = (b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + struct.pack("!II", rnd.getrandbits(32), 0)
                + b"\x01\x03\x03\x07")
        seg = tcp_seg(src, dst, rnd.randrange(1024, 65536), port, rnd.getrandbits(32), 0, SYN,
                      opts, wnd=64240)
        frames.append(ether(dst_mac, src_mac, ipv4(src, dst, seg)))
    n = 0
    t0 = time.time()
    end = t0 + seconds
    while time.time() < end and not (stopfile and os.path.exists(stopfile)):
        for f in frames[n % 4096:n % 4096 + 256]:
            s.send(f)
        n += 256
        if rate:  # paced: at most `rate` SYNs per second on average
            ahead = t0 + n / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
    s.close()
    print("flooded %d SYNs in %.1f s" % (n, time.time() - t0), flush=True)


# ---- injection into a live connection --------------------------------------------------------

class Conn:
    """What the sniffer learned about one connection, both directions."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.lock = threading.Lock()
        self.cv = threading.Condition(self.lock)
        self.lport = None
        self.k_isn = self.s_isn = None
        self.k_ts = self.s_ts = 0            # latest TSval each side sent
        self.k_acked = self.s_acked = None   # highest ack each side sent
        self.from_stack = []                 # (time, seq, ack, flags, payload length)

    def on_pkt(self, p):
        if IP not in p or TCP not in p or self.lport is None or p[IP].ttl == INJECTED_TTL:
            return
        ip, t = p[IP], p[TCP]
        stack = ip.src == self.host and t.sport == self.port and t.dport == self.lport
        kern = ip.dst == self.host and t.dport == self.port and t.sport == self.lport
        if not (stack or kern):
            return
        ts = None
        for o in t.options:
            if o[0] == "Timestamp":
                ts = o[1][0]
        with self.cv:
            if stack:
                if t.flags & SYN and t.flags & ACK:
                    self.s_isn = t.seq
                if ts is not None:
                    self.s_ts = ts
                if t.flags & ACK:
                    self.s_acked = t.ack if self.s_acked is None else max(self.s_acked, t.ack)
                self.from_stack.append((time.time(), t.seq, t.ack, int(t.flags),
                                        len(bytes(t.payload))))
            else:
                if int(t.flags) == SYN:
                    self.k_isn = t.seq
                if ts is not None and not t.flags & RST:
                    self.k_ts = max(self.k_ts, ts)
                if t.flags & ACK and not t.flags & (SYN | RST):
                    self.k_acked = t.ack if self.k_acked is None else max(self.k_acked, t.ack)
            self.cv.notify_all()

    def wait(self, pred, timeout, what):
        with self.cv:
            if not self.cv.wait_for(pred, timeout):
                raise SystemExit("FAIL: timed out waiting for " + what)


def stats(ctl, inst):
    out = subprocess.run([ctl, "stats", "--instance", inst], check=True, capture_output=True,
                         text=True).stdout
    d = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 2 and f[1].isdigit():
            d[f[0]] = int(f[1])
    return d


def inject(iface, dst_mac, host, port, ctl, inst):
    c = Conn(host, int(port))
    port = int(port)
    l2 = conf.L2socket(iface=iface)
    src_mac = if_mac(iface)
    ready = threading.Event()
    sn = AsyncSniffer(iface=iface, store=False, prn=c.on_pkt, started_callback=ready.set,
                      lfilter=lambda p: TCP in p)
    sn.start()
    if not ready.wait(5):
        raise SystemExit("FAIL: the sniffer did not start")

    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    with c.cv:
        c.lport = s.getsockname()[1]
    s.settimeout(10)
    s.connect((host, port))
    c.wait(lambda: c.k_isn is not None and c.s_isn is not None, 5, "the handshake on the wire")
    kaddr, haddr = ip4(s.getsockname()[0]), ip4(host)
    rnd = random.Random(7)
    hs, hr = hashlib.sha256(), hashlib.sha256()
    sent = recvd = 0

    def echo(n):
        nonlocal sent, recvd
        d = rnd.randbytes(n)
        s.sendall(d)
        got = b""
        while len(got) < n:
            k = s.recv(n - len(got))
            if not k:
                raise SystemExit("FAIL: EOF in the middle of the echo")
            got += k
        if got != d:
            raise SystemExit("FAIL: the echo differs from what was sent")
        hs.update(d)
        hr.update(got)
        sent += n
        recvd += n

    def quiet():
        """Both sides have acknowledged everything: the numbers below are exact."""
        knxt = (c.k_isn + 1 + sent) & 0xFFFFFFFF
        snxt = (c.s_isn + 1 + recvd) & 0xFFFFFFFF
        c.wait(lambda: c.s_acked == knxt and c.k_acked == snxt, 5,
               "both sides to acknowledge everything (stack %s of %d, kernel %s of %d)"
               % (c.s_acked, knxt, c.k_acked, snxt))
        return knxt, snxt

    def ts_opt():
        return b"\x01\x01\x08\x0a" + struct.pack("!II", c.k_ts, c.s_ts)

    def send_ip(payload, proto=6):
        l2.send(ether(mac(dst_mac), src_mac, ipv4(kaddr, haddr, payload, proto, INJECTED_TTL)))

    def seg(seq, ack, flags, payload=b"", **kw):
        return tcp_seg(kaddr, haddr, c.lport, port, seq, ack, flags, ts_opt(), payload, **kw)

    attacks = [
        # name, builder(knxt, snxt) -> [(payload, proto)], {counter: min delta}, challenge?
        ("bad-csum", lambda k, h: [seg(k, h, ACK | PSH, b"X" * 100, bad_csum=True)],
         {"tcpd.in_csum_errors": 1, "tcpd.in_errs": 1}, False),
        ("syn-fin", lambda k, h: [seg(k, h, SYN | FIN | ACK)],
         {"tcpd.in_drop_bad_flags": 1}, False),
        ("syn-rst", lambda k, h: [seg(k, h, SYN | RST)],
         {"tcpd.in_drop_bad_flags": 1}, False),
        ("no-flags", lambda k, h: [seg(k, h, 0, b"Y" * 50)],
         {"tcpd.in_drop_bad_flags": 1}, False),
        ("fin-no-ack", lambda k, h: [seg(k, h, FIN)],
         {"tcpd.in_drop_bad_flags": 1}, False),
        ("xmas", lambda k, h: [seg(k, h, 0xFF, b"Z" * 10)],
         {"tcpd.in_drop_bad_flags": 1}, False),
        ("doff-small", lambda k, h: [seg(k, h, ACK, b"Q" * 30, doff=3)],
         {"tcpd.in_drop_bad_offset": 1}, False),
        ("doff-past", lambda k, h: [tcp_seg(kaddr, haddr, c.lport, port, k, h, ACK, doff=15)],
         {"tcpd.in_drop_bad_offset": 1}, False),
        ("truncated", lambda k, h: [tcp_seg(kaddr, haddr, c.lport, port, k, h, ACK)[:12]],
         {"tcpd.rx_drop_short": 1}, False),
        ("rst-window", lambda k, h: [seg(k + 1000, h, RST | ACK)],
         {"tcpd.tcp_challenge_ack": 1}, True),
        ("rst-out", lambda k, h: [seg(k + 0x40000000, h, RST)],
         {"tcpd.in_drop_rst_bad_seq": 1}, False),
        ("syn-window", lambda k, h: [seg(k + 1000, 0, SYN)],
         {"tcpd.tcp_syn_challenge": 1, "tcpd.tcp_challenge_ack": 1}, True),
        ("ack-future", lambda k, h: [seg(k, h + 100000, ACK)],
         {"tcpd.in_drop_bad_ack": 1}, True),
    ]
    only = os.environ.get("TCP_ATTACK_ONLY")  # for debugging: a comma-separated subset
    if only:
        attacks = [a for a in attacks if a[0] in only.split(",")]
    echo(4096)
    for name, build, want, challenge in attacks:
        echo(rnd.randrange(1000, 20000))
        knxt, snxt = quiet()
        before = stats(ctl, inst)
        t0 = time.time()
        for p in build(knxt, snxt):
            send_ip(p)
        deadline = time.time() + 3
        while True:
            after = stats(ctl, inst)
            short = {k: after.get(k, 0) - before.get(k, 0) for k in want
                     if after.get(k, 0) - before.get(k, 0) < want[k]}
            if not short:
                break
            if time.time() > deadline:
                raise SystemExit("FAIL: %s: counters did not move: %s" % (name, short))
            time.sleep(0.02)
        if challenge:
            # RFC 5961 §3.2/§4.2/§5.2: an ACK at snd_nxt acknowledging rcv_nxt, nothing else.
            c.wait(lambda: any(t >= t0 and sq == snxt and ak == knxt and fl == ACK and ln == 0
                               for t, sq, ak, fl, ln in c.from_stack), 3,
                   "%s: the challenge ACK (seq %d ack %d)" % (name, snxt, knxt))
        moved = " ".join("%s+%d" % (k.split(".")[1], after[k] - before[k]) for k in want)
        print("attack %s ok %s" % (name, moved), flush=True)
    echo(65536)
    s.shutdown(socket.SHUT_WR)
    tail = s.recv(1)
    if tail != b"":
        raise SystemExit("FAIL: data after the echo ended: %r" % tail)
    s.close()
    sn.stop()
    l2.close()
    if hs.digest() != hr.digest():
        raise SystemExit("FAIL: echo hashes differ")
    print("echoed %d %s" % (sent, hs.hexdigest()), flush=True)


def main():
    mode = sys.argv[1]
    a = sys.argv[2:]
    if mode == "synflood":
        synflood(a[0], mac(a[1]), a[2], int(a[3]), float(a[4]), a[5] if len(a) > 5 else None,
                 int(a[6]) if len(a) > 6 else 0)
    elif mode == "inject":
        inject(*a[:6])
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
