/* udpd_session: udpd's side of its applications' sessions. The session socket, the hello,
 * SESSION_NEW/RESUME, the epoll set, the resume grace period and the per-uid shares of
 * handshakes and sessions are every transport's (servers/transport/xport_session.c,
 * xport_quota.c); this file says what they mean for UDP:
 *
 *   open     the session record, in one transaction with closing any socket that still
 *            carried its new owner (udpd_store_session_open);
 *   attached no corked payload of the session exists in this process (a restart lost it, a
 *            new session has none): every slot's tx_held is zeroed and blocked senders may
 *            look again; the TX ring is read from the next pass (records produced while udpd
 *            was away);
 *   leave    what the application queued before it left is sent, as Linux sends what a process
 *            queued before it exited, as far as its sockets' send buffers reach: with libsock
 *            that is everything send() accepted; a hostile producer's ring (up to
 *            REGION_SIZE_MAX of empty records) is cut there (tx_drop_closed_bytes), so leaving
 *            costs udpd a bounded amount of work, done in TX budgets. The session is CLOSING
 *            until the TX round has read up to drain_until (udpd_data.c), then ends;
 *   end      corks freed, then its sockets and its record in one transaction
 *            (udpd_store_session_close);
 *   doorbell the TX ring has records: the TX round reads it this pass. The application rings
 *            only when udpd asked for it (ring.h, doorbell suppression): udpd does when a
 *            turn finds the ring empty, and cancels it when it takes records again, so while
 *            it keeps up a sender makes no system call to wake it.
 *
 * The application's statistics area (region.h): on attaching, udpd takes its buckets as they
 * are (what was counted before is not reported again) with no credit; udpd_app_collect folds
 * what grew since into app_transit_from_udpd, at every STATS and once more when the session
 * ends, so the reported histogram keeps the samples of applications gone and only grows. After
 * a restart, datagrams an earlier udpd delivered may be taken with no credit left for them:
 * those few samples are refused (app_hist_over_credit), which honest clients otherwise never
 * cause.
 *
 * The shares' UDP part: sockets (of UDP_SOCKETS_MAX, at least the 64 one libsock process can
 * open), pool buffers in flight for a uid (corked payload and datagrams in the batch to ipd),
 * and corking: a quarter of the pool in all (Linux's udp_mem), a uid its share of that. TX stops
 * taking buffers when only an eighth of the pool is left, for nicd's receive slots and every
 * other layer. The batch to ipd is flushed early rather than exceed a uid's buffers (nothing is
 * lost); corking beyond uid_corked drops the corked datagram (tx_drop_cork_limit).
 */
#include <stdatomic.h>
#include <string.h>

#include "log.h"
#include "udpd_priv.h"

void udpd_session_end(struct udpd *u, unsigned si, const char *why)
{
	xport_session_end(&u->x, si, why);
}

static void udpd_sess_open(void *tp, unsigned si, uint64_t id,
			   const uint8_t secret[SESSION_SECRET_LEN], uint32_t uid, uint32_t n_slots)
{
	struct udpd *u = tp;
	udpd_store_session_open(u->st, si, id, secret, uid, n_slots);
}

static void udpd_sess_attached(void *tp, unsigned si, bool created)
{
	struct udpd *u = tp;
	struct xport_session *s = &u->x.sess[si];
	struct udpd_sx *sx = &u->sx[si];
	(void)created;
	sx->held_dirty = 0;
	sx->tx_touched = false;
	sx->tx_pending = true; /* records produced while we were away (resume) */
	/* Whatever the ring's doorbell word says (an earlier udpd's), this pass reads the ring
	 * until it is empty and only then asks for the doorbell (ring.h, suppression). */
	sx->tx_bell_wanted = true;
	/* Nothing waits from an earlier attachment (its repliers are gone): libsock re-sends
	 * what it had out, and it is answered anew. */
	memset(sx->close_wait, 0, sizeof(sx->close_wait));
	memset(sx->req_wait, 0, sizeof(sx->req_wait));
	for (unsigned i = 0; i < s->region.n_slots; i++)
		atomic_store_explicit(&region_slot(&s->region, i)->tx_held, 0, memory_order_release);
	ring_room_notify(&s->region.tx);
	/* What the application counted before (a resume: while we were away) is not ours to
	 * report, and nothing we deliver from now on has been taken yet. */
	region_app_baseline(s->region.app_stats, &sx->app_last);
	sx->app_credit = 0;
}

void udpd_app_collect(struct udpd *u, unsigned si)
{
	struct xport_session *s = &u->x.sess[si];
	if (s->state != XPORT_SESS_ATTACHED && s->state != XPORT_SESS_CLOSING)
		return; /* no region mapped */
	region_app_collect_count(s->region.app_stats, &u->sx[si].app_last,
				 &u->app_transit_from_udpd, &u->sx[si].app_credit,
				 &u->stats.app_hist_over_credit, &u->stats.app_hist_went_down);
}

