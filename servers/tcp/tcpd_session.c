/* tcpd_session: tcpd's side of its applications' sessions. The session socket, the hello,
 * SESSION_NEW/RESUME, the epoll set, the resume grace period and the per-uid shares of
 * handshakes and sessions are every transport's (servers/transport/xport_session.c,
 * xport_quota.c); this file says what they mean for TCP:
 *
 *   open     the session record, one transaction (tcpd_store_session_open);
 *   attached every slot of the session published afresh from the core's connections (a
 *            resumed session's region is a new mapping, and its application may have missed
 *            changes while tcpd was away), slots tcpd does not serve marked RELEASED;
 *   leave    as Linux closes a process's sockets when it exits: each socket's pending sends
 *            and reads taken first (tcpd_sync), then tcp_close: unread data or SO_LINGER 0
 *            resets, otherwise the FIN follows the queued data and the connection finishes
 *            as an orphan, still sending from the slot's TX ring. The session stays CLOSING,
 *            its region mapped, until the last orphan gives its slot back
 *            (tcpd_session_maybe_done);
 *   end      (expiry of a detached session, a broken ring, the end of CLOSING) every
 *            connection still bound to a slot is reset (tcp_abort: the streams it sends from
 *            are going), every listener closed (its queued connections reset), then the binds
 *            and the record in one transaction;
 *   doorbell the session's slots have TX bytes or reads to take: tcpd_sync_pending does them
 *            from the events pass on, within TCPD_SYNC_BUDGET slots a pass.
 * The shares' TCP part: sockets (connections and listeners the uid's sessions hold, of the
 * core's TCP_CONNS_MAX + TCP_LISTENERS_MAX, at least the 64 one libsock process can open).
 * Pool buffers are held only within a loop pass (a segment batch), so no uid can pin them.
 */
#include <string.h>

#include "log.h"
#include "tcpd_priv.h"

static void tcpd_sess_open(void *tp, unsigned si, uint64_t id,
			   const uint8_t secret[SESSION_SECRET_LEN], uint32_t uid, uint32_t n_slots)
{
	struct tcpd *u = tp;
	tcpd_store_session_open(u->st, si, id, secret, uid, n_slots);
}

static void tcpd_sess_attached(void *tp, unsigned si, bool created)
{
	struct tcpd *u = tp;
	uint64_t now = clock_now();
	/* What the application counted before (a resume: while we were away) is not ours to
	 * report, and nothing we publish from now on has been read yet (region_app_collect). */
	struct region *r = tcpd_region(u, si);
	if (r)
		region_app_baseline(r->app_stats, &u->sx[si].app_last);
	u->sx[si].app_credit = 0;
	tcpd_session_publish(u, si, now);
	/* A session resumed after our restart: its connections' streams are reachable again, and
	 * what was in flight through the dead tcpd is lost; repair it now, not at the RTO
	 * (tcp_path_restored). Until now their segments could not be sent (tx_drop_detached). */
	if (!created) {
		u->stats.path_kicks += tcp_path_restored(u->t, now, u->st->sessions[si].owner,
							 tcpd_io(u));
		tcpd_io_run(u, now);
		tcpd_rearm(u);
	}
}

static bool tcpd_sess_has_binds(const struct tcpd *u, unsigned si)
{
	for (unsigned slot = 0; slot < REGION_SLOTS_MAX; slot++)
		if (u->st->binds[tcpd_bind_ix(si, slot)].cid)
			return true;
	return false;
}

static bool tcpd_sess_leave(void *tp, unsigned si)
{
	struct tcpd *u = tp;
	uint64_t now = clock_now();
	const struct xport_session_rec *rec = &u->st->sessions[si];
	for (unsigned slot = 0; slot < REGION_SLOTS_MAX; slot++) {
		uint32_t cid = rec->slot_sid[slot];
		unsigned b = tcpd_bind_ix(si, slot);
		if (!cid)
			continue;
		if (u->st->binds[b].cid == cid)
			tcpd_sync(u, b, now); /* what it sent and read before it left */
		if (u->x.sess[si].state != XPORT_SESS_ATTACHED)
			return false; /* a broken ring ended it */
		tcp_close(u->t, rec->owner, cid, now, tcpd_io(u));
		tcpd_store_begin(u->st);
		tcpd_rec_touch(u->st, si)->slot_sid[slot] = 0;
		bool listener = cid & TCP_CID_LISTENER;
		if (u->st->binds[b].cid == cid && !listener)
			tcpd_bind_touch(u->st, b)->flags |= TCPD_B_ORPHAN;
		tcpd_store_end(u->st);
		if (listener && u->st->binds[b].cid == cid)
			tcpd_release(u, b); /* a listener is gone at once */
	}
	tcpd_io_run(u, now);
	/* Orphans still holding a slot keep the session's region mapped. */
	for (unsigned slot = 0; slot < REGION_SLOTS_MAX; slot++) {
		unsigned b = tcpd_bind_ix(si, slot);
		if (u->st->binds[b].cid)
			tcpd_sync(u, b, now);
	}
	tcpd_io_run(u, now);
	tcpd_out_flush(u);
	tcpd_rearm(u);
	return u->x.sess[si].state == XPORT_SESS_ATTACHED && tcpd_sess_has_binds(u, si);
}

