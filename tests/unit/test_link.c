/* test_link: descriptor links end to end — buffers handed over, drops counted, nothing leaked.
 *
 * Both ends run in one process on one named pool attached twice: the sender's view acts as ipd,
 * the receiver's as tcpd, exactly the holder checks two processes would make. One test forks a
 * real receiver process to cover the cross-process case. Adversarial input (garbage, forged or
 * stale descriptors, sequence jumps) is injected through a raw ZeroMQ PUSH socket connected to
 * the receiver's endpoint, i.e. what a broken or stale peer could put on the wire.
 *
 * Every test ends with the pool back at its idle free count (STYLE rule 16). The runtime
 * directory is a mkdtemp directory set as USTACK_RUNTIME_DIR; it and the shared-memory object are
 * removed by an unchecked (parent-side) teardown, so a failed test leaves nothing behind.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "buf.h"
#include "clock.h"
#include "desc.h"
#include "helper_check.h"
#include "helper_pool.h"
#include "link.h"
#include "paths.h"
#include "pool.h"
#include "shm_dir.h"

#define TX_SELF POOL_HOLDER_IPD
#define RX_SELF POOL_HOLDER_TCPD
#define TPOOL_COUNT 16384u

static char rundir[64];
static char instance[32];

static void *zctx;
static struct pool *ptx; /* sender's view (ipd) */
static struct pool *prx; /* receiver's view (tcpd) */
static struct link *tx, *rx;

/* Parent side, once per test case: a private runtime dir and an instance name of our own. */
static void suite_setup(void)
{
	snprintf(rundir, sizeof(rundir), "/tmp/ustack-link-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(rundir));
	setenv("USTACK_RUNTIME_DIR", rundir, 1);
	snprintf(instance, sizeof(instance), "tlink%ld", (long)getpid());
}

static void suite_teardown(void)
{
	char cmd[128];
	shm_dir_remove(instance);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rundir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_link: could not remove %s\n", rundir);
}

/* Child side, per test: fresh pool (a previous failed test may have left one) and context. */
static void setup(void)
{
	struct pool_geometry geo = { .count = TPOOL_COUNT };
	pool_unlink(instance);
	ck_assert_int_eq(pool_open(instance, &geo, TX_SELF, &ptx), 0);
	ck_assert_int_eq(pool_open(instance, &geo, RX_SELF, &prx), 0);
	zctx = zmq_ctx_new();
	ck_assert_ptr_nonnull(zctx);
	tx = rx = NULL;
}

static void teardown(void)
{
	link_close(&tx);
	link_close(&rx);
	ck_assert_ptr_null(tx);
	zmq_ctx_term(zctx);
	tpool_assert_idle(ptx);
	pool_close(&ptx);
	pool_close(&prx);
	pool_unlink(instance);
}

static void wait_connected(struct link *l)
{
	/* With ZMQ_IMMEDIATE a PUSH is writable only once a receiver is connected. */
	zmq_pollitem_t it = { .socket = link_socket(l), .events = ZMQ_POLLOUT };
	ck_assert_int_eq(zmq_poll(&it, 1, 2000), 1);
}

static void wait_readable(struct link *l)
{
	zmq_pollitem_t it = { .socket = link_socket(l), .events = ZMQ_POLLIN };
	ck_assert_int_eq(zmq_poll(&it, 1, 2000), 1);
}

static void open_both(void)
{
	ck_assert_int_eq(link_open_rx(zctx, prx, instance, TX_SELF, &rx), 0);
	ck_assert_int_eq(link_open_tx(zctx, ptx, instance, RX_SELF, &tx), 0);
	wait_connected(tx);
}

/* A raw PUSH connected to the receiver's endpoint, for injecting arbitrary messages. */
static void *raw_push(void)
{
	char ep[256];
	ck_assert_int_eq(link_endpoint(instance, TX_SELF, RX_SELF, ep, sizeof(ep)), 0);
	void *s = zmq_socket(zctx, ZMQ_PUSH);
	int zero = 0, one = 1;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one));
	ck_assert_int_eq(zmq_connect(s, ep), 0);
	zmq_pollitem_t it = { .socket = s, .events = ZMQ_POLLOUT };
	ck_assert_int_eq(zmq_poll(&it, 1, 2000), 1);
	return s;
}

static void raw_send(void *s, const void *msg, size_t len)
{
	ck_assert_int_eq(zmq_send(s, msg, len, 0), (int)len);
}

/* Sealed as a sender seals them (desc_seal): these tests are about what the pool refuses; a
 * descriptor damaged after its seal is test_link_fault.c's. */
static void raw_send_batch(void *s, const struct desc_batch *b)
{
	uint8_t m[4096];
	struct desc_batch sealed = *b;
	for (uint32_t i = 0; i < sealed.count && i < DESC_BATCH_MAX; i++)
		desc_seal(&sealed.d[i]);
	b = &sealed;
	int n = desc_batch_encode(b, m, sizeof(m));
	ck_assert_int_gt(n, 0);
	raw_send(s, m, (size_t)n);
}

/* Receive one batch, waiting for it to arrive. */
static int recv_one(struct link *l, struct buf **bufs, struct desc *descs)
{
	wait_readable(l);
	return link_recv(l, bufs, descs, DESC_BATCH_MAX);
}

static struct buf *frame(struct pool *p, unsigned i, size_t len)
{
	uint8_t bytes[POOL_DATA_ROOM];
	for (size_t j = 0; j < len; j++)
		bytes[j] = (uint8_t)(i * 31 + j);
	return tpool_frame(p, bytes, len);
}

