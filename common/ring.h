/* ring: a single-producer/single-consumer ring of variable-length records in shared memory.
 *
 * Shape (sDDF queues, io_uring SQ/CQ, DPDK rte_ring, Linux's perf ring buffer):
 *
 *   struct ring_shared   two indices, each on its own cache line: `head` written only by the
 *                        producer, `tail` written only by the consumer
 *   data[size]           elsewhere in the same shared object; size a power of two >= 4096
 *
 * Indices are monotonically increasing 64-bit byte counts, never reduced modulo the size: the
 * offset of a byte is `index & mask`, the bytes in flight are `head - tail` (wrap-safe in unsigned
 * arithmetic, and 2^64 bytes are never reached anyway). So "full" and "empty" are never ambiguous
 * (no wasted slot, no separate count), each index has exactly one writer (no locks, no
 * read-modify-write: one release store publishes, one acquire load observes), and a reader can
 * check any index it is handed with plain subtraction: a valid one is within `size` of the other.
 *
 * Records. Each starts 8-byte aligned with a struct ring_rec_hdr {len, type, flags}; its body is
 * `len` bytes right after it, padded to 8, and is contiguous: when header plus body would cross
 * the end of the data area, the producer writes a RING_TYPE_PAD record covering the rest of the
 * area and puts the record at offset 0. A PAD is legal only there: it reaches exactly to the end,
 * and the record after it (published by the same commit) really did not fit before the end. A
 * body is at most size/2 - 8 bytes, so a record plus its worst-case PAD always fits in an empty
 * ring: a reservation that fails with -ENOSPC succeeds once the consumer has caught up.
 *
 * Trust. The two sides may be different processes, and the other side may be hostile (a transport
 * server consumes an application's TX ring and produces into its RX rings; docs/ARCHITECTURE.md,
 * Security). Hence each side keeps a process-local struct ring and:
 *   - takes the geometry (data pointer, size, mask, max body) ONCE from trusted arguments at
 *     attach and never re-reads it from shared memory, so the peer cannot steer our accesses;
 *   - keeps its own index locally and only ever stores it; the peer's index is loaded (acquire),
 *     checked (8-aligned, not backwards, `head - tail <= size`) and cached;
 *   - TOCTOU rule: a record header is read ONCE, as one 8-byte volatile load (Linux READ_ONCE),
 *     into a local struct; every check and every use is on that copy. The peer can still change
 *     the bytes afterwards, but only the bytes: the body pointer handed out lies inside the data
 *     area with its checked length, whatever happens to the shared memory. The user copies the body
 *     out (and parses the copy, never the shared bytes twice) before ring_release.
 *   - a consumer that sees garbage returns -EBADMSG and stays broken: every later call returns
 *     -EBADMSG, so the server closes that client's session instead of re-reading garbage.
 *     A producer that finds the consumer's tail impossible is broken likewise (errno EBADMSG).
 * What the peer can still do is only to itself: overwrite records it has not consumed yet, or
 * fill its own ring with nonsense.
 *
 * Batching: several reservations may be made before one ring_commit publishes all of them;
 * ring_cancel drops the ones not yet committed. Commits are whole records, so the consumer never
 * sees a record (or a PAD without the record after it) that is only partly published. The
 * consumer may batch too: ring_consume moves on without giving space back, ring_publish gives
 * back everything consumed in one store.
 *
 * Flow control (the producer's side of Linux's sk_wmem_alloc): a producer can learn exactly
 * which records the consumer has released (ring_set_reclaim: each one is reported before its
 * space is reused), and can sleep until the consumer gives room back (ring_room_wait on a futex
 * word the consumer bumps, ring_room_notify). Both are only ever advisory for the consumer: it
 * never waits on the producer and never trusts what the producer wrote there.
 */
