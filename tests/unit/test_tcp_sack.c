/* test_tcp_sack: the sender's scoreboard (servers/tcp/tcp_sack.c) — blocks reordered,
 * overlapping, adjacent and across the 2^32 wrap; hostile blocks (reversed, empty, beyond
 * snd_max, at or below snd_una, straddling it, wrapped garbage) ignored; D-SACK detection by
 * RFC 2883 §4 (below the ACK, inside the second block) with RFC 2883's examples; the range
 * limit; cumulative advance and reneging; RFC 6675 IsLost, SetPipe and NextSeg rules 1-4 on
 * worked examples; and a randomized comparison of everything with RFC 6675's octet-by-octet
 * definitions over a byte map. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "tcp_priv.h"

static struct tcp_scoreboard sb;

static void setup(void)
{
	memset(&sb, 0x3c, sizeof(sb));
	tcp_sack_reset(&sb);
}

#define R(s, e) ((struct tcp_range){(uint32_t)(s), (uint32_t)(e)})

/* The SACK option of one ACK. */
static struct tcp_opts sack_opt(unsigned n, const struct tcp_range *b)
{
	struct tcp_opts o;

	memset(&o, 0, sizeof(o));
	o.present = TCP_OPTF_SACK;
	o.n_sack = (uint8_t)n;
	memcpy(o.sack, b, n * sizeof(*b));
	return o;
}

static uint32_t upd(uint32_t una, uint32_t max, bool *dsack, unsigned n, const struct tcp_range *b)
{
	struct tcp_opts o = sack_opt(n, b);

	return tcp_sack_update(&sb, una, max, &o, dsack);
}

#define UPD(una, max, dsack, ...)                                                              \
	upd(una, max, dsack, sizeof((struct tcp_range[]){__VA_ARGS__}) / sizeof(struct tcp_range), \
	    (struct tcp_range[]){__VA_ARGS__})

static void expect_board(unsigned n, const struct tcp_range *want)
{
	uint32_t bytes = 0;

	ck_assert_uint_eq(sb.n, n);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_msg(sb.sacked[i].start == want[i].start &&
				      sb.sacked[i].end == want[i].end,
			      "sacked[%u] = [%u, %u), want [%u, %u)", i, sb.sacked[i].start,
			      sb.sacked[i].end, want[i].start, want[i].end);
		bytes += want[i].end - want[i].start;
	}
	ck_assert_uint_eq(sb.sacked_bytes, bytes);
	if (n)
		ck_assert_uint_eq(sb.high_sacked, want[n - 1].end);
}

#define EXPECT_BOARD(...)                                                                      \
	expect_board(sizeof((struct tcp_range[]){__VA_ARGS__}) / sizeof(struct tcp_range),     \
		     (struct tcp_range[]){__VA_ARGS__})

START_TEST(reordered_overlapping_adjacent)
{
	bool d;

	/* una 1000, max 11000. Blocks arrive in any order. */
	ck_assert_uint_eq(UPD(1000, 11000, &d, R(5000, 6000), R(3000, 4000), R(8000, 9000)), 3000);
	ck_assert(!d);
	EXPECT_BOARD(R(3000, 4000), R(5000, 6000), R(8000, 9000));
	/* The same again: nothing new. */
	ck_assert_uint_eq(UPD(1000, 11000, &d, R(8000, 9000), R(3000, 4000)), 0);
	/* Overlapping two ranges and the gap: 1000 new bytes (4000..5000). */
	ck_assert_uint_eq(UPD(1000, 11000, &d, R(3500, 5500)), 1000);
	EXPECT_BOARD(R(3000, 6000), R(8000, 9000));
	/* Adjacent: merges (SACKed data is contiguous). */
	ck_assert_uint_eq(UPD(1000, 11000, &d, R(9000, 9500), R(7500, 8000)), 1000);
	EXPECT_BOARD(R(3000, 6000), R(7500, 9500));
	ck_assert(tcp_sack_is_sacked(&sb, 3000));
	ck_assert(tcp_sack_is_sacked(&sb, 9499));
	ck_assert(!tcp_sack_is_sacked(&sb, 9500));
	ck_assert(!tcp_sack_is_sacked(&sb, 2999));
	ck_assert(!tcp_sack_is_sacked(&sb, 7000));
	/* No SACK option, or one with no block: nothing. */
	{
		struct tcp_opts none;

		memset(&none, 0, sizeof(none));
		ck_assert_uint_eq(tcp_sack_update(&sb, 1000, 11000, &none, &d), 0);
		none.present = TCP_OPTF_SACK;
		ck_assert_uint_eq(tcp_sack_update(&sb, 1000, 11000, &none, NULL), 0);
	}
	EXPECT_BOARD(R(3000, 6000), R(7500, 9500));
}
END_TEST

