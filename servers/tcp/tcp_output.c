/* tcp_output: what a connection sends now, and the one function that builds a segment.
 *
 * Data (Linux tcp_write_xmit, RFC 9293 §3.7.4, §3.8.6.2.1, RFC 5681):
 *   - a segment is [seq, seq + len) of the send stream, len <= snd_mss, or a TSO super-segment
 *     of whole MSS pieces sized as Linux's tcp_tso_autosize (about a millisecond of the
 *     congestion window's rate, at least 2 segments, at most host.tso_max), never beyond the
 *     peer's window (snd_una + snd_wnd) nor the congestion allowance (tcp_recovery.c);
 *   - sender SWS avoidance (§3.8.6.2.1): a segment goes when it is full, or when it holds the
 *     rest of the queued data and Nagle allows, or when it is window-limited but at least half
 *     the largest window the peer ever offered; anything else waits for an ACK or for the
 *     persist timer (the "override timeout"), which then pushes what the window takes;
 *   - Nagle as Linux (Minshall's variant): a small tail segment waits only while an earlier
 *     small segment is unacknowledged (snd_sml); TCP_NODELAY disables it; TCP_CORK and
 *     MSG_MORE hold every partial segment (the persist timer bounds the hold to about an RTO,
 *     which is Linux's "200 ms ceiling" on TCP_CORK); a FIN is never held;
 *   - the FIN takes sequence number write_seq after shutdown(SHUT_WR)/close and rides on the
 *     last data segment when it fits;
 *   - a retransmission is a segment below snd_max: go-back-N from snd_nxt after an RTO or
 *     NewReno's retransmission, RFC 6675 NextSeg during SACK recovery;
 *   - RFC 6298 §5.1: the retransmission timer runs whenever data is outstanding.
 *
 * ACKs (RFC 9293 §3.8.6.3, Linux tcp_send_ack): every segment after the SYN carries ACK and
 * our current window, so any segment sent pays an owed ACK (the delayed-ACK timer is
 * cancelled, quick-ACK credit spent). SACK blocks (RFC 2018 §4: the most recent first, a D-SACK
 * block first of all, RFC 2883) ride on every ACK while the assembler holds out-of-order data;
 * timestamps (RFC 7323 §3) on every segment once negotiated.
 *
 * The window we advertise (RFC 9293 §3.8.6.2.2, RFC 7323 §2.3-2.4): the free space of the
 * receive buffer, grown only in steps of min(rcv_buf/2, rcv_mss) (receiver SWS avoidance), and
 * never so small that the right edge rcv_adv would move left: the kept window is rounded up to
 * the scale, a new one down.
 *
 * Every segment goes through tcp_xmit, which builds the tcp_tx the shell turns into a packet.
 * When io has no room it marks the connection TCP_F_DEFER_OUTPUT and counts io_full; nothing
 * is advanced for a segment not emitted, so tcp_output_deferred rebuilds it.
 */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "tcp_priv.h"

#define TCP_XMIT_BUDGET 256u   /* segments per tcp_output call: bounds one call's work */
#define TCP_MIN_SND_MSS 48u    /* Linux TCP_MIN_SND_MSS */
#define TCP_MIN_TSO_SEGS 2u    /* Linux sysctl_tcp_min_tso_segs */

/* --- sizes and windows --- */

uint16_t tcp_adv_mss(const struct tcp_conn *c, uint16_t mtu)
{
	uint32_t mss = mtu > 40 + TCP_MSS_MIN ? mtu - 40u : TCP_MSS_MIN;

	if (c->mss_clamp && mss > c->mss_clamp)
		mss = c->mss_clamp;
	return (uint16_t)mss;
}

void tcp_sync_mss(struct tcp_conn *c)
{
	uint32_t mss = c->pmtu > 40 ? c->pmtu - 40u : TCP_MSS_MIN;
	uint32_t opt = tcp_options_overhead(c);

	if (c->peer_mss && mss > c->peer_mss)
		mss = c->peer_mss;
	if (c->mss_clamp && mss > c->mss_clamp)
		mss = c->mss_clamp;
	mss = mss > opt + TCP_MIN_SND_MSS ? mss - opt : TCP_MIN_SND_MSS;
	/* Linux tcp_bound_to_half_wnd: against a tiny receiver, segments of half its largest
	 * window keep data moving without silly windows (RFC 9293 §3.8.6.2.1). */
	if (c->max_window) {
		uint32_t cutoff = c->max_window > TCP_MSS_DEFAULT ? c->max_window / 2
								  : c->max_window;

		if (cutoff < 68 - 40)
			cutoff = 68 - 40;
		if (mss > cutoff)
			mss = cutoff;
	}
	c->snd_mss = (uint16_t)mss;
}

