/* libsock: BSD sockets served by a ustack instance; this file holds the design, and the
 * socket, bind, connect, close, name, option, fcntl, listen, accept and shutdown calls (the
 * argument checks and the split by type; stream sockets' own logic is in sock_stream*.c).
 *
 * The contract with the servers is proto/sock.proto (requests), common/session.h (the region
 * handover) and common/region.h + ring.h / stream_ring.h (the data). What libsock is, in
 * Linux's terms: the socket layer (sock_sendmsg -> proto_ops) of the process, with udpd as its
 * udp_prot and tcpd as its tcp_prot. Each socket type has its own transport (sock_priv.h): its
 * server, session, region kind and request channel, set up on the type's first socket, so the
 * two never wait on each other.
 *
 * Instance. $USTACK_INSTANCE, or us_set_instance(name) (tools with --instance) before the first
 * socket. No name, or an invalid one: us_socket fails with EINVAL.
 *
 * Lazy process-wide set-up, on the first us_socket of a type (sock_session.c): the region (a
 * sealed memfd, 64 slots; for datagrams one TX ring shared by all sockets and one RX ring per
 * slot, for streams a TX and an RX byte ring per slot), a doorbell eventfd and one eventfd per
 * slot (EFD_NONBLOCK | EFD_CLOEXEC), a DEALER to <runtime dir>/<layer>.sock on the shared ZeroMQ
 * context, the watcher thread (once), then session_client_open(SESSION_NEW) handing the server
 * the region and the eventfds. A library does this at first use rather than in a
 * constructor, so a program that never opens a socket pays nothing and a stack that is down
 * surfaces as an errno of the call that needed it.
 *
 * A socket IS a region slot, and the descriptor the application sees IS that slot's eventfd
 * (a dup of our master copy, which the server also holds): poll/select/epoll report read
 * readiness natively, and a socket needs no kernel object besides. The fd table (sock_table.c)
 * maps descriptor -> slot, the server's sid and the socket's local state: O_NONBLOCK, bound,
 * connected + peer, its source address as the server has it, SO_BROADCAST, IP_MTU_DISCOVER and
 * IP_RECVERR as set (what a send is judged by at the call), SO_RCVTIMEO/SO_SNDTIMEO, a pending
 * error found by us_poll; for a stream socket also the socket layer's state (Linux's struct
 * socket: SS_*, listening, our shutdowns, SO_LINGER). At most 64 sockets of each type per
 * process (EMFILE beyond), like a small RLIMIT_NOFILE. Native poll reports POLLOUT always (an eventfd is always writable); us_poll
 * tells the truth (the socket's send buffer, sock_data.c).
 *
 * Control calls (bind, connect, close, options, names) are SockRequests with monotonically
 * increasing ids, answered by a status that is 0 or a Linux errno (sock_req.c). Data never goes
 * through requests: send* produces TX records, recv* consumes RX records (sock_data.c); on a
 * stream, bytes in and out of its byte rings (sock_stream_data.c).
 *
 * Threads. Any call from any thread. Locks (sock_priv.h): tab_lock for the fd table (held for a
 * few loads and stores), req_lock for the request channel and the session (a DEALER is not
 * thread-safe; one request at a time is plenty for control traffic), tx_lock for the TX ring
 * (one producer side shared by all sockets), and per socket an rx_lock: each RX ring is
 * consumed only by calls on its own socket, and two threads receiving on ONE socket take turns
 * on it (it is never held while waiting, so MSG_DONTWAIT never waits behind a blocking recv).
 * The table and the request channel have separate locks, not one: a request can take seconds
 * while the server restarts, and sends and receives on other sockets must not stall behind it.
 *
 * Restart (docs/ARCHITECTURE.md, restart contract). A request without a reply within ~300 ms, a
 * session connection that hung up, or a reply flagged `detached` (session not resumed yet; a
 * flag, since its -ENOTCONN is also a real answer) makes us resume:
 * session_client_open(SESSION_RESUME) with the same region, doorbell and slot eventfds, session
 * id and secret, then re-send the SAME request id (the server answers a repeated id from its
 * record, so nothing happens twice). The watcher thread resumes as soon as the connection hangs
 * up, so applications that only wait on their descriptors keep working. Data in the rings
 * survives (the memory is the application's). We give up after ~5 s with ENETDOWN (no server to
 * talk to) or ETIMEDOUT (connected, but no answer): EIO would be the lazy errno, but Linux never
 * returns it from socket calls. Only a server that has really lost our session (its state was
 * recreated) costs the sockets: they fail with ECONNABORTED, the errno Linux gives a socket
 * destroyed under its owner (`ss -K`).
 *
 * Errors are Linux's, for the same mistakes, in the same order where it matters (a descriptor
 * first, then lengths and pointers, then families, then state). Checks are made before any
 * server contact, so a bad argument costs no round trip. Bad pointers: NULL is EFAULT; other
 * invalid pointers fault in memcpy as they would in libc (a library cannot probe memory). A
 * descriptor that is not a stack socket is EBADF (Linux says ENOTSOCK for a non-socket; here the
 * descriptor is simply not one of ours), except for us_close, us_fcntl and us_poll, which pass
 * ordinary descriptors to the kernel. Close stack sockets with us_close: close(2) releases the
 * descriptor but leaves the socket open in the stack until the process exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "paths.h"
#include "sock_priv.h"
#include "sockopt.h"
#include "ustack/sock.h"

#define SOCK_TYPE_MASK 0xf
#define SOCK_TYPE_LIMIT 11 /* Linux SOCK_MAX: types at or above are EINVAL */
#define SOCK_ADDR_MAX ((socklen_t)sizeof(struct sockaddr_storage))
/* SO_RCVTIMEO / SO_SNDTIMEO: the 64-bit-time option numbers (asm-generic/socket.h) have the
 * same struct timeval layout on 64-bit targets; accept both. */
