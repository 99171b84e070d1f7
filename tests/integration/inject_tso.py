#!/usr/bin/python3
"""inject_tso: hand the kernel side of a TAP one TCP super-frame, as the kernel's own TCP would
give a device with TSO: one frame of SEGS * MSS payload bytes with a virtio-net header (gso_type
TCPV4, gso_size MSS, NEEDS_CSUM at the TCP checksum, the pseudo-header sum in place).

usage: inject_tso.py IFACE DST_MAC SRC_IP DST_IP SEGS MSS

Sent through an AF_PACKET socket with PACKET_VNET_HDR, so it leaves by the device's transmit
path: with TSO on the device (TUN_F_TSO4) nicd reads it whole, a GRO-style super-frame; with TSO
off the kernel cuts it into SEGS frames first, as it does for its own TCP.
"""
import socket
import struct
import sys

SOL_PACKET = 263
PACKET_VNET_HDR = 15
VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
VIRTIO_NET_HDR_GSO_TCPV4 = 1


def fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def main():
    iface, dst_mac, src, dst, segs, mss = sys.argv[1:7]
    segs, mss = int(segs), int(mss)
    payload = bytes((i * 7 + 3) & 0xFF for i in range(segs * mss))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.bind((iface, 0))
    src_mac = s.getsockname()[4]
    eth = bytes(int(x, 16) for x in dst_mac.split(":")) + src_mac + b"\x08\x00"
    tcp_len = 20 + len(payload)
    saddr, daddr = socket.inet_aton(src), socket.inet_aton(dst)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + tcp_len, 1, 0x4000, 64, 6, 0, saddr, daddr)
    ip = ip[:10] + struct.pack("!H", ~fold(sum16(ip)) & 0xFFFF) + ip[12:]
    seed = fold(sum16(saddr + daddr) + 6 + tcp_len)  # folded, not inverted (CHECKSUM_PARTIAL)
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 1, 5 << 4, 0x18, 65535, seed, 0)
    vnet = struct.pack("<BBHHHH", VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4,
                       14 + 20 + 20, mss, 34, 16)
    s.send(vnet + eth + ip + tcp + payload)


if __name__ == "__main__":
    main()
