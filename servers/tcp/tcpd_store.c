/* tcpd_store: tcpd's state segment payload, its bind records and their transactions (the
 * design is in tcpd_store.h). */
#include "tcpd_store.h"

#include <errno.h>
#include <string.h>

#define F(x) STAT_FIELD(struct tcpd_store_stats, x)
const struct stat_field tcpd_store_stat_fields[] = {
	F(state_binds_dropped),
	F(state_binds_released),
	F(state_early_kept),
	F(state_early_reset),
};
#undef F
_Static_assert(sizeof(tcpd_store_stat_fields) / sizeof(tcpd_store_stat_fields[0]) ==
		       sizeof(struct tcpd_store_stats) / sizeof(uint64_t),
	       "tcpd_store_stat_fields must name every counter");
const unsigned tcpd_store_stat_field_count =
	sizeof(tcpd_store_stat_fields) / sizeof(tcpd_store_stat_fields[0]);

void tcpd_store_begin(struct tcpd_state *st)
{
	state_journal_begin(&st->journal);
}

void tcpd_store_end(struct tcpd_state *st)
{
	state_journal_end(&st->journal);
}

struct tcpd_bind *tcpd_bind_touch(struct tcpd_state *st, unsigned b)
{
	return state_journal_touch(&st->journal, &st->binds[b].rec, TCPD_BIND_SEALED);
}

struct xport_session_rec *tcpd_rec_touch(struct tcpd_state *st, unsigned si)
{
	return xport_rec_touch(&st->journal, st->sessions, si);
}

static void tcpd_save_conn(struct tcpd_state *st, unsigned idx)
{
	if (idx < TCP_CONNS_MAX)
		state_journal_save(&st->journal, &st->table.conn[idx], sizeof(st->table.conn[idx]));
}

static void tcpd_save_lis(struct tcpd_state *st, unsigned idx)
{
	if (idx < TCP_LISTENERS_MAX)
		state_journal_save(&st->journal, &st->table.lis[idx], sizeof(st->table.lis[idx]));
}

void tcpd_store_save_core(struct tcpd_state *st, enum tcpd_reach r, uint32_t cid)
{
	unsigned idx = cid & 0x7fffu;
	bool lis = cid & TCP_CID_LISTENER;
	if (r == TCPD_REACH_NEW) {
		tcpd_save_conn(st, tcp_conn_next_free(&st->table));
		return;
	}
	if (cid) {
		if (lis)
			tcpd_save_lis(st, idx);
		else
			tcpd_save_conn(st, idx);
	}
	if (r == TCPD_REACH_LISTEN && !lis)
		tcpd_save_lis(st, tcp_listener_next_free(&st->table));
	/* the accept queue's head is what tcp_accept hands over (a torn listener's head is
	 * checked against the table's bounds here and by recovery) */
	if (r == TCPD_REACH_ACCEPT && lis && idx < TCP_LISTENERS_MAX && st->table.lis[idx].in_use)
		tcpd_save_conn(st, st->table.lis[idx].acc_head);
}

static void tcpd_bind_clear(struct tcpd_bind *b)
{
	memset((uint8_t *)b + sizeof(b->rec), 0, sizeof(*b) - sizeof(b->rec));
}

void tcpd_store_init(struct tcpd_state *st, const uint8_t seed[32], const struct tcp_host *host)
{
	memset(st, 0, sizeof(*st));
	st->sessions_max = XPORT_SESSIONS_MAX;
	st->binds_max = TCPD_BINDS;
	st->conns_max = TCP_CONNS_MAX;
	state_journal_init(&st->journal);
	xport_recs_init(st->sessions);
	for (unsigned b = 0; b < TCPD_BINDS; b++)
		state_rec_seal(&st->binds[b].rec, TCPD_BIND_SEALED);
	tcp_table_init(&st->table, seed, host); /* its magic last: a half-made payload is refused */
}

void tcpd_store_session_open(struct tcpd_state *st, unsigned si, uint64_t id,
			     const uint8_t secret[SESSION_SECRET_LEN], uint32_t creator_uid,
			     uint32_t n_slots)
{
	tcpd_store_begin(st);
	xport_rec_open(&st->journal, st->sessions, si, id, secret, creator_uid, n_slots);
	tcpd_store_end(st);
}

