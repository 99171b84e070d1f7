/* test_udp_tx_sched: the order and the turns of udpd's TX rounds (servers/udp/udp_tx_sched.h).
 *
 * A fake of udpd's sessions: each has records pending or not, and takes at most `room`
 * records a turn before the link or the pool holds it back (BLOCKED), or its whole budget
 * (MORE). The case the scheduler exists for is a flooding session that the pool holds back
 * after every couple of records: a session behind it must still get its turn within one turn
 * of the flooder, where the old rule (a blocked round restarts at the blocked session with a
 * whole new turn) kept it waiting for ever.
 */
#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "helper_check.h"
#include "udp_tx_sched.h"

#define N 8u
#define BUDGET 64u

struct fake {
	bool pending[N];
	unsigned room[N];      /* records a turn takes before BLOCKED; 0: never blocked */
	unsigned served[N];    /* records taken, in all */
	unsigned turns[N];
	unsigned order[64];    /* who was served, in order */
	unsigned n_order;
	unsigned last_budget[N];
};

static bool fake_pending(void *arg, unsigned si)
{
	return ((struct fake *)arg)->pending[si];
}

static enum udp_tx_turn fake_serve(void *arg, unsigned si, unsigned budget, unsigned *used)
{
	struct fake *f = arg;
	f->turns[si]++;
	f->last_budget[si] = budget;
	if (f->n_order < 64)
		f->order[f->n_order++] = si;
	if (f->room[si] && f->room[si] < budget) {
		*used = f->room[si];
		f->served[si] += *used;
		return UDP_TX_TURN_BLOCKED;
	}
	*used = budget;
	f->served[si] += budget;
	return UDP_TX_TURN_MORE;
}

static const struct udp_tx_sched_ops ops = {.pending = fake_pending, .serve = fake_serve};

/* The case the scheduler exists for: a flooder at 0, held back after 2 records a turn, and a
 * bystander at 5 with records pending. */
static void flooder_and_bystander(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->pending[0] = f->pending[5] = true;
	f->room[0] = 2;
}

START_TEST(rounds_take_turns_starting_first)
{
	struct fake f = {0};
	struct udp_tx_sched s = {0};
	bool blocked;
	f.pending[1] = f.pending[4] = f.pending[6] = true;
	ck_assert(udp_tx_sched_round(&s, N, BUDGET, &ops, &f, &blocked));
	ck_assert(!blocked);
	ck_assert(!udp_tx_sched_resuming(&s));
	ck_assert_uint_eq(f.n_order, 3);
	ck_assert_uint_eq(f.order[0], 1);
	ck_assert_uint_eq(f.order[1], 4);
	ck_assert_uint_eq(f.order[2], 6);
	/* the next rounds start one session further on */
	for (unsigned r = 0; r < 2; r++)
		udp_tx_sched_round(&s, N, BUDGET, &ops, &f, &blocked);
	ck_assert_uint_eq(f.order[3], 1); /* round 2 starts at 1 */
	ck_assert_uint_eq(f.order[6], 4); /* round 3 starts at 2: 4 comes first */
	for (unsigned i = 0; i < N; i++)
		ck_assert_uint_eq(f.last_budget[i], f.pending[i] ? BUDGET : 0);
}
END_TEST

START_TEST(nothing_pending_is_an_empty_round)
{
	struct fake f = {0};
	struct udp_tx_sched s = {0};
	bool blocked = true;
	ck_assert(!udp_tx_sched_round(&s, N, BUDGET, &ops, &f, &blocked));
	ck_assert(!blocked);
	ck_assert_uint_eq(f.n_order, 0);
	ck_assert(!udp_tx_sched_round(&s, 0, BUDGET, &ops, &f, &blocked));
}
END_TEST

/* The flooder at 0 takes 2 records a turn before the pool holds it back; the bystander at 5
 * has one datagram. The flooder's blocked turn goes on first in each next round, with what is
 * left of it (64, 62, 60, ... 2): after 32 rounds its turn is over and the bystander's comes in
 * the same round. */
