/* region_app: the latency of the two hops between an application and its transport server, as
 * each side sees it (region.h, "Latency of the two hops"): the check of a TX stamp (a DGRAM
 * record's, a stream slot's), the application's count of an RX record taken or of a stream
 * read, and what the server believes of the statistics area the application writes (the same
 * for udpd and tcpd: the credit is datagrams delivered, or stream RX stamps published).
 *
 * The statistics area is the client's memory, so region_app_collect treats it as a peer's
 * message: every bucket read once, growth only (a count that goes down is a broken or hostile
 * writer: an honest one only ever increments), and never more samples than the server handed
 * the region records (the credit). The server's histogram therefore only ever grows, whatever
 * the client does, so readers can subtract two of its snapshots (hist_sub) as with any other.
 * What a client can still do is to put its honest number of samples into the wrong buckets:
 * it lies only about itself, in a histogram reported as "app-reported".
 */
#include "region.h"

#include <errno.h>
#include <stdatomic.h>

int region_tx_transit(uint64_t t_sent, uint64_t now, uint64_t *ns)
{
	if (t_sent == 0 || t_sent > now || now - t_sent >= REGION_TRANSIT_MAX)
		return -ERANGE;
	*ns = now - t_sent;
	return 0;
}

void region_app_rx_taken(struct region *r, uint64_t t_ring, uint64_t taken)
{
	if (!r->app_stats || t_ring == 0 || t_ring > taken)
		return;
	atomic_fetch_add_explicit(&r->app_stats->rx_transit[hist_bucket(taken - t_ring)], 1,
				  memory_order_relaxed);
}

void region_app_stream_read(struct region *r, uint32_t slot, uint64_t *seen,
			    uint64_t (*now_fn)(void))
{
	const struct region_stream_ctl *c = region_stream_slot(r, slot);
	if (!c)
		return;
	/* The head was loaded (acquire) before the read; tcpd stores the stamp before the head,
	 * so this stamp is at least as new as the bytes read (a newer one only shortens one
	 * sample). One relaxed load per read, and a clock read per new stamp only. */
	uint64_t t = atomic_load_explicit(&c->rx_stamp, memory_order_relaxed);
	if (t == 0 || t == *seen)
		return;
	*seen = t;
	region_app_rx_taken(r, t, now_fn());
}

void region_app_collect(const struct region_app_stats *shared, struct hist *last,
			struct hist *acc, uint64_t *credit, struct region_app_refused *refused)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		uint64_t now = atomic_load_explicit(&shared->rx_transit[i], memory_order_relaxed);
		uint64_t was = last->b[i];
		last->b[i] = now;
		if (now < was) {
			refused->went_down++;
			continue;
		}
		uint64_t grew = now - was, take = grew < *credit ? grew : *credit;
		acc->b[i] += take;
		*credit -= take;
		/* Saturating: the client picks `grew`, and a counter must not wrap. */
		if (__builtin_add_overflow(refused->over_credit, grew - take, &refused->over_credit))
			refused->over_credit = UINT64_MAX;
	}
}

void region_app_collect_count(const struct region_app_stats *shared, struct hist *last,
			      struct hist *acc, uint64_t *credit, uint64_t *over_credit,
			      uint64_t *went_down)
{
	struct region_app_refused no = {0};
	region_app_collect(shared, last, acc, credit, &no);
	if (__builtin_add_overflow(*over_credit, no.over_credit, over_credit))
		*over_credit = UINT64_MAX;
	if (__builtin_add_overflow(*went_down, no.went_down, went_down))
		*went_down = UINT64_MAX;
}

void region_app_baseline(const struct region_app_stats *shared, struct hist *last)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		last->b[i] = atomic_load_explicit(&shared->rx_transit[i], memory_order_relaxed);
}