static uint32_t held_by(struct pool *p, enum pool_holder h)
{
	uint32_t counts[POOL_HOLDER_COUNT];
	pool_holder_counts(p, counts);
	return counts[h];
}

START_TEST(endpoint_and_names)
{
	char ep[256], want[256];
	ck_assert_int_eq(link_endpoint(instance, POOL_HOLDER_NICD, POOL_HOLDER_IPD, ep, sizeof(ep)),
			 0);
	snprintf(want, sizeof(want), "ipc://%s/%s/nicd-to-ipd.desc", rundir, instance);
	ck_assert_str_eq(ep, want);
	ck_assert_int_eq(link_endpoint(instance, POOL_HOLDER_NICD, POOL_HOLDER_IPD, ep, 10),
			 -ENAMETOOLONG);
	ck_assert_int_eq(link_endpoint(instance, POOL_HOLDER_FREE, POOL_HOLDER_IPD, ep, sizeof(ep)),
			 -EINVAL);
	ck_assert_int_eq(link_endpoint(instance, POOL_HOLDER_IPD, POOL_HOLDER_COUNT, ep,
				       sizeof(ep)),
			 -EINVAL);
	ck_assert_int_eq(link_endpoint("bad/name", POOL_HOLDER_IPD, POOL_HOLDER_TCPD, ep,
				       sizeof(ep)),
			 -EINVAL);
	ck_assert_str_eq(link_layer_name(POOL_HOLDER_NICD), "nicd");
	ck_assert_str_eq(link_layer_name(POOL_HOLDER_IPD), "ipd");
	ck_assert_str_eq(link_layer_name(POOL_HOLDER_TCPD), "tcpd");
	ck_assert_str_eq(link_layer_name(POOL_HOLDER_UDPD), "udpd");
	ck_assert_str_eq(link_layer_name(POOL_HOLDER_TOOL), "tool");
	ck_assert_str_eq(link_layer_name((enum pool_holder)99), "unknown");
	/* A link to oneself is refused. */
	ck_assert_int_eq(link_open_tx(zctx, ptx, instance, TX_SELF, &tx), -EINVAL);
	ck_assert_int_eq(link_open_rx(zctx, prx, instance, RX_SELF, &rx), -EINVAL);
	ck_assert_ptr_null(tx);
}
END_TEST

START_TEST(send_recv_round_trip)
{
	struct buf *bufs[DESC_BATCH_MAX];
	struct desc descs[DESC_BATCH_MAX], sent[DESC_BATCH_MAX];
	struct buf *got[DESC_BATCH_MAX];
	struct desc gd[DESC_BATCH_MAX];

	open_both();
	for (unsigned i = 0; i < DESC_BATCH_MAX; i++) {
		bufs[i] = frame(ptx, i, 60 + i * 20);
		descs[i] = (struct desc){ .l3_off = 0, .l4_off = 20, .flags = DESC_F_CSUM_VERIFIED,
					  .saddr = 0x0100000au + i, .daddr = 0x0200000au,
					  .proto = 6, .ttl = (uint8_t)i, .tos = 0x10 };
	}
	/* One chain across two buffers: len is the chain's, not the head's. */
	uint8_t more[2500]; /* more than one buffer's room, so a second buffer is certain */
	memset(more, 0xab, sizeof(more));
	ck_assert_int_eq(buf_append_data(bufs[7], more, sizeof(more)), 0);
	ck_assert_uint_ge(buf_chain_count(bufs[7]), 2);
	unsigned chained = buf_chain_count(bufs[7]) - 1;
	uint32_t idx7 = buf_index(bufs[7]);

	ck_assert_int_eq(link_send(tx, bufs, descs, DESC_BATCH_MAX), (int)DESC_BATCH_MAX);
	for (unsigned i = 0; i < DESC_BATCH_MAX; i++)
		ck_assert_ptr_null(bufs[i]);
	memcpy(sent, descs, sizeof(sent));
	ck_assert_uint_eq(held_by(ptx, TX_SELF), 0);
	ck_assert_uint_eq(held_by(ptx, RX_SELF), DESC_BATCH_MAX + chained);
	ck_assert_uint_eq(link_stats(tx)->tx_batches, 1);
	ck_assert_uint_eq(link_stats(tx)->tx_descs, DESC_BATCH_MAX);

	ck_assert_int_eq(recv_one(rx, got, gd), (int)DESC_BATCH_MAX);
	for (unsigned i = 0; i < DESC_BATCH_MAX; i++) {
		ck_assert_uint_eq(gd[i].buf, sent[i].buf);
		ck_assert_uint_eq(gd[i].gen, sent[i].gen);
		ck_assert_uint_eq(gd[i].len, i == 7 ? 60 + 7 * 20 + 2500 : 60 + i * 20);
		ck_assert_uint_eq(gd[i].len, sent[i].len);
		ck_assert_uint_eq(gd[i].l4_off, 20);
		ck_assert_uint_eq(gd[i].flags, DESC_F_CSUM_VERIFIED);
		ck_assert_uint_eq(gd[i].saddr, 0x0100000au + i);
		ck_assert_uint_eq(gd[i].ttl, i);
		ck_assert_uint_eq(gd[i].proto, 6);
		/* The receiver's own handle, into its own mapping, with the sender's bytes. */
		ck_assert_ptr_eq(got[i]->pool, prx);
		ck_assert_uint_eq(buf_index(got[i]), sent[i].buf);
		ck_assert_uint_eq(buf_chain_len(got[i]), gd[i].len);
		ck_assert_uint_eq(buf_data(got[i])[5], (uint8_t)(i * 31 + 5));
	}
	ck_assert_uint_eq(buf_index(got[7]), idx7);
	ck_assert_ptr_nonnull(buf_next(got[7]));
	ck_assert_uint_eq(held_by(prx, RX_SELF), DESC_BATCH_MAX + chained);
	const struct link_stats *st = link_stats(rx);
	ck_assert_uint_eq(st->rx_batches, 1);
	ck_assert_uint_eq(st->rx_descs, DESC_BATCH_MAX);
	ck_assert_uint_eq(st->rx_drop_badmsg + st->rx_drop_stale + st->rx_seq_gaps, 0);

	/* Nothing more waiting. */
	ck_assert_int_eq(link_recv(rx, got + 0, gd, DESC_BATCH_MAX), -EAGAIN);
	pool_free_burst(prx, got, DESC_BATCH_MAX);
}
END_TEST

