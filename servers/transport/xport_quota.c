/* xport_quota: each uid's share of a transport server's resources (docs/ARCHITECTURE.md, Security:
 * "every per-application resource has a per-uid share").
 *
 * Without shares, one local user takes everything: 16 idle connections fill every handshake
 * slot, one application holds all 128 sessions and every socket, and a transport holding pool
 * buffers for it pins the pool every layer shares. The shares are per uid, not per session or
 * per process, because a user can open as many processes as it likes (Linux's per-user limits,
 * RLIMIT_NPROC and the like, are per uid for the same reason). The uid is the kernel's word:
 * SO_PEERCRED of the session connection (handshakes, sessions), and a socket belongs to the uid
 * that created its session.
 *
 * The shares, from the instance config ([udp]: a count per resource, or by default uid_share
 * percent (25) of the total), never below a floor that one ordinary application needs (a
 * libsock process: one session, 64 sockets, a few largest datagrams in flight) and never the
 * whole total, so a bystander of another uid always finds room:
 *   handshakes   of XPORT_HANDSHAKES_MAX    over: the connection is answered -EAGAIN and closed
 *                                           (a full listen backlog: the client retries)
 *   sessions     of XPORT_SESSIONS_MAX      over: SESSION_NEW refused -EMFILE
 *   sockets      of the transport's table   over: SOCKET refused -EMFILE (the transport asks)
 *   buffers      of the pool                pool buffers the transport holds for the uid
 *                                           (udpd: corked payload and datagrams in the batch to
 *                                           ipd; it enforces them)
 * Errnos: EMFILE says "you hold too many" (RLIMIT_NOFILE's errno), which a process can act on
 * by closing some; the whole table being full is ENFILE (file-max's), the system's state. A
 * socket() that fails either way is what applications already handle.
 *
 * Counting: handshakes and sessions are counted as they come and go (a session counts in every
 * state until its record is freed, CLOSING and DETACHED included: it still holds the record);
 * sockets are counted by walking the transport's table when a SOCKET asks (never out of step
 * with the table); buffers by the transport as it takes and hands them on. The table of uids is
 * process memory, rebuilt from the session records at start.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "xport.h"

/* A share of total: count if set, else pct percent; at least floor, at most total - 1. */
static unsigned xport_share(const struct xport *x, unsigned count, unsigned pct, unsigned total,
			    unsigned floor, const char *what)
{
	unsigned v = count ? count : (unsigned)((uint64_t)total * pct / 100u);
	if (!count && v < floor)
		v = floor;
	if (v >= total) {
		if (count)
			log_warn("[udp] uid_%s = %u is not below the %u %s has: using %u", what,
				 count, total, x->ops->layer, total - 1);
		v = total - 1;
	}
	return v ? v : 1;
}

void xport_quota_init(struct xport *x, const struct ustack_config *c, unsigned sockets_total,
		      unsigned sockets_floor, unsigned buffers_total, unsigned buffers_floor)
{
	unsigned pct = c->udp_uid_share ? c->udp_uid_share : CONFIG_UID_SHARE_DEFAULT;
	struct xport_limits *l = &x->lim;
	l->uid_handshakes = xport_share(x, c->udp_uid_handshakes, pct, XPORT_HANDSHAKES_MAX, 2,
					"handshakes");
	l->uid_sessions = xport_share(x, c->udp_uid_sessions, pct, XPORT_SESSIONS_MAX, 2,
				      "sessions");
	l->uid_sockets = xport_share(x, c->udp_uid_sockets, pct, sockets_total, sockets_floor,
				     "sockets");
	l->uid_buffers = xport_share(x, c->udp_uid_buffers, pct, buffers_total, buffers_floor,
				     "buffers");
	l->uid_corked = l->corked_all = 0;
	l->pool_reserve = buffers_total / 8;

	memset(x->uids, 0, sizeof(x->uids));
	for (unsigned i = 0; i < XPORT_SESSIONS_MAX; i++) {
		const struct xport_session_rec *rec = &x->recs[i];
		if (!rec->in_use)
			continue;
		int ix = xport_uid_get(x, rec->creator_uid);
		/* Every record in use has one: there are more entries than records. */
		x->sess[i].uid_ix = ix < 0 ? 0 : (unsigned)ix;
		x->uids[x->sess[i].uid_ix].sessions++;
	}
	log_info("per-uid shares: %u handshakes, %u sessions, %u sockets, %u buffers",
		 l->uid_handshakes, l->uid_sessions, l->uid_sockets, l->uid_buffers);
}

int xport_uid_get(struct xport *x, uint32_t uid)
{
	int free_ix = -1;
	for (unsigned i = 0; i < XPORT_UIDS_MAX; i++) {
		if (x->uids[i].in_use && x->uids[i].uid == uid)
			return (int)i;
		if (!x->uids[i].in_use && free_ix < 0)
			free_ix = (int)i;
	}
	if (free_ix < 0)
		return -ENOSPC;
	x->uids[free_ix] = (struct xport_uid){.uid = uid, .in_use = true};
	return free_ix;
}