START_TEST(hostile_blocks_ignored)
{
	bool d;

	/* una 1000, max 11000; only snd_una < start < end <= snd_max is taken. Block 0 of
	 * each ACK is a plausible one, so D-SACK rules (first block only) stay out of it. */
	ck_assert_uint_eq(UPD(1000, 11000, &d, R(2000, 2100),
			      R(6000, 5000),      /* reversed */
			      R(7000, 7000),      /* empty */
			      R(10000, 11001)),   /* one byte beyond snd_max */
			  100);
	ck_assert_uint_eq(UPD(1000, 11000, &d, R(2000, 2100),
			      R(1000, 1500),      /* starts at snd_una: contradicts the ACK */
			      R(500, 1500),       /* straddles snd_una (not first: no D-SACK) */
			      R(200, 900)),       /* below snd_una (not first: ignored) */
			  0);
	ck_assert(!d);
	ck_assert_uint_eq(UPD(1000, 11000, &d, R(2000, 2100),
			      R(1000 + 0x80000000u, 1100 + 0x80000000u), /* half the space away */
			      R(0xfffffff0u, 0x10u),                     /* "wraps" far below */
			      R(11000, 12000)),                          /* never sent */
			  0);
	/* Ends 2^31 - 1 apart: each pairwise SEQ_ test passes (start after snd_una, end after
	 * start, end not after snd_max), yet the block covers almost all of sequence space. */
	ck_assert_uint_eq(UPD(1000, 11000, &d, R(2000, 2100), R(1000 + 0x7fffffffu, 998)), 0);
	ck_assert(SEQ_GT(1000 + 0x7fffffffu, 1000) && SEQ_LT(1000 + 0x7fffffffu, 998) &&
		  SEQ_LEQ(998, 11000));
	/* The same shape as a "D-SACK": not even counted. */
	ck_assert_uint_eq(UPD(1000, 11000, &d, R(900 + 0x80000000u, 900)), 0);
	ck_assert(!d);
	ck_assert_uint_eq(sb.dsack_seen, 0);
	EXPECT_BOARD(R(2000, 2100));
	/* The whole outstanding window but its first byte is a valid block. */
	ck_assert_uint_eq(UPD(1000, 11000, &d, R(1001, 11000)), 9999 - 100);
	EXPECT_BOARD(R(1001, 11000));
	/* A count beyond 4 is read as 4 (the option cannot carry more). */
	{
		struct tcp_opts o = sack_opt(4, (struct tcp_range[]){R(1, 2), R(3, 4), R(5, 6),
								     R(7, 8)});

		tcp_sack_reset(&sb);
		o.n_sack = 200;
		ck_assert_uint_eq(tcp_sack_update(&sb, 0, 100, &o, &d), 4);
		ck_assert_uint_eq(sb.n, 4);
	}
}
END_TEST

