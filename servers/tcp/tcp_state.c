/* tcp_state: the one function that changes a connection's state (STYLE 14), the events the
 * shell wakes applications with, and the ends of a connection (CLOSED, TIME-WAIT, freeing).
 *
 * Counters kept here as Linux's tcp_set_state/tcp_done keep them: CurrEstab is a gauge of
 * ESTABLISHED + CLOSE-WAIT; EstabResets counts ESTABLISHED or CLOSE-WAIT -> CLOSED;
 * AttemptFails counts SYN-SENT or SYN-RECEIVED -> CLOSED. The pure core has no logger: a
 * transition is visible in these counters and in the state field the shell reads (`ss`).
 *
 * The 4-tuple hash follows the state here on the way out: leaving the hashed states (for
 * CLOSED) unhashes the connection, whichever path closes it (a reset, an abort, a listener
 * flushing its children, a free), so no chain ever holds a closed or freed slot. The ways in
 * (connect, a SYN's child) insert it themselves, once its 4-tuple is set.
 *
 * Events: c->events accumulates TCP_EV_* until the shell takes them (tcp_take_events); the
 * cid goes on io->ev the first time an event is raised and not again until taken, so the list
 * holds each cid once. When io->ev is full the event stays pending and tcp_output_deferred
 * lists it later (io_full counts it).
 */
#include <errno.h>

#include "tcp_priv.h"

static bool tcp_state_counted(unsigned s)
{
	return s == TCP_STATE_ESTABLISHED || s == TCP_STATE_CLOSE_WAIT;
}

void tcp_set_state(struct tcp_table *t, struct tcp_conn *c, enum tcp_state s)
{
	unsigned old = c->state;

	if (old == (unsigned)s)
		return;
	if (tcp_state_counted(s) && !tcp_state_counted(old))
		t->stats.curr_estab++;
	if (!tcp_state_counted(s) && tcp_state_counted(old) && t->stats.curr_estab)
		t->stats.curr_estab--;
	/* Off the 4-tuple hash here, where every way out of a hashed state passes: a CLOSED
	 * slot left in its chain (an abort's, a reset child's) is freed and wiped, its hnext
	 * with it, and cuts off every connection behind it in the chain, whose segments then
	 * found no connection (tcp_table.c). The ways in insert themselves, the 4-tuple set. */
	if (tcp_state_hashed(old) && !tcp_state_hashed(s))
		tcp_hash_remove(t, c);
	if (s == TCP_STATE_CLOSED) {
		if (tcp_state_counted(old))
			t->stats.estab_resets++;
		if (old == TCP_STATE_SYN_SENT || old == TCP_STATE_SYN_RECEIVED)
			t->stats.attempt_fails++;
	}
	c->state = (uint8_t)s;
}

void tcp_event(struct tcp_conn *c, struct tcp_io *io, uint32_t cid, uint8_t ev)
{
	c->events |= ev;
	if (c->ev_queued || !io)
		return;
	if (io->n_ev >= io->ev_max) {
		/* left pending: tcp_output_deferred lists it when the shell has room */
		return;
	}
	io->ev[io->n_ev++] = cid;
	c->ev_queued = 1;
}

void tcp_lis_event(struct tcp_listener *l, struct tcp_io *io, uint32_t lcid, uint8_t ev)
{
	l->events |= ev;
	if (l->ev_queued || !io || io->n_ev >= io->ev_max)
		return;
	io->ev[io->n_ev++] = lcid;
	l->ev_queued = 1;
}

void tcp_conn_release(struct tcp_table *t, struct tcp_conn *c, struct tcp_io *io)
{
	uint32_t cid = tcp_cid_of(t, c);

	tcp_event(c, io, cid, TCP_EV_FREED);
	tcp_conn_free(t, c);
}

static void tcp_timers_cancel(struct tcp_conn *c)
{
	c->t_rtx = c->t_delack = c->t_persist = c->t_keepalive = c->t_close = c->t_tlp =
		c->t_reo = 0;
	c->rtx_since = 0;
	c->probe_since = 0;
}

void tcp_conn_done(struct tcp_table *t, struct tcp_conn *c, int err, struct tcp_io *io)
{
	uint32_t cid = tcp_cid_of(t, c);
	uint8_t ev = TCP_EV_HUP | TCP_EV_READABLE | TCP_EV_WRITABLE;

	tcp_set_state(t, c, TCP_STATE_CLOSED); /* off the 4-tuple hash */
	tcp_timers_cancel(c);
	tcp_defer_clear(t, c);
	c->flags &= ~(TCP_F_ACK_NOW | TCP_F_WND_UPDATE);
	/* Linux tcp_done → inet_put_port: the port goes back unless bind() chose it. */
	if ((c->flags & TCP_F_BOUND) && !(c->flags & TCP_F_BINDPORT_LOCK)) {
		tcp_bhash_remove(t, c);
		c->lport = 0;
		c->flags &= ~(TCP_F_BOUND | TCP_F_CONNECT_PORT);
		if (!(c->flags & TCP_F_BINDADDR_LOCK))
			c->laddr = 0;
	}
	if (c->owner == 0) {
		/* an orphan, or a child no application has accepted: nobody will look at it */
		tcp_conn_release(t, c, io);
		return;
	}
	if (err > 0) {
		c->pending_error = (uint16_t)err;
		ev |= TCP_EV_ERROR;
	}
	c->flags |= TCP_F_SHUT_WR;
	tcp_event(c, io, cid, ev);
}

void tcp_enter_time_wait(struct tcp_table *t, struct tcp_conn *c, uint64_t now)
{
	tcp_set_state(t, c, TCP_STATE_TIME_WAIT);
	tcp_timers_cancel(c);
	tcp_defer_clear(t, c);
	tcp_timer_arm(t, c, &c->t_close, now + TCP_TIMEWAIT_NS);
}
