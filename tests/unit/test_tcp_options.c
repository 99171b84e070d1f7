/* test_tcp_options: TCP option parsing and building (servers/tcp/tcp_options.c) — every
 * malformed list RFC 9293 §3.2 warns of (length 0 and 1, past the end, wrong fixed lengths,
 * bad SACK lengths, a lone kind byte at the end), what is tolerated as Linux does (EOL and
 * what follows it, NOP runs, unknown kinds, MSS 0, empty SACK, repeats, window scale > 14),
 * SYN-only options on other segments, Linux's byte layout for what we build (checked against
 * the bytes a Linux SYN carries), how many SACK blocks fit, and a random round trip and fuzz. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "tcp_priv.h"

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static int parse(const uint8_t *b, size_t n, bool syn, struct tcp_opts *o)
{
	memset(o, 0xa5, sizeof(*o));
	return tcp_options_parse(b, n, syn, o);
}

START_TEST(empty_list)
{
	struct tcp_opts o;

	ck_assert_int_eq(tcp_options_parse(NULL, 0, true, &o), 0);
	ck_assert_uint_eq(o.present, 0);
	ck_assert_uint_eq(o.n_sack, 0);
}
END_TEST

/* The options of a Linux SYN, as tcpdump shows them: mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7 */
static const uint8_t linux_syn[] = {
	2, 4, 0x05, 0xb4,                   /* MSS 1460 */
	4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, /* SACK-permitted, TS val 1 ecr 0 */
	1, 3, 3, 7,                         /* NOP, window scale 7 */
};

START_TEST(linux_syn_parsed)
{
	struct tcp_opts o;

	ck_assert_int_eq(parse(linux_syn, sizeof(linux_syn), true, &o), 0);
	ck_assert_uint_eq(o.present, TCP_OPTF_MSS | TCP_OPTF_SACK_PERM | TCP_OPTF_TIMESTAMP |
					     TCP_OPTF_WSCALE);
	ck_assert_uint_eq(o.mss, 1460);
	ck_assert_uint_eq(o.wscale, 7);
	ck_assert_uint_eq(o.tsval, 1);
	ck_assert_uint_eq(o.tsecr, 0);
	ck_assert_uint_eq(o.n_sack, 0);
}
END_TEST

START_TEST(syn_options_skipped_without_syn)
{
	struct tcp_opts o;

	/* Linux honours MSS, window scale and SACK-permitted only on a SYN. */
	ck_assert_int_eq(parse(linux_syn, sizeof(linux_syn), false, &o), 0);
	ck_assert_uint_eq(o.present, TCP_OPTF_TIMESTAMP);
	ck_assert_uint_eq(o.mss, 0);
	ck_assert_uint_eq(o.wscale, 0);
}
END_TEST

START_TEST(build_linux_syn_layout)
{
	struct tcp_opts o = {.present = TCP_OPTF_MSS | TCP_OPTF_SACK_PERM | TCP_OPTF_TIMESTAMP |
					TCP_OPTF_WSCALE,
			     .mss = 1460, .wscale = 7, .tsval = 1, .tsecr = 0};
	uint8_t out[TCP_OPT_SPACE];

	ck_assert_uint_eq(tcp_options_build(out, &o), sizeof(linux_syn));
	ck_assert_mem_eq(out, linux_syn, sizeof(linux_syn));
}
END_TEST

START_TEST(build_without_timestamps)
{
	/* Linux without timestamps: mss, nop, nop, sackOK, nop, wscale. */
	static const uint8_t want[] = {2, 4, 0x02, 0x18, 1, 1, 4, 2, 1, 3, 3, 14};
	struct tcp_opts o = {.present = TCP_OPTF_MSS | TCP_OPTF_SACK_PERM | TCP_OPTF_WSCALE,
			     .mss = 536, .wscale = 200};
	uint8_t out[TCP_OPT_SPACE];

	/* wscale 200 is written as 14 (RFC 7323 §2.3). */
	ck_assert_uint_eq(tcp_options_build(out, &o), sizeof(want));
	ck_assert_mem_eq(out, want, sizeof(want));
}
END_TEST

