/* test_tcp_user: the application's calls on the TCP core (tcp_user.c, tcp_listen.c) with
 * Linux's errnos: bind (address, port 0, conflicts and SO_REUSEADDR, a second bind), listen
 * (the conflicts a listener has, backlog, listen again), connect (EISCONN, EALREADY,
 * unreachable destinations, autobind sharing ports between peers), send and shutdown errnos,
 * close with unread data (RST), SO_LINGER 0 (RST), orphans, owners (EBADF for someone else's
 * cid), socket options and their ranges, names and TCP_INFO, the shell's buffer limits,
 * connect(AF_UNSPEC) and the shell's abort; the send space and acknowledged bytes 2 GiB and
 * more into a stream. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "helper_check.h"
#include "helper_tcp.h"

static struct th w;

static void setup(void) { th_init(&w, false); }
static void teardown(void) { th_fini(&w); }

static uint32_t sock(void)
{
	uint32_t cid;

	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &cid), 0);
	return cid;
}

static int set_int(uint32_t cid, int level, int name, int v)
{
	return tcp_setopt(w.t, TH_OWNER, cid, w.now, level, name, &v, sizeof(v), &w.io);
}

static int get_int(uint32_t cid, int level, int name)
{
	int v = -12345;
	size_t len = sizeof(v);

	ck_assert_int_eq(tcp_getopt(w.t, TH_OWNER, cid, w.now, level, name, &v, &len), 0);
	ck_assert_uint_eq(len, sizeof(v));
	return v;
}

START_TEST(bind_rules)
{
	uint32_t a = sock(), b = sock(), c = sock(), d = sock(), lcid;
	uint32_t addr;
	uint16_t port;

	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, a, th_ip(10, 9, 9, 9), 0x1027), -EADDRNOTAVAIL);
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, a, 0, 0x1027), 0);
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, a, 0, 0x1127), -EINVAL); /* bound already */
	/* the same port on an overlapping address: in use, unless both say SO_REUSEADDR */
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, b, TH_LADDR, 0x1027), -EADDRINUSE);
	ck_assert_int_eq(set_int(a, SOL_SOCKET, SO_REUSEADDR, 1), 0);
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, b, TH_LADDR, 0x1027), -EADDRINUSE);
	ck_assert_int_eq(set_int(b, SOL_SOCKET, SO_REUSEADDR, 1), 0);
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, b, TH_LADDR, 0x1027), 0);
	/* one of them listens: no one else may share the port, whatever the flags */
	ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, a, 5, &lcid), 0);
	ck_assert_int_eq(set_int(c, SOL_SOCKET, SO_REUSEADDR, 1), 0);
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, c, 0, 0x1027), -EADDRINUSE);
	/* and b may no longer listen there */
	{
		uint32_t l2;

		ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, b, 5, &l2), -EADDRINUSE);
	}
	/* port 0: an ephemeral port nobody holds */
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, d, 0, 0), 0);
	ck_assert_int_eq(tcp_getname(w.t, TH_OWNER, d, false, &addr, &port), 0);
	ck_assert_uint_eq(addr, 0);
	ck_assert_uint_ge(ntohs(port), TCP_PORT_EPH_LO);
	ck_assert_uint_le(ntohs(port), TCP_PORT_EPH_HI);
	ck_assert_int_eq(tcp_getname(w.t, TH_OWNER, d, true, &addr, &port), -ENOTCONN);
	ck_assert_int_eq(tcp_getname(w.t, TH_OWNER, lcid, false, &addr, &port), 0);
	ck_assert_uint_eq(port, 0x1027);
	/* someone else's socket does not exist for us */
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER + 1, c, 0, 0x2027), -EBADF);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER + 1, c, w.now, &w.io), -EBADF);
	ck_assert_uint_eq(tcp_close_owner(w.t, TH_OWNER, w.now, &w.io), 4);
}
END_TEST

