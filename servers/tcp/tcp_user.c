/* tcp_user: the calls an application makes (RFC 9293 §3.10.1-3.10.6 user calls), with Linux's
 * semantics and errnos (net/ipv4/af_inet.c, inet_connection_sock.c, tcp.c, tcp_ipv4.c):
 *
 *   bind      addr is ANY or ours (-EADDRNOTAVAIL); port 0 picks a free port (RFC 6056 via
 *             tcp_port.c); -EADDRINUSE on a conflict (tcp_bind_conflict); -EINVAL if bound.
 *   connect   -EISCONN once connected (even after a reset, as Linux's SS_CONNECTED socket),
 *             -EALREADY while in progress, the error of a failed attempt once (ECONNABORTED
 *             if SO_ERROR took it), -ENETUNREACH
 *             for 0.0.0.0, broadcast and multicast destinations (tcp_v4_connect); autobinds to
 *             a port no bind() holds whose 4-tuple is unique (-EADDRNOTAVAIL if none).
 *   send      the pending error first, then -EPIPE once the sending side is shut (shutdown,
 *             close, reset) or the socket was never connected (Linux sk_stream_wait_connect);
 *             data queued in SYN-SENT/SYN-RECEIVED goes out when the handshake completes.
 *   shutdown  SHUT_WR queues a FIN after the data (ESTABLISHED → FIN-WAIT-1, CLOSE-WAIT →
 *             LAST-ACK at once, as tcp_close_state); in SYN-SENT it abandons the attempt;
 *             -ENOTCONN when closed (the flags are still set, as Linux).
 *   close     unread data, or SO_LINGER with 0 s → RST and the slot is freed
 *             (TCPAbortOnClose / TCPAbortOnData); otherwise a FIN and the connection is an
 *             orphan the core finishes (an orphaned FIN-WAIT-2 lasts TCP_FIN_TIMEOUT_NS).
 *   options   Linux's ranges: TCP_MAXSEG 88..32767 (0 = none), TCP_KEEPIDLE/TCP_KEEPINTVL
 *             1..32767 s, TCP_KEEPCNT and TCP_SYNCNT 1..127, TCP_USER_TIMEOUT >= 0 ms; an int
 *             option shorter than an int is -EINVAL; SO_RCVBUF/SO_SNDBUF are doubled and
 *             floored (2304 / 4608) as Linux, capped at TCP_RMEM_MAX/TCP_WMEM_MAX doubled-in
 *             (the ring that holds the stream is the real limit, not net.core.rmem_max).
 * A listener takes the socket options too: they are kept in struct tcp_listener and inherited
 * by the connections it accepts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "ipv4_addr.h"
#include "tcp_priv.h"

#define TCP_RCVBUF_MIN 2304u  /* Linux SOCK_MIN_RCVBUF */
#define TCP_SNDBUF_MIN 4608u  /* Linux SOCK_MIN_SNDBUF */
#define TCP_MAXSEG_MAX 32767u /* Linux MAX_TCP_WINDOW */
#define TCP_KEEP_MAX_S 32767u /* Linux MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL */
#define TCP_KEEPCNT_MAX 127u
#define TCP_SYNCNT_MAX 127u
#define TCP_CA_NAME_MAX 16u

/* --- helpers --- */

uint32_t tcp_rcvbuf_size(int val)
{
	uint32_t v = (uint32_t)val; /* negative counts as huge, as min_t(u32, ...) */

	if (v > TCP_RMEM_MAX / 2)
		v = TCP_RMEM_MAX / 2;
	v *= 2;
	return v < TCP_RCVBUF_MIN ? TCP_RCVBUF_MIN : v;
}

uint32_t tcp_sndbuf_size(int val)
{
	uint32_t v = (uint32_t)val;

	if (v > TCP_WMEM_MAX / 2)
		v = TCP_WMEM_MAX / 2;
	v *= 2;
	return v < TCP_SNDBUF_MIN ? TCP_SNDBUF_MIN : v;
}

/* Received data the application has not read (the FIN is not data). */
static uint32_t tcp_rcv_unread(const struct tcp_conn *c)
{
	uint32_t n = c->rcv_nxt - c->read_seq;

	if ((c->flags & TCP_F_FIN_RCVD) && n)
		n--;
	return n;
}

static bool tcp_addr_overlap(uint32_t a, uint32_t b)
{
	return a == 0 || b == 0 || a == b;
}

bool tcp_bind_conflict(const struct tcp_table *t, const struct tcp_conn *self,
		       const struct tcp_listener *self_lis, uint32_t addr, uint16_t port_be,
		       bool reuse)
{
	unsigned i, steps;

	TCP_BHASH_FOR_EACH(t, port_be, i, steps) {
		const struct tcp_conn *o = &t->conn[i];

		if (o == self || !o->in_use || o->lport != port_be || !(o->flags & TCP_F_BOUND))
			continue;
		if (!tcp_addr_overlap(o->laddr, addr))
			continue;
		if (reuse && (o->flags & TCP_F_REUSEADDR))
			continue; /* both SO_REUSEADDR and o is not listening */
		return true;
	}
	TCP_LHASH_FOR_EACH(t, port_be, i, steps) {
		const struct tcp_listener *o = &t->lis[i];

		if (o == self_lis || !o->in_use || o->lport != port_be)
			continue;
		if (tcp_addr_overlap(o->laddr, addr))
			return true; /* a listener conflicts whatever the flags */
	}
	/* a listener stopped by shutdown(SHUT_RD) is off the hash but still holds its port */
	for (i = 0; i < TCP_LISTENERS_MAX; i++) {
		const struct tcp_listener *o = &t->lis[i];

		if (o != self_lis && o->in_use && (o->flags & TCP_F_SHUT_RD) &&
		    o->lport == port_be && tcp_addr_overlap(o->laddr, addr) &&
		    !(reuse && (o->flags & TCP_F_REUSEADDR)))
			return true;
	}
	return false;
}

