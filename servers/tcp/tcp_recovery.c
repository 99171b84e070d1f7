/* tcp_recovery: loss detection and recovery on the sender — duplicate ACKs, fast retransmit and
 * fast recovery (RFC 5681 §3.2) with NewReno's partial ACKs (RFC 6582), SACK-based recovery
 * (RFC 6675, with RACK's loss detection, RFC 8985) when SACK was negotiated, the undo of a
 * recovery D-SACKs prove spurious, and the response to a retransmission timeout (RFC 6298
 * §5, RFC 5681 §3.1, RFC 6675 §5.1). The congestion controller (tcp_cc_get(c->cc.algo))
 * decides ssthresh and grows cwnd; this module decides when, and what is retransmitted.
 *
 * Who decides what is lost (Linux with net.ipv4.tcp_recovery = 1):
 *   - with SACK and while RACK's sent-range table covers the flight (tcp_rack.c): RACK alone.
 *     A segment is lost when one sent after it was delivered and the reordering window has
 *     passed (the reordering timer t_reo waits for the rest); DupThresh plays no part.
 *     Recovery begins when RACK marks a loss (on any ACK or at t_reo), sends what RACK marked
 *     lost first — a lost retransmission as well, which RFC 6675 leaves to the RTO — then
 *     new data, with pipe = bytes neither SACKed nor marked lost (Linux's in_flight). In LOSS
 *     (after an RTO) go-back-N runs as below, and RACK's marks below snd_nxt go first;
 *   - with SACK but a table that overflowed for this flight: RFC 6675 (IsLost, NextSeg,
 *     SetPipe) until the flight drains;
 *   - without SACK: NewReno.
 * The tail loss probe (RFC 8985 §7, tcp_rack.c) watches OPEN; recovery and the RTO cancel it.
 *
 * States (Linux's tcp_ca_state): OPEN, DISORDER (duplicate ACKs or SACKed data below the
 * threshold: Limited Transmit), RECOVERY (until snd_una reaches `recover`), LOSS (after an
 * RTO, until snd_una reaches `recover`).
 *
 * Nothing is sent here. What must be retransmitted is marked: TCP_F_RTX_HEAD asks tcp_output
 * for one segment at snd_una outside cwnd (the fast retransmit, each NewReno partial ACK);
 * SACK recovery retransmits what NextSeg picks from the scoreboard; after an RTO snd_nxt is
 * pulled back to snd_una and tcp_output goes back N, skipping SACKed data.
 * tcp_recovery_send_allowance says how much may be in flight in each state (tcp_priv.h).
 *
 * Conventions: `recover` is an exclusive end (snd_max when recovery began: RFC 6582's
 * "highest sequence number transmitted" + 1), so RFC 6582's "the ACK covers more than
 * recover" is snd_una > recover and its full ACK ("acknowledges all of the data up to and
 * including recover") is snd_una >= recover, as in FreeBSD's snd_recover. RFC 6675's
 * "HighACK >= RecoveryPoint" is likewise snd_una >= recover.
 *
 * Where RFCs leave a choice: NewReno leaves recovery with cwnd = min(ssthresh, max(FlightSize,
 * SMSS) + SMSS) (RFC 6582 §3.2 step 3's first option, which avoids a burst without pacing);
 * SACK recovery keeps RFC 6675's cwnd = ssthresh. No RFC 6582 §4 heuristics (an ACK that does
 * not pass `recover` never starts another fast retransmit: the RTO repairs it), no undo
 * after an RTO (no Eifel/F-RTO), no PRR (the head goes out at once, then cwnd - pipe), no ECN.
 * A SACK recovery's reduction is undone (Linux tcp_try_undo_dsack) when D-SACKs cover every
 * segment it retransmitted, during the recovery or after it.
 */
#include "tcp_priv.h"

static bool has_sack(const struct tcp_conn *c)
{
	return c->flags & TCP_F_SACK_OK;
}

static uint32_t flight_size(const struct tcp_conn *c)
{
	uint32_t f = c->snd_max - c->snd_una;

	return f > TCP_CWND_MAX * 2u ? 0 : f; /* a torn pair is no flight */
}

/* SACKed bytes of [from, to). */
static uint32_t sacked_in(const struct tcp_scoreboard *sb, uint32_t from, uint32_t to)
{
	unsigned n = sb->n <= TCP_SCOREBOARD_MAX ? sb->n : 0;
	uint32_t sum = 0;

	for (unsigned i = 0; i < n; i++) {
		uint32_t s = seq_max(sb->sacked[i].start, from), e = seq_min(sb->sacked[i].end, to);

		if (SEQ_LT(s, e))
			sum += e - s;
	}
	return sum;
}

