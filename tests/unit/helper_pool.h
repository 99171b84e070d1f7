/* helper_pool: pool fixtures for unit tests (STYLE rule 16: every test checks for leaks).
 *
 * Tests make a private anonymous pool with tpool_new(), build frames with tpool_frame(), and end
 * with tpool_destroy(), which fails the test unless every buffer is back on the free list.
 * All helpers ck_assert on failure, so a test never has to check their results.
 */
#ifndef USTACK_HELPER_POOL_H
#define USTACK_HELPER_POOL_H

#include <stddef.h>

#include "buf.h"
#include "pool.h"

/* Anonymous pool of `count` buffers acting as `self` (pool_create_anon); ck_asserts on failure. */
struct pool *tpool_new(unsigned count, enum pool_holder self);

/* ck_asserts that the free count equals the total count: nothing leaked. */
void tpool_assert_idle(struct pool *p);

/* Asserts the pool is idle, then closes it and clears *p. Safe on *p == NULL. */
void tpool_destroy(struct pool **p);

/* Allocates one buffer (held by the pool's self) holding a copy of bytes[0..len) at
 * POOL_HEADROOM; len <= POOL_DATA_ROOM. The caller owns the result; ck_asserts on failure. */
struct buf *tpool_frame(struct pool *p, const void *bytes, size_t len);

#endif
