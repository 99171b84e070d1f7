/* test_tcp_store: tcpd's state segment payload (servers/tcp/tcpd_store.h) across a kill in the
 * middle of a request: the request's steps as tcpd_requests.c takes them (the transaction, the
 * core records it may write saved, the core call, the slot and the bind, the reply), the
 * commit never reached, then recovery. The core's change must roll back with the slot and the
 * bind, nothing may be dropped or repaired, and the request re-sent by libsock must succeed as
 * the first run would have. (Before the core's records joined the transaction, a kill there
 * left a listener its slot did not name, closed by recovery: listen() failed with EBADF; a
 * bound socket whose re-sent bind() failed with EINVAL.) The journal's own cut-at-every-store
 * guarantees are test_state_journal's. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "helper_tcp.h"
#include "tcpd_store.h"

#define SLOT 3u
#define PORT 0x5000 /* network order: any fixed port */

static struct tcpd_state *st;
static uint32_t owner;
static struct tcp_tx txs[64];
static uint32_t evs[64];
static struct tcp_io io;

static void setup(void)
{
	static const uint8_t seed[32] = {7};
	static const uint8_t secret[SESSION_SECRET_LEN] = {9};
	struct tcp_host h = {.addr = TH_LADDR, .prefix_len = 24, .mtu = 1500};
	st = calloc(1, sizeof(*st));
	ck_assert_ptr_nonnull(st);
	tcpd_store_init(st, seed, &h);
	tcpd_store_session_open(st, 0, 0x1234, secret, 1000, 8);
	owner = st->sessions[0].owner;
	io = (struct tcp_io){.tx = txs, .tx_max = 64, .ev = evs, .ev_max = 64};
}

static void teardown(void)
{
	free(st);
}

/* The request's transaction, up to its core call (tcpd_req_txn_begin, tcpd_req_dispatch). */
static void req_begin(enum tcpd_reach r, uint32_t cid)
{
	tcpd_store_begin(st);
	tcpd_rec_touch(st, 0);
	tcpd_store_save_core(st, r, cid);
}

/* ... and its end: the slot and the bind follow the socket, the reply is remembered. */
static void req_slot(uint32_t cid)
{
	tcpd_rec_touch(st, 0)->slot_sid[SLOT] = cid;
	struct tcpd_bind *b = tcpd_bind_touch(st, tcpd_bind_ix(0, SLOT));
	b->cid = cid;
	b->owner = owner;
}

static void req_end(uint64_t id, int status, uint32_t sid)
{
	struct xport_reply_rec rr = {.id = id, .status = status, .sid = sid, .op = 1};
	xport_rec_reply(&st->journal, st->sessions, 0, &rr);
	tcpd_store_end(st);
}

/* tcpd killed: what the next one finds. Nothing may have been dropped or repaired. */
static void killed_and_recovered(void)
{
	io.n_tx = io.n_ev = 0;
	ck_assert_int_ge(tcpd_store_recover(st, TH_T0, &io, NULL, NULL), 0);
	ck_assert_uint_eq(st->stats.state_sessions_dropped, 0);
	ck_assert_uint_eq(st->stats.state_slots_cleared, 0);
	ck_assert_uint_eq(st->stats.state_orphans_closed, 0);
	ck_assert_uint_eq(st->bstats.state_binds_dropped, 0);
	ck_assert_uint_eq(st->table.stats.dropped_torn, 0);
	ck_assert_uint_eq(st->journal.stats.bad_entries, 0);
	ck_assert_uint_eq(st->journal.stats.overflows, 0);
	ck_assert_uint_gt(st->journal.stats.rolled_back, 0);
	th_check_table(&st->table);
}

/* A socket in SLOT, committed, bound to PORT if bind. */
static uint32_t sock(bool bind)
{
	uint32_t cid;
	req_begin(TCPD_REACH_NEW, 0);
	ck_assert_int_eq(tcp_socket_open(&st->table, owner, TH_T0, &io, &cid), 0);
	req_slot(cid);
	req_end(1, 0, cid);
	if (bind) {
		req_begin(TCPD_REACH_SOCK, cid);
		ck_assert_int_eq(tcp_bind(&st->table, owner, cid, 0, PORT), 0);
		req_end(2, 0, 0);
	}
	return cid;
}