static uint32_t segs_of(uint32_t bytes, uint32_t smss)
{
	return (uint32_t)(((uint64_t)bytes + smss - 1) / smss);
}

void tcp_recovery_init(struct tcp_conn *c, uint64_t now, bool syn_retransmitted)
{
	c->cc.ca_state = TCP_CA_OPEN;
	c->cc.dupacks = 0;
	c->cc.loss_rtos = 0;
	c->cc.prior_cwnd = 0;
	c->cc.recover = c->iss; /* RFC 6582 §3.2 step 1 */
	c->flags |= TCP_F_RECOVER_VALID;
	c->flags &= ~TCP_F_RTX_HEAD;
	tcp_sack_reset(&c->sb);
	tcp_cc_get((enum tcp_cc_algo)c->cc.algo)->init(c, now);
	/* RFC 5681 §3.1 (and RFC 6928 §2): after a lost SYN or SYN-ACK the initial window is
	 * one segment. */
	if (syn_retransmitted)
		c->cc.cwnd = tcp_cc_smss(c);
	tcp_rtt_handshake_done(&c->rtt, syn_retransmitted);
	c->lost_out = 0;
	tcp_tlp_cancel(c);
	tcp_rack_init(c);
}

static bool rack_on(const struct tcp_conn *c)
{
	return has_sack(c) && tcp_rack_active(c);
}

/* Fast retransmit: RFC 5681 §3.2 steps 2-4 / RFC 6675 §5 step 4. */
static void recovery_enter(struct tcp_table *t, struct tcp_conn *c, uint64_t now)
{
	const struct tcp_cc_ops *ops = tcp_cc_get((enum tcp_cc_algo)c->cc.algo);
	uint32_t smss = tcp_cc_smss(c), hs, he;

	c->cc.prior_cwnd = c->cc.cwnd;
	/* what undoing it would restore (SACK only: D-SACKs say what was spurious) */
	c->undo_on = has_sack(c);
	c->undo_marker = c->snd_una;
	c->undo_ssthresh = c->cc.ssthresh;
	c->undo_retrans = 0;
	c->cc.ssthresh = ops->ssthresh(c, now);
	c->cc.bytes_acked = 0;
	c->cc.recover = c->snd_max; /* RFC 6582 step 2 / RFC 6675 (4.1): RecoveryPoint */
	c->cc.ca_state = TCP_CA_RECOVERY;
	c->flags |= TCP_F_RECOVER_VALID | TCP_F_RTX_HEAD;
	tcp_tlp_cancel(c);
	t->stats.tcp_fast_retrans++;
	c->lost_out = 1;
	if (rack_on(c)) {
		/* RFC 8985: what RACK marked lost is retransmitted first (tcp_rack_next_lost),
		 * then new data; cwnd = ssthresh as RFC 6675 (4.2), and the head goes out at
		 * once whatever the pipe (4.3; Linux's PRR lets one segment out) */
		c->cc.cwnd = c->cc.ssthresh;
		c->lost_out = segs_of(tcp_rack_lost_bytes(c, c->snd_max), smss);
		t->stats.tcp_sack_recovery++;
	} else if (has_sack(c)) {
		/* (4.2) cwnd = ssthresh; (4.3) the head goes out (TCP_F_RTX_HEAD), and HighRxt and
		 * RescueRxt are its last byte, so that NextSeg neither repeats it nor rescues too
		 * early. */
		uint32_t len = smss;

		if (tcp_sack_next_hole(&c->sb, c->snd_una, c->snd_max, &hs, &he) &&
		    hs == c->snd_una && he - hs < len)
			len = he - hs;
		if (len > c->snd_max - c->snd_una)
			len = c->snd_max - c->snd_una;
		c->cc.cwnd = c->cc.ssthresh;
		c->sb.high_rxt = c->sb.rescue_rxt = c->snd_una + len;
		t->stats.tcp_sack_recovery++;
	} else {
		/* Step 4: inflate by the three segments that left the network. */
		uint64_t w = (uint64_t)c->cc.ssthresh + 3ull * smss;

		c->cc.cwnd = w < TCP_CWND_MAX ? (uint32_t)w : TCP_CWND_MAX;
		t->stats.tcp_reno_recovery++;
	}
}

