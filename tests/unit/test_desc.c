/* test_desc: the descriptor batch codec — round trips, limits, and malformed input of every kind.
 *
 * Malformed input is the point: a batch arrives from another process, so decode must turn
 * random bytes, truncations, disagreeing arrays, oversized counts and unknown senders into
 * -EBADMSG (counted) without crashing and without touching the heap. Messages with specific
 * defects are built with the generated protobuf-c API, so each test breaks exactly one rule.
 *
 * Heap use is checked two ways: the arena must be what decode used (codec->used), and, in builds
 * without AddressSanitizer (which owns malloc there), malloc/calloc/realloc are wrapped around
 * glibc's own entry points and must not be called during a decode.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "desc.h"
#include "desc.pb-c.h"
#include "helper_check.h"
#include "pool.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#ifndef TEST_ASAN
/* Counting wrappers: same allocator underneath (glibc's), so anything allocated here may be
 * freed by the unwrapped free and vice versa. Counting is switched on only around a decode. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
static volatile int heap_counting;
static volatile unsigned heap_calls;

void *malloc(size_t size)
{
	if (heap_counting)
		heap_calls++;
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	if (heap_counting)
		heap_calls++;
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	if (heap_counting)
		heap_calls++;
	return __libc_realloc(p, size);
}
#define HEAP_WATCH_BEGIN() (heap_calls = 0, heap_counting = 1)
#define HEAP_WATCH_END() (heap_counting = 0, heap_calls)
#else
#define HEAP_WATCH_BEGIN() ((void)0)
#define HEAP_WATCH_END() 0u
#endif

/* The codec is 32 KiB: static, not on Check's stack. Tests run forked, so this is per test. */
static struct desc_codec codec;
static struct desc_batch in, out;
static uint8_t wire[16384];

static void setup(void)
{
	desc_codec_init(&codec);
	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	in.sender = POOL_HOLDER_IPD;
}

static uint64_t rng_state;
static uint32_t rng(void)
{
	/* xorshift64*: seeded, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static void fill_extreme(struct desc *d, unsigned i)
{
	/* Alternate all-ones, zero and a pattern, so every bit of every packed field is exercised
	 * and a shift or mask mistake between neighbours shows. */
	switch (i % 3) {
	case 0:
		*d = (struct desc){ .buf = UINT32_MAX, .gen = UINT32_MAX, .len = UINT32_MAX,
				    .l3_off = UINT16_MAX, .l4_off = UINT16_MAX, .flags = UINT32_MAX,
				    .gso_type = UINT16_MAX, .gso_size = UINT16_MAX,
				    .csum_start = UINT16_MAX, .csum_offset = UINT16_MAX,
				    .saddr = UINT32_MAX, .daddr = UINT32_MAX, .proto = UINT8_MAX,
				    .ttl = UINT8_MAX, .tos = UINT8_MAX, .t_in = UINT64_MAX,
				    .t_arr = UINT64_MAX };
		break;
	case 1:
		*d = (struct desc){ 0 };
		break;
	default:
		*d = (struct desc){ .buf = i, .gen = 0x80000000u + i, .len = 1 + i * 1000,
				    .l3_off = 14, .l4_off = 0x8000 | i, .flags = DESC_F_CSUM_NEEDED,
				    .gso_type = DESC_GSO_TCPV4, .gso_size = 1448,
				    .csum_start = 34, .csum_offset = 16, .saddr = 0x0100000au,
				    .daddr = 0xfeffffc0u ^ i, .proto = 6, .ttl = 1, .tos = 0x80,
				    .t_in = 0x8000000000000001ull + ((uint64_t)i << 32),
				    .t_arr = 12345 };
		break;
	}
}

static void assert_desc_eq(const struct desc *a, const struct desc *b, unsigned i)
{
	ck_assert_msg(a->buf == b->buf && a->gen == b->gen && a->len == b->len, "desc %u ids", i);
	ck_assert_msg(a->l3_off == b->l3_off && a->l4_off == b->l4_off, "desc %u offsets", i);
	ck_assert_msg(a->flags == b->flags, "desc %u flags", i);
	ck_assert_msg(a->gso_type == b->gso_type && a->gso_size == b->gso_size, "desc %u gso", i);
	ck_assert_msg(a->csum_start == b->csum_start && a->csum_offset == b->csum_offset,
		      "desc %u csum", i);
	ck_assert_msg(a->saddr == b->saddr && a->daddr == b->daddr, "desc %u addrs", i);
	ck_assert_msg(a->proto == b->proto && a->ttl == b->ttl && a->tos == b->tos, "desc %u info",
		      i);
	ck_assert_uint_eq(b->reserved, 0);
	ck_assert_msg(a->t_in == b->t_in, "desc %u t_in", i);
	/* Local to a layer: never on the wire, the receiving link stamps it. */
	ck_assert_uint_eq(b->t_arr, 0);
}

