/* link: one direction of descriptor traffic between two layers, a ZeroMQ PUSH→PULL pair over
 * ipc:// in the instance's runtime directory. The receiver binds, the sender connects.
 *
 * Endpoint of the link from layer A to layer B: ipc://<runtime dir>/<A>-to-<B>.desc, e.g.
 * /run/ustack/demo/nicd-to-ipd.desc.
 *
 * Sending never blocks: ZMQ_DONTWAIT with ZMQ_IMMEDIATE, so when the receiver is down or its
 * queue is full the batch is dropped and counted, as a NIC drops when its ring is full. The
 * sender hands buffers to the receiver (pool_transfer) before the message leaves; if the send
 * fails it takes them back and frees them, so a dropped batch never leaks.
 *
 * Latency (docs/ARCHITECTURE.md "Observability"): every batch carries the time it was sent, and
 * each link keeps one histogram (common/hist.h), counted per descriptor:
 *   receiving end "transit_from_<peer>": from the peer's send to our link_recv (the ZeroMQ hop,
 *     queueing in it included);
 *   sending end "inside_to_<peer>": from each descriptor's t_arr (its arrival in this layer:
 *     link_recv stamps it, or the layer where the frame entered the stack) to link_send, the
 *     time the packet spent in this layer on its way to the peer. Descriptors with t_arr 0 are
 *     not counted.
 * One clock read per batch on each side; per descriptor a subtraction and a hist_add.
 */
#ifndef USTACK_LINK_H
#define USTACK_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "desc.h"
#include "hist.h"
#include "loop.h"
#include "pool.h"
#include "stats.h"

struct link_stats {
	uint64_t tx_batches;
	uint64_t tx_descs;
	uint64_t tx_drop_full;    /* descriptors dropped: receiver absent or its queue full */
	uint64_t rx_batches;
	uint64_t rx_descs;
	uint64_t rx_drop_badmsg;  /* messages that did not decode */
	uint64_t rx_drop_stale;   /* descriptors naming a buffer that is not ours (stale, a
				   * duplicate of one taken already, a forgery) */
	uint64_t rx_seq_gaps;     /* batches missing between two received sequence numbers */
	uint64_t tx_waits;        /* times a sender held its input back for this link (link_room) */
	uint64_t tx_wait_expired; /* waits that ran past LINK_WAIT_MAX_MS: the peer was treated as
				   * stalled and sends dropped again (counted in tx_drop_full) */
	uint64_t rx_drop_corrupt; /* descriptors whose seal does not match (desc_seal): damaged
				   * after their sender sealed them; nothing in them is used */
};

struct link;
struct loop;

/* The descriptor transport, chosen per instance in its config ([stack] link = zmq | shm) and
 * set once per process before any link is opened: ZeroMQ PUSH→PULL (the default), or the
 * shared-memory ring of shm_link.h (the fast option, the same contract). */
enum link_kind { LINK_KIND_ZMQ, LINK_KIND_SHM, LINK_KIND_COUNT };
void link_set_kind(enum link_kind kind);
enum link_kind link_get_kind(void);
enum link_kind link_kind_of(const struct link *l);

/* Which end this is, and of which layer's link. */
bool link_is_rx(const struct link *l);
enum pool_holder link_peer(const struct link *l);

/* Field names of struct link_stats (link_stats.c). */
extern const struct stat_field link_stat_fields[];
extern const unsigned link_stat_field_count;

/* Name of a layer as used in endpoints and logs: "nicd", "ipd", "tcpd", "udpd", "tool". */
const char *link_layer_name(enum pool_holder layer);

/* Endpoint string for the link from -> to of instance. 0, -ENAMETOOLONG, or -EINVAL (bad
 * instance name, or from/to not a layer). */
int link_endpoint(const char *instance, enum pool_holder from, enum pool_holder to, char *out,
		  size_t out_size);

/* Open the receiving end (binds a PULL; removes a stale socket file first) of from -> self,
 * where self is pool_self(pool). zctx is the process's ZeroMQ context. */
int link_open_rx(void *zctx, struct pool *pool, const char *instance, enum pool_holder from,
		 struct link **out);

/* Open the sending end (connects a PUSH) of self -> to. */
int link_open_tx(void *zctx, struct pool *pool, const char *instance, enum pool_holder to,
		 struct link **out);

void link_close(struct link **l);

/* Peer handshakes. Every link watches its ZeroMQ socket (a monitor installed before bind or
 * connect, so none is missed) for completed handshakes with the layer at the other end: only
 * then do messages flow, in either direction of a PUSH/PULL pair.
 *   link_peer_events: a socket that becomes readable after each handshake (zmq_poll it);
 *   link_peer_events_drain: consume those events, return how many there were;
 *   link_wait_peer: wait at most timeout_ms until at least one handshake has happened since
 *     open; 0, or -ETIMEDOUT (the peer is down: serve anyway, drops are counted).
 * A ring (link = shm) has no monitor: link_peer_events is NULL, and link_peer_events_drain
 * counts a new receiver process found in the ring's header instead, so a shell asks it where
 * it would have polled the monitor (ipd: with every batch from nicd).
 * Shells use them so nothing is sent into a link that is still connecting after a restart:
 * nicd attaches its device only once ipd's link to it is up (otherwise ipd's answers to the
 * first frames are dropped), and ipd announces itself whenever nicd comes back. */