START_TEST(build_timestamps_only)
{
	static const uint8_t want[] = {1, 1, 8, 10, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};
	struct tcp_opts o = {.present = TCP_OPTF_TIMESTAMP, .tsval = 0xdeadbeef,
			     .tsecr = 0x01020304};
	uint8_t out[TCP_OPT_SPACE];

	ck_assert_uint_eq(tcp_options_build(out, &o), 12);
	ck_assert_mem_eq(out, want, sizeof(want));
	o.present = 0;
	ck_assert_uint_eq(tcp_options_build(out, &o), 0);
}
END_TEST

START_TEST(build_sack_blocks_fit)
{
	struct tcp_opts o = {.present = TCP_OPTF_SACK | TCP_OPTF_TIMESTAMP, .n_sack = 4,
			     .tsval = 5, .tsecr = 6};
	struct tcp_opts back;
	uint8_t out[TCP_OPT_SPACE];
	size_t n;

	for (unsigned i = 0; i < 4; i++)
		o.sack[i] = (struct tcp_range){0xfffffff0u + i * 100, 0xfffffff0u + i * 100 + 50};
	/* With timestamps: 12 + NOP NOP 5 26 + 3 blocks = 40 bytes, the fourth does not fit. */
	n = tcp_options_build(out, &o);
	ck_assert_uint_eq(n, 40);
	ck_assert_uint_eq(out[12], TCP_OPT_NOP);
	ck_assert_uint_eq(out[13], TCP_OPT_NOP);
	ck_assert_uint_eq(out[14], TCP_OPT_SACK);
	ck_assert_uint_eq(out[15], 26);
	ck_assert_int_eq(tcp_options_parse(out, n, false, &back), 0);
	ck_assert_uint_eq(back.n_sack, 3);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_uint_eq(back.sack[i].start, o.sack[i].start);
		ck_assert_uint_eq(back.sack[i].end, o.sack[i].end);
	}
	/* Without timestamps all 4 fit: 4 + 32 = 36. */
	o.present = TCP_OPTF_SACK;
	n = tcp_options_build(out, &o);
	ck_assert_uint_eq(n, 36);
	ck_assert_int_eq(tcp_options_parse(out, n, false, &back), 0);
	ck_assert_uint_eq(back.n_sack, 4);
	ck_assert_uint_eq(back.sack[3].end, o.sack[3].end);
	/* More than 4 asked: 4 written. */
	o.n_sack = 9;
	ck_assert_uint_eq(tcp_options_build(out, &o), 36);
	/* MSS + TS + WS + SACK-permitted leave 20 bytes: 2 blocks. */
	o.present = TCP_OPTF_SACK | TCP_OPTF_TIMESTAMP | TCP_OPTF_MSS | TCP_OPTF_WSCALE |
		    TCP_OPTF_SACK_PERM;
	ck_assert_uint_eq(tcp_options_build(out, &o), 20 + 4 + 16);
}
END_TEST

