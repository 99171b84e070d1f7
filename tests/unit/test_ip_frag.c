/* test_ip_frag: IPv4 fragmentation and reassembly (servers/ip/ip_frag.c, ip_reass.c).
 *
 * Each test builds its own fixture (pool, reassembly table, stats, fake clock) and ends with
 * fx_teardown(), which checks that the table's buffer count matches what the pool has lent out,
 * flushes the table and asserts the pool idle. Frames come from fx_frag(), which writes an IPv4
 * header (checksum computed here, independently of checksum.c) over a deterministic payload.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "helper_check.h"
#include "helper_pool.h"
#include "ip_frag.h"
#include "pool.h"
#include "wire/ipv4.h"

#define T_SEC 1000000000ull
#define T_TIMEOUT (30 * T_SEC)

struct fx {
	struct pool *pool;
	struct ip_reass *r;
	struct ip_stats st;
	uint64_t now; /* the fake clock */
};

/* A datagram under test: the key, options and how its payload bytes are generated. */
struct tdg {
	uint32_t saddr, daddr;
	uint16_t id;
	uint8_t proto;
	uint8_t seed;
	const uint8_t *opts; /* options, optlen a multiple of 4 */
	unsigned optlen;
};

static void fx_setup(struct fx *f, unsigned count, unsigned max_buffers)
{
	memset(f, 0, sizeof(*f));
	f->pool = tpool_new(count, POOL_HOLDER_IPD);
	f->r = malloc(sizeof(*f->r));
	ck_assert_ptr_nonnull(f->r);
	ip_reass_init(f->r, max_buffers, T_TIMEOUT);
	f->now = 1000 * T_SEC;
}

static void fx_teardown(struct fx *f)
{
	/* What the table says it holds is exactly what the pool has lent out. */
	ck_assert_uint_eq(pool_count(f->pool) - pool_free_count(f->pool), f->r->held);
	ip_reass_flush(f->r);
	ck_assert_uint_eq(f->r->held, 0);
	free(f->r);
	tpool_destroy(&f->pool);
}

/* Independent RFC 1071 checksum, folded and inverted. */
static uint16_t t_csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint8_t pat(uint8_t seed, uint32_t i)
{
	return (uint8_t)(i * 7u + (i >> 8) * 13u + seed * 31u + 1u);
}

static void t_fill(uint8_t *dst, uint8_t seed, uint32_t off, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		dst[i] = pat(seed, off + i);
}

static struct tdg t_dg(uint16_t id)
{
	struct tdg d = {
		.saddr = htonl(0x0a000001), .daddr = htonl(0x0a000002), .id = id,
		.proto = IPV4_PROTO_UDP, .seed = (uint8_t)id,
	};
	return d;
}

/* Header for datagram d with hl = 20 + optlen, the given total length and frag_off field. */
static unsigned t_hdr(uint8_t *out, const struct tdg *d, unsigned tot, uint16_t frag_off)
{
	struct ipv4_hdr *h = (struct ipv4_hdr *)out;
	unsigned hl = IPV4_HDR_MIN + d->optlen;

	memset(h, 0, sizeof(*h));
	h->ver_ihl = (uint8_t)(4u << 4 | hl / 4u);
	h->tot_len = htons((uint16_t)tot);
	h->id = htons(d->id);
	h->frag_off = htons(frag_off);
	h->ttl = 64;
	h->proto = d->proto;
	h->saddr = d->saddr;
	h->daddr = d->daddr;
	if (d->optlen)
		memcpy(out + IPV4_HDR_MIN, d->opts, d->optlen);
	h->csum = htons(t_csum(out, hl));
	return hl;
}

/* A fragment of d: payload bytes [off, off+len) of d's pattern, MF as given. */
static struct buf *fx_frag(struct fx *f, const struct tdg *d, uint32_t off, uint32_t len, bool mf)
{
	uint8_t frame[POOL_DATA_ROOM];
	unsigned hl = IPV4_HDR_MIN + d->optlen;

	ck_assert_uint_le(hl + len, sizeof(frame));
	ck_assert_uint_eq(off % 8, 0);
	t_hdr(frame, d, hl + len, (uint16_t)((mf ? IPV4_FLAG_MF : 0) | off / 8));
	t_fill(frame + hl, d->seed, off, len);
	return tpool_frame(f->pool, frame, hl + len);
}

static struct buf *fx_in(struct fx *f, struct buf *b)
{
	return ip_reass_input(f->r, f->now, &b, &f->st);
}

/* Feed one fragment; it must not complete anything. */
static void fx_feed(struct fx *f, const struct tdg *d, uint32_t off, uint32_t len, bool mf)
{
	struct buf *b = fx_frag(f, d, off, len, mf);
	struct buf *out = ip_reass_input(f->r, f->now, &b, &f->st);

	ck_assert_ptr_null(b);
	ck_assert_ptr_null(out);
}

/* Check a reassembled datagram: header rebuilt, payload equal to d's pattern over total bytes.
 * Frees it. */
static void t_check_dgram(struct buf **dg, const struct tdg *d, uint32_t total)
{
	struct buf *b = *dg;
	unsigned hl = IPV4_HDR_MIN + d->optlen;
	uint8_t *got, *want;
	const struct ipv4_hdr *h;

	ck_assert_ptr_nonnull(b);
	ck_assert_uint_le(buf_chain_count(b), BUF_CHAIN_MAX);
	ck_assert_uint_eq(buf_chain_len(b), hl + total);
	ck_assert_uint_ge(buf_len(b), hl);
	h = (const struct ipv4_hdr *)buf_data(b);
	ck_assert_uint_eq(ipv4_hdr_len(h), hl);
	ck_assert_uint_eq(ntohs(h->tot_len), hl + total);
	ck_assert_uint_eq(ntohs(h->frag_off) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK), 0);
	ck_assert_uint_eq(ntohs(h->id), d->id);
	ck_assert_uint_eq(t_csum(h, hl), 0);
	if (d->optlen)
		ck_assert_mem_eq((const uint8_t *)h + IPV4_HDR_MIN, d->opts, d->optlen);
	got = malloc(total);
	want = malloc(total);
	ck_assert(got && want);
	ck_assert_int_eq(buf_copy_out(b, hl, got, total), 0);
	t_fill(want, d->seed, 0, total);
	ck_assert(memcmp(got, want, total) == 0);
	free(got);
	free(want);
	pool_free(dg);
}

