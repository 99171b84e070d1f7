/* hist: the parts of the histogram module that are not on the per-packet path (hist.h has the
 * layout and hist_add). */
#include "hist.h"

#include <errno.h>
#include <string.h>

uint64_t hist_bucket_lo(unsigned i)
{
	if (i < HIST_SUB)
		return i;
	unsigned e = i / HIST_SUB + 1u;
	uint64_t sub = i % HIST_SUB;
	return (UINT64_C(1) << e) + (sub << (e - HIST_SUB_BITS));
}

uint64_t hist_bucket_hi(unsigned i)
{
	if (i >= HIST_BUCKETS - 1u)
		return UINT64_MAX;
	return hist_bucket_lo(i + 1u) - 1u;
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

uint64_t hist_count(const struct hist *h)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		n += h->b[i];
	return n;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t total = hist_count(h);
	if (total == 0)
		return 0;
	uint64_t rank;
	if (q <= 0)
		rank = 1;
	else if (q >= 1)
		rank = total;
	else {
		double r = q * (double)total;
		rank = (uint64_t)r;
		if ((double)rank < r)
			rank++;
		if (rank == 0)
			rank = 1;
	}
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			if (i == HIST_BUCKETS - 1u)
				return hist_bucket_lo(i);
			uint64_t lo = hist_bucket_lo(i), hi = hist_bucket_hi(i);
			return lo + (hi - lo) / 2u;
		}
	}
	return hist_bucket_lo(HIST_BUCKETS - 1u); /* not reached: rank <= total */
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
}

int hist_sub(struct hist *out, const struct hist *now, const struct hist *then)
{
	int rc = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		if (now->b[i] >= then->b[i]) {
			out->b[i] = now->b[i] - then->b[i];
		} else {
			out->b[i] = 0;
			rc = -ESTALE;
		}
	}
	return rc;
}

unsigned hist_used(const struct hist *h)
{
	unsigned n = HIST_BUCKETS;
	while (n > 0 && h->b[n - 1u] == 0)
		n--;
	return n;
}
