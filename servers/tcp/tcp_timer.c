/* tcp_timer: every connection timer, as absolute deadlines in the table (they survive a
 * restart), and the deadline the shell arms its timerfd with.
 *
 *   t_rtx        retransmission (RFC 6298): SYN (TCP_SYNCNT or TCP_SYN_RETRIES tries), SYN-ACK
 *                (TCP_SYNACK_RETRIES; an expired child just goes, as Linux's request socks),
 *                data and FIN: exponential backoff (§5.5), the head segment again whatever the
 *                windows, loss recovery told (tcp_recovery_on_rto). Give up with ETIMEDOUT
 *                (or the ICMP soft error seen meanwhile, RFC 1122 §4.2.3.9) when
 *                TCP_USER_TIMEOUT has passed since the oldest unacknowledged data was sent,
 *                or else after Linux's model of TCP_RETRIES2 backed-off retransmissions from
 *                TCP_RTO_MIN (about 924 s; 8 for an orphan, Linux's orphan retries);
 *   t_delack     the delayed ACK (tcp_input.c decides when);
 *   t_persist    nothing in flight but data waiting: the window is open but too small for the
 *                SWS rules (or corked), so push what it takes (RFC 9293 §3.8.6.2.1 override
 *                timeout); or it is zero, so probe (RFC 9293 §3.8.6.1) with backoff, giving up
 *                as the retransmission timer would (TCP_USER_TIMEOUT from the first probe,
 *                TCP_RETRIES2 unanswered probes);
 *   t_keepalive  RFC 1122 §4.2.3.6: after TCP_KEEPIDLE idle seconds (nothing received,
 *                nothing outstanding) a probe every TCP_KEEPINTVL, reset after TCP_KEEPCNT
 *                unanswered ones (or TCP_USER_TIMEOUT) with ETIMEDOUT;
 *   t_close      the end of TIME-WAIT (2·MSL), of an orphaned FIN-WAIT-2;
 *   t_tlp        the tail loss probe's PTO (RFC 8985 §7, tcp_rack.c), never after t_rtx: due
 *                together, the probe goes first and pushes the RTO back;
 *   t_reo        RACK's reordering timer (RFC 8985 §6.3): a segment's reordering window ends.
 *
 * tcp_timers visits only slots whose cached deadline (t->deadline[]) is due, so a call costs a
 * scan of 32 KiB plus the work that is really due; tcp_next_deadline is O(1).
 */
#include <errno.h>

#include "clock.h"
#include "tcp_priv.h"

#define TCP_ORPHAN_RETRIES 8u /* Linux tcp_orphan_retries() when tcp_orphan_retries = 0 */

uint64_t tcp_model_timeout(unsigned boundary, uint64_t rto_base_ns)
{
	unsigned thresh = 0;

	while ((rto_base_ns << (thresh + 1)) <= TCP_RTO_MAX_NS && thresh < 32)
		thresh++;
	if (boundary <= thresh)
		return ((2ull << boundary) - 1) * rto_base_ns;
	return ((2ull << thresh) - 1) * rto_base_ns +
	       (uint64_t)(boundary - thresh) * TCP_RTO_MAX_NS;
}

void tcp_keepalive_reset(struct tcp_table *t, struct tcp_conn *c, uint64_t now)
{
	if (!(c->flags & TCP_F_KEEPALIVE)) {
		c->t_keepalive = 0;
		return;
	}
	tcp_timer_arm(t, c, &c->t_keepalive, now + (uint64_t)c->keep_idle_s * CLOCK_NS_PER_S);
}

static bool tcp_gone(const struct tcp_conn *c)
{
	return !c->in_use || c->state == TCP_STATE_CLOSED;
}

/* Give up on c (Linux tcp_write_err). */
static void tcp_timeout_abort(struct tcp_table *t, struct tcp_conn *c, struct tcp_io *io)
{
	t->stats.tcp_abort_on_timeout++;
	tcp_conn_done(t, c, c->soft_error ? c->soft_error : ETIMEDOUT, io);
}

static bool tcp_user_timeout_over(const struct tcp_conn *c, uint64_t since, uint64_t now)
{
	return c->user_timeout_ms && since &&
	       now - since >= (uint64_t)c->user_timeout_ms * CLOCK_NS_PER_MS;
}

static void tcp_syn_rtx(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			struct tcp_io *io)
{
	unsigned max;

	if (c->state == TCP_STATE_SYN_RECEIVED && c->parent != TCP_IDX_NONE)
		max = TCP_SYNACK_RETRIES;
	else
		max = c->syn_retries ? c->syn_retries : TCP_SYN_RETRIES;
	if (c->rtx_count >= max || tcp_user_timeout_over(c, c->rtx_since, now)) {
		if (c->parent != TCP_IDX_NONE) {
			tcp_conn_release(t, c, io); /* a request that never completed: no RST */
			return;
		}
		tcp_timeout_abort(t, c, io);
		return;
	}
	if (c->rtx_count == 0)
		c->total_rto_recoveries++;
	c->rtx_count++;
	c->total_rto++;
	tcp_rtt_cancel(&c->rtt); /* Karn */
	tcp_rtt_backoff(&c->rtt);
	if (tcp_send_syn(t, c, now, io) == 0) {
		t->stats.retrans_segs++;
		t->stats.tcp_syn_retrans++;
		c->total_retrans++;
	}
	tcp_timer_arm(t, c, &c->t_rtx, now + tcp_rto_ns(c, now));
}

