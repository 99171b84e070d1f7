/* pool_priv: the pool's shared header layout and process-local view, for pool.c, buf.c and tests.
 *
 * The shared header is part of the pool's ABI (POOL_VERSION): fixed-width fields, explicit
 * padding, offsets not pointers, and a _Static_assert on its size. Its first cache line is
 * written once at creation (identity and geometry, magic last); the second holds the robust
 * process-shared mutex; the third the free-list state the mutex guards.
 *
 * Invariants while the lock is free:
 *   - a buffer is on the free list  <=>  meta[i].holder == POOL_HOLDER_FREE;
 *   - free_count is the length of the free list (a stack linked through meta[].free_next,
 *     POOL_INDEX_NONE-terminated, head free_head);
 *   - a free buffer's next is POOL_INDEX_NONE and its flags are 0.
 *
 * In flight. BUF_META_F_INFLIGHT in buf_meta.flags marks a buffer handed over by pool_transfer
 * whose descriptor its new holder has not yet accepted (pool_take). It is set, on every buffer of
 * each chain, only by pool_transfer under the lock, and cleared by pool_take (on acceptance),
 * pool_transfer_back (the message never left) and by every return to the free list (free,
 * reclaim, lock recovery); allocation hands out buffers with flags 0. So a buffer held by X
 * with the mark is owed to X by exactly one descriptor; held by X without it, X already has it.
 * The mark is what makes a second descriptor naming the same chain stale, in one batch or
 * across batches, where index, generation and holder alone would accept it twice.
 * pool_transfer also records who handed the chain over (the head's buf_meta.sender) and flags
 * the head (BUF_META_F_HEAD; cleared on the other buffers of the chain), so that a sender that
 * dies before its message arrives gets the chain back when it restarts (pool_reclaim): without
 * that, buffers marked in flight to a receiver that never gets their descriptor leak for good.
 * A process that dies holding the lock may have broken the list, never the holder tags' meaning:
 * the next locker (EOWNERDEAD) rebuilds list and count from the tags.
 *
 * The process-local view never trusts the header after attach: geometry is validated once and
 * copied into struct pool, and every later bound check uses the local copy.
 */
#ifndef USTACK_POOL_PRIV_H
#define USTACK_POOL_PRIV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pool.h"

#define POOL_CACHE_LINE 64u
#define POOL_HEADER_SIZE 256u
#define POOL_SLOTS_ALIGN 4096u /* the data area starts page-aligned (io_uring registration) */

/* buf_meta.flags bits (shared: never renumber). See "In flight" above. */
#define BUF_META_F_INFLIGHT 0x1u
#define BUF_META_F_HEAD 0x2u     /* in flight: this buffer heads the chain pool_transfer named */

_Static_assert(POOL_SLOT_SIZE % POOL_CACHE_LINE == 0, "slots must stay cache-line aligned");
_Static_assert(POOL_SLOT_SIZE <= UINT16_MAX, "data_off/data_len are 16-bit");
_Static_assert(sizeof(pthread_mutex_t) <= 64, "the lock must fit its reserved cache line");

struct pool_shared {
	/* line 0: identity and geometry, written once before the magic */
	uint32_t magic; /* POOL_MAGIC, release-stored last; 0 while being initialised */
	uint32_t version;
	uint32_t header_size; /* POOL_HEADER_SIZE */
	uint32_t meta_size;   /* sizeof(struct buf_meta) */
	uint32_t slot_size;   /* POOL_SLOT_SIZE */
	uint32_t headroom;    /* POOL_HEADROOM */
	uint32_t count;
	uint32_t pad0;
	uint64_t meta_off;   /* from the object start */
	uint64_t slots_off;  /* from the object start */
	uint64_t total_size; /* object size (ftruncate) */
	uint8_t pad1[8];
	/* line 1: the lock */
	union {
		pthread_mutex_t m;
		uint8_t bytes[64];
	} lock;
	/* line 2: guarded by the lock */
	uint32_t free_head;  /* index of the first free buffer, POOL_INDEX_NONE when empty */
	uint32_t free_count; /* written under the lock, read lock-free (relaxed) for stats */
	uint64_t alloc_failed;    /* allocations that found the pool empty */
	uint64_t reclaimed;       /* buffers returned by pool_reclaim */
	uint64_t lock_recoveries; /* EOWNERDEAD recoveries (a process died holding the lock) */
	uint8_t pad2[96];
};
_Static_assert(sizeof(struct pool_shared) == POOL_HEADER_SIZE, "pool_shared is part of the ABI");
_Static_assert(offsetof(struct pool_shared, lock) == 64, "lock owns cache line 1");
_Static_assert(offsetof(struct pool_shared, free_head) == 128, "free state owns cache line 2");

/* Process-local view of an attached pool. */
struct pool {
	struct pool_shared *hdr;
	struct buf_meta *meta; /* meta[count] */
	uint8_t *slots;        /* slots[count * POOL_SLOT_SIZE] */
	void *map;
	size_t map_len;
	uint32_t count; /* validated copy: never re-read from the header */
	enum pool_holder self;
	struct buf *handles; /* handles[count], stable for the life of the view */
	/* xfer[i]: POOL_XFER_VALID | the generation buffer i had when this view last handed it
	 * over as a chain head (pool_transfer), 0 if never. pool_transfer_back takes back only a
	 * chain whose head still has that generation: a head reclaimed by a restarted receiver,
	 * reallocated and handed to the same receiver again by somebody else is not ours (ABA).
	 * Process-local on purpose: the sender's own record, which no other process can forge. */
	uint64_t *xfer;
};
#define POOL_XFER_VALID (UINT64_C(1) << 32)

/* Test-only hooks. pool_priv_lock takes the pool's lock exactly as every pool call does
 * (recovering it if its owner died) and returns 1 if it had to recover, else 0;
 * pool_priv_unlock releases it. A test that takes the lock and dies exercises the recovery. */
int pool_priv_lock(struct pool *pool);
void pool_priv_unlock(struct pool *pool);

/* Verify the free-list invariants above under the lock. 0, or -EUCLEAN with the reason logged. */
int pool_priv_check(struct pool *pool);

#endif
