/* state_journal: records in a state segment that a SIGKILL at any instruction cannot tear, and
 * transactions over several of them (docs/ARCHITECTURE.md, restart contract: "a kill in the middle
 * of an update loses that record at most, never the table").
 *
 * The failure we defend against is a process kill, not a power loss: every store the dead
 * process made stays in memory, but its sequence of stores may stop anywhere, so an update of
 * several fields can be half done. Two layers, each enough on its own to keep the damage to one
 * record:
 *
 *   1. Every record starts with a struct state_rec: a sequence word (even: committed; odd: being
 *      written) and a checksum over the sequence and the record's sealed bytes. Recovery checks
 *      each record on its own; one that is odd or does not match is dropped alone by its owner.
 *   2. An undo journal makes an update atomic, even one that spans several records (a socket,
 *      and the reply to the request that changed it): before a record is first written in a
 *      transaction its committed image is copied into the journal, then published (entry count
 *      + 1), and only then the record is marked odd and written. Commit seals every touched
 *      record (checksum, then an even sequence) and then stores 0 into the entry count: that one
 *      store is the commit point. Recovery copies the images of an uncommitted transaction back,
 *      so a kill loses nothing that was committed and leaves nothing half written; replaying the
 *      images is idempotent, so a kill during recovery is repaired by the next recovery.
 *
 * Ordering: the stores of each step must reach memory in program order as the dead process
 * made them; a SIGKILL stops a thread at an instruction boundary, so only the compiler could
 * reorder them, and STATE_ORDER() (a signal fence: exactly "ordered against an asynchronous
 * interruption of this thread") forbids it. The commit words are stored whole (no tearing).
 *
 * Offsets, never pointers: an entry names its record by its offset from the journal itself, so
 * a journal works wherever its segment is mapped and may cover any record in the same mapping
 * (udpd journals its session records and the socket table's records in one journal, so a
 * request's reply commits with the change it describes). Recovery is told the bytes it may
 * restore into and checks every entry against them: nothing in a segment left by a dead process
 * is trusted.
 *
 * Writer rules: one writer (the owning server's thread). begin/end nest; the outermost end
 * commits. A record is touched (state_journal_touch) before its first write in a transaction
 * and only its sealed bytes [0, len) are covered: counters and derived links a record may carry
 * after them are written freely, each by one aligned store, and are not checked. A transaction
 * that outgrows the journal is committed early and counted (overflows): it loses atomicity,
 * never a record. Size the journal for the largest transaction its owner makes.
 *
 * Unsealed records (state_journal_save): a record that has no struct state_rec because its
 * owner validates it by other means (tcpd's core table: tcp_table_recover checks each
 * connection against TCP's invariants) can still join a transaction: its image is saved the
 * same way and restored by a rollback, but it is neither marked odd nor sealed. So a request
 * that changes such a record and sealed ones (a connection, the slot naming it, the reply)
 * commits all of them or none.
 */
#ifndef USTACK_STATE_JOURNAL_H
#define USTACK_STATE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"

#define STATE_JOURNAL_ENTRIES 96u
#define STATE_JOURNAL_DATA 8192u /* bytes of record images */

/* The header of every protected record. Shared: 8 bytes, first in the record. */
struct state_rec {
	uint32_t seq;  /* even: committed; odd: being written */
	uint32_t csum; /* state_rec_sum(seq, the record's bytes after this header) */
};
_Static_assert(sizeof(struct state_rec) == 8, "state_rec is shared state");

struct state_journal_ent {
	int64_t off;       /* of the record, from the journal's own address */
	uint32_t len;      /* bytes of its image: header + sealed part; | STATE_JOURNAL_RAW for
			    * an unsealed record (state_journal_save) */
	uint32_t data_off; /* of the image in data[] */
};
#define STATE_JOURNAL_RAW 0x80000000u

struct state_journal_stats {
	uint64_t commits;     /* transactions that wrote something */
	uint64_t rolled_back; /* records restored from their image by recovery */
	uint64_t bad_entries; /* entries recovery could not trust (out of bounds): skipped */
	uint64_t overflows;   /* transactions committed early: larger than the journal */
};

extern const struct stat_field state_journal_stat_fields[];
extern const unsigned state_journal_stat_field_count;

/* Shared state: plain data, never reorder. */
struct state_journal {
	uint32_t n;        /* entries of the open transaction; storing 0 commits it */
	uint32_t depth;    /* begin/end nesting of the writer (reset by recovery) */
	uint32_t used;     /* bytes of data[] the open transaction uses */
	uint32_t reserved0;
	struct state_journal_stats stats;
	struct state_journal_ent ent[STATE_JOURNAL_ENTRIES];
	uint8_t data[STATE_JOURNAL_DATA];
};
_Static_assert(sizeof(struct state_journal) ==
		       16 + sizeof(struct state_journal_stats) + 16 * STATE_JOURNAL_ENTRIES +
			       STATE_JOURNAL_DATA,
	       "state_journal is shared state: no hidden padding");

/* An empty journal (any previous content is overwritten). */
void state_journal_init(struct state_journal *j);

/* Open a transaction, or nest in the open one. */
void state_journal_begin(struct state_journal *j);
/* Close one level; the outermost commits: every touched record sealed, then the commit point. */
void state_journal_end(struct state_journal *j);

/* Record rec (its header + sealed part: len bytes, 8 <= len <= STATE_JOURNAL_DATA, in the same
 * mapping as j) is about to be written in the open transaction: its image is saved (once per
 * transaction) and it is marked odd. Returns rec, for the caller's writes. */
void *state_journal_touch(struct state_journal *j, struct state_rec *rec, size_t len);

/* Bytes p .. p + len (1 <= len <= STATE_JOURNAL_DATA, in the same mapping as j, no struct
 * state_rec: an unsealed record, file comment) are about to be written in the open transaction:
 * their image is saved (once per transaction), to be restored if it does not commit. */
void state_journal_save(struct state_journal *j, void *p, size_t len);

/* Roll an uncommitted transaction back: restore every image whose record lies entirely within
 * [lo, lo + size) and not over the journal (others are counted in bad_entries and skipped), then
 * clear the journal. Returns how many records were restored (0: nothing was open). Safe on a
 * journal of garbage: a count out of range is treated as nothing to restore (counted). */
unsigned state_journal_recover(struct state_journal *j, void *lo, size_t size);

/* Is the journal idle (no transaction open, nothing to roll back)? */
bool state_journal_idle(const struct state_journal *j);

/* Seal rec (len bytes, as for touch) outside any transaction: for records being made in memory
 * nobody can have seen yet (a fresh segment). The sequence moves to the next even number. */
void state_rec_seal(struct state_rec *rec, size_t len);

/* Committed and intact: an even sequence and a matching checksum. Reads only. */
bool state_rec_valid(const struct state_rec *rec, size_t len);

#endif
