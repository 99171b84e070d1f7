/* test_pool: the shared packet-buffer pool: create/attach, validation, allocation, ownership,
 * descriptor checks (including the in-flight mark that makes a descriptor good for one take),
 * best-effort transfer back after a receiver restart, reclaim after a killed holder and recovery
 * of the robust lock.
 *
 * Two fixtures: "named" tests use a real pool object (helper_shm: a private runtime directory and
 * an instance name that carries the test process's pid, as Check forks one process per test),
 * removed with everything else in teardown; "anon" tests use a
 * private pool. Both assert the pool idle in teardown (STYLE rule 16). Tests that need a second
 * process fork children that act as another layer and always leave with _exit().
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "helper_check.h"
#include "helper_pool.h"
#include "helper_shm.h"
#include "paths.h"
#include "pool.h"
#include "pool_priv.h"

#define NAMED_COUNT 64u
#define ANON_COUNT 80u /* > BUF_CHAIN_MAX, so a maximal chain fits */
#define RACE_COUNT 65536u /* big enough that creation takes a while and the loser must wait */

static char instance[40];
static struct pool *pool;

static void named_setup(void)
{
	struct pool_geometry geo = { .count = NAMED_COUNT };

	tshm_begin("utest-", instance, sizeof(instance));
	ck_assert_int_eq(pool_open(instance, &geo, POOL_HOLDER_TOOL, &pool), 0);
	tpool_assert_idle(pool);
}

static void named_teardown(void)
{
	tpool_destroy(&pool);
	tshm_end(instance);
}

static void anon_setup(void) { pool = tpool_new(ANON_COUNT, POOL_HOLDER_TOOL); }
static void anon_teardown(void) { tpool_destroy(&pool); }

/* The pool object, opened past every check (the test plays a stranger or a corrupter). */
static int raw_pool_open(int flags, mode_t mode)
{
	return tshm_raw_open(instance, "pool", flags, mode);
}

/* Fork a child that runs fn(arg) and _exit()s with its result. */
static pid_t fork_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

static int wait_exit_code(pid_t pid)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "child did not exit normally (status %#x)", st);
	return WEXITSTATUS(st);
}

static void kill_and_reap(pid_t pid)
{
	int st;

	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void read_byte(int fd)
{
	char c;

	ck_assert_int_eq(read(fd, &c, 1), 1);
}

/* ---- names, create, attach ----------------------------------------------------------------- */

START_TEST(test_pool_path)
{
	char out[512], link[512];
	ck_assert_int_eq(pool_path(instance, out, sizeof(out)), 0);
	ck_assert_int_eq(ustack_runtime_path(instance, "shm", link, sizeof(link)), 0);
	char target[512];
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	char want[600];
	snprintf(want, sizeof(want), "%s/pool", target);
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(pool_path("", out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(pool_path("a/b", out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(pool_path(instance, out, 10), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_create_attach)
{
	struct pool_geometry geo = { .count = NAMED_COUNT };
	struct pool *ipd = NULL, *tcpd = NULL;

	ck_assert_uint_eq(pool_count(pool), NAMED_COUNT);
	ck_assert_int_eq(pool_self(pool), POOL_HOLDER_TOOL);

	/* a second opener with the same geometry attaches; pool_attach reads the geometry */
	ck_assert_int_eq(pool_open(instance, &geo, POOL_HOLDER_IPD, &ipd), 0);
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_TCPD, &tcpd), 0);
	ck_assert_uint_eq(pool_count(tcpd), NAMED_COUNT);

	/* data written through one view is seen through another, handed over by descriptor */
	struct buf *b = pool_alloc(ipd);
	ck_assert_ptr_nonnull(b);
	memcpy(buf_put(b, 5), "hello", 5);
	uint32_t idx = buf_index(b), gen = buf_gen(b);
	ck_assert_uint_eq(pool_free_count(pool), NAMED_COUNT - 1);
	ck_assert_ptr_null(pool_take(tcpd, idx, gen, 5)); /* not transferred yet */
	ck_assert_int_eq(pool_transfer(ipd, &b, 1, POOL_HOLDER_TCPD), 0);
	struct buf *t = pool_take(tcpd, idx, gen, 5);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_eq(t, pool_buf(tcpd, idx));
	ck_assert_mem_eq(buf_data(t), "hello", 5);
	pool_free(&t);
	ck_assert_uint_eq(pool_free_count(ipd), NAMED_COUNT);

	size_t len = 0;
	ck_assert_ptr_nonnull(pool_data_area(tcpd, &len));
	ck_assert_uint_eq(len, (size_t)NAMED_COUNT * POOL_SLOT_SIZE);
	ck_assert_uint_eq((uintptr_t)pool_data_area(tcpd, NULL) % 64, 0);
	ck_assert_ptr_eq(pool_data_area(tcpd, NULL), pool_buf(tcpd, 0)->slot);
	ck_assert_ptr_null(pool_buf(tcpd, NAMED_COUNT));
	ck_assert_int_eq(pool_priv_check(tcpd), 0);

	pool_close(&ipd);
	ck_assert_ptr_null(ipd);
	pool_close(&tcpd);
	pool_close(&tcpd); /* safe on NULL */

	/* bad arguments */
	struct pool *x = NULL;
	struct pool_geometry zero = { .count = 0 }, huge = { .count = POOL_MAX_COUNT + 1 };
	ck_assert_int_eq(pool_open(instance, &zero, POOL_HOLDER_IPD, &x), -EINVAL);
	ck_assert_int_eq(pool_open(instance, &huge, POOL_HOLDER_IPD, &x), -EINVAL);
	ck_assert_int_eq(pool_open(instance, &geo, POOL_HOLDER_FREE, &x), -EINVAL);
	ck_assert_int_eq(pool_open(instance, &geo, POOL_HOLDER_COUNT, &x), -EINVAL);
	ck_assert_int_eq(pool_open("a/b", &geo, POOL_HOLDER_IPD, &x), -EINVAL);
	ck_assert_ptr_null(x);

	/* unlink removes the name; mappings stay valid */
	ck_assert_int_eq(pool_unlink(instance), 0);
	ck_assert_int_eq(pool_unlink(instance), -ENOENT);
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_TCPD, &x), -ENOENT);
	ck_assert_ptr_null(x);
	b = pool_alloc(pool);
	ck_assert_ptr_nonnull(b);
	pool_free(&b);
}
END_TEST

struct race_arg {
	int gate;      /* read end: the child blocks until every write end is closed */
	int gate_w;    /* write end, closed by the child at once */
	enum pool_holder as;
};

static int race_child(void *arg)
{
	const struct race_arg *a = arg;
	struct pool_geometry geo = { .count = RACE_COUNT };
	struct pool *p = NULL;
	char c;

	close(a->gate_w);
	if (read(a->gate, &c, 1) != 0)
		return 10;
	int rc = pool_open(instance, &geo, a->as, &p);
	if (rc != 0)
		return 20 + (-rc % 100);
	struct buf *b = pool_alloc(p); /* left held: the parent counts it, then reclaims */
	if (!b)
		return 30;
	return 0;
}

START_TEST(test_excl_race)
{
	/* The fixture's pool is in the way: this test races creators of a fresh name. */
	tpool_destroy(&pool);
	ck_assert_int_eq(pool_unlink(instance), 0);

	for (int round = 0; round < 20; round++) {
		int gate[2];
		ck_assert_int_eq(pipe(gate), 0);
		struct race_arg a = { .gate = gate[0], .gate_w = gate[1], .as = POOL_HOLDER_TCPD };
		struct race_arg b = { .gate = gate[0], .gate_w = gate[1], .as = POOL_HOLDER_UDPD };
		pid_t pa = fork_child(race_child, &a);
		pid_t pb = fork_child(race_child, &b);
		close(gate[0]);
		close(gate[1]); /* both children start now */
		ck_assert_int_eq(wait_exit_code(pa), 0);
		ck_assert_int_eq(wait_exit_code(pb), 0);

		/* one pool: each child's buffer is in it */
		ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_TOOL, &pool), 0);
		uint32_t held[POOL_HOLDER_COUNT];
		pool_holder_counts(pool, held);
		ck_assert_uint_eq(held[POOL_HOLDER_TCPD], 1);
		ck_assert_uint_eq(held[POOL_HOLDER_UDPD], 1);
		ck_assert_uint_eq(held[POOL_HOLDER_FREE], RACE_COUNT - 2);
		ck_assert_uint_eq(pool_reclaim(pool, POOL_HOLDER_TCPD), 1);
		ck_assert_uint_eq(pool_reclaim(pool, POOL_HOLDER_UDPD), 1);
		ck_assert_int_eq(pool_priv_check(pool), 0);
		tpool_destroy(&pool);
		ck_assert_int_eq(pool_unlink(instance), 0);
	}
	/* leave a pool for the teardown */
	struct pool_geometry geo = { .count = NAMED_COUNT };
	ck_assert_int_eq(pool_open(instance, &geo, POOL_HOLDER_TOOL, &pool), 0);
}
END_TEST

