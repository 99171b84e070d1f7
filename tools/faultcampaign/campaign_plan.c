/* campaign_plan: the pure part of ustack-faultcampaign: the seeded fault plan, the byte streams
 * both ends generate and check, and quantiles. No I/O, no clock: tests/unit/test_campaign_plan.c
 * checks it.
 *
 * The plan. Fault i is drawn from its own PRNG state, splitmix64 seeded with (seed, i), so a
 * fault does not depend on the draws of the faults before it: `--seed S --faults 300` begins
 * with the same 20 faults as `--seed S --faults 20`. Each fault is a kind (uniform over the
 * eight) and a layer (uniform over nicd, ipd, tcpd, udpd), or uniform over the kinds and
 * layers a filter leaves (`--kinds`, `--layers`: a campaign aimed at one fault, with the same
 * parameters as in the whole plan), then its parameters:
 *   kill        SIGKILL; systemd restarts the layer.
 *   hang short  SIGSTOP for 10-45 % of WatchdogSec, then SIGCONT: the same process goes on
 *               (a layer feeds its watchdog every half of WatchdogSec, so a stop that begins
 *               just before a feed has half of it before systemd gives up on the process).
 *   hang long   SIGSTOP for WatchdogSec + 1..3 s: the watchdog has systemd restart the layer.
 *   link drop   the layer's link to a random neighbour drops each descriptor with p in
 *               0.02..0.5, or all of them (p = 1, a blackout of the link) one time in five;
 *   link dup    duplicates with p in 0.05..0.5 (the receiver refuses the copies);
 *   link corrupt  damages with p in 0.01..0.3 (the receiver's seal check refuses them);
 *   link delay  holds every batch 1..50 ms;
 *   slow        the layer takes 100 us..20 ms more over each batch it takes from a link;
 * link faults and slow last 0.3..1.5 s, then are cleared. Between the recovery from one fault
 * and the next injection the plan waits 0.2..1.2 s (a random time in the traffic).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

const char *const cp_layer_names[CP_LAYERS] = {"nicd", "ipd", "tcpd", "udpd"};
const char *const cp_kind_names[CP_KIND_COUNT] = {
	[CP_KIND_KILL] = "kill",
	[CP_KIND_HANG_SHORT] = "hang-short",
	[CP_KIND_HANG_LONG] = "hang-long",
	[CP_KIND_LINK_DROP] = "link-drop",
	[CP_KIND_LINK_DUP] = "link-dup",
	[CP_KIND_LINK_CORRUPT] = "link-corrupt",
	[CP_KIND_LINK_DELAY] = "link-delay",
	[CP_KIND_SLOW] = "slow",
};

uint64_t cp_rand_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static uint32_t cp_rand_range(uint64_t *st, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(cp_rand_next(st) % ((uint64_t)hi - lo + 1));
}

/* Uniform in [lo, hi), to 1/1e6. */
static double cp_rand_unit(uint64_t *st, double lo, double hi)
{
	return lo + (hi - lo) * (double)(cp_rand_next(st) % 1000000u) / 1e6;
}

/* The (r mod n)-th set bit of mask, n its number of set bits: with every bit set, r mod
 * width, so a full mask draws what the unfiltered plan draws. */
static unsigned cp_pick(uint64_t r, uint32_t mask, unsigned width)
{
	uint32_t full = width >= 32 ? ~0u : (1u << width) - 1u;
	mask &= full;
	if (!mask)
		mask = full;
	unsigned n = (unsigned)__builtin_popcount(mask), k = (unsigned)(r % n);
	for (unsigned i = 0; i < width; i++)
		if ((mask >> i) & 1u && k-- == 0)
			return i;
	return 0; /* not reached: k < n set bits */
}

void cp_plan_fault(uint64_t seed, unsigned index, uint32_t watchdog_ms,
		   const struct cp_plan_filter *only, struct cp_fault *f)
{
	uint64_t st = seed ^ (0xd1b54a32d192ed03ull * ((uint64_t)index + 1));
	cp_rand_next(&st);
	*f = (struct cp_fault){0};
	f->kind = (enum cp_kind)cp_pick(cp_rand_next(&st), only ? only->kinds : CP_KINDS_ALL,
					CP_KIND_COUNT);
	f->layer = (enum cp_layer)cp_pick(cp_rand_next(&st), only ? only->layers : CP_LAYERS_ALL,
					  CP_LAYERS);
	f->wait_ms = cp_rand_range(&st, 200, 1200);
	f->seed = cp_rand_next(&st);
	/* A link's other end: nicd and the transports have only ipd; ipd has all three. */
	static const enum cp_layer ipd_peers[] = {CP_NICD, CP_TCPD, CP_UDPD};
	f->to = f->layer == CP_IPD ? ipd_peers[cp_rand_next(&st) % 3] : CP_IPD;
	switch (f->kind) {
	case CP_KIND_KILL:
		break;
	case CP_KIND_HANG_SHORT:
		f->duration_ms = cp_rand_range(&st, watchdog_ms / 10, watchdog_ms * 45 / 100);
		break;
	case CP_KIND_HANG_LONG:
		f->duration_ms = watchdog_ms + cp_rand_range(&st, 1000, 3000);
		break;
	case CP_KIND_LINK_DROP:
		f->p = cp_rand_next(&st) % 5 == 0 ? 1.0 : cp_rand_unit(&st, 0.02, 0.5);
		break;
	case CP_KIND_LINK_DUP:
		f->p = cp_rand_unit(&st, 0.05, 0.5);
		break;
	case CP_KIND_LINK_CORRUPT:
		f->p = cp_rand_unit(&st, 0.01, 0.3);
		break;
	case CP_KIND_LINK_DELAY:
		f->delay_us = cp_rand_range(&st, 1000, 50000);
		break;
	case CP_KIND_SLOW:
		f->slow_us = cp_rand_range(&st, 100, 20000);
		break;
	default:
		break;
	}
	if (f->kind >= CP_KIND_LINK_DROP)
		f->duration_ms = cp_rand_range(&st, 300, 1500);
}

