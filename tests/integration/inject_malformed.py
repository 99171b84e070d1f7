#!/usr/bin/python3
"""inject_malformed: send malformed frames of one named kind from the kernel side of a TAP.

usage: inject_malformed.py IFACE DST_MAC SRC_IP DST_IP KIND COUNT
Frames are built byte by byte (scapy would "fix" the very fields under test) and sent with
scapy's sendp, so they leave through the kernel's packet path like any frame on the link.
"""
import struct
import sys

from frames import csum, ip4, mac
from scapy.all import conf, get_if_hwaddr, sendp

conf.verb = 0


def ipv4(src, dst, payload=b"", ver_ihl=0x45, tot_len=None, frag=0, proto=253, options=b"",
         good_csum=True, ttl=64):
    ihl_bytes = 20 + len(options)
    if tot_len is None:
        tot_len = ihl_bytes + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", ver_ihl, 0, tot_len, 0x1234, frag, ttl, proto, 0,
                      ip4(src), ip4(dst))
    hdr += options
    c = csum(hdr)
    if not good_csum:
        c ^= 0x5555
    hdr = hdr[:10] + struct.pack("!H", c) + hdr[12:]
    return hdr + payload


def arp(src_mac, src_ip, dst_ip, hlen=6, plen=4, htype=1, ptype=0x0800):
    sha = src_mac + b"\0" * (hlen - 6) if hlen >= 6 else src_mac[:hlen]
    spa = ip4(src_ip) + b"\0" * max(0, plen - 4)
    tpa = ip4(dst_ip) + b"\0" * max(0, plen - 4)
    return struct.pack("!HHBBH", htype, ptype, hlen, plen, 1) + sha + spa[:plen] + \
        b"\0" * hlen + tpa[:plen]


def main():
    iface, dst_mac, src_ip, dst_ip, kind, count = sys.argv[1:7]
    dst, src = mac(dst_mac), mac(get_if_hwaddr(iface))
    eth_ip = dst + src + b"\x08\x00"
    body = b"x" * 20
    frames = {
        # The kernel zero-pads packet-socket frames to 14 bytes: this arrives as type 0x0000.
        "eth_short": dst + src[:5],
        "ip_no_room": eth_ip + b"\x45" + b"\0" * 9,
        "ihl_below_5": eth_ip + ipv4(src_ip, dst_ip, body, ver_ihl=0x44),
        "ihl_15_no_room": eth_ip + ipv4(src_ip, dst_ip, body, ver_ihl=0x4F, tot_len=40),
        "totlen_beyond_frame": eth_ip + ipv4(src_ip, dst_ip, body, tot_len=400),
        "totlen_below_ihl": eth_ip + ipv4(src_ip, dst_ip, body, tot_len=16),
        "bad_checksum": eth_ip + ipv4(src_ip, dst_ip, body, good_csum=False),
        "version_6": eth_ip + ipv4(src_ip, dst_ip, body, ver_ihl=0x65),
        "opt_len_0": eth_ip + ipv4(src_ip, dst_ip, body, ver_ihl=0x46, options=b"\x07\x00\x00\x00"),
        "opt_len_1": eth_ip + ipv4(src_ip, dst_ip, body, ver_ihl=0x46, options=b"\x07\x01\x00\x00"),
        "opt_past_ihl": eth_ip + ipv4(src_ip, dst_ip, body, ver_ihl=0x46, options=b"\x01\x07\x08\x04"),
        "icmp_short": eth_ip + ipv4(src_ip, dst_ip, b"\x08\x00\x00\x00", proto=1),
        "arp_bad_hlen": dst + src + b"\x08\x06" + arp(src, src_ip, dst_ip, hlen=8),
        "arp_bad_plen": dst + src + b"\x08\x06" + arp(src, src_ip, dst_ip, plen=6),
        # Last fragment at offset 65,512 with 100 bytes: the datagram would pass 65,535.
        "frag_oversize": eth_ip + ipv4(src_ip, dst_ip, b"y" * 100, frag=8189, proto=17),
    }
    if kind not in frames:
        sys.exit(f"unknown kind {kind}; known: {' '.join(frames)}")
    sendp([frames[kind]] * int(count), iface=iface)


if __name__ == "__main__":
    main()
