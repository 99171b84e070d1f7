/* udpd_requests: udpd's socket requests (proto/sock.proto) from libsock on the udpd.sock
 * ROUTER. Receiving them, the framing, the session's authentication (id + secret), -ENOTCONN
 * for a detached session and the answers from the reply records are every transport's
 * (servers/transport/xport_requests.c); this file is what UDP does with them, and when.
 *
 * Ordering against the TX ring: Linux's sendmsg is synchronous, so a call made after a send
 * sees what the send did (its autobind, its pending error taken, the TTL it went out with); the
 * request channel is not ordered against the ring by itself. So a request first waits until
 * the ring has been read up to where its producer was when the request arrived: udpd reads up
 * to UDPD_CLOSE_BUDGET records at once, and if more are left the request is parked (struct
 * udpd_req_wait, UDPD_REQ_WAITS per session, its packed bytes kept) and acted on, in arrival
 * order, when the TX round has read that far (udpd_requests_close_ready). Never an unbounded
 * drain: a request costs udpd no more than reading the ring at its normal pace. SOCKET and
 * HOSTCFG touch no existing socket and never wait, nor does a request naming no socket of the
 * session (its -EBADF is final: no record makes a socket); CLOSE waits its own way (below). A request
 * re-sent while it is parked (same id) is not parked twice: the latest asker gets the answer.
 *
 * Idempotent replay: a mutating request runs in one transaction of the state segment together
 * with the reply remembered for it (udpd_store.h), so a udpd killed at any point of it leaves
 * either both (the re-sent request is answered from the reply) or neither (it runs as for the
 * first time, on the state it would have found the first time). That holds wherever it runs:
 * at once, parked and acted on later (udpd_requests_parked_ready), or a CLOSE answered once
 * its records are read (udpd_requests_close_ready). What precedes it (reading the TX ring up to
 * the request: sends of their own, each committed as it is made) runs before its transaction
 * opens, and what it makes happen outside the segment (a corked datagram sent when UDP_CORK is
 * cleared, the reply itself) leaves after the commit. A parked request or a waiting CLOSE is
 * process memory: a restart loses it, with nothing of it in the segment, and libsock re-sends.
 *
 * Errnos the shell decides (the core's are Linux's already):
 *   SOCKET   slot not in the region: -EINVAL; slot already holds a socket: -EBUSY; the
 *            session's uid has its share of sockets: -EMFILE; the table is full: -ENFILE
 *            (udpd_quota.c says why these two);
 *   BIND     port above 65535: -EINVAL; a port below 1024 needs a session created by uid 0:
 *            -EACCES (Linux without CAP_NET_BIND_SERVICE, ip_unprivileged_port_start = 1024;
 *            we cannot see capabilities through SO_PEERCRED, so uid 0 stands for them);
 *   CONNECT  port above 65535: -EINVAL;
 *   SETOPT   SO_PRIORITY outside 0..6 needs a session created by uid 0: -EPERM (Linux without
 *            CAP_NET_ADMIN); the rest is udp_setopt's (an empty value is a valid IP option);
 *   GETOPT   optval in the request gives the caller's optlen (its bytes are ignored), 4 when
 *            empty; at most UDPD_OPTVAL_MAX;
 *   ERRQUEUE the oldest error queue entry, or -EAGAIN (never blocks, as MSG_ERRQUEUE); not
 *            remembered for replay: the queue is process memory, lost with a restart anyway;
 *   more requests waiting for the ring than UDPD_REQ_WAITS: -EBUSY (libsock has one request
 *            out per session at a time, so it never meets it);
 *   unknown op: -EINVAL.
 * BIND, CONNECT, DISCONNECT and AUTOBIND answer with the socket's source address afterwards, so
 * libsock judges routes of later sends as udp_output will. Clearing UDP_CORK sends the corked
 * datagram (udp_push_pending), as Linux does; turning IP_RECVERR off empties the error queue.
 *
 * CLOSE. Datagrams sent before close() must still go out, and they are ahead of it in the TX
 * ring, which the request channel does not order against. So a CLOSE first reads the ring up
 * to where the producer's head is now (every record the application made before it asked),
 * at most UDPD_CLOSE_BUDGET records at once; if more are left, the socket stays open and the
 * CLOSE waits (at most UDPD_CLOSE_WAITS per session, else -EBUSY, which libsock never meets:
 * it has one request out at a time): the TX round reads on under its budgets and answers it
 * once the ring is read that far (udpd_requests_close_ready). A re-send of the same request
 * (libsock, 300 ms without a reply) only updates whom to answer; the close and the answer
 * remembered for it commit in one transaction, as for any other request. An application
 * cannot make a CLOSE cost udpd more than reading its own ring at the normal pace, and a
 * closing socket's records send only as much as send() can have accepted (its send buffer and
 * one record: Linux's rule), the rest are read and dropped (tx_drop_closing); records that
 * come after it for the closed socket are dropped (tx_drop_no_socket), as a socket's ring
 * belongs to it only until it is closed.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "paths.h"
#include "sock.pb-c.h"
#include "udpd_priv.h"

#define UDPD_OPTVAL_MAX 64

/* What a reply may point into while it is packed: per request, on the loop's stack. */
struct udpd_req_scratch {
	uint8_t optval[UDPD_OPTVAL_MAX];
	struct sock_extended_err ee;
	struct udpd_err err;
};