START_TEST(test_attach_mismatch)
{
	struct pool_geometry other = { .count = NAMED_COUNT * 2 };
	struct pool_shared *h = pool->hdr;
	struct pool *x = NULL;

	ck_assert_int_eq(pool_open(instance, &other, POOL_HOLDER_IPD, &x), -EINVAL);

	uint32_t saved = h->version;
	h->version = POOL_VERSION + 1;
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_IPD, &x), -EPROTO);
	h->version = saved;

	saved = h->magic;
	h->magic = 0xdeadbeefu;
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_IPD, &x), -EPROTO);
	h->magic = saved;

	uint32_t *fields[] = { &h->slot_size, &h->headroom, &h->meta_size, &h->header_size,
			       &h->count };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		saved = *fields[i];
		*fields[i] = saved + 64;
		ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_IPD, &x), -EINVAL);
		*fields[i] = 0;
		ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_IPD, &x), -EINVAL);
		*fields[i] = saved;
	}
	uint64_t saved64 = h->slots_off;
	h->slots_off += 4096;
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_IPD, &x), -EINVAL);
	h->slots_off = saved64;

	/* the object's real size must match the header */
	int fd = raw_pool_open(O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(ftruncate(fd, st.st_size + 4096), 0);
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_IPD, &x), -EINVAL);
	ck_assert_int_eq(ftruncate(fd, st.st_size), 0);
	close(fd);
	ck_assert_ptr_null(x);

	/* all restored: attach works again */
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_IPD, &x), 0);
	pool_close(&x);
}
END_TEST

START_TEST(test_attach_waits_for_magic)
{
	struct pool_geometry geo = { .count = NAMED_COUNT };
	struct pool *x = NULL;
	struct timespec t0, t1;

	tpool_destroy(&pool);
	ck_assert_int_eq(pool_unlink(instance), 0);

	/* an object a creator has not sized yet, then one not yet initialised (no magic) */
	int fd = raw_pool_open(O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_IPD, &x), -EAGAIN);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_ge(t1.tv_sec - t0.tv_sec, 0);
	double waited = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(waited >= 0.9 && waited < 5.0, "waited %.3f s", waited);

	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	ck_assert_int_eq(pool_open(instance, &geo, POOL_HOLDER_IPD, &x), -EAGAIN);
	ck_assert_ptr_null(x);

	/* a stranger's object: garbage where the magic would be */
	uint32_t *words = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(words, MAP_FAILED);
	words[0] = 0x12345678u;
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_IPD, &x), -EPROTO);
	ck_assert_int_eq(pool_open(instance, &geo, POOL_HOLDER_IPD, &x), -EPROTO);
	munmap(words, 4096);
	close(fd);
	ck_assert_ptr_null(x);

	ck_assert_int_eq(pool_unlink(instance), 0);
	ck_assert_int_eq(pool_open(instance, &geo, POOL_HOLDER_TOOL, &pool), 0);
}
END_TEST

/* ---- allocation ---------------------------------------------------------------------------- */

