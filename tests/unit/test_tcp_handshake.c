/* test_tcp_handshake: opening connections in the TCP core (tcp_user.c connect, tcp_listen.c,
 * tcp_input.c SYN-SENT / SYN-RECEIVED, tcp_timer.c SYN retries): the SYN's options, the
 * three-way handshake both ways, RST and bad ACKs in SYN-SENT, simultaneous open (RFC 9293
 * §3.5), SYN and SYN-ACK retransmission schedules and their limits, the listen backlog, SYN
 * queue overflow answered with cookies and a connection built from a cookie's ACK, accept-queue
 * overflow (the ACKs it drops kept as requests that take accept()'s room at once), and
 * sequence numbers that wrap. */
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

/* connect() to TH_RADDR:TH_RPORT; returns the conn. */
static struct tcp_conn *connect_one(uint32_t *cid)
{
	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, cid), 0);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, *cid, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 0);
	return tcp_conn_by_cid(w.t, *cid);
}

START_TEST(active_open_syn_and_established)
{
	uint32_t cid;
	struct tcp_conn *c = connect_one(&cid);
	const struct tcp_tx *syn;
	uint32_t iss, lport;

	ck_assert_uint_eq(c->state, TCP_STATE_SYN_SENT);
	ck_assert_uint_eq(w.t->stats.active_opens, 1);
	/* the SYN: no ACK, MSS 1460, window scale 7 (room for tcp_rmem[2]), SACK, TS */
	syn = expect_tx(&w, .flags = TCP_SYN, .len = 0, .ack = 0, .mss = 1460, .wscale = 7,
			.sack_perm = 1, .has_ts = 1, .tsecr = 0, .daddr = TH_RADDR,
			.dport = TH_RPORT, .cid = cid, .wnd = 65535);
	iss = syn->seq;
	lport = syn->sport;
	ck_assert_uint_eq(c->iss, iss);
	ck_assert_uint_ge(ntohs((uint16_t)lport), TCP_PORT_EPH_LO);
	ck_assert_uint_le(ntohs((uint16_t)lport), TCP_PORT_EPH_HI);
	expect_no_tx(&w, w.now + 9 * TH_MS);

	/* SYN-ACK 10 ms later, with all options: ESTABLISHED, immediate ACK */
	th_io_reset(&w);
	w.now = TH_T0 + 10 * TH_MS;
	th_in(&w, SEG(.flags = TCP_SYN | TCP_ACK, .seq = 7000, .ack = iss + 1, .wnd = 29200,
		      .mss = true, .mss_val = 1400, .wscale = 9, .sack_perm = true, .ts = true,
		      .tsval = 555, .sport = TH_RPORT,
		      .dport = (uint16_t)lport));
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	ck_assert(c->flags & TCP_F_WS_OK);
	ck_assert(c->flags & TCP_F_TS_OK);
	ck_assert(c->flags & TCP_F_SACK_OK);
	ck_assert_uint_eq(c->snd_wscale, 9);
	ck_assert_uint_eq(c->rcv_wscale, 7);
	ck_assert_uint_eq(c->snd_wnd, 29200); /* a SYN's window is never scaled */
	ck_assert_uint_eq(c->peer_mss, 1400);
	ck_assert_uint_eq(c->snd_mss, 1400 - 12); /* timestamps on every segment */
	ck_assert_uint_eq(c->ts_recent, 555);
	ck_assert_uint_eq(c->rtt.srtt_us, 10000); /* Karn sample of the SYN */
	ck_assert_uint_eq(th_events(&w, cid) & (TCP_EV_CONNECTED | TCP_EV_WRITABLE),
			  TCP_EV_CONNECTED | TCP_EV_WRITABLE);
	expect_tx(&w, .flags = TCP_ACK, .seq = iss + 1, .ack = 7001, .len = 0, .tsecr = 555,
		  .n_sack = 0);
	ck_assert_uint_eq(w.t->stats.curr_estab, 1);
	expect_no_tx(&w, w.now + 10 * TH_S);
}
END_TEST