/* Latency: t_in crosses unchanged, the receiver stamps t_arr with its batch time, the sender
 * counts time inside its layer for stamped descriptors only, the receiver transit per
 * descriptor. */
START_TEST(latency_stamps_and_histograms)
{
	struct buf *bufs[4], *got[DESC_BATCH_MAX];
	struct desc descs[4], gd[DESC_BATCH_MAX];

	open_both();
	ck_assert_str_eq(link_hist_name(tx), "inside_to_tcpd");
	ck_assert_str_eq(link_hist_name(rx), "transit_from_ipd");
	uint64_t before = clock_now();
	for (unsigned i = 0; i < 4; i++) {
		bufs[i] = frame(ptx, i, 60);
		/* two arrived 1 ms ago, two carry no arrival time (nothing to measure) */
		descs[i] = (struct desc){ .t_in = before - 5 * CLOCK_NS_PER_MS - i,
					  .t_arr = i < 2 ? before - CLOCK_NS_PER_MS : 0 };
	}
	ck_assert_int_eq(link_send(tx, bufs, descs, 4), 4);
	const struct hist *in = link_hist(tx);
	ck_assert_uint_eq(hist_count(in), 2);
	uint64_t q = hist_quantile(in, 0.5);
	ck_assert_uint_ge(q, CLOCK_NS_PER_MS * 7 / 8);
	ck_assert_uint_lt(q, CLOCK_NS_PER_MS * 2 + clock_now() - before);

	ck_assert_int_eq(recv_one(rx, got, gd), 4);
	uint64_t after = clock_now();
	for (unsigned i = 0; i < 4; i++) {
		ck_assert_uint_eq(gd[i].t_in, before - 5 * CLOCK_NS_PER_MS - i);
		ck_assert_uint_ge(gd[i].t_arr, before);
		ck_assert_uint_le(gd[i].t_arr, after);
		ck_assert_uint_eq(gd[i].t_arr, gd[0].t_arr); /* one clock read per batch */
	}
	const struct hist *tr = link_hist(rx);
	ck_assert_uint_eq(hist_count(tr), 4); /* per descriptor */
	ck_assert_uint_le(hist_quantile(tr, 1.0), (after - before) * 9 / 8 + 1);
	pool_free_burst(prx, got, 4);
}
END_TEST

START_TEST(many_batches_in_order)
{
	struct buf *bufs[8], *got[DESC_BATCH_MAX];
	struct desc descs[8], gd[DESC_BATCH_MAX];

	open_both();
	for (unsigned b = 0; b < 100; b++) {
		unsigned n = 1 + b % 8;
		for (unsigned i = 0; i < n; i++) {
			bufs[i] = frame(ptx, b, 40 + b);
			descs[i] = (struct desc){ .proto = 17 };
		}
		/* Poll for room as a sender's loop does: ZeroMQ returns credit lazily, and a
		 * tight loop of 100 sends would otherwise outrun it. */
		wait_connected(tx);
		ck_assert_int_eq(link_send(tx, bufs, descs, n), (int)n);
		ck_assert_int_eq(recv_one(rx, got, gd), (int)n);
		for (unsigned i = 0; i < n; i++)
			ck_assert_uint_eq(gd[i].len, 40 + b);
		pool_free_burst(prx, got, n);
	}
	ck_assert_uint_eq(link_stats(rx)->rx_batches, 100);
	ck_assert_uint_eq(link_stats(rx)->rx_seq_gaps, 0);
	/* n == 0 sends nothing. */
	ck_assert_int_eq(link_send(tx, bufs, descs, 0), 0);
	ck_assert_uint_eq(link_stats(tx)->tx_batches, 100);
}
END_TEST

/* Send `batches` batches of `per` descriptors, numbered in order by their length. */
static void send_numbered(unsigned batches, unsigned per, unsigned *next)
{
	struct buf *bufs[DESC_BATCH_MAX];
	struct desc descs[DESC_BATCH_MAX];
	for (unsigned b = 0; b < batches; b++) {
		for (unsigned i = 0; i < per; i++) {
			bufs[i] = frame(ptx, *next, 40 + *next % 1000);
			descs[i] = (struct desc){ .proto = 17 };
			(*next)++;
		}
		if (link_socket(tx))
			wait_connected(tx); /* ZeroMQ returns credit lazily */
		ck_assert_int_eq(link_send(tx, bufs, descs, per), (int)per);
	}
}

