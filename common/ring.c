/* ring: SPSC record rings in shared memory — reserve/commit, peek/release, and the peer checks.
 *
 * See ring.h for the format and the trust model. Notes on the implementation:
 *
 * - Memory order. The producer writes header and body with plain stores, then release-stores
 *   head; the consumer acquire-loads head, then reads. The consumer release-stores tail after it
 *   has copied a body; the producer acquire-loads tail before it overwrites that space. That is
 *   all the synchronisation there is, and all that SPSC needs.
 * - Caching. Each side caches the peer's index and loads it again only when the cache says
 *   "empty" (consumer) or "no room" (producer), so in steady state the cache line holding the
 *   peer's index is touched once per batch, not once per record (DPDK's prod/cons heads, the
 *   cached index of every sDDF queue).
 * - Header access is one 8-byte volatile load or store through a may_alias type: the compiler can
 *   neither split nor repeat it, which is what makes "read once, check the copy" hold in the
 *   generated code and not only in the source.
 * - The consumer never re-loads head to "complete" a record: commits are whole records, so a
 *   record the cached head does not fully cover is garbage, not a race.
 */
#include "ring.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef uint64_t __attribute__((__may_alias__)) ring_word;

bool ring_size_valid(uint64_t size)
{
	return size >= RING_SIZE_MIN && size <= RING_SIZE_MAX && (size & (size - 1)) == 0;
}

void ring_format(struct ring_shared *ctl)
{
	memset(ctl, 0, sizeof(*ctl));
	atomic_init(&ctl->head, 0);
	atomic_init(&ctl->tail, 0);
}

int ring_attach(struct ring *r, enum ring_role role, struct ring_shared *ctl, void *data,
		uint32_t size)
{
	if (!r || !ctl || !data || !ring_size_valid(size))
		return -EINVAL;
	if (role != RING_PRODUCER && role != RING_CONSUMER)
		return -EINVAL;
	if ((uintptr_t)ctl % RING_CACHELINE != 0 || (uintptr_t)data % RING_ALIGN != 0)
		return -EINVAL;

	/* Both indices come from shared memory: whoever wrote them last (the peer, or we ourselves
	 * before a restart) is not trusted. They must be record boundaries and at most one
	 * ring apart; anything else is refused before it could steer an access. */
	uint64_t head = atomic_load_explicit(&ctl->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&ctl->tail, memory_order_acquire);
	if (head % RING_ALIGN != 0 || tail % RING_ALIGN != 0 || head - tail > size)
		return -EBADMSG;

	*r = (struct ring){
		.shared = ctl,
		.data = data,
		.size = size,
		.mask = size - 1,
		.max_body = ring_max_body_for(size),
		.role = role,
		.head = head,
		.head_pub = head,
		.tail_seen = tail,
		.tail = tail,
		.tail_pub = tail,
		.head_seen = head,
	};
	return 0;
}

static struct ring_rec_hdr ring_read_hdr(const struct ring *r, uint32_t off)
{
	uint64_t raw = *(const volatile ring_word *)(const void *)(r->data + off);
	struct ring_rec_hdr h;
	memcpy(&h, &raw, sizeof(h));
	return h;
}

static void ring_write_hdr(struct ring *r, uint32_t off, uint32_t len, uint16_t type,
			   uint16_t flags)
{
	struct ring_rec_hdr h = { .len = len, .type = type, .flags = flags };
	uint64_t raw;
	memcpy(&raw, &h, sizeof(raw));
	*(volatile ring_word *)(void *)(r->data + off) = raw;
}

/* Producer: load the consumer's tail and check it. It only moves forward, on record boundaries,
 * and never past what we published. */
static bool ring_load_tail(const struct ring *r, uint64_t *out)
{
	uint64_t t = atomic_load_explicit(&r->shared->tail, memory_order_acquire);
	if (t % RING_ALIGN != 0 || t - r->tail_seen > r->head_pub - r->tail_seen)
		return false;
	*out = t;
	return true;
}

/* Consumer: load the producer's head and check it: a record boundary, not behind what we saw
 * before (nor behind our tail), and at most one ring ahead of our tail. */
static bool ring_load_head(const struct ring *r, uint64_t *out)
{
	uint64_t h = atomic_load_explicit(&r->shared->head, memory_order_acquire);
	if (h % RING_ALIGN != 0 || h - r->tail > r->size || h - r->tail < r->head_seen - r->tail)
		return false;
	*out = h;
	return true;
}

/* Producer: report the records in [tail_seen, t) to the reclaim callback, then take t as the
 * tail. They are our own records and nothing has overwritten them (we reserve only up to
 * tail_seen), but they are read as carefully as a consumer would: a span that does not parse
 * (a consumer that released half a record) ends the reports, never an access outside the data
 * area. Returns the records reported or -EBADMSG. */