START_TEST(socket_killed_before_commit)
{
	uint32_t cid, again;
	req_begin(TCPD_REACH_NEW, 0);
	ck_assert_int_eq(tcp_socket_open(&st->table, owner, TH_T0, &io, &cid), 0);
	req_slot(cid);
	killed_and_recovered();
	ck_assert_uint_eq(st->sessions[0].slot_sid[SLOT], 0);
	ck_assert_ptr_null(tcp_conn_get(&st->table, owner, cid)); /* not an orphan to close */
	/* re-sent: the same socket again */
	req_begin(TCPD_REACH_NEW, 0);
	ck_assert_int_eq(tcp_socket_open(&st->table, owner, TH_T0, &io, &again), 0);
	ck_assert_uint_eq(again, cid);
}
END_TEST

/* The same in a table full of TIME-WAIT orphans: the one socket() takes is what rolls back. */
START_TEST(socket_in_a_full_table_killed_before_commit)
{
	uint32_t cid, again;
	for (unsigned n = 0; n < TCP_CONNS_MAX; n++) {
		struct tcp_conn *c;
		ck_assert_int_eq(tcp_socket_open(&st->table, owner, TH_T0, NULL, &cid), 0);
		c = tcp_conn_by_cid(&st->table, cid);
		/* a TIME-WAIT orphan as recovery validates one (tcp_table.c) */
		c->owner = 0;
		c->flags |= TCP_F_ORPHAN | TCP_F_BOUND | TCP_F_CONNECTED_ONCE;
		c->state = TCP_STATE_TIME_WAIT;
		c->laddr = TH_LADDR;
		c->lport = PORT;
		c->raddr = TH_RADDR;
		c->rport = (uint16_t)(n + 1);
		c->snd_mss = c->adv_mss = c->rcv_mss = 1460;
		c->t_close = TH_T0 + TCP_TIMEWAIT_NS + n; /* the first ends first */
	}
	uint32_t victim = tcp_conn_cid(&st->table, 0);
	req_begin(TCPD_REACH_NEW, 0);
	ck_assert_int_eq(tcp_socket_open(&st->table, owner, TH_T0, &io, &cid), 0);
	ck_assert_uint_eq(tcp_conn_cid(&st->table, 0), cid); /* took the first one's slot */
	req_slot(cid);
	killed_and_recovered();
	ck_assert_uint_eq(tcp_conn_cid(&st->table, 0), victim); /* back, not an orphan socket */
	req_begin(TCPD_REACH_NEW, 0);
	ck_assert_int_eq(tcp_socket_open(&st->table, owner, TH_T0, &io, &again), 0);
	ck_assert_uint_eq(again, cid);
}
END_TEST

START_TEST(bind_killed_before_commit)
{
	uint32_t cid = sock(false);
	req_begin(TCPD_REACH_SOCK, cid);
	ck_assert_int_eq(tcp_bind(&st->table, owner, cid, 0, PORT), 0);
	killed_and_recovered();
	ck_assert_uint_eq(tcp_conn_get(&st->table, owner, cid)->lport, 0);
	/* re-sent: bound as the first run would have, not EINVAL */
	req_begin(TCPD_REACH_SOCK, cid);
	ck_assert_int_eq(tcp_bind(&st->table, owner, cid, 0, PORT), 0);
	req_end(3, 0, 0);
}
END_TEST

START_TEST(listen_killed_before_commit)
{
	uint32_t cid = sock(true), lcid, again;
	req_begin(TCPD_REACH_LISTEN, cid);
	ck_assert_int_eq(tcp_listen(&st->table, owner, cid, 8, &lcid), 0);
	req_slot(lcid);
	killed_and_recovered();
	/* the socket it was, in its slot, bound; no listener */
	ck_assert_uint_eq(st->sessions[0].slot_sid[SLOT], cid);
	ck_assert_uint_eq(st->binds[tcpd_bind_ix(0, SLOT)].cid, cid);
	ck_assert_ptr_nonnull(tcp_conn_get(&st->table, owner, cid));
	ck_assert_ptr_null(tcp_listener_get(&st->table, owner, lcid));
	/* re-sent: listens, the same listener */
	req_begin(TCPD_REACH_LISTEN, cid);
	ck_assert_int_eq(tcp_listen(&st->table, owner, cid, 8, &again), 0);
	ck_assert_uint_eq(again, lcid);
	req_slot(lcid);
	req_end(3, 0, lcid);
	ck_assert_ptr_nonnull(tcp_listener_get(&st->table, owner, lcid));
}
END_TEST