#define SOCK_SO_RCVTIMEO_NEW 66
#define SOCK_SO_SNDTIMEO_NEW 67

static int sock_fail(int neg_errno)
{
	errno = -neg_errno;
	return -1;
}

/* Under tab_lock: the entry of ref if it is still that socket. */
#define SOCK_ENTRY_UPDATE(ref, stmt)                                \
	do {                                                        \
		sock_tab_lock();                                    \
		struct sock_entry *e_ = sock_table_entry_locked(ref); \
		if (e_) {                                           \
			stmt;                                       \
		}                                                   \
		sock_tab_unlock();                                  \
	} while (0)

US_API int us_set_instance(const char *instance)
{
	if (!ustack_instance_valid(instance))
		return sock_fail(-EINVAL);
	int rc = 0;
	pthread_mutex_lock(&sock_lib.setup_lock);
	if (sock_lib.ready && strcmp(sock_lib.instance, instance) != 0) {
		rc = -EBUSY;
	} else {
		strcpy(sock_lib.instance, instance);
		sock_lib.instance_set = true;
	}
	pthread_mutex_unlock(&sock_lib.setup_lock);
	return rc < 0 ? sock_fail(rc) : 0;
}

/* Sockets the application closed while the server could not confirm: try again now, so their
 * slots come back. Stream slots the server has released since are freed too. */
static void sock_close_pending(unsigned tp)
{
	unsigned slots[SOCK_SLOTS];
	uint32_t sids[SOCK_SLOTS];
	int n = sock_table_closing(tp, slots, sids);
	for (int i = 0; i < n; i++) {
		Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
		req.op = USTACK__SOCK_REQUEST__OP__CLOSE;
		req.sid = sids[i];
		req.slot = slots[i];
		struct sock_reply rep;
		int rc = sock_req_call(tp, &req, &rep);
		bool done = rc == 0 && (rep.status == 0 || rep.status == -EBADF);
		if (rc == -ECONNABORTED || (done && tp == SOCK_TP_UDP))
			sock_table_free(tp, slots[i]);
		else if (done)
			sock_table_close_acked(tp, slots[i]); /* freed once released */
	}
	if (tp == SOCK_TP_TCP)
		sock_stream_reap();
}

/* Linux's checks of socket(2), in its order (__sys_socket, __sock_create, inet_create); *tp is
 * the transport that serves the type. */
