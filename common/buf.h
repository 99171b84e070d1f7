/* buf: skb-style handle on one pool buffer, and chains of them.
 *
 * A buffer is a slot of POOL_SLOT_SIZE bytes in shared memory; its metadata (struct buf_meta)
 * lives in a separate array of the same object. The process-local `struct buf` handle pairs the
 * two with the process's own mapping addresses; handles are made once per pool attach and are
 * stable, so a `struct buf *` can be kept and compared.
 *
 * Data is [data_off, data_off + data_len) of the slot. Each layer pushes or pulls its header in
 * place (no copy between layers). A frame larger than one buffer is a chain linked through
 * meta->next (indices, not pointers); the head buffer carries the headers. Header parsing only
 * ever looks at the head buffer: callers check buf_len(head) before reading a header.
 *
 * Failure leaves things untouched: every call that fails returns NULL or a negative errno and has
 * modified nothing.
 */
#ifndef USTACK_BUF_H
#define USTACK_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"

#define BUF_CHAIN_MAX 64u /* 65,535 bytes as 1,480-byte fragments is 45 buffers */

/* Shared metadata of one buffer. Layout is part of the pool's version: never reorder. */
struct buf_meta {
	uint32_t gen;       /* bumped each time the buffer returns to the free list */
	uint16_t holder;    /* enum pool_holder */
	uint16_t flags;     /* BUF_META_F_* (pool_priv.h): in flight; 0 while free */
	uint32_t next;      /* next buffer of the chain, POOL_INDEX_NONE at the end */
	uint32_t free_next; /* free-list link while free */
	uint16_t data_off;  /* first data byte, from the slot start */
	uint16_t data_len;  /* bytes of data in this buffer */
	uint16_t sender;    /* in flight (pool_priv.h): the holder that handed the chain over */
	uint16_t reserved16;
	uint32_t reserved[2];
};
_Static_assert(sizeof(struct buf_meta) == 32, "buf_meta is shared: its size is part of the ABI");

/* Process-local handle. Fields are read-only outside pool.c/buf.c. */
struct buf {
	struct buf_meta *meta;
	uint8_t *slot;
	struct pool *pool;
	uint32_t index;
};

static inline uint8_t *buf_data(const struct buf *b) { return b->slot + b->meta->data_off; }
static inline uint32_t buf_len(const struct buf *b) { return b->meta->data_len; }
static inline uint32_t buf_index(const struct buf *b) { return b->index; }
static inline uint32_t buf_gen(const struct buf *b) { return b->meta->gen; }
static inline size_t buf_headroom(const struct buf *b) { return b->meta->data_off; }
static inline size_t buf_tailroom(const struct buf *b)
{
	return POOL_SLOT_SIZE - (size_t)b->meta->data_off - b->meta->data_len;
}

/* Next buffer of the chain, or NULL. */
struct buf *buf_next(const struct buf *b);
/* Last buffer of the chain (b itself if not chained). */
struct buf *buf_last(struct buf *b);
/* Total data bytes of the chain headed by b. */
uint32_t buf_chain_len(const struct buf *b);
/* Number of buffers in the chain headed by b. */
unsigned buf_chain_count(const struct buf *b);

/* Move the data start of an EMPTY buffer forward by len (reserve headroom). 0, -EINVAL if the
 * buffer holds data, -ENOSPC if len does not fit. */
int buf_reserve(struct buf *b, size_t len);

/* Prepend len bytes to the head buffer; returns the new data start. NULL if headroom < len. */
uint8_t *buf_push(struct buf *b, size_t len);

/* Strip len bytes from the front of the head buffer; returns the new data start. NULL if the
 * head buffer holds fewer than len bytes. */
uint8_t *buf_pull(struct buf *b, size_t len);

/* Append len bytes at the end of THIS buffer (not the chain); returns where they start. NULL if
 * tailroom < len. */
uint8_t *buf_put(struct buf *b, size_t len);

/* Cut the chain headed by b down to len bytes in total, freeing buffers that end up empty past
 * the first. 0, or -EINVAL if the chain is shorter than len. */
int buf_trim(struct buf *b, uint32_t len);

/* Link the chain *tail after the last buffer of head's chain; clears *tail (ownership moves into
 * head's chain). -E2BIG (nothing changed) if the result would pass BUF_CHAIN_MAX buffers. */
int buf_chain_append(struct buf *head, struct buf **tail);

/* Unlink and return the rest of the chain after b (b becomes a single buffer). NULL if none. */
struct buf *buf_chain_split(struct buf *b);

/* Copy len bytes starting at byte off of the chain into dst. 0, or -EINVAL if the chain holds
 * fewer than off + len bytes. */
int buf_copy_out(const struct buf *b, size_t off, void *dst, size_t len);

/* Append len bytes from src to the end of the chain headed by b, allocating further buffers from
 * b's pool (each with no headroom reserved) as needed. 0; -ENOMEM if the pool ran dry or -E2BIG
 * past BUF_CHAIN_MAX: then the chain is exactly as before. */
int buf_append_data(struct buf *b, const void *src, size_t len);

#endif
