/* tcp_rack: RACK-TLP loss detection on the sender (RFC 8985): time-based loss detection (§6)
 * and the tail loss probe (§7).
 *
 * RACK: what was sent when is a table in the connection's record (struct tcp_rack, 32 ranges
 * covering [snd_una, snd_max) in sequence order, each with its earliest and latest send time
 * in µs). Sends within min_RTT/4 of a range's first send join it (a burst is one range); a
 * retransmission cuts its own range out, sent now, flagged RETRANS. Coalescing is kept
 * conservative both ways: loss is judged on a range's latest send, RACK.xmit_ts taken from
 * its earliest; inside one range sends went in sequence order, which stands in for the
 * per-segment tie-break by end_seq. When the table would need a 33rd range it is given up
 * for the flight (valid = 0, tcp_rack_overflow) and RFC 6675 decides until snd_una reaches
 * snd_max; a torn or inconsistent table is treated the same way, never trusted.
 *   - on each ACK (tcp_rack_on_ack, before tcp_recovery_on_ack): RACK.xmit_ts/end_seq/rtt
 *     from what it delivered, cumulatively or by SACK (§6.2 step 2; a retransmission
 *     acknowledged sooner than min_RTT is taken for the original's ACK and ignored);
 *     reordering seen when an original transmission is delivered below RACK.fack (step 3);
 *     reo_wnd = min_RTT/4 · reo_wnd_mult, at most SRTT, 0 in recovery or with DupThresh
 *     segments SACKed until reordering has been seen; a D-SACK raises reo_wnd_mult once per
 *     round trip, for 16 recoveries (step 4); then every range sent before RACK's segment
 *     whose xmit + RACK.rtt + reo_wnd has passed is marked lost, and t_reo is armed for the
 *     latest of the others (step 5, §6.3);
 *   - tcp_recovery.c enters recovery on a mark and tcp_output sends the marked ranges first.
 *
 * Tail loss probe: while data is outstanding in OPEN state a probe timeout (PTO) runs beside
 * the retransmission timer. When it expires, one segment goes out: new data if the peer's
 * window allows (it also probes, and costs nothing if nothing was lost), else the highest
 * sequence sent again. Whatever arrives of the tail then draws an ACK (with SACK, the
 * information fast recovery needs) instead of silence until the RTO, which would collapse
 * cwnd to one segment and go back N.
 *
 * As Linux (tcp_schedule_loss_probe, tcp_send_loss_probe, tcp_process_tlp_ack):
 *   - only with SACK, and only in OPEN: in DISORDER, RECOVERY and LOSS the ACK clock and
 *     loss recovery are already at work;
 *   - PTO = 2·SRTT (1 s before any sample), plus a worst-case delayed ACK (TCP_DELACK_MAX_NS,
 *     RFC 8985's WCDelAckT) when one segment is in flight (its ACK may be delayed), plus
 *     TCP_TLP_MIN_NS otherwise (Linux's TCP_TIMEOUT_MIN: a few scheduling delays of four
 *     processes must not look like a lost tail); never later than the RTO deadline, so that
 *     when both are due the probe goes instead of the timeout (the RTO is then re-armed);
 *   - one probe per flight: none while TCP_TLP_OUT (until an ACK reaches tlp_high_seq);
 *   - after the probe the RTO is re-armed, not the PTO (RFC 8985 §7.3);
 *   - the probe's ACK (§7.4): if the probe was a retransmission, its ACK covers it and carries
 *     no D-SACK, the probe repaired a loss: congestion control reacts once (ssthresh, cwnd
 *     brought down to it, as Linux's CWR) and TCPLossProbeRecovery is counted. A D-SACK says
 *     both copies arrived: nothing was lost.
 * The PTO is (re)started whenever new data is sent and whenever an ACK cumulatively
 * acknowledges new data (RFC 8985 §7.2, Linux's FLAG_SET_XMIT_TIMER), and cancelled when the
 * conditions stop holding. Not on every ACK: a peer that sends data of its own repeats the
 * same ACK on each of its segments, and one doing so more often than the PTO (a two-way
 * stream over a path of tens of ms) held the probe off until the RTO: a lost tail then cost
 * the RTO, and its cwnd of one segment, instead of 2·SRTT.
 */
#include <string.h>

#include "tcp_priv.h"

#define TCP_TLP_MIN_NS (2ull * 1000000ull) /* Linux TCP_TIMEOUT_MIN (2 jiffies) */