/* Malformed lists: each is rejected and leaves *out as it was. */
static const struct {
	const char *what;
	uint8_t b[TCP_OPT_SPACE];
	uint8_t n;
	bool syn;
} bad[] = {
	{"length 0", {30, 0}, 2, false},
	{"length 1", {30, 1, 0, 0}, 4, false},
	{"length 0 of a known kind", {2, 0, 0, 0}, 4, true},
	{"kind alone at the end", {1, 1, 1, 8}, 4, false},
	{"unknown option past the end", {30, 6, 0, 0}, 4, false},
	{"MSS past the end", {1, 2, 4, 5}, 4, true},
	{"timestamp past the end", {8, 10, 0, 0, 0, 0, 0, 0}, 8, false},
	{"MSS length 3", {2, 3, 5, 1}, 4, true},
	{"MSS length 5", {2, 5, 5, 0xb4, 0, 0, 0, 0}, 8, true},
	{"MSS length 3 on a non-SYN", {2, 3, 5, 1}, 4, false},
	{"window scale length 4", {3, 4, 7, 0}, 4, true},
	{"window scale length 2", {3, 2, 1, 1}, 4, true},
	{"SACK-permitted length 3", {4, 3, 0, 1}, 4, true},
	{"SACK-permitted length 4", {4, 4, 0, 0}, 4, false},
	{"timestamp length 8", {8, 8, 0, 0, 0, 0, 0, 0}, 8, false},
	{"timestamp length 12", {8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 12, false},
	{"SACK length 3", {5, 3, 0, 1}, 4, false},
	{"SACK length 11 (not 2 + 8n)", {5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 12, false},
	{"SACK length 42 (5 blocks) in 40 bytes", {5, 42}, 40, false},
	{"SACK of 4 blocks cut short", {1, 1, 5, 34, 0, 0, 0, 1, 0, 0, 0, 2}, 12, false},
	{"good options then garbage", {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 2, 1}, 14, false},
};

START_TEST(malformed_rejected)
{
	struct tcp_opts o, before;

	memset(&o, 0x5a, sizeof(o));
	before = o;
	ck_assert_msg(tcp_options_parse(bad[_i].b, bad[_i].n, bad[_i].syn, &o) == -EINVAL,
		      "%s accepted", bad[_i].what);
	ck_assert_msg(memcmp(&o, &before, sizeof(o)) == 0, "%s changed *out", bad[_i].what);
}
END_TEST

START_TEST(too_long_rejected)
{
	uint8_t b[TCP_OPT_SPACE + 4];
	struct tcp_opts o;

	memset(b, TCP_OPT_NOP, sizeof(b));
	ck_assert_int_eq(tcp_options_parse(b, TCP_OPT_SPACE + 1, false, &o), -EINVAL);
	ck_assert_int_eq(tcp_options_parse(b, TCP_OPT_SPACE, false, &o), 0);
	ck_assert_int_eq(tcp_options_parse(NULL, 4, false, &o), -EINVAL);
}
END_TEST

START_TEST(eol_ends_list)
{
	struct tcp_opts o;

	/* After EOL the bytes are padding, even ones that would be malformed as options. */
	ck_assert_int_eq(parse(BYTES(2, 4, 0x05, 0xb4, 0, 2, 0, 30, 1), true, &o), 0);
	ck_assert_uint_eq(o.present, TCP_OPTF_MSS);
	ck_assert_uint_eq(o.mss, 1460);
	/* EOL first: nothing, and the timestamp behind it is not read. */
	ck_assert_int_eq(parse(BYTES(0, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2), false, &o), 0);
	ck_assert_uint_eq(o.present, 0);
}
END_TEST

START_TEST(nop_runs_and_unknown_kinds)
{
	uint8_t b[TCP_OPT_SPACE];
	struct tcp_opts o;

	memset(b, TCP_OPT_NOP, sizeof(b));
	ck_assert_int_eq(parse(b, sizeof(b), true, &o), 0);
	ck_assert_uint_eq(o.present, 0);
	/* NOPs, an unknown kind 30 of length 6, kind 254 of length 2, then window scale. */
	ck_assert_int_eq(parse(BYTES(1, 1, 1, 30, 6, 9, 9, 9, 9, 254, 2, 3, 3, 5), true, &o), 0);
	ck_assert_uint_eq(o.present, TCP_OPTF_WSCALE);
	ck_assert_uint_eq(o.wscale, 5);
	/* An unknown option that ends exactly at the end of the list. */
	ck_assert_int_eq(parse(BYTES(8, 10, 0, 0, 0, 7, 0, 0, 0, 8, 99, 4, 1, 2), false, &o), 0);
	ck_assert_uint_eq(o.present, TCP_OPTF_TIMESTAMP);
	ck_assert_uint_eq(o.tsval, 7);
	ck_assert_uint_eq(o.tsecr, 8);
}
END_TEST

START_TEST(tolerated_as_linux)
{
	struct tcp_opts o;

	/* MSS 0: ignored (the peer then gets the default MSS). */
	ck_assert_int_eq(parse(BYTES(2, 4, 0, 0), true, &o), 0);
	ck_assert_uint_eq(o.present, 0);
	/* A SACK option of length 2 carries no block: ignored. */
	ck_assert_int_eq(parse(BYTES(1, 1, 5, 2), false, &o), 0);
	ck_assert_uint_eq(o.present, 0);
	ck_assert_uint_eq(o.n_sack, 0);
	/* A repeated MSS: the last wins. */
	ck_assert_int_eq(parse(BYTES(2, 4, 0x05, 0xb4, 2, 4, 0x02, 0x18), true, &o), 0);
	ck_assert_uint_eq(o.mss, 536);
	/* Window scale above 14 is reported as received; the caller uses 14. */
	ck_assert_int_eq(parse(BYTES(1, 3, 3, 15), true, &o), 0);
	ck_assert_uint_eq(o.wscale, 15);
	ck_assert_int_eq(parse(BYTES(1, 3, 3, 255), true, &o), 0);
	ck_assert_uint_eq(o.wscale, 255);
	ck_assert_uint_eq(o.present, TCP_OPTF_WSCALE);
}
END_TEST

START_TEST(sack_blocks_parsed)
{
	struct tcp_opts o;

	/* One block near the wrap: [0xfffffc00, 0x00000400). */
	ck_assert_int_eq(parse(BYTES(1, 1, 5, 10, 0xff, 0xff, 0xfc, 0x00, 0, 0, 4, 0), false, &o),
			 0);
	ck_assert_uint_eq(o.present, TCP_OPTF_SACK);
	ck_assert_uint_eq(o.n_sack, 1);
	ck_assert_uint_eq(o.sack[0].start, 0xfffffc00u);
	ck_assert_uint_eq(o.sack[0].end, 0x400u);
	/* Blocks are reported as received, reversed or not: the scoreboard judges them. */
	ck_assert_int_eq(parse(BYTES(5, 18, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 4), false,
			       &o), 0);
	ck_assert_uint_eq(o.n_sack, 2);
	ck_assert_uint_eq(o.sack[0].start, 9);
	ck_assert_uint_eq(o.sack[0].end, 1);
	ck_assert_uint_eq(o.sack[1].start, 3);
	ck_assert_uint_eq(o.sack[1].end, 4);
	/* A SACK option on a SYN is parsed (the caller ignores it). */
	ck_assert_int_eq(parse(BYTES(5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1), true, &o), 0);
	ck_assert_uint_eq(o.n_sack, 1);
	/* A later empty SACK option cancels an earlier one (the last wins). */
	ck_assert_int_eq(parse(BYTES(5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 2), false, &o), 0);
	ck_assert_uint_eq(o.present, 0);
	ck_assert_uint_eq(o.n_sack, 0);
}
END_TEST

START_TEST(overhead)
{
	struct tcp_conn c;

	memset(&c, 0, sizeof(c));
	ck_assert_uint_eq(tcp_options_overhead(&c), 0);
	c.flags = TCP_F_TS_OK | TCP_F_SACK_OK | TCP_F_WS_OK;
	ck_assert_uint_eq(tcp_options_overhead(&c), 12);
}
END_TEST

/* xorshift64*: a fixed seed, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

START_TEST(round_trip_random)
{
	for (unsigned it = 0; it < 20000; it++) {
		struct tcp_opts o, back;
		uint8_t out[TCP_OPT_SPACE];
		size_t n;
		unsigned want_sack;

		memset(&o, 0, sizeof(o));
		o.present = (uint8_t)(rnd() & 0x1f);
		o.mss = (uint16_t)(rnd() | 1);
		o.wscale = (uint8_t)(rnd() % 15);
		o.tsval = rnd();
		o.tsecr = rnd();
		o.n_sack = (uint8_t)(1 + rnd() % 4);
		for (unsigned i = 0; i < 4; i++)
			o.sack[i] = (struct tcp_range){rnd(), rnd()};
		n = tcp_options_build(out, &o);
		ck_assert_uint_le(n, TCP_OPT_SPACE);
		ck_assert_uint_eq(n % 4, 0);
		ck_assert_int_eq(tcp_options_parse(out, n, true, &back), 0);
		/* Room for SACK blocks after the other options, as the builder computes it. */
		want_sack = 0;
		if (o.present & TCP_OPTF_SACK) {
			size_t used = (o.present & TCP_OPTF_MSS ? 4 : 0) +
				      (o.present & TCP_OPTF_TIMESTAMP ? 12 : 0) +
				      ((o.present & TCP_OPTF_SACK_PERM) &&
						       !(o.present & TCP_OPTF_TIMESTAMP)
					       ? 4
					       : 0) +
				      (o.present & TCP_OPTF_WSCALE ? 4 : 0);
			unsigned fit = used + 12 <= TCP_OPT_SPACE
					       ? (unsigned)(TCP_OPT_SPACE - used - 4) / 8
					       : 0;

			want_sack = o.n_sack < fit ? o.n_sack : fit;
		}
		ck_assert_uint_eq(back.present & ~TCP_OPTF_SACK, o.present & ~TCP_OPTF_SACK);
		ck_assert_uint_eq(back.n_sack, want_sack);
		if (o.present & TCP_OPTF_MSS)
			ck_assert_uint_eq(back.mss, o.mss);
		if (o.present & TCP_OPTF_WSCALE)
			ck_assert_uint_eq(back.wscale, o.wscale);
		if (o.present & TCP_OPTF_TIMESTAMP) {
			ck_assert_uint_eq(back.tsval, o.tsval);
			ck_assert_uint_eq(back.tsecr, o.tsecr);
		}
		for (unsigned i = 0; i < want_sack; i++) {
			ck_assert_uint_eq(back.sack[i].start, o.sack[i].start);
			ck_assert_uint_eq(back.sack[i].end, o.sack[i].end);
		}
	}
}
END_TEST