/* Seeded xorshift32 and a Fisher-Yates shuffle. */
static uint32_t t_rand(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void t_shuffle(unsigned *v, unsigned n, uint32_t seed)
{
	uint32_t s = seed ? seed : 1;
	unsigned i;

	for (i = n; i > 1; i--) {
		unsigned j = t_rand(&s) % i, t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* Cut a payload of `total` bytes into pieces of at most `piece` bytes (a multiple of 8) and feed
 * them in the order given by idx; the last piece completes the datagram. */
static struct buf *fx_feed_order(struct fx *f, const struct tdg *d, uint32_t total,
				 uint32_t piece, const unsigned *idx, unsigned n)
{
	struct buf *out = NULL;
	unsigned k;

	for (k = 0; k < n; k++) {
		uint32_t off = idx[k] * piece;
		uint32_t len = total - off < piece ? total - off : piece;
		struct buf *b = fx_frag(f, d, off, len, off + len < total);

		ck_assert_ptr_null(out);
		out = fx_in(f, b);
	}
	return out;
}

/* ---- reassembly ---- */

START_TEST(reass_in_order)
{
	struct fx f;
	struct tdg d = t_dg(1);
	struct buf *out;

	fx_setup(&f, 64, 512);
	fx_feed(&f, &d, 0, 1480, true);
	fx_feed(&f, &d, 1480, 1480, true);
	out = fx_in(&f, fx_frag(&f, &d, 2960, 1040, false));
	t_check_dgram(&out, &d, 4000);
	ck_assert_uint_eq(f.st.ip_reasm_reqds, 3);
	ck_assert_uint_eq(f.st.ip_reasm_oks, 1);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 0);
	ck_assert_uint_eq(f.r->held, 0);
	ck_assert_uint_eq(ip_reass_next_deadline(f.r), UINT64_MAX);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_reverse_order)
{
	struct fx f;
	struct tdg d = t_dg(2);
	struct buf *out;

	fx_setup(&f, 64, 512);
	fx_feed(&f, &d, 2960, 1040, false);
	fx_feed(&f, &d, 1480, 1480, true);
	out = fx_in(&f, fx_frag(&f, &d, 0, 1480, true));
	t_check_dgram(&out, &d, 4000);
	ck_assert_uint_eq(f.st.ip_reasm_oks, 1);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_random_order)
{
	struct fx f;
	uint32_t seed;

	fx_setup(&f, 256, 512);
	for (seed = 1; seed <= 50; seed++) {
		struct tdg d = t_dg((uint16_t)(100 + seed));
		uint32_t piece = 8u * (8 + seed % 33); /* 64..320 bytes: up to 77 fragments */
		uint32_t total = 3001 + seed * 37;
		unsigned n = (total + piece - 1) / piece, idx[128], k;
		struct buf *out;

		ck_assert_uint_le(n, sizeof(idx) / sizeof(idx[0]));
		for (k = 0; k < n; k++)
			idx[k] = k;
		t_shuffle(idx, n, seed);
		out = fx_feed_order(&f, &d, total, piece, idx, n);
		if (n > BUF_CHAIN_MAX && out == NULL) {
			/* More runs at once than a chain may hold: refused (the rest of it started a
			 * new datagram, which is flushed). */
			ip_reass_flush(f.r);
			continue;
		}
		t_check_dgram(&out, &d, total);
		ck_assert_uint_eq(f.r->held, 0);
	}
	ck_assert_uint_eq(f.st.ip_reasm_overlaps, 0);
	ck_assert_uint_ge(f.st.ip_reasm_oks, 40);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_exact_duplicate)
{
	struct fx f;
	struct tdg d = t_dg(3);
	struct buf *out;

	fx_setup(&f, 64, 512);
	fx_feed(&f, &d, 0, 1480, true);
	fx_feed(&f, &d, 0, 1480, true);       /* duplicate of the first */
	fx_feed(&f, &d, 2960, 1040, false);
	fx_feed(&f, &d, 2960, 1040, false);   /* duplicate of the last */
	ck_assert_uint_eq(f.st.ip_reasm_fails, 0);
	out = fx_in(&f, fx_frag(&f, &d, 1480, 1480, true));
	t_check_dgram(&out, &d, 4000);
	ck_assert_uint_eq(f.st.ip_reasm_reqds, 5);
	ck_assert_uint_eq(f.st.ip_reasm_oks, 1);
	ck_assert_uint_eq(f.st.ip_reasm_overlaps, 0);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 0);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_duplicate_with_other_bytes_is_overlap)
{
	struct fx f;
	struct tdg d = t_dg(4), evil = t_dg(4);

	evil.seed = 99; /* same key and range, different data */
	fx_setup(&f, 64, 512);
	fx_feed(&f, &d, 0, 1480, true);
	fx_feed(&f, &evil, 0, 1480, true);
	ck_assert_uint_eq(f.st.ip_reasm_overlaps, 1);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 1);
	ck_assert_uint_eq(f.r->held, 0);
	tpool_assert_idle(f.pool);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_partial_overlap)
{
	struct fx f;
	struct tdg d = t_dg(5);

	fx_setup(&f, 64, 512);
	fx_feed(&f, &d, 0, 1480, true);
	fx_feed(&f, &d, 2960, 1040, false);
	fx_feed(&f, &d, 1472, 1480, true); /* overlaps the first by 8 bytes */
	ck_assert_uint_eq(f.st.ip_reasm_overlaps, 1);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 1);
	ck_assert_uint_eq(f.r->held, 0);
	ck_assert_uint_eq(ip_reass_next_deadline(f.r), UINT64_MAX);
	tpool_assert_idle(f.pool);
	/* The rest of the datagram now starts a new one that never completes. */
	fx_feed(&f, &d, 1480, 1480, true);
	ck_assert_uint_eq(f.st.ip_reasm_oks, 0);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_timeout_missing_last)
{
	struct fx f;
	struct tdg d = t_dg(6);
	struct buf *first[4] = { NULL };
	const struct ipv4_hdr *h;
	uint64_t t0;

	fx_setup(&f, 64, 512);
	t0 = f.now;
	fx_feed(&f, &d, 0, 512, true);
	f.now += T_SEC;
	fx_feed(&f, &d, 512, 512, true); /* coalesces into the first fragment's buffer */
	ck_assert_uint_eq(f.r->held, 1);
	ck_assert_uint_eq(ip_reass_next_deadline(f.r), t0 + T_TIMEOUT);

	f.now = t0 + T_TIMEOUT - 1;
	ck_assert_uint_eq(ip_reass_timer(f.r, f.now, &f.st, first, 4), 0);
	ck_assert_uint_eq(f.st.ip_reasm_timeouts, 0);

	f.now = t0 + T_TIMEOUT;
	ck_assert_uint_eq(ip_reass_timer(f.r, f.now, &f.st, first, 4), 1);
	ck_assert_uint_eq(f.st.ip_reasm_timeouts, 1);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 1);
	ck_assert_uint_eq(f.r->held, 0);
	ck_assert_uint_eq(ip_reass_next_deadline(f.r), UINT64_MAX);

	/* Exactly the first fragment, as it arrived: header and its own 512 bytes. */
	ck_assert_ptr_nonnull(first[0]);
	ck_assert_uint_eq(buf_chain_len(first[0]), 532);
	h = (const struct ipv4_hdr *)buf_data(first[0]);
	ck_assert_uint_eq(ntohs(h->tot_len), 532);
	ck_assert_uint_eq(ntohs(h->frag_off), IPV4_FLAG_MF);
	ck_assert_uint_eq(t_csum(h, IPV4_HDR_MIN), 0);
	ck_assert_uint_eq(buf_data(first[0])[IPV4_HDR_MIN], pat(d.seed, 0));
	pool_free(&first[0]);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_timeout_missing_first)
{
	struct fx f;
	struct tdg d = t_dg(7);
	struct buf *first[4] = { NULL };

	fx_setup(&f, 64, 512);
	fx_feed(&f, &d, 1480, 1480, true);
	fx_feed(&f, &d, 2960, 1040, false);
	f.now += T_TIMEOUT;
	ck_assert_uint_eq(ip_reass_timer(f.r, f.now, &f.st, first, 4), 0);
	ck_assert_ptr_null(first[0]);
	ck_assert_uint_eq(f.st.ip_reasm_timeouts, 1);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 1);
	ck_assert_uint_eq(f.r->held, 0);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_timeout_more_than_max)
{
	struct fx f;
	struct buf *first[2] = { NULL };
	unsigned i;

	fx_setup(&f, 64, 512);
	for (i = 0; i < 3; i++) {
		struct tdg d = t_dg((uint16_t)(10 + i));

		fx_feed(&f, &d, 0, 8, true);
	}
	f.now += T_TIMEOUT;
	ck_assert_uint_eq(ip_reass_timer(f.r, f.now, &f.st, first, 2), 2);
	ck_assert_uint_eq(f.st.ip_reasm_timeouts, 3);
	ck_assert_uint_eq(f.r->held, 0);
	pool_free(&first[0]);
	pool_free(&first[1]);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_oversize)
{
	struct fx f;
	struct tdg d = t_dg(8);

	fx_setup(&f, 64, 512);
	/* 20 + 65,528 + 16 > 65,535 */
	fx_feed(&f, &d, 65528, 16, false);
	ck_assert_uint_eq(f.st.ip_reasm_oversize, 1);
	ck_assert_uint_eq(f.r->held, 0);

	/* With fragments held, the whole datagram goes. */
	fx_feed(&f, &d, 0, 1480, true);
	fx_feed(&f, &d, 65512, 8, true);  /* 20 + 65,512 + 8 = 65,540 */
	ck_assert_uint_eq(f.st.ip_reasm_oversize, 2);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 2);
	ck_assert_uint_eq(f.r->held, 0);
	tpool_assert_idle(f.pool);

	/* Exactly 65,535 is fine. */
	fx_feed(&f, &d, 65512, 3, false); /* 20 + 65,512 + 3 = 65,535 */
	ck_assert_uint_eq(f.st.ip_reasm_oversize, 2);
	ck_assert_uint_eq(f.r->held, 1);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_non_multiple_of_8)
{
	struct fx f;
	struct tdg d = t_dg(9);
	struct buf *b, *out;
	struct ipv4_hdr *h;

	fx_setup(&f, 64, 512);
	fx_feed(&f, &d, 0, 1480, true);
	fx_feed(&f, &d, 2960, 1040, false);
	/* A middle fragment of 1,479 bytes with MF: RFC 791 wants 8-byte units. */
	b = fx_frag(&f, &d, 1480, 1480, true);
	ck_assert_int_eq(buf_trim(b, 1499), 0);
	h = (struct ipv4_hdr *)buf_data(b);
	h->tot_len = htons(1499);
	h->csum = 0;
	h->csum = htons(t_csum(h, IPV4_HDR_MIN));
	ck_assert_ptr_null(fx_in(&f, b));
	ck_assert_uint_eq(f.st.ip_reasm_fails, 1);
	ck_assert_uint_eq(f.r->held, 2);
	/* The datagram itself lives on: the proper fragment completes it. */
	out = fx_in(&f, fx_frag(&f, &d, 1480, 1480, true));
	t_check_dgram(&out, &d, 4000);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_conflicting_last)
{
	struct fx f;
	struct tdg d = t_dg(10);

	fx_setup(&f, 64, 512);
	/* A second "last" fragment with another end. */
	fx_feed(&f, &d, 0, 1480, true);
	fx_feed(&f, &d, 2960, 1040, false);
	fx_feed(&f, &d, 4000, 16, false);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 1);
	ck_assert_uint_eq(f.r->held, 0);
	/* A last fragment ending before data already held. */
	fx_feed(&f, &d, 0, 1480, true);
	fx_feed(&f, &d, 2960, 1040, true);
	fx_feed(&f, &d, 1480, 8, false);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 2);
	ck_assert_uint_eq(f.r->held, 0);
	/* A fragment reaching past the known end. */
	fx_feed(&f, &d, 1480, 8, false);
	fx_feed(&f, &d, 1488, 8, true);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 3);
	ck_assert_uint_eq(f.r->held, 0);
	ck_assert_uint_eq(f.st.ip_reasm_overlaps, 0);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_memory_bound)
{
	struct fx f;
	struct tdg d = t_dg(11), e = t_dg(12);
	unsigned i;

	fx_setup(&f, 64, 4);
	/* Non-adjacent fragments: each holds its own buffer. */
	for (i = 0; i < 4; i++)
		fx_feed(&f, &d, i * 16, 8, true);
	ck_assert_uint_eq(f.r->held, 4);
	/* The bound is d's alone: its own fragment is refused, nothing else can give way. */
	fx_feed(&f, &d, 4 * 16, 8, true);
	ck_assert_uint_eq(f.st.ip_reasm_mem_drops, 1);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 1);
	ck_assert_uint_eq(f.st.ip_reasm_evicted, 0);
	ck_assert_uint_eq(f.r->held, 4);
	/* A fragment that coalesces into a held buffer costs nothing and is still taken (and
	 * the run after it joins too: [0, 24) in one buffer). */
	fx_feed(&f, &d, 8, 8, true);
	ck_assert_uint_eq(f.st.ip_reasm_mem_drops, 1);
	ck_assert_uint_eq(f.r->held, 3);
	fx_feed(&f, &d, 4 * 16, 8, true); /* now the refused one fits */
	ck_assert_uint_eq(f.r->held, 4);
	/* A new datagram evicts d, the only other one, and starts. */
	fx_feed(&f, &e, 0, 8, true);
	ck_assert_uint_eq(f.st.ip_reasm_evicted, 1);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 2);
	ck_assert_uint_eq(f.st.ip_reasm_mem_drops, 1);
	ck_assert_uint_eq(f.r->held, 1);
	ck_assert_uint_eq(pool_count(f.pool) - pool_free_count(f.pool), 1);
	/* A fragment that could never fit is refused without evicting anything. */
	{
		struct tdg g = t_dg(13);
		struct buf *b = fx_frag(&f, &g, 0, 1480, true);
		uint8_t tail[1000] = {0};

		while (buf_chain_count(b) < 5) /* a 5-buffer chain (the bytes do not matter) */
			ck_assert_int_eq(buf_append_data(b, tail, sizeof(tail)), 0);
		{
			struct ipv4_hdr *h = (struct ipv4_hdr *)buf_data(b);

			h->tot_len = htons((uint16_t)buf_chain_len(b));
			h->csum = 0;
			h->csum = htons(t_csum(h, IPV4_HDR_MIN));
		}
		ck_assert_uint_eq(buf_chain_count(b), 5);
		ck_assert_ptr_null(fx_in(&f, b));
		ck_assert_uint_eq(f.st.ip_reasm_mem_drops, 2);
		ck_assert_uint_eq(f.st.ip_reasm_evicted, 1);
		ck_assert_uint_eq(f.r->held, 1);
	}
	fx_teardown(&f);
}
END_TEST