START_TEST(close_killed_before_commit)
{
	uint32_t cid = sock(true), lcid;
	req_begin(TCPD_REACH_LISTEN, cid);
	ck_assert_int_eq(tcp_listen(&st->table, owner, cid, 8, &lcid), 0);
	req_slot(lcid);
	req_end(3, 0, lcid);
	req_begin(TCPD_REACH_SOCK, lcid);
	ck_assert_int_eq(tcp_close(&st->table, owner, lcid, TH_T0, &io), 0);
	tcpd_rec_touch(st, 0)->slot_sid[SLOT] = 0;
	killed_and_recovered();
	ck_assert_uint_eq(st->sessions[0].slot_sid[SLOT], lcid);
	ck_assert_ptr_nonnull(tcp_listener_get(&st->table, owner, lcid));
	/* re-sent: closes it (not EBADF) */
	req_begin(TCPD_REACH_SOCK, lcid);
	ck_assert_int_eq(tcp_close(&st->table, owner, lcid, TH_T0, &io), 0);
	tcpd_rec_touch(st, 0)->slot_sid[SLOT] = 0;
	req_end(4, 0, 0);
}
END_TEST

/* The core freed an orphan (here: close() of a socket that never connected frees it at once;
 * in the churn, the orphan's last ACK or TIME-WAIT's end, outside any transaction) and tcpd was
 * killed before the FREED event released the slot: the bind is intact and names a connection
 * that is gone. Recovery finishes the release and counts it as such, not as a dropped bind. */
START_TEST(orphan_freed_killed_before_release)
{
	uint32_t cid = sock(true);
	unsigned b = tcpd_bind_ix(0, SLOT);
	req_begin(TCPD_REACH_SOCK, cid);
	ck_assert_int_eq(tcp_close(&st->table, owner, cid, TH_T0, &io), 0);
	tcpd_rec_touch(st, 0)->slot_sid[SLOT] = 0;
	tcpd_bind_touch(st, b)->flags |= TCPD_B_ORPHAN; /* tcpd_req_close */
	req_end(3, 0, 0);
	ck_assert_uint_eq(tcp_conn_cid(&st->table, cid & 0x7fffu), 0); /* freed */
	/* killed here, before tcpd_release */
	io.n_tx = io.n_ev = 0;
	ck_assert_int_ge(tcpd_store_recover(st, TH_T0, &io, NULL, NULL), 0);
	ck_assert_uint_eq(st->bstats.state_binds_dropped, 0);
	ck_assert_uint_eq(st->bstats.state_binds_released, 1);
	ck_assert_uint_eq(st->binds[b].cid, 0);
	ck_assert(state_rec_valid(&st->binds[b].rec, TCPD_BIND_SEALED));
	ck_assert_uint_eq(st->stats.state_slots_cleared, 0);
	ck_assert_uint_eq(st->stats.state_orphans_closed, 0);
	ck_assert_uint_eq(st->table.stats.dropped_torn, 0);
	th_check_table(&st->table);
}
END_TEST

/* One segment from the peer at now, as th_in feeds one (test_tcp_store has no struct th). */
static void feed(uint64_t now, const struct th_seg *s)
{
	static uint8_t buf[TCP_HDR_MAX + 2048];
	unsigned hl = th_encode(s, buf);
	ck_assert_uint_le(s->len, 2048);
	memset(buf + hl, 0, s->len);
	struct tcp_seg_in in = {.saddr = TH_RADDR, .daddr = TH_LADDR, .hdr = buf,
				.seg_len = hl + s->len, .gso_segs = 1, .csum_ok = true};
	ck_assert_int_eq(tcp_input(&st->table, now, &in, &io), 0);
}

