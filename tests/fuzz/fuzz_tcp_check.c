/* fuzz_tcp_check: the TCP table's invariants for the fuzz targets (fuzz_tcp_check.h). */
#include "fuzz_tcp_check.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "tcp_priv.h"
#include "tcp_seq.h"

void ftc_fail(const char *who, const char *what, unsigned long a, unsigned long b)
{
	fprintf(stderr, "%s: %s (%lu, %lu)\n", who, what, a, b);
	abort();
}

#define FTC_CHECK(cond, a, b)                                                     \
	do {                                                                      \
		if (!(cond))                                                      \
			ftc_fail(who, #cond, (unsigned long)(a), (unsigned long)(b)); \
	} while (0)

/* The table's invariants. Slots are taken from the free list in index order after
 * tcp_table_init and freed ones go to its tail, so until the list wraps every slot ever used
 * lies below the free head: only those are scanned after each call (a whole-table scan each
 * time would cost more than the core), everything at the end (full). */
FTC_NO_COVERAGE void ftc_check_table(const char *who, const struct tcp_table *t, unsigned *hi_io,
				     bool full)
{
	unsigned free_n = 0, used = 0, steps = 0, hi;
	unsigned i = t->free_head;
	uint64_t next = CLOCK_NEVER;

	if (t->free_head == TCP_IDX_NONE || t->free_head < *hi_io)
		full = true; /* wrapped: anything may be in use */
	else
		*hi_io = t->free_head;
	hi = full ? TCP_CONNS_MAX : *hi_io;
	FTC_CHECK(tcp_table_check(t) == 0, 0, 0);
	while (full && i < TCP_CONNS_MAX && steps++ < TCP_CONNS_MAX) {
		FTC_CHECK(!t->conn[i].in_use, i, 0);
		free_n++;
		if (t->conn[i].qnext == TCP_IDX_NONE)
			FTC_CHECK(t->free_tail == i, t->free_tail, i);
		i = t->conn[i].qnext;
	}
	for (i = 0; i < hi; i++) {
		const struct tcp_conn *c = &t->conn[i];
		uint64_t d;

		if (!c->in_use)
			continue;
		used++;
		d = tcp_conn_deadline(c);
		FTC_CHECK(t->deadline[i] <= d, i, c->state);
		if (d < next)
			next = d;
		if (tcp_state_hashed(c->state))
			FTC_CHECK(tcp_conn_find((struct tcp_table *)t, c->laddr, c->lport, c->raddr,
						c->rport) == c,
				  i, c->state);
		FTC_CHECK(!!(c->flags & TCP_F_BOUND) == (c->lport != 0), i, c->flags);
		FTC_CHECK(SEQ_LEQ(c->snd_una, c->snd_nxt) && SEQ_LEQ(c->snd_nxt, c->snd_max), i,
			  c->state);
		if (tcp_state_synced(c->state) || c->state == TCP_STATE_SYN_RECEIVED)
			FTC_CHECK(SEQ_LEQ(c->read_seq, c->rcv_nxt), i, c->rcv_nxt - c->read_seq);
		if (c->owner == 0)
			FTC_CHECK((c->flags & TCP_F_ORPHAN) || c->parent != TCP_IDX_NONE, i,
				  c->state);
	}
	if (full)
		FTC_CHECK(free_n + used == TCP_CONNS_MAX, free_n, used);
	FTC_CHECK(t->next_deadline <= next, t->next_deadline, next);
	for (i = 0; i < TCP_LISTENERS_MAX; i++) {
		const struct tcp_listener *l = &t->lis[i];
		unsigned n = 0, j = l->acc_head;

		if (!l->in_use)
			continue;
		for (steps = 0; j < TCP_CONNS_MAX && steps < TCP_CONNS_MAX; steps++) {
			FTC_CHECK(t->conn[j].parent == i, j, i);
			n++;
			j = t->conn[j].qnext;
		}
		FTC_CHECK(n == l->acc_n, n, l->acc_n);
		n = 0;
		for (j = l->syn_head, steps = 0; j < TCP_CONNS_MAX && steps < TCP_CONNS_MAX;
		     steps++) {
			FTC_CHECK(t->conn[j].parent == i, j, i);
			FTC_CHECK(t->conn[j].state == TCP_STATE_SYN_RECEIVED, j, t->conn[j].state);
			n++;
			j = t->conn[j].qnext;
		}
		FTC_CHECK(n == l->syn_n, n, l->syn_n);
	}
}

FTC_NO_COVERAGE void ftc_wind_down(const char *who, struct tcp_table *t, struct tcp_io *io,
				   uint64_t *now, unsigned *hi, unsigned passes,
				   void (*timers)(void), void (*settle)(void))
{
	for (unsigned i = 0; i < passes; i++) {
		uint64_t d = tcp_next_deadline(t);

		if (d == CLOCK_NEVER)
			break;
		if (d > *now)
			*now = d;
		timers();
	}
	for (unsigned i = 0; i < TCP_CONNS_MAX; i++) {
		uint32_t cid = tcp_conn_cid(t, i);

		if (cid) {
			FTC_CHECK(tcp_abort(t, cid, *now, io) == 0, cid, 0);
			settle();
		}
	}
	if (tcp_next_deadline(t) != CLOCK_NEVER) {
		if (tcp_next_deadline(t) > *now)
			*now = tcp_next_deadline(t);
		timers();
	}
	ftc_check_table(who, t, hi, true);
	for (unsigned i = 0; i < TCP_CONNS_MAX; i++)
		FTC_CHECK(!t->conn[i].in_use, i, t->conn[i].state);
	for (unsigned i = 0; i < TCP_LISTENERS_MAX; i++)
		FTC_CHECK(!t->lis[i].in_use, i, 0);
	FTC_CHECK(tcp_next_deadline(t) == CLOCK_NEVER, tcp_next_deadline(t), 0);
}

struct tcp_conn *ftc_conn(struct tcp_table *t, uint32_t cid)
{
	unsigned idx = cid & 0x7fffu;

	if (!cid || (cid & TCP_CID_LISTENER) || idx >= TCP_CONNS_MAX)
		return NULL;
	if (tcp_conn_cid(t, idx) != cid)
		return NULL;
	return &t->conn[idx];
}

void ftc_check_tx(const char *who, struct tcp_table *t, const struct tcp_io *io, bool ports)
{
	for (unsigned i = 0; i < io->n_tx; i++) {
		const struct tcp_tx *x = &io->tx[i];
		const struct tcp_conn *c;
		uint32_t start;

		FTC_CHECK(x->opt_len <= TCP_OPT_SPACE && x->opt_len % 4 == 0, x->opt_len, i);
		if (ports)
			FTC_CHECK(x->sport && x->dport, ntohs(x->sport), ntohs(x->dport));
		if (x->gso_size)
			FTC_CHECK(t->host.tso && x->payload_len <= t->host.tso_max, x->payload_len,
				  x->gso_size);
		else
			FTC_CHECK(x->payload_len <= 65535u - 40u, x->payload_len, 0);
		if (!x->payload_len)
			continue;
		FTC_CHECK(x->cid != 0, x->payload_len, x->flags);
		c = ftc_conn(t, x->cid);
		if (!c)
			continue; /* freed later in the same call: the shell drops the segment */
		start = x->seq + !!(x->flags & TCP_SYN);
		FTC_CHECK(SEQ_GEQ(start, c->snd_una), start, c->snd_una);
		FTC_CHECK(SEQ_LEQ(start + x->payload_len, c->write_seq), start + x->payload_len,
			  c->write_seq);
	}
}

void ftc_settle(const char *who, struct tcp_table *t, struct tcp_io *io, uint64_t now,
		unsigned *hi, bool ports, void (*keep)(void))
{
	for (unsigned round = 0; round < 8; round++) {
		bool full = io->n_tx == io->tx_max;

		ftc_check_tx(who, t, io, ports);
		if (keep)
			keep();
		for (unsigned i = 0; i < io->n_ev; i++)
			tcp_take_events(t, io->ev[i]);
		io->n_tx = 0;
		io->n_ev = 0;
		memset(&io->place, 0, sizeof(io->place));
		if (!full && t->n_deferred == 0)
			break;
		tcp_output_deferred(t, now, io);
	}
	ftc_check_table(who, t, hi, false);
}
