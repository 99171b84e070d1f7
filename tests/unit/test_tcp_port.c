/* test_tcp_port: ephemeral port choice (servers/tcp/tcp_port.c, RFC 6056 §3.3.4) — ports stay
 * in the range, one destination gets successive ports, many destinations spread evenly over
 * the range, the search offers every port exactly once before reporting exhaustion, a busy
 * port is skipped, degenerate ranges, and keys and addresses that change the choice. */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "tcp_priv.h"

static struct tcp_table *t;

/* What the fake predicate saw and answers. */
static uint32_t offered[65536];
static unsigned n_offered;
static uint16_t only_free; /* host order, 0 = every port free */
static bool none_free;

static bool fake_free(const struct tcp_table *tt, uint32_t laddr, uint16_t lport,
		      uint32_t raddr, uint16_t rport)
{
	uint16_t p = ntohs(lport);

	ck_assert_ptr_eq(tt, t);
	offered[p]++;
	n_offered++;
	if (none_free)
		return false;
	return only_free == 0 || p == only_free;
}

static void setup(void)
{
	t = calloc(1, sizeof(*t));
	ck_assert_ptr_nonnull(t);
	for (unsigned i = 0; i < sizeof(t->secret); i++)
		t->secret[i] = (uint8_t)(i * 13 + 1);
	t->port_lo = TCP_PORT_EPH_LO;
	t->port_hi = TCP_PORT_EPH_HI;
	memset(offered, 0, sizeof(offered));
	n_offered = 0;
	only_free = 0;
	none_free = false;
}

static void teardown(void)
{
	free(t);
	t = NULL;
}

#define LA htonl(0xc000020a)
#define RA htonl(0xc6336407) /* 198.51.100.7 */
#define RP htons(443)

START_TEST(successive_ports_for_one_destination)
{
	uint16_t first = ntohs(tcp_port_pick(t, LA, RA, RP, fake_free)), prev = first;

	ck_assert_uint_ge(first, TCP_PORT_EPH_LO);
	ck_assert_uint_le(first, TCP_PORT_EPH_HI);
	/* Algorithm 4: the counter advances by one per pick (two in 1/16 of the cases), so the
	 * next ports follow at +1 or +2, wrapping inside the range. */
	for (int k = 0; k < 200; k++) {
		uint16_t p = ntohs(tcp_port_pick(t, LA, RA, RP, fake_free));
		unsigned step = p >= prev ? (unsigned)(p - prev)
					  : p + (TCP_PORT_EPH_HI - TCP_PORT_EPH_LO + 1) - prev;

		ck_assert_uint_ge(p, TCP_PORT_EPH_LO);
		ck_assert_uint_le(p, TCP_PORT_EPH_HI);
		ck_assert_msg(step == 1 || step == 2, "step %u from %u to %u", step, prev, p);
		prev = p;
	}
	/* Each pick offered exactly one port (all were free). */
	ck_assert_uint_eq(n_offered, 201);
}
END_TEST

START_TEST(destinations_spread_over_range)
{
	/* 16000 destinations (address x port), 16 equal slices of the range: a uniform choice
	 * puts 1000 ± 31 (one sigma) in each; allow ± 20% (6 sigma). */
	unsigned bins[16] = {0};
	const unsigned n = TCP_PORT_EPH_HI - TCP_PORT_EPH_LO + 1;

	for (unsigned d = 0; d < 16000; d++) {
		uint16_t p = ntohs(tcp_port_pick(t, LA, htonl(0x0a000000u + d / 40),
						 htons((uint16_t)(1000 + d % 40)), fake_free));

		bins[(unsigned)(p - TCP_PORT_EPH_LO) * 16 / n]++;
	}
	for (unsigned b = 0; b < 16; b++)
		ck_assert_msg(bins[b] > 800 && bins[b] < 1200, "slice %u has %u", b, bins[b]);
}
END_TEST

START_TEST(exhaustion_offers_every_port_once)
{
	none_free = true;
	ck_assert_uint_eq(tcp_port_pick(t, LA, RA, RP, fake_free), 0);
	ck_assert_uint_eq(n_offered, TCP_PORT_EPH_HI - TCP_PORT_EPH_LO + 1);
	for (unsigned p = 0; p < 65536; p++)
		ck_assert_uint_eq(offered[p], p >= TCP_PORT_EPH_LO && p <= TCP_PORT_EPH_HI);
	/* Nothing was taken: no counter moved. */
	for (unsigned i = 0; i < TCP_PORT_PERTURB_SIZE; i++)
		ck_assert_uint_eq(t->port_table_perturb[i], 0);
	memset(offered, 0, sizeof(offered));
	n_offered = 0;
	none_free = false;
	only_free = 50000;
	ck_assert_uint_eq(ntohs(tcp_port_pick(t, LA, RA, RP, fake_free)), 50000);
}
END_TEST