static int sock_check_socket_args(int domain, int type, int protocol, unsigned *tp)
{
	if ((type & ~SOCK_TYPE_MASK) & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	if (domain < 0 || domain >= AF_MAX)
		return -EAFNOSUPPORT;
	if ((type & SOCK_TYPE_MASK) >= SOCK_TYPE_LIMIT)
		return -EINVAL;
	if (domain != AF_INET)
		return -EAFNOSUPPORT;
	if (protocol < 0 || protocol >= IPPROTO_MAX)
		return -EINVAL;
	switch (type & SOCK_TYPE_MASK) {
	case SOCK_DGRAM:
		*tp = SOCK_TP_UDP;
		return protocol != 0 && protocol != IPPROTO_UDP ? -EPROTONOSUPPORT : 0;
	case SOCK_STREAM:
		*tp = SOCK_TP_TCP;
		return protocol != 0 && protocol != IPPROTO_TCP ? -EPROTONOSUPPORT : 0;
	default:
		return -ESOCKTNOSUPPORT; /* raw and the rest: not here */
	}
}

/* A free slot's leftovers from its previous socket are not the new one's. */
static void sock_reset_slot(unsigned tp, unsigned slot)
{
	pthread_mutex_lock(&sock_ent(tp, slot)->rx_lock);
	if (tp == SOCK_TP_UDP)
		sock_data_reset_slot(slot); /* udpd stopped producing when it confirmed CLOSE */
	else
		sock_stream_reset_slot(slot); /* tcpd stopped when it released the slot */
	pthread_mutex_unlock(&sock_ent(tp, slot)->rx_lock);
}

/* Reserve a slot of tp (after reaping closed ones if none is free) and open the server's
 * socket in it with req (SOCKET or ACCEPT; its slot is set here). The slot (still OPENING) and
 * the reply; or negative errno with nothing reserved. -EBUSY from the server (it holds a
 * socket there we never learnt of) sets that slot aside and tries another. */
int sock_open_slot(unsigned tp, Ustack__SockRequest *req, struct sock_reply *rep)
{
	for (int attempt = 0;; attempt++) {
		int slot = sock_table_reserve(tp);
		if (slot < 0) {
			sock_close_pending(tp);
			slot = sock_table_reserve(tp);
			if (slot < 0)
				return slot;
		}
		sock_reset_slot(tp, (unsigned)slot);
		req->slot = (uint32_t)slot;
		int rc = sock_req_call(tp, req, rep);
		if (rc == 0)
			rc = rep->status;
		if (rc == -EBUSY && attempt < 2) {
			/* An earlier SOCKET whose reply was lost (its outcome unknown after the
			 * bound), or a stream slot still held by an orphan we did not see. */
			sock_table_stuck(tp, (unsigned)slot);
			continue;
		}
		if (rc < 0) {
			sock_table_unreserve(tp, (unsigned)slot);
			return rc == -EBUSY ? -EMFILE : rc;
		}
		return slot;
	}
}

/* The server's new socket in an OPENING slot becomes the application's descriptor (a dup of
 * the slot's eventfd). fd, or negative errno after closing the server's socket again. */
int sock_open_fd(unsigned tp, unsigned slot, uint32_t sid, int type_flags)
{
	int fd = fcntl(sock_tport(tp)->slot_fd[slot],
		       (type_flags & SOCK_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
	if (fd >= 0) {
		sock_table_open(tp, slot, fd, sid, (type_flags & SOCK_NONBLOCK) != 0);
		return fd;
	}
	int err = errno;
	Ustack__SockRequest cl = USTACK__SOCK_REQUEST__INIT;
	cl.op = USTACK__SOCK_REQUEST__OP__CLOSE;
	cl.sid = sid;
	cl.slot = slot;
	struct sock_reply rep;
	int rc = sock_req_call(tp, &cl, &rep);
	bool done = rc == 0 && (rep.status == 0 || rep.status == -EBADF);
	if (tp == SOCK_TP_UDP && done) {
		sock_table_unreserve(tp, slot);
	} else {
		/* Not confirmed (retried when slots run short), or a stream slot that waits for
		 * its release: the slot is CLOSING. */
		sock_table_open(tp, slot, -1, sid, false);
		sock_tab_lock();
		sock_ent(tp, slot)->state = SOCK_ST_CLOSING;
		sock_ent(tp, slot)->close_acked = tp == SOCK_TP_TCP && done;
		sock_tab_unlock();
	}
	return -err;
}

US_API int us_socket(int domain, int type, int protocol)
{
	unsigned tp = SOCK_TP_UDP;
	int rc = sock_check_socket_args(domain, type, protocol, &tp);
	if (rc < 0)
		return sock_fail(rc);
	rc = sock_session_ensure(tp);
	if (rc < 0)
		return sock_fail(rc);
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__SOCKET;
	/* udpd has never been told a type (0 means a datagram socket to it) */
	req.type = tp == SOCK_TP_TCP ? SOCK_STREAM : 0;
	struct sock_reply rep;
	int slot = sock_open_slot(tp, &req, &rep);
	if (slot < 0)
		return sock_fail(slot);
	int fd = sock_open_fd(tp, (unsigned)slot, rep.sid, type);
	return fd < 0 ? sock_fail(fd) : fd;
}

/* Copy a caller's sockaddr_in after Linux's length and pointer checks (move_addr_to_kernel,
 * then the protocol's own `addr_len < sizeof(struct sockaddr_in)`). */
static int sock_get_sin(const struct sockaddr *addr, socklen_t len, struct sockaddr_in *sin)
{
	if (len > SOCK_ADDR_MAX || len == 0)
		return -EINVAL;
	if (!addr)
		return -EFAULT;
	if (len < sizeof(*sin))
		return -EINVAL;
	memcpy(sin, addr, sizeof(*sin));
	return 0;
}

US_API int us_bind(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return sock_fail(-EBADF);
	struct sockaddr_in sin;
	int rc = sock_get_sin(addr, addrlen, &sin);
	if (rc < 0)
		return sock_fail(rc);
	/* inet_bind: AF_UNSPEC is accepted for INADDR_ANY only (old binaries). */
	if (sin.sin_family != AF_INET &&
	    !(sin.sin_family == AF_UNSPEC && sin.sin_addr.s_addr == htonl(INADDR_ANY)))
		return sock_fail(-EAFNOSUPPORT);
	if (ref.lost)
		return sock_fail(-ECONNABORTED);
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__BIND;
	req.addr = sin.sin_addr.s_addr;
	req.port = ntohs(sin.sin_port);
	struct sock_reply rep;
	rc = sock_req_sock(&ref, &req, &rep);
	if (rc < 0)
		return sock_fail(rc);
	SOCK_ENTRY_UPDATE(&ref, e_->bound = true; e_->saddr = rep.addr);
	return 0;
}

US_API int us_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return sock_fail(-EBADF);
	/* move_addr_to_kernel, then inet_*_connect: the family must be there to be read;
	 * AF_UNSPEC disconnects. */
	if (addrlen > SOCK_ADDR_MAX || addrlen < sizeof(sa_family_t))
		return sock_fail(-EINVAL);
	if (!addr)
		return sock_fail(-EFAULT);
	if (ref.tp == SOCK_TP_TCP) {
		int rc = sock_stream_connect(&ref, addr, addrlen);
		return rc < 0 ? sock_fail(rc) : 0;
	}
	sa_family_t family;
	memcpy(&family, &addr->sa_family, sizeof(family));
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	struct sock_reply rep;
	if (family == AF_UNSPEC) {
		if (ref.lost)
			return sock_fail(-ECONNABORTED);
		req.op = USTACK__SOCK_REQUEST__OP__DISCONNECT;
		int rc = sock_req_sock(&ref, &req, &rep);
		if (rc < 0)
			return sock_fail(rc);
		SOCK_ENTRY_UPDATE(&ref, e_->connected = false; e_->saddr = rep.addr;
				  memset(&e_->peer, 0, sizeof(e_->peer)));
		return 0;
	}
	struct sockaddr_in sin;
	if (addrlen < sizeof(sin))
		return sock_fail(-EINVAL);
	memcpy(&sin, addr, sizeof(sin));
	if (sin.sin_family != AF_INET)
		return sock_fail(-EAFNOSUPPORT);
	if (ref.lost)
		return sock_fail(-ECONNABORTED);
	/* The route (ENETUNREACH, EINVAL, EACCES) is the server's to judge: it autobinds first,
	 * as Linux's inet_dgram_connect, so even a failed connect leaves a port behind. */
	req.op = USTACK__SOCK_REQUEST__OP__CONNECT;
	req.addr = sin.sin_addr.s_addr;
	req.port = ntohs(sin.sin_port);
	int rc = sock_req_sock(&ref, &req, &rep);
	if (rc < 0) {
		/* The server answered (an errno of the route): it autobound the socket first. */
		if (rc != -ETIMEDOUT && rc != -ENETDOWN && rc != -ECONNABORTED && rc != -EAGAIN)
			SOCK_ENTRY_UPDATE(&ref, e_->bound = true);
		return sock_fail(rc);
	}
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = sin.sin_port};
	peer.sin_addr = sin.sin_addr;
	/* 0.0.0.0 means this host: the server connected to where the route said (route_output
	 * turns it into the socket's source, which the reply carries). */
	if (peer.sin_addr.s_addr == 0)
		peer.sin_addr.s_addr = rep.addr ? rep.addr : htonl(INADDR_LOOPBACK);
	SOCK_ENTRY_UPDATE(&ref, e_->connected = true; e_->bound = true; e_->peer = peer;
			  e_->saddr = rep.addr);
	return 0;
}

US_API int us_close(int fd)
{
	struct sock_ref ref;
	if (sock_table_begin_close(fd, &ref) < 0)
		return close(fd); /* an ordinary descriptor: the kernel's */
	/* The descriptor goes at once, as close(2) promises, whatever the server says. */
	close(fd);
	if (ref.lost) {
		sock_table_free(ref.tp, ref.slot);
		return 0;
	}
	if (ref.tp == SOCK_TP_TCP) {
		sock_stream_close(&ref);
		return 0; /* Linux's close of a TCP socket reports nothing either */
	}
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__CLOSE;
	struct sock_reply rep;
	int rc = sock_req_sock(&ref, &req, &rep);
	/* -EBADF: the server has no such socket (already closed by a re-sent CLOSE whose first
	 * reply we missed): the slot is free either way. Unconfirmed (server away): the slot stays
	 * CLOSING and is retried when slots run short; the call still succeeds, as close(2) on a
	 * UDP socket does. */
	if (rc == 0 || rc == -EBADF || rc == -ECONNABORTED)
		sock_table_free(ref.tp, ref.slot);
	return 0;
}

/* Copy an address out as Linux's move_addr_to_user: truncated to *len, *len set to the full
 * size. */
static int sock_put_sin(const struct sockaddr_in *sin, struct sockaddr *addr, socklen_t *len)
{
	if ((int)*len < 0)
		return -EINVAL;
	socklen_t n = *len < sizeof(*sin) ? *len : (socklen_t)sizeof(*sin);
	if (n && !addr)
		return -EFAULT;
	if (n)
		memcpy(addr, sin, n);
	*len = sizeof(*sin);
	return 0;
}

US_API int us_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return sock_fail(-EBADF);
	if (!addrlen)
		return sock_fail(-EFAULT);
	if ((int)*addrlen < 0)
		return sock_fail(-EINVAL);
	if (ref.lost)
		return sock_fail(-ECONNABORTED);
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__GETSOCKNAME;
	struct sock_reply rep;
	int rc = sock_req_sock(&ref, &req, &rep);
	if (rc < 0)
		return sock_fail(rc);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(rep.port)};
	sin.sin_addr.s_addr = rep.addr;
	rc = sock_put_sin(&sin, addr, addrlen);
	return rc < 0 ? sock_fail(rc) : 0;
}

