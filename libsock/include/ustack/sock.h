/* ustack/sock.h: BSD sockets served by a ustack instance instead of the kernel.
 *
 * Every call mirrors its POSIX namesake with an `us_` prefix: same arguments, same return value
 * (-1 with errno set on failure), and the errno Linux would give for the same mistake, in the
 * same state. A socket is an ordinary file descriptor (an eventfd that the stack signals when
 * the socket has something to read, or changed), so poll(), select() and epoll report read
 * readiness on it natively; us_poll() also reports write readiness, hang-ups and pending errors
 * exactly. Read and write the data only through us_recv*() and us_send*(): read(), write() and
 * close() of the kernel do not know the socket. (A program that cannot be changed runs with
 * libsock-preload.so in LD_PRELOAD instead, which makes the plain calls these: README.)
 *
 * Which stack: $USTACK_INSTANCE names the instance, or us_set_instance() before the first
 * us_socket(). The first us_socket() of each type connects to the instance's server for it
 * (udpd for SOCK_DGRAM, tcpd for SOCK_STREAM); if that server is down or unreachable for about
 * 5 s it fails with ENETDOWN (and a later us_socket() tries again).
 *
 * Supported: AF_INET with SOCK_DGRAM (UDP) and SOCK_STREAM (TCP), with SOCK_NONBLOCK and
 * SOCK_CLOEXEC. Other families fail with EAFNOSUPPORT, other types with ESOCKTNOSUPPORT, other
 * protocols with EPROTONOSUPPORT. At most 64 sockets of each type per process (EMFILE beyond);
 * a closed TCP socket keeps its place until the stack has sent what was queued on it (as
 * Linux's orphaned sockets), and us_accept() needs a free place too. A descriptor that is not a
 * stack socket gives EBADF, except in us_close(), us_fcntl() and us_poll(), which hand ordinary
 * descriptors to the kernel.
 *
 * UDP: routes are the stack's (its config, plus a loopback interface for 127.0.0.0/8 and its own
 * address), judged at the call as Linux does: ENETUNREACH, EACCES for a broadcast without
 * SO_BROADCAST. Options: SO_REUSEADDR, SO_REUSEPORT, SO_BROADCAST, SO_RCVBUF, SO_SNDBUF,
 * SO_RCVTIMEO, SO_SNDTIMEO, SO_KEEPALIVE, SO_PRIORITY, SO_RCVLOWAT, SO_LINGER, SO_DONTROUTE,
 * SO_TIMESTAMP(NS), SO_ERROR and the read-only ones; IP_TTL, IP_TOS, IP_MULTICAST_TTL,
 * IP_MULTICAST_LOOP, IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVERR (MSG_ERRQUEUE),
 * IP_MTU_DISCOVER, IP_MTU; UDP_CORK. us_recvmsg() returns their control messages.
 *
 * TCP: us_connect() blocks until the connection is made or fails (SO_SNDTIMEO: EINPROGRESS),
 * or returns EINPROGRESS on a non-blocking socket (then us_poll() for POLLOUT and SO_ERROR);
 * us_send*() copy into the socket's send buffer (SO_SNDBUF), partially when it fills on a
 * non-blocking socket, and raise SIGPIPE with EPIPE after the connection can no longer send
 * unless MSG_NOSIGNAL; MSG_MORE and TCP_CORK cork, MSG_OOB marks the last byte urgent. us_recv*()
 * support MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT, MSG_TRUNC (discard) and SO_RCVTIMEO, and return 0
 * at the end of the stream. us_listen(), us_accept(), us_accept4() (SOCK_NONBLOCK,
 * SOCK_CLOEXEC), us_shutdown(), SO_LINGER (us_close() waits up to the linger time for the
 * stack to have sent everything), the TCP options (TCP_NODELAY, TCP_MAXSEG, TCP_CORK,
 * TCP_KEEP*, TCP_SYNCNT, TCP_USER_TIMEOUT, TCP_CONGESTION, TCP_QUICKACK, TCP_INFO) are the
 * stack's. Received urgent data stays in the stream (as with SO_OOBINLINE: recv(MSG_OOB) says
 * EINVAL); MSG_FASTOPEN is refused (EOPNOTSUPP).
 *
 * What still differs from Linux, and why, is listed in the README ("libsock and Linux, call by
 * call").
 *
 * Thread safety: every call may be made from any thread. Calls on different sockets run in
 * parallel; two threads receiving (or sending, on a TCP socket) on the same socket take turns.
 * Unlike the kernel's send and recv, the calls are not async-signal-safe (they take locks): do
 * not call them from a signal handler. After fork(), only the parent keeps using the sockets it
 * opened.
 *
 * Sending UDP: SO_SNDBUF is enforced as Linux does for UDP: a datagram counts against it (with
 * Linux's per-datagram overhead) until the stack has handed it on; a blocking send waits for
 * room (up to SO_SNDTIMEO, then EAGAIN), a non-blocking one fails with EAGAIN, and us_poll()
 * reports POLLOUT while less than half of it is in use. The stack takes datagrams only as fast
 * as it can pass them on, so a blocking sender is slowed down, not silently dropped from.
 *
 * Errors particular to ustack (beyond what the same call on Linux can return):
 *   ENETDOWN      the stack's transport server could not be reached for ~5 s;
 *   ETIMEDOUT     it was reached but did not answer a request for ~5 s;
 *   ECONNABORTED  the server restarted and lost this socket's state (as after `ss -K` on
 *                 Linux): the socket is dead, close it and open a new one.
 */
