/* tcpd_stream: a stream socket's slot — its TX and RX byte rings and its block — kept in step
 * with the core's connection (common/region.h's opening comment is the contract; libsock is its
 * other side, libsock/fake_tcpd.c a reference without TCP).
 *
 * Sequence numbers and ring indices (SPEC-streams.md): a bind keeps, for each stream, the index
 * of its first byte: index(seq) = base_index + (uint32_t)(seq - base_seq), the base moved up as
 * the stream goes so that seq stays within 2^30 of it (tcpd_bind_rebase). Everything else is
 * derived from the core's connection whenever it is needed, so nothing here can disagree with
 * the core after a restart:
 *   RX head      index(rcv_nxt), less the peer's FIN    (published: the readable bytes)
 *   RX consumed  index(read_seq)                        (the application's tail, as last told
 *                                                        to the core with tcp_recvd)
 *   EOF          index(the FIN's sequence number)       (eof_at, with RD_EOF)
 *   TX taken     index(write_seq)                       (the bytes tcp_send was given)
 *   TX acked     index(snd_una), at most index(write_seq) (published as the TX tail: the
 *                                                        application's send buffer frees)
 *
 * tcpd_sync, for one slot, in this order:
 *   1. reads: the RX tail moved past index(read_seq): tcp_recvd (window updates);
 *   2. sends: the TX head moved past index(write_seq): tcp_send for the bytes below the
 *      slot's tx_push, then with MSG_MORE for those above it (corked, as TCP_CORK), within
 *      tcp_send_space; a pending error is never taken this way (tcp_send would report it);
 *   3. acknowledged bytes: the TX tail to index(snd_una) (all of the ring once the connection
 *      is over), stream_ring_room_notify, the eventfd when a sender armed;
 *   4. received bytes: the RX head to index(rcv_nxt); the eventfd;
 *   5. the block (line 0): error, eof_at, acceptq, sndbuf, then state (release), then seq++, the
 *      eventfd and the TX ring's futex, when any changed since last published. The state bits
 *      are Linux's sk_state and sk_shutdown as the socket calls see them: CLOSED for TCP_CLOSE
 *      (TIME-WAIT too: Linux's socket is closed by then), CONNECTING in SYN-SENT/RECEIVED,
 *      CONNECTED once synchronized, RD_EOF for the peer's FIN, RD_CLOSED when a connection
 *      ended without one (reset, timeout, refused), WR_CLOSED after shutdown(WR)/close/end,
 *      HUP when both directions are shut or the connection is over, ERROR with the pending
 *      error (the core's; SO_ERROR takes it, and the next sync clears it);
 *   6. an orphan (closed by its application) whose FIN is acknowledged, or that is over, gives
 *      the slot back (tcpd_release: REGION_SS_RELEASED); SO_LINGER waits for exactly that;
 *   7. the doorbell protocol (region.h): tx_event = the TX head taken in, rx_event = where a
 *      read is worth a window update (any read while more than half the window is unread, a
 *      quarter of the buffer otherwise), a fence, and the indices looked at again: if either
 *      moved meanwhile, once more from 1.
 * The application's indices and tx_push are loaded and checked (stream_ring.h); a broken ring
 * ends the session (hostile).
 *
 * Early data. A connection established from a listener's queue exists before any application
 * holds it, and the core places what arrives for it in its receive stream. Linux keeps it in
 * the child socket; here it waits in the stage segment (tcpd_stage.h, the window's worth:
 * rcv_buf, at most the listener's ring size), which outlives tcpd as the rings do, until ACCEPT
 * copies it into the new slot's RX ring at its base and, once the request has committed, frees
 * it. All connections together hold at most TCPD_STAGE_ALL: when no run is free a segment with
 * payload for one without its stage yet is dropped before tcp_input (the peer resends, as a
 * full ring drops), never accepted and then lost.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tcp_seq.h"
#include "tcpd_priv.h"

struct region *tcpd_region(struct tcpd *u, unsigned si)
{
	struct xport_session *s = &u->x.sess[si];
	return s->state == XPORT_SESS_ATTACHED || s->state == XPORT_SESS_CLOSING ? &s->region
										  : NULL;
}

static void tcpd_wake(struct tcpd *u, unsigned b)
{
	unsigned si = b / REGION_SLOTS_MAX;
	if (u->x.sess[si].state == XPORT_SESS_ATTACHED)
		xport_wake_mark(&u->x, si, b % REGION_SLOTS_MAX);
}

/* A ring the application broke: its session goes (it can only have done that on purpose). */
static void tcpd_hostile(struct tcpd *u, unsigned b, const char *what)
{
	unsigned si = b / REGION_SLOTS_MAX;
	u->x.stats.sessions_closed_hostile++;
	log_warn("session %u slot %u: %s ring broken: closing the session", si,
		 b % REGION_SLOTS_MAX, what);
	xport_session_end(&u->x, si, "a broken ring");
}

