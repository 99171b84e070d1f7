/* test_tcp_syncookie: SYN cookies (servers/tcp/tcp_syncookie.c) — the round trip for every MSS
 * class, options carried in TSval (window scale, its clamp, SACK-permitted, none without
 * timestamps), TSval never ahead of the clock, the 64-128 s lifetime at both ends of a
 * period, the 8-bit count's wrap, forgery (another 4-tuple, another ISN, a changed key, the
 * ECN bit, a million random ACKs), and the cookie differing per 4-tuple and per SYN. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "tcp_priv.h"

#define MS 1000000ull
#define S 1000000000ull
#define PERIOD (64 * S)
#define TS_OPT_ECN_FOR_TEST 0x20u /* bit 5 of the echoed TSval (Linux TS_OPT_ECN) */

static struct tcp_table *t;

static void setup(void)
{
	t = calloc(1, sizeof(*t));
	ck_assert_ptr_nonnull(t);
	for (unsigned i = 0; i < sizeof(t->secret); i++)
		t->secret[i] = (uint8_t)(0xa0 ^ (i * 29));
}

static void teardown(void)
{
	free(t);
}

#define PEER htonl(0xc6336407)
#define US htonl(0xc000020a)

static struct tcp_seg mksyn(uint16_t sport, uint32_t isn)
{
	struct tcp_seg s;

	memset(&s, 0, sizeof(s));
	s.saddr = PEER;
	s.daddr = US;
	s.sport = htons(sport);
	s.dport = htons(80);
	s.seq = isn;
	s.flags = TCP_SYN;
	return s;
}

/* The ACK completing the handshake of syn, answered with cookie (and our TSval). */
static struct tcp_seg mkack(const struct tcp_seg *syn, uint32_t cookie, bool ts, uint32_t tsecr)
{
	struct tcp_seg a = *syn;

	a.flags = TCP_ACK;
	a.seq = syn->seq + 1;
	a.ack = cookie + 1;
	memset(&a.opt, 0, sizeof(a.opt));
	if (ts) {
		a.opt.present = TCP_OPTF_TIMESTAMP;
		a.opt.tsval = 777;
		a.opt.tsecr = tsecr;
	}
	return a;
}

START_TEST(round_trip_mss_classes)
{
	static const struct {
		bool present;
		uint16_t syn_mss, want;
	} cases[] = {
		{true, 1460, 1460}, {true, 9000, 1460}, {true, 1459, 1440}, {true, 1452, 1440},
		{true, 1440, 1440}, {true, 1400, 1300}, {true, 1300, 1300}, {true, 1299, 536},
		{true, 536, 536},   {true, 100, 536},   {false, 0, 536},
	};
	uint64_t now = 1000 * S;

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tcp_seg syn = mksyn((uint16_t)(40000 + i), 0x12345678u * (i + 1)), ack;
		struct tcp_opts o;
		uint16_t mss = 0, got = 0;
		uint32_t tsval, cookie;

		if (cases[i].present) {
			syn.opt.present = TCP_OPTF_MSS;
			syn.opt.mss = cases[i].syn_mss;
		}
		cookie = tcp_cookie_make(t, now, &syn, &mss, &tsval);
		ck_assert_uint_eq(mss, cases[i].want);
		ack = mkack(&syn, cookie, false, 0);
		ck_assert_int_eq(tcp_cookie_check(t, now + 5 * S, &ack, &got, &o), 0);
		ck_assert_uint_eq(got, cases[i].want);
		ck_assert_uint_eq(o.mss, cases[i].want);
		/* no timestamps: no window scaling, no SACK */
		ck_assert_uint_eq(o.present, TCP_OPTF_MSS);
	}
}
END_TEST