static void recovery_exit(struct tcp_conn *c, uint64_t now)
{
	if (!has_sack(c)) {
		/* RFC 6582 step 3, first option: deflate without a burst. */
		uint32_t smss = tcp_cc_smss(c), f = flight_size(c);
		uint64_t w = (uint64_t)(f > smss ? f : smss) + smss;

		c->cc.cwnd = w < c->cc.ssthresh ? (uint32_t)w : c->cc.ssthresh;
	}
	c->cc.ca_state = TCP_CA_OPEN;
	c->cc.dupacks = 0;
	c->flags &= ~TCP_F_RTX_HEAD;
	c->lost_out = 0;
	tcp_rack_recovery_done(c);
	tcp_cc_get((enum tcp_cc_algo)c->cc.algo)->on_recovery_end(c, now);
}

/* RFC 2883 §5 / RFC 3708, as Linux tcp_check_dsack + tcp_try_undo_dsack: a D-SACK for data
 * retransmitted in the last fast recovery (between undo_marker and snd_una) says that
 * retransmission was not needed; when every one of them was D-SACKed, the recovery was
 * spurious (reordering, not loss) and its window reduction is undone. After an RTO there is
 * no undo. True when it undid (in RECOVERY, that recovery is over). */
static bool recovery_try_undo_dsack(struct tcp_table *t, struct tcp_conn *c,
				    const struct tcp_range *blk)
{
	uint32_t smss = tcp_cc_smss(c), segs;

	if (!c->undo_on || c->undo_retrans == 0 || c->undo_retrans == UINT16_MAX ||
	    c->cc.ca_state == TCP_CA_LOSS || !SEQ_LT(blk->start, blk->end) ||
	    !SEQ_GT(blk->end, c->undo_marker) || SEQ_GT(blk->end, c->snd_una))
		return false;
	segs = segs_of(blk->end - blk->start, smss);
	c->undo_retrans = (uint16_t)(c->undo_retrans > segs ? c->undo_retrans - segs : 0);
	if (c->undo_retrans)
		return false;
	c->undo_on = 0;
	if (c->cc.cwnd < c->cc.prior_cwnd)
		c->cc.cwnd = c->cc.prior_cwnd;
	if (c->cc.ssthresh < c->undo_ssthresh)
		c->cc.ssthresh = c->undo_ssthresh;
	t->stats.tcp_dsack_undo++;
	tcp_rack_unmark_lost(c);
	if (c->cc.ca_state != TCP_CA_RECOVERY)
		return false;
	c->cc.ca_state = TCP_CA_OPEN; /* Linux tcp_try_to_open */
	c->cc.dupacks = 0;
	c->flags &= ~TCP_F_RTX_HEAD;
	c->lost_out = 0;
	return true;
}

/* A duplicate ACK outside recovery: is it time for fast retransmit, and is it allowed? */
static bool recovery_should_enter(const struct tcp_conn *c)
{
	bool recover_ok;

	if (rack_on(c)) {
		/* RFC 8985 §6: RACK replaces DupThresh — recovery begins when it marked a loss.
		 * RFC 6675 §5.1 still holds. */
		if (tcp_rack_lost_bytes(c, c->snd_max) == 0)
			return false;
		recover_ok = SEQ_GEQ(c->snd_una, c->cc.recover);
	} else if (has_sack(c)) {
		/* RFC 6675 §5 steps 1-2: DupThresh duplicates, or three segments SACKed above
		 * the cumulative ACK point. §5.1: never before HighACK reaches RecoveryPoint. */
		if (c->cc.dupacks < TCP_DUPTHRESH &&
		    !tcp_sack_is_lost(&c->sb, c->snd_una, tcp_cc_smss(c)))
			return false;
		recover_ok = SEQ_GEQ(c->snd_una, c->cc.recover);
	} else {
		/* RFC 5681 §3.2 step 2: the third duplicate; RFC 6582 §3.2 step 2: only if the
		 * ACK covers more than recover, so one loss episode makes one fast retransmit. */
		if (c->cc.dupacks != TCP_DUPTHRESH)
			return false;
		recover_ok = SEQ_GT(c->snd_una, c->cc.recover);
	}
	return !(c->flags & TCP_F_RECOVER_VALID) || recover_ok;
}

