/* buf: skb-style operations on one pool buffer and on chains of them.
 *
 * A buffer's data is [data_off, data_off + data_len) of its slot; 0 <= data_off and
 * data_off + data_len <= POOL_SLOT_SIZE always hold (pool_take checks it for buffers that come
 * from another process, every call here preserves it). Chains link through meta->next by index;
 * a chain holds at most BUF_CHAIN_MAX buffers, and every walk is bounded by that and by the
 * pool's count, so a corrupt link ends a walk instead of running off the pool.
 *
 * Ownership: none of these calls changes a buffer's holder. Calls that may allocate
 * (buf_append_data) take new buffers as the pool's self; calls that drop buffers (buf_trim) free
 * them to the pool. Every call that fails returns NULL or a negative errno and has modified
 * nothing: checks come first, then the change.
 */
#include "buf.h"

#include <errno.h>
#include <string.h>

#include "pool_priv.h"

/* Borrows b; no ownership change. NULL at the end of the chain or on an out-of-range link. */
struct buf *buf_next(const struct buf *b)
{
	uint32_t i = b->meta->next;

	if (i == POOL_INDEX_NONE || i >= b->pool->count)
		return NULL;
	return &b->pool->handles[i];
}

/* Borrows b; no ownership change. */
struct buf *buf_last(struct buf *b)
{
	struct buf *n;

	for (unsigned k = 1; k < BUF_CHAIN_MAX && (n = buf_next(b)) != NULL; k++)
		b = n;
	return b;
}

/* Borrows b; no ownership change. */
uint32_t buf_chain_len(const struct buf *b)
{
	uint32_t len = 0;

	for (unsigned k = 0; b && k < BUF_CHAIN_MAX; k++, b = buf_next(b))
		len += buf_len(b);
	return len;
}

/* Borrows b; no ownership change. */
unsigned buf_chain_count(const struct buf *b)
{
	unsigned n = 0;

	for (; b && n < BUF_CHAIN_MAX; b = buf_next(b))
		n++;
	return n;
}

/* Borrows b; no ownership change. Fails (-EINVAL / -ENOSPC) without touching b. */
int buf_reserve(struct buf *b, size_t len)
{
	if (b->meta->data_len != 0)
		return -EINVAL;
	if (len > POOL_SLOT_SIZE - (size_t)b->meta->data_off)
		return -ENOSPC;
	b->meta->data_off = (uint16_t)(b->meta->data_off + len);
	return 0;
}

/* Borrows b; no ownership change. NULL (b untouched) if headroom < len. */
uint8_t *buf_push(struct buf *b, size_t len)
{
	if (len > buf_headroom(b))
		return NULL;
	b->meta->data_off = (uint16_t)(b->meta->data_off - len);
	b->meta->data_len = (uint16_t)(b->meta->data_len + len);
	return buf_data(b);
}

/* Borrows b; no ownership change. NULL (b untouched) if b holds fewer than len bytes. */
uint8_t *buf_pull(struct buf *b, size_t len)
{
	if (len > buf_len(b))
		return NULL;
	b->meta->data_off = (uint16_t)(b->meta->data_off + len);
	b->meta->data_len = (uint16_t)(b->meta->data_len - len);
	return buf_data(b);
}

/* Borrows b; no ownership change. NULL (b untouched) if tailroom < len. */
uint8_t *buf_put(struct buf *b, size_t len)
{
	if (len > buf_tailroom(b))
		return NULL;
	uint8_t *tail = buf_data(b) + buf_len(b);
	b->meta->data_len = (uint16_t)(b->meta->data_len + len);
	return tail;
}

/* Borrows b; frees to the pool every buffer after the one holding the chain's new last byte
 * (all buffers after b when len is 0). -EINVAL (nothing changed) if the chain is shorter. */
