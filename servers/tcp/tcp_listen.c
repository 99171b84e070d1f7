/* tcp_listen: listeners, their SYN and accept queues, SYN cookies, listen() and accept().
 *
 * As Linux (net/ipv4/inet_connection_sock.c, tcp_input.c tcp_conn_request, syncookies.c):
 *   - a SYN makes a child connection in SYN-RECEIVED with parent = the listener, on its SYN
 *     queue; the ACK of our SYN-ACK moves it to the accept queue (PassiveOpens) and raises
 *     TCP_EV_ACCEPT on the listener; accept() takes the oldest;
 *   - the SYN queue is full at `backlog` children: further SYNs are answered statelessly with
 *     a SYN cookie (SyncookiesSent), and for two minutes after that an ACK that matches no
 *     connection is checked as a cookie (SyncookiesRecv / SyncookiesFailed) before it gets a
 *     RST. A cookie also answers when the table has no free slot. Without timestamps a cookie
 *     cannot carry window scale or SACK-permitted, so the SYN-ACK then offers neither;
 *   - the accept queue is full when it holds MORE than backlog connections (Linux's
 *     sk_acceptq_is_full): a SYN is then dropped (ListenOverflows, ListenDrops) and so is a
 *     handshake-completing ACK, leaving the child in SYN-RECEIVED for its SYN-ACK to be
 *     retransmitted (tcp_abort_on_overflow = 0), marked TCP_F_ACKED (Linux's
 *     inet_rsk(req)->acked);
 *   - a valid cookie ACK that finds the accept queue full is not thrown away when the SYN
 *     queue has room: the child is rebuilt and kept there, ACKED, as Linux keeps a request
 *     whose ACK overflowed. (Linux drops it: a cookie has no request to keep.) The peer proved
 *     its address, and the SYN queue's bound (backlog) still caps what it costs;
 *   - accept() gives the room it makes at once to the oldest ACKED child, which enters the
 *     accept queue ESTABLISHED; the peer's next retransmission finds it. Without this, the
 *     room waits for some peer's retransmission to land in it, and peers whose ACKs were
 *     dropped together back off together: each wave admits backlog + 1 connections, the
 *     application sits idle between waves, and the last peers wait past a minute (measured:
 *     100 connections at once to backlog 8 took 14-54 s, and Linux with an application
 *     0.3 s late to accept left one unfinished after 60 s);
 *   - listen(backlog): capped at 4096, a negative backlog counts as huge (so 4096); 0 lets one
 *     connection queue and sends every SYN a cookie, as Linux does;
 *   - closing a listener resets every child in its queues.
 */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "tcp_priv.h"

#define TCP_SOMAXCONN 4096u
#define TCP_COOKIE_WINDOW_NS (120ull * CLOCK_NS_PER_S) /* Linux TCP_SYNCOOKIE_VALID */
/* Flags a child inherits from its listener. */
#define TCP_F_INHERIT (TCP_F_NODELAY | TCP_F_KEEPALIVE | TCP_F_REUSEADDR | TCP_F_CORK |   \
		       TCP_F_LINGER | TCP_F_RCVBUF_LOCK | TCP_F_SNDBUF_LOCK | TCP_F_PINGPONG)

/* --- queues --- */

static void tcp_q_append(struct tcp_table *t, uint16_t *head, uint16_t *tail, struct tcp_conn *c)
{
	uint16_t idx = (uint16_t)tcp_conn_idx(t, c);

	c->qnext = TCP_IDX_NONE;
	c->qprev = tail ? *tail : TCP_IDX_NONE;
	if (tail) {
		if (*tail < TCP_CONNS_MAX)
			t->conn[*tail].qnext = idx;
		else
			*head = idx;
		*tail = idx;
	} else {
		/* the SYN queue has no tail: push at the head */
		c->qnext = *head;
		if (*head < TCP_CONNS_MAX)
			t->conn[*head].qprev = idx;
		*head = idx;
	}
}

static void tcp_q_remove(struct tcp_table *t, uint16_t *head, uint16_t *tail, struct tcp_conn *c)
{
	uint16_t idx = (uint16_t)tcp_conn_idx(t, c);

	if (c->qprev < TCP_CONNS_MAX)
		t->conn[c->qprev].qnext = c->qnext;
	else if (*head == idx)
		*head = c->qnext;
	if (c->qnext < TCP_CONNS_MAX)
		t->conn[c->qnext].qprev = c->qprev;
	else if (tail && *tail == idx)
		*tail = c->qprev;
	c->qnext = c->qprev = TCP_IDX_NONE;
}

