/* bench_desc: what the descriptor batch codec costs per descriptor and per batch.
 *
 * docs/ARCHITECTURE.md asks for the encode/decode cost to be measured: it is paid twice per layer
 * crossing (encode in the sender, decode in the receiver) on every packet, next to ≈ 1 µs of CPU
 * per ZeroMQ message (PERF-FACTS.md). This times encode, decode and the pair for batches of 1, 8
 * and 64 descriptors over N iterations with CLOCK_MONOTONIC, one batch in a hot cache, which is the
 * realistic case (the batch was just built). The per-batch part is what batching amortises.
 * Then the per-descriptor seal (desc_seal: CRC32C) each side adds.
 *
 * Usage: ustack-bench-desc [iterations]   (default 1000000 batches per size)
 * Runs of the same binary differ by 10–50% on the shared machines: compare within one run.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "desc.h"
#include "pool.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fill(struct desc_batch *b, uint32_t count)
{
	memset(b, 0, sizeof(*b));
	b->sender = POOL_HOLDER_IPD;
	b->seq = 123456;
	b->count = count;
	b->sent = 1764000000000100000ull;
	for (uint32_t i = 0; i < count; i++) {
		/* Realistic values: a TCP segment from ipd to tcpd. */
		b->d[i] = (struct desc){ .buf = 4000 + i, .gen = 77 + i, .len = 1514,
					 .l3_off = 14, .l4_off = 34, .flags = DESC_F_CSUM_VERIFIED,
					 .saddr = 0x0201000au, .daddr = 0x0101000au, .proto = 6,
					 .ttl = 64, .t_in = 1764000000000000000ull + i };
	}
}

static struct desc_codec codec; /* 32 KiB: keep it off the stack */
static struct desc_batch in, out;
static uint8_t wire[4096];
static volatile uint32_t sink; /* keeps the compiler from dropping the work */

int main(int argc, char **argv)
{
	unsigned long iters = 1000000;
	if (argc > 1) {
		char *end;
		iters = strtoul(argv[1], &end, 10);
		if (*end || iters == 0) {
			fprintf(stderr, "usage: %s [iterations]\n", argv[0]);
			return 2;
		}
	}
	desc_codec_init(&codec);

	const uint32_t sizes[] = { 1, 8, 64 };
	printf("%-6s %8s %12s %12s %12s %12s\n", "batch", "bytes", "enc ns/b", "dec ns/b",
	       "both ns/b", "both ns/desc");
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t n = sizes[s];
		fill(&in, n);
		int len = desc_batch_encode(&in, wire, sizeof(wire));
		if (len < 0 || desc_batch_decode(&codec, wire, (size_t)len, &out) < 0 ||
		    out.count != n) {
			fprintf(stderr, "bench_desc: round trip of %u failed\n", n);
			return 1;
		}

		uint64_t t0 = now_ns();
		for (unsigned long i = 0; i < iters; i++) {
			in.seq = (uint32_t)i;
			sink += (uint32_t)desc_batch_encode(&in, wire, sizeof(wire));
		}
		uint64_t t1 = now_ns();
		for (unsigned long i = 0; i < iters; i++) {
			sink += (uint32_t)desc_batch_decode(&codec, wire, (size_t)len, &out);
			sink += out.d[0].buf;
		}
		uint64_t t2 = now_ns();
		for (unsigned long i = 0; i < iters; i++) {
			in.seq = (uint32_t)i;
			int m = desc_batch_encode(&in, wire, sizeof(wire));
			sink += (uint32_t)desc_batch_decode(&codec, wire, (size_t)m, &out);
			sink += out.d[n - 1].len;
		}
		uint64_t t3 = now_ns();

		double enc = (double)(t1 - t0) / (double)iters;
		double dec = (double)(t2 - t1) / (double)iters;
		double both = (double)(t3 - t2) / (double)iters;
		printf("%-6u %8d %12.1f %12.1f %12.1f %12.1f\n", n, len, enc, dec, both, both / n);
	}
	printf("(ns/b = per batch; ns/desc = encode+decode per descriptor; %lu iterations each)\n",
	       iters);

	/* The seal (desc_seal): computed by the sender per descriptor, checked by the receiver;
	 * the same cost each side. Measured over a full batch, fields varying as on a link. */
	fill(&in, DESC_BATCH_MAX);
	uint64_t t0 = now_ns();
	for (unsigned long i = 0; i < iters; i++) {
		struct desc *d = &in.d[i % DESC_BATCH_MAX];
		d->gen = (uint32_t)i;
		desc_seal(d);
		sink += d->check;
	}
	uint64_t t1 = now_ns();
	for (unsigned long i = 0; i < iters; i++)
		sink += desc_sealed(&in.d[i % DESC_BATCH_MAX]);
	uint64_t t2 = now_ns();
	printf("seal: %.1f ns per descriptor to seal, %.1f to check (CRC32C of 48 bytes)\n",
	       (double)(t1 - t0) / (double)iters, (double)(t2 - t1) / (double)iters);
	return sink == 0xdeadbeef ? 1 : 0;
}