void tcp_recovery_on_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			 const struct tcp_ack_info *ai)
{
	const struct tcp_cc_ops *ops = tcp_cc_get((enum tcp_cc_algo)c->cc.algo);
	uint32_t smss = tcp_cc_smss(c);

	if (ai->dsack)
		t->stats.tcp_dsack_recv++;
	tcp_tlp_on_ack(t, c, now, ai);
	if (ai->dsack && recovery_try_undo_dsack(t, c, &ai->dsack_blk))
		return;
	if (ai->acked)
		c->cc.loss_rtos = 0;
	if (SEQ_LT(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;

	switch (c->cc.ca_state) {
	case TCP_CA_RECOVERY:
		if (!SEQ_LT(c->snd_una, c->cc.recover)) {
			/* RFC 6582 step 3 full ACK / RFC 6675 (A): recovery is over. */
			recovery_exit(c, now);
			break;
		}
		if (has_sack(c))
			return; /* (B): scoreboard updated; SetPipe and NextSeg do the rest */
		if (ai->acked) {
			/* RFC 6582 step 5, a partial ACK: retransmit the first unacknowledged
			 * segment, deflate by what was acknowledged, add back one SMSS if at least
			 * one SMSS was. */
			uint32_t w = c->cc.cwnd > ai->acked ? c->cc.cwnd - ai->acked : 0;

			if (ai->acked >= smss)
				w += smss;
			c->cc.cwnd = w > smss ? w : smss;
			c->flags |= TCP_F_RTX_HEAD;
			t->stats.tcp_fast_retrans++;
		} else if (ai->dup) {
			/* RFC 5681 §3.2 step 5: each further duplicate inflates cwnd. */
			uint64_t w = (uint64_t)c->cc.cwnd + smss;

			c->cc.cwnd = w < TCP_CWND_MAX ? (uint32_t)w : TCP_CWND_MAX;
		}
		return;
	case TCP_CA_LOSS:
		/* Slow start again after the timeout (RFC 5681 §3.1), until the data that was
		 * outstanding at the RTO is acknowledged. Duplicate ACKs start nothing (RFC 6582
		 * §3.2 step 2, RFC 6675 §5.1). */
		if (ai->acked)
			ops->on_ack(c, now, ai->acked, ai->rtt_us);
		if (!SEQ_LT(c->snd_una, c->cc.recover)) {
			c->cc.ca_state = TCP_CA_OPEN;
			c->cc.dupacks = 0;
			c->lost_out = 0;
			tcp_rack_recovery_done(c);
			break;
		}
		c->lost_out = segs_of(flight_size(c) - sacked_in(&c->sb, c->snd_una, c->snd_max),
				      smss);
		return;
	default:
		if (ai->acked) {
			c->cc.dupacks = 0; /* RFC 6675 §5: a cumulative ACK resets DupAcks */
			ops->on_ack(c, now, ai->acked, ai->rtt_us);
		}
		if (ai->dup && c->cc.dupacks < UINT8_MAX)
			c->cc.dupacks++;
		/* with RACK any ACK may have marked a loss (lost_out set); else only a duplicate
		 * counts */
		if ((ai->dup || c->lost_out) && recovery_should_enter(c)) {
			recovery_enter(t, c, now);
			return;
		}
		break;
	}
	/* OPEN or DISORDER, from what is known now. */
	if (c->cc.dupacks || (has_sack(c) && c->sb.n)) {
		c->cc.ca_state = TCP_CA_DISORDER;
		if (has_sack(c))
			c->sb.high_rxt = c->snd_una; /* RFC 6675 (3.1): nothing retransmitted */
	} else {
		c->cc.ca_state = TCP_CA_OPEN;
	}
}

void tcp_recovery_on_rack_loss(struct tcp_table *t, struct tcp_conn *c, uint64_t now)
{
	if ((c->cc.ca_state == TCP_CA_OPEN || c->cc.ca_state == TCP_CA_DISORDER) &&
	    recovery_should_enter(c))
		recovery_enter(t, c, now);
	else if (c->cc.ca_state == TCP_CA_RECOVERY)
		c->lost_out = segs_of(tcp_rack_lost_bytes(c, c->snd_max), tcp_cc_smss(c));
}

void tcp_recovery_on_rto(struct tcp_table *t, struct tcp_conn *c, uint64_t now)
{
	const struct tcp_cc_ops *ops = tcp_cc_get((enum tcp_cc_algo)c->cc.algo);

	t->stats.tcp_timeouts++;
	c->total_rto++;
	if (c->rtx_count == 0) /* the first timeout since the last progress (Linux's rule) */
		c->total_rto_recoveries++;
	c->undo_on = 0;
	tcp_tlp_cancel(c);
	tcp_rack_unmark_lost(c);
	/* RFC 5681 §3.1 eq. 4, except that a second timeout of data already retransmitted by
	 * the timer (no ACK of new data since) keeps ssthresh. */
	if (!(c->cc.ca_state == TCP_CA_LOSS && c->cc.loss_rtos > 0)) {
		c->cc.prior_cwnd = c->cc.cwnd;
		c->cc.ssthresh = ops->ssthresh(c, now);
	}
	c->cc.cwnd = tcp_cc_smss(c); /* the loss window, LW = 1 segment */
	c->cc.bytes_acked = 0;
	if (c->cc.loss_rtos < UINT8_MAX)
		c->cc.loss_rtos++;
	c->cc.ca_state = TCP_CA_LOSS;
	c->cc.dupacks = 0;
	/* RFC 6582 §3.2 step 4 / RFC 6675 §5.1: RecoveryPoint = HighData, no new recovery
	 * before it is acknowledged; an ongoing recovery ends here. */
	c->cc.recover = c->snd_max;
	c->flags |= TCP_F_RECOVER_VALID;
	c->flags &= ~TCP_F_RTX_HEAD;
	/* RFC 6298 §5.4-5.5: the earliest unacknowledged segment again (go-back-N from
	 * snd_una), the timer backed off; Karn: nothing outstanding can be timed now. */
	c->snd_nxt = c->snd_una;
	tcp_rtt_backoff(&c->rtt);
	tcp_rtt_cancel(&c->rtt);
	/* RFC 6675 §5.1: the scoreboard is kept and used; its recovery pointers start over. */
	c->sb.high_rxt = c->sb.rescue_rxt = c->snd_una;
	c->lost_out = segs_of(flight_size(c) - sacked_in(&c->sb, c->snd_una, c->snd_max),
			      tcp_cc_smss(c));
	ops->on_rto(c, now);
}

uint32_t tcp_recovery_send_allowance(const struct tcp_conn *c)
{
	uint32_t smss = tcp_cc_smss(c), flight = flight_size(c), pipe;

	if (c->cc.ca_state != TCP_CA_OPEN && rack_on(c)) {
		/* RFC 8985 with Linux's in_flight: what is neither SACKed nor marked lost (a
		 * retransmission counts again: its mark went with it) */
		uint32_t lim = c->cc.ca_state == TCP_CA_LOSS &&
					       SEQ_GEQ(c->snd_nxt, c->snd_una) &&
					       SEQ_LEQ(c->snd_nxt, c->snd_max)
				       ? c->snd_nxt
				       : c->snd_max;

		pipe = (lim - c->snd_una) - sacked_in(&c->sb, c->snd_una, lim) -
		       tcp_rack_lost_bytes(c, lim);
		return c->cc.cwnd > pipe ? c->cc.cwnd - pipe : 0;
	}
	switch (c->cc.ca_state) {
	case TCP_CA_RECOVERY:
		pipe = has_sack(c) ? tcp_sack_pipe(&c->sb, c->snd_una, c->snd_max, smss) : flight;
		break;
	case TCP_CA_LOSS: {
		/* What go-back-N has put back in flight: [snd_una, snd_nxt) minus SACKed. */
		uint32_t nxt = SEQ_GEQ(c->snd_nxt, c->snd_una) && SEQ_LEQ(c->snd_nxt, c->snd_max)
				       ? c->snd_nxt
				       : c->snd_una;

		pipe = (nxt - c->snd_una) - sacked_in(&c->sb, c->snd_una, nxt);
		break;
	}
	case TCP_CA_DISORDER:
		if (has_sack(c)) {
			pipe = tcp_sack_pipe(&c->sb, c->snd_una, c->snd_max, smss);
		} else {
			/* Limited Transmit: up to 2 segments beyond cwnd on the first two
			 * duplicates (RFC 5681 §3.2 step 2, RFC 3042). */
			uint32_t extra = (c->cc.dupacks < 2 ? c->cc.dupacks : 2) * smss;

			pipe = flight > extra ? flight - extra : 0;
		}
		break;
	default:
		pipe = flight;
		break;
	}
	return c->cc.cwnd > pipe ? c->cc.cwnd - pipe : 0;
}
