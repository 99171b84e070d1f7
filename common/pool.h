/* pool: the instance-wide packet-buffer pool in one named POSIX shared-memory object.
 *
 * Layout of the object (all offsets from its start, never pointers: every process maps it at
 * its own address):
 *
 *   struct pool_shared header  (magic, version, geometry, lock, free-list head, counters)
 *   struct buf_meta[count]     metadata, kept apart from data so header writes never share a
 *                              cache line with payload being copied
 *   slots[count]               POOL_SLOT_SIZE bytes each: POOL_HEADROOM + POOL_DATA_ROOM
 *
 * Ownership: every buffer has exactly one holder (a enum pool_holder layer id) recorded in its
 * metadata. Allocation, free, transfer and reclaim change the holder under one process-shared
 * robust mutex, so the free list and the holder tags are always consistent with each other; if
 * a process dies holding the lock, the next locker rebuilds the free list from the holder tags.
 *
 * Generations: every buffer carries a generation bumped each time it returns to the free list.
 * A descriptor names (index, generation); a receiver that finds a different generation or a
 * holder other than itself drops the descriptor as stale. That is what makes reclaim safe while
 * descriptors of a dead process may still sit in a ZeroMQ queue.
 *
 * In flight: pool_transfer also marks every buffer it hands over, and pool_take accepts a chain
 * only while it carries the mark, clearing it. A descriptor is thus good for one take: a second
 * one naming the same chain (same batch or a later one) is stale, so a buggy or hostile sender
 * cannot get one chain accepted, and later freed, twice.
 *
 * The pool outlives every process; `ustackctl down` (pool_unlink) removes it.
 */
#ifndef USTACK_POOL_H
#define USTACK_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POOL_MAGIC 0x55535450u /* "USTP" */
#define POOL_VERSION 3u /* 3: the sender of a chain in flight (buf_meta.sender) */
#define POOL_HEADROOM 192u   /* vnet header + Ethernet + IPv4 with options + TCP with options */
#define POOL_DATA_ROOM 2048u /* one MTU-sized frame fits in one buffer */
#define POOL_SLOT_SIZE (POOL_HEADROOM + POOL_DATA_ROOM)
#define POOL_DEFAULT_COUNT 8192u
#define POOL_MAX_COUNT (1u << 20)
#define POOL_INDEX_NONE UINT32_MAX
#define POOL_NAME_MAX 96

/* Who holds a buffer. Values are stored in shared memory: never renumber. */
enum pool_holder {
	POOL_HOLDER_FREE = 0,
	POOL_HOLDER_NICD = 1,
	POOL_HOLDER_IPD = 2,
	POOL_HOLDER_TCPD = 3,
	POOL_HOLDER_UDPD = 4,
	POOL_HOLDER_TOOL = 5, /* ustackctl, tests, benchmarks */
	POOL_HOLDER_COUNT
};

struct pool; /* process-local view of an attached pool */
struct buf;  /* process-local handle of one buffer, see buf.h */

struct pool_geometry {
	uint32_t count; /* number of buffers */
};

/* Path of an instance's pool ("pool" in its private shared-memory directory, shm_dir.h), for
 * messages and tools. Returns 0 or -ENAMETOOLONG / -EINVAL (bad instance name). */
int pool_path(const char *instance, char *out, size_t out_size);

/* Attach to the instance's pool, creating it with `geo` if it does not exist (the O_EXCL race
 * between two creators is handled: the loser attaches). An object that is not safely ours
 * (shm_dir.h) is refused with -EPERM, logged with its path. On attach the magic, version and
 * geometry are checked: a mismatch fails with -EPROTO (wrong magic/version) or -EINVAL
 * (geometry differs from `geo`). Acts as `self` for every later call. On failure nothing is
 * left mapped and *out is untouched. */
int pool_open(const char *instance, const struct pool_geometry *geo, enum pool_holder self,
	      struct pool **out);

/* Attach to an existing pool, never creating it; geometry is read from the header.
 * -ENOENT if there is none. Used by tools. */
int pool_attach(const char *instance, enum pool_holder self, struct pool **out);

/* A private pool in anonymous memory, for unit tests and benchmarks: same semantics, no name. */
int pool_create_anon(const struct pool_geometry *geo, enum pool_holder self, struct pool **out);

/* Unmap (buffers stay with their holders); clears *pool. Safe on NULL. */
void pool_close(struct pool **pool);