/* Random bytes, biased towards the interesting kinds and lengths: the parser answers 0 or
 * -EINVAL, never reads past the list (ASan watches a heap copy of exactly n bytes), and what
 * it reports is self-consistent. */
START_TEST(fuzz)
{
	for (unsigned it = 0; it < 200000; it++) {
		size_t n = rnd() % (TCP_OPT_SPACE + 1);
		uint8_t *b = malloc(n ? n : 1);
		struct tcp_opts o;
		int rc;

		ck_assert_ptr_nonnull(b);
		for (size_t i = 0; i < n; i++) {
			uint32_t r = rnd();

			b[i] = (uint8_t)(r & 0x100 ? r % 11 : r >> 16);
		}
		rc = tcp_options_parse(b, n, rnd() & 1, &o);
		ck_assert(rc == 0 || rc == -EINVAL);
		if (rc == 0) {
			ck_assert_uint_le(o.n_sack, 4);
			ck_assert(!(o.present & TCP_OPTF_SACK) == !o.n_sack);
			ck_assert(!(o.present & TCP_OPTF_MSS) || o.mss != 0);
		}
		free(b);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_options");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, empty_list);
	tcase_add_test(tc, linux_syn_parsed);
	tcase_add_test(tc, syn_options_skipped_without_syn);
	tcase_add_test(tc, build_linux_syn_layout);
	tcase_add_test(tc, build_without_timestamps);
	tcase_add_test(tc, build_timestamps_only);
	tcase_add_test(tc, build_sack_blocks_fit);
	tcase_add_loop_test(tc, malformed_rejected, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, too_long_rejected);
	tcase_add_test(tc, eol_ends_list);
	tcase_add_test(tc, nop_runs_and_unknown_kinds);
	tcase_add_test(tc, tolerated_as_linux);
	tcase_add_test(tc, sack_blocks_parsed);
	tcase_add_test(tc, overhead);
	tcase_add_test(tc, round_trip_random);
	tcase_add_test(tc, fuzz);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