static void round_trip(uint32_t count, uint32_t seq)
{
	in.count = count;
	in.seq = seq;
	in.sent = UINT64_MAX - seq;
	for (unsigned i = 0; i < count; i++)
		fill_extreme(&in.d[i], i);
	int n = desc_batch_encode(&in, wire, desc_batch_max_size(count));
	ck_assert_int_gt(n, 0);
	ck_assert_uint_le((size_t)n, desc_batch_max_size(count));
	out.count = 12345;
	ck_assert_int_eq(desc_batch_decode(&codec, wire, (size_t)n, &out), 0);
	ck_assert_uint_eq(out.sender, in.sender);
	ck_assert_uint_eq(out.seq, seq);
	ck_assert_uint_eq(out.sent, UINT64_MAX - seq);
	ck_assert_uint_eq(out.count, count);
	for (unsigned i = 0; i < count; i++)
		assert_desc_eq(&in.d[i], &out.d[i], i);
	ck_assert_uint_eq(codec.decode_errors, 0);
}

START_TEST(round_trip_0) { round_trip(0, 0); }
END_TEST

START_TEST(round_trip_1) { round_trip(1, UINT32_MAX); }
END_TEST

START_TEST(round_trip_64)
{
	round_trip(DESC_BATCH_MAX, UINT32_MAX);
	in.sender = POOL_HOLDER_TOOL;
	round_trip(DESC_BATCH_MAX, 1);
	round_trip(DESC_BATCH_MAX, 0);
}
END_TEST

START_TEST(max_size_bounds_every_count)
{
	/* Worst case for the varints: largest sender and seq; a send time (proto3 leaves a zero
	 * one out). */
	in.sender = POOL_HOLDER_COUNT - 1;
	in.seq = UINT32_MAX;
	in.sent = 1;
	for (uint32_t c = 0; c <= DESC_BATCH_MAX; c++) {
		in.count = c;
		for (unsigned i = 0; i < c; i++)
			fill_extreme(&in.d[i], i);
		size_t max = desc_batch_max_size(c);
		ck_assert_uint_le(max, sizeof(wire));
		int n = desc_batch_encode(&in, wire, max);
		ck_assert_msg(n > 0 && (size_t)n <= max, "count %u: %d > %zu", c, n, max);
		/* Tight, not just safe: only the one-byte sender varint is below its worst case. */
		ck_assert_uint_eq((size_t)n + 4, max);
	}
}
END_TEST

START_TEST(encode_rejects_65)
{
	in.count = DESC_BATCH_MAX + 1;
	ck_assert_int_eq(desc_batch_encode(&in, wire, sizeof(wire)), -EINVAL);
	in.count = UINT32_MAX;
	ck_assert_int_eq(desc_batch_encode(&in, wire, sizeof(wire)), -EINVAL);
}
END_TEST

START_TEST(encode_rejects_small_buffer)
{
	in.count = 5;
	in.seq = 77;
	for (unsigned i = 0; i < 5; i++)
		fill_extreme(&in.d[i], i);
	int need = desc_batch_encode(&in, wire, sizeof(wire));
	ck_assert_int_gt(need, 0);
	uint8_t small[512];
	for (int size = 0; size < need; size++) {
		memset(small, 0xa5, sizeof(small));
		ck_assert_int_eq(desc_batch_encode(&in, small, (size_t)size), -ENOSPC);
		/* Failure leaves things untouched: not a byte written. */
		for (size_t j = 0; j < sizeof(small); j++)
			ck_assert_uint_eq(small[j], 0xa5);
	}
	ck_assert_int_eq(desc_batch_encode(&in, small, (size_t)need), need);
}
END_TEST

/* Decode must reject, count, and leave count at 0. */
static void expect_bad(const uint8_t *msg, size_t len)
{
	uint64_t errors = codec.decode_errors;
	out.count = 99;
	ck_assert_int_eq(desc_batch_decode(&codec, msg, len, &out), -EBADMSG);
	ck_assert_uint_eq(out.count, 0);
	ck_assert_uint_eq(codec.decode_errors, errors + 1);
}