/* The connection of cid, if it is in use under that cid. */
static struct tcp_conn *tcpd_conn(struct tcpd *u, uint32_t cid)
{
	unsigned idx = cid & 0x7fffu;
	if ((cid & TCP_CID_LISTENER) || idx >= TCP_CONNS_MAX || tcp_conn_cid(u->t, idx) != cid)
		return NULL;
	return &u->t->conn[idx];
}

static struct tcp_listener *tcpd_lis(struct tcpd *u, uint32_t cid)
{
	unsigned idx = cid & 0x7fffu;
	if (!(cid & TCP_CID_LISTENER) || idx >= TCP_LISTENERS_MAX ||
	    tcp_listener_cid(u->t, idx) != cid)
		return NULL;
	return &u->t->lis[idx];
}

static uint64_t tcpd_rx_index(const struct tcpd_bind *bd, uint32_t seq)
{
	return bd->rx_base_index + (uint32_t)(seq - bd->rx_base_seq);
}

static uint64_t tcpd_tx_index(const struct tcpd_bind *bd, uint32_t seq)
{
	return bd->tx_base_index + (uint32_t)(seq - bd->tx_base_seq);
}

/* Where the readable bytes end: rcv_nxt without the peer's FIN. */
static uint32_t tcpd_rcv_end(const struct tcp_conn *c)
{
	return c->rcv_nxt - ((c->flags & TCP_F_FIN_RCVD) ? 1u : 0u);
}

/* The peer's ISN is known (the receive stream has a start). */
static bool tcpd_irs_known(const struct tcp_conn *c)
{
	if (c->state == TCP_STATE_CLOSED)
		return (c->flags & TCP_F_CONNECTED_ONCE) != 0;
	return c->state != TCP_STATE_SYN_SENT && c->state != TCP_STATE_LISTEN;
}

/* ---- the slot block ---- */

static uint32_t tcpd_conn_bits(const struct tcp_conn *c)
{
	uint32_t st = 0, f = c->flags;
	bool attempted = c->raddr != 0 || (f & TCP_F_CONNECTED_ONCE);
	switch (c->state) {
	case TCP_STATE_CLOSED:
	case TCP_STATE_TIME_WAIT:
		st |= REGION_SS_CLOSED;
		if (attempted) {
			st |= REGION_SS_HUP | REGION_SS_WR_CLOSED;
			if (!(f & TCP_F_FIN_RCVD))
				st |= REGION_SS_RD_CLOSED;
		}
		break;
	case TCP_STATE_SYN_SENT:
	case TCP_STATE_SYN_RECEIVED:
		st |= REGION_SS_CONNECTING;
		break;
	default:
		break;
	}
	if (f & TCP_F_CONNECTED_ONCE)
		st |= REGION_SS_CONNECTED;
	if (f & TCP_F_FIN_RCVD)
		st |= REGION_SS_RD_EOF;
	if (f & TCP_F_SHUT_WR)
		st |= REGION_SS_WR_CLOSED;
	if ((f & TCP_F_SHUT_WR) && (f & (TCP_F_FIN_RCVD | TCP_F_SHUT_RD)))
		st |= REGION_SS_HUP;
	if (c->pending_error)
		st |= REGION_SS_ERROR;
	return st;
}

/* Write line 0 of slot b's block where it changed (fields, then state, then seq), and wake. */
static void tcpd_publish(struct tcpd *u, unsigned b, struct region_stream_ctl *ctl,
			 struct stream_ring *tx, uint32_t state, uint32_t error, uint64_t eof_at,
			 uint32_t acceptq, uint32_t sndbuf)
{
	struct tcpd_bx *x = &u->bx[b];
	if (x->published && x->state == state && x->error == error && x->eof_at == eof_at &&
	    x->acceptq == acceptq && x->sndbuf == sndbuf)
		return;
	atomic_store_explicit(&ctl->error, error, memory_order_relaxed);
	atomic_store_explicit(&ctl->eof_at, eof_at, memory_order_relaxed);
	atomic_store_explicit(&ctl->acceptq, acceptq, memory_order_relaxed);
	atomic_store_explicit(&ctl->sndbuf, sndbuf, memory_order_relaxed);
	atomic_store_explicit(&ctl->state, state, memory_order_release);
	atomic_fetch_add_explicit(&ctl->seq, 1, memory_order_release);
	x->state = state;
	x->error = error;
	x->eof_at = eof_at;
	x->acceptq = acceptq;
	x->sndbuf = sndbuf;
	x->published = true;
	tcpd_wake(u, b);
	stream_ring_room_notify(tx); /* a sender blocked on room looks at the state again */
}