static void tcpd_sess_end(void *tp, unsigned si)
{
	struct tcpd *u = tp;
	uint64_t now = clock_now();
	const struct xport_session_rec *rec = &u->st->sessions[si];
	uint32_t owner = rec->owner;
	uint32_t cids[REGION_SLOTS_MAX];
	unsigned n = 0;
	/* Its last samples, while the region is still mapped: the total never goes down. */
	tcpd_app_collect(u, si);
	for (unsigned slot = 0; slot < REGION_SLOTS_MAX; slot++) {
		unsigned b = tcpd_bind_ix(si, slot);
		uint32_t cid = u->st->binds[b].cid;
		if (!cid)
			cid = rec->slot_sid[slot];
		if (cid)
			cids[n++] = cid;
		if (u->st->binds[b].cid) {
			tcpd_map_clear(u, u->st->binds[b].cid);
			u->bx[b] = (struct tcpd_bx){0};
		}
	}
	u->sess_pending[si] = false;
	tcpd_store_session_close(u->st, si); /* its binds and its record, one transaction */
	for (unsigned i = 0; i < n; i++) {
		if (cids[i] & TCP_CID_LISTENER) {
			tcp_close(u->t, owner, cids[i], now, tcpd_io(u));
		} else if (tcp_abort(u->t, cids[i], now, tcpd_io(u)) == 0) {
			u->stats.orphans_aborted++;
		}
	}
	tcpd_io_run(u, now);
	tcpd_out_flush(u);
	tcpd_rearm(u);
}

void tcpd_session_maybe_done(struct tcpd *u, unsigned si)
{
	if (u->x.sess[si].state == XPORT_SESS_CLOSING && !tcpd_sess_has_binds(u, si))
		xport_session_end(&u->x, si, "its last connections are done");
}

static void tcpd_sess_doorbell(void *tp, unsigned si)
{
	struct tcpd *u = tp;
	u->sess_pending[si] = true;
	for (unsigned slot = 0; slot < REGION_SLOTS_MAX; slot++) {
		unsigned b = tcpd_bind_ix(si, slot);
		if (u->st->binds[b].cid)
			u->bx[b].pending = true;
	}
}

static bool tcpd_sess_events_done(void *tp)
{
	struct tcpd *u = tp;
	uint64_t now = clock_now();
	bool more = tcpd_sync_pending(u, now);
	tcpd_io_run(u, now);
	tcpd_out_flush(u);
	tcpd_rearm(u);
	return more;
}

static unsigned tcpd_sess_uid_sockets(void *tp, uint32_t uid)
{
	return tcpd_uid_sockets(tp, uid);
}

const struct xport_ops tcpd_xport_ops = {
	.layer = TCPD_LAYER,
	.region_kind = REGION_KIND_STREAM,
	.session_open = tcpd_sess_open,
	.session_attached = tcpd_sess_attached,
	.session_leave = tcpd_sess_leave,
	.session_end = tcpd_sess_end,
	.doorbell = tcpd_sess_doorbell,
	.events_done = tcpd_sess_events_done,
	.op_mutates = tcpd_op_mutates,
	.dispatch = tcpd_req_dispatch,
	.txn_begin = tcpd_req_txn_begin,
	.txn_end = tcpd_req_txn_end,
	.acted = tcpd_req_acted,
	.replayed = tcpd_req_replayed,
	.forget = tcpd_req_forget,
	.uid_sockets = tcpd_sess_uid_sockets,
};

void tcpd_quota_init(struct tcpd *u)
{
	xport_quota_init(&u->x, &u->cfg, TCP_CONNS_MAX + TCP_LISTENERS_MAX, REGION_SLOTS_MAX,
			 pool_count(u->pool), 64);
}

unsigned tcpd_uid_sockets(const struct tcpd *u, uint32_t uid)
{
	unsigned n = 0;
	for (unsigned k = 0; k < TCP_CONNS_MAX + TCP_LISTENERS_MAX; k++) {
		uint32_t owner = k < TCP_CONNS_MAX ? u->t->conn[k].owner
						   : u->t->lis[k - TCP_CONNS_MAX].owner;
		bool used = k < TCP_CONNS_MAX ? u->t->conn[k].in_use
					      : u->t->lis[k - TCP_CONNS_MAX].in_use;
		if (!used || !owner)
			continue;
		int si = xport_session_of(&u->x, owner);
		n += si >= 0 && u->st->sessions[si].creator_uid == uid;
	}
	return n;
}