/* bind(port 0): a port nobody holds at all (Linux inet_csk_find_open_port). */
static bool tcp_bind_port_free(const struct tcp_table *t, uint32_t laddr, uint16_t lport,
			       uint32_t raddr, uint16_t rport)
{
	unsigned i, steps;

	(void)laddr;
	(void)raddr;
	(void)rport;
	TCP_BHASH_FOR_EACH(t, lport, i, steps)
		if (t->conn[i].in_use && t->conn[i].lport == lport)
			return false;
	TCP_LHASH_FOR_EACH(t, lport, i, steps)
		if (t->lis[i].in_use && t->lis[i].lport == lport)
			return false;
	for (i = 0; i < TCP_LISTENERS_MAX; i++)
		if (t->lis[i].in_use && t->lis[i].lport == lport)
			return false;
	return true;
}

/* connect()'s autobind (Linux __inet_hash_connect): a port no bind() or listener holds, whose
 * 4-tuple with raddr:rport is unique. Ports other connects use are shared. */
static bool tcp_connect_port_free(const struct tcp_table *t, uint32_t laddr, uint16_t lport,
				  uint32_t raddr, uint16_t rport)
{
	unsigned i, steps;

	TCP_BHASH_FOR_EACH(t, lport, i, steps) {
		const struct tcp_conn *o = &t->conn[i];

		if (!o->in_use || o->lport != lport)
			continue;
		if (!(o->flags & TCP_F_CONNECT_PORT))
			return false;
		if (o->laddr == laddr && o->raddr == raddr && o->rport == rport)
			return false;
	}
	for (i = 0; i < TCP_LISTENERS_MAX; i++)
		if (t->lis[i].in_use && t->lis[i].lport == lport)
			return false;
	return true;
}

static void tcp_port_take(struct tcp_table *t, struct tcp_conn *c, uint16_t port_be)
{
	c->lport = port_be;
	c->flags |= TCP_F_BOUND;
	tcp_bhash_insert(t, c);
}

/* --- socket, bind --- */

int tcp_socket_open(struct tcp_table *t, uint32_t owner, uint64_t now, struct tcp_io *io,
		    uint32_t *cid)
{
	struct tcp_conn *c;

	if (!t || !cid || owner == 0)
		return -EINVAL;
	c = tcp_conn_alloc(t, now, io);
	if (!c)
		return -ENFILE;
	c->owner = owner;
	*cid = tcp_cid_of(t, c);
	return 0;
}

int tcp_bind(struct tcp_table *t, uint32_t owner, uint32_t cid, uint32_t addr, uint16_t port)
{
	struct tcp_conn *c = tcp_conn_owned(t, owner, cid);
	uint16_t lport = port;

	if (!c)
		return tcp_lis_owned(t, owner, cid) ? -EINVAL : -EBADF;
	/* Linux inet_bind: a local address (ours, or the loopback interface's 127/8) */
	if (addr != 0 && addr != t->host.addr && !ipv4_is_loopback(addr))
		return -EADDRNOTAVAIL;
	if ((c->flags & TCP_F_BOUND) || c->state != TCP_STATE_CLOSED)
		return -EINVAL;
	if (port == 0) {
		lport = tcp_port_pick(t, addr, 0, 0, tcp_bind_port_free);
		if (lport == 0)
			return -EADDRINUSE;
	} else if (tcp_bind_conflict(t, c, NULL, addr, port, c->flags & TCP_F_REUSEADDR)) {
		return -EADDRINUSE;
	}
	c->laddr = addr;
	tcp_port_take(t, c, lport);
	if (addr)
		c->flags |= TCP_F_BINDADDR_LOCK;
	if (port)
		c->flags |= TCP_F_BINDPORT_LOCK;
	return 0;
}

/* --- connect --- */

int tcp_connect(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now,
		uint32_t saddr, uint32_t daddr, uint16_t dport, uint16_t route_mtu,
		struct tcp_io *io)
{
	struct tcp_conn *c = tcp_conn_owned(t, owner, cid);
	bool autobound = false;

