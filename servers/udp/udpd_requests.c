/* udpd_requests: socket requests (proto/sock.proto) from libsock on the udpd.sock ROUTER.
 *
 * A request is a two-frame ROUTER message [identity][SockRequest] (what a DEALER sends); the
 * reply is [identity][SockReply], sent with ZMQ_DONTWAIT so an application that stopped reading
 * never wedges the loop. Anything else is answered -EBADMSG when an identity is known and
 * dropped otherwise; nothing in a request is trusted beyond what protobuf-c validated, and
 * ZMQ_MAXMSGSIZE makes ZeroMQ drop a peer that sends frames above UDPD_REQ_MAX. A request
 * that does not parse cannot name its session, so no session is closed for it.
 *
 * Order of checks, each with Linux's errno where Linux has the case:
 *   1. session id + secret (constant time) of a session record in use, else -EPERM: one
 *      application cannot name another's sockets;
 *   2. the session is attached, else -ENOTCONN (restarted, not resumed yet: libsock resumes
 *      and re-sends under the same id);
 *   3. a mutating request whose id is in the session's reply record is answered from it, not
 *      acted on twice (libsock re-sends across a restart; the record is in the state segment);
 *   4. the socket is the session's (the core checks the owner: -EBADF), then the operation.
 *
 * Idempotent replay: a mutating request runs in one transaction of the state segment together
 * with the reply remembered for it (udpd_store.h), so a udpd killed at any point of it leaves
 * either both (the re-sent request is answered from the reply) or neither (it runs as for the
 * first time, on the state it would have found the first time). What the request makes happen
 * outside the segment (a corked datagram sent when UDP_CORK is cleared) happens after the
 * commit.
 *
 * Errnos the shell decides (the core's are Linux's already):
 *   SOCKET   slot not in the region: -EINVAL; slot already holds a socket: -EBUSY;
 *            table full: -EMFILE (the core's; Linux says EMFILE/ENFILE for descriptors);
 *   BIND     port above 65535: -EINVAL; a port below 1024 needs a session created by uid 0:
 *            -EACCES (Linux without CAP_NET_BIND_SERVICE, ip_unprivileged_port_start = 1024;
 *            we cannot see capabilities through SO_PEERCRED, so uid 0 stands for them);
 *   CONNECT  port above 65535: -EINVAL;
 *   SETOPT   no value: -EINVAL (Linux: optlen < sizeof(int));
 *   GETOPT   optval in the request gives the caller's optlen (its bytes are ignored), 4 when
 *            empty; at most UDPD_OPTVAL_MAX;
 *   unknown op: -EINVAL.
 * Clearing UDP_CORK sends the corked datagram (udp_push_pending), as Linux does.
 */
#include <arpa/inet.h>
#include <errno.h>
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
#include "router.h"
#include "udpd_priv.h"

#define UDPD_REQ_MAX 1024     /* a packed SockRequest is ~100 bytes */
#define UDPD_IDENTITY_MAX 256
#define UDPD_OPTVAL_MAX 64

static int udpd_router_path(const char *instance, char *path, size_t size)
{
	return ustack_runtime_path(instance, UDPD_LAYER ".sock", path, size);
}