_Static_assert(sizeof(struct udpd_req_scratch) <= XPORT_SCRATCH_MAX, "the scratch fits");

static void udpd_reply_send(struct udpd *u, const void *ident, size_t ident_len,
			    const Ustack__SockReply *r)
{
	/* A reply leaves only once what it describes has committed (file comment). */
	assert(u->t->journal.depth == 0);
	xport_reply_send(&u->x, ident, ident_len, r);
}

bool udpd_op_mutates(int op)
{
	switch (op) {
	case USTACK__SOCK_REQUEST__OP__SOCKET:
	case USTACK__SOCK_REQUEST__OP__BIND:
	case USTACK__SOCK_REQUEST__OP__CONNECT:
	case USTACK__SOCK_REQUEST__OP__DISCONNECT:
	case USTACK__SOCK_REQUEST__OP__CLOSE:
	case USTACK__SOCK_REQUEST__OP__SETOPT:
	case USTACK__SOCK_REQUEST__OP__AUTOBIND:
		return true;
	default:
		return false;
	}
}

/* SOCKET, inside the request's transaction. */
static int udpd_req_socket(struct udpd *u, unsigned si, const Ustack__SockRequest *q,
			   Ustack__SockReply *r)
{
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	if (q->slot >= rec->n_slots)
		return -EINVAL;
	if (rec->slot_sid[q->slot])
		return -EBUSY;
	if (udpd_uid_sockets(u, rec->creator_uid) >= u->x.lim.uid_sockets) {
		u->x.stats.sock_refused_uid++;
		return -EMFILE;
	}
	uint32_t sid;
	int rc = udpd_store_socket(u->st, si, q->slot, &sid);
	if (rc == -EMFILE) {
		u->x.stats.sock_refused_full++;
		return -ENFILE;
	}
	if (rc < 0)
		return rc;
	unsigned k = sid & 0xffffu;
	udpd_cork_free(u, k); /* nothing should be there; make sure */
	udpd_errq_purge(u, sid);
	u->closing[k] = false;
	u->sock_slot[k] = (uint8_t)q->slot;
	r->sid = sid;
	return 0;
}

/* Close socket sid of session si now, inside the request's transaction (the socket and its
 * slot go together: udpd_store_close). */
static int udpd_req_close_now(struct udpd *u, unsigned si, uint32_t sid)
{
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	if (!udp_sock_get(u->t, rec->owner, sid))
		return -EBADF;
	unsigned k = sid & 0xffffu;
	udpd_cork_free(u, k); /* while the socket still names its uid and slot */
	int rc = udpd_store_close(u->st, si, sid);
	if (rc < 0)
		return rc;
	u->closing[k] = false;
	u->sock_slot[k] = UDPD_SLOT_NONE;
	return 0;
}

/* CLOSE, before its transaction: read the TX ring up to where the producer is now (file
 * comment). 0: nothing the socket sent before is left unread, close it now; XPORT_REPLY_LATER:
 * the CLOSE waits (or one of the same socket already does, and this asker gets its answer);
 * else a negative errno to answer at once. */