/* A full table evicts the least recently fed datagram, not the newcomer and not the oldest
 * by creation. */
START_TEST(reass_slots_full_evicts_lru)
{
	struct fx f;
	struct tdg d0 = t_dg(0), d1 = t_dg(1), d2 = t_dg(2), extra = t_dg(1000);
	struct buf *out;
	unsigned i;

	fx_setup(&f, 128, 512);
	for (i = 0; i < IP_REASS_SLOTS; i++) {
		struct tdg d = t_dg((uint16_t)i);

		fx_feed(&f, &d, 0, 8, true);
	}
	f.now += T_SEC;
	fx_feed(&f, &d0, 16, 8, true); /* d0 is fed again: d1 is now the least recently fed */
	fx_feed(&f, &extra, 0, 8, true);
	ck_assert_uint_eq(f.st.ip_reasm_evicted, 1);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 1);
	ck_assert_uint_eq(f.st.ip_reasm_mem_drops, 0);
	ck_assert_uint_eq(f.r->held, IP_REASS_SLOTS + 1);
	/* d0 and d2 are whole as soon as their rest comes; d1's rest starts a new datagram. */
	fx_feed(&f, &d0, 8, 8, true);
	out = fx_in(&f, fx_frag(&f, &d0, 24, 8, false));
	t_check_dgram(&out, &d0, 32);
	out = fx_in(&f, fx_frag(&f, &d2, 8, 8, false));
	t_check_dgram(&out, &d2, 16);
	fx_feed(&f, &d1, 8, 8, false);
	out = fx_in(&f, fx_frag(&f, &extra, 8, 8, false));
	t_check_dgram(&out, &extra, 16);
	ck_assert_uint_eq(f.st.ip_reasm_oks, 3);
	ck_assert_uint_eq(f.st.ip_reasm_evicted, 1);
	fx_teardown(&f);
}
END_TEST

