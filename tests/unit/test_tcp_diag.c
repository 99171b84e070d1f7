/* Unit tests: tcp_diag_walk, the TCP table as `ustackctl sockets` lists it: every kind of
 * record, ss's state names, Linux's queue semantics, TCP_INFO's figures, owners through the
 * shell's callback, and pages that together list each socket exactly once. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "helper_check.h"
#include "helper_tcp.h"

static struct th w;

static void setup(void)
{
	th_init(&w, false);
}

static void teardown(void)
{
	th_fini(&w);
}

static unsigned owner_calls;

static bool owner_of(void *arg, uint32_t owner, uint32_t *uid, uint32_t *pid)
{
	ck_assert_ptr_eq(arg, &w);
	owner_calls++;
	if (owner != TH_OWNER)
		return false;
	*uid = 1000;
	*pid = 4242;
	return true;
}

/* Walk the whole table with pages of `page`: the entries in *out (at most max). */
static unsigned walk_all(unsigned page, struct sock_diag *out, unsigned max)
{
	uint32_t cur = 0;
	bool more = true;
	unsigned n = 0, pages = 0;
	while (more) {
		ck_assert_uint_le(n + page, max);
		unsigned got = tcp_diag_walk(w.t, w.now, &cur, out + n, page, &more, owner_of, &w);
		ck_assert_uint_le(got, page);
		n += got;
		ck_assert_uint_lt(++pages, 10000);
	}
	return n;
}

static const struct sock_diag *find(const struct sock_diag *d, unsigned n, uint32_t id)
{
	for (unsigned i = 0; i < n; i++)
		if (d[i].id == id)
			return &d[i];
	ck_abort_msg("socket %#x not listed", id);
	return NULL;
}

START_TEST(every_kind_of_socket)
{
	uint32_t fresh, lsock, lcid, est, tw;
	/* a socket just opened: UNCONN, nothing bound */
	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &fresh), 0);
	/* a listener on port 80 with backlog 10 */
	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &lsock), 0);
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, lsock, 0, htons(80)), 0);
	ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, lsock, 10, &lcid), 0);
	/* a child of it in SYN-RECEIVED, owned by nobody yet */
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 9000, .dport = htons(80), .sport = htons(33333),
		      .mss = true, .mss_val = 1460));
	th_io_reset(&w);
	/* an established connection with 100 bytes unread and 300 unacknowledged */
	struct tcp_conn *c = th_conn(&w, SPEC(.ts = true, .sack = true), &est);
	th_in(&w, SEG(.seq = 5001, .ack = 1001, .len = 100));
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, est, w.now, 300, 0, &w.io), 0);
	th_io_reset(&w);
	ck_assert_uint_eq(c->rcv_nxt - c->read_seq, 100);
	/* one in TIME-WAIT */
	struct tcp_conn *t2 = th_conn(&w, SPEC(.iss = 77, .irs = 88), &tw);
	tcp_hash_remove(w.t, t2); /* a 4-tuple of its own */
	t2->rport = htons(40001);
	tcp_hash_insert(w.t, t2);
	th_conn_move(&w, t2, TCP_STATE_TIME_WAIT);
	th_io_reset(&w);

	struct sock_diag d[64];
	owner_calls = 0;
	unsigned n = walk_all(SOCK_DIAG_PAGE, d, 64 * 2);
	ck_assert_uint_eq(n, 5);

	const struct sock_diag *e = find(d, n, fresh);
	ck_assert_uint_eq(e->protocol, IPPROTO_TCP);
	ck_assert_str_eq(e->state, "UNCONN");
	ck_assert_uint_eq(e->laddr, 0);
	ck_assert_uint_eq(e->lport, 0);
	ck_assert_uint_eq(e->recv_q + e->send_q, 0);
	ck_assert(!e->has_tcp);
	ck_assert(e->owner_known);
	ck_assert_uint_eq(e->uid, 1000);
	ck_assert_uint_eq(e->pid, 4242);

	e = find(d, n, lcid);
	ck_assert_str_eq(e->state, "LISTEN");
	ck_assert_uint_eq(e->lport, 80);
	ck_assert_uint_eq(e->laddr, 0);
	ck_assert_uint_eq(e->recv_q, 0); /* nothing accepted-ready: the child is in SYN-RECV */
	ck_assert_uint_eq(e->send_q, 10);
	ck_assert(!e->has_tcp);
	ck_assert(e->owner_known);

	const struct sock_diag *child = NULL;
	for (unsigned i = 0; i < n; i++)
		if (strcmp(d[i].state, "SYN-RECV") == 0)
			child = &d[i];
	ck_assert_ptr_nonnull(child);
	ck_assert_uint_eq(child->lport, 80);
	ck_assert_uint_eq(child->rport, 33333);
	ck_assert_uint_eq(child->raddr, TH_RADDR);
	ck_assert_uint_eq(child->owner, 0);
	ck_assert(!child->owner_known);
	ck_assert(child->has_tcp);

	e = find(d, n, est);
	ck_assert_str_eq(e->state, "ESTAB");
	ck_assert_uint_eq(e->laddr, TH_LADDR);
	ck_assert_uint_eq(e->lport, ntohs(TH_LPORT));
	ck_assert_uint_eq(e->raddr, TH_RADDR);
	ck_assert_uint_eq(e->rport, ntohs(TH_RPORT));
	ck_assert_uint_eq(e->recv_q, 100);
	ck_assert_uint_eq(e->send_q, 300);
	ck_assert(e->has_tcp);
	ck_assert_str_eq(e->tcp.cc, "cubic");
	ck_assert_str_eq(e->tcp.ca_state, "open");
	ck_assert_uint_eq(e->tcp.options, 1 | 2); /* timestamps, SACK */
	ck_assert_uint_eq(e->tcp.bytes_received, c->bytes_received);
	ck_assert_uint_eq(e->tcp.cwnd, c->cc.cwnd / c->snd_mss);
	ck_assert_uint_eq(e->tcp.snd_mss, c->snd_mss);
	ck_assert_uint_eq(e->tcp.unacked, (c->snd_max - c->snd_una + c->snd_mss - 1) / c->snd_mss);
	ck_assert_uint_gt(e->tcp.rto_us, 0);

	e = find(d, n, tw);
	ck_assert_str_eq(e->state, "TIME-WAIT");
	ck_assert_uint_eq(e->rport, 40001);
	ck_assert(!e->has_tcp);

	/* the owner callback is asked about owned sockets only */
	ck_assert_uint_eq(owner_calls, 3 + (e->owner != 0));
}
END_TEST

