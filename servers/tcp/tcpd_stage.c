/* tcpd_stage: early data of connections not accepted yet, in a segment that outlives tcpd
 * (tcpd_stage.h has the layout and why). */
#include <errno.h>
#include <string.h>

#include "tcpd_stage.h"

void tcpd_stage_init(struct tcpd_stages *st, struct tcpd_stage_area *a,
		     tcpd_stage_discard_fn *discard, void *discard_arg)
{
	memset(st, 0, sizeof(*st));
	st->a = a;
	st->discard = discard;
	st->discard_arg = discard_arg;
}

/* Give pages [first, first + n) back, but for those below the kept ones. Bytes given. */
static uint64_t tcpd_stage_give_back(struct tcpd_stages *st, uint32_t first, uint32_t n)
{
	if (first < TCPD_STAGE_KEEP_PAGES) {
		uint32_t below = TCPD_STAGE_KEEP_PAGES - first;
		if (n <= below)
			return 0;
		first += below;
		n -= below;
	}
	if (!st->discard)
		return 0;
	st->discard(st->discard_arg, st->a->data[first], (size_t)n * TCPD_STAGE_PAGE);
	return (uint64_t)n * TCPD_STAGE_PAGE;
}

static uint32_t tcpd_stage_pages_for(uint32_t bytes)
{
	return (bytes + TCPD_STAGE_PAGE - 1) / TCPD_STAGE_PAGE;
}

/* First fit: the lowest page starting n free ones, or -1. */
static long tcpd_stage_find(const struct tcpd_stage_area *a, uint32_t n)
{
	uint32_t run = 0;
	for (uint32_t p = 0; p < TCPD_STAGE_PAGES; p++) {
		run = a->owner[p] ? 0 : run + 1;
		if (run == n)
			return (long)(p + 1 - n);
	}
	return -1;
}

int tcpd_stage_get(struct tcpd_stages *st, unsigned idx, uint32_t cid, uint32_t cap)
{
	if (idx >= TCP_CONNS_MAX || !cid)
		return -EINVAL;
	struct tcpd_stage *s = &st->s[idx];
	if (s->cid == cid && s->cap >= cap)
		return 0;
	tcpd_stage_release(st, idx); /* a previous occupant's, or too small */
	uint32_t n = tcpd_stage_pages_for(cap);
	if (n == 0 || n > TCPD_STAGE_PAGES)
		return -EINVAL;
	long first = tcpd_stage_find(st->a, n);
	if (first < 0)
		return -ENOBUFS;
	struct tcpd_stage_area *a = st->a;
	for (uint32_t p = (uint32_t)first; p < (uint32_t)first + n; p++)
		a->owner[p] = cid;
	/* the length last: a run without it is no run (file comment) */
	__atomic_store_n(&a->run[first], n, __ATOMIC_RELEASE);
	*s = (struct tcpd_stage){.cid = cid, .cap = cap, .first = (uint16_t)first,
				 .npages = (uint16_t)n};
	st->staged += (uint64_t)n * TCPD_STAGE_PAGE;
	return 0;
}

uint8_t *tcpd_stage_data(struct tcpd_stages *st, unsigned idx, uint32_t cid, uint32_t *cap)
{
	if (idx >= TCP_CONNS_MAX || !cid || st->s[idx].cid != cid)
		return NULL;
	if (cap)
		*cap = st->s[idx].cap;
	return st->a->data[st->s[idx].first];
}

void tcpd_stage_release(struct tcpd_stages *st, unsigned idx)
{
	if (idx >= TCP_CONNS_MAX)
		return;
	struct tcpd_stage *s = &st->s[idx];
	if (!s->cid)
		return;
	struct tcpd_stage_area *a = st->a;
	/* the length first: from here on the pages are no run's */
	__atomic_store_n(&a->run[s->first], 0u, __ATOMIC_RELEASE);
	for (uint32_t p = s->first; p < (uint32_t)s->first + s->npages; p++)
		a->owner[p] = 0;
	st->staged -= (uint64_t)s->npages * TCPD_STAGE_PAGE;
	/* after the pages are free: a kill before it leaves them to the next start's sweep */
	st->returned += tcpd_stage_give_back(st, s->first, s->npages);
	*s = (struct tcpd_stage){0};
}

bool tcpd_stage_claim(struct tcpd_stages *st, unsigned idx, uint32_t cid, uint32_t need)
{
	if (idx >= TCP_CONNS_MAX || !cid || st->s[idx].cid)
		return false;
	struct tcpd_stage_area *a = st->a;
	/* The area is what a dead process left: every field is checked before it is believed. */
	for (uint32_t p = 0; p < TCPD_STAGE_PAGES; p++) {
		uint32_t n = __atomic_load_n(&a->run[p], __ATOMIC_ACQUIRE);
		if (!n || a->owner[p] != cid)
			continue;
		if (n > TCPD_STAGE_PAGES - p || (uint64_t)n * TCPD_STAGE_PAGE < need)
			return false;
		for (uint32_t q = p; q < p + n; q++)
			if (a->owner[q] != cid)
				return false;
		for (unsigned other = 0; other < TCP_CONNS_MAX; other++) {
			const struct tcpd_stage *o = &st->s[other];
			if (o->cid && p < (uint32_t)o->first + o->npages && o->first < p + n)
				return false; /* overlaps a run already taken back: damaged */
		}
		st->s[idx] = (struct tcpd_stage){.cid = cid, .cap = n * TCPD_STAGE_PAGE,
						 .first = (uint16_t)p, .npages = (uint16_t)n};
		st->staged += (uint64_t)n * TCPD_STAGE_PAGE;
		return true;
	}
	return false;
}

void tcpd_stage_sweep(struct tcpd_stages *st)
{
	uint8_t held[TCPD_STAGE_PAGES]; /* 0: free, 1: inside a claimed run, 2: its first page */
	memset(held, 0, sizeof(held));
	for (unsigned i = 0; i < TCP_CONNS_MAX; i++) {
		const struct tcpd_stage *s = &st->s[i];
		for (uint32_t p = s->first; s->cid && p < (uint32_t)s->first + s->npages; p++)
			held[p] = p == s->first ? 2 : 1;
	}
	struct tcpd_stage_area *a = st->a;
	for (uint32_t p = 0; p < TCPD_STAGE_PAGES; p++) {
		if (held[p] != 2)
			a->run[p] = 0; /* a length inside a run, or of no run */
		if (!held[p])
			a->owner[p] = 0;
	}
	/* every free range, one call each (pages never touched cost tmpfs nothing to drop) */
	for (uint32_t p = TCPD_STAGE_KEEP_PAGES; p < TCPD_STAGE_PAGES;) {
		uint32_t end = p;
		while (end < TCPD_STAGE_PAGES && !held[end])
			end++;
		if (end > p)
			(void)tcpd_stage_give_back(st, p, end - p);
		p = end + 1;
	}
}