START_TEST(decode_random_bytes)
{
	static uint8_t junk[4096];
	unsigned accepted = 0;
	rng_state = 0x9e3779b97f4a7c15ull;
	for (unsigned it = 0; it < 200000; it++) {
		size_t len = rng() % (it < 100000 ? 64 : sizeof(junk));
		for (size_t j = 0; j < len; j++)
			junk[j] = (uint8_t)rng();
		int rc = desc_batch_decode(&codec, junk, len, &out);
		ck_assert(rc == 0 || rc == -EBADMSG);
		if (rc == 0) {
			/* Short junk can be a legal batch (a sender varint and nothing else); what it
			 * may never be is an inconsistent one. */
			accepted++;
			ck_assert_uint_le(out.count, DESC_BATCH_MAX);
			ck_assert(out.sender > POOL_HOLDER_FREE && out.sender < POOL_HOLDER_COUNT);
		} else {
			ck_assert_uint_eq(out.count, 0);
		}
		ck_assert_uint_le(codec.used, sizeof(codec.arena));
	}
	ck_assert_uint_lt(accepted, 200000 / 10);
	ck_assert_uint_gt(codec.decode_errors, 0);
}
END_TEST

START_TEST(decode_mutated_batches)
{
	/* Random bytes rarely get past the first tag; flipping bytes of a real batch reaches the
	 * length prefixes and array checks. */
	rng_state = 42;
	in.count = DESC_BATCH_MAX;
	for (unsigned i = 0; i < DESC_BATCH_MAX; i++)
		fill_extreme(&in.d[i], i);
	int n = desc_batch_encode(&in, wire, sizeof(wire));
	ck_assert_int_gt(n, 0);
	static uint8_t m[8192];
	for (unsigned it = 0; it < 100000; it++) {
		memcpy(m, wire, (size_t)n);
		unsigned flips = 1 + rng() % 4;
		for (unsigned f = 0; f < flips; f++)
			m[rng() % (unsigned)n] ^= (uint8_t)(1u << (rng() % 8));
		size_t len = (size_t)n;
		if (rng() % 4 == 0)
			len = rng() % (unsigned)n;
		int rc = desc_batch_decode(&codec, m, len, &out);
		ck_assert(rc == 0 || rc == -EBADMSG);
		if (rc == 0)
			ck_assert_uint_le(out.count, DESC_BATCH_MAX);
	}
}
END_TEST

START_TEST(decode_truncated_every_length)
{
	in.count = DESC_BATCH_MAX;
	in.seq = 0x12345678;
	for (unsigned i = 0; i < DESC_BATCH_MAX; i++)
		fill_extreme(&in.d[i], i);
	int n = desc_batch_encode(&in, wire, sizeof(wire));
	ck_assert_int_gt(n, 0);
	/* The per-batch header (sender tag+varint, seq tag+varint) comes first; a cut inside or
	 * after the first array must always be refused. A cut right after a header field is a
	 * legal empty batch in protobuf (ZeroMQ never delivers a partial message anyway). */
	const size_t header = 2 + 1 + 5;
	for (size_t len = 0; len < (size_t)n; len++) {
		out.count = 99;
		int rc = desc_batch_decode(&codec, wire, len, &out);
		if (len > header) {
			ck_assert_msg(rc == -EBADMSG, "truncated at %zu of %d accepted", len, n);
		} else if (rc == 0) {
			ck_assert_uint_eq(out.count, 0);
		}
		if (rc != 0)
			ck_assert_uint_eq(out.count, 0);
	}
	ck_assert_int_eq(desc_batch_decode(&codec, wire, (size_t)n, &out), 0);
	ck_assert_uint_eq(out.count, DESC_BATCH_MAX);
}
END_TEST

/* A hand-built DescBatch with n entries in every array, for breaking one rule at a time. */
struct raw {
	Ustack__DescBatch m;
	uint32_t a[11][200];
	uint64_t t[200];
};

static void raw_init(struct raw *r, size_t n)
{
	Ustack__DescBatch init = USTACK__DESC_BATCH__INIT;
	r->m = init;
	r->m.sender = POOL_HOLDER_NICD;
	r->m.seq = 3;
	for (unsigned f = 0; f < 11; f++)
		for (unsigned i = 0; i < 200; i++)
			r->a[f][i] = i;
	for (unsigned i = 0; i < 200; i++)
		r->t[i] = (uint64_t)i << 40;
	r->m.t_in = r->t;
	r->m.buf = r->a[0];
	r->m.gen = r->a[1];
	r->m.len = r->a[2];
	r->m.offsets = r->a[3];
	r->m.flags = r->a[4];
	r->m.gso = r->a[5];
	r->m.csum = r->a[6];
	r->m.saddr = r->a[7];
	r->m.daddr = r->a[8];
	r->m.info = r->a[9];
	r->m.n_buf = r->m.n_gen = r->m.n_len = r->m.n_offsets = r->m.n_flags = n;
	r->m.n_gso = r->m.n_csum = r->m.n_saddr = r->m.n_daddr = r->m.n_info = n;
	r->m.check = r->a[10];
	r->m.n_t_in = r->m.n_check = n;
}