	if (!c)
		return tcp_lis_owned(t, owner, cid) ? -EISCONN : -EBADF;
	switch (c->state) {
	case TCP_STATE_CLOSED:
		break;
	case TCP_STATE_SYN_SENT:
	case TCP_STATE_SYN_RECEIVED:
		return -EALREADY;
	default:
		return -EISCONN;
	}
	if (c->flags & TCP_F_CONNECTED_ONCE)
		return -EISCONN;
	if (c->raddr) {
		/* An attempt failed since the last call: report it once, -ECONNABORTED if SO_ERROR
		 * took the error already; the next call starts afresh (Linux
		 * __inet_stream_connect on an SS_CONNECTING socket found closed). */
		int err = c->pending_error ? c->pending_error : ECONNABORTED;

		c->pending_error = 0;
		c->raddr = 0;
		c->rport = 0;
		return -err;
	}
	if (!tcp_addr_unicast(t, daddr))
		return -ENETUNREACH; /* 0.0.0.0, broadcasts, multicast: Linux's answer */
	if (c->flags & TCP_F_BINDADDR_LOCK)
		saddr = c->laddr;
	if (saddr == 0)
		saddr = t->host.addr;
	if (saddr == 0)
		return -EADDRNOTAVAIL;
	if (!(c->flags & TCP_F_BOUND)) {
		uint16_t p = tcp_port_pick(t, saddr, daddr, dport, tcp_connect_port_free);

		if (p == 0)
			return -EADDRNOTAVAIL;
		tcp_port_take(t, c, p);
		c->flags |= TCP_F_CONNECT_PORT;
		autobound = true;
	} else if (tcp_conn_find(t, saddr, c->lport, daddr, dport)) {
		return -EADDRNOTAVAIL;
	}
	(void)autobound;
	c->laddr = saddr;
	c->raddr = daddr;
	c->rport = dport;
	c->pending_error = 0;
	c->pmtu = route_mtu >= 68 + 40 ? route_mtu : t->host.mtu;
	c->adv_mss = tcp_adv_mss(c, c->pmtu);
	c->rcv_wscale = tcp_rcv_wscale(c);
	c->iss = tcp_isn(t, now, c->laddr, c->lport, c->raddr, c->rport);
	c->ts_offset = tcp_ts_offset(t, c->laddr, c->raddr);
	c->snd_una = c->snd_up = c->iss;
	c->snd_nxt = c->snd_max = c->write_seq = c->iss + 1;
	c->snd_sml = c->iss;
	c->opened_at = now;
	c->rtx_count = 0;
	tcp_rtt_init(&c->rtt);
	tcp_set_state(t, c, TCP_STATE_SYN_SENT);
	tcp_hash_insert(t, c);
	t->stats.active_opens++;
	if (tcp_send_syn(t, c, now, io) == 0)
		tcp_rtt_start(&c->rtt, c->iss, now);
	c->rtx_since = now;
	tcp_timer_arm(t, c, &c->t_rtx, now + tcp_rto_ns(c, now));
	return 0;
}

/* --- send, receive --- */

uint32_t tcp_send_space(const struct tcp_conn *c)
{
	uint32_t base, queued;

	if (!c || !c->in_use || c->state == TCP_STATE_CLOSED || c->state == TCP_STATE_LISTEN ||
	    (c->flags & TCP_F_SHUT_WR))
		return 0;
	/* The SYN (snd_una == iss until it is acknowledged) takes no room. Not SEQ_GT against
	 * iss + 1: that turns false 2 GiB into the stream and the space to 0 for good; and
	 * snd_una == iss again 4 GiB in, when bytes have been acknowledged. */
	base = c->snd_una == c->iss && c->bytes_acked == 0 ? c->iss + 1 : c->snd_una;
	queued = c->write_seq - base;
	return queued < c->snd_buf ? c->snd_buf - queued : 0;
}

int tcp_send(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now, uint32_t bytes,
	     int flags, struct tcp_io *io)
{
	struct tcp_conn *c = tcp_conn_owned(t, owner, cid);

	if (!c)
		return tcp_lis_owned(t, owner, cid) ? -EPIPE : -EBADF;
	if (c->pending_error) {
		int err = c->pending_error;

		c->pending_error = 0;
		return -err;
	}
	if (c->state == TCP_STATE_CLOSED || (c->flags & TCP_F_SHUT_WR))
		return -EPIPE;
	if (bytes > tcp_send_space(c))
		return -EINVAL;
	bool was_more = c->flags & TCP_F_MORE;
	if (flags & MSG_MORE)
		c->flags |= TCP_F_MORE;
	else
		c->flags &= ~TCP_F_MORE;
	if (bytes == 0) {
		/* the end of a MSG_MORE run with nothing new: what was held goes now */
		if (was_more && !(flags & MSG_MORE) && tcp_state_synced(c->state))
			tcp_output(t, c, now, io);
		return 0;
	}
	c->write_seq += bytes;
	if (flags & MSG_OOB)
		c->snd_up = c->write_seq; /* Linux tcp_mark_urg */
	if (tcp_state_synced(c->state))
		tcp_output(t, c, now, io);
	return 0;
}

/* Linux tcp_rcv_space_adjust (dynamic right-sizing): once an RTT, if the application read more
 * than in the previous one, the receive buffer grows to let the sender double again next RTT:
 * 2·copied plus a cushion, plus twice the growth, up to TCP_RMEM_MAX. Not when the
 * application fixed SO_RCVBUF. */
static void tcp_rcv_space_adjust(struct tcp_conn *c, uint64_t now)
{
	uint32_t rtt = c->rcv_rtt_us ? c->rcv_rtt_us : c->rtt.srtt_us;
	uint32_t copied;
	uint64_t win;

	if (rtt == 0 || now - c->rcvq_at < (uint64_t)rtt * 1000u)
		return;
	copied = c->read_seq - c->rcvq_seq;
	if (copied > c->rcvq_space) {
		if (!(c->flags & TCP_F_RCVBUF_LOCK) && c->rcvq_space) {
			win = 2ull * copied + 16ull * c->adv_mss;
			win += 2 * (win * (copied - c->rcvq_space) / c->rcvq_space);
			if (win > tcp_rcv_buf_max(c))
				win = tcp_rcv_buf_max(c);
			if (win > c->rcv_buf)
				c->rcv_buf = (uint32_t)win;
		}
		c->rcvq_space = copied;
	}
	c->rcvq_seq = c->read_seq;
	c->rcvq_at = now;
}

int tcp_recvd(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now, uint32_t bytes,
	      struct tcp_io *io)
{
	struct tcp_conn *c = tcp_conn_owned(t, owner, cid);
	uint32_t cur, nw;

