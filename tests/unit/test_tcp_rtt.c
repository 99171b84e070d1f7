/* test_tcp_rtt: RTT estimation and RTO (servers/tcp/tcp_rtt.c, RFC 6298) — the initial RTO,
 * the first and later samples computed by hand from §2.2/§2.3, the clock granularity term,
 * the 200 ms floor and 120 s ceiling, the backoff schedule and its cap, backoff surviving ACKs
 * without samples until a new sample collapses it, Karn's one-timed-segment rule (also across
 * the sequence wrap), the §5.7 3-second fallback after a lost SYN, and torn values. */
#include <check.h>
#include <string.h>

#include "helper_check.h"
#include "tcp_priv.h"

#define MS 1000000ull /* ns */
#define S 1000000000ull

START_TEST(initial_rto_is_one_second)
{
	struct tcp_rtt r;

	memset(&r, 0x77, sizeof(r));
	tcp_rtt_init(&r);
	ck_assert_uint_eq(r.srtt_us, 0);
	ck_assert_uint_eq(r.backoff, 0);
	ck_assert_uint_eq(r.timing, 0);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 1 * S);
}
END_TEST

START_TEST(samples_by_hand)
{
	struct tcp_rtt r;

	tcp_rtt_init(&r);
	/* (2.2) R = 100 ms: SRTT = 100000, RTTVAR = 50000, RTO = 100000 + 4·50000 = 300 ms. */
	tcp_rtt_sample(&r, 100000);
	ck_assert_uint_eq(r.srtt_us, 100000);
	ck_assert_uint_eq(r.rttvar_us, 50000);
	ck_assert_uint_eq(r.rto_us, 300000);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 300 * MS);
	/* (2.3) R' = 200 ms: RTTVAR = (3·50000 + |100000 - 200000|)/4 = 62500 (old SRTT),
	 * SRTT = (7·100000 + 200000)/8 = 112500, RTO = 112500 + 4·62500 = 362500. */
	tcp_rtt_sample(&r, 200000);
	ck_assert_uint_eq(r.rttvar_us, 62500);
	ck_assert_uint_eq(r.srtt_us, 112500);
	ck_assert_uint_eq(r.rto_us, 362500);
	/* R' = 40 ms: RTTVAR = (3·62500 + 72500)/4 = 65000, SRTT = (7·112500 + 40000)/8 =
	 * 103437 (103437.5 truncated), RTO = 103437 + 260000 = 363437. */
	tcp_rtt_sample(&r, 40000);
	ck_assert_uint_eq(r.rttvar_us, 65000);
	ck_assert_uint_eq(r.srtt_us, 103437);
	ck_assert_uint_eq(r.rto_us, 363437);
	ck_assert_uint_eq(r.min_rtt_us, 40000);
}
END_TEST

START_TEST(floor_and_granularity)
{
	struct tcp_rtt r;

	tcp_rtt_init(&r);
	/* A 1 ms path: RTO = 1000 + 4·500 = 3 ms, raised to the 200 ms floor. */
	tcp_rtt_sample(&r, 1000);
	ck_assert_uint_eq(r.rto_us, 200000);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 200 * MS);
	/* A steady 500 ms path: RTTVAR decays by 3/4 per sample to 0, and then G (1 ms) is
	 * the variance term: RTO = 500000 + max(1000, 0) = 501 ms. */
	tcp_rtt_init(&r);
	for (int i = 0; i < 100; i++)
		tcp_rtt_sample(&r, 500000);
	ck_assert_uint_eq(r.srtt_us, 500000);
	ck_assert_uint_eq(r.rttvar_us, 0);
	ck_assert_uint_eq(r.rto_us, 501000);
	/* While 4·RTTVAR is still above G it wins: after one sample RTTVAR = 250000. */
	tcp_rtt_init(&r);
	tcp_rtt_sample(&r, 500000);
	ck_assert_uint_eq(r.rto_us, 500000 + 4 * 250000);
}
END_TEST

START_TEST(ceiling_and_extremes)
{
	struct tcp_rtt r;

	tcp_rtt_init(&r);
	/* 100 s: RTO = 100 + 4·50 = 300 s, capped at 120 s. */
	tcp_rtt_sample(&r, 100000000);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 120 * S);
	/* A sample beyond the cap is taken as the cap; UINT32_MAX does not overflow. */
	tcp_rtt_init(&r);
	tcp_rtt_sample(&r, UINT32_MAX);
	ck_assert_uint_eq(r.srtt_us, 120000000);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 120 * S);
	/* 0 µs (below resolution) counts as 1 µs: an estimate exists afterwards. */
	tcp_rtt_init(&r);
	tcp_rtt_sample(&r, 0);
	ck_assert_uint_eq(r.srtt_us, 1);
	ck_assert_uint_eq(r.rto_us, 200000);
	/* Garbage from a torn record is clamped when read. */
	r.rto_us = 0;
	r.backoff = 255;
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 120 * S);
	r.backoff = 0;
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 200 * MS);
	r.rto_us = UINT32_MAX;
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 120 * S);
}
END_TEST

START_TEST(backoff_schedule)
{
	/* From 1 s: 1, 2, 4, 8, 16, 32, 64 s, then 120 s for ever (§5.5, capped). */
	static const uint64_t want[] = {1, 2, 4, 8, 16, 32, 64, 120, 120, 120};
	struct tcp_rtt r;

	tcp_rtt_init(&r);
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ck_assert_uint_eq(tcp_rtt_rto_ns(&r), want[i] * S);
		tcp_rtt_backoff(&r);
	}
	for (int i = 0; i < 1000; i++)
		tcp_rtt_backoff(&r);
	ck_assert_uint_eq(r.backoff, 255);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 120 * S);
	tcp_rtt_reset_backoff(&r);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 1 * S);
}
END_TEST