START_TEST(syn_sent_rst_and_bad_acks)
{
	uint32_t cid;
	struct tcp_conn *c = connect_one(&cid);
	uint32_t iss = c->iss;
	uint16_t lport = c->lport;

	expect_tx(&w, .flags = TCP_SYN);
	/* an ACK of something we never sent: RST with its ack as seq, the SYN-SENT stays */
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 1, .ack = iss + 5, .dport = lport));
	expect_tx(&w, .flags = TCP_RST, .seq = iss + 5, .cid = 0);
	ck_assert_uint_eq(c->state, TCP_STATE_SYN_SENT);
	ck_assert_uint_eq(w.t->stats.in_drop_bad_ack, 1);
	/* a RST without an ACK of our SYN is not acceptable (RFC 5961 §3) */
	th_in(&w, SEG(.flags = TCP_RST, .seq = 1, .dport = lport));
	ck_assert_uint_eq(c->state, TCP_STATE_SYN_SENT);
	ck_assert_uint_eq(w.t->stats.in_drop_rst_bad_seq, 1);
	th_in(&w, SEG(.flags = TCP_RST | TCP_ACK, .seq = 1, .ack = iss, .dport = lport));
	/* ack == iss: not ours, and no RST answers a RST */
	ck_assert_uint_eq(c->state, TCP_STATE_SYN_SENT);
	/* neither SYN nor RST: dropped */
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 1, .ack = iss + 1, .dport = lport));
	ck_assert_uint_eq(c->state, TCP_STATE_SYN_SENT);
	ck_assert_uint_eq(w.t->stats.in_drop_bad_flags, 1);
	/* RST with a good ACK: refused */
	th_io_reset(&w);
	th_in(&w, SEG(.flags = TCP_RST | TCP_ACK, .seq = 0, .ack = iss + 1, .dport = lport));
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	ck_assert_uint_eq(c->pending_error, ECONNREFUSED);
	ck_assert(th_events(&w, cid) & TCP_EV_ERROR);
	ck_assert_uint_eq(w.t->stats.attempt_fails, 1);
	expect_no_tx(&w, w.now + 200 * TH_S);
	/* connect again reports the error once, then may try again */
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, cid, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 -ECONNREFUSED);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, cid, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 0);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, cid, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 -EALREADY);
	/* refused again, the error taken by SO_ERROR: the next connect says ECONNABORTED */
	c = tcp_conn_by_cid(w.t, cid);
	th_in(&w, SEG(.flags = TCP_RST | TCP_ACK, .seq = 0, .ack = c->iss + 1, .dport = c->lport));
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	{
		int err = 0;
		size_t len = sizeof(err);

		ck_assert_int_eq(tcp_getopt(w.t, TH_OWNER, cid, w.now, SOL_SOCKET, SO_ERROR, &err,
					    &len),
				 0);
		ck_assert_int_eq(err, ECONNREFUSED);
	}
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, cid, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 -ECONNABORTED);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
}
END_TEST

START_TEST(syn_retries_then_etimedout)
{
	uint32_t cid;
	struct tcp_conn *c = connect_one(&cid);
	uint64_t t0 = w.now;
	/* Linux: 1, 3, 7, 15, 31, 63 s, give up at 127 s */
	static const unsigned at_s[] = {1, 3, 7, 15, 31, 63};

	expect_tx(&w, .flags = TCP_SYN, .seq = c->iss);
	for (unsigned i = 0; i < 6; i++) {
		expect_no_tx(&w, t0 + at_s[i] * TH_S - 1);
		th_at(&w, t0 + at_s[i] * TH_S);
		expect_tx(&w, .flags = TCP_SYN, .seq = c->iss);
	}
	ck_assert_uint_eq(w.t->stats.tcp_syn_retrans, 6);
	expect_no_tx(&w, t0 + 127 * TH_S - 1);
	th_at(&w, t0 + 127 * TH_S);
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	ck_assert_uint_eq(c->pending_error, ETIMEDOUT);
	ck_assert_uint_eq(w.t->stats.tcp_abort_on_timeout, 1);
	expect_no_tx(&w, t0 + 300 * TH_S);
}
END_TEST

START_TEST(syncnt_limits_syn_retries)
{
	uint32_t cid;
	int two = 2;
	struct tcp_conn *c;

	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &cid), 0);
	ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, cid, w.now, IPPROTO_TCP, TCP_SYNCNT, &two,
				    sizeof(two), &w.io),
			 0);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, cid, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 0);
	c = tcp_conn_by_cid(w.t, cid);
	expect_tx(&w, .flags = TCP_SYN);
	th_run_until(&w, TH_T0 + 3 * TH_S);
	expect_tx(&w, .flags = TCP_SYN);
	expect_tx(&w, .flags = TCP_SYN);
	ck_assert_uint_eq(c->state, TCP_STATE_SYN_SENT);
	th_run_until(&w, TH_T0 + 7 * TH_S);
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	ck_assert_uint_eq(c->pending_error, ETIMEDOUT);
	expect_no_tx(&w, TH_T0 + 20 * TH_S);
}
END_TEST

