/* stream_ring: a single-producer/single-consumer ring of BYTES in shared memory (a TCP socket's
 * send or receive buffer, docs: SPEC-streams.md).
 *
 * Shape: the control block is ring.h's struct ring_shared (two monotonically increasing 64-bit
 * indices on their own cache lines, `head` stored only by the producer, `tail` only by the
 * consumer, plus ring.h's futex word for waiting for room); the data area is `size` bytes, a
 * power of two (ring_size_valid), elsewhere in the same shared object. The byte at index i
 * lives at data[i & (size - 1)]. There are no records: any index is a legal position.
 *
 *   consumer reads  [tail, head)          the bytes published and not yet released
 *   producer writes [head, tail + size)   the free space; writing BEYOND head is legal (a TCP
 *                                         receiver places out-of-order segments there), the
 *                                         bytes become visible only when head moves past them
 *
 * The two windows are disjoint modulo size, so neither side ever touches bytes the other may be
 * using. A TCP send stream uses the same rule the other way round: the application (producer)
 * appends at head, tcpd (consumer) reads any bytes of [tail, head) as often as it must
 * (retransmissions) and releases them (tail) only when the peer has acknowledged them.
 *
 * Trust (as ring.h; the peer may be hostile: a transport server produces into an application's
 * receive rings and consumes its send rings, and each distrusts the other):
 *   - geometry (control block, data pointer, size) is taken ONCE from trusted arguments at
 *     attach and never re-read from shared memory;
 *   - each side keeps its own index locally and only stores it; the peer's index is loaded
 *     once per look (acquire), checked, and cached: a consumer refuses a head that went
 *     backwards or is more than `size` ahead of its tail; a producer refuses a tail that went
 *     backwards or passed the head it published. Indices need no alignment (bytes);
 *   - a broken peer index makes the view report -EBADMSG from then on (sticky), so a server
 *     closes that client instead of re-reading garbage; the peer can only ever damage the
 *     contents of its own bytes, never steer an access outside the data area.
 *
 * Own mistakes are -EINVAL and change nothing: an index outside this side's window (behind
 * head for a producer, outside [tail, head) for a consumer), publishing backwards or past the
 * window. Every copy handles the wrap at the end of the data area.
 *
 * Waiting. Room (the producer waits for the consumer): ring.h's room protocol on the same
 * control block (stream_ring_room_*), which the consumer bumps whenever it releases bytes (or
 * when something else a waiting producer must see changed). Data (the consumer waits for the
 * producer): not here; region.h says which eventfd carries it. stream_ring_event_crossed is the
 * rule both sides use to batch wake-ups (virtio's used_event/avail_event test).
 */
#ifndef USTACK_STREAM_RING_H
#define USTACK_STREAM_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ring.h"

/* Process-local view. Fields are visible so it can be embedded by value; use the functions. */
struct stream_ring {
	struct ring_shared *shared;
	uint8_t *data;
	uint32_t size; /* trusted copies, fixed at attach */
	uint32_t mask;
	enum ring_role role;
	bool broken;   /* sticky: the peer broke the protocol */
	/* Producer: head is its own (last published), tail the consumer's last checked value.
	 * Consumer: tail is its own (last published), head the producer's last checked value. */
	uint64_t head;
	uint64_t tail;
};

/* Build the view for `role` over a control block and a data area of `size` bytes. ctl, data and
 * size are trusted (the caller validated them) and copied once. -EINVAL for a bad role, size
 * (ring_size_valid) or ctl alignment (RING_CACHELINE); -EBADMSG if the indices found in ctl are
 * more than `size` apart. On failure *r is untouched. The view owns nothing. */
int stream_ring_attach(struct stream_ring *r, enum ring_role role, struct ring_shared *ctl,
		       void *data, uint32_t size);

/* Consumer: bytes readable now, [tail, head) (head loaded and checked); -EBADMSG if broken. */
int64_t stream_ring_readable(struct stream_ring *r);

