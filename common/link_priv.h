/* link_priv: what the two descriptor transports behind the link API share (link.c over ZeroMQ,
 * shm_link.c over a shared-memory ring): the receiver's checks of a batch and its sequence
 * accounting, and the sender's hand-over of the chains. Not for the layers themselves.
 */
#ifndef USTACK_LINK_PRIV_H
#define USTACK_LINK_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "hist.h"
#include "desc.h"
#include "link.h"
#include "pool.h"

/* Receiver's view of the sender's sequence numbers. */
struct link_rx_seq {
	bool valid;
	uint32_t next;
};

/* Take the chains a decoded batch names. A batch that claims another sender than `peer` is
 * counted (rx_drop_badmsg) and nothing is taken; otherwise the sequence number is accounted
 * (rx_seq_gaps), and each descriptor's chain is taken from the pool (pool_take: index,
 * generation, holder, shape, length) and its offsets checked against the chain; what fails is
 * counted (rx_drop_stale) and skipped, a chain that is ours but nonsensical is freed. Returns
 * how many chains are now the caller's, in bufs[0..n) with their descriptors in descs[0..n). */
unsigned link_batch_take(struct pool *pool, enum pool_holder peer, const struct desc_batch *b,
			 struct link_stats *st, struct link_rx_seq *seq, struct buf **bufs,
			 struct desc *descs, struct hist *transit, uint64_t now);
/* (link_batch_take also stamps each taken descriptor's t_arr with now and adds the batch's
 * transit, now - b->sent, once per descriptor taken to `transit`; link.h, latency.) */

/* Sender: the time each descriptor spent inside this layer (now - t_arr, where stamped) into
 * `inside`. */
void link_batch_account_tx(const struct desc *descs, unsigned n, struct hist *inside,
			   uint64_t now);

/* Sender: fill in buf, gen and len of descs[0..n) from bufs (n >= 1, every entry a chain), and
 * seal each descriptor (desc_seal): after this the descriptors are what goes on the wire. */
void link_batch_fill(struct buf *const *bufs, struct desc *descs, unsigned n);

/* Sender: a send that did not happen consumes the chains anyway (counted in tx_drop_full). */
void link_batch_drop(struct pool *pool, struct link_stats *st, struct buf **bufs, unsigned n);

/* Sender: the chains a batch hands over. A transport writes wire descriptors wire[0..n) and
 * hands over chains[i] for each i where it is not NULL; the fault injector (link_fault.c) sends
 * descriptors that hand nothing over (a duplicate, a damaged copy). Copies the non-NULL
 * entries of chains[0..n) to own, returns how many. */
unsigned link_batch_owned(struct buf **chains, unsigned n, struct buf **own);

/* The transport's send: wire[0..n) (filled and sealed) as one batch, handing over the non-NULL
 * chains[i]. n in 1..DESC_BATCH_MAX. Consumes every chain (on failure they were freed, counted
 * in tx_drop_full) and sets chains[0..n) to NULL. Returns n, or a negative errno: -EAGAIN
 * (dropped), -EPERM (a chain not ours: nothing changed, the caller's bug). */
int link_xmit(struct link *l, struct buf **chains, struct desc *wire, unsigned n, uint64_t now);

/* The fault state of a link (link_fault.c), NULL unless a fault was ever set on it, and the
 * process's fault table it belongs to (NULL: faults never attached). */
struct link_fault;
struct link_faults;
struct link_fault **link_fault_of(struct link *l);
struct link_faults **link_faults_of(struct link *l);
struct pool *link_pool(struct link *l);
struct link_stats *link_counters(struct link *l);

/* link_fault.c, called by link_send and link_recv. */
int link_fault_send(struct link *l, struct buf **bufs, struct desc *descs, unsigned n,
		    uint64_t now);
void link_fault_recv(struct link *l, int got);
void link_fault_close(struct link *l);

#endif