uint8_t tcp_rcv_wscale(const struct tcp_conn *c)
{
	uint32_t space = c->rcv_buf;
	uint8_t ws = 0;

	/* Linux tcp_select_initial_window: room for the largest buffer the socket may grow to,
	 * unless the application fixed its size with SO_RCVBUF. */
	if (!(c->flags & TCP_F_RCVBUF_LOCK) && space < tcp_rcv_buf_max(c))
		space = tcp_rcv_buf_max(c);
	while (space > 65535u && ws < TCP_WSCALE_MAX) {
		space >>= 1;
		ws++;
	}
	return ws;
}

static uint32_t tcp_rcv_free(const struct tcp_conn *c)
{
	int32_t free_ = (int32_t)(c->read_seq + c->rcv_buf - c->rcv_nxt);

	return free_ > 0 ? (uint32_t)free_ : 0;
}

static uint32_t tcp_rcv_cur(const struct tcp_conn *c)
{
	int32_t cur = (int32_t)(c->rcv_adv - c->rcv_nxt);

	return cur > 0 ? (uint32_t)cur : 0;
}

uint32_t tcp_rcv_window(const struct tcp_conn *c)
{
	uint32_t free_ = tcp_rcv_free(c), cur = tcp_rcv_cur(c);
	uint32_t step = c->rcv_buf / 2 < c->rcv_mss ? c->rcv_buf / 2 : c->rcv_mss;
	uint32_t wnd = cur, maxw = 65535u << c->rcv_wscale;

	if (free_ >= cur + (step ? step : 1))
		wnd = free_;
	return wnd < maxw ? wnd : maxw;
}

/* The window field for a non-SYN segment: wnd scaled. Rounding down could move the right
 * edge left of rcv_adv, so the kept window is rounded up instead (RFC 7323 §2.4, as Linux)
 * — unless that would offer room past the end of the buffer, which the shell's ring does not
 * have: then it is rounded down, the edge moving left by less than one scale unit (RFC 7323
 * Appendix F; Linux's tcp_shrink_window). Without this, every ACK could creep the edge
 * forward by up to 2^rcv_wscale - 1 bytes the buffer cannot hold. */
static uint16_t tcp_wnd_field(const struct tcp_conn *c, uint32_t wnd)
{
	unsigned ws = c->rcv_wscale;
	uint32_t field = wnd >> ws;

	if (SEQ_LT(c->rcv_nxt + (field << ws), c->rcv_adv)) {
		uint32_t cur = tcp_rcv_cur(c), up = (cur + (1u << ws) - 1) >> ws;

		field = SEQ_LEQ(c->rcv_nxt + (up << ws), c->read_seq + c->rcv_buf) ? up
										   : cur >> ws;
	}
	return (uint16_t)(field > 65535u ? 65535u : field);
}

uint64_t tcp_rto_ns(const struct tcp_conn *c, uint64_t now)
{
	uint64_t rto = tcp_rtt_rto_ns(&c->rtt);

	/* Linux tcp_clamp_rto_to_user_timeout: never sleep past the user timeout. */
	if (c->user_timeout_ms && c->rtx_since) {
		uint64_t end = c->rtx_since + (uint64_t)c->user_timeout_ms * CLOCK_NS_PER_MS;

		if (end <= now)
			return 1;
		if (end - now < rto)
			rto = end - now;
	}
	return rto;
}

/* --- building segments --- */

static bool tcp_io_room(struct tcp_table *t, struct tcp_conn *c, struct tcp_io *io)
{
	if (io && io->n_tx < io->tx_max)
		return true;
	t->stats.io_full++;
	if (c)
		tcp_defer_set(t, c);
	return false;
}

/* Urgent pointer (RFC 9293 §3.8.5, RFC 6093 as Linux: points just past the urgent data) on
 * every segment below snd_up while we are in urgent mode (snd_up != snd_una). */
static void tcp_xmit_urg(const struct tcp_conn *c, struct tcp_tx *tx)
{
	if (c->snd_up == c->snd_una || !SEQ_LT(tx->seq, c->snd_up))
		return;
	tx->flags |= TCP_URG;
	tx->urp = (uint16_t)(c->snd_up - tx->seq > 0xffffu ? 0xffffu : c->snd_up - tx->seq);
}

