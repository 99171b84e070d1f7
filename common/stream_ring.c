/* stream_ring: SPSC byte rings in shared memory — windows, wrap-handling copies, peer checks.
 *
 * See stream_ring.h for the model and the trust rules. Notes on the implementation:
 *
 * - Memory order, as ring.c: the producer copies bytes with plain stores, then release-stores
 *   head; the consumer acquire-loads head, then reads. The consumer release-stores tail after
 *   its last read of the bytes it gives back; the producer acquire-loads tail before it
 *   overwrites them.
 * - Caching: the peer's index is loaded again only when the cached one says "not enough" (the
 *   consumer's range goes past the head it knows, the producer's past the room it knows), so
 *   steady-state copies touch the peer's cache line once per batch.
 * - Window arithmetic is on unsigned 64-bit differences, never on sums that could overflow:
 *   [index, index + len) lies in [lo, hi) iff index - lo <= hi - lo and len <= hi - index
 *   (with index - lo computed first; an index below lo wraps to a huge difference and fails).
 *   Whether it was below (-EINVAL) or beyond (-ENOSPC) is told by the sign of index - lo.
 */
#include "stream_ring.h"

#include <errno.h>
#include <string.h>

int stream_ring_attach(struct stream_ring *r, enum ring_role role, struct ring_shared *ctl,
		       void *data, uint32_t size)
{
	if (!r || !ctl || !data || !ring_size_valid(size))
		return -EINVAL;
	if (role != RING_PRODUCER && role != RING_CONSUMER)
		return -EINVAL;
	if ((uintptr_t)ctl % RING_CACHELINE != 0)
		return -EINVAL;
	/* Both indices come from shared memory the peer (or we, before a restart) wrote last:
	 * at most one ring apart, or nothing is built on them. */
	uint64_t head = atomic_load_explicit(&ctl->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&ctl->tail, memory_order_acquire);
	if (head - tail > size)
		return -EBADMSG;
	*r = (struct stream_ring){
		.shared = ctl,
		.data = data,
		.size = size,
		.mask = size - 1,
		.role = role,
		.head = head,
		.tail = tail,
	};
	return 0;
}

/* Consumer: load the producer's head and check it: not behind the head we saw (which is never
 * behind our tail), at most one ring ahead of our tail. Caches it. */
static int stream_ring_load_head(struct stream_ring *r)
{
	if (r->broken)
		return -EBADMSG;
	uint64_t h = atomic_load_explicit(&r->shared->head, memory_order_acquire);
	if (h - r->tail > r->size || h - r->tail < r->head - r->tail) {
		r->broken = true;
		return -EBADMSG;
	}
	r->head = h;
	return 0;
}

/* Producer: load the consumer's tail and check it: not behind the tail we saw, not past the
 * head we published. Caches it. */
static int stream_ring_load_tail(struct stream_ring *r)
{
	if (r->broken)
		return -EBADMSG;
	uint64_t t = atomic_load_explicit(&r->shared->tail, memory_order_acquire);
	if (t - r->tail > r->head - r->tail) {
		r->broken = true;
		return -EBADMSG;
	}
	r->tail = t;
	return 0;
}

int stream_ring_head_now(struct stream_ring *r, uint64_t *head)
{
	int rc = r->role == RING_CONSUMER ? stream_ring_load_head(r) : (r->broken ? -EBADMSG : 0);
	if (rc == 0)
		*head = r->head;
	return rc;
}

int stream_ring_tail_now(struct stream_ring *r, uint64_t *tail)
{
	int rc = r->role == RING_PRODUCER ? stream_ring_load_tail(r) : (r->broken ? -EBADMSG : 0);
	if (rc == 0)
		*tail = r->tail;
	return rc;
}

int64_t stream_ring_readable(struct stream_ring *r)
{
	if (r->role != RING_CONSUMER)
		return -EINVAL;
	int rc = stream_ring_load_head(r);
	return rc < 0 ? rc : (int64_t)(r->head - r->tail);
}

int64_t stream_ring_writable(struct stream_ring *r)
{
	if (r->role != RING_PRODUCER)
		return -EINVAL;
	int rc = stream_ring_load_tail(r);
	return rc < 0 ? rc : (int64_t)(r->size - (r->head - r->tail));
}

/* [index, index + len) inside [lo, hi)? 0, -EINVAL (starts below lo), -ENOSPC (reaches past
 * hi). hi - lo is at most the ring size. */
static int stream_ring_in(uint64_t index, size_t len, uint64_t lo, uint64_t hi)
{
	uint64_t off = index - lo;
	if ((int64_t)off < 0)
		return -EINVAL;
	if (off > hi - lo || (uint64_t)len > hi - lo - off)
		return -ENOSPC;
	return 0;
}