START_TEST(simultaneous_open)
{
	uint32_t cid;
	struct tcp_conn *c = connect_one(&cid);
	uint32_t iss = c->iss;
	uint16_t lport = c->lport;

	expect_tx(&w, .flags = TCP_SYN);
	/* their SYN crosses ours: SYN-RECEIVED, SYN-ACK of our ISN */
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 9000, .wnd = 8192, .mss = true, .mss_val = 1200,
		      .dport = lport));
	ck_assert_uint_eq(c->state, TCP_STATE_SYN_RECEIVED);
	expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .seq = iss, .ack = 9001, .mss = 1460,
		  .wscale = -1, .sack_perm = -1, .has_ts = 0);
	/* their SYN-ACK of our SYN: ESTABLISHED, nothing more to say */
	th_io_reset(&w);
	th_in(&w, SEG(.flags = TCP_SYN | TCP_ACK, .seq = 9000, .ack = iss + 1, .wnd = 8192,
		      .dport = lport));
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	expect_no_tx(&w, w.now);
	ck_assert_uint_eq(c->snd_mss, 1200);
	ck_assert(th_events(&w, cid) & TCP_EV_CONNECTED);
	ck_assert_uint_eq(c->t_rtx, 0);
}
END_TEST

/* --- passive --- */

static uint32_t listen_on(uint16_t port, int backlog)
{
	uint32_t cid, lcid;

	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &cid), 0);
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, cid, 0, port), 0);
	ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, cid, backlog, &lcid), 0);
	ck_assert(lcid & TCP_CID_LISTENER);
	ck_assert_ptr_null(tcp_conn_get(w.t, TH_OWNER, cid));
	return lcid;
}

START_TEST(passive_open_accept)
{
	uint32_t lcid = listen_on(TH_LPORT, 5), cid;
	const struct tcp_tx *sa;
	struct tcp_conn *c;

	th_in(&w, SEG(.flags = TCP_SYN, .seq = 4000, .wnd = 65535, .mss = true, .mss_val = 1460,
		      .wscale = 2, .sack_perm = true, .ts = true, .tsval = 100));
	sa = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .ack = 4001, .mss = 1460, .wscale = 7,
		       .sack_perm = 1, .tsecr = 100);
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->syn_n, 1);
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &cid), -EAGAIN);
	th_io_reset(&w);
	w.now += 5 * TH_MS;
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 4001, .ack = sa->seq + 1, .wnd = 1000, .ts = true,
		      .tsval = 105, .tsecr = 0));
	ck_assert_uint_eq(tcp_take_events(w.t, lcid), TCP_EV_ACCEPT);
	ck_assert_uint_eq(w.t->stats.passive_opens, 1);
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER + 1, w.now, &w.io, &cid), 0);
	c = tcp_conn_by_cid(w.t, cid);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	ck_assert_uint_eq(c->owner, TH_OWNER + 1);
	ck_assert_uint_eq(c->snd_wnd, 4000); /* scaled by 2 now */
	ck_assert_uint_eq(c->ts_recent, 105);
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->acc_n, 0);
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &cid), -EAGAIN);
	expect_no_tx(&w, w.now + 5 * TH_S);
}
END_TEST