void tcpd_slot_init(struct tcpd *u, unsigned b, uint32_t state)
{
	struct region *r = tcpd_region(u, b / REGION_SLOTS_MAX);
	unsigned slot = b % REGION_SLOTS_MAX;
	if (!r)
		return;
	struct region_stream_ctl *ctl = region_stream_slot(r, slot);
	struct stream_ring *tx = region_stream_tx(r, slot), *rx = region_stream_rx(r, slot);
	uint64_t head = stream_ring_head(tx), tail = stream_ring_tail(rx);
	stream_ring_head_now(tx, &head);
	stream_ring_tail_now(rx, &tail);
	atomic_store_explicit(&ctl->tx_event, head, memory_order_relaxed);
	atomic_store_explicit(&ctl->rx_event, tail, memory_order_relaxed);
	/* The slot's previous socket's RX stamp must not time this one's first bytes (early data
	 * copied in at ACCEPT carries none): no stamp until tcpd places bytes. */
	atomic_store_explicit(&ctl->rx_stamp, 0, memory_order_relaxed);
	u->bx[b] = (struct tcpd_bx){0};
	tcpd_publish(u, b, ctl, tx, state, 0, 0, 0, 0);
}

/* ---- binds ---- */

void tcpd_bind_set(struct tcpd *u, unsigned b, uint32_t cid, uint32_t owner)
{
	struct tcpd_bind *bd = tcpd_bind_touch(u->st, b);
	memset((uint8_t *)bd + sizeof(bd->rec), 0, sizeof(*bd) - sizeof(bd->rec));
	bd->cid = cid;
	bd->owner = owner;
	tcpd_map_set(u, b);
}

void tcpd_bind_bases(struct tcpd *u, unsigned b, bool rx_too)
{
	struct region *r = tcpd_region(u, b / REGION_SLOTS_MAX);
	unsigned slot = b % REGION_SLOTS_MAX;
	struct tcp_conn *c = tcpd_conn(u, u->st->binds[b].cid);
	if (!r || !c)
		return;
	struct tcpd_bind *bd = tcpd_bind_touch(u->st, b);
	bd->tx_base_seq = c->iss + 1;
	bd->tx_base_index = stream_ring_tail(region_stream_tx(r, slot));
	bd->flags = (uint8_t)((bd->flags | TCPD_B_TX_BASE) & ~TCPD_B_RX_BASE);
	if (rx_too) {
		bd->rx_base_seq = c->irs + 1;
		bd->rx_base_index = stream_ring_head(region_stream_rx(r, slot));
		bd->flags |= TCPD_B_RX_BASE;
	}
}

void tcpd_release(struct tcpd *u, unsigned b)
{
	unsigned si = b / REGION_SLOTS_MAX, slot = b % REGION_SLOTS_MAX;
	uint32_t cid = u->st->binds[b].cid;
	struct region *r = tcpd_region(u, si);
	if (r) {
		/* Nothing more is read from the TX ring: all of it is given back. */
		struct stream_ring *tx = region_stream_tx(r, slot);
		uint64_t head;
		if (stream_ring_head_now(tx, &head) == 0)
			stream_ring_publish_tail(tx, head);
		struct region_stream_ctl *ctl = region_stream_slot(r, slot);
		struct tcpd_bx *x = &u->bx[b];
		atomic_store_explicit(&ctl->state, x->state | REGION_SS_RELEASED,
				      memory_order_release);
		atomic_fetch_add_explicit(&ctl->seq, 1, memory_order_release);
		stream_ring_room_notify(tx);
		tcpd_wake(u, b);
	}
	tcpd_store_begin(u->st);
	struct tcpd_bind *bd = tcpd_bind_touch(u->st, b);
	memset((uint8_t *)bd + sizeof(bd->rec), 0, sizeof(*bd) - sizeof(bd->rec));
	tcpd_store_end(u->st);
	tcpd_map_clear(u, cid);
	u->bx[b] = (struct tcpd_bx){0};
	u->stats.binds_released++;
	tcpd_session_maybe_done(u, si);
}

