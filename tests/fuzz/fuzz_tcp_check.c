/* fuzz_tcp_check: the TCP table's invariants for the fuzz targets (fuzz_tcp_check.h). */
#include "fuzz_tcp_check.h"

#include <stdio.h>
#include <stdlib.h>

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
