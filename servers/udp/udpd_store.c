/* udpd_store: udpd's state segment payload and its transactions (the design is in udpd_store.h).
 *
 * Recovery, in the only order that works:
 *   1. the table's header (else the payload is another layout: start fresh);
 *   2. the journal's rollback, over the whole payload (udp_table_recover): every half-done
 *      update is undone, session records included; then each socket record alone;
 *   3. each session record alone: sealed, and (in use) a non-zero id, a slot count the region
 *      format allows, an owner that matches its index and generation; a bad one is freed;
 *   4. sockets -> sessions: a socket whose owner is no live session record is closed;
 *   5. sessions -> sockets: a slot must name an open socket of its own session, within its
 *      n_slots, in no other slot; else it is cleared. A socket of a session in none of its
 *      slots can never be reached again: closed.
 * Each repair is a transaction of its own, so a kill during recovery leaves a state the next
 * recovery repairs the same way. With the journal working, steps 3-5 find nothing: they are the
 * second line, for a record damaged some other way (a bug, a stray write), and they keep that
 * damage to the record itself and what hangs on it.
 */
#include "udpd_store.h"

#include <errno.h>
#include <string.h>

#define F(x) STAT_FIELD(struct udpd_store_stats, x)
const struct stat_field udpd_store_stat_fields[] = {
	F(state_sessions_dropped), F(state_slots_cleared), F(state_orphans_closed),
};
#undef F
_Static_assert(sizeof(udpd_store_stat_fields) / sizeof(udpd_store_stat_fields[0]) ==
		       sizeof(struct udpd_store_stats) / sizeof(uint64_t),
	       "udpd_store_stat_fields must name every counter");
const unsigned udpd_store_stat_field_count =
	sizeof(udpd_store_stat_fields) / sizeof(udpd_store_stat_fields[0]);

static struct state_journal *udpd_store_journal(struct udpd_state *st)
{
	return udp_txn_journal(&st->table);
}

/* Session record si, saved in the open transaction: call before its first write. */
static struct udpd_session_rec *udpd_store_rec_w(struct udpd_state *st, unsigned si)
{
	return state_journal_touch(udpd_store_journal(st), &st->sessions[si].rec,
				   UDPD_SESSION_SEALED);
}

/* Everything after the header cleared but the generation. */
static void udpd_store_rec_clear(struct udpd_session_rec *rec)
{
	uint16_t gen = rec->gen;

	memset((uint8_t *)rec + sizeof(rec->rec), 0, sizeof(*rec) - sizeof(rec->rec));
	rec->gen = gen;
}

void udpd_store_init(struct udpd_state *st)
{
	memset(st, 0, sizeof(*st));
	st->sessions_max = UDPD_SESSIONS_MAX;
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++)
		state_rec_seal(&st->sessions[i].rec, UDPD_SESSION_SEALED);
	udp_table_init(&st->table); /* its magic last: a half-made payload is not taken over */
}

int udpd_store_session_of_owner(const struct udpd_state *st, uint32_t owner)
{
	unsigned idx = (owner & 0xffffu) - 1u;
	if ((owner & 0xffffu) == 0 || idx >= UDPD_SESSIONS_MAX)
		return -1;
	const struct udpd_session_rec *rec = &st->sessions[idx];
	if (!rec->in_use || rec->owner != owner)
		return -1;
	return (int)idx;
}

static bool udpd_store_rec_ok(const struct udpd_session_rec *rec, unsigned idx)
{
	if (!state_rec_valid(&rec->rec, UDPD_SESSION_SEALED) || rec->in_use > 1)
		return false;
	if (!rec->in_use)
		return true;
	return rec->id != 0 && rec->n_slots >= 1 && rec->n_slots <= REGION_SLOTS_MAX &&
	       rec->owner == udpd_owner_of(idx, rec->gen) && rec->reply_next < UDPD_REPLY_CACHE;
}

