/* tcp_input: segment arrival (RFC 9293 §3.10.7), in the RFC's order, with the RFCs that
 * amend it: RFC 5961 (RST and SYN in synchronized states answered with challenge ACKs, the
 * ACK acceptability window), RFC 7323 (PAWS, TS.Recent, window scaling), RFC 1337 and RFC
 * 6191 (TIME-WAIT), RFC 2018/2883 (SACK, D-SACK), RFC 5681 (duplicate ACKs, immediate ACKs).
 *
 * Per segment: header validation (tcp_seg_parse) → demultiplexing (4-tuple, then listener,
 * else RST) → by state:
 *   SYN-SENT        §3.10.7.3: ACK check, RST, SYN (→ ESTABLISHED, or SYN-RECEIVED for a
 *                   simultaneous open);
 *   TIME-WAIT       as Linux tcp_timewait_state_process: RST ignored (RFC 1337), a SYN with a
 *                   newer sequence number or timestamp reopens the 4-tuple (RFC 6191), a bare
 *                   in-window ACK restarts the timer, anything else is answered with an ACK;
 *   the others      §3.10.7.4: PAWS, sequence check (with Linux's allowance for a zero window:
 *                   a segment at rcv_nxt is processed for its ACK, its data dropped), RST,
 *                   SYN, ACK (SYN-RECEIVED → ESTABLISHED; snd_una, window, RTT, SACK, loss
 *                   recovery; our FIN acknowledged), URG, text, FIN.
 *
 * The text step never copies: it tells the shell where the (trimmed) payload goes in the
 * receive stream (io->place). In order, rcv_nxt advances and absorbs the assembler's ranges
 * that now touch it; above rcv_nxt the range is recorded in the assembler (bounded by
 * TCP_OOO_MAX ranges and by the buffer: nothing is ever placed past read_seq + rcv_buf).
 *
 * ACK policy (Linux __tcp_ack_snd_check): at once for out-of-order data, a filled hole, data
 * outside the window, duplicates, a FIN in a closing state, in quick-ACK mode (the first
 * ACKs of a connection, and after an idle period), and when more than one full segment is
 * unacknowledged (RFC 5681 §4.2); otherwise after TCP_DELACK_MIN_NS (at most
 * TCP_DELACK_MAX_NS), unless a data segment carries the ACK first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "ipv4_addr.h"
#include "tcp_priv.h"

#define TCP_PAWS_24DAYS_NS (24ull * 86400ull * CLOCK_NS_PER_S) /* RFC 7323 §5.5 */
#define TCP_MAX_QUICKACKS 16u                                   /* Linux */
#define TCP_OOW_ACK_GAP_NS (500ull * CLOCK_NS_PER_MS) /* Linux sysctl_tcp_invalid_ratelimit */

/* --- parsing --- */

bool tcp_addr_unicast(const struct tcp_table *t, uint32_t addr)
{
	if (ipv4_is_any(addr) || ipv4_is_lbcast(addr) || ipv4_is_multicast(addr))
		return false;
	uint32_t bcast = ipv4_subnet_bcast(t->host.addr, t->host.prefix_len);
	return !(t->host.addr && bcast && addr == bcast);
}

int tcp_seg_parse(struct tcp_table *t, const struct tcp_seg_in *in, struct tcp_seg *seg)
{
	struct tcp_hdr h;
	unsigned hl;

	if (in->seg_len < TCP_HDR_MIN) {
		t->stats.in_drop_short++;
		t->stats.in_errs++;
		return -EINVAL;
	}
	memcpy(&h, in->hdr, sizeof(h));
	hl = tcp_hdr_len(&h);
	if (hl < TCP_HDR_MIN || hl > in->seg_len) {
		t->stats.in_drop_bad_offset++;
		t->stats.in_errs++;
		return -EINVAL;
	}
	memset(seg, 0, sizeof(*seg));
	seg->saddr = in->saddr;
	seg->daddr = in->daddr;
	seg->sport = h.sport;
	seg->dport = h.dport;
	seg->seq = ntohl(h.seq);
	seg->ack = ntohl(h.ack);
	seg->wnd = ntohs(h.wnd);
	seg->urp = ntohs(h.urp);
	seg->flags = h.flags;
	seg->hdr_len = (uint8_t)hl;
	seg->len = in->seg_len - hl;
	seg->gso_segs = in->gso_segs ? in->gso_segs : 1;
	seg->tos = in->tos;
	if (tcp_options_parse(in->hdr + TCP_HDR_MIN, hl - TCP_HDR_MIN, seg->flags & TCP_SYN,
			      &seg->opt) != 0) {
		t->stats.in_drop_bad_options++;
		t->stats.in_errs++;
		return -EINVAL;
	}
	/* Never legitimate, and a classic scanner's probe: SYN with FIN or RST, a zero port. */
	if ((seg->flags & TCP_SYN) && (seg->flags & (TCP_FIN | TCP_RST))) {
		t->stats.in_drop_bad_flags++;
		t->stats.in_errs++;
		return -EINVAL;
	}
	if (seg->sport == 0 || seg->dport == 0) {
		t->stats.in_drop_bad_flags++;
		t->stats.in_errs++;
		return -EINVAL;
	}
	return 0;
}

/* --- options of a SYN --- */