/* Producer: bytes free now, size - (head - tail) (tail loaded and checked), counted from head;
 * -EBADMSG if broken. */
int64_t stream_ring_writable(struct stream_ring *r);

/* Consumer: copy [index, index + len) out to dst; the range must lie in [tail, head) (head is
 * loaded again if the cached one is short). 0, -EINVAL (outside), -EBADMSG. */
int stream_ring_read_at(struct stream_ring *r, uint64_t index, void *dst, size_t len);

/* Producer: copy src in at [index, index + len); the range must lie in [head, tail + size)
 * (tail is loaded again if the cached one leaves too little room). 0, -EINVAL (index behind
 * head), -ENOSPC (past the free space), -EBADMSG. Invisible to the consumer until head passes
 * it (stream_ring_publish_head). */
int stream_ring_write_at(struct stream_ring *r, uint64_t index, const void *src, size_t len);

/* Where [index, index + len) lies in the data area, checked against this side's window as the
 * two calls above: 0, 1 or 2 pieces (two when it wraps) in sp[], or -EINVAL / -ENOSPC /
 * -EBADMSG. For copies the caller makes itself (gathering an iovec, a pool buffer chain). A
 * consumer must copy the bytes out before it trusts them: the producer can still change them. */
int stream_ring_spans(struct stream_ring *r, uint64_t index, size_t len, struct iovec sp[2]);

/* Producer: make [old head, new_head) visible (one release store). head <= new_head <=
 * tail + size, else -EINVAL and nothing changes; -EBADMSG if broken. Publishing the same head
 * again is a no-op, which makes "publish head = position of rcv_nxt" idempotent. */
int stream_ring_publish_head(struct stream_ring *r, uint64_t new_head);

/* Consumer: give [old tail, new_tail) back (one release store). tail <= new_tail <= head
 * (head loaded again if needed), else -EINVAL; -EBADMSG if broken. */
int stream_ring_publish_tail(struct stream_ring *r, uint64_t new_tail);

/* The peer's index now, loaded, checked and cached: the consumer's head, the producer's tail.
 * 0 or -EBADMSG (sticky). */
int stream_ring_head_now(struct stream_ring *r, uint64_t *head);
int stream_ring_tail_now(struct stream_ring *r, uint64_t *tail);

/* Cached values (no load): this side's own index and the last checked one of the peer. */
static inline uint64_t stream_ring_head(const struct stream_ring *r)
{
	return r->head;
}
static inline uint64_t stream_ring_tail(const struct stream_ring *r)
{
	return r->tail;
}
static inline bool stream_ring_broken(const struct stream_ring *r)
{
	return r->broken;
}

/* Waiting for room: ring.h's protocol (ring_room_notify and friends) on this ring's control
 * block. The consumer calls stream_ring_room_notify after stream_ring_publish_tail (true: a
 * producer had armed and was woken); a producer that finds no room reads the seq, arms, looks
 * again, then waits (0, -ETIMEDOUT, -EINTR). */
bool stream_ring_room_notify(struct stream_ring *r);
uint32_t stream_ring_room_seq(const struct stream_ring *r);
void stream_ring_room_arm(struct stream_ring *r);
int stream_ring_room_wait(struct stream_ring *r, uint32_t seq, int timeout_ms);

/* Did an index move from old to new pass `event`, i.e. is event in [old, new)? Wrap-safe; false
 * when new == old. The side that publishes an index wakes its peer only when the peer's event
 * index was crossed; the peer, before it sleeps, stores as its event the index it has seen,
 * fences, and looks at the index again (virtio's vring_need_event). */
static inline bool stream_ring_event_crossed(uint64_t event, uint64_t old_idx, uint64_t new_idx)
{
	return new_idx - event - 1 < new_idx - old_idx;
}

#endif /* USTACK_STREAM_RING_H */