START_TEST(dsack_detection)
{
	bool d;

	/* RFC 2883 §4.1.1: ACK 4000 with SACK 3000-3500: a D-SACK of already-ACKed data. */
	ck_assert_uint_eq(UPD(4000, 6000, &d, R(3000, 3500)), 0);
	ck_assert(d);
	ck_assert_uint_eq(sb.dsack_seen, 1);
	ck_assert_uint_eq(sb.n, 0);
	/* §4.1.3-like: D-SACK below the ACK followed by a regular block: the regular one is
	 * added. */
	ck_assert_uint_eq(UPD(4000, 6000, &d, R(3000, 3500), R(5000, 5500)), 500);
	ck_assert(d);
	EXPECT_BOARD(R(5000, 5500));
	/* §4.2.1: a duplicate of out-of-order data: first block inside the second. */
	ck_assert_uint_eq(UPD(4000, 8000, &d, R(5000, 5500), R(5000, 6500)), 1000);
	ck_assert(d);
	ck_assert_uint_eq(sb.dsack_seen, 3);
	EXPECT_BOARD(R(5000, 6500));
	/* Equal to the second block counts as inside it. */
	ck_assert_uint_eq(UPD(4000, 8000, &d, R(7000, 7500), R(7000, 7500)), 500);
	ck_assert(d);
	/* A first block that straddles the ACK starts below it: D-SACK (Linux does the same). */
	ck_assert_uint_eq(UPD(4000, 8000, &d, R(3900, 4100)), 0);
	ck_assert(d);
	/* A first block above the ACK and not inside the second is a plain SACK. */
	ck_assert_uint_eq(UPD(4000, 9000, &d, R(8000, 8500), R(5000, 6500)), 500);
	ck_assert(!d);
	/* Only the first block can be a D-SACK. */
	ck_assert_uint_eq(UPD(4000, 9000, &d, R(8500, 8600), R(3000, 3500)), 100);
	ck_assert(!d);
	/* Insane "D-SACKs" are not even counted: reversed, beyond snd_max, 2^30+ below it. */
	sb.dsack_seen = 0;
	UPD(4000, 9000, &d, R(3500, 3000));
	ck_assert(!d);
	UPD(4000, 9000, &d, R(3000, 9001));
	ck_assert(!d);
	UPD(4000, 9000, &d, R(9000 - (1u << 30) - 1, 3000));
	ck_assert(!d);
	/* A "second block" that is reversed does not make the first a D-SACK. */
	ck_assert_uint_eq(UPD(4000, 12000, &d, R(10000, 10100), R(11000, 9000)), 100);
	ck_assert(!d);
	ck_assert_uint_eq(sb.dsack_seen, 0);
}
END_TEST

START_TEST(wrap)
{
	uint32_t una = 0xffffe000u, max = 0x2000u; /* 16 KiB across 2^32 */
	bool d;

	ck_assert_uint_eq(UPD(una, max, &d, R(0x1000u, 0x1800u), R(0xfffff000u, 0x400u)),
			  0x800 + 0x1400);
	EXPECT_BOARD(R(0xfffff000u, 0x400u), R(0x1000u, 0x1800u));
	ck_assert_uint_eq(UPD(una, max, &d, R(0x400u, 0x1000u)), 0xc00);
	EXPECT_BOARD(R(0xfffff000u, 0x1800u));
	ck_assert(tcp_sack_is_sacked(&sb, 0xffffffffu));
	ck_assert(tcp_sack_is_sacked(&sb, 0));
	ck_assert(!tcp_sack_is_sacked(&sb, 0xffffefffu));
	/* Cumulative ACK into the hole below it: the range stays. */
	tcp_sack_advance(&sb, 0xffffe800u);
	EXPECT_BOARD(R(0xfffff000u, 0x1800u));
	/* ACK past it. */
	tcp_sack_advance(&sb, 0x1800u);
	ck_assert_uint_eq(sb.n, 0);
	ck_assert_uint_eq(sb.sacked_bytes, 0);
}
END_TEST