static bool tlp_eligible(const struct tcp_conn *c)
{
	return (c->flags & TCP_F_SACK_OK) && c->cc.ca_state == TCP_CA_OPEN &&
	       c->snd_una != c->snd_max && !(c->tlp_flags & TCP_TLP_OUT) &&
	       (c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_CLOSE_WAIT ||
		c->state == TCP_STATE_FIN_WAIT_1 || c->state == TCP_STATE_CLOSING ||
		c->state == TCP_STATE_LAST_ACK);
}

uint64_t tcp_tlp_pto_ns(const struct tcp_conn *c)
{
	uint64_t pto;
	uint32_t smss = tcp_cc_smss(c);

	if (c->rtt.srtt_us == 0)
		return TCP_RTO_INIT_NS; /* RFC 8985 §7.2: 1 s without an RTT sample */
	pto = 2ull * c->rtt.srtt_us * 1000u;
	if (c->snd_max - c->snd_una <= smss)
		pto += TCP_DELACK_MAX_NS; /* WCDelAckT: the lone segment's ACK may be delayed */
	else
		pto += TCP_TLP_MIN_NS;
	return pto;
}

void tcp_tlp_schedule(struct tcp_table *t, struct tcp_conn *c, uint64_t now)
{
	uint64_t when;

	/* not eligible, or the RTO is due already (it is being handled: never arm in the past) */
	if (!tlp_eligible(c) || (c->t_rtx && c->t_rtx <= now)) {
		c->t_tlp = 0;
		return;
	}
	when = now + tcp_tlp_pto_ns(c);
	if (c->t_rtx && c->t_rtx < when)
		when = c->t_rtx; /* PTO = min(PTO, RTO): the probe replaces the timeout */
	tcp_timer_arm(t, c, &c->t_tlp, when);
}

void tcp_tlp_after_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now, bool acked_new)
{
	if (acked_new || c->t_tlp == 0 || !tlp_eligible(c) || (c->t_rtx && c->t_rtx <= now))
		tcp_tlp_schedule(t, c, now);
}

void tcp_tlp_fire(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io)
{
	unsigned before = io->n_tx;

	if (!tlp_eligible(c))
		return;
	/* new data first, if there is some the peer's window takes (Linux: cwnd ignored) */
	if (c->snd_nxt == c->snd_max && SEQ_LT(c->snd_max, c->write_seq) &&
	    SEQ_LT(c->snd_max, c->snd_una + c->snd_wnd))
		tcp_output_probe(t, c, now, io);
	if (io->n_tx == before) {
		if (tcp_retransmit_tail(t, c, now, io) != 0)
			goto rearm; /* io full: deferred output will send what cwnd allows */
		c->tlp_flags = TCP_TLP_RETRANS;
	} else {
		c->tlp_flags = 0;
	}
	if (io->n_tx == before)
		goto rearm;
	c->tlp_flags |= TCP_TLP_OUT;
	c->t_tlp = 0; /* sending new data restarted it: one probe per flight */
	c->tlp_high_seq = c->snd_max;
	t->stats.tcp_loss_probes++;
rearm:
	/* RFC 8985 §7.3: the RTO, not the PTO, after a probe */
	if (c->snd_una != c->snd_max)
		tcp_timer_arm(t, c, &c->t_rtx, now + tcp_rto_ns(c, now));
}

void tcp_tlp_on_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
		    const struct tcp_ack_info *ai)
{
	const struct tcp_cc_ops *ops;

	if (!(c->tlp_flags & TCP_TLP_OUT))
		return;
	if (!SEQ_GEQ(c->snd_una, c->tlp_high_seq) ||
	    SEQ_GT(c->tlp_high_seq, c->snd_max)) {
		/* the episode goes on; a value beyond snd_max is stale (torn record) */
		if (SEQ_GT(c->tlp_high_seq, c->snd_max))
			c->tlp_flags = 0;
		return;
	}
	if ((c->tlp_flags & TCP_TLP_RETRANS) && !ai->dsack && ai->acked &&
	    c->cc.ca_state == TCP_CA_OPEN) {
		/* §7.4.2: the probe's retransmission repaired the loss of the tail */
		ops = tcp_cc_get((enum tcp_cc_algo)c->cc.algo);
		c->cc.prior_cwnd = c->cc.cwnd;
		c->cc.ssthresh = ops->ssthresh(c, now);
		if (c->cc.cwnd > c->cc.ssthresh)
			c->cc.cwnd = c->cc.ssthresh;
		c->cc.bytes_acked = 0;
		t->stats.tcp_loss_probe_recovery++;
	}
	c->tlp_flags = 0;
}