void tcp_syn_options(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
		     const struct tcp_opts *o)
{
	(void)t;
	/* RFC 9293 §3.7.1: 536 without the option; a 0 is ignored as Linux does. */
	c->peer_mss = (o->present & TCP_OPTF_MSS) && o->mss ? o->mss : TCP_MSS_DEFAULT;
	/* RFC 7323 §2.2: scaling only when both SYNs carry the option. */
	if (o->present & TCP_OPTF_WSCALE) {
		c->flags |= TCP_F_WS_OK;
		c->snd_wscale = o->wscale > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : o->wscale;
		c->rcv_wscale = tcp_rcv_wscale(c);
	} else {
		c->flags &= ~TCP_F_WS_OK;
		c->snd_wscale = 0;
		c->rcv_wscale = 0;
	}
	if (o->present & TCP_OPTF_SACK_PERM)
		c->flags |= TCP_F_SACK_OK;
	else
		c->flags &= ~TCP_F_SACK_OK;
	if (o->present & TCP_OPTF_TIMESTAMP) {
		c->flags |= TCP_F_TS_OK;
		c->ts_recent = o->tsval;
		c->ts_recent_at = now ? now : 1;
	} else {
		c->flags &= ~TCP_F_TS_OK;
	}
}

/* --- helpers --- */

static bool tcp_has_ts(const struct tcp_conn *c, const struct tcp_seg *seg)
{
	return (c->flags & TCP_F_TS_OK) && (seg->opt.present & TCP_OPTF_TIMESTAMP);
}

/* Linux tcp_disordered_ack: a pure duplicate ACK that changes nothing and whose timestamp is
 * within an RTO of TS.Recent is a reordered ACK, not an old duplicate: PAWS lets it through
 * (rejecting it would only answer it with yet another ACK). */
static bool tcp_disordered_ack(const struct tcp_conn *c, const struct tcp_seg *seg)
{
	uint32_t nwnd = seg->wnd << c->snd_wscale;
	uint64_t rto_ms = tcp_rtt_rto_ns(&c->rtt) / CLOCK_NS_PER_MS;

	if (!(seg->flags & TCP_ACK) || (seg->flags & (TCP_SYN | TCP_FIN)) || seg->len ||
	    seg->seq != c->rcv_nxt || seg->ack != c->snd_una)
		return false;
	/* would it update the window? (Linux tcp_may_update_window) */
	if (SEQ_GT(seg->seq, c->snd_wl1) ||
	    (seg->seq == c->snd_wl1 && (nwnd > c->snd_wnd || nwnd == 0)))
		return false;
	return (int64_t)(int32_t)(c->ts_recent - seg->opt.tsval) <= (int64_t)(rto_ms * 1024 / 1000);
}

/* RFC 7323 §5.3 R1, with §5.5's 24-day invalidation: an older timestamp than TS.Recent makes
 * a non-RST segment unacceptable. */
static bool tcp_paws_reject(const struct tcp_conn *c, const struct tcp_seg *seg, uint64_t now)
{
	if (!tcp_has_ts(c, seg) || (seg->flags & TCP_RST) || c->ts_recent_at == 0)
		return false;
	if (now - c->ts_recent_at > TCP_PAWS_24DAYS_NS)
		return false;
	return SEQ_LT(seg->opt.tsval, c->ts_recent) && !tcp_disordered_ack(c, seg);
}

/* Answer an unacceptable segment with an ACK (RFC 9293 §3.10.7.4), at most one per 500 ms for
 * pure ACKs and SYNs: two stacks that disagree about a window would otherwise ping-pong ACKs
 * forever (Linux tcp_oow_rate_limited; data segments are never part of such a loop). */
static void tcp_send_dupack(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			    const struct tcp_seg *seg, struct tcp_io *io)
{
	if (seg->len == 0 || (seg->flags & TCP_SYN)) {
		if (c->oow_ack_at && now - c->oow_ack_at < TCP_OOW_ACK_GAP_NS) {
			t->stats.tcp_ack_skipped++;
			return;
		}
		c->oow_ack_at = now ? now : 1;
	}
	tcp_send_ack(t, c, now, io);
}

/* RFC 7323 §4.3: TS.Recent follows the segment that covers Last.ACK.sent (rcv_wup). */
static void tcp_update_ts_recent(struct tcp_conn *c, const struct tcp_seg *seg, uint64_t now)
{
	if (!tcp_has_ts(c, seg) || !SEQ_LEQ(seg->seq, c->rcv_wup))
		return;
	if (SEQ_GEQ(seg->opt.tsval, c->ts_recent) || c->ts_recent_at == 0 ||
	    now - c->ts_recent_at > TCP_PAWS_24DAYS_NS) {
		c->ts_recent = seg->opt.tsval;
		c->ts_recent_at = now ? now : 1;
	}
}

static void tcp_quickack_enter(struct tcp_conn *c)
{
	uint32_t q = c->rcv_mss ? c->rcv_buf / (2u * c->rcv_mss) : TCP_MAX_QUICKACKS;

	if (q > TCP_MAX_QUICKACKS)
		q = TCP_MAX_QUICKACKS;
	if (q < 2)
		q = 2;
	if (c->quick_acks < q)
		c->quick_acks = (uint8_t)q;
}

/* Linux tcp_initialize_rcv_mss: a conservative first guess of the peer's segment size. */
static void tcp_init_rcv_mss(struct tcp_conn *c)
{
	uint32_t hint = c->adv_mss < c->snd_mss ? c->adv_mss : c->snd_mss;

	if (hint > c->rcv_buf / 2)
		hint = c->rcv_buf / 2;
	if (hint > TCP_MSS_DEFAULT)
		hint = TCP_MSS_DEFAULT;
	if (hint < TCP_MSS_MIN)
		hint = TCP_MSS_MIN;
	c->rcv_mss = (uint16_t)hint;
}

