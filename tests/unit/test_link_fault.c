/* test_link_fault: the fault injector (common/fault.h) and the links' fault table
 * (common/link_fault.h).
 *
 *   - one seed and one sequence of descriptors give the same decisions, bit for bit; another
 *     seed others;
 *   - the probabilities asked are the ones drawn (within 5 % over 200,000 descriptors);
 *   - ownership: batches through the injector and the receiver's checks (link_batch_take):
 *     every chain sent ends up freed exactly once, by the injector or by the receiver, the
 *     receiver gets each surviving packet once, intact, and counts each duplicate (stale) and
 *     each damaged descriptor (corrupt) exactly;
 *   - the seal catches every damage fault_corrupt makes: 200,000 damaged copies of a descriptor
 *     whose chain is in flight to the receiver, none taken; also the ones the pool alone would
 *     have let through (a field it does not check);
 *   - the delay line on real links, both transports: nothing arrives before its time, all of it
 *     after, clear sends what is held at once, and closing a link frees what it held.
 * Two views of one named pool act as sender (ipd) and receiver (tcpd), as in test_link.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "buf.h"
#include "clock.h"
#include "desc.h"
#include "fault.h"
#include "helper_check.h"
#include "helper_pool.h"
#include "link.h"
#include "link_fault.h"
#include "link_priv.h"
#include "pool.h"
#include "shm_dir.h"

#define TX_SELF POOL_HOLDER_IPD
#define RX_SELF POOL_HOLDER_TCPD
#define TPOOL_COUNT 4096u

static char rundir[64];
static char instance[32];
static struct pool *ptx, *prx;

static void suite_setup(void)
{
	snprintf(rundir, sizeof(rundir), "/tmp/ustack-lfault-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(rundir));
	setenv("USTACK_RUNTIME_DIR", rundir, 1);
	snprintf(instance, sizeof(instance), "tlfault%ld", (long)getpid());
}

static void suite_teardown(void)
{
	char cmd[128];
	shm_dir_remove(instance);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rundir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_link_fault: could not remove %s\n", rundir);
}

static void setup(void)
{
	struct pool_geometry geo = {.count = TPOOL_COUNT};
	pool_unlink(instance);
	ck_assert_int_eq(pool_open(instance, &geo, TX_SELF, &ptx), 0);
	ck_assert_int_eq(pool_open(instance, &geo, RX_SELF, &prx), 0);
}

static void teardown(void)
{
	tpool_assert_idle(ptx);
	pool_close(&ptx);
	pool_close(&prx);
	pool_unlink(instance);
}

/* A frame whose bytes and descriptor say which packet it is. */
static struct buf *frame(struct pool *p, uint32_t tag, struct desc *d)
{
	uint8_t bytes[64];
	for (unsigned j = 0; j < sizeof(bytes); j++)
		bytes[j] = (uint8_t)(tag * 7 + j);
	memcpy(bytes, &tag, sizeof(tag));
	*d = (struct desc){.l3_off = 14, .l4_off = 34, .saddr = tag, .daddr = ~tag, .proto = 17,
			   .ttl = 64, .t_in = 1000 + tag};
	return tpool_frame(p, bytes, sizeof(bytes));
}

static struct fault_spec spec_of(double drop, double dup, double corrupt, uint64_t seed)
{
	struct fault_spec s = {.seed = seed};
	ck_assert_int_eq(fault_p_from_double(drop, &s.drop), 0);
	ck_assert_int_eq(fault_p_from_double(dup, &s.dup), 0);
	ck_assert_int_eq(fault_p_from_double(corrupt, &s.corrupt), 0);
	return s;
}

START_TEST(spec_checks)
{
	uint64_t p;
	ck_assert_int_eq(fault_p_from_double(-0.01, &p), -EINVAL);
	ck_assert_int_eq(fault_p_from_double(1.01, &p), -EINVAL);
	ck_assert_int_eq(fault_p_from_double(0.0 / 0.0, &p), -EINVAL);
	ck_assert_int_eq(fault_p_from_double(1.0, &p), 0);
	ck_assert_uint_eq(p, FAULT_P_ONE);
	struct fault_spec s = {.drop = FAULT_P_ONE + 1};
	ck_assert_int_eq(fault_spec_check(&s), -EINVAL);
	s = (struct fault_spec){.delay_us = FAULT_DELAY_MAX_US + 1};
	ck_assert_int_eq(fault_spec_check(&s), -EINVAL);
	s.delay_us = FAULT_DELAY_MAX_US;
	ck_assert_int_eq(fault_spec_check(&s), 0);
}
END_TEST

