/* test_tcp_assembler: the receive side's out-of-order ranges and SACK blocks
 * (servers/tcp/tcp_assembler.c) — merging (overlap, adjacency, bridging), the range limit,
 * absorption when rcv_nxt advances, SACK blocks most recent first and never stale (RFC 2018
 * §4), D-SACK first and reported once with its containing block second (RFC 2883 §4, the
 * RFC's own examples), ranges across the 2^32 wrap, and a randomized comparison with a byte
 * map. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "tcp_priv.h"

static struct tcp_assembler a;

static void setup(void)
{
	memset(&a, 0x5c, sizeof(a));
	tcp_asm_reset(&a);
}

#define R(s, e) ((struct tcp_range){(uint32_t)(s), (uint32_t)(e)})

static void expect_ooo(unsigned n, const struct tcp_range *want)
{
	uint32_t bytes = 0;

	ck_assert_uint_eq(a.n, n);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_msg(a.ooo[i].start == want[i].start && a.ooo[i].end == want[i].end,
			      "ooo[%u] = [%u, %u), want [%u, %u)", i, a.ooo[i].start, a.ooo[i].end,
			      want[i].start, want[i].end);
		bytes += want[i].end - want[i].start;
	}
	ck_assert_uint_eq(a.ooo_bytes, bytes);
}

static void expect_sack(unsigned n, const struct tcp_range *want)
{
	struct tcp_range out[TCP_SACK_OUT_MAX];

	ck_assert_uint_eq(tcp_asm_sack_blocks(&a, out, TCP_SACK_OUT_MAX), n);
	for (unsigned i = 0; i < n; i++)
		ck_assert_msg(out[i].start == want[i].start && out[i].end == want[i].end,
			      "sack[%u] = [%u, %u), want [%u, %u)", i, out[i].start, out[i].end,
			      want[i].start, want[i].end);
}

#define EXPECT_OOO(...)                                                                        \
	expect_ooo(sizeof((struct tcp_range[]){__VA_ARGS__}) / sizeof(struct tcp_range),       \
		   (struct tcp_range[]){__VA_ARGS__})
#define EXPECT_SACK(...)                                                                       \
	expect_sack(sizeof((struct tcp_range[]){__VA_ARGS__}) / sizeof(struct tcp_range),      \
		    (struct tcp_range[]){__VA_ARGS__})

START_TEST(merging)
{
	ck_assert(tcp_asm_add(&a, 2000, 100));
	ck_assert(tcp_asm_add(&a, 3000, 100));
	EXPECT_OOO(R(2000, 2100), R(3000, 3100));
	/* Adjacent on the left and on the right: one range. */
	ck_assert(tcp_asm_add(&a, 1900, 100));
	ck_assert(tcp_asm_add(&a, 2100, 50));
	EXPECT_OOO(R(1900, 2150), R(3000, 3100));
	/* Overlapping both ranges and the gap between: bridged into one. */
	ck_assert(tcp_asm_add(&a, 2100, 950));
	EXPECT_OOO(R(1900, 3100));
	/* Inside an existing range: nothing changes but it becomes the most recent. */
	ck_assert(tcp_asm_add(&a, 2500, 10));
	EXPECT_OOO(R(1900, 3100));
	/* A superset swallowing everything. */
	ck_assert(tcp_asm_add(&a, 5000, 10));
	ck_assert(tcp_asm_add(&a, 1000, 9000));
	EXPECT_OOO(R(1000, 10000));
	/* Zero length: nothing; a length no window allows: refused. */
	ck_assert(tcp_asm_add(&a, 50000, 0));
	ck_assert(!tcp_asm_add(&a, 50000, 0x80000000u));
	tcp_asm_dsack(&a, 50000, 0x80000000u);
	ck_assert_uint_eq(a.dsack, 0);
	EXPECT_OOO(R(1000, 10000));
	EXPECT_SACK(R(1000, 10000));
}
END_TEST

START_TEST(sack_most_recent_first)
{
	/* RFC 2018 §4: the block with the segment that triggered the ACK first, then the most
	 * recently reported ones. */
	tcp_asm_add(&a, 1000, 100); /* A */
	EXPECT_SACK(R(1000, 1100));
	tcp_asm_add(&a, 3000, 100); /* B */
	tcp_asm_add(&a, 5000, 100); /* C */
	EXPECT_SACK(R(5000, 5100), R(3000, 3100), R(1000, 1100));
	/* A grows: it comes first, as the merged range. */
	tcp_asm_add(&a, 1100, 100);
	EXPECT_SACK(R(1000, 1200), R(5000, 5100), R(3000, 3100));
	/* D and E: only TCP_SACK_OUT_MAX (4) remembered; the oldest report (B) goes. */
	tcp_asm_add(&a, 7000, 100);
	tcp_asm_add(&a, 9000, 100);
	EXPECT_SACK(R(9000, 9100), R(7000, 7100), R(1000, 1200), R(5000, 5100));
	EXPECT_OOO(R(1000, 1200), R(3000, 3100), R(5000, 5100), R(7000, 7100), R(9000, 9100));
	/* Bridging C and D: the merged range replaces both entries, never a stale piece. */
	tcp_asm_add(&a, 5100, 1900);
	EXPECT_SACK(R(5000, 7100), R(9000, 9100), R(1000, 1200));
	/* With timestamps only 3 fit: the caller asks for 3. */
	{
		struct tcp_range out[3];

		ck_assert_uint_eq(tcp_asm_sack_blocks(&a, out, 2), 2);
		ck_assert_uint_eq(out[0].start, 5000);
		ck_assert_uint_eq(out[1].start, 9000);
	}
}
END_TEST