START_TEST(syn_received_child_segments)
{
	uint32_t lcid = listen_on(TH_LPORT, 5);
	const struct tcp_tx *sa;
	struct tcp_conn *c;
	uint32_t iss;

	th_in(&w, SEG(.flags = TCP_SYN, .seq = 4000));
	sa = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .ack = 4001);
	iss = sa->seq;
	c = tcp_conn_find(w.t, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT);
	ck_assert_ptr_nonnull(c);
	/* an ACK of something else: RST from its ack (RFC 9293 §3.10.7.4), the child stays */
	th_in(&w, SEG(.seq = 4001, .ack = iss + 100));
	expect_tx(&w, .flags = TCP_RST, .seq = iss + 100, .cid = 0);
	ck_assert_uint_eq(c->state, TCP_STATE_SYN_RECEIVED);
	/* a RST inside the window but not at rcv_nxt: challenged (the SYN-ACK again) */
	th_in(&w, SEG(.flags = TCP_RST, .seq = 4100));
	expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .seq = iss);
	ck_assert_uint_eq(c->state, TCP_STATE_SYN_RECEIVED);
	/* a RST at rcv_nxt: the child goes, the listener stays (back to LISTEN, §3.10.7.4) */
	th_in(&w, SEG(.flags = TCP_RST, .seq = 4001));
	ck_assert_uint_eq(c->in_use, 0);
	ck_assert_uint_eq(w.t->stats.embryonic_rsts, 1);
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->syn_n, 0);
	expect_no_tx(&w, w.now + 100 * TH_S);
	/* a new child: a different SYN kills it with a reset (Linux tcp_check_req) */
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 8000));
	sa = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .ack = 8001);
	c = tcp_conn_find(w.t, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT);
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 8005));
	expect_tx(&w, .flags = TCP_RST | TCP_ACK, .seq = sa->seq + 1);
	ck_assert_uint_eq(c->in_use, 0);
	/* a third: the ACK that completes it carries data, which is taken */
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 9000));
	sa = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .ack = 9001);
	th_in(&w, SEG(.flags = TCP_ACK | TCP_PSH, .seq = 9001, .ack = sa->seq + 1, .len = 50));
	c = tcp_conn_find(w.t, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	ck_assert_uint_eq(c->rcv_nxt, 9051);
	ck_assert_uint_eq(w.io.place.len, 50);
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->acc_n, 1);
}
END_TEST

START_TEST(synack_retries_and_expiry)
{
	uint32_t lcid = listen_on(TH_LPORT, 5);
	uint64_t t0 = w.now;
	/* 1, 3, 7, 15, 31 s then the child goes at 63 s, silently (Linux) */
	static const unsigned at_s[] = {1, 3, 7, 15, 31};

	th_in(&w, SEG(.flags = TCP_SYN, .seq = 4000));
	expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .ack = 4001);
	for (unsigned i = 0; i < 5; i++) {
		expect_no_tx(&w, t0 + at_s[i] * TH_S - 1);
		th_at(&w, t0 + at_s[i] * TH_S);
		expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .ack = 4001);
	}
	/* a retransmitted SYN gets the SYN-ACK again at once */
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 4000));
	expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .ack = 4001);
	expect_no_tx(&w, t0 + 63 * TH_S - 1);
	th_at(&w, t0 + 63 * TH_S);
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->syn_n, 0);
	expect_no_tx(&w, t0 + 100 * TH_S);
	/* now its ACK finds nobody: RST */
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 4001, .ack = 12345));
	expect_tx(&w, .flags = TCP_RST, .seq = 12345);
}
END_TEST

START_TEST(listener_rst_ack_and_junk)
{
	listen_on(TH_LPORT, 5);
	th_in(&w, SEG(.flags = TCP_RST, .seq = 1));
	ck_assert_uint_eq(w.t->stats.in_drop_rst_no_conn, 1);
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 1, .ack = 77));
	expect_tx(&w, .flags = TCP_RST, .seq = 77);
	th_in(&w, SEG(.flags = TCP_FIN, .seq = 1));
	ck_assert_uint_eq(w.t->stats.in_drop_bad_flags, 1);
	/* a segment for a port nobody listens on: RST|ACK acknowledging it */
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 50, .len = 10, .dport = 0x0900));
	expect_tx(&w, .flags = TCP_RST | TCP_ACK, .seq = 0, .ack = 61);
	expect_no_tx(&w, w.now + TH_S);
}
END_TEST

START_TEST(syn_queue_overflow_cookies)
{
	uint32_t lcid = listen_on(TH_LPORT, 2), cid;
	const struct tcp_tx *sa;
	struct tcp_conn *c;

	/* two SYNs fill the SYN queue */
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 100, .sport = 0x0101));
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 200, .sport = 0x0201));
	expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .cid = TH_ANY);
	expect_tx(&w, .flags = TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->syn_n, 2);
	/* the third is answered statelessly */
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 300, .sport = 0x0301, .mss = true, .mss_val = 1460));
	sa = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .cid = 0, .ack = 301, .dport = 0x0301);
	ck_assert_uint_eq(w.t->stats.syncookies_sent, 1);
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->syn_n, 2);
	/* its ACK builds the connection */
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 301, .ack = sa->seq + 1, .sport = 0x0301,
		      .len = 5));
	ck_assert_uint_eq(w.t->stats.syncookies_recv, 1);
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &cid), 0);
	c = tcp_conn_by_cid(w.t, cid);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	ck_assert(c->flags & TCP_F_COOKIE);
	ck_assert_uint_eq(c->rcv_nxt, 306); /* its data was taken */
	ck_assert_uint_eq(w.io.place.len, 5);
	ck_assert_uint_eq(w.io.place.stream_seq, 301);
	/* a forged cookie ACK: failed, RST */
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 401, .ack = 999, .sport = 0x0401));
	ck_assert_uint_eq(w.t->stats.syncookies_failed, 1);
	ck_assert_uint_eq(w.t->stats.in_drop_no_conn, 1);
}
END_TEST

