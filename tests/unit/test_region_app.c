/* test_region_app: the latency of the hops between an application and udpd or tcpd (region.h,
 * "Latency of the two hops"): the server's check of a TX stamp, the client's count of an RX
 * record taken or of a stream read (once per RX stamp), and what the server believes of the statistics area a client writes, honest
 * or hostile.
 *
 * The hostile cases are the point: the area is the client's memory, so whatever it holds,
 * the server's histogram must only grow, never by more samples than records it delivered, and
 * every refused sample must be counted.
 */
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helper_check.h"
#include "region.h"

/* Views are big: static, not on Check's stack. Tests run forked. */
static struct region srv, cli;
static struct region_app_stats area; /* a stand-alone area for the pure functions */
static struct hist last, acc, before;

static void area_set(unsigned bucket, uint64_t v)
{
	atomic_store_explicit(&area.rx_transit[bucket], v, memory_order_relaxed);
}

START_TEST(tx_transit_refuses_bad_stamps)
{
	uint64_t ns = 12345;
	const uint64_t now = 100 * UINT64_C(1000000000);
	ck_assert_int_eq(region_tx_transit(now - 7000, now, &ns), 0);
	ck_assert_uint_eq(ns, 7000);
	ck_assert_int_eq(region_tx_transit(now, now, &ns), 0); /* taken the moment it came */
	ck_assert_uint_eq(ns, 0);
	ck_assert_int_eq(region_tx_transit(now - (REGION_TRANSIT_MAX - 1), now, &ns), 0);
	ck_assert_uint_eq(ns, REGION_TRANSIT_MAX - 1);
	/* refused, and *ns untouched */
	ns = 42;
	ck_assert_int_eq(region_tx_transit(0, now, &ns), -ERANGE);           /* not stamped */
	ck_assert_int_eq(region_tx_transit(now + 1, now, &ns), -ERANGE);     /* the future */
	ck_assert_int_eq(region_tx_transit(UINT64_MAX, now, &ns), -ERANGE);
	ck_assert_int_eq(region_tx_transit(now - REGION_TRANSIT_MAX, now, &ns), -ERANGE);
	ck_assert_int_eq(region_tx_transit(1, now, &ns), -ERANGE);           /* boot time */
	ck_assert_int_eq(region_tx_transit(1, UINT64_MAX, &ns), -ERANGE);
	ck_assert_uint_eq(ns, 42);
}
END_TEST

/* Both views of one real region: the client counts, the server sees the same buckets. */
START_TEST(client_counts_what_it_takes)
{
	int fd;
	void *base;
	size_t size;
	ck_assert_int_eq(region_create_memfd(2, 4096, 4096, &fd, &base, &size), 0);
	ck_assert_int_eq(region_attach(fd, &srv), 0);
	ck_assert_int_eq(region_open_client(&base, size, &cli), 0);
	ck_assert_ptr_nonnull(cli.app_stats);
	ck_assert_uint_eq((uintptr_t)cli.app_stats % RING_CACHELINE, 0);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		ck_assert_uint_eq(atomic_load(&srv.app_stats->rx_transit[i]), 0);
	/* after the slot blocks, before the data */
	ck_assert((uintptr_t)cli.app_stats >= (uintptr_t)region_slot(&cli, 1) + RING_CACHELINE);
	ck_assert((uintptr_t)cli.app_stats + sizeof(struct region_app_stats) <=
		  (uintptr_t)cli.tx.data);

	region_app_rx_taken(&cli, 1000, 1000 + 15000);   /* 15 us */
	region_app_rx_taken(&cli, 1000, 1000 + 15000);
	region_app_rx_taken(&cli, 5, 5);                  /* 0 ns: bucket 0 */
	region_app_rx_taken(&cli, 0, 99999);              /* not stamped: not counted */
	region_app_rx_taken(&cli, 99999, 1000);           /* stamped later than taken: not */
	ck_assert_uint_eq(atomic_load(&srv.app_stats->rx_transit[hist_bucket(15000)]), 2);
	ck_assert_uint_eq(atomic_load(&srv.app_stats->rx_transit[0]), 1);
	uint64_t sum = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		sum += atomic_load(&srv.app_stats->rx_transit[i]);
	ck_assert_uint_eq(sum, 3);

	/* The server's side: baseline taken at attach, then three delivered, three taken. */
	hist_init(&last);
	hist_init(&acc);
	region_app_baseline(srv.app_stats, &last);
	ck_assert_uint_eq(hist_count(&last), 3);
	region_app_rx_taken(&cli, 100, 100 + 2000000);    /* 2 ms */
	uint64_t credit = 3;
	struct region_app_refused no = {0};
	region_app_collect(srv.app_stats, &last, &acc, &credit, &no);
	ck_assert_uint_eq(hist_count(&acc), 1); /* only what came after the baseline */
	ck_assert_uint_eq(acc.b[hist_bucket(2000000)], 1);
	ck_assert_uint_eq(credit, 2);
	ck_assert_uint_eq(no.over_credit + no.went_down, 0);

	region_detach(&srv);
	region_detach(&cli);
	close(fd);
}
END_TEST