int udpd_requests_open(struct udpd *u)
{
	char path[256], ep[300];
	int rc = udpd_router_path(u->instance, path, sizeof(path));
	if (rc == 0)
		rc = ustack_runtime_dir_create(u->instance);
	if (rc < 0)
		return rc;
	snprintf(ep, sizeof(ep), "ipc://%s", path);
	unlink(path); /* a socket file left by a killed predecessor would make bind fail */
	u->router = zmq_socket(u->zctx, ZMQ_ROUTER);
	if (!u->router)
		return -errno;
	int linger = 0;
	int64_t maxmsg = UDPD_REQ_MAX;
	zmq_setsockopt(u->router, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(u->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	if (zmq_bind(u->router, ep) < 0)
		return -errno;
	/* Any local user may send requests, as any may use a kernel socket: the session secret,
	 * not the file mode, keeps applications apart. */
	chmod(path, 0666);
	return 0;
}

void udpd_requests_close(struct udpd *u)
{
	if (u->router)
		zmq_close(u->router);
	u->router = NULL;
}

static void udpd_reply_send(struct udpd *u, const void *ident, size_t ident_len,
			    const Ustack__SockReply *r)
{
	uint8_t body[128 + UDPD_OPTVAL_MAX];
	size_t len = ustack__sock_reply__get_packed_size(r);
	if (len > sizeof(body)) {
		u->stats.req_reply_drops++;
		return;
	}
	ustack__sock_reply__pack(r, body);
	if (zmq_send(u->router, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(u->router, body, len, ZMQ_DONTWAIT) < 0)
		u->stats.req_reply_drops++;
}

static bool udpd_op_mutates(int op)
{
	switch (op) {
	case USTACK__SOCK_REQUEST__OP__SOCKET:
	case USTACK__SOCK_REQUEST__OP__BIND:
	case USTACK__SOCK_REQUEST__OP__CONNECT:
	case USTACK__SOCK_REQUEST__OP__DISCONNECT:
	case USTACK__SOCK_REQUEST__OP__CLOSE:
	case USTACK__SOCK_REQUEST__OP__SETOPT:
		return true;
	default:
		return false;
	}
}

/* What udp_bind accepts as a local address (udp_core.h): ANY, ours, a broadcast address. */
static bool udpd_addr_bindable(const struct udp_host *h, uint32_t addr)
{
	if (addr == 0 || addr == h->addr || addr == 0xffffffffu)
		return true;
	if (h->prefix_len == 0 || h->prefix_len >= 31)
		return false;
	uint32_t mask = htonl(0xffffffffu << (32 - h->prefix_len));
	return addr == (h->addr | ~mask);
}

static int udpd_req_socket(struct udpd *u, unsigned si, const Ustack__SockRequest *q,
			   Ustack__SockReply *r)
{
	uint32_t sid;
	int rc = udpd_store_socket(u->st, si, q->slot, &sid);
	if (rc < 0)
		return rc;
	unsigned k = sid & 0xffffu;
	udpd_cork_free(u, k); /* nothing should be there; make sure */
	u->sock_slot[k] = (uint8_t)q->slot;
	r->sid = sid;
	return 0;
}

static int udpd_req_close(struct udpd *u, unsigned si, const Ustack__SockRequest *q)
{
	int rc = udpd_store_close(u->st, si, q->sid);
	if (rc < 0)
		return rc;
	unsigned k = q->sid & 0xffffu;
	u->sock_slot[k] = UDPD_SLOT_NONE;
	udpd_cork_free(u, k);
	return 0;
}

static int udpd_req_setopt(struct udpd *u, unsigned si, const Ustack__SockRequest *q)
{
	struct udpd_session_rec *rec = &u->st->sessions[si];
	if (!q->optval.data || q->optval.len == 0)
		return -EINVAL;
	int rc = udp_setopt(u->t, rec->owner, q->sid, q->level, q->optname, q->optval.data,
			    q->optval.len);
	if (rc == 0 && q->level == SOL_UDP && q->optname == UDP_CORK) {
		/* Clearing UDP_CORK sends what is corked (Linux udp_push_pending_frames). */
		const struct udp_sock *s = udp_sock_get(u->t, rec->owner, q->sid);
		if (s && !(s->flags & UDP_SOCK_F_CORK)) {
			struct udp_tx tx;
			if (udp_push_pending(u->t, rec->owner, q->sid, &tx) == 0)
				udpd_tx_apply(u, q->sid, &tx, NULL, 0);
		}
	}
	return rc;
}

static int udpd_req_getopt(struct udpd *u, unsigned si, const Ustack__SockRequest *q,
			   Ustack__SockReply *r, uint8_t *val)
{
	struct udpd_session_rec *rec = &u->st->sessions[si];
	size_t len = q->optval.len ? q->optval.len : sizeof(int);
	if (len > UDPD_OPTVAL_MAX)
		len = UDPD_OPTVAL_MAX;
	int rc = udp_getopt(u->t, rec->owner, q->sid, q->level, q->optname, val, &len);
	if (rc < 0)
		return rc;
	r->optval.data = val;
	r->optval.len = len;
	return 0;
}

static int udpd_req_dispatch(struct udpd *u, unsigned si, const Ustack__SockRequest *q,
			     Ustack__SockReply *r, uint8_t *optbuf)
{
	struct udpd_session_rec *rec = &u->st->sessions[si];
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
		    udp_sock_get(u->t, owner, q->sid) && udpd_addr_bindable(&u->host, q->addr))
			return -EACCES;
		return udp_bind(u->t, owner, q->sid, &u->host, q->addr, htons((uint16_t)q->port));
	case USTACK__SOCK_REQUEST__OP__CONNECT:
		if (q->port > 0xffffu)
			return -EINVAL;
		return udp_connect(u->t, owner, q->sid, &u->host, q->addr,
				   htons((uint16_t)q->port));
	case USTACK__SOCK_REQUEST__OP__DISCONNECT:
		return udp_disconnect(u->t, owner, q->sid);
	case USTACK__SOCK_REQUEST__OP__CLOSE:
		return udpd_req_close(u, si, q);
	case USTACK__SOCK_REQUEST__OP__SETOPT:
		return udpd_req_setopt(u, si, q);
	case USTACK__SOCK_REQUEST__OP__GETOPT:
		return udpd_req_getopt(u, si, q, r, optbuf);
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

/* Find the session a request names, checking its secret. Record index, or negative errno. */
static int udpd_req_session(struct udpd *u, const Ustack__SockRequest *q)
{
	for (unsigned si = 0; si < UDPD_SESSIONS_MAX; si++) {
		const struct udpd_session_rec *rec = &u->st->sessions[si];
		if (!rec->in_use || rec->id != q->session)
			continue;
		if (!udpd_secret_equal(rec->secret, q->secret.data, q->secret.len))
			break;
		if (u->sess[si].state != UDPD_SESS_ATTACHED) {
			u->stats.req_detached++;
			return -ENOTCONN;
		}
		return (int)si;
	}
	u->stats.req_eperm++;
	return -EPERM;
}

static void udpd_req_handle(struct udpd *u, const Ustack__SockRequest *q, Ustack__SockReply *r,
			    uint8_t *optbuf)
{
	int si = udpd_req_session(u, q);
	if (si < 0) {
		r->status = si;
		return;
	}
	if (!udpd_op_mutates(q->op)) {
		int rc = udpd_req_dispatch(u, (unsigned)si, q, r, optbuf);
		r->status = rc < 0 ? rc : 0;
		return;
	}
	const struct udpd_reply_rec *old = udpd_store_reply_find(u->st, (unsigned)si, q->id,
								 (uint8_t)q->op);
	if (old) {
		u->stats.req_replayed++;
		r->status = old->status;
		r->sid = old->sid;
		r->addr = old->addr;
		r->port = old->port;
		return;
	}
	if (q->op == USTACK__SOCK_REQUEST__OP__CLOSE) {
		/* Datagrams sent before close() must still go out: they are ahead of it in the
		 * TX ring, which the request channel does not order against. Before the
		 * transaction: they are sends of their own, and a broken ring ends the session. */
		udpd_tx_flush(u, (unsigned)si);
		if (u->sess[si].state != UDPD_SESS_ATTACHED) {
			r->status = -EBADF; /* the session and its sockets are gone */
			return;
		}
	}
	/* The change and the reply that describes it commit together (udpd_store.h): a re-sent
	 * request finds the reply, or finds nothing of its first run. */
	udpd_store_txn_begin(u->st, (unsigned)si);
	int rc = udpd_req_dispatch(u, (unsigned)si, q, r, optbuf);
	r->status = rc < 0 ? rc : 0;
	struct udpd_reply_rec rr = {
		.id = q->id,
		.status = r->status,
		.sid = r->sid,
		.addr = r->addr,
		.port = (uint16_t)r->port,
		.op = (uint8_t)q->op,
	};
	udpd_store_txn_end(u->st, (unsigned)si, &rr);
	/* A send the request triggered (UDP_CORK cleared) leaves once it is committed. */
	udpd_out_flush(u);
}

bool udpd_requests_ready(void *arg, uint64_t now)
{
	struct udpd *u = arg;
	unsigned served = 0;
	(void)now;
	while (served < UDPD_REQ_BUDGET) {
		uint8_t ident[UDPD_IDENTITY_MAX];
		uint8_t body[UDPD_REQ_MAX];
		size_t ilen = 0;
		int blen = router_recv(u->router, ident, sizeof(ident), &ilen, body, sizeof(body));
		if (blen == -EAGAIN)
			break;
		served++;
		if (blen == -ENOMSG) {
			u->stats.req_malformed++;
			continue; /* no usable identity: nobody to answer */
		}
		Ustack__SockRequest *q = NULL;
		if (blen >= 0)
			q = ustack__sock_request__unpack(NULL, (size_t)blen, body);
		Ustack__SockReply r;
		ustack__sock_reply__init(&r);
		uint8_t optbuf[UDPD_OPTVAL_MAX];
		u->stats.req_total++;
		if (!q) {
			u->stats.req_malformed++;
			r.status = -EBADMSG;
		} else {
			r.id = q->id;
			udpd_req_handle(u, q, &r, optbuf);
		}
		udpd_reply_send(u, ident, ilen, &r);
		if (q)
			ustack__sock_request__free_unpacked(q, NULL);
	}
	udpd_wake_flush(u);
	return served == UDPD_REQ_BUDGET;
}
