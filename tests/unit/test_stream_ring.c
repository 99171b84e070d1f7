/* test_stream_ring: byte rings — windows, wraps, out-of-order writes, hostile peers, waiting,
 * and two threads (then two processes) moving hundreds of megabytes byte-exact.
 *
 * Single-threaded rings live in aligned_alloc'ed memory of exactly the ring's size, so under
 * AddressSanitizer any access outside the data area is reported. Hostile-peer tests store raw
 * indices into the control block the way a malicious peer would and check the view answers
 * -EBADMSG and stays broken; the fuzz test does it at random (seeded) and checks no span ever
 * leaves the data area. Payload bytes are a function of their stream index (pattern()), so a
 * byte in the wrong place, lost, or duplicated shows up wherever it lands.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper_check.h"
#include "stream_ring.h"

/* Cheap assertions for hot loops (see test_ring.c). */
#define REQ(c)                                                     \
	do {                                                       \
		if (!(c))                                          \
			ck_abort_msg("Assertion '%s' failed", #c); \
	} while (0)
#define REQ_EQ(a, b)                                                                             \
	do {                                                                                     \
		long long a_ = (long long)(a), b_ = (long long)(b);                              \
		if (a_ != b_)                                                                    \
			ck_abort_msg("Assertion '%s == %s' failed: %lld != %lld", #a, #b, a_, b_); \
	} while (0)

static uint64_t rng_state;
static uint32_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

/* The byte at stream index i. */
static uint8_t pattern(uint64_t i)
{
	uint64_t x = (i ^ (i >> 17)) * 0x9E3779B97F4A7C15ull;
	return (uint8_t)(x >> 56);
}

static void fill(uint8_t *p, uint64_t index, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(index + i);
}

/* Index of the first byte that differs from the pattern, or len. */
static size_t check_bytes(const uint8_t *p, uint64_t index, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(index + i))
			return i;
	return len;
}

struct tring {
	struct ring_shared *ctl;
	uint8_t *data;
	uint32_t size;
	struct stream_ring prod;
	struct stream_ring cons;
};

static void tring_reset(struct tring *t, uint64_t head, uint64_t tail)
{
	ring_format(t->ctl);
	atomic_store(&t->ctl->head, head);
	atomic_store(&t->ctl->tail, tail);
	REQ_EQ(stream_ring_attach(&t->prod, RING_PRODUCER, t->ctl, t->data, t->size), 0);
	REQ_EQ(stream_ring_attach(&t->cons, RING_CONSUMER, t->ctl, t->data, t->size), 0);
}

static void tring_init(struct tring *t, uint32_t size, uint64_t start)
{
	t->ctl = aligned_alloc(RING_CACHELINE, sizeof(*t->ctl));
	t->data = aligned_alloc(RING_CACHELINE, size);
	ck_assert_ptr_nonnull(t->ctl);
	ck_assert_ptr_nonnull(t->data);
	t->size = size;
	memset(t->data, 0, size);
	tring_reset(t, start, start);
}

static void tring_free(struct tring *t)
{
	free(t->ctl);
	free(t->data);
}

START_TEST(attach_checks)
{
	struct tring t;
	tring_init(&t, 4096, 0);
	struct stream_ring v;
	memset(&v, 0x5a, sizeof(v));
	struct stream_ring copy = v;
	ck_assert_int_eq(stream_ring_attach(&v, RING_PRODUCER, t.ctl, t.data, 4095), -EINVAL);
	ck_assert_int_eq(stream_ring_attach(&v, RING_PRODUCER, t.ctl, t.data, 2048), -EINVAL);
	ck_assert_int_eq(stream_ring_attach(&v, RING_PRODUCER, t.ctl, NULL, 4096), -EINVAL);
	ck_assert_int_eq(stream_ring_attach(&v, RING_PRODUCER, NULL, t.data, 4096), -EINVAL);
	ck_assert_int_eq(stream_ring_attach(&v, 7, t.ctl, t.data, 4096), -EINVAL);
	ck_assert_int_eq(stream_ring_attach(&v, RING_PRODUCER,
					    (struct ring_shared *)(void *)((uint8_t *)t.ctl + 8),
					    t.data, 4096), -EINVAL);
	/* indices more than a ring apart, or tail ahead of head */
	atomic_store(&t.ctl->head, 4097);
	ck_assert_int_eq(stream_ring_attach(&v, RING_CONSUMER, t.ctl, t.data, 4096), -EBADMSG);
	atomic_store(&t.ctl->head, 0);
	atomic_store(&t.ctl->tail, 1);
	ck_assert_int_eq(stream_ring_attach(&v, RING_PRODUCER, t.ctl, t.data, 4096), -EBADMSG);
	ck_assert(memcmp(&v, &copy, sizeof(v)) == 0); /* untouched on every failure */
	/* unaligned indices are fine for bytes; exactly a ring apart is full, not broken */
	atomic_store(&t.ctl->head, 4096 + 13);
	atomic_store(&t.ctl->tail, 13);
	ck_assert_int_eq(stream_ring_attach(&v, RING_CONSUMER, t.ctl, t.data, 4096), 0);
	ck_assert_int_eq(stream_ring_readable(&v), 4096);
	ck_assert_int_eq(stream_ring_attach(&v, RING_PRODUCER, t.ctl, t.data, 4096), 0);
	ck_assert_int_eq(stream_ring_writable(&v), 0);
	/* role-specific calls refuse the other role */
	ck_assert_int_eq(stream_ring_readable(&v), -EINVAL);
	uint8_t b[4];
	ck_assert_int_eq(stream_ring_read_at(&v, 13, b, 1), -EINVAL);
	ck_assert_int_eq(stream_ring_publish_tail(&v, 14), -EINVAL);
	tring_free(&t);
}
END_TEST

/* Write len bytes at every offset of the data area (so every wrap point is crossed), publish,
 * read back. */
START_TEST(wrap_every_offset)
{
	struct tring t;
	tring_init(&t, 4096, 0);
	uint8_t in[4096], out[4096];
	size_t lens[] = {1, 7, 100, 2048, 4095, 4096};
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		size_t len = lens[li];
		for (uint64_t off = 0; off < 4096; off += (len > 1000 ? 61 : 1)) {
			uint64_t start = (1ull << 40) + off;
			tring_reset(&t, start, start);
			REQ_EQ(stream_ring_writable(&t.prod), 4096);
			fill(in, start, len);
			REQ_EQ(stream_ring_write_at(&t.prod, start, in, len), 0);
			REQ_EQ(stream_ring_readable(&t.cons), 0); /* not published yet */
			REQ_EQ(stream_ring_publish_head(&t.prod, start + len), 0);
			REQ_EQ(stream_ring_readable(&t.cons), len);
			REQ_EQ(stream_ring_writable(&t.prod), 4096 - len);
			memset(out, 0, len);
			REQ_EQ(stream_ring_read_at(&t.cons, start, out, len), 0);
			REQ_EQ(check_bytes(out, start, len), len);
			REQ_EQ(stream_ring_publish_tail(&t.cons, start + len), 0);
			REQ_EQ(stream_ring_writable(&t.prod), 4096);
			REQ_EQ(stream_ring_readable(&t.cons), 0);
		}
	}
	tring_free(&t);
}
END_TEST