/* A fake clock for region_app_stream_read: returns fake_now, counts its reads. */
static uint64_t fake_now;
static unsigned fake_reads;
static uint64_t fake_clock(void)
{
	fake_reads++;
	return fake_now;
}

static uint64_t bucket_count(const struct region *r, uint64_t v)
{
	return atomic_load(&r->app_stats->rx_transit[hist_bucket(v)]);
}

static uint64_t area_total(const struct region *r)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		sum += atomic_load(&r->app_stats->rx_transit[i]);
	return sum;
}

/* REGION_VERSION 6: a stream region has the statistics area too, and a read counts one sample
 * per RX stamp (the first read after each publication), reading the clock only then. */
START_TEST(stream_read_counts_once_per_stamp)
{
	int fd;
	void *base;
	size_t size;
	ck_assert_int_eq(region_create_memfd_kind(REGION_KIND_STREAM, 2, 4096, 4096, &fd, &base,
						  &size), 0);
	ck_assert_int_eq(region_open_client(&base, size, &cli), 0);
	ck_assert_int_eq(region_attach_kind(fd, REGION_KIND_STREAM, &srv), 0);
	ck_assert_ptr_nonnull(cli.app_stats);
	ck_assert_uint_eq((uintptr_t)cli.app_stats % RING_CACHELINE, 0);
	ck_assert_uint_eq(area_total(&srv), 0);
	struct region_stream_ctl *c = region_stream_slot(&srv, 1);
	uint64_t seen = 0;
	fake_reads = 0;
	/* nothing stamped yet: no sample, no clock read */
	fake_now = 5000;
	region_app_stream_read(&cli, 1, &seen, fake_clock);
	ck_assert_uint_eq(fake_reads, 0);
	ck_assert_uint_eq(area_total(&cli), 0);
	/* one publication read in three pieces: one sample of 5000 - 1000 */
	atomic_store(&c->rx_stamp, 1000);
	for (int i = 0; i < 3; i++)
		region_app_stream_read(&cli, 1, &seen, fake_clock);
	ck_assert_uint_eq(seen, 1000);
	ck_assert_uint_eq(fake_reads, 1);
	ck_assert_uint_eq(bucket_count(&srv, 4000), 1);
	ck_assert_uint_eq(area_total(&srv), 1);
	/* the next publication: one more */
	atomic_store(&c->rx_stamp, 4000);
	fake_now = 19000;
	region_app_stream_read(&cli, 1, &seen, fake_clock);
	ck_assert_uint_eq(bucket_count(&srv, 15000), 1);
	ck_assert_uint_eq(area_total(&srv), 2);
	/* a stamp later than the read (the server's bytes; never honest): not counted */
	atomic_store(&c->rx_stamp, 20000);
	region_app_stream_read(&cli, 1, &seen, fake_clock);
	ck_assert_uint_eq(area_total(&srv), 2);
	/* the other slot's stamp is its own; a slot outside the region is ignored */
	uint64_t seen0 = 0;
	region_app_stream_read(&cli, 0, &seen0, fake_clock);
	region_app_stream_read(&cli, 2, &seen0, fake_clock);
	region_app_stream_read(&cli, UINT32_MAX, &seen0, fake_clock);
	ck_assert_uint_eq(seen0, 0);
	ck_assert_uint_eq(area_total(&srv), 2);
	/* a datagram region's reads are records: the stream call does nothing there */
	region_detach(&srv);
	region_detach(&cli);
	close(fd);
	ck_assert_int_eq(region_create_memfd(2, 4096, 4096, &fd, &base, &size), 0);
	ck_assert_int_eq(region_open_client(&base, size, &cli), 0);
	fake_reads = 0;
	region_app_stream_read(&cli, 0, &seen0, fake_clock);
	ck_assert_uint_eq(fake_reads, 0);
	ck_assert_uint_eq(area_total(&cli), 0);
	region_detach(&cli);
	close(fd);
}
END_TEST

