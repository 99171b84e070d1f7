/* ip_reass: IPv4 reassembly (RFC 791 §3.2, RFC 1122 §3.3.2), bounded and overlap-intolerant.
 *
 * Table. A fixed array of IP_REASS_SLOTS datagrams keyed by (saddr, daddr, id, proto) (RFC 791
 * §3.2: "the identification ... together with the source, destination and protocol"), searched
 * linearly: 64 keys compare faster than a hash is worth. Each slot holds disjoint runs of payload
 * sorted by offset; the offset-0 fragment keeps its IPv4 header (it becomes the datagram's header
 * and is what ICMP Time Exceeded quotes), every other fragment has its header pulled on arrival.
 *
 * Coalescing. A fragment that starts exactly where a held run ends is copied into the tail of
 * that run's last buffer when it fits, and its own buffer is freed (Linux skb_try_coalesce does
 * the same). That is what lets a 65,535-byte datagram sent as 552-byte pieces over a 576-byte MTU
 * (119 fragments) fit the BUF_CHAIN_MAX = 64 buffers a chain may have; runs arriving out of order
 * stay separate until their neighbour arrives.
 *
 * Rules, each with its counter (ip_reasm_fails counts every datagram given up and every fragment
 * refused, the specific counter says why):
 *  - Overlap (RFC 5722 §4 for IPv6, adopted here for IPv4 as Linux did in 2018): a fragment that
 *    overlaps held data kills the whole datagram (ip_reasm_overlaps). Overlaps are how IDS
 *    evasion and the teardrop family work; honest senders never produce them.
 *    Exception: an exact duplicate (all its bytes lie inside one held run and are EQUAL to them,
 *    and it does not contradict the MF bit) is dropped alone and the datagram goes on: paths
 *    that duplicate packets are common and the copy adds nothing. We compare the bytes because a
 *    "duplicate" carrying different data is precisely an overlap attack. No counter beyond
 *    ip_reasm_reqds: nothing failed.
 *  - Size: offset + IHL*4 + payload > 65,535 kills the datagram (ip_reasm_oversize); so does a
 *    completed datagram whose first header plus payload passes 65,535 (ping of death).
 *  - Non-last fragment whose payload is not a multiple of 8 bytes (RFC 791 §3.2: "fragments ...
 *    must be on 8 octet boundaries"), or any empty fragment: that fragment is dropped.
 *  - Contradicting the end: a second last fragment (MF=0) with another end, a last fragment
 *    ending before data already held, or any fragment reaching past a known end: kills the
 *    datagram.
 *  - Chain length: a datagram that would need more than BUF_CHAIN_MAX buffers (tiny fragments
 *    arriving out of order, the classic resource attack) is killed: the result could not be
 *    carried as one chain anyway.
 *  - Memory (Linux: ipfrag_high_thresh): at most IP_REASS_SLOTS datagrams and max_buffers pool
 *    buffers in all. A fragment that does not fit evicts the least recently fed OTHER datagram,
 *    again until it fits (ip_reasm_evicted, and ip_reasm_fails like every datagram given up; no
 *    ICMP, as Linux's evictor sent none). Only a fragment whose own datagram would pass
 *    max_buffers alone is refused (ip_reasm_mem_drops). "Least recently fed" is a tick bumped by
 *    every fragment taken, the LRU list Linux's evictor walked before 4.17. This used to refuse
 *    the newcomer instead (Linux does since 4.17), to keep a flood from cancelling honest
 *    reassemblies in progress; but then 64 junk first-fragments, one packet each, shut
 *    reassembly for everyone for the whole 30 s timeout — a denial of service at about 2
 *    packets a second — and a datagram sent right after a flood was lost. With LRU eviction an
 *    honest datagram in progress is lost only if a whole table's worth of newer datagrams
 *    arrives between two of its fragments, which come back to back; a flood must keep that
 *    rate up, and the moment it stops the next datagram is reassembled.
 *  - Timeout: the deadline is fixed when the first fragment of a datagram (whichever offset)
 *    arrives, never extended (RFC 791 §3.2 timer, RFC 1122 §3.3.2 "reassembly timeout"), so
 *    trickling fragments cannot hold a slot forever.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include "checksum.h"
#include "ip_frag.h"
#include "wire/ipv4.h"

/* What ip_reass_input learned from the fragment's header. */
struct reass_in {
	uint32_t ihl;  /* header bytes */
	uint32_t off;  /* payload offset, bytes */
	uint32_t len;  /* payload bytes */
	uint32_t end;  /* off + len */
	bool mf;
	unsigned nbufs;
};

void ip_reass_init(struct ip_reass *r, unsigned max_buffers, uint64_t timeout_ns)
{
	memset(r, 0, sizeof(*r));
	r->max_buffers = max_buffers;
	r->timeout_ns = timeout_ns;
}