START_TEST(listen_errors_and_backlog)
{
	uint32_t a = sock(), lcid, lcid2;
	const struct tcp_listener *l;
	uint32_t addr;
	uint16_t port;

	ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, a, -1, &lcid), 0); /* autobinds */
	l = tcp_listener_get(w.t, TH_OWNER, lcid);
	ck_assert_uint_eq(l->backlog, 4096);
	ck_assert_int_eq(tcp_getname(w.t, TH_OWNER, lcid, false, &addr, &port), 0);
	ck_assert_uint_ne(port, 0);
	ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, lcid, 7, &lcid2), 0);
	ck_assert_uint_eq(lcid2, lcid);
	ck_assert_uint_eq(l->backlog, 7);
	ck_assert_int_eq(get_int(lcid, SOL_SOCKET, SO_ACCEPTCONN), 1);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, lcid, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 -EISCONN);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, lcid, w.now, 1, 0, &w.io), -EPIPE);
	/* a connected socket cannot listen */
	{
		uint32_t cid;

		th_conn(&w, SPEC(), &cid);
		ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, cid, 5, &lcid2), -EINVAL);
		ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, cid, TH_OWNER, w.now, &w.io, &lcid2), -EINVAL);
	}
	/* shutdown(SHUT_RD) stops it listening; SYNs then meet no one */
	ck_assert_int_eq(tcp_shutdown(w.t, TH_OWNER, lcid, w.now, SHUT_RD, &w.io), 0);
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 1, .dport = port));
	expect_tx(&w, .flags = TCP_RST | TCP_ACK);
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &lcid2), -EINVAL);
	ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, lcid, 3, &lcid2), 0);
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 1, .dport = port));
	expect_tx(&w, .flags = TCP_SYN | TCP_ACK);
}
END_TEST

START_TEST(connect_errors)
{
	uint32_t a = sock(), b = sock(), x;
	struct tcp_conn *ca, *cb;

	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, a, w.now, 0, 0, TH_RPORT, 1500, &w.io),
			 -ENETUNREACH);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, a, w.now, 0, th_ip(255, 255, 255, 255),
				     TH_RPORT, 1500, &w.io),
			 -ENETUNREACH);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, a, w.now, 0, th_ip(192, 0, 2, 255),
				     TH_RPORT, 1500, &w.io),
			 -ENETUNREACH);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, a, w.now, 0, th_ip(224, 0, 0, 1), TH_RPORT,
				     1500, &w.io),
			 -ENETUNREACH);
	/* nothing was changed by the failures */
	ca = tcp_conn_by_cid(w.t, a);
	ck_assert_uint_eq(ca->lport, 0);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, a, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 0);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, a, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 -EALREADY);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, a, w.now, 10, 0, &w.io), 0); /* queued */
	/* autobound connects to other peers may share a port; to the same peer they may not */
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, b, w.now, 0, th_ip(192, 0, 2, 21), TH_RPORT,
				     1500, &w.io),
			 0);
	cb = tcp_conn_by_cid(w.t, b);
	ck_assert(cb->flags & TCP_F_CONNECT_PORT);
	/* bind() then connect() to an existing 4-tuple */
	x = sock();
	ck_assert_int_eq(set_int(x, SOL_SOCKET, SO_REUSEADDR, 1), 0);
	ca->flags |= TCP_F_REUSEADDR;
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, x, 0, ca->lport), 0);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, x, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 -EADDRNOTAVAIL);
	/* complete a's handshake: the queued data goes with the ACK */
	th_io_reset(&w);
	th_in(&w, SEG(.flags = TCP_SYN | TCP_ACK, .seq = 1, .ack = ca->iss + 1,
		      .dport = ca->lport, .mss = true, .mss_val = 1460));
	expect_tx(&w, .seq = ca->iss + 1, .len = 10, .ack = 2);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, a, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 -EISCONN);
	/* reset: still EISCONN (Linux), send reports the error once, then EPIPE */
	th_in(&w, SEG(.flags = TCP_RST, .seq = 2, .dport = ca->lport));
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, a, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 -EISCONN);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, a, w.now, 1, 0, &w.io), -ECONNRESET);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, a, w.now, 1, 0, &w.io), -EPIPE);
	ck_assert_int_eq(tcp_shutdown(w.t, TH_OWNER, a, w.now, SHUT_WR, &w.io), -ENOTCONN);
	ck_assert_int_eq(tcp_shutdown(w.t, TH_OWNER, a, w.now, 7, &w.io), -EINVAL);
	/* a never-connected socket: send is EPIPE as in Linux */
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, sock(), w.now, 1, 0, &w.io), -EPIPE);
	/* shutdown(SHUT_WR) in SYN-SENT abandons the attempt */
	ck_assert_int_eq(tcp_shutdown(w.t, TH_OWNER, b, w.now, SHUT_WR, &w.io), 0);
	ck_assert_uint_eq(cb->state, TCP_STATE_CLOSED);
	tcp_close_owner(w.t, TH_OWNER, w.now, &w.io);
}
END_TEST