static void tcp_rtx_fire(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			 struct tcp_io *io)
{
	bool expired;

	if (c->state == TCP_STATE_SYN_SENT || c->state == TCP_STATE_SYN_RECEIVED) {
		tcp_syn_rtx(t, c, now, io);
		return;
	}
	if (c->snd_una == c->snd_max || c->state == TCP_STATE_TIME_WAIT)
		return; /* nothing outstanding */
	if (c->user_timeout_ms) {
		expired = tcp_user_timeout_over(c, c->rtx_since, now);
	} else {
		unsigned boundary = (c->flags & TCP_F_ORPHAN) ? TCP_ORPHAN_RETRIES : TCP_RETRIES2;

		expired = c->rtx_count > 0 && c->rtx_since &&
			  now - c->rtx_since >= tcp_model_timeout(boundary, TCP_RTO_MIN_NS);
	}
	if (expired) {
		tcp_timeout_abort(t, c, io);
		return;
	}
	/* go-back-N from snd_una, backoff, Karn, ssthresh/cwnd, LOSS (RFC 6298 §5.4-5.5, RFC 5681
	 * §3.1): tcp_recovery.c; the head goes out at once whatever the windows (§5.4) */
	tcp_recovery_on_rto(t, c, now);
	c->rtx_count++;
	c->flags &= ~TCP_F_RTX_HEAD;
	tcp_retransmit_head(t, c, now, io);
	if (c->t_rtx == 0)
		tcp_timer_arm(t, c, &c->t_rtx, now + tcp_rto_ns(c, now));
}

static bool tcp_unsent(const struct tcp_conn *c)
{
	return SEQ_LT(c->snd_nxt, c->write_seq) ||
	       ((c->flags & TCP_F_SHUT_WR) && !(c->flags & TCP_F_FIN_SENT));
}

static void tcp_persist_fire(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			     struct tcp_io *io)
{
	unsigned max = (c->flags & TCP_F_ORPHAN) ? TCP_ORPHAN_RETRIES : TCP_RETRIES2;

	if (c->snd_una != c->snd_max || !tcp_unsent(c) || !tcp_state_synced(c->state) ||
	    c->state == TCP_STATE_TIME_WAIT || c->state == TCP_STATE_FIN_WAIT_2) {
		c->probe_since = 0;
		return;
	}
	/* the window is open: push what the SWS rules (or a cork) held */
	if (c->snd_wnd > 0 && tcp_output_force(t, c, now, io) == 0)
		return;
	if (tcp_user_timeout_over(c, c->probe_since, now) ||
	    (!c->user_timeout_ms && c->keep_probes >= max)) {
		tcp_timeout_abort(t, c, io);
		return;
	}
	if (c->probe_since == 0)
		c->probe_since = now;
	if (tcp_send_probe(t, c, now, io) == 0)
		t->stats.tcp_win_probe++;
	if (c->keep_probes < 255)
		c->keep_probes++;
	if (c->rtt.backoff < TCP_RETRIES2)
		tcp_rtt_backoff(&c->rtt);
	tcp_timer_arm(t, c, &c->t_persist, now + tcp_rto_ns(c, now));
}

static void tcp_keepalive_fire(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			       struct tcp_io *io)
{
	uint64_t idle = (uint64_t)c->keep_idle_s * CLOCK_NS_PER_S;
	uint64_t intvl = (uint64_t)c->keep_intvl_s * CLOCK_NS_PER_S;
	uint64_t elapsed = now > c->last_rcv_at ? now - c->last_rcv_at : 0;

	if (!(c->flags & TCP_F_KEEPALIVE) || !tcp_state_synced(c->state) ||
	    c->state == TCP_STATE_TIME_WAIT)
		return;
	if (c->snd_una != c->snd_max || tcp_unsent(c)) {
		/* data in flight or waiting: the other timers watch the peer (Linux) */
		tcp_timer_arm(t, c, &c->t_keepalive, now + idle);
		return;
	}
	if (elapsed < idle) {
		tcp_timer_arm(t, c, &c->t_keepalive, now + (idle - elapsed));
		return;
	}
	if ((c->user_timeout_ms && elapsed >= (uint64_t)c->user_timeout_ms * CLOCK_NS_PER_MS &&
	     c->keep_probes > 0) ||
	    (!c->user_timeout_ms && c->keep_probes >= c->keep_cnt)) {
		tcp_send_rst(t, c, now, io);
		tcp_timeout_abort(t, c, io);
		return;
	}
	if (tcp_send_probe(t, c, now, io) == 0) {
		t->stats.tcp_keep_alive_probes++;
		if (c->keep_probes < 255)
			c->keep_probes++;
	}
	tcp_timer_arm(t, c, &c->t_keepalive, now + intvl);
}

