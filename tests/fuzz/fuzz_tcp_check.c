/* fuzz_tcp_check: the TCP table's invariants for the fuzz targets (fuzz_tcp_check.h). */
#include "fuzz_tcp_check.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "tcp_priv.h"
#include "tcp_seq.h"
#include "tcp_table_audit.h"

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

/* The table's invariants (tcp_table_audit). Slots are taken from the free list in index order
 * after tcp_table_init and freed ones go to its tail, so until the list wraps every slot ever
 * used lies below the free head: only those are checked after each call (a whole-table scan
 * each time would cost more than the core), everything at the end (full). */
FTC_NO_COVERAGE void ftc_check_table(const char *who, const struct tcp_table *t, unsigned *hi_io,
				     bool full)
{
	char why[160];

	if (t->free_head == TCP_IDX_NONE || t->free_head < *hi_io)
		full = true; /* wrapped: anything may be in use */
	else
		*hi_io = t->free_head;
	if (tcp_table_audit(t, full ? TCP_CONNS_MAX : *hi_io, full, why, sizeof(why)) < 0)
		ftc_fail(who, why, *hi_io, full);
}

void ftc_timers(const char *who, struct tcp_table *t, struct tcp_io *io, uint64_t now)
{
	tcp_timers(t, now, io);
	if (io->n_tx < io->tx_max && io->n_ev < io->ev_max)
		FTC_CHECK(tcp_next_deadline(t) > now, tcp_next_deadline(t), now);
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
