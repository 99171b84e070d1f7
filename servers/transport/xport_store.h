/* xport_store: the session records every transport server (udpd, tcpd) keeps in its state
 * segment, and their transactions. Pure: no I/O, no clock, no randomness (callers pass ids and
 * secrets), so a transport's unit tests can cut each update after every store and check what a
 * restarted server finds (tests/unit/test_udp_restart.c does it for udpd's).
 *
 * A session record (struct xport_session_rec) is what outlives the server of one application's
 * session (common/session.h): its id and secret (requests are authenticated by them), the uid
 * that created it (SO_PEERCRED: resumes need the same uid, and the per-uid shares count by it),
 * the owner tag its sockets carry in the transport's core table, the socket in each region
 * slot, and the replies of the last mutating requests (libsock re-sends a request across a
 * restart: the id names it, and the remembered reply answers it instead of a second run).
 *
 * Discipline (common/state_journal.h): every record is sealed (a commit word and a checksum)
 * and written only inside a transaction of the transport's undo journal, which also covers the
 * transport's own records (udpd: its socket table; tcpd: its per-connection shell records), so a
 * request's change and its remembered reply commit together: a server killed at any instruction
 * leaves the state before the request or after it, never half of it, and a re-sent request gets
 * the answer its first run would have got.
 *
 * Owners: a session's owner is (record generation << 16 | record index + 1): never 0 (0 is a
 * transport core's "nobody": tcpd's orphans and not yet accepted connections), and different
 * for every use of a record, so a socket can never be reached through a later session that
 * reuses the record.
 *
 * Recovery (xport_store_recover_links): after the transport rolled back its journal and checked
 * its own records, each session record is checked alone (a bad one is freed), then both
 * directions of every link between sockets and sessions, through the transport's view of its
 * socket table (struct xport_sock_ops): a socket whose owner is no live session is closed; a
 * slot must name an open socket of its own session, within its n_slots, in no other slot, else
 * it is cleared; a socket of a session in none of its slots can never be reached again and is
 * closed. Each repair is a transaction of its own, so a kill during recovery leaves a state the
 * next recovery repairs the same way. With the journal working these find nothing: they are the
 * second line, for a record damaged some other way.
 */
#ifndef USTACK_XPORT_STORE_H
#define USTACK_XPORT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "region.h"
#include "session.h"
#include "state_journal.h"
#include "stats.h"

#define XPORT_SESSIONS_MAX 128u     /* applications at once, per transport server */
#define XPORT_REPLY_CACHE 8u        /* remembered replies per session (idempotent re-sends) */
#define XPORT_SLOT_NONE 0xffu

/* One remembered reply (mutating requests only: re-running a read is harmless). Shared. */
struct xport_reply_rec {
	uint64_t id;
	int32_t status;
	uint32_t sid;
	uint32_t addr;
	uint16_t port; /* host order, as in SockReply */
	uint8_t op;
	uint8_t valid;
};
_Static_assert(sizeof(struct xport_reply_rec) == 24, "xport_reply_rec is shared state");

/* One session. Shared state, sealed whole: plain data, never reorder. */
struct xport_session_rec {
	struct state_rec rec;              /* commit word + checksum */
	uint64_t id;                       /* random, never 0 while in use */
	uint8_t secret[SESSION_SECRET_LEN];
	uint32_t creator_uid;
	uint32_t owner;                    /* core owner of its sockets (file comment) */
	uint32_t n_slots;                  /* of its region, 1 .. REGION_SLOTS_MAX */
	uint16_t gen;                      /* bumped every time the record is taken */
	uint8_t in_use;
	uint8_t reply_next;                /* next replies[] entry to overwrite */
	uint32_t slot_sid[REGION_SLOTS_MAX]; /* socket in each slot, 0 = none */
	struct xport_reply_rec replies[XPORT_REPLY_CACHE];
};
_Static_assert(sizeof(struct xport_session_rec) ==
		       48 + 4 * REGION_SLOTS_MAX + 24 * XPORT_REPLY_CACHE,
	       "xport_session_rec is shared state: no hidden padding");
_Static_assert(sizeof(struct xport_session_rec) % 8 == 0, "records stay 8-byte aligned");
#define XPORT_SESSION_SEALED sizeof(struct xport_session_rec)