void tcp_tlp_cancel(struct tcp_conn *c)
{
	c->t_tlp = 0;
	c->tlp_flags = 0;
}

/* --- RACK (RFC 8985 §6) ---------------------------------------------------------------------- */

static uint32_t rack_us(uint64_t now)
{
	return (uint32_t)(now / 1000u);
}

static bool us_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* RFC 8985 §6.2 RACK_sent_after(t1, seq1, t2, seq2). */
static bool rack_sent_after(uint32_t t1, uint32_t seq1, uint32_t t2, uint32_t seq2)
{
	return us_before(t2, t1) || (t1 == t2 && SEQ_GT(seq1, seq2));
}

/* Sends this close in time share a range (min_RTT/4, the reordering window's own unit). */
static uint32_t rack_gran_us(const struct tcp_conn *c)
{
	return c->rtt.min_rtt_us / 4;
}

void tcp_rack_init(struct tcp_conn *c)
{
	memset(&c->rack, 0, sizeof(c->rack));
	c->rack.valid = 1;
	c->rack.reo_wnd_mult = 1;
	c->t_reo = 0;
}

/* seg[] covers [base, snd_max) exactly, ends strictly increasing. */
static bool rack_covers(const struct tcp_rack *r, uint32_t base, uint32_t snd_max)
{
	uint32_t prev = base;

	if (!r->valid || r->n > TCP_RACK_SEGS_MAX)
		return false;
	for (unsigned i = 0; i < r->n; i++) {
		if (!SEQ_GT(r->seg[i].end, prev) || r->seg[i].end - base > TCP_CWND_MAX * 2u)
			return false;
		prev = r->seg[i].end;
	}
	return prev == snd_max;
}

bool tcp_rack_active(const struct tcp_conn *c)
{
	return (c->flags & TCP_F_SACK_OK) && rack_covers(&c->rack, c->snd_una, c->snd_max);
}

static bool rack_mergeable(const struct tcp_rack_seg *a, const struct tcp_rack_seg *b,
			   uint32_t gran)
{
	uint32_t first = us_before(a->first_us, b->first_us) ? a->first_us : b->first_us;
	uint32_t last = us_before(a->last_us, b->last_us) ? b->last_us : a->last_us;

	return a->flags == b->flags && last - first <= gran;
}

/* b (the range after a) joins a. */
static void rack_merge(struct tcp_rack_seg *a, const struct tcp_rack_seg *b)
{
	a->end = b->end;
	if (us_before(b->first_us, a->first_us))
		a->first_us = b->first_us;
	if (us_before(a->last_us, b->last_us))
		a->last_us = b->last_us;
}

/* The table no longer describes the flight: RFC 6675 alone until it drains. */
static void rack_give_up(struct tcp_conn *c)
{
	c->rack.valid = 0;
	c->rack.n = 0;
	c->t_reo = 0;
}