	if (!c)
		return -EBADF;
	if (bytes > tcp_rcv_unread(c))
		return -EINVAL;
	c->read_seq += bytes;
	if (bytes == 0 || (c->state != TCP_STATE_ESTABLISHED && c->state != TCP_STATE_FIN_WAIT_1 &&
			   c->state != TCP_STATE_FIN_WAIT_2))
		return 0;
	tcp_rcv_space_adjust(c, now);
	/* Linux tcp_cleanup_rbuf: announce the window when the read at least doubles it (so
	 * a closed or nearly closed window reopens at once, RFC 9293 §3.8.6.2.2) */
	cur = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	nw = tcp_rcv_window(c);
	if (nw > cur && nw >= 2 * cur)
		c->flags |= TCP_F_WND_UPDATE;
	/* Linux tcp_cleanup_rbuf: an ACK the input path delayed because the application was
	 * behind (more than one full segment unacknowledged) goes now that it has read */
	if (c->t_delack && c->rcv_nxt - c->rcv_wup > c->rcv_mss)
		c->flags |= TCP_F_ACK_NOW;
	if (c->flags & (TCP_F_WND_UPDATE | TCP_F_ACK_NOW))
		tcp_output(t, c, now, io);
	return 0;
}

/* --- shutdown, close --- */

/* Queue our FIN (Linux tcp_close_state): the state moves now, the FIN goes after the data. */
static void tcp_close_state(struct tcp_table *t, struct tcp_conn *c)
{
	c->flags |= TCP_F_SHUT_WR;
	if (c->state == TCP_STATE_ESTABLISHED)
		tcp_set_state(t, c, TCP_STATE_FIN_WAIT_1);
	else if (c->state == TCP_STATE_CLOSE_WAIT)
		tcp_set_state(t, c, TCP_STATE_LAST_ACK);
	/* SYN-RECEIVED: FIN-WAIT-1 once established (tcp_input.c tcp_establish) */
}

int tcp_shutdown(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now, int how,
		 struct tcp_io *io)
{
	struct tcp_conn *c = tcp_conn_owned(t, owner, cid);
	struct tcp_listener *l;

	if (how < SHUT_RD || how > SHUT_RDWR)
		return -EINVAL;
	if (!c) {
		l = tcp_lis_owned(t, owner, cid);
		return l ? tcp_listener_shutdown(t, l, now, how, io) : -EBADF;
	}
	if (how != SHUT_WR) {
		c->flags |= TCP_F_SHUT_RD;
		tcp_event(c, io, cid, TCP_EV_READABLE);
	}
	switch (c->state) {
	case TCP_STATE_CLOSED:
		if (how != SHUT_RD)
			c->flags |= TCP_F_SHUT_WR;
		return -ENOTCONN;
	case TCP_STATE_SYN_SENT:
		if (how != SHUT_RD) {
			/* Linux: disconnect, the attempt is abandoned */
			tcp_conn_done(t, c, 0, io);
			c->flags &= ~(TCP_F_SHUT_WR | TCP_F_SHUT_RD);
			c->raddr = 0;
			c->rport = 0;
		}
		return 0;
	default:
		break;
	}
	if (how != SHUT_RD && !(c->flags & TCP_F_SHUT_WR)) {
		tcp_close_state(t, c);
		if (tcp_state_synced(c->state))
			tcp_output(t, c, now, io);
	}
	if ((c->flags & TCP_F_SHUT_WR) && (c->flags & (TCP_F_SHUT_RD | TCP_F_FIN_RCVD)))
		tcp_event(c, io, cid, TCP_EV_HUP);
	return 0;
}

/* The application lets go of c: RST or orphan. */
static void tcp_conn_close(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			   struct tcp_io *io)
{
	bool unread = tcp_rcv_unread(c) > 0;

	c->flags |= TCP_F_SHUT_RD;
	switch (c->state) {
	case TCP_STATE_CLOSED:
	case TCP_STATE_SYN_SENT:
		tcp_conn_release(t, c, io);
		return;
	case TCP_STATE_TIME_WAIT:
		unread = false; /* the connection is over: TIME-WAIT runs its course */
		break;
	default:
		break;
	}
	if (unread || ((c->flags & TCP_F_LINGER) && c->linger_s == 0 &&
		       c->state != TCP_STATE_TIME_WAIT)) {
		/* RFC 9293 §3.10.4 / RFC 2525 §2.17: data would be lost, so say so with a
		 * reset; SO_LINGER 0 asks for exactly that */
		if (unread)
			t->stats.tcp_abort_on_close++;
		else
			t->stats.tcp_abort_on_data++;
		tcp_send_rst(t, c, now, io);
		tcp_set_state(t, c, TCP_STATE_CLOSED);
		tcp_conn_release(t, c, io);
		return;
	}
	c->owner = 0;
	c->flags |= TCP_F_ORPHAN;
	if (!(c->flags & TCP_F_SHUT_WR))
		tcp_close_state(t, c);
	if (c->state == TCP_STATE_FIN_WAIT_2 && c->t_close == 0)
		tcp_timer_arm(t, c, &c->t_close, now + TCP_FIN_TIMEOUT_NS);
	if (tcp_state_synced(c->state) && c->state != TCP_STATE_TIME_WAIT)
		tcp_output(t, c, now, io);
}

/* Linux tcp_need_reset: the states whose peer must hear of an abort. */
static bool tcp_need_reset(unsigned s)
{
	return s == TCP_STATE_ESTABLISHED || s == TCP_STATE_CLOSE_WAIT ||
	       s == TCP_STATE_FIN_WAIT_1 || s == TCP_STATE_FIN_WAIT_2 ||
	       s == TCP_STATE_SYN_RECEIVED;
}

int tcp_disconnect(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now,
		   struct tcp_io *io)
{
	struct tcp_conn *c = tcp_conn_owned(t, owner, cid);
	struct tcp_listener *l;

