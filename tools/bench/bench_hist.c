/* bench_hist: what "every hop measured, always on" costs (docs/ARCHITECTURE.md
 * "Observability"): a hist_add per packet per measuring point, and a clock read per batch.
 *
 * Times, over N rounds with CLOCK_MONOTONIC, in a hot cache as on the data path:
 *   - hist_add of varied values (4096 precomputed latencies over 100 ns .. 10 ms, so the
 *     bucket changes from one add to the next and the branch predictor cannot learn it);
 *   - clock_now(), the one clock read a link pays per batch on each side;
 *   - a batch's accounting as link_send does it: one clock_now and 64 subtractions + adds.
 * A packet that crosses nicd, ipd and udpd meets about ten measuring points (each layer's
 * inside_to_*, each link's transit) and pays ten hist_adds plus its share of the clock reads.
 * The hops between an application and udpd (common/region.h) cost, per datagram:
 *   - libsock's send: one clock read (the record's t_sent);
 *   - udpd's RX commit: one clock read (t_ring, the end of inside_to_app/total_to_app) and
 *     two adds; against the single read per batch it replaced, measured for a batch of 64;
 *   - libsock's receive: one clock read and one atomic add into the region's area
 *     (region_app_rx_taken);
 *   - udpd's TX turn: a subtraction and an add per record (the turn's clock read exists);
 * and udpd's look at one region's area (region_app_collect, 140 buckets) per STATS.
 * The same hops with tcpd (stream regions: stamps in the slot blocks, region.h):
 *   - libsock's stream send: one clock read per publication of the TX head (as a datagram);
 *   - libsock's stream read: a relaxed load of the slot's RX stamp and a compare per read,
 *     plus a clock read and an atomic add when the stamp is new (once per publication);
 *   - tcpd's take-up: one clock read (the turn's entry time, also the segments' t_in/t_arr),
 *     a load of the TX stamp, region_tx_transit and an add;
 *   - tcpd's placement into an RX ring: one clock read and two adds per segment with payload,
 *     as udpd's RX commit (measured above).
 *
 * Usage: ustack-bench-hist [rounds]   (default 20000000 adds)
 * Runs differ by 10-50 % on the shared machines: compare within one run.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "desc.h"
#include "hist.h"
#include "region.h"

#define BH_VALUES 4096u

static struct hist h, h2, last;
static struct region_app_stats area;
static uint64_t vals[BH_VALUES];
static volatile uint64_t sink;

int main(int argc, char **argv)
{
	unsigned long rounds = 20000000;
	if (argc > 1) {
		char *end;
		rounds = strtoul(argv[1], &end, 10);
		if (*end || rounds == 0) {
			fprintf(stderr, "usage: %s [rounds]\n", argv[0]);
			return 2;
		}
	}
	srand(1);
	for (unsigned i = 0; i < BH_VALUES; i++)
		vals[i] = 100u + ((uint64_t)rand() % 1000u) * (UINT64_C(1) << (rand() % 14));
	hist_init(&h);

	uint64_t t0 = clock_now();
	for (unsigned long i = 0; i < rounds; i++)
		hist_add(&h, vals[i & (BH_VALUES - 1)]);
	uint64_t t1 = clock_now();
	sink = hist_count(&h);
	printf("hist_add:                %6.2f ns per sample\n", (double)(t1 - t0) / (double)rounds);

	unsigned long clocks = rounds / 10;
	uint64_t acc = 0;
	t0 = clock_now();
	for (unsigned long i = 0; i < clocks; i++)
		acc += clock_now();
	t1 = clock_now();
	sink = acc;
	double per_clock = (double)(t1 - t0) / (double)clocks;
	printf("clock_now:               %6.2f ns per read (one per batch per side)\n", per_clock);

	/* A link_send's accounting of a full batch. */
	struct desc d[DESC_BATCH_MAX];
	uint64_t base = clock_now();
	for (unsigned i = 0; i < DESC_BATCH_MAX; i++)
		d[i].t_arr = base - vals[i];
	unsigned long batches = rounds / DESC_BATCH_MAX;
	t0 = clock_now();
	for (unsigned long i = 0; i < batches; i++) {
		uint64_t now = clock_now();
		for (unsigned k = 0; k < DESC_BATCH_MAX; k++)
			if (d[k].t_arr)
				hist_add(&h, now > d[k].t_arr ? now - d[k].t_arr : 0);
	}
	t1 = clock_now();
	sink = hist_count(&h);
	double per_batch = (double)(t1 - t0) / (double)batches;
	printf("batch of %u (1 clock + adds): %6.1f ns per batch, %5.2f ns per packet\n",
	       DESC_BATCH_MAX, per_batch, per_batch / DESC_BATCH_MAX);
	printf("batch of 1  (1 clock + add):  %6.1f ns per batch\n",
	       per_clock + (double)(t1 - t0 - (uint64_t)(per_clock * (double)batches)) /
				   (double)batches / DESC_BATCH_MAX);

	/* udpd's RX side, a batch of 64 datagrams: one clock read per record at its commit (now)
	 * against one after the batch (before): the price of the hops meeting at one instant. */
	t0 = clock_now();
	for (unsigned long i = 0; i < batches; i++) {
		uint64_t now = clock_now();
		for (unsigned k = 0; k < DESC_BATCH_MAX; k++) {
			hist_add(&h, now > d[k].t_arr ? now - d[k].t_arr : 0);
			hist_add(&h2, now > d[k].t_arr ? now - d[k].t_arr : 0);
		}
	}
	t1 = clock_now();
	double rx_before = (double)(t1 - t0) / (double)batches / DESC_BATCH_MAX;
	t0 = clock_now();
	for (unsigned long i = 0; i < batches; i++) {
		for (unsigned k = 0; k < DESC_BATCH_MAX; k++) {
			uint64_t now = clock_now();
			d[k].t_in = now; /* the record's t_ring */
			hist_add(&h, now > d[k].t_arr ? now - d[k].t_arr : 0);
			hist_add(&h2, now > d[k].t_arr ? now - d[k].t_arr : 0);
		}
	}
	t1 = clock_now();
	double rx_now = (double)(t1 - t0) / (double)batches / DESC_BATCH_MAX;
	sink = hist_count(&h) + hist_count(&h2);
	printf("udpd RX, per datagram in a batch of %u: %5.2f ns (clock per record), "
	       "%5.2f ns (clock per batch)\n", DESC_BATCH_MAX, rx_now, rx_before);

	/* libsock's receive: a clock read and an atomic add into the region's area. */
	struct region r = {.kind = REGION_KIND_DGRAM, .app_stats = &area};
	unsigned long takes = rounds / 10;
	t0 = clock_now();
	for (unsigned long i = 0; i < takes; i++)
		region_app_rx_taken(&r, clock_now() - vals[i & (BH_VALUES - 1)], clock_now());
	t1 = clock_now();
	double per_take = (double)(t1 - t0) / (double)takes - per_clock; /* one read is the stamp's */
	printf("libsock take (clock + atomic add): %5.2f ns per datagram\n", per_take);

	/* libsock's stream read: the same stamp (a read of a publication already counted: the
	 * common case of a stream read in pieces), then a new stamp every read. */
	static struct region_stream_ctl sctl;
	struct region rs = {.kind = REGION_KIND_STREAM, .n_slots = 1, .app_stats = &area};
	rs.stream_ctl = &sctl;
	uint64_t seen = 0;
	atomic_store(&sctl.rx_stamp, clock_now());
	t0 = clock_now();
	for (unsigned long i = 0; i < takes; i++)
		region_app_stream_read(&rs, 0, &seen, clock_now);
	t1 = clock_now();
	printf("libsock stream read, stamp seen:   %5.2f ns per read\n",
	       (double)(t1 - t0) / (double)takes);
	t0 = clock_now();
	for (unsigned long i = 0; i < takes; i++) {
		atomic_store_explicit(&sctl.rx_stamp, i + 1, memory_order_relaxed);
		region_app_stream_read(&rs, 0, &seen, clock_now);
	}
	t1 = clock_now();
	printf("libsock stream read, new stamp:    %5.2f ns per read (clock + atomic add)\n",
	       (double)(t1 - t0) / (double)takes);

	/* tcpd's take-up of an application's bytes (tcpd_tx_taken). */
	t0 = clock_now();
	for (unsigned long i = 0; i < takes; i++) {
		uint64_t now = clock_now(), ns;
		uint64_t st = now - vals[i & (BH_VALUES - 1)];
		atomic_store_explicit(&sctl.tx_stamp, st, memory_order_relaxed);
		st = atomic_load_explicit(&sctl.tx_stamp, memory_order_relaxed);
		if (region_tx_transit(st, now, &ns) == 0)
			hist_add(&h, ns);
	}
	t1 = clock_now();
	printf("tcpd take-up (clock + stamp check + add): %5.2f ns per take-up\n",
	       (double)(t1 - t0) / (double)takes);

	/* udpd's look at one application's area (at each STATS, per session). */
	uint64_t credit = UINT64_MAX;
	struct region_app_refused no = {0};
	unsigned long looks = rounds / 1000;
	t0 = clock_now();
	for (unsigned long i = 0; i < looks; i++) {
		area.rx_transit[i % HIST_BUCKETS]++;
		region_app_collect(&area, &last, &h2, &credit, &no);
	}
	t1 = clock_now();
	printf("udpd collect of one region's area: %6.1f ns per look\n",
	       (double)(t1 - t0) / (double)looks);
	return 0;
}