/* Remove the instance's pool object. 0, or -ENOENT if it was not there. */
int pool_unlink(const char *instance);

/* A process restarting as layer `holder` calls it with its own id before serving. It returns to
 * the free list every buffer whose holder is `holder`, and every chain `holder` handed over
 * (pool_transfer) that its receiver has not taken yet: its predecessor died between the
 * transfer and the message reaching the receiver, or the message sits in a queue that died with
 * it, and nobody else would ever free those buffers. A descriptor for such a chain that does
 * still arrive finds it reclaimed and is dropped as stale; one the receiver takes first is the
 * receiver's (the two meet at the head's in-flight mark, as pool_transfer_back and pool_take
 * do). Returns the number of buffers reclaimed. */
uint32_t pool_reclaim(struct pool *pool, enum pool_holder holder);

uint32_t pool_count(const struct pool *pool);
uint32_t pool_free_count(const struct pool *pool);
/* Buffers held per holder, for stats; out has POOL_HOLDER_COUNT entries. */
void pool_holder_counts(const struct pool *pool, uint32_t out[POOL_HOLDER_COUNT]);
enum pool_holder pool_self(const struct pool *pool);

/* Allocate one buffer, held by self, data empty at offset POOL_HEADROOM. NULL when empty. */
struct buf *pool_alloc(struct pool *pool);

/* Burst allocation: up to n buffers (as many as are free); returns how many were allocated. */
unsigned pool_alloc_burst(struct pool *pool, struct buf **out, unsigned n);

/* Free a buffer and its whole chain; clears *b. Safe on *b == NULL. The caller must hold it. */
void pool_free(struct buf **b);

/* Free many chains under one lock; NULL entries are skipped; entries are set to NULL. */
void pool_free_burst(struct pool *pool, struct buf **bufs, unsigned n);

/* Hand the chains headed by bufs[0..n) from self to `to` (under one lock), marking every buffer
 * in flight until `to` takes it (pool_take). After this the caller must not touch them, except
 * to undo with pool_transfer_back if the message never left. All or nothing: returns 0; -EPERM
 * (and changes nothing) if any buffer is not held by self or is in flight to self (handed to
 * us, not yet taken); -EINVAL (and changes nothing) if `to` is not a layer id, an entry is NULL
 * or of another pool view, or a chain is malformed (link out of range, longer than
 * BUF_CHAIN_MAX). */
int pool_transfer(struct pool *pool, struct buf *const *bufs, unsigned n, enum pool_holder to);

/* Undo a transfer whose message was never sent, best effort per chain: each chain bufs[k] that
 * this view handed to `from` and that is still exactly in flight to it (every buffer held by
 * `from` and marked, the head's generation unchanged since pool_transfer) comes back to self,
 * unmarked. Every other entry is set to NULL: the receiver restarted meanwhile and reclaimed
 * it (its buffers may already be somebody else's), or it is not a chain of ours at all, so the
 * caller must not free it; NULL entries are skipped. Returns how many chains came back (n when
 * nothing happened in between), so the caller's pool_free_burst(bufs, n) frees exactly what is
 * ours; -EINVAL (nothing changed) if `from` is not a layer id, bufs is NULL or n > INT_MAX.
 * Call it only for a message that did not leave: once the receiver may hold the descriptor it
 * may take the chain first, and then the chain is its own (the two are arbitrated safely, but
 * the packet is then the receiver's, not a failed send). */
int pool_transfer_back(struct pool *pool, struct buf **bufs, unsigned n, enum pool_holder from);

/* Take the chain that a descriptor names: checks index < count, generation matches, holder is
 * self, every buffer of the chain is still marked in flight (not taken before: a duplicate or
 * replayed descriptor is refused) and has sane offsets and lengths, the chain is at most
 * BUF_CHAIN_MAX long and its lengths add up to `total_len`; then clears the marks. Returns the
 * handle, or NULL (the descriptor is stale or corrupt: the caller counts and drops it; nothing
 * is freed or changed, since a stale buffer belongs to somebody else, or to us already). */
struct buf *pool_take(struct pool *pool, uint32_t index, uint32_t gen, uint32_t total_len);

/* Handle of buffer `index` without any check (tools, tests). NULL if out of range. */
struct buf *pool_buf(struct pool *pool, uint32_t index);

/* Base address and length of the data area (all slots), for io_uring buffer registration. */
void *pool_data_area(struct pool *pool, size_t *len);

#endif