/* Check [index, index + len) against this side's window, loading the peer's index again when
 * the cached one is short. */
static int stream_ring_window(struct stream_ring *r, uint64_t index, size_t len)
{
	if (r->broken)
		return -EBADMSG;
	if (r->role == RING_CONSUMER) {
		int rc = stream_ring_in(index, len, r->tail, r->head);
		if (rc == -ENOSPC) {
			rc = stream_ring_load_head(r);
			if (rc == 0)
				rc = stream_ring_in(index, len, r->tail, r->head);
		}
		return rc == -ENOSPC ? -EINVAL : rc; /* not published: the caller's mistake */
	}
	int rc = stream_ring_in(index, len, r->head, r->tail + r->size);
	if (rc == -ENOSPC) {
		rc = stream_ring_load_tail(r);
		if (rc == 0)
			rc = stream_ring_in(index, len, r->head, r->tail + r->size);
	}
	return rc;
}

static unsigned stream_ring_cut(const struct stream_ring *r, uint64_t index, size_t len,
				struct iovec sp[2])
{
	if (len == 0)
		return 0;
	uint32_t off = (uint32_t)(index & r->mask);
	size_t first = r->size - off;
	if (first >= len) {
		sp[0] = (struct iovec){r->data + off, len};
		return 1;
	}
	sp[0] = (struct iovec){r->data + off, first};
	sp[1] = (struct iovec){r->data, len - first};
	return 2;
}

int stream_ring_spans(struct stream_ring *r, uint64_t index, size_t len, struct iovec sp[2])
{
	int rc = stream_ring_window(r, index, len);
	return rc < 0 ? rc : (int)stream_ring_cut(r, index, len, sp);
}

int stream_ring_read_at(struct stream_ring *r, uint64_t index, void *dst, size_t len)
{
	if (r->role != RING_CONSUMER)
		return -EINVAL;
	struct iovec sp[2];
	int n = stream_ring_spans(r, index, len, sp);
	if (n < 0)
		return n;
	uint8_t *d = dst;
	for (int i = 0; i < n; i++) {
		memcpy(d, sp[i].iov_base, sp[i].iov_len);
		d += sp[i].iov_len;
	}
	return 0;
}

int stream_ring_write_at(struct stream_ring *r, uint64_t index, const void *src, size_t len)
{
	if (r->role != RING_PRODUCER)
		return -EINVAL;
	struct iovec sp[2];
	int n = stream_ring_spans(r, index, len, sp);
	if (n < 0)
		return n;
	const uint8_t *s = src;
	for (int i = 0; i < n; i++) {
		memcpy(sp[i].iov_base, s, sp[i].iov_len);
		s += sp[i].iov_len;
	}
	return 0;
}

int stream_ring_publish_head(struct stream_ring *r, uint64_t new_head)
{
	if (r->role != RING_PRODUCER)
		return -EINVAL;
	if (r->broken)
		return -EBADMSG;
	if (new_head == r->head)
		return 0;
	int rc = stream_ring_in(new_head, 0, r->head, r->tail + r->size);
	if (rc == -ENOSPC) {
		rc = stream_ring_load_tail(r);
		if (rc == 0)
			rc = stream_ring_in(new_head, 0, r->head, r->tail + r->size);
	}
	if (rc < 0)
		return rc == -EBADMSG ? rc : -EINVAL;
	r->head = new_head;
	atomic_store_explicit(&r->shared->head, new_head, memory_order_release);
	return 0;
}

int stream_ring_publish_tail(struct stream_ring *r, uint64_t new_tail)
{
	if (r->role != RING_CONSUMER)
		return -EINVAL;
	if (r->broken)
		return -EBADMSG;
	if (new_tail == r->tail)
		return 0;
	int rc = stream_ring_in(new_tail, 0, r->tail, r->head);
	if (rc == -ENOSPC) {
		rc = stream_ring_load_head(r);
		if (rc == 0)
			rc = stream_ring_in(new_tail, 0, r->tail, r->head);
	}
	if (rc < 0)
		return rc == -EBADMSG ? rc : -EINVAL;
	r->tail = new_tail;
	atomic_store_explicit(&r->shared->tail, new_tail, memory_order_release);
	return 0;
}

bool stream_ring_room_notify(struct stream_ring *r)
{
	return ring_ctl_room_notify(r->shared);
}

uint32_t stream_ring_room_seq(const struct stream_ring *r)
{
	return atomic_load_explicit(&r->shared->room_seq, memory_order_acquire);
}

void stream_ring_room_arm(struct stream_ring *r)
{
	ring_ctl_room_arm(r->shared);
}

int stream_ring_room_wait(struct stream_ring *r, uint32_t seq, int timeout_ms)
{
	return ring_ctl_room_wait(r->shared, seq, timeout_ms);
}