/* Slots in use now, by scanning (the table keeps no count). */
static unsigned t_datagrams(const struct ip_reass *r)
{
	unsigned i, n = 0;

	for (i = 0; i < IP_REASS_SLOTS; i++)
		n += r->slot[i].in_use;
	return n;
}

/* The issue this fixes: a flood of incomplete datagrams took every slot (and, with bigger
 * datagrams, all the memory), and legitimate datagrams were dropped until the flood timed
 * out 30 s later. Now the flood evicts itself, oldest first, the bounds hold throughout, and a
 * datagram sent right after it, or in the middle of it, is reassembled. */
START_TEST(reass_flood_then_legit)
{
	struct fx f;
	struct tdg junk = t_dg(0), legit = t_dg(7), big = t_dg(8);
	unsigned i, k, started = 0, idx[45];
	struct buf *out;

	junk.saddr = htonl(0x0a0000c8); /* 10.0.0.200: a made-up source */
	fx_setup(&f, 1024, 512);
	/* Slot bound: 300 datagrams of one 1,480-byte fragment each. */
	for (i = 0; i < 300; i++, started++) {
		junk.id = (uint16_t)(1000 + i);
		fx_feed(&f, &junk, 0, 1480, true);
		ck_assert_uint_le(f.r->held, 512);
	}
	ck_assert_uint_eq(t_datagrams(f.r), IP_REASS_SLOTS);
	ck_assert_uint_eq(f.st.ip_reasm_evicted, 300 - IP_REASS_SLOTS);
	/* Memory bound: 100 datagrams of ten 1,480-byte fragments (one buffer each: they do not
	 * coalesce), 1,000 buffers' worth in 512. */
	for (i = 0; i < 100; i++, started++) {
		junk.id = (uint16_t)(2000 + i);
		for (k = 0; k < 10; k++) {
			fx_feed(&f, &junk, k * 1480, 1480, true);
			ck_assert_uint_le(f.r->held, 512);
		}
	}
	ck_assert_uint_eq(f.r->held, 510); /* 51 whole junk datagrams of 10 */
	ck_assert_uint_eq(t_datagrams(f.r), 51);
	/* Every datagram started is either still held or was evicted: none was refused. */
	ck_assert_uint_eq(f.st.ip_reasm_evicted, started - 51);
	ck_assert_uint_eq(f.st.ip_reasm_mem_drops, 0);
	ck_assert_uint_eq(f.st.ip_reasm_fails, f.st.ip_reasm_evicted);
	ck_assert_uint_eq(pool_count(f.pool) - pool_free_count(f.pool), f.r->held);

	/* Right after the flood: a 4,000-byte datagram, and a 65,515-byte one in 45 fragments
	 * out of order. */
	fx_feed(&f, &legit, 0, 1480, true);
	fx_feed(&f, &legit, 1480, 1480, true);
	out = fx_in(&f, fx_frag(&f, &legit, 2960, 1040, false));
	t_check_dgram(&out, &legit, 4000);
	for (k = 0; k < 45; k++)
		idx[k] = k;
	t_shuffle(idx, 45, 99);
	out = fx_feed_order(&f, &big, 65515, 1480, idx, 45);
	t_check_dgram(&out, &big, 65515);
	ck_assert_uint_eq(f.st.ip_reasm_oks, 2);
	ck_assert_uint_eq(f.st.ip_reasm_mem_drops, 0);

	/* In the middle of a flood: between each two of its fragments a legitimate datagram sees
	 * 20 junk datagrams start (a third of what the table holds), and is still reassembled. */
	legit.id = 77;
	for (k = 0; k < 3; k++) {
		for (i = 0; i < 20; i++) {
			junk.id = (uint16_t)(3000 + k * 20 + i);
			fx_feed(&f, &junk, 0, 1480, true);
		}
		out = fx_in(&f, fx_frag(&f, &legit, k * 1480, k < 2 ? 1480 : 1040, k < 2));
	}
	t_check_dgram(&out, &legit, 4000);
	ck_assert_uint_eq(f.st.ip_reasm_oks, 3);
	ck_assert_uint_le(f.r->held, 512);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_interleaved_ids)
{
	struct fx f;
	struct tdg a = t_dg(20), b = t_dg(21), c = t_dg(20);
	struct buf *out;

	c.proto = IPV4_PROTO_TCP; /* same id, other protocol: another datagram (RFC 791 key) */
	c.seed = 77;
	fx_setup(&f, 64, 512);
	fx_feed(&f, &a, 0, 1480, true);
	fx_feed(&f, &b, 1480, 520, false);
	fx_feed(&f, &c, 0, 1480, true);
	fx_feed(&f, &a, 2960, 100, false);
	ck_assert_ptr_null(fx_in(&f, fx_frag(&f, &c, 2960, 8, false)));
	out = fx_in(&f, fx_frag(&f, &b, 0, 1480, true));
	t_check_dgram(&out, &b, 2000);
	out = fx_in(&f, fx_frag(&f, &c, 1480, 1480, true));
	t_check_dgram(&out, &c, 2968);
	ck_assert_uint_eq(f.st.ip_reasm_oks, 2);
	ck_assert_uint_eq(f.r->held, 2); /* a still lacks [1480, 2960) */
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_max_udp)
{
	struct fx f;
	struct tdg d = t_dg(30);
	const uint32_t total = 65507 + 8; /* UDP payload + UDP header */
	unsigned idx[45], k, n = (total + 1479) / 1480;
	struct buf *out;

	ck_assert_uint_eq(n, 45);
	for (k = 0; k < n; k++)
		idx[k] = k;
	fx_setup(&f, 128, 512);
	out = fx_feed_order(&f, &d, total, 1480, idx, n);
	t_check_dgram(&out, &d, total);
	/* Reverse and shuffled as well. */
	for (k = 0; k < n; k++)
		idx[k] = n - 1 - k;
	out = fx_feed_order(&f, &d, total, 1480, idx, n);
	t_check_dgram(&out, &d, total);
	t_shuffle(idx, n, 12345);
	out = fx_feed_order(&f, &d, total, 1480, idx, n);
	t_check_dgram(&out, &d, total);
	ck_assert_uint_eq(f.st.ip_reasm_oks, 3);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_tiny_fragments_refused)
{
	struct fx f;
	struct tdg d = t_dg(31);
	unsigned i;

	fx_setup(&f, 256, 512);
	/* Every other 8-byte piece: nothing coalesces, the chain limit is hit. */
	for (i = 0; i <= BUF_CHAIN_MAX; i++)
		fx_feed(&f, &d, i * 16, 8, true);
	ck_assert_uint_eq(f.st.ip_reasm_fails, 1);
	ck_assert_uint_eq(f.r->held, 0);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_rejects_non_fragment)
{
	struct fx f;
	struct tdg d = t_dg(32);

	fx_setup(&f, 16, 512);
	fx_feed(&f, &d, 0, 100, false);
	fx_feed(&f, &d, 8, 0, true);      /* empty */
	ck_assert_uint_eq(f.st.ip_reasm_fails, 2);
	ck_assert_uint_eq(f.r->held, 0);
	fx_teardown(&f);
}
END_TEST