int cp_parse_names(const char *list, const char *const *names, unsigned count, uint32_t *mask,
		   char *bad, size_t bad_size)
{
	uint32_t m = 0;
	const char *p = list;
	for (;;) {
		size_t n = strcspn(p, ",");
		unsigned i;
		for (i = 0; i < count; i++)
			if (strlen(names[i]) == n && strncmp(p, names[i], n) == 0)
				break;
		if (i == count) {
			snprintf(bad, bad_size, "%.*s", (int)n, p);
			return -EINVAL;
		}
		m |= 1u << i;
		if (!p[n])
			break;
		p += n + 1;
	}
	*mask = m;
	return 0;
}

void cp_fault_describe(const struct cp_fault *f, char *out, size_t size)
{
	const char *l = cp_layer_names[f->layer], *to = cp_layer_names[f->to];
	switch (f->kind) {
	case CP_KIND_KILL:
		snprintf(out, size, "kill %s", l);
		break;
	case CP_KIND_HANG_SHORT:
	case CP_KIND_HANG_LONG:
		snprintf(out, size, "hang %s %u ms (%s)", l, f->duration_ms,
			 f->kind == CP_KIND_HANG_LONG ? "past the watchdog" : "below the watchdog");
		break;
	case CP_KIND_LINK_DROP:
	case CP_KIND_LINK_DUP:
	case CP_KIND_LINK_CORRUPT:
		snprintf(out, size, "link %s->%s %s %.3f for %u ms", l, to,
			 f->kind == CP_KIND_LINK_DROP  ? "drop"
			 : f->kind == CP_KIND_LINK_DUP ? "dup"
						       : "corrupt",
			 f->p, f->duration_ms);
		break;
	case CP_KIND_LINK_DELAY:
		snprintf(out, size, "link %s->%s delay %u us for %u ms", l, to, f->delay_us,
			 f->duration_ms);
		break;
	case CP_KIND_SLOW:
		snprintf(out, size, "slow %s %u us per batch for %u ms", l, f->slow_us,
			 f->duration_ms);
		break;
	default:
		snprintf(out, size, "?");
	}
}

void cp_stream_init(struct cp_stream *st, uint64_t seed)
{
	uint64_t s = seed;
	st->s = cp_rand_next(&s) | 1; /* xorshift's state must not be 0 */
	st->left = 0;
	st->word = 0;
}

void cp_stream_fill(struct cp_stream *st, uint8_t *out, size_t n)
{
	while (n) {
		if (st->left == 0) {
			st->s ^= st->s >> 12;
			st->s ^= st->s << 25;
			st->s ^= st->s >> 27;
			st->word = st->s * 0x2545f4914f6cdd1dull;
			st->left = 8;
		}
		*out++ = (uint8_t)(st->word >> (8 * (8 - st->left)));
		st->left--;
		n--;
	}
}

static int cp_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double cp_quantile(double *v, size_t n, double q)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cp_cmp_double);
	/* nearest rank: the smallest value with at least q of them at or below it */
	size_t rank = (size_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

const char *const cp_cause_names[CP_CAUSE_COUNT] = {
	[CP_CAUSE_WITHIN] = "within the target",
	[CP_CAUSE_LENGTH] = "the fault's own length",
	[CP_CAUSE_PEER_RTO] = "the Linux peer's retransmission timer",
	[CP_CAUSE_STACK_RTO] = "tcpd's retransmission timer",
	[CP_CAUSE_DELAY] = "a per-batch delay",
	[CP_CAUSE_UDP] = "a UDP flow's retries",
	[CP_CAUSE_OTHER] = "other",
};

enum cp_cause cp_blackout_cause(const struct cp_fault *f, double blackout_ms,
				enum cp_worst worst, int sender_rtos)
{
	if (blackout_ms <= CP_BLACKOUT_TARGET_MS)
		return CP_CAUSE_WITHIN;
	if (f->kind == CP_KIND_HANG_SHORT || f->kind == CP_KIND_HANG_LONG ||
	    (f->kind == CP_KIND_LINK_DROP && f->p >= 1.0))
		return CP_CAUSE_LENGTH;
	if (worst == CP_WORST_TCP_FROM_KERNEL && sender_rtos > 0)
		return CP_CAUSE_PEER_RTO;
	if (worst == CP_WORST_TCP_FROM_STACK && sender_rtos > 0)
		return CP_CAUSE_STACK_RTO;
	if (f->kind == CP_KIND_LINK_DELAY || f->kind == CP_KIND_SLOW)
		return CP_CAUSE_DELAY;
	if (worst == CP_WORST_UDP)
		return CP_CAUSE_UDP;
	return CP_CAUSE_OTHER;
}

bool cp_blackout_forced(const struct cp_fault *f, enum cp_cause cause)
{
	bool burst = f->kind == CP_KIND_LINK_DROP || f->kind == CP_KIND_LINK_CORRUPT;
	return cause == CP_CAUSE_LENGTH ||
	       (burst && (cause == CP_CAUSE_PEER_RTO || cause == CP_CAUSE_STACK_RTO));
}
