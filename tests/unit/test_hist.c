/* test_hist: the log-scale latency histogram — bucket edges, quantiles against known
 * distributions (within the promised 12.5 %), overflow, merge and snapshot deltas. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "helper_check.h"
#include "hist.h"

/* Every value maps into the bucket whose edges hold it, and the edges tile the range. */
START_TEST(bucket_edges_tile)
{
	ck_assert_uint_eq(hist_bucket_lo(0), 0);
	for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++) {
		ck_assert_uint_eq(hist_bucket_hi(i) + 1, hist_bucket_lo(i + 1));
		ck_assert_uint_eq(hist_bucket(hist_bucket_lo(i)), i);
		ck_assert_uint_eq(hist_bucket(hist_bucket_hi(i)), i);
	}
	ck_assert_uint_eq(hist_bucket_hi(HIST_BUCKETS - 1), UINT64_MAX);
	/* Exact below 8: one value per bucket. */
	for (uint64_t v = 0; v < 8; v++)
		ck_assert_uint_eq(hist_bucket(v), v);
	/* A quarter of a power of two per bucket: 1024..1279 is one bucket, 1280 the next. */
	ck_assert_uint_eq(hist_bucket(1024), hist_bucket(1279));
	ck_assert_uint_eq(hist_bucket(1280), hist_bucket(1024) + 1);
	ck_assert_uint_eq(hist_bucket(2047), hist_bucket(2048) - 1);
}
END_TEST

/* Bucket width is at most a quarter of its lower edge: the midpoint is within 12.5 %. */
START_TEST(bucket_relative_width)
{
	for (unsigned i = 8; i + 1 < HIST_BUCKETS; i++) {
		uint64_t lo = hist_bucket_lo(i), hi = hist_bucket_hi(i);
		ck_assert_uint_le((hi - lo + 1) * 4, lo);
	}
}
END_TEST

START_TEST(overflow_last_bucket)
{
	struct hist h;
	hist_init(&h);
	hist_add(&h, UINT64_C(1) << HIST_MAX_POW);
	hist_add(&h, UINT64_MAX);
	ck_assert_uint_eq(h.b[HIST_BUCKETS - 1], 2);
	ck_assert_uint_eq(hist_count(&h), 2);
	ck_assert_uint_eq(hist_used(&h), HIST_BUCKETS);
	/* Reported as the overflow bucket's lower edge, not as a made-up midpoint. */
	ck_assert_uint_eq(hist_quantile(&h, 0.5), hist_bucket_lo(HIST_BUCKETS - 1));
	/* One below the limit is still an ordinary bucket. */
	ck_assert_uint_lt(hist_bucket((UINT64_C(1) << HIST_MAX_POW) - 1), HIST_BUCKETS);
}
END_TEST

START_TEST(empty_and_single)
{
	struct hist h;
	hist_init(&h);
	ck_assert_uint_eq(hist_count(&h), 0);
	ck_assert_uint_eq(hist_used(&h), 0);
	ck_assert_uint_eq(hist_quantile(&h, 0.5), 0);
	ck_assert_uint_eq(hist_quantile(&h, 0.99), 0);
	hist_add(&h, 5);
	ck_assert_uint_eq(hist_quantile(&h, 0.0), 5);
	ck_assert_uint_eq(hist_quantile(&h, 0.5), 5);
	ck_assert_uint_eq(hist_quantile(&h, 1.0), 5);
	ck_assert_uint_eq(hist_used(&h), 6);
}
END_TEST

static void assert_near(uint64_t got, uint64_t want)
{
	/* Within 12.5 % of the true value (plus one for the integer midpoint). */
	uint64_t tol = want / 8 + 1;
	ck_assert_msg(got + tol >= want && got <= want + tol, "got %llu, want %llu +- %llu",
		      (unsigned long long)got, (unsigned long long)want, (unsigned long long)tol);
}