void tcp_child_unlink(struct tcp_table *t, struct tcp_conn *c)
{
	struct tcp_listener *l;

	if (c->parent >= TCP_LISTENERS_MAX) {
		c->parent = TCP_IDX_NONE;
		return;
	}
	l = &t->lis[c->parent];
	if (c->flags & TCP_F_IN_ACCEPTQ) {
		tcp_q_remove(t, &l->acc_head, &l->acc_tail, c);
		if (l->acc_n)
			l->acc_n--;
		c->flags &= ~TCP_F_IN_ACCEPTQ;
	} else {
		tcp_q_remove(t, &l->syn_head, NULL, c);
		if (l->syn_n)
			l->syn_n--;
	}
	c->parent = TCP_IDX_NONE;
}

static bool tcp_acceptq_full(const struct tcp_listener *l)
{
	return l->acc_n > l->backlog;
}

static void tcp_listen_overflow(struct tcp_table *t, struct tcp_listener *l)
{
	t->stats.listen_overflows++;
	t->stats.listen_drops++;
	l->overflows++;
}

bool tcp_child_established(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			   struct tcp_io *io)
{
	struct tcp_listener *l = &t->lis[c->parent];

	(void)now;
	if (tcp_acceptq_full(l)) {
		tcp_listen_overflow(t, l);
		t->stats.in_drop_acceptq_full++;
		c->flags |= TCP_F_ACKED;
		return false;
	}
	tcp_q_remove(t, &l->syn_head, NULL, c);
	if (l->syn_n)
		l->syn_n--;
	c->flags &= ~TCP_F_ACKED;
	c->flags |= TCP_F_IN_ACCEPTQ;
	tcp_q_append(t, &l->acc_head, &l->acc_tail, c);
	l->acc_n++;
	t->stats.passive_opens++;
	tcp_lis_event(l, io, tcp_lis_cid(t, l), TCP_EV_ACCEPT);
	return true;
}

/* Give the accept queue's room to the oldest children whose handshake ACK found it full: the
 * ACK acknowledged our SYN-ACK and nothing else (tcp_input checked it), so they complete
 * here as that ACK would have. */
static void tcp_listen_promote(struct tcp_table *t, struct tcp_listener *l, uint64_t now,
			       struct tcp_io *io)
{
	while (!tcp_acceptq_full(l)) {
		struct tcp_conn *c = NULL;
		uint16_t i = l->syn_head;

		/* the SYN queue is pushed at its head: the oldest ACKED child is the last one */
		for (unsigned steps = 0; i < TCP_CONNS_MAX && steps < TCP_CONNS_MAX; steps++) {
			if (t->conn[i].flags & TCP_F_ACKED)
				c = &t->conn[i];
			i = t->conn[i].qnext;
		}
		if (!c || !tcp_child_established(t, c, now, io))
			return;
		c->snd_una = c->snd_max;
		c->t_rtx = 0;
		tcp_rtt_cancel(&c->rtt);
		tcp_establish(t, c, now);
		t->stats.acceptq_promoted++;
	}
}

/* --- children --- */

/* A child of l for the 4-tuple of seg, in SYN-RECEIVED on l's SYN queue, options from the SYN
 * (o). iss 0 picks one (RFC 6528). */
static struct tcp_conn *tcp_child_new(struct tcp_table *t, struct tcp_listener *l, uint64_t now,
				      const struct tcp_seg *seg, uint32_t iss, struct tcp_io *io)
{
	struct tcp_conn *c = tcp_conn_alloc(t, now, io);

	if (!c)
		return NULL;
	c->flags = (l->flags & TCP_F_INHERIT) | TCP_F_BOUND;
	c->laddr = seg->daddr;
	c->lport = l->lport;
	c->raddr = seg->saddr;
	c->rport = seg->sport;
	c->rcv_buf = l->rcv_buf;
	c->snd_buf = l->snd_buf;
	c->rcv_buf_max = l->rcv_buf_max;
	c->snd_buf_max = l->snd_buf_max;
	c->mss_clamp = l->mss_clamp;
	c->cc.algo = l->cc_algo;
	c->user_timeout_ms = l->user_timeout_ms;
	c->keep_idle_s = l->keep_idle_s;
	c->keep_intvl_s = l->keep_intvl_s;
	c->keep_cnt = l->keep_cnt;
	c->linger_s = l->linger_s;
	c->pmtu = t->host.mtu;
	c->adv_mss = tcp_adv_mss(c, c->pmtu);
	c->iss = iss ? iss : tcp_isn(t, now, c->laddr, c->lport, c->raddr, c->rport);
	c->ts_offset = tcp_ts_offset(t, c->laddr, c->raddr);
	c->snd_una = c->snd_up = c->iss;
	c->snd_nxt = c->snd_max = c->write_seq = c->iss + 1;
	c->irs = seg->seq;
	c->rcv_nxt = c->read_seq = c->rcv_wup = c->rcv_up = seg->seq + 1;
	c->snd_wnd = seg->wnd; /* a SYN's window is never scaled (RFC 7323 §2.2) */
	c->snd_wl1 = seg->seq;
	c->snd_wl2 = c->iss;
	c->last_rcv_at = now;
	c->parent = (uint16_t)tcp_lis_idx(t, l);
	tcp_set_state(t, c, TCP_STATE_SYN_RECEIVED);
	tcp_hash_insert(t, c);
	tcp_bhash_insert(t, c);
	tcp_q_append(t, &l->syn_head, NULL, c);
	l->syn_n++;
	return c;
}

