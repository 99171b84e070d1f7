/* tcpd_store: what ustack-tcpd keeps in its state segment (<shm dir>/tcp-state) and every
 * update of its own records. Pure: no I/O, no clock reads, no randomness (callers pass them), so
 * unit tests can drive it by hand.
 *
 * The payload (struct tcpd_state), three kinds of records:
 *   - the session records of every transport (xport_store.h): id, secret, creator uid, owner,
 *     the socket (a core cid) in each region slot, the replies of the last mutating requests;
 *   - one bind record per (session, slot) (struct tcpd_bind): which core connection or listener
 *     the slot's rings and block serve, and where its two byte streams start in them
 *     (SPEC-streams.md: index(seq) = base_index + (uint32_t)(seq - base_seq), base_seq = iss + 1
 *     for the TX ring, irs + 1 for the RX ring, base_index the ring's index when the connection
 *     was set up; both moved up every 1 GiB of the stream, tcpd_stream.c). A bind outlives
 *     the application's socket while the connection is an orphan still sending from the
 *     slot's TX ring (TCPD_B_ORPHAN), until tcpd releases the slot;
 *   - the TCP core's table (struct tcp_table, tcp_core.h), whole.
 * Sessions and binds are sealed records updated in transactions of one undo journal
 * (state_journal.h, in the payload), so a request's change to them and the reply remembered for
 * it commit together, and a tcpd killed at any instruction leaves each of them as its last
 * complete update did. The core's table validates and recovers per record itself
 * (tcp_table_recover): what segments and timers change in it is not journaled. What a request
 * changes in it is: before the core call, the records the call may write (tcpd_store_save_core:
 * the connection or listener it names, the slot a socket() or listen() will open, the
 * connection an accept() hands over) are saved in the request's transaction as unsealed
 * records, so a kill anywhere in the request rolls the core back with the slot, the bind and
 * the remembered reply, and libsock's re-sent request runs as for the first time. (Without
 * that, a kill between a core call and the commit left, say, a listener whose slot still named
 * the connection it replaced: recovery closed it, and the application's listen() failed with
 * EBADF; or a bound socket whose re-sent bind() failed with EINVAL; or an accepted connection
 * no slot named, reset.) The table's derived parts (hashes, free list, queue links, deadlines)
 * are rebuilt from the records by tcp_table_recover, so they need no image. What a request
 * does to records it does not name is not rolled back, each harmless: children a closed
 * listener reset stay reset
 * (the re-sent close() finds the listener and resets what is left); SYN-queue children an
 * accept() promoted stay in the accept queue.
 *
 * Recovery (tcpd_store_recover), in the only order that works:
 *   1. the payload's header and the core table's header (else another layout: start fresh);
 *   2. the journal rolled back (sessions and binds of the unfinished update);
 *   3. the core's table recovered record by record (tcp_table_recover);
 *   4. the session records and their links with the core's sockets (xport_store_recover_links:
 *      a socket of no live session is closed, a slot naming a socket not its session's is
 *      cleared, a socket in none of its session's slots is closed);
 *   5. each bind alone: sealed, its session in use with the owner it was bound under, its cid
 *      an existing connection or listener that is the slot's socket or an orphan; else cleared
 *      (counted). One case is not damage and is counted apart (state_binds_released): an
 *      orphan's bind, intact, whose connection the core has freed. The core frees an orphan
 *      on a segment or a timer (its last ACK, a reset, TIME-WAIT's end), outside any
 *      transaction, and tcpd releases the slot after that, from the FREED event; a kill
 *      between the two leaves exactly this, and recovery finishes the release. Every connection closed in 4 or 5 goes through the core (tcp_close: FIN or
 *      RST as it decides; the output is the caller's to discard or send).
 */
#ifndef USTACK_TCPD_STORE_H
#define USTACK_TCPD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "region.h"
#include "state_journal.h"
#include "stats.h"
#include "tcp_core.h"
#include "xport_store.h"

#define TCPD_BINDS (XPORT_SESSIONS_MAX * REGION_SLOTS_MAX)
#define TCPD_BIND_NONE 0xffffu

/* The state segment's payload version: ours and the core table's. */
#define TCPD_STATE_VERSION ((3u << 16) | TCP_TABLE_VERSION)

/* struct tcpd_bind.flags */
#define TCPD_B_TX_BASE 0x01u /* tx_base_* set (connect, accept) */
#define TCPD_B_RX_BASE 0x02u /* rx_base_* set (the peer's ISN known) */
#define TCPD_B_ORPHAN 0x04u  /* the application closed it: tcpd finishes it alone */
#define TCPD_B_KNOWN 0x07u

/* A slot's binding to a core connection or listener. Shared state, sealed whole. */
struct tcpd_bind {
	struct state_rec rec;
	uint32_t cid;            /* 0: the slot serves nothing */
	uint32_t owner;          /* the session's owner when bound */
	uint32_t tx_base_seq;    /* iss + 1, then moved up with snd_una (tcpd_bind_rebase) */
	uint32_t rx_base_seq;    /* irs + 1, then moved up with read_seq */
	uint64_t tx_base_index;  /* TX ring index of tx_base_seq */
	uint64_t rx_base_index;  /* RX ring index of rx_base_seq */
	uint8_t flags;           /* TCPD_B_* */
	uint8_t reserved[7];
};
_Static_assert(sizeof(struct tcpd_bind) == 48, "tcpd_bind is shared state: no hidden padding");
#define TCPD_BIND_SEALED sizeof(struct tcpd_bind)

