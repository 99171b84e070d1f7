/* sock_stream: stream sockets' control calls — connect, listen, accept, shutdown, close — over
 * tcpd's requests and the slot block (common/region.h, SPEC-streams.md).
 *
 * Two states decide every call, as in Linux: the socket layer's (struct socket's state, kept
 * here: enum sock_ss, `listening`, our own shutdowns) and the connection's (sk_state and
 * sk_shutdown, which tcpd publishes in the slot block: REGION_SS_*). inet_stream_connect,
 * inet_listen, inet_accept and inet_shutdown are followed line by line; where the errno depends
 * only on the connection, the server's answer is passed through.
 *
 * Waiting. Blocking calls wait on the slot's eventfd, which tcpd writes on every change of the
 * slot block (and when data arrives): connect for the end of CONNECTING (up to SO_SNDTIMEO,
 * then EINPROGRESS/EALREADY as Linux), accept for a queued connection (up to SO_RCVTIMEO, then
 * EAGAIN), close with SO_LINGER for the slot's release (up to the linger time). A wait drains
 * the eventfd before it looks at its condition and sleeps only if the condition still does not
 * hold, so no change is missed; afterwards the count is put back if the socket is readable
 * (sock_stream_settle), so native poll keeps telling the truth.
 *
 * Errors. The connection's pending error (sk_err) is in the slot block; a call that reports it
 * takes it with GETOPT(SO_ERROR), which clears it in tcpd, so it is reported once, as Linux's
 * sock_error(). No round trip when there is none.
 *
 * Close. CLOSE hands the connection to tcpd (Linux tcp_close: reset if data was unread or
 * SO_LINGER is 0, else FIN after the queued data). The slot stays ours to reuse only when tcpd
 * releases it (REGION_SS_RELEASED, when the orphan no longer needs the TX ring): until then the
 * entry stays CLOSING and is reaped when a slot is needed. SO_LINGER > 0 waits for the release,
 * which is Linux's sk_stream_wait_close (FIN acknowledged) here.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "sock_priv.h"

#define SOCK_TCP (sock_tport(SOCK_TP_TCP))

struct region_stream_ctl *sock_stream_ctl(unsigned slot)
{
	return region_stream_slot(&SOCK_TCP->region, slot);
}

static uint32_t sock_stream_state(unsigned slot)
{
	return atomic_load_explicit(&sock_stream_ctl(slot)->state, memory_order_acquire);
}

/* Under tab_lock: the entry of ref if it is still that socket. */
#define SOCK_STREAM_UPDATE(ref, stmt)                                 \
	do {                                                          \
		sock_tab_lock();                                      \
		struct sock_entry *e_ = sock_table_entry_locked(ref); \
		if (e_) {                                             \
			stmt;                                         \
		}                                                     \
		sock_tab_unlock();                                    \
	} while (0)

int sock_stream_take_error(const struct sock_ref *ref)
{
	struct region_stream_ctl *c = sock_stream_ctl(ref->slot);
	uint32_t pending = atomic_load_explicit(&c->error, memory_order_acquire);
	if (pending == 0)
		return 0;
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__GETOPT;
	req.level = SOL_SOCKET;
	req.optname = SO_ERROR;
	uint8_t len[sizeof(int)] = {0};
	req.optval.data = len;
	req.optval.len = sizeof(len);
	struct sock_reply rep;
	int rc = sock_req_sock(ref, &req, &rep);
	if (rc == -ENETDOWN || rc == -ETIMEDOUT)
		return pending < 4096 ? (int)pending : 0; /* tcpd away: report what it left us */
	if (rc < 0)
		return rc;
	int v = 0;
	memcpy(&v, rep.optval, rep.optlen < sizeof(v) ? rep.optlen : sizeof(v));
	return v > 0 && v < 4096 ? v : 0;
}

/* ---- waiting on the slot's eventfd ---- */