void tcp_rack_on_sent(struct tcp_table *t, struct tcp_conn *c, uint64_t now, uint32_t seq,
		      uint32_t end)
{
	struct tcp_rack *r = &c->rack;
	struct tcp_rack_seg tmp[TCP_RACK_SEGS_MAX + 2]; /* a cut at each end of [seq, re) */
	uint32_t us = rack_us(now), gran = rack_gran_us(c), old_max = c->snd_max, re, prev;
	unsigned n = 0;

	if (!r->valid && c->snd_una == old_max) {
		r->valid = 1; /* the flight drained: start over */
		r->n = 0;
	}
	if (!rack_covers(r, c->snd_una, old_max)) {
		rack_give_up(c);
		return;
	}
	if (SEQ_LT(seq, c->snd_una))
		seq = c->snd_una;
	if (!SEQ_LT(seq, end))
		return;
	/* The retransmitted part [seq, re) becomes one range sent now; the ranges it cuts keep
	 * their times on either side. */
	re = SEQ_LT(end, old_max) ? end : old_max;
	if (SEQ_LT(seq, re)) {
		bool placed = false;

		prev = c->snd_una;
		for (unsigned i = 0; i < r->n; i++) {
			struct tcp_rack_seg e = r->seg[i];
			uint32_t s = prev;

			prev = e.end;
			if (SEQ_LEQ(e.end, seq) || SEQ_GEQ(s, re)) {
				tmp[n++] = e;
				continue;
			}
			if (SEQ_LT(s, seq)) {
				tmp[n] = e;
				tmp[n++].end = seq;
			}
			if (!placed) {
				tmp[n] = (struct tcp_rack_seg){.end = re, .first_us = us,
							       .last_us = us,
							       .flags = TCP_RACK_SEG_RETRANS};
				n++;
				placed = true;
			}
			if (SEQ_GT(e.end, re))
				tmp[n++] = e;
		}
		/* retransmissions sent together share a range again */
		r->n = 0;
		for (unsigned i = 0; i < n; i++) {
			if (r->n && rack_mergeable(&r->seg[r->n - 1], &tmp[i], gran))
				rack_merge(&r->seg[r->n - 1], &tmp[i]);
			else if (r->n < TCP_RACK_SEGS_MAX)
				r->seg[r->n++] = tmp[i];
			else {
				t->stats.tcp_rack_overflow++;
				rack_give_up(c);
				return;
			}
		}
	}
	/* The new part: appended, or joined to the last range when sent close to it. */
	if (SEQ_GT(end, old_max)) {
		struct tcp_rack_seg ns = {.end = end, .first_us = us, .last_us = us};

		if (r->n && rack_mergeable(&r->seg[r->n - 1], &ns, gran))
			rack_merge(&r->seg[r->n - 1], &ns);
		else if (r->n < TCP_RACK_SEGS_MAX)
			r->seg[r->n++] = ns;
		else {
			t->stats.tcp_rack_overflow++;
			rack_give_up(c); /* full: RFC 6675 until the flight drains */
		}
	}
}

/* The un-SACKed bytes of [from, to): the board's ranges are disjoint, one pass. */
static uint32_t rack_unsacked(const struct tcp_conn *c, uint32_t from, uint32_t to)
{
	unsigned n = c->sb.n <= TCP_SCOREBOARD_MAX ? c->sb.n : 0;
	uint32_t sum = to - from;

	for (unsigned k = 0; k < n; k++) {
		uint32_t a = seq_max(c->sb.sacked[k].start, from), b = seq_min(c->sb.sacked[k].end, to);

		if (SEQ_LT(a, b))
			sum -= b - a;
	}
	return sum;
}

/* RFC 8985 §6.2 step 4: the reordering window, µs. */
uint32_t tcp_rack_reo_wnd_us(const struct tcp_conn *c)
{
	const struct tcp_rack *r = &c->rack;
	uint64_t w;

	if (!r->reordering_seen) {
		/* no reordering seen: in recovery, or with DupThresh segments SACKed, a segment
		 * sent before a delivered one is lost at once */
		if (c->cc.ca_state == TCP_CA_RECOVERY || c->cc.ca_state == TCP_CA_LOSS)
			return 0;
		if (c->sb.n && c->sb.sacked_bytes >= TCP_DUPTHRESH * tcp_cc_smss(c))
			return 0;
	}
	w = (uint64_t)(c->rtt.min_rtt_us / 4) * (r->reo_wnd_mult ? r->reo_wnd_mult : 1);
	return w < c->rtt.srtt_us ? (uint32_t)w : c->rtt.srtt_us;
}

/* RFC 8985 §6.2 step 5: mark lost what was sent long enough before the newest delivered
 * segment; returns the time until the next one would be (0: none waits), µs. */
static uint32_t rack_detect_loss(struct tcp_conn *c, uint64_t now, unsigned *marked)
{
	struct tcp_rack *r = &c->rack;
	uint32_t reo = tcp_rack_reo_wnd_us(c), nowus = rack_us(now), prev = c->snd_una, wait = 0;

	if (!r->have_xmit)
		return 0;
	for (unsigned i = 0; i < r->n && i < TCP_RACK_SEGS_MAX; i++) {
		struct tcp_rack_seg *e = &r->seg[i];
		uint32_t s = prev, bound;
		int32_t remaining;

		prev = e->end;
		if (e->flags & TCP_RACK_SEG_LOST)
			continue;
		if (rack_sent_after(r->xmit_us, r->end_seq, e->last_us, e->end))
			bound = e->end; /* all of it was sent before RACK's segment */
		else if (SEQ_GT(r->end_seq, s) && SEQ_LEQ(r->end_seq, e->end) &&
			 !us_before(r->xmit_us, e->first_us))
			/* RACK's segment lies inside this range, whose sends went in sequence
			 * order: what lies below it was sent before it (the tie-break by
			 * end_seq of segments sent in one burst) */
			bound = r->end_seq;
		else
			continue;
		if (rack_unsacked(c, s, bound) == 0)
			continue;
		remaining = (int32_t)(e->last_us + r->rtt_us + reo - nowus);
		if (remaining > 0) {
			if ((uint32_t)remaining > wait)
				wait = (uint32_t)remaining;
			continue;
		}
		if (bound != e->end) {
			/* only the part below: split (without room, wait for a later ACK) */
			if (r->n >= TCP_RACK_SEGS_MAX)
				continue;
			memmove(&r->seg[i + 1], &r->seg[i], (r->n - i) * sizeof(r->seg[0]));
			r->n++;
			e->end = bound;
			prev = bound;
		}
		e->flags |= TCP_RACK_SEG_LOST;
		(*marked)++;
	}
	return wait;
}