static int udpd_req_close_wait(struct udpd *u, unsigned si, const Ustack__SockRequest *q,
			       const uint8_t *ident, size_t ident_len)
{
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	struct xport_session *s = &u->x.sess[si];
	struct udpd_sx *sx = &u->sx[si];
	if (!udp_sock_get(u->t, rec->owner, q->sid))
		return -EBADF;
	struct udpd_close_wait *w = NULL, *free_w = NULL;
	for (unsigned i = 0; i < UDPD_CLOSE_WAITS; i++) {
		if (sx->close_wait[i].sid == q->sid)
			w = &sx->close_wait[i];
		else if (!sx->close_wait[i].sid && !free_w)
			free_w = &sx->close_wait[i];
	}
	if (!w) {
		uint64_t until;
		if (ring_head_now(&s->region.tx, &until) < 0)
			return 0; /* broken: nothing will be read, close now */
		unsigned k = q->sid & 0xffffu;
		const struct udp_sock *sk = udp_sock_get(u->t, rec->owner, q->sid);
		u->closing[k] = true;
		u->close_allow[k] = sk->sndbuf + region_tx_charge(UDPD_TX_REC_MAX);
		if (ring_read_pos(&s->region.tx) < until) {
			u->tx_bytes_end = u->tx_bytes + UDPD_TX_ROUND_BYTES;
			udpd_tx_session(u, si, UDPD_CLOSE_BUDGET, until);
			udpd_tx_done(u);
			if (s->state != XPORT_SESS_ATTACHED)
				return -ECONNABORTED; /* a broken ring: session, sockets gone */
		}
		if (ring_read_pos(&s->region.tx) >= until)
			return 0;
		if (!free_w || ident_len > UDPD_IDENTITY_MAX) {
			u->stats.req_close_busy++;
			u->closing[k] = false; /* not closing after all: it sends as before */
			return -EBUSY;
		}
		w = free_w;
		w->sid = q->sid;
		w->until = until;
		/* The TX round reads on from the next pass (no doorbell need come). */
		sx->tx_pending = true;
		loop_source_pend(u->loop, u->x.sess_src);
		u->stats.req_close_deferred++;
	} else if (ident_len > UDPD_IDENTITY_MAX) {
		return -EBUSY;
	}
	/* A first CLOSE, or a re-send (same id, or a new id after the first gave up): the
	 * latest asker gets the answer. */
	w->req_id = q->id;
	memcpy(w->ident, ident, ident_len);
	w->ident_len = ident_len;
	return XPORT_REPLY_LATER;
}

static int udpd_req_setopt(struct udpd *u, unsigned si, const Ustack__SockRequest *q)
{
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	static const uint8_t empty[1];
	const void *val = q->optval.len ? q->optval.data : empty;
	if (q->level == SOL_SOCKET && q->optname == SO_PRIORITY && q->optval.len >= sizeof(int) &&
	    rec->creator_uid != 0 && udp_sock_get(u->t, rec->owner, q->sid)) {
		int v;
		memcpy(&v, q->optval.data, sizeof(v));
		if (v < 0 || v > 6)
			return -EPERM; /* sk_setsockopt: other priorities need CAP_NET_ADMIN */
	}
	int rc = udp_setopt(u->t, rec->owner, q->sid, q->level, q->optname, val, q->optval.len);
	if (rc == 0 && q->level == SOL_UDP && q->optname == UDP_CORK) {
		/* Clearing UDP_CORK sends what is corked (Linux udp_push_pending_frames). */
		const struct udp_sock *s = udp_sock_get(u->t, rec->owner, q->sid);
		if (s && !(s->flags & UDP_SOCK_F_CORK)) {
			struct udp_tx tx;
			if (udp_push_pending(u->t, &u->host, rec->owner, q->sid, &tx) == 0)
				udpd_tx_apply(u, q->sid, &tx, NULL, 0, 0);
		}
	}
	if (rc == 0 && q->level == SOL_IP && q->optname == IP_RECVERR &&
	    !(u->t->sock[q->sid & 0xffffu].ext.flags & UDP_EXT_F_RECVERR))
		udpd_errq_purge(u, q->sid); /* Linux: skb_errqueue_purge */
	return rc;
}

static int udpd_req_getopt(struct udpd *u, unsigned si, const Ustack__SockRequest *q,
			   Ustack__SockReply *r, uint8_t *val)
{
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	size_t len = q->optval.len ? q->optval.len : sizeof(int);
	if (len > UDPD_OPTVAL_MAX)
		len = UDPD_OPTVAL_MAX;
	int rc = udp_getopt(u->t, &u->host, rec->owner, q->sid, q->level, q->optname, val, &len);
	if (rc < 0)
		return rc;
	r->optval.data = val;
	r->optval.len = len;
	return 0;
}

