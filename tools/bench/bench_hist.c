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
 *
 * Usage: ustack-bench-hist [rounds]   (default 20000000 adds)
 * Runs differ by 10-50 % on the shared machines: compare within one run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "desc.h"
#include "hist.h"

#define BH_VALUES 4096u

static struct hist h;
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
	return 0;
}