/* The one place a connection's segment is made: seq/len of the stream, control flags
 * (SYN/FIN/RST/PSH; ACK added where it belongs), gso_size for a super-segment. Pays any owed
 * ACK. -ENOBUFS (io full, output deferred) or 0. */
static int tcp_xmit(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io,
		    uint32_t seq, uint32_t len, uint8_t flags, uint16_t gso)
{
	struct tcp_opts o;
	struct tcp_tx *tx;
	bool syn = flags & TCP_SYN, dsack = false;
	uint32_t segs = 1;

	if (!tcp_io_room(t, c, io))
		return -ENOBUFS;
	tx = &io->tx[io->n_tx];
	memset(tx, 0, sizeof(*tx));
	memset(&o, 0, sizeof(o));
	tx->cid = tcp_cid_of(t, c);
	tx->saddr = c->laddr;
	tx->daddr = c->raddr;
	tx->sport = c->lport;
	tx->dport = c->rport;
	tx->seq = seq;
	tx->payload_len = len;
	if (c->state != TCP_STATE_SYN_SENT || !syn)
		flags |= TCP_ACK;
	tx->flags = flags;
	if (flags & TCP_ACK)
		tx->ack = c->rcv_nxt;
	if (syn) {
		/* RFC 7323 §2.2: the window of a SYN is never scaled. */
		uint32_t w = tcp_rcv_free(c);
		bool active = c->state == TCP_STATE_SYN_SENT;

		tx->wnd = (uint16_t)(w > 65535u ? 65535u : w);
		o.present = TCP_OPTF_MSS;
		o.mss = c->adv_mss;
		if (active || (c->flags & TCP_F_WS_OK)) {
			o.present |= TCP_OPTF_WSCALE;
			o.wscale = c->rcv_wscale;
		}
		if (active || (c->flags & TCP_F_SACK_OK))
			o.present |= TCP_OPTF_SACK_PERM;
		if (active || (c->flags & TCP_F_TS_OK)) {
			o.present |= TCP_OPTF_TIMESTAMP;
			o.tsval = tcp_ts_now(c, now);
			o.tsecr = active ? 0 : c->ts_recent;
		}
		if (flags & TCP_ACK)
			c->rcv_adv = c->rcv_nxt + tx->wnd;
	} else if (flags & TCP_ACK) {
		uint32_t w = flags & TCP_RST ? 0 : tcp_rcv_window(c);

		tx->wnd = flags & TCP_RST ? 0 : tcp_wnd_field(c, w);
		if (!(flags & TCP_RST) && SEQ_GT(c->rcv_nxt + ((uint32_t)tx->wnd << c->rcv_wscale),
						 c->rcv_adv))
			c->rcv_adv = c->rcv_nxt + ((uint32_t)tx->wnd << c->rcv_wscale);
		if (c->flags & TCP_F_TS_OK) {
			o.present |= TCP_OPTF_TIMESTAMP;
			o.tsval = tcp_ts_now(c, now);
			o.tsecr = c->ts_recent;
		}
		if ((c->flags & TCP_F_SACK_OK) && !(flags & TCP_RST)) {
			o.n_sack = (uint8_t)tcp_asm_sack_blocks(&c->asm_, o.sack,
								(c->flags & TCP_F_TS_OK) ? 3 : 4);
			if (o.n_sack) {
				o.present |= TCP_OPTF_SACK;
				dsack = c->asm_.dsack;
			}
		}
	}
	tx->opt_len = (uint8_t)tcp_options_build(tx->opt, &o);
	if (gso && len > gso) {
		tx->gso_size = gso;
		segs = (len + gso - 1) / gso;
	}
	if (!syn && !(flags & TCP_RST))
		tcp_xmit_urg(c, tx);
	io->n_tx++;

	t->stats.out_segs += segs;
	c->segs_out += segs;
	if (flags & TCP_RST)
		t->stats.out_rsts++;
	if (flags & TCP_ACK) {
		c->rcv_wup = c->rcv_nxt;
		c->flags &= ~(TCP_F_ACK_NOW | TCP_F_WND_UPDATE);
		c->t_delack = 0;
		if (c->quick_acks)
			c->quick_acks--;
		if (o.n_sack) {
			if (dsack)
				t->stats.tcp_dsack_sent++;
			tcp_asm_sack_sent(&c->asm_);
		}
	}
	return 0;
}

int tcp_send_syn(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io)
{
	uint8_t flags = TCP_SYN;

	if (c->state == TCP_STATE_SYN_RECEIVED)
		flags |= TCP_ACK;
	return tcp_xmit(t, c, now, io, c->iss, 0, flags, 0);
}

