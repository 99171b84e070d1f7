/* xport_requests: socket requests (proto/sock.proto) from libsock on a transport's
 * <runtime dir>/<layer>.sock ROUTER.
 *
 * A request is a two-frame ROUTER message [identity][SockRequest] (what a DEALER sends); the
 * reply is [identity][SockReply], sent with ZMQ_DONTWAIT so an application that stopped reading
 * never wedges the loop. ZMQ_ROUTER_MANDATORY: a reply ZeroMQ cannot take (the client's queue
 * holds XPORT_REPLY_QUEUE replies it has not read, or the client is gone) fails instead of
 * vanishing, and is counted in req_reply_drops (without it a ROUTER drops such a message
 * silently, and a client pipelining 2,000 requests lost 500 answers with the counter at 0);
 * the client's own timeout and retry cover it, as for a reply lost in a restart.
 *
 * Anything else is answered -EBADMSG when an identity is known and dropped otherwise; nothing
 * in a request is trusted beyond what protobuf-c validated, and ZMQ_MAXMSGSIZE makes ZeroMQ
 * drop a peer that sends frames above XPORT_REQ_MAX. A request that does not parse cannot name
 * its session, so no session is closed for it.
 *
 * Order of checks, each with Linux's errno where Linux has the case:
 *   1. session id + secret (constant time) of a session record in use, else -EPERM: one
 *      application cannot name another's sockets;
 *   2. the session is attached, else -ENOTCONN with the reply's `detached` flag (restarted,
 *      not resumed yet: libsock resumes and re-sends under the same id; the flag, not the
 *      errno, says so, since ENOTCONN is also getpeername's and shutdown's real answer);
 *   3. a mutating request whose id is in the session's reply records is answered from them, not
 *      acted on twice (libsock re-sends across a restart; the records are in the state segment);
 *   4. the transport's handle (ordering, waits: udpd's), then the operation; the socket is the
 *      session's (the core checks the owner: -EBADF).
 *
 * Idempotent replay: a mutating request runs in one transaction of the state segment together
 * with the reply remembered for it (xport_store.h), so a server killed at any point of it
 * leaves either both (the re-sent request is answered from the reply) or neither (it runs as
 * for the first time, on the state it would have found the first time). What it makes happen
 * outside the segment (output, the reply itself) leaves after the commit (xport_ops.acted).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "paths.h"
#include "router.h"
#include "runtime_sock.h"
#include "xport.h"

int xport_requests_open(struct xport *x, void *zctx)
{
	char file[64], path[256];
	snprintf(file, sizeof(file), "%s.sock", x->ops->layer);
	int rc = ustack_runtime_path(x->instance, file, path, sizeof(path));
	if (rc == 0)
		rc = ustack_runtime_dir_create(x->instance);
	if (rc < 0)
		return rc;
	x->zctx = zctx;
	x->router = zmq_socket(zctx, ZMQ_ROUTER);
	if (!x->router)
		return -errno;
	int linger = 0, mandatory = 1, queue = XPORT_REPLY_QUEUE;
	int64_t maxmsg = XPORT_REQ_MAX;
	if (zmq_setsockopt(x->router, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(x->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) < 0 ||
	    zmq_setsockopt(x->router, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof(mandatory)) < 0 ||
	    zmq_setsockopt(x->router, ZMQ_SNDHWM, &queue, sizeof(queue)) < 0)
		return -errno;
	/* Any local user may send requests, as any may use a kernel socket: the session secret,
	 * not the file mode, keeps applications apart. */
	return runtime_sock_bind_zmq(x->router, path, 0666);
}