START_TEST(spans_split_at_the_end)
{
	struct tring t;
	tring_init(&t, 4096, 4000);
	struct iovec sp[2];
	ck_assert_int_eq(stream_ring_spans(&t.prod, 4000, 0, sp), 0);
	ck_assert_int_eq(stream_ring_spans(&t.prod, 4000, 96, sp), 1);
	ck_assert_ptr_eq(sp[0].iov_base, t.data + 4000);
	ck_assert_uint_eq(sp[0].iov_len, 96);
	ck_assert_int_eq(stream_ring_spans(&t.prod, 4000, 97, sp), 2);
	ck_assert_ptr_eq(sp[1].iov_base, t.data);
	ck_assert_uint_eq(sp[1].iov_len, 1);
	ck_assert_int_eq(stream_ring_spans(&t.prod, 4100, 3996, sp), 1);
	ck_assert_ptr_eq(sp[0].iov_base, t.data + 4);
	ck_assert_int_eq(stream_ring_spans(&t.prod, 4000, 4096, sp), 2);
	ck_assert_uint_eq(sp[0].iov_len + sp[1].iov_len, 4096);
	/* the consumer's window is empty: nothing there to hand out */
	ck_assert_int_eq(stream_ring_spans(&t.cons, 4000, 1, sp), -EINVAL);
	ck_assert_int_eq(stream_ring_spans(&t.cons, 4000, 0, sp), 0);
	tring_free(&t);
}
END_TEST