START_TEST(backoff_kept_until_new_sample)
{
	struct tcp_rtt r;

	tcp_rtt_init(&r);
	tcp_rtt_sample(&r, 100000); /* RTO 300 ms */
	tcp_rtt_backoff(&r);
	tcp_rtt_backoff(&r);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 1200 * MS);
	/* An ACK of the retransmitted segment gives no sample under Karn: the timed segment was
	 * cancelled by the retransmission, so the RTO stays backed off. */
	tcp_rtt_start(&r, 5000, 10 * S);
	tcp_rtt_cancel(&r);
	ck_assert_uint_eq(tcp_rtt_acked(&r, 6000, 11 * S), 0);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 1200 * MS);
	/* New data sent and timed, then ACKed: a sample, the backoff ends and the RTO
	 * collapses to the estimate. R' = 100 ms leaves SRTT = 100000 and RTTVAR =
	 * 3/4·50000 = 37500: RTO = 100000 + 150000 = 250 ms. */
	tcp_rtt_start(&r, 6000, 12 * S);
	tcp_rtt_sample(&r, tcp_rtt_acked(&r, 7000, 12 * S + 100 * MS));
	ck_assert_uint_eq(r.backoff, 0);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 250 * MS);
}
END_TEST

START_TEST(karn_one_timed_segment)
{
	struct tcp_rtt r;

	tcp_rtt_init(&r);
	tcp_rtt_start(&r, 1000, 1 * S);
	tcp_rtt_start(&r, 2000, 2 * S); /* already timing: ignored */
	ck_assert_uint_eq(r.timed_seq, 1000);
	/* An ACK that does not cover the timed segment's first byte is no sample. */
	ck_assert_uint_eq(tcp_rtt_acked(&r, 1000, 3 * S), 0);
	ck_assert_uint_eq(tcp_rtt_acked(&r, 999, 3 * S), 0);
	ck_assert_uint_eq(r.timing, 1);
	/* The ACK covering it: (1.25 s - 1 s) = 250000 µs, once. */
	ck_assert_uint_eq(tcp_rtt_acked(&r, 1001, 1 * S + 250 * MS), 250000);
	ck_assert_uint_eq(tcp_rtt_acked(&r, 5000, 4 * S), 0);
	ck_assert_uint_eq(r.timing, 0);
	/* A retransmission cancels timing. */
	tcp_rtt_start(&r, 3000, 5 * S);
	tcp_rtt_cancel(&r);
	ck_assert_uint_eq(tcp_rtt_acked(&r, 9000, 6 * S), 0);
	/* A sample shorter than a µs is 1 µs, never 0 ("no sample"). */
	tcp_rtt_start(&r, 3000, 7 * S);
	ck_assert_uint_eq(tcp_rtt_acked(&r, 3001, 7 * S + 500), 1);
	/* A clock that went backwards (cannot happen with CLOCK_MONOTONIC) gives none. */
	tcp_rtt_start(&r, 3000, 7 * S);
	ck_assert_uint_eq(tcp_rtt_acked(&r, 3001, 6 * S), 0);
	ck_assert_uint_eq(r.timing, 0);
	/* No feeding of the estimator by tcp_rtt_acked itself. */
	ck_assert_uint_eq(r.srtt_us, 0);
}
END_TEST

START_TEST(karn_across_wrap)
{
	struct tcp_rtt r;

	tcp_rtt_init(&r);
	tcp_rtt_start(&r, 0xfffffff0u, 1 * S);
	ck_assert_uint_eq(tcp_rtt_acked(&r, 0xfffffff0u, 2 * S), 0);
	ck_assert_uint_eq(tcp_rtt_acked(&r, 0x10u, 1 * S + 30 * MS), 30000);
}
END_TEST

START_TEST(syn_timeout_fallback)
{
	struct tcp_rtt r;

	/* SYN retransmitted once, no sample (Karn): 3 s when data transmission begins, and the
	 * SYN's backoff is over. */
	tcp_rtt_init(&r);
	tcp_rtt_backoff(&r);
	tcp_rtt_handshake_done(&r, true);
	ck_assert_uint_eq(r.backoff, 0);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 3 * S);
	/* The next sample replaces it: R = 80 ms → RTO = 80 + 4·40 = 240 ms. */
	tcp_rtt_sample(&r, 80000);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 240 * MS);
	/* No SYN timeout: nothing changes but the backoff. */
	tcp_rtt_init(&r);
	tcp_rtt_sample(&r, 80000);
	tcp_rtt_backoff(&r);
	tcp_rtt_handshake_done(&r, false);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 240 * MS);
	/* §5.7 is a MUST even with a sample (timestamps can time a retransmitted SYN-ACK). */
	tcp_rtt_handshake_done(&r, true);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 3 * S);
	/* An RTO already at or above 3 s is left alone. */
	tcp_rtt_init(&r);
	tcp_rtt_sample(&r, 2000000); /* 2 + 4·1 = 6 s */
	tcp_rtt_handshake_done(&r, true);
	ck_assert_uint_eq(tcp_rtt_rto_ns(&r), 6 * S);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_rtt");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, initial_rto_is_one_second);
	tcase_add_test(tc, samples_by_hand);
	tcase_add_test(tc, floor_and_granularity);
	tcase_add_test(tc, ceiling_and_extremes);
	tcase_add_test(tc, backoff_schedule);
	tcase_add_test(tc, backoff_kept_until_new_sample);
	tcase_add_test(tc, karn_one_timed_segment);
	tcase_add_test(tc, karn_across_wrap);
	tcase_add_test(tc, syn_timeout_fallback);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