static bool udpd_sess_leave(void *tp, unsigned si)
{
	struct udpd *u = tp;
	struct xport_session *s = &u->x.sess[si];
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	uint64_t pos = ring_read_pos(&s->region.tx), head = pos, allowance = 0;
	if (ring_head_now(&s->region.tx, &head) < 0)
		return false;
	for (unsigned slot = 0; slot < REGION_SLOTS_MAX; slot++) {
		const struct udp_sock *sk = rec->slot_sid[slot]
			? udp_sock_get(u->t, rec->owner, rec->slot_sid[slot]) : NULL;
		/* Linux lets a send start while less than sndbuf is in flight: one record more. */
		if (sk)
			allowance += sk->sndbuf + region_tx_charge(UDPD_TX_REC_MAX);
	}
	struct udpd_sx *sx = &u->sx[si];
	sx->drain_until = head - pos > allowance ? pos + allowance : head;
	if (sx->drain_until == pos) {
		u->stats.tx_drop_closed_bytes += head - pos;
		return false;
	}
	log_info("session %u (pid %ld): sending its last %llu bytes of records", si, (long)s->pid,
		 (unsigned long long)(sx->drain_until - pos));
	sx->tx_pending = true;
	return true;
}

static void udpd_sess_end(void *tp, unsigned si)
{
	struct udpd *u = tp;
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	/* Its last samples, while the region is still mapped: the total never goes down. */
	udpd_app_collect(u, si);
	for (unsigned slot = 0; slot < REGION_SLOTS_MAX; slot++) {
		uint32_t sid = rec->slot_sid[slot];
		if (!sid)
			continue;
		unsigned k = sid & 0xffffu;
		if (k < UDP_SOCKETS_MAX) {
			udpd_cork_free(u, k);
			u->sock_slot[k] = UDPD_SLOT_NONE;
			u->closing[k] = false;
		}
	}
	/* Its sockets and its record go in one transaction (udpd_store.h). */
	udpd_store_session_close(u->st, si);
	struct udpd_sx *sx = &u->sx[si];
	sx->held_dirty = 0;
	sx->tx_pending = false;
	sx->tx_touched = false;
	sx->tx_bell_wanted = false;
}

static void udpd_sess_doorbell(void *tp, unsigned si)
{
	struct udpd *u = tp;
	u->sx[si].tx_pending = true;
}

static bool udpd_sess_events_done(void *tp)
{
	return udpd_tx_round(tp);
}

static unsigned udpd_sess_uid_sockets(void *tp, uint32_t uid)
{
	return udpd_uid_sockets(tp, uid);
}

const struct xport_ops udpd_xport_ops = {
	.layer = UDPD_LAYER,
	.region_kind = REGION_KIND_DGRAM,
	.session_open = udpd_sess_open,
	.session_attached = udpd_sess_attached,
	.session_leave = udpd_sess_leave,
	.session_end = udpd_sess_end,
	.doorbell = udpd_sess_doorbell,
	.events_done = udpd_sess_events_done,
	.op_mutates = udpd_op_mutates,
	.dispatch = udpd_req_dispatch,
	.txn_begin = udpd_req_txn_begin,
	.txn_end = udpd_req_txn_end,
	.handle = udpd_req_handle,
	.acted = udpd_req_acted,
	.resent = udpd_req_resent,
	.forget = udpd_requests_close_forget,
	.uid_sockets = udpd_sess_uid_sockets,
};

/* ---- the shares' UDP part ---- */

void udpd_quota_init(struct udpd *u)
{
	unsigned pool = pool_count(u->pool);
	/* A largest datagram is 33 buffers; a uid may always have two in flight. */
	unsigned dgram = 65535u / POOL_DATA_ROOM + 1u;
	xport_quota_init(&u->x, &u->cfg, UDP_SOCKETS_MAX, 64, pool, 2 * dgram);
	unsigned pct = u->cfg.udp_uid_share ? u->cfg.udp_uid_share : CONFIG_UID_SHARE_DEFAULT;
	struct xport_limits *l = &u->x.lim;
	l->corked_all = pool / 4;
	l->uid_corked = (unsigned)((uint64_t)l->corked_all * pct / 100u);
	if (l->uid_corked < 2 * dgram)
		l->uid_corked = 2 * dgram;
	if (l->uid_corked > l->uid_buffers)
		l->uid_corked = l->uid_buffers;
	l->pool_reserve = pool / 8;
}

unsigned udpd_uid_sockets(const struct udpd *u, uint32_t uid)
{
	unsigned n = 0;
	for (unsigned k = 0; k < UDP_SOCKETS_MAX; k++) {
		if (!u->t->sock[k].in_use)
			continue;
		int si = udpd_session_of_owner(u, u->t->sock[k].owner);
		n += si >= 0 && u->st->sessions[si].creator_uid == uid;
	}
	return n;
}

unsigned udpd_sock_uid(const struct udpd *u, unsigned k)
{
	if (k >= UDP_SOCKETS_MAX || !u->t->sock[k].in_use)
		return UDPD_UIDS_MAX;
	return xport_owner_uid(&u->x, u->t->sock[k].owner);
}