US_API int us_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return sock_fail(-EBADF);
	if (!addrlen)
		return sock_fail(-EFAULT);
	if ((int)*addrlen < 0)
		return sock_fail(-EINVAL);
	int rc;
	if (ref.tp == SOCK_TP_TCP) {
		/* The connection's state decides (no peer in SYN-SENT or after a reset): ask. */
		if (ref.lost)
			return sock_fail(-ECONNABORTED);
		Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
		req.op = USTACK__SOCK_REQUEST__OP__GETPEERNAME;
		struct sock_reply rep;
		rc = sock_req_sock(&ref, &req, &rep);
		if (rc < 0)
			return sock_fail(rc);
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(rep.port)};
		sin.sin_addr.s_addr = rep.addr;
		rc = sock_put_sin(&sin, addr, addrlen);
		return rc < 0 ? sock_fail(rc) : 0;
	}
	/* Only our own connect() changes a datagram socket's peer, so the table knows it: no
	 * round trip. A peer without a port names none (inet_getname). */
	if (!ref.connected || ref.peer.sin_port == 0)
		return sock_fail(-ENOTCONN);
	rc = sock_put_sin(&ref.peer, addr, addrlen);
	return rc < 0 ? sock_fail(rc) : 0;
}

static bool sock_is_timeo(int level, int optname, bool *rcv)
{
	if (level != SOL_SOCKET)
		return false;
	*rcv = optname == SO_RCVTIMEO || optname == SOCK_SO_RCVTIMEO_NEW;
	return *rcv || optname == SO_SNDTIMEO || optname == SOCK_SO_SNDTIMEO_NEW;
}