/* Each received descriptor is the next one sent; frees them. */
static void check_numbered(struct buf **got, struct desc *gd, int n, unsigned *next)
{
	for (int i = 0; i < n; i++) {
		ck_assert_uint_eq(gd[i].len, 40 + *next % 1000);
		(*next)++;
	}
	pool_free_burst(prx, got, (unsigned)n);
}

/* Coalescing (link.c, "Receiving"): given LINK_RECV_MAX entries, link_recv takes every batch
 * already waiting while a whole batch still fits, in order, each accounted on its own; given
 * DESC_BATCH_MAX, one batch as before. Over a ring, where a sent batch is waiting as soon as
 * link_send returns, the counts are exact. */
START_TEST(recv_coalesces_waiting_batches_ring)
{
	struct buf *got[LINK_RECV_MAX];
	struct desc gd[LINK_RECV_MAX];
	unsigned sent = 0, seen = 0;

	link_set_kind(LINK_KIND_SHM);
	ck_assert_int_eq(link_open_rx(zctx, prx, instance, TX_SELF, &rx), 0);
	ck_assert_int_eq(link_open_tx(zctx, ptx, instance, RX_SELF, &tx), 0);
	link_set_kind(LINK_KIND_ZMQ);
	ck_assert_ptr_null(link_socket(rx));

	/* 30 batches of 2: one call with room for one batch takes one */
	send_numbered(30, 2, &sent);
	int n = link_recv(rx, got, gd, DESC_BATCH_MAX);
	ck_assert_int_eq(n, 2);
	check_numbered(got, gd, n, &seen);
	/* and one with LINK_RECV_MAX takes the 29 others */
	n = link_recv(rx, got, gd, LINK_RECV_MAX);
	ck_assert_int_eq(n, 58);
	check_numbered(got, gd, n, &seen);
	ck_assert_int_eq(link_recv(rx, got, gd, LINK_RECV_MAX), -EAGAIN);

	/* full batches: four fit (the fifth would not), the fifth comes next */
	send_numbered(5, DESC_BATCH_MAX, &sent);
	n = link_recv(rx, got, gd, LINK_RECV_MAX);
	ck_assert_int_eq(n, 4 * DESC_BATCH_MAX);
	check_numbered(got, gd, n, &seen);
	n = link_recv(rx, got, gd, LINK_RECV_MAX);
	ck_assert_int_eq(n, DESC_BATCH_MAX);
	check_numbered(got, gd, n, &seen);

	/* a batch of 63 after one of 64 leaves room 192: taken; one of 64 then: taken too
	 * (room 129 >= 64); then room 65 >= 64 takes one more of 64 */
	send_numbered(1, 64, &sent);
	send_numbered(1, 63, &sent);
	send_numbered(3, 64, &sent);
	n = link_recv(rx, got, gd, LINK_RECV_MAX);
	ck_assert_int_eq(n, 64 + 63 + 64 + 64);
	check_numbered(got, gd, n, &seen);
	n = link_recv(rx, got, gd, LINK_RECV_MAX);
	ck_assert_int_eq(n, 64);
	check_numbered(got, gd, n, &seen);
	ck_assert_uint_eq(seen, sent);
	ck_assert_uint_eq(link_stats(rx)->rx_batches, 30 + 5 + 5);
	ck_assert_uint_eq(link_stats(rx)->rx_seq_gaps, 0);
}
END_TEST

/* The same over ZeroMQ, where a message reaches the receiver's queue some time after the send:
 * every descriptor arrives once, in order, each batch accounted, in fewer calls than batches
 * once they are all queued. */
START_TEST(recv_coalesces_waiting_batches_zmq)
{
	struct buf *got[LINK_RECV_MAX];
	struct desc gd[LINK_RECV_MAX];
	unsigned sent = 0, seen = 0, calls = 0;

	open_both();
	send_numbered(40, 3, &sent);
	while (seen < sent) {
		wait_readable(rx);
		int n = link_recv(rx, got, gd, LINK_RECV_MAX);
		if (n == -EAGAIN)
			continue;
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(n % 3, 0); /* whole batches only */
		check_numbered(got, gd, n, &seen);
		calls++;
	}
	ck_assert_uint_eq(seen, 120);
	ck_assert_uint_le(calls, 40);
	ck_assert_uint_eq(link_stats(rx)->rx_batches, 40);
	ck_assert_int_eq(link_recv(rx, got, gd, LINK_RECV_MAX), -EAGAIN);
}
END_TEST

START_TEST(send_without_receiver_drops_and_frees)
{
	struct buf *bufs[DESC_BATCH_MAX];
	struct desc descs[DESC_BATCH_MAX];

	ck_assert_int_eq(link_open_tx(zctx, ptx, instance, RX_SELF, &tx), 0);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 10; i++) {
			bufs[i] = frame(ptx, i, 100);
			descs[i] = (struct desc){ 0 };
		}
		ck_assert_int_eq(link_send(tx, bufs, descs, 10), -EAGAIN);
		for (unsigned i = 0; i < 10; i++)
			ck_assert_ptr_null(bufs[i]);
		tpool_assert_idle(ptx);
	}
	ck_assert_uint_eq(link_stats(tx)->tx_drop_full, 30);
	ck_assert_uint_eq(link_stats(tx)->tx_batches, 0);
}
END_TEST

