/* test_buf: the skb-style buffer API and chains, on a private anonymous pool.
 *
 * Every test starts and ends with an idle pool (setup/teardown via helper_pool), and every
 * failure path is checked to leave the buffer, the chain and the pool exactly as they were.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "helper_check.h"
#include "helper_pool.h"
#include "pool.h"
#include "pool_priv.h"

#define TEST_POOL_COUNT 128u

static struct pool *pool;

static void setup(void) { pool = tpool_new(TEST_POOL_COUNT, POOL_HOLDER_TOOL); }
static void teardown(void) { tpool_destroy(&pool); }

/* Snapshot of one buffer's visible state, to prove a failed call changed nothing. */
struct snap {
	struct buf_meta meta;
	uint8_t slot[POOL_SLOT_SIZE];
	uint32_t free_count;
};

static void snap_take(struct snap *s, const struct buf *b)
{
	memcpy(&s->meta, b->meta, sizeof(s->meta));
	memcpy(s->slot, b->slot, POOL_SLOT_SIZE);
	s->free_count = pool_free_count(b->pool);
}

static void snap_assert_same(const struct snap *s, const struct buf *b)
{
	ck_assert_mem_eq(&s->meta, b->meta, sizeof(s->meta));
	ck_assert_mem_eq(s->slot, b->slot, POOL_SLOT_SIZE);
	ck_assert_uint_eq(s->free_count, pool_free_count(b->pool));
}

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31u + seed);
}

/* A chain of `n` frames of `each` bytes (pattern continues across frames). */
static struct buf *make_chain(unsigned n, size_t each, uint8_t *expect)
{
	struct buf *head = NULL;

	fill_pattern(expect, n * each, 7);
	for (unsigned i = 0; i < n; i++) {
		struct buf *b = tpool_frame(pool, expect + i * each, each);
		if (!head)
			head = b;
		else
			ck_assert_int_eq(buf_chain_append(head, &b), 0);
	}
	return head;
}

START_TEST(test_fresh_geometry)
{
	struct buf *b = pool_alloc(pool);

	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(buf_headroom(b), POOL_HEADROOM);
	ck_assert_uint_eq(buf_tailroom(b), POOL_DATA_ROOM);
	ck_assert_uint_eq(buf_len(b), 0);
	ck_assert_ptr_eq(buf_data(b), b->slot + POOL_HEADROOM);
	ck_assert_ptr_null(buf_next(b));
	ck_assert_ptr_eq(buf_last(b), b);
	ck_assert_uint_eq(buf_chain_count(b), 1);
	ck_assert_uint_eq(buf_chain_len(b), 0);
	pool_free(&b);
	ck_assert_ptr_null(b);
}
END_TEST

START_TEST(test_reserve)
{
	struct buf *b = pool_alloc(pool);
	struct snap s;

	ck_assert_int_eq(buf_reserve(b, 10), 0);
	ck_assert_uint_eq(buf_headroom(b), POOL_HEADROOM + 10);
	ck_assert_uint_eq(buf_tailroom(b), POOL_DATA_ROOM - 10);
	ck_assert_int_eq(buf_reserve(b, 0), 0);

	/* too much: -ENOSPC, unchanged */
	snap_take(&s, b);
	ck_assert_int_eq(buf_reserve(b, buf_tailroom(b) + 1), -ENOSPC);
	ck_assert_int_eq(buf_reserve(b, SIZE_MAX), -ENOSPC);
	snap_assert_same(&s, b);

	/* exactly the tailroom fits */
	ck_assert_int_eq(buf_reserve(b, buf_tailroom(b)), 0);
	ck_assert_uint_eq(buf_tailroom(b), 0);
	ck_assert_uint_eq(buf_headroom(b), POOL_SLOT_SIZE);
	pool_free(&b);

	/* holding data: -EINVAL, unchanged */
	b = tpool_frame(pool, "abc", 3);
	snap_take(&s, b);
	ck_assert_int_eq(buf_reserve(b, 1), -EINVAL);
	snap_assert_same(&s, b);
	pool_free(&b);
}
END_TEST