START_TEST(range_limit_forgets_farthest)
{
	bool d;

	for (unsigned i = 0; i < TCP_SCOREBOARD_MAX; i++)
		UPD(0, 100000, &d, R(1000 + i * 2000, 1500 + i * 2000));
	ck_assert_uint_eq(sb.n, TCP_SCOREBOARD_MAX);
	/* A new separate range above all: itself forgotten, nothing new kept. */
	ck_assert_uint_eq(UPD(0, 100000, &d, R(90000, 91000)), 0);
	ck_assert_uint_eq(sb.n, TCP_SCOREBOARD_MAX);
	ck_assert_uint_eq(sb.high_sacked, 1500 + 15 * 2000);
	/* A new range below the highest: the highest is forgotten to make room. */
	ck_assert_uint_eq(UPD(0, 100000, &d, R(100, 200)), 100);
	ck_assert_uint_eq(sb.n, TCP_SCOREBOARD_MAX);
	ck_assert_uint_eq(sb.sacked[0].start, 100);
	ck_assert_uint_eq(sb.high_sacked, 1500 + 14 * 2000);
	/* A block merging into an existing range needs no room. */
	ck_assert_uint_eq(UPD(0, 100000, &d, R(1500, 3000)), 1500);
	ck_assert_uint_eq(sb.n, TCP_SCOREBOARD_MAX - 1);
}
END_TEST

START_TEST(advance_and_reneging)
{
	bool d;

	UPD(0, 10000, &d, R(1000, 2000), R(3000, 4000), R(6000, 7000));
	tcp_sack_advance(&sb, 999); /* in the first hole: nothing dropped */
	EXPECT_BOARD(R(1000, 2000), R(3000, 4000), R(6000, 7000));
	tcp_sack_advance(&sb, 2000); /* exactly past the first range */
	EXPECT_BOARD(R(3000, 4000), R(6000, 7000));
	tcp_sack_advance(&sb, 2500); /* in a hole */
	EXPECT_BOARD(R(3000, 4000), R(6000, 7000));
	/* The ACK stops inside a SACKed range: the receiver reneged (it would have ACKed
	 * 4000 had it kept 3000..3999). Everything goes. */
	tcp_sack_advance(&sb, 3500);
	ck_assert_uint_eq(sb.n, 0);
	ck_assert_uint_eq(sb.sacked_bytes, 0);
	/* An ACK exactly at a SACKed range's start says the same: byte 6000 is missing. */
	UPD(5000, 10000, &d, R(6000, 7000), R(8000, 9000));
	tcp_sack_advance(&sb, 6000);
	ck_assert_uint_eq(sb.n, 0);
	/* A torn count is harmless. */
	sb.n = 200;
	ck_assert(!tcp_sack_is_sacked(&sb, 5000));
	tcp_sack_advance(&sb, 5000);
	ck_assert_uint_eq(sb.n, 0);
	sb.n = 77;
	ck_assert_uint_eq(UPD(5000, 10000, &d, R(6000, 6500)), 500);
	ck_assert_uint_eq(sb.n, 1);
}
END_TEST

START_TEST(next_hole)
{
	uint32_t hs, he;
	bool d;

	ck_assert(tcp_sack_next_hole(&sb, 0, 5000, &hs, &he)); /* empty board: all a hole */
	ck_assert_uint_eq(hs, 0);
	ck_assert_uint_eq(he, 5000);
	UPD(0, 10000, &d, R(1000, 2000), R(3000, 4000));
	ck_assert(tcp_sack_next_hole(&sb, 0, 10000, &hs, &he));
	ck_assert_uint_eq(hs, 0);
	ck_assert_uint_eq(he, 1000);
	ck_assert(tcp_sack_next_hole(&sb, 1000, 10000, &hs, &he)); /* inside a range: skip it */
	ck_assert_uint_eq(hs, 2000);
	ck_assert_uint_eq(he, 3000);
	ck_assert(tcp_sack_next_hole(&sb, 3500, 10000, &hs, &he));
	ck_assert_uint_eq(hs, 4000);
	ck_assert_uint_eq(he, 10000);
	ck_assert(tcp_sack_next_hole(&sb, 2500, 2800, &hs, &he)); /* end inside the hole */
	ck_assert_uint_eq(hs, 2500);
	ck_assert_uint_eq(he, 2800);
	ck_assert(!tcp_sack_next_hole(&sb, 1000, 2000, &hs, &he)); /* all SACKed */
	ck_assert(!tcp_sack_next_hole(&sb, 7000, 7000, &hs, &he)); /* empty */
}
END_TEST