START_TEST(reass_random_junk)
{
	/* Untrusted input: 32 datagrams fed as honest fragments in random order with duplicates and
	 * losses, and now and then a junk fragment (random offset, length and MF bit; its bytes
	 * follow the same pattern, so whatever completes can still be checked byte for byte), with
	 * the clock running. Nothing may crash or leak, the bounds must hold, and every datagram
	 * that completes must be well formed and exact. */
	static const unsigned max_buffers[] = { 384, 200, 64 }; /* roomy, tight, starved */
	unsigned round;

	for (round = 0; round < 3; round++) {
		struct fx f;
		uint32_t s = 0x9e3779b9u;
		unsigned k, maxb = max_buffers[round];

		fx_setup(&f, 512, maxb);
		for (k = 0; k < 40000; k++) {
			uint16_t key = (uint16_t)(t_rand(&s) % 32);
			struct tdg d = t_dg(key);
			uint32_t total = 1000 + key * 300u, piece = 8u * (10 + key);
			uint32_t npieces = (total + piece - 1) / piece, off, len;
			unsigned dice = t_rand(&s) % 100, n;
			bool mf;
			struct buf *first[8], *out;

			if (dice < 5)
				continue; /* lost */
			if (dice < 7) {
				off = (t_rand(&s) % 64) * 64;
				len = t_rand(&s) % 4 ? 8 * (1 + t_rand(&s) % 100) : 1 + t_rand(&s) % 600;
				mf = t_rand(&s) % 8 != 0 || off == 0;
			} else {
				off = (t_rand(&s) % npieces) * piece;
				len = total - off < piece ? total - off : piece;
				mf = off + len < total;
			}
			out = fx_in(&f, fx_frag(&f, &d, off, len, mf));
			ck_assert_uint_le(f.r->held, maxb);
			if (out != NULL) {
				const struct ipv4_hdr *h = (const struct ipv4_hdr *)buf_data(out);

				ck_assert_uint_le(buf_chain_count(out), BUF_CHAIN_MAX);
				/* A junk last fragment may have set another end: check what it claims. */
				t_check_dgram(&out, &d, ntohs(h->tot_len) - IPV4_HDR_MIN);
			}
			f.now += T_SEC / 100;
			n = ip_reass_timer(f.r, f.now, &f.st, first, 8);
			pool_free_burst(f.pool, first, n);
			ck_assert_uint_eq(pool_count(f.pool) - pool_free_count(f.pool), f.r->held);
		}
		/* The 32 datagrams need about 180 buffers at once. A little short of that, eviction
		 * costs a few; starved, the datagrams are fed one fragment at a time in random order
		 * and the least recently fed one is always evicted before it completes: the price
		 * of a flood never keeping a newcomer out (ip_reass.c). */
		if (round < 2)
			ck_assert_uint_gt(f.st.ip_reasm_oks, 100);
		if (round > 0)
			ck_assert_uint_gt(f.st.ip_reasm_evicted, 0);
		ck_assert_uint_eq(f.st.ip_reasm_mem_drops, 0);
		ck_assert_uint_gt(f.st.ip_reasm_overlaps, 0);
		if (round < 2) /* starved, nothing lives long enough to time out */
			ck_assert_uint_gt(f.st.ip_reasm_timeouts, 0);
		fx_teardown(&f);
	}
}
END_TEST

