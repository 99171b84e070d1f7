/* sock_req: the request channels to the transport servers (proto/sock.proto over a ZeroMQ
 * DEALER per transport, connected to <runtime dir>/udpd.sock or tcpd.sock).
 *
 * One request at a time per process and transport (its req_lock): requests are short, and a
 * DEALER is not thread-safe anyway. Every request gets the next id of a per-process counter; a reply whose id
 * is not the one we wait for is a late answer to a request we already gave up on, or a second
 * answer to one we re-sent, and is skipped.
 *
 * Restart (docs/ARCHITECTURE.md, restart contract): the server keeps its sockets in its state
 * segment and answers a repeated (session, id) from its record instead of acting twice, so
 * re-sending the SAME request is always safe. We re-send when no reply came within
 * SOCK_REQ_TIMEOUT_MS, or at once when the session's connection hangs up meanwhile (the server
 * died: the reply will never come), first resuming the session, and give up after
 * SOCK_RESTART_BOUND_MS with the errno that says what went wrong:
 *   -ENETDOWN      the server could not be reached at all (no session connection possible);
 *   -ETIMEDOUT     it was connected but did not answer;
 *   -ECONNABORTED  it came back without our session: the sockets' state is really lost.
 * EIO would be the lazy choice; Linux never returns it from a socket call, so no application
 * handles it.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "sock_priv.h"

#define SOCK_REQ_BUF 512 /* a packed SockRequest: ids, addresses and <= SOCK_OPTVAL_MAX bytes */

static int sock_req_send(struct sock_tport *t, const Ustack__SockRequest *req)
{
	uint8_t buf[SOCK_REQ_BUF];
	size_t len = ustack__sock_request__get_packed_size(req);
	if (len > sizeof(buf))
		return -EMSGSIZE;
	ustack__sock_request__pack(req, buf);
	/* DONTWAIT: when the pipe is full (the server is gone and we keep re-sending) the message
	 * is simply not queued; the next attempt tries again. */
	if (zmq_send(t->dealer, buf, len, ZMQ_DONTWAIT) < 0)
		return errno == EAGAIN ? 0 : -errno;
	return 0;
}

static void sock_req_copy_reply(const Ustack__SockReply *r, struct sock_reply *rep)
{
	rep->status = r->status;
	rep->sid = r->sid;
	rep->addr = r->addr;
	rep->port = (uint16_t)r->port;
	rep->optlen = r->optval.len < sizeof(rep->optval) ? r->optval.len : sizeof(rep->optval);
	if (rep->optlen)
		memcpy(rep->optval, r->optval.data, rep->optlen);
	rep->prefix_len = r->prefix_len;
	rep->gateway = r->gateway;
	rep->mtu = r->mtu;
	rep->offender = r->offender;
	rep->next_err = r->next_err;
	rep->datalen = r->data.len < sizeof(rep->data) ? r->data.len : sizeof(rep->data);
	if (rep->datalen)
		memcpy(rep->data, r->data.data, rep->datalen);
	rep->peer_addr = r->peer_addr;
	rep->peer_port = (uint16_t)r->peer_port;
	rep->detached = r->detached;
}

/* Wait up to timeout_ms for the reply to id. 0 (rep filled), -ETIMEDOUT, -EPIPE (the session's
 * connection hung up: the server died, and no reply will come from it), or -errno.
 *
 * The session connection is watched beside the DEALER because we hold req_lock: a request
 * in flight when the server was killed would otherwise wait out the whole SOCK_REQ_TIMEOUT_MS,
 * and with it the watcher thread, which needs req_lock to resume. Until the resume nothing of
 * the session moves (the new server drops its segments, tx_drop_detached and rx_drop_detached),
 * so one dial in flight cost every connection of the process 300 ms, and TCP's backoff made
 * that 420-750 ms of silence (nine tcpd kills in 80 under the campaign's traffic). */
static int sock_req_wait(unsigned tp, uint64_t id, int timeout_ms, struct sock_reply *rep)
{
	struct sock_tport *t = sock_tport(tp);
	uint64_t deadline = sock_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		uint64_t now = sock_now_ms();
		long left = now >= deadline ? 0 : (long)(deadline - now);
		zmq_pollitem_t it[2] = {
			{.socket = t->dealer, .events = ZMQ_POLLIN},
			{.socket = NULL, .fd = t->session_fd, .events = ZMQ_POLLIN},
		};
		int n = zmq_poll(it, t->session_fd >= 0 ? 2 : 1, left);
		if (n < 0) {
			if (errno == EINTR)
				continue; /* a signal must not cut a control call short */
			return -errno;
		}
		if (n == 0)
			return -ETIMEDOUT;
		if (t->session_fd >= 0 && it[1].revents && !sock_session_alive_locked(tp))
			return -EPIPE;
		if (!(it[0].revents & ZMQ_POLLIN))
			continue;
		zmq_msg_t msg;
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, t->dealer, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			continue;
		}
		Ustack__SockReply *r =
			ustack__sock_reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
		zmq_msg_close(&msg);
		if (!r)
			continue; /* garbage from the server: not an answer to anything */
		bool match = r->id == id;
		if (match)
			sock_req_copy_reply(r, rep);
		ustack__sock_reply__free_unpacked(r, NULL);
		if (match)
			return 0;
	}
}