	if (!c) {
		l = tcp_lis_owned(t, owner, cid);
		if (!l)
			return -EBADF;
		return tcp_listener_shutdown(t, l, now, SHUT_RD, io);
	}
	if (tcp_need_reset(c->state))
		tcp_send_rst(t, c, now, io);
	if (c->state != TCP_STATE_CLOSED)
		tcp_conn_done(t, c, 0, io); /* an application's: it stays, CLOSED */
	/* sk_shutdown = 0, the peer forgotten: a socket like a new one, bound as it was */
	c->flags &= ~(TCP_F_SHUT_RD | TCP_F_SHUT_WR | TCP_F_FIN_SENT | TCP_F_FIN_RCVD |
		      TCP_F_FIN_OOO | TCP_F_CONNECTED_ONCE | TCP_F_ACK_NOW | TCP_F_WND_UPDATE |
		      TCP_F_MORE | TCP_F_RTX_HEAD | TCP_F_RECOVER_VALID | TCP_F_WS_OK |
		      TCP_F_TS_OK | TCP_F_SACK_OK | TCP_F_COOKIE);
	c->raddr = 0;
	c->rport = 0;
	c->pending_error = 0;
	c->soft_error = 0;
	tcp_asm_reset(&c->asm_);
	tcp_sack_reset(&c->sb);
	return 0;
}

int tcp_abort(struct tcp_table *t, uint32_t cid, uint64_t now, struct tcp_io *io)
{
	struct tcp_conn *c = tcp_conn_by_cid(t, cid);

	if (!c)
		return -ENOENT;
	t->stats.shell_aborts++;
	if (tcp_need_reset(c->state))
		tcp_send_rst(t, c, now, io);
	if (c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_CLOSE_WAIT)
		tcp_set_state(t, c, TCP_STATE_CLOSED);
	tcp_conn_release(t, c, io);
	return 0;
}

int tcp_close(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now,
	      struct tcp_io *io)
{
	struct tcp_conn *c = tcp_conn_owned(t, owner, cid);
	struct tcp_listener *l;

	if (!c) {
		l = tcp_lis_owned(t, owner, cid);
		return l ? tcp_listener_close(t, l, now, io) : -EBADF;
	}
	tcp_conn_close(t, c, now, io);
	return 0;
}

unsigned tcp_close_owner(struct tcp_table *t, uint32_t owner, uint64_t now, struct tcp_io *io)
{
	unsigned n = 0;

	if (owner == 0)
		return 0;
	for (unsigned i = 0; i < TCP_LISTENERS_MAX; i++) {
		if (t->lis[i].in_use && t->lis[i].owner == owner) {
			tcp_listener_close(t, &t->lis[i], now, io);
			n++;
		}
	}
	for (unsigned i = 0; i < TCP_CONNS_MAX; i++) {
		if (t->conn[i].in_use && t->conn[i].owner == owner) {
			tcp_conn_close(t, &t->conn[i], now, io);
			n++;
		}
	}
	return n;
}

/* --- options --- */

/* The option fields of a listener, seen as a connection's: the same code sets both. */
static void tcp_lis_to_conn(const struct tcp_listener *l, struct tcp_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->state = TCP_STATE_LISTEN;
	c->flags = l->flags;
	c->rcv_buf = l->rcv_buf;
	c->snd_buf = l->snd_buf;
	c->mss_clamp = l->mss_clamp;
	c->cc.algo = l->cc_algo;
	c->user_timeout_ms = l->user_timeout_ms;
	c->keep_idle_s = l->keep_idle_s;
	c->keep_intvl_s = l->keep_intvl_s;
	c->keep_cnt = l->keep_cnt;
	c->linger_s = l->linger_s;
	c->rcv_buf_max = l->rcv_buf_max;
	c->snd_buf_max = l->snd_buf_max;
}

static void tcp_conn_to_lis(const struct tcp_conn *c, struct tcp_listener *l)
{
	l->flags = c->flags;
	l->rcv_buf = c->rcv_buf;
	l->snd_buf = c->snd_buf;
	l->mss_clamp = c->mss_clamp;
	l->cc_algo = c->cc.algo;
	l->user_timeout_ms = c->user_timeout_ms;
	l->keep_idle_s = c->keep_idle_s;
	l->keep_intvl_s = c->keep_intvl_s;
	l->keep_cnt = c->keep_cnt;
	l->linger_s = c->linger_s;
	l->rcv_buf_max = c->rcv_buf_max;
	l->snd_buf_max = c->snd_buf_max;
}

static void tcp_flag_set(struct tcp_conn *c, uint32_t flag, int on)
{
	if (on)
		c->flags |= flag;
	else
		c->flags &= ~flag;
}

static bool tcp_is_live(const struct tcp_conn *c)
{
	return c->in_use && c->state != TCP_STATE_CLOSED && c->state != TCP_STATE_LISTEN;
}

/* Linux tcp_set_keepalive / keepalive_time_elapsed: re-aim the keepalive timer. */
static void tcp_keepalive_rearm(struct tcp_table *t, struct tcp_conn *c, uint64_t now)
{
	uint64_t idle = (uint64_t)c->keep_idle_s * CLOCK_NS_PER_S;
	uint64_t elapsed = c->last_rcv_at && now > c->last_rcv_at ? now - c->last_rcv_at : 0;

	if (!tcp_is_live(c) || c->state == TCP_STATE_SYN_SENT ||
	    c->state == TCP_STATE_TIME_WAIT)
		return;
	if (!(c->flags & TCP_F_KEEPALIVE)) {
		c->t_keepalive = 0;
		return;
	}
	tcp_timer_arm(t, c, &c->t_keepalive, now + (idle > elapsed ? idle - elapsed : 0));
}