START_TEST(cookie_keeps_options_in_the_timestamp)
{
	uint32_t lcid = listen_on(TH_LPORT, 0), cid;
	const struct tcp_tx *sa;
	struct th_txopt o;
	struct tcp_conn *c;

	/* backlog 0: every SYN gets a cookie (Linux) */
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 300, .mss = true, .mss_val = 1400, .wscale = 5,
		      .sack_perm = true, .ts = true, .tsval = 4242));
	sa = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .cid = 0, .ack = 301, .wscale = 7,
		       .sack_perm = 1, .tsecr = 4242, .mss = 1460);
	th_tx_opts(sa, &o);
	ck_assert_uint_eq(w.t->stats.syncookies_sent, 1);
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->syn_n, 0);
	/* the ACK echoes the TSval that carried wscale and SACK-permitted */
	w.now += 3 * TH_MS;
	th_in(&w, SEG(.seq = 301, .ack = sa->seq + 1, .wnd = 1000, .ts = true, .tsval = 4243,
		      .tsecr = o.tsval));
	ck_assert_uint_eq(w.t->stats.syncookies_recv, 1);
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &cid), 0);
	c = tcp_conn_by_cid(w.t, cid);
	ck_assert(c->flags & TCP_F_WS_OK);
	ck_assert(c->flags & TCP_F_SACK_OK);
	ck_assert(c->flags & TCP_F_TS_OK);
	ck_assert_uint_eq(c->snd_wscale, 5);
	ck_assert_uint_eq(c->rcv_wscale, 7);
	ck_assert_uint_eq(c->snd_wnd, 1000u << 5);
	ck_assert_uint_le(c->peer_mss, 1400); /* the cookie's MSS table rounds down */
	ck_assert_uint_ge(c->peer_mss, 1300);
	ck_assert_uint_eq(c->ts_recent, 4243);
	/* it speaks with timestamps like any other */
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 10, 0, &w.io), 0);
	expect_tx(&w, .len = 10, .tsecr = 4243);
}
END_TEST

START_TEST(accept_queue_overflow)
{
	uint32_t lcid = listen_on(TH_LPORT, 1), cid;
	const struct tcp_tx *sa1, *sa2, *sa3;

	/* backlog 1: one child in the SYN queue at a time, two in the accept queue (Linux's
	 * "more than backlog" test) */
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 100, .sport = 0x0101));
	sa1 = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .ack = 101);
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 101, .ack = sa1->seq + 1, .sport = 0x0101));
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 200, .sport = 0x0201));
	sa2 = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .ack = 201, .cid = TH_ANY);
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 300, .sport = 0x0301));
	sa3 = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .ack = 301, .cid = 0); /* a cookie */
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 301, .ack = sa3->seq + 1, .sport = 0x0301));
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->acc_n, 2);
	/* full: the handshake ACK of the second child is dropped, the child waits */
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 201, .ack = sa2->seq + 1, .sport = 0x0201));
	ck_assert_uint_eq(w.t->stats.in_drop_acceptq_full, 1);
	ck_assert_uint_eq(w.t->stats.listen_overflows, 1);
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->syn_n, 1);
	/* and a new SYN is dropped */
	th_in(&w, SEG(.flags = TCP_SYN, .seq = 400, .sport = 0x0401));
	ck_assert_uint_eq(w.t->stats.listen_overflows, 2);
	ck_assert_uint_eq(w.t->stats.listen_drops, 2);
	expect_no_tx(&w, w.now);
	/* after an accept there is room: the repeated ACK completes it */
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &cid), 0);
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 201, .ack = sa2->seq + 1, .sport = 0x0201));
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->acc_n, 2);
	ck_assert_uint_eq(tcp_listener_get(w.t, TH_OWNER, lcid)->syn_n, 0);
	/* closing the listener resets what it held, not what was accepted */
	th_io_reset(&w);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, lcid, w.now, &w.io), 0);
	expect_tx(&w, .flags = TCP_RST | TCP_ACK, .dport = 0x0301);
	expect_tx(&w, .flags = TCP_RST | TCP_ACK, .dport = 0x0201);
	expect_no_tx(&w, w.now + 100 * TH_S);
	ck_assert_uint_eq(tcp_conn_get(w.t, TH_OWNER, cid)->state, TCP_STATE_ESTABLISHED);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
	expect_tx(&w, .flags = TCP_FIN | TCP_ACK);
}
END_TEST