/* Uniform 1..100000 ns: p50 = 50000, p99 = 99000, p100 = 100000. */
START_TEST(quantiles_uniform)
{
	struct hist h;
	hist_init(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_add(&h, v);
	ck_assert_uint_eq(hist_count(&h), 100000);
	assert_near(hist_quantile(&h, 0.5), 50000);
	assert_near(hist_quantile(&h, 0.99), 99000);
	assert_near(hist_quantile(&h, 1.0), 100000);
	assert_near(hist_quantile(&h, 0.01), 1000);
}
END_TEST

/* Two modes, 90 % at 10 us and 10 % at 1 ms: p50 sits in the first, p99 in the second, and
 * hist_add_n counts like n single adds. */
START_TEST(quantiles_bimodal)
{
	struct hist h, g;
	hist_init(&h);
	hist_init(&g);
	for (int i = 0; i < 900; i++)
		hist_add(&h, 10000);
	for (int i = 0; i < 100; i++)
		hist_add(&h, 1000000);
	hist_add_n(&g, 10000, 900);
	hist_add_n(&g, 1000000, 100);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		ck_assert_uint_eq(h.b[i], g.b[i]);
	assert_near(hist_quantile(&h, 0.5), 10000);
	assert_near(hist_quantile(&h, 0.9), 10000);
	assert_near(hist_quantile(&h, 0.901), 1000000);
	assert_near(hist_quantile(&h, 0.99), 1000000);
}
END_TEST

/* Random exponential-ish samples: the quantile read back is within a bucket of the exact one
 * computed by sorting. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

START_TEST(quantiles_random_vs_sorted)
{
	enum { N = 20000 };
	static uint64_t v[N];
	struct hist h;
	hist_init(&h);
	srand(8);
	for (int i = 0; i < N; i++) {
		/* spread over 6 orders of magnitude */
		v[i] = (uint64_t)(rand() % 1000 + 1) << (rand() % 20);
		hist_add(&h, v[i]);
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	const double qs[] = {0.01, 0.1, 0.5, 0.9, 0.99, 0.999};
	for (unsigned k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		uint64_t exact = v[(size_t)(qs[k] * N + 0.999999) - 1];
		uint64_t got = hist_quantile(&h, qs[k]);
		/* same bucket as the exact order statistic */
		ck_assert_uint_eq(hist_bucket(got), hist_bucket(exact));
		assert_near(got, exact);
	}
	/* Monotone in q. */
	uint64_t prev = 0;
	for (double q = 0.0; q <= 1.0; q += 0.01) {
		uint64_t x = hist_quantile(&h, q);
		ck_assert_uint_ge(x, prev);
		prev = x;
	}
}
END_TEST

START_TEST(merge_adds)
{
	struct hist a, b, both;
	hist_init(&a);
	hist_init(&b);
	hist_init(&both);
	for (uint64_t v = 1; v < 5000; v += 7) {
		hist_add(&a, v);
		hist_add(&both, v);
	}
	for (uint64_t v = 100000; v < 200000; v += 13) {
		hist_add(&b, v);
		hist_add(&both, v);
	}
	hist_merge(&a, &b);
	ck_assert_uint_eq(hist_count(&a), hist_count(&both));
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		ck_assert_uint_eq(a.b[i], both.b[i]);
	ck_assert_uint_eq(hist_quantile(&a, 0.99), hist_quantile(&both, 0.99));
}
END_TEST

/* Delta of two snapshots is what was counted in between; a bucket that went down (the owner
 * restarted) is reported. */
START_TEST(sub_deltas)
{
	struct hist h, then, d;
	hist_init(&h);
	for (int i = 0; i < 1000; i++)
		hist_add(&h, 1000000); /* old traffic: 1 ms */
	then = h;
	for (int i = 0; i < 100; i++)
		hist_add(&h, 20000); /* recent traffic: 20 us */
	ck_assert_int_eq(hist_sub(&d, &h, &then), 0);
	ck_assert_uint_eq(hist_count(&d), 100);
	assert_near(hist_quantile(&d, 0.99), 20000);
	/* cumulative view still dominated by the old mode */
	assert_near(hist_quantile(&h, 0.5), 1000000);

	/* restart: counts went down */
	struct hist fresh;
	hist_init(&fresh);
	hist_add(&fresh, 3000);
	ck_assert_int_eq(hist_sub(&d, &fresh, &then), -ESTALE);
	ck_assert_uint_eq(hist_count(&d), 1);
}
END_TEST

static Suite *hist_suite(void)
{
	Suite *s = suite_create("hist");
	TCase *tc = tcase_create("hist");
	tcase_add_test(tc, bucket_edges_tile);
	tcase_add_test(tc, bucket_relative_width);
	tcase_add_test(tc, overflow_last_bucket);
	tcase_add_test(tc, empty_and_single);
	tcase_add_test(tc, quantiles_uniform);
	tcase_add_test(tc, quantiles_bimodal);
	tcase_add_test(tc, quantiles_random_vs_sorted);
	tcase_add_test(tc, merge_adds);
	tcase_add_test(tc, sub_deltas);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(hist_suite());
}