static int tcp_int_opt(const void *val, size_t len, int *v)
{
	if (!val || len < sizeof(int))
		return -EINVAL;
	memcpy(v, val, sizeof(*v));
	return 0;
}

static int tcp_setopt_conn(struct tcp_table *t, struct tcp_conn *c, uint64_t now, int level,
			   int name, const void *val, size_t len, struct tcp_io *io)
{
	bool live = tcp_is_live(c);
	int v = 0, rc;

	if (level == SOL_SOCKET) {
		if (name == SO_LINGER) {
			struct linger lg;

			if (!val || len < sizeof(lg))
				return -EINVAL;
			memcpy(&lg, val, sizeof(lg));
			tcp_flag_set(c, TCP_F_LINGER, lg.l_onoff);
			/* Linux caps a huge or negative l_linger at "forever" */
			c->linger_s = (uint16_t)((unsigned)lg.l_linger > 65535u
							 ? 65535u
							 : (unsigned)lg.l_linger);
			return 0;
		}
		if ((rc = tcp_int_opt(val, len, &v)) != 0)
			return rc;
		switch (name) {
		case SO_REUSEADDR:
			tcp_flag_set(c, TCP_F_REUSEADDR, v);
			return 0;
		case SO_KEEPALIVE:
			tcp_flag_set(c, TCP_F_KEEPALIVE, v);
			if (live)
				tcp_keepalive_rearm(t, c, now);
			return 0;
		case SO_RCVBUF:
			/* within what the shell's receive stream holds (tcp_set_buf_max) */
			c->rcv_buf = tcp_rcvbuf_size(v);
			if (c->rcv_buf > tcp_rcv_buf_max(c))
				c->rcv_buf = tcp_rcv_buf_max(c);
			c->flags |= TCP_F_RCVBUF_LOCK;
			return 0;
		case SO_SNDBUF:
			c->snd_buf = tcp_sndbuf_size(v);
			if (c->snd_buf > tcp_snd_buf_max(c))
				c->snd_buf = tcp_snd_buf_max(c);
			c->flags |= TCP_F_SNDBUF_LOCK;
			if (live)
				tcp_event(c, io, tcp_cid_of(t, c), TCP_EV_WRITABLE);
			return 0;
		case SO_RCVBUFFORCE:
		case SO_SNDBUFFORCE:
			return -EPERM; /* CAP_NET_ADMIN in Linux; no application has it here */
		default:
			return -ENOPROTOOPT;
		}
	}
	if (level != IPPROTO_TCP)
		return -ENOPROTOOPT;
	if (name == TCP_CONGESTION) {
		enum tcp_cc_algo algo;
		char name_buf[TCP_CA_NAME_MAX];
		size_t n = len < sizeof(name_buf) - 1 ? len : sizeof(name_buf) - 1;

		if (!val)
			return -EFAULT;
		memcpy(name_buf, val, n);
		name_buf[n] = 0;
		if (tcp_cc_by_name(name_buf, strnlen(name_buf, n), &algo) != 0)
			return -ENOENT;
		if (algo != c->cc.algo) {
			const struct tcp_cc_ops *ops = tcp_cc_get(algo);
			uint32_t cwnd = c->cc.cwnd, ssthresh = c->cc.ssthresh;

			memset(c->cc.priv, 0, sizeof(c->cc.priv));
			c->cc.algo = (uint8_t)algo;
			if (live && tcp_state_synced(c->state) && ops && ops->init) {
				/* the new algorithm starts its own state, not a new window */
				ops->init(c, now);
				c->cc.cwnd = cwnd;
				c->cc.ssthresh = ssthresh;
			}
		}
		return 0;
	}
	if ((rc = tcp_int_opt(val, len, &v)) != 0)
		return rc;
	switch (name) {
	case TCP_NODELAY:
		tcp_flag_set(c, TCP_F_NODELAY, v);
		if (v && live && tcp_state_synced(c->state))
			tcp_output(t, c, now, io); /* Linux pushes what Nagle held */
		return 0;
	case TCP_CORK:
		tcp_flag_set(c, TCP_F_CORK, v);
		if (!v && live && tcp_state_synced(c->state))
			tcp_output(t, c, now, io);
		return 0;
	case TCP_MAXSEG:
		if (v != 0 && (v < (int)TCP_MSS_MIN || v > (int)TCP_MAXSEG_MAX))
			return -EINVAL;
		c->mss_clamp = (uint16_t)v;
		return 0;
	case TCP_KEEPIDLE:
		if (v < 1 || v > (int)TCP_KEEP_MAX_S)
			return -EINVAL;
		c->keep_idle_s = (uint16_t)v;
		if (live)
			tcp_keepalive_rearm(t, c, now);
		return 0;
	case TCP_KEEPINTVL:
		if (v < 1 || v > (int)TCP_KEEP_MAX_S)
			return -EINVAL;
		c->keep_intvl_s = (uint16_t)v;
		return 0;
	case TCP_KEEPCNT:
		if (v < 1 || v > (int)TCP_KEEPCNT_MAX)
			return -EINVAL;
		c->keep_cnt = (uint8_t)v;
		return 0;
	case TCP_SYNCNT:
		if (v < 1 || v > (int)TCP_SYNCNT_MAX)
			return -EINVAL;
		c->syn_retries = (uint8_t)v;
		return 0;
	case TCP_USER_TIMEOUT:
		if (v < 0)
			return -EINVAL;
		c->user_timeout_ms = (uint32_t)v;
		return 0;
	case TCP_QUICKACK:
		/* Linux: 0 enters pingpong (delayed) mode; non-zero leaves it and sends an ACK
		 * the delayed-ACK timer was holding */
		if (!v) {
			c->flags |= TCP_F_PINGPONG;
			return 0;
		}
		c->flags &= ~TCP_F_PINGPONG;
		if (live && c->t_delack && (c->state == TCP_STATE_ESTABLISHED ||
					    c->state == TCP_STATE_CLOSE_WAIT)) {
			c->flags |= TCP_F_ACK_NOW;
			tcp_output(t, c, now, io);
		}
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

int tcp_setopt(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now, int level,
	       int name, const void *val, size_t len, struct tcp_io *io)
{
	struct tcp_conn *c = tcp_conn_owned(t, owner, cid);
	struct tcp_listener *l;
	struct tcp_conn tmp;
	int rc;

	if (c)
		return tcp_setopt_conn(t, c, now, level, name, val, len, io);
	l = tcp_lis_owned(t, owner, cid);
	if (!l)
		return -EBADF;
	tcp_lis_to_conn(l, &tmp);
	rc = tcp_setopt_conn(t, &tmp, now, level, name, val, len, NULL);
	if (rc == 0)
		tcp_conn_to_lis(&tmp, l);
	return rc;
}

static int tcp_getopt_conn(struct tcp_table *t, const struct tcp_conn *c, uint64_t now,
			   uint32_t owner, uint32_t cid, int level, int name, void *val,
			   size_t *len)
{
	int v;

	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_LINGER: {
			struct linger lg = {.l_onoff = !!(c->flags & TCP_F_LINGER),
					    .l_linger = c->linger_s};

			if (*len > sizeof(lg))
				*len = sizeof(lg);
			memcpy(val, &lg, *len);
			return 0;
		}
		case SO_REUSEADDR:
			v = !!(c->flags & TCP_F_REUSEADDR);
			break;
		case SO_KEEPALIVE:
			v = !!(c->flags & TCP_F_KEEPALIVE);
			break;
		case SO_RCVBUF:
			v = (int)c->rcv_buf;
			break;
		case SO_SNDBUF:
			v = (int)c->snd_buf;
			break;
		case SO_ERROR: {
			struct tcp_conn *mc = tcp_conn_owned(t, owner, cid);

			v = c->pending_error;
			if (mc)
				mc->pending_error = 0;
			break;
		}
		case SO_TYPE:
			v = SOCK_STREAM;
			break;
		case SO_ACCEPTCONN:
			v = c->state == TCP_STATE_LISTEN;
			break;
		case SO_DOMAIN:
			v = AF_INET;
			break;
		case SO_PROTOCOL:
			v = IPPROTO_TCP;
			break;
		default:
			return -ENOPROTOOPT;
		}
	} else if (level == IPPROTO_TCP) {
		switch (name) {
		case TCP_NODELAY:
			v = !!(c->flags & TCP_F_NODELAY);
			break;
		case TCP_CORK:
			v = !!(c->flags & TCP_F_CORK);
			break;
		case TCP_MAXSEG:
			/* Linux: the current MSS; what TCP_MAXSEG asked for while unconnected */
			if (c->mss_clamp && (c->state == TCP_STATE_CLOSED ||
					     c->state == TCP_STATE_LISTEN))
				v = c->mss_clamp;
			else
				v = c->snd_mss ? c->snd_mss : TCP_MSS_DEFAULT;
			break;
		case TCP_KEEPIDLE:
			v = c->keep_idle_s;
			break;
		case TCP_KEEPINTVL:
			v = c->keep_intvl_s;
			break;
		case TCP_KEEPCNT:
			v = c->keep_cnt;
			break;
		case TCP_SYNCNT:
			v = c->syn_retries ? c->syn_retries : (int)TCP_SYN_RETRIES;
			break;
		case TCP_USER_TIMEOUT:
			v = (int)c->user_timeout_ms;
			break;
		case TCP_QUICKACK:
			v = !(c->flags & TCP_F_PINGPONG);
			break;
		case TCP_CONGESTION: {
			const struct tcp_cc_ops *ops = tcp_cc_get((enum tcp_cc_algo)c->cc.algo);
			char name_buf[TCP_CA_NAME_MAX];

			memset(name_buf, 0, sizeof(name_buf));
			if (ops && ops->name)
				strncpy(name_buf, ops->name, sizeof(name_buf) - 1);
			if (*len > sizeof(name_buf))
				*len = sizeof(name_buf);
			memcpy(val, name_buf, *len);
			return 0;
		}
		case TCP_INFO: {
			struct tcp_info_lite info;

			if (c->state == TCP_STATE_LISTEN) {
				memset(&info, 0, sizeof(info));
				info.state = TCP_STATE_LISTEN;
			} else if (tcp_info(t, owner, cid, now, &info) != 0) {
				return -EBADF;
			}
			if (*len > sizeof(info))
				*len = sizeof(info);
			memcpy(val, &info, *len);
			return 0;
		}
		default:
			return -ENOPROTOOPT;
		}
	} else {
		return level == IPPROTO_IP ? -ENOPROTOOPT : -EOPNOTSUPP;
	}
	if (*len > sizeof(v))
		*len = sizeof(v);
	memcpy(val, &v, *len);
	return 0;
}