/* Each side's window, and that a refused call changes nothing. */
START_TEST(windows_and_publish_rules)
{
	struct tring t;
	tring_init(&t, 4096, 1000);
	uint8_t buf[8192];
	fill(buf, 1000, 4096);
	/* producer: [head, tail + size) */
	ck_assert_int_eq(stream_ring_write_at(&t.prod, 999, buf, 1), -EINVAL);     /* behind */
	ck_assert_int_eq(stream_ring_write_at(&t.prod, 1000, buf, 4097), -ENOSPC);
	ck_assert_int_eq(stream_ring_write_at(&t.prod, 5096, buf, 1), -ENOSPC);
	ck_assert_int_eq(stream_ring_write_at(&t.prod, 5095, buf, 1), 0);
	ck_assert_int_eq(stream_ring_write_at(&t.prod, 5096, buf, 0), 0);          /* empty, at end */
	ck_assert_int_eq(stream_ring_write_at(&t.prod, UINT64_MAX, buf, 1), -EINVAL);
	ck_assert_int_eq(stream_ring_publish_head(&t.prod, 999), -EINVAL);        /* backwards */
	ck_assert_int_eq(stream_ring_publish_head(&t.prod, 5097), -EINVAL);       /* past window */
	ck_assert_uint_eq(atomic_load(&t.ctl->head), 1000);
	ck_assert_int_eq(stream_ring_publish_head(&t.prod, 1000), 0);             /* no-op */
	ck_assert_int_eq(stream_ring_write_at(&t.prod, 1000, buf, 4096), 0);
	ck_assert_int_eq(stream_ring_publish_head(&t.prod, 3000), 0);
	ck_assert_int_eq(stream_ring_publish_head(&t.prod, 2999), -EINVAL);
	ck_assert_uint_eq(atomic_load(&t.ctl->head), 3000);
	/* the producer may write beyond its head, up to tail + size, but not behind head */
	ck_assert_int_eq(stream_ring_write_at(&t.prod, 3000, buf + 2000, 2096), 0);
	ck_assert_int_eq(stream_ring_write_at(&t.prod, 2999, buf, 2), -EINVAL);
	/* consumer: [tail, head) */
	uint8_t out[4096];
	ck_assert_int_eq(stream_ring_read_at(&t.cons, 1000, out, 2000), 0);
	ck_assert_uint_eq(check_bytes(out, 1000, 2000), 2000);
	ck_assert_int_eq(stream_ring_read_at(&t.cons, 1500, out, 1500), 0);        /* any offset */
	ck_assert_uint_eq(check_bytes(out, 1500, 1500), 1500);
	ck_assert_int_eq(stream_ring_read_at(&t.cons, 999, out, 1), -EINVAL);
	ck_assert_int_eq(stream_ring_read_at(&t.cons, 1000, out, 2001), -EINVAL);  /* unpublished */
	ck_assert_int_eq(stream_ring_read_at(&t.cons, 3000, out, 1), -EINVAL);
	ck_assert_int_eq(stream_ring_publish_tail(&t.cons, 3001), -EINVAL);
	ck_assert_int_eq(stream_ring_publish_tail(&t.cons, 999), -EINVAL);
	ck_assert_uint_eq(atomic_load(&t.ctl->tail), 1000);
	ck_assert_int_eq(stream_ring_publish_tail(&t.cons, 2000), 0);
	ck_assert_int_eq(stream_ring_publish_tail(&t.cons, 1999), -EINVAL);
	ck_assert_int_eq(stream_ring_read_at(&t.cons, 1999, out, 1), -EINVAL);    /* released */
	/* the producer sees the room once it looks: 1000 bytes more than before */
	ck_assert_int_eq(stream_ring_write_at(&t.prod, 5096, buf, 1000), 0);
	ck_assert_int_eq(stream_ring_write_at(&t.prod, 6096, buf, 1), -ENOSPC);
	ck_assert_int_eq(stream_ring_writable(&t.prod), 4096 - 1000);
	ck_assert(!stream_ring_broken(&t.prod) && !stream_ring_broken(&t.cons));
	tring_free(&t);
}
END_TEST