/* RFC 6675 worked examples: SMSS 1000, snd_una 0, ten segments [0, 10000) outstanding. */
START_TEST(is_lost_examples)
{
	bool d;

	/* One SACKed segment above 0: neither 3 ranges nor more than 2·SMSS bytes. */
	UPD(0, 10000, &d, R(1000, 2000));
	ck_assert(!tcp_sack_is_lost(&sb, 0, 1000));
	/* Two ranges, 2000 bytes: "more than (DupThresh - 1)·SMSS" is not met by 2000. */
	UPD(0, 10000, &d, R(3000, 4000));
	ck_assert(!tcp_sack_is_lost(&sb, 0, 1000));
	/* Three discontiguous ranges: lost. */
	UPD(0, 10000, &d, R(5000, 6000));
	ck_assert(tcp_sack_is_lost(&sb, 0, 1000));
	ck_assert(tcp_sack_is_lost(&sb, 999, 1000));
	/* Above 2000: two ranges, 2000 bytes: not lost; a SACKed byte is never lost. */
	ck_assert(!tcp_sack_is_lost(&sb, 2000, 1000));
	ck_assert(!tcp_sack_is_lost(&sb, 1500, 1000));
	/* One range of 2001 bytes above: lost by bytes. */
	tcp_sack_reset(&sb);
	UPD(0, 10000, &d, R(1000, 3001));
	ck_assert(tcp_sack_is_lost(&sb, 0, 1000));
	tcp_sack_reset(&sb);
	UPD(0, 10000, &d, R(1000, 3000));
	ck_assert(!tcp_sack_is_lost(&sb, 0, 1000));
	/* Small segments: three SACKed 100-byte pieces are DupThresh discontiguous ranges. */
	tcp_sack_reset(&sb);
	UPD(0, 10000, &d, R(100, 200), R(300, 400), R(500, 600));
	ck_assert(tcp_sack_is_lost(&sb, 0, 1000));
	ck_assert(!tcp_sack_is_lost(&sb, 250, 1000));
}
END_TEST

START_TEST(pipe_examples)
{
	bool d;

	/* SACKed: [2000,3000) [4000,5000) [6000,7000); holes [0,2000) (3 ranges above: lost),
	 * [3000,4000) (2 ranges, 2000 bytes: not lost), [5000,6000) and [7000,10000) (not lost).
	 * SetPipe = 1000 + 1000 + 3000 = 5000. */
	UPD(0, 10000, &d, R(2000, 3000), R(4000, 5000), R(6000, 7000));
	sb.high_rxt = 0;
	ck_assert_uint_eq(tcp_sack_pipe(&sb, 0, 10000, 1000), 5000);
	/* [0,1000) retransmitted (HighRxt = 999): it counts once more, (b). */
	sb.high_rxt = 1000;
	ck_assert_uint_eq(tcp_sack_pipe(&sb, 0, 10000, 1000), 6000);
	/* Retransmitted octets not considered lost count twice: HighRxt up to 3500 covers
	 * [0,2000) (lost, once) and [3000,3500) (not lost, twice). */
	sb.high_rxt = 3500;
	ck_assert_uint_eq(tcp_sack_pipe(&sb, 0, 10000, 1000), 5000 + 2000 + 500);
	/* A stale HighRxt (outside [snd_una, snd_max]) reads as snd_una. */
	sb.high_rxt = 0x90000000u;
	ck_assert_uint_eq(tcp_sack_pipe(&sb, 0, 10000, 1000), 5000);
	/* No SACK information: pipe is the flight; nothing outstanding: 0. */
	tcp_sack_reset(&sb);
	ck_assert_uint_eq(tcp_sack_pipe(&sb, 0, 10000, 1000), 10000);
	ck_assert_uint_eq(tcp_sack_pipe(&sb, 5000, 5000, 1000), 0);
}
END_TEST