START_TEST(pages_list_each_socket_once)
{
	enum { N = 300 };
	uint32_t ids[N];
	for (unsigned i = 0; i < N; i++)
		ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &ids[i]), 0);
	/* holes: every third closed */
	for (unsigned i = 0; i < N; i += 3)
		ck_assert_int_eq(tcp_close(w.t, TH_OWNER, ids[i], w.now, &w.io), 0);
	th_io_reset(&w);
	static struct sock_diag d[N + 64];
	for (unsigned page = 1; page <= 130; page += 43) {
		unsigned n = walk_all(page, d, N + 64);
		ck_assert_uint_eq(n, N - N / 3);
		for (unsigned i = 0; i < N; i++) {
			unsigned seen = 0;
			for (unsigned k = 0; k < n; k++)
				seen += d[k].id == ids[i];
			ck_assert_uint_eq(seen, i % 3 ? 1 : 0);
		}
	}
	/* a cursor past the end is an empty last page */
	uint32_t cur = 0xffffffffu;
	bool more = true;
	ck_assert_uint_eq(tcp_diag_walk(w.t, w.now, &cur, d, 4, &more, NULL, NULL), 0);
	ck_assert(!more);
	/* no callback: nothing is known of owners */
	cur = 0;
	ck_assert_uint_eq(tcp_diag_walk(w.t, w.now, &cur, d, 1, &more, NULL, NULL), 1);
	ck_assert(more);
	ck_assert(!d[0].owner_known);
	ck_assert_uint_eq(d[0].owner, TH_OWNER);
}
END_TEST

START_TEST(state_names)
{
	ck_assert_str_eq(tcp_diag_state_name(TCP_STATE_FIN_WAIT_1), "FIN-WAIT-1");
	ck_assert_str_eq(tcp_diag_state_name(TCP_STATE_CLOSE_WAIT), "CLOSE-WAIT");
	ck_assert_str_eq(tcp_diag_state_name(TCP_STATE_LAST_ACK), "LAST-ACK");
	ck_assert_str_eq(tcp_diag_state_name(TCP_STATE_COUNT), "UNKNOWN");
	for (unsigned s = 0; s < TCP_STATE_COUNT; s++)
		ck_assert_ptr_nonnull(tcp_diag_state_name(s));
}
END_TEST

static Suite *tcp_diag_suite(void)
{
	Suite *s = suite_create("tcp_diag");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, every_kind_of_socket);
	tcase_add_test(tc, pages_list_each_socket_once);
	tcase_add_test(tc, state_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(tcp_diag_suite());
}