#ifndef USTACK_RING_H
#define USTACK_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RING_CACHELINE 64u
#define RING_ALIGN 8u          /* records start 8-byte aligned */
#define RING_HDR_SIZE 8u       /* sizeof(struct ring_rec_hdr) */
#define RING_SIZE_MIN 4096u
#define RING_SIZE_MAX (1u << 30)
#define RING_TYPE_PAD 0xffffu /* reserved: filler up to the end of the data area */
/* Record types 1 .. 0xfffe are the user's (region.h defines its own); 0 is never valid. */

/* Shared control block: placed at a RING_CACHELINE-aligned offset. Layout is shared: never
 * reorder. The indices are lock-free 64-bit atomics, which is what makes them usable across
 * processes. Each cache line is written by one side only: head and prod_waiting by the
 * producer, tail, room_seq and cons_awake by the consumer (the consumer clears prod_waiting when
 * it wakes a waiter: the one exception, an atomic exchange). */
struct ring_shared {
	_Alignas(RING_CACHELINE) _Atomic uint64_t head; /* producer: bytes published, ever */
	_Atomic uint32_t prod_waiting; /* producer: non-zero while it may sleep in ring_room_wait */
	uint8_t pad_head[RING_CACHELINE - sizeof(uint64_t) - sizeof(uint32_t)];
	_Alignas(RING_CACHELINE) _Atomic uint64_t tail; /* consumer: bytes released, ever */
	_Atomic uint32_t room_seq; /* consumer: bumped by ring_room_notify; producers sleep on it */
	_Atomic uint32_t cons_awake; /* consumer: non-zero while it will look again unasked
				      * (ring_notify_off); 0, as formatted: doorbell every commit */
	uint8_t pad_tail[RING_CACHELINE - sizeof(uint64_t) - 2 * sizeof(uint32_t)];
};
_Static_assert(sizeof(_Atomic uint32_t) == 4, "room_seq is a futex word");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "ring indices are plain 64-bit words");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_LONG_LOCK_FREE == 2,
	       "shared-memory indices need lock-free 64-bit atomics");
_Static_assert(sizeof(struct ring_shared) == 2 * RING_CACHELINE, "ring_shared is shared");

/* Record header as stored in the data area (host byte order: both sides are on one host). */
struct ring_rec_hdr {
	uint32_t len;   /* body bytes after the header, before padding to 8 */
	uint16_t type;  /* 0 invalid, RING_TYPE_PAD filler, else the user's */
	uint16_t flags; /* the user's; 0 in a PAD */
};
_Static_assert(sizeof(struct ring_rec_hdr) == RING_HDR_SIZE, "ring_rec_hdr is shared");

/* A record as handed to the consumer: a checked local copy of the header and the body's place. */
struct ring_rec {
	const void *body; /* inside the data area, `len` bytes: copy out before ring_release */
	uint32_t len;
	uint16_t type;
	uint16_t flags;
};

enum ring_role {
	RING_PRODUCER = 1,
	RING_CONSUMER = 2,
};

struct ring_rec;
/* Producer: told of each record the consumer released (ring_set_reclaim). */
typedef void (*ring_reclaim_fn)(void *arg, const struct ring_rec *rec);

/* Process-local view. Fields are visible so it can be embedded by value; use the functions. */
struct ring {
	struct ring_shared *shared;
	uint8_t *data;
	uint32_t size;     /* trusted copies, fixed at attach */
	uint32_t mask;
	uint32_t max_body;
	enum ring_role role;
	bool broken;       /* sticky: the peer broke the protocol */
	/* producer */
	uint64_t head;      /* end of the last reservation, committed or not */
	uint64_t head_pub;  /* last value stored to shared->head */
	uint64_t tail_seen; /* last checked value of shared->tail (reclaimed up to here) */
	ring_reclaim_fn reclaim; /* NULL, or told of every released record (ring_set_reclaim) */
	void *reclaim_arg;
	/* consumer */
	uint64_t tail;      /* start of the next unread record (own index) */
	uint64_t tail_pub;  /* last value stored to shared->tail */
	uint64_t head_seen; /* last checked value of shared->head */
	uint64_t peeked;    /* bytes ring_release will consume (PAD + record), 0 if none */
};