#ifndef USTACK_SOCK_H
#define USTACK_SOCK_H

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(US_API)
#define US_API __attribute__((visibility("default")))
#elif !defined(US_API)
#define US_API
#endif

/* Name the instance ("demo"; 1..32 of [A-Za-z0-9_-]) before the first us_socket(); overrides
 * $USTACK_INSTANCE. 0, or -1 with EINVAL (bad name) or EBUSY (sockets already open). */
US_API int us_set_instance(const char *instance);

US_API int us_socket(int domain, int type, int protocol);
US_API int us_bind(int fd, const struct sockaddr *addr, socklen_t addrlen);
US_API int us_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
US_API int us_close(int fd);
US_API int us_listen(int fd, int backlog);
US_API int us_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
US_API int us_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
US_API int us_shutdown(int fd, int how);

US_API ssize_t us_send(int fd, const void *buf, size_t len, int flags);
US_API ssize_t us_sendto(int fd, const void *buf, size_t len, int flags,
			 const struct sockaddr *dest, socklen_t destlen);
US_API ssize_t us_sendmsg(int fd, const struct msghdr *msg, int flags);

US_API ssize_t us_recv(int fd, void *buf, size_t len, int flags);
US_API ssize_t us_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src,
			   socklen_t *srclen);
US_API ssize_t us_recvmsg(int fd, struct msghdr *msg, int flags);

US_API int us_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen);
US_API int us_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen);
US_API int us_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen);
US_API int us_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen);

/* F_GETFL / F_SETFL (O_NONBLOCK) on stack sockets, F_GETFD / F_SETFD on their descriptor;
 * any command on an ordinary descriptor goes to fcntl(2). F_DUPFD* of a stack socket: EINVAL
 * (a socket has one descriptor). */
US_API int us_fcntl(int fd, int cmd, ...);

/* ioctl(2) on a stack socket, as Linux's sock_ioctl answers these (the argument points to an
 * int):
 *   FIONBIO               sets or clears O_NONBLOCK;
 *   FIONREAD (SIOCINQ)    UDP: the payload length of the next datagram, 0 if none; TCP: the
 *                         bytes a read may take now (up to the peer's FIN), 0 while the
 *                         connection is being set up, EINVAL on a listener;
 *   TIOCOUTQ (SIOCOUTQ)   UDP: the send buffer's charge in use (datagrams udpd has not sent
 *                         yet, counted as the send-buffer limit counts them); TCP: the bytes
 *                         written and not yet acknowledged, 0 while the connection is being
 *                         set up, EINVAL on a listener.
 * Any other request on a stack socket: ENOTTY. On an ordinary descriptor: ioctl(2). */
US_API int us_ioctl(int fd, unsigned long request, ...);

/* poll(2) over any mix of stack sockets and ordinary descriptors. For a UDP socket POLLIN
 * means a datagram (or a pending error) is waiting, POLLOUT that less than half of its send
 * buffer is in use (a send would not wait), POLLERR that an error is pending. A TCP socket
 * reports what Linux's tcp_poll does: POLLIN for data, the end of the stream or a queued
 * connection (listener), POLLOUT while its send buffer is at most two-thirds full, POLLRDHUP
 * once the peer has shut down, POLLHUP when both directions are closed or the connection is
 * over (a fresh socket too, as on Linux), POLLERR for a pending error. Both report POLLHUP and
 * POLLRDHUP after us_shutdown() as Linux does. */
US_API int us_poll(struct pollfd *fds, nfds_t nfds, int timeout);

#ifdef __cplusplus
}
#endif

#endif
