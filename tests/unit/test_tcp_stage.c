/* test_tcp_stage: the stage of early data (servers/tcp/tcpd_stage.c): runs of pages made and
 * freed first fit, the area full, and what a restarted tcpd takes back from the area a killed
 * one left: whole runs of the connections recovery still has, with their bytes; never a run cut
 * short by the kill (made or freed half-way), one too small for the data the connection counts,
 * one that is not there, or one that overlaps another; and the sweep frees the rest. Freed
 * pages above the kept ones are given back to the system, at a free and at a restart. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "tcpd_stage.h"

static struct tcpd_stage_area *area;
static struct tcpd_stages *st;

static void setup(void)
{
	area = calloc(1, sizeof(*area)); /* 64 MiB, untouched until used */
	st = calloc(1, sizeof(*st));
	ck_assert_ptr_nonnull(area);
	ck_assert_ptr_nonnull(st);
	tcpd_stage_init(st, area, NULL, NULL);
}

static void teardown(void)
{
	free(st);
	free(area);
}

static unsigned owned_pages(void)
{
	unsigned n = 0;
	for (unsigned p = 0; p < TCPD_STAGE_PAGES; p++)
		n += area->owner[p] != 0;
	return n;
}

START_TEST(get_data_release)
{
	ck_assert_int_eq(tcpd_stage_get(st, 5, 0x10005, 100000), 0);
	uint32_t cap = 0;
	uint8_t *d = tcpd_stage_data(st, 5, 0x10005, &cap);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_ge(cap, 100000);
	ck_assert_uint_eq(st->staged, 7u * TCPD_STAGE_PAGE); /* 100,000 bytes: 7 pages */
	ck_assert_uint_eq(owned_pages(), 7);
	ck_assert_ptr_null(tcpd_stage_data(st, 5, 0x20005, NULL)); /* another occupant's cid */
	/* asked again, no larger: the same run */
	ck_assert_int_eq(tcpd_stage_get(st, 5, 0x10005, 1000), 0);
	ck_assert_ptr_eq(tcpd_stage_data(st, 5, 0x10005, NULL), d);
	/* the slot's next occupant gets its own run; the old one is freed */
	ck_assert_int_eq(tcpd_stage_get(st, 5, 0x20005, 1000), 0);
	ck_assert_uint_eq(owned_pages(), 1);
	tcpd_stage_release(st, 5);
	ck_assert_uint_eq(st->staged, 0);
	ck_assert_uint_eq(owned_pages(), 0);
	for (unsigned p = 0; p < TCPD_STAGE_PAGES; p++)
		ck_assert_uint_eq(area->run[p], 0);
	ck_assert_int_eq(tcpd_stage_get(st, 6, 0, 1000), -EINVAL);
	ck_assert_int_eq(tcpd_stage_get(st, 6, 0x10006, 0), -EINVAL);
	ck_assert_int_eq(tcpd_stage_get(st, 6, 0x10006, TCPD_STAGE_ALL + 1u), -EINVAL);
}
END_TEST

START_TEST(full_then_first_fit)
{
	const uint32_t mib = 1u << 20;
	unsigned n = TCPD_STAGE_ALL / mib;
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(tcpd_stage_get(st, i, 0x10000u + i, mib), 0);
	ck_assert_uint_eq(st->staged, TCPD_STAGE_ALL);
	ck_assert_int_eq(tcpd_stage_get(st, n, 0x10000u + n, 1), -ENOBUFS);
	tcpd_stage_release(st, 10);
	ck_assert_int_eq(tcpd_stage_get(st, n, 0x10000u + n, 2 * mib), -ENOBUFS);
	ck_assert_int_eq(tcpd_stage_get(st, n, 0x10000u + n, mib), 0);
	ck_assert_ptr_eq(tcpd_stage_data(st, n, 0x10000u + n, NULL),
			 area->data[10 * (mib / TCPD_STAGE_PAGE)]);
}
END_TEST

START_TEST(restart_takes_back_whole_runs)
{
	/* The dead tcpd's area: A, B and C whole, D made half-way (no length yet), E freed
	 * half-way (length cleared, owners not yet). */
	ck_assert_int_eq(tcpd_stage_get(st, 1, 0xA0001, 40000), 0); /* 3 pages */
	ck_assert_int_eq(tcpd_stage_get(st, 2, 0xB0002, 16000), 0); /* 1 page */
	ck_assert_int_eq(tcpd_stage_get(st, 3, 0xC0003, 16000), 0);
	ck_assert_int_eq(tcpd_stage_get(st, 4, 0xD0004, 16000), 0);
	ck_assert_int_eq(tcpd_stage_get(st, 5, 0xE0005, 16000), 0);
	uint8_t *a = tcpd_stage_data(st, 1, 0xA0001, NULL);
	for (unsigned i = 0; i < 40000; i++)
		a[i] = (uint8_t)(i * 7 + 3);
	area->run[st->s[4].first] = 0;
	area->run[st->s[5].first] = 0;

	/* The restarted tcpd. */
	tcpd_stage_init(st, area, NULL, NULL);
	ck_assert(tcpd_stage_claim(st, 1, 0xA0001, 40000));
	ck_assert(!tcpd_stage_claim(st, 1, 0xA0001, 40000)); /* once */
	ck_assert(!tcpd_stage_claim(st, 2, 0xB0002, 2 * TCPD_STAGE_PAGE)); /* too small for it */
	ck_assert(!tcpd_stage_claim(st, 4, 0xD0004, 1));
	ck_assert(!tcpd_stage_claim(st, 5, 0xE0005, 1));
	ck_assert(!tcpd_stage_claim(st, 6, 0xF0006, 1)); /* never had one */
	ck_assert(!tcpd_stage_claim(st, 7, 0xA0001, 1)); /* A's run is slot 1's, taken */
	tcpd_stage_sweep(st); /* C was not claimed: recovery reset it */
	ck_assert_uint_eq(owned_pages(), 3);
	ck_assert_uint_eq(st->staged, 3u * TCPD_STAGE_PAGE);
	a = tcpd_stage_data(st, 1, 0xA0001, NULL);
	ck_assert_ptr_nonnull(a);
	for (unsigned i = 0; i < 40000; i++)
		ck_assert_uint_eq(a[i], (uint8_t)(i * 7 + 3));
	/* what the sweep freed is free again */
	ck_assert_int_eq(tcpd_stage_get(st, 8, 0x80008, 4u * TCPD_STAGE_PAGE), 0);
}
END_TEST

