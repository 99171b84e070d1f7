/* hist: log-scale latency histograms, cheap enough to leave on for every packet.
 *
 * Buckets: HIST_SUB (4) per power of two, the scheme of HdrHistogram and of Linux's BPF
 * log2-linear histograms cut down to two significant bits. Values 0..3 ns have a bucket each;
 * a value v >= 4 with its top bit at position e (2^e <= v < 2^(e+1)) falls into bucket
 * (e - 1) * 4 + the two bits below the top one. So each bucket spans a quarter of its power of
 * two: a quantile read back from a bucket is within 12.5 % of the true value (half a bucket,
 * relative to the bucket's lower edge), enough to tell 10 us from 15 us and cheap to compute:
 * hist_add is a count-leading-zeros, two shifts and an increment, no division, no branch that
 * depends on the data beyond the clamp. The last bucket starts at 1.75 * 2^35 ns (about 60 s)
 * and also takes everything from 2^HIST_MAX_POW ns (69 s) up (overflow): a latency that long
 * is a stall, and it is still counted.
 *
 * A histogram is a plain array of counts, cumulative since it was made. Counts are never
 * reset: a reader takes two snapshots and subtracts (hist_sub), which is exact, and works with
 * any number of readers. The pure functions here are all there is; where the histograms live
 * (links, layers) and how they travel (ustack.Histogram in a CtlReply) is their users' concern.
 */
#ifndef USTACK_HIST_H
#define USTACK_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 2u
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_POW 36u /* values >= 2^36 ns go to the last bucket */
#define HIST_BUCKETS ((HIST_MAX_POW - 1u) * HIST_SUB)
/* Names this bucket layout on the wire (ustack.Histogram.scheme), so a reader built with
 * another layout refuses the data instead of misreading it. */
#define HIST_SCHEME ((HIST_SUB_BITS << 8) | HIST_MAX_POW)

struct hist {
	uint64_t b[HIST_BUCKETS];
};

/* The bucket of value v (ns). */
static inline unsigned hist_bucket(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	if (v >= (UINT64_C(1) << HIST_MAX_POW))
		return HIST_BUCKETS - 1u;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* v >= 4, so e >= 2 */
	return (e - 1u) * HIST_SUB + (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1u));
}

/* Count one sample of v ns. */
static inline void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_bucket(v)]++;
}

/* Count n samples of v ns. */
static inline void hist_add_n(struct hist *h, uint64_t v, uint64_t n)
{
	h->b[hist_bucket(v)] += n;
}

/* Smallest and largest value bucket i holds (i < HIST_BUCKETS; the last bucket's upper edge is
 * UINT64_MAX: it holds the overflow). */
uint64_t hist_bucket_lo(unsigned i);
uint64_t hist_bucket_hi(unsigned i);

void hist_init(struct hist *h);

/* Samples counted. */
uint64_t hist_count(const struct hist *h);

/* The q-quantile (0 < q <= 1; q <= 0 reads as the smallest sample) in ns: the midpoint of the
 * bucket that holds the sample of rank ceil(q * count), the exact value for values below 8,
 * the lower edge of the overflow bucket for samples there. 0 for an empty histogram. */
uint64_t hist_quantile(const struct hist *h, double q);

/* dst += src. */
void hist_merge(struct hist *dst, const struct hist *src);

/* out = now - then, per bucket: the samples counted between two snapshots of one histogram.
 * A bucket that went down (the histogram's owner restarted between the snapshots) gives 0 there
 * and the function returns -ESTALE, so the caller can say the interval is not exact; else 0. */
int hist_sub(struct hist *out, const struct hist *now, const struct hist *then);

/* Number of buckets up to and including the last non-zero one (what a sender needs to send). */
unsigned hist_used(const struct hist *h);

#endif