/* The wrapper udpd and tcpd call: what collect refused lands in their named counters, which
 * saturate (the client chooses how much it claims). */
START_TEST(collect_count_adds_to_counters)
{
	memset(&area, 0, sizeof(area));
	hist_init(&last);
	hist_init(&acc);
	uint64_t credit = 2, over = 5, down = UINT64_MAX;
	area_set(3, 10);
	region_app_collect_count(&area, &last, &acc, &credit, &over, &down);
	ck_assert_uint_eq(hist_count(&acc), 2);
	ck_assert_uint_eq(credit, 0);
	ck_assert_uint_eq(over, 5 + 8);
	area_set(3, 1); /* went down: counted, and the counter already at its top stays there */
	region_app_collect_count(&area, &last, &acc, &credit, &over, &down);
	ck_assert_uint_eq(down, UINT64_MAX);
	area_set(3, UINT64_MAX);
	over = UINT64_MAX - 1;
	region_app_collect_count(&area, &last, &acc, &credit, &over, &down);
	ck_assert_uint_eq(over, UINT64_MAX);
	ck_assert_uint_eq(hist_count(&acc), 2);
	uint64_t d2 = 0;
	area_set(3, 0);
	region_app_collect_count(&area, &last, &acc, &credit, &over, &d2);
	ck_assert_uint_eq(d2, 1);
}
END_TEST

START_TEST(collect_honest)
{
	memset(&area, 0, sizeof(area));
	hist_init(&last);
	hist_init(&acc);
	uint64_t credit = 0;
	struct region_app_refused no = {0};
	region_app_collect(&area, &last, &acc, &credit, &no); /* nothing yet */
	ck_assert_uint_eq(hist_count(&acc), 0);
	/* 10 delivered, 7 taken (3 still in the rings) */
	credit += 10;
	area_set(hist_bucket(20000), 5);
	area_set(hist_bucket(900), 2);
	region_app_collect(&area, &last, &acc, &credit, &no);
	ck_assert_uint_eq(hist_count(&acc), 7);
	ck_assert_uint_eq(acc.b[hist_bucket(20000)], 5);
	ck_assert_uint_eq(acc.b[hist_bucket(900)], 2);
	ck_assert_uint_eq(credit, 3);
	/* looked at again with no change: nothing added */
	region_app_collect(&area, &last, &acc, &credit, &no);
	ck_assert_uint_eq(hist_count(&acc), 7);
	/* the last 3 taken */
	area_set(hist_bucket(20000), 8);
	region_app_collect(&area, &last, &acc, &credit, &no);
	ck_assert_uint_eq(hist_count(&acc), 10);
	ck_assert_uint_eq(credit, 0);
	ck_assert_uint_eq(no.over_credit, 0);
	ck_assert_uint_eq(no.went_down, 0);
}
END_TEST

/* More samples than records delivered: believed up to the credit, in bucket order; the rest
 * counted, and not looked at again. */
START_TEST(collect_clamps_to_credit)
{
	memset(&area, 0, sizeof(area));
	hist_init(&last);
	hist_init(&acc);
	uint64_t credit = 4;
	struct region_app_refused no = {0};
	area_set(10, 3);
	area_set(20, UINT64_MAX); /* absurd */
	area_set(HIST_BUCKETS - 1, 1000);
	region_app_collect(&area, &last, &acc, &credit, &no);
	ck_assert_uint_eq(hist_count(&acc), 4);
	ck_assert_uint_eq(acc.b[10], 3);
	ck_assert_uint_eq(acc.b[20], 1);
	ck_assert_uint_eq(acc.b[HIST_BUCKETS - 1], 0);
	ck_assert_uint_eq(credit, 0);
	ck_assert_uint_eq(no.over_credit, UINT64_MAX); /* saturated, not wrapped */
	/* refused samples are gone for good: more credit later does not bring them back */
	credit = 100;
	memset(&no, 0, sizeof(no));
	region_app_collect(&area, &last, &acc, &credit, &no);
	ck_assert_uint_eq(hist_count(&acc), 4);
	ck_assert_uint_eq(credit, 100);
	ck_assert_uint_eq(no.over_credit, 0);
	/* below saturation it is the exact number refused */
	area_set(30, 10);
	credit = 4;
	region_app_collect(&area, &last, &acc, &credit, &no);
	ck_assert_uint_eq(no.over_credit, 6);
	ck_assert_uint_eq(acc.b[30], 4);
}
END_TEST