/* What recovery repaired, over the segment's life (shown by `ustackctl stats`). Shared. */
struct xport_store_stats {
	uint64_t state_sessions_dropped; /* session records torn or invalid after the rollback:
					  * freed (their sockets closed as orphans) */
	uint64_t state_slots_cleared;    /* slots naming a socket that is closed, not the
					  * session's, or in another slot too */
	uint64_t state_orphans_closed;   /* sockets of no live session, or in none of its slots */
};

extern const struct stat_field xport_store_stat_fields[];
extern const unsigned xport_store_stat_field_count;

static inline uint32_t xport_owner_of(unsigned idx, uint16_t gen)
{
	return (uint32_t)gen << 16 | (idx + 1u);
}

/* A transport's socket table as recovery sees it. Sockets are numbered 0 .. n_socks; a socket
 * is named by a sid (never 0) that the transport maps back to its number. */
struct xport_sock_ops {
	unsigned n_socks;
	/* sid of socket k if it is in use, else 0 */
	uint32_t (*sock_sid)(void *t, unsigned k);
	/* its owner (0: the transport's own, no session's: never closed or counted here) */
	uint32_t (*sock_owner)(void *t, unsigned k);
	/* k of a sid, or n_socks if it names none */
	unsigned (*sock_index)(void *t, uint32_t sid);
	/* sid is open and owner's */
	bool (*sock_owned)(void *t, uint32_t owner, uint32_t sid);
	/* close it (a repair: in a transaction of its own, or none if the transport's table keeps
	 * its records by itself) */
	void (*sock_close)(void *t, uint32_t owner, uint32_t sid);
	void (*txn_begin)(void *t);
	void (*txn_end)(void *t);
};

/* Every record of recs[0 .. XPORT_SESSIONS_MAX) free and sealed (a fresh segment). */
void xport_recs_init(struct xport_session_rec *recs);

/* Record index of an owner, or -1 if it names no session record in use with that owner. */
int xport_session_of_owner(const struct xport_session_rec *recs, uint32_t owner);

/* Is record idx, alone, one this code wrote: sealed, and (in use) a non-zero id, a slot count
 * the region format allows, the owner its index and generation give. Reads only. */
bool xport_rec_ok(const struct xport_session_rec *rec, unsigned idx);

/* Record si, saved in j's open transaction: call before its first write in it. */
struct xport_session_rec *xport_rec_touch(struct state_journal *j,
					  struct xport_session_rec *recs, unsigned si);

/* Everything after the header cleared but the generation (a freed record). */
void xport_rec_clear(struct xport_session_rec *rec);

/* Inside j's open transaction: take the free record si for a new session (a new generation,
 * the id, secret, uid and slot count given, no sockets, no replies). Returns its owner. The
 * caller makes sure no socket still carries that owner, in the same transaction. */
uint32_t xport_rec_open(struct state_journal *j, struct xport_session_rec *recs, unsigned si,
			uint64_t id, const uint8_t secret[SESSION_SECRET_LEN], uint32_t creator_uid,
			uint32_t n_slots);

/* The owner the next session in record si will have (generation + 1). */
uint32_t xport_rec_next_owner(const struct xport_session_rec *recs, unsigned si);

/* Inside j's open transaction (si touched): remember reply (its id and op name the request) in
 * session si's reply records, if the record is in use. */
void xport_rec_reply(struct state_journal *j, struct xport_session_rec *recs, unsigned si,
		     const struct xport_reply_rec *reply);

/* The remembered reply to request id with operation op of session si, or NULL. */
const struct xport_reply_rec *xport_reply_find(const struct xport_session_rec *recs,
					       unsigned si, uint64_t id, uint8_t op);

/* Recovery's checks of the session records and of every link, once the transport's journal was
 * rolled back and its own records checked (file comment). sock_slot (ops->n_socks entries,
 * process memory) is filled with the slot of each socket (XPORT_SLOT_NONE: none). Counts in
 * *stats. */
void xport_store_recover_links(struct state_journal *j, struct xport_session_rec *recs,
			       struct xport_store_stats *stats, const struct xport_sock_ops *ops,
			       void *t, uint8_t *sock_slot);

#endif
