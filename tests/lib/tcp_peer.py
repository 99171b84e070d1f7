#!/usr/bin/python3
"""tcp_peer: the kernel side of the TCP integration tests (the stack side is
tests/integration/tcp_probe.c). Runs in the test namespace with the kernel's own sockets.

Streams are pseudo-random bytes; each side prints the SHA-256 of what it sent or received
("sent N SHA", "received N SHA"), which the test compares.

  send HOST PORT BYTES        connect, send BYTES, shutdown(WR), wait for EOF
  recv-from HOST PORT         connect, receive until EOF
  recv PORT                   listen, accept one, receive until EOF
  serve-send PORT BYTES       listen, accept one, send BYTES, shutdown(WR), wait for EOF
  reset-server PORT           accept one, read its byte, then reset it (SO_LINGER 0)
  unread-server PORT          accept, send 64 KiB, then expect the peer's RST (ECONNRESET)
  expect-reset-server PORT    accept, read until the peer's RST (ECONNRESET); its bytes first
  halfclose-server PORT       accept, read to EOF, answer "answer to <what came>", close
  halfclose-client HOST PORT  connect, send "question", shutdown(WR), expect the answer, EOF
  many HOST PORT N            N connections at once, each sends a line and expects it back
  echo-server PORT N          accept N connections, echo each until its EOF (threads)
  echo-clients HOST PORT N BYTES  N concurrent connections, each sends BYTES of its own random
                              data while reading the echo, then shuts down writing: every byte
                              back, in order, then EOF
  hold HOST PORT BYTES SECONDS    connect, send BYTES, read nothing; print "local PORT", hold
  exchange HOST PORT SECONDS      connect, echo 64 KiB through it, print "local PORT", hold
  serve-send-until PORT STOPFILE  as serve-send, but for as long as STOPFILE does not exist
  churn-server PORT           for tests/fault/tcp_churn.c: accept connections until killed,
                              each a thread; a connection's first line says what it is:
                              "echo": echo every byte after the line until EOF, then close;
                              "dial PORT": connect to the client's address at PORT, answer
                              "dialed LOCALPORT" on this connection, close it, and echo on the
                              new connection until EOF. Errors (resets) end that connection
                              only: the application side checks what it gets.
A server prints "listening PORT" once it listens. Exit 0 only if everything checked held.
"""
import errno
import os
import hashlib
import random
import selectors
import socket
import struct
import sys
import threading
import time

CHUNK = 65536


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(128)
    print("listening", port, flush=True)
    return s


def connect(host, port, tries=50):
    for i in range(tries):
        try:
            return socket.create_connection((host, port), timeout=30)
        except ConnectionRefusedError:
            if i == tries - 1:
                raise
            time.sleep(0.1)


def send_stream(s, n, stop=None):
    rnd = random.Random(n)
    h = hashlib.sha256()
    done = 0
    t = time.time()
    while done < n and not (stop and os.path.exists(stop)):
        k = min(CHUNK, n - done)
        d = rnd.randbytes(k)
        h.update(d)
        s.sendall(d)
        done += k
    s.shutdown(socket.SHUT_WR)
    assert s.recv(1) == b"", "the peer sent data after our FIN"
    dt = time.time() - t
    print("sent %d %s %.3f s %.1f Mbit/s" % (done, h.hexdigest(), dt, done * 8 / dt / 1e6),
          flush=True)