/* A TCP receiver places out-of-order segments beyond head; they become readable together when
 * the hole fills and head jumps past all of them. */
START_TEST(out_of_order_beyond_head)
{
	struct tring t;
	uint64_t base = UINT64_MAX - 3000; /* the indices wrap through 2^64 on the way */
	tring_init(&t, 8192, base);
	uint8_t seg[8192], out[8192];
	struct { uint64_t off; size_t len; } order[] = {
		{5000, 1000}, {1000, 500}, {7000, 1192}, {2500, 2500}, {1500, 1000}, {6000, 1000},
		{0, 1000},
	};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		uint64_t idx = base + order[i].off;
		fill(seg, idx, order[i].len);
		ck_assert_int_eq(stream_ring_write_at(&t.prod, idx, seg, order[i].len), 0);
		/* nothing is visible before the hole at the start is filled and published */
		ck_assert_int_eq(stream_ring_readable(&t.cons), 0);
	}
	/* placed again (a retransmission): same bytes, harmless */
	fill(seg, base + 1000, 500);
	ck_assert_int_eq(stream_ring_write_at(&t.prod, base + 1000, seg, 500), 0);
	ck_assert_int_eq(stream_ring_publish_head(&t.prod, base + 4000), 0);
	ck_assert_int_eq(stream_ring_readable(&t.cons), 4000);
	ck_assert_int_eq(stream_ring_publish_head(&t.prod, base + 8192), 0);
	ck_assert_int_eq(stream_ring_readable(&t.cons), 8192);
	ck_assert_int_eq(stream_ring_read_at(&t.cons, base, out, 8192), 0);
	ck_assert_uint_eq(check_bytes(out, base, 8192), 8192);
	ck_assert_int_eq(stream_ring_publish_tail(&t.cons, base + 8192), 0);
	ck_assert_uint_eq(atomic_load(&t.ctl->tail), base + 8192); /* wrapped through zero */
	ck_assert_int_eq(stream_ring_writable(&t.prod), 8192);
	tring_free(&t);
}
END_TEST

/* The producer's head as the consumer sees it: backwards, more than a ring ahead, or wrapped
 * about 2^64 — each breaks the consumer for good. */
