/* udpd_store: udpd's state segment payload and its transactions (the design is in udpd_store.h).
 *
 * Recovery, in the only order that works:
 *   1. the table's header (else the payload is another layout: start fresh);
 *   2. the journal's rollback, over the whole payload (udp_table_recover): every half-done
 *      update is undone, session records included; then each socket record alone;
 *   3-5. the session records and every link between them and the sockets, by the rules all
 *      transports share (xport_store_recover_links): each session record alone; sockets ->
 *      sessions; sessions -> sockets.
 * Each repair is a transaction of its own, so a kill during recovery leaves a state the next
 * recovery repairs the same way. With the journal working, steps 3-5 find nothing: they are the
 * second line, for a record damaged some other way (a bug, a stray write), and they keep that
 * damage to the record itself and what hangs on it.
 */
#include "udpd_store.h"

#include <errno.h>
#include <string.h>

static struct state_journal *udpd_store_journal(struct udpd_state *st)
{
	return udp_txn_journal(&st->table);
}

void udpd_store_init(struct udpd_state *st)
{
	memset(st, 0, sizeof(*st));
	st->sessions_max = UDPD_SESSIONS_MAX;
	xport_recs_init(st->sessions);
	udp_table_init(&st->table); /* its magic last: a half-made payload is not taken over */
}

int udpd_store_session_of_owner(const struct udpd_state *st, uint32_t owner)
{
	return xport_session_of_owner(st->sessions, owner);
}

/* The socket table as the common link repair sees it (xport_store.h). */
static uint32_t udpd_store_sock_sid(void *t, unsigned k)
{
	return udp_sock_sid(t, k);
}

static uint32_t udpd_store_sock_owner(void *t, unsigned k)
{
	return ((struct udp_table *)t)->sock[k].owner;
}

static unsigned udpd_store_sock_index(void *t, uint32_t sid)
{
	(void)t;
	unsigned k = sid & 0xffffu;
	return k < UDP_SOCKETS_MAX ? k : UDP_SOCKETS_MAX;
}

static bool udpd_store_sock_owned(void *t, uint32_t owner, uint32_t sid)
{
	return udp_sock_get(t, owner, sid) != NULL;
}

static void udpd_store_sock_close(void *t, uint32_t owner, uint32_t sid)
{
	udp_socket_close(t, owner, sid); /* its own transaction */
}

static void udpd_store_txn_begin_t(void *t)
{
	udp_txn_begin(t);
}

static void udpd_store_txn_end_t(void *t)
{
	udp_txn_end(t);
}

static const struct xport_sock_ops udpd_store_sock_ops = {
	.n_socks = UDP_SOCKETS_MAX,
	.sock_sid = udpd_store_sock_sid,
	.sock_owner = udpd_store_sock_owner,
	.sock_index = udpd_store_sock_index,
	.sock_owned = udpd_store_sock_owned,
	.sock_close = udpd_store_sock_close,
	.txn_begin = udpd_store_txn_begin_t,
	.txn_end = udpd_store_txn_end_t,
};

int udpd_store_recover(struct udpd_state *st, uint8_t *sock_slot)
{
	struct udp_table *t = &st->table;

	if (st->sessions_max != UDPD_SESSIONS_MAX)
		return -EPROTO;
	int rc = udp_table_recover(t, st, sizeof(*st));
	if (rc < 0)
		return rc;
	xport_store_recover_links(udpd_store_journal(st), st->sessions, &st->stats,
				  &udpd_store_sock_ops, t, sock_slot);
	return 0;
}

void udpd_store_session_open(struct udpd_state *st, unsigned si, uint64_t id,
			     const uint8_t secret[SESSION_SECRET_LEN], uint32_t creator_uid,
			     uint32_t n_slots)
{
	struct udp_table *t = &st->table;

	udp_txn_begin(t);
	/* No socket may still carry this owner (a record's owner is new at every use), but be
	 * certain before the record goes live. */
	udp_close_owner(t, xport_rec_next_owner(st->sessions, si));
	xport_rec_open(udpd_store_journal(st), st->sessions, si, id, secret, creator_uid, n_slots);
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
	xport_rec_clear(xport_rec_touch(udpd_store_journal(st), st->sessions, si));
	udp_txn_end(t);
}

void udpd_store_txn_begin(struct udpd_state *st, unsigned si)
{
	udp_txn_begin(&st->table);
	xport_rec_touch(udpd_store_journal(st), st->sessions, si);
}

void udpd_store_txn_end(struct udpd_state *st, unsigned si, const struct udpd_reply_rec *reply)
{
	xport_rec_reply(udpd_store_journal(st), st->sessions, si, reply);
	udp_txn_end(&st->table);
}

const struct udpd_reply_rec *udpd_store_reply_find(const struct udpd_state *st, unsigned si,
						   uint64_t id, uint8_t op)
{
	return xport_reply_find(st->sessions, si, id, op);
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
	xport_rec_touch(udpd_store_journal(st), st->sessions, si)->slot_sid[slot] = *sid;
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
			xport_rec_touch(udpd_store_journal(st), st->sessions, si)->slot_sid[s] = 0;
			return (int)s;
		}
	}
	return UDPD_SLOT_NONE;
}