/* Linux sock_set_timeout: usec out of range EDOM; negative seconds mean "do not wait" (with a
 * warning there); 0 means forever. Rounded up to whole milliseconds (Linux: jiffies). */
static int sock_timeo_from_tv(const struct timeval *tv, int *ms)
{
	if (tv->tv_usec < 0 || tv->tv_usec >= 1000000)
		return -EDOM;
	if (tv->tv_sec < 0) {
		*ms = 0;
		return 0;
	}
	if (tv->tv_sec == 0 && tv->tv_usec == 0) {
		*ms = -1;
		return 0;
	}
	uint64_t v = (uint64_t)tv->tv_sec * 1000u + ((uint64_t)tv->tv_usec + 999u) / 1000u;
	*ms = v >= INT_MAX ? -1 : (int)v; /* beyond 24 days: Linux's MAX_SCHEDULE_TIMEOUT too */
	return 0;
}

US_API int us_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return sock_fail(-EBADF);
	if ((int)optlen < 0)
		return sock_fail(-EINVAL);
	bool rcv;
	if (sock_is_timeo(level, optname, &rcv)) {
		/* Timeouts are the waiting side's business: libsock's, the server never waits. */
		struct timeval tv;
		if (optlen < sizeof(tv))
			return sock_fail(-EINVAL);
		if (!optval)
			return sock_fail(-EFAULT);
		memcpy(&tv, optval, sizeof(tv));
		int ms;
		int rc = sock_timeo_from_tv(&tv, &ms);
		if (rc < 0)
			return sock_fail(rc);
		SOCK_ENTRY_UPDATE(&ref, if (rcv) e_->rcvtimeo_ms = ms; else e_->sndtimeo_ms = ms);
		return 0;
	}
	if (optlen && !optval)
		return sock_fail(-EFAULT);
	if (ref.lost)
		return sock_fail(-ECONNABORTED);
	/* Everything else is the server's (udp_setopt, tcp_setopt): it knows which options exist,
	 * their sizes and their errnos. Values beyond what the transport ever takes are cut
	 * (SOCK_OPTVAL_MAX_UDP, SOCK_OPTVAL_MAX): no option is that large, and the server reads
	 * what it needs. */
	uint8_t val[SOCK_OPTVAL_MAX];
	size_t cap = ref.tp == SOCK_TP_UDP ? SOCK_OPTVAL_MAX_UDP : SOCK_OPTVAL_MAX;
	size_t n = optlen < cap ? optlen : cap;
	if (n)
		memcpy(val, optval, n);
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__SETOPT;
	req.level = level;
	req.optname = optname;
	req.optval.data = val;
	req.optval.len = n;
	struct sock_reply rep;
	int rc = sock_req_sock(&ref, &req, &rep);
	if (rc < 0)
		return sock_fail(rc);
	/* SO_LINGER: close() waits here (a stream), as the server accepted it. */
	if (level == SOL_SOCKET && optname == SO_LINGER && n >= sizeof(struct linger)) {
		struct linger lg;
		memcpy(&lg, val, sizeof(lg));
		/* sock_setsockopt: a negative l_linger is "forever" (MAX_SCHEDULE_TIMEOUT) */
		unsigned secs = lg.l_linger < 0 ? UINT_MAX : (unsigned)lg.l_linger;
		SOCK_ENTRY_UPDATE(&ref, e_->linger_on = lg.l_onoff != 0; e_->linger_s = secs);
	}
	if (ref.tp != SOCK_TP_UDP)
		return 0;
	/* What the datagram send path judges locally, read as the server read it. */
	if (level == SOL_SOCKET && optname == SO_BROADCAST && n >= sizeof(int)) {
		int on;
		memcpy(&on, val, sizeof(on));
		SOCK_ENTRY_UPDATE(&ref, e_->broadcast = on != 0);
	} else if (level == SOL_IP && optname == IP_MTU_DISCOVER) {
		int v = sockopt_ip_int(val, n);
		SOCK_ENTRY_UPDATE(&ref, e_->pmtudisc = (uint8_t)v);
	} else if (level == SOL_IP && optname == IP_RECVERR) {
		int v = sockopt_ip_int(val, n);
		SOCK_ENTRY_UPDATE(&ref, e_->recverr = v != 0);
	}
	if (level == SOL_SOCKET && optname == SO_SNDBUF) {
		/* Sends are limited here (sock_data.c), by the size the server made of the request
		 * (capped, doubled, floored as Linux): ask it, rather than repeat its rules. */
		Ustack__SockRequest g = USTACK__SOCK_REQUEST__INIT;
		g.op = USTACK__SOCK_REQUEST__OP__GETOPT;
		g.level = SOL_SOCKET;
		g.optname = SO_SNDBUF;
		int v = 0;
		if (sock_req_sock(&ref, &g, &rep) == 0 && rep.optlen >= sizeof(v)) {
			memcpy(&v, rep.optval, sizeof(v));
			if (v > 0)
				SOCK_ENTRY_UPDATE(&ref, e_->sndbuf = (uint32_t)v);
		}
	}
	return 0;
}