/* A connection `off` bytes into its send stream, everything sent acknowledged. */
static void far_along(struct tcp_conn *c, uint32_t off)
{
	c->snd_una = c->snd_nxt = c->snd_max = c->write_seq = c->snd_sml = c->iss + 1 + off;
	c->snd_up = c->snd_wl2 = c->snd_una;
	c->bytes_acked = off; /* what got it there */
}

/* The send space and the bytes an ACK covers are counted from snd_una, however far the stream
 * has gone from the ISN: comparing with iss + 1 (SEQ_GT, seq_max) turned around 2 GiB in and
 * stalled every long transfer at 2^31 bytes (no space ever again, no bytes acknowledged). */
START_TEST(send_space_far_into_the_stream)
{
	static const uint32_t offs[] = {0x7fffff00u, 0x80000000u, 0x80000100u, 0xc0000000u,
					0xffffff00u, 0xffffffffu};
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		uint32_t cid;
		struct tcp_conn *c = th_conn(&w, SPEC(.snd_wnd = 1u << 20), &cid);
		far_along(c, offs[i]);
		ck_assert_msg(tcp_send_space(c) == c->snd_buf, "offset %#x: space %u of %u", offs[i],
			      tcp_send_space(c), c->snd_buf);
		uint64_t before = c->bytes_acked;
		ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 1000, 0, &w.io), 0);
		ck_assert_uint_eq(tcp_send_space(c), c->snd_buf - 1000);
		uint32_t end = c->write_seq;
		ck_assert_uint_eq(end, c->iss + 1 + offs[i] + 1000);
		th_in(&w, SEG(.seq = 5001, .ack = end));
		ck_assert_uint_eq(c->snd_una, end);
		ck_assert_uint_eq(c->bytes_acked - before, 1000);
		ck_assert_uint_eq(tcp_send_space(c), c->snd_buf);
		th_io_reset(&w);
		ck_assert_int_eq(tcp_abort(w.t, cid, w.now, &w.io), 0);
		th_io_reset(&w);
	}
}
END_TEST

START_TEST(close_with_unread_data_resets)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(), &cid);

	th_in(&w, SEG(.seq = 5001, .ack = 1001, .len = 100));
	ck_assert_int_eq(tcp_recvd(w.t, TH_OWNER, cid, w.now, 60, &w.io), 0);
	ck_assert_int_eq(tcp_recvd(w.t, TH_OWNER, cid, w.now, 41, &w.io), -EINVAL);
	th_io_reset(&w);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
	expect_tx(&w, .flags = TCP_RST | TCP_ACK, .seq = 1001);
	ck_assert_uint_eq(c->in_use, 0);
	ck_assert_uint_eq(th_events(&w, cid), TCP_EV_FREED);
	ck_assert_uint_eq(w.t->stats.tcp_abort_on_close, 1);
	ck_assert_uint_eq(w.t->stats.estab_resets, 1);
	ck_assert_uint_eq(w.t->stats.curr_estab, 0);
	expect_no_tx(&w, w.now + 10 * TH_S);
}
END_TEST

START_TEST(linger_zero_resets)
{
	uint32_t cid;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct tcp_conn *c = th_conn(&w, SPEC(), &cid);
	struct linger got;
	size_t len = sizeof(got);

	ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, cid, w.now, SOL_SOCKET, SO_LINGER, &lg,
				    sizeof(lg), &w.io),
			 0);
	ck_assert_int_eq(tcp_getopt(w.t, TH_OWNER, cid, w.now, SOL_SOCKET, SO_LINGER, &got, &len),
			 0);
	ck_assert_int_eq(got.l_onoff, 1);
	ck_assert_int_eq(got.l_linger, 0);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
	expect_tx(&w, .flags = TCP_RST | TCP_ACK);
	ck_assert_uint_eq(c->in_use, 0);
	ck_assert_uint_eq(w.t->stats.tcp_abort_on_data, 1);
}
END_TEST

