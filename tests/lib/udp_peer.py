#!/usr/bin/python3
"""udp_peer: the kernel side of the UDP integration tests (run inside the test namespace).

  udp_peer.py echo-server PORT SECONDS          echo every datagram back until SECONDS pass
  udp_peer.py sizes HOST PORT                   every size 0..1472 and fragmented ones up to
                                                65,507 to an echo server, byte-exact
  udp_peer.py refused HOST PORT                 a connected socket to a closed port gets
                                                ConnectionRefusedError (ICMP port unreachable)
  udp_peer.py blast HOST PORT COUNT RATE        COUNT 64-byte datagrams at RATE per second
  udp_peer.py count PORT SECONDS                print how many datagrams arrived in SECONDS
Exit status 0 only when every check held.
"""
import socket
import sys
import time


def echo_server(port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    s.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        s.sendto(data, peer)


def payload(n):
    return bytes((i * 31 + n) & 0xFF for i in range(n))


def sizes(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    bad = []
    todo = list(range(0, 1473)) + [1473, 2000, 2961, 4096, 8000, 16384, 32768, 50000, 65000, 65507]
    for n in todo:
        p = payload(n)
        s.sendto(p, (host, port))
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            bad.append((n, "no echo"))
            continue
        if data != p or peer != (host, port):
            bad.append((n, f"echo of {len(data)} bytes differs or came from {peer}"))
        if len(bad) > 5:
            break
    if bad:
        print("FAIL:", bad[:5])
        sys.exit(1)
    print(f"{len(todo)} sizes echoed byte-exact (0..1472, fragmented up to 65507)")


def refused(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, port))
    s.settimeout(2)
    s.send(b"anyone?")
    try:
        s.recv(100)
    except ConnectionRefusedError:
        print("ICMP port unreachable received: ConnectionRefusedError")
        return
    except socket.timeout:
        print("FAIL: no ICMP port unreachable within 2 s")
        sys.exit(1)
    print("FAIL: got an answer from a closed port")
    sys.exit(1)


def blast(host, port, count, rate):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    period = 1.0 / rate
    t = time.monotonic()
    for i in range(count):
        s.sendto(i.to_bytes(4, "big") + b"x" * 60, (host, port))
        t += period
        d = t - time.monotonic()
        if d > 0:
            time.sleep(d)
    print(f"sent {count}")


def count(port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE (root): the kernel must not drop
    s.bind(("0.0.0.0", port))
    s.settimeout(0.1)
    n, end = 0, time.monotonic() + seconds
    print("ready", flush=True)
    while time.monotonic() < end:
        try:
            s.recv(65535)
            n += 1
        except socket.timeout:
            pass
    print(f"counted {n}")


def main():
    cmd = sys.argv[1]
    if cmd == "echo-server":
        echo_server(int(sys.argv[2]), float(sys.argv[3]))
    elif cmd == "sizes":
        sizes(sys.argv[2], int(sys.argv[3]))
    elif cmd == "refused":
        refused(sys.argv[2], int(sys.argv[3]))
    elif cmd == "count":
        count(int(sys.argv[2]), float(sys.argv[3]))
    elif cmd == "blast":
        blast(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