uint32_t tcp_rack_lost_bytes(const struct tcp_conn *c, uint32_t limit)
{
	const struct tcp_rack *r = &c->rack;
	uint32_t prev = c->snd_una, sum = 0;

	for (unsigned i = 0; i < r->n && i < TCP_RACK_SEGS_MAX && SEQ_LT(prev, limit); i++) {
		uint32_t s = prev, e = seq_min(r->seg[i].end, limit);

		prev = r->seg[i].end;
		if (r->seg[i].flags & TCP_RACK_SEG_LOST)
			sum += rack_unsacked(c, s, e);
	}
	return sum;
}

bool tcp_rack_next_lost(const struct tcp_conn *c, uint32_t limit, uint32_t mss, uint32_t *seq,
			uint32_t *len)
{
	const struct tcp_rack *r = &c->rack;
	uint32_t prev = c->snd_una, hs, he;

	for (unsigned i = 0; i < r->n && i < TCP_RACK_SEGS_MAX && SEQ_LT(prev, limit); i++) {
		uint32_t s = prev, e = seq_min(r->seg[i].end, limit);

		prev = r->seg[i].end;
		if (!(r->seg[i].flags & TCP_RACK_SEG_LOST) ||
		    !tcp_sack_next_hole(&c->sb, s, e, &hs, &he))
			continue;
		*seq = hs;
		*len = he - hs < mss ? he - hs : mss;
		return true;
	}
	return false;
}

/* The end of the highest SACKed byte of [s, e), or s if none. */
static uint32_t rack_sacked_top(const struct tcp_conn *c, uint32_t s, uint32_t e)
{
	uint32_t top = s;
	unsigned n = c->sb.n <= TCP_SCOREBOARD_MAX ? c->sb.n : 0;

	for (unsigned k = 0; k < n; k++) {
		uint32_t a = seq_max(c->sb.sacked[k].start, s), b = seq_min(c->sb.sacked[k].end, e);

		if (SEQ_LT(a, b) && SEQ_GT(b, top))
			top = b;
	}
	return top;
}

/* RFC 8985 §6.2 step 2: RACK follows the most recently sent segment that was delivered; of a
 * range (sends in sequence order), its first send time and the end of what was delivered. */
static void rack_update(struct tcp_rack *r, const struct tcp_rack_seg *e, uint32_t end,
			uint32_t nowus, uint32_t min_rtt_us)
{
	uint32_t rtt = nowus - e->first_us;

	/* an ACK sooner than min_RTT after a retransmission is the original's */
	if ((e->flags & TCP_RACK_SEG_RETRANS) && rtt < min_rtt_us)
		return;
	if (!r->have_xmit || rack_sent_after(e->first_us, end, r->xmit_us, r->end_seq)) {
		r->xmit_us = e->first_us;
		r->end_seq = end;
		r->rtt_us = rtt;
		r->have_xmit = 1;
	}
}