/* ERRQUEUE: the oldest entry of the socket's error queue, as Linux's ip_recv_error gives it. */
static int udpd_req_errqueue(struct udpd *u, unsigned si, const Ustack__SockRequest *q,
			     Ustack__SockReply *r, struct udpd_req_scratch *sc)
{
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	if (!udp_sock_get(u->t, rec->owner, q->sid))
		return -EBADF;
	uint8_t next = 0;
	int rc = udpd_errq_pop(u, q->sid, &sc->err, &next);
	if (rc < 0)
		return rc;
	udp_errq_dequeued(u->t, q->sid, next);
	sc->ee = (struct sock_extended_err){
		.ee_errno = sc->err.err,
		.ee_origin = SO_EE_ORIGIN_ICMP,
		.ee_type = sc->err.type,
		.ee_code = sc->err.code,
		.ee_info = sc->err.info,
	};
	r->optval.data = (uint8_t *)&sc->ee;
	r->optval.len = sizeof(sc->ee);
	r->data.data = sc->err.payload;
	r->data.len = sc->err.len;
	r->addr = sc->err.daddr;
	r->port = ntohs(sc->err.dport);
	r->offender = sc->err.offender;
	r->next_err = next;
	return 0;
}

/* The reply of BIND, CONNECT, DISCONNECT, AUTOBIND: the socket's source address afterwards. */
static int udpd_reply_saddr(struct udpd *u, uint32_t owner, uint32_t sid, int rc,
			    Ustack__SockReply *r)
{
	uint32_t saddr = 0;
	if (udp_get_saddr(u->t, owner, sid, &saddr) == 0)
		r->addr = saddr;
	return rc;
}

/* The operation itself; inside the request's transaction when it mutates (xport_req_act). */
int udpd_req_dispatch(void *tp, unsigned si, const Ustack__SockRequest *q, Ustack__SockReply *r,
		      struct xport_req *req)
{
	struct udpd *u = tp;
	struct udpd_req_scratch *sc = (struct udpd_req_scratch *)req->scratch;
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	uint32_t owner = rec->owner;
	uint32_t addr = 0;
	uint16_t port = 0;
	int rc;
	switch (q->op) {
	case USTACK__SOCK_REQUEST__OP__SOCKET:
		return udpd_req_socket(u, si, q, r);
	case USTACK__SOCK_REQUEST__OP__BIND:
		if (q->port > 0xffffu)
			return -EINVAL;
		/* Linux's order: a bad fd, then an address that is not ours, then EACCES. */
		if (q->port != 0 && q->port < 1024 && rec->creator_uid != 0 &&
		    udp_sock_get(u->t, owner, q->sid) && udp_addr_bindable(&u->host, q->addr))
			return -EACCES;
		rc = udp_bind(u->t, owner, q->sid, &u->host, q->addr, htons((uint16_t)q->port));
		return udpd_reply_saddr(u, owner, q->sid, rc, r);
	case USTACK__SOCK_REQUEST__OP__CONNECT:
		if (q->port > 0xffffu)
			return -EINVAL;
		rc = udp_connect(u->t, owner, q->sid, &u->host, q->addr, htons((uint16_t)q->port));
		return udpd_reply_saddr(u, owner, q->sid, rc, r);
	case USTACK__SOCK_REQUEST__OP__DISCONNECT:
		rc = udp_disconnect(u->t, owner, q->sid);
		return udpd_reply_saddr(u, owner, q->sid, rc, r);
	case USTACK__SOCK_REQUEST__OP__AUTOBIND:
		rc = udp_autobind_sock(u->t, owner, q->sid);
		return udpd_reply_saddr(u, owner, q->sid, rc, r);
	case USTACK__SOCK_REQUEST__OP__HOSTCFG:
		r->addr = u->cfg.ip_addr;
		r->prefix_len = u->cfg.ip_prefix;
		r->gateway = u->cfg.ip_gateway;
		r->mtu = u->cfg.mtu;
		return 0;
	case USTACK__SOCK_REQUEST__OP__ERRQUEUE:
		return udpd_req_errqueue(u, si, q, r, sc);
	case USTACK__SOCK_REQUEST__OP__CLOSE:
		return udpd_req_close_now(u, si, q->sid); /* its wait is over (udpd_req_handle) */
	case USTACK__SOCK_REQUEST__OP__SETOPT:
		return udpd_req_setopt(u, si, q);
	case USTACK__SOCK_REQUEST__OP__GETOPT:
		return udpd_req_getopt(u, si, q, r, sc->optval);
	case USTACK__SOCK_REQUEST__OP__GETSOCKNAME:
	case USTACK__SOCK_REQUEST__OP__GETPEERNAME:
		rc = udp_getname(u->t, owner, q->sid,
				 q->op == USTACK__SOCK_REQUEST__OP__GETPEERNAME, &addr, &port);
		if (rc == 0) {
			r->sid = q->sid;
			r->addr = addr;
			r->port = ntohs(port);
		}
		return rc;
	default:
		return -EINVAL;
	}
}

