/* test_tcp_table: the table as a state segment (tcp_table.c): the header checks, and recovery
 * after a restart — every record validated on its own, a torn one dropped (dropped_torn) and
 * only it, the derived data (hashes, free list, queues and their counts, the deadline cache,
 * the CurrEstab gauge) rebuilt from the records whatever garbage they held, the accept queue's
 * order kept, timers firing afterwards as before; and cids that go stale with their slot. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "helper_check.h"
#include "helper_tcp.h"

static struct th w;

static void setup(void) { th_init(&w, false); }
static void teardown(void) { th_fini(&w); }

START_TEST(header_checks)
{
	struct tcp_table *t = w.t;

	ck_assert_int_eq(tcp_table_check(t), 0);
	t->magic ^= 1;
	ck_assert_int_eq(tcp_table_check(t), -EPROTO);
	t->magic ^= 1;
	t->version++;
	ck_assert_int_eq(tcp_table_check(t), -EPROTO);
	t->version--;
	t->size--;
	ck_assert_int_eq(tcp_table_check(t), -EINVAL);
	t->size++;
	t->port_lo = 0;
	ck_assert_int_eq(tcp_table_check(t), -EINVAL);
	t->port_lo = TCP_PORT_EPH_LO;
	ck_assert_int_eq(tcp_set_port_range(t, 5000, 4000), -EINVAL);
	ck_assert_int_eq(tcp_table_check(t), 0);
}
END_TEST

START_TEST(stale_cids)
{
	uint32_t a, b;

	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &a), 0);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, a, w.now, &w.io), 0);
	ck_assert_ptr_null(tcp_conn_get(w.t, TH_OWNER, a));
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, a, w.now, &w.io), -EBADF);
	/* the slot is reused last, and then under another generation */
	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &b), 0);
	ck_assert_uint_ne(a, b);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, a, w.now, &w.io), -EBADF);
	ck_assert_uint_eq(tcp_conn_cid(w.t, b & 0xffffu), b);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, b, w.now, &w.io), 0);
}
END_TEST

/* A table with a bit of everything. */
struct scene {
	uint32_t est, tw, lcid, acc[3], bad;
};

static void build(struct scene *sc)
{
	struct tcp_conn *c;
	uint32_t s;

	c = th_conn(&w, SPEC(.flags = TCP_F_NODELAY), &sc->est);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, sc->est, w.now, 100, 0, &w.io), 0);
	c = th_conn(&w, SPEC(), &sc->tw);
	tcp_hash_remove(w.t, c);
	c->rport = 0x0202;
	tcp_hash_insert(w.t, c);
	th_conn_move(&w, c, TCP_STATE_TIME_WAIT);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, sc->tw, w.now, &w.io), 0);
	c = th_conn(&w, SPEC(), &sc->bad);
	tcp_hash_remove(w.t, c);
	c->rport = 0x0303;
	tcp_hash_insert(w.t, c);
	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &s), 0);
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, s, 0, 0x5000), 0);
	ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, s, 10, &sc->lcid), 0);
	for (unsigned i = 0; i < 5; i++) {
		const struct tcp_tx *sa;

		th_io_reset(&w);
		th_in(&w, SEG(.flags = TCP_SYN, .seq = 100 * i, .sport = (uint16_t)(0x0a00 + i),
			      .dport = 0x5000));
		sa = expect_tx(&w, .flags = TCP_SYN | TCP_ACK);
		if (i < 3)
			th_in(&w, SEG(.seq = 100 * i + 1, .ack = sa->seq + 1,
				      .sport = (uint16_t)(0x0a00 + i), .dport = 0x5000));
	}
	/* accept order: 0x0a00, 0x0a01, 0x0a02; two more in the SYN queue */
}