START_TEST(a_flooder_held_back_every_turn_cannot_hold_the_line)
{
	struct fake f;
	struct udp_tx_sched s = {0};
	bool blocked;
	flooder_and_bystander(&f);
	unsigned rounds = 0;
	while (f.turns[5] == 0 && rounds < 1000) {
		udp_tx_sched_round(&s, N, BUDGET, &ops, &f, &blocked);
		rounds++;
		if (f.turns[5] == 0) {
			ck_assert(blocked);
			ck_assert(udp_tx_sched_resuming(&s));
			ck_assert_uint_eq(s.next, 0); /* still first in line, for the rest of its turn */
			ck_assert_uint_eq(s.left, BUDGET - 2 * rounds);
		}
	}
	ck_assert_uint_eq(rounds, BUDGET / 2);
	ck_assert_uint_eq(f.turns[5], 1);
	/* one budget of records went to the flooder before the bystander's turn, no more */
	ck_assert_uint_eq(f.served[0], BUDGET);
	/* its last part-turn was the rest (2), not a fresh budget */
	ck_assert_uint_eq(f.turns[0], BUDGET / 2);
}
END_TEST

/* Under the rule this replaced (a blocked round restarts at the blocked session with a whole
 * turn), the same flooder is served on every round and the bystander never: shown here by
 * re-arming a fresh turn by hand, which the scheduler must never do by itself. */
START_TEST(a_fresh_turn_after_every_block_would_starve_the_rest)
{
	struct fake f;
	struct udp_tx_sched s = {0};
	bool blocked;
	flooder_and_bystander(&f);
	for (unsigned r = 0; r < 100; r++) {
		udp_tx_sched_round(&s, N, BUDGET, &ops, &f, &blocked);
		ck_assert(blocked);
		s.left = 0; /* the old rule: a new turn */
	}
	ck_assert_uint_eq(f.turns[5], 0);
	ck_assert_uint_eq(f.last_budget[0], BUDGET);
}
END_TEST

/* A session that was blocked but has nothing pending when its round resumes (ended, or its
 * records dropped): the next one gets a whole turn, and the rounds go on as usual. */
START_TEST(a_resumed_round_without_its_session_gives_whole_turns)
{
	struct fake f = {0};
	struct udp_tx_sched s = {0};
	bool blocked;
	f.pending[2] = f.pending[3] = true;
	f.room[2] = 5;
	udp_tx_sched_round(&s, N, BUDGET, &ops, &f, &blocked);
	ck_assert(blocked);
	ck_assert_uint_eq(s.next, 2);
	ck_assert_uint_eq(s.left, BUDGET - 5);
	f.pending[2] = false;
	udp_tx_sched_round(&s, N, BUDGET, &ops, &f, &blocked);
	ck_assert(!blocked);
	ck_assert(!udp_tx_sched_resuming(&s));
	ck_assert_uint_eq(f.last_budget[3], BUDGET);
	ck_assert_uint_eq(s.next, 3);
}
END_TEST

/* Two flooders and a bystander: every one is served within a bounded number of rounds, and
 * neither flooder gets more than a turn's budget between two turns of the other. */
START_TEST(flooders_alternate_and_the_bystander_is_served)
{
	struct fake f = {0};
	struct udp_tx_sched s = {0};
	bool blocked;
	f.pending[1] = f.pending[2] = f.pending[7] = true;
	f.room[1] = f.room[2] = 3;
	unsigned prev = N, run = 0, max_run = 0;
	for (unsigned r = 0; r < 400; r++) {
		unsigned before = f.n_order;
		udp_tx_sched_round(&s, N, BUDGET, &ops, &f, &blocked);
		for (unsigned k = before; k < f.n_order; k++) {
			unsigned who = f.order[k];
			run = who == prev ? run + 1 : 1;
			prev = who;
			max_run = run > max_run ? run : max_run;
		}
		f.n_order = 0; /* keep the order log from filling */
	}
	ck_assert_uint_gt(f.turns[7], 0);
	ck_assert_uint_gt(f.served[1], 0);
	ck_assert_uint_gt(f.served[2], 0);
	/* a flooder's consecutive part-turns make up at most one budget: 64 / 3 rounded up */
	ck_assert_uint_le(max_run, (BUDGET + 2) / 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udp_tx_sched");
	TCase *tc = tcase_create("sched");
	tcase_add_test(tc, rounds_take_turns_starting_first);
	tcase_add_test(tc, nothing_pending_is_an_empty_round);
	tcase_add_test(tc, a_flooder_held_back_every_turn_cannot_hold_the_line);
	tcase_add_test(tc, a_fresh_turn_after_every_block_would_starve_the_rest);
	tcase_add_test(tc, a_resumed_round_without_its_session_gives_whole_turns);
	tcase_add_test(tc, flooders_alternate_and_the_bystander_is_served);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
