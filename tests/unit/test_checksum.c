/* test_checksum: the Internet checksum (common/checksum.c) against RFC 1071's worked example,
 * a naive reference, odd lengths and alignments, chains split at every kind of offset, the
 * pseudo-header, and RFC 1624 incremental updates against recomputation. */
#include <arpa/inet.h>
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "checksum.h"
#include "helper_check.h"
#include "helper_pool.h"
#include "pool.h"

static struct pool *pool;

static void setup(void)
{
	pool = tpool_new(256, POOL_HOLDER_IPD);
	tpool_assert_idle(pool);
}

static void teardown(void)
{
	tpool_destroy(&pool);
}

/* Naive reference: 16-bit big-endian words into 32 bits, folded at the end. */
static uint16_t ref_fold16(const uint8_t *p, size_t len)
{
	uint64_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t fold16(uint32_t sum)
{
	return (uint16_t)~csum_fold(sum);
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

START_TEST(rfc1071_example)
{
	/* RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (folded, not inverted). */
	static const uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};

	ck_assert_uint_eq(fold16(csum_partial(d, sizeof(d), 0)), 0xddf2);
	ck_assert_uint_eq(csum_compute(d, sizeof(d)), (uint16_t)~0xddf2);
}
END_TEST

START_TEST(ipv4_header_example)
{
	/* A well-known IPv4 header whose checksum is 0xb861. */
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

	ck_assert_uint_eq(csum_compute(h, sizeof(h)), 0xb861);
	h[10] = 0xb8;
	h[11] = 0x61;
	ck_assert_uint_eq(csum_compute(h, sizeof(h)), 0); /* a correct checksum verifies to 0 */
}
END_TEST

START_TEST(empty_and_single_byte)
{
	uint8_t one = 0xab;

	ck_assert_uint_eq(fold16(csum_partial(&one, 0, 0)), 0);
	ck_assert_uint_eq(csum_compute(&one, 0), 0xffff);
	/* An odd last byte is the high byte of a word padded with zero. */
	ck_assert_uint_eq(fold16(csum_partial(&one, 1, 0)), 0xab00);
}
END_TEST

/* One's-complement 16-bit addition, for composing reference sums. */
static uint16_t oc_add16(uint32_t a, uint32_t b)
{
	uint32_t s = a + b;

	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

START_TEST(all_ones_carry)
{
	/* Large runs of 0xff exercise every end-around carry. */
	uint8_t d[4099];

	memset(d, 0xff, sizeof(d));
	for (size_t len = 0; len <= sizeof(d); len += 97)
		ck_assert_uint_eq(fold16(csum_partial(d, len, 0)), ref_fold16(d, len));
}
END_TEST

START_TEST(seed_is_added)
{
	uint8_t d[777];
	static const uint32_t seeds[] = {1, 0xffff, 0x10000, 0x12345678, 0xfffffffe};

	fill(d, sizeof(d), 5);
	for (unsigned i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		ck_assert_uint_eq(fold16(csum_partial(d, sizeof(d), seeds[i])),
				  oc_add16(oc_add16(seeds[i] & 0xffff, seeds[i] >> 16),
					   ref_fold16(d, sizeof(d))));
}
END_TEST

START_TEST(matches_reference_every_length_and_alignment)
{
	uint8_t d[300];

	fill(d, sizeof(d), 7);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(d); len++)
			ck_assert_uint_eq(fold16(csum_partial(d + off, len, 0)),
					  ref_fold16(d + off, len));
}
END_TEST

START_TEST(partial_sums_compose_at_even_boundaries)
{
	uint8_t d[1000];
	uint32_t s;

	fill(d, sizeof(d), 3);
	for (size_t cut = 0; cut <= sizeof(d); cut += 2) {
		s = csum_partial(d, cut, 0);
		s = csum_partial(d + cut, sizeof(d) - cut, s);
		ck_assert_uint_eq(fold16(s), ref_fold16(d, sizeof(d)));
	}
}
END_TEST

/* Build a chain holding d[0..len) split into pieces of the given sizes, then the rest in
 * 1000-byte pieces. */
static struct buf *chain_of(const uint8_t *d, size_t len, const size_t *cuts, unsigned ncuts)
{
	struct buf *head = NULL;
	size_t pos = 0;

	for (unsigned i = 0; i < ncuts || pos < len; i++) {
		size_t n = i < ncuts ? cuts[i] : (len - pos < 1000 ? len - pos : 1000);
		struct buf *b = tpool_frame(pool, d + pos, n);

		pos += n;
		if (!head)
			head = b;
		else
			ck_assert_int_eq(buf_chain_append(head, &b), 0);
	}
	ck_assert_uint_eq(buf_chain_len(head), len);
	return head;
}

START_TEST(chain_odd_pieces_equal_flat)
{
	uint8_t d[4000];
	static const size_t cut_sets[][5] = {
		{1, 1, 1, 1, 1}, {3, 5, 7, 11, 13}, {2, 3, 2, 3, 2}, {1499, 1, 1500, 0, 999},
		{0, 1, 0, 1, 0}, {1024, 1023, 1, 1025, 2},
	};

	fill(d, sizeof(d), 11);
	for (unsigned k = 0; k < sizeof(cut_sets) / sizeof(cut_sets[0]); k++) {
		struct buf *c = chain_of(d, sizeof(d), cut_sets[k], 5);

		/* whole chain, and every sub-range starting at awkward offsets */
		ck_assert_uint_eq(fold16(csum_chain(c, 0, sizeof(d), 0)), ref_fold16(d, sizeof(d)));
		for (size_t off = 0; off < 40; off++)
			for (size_t len = 0; len < 60; len += 7)
				ck_assert_uint_eq(fold16(csum_chain(c, off, len, 0)),
						  ref_fold16(d + off, len));
		ck_assert_uint_eq(fold16(csum_chain(c, 1501, 2001, 0)), ref_fold16(d + 1501, 2001));
		/* a seed is carried through */
		ck_assert_uint_eq(fold16(csum_chain(c, 0, 100, csum_partial(d + 100, 50, 0))),
				  ref_fold16(d, 150));
		pool_free(&c);
	}
}
END_TEST

START_TEST(pseudo_header)
{
	/* Reference: the 12-byte pseudo-header laid out in memory and summed. */
	uint8_t ph[12];
	uint32_t s = htonl(0xc0a80001), dd = htonl(0x0a000002);
	uint16_t l = htons(1234);

	memcpy(ph, &s, 4);
	memcpy(ph + 4, &dd, 4);
	ph[8] = 0;
	ph[9] = 17;
	memcpy(ph + 10, &l, 2);
	ck_assert_uint_eq(fold16(csum_pseudo_ipv4(s, dd, 17, 1234)), ref_fold16(ph, 12));
}
END_TEST

START_TEST(incremental_update_equals_recompute)
{
	uint8_t d[64];

	for (unsigned seed = 0; seed < 2000; seed++) {
		uint16_t neu, c0, c1, old_be, new_be;
		unsigned at = 2 + (seed % 31) * 2;

		fill(d, sizeof(d), seed);
		d[0] = d[1] = 0; /* the checksum field lives at bytes 0..1 */
		c0 = htons(csum_compute(d, sizeof(d)));
		memcpy(d, &c0, 2);
		memcpy(&old_be, d + at, 2);
		neu = (uint16_t)(seed * 40503u);
		if (seed % 7 == 0)
			neu = 0;
		if (seed % 11 == 0)
			neu = 0xffff;
		new_be = htons(neu);
		c1 = csum_update16(c0, old_be, new_be);
		memcpy(d + at, &new_be, 2);
		d[0] = d[1] = 0;
		ck_assert_uint_eq(c1, htons(csum_compute(d, sizeof(d))));
		memcpy(d, &c1, 2);
		ck_assert_uint_eq(csum_compute(d, sizeof(d)), 0); /* and it verifies */
	}
}
END_TEST

START_TEST(incremental_update_minus_zero)
{
	/* RFC 1624 §3: when the new data sums to 0xffff the recomputed checksum is 0x0000, and
	 * eqn. 3 must give exactly that (RFC 1141's eqn. 2 gives 0xffff). Message: checksum,
	 * the changing field, one more word 0x1234. */
	uint8_t d[6] = {0, 0, 0x55, 0x55, 0x12, 0x34};
	uint16_t c0 = htons(csum_compute(d, sizeof(d)));
	uint16_t neu = htons(0xffff - 0x1234), c1;

	c1 = csum_update16(c0, htons(0x5555), neu);
	memcpy(d + 2, &neu, 2);
	ck_assert_uint_eq(csum_compute(d, sizeof(d)), 0x0000);
	ck_assert_uint_eq(c1, 0x0000);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("checksum");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, rfc1071_example);
	tcase_add_test(tc, ipv4_header_example);
	tcase_add_test(tc, empty_and_single_byte);
	tcase_add_test(tc, all_ones_carry);
	tcase_add_test(tc, seed_is_added);
	tcase_add_test(tc, matches_reference_every_length_and_alignment);
	tcase_add_test(tc, partial_sums_compose_at_even_boundaries);
	tcase_add_test(tc, chain_odd_pieces_equal_flat);
	tcase_add_test(tc, pseudo_header);
	tcase_add_test(tc, incremental_update_equals_recompute);
	tcase_add_test(tc, incremental_update_minus_zero);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
