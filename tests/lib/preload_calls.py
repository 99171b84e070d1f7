#!/usr/bin/python3
"""preload_calls: an ordinary Python program, run under libsock-preload.so in a network
namespace of its own (nothing but a downed lo), so every IPv4 byte it moves went through the
stack. It walks the calls the shim stands in for that curl and nc do not: select and poll
with timeouts, read/write/readv/writev, sendmsg/recvmsg, timeouts through ioctl(FIONBIO),
ioctl(FIONREAD) and ioctl(TIOCOUTQ),
non-blocking connect, dup and dup2, AF_UNIX passing through, SOCK_RAW refused; epoll over a
stack socket and a kernel one (timeouts, EPOLLOUT only once a connection is made,
EPOLLONESHOT, EEXIST/ENOENT, a closed socket leaving the set); and an asyncio client, which
waits in epoll.

  preload_calls.py PEER UDP_ECHO_PORT TCP_ECHO_PORT    (the TCP echo takes 3 connections)

Prints "ok N" after N checks, or the first failed check and exits 1.
"""
import asyncio
import errno
import fcntl
import os
import select
import socket
import struct
import sys
import tempfile
import termios
import time

PEER, UPORT, TPORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
checks = 0


def ioctl_int(fd, req):
    return struct.unpack("i", fcntl.ioctl(fd, req, b"\0\0\0\0"))[0]


def check(cond, what, count=True):
    global checks
    if not cond:
        print("FAIL: " + what, flush=True)
        sys.exit(1)
    checks += count


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    check(s.getsockname()[1] != 0, "bind to port 0 gave a port")
    t0 = time.monotonic()
    r, w, _ = select.select([s], [s], [], 0.3)
    check(r == [] and w == [s], "select: nothing to read, room to write")
    t0 = time.monotonic()
    r, _, _ = select.select([s], [], [], 0.3)
    took = time.monotonic() - t0
    check(r == [] and took >= 0.25, "select waited its timeout (%.3f s)" % took)

    s.connect((PEER, UPORT))
    fd = s.fileno()
    check(os.write(fd, b"through write()") == 15, "write() on a connected UDP socket")
    r, _, _ = select.select([s], [], [], 5)
    check(r == [s], "select: the echo is readable")
    check(ioctl_int(fd, termios.FIONREAD) == 15, "FIONREAD: the next datagram's 15 bytes")
    check(os.read(fd, 100) == b"through write()", "read() returns the echo")
    check(ioctl_int(fd, termios.FIONREAD) == 0, "FIONREAD: nothing queued")

    check(s.sendmsg([b"part1-", b"part2"]) == 11, "sendmsg of two iovecs")
    p = select.poll()
    p.register(fd, select.POLLIN)
    check(p.poll(5000) == [(fd, select.POLLIN)], "poll: the echo is readable")
    data, _, flags, addr = s.recvmsg(100)
    check(data == b"part1-part2" and addr == (PEER, UPORT), "recvmsg: %r from %r" % (data, addr))

    check(os.writev(fd, [b"ab", b"cdef"]) == 6, "writev")
    a, b = bytearray(2), bytearray(10)
    select.select([s], [], [], 5)
    check(os.readv(fd, [a, b]) == 6 and bytes(a) == b"ab" and bytes(b[:4]) == b"cdef", "readv")

    # settimeout: Python makes the socket non-blocking with ioctl(FIONBIO) and waits in poll.
    s.settimeout(0.3)
    check(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK, "settimeout made it non-blocking")
    t0 = time.monotonic()
    try:
        s.recv(100)
        check(False, "recv with nothing sent timed out")
    except socket.timeout:
        check(time.monotonic() - t0 >= 0.25, "recv waited its timeout")
    s.setblocking(True)
    check(not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK, "blocking again")
    s.setblocking(False)
    try:
        s.recv(100)
        check(False, "a non-blocking recv with nothing queued fails")
    except BlockingIOError:
        check(True, "EAGAIN")

    try:
        os.dup(fd)
        check(False, "dup of a stack socket fails")
    except OSError as e:
        check(e.errno == errno.EINVAL, "dup: EINVAL (%s)" % e)

    # dup2 onto a stack socket closes the socket, as the kernel closes newfd.
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, fd)
    check(os.read(fd, 10) == b"", "dup2 put /dev/null where the socket was")
    os.close(null)
    s.detach()
    os.close(fd)