START_TEST(orphan_finishes_alone)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.flags = TCP_F_NODELAY), &cid);

	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 500, 0, &w.io), 0);
	expect_tx(&w, .len = 500);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
	expect_tx(&w, .flags = TCP_ACK | TCP_FIN, .seq = 1501, .len = 0);
	ck_assert_ptr_null(tcp_conn_get(w.t, TH_OWNER, cid));
	ck_assert(c->flags & TCP_F_ORPHAN);
	/* the data and FIN are retransmitted by the core on its own */
	th_at(&w, c->t_rtx);
	expect_tx(&w, .seq = 1001, .len = 500);
	th_in(&w, SEG(.seq = 5001, .ack = 1502));
	ck_assert_uint_eq(c->state, TCP_STATE_FIN_WAIT_2);
	th_in(&w, SEG(.flags = TCP_FIN | TCP_ACK, .seq = 5001, .ack = 1502));
	expect_tx(&w, .flags = TCP_ACK, .ack = 5002);
	ck_assert_uint_eq(c->state, TCP_STATE_TIME_WAIT);
	th_run_until(&w, w.now + TCP_TIMEWAIT_NS);
	ck_assert_uint_eq(c->in_use, 0);
	ck_assert_uint_eq(th_events(&w, cid) & TCP_EV_FREED, TCP_EV_FREED);
}
END_TEST

/* connect(AF_UNSPEC): a reset, then a socket that connects again (Linux tcp_disconnect); a
 * failed attempt's leftovers go too. */
START_TEST(disconnect_resets_and_reuses)
{
	uint32_t cid, other;
	struct tcp_conn *c = th_conn(&w, SPEC(), &cid);

	ck_assert_int_eq(tcp_disconnect(w.t, TH_OWNER, cid, w.now, &w.io), 0);
	expect_tx(&w, .flags = TCP_RST | TCP_ACK, .seq = 1001);
	ck_assert_uint_eq(c->in_use, 1);
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	ck_assert_uint_eq(c->raddr, 0);
	ck_assert_uint_eq(w.t->stats.curr_estab, 0);
	th_io_reset(&w);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, cid, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 0);
	expect_tx(&w, .flags = TCP_SYN);
	/* refused: the error once, then DISCONNECT leaves nothing for the next connect */
	th_in(&w, SEG(.flags = TCP_RST | TCP_ACK, .seq = 0, .ack = c->iss + 1, .sport = TH_RPORT,
		      .dport = c->lport));
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	ck_assert_uint_eq(c->pending_error, ECONNREFUSED);
	ck_assert_int_eq(tcp_disconnect(w.t, TH_OWNER, cid, w.now, &w.io), 0);
	ck_assert_uint_eq(c->pending_error, 0);
	th_io_reset(&w);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, cid, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 0);
	expect_tx(&w, .flags = TCP_SYN);
	ck_assert_int_eq(tcp_disconnect(w.t, TH_OWNER + 1, cid, w.now, &w.io), -EBADF);
	/* a listener stops listening */
	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &other), 0);
	ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, other, 5, &other), 0);
	ck_assert_int_eq(tcp_disconnect(w.t, TH_OWNER, other, w.now, &w.io), 0);
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, other, TH_OWNER, w.now, &w.io, &cid), -EINVAL);
}
END_TEST

/* tcp_abort: whoever holds the connection, a reset and the slot freed. */
START_TEST(abort_frees_any_holder)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.flags = TCP_F_NODELAY), &cid);

	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0); /* an orphan */
	th_io_reset(&w);
	ck_assert_int_eq(tcp_abort(w.t, cid, w.now, &w.io), 0);
	expect_tx(&w, .flags = TCP_RST | TCP_ACK);
	ck_assert_uint_eq(c->in_use, 0);
	ck_assert_uint_eq(th_events(&w, cid) & TCP_EV_FREED, TCP_EV_FREED);
	ck_assert_uint_eq(w.t->stats.shell_aborts, 1);
	ck_assert_int_eq(tcp_abort(w.t, cid, w.now, &w.io), -ENOENT);
	expect_no_tx(&w, w.now + 10 * TH_S);
}
END_TEST