/* Fire what is due on c, in an order where an ending comes first. */
static void tcp_conn_timers(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			    struct tcp_io *io)
{
	if (c->t_close && c->t_close <= now) {
		c->t_close = 0;
		if (c->state == TCP_STATE_TIME_WAIT || c->state == TCP_STATE_FIN_WAIT_2) {
			/* Linux: an orphaned FIN-WAIT-2 ends silently, as its TIME-WAIT would */
			tcp_conn_done(t, c, 0, io);
			return;
		}
	}
	if (c->t_tlp && c->t_tlp <= now) {
		/* first: a probe due with the RTO goes instead of it (and re-arms it) */
		c->t_tlp = 0;
		tcp_tlp_fire(t, c, now, io);
	}
	if (c->t_rtx && c->t_rtx <= now) {
		c->t_rtx = 0;
		tcp_rtx_fire(t, c, now, io);
		if (tcp_gone(c))
			return;
	}
	if (c->t_reo && c->t_reo <= now) {
		c->t_reo = 0;
		tcp_rack_reo_fire(t, c, now, io);
	}
	if (c->t_persist && c->t_persist <= now) {
		c->t_persist = 0;
		tcp_persist_fire(t, c, now, io);
		if (tcp_gone(c))
			return;
	}
	if (c->t_delack && c->t_delack <= now) {
		c->t_delack = 0;
		if (tcp_state_synced(c->state) && c->state != TCP_STATE_TIME_WAIT) {
			t->stats.delayed_acks++;
			c->flags |= TCP_F_ACK_NOW;
			tcp_output(t, c, now, io);
		}
	}
	if (c->t_keepalive && c->t_keepalive <= now) {
		c->t_keepalive = 0;
		tcp_keepalive_fire(t, c, now, io);
	}
}

void tcp_timers(struct tcp_table *t, uint64_t now, struct tcp_io *io)
{
	if (!t || !io || now < t->next_deadline)
		return;
	/* Anything armed while we walk lowers next_deadline again; each visited slot's exact
	 * deadline is folded in as we go. */
	t->next_deadline = CLOCK_NEVER;
	for (unsigned i = 0; i < TCP_CONNS_MAX; i++) {
		struct tcp_conn *c = &t->conn[i];

		if (t->deadline[i] <= now) {
			if (c->in_use)
				tcp_conn_timers(t, c, now, io);
			t->deadline[i] = c->in_use ? tcp_conn_deadline(c) : CLOCK_NEVER;
		}
		if (t->deadline[i] < t->next_deadline)
			t->next_deadline = t->deadline[i];
	}
}

uint64_t tcp_next_deadline(const struct tcp_table *t)
{
	return t ? t->next_deadline : CLOCK_NEVER;
}

/* tcp_path_restored (tcp_core.h). Linux never meets this case: its TCP does not die under its
 * connections, and its driver does not restart under them. Here the shell knows what an RTO
 * can only guess: every segment in flight through the dead process, and every ACK the peer
 * sent it, is gone. Waiting for the (backed-off) timer would add 0.2-1.4 s to a restart that
 * took a fraction of that; the timer's own action, taken now, repairs it at once. RFC 6298
 * §5.5's backoff exists to avoid hammering a path in trouble; the path's trouble was the
 * restart, which is over, so the backoff is reset as RFC 6069 does when ICMP shows the
 * disruption was not congestion. One go-back-N with cwnd = 1 per restart is the whole cost
 * when nothing was lost (the peer's D-SACK shows it; the data is the TX ring's anyway). */
unsigned tcp_path_restored(struct tcp_table *t, uint64_t now, uint32_t owner, struct tcp_io *io)
{
	unsigned kicked = 0;

	if (!t || !io)
		return 0;
	for (unsigned i = 0; i < TCP_CONNS_MAX; i++) {
		struct tcp_conn *c = &t->conn[i];

		/* the handshake's states keep their own retry count (TCP_SYNCNT): a restart must
		 * not spend one of them, and their timer is short (1 s, then the SYN-ACK's) */
		if (!c->in_use || !tcp_state_synced(c->state) || c->state == TCP_STATE_TIME_WAIT ||
		    (owner && c->owner != owner))
			continue;
		if (c->snd_una != c->snd_max && c->t_rtx) {
			tcp_rtt_reset_backoff(&c->rtt);
			c->t_tlp = 0; /* the RTO's go-back-N is the probe */
			tcp_timer_arm(t, c, &c->t_rtx, now);
			kicked++;
		}
		/* Tell the peer where we are now (rcv_nxt, window, SACK of what the ring kept), for
		 * whatever of its ACK clock died with the process. */
		c->flags |= TCP_F_ACK_NOW;
		tcp_output(t, c, now, io); /* a full io defers it (tcp_output_deferred) */
	}
	return kicked;
}