START_TEST(send_caller_bugs_change_nothing)
{
	struct buf *bufs[DESC_BATCH_MAX + 1];
	struct desc descs[DESC_BATCH_MAX + 1];

	open_both();
	for (unsigned i = 0; i <= DESC_BATCH_MAX; i++) {
		bufs[i] = frame(ptx, i, 10);
		descs[i] = (struct desc){ 0 };
	}
	ck_assert_int_eq(link_send(tx, bufs, descs, DESC_BATCH_MAX + 1), -EINVAL);
	ck_assert_ptr_nonnull(bufs[0]);
	/* A chain we do not hold: refused, nothing moved. */
	struct buf *first = bufs[0];
	ck_assert_int_eq(pool_transfer(ptx, &first, 1, POOL_HOLDER_UDPD), 0);
	ck_assert_int_eq(link_send(tx, bufs, descs, 2), -EPERM);
	ck_assert_ptr_nonnull(bufs[1]);
	ck_assert_uint_eq(held_by(ptx, TX_SELF), DESC_BATCH_MAX);
	ck_assert_int_eq(pool_transfer_back(ptx, &first, 1, POOL_HOLDER_UDPD), 1);
	/* Receiving on a tx link and the reverse are refused. */
	ck_assert_int_eq(link_recv(tx, bufs, descs, DESC_BATCH_MAX), -EOPNOTSUPP);
	ck_assert_int_eq(link_recv(rx, bufs, descs, DESC_BATCH_MAX - 1), -EINVAL);
	ck_assert_int_eq(link_send(rx, bufs, descs, 1), -EOPNOTSUPP);
	pool_free_burst(ptx, bufs, DESC_BATCH_MAX + 1);
}
END_TEST

START_TEST(queue_full_drops_and_frees)
{
	/* Send single-descriptor batches with nobody reading until the link refuses: HWMs and the
	 * kernel socket buffer bound what may queue, then sends fail fast and free. */
	struct buf *b, *got[DESC_BATCH_MAX];
	struct desc d, gd[DESC_BATCH_MAX];
	unsigned sent = 0, dropped = 0;

	open_both();
	for (unsigned i = 0; i < 20000 && dropped < 50; i++) {
		b = frame(ptx, i, 20);
		d = (struct desc){ 0 };
		int rc = link_send(tx, &b, &d, 1);
		ck_assert_ptr_null(b);
		if (rc == 1) {
			sent++;
		} else {
			ck_assert_int_eq(rc, -EAGAIN);
			dropped++;
		}
		ck_assert_uint_gt(pool_free_count(ptx), 0);
	}
	ck_assert_uint_eq(dropped, 50);
	ck_assert_uint_eq(link_stats(tx)->tx_drop_full, 50);
	ck_assert_uint_eq(link_stats(tx)->tx_batches, sent);
	ck_assert_uint_eq(held_by(ptx, RX_SELF), sent);

	/* Everything that was accepted arrives, in order, with no gap: drops were the sender's. */
	unsigned received = 0;
	while (received < sent) {
		int n = recv_one(rx, got, gd);
		ck_assert_int_eq(n, 1);
		pool_free(&got[0]);
		received++;
	}
	ck_assert_uint_eq(link_stats(rx)->rx_seq_gaps, 0);
}
END_TEST

/* Back-pressure: room while the peer takes batches, WAIT while it is connected and full, DROP
 * once a wait has lasted LINK_WAIT_MAX_MS (until the peer takes a batch again) and while no peer
 * is connected at all. Time is the caller's, so the expiry is driven by hand. */
START_TEST(room_wait_expire_and_absent_peer)
{
	struct buf *b, *got[DESC_BATCH_MAX];
	struct desc d, gd[DESC_BATCH_MAX];
	const uint64_t ms = CLOCK_NS_PER_MS;
	uint64_t now = 1000 * ms;

	/* No receiver bound yet: absent, so never worth waiting for. */
	ck_assert_int_eq(link_open_tx(zctx, ptx, instance, RX_SELF, &tx), 0);
	ck_assert_int_eq(link_room(tx, now), LINK_ROOM_DROP);
	ck_assert_uint_eq(link_room_recheck(tx, now), CLOCK_NEVER);
	ck_assert_int_eq(link_open_rx(zctx, prx, instance, TX_SELF, &rx), 0);
	wait_connected(tx);
	ck_assert_int_eq(link_room(tx, now), LINK_ROOM_YES);
	/* The handshake event comes through the monitor's inproc socket, possibly a moment after
	 * the PUSH became writable: wait for it rather than race it. */
	ck_assert_int_eq(link_wait_peer(tx, 2000), 0);
	ck_assert(link_peer_up(tx));

	/* Fill it with nobody reading: every send made while link_room said YES goes through.
	 * ZeroMQ's I/O thread goes on moving messages to the receiver's queue for a moment after
	 * the PUSH first refuses, which gives credit back: fill until it stays refused. (Every
	 * call uses the same `now`, so the wait starts there however often it begins anew.) */
	unsigned sent = 0, quiet = 0;
	while (quiet < 3) {
		while (link_room(tx, now) == LINK_ROOM_YES) {
			b = frame(ptx, sent, 20);
			d = (struct desc){ 0 };
			ck_assert_int_eq(link_send(tx, &b, &d, 1), 1);
			sent++;
			ck_assert_uint_lt(sent, 20000);
			quiet = 0;
		}
		usleep(20000);
		quiet++;
	}
	ck_assert_uint_eq(link_stats(tx)->tx_drop_full, 0);
	ck_assert_uint_ge(link_stats(tx)->tx_waits, 1);
	uint64_t waits = link_stats(tx)->tx_waits;
	/* Rechecked soon (the peer may die unseen), and at the end of the wait at the latest. */
	ck_assert_uint_eq(link_room_recheck(tx, now), now + LINK_WAIT_RECHECK_MS * ms);
	ck_assert_uint_eq(link_room_recheck(tx, now + (LINK_WAIT_MAX_MS - 1) * ms),
			  now + LINK_WAIT_MAX_MS * ms);
	ck_assert_int_eq(link_room(tx, now + (LINK_WAIT_MAX_MS - 1) * ms), LINK_ROOM_WAIT);
	/* A peer full for the whole bound counts as stalled: no more waiting for it. */
	ck_assert_int_eq(link_room(tx, now + LINK_WAIT_MAX_MS * ms), LINK_ROOM_DROP);
	ck_assert_int_eq(link_room(tx, now + 2 * LINK_WAIT_MAX_MS * ms), LINK_ROOM_DROP);
	ck_assert_uint_eq(link_stats(tx)->tx_wait_expired, 1);
	ck_assert_uint_eq(link_stats(tx)->tx_waits, waits);

	/* The receiver drains: room again, and a later fill waits again. */
	for (unsigned received = 0; received < sent; received++) {
		ck_assert_int_eq(recv_one(rx, got, gd), 1);
		pool_free(&got[0]);
	}
	zmq_pollitem_t it = { .socket = link_socket(tx), .events = ZMQ_POLLOUT };
	ck_assert_int_eq(zmq_poll(&it, 1, 2000), 1);
	ck_assert_int_eq(link_room(tx, now), LINK_ROOM_YES);
	b = frame(ptx, 0, 20);
	d = (struct desc){ 0 };
	ck_assert_int_eq(link_send(tx, &b, &d, 1), 1);
	ck_assert_int_eq(recv_one(rx, got, gd), 1);
	pool_free(&got[0]);

	/* The receiver goes away: its disconnect is seen, and the link is not waited for. */
	link_close(&rx);
	uint64_t t0 = clock_now();
	while (link_peer_up(tx) && clock_now() - t0 < 2000 * ms)
		usleep(1000);
	ck_assert(!link_peer_up(tx));
	ck_assert_int_eq(link_room(tx, now), LINK_ROOM_DROP);
}
END_TEST