START_TEST(hostile_head)
{
	struct tring t;
	tring_init(&t, 4096, 10000);
	uint64_t bad[] = {9999, 10000 + 4097, 0, UINT64_MAX, 10000 - 4096, 10000 + (1ull << 63)};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tring_reset(&t, 10000, 10000);
		/* first a legal head the consumer accepts (and caches) */
		atomic_store(&t.ctl->head, 10500);
		REQ_EQ(stream_ring_readable(&t.cons), 500);
		atomic_store(&t.ctl->head, bad[i]);
		REQ_EQ(stream_ring_readable(&t.cons), -EBADMSG);
		REQ(stream_ring_broken(&t.cons));
		/* sticky: a good value again does not heal it */
		atomic_store(&t.ctl->head, 10600);
		uint8_t b[8];
		uint64_t h;
		REQ_EQ(stream_ring_readable(&t.cons), -EBADMSG);
		REQ_EQ(stream_ring_read_at(&t.cons, 10000, b, 1), -EBADMSG);
		REQ_EQ(stream_ring_publish_tail(&t.cons, 10001), -EBADMSG);
		REQ_EQ(stream_ring_head_now(&t.cons, &h), -EBADMSG);
		REQ_EQ(atomic_load(&t.ctl->tail), 10000); /* never stored after breaking */
	}
	/* a head that moved back to one the consumer has seen is also refused, even if it is
	 * still ahead of the tail */
	tring_reset(&t, 10000, 10000);
	atomic_store(&t.ctl->head, 10800);
	REQ_EQ(stream_ring_readable(&t.cons), 800);
	atomic_store(&t.ctl->head, 10700);
	REQ_EQ(stream_ring_readable(&t.cons), -EBADMSG);
	tring_free(&t);
}
END_TEST

/* The consumer's tail as the producer sees it: backwards, or past the published head. */
START_TEST(hostile_tail)
{
	struct tring t;
	tring_init(&t, 4096, 10000);
	uint64_t bad[] = {9999, 10801, 0, UINT64_MAX, 10000 + 4096};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tring_reset(&t, 10000, 10000);
		uint8_t buf[800];
		fill(buf, 10000, sizeof(buf));
		REQ_EQ(stream_ring_write_at(&t.prod, 10000, buf, sizeof(buf)), 0);
		REQ_EQ(stream_ring_publish_head(&t.prod, 10800), 0);
		atomic_store(&t.ctl->tail, 10400);
		REQ_EQ(stream_ring_writable(&t.prod), 4096 - 400);
		atomic_store(&t.ctl->tail, bad[i]);
		REQ_EQ(stream_ring_writable(&t.prod), -EBADMSG);
		atomic_store(&t.ctl->tail, 10500);
		REQ_EQ(stream_ring_writable(&t.prod), -EBADMSG);
		REQ_EQ(stream_ring_write_at(&t.prod, 10800, buf, 1), -EBADMSG);
		REQ_EQ(stream_ring_publish_head(&t.prod, 10801), -EBADMSG);
		REQ_EQ(atomic_load(&t.ctl->head), 10800);
	}
	/* a tail exactly at the head is legal (all consumed) */
	tring_reset(&t, 20000, 20000);
	REQ_EQ(stream_ring_publish_head(&t.prod, 20100), 0);
	atomic_store(&t.ctl->tail, 20100);
	REQ_EQ(stream_ring_writable(&t.prod), 4096);
	tring_free(&t);
}
END_TEST

/* Random raw indices stored by a "peer" between random calls: every call either fails with a
 * defined errno or hands out spans inside the data area; a broken view stays broken. */