void tcpd_store_session_close(struct tcpd_state *st, unsigned si)
{
	if (!st->sessions[si].in_use)
		return;
	tcpd_store_begin(st);
	for (unsigned slot = 0; slot < REGION_SLOTS_MAX; slot++) {
		unsigned b = tcpd_bind_ix(si, slot);
		if (st->binds[b].cid)
			tcpd_bind_clear(tcpd_bind_touch(st, b));
	}
	xport_rec_clear(tcpd_rec_touch(st, si));
	tcpd_store_end(st);
}

/* ---- recovery ---- */

/* The core's sockets as the common link repair sees them: connections, then listeners. */
struct tcpd_recover_ctx {
	struct tcpd_state *st;
	uint64_t now;
	struct tcp_io *io;
};

static uint32_t tcpd_rc_sid(void *p, unsigned k)
{
	const struct tcp_table *t = &((struct tcpd_recover_ctx *)p)->st->table;
	return k < TCP_CONNS_MAX ? tcp_conn_cid(t, k) : tcp_listener_cid(t, k - TCP_CONNS_MAX);
}

static uint32_t tcpd_rc_owner(void *p, unsigned k)
{
	const struct tcp_table *t = &((struct tcpd_recover_ctx *)p)->st->table;
	return k < TCP_CONNS_MAX ? t->conn[k].owner : t->lis[k - TCP_CONNS_MAX].owner;
}

static unsigned tcpd_rc_index(void *p, uint32_t cid)
{
	(void)p;
	unsigned idx = cid & 0x7fffu;
	if (cid & TCP_CID_LISTENER)
		return idx < TCP_LISTENERS_MAX ? TCP_CONNS_MAX + idx
					       : TCP_CONNS_MAX + TCP_LISTENERS_MAX;
	return idx < TCP_CONNS_MAX ? idx : TCP_CONNS_MAX + TCP_LISTENERS_MAX;
}

static bool tcpd_rc_owned(void *p, uint32_t owner, uint32_t cid)
{
	const struct tcp_table *t = &((struct tcpd_recover_ctx *)p)->st->table;
	return tcp_conn_get(t, owner, cid) || tcp_listener_get(t, owner, cid);
}

static void tcpd_rc_close(void *p, uint32_t owner, uint32_t cid)
{
	struct tcpd_recover_ctx *rc = p;
	tcp_close(&rc->st->table, owner, cid, rc->now, rc->io);
}

static void tcpd_rc_begin(void *p)
{
	tcpd_store_begin(((struct tcpd_recover_ctx *)p)->st);
}

static void tcpd_rc_end(void *p)
{
	tcpd_store_end(((struct tcpd_recover_ctx *)p)->st);
}

static const struct xport_sock_ops tcpd_rc_ops = {
	.n_socks = TCP_CONNS_MAX + TCP_LISTENERS_MAX,
	.sock_sid = tcpd_rc_sid,
	.sock_owner = tcpd_rc_owner,
	.sock_index = tcpd_rc_index,
	.sock_owned = tcpd_rc_owned,
	.sock_close = tcpd_rc_close,
	.txn_begin = tcpd_rc_begin,
	.txn_end = tcpd_rc_end,
};

/* Does bind b (of session si, slot) still describe a live socket of that slot: the session's
 * socket in it, or an orphan the slot still serves? */
static bool tcpd_bind_ok(const struct tcpd_state *st, unsigned si, unsigned slot,
			 const struct tcpd_bind *b)
{
	const struct xport_session_rec *rec = &st->sessions[si];
	const struct tcp_table *t = &st->table;
	if (!state_rec_valid(&b->rec, TCPD_BIND_SEALED) || (b->flags & ~TCPD_B_KNOWN))
		return false;
	if (!b->cid)
		return true;
	if (!rec->in_use || rec->owner != b->owner || slot >= rec->n_slots)
		return false;
	if (b->cid & TCP_CID_LISTENER)
		return !(b->flags & TCPD_B_ORPHAN) && rec->slot_sid[slot] == b->cid &&
		       tcp_listener_get(t, rec->owner, b->cid);
	if (!(b->flags & TCPD_B_ORPHAN))
		return rec->slot_sid[slot] == b->cid && tcp_conn_get(t, rec->owner, b->cid);
	unsigned idx = b->cid & 0x7fffu;
	return rec->slot_sid[slot] == 0 && tcp_conn_cid(t, idx) == b->cid &&
	       t->conn[idx].owner == 0 && (t->conn[idx].flags & TCP_F_ORPHAN);
}

/* An intact orphan's bind whose connection the core freed: tcpd was killed after the core let
 * it go and before it released the slot (tcpd_store.h, recovery step 5). Not damage. */