START_TEST(test_push_pull)
{
	struct buf *b = tpool_frame(pool, "payload", 7);
	uint8_t *start = buf_data(b);
	struct snap s;

	uint8_t *h = buf_push(b, 14);
	ck_assert_ptr_eq(h, start - 14);
	ck_assert_ptr_eq(h, buf_data(b));
	ck_assert_uint_eq(buf_len(b), 21);
	ck_assert_uint_eq(buf_headroom(b), POOL_HEADROOM - 14);
	memset(h, 0xee, 14);
	ck_assert_mem_eq(buf_data(b) + 14, "payload", 7);

	ck_assert_ptr_eq(buf_pull(b, 14), start);
	ck_assert_uint_eq(buf_len(b), 7);
	ck_assert_mem_eq(buf_data(b), "payload", 7);

	/* push past the headroom: NULL, unchanged */
	snap_take(&s, b);
	ck_assert_ptr_null(buf_push(b, POOL_HEADROOM + 1));
	ck_assert_ptr_null(buf_push(b, SIZE_MAX));
	snap_assert_same(&s, b);

	/* pull more than the buffer holds: NULL, unchanged */
	ck_assert_ptr_null(buf_pull(b, 8));
	ck_assert_ptr_null(buf_pull(b, SIZE_MAX));
	snap_assert_same(&s, b);

	/* whole headroom and whole data are fine */
	ck_assert_ptr_eq(buf_push(b, POOL_HEADROOM), b->slot);
	ck_assert_uint_eq(buf_headroom(b), 0);
	ck_assert_ptr_nonnull(buf_pull(b, buf_len(b)));
	ck_assert_uint_eq(buf_len(b), 0);
	ck_assert_uint_eq(buf_headroom(b) + buf_tailroom(b), POOL_SLOT_SIZE);
	pool_free(&b);
}
END_TEST

START_TEST(test_put)
{
	struct buf *b = pool_alloc(pool);
	struct snap s;

	uint8_t *t = buf_put(b, 100);
	ck_assert_ptr_eq(t, b->slot + POOL_HEADROOM);
	ck_assert_ptr_eq(buf_put(b, 50), t + 100);
	ck_assert_uint_eq(buf_len(b), 150);
	ck_assert_uint_eq(buf_tailroom(b), POOL_DATA_ROOM - 150);
	ck_assert_uint_eq(buf_headroom(b) + buf_len(b) + buf_tailroom(b), POOL_SLOT_SIZE);

	snap_take(&s, b);
	ck_assert_ptr_null(buf_put(b, buf_tailroom(b) + 1));
	ck_assert_ptr_null(buf_put(b, SIZE_MAX));
	snap_assert_same(&s, b);

	ck_assert_ptr_nonnull(buf_put(b, buf_tailroom(b)));
	ck_assert_uint_eq(buf_tailroom(b), 0);
	ck_assert_uint_eq(buf_len(b), POOL_DATA_ROOM);
	ck_assert_ptr_null(buf_put(b, 1));
	pool_free(&b);
}
END_TEST

START_TEST(test_trim_single)
{
	struct buf *b = tpool_frame(pool, "0123456789", 10);
	struct snap s;

	snap_take(&s, b);
	ck_assert_int_eq(buf_trim(b, 11), -EINVAL);
	snap_assert_same(&s, b);

	ck_assert_int_eq(buf_trim(b, 10), 0);
	ck_assert_uint_eq(buf_len(b), 10);
	ck_assert_int_eq(buf_trim(b, 4), 0);
	ck_assert_uint_eq(buf_len(b), 4);
	ck_assert_mem_eq(buf_data(b), "0123", 4);
	ck_assert_uint_eq(buf_tailroom(b), POOL_DATA_ROOM - 4);
	ck_assert_int_eq(buf_trim(b, 0), 0);
	ck_assert_uint_eq(buf_len(b), 0);
	pool_free(&b);
}
END_TEST