/* A receiver restarted (tcpd killed and started again at the same endpoint): the sender
 * reconnects at its own next try (LINK_RECONNECT_MS), and until then what it sends the new
 * receiver is dropped. The receiving end's link_wait_peer sees that reconnection, as
 * xport_shell needs before a restarted transport sends what ipd must answer. */
START_TEST(restarted_receiver_sees_the_sender_reconnect)
{
	struct buf *b, *got[DESC_BATCH_MAX];
	struct desc d, gd[DESC_BATCH_MAX];
	const uint64_t ms = CLOCK_NS_PER_MS;

	open_both();
	ck_assert_int_eq(link_wait_peer(rx, 2000), 0);
	ck_assert(link_peer_up(rx));
	ck_assert_int_eq(link_wait_peer(tx, 2000), 0);
	link_close(&rx);
	uint64_t t0 = clock_now();
	while (link_peer_up(tx) && clock_now() - t0 < 2000 * ms)
		usleep(1000);
	ck_assert(!link_peer_up(tx));
	/* the new receiver: its own monitor, no handshake until the sender's retry lands */
	ck_assert_int_eq(link_open_rx(zctx, prx, instance, TX_SELF, &rx), 0);
	ck_assert_int_eq(link_wait_peer(rx, 2000), 0);
	ck_assert(link_peer_up(rx));
	wait_connected(tx);
	b = frame(ptx, 1, 20);
	d = (struct desc){ 0 };
	ck_assert_int_eq(link_send(tx, &b, &d, 1), 1);
	ck_assert_int_eq(recv_one(rx, got, gd), 1);
	pool_free(&got[0]);
	ck_assert_uint_eq(link_stats(tx)->tx_drop_full, 0);
}
END_TEST

START_TEST(stale_after_receiver_reclaim)
{
	/* The receiver restarts and reclaims everything it held, including buffers whose
	 * descriptors are still queued: those descriptors are now stale and must be dropped. */
	struct buf *bufs[4], *got[DESC_BATCH_MAX];
	struct desc descs[4], gd[DESC_BATCH_MAX];

	open_both();
	for (unsigned i = 0; i < 4; i++) {
		bufs[i] = frame(ptx, i, 64);
		descs[i] = (struct desc){ 0 };
	}
	ck_assert_int_eq(link_send(tx, bufs, descs, 4), 4);
	wait_readable(rx);
	ck_assert_uint_eq(pool_reclaim(prx, RX_SELF), 4);
	tpool_assert_idle(ptx);
	ck_assert_int_eq(link_recv(rx, got, gd, DESC_BATCH_MAX), 0);
	ck_assert_uint_eq(link_stats(rx)->rx_drop_stale, 4);
	ck_assert_uint_eq(link_stats(rx)->rx_descs, 0);
	ck_assert_uint_eq(link_stats(rx)->rx_batches, 1);

	/* Reused since: same index, new generation, held by the sender again. Still stale. */
	for (unsigned i = 0; i < 4; i++) {
		bufs[i] = frame(ptx, i, 64);
		descs[i] = (struct desc){ 0 };
	}
	ck_assert_int_eq(link_send(tx, bufs, descs, 4), 4);
	ck_assert_int_eq(recv_one(rx, got, gd), 4);
	pool_free_burst(prx, got, 4);
}
END_TEST

