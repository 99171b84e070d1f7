/* udpd_quota: each uid's share of udpd's resources (DESIGN.md, Security: "every per-application
 * resource has a per-uid share").
 *
 * Without shares, one local user takes everything: 16 idle connections fill every handshake
 * slot, one application holds all 128 sessions and all 1,024 sockets, and corking on many
 * sockets pins the pool every layer shares. The shares are per uid, not per session or per
 * process, because a user can open as many processes as it likes (Linux's per-user limits,
 * RLIMIT_NPROC and the like, are per uid for the same reason). The uid is the kernel's word:
 * SO_PEERCRED of the session connection (handshakes, sessions), and a socket belongs to the uid
 * that created its session.
 *
 * The shares, from [udp] of the instance config: a count per resource, or by default
 * uid_share percent (25) of the total, never below a floor that one ordinary application needs
 * (a libsock process: one session, 64 sockets, a few largest datagrams in flight) and never the
 * whole total, so a bystander of another uid always finds room:
 *   handshakes   of UDPD_HANDSHAKES_MAX     over: the connection is answered -EAGAIN and closed
 *                                           (a full listen backlog: the client retries)
 *   sessions     of UDPD_SESSIONS_MAX       over: SESSION_NEW refused -EMFILE
 *   sockets      of UDP_SOCKETS_MAX         over: SOCKET refused -EMFILE
 *   buffers      of the pool                pool buffers udpd holds for the uid: corked
 *                                           payload plus datagrams in the batch to ipd
 * Errnos: EMFILE says "you hold too many" (RLIMIT_NOFILE's errno), which a process can act on
 * by closing some; the whole table being full is ENFILE (file-max's), the system's state. A
 * socket() that fails either way is what applications already handle.
 * Buffers: the batch to ipd is flushed early rather than exceed the share (nothing is lost);
 * corking beyond uid_corked (the uid's share of the corked_all quarter of the pool) drops the
 * corked datagram, as Linux drops at its udp_mem limit (tx_drop_cork_limit).
 *
 * Counting: handshakes and sessions are counted as they come and go (a session counts in every
 * state until its record is freed, CLOSING and DETACHED included: it still holds the record);
 * sockets are counted by walking the table when a SOCKET asks (1,024 entries, a few
 * microseconds, and never out of step with the table); buffers are counted as corks grow and
 * shrink and as the batch fills and goes out. The table of uids is process memory, rebuilt
 * from the session records at start.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "udpd_priv.h"

/* A share of total: count if set, else pct percent; at least floor, at most total - 1. */
static unsigned udpd_share(unsigned count, unsigned pct, unsigned total, unsigned floor,
			   const char *what)
{
	unsigned v = count ? count : (unsigned)((uint64_t)total * pct / 100u);
	if (!count && v < floor)
		v = floor;
	if (v >= total) {
		if (count)
			log_warn("[udp] uid_%s = %u is not below the %u udpd has: using %u", what,
				 count, total, total - 1);
		v = total - 1;
	}
	return v ? v : 1;
}

void udpd_quota_init(struct udpd *u)
{
	const struct ustack_config *c = &u->cfg;
	unsigned pct = c->udp_uid_share ? c->udp_uid_share : CONFIG_UID_SHARE_DEFAULT;
	unsigned pool = pool_count(u->pool);
	/* A largest datagram is 33 buffers; a uid may always have two in flight. */
	unsigned dgram = 65535u / POOL_DATA_ROOM + 1u;
	struct udpd_limits *l = &u->lim;
	l->uid_handshakes = udpd_share(c->udp_uid_handshakes, pct, UDPD_HANDSHAKES_MAX, 2,
				       "handshakes");
	l->uid_sessions = udpd_share(c->udp_uid_sessions, pct, UDPD_SESSIONS_MAX, 2, "sessions");
	l->uid_sockets = udpd_share(c->udp_uid_sockets, pct, UDP_SOCKETS_MAX, 64, "sockets");
	l->uid_buffers = udpd_share(c->udp_uid_buffers, pct, pool, 2 * dgram, "buffers");
	/* Corking may hold a quarter of the pool in all (Linux's udp_mem), a uid its share of
	 * that; TX stops taking buffers when only an eighth of the pool is left, for nicd's
	 * receive slots and every other layer. */
	l->corked_all = pool / 4;
	l->uid_corked = (unsigned)((uint64_t)l->corked_all * pct / 100u);
	if (l->uid_corked < 2 * dgram)
		l->uid_corked = 2 * dgram;
	if (l->uid_corked > l->uid_buffers)
		l->uid_corked = l->uid_buffers;
	l->pool_reserve = pool / 8;

	memset(u->uids, 0, sizeof(u->uids));
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++) {
		const struct udpd_session_rec *rec = &u->st->sessions[i];
		if (!rec->in_use)
			continue;
		int ix = udpd_uid_get(u, rec->creator_uid);
		/* Every record in use has one: there are more entries than records. */
		u->sess[i].uid_ix = ix < 0 ? 0 : (unsigned)ix;
		u->uids[u->sess[i].uid_ix].sessions++;
	}
	log_info("per-uid shares: %u handshakes, %u sessions, %u sockets, %u buffers (%u corked)",
		 l->uid_handshakes, l->uid_sessions, l->uid_sockets, l->uid_buffers, l->uid_corked);
}