START_TEST(test_alloc_until_empty)
{
	struct buf *all[ANON_COUNT];
	uint32_t gens[ANON_COUNT];
	uint32_t held[POOL_HOLDER_COUNT];

	for (unsigned i = 0; i < ANON_COUNT; i++) {
		all[i] = pool_alloc(pool);
		ck_assert_ptr_nonnull(all[i]);
		ck_assert_uint_eq(buf_headroom(all[i]), POOL_HEADROOM);
		ck_assert_uint_eq(buf_len(all[i]), 0);
		ck_assert_uint_eq(all[i]->meta->next, POOL_INDEX_NONE);
		ck_assert_uint_eq(all[i]->meta->holder, POOL_HOLDER_TOOL);
		ck_assert_ptr_eq(all[i], pool_buf(pool, buf_index(all[i])));
		for (unsigned j = 0; j < i; j++)
			ck_assert_ptr_ne(all[i], all[j]);
		gens[i] = buf_gen(all[i]);
		buf_put(all[i], 7); /* dirty it: the next alloc must reset it */
		ck_assert_uint_eq(pool_free_count(pool), ANON_COUNT - 1 - i);
	}
	ck_assert_ptr_null(pool_alloc(pool));
	ck_assert_ptr_null(pool_alloc(pool));
	ck_assert_uint_eq(pool->hdr->alloc_failed, 2);
	pool_holder_counts(pool, held);
	ck_assert_uint_eq(held[POOL_HOLDER_TOOL], ANON_COUNT);
	ck_assert_uint_eq(held[POOL_HOLDER_FREE], 0);

	struct buf *keep[ANON_COUNT];
	memcpy(keep, all, sizeof(all));
	/* in flight to ourselves (marked): freeing must still leave every flag 0 */
	ck_assert_int_eq(pool_transfer(pool, all, ANON_COUNT, POOL_HOLDER_TOOL), 0);
	pool_free_burst(pool, all, ANON_COUNT);
	for (unsigned i = 0; i < ANON_COUNT; i++) {
		ck_assert_ptr_null(all[i]);
		ck_assert_uint_eq(buf_gen(keep[i]), gens[i] + 1);
		ck_assert_uint_eq(keep[i]->meta->holder, POOL_HOLDER_FREE);
		ck_assert_uint_eq(keep[i]->meta->flags, 0);
	}
	tpool_assert_idle(pool);

	struct buf *b = pool_alloc(pool);
	ck_assert_uint_eq(buf_len(b), 0);
	ck_assert_uint_eq(buf_headroom(b), POOL_HEADROOM);
	pool_free(&b);
	pool_free(&b); /* safe on NULL */
	ck_assert_int_eq(pool_priv_check(pool), 0);
}
END_TEST

START_TEST(test_alloc_burst_partial)
{
	struct buf *a[ANON_COUNT], *b[ANON_COUNT], *c[4];

	ck_assert_uint_eq(pool_alloc_burst(pool, a, 10), 10);
	ck_assert_uint_eq(pool_alloc_burst(pool, b, ANON_COUNT), ANON_COUNT - 10);
	ck_assert_uint_eq(pool_alloc_burst(pool, c, 4), 0);
	ck_assert_uint_eq(pool_free_count(pool), 0);
	ck_assert_uint_eq(pool_alloc_burst(pool, c, 0), 0);

	pool_free_burst(pool, a, 10);
	ck_assert_uint_eq(pool_free_count(pool), 10);
	ck_assert_uint_eq(pool_alloc_burst(pool, c, 4), 4);
	pool_free_burst(pool, c, 4);
	pool_free_burst(pool, b, ANON_COUNT - 10);
	for (unsigned i = 0; i < 4; i++)
		ck_assert_ptr_null(c[i]);
}
END_TEST

START_TEST(test_free_chain)
{
	struct buf *head = tpool_frame(pool, "a", 1);

	for (int i = 0; i < 4; i++) {
		struct buf *b = tpool_frame(pool, "b", 1);
		ck_assert_int_eq(buf_chain_append(head, &b), 0);
	}
	struct buf *other = tpool_frame(pool, "c", 1);
	ck_assert_uint_eq(pool_free_count(pool), ANON_COUNT - 6);
	pool_free(&head); /* the whole chain */
	ck_assert_ptr_null(head);
	ck_assert_uint_eq(pool_free_count(pool), ANON_COUNT - 1);

	/* free_burst frees whole chains too, and skips NULL entries */
	head = tpool_frame(pool, "a", 1);
	struct buf *tail = tpool_frame(pool, "b", 1);
	ck_assert_int_eq(buf_chain_append(head, &tail), 0);
	struct buf *v[3] = { head, NULL, other };
	pool_free_burst(pool, v, 3);
	ck_assert_ptr_null(v[0]);
	ck_assert_ptr_null(v[2]);
	ck_assert_int_eq(pool_priv_check(pool), 0);
}
END_TEST

START_TEST(test_free_not_ours)
{
	/* freeing a buffer somebody else holds would hand their data out: refused */
	struct buf *b = pool_alloc(pool);
	struct buf *keep = b;

	ck_assert_int_eq(pool_transfer(pool, &b, 1, POOL_HOLDER_IPD), 0);
	pool_free(&b);
	ck_assert_ptr_null(b);
	ck_assert_uint_eq(keep->meta->holder, POOL_HOLDER_IPD);
	ck_assert_uint_eq(pool_free_count(pool), ANON_COUNT - 1);
	ck_assert_uint_eq(pool_reclaim(pool, POOL_HOLDER_IPD), 1);
}
END_TEST

/* ---- ownership ----------------------------------------------------------------------------- */

static void assert_held(uint32_t tool, uint32_t ipd, uint32_t udpd)
{
	uint32_t held[POOL_HOLDER_COUNT];

	pool_holder_counts(pool, held);
	ck_assert_uint_eq(held[POOL_HOLDER_TOOL], tool);
	ck_assert_uint_eq(held[POOL_HOLDER_IPD], ipd);
	ck_assert_uint_eq(held[POOL_HOLDER_UDPD], udpd);
}

static bool in_flight(const struct buf *b)
{
	return (b->meta->flags & BUF_META_F_INFLIGHT) != 0;
}

/* Every buffer of b's chain is (or is not) marked in flight. */
static void assert_chain_marked(const struct buf *b, bool marked)
{
	for (; b; b = buf_next(b))
		ck_assert_msg(in_flight(b) == marked, "buffer %u: in flight %d, want %d",
			      buf_index(b), in_flight(b), marked);
}