def tcp():
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setblocking(False)
    rc = c.connect_ex((PEER, TPORT))
    check(rc in (errno.EINPROGRESS, 0), "non-blocking connect: %s" % os.strerror(rc))
    _, w, _ = select.select([], [c], [], 10)
    check(w == [c], "select: the connection is writable once made")
    check(c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0, "SO_ERROR 0")
    check(c.getpeername() == (PEER, TPORT), "getpeername")
    c.setblocking(True)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    blob = os.urandom(1 << 20)
    back = bytearray()
    sent = 0
    c.setblocking(False)
    while len(back) < len(blob):
        want_w = [c] if sent < len(blob) else []
        r, w, _ = select.select([c], want_w, [], 10)
        check(r or w, "the echo kept moving (%d of %d back)" % (len(back), len(blob)), False)
        if w:
            try:
                sent += c.send(blob[sent:sent + 65536])
            except BlockingIOError:
                pass
        if r:
            try:
                chunk = c.recv(65536)
            except BlockingIOError:
                continue
            check(chunk != b"", "no EOF before the echo came back", False)
            back += chunk
    check(bytes(back) == blob, "1 MiB echoed byte for byte")
    # everything sent came back, so the peer has acknowledged it all: nothing left unacked,
    # nothing unread (the echo sends nothing more)
    check(ioctl_int(c.fileno(), termios.TIOCOUTQ) == 0, "TIOCOUTQ: nothing unacknowledged")
    check(ioctl_int(c.fileno(), termios.FIONREAD) == 0, "FIONREAD: nothing unread")
    # TCP_INFO in Linux 6.7's layout, filled up to tcpi_total_rto_recoveries (244 bytes):
    # tcpi_rcv_wnd at 232, tcpi_total_rto and tcpi_total_rto_recoveries at 240 and 242
    ti = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 512)
    check(len(ti) == 244, "TCP_INFO is 244 bytes (%d)" % len(ti))
    check(ti[0] == 1, "TCP_INFO: tcpi_state ESTABLISHED (%d)" % ti[0])
    check(struct.unpack_from("I", ti, 232)[0] > 0, "TCP_INFO: tcpi_rcv_wnd advertised")
    rto, rto_recoveries = struct.unpack_from("HH", ti, 240)
    check(rto_recoveries <= rto, "TCP_INFO: no more RTO recoveries (%d) than RTOs (%d)" %
          (rto_recoveries, rto))
    c.setblocking(True)
    # socket.sendfile: os.sendfile onto the stack socket (the shim reads the file and sends)
    part = os.urandom(100000)
    with tempfile.TemporaryFile() as f:
        f.write(part)
        f.seek(0)
        check(c.sendfile(f) == len(part), "sendfile of 100,000 bytes")
        check(f.tell() == len(part), "sendfile left the file's offset at its end")
    c.settimeout(10)
    back = bytearray()
    while len(back) < len(part):
        chunk = c.recv(65536)
        check(chunk != b"", "no EOF before the sendfile echo came back", False)
        back += chunk
    check(bytes(back) == part, "the sendfile bytes echoed byte for byte")
    c.settimeout(None)
    c.shutdown(socket.SHUT_WR)
    c.settimeout(10)
    check(c.recv(10) == b"", "EOF after our shutdown")
    c.close()


def others():
    a, b = socket.socketpair()
    a.sendall(b"unix")
    check(b.recv(10) == b"unix", "AF_UNIX passes through to the kernel")
    a.close()
    b.close()
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        check(False, "SOCK_RAW is not given a kernel socket")
    except OSError as e:
        check(e.errno == errno.ESOCKTNOSUPPORT, "SOCK_RAW: ESOCKTNOSUPPORT (%s)" % e)