/* --- SYN cookies --- */

/* A stateless SYN-ACK whose ISN is the cookie (Linux cookie_v4_init_sequence). */
static void tcp_cookie_synack(struct tcp_table *t, struct tcp_listener *l, uint64_t now,
			      const struct tcp_seg *seg, struct tcp_io *io)
{
	struct tcp_conn tmp;
	struct tcp_opts o;
	struct tcp_tx *tx;
	uint16_t mss = 0;
	uint32_t tsval = 0, isn;
	bool ts = seg->opt.present & TCP_OPTF_TIMESTAMP;

	if (!io || io->n_tx >= io->tx_max) {
		t->stats.io_full++;
		return;
	}
	isn = tcp_cookie_make(t, now, seg, &mss, &tsval);
	/* our side of the handshake as a child would have it, to size our options */
	memset(&tmp, 0, sizeof(tmp));
	tmp.flags = l->flags & TCP_F_INHERIT;
	tmp.rcv_buf = l->rcv_buf;
	tmp.mss_clamp = l->mss_clamp;
	memset(&o, 0, sizeof(o));
	o.present = TCP_OPTF_MSS;
	o.mss = tcp_adv_mss(&tmp, t->host.mtu);
	if (ts) {
		o.present |= TCP_OPTF_TIMESTAMP;
		o.tsval = tsval;
		o.tsecr = seg->opt.tsval;
		/* the options only survive in the timestamp (Linux clears them otherwise) */
		if (seg->opt.present & TCP_OPTF_WSCALE) {
			o.present |= TCP_OPTF_WSCALE;
			o.wscale = tcp_rcv_wscale(&tmp);
		}
		if (seg->opt.present & TCP_OPTF_SACK_PERM)
			o.present |= TCP_OPTF_SACK_PERM;
	}
	tx = &io->tx[io->n_tx++];
	memset(tx, 0, sizeof(*tx));
	tx->saddr = seg->daddr;
	tx->daddr = seg->saddr;
	tx->sport = seg->dport;
	tx->dport = seg->sport;
	tx->seq = isn;
	tx->ack = seg->seq + 1;
	tx->flags = TCP_SYN | TCP_ACK;
	tx->wnd = (uint16_t)(l->rcv_buf > 65535u ? 65535u : l->rcv_buf);
	tx->opt_len = (uint8_t)tcp_options_build(tx->opt, &o);
	t->stats.out_segs++;
	t->stats.syncookies_sent++;
	l->cookies_sent++;
	l->overflow_at = now ? now : 1;
}

/* The ACK of a cookie SYN-ACK: rebuild the child and let it complete as any other would.
 * true when seg was a valid cookie (handled, possibly dropped for a full queue). */