START_TEST(test_transfer)
{
	struct buf *c1 = tpool_frame(pool, "1", 1);
	struct buf *c1b = tpool_frame(pool, "2", 1);
	struct buf *c2 = tpool_frame(pool, "3", 1);
	struct buf *v[2], *w[2];

	ck_assert_int_eq(buf_chain_append(c1, &c1b), 0);
	v[0] = c1;
	v[1] = c2;
	ck_assert_int_eq(pool_transfer(pool, v, 2, POOL_HOLDER_IPD), 0);
	assert_held(0, 3, 0);
	assert_chain_marked(c1, true);
	assert_chain_marked(c2, true);

	/* no longer ours: -EPERM, nothing changes */
	ck_assert_int_eq(pool_transfer(pool, v, 1, POOL_HOLDER_UDPD), -EPERM);
	assert_held(0, 3, 0);
	/* transfer_back from the wrong holder takes nothing back and clears the entries, so the
	 * caller's free that follows cannot touch chains that are not ours */
	w[0] = c1;
	w[1] = c2;
	ck_assert_int_eq(pool_transfer_back(pool, w, 2, POOL_HOLDER_UDPD), 0);
	ck_assert_ptr_null(w[0]);
	ck_assert_ptr_null(w[1]);
	assert_held(0, 3, 0);
	assert_chain_marked(c1, true);
	w[0] = c1;
	w[1] = c2;
	ck_assert_int_eq(pool_transfer_back(pool, w, 2, POOL_HOLDER_IPD), 2);
	ck_assert_ptr_eq(w[0], c1);
	ck_assert_ptr_eq(w[1], c2);
	assert_held(3, 0, 0);
	assert_chain_marked(c1, false);
	assert_chain_marked(c2, false);
	/* twice: nothing is in flight any more */
	ck_assert_int_eq(pool_transfer_back(pool, w, 2, POOL_HOLDER_IPD), 0);
	ck_assert_ptr_null(w[0]);
	assert_held(3, 0, 0);

	/* all or nothing: c1 is ours, c2 is not, so c1 stays ours and unmarked */
	ck_assert_int_eq(pool_transfer(pool, &c2, 1, POOL_HOLDER_UDPD), 0);
	ck_assert_int_eq(pool_transfer(pool, v, 2, POOL_HOLDER_IPD), -EPERM);
	assert_held(2, 0, 1);
	assert_chain_marked(c1, false);
	w[0] = c2;
	ck_assert_int_eq(pool_transfer_back(pool, w, 1, POOL_HOLDER_UDPD), 1);

	/* a chain whose SECOND buffer is somebody else's is refused as a whole */
	struct buf *mid = buf_next(c1);
	ck_assert_int_eq(pool_transfer(pool, &mid, 1, POOL_HOLDER_UDPD), 0);
	ck_assert_int_eq(pool_transfer(pool, &c1, 1, POOL_HOLDER_IPD), -EPERM);
	assert_held(2, 0, 1);
	ck_assert(!in_flight(c1));
	w[0] = mid;
	ck_assert_int_eq(pool_transfer_back(pool, w, 1, POOL_HOLDER_UDPD), 1);

	/* a chain in flight to us (handed over, not yet taken) is not ours to hand on */
	ck_assert_int_eq(pool_transfer(pool, &c2, 1, POOL_HOLDER_TOOL), 0);
	ck_assert_int_eq(pool_transfer(pool, &c2, 1, POOL_HOLDER_IPD), -EPERM);
	assert_held(3, 0, 0);
	ck_assert_ptr_eq(pool_take(pool, buf_index(c2), buf_gen(c2), 1), c2);
	ck_assert(!in_flight(c2));

	/* bad arguments: nothing changes, entries untouched */
	ck_assert_int_eq(pool_transfer(pool, v, 2, POOL_HOLDER_FREE), -EINVAL);
	ck_assert_int_eq(pool_transfer(pool, v, 2, POOL_HOLDER_COUNT), -EINVAL);
	struct buf *withnull[2] = { c1, NULL };
	ck_assert_int_eq(pool_transfer(pool, withnull, 2, POOL_HOLDER_IPD), -EINVAL);
	assert_held(3, 0, 0);
	assert_chain_marked(c1, false);
	ck_assert_int_eq(pool_transfer(pool, v, 0, POOL_HOLDER_IPD), 0);
	ck_assert_int_eq(pool_transfer_back(pool, v, 2, POOL_HOLDER_FREE), -EINVAL);
	ck_assert_int_eq(pool_transfer_back(pool, v, 2, POOL_HOLDER_COUNT), -EINVAL);
	ck_assert_int_eq(pool_transfer_back(pool, NULL, 1, POOL_HOLDER_IPD), -EINVAL);
	ck_assert_ptr_eq(v[0], c1);
	ck_assert_ptr_eq(v[1], c2);
	ck_assert_int_eq(pool_transfer_back(pool, v, 0, POOL_HOLDER_IPD), 0);

	pool_free_burst(pool, v, 2);
	ck_assert_int_eq(pool_priv_check(pool), 0);
}
END_TEST

/* ---- descriptors --------------------------------------------------------------------------- */

/* pool_take must not write anything when it fails: compare all metadata around each call. */
static void assert_take_null(uint32_t index, uint32_t gen, uint32_t total_len)
{
	size_t sz = sizeof(struct buf_meta) * ANON_COUNT;
	struct buf_meta *before = malloc(sz);

	memcpy(before, pool->meta, sz);
	ck_assert_ptr_null(pool_take(pool, index, gen, total_len));
	ck_assert_mem_eq(before, pool->meta, sz);
	free(before);
}

/* Hand b's chain to ourselves, as a peer's pool_transfer does: it is then in flight to us. */
static void to_self(struct buf *b)
{
	ck_assert_int_eq(pool_transfer(pool, &b, 1, pool_self(pool)), 0);
	assert_chain_marked(b, true);
}

