/* pool: the instance-wide packet-buffer pool: creation, attach, allocation, ownership changes.
 *
 * Where. The object is "pool" in the instance's private shared-memory directory (shm_dir.h): no
 * other local user can create it first or open it, so nobody but the stack reads its packets.
 *
 * Creation. The creator wins open(O_CREAT|O_EXCL), sizes the object, initialises header,
 * metadata and free list, and release-stores the magic LAST: an attacher that acquire-loads the
 * magic sees a fully initialised pool. A loser of the O_EXCL race (or any later attacher) that
 * finds the object with no magic yet polls for up to POOL_ATTACH_WAIT_MS and then fails -EAGAIN.
 * A creator that fails part-way unlinks the object so nobody waits on it forever; a creator that
 * is killed part-way leaves an object without magic, which attach reports as -EAGAIN until
 * `ustackctl down` (pool_unlink) removes it.
 *
 * Attach trusts nothing in the object before checking it: magic and version (-EPROTO), then the
 * geometry (count, slot size, headroom, meta size, header size), the offsets derived from it
 * and the object's real size from fstat (-EINVAL). The validated count is copied into the local
 * view and every later bound check uses that copy.
 *
 * Locking. One robust process-shared mutex in the header guards the free list and every holder
 * change. The holder tags are the truth; the free list and free_count are derived from them. A
 * process killed while holding the lock may leave the list half-updated; the next locker gets
 * EOWNERDEAD, rebuilds list and count from the tags and marks the mutex consistent. Buffers the
 * dead process held keep its holder id until it restarts and calls pool_reclaim.
 *
 * In flight (see pool_priv.h). pool_transfer marks every buffer of each chain it hands over;
 * pool_take accepts a chain only if every buffer still carries the mark, and clears it. So a
 * descriptor is good for one take: a second one naming the same chain (a duplicate in the same
 * batch, a replay in a later one, or a descriptor naming a buffer inside a chain already taken)
 * finds the mark gone and is dropped as stale, where index, generation and holder alone would
 * hand the same chain out twice and have it freed twice.
 *
 * pool_take runs without the lock: it reads only buffers the descriptor claims are held by the
 * caller, and a buffer held by self changes only through self's own calls, with one exception:
 * the sender's pool_transfer_back, which under the lock may take back a chain still marked in
 * flight. The two meet at one point, the head's mark, cleared by an atomic fetch-and in both
 * (pool_claim_inflight): whichever clears it owns the chain, the other backs off. Two takes
 * of one descriptor by the receiver itself are sequential (one thread per server), so a plain
 * check-then-clear would already refuse the second; the atomic is there for the sender, whose
 * transfer_back may race the receiver's take only if the sender's own code is wrong (it calls
 * transfer_back for a message that did leave), and then must still not leave both owning it.
 *
 * Limit: the mark does not say which buffer heads a chain. A descriptor naming a buffer in the
 * middle of a chain in flight (with that buffer's generation and the remaining length) takes
 * the tail; the true head's descriptor then finds an unmarked buffer and is dropped, and the
 * head stays with the receiver until it restarts and reclaims. No buffer is owned twice or freed
 * twice; a sender can pin a receiver's buffers that way, as it can by never sending descriptors
 * for chains it handed over.
 */
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "paths.h"
#include "pool_priv.h"
#include "shm_dir.h"

#define POOL_ATTACH_WAIT_MS 1000
#define POOL_SHM_MODE 0600 /* every layer of an instance runs as the stack's user; nobody else */
#define POOL_OBJ_NAME "pool"

/* Byte offsets of the regions of a pool of `count` buffers. */
struct pool_layout {
	uint64_t meta_off;
	uint64_t slots_off;
	uint64_t total_size;
};

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static void pool_layout_of(uint32_t count, struct pool_layout *l)
{
	l->meta_off = round_up(POOL_HEADER_SIZE, POOL_CACHE_LINE);
	l->slots_off = round_up(l->meta_off + (uint64_t)count * sizeof(struct buf_meta),
				POOL_SLOTS_ALIGN);
	l->total_size = round_up(l->slots_off + (uint64_t)count * POOL_SLOT_SIZE, POOL_SLOTS_ALIGN);
}

static bool pool_holder_valid(enum pool_holder h)
{
	return h > POOL_HOLDER_FREE && h < POOL_HOLDER_COUNT;
}

