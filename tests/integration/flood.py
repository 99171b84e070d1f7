#!/usr/bin/python3
"""flood: the table floods of test_arp_flood.sh and test_frag_flood.sh, sent from the kernel side
of the TAP, and the legitimate traffic that must get through right after them.

  flood.py echo IFACE DST_MAC NET DST_IP FIRST COUNT [RATE [ROUNDS]]
      COUNT ICMP echo requests to DST_IP, each from a made-up on-link source NET.FIRST,
      NET.FIRST+1, ... (nobody answers ARP for them) and a made-up MAC: every reply needs a
      neighbour entry that never resolves. RATE per second (0 or absent: as fast as it goes);
      the whole run ROUNDS times (default 1).
  flood.py frags IFACE DST_MAC SRC_IP DST_IP FIRST_ID COUNT NFRAGS [RATE]
      COUNT UDP datagrams to port 7 with ids FIRST_ID.., each sent as its first NFRAGS fragments
      of 1,480 payload bytes (MF set on all of them: the rest never comes), so each one holds
      NFRAGS buffers in reassembly until it is evicted or times out. RATE frames per second.
  flood.py udp-echo SRC_IP HOST PORT SIZE TIMEOUT [COUNT]
      SIZE-byte datagrams from a kernel socket bound to SRC_IP (the kernel fragments them), one
      at a time (COUNT, default 1): each echo must come back byte-exact within TIMEOUT seconds,
      at the first try.

Flood frames are built byte by byte (like inject_malformed.py) and sent with scapy's sendp, so
they leave through the kernel's packet path like any frame on the link. Prints what it sent, or
what failed; exit status 0 only when every check held.
"""
import socket
import struct
import sys
import time

from frames import csum, ip4, mac
from scapy.all import conf, sendp

conf.verb = 0


def ipv4(src, dst, proto, payload, ident=0, frag=0):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                      ip4(src), ip4(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def send(frames, iface, rate):
    if rate > 0:
        sendp(frames, iface=iface, inter=1.0 / rate)
    else:
        sendp(frames, iface=iface)


def echo_flood(iface, dst_mac, net, dst_ip, first, count, rate, rounds):
    frames = []
    for k in range(count):
        host = first + k
        if not 0 < host < 255:
            sys.exit(f"source {net}.{host} is not a host address")
        src_mac = bytes([0x02, 0x66, 0, 0, (host >> 8) & 0xFF, host & 0xFF])
        icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4242, k) + b"flood" * 8
        icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
        frames.append(mac(dst_mac) + src_mac + b"\x08\x00" + ipv4(f"{net}.{host}", dst_ip, 1, icmp))
    send(frames * rounds, iface, rate)
    print(f"sent {count * rounds} echo requests from {net}.{first}..{net}.{first + count - 1}")


def frag_flood(iface, dst_mac, src_ip, dst_ip, first_id, count, nfrags, rate):
    src_mac = bytes([0x02, 0x66, 0, 0, 0xFF, 0xFE])
    chunk = bytes(range(256)) * 6
    frames = []
    for k in range(count):
        ident = (first_id + k) & 0xFFFF
        for i in range(nfrags):
            # Offset in 8-byte units, MF always set: the datagram never completes.
            frag = 0x2000 | (i * 1480 // 8)
            payload = chunk[:1480]
            if i == 0:  # a UDP header to port 7 in front, as a real first fragment has
                payload = struct.pack("!HHHH", 40000, 7, 8 + 1480 * (nfrags + 1), 0) + payload[8:]
            frames.append(mac(dst_mac) + src_mac + b"\x08\x00" +
                          ipv4(src_ip, dst_ip, 17, payload, ident, frag))
    send(frames, iface, rate)
    print(f"sent {count} incomplete datagrams of {nfrags} fragments ({len(frames)} frames)")


def udp_echo(src_ip, host, port, size, timeout, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src_ip, 0))
    s.settimeout(timeout)
    worst = 0.0
    for k in range(count):
        p = bytes((i * 31 + size + k) & 0xFF for i in range(size))
        t0 = time.monotonic()
        s.sendto(p, (host, port))
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            print(f"FAIL: echo {k + 1} of {count}: nothing within {timeout} s ({size} bytes from {src_ip})")
            sys.exit(1)
        if data != p or peer != (host, port):
            print(f"FAIL: echo {k + 1} of {count}: {len(data)} bytes differ or came from {peer}")
            sys.exit(1)
        worst = max(worst, time.monotonic() - t0)
    print(f"{count} echoes of {size} bytes from {src_ip}, slowest {worst * 1000:.1f} ms")


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "echo" and len(a) in (6, 7, 8):
        echo_flood(a[0], a[1], a[2], a[3], int(a[4]), int(a[5]), float(a[6]) if len(a) > 6 else 0,
                   int(a[7]) if len(a) > 7 else 1)
    elif cmd == "frags" and len(a) in (7, 8):
        frag_flood(a[0], a[1], a[2], a[3], int(a[4]), int(a[5]), int(a[6]),
                   float(a[7]) if len(a) == 8 else 0)
    elif cmd == "udp-echo" and len(a) in (5, 6):
        udp_echo(a[0], a[1], int(a[2]), int(a[3]), float(a[4]), int(a[5]) if len(a) == 6 else 1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
