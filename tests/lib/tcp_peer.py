#!/usr/bin/python3
"""tcp_peer: the kernel side of the TCP tool tests (run inside the test namespace).

  tcp_peer.py echo-clients HOST PORT N BYTES   N concurrent connections, each sends BYTES of
                                               its own random data while reading the echo, then
                                               shuts down writing: every byte back, in order,
                                               then EOF
  tcp_peer.py hold HOST PORT BYTES SECONDS     connect, send BYTES, read nothing; print
                                               "local PORT" and hold the connection SECONDS
  tcp_peer.py exchange HOST PORT SECONDS       connect, echo 64 KiB through it, print
                                               "local PORT", hold SECONDS
Exit status 0 only when every check held.
"""
import os
import selectors
import socket
import sys
import threading
import time


def echo_client(host, port, nbytes, results, i):
    data = os.urandom(nbytes)
    got = bytearray()
    try:
        s = socket.create_connection((host, port), timeout=10)
        s.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        sent = 0
        shut = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            events = sel.select(timeout=5)
            if not events:
                results[i] = "no progress for 5 s (sent %d, got %d)" % (sent, len(got))
                return
            for _key, mask in events:
                if mask & selectors.EVENT_WRITE and sent < nbytes:
                    try:
                        sent += s.send(data[sent:sent + 65536])
                    except BlockingIOError:
                        pass
                    if sent == nbytes and not shut:
                        s.shutdown(socket.SHUT_WR)
                        shut = True
                        sel.modify(s, selectors.EVENT_READ)
                if mask & selectors.EVENT_READ:
                    try:
                        b = s.recv(65536)
                    except BlockingIOError:
                        continue
                    if not b:
                        s.close()
                        if bytes(got) != data:
                            results[i] = "echo differs: sent %d, got %d" % (nbytes, len(got))
                        else:
                            results[i] = "ok"
                        return
                    got += b
                    if len(got) > nbytes:
                        results[i] = "more bytes than sent"
                        return
        results[i] = "timed out"
    except OSError as e:
        results[i] = "error: %s" % e


def echo_clients(host, port, n, nbytes):
    results = [None] * n
    threads = [threading.Thread(target=echo_client, args=(host, port, nbytes, results, i))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = [(i, r) for i, r in enumerate(results) if r != "ok"]
    for i, r in bad:
        print("client %d: %s" % (i, r))
    print("%d of %d clients echoed %d bytes byte-exact" % (n - len(bad), n, nbytes))
    return 0 if not bad else 1


def hold(host, port, nbytes, seconds):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"x" * nbytes)
    print("local %d" % s.getsockname()[1], flush=True)
    time.sleep(seconds)
    return 0


def exchange(host, port, seconds):
    s = socket.create_connection((host, port), timeout=10)
    data = os.urandom(65536)
    s.sendall(data)
    got = bytearray()
    while len(got) < len(data):
        b = s.recv(65536)
        if not b:
            print("EOF after %d bytes" % len(got))
            return 1
        got += b
    if bytes(got) != data:
        print("echo differs")
        return 1
    print("local %d" % s.getsockname()[1], flush=True)
    time.sleep(seconds)
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "echo-clients":
        return echo_clients(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    if cmd == "hold":
        return hold(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    if cmd == "exchange":
        return exchange(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