/* A bucket that goes down adds nothing and is counted; growth from its new value is believed
 * (within the credit), so a client cannot make the server count a wrap-around. */
START_TEST(collect_refuses_going_down)
{
	memset(&area, 0, sizeof(area));
	hist_init(&last);
	hist_init(&acc);
	uint64_t credit = 50;
	struct region_app_refused no = {0};
	area_set(7, 20);
	region_app_collect(&area, &last, &acc, &credit, &no);
	ck_assert_uint_eq(acc.b[7], 20);
	area_set(7, 2); /* went down by 18 */
	region_app_collect(&area, &last, &acc, &credit, &no);
	ck_assert_uint_eq(acc.b[7], 20);
	ck_assert_uint_eq(no.went_down, 1);
	ck_assert_uint_eq(credit, 30);
	area_set(7, 5); /* up by 3 from where it went */
	region_app_collect(&area, &last, &acc, &credit, &no);
	ck_assert_uint_eq(acc.b[7], 23);
	ck_assert_uint_eq(credit, 27);
	ck_assert_uint_eq(no.went_down, 1);
	ck_assert_uint_eq(no.over_credit, 0);
}
END_TEST

/* A client scribbling at random between looks: the server's histogram only grows, by no more
 * than the records it delivered, and every sample it was shown is either believed or counted
 * as refused. */
START_TEST(collect_hostile_scribbles)
{
	memset(&area, 0, sizeof(area));
	hist_init(&last);
	hist_init(&acc);
	uint64_t credit = 0, delivered = 0;
	struct region_app_refused no = {0};
	unsigned seed = 20260101u;
	for (unsigned round = 0; round < 2000; round++) {
		uint64_t d = (uint64_t)(rand_r(&seed) % 64);
		credit += d;
		delivered += d;
		unsigned writes = (unsigned)rand_r(&seed) % 8;
		for (unsigned w = 0; w < writes; w++) {
			unsigned b = (unsigned)rand_r(&seed) % HIST_BUCKETS;
			uint64_t v;
			switch (rand_r(&seed) % 4) {
			case 0: v = 0; break;
			case 1: v = UINT64_MAX - (uint64_t)(rand_r(&seed) % 3); break;
			case 2: v = atomic_load(&area.rx_transit[b]) + (uint64_t)(rand_r(&seed) % 50); break;
			default: v = (uint64_t)rand_r(&seed); break;
			}
			area_set(b, v);
		}
		before = acc;
		region_app_collect(&area, &last, &acc, &credit, &no);
		for (unsigned i = 0; i < HIST_BUCKETS; i++) {
			ck_assert_uint_ge(acc.b[i], before.b[i]);
			ck_assert_uint_eq(last.b[i], atomic_load(&area.rx_transit[i]));
		}
		ck_assert_uint_eq(hist_count(&acc) + credit, delivered);
		ck_assert_int_eq(hist_sub(&before, &acc, &before), 0); /* readers' deltas stay exact */
	}
	ck_assert_uint_gt(no.went_down, 0);
	ck_assert_uint_gt(no.over_credit, 0);
}
END_TEST

static Suite *region_app_suite(void)
{
	Suite *s = suite_create("region_app");
	TCase *tc = tcase_create("region_app");
	tcase_set_timeout(tc, 60); /* a hang guard: seconds under ASan, loaded */
	tcase_add_test(tc, tx_transit_refuses_bad_stamps);
	tcase_add_test(tc, client_counts_what_it_takes);
	tcase_add_test(tc, stream_read_counts_once_per_stamp);
	tcase_add_test(tc, collect_count_adds_to_counters);
	tcase_add_test(tc, collect_honest);
	tcase_add_test(tc, collect_clamps_to_credit);
	tcase_add_test(tc, collect_refuses_going_down);
	tcase_add_test(tc, collect_hostile_scribbles);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(region_app_suite());
}