int tcp_getopt(struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now, int level,
	       int name, void *val, size_t *len)
{
	struct tcp_conn *c = tcp_conn_owned(t, owner, cid);
	struct tcp_listener *l;
	struct tcp_conn tmp;

	if (!len || (!val && *len))
		return -EFAULT;
	if (c)
		return tcp_getopt_conn(t, c, now, owner, cid, level, name, val, len);
	l = tcp_lis_owned(t, owner, cid);
	if (!l)
		return -EBADF;
	tcp_lis_to_conn(l, &tmp);
	return tcp_getopt_conn(t, &tmp, now, owner, cid, level, name, val, len);
}

/* --- names, info --- */

int tcp_set_buf_max(struct tcp_table *t, uint32_t owner, uint32_t cid, uint32_t rcv_max,
		    uint32_t snd_max)
{
	struct tcp_conn *c = tcp_conn_owned(t, owner, cid);
	struct tcp_listener *l = c ? NULL : tcp_lis_owned(t, owner, cid);

	if (!c && !l)
		return -EBADF;
	if ((c && c->state != TCP_STATE_CLOSED) || (rcv_max && rcv_max < 2 * TCP_MSS_MIN) ||
	    (snd_max && snd_max < 2 * TCP_MSS_MIN) || rcv_max > TCP_RMEM_MAX ||
	    snd_max > TCP_WMEM_MAX)
		return -EINVAL;
	if (c) {
		c->rcv_buf_max = rcv_max;
		c->snd_buf_max = snd_max;
		if (c->rcv_buf > tcp_rcv_buf_max(c))
			c->rcv_buf = tcp_rcv_buf_max(c);
		if (c->snd_buf > tcp_snd_buf_max(c))
			c->snd_buf = tcp_snd_buf_max(c);
		return 0;
	}
	l->rcv_buf_max = rcv_max;
	l->snd_buf_max = snd_max;
	if (rcv_max && l->rcv_buf > rcv_max)
		l->rcv_buf = rcv_max;
	if (snd_max && l->snd_buf > snd_max)
		l->snd_buf = snd_max;
	return 0;
}