/* Copy an option value out as Linux: a shorter *optlen gets that many bytes of it. */
static int sock_put_opt(const void *v, size_t vlen, void *optval, socklen_t *optlen)
{
	size_t n = *optlen < vlen ? *optlen : vlen;
	if (n && !optval)
		return -EFAULT;
	if (n)
		memcpy(optval, v, n);
	*optlen = (socklen_t)n;
	return 0;
}

US_API int us_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return sock_fail(-EBADF);
	if (!optlen)
		return sock_fail(-EFAULT);
	if ((int)*optlen < 0)
		return sock_fail(-EINVAL);
	bool rcv;
	int rc;
	if (sock_is_timeo(level, optname, &rcv)) {
		int ms = rcv ? ref.rcvtimeo_ms : ref.sndtimeo_ms;
		struct timeval tv = {0, 0};
		if (ms > 0) {
			tv.tv_sec = ms / 1000;
			tv.tv_usec = (ms % 1000) * 1000;
		}
		rc = sock_put_opt(&tv, sizeof(tv), optval, optlen);
		return rc < 0 ? sock_fail(rc) : 0;
	}
	if (level == SOL_SOCKET && optname == SO_ERROR) {
		/* An error us_poll already fetched comes first; a socket whose session the server
		 * lost reports ECONNABORTED, as Linux's sk_err after `ss -K`. */
		int v = 0;
		SOCK_ENTRY_UPDATE(&ref, v = e_->err; e_->err = 0);
		if (!v && ref.lost)
			v = ECONNABORTED;
		if (v) {
			rc = sock_put_opt(&v, sizeof(v), optval, optlen);
			return rc < 0 ? sock_fail(rc) : 0;
		}
	}
	if (ref.lost)
		return sock_fail(-ECONNABORTED);
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__GETOPT;
	req.level = level;
	req.optname = optname;
	/* The server shapes the value by the caller's length (a struct linger, one byte of an IP
	 * option): it is the length of the optval we send; the bytes are ignored. */
	static const uint8_t zeros[SOCK_OPTVAL_MAX];
	size_t cap = ref.tp == SOCK_TP_UDP ? SOCK_OPTVAL_MAX_UDP : SOCK_OPTVAL_MAX;
	req.optval.data = (uint8_t *)zeros;
	req.optval.len = *optlen < cap ? *optlen : cap;
	struct sock_reply rep;
	rc = sock_req_sock(&ref, &req, &rep);
	if (rc < 0)
		return sock_fail(rc);
	rc = sock_put_opt(rep.optval, rep.optlen, optval, optlen);
	return rc < 0 ? sock_fail(rc) : 0;
}