START_TEST(fuzz_indices)
{
	struct tring t;
	tring_init(&t, 4096, 0);
	rng_state = 0x1234567887654321ull;
	uint8_t buf[4096];
	for (int round = 0; round < 20000; round++) {
		uint64_t base = ((uint64_t)rng() << 32) | rng();
		tring_reset(&t, base, base);
		bool cons_broken = false, prod_broken = false;
		for (int step = 0; step < 8; step++) {
			uint64_t delta = rng() % 3 == 0 ? (((uint64_t)rng() << 32) | rng())
							 : rng() % 10000;
			switch (rng() % 4) {
			case 0: atomic_store(&t.ctl->head, base + delta); break;
			case 1: atomic_store(&t.ctl->tail, base + delta); break;
			default: break;
			}
			uint64_t idx = base + rng() % 9000;
			size_t len = rng() % 5000;
			struct iovec sp[2];
			int n = stream_ring_spans(&t.cons, idx, len, sp);
			REQ(n == -EINVAL || n == -EBADMSG || (n >= 0 && n <= 2));
			for (int i = 0; i < n; i++)
				REQ((uint8_t *)sp[i].iov_base >= t.data &&
				    (uint8_t *)sp[i].iov_base + sp[i].iov_len <= t.data + t.size);
			if (n >= 0) /* the window held, so len <= size and the copy is legal */
				REQ_EQ(stream_ring_read_at(&t.cons, idx, buf, len), 0);
			if (cons_broken)
				REQ_EQ(n, -EBADMSG);
			cons_broken = stream_ring_broken(&t.cons);
			n = stream_ring_spans(&t.prod, idx, len, sp);
			REQ(n == -EINVAL || n == -ENOSPC || n == -EBADMSG || (n >= 0 && n <= 2));
			for (int i = 0; i < n; i++)
				REQ((uint8_t *)sp[i].iov_base >= t.data &&
				    (uint8_t *)sp[i].iov_base + sp[i].iov_len <= t.data + t.size);
			if (prod_broken)
				REQ_EQ(n, -EBADMSG);
			prod_broken = stream_ring_broken(&t.prod);
			int64_t r = stream_ring_readable(&t.cons);
			REQ(r == -EBADMSG || (r >= 0 && r <= 4096));
			int64_t w = stream_ring_writable(&t.prod);
			REQ(w == -EBADMSG || (w >= 0 && w <= 4096));
		}
	}
	tring_free(&t);
}
END_TEST

START_TEST(event_crossed)
{
	ck_assert(stream_ring_event_crossed(10, 10, 11));
	ck_assert(stream_ring_event_crossed(10, 5, 11));
	ck_assert(!stream_ring_event_crossed(10, 5, 10)); /* not passed yet */
	ck_assert(!stream_ring_event_crossed(10, 11, 20)); /* passed before */
	ck_assert(!stream_ring_event_crossed(10, 10, 10)); /* no move */
	ck_assert(stream_ring_event_crossed(UINT64_MAX, UINT64_MAX - 1, 2)); /* wraps */
	ck_assert(stream_ring_event_crossed(0, UINT64_MAX - 1, 2));
	ck_assert(!stream_ring_event_crossed(3, UINT64_MAX - 1, 2));
	ck_assert(!stream_ring_event_crossed(UINT64_MAX - 2, UINT64_MAX - 1, 2));
}
END_TEST

struct waiter {
	struct stream_ring *prod;
	int rc;
	int64_t room;
};

static void *room_waiter(void *arg)
{
	struct waiter *w = arg;
	for (;;) {
		uint32_t seq = stream_ring_room_seq(w->prod);
		stream_ring_room_arm(w->prod);
		w->room = stream_ring_writable(w->prod);
		if (w->room >= 1000)
			break;
		w->rc = stream_ring_room_wait(w->prod, seq, 5000);
		if (w->rc < 0)
			break;
	}
	return NULL;
}