static size_t *raw_count(struct raw *r, unsigned field)
{
	size_t *counts[12] = { &r->m.n_buf,   &r->m.n_gen,  &r->m.n_len,   &r->m.n_offsets,
			       &r->m.n_flags, &r->m.n_gso,  &r->m.n_csum,  &r->m.n_saddr,
			       &r->m.n_daddr, &r->m.n_info, &r->m.n_t_in, &r->m.n_check };
	return counts[field];
}

static size_t raw_pack(struct raw *r)
{
	size_t size = ustack__desc_batch__get_packed_size(&r->m);
	ck_assert_uint_le(size, sizeof(wire));
	return ustack__desc_batch__pack(&r->m, wire);
}

START_TEST(decode_raw_valid)
{
	/* The hand-built message is accepted as is, so the rejections below are each due to
	 * the one rule broken. */
	struct raw r;
	raw_init(&r, 10);
	size_t len = raw_pack(&r);
	ck_assert_int_eq(desc_batch_decode(&codec, wire, len, &out), 0);
	ck_assert_uint_eq(out.count, 10);
	ck_assert_uint_eq(out.sender, POOL_HOLDER_NICD);
	ck_assert_uint_eq(out.d[7].buf, 7);
	ck_assert_uint_eq(out.d[7].proto, 7);
	ck_assert_uint_eq(out.d[7].ttl, 0);
	ck_assert_uint_eq(out.d[7].t_in, (uint64_t)7 << 40);
}
END_TEST

START_TEST(decode_unequal_arrays)
{
	struct raw r;
	for (unsigned f = 0; f < 12; f++) {
		raw_init(&r, 10);
		*raw_count(&r, f) = 9; /* one short */
		expect_bad(wire, raw_pack(&r));
		raw_init(&r, 10);
		*raw_count(&r, f) = 11; /* one long */
		expect_bad(wire, raw_pack(&r));
		raw_init(&r, 10);
		*raw_count(&r, f) = 0; /* missing altogether */
		expect_bad(wire, raw_pack(&r));
		raw_init(&r, 0);
		*raw_count(&r, f) = 1; /* a lone entry in an otherwise empty batch */
		expect_bad(wire, raw_pack(&r));
	}
}
END_TEST

START_TEST(decode_count_above_max)
{
	struct raw r;
	raw_init(&r, DESC_BATCH_MAX + 1);
	expect_bad(wire, raw_pack(&r));
	raw_init(&r, 200);
	expect_bad(wire, raw_pack(&r));
	raw_init(&r, DESC_BATCH_MAX);
	size_t len = raw_pack(&r);
	ck_assert_int_eq(desc_batch_decode(&codec, wire, len, &out), 0);
	ck_assert_uint_eq(out.count, DESC_BATCH_MAX);
}
END_TEST

START_TEST(decode_bad_sender)
{
	struct raw r;
	const uint32_t bad[] = { POOL_HOLDER_FREE, POOL_HOLDER_COUNT, 1000, UINT32_MAX };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_init(&r, 4);
		r.m.sender = bad[i];
		expect_bad(wire, raw_pack(&r));
	}
	/* Empty input: sender 0. */
	expect_bad(wire, 0);
	expect_bad(NULL, 0);
}
END_TEST

START_TEST(decode_info_top_byte)
{
	struct raw r;
	raw_init(&r, 4);
	r.a[9][3] = 0x01000006u;
	expect_bad(wire, raw_pack(&r));
}
END_TEST

START_TEST(decode_packed_length_not_multiple_of_4)
{
	/* sender=2, then field 3 (buf), wire type 2, length 5: not a whole number of fixed32. */
	const uint8_t msg[] = { 0x08, 0x02, 0x1a, 0x05, 1, 2, 3, 4, 5 };
	expect_bad(msg, sizeof(msg));
	/* A length prefix pointing past the end. */
	const uint8_t msg2[] = { 0x08, 0x02, 0x1a, 0x7f, 1, 2, 3, 4 };
	expect_bad(msg2, sizeof(msg2));
	/* A ten-byte varint that overflows 64 bits. */
	const uint8_t msg3[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };
	expect_bad(msg3, sizeof(msg3));
}
END_TEST

