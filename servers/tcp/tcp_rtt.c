/* tcp_rtt: round-trip time estimation and the retransmission timeout (RFC 6298).
 *
 * Exactly RFC 6298 §2, in microseconds and integers: the first sample R sets SRTT = R and
 * RTTVAR = R/2; each later R' sets RTTVAR = 3/4·RTTVAR + 1/4·|SRTT - R'| (with the old SRTT)
 * and then SRTT = 7/8·SRTT + 1/8·R'; RTO = SRTT + max(G, 4·RTTVAR), clamped to
 * [TCP_RTO_MIN_NS, TCP_RTO_MAX_NS]. G, the clock granularity, is 1 ms: samples come either
 * from the timestamp option's millisecond clock or from CLOCK_MONOTONIC, and the coarser one
 * bounds what a sample can resolve. Truncating divisions lose under 1 µs per sample.
 *
 * The minimum is Linux's 200 ms, not RFC 6298 §2.4's 1 s (a MAY-level deviation every major
 * stack makes); the maximum is Linux's 120 s (§2.5 allows any value of at least 60 s).
 *
 * Backoff (§5.5) is a shift applied when the RTO is read, so the estimate itself is kept; it
 * ends only with a new sample (the note after §5.7: after backing off, the RTO "collapses"
 * only when a new measurement arrives — Linux resets icsk_backoff in tcp_ack_update_rtt
 * alone), or at the handshake's end. Karn's algorithm (RFC 6298 §3) for connections without
 * timestamps times one segment at a time and forgets it when it is retransmitted.
 */
#include <string.h>

#include "tcp_priv.h"

#define TCP_RTT_G_US 1000u
#define TCP_RTO_MIN_US ((uint32_t)(TCP_RTO_MIN_NS / 1000u))
#define TCP_RTO_MAX_US ((uint32_t)(TCP_RTO_MAX_NS / 1000u))
#define TCP_RTO_SYN_FALLBACK_US 3000000u /* RFC 6298 §5.7 */
#define TCP_BACKOFF_SHIFT_MAX 20u         /* 200 ms << 20 is far past TCP_RTO_MAX */

static uint32_t tcp_rto_clamp(uint64_t us)
{
	if (us < TCP_RTO_MIN_US)
		return TCP_RTO_MIN_US;
	if (us > TCP_RTO_MAX_US)
		return TCP_RTO_MAX_US;
	return (uint32_t)us;
}

void tcp_rtt_init(struct tcp_rtt *r)
{
	memset(r, 0, sizeof(*r));
	r->rto_us = (uint32_t)(TCP_RTO_INIT_NS / 1000u);
}

void tcp_rtt_sample(struct tcp_rtt *r, uint32_t rtt_us)
{
	uint64_t var4;

	if (rtt_us == 0)
		rtt_us = 1;
	if (rtt_us > TCP_RTO_MAX_US)
		rtt_us = TCP_RTO_MAX_US;
	if (r->srtt_us == 0) {
		r->srtt_us = rtt_us; /* (2.2) */
		r->rttvar_us = rtt_us / 2;
	} else {
		/* (2.3), beta = 1/4 then alpha = 1/8: RTTVAR uses SRTT before its update. */
		uint32_t delta = r->srtt_us > rtt_us ? r->srtt_us - rtt_us : rtt_us - r->srtt_us;

		r->rttvar_us = (uint32_t)((3ull * r->rttvar_us + delta) / 4);
		r->srtt_us = (uint32_t)((7ull * r->srtt_us + rtt_us) / 8);
	}
	var4 = 4ull * r->rttvar_us;
	r->rto_us = tcp_rto_clamp(r->srtt_us + (var4 > TCP_RTT_G_US ? var4 : TCP_RTT_G_US));
	if (r->min_rtt_us == 0 || rtt_us < r->min_rtt_us)
		r->min_rtt_us = rtt_us;
	r->backoff = 0;
}

uint64_t tcp_rtt_rto_ns(const struct tcp_rtt *r)
{
	/* rto_us is clamped again: the struct lives in shared memory a crash may have torn. */
	unsigned shift = r->backoff < TCP_BACKOFF_SHIFT_MAX ? r->backoff : TCP_BACKOFF_SHIFT_MAX;
	uint64_t ns = ((uint64_t)tcp_rto_clamp(r->rto_us) * 1000u) << shift;

	return ns < TCP_RTO_MAX_NS ? ns : TCP_RTO_MAX_NS;
}

void tcp_rtt_backoff(struct tcp_rtt *r)
{
	if (r->backoff < UINT8_MAX)
		r->backoff++;
}

void tcp_rtt_reset_backoff(struct tcp_rtt *r)
{
	r->backoff = 0;
}

void tcp_rtt_start(struct tcp_rtt *r, uint32_t seq, uint64_t now)
{
	if (r->timing)
		return;
	r->timing = 1;
	r->timed_seq = seq;
	r->timed_at = now;
}

void tcp_rtt_cancel(struct tcp_rtt *r)
{
	r->timing = 0;
}

uint32_t tcp_rtt_acked(struct tcp_rtt *r, uint32_t ack, uint64_t now)
{
	uint64_t us;

	if (!r->timing || !SEQ_GT(ack, r->timed_seq))
		return 0;
	r->timing = 0;
	if (now < r->timed_at)
		return 0;
	us = (now - r->timed_at) / 1000u;
	if (us == 0)
		return 1;
	return us > TCP_RTO_MAX_US ? TCP_RTO_MAX_US : (uint32_t)us;
}

void tcp_rtt_handshake_done(struct tcp_rtt *r, bool syn_timed_out)
{
	r->backoff = 0;
	if (syn_timed_out && r->rto_us < TCP_RTO_SYN_FALLBACK_US)
		r->rto_us = TCP_RTO_SYN_FALLBACK_US;
}
