/* tcp_table_audit: the TCP table's invariants (tcp_table_audit.h). */
#include "tcp_table_audit.h"

#include <stdio.h>

#include "clock.h"
#include "tcp_priv.h"
#include "tcp_seq.h"

#define AUDIT(cond, ...)                                 \
	do {                                             \
		if (!(cond)) {                           \
			snprintf(why, n, __VA_ARGS__);   \
			return -1;                       \
		}                                        \
	} while (0)

static int audit_free_list(const struct tcp_table *t, unsigned *free_n, char *why, size_t n)
{
	unsigned steps = 0;

	/* every free slot is on the free list, exactly once */
	for (unsigned i = t->free_head; i < TCP_CONNS_MAX && steps++ < TCP_CONNS_MAX;
	     i = t->conn[i].qnext) {
		AUDIT(!t->conn[i].in_use, "slot %u on the free list is in use", i);
		(*free_n)++;
		if (t->conn[i].qnext == TCP_IDX_NONE)
			AUDIT(t->free_tail == i, "free list ends at %u, free_tail %u", i,
			      t->free_tail);
	}
	return 0;
}

static int audit_conn(const struct tcp_table *t, unsigned i, char *why, size_t n)
{
	const struct tcp_conn *c = &t->conn[i];

	AUDIT(t->deadline[i] <= tcp_conn_deadline(c), "slot %u: cached deadline late", i);
	if (tcp_state_hashed(c->state))
		AUDIT(tcp_conn_find((struct tcp_table *)t, c->laddr, c->lport, c->raddr,
				    c->rport) == c,
		      "slot %u (state %u) not in the 4-tuple hash", i, c->state);
	AUDIT(!!(c->flags & TCP_F_BOUND) == (c->lport != 0), "slot %u: BOUND %u, port %u", i,
	      !!(c->flags & TCP_F_BOUND), c->lport);
	AUDIT(SEQ_LEQ(c->snd_una, c->snd_nxt) && SEQ_LEQ(c->snd_nxt, c->snd_max),
	      "slot %u: una %u nxt %u max %u", i, c->snd_una, c->snd_nxt, c->snd_max);
	if (tcp_state_synced(c->state) || c->state == TCP_STATE_SYN_RECEIVED)
		AUDIT(SEQ_LEQ(c->read_seq, c->rcv_nxt), "slot %u: read_seq %u past rcv_nxt %u", i,
		      c->read_seq, c->rcv_nxt);
	if (c->owner == 0)
		AUDIT((c->flags & TCP_F_ORPHAN) || c->parent != TCP_IDX_NONE,
		      "slot %u: nobody's and nobody will free it", i);
	return 0;
}

/* the 4-tuple chains hold exactly the hashed connections: a freed or CLOSED slot left in one
 * cuts off whatever was behind it (and, reused, cross-links two chains) */
static int audit_chains(const struct tcp_table *t, char *why, size_t n)
{
	unsigned hashed = 0, chained = 0;

	for (unsigned i = 0; i < TCP_CONNS_MAX; i++)
		if (t->conn[i].in_use && tcp_state_hashed(t->conn[i].state))
			hashed++;
	for (unsigned b = 0; b < TCP_HASH_BUCKETS; b++) {
		unsigned steps = 0;

		for (unsigned i = t->hash[b]; i < TCP_CONNS_MAX; i = t->conn[i].hnext) {
			AUDIT(++steps <= hashed, "bucket %u: a cycle or a stale member", b);
			AUDIT(t->conn[i].in_use && tcp_state_hashed(t->conn[i].state),
			      "bucket %u holds slot %u (in use %u, state %u)", b, i,
			      t->conn[i].in_use, t->conn[i].state);
			chained++;
		}
	}
	AUDIT(chained == hashed, "%u slots chained, %u hashed", chained, hashed);
	return 0;
}

static int audit_listeners(const struct tcp_table *t, char *why, size_t n)
{
	for (unsigned i = 0; i < TCP_LISTENERS_MAX; i++) {
		const struct tcp_listener *l = &t->lis[i];
		unsigned k = 0, j, steps;

		if (!l->in_use)
			continue;
		for (j = l->acc_head, steps = 0; j < TCP_CONNS_MAX && steps < TCP_CONNS_MAX;
		     steps++, j = t->conn[j].qnext) {
			AUDIT(t->conn[j].parent == i, "accept queue of %u holds slot %u", i, j);
			k++;
		}
		AUDIT(k == l->acc_n, "listener %u: %u accepted queued, acc_n %u", i, k, l->acc_n);
		k = 0;
		for (j = l->syn_head, steps = 0; j < TCP_CONNS_MAX && steps < TCP_CONNS_MAX;
		     steps++, j = t->conn[j].qnext) {
			AUDIT(t->conn[j].parent == i, "SYN queue of %u holds slot %u", i, j);
			AUDIT(t->conn[j].state == TCP_STATE_SYN_RECEIVED,
			      "SYN queue of %u holds slot %u in state %u", i, j, t->conn[j].state);
			k++;
		}
		AUDIT(k == l->syn_n, "listener %u: %u SYNs queued, syn_n %u", i, k, l->syn_n);
	}
	return 0;
}

int tcp_table_audit(const struct tcp_table *t, unsigned hi, bool whole, char *why, size_t n)
{
	unsigned free_n = 0, used = 0;
	uint64_t next = CLOCK_NEVER;

	AUDIT(tcp_table_check(t) == 0, "tcp_table_check: %d", tcp_table_check(t));
	if (whole && audit_free_list(t, &free_n, why, n) < 0)
		return -1;
	for (unsigned i = 0; i < hi && i < TCP_CONNS_MAX; i++) {
		if (!t->conn[i].in_use)
			continue;
		used++;
		if (audit_conn(t, i, why, n) < 0)
			return -1;
		uint64_t d = tcp_conn_deadline(&t->conn[i]);
		if (d < next)
			next = d;
	}
	AUDIT(t->next_deadline <= next, "next_deadline %llu after a slot's %llu",
	      (unsigned long long)t->next_deadline, (unsigned long long)next);
	if (whole) {
		AUDIT(free_n + used == TCP_CONNS_MAX, "%u free + %u used slots, not %u", free_n, used,
		      TCP_CONNS_MAX);
		if (audit_chains(t, why, n) < 0)
			return -1;
	}
	return audit_listeners(t, why, n);
}