static void reass_slot_release(struct ip_reass *r, struct ip_reass_slot *s)
{
	unsigned i;

	for (i = 0; i < s->nfrags; i++)
		pool_free(&s->frag[i].b);
	assert(r->held >= s->nbufs);
	r->held -= s->nbufs;
	s->in_use = 0;
	s->nfrags = 0;
	s->nbufs = 0;
	s->have_last = 0;
	s->total = 0;
	s->received = 0;
}

/* Give up on a datagram: every held buffer is freed. */
static void reass_kill(struct ip_reass *r, struct ip_reass_slot *s, struct ip_stats *st)
{
	st->ip_reasm_fails++;
	reass_slot_release(r, s);
}

static struct ip_reass_slot *reass_find(struct ip_reass *r, const struct ipv4_hdr *h)
{
	unsigned i;

	for (i = 0; i < IP_REASS_SLOTS; i++) {
		struct ip_reass_slot *s = &r->slot[i];

		if (s->in_use && s->id == h->id && s->saddr == h->saddr && s->daddr == h->daddr &&
		    s->proto == h->proto)
			return s;
	}
	return NULL;
}

static struct ip_reass_slot *reass_free_slot(struct ip_reass *r)
{
	unsigned i;

	for (i = 0; i < IP_REASS_SLOTS; i++)
		if (!r->slot[i].in_use)
			return &r->slot[i];
	return NULL;
}

/* Evict the least recently fed datagram other than keep. False when there is none. */
static bool reass_evict_lru(struct ip_reass *r, const struct ip_reass_slot *keep,
			    struct ip_stats *st)
{
	struct ip_reass_slot *victim = NULL;
	unsigned i;

	for (i = 0; i < IP_REASS_SLOTS; i++) {
		struct ip_reass_slot *s = &r->slot[i];

		if (s->in_use && s != keep && (!victim || s->touched < victim->touched))
			victim = s;
	}
	if (!victim)
		return false;
	st->ip_reasm_evicted++;
	reass_kill(r, victim, st);
	return true;
}

/* Do bytes [aoff, aoff+len) of chain a equal bytes [boff, boff+len) of chain b? Both chains are
 * known to hold them. */
static bool reass_bytes_equal(const struct buf *a, size_t aoff, const struct buf *b, size_t boff,
			      size_t len)
{
	uint8_t x[256], y[256];

	while (len > 0) {
		size_t n = len < sizeof(x) ? len : sizeof(x);
		int ra = buf_copy_out(a, aoff, x, n);
		int rb = buf_copy_out(b, boff, y, n);

		assert(ra == 0 && rb == 0);
		(void)ra;
		(void)rb;
		if (memcmp(x, y, n) != 0)
			return false;
		aoff += n;
		boff += n;
		len -= n;
	}
	return true;
}

/* Copy len payload bytes from chain src (starting at byte soff) to the end of run f, whose last
 * buffer the caller checked has the tailroom. */
static void reass_copy_into(struct ip_reass_frag *f, const struct buf *src, size_t soff,
			    uint32_t len)
{
	uint8_t *dst = buf_put(buf_last(f->b), len);
	int rc;

	assert(dst != NULL);
	rc = buf_copy_out(src, soff, dst, len);
	assert(rc == 0);
	(void)rc;
	f->len = (uint16_t)(f->len + len);
}

static bool reass_fits_tail(const struct ip_reass_frag *f, uint32_t len)
{
	return buf_tailroom(buf_last(f->b)) >= len;
}

/* Absorb into run i every following run that is contiguous with it and fits its tailroom. */
static void reass_merge_next(struct ip_reass *r, struct ip_reass_slot *s, unsigned i)
{
	while (i + 1 < s->nfrags) {
		struct ip_reass_frag *f = &s->frag[i], *g = &s->frag[i + 1];
		unsigned gbufs;

		if ((uint32_t)f->off + f->len != g->off || !reass_fits_tail(f, g->len))
			return;
		reass_copy_into(f, g->b, g->hdr_len, g->len);
		gbufs = buf_chain_count(g->b);
		pool_free(&g->b);
		s->nbufs -= gbufs;
		r->held -= gbufs;
		memmove(&s->frag[i + 1], &s->frag[i + 2],
			(s->nfrags - i - 2) * sizeof(s->frag[0]));
		s->nfrags--;
	}
}

/* All payload is here: link the runs behind the first one's header and fix the header. */
static struct buf *reass_complete(struct ip_reass *r, struct ip_reass_slot *s,
				  struct ip_stats *st)
{
	struct ip_reass_frag *first = &s->frag[0];
	struct buf *head;
	struct ipv4_hdr *h;
	uint32_t tot;
	unsigned i;