int tcp_getname(const struct tcp_table *t, uint32_t owner, uint32_t cid, bool peer,
		uint32_t *addr, uint16_t *port)
{
	const struct tcp_conn *c = tcp_conn_get(t, owner, cid);
	const struct tcp_listener *l;

	if (!addr || !port)
		return -EINVAL;
	if (!c) {
		l = tcp_listener_get(t, owner, cid);
		if (!l)
			return -EBADF;
		if (peer)
			return -ENOTCONN;
		*addr = l->laddr;
		*port = l->lport;
		return 0;
	}
	if (peer) {
		/* Linux inet_getname: no peer while CLOSED or SYN-SENT */
		if (c->state == TCP_STATE_CLOSED || c->state == TCP_STATE_SYN_SENT || !c->rport)
			return -ENOTCONN;
		*addr = c->raddr;
		*port = c->rport;
		return 0;
	}
	*addr = c->laddr;
	*port = c->lport;
	return 0;
}

int tcp_info(const struct tcp_table *t, uint32_t owner, uint32_t cid, uint64_t now,
	     struct tcp_info_lite *out)
{
	const struct tcp_conn *c = tcp_conn_get(t, owner, cid);

	if (!c)
		return -EBADF;
	if (!out)
		return -EINVAL;
	tcp_info_of(c, now, out);
	return 0;
}

void tcp_info_of(const struct tcp_conn *c, uint64_t now, struct tcp_info_lite *out)
{
	uint32_t mss = c->snd_mss ? c->snd_mss : TCP_MSS_DEFAULT;

	memset(out, 0, sizeof(*out));
	out->state = c->state;
	out->ca_state = c->cc.ca_state;
	out->retransmits = c->rtx_count;
	out->backoff = c->rtt.backoff;
	if (c->flags & TCP_F_TS_OK)
		out->options |= 1; /* TCPI_OPT_TIMESTAMPS */
	if (c->flags & TCP_F_SACK_OK)
		out->options |= 2; /* TCPI_OPT_SACK */
	if (c->flags & TCP_F_WS_OK)
		out->options |= 4; /* TCPI_OPT_WSCALE */
	out->snd_wscale = c->snd_wscale;
	out->rcv_wscale = c->rcv_wscale;
	out->rto_us = (uint32_t)(tcp_rtt_rto_ns(&c->rtt) / 1000u);
	out->snd_mss = mss;
	out->rcv_mss = c->rcv_mss;
	out->unacked = (c->snd_max - c->snd_una + mss - 1) / mss;
	out->sacked = (c->sb.sacked_bytes + mss - 1) / mss;
	out->lost = c->lost_out;
	out->retrans = c->retrans_out;
	if (c->last_snd_at && now >= c->last_snd_at)
		out->last_data_sent_ms = (uint32_t)((now - c->last_snd_at) / CLOCK_NS_PER_MS);
	if (c->last_rcv_at && now >= c->last_rcv_at)
		out->last_data_recv_ms = (uint32_t)((now - c->last_rcv_at) / CLOCK_NS_PER_MS);
	out->pmtu = c->pmtu;
	out->rtt_us = c->rtt.srtt_us;
	out->rttvar_us = c->rtt.rttvar_us;
	out->snd_ssthresh = c->cc.ssthresh / mss;
	out->snd_cwnd = c->cc.cwnd / mss;
	out->rcv_space = c->rcv_buf;
	out->total_retrans = c->total_retrans;
	out->min_rtt_us = c->rtt.min_rtt_us;
	out->bytes_acked = c->bytes_acked;
	out->bytes_received = c->bytes_received;
	out->segs_out = (uint32_t)c->segs_out;
	out->segs_in = (uint32_t)c->segs_in;
	out->notsent_bytes = SEQ_GT(c->write_seq, c->snd_nxt) ? c->write_seq - c->snd_nxt : 0;
	out->snd_wnd = c->snd_wnd;
	out->rcv_wnd = SEQ_GT(c->rcv_adv, c->rcv_wup) ? c->rcv_adv - c->rcv_wup : 0;
	out->total_rto = c->total_rto;
	out->total_rto_recoveries = c->total_rto_recoveries;
}