void xport_uid_release(struct xport *x, unsigned ix)
{
	if (ix >= XPORT_UIDS_MAX)
		return;
	struct xport_uid *e = &x->uids[ix];
	if (e->in_use && !e->handshakes && !e->sessions && !e->buffers)
		e->in_use = false;
}

unsigned xport_owner_uid(const struct xport *x, uint32_t owner)
{
	int si = xport_session_of_owner(x->recs, owner);
	if (si < 0 || x->sess[si].state == XPORT_SESS_FREE)
		return XPORT_UIDS_MAX;
	return x->sess[si].uid_ix;
}

void xport_uid_bufs_add(struct xport *x, unsigned ix, unsigned n, bool corked)
{
	if (ix >= XPORT_UIDS_MAX)
		return;
	x->uids[ix].buffers += n;
	if (corked)
		x->uids[ix].corked += n;
}

void xport_uid_bufs_sub(struct xport *x, unsigned ix, unsigned n, bool corked)
{
	if (ix >= XPORT_UIDS_MAX)
		return;
	struct xport_uid *e = &x->uids[ix];
	e->buffers = e->buffers > n ? e->buffers - n : 0;
	if (corked)
		e->corked = e->corked > n ? e->corked - n : 0;
	xport_uid_release(x, ix);
}

int xport_quota_report(struct xport *x, struct ctl_server *srv, Ustack__CtlReply *r,
		       unsigned sockets_max)
{
	const struct xport_limits *l = &x->lim;
	const struct {
		const char *name;
		uint64_t v;
	} lims[] = {
		{"limit_uid_handshakes", l->uid_handshakes}, {"limit_uid_sessions", l->uid_sessions},
		{"limit_uid_sockets", l->uid_sockets},       {"limit_uid_buffers", l->uid_buffers},
		{"limit_uid_corked", l->uid_corked},         {"limit_corked_all", l->corked_all},
		{"limit_pool_reserve", l->pool_reserve},     {"handshakes_max", XPORT_HANDSHAKES_MAX},
		{"sessions_max", XPORT_SESSIONS_MAX},        {"sockets_max", sockets_max},
	};
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(lims) / sizeof(lims[0]); i++)
		rc = ctl_reply_add_counter(srv, r, lims[i].name, lims[i].v);
	/* Like /proc/net/sockstat, per user: uid.<uid>.<what> */
	for (unsigned i = 0; rc == 0 && i < XPORT_UIDS_MAX; i++) {
		const struct xport_uid *e = &x->uids[i];
		if (!e->in_use)
			continue;
		const struct {
			const char *what;
			uint64_t v;
		} use[] = {
			{"handshakes", e->handshakes}, {"sessions", e->sessions},
			{"sockets", x->ops->uid_sockets(x->tp, e->uid)}, {"buffers", e->buffers},
			{"corked", e->corked},
		};
		for (size_t k = 0; rc == 0 && k < sizeof(use) / sizeof(use[0]); k++) {
			char name[64];
			snprintf(name, sizeof(name), "uid.%u.%s", (unsigned)e->uid, use[k].what);
			rc = ctl_reply_add_counter(srv, r, name, use[k].v);
		}
	}
	return rc;
}

const struct stat_field xport_stat_fields[] = {
#define F(x) STAT_FIELD(struct xport_stats, x)
	F(sessions_opened), F(sessions_resumed), F(sessions_closed), F(sessions_expired),
	F(sessions_closed_hostile), F(session_accept_errors), F(session_refused_busy),
	F(session_refused_uid_busy), F(session_refused_uid), F(session_refused_malformed),
	F(session_refused_timeout), F(session_refused_full), F(session_refused_region),
	F(session_refused_fds), F(session_refused_auth), F(session_refused_busy_resume),
	F(req_total), F(req_malformed), F(req_eperm), F(req_detached), F(req_replayed),
	F(req_reply_drops), F(sock_refused_uid), F(sock_refused_full), F(rx_wake_saturated),
	F(doorbell_reads),
#undef F
};
const unsigned xport_stat_field_count = sizeof(xport_stat_fields) / sizeof(xport_stat_fields[0]);
_Static_assert(sizeof(xport_stat_fields) / sizeof(xport_stat_fields[0]) ==
		       sizeof(struct xport_stats) / sizeof(uint64_t),
	       "every xport counter is named");

int xport_stats_report(struct xport *x, struct ctl_server *srv, Ustack__CtlReply *r)
{
	unsigned attached = xport_sessions_count(x, XPORT_SESS_ATTACHED);
	unsigned detached = xport_sessions_count(x, XPORT_SESS_DETACHED);
	unsigned closing = xport_sessions_count(x, XPORT_SESS_CLOSING);
	int rc = ctl_reply_add_counters(srv, r, "", xport_stat_fields, xport_stat_field_count,
					&x->stats);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "sessions_in_use", attached + detached + closing);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "sessions_detached", detached);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "sessions_closing", closing);
	return rc;
}