START_TEST(test_take)
{
	struct buf *b = tpool_frame(pool, "0123456789", 10);
	uint32_t i = buf_index(b), g = buf_gen(b);

	/* ours, but never handed over: a descriptor naming it is forged */
	assert_take_null(i, g, 10);

	to_self(b);
	assert_take_null(i, g + 1, 10);	     /* wrong generation */
	assert_take_null(i, g, 9);	     /* wrong total_len */
	assert_take_null(i, g, 11);
	assert_take_null(ANON_COUNT, g, 10); /* out of range */
	assert_take_null(POOL_INDEX_NONE, g, 10);
	ck_assert_ptr_eq(pool_take(pool, i, g, 10), b);
	assert_chain_marked(b, false);
	assert_take_null(i, g, 10); /* taken already: good for one take only */

	/* wrong holder; after a transfer back it is ours again, not in flight */
	ck_assert_int_eq(pool_transfer(pool, &b, 1, POOL_HOLDER_IPD), 0);
	assert_take_null(i, g, 10);
	struct buf *back = b;
	ck_assert_int_eq(pool_transfer_back(pool, &back, 1, POOL_HOLDER_IPD), 1);
	assert_take_null(i, g, 10);

	/* offsets and lengths outside the slot */
	to_self(b);
	struct buf_meta saved = *b->meta;
	b->meta->data_off = POOL_SLOT_SIZE + 1;
	b->meta->data_len = 0;
	assert_take_null(i, g, 0);
	b->meta->data_off = POOL_SLOT_SIZE - 5;
	b->meta->data_len = 10;
	assert_take_null(i, g, 10);
	b->meta->data_off = 0;
	b->meta->data_len = UINT16_MAX;
	assert_take_null(i, g, UINT16_MAX);
	*b->meta = saved;
	ck_assert_ptr_eq(pool_take(pool, i, g, 10), b);

	/* chains: lengths add up over the chain; bad links and cycles are refused */
	struct buf *t = tpool_frame(pool, "abc", 3);
	struct buf *t_alias = t;
	ck_assert_int_eq(buf_chain_append(b, &t_alias), 0);
	to_self(b);
	ck_assert_ptr_eq(pool_take(pool, i, g, 13), b);
	assert_chain_marked(b, false);
	to_self(b);
	assert_take_null(i, g, 10);
	t->meta->next = ANON_COUNT + 3;
	assert_take_null(i, g, 13);
	t->meta->next = i; /* cycle b -> t -> b */
	assert_take_null(i, g, 13);
	assert_take_null(i, g, 13 * BUF_CHAIN_MAX / 2);
	t->meta->next = POOL_INDEX_NONE;
	/* every buffer must carry the mark, not just the head */
	t->meta->flags = 0;
	assert_take_null(i, g, 13);
	t->meta->flags = BUF_META_F_INFLIGHT;
	ck_assert_ptr_eq(pool_take(pool, i, g, 13), b);
	assert_chain_marked(b, false);

	/* a stale descriptor stays stale after the index is reused */
	pool_free(&b);
	assert_take_null(i, g, 13);
	struct buf *again[ANON_COUNT];
	unsigned n = pool_alloc_burst(pool, again, ANON_COUNT);
	ck_assert_uint_eq(n, ANON_COUNT);
	assert_take_null(i, g, 0);
	assert_take_null(i, g + 1, 0); /* reused, but not handed over */
	to_self(pool_buf(pool, i));
	ck_assert_ptr_eq(pool_take(pool, i, g + 1, 0), pool_buf(pool, i));
	pool_free_burst(pool, again, n);
}
END_TEST

START_TEST(test_take_chain_max)
{
	struct buf *head = tpool_frame(pool, "h", 1);

	for (unsigned k = 1; k < BUF_CHAIN_MAX; k++) {
		struct buf *b = tpool_frame(pool, "b", 1);
		ck_assert_int_eq(buf_chain_append(head, &b), 0);
	}
	uint32_t i = buf_index(head), g = buf_gen(head);
	to_self(head);
	ck_assert_ptr_eq(pool_take(pool, i, g, BUF_CHAIN_MAX), head);

	/* one more buffer (marked too) linked behind the API's back: too long */
	struct buf *extra = tpool_frame(pool, "e", 1);
	to_self(extra);
	to_self(head);
	struct buf *last = buf_last(head);
	last->meta->next = buf_index(extra);
	assert_take_null(i, g, BUF_CHAIN_MAX + 1);
	last->meta->next = POOL_INDEX_NONE;
	pool_free(&extra); /* in flight to us, still ours to free: flags end 0 */
	pool_free(&head);
	ck_assert_int_eq(pool_priv_check(pool), 0);
}
END_TEST

/* ---- descriptors between two layers (named pool, one view per layer) ----------------------- */

struct layers {
	struct pool *ipd, *tcpd, *udpd;
};

static void layers_open(struct layers *l)
{
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_IPD, &l->ipd), 0);
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_TCPD, &l->tcpd), 0);
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_UDPD, &l->udpd), 0);
}

static void layers_close(struct layers *l)
{
	pool_close(&l->ipd);
	pool_close(&l->tcpd);
	pool_close(&l->udpd);
	ck_assert_int_eq(pool_priv_check(pool), 0);
	tpool_assert_idle(pool);
}