START_TEST(test_chain_append_split)
{
	uint8_t expect[300];
	struct buf *head = make_chain(3, 100, expect);
	struct buf *second = buf_next(head);
	struct buf *third = buf_next(second);

	ck_assert_ptr_nonnull(third);
	ck_assert_ptr_null(buf_next(third));
	ck_assert_ptr_eq(buf_last(head), third);
	ck_assert_ptr_eq(buf_last(third), third);
	ck_assert_uint_eq(buf_chain_count(head), 3);
	ck_assert_uint_eq(buf_chain_len(head), 300);
	ck_assert_uint_eq(buf_chain_len(second), 200);
	ck_assert_uint_eq(pool_free_count(pool), TEST_POOL_COUNT - 3);

	/* appending an empty tail is a no-op */
	struct buf *none = NULL;
	ck_assert_int_eq(buf_chain_append(head, &none), 0);
	ck_assert_uint_eq(buf_chain_count(head), 3);

	struct buf *rest = buf_chain_split(head);
	ck_assert_ptr_eq(rest, second);
	ck_assert_ptr_null(buf_next(head));
	ck_assert_uint_eq(buf_chain_count(head), 1);
	ck_assert_uint_eq(buf_chain_count(rest), 2);
	ck_assert_ptr_null(buf_chain_split(head));

	/* re-join in the other order */
	ck_assert_int_eq(buf_chain_append(rest, &head), 0);
	ck_assert_ptr_null(head);
	ck_assert_uint_eq(buf_last(rest)->meta->next, POOL_INDEX_NONE);
	ck_assert_uint_eq(buf_chain_count(rest), 3);
	uint8_t out[300];
	ck_assert_int_eq(buf_copy_out(rest, 0, out, 300), 0);
	ck_assert_mem_eq(out, expect + 100, 200);
	ck_assert_mem_eq(out + 200, expect, 100);

	pool_free(&rest);
}
END_TEST

START_TEST(test_chain_append_rejects_cycle)
{
	uint8_t expect[200];
	struct buf *head = make_chain(2, 100, expect);
	struct buf *second = buf_next(head);
	struct buf *alias = head;
	struct snap s;

	snap_take(&s, head);
	ck_assert_int_eq(buf_chain_append(head, &alias), -EINVAL);
	ck_assert_ptr_eq(alias, head);
	alias = second;
	ck_assert_int_eq(buf_chain_append(head, &alias), -EINVAL);
	ck_assert_ptr_eq(alias, second);
	snap_assert_same(&s, head);
	ck_assert_uint_eq(buf_chain_count(head), 2);

	/* a buffer of another pool view cannot join */
	struct pool *other = tpool_new(4, POOL_HOLDER_TOOL);
	struct buf *foreign = pool_alloc(other);
	ck_assert_int_eq(buf_chain_append(head, &foreign), -EINVAL);
	ck_assert_ptr_nonnull(foreign);
	pool_free(&foreign);
	tpool_destroy(&other);

	pool_free(&head);
}
END_TEST

START_TEST(test_chain_max)
{
	struct buf *head = tpool_frame(pool, "x", 1);

	for (unsigned i = 1; i < BUF_CHAIN_MAX; i++) {
		struct buf *b = tpool_frame(pool, "y", 1);
		ck_assert_int_eq(buf_chain_append(head, &b), 0);
	}
	ck_assert_uint_eq(buf_chain_count(head), BUF_CHAIN_MAX);
	ck_assert_uint_eq(buf_chain_len(head), BUF_CHAIN_MAX);

	struct buf *one = tpool_frame(pool, "z", 1);
	struct buf *last = buf_last(head);
	struct snap s;
	snap_take(&s, last);
	ck_assert_int_eq(buf_chain_append(head, &one), -E2BIG);
	ck_assert_ptr_nonnull(one);
	snap_assert_same(&s, last);
	ck_assert_uint_eq(buf_chain_count(head), BUF_CHAIN_MAX);
	pool_free(&one);

	/* append_data that needs one more buffer: -E2BIG, nothing allocated or written */
	uint8_t big[POOL_DATA_ROOM + 1];
	memset(big, 0xab, sizeof(big));
	snap_take(&s, last);
	ck_assert_int_eq(buf_append_data(head, big, buf_tailroom(last) + 1), -E2BIG);
	snap_assert_same(&s, last);
	/* fitting in the last buffer's tailroom still works */
	ck_assert_int_eq(buf_append_data(head, big, 10), 0);
	ck_assert_uint_eq(buf_chain_len(head), BUF_CHAIN_MAX + 10);
	ck_assert_uint_eq(buf_chain_count(head), BUF_CHAIN_MAX);

	/* a chain of 63 plus a chain of 2 is too long as well */
	struct buf *rest = buf_chain_split(buf_next(head)); /* head keeps 2, rest has 62 */
	struct buf *extra = tpool_frame(pool, "w", 1);
	ck_assert_int_eq(buf_chain_append(rest, &extra), 0);
	ck_assert_uint_eq(buf_chain_count(rest), BUF_CHAIN_MAX - 1);
	ck_assert_int_eq(buf_chain_append(rest, &head), -E2BIG);
	ck_assert_ptr_nonnull(head);
	ck_assert_uint_eq(buf_chain_count(rest), BUF_CHAIN_MAX - 1);
	ck_assert_uint_eq(buf_chain_count(head), 2);
	pool_free(&head);
	pool_free(&rest);
}
END_TEST