static bool tcp_cookie_ack(struct tcp_table *t, struct tcp_listener *l, uint64_t now,
			   const struct tcp_seg *seg, struct tcp_io *io)
{
	struct tcp_opts syn;
	struct tcp_seg synseg;
	struct tcp_conn *c;
	uint16_t mss = 0;

	if (l->overflow_at == 0 || now - l->overflow_at > TCP_COOKIE_WINDOW_NS)
		return false; /* no recent overflow: not worth a check (Linux) */
	memset(&syn, 0, sizeof(syn));
	if (tcp_cookie_check(t, now, seg, &mss, &syn) != 0) {
		t->stats.syncookies_failed++;
		return false;
	}
	t->stats.syncookies_recv++;
	if (tcp_acceptq_full(l) && l->syn_n >= l->backlog) {
		/* nowhere to keep it either: dropped, the peer retransmits */
		tcp_listen_overflow(t, l);
		t->stats.in_drop_acceptq_full++;
		return true;
	}
	/* the SYN as the cookie remembers it */
	synseg = *seg;
	synseg.seq = seg->seq - 1;
	synseg.flags = TCP_SYN;
	c = tcp_child_new(t, l, now, &synseg, seg->ack - 1, io);
	if (!c) {
		t->stats.listen_drops++;
		return true;
	}
	syn.present |= TCP_OPTF_MSS;
	syn.mss = mss;
	if (seg->opt.present & TCP_OPTF_TIMESTAMP) {
		syn.present |= TCP_OPTF_TIMESTAMP;
		syn.tsval = seg->opt.tsval;
	} else {
		syn.present &= (uint8_t)~(TCP_OPTF_WSCALE | TCP_OPTF_SACK_PERM);
	}
	tcp_syn_options(t, c, now, &syn);
	tcp_sync_mss(c);
	c->flags |= TCP_F_COOKIE;
	c->rcv_adv = c->rcv_nxt + (c->rcv_buf > 65535u ? 65535u : c->rcv_buf);
	/* now the ACK completes the handshake through the ordinary SYN-RECEIVED path */
	c->segs_in++;
	tcp_conn_input(t, c, now, seg, io);
	if (c->in_use && c->state == TCP_STATE_SYN_RECEIVED && (c->flags & TCP_F_ACKED)) {
		/* kept for the accept queue's room: it expires as a request whose SYN-ACK is
		 * never answered would (Linux's reqsk timer) */
		c->rtx_since = now;
		tcp_timer_arm(t, c, &c->t_rtx, now + tcp_rto_ns(c, now));
	}
	return true;
}

/* --- segments for a listener (RFC 9293 §3.10.7.2) --- */

void tcp_listen_input(struct tcp_table *t, struct tcp_listener *l, uint64_t now,
		      const struct tcp_seg *seg, struct tcp_io *io, uint32_t tw_isn)
{
	struct tcp_conn *c;
	bool cookie;

	if (seg->flags & TCP_RST) {
		t->stats.in_drop_rst_no_conn++;
		return;
	}
	if (seg->flags & TCP_ACK) {
		if (!(seg->flags & TCP_SYN) && tcp_cookie_ack(t, l, now, seg, io))
			return;
		t->stats.in_drop_no_conn++;
		tcp_send_rst_reply(t, seg, io);
		return;
	}
	if (!(seg->flags & TCP_SYN) || (l->flags & TCP_F_SHUT_RD)) {
		t->stats.in_drop_bad_flags++;
		return;
	}
	/* A SYN that reopens a TIME-WAIT keeps its ISN above the old connection's sequence
	 * space: never a cookie (Linux tcp_conn_request: cookies only when !isn). */
	cookie = l->syn_n >= l->backlog && !tw_isn;
	if (tcp_acceptq_full(l)) {
		tcp_listen_overflow(t, l);
		return;
	}
	c = cookie ? NULL : tcp_child_new(t, l, now, seg, tw_isn, io);
	if (!c) {
		tcp_cookie_synack(t, l, now, seg, io);
		return;
	}
	tcp_syn_options(t, c, now, &seg->opt);
	tcp_sync_mss(c);
	if (tcp_send_syn(t, c, now, io) == 0)
		tcp_rtt_start(&c->rtt, c->iss, now);
	c->rtx_since = now;
	tcp_timer_arm(t, c, &c->t_rtx, now + tcp_rto_ns(c, now));
}

/* --- listen(), accept(), closing a listener --- */