async def tcp_asyncio():
    r, w = await asyncio.open_connection(PEER, TPORT)
    blob = os.urandom(300000)
    w.write(blob)
    await w.drain()
    got = await asyncio.wait_for(r.readexactly(len(blob)), 20)
    check(got == blob, "asyncio (epoll): 300,000 bytes echoed byte for byte")
    w.write_eof()
    check(await asyncio.wait_for(r.read(10), 10) == b"", "asyncio: EOF after write_eof")
    w.close()
    await w.wait_closed()


def epoll():
    ep = select.epoll()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect((PEER, UPORT))
    a, b = socket.socketpair()
    ep.register(u.fileno(), select.EPOLLIN)
    ep.register(a.fileno(), select.EPOLLIN)
    t0 = time.monotonic()
    ev = ep.poll(0.3)
    took = time.monotonic() - t0
    check(ev == [] and took >= 0.25, "epoll waited its timeout (%r after %.3f s)" % (ev, took))
    b.send(b"k")
    check(ep.poll(5) == [(a.fileno(), select.EPOLLIN)], "epoll: a kernel socket's event")
    a.recv(10)
    u.send(b"epoll")
    check(ep.poll(5) == [(u.fileno(), select.EPOLLIN)], "epoll: the stack socket's echo")
    check(u.recv(100) == b"epoll", "the echo read")
    check(ep.poll(0) == [], "nothing left to report")
    ep.modify(u.fileno(), select.EPOLLIN | select.EPOLLOUT)
    check(ep.poll(1) == [(u.fileno(), select.EPOLLOUT)], "epoll: room to send, nothing to read")
    ep.modify(u.fileno(), select.EPOLLIN | select.EPOLLONESHOT)
    u.send(b"once")
    check(ep.poll(5) == [(u.fileno(), select.EPOLLIN)], "EPOLLONESHOT: reported once")
    check(ep.poll(0.2) == [], "EPOLLONESHOT: then disabled, though still readable")
    ep.modify(u.fileno(), select.EPOLLIN)
    check(ep.poll(1) == [(u.fileno(), select.EPOLLIN)], "EPOLL_CTL_MOD re-arms it")
    check(u.recv(100) == b"once", "the echo read")
    try:
        ep.register(u.fileno(), select.EPOLLIN)
        check(False, "registering twice fails")
    except FileExistsError:
        check(True, "EEXIST")
    ep.unregister(u.fileno())
    try:
        ep.unregister(u.fileno())
        check(False, "unregistering twice fails")
    except FileNotFoundError:
        check(True, "ENOENT")
    ep.register(u.fileno(), select.EPOLLIN | select.EPOLLOUT)
    u.close()  # leaves the set, as a closed file leaves the kernel's
    check(ep.poll(0.1) == [], "a closed stack socket left the set")
    a.close()
    b.close()

    # EPOLLOUT of a connecting stream socket: only once the connection is made.
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setblocking(False)
    rc = c.connect_ex((PEER, TPORT))
    check(rc in (errno.EINPROGRESS, 0), "non-blocking connect: %s" % os.strerror(rc))
    ep.register(c.fileno(), select.EPOLLOUT)
    ev = ep.poll(10)
    check(ev == [(c.fileno(), select.EPOLLOUT)], "epoll: writable once connected (%r)" % ev)
    check(c.getpeername() == (PEER, TPORT), "connected when epoll said writable")
    check(c.send(b"epoll stream") == 12, "send after EPOLLOUT")
    ep.modify(c.fileno(), select.EPOLLIN)
    got = b""
    while len(got) < 12:
        check(ep.poll(5) == [(c.fileno(), select.EPOLLIN)], "epoll: the stream's echo", False)
        got += c.recv(100)
    check(got == b"epoll stream", "the stream's echo")
    c.shutdown(socket.SHUT_WR)
    ev = ep.poll(5)
    # the peer's FIN after ours: readable, and hung up both ways (Linux says EPOLLHUP too)
    check(len(ev) == 1 and ev[0][0] == c.fileno() and ev[0][1] & select.EPOLLIN,
          "epoll: the end of the stream (%r)" % ev)
    check(c.recv(10) == b"", "EOF")
    c.close()
    ep.close()


udp()
tcp()
asyncio.run(tcp_asyncio())
epoll()
others()
print("ok %d" % checks, flush=True)