START_TEST(options_in_timestamp)
{
	uint64_t now = 5000 * S + 123 * MS;
	struct tcp_seg syn = mksyn(40000, 1), ack;
	struct tcp_opts o;
	uint16_t mss, got;
	uint32_t tsval, cookie, off = tcp_ts_offset(t, US, PEER), ms;

	syn.opt.present = TCP_OPTF_MSS | TCP_OPTF_TIMESTAMP | TCP_OPTF_WSCALE | TCP_OPTF_SACK_PERM;
	syn.opt.mss = 1460;
	syn.opt.wscale = 7;
	syn.opt.tsval = 4242;
	cookie = tcp_cookie_make(t, now, &syn, &mss, &tsval);
	/* TSval = ms clock rounded down to 64, then 7 | SACK (0x10) in the low 6 bits, plus
	 * the pair's offset; never ahead of our clock. 5000123 ms = 78126·64 + 59, and
	 * 78126·64 + 0x17 = 5000087 <= 5000123. */
	ms = (uint32_t)(now / MS);
	ck_assert_uint_eq(tsval - off, 5000087u);
	ck_assert_uint_le(tsval - off, ms);
	ck_assert_uint_gt(tsval - off, ms - 64);
	ack = mkack(&syn, cookie, true, tsval);
	ck_assert_int_eq(tcp_cookie_check(t, now + 1 * S, &ack, &got, &o), 0);
	ck_assert_uint_eq(o.present,
			  TCP_OPTF_MSS | TCP_OPTF_TIMESTAMP | TCP_OPTF_WSCALE | TCP_OPTF_SACK_PERM);
	ck_assert_uint_eq(o.wscale, 7);
	ck_assert_uint_eq(o.tsval, 777);
	ck_assert_uint_eq(o.tsecr, tsval);
	/* Window scale 20 is carried as 14; none as 0xf; no SACK-permitted, no bit. */
	syn.opt.wscale = 20;
	syn.opt.present &= (uint8_t)~TCP_OPTF_SACK_PERM;
	cookie = tcp_cookie_make(t, now, &syn, &mss, &tsval);
	ack = mkack(&syn, cookie, true, tsval);
	ck_assert_int_eq(tcp_cookie_check(t, now, &ack, &got, &o), 0);
	ck_assert_uint_eq(o.wscale, 14);
	ck_assert(!(o.present & TCP_OPTF_SACK_PERM));
	syn.opt.present &= (uint8_t)~TCP_OPTF_WSCALE;
	cookie = tcp_cookie_make(t, now, &syn, &mss, &tsval);
	ck_assert_uint_eq((tsval - off) & 0x3f, 0xf);
	ack = mkack(&syn, cookie, true, tsval);
	ck_assert_int_eq(tcp_cookie_check(t, now, &ack, &got, &o), 0);
	ck_assert(!(o.present & TCP_OPTF_WSCALE));
	ck_assert(o.present & TCP_OPTF_TIMESTAMP);
	/* A clock exactly on a multiple of 64 ms: the bits would put TSval ahead, so it goes
	 * back 64 ms (ts = 64k | 0xf > 64k). */
	now = 64000 * MS;
	cookie = tcp_cookie_make(t, now, &syn, &mss, &tsval);
	ck_assert_uint_eq(tsval - off, 64000u - 64 + 0xf);
	/* The ECN bit was never sent: an echo with it is refused. */
	ack = mkack(&syn, cookie, true, tsval + TS_OPT_ECN_FOR_TEST); /* low bits 0xf -> 0x2f */
	ck_assert_int_eq(tcp_cookie_check(t, now, &ack, &got, &o), -EINVAL);
}
END_TEST

START_TEST(lifetime)
{
	struct tcp_seg syn = mksyn(40000, 99), ack;
	struct tcp_opts o;
	uint16_t mss, got;
	uint32_t tsval, cookie;
	uint64_t k = 1000; /* some period */

	/* Made just after a period starts: valid through the next period, 127 s at most. */
	cookie = tcp_cookie_make(t, k * PERIOD + 1 * S, &syn, &mss, &tsval);
	ack = mkack(&syn, cookie, false, 0);
	ck_assert_int_eq(tcp_cookie_check(t, k * PERIOD + 1 * S, &ack, &got, &o), 0);
	ck_assert_int_eq(tcp_cookie_check(t, (k + 1) * PERIOD + 63 * S, &ack, &got, &o), 0);
	ck_assert_int_eq(tcp_cookie_check(t, (k + 2) * PERIOD, &ack, &got, &o), -EINVAL);
	/* Made at a period's last moment: 64 s and a bit. */
	cookie = tcp_cookie_make(t, (k + 1) * PERIOD - 1, &syn, &mss, &tsval);
	ack = mkack(&syn, cookie, false, 0);
	ck_assert_int_eq(tcp_cookie_check(t, (k + 1) * PERIOD + 63 * S, &ack, &got, &o), 0);
	ck_assert_int_eq(tcp_cookie_check(t, (k + 1) * PERIOD + 64 * S, &ack, &got, &o), -EINVAL);
	/* A cookie from the future (a clock that went back) is refused too. */
	ck_assert_int_eq(tcp_cookie_check(t, (k - 1) * PERIOD, &ack, &got, &o), -EINVAL);
	/* 256 periods later the 8-bit count matches again, but H2 of the new count does not. */
	cookie = tcp_cookie_make(t, k * PERIOD, &syn, &mss, &tsval);
	ack = mkack(&syn, cookie, false, 0);
	ck_assert_int_eq(tcp_cookie_check(t, (k + 256) * PERIOD, &ack, &got, &o), -EINVAL);
	ck_assert_int_eq(tcp_cookie_check(t, (k + 257) * PERIOD, &ack, &got, &o), -EINVAL);
}
END_TEST