int udpd_store_recover(struct udpd_state *st, uint8_t *sock_slot)
{
	struct udp_table *t = &st->table;

	if (st->sessions_max != UDPD_SESSIONS_MAX)
		return -EPROTO;
	int rc = udp_table_recover(t, st, sizeof(*st));
	if (rc < 0)
		return rc;
	memset(sock_slot, UDPD_SLOT_NONE, UDP_SOCKETS_MAX);

	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++) {
		if (udpd_store_rec_ok(&st->sessions[i], i))
			continue;
		udp_txn_begin(t);
		udpd_store_rec_clear(udpd_store_rec_w(st, i));
		udp_txn_end(t);
		st->stats.state_sessions_dropped++;
	}
	for (unsigned k = 0; k < UDP_SOCKETS_MAX; k++) {
		uint32_t sid = udp_sock_sid(t, k);
		uint32_t owner = t->sock[k].owner;
		if (sid && udpd_store_session_of_owner(st, owner) < 0) {
			udp_socket_close(t, owner, sid);
			st->stats.state_orphans_closed++;
		}
	}
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++) {
		const struct udpd_session_rec *rec = &st->sessions[i];
		if (!rec->in_use)
			continue;
		for (unsigned s = 0; s < REGION_SLOTS_MAX; s++) {
			uint32_t sid = rec->slot_sid[s];
			if (!sid)
				continue;
			unsigned k = sid & 0xffffu;
			if (s < rec->n_slots && udp_sock_get(t, rec->owner, sid) &&
			    sock_slot[k] == UDPD_SLOT_NONE) {
				sock_slot[k] = (uint8_t)s;
				continue;
			}
			udp_txn_begin(t);
			udpd_store_rec_w(st, i)->slot_sid[s] = 0;
			udp_txn_end(t);
			st->stats.state_slots_cleared++;
		}
		for (unsigned k = 0; k < UDP_SOCKETS_MAX; k++) {
			uint32_t sid = udp_sock_sid(t, k);
			if (sid && t->sock[k].owner == rec->owner && sock_slot[k] == UDPD_SLOT_NONE) {
				udp_socket_close(t, rec->owner, sid);
				st->stats.state_orphans_closed++;
			}
		}
	}
	return 0;
}

void udpd_store_session_open(struct udpd_state *st, unsigned si, uint64_t id,
			     const uint8_t secret[SESSION_SECRET_LEN], uint32_t creator_uid,
			     uint32_t n_slots)
{
	struct udp_table *t = &st->table;
	uint16_t gen = (uint16_t)(st->sessions[si].gen + 1);
	uint32_t owner = udpd_owner_of(si, gen);

	udp_txn_begin(t);
	/* No socket may still carry this owner (a record's owner is new at every use), but be
	 * certain before the record goes live. */
	udp_close_owner(t, owner);
	struct udpd_session_rec *rec = udpd_store_rec_w(st, si);
	udpd_store_rec_clear(rec);
	rec->gen = gen;
	rec->owner = owner;
	rec->id = id;
	memcpy(rec->secret, secret, SESSION_SECRET_LEN);
	rec->creator_uid = creator_uid;
	rec->n_slots = n_slots;
	rec->in_use = 1;
	udp_txn_end(t);
}

void udpd_store_session_close(struct udpd_state *st, unsigned si)
{
	struct udp_table *t = &st->table;
	const struct udpd_session_rec *rec = &st->sessions[si];

	if (!rec->in_use)
		return;
	udp_txn_begin(t);
	udp_close_owner(t, rec->owner);
	udpd_store_rec_clear(udpd_store_rec_w(st, si));
	udp_txn_end(t);
}

void udpd_store_txn_begin(struct udpd_state *st, unsigned si)
{
	udp_txn_begin(&st->table);
	udpd_store_rec_w(st, si);
}

void udpd_store_txn_end(struct udpd_state *st, unsigned si, const struct udpd_reply_rec *reply)
{
	struct udpd_session_rec *rec = udpd_store_rec_w(st, si); /* saved at begin: no copy */

	if (reply && rec->in_use) {
		unsigned i = rec->reply_next % UDPD_REPLY_CACHE;
		rec->replies[i] = *reply;
		rec->replies[i].valid = 1;
		rec->reply_next = (uint8_t)((i + 1) % UDPD_REPLY_CACHE);
	}
	udp_txn_end(&st->table);
}

const struct udpd_reply_rec *udpd_store_reply_find(const struct udpd_state *st, unsigned si,
						   uint64_t id, uint8_t op)
{
	const struct udpd_session_rec *rec = &st->sessions[si];
	for (unsigned i = 0; i < UDPD_REPLY_CACHE; i++) {
		const struct udpd_reply_rec *r = &rec->replies[i];
		if (r->valid && r->id == id && r->op == op)
			return r;
	}
	return NULL;
}

int udpd_store_socket(struct udpd_state *st, unsigned si, uint32_t slot, uint32_t *sid)
{
	const struct udpd_session_rec *rec = &st->sessions[si];
	if (slot >= rec->n_slots)
		return -EINVAL;
	if (rec->slot_sid[slot])
		return -EBUSY;
	int rc = udp_socket_open(&st->table, rec->owner, sid);
	if (rc < 0)
		return rc;
	udp_sock_set_uid(&st->table, rec->owner, *sid, rec->creator_uid);
	udpd_store_rec_w(st, si)->slot_sid[slot] = *sid;
	return 0;
}

int udpd_store_close(struct udpd_state *st, unsigned si, uint32_t sid)
{
	const struct udpd_session_rec *rec = &st->sessions[si];
	int rc = udp_socket_close(&st->table, rec->owner, sid);
	if (rc < 0)
		return rc;
	for (unsigned s = 0; s < REGION_SLOTS_MAX; s++) {
		if (rec->slot_sid[s] == sid) {
			udpd_store_rec_w(st, si)->slot_sid[s] = 0;
			return (int)s;
		}
	}
	return UDPD_SLOT_NONE;
}
