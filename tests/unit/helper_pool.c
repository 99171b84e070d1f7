/* helper_pool: pool fixtures for unit tests; see helper_pool.h. */
#include "helper_pool.h"

#include <check.h>
#include <string.h>

struct pool *tpool_new(unsigned count, enum pool_holder self)
{
	struct pool_geometry geo = { .count = count };
	struct pool *p = NULL;
	int rc = pool_create_anon(&geo, self, &p);

	ck_assert_msg(rc == 0, "pool_create_anon(%u) failed: %d", count, rc);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(pool_free_count(p), count);
	return p;
}

void tpool_assert_idle(struct pool *p)
{
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(pool_free_count(p) == pool_count(p), "pool leaked: %u of %u buffers free",
		      pool_free_count(p), pool_count(p));
}

void tpool_destroy(struct pool **p)
{
	if (*p == NULL)
		return;
	tpool_assert_idle(*p);
	pool_close(p);
	ck_assert_ptr_null(*p);
}

struct buf *tpool_frame(struct pool *p, const void *bytes, size_t len)
{
	struct buf *b;
	uint8_t *dst;

	ck_assert_uint_le(len, POOL_DATA_ROOM);
	b = pool_alloc(p);
	ck_assert_msg(b != NULL, "tpool_frame: pool empty");
	ck_assert_uint_eq(buf_headroom(b), POOL_HEADROOM);
	dst = buf_put(b, len);
	ck_assert_ptr_nonnull(dst);
	if (len > 0)
		memcpy(dst, bytes, len);
	return b;
}