START_TEST(test_take_twice)
{
	struct layers l;

	layers_open(&l);
	/* ipd hands tcpd a two-buffer chain and a single buffer in one batch */
	struct buf *c = tpool_frame(l.ipd, "abc", 3);
	struct buf *tail = tpool_frame(l.ipd, "de", 2);
	struct buf *tail_alias = tail;
	ck_assert_int_eq(buf_chain_append(c, &tail_alias), 0);
	struct buf *s = tpool_frame(l.ipd, "x", 1);
	uint32_t ci = buf_index(c), cg = buf_gen(c), ti = buf_index(tail), tg = buf_gen(tail);
	uint32_t si = buf_index(s), sg = buf_gen(s);
	struct buf *v[2] = { c, s };
	ck_assert_int_eq(pool_transfer(l.ipd, v, 2, POOL_HOLDER_TCPD), 0);

	/* the batch names the chain twice: the first descriptor takes it, the second is stale */
	struct buf *t1 = pool_take(l.tcpd, ci, cg, 5);
	ck_assert_ptr_eq(t1, pool_buf(l.tcpd, ci));
	ck_assert_ptr_null(pool_take(l.tcpd, ci, cg, 5));
	/* a later batch replays it, or names the chain's tail: stale too */
	ck_assert_ptr_null(pool_take(l.tcpd, ci, cg, 5));
	ck_assert_ptr_null(pool_take(l.tcpd, ti, tg, 2));
	/* the other chain of the batch is unaffected, and also good for one take only */
	struct buf *t2 = pool_take(l.tcpd, si, sg, 1);
	ck_assert_ptr_eq(t2, pool_buf(l.tcpd, si));
	ck_assert_ptr_null(pool_take(l.tcpd, si, sg, 1));

	/* tcpd frees each once: every buffer comes back exactly once, the list stays sound */
	ck_assert_uint_eq(pool_free_count(pool), NAMED_COUNT - 3);
	pool_free(&t1);
	pool_free(&t2);
	ck_assert_ptr_null(pool_take(l.tcpd, ci, cg, 5));
	ck_assert_ptr_null(pool_take(l.tcpd, si, sg, 1));
	layers_close(&l);
}
END_TEST

START_TEST(test_take_never_transferred)
{
	struct layers l;

	layers_open(&l);
	/* tcpd's own buffer: holder and generation match, but nobody handed it over */
	struct buf *own = tpool_frame(l.tcpd, "own", 3);
	ck_assert_ptr_null(pool_take(l.tcpd, buf_index(own), buf_gen(own), 3));
	ck_assert_uint_eq(own->meta->flags, 0);
	/* ipd's buffer, named before any transfer: not tcpd's */
	struct buf *b = tpool_frame(l.ipd, "abc", 3);
	ck_assert_ptr_null(pool_take(l.tcpd, buf_index(b), buf_gen(b), 3));
	/* handed over and taken back before the message left: never takeable */
	ck_assert_int_eq(pool_transfer(l.ipd, &b, 1, POOL_HOLDER_TCPD), 0);
	struct buf *back = b;
	ck_assert_int_eq(pool_transfer_back(l.ipd, &back, 1, POOL_HOLDER_TCPD), 1);
	ck_assert_ptr_null(pool_take(l.tcpd, buf_index(b), buf_gen(b), 3));
	ck_assert_uint_eq(b->meta->holder, POOL_HOLDER_IPD);
	pool_free(&own);
	pool_free(&back);
	layers_close(&l);
}
END_TEST

START_TEST(test_take_vs_transfer_back)
{
	struct layers l;

	layers_open(&l);
	/* the receiver took the chain first (the sender wrongly thinks its send failed): the
	 * transfer back must leave it to the receiver, and the sender's free must skip it */
	struct buf *b = tpool_frame(l.ipd, "abc", 3);
	uint32_t i = buf_index(b), g = buf_gen(b);
	ck_assert_int_eq(pool_transfer(l.ipd, &b, 1, POOL_HOLDER_TCPD), 0);
	struct buf *got = pool_take(l.tcpd, i, g, 3);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(pool_transfer_back(l.ipd, &b, 1, POOL_HOLDER_TCPD), 0);
	ck_assert_ptr_null(b);
	pool_free_burst(l.ipd, &b, 1);
	ck_assert_uint_eq(got->meta->holder, POOL_HOLDER_TCPD);
	pool_free(&got);

	/* the other order: taken back first, the descriptor is then stale */
	b = tpool_frame(l.ipd, "abc", 3);
	i = buf_index(b);
	g = buf_gen(b);
	ck_assert_int_eq(pool_transfer(l.ipd, &b, 1, POOL_HOLDER_TCPD), 0);
	ck_assert_int_eq(pool_transfer_back(l.ipd, &b, 1, POOL_HOLDER_TCPD), 1);
	ck_assert_ptr_null(pool_take(l.tcpd, i, g, 3));
	pool_free(&b);

	/* a chain this view never handed over is not taken back, even if in flight to `from` */
	struct buf *u = tpool_frame(l.udpd, "u", 1);
	ck_assert_int_eq(pool_transfer(l.udpd, &u, 1, POOL_HOLDER_TCPD), 0);
	struct buf *alias = pool_buf(l.ipd, buf_index(u));
	ck_assert_int_eq(pool_transfer_back(l.ipd, &alias, 1, POOL_HOLDER_TCPD), 0);
	ck_assert_ptr_null(alias);
	struct buf *ut = pool_take(l.tcpd, buf_index(u), buf_gen(u), 1);
	ck_assert_ptr_nonnull(ut);
	pool_free(&ut);
	layers_close(&l);
}
END_TEST

/* Build a chain of `len` one-byte buffers in p. */
static struct buf *chain_of(struct pool *p, unsigned len)
{
	struct buf *head = tpool_frame(p, "h", 1);

	for (unsigned k = 1; k < len; k++) {
		struct buf *b = tpool_frame(p, "b", 1);
		ck_assert_int_eq(buf_chain_append(head, &b), 0);
	}
	return head;
}