START_TEST(options_and_ranges)
{
	uint32_t cid = sock();
	char name[16];
	size_t len = sizeof(name);
	struct tcp_info_lite info;

	ck_assert_int_eq(get_int(cid, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
	ck_assert_int_eq(get_int(cid, SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
	ck_assert_int_eq(get_int(cid, SOL_SOCKET, SO_DOMAIN), AF_INET);
	ck_assert_int_eq(get_int(cid, SOL_SOCKET, SO_ACCEPTCONN), 0);
	ck_assert_int_eq(get_int(cid, SOL_SOCKET, SO_RCVBUF), TCP_RMEM_DEFAULT);
	/* doubled, floored, capped (Linux arithmetic) */
	ck_assert_int_eq(set_int(cid, SOL_SOCKET, SO_RCVBUF, 100000), 0);
	ck_assert_int_eq(get_int(cid, SOL_SOCKET, SO_RCVBUF), 200000);
	ck_assert_int_eq(set_int(cid, SOL_SOCKET, SO_RCVBUF, 1), 0);
	ck_assert_int_eq(get_int(cid, SOL_SOCKET, SO_RCVBUF), 2304);
	ck_assert_int_eq(set_int(cid, SOL_SOCKET, SO_SNDBUF, -1), 0);
	ck_assert_int_eq(get_int(cid, SOL_SOCKET, SO_SNDBUF), TCP_WMEM_MAX);
	ck_assert_int_eq(set_int(cid, SOL_SOCKET, SO_RCVBUFFORCE, 1), -EPERM);
	ck_assert_int_eq(set_int(cid, SOL_SOCKET, SO_BROADCAST, 1), -ENOPROTOOPT);
	/* TCP_MAXSEG: 88..32767 or 0 */
	ck_assert_int_eq(get_int(cid, IPPROTO_TCP, TCP_MAXSEG), 536);
	ck_assert_int_eq(set_int(cid, IPPROTO_TCP, TCP_MAXSEG, 87), -EINVAL);
	ck_assert_int_eq(set_int(cid, IPPROTO_TCP, TCP_MAXSEG, 32768), -EINVAL);
	ck_assert_int_eq(set_int(cid, IPPROTO_TCP, TCP_MAXSEG, 1000), 0);
	ck_assert_int_eq(get_int(cid, IPPROTO_TCP, TCP_MAXSEG), 1000);
	ck_assert_int_eq(set_int(cid, IPPROTO_TCP, TCP_SYNCNT, 0), -EINVAL);
	ck_assert_int_eq(get_int(cid, IPPROTO_TCP, TCP_SYNCNT), TCP_SYN_RETRIES);
	ck_assert_int_eq(get_int(cid, IPPROTO_TCP, TCP_QUICKACK), 1);
	ck_assert_int_eq(set_int(cid, IPPROTO_TCP, TCP_QUICKACK, 0), 0);
	ck_assert_int_eq(get_int(cid, IPPROTO_TCP, TCP_QUICKACK), 0);
	ck_assert_int_eq(set_int(cid, IPPROTO_TCP, 9999, 0), -ENOPROTOOPT);
	ck_assert_int_eq(set_int(cid, IPPROTO_IP, 1, 0), -ENOPROTOOPT);
	/* TCP_CONGESTION by name */
	ck_assert_int_eq(tcp_getopt(w.t, TH_OWNER, cid, w.now, IPPROTO_TCP, TCP_CONGESTION, name,
				    &len),
			 0);
	ck_assert_str_eq(name, "cubic");
	ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, cid, w.now, IPPROTO_TCP, TCP_CONGESTION,
				    "bbr", 3, &w.io),
			 -ENOENT);
	ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, cid, w.now, IPPROTO_TCP, TCP_CONGESTION,
				    "reno", 4, &w.io),
			 0);
	len = sizeof(name);
	ck_assert_int_eq(tcp_getopt(w.t, TH_OWNER, cid, w.now, IPPROTO_TCP, TCP_CONGESTION, name,
				    &len),
			 0);
	ck_assert_str_eq(name, "reno");
	/* the listener keeps them and its children inherit them */
	{
		uint32_t lcid, child;
		const struct tcp_tx *sa;
		struct tcp_conn *c;

		ck_assert_int_eq(set_int(cid, IPPROTO_TCP, TCP_NODELAY, 1), 0);
		ck_assert_int_eq(set_int(cid, SOL_SOCKET, SO_KEEPALIVE, 1), 0);
		ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, cid, 0, TH_LPORT), 0);
		ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, cid, 4, &lcid), 0);
		ck_assert_int_eq(set_int(lcid, IPPROTO_TCP, TCP_KEEPIDLE, 33), 0);
		ck_assert_int_eq(get_int(lcid, IPPROTO_TCP, TCP_KEEPIDLE), 33);
		th_in(&w, SEG(.flags = TCP_SYN, .seq = 10, .mss = true, .mss_val = 1460));
		sa = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .mss = 1000);
		th_in(&w, SEG(.seq = 11, .ack = sa->seq + 1));
		ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &child), 0);
		c = tcp_conn_by_cid(w.t, child);
		ck_assert(c->flags & TCP_F_NODELAY);
		ck_assert(c->flags & TCP_F_KEEPALIVE);
		ck_assert_uint_eq(c->keep_idle_s, 33);
		ck_assert_uint_eq(c->cc.algo, TCP_CC_NEWRENO);
		ck_assert_uint_eq(c->rcv_buf, 2304);
		ck_assert_uint_eq(c->t_keepalive, w.now + 33 * TH_S);
		ck_assert_int_eq(tcp_info(w.t, TH_OWNER, child, w.now, &info), 0);
		ck_assert_uint_eq(info.state, TCP_STATE_ESTABLISHED);
		ck_assert_uint_eq(info.snd_mss, 1000);
		ck_assert_int_eq(tcp_info(w.t, TH_OWNER + 1, child, w.now, &info), -EBADF);
	}
}
END_TEST