void *link_peer_events(struct link *l);
unsigned link_peer_events_drain(struct link *l);
int link_wait_peer(struct link *l, int timeout_ms);

/* Whether a handshake with the peer has happened and its connection has not dropped since
 * (consumes the monitor's events like link_peer_events_drain, whose count it keeps for it). */
bool link_peer_up(struct link *l);

/* Receive-path back-pressure (a NIC ring that stops the driver instead of overflowing).
 * A layer that forwards input it cannot refuse to the next layer asks, before it takes more
 * input, whether this link has room:
 *   LINK_ROOM_YES   a batch can be sent now;
 *   LINK_ROOM_WAIT  the peer is connected but its queue is full: take no input, wait for the
 *                   link's ZMQ_POLLOUT, and ask again at link_room_recheck() at the latest;
 *   LINK_ROOM_DROP  the peer is absent, or has been full for LINK_WAIT_MAX_MS (stopped, not
 *                   just slow: its watchdog will have it restarted): go on, sends are dropped
 *                   and counted, so one wedged layer cannot stop traffic for the others.
 * A wait that ends in DROP is counted in tx_wait_expired; the link waits again only after the
 * peer has taken a batch. */
enum link_room { LINK_ROOM_YES, LINK_ROOM_WAIT, LINK_ROOM_DROP };
#define LINK_WAIT_MAX_MS 100
enum link_room link_room(struct link *l, uint64_t now);
/* When to ask link_room again at the latest while it says WAIT (CLOCK_NEVER otherwise): within
 * LINK_WAIT_RECHECK_MS, since the peer may die meanwhile (its disconnect is seen only when
 * link_room looks), and at the end of the wait. */
#define LINK_WAIT_RECHECK_MS 2
uint64_t link_room_recheck(const struct link *l, uint64_t now);

/* The ZeroMQ socket (NULL for a ring): only for ZeroMQ-specific code; the loop goes through
 * link_loop_add. */
void *link_socket(struct link *l);

/* Register the link with a loop (common/loop.h): a receiving end calls fn when batches may be
 * waiting; a sending end only while link_loop_room(..., true), when room may have come back.
 * Returns the source id, or -ENOSPC. */
int link_loop_add(struct loop *lp, struct link *l, loop_source_fn fn, void *arg);
void link_loop_room(struct loop *lp, int id, struct link *l, bool wait);

/* Sending end: whether a full batch can be sent now. */
bool link_tx_ready(struct link *l);

/* Send n (<= DESC_BATCH_MAX) chains with their descriptors (buf, gen and len are filled in from
 * bufs). Always consumes the chains: on success they belong to the receiver, on failure they
 * were freed. Every entry of bufs is set to NULL. Returns n sent, or -EAGAIN (dropped, counted
 * in tx_drop_full) or another negative errno. Exception, for caller bugs only: -EINVAL (n above
 * DESC_BATCH_MAX, a NULL entry) and -EPERM (a chain not held by self) change nothing. */
int link_send(struct link *l, struct buf **bufs, struct desc *descs, unsigned n);

/* Receive without blocking: one batch, then, while at least DESC_BATCH_MAX entries of bufs are
 * left, every further batch already waiting (coalescing: link.c, "Receiving"; a slow fault
 * costs one batch per call). Each valid descriptor's chain is taken (pool_take) into bufs[i]
 * with its descriptor in descs[i]; invalid ones are counted and skipped. Returns the number of
 * chains now owned by the caller (0 if the batches held none valid), or -EAGAIN when nothing is
 * waiting. max must be >= DESC_BATCH_MAX; receivers that keep up with bursts pass
 * LINK_RECV_MAX. */
#define LINK_RECV_MAX (4 * DESC_BATCH_MAX)
int link_recv(struct link *l, struct buf **bufs, struct desc *descs, unsigned max);

/* Did link_recv(..., max) that returned got leave the link drained? It stops coalescing only
 * when nothing more waits or a whole batch no longer fits, so room for one more batch means
 * nothing was left behind (an error return counts as drained too). As NAPI, a receiver ends
 * its rounds there and lets the rest of its loop go first. */
static inline bool link_recv_drained(int got, unsigned max)
{
	return got < 0 || max - (unsigned)got >= DESC_BATCH_MAX;
}

const struct link_stats *link_stats(const struct link *l);

/* The link's latency histogram and its name ("transit_from_ipd", "inside_to_nicd"), as above. */
const struct hist *link_hist(const struct link *l);
const char *link_hist_name(const struct link *l);

/* The link's part of a STATS reply: its counters as link_<from|to>_<peer>_<counter> and its
 * histogram (link_stats.c). 0 or a negative errno from ctl_reply_add_*. */
struct ctl_server;
struct Ustack__CtlReply;
int link_ctl_report(struct ctl_server *srv, struct Ustack__CtlReply *r, const struct link *l);

#endif