START_TEST(test_transfer_back_after_reclaim)
{
	struct layers l;
	uint32_t held[POOL_HOLDER_COUNT];

	layers_open(&l);
	/* A batch of four chains for tcpd whose send fails; the first two were handed over, then
	 * tcpd restarted and reclaimed them before the sender could take them back (what
	 * link_send meets when the receiver restarts between pool_transfer and zmq_send). */
	struct buf *v[4] = { chain_of(l.ipd, 2), chain_of(l.ipd, 1), chain_of(l.ipd, 3),
			     chain_of(l.ipd, 1) };
	struct buf *keep[4];
	memcpy(keep, v, sizeof(v));
	uint32_t gen1 = buf_gen(v[1]);
	ck_assert_int_eq(pool_transfer(l.ipd, v, 2, POOL_HOLDER_TCPD), 0);
	ck_assert_uint_eq(pool_reclaim(l.tcpd, POOL_HOLDER_TCPD), 3);
	ck_assert(!in_flight(keep[0]) && !in_flight(keep[1]));
	ck_assert_int_eq(pool_transfer(l.ipd, v + 2, 2, POOL_HOLDER_TCPD), 0);

	/* v[1]'s buffer is reallocated by udpd and handed to tcpd again: in flight to tcpd, held
	 * by it, marked — but a new generation, so not the chain ipd handed over (ABA) */
	struct buf *all[NAMED_COUNT], *reused = NULL;
	unsigned n = pool_alloc_burst(l.udpd, all, NAMED_COUNT);
	for (unsigned k = 0; k < n; k++) {
		if (buf_index(all[k]) == buf_index(keep[1])) {
			reused = all[k];
			all[k] = NULL;
		}
	}
	ck_assert_ptr_nonnull(reused);
	pool_free_burst(l.udpd, all, n);
	memcpy(buf_put(reused, 2), "ud", 2);
	ck_assert_uint_eq(buf_gen(reused), gen1 + 1);
	ck_assert_int_eq(pool_transfer(l.udpd, &reused, 1, POOL_HOLDER_TCPD), 0);

	/* best effort per chain: the two still in flight come back, the others become NULL */
	ck_assert_int_eq(pool_transfer_back(l.ipd, v, 4, POOL_HOLDER_TCPD), 2);
	ck_assert_ptr_null(v[0]);
	ck_assert_ptr_null(v[1]);
	ck_assert_ptr_eq(v[2], keep[2]);
	ck_assert_ptr_eq(v[3], keep[3]);
	assert_chain_marked(v[2], false);
	assert_chain_marked(v[3], false);
	for (const struct buf *b = v[2]; b; b = buf_next(b))
		ck_assert_uint_eq(b->meta->holder, POOL_HOLDER_IPD);
	pool_holder_counts(pool, held);
	ck_assert_uint_eq(held[POOL_HOLDER_IPD], 4);
	ck_assert_uint_eq(held[POOL_HOLDER_TCPD], 1);

	/* so the sender's free that follows frees exactly its own four buffers */
	pool_free_burst(l.ipd, v, 4);
	ck_assert_uint_eq(pool_free_count(pool), NAMED_COUNT - 1);
	/* udpd's chain was left alone: tcpd takes it with udpd's descriptor */
	struct buf *got = pool_take(l.tcpd, buf_index(reused), gen1 + 1, 2);
	ck_assert_ptr_nonnull(got);
	ck_assert_mem_eq(buf_data(got), "ud", 2);
	pool_free(&got);
	layers_close(&l);
}
END_TEST

/* A sender that dies between pool_transfer and its message reaching the receiver (killed with
 * the batch in its own ZeroMQ queue): its restarted successor's reclaim takes the chains back,
 * and a descriptor for one that still arrives is stale. Chains the receiver already took, and
 * chains another layer handed over, are left alone. */
START_TEST(test_reclaim_sender_in_flight)
{
	struct layers l;
	uint32_t held[POOL_HOLDER_COUNT];

	layers_open(&l);
	struct buf *lost[2] = { chain_of(l.ipd, 3), chain_of(l.ipd, 1) };
	struct buf *arrived = chain_of(l.ipd, 2);
	struct buf *other = chain_of(l.udpd, 2);
	uint32_t lost_ix = buf_index(lost[0]), lost_gen = buf_gen(lost[0]);
	uint32_t lost_len = buf_chain_len(lost[0]);
	uint32_t arr_ix = buf_index(arrived), arr_gen = buf_gen(arrived);
	uint32_t arr_len = buf_chain_len(arrived);
	ck_assert_int_eq(pool_transfer(l.ipd, lost, 2, POOL_HOLDER_TCPD), 0);
	ck_assert_int_eq(pool_transfer(l.ipd, &arrived, 1, POOL_HOLDER_TCPD), 0);
	ck_assert_int_eq(pool_transfer(l.udpd, &other, 1, POOL_HOLDER_TCPD), 0);
	/* tcpd took one of ipd's chains before ipd died */
	struct buf *got = pool_take(l.tcpd, arr_ix, arr_gen, arr_len);
	ck_assert_ptr_nonnull(got);

	/* ipd dies and restarts: it held nothing itself, but 4 buffers were in flight from it */
	ck_assert_uint_eq(pool_reclaim(l.ipd, POOL_HOLDER_IPD), 4);
	pool_holder_counts(pool, held);
	ck_assert_uint_eq(held[POOL_HOLDER_IPD], 0);
	ck_assert_uint_eq(held[POOL_HOLDER_TCPD], 2 + 2); /* the taken chain, udpd's in flight */
	/* a descriptor for a reclaimed chain that arrives after all is stale */
	ck_assert_ptr_null(pool_take(l.tcpd, lost_ix, lost_gen, lost_len));
	/* what tcpd took is intact, and udpd's chain still goes through */
	ck_assert_mem_eq(buf_data(got), "h", 1);
	ck_assert(!in_flight(got));
	struct buf *o = pool_take(l.tcpd, buf_index(other), buf_gen(other), buf_chain_len(other));
	ck_assert_ptr_nonnull(o);
	pool_free(&o);
	pool_free(&got);
	/* a second reclaim finds nothing more */
	ck_assert_uint_eq(pool_reclaim(l.ipd, POOL_HOLDER_IPD), 0);
	ck_assert_uint_eq(pool_free_count(pool), NAMED_COUNT);
	layers_close(&l);
}
END_TEST

/* A chain named inside another chain handed over in the same batch (a sender bug): reclaim
 * frees every buffer once. */
START_TEST(test_reclaim_sender_nested_chain)
{
	struct layers l;

	layers_open(&l);
	for (int order = 0; order < 2; order++) {
		struct buf *outer = chain_of(l.ipd, 4);
		struct buf *inner = buf_next(buf_next(outer)); /* the third buffer: a chain of 2 */
		struct buf *v[2] = { order ? outer : inner, order ? inner : outer };
		ck_assert_int_eq(pool_transfer(l.ipd, v, 2, POOL_HOLDER_TCPD), 0);
		ck_assert_uint_eq(pool_reclaim(l.ipd, POOL_HOLDER_IPD), 4);
		ck_assert_uint_eq(pool_free_count(pool), NAMED_COUNT);
	}
	layers_close(&l);
}
END_TEST