START_TEST(recover_drops_only_the_torn_record)
{
	struct scene sc;
	struct tcp_table *t2;
	struct tcp_conn *c;
	uint64_t est_rtx;
	unsigned live;

	build(&sc);
	est_rtx = tcp_conn_by_cid(w.t, sc.est)->t_rtx;
	/* a kill in mid-update: one record's sequence space is torn */
	c = tcp_conn_by_cid(w.t, sc.bad);
	c->snd_nxt = c->snd_una - 10;
	/* what the new process maps: the same bytes, derived data scribbled over */
	t2 = malloc(sizeof(*t2));
	ck_assert_ptr_nonnull(t2);
	memcpy(t2, w.t, sizeof(*t2));
	memset(t2->hash, 0x5a, sizeof(t2->hash));
	memset(t2->bhash, 0x17, sizeof(t2->bhash));
	memset(t2->lhash, 0x33, sizeof(t2->lhash));
	memset(t2->deadline, 0xff, sizeof(t2->deadline));
	t2->next_deadline = CLOCK_NEVER;
	t2->free_head = 3;
	t2->lis[tcp_cid_slot(sc.lcid)].acc_n = 77;
	t2->stats.curr_estab = 1234;
	free(w.t);
	w.t = t2;
	ck_assert_int_eq(tcp_table_check(w.t), 0);
	live = tcp_table_recover(w.t, w.now);
	/* est, tw, 3 accepted children, 2 SYN-RECEIVED children */
	ck_assert_uint_eq(live, 7);
	ck_assert_uint_eq(w.t->stats.dropped_torn, 1);
	ck_assert_uint_eq(w.t->stats.restored_conns, 7);
	ck_assert_ptr_null(tcp_conn_get(w.t, TH_OWNER, sc.bad));
	ck_assert_uint_eq(w.t->stats.curr_estab, 4); /* est + 3 children */
	th_check_table(w.t);
	ck_assert_uint_eq(tcp_next_deadline(w.t), est_rtx);
	/* the accept queue in its order */
	for (unsigned i = 0; i < 3; i++) {
		uint32_t cid;
		struct tcp_conn *ch;

		ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, sc.lcid, TH_OWNER, w.now, &w.io, &cid), 0);
		ch = tcp_conn_by_cid(w.t, cid);
		ck_assert_uint_eq(ch->rport, 0x0a00 + i);
	}
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, sc.lcid)->syn_n, 2);
	/* lookups work: the peer of the torn record gets a RST, the others are found */
	th_io_reset(&w);
	th_in(&w, SEG(.seq = 5001, .ack = 1001, .sport = 0x0303));
	expect_tx(&w, .flags = TCP_RST, .cid = 0);
	th_in(&w, SEG(.seq = 5001, .ack = 1101));
	ck_assert_uint_eq(tcp_conn_by_cid(w.t, sc.est)->snd_una, 1101);
	/* timers go on: TIME-WAIT ends on time */
	th_run_until(&w, w.now + TCP_TIMEWAIT_NS);
	ck_assert_uint_eq(w.t->conn[tcp_cid_slot(sc.tw)].in_use, 0);
}
END_TEST

START_TEST(recover_drops_children_of_a_torn_listener)
{
	struct scene sc;
	unsigned live;

	build(&sc);
	w.t->lis[tcp_cid_slot(sc.lcid)].backlog = 0xffff; /* torn */
	live = tcp_table_recover(w.t, w.now);
	/* est, tw, bad: the listener and its 5 children go */
	ck_assert_uint_eq(live, 3);
	ck_assert_uint_eq(w.t->stats.dropped_torn, 6);
	ck_assert_ptr_null(tcp_listener_get(w.t, TH_OWNER, sc.lcid));
	th_check_table(w.t);
}
END_TEST

START_TEST(recover_rejects_garbage_records)
{
	static const unsigned n = 40;
	uint32_t seed = 99;
	unsigned live;

	for (unsigned i = 0; i < n; i++) {
		uint32_t cid;
		struct tcp_conn *c = th_conn(&w, SPEC(), &cid);
		uint8_t *p = (uint8_t *)c;

		tcp_hash_remove(w.t, c);
		c->rport = (uint16_t)(0x1000 + i);
		tcp_hash_insert(w.t, c);
		/* scribble over a few bytes of every other record */
		if (i % 2)
			for (unsigned k = 0; k < 8; k++) {
				seed = seed * 1103515245u + 12345u;
				p[(seed >> 8) % sizeof(*c)] = (uint8_t)(seed >> 24);
			}
	}
	live = tcp_table_recover(w.t, w.now);
	ck_assert_uint_ge(live, n / 2);
	ck_assert_uint_eq(live + w.t->stats.dropped_torn, n);
	th_check_table(w.t);
	/* whatever survived still answers, and nothing crashes on the rest */
	for (unsigned i = 0; i < n; i++) {
		th_io_reset(&w);
		th_in(&w, SEG(.seq = 5001, .ack = 1001, .len = 10,
			      .sport = (uint16_t)(0x1000 + i)));
	}
	th_run_until(&w, w.now + 10 * TH_S);
	th_check_table(w.t);
	tcp_close_owner(w.t, TH_OWNER, w.now, &w.io);
	tcp_close_owner(w.t, 0, w.now, &w.io);
}
END_TEST

