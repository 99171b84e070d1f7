/* ustack/sock.h: BSD sockets served by a ustack instance instead of the kernel.
 *
 * Every call mirrors its POSIX namesake with an `us_` prefix: same arguments, same return value
 * (-1 with errno set on failure), and the errno Linux would give for the same mistake. A socket
 * is an ordinary file descriptor (an eventfd that the stack signals when data arrives), so
 * poll(), select() and epoll report read readiness on it natively; us_poll() also reports write
 * readiness and pending errors exactly. Read and write the data only through us_recv*() and
 * us_send*(): read(), write() and close() of the kernel do not know the socket.
 *
 * Which stack: $USTACK_INSTANCE names the instance, or us_set_instance() before the first
 * us_socket(). The first us_socket() of the process connects to the instance's transport server;
 * if the stack is down or unreachable for about 5 s it fails with ENETDOWN.
 *
 * Supported today: AF_INET, SOCK_DGRAM (UDP), with SOCK_NONBLOCK and SOCK_CLOEXEC. Other
 * families fail with EAFNOSUPPORT, other types with ESOCKTNOSUPPORT, other protocols with
 * EPROTONOSUPPORT. A descriptor that is not a stack socket gives EBADF, except in us_close(),
 * us_fcntl() and us_poll(), which hand ordinary descriptors to the kernel.
 *
 * Routes are the stack's (its config, plus a loopback interface for 127.0.0.0/8 and its own
 * address), judged at the call as Linux does: ENETUNREACH, EACCES for a broadcast without
 * SO_BROADCAST. Options: SO_REUSEADDR, SO_REUSEPORT, SO_BROADCAST, SO_RCVBUF, SO_SNDBUF,
 * SO_RCVTIMEO, SO_SNDTIMEO, SO_KEEPALIVE, SO_PRIORITY, SO_RCVLOWAT, SO_LINGER, SO_DONTROUTE,
 * SO_TIMESTAMP(NS), SO_ERROR and the read-only ones; IP_TTL, IP_TOS, IP_MULTICAST_TTL,
 * IP_MULTICAST_LOOP, IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVERR (MSG_ERRQUEUE),
 * IP_MTU_DISCOVER, IP_MTU; UDP_CORK. us_recvmsg() returns their control messages. What still
 * differs from Linux, and why, is listed in the README ("libsock and Linux, call by call").
 *
 * Thread safety: every call may be made from any thread. Calls on different sockets run in
 * parallel; two threads receiving on the same socket take turns. Unlike the kernel's send and
 * recv, the calls are not async-signal-safe (they take locks): do not call them from a signal
 * handler. After fork(), only the parent keeps using the sockets it opened.
 *
 * Sending: SO_SNDBUF is enforced as Linux does for UDP: a datagram counts against it (with
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

/* poll(2) over any mix of stack sockets and ordinary descriptors. For a stack socket POLLIN
 * means a datagram (or a pending error) is waiting, POLLOUT that less than half of its send
 * buffer is in use (a send would not wait), POLLERR that an error is pending. */
US_API int us_poll(struct pollfd *fds, nfds_t nfds, int timeout);

#ifdef __cplusplus
}
#endif

#endif