	/* Runs are disjoint, inside [0, total) and add up to total: they tile it exactly. */
	assert(s->nfrags > 0 && first->off == 0 && first->hdr_len >= IPV4_HDR_MIN);
	tot = first->hdr_len + s->total;
	if (tot > IPV4_MAX_LEN) {
		/* The offset-0 fragment carried more options than the one that passed the per-fragment
		 * check: the datagram would still pass 65,535 bytes. */
		st->ip_reasm_oversize++;
		reass_kill(r, s, st);
		return NULL;
	}
	head = first->b;
	first->b = NULL;
	for (i = 1; i < s->nfrags; i++) {
		int rc = buf_chain_append(head, &s->frag[i].b);

		/* nbufs <= BUF_CHAIN_MAX is kept on every insertion. */
		assert(rc == 0);
		(void)rc;
	}
	h = (struct ipv4_hdr *)buf_data(head);
	h->tot_len = htons((uint16_t)tot);
	h->frag_off &= htons((uint16_t)~(IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK));
	h->csum = 0;
	h->csum = htons(csum_compute(h, first->hdr_len));
	assert(buf_chain_len(head) == tot);

	s->nfrags = 0; /* the runs now belong to head */
	reass_slot_release(r, s);
	st->ip_reasm_oks++;
	return head;
}

/* Basic sanity of what the caller promised (a validated header whose total length is the data
 * length, and a fragment). Wire bytes are untrusted: a broken promise is a drop, not a crash. */
static bool reass_parse(const struct buf *b, struct reass_in *in)
{
	const struct ipv4_hdr *h;
	uint32_t tot, fo;

	if (buf_len(b) < IPV4_HDR_MIN)
		return false;
	h = (const struct ipv4_hdr *)buf_data(b);
	in->ihl = ipv4_hdr_len(h);
	tot = ntohs(h->tot_len);
	if (in->ihl < IPV4_HDR_MIN || in->ihl > buf_len(b) || tot < in->ihl ||
	    tot != buf_chain_len(b))
		return false;
	fo = ntohs(h->frag_off);
	in->mf = (fo & IPV4_FLAG_MF) != 0;
	in->off = (fo & IPV4_FRAG_OFF_MASK) * 8u;
	if (!in->mf && in->off == 0)
		return false; /* not a fragment */
	in->len = tot - in->ihl;
	in->end = in->off + in->len;
	in->nbufs = buf_chain_count(b);
	return true;
}

struct buf *ip_reass_input(struct ip_reass *r, uint64_t now, struct buf **frag,
			   struct ip_stats *st)
{
	struct buf *b = *frag;
	struct ip_reass_slot *s;
	struct reass_in in;
	const struct ipv4_hdr *h;
	unsigned i, cost;
	bool join_prev;

	if (b == NULL)
		return NULL;
	*frag = NULL;
	st->ip_reasm_reqds++;
	if (!reass_parse(b, &in) || in.len == 0 || (in.mf && (in.len & 7u) != 0)) {
		/* RFC 791 §3.2: every fragment but the last carries a multiple of 8 bytes; an empty
		 * fragment adds nothing but a buffer to hold. */
		st->ip_reasm_fails++;
		goto drop;
	}
	h = (const struct ipv4_hdr *)buf_data(b);
	s = reass_find(r, h);

	if (in.off + in.ihl + in.len > IPV4_MAX_LEN) {
		st->ip_reasm_oversize++;
		if (s != NULL)
			reass_kill(r, s, st);
		else
			st->ip_reasm_fails++;
		goto drop;
	}

	if (s == NULL) {
		if (in.nbufs > BUF_CHAIN_MAX || in.nbufs > r->max_buffers) {
			/* Would pass a bound with nothing else held: no eviction can help. */
			st->ip_reasm_mem_drops++;
			st->ip_reasm_fails++;
			goto drop;
		}
		while ((s = reass_free_slot(r)) == NULL)
			reass_evict_lru(r, NULL, st); /* every slot in use: one always goes */
		memset(s, 0, sizeof(*s));
		s->in_use = 1;
		s->saddr = h->saddr;
		s->daddr = h->daddr;
		s->id = h->id;
		s->proto = h->proto;
		s->deadline = now > UINT64_MAX - r->timeout_ns ? UINT64_MAX : now + r->timeout_ns;
		s->touched = ++r->tick;
	} else {
		uint32_t max_end = 0;

		if (s->nfrags > 0) {
			const struct ip_reass_frag *l = &s->frag[s->nfrags - 1];

			max_end = (uint32_t)l->off + l->len;
		}
		/* RFC 791 §3.2: the last fragment fixes the total length; nothing may contradict it. */
		if ((!in.mf && s->have_last && in.end != s->total) ||
		    (!in.mf && in.end < max_end) || (s->have_last && in.end > s->total)) {
			reass_kill(r, s, st);
			goto drop;
		}
	}