START_TEST(room_wait_and_notify)
{
	struct tring t;
	tring_init(&t, 4096, 0);
	uint8_t buf[4096];
	fill(buf, 0, 4096);
	ck_assert_int_eq(stream_ring_write_at(&t.prod, 0, buf, 4096), 0);
	ck_assert_int_eq(stream_ring_publish_head(&t.prod, 4096), 0);
	/* nobody armed: notify wakes nobody */
	ck_assert(!stream_ring_room_notify(&t.cons));
	struct waiter w = {.prod = &t.prod};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, room_waiter, &w), 0);
	/* let it sleep: wait until it has armed */
	while (!atomic_load(&t.ctl->prod_waiting))
		usleep(1000);
	ck_assert_int_eq(stream_ring_publish_tail(&t.cons, 500), 0);
	stream_ring_room_notify(&t.cons); /* not enough room yet: it looks and sleeps again */
	usleep(20000);
	ck_assert_int_eq(stream_ring_publish_tail(&t.cons, 1500), 0);
	/* the waiter may be between a look and its wait: notify until it leaves */
	struct timespec ts0;
	clock_gettime(CLOCK_MONOTONIC, &ts0);
	for (;;) {
		stream_ring_room_notify(&t.cons);
		if (pthread_tryjoin_np(th, NULL) == 0)
			break;
		usleep(1000);
	}
	ck_assert_int_eq(w.rc, 0);
	ck_assert_int_eq(w.room, 1500);
	/* a waiter with no room and no notify times out */
	ck_assert_int_eq(stream_ring_room_wait(&t.prod, stream_ring_room_seq(&t.prod), 30),
			 -ETIMEDOUT);
	/* a stale seq returns at once */
	ck_assert_int_eq(stream_ring_room_wait(&t.prod, stream_ring_room_seq(&t.prod) - 1, 5000), 0);
	tring_free(&t);
}
END_TEST

/* ---- two threads, then two processes, moving bytes in random chunks ---- */

struct mover {
	struct stream_ring *ring;
	int data_efd; /* producer -> consumer: "head moved" (the role a slot eventfd plays) */
	uint64_t start;
	uint64_t total;
	uint64_t seed;
	uint64_t bad_at; /* consumer: first wrong index + 1, 0 if none */
	uint64_t waits;
};

static uint32_t mover_rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (uint32_t)((*s * 0x2545F4914F6CDD1Dull) >> 32);
}

static void *producer_run(void *arg)
{
	struct mover *m = arg;
	struct stream_ring *r = m->ring;
	uint64_t s = m->seed, pos = m->start, end = m->start + m->total;
	uint8_t chunk[70000];
	while (pos != end) { /* != : the indices may wrap through 2^64 */
		size_t want = mover_rng(&s) % sizeof(chunk) + 1;
		if (want > end - pos)
			want = (size_t)(end - pos);
		/* block until some room, as a blocking send does */
		int64_t room;
		for (;;) {
			uint32_t seq = stream_ring_room_seq(r);
			room = stream_ring_writable(r);
			if (room != 0)
				break;
			stream_ring_room_arm(r);
			room = stream_ring_writable(r);
			if (room != 0)
				break;
			m->waits++;
			stream_ring_room_wait(r, seq, 1000);
		}
		if (room < 0)
			return NULL;
		size_t n = want < (size_t)room ? want : (size_t)room;
		/* sometimes in two pieces, the second placed first (beyond head) */
		size_t cut = n > 1 && (mover_rng(&s) & 1) ? mover_rng(&s) % n : n;
		fill(chunk, pos, n);
		if (cut < n && stream_ring_write_at(r, pos + cut, chunk + cut, n - cut) != 0)
			return NULL;
		if (stream_ring_write_at(r, pos, chunk, cut) != 0)
			return NULL;
		if (stream_ring_publish_head(r, pos + n) != 0)
			return NULL;
		pos += n;
		uint64_t one = 1;
		if (write(m->data_efd, &one, sizeof(one)) != sizeof(one))
			return NULL;
	}
	return NULL;
}

static void *consumer_run(void *arg)
{
	struct mover *m = arg;
	struct stream_ring *r = m->ring;
	uint64_t s = m->seed ^ 0xfeedull, pos = m->start, end = m->start + m->total;
	uint8_t chunk[50000];
	while (pos != end) { /* != : the indices may wrap through 2^64 */
		int64_t avail = stream_ring_readable(r);
		if (avail < 0) {
			m->bad_at = pos + 1;
			return NULL;
		}
		if (avail == 0) {
			uint64_t v;
			if (read(m->data_efd, &v, sizeof(v)) != sizeof(v))
				return NULL; /* blocking eventfd: sleeps until the producer writes */
			continue;
		}
		size_t n = mover_rng(&s) % sizeof(chunk) + 1;
		if (n > (uint64_t)avail)
			n = (size_t)avail;
		if (stream_ring_read_at(r, pos, chunk, n) != 0 || check_bytes(chunk, pos, n) != n) {
			m->bad_at = pos + 1;
			return NULL;
		}
		pos += n;
		if (stream_ring_publish_tail(r, pos) != 0)
			return NULL;
		stream_ring_room_notify(r);
	}
	return NULL;
}