/* A passive child from peer port `port`: SYN, then the handshake's ACK with 100 bytes, before
 * any accept(): ESTABLISHED in its listener's accept queue with early data. */
static struct tcp_conn *child_with_early_data(uint16_t port)
{
	struct tcp_table *t = &st->table;
	feed(TH_T0, SEG(.flags = TCP_SYN, .seq = 9000, .sport = port, .dport = PORT));
	struct tcp_conn *x = tcp_conn_find(t, TH_LADDR, PORT, TH_RADDR, port);
	ck_assert_ptr_nonnull(x);
	feed(TH_T0 + TH_MS,
	     SEG(.seq = 9001, .ack = x->iss + 1, .len = 100, .sport = port, .dport = PORT));
	ck_assert_uint_eq(x->state, TCP_STATE_ESTABLISHED);
	return x;
}

/* Issue 9's stall (the churn test): a passive child in SYN-RECEIVED never took the handshake
 * ACK the peer sent for each of its SYN-ACKs; the peer, ESTABLISHED, waited for data. Here:
 * another child of the listener, X, shares C's 4-tuple chain and is in front of it (it came
 * later, and recovery rebuilds the chains in slot order); X completed its handshake and sent
 * data before anyone accepted it; an accept() of X was killed before its commit and rolled
 * back. Recovery then resets X (what arrived early for it died with tcpd's memory). The
 * reset took X to CLOSED before freeing it, and only a connection still in a hashed state
 * was unhashed: X's slot stayed in the chain, wiped (hnext gone), and every lookup of C's
 * 4-tuple ended there. C's ACK then met the listener, which answered it with a RST. */
START_TEST(synrecv_child_behind_a_reset_one_takes_its_ack_after_recovery)
{
	struct tcp_table *t = &st->table;
	uint32_t cid = sock(true), lcid, xcid;
	req_begin(TCPD_REACH_LISTEN, cid);
	ck_assert_int_eq(tcp_listen(t, owner, cid, 8, &lcid), 0);
	req_slot(lcid);
	req_end(3, 0, lcid);
	const uint16_t c_port = TH_RPORT;
	feed(TH_T0, SEG(.flags = TCP_SYN, .seq = 5000, .sport = c_port, .dport = PORT));
	struct tcp_conn *c = tcp_conn_find(t, TH_LADDR, PORT, TH_RADDR, c_port);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->state, TCP_STATE_SYN_RECEIVED);
	const uint32_t c_iss = c->iss;
	/* a peer port whose 4-tuple falls in C's chain */
	unsigned bucket = tcp_hash_bucket(t, TH_LADDR, PORT, TH_RADDR, c_port);
	uint16_t x_port = 0;
	for (uint32_t p = 1; p <= 0xffff && !x_port; p++)
		if (p != c_port && tcp_hash_bucket(t, TH_LADDR, PORT, TH_RADDR, (uint16_t)p) == bucket)
			x_port = (uint16_t)p;
	ck_assert_uint_ne(x_port, 0);
	child_with_early_data(x_port);
	ck_assert_uint_eq(t->lis[lcid & 0x7fffu].acc_n, 1);
	/* accept() of X, killed before its commit */
	req_begin(TCPD_REACH_ACCEPT, lcid);
	ck_assert_int_eq(tcp_accept(t, owner, lcid, owner, TH_T0 + TH_MS, &io, &xcid), 0);
	io.n_tx = io.n_ev = 0;
	ck_assert_int_ge(tcpd_store_recover(st, TH_T0 + 2 * TH_MS, &io, NULL, NULL), 0);
	ck_assert_uint_gt(st->journal.stats.rolled_back, 0);
	ck_assert_uint_eq(t->stats.shell_aborts, 1); /* X, with its early data */
	ck_assert_ptr_null(tcp_conn_find(t, TH_LADDR, PORT, TH_RADDR, x_port));
	th_check_table(t);
	/* the peer's ACK of C's (retransmitted) SYN-ACK */
	io.n_tx = io.n_ev = 0;
	feed(TH_T0 + TH_S, SEG(.seq = 5001, .ack = c_iss + 1, .sport = c_port, .dport = PORT));
	ck_assert_uint_eq(c->segs_in, 1);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	ck_assert_uint_eq(t->lis[lcid & 0x7fffu].acc_n, 1);
	for (unsigned i = 0; i < io.n_tx; i++)
		ck_assert_msg(!(io.tx[i].flags & TCP_RST), "the child's ACK was answered by a RST");
	th_check_table(t);
}
END_TEST

