/* test_state_journal: sealed records and the undo journal (common/state_journal.h) on their own:
 * seals, nesting, one image per record and transaction, rollback of every record of an
 * unfinished transaction (and idempotence), a transaction larger than the journal, and a
 * journal of garbage, whose entries must never make recovery write outside its bounds.
 * (Cutting real updates after every store is test_udp_restart's.) */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "state_journal.h"

struct rec {
	struct state_rec r;
	uint64_t a;
	uint64_t b;
};

/* A payload as a server lays it out: records, the journal, more records. */
struct payload {
	struct rec lo[4];
	struct state_journal j;
	struct rec hi[200];
};

static struct payload *p;

static void setup(void)
{
	p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	state_journal_init(&p->j);
	for (unsigned i = 0; i < 4; i++)
		state_rec_seal(&p->lo[i].r, sizeof(struct rec));
	for (unsigned i = 0; i < 200; i++)
		state_rec_seal(&p->hi[i].r, sizeof(struct rec));
}

static void teardown(void)
{
	free(p);
}

static struct rec *w(struct rec *r)
{
	return state_journal_touch(&p->j, &r->r, sizeof(*r));
}

static bool ok(const struct rec *r)
{
	return state_rec_valid(&r->r, sizeof(*r));
}

START_TEST(seal_detects_any_change)
{
	struct rec r = {.a = 1, .b = 2};
	state_rec_seal(&r.r, sizeof(r));
	ck_assert(ok(&r));
	ck_assert_uint_eq(r.r.seq % 2, 0);
	for (unsigned byte = sizeof(r.r); byte < sizeof(r); byte++) {
		struct rec c = r;
		((uint8_t *)&c)[byte] ^= 0x10;
		ck_assert_msg(!ok(&c), "byte %u changed, seal still valid", byte);
	}
	struct rec c = r;
	c.r.seq += 2; /* a stale checksum under another sequence */
	ck_assert(!ok(&c));
	c = r;
	c.r.seq |= 1;
	ck_assert(!ok(&c));
}
END_TEST

START_TEST(commit_seals_nested_once)
{
	uint32_t seq = p->hi[0].r.seq;
	state_journal_begin(&p->j);
	w(&p->hi[0])->a = 5;
	ck_assert_uint_eq(p->hi[0].r.seq % 2, 1); /* being written */
	state_journal_begin(&p->j);              /* a call joining the transaction */
	w(&p->hi[0])->b = 6;                      /* saved once only */
	w(&p->lo[1])->a = 7;
	state_journal_end(&p->j);
	ck_assert_uint_eq(p->j.n, 2);            /* not committed by the inner end */
	state_journal_end(&p->j);
	ck_assert(state_journal_idle(&p->j));
	ck_assert(ok(&p->hi[0]) && ok(&p->lo[1]));
	ck_assert_uint_eq(p->hi[0].r.seq, seq + 2);
	ck_assert_uint_eq(p->j.stats.commits, 1);
	/* A transaction that wrote nothing commits nothing. */
	state_journal_begin(&p->j);
	state_journal_end(&p->j);
	ck_assert_uint_eq(p->j.stats.commits, 1);
}
END_TEST

START_TEST(recover_rolls_back_every_record)
{
	struct payload *before = malloc(sizeof(*p));
	ck_assert_ptr_nonnull(before);
	memcpy(before, p, sizeof(*p));
	state_journal_begin(&p->j);
	w(&p->lo[0])->a = 1;
	w(&p->hi[3])->b = 2;
	w(&p->lo[0])->b = 3; /* the same record again: its image stays the committed one */
	/* killed here: nothing commits */
	ck_assert_uint_eq(state_journal_recover(&p->j, p, sizeof(*p)), 2);
	ck_assert(state_journal_idle(&p->j));
	ck_assert_uint_eq(p->j.depth, 0);
	ck_assert_int_eq(memcmp(p->lo, before->lo, sizeof(p->lo)), 0);
	ck_assert_int_eq(memcmp(p->hi, before->hi, sizeof(p->hi)), 0);
	ck_assert_uint_eq(p->j.stats.rolled_back, 2);
	/* Nothing open: nothing to do. */
	ck_assert_uint_eq(state_journal_recover(&p->j, p, sizeof(*p)), 0);
	free(before);
}
END_TEST

START_TEST(recover_is_idempotent)
{
	struct rec want = p->hi[9];
	state_journal_begin(&p->j);
	w(&p->hi[9])->a = 42;
	/* A recovery that died after its copies but before clearing the journal, then the
	 * next one: the same copies again. */
	struct state_journal saved = p->j;
	ck_assert_uint_eq(state_journal_recover(&p->j, p, sizeof(*p)), 1);
	p->j = saved;
	ck_assert_uint_eq(state_journal_recover(&p->j, p, sizeof(*p)), 1);
	ck_assert_int_eq(memcmp(&p->hi[9], &want, sizeof(want)), 0);
}
END_TEST