START_TEST(advance_absorbs)
{
	tcp_asm_add(&a, 2000, 500);
	tcp_asm_add(&a, 3000, 500);
	tcp_asm_add(&a, 5000, 500);
	/* In-order data up to 1999: nothing touches. */
	ck_assert_uint_eq(tcp_asm_advance(&a, 1999), 1999);
	EXPECT_OOO(R(2000, 2500), R(3000, 3500), R(5000, 5500));
	/* Up to 2000: the first range is absorbed, rcv_nxt jumps to 2500. */
	ck_assert_uint_eq(tcp_asm_advance(&a, 2000), 2500);
	EXPECT_OOO(R(3000, 3500), R(5000, 5500));
	EXPECT_SACK(R(5000, 5500), R(3000, 3500));
	/* A segment reaching into the second range (3000..3199 overlap): absorbed whole. */
	ck_assert_uint_eq(tcp_asm_advance(&a, 3200), 3500);
	EXPECT_OOO(R(5000, 5500));
	EXPECT_SACK(R(5000, 5500));
	/* Past everything. */
	ck_assert_uint_eq(tcp_asm_advance(&a, 9000), 9000);
	ck_assert_uint_eq(a.n, 0);
	ck_assert_uint_eq(a.ooo_bytes, 0);
	expect_sack(0, NULL);
}
END_TEST

START_TEST(range_limit)
{
	for (unsigned i = 0; i < TCP_OOO_MAX; i++)
		ck_assert(tcp_asm_add(&a, 1000 + i * 1000, 100));
	{
		struct tcp_assembler before = a;

		/* A 17th separate range is refused and changes nothing. */
		ck_assert(!tcp_asm_add(&a, 100000, 100));
		ck_assert(!tcp_asm_add(&a, 500, 100));
		ck_assert_mem_eq(&a, &before, sizeof(a));
	}
	/* What merges is still accepted, even bridging two ranges. */
	ck_assert(tcp_asm_add(&a, 1100, 50));
	ck_assert(tcp_asm_add(&a, 2050, 1000));
	ck_assert_uint_eq(a.n, TCP_OOO_MAX - 1);
	ck_assert(tcp_asm_add(&a, 100000, 100));
	ck_assert_uint_eq(a.n, TCP_OOO_MAX);
}
END_TEST

START_TEST(across_the_wrap)
{
	ck_assert(tcp_asm_add(&a, 0xfffffe00u, 0x100));        /* [..fe00, ..ff00) */
	ck_assert(tcp_asm_add(&a, 0x100u, 0x100));             /* [0x100, 0x200) */
	ck_assert(tcp_asm_add(&a, 0xffffff80u, 0x80 + 0x100)); /* [..ff80, 0x100): bridges */
	EXPECT_OOO(R(0xfffffe00u, 0xffffff00u), R(0xffffff80u, 0x200));
	EXPECT_SACK(R(0xffffff80u, 0x200), R(0xfffffe00u, 0xffffff00u));
	ck_assert(tcp_asm_add(&a, 0xffffff00u, 0x80));
	EXPECT_OOO(R(0xfffffe00u, 0x200));
	ck_assert_uint_eq(a.ooo_bytes, 0x400);
	ck_assert_uint_eq(tcp_asm_advance(&a, 0xfffffe00u), 0x200);
	ck_assert_uint_eq(a.n, 0);
}
END_TEST

START_TEST(dsack_rfc2883_examples)
{
	/* RFC 2883 §4.1.1: a duplicate below the ACK (rcv_nxt 4000, 3000-3499 again): the
	 * D-SACK block alone. */
	tcp_asm_dsack(&a, 3000, 500);
	ck_assert_uint_eq(a.dsack, 1);
	EXPECT_SACK(R(3000, 3500));
	tcp_asm_sack_sent(&a);
	expect_sack(0, NULL);
	ck_assert_uint_eq(a.dsack, 0);
	/* §4.2.1-like: out-of-order data 5000-5999 and 7000-7499 held, then 5500-5999 arrives
	 * again: D-SACK 5500-6000 first, the range that holds it (5000-6000) second, the rest
	 * after. */
	tcp_asm_add(&a, 5000, 1000);
	tcp_asm_add(&a, 7000, 500);
	EXPECT_SACK(R(7000, 7500), R(5000, 6000));
	tcp_asm_dsack(&a, 5500, 500);
	EXPECT_SACK(R(5500, 6000), R(5000, 6000), R(7000, 7500));
	/* Reported once: after the ACK goes out, the regular blocks remain. */
	tcp_asm_sack_sent(&a);
	EXPECT_SACK(R(5000, 6000), R(7000, 7500));
	tcp_asm_sack_sent(&a); /* nothing more to drop */
	EXPECT_SACK(R(5000, 6000), R(7000, 7500));
	/* A new segment before the D-SACK is sent: the D-SACK stays first. */
	tcp_asm_dsack(&a, 100, 50);
	tcp_asm_add(&a, 9000, 100);
	EXPECT_SACK(R(100, 150), R(9000, 9100), R(5000, 6000), R(7000, 7500));
	/* Advancing rcv_nxt keeps the unsent D-SACK. */
	ck_assert_uint_eq(tcp_asm_advance(&a, 5000), 6000);
	EXPECT_SACK(R(100, 150), R(9000, 9100), R(7000, 7500));
	/* A second duplicate before the first was reported replaces it. */
	tcp_asm_dsack(&a, 200, 10);
	EXPECT_SACK(R(200, 210), R(9000, 9100), R(7000, 7500));
	tcp_asm_dsack(&a, 0, 0); /* nothing */
	EXPECT_SACK(R(200, 210), R(9000, 9100), R(7000, 7500));
}
END_TEST