/* Run `total` descriptors through an injector; record per descriptor what came out of it: how
 * many descriptors, which hand a chain over, and which bits of each differ from the original
 * (a digest). One descriptor per call: the decisions do not depend on how the sender batches
 * (two draws per descriptor whatever happens), so this is also what any batching gives. */
static void run_decisions(const struct fault_spec *spec, unsigned total, uint32_t *digest,
			  struct fault_counts *counts)
{
	struct fault_inj f;
	fault_inj_init(&f, spec);
	for (unsigned t = 0; t < total; t++) {
		struct buf *b, *chains[2];
		struct desc d, wire[2];
		b = frame(ptx, t, &d);
		link_batch_fill(&b, &d, 1);
		unsigned m = fault_inj_apply(&f, ptx, &b, &d, 1, chains, wire);
		ck_assert_uint_le(m, 2);
		ck_assert_ptr_null(b);
		uint32_t h = m;
		for (unsigned i = 0; i < m; i++) {
			const uint8_t *x = (const uint8_t *)&wire[i], *y = (const uint8_t *)&d;
			h = h * 31 + (chains[i] ? 1 : 2);
			for (unsigned k = 0; k < sizeof(d); k++)
				h = h * 131 + (uint8_t)(x[k] ^ y[k]);
		}
		digest[t] = h;
		pool_free_burst(ptx, chains, m);
	}
	*counts = f.n;
}

START_TEST(seeded_reproducible)
{
	enum { N = 20000 };
	static uint32_t a[N], b[N], c[N];
	struct fault_counts ca, cb, cc;
	struct fault_spec s = spec_of(0.1, 0.1, 0.1, 42);
	run_decisions(&s, N, a, &ca);
	run_decisions(&s, N, b, &cb);
	ck_assert_mem_eq(a, b, sizeof(a));
	ck_assert_mem_eq(&ca, &cb, sizeof(ca));
	s.seed = 43;
	run_decisions(&s, N, c, &cc);
	ck_assert_int_ne(memcmp(a, c, sizeof(a)), 0);
	ck_assert_uint_eq(ca.descs, N);
}
END_TEST

static void near(uint64_t got, double want, const char *what)
{
	ck_assert_msg(got >= want * 0.95 && got <= want * 1.05, "%s: %llu, expected %.0f", what,
		      (unsigned long long)got, want);
}

START_TEST(probabilities_honoured)
{
	enum { N = 200000 };
	static uint32_t digest[N];
	struct fault_counts c;
	struct fault_spec s = spec_of(0.1, 0.2, 0.05, 7);
	run_decisions(&s, N, digest, &c);
	ck_assert_uint_eq(c.descs, N);
	near(c.dropped, 0.1 * N, "dropped");
	near(c.corrupted, 0.05 * 0.9 * N, "corrupted");
	near(c.duplicated, 0.2 * 0.9 * 0.95 * N, "duplicated");
	/* Certainty at the ends. */
	s = spec_of(1.0, 0, 0, 1);
	run_decisions(&s, 1000, digest, &c);
	ck_assert_uint_eq(c.dropped, 1000);
	s = spec_of(0, 1.0, 0, 1);
	run_decisions(&s, 1000, digest, &c);
	ck_assert_uint_eq(c.duplicated, 1000);
	s = spec_of(0, 0, 0, 1);
	run_decisions(&s, 1000, digest, &c);
	ck_assert_uint_eq(c.dropped + c.duplicated + c.corrupted, 0);
}
END_TEST

/* Batches through the injector, the hand-over and the receiver's checks, as link_xmit and
 * link_recv do them, without a transport in between. */