/* ---- fragmentation ---- */

/* A whole datagram as one chain (head buffer from tpool_frame, rest via buf_append_data). */
static struct buf *fx_dgram(struct fx *f, const struct tdg *d, uint32_t payload, uint16_t frag_off)
{
	unsigned hl = IPV4_HDR_MIN + d->optlen;
	uint8_t *bytes = malloc(hl + payload);
	size_t first;
	struct buf *b;

	ck_assert_ptr_nonnull(bytes);
	t_hdr(bytes, d, hl + payload, frag_off);
	t_fill(bytes + hl, d->seed, 0, payload);
	first = hl + payload < POOL_DATA_ROOM ? hl + payload : POOL_DATA_ROOM;
	b = tpool_frame(f->pool, bytes, first);
	ck_assert_int_eq(buf_append_data(b, bytes + first, hl + payload - first), 0);
	free(bytes);
	return b;
}

/* Check one fragment's header and shape against mtu; returns its payload offset. */
static uint32_t t_check_frag(const struct buf *b, uint16_t mtu, bool last, unsigned hl_want)
{
	const struct ipv4_hdr *h = (const struct ipv4_hdr *)buf_data(b);
	unsigned hl = ipv4_hdr_len(h), tot = ntohs(h->tot_len);

	ck_assert_uint_eq(buf_chain_count(b), 1);
	ck_assert_uint_eq(buf_headroom(b), POOL_HEADROOM);
	ck_assert_uint_eq(buf_len(b), tot);
	ck_assert_uint_le(tot, mtu);
	ck_assert_uint_le(tot, POOL_DATA_ROOM);
	ck_assert_uint_eq(hl, hl_want);
	ck_assert_uint_eq(t_csum(h, hl), 0);
	ck_assert_uint_eq((ntohs(h->frag_off) & IPV4_FLAG_MF) != 0, !last);
	if (!last)
		ck_assert_uint_eq((tot - hl) % 8, 0);
	return (ntohs(h->frag_off) & IPV4_FRAG_OFF_MASK) * 8u;
}