	/* i: the first run that does not end at or before our start. */
	for (i = 0; i < s->nfrags; i++)
		if ((uint32_t)s->frag[i].off + s->frag[i].len > in.off)
			break;
	if (i < s->nfrags && s->frag[i].off < in.end) {
		const struct ip_reass_frag *f = &s->frag[i];
		bool inside = f->off <= in.off && in.end <= (uint32_t)f->off + f->len;

		/* A last fragment can only duplicate data already known to end the datagram. */
		if (inside && (in.mf || s->have_last) &&
		    reass_bytes_equal(b, in.ihl, f->b, f->hdr_len + (in.off - f->off), in.len))
			goto drop; /* harmless duplicate, see the file comment */
		st->ip_reasm_overlaps++;
		reass_kill(r, s, st);
		goto drop;
	}

	join_prev = i > 0 && (uint32_t)s->frag[i - 1].off + s->frag[i - 1].len == in.off &&
		    reass_fits_tail(&s->frag[i - 1], in.len);
	cost = join_prev ? 0 : in.nbufs;
	if (s->nbufs + cost > BUF_CHAIN_MAX) {
		/* Tiny fragments out of order: more buffers than a chain may have. */
		reass_kill(r, s, st);
		goto drop;
	}
	while (r->held + cost > r->max_buffers && reass_evict_lru(r, s, st))
		;
	if (r->held + cost > r->max_buffers) {
		/* This datagram alone holds the rest: it is the one that has to stop growing. */
		st->ip_reasm_mem_drops++;
		st->ip_reasm_fails++;
		if (s->nfrags == 0)
			reass_slot_release(r, s); /* a slot taken for this fragment alone */
		goto drop;
	}

	if (join_prev) {
		reass_copy_into(&s->frag[i - 1], b, in.ihl, in.len);
		pool_free(&b);
		i--;
	} else {
		struct ip_reass_frag *f;
		uint8_t hdr_len = (uint8_t)in.ihl;

		if (in.off != 0) {
			/* Only the offset-0 header survives reassembly: drop the others now. */
			void *p = buf_pull(b, in.ihl);

			assert(p != NULL);
			(void)p;
			hdr_len = 0;
			if (buf_len(b) == 0 && buf_next(b) != NULL) {
				struct buf *rest = buf_chain_split(b);

				pool_free(&b);
				b = rest;
				cost--;
			}
		}
		memmove(&s->frag[i + 1], &s->frag[i], (s->nfrags - i) * sizeof(s->frag[0]));
		f = &s->frag[i];
		f->b = b;
		f->off = (uint16_t)in.off;
		f->len = (uint16_t)in.len;
		f->hdr_len = hdr_len;
		s->nfrags++;
		s->nbufs += cost;
		r->held += cost;
	}
	reass_merge_next(r, s, i);
	s->touched = ++r->tick;

	s->received += in.len;
	if (!in.mf) {
		s->have_last = 1;
		s->total = in.end;
	}
	if (s->have_last && s->received == s->total)
		return reass_complete(r, s, st);
	return NULL;

drop:
	pool_free(&b);
	return NULL;
}

unsigned ip_reass_timer(struct ip_reass *r, uint64_t now, struct ip_stats *st,
			struct buf **first_frags, unsigned max)
{
	unsigned i, n = 0;

	for (i = 0; i < IP_REASS_SLOTS; i++) {
		struct ip_reass_slot *s = &r->slot[i];

		if (!s->in_use || s->deadline > now)
			continue;
		st->ip_reasm_timeouts++;
		/* RFC 1122 §3.3.2: Time Exceeded (code 1) only if fragment zero has arrived. */
		if (n < max && s->nfrags > 0 && s->frag[0].off == 0) {
			struct buf *b = s->frag[0].b;
			const struct ipv4_hdr *h = (const struct ipv4_hdr *)buf_data(b);
			int rc;

			/* Hand back that fragment as it came: drop the runs coalesced into it. */
			rc = buf_trim(b, ntohs(h->tot_len));
			assert(rc == 0);
			(void)rc;
			s->frag[0].b = NULL;
			first_frags[n++] = b;
		}
		reass_kill(r, s, st);
	}
	return n;
}

uint64_t ip_reass_next_deadline(const struct ip_reass *r)
{
	uint64_t next = UINT64_MAX;
	unsigned i;

	for (i = 0; i < IP_REASS_SLOTS; i++)
		if (r->slot[i].in_use && r->slot[i].deadline < next)
			next = r->slot[i].deadline;
	return next;
}

void ip_reass_flush(struct ip_reass *r)
{
	unsigned i;

	for (i = 0; i < IP_REASS_SLOTS; i++)
		if (r->slot[i].in_use)
			reass_slot_release(r, &r->slot[i]);
}