void tcp_send_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io)
{
	if (c->state == TCP_STATE_SYN_SENT || c->state == TCP_STATE_CLOSED ||
	    c->state == TCP_STATE_LISTEN)
		return;
	/* An ACK owed in SYN-RECEIVED is our SYN-ACK again (RFC 9293 §3.10.7.4). */
	if (c->state == TCP_STATE_SYN_RECEIVED) {
		tcp_send_syn(t, c, now, io);
		return;
	}
	(void)tcp_xmit(t, c, now, io, c->snd_nxt, 0, 0, 0);
}

/* RFC 5961 §7: at most TCP_CHALLENGE_ACK_LIMIT challenge ACKs a second per table. The
 * budget of each second is randomised within [limit/2, 3·limit/2) from the table's secret, as
 * Linux does since CVE-2016-5696: a fixed global budget lets an off-path attacker count our
 * challenge ACKs and learn whether a guessed 4-tuple exists. */
void tcp_send_challenge_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			    struct tcp_io *io)
{
	uint64_t epoch = now / CLOCK_NS_PER_S;

	if (epoch != t->challenge_epoch || t->challenge_acks == 0) {
		uint32_t r = (uint32_t)tcp_hash(t, TCP_HASH_CHALLENGE, &epoch, sizeof(epoch));

		t->challenge_epoch = epoch;
		/* the remaining budget of this second, counted down */
		t->challenge_acks = TCP_CHALLENGE_ACK_LIMIT / 2 + r % TCP_CHALLENGE_ACK_LIMIT + 1;
	}
	if (t->challenge_acks <= 1) {
		t->challenge_acks = 1; /* spent: stays spent until the next second */
		t->stats.challenge_ack_limited++;
		return;
	}
	t->challenge_acks--;
	t->stats.tcp_challenge_ack++;
	tcp_send_ack(t, c, now, io);
}

void tcp_send_rst(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io)
{
	if (!tcp_state_hashed(c->state) || c->state == TCP_STATE_SYN_SENT)
		return; /* nothing synchronized to reset (RFC 9293 §3.10.4) */
	(void)tcp_xmit(t, c, now, io, c->snd_nxt, 0, TCP_RST, 0);
}

void tcp_send_rst_reply(struct tcp_table *t, const struct tcp_seg *seg, struct tcp_io *io)
{
	struct tcp_tx *tx;

	if (seg->flags & TCP_RST)
		return; /* never answer a reset with a reset */
	if (!tcp_io_room(t, NULL, io))
		return;
	tx = &io->tx[io->n_tx++];
	memset(tx, 0, sizeof(*tx));
	tx->saddr = seg->daddr;
	tx->daddr = seg->saddr;
	tx->sport = seg->dport;
	tx->dport = seg->sport;
	/* RFC 9293 §3.10.7.1: take the sequence number from the ACK field, else acknowledge the
	 * whole segment with seq 0. */
	if (seg->flags & TCP_ACK) {
		tx->seq = seg->ack;
		tx->flags = TCP_RST;
	} else {
		tx->ack = seg->seq + seg->len + !!(seg->flags & TCP_SYN) + !!(seg->flags & TCP_FIN);
		tx->flags = TCP_RST | TCP_ACK;
	}
	t->stats.out_rsts++;
	t->stats.out_segs++;
}

int tcp_send_probe(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io)
{
	/* An already acknowledged sequence number: the peer must answer with an ACK carrying
	 * its window (Linux tcp_xmit_probe_skb; RFC 9293 §3.8.6.1, RFC 1122 §4.2.3.6). */
	return tcp_xmit(t, c, now, io, c->snd_una - 1, 0, 0, 0);
}

/* --- data --- */

static bool tcp_state_sends_data(unsigned s)
{
	return s == TCP_STATE_ESTABLISHED || s == TCP_STATE_CLOSE_WAIT ||
	       s == TCP_STATE_FIN_WAIT_1 || s == TCP_STATE_CLOSING || s == TCP_STATE_LAST_ACK;
}

/* Our FIN is queued (after write_seq) and not yet beyond seq. */
static bool tcp_fin_wanted(const struct tcp_conn *c, uint32_t seq)
{
	return (c->flags & TCP_F_SHUT_WR) && SEQ_LEQ(seq, c->write_seq) &&
	       (c->state == TCP_STATE_FIN_WAIT_1 || c->state == TCP_STATE_CLOSING ||
		c->state == TCP_STATE_LAST_ACK);
}

/* Linux tcp_tso_autosize: about 1 ms of the send rate (2·cwnd/srtt in slow start, 1.2·cwnd/
 * srtt after), at least 2 segments, whole segments up to host.tso_max. */
