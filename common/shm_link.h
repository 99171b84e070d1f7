/* shm_link: one direction of descriptor traffic between two layers over shared memory, the fast
 * alternative to link.c's ZeroMQ PUSH→PULL (DESIGN: "a shared-memory link ... as sDDF's
 * queues"): an SPSC ring of descriptor batches (common/ring.h) in a shared object of the
 * instance's private directory (common/shm_dir.h), and two doorbells.
 *
 * Same contract as link.h, function by function: the sender hands the chains over in the pool
 * (pool_transfer) before the batch is published and a send that does not happen frees them
 * (counted in tx_drop_full); the receiver trusts nothing it reads (the ring's own checks, then
 * link_batch_take's: sender, sequence, pool_take, offsets); sequence gaps are counted; a batch
 * is never decoded from protobuf: the record is the struct desc_batch's fixed-width prefix.
 *
 * Objects, named after the link ("<from>-to-<to>", e.g. nicd-to-ipd):
 *   <shm dir>/<from>-to-<to>        header, ring control block, data area (SHM_LINK_RING bytes)
 *   <runtime dir>/<from>-to-<to>.bell   FIFO: the receiver's doorbell ("batches are waiting")
 *   <runtime dir>/<from>-to-<to>.room   FIFO: the sender's doorbell ("room came back")
 * The receiver creates and formats the ring; both make the FIFOs if missing (mkfifo, 0600) and
 * open them O_RDWR | O_NONBLOCK, so neither ever blocks on the other's absence. A FIFO is a
 * doorbell two unrelated processes can share without passing descriptors, and it outlives both.
 *
 * Doorbells with event suppression (virtio's, io_uring's SQ_NEED_WAKEUP): a side that is about
 * to sleep stores its `armed` flag, looks at the ring once more, and sleeps only if there is
 * still nothing for it; the other side rings (one write(2)) only when it finds the flag set,
 * clearing it. Both sides order the flag against the index with a sequentially consistent
 * fence, so one of them always sees the other: no wake-up is lost, and a busy link costs no
 * system call per batch. The flags and the pids in the header are advisory: a hostile peer can
 * only make us wake up early (we look and find nothing) or not at all (its own traffic stalls).
 *
 * Restarts. The ring outlives both sides (`ustackctl down` removes it with the directory):
 *   - a restarted receiver attaches to it as it finds it and goes on from the tail its
 *     predecessor left. Batches queued for the dead one name chains its pool_reclaim took back
 *     at start, so they are counted stale and skipped; what the sender published since is
 *     taken as usual. The sender notices nothing. If the ring's indices are impossible, the
 *     receiver formats it again and bumps `epoch`.
 *   - a restarted sender attaches as producer at the head its predecessor published.
 *   - the sender compares `epoch` before every send and re-attaches when it changed; a sender
 *     that finds no ring (the receiver has never run) drops and counts, and looks again every
 *     LINK_RECONNECT_MS.
 *   - whether the receiver is alive (shm_link_peer_up, used by link_room) is its pid, from the
 *     header, checked with kill(pid, 0): only asked when the ring is full.
 */
#ifndef USTACK_SHM_LINK_H
#define USTACK_SHM_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "desc.h"
#include "hist.h"
#include "link.h"
#include "pool.h"

#define SHM_LINK_RING (256u << 10) /* data bytes: ~100 full batches, thousands of small ones */

struct shm_link;

/* Open the receiving end of from -> self (self = pool_self(pool)): the ring is created, or
 * attached as found (formatted again if broken), and this process's pid recorded in it.
 * 0 or a negative errno. */
int shm_link_open_rx(struct pool *pool, const char *instance, enum pool_holder from,
		     struct shm_link **out);
/* Open the sending end of self -> to. Succeeds whether or not the receiver has made the ring
 * yet (sends are dropped and counted until it has). 0 or a negative errno. */
int shm_link_open_tx(struct pool *pool, const char *instance, enum pool_holder to,
		     struct shm_link **out);
void shm_link_close(struct shm_link **l);

/* link_xmit's ring half (link_priv.h; `sent`: the batch's send time, for the receiver's
 * transit histogram): writes wire[0..n) as they are (filled and sealed) and hands over the
 * non-NULL chains[i]; consumes those chains whatever happens (the caller clears its array);
 * n sent, or -EAGAIN (no receiver ring, or no room: dropped, counted), -EINVAL / -EPERM for
 * caller bugs (nothing changed). Rings the receiver's doorbell if it sleeps. */
int shm_link_send(struct shm_link *l, struct buf **chains, const struct desc *wire, unsigned n,
		  uint64_t sent);

/* As link_recv: at most one batch; n chains now the caller's (0 if none of the batch was
 * valid), or -EAGAIN when the ring is empty, in which case the doorbell is armed: poll
 * shm_link_fd for POLLIN before sleeping. max must be >= DESC_BATCH_MAX. The doorbell rings
 * only after an -EAGAIN: a receiver that stops calling before it saw one must come back by
 * itself (the loop's pending work), not wait for the bell. Taken descriptors get t_arr and
 * their batch's transit is added to `transit` (link_batch_take). */
int shm_link_recv(struct shm_link *l, struct buf **bufs, struct desc *descs, unsigned max,
		  struct hist *transit);

/* The descriptor to poll for POLLIN: on the receiving end, batches may be waiting; on the
 * sending end, room may have come back (after shm_link_tx_ready said no). */
int shm_link_fd(struct shm_link *l);

/* Sender: whether a full batch fits now. When not, the room doorbell is armed first, so a
 * POLLIN on shm_link_fd follows as soon as the receiver gives room back. */
bool shm_link_tx_ready(struct shm_link *l);

/* Sender: whether the receiver's process is alive (its pid from the ring's header). */
bool shm_link_peer_up(struct shm_link *l);

/* Sender: how many times a new receiver process has attached since the last call (0 or 1),
 * from its pid in the header: what a ZeroMQ link's handshake events tell (link.h). */
unsigned shm_link_peer_changes(struct shm_link *l);

const struct link_stats *shm_link_stats(const struct shm_link *l);
/* The same counters, for the link API that owns this ring to count its waits in (link_room). */
struct link_stats *shm_link_counters(struct shm_link *l);

#endif