/* Bytes one record with a body of `len` takes in the data area (header + body padded to 8),
 * not counting the PAD it needs if it must wrap, which is at most the rest of the area. */
static inline size_t ring_record_cost(uint32_t len)
{
	return RING_HDR_SIZE + (((size_t)len + (RING_ALIGN - 1)) & ~(size_t)(RING_ALIGN - 1));
}

/* Largest body a ring of `size` data bytes takes: size/2 - header. */
static inline uint32_t ring_max_body_for(uint32_t size)
{
	return size / 2 - RING_HDR_SIZE;
}

/* Whether `size` is a valid data-area size: a power of two in [RING_SIZE_MIN, RING_SIZE_MAX]. */
bool ring_size_valid(uint64_t size);

/* Initialise a control block (head = tail = 0). The creator of the shared object does this once,
 * before either side attaches. */
void ring_format(struct ring_shared *ctl);

/* Build the process-local view for `role` over a control block and a data area of `size` bytes.
 * `ctl`, `data` and `size` are trusted (the caller validated them); they are copied once here.
 * The indices found in `ctl` are not: -EBADMSG if they are inconsistent (unaligned, or more than
 * `size` apart). -EINVAL for a bad size, role or alignment (ctl RING_CACHELINE, data RING_ALIGN).
 * On failure *r is untouched. Nothing to release: the view owns no resources. */
int ring_attach(struct ring *r, enum ring_role role, struct ring_shared *ctl, void *data,
		uint32_t size);

/* Producer. Reserve room for one record of `type` (1 .. 0xfffe) with a body of `len` bytes and
 * return where to write the body, or NULL with errno set: ENOSPC (not enough free space; retry
 * after the consumer releases), EMSGSIZE (len > max body), EINVAL (type 0 or RING_TYPE_PAD),
 * EBADMSG (the ring is broken). The record is invisible to the consumer until ring_commit.
 * A failed call changes nothing. */
void *ring_reserve_flags(struct ring *r, uint16_t type, uint16_t flags, uint32_t len);

static inline void *ring_reserve(struct ring *r, uint16_t type, uint32_t len)
{
	return ring_reserve_flags(r, type, 0, len);
}

/* Producer. Publish every reservation made so far (one release store of head). */
void ring_commit(struct ring *r);

/* Producer. Drop every reservation not yet committed. */
void ring_cancel(struct ring *r);

/* Free bytes as seen from this side now: for the producer, what it may still reserve (a record
 * of `len` needs ring_record_cost(len), plus the rest of the area as PAD if it must wrap).
 * 0 for a broken ring or an impossible peer index. Does not change the view. */
size_t ring_free_bytes(const struct ring *r);

/* Consumer. Look at the next record: 0 and *rec filled; -EAGAIN when the ring is empty; -EBADMSG
 * when the producer wrote anything that breaks the rules above (sticky). Peeking again without
 * release re-reads and re-checks the same record. PAD records are skipped, never returned. */
int ring_peek(struct ring *r, struct ring_rec *rec);

/* Consumer. Give the peeked record's space back to the producer (one release store of tail).
 * The body must have been copied out before. No-op if nothing is peeked or the ring is broken. */
void ring_release(struct ring *r);

/* Consumer. Deferred release: ring_consume moves past the peeked record (the next peek sees
 * the one after it) without giving its space back; ring_publish gives back everything consumed
 * so far in one release store, and returns whether tail moved. A consumer that still needs
 * what the records describe (udpd, until the datagrams are handed on) publishes when done. */
void ring_consume(struct ring *r);
bool ring_publish(struct ring *r);

/* Consumer: where the next unread record starts (own index; consumed counts, published or
 * not). Consumer: the producer's head now, loaded and checked; -EBADMSG (sticky, as ring_peek)
 * if it is impossible. Every record that starts before it was published by then. */
static inline uint64_t ring_read_pos(const struct ring *r)
{
	return r->tail;
}
int ring_head_now(struct ring *r, uint64_t *head);