US_API int us_fcntl(int fd, int cmd, ...)
{
	/* As glibc's own fcntl: the optional argument is taken as a pointer-sized value whatever
	 * the command (an int argument is passed in a full register or stack slot). */
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);

	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return fcntl(fd, cmd, arg);
	switch (cmd) {
	case F_GETFL:
		return O_RDWR | (ref.nonblock ? O_NONBLOCK : 0);
	case F_SETFL: {
		/* Only O_NONBLOCK means anything for a socket (Linux ignores O_APPEND etc. here too);
		 * the eventfd underneath stays non-blocking for our own reads. */
		bool nb = ((int)(intptr_t)arg & O_NONBLOCK) != 0;
		SOCK_ENTRY_UPDATE(&ref, e_->nonblock = nb);
		return 0;
	}
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		return sock_fail(-EINVAL); /* one descriptor per socket: the table has one fd */
	default:
		return fcntl(fd, cmd, arg); /* F_GETFD/F_SETFD and the rest: the descriptor's */
	}
}

US_API int us_ioctl(int fd, unsigned long request, ...)
{
	/* as glibc's ioctl: the optional argument is a pointer */
	va_list ap;
	va_start(ap, request);
	void *arg = va_arg(ap, void *);
	va_end(ap);

	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return ioctl(fd, request, arg);
	if (request != FIONBIO && request != FIONREAD && request != TIOCOUTQ)
		return sock_fail(-ENOTTY); /* nothing else of sock_ioctl's is served by the stack */
	if (!arg)
		return sock_fail(-EFAULT);
	if (request == FIONBIO) {
		bool nb = *(const int *)arg != 0;
		SOCK_ENTRY_UPDATE(&ref, e_->nonblock = nb);
		return 0;
	}
	if (ref.lost)
		return sock_fail(-ECONNABORTED);
	int val = 0;
	bool outq = request == TIOCOUTQ;
	int rc = ref.tp == SOCK_TP_TCP ? sock_stream_queued(&ref, outq, &val)
				       : sock_data_queued(&ref, outq, &val);
	if (rc < 0)
		return sock_fail(rc);
	*(int *)arg = val;
	return 0;
}

