/* xport_store: session records and their transactions (the design is in xport_store.h). */
#include "xport_store.h"

#include <string.h>

#define F(x) STAT_FIELD(struct xport_store_stats, x)
const struct stat_field xport_store_stat_fields[] = {
	F(state_sessions_dropped), F(state_slots_cleared), F(state_orphans_closed),
};
#undef F
_Static_assert(sizeof(xport_store_stat_fields) / sizeof(xport_store_stat_fields[0]) ==
		       sizeof(struct xport_store_stats) / sizeof(uint64_t),
	       "xport_store_stat_fields must name every counter");
const unsigned xport_store_stat_field_count =
	sizeof(xport_store_stat_fields) / sizeof(xport_store_stat_fields[0]);

void xport_recs_init(struct xport_session_rec *recs)
{
	memset(recs, 0, XPORT_SESSIONS_MAX * sizeof(*recs));
	for (unsigned i = 0; i < XPORT_SESSIONS_MAX; i++)
		state_rec_seal(&recs[i].rec, XPORT_SESSION_SEALED);
}

int xport_session_of_owner(const struct xport_session_rec *recs, uint32_t owner)
{
	unsigned idx = (owner & 0xffffu) - 1u;
	if ((owner & 0xffffu) == 0 || idx >= XPORT_SESSIONS_MAX)
		return -1;
	const struct xport_session_rec *rec = &recs[idx];
	if (!rec->in_use || rec->owner != owner)
		return -1;
	return (int)idx;
}

bool xport_rec_ok(const struct xport_session_rec *rec, unsigned idx)
{
	if (!state_rec_valid(&rec->rec, XPORT_SESSION_SEALED) || rec->in_use > 1)
		return false;
	if (!rec->in_use)
		return true;
	return rec->id != 0 && rec->n_slots >= 1 && rec->n_slots <= REGION_SLOTS_MAX &&
	       rec->owner == xport_owner_of(idx, rec->gen) && rec->reply_next < XPORT_REPLY_CACHE;
}

struct xport_session_rec *xport_rec_touch(struct state_journal *j,
					  struct xport_session_rec *recs, unsigned si)
{
	return state_journal_touch(j, &recs[si].rec, XPORT_SESSION_SEALED);
}

void xport_rec_clear(struct xport_session_rec *rec)
{
	uint16_t gen = rec->gen;

	memset((uint8_t *)rec + sizeof(rec->rec), 0, sizeof(*rec) - sizeof(rec->rec));
	rec->gen = gen;
}

uint32_t xport_rec_next_owner(const struct xport_session_rec *recs, unsigned si)
{
	return xport_owner_of(si, (uint16_t)(recs[si].gen + 1));
}

uint32_t xport_rec_open(struct state_journal *j, struct xport_session_rec *recs, unsigned si,
			uint64_t id, const uint8_t secret[SESSION_SECRET_LEN], uint32_t creator_uid,
			uint32_t n_slots)
{
	uint16_t gen = (uint16_t)(recs[si].gen + 1);
	struct xport_session_rec *rec = xport_rec_touch(j, recs, si);

	xport_rec_clear(rec);
	rec->gen = gen;
	rec->owner = xport_owner_of(si, gen);
	rec->id = id;
	memcpy(rec->secret, secret, SESSION_SECRET_LEN);
	rec->creator_uid = creator_uid;
	rec->n_slots = n_slots;
	rec->in_use = 1;
	return rec->owner;
}

void xport_rec_reply(struct state_journal *j, struct xport_session_rec *recs, unsigned si,
		     const struct xport_reply_rec *reply)
{
	struct xport_session_rec *rec = xport_rec_touch(j, recs, si); /* saved already: no copy */

	if (!reply || !rec->in_use)
		return;
	unsigned i = rec->reply_next % XPORT_REPLY_CACHE;
	rec->replies[i] = *reply;
	rec->replies[i].valid = 1;
	rec->reply_next = (uint8_t)((i + 1) % XPORT_REPLY_CACHE);
}

const struct xport_reply_rec *xport_reply_find(const struct xport_session_rec *recs,
					       unsigned si, uint64_t id, uint8_t op)
{
	const struct xport_session_rec *rec = &recs[si];
	for (unsigned i = 0; i < XPORT_REPLY_CACHE; i++) {
		const struct xport_reply_rec *r = &rec->replies[i];
		if (r->valid && r->id == id && r->op == op)
			return r;
	}
	return NULL;
}

void xport_store_recover_links(struct state_journal *j, struct xport_session_rec *recs,
			       struct xport_store_stats *stats, const struct xport_sock_ops *ops,
			       void *t, uint8_t *sock_slot)
{
	memset(sock_slot, XPORT_SLOT_NONE, ops->n_socks);

	/* each session record alone */
	for (unsigned i = 0; i < XPORT_SESSIONS_MAX; i++) {
		if (xport_rec_ok(&recs[i], i))
			continue;
		ops->txn_begin(t);
		xport_rec_clear(xport_rec_touch(j, recs, i));
		ops->txn_end(t);
		stats->state_sessions_dropped++;
	}
	/* sockets -> sessions */
	for (unsigned k = 0; k < ops->n_socks; k++) {
		uint32_t sid = ops->sock_sid(t, k);
		uint32_t owner = sid ? ops->sock_owner(t, k) : 0;
		if (owner && xport_session_of_owner(recs, owner) < 0) {
			ops->sock_close(t, owner, sid);
			stats->state_orphans_closed++;
		}
	}
	/* sessions -> sockets */
	for (unsigned i = 0; i < XPORT_SESSIONS_MAX; i++) {
		const struct xport_session_rec *rec = &recs[i];
		if (!rec->in_use)
			continue;
		for (unsigned s = 0; s < REGION_SLOTS_MAX; s++) {
			uint32_t sid = rec->slot_sid[s];
			if (!sid)
				continue;
			unsigned k = ops->sock_index(t, sid);
			if (s < rec->n_slots && k < ops->n_socks && ops->sock_owned(t, rec->owner, sid) &&
			    sock_slot[k] == XPORT_SLOT_NONE) {
				sock_slot[k] = (uint8_t)s;
				continue;
			}
			ops->txn_begin(t);
			xport_rec_touch(j, recs, i)->slot_sid[s] = 0;
			ops->txn_end(t);
			stats->state_slots_cleared++;
		}
		for (unsigned k = 0; k < ops->n_socks; k++) {
			uint32_t sid = ops->sock_sid(t, k);
			if (sid && ops->sock_owner(t, k) == rec->owner &&
			    sock_slot[k] == XPORT_SLOT_NONE) {
				ops->sock_close(t, rec->owner, sid);
				stats->state_orphans_closed++;
			}
		}
	}
}