static int ring_walk_released(struct ring *r, uint64_t t)
{
	int n = 0, rc = 0;
	uint64_t pos = r->tail_seen;
	while (r->reclaim && pos != t) {
		uint32_t off = (uint32_t)(pos & r->mask);
		struct ring_rec_hdr h = ring_read_hdr(r, off);
		uint64_t cost;
		if (h.type == RING_TYPE_PAD) {
			cost = r->size - off;
			if (h.len != cost - RING_HDR_SIZE) {
				rc = -EBADMSG;
				break;
			}
		} else {
			cost = ring_record_cost(h.len);
			if (h.type == 0 || h.len > r->max_body || off + cost > r->size) {
				rc = -EBADMSG;
				break;
			}
		}
		if (cost > t - pos) {
			rc = -EBADMSG;
			break;
		}
		if (h.type != RING_TYPE_PAD) {
			struct ring_rec rec = {.body = r->data + off + RING_HDR_SIZE, .len = h.len,
					       .type = h.type, .flags = h.flags};
			r->reclaim(r->reclaim_arg, &rec);
			n++;
		}
		pos += cost;
	}
	r->tail_seen = t;
	return rc < 0 ? rc : n;
}

void ring_set_reclaim(struct ring *r, ring_reclaim_fn fn, void *arg)
{
	assert(r->role == RING_PRODUCER);
	r->reclaim = fn;
	r->reclaim_arg = arg;
}

int ring_reclaim(struct ring *r)
{
	assert(r->role == RING_PRODUCER);
	if (r->broken)
		return -EBADMSG;
	uint64_t t;
	if (!ring_load_tail(r, &t)) {
		r->broken = true;
		return -EBADMSG;
	}
	if (t == r->tail_seen)
		return 0;
	return ring_walk_released(r, t);
}

void *ring_reserve_flags(struct ring *r, uint16_t type, uint16_t flags, uint32_t len)
{
	assert(r->role == RING_PRODUCER);
	if (r->broken) {
		errno = EBADMSG;
		return NULL;
	}
	if (type == 0 || type == RING_TYPE_PAD) {
		errno = EINVAL;
		return NULL;
	}
	if (len > r->max_body) {
		errno = EMSGSIZE;
		return NULL;
	}
	uint32_t off = (uint32_t)(r->head & r->mask);
	uint64_t cost = ring_record_cost(len);
	uint64_t gap = off + cost > r->size ? r->size - off : 0; /* PAD to the end, if it wraps */
	if (gap + cost > r->size - (r->head - r->tail_seen)) {
		uint64_t t;
		if (!ring_load_tail(r, &t)) {
			r->broken = true;
			errno = EBADMSG;
			return NULL;
		}
		ring_walk_released(r, t); /* sets tail_seen: reported before it is reused */
		if (gap + cost > r->size - (r->head - t)) {
			errno = ENOSPC;
			return NULL;
		}
	}
	if (gap) {
		ring_write_hdr(r, off, (uint32_t)(gap - RING_HDR_SIZE), RING_TYPE_PAD, 0);
		off = 0;
	}
	ring_write_hdr(r, off, len, type, flags);
	r->head += gap + cost;
	return r->data + off + RING_HDR_SIZE;
}

void ring_commit(struct ring *r)
{
	assert(r->role == RING_PRODUCER);
	if (r->broken || r->head == r->head_pub)
		return;
	r->head_pub = r->head;
	atomic_store_explicit(&r->shared->head, r->head_pub, memory_order_release);
}

void ring_cancel(struct ring *r)
{
	assert(r->role == RING_PRODUCER);
	r->head = r->head_pub;
}

size_t ring_free_bytes(const struct ring *r)
{
	if (r->broken)
		return 0;
	if (r->role == RING_PRODUCER) {
		uint64_t t;
		if (!ring_load_tail(r, &t))
			return 0;
		return (size_t)(r->size - (r->head - t));
	}
	uint64_t h;
	if (!ring_load_head(r, &h))
		return 0;
	return (size_t)(r->size - (h - r->tail));
}

static int ring_break(struct ring *r)
{
	r->broken = true;
	r->peeked = 0;
	return -EBADMSG;
}