START_TEST(threads_move_384m)
{
	struct tring t;
	uint64_t start = UINT64_MAX - (100ull << 20); /* crosses 2^64 a third of the way in */
	tring_init(&t, 256u << 10, start);
	int efd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(efd, 0);
	uint64_t total = 384ull << 20;
	struct mover p = {.ring = &t.prod, .data_efd = efd, .start = start, .total = total,
			  .seed = 0x9e3779b97f4a7c15ull};
	struct mover c = p;
	c.ring = &t.cons;
	pthread_t tp, tc;
	ck_assert_int_eq(pthread_create(&tc, NULL, consumer_run, &c), 0);
	ck_assert_int_eq(pthread_create(&tp, NULL, producer_run, &p), 0);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	ck_assert_uint_eq(c.bad_at, 0);
	ck_assert_uint_eq(atomic_load(&t.ctl->head), start + total);
	ck_assert_uint_eq(atomic_load(&t.ctl->tail), start + total);
	ck_assert(!stream_ring_broken(&t.prod) && !stream_ring_broken(&t.cons));
	close(efd);
	tring_free(&t);
}
END_TEST

/* The deployment: producer and consumer in two processes over MAP_SHARED memory. */
START_TEST(two_processes_128m)
{
	size_t size = 64u << 10;
	uint8_t *shm = mmap(NULL, RING_CACHELINE * 2 + size, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert(shm != MAP_FAILED);
	struct ring_shared *ctl = (struct ring_shared *)(void *)shm;
	uint8_t *data = shm + sizeof(*ctl);
	ring_format(ctl);
	int efd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(efd, 0);
	uint64_t total = 128ull << 20;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct stream_ring prod;
		if (stream_ring_attach(&prod, RING_PRODUCER, ctl, data, (uint32_t)size) != 0)
			_exit(2);
		struct mover p = {.ring = &prod, .data_efd = efd, .total = total, .seed = 77};
		producer_run(&p);
		_exit(atomic_load(&ctl->head) == total ? 0 : 3);
	}
	struct stream_ring cons;
	ck_assert_int_eq(stream_ring_attach(&cons, RING_CONSUMER, ctl, data, (uint32_t)size), 0);
	struct mover c = {.ring = &cons, .data_efd = efd, .total = total, .seed = 77};
	consumer_run(&c);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_uint_eq(c.bad_at, 0);
	ck_assert_uint_eq(atomic_load(&ctl->tail), total);
	close(efd);
	munmap(shm, RING_CACHELINE * 2 + size);
}
END_TEST

static Suite *stream_ring_suite(void)
{
	Suite *s = suite_create("stream_ring");
	TCase *tc = tcase_create("stream_ring");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, attach_checks);
	tcase_add_test(tc, wrap_every_offset);
	tcase_add_test(tc, spans_split_at_the_end);
	tcase_add_test(tc, windows_and_publish_rules);
	tcase_add_test(tc, out_of_order_beyond_head);
	tcase_add_test(tc, hostile_head);
	tcase_add_test(tc, hostile_tail);
	tcase_add_test(tc, fuzz_indices);
	tcase_add_test(tc, event_crossed);
	tcase_add_test(tc, room_wait_and_notify);
	tcase_add_test(tc, threads_move_384m);
	tcase_add_test(tc, two_processes_128m);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(stream_ring_suite());
}