/* ---- keeping a slot in step ---- */

static void tcpd_sync_listener(struct tcpd *u, unsigned b, struct region *r)
{
	unsigned slot = b % REGION_SLOTS_MAX;
	struct tcp_listener *l = tcpd_lis(u, u->st->binds[b].cid);
	if (!l) {
		tcpd_release(u, b);
		return;
	}
	uint32_t state = (l->flags & TCP_F_SHUT_RD) ? REGION_SS_CLOSED : REGION_SS_LISTENING;
	uint32_t acceptq = (l->flags & TCP_F_SHUT_RD) ? 0 : l->acc_n;
	tcpd_publish(u, b, region_stream_slot(r, slot), region_stream_tx(r, slot), state, 0, 0,
		     acceptq, 0);
}

/* Latency: the application's bytes are taken up now. They enter tcpd and the stack here (the
 * turn of what this sync sends: tcpd_data.c), and the hop from the application ends here:
 * transit_from_app = now - the slot's TX stamp, once per stamp (the application stamps every
 * publication of its head; several may be taken in one look, and then the newest is timed).
 * The stamp is the client's word: region_tx_transit refuses a zero, future or absurdly old one
 * (counted), and it reaches nothing but that histogram. The head was loaded (acquire) before
 * and the application stores the stamp before the head, so the stamp is at least as new as
 * the bytes, and the clock read after it is later than an honest one. */
static void tcpd_tx_taken(struct tcpd *u, unsigned b, const struct region_stream_ctl *ctl)
{
	uint64_t now = clock_now();
	u->turn_arr = u->turn_in = now;
	uint64_t t = atomic_load_explicit(&ctl->tx_stamp, memory_order_relaxed), ns;
	if (t == u->bx[b].tx_stamp_seen)
		return;
	u->bx[b].tx_stamp_seen = t;
	if (region_tx_transit(t, now, &ns) < 0) {
		u->stats.tx_stamp_bad++;
		return;
	}
	hist_add(&u->transit_from_app, ns);
}

/* Latency: the RX head about to be published carries bytes placed at bx.rx_placed_at (the
 * newest): store that as the slot's RX stamp before the head (the application reads it after
 * loading the head), once per placement time, and count one credit for the sample the
 * application may report of it (region_app_collect). */
static void tcpd_rx_stamp(struct tcpd *u, unsigned b, struct region_stream_ctl *ctl)
{
	struct tcpd_bx *x = &u->bx[b];
	if (!x->rx_placed_at || x->rx_placed_at == x->rx_stamped)
		return;
	x->rx_stamped = x->rx_placed_at;
	atomic_store_explicit(&ctl->rx_stamp, x->rx_placed_at, memory_order_relaxed);
	u->sx[b / REGION_SLOTS_MAX].app_credit++;
}

void tcpd_app_collect(struct tcpd *u, unsigned si)
{
	struct region *r = tcpd_region(u, si);
	if (!r)
		return;
	region_app_collect_count(r->app_stats, &u->sx[si].app_last, &u->app_transit_from_tcpd,
				 &u->sx[si].app_credit, &u->stats.app_hist_over_credit,
				 &u->stats.app_hist_went_down);
}