US_API int us_listen(int fd, int backlog)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return sock_fail(-EBADF);
	if (ref.tp != SOCK_TP_TCP)
		return sock_fail(-EOPNOTSUPP); /* sock_no_listen */
	int rc = sock_stream_listen(&ref, backlog);
	return rc < 0 ? sock_fail(rc) : 0;
}

US_API int us_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return sock_fail(-EBADF);
	/* __sys_accept4_file: unknown flags before anything about the socket */
	if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK))
		return sock_fail(-EINVAL);
	if (ref.tp != SOCK_TP_TCP)
		return sock_fail(-EOPNOTSUPP); /* sock_no_accept */
	int rc = sock_stream_accept(&ref, addr, addrlen, flags);
	return rc < 0 ? sock_fail(rc) : rc;
}

US_API int us_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	return us_accept4(fd, addr, addrlen, 0);
}

/* shutdown(2) of a datagram socket: Linux's inet_shutdown sets the socket's shutdown bits and
 * wakes its waiters; UDP itself does nothing more (udpd need not know). A socket without a
 * peer says ENOTCONN, but keeps the bits all the same. */
static int sock_dgram_shutdown(const struct sock_ref *ref, int how)
{
	uint8_t bits = (uint8_t)(how + 1); /* SHUT_RD -> RD, SHUT_WR -> WR, SHUT_RDWR -> both */
	bool connected = false;
	SOCK_ENTRY_UPDATE(ref, e_->shut |= bits; connected = e_->connected);
	sock_table_wake(ref->tp, ref->slot); /* sk_state_change: receivers and pollers look again */
	return connected ? 0 : -ENOTCONN;
}

US_API int us_shutdown(int fd, int how)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return sock_fail(-EBADF);
	/* inet_shutdown: how + 1 must be RCV_SHUTDOWN, SEND_SHUTDOWN or both */
	if (how < SHUT_RD || how > SHUT_RDWR)
		return sock_fail(-EINVAL);
	int rc = ref.tp == SOCK_TP_TCP ? sock_stream_shutdown(&ref, how)
				       : sock_dgram_shutdown(&ref, how);
	return rc < 0 ? sock_fail(rc) : 0;
}

/* --- data calls: argument shapes here, the work in sock_data.c --- */

US_API ssize_t us_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return sock_fail(-EBADF);
	if (!msg)
		return sock_fail(-EFAULT);
	struct msghdr m = *msg;
	if (!m.msg_name)
		m.msg_namelen = 0;
	else if (m.msg_namelen > SOCK_ADDR_MAX)
		m.msg_namelen = SOCK_ADDR_MAX; /* copy_msghdr_from_user clamps */
	ssize_t n = sock_data_send(fd, &m, flags);
	return n < 0 ? sock_fail((int)n) : n;
}

US_API ssize_t us_sendto(int fd, const void *buf, size_t len, int flags,
			 const struct sockaddr *dest, socklen_t destlen)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (dest) {
		if (destlen > SOCK_ADDR_MAX)
			return sock_fail(-EINVAL); /* move_addr_to_kernel */
		m.msg_name = (void *)dest;
		m.msg_namelen = destlen;
	}
	ssize_t n = sock_data_send(fd, &m, flags);
	return n < 0 ? sock_fail((int)n) : n;
}

US_API ssize_t us_send(int fd, const void *buf, size_t len, int flags)
{
	return us_sendto(fd, buf, len, flags, NULL, 0);
}

US_API ssize_t us_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return sock_fail(-EBADF);
	if (!msg)
		return sock_fail(-EFAULT);
	if (msg->msg_name && (int)msg->msg_namelen < 0)
		return sock_fail(-EINVAL);
	ssize_t n = sock_data_recv(fd, msg, flags);
	return n < 0 ? sock_fail((int)n) : n;
}

US_API ssize_t us_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src,
			   socklen_t *srclen)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (src) {
		/* Linux would find these only after taking the datagram, and lose it; failing
		 * first loses nothing. */
		if (!srclen)
			return sock_fail(sock_table_get(fd, &(struct sock_ref){0}) < 0 ? -EBADF : -EFAULT);
		if ((int)*srclen < 0)
			return sock_fail(sock_table_get(fd, &(struct sock_ref){0}) < 0 ? -EBADF : -EINVAL);
		m.msg_name = src;
		m.msg_namelen = *srclen;
	}
	ssize_t n = sock_data_recv(fd, &m, flags);
	if (n < 0)
		return sock_fail((int)n);
	if (src)
		*srclen = m.msg_namelen;
	return n;
}

US_API ssize_t us_recv(int fd, void *buf, size_t len, int flags)
{
	return us_recvfrom(fd, buf, len, flags, NULL, NULL);
}