/* Data bytes in [from, to) of the send stream: the SYN (iss) and FIN (write_seq) excluded. */
static uint32_t tcp_data_in(const struct tcp_conn *c, uint32_t from, uint32_t to)
{
	/* from is snd_una: iss while the SYN is unacknowledged (no data acknowledged yet: iss
	 * comes round again 4 GiB in), past it after. Not seq_max with iss + 1: that picks iss + 1
	 * again 2 GiB into the stream, and counts nothing from there on. */
	uint32_t lo = from == c->iss && c->bytes_acked == 0 ? c->iss + 1 : from;
	uint32_t hi = seq_min(to, c->write_seq);

	return SEQ_GT(hi, lo) ? hi - lo : 0;
}

/* Linux tcp_sndbuf_expand: unless the application fixed SO_SNDBUF, the send buffer follows
 * the congestion window (room for two windows: one in flight, one queued behind it), up to
 * TCP_WMEM_MAX (or the shell's limit). A 16 KiB buffer would otherwise cap a connection at
 * 16 KiB per RTT. */
static void tcp_sndbuf_expand(struct tcp_conn *c)
{
	uint32_t segs = c->cc.cwnd / (c->snd_mss ? c->snd_mss : TCP_MSS_DEFAULT), want;

	if (c->flags & TCP_F_SNDBUF_LOCK)
		return;
	if (segs < 10)
		segs = 10; /* TCP_INIT_CWND */
	want = (uint32_t)((uint64_t)2 * segs * (c->snd_mss ? c->snd_mss : TCP_MSS_DEFAULT) >
					  tcp_snd_buf_max(c)
				  ? tcp_snd_buf_max(c)
				  : 2u * segs * (c->snd_mss ? c->snd_mss : TCP_MSS_DEFAULT));
	if (c->snd_buf < want)
		c->snd_buf = want;
}

/* Common to both ways into ESTABLISHED. */
void tcp_establish(struct tcp_table *t, struct tcp_conn *c, uint64_t now)
{
	c->max_window = c->snd_wnd;
	tcp_sync_mss(c);
	tcp_init_rcv_mss(c);
	/* IW (RFC 6928, or 1 SMSS after a lost SYN: RFC 5681 §3.1), RFC 6298 §5.7 */
	tcp_recovery_init(c, now, c->rtx_count > 0);
	tcp_sndbuf_expand(c);
	/* Linux tcp_init_buffer_space: the first autotuning measure expects 10 segments */
	c->rcvq_space = 10u * c->adv_mss;
	c->rcvq_seq = c->read_seq;
	c->rcvq_at = now;
	c->rtx_count = 0;
	c->flags |= TCP_F_CONNECTED_ONCE;
	tcp_set_state(t, c, TCP_STATE_ESTABLISHED);
	tcp_keepalive_reset(t, c, now);
	/* RFC 9293 §3.10.4: a CLOSE queued in SYN-RECEIVED takes effect now. */
	if (c->flags & TCP_F_SHUT_WR)
		tcp_set_state(t, c, TCP_STATE_FIN_WAIT_1);
}

/* --- SYN-SENT (RFC 9293 §3.10.7.3) --- */

static void tcp_data_and_fin(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			     const struct tcp_seg *seg, uint32_t seq, uint32_t off, uint32_t len,
			     bool fin, bool zero_wnd, struct tcp_io *io);