START_TEST(busy_ports_skipped_in_a_small_range)
{
	uint16_t got;

	/* Range of 10, only 1007 free: found whatever the starting point. */
	t->port_lo = 1000;
	t->port_hi = 1009;
	only_free = 1007;
	for (int k = 0; k < 30; k++) {
		n_offered = 0;
		got = ntohs(tcp_port_pick(t, htonl(0x01020304u + (uint32_t)k), RA, RP, fake_free));
		ck_assert_uint_eq(got, 1007);
		ck_assert_uint_le(n_offered, 10);
	}
	/* A range of one port. */
	t->port_lo = t->port_hi = 5555;
	only_free = 0;
	ck_assert_uint_eq(ntohs(tcp_port_pick(t, LA, RA, RP, fake_free)), 5555);
	/* A reversed range has no port; a low end of 0 starts at 1 (port 0 is no port). */
	t->port_lo = 2000;
	t->port_hi = 1999;
	ck_assert_uint_eq(tcp_port_pick(t, LA, RA, RP, fake_free), 0);
	t->port_lo = 0;
	t->port_hi = 1;
	memset(offered, 0, sizeof(offered));
	none_free = true;
	ck_assert_uint_eq(tcp_port_pick(t, LA, RA, RP, fake_free), 0);
	ck_assert_uint_eq(offered[0], 0);
	ck_assert_uint_eq(offered[1], 1);
	/* The whole port space: still every port once. */
	t->port_lo = 1;
	t->port_hi = 65535;
	n_offered = 0;
	ck_assert_uint_eq(tcp_port_pick(t, LA, RA, RP, fake_free), 0);
	ck_assert_uint_eq(n_offered, 65535);
}
END_TEST

START_TEST(choice_depends_on_key_and_destination)
{
	uint16_t base = tcp_port_pick(t, LA, RA, RP, fake_free);
	unsigned differ = 0;

	/* Fresh table each time, so the counters are equal: only the inputs differ. Each
	 * change of input moves the starting point (a 1-in-28232 coincidence is possible in
	 * principle; with this key none happens). */
	struct {
		uint32_t la, ra;
		uint16_t rp;
	} in[] = {{LA ^ htonl(1), RA, RP}, {LA, RA ^ htonl(1), RP}, {LA, RA, htons(444)}};

	for (unsigned i = 0; i < 3; i++) {
		memset(t->port_table_perturb, 0, sizeof(t->port_table_perturb));
		if (tcp_port_pick(t, in[i].la, in[i].ra, in[i].rp, fake_free) != base)
			differ++;
	}
	ck_assert_uint_eq(differ, 3);
	memset(t->port_table_perturb, 0, sizeof(t->port_table_perturb));
	ck_assert_uint_eq(tcp_port_pick(t, LA, RA, RP, fake_free), base);
	memset(t->port_table_perturb, 0, sizeof(t->port_table_perturb));
	t->secret[9] ^= 4;
	ck_assert_uint_ne(tcp_port_pick(t, LA, RA, RP, fake_free), base);
}
END_TEST

START_TEST(other_destinations_do_not_reveal_counter)
{
	/* Connections to many other destinations (other counters, almost surely) leave the
	 * sequence seen by RA:RP where it was: its next port is still +1 or +2. */
	uint16_t a = ntohs(tcp_port_pick(t, LA, RA, RP, fake_free)), b;
	unsigned moved = 0;

	for (unsigned d = 0; d < 100; d++)
		tcp_port_pick(t, LA, htonl(0x0b000000u + d), RP, fake_free);
	b = ntohs(tcp_port_pick(t, LA, RA, RP, fake_free));
	moved = b >= a ? (unsigned)(b - a) : b + (TCP_PORT_EPH_HI - TCP_PORT_EPH_LO + 1) - a;
	ck_assert_uint_le(moved, 2);
	ck_assert_uint_ge(moved, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_port");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60); /* a hang guard: seconds under ASan, loaded */

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, successive_ports_for_one_destination);
	tcase_add_test(tc, destinations_spread_over_range);
	tcase_add_test(tc, exhaustion_offers_every_port_once);
	tcase_add_test(tc, busy_ports_skipped_in_a_small_range);
	tcase_add_test(tc, choice_depends_on_key_and_destination);
	tcase_add_test(tc, other_destinations_do_not_reveal_counter);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