/* What recovery repaired, over the segment's life (`ustackctl stats`). Shared. */
struct tcpd_store_stats {
	uint64_t state_binds_dropped;  /* bind records torn, or naming what no longer holds */
	uint64_t state_binds_released; /* orphans' binds whose connection the core had freed:
					* the release a kill cut short, done by recovery */
	uint64_t state_early_kept;     /* connections not accepted yet whose early data was
					* still staged: they go on (tcpd_stage.h) */
	uint64_t state_early_reset;    /* ... whose early data was not: reset */
};

extern const struct stat_field tcpd_store_stat_fields[];
extern const unsigned tcpd_store_stat_field_count;

/* The state segment's payload. */
struct tcpd_state {
	uint32_t sessions_max;   /* XPORT_SESSIONS_MAX */
	uint32_t binds_max;      /* TCPD_BINDS */
	uint32_t conns_max;      /* TCP_CONNS_MAX */
	uint32_t reserved0;
	struct xport_store_stats stats;
	struct tcpd_store_stats bstats;
	struct state_journal journal;
	struct xport_session_rec sessions[XPORT_SESSIONS_MAX];
	struct tcpd_bind binds[TCPD_BINDS];
	struct tcp_table table;
};
_Static_assert(sizeof(struct xport_store_stats) % 8 == 0 &&
		       sizeof(struct tcpd_store_stats) % 8 == 0 &&
		       sizeof(struct state_journal) % 8 == 0,
	       "tcpd_state: the records stay aligned");

/* The largest transactions: a session's end (its record and every bind of it); an accept()
 * (the session, two binds: the new slot's and the listener's, the child and the listener). */
_Static_assert(XPORT_SESSION_SEALED + REGION_SLOTS_MAX * TCPD_BIND_SEALED <= STATE_JOURNAL_DATA &&
		       REGION_SLOTS_MAX + 1 <= STATE_JOURNAL_ENTRIES &&
		       XPORT_SESSION_SEALED + 2 * TCPD_BIND_SEALED + 2 * sizeof(struct tcp_conn) +
				       sizeof(struct tcp_listener) <= STATE_JOURNAL_DATA,
	       "tcpd's largest transaction fits the state journal");

static inline unsigned tcpd_bind_ix(unsigned si, unsigned slot)
{
	return si * REGION_SLOTS_MAX + slot;
}

/* A fresh payload (anything there before is overwritten): no sessions, no binds, an empty
 * core table keyed by seed. */
void tcpd_store_init(struct tcpd_state *st, const uint8_t seed[32], const struct tcp_host *host);

/* Take over a payload a previous tcpd left (the file comment). io collects what closing a
 * repaired socket sends (the caller discards it: tcpd is not connected yet). A connection not
 * accepted yet that had received early data (`bytes` of it) goes on if early_kept(arg, idx,
 * cid, bytes) says the data is still staged (tcpd_stage_claim), and is reset otherwise (NULL:
 * always). Returns the number of live connections, or -EPROTO/-EINVAL when the payload is not
 * one this tcpd reads: then nothing was changed and the caller starts fresh. */
typedef bool (*tcpd_early_kept_fn)(void *arg, unsigned idx, uint32_t cid, uint32_t bytes);
int tcpd_store_recover(struct tcpd_state *st, uint64_t now, struct tcp_io *io,
		       tcpd_early_kept_fn early_kept, void *arg);

/* Transactions of the journal: sessions and binds touched in one commit together. */
void tcpd_store_begin(struct tcpd_state *st);
void tcpd_store_end(struct tcpd_state *st);

/* Bind b, saved in the open transaction: call before its first write in it. */
struct tcpd_bind *tcpd_bind_touch(struct tcpd_state *st, unsigned b);

/* Session record si, likewise. */
struct xport_session_rec *tcpd_rec_touch(struct tcpd_state *st, unsigned si);

/* What a request may write in the core's table (the file comment). */
enum tcpd_reach {
	TCPD_REACH_NEW,    /* socket(): the connection slot it will open */
	TCPD_REACH_SOCK,   /* a call on cid: its connection or listener */
	TCPD_REACH_LISTEN, /* listen() on cid: it, and the listener slot it will open */
	TCPD_REACH_ACCEPT, /* accept() on listener cid: it, and the connection it hands over */
};

/* Save, in the open transaction, the core records a request reaching r from cid may write
 * (any cid: one that names nothing saves nothing). Call before the core call. */
void tcpd_store_save_core(struct tcpd_state *st, enum tcpd_reach r, uint32_t cid);

/* Open / end session si's record, each one transaction (ending also clears its binds: the
 * caller has dealt with their connections first). */
void tcpd_store_session_open(struct tcpd_state *st, unsigned si, uint64_t id,
			     const uint8_t secret[SESSION_SECRET_LEN], uint32_t creator_uid,
			     uint32_t n_slots);
void tcpd_store_session_close(struct tcpd_state *st, unsigned si);

#endif