/* Requests that touch no existing socket need not wait for the TX ring. */
static bool udpd_op_ordered(int op)
{
	return op != USTACK__SOCK_REQUEST__OP__SOCKET && op != USTACK__SOCK_REQUEST__OP__HOSTCFG &&
	       op != USTACK__SOCK_REQUEST__OP__CLOSE;
}

/* The transaction of a mutating request: its session record saved, the reply remembered with
 * what it changed (udpd_store.h). */
void udpd_req_txn_begin(void *tp, unsigned si)
{
	struct udpd *u = tp;
	udpd_store_txn_begin(u->st, si);
}

void udpd_req_txn_end(void *tp, unsigned si, const struct xport_reply_rec *reply)
{
	struct udpd *u = tp;
	udpd_store_txn_end(u->st, si, reply);
}

/* A send the request triggered (UDP_CORK cleared) leaves once it is committed. */
void udpd_req_acted(void *tp)
{
	udpd_tx_done(tp);
}

/* A re-send of a request that is parked (same id, same operation): it is acted on once, and
 * the latest asker gets the answer. True if q was one. */
bool udpd_req_resent(void *tp, unsigned si, const Ustack__SockRequest *q, const uint8_t *ident,
		     size_t ident_len)
{
	struct udpd *u = tp;
	struct udpd_sx *s = &u->sx[si];
	for (unsigned i = 0; i < UDPD_REQ_WAITS; i++) {
		struct udpd_req_wait *w = &s->req_wait[i];
		if (!w->body_len || w->req_id != q->id || w->op != (int)q->op)
			continue;
		if (ident_len <= sizeof(w->ident)) {
			memcpy(w->ident, ident, ident_len);
			w->ident_len = (uint16_t)ident_len;
		}
		return true;
	}
	return false;
}

/* Park request q (its packed bytes) until the TX ring is read up to until. 0, or -EBUSY. */
static int udpd_req_park(struct udpd *u, unsigned si, const Ustack__SockRequest *q,
			 const uint8_t *body, size_t body_len, const uint8_t *ident,
			 size_t ident_len, uint64_t until)
{
	struct udpd_sx *s = &u->sx[si];
	struct udpd_req_wait *w = NULL;
	for (unsigned i = 0; i < UDPD_REQ_WAITS && !w; i++)
		if (!s->req_wait[i].body_len)
			w = &s->req_wait[i];
	if (!w || body_len > sizeof(w->body) || ident_len > sizeof(w->ident)) {
		u->stats.req_wait_busy++;
		return -EBUSY;
	}
	w->seq = ++s->req_wait_seq;
	u->stats.req_waited++;
	w->req_id = q->id;
	w->op = (int)q->op;
	w->until = until;
	memcpy(w->body, body, body_len);
	w->body_len = (uint16_t)body_len;
	memcpy(w->ident, ident, ident_len);
	w->ident_len = (uint16_t)ident_len;
	/* The TX round reads on from the next pass (no doorbell need come). */
	s->tx_pending = true;
	loop_source_pend(u->loop, u->x.sess_src);
	return 0;
}

/* Act on one request of attached session si (authenticated, not a replay, not a re-send of a
 * parked one): 0 with *r to send now, or XPORT_REPLY_LATER. */
