"""frames: what the scripts that build frames byte by byte (flood.py, inject_malformed.py)
share: the Internet checksum (RFC 1071) and address parsing. Byte by byte, because scapy would
"fix" the very fields the tests get wrong on purpose."""
import struct


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s: str) -> bytes:
    return bytes(int(x, 16) for x in s.split(":"))


def ip4(s: str) -> bytes:
    return bytes(map(int, s.split(".")))