START_TEST(overflow_commits_early)
{
	state_journal_begin(&p->j);
	for (unsigned i = 0; i < 200; i++)
		w(&p->hi[i])->a = i + 1; /* more records than the journal has entries */
	ck_assert_uint_eq(p->j.stats.overflows, 200 / STATE_JOURNAL_ENTRIES);
	/* Killed now: what was committed early stays, the rest rolls back; nothing is torn. */
	state_journal_recover(&p->j, p, sizeof(*p));
	unsigned kept = 0;
	for (unsigned i = 0; i < 200; i++) {
		ck_assert(ok(&p->hi[i]));
		kept += p->hi[i].a == i + 1;
	}
	ck_assert_uint_eq(kept, 200 / STATE_JOURNAL_ENTRIES * STATE_JOURNAL_ENTRIES);
}
END_TEST

/* An unsealed record (no state_rec: its owner validates it otherwise) joins a transaction:
 * rolled back with the sealed ones, never marked or sealed, its image saved once. */
START_TEST(unsealed_records_roll_back_with_the_rest)
{
	struct rec before = p->hi[1];
	uint64_t raw_before = p->hi[2].a;
	state_journal_begin(&p->j);
	w(&p->hi[1])->a = 7;
	state_journal_save(&p->j, &p->hi[2].a, sizeof(p->hi[2].a));
	p->hi[2].a = 8;
	state_journal_save(&p->j, &p->hi[2].a, sizeof(p->hi[2].a)); /* again: no second image */
	p->hi[2].a = 9;
	ck_assert_uint_eq(p->j.n, 2);
	/* killed here */
	ck_assert_uint_eq(state_journal_recover(&p->j, p, sizeof(*p)), 2);
	ck_assert(!memcmp(&p->hi[1], &before, sizeof(before)));
	ck_assert_uint_eq(p->hi[2].a, raw_before);
	ck_assert(ok(&p->hi[2])); /* its seal was never touched */
	/* committed: the new values stay and only the sealed record was sealed anew */
	uint32_t seq2 = p->hi[2].r.seq;
	state_journal_begin(&p->j);
	w(&p->hi[1])->a = 7;
	state_journal_save(&p->j, &p->hi[2].b, sizeof(p->hi[2].b));
	p->hi[2].b = 10;
	state_journal_end(&p->j);
	ck_assert(ok(&p->hi[1]));
	ck_assert_uint_eq(p->hi[1].a, 7);
	ck_assert_uint_eq(p->hi[2].b, 10);
	ck_assert_uint_eq(p->hi[2].r.seq, seq2);
	ck_assert_uint_eq(state_journal_recover(&p->j, p, sizeof(*p)), 0);
	ck_assert_uint_eq(p->hi[2].b, 10);
}
END_TEST

START_TEST(recover_trusts_no_entry)
{
	struct payload *before = malloc(sizeof(*p));
	ck_assert_ptr_nonnull(before);
	state_journal_begin(&p->j);
	w(&p->hi[0])->a = 1;
	w(&p->lo[2])->a = 1;
	w(&p->hi[1])->a = 1;
	memcpy(before, p, sizeof(*p));
	/* Entry 0: outside the bounds recovery is given (only hi[] here). */
	ck_assert_uint_eq(state_journal_recover(&p->j, p->hi, sizeof(p->hi)), 2);
	ck_assert_uint_eq(p->j.stats.bad_entries, 1);
	ck_assert_int_eq(memcmp(p->lo, before->lo, sizeof(p->lo)), 0); /* not written */
	ck_assert(!ok(&p->lo[2]));                                      /* still odd */

	/* Entries of garbage: off the end, over the journal itself, a length past the data,
	 * a count past the table. */
	memcpy(p, before, sizeof(*p));
	p->j.ent[0].off = INT64_MAX / 2;
	p->j.ent[1].off = 0; /* the journal itself */
	p->j.ent[2].len = STATE_JOURNAL_DATA + 1;
	ck_assert_uint_eq(state_journal_recover(&p->j, p, sizeof(*p)), 0);
	ck_assert_uint_eq(p->j.stats.bad_entries, 3);
	ck_assert(state_journal_idle(&p->j));
	memcpy(p, before, sizeof(*p));
	p->j.n = 0xffffffffu;
	ck_assert_uint_eq(state_journal_recover(&p->j, p, sizeof(*p)), 0);
	ck_assert(state_journal_idle(&p->j));
	free(before);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("state_journal");
	TCase *tc = tcase_create("journal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, seal_detects_any_change);
	tcase_add_test(tc, commit_seals_nested_once);
	tcase_add_test(tc, recover_rolls_back_every_record);
	tcase_add_test(tc, recover_is_idempotent);
	tcase_add_test(tc, overflow_commits_early);
	tcase_add_test(tc, unsealed_records_roll_back_with_the_rest);
	tcase_add_test(tc, recover_trusts_no_entry);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