static void t_round_trip(uint32_t payload, uint16_t mtu)
{
	struct fx f;
	struct tdg d = t_dg((uint16_t)(payload ^ mtu));
	struct buf *frags[IP_OUT_MAX], *dg, *out = NULL;
	uint32_t expect_off = 0;
	int n, i;

	fx_setup(&f, 1024, 512);
	dg = fx_dgram(&f, &d, payload, 0);
	n = ip_fragment(f.pool, &dg, mtu, frags, IP_OUT_MAX, &f.st);
	ck_assert_int_gt(n, 1);
	ck_assert_ptr_null(dg);
	ck_assert_uint_eq(f.st.ip_frag_oks, 1);
	ck_assert_uint_eq(f.st.ip_frag_creates, (unsigned)n);
	for (i = 0; i < n; i++) {
		const struct ipv4_hdr *h = (const struct ipv4_hdr *)buf_data(frags[i]);

		ck_assert_uint_eq(t_check_frag(frags[i], mtu, i == n - 1, IPV4_HDR_MIN),
				  expect_off);
		expect_off += ntohs(h->tot_len) - IPV4_HDR_MIN;
	}
	ck_assert_uint_eq(expect_off, payload);
	for (i = 0; i < n; i++) {
		ck_assert_ptr_null(out);
		out = fx_in(&f, frags[i]);
	}
	t_check_dgram(&out, &d, payload);
	ck_assert_uint_eq(f.st.ip_reasm_oks, 1);
	/* The other direction too, last fragment first. */
	dg = fx_dgram(&f, &d, payload, 0);
	n = ip_fragment(f.pool, &dg, mtu, frags, IP_OUT_MAX, &f.st);
	ck_assert_int_gt(n, 1);
	for (i = n - 1; i >= 0; i--) {
		ck_assert_ptr_null(out);
		out = fx_in(&f, frags[i]);
	}
	t_check_dgram(&out, &d, payload);
	fx_teardown(&f);
}

START_TEST(frag_round_trip)
{
	static const uint32_t sizes[] = { 1481, 8000, 65515 };
	static const uint16_t mtus[] = { 1500, 576 };
	unsigned s, m;

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (m = 0; m < sizeof(mtus) / sizeof(mtus[0]); m++)
			t_round_trip(sizes[s], mtus[m]);
}
END_TEST

START_TEST(frag_sizes)
{
	struct fx f;
	struct tdg d = t_dg(40);
	struct buf *frags[IP_OUT_MAX], *dg;
	int n, i;

	fx_setup(&f, 256, 512);
	/* 1,481 bytes at 1,500: 1,480 + 1. */
	dg = fx_dgram(&f, &d, 1481, 0);
	n = ip_fragment(f.pool, &dg, 1500, frags, IP_OUT_MAX, &f.st);
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(buf_len(frags[0]), 1500);
	ck_assert_uint_eq(buf_len(frags[1]), 21);
	pool_free_burst(f.pool, frags, 2);
	/* 65,515 at 576: 552-byte pieces, 119 of them. */
	dg = fx_dgram(&f, &d, 65515, 0);
	n = ip_fragment(f.pool, &dg, 576, frags, IP_OUT_MAX, &f.st);
	ck_assert_int_eq(n, 119);
	for (i = 0; i < n - 1; i++)
		ck_assert_uint_eq(buf_len(frags[i]), 572);
	pool_free_burst(f.pool, frags, (unsigned)n);
	/* A 9,000 MTU is capped by the buffer: fragments of at most POOL_DATA_ROOM bytes. */
	dg = fx_dgram(&f, &d, 20000, 0);
	n = ip_fragment(f.pool, &dg, 9000, frags, IP_OUT_MAX, &f.st);
	ck_assert_int_eq(n, 10);
	for (i = 0; i < n; i++)
		t_check_frag(frags[i], POOL_DATA_ROOM, i == n - 1, IPV4_HDR_MIN);
	pool_free_burst(f.pool, frags, (unsigned)n);
	/* Fits already: handed back untouched and not counted as fragmented. */
	dg = fx_dgram(&f, &d, 1000, 0);
	frags[0] = NULL;
	{
		struct buf *orig = dg;

		n = ip_fragment(f.pool, &dg, 1500, frags, IP_OUT_MAX, &f.st);
		ck_assert_int_eq(n, 1);
		ck_assert_ptr_eq(frags[0], orig);
		ck_assert_ptr_null(dg);
	}
	pool_free(&frags[0]);
	ck_assert_uint_eq(f.st.ip_frag_oks, 3);
	ck_assert_uint_eq(f.st.ip_frag_creates, 2 + 119 + 10);
	fx_teardown(&f);
}
END_TEST

START_TEST(frag_df)
{
	struct fx f;
	struct tdg d = t_dg(41);
	struct buf *frags[IP_OUT_MAX], *dg, *orig;
	uint32_t free_before;

	fx_setup(&f, 64, 512);
	dg = fx_dgram(&f, &d, 3000, IPV4_FLAG_DF);
	orig = dg;
	free_before = pool_free_count(f.pool);
	ck_assert_int_eq(ip_fragment(f.pool, &dg, 1500, frags, IP_OUT_MAX, &f.st), -EMSGSIZE);
	ck_assert_ptr_eq(dg, orig);
	ck_assert_uint_eq(pool_free_count(f.pool), free_before);
	ck_assert_uint_eq(f.st.ip_frag_fails, 1);
	ck_assert_uint_eq(f.st.ip_frag_oks, 0);
	pool_free(&dg);
	fx_teardown(&f);
}
END_TEST

START_TEST(frag_pool_exhausted)
{
	struct fx f;
	struct tdg d = t_dg(42);
	struct buf *frags[IP_OUT_MAX], *dg, *orig, *hog[16];
	uint8_t before[8020], after[8020];
	uint32_t free_before;
	unsigned nhog;

	/* 8,000 bytes need 4 buffers as a chain and 6 fragments at 1,500. */
	fx_setup(&f, 16, 512);
	dg = fx_dgram(&f, &d, 8000, 0);
	orig = dg;
	nhog = pool_alloc_burst(f.pool, hog, pool_free_count(f.pool) - 5); /* leave 5 free */
	free_before = pool_free_count(f.pool);
	ck_assert_uint_eq(free_before, 5);
	ck_assert_int_eq(buf_copy_out(dg, 0, before, sizeof(before)), 0);
	ck_assert_int_eq(ip_fragment(f.pool, &dg, 1500, frags, IP_OUT_MAX, &f.st), -ENOBUFS);
	ck_assert_ptr_eq(dg, orig);
	ck_assert_uint_eq(pool_free_count(f.pool), free_before);
	ck_assert_int_eq(buf_copy_out(dg, 0, after, sizeof(after)), 0);
	ck_assert_mem_eq(before, after, sizeof(before));
	ck_assert_uint_eq(f.st.ip_frag_fails, 1);
	/* `max` too small fails the same way. */
	ck_assert_int_eq(ip_fragment(f.pool, &dg, 1500, frags, 5, &f.st), -ENOBUFS);
	ck_assert_ptr_eq(dg, orig);
	ck_assert_uint_eq(pool_free_count(f.pool), free_before);
	ck_assert_uint_eq(f.st.ip_frag_fails, 2);
	/* With one more buffer it works. */
	pool_free(&hog[0]);
	ck_assert_int_eq(ip_fragment(f.pool, &dg, 1500, frags, IP_OUT_MAX, &f.st), 6);
	ck_assert_ptr_null(dg);
	pool_free_burst(f.pool, frags, 6);
	pool_free_burst(f.pool, hog + 1, nhog - 1);
	fx_teardown(&f);
}
END_TEST