int udpd_uid_get(struct udpd *u, uint32_t uid)
{
	int free_ix = -1;
	for (unsigned i = 0; i < UDPD_UIDS_MAX; i++) {
		if (u->uids[i].in_use && u->uids[i].uid == uid)
			return (int)i;
		if (!u->uids[i].in_use && free_ix < 0)
			free_ix = (int)i;
	}
	if (free_ix < 0)
		return -ENOSPC;
	u->uids[free_ix] = (struct udpd_uid){.uid = uid, .in_use = true};
	return free_ix;
}

void udpd_uid_release(struct udpd *u, unsigned ix)
{
	if (ix >= UDPD_UIDS_MAX)
		return;
	struct udpd_uid *e = &u->uids[ix];
	if (e->in_use && !e->handshakes && !e->sessions && !e->buffers)
		e->in_use = false;
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
	int si = udpd_session_of_owner(u, u->t->sock[k].owner);
	if (si < 0 || u->sess[si].state == UDPD_SESS_FREE)
		return UDPD_UIDS_MAX;
	return u->sess[si].uid_ix;
}

void udpd_uid_bufs_add(struct udpd *u, unsigned ix, unsigned n, bool corked)
{
	if (ix >= UDPD_UIDS_MAX)
		return;
	u->uids[ix].buffers += n;
	if (corked)
		u->uids[ix].corked += n;
}

void udpd_uid_bufs_sub(struct udpd *u, unsigned ix, unsigned n, bool corked)
{
	if (ix >= UDPD_UIDS_MAX)
		return;
	struct udpd_uid *e = &u->uids[ix];
	e->buffers = e->buffers > n ? e->buffers - n : 0;
	if (corked)
		e->corked = e->corked > n ? e->corked - n : 0;
	udpd_uid_release(u, ix);
}

int udpd_quota_report(struct udpd *u, struct ctl_server *srv, Ustack__CtlReply *r)
{
	const struct udpd_limits *l = &u->lim;
	const struct {
		const char *name;
		uint64_t v;
	} lims[] = {
		{"limit_uid_handshakes", l->uid_handshakes}, {"limit_uid_sessions", l->uid_sessions},
		{"limit_uid_sockets", l->uid_sockets},       {"limit_uid_buffers", l->uid_buffers},
		{"limit_uid_corked", l->uid_corked},         {"limit_corked_all", l->corked_all},
		{"limit_pool_reserve", l->pool_reserve},     {"handshakes_max", UDPD_HANDSHAKES_MAX},
		{"sessions_max", UDPD_SESSIONS_MAX},         {"sockets_max", UDP_SOCKETS_MAX},
		{"corked_buffers", u->corked_all},
	};
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(lims) / sizeof(lims[0]); i++)
		rc = ctl_reply_add_counter(srv, r, lims[i].name, lims[i].v);
	/* Like /proc/net/sockstat, per user: uid.<uid>.<what> */
	for (unsigned i = 0; rc == 0 && i < UDPD_UIDS_MAX; i++) {
		const struct udpd_uid *e = &u->uids[i];
		if (!e->in_use)
			continue;
		const struct {
			const char *what;
			uint64_t v;
		} use[] = {
			{"handshakes", e->handshakes}, {"sessions", e->sessions},
			{"sockets", udpd_uid_sockets(u, e->uid)}, {"buffers", e->buffers},
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