START_TEST(next_seg_rules)
{
	uint32_t seq, len;
	bool d;

	/* The pipe example's board. HighRxt = RescueRxt = undefined at first. */
	UPD(0, 10000, &d, R(2000, 3000), R(4000, 5000), R(6000, 7000));
	sb.high_rxt = 0;
	sb.rescue_rxt = 0x80000000u;
	/* Rule 1: [0,1000), then [1000,2000): lost, above HighRxt, below HighSACK. */
	ck_assert(tcp_sack_next_seg(&sb, 0, 10000, 12000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 0);
	ck_assert_uint_eq(len, 1000);
	ck_assert_uint_eq(sb.high_rxt, 1000);
	ck_assert(tcp_sack_next_seg(&sb, 0, 10000, 12000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 1000);
	ck_assert_uint_eq(sb.high_rxt, 2000);
	/* [3000,4000) is not lost: rule 2 sends new data (up to new_end). */
	ck_assert(tcp_sack_next_seg(&sb, 0, 10000, 10300, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 10000);
	ck_assert_uint_eq(len, 300);
	ck_assert_uint_eq(sb.high_rxt, 2000); /* HighData is the caller's */
	/* No new data (or no window): rule 3 retransmits the un-SACKed holes below HighSACK. */
	ck_assert(tcp_sack_next_seg(&sb, 0, 10000, 10000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 3000);
	ck_assert_uint_eq(len, 1000);
	ck_assert(tcp_sack_next_seg(&sb, 0, 10000, 10000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 5000);
	ck_assert_uint_eq(sb.high_rxt, 6000);
	/* Rule 4: one rescue segment ending at the highest un-SACKed byte (9999). */
	ck_assert(tcp_sack_next_seg(&sb, 0, 10000, 10000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 9000);
	ck_assert_uint_eq(len, 1000);
	ck_assert_uint_eq(sb.high_rxt, 6000); /* HighRxt MUST NOT be updated */
	ck_assert_uint_eq(sb.rescue_rxt, 10000);
	/* Only one per recovery. */
	ck_assert(!tcp_sack_next_seg(&sb, 0, 10000, 10000, 1000, &seq, &len));
}
END_TEST

START_TEST(next_seg_edges)
{
	uint32_t seq, len;
	bool d;

	/* Holes shorter than SMSS: the segment stops at the SACKed data. */
	UPD(0, 10000, &d, R(500, 1000), R(1200, 1300), R(1400, 1500), R(1600, 1700));
	sb.rescue_rxt = 0x80000000u;
	ck_assert(tcp_sack_next_seg(&sb, 0, 10000, 10000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 0);
	ck_assert_uint_eq(len, 500);
	ck_assert(tcp_sack_next_seg(&sb, 0, 10000, 10000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 1000);
	ck_assert_uint_eq(len, 200); /* 3 ranges above: lost */
	/* [1300,1400): 2 ranges, 200 bytes above: not lost; no new data: rule 3. */
	ck_assert(tcp_sack_next_seg(&sb, 0, 10000, 10000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 1300);
	ck_assert_uint_eq(len, 100);
	ck_assert(tcp_sack_next_seg(&sb, 0, 10000, 10000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 1500);
	/* Rescue: the top is un-SACKed: [9000, 10000). */
	ck_assert(tcp_sack_next_seg(&sb, 0, 10000, 10000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 9000);
	ck_assert(!tcp_sack_next_seg(&sb, 0, 10000, 10000, 1000, &seq, &len));

	/* The top is SACKed: the rescue ends where the top range starts, within its hole. */
	tcp_sack_reset(&sb);
	UPD(0, 10000, &d, R(9700, 10000));
	sb.rescue_rxt = 0x80000000u;
	sb.high_rxt = 9700; /* everything below was retransmitted already */
	ck_assert(tcp_sack_next_seg(&sb, 0, 10000, 10000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 8700);
	ck_assert_uint_eq(len, 1000);
	/* RescueRxt from an earlier recovery, now below snd_una: a rescue is allowed again. */
	tcp_sack_reset(&sb);
	UPD(5000, 6000, &d, R(5800, 6000));
	sb.high_rxt = 5800;
	sb.rescue_rxt = 4000;
	ck_assert(tcp_sack_next_seg(&sb, 5000, 6000, 6000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 5000);
	ck_assert_uint_eq(len, 800);
	/* RescueRxt == snd_una is "HighACK > RescueRxt" false: none. */
	sb.rescue_rxt = 5000;
	ck_assert(!tcp_sack_next_seg(&sb, 5000, 6000, 6000, 1000, &seq, &len));
	/* Nothing outstanding: nothing, unless there is new data. */
	tcp_sack_reset(&sb);
	ck_assert(!tcp_sack_next_seg(&sb, 7000, 7000, 7000, 1000, &seq, &len));
	ck_assert(tcp_sack_next_seg(&sb, 7000, 7000, 9000, 1000, &seq, &len));
	ck_assert_uint_eq(seq, 7000);
	ck_assert_uint_eq(len, 1000);
	ck_assert(!tcp_sack_next_seg(&sb, 7000, 7000, 9000, 0, &seq, &len));
}
END_TEST

/* --- randomized: the board against a byte map and RFC 6675's octet-by-octet rules -------- */

enum { UNIT = 100, UNITS = 30, W = UNIT * UNITS };
static uint8_t map[W]; /* map[i]: byte una + i is SACKed */

static uint64_t rs = 0x243f6a8885a308d3ull;
static uint32_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (uint32_t)rs;
}

/* SACKed runs and bytes strictly above each octet, recomputed after every change of the
 * map (the counting RFC 6675's IsLost describes, done once per map instead of per call). */
static uint32_t runs_above[W + 1], bytes_above[W + 1];

static void bf_prepare(void)
{
	runs_above[W] = bytes_above[W] = 0;
	for (uint32_t s = W; s-- > 0;) {
		/* above s: above s + 1, plus octet s + 1 itself */
		runs_above[s] = runs_above[s + 1];
		bytes_above[s] = bytes_above[s + 1];
		if (s + 1 < W && map[s + 1]) {
			bytes_above[s]++;
			if (s + 2 >= W || !map[s + 2])
				runs_above[s]++; /* s + 1 ends a run not counted yet */
		}
	}
}

/* RFC 6675 §4 IsLost. */
static bool bf_is_lost(uint32_t s, uint32_t smss)
{
	if (map[s])
		return false;
	return runs_above[s] >= TCP_DUPTHRESH || bytes_above[s] > (TCP_DUPTHRESH - 1) * smss;
}

/* RFC 6675 §4 SetPipe, literally: hr is HighRxt + 1, relative to una. */
static uint32_t bf_pipe(uint32_t hr, uint32_t smss)
{
	uint32_t pipe = 0;

	for (uint32_t s = 0; s < W; s++) {
		if (map[s])
			continue;
		if (!bf_is_lost(s, smss))
			pipe++;
		if (s < hr)
			pipe++;
	}
	return pipe;
}

/* NextSeg rules 1, 3 and 4 (no new data), relative offsets. */
static bool bf_next_seg(uint32_t *hr, uint32_t *rescue_done, uint32_t smss, uint32_t *seq,
			uint32_t *len)
{
	uint32_t high = 0, s;

	for (uint32_t i = 0; i < W; i++)
		if (map[i])
			high = i + 1;
	for (int rule = 1; rule <= 3; rule += 2)
		for (s = *hr; s < high; s++) {
			uint32_t e = s;

			if (map[s] || (rule == 1 && !bf_is_lost(s, smss)))
				continue;
			while (e < W && !map[e] && e - s < smss)
				e++;
			*seq = s;
			*len = e - s;
			*hr = e;
			return true;
		}
	if (!*rescue_done) {
		for (s = W; s-- > 0;)
			if (!map[s]) {
				uint32_t b = s + 1;

				while (b > 0 && !map[b - 1] && s + 1 - (b - 1) <= smss)
					b--;
				*seq = b;
				*len = s + 1 - b;
				*rescue_done = 1;
				return true;
			}
	}
	return false;
}

START_TEST(random_against_rfc_definitions)
{
	static const uint32_t smsses[] = {UNIT, 150, 3 * UNIT, 1000};

	for (int round = 0; round < 300; round++) {
		/* Half the rounds straddle the wrap. */
		uint32_t una = round & 1 ? 0u - W / 2 - rnd() % W : rnd();
		uint32_t max = una + W, smss = smsses[rnd() % 4];

		tcp_sack_reset(&sb);
		memset(map, 0, sizeof(map));
		for (int ackn = 0; ackn < 12; ackn++) {
			struct tcp_range b[4];
			unsigned nb = 1 + rnd() % 4;
			uint32_t before = sb.sacked_bytes, added, want_added = 0;
			bool d;

			for (unsigned i = 0; i < nb; i++) {
				int s = (int)(rnd() % (UNITS + 10)) - 5;
				int e = s + (int)(rnd() % 8) - 1;

				b[i] = R(una + (uint32_t)(s * UNIT), una + (uint32_t)(e * UNIT));
				if (rnd() % 10 == 0)
					b[i] = R(rnd(), rnd()); /* garbage */
			}
			added = upd(una, max, &d, nb, b);
			/* The model: D-SACK rules aside (a D-SACK block is never a valid new
			 * block or lies inside block 1, which is added anyway), valid blocks
			 * are added. */
			for (unsigned i = 0; i < nb; i++) {
				uint64_t os = b[i].start - una, oe = b[i].end - una;

				if (!(os > 0 && os < oe && oe <= W))
					continue;
				if (i == 0 && d)
					continue;
				for (uint32_t k = b[i].start - una; k < b[i].end - una; k++)
					if (!map[k]) {
						map[k] = 1;
						want_added++;
					}
			}
			bf_prepare();
			ck_assert_uint_eq(added, want_added);
			ck_assert_uint_eq(sb.sacked_bytes, before + want_added);
			/* Check's assertions cost a syscall each: test the octets in plain C. */
			for (uint32_t k = 0; k < W; k++) {
				if (tcp_sack_is_sacked(&sb, una + k) != map[k])
					ck_abort_msg("is_sacked(una + %u) wrong", k);
				if (tcp_sack_is_lost(&sb, una + k, smss) != bf_is_lost(k, smss))
					ck_abort_msg("is_lost(una + %u, %u) wrong", k, smss);
			}
			{
				uint32_t hr = rnd() % (W + 1);

				sb.high_rxt = una + hr;
				ck_assert_uint_eq(tcp_sack_pipe(&sb, una, max, smss),
						  bf_pipe(hr, smss));
			}
		}
		/* A whole recovery's worth of NextSeg (no new data) against the rules. */
		{
			uint32_t hr = 0, rescue_done = 0, seq, len, bseq, blen;
			bool got, want;
			int steps = 0;

			sb.high_rxt = una;
			sb.rescue_rxt = una - 1; /* below HighACK: a rescue is allowed */
			do {
				got = tcp_sack_next_seg(&sb, una, max, max, smss, &seq, &len);
				want = bf_next_seg(&hr, &rescue_done, smss, &bseq, &blen);
				ck_assert_int_eq(got, want);
				if (got) {
					ck_assert_uint_eq(seq - una, bseq);
					ck_assert_uint_eq(len, blen);
					ck_assert_uint_eq(sb.high_rxt - una, hr);
				}
			} while (got && ++steps < 100);
			ck_assert_int_lt(steps, 100);
		}
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_sack");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, reordered_overlapping_adjacent);
	tcase_add_test(tc, hostile_blocks_ignored);
	tcase_add_test(tc, dsack_detection);
	tcase_add_test(tc, wrap);
	tcase_add_test(tc, range_limit_forgets_farthest);
	tcase_add_test(tc, advance_and_reneging);
	tcase_add_test(tc, next_hole);
	tcase_add_test(tc, is_lost_examples);
	tcase_add_test(tc, pipe_examples);
	tcase_add_test(tc, next_seg_rules);
	tcase_add_test(tc, next_seg_edges);
	tcase_add_test(tc, random_against_rfc_definitions);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
