/* udpd_store: what udpd keeps in its state segment (/ustack-<instance>-udp-state) and every
 * update of it. Pure: no I/O, no clock, no randomness (callers pass ids and secrets), so the unit
 * tests cut each update after every store and check what a restarted udpd finds. The session
 * records and their rules are every transport's (servers/transport/xport_store.h); what is
 * udpd's is that its undo journal is the socket table's and covers both.
 *
 * The payload (struct udpd_state): the session records, then the udp_core socket table, whose
 * undo journal (state_journal.h) also covers the session records. Every record is sealed and
 * every update is a transaction of that journal, so a udpd killed at any instruction leaves
 * either the state before the update or the state after it (docs/ARCHITECTURE.md,
 * restart contract):
 *   - a request (udpd_requests.c) runs between udpd_store_txn_begin and udpd_store_txn_end: the
 *     change it makes to the socket table and to its session's record (slot -> socket map) and
 *     the reply remembered for it commit together. A request re-sent after a kill is therefore
 *     either answered from its reply (it had committed) or runs for the first time (it had
 *     not, and nothing of it is left): it gets the answer its first run would have got;
 *   - opening a session is one transaction (its record), ending one too (its sockets closed and
 *     its record freed together).
 *
 * Links between records: a socket's owner names its session record (udpd_owner_of: record
 * index + 1 | generation << 16, never 0, new at every use of a record), and a session's slot
 * map names its sockets by sid. Only udpd_store_recover trusts neither: after the journal's
 * rollback it checks each record alone (a bad one is dropped alone, with what hangs on it) and
 * then both directions of every link, repairing what does not hold (counted in
 * struct udpd_store_stats). The reverse map socket -> slot is derived data in process memory,
 * rebuilt there.
 */
#ifndef USTACK_UDPD_STORE_H
#define USTACK_UDPD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "region.h"
#include "session.h"
#include "state_journal.h"
#include "stats.h"
#include "udp_core.h"
#include "xport_store.h"

#define UDPD_SESSIONS_MAX XPORT_SESSIONS_MAX  /* applications at once */
#define UDPD_REPLY_CACHE XPORT_REPLY_CACHE    /* remembered replies per session */
#define UDPD_SLOT_NONE XPORT_SLOT_NONE

/* The state segment's payload version: ours and the core table's, so either change makes a
 * new udpd start on a fresh segment instead of misreading an old one. */
#define UDPD_STATE_VERSION ((3u << 16) | UDP_TABLE_VERSION)

/* The session records and replies are the transports' common ones (xport_store.h); udpd's
 * names for them. */
#define udpd_reply_rec xport_reply_rec
#define udpd_session_rec xport_session_rec
#define udpd_store_stats xport_store_stats
#define UDPD_SESSION_SEALED XPORT_SESSION_SEALED
#define udpd_store_stat_fields xport_store_stat_fields
#define udpd_store_stat_field_count xport_store_stat_field_count

/* The state segment's payload. */
struct udpd_state {
	uint32_t sessions_max; /* UDPD_SESSIONS_MAX */
	uint32_t reserved0;
	uint64_t reserved1;
	struct udpd_store_stats stats;
	struct udpd_session_rec sessions[UDPD_SESSIONS_MAX];
	struct udp_table table;
};
_Static_assert(sizeof(struct udpd_session_rec) % 8 == 0 && sizeof(struct udpd_store_stats) % 8 == 0,
	       "udpd_state: the table stays aligned");

/* The largest transaction is a session's end (or a new session making sure of its owner): its
 * record and every socket of its slots, plus the ports record. It must fit the journal, or it
 * would commit early (state_journal.h: overflows) and lose its atomicity. */
_Static_assert(UDPD_SESSION_SEALED + REGION_SLOTS_MAX * UDP_SOCK_SEALED +
			       sizeof(struct udp_ports) <= STATE_JOURNAL_DATA &&
		       REGION_SLOTS_MAX + 2 <= STATE_JOURNAL_ENTRIES,
	       "udpd's largest transaction fits the state journal");

static inline uint32_t udpd_owner_of(unsigned idx, uint16_t gen)
{
	return xport_owner_of(idx, gen);
}

/* A fresh payload (any previous content is overwritten): no sessions, an empty table. */
void udpd_store_init(struct udpd_state *st);

/* Take over a payload a previous udpd left (the file comment): roll back, check every record,
 * repair every link. sock_slot (UDP_SOCKETS_MAX entries, process memory) is filled with the
 * slot of each socket (UDPD_SLOT_NONE: none). 0, or -EPROTO/-EINVAL when the payload is not one
 * this udpd can read (another layout): then nothing was changed and the caller starts fresh. */
int udpd_store_recover(struct udpd_state *st, uint8_t *sock_slot);

/* Record index of an owner, or -1 if it names no session record in use with that owner. */
int udpd_store_session_of_owner(const struct udpd_state *st, uint32_t owner);

/* Take the free record si for a new session (one transaction): a new generation and owner, the
 * id and secret given, no sockets, no replies. */
void udpd_store_session_open(struct udpd_state *st, unsigned si, uint64_t id,
			     const uint8_t secret[SESSION_SECRET_LEN], uint32_t creator_uid,
			     uint32_t n_slots);

/* End session si (one transaction): every socket it owns closed, its record freed (the
 * generation kept, so the record's next owner differs). A free record: nothing. */
void udpd_store_session_close(struct udpd_state *st, unsigned si);

/* A mutating request of session si: open a transaction with its record saved. Everything the
 * request changes until udpd_store_txn_end commits with its reply. */
void udpd_store_txn_begin(struct udpd_state *st, unsigned si);

/* Remember reply (its id and op name the request; NULL: nothing to remember) in session si's
 * reply records, then commit. */
void udpd_store_txn_end(struct udpd_state *st, unsigned si, const struct udpd_reply_rec *reply);

/* The remembered reply to request id with operation op of session si, or NULL. */
const struct udpd_reply_rec *udpd_store_reply_find(const struct udpd_state *st, unsigned si,
						   uint64_t id, uint8_t op);

/* SOCKET, inside the request's transaction: a new socket in slot of session si, with the
 * session's creator as its uid (SO_REUSEPORT groups are per uid). 0 with *sid, -EINVAL (slot
 * not in the region), -EBUSY (the slot holds a socket), -EMFILE (table full). */
int udpd_store_socket(struct udpd_state *st, unsigned si, uint32_t slot, uint32_t *sid);

/* CLOSE, inside the request's transaction: socket sid of session si closed and its slot
 * cleared. The slot index it had (or UDPD_SLOT_NONE), or -EBADF. */
int udpd_store_close(struct udpd_state *st, unsigned si, uint32_t sid);

#endif