static bool sock_stream_drain(unsigned slot)
{
	uint64_t v;
	return read(SOCK_TCP->slot_fd[slot], &v, sizeof(v)) == (ssize_t)sizeof(v);
}

int sock_stream_wait_for(const struct sock_ref *ref, unsigned slot,
				sock_stream_cond_fn cond, const void *arg, uint64_t deadline_ms)
{
	int rc;
	for (;;) {
		if (cond(slot, arg)) {
			rc = 0;
			break;
		}
		if (ref) {
			sock_tab_lock();
			bool current = sock_table_current_locked(ref);
			sock_tab_unlock();
			if (!current) {
				rc = -EBADF;
				break;
			}
		}
		int ms = sock_ms_left(deadline_ms);
		if (ms == 0) {
			rc = -ETIMEDOUT;
			break;
		}
		int n;
		if (ref && sock_stream_readable_now(slot)) {
			/* Something is readable that is not what we wait for (MSG_PEEK|MSG_WAITALL
			 * wanting more): the count must stay up for it, and tcpd writes it only
			 * when the ring was empty, so it says nothing about what comes next. Look
			 * again shortly instead of sleeping on it. */
			n = poll(NULL, 0, ms < 0 || ms > 1 ? 1 : ms);
		} else {
			/* Drain, then look again: a change after the look writes the eventfd,
			 * which the poll below sees. (A closed socket has no count to keep.) */
			sock_stream_drain(slot);
			if (cond(slot, arg)) {
				rc = 0;
				break;
			}
			struct pollfd p = {.fd = SOCK_TCP->slot_fd[slot], .events = POLLIN};
			n = poll(&p, 1, ms);
		}
		if (n < 0 && errno == EINTR) {
			rc = -EINTR;
			break;
		}
	}
	if (ref)
		sock_stream_settle(slot);
	return rc;
}

static bool sock_stream_cond_not_connecting(unsigned slot, const void *arg)
{
	(void)arg;
	return !(sock_stream_state(slot) & REGION_SS_CONNECTING);
}

static bool sock_stream_cond_accept(unsigned slot, const void *arg)
{
	(void)arg;
	const struct region_stream_ctl *c = sock_stream_ctl(slot);
	return atomic_load_explicit(&c->acceptq, memory_order_acquire) > 0 ||
	       !(sock_stream_state(slot) & REGION_SS_LISTENING);
}

static bool sock_stream_cond_released(unsigned slot, const void *arg)
{
	(void)arg;
	return (sock_stream_state(slot) & REGION_SS_RELEASED) != 0;
}

/* ---- slots ---- */

void sock_stream_reset_slot(unsigned slot)
{
	struct region *r = &SOCK_TCP->region;
	struct stream_ring *rx = region_stream_rx(r, slot);
	uint64_t head;
	if (stream_ring_head_now(rx, &head) == 0)
		stream_ring_publish_tail(rx, head); /* the previous socket's unread bytes */
	struct stream_ring *tx = region_stream_tx(r, slot);
	atomic_store_explicit(&sock_stream_ctl(slot)->tx_push, stream_ring_head(tx),
			      memory_order_release);
	sock_stream_drain(slot);
}

void sock_stream_reap(void)
{
	sock_tab_lock();
	for (unsigned i = 0; i < SOCK_SLOTS; i++) {
		struct sock_entry *e = sock_ent(SOCK_TP_TCP, i);
		if (e->state == SOCK_ST_CLOSING && e->close_acked &&
		    (sock_stream_state(i) & REGION_SS_RELEASED)) {
			e->state = SOCK_ST_FREE;
			e->gen++;
		}
	}
	sock_tab_unlock();
}

/* ---- connect ---- */