static void tcp_synsent_input(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			      const struct tcp_seg *seg, struct tcp_io *io)
{
	uint32_t cid = tcp_cid_of(t, c);
	bool ack_ok = false;

	if (seg->flags & TCP_ACK) {
		if (SEQ_LEQ(seg->ack, c->iss) || SEQ_GT(seg->ack, c->snd_max)) {
			t->stats.in_drop_bad_ack++;
			tcp_send_rst_reply(t, seg, io);
			return;
		}
		ack_ok = true;
	}
	if (seg->flags & TCP_RST) {
		/* RFC 5961 §3.2 / RFC 9293: acceptable only with an ACK of our SYN */
		if (ack_ok) {
			tcp_conn_done(t, c, ECONNREFUSED, io);
			return;
		}
		t->stats.in_drop_rst_bad_seq++;
		return;
	}
	if (!(seg->flags & TCP_SYN)) {
		t->stats.in_drop_bad_flags++;
		return;
	}
	c->irs = seg->seq;
	c->rcv_nxt = c->read_seq = c->rcv_wup = c->rcv_up = seg->seq + 1;
	tcp_syn_options(t, c, now, &seg->opt);
	{
		uint32_t w = c->rcv_buf < 65535u ? c->rcv_buf : 65535u;

		c->rcv_adv = c->rcv_nxt + w; /* the window our SYN offered */
	}
	/* RFC 7323 §2.2: the window of a SYN is not scaled. */
	c->snd_wnd = seg->wnd;
	c->snd_wl1 = seg->seq;
	c->last_rcv_at = now;
	if (!ack_ok) {
		/* simultaneous open: SYN-RECEIVED, our SYN again with an ACK (RFC 9293 §3.5) */
		c->snd_wl2 = c->iss;
		tcp_set_state(t, c, TCP_STATE_SYN_RECEIVED);
		tcp_send_syn(t, c, now, io);
		return;
	}
	{
		uint32_t rtt_us = tcp_rtt_acked(&c->rtt, seg->ack, now);

		if (!rtt_us && tcp_has_ts(c, seg) && seg->opt.tsecr) {
			int32_t d = (int32_t)(tcp_ts_now(c, now) - seg->opt.tsecr);

			if (d >= 0 && c->rtx_count == 0)
				rtt_us = (uint32_t)(d ? d : 1) * 1000u;
		}
		if (rtt_us)
			tcp_rtt_sample(&c->rtt, rtt_us);
	}
	c->snd_una = seg->ack;
	if (SEQ_LT(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;
	if (c->snd_up == c->iss)
		c->snd_up = c->snd_una;
	c->snd_wl2 = seg->ack;
	c->t_rtx = 0;
	c->rtx_since = 0;
	tcp_establish(t, c, now);
	tcp_event(c, io, cid, TCP_EV_CONNECTED | TCP_EV_WRITABLE);
	/* Linux acknowledges a SYN-ACK at once (quick-ACK mode), or with the first data. */
	c->flags |= TCP_F_ACK_NOW;
	if (seg->len || (seg->flags & TCP_FIN))
		tcp_data_and_fin(t, c, now, seg, seg->seq + 1, 0, seg->len,
				 seg->flags & TCP_FIN, false, io);
	if (c->in_use && c->state != TCP_STATE_CLOSED)
		tcp_output(t, c, now, io);
}

/* --- TIME-WAIT (RFC 9293 §3.10.7.4, RFC 1337, RFC 6191; Linux tcp_timewait_state_process) */

static void tcp_timewait_input(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			       const struct tcp_seg *seg, struct tcp_io *io)
{
	bool paws = tcp_paws_reject(c, seg, now);

	if (seg->flags & TCP_RST) {
		/* RFC 1337 TIME-WAIT assassination: a RST must not cut TIME-WAIT short */
		t->stats.tw_killed_rst_ignored++;
		return;
	}
	if ((seg->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN && !paws &&
	    (SEQ_GT(seg->seq, c->rcv_nxt) ||
	     (tcp_has_ts(c, seg) && SEQ_GT(seg->opt.tsval, c->ts_recent)))) {
		struct tcp_listener *l = tcp_listener_lookup(t, seg->daddr, seg->dport);

		if (l) {
			/* Linux: the new ISN lies beyond anything the old incarnation sent */
			uint32_t isn = c->snd_nxt + 65535u + 2u;

			t->stats.tcp_time_wait_recycled++;
			tcp_conn_release(t, c, io);
			tcp_listen_input(t, l, now, seg, io, isn ? isn : 1);
			return;
		}
	}
	t->stats.in_drop_time_wait++;
	if (!paws && seg->seq == c->rcv_nxt && seg->len == 0 &&
	    !(seg->flags & (TCP_SYN | TCP_FIN))) {
		tcp_timer_arm(t, c, &c->t_close, now + TCP_TIMEWAIT_NS);
		return;
	}
	if (paws)
		t->stats.paws_estab_rejected++;
	/* a retransmitted FIN (or anything else): acknowledge, and restart 2·MSL (§3.10.7.4) */
	if (paws || (seg->flags & TCP_ACK))
		tcp_timer_arm(t, c, &c->t_close, now + TCP_TIMEWAIT_NS);
	if (seg->flags & TCP_FIN)
		tcp_send_ack(t, c, now, io); /* the peer's FIN needs its ACK, whatever the rate */
	else
		tcp_send_dupack(t, c, now, seg, io);
}

/* --- the ACK field (RFC 9293 §3.10.7.4 fifth, RFC 5961 §5) --- */

/* 0 to go on with the segment, -1 to drop it. */
static int tcp_ack(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
		   const struct tcp_seg *seg, struct tcp_io *io)
{
	uint32_t ack = seg->ack, cid = tcp_cid_of(t, c);
	uint32_t nwnd = seg->wnd << c->snd_wscale;
	struct tcp_ack_info ai;
	bool wnd_changed = false, dsack = false;
	uint32_t prior_una = c->snd_una;

	if (SEQ_GT(ack, c->snd_max)) {
		t->stats.in_drop_bad_ack++;
		tcp_send_challenge_ack(t, c, now, io);
		return -1;
	}
	if (SEQ_LT(ack, c->snd_una - c->max_window)) {
		t->stats.in_drop_old_ack++;
		tcp_send_challenge_ack(t, c, now, io);
		return -1;
	}
	memset(&ai, 0, sizeof(ai));
	/* window update (the SND.WL1/WL2 rule) */
	if (SEQ_GEQ(ack, c->snd_una) &&
	    (SEQ_LT(c->snd_wl1, seg->seq) ||
	     (c->snd_wl1 == seg->seq && SEQ_LEQ(c->snd_wl2, ack)))) {
		wnd_changed = nwnd != c->snd_wnd;
		c->snd_wnd = nwnd;
		c->snd_wl1 = seg->seq;
		c->snd_wl2 = ack;
		if (nwnd > c->max_window) {
			c->max_window = nwnd;
			tcp_sync_mss(c);
		}
		if (nwnd && c->t_persist) {
			/* the window opened: no more probes (Linux tcp_ack_probe) */
			c->t_persist = 0;
			c->probe_since = 0;
			tcp_rtt_reset_backoff(&c->rtt);
		}
	}
	c->keep_probes = 0; /* any acceptable ACK: the peer is alive (Linux icsk_probes_out) */
	if (SEQ_GT(ack, c->snd_una)) {
		uint32_t prior = c->snd_una, rtt_us;

		ai.acked = tcp_data_in(c, prior, ack);
		c->snd_una = ack;
		if (SEQ_LT(c->snd_nxt, ack))
			c->snd_nxt = ack;
		if (seq_in(c->snd_up, prior, ack + 1))
			c->snd_up = ack; /* urgent data acknowledged: urgent mode ends */
		tcp_sack_advance(&c->sb, ack);
		rtt_us = tcp_rtt_acked(&c->rtt, ack, now);
		if (!rtt_us && tcp_has_ts(c, seg) && seg->opt.tsecr) {
			/* RFC 7323 §4: TSecr of an ACK of new data; 0 ms counts as 1 (Linux) */
			int32_t d = (int32_t)(tcp_ts_now(c, now) - seg->opt.tsecr);

			if (d >= 0 && (uint32_t)d < TCP_RTO_MAX_NS / CLOCK_NS_PER_MS)
				rtt_us = (uint32_t)(d ? d : 1) * 1000u;
		}
		if (rtt_us)
			tcp_rtt_sample(&c->rtt, rtt_us); /* ends the backoff too (RFC 6298 §5) */
		ai.rtt_us = rtt_us;
		c->bytes_acked += ai.acked;
		c->rtx_count = 0;
		if (c->snd_una == c->snd_max) {
			c->t_rtx = 0;
			c->rtx_since = 0;
			c->retrans_out = 0;
		} else {
			/* RFC 6298 §5.3: restart the timer on an ACK of new data */
			c->rtx_since = now;
			tcp_timer_arm(t, c, &c->t_rtx, now + tcp_rto_ns(c, now));
		}
		if (ai.acked)
			tcp_event(c, io, cid, TCP_EV_WRITABLE);
	}
	/* SACK blocks are read against the advanced snd_una (tcp_sack_update's contract) */
	if ((c->flags & TCP_F_SACK_OK) && (seg->opt.present & TCP_OPTF_SACK)) {
		ai.sacked = tcp_sack_update(&c->sb, c->snd_una, c->snd_max, &seg->opt, &dsack);
		ai.dsack = dsack; /* counted by tcp_recovery_on_ack */
		if (dsack)
			ai.dsack_blk = seg->opt.sack[0];
	}
	if (prior_una == c->snd_una && ack == c->snd_una && c->snd_max != c->snd_una &&
		   ((seg->len == 0 && !(seg->flags & (TCP_SYN | TCP_FIN)) && !wnd_changed) ||
		    ai.sacked)) {
		ai.dup = true; /* RFC 5681 §2 (and RFC 6675 §2: an ACK that SACKs new data) */
	}
	ai.ece = seg->flags & TCP_ECE;
	if (tcp_state_synced(c->state)) {
		tcp_rack_on_ack(t, c, now, prior_una, dsack);
		tcp_recovery_on_ack(t, c, now, &ai);
		tcp_tlp_after_ack(t, c, now, ai.acked != 0); /* RFC 8985 §7.2 */
	}
	if (ai.acked)
		tcp_sndbuf_expand(c);
	return 0;
}

/* --- text and FIN (sixth to eighth) --- */

static void tcp_urg(struct tcp_conn *c, const struct tcp_seg *seg)
{
	uint32_t ptr = seg->seq + seg->urp;

	/* RFC 6093 as Linux: the pointer is just past the urgent byte. A pointer behind what
	 * we hold or beyond the window is ignored (never trusted as an offset). */
	if (seg->urp == 0 || !SEQ_GT(ptr, c->rcv_nxt) || SEQ_GT(ptr, c->rcv_adv + 1) ||
	    !SEQ_GT(ptr, c->rcv_up))
		return;
	c->rcv_up = ptr;
}

static void tcp_fin(struct tcp_table *t, struct tcp_conn *c, uint64_t now, struct tcp_io *io)
{
	uint32_t cid = tcp_cid_of(t, c);
	uint8_t ev = TCP_EV_READABLE | TCP_EV_RDHUP;

	c->rcv_nxt++;
	c->flags |= TCP_F_FIN_RCVD;
	c->flags &= ~TCP_F_FIN_OOO;
	switch (c->state) {
	case TCP_STATE_SYN_RECEIVED:
	case TCP_STATE_ESTABLISHED:
		tcp_set_state(t, c, TCP_STATE_CLOSE_WAIT);
		break;
	case TCP_STATE_FIN_WAIT_1:
		/* our FIN is not acknowledged yet: simultaneous close (RFC 9293 §3.6) */
		tcp_set_state(t, c, TCP_STATE_CLOSING);
		c->flags |= TCP_F_ACK_NOW;
		break;
	case TCP_STATE_FIN_WAIT_2:
		c->flags |= TCP_F_ACK_NOW;
		tcp_send_ack(t, c, now, io);
		tcp_enter_time_wait(t, c, now);
		break;
	default:
		break;
	}
	if (c->flags & TCP_F_SHUT_WR)
		ev |= TCP_EV_HUP;
	tcp_event(c, io, cid, ev);
}

/* Linux tcp_rcv_rtt_measure_ts: in-order data echoing our TSval measures the RTT as the
 * receiver sees it (receive autotuning needs it even on a connection that never sends). */
static void tcp_rcv_rtt_sample(struct tcp_conn *c, const struct tcp_seg *seg, uint64_t now)
{
	int32_t d;
	uint32_t us;

	if (!tcp_has_ts(c, seg) || !seg->opt.tsecr)
		return;
	d = (int32_t)(tcp_ts_now(c, now) - seg->opt.tsecr);
	if (d < 0 || (uint32_t)d > TCP_RTO_MAX_NS / CLOCK_NS_PER_MS)
		return;
	us = (uint32_t)(d ? d : 1) * 1000u;
	/* a min-leaning average, as Linux's: new samples pull an estimate down at once */
	c->rcv_rtt_us = c->rcv_rtt_us == 0 || us < c->rcv_rtt_us
				? us
				: c->rcv_rtt_us - (c->rcv_rtt_us >> 3) + (us >> 3);
}

/* seq/off/len: the payload still to take after the sequence checks; fin: the segment's FIN
 * (it follows the payload). */
static void tcp_data_and_fin(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			     const struct tcp_seg *seg, uint32_t seq, uint32_t off, uint32_t len,
			     bool fin, bool zero_wnd, struct tcp_io *io)
{
	uint32_t cid = tcp_cid_of(t, c), limit, orig_len = len;

	if (c->state != TCP_STATE_ESTABLISHED && c->state != TCP_STATE_FIN_WAIT_1 &&
	    c->state != TCP_STATE_FIN_WAIT_2) {
		/* RFC 9293: after the peer's FIN, text is ignored */
		t->stats.in_drop_data_after_fin++;
		return;
	}
	if ((c->flags & TCP_F_SHUT_RD) && c->state != TCP_STATE_ESTABLISHED &&
	    SEQ_GT(seq + len, c->rcv_nxt) && len) {
		/* Linux: new data for a socket closed for reading after its FIN: nobody will
		 * ever read it, so tell the peer at once (RFC 9293 §3.10.4 / RFC 2525 §2.17) */
		t->stats.tcp_abort_on_data++;
		tcp_send_rst(t, c, now, io);
		tcp_conn_done(t, c, ECONNRESET, io);
		return;
	}
	/* below rcv_nxt: a duplicate, reported once as D-SACK (RFC 2883 §4.1) */
	if (SEQ_LT(seq, c->rcv_nxt)) {
		uint32_t dup = c->rcv_nxt - seq;

		if (dup > len)
			dup = len;
		if (dup) {
			if (c->flags & TCP_F_SACK_OK)
				tcp_asm_dsack(&c->asm_, seq, dup);
			tcp_quickack_enter(c);
			c->flags |= TCP_F_ACK_NOW;
		}
		seq += dup;
		off += dup;
		len -= dup;
		if (SEQ_LT(seq, c->rcv_nxt)) /* the FIN too was old */
			return;
	}
	if (zero_wnd && len) {
		t->stats.tcp_zero_window_drop++;
		len = 0;
		fin = false;
		c->flags |= TCP_F_ACK_NOW;
	}
	/* nothing is ever placed past the buffer (the shell's ring) */
	limit = c->read_seq + c->rcv_buf;
	if (len && SEQ_GT(seq + len, limit)) {
		uint32_t keep = SEQ_GT(limit, seq) ? limit - seq : 0;

		t->stats.tcp_rcv_q_drop++;
		len = keep;
		fin = false;
		c->flags |= TCP_F_ACK_NOW;
	}
	if (c->bytes_received == 0 && len)
		tcp_quickack_enter(c); /* Linux: quick ACKs from the first data on */
	if (seq == c->rcv_nxt) {
		if (len) {
			uint32_t old = c->rcv_nxt;
			uint32_t per_seg = len / (seg->gso_segs ? seg->gso_segs : 1);
			bool had_ooo = c->asm_.n > 0;

			io->place = (struct tcp_rx_place){.cid = cid, .seg_off = off, .len = len,
							  .stream_seq = seq};
			c->rcv_nxt = tcp_asm_advance(&c->asm_, seq + len);
			c->bytes_received += c->rcv_nxt - old;
			if (had_ooo)
				c->flags |= TCP_F_ACK_NOW; /* a hole filled: RFC 5681 §4.2 */
			tcp_rcv_rtt_sample(c, seg, now);
			/* Linux tcp_measure_rcv_mss */
			if (per_seg > c->rcv_mss)
				c->rcv_mss = (uint16_t)(per_seg < c->adv_mss ? per_seg
									      : c->adv_mss);
			tcp_event(c, io, cid, TCP_EV_READABLE);
		}
		if (fin && seq + len == c->rcv_nxt)
			tcp_fin(t, c, now, io);
		else if ((c->flags & TCP_F_FIN_OOO) && c->rcv_nxt == c->rcv_fin_seq)
			tcp_fin(t, c, now, io);
		return;
	}
	/* above rcv_nxt: out of order, placed in the buffer's free space (RFC 9293 §3.10.7.4:
	 * "segments with higher beginning sequence numbers may be held") */
	if (len) {
		if (tcp_asm_add(&c->asm_, seq, len)) {
			io->place = (struct tcp_rx_place){.cid = cid, .seg_off = off, .len = len,
							  .stream_seq = seq};
			t->stats.tcp_ofo_queue++;
		} else {
			t->stats.tcp_ofo_drop++;
			fin = false;
		}
	}
	if (fin) {
		c->flags |= TCP_F_FIN_OOO;
		c->rcv_fin_seq = seq + len;
	}
	if (len || orig_len || fin)
		c->flags |= TCP_F_ACK_NOW; /* RFC 5681 §4.2: out-of-order data, ACK at once */
}

/* Linux __tcp_ack_snd_check: now, or after the delayed-ACK time. */
static void tcp_ack_decide(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			   bool got_data)
{
	uint32_t unacked = c->rcv_nxt - c->rcv_wup;

	if (c->flags & (TCP_F_ACK_NOW | TCP_F_WND_UPDATE))
		return;
	if (!got_data)
		return;
	/* RFC 5681 §4.2: at least every second full-sized segment. (Linux also asks that the
	 * window not have fallen behind the last one offered; with its receive memory twice the
	 * window that rarely bites, with ours — the window is the free space itself — it would
	 * turn every burst the application has not read yet into one stretch ACK.) */
	if ((c->quick_acks && !(c->flags & TCP_F_PINGPONG)) || unacked > c->rcv_mss) {
		c->flags |= TCP_F_ACK_NOW;
		return;
	}
	if (c->t_delack == 0)
		tcp_timer_arm(t, c, &c->t_delack, now + TCP_DELACK_MIN_NS);
}

/* --- the synchronized states and SYN-RECEIVED (RFC 9293 §3.10.7.4) --- */

static bool tcp_seq_acceptable(const struct tcp_conn *c, uint32_t seq, uint32_t seg_len,
			       uint32_t wnd)
{
	uint32_t lo = c->rcv_nxt, hi = c->rcv_nxt + wnd;

	if (seg_len == 0)
		return wnd == 0 ? seq == lo : seq_in(seq, lo, hi);
	if (wnd == 0)
		return false;
	return seq_in(seq, lo, hi) || seq_in(seq + seg_len - 1, lo, hi);
}

static void tcp_synced_input(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			     const struct tcp_seg *seg, struct tcp_io *io)
{
	uint8_t fl = seg->flags;
	uint32_t seg_len = seg->len + !!(fl & TCP_SYN) + !!(fl & TCP_FIN);
	uint32_t wnd = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	bool passive = c->parent != TCP_IDX_NONE, zero_wnd = false, got_data;
	uint32_t rcv_before;
	uint64_t prev_rcv_at;

	/* a retransmitted SYN: our SYN-ACK was lost, send it again */
	if (c->state == TCP_STATE_SYN_RECEIVED && (fl & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN &&
	    seg->seq == c->irs) {
		if (tcp_send_syn(t, c, now, io) == 0) {
			t->stats.retrans_segs++;
			t->stats.tcp_syn_retrans++;
			c->total_retrans++;
		}
		return;
	}
	/* Simultaneous open (RFC 9293 §3.5 figure 8): the peer's SYN-ACK reaches us in
	 * SYN-RECEIVED; it acknowledges our SYN and repeats theirs, which we hold already. Take
	 * it as the ACK it is (Linux tcp_validate_incoming makes the same exception). */
	if (c->state == TCP_STATE_SYN_RECEIVED && !passive &&
	    (fl & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) == (TCP_SYN | TCP_ACK) &&
	    seg->len == 0 && seg->seq + 1 == c->rcv_nxt && seg->ack == c->snd_nxt) {
		struct tcp_seg ack = *seg;

		ack.seq = c->rcv_nxt;
		ack.flags &= (uint8_t)~TCP_SYN;
		tcp_synced_input(t, c, now, &ack, io);
		return;
	}
	/* PAWS (RFC 7323 §5.3) before the sequence check */
	if (tcp_paws_reject(c, seg, now)) {
		t->stats.paws_estab_rejected++;
		tcp_send_dupack(t, c, now, seg, io);
		return;
	}
	/* first: sequence number */
	if (!tcp_seq_acceptable(c, seg->seq, seg_len, wnd)) {
		if (wnd == 0 && seg->seq == c->rcv_nxt && !(fl & TCP_SYN)) {
			zero_wnd = true; /* process the ACK, drop the data (Linux, RFC 9293 note) */
		} else {
			if (fl & TCP_RST) {
				t->stats.in_drop_rst_bad_seq++;
				return;
			}
			t->stats.in_drop_bad_seq++;
			if (fl & TCP_SYN) {
				/* RFC 5961 §4.2: a SYN, whatever its sequence number */
				t->stats.tcp_syn_challenge++;
				tcp_send_challenge_ack(t, c, now, io);
				return;
			}
			if (seg->len && SEQ_LT(seg->seq, c->rcv_nxt)) {
				uint32_t end = SEQ_LT(seg->seq + seg->len, c->rcv_nxt)
						       ? seg->seq + seg->len
						       : c->rcv_nxt;

				if (c->flags & TCP_F_SACK_OK)
					tcp_asm_dsack(&c->asm_, seg->seq, end - seg->seq);
				tcp_quickack_enter(c);
			}
			tcp_send_dupack(t, c, now, seg, io);
			return;
		}
	}
	/* second: RST (RFC 5961 §3.2: only exactly rcv_nxt resets; Linux also takes rcv_nxt - 1
	 * once the peer's FIN is in, as its RST may carry the FIN's sequence number) */
	if (fl & TCP_RST) {
		bool exact = seg->seq == c->rcv_nxt ||
			     (seg->seq == c->rcv_nxt - 1 && (c->flags & TCP_F_FIN_RCVD) &&
			      (c->state == TCP_STATE_CLOSE_WAIT || c->state == TCP_STATE_LAST_ACK ||
			       c->state == TCP_STATE_CLOSING));

		if (!exact) {
			tcp_send_challenge_ack(t, c, now, io);
			return;
		}
		if (c->state == TCP_STATE_SYN_RECEIVED && passive) {
			t->stats.embryonic_rsts++;
			tcp_conn_release(t, c, io); /* back to LISTEN: only the child goes */
			return;
		}
		tcp_conn_done(t, c,
			      c->state == TCP_STATE_SYN_RECEIVED ? ECONNREFUSED
			      : c->state == TCP_STATE_CLOSE_WAIT ? EPIPE
								 : ECONNRESET,
			      io);
		return;
	}
	/* fourth: SYN */
	if (fl & TCP_SYN) {
		if (c->state == TCP_STATE_SYN_RECEIVED && passive) {
			/* Linux tcp_check_req: a different SYN kills the embryo with a reset */
			t->stats.embryonic_rsts++;
			t->stats.attempt_fails++;
			tcp_send_rst(t, c, now, io);
			tcp_conn_release(t, c, io);
			return;
		}
		t->stats.tcp_syn_challenge++;
		tcp_send_challenge_ack(t, c, now, io);
		return;
	}
	/* fifth: ACK */
	if (!(fl & TCP_ACK)) {
		t->stats.in_drop_bad_flags++;
		return;
	}
	tcp_update_ts_recent(c, seg, now);
	prev_rcv_at = c->last_rcv_at;
	c->last_rcv_at = now;
	if (c->state == TCP_STATE_SYN_RECEIVED) {
		uint32_t cid = tcp_cid_of(t, c);

		if (!(SEQ_GT(seg->ack, c->snd_una) && SEQ_LEQ(seg->ack, c->snd_max))) {
			t->stats.in_drop_bad_ack++;
			tcp_send_rst_reply(t, seg, io);
			return;
		}
		c->snd_wnd = seg->wnd << c->snd_wscale;
		c->snd_wl1 = seg->seq;
		c->snd_wl2 = seg->ack;
		if (passive && !tcp_child_established(t, c, now, io))
			return; /* accept queue full: the ACK is dropped, the SYN-ACK will repeat */
		tcp_establish(t, c, now);
		if (!passive)
			tcp_event(c, io, cid, TCP_EV_CONNECTED | TCP_EV_WRITABLE);
	}
	if (tcp_ack(t, c, now, seg, io) != 0)
		return;
	if (c->flags & TCP_F_FIN_SENT && c->snd_una == c->snd_max &&
	    c->snd_una == c->write_seq + 1) {
		/* our FIN is acknowledged */
		switch (c->state) {
		case TCP_STATE_FIN_WAIT_1:
			tcp_set_state(t, c, TCP_STATE_FIN_WAIT_2);
			c->t_rtx = 0;
			if (c->flags & TCP_F_ORPHAN)
				tcp_timer_arm(t, c, &c->t_close, now + TCP_FIN_TIMEOUT_NS);
			break;
		case TCP_STATE_CLOSING:
			tcp_enter_time_wait(t, c, now);
			tcp_event(c, io, tcp_cid_of(t, c), TCP_EV_HUP);
			return;
		case TCP_STATE_LAST_ACK:
			tcp_conn_done(t, c, 0, io);
			return;
		default:
			break;
		}
	}
	/* sixth: URG */
	if ((fl & TCP_URG) &&
	    (c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_FIN_WAIT_1 ||
	     c->state == TCP_STATE_FIN_WAIT_2))
		tcp_urg(c, seg);
	/* seventh and eighth: text, FIN */
	rcv_before = c->rcv_nxt;
	if (seg->len || (fl & TCP_FIN)) {
		if (prev_rcv_at && seg->len && now - prev_rcv_at > tcp_rtt_rto_ns(&c->rtt))
			tcp_quickack_enter(c); /* Linux: after a gap longer than an RTO (the sender
						* restarts its window), ACK quickly again */
		tcp_data_and_fin(t, c, now, seg, seg->seq, 0, seg->len, fl & TCP_FIN, zero_wnd,
				 io);
		if (!c->in_use || c->state == TCP_STATE_CLOSED)
			return;
	}
	got_data = c->rcv_nxt != rcv_before;
	tcp_ack_decide(t, c, now, got_data);
	if (c->state == TCP_STATE_TIME_WAIT)
		return;
	tcp_output(t, c, now, io);
}

/* --- entry --- */

void tcp_conn_input(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
		    const struct tcp_seg *seg, struct tcp_io *io)
{
	switch (c->state) {
	case TCP_STATE_SYN_SENT:
		tcp_synsent_input(t, c, now, seg, io);
		break;
	case TCP_STATE_TIME_WAIT:
		tcp_timewait_input(t, c, now, seg, io);
		break;
	case TCP_STATE_CLOSED:
	case TCP_STATE_LISTEN:
		break;
	default:
		tcp_synced_input(t, c, now, seg, io);
		break;
	}
}

int tcp_input(struct tcp_table *t, uint64_t now, const struct tcp_seg_in *in, struct tcp_io *io)
{
	struct tcp_seg seg;
	struct tcp_conn *c;
	struct tcp_listener *l;

	if (!t || !in || !io || !in->hdr)
		return -EINVAL;
	memset(&io->place, 0, sizeof(io->place));
	t->stats.in_segs += in->gso_segs ? in->gso_segs : 1;
	if (!in->csum_ok) {
		t->stats.in_csum_errors++;
		t->stats.in_errs++;
		return 0;
	}
	if (in->bcast || !tcp_addr_unicast(t, in->saddr)) {
		t->stats.in_drop_bcast++;
		return 0;
	}
	if (tcp_seg_parse(t, in, &seg) != 0)
		return 0;
	c = tcp_conn_find(t, seg.daddr, seg.dport, seg.saddr, seg.sport);
	if (c) {
		c->segs_in += seg.gso_segs;
		tcp_conn_input(t, c, now, &seg, io);
		return 0;
	}
	l = tcp_listener_lookup(t, seg.daddr, seg.dport);
	if (l) {
		tcp_listen_input(t, l, now, &seg, io, 0);
		return 0;
	}
	if (seg.flags & TCP_RST) {
		t->stats.in_drop_rst_no_conn++;
		return 0;
	}
	t->stats.in_drop_no_conn++;
	tcp_send_rst_reply(t, &seg, io);
	return 0;
}