static bool pool_geometry_valid(const struct pool_geometry *geo)
{
	return geo && geo->count >= 1 && geo->count <= POOL_MAX_COUNT;
}

int pool_path(const char *instance, char *out, size_t out_size)
{
	if (!ustack_instance_valid(instance))
		return -EINVAL;
	return shm_obj_path(instance, POOL_OBJ_NAME, out, out_size);
}

/* ---- lock ---------------------------------------------------------------------------------- */

/* Rebuild the free list and free count from the holder tags. Lock held (being recovered). */
static void pool_rebuild_free_list(const struct pool *p)
{
	uint32_t head = POOL_INDEX_NONE, nfree = 0;

	/* Push in reverse so the list comes out in index order (matches a fresh pool). */
	for (uint32_t i = p->count; i-- > 0;) {
		struct buf_meta *m = &p->meta[i];
		if (m->holder != POOL_HOLDER_FREE)
			continue;
		m->next = POOL_INDEX_NONE;
		m->flags = 0;
		m->free_next = head;
		head = i;
		nfree++;
	}
	p->hdr->free_head = head;
	__atomic_store_n(&p->hdr->free_count, nfree, __ATOMIC_RELAXED);
}

/* Take the lock; returns 1 if its previous owner died and the free list was rebuilt. Any other
 * failure means our own lock state is broken (ENOTRECOVERABLE happens only if a recoverer
 * skipped pthread_mutex_consistent): that is a bug, so abort rather than run unlocked. */
static int pool_lock(const struct pool *p)
{
	int rc = pthread_mutex_lock(&p->hdr->lock.m);

	if (rc == 0)
		return 0;
	if (rc == EOWNERDEAD) {
		pool_rebuild_free_list(p);
		p->hdr->lock_recoveries++;
		pthread_mutex_consistent(&p->hdr->lock.m);
		log_warn("pool: a process died holding the pool lock; free list rebuilt (%u free)",
			 p->hdr->free_count);
		return 1;
	}
	log_err("pool: pthread_mutex_lock: %s", strerror(rc));
	abort();
}

static void pool_unlock(const struct pool *p)
{
	int rc = pthread_mutex_unlock(&p->hdr->lock.m);
	if (rc != 0) {
		log_err("pool: pthread_mutex_unlock: %s", strerror(rc));
		abort();
	}
}

int pool_priv_lock(struct pool *pool) { return pool_lock(pool); }
void pool_priv_unlock(struct pool *pool) { pool_unlock(pool); }

/* ---- free list (lock held) ----------------------------------------------------------------- */

static struct buf *pool_pop_locked(struct pool *p)
{
	uint32_t i = p->hdr->free_head;

	if (i == POOL_INDEX_NONE) {
		p->hdr->alloc_failed++;
		return NULL;
	}
	if (i >= p->count) {
		/* Corrupt head: the tags are the truth, rebuild from them. */
		log_err("pool: free list head %u out of range; rebuilding", i);
		pool_rebuild_free_list(p);
		return pool_pop_locked(p);
	}
	struct buf_meta *m = &p->meta[i];
	m->holder = (uint16_t)p->self;
	m->flags = 0;
	m->next = POOL_INDEX_NONE;
	m->data_off = POOL_HEADROOM;
	m->data_len = 0;
	p->hdr->free_head = m->free_next;
	m->free_next = POOL_INDEX_NONE;
	__atomic_store_n(&p->hdr->free_count, p->hdr->free_count - 1, __ATOMIC_RELAXED);
	return &p->handles[i];
}

/* Back to the free list: bump the generation first, so a descriptor naming the old generation is
 * stale from the moment the buffer is no longer its holder's. */
static void pool_push_locked(struct pool *p, uint32_t i)
{
	struct buf_meta *m = &p->meta[i];

	m->gen++;
	m->holder = POOL_HOLDER_FREE;
	m->flags = 0;
	m->next = POOL_INDEX_NONE;
	m->free_next = p->hdr->free_head;
	p->hdr->free_head = i;
	__atomic_store_n(&p->hdr->free_count, p->hdr->free_count + 1, __ATOMIC_RELAXED);
}

/* Free the chain headed by index i, buffer by buffer, while each is held by self. Stops (and
 * logs) at a buffer held by someone else, an out-of-range link or more than BUF_CHAIN_MAX
 * buffers: freeing somebody else's buffer would corrupt their data. Returns buffers freed. */
