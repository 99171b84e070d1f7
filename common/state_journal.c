/* state_journal: the undo journal and record seals of state segments (the design is in
 * state_journal.h).
 *
 * The step order, and why each step is safe to be cut after any store:
 *   touch:   image -> data[], entry -> ent[n]   (n not yet counting it: a cut here leaves the
 *                                               record untouched and the entry unseen)
 *            n + 1                              (published: from here recovery restores it)
 *            record seq odd, then the caller's writes
 *   save:    the same without the seq (an unsealed record: nothing to mark or seal)
 *   commit:  per record: checksum, then seq even (a cut leaves n > 0: all restored)
 *            n = 0                              (the commit point: one aligned store)
 *   recover: images copied back, last first; then n = 0. A cut leaves n > 0 and the images
 *            untouched, so the next recovery does the same copies again.
 */
#include "state_journal.h"

#include <assert.h>
#include <stdatomic.h>
#include <string.h>

/* The stores before it reach memory before the stores after it, as far as a SIGKILL can tell
 * (state_journal.h: only the compiler could reorder them). */
#define STATE_ORDER() atomic_signal_fence(memory_order_seq_cst)

#define F(x) STAT_FIELD(struct state_journal_stats, x)
const struct stat_field state_journal_stat_fields[] = {
	F(commits), F(rolled_back), F(bad_entries), F(overflows),
};
#undef F
_Static_assert(sizeof(state_journal_stat_fields) / sizeof(state_journal_stat_fields[0]) ==
		       sizeof(struct state_journal_stats) / sizeof(uint64_t),
	       "state_journal_stat_fields must name every counter");
const unsigned state_journal_stat_field_count =
	sizeof(state_journal_stat_fields) / sizeof(state_journal_stat_fields[0]);

static void state_store32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED); /* whole: never torn into two stores */
}

/* A 32-bit digest of seq and the sealed bytes: detects a record torn or scribbled on, not an
 * adversary (the segment is private to the stack's user). A multiply-xorshift over 64-bit words:
 * every step is a bijection of the state, so any single changed word changes the result. */