START_TEST(full_table_takes_the_oldest_time_wait)
{
	uint32_t cid, s, lcid, first = 0;
	unsigned n = 0;

	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &s), 0);
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, s, 0, 0x5000), 0);
	ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, s, 10, &lcid), 0);
	/* fill every slot with TIME-WAIT connections, oldest first */
	while (tcp_socket_open(w.t, TH_OWNER, 0, NULL, &cid) == 0) {
		struct tcp_conn *c;

		ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
		c = th_conn(&w, SPEC(), &cid);
		tcp_hash_remove(w.t, c);
		c->rport = (uint16_t)(0x1000 + n);
		tcp_hash_insert(w.t, c);
		th_conn_move(&w, c, TCP_STATE_TIME_WAIT);
		ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
		if (!n)
			first = cid;
		n++;
		w.now += TH_MS;
		th_io_reset(&w);
	}
	ck_assert_uint_eq(n, TCP_CONNS_MAX);
	/* socket() without io cannot announce a freed slot: the table is full */
	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &cid), -ENFILE);
	/* a SYN still gets a connection: the TIME-WAIT nearest its end makes room, and its
	 * cid reads as freed even though the new child took the very slot */
	th_io_reset(&w);
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 1, .sport = 0x7777, .dport = 0x5000));
	expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .cid = TH_ANY);
	ck_assert_uint_ne(w.io.tx[0].cid, 0);
	ck_assert_uint_eq(w.t->stats.tcp_time_wait_overflow, 1);
	ck_assert_uint_eq(th_events(&w, first), TCP_EV_FREED);
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->syn_n, 1);
	th_run_until(&w, w.now + TCP_TIMEWAIT_NS + 100 * TH_S);
}
END_TEST

/* socket() in a table full of TIME-WAIT: Linux keeps those apart from its sockets, so a new
 * socket takes the orphan nearest its end; a TIME-WAIT connection its application still holds
 * (shut down, the peer's FIN read, not closed) is that application's socket, never taken. */
START_TEST(socket_takes_a_time_wait_orphan_never_a_held_one)
{
	uint32_t cid, held = 0, first_orphan = 0;

	for (unsigned n = 0; n < TCP_CONNS_MAX; n++) {
		struct tcp_conn *c = th_conn(&w, SPEC(), &cid);

		tcp_hash_remove(w.t, c);
		c->rport = (uint16_t)(0x1000 + n);
		tcp_hash_insert(w.t, c);
		th_conn_move(&w, c, TCP_STATE_TIME_WAIT);
		if (n == 0)
			held = cid; /* the oldest, kept by its application */
		else
			ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
		if (n == 1)
			first_orphan = cid;
		w.now += TH_MS;
		th_io_reset(&w);
	}
	/* without io the freed slot could not be announced: full */
	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, w.now, NULL, &cid), -ENFILE);
	ck_assert_uint_eq(w.t->stats.tcp_time_wait_overflow, 0);
	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, w.now, &w.io, &cid), 0);
	ck_assert_uint_eq(w.t->stats.tcp_time_wait_overflow, 1);
	ck_assert_uint_eq(th_events(&w, first_orphan), TCP_EV_FREED);
	ck_assert_ptr_nonnull(tcp_conn_get(w.t, TH_OWNER, held));
	ck_assert_uint_eq(tcp_conn_get(w.t, TH_OWNER, held)->state, TCP_STATE_TIME_WAIT);
	ck_assert_ptr_nonnull(tcp_conn_get(w.t, TH_OWNER, cid));
	ck_assert_uint_eq(tcp_conn_get(w.t, TH_OWNER, cid)->state, TCP_STATE_CLOSED);
	th_run_until(&w, w.now + TCP_TIMEWAIT_NS + 100 * TH_S);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_table");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, header_checks);
	tcase_add_test(tc, stale_cids);
	tcase_add_test(tc, recover_drops_only_the_torn_record);
	tcase_add_test(tc, recover_drops_children_of_a_torn_listener);
	tcase_add_test(tc, recover_rejects_garbage_records);
	tcase_add_test(tc, full_table_takes_the_oldest_time_wait);
	tcase_add_test(tc, socket_takes_a_time_wait_orphan_never_a_held_one);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