/* Steps 1 and 2 of the file comment. False if the session was ended (a broken ring). */
static bool tcpd_sync_in(struct tcpd *u, unsigned b, struct tcp_conn *c, struct region *r,
			 uint64_t now, uint64_t *tx_seen, uint64_t *rx_seen)
{
	const struct tcpd_bind *bd = &u->st->binds[b];
	unsigned slot = b % REGION_SLOTS_MAX;
	struct stream_ring *tx = region_stream_tx(r, slot), *rx = region_stream_rx(r, slot);
	uint32_t cid = bd->cid, owner = bd->owner;
	if (stream_ring_tail_now(rx, rx_seen) < 0) {
		tcpd_hostile(u, b, "RX");
		return false;
	}
	if (stream_ring_head_now(tx, tx_seen) < 0) {
		tcpd_hostile(u, b, "TX");
		return false;
	}
	if (bd->flags & TCPD_B_ORPHAN)
		return true; /* closed: the core reads nothing more from the application */
	if (bd->flags & TCPD_B_RX_BASE) {
		uint64_t read = tcpd_rx_index(bd, c->read_seq);
		uint32_t unread = tcpd_rcv_end(c) - c->read_seq;
		if (*rx_seen > read) {
			uint64_t n = *rx_seen - read;
			if (n > unread)
				n = unread; /* a tail past the data: the ring refused it already */
			if (n && tcp_recvd(u->t, owner, cid, now, (uint32_t)n, tcpd_io(u)) == 0)
				u->stats.sync_rx_read += n;
		}
	}
	bool can_send = (bd->flags & TCPD_B_TX_BASE) && c->pending_error == 0 &&
			!(c->flags & TCP_F_SHUT_WR) &&
			(c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_CLOSE_WAIT ||
			 c->state == TCP_STATE_SYN_SENT || c->state == TCP_STATE_SYN_RECEIVED);
	if (can_send) {
		uint64_t taken = tcpd_tx_index(bd, c->write_seq);
		uint64_t head = *tx_seen;
		struct region_stream_ctl *ctl = region_stream_slot(r, slot);
		uint64_t push = atomic_load_explicit(&ctl->tx_push, memory_order_acquire);
		if (push - taken > head - taken)
			push = head; /* not in [taken, head]: nothing is corked */
		uint32_t space = tcp_send_space(c);
		bool corked = c->flags & TCP_F_MORE;
		uint64_t n1 = push - taken < space ? push - taken : space;
		if (head != taken && space)
			tcpd_tx_taken(u, b, ctl);
		if (n1 || (corked && push == head)) {
			if (tcp_send(u->t, owner, cid, now, (uint32_t)n1, 0, tcpd_io(u)) == 0)
				u->stats.sync_tx_taken += n1;
			space -= (uint32_t)n1;
		}
		uint64_t n2 = head - push < space ? head - push : space;
		if (n2 && push - taken == n1 &&
		    tcp_send(u->t, owner, cid, now, (uint32_t)n2, MSG_MORE, tcpd_io(u)) == 0)
			u->stats.sync_tx_taken += n2;
	}
	return true;
}

/* Steps 3 to 5 of the file comment. */
static void tcpd_sync_out(struct tcpd *u, unsigned b, struct tcp_conn *c, struct region *r)
{
	const struct tcpd_bind *bd = &u->st->binds[b];
	unsigned slot = b % REGION_SLOTS_MAX;
	struct stream_ring *tx = region_stream_tx(r, slot), *rx = region_stream_rx(r, slot);
	struct region_stream_ctl *ctl = region_stream_slot(r, slot);
	bool over = c->state == TCP_STATE_CLOSED || c->state == TCP_STATE_TIME_WAIT;

	/* acknowledged bytes: the send buffer frees */
	uint64_t tail = stream_ring_tail(tx), to = tail;
	if (over) {
		if (stream_ring_head_now(tx, &to) < 0)
			to = tail;
	} else if (bd->flags & TCPD_B_TX_BASE) {
		uint32_t acked = c->snd_una;
		if (SEQ_LT(acked, bd->tx_base_seq))
			acked = bd->tx_base_seq; /* the SYN */
		if (SEQ_GT(acked, c->write_seq))
			acked = c->write_seq; /* the FIN */
		to = tcpd_tx_index(bd, acked);
	}
	if (to > tail && stream_ring_publish_tail(tx, to) == 0 && stream_ring_room_notify(tx))
		tcpd_wake(u, b);

	/* received bytes */
	uint64_t eof_at = 0;
	if (bd->flags & TCPD_B_RX_BASE) {
		uint64_t head = tcpd_rx_index(bd, tcpd_rcv_end(c));
		if (head > stream_ring_head(rx)) {
			tcpd_rx_stamp(u, b, ctl);
			if (stream_ring_publish_head(rx, head) == 0)
				tcpd_wake(u, b);
			else
				u->stats.rx_place_errors++;
		}
		if (c->flags & TCP_F_FIN_RCVD)
			eof_at = head;
	}

	uint32_t sndbuf = c->snd_buf < tx->size ? c->snd_buf : 0;
	uint32_t state = tcpd_conn_bits(c);
	if ((c->flags & TCP_F_FIN_RCVD) && !(bd->flags & TCPD_B_RX_BASE))
		state &= ~REGION_SS_RD_EOF; /* no stream to put the EOF in (never expected) */
	tcpd_publish(u, b, ctl, tx, state, c->pending_error, eof_at, 0, sndbuf);
}