def recv_stream(s):
    h = hashlib.sha256()
    n = 0
    t = time.time()
    while True:
        d = s.recv(CHUNK)
        if not d:
            break
        h.update(d)
        n += len(d)
    dt = time.time() - t
    print("received %d %s %.3f s %.1f Mbit/s" % (n, h.hexdigest(), dt, n * 8 / dt / 1e6),
          flush=True)


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
    mode = sys.argv[1]
    a = sys.argv[2:]
    if mode == "send":
        s = connect(a[0], int(a[1]))
        send_stream(s, int(a[2]))
    elif mode == "recv-from":
        s = connect(a[0], int(a[1]))
        recv_stream(s)
    elif mode == "recv":
        c, _ = listen(int(a[0])).accept()
        c.settimeout(60)
        recv_stream(c)
    elif mode == "serve-send":
        c, _ = listen(int(a[0])).accept()
        c.settimeout(60)
        send_stream(c, int(a[1]))
    elif mode == "reset-server":
        c, _ = listen(int(a[0])).accept()
        # The client's byte first: its connect() has returned by then. A RST that overtook
        # the client's wake-up would fail its connect with ECONNRESET instead (as on Linux,
        # inet_wait_for_connect), which is not what this mode tests.
        c.settimeout(10)
        assert c.recv(1) == b"r", "expected the client's byte"
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        print("reset sent", flush=True)
    elif mode == "unread-server":
        c, _ = listen(int(a[0])).accept()
        c.settimeout(10)
        c.sendall(b"u" * 65536)
        try:
            d = c.recv(10)
            raise SystemExit("expected a reset, got %r" % d)
        except ConnectionResetError:
            print("peer reset", flush=True)
    elif mode == "expect-reset-server":
        c, _ = listen(int(a[0])).accept()
        c.settimeout(10)
        got = b""
        try:
            while True:
                d = c.recv(100)
                if not d:
                    raise SystemExit("expected a reset, got EOF after %r" % got)
                got += d
        except ConnectionResetError:
            print("peer reset after %r" % got, flush=True)
    elif mode == "halfclose-server":
        c, _ = listen(int(a[0])).accept()
        c.settimeout(10)
        got = b""
        while True:
            d = c.recv(100)
            if not d:
                break
            got += d
        c.sendall(b"answer to " + got)
        c.close()
        print("answered", got.decode(), flush=True)
    elif mode == "halfclose-client":
        s = connect(a[0], int(a[1]))
        s.sendall(b"question")
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = s.recv(100)
            if not d:
                break
            got += d
        assert got == b"answer to question", got
        print("answer", got.decode(), flush=True)
    elif mode == "many":
        many(a[0], int(a[1]), int(a[2]))
    elif mode == "echo-server":
        echo_server(int(a[0]), int(a[1]))
    elif mode == "echo-clients":
        sys.exit(echo_clients(a[0], int(a[1]), int(a[2]), int(a[3])))
    elif mode == "hold":
        sys.exit(hold(a[0], int(a[1]), int(a[2]), float(a[3])))
    elif mode == "exchange":
        sys.exit(exchange(a[0], int(a[1]), float(a[2])))
    elif mode == "churn-server":
        churn_server(int(a[0]))
    elif mode == "serve-send-until":
        c, _ = listen(int(a[0])).accept()
        c.settimeout(60)
        send_stream(c, 1 << 62, a[1])
    else:
        raise SystemExit("unknown mode " + mode)


def many(host, port, n):
    """n connections at once: all connect (non-blocking), each sends a line, reads it back."""
    sel = selectors.DefaultSelector()
    left = {}
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex((host, port))
        assert err in (0, errno.EINPROGRESS), err
        msg = ("connection %d of %d\n" % (i, n)).encode()
        left[s] = [msg, b"", False]
        sel.register(s, selectors.EVENT_WRITE)
    deadline = time.time() + 60
    done = 0
    while left and time.time() < deadline:
        for key, ev in sel.select(timeout=1):
            s = key.fileobj
            st = left[s]
            if not st[2] and ev & selectors.EVENT_WRITE:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                assert err == 0, "connect: %s" % errno.errorcode.get(err, err)
                s.send(st[0])
                st[2] = True
                sel.modify(s, selectors.EVENT_READ)
            elif ev & selectors.EVENT_READ:
                d = s.recv(4096)
                if not d:
                    assert st[1] == st[0], (st[1], st[0])
                    sel.unregister(s)
                    s.close()
                    del left[s]
                    done += 1
                    continue
                st[1] += d
                if st[1] == st[0]:
                    s.shutdown(socket.SHUT_WR)
    assert not left, "%d connections unfinished" % len(left)
    print("many: %d connections echoed" % done, flush=True)


def echo_until_eof(c):
    try:
        c.settimeout(120)
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass  # the application closed with unread data (a reset): its side checks
    finally:
        c.close()


def churn_conn(c, addr):
    try:
        c.settimeout(30)
        line = b""
        while not line.endswith(b"\n") and len(line) < 100:
            d = c.recv(1)
            if not d:
                c.close()
                return
            line += d
        words = line.decode().split()
        if words == ["echo"]:
            echo_until_eof(c)
        elif len(words) == 2 and words[0] == "dial":
            s = socket.create_connection((addr[0], int(words[1])), timeout=30)
            c.sendall(b"dialed %d\n" % s.getsockname()[1])
            c.close()
            echo_until_eof(s)
        else:
            c.close()
    except OSError:
        c.close()


def churn_server(port):
    ls = listen(port)
    while True:
        c, addr = ls.accept()
        threading.Thread(target=churn_conn, args=(c, addr), daemon=True).start()


def echo_server(port, n):
    ls = listen(port)

    def serve(c):
        c.settimeout(60)
        while True:
            d = c.recv(4096)
            if not d:
                break
            c.sendall(d)
        c.close()

    threads = []
    for _ in range(n):
        c, _ = ls.accept()
        t = threading.Thread(target=serve, args=(c,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    print("echo-server: %d connections" % n, flush=True)


if __name__ == "__main__":
    main()