static void sock_req_pause_ms(int ms)
{
	poll(NULL, 0, ms);
}

static int sock_req_call_bound_locked(unsigned tp, Ustack__SockRequest *req,
				      struct sock_reply *rep, unsigned bound_ms)
{
	struct sock_tport *t = sock_tport(tp);
	uint64_t start = sock_now_ms(), deadline = start + bound_ms;
	int fail = -ETIMEDOUT;
	unsigned sent = 0, stale = 0;

	memset(rep, 0, sizeof(*rep));
	if (!t->ready)
		return -ENETDOWN; /* never set up: no socket of this type can exist */
	req->id = ++t->next_id;
	for (;;) {
		if (!sock_session_alive_locked(tp)) {
			int rc = sock_session_resume_locked(tp);
			if (rc == -ECONNABORTED)
				return rc;
			if (rc < 0) {
				fail = -ENETDOWN;
				if (sock_now_ms() >= deadline)
					return fail;
				sock_req_pause_ms(sock_session_retry_ms(start));
				continue;
			}
			stale = sent; /* copies sent before the resume: see below */
		}
		req->session = t->session;
		req->secret.len = SESSION_SECRET_LEN;
		req->secret.data = t->secret;
		int rc = sock_req_send(t, req);
		if (rc < 0)
			return rc == -EMSGSIZE ? -EINVAL : -ENETDOWN;
		sent++;

		uint64_t now = sock_now_ms();
		uint64_t left = deadline > now ? deadline - now : 0;
		int wait = left < SOCK_REQ_TIMEOUT_MS ? (int)left : SOCK_REQ_TIMEOUT_MS;
		rc = sock_req_wait(tp, req->id, wait, rep);
		/* A copy sent before we resumed can still be queued in ZeroMQ when the server
		 * restarts, reach the new process before our resume does, and be answered
		 * `detached` after we resumed: that answer, with the same id, is not the one to the
		 * copy just sent, which follows it. */
		while (rc == 0 && rep->detached && stale > 0 && sock_session_alive_locked(tp)) {
			stale--;
			now = sock_now_ms();
			left = deadline > now ? deadline - now : 0;
			wait = left < SOCK_REQ_TIMEOUT_MS ? (int)left : SOCK_REQ_TIMEOUT_MS;
			rc = sock_req_wait(tp, req->id, wait, rep);
		}
		if (rc == 0) {
			/* `detached`: a restarted server that has our session in its state but
			 * not attached; the copy was queued before the old process died. It is
			 * never the answer, whatever the op (its -ENOTCONN is also getpeername's
			 * and shutdown's real one, hence the flag). Our connection to the old
			 * process hung up the moment it died, so the loop resumes and sends again.
			 * A session that still looks alive (the server restarted twice, or the
			 * hang-up is not visible yet) is looked at again after a pause, not spun
			 * on. (Never close a live session connection: the server would close
			 * every socket of the session.) */
			if (!rep->detached)
				return 0;
			fail = -ETIMEDOUT;
			if (sock_session_alive_locked(tp))
				sock_req_pause_ms(20);
		} else if (rc == -EPIPE) {
			/* The server died with our request in flight: resume (at the top) and send
			 * again now, not after the rest of the timeout. */
			fail = -ETIMEDOUT;
		} else if (rc != -ETIMEDOUT) {
			return -ENETDOWN;
		} else {
			fail = -ETIMEDOUT;
		}
		if (sock_now_ms() >= deadline)
			return fail;
	}
}

int sock_req_call_locked(unsigned tp, Ustack__SockRequest *req, struct sock_reply *rep)
{
	return sock_req_call_bound_locked(tp, req, rep, SOCK_RESTART_BOUND_MS);
}

int sock_req_call_bounded(unsigned tp, Ustack__SockRequest *req, struct sock_reply *rep,
			  unsigned bound_ms)
{
	struct sock_tport *t = sock_tport(tp);
	pthread_mutex_lock(&t->req_lock);
	int rc = sock_req_call_bound_locked(tp, req, rep, bound_ms);
	pthread_mutex_unlock(&t->req_lock);
	return rc;
}

int sock_req_call(unsigned tp, Ustack__SockRequest *req, struct sock_reply *rep)
{
	return sock_req_call_bounded(tp, req, rep, SOCK_RESTART_BOUND_MS);
}

int sock_req_sock(const struct sock_ref *ref, Ustack__SockRequest *req, struct sock_reply *rep)
{
	req->sid = ref->sid;
	req->slot = ref->slot;
	int rc = sock_req_call(ref->tp, req, rep);
	return rc < 0 ? rc : rep->status;
}