int ring_peek(struct ring *r, struct ring_rec *rec)
{
	assert(r->role == RING_CONSUMER);
	if (r->broken)
		return -EBADMSG;
	r->peeked = 0;
	if (r->head_seen == r->tail) {
		uint64_t h;
		if (!ring_load_head(r, &h))
			return ring_break(r);
		r->head_seen = h;
		if (h == r->tail)
			return -EAGAIN;
	}
	/* From here: 8 <= avail <= size, both 8-aligned, so the header at `off` is inside the data
	 * area (off <= size - 8) and inside the published span. */
	uint64_t avail = r->head_seen - r->tail;
	uint32_t off = (uint32_t)(r->tail & r->mask);
	uint64_t skip = 0;
	struct ring_rec_hdr h = ring_read_hdr(r, off);

	if (h.type == RING_TYPE_PAD) {
		/* A PAD reaches exactly to the end, carries no flags, and the record it makes
		 * room for was published with it (same commit). */
		uint32_t gap = r->size - off;
		if (h.flags != 0 || h.len != gap - RING_HDR_SIZE ||
		    avail < (uint64_t)gap + RING_HDR_SIZE)
			return ring_break(r);
		skip = gap;
		off = 0;
		h = ring_read_hdr(r, 0);
	}
	if (h.type == 0 || h.type == RING_TYPE_PAD || h.len > r->max_body)
		return ring_break(r);
	uint64_t cost = ring_record_cost(h.len);
	/* After a PAD the record must not have fitted before the end: a PAD anywhere else is not
	 * a wrap the producer needed, and would let a producer hide gaps we never check. */
	if (skip != 0 && cost <= skip)
		return ring_break(r);
	if (off + cost > r->size || skip + cost > avail)
		return ring_break(r);

	rec->body = r->data + off + RING_HDR_SIZE;
	rec->len = h.len;
	rec->type = h.type;
	rec->flags = h.flags;
	r->peeked = skip + cost;
	return 0;
}

void ring_consume(struct ring *r)
{
	assert(r->role == RING_CONSUMER);
	if (r->broken || r->peeked == 0)
		return;
	r->tail += r->peeked;
	r->peeked = 0;
}

bool ring_publish(struct ring *r)
{
	assert(r->role == RING_CONSUMER);
	if (r->broken || r->tail == r->tail_pub)
		return false;
	r->tail_pub = r->tail;
	atomic_store_explicit(&r->shared->tail, r->tail, memory_order_release);
	return true;
}

void ring_release(struct ring *r)
{
	ring_consume(r);
	ring_publish(r);
}

int ring_head_now(struct ring *r, uint64_t *head)
{
	assert(r->role == RING_CONSUMER);
	if (r->broken)
		return -EBADMSG;
	uint64_t h;
	if (!ring_load_head(r, &h))
		return ring_break(r);
	r->head_seen = h;
	*head = h;
	return 0;
}

/* futex(2) on a word of the shared mapping: not FUTEX_PRIVATE_FLAG, the two sides are two
 * processes. */
static long ring_futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

bool ring_ctl_room_notify(struct ring_shared *ctl)
{
	atomic_fetch_add_explicit(&ctl->room_seq, 1, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&ctl->prod_waiting, memory_order_relaxed) &&
	    atomic_exchange_explicit(&ctl->prod_waiting, 0, memory_order_relaxed)) {
		ring_futex(&ctl->room_seq, FUTEX_WAKE, INT_MAX, NULL);
		return true;
	}
	return false;
}

void ring_ctl_room_arm(struct ring_shared *ctl)
{
	atomic_store_explicit(&ctl->prod_waiting, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
}

int ring_ctl_room_wait(struct ring_shared *ctl, uint32_t seq, int timeout_ms)
{
	struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
	if (ring_futex(&ctl->room_seq, FUTEX_WAIT, seq, timeout_ms < 0 ? NULL : &ts) == 0)
		return 0;
	switch (errno) {
	case ETIMEDOUT:
		return -ETIMEDOUT;
	case EINTR:
		return -EINTR;
	default:
		return 0; /* EAGAIN: room_seq moved before we slept */
	}
}

void ring_room_notify(struct ring *r)
{
	ring_ctl_room_notify(r->shared);
}

void ring_room_arm(struct ring *r)
{
	ring_ctl_room_arm(r->shared);
}

int ring_room_wait(struct ring *r, uint32_t seq, int timeout_ms)
{
	return ring_ctl_room_wait(r->shared, seq, timeout_ms);
}

void ring_notify_off(struct ring *r)
{
	atomic_store_explicit(&r->shared->cons_awake, 1, memory_order_relaxed);
}

bool ring_notify_on(struct ring *r)
{
	atomic_store_explicit(&r->shared->cons_awake, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	/* A broken ring says "more": the caller's next peek reports it. */
	return r->broken || atomic_load_explicit(&r->shared->head, memory_order_acquire) != r->tail;
}

bool ring_notify_wanted(const struct ring *r)
{
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&r->shared->cons_awake, memory_order_relaxed) == 0;
}

bool ring_empty(const struct ring *r)
{
	if (r->broken)
		return false;
	if (r->role == RING_CONSUMER) {
		if (r->head_seen != r->tail)
			return false;
		return atomic_load_explicit(&r->shared->head, memory_order_acquire) == r->tail;
	}
	return atomic_load_explicit(&r->shared->tail, memory_order_acquire) == r->head_pub;
}