int sock_stream_connect(const struct sock_ref *ref, const struct sockaddr *addr, socklen_t len)
{
	sa_family_t family;
	memcpy(&family, &addr->sa_family, sizeof(family));
	if (ref->lost)
		return -ECONNABORTED;
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	struct sock_reply rep;
	if (family == AF_UNSPEC) {
		/* tcp_disconnect: abort whatever the connection is, back to CLOSED */
		req.op = USTACK__SOCK_REQUEST__OP__DISCONNECT;
		int rc = sock_req_sock(ref, &req, &rep);
		/* sock->state = err ? SS_DISCONNECTING : SS_UNCONNECTED; tcp_disconnect clears
		 * sk_shutdown */
		enum sock_ss ss = rc == 0 ? SOCK_SS_UNCONNECTED : SOCK_SS_DISCONNECTING;
		SOCK_STREAM_UPDATE(ref, e_->ss = ss; e_->shut = rc == 0 ? 0 : e_->shut;
				   e_->listening = rc == 0 ? false : e_->listening);
		sock_table_wake(ref->tp, ref->slot);
		return rc;
	}

	int err;
	uint32_t st = sock_stream_state(ref->slot);
	switch (ref->ss) {
	case SOCK_SS_CONNECTED:
		return -EISCONN;
	case SOCK_SS_CONNECTING:
		err = -EALREADY; /* and below: maybe it finished since */
		break;
	case SOCK_SS_UNCONNECTED: {
		/* SS_UNCONNECTED: only a CLOSED connection may connect (a listener is EISCONN) */
		if (!(st & REGION_SS_CLOSED))
			return -EISCONN;
		/* tcp_v4_connect's own checks */
		struct sockaddr_in sin;
		if (len < sizeof(sin))
			return -EINVAL;
		memcpy(&sin, addr, sizeof(sin));
		if (sin.sin_family != AF_INET)
			return -EAFNOSUPPORT;
		req.op = USTACK__SOCK_REQUEST__OP__CONNECT;
		req.addr = sin.sin_addr.s_addr;
		req.port = ntohs(sin.sin_port);
		int rc = sock_req_sock(ref, &req, &rep);
		if (rc < 0)
			return rc;
		SOCK_STREAM_UPDATE(ref, e_->ss = SOCK_SS_CONNECTING; e_->bound = true;
				   e_->saddr = rep.addr; e_->peer = sin);
		err = -EINPROGRESS;
		break;
	}
	default:
		return -EINVAL; /* SS_DISCONNECTING */
	}

	/* __inet_stream_connect: wait while SYN-SENT/SYN-RECEIVED, up to SO_SNDTIMEO. A connect
	 * that has just sent its SYN finds SYN-SENT in Linux whatever follows (the socket's lock
	 * holds the SYN-ACK back), so a non-blocking one says EINPROGRESS even when tcpd finished
	 * the handshake before we looked. */
	bool nonblock = ref->nonblock;
	if (err == -EINPROGRESS && (nonblock || ref->sndtimeo_ms == 0))
		return err;
	if (sock_stream_state(ref->slot) & REGION_SS_CONNECTING) {
		if (nonblock || ref->sndtimeo_ms == 0)
			return err;
		uint64_t deadline = ref->sndtimeo_ms < 0 ? UINT64_MAX
							 : sock_now_ms() + (uint64_t)ref->sndtimeo_ms;
		int rc = sock_stream_wait_for(ref, ref->slot, sock_stream_cond_not_connecting, NULL,
					      deadline);
		if (rc == -ETIMEDOUT)
			return err;
		if (rc < 0)
			return rc;
	}
	/* Closed by a reset, a timeout or an ICMP error: report it once, then tcp_disconnect (the
	 * shutdown bits go, the socket may try again: sock->state back to SS_UNCONNECTED). */
	if (sock_stream_state(ref->slot) & REGION_SS_CLOSED) {
		int e = sock_stream_take_error(ref);
		req = (Ustack__SockRequest)USTACK__SOCK_REQUEST__INIT;
		req.op = USTACK__SOCK_REQUEST__OP__DISCONNECT;
		enum sock_ss ss = sock_req_sock(ref, &req, &rep) == 0 ? SOCK_SS_UNCONNECTED
								       : SOCK_SS_DISCONNECTING;
		SOCK_STREAM_UPDATE(ref, e_->ss = ss; e_->shut = 0);
		return e > 0 ? -e : (e < 0 ? e : -ECONNABORTED);
	}
	SOCK_STREAM_UPDATE(ref, e_->ss = SOCK_SS_CONNECTED);
	return 0;
}