int buf_trim(struct buf *b, uint32_t len)
{
	if (buf_chain_len(b) < len)
		return -EINVAL;

	struct buf *cur = b;
	uint32_t left = len;
	while (left > buf_len(cur)) {
		left -= buf_len(cur);
		cur = buf_next(cur); /* non-NULL: the chain holds at least len bytes */
	}
	cur->meta->data_len = (uint16_t)left;
	struct buf *rest = buf_chain_split(cur);
	pool_free(&rest);
	return 0;
}

/* Takes *tail into head's chain and clears *tail; head is borrowed. *tail == NULL appends
 * nothing. -EINVAL if the two belong to different pool views or *tail is already part of head's
 * chain (that would make a cycle); -E2BIG past BUF_CHAIN_MAX. On failure nothing changed and
 * the caller still owns *tail. */
int buf_chain_append(struct buf *head, struct buf **tail)
{
	struct buf *t = *tail;

	if (!t)
		return 0;
	if (t->pool != head->pool)
		return -EINVAL;

	unsigned n = 0;
	struct buf *last = head;
	for (struct buf *c = head; c; c = buf_next(c)) {
		if (c == t)
			return -EINVAL;
		last = c;
		if (++n > BUF_CHAIN_MAX)
			return -E2BIG;
	}
	if (n + buf_chain_count(t) > BUF_CHAIN_MAX)
		return -E2BIG;
	last->meta->next = t->index;
	*tail = NULL;
	return 0;
}

/* Borrows b; the caller owns the returned rest of the chain (NULL if b was alone). */
struct buf *buf_chain_split(struct buf *b)
{
	struct buf *rest = buf_next(b);

	b->meta->next = POOL_INDEX_NONE;
	return rest;
}

/* Borrows b; no ownership change. -EINVAL (dst untouched) if the chain holds fewer than
 * off + len bytes. */
int buf_copy_out(const struct buf *b, size_t off, void *dst, size_t len)
{
	uint32_t total = buf_chain_len(b);
	uint8_t *d = dst;

	if (off > total || len > total - off)
		return -EINVAL;
	for (; b && len > 0; b = buf_next(b)) {
		size_t blen = buf_len(b);
		if (off >= blen) {
			off -= blen;
			continue;
		}
		size_t n = blen - off < len ? blen - off : len;
		memcpy(d, buf_data(b) + off, n);
		d += n;
		len -= n;
		off = 0;
	}
	return 0;
}

/* Borrows b; new buffers are allocated as the pool's self and join b's chain. Fills the last
 * buffer's tailroom first, then whole new buffers from slot offset 0. Every buffer needed is
 * allocated before anything is copied or linked, so -E2BIG or -ENOMEM leave the chain exactly as
 * it was and the pool as it was. */
int buf_append_data(struct buf *b, const void *src, size_t len)
{
	struct buf *fresh[BUF_CHAIN_MAX];
	const uint8_t *s = src;

	if (len == 0)
		return 0;
	struct buf *last = buf_last(b);
	size_t room = buf_tailroom(last);
	size_t extra = len > room ? len - room : 0;
	size_t nnew = (extra + POOL_SLOT_SIZE - 1) / POOL_SLOT_SIZE;

	if (nnew > BUF_CHAIN_MAX || buf_chain_count(b) + nnew > BUF_CHAIN_MAX)
		return -E2BIG;
	if (nnew > 0) {
		unsigned got = pool_alloc_burst(b->pool, fresh, (unsigned)nnew);
		if (got < nnew) {
			pool_free_burst(b->pool, fresh, got);
			return -ENOMEM;
		}
	}

	size_t n = len < room ? len : room;
	if (n > 0) {
		memcpy(buf_put(last, n), s, n);
		s += n;
		len -= n;
	}
	for (size_t k = 0; k < nnew; k++) {
		struct buf *nb = fresh[k];
		nb->meta->data_off = 0;
		n = len < POOL_SLOT_SIZE ? len : POOL_SLOT_SIZE;
		memcpy(buf_put(nb, n), s, n);
		s += n;
		len -= n;
		last->meta->next = nb->index;
		last = nb;
	}
	return 0;
}