static uint32_t tcp_tso_goal(const struct tcp_table *t, const struct tcp_conn *c, uint32_t mss)
{
	uint32_t max_segs, segs = TCP_MIN_TSO_SEGS;

	if (!t->host.tso || mss == 0)
		return mss;
	max_segs = t->host.tso_max / mss;
	if (max_segs <= 1)
		return mss;
	if (c->rtt.srtt_us) {
		uint64_t rate = (uint64_t)c->cc.cwnd * 1000000u / c->rtt.srtt_us;

		rate = c->cc.cwnd < c->cc.ssthresh ? rate * 2 : rate * 12 / 10;
		if ((rate >> 10) / mss > segs)
			segs = (uint32_t)((rate >> 10) / mss);
	}
	return (segs < max_segs ? segs : max_segs) * mss;
}

/* The payload a segment sent now may carry: snd_mss less the SACK blocks it will carry
 * (Linux tcp_current_mss; snd_mss already leaves room for timestamps). */
static uint32_t tcp_cur_mss(const struct tcp_conn *c)
{
	struct tcp_range r[TCP_SACK_OUT_MAX];
	unsigned n, opt;

	if (!(c->flags & TCP_F_SACK_OK))
		return c->snd_mss;
	n = tcp_asm_sack_blocks(&c->asm_, r, (c->flags & TCP_F_TS_OK) ? 3 : 4);
	if (n == 0)
		return c->snd_mss;
	opt = TCP_OPTLEN_SACK_BASE + 2 + n * TCP_OPTLEN_SACK_BLOCK; /* NOP NOP kind len ... */
	return c->snd_mss > opt + TCP_MIN_SND_MSS ? c->snd_mss - opt : TCP_MIN_SND_MSS;
}

/* Minshall's Nagle (Linux tcp_minshall_check): a small segment is still unacknowledged. */
static bool tcp_small_outstanding(const struct tcp_conn *c)
{
	return SEQ_GT(c->snd_sml, c->snd_una) && SEQ_LEQ(c->snd_sml, c->snd_nxt);
}

/* Bookkeeping after [seq, end) (end includes a FIN) went out. */
static void tcp_sent(struct tcp_table *t, struct tcp_conn *c, uint64_t now, uint32_t seq,
		     uint32_t end, uint32_t len, bool fin, uint32_t segs, uint32_t mss)
{
	bool rtx = SEQ_LT(seq, c->snd_max);

	tcp_rack_on_sent(t, c, now, seq, end); /* before snd_max moves */
	if (c->snd_una == c->snd_max)
		c->rtx_since = now; /* the oldest unacknowledged data starts now */
	if (rtx) {
		if (c->cc.ca_state == TCP_CA_LOSS)
			t->stats.tcp_slow_start_retrans += segs; /* go-back-N after an RTO */
		t->stats.retrans_segs += segs;
		c->total_retrans += segs;
		c->retrans_out += segs;
		if (c->undo_on && c->cc.ca_state == TCP_CA_RECOVERY)
			c->undo_retrans = (uint16_t)(c->undo_retrans + segs < UINT16_MAX
							     ? c->undo_retrans + segs
							     : UINT16_MAX);
		/* Karn: a sample covering a retransmitted segment is ambiguous */
		if (c->rtt.timing && seq_in(c->rtt.timed_seq, seq, end))
			tcp_rtt_cancel(&c->rtt);
	}
	if (SEQ_GT(end, c->snd_max)) {
		if (!rtx && len)
			tcp_rtt_start(&c->rtt, seq, now); /* a no-op while one is timed */
		c->snd_max = end;
	}
	if (fin)
		c->flags |= TCP_F_FIN_SENT;
	if (len && len < mss)
		c->snd_sml = end;
	if (len)
		c->last_snd_at = now;
	c->t_persist = 0;
	c->probe_since = 0;
	if (c->t_rtx == 0)
		tcp_timer_arm(t, c, &c->t_rtx, now + tcp_rto_ns(c, now));
	if (!rtx)
		tcp_tlp_schedule(t, c, now); /* RFC 8985 §7.2: new data restarts the PTO */
}

enum tcp_gate { TCP_GATE_SEND, TCP_GATE_HOLD };

