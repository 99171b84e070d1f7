/* test_tcp_isn: initial sequence numbers, timestamp clocks and the keyed hash
 * (servers/tcp/tcp_isn.c) — RFC 6528's ISN grows by one every 4 µs for a 4-tuple (also across
 * the 2^32 wrap and the clock's whole range), differs across 4-tuples and keys, every field of
 * the 4-tuple counts; TSval is a millisecond clock plus a per-pair offset; the hash is keyed
 * SipHash-2-4 (checked against libsodium directly), its domains never share outputs and the
 * cookie domains use the other half of the secret. */
#include <arpa/inet.h>
#include <check.h>
#include <sodium/crypto_shorthash_siphash24.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "tcp_priv.h"

#define US 1000ull
#define MS 1000000ull
#define S 1000000000ull

static struct tcp_table *t;

static void setup(void)
{
	t = calloc(1, sizeof(*t));
	ck_assert_ptr_nonnull(t);
	for (unsigned i = 0; i < sizeof(t->secret); i++)
		t->secret[i] = (uint8_t)(i * 7 + 3);
}

static void teardown(void)
{
	free(t);
	t = NULL;
}

#define LA htonl(0xc000020a) /* 192.0.2.10 */
#define RA htonl(0xc0000214) /* 192.0.2.20 */
#define LP htons(40000)
#define RP htons(80)

START_TEST(isn_follows_4us_clock)
{
	uint64_t t0 = 123456789ull * S; /* a machine up for years */
	uint32_t i0 = tcp_isn(t, t0, LA, LP, RA, RP);

	/* M = now / 4 µs: +1 per 4 µs, +250000 per second, the same F throughout. */
	ck_assert_uint_eq(tcp_isn(t, t0 + 3 * US, LA, LP, RA, RP), i0);
	ck_assert_uint_eq(tcp_isn(t, t0 + 4 * US, LA, LP, RA, RP), i0 + 1);
	ck_assert_uint_eq(tcp_isn(t, t0 + 1 * S, LA, LP, RA, RP), i0 + 250000u);
	/* Monotonic (in sequence space) over the next hour, sampled every 10 s. */
	for (uint64_t dt = 10 * S; dt <= 3600 * S; dt += 10 * S)
		ck_assert(SEQ_GT(tcp_isn(t, t0 + dt, LA, LP, RA, RP),
				 tcp_isn(t, t0 + dt - 10 * S, LA, LP, RA, RP)));
	/* 2^32 ticks (4.77 h) later the ISN is back where it was: the RFC's wrapping clock. */
	ck_assert_uint_eq(tcp_isn(t, t0 + (4 * US << 32), LA, LP, RA, RP), i0);
}
END_TEST

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

START_TEST(isn_differs_across_4tuples_and_keys)
{
	uint64_t now = 42 * S;
	uint32_t base = tcp_isn(t, now, LA, LP, RA, RP);
	uint32_t *seen = malloc(4096 * sizeof(*seen));

	ck_assert_ptr_nonnull(seen);
	/* Each field of the 4-tuple matters, including a swap of the two ends. */
	ck_assert_uint_ne(tcp_isn(t, now, LA ^ htonl(1), LP, RA, RP), base);
	ck_assert_uint_ne(tcp_isn(t, now, LA, htons(40001), RA, RP), base);
	ck_assert_uint_ne(tcp_isn(t, now, LA, LP, RA ^ htonl(1), RP), base);
	ck_assert_uint_ne(tcp_isn(t, now, LA, LP, RA, htons(81)), base);
	ck_assert_uint_ne(tcp_isn(t, now, RA, RP, LA, LP), base);
	/* 4096 source ports at one instant: all distinct (a 32-bit keyed hash; with this key
	 * there is no collision, which is what 4096^2 / 2^33 ≈ 0.002 predicts), and not a
	 * simple progression: the differences between neighbours are not constant. */
	for (unsigned p = 0; p < 4096; p++)
		seen[p] = tcp_isn(t, now, LA, htons((uint16_t)(32768 + p)), RA, RP);
	ck_assert_uint_ne(seen[1] - seen[0], seen[2] - seen[1]);
	qsort(seen, 4096, sizeof(*seen), cmp_u32);
	for (unsigned a = 1; a < 4096; a++)
		ck_assert_uint_ne(seen[a - 1], seen[a]);
	free(seen);
	/* Another key, another ISN. */
	t->secret[5] ^= 0x80;
	ck_assert_uint_ne(tcp_isn(t, now, LA, LP, RA, RP), base);
	/* The second half of the secret keys cookies only: the ISN does not depend on it. */
	t->secret[5] ^= 0x80;
	t->secret[20] ^= 0x80;
	ck_assert_uint_eq(tcp_isn(t, now, LA, LP, RA, RP), base);
}
END_TEST