START_TEST(test_copy_out)
{
	uint8_t expect[3 * 50];
	struct buf *head = make_chain(3, 50, expect);
	uint8_t out[150];

	/* every window of the chain, across both boundaries */
	for (size_t off = 0; off <= 150; off++) {
		for (size_t len = 0; off + len <= 150; len += 7) {
			memset(out, 0, sizeof(out));
			ck_assert_int_eq(buf_copy_out(head, off, out, len), 0);
			ck_assert_mem_eq(out, expect + off, len);
		}
	}

	memset(out, 0x5a, sizeof(out));
	uint8_t ref[150];
	memset(ref, 0x5a, sizeof(ref));
	ck_assert_int_eq(buf_copy_out(head, 0, out, 151), -EINVAL);
	ck_assert_int_eq(buf_copy_out(head, 151, out, 0), -EINVAL);
	ck_assert_int_eq(buf_copy_out(head, 100, out, 51), -EINVAL);
	ck_assert_int_eq(buf_copy_out(head, SIZE_MAX, out, 2), -EINVAL);
	ck_assert_int_eq(buf_copy_out(head, 2, out, SIZE_MAX), -EINVAL);
	ck_assert_mem_eq(out, ref, sizeof(out));

	/* an empty buffer in the middle is skipped */
	struct buf *mid = buf_next(head);
	ck_assert_int_eq(buf_trim(mid, 0), 0); /* frees the third, mid now empty */
	struct buf *tail = tpool_frame(pool, expect + 100, 50);
	ck_assert_int_eq(buf_chain_append(head, &tail), 0);
	ck_assert_int_eq(buf_copy_out(head, 40, out, 20), 0);
	ck_assert_mem_eq(out, expect + 40, 10);
	ck_assert_mem_eq(out + 10, expect + 100, 10);
	pool_free(&head);
}
END_TEST

START_TEST(test_append_data_spanning)
{
	size_t len = 5000;
	uint8_t *src = malloc(len + 100);
	uint8_t *out = malloc(len + 100);

	fill_pattern(src, len + 100, 3);
	struct buf *head = tpool_frame(pool, src, 100);
	ck_assert_int_eq(buf_append_data(head, src + 100, len), 0);
	/* 1948 bytes fill the head, the rest needs ceil(3052 / 2240) = 2 more buffers */
	ck_assert_uint_eq(buf_chain_count(head), 3);
	ck_assert_uint_eq(buf_chain_len(head), len + 100);
	ck_assert_uint_eq(buf_tailroom(head), 0);
	struct buf *b2 = buf_next(head);
	ck_assert_uint_eq(buf_headroom(b2), 0);
	ck_assert_uint_eq(buf_len(b2), POOL_SLOT_SIZE);
	ck_assert_uint_eq(buf_headroom(buf_next(b2)), 0);
	ck_assert_int_eq(buf_copy_out(head, 0, out, len + 100), 0);
	ck_assert_mem_eq(out, src, len + 100);
	ck_assert_uint_eq(pool_free_count(pool), TEST_POOL_COUNT - 3);

	/* zero bytes: nothing happens */
	ck_assert_int_eq(buf_append_data(head, src, 0), 0);
	ck_assert_uint_eq(buf_chain_count(head), 3);

	/* appending exactly into the tailroom needs no new buffer */
	struct buf *single = pool_alloc(pool);
	ck_assert_int_eq(buf_append_data(single, src, POOL_DATA_ROOM), 0);
	ck_assert_uint_eq(buf_chain_count(single), 1);
	ck_assert_int_eq(buf_append_data(single, src, 1), 0);
	ck_assert_uint_eq(buf_chain_count(single), 2);
	pool_free(&single);

	pool_free(&head);
	free(src);
	free(out);
}
END_TEST