START_TEST(forged_descriptors_dropped)
{
	struct buf *got[DESC_BATCH_MAX];
	struct desc gd[DESC_BATCH_MAX];
	struct desc_batch b = { .sender = TX_SELF, .seq = 0 };

	open_both();
	void *raw = raw_push();
	/* A real buffer handed to the receiver, named correctly once, then wrongly. */
	struct buf *ok = frame(ptx, 1, 100);
	struct buf *odd = frame(ptx, 2, 100);
	struct buf *pair[2] = { ok, odd };
	ck_assert_int_eq(pool_transfer(ptx, pair, 2, RX_SELF), 0);

	b.count = 6;
	b.d[0] = (struct desc){ .buf = buf_index(ok), .gen = buf_gen(ok) + 1, .len = 100 };
	b.d[1] = (struct desc){ .buf = TPOOL_COUNT, .gen = 0, .len = 100 };      /* out of range */
	b.d[2] = (struct desc){ .buf = UINT32_MAX, .gen = 0, .len = 0 };
	b.d[3] = (struct desc){ .buf = buf_index(ok), .gen = buf_gen(ok), .len = 99 }; /* len */
	/* Ours, but offsets outside the data: taken and freed, not handed to the layer. */
	b.d[4] = (struct desc){ .buf = buf_index(odd), .gen = buf_gen(odd), .len = 100,
				.flags = DESC_F_CSUM_NEEDED, .csum_start = 90, .csum_offset = 16 };
	b.d[5] = (struct desc){ .buf = buf_index(ok), .gen = buf_gen(ok), .len = 100,
				.l3_off = 14, .l4_off = 34 };
	raw_send_batch(raw, &b);
	ck_assert_int_eq(recv_one(rx, got, gd), 1);
	ck_assert_uint_eq(buf_index(got[0]), buf_index(ok));
	ck_assert_uint_eq(gd[0].l4_off, 34);
	ck_assert_uint_eq(link_stats(rx)->rx_drop_stale, 5);
	ck_assert_uint_eq(held_by(prx, RX_SELF), 1); /* odd was freed */
	pool_free(&got[0]);

	/* Offsets past the data and unknown GSO types, each on a fresh buffer. */
	const struct desc bad[] = {
		{ .l3_off = 101 },
		{ .l4_off = 0xffff },
		{ .gso_type = 2, .gso_size = 1000 },
		{ .flags = DESC_F_CSUM_NEEDED, .csum_start = 0, .csum_offset = 99 },
	};
	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct buf *x = frame(ptx, k, 100);
		ck_assert_int_eq(pool_transfer(ptx, &x, 1, RX_SELF), 0);
		b.seq++;
		b.count = 1;
		b.d[0] = bad[k];
		b.d[0].buf = buf_index(x);
		b.d[0].gen = buf_gen(x);
		b.d[0].len = 100;
		raw_send_batch(raw, &b);
		ck_assert_int_eq(recv_one(rx, got, gd), 0);
	}
	ck_assert_uint_eq(link_stats(rx)->rx_drop_stale, 5 + 4);
	zmq_close(raw);
}
END_TEST

START_TEST(garbage_counted_link_survives)
{
	struct buf *bufs[2], *got[DESC_BATCH_MAX];
	struct desc descs[2], gd[DESC_BATCH_MAX];
	static uint8_t junk[8192];

	open_both();
	void *raw = raw_push();
	uint64_t seed = 7;
	for (size_t i = 0; i < sizeof(junk); i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		junk[i] = (uint8_t)(seed >> 56);
	}
	raw_send(raw, junk, 100);                                   /* does not parse */
	raw_send(raw, junk, 0);                                     /* empty */
	raw_send(raw, junk, desc_batch_max_size(DESC_BATCH_MAX) + 1); /* larger than any batch */
	raw_send(raw, junk, sizeof(junk));
	struct desc_batch wrong = { .sender = POOL_HOLDER_UDPD, .count = 0 }; /* not our peer */
	raw_send_batch(raw, &wrong);
	for (unsigned i = 0; i < 5; i++)
		ck_assert_int_eq(recv_one(rx, got, gd), 0);
	ck_assert_uint_eq(link_stats(rx)->rx_drop_badmsg, 5);
	ck_assert_uint_eq(link_stats(rx)->rx_batches, 0);
	zmq_close(raw);

	/* The link itself is unharmed. */
	for (unsigned i = 0; i < 2; i++) {
		bufs[i] = frame(ptx, i, 300);
		descs[i] = (struct desc){ 0 };
	}
	ck_assert_int_eq(link_send(tx, bufs, descs, 2), 2);
	ck_assert_int_eq(recv_one(rx, got, gd), 2);
	ck_assert_uint_eq(gd[1].len, 300);
	pool_free_burst(prx, got, 2);
	ck_assert_uint_eq(link_stats(rx)->rx_batches, 1);
}
END_TEST