START_TEST(hash_is_keyed_siphash)
{
	uint8_t msg[13] = {TCP_HASH_ISN, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	uint8_t out[8], out2[8];
	uint64_t want = 0;

	/* SipHash-2-4 of (domain byte, message) under secret[0..15], read little-endian. */
	crypto_shorthash_siphash24(out, msg, sizeof(msg), t->secret);
	for (int i = 7; i >= 0; i--)
		want = want << 8 | out[i];
	ck_assert_uint_eq(tcp_hash(t, TCP_HASH_ISN, msg + 1, 12), want);
	/* Cookie domains: secret[16..31]. */
	msg[0] = TCP_HASH_COOKIE2;
	crypto_shorthash_siphash24(out2, msg, sizeof(msg), t->secret + 16);
	want = 0;
	for (int i = 7; i >= 0; i--)
		want = want << 8 | out2[i];
	ck_assert_uint_eq(tcp_hash(t, TCP_HASH_COOKIE2, msg + 1, 12), want);
	/* Domains separate: the same message, six different outputs. */
	for (int a = TCP_HASH_ISN; a <= TCP_HASH_COOKIE2; a++)
		for (int b = a + 1; b <= TCP_HASH_COOKIE2; b++)
			ck_assert_uint_ne(tcp_hash(t, (enum tcp_hash_domain)a, msg + 1, 12),
					  tcp_hash(t, (enum tcp_hash_domain)b, msg + 1, 12));
	/* An empty message is fine. */
	ck_assert_uint_ne(tcp_hash(t, TCP_HASH_ISN, NULL, 0), tcp_hash(t, TCP_HASH_TSOFF, NULL, 0));
}
END_TEST

START_TEST(timestamp_clock)
{
	struct tcp_conn c;
	uint64_t t0 = 987654321ull * MS + 400 * US;

	memset(&c, 0, sizeof(c));
	c.ts_offset = tcp_ts_offset(t, LA, RA);
	/* Milliseconds of the monotonic clock plus the offset. */
	ck_assert_uint_eq(tcp_ts_now(&c, t0), (uint32_t)987654321u + c.ts_offset);
	ck_assert_uint_eq(tcp_ts_now(&c, t0 + 599 * US), tcp_ts_now(&c, t0));
	ck_assert_uint_eq(tcp_ts_now(&c, t0 + 600 * US), tcp_ts_now(&c, t0) + 1);
	ck_assert_uint_eq(tcp_ts_now(&c, t0 + 1 * S), tcp_ts_now(&c, t0) + 1000);
	/* The offset is per address pair: stable for one, different for others and keys. */
	ck_assert_uint_eq(tcp_ts_offset(t, LA, RA), c.ts_offset);
	ck_assert_uint_ne(tcp_ts_offset(t, LA, RA ^ htonl(1)), c.ts_offset);
	ck_assert_uint_ne(tcp_ts_offset(t, RA, LA), c.ts_offset);
	t->secret[0] ^= 1;
	ck_assert_uint_ne(tcp_ts_offset(t, LA, RA), c.ts_offset);
	/* Not the ISN's function: same inputs, another domain. */
	ck_assert_uint_ne(tcp_ts_offset(t, LA, RA), tcp_isn(t, 0, LA, 0, RA, 0));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_isn");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, isn_follows_4us_clock);
	tcase_add_test(tc, isn_differs_across_4tuples_and_keys);
	tcase_add_test(tc, hash_is_keyed_siphash);
	tcase_add_test(tc, timestamp_clock);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