/* The stall of 100 connections at once to a backlog-8 listener, in small: ACKs completing
 * handshakes (a cookie's among them) find the accept queue full. Dropped with no state, each
 * waited for its peer's next backed-off retransmission to land in some room; kept (ACKED)
 * on the SYN queue, each takes accept()'s room at once, with no segment from the peer. */
START_TEST(accept_queue_room_goes_to_waiting_handshakes)
{
	uint32_t lcid = listen_on(TH_LPORT, 2), cid;
	const struct tcp_tx *sa;
	uint32_t iss[5];
	const struct tcp_listener *l;
	struct tcp_conn *c;
	uint64_t t0;

	/* A, B, C take the SYN queue's two places in turn; D and E get cookies */
	for (unsigned i = 0; i < 3; i++) {
		th_in(&w, SEG(.flags = TCP_SYN, .seq = 1000 * (i + 1),
			      .sport = (uint16_t)(0x0101 + 0x100 * i)));
		sa = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .ack = 1000 * (i + 1) + 1,
			       .cid = TH_ANY);
		iss[i] = sa->seq;
		if (i == 0)
			th_in(&w, SEG(.flags = TCP_ACK, .seq = 1001, .ack = iss[0] + 1,
				      .sport = 0x0101));
	}
	for (unsigned i = 3; i < 5; i++) {
		th_in(&w, SEG(.flags = TCP_SYN, .seq = 1000 * (i + 1),
			      .sport = (uint16_t)(0x0101 + 0x100 * i), .mss = true,
			      .mss_val = 1460));
		sa = expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .ack = 1000 * (i + 1) + 1, .cid = 0);
		iss[i] = sa->seq;
	}
	ck_assert_uint_eq(w.t->stats.syncookies_sent, 2);
	/* B and C complete: the accept queue holds 3, more than the backlog: full */
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 2001, .ack = iss[1] + 1, .sport = 0x0201));
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 3001, .ack = iss[2] + 1, .sport = 0x0301));
	l = tcp_listener_get(w.t, TH_OWNER, lcid);
	ck_assert_uint_eq(l->acc_n, 3);
	ck_assert_uint_eq(l->syn_n, 0);
	/* D's ACK, with data: a valid cookie, the queue full: D is kept, its data dropped */
	th_in(&w, SEG(.flags = TCP_ACK | TCP_PSH, .seq = 4001, .ack = iss[3] + 1, .sport = 0x0401,
		      .len = 5));
	ck_assert_uint_eq(w.t->stats.syncookies_recv, 1);
	ck_assert_uint_eq(w.t->stats.in_drop_acceptq_full, 1);
	ck_assert_uint_eq(l->syn_n, 1);
	c = tcp_conn_find(w.t, TH_LADDR, TH_LPORT, TH_RADDR, 0x0401);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->state, TCP_STATE_SYN_RECEIVED);
	ck_assert(c->flags & TCP_F_ACKED);
	ck_assert_uint_eq(c->rcv_nxt, 4001);
	expect_no_tx(&w, w.now);
	/* it is a request like any other: its SYN-ACK repeats after the RTO */
	t0 = w.now;
	th_at(&w, t0 + TH_S);
	expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .seq = iss[3], .ack = 4001, .dport = 0x0401);
	/* E's ACK: kept too (the SYN queue has a place left), then the SYN queue is full and a
	 * third would be dropped statelessly */
	th_in(&w, SEG(.flags = TCP_ACK, .seq = 5001, .ack = iss[4] + 1, .sport = 0x0501));
	ck_assert_uint_eq(l->syn_n, 2);
	ck_assert_uint_eq(w.t->stats.in_drop_acceptq_full, 2);
	/* accept() takes A, and its room goes to D at once (the oldest): no segment needed */
	th_io_reset(&w);
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &cid), 0);
	ck_assert_uint_eq(tcp_conn_by_cid(w.t, cid)->rport, 0x0101);
	ck_assert_uint_eq(l->acc_n, 3);
	ck_assert_uint_eq(l->syn_n, 1);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	ck_assert(!(c->flags & TCP_F_ACKED));
	ck_assert_uint_eq(c->snd_una, iss[3] + 1);
	ck_assert_uint_eq(c->t_rtx, 0);
	ck_assert_uint_eq(w.t->stats.acceptq_promoted, 1);
	ck_assert_uint_eq(tcp_take_events(w.t, lcid), TCP_EV_ACCEPT);
	/* D's retransmitted data is taken now */
	th_in(&w, SEG(.flags = TCP_ACK | TCP_PSH, .seq = 4001, .ack = iss[3] + 1, .sport = 0x0401,
		      .len = 5));
	ck_assert_uint_eq(c->rcv_nxt, 4006);
	ck_assert_uint_eq(w.io.place.len, 5);
	/* the next accepts: B, C, then D (a cookie's), whose room E takes */
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &cid), 0);
	ck_assert_uint_eq(tcp_conn_by_cid(w.t, cid)->rport, 0x0201);
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &cid), 0);
	ck_assert_uint_eq(tcp_conn_by_cid(w.t, cid)->rport, 0x0301);
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &cid), 0);
	ck_assert_ptr_eq(tcp_conn_by_cid(w.t, cid), c);
	ck_assert(c->flags & TCP_F_COOKIE);
	ck_assert_uint_eq(w.t->stats.acceptq_promoted, 2);
	ck_assert_uint_eq(l->syn_n, 0);
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &cid), 0);
	ck_assert_uint_eq(tcp_conn_by_cid(w.t, cid)->rport, 0x0501);
	ck_assert_uint_eq(tcp_conn_by_cid(w.t, cid)->state, TCP_STATE_ESTABLISHED);
	ck_assert_int_eq(tcp_accept(w.t, TH_OWNER, lcid, TH_OWNER, w.now, &w.io, &cid), -EAGAIN);
	/* nothing of the kept requests' timers survives */
	th_io_reset(&w);
	expect_no_tx(&w, w.now + 100 * TH_S);
}
END_TEST