START_TEST(ownership_exact)
{
	struct fault_inj f;
	struct fault_spec s = spec_of(0.15, 0.25, 0.15, 2024);
	fault_inj_init(&f, &s);
	struct link_stats st = {0};
	struct link_rx_seq seq = {0};
	struct hist transit = {0};
	static uint8_t seen[1u << 16];
	uint64_t got_total = 0;
	enum { BATCHES = 400 };
	for (unsigned bn = 0; bn < BATCHES; bn++) {
		struct buf *bufs[DESC_BATCH_MAX], *chains[FAULT_WIRE_MAX], *own[FAULT_WIRE_MAX];
		struct desc d[DESC_BATCH_MAX];
		static struct desc_batch b;
		unsigned n = 1 + bn % DESC_BATCH_MAX;
		for (unsigned i = 0; i < n; i++)
			bufs[i] = frame(ptx, bn * DESC_BATCH_MAX + i, &d[i]);
		link_batch_fill(bufs, d, n);
		struct desc wire[FAULT_WIRE_MAX];
		unsigned m = fault_inj_apply(&f, ptx, bufs, d, n, chains, wire);
		for (unsigned at = 0; at < m; at += DESC_BATCH_MAX) {
			unsigned k = m - at < DESC_BATCH_MAX ? m - at : DESC_BATCH_MAX;
			unsigned o = link_batch_owned(chains + at, k, own);
			if (o)
				ck_assert_int_eq(pool_transfer(ptx, own, o, RX_SELF), 0);
			b = (struct desc_batch){.sender = TX_SELF, .seq = seq.valid ? seq.next : 0,
						.count = k};
			memcpy(b.d, wire + at, k * sizeof(wire[0]));
			struct buf *got[DESC_BATCH_MAX];
			struct desc gd[DESC_BATCH_MAX];
			unsigned g = link_batch_take(prx, TX_SELF, &b, &st, &seq, got, gd, &transit,
						     1);
			for (unsigned i = 0; i < g; i++) {
				uint32_t tag;
				memcpy(&tag, buf_data(got[i]), sizeof(tag));
				ck_assert_uint_eq(gd[i].saddr, tag); /* the descriptor is its own */
				ck_assert_uint_eq(gd[i].daddr, ~tag);
				ck_assert_uint_eq(gd[i].t_in, 1000 + tag);
				ck_assert_uint_eq(((const uint8_t *)buf_data(got[i]))[63],
						  (uint8_t)(tag * 7 + 63));
				ck_assert_uint_eq(seen[tag], 0); /* delivered once */
				seen[tag] = 1;
			}
			pool_free_burst(prx, got, g);
			got_total += g;
		}
	}
	ck_assert_uint_eq(st.rx_drop_corrupt, f.n.corrupted);
	ck_assert_uint_eq(st.rx_drop_stale, f.n.duplicated);
	ck_assert_uint_eq(got_total, f.n.descs - f.n.dropped - f.n.corrupted);
	ck_assert_uint_gt(f.n.dropped, 0);
	ck_assert_uint_gt(f.n.duplicated, 0);
	ck_assert_uint_gt(f.n.corrupted, 0);
	/* teardown: every buffer back on the free list, each freed exactly once (a double free
	 * would have left the free count above the total or failed pool_free's holder check) */
}
END_TEST

START_TEST(corruption_always_caught)
{
	struct desc d;
	struct buf *x = frame(ptx, 5, &d);
	link_batch_fill(&x, &d, 1);
	ck_assert(desc_sealed(&d));
	ck_assert_int_eq(pool_transfer(ptx, &x, 1, RX_SELF), 0);
	struct link_stats st = {0};
	struct link_rx_seq seq = {0};
	struct hist transit = {0};
	static struct desc_batch b;
	struct buf *got[DESC_BATCH_MAX];
	struct desc gd[DESC_BATCH_MAX];
	uint64_t rng = 99;
	unsigned pool_would_take = 0;
	enum { N = 200000 };
	for (unsigned i = 0; i < N; i++) {
		b = (struct desc_batch){.sender = TX_SELF, .seq = i, .count = 1, .d = {d}};
		fault_corrupt(&rng, &b.d[0]);
		ck_assert_int_ne(memcmp(&b.d[0], &d, sizeof(d)), 0);
		/* What the pool alone would say: the same buffer, generation and length. */
		if (b.d[0].buf == d.buf && b.d[0].gen == d.gen && b.d[0].len == d.len)
			pool_would_take++;
		ck_assert_uint_eq(link_batch_take(prx, TX_SELF, &b, &st, &seq, got, gd, &transit, 1),
				  0);
	}
	ck_assert_uint_eq(st.rx_drop_corrupt, N);
	ck_assert_uint_eq(st.rx_drop_stale, 0);
	/* Most damage is in fields the pool does not see: only the seal stops it. */
	ck_assert_uint_gt(pool_would_take, N / 2);
	/* The chain is still in flight to the receiver, untouched: the intact descriptor takes it. */
	b = (struct desc_batch){.sender = TX_SELF, .seq = N, .count = 1, .d = {d}};
	ck_assert_uint_eq(link_batch_take(prx, TX_SELF, &b, &st, &seq, got, gd, &transit, 1), 1);
	pool_free(&got[0]);
}
END_TEST

/* ---- the delay line on real links ---------------------------------------------------------- */