/* A child not accepted yet with early data: recovery asks whether its bytes are still staged
 * (tcpd_stage.h) and keeps it, in the accept queue, if they are; resets it if not. */
static uint32_t kept_cid, kept_bytes;
static bool early_kept_yes(void *arg, unsigned idx, uint32_t cid, uint32_t bytes)
{
	(void)arg;
	ck_assert_uint_eq(idx, cid & 0x7fffu);
	kept_cid = cid;
	kept_bytes = bytes;
	return true;
}

START_TEST(early_data_kept_or_reset)
{
	struct tcp_table *t = &st->table;
	uint32_t cid = sock(true), lcid;
	req_begin(TCPD_REACH_LISTEN, cid);
	ck_assert_int_eq(tcp_listen(t, owner, cid, 8, &lcid), 0);
	req_slot(lcid);
	req_end(3, 0, lcid);
	for (uint16_t port = 0x6001; port <= 0x6002; port++)
		child_with_early_data(port);
	ck_assert_uint_eq(t->lis[lcid & 0x7fffu].acc_n, 2);
	struct tcp_conn *a = tcp_conn_find(t, TH_LADDR, PORT, TH_RADDR, 0x6001);
	uint32_t acid = tcp_conn_cid(t, tcp_conn_idx(t, a));
	io.n_tx = io.n_ev = 0;
	/* the first restart finds both staged */
	ck_assert_int_ge(tcpd_store_recover(st, TH_T0 + 2 * TH_MS, &io, early_kept_yes, NULL), 0);
	ck_assert_uint_eq(st->bstats.state_early_kept, 2);
	ck_assert_uint_eq(st->bstats.state_early_reset, 0);
	ck_assert_uint_eq(kept_bytes, 100);
	ck_assert_uint_ne(kept_cid, 0);
	ck_assert_uint_eq(t->lis[lcid & 0x7fffu].acc_n, 2);
	ck_assert_ptr_eq(tcp_conn_find(t, TH_LADDR, PORT, TH_RADDR, 0x6001), a);
	ck_assert_uint_eq(tcp_conn_cid(t, tcp_conn_idx(t, a)), acid);
	th_check_table(t);
	/* the next finds them gone: reset, each with a RST to its peer */
	io.n_tx = io.n_ev = 0;
	ck_assert_int_ge(tcpd_store_recover(st, TH_T0 + 3 * TH_MS, &io, NULL, NULL), 0);
	ck_assert_uint_eq(st->bstats.state_early_reset, 2);
	ck_assert_ptr_null(tcp_conn_find(t, TH_LADDR, PORT, TH_RADDR, 0x6001));
	ck_assert_ptr_null(tcp_conn_find(t, TH_LADDR, PORT, TH_RADDR, 0x6002));
	unsigned rsts = 0;
	for (unsigned i = 0; i < io.n_tx; i++)
		rsts += (io.tx[i].flags & TCP_RST) != 0;
	ck_assert_uint_eq(rsts, 2);
	th_check_table(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_store");
	TCase *tc = tcase_create("kill_before_commit");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, socket_killed_before_commit);
	tcase_add_test(tc, socket_in_a_full_table_killed_before_commit);
	tcase_add_test(tc, bind_killed_before_commit);
	tcase_add_test(tc, listen_killed_before_commit);
	tcase_add_test(tc, close_killed_before_commit);
	tcase_add_test(tc, orphan_freed_killed_before_release);
	tcase_add_test(tc, synrecv_child_behind_a_reset_one_takes_its_ack_after_recovery);
	tcase_add_test(tc, early_data_kept_or_reset);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