/* Waiting for room (Linux sock_wait_for_wmem, without a kernel). The consumer bumps room_seq
 * whenever it gives room back (ring_room_notify: after ring_publish, or when something else the
 * producer counts as room changed), then wakes the producers that said they wait. A producer
 * that finds no room:
 *     seq = ring_room_seq(r); ring_room_arm(r); <look for room again>; ring_room_wait(r, seq, ms)
 * Arming before looking again (both sides fence) means either the look sees the room or the
 * consumer sees the flag and wakes: no wake-up is lost. The futex word is in shared memory the
 * other side can write: a hostile consumer can only wake us early (we look again) or never
 * (the timeout holds); a hostile producer can only make the consumer issue a wake-up syscall per
 * notify. ring_room_wait: 0 (woken, or seq had changed already), -ETIMEDOUT (timeout_ms >= 0
 * passed; -1 waits forever), -EINTR (a signal). */
void ring_room_notify(struct ring *r);
static inline uint32_t ring_room_seq(const struct ring *r)
{
	return atomic_load_explicit(&r->shared->room_seq, memory_order_acquire);
}
void ring_room_arm(struct ring *r);
int ring_room_wait(struct ring *r, uint32_t seq, int timeout_ms);

/* Doorbell suppression (virtio's VRING_USED_F_NO_NOTIFY, io_uring's SQ_NEED_WAKEUP): a
 * producer that signals the consumer by other means (an eventfd) after each commit need not
 * while the consumer is awake and will look at the ring again anyway. The consumer says so with
 * ring_notify_off when it starts taking records; when it finds the ring empty and means to stop
 * looking, it calls ring_notify_on, which asks for the doorbell again, fences, and tells whether
 * a record came in meanwhile (then it goes on taking, and may call ring_notify_off again). The
 * producer commits, then asks ring_notify_wanted (it fences first) and signals only when told:
 * the two fences mean either the consumer's last look sees the commit or the producer sees the
 * request, so no wake-up is lost, and while the consumer is busy none is made. A ring whose
 * consumer never calls these (cons_awake stays 0, as formatted) gets a doorbell per commit.
 * The word is the consumer's, in memory the producer can write: a hostile producer can only
 * lose its own wake-ups; the consumer never reads it. */
void ring_notify_off(struct ring *r);
bool ring_notify_on(struct ring *r);
bool ring_notify_wanted(const struct ring *r);

/* The same protocol on a bare control block, for other views of it (stream_ring.h's byte
 * rings share struct ring_shared). ring_ctl_room_notify returns whether a producer had armed
 * (it was woken): a server that also signals the producer by other means (an eventfd) does so
 * only then. */
bool ring_ctl_room_notify(struct ring_shared *ctl);
void ring_ctl_room_arm(struct ring_shared *ctl);
int ring_ctl_room_wait(struct ring_shared *ctl, uint32_t seq, int timeout_ms);

/* Producer: ask to be told of every record the consumer releases, oldest first (PADs are not
 * reported), before its space is ever reused: the records are the producer's own, still intact
 * when fn runs, and rec->body may be read (never kept). This is how a producer learns what was
 * consumed of each kind (libsock: bytes per socket) from the single tail index. Reports happen
 * in ring_reclaim and whenever ring_reserve looks at the tail. */
void ring_set_reclaim(struct ring *r, ring_reclaim_fn fn, void *arg);
/* Producer: look at the consumer's tail now and report what it released. The number of records
 * reported, or -EBADMSG when the tail is impossible (the ring is broken, as ring_reserve) or a
 * released span does not parse as the records we wrote (then nothing more is reported for
 * it). */
int ring_reclaim(struct ring *r);

/* Consumer: nothing to peek. Producer: the consumer has released everything committed.
 * False for a broken ring (so a poller goes on to ring_peek and sees -EBADMSG). */
bool ring_empty(const struct ring *r);

static inline bool ring_broken(const struct ring *r)
{
	return r->broken;
}

#endif /* USTACK_RING_H */