START_TEST(sequence_wraparound)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.iss = 0xfffffff0u, .irs = 0xfffffffau,
					      .flags = TCP_F_NODELAY),
				     &cid);

	/* 100 bytes from 0xfffffff1 wrap past 0 */
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	expect_tx(&w, .seq = 0xfffffff1u, .len = 100, .flags = TCP_ACK | TCP_PSH);
	th_in(&w, SEG(.seq = 0xfffffffbu, .ack = 0xfffffff1u + 100, .len = 20));
	ck_assert_uint_eq(c->snd_una, 0x55u);
	ck_assert_uint_eq(c->rcv_nxt, 0xfffffffbu + 20);
	ck_assert_uint_eq(w.io.place.stream_seq, 0xfffffffbu);
	/* out of order across the wrap, then the hole */
	th_in(&w, SEG(.seq = 0x20, .ack = 0x55, .len = 10));
	ck_assert_uint_eq(w.io.place.stream_seq, 0x20);
	ck_assert_uint_eq(c->rcv_nxt, 0x0f);
	th_in(&w, SEG(.seq = 0x0f, .ack = 0x55, .len = 0x11));
	ck_assert_uint_eq(c->rcv_nxt, 0x2a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_handshake");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, active_open_syn_and_established);
	tcase_add_test(tc, syn_sent_rst_and_bad_acks);
	tcase_add_test(tc, syn_retries_then_etimedout);
	tcase_add_test(tc, syncnt_limits_syn_retries);
	tcase_add_test(tc, simultaneous_open);
	tcase_add_test(tc, passive_open_accept);
	tcase_add_test(tc, syn_received_child_segments);
	tcase_add_test(tc, synack_retries_and_expiry);
	tcase_add_test(tc, listener_rst_ack_and_junk);
	tcase_add_test(tc, syn_queue_overflow_cookies);
	tcase_add_test(tc, cookie_keeps_options_in_the_timestamp);
	tcase_add_test(tc, accept_queue_overflow);
	tcase_add_test(tc, accept_queue_room_goes_to_waiting_handshakes);
	tcase_add_test(tc, sequence_wraparound);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