void xport_reply_send(struct xport *x, const void *ident, size_t ident_len,
		      const Ustack__SockReply *r)
{
	uint8_t body[XPORT_REPLY_MAX];
	size_t len = ustack__sock_reply__get_packed_size(r);
	if (len > sizeof(body)) {
		x->stats.req_reply_drops++;
		return;
	}
	ustack__sock_reply__pack(r, body);
	if (zmq_send(x->router, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(x->router, body, len, ZMQ_DONTWAIT) < 0)
		x->stats.req_reply_drops++;
}

void xport_req_act(struct xport *x, unsigned si, const Ustack__SockRequest *q,
		   Ustack__SockReply *r, struct xport_req *req)
{
	if (!x->ops->op_mutates(q->op)) {
		int rc = x->ops->dispatch(x->tp, si, q, r, req);
		r->status = rc < 0 ? rc : 0;
		if (x->ops->acted)
			x->ops->acted(x->tp);
		return;
	}
	x->ops->txn_begin(x->tp, si);
	int rc = x->ops->dispatch(x->tp, si, q, r, req);
	r->status = rc < 0 ? rc : 0;
	struct xport_reply_rec rr = {
		.id = q->id,
		.status = r->status,
		.sid = r->sid,
		.addr = r->addr,
		.port = (uint16_t)r->port,
		.op = (uint8_t)q->op,
	};
	x->ops->txn_end(x->tp, si, &rr);
	/* Output the request caused leaves once it is committed. */
	if (x->ops->acted)
		x->ops->acted(x->tp);
}

bool xport_req_replay(struct xport *x, unsigned si, const Ustack__SockRequest *q,
		      Ustack__SockReply *r, struct xport_req *req)
{
	if (!x->ops->op_mutates(q->op))
		return false;
	const struct xport_reply_rec *old = xport_reply_find(x->recs, si, q->id, (uint8_t)q->op);
	if (!old)
		return false;
	x->stats.req_replayed++;
	r->status = old->status;
	r->sid = old->sid;
	r->addr = old->addr;
	r->port = old->port;
	if (x->ops->replayed)
		x->ops->replayed(x->tp, si, q, r, req);
	return true;
}

/* Find the session a request names, checking its secret. Record index, or negative errno. */
static int xport_req_session(struct xport *x, const Ustack__SockRequest *q)
{
	for (unsigned si = 0; si < XPORT_SESSIONS_MAX; si++) {
		const struct xport_session_rec *rec = &x->recs[si];
		if (!rec->in_use || rec->id != q->session)
			continue;
		if (!xport_secret_equal(rec->secret, q->secret.data, q->secret.len))
			break;
		if (x->sess[si].state != XPORT_SESS_ATTACHED) {
			x->stats.req_detached++;
			return -ENOTCONN;
		}
		return (int)si;
	}
	x->stats.req_eperm++;
	return -EPERM;
}

/* Act on one request: 0 with *r to send now, or XPORT_REPLY_LATER. */
static int xport_req_handle(struct xport *x, const Ustack__SockRequest *q, Ustack__SockReply *r,
			    struct xport_req *req)
{
	int si = xport_req_session(x, q);
	if (si < 0) {
		r->status = si;
		r->detached = si == -ENOTCONN; /* the only -ENOTCONN xport_req_session gives */
		return 0;
	}
	if (xport_req_replay(x, (unsigned)si, q, r, req))
		return 0;
	if (x->ops->resent && x->ops->resent(x->tp, (unsigned)si, q, req->ident, req->ident_len))
		return XPORT_REPLY_LATER;
	if (x->ops->handle)
		return x->ops->handle(x->tp, (unsigned)si, q, r, req);
	xport_req_act(x, (unsigned)si, q, r, req);
	return 0;
}

bool xport_requests_ready(void *arg, uint64_t now)
{
	struct xport *x = arg;
	unsigned served = 0;
	(void)now;
	while (served < XPORT_REQ_BUDGET) {
		uint8_t ident[XPORT_IDENTITY_MAX];
		uint8_t body[XPORT_REQ_MAX];
		size_t ilen = 0;
		int blen = router_recv(x->router, ident, sizeof(ident), &ilen, body, sizeof(body));
		if (blen == -EAGAIN)
			break;
		served++;
		if (blen == -ENOMSG) {
			x->stats.req_malformed++;
			continue; /* no usable identity: nobody to answer */
		}
		Ustack__SockRequest *q = NULL;
		if (blen >= 0)
			q = ustack__sock_request__unpack(NULL, (size_t)blen, body);
		Ustack__SockReply r;
		ustack__sock_reply__init(&r);
		struct xport_req req = {.ident = ident, .ident_len = ilen, .body = body,
					.body_len = blen > 0 ? (size_t)blen : 0};
		x->stats.req_total++;
		if (!q) {
			x->stats.req_malformed++;
			r.status = -EBADMSG;
		} else {
			r.id = q->id;
			if (xport_req_handle(x, q, &r, &req) == XPORT_REPLY_LATER) {
				ustack__sock_request__free_unpacked(q, NULL);
				continue;
			}
		}
		xport_reply_send(x, ident, ilen, &r);
		if (q)
			ustack__sock_request__free_unpacked(q, NULL);
	}
	xport_wake_flush(x);
	return served == XPORT_REQ_BUDGET;
}