START_TEST(seq_gaps_counted)
{
	struct buf *got[DESC_BATCH_MAX];
	struct desc gd[DESC_BATCH_MAX];
	/* seq, gaps expected in total after it */
	const uint32_t seqs[][2] = {
		{ 100, 0 },        /* first batch seen: baseline, no gap */
		{ 101, 0 },
		{ 105, 3 },        /* 102..104 lost */
		{ 106, 3 },
		{ 0, 3 },          /* sender restarted: resync, not a gap */
		{ 1, 3 },
		{ 3, 4 },
		{ UINT32_MAX, 4 }, /* far ahead reads as backwards: resync */
		{ 0, 4 },          /* wraps cleanly */
		{ 2, 5 },
	};

	ck_assert_int_eq(link_open_rx(zctx, prx, instance, TX_SELF, &rx), 0);
	void *raw = raw_push();
	for (unsigned i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		struct desc_batch b = { .sender = TX_SELF, .seq = seqs[i][0], .count = 0 };
		raw_send_batch(raw, &b);
		ck_assert_int_eq(recv_one(rx, got, gd), 0);
		ck_assert_msg(link_stats(rx)->rx_seq_gaps == seqs[i][1], "after seq %u: %llu gaps",
			      seqs[i][0], (unsigned long long)link_stats(rx)->rx_seq_gaps);
	}
	ck_assert_uint_eq(link_stats(rx)->rx_batches, sizeof(seqs) / sizeof(seqs[0]));
	zmq_close(raw);
}
END_TEST

START_TEST(stale_socket_file_replaced)
{
	/* A receiver killed without closing leaves its socket file behind (nobody unlinks it);
	 * the next one must bind anyway. */
	char ep[256];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ck_assert_int_eq(link_endpoint(instance, TX_SELF, RX_SELF, ep, sizeof(ep)), 0);
	ck_assert_int_eq(ustack_runtime_dir_create(instance), 0);
	const char *path = ep + strlen("ipc://");
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path); /* whatever earlier tests left */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	ck_assert_int_eq(access(sa.sun_path, F_OK), 0);
	open_both();
	struct buf *b = frame(ptx, 0, 10), *got[DESC_BATCH_MAX];
	struct desc d = { 0 }, gd[DESC_BATCH_MAX];
	ck_assert_int_eq(link_send(tx, &b, &d, 1), 1);
	ck_assert_int_eq(recv_one(rx, got, gd), 1);
	pool_free(&got[0]);
}
END_TEST

START_TEST(cross_process)
{
	/* The receiver in a separate process with its own attach and ZeroMQ context. */
	const unsigned batches = 50, per = 16;
	int ready[2];
	ck_assert_int_eq(pipe(ready), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct pool *p = NULL;
		struct link *l = NULL;
		struct buf *got[DESC_BATCH_MAX];
		struct desc gd[DESC_BATCH_MAX];
		void *z = zmq_ctx_new();
		unsigned total = 0;
		if (pool_attach(instance, RX_SELF, &p) < 0 ||
		    link_open_rx(z, p, instance, TX_SELF, &l) < 0)
			_exit(100);
		if (write(ready[1], "r", 1) != 1)
			_exit(101);
		while (total < batches * per) {
			zmq_pollitem_t it = { .socket = link_socket(l), .events = ZMQ_POLLIN };
			if (zmq_poll(&it, 1, 5000) != 1)
				_exit(102);
			int n = link_recv(l, got, gd, DESC_BATCH_MAX);
			if (n < 0)
				_exit(103);
			for (int i = 0; i < n; i++)
				if (buf_chain_len(got[i]) != gd[i].len || buf_data(got[i])[0] != gd[i].tos)
					_exit(104);
			pool_free_burst(p, got, (unsigned)n);
			total += (unsigned)n;
		}
		if (link_stats(l)->rx_seq_gaps || link_stats(l)->rx_drop_stale)
			_exit(105);
		link_close(&l);
		zmq_ctx_term(z);
		pool_close(&p);
		_exit(0);
	}
	char c;
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_int_eq(link_open_tx(zctx, ptx, instance, RX_SELF, &tx), 0);
	wait_connected(tx);
	for (unsigned b = 0; b < batches; b++) {
		struct buf *bufs[16];
		struct desc descs[16];
		for (unsigned i = 0; i < per; i++) {
			bufs[i] = frame(ptx, b + i, 64 + i);
			descs[i] = (struct desc){ .tos = buf_data(bufs[i])[0] };
		}
		/* The child drains as fast as we send; should it lag, wait rather than drop. */
		zmq_pollitem_t it = { .socket = link_socket(tx), .events = ZMQ_POLLOUT };
		ck_assert_int_eq(zmq_poll(&it, 1, 2000), 1);
		ck_assert_int_eq(link_send(tx, bufs, descs, per), (int)per);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "receiver exited %d",
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	close(ready[0]);
	close(ready[1]);
}
END_TEST

static Suite *link_suite(void)
{
	Suite *s = suite_create("link");
	TCase *tc = tcase_create("link");
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, endpoint_and_names);
	tcase_add_test(tc, send_recv_round_trip);
	tcase_add_test(tc, latency_stamps_and_histograms);
	tcase_add_test(tc, many_batches_in_order);
	tcase_add_test(tc, recv_coalesces_waiting_batches_ring);
	tcase_add_test(tc, recv_coalesces_waiting_batches_zmq);
	tcase_add_test(tc, send_without_receiver_drops_and_frees);
	tcase_add_test(tc, send_caller_bugs_change_nothing);
	tcase_add_test(tc, queue_full_drops_and_frees);
	tcase_add_test(tc, room_wait_expire_and_absent_peer);
	tcase_add_test(tc, restarted_receiver_sees_the_sender_reconnect);
	tcase_add_test(tc, stale_after_receiver_reclaim);
	tcase_add_test(tc, forged_descriptors_dropped);
	tcase_add_test(tc, garbage_counted_link_survives);
	tcase_add_test(tc, seq_gaps_counted);
	tcase_add_test(tc, stale_socket_file_replaced);
	tcase_add_test(tc, cross_process);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(link_suite());
}