/* ---- crashes ------------------------------------------------------------------------------- */

struct crash_arg {
	int ready; /* write end: one byte once the child is in position */
	unsigned hold;
	bool die_locked;
	bool corrupt;
};

static int crash_child(void *arg)
{
	const struct crash_arg *a = arg;
	struct pool *p = NULL;
	struct buf *held[ANON_COUNT];

	if (pool_attach(instance, POOL_HOLDER_NICD, &p) != 0)
		return 10;
	if (pool_alloc_burst(p, held, a->hold) != a->hold)
		return 11;
	if (a->hold >= 2 && buf_chain_append(held[0], &held[1]) != 0)
		return 12;
	if (a->die_locked) {
		pool_priv_lock(p);
		if (a->corrupt) {
			/* a half-done update: the list head points at a held buffer, count lies */
			p->hdr->free_head = buf_index(held[0]);
			p->hdr->free_count = 12345;
			p->meta[p->count - 1].free_next = 7;
		}
	}
	if (write(a->ready, "r", 1) != 1)
		return 13;
	for (;;)
		pause();
}

START_TEST(test_reclaim_after_kill)
{
	int ready[2];

	ck_assert_int_eq(pipe(ready), 0);
	struct crash_arg a = { .ready = ready[1], .hold = 10 };
	pid_t pid = fork_child(crash_child, &a);
	read_byte(ready[0]);
	kill_and_reap(pid);
	close(ready[0]);
	close(ready[1]);

	uint32_t held[POOL_HOLDER_COUNT];
	pool_holder_counts(pool, held);
	ck_assert_uint_eq(held[POOL_HOLDER_NICD], 10);
	ck_assert_uint_eq(pool_free_count(pool), NAMED_COUNT - 10);

	/* the restarted layer reclaims what its predecessor held */
	struct pool *nicd = NULL;
	ck_assert_int_eq(pool_attach(instance, POOL_HOLDER_NICD, &nicd), 0);
	ck_assert_uint_eq(pool_reclaim(nicd, POOL_HOLDER_NICD), 10);
	ck_assert_uint_eq(pool_reclaim(nicd, POOL_HOLDER_NICD), 0);
	ck_assert_uint_eq(pool_reclaim(nicd, POOL_HOLDER_FREE), 0);
	pool_close(&nicd);
	ck_assert_uint_eq(pool->hdr->reclaimed, 10);
	ck_assert_int_eq(pool_priv_check(pool), 0);
	tpool_assert_idle(pool);
}
END_TEST

static void robust_case(bool corrupt)
{
	int ready[2];

	ck_assert_int_eq(pipe(ready), 0);
	struct crash_arg a = { .ready = ready[1], .hold = 3, .die_locked = true, .corrupt = corrupt };
	pid_t pid = fork_child(crash_child, &a);
	read_byte(ready[0]);
	kill_and_reap(pid);
	close(ready[0]);
	close(ready[1]);

	/* not wedged: the next call recovers the lock and rebuilds the free list */
	struct buf *b = pool_alloc(pool);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(pool->hdr->lock_recoveries, 1);
	ck_assert_uint_eq(pool_free_count(pool), NAMED_COUNT - 3 - 1);
	pool_free(&b);
	ck_assert_int_eq(pool_priv_check(pool), 0);
	ck_assert_int_eq(pool_priv_lock(pool), 0); /* recovered once, consistent since */
	pool_priv_unlock(pool);

	/* every free buffer is allocatable exactly once, none of the dead child's */
	struct buf *all[NAMED_COUNT];
	unsigned n = pool_alloc_burst(pool, all, NAMED_COUNT);
	ck_assert_uint_eq(n, NAMED_COUNT - 3);
	for (unsigned k = 0; k < n; k++)
		ck_assert_uint_eq(all[k]->meta->holder, POOL_HOLDER_TOOL);
	uint32_t held[POOL_HOLDER_COUNT];
	pool_holder_counts(pool, held);
	ck_assert_uint_eq(held[POOL_HOLDER_NICD], 3);
	ck_assert_uint_eq(held[POOL_HOLDER_TOOL], NAMED_COUNT - 3);
	pool_free_burst(pool, all, n);
	ck_assert_uint_eq(pool_reclaim(pool, POOL_HOLDER_NICD), 3);
	ck_assert_int_eq(pool_priv_check(pool), 0);
}

START_TEST(test_robust_lock_owner_dies)
{
	robust_case(false);
}
END_TEST

START_TEST(test_robust_lock_owner_dies_mid_update)
{
	robust_case(true);
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *named = tcase_create("named");
	TCase *anon = tcase_create("anon");

	tcase_add_checked_fixture(named, named_setup, named_teardown);
	tcase_set_timeout(named, 60);
	tcase_add_test(named, test_pool_path);
	tcase_add_test(named, test_create_attach);
	tcase_add_test(named, test_excl_race);
	tcase_add_test(named, test_attach_mismatch);
	tcase_add_test(named, test_attach_waits_for_magic);
	tcase_add_test(named, test_reclaim_after_kill);
	tcase_add_test(named, test_robust_lock_owner_dies);
	tcase_add_test(named, test_robust_lock_owner_dies_mid_update);
	tcase_add_test(named, test_take_twice);
	tcase_add_test(named, test_take_never_transferred);
	tcase_add_test(named, test_take_vs_transfer_back);
	tcase_add_test(named, test_transfer_back_after_reclaim);
	tcase_add_test(named, test_reclaim_sender_in_flight);
	tcase_add_test(named, test_reclaim_sender_nested_chain);
	suite_add_tcase(s, named);

	tcase_add_checked_fixture(anon, anon_setup, anon_teardown);
	tcase_set_timeout(anon, 30);
	tcase_add_test(anon, test_alloc_until_empty);
	tcase_add_test(anon, test_alloc_burst_partial);
	tcase_add_test(anon, test_free_chain);
	tcase_add_test(anon, test_free_not_ours);
	tcase_add_test(anon, test_transfer);
	tcase_add_test(anon, test_take);
	tcase_add_test(anon, test_take_chain_max);
	suite_add_tcase(s, anon);
	return s;
}

int main(void)
{
	return tcheck_run(pool_suite());
}