/* Sender SWS avoidance and Nagle for a segment of len bytes at seq that is not full. */
static enum tcp_gate tcp_partial_gate(const struct tcp_conn *c, uint32_t seq, uint32_t len,
				      uint32_t avail, bool fin)
{
	if (SEQ_LT(seq, c->snd_max) || fin)
		return TCP_GATE_SEND; /* retransmissions and FINs are never held */
	if (c->flags & (TCP_F_CORK | TCP_F_MORE))
		return TCP_GATE_HOLD;
	if (len < avail) /* cut by the peer's window: RFC 9293 §3.8.6.2.1 Fs = 1/2 */
		return len >= c->max_window / 2 && len > 0 ? TCP_GATE_SEND : TCP_GATE_HOLD;
	if (c->flags & TCP_F_NODELAY)
		return TCP_GATE_SEND;
	return tcp_small_outstanding(c) ? TCP_GATE_HOLD : TCP_GATE_SEND;
}

/* RFC 5681 §4.1 (and RFC 9438 §5.8): after an idle period longer than an RTO the congestion
 * window restarts. */
static void tcp_idle_check(struct tcp_conn *c, uint64_t now)
{
	if (c->snd_una != c->snd_max || c->last_snd_at == 0)
		return;
	if (now - c->last_snd_at > tcp_rtt_rto_ns(&c->rtt)) {
		const struct tcp_cc_ops *ops = tcp_cc_get((enum tcp_cc_algo)c->cc.algo);

		if (ops && ops->on_idle_restart)
			ops->on_idle_restart(c, now);
	}
}

/* How tcp_write_xmit sends: by every rule; one segment ignoring Nagle, SWS and cork (the
 * persist timer's push); one new segment of at most one MSS ignoring cwnd as well (a tail
 * loss probe, RFC 8985 §7.3: Linux tcp_write_xmit with push_one = 2). */
enum tcp_xmit_mode { TCP_XMIT_NORMAL, TCP_XMIT_FORCE, TCP_XMIT_PROBE };

/* Send what the rules allow from snd_nxt (or NextSeg in SACK recovery). Returns the number
 * of segments sent; *blocked set when io was full. */