static bool tcpd_bind_freed_orphan(const struct tcpd_state *st, unsigned si, unsigned slot,
				   const struct tcpd_bind *b)
{
	const struct xport_session_rec *rec = &st->sessions[si];
	if (!state_rec_valid(&b->rec, TCPD_BIND_SEALED) || (b->flags & ~TCPD_B_KNOWN) ||
	    !(b->flags & TCPD_B_ORPHAN) || !b->cid || (b->cid & TCP_CID_LISTENER))
		return false;
	if (!rec->in_use || rec->owner != b->owner || slot >= rec->n_slots ||
	    rec->slot_sid[slot] != 0)
		return false;
	return tcp_conn_cid(&st->table, b->cid & 0x7fffu) != b->cid;
}

int tcpd_store_recover(struct tcpd_state *st, uint64_t now, struct tcp_io *io,
		       tcpd_early_kept_fn early_kept, void *arg)
{
	struct tcp_table *t = &st->table;
	struct tcpd_recover_ctx rc = {.st = st, .now = now, .io = io};
	uint8_t sock_slot[TCP_CONNS_MAX + TCP_LISTENERS_MAX];

	if (st->sessions_max != XPORT_SESSIONS_MAX || st->binds_max != TCPD_BINDS ||
	    st->conns_max != TCP_CONNS_MAX)
		return -EPROTO;
	int rc_ = tcp_table_check(t);
	if (rc_ < 0)
		return rc_;
	state_journal_recover(&st->journal, st, sizeof(*st));
	int live = (int)tcp_table_recover(t, now);
	xport_store_recover_links(&st->journal, st->sessions, &st->stats, &tcpd_rc_ops, &rc,
				  sock_slot);
	for (unsigned si = 0; si < XPORT_SESSIONS_MAX; si++) {
		for (unsigned slot = 0; slot < REGION_SLOTS_MAX; slot++) {
			unsigned b = tcpd_bind_ix(si, slot);
			struct tcpd_bind *bd = &st->binds[b];
			if (tcpd_bind_ok(st, si, slot, bd))
				continue;
			uint32_t cid = bd->cid;
			bool orphan = bd->flags & TCPD_B_ORPHAN;
			bool released = tcpd_bind_freed_orphan(st, si, slot, bd);
			tcpd_store_begin(st);
			tcpd_bind_clear(tcpd_bind_touch(st, b));
			tcpd_store_end(st);
			if (released) {
				st->bstats.state_binds_released++;
				continue;
			}
			st->bstats.state_binds_dropped++;
			/* An orphan that still had bytes to send from the slot cannot any more. */
			unsigned idx = cid & 0x7fffu;
			if (orphan && !(cid & TCP_CID_LISTENER) && tcp_conn_cid(t, idx) == cid &&
			    t->conn[idx].snd_una != t->conn[idx].write_seq)
				tcp_abort(t, cid, now, io);
		}
	}
	/* A child not accepted yet whose early data is not staged any more cannot go on: its
	 * peer was told the bytes arrived. */
	for (unsigned idx = 0; idx < TCP_CONNS_MAX; idx++) {
		const struct tcp_conn *c = &t->conn[idx];
		uint32_t fin = (c->flags & TCP_F_FIN_RCVD) ? 1u : 0u;
		if (!c->in_use || c->owner != 0 || (c->flags & TCP_F_ORPHAN) ||
		    c->state == TCP_STATE_SYN_RECEIVED || c->rcv_nxt - (c->irs + 1) <= fin)
			continue;
		uint32_t cid = tcp_conn_cid(t, idx);
		if (early_kept && early_kept(arg, idx, cid, c->rcv_nxt - (c->irs + 1) - fin)) {
			st->bstats.state_early_kept++;
			continue;
		}
		st->bstats.state_early_reset++;
		tcp_abort(t, cid, now, io);
	}
	/* A socket the application holds must have its slot's streams. */
	for (unsigned si = 0; si < XPORT_SESSIONS_MAX; si++) {
		const struct xport_session_rec *rec = &st->sessions[si];
		if (!rec->in_use)
			continue;
		for (unsigned slot = 0; slot < REGION_SLOTS_MAX; slot++) {
			uint32_t cid = rec->slot_sid[slot];
			if (!cid || st->binds[tcpd_bind_ix(si, slot)].cid == cid)
				continue;
			tcp_close(t, rec->owner, cid, now, io);
			tcpd_store_begin(st);
			tcpd_rec_touch(st, si)->slot_sid[slot] = 0;
			tcpd_store_end(st);
			st->stats.state_slots_cleared++;
		}
	}
	return live;
}
