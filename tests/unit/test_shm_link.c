/* test_shm_link: the shared-memory descriptor link — ownership handed over, the ring filled to
 * full and wrapped, doorbells rung only for a sleeper, hostile indices and records, both ends
 * restarted — with the pool back at its idle count after every test (STYLE rule 16).
 *
 * As in test_link, both ends run in one process over one named pool attached twice (the
 * sender's view acts as ipd, the receiver's as tcpd), which is what two processes' holder
 * checks amount to. The runtime directory is a mkdtemp directory (USTACK_RUNTIME_DIR); it and
 * the instance's shared-memory directory are removed by the unchecked teardown.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "desc.h"
#include "helper_check.h"
#include "helper_pool.h"
#include "link.h"
#include "link_priv.h"
#include "pool.h"
#include "ring.h"
#include "shm_dir.h"
#include "shm_link.h"

#define TX_SELF POOL_HOLDER_IPD
#define RX_SELF POOL_HOLDER_TCPD
#define TPOOL_COUNT 16384u

static char rundir[64];
static char instance[32];
static struct pool *ptx, *prx;
static struct shm_link *tx, *rx;
static struct hist transit; /* what the receiver measures (link.h: latency) */

static void suite_setup(void)
{
	snprintf(rundir, sizeof(rundir), "/tmp/ustack-shmlink-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(rundir));
	setenv("USTACK_RUNTIME_DIR", rundir, 1);
	snprintf(instance, sizeof(instance), "tshml%ld", (long)getpid());
}

static void suite_teardown(void)
{
	char cmd[128];
	shm_dir_remove(instance);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rundir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_shm_link: could not remove %s\n", rundir);
}

static void setup(void)
{
	struct pool_geometry geo = {.count = TPOOL_COUNT};
	pool_unlink(instance);
	shm_obj_unlink(instance, "ipd-to-tcpd"); /* a previous test's ring */
	ck_assert_int_eq(pool_open(instance, &geo, TX_SELF, &ptx), 0);
	ck_assert_int_eq(pool_open(instance, &geo, RX_SELF, &prx), 0);
	tx = rx = NULL;
	memset(&transit, 0, sizeof(transit));
}

static void teardown(void)
{
	shm_link_close(&tx);
	shm_link_close(&rx);
	tpool_assert_idle(ptx);
	pool_close(&ptx);
	pool_close(&prx);
	pool_unlink(instance);
}

static struct buf *frame(struct pool *p, unsigned i, size_t len)
{
	uint8_t bytes[POOL_DATA_ROOM];
	for (size_t j = 0; j < len; j++)
		bytes[j] = (uint8_t)(i * 31 + j);
	return tpool_frame(p, bytes, len);
}

/* Send n frames tagged from `first`, each len bytes, with l4_off = their tag. */
static int send_n(unsigned first, unsigned n, size_t len)
{
	struct buf *bufs[DESC_BATCH_MAX];
	struct desc d[DESC_BATCH_MAX];
	for (unsigned i = 0; i < n; i++) {
		bufs[i] = frame(ptx, first + i, len);
		d[i] = (struct desc){.l3_off = 0, .l4_off = (uint16_t)((first + i) % len)};
	}
	link_batch_fill(bufs, d, n); /* link_send's part before the transport's */
	int rc = shm_link_send(tx, bufs, d, n, clock_now());
	if (rc != -EINVAL && rc != -EPERM) /* link_xmit's part after it */
		for (unsigned i = 0; i < n; i++)
			bufs[i] = NULL;
	for (unsigned i = 0; i < n; i++)
		ck_assert_ptr_null(bufs[i]);
	return rc;
}

/* Receive one batch; check each chain is ours, intact and in order from *next; free it. */
static int recv_check(unsigned *next, size_t len)
{
	struct buf *bufs[DESC_BATCH_MAX];
	struct desc d[DESC_BATCH_MAX];
	int n = shm_link_recv(rx, bufs, d, DESC_BATCH_MAX, &transit);
	for (int i = 0; i < n; i++) {
		ck_assert_uint_eq(buf_chain_len(bufs[i]), len);
		ck_assert_uint_eq(d[i].l4_off, *next % len);
		const uint8_t *p = buf_data(bufs[i]);
		ck_assert_uint_eq(p[0], (uint8_t)(*next * 31));
		ck_assert_uint_eq(p[len - 1], (uint8_t)(*next * 31 + len - 1));
		(*next)++;
		pool_free(&bufs[i]);
	}
	return n;
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void open_both(void)
{
	ck_assert_int_eq(shm_link_open_rx(prx, instance, TX_SELF, &rx), 0);
	ck_assert_int_eq(shm_link_open_tx(ptx, instance, RX_SELF, &tx), 0);
}

START_TEST(round_trip_and_ownership)
{
	open_both();
	ck_assert(shm_link_tx_ready(tx));
	ck_assert(shm_link_peer_up(tx));
	ck_assert_int_eq(shm_link_recv(rx, NULL, NULL, DESC_BATCH_MAX, &transit), -EAGAIN);
	ck_assert_int_eq(send_n(0, 3, 100), 3);
	ck_assert_int_eq(send_n(3, DESC_BATCH_MAX, 60), (int)DESC_BATCH_MAX);
	unsigned next = 0;
	ck_assert_int_eq(recv_check(&next, 100), 3);
	ck_assert_int_eq(recv_check(&next, 60), (int)DESC_BATCH_MAX);
	ck_assert_int_eq(shm_link_recv(rx, NULL, NULL, DESC_BATCH_MAX, &transit), -EAGAIN);
	ck_assert_uint_eq(shm_link_stats(tx)->tx_batches, 2);
	ck_assert_uint_eq(shm_link_stats(tx)->tx_descs, 3 + DESC_BATCH_MAX);
	ck_assert_uint_eq(shm_link_stats(rx)->rx_descs, 3 + DESC_BATCH_MAX);
	ck_assert_uint_eq(shm_link_stats(rx)->rx_seq_gaps, 0);
	ck_assert_uint_eq(hist_count(&transit), 3 + DESC_BATCH_MAX); /* one transit per packet */
	/* caller bugs change nothing */
	struct buf *b[DESC_BATCH_MAX + 1] = {0};
	struct desc d[DESC_BATCH_MAX + 1] = {{0}};
	ck_assert_int_eq(shm_link_send(tx, b, d, DESC_BATCH_MAX + 1, clock_now()), -EINVAL);
	ck_assert_int_eq(shm_link_send(tx, b, d, 0, clock_now()), -EINVAL);
	ck_assert_int_eq(shm_link_send(rx, b, d, 1, clock_now()), -EOPNOTSUPP);
	ck_assert_int_eq(shm_link_recv(tx, b, d, DESC_BATCH_MAX, &transit), -EOPNOTSUPP);
	ck_assert_int_eq(shm_link_recv(rx, b, d, DESC_BATCH_MAX - 1, &transit), -EINVAL);
	/* a chain we do not hold: refused, nothing published */
	b[0] = frame(ptx, 0, 10);
	struct buf *other = b[0];
	ck_assert_int_eq(pool_transfer(ptx, &other, 1, POOL_HOLDER_UDPD), 0);
	ck_assert_int_eq(shm_link_send(tx, b, d, 1, clock_now()), -EPERM);
	ck_assert_ptr_nonnull(b[0]);
	ck_assert_int_eq(pool_transfer_back(ptx, &other, 1, POOL_HOLDER_UDPD), 1);
	pool_free(&b[0]);
	ck_assert_int_eq(shm_link_recv(rx, NULL, NULL, DESC_BATCH_MAX, &transit), -EAGAIN);
}
END_TEST

START_TEST(sender_before_receiver)
{
	ck_assert_int_eq(shm_link_open_tx(ptx, instance, RX_SELF, &tx), 0);
	ck_assert(!shm_link_tx_ready(tx));
	ck_assert(!shm_link_peer_up(tx));
	ck_assert_int_eq(send_n(0, 5, 50), -EAGAIN);
	ck_assert_uint_eq(shm_link_stats(tx)->tx_drop_full, 5);
	tpool_assert_idle(ptx);
	/* The receiver comes: the sender finds its ring within its retry interval. */
	ck_assert_int_eq(shm_link_open_rx(prx, instance, TX_SELF, &rx), 0);
	uint64_t t0 = clock_now();
	int rc;
	while ((rc = send_n(0, 1, 50)) == -EAGAIN && clock_now() - t0 < 2 * CLOCK_NS_PER_S)
		usleep(1000);
	ck_assert_int_eq(rc, 1);
	ck_assert_uint_le(clock_now() - t0, CLOCK_NS_PER_S); /* a 10 ms retry, whatever the load */
	unsigned next = 0;
	ck_assert_int_eq(recv_check(&next, 50), 1);
}
END_TEST

/* Fill to full, then drain: every batch that was accepted arrives in order, the drops were
 * the sender's (counted, freed), and the room doorbell rings once room comes back. */
START_TEST(fill_to_full_and_room_bell)
{
	open_both();
	unsigned sent = 0, dropped = 0;
	while (shm_link_tx_ready(tx)) {
		ck_assert_int_eq(send_n(sent, 1, 20), 1);
		sent++;
	}
	ck_assert_uint_gt(sent, 1000); /* single-descriptor records: thousands fit */
	ck_assert(!readable(shm_link_fd(tx)));
	/* Not ready does not mean no room at all: fill the last bytes until refused. */
	int rc;
	while ((rc = send_n(sent, 1, 20)) == 1)
		sent++;
	ck_assert_int_eq(rc, -EAGAIN);
	dropped++;
	ck_assert_uint_eq(shm_link_stats(tx)->tx_drop_full, dropped);
	ck_assert_uint_eq(pool_free_count(ptx), TPOOL_COUNT - sent);

	unsigned next = 0;
	ck_assert_int_eq(recv_check(&next, 20), 1);
	ck_assert(readable(shm_link_fd(tx))); /* the sender had armed: rung on the release */
	while (next < sent)
		ck_assert_int_eq(recv_check(&next, 20), 1);
	ck_assert_int_eq(shm_link_recv(rx, NULL, NULL, DESC_BATCH_MAX, &transit), -EAGAIN);
	ck_assert_uint_eq(shm_link_stats(rx)->rx_seq_gaps, 0);
	ck_assert(shm_link_tx_ready(tx));
}
END_TEST

/* Records of every size wrap around the end of the ring many times (PAD records). */
START_TEST(wraps_in_order)
{
	open_both();
	unsigned sent = 0, next = 0;
	for (unsigned round = 0; round < 3000; round++) {
		unsigned n = 1 + round % DESC_BATCH_MAX;
		ck_assert_int_eq(send_n(sent, n, 30), (int)n);
		sent += n;
		if (round % 3 == 2)
			while (next < sent)
				ck_assert_int_gt(recv_check(&next, 30), 0);
	}
	while (next < sent)
		ck_assert_int_gt(recv_check(&next, 30), 0);
	ck_assert_uint_gt((uint64_t)sent * sizeof(struct desc), 4 * SHM_LINK_RING);
	ck_assert_uint_eq(shm_link_stats(rx)->rx_seq_gaps, 0);
	ck_assert_uint_eq(shm_link_stats(tx)->tx_drop_full, 0);
}
END_TEST

/* Bytes waiting in a doorbell FIFO: one per ring. */
static int rings(int fd)
{
	int n = -1;
	ck_assert_int_eq(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* The receiver's bell rings only when it sleeps (armed by a recv that found nothing), once. */
START_TEST(bell_only_for_a_sleeper)
{
	open_both();
	int bell = shm_link_fd(rx);
	ck_assert_int_eq(rings(bell), 1); /* a receiver starts rung: it looks once at what waits */
	ck_assert_int_eq(send_n(0, 1, 40), 1); /* and is not asleep: no ring */
	ck_assert_int_eq(rings(bell), 1);
	unsigned next = 0;
	ck_assert_int_eq(recv_check(&next, 40), 1);
	ck_assert_int_eq(shm_link_recv(rx, NULL, NULL, DESC_BATCH_MAX, &transit), -EAGAIN); /* drains, arms */
	ck_assert_int_eq(rings(bell), 0);
	ck_assert_int_eq(send_n(1, 2, 40), 2);
	ck_assert_int_eq(rings(bell), 1);
	ck_assert(readable(bell));
	ck_assert_int_eq(send_n(3, 2, 40), 2); /* the flag was taken: no second ring */
	ck_assert_int_eq(rings(bell), 1);
	ck_assert_int_eq(recv_check(&next, 40), 2);
	ck_assert_int_eq(recv_check(&next, 40), 2);
	/* busy receiver (it found data, did not arm): no ring, no system call */
	ck_assert_int_eq(send_n(5, 1, 40), 1);
	ck_assert_int_eq(rings(bell), 1);
	ck_assert_int_eq(recv_check(&next, 40), 1);
	ck_assert_int_eq(shm_link_recv(rx, NULL, NULL, DESC_BATCH_MAX, &transit), -EAGAIN); /* drains, arms */
	ck_assert_int_eq(rings(bell), 0);
	ck_assert(!readable(bell));
	ck_assert_int_eq(send_n(6, 1, 40), 1);
	ck_assert_int_eq(rings(bell), 1);
	ck_assert_int_eq(recv_check(&next, 40), 1);
}
END_TEST

/* What a hostile or broken sender can put in the shared object. */
START_TEST(hostile_sender)
{
	open_both();
	struct buf *bufs[DESC_BATCH_MAX];
	struct desc d[DESC_BATCH_MAX];
	/* Map the object as a second, raw producer would. */
	int fd = shm_obj_open(instance, "ipd-to-tcpd", O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	size_t size = 3 * RING_CACHELINE + SHM_LINK_RING;
	uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	close(fd);
	struct ring raw;
	struct ring_shared *ctl = (struct ring_shared *)(m + RING_CACHELINE);
	ck_assert_int_eq(ring_attach(&raw, RING_PRODUCER, ctl, m + 3 * RING_CACHELINE,
				     SHM_LINK_RING), 0);

	/* A record of the wrong type, one too short, one whose count disagrees with its length,
	 * one from another sender, one naming buffers that are not in flight to us. */
	const size_t hdr = offsetof(struct desc_batch, d), one = hdr + sizeof(struct desc);
	struct desc_batch fake = {.sender = TX_SELF, .seq = 0, .count = 2};
	void *p = ring_reserve(&raw, 7, (uint32_t)hdr);
	memcpy(p, &fake, hdr);
	p = ring_reserve(&raw, 1, 8);
	memcpy(p, &fake, 8);
	p = ring_reserve(&raw, 1, (uint32_t)one);
	memcpy(p, &fake, one);
	fake.sender = POOL_HOLDER_UDPD;
	fake.count = 1;
	p = ring_reserve(&raw, 1, (uint32_t)one);
	memcpy(p, &fake, one);
	fake.sender = TX_SELF;
	struct buf *mine = frame(ptx, 1, 10); /* ours (the sender's), never transferred */
	fake.d[0] = (struct desc){.buf = buf_index(mine), .gen = buf_gen(mine), .len = 10};
	desc_seal(&fake.d[0]); /* sealed: what refuses it is the pool */
	p = ring_reserve(&raw, 1, (uint32_t)one);
	memcpy(p, &fake, one);
	ring_commit(&raw);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(shm_link_recv(rx, bufs, d, DESC_BATCH_MAX, &transit), 0);
	ck_assert_uint_eq(shm_link_stats(rx)->rx_drop_badmsg, 4);
	ck_assert_uint_eq(shm_link_stats(rx)->rx_drop_stale, 1);
	ck_assert_uint_eq(pool_free_count(ptx), TPOOL_COUNT - 1);
	pool_free(&mine);

	/* Impossible indices: the receiver formats the ring again, the sender re-attaches. */
	uint32_t epoch = atomic_load((_Atomic uint32_t *)(m + 16));
	atomic_store(&ctl->head, atomic_load(&ctl->tail) + 3 * SHM_LINK_RING);
	ck_assert_int_eq(shm_link_recv(rx, bufs, d, DESC_BATCH_MAX, &transit), 0);
	ck_assert_uint_eq(shm_link_stats(rx)->rx_drop_badmsg, 5);
	ck_assert_uint_eq(atomic_load((_Atomic uint32_t *)(m + 16)), epoch + 1);
	ck_assert_int_eq(send_n(0, 4, 33), 4);
	unsigned next = 0;
	ck_assert_int_eq(recv_check(&next, 33), 4);
	munmap(m, size);
}
END_TEST

/* The receiver dies with batches queued and restarts: it reclaims what was in flight to it,
 * the queued records turn out stale, and what comes next arrives. The sender notices nothing. */
START_TEST(receiver_restarts)
{
	open_both();
	ck_assert_uint_eq(shm_link_peer_changes(tx), 0); /* the receiver found at attach */
	ck_assert_int_eq(send_n(0, 10, 64), 10);
	ck_assert_int_eq(send_n(10, 10, 64), 10);
	shm_link_close(&rx);
	ck_assert(!shm_link_peer_up(tx));
	ck_assert_int_eq(send_n(20, 5, 64), 5); /* into the ring of a dead receiver */
	ck_assert_uint_eq(pool_reclaim(prx, RX_SELF), 25);
	tpool_assert_idle(ptx);
	ck_assert_uint_eq(shm_link_peer_changes(tx), 0); /* gone, not replaced */
	ck_assert_int_eq(shm_link_open_rx(prx, instance, TX_SELF, &rx), 0);
	ck_assert(shm_link_peer_up(tx));
	struct buf *bufs[DESC_BATCH_MAX];
	struct desc d[DESC_BATCH_MAX];
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(shm_link_recv(rx, bufs, d, DESC_BATCH_MAX, &transit), 0);
	ck_assert_uint_eq(shm_link_stats(rx)->rx_drop_stale, 25);
	ck_assert_int_eq(send_n(25, 7, 64), 7);
	unsigned next = 25;
	ck_assert_int_eq(recv_check(&next, 64), 7);
	ck_assert_uint_eq(shm_link_stats(rx)->rx_seq_gaps, 0);
}
END_TEST

/* A new receiver process is news for the sender (ipd announces itself when nicd comes back);
 * the one found at attach is not, nor one that only went away. */
START_TEST(peer_changes_on_new_receiver)
{
	open_both();
	ck_assert_uint_eq(shm_link_peer_changes(tx), 0);
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) { /* a receiver in another process that dies without closing */
		struct shm_link *r2 = NULL;
		_exit(shm_link_open_rx(prx, instance, TX_SELF, &r2) == 0 ? 0 : 1);
	}
	int st = 0;
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_uint_eq(shm_link_peer_changes(tx), 1);
	ck_assert_uint_eq(shm_link_peer_changes(tx), 0); /* told once */
	ck_assert(!shm_link_peer_up(tx));                /* and it is dead */
	shm_link_close(&rx);
	ck_assert_int_eq(shm_link_open_rx(prx, instance, TX_SELF, &rx), 0);
	ck_assert_uint_eq(shm_link_peer_changes(tx), 1); /* this process again, after the child */
	ck_assert(shm_link_peer_up(tx));
}
END_TEST

/* The sender restarts: it attaches at the head its predecessor published; its sequence starts
 * over, which the receiver takes as a restart, not as a gap. */
START_TEST(sender_restarts)
{
	open_both();
	ck_assert_int_eq(send_n(0, 3, 70), 3);
	ck_assert_int_eq(send_n(3, 3, 70), 3);
	unsigned next = 0;
	ck_assert_int_eq(recv_check(&next, 70), 3);
	shm_link_close(&tx);
	ck_assert_int_eq(shm_link_open_tx(ptx, instance, RX_SELF, &tx), 0);
	ck_assert_int_eq(send_n(6, 3, 70), 3);
	ck_assert_int_eq(recv_check(&next, 70), 3);
	ck_assert_int_eq(recv_check(&next, 70), 3);
	ck_assert_uint_eq(next, 9);
	ck_assert_uint_eq(shm_link_stats(rx)->rx_seq_gaps, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("shm_link");
	TCase *tc = tcase_create("shm_link");
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, round_trip_and_ownership);
	tcase_add_test(tc, sender_before_receiver);
	tcase_add_test(tc, fill_to_full_and_room_bell);
	tcase_add_test(tc, wraps_in_order);
	tcase_add_test(tc, bell_only_for_a_sleeper);
	tcase_add_test(tc, hostile_sender);
	tcase_add_test(tc, receiver_restarts);
	tcase_add_test(tc, sender_restarts);
	tcase_add_test(tc, peer_changes_on_new_receiver);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