static unsigned tcp_write_xmit(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			       struct tcp_io *io, enum tcp_xmit_mode mode, bool *blocked)
{
	unsigned n = 0;
	bool force = mode != TCP_XMIT_NORMAL;

	tcp_idle_check(c, now);
	/* 1. fast retransmit / NewReno partial ACK: the head, outside the allowance */
	if (c->flags & TCP_F_RTX_HEAD) {
		unsigned before = io->n_tx;

		tcp_retransmit_head(t, c, now, io);
		if (io->n_tx == before && (c->flags & TCP_F_DEFER_OUTPUT)) {
			*blocked = true;
			return 0;
		}
		c->flags &= ~TCP_F_RTX_HEAD;
		n += io->n_tx - before;
	}
	for (unsigned budget = 0; budget < TCP_XMIT_BUDGET; budget++) {
		uint32_t mss = tcp_cur_mss(c), seq = c->snd_nxt, len, avail = 0, usable, allow;
		uint32_t seg_max;
		uint32_t wnd_end = c->snd_una + c->snd_wnd, end, segs, hs, he, rack_len = 0;
		bool fin, want_fin, sack_rtx = false, rack_rtx = false, full;
		bool rack = (c->cc.ca_state == TCP_CA_RECOVERY || c->cc.ca_state == TCP_CA_LOSS) &&
			    tcp_rack_active(c);
		uint8_t flags = 0;
		uint16_t gso = 0;

		if (mss == 0)
			break;
		allow = tcp_recovery_send_allowance(c);
		if (mode == TCP_XMIT_PROBE && allow < mss)
			allow = mss;
		if (rack && tcp_rack_next_lost(c, c->cc.ca_state == TCP_CA_LOSS ? seq : c->snd_max,
					       mss, &hs, &rack_len)) {
			/* RFC 8985: what RACK marked lost goes first — also a lost retransmission,
			 * which RFC 6675 would leave to the RTO; in LOSS only below go-back-N's
			 * snd_nxt (what is above it goes anyway) */
			if (allow < rack_len && allow < mss)
				break;
			seq = hs;
			avail = rack_len;
			sack_rtx = rack_rtx = true;
		} else if (rack && c->cc.ca_state == TCP_CA_RECOVERY) {
			/* then new data (RFC 6675 NextSeg rule 2); nothing not marked lost is
			 * retransmitted: the reordering timer marks what is late */
			if (allow < mss)
				break;
			c->snd_nxt = seq = c->snd_max;
		} else if (c->cc.ca_state == TCP_CA_RECOVERY && (c->flags & TCP_F_SACK_OK)) {
			/* 2. RFC 6675 (C): NextSeg while a whole segment fits the allowance */
			uint32_t s2, l2, new_end = seq_min(c->write_seq, wnd_end);

			if (allow < mss)
				break;
			if (!tcp_sack_next_seg(&c->sb, c->snd_una, c->snd_max, new_end, mss, &s2,
					       &l2))
				break;
			if (SEQ_LT(s2, c->snd_max)) {
				seq = s2;
				sack_rtx = true;
				avail = l2;
			}
		} else if (c->cc.ca_state == TCP_CA_LOSS && (c->flags & TCP_F_SACK_OK) &&
			   c->sb.n && SEQ_LT(seq, c->snd_max)) {
			/* 3. go-back-N skips what the peer holds (RFC 6675 §5.1) */
			if (!tcp_sack_next_hole(&c->sb, seq, c->snd_max, &hs, &he)) {
				c->snd_nxt = seq = c->snd_max;
			} else {
				c->snd_nxt = seq = hs;
				avail = he - hs;
				sack_rtx = true; /* a retransmission: never held, one MSS */
			}
		}
		want_fin = tcp_fin_wanted(c, seq);
		if (!sack_rtx)
			avail = SEQ_LT(seq, c->write_seq) ? c->write_seq - seq : 0;
		else if (SEQ_GT(seq + avail, c->write_seq))
			avail = SEQ_LT(seq, c->write_seq) ? c->write_seq - seq : 0;
		if (avail == 0 && !want_fin)
			break;
		usable = SEQ_GT(wnd_end, seq) ? wnd_end - seq : 0;
		seg_max = sack_rtx || mode == TCP_XMIT_PROBE ? mss : tcp_tso_goal(t, c, mss);
		len = avail < seg_max ? avail : seg_max;
		if (len > usable)
			len = usable;
		if (len > allow) /* the congestion window ends this burst: whole segments only */
			len = allow >= mss ? allow : (allow >= len ? len : 0);
		if (len > mss && len < avail)
			len -= len % mss; /* a super-segment is whole MSS pieces but at the end */
		fin = want_fin && seq + len == c->write_seq &&
		      (!sack_rtx || c->cc.ca_state == TCP_CA_LOSS ||
		       (rack_rtx && SEQ_GT(seq + rack_len, c->write_seq)));
		if (len == 0 && !fin)
			break; /* window or congestion window closed: ACKs or the persist timer */
		if (fin && len == 0 && allow == 0 && c->snd_una != c->snd_max)
			break; /* a lone FIN still waits for the congestion window */
		full = len >= mss && len % mss == 0;
		if (!full && !force && !sack_rtx) {
			uint32_t tail = len > mss ? len % mss : len;

			if (tcp_partial_gate(c, seq, tail, len > mss ? tail : avail, fin) ==
			    TCP_GATE_HOLD) {
				if (len <= mss)
					break;
				len -= tail; /* send the whole pieces, hold the small tail */
				fin = false;
			}
		}
		if (len > mss)
			gso = (uint16_t)mss;
		if (len && seq + len == c->write_seq)
			flags |= TCP_PSH; /* the end of what the application wrote */
		if (fin)
			flags |= TCP_FIN;
		if (tcp_xmit(t, c, now, io, seq, len, flags, gso) != 0) {
			*blocked = true;
			break;
		}
		end = seq + len + (fin ? 1 : 0);
		segs = gso ? (len + mss - 1) / mss : 1;
		if (!rack_rtx && (!sack_rtx || c->cc.ca_state == TCP_CA_LOSS))
			c->snd_nxt = end; /* NextSeg's and RACK's retransmissions leave it alone */
		tcp_sent(t, c, now, seq, end, len, fin, segs, mss);
		n++;
		if (force)
			break;
	}
	return n;
}

void tcp_retransmit_head(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			 struct tcp_io *io)
{
	uint32_t seq = c->snd_una, mss = c->snd_mss ? tcp_cur_mss(c) : TCP_MSS_MIN;
	uint32_t avail = SEQ_LT(seq, c->write_seq) ? c->write_seq - seq : 0;
	uint32_t len = avail < mss ? avail : mss, end, hs, he;
	bool fin;
	uint8_t flags = 0;

	/* not across a SACKed range (tcp_sack_next_hole; snd_una itself is never SACKed) */
	if (len && (c->flags & TCP_F_SACK_OK) && c->sb.n &&
	    tcp_sack_next_hole(&c->sb, seq, seq + len, &hs, &he) && hs == seq)
		len = he - hs;
	fin = (c->flags & TCP_F_FIN_SENT) && seq + len == c->write_seq;
	if (len == 0 && !fin)
		return;
	if (len && seq + len == c->write_seq)
		flags |= TCP_PSH;
	if (fin)
		flags |= TCP_FIN;
	/* RFC 6298 §5.4: the earliest segment not acknowledged, whatever cwnd and the window
	 * say (Linux tcp_retransmit_skb sends the head even beyond the window) */
	if (tcp_xmit(t, c, now, io, seq, len, flags, 0) != 0)
		return;
	end = seq + len + (fin ? 1 : 0);
	if (SEQ_LT(c->snd_nxt, end))
		c->snd_nxt = end;
	tcp_sent(t, c, now, seq, end, len, fin, 1, mss);
}