/* ---- listen, accept ---- */

int sock_stream_listen(const struct sock_ref *ref, int backlog)
{
	if (ref->lost)
		return -ECONNABORTED;
	/* inet_listen: an unconnected socket whose connection is CLOSED, or already a listener
	 * (which only changes the backlog) */
	uint32_t st = sock_stream_state(ref->slot);
	if (ref->ss != SOCK_SS_UNCONNECTED || !(st & (REGION_SS_CLOSED | REGION_SS_LISTENING)))
		return -EINVAL;
	/* __sys_listen: min(backlog, somaxconn) as unsigned, so a negative one is the cap */
	if ((unsigned)backlog > SOCK_SOMAXCONN)
		backlog = SOCK_SOMAXCONN;
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__LISTEN;
	req.backlog = backlog;
	struct sock_reply rep;
	int rc = sock_req_sock(ref, &req, &rep);
	if (rc < 0)
		return rc;
	SOCK_STREAM_UPDATE(ref, e_->listening = true; e_->bound = true;
			   if (rep.sid) e_->sid = rep.sid);
	return 0;
}

int sock_stream_accept(const struct sock_ref *ref, struct sockaddr *addr, socklen_t *addrlen,
		       int flags)
{
	if (ref->lost)
		return -ECONNABORTED;
	/* inet_csk_accept */
	if (!(sock_stream_state(ref->slot) & REGION_SS_LISTENING))
		return -EINVAL;
	/* Linux finds a bad address buffer only after it took the connection, which is then
	 * lost; found first, nothing is lost. */
	if (addr) {
		if (!addrlen)
			return -EFAULT;
		if ((int)*addrlen < 0)
			return -EINVAL;
	}
	struct region_stream_ctl *lc = sock_stream_ctl(ref->slot);
	uint64_t deadline = ref->rcvtimeo_ms < 0 ? UINT64_MAX
						 : sock_now_ms() + (uint64_t)ref->rcvtimeo_ms;
	for (;;) {
		if (atomic_load_explicit(&lc->acceptq, memory_order_acquire) > 0) {
			Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
			req.op = USTACK__SOCK_REQUEST__OP__ACCEPT;
			req.sid = ref->sid;
			struct sock_reply rep;
			int slot = sock_open_slot(SOCK_TP_TCP, &req, &rep);
			if (slot >= 0) {
				int fd = sock_open_fd(SOCK_TP_TCP, (unsigned)slot, rep.sid, flags);
				if (fd < 0)
					return fd;
				struct sockaddr_in peer = {.sin_family = AF_INET,
							   .sin_port = htons(rep.peer_port)};
				peer.sin_addr.s_addr = rep.peer_addr;
				sock_tab_lock();
				struct sock_entry *e = sock_ent(SOCK_TP_TCP, (unsigned)slot);
				e->ss = SOCK_SS_CONNECTED; /* inet_accept: newsock->state */
				e->bound = true;
				e->saddr = rep.addr;
				e->peer = peer;
				sock_tab_unlock();
				if (addr) {
					socklen_t n = *addrlen < sizeof(peer) ? *addrlen
									      : (socklen_t)sizeof(peer);
					memcpy(addr, &peer, n);
					*addrlen = sizeof(peer);
				}
				sock_stream_settle(ref->slot); /* the listener's count: queue empty? */
				return fd;
			}
			if (slot != -EAGAIN)
				return slot; /* EMFILE, or the server's refusal */
			/* another thread (or process) took it first: wait for the next */
		}
		if (!(sock_stream_state(ref->slot) & REGION_SS_LISTENING))
			return -EINVAL; /* shut down meanwhile (inet_csk_wait_for_connect) */
		if (ref->nonblock || ref->rcvtimeo_ms == 0)
			return -EAGAIN;
		int rc = sock_stream_wait_for(ref, ref->slot, sock_stream_cond_accept, NULL, deadline);
		if (rc == -ETIMEDOUT)
			return -EAGAIN;
		if (rc < 0)
			return rc;
	}
}