static unsigned pool_free_chain_locked(struct pool *p, uint32_t i)
{
	unsigned n = 0;

	while (i != POOL_INDEX_NONE) {
		if (i >= p->count || n >= BUF_CHAIN_MAX || p->meta[i].holder != p->self) {
			log_err("pool: free stopped at buffer %u (chain position %u): not ours or "
				"corrupt chain", i, n);
			break;
		}
		uint32_t next = p->meta[i].next;
		pool_push_locked(p, i);
		n++;
		i = next;
	}
	return n;
}

/* ---- creation and attach ------------------------------------------------------------------- */

/* Initialise a zero-filled mapping as a pool of `count` buffers; magic last. */
static int pool_init_shared(void *map, uint32_t count, const struct pool_layout *l)
{
	struct pool_shared *h = map;
	struct buf_meta *meta = (struct buf_meta *)((uint8_t *)map + l->meta_off);
	pthread_mutexattr_t attr;
	int rc;

	h->version = POOL_VERSION;
	h->header_size = POOL_HEADER_SIZE;
	h->meta_size = sizeof(struct buf_meta);
	h->slot_size = POOL_SLOT_SIZE;
	h->headroom = POOL_HEADROOM;
	h->count = count;
	h->meta_off = l->meta_off;
	h->slots_off = l->slots_off;
	h->total_size = l->total_size;

	rc = pthread_mutexattr_init(&attr);
	if (rc != 0)
		return -rc;
	rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	if (rc == 0)
		rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (rc == 0)
		rc = pthread_mutex_init(&h->lock.m, &attr);
	pthread_mutexattr_destroy(&attr);
	if (rc != 0)
		return -rc;

	for (uint32_t i = 0; i < count; i++) {
		meta[i] = (struct buf_meta){
			.gen = 0,
			.holder = POOL_HOLDER_FREE,
			.next = POOL_INDEX_NONE,
			.free_next = i + 1 < count ? i + 1 : POOL_INDEX_NONE,
			.data_off = POOL_HEADROOM,
		};
	}
	h->free_head = 0;
	h->free_count = count;

	__atomic_store_n(&h->magic, POOL_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

/* Build the process-local view of a validated mapping. Takes over the mapping on success. */
static int pool_view_new(void *map, size_t map_len, uint32_t count, enum pool_holder self,
			 struct pool **out)
{
	struct pool_layout l;
	struct pool *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->handles = calloc(count, sizeof(*p->handles));
	p->xfer = calloc(count, sizeof(*p->xfer));
	if (!p->handles || !p->xfer) {
		free(p->handles);
		free(p->xfer);
		free(p);
		return -ENOMEM;
	}
	pool_layout_of(count, &l);
	p->map = map;
	p->map_len = map_len;
	p->hdr = map;
	p->meta = (struct buf_meta *)((uint8_t *)map + l.meta_off);
	p->slots = (uint8_t *)map + l.slots_off;
	p->count = count;
	p->self = self;
	for (uint32_t i = 0; i < count; i++) {
		p->handles[i] = (struct buf){
			.meta = &p->meta[i],
			.slot = p->slots + (size_t)i * POOL_SLOT_SIZE,
			.pool = p,
			.index = i,
		};
	}
	*out = p;
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Check a header that carries the magic. -EPROTO (version), -EINVAL (geometry), else 0 and
 * *count set. `want` is the geometry the caller expects, or NULL to accept the header's. */
static int pool_check_header(const struct pool_shared *h, const struct pool_geometry *want,
			     uint32_t *count)
{
	struct pool_layout l;

	if (h->version != POOL_VERSION)
		return -EPROTO;
	if (h->header_size != POOL_HEADER_SIZE || h->meta_size != sizeof(struct buf_meta) ||
	    h->slot_size != POOL_SLOT_SIZE || h->headroom != POOL_HEADROOM || h->count == 0 ||
	    h->count > POOL_MAX_COUNT)
		return -EINVAL;
	pool_layout_of(h->count, &l);
	if (h->meta_off != l.meta_off || h->slots_off != l.slots_off ||
	    h->total_size != l.total_size)
		return -EINVAL;
	if (want && want->count != h->count)
		return -EINVAL;
	*count = h->count;
	return 0;
}

/* Attach to the pool object open on fd. Waits (bounded) for a creator to finish. */
static int pool_attach_fd(int fd, const struct pool_geometry *want, enum pool_holder self,
			  struct pool **out)
{
	struct pool_layout l;
	struct stat st;
	uint32_t count = 0;
	int waited = 0, rc = 0;

	for (;;) {
		if (fstat(fd, &st) != 0)
			return -errno;
		if ((uint64_t)st.st_size >= POOL_HEADER_SIZE) {
			struct pool_shared *h = mmap(NULL, POOL_HEADER_SIZE, PROT_READ, MAP_SHARED,
						     fd, 0);
			if (h == MAP_FAILED)
				return -errno;
			uint32_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
			if (magic == POOL_MAGIC)
				rc = pool_check_header(h, want, &count);
			else
				rc = magic == 0 ? -EAGAIN : -EPROTO;
			munmap(h, POOL_HEADER_SIZE);
			if (rc != -EAGAIN)
				break;
		}
		if (waited >= POOL_ATTACH_WAIT_MS)
			return -EAGAIN;
		sleep_ms(1);
		waited++;
	}
	if (rc != 0)
		return rc;

	/* The size was set before the magic: fstat again now that the magic is visible. */
	if (fstat(fd, &st) != 0)
		return -errno;
	pool_layout_of(count, &l);
	if ((uint64_t)st.st_size != l.total_size)
		return -EINVAL;
	void *map = mmap(NULL, l.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	/* Re-check through the real mapping: the header cannot have changed meaning in between
	 * unless something other than a pool writes this object. */
	rc = pool_check_header(map, want, &count);
	if (rc == 0)
		rc = pool_view_new(map, l.total_size, count, self, out);
	if (rc != 0)
		munmap(map, l.total_size);
	return rc;
}

/* Create the object (we won O_EXCL on fd). On failure the object is unlinked. */
static int pool_create_fd(int fd, const char *instance, uint32_t count, enum pool_holder self,
			  struct pool **out)
{
	struct pool_layout l;
	void *map;
	int rc;

	pool_layout_of(count, &l);
	if (ftruncate(fd, (off_t)l.total_size) != 0) {
		rc = -errno;
		goto fail;
	}
	map = mmap(NULL, l.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	rc = pool_init_shared(map, count, &l);
	if (rc == 0)
		rc = pool_view_new(map, l.total_size, count, self, out);
	if (rc == 0)
		return 0;
	munmap(map, l.total_size);
fail:
	shm_obj_unlink(instance, POOL_OBJ_NAME);
	return rc;
}

int pool_open(const char *instance, const struct pool_geometry *geo, enum pool_holder self,
	      struct pool **out)
{
	if (!ustack_instance_valid(instance) || !pool_geometry_valid(geo) ||
	    !pool_holder_valid(self) || !out)
		return -EINVAL;

	/* The object may vanish between a failed O_EXCL and our open (a failing creator unlinks
	 * it, or `ustackctl down` runs): retry a few times, then give up. */
	for (int attempt = 0; attempt < 8; attempt++) {
		int fd = shm_obj_open(instance, POOL_OBJ_NAME, O_RDWR | O_CREAT | O_EXCL,
				      POOL_SHM_MODE);
		if (fd >= 0) {
			int rc = pool_create_fd(fd, instance, geo->count, self, out);
			close(fd);
			return rc;
		}
		if (fd != -EEXIST)
			return fd;
		fd = shm_obj_open(instance, POOL_OBJ_NAME, O_RDWR, 0);
		if (fd < 0) {
			if (fd == -ENOENT)
				continue;
			return fd;
		}
		int rc = pool_attach_fd(fd, geo, self, out);
		close(fd);
		return rc;
	}
	return -EAGAIN;
}

int pool_attach(const char *instance, enum pool_holder self, struct pool **out)
{
	if (!ustack_instance_valid(instance) || !pool_holder_valid(self) || !out)
		return -EINVAL;
	int fd = shm_obj_open(instance, POOL_OBJ_NAME, O_RDWR, 0);
	if (fd < 0)
		return fd;
	int rc = pool_attach_fd(fd, NULL, self, out);
	close(fd);
	return rc;
}

int pool_create_anon(const struct pool_geometry *geo, enum pool_holder self, struct pool **out)
{
	struct pool_layout l;
	int rc;

	if (!pool_geometry_valid(geo) || !pool_holder_valid(self) || !out)
		return -EINVAL;
	pool_layout_of(geo->count, &l);
	/* MAP_SHARED so that forked children share it, as processes share a named pool. */
	void *map = mmap(NULL, l.total_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			 -1, 0);
	if (map == MAP_FAILED)
		return -errno;
	rc = pool_init_shared(map, geo->count, &l);
	if (rc == 0)
		rc = pool_view_new(map, l.total_size, geo->count, self, out);
	if (rc != 0)
		munmap(map, l.total_size);
	return rc;
}

void pool_close(struct pool **pool)
{
	struct pool *p = *pool;

	if (!p)
		return;
	munmap(p->map, p->map_len);
	free(p->handles);
	free(p->xfer);
	free(p);
	*pool = NULL;
}

int pool_unlink(const char *instance)
{
	if (!ustack_instance_valid(instance))
		return -EINVAL;
	return shm_obj_unlink(instance, POOL_OBJ_NAME);
}

/* ---- queries ------------------------------------------------------------------------------- */

uint32_t pool_count(const struct pool *pool) { return pool->count; }

uint32_t pool_free_count(const struct pool *pool)
{
	return __atomic_load_n(&pool->hdr->free_count, __ATOMIC_RELAXED);
}

void pool_holder_counts(const struct pool *pool, uint32_t out[POOL_HOLDER_COUNT])
{
	memset(out, 0, sizeof(uint32_t) * POOL_HOLDER_COUNT);
	pool_lock(pool);
	for (uint32_t i = 0; i < pool->count; i++) {
		uint16_t h = pool->meta[i].holder;
		if (h < POOL_HOLDER_COUNT)
			out[h]++;
	}
	pool_unlock(pool);
}

enum pool_holder pool_self(const struct pool *pool) { return pool->self; }

struct buf *pool_buf(struct pool *pool, uint32_t index)
{
	return index < pool->count ? &pool->handles[index] : NULL;
}

void *pool_data_area(struct pool *pool, size_t *len)
{
	if (len)
		*len = (size_t)pool->count * POOL_SLOT_SIZE;
	return pool->slots;
}

int pool_priv_check(struct pool *pool)
{
	uint8_t *seen = calloc(pool->count, 1);
	uint32_t n = 0, tagged = 0;
	int rc = 0;

	if (!seen)
		return -ENOMEM;
	pool_lock(pool);
	for (uint32_t i = pool->hdr->free_head; i != POOL_INDEX_NONE; i = pool->meta[i].free_next) {
		if (i >= pool->count || seen[i] || pool->meta[i].holder != POOL_HOLDER_FREE) {
			log_err("pool check: free list entry %u bad (range, duplicate or held)", i);
			rc = -EUCLEAN;
			break;
		}
		seen[i] = 1;
		n++;
	}
	for (uint32_t i = 0; i < pool->count; i++) {
		if (pool->meta[i].holder != POOL_HOLDER_FREE)
			continue;
		tagged++;
		if (pool->meta[i].flags != 0 && rc == 0) {
			log_err("pool check: free buffer %u has flags %#x", i, pool->meta[i].flags);
			rc = -EUCLEAN;
		}
	}
	if (rc == 0 && (n != tagged || n != pool->hdr->free_count)) {
		log_err("pool check: list %u, tagged free %u, free_count %u", n, tagged,
			pool->hdr->free_count);
		rc = -EUCLEAN;
	}
	pool_unlock(pool);
	free(seen);
	return rc;
}

/* ---- allocation and ownership -------------------------------------------------------------- */

struct buf *pool_alloc(struct pool *pool)
{
	pool_lock(pool);
	struct buf *b = pool_pop_locked(pool);
	pool_unlock(pool);
	return b;
}

unsigned pool_alloc_burst(struct pool *pool, struct buf **out, unsigned n)
{
	unsigned got = 0;

	pool_lock(pool);
	while (got < n) {
		struct buf *b = pool_pop_locked(pool);
		if (!b)
			break;
		out[got++] = b;
	}
	pool_unlock(pool);
	return got;
}

void pool_free(struct buf **b)
{
	struct buf *head = *b;

	if (!head)
		return;
	struct pool *p = head->pool;
	pool_lock(p);
	pool_free_chain_locked(p, head->index);
	pool_unlock(p);
	*b = NULL;
}

void pool_free_burst(struct pool *pool, struct buf **bufs, unsigned n)
{
	pool_lock(pool);
	for (unsigned i = 0; i < n; i++) {
		if (!bufs[i])
			continue;
		if (bufs[i]->pool == pool)
			pool_free_chain_locked(pool, bufs[i]->index);
		else
			log_err("pool: free_burst given a buffer of another pool view");
		bufs[i] = NULL;
	}
	pool_unlock(pool);
}

/* Clear the in-flight mark of a chain head; true if this call is the one that cleared it. The
 * single arbitration point between the receiver's lock-free pool_take and the sender's locked
 * pool_transfer_back (see the top of the file). */
static bool pool_claim_inflight(struct buf_meta *head)
{
	uint16_t old = __atomic_fetch_and(&head->flags, (uint16_t)~BUF_META_F_INFLIGHT,
					  __ATOMIC_ACQ_REL);
	return (old & BUF_META_F_INFLIGHT) != 0;
}

/* Check the chains bufs[0..n) for pool_transfer: entries of this view, chains well formed, every
 * buffer held by self and not in flight (a chain handed to us that we have not taken yet is not
 * ours to hand on). Lock held; writes nothing. */
static int pool_chains_ours_locked(const struct pool *p, struct buf *const *bufs, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		if (!bufs[k] || bufs[k]->pool != p)
			return -EINVAL;
		uint32_t i = bufs[k]->index;
		for (unsigned len = 0; i != POOL_INDEX_NONE; len++) {
			if (i >= p->count || len >= BUF_CHAIN_MAX)
				return -EINVAL;
			const struct buf_meta *m = &p->meta[i];
			if (m->holder != p->self || (m->flags & BUF_META_F_INFLIGHT))
				return -EPERM;
			i = m->next;
		}
	}
	return 0;
}

int pool_transfer(struct pool *pool, struct buf *const *bufs, unsigned n, enum pool_holder to)
{
	if (!pool_holder_valid(to) || (n > 0 && !bufs))
		return -EINVAL;
	pool_lock(pool);
	int rc = pool_chains_ours_locked(pool, bufs, n);
	if (rc == 0) {
		for (unsigned k = 0; k < n; k++) {
			uint32_t head = bufs[k]->index;
			pool->xfer[head] = POOL_XFER_VALID | pool->meta[head].gen;
			/* Bounded like the check: the walk must end even if shared memory changed. A
			 * chain named twice (or inside another) is marked twice, harmlessly: the
			 * receiver takes it once and drops the other descriptor as stale. */
			uint32_t i = head;
			for (unsigned len = 0; i < pool->count && len < BUF_CHAIN_MAX; len++) {
				struct buf_meta *m = &pool->meta[i];
				m->flags = (uint16_t)((m->flags | BUF_META_F_INFLIGHT) &
						      ~BUF_META_F_HEAD);
				m->holder = (uint16_t)to;
				i = m->next;
			}
			/* Who to give it back to if the message never arrives (pool_reclaim). */
			pool->meta[head].flags |= BUF_META_F_HEAD;
			pool->meta[head].sender = (uint16_t)pool->self;
		}
	}
	pool_unlock(pool);
	return rc;
}

/* Is the chain headed by `head` still exactly what this view handed to `from`: the head's
 * generation the one recorded at transfer, every buffer held by `from` and marked in flight?
 * A restarted receiver's reclaim clears the marks and bumps the generations, so a chain it
 * reclaimed fails here even once its buffers have been reallocated and handed to it again.
 * Lock held; writes nothing. */
static bool pool_chain_in_flight_locked(const struct pool *p, uint32_t head, enum pool_holder from)
{
	if (p->xfer[head] != (POOL_XFER_VALID | p->meta[head].gen))
		return false;
	uint32_t i = head;
	for (unsigned len = 0; i != POOL_INDEX_NONE; len++) {
		if (i >= p->count || len >= BUF_CHAIN_MAX)
			return false;
		const struct buf_meta *m = &p->meta[i];
		if (m->holder != from || !(m->flags & BUF_META_F_INFLIGHT))
			return false;
		i = m->next;
	}
	return true;
}

int pool_transfer_back(struct pool *pool, struct buf **bufs, unsigned n, enum pool_holder from)
{
	int back = 0;

	if (!pool_holder_valid(from) || (n > 0 && !bufs) || n > INT_MAX)
		return -EINVAL;
	pool_lock(pool);
	for (unsigned k = 0; k < n; k++) {
		struct buf *b = bufs[k];
		if (!b)
			continue;
		if (b->pool != pool) {
			log_err("pool: transfer_back given a buffer of another pool view");
			bufs[k] = NULL;
			continue;
		}
		/* Claim last: once the head's mark is ours the chain is, and nothing can fail. */
		if (!pool_chain_in_flight_locked(pool, b->index, from) ||
		    !pool_claim_inflight(&pool->meta[b->index])) {
			bufs[k] = NULL; /* not ours any more: the caller must not free it */
			continue;
		}
		pool->xfer[b->index] = 0;
		uint32_t i = b->index;
		for (unsigned len = 0; i < pool->count && len < BUF_CHAIN_MAX; len++) {
			struct buf_meta *m = &pool->meta[i];
			m->flags &= (uint16_t)~BUF_META_F_INFLIGHT;
			m->holder = (uint16_t)pool->self;
			i = m->next;
		}
		back++;
	}
	pool_unlock(pool);
	return back;
}

uint32_t pool_reclaim(struct pool *pool, enum pool_holder holder)
{
	uint32_t n = 0;

	if (!pool_holder_valid(holder))
		return 0;
	pool_lock(pool);
	for (uint32_t i = 0; i < pool->count; i++) {
		if (pool->meta[i].holder == holder) {
			pool_push_locked(pool, i);
			n++;
		}
	}
	/* Chains our predecessor handed over and their receiver never took. */
	for (uint32_t i = 0; i < pool->count; i++) {
		struct buf_meta *m = &pool->meta[i];
		uint16_t flags = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
		if (!(flags & BUF_META_F_INFLIGHT) || !(flags & BUF_META_F_HEAD) ||
		    m->sender != (uint16_t)holder || m->holder == POOL_HOLDER_FREE)
			continue;
		/* Claim first: a receiver's pool_take that wins the mark owns the chain. */
		if (!pool_claim_inflight(m))
			continue;
		enum pool_holder to = m->holder;
		uint32_t b = i;
		/* Only what is still held by the receiver: a chain named inside another (a sender
		 * bug) may have gone back to the free list with the outer one already. */
		for (unsigned len = 0; b < pool->count && len < BUF_CHAIN_MAX; len++) {
			struct buf_meta *bm = &pool->meta[b];
			if (bm->holder != (uint16_t)to)
				break;
			uint32_t next = bm->next;
			pool_push_locked(pool, b);
			n++;
			b = next;
		}
	}
	pool->hdr->reclaimed += n;
	pool_unlock(pool);
	return n;
}

struct buf *pool_take(struct pool *pool, uint32_t index, uint32_t gen, uint32_t total_len)
{
	uint64_t sum = 0;
	uint32_t i = index;
	unsigned len = 0;

	if (index >= pool->count || pool->meta[index].gen != gen)
		return NULL;
	while (i != POOL_INDEX_NONE) {
		if (i >= pool->count || len >= BUF_CHAIN_MAX)
			return NULL;
		const struct buf_meta *m = &pool->meta[i];
		/* One read of each field: the checks and the sum must agree on the values. The
		 * flags are read atomically: the sender's transfer_back may claim them concurrently. */
		uint16_t holder = m->holder, off = m->data_off, dlen = m->data_len;
		uint16_t flags = __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
		if (holder != pool->self || !(flags & BUF_META_F_INFLIGHT) || off > POOL_SLOT_SIZE ||
		    (uint32_t)off + dlen > POOL_SLOT_SIZE)
			return NULL;
		sum += dlen;
		len++;
		i = m->next;
	}
	if (sum != total_len)
		return NULL;
	/* Every check passed without writing; now accept, exactly once (see the top of the file).
	 * Losing the claim means the sender took the chain back in the meantime. */
	struct buf_meta *head = &pool->meta[index];
	if (!pool_claim_inflight(head))
		return NULL;
	i = head->next;
	for (unsigned k = 1; k < len && i < pool->count; k++) {
		pool->meta[i].flags &= (uint16_t)~BUF_META_F_INFLIGHT;
		i = pool->meta[i].next;
	}
	return &pool->handles[index];
}
