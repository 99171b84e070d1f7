/* link_batch: the checks every descriptor transport makes on a received batch, and the sender's
 * bookkeeping, shared by link.c (ZeroMQ) and shm_link.c (shared-memory ring) so that both keep
 * exactly the same contract (link.h): nothing a peer sends is trusted, nothing is leaked.
 */
#include "link_priv.h"

/* The offsets a layer will index the head buffer with must lie inside the chain's data. */
static bool link_desc_sane(const struct desc *d)
{
	if (d->l3_off > d->len || d->l4_off > d->len)
		return false;
	if ((d->flags & DESC_F_CSUM_NEEDED) &&
	    (uint32_t)d->csum_start + d->csum_offset + 2 > d->len)
		return false;
	if (d->gso_type != DESC_GSO_NONE && d->gso_type != DESC_GSO_TCPV4 &&
	    d->gso_type != DESC_GSO_UDP)
		return false;
	return true;
}

static void link_seq_account(struct link_stats *st, struct link_rx_seq *rs, uint32_t seq)
{
	if (rs->valid && seq != rs->next) {
		uint32_t gap = seq - rs->next;
		/* Forward by less than half the space: batches went missing. Otherwise the sender
		 * restarted from 0 (or a stray batch): resynchronise silently. */
		if (gap < UINT32_C(0x80000000))
			st->rx_seq_gaps += gap;
	}
	rs->valid = true;
	rs->next = seq + 1;
}

/* b - a, or 0 if a clock went backwards between two processes (never on one boot's
 * CLOCK_MONOTONIC; a corrupt peer could claim it). */
static inline uint64_t link_elapsed(uint64_t a, uint64_t b)
{
	return b > a ? b - a : 0;
}

unsigned link_batch_take(struct pool *pool, enum pool_holder peer, const struct desc_batch *b,
			 struct link_stats *st, struct link_rx_seq *seq, struct buf **bufs,
			 struct desc *descs, struct hist *transit, uint64_t now)
{
	/* Only the peer ever sends on this link; a batch claiming another sender is corrupt, and
	 * its descriptors would name buffers handed to somebody else's link. */
	if (b->sender != (uint32_t)peer || b->count > DESC_BATCH_MAX) {
		st->rx_drop_badmsg++;
		return 0;
	}
	link_seq_account(st, seq, b->seq);
	st->rx_batches++;

	unsigned got = 0;
	for (uint32_t i = 0; i < b->count; i++) {
		const struct desc *d = &b->d[i];
		/* The seal first: a damaged descriptor may name, with a plausible generation and
		 * length, a chain in flight to us that another descriptor of the batch owns, or
		 * carry offsets or addresses that are in range and wrong; nothing of it is used. */
		if (!desc_sealed(d)) {
			st->rx_drop_corrupt++;
			continue;
		}
		struct buf *chain = pool_take(pool, d->buf, d->gen, d->len);
		if (!chain) {
			st->rx_drop_stale++;
			continue;
		}
		if (!link_desc_sane(d)) {
			st->rx_drop_stale++;
			pool_free(&chain);
			continue;
		}
		bufs[got] = chain;
		descs[got] = *d;
		descs[got].t_arr = now;
		got++;
	}
	st->rx_descs += got;
	if (b->sent && got)
		hist_add_n(transit, link_elapsed(b->sent, now), got);
	return got;
}

void link_batch_account_tx(const struct desc *descs, unsigned n, struct hist *inside,
			   uint64_t now)
{
	for (unsigned i = 0; i < n; i++)
		if (descs[i].t_arr)
			hist_add(inside, link_elapsed(descs[i].t_arr, now));
}

void link_batch_fill(struct buf *const *bufs, struct desc *descs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		descs[i].buf = buf_index(bufs[i]);
		descs[i].gen = buf_gen(bufs[i]);
		descs[i].len = buf_chain_len(bufs[i]);
		descs[i].pad = 0;
		desc_seal(&descs[i]);
	}
}

void link_batch_drop(struct pool *pool, struct link_stats *st, struct buf **bufs, unsigned n)
{
	st->tx_drop_full += n;
	pool_free_burst(pool, bufs, n);
}

unsigned link_batch_owned(struct buf **chains, unsigned n, struct buf **own)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++)
		if (chains[i])
			own[k++] = chains[i];
	return k;
}