/* ---- shutdown, close ---- */

int sock_stream_shutdown(const struct sock_ref *ref, int how)
{
	if (ref->lost)
		return -ECONNABORTED;
	uint8_t bits = (uint8_t)(how + 1); /* SHUT_RD -> RD, SHUT_WR -> WR, SHUT_RDWR -> both */
	uint32_t st = sock_stream_state(ref->slot);
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__SHUTDOWN;
	req.how = (uint32_t)how;
	struct sock_reply rep;
	int rc = 0;
	/* inet_shutdown, by the connection's state */
	if (st & REGION_SS_LISTENING) {
		/* a listener stops listening on SHUT_RD, ignores SHUT_WR */
		if (bits & SOCK_SHUT_RD) {
			rc = sock_req_sock(ref, &req, &rep);
			if (rc == 0)
				SOCK_STREAM_UPDATE(ref, e_->listening = false);
		}
	} else if (st & REGION_SS_CONNECTING) {
		/* SYN-SENT: aborted (tcp_disconnect); the socket is unconnected again */
		rc = sock_req_sock(ref, &req, &rep);
		if (rc == 0)
			SOCK_STREAM_UPDATE(ref, e_->ss = SOCK_SS_UNCONNECTED);
	} else {
		/* CLOSED: ENOTCONN, yet the bits are set (pollers see the hang-up); otherwise the
		 * bits and tcp_shutdown (FIN after the queued data) */
		if (ref->ss == SOCK_SS_CONNECTING) {
			enum sock_ss ss = (st & REGION_SS_CLOSED) ? SOCK_SS_DISCONNECTING
								  : SOCK_SS_CONNECTED;
			SOCK_STREAM_UPDATE(ref, e_->ss = ss);
		}
		SOCK_STREAM_UPDATE(ref, e_->shut |= bits);
		if (st & REGION_SS_CLOSED)
			rc = -ENOTCONN;
		else
			rc = sock_req_sock(ref, &req, &rep);
	}
	sock_table_wake(ref->tp, ref->slot); /* sk_state_change: waiters look again */
	return rc;
}

void sock_stream_close(const struct sock_ref *ref)
{
	/* Our own senders blocked on room (they sleep on the TX ring's futex, not the eventfd,
	 * which begin_close wrote): wake them to find the socket gone. room_seq is only ever
	 * advisory to tcpd. */
	stream_ring_room_notify(region_stream_tx(&SOCK_TCP->region, ref->slot));
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__CLOSE;
	struct sock_reply rep;
	int rc = sock_req_sock(ref, &req, &rep);
	if (rc == -ECONNABORTED) {
		sock_table_free(ref->tp, ref->slot); /* the session is gone, and its sockets */
		return;
	}
	/* -EBADF: a re-sent CLOSE whose first reply we missed; either way tcpd has it now.
	 * Unconfirmed (tcpd away): retried when slots run short (sock_close_pending). */
	if (rc != 0 && rc != -EBADF)
		return;
	sock_table_close_acked(ref->tp, ref->slot);
	if (ref->linger_on && ref->linger_s > 0) {
		/* sk_stream_wait_close: until the FIN is acknowledged (the slot released) or the
		 * linger time passes; a signal ends the wait, close still succeeds */
		uint64_t ms = (uint64_t)ref->linger_s * 1000u;
		uint64_t deadline = ref->linger_s == UINT_MAX ? UINT64_MAX : sock_now_ms() + ms;
		sock_stream_wait_for(NULL, ref->slot, sock_stream_cond_released, NULL, deadline);
	}
	sock_stream_reap();
}