static uint32_t state_rec_sum(uint32_t seq, const struct state_rec *rec, size_t len)
{
	const uint8_t *b = (const uint8_t *)rec + sizeof(*rec);
	size_t left = len - sizeof(*rec);
	uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)seq << 32 | (uint32_t)len);

	for (; left >= 8; b += 8, left -= 8) {
		uint64_t w;

		memcpy(&w, b, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
	}
	if (left > 0) {
		uint64_t w = 0;

		memcpy(&w, b, left);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h ^ (uint32_t)(h >> 32);
}

static void state_rec_seal_next(struct state_rec *rec, size_t len)
{
	uint32_t seq = (rec->seq | 1u) + 1u; /* the next even number */

	state_store32(&rec->csum, state_rec_sum(seq, rec, len));
	STATE_ORDER();
	state_store32(&rec->seq, seq);
}

void state_rec_seal(struct state_rec *rec, size_t len)
{
	state_rec_seal_next(rec, len);
}

bool state_rec_valid(const struct state_rec *rec, size_t len)
{
	return !(rec->seq & 1u) && rec->csum == state_rec_sum(rec->seq, rec, len);
}

void state_journal_init(struct state_journal *j)
{
	memset(j, 0, sizeof(*j));
}

bool state_journal_idle(const struct state_journal *j)
{
	return j->n == 0;
}

void state_journal_begin(struct state_journal *j)
{
	j->depth++;
}

/* Offsets are taken and applied as integers: the journal and its records are in one mapping,
 * but not in one C object. */
static struct state_rec *state_journal_rec(struct state_journal *j,
					   const struct state_journal_ent *e)
{
	return (struct state_rec *)((uintptr_t)j + (uintptr_t)e->off);
}

static void state_journal_commit(struct state_journal *j)
{
	uint32_t n = j->n;

	if (n == 0)
		return;
	for (uint32_t i = 0; i < n; i++)
		if (!(j->ent[i].len & STATE_JOURNAL_RAW))
			state_rec_seal_next(state_journal_rec(j, &j->ent[i]), j->ent[i].len);
	STATE_ORDER();
	state_store32(&j->n, 0); /* the commit point */
	STATE_ORDER();
	j->used = 0;
	j->stats.commits++;
}

void state_journal_end(struct state_journal *j)
{
	assert(j->depth > 0);
	if (j->depth > 0 && --j->depth > 0)
		return;
	state_journal_commit(j);
}

/* Save the image of len bytes at p as entry n (flags: STATE_JOURNAL_RAW or 0) and publish it;
 * false if p was saved already in this transaction (its image is the committed one). */
static bool state_journal_image(struct state_journal *j, void *p, size_t len, uint32_t flags)
{
	int64_t off = (int64_t)((uintptr_t)p - (uintptr_t)j);
	uint32_t n = j->n;

	assert(j->depth > 0); /* without a transaction the write would join the next one */
	for (uint32_t i = 0; i < n; i++)
		if (j->ent[i].off == off)
			return false;
	if (n == STATE_JOURNAL_ENTRIES || j->used + len > STATE_JOURNAL_DATA) {
		/* Larger than the journal (never expected: sized for the largest transaction).
		 * Commit what we have so no record is ever written without its image. */
		j->stats.overflows++;
		state_journal_commit(j);
		n = 0;
	}
	struct state_journal_ent *e = &j->ent[n];
	memcpy(j->data + j->used, p, len);
	e->off = off;
	e->len = (uint32_t)len | flags;
	e->data_off = j->used;
	j->used += (uint32_t)len;
	STATE_ORDER();
	state_store32(&j->n, n + 1); /* published: recovery restores it from here on */
	STATE_ORDER();
	return true;
}

void *state_journal_touch(struct state_journal *j, struct state_rec *rec, size_t len)
{
	assert(len >= sizeof(*rec) && len <= STATE_JOURNAL_DATA);
	if (state_journal_image(j, rec, len, 0)) {
		state_store32(&rec->seq, rec->seq | 1u);
		STATE_ORDER();
	}
	return rec;
}

void state_journal_save(struct state_journal *j, void *p, size_t len)
{
	assert(len >= 1 && len <= STATE_JOURNAL_DATA);
	state_journal_image(j, p, len, STATE_JOURNAL_RAW);
}

unsigned state_journal_recover(struct state_journal *j, void *lo, size_t size)
{
	uint32_t n = j->n;
	unsigned restored = 0;
	uintptr_t jb = (uintptr_t)j, je = jb + sizeof(*j);
	uintptr_t lb = (uintptr_t)lo, le = lb + size;

	if (n > STATE_JOURNAL_ENTRIES) {
		j->stats.bad_entries++;
		n = 0;
	}
	for (uint32_t i = n; i-- > 0;) {
		const struct state_journal_ent *e = &j->ent[i];
		uintptr_t target = jb + (uintptr_t)e->off;
		uint32_t len = e->len & ~STATE_JOURNAL_RAW;
		uint32_t min = (e->len & STATE_JOURNAL_RAW) ? 1u : sizeof(struct state_rec);
		/* Every bound by subtraction from known-good ends: no entry can make it wrap. */
		bool ok = len >= min && len <= STATE_JOURNAL_DATA &&
			  e->data_off <= STATE_JOURNAL_DATA - len && target >= lb && target <= le &&
			  le - target >= len && (target >= je || (target < jb && jb - target >= len));
		if (!ok) {
			j->stats.bad_entries++;
			continue;
		}
		memcpy((void *)target, j->data + e->data_off, len);
		restored++;
	}
	STATE_ORDER();
	state_store32(&j->n, 0);
	STATE_ORDER();
	j->depth = 0;
	j->used = 0;
	j->stats.rolled_back += restored;
	return restored;
}