START_TEST(decode_uses_arena_not_heap)
{
	in.count = DESC_BATCH_MAX;
	for (unsigned i = 0; i < DESC_BATCH_MAX; i++)
		fill_extreme(&in.d[i], i);
	int n = desc_batch_encode(&in, wire, sizeof(wire));
	ck_assert_int_gt(n, 0);

	ck_assert_int_eq(desc_batch_decode(&codec, wire, (size_t)n, &out), 0);
	size_t used = codec.used;
	/* The message struct, ten arrays of 256 bytes and one of 512 came from the arena. */
	ck_assert_uint_ge(used, 10 * DESC_BATCH_MAX * 4 + DESC_BATCH_MAX * 8);
	ck_assert_uint_le(used, 4096);

#ifndef TEST_ASAN
	/* The watch itself works: one visible allocation is seen. */
	HEAP_WATCH_BEGIN();
	void *volatile probe = malloc(16);
	unsigned seen = HEAP_WATCH_END();
	free(probe);
	ck_assert_uint_eq(seen, 1);
#endif
	/* Assertions wait until the watch ends: Check itself may allocate. */
	unsigned good = 0, bad = 0;
	HEAP_WATCH_BEGIN();
	for (unsigned it = 0; it < 10000; it++)
		good += desc_batch_decode(&codec, wire, (size_t)n, &out) == 0 && codec.used == used;
	for (unsigned it = 0; it < 1000; it++) /* failing decodes too */
		bad += desc_batch_decode(&codec, wire, (size_t)n / 2, &out) == -EBADMSG;
	unsigned calls = HEAP_WATCH_END();
	ck_assert_uint_eq(calls, 0);
	ck_assert_uint_eq(good, 10000);
	ck_assert_uint_eq(bad, 1000);
	ck_assert_int_eq(desc_batch_decode(&codec, wire, (size_t)n, &out), 0);
	ck_assert_uint_eq(codec.used, used); /* reset per decode: no growth */
	ck_assert_uint_eq(codec.decode_errors, 1000);

	/* A fresh codec behaves the same. */
	struct desc_codec *fresh = &codec;
	desc_codec_init(fresh);
	ck_assert_int_eq(desc_batch_decode(fresh, wire, (size_t)n, &out), 0);
	ck_assert_uint_eq(fresh->used, used);
}
END_TEST

START_TEST(decode_arena_exhaustion_is_badmsg)
{
	/* A valid header followed by thousands of unknown fields: protobuf-c keeps each one, so
	 * this needs far more than the arena. It must fail, not fall back to the heap. */
	static uint8_t msg[16384];
	size_t len = 0;
	msg[len++] = 0x08;
	msg[len++] = POOL_HOLDER_IPD;
	while (len + 3 <= sizeof(msg)) {
		msg[len++] = 0xa0; /* field 100, varint: tag is two bytes */
		msg[len++] = 0x06;
		msg[len++] = 0x01;
	}
	HEAP_WATCH_BEGIN();
	int rc = desc_batch_decode(&codec, msg, len, &out);
	unsigned calls = HEAP_WATCH_END();
	ck_assert_int_eq(rc, -EBADMSG);
	ck_assert_uint_eq(calls, 0);
	ck_assert_uint_le(codec.used, sizeof(codec.arena));

	/* A few unknown fields are tolerated (they cost arena space, nothing else). */
	ck_assert_int_eq(desc_batch_decode(&codec, msg, 2 + 3 * 5, &out), 0);
	ck_assert_uint_eq(out.count, 0);
}
END_TEST

static Suite *desc_suite(void)
{
	Suite *s = suite_create("desc");
	TCase *tc = tcase_create("codec");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, round_trip_0);
	tcase_add_test(tc, round_trip_1);
	tcase_add_test(tc, round_trip_64);
	tcase_add_test(tc, max_size_bounds_every_count);
	tcase_add_test(tc, encode_rejects_65);
	tcase_add_test(tc, encode_rejects_small_buffer);
	tcase_add_test(tc, decode_random_bytes);
	tcase_add_test(tc, decode_mutated_batches);
	tcase_add_test(tc, decode_truncated_every_length);
	tcase_add_test(tc, decode_raw_valid);
	tcase_add_test(tc, decode_unequal_arrays);
	tcase_add_test(tc, decode_count_above_max);
	tcase_add_test(tc, decode_bad_sender);
	tcase_add_test(tc, decode_info_top_byte);
	tcase_add_test(tc, decode_packed_length_not_multiple_of_4);
	tcase_add_test(tc, decode_uses_arena_not_heap);
	tcase_add_test(tc, decode_arena_exhaustion_is_badmsg);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(desc_suite());
}
