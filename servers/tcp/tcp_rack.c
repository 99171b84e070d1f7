/* tcp_rack: RACK-TLP loss detection on the sender (RFC 8985) — the tail loss probe (§7).
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
 * The PTO is (re)started whenever new data is sent and whenever an ACK arrives (RFC 8985
 * §7.2), and cancelled when the conditions stop holding.
 */
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

	if (!tlp_eligible(c)) {
		c->t_tlp = 0;
		return;
	}
	when = now + tcp_tlp_pto_ns(c);
	if (c->t_rtx && c->t_rtx < when)
		when = c->t_rtx; /* PTO = min(PTO, RTO): the probe replaces the timeout */
	tcp_timer_arm(t, c, &c->t_tlp, when);
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