int tcp_output_probe(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io)
{
	bool blocked = false;

	if (!tcp_state_sends_data(c->state))
		return -EAGAIN;
	return tcp_write_xmit(t, c, now, io, TCP_XMIT_PROBE, &blocked) ? 0 : -EAGAIN;
}

int tcp_retransmit_tail(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			struct tcp_io *io)
{
	bool fin = c->flags & TCP_F_FIN_SENT;
	uint32_t mss = c->snd_mss ? tcp_cur_mss(c) : TCP_MSS_MIN;
	uint32_t data_end = fin ? c->snd_max - 1 : c->snd_max, len, seq;
	uint8_t flags = 0;

	if (SEQ_LEQ(data_end, c->snd_una) && !fin)
		return -EAGAIN;
	len = SEQ_GT(data_end, c->snd_una) ? data_end - c->snd_una : 0;
	if (len > mss)
		len = mss;
	seq = data_end - len;
	if (len)
		flags |= TCP_PSH;
	if (fin)
		flags |= TCP_FIN;
	/* Linux tcp_send_loss_probe: the last MSS of the highest segment, whatever the windows */
	if (tcp_xmit(t, c, now, io, seq, len, flags, 0) != 0)
		return -ENOBUFS;
	tcp_sent(t, c, now, seq, c->snd_max, len, fin, 1, mss);
	return 0;
}

void tcp_check_probe_timer(struct tcp_table *t, struct tcp_conn *c, uint64_t now)
{
	bool unsent;

	if (!tcp_state_sends_data(c->state) || c->snd_una != c->snd_max || c->t_rtx ||
	    c->t_persist)
		return;
	unsent = SEQ_LT(c->snd_nxt, c->write_seq) || tcp_fin_wanted(c, c->snd_nxt);
	if (!unsent)
		return;
	tcp_timer_arm(t, c, &c->t_persist, now + tcp_rto_ns(c, now));
}

void tcp_output(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io)
{
	bool blocked = false;

	tcp_defer_clear(t, c);
	if (tcp_state_sends_data(c->state))
		tcp_write_xmit(t, c, now, io, TCP_XMIT_NORMAL, &blocked);
	if (!blocked && (c->flags & (TCP_F_ACK_NOW | TCP_F_WND_UPDATE)))
		tcp_send_ack(t, c, now, io);
	tcp_check_probe_timer(t, c, now);
}

int tcp_output_force(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io)
{
	bool blocked = false;

	if (!tcp_state_sends_data(c->state))
		return -EAGAIN;
	return tcp_write_xmit(t, c, now, io, TCP_XMIT_FORCE, &blocked) ? 0 : -EAGAIN;
}

void tcp_output_deferred(struct tcp_table *t, uint64_t now, struct tcp_io *io)
{
	if (!t || !io)
		return;
	for (unsigned i = 0; i < TCP_CONNS_MAX; i++) {
		struct tcp_conn *c = &t->conn[i];

		if (c->events && !c->ev_queued && io->n_ev < io->ev_max)
			tcp_event(c, io, tcp_cid_of(t, c), 0);
		if (t->n_deferred == 0 || !c->in_use || !(c->flags & TCP_F_DEFER_OUTPUT))
			continue;
		if (io->n_tx >= io->tx_max)
			break;
		if (c->state == TCP_STATE_SYN_SENT || c->state == TCP_STATE_SYN_RECEIVED) {
			tcp_defer_clear(t, c);
			if (tcp_send_syn(t, c, now, io) != 0)
				break;
			continue;
		}
		tcp_output(t, c, now, io);
	}
	for (unsigned i = 0; i < TCP_LISTENERS_MAX; i++) {
		struct tcp_listener *l = &t->lis[i];

		if (l->events && !l->ev_queued)
			tcp_lis_event(l, io, tcp_lis_cid(t, l), 0);
	}
}