START_TEST(frag_options_copy)
{
	/* NOP (never copied), Record Route (7: copy flag clear, 11 bytes), Loose Source Route (131:
	 * copy flag set, 7 bytes), EOL: 1 + 11 + 7 + 1 = 20 bytes of options, IHL 40. */
	static const uint8_t opts[20] = {
		IPV4_OPT_NOP,
		7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0,
		131, 7, 4, 192, 0, 2, 1,
		IPV4_OPT_EOL,
	};
	static const uint8_t later[8] = { 131, 7, 4, 192, 0, 2, 1, IPV4_OPT_EOL };
	struct fx f;
	struct tdg d = t_dg(43);
	struct buf *frags[IP_OUT_MAX], *dg, *out = NULL;
	uint32_t off = 0;
	int n, i;

	d.opts = opts;
	d.optlen = sizeof(opts);
	fx_setup(&f, 64, 512);
	dg = fx_dgram(&f, &d, 4000, 0);
	n = ip_fragment(f.pool, &dg, 1500, frags, IP_OUT_MAX, &f.st);
	/* first: 1,500 - 40 = 1,460 -> 1,456; later: 1,500 - 28 = 1,472. */
	ck_assert_int_eq(n, 3);
	for (i = 0; i < n; i++) {
		const uint8_t *p = buf_data(frags[i]);
		unsigned hl = i == 0 ? 40 : 28;

		ck_assert_uint_eq(t_check_frag(frags[i], 1500, i == n - 1, hl), off);
		if (i == 0)
			ck_assert_mem_eq(p + IPV4_HDR_MIN, opts, sizeof(opts));
		else
			ck_assert_mem_eq(p + IPV4_HDR_MIN, later, sizeof(later));
		off += buf_len(frags[i]) - hl;
	}
	ck_assert_uint_eq(buf_len(frags[0]), 40 + 1456);
	ck_assert_uint_eq(buf_len(frags[1]), 28 + 1472);
	/* Reassembly gives back the first header, all options included. */
	for (i = 0; i < n; i++)
		out = fx_in(&f, frags[i]);
	t_check_dgram(&out, &d, 4000);
	fx_teardown(&f);
}
END_TEST

START_TEST(frag_refragment)
{
	/* A fragment (offset 1,480, MF) crossing a smaller MTU: offsets stay relative to 1,480 and
	 * the last piece keeps MF. */
	struct fx f;
	struct tdg d = t_dg(44);
	struct buf *frags[IP_OUT_MAX], *dg;
	int n, i;

	fx_setup(&f, 64, 512);
	dg = fx_dgram(&f, &d, 1480, IPV4_FLAG_MF | (1480 / 8));
	n = ip_fragment(f.pool, &dg, 576, frags, IP_OUT_MAX, &f.st);
	ck_assert_int_eq(n, 3);
	for (i = 0; i < n; i++) {
		const struct ipv4_hdr *h = (const struct ipv4_hdr *)buf_data(frags[i]);

		ck_assert_uint_eq(ntohs(h->frag_off), IPV4_FLAG_MF | (1480 + 552 * i) / 8);
	}
	pool_free_burst(f.pool, frags, (unsigned)n);
	fx_teardown(&f);
}
END_TEST

static Suite *ip_frag_suite(void)
{
	Suite *s = suite_create("ip_frag");
	TCase *r = tcase_create("reass");
	tcase_set_timeout(r, 60); /* a hang guard: seconds under ASan, loaded */
	TCase *g = tcase_create("frag");

	tcase_add_test(r, reass_in_order);
	tcase_add_test(r, reass_reverse_order);
	tcase_add_test(r, reass_random_order);
	tcase_add_test(r, reass_exact_duplicate);
	tcase_add_test(r, reass_duplicate_with_other_bytes_is_overlap);
	tcase_add_test(r, reass_partial_overlap);
	tcase_add_test(r, reass_timeout_missing_last);
	tcase_add_test(r, reass_timeout_missing_first);
	tcase_add_test(r, reass_timeout_more_than_max);
	tcase_add_test(r, reass_oversize);
	tcase_add_test(r, reass_non_multiple_of_8);
	tcase_add_test(r, reass_conflicting_last);
	tcase_add_test(r, reass_memory_bound);
	tcase_add_test(r, reass_slots_full_evicts_lru);
	tcase_add_test(r, reass_flood_then_legit);
	tcase_add_test(r, reass_interleaved_ids);
	tcase_add_test(r, reass_max_udp);
	tcase_add_test(r, reass_tiny_fragments_refused);
	tcase_add_test(r, reass_rejects_non_fragment);
	tcase_add_test(r, reass_random_junk);
	suite_add_tcase(s, r);

	tcase_add_test(g, frag_round_trip);
	tcase_add_test(g, frag_sizes);
	tcase_add_test(g, frag_df);
	tcase_add_test(g, frag_pool_exhausted);
	tcase_add_test(g, frag_options_copy);
	tcase_add_test(g, frag_refragment);
	tcase_set_timeout(g, 60);
	suite_add_tcase(s, g);
	return s;
}

int main(void)
{
	return tcheck_run(ip_frag_suite());
}