START_TEST(forgery)
{
	uint64_t now = 777 * PERIOD + 3 * S;
	struct tcp_seg syn = mksyn(40000, 0xdeadbeefu), ack, bad;
	struct tcp_opts o;
	uint16_t mss, got;
	uint32_t tsval, cookie = tcp_cookie_make(t, now, &syn, &mss, &tsval);
	unsigned accepted = 0;

	ack = mkack(&syn, cookie, false, 0);
	ck_assert_int_eq(tcp_cookie_check(t, now, &ack, &got, &o), 0);
	/* Any change of 4-tuple, their ISN, our ISN or key breaks it. */
	bad = ack;
	bad.sport = htons(40001);
	ck_assert_int_eq(tcp_cookie_check(t, now, &bad, &got, &o), -EINVAL);
	bad = ack;
	bad.dport = htons(81);
	ck_assert_int_eq(tcp_cookie_check(t, now, &bad, &got, &o), -EINVAL);
	bad = ack;
	bad.saddr ^= htonl(1);
	ck_assert_int_eq(tcp_cookie_check(t, now, &bad, &got, &o), -EINVAL);
	bad = ack;
	bad.daddr ^= htonl(1);
	ck_assert_int_eq(tcp_cookie_check(t, now, &bad, &got, &o), -EINVAL);
	bad = ack;
	bad.seq += 1;
	ck_assert_int_eq(tcp_cookie_check(t, now, &bad, &got, &o), -EINVAL);
	bad = ack;
	bad.ack += 4; /* the MSS index is 0 (no MSS option: 536): +4 leaves the table */
	ck_assert_int_eq(tcp_cookie_check(t, now, &bad, &got, &o), -EINVAL);
	t->secret[20] ^= 1;
	ck_assert_int_eq(tcp_cookie_check(t, now, &ack, &got, &o), -EINVAL);
	t->secret[20] ^= 1;
	/* The first half of the secret (ISNs, ports) does not key cookies. */
	t->secret[3] ^= 1;
	ck_assert_int_eq(tcp_cookie_check(t, now, &ack, &got, &o), 0);
	t->secret[3] ^= 1;
	/* A million blind guesses for one 4-tuple: each passes with probability 2·4/2^32,
	 * 0.002 expected in all; none may. */
	srand(7);
	for (unsigned i = 0; i < 1000000; i++) {
		bad = ack;
		bad.ack = (uint32_t)rand() << 16 ^ (uint32_t)rand();
		accepted += tcp_cookie_check(t, now, &bad, &got, &o) == 0;
	}
	ck_assert_uint_eq(accepted, 0);
	/* Cookies differ per 4-tuple and per SYN, at one instant. */
	{
		struct tcp_seg other = mksyn(40001, 0xdeadbeefu);

		ck_assert_uint_ne(tcp_cookie_make(t, now, &other, &mss, &tsval), cookie);
		/* Their ISN is added as is (Linux's design: it is theirs to know anyway). */
		other = mksyn(40000, 0xdeadbef0u);
		ck_assert_uint_eq(tcp_cookie_make(t, now, &other, &mss, &tsval), cookie + 1);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_syncookie");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, round_trip_mss_classes);
	tcase_add_test(tc, options_in_timestamp);
	tcase_add_test(tc, lifetime);
	tcase_add_test(tc, forgery);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