START_TEST(so_error_taken_once)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(), &cid);

	th_in(&w, SEG(.flags = TCP_RST, .seq = 5001));
	ck_assert_uint_eq(c->pending_error, ECONNRESET);
	ck_assert_int_eq(get_int(cid, SOL_SOCKET, SO_ERROR), ECONNRESET);
	ck_assert_int_eq(get_int(cid, SOL_SOCKET, SO_ERROR), 0);
}
END_TEST

/* The shell's streams bound the buffers (tcp_set_buf_max): SO_RCVBUF/SO_SNDBUF, the window
 * scale offered, children of a listener and the send buffer's growth at the handshake stay
 * within them. */
START_TEST(buf_max_limits)
{
	uint32_t a = sock(), b = sock(), lcid, cid;
	const struct tcp_conn *c;

	ck_assert_int_eq(tcp_set_buf_max(w.t, TH_OWNER, a, 65536, 32768), 0);
	c = tcp_conn_get(w.t, TH_OWNER, a);
	ck_assert_uint_le(c->rcv_buf, 65536);
	ck_assert_int_eq(set_int(a, SOL_SOCKET, SO_RCVBUF, 1 << 20), 0);
	ck_assert_int_eq(get_int(a, SOL_SOCKET, SO_RCVBUF), 65536);
	ck_assert_int_eq(set_int(a, SOL_SOCKET, SO_SNDBUF, 1 << 20), 0);
	ck_assert_int_eq(get_int(a, SOL_SOCKET, SO_SNDBUF), 32768);
	ck_assert_int_eq(tcp_set_buf_max(w.t, TH_OWNER, a, 100, 0), -EINVAL);
	ck_assert_int_eq(tcp_set_buf_max(w.t, TH_OWNER, a, TCP_RMEM_MAX + 1, 0), -EINVAL);
	ck_assert_int_eq(tcp_set_buf_max(w.t, TH_OWNER + 1, a, 0, 0), -EBADF);

	/* a listener hands its limits to every child */
	ck_assert_int_eq(tcp_set_buf_max(w.t, TH_OWNER, b, 65536, 20000), 0);
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, b, 0, TH_LPORT), 0);
	ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, b, 5, &lcid), 0);
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 1, .wscale = 7, .mss = true, .mss_val = 1460));
	const struct tcp_tx *sa = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .wscale = 1);
	th_in(&w, SEG(.seq = 2, .ack = sa->seq + 1));
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &cid), 0);
	c = tcp_conn_get(w.t, TH_OWNER, cid);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	ck_assert_uint_eq(c->rcv_buf_max, 65536);
	ck_assert_uint_eq(c->snd_buf_max, 20000);
	ck_assert_uint_le(c->rcv_buf, 65536);
	ck_assert_uint_le(c->snd_buf, 20000); /* tcp_sndbuf_expand wants 2 x IW: 29,200 */
	ck_assert_int_eq(tcp_set_buf_max(w.t, TH_OWNER, cid, 65536, 0), -EINVAL); /* too late */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_user");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, bind_rules);
	tcase_add_test(tc, listen_errors_and_backlog);
	tcase_add_test(tc, connect_errors);
	tcase_add_test(tc, close_with_unread_data_resets);
	tcase_add_test(tc, linger_zero_resets);
	tcase_add_test(tc, orphan_finishes_alone);
	tcase_add_test(tc, options_and_ranges);
	tcase_add_test(tc, so_error_taken_once);
	tcase_add_test(tc, buf_max_limits);
	tcase_add_test(tc, disconnect_resets_and_reuses);
	tcase_add_test(tc, abort_frees_any_holder);
	tcase_add_test(tc, send_space_far_into_the_stream);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