static void delay_on(enum link_kind kind)
{
	link_set_kind(kind);
	void *zctx = zmq_ctx_new();
	struct link *tx = NULL, *rx = NULL;
	ck_assert_int_eq(link_open_rx(zctx, prx, instance, TX_SELF, &rx), 0);
	ck_assert_int_eq(link_open_tx(zctx, ptx, instance, RX_SELF, &tx), 0);
	ck_assert_int_eq(link_wait_peer(tx, 2000), 0);
	struct link_faults *f;
	struct link *both[] = {tx, rx};
	ck_assert_int_eq(link_faults_create(NULL, both, 2, &f), 0);
	struct fault_spec s = spec_of(0, 0, 0, 1);
	s.delay_us = 50000;
	ck_assert_int_eq(link_faults_set_link(f, POOL_HOLDER_UDPD, &s, clock_now()), -ENOENT);
	ck_assert_int_eq(link_faults_set_link(f, RX_SELF, &s, clock_now()), 0);

	struct buf *bufs[DESC_BATCH_MAX], *got[DESC_BATCH_MAX];
	struct desc d[DESC_BATCH_MAX], gd[DESC_BATCH_MAX];
	uint64_t t0 = clock_now();
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 10; i++)
			bufs[i] = frame(ptx, round * 10 + i, &d[i]);
		ck_assert_int_eq(link_send(tx, bufs, d, 10), 10);
	}
	/* every descriptor was held at a time in [t0, t_sent]: due by t_sent + 50 ms */
	uint64_t t_sent = clock_now();
	ck_assert_uint_eq(link_faults_counts(f, RX_SELF)->delayed, 30);
	/* Nothing goes before its time. */
	ck_assert_uint_ne(link_faults_poll(f, t0), CLOCK_NEVER);
	usleep(20000);
	ck_assert_int_eq(link_recv(rx, got, gd, DESC_BATCH_MAX), -EAGAIN);
	/* All of it after, in order. */
	ck_assert_uint_eq(link_faults_poll(f, t_sent + 50 * CLOCK_NS_PER_MS), CLOCK_NEVER);
	unsigned n = 0;
	uint64_t deadline = clock_now() + 2000 * CLOCK_NS_PER_MS;
	while (n < 30 && clock_now() < deadline) {
		int g = link_recv(rx, got, gd, DESC_BATCH_MAX);
		for (int i = 0; i < g; i++) {
			ck_assert_uint_eq(gd[i].saddr, n++);
			pool_free(&got[i]);
		}
		if (g == -EAGAIN)
			usleep(1000);
	}
	ck_assert_uint_eq(n, 30);

	/* Clear sends what is held at once; close frees what is held. */
	for (unsigned i = 0; i < 5; i++)
		bufs[i] = frame(ptx, 100 + i, &d[i]);
	ck_assert_int_eq(link_send(tx, bufs, d, 5), 5);
	link_faults_clear(f, clock_now());
	ck_assert_ptr_null(link_faults_counts(f, RX_SELF));
	n = 0;
	deadline = clock_now() + 2000 * CLOCK_NS_PER_MS;
	while (n < 5 && clock_now() < deadline) {
		int g = link_recv(rx, got, gd, DESC_BATCH_MAX);
		for (int i = 0; i < g; i++, n++)
			pool_free(&got[i]);
		if (g == -EAGAIN)
			usleep(1000);
	}
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(link_faults_set_link(f, RX_SELF, &s, clock_now()), 0);
	for (unsigned i = 0; i < 7; i++)
		bufs[i] = frame(ptx, 200 + i, &d[i]);
	ck_assert_int_eq(link_send(tx, bufs, d, 7), 7);
	ck_assert_uint_eq(pool_free_count(ptx), TPOOL_COUNT - 7);
	link_faults_destroy(&f);
	link_close(&tx); /* the 7 held ones are freed */
	link_close(&rx);
	zmq_ctx_term(zctx);
}

START_TEST(delay_zmq) { delay_on(LINK_KIND_ZMQ); }
END_TEST

START_TEST(delay_shm)
{
	shm_obj_unlink(instance, "ipd-to-tcpd");
	delay_on(LINK_KIND_SHM);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("link_fault");
	TCase *tc = tcase_create("link_fault");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, spec_checks);
	tcase_add_test(tc, seeded_reproducible);
	tcase_add_test(tc, probabilities_honoured);
	tcase_add_test(tc, ownership_exact);
	tcase_add_test(tc, corruption_always_caught);
	tcase_add_test(tc, delay_zmq);
	tcase_add_test(tc, delay_shm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return tcheck_run(suite()); }