int udpd_req_handle(void *tp, unsigned si_, const Ustack__SockRequest *q, Ustack__SockReply *r,
		    struct xport_req *req)
{
	struct udpd *u = tp;
	int si = (int)si_;
	const uint8_t *body = req->body, *ident = req->ident;
	size_t body_len = req->body_len, ident_len = req->ident_len;
	struct xport_session *s = &u->x.sess[si];
	struct udpd_sx *sx = &u->sx[si];
	/* What the application sent before this call happens before it (file comment). A call on
	 * a socket that does not exist (closed, never made) has nothing to follow: no record
	 * makes a socket, so its -EBADF cannot change, and it must not wait behind a producer
	 * that keeps the ring full. */
	uint64_t until = 0;
	if (udpd_op_ordered(q->op) && udp_sock_get(u->t, u->st->sessions[si].owner, q->sid) &&
	    ring_head_now(&s->region.tx, &until) == 0 &&
	    ring_read_pos(&s->region.tx) < until) {
		bool parked = false;
		for (unsigned i = 0; i < UDPD_REQ_WAITS; i++)
			parked = parked || sx->req_wait[i].body_len;
		if (!parked) {
			u->tx_bytes_end = u->tx_bytes + UDPD_TX_ROUND_BYTES;
			udpd_tx_session(u, (unsigned)si, UDPD_CLOSE_BUDGET, until);
			udpd_tx_done(u);
			if (s->state != XPORT_SESS_ATTACHED) {
				/* its ring was broken: the session and its sockets are gone */
				r->status = -ECONNABORTED;
				return 0;
			}
		}
		if (parked || ring_read_pos(&s->region.tx) < until) {
			int rc = udpd_req_park(u, (unsigned)si, q, body, body_len, ident, ident_len,
					       until);
			if (rc == 0)
				return XPORT_REPLY_LATER;
			r->status = rc;
			return 0;
		}
	}
	if (q->op == USTACK__SOCK_REQUEST__OP__CLOSE) {
		int rc = udpd_req_close_wait(u, (unsigned)si, q, ident, ident_len);
		if (rc == XPORT_REPLY_LATER)
			return rc;
		if (rc < 0) {
			r->status = rc;
			return 0;
		}
	}
	xport_req_act(&u->x, (unsigned)si, q, r, req);
	return 0;
}

/* Parked requests whose part of the ring has been read, oldest first. */
static void udpd_requests_parked_ready(struct udpd *u, unsigned si)
{
	struct xport_session *xs = &u->x.sess[si];
	struct udpd_sx *s = &u->sx[si];
	for (;;) {
		uint64_t pos = ring_read_pos(&xs->region.tx);
		struct udpd_req_wait *w = NULL;
		for (unsigned i = 0; i < UDPD_REQ_WAITS; i++) {
			struct udpd_req_wait *c = &s->req_wait[i];
			if (c->body_len && (!w || c->seq < w->seq))
				w = c;
		}
		if (!w || xs->state != XPORT_SESS_ATTACHED || pos < w->until)
			return;
		struct udpd_req_wait job = *w;
		w->body_len = 0;
		Ustack__SockRequest *q = ustack__sock_request__unpack(NULL, job.body_len, job.body);
		Ustack__SockReply r;
		ustack__sock_reply__init(&r);
		struct xport_req req = {.ident = job.ident, .ident_len = job.ident_len,
					.body = job.body, .body_len = job.body_len};
		if (!q)
			continue; /* it unpacked once: cannot happen */
		r.id = q->id;
		if (!xport_req_replay(&u->x, si, q, &r, &req))
			xport_req_act(&u->x, si, q, &r, &req);
		udpd_reply_send(u, job.ident, job.ident_len, &r);
		ustack__sock_request__free_unpacked(q, NULL);
	}
}

void udpd_requests_close_ready(struct udpd *u, unsigned si)
{
	struct xport_session *s = &u->x.sess[si];
	uint64_t pos = ring_read_pos(&s->region.tx);
	for (unsigned i = 0; i < UDPD_CLOSE_WAITS && s->state == XPORT_SESS_ATTACHED; i++) {
		struct udpd_close_wait *w = &u->sx[si].close_wait[i];
		if (!w->sid || pos < w->until)
			continue;
		Ustack__SockReply r;
		ustack__sock_reply__init(&r);
		r.id = w->req_id;
		uint32_t sid = w->sid;
		w->sid = 0;
		/* The close and the reply remembered for it commit together, as at once. */
		udpd_store_txn_begin(u->st, si);
		r.status = udpd_req_close_now(u, si, sid);
		struct udpd_reply_rec rr = {
			.id = r.id,
			.status = r.status,
			.op = (uint8_t)USTACK__SOCK_REQUEST__OP__CLOSE,
		};
		udpd_store_txn_end(u->st, si, &rr);
		udpd_reply_send(u, w->ident, w->ident_len, &r);
	}
	udpd_requests_parked_ready(u, si);
}

void udpd_requests_close_forget(void *tp, unsigned si)
{
	struct udpd *u = tp;
	memset(u->sx[si].close_wait, 0, sizeof(u->sx[si].close_wait));
	memset(u->sx[si].req_wait, 0, sizeof(u->sx[si].req_wait));
}