START_TEST(damaged_area_is_not_believed)
{
	/* A length past the area's end, a run whose pages name another cid, two runs that
	 * overlap: none is taken, and the sweep leaves nothing owned. */
	area->owner[TCPD_STAGE_PAGES - 1] = 0x11111;
	area->run[TCPD_STAGE_PAGES - 1] = 2;
	area->owner[0] = area->owner[1] = 0x22222;
	area->owner[2] = 0x33333;
	area->run[0] = 3;
	area->owner[10] = area->owner[11] = area->owner[12] = 0x44444;
	area->run[10] = 3;
	area->run[11] = 2;
	tcpd_stage_init(st, area, NULL, NULL);
	ck_assert(!tcpd_stage_claim(st, 1, 0x11111, 1));
	ck_assert(!tcpd_stage_claim(st, 2, 0x22222, 1));
	ck_assert(tcpd_stage_claim(st, 3, 0x44444, 1));
	ck_assert(!tcpd_stage_claim(st, 4, 0x44444, 1)); /* the first head of the cid decides */
	tcpd_stage_sweep(st);
	ck_assert_uint_eq(owned_pages(), 3);
	ck_assert_uint_eq(area->run[11], 0);
	ck_assert_uint_eq(area->run[0], 0);
	ck_assert_uint_eq(area->run[TCPD_STAGE_PAGES - 1], 0);
}
END_TEST

/* What the discard hook was given: page ranges of the area, by index. */
static struct {
	unsigned n;
	uint32_t first[8], pages[8];
} given;

static void record_discard(void *arg, void *p, size_t len)
{
	ck_assert_ptr_eq(arg, &given);
	size_t off = (size_t)((uint8_t *)p - &area->data[0][0]);
	ck_assert_uint_eq(off % TCPD_STAGE_PAGE, 0);
	ck_assert_uint_eq(len % TCPD_STAGE_PAGE, 0);
	ck_assert_uint_lt(given.n, 8);
	given.first[given.n] = (uint32_t)(off / TCPD_STAGE_PAGE);
	given.pages[given.n++] = (uint32_t)(len / TCPD_STAGE_PAGE);
}

/* A freed run's pages above the kept ones go back to the system, never those below (an
 * ordinary load stays there and makes no system call); a restart gives back every free page
 * above them, and never one of a run it took back. */
START_TEST(freed_pages_given_back)
{
	const uint32_t keep = TCPD_STAGE_KEEP_PAGES;

	memset(&given, 0, sizeof(given));
	tcpd_stage_init(st, area, record_discard, &given);
	ck_assert_int_eq(tcpd_stage_get(st, 1, 0xA0001, (keep - 2) * TCPD_STAGE_PAGE), 0);
	ck_assert_int_eq(tcpd_stage_get(st, 2, 0xB0002, 5 * TCPD_STAGE_PAGE), 0);
	ck_assert_uint_eq(st->s[2].first, keep - 2); /* straddles the kept pages' end */
	ck_assert_int_eq(tcpd_stage_get(st, 3, 0xC0003, 3 * TCPD_STAGE_PAGE), 0);
	ck_assert_uint_eq(given.n, 0);
	tcpd_stage_release(st, 2);
	ck_assert_uint_eq(given.n, 1);
	ck_assert_uint_eq(given.first[0], keep);
	ck_assert_uint_eq(given.pages[0], 3);
	tcpd_stage_release(st, 1); /* all below: kept */
	ck_assert_uint_eq(given.n, 1);
	ck_assert_uint_eq(st->returned, 3u * TCPD_STAGE_PAGE);

	/* C's run (keep + 3 ..) outlives a kill; the restart takes it back and sweeps */
	uint32_t c_first = st->s[3].first;
	ck_assert_uint_eq(c_first, keep + 3);
	memset(&given, 0, sizeof(given));
	tcpd_stage_init(st, area, record_discard, &given);
	ck_assert(tcpd_stage_claim(st, 3, 0xC0003, 1));
	tcpd_stage_sweep(st);
	ck_assert_uint_eq(given.n, 2);
	ck_assert_uint_eq(given.first[0], keep);
	ck_assert_uint_eq(given.pages[0], 3);
	ck_assert_uint_eq(given.first[1], c_first + 3);
	ck_assert_uint_eq(given.pages[1], TCPD_STAGE_PAGES - (c_first + 3));
	ck_assert_uint_eq(st->returned, 0); /* the sweep's are not counted */
	ck_assert_ptr_nonnull(tcpd_stage_data(st, 3, 0xC0003, NULL));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_stage");
	TCase *tc = tcase_create("stage");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, get_data_release);
	tcase_add_test(tc, full_then_first_fit);
	tcase_add_test(tc, restart_takes_back_whole_runs);
	tcase_add_test(tc, damaged_area_is_not_believed);
	tcase_add_test(tc, freed_pages_given_back);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