/* Step 7: ask to hear of new TX bytes and of reads worth a window update; true if the indices
 * moved meanwhile (look again). */
static bool tcpd_sync_events(struct tcpd *u, unsigned b, const struct tcp_conn *c,
			     struct region *r, uint64_t tx_seen, uint64_t rx_seen)
{
	unsigned slot = b % REGION_SLOTS_MAX;
	struct stream_ring *tx = region_stream_tx(r, slot), *rx = region_stream_rx(r, slot);
	struct region_stream_ctl *ctl = region_stream_slot(r, slot);
	uint32_t unread = c->rcv_nxt - c->read_seq;
	uint64_t rx_ev = unread > c->rcv_buf / 2 ? rx_seen : rx_seen + c->rcv_buf / 4;
	atomic_store_explicit(&ctl->tx_event, tx_seen, memory_order_relaxed);
	atomic_store_explicit(&ctl->rx_event, rx_ev, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	uint64_t h = tx_seen, t = rx_seen;
	if (stream_ring_head_now(tx, &h) < 0 || stream_ring_tail_now(rx, &t) < 0)
		return false; /* the next sync ends the session */
	return h != tx_seen || t != rx_seen;
}

/* index(seq) = base_index + (uint32_t)(seq - base_seq) holds only while seq is less than 2^31
 * past base_seq (SEQ_LT, and the 32-bit difference wraps at 2^32): a base fixed at the ISN
 * stalled every connection after 2 GiB had gone one way (the TX tail stopped at index(ISN + 2^31)
 * and the retransmission read outside the ring). So each base follows its stream: once the
 * oldest byte still referred to (snd_una for TX: retransmissions; read_seq for RX: the
 * application's tail) is TCPD_REBASE_AT past it, base_seq moves there and base_index to that
 * byte's index. The line index(seq) is the same before and after, so a tcpd killed on either
 * side of the (journaled) change, with the core's table a little ahead or behind, maps every
 * sequence number it can meet to the same index. */
#define TCPD_REBASE_AT (1u << 30)

static void tcpd_bind_rebase(struct tcpd *u, unsigned b, const struct tcp_conn *c)
{
	const struct tcpd_bind *bd = &u->st->binds[b];
	uint32_t tx_from = SEQ_LT(c->write_seq, c->snd_una) ? c->write_seq : c->snd_una; /* FIN */
	uint32_t tx_d = tx_from - bd->tx_base_seq, rx_d = c->read_seq - bd->rx_base_seq;
	bool tx = (bd->flags & TCPD_B_TX_BASE) && tx_d >= TCPD_REBASE_AT && tx_d < (1u << 31);
	bool rx = (bd->flags & TCPD_B_RX_BASE) && rx_d >= TCPD_REBASE_AT && rx_d < (1u << 31);
	if (!tx && !rx)
		return;
	tcpd_store_begin(u->st);
	struct tcpd_bind *w = tcpd_bind_touch(u->st, b);
	if (tx) {
		w->tx_base_index += tx_d;
		w->tx_base_seq = tx_from;
	}
	if (rx) {
		w->rx_base_index += rx_d;
		w->rx_base_seq = c->read_seq;
	}
	tcpd_store_end(u->st);
	u->stats.stream_rebases++;
}

void tcpd_sync(struct tcpd *u, unsigned b, uint64_t now)
{
	for (unsigned round = 0; round < 3; round++) {
		const struct tcpd_bind *bd = &u->st->binds[b];
		unsigned si = b / REGION_SLOTS_MAX;
		struct region *r = tcpd_region(u, si);
		if (!bd->cid || !r)
			return;
		if (bd->cid & TCP_CID_LISTENER) {
			tcpd_sync_listener(u, b, r);
			return;
		}
		struct tcp_conn *c = tcpd_conn(u, bd->cid);
		if (!c) {
			tcpd_release(u, b); /* freed: its events were taken elsewhere */
			return;
		}
		if (!(bd->flags & TCPD_B_RX_BASE) && tcpd_irs_known(c)) {
			tcpd_store_begin(u->st);
			struct tcpd_bind *w = tcpd_bind_touch(u->st, b);
			w->rx_base_seq = c->irs + 1;
			w->rx_base_index = stream_ring_head(region_stream_rx(r, b % REGION_SLOTS_MAX));
			w->flags |= TCPD_B_RX_BASE;
			tcpd_store_end(u->st);
		}
		tcpd_bind_rebase(u, b, c);
		uint64_t tx_seen = 0, rx_seen = 0;
		if (!tcpd_sync_in(u, b, c, r, now, &tx_seen, &rx_seen))
			return;
		/* the core may have freed it meanwhile (a send into a reset connection) */
		c = tcpd_conn(u, bd->cid);
		if (!c) {
			tcpd_release(u, b);
			return;
		}
		tcpd_sync_out(u, b, c, r);
		if (bd->flags & TCPD_B_ORPHAN) {
			if (c->state == TCP_STATE_CLOSED || c->state == TCP_STATE_TIME_WAIT ||
			    c->state == TCP_STATE_FIN_WAIT_2)
				tcpd_release(u, b); /* the FIN is acknowledged (SO_LINGER's wait) */
			return;
		}
		if (u->x.sess[si].state != XPORT_SESS_ATTACHED ||
		    !tcpd_sync_events(u, b, c, r, tx_seen, rx_seen))
			return;
	}
}

bool tcpd_sync_pending(struct tcpd *u, uint64_t now)
{
	unsigned budget = TCPD_SYNC_BUDGET;
	for (unsigned si = 0; si < XPORT_SESSIONS_MAX; si++) {
		if (!u->sess_pending[si])
			continue;
		unsigned slot = 0;
		for (; slot < REGION_SLOTS_MAX && budget; slot++) {
			unsigned b = tcpd_bind_ix(si, slot);
			if (!u->bx[b].pending)
				continue;
			u->bx[b].pending = false;
			budget--;
			tcpd_sync(u, b, now);
			tcpd_io_run(u, now);
		}
		if (slot == REGION_SLOTS_MAX)
			u->sess_pending[si] = false;
		if (!budget)
			return true;
	}
	return false;
}

void tcpd_session_publish(struct tcpd *u, unsigned si, uint64_t now)
{
	struct region *r = tcpd_region(u, si);
	if (!r)
		return;
	for (unsigned slot = 0; slot < r->n_slots; slot++) {
		unsigned b = tcpd_bind_ix(si, slot);
		u->bx[b].published = false;
		if (u->st->binds[b].cid) {
			tcpd_sync(u, b, now);
			continue;
		}
		/* Not ours: the application may reuse it (a slot it saw CLOSING before a restart
		 * waits for this). */
		struct region_stream_ctl *ctl = region_stream_slot(r, slot);
		uint32_t st = atomic_load_explicit(&ctl->state, memory_order_relaxed);
		if (!(st & REGION_SS_RELEASED)) {
			atomic_store_explicit(&ctl->state, st | REGION_SS_RELEASED,
					      memory_order_release);
			atomic_fetch_add_explicit(&ctl->seq, 1, memory_order_release);
			xport_wake_mark(&u->x, si, slot);
		}
	}
	tcpd_io_run(u, now);
}

/* ---- events ---- */

void tcpd_event(struct tcpd *u, uint32_t cid, uint8_t ev, uint64_t now)
{
	unsigned b = tcpd_bind_of(u, cid);
	if (ev & TCP_EV_FREED) {
		if (!(cid & TCP_CID_LISTENER))
			tcpd_stage_free(u, cid & 0x7fffu);
		if (b != TCPD_BIND_NONE && u->st->binds[b].cid == cid)
			tcpd_release(u, b);
		return;
	}
	if (b != TCPD_BIND_NONE && u->st->binds[b].cid == cid)
		tcpd_sync(u, b, now);
}

/* ---- early data ---- */

bool tcpd_stage_ready(struct tcpd *u, unsigned idx, const struct tcp_conn *c)
{
	return tcpd_stage_get(&u->stg, idx, tcp_conn_cid(u->t, idx), c->rcv_buf) == 0;
}

void tcpd_stage_free(struct tcpd *u, unsigned idx)
{
	tcpd_stage_release(&u->stg, idx);
}

int tcpd_stage_place(struct tcpd *u, unsigned idx, const struct tcp_conn *c, uint32_t seq,
		     const struct buf *pkt, uint32_t off, uint32_t len)
{
	if (!tcpd_stage_ready(u, idx, c))
		return -ENOBUFS;
	uint32_t cap;
	uint8_t *data = tcpd_stage_data(&u->stg, idx, tcp_conn_cid(u->t, idx), &cap);
	uint32_t at = seq - (c->irs + 1);
	if (!data || at > cap || len > cap - at)
		return -EINVAL;
	if (buf_copy_out(pkt, off, data + at, len) < 0)
		return -EINVAL;
	u->stats.stage_bytes += len;
	return 0;
}

int tcpd_stage_deliver(struct tcpd *u, unsigned idx, unsigned b)
{
	const struct tcpd_bind *bd = &u->st->binds[b];
	struct region *r = tcpd_region(u, b / REGION_SLOTS_MAX);
	uint32_t cap;
	uint8_t *data = tcpd_stage_data(&u->stg, idx, bd->cid, &cap);
	if (!data || !r)
		return 0;
	struct stream_ring *rx = region_stream_rx(r, b % REGION_SLOTS_MAX);
	/* Everything placed so far, out-of-order ranges included, at its position: up to the
	 * highest byte received, not the whole window (a copy of rcv_buf per accept, and every
	 * page of the run faulted in). A FIN counted in rcv_nxt adds one byte nobody reads. */
	const struct tcp_conn *c = &u->t->conn[idx];
	uint32_t hi = c->rcv_nxt;
	if (c->asm_.n && c->asm_.n <= TCP_OOO_MAX)
		hi = seq_max(hi, c->asm_.ooo[c->asm_.n - 1].end); /* sorted: the last is highest */
	uint32_t n = hi - (c->irs + 1);
	if (n > cap)
		n = cap;
	if (n > rx->size)
		n = rx->size;
	int rc = stream_ring_write_at(rx, bd->rx_base_index, data, n);
	if (rc < 0) {
		u->stats.rx_place_errors++;
		return rc;
	}
	return 0;
}

/* ---- what tcp_input placed ---- */

void tcpd_place(struct tcpd *u, const struct tcp_rx_place *p, uint64_t now)
{
	uint32_t at = u->in_payload_at + p->seg_off;
	unsigned idx = p->cid & 0x7fffu;
	struct tcp_conn *c = tcpd_conn(u, p->cid);
	unsigned b = tcpd_bind_of(u, p->cid);
	if (!c) {
		u->stats.rx_place_nowhere++;
		return;
	}
	if (b == TCPD_BIND_NONE || u->st->binds[b].cid != p->cid) {
		if (c->owner == 0 && !(c->flags & TCP_F_ORPHAN)) {
			if (tcpd_stage_place(u, idx, c, p->stream_seq, u->in_pkt, at, p->len) == 0) {
				u->stats.rx_bytes += p->len;
				return;
			}
			/* the core took bytes we cannot keep: the connection cannot go on */
			u->stats.rx_drop_stage++;
			tcp_abort(u->t, p->cid, now, tcpd_io(u));
			return;
		}
		u->stats.rx_place_nowhere++;
		return;
	}
	struct region *r = tcpd_region(u, b / REGION_SLOTS_MAX);
	if (!r) {
		u->stats.rx_place_nowhere++;
		return;
	}
	if (!(u->st->binds[b].flags & TCPD_B_RX_BASE)) {
		tcpd_store_begin(u->st);
		struct tcpd_bind *w = tcpd_bind_touch(u->st, b);
		w->rx_base_seq = c->irs + 1;
		w->rx_base_index = stream_ring_head(region_stream_rx(r, b % REGION_SLOTS_MAX));
		w->flags |= TCPD_B_RX_BASE;
		tcpd_store_end(u->st);
	}
	const struct tcpd_bind *bd = &u->st->binds[b];
	struct stream_ring *rx = region_stream_rx(r, b % REGION_SLOTS_MAX);
	struct iovec sp[2];
	int n = stream_ring_spans(rx, tcpd_rx_index(bd, p->stream_seq), p->len, sp);
	if (n == -EBADMSG) {
		tcpd_hostile(u, b, "RX");
		return;
	}
	if (n < 0) {
		u->stats.rx_place_errors++;
		return;
	}
	size_t done = 0;
	for (int i = 0; i < n; i++) {
		if (buf_copy_out(u->in_pkt, at + done, sp[i].iov_base, sp[i].iov_len) < 0) {
			u->stats.rx_place_errors++;
			return;
		}
		done += sp[i].iov_len;
	}
	u->stats.rx_bytes += p->len;
	uint64_t t = clock_now();
	if (u->in_t_arr && t > u->in_t_arr)
		hist_add(&u->inside_to_app, t - u->in_t_arr);
	if (u->in_t_in && t > u->in_t_in)
		hist_add(&u->total_to_app, t - u->in_t_in);
	u->bx[b].rx_placed_at = t; /* the RX stamp of the head that will carry these bytes */
}