START_TEST(test_append_data_pool_dry)
{
	struct pool *tiny = tpool_new(2, POOL_HOLDER_TOOL);
	struct buf *head = tpool_frame(tiny, "0123456789", 10);
	size_t len = (POOL_DATA_ROOM - 10) + 2 * POOL_SLOT_SIZE; /* needs 2 more, 1 is free */
	uint8_t *src = calloc(1, len);
	struct snap s;

	snap_take(&s, head);
	ck_assert_int_eq(buf_append_data(head, src, len), -ENOMEM);
	snap_assert_same(&s, head);
	ck_assert_uint_eq(buf_chain_count(head), 1);
	ck_assert_uint_eq(pool_free_count(tiny), 1);
	ck_assert_int_eq(pool_priv_check(tiny), 0);

	/* one fewer byte fits */
	ck_assert_int_eq(buf_append_data(head, src, len - POOL_SLOT_SIZE), 0);
	ck_assert_uint_eq(buf_chain_count(head), 2);
	ck_assert_uint_eq(pool_free_count(tiny), 0);

	pool_free(&head);
	free(src);
	tpool_destroy(&tiny);
}
END_TEST

START_TEST(test_trim_chain)
{
	uint8_t expect[400];
	struct buf *head = make_chain(4, 100, expect);
	uint8_t out[400];

	/* cut in the middle of the second buffer: third and fourth go back to the pool */
	ck_assert_int_eq(buf_trim(head, 150), 0);
	ck_assert_uint_eq(buf_chain_count(head), 2);
	ck_assert_uint_eq(buf_chain_len(head), 150);
	ck_assert_uint_eq(buf_len(buf_next(head)), 50);
	ck_assert_uint_eq(pool_free_count(pool), TEST_POOL_COUNT - 2);
	ck_assert_int_eq(buf_copy_out(head, 0, out, 150), 0);
	ck_assert_mem_eq(out, expect, 150);

	/* longer than the chain: -EINVAL, nothing changed */
	struct snap s;
	snap_take(&s, buf_next(head));
	ck_assert_int_eq(buf_trim(head, 151), -EINVAL);
	snap_assert_same(&s, buf_next(head));
	ck_assert_uint_eq(buf_chain_count(head), 2);

	/* cut exactly at a boundary: the empty rest is freed */
	ck_assert_int_eq(buf_trim(head, 100), 0);
	ck_assert_uint_eq(buf_chain_count(head), 1);
	ck_assert_uint_eq(buf_len(head), 100);
	ck_assert_uint_eq(pool_free_count(pool), TEST_POOL_COUNT - 1);

	/* to zero on a chain: the head stays, empty */
	struct buf *more = tpool_frame(pool, expect, 10);
	ck_assert_int_eq(buf_chain_append(head, &more), 0);
	ck_assert_int_eq(buf_trim(head, 0), 0);
	ck_assert_uint_eq(buf_chain_count(head), 1);
	ck_assert_uint_eq(buf_len(head), 0);
	ck_assert_uint_eq(pool_free_count(pool), TEST_POOL_COUNT - 1);
	pool_free(&head);
}
END_TEST

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("buf");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_fresh_geometry);
	tcase_add_test(tc, test_reserve);
	tcase_add_test(tc, test_push_pull);
	tcase_add_test(tc, test_put);
	tcase_add_test(tc, test_trim_single);
	tcase_add_test(tc, test_chain_append_split);
	tcase_add_test(tc, test_chain_append_rejects_cycle);
	tcase_add_test(tc, test_chain_max);
	tcase_add_test(tc, test_copy_out);
	tcase_add_test(tc, test_append_data_spanning);
	tcase_add_test(tc, test_append_data_pool_dry);
	tcase_add_test(tc, test_trim_chain);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(buf_suite());
}