START_TEST(torn_record_is_harmless)
{
	memset(&a, 0xff, sizeof(a));
	tcp_asm_add(&a, 10, 10);
	ck_assert_uint_le(a.n, TCP_OOO_MAX);
	ck_assert_uint_le(a.n_sack_out, TCP_SACK_OUT_MAX);
	memset(&a, 0xff, sizeof(a));
	tcp_asm_advance(&a, 10);
	ck_assert_uint_le(a.n_sack_out, TCP_SACK_OUT_MAX);
	memset(&a, 0xff, sizeof(a));
	tcp_asm_dsack(&a, 1, 1);
	ck_assert_uint_le(a.n_sack_out, TCP_SACK_OUT_MAX);
}
END_TEST

/* Random in-window segments against a byte map of a 64 KiB window that starts 40000 bytes
 * below the wrap: ranges, byte counts, rcv_nxt and the SACK blocks agree with the map. */
static uint64_t rs = 88172645463325252ull;
static uint32_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (uint32_t)rs;
}

START_TEST(random_against_byte_map)
{
	enum { W = 65536 };
	static uint8_t have[W];
	uint32_t base = 0u - 40000u; /* sequence number of have[0] */

	for (int round = 0; round < 20; round++) {
		uint32_t rcv_nxt = base;

		tcp_asm_reset(&a);
		memset(have, 0, sizeof(have));
		for (int k = 0; k < 300; k++) {
			uint32_t off = rcv_nxt - base + 1 + rnd() % 8000, len = 1 + rnd() % 1500;
			bool in_order = rnd() % 6 == 0;

			if (in_order)
				off = rcv_nxt - base;
			if (off + len > W)
				continue;
			if (in_order) {
				for (uint32_t i = 0; i < len; i++)
					have[off + i] = 1;
				rcv_nxt = tcp_asm_advance(&a, rcv_nxt + len);
			} else if (tcp_asm_add(&a, base + off, len)) {
				for (uint32_t i = 0; i < len; i++)
					have[off + i] = 1;
				/* The first SACK block holds the new segment. */
				ck_assert(seq_in(base + off, a.sack_out[0].start,
						 a.sack_out[0].end));
			}
			/* rcv_nxt is the first hole. */
			{
				uint32_t hole = 0, bytes = 0;
				unsigned n = 0;

				while (hole < W && have[hole])
					hole++;
				ck_assert_uint_eq(rcv_nxt - base, hole);
				/* the ranges above it are exactly the runs of the map */
				for (uint32_t i = hole; i < W; i++) {
					if (have[i] && (i == hole || !have[i - 1])) {
						ck_assert_uint_lt(n, a.n);
						ck_assert_uint_eq(a.ooo[n].start, base + i);
					}
					if (have[i] && (i + 1 == W || !have[i + 1])) {
						ck_assert_uint_eq(a.ooo[n].end, base + i + 1);
						n++;
					}
					bytes += have[i];
				}
				ck_assert_uint_eq(n, a.n);
				ck_assert_uint_eq(bytes, a.ooo_bytes);
				/* every SACK block is one of the current ranges, none twice */
				for (unsigned s = 0; s < a.n_sack_out; s++) {
					bool found = false;

					for (unsigned r = 0; r < a.n; r++)
						found |= a.ooo[r].start == a.sack_out[s].start &&
							 a.ooo[r].end == a.sack_out[s].end;
					ck_assert(found);
					for (unsigned t = 0; t < s; t++)
						ck_assert_uint_ne(a.sack_out[t].start,
								  a.sack_out[s].start);
				}
			}
		}
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_assembler");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, merging);
	tcase_add_test(tc, sack_most_recent_first);
	tcase_add_test(tc, advance_absorbs);
	tcase_add_test(tc, range_limit);
	tcase_add_test(tc, across_the_wrap);
	tcase_add_test(tc, dsack_rfc2883_examples);
	tcase_add_test(tc, torn_record_is_harmless);
	tcase_add_test(tc, random_against_byte_map);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