void tcp_rack_on_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now, uint32_t prior_una,
		     bool dsack)
{
	struct tcp_rack *r = &c->rack;
	uint32_t nowus = rack_us(now), prev = prior_una, fack = r->fack, wait;
	unsigned keep = 0, marked = 0;

	if (!(c->flags & TCP_F_SACK_OK))
		return;
	if (!rack_covers(r, prior_una, c->snd_max)) {
		rack_give_up(c);
		if (c->snd_una == c->snd_max)
			tcp_rack_init(c); /* nothing outstanding: a fresh table */
		return;
	}
	if (!SEQ_GT(fack, prior_una) || SEQ_GT(fack, c->snd_max))
		fack = prior_una;
	/* §6.2 step 3, cumulatively: the hole at snd_una (never SACKed), below data delivered
	 * before, filled by its original transmission */
	if (SEQ_GT(c->snd_una, prior_una) && SEQ_GT(fack, prior_una) && r->n &&
	    !(r->seg[0].flags & TCP_RACK_SEG_RETRANS))
		r->reordering_seen = 1;
	/* What this ACK delivered, cumulatively or by SACK (§6.2 steps 2-3). A range the board
	 * shows SACKed may have been before: RACK only moves forward, so taking it again is
	 * harmless. */
	for (unsigned i = 0; i < r->n; i++) {
		struct tcp_rack_seg *e = &r->seg[i];
		uint32_t s = prev;
		bool cum = SEQ_LT(s, c->snd_una), sacked = false;

		prev = e->end;
		if (!cum && c->sb.n)
			sacked = rack_unsacked(c, s, e->end) != e->end - s;
		if (!cum && !sacked)
			continue;
		/* §6.2 step 3: an original transmission newly SACKed below the highest
		 * delivered sequence arrived out of order */
		if (sacked && !(e->flags & (TCP_RACK_SEG_RETRANS | TCP_RACK_SEG_SACKED)) &&
		    SEQ_LT(e->end, fack))
			r->reordering_seen = 1;
		if (sacked)
			e->flags |= TCP_RACK_SEG_SACKED;
		rack_update(r, e,
			    SEQ_LEQ(e->end, c->snd_una) ? e->end
			    : sacked		      ? seq_max(rack_sacked_top(c, s, e->end), c->snd_una)
						      : c->snd_una,
			    nowus, c->rtt.min_rtt_us);
	}
	if (c->sb.n && SEQ_GT(c->sb.high_sacked, fack) && SEQ_LEQ(c->sb.high_sacked, c->snd_max))
		fack = c->sb.high_sacked;
	if (SEQ_GT(c->snd_una, fack))
		fack = c->snd_una;
	r->fack = fack;
	/* §6.2 step 4: a D-SACK widens the window once per round trip, for 16 recoveries */
	if (r->dsack_round_on && SEQ_GEQ(c->snd_una, r->dsack_round))
		r->dsack_round_on = 0;
	if (dsack && !r->dsack_round_on) {
		r->dsack_round = c->snd_max;
		r->dsack_round_on = 1;
		if (r->reo_wnd_mult < UINT8_MAX)
			r->reo_wnd_mult++;
		r->reo_wnd_persist = 16;
	}
	/* what is acknowledged leaves the table */
	for (unsigned i = 0; i < r->n; i++) {
		if (SEQ_LEQ(r->seg[i].end, c->snd_una))
			continue;
		r->seg[keep++] = r->seg[i];
	}
	r->n = (uint8_t)keep;
	wait = rack_detect_loss(c, now, &marked);
	if (wait)
		tcp_timer_arm(t, c, &c->t_reo, now + (uint64_t)wait * 1000u);
	else
		c->t_reo = 0;
	if (c->cc.ca_state == TCP_CA_RECOVERY || marked)
		c->lost_out = (tcp_rack_lost_bytes(c, c->snd_max) + tcp_cc_smss(c) - 1) /
			      tcp_cc_smss(c);
}

void tcp_rack_reo_fire(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
		       struct tcp_io *io)
{
	unsigned marked = 0;
	uint32_t wait;

	if (!tcp_rack_active(c) || !tcp_state_synced(c->state))
		return;
	wait = rack_detect_loss(c, now, &marked);
	if (wait)
		tcp_timer_arm(t, c, &c->t_reo, now + (uint64_t)wait * 1000u);
	if (!marked)
		return;
	tcp_recovery_on_rack_loss(t, c, now);
	tcp_output(t, c, now, io);
}

void tcp_rack_unmark_lost(struct tcp_conn *c)
{
	/* go-back-N resends everything from snd_una: no mark is pending any more */
	for (unsigned i = 0; i < c->rack.n && i < TCP_RACK_SEGS_MAX; i++)
		c->rack.seg[i].flags &= (uint8_t)~TCP_RACK_SEG_LOST;
	c->t_reo = 0;
}

void tcp_rack_recovery_done(struct tcp_conn *c)
{
	struct tcp_rack *r = &c->rack;

	if (r->reo_wnd_persist && --r->reo_wnd_persist == 0)
		r->reo_wnd_mult = 1;
}