int tcp_listen(struct tcp_table *t, uint32_t owner, uint32_t cid, int backlog, uint32_t *lcid)
{
	struct tcp_listener *l = tcp_lis_owned(t, owner, cid);
	struct tcp_conn *c;
	uint32_t bl = (unsigned)backlog > TCP_SOMAXCONN ? TCP_SOMAXCONN : (uint32_t)backlog;

	if (!lcid)
		return -EINVAL;
	if (l) {
		/* Linux: listen() again only changes the backlog, or listens again after a
		 * shutdown(SHUT_RD) stopped it */
		if (l->flags & TCP_F_SHUT_RD) {
			if (tcp_bind_conflict(t, NULL, l, l->laddr, l->lport,
					      l->flags & TCP_F_REUSEADDR))
				return -EADDRINUSE;
			l->flags &= ~TCP_F_SHUT_RD;
			tcp_lhash_insert(t, l);
		}
		l->backlog = (uint16_t)bl;
		*lcid = cid;
		return 0;
	}
	c = tcp_conn_owned(t, owner, cid);
	if (!c)
		return -EBADF;
	if (c->state != TCP_STATE_CLOSED || (c->flags & TCP_F_CONNECTED_ONCE) ||
	    (c->flags & TCP_F_CONNECT_PORT))
		return -EINVAL;
	if (c->flags & TCP_F_BOUND) {
		if (tcp_bind_conflict(t, c, NULL, c->laddr, c->lport, c->flags & TCP_F_REUSEADDR))
			return -EADDRINUSE;
	}
	l = tcp_lis_alloc(t);
	if (!l)
		return -ENOBUFS;
	if (!(c->flags & TCP_F_BOUND)) {
		int rc = tcp_bind(t, owner, cid, 0, 0); /* autobind (Linux inet_autobind) */

		if (rc != 0) {
			tcp_lis_free(t, l);
			return rc == -EADDRINUSE ? -EAGAIN : rc;
		}
		c->flags &= ~TCP_F_BINDPORT_LOCK;
	}
	l->owner = c->owner;
	l->flags = c->flags & (TCP_F_INHERIT | TCP_F_BINDADDR_LOCK | TCP_F_BINDPORT_LOCK);
	l->laddr = c->laddr;
	l->lport = c->lport;
	l->backlog = (uint16_t)bl;
	l->rcv_buf = c->rcv_buf;
	l->snd_buf = c->snd_buf;
	l->rcv_buf_max = c->rcv_buf_max;
	l->snd_buf_max = c->snd_buf_max;
	l->mss_clamp = c->mss_clamp;
	l->cc_algo = c->cc.algo;
	l->user_timeout_ms = c->user_timeout_ms;
	l->keep_idle_s = c->keep_idle_s;
	l->keep_intvl_s = c->keep_intvl_s;
	l->keep_cnt = c->keep_cnt;
	l->linger_s = c->linger_s;
	tcp_lhash_insert(t, l);
	tcp_conn_free(t, c);
	*lcid = tcp_lis_cid(t, l);
	return 0;
}

int tcp_accept(struct tcp_table *t, uint32_t owner, uint32_t lcid, uint32_t new_owner,
	       uint64_t now, struct tcp_io *io, uint32_t *cid)
{
	struct tcp_listener *l = tcp_lis_owned(t, owner, lcid);
	struct tcp_conn *c;

	if (!l)
		return tcp_conn_owned(t, owner, lcid) ? -EINVAL : -EBADF;
	if (new_owner == 0 || !cid)
		return -EINVAL;
	if (l->flags & TCP_F_SHUT_RD)
		return -EINVAL; /* shut down: no longer listening (Linux) */
	if (l->acc_n == 0 || l->acc_head >= TCP_CONNS_MAX)
		return -EAGAIN;
	c = &t->conn[l->acc_head];
	tcp_child_unlink(t, c);
	c->owner = new_owner;
	*cid = tcp_cid_of(t, c);
	tcp_listen_promote(t, l, now, io);
	return 0;
}

/* Reset every child of l (RFC 9293 §3.10.4 ABORT for each) and free it. */
static void tcp_lis_flush(struct tcp_table *t, struct tcp_listener *l, uint64_t now,
			  struct tcp_io *io)
{
	uint16_t *heads[2] = {&l->acc_head, &l->syn_head};

	for (unsigned q = 0; q < 2; q++) {
		for (unsigned steps = 0; *heads[q] < TCP_CONNS_MAX && steps < TCP_CONNS_MAX;
		     steps++) {
			struct tcp_conn *c = &t->conn[*heads[q]];

			tcp_send_rst(t, c, now, io);
			if (c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_CLOSE_WAIT)
				tcp_set_state(t, c, TCP_STATE_CLOSED);
			tcp_conn_release(t, c, io); /* unlinks it: the head moves on */
		}
	}
	l->acc_n = l->syn_n = 0;
}

int tcp_listener_close(struct tcp_table *t, struct tcp_listener *l, uint64_t now,
		       struct tcp_io *io)
{
	tcp_lis_flush(t, l, now, io);
	tcp_lis_free(t, l);
	return 0;
}

int tcp_listener_shutdown(struct tcp_table *t, struct tcp_listener *l, uint64_t now, int how,
			  struct tcp_io *io)
{
	/* Linux: SHUT_RD on a listener stops it listening (tcp_disconnect); SHUT_WR alone does
	 * nothing. The slot stays so the application's descriptor stays valid. */
	if (how == 1 /* SHUT_WR */)
		return 0;
	if (!(l->flags & TCP_F_SHUT_RD)) {
		tcp_lis_flush(t, l, now, io);
		tcp_lhash_remove(t, l);
		l->flags |= TCP_F_SHUT_RD;
	}
	return 0;
}
