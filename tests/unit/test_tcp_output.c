/* test_tcp_output: what the TCP core sends and when (tcp_output.c, the ACK policy of
 * tcp_input.c, the persist timer): Nagle as Linux (Minshall), TCP_NODELAY, TCP_CORK with its
 * RTO-long ceiling, MSG_MORE; sender SWS avoidance (RFC 9293 §3.8.6.2.1); receiver SWS
 * avoidance and window updates (§3.8.6.2.2); window scaling that never moves the right edge
 * left (RFC 7323 §2.4); delayed ACKs (40 ms, every second full segment, quick-ACK mode at the
 * start, at once for out-of-order data and a filled hole); zero-window probes with backoff;
 * TSO super-segment sizing; the urgent pointer; the FIN after queued data. */
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

static void send_bytes(uint32_t cid, uint32_t n, int flags)
{
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, n, flags, &w.io), 0);
}

static void setopt_int(uint32_t cid, int level, int name, int v)
{
	ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, cid, w.now, level, name, &v, sizeof(v), &w.io),
			 0);
}

/* --- Nagle, NODELAY, CORK, MSG_MORE --- */

START_TEST(nagle_minshall)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.cwnd = 100000), &cid);

	ck_assert_uint_eq(c->snd_mss, 1460);
	send_bytes(cid, 100, 0);
	expect_tx(&w, .seq = 1001, .len = 100, .flags = TCP_ACK | TCP_PSH);
	/* a small segment is unacknowledged: the next small one waits */
	send_bytes(cid, 100, 0);
	expect_no_tx(&w, w.now);
	/* a full segment is never held; its small tail is */
	send_bytes(cid, 1500, 0);
	expect_tx(&w, .seq = 1101, .len = 1460, .flags = TCP_ACK);
	expect_no_tx(&w, w.now);
	/* the small one is acknowledged: the tail goes */
	th_in(&w, SEG(.seq = 5001, .ack = 1101));
	expect_tx(&w, .seq = 2561, .len = 140, .flags = TCP_ACK | TCP_PSH);
	/* NODELAY: small segments go at once, and setting it pushes what Nagle held */
	send_bytes(cid, 10, 0);
	expect_no_tx(&w, w.now);
	setopt_int(cid, IPPROTO_TCP, TCP_NODELAY, 1);
	expect_tx(&w, .seq = 2701, .len = 10);
	send_bytes(cid, 10, 0);
	expect_tx(&w, .seq = 2711, .len = 10);
}
END_TEST

START_TEST(cork_and_msg_more)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.cwnd = 100000, .flags = TCP_F_NODELAY), &cid);

	setopt_int(cid, IPPROTO_TCP, TCP_CORK, 1);
	send_bytes(cid, 100, 0);
	expect_no_tx(&w, w.now);
	send_bytes(cid, 2000, 0);
	expect_tx(&w, .seq = 1001, .len = 1460);
	expect_no_tx(&w, w.now);
	/* uncork: the rest goes */
	setopt_int(cid, IPPROTO_TCP, TCP_CORK, 0);
	expect_tx(&w, .seq = 2461, .len = 640, .flags = TCP_ACK | TCP_PSH);
	th_in(&w, SEG(.seq = 5001, .ack = 3101));
	/* MSG_MORE holds this batch only */
	send_bytes(cid, 100, MSG_MORE);
	expect_no_tx(&w, w.now);
	send_bytes(cid, 50, 0);
	expect_tx(&w, .seq = 3101, .len = 150);
	th_in(&w, SEG(.seq = 5001, .ack = 3251));
	/* corked data with nothing in flight is pushed after an RTO (Linux's ceiling) */
	setopt_int(cid, IPPROTO_TCP, TCP_CORK, 1);
	send_bytes(cid, 10, 0);
	ck_assert_uint_ne(c->t_persist, 0);
	expect_no_tx(&w, c->t_persist - 1);
	th_at(&w, c->t_persist);
	expect_tx(&w, .seq = 3251, .len = 10);
}
END_TEST

/* --- sender SWS --- */

START_TEST(sender_sws_avoidance)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.cwnd = 100000, .flags = TCP_F_NODELAY), &cid);
	uint64_t t;

	send_bytes(cid, 1460, 0);
	expect_tx(&w, .len = 1460);
	/* the peer takes it but offers only 300 bytes: under half its largest window, held */
	th_in(&w, SEG(.seq = 5001, .ack = 2461, .wnd = 300));
	send_bytes(cid, 5000, 0);
	expect_no_tx(&w, w.now);
	ck_assert_uint_ne(c->t_persist, 0);
	/* the override timeout pushes what the window takes */
	t = c->t_persist;
	expect_no_tx(&w, t - 1);
	th_at(&w, t);
	expect_tx(&w, .seq = 2461, .len = 300);
	/* half the largest window is enough to send at once */
	th_in(&w, SEG(.seq = 5001, .ack = 2761, .wnd = 40000));
	expect_tx(&w, .seq = 2761, .len = 1460);
	expect_tx(&w, .len = 1460);
	expect_tx(&w, .len = 1460);
	expect_tx(&w, .len = 320, .flags = TCP_ACK | TCP_PSH);
}
END_TEST

/* --- receiver side --- */

START_TEST(receiver_window_updates)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.rcv_buf = 10000), &cid);

	/* fill 9000 of 10000 */
	for (unsigned i = 0; i < 9; i++)
		th_in(&w, SEG(.seq = 5001 + 1000 * i, .ack = 1001, .len = 1000));
	th_io_reset(&w);
	c->flags |= TCP_F_ACK_NOW;
	tcp_output(w.t, c, w.now, &w.io);
	expect_tx(&w, .ack = 14001, .wnd = 1000);
	/* a small read does not reopen the window (receiver SWS) */
	ck_assert_int_eq(tcp_recvd(w.t, TH_OWNER, cid, w.now, 100, &w.io), 0);
	expect_no_tx(&w, w.now);
	/* a read that at least doubles it announces it at once */
	ck_assert_int_eq(tcp_recvd(w.t, TH_OWNER, cid, w.now, 2000, &w.io), 0);
	expect_tx(&w, .ack = 14001, .wnd = 3100);
	/* fill it: window 0, then a byte at rcv_nxt is dropped but its ACK processed */
	th_in(&w, SEG(.seq = 14001, .ack = 1001, .len = 1000));
	th_in(&w, SEG(.seq = 15001, .ack = 1001, .len = 1000));
	th_in(&w, SEG(.seq = 16001, .ack = 1001, .len = 1100));
	ck_assert_uint_eq(c->rcv_nxt, 17101);
	th_io_reset(&w);
	c->flags |= TCP_F_ACK_NOW;
	tcp_output(w.t, c, w.now, &w.io);
	expect_tx(&w, .ack = 17101, .wnd = 0);
	th_in(&w, SEG(.seq = 17101, .ack = 1001, .len = 1));
	ck_assert_uint_eq(w.t->stats.tcp_zero_window_drop, 1);
	expect_tx(&w, .ack = 17101, .wnd = 0);
	ck_assert_uint_eq(w.io.place.len, 0);
	/* 100 bytes free: still 0 (less than min(buffer/2, MSS)) */
	ck_assert_int_eq(tcp_recvd(w.t, TH_OWNER, cid, w.now, 100, &w.io), 0);
	expect_no_tx(&w, w.now);
	ck_assert_int_eq(tcp_recvd(w.t, TH_OWNER, cid, w.now, 1500, &w.io), 0);
	expect_tx(&w, .ack = 17101, .wnd = 1600);
}
END_TEST

START_TEST(scaled_window_never_shrinks)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.ws = true, .rcv_wscale = 7, .snd_wscale = 7,
					      .rcv_buf = 131072),
				     &cid);
	uint32_t edge = c->rcv_adv, unread = 0, seed = 12345;

	for (unsigned i = 0; i < 2000; i++) {
		uint32_t n;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 8) % 3000 + 1;
		if ((seed >> 20) & 1) {
			uint32_t room = c->rcv_adv - c->rcv_nxt;

			if (n > room)
				n = room;
			if (n)
				th_in(&w, SEG(.seq = c->rcv_nxt, .ack = 1001, .len = n));
			unread += n;
		} else {
			if (n > unread)
				n = unread;
			ck_assert_int_eq(tcp_recvd(w.t, TH_OWNER, cid, w.now, n, &w.io), 0);
			unread -= n;
		}
		for (unsigned k = 0; k < w.io.n_tx; k++) {
			const struct tcp_tx *tx = &w.io.tx[k];
			uint32_t right = tx->ack + ((uint32_t)tx->wnd << 7);

			/* never left of what was offered but for the scale's rounding (RFC 7323
			 * Appendix F), and never creeping past the buffer */
			ck_assert_msg(SEQ_GEQ(right + 127, edge), "right edge moved left: %u < %u",
				      right, edge);
			ck_assert_msg(SEQ_LEQ(right, seq_max(edge, c->read_seq + c->rcv_buf)),
				      "right edge %u beyond the buffer %u", right,
				      c->read_seq + c->rcv_buf);
			edge = seq_max(edge, right);
		}
		w.now += TH_MS;
		th_io_reset(&w);
		tcp_timers(w.t, w.now, &w.io);
	}
}
END_TEST

START_TEST(delayed_ack_timing)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(), &cid);
	uint64_t t0 = w.now;

	th_in(&w, SEG(.seq = 5001, .ack = 1001, .len = 1460));
	expect_no_tx(&w, t0 + TCP_DELACK_MIN_NS - 1);
	th_at(&w, t0 + TCP_DELACK_MIN_NS);
	expect_tx(&w, .ack = 6461);
	ck_assert_uint_eq(w.t->stats.delayed_acks, 1);
	ck_assert_uint_le(TCP_DELACK_MIN_NS, TCP_DELACK_MAX_NS);
	/* every second full-sized segment is acknowledged at once */
	th_in(&w, SEG(.seq = 6461, .ack = 1001, .len = 1460));
	expect_no_tx(&w, w.now);
	th_in(&w, SEG(.seq = 7921, .ack = 1001, .len = 1460));
	expect_tx(&w, .ack = 9381);
	ck_assert_uint_eq(c->t_delack, 0);
	/* data we send carries the ACK: no separate one */
	th_in(&w, SEG(.seq = 9381, .ack = 1001, .len = 100));
	send_bytes(cid, 10, 0);
	expect_tx(&w, .ack = 9481, .len = 10);
	ck_assert_uint_eq(c->t_delack, 0);
	expect_no_tx(&w, c->t_rtx - 1);
}
END_TEST

START_TEST(quick_acks_at_start)
{
	uint32_t cid;
	struct tcp_conn *c;
	const struct tcp_tx *syn;

	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &cid), 0);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, cid, w.now, 0, TH_RADDR, TH_RPORT, 1500,
				     &w.io),
			 0);
	c = tcp_conn_by_cid(w.t, cid);
	syn = expect_tx(&w, .flags = TCP_SYN);
	th_in(&w, SEG(.flags = TCP_SYN | TCP_ACK, .seq = 100, .ack = syn->seq + 1,
		      .dport = c->lport, .mss = true, .mss_val = 1460));
	expect_tx(&w, .flags = TCP_ACK);
	/* the first segments are each acknowledged at once (Linux quick-ACK mode) ... */
	for (unsigned i = 0; i < 16; i++) {
		th_in(&w, SEG(.seq = 101 + 100 * i, .ack = syn->seq + 1, .len = 100,
			      .dport = c->lport));
		expect_tx(&w, .ack = 201 + 100 * i);
	}
	/* ... then delayed */
	th_in(&w, SEG(.seq = 1701, .ack = syn->seq + 1, .len = 100, .dport = c->lport));
	expect_no_tx(&w, w.now);
	ck_assert_uint_ne(c->t_delack, 0);
}
END_TEST

START_TEST(quick_acks_after_idle)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(), &cid);

	th_in(&w, SEG(.seq = 5001, .ack = 1001, .len = 100));
	expect_no_tx(&w, w.now); /* delayed */
	th_run_until(&w, w.now + TH_S);
	expect_tx(&w, .ack = 5101);
	/* five seconds of silence, longer than an RTO: the peer restarts slowly, ACK at once */
	w.now += 5 * TH_S;
	th_in(&w, SEG(.seq = 5101, .ack = 1001, .len = 100));
	expect_tx(&w, .ack = 5201);
	ck_assert_uint_gt(c->quick_acks, 0);
}
END_TEST

START_TEST(ooo_and_hole_ack_at_once)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.sack = true), &cid);

	th_in(&w, SEG(.seq = 6001, .ack = 1001, .len = 500));
	expect_tx(&w, .ack = 5001, .n_sack = 1, .sack0_start = 6001, .sack0_end = 6501);
	ck_assert_uint_eq(w.io.place.stream_seq, 6001);
	ck_assert_uint_eq(c->rcv_nxt, 5001);
	th_in(&w, SEG(.seq = 7001, .ack = 1001, .len = 500));
	expect_tx(&w, .ack = 5001, .n_sack = 2, .sack0_start = 7001, .sack1_start = 6001);
	/* the hole filled: everything acknowledged at once, no SACK left */
	th_in(&w, SEG(.seq = 5001, .ack = 1001, .len = 1000));
	expect_tx(&w, .ack = 6501, .n_sack = 1, .sack0_start = 7001);
	th_in(&w, SEG(.seq = 6501, .ack = 1001, .len = 500));
	expect_tx(&w, .ack = 7501, .n_sack = 0);
	ck_assert_uint_eq(w.t->stats.tcp_ofo_queue, 2);
	/* a duplicate: D-SACK (RFC 2883) */
	th_in(&w, SEG(.seq = 6001, .ack = 1001, .len = 500));
	expect_tx(&w, .ack = 7501, .n_sack = 1, .sack0_start = 6001, .sack0_end = 6501);
	ck_assert_uint_eq(w.t->stats.tcp_dsack_sent, 1);
}
END_TEST

START_TEST(zero_window_probes_back_off)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.cwnd = 100000, .flags = TCP_F_NODELAY), &cid);
	uint64_t t0, at;

	send_bytes(cid, 1000, 0);
	expect_tx(&w, .len = 1000);
	th_in(&w, SEG(.seq = 5001, .ack = 2001, .wnd = 0));
	send_bytes(cid, 500, 0);
	expect_no_tx(&w, w.now);
	t0 = w.now;
	at = t0;
	/* probes with seq snd_una - 1 and no data, every RTO (here the 200 ms floor) doubled */
	for (unsigned i = 0; i < 5; i++) {
		uint64_t next = c->t_persist;

		ck_assert_uint_eq(next - at, TCP_RTO_MIN_NS << i);
		expect_no_tx(&w, next - 1);
		th_at(&w, next);
		expect_tx(&w, .seq = 2000, .len = 0, .flags = TCP_ACK);
		/* the peer answers, still closed */
		th_in(&w, SEG(.seq = 5001, .ack = 2001, .wnd = 0));
		at = next;
	}
	ck_assert_uint_eq(w.t->stats.tcp_win_probe, 5);
	/* it opens: the data goes at once */
	th_in(&w, SEG(.seq = 5001, .ack = 2001, .wnd = 65535));
	expect_tx(&w, .seq = 2001, .len = 500);
	ck_assert_uint_eq(c->t_persist, 0);
}
END_TEST

START_TEST(tso_super_segments)
{
	uint32_t cid;
	struct tcp_conn *c;

	th_fini(&w);
	th_init(&w, true);
	c = th_conn(&w, SPEC(.cwnd = 1000000, .ws = true, .snd_wscale = 7, .rcv_wscale = 7,
			     .snd_wnd = 4000000, .snd_buf = 1000000, .flags = TCP_F_NODELAY),
		    &cid);
	/* no RTT yet: Linux's minimum, 2 segments */
	send_bytes(cid, 10000, 0);
	expect_tx(&w, .seq = 1001, .len = 2920, .gso = 1460);
	expect_tx(&w, .len = 2920, .gso = 1460);
	expect_tx(&w, .len = 2920, .gso = 1460);
	expect_tx(&w, .len = 1240, .gso = 0, .flags = TCP_ACK | TCP_PSH);
	th_in(&w, SEG(.seq = 5001, .ack = 11001, .wnd = 30000));
	/* a fast path: about 1 ms of the rate, capped at what a super-segment holds */
	c->rtt.srtt_us = 100;
	send_bytes(cid, 200000, 0);
	expect_tx(&w, .seq = 11001, .len = 44 * 1460, .gso = 1460);
	expect_tx(&w, .len = 44 * 1460, .gso = 1460);
	expect_tx(&w, .len = 44 * 1460, .gso = 1460);
	/* the tail of the stream may end in a partial piece (NODELAY lets it go) */
	expect_tx(&w, .len = 200000 - 3 * 44 * 1460, .gso = 1460, .flags = TCP_ACK | TCP_PSH);
	/* the window, not the data, ends a burst: at whole segments */
	th_in(&w, SEG(.seq = 5001, .ack = 211001, .wnd = 100)); /* 12800 bytes */
	send_bytes(cid, 100000, 0);
	expect_tx(&w, .seq = 211001, .len = 8 * 1460, .gso = 1460, .flags = TCP_ACK);
	expect_no_tx(&w, w.now);
}
END_TEST

START_TEST(urgent_pointer)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.flags = TCP_F_NODELAY, .rcv_buf = 10000), &cid);

	send_bytes(cid, 10, MSG_OOB);
	expect_tx(&w, .seq = 1001, .len = 10, .flags = TCP_ACK | TCP_PSH | TCP_URG, .urp = 10);
	th_in(&w, SEG(.seq = 5001, .ack = 1011));
	ck_assert_uint_eq(c->snd_up, c->snd_una); /* urgent mode over */
	send_bytes(cid, 10, 0);
	expect_tx(&w, .flags = TCP_ACK | TCP_PSH, .urp = 0);
	/* received: the pointer is kept if sane, ignored if it points out of the window */
	th_in(&w, SEG(.flags = TCP_ACK | TCP_URG, .seq = 5001, .ack = 1021, .len = 5, .urp = 3));
	ck_assert_uint_eq(c->rcv_up, 5004);
	ck_assert_uint_eq(c->rcv_nxt, 5006);
	th_in(&w, SEG(.flags = TCP_ACK | TCP_URG, .seq = 5006, .ack = 1021, .len = 5,
		      .urp = 65535));
	ck_assert_uint_eq(c->rcv_up, 5004);
	ck_assert_uint_eq(c->rcv_nxt, 5011);
}
END_TEST

START_TEST(fin_after_queued_data)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.cwnd = 100000, .snd_wnd = 4000,
					      .flags = TCP_F_NODELAY),
				     &cid);

	send_bytes(cid, 5000, 0);
	expect_tx(&w, .seq = 1001, .len = 1460);
	expect_tx(&w, .seq = 2461, .len = 1460);
	expect_no_tx(&w, w.now); /* 1080 left in the window: under half of 4000 */
	ck_assert_int_eq(tcp_shutdown(w.t, TH_OWNER, cid, w.now, SHUT_WR, &w.io), 0);
	ck_assert_uint_eq(c->state, TCP_STATE_FIN_WAIT_1);
	expect_no_tx(&w, w.now);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 1, 0, &w.io), -EPIPE);
	/* the window opens: the rest, with the FIN on its last segment */
	th_in(&w, SEG(.seq = 5001, .ack = 3921, .wnd = 5000));
	expect_tx(&w, .seq = 3921, .len = 1460, .flags = TCP_ACK);
	expect_tx(&w, .seq = 5381, .len = 620, .flags = TCP_ACK | TCP_PSH | TCP_FIN);
	th_in(&w, SEG(.seq = 5001, .ack = 6002, .wnd = 5000));
	ck_assert_uint_eq(c->state, TCP_STATE_FIN_WAIT_2);
}
END_TEST

START_TEST(full_io_defers_output)
{
	uint32_t cid, ev[4];
	struct tcp_tx tx[2];
	struct tcp_io io = {.tx = tx, .tx_max = 2, .ev = ev, .ev_max = 4};
	struct tcp_conn *c = th_conn(&w, SPEC(.cwnd = 100000, .flags = TCP_F_NODELAY), &cid);

	/* room for two segments: the rest is owed, nothing is lost or skipped */
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 5 * 1460, 0, &io), 0);
	ck_assert_uint_eq(io.n_tx, 2);
	ck_assert_uint_eq(tx[1].seq, 1001 + 1460);
	ck_assert(c->flags & TCP_F_DEFER_OUTPUT);
	ck_assert_uint_eq(w.t->n_deferred, 1);
	ck_assert_uint_ge(w.t->stats.io_full, 1);
	io.n_tx = 0;
	tcp_output_deferred(w.t, w.now, &io);
	ck_assert_uint_eq(io.n_tx, 2);
	ck_assert_uint_eq(tx[0].seq, 1001 + 2 * 1460);
	io.n_tx = 0;
	tcp_output_deferred(w.t, w.now, &io);
	ck_assert_uint_eq(io.n_tx, 1);
	ck_assert_uint_eq(tx[0].seq, 1001 + 4 * 1460);
	ck_assert_uint_eq(tx[0].flags, TCP_ACK | TCP_PSH);
	ck_assert(!(c->flags & TCP_F_DEFER_OUTPUT));
	ck_assert_uint_eq(w.t->n_deferred, 0);
	/* an owed ACK survives a full io the same way */
	io.n_tx = 2;
	th_in(&w, SEG(.seq = 5001, .ack = 1001, .len = 10, .sport = TH_RPORT));
	c->flags |= TCP_F_ACK_NOW;
	tcp_output(w.t, c, w.now, &io);
	ck_assert_uint_eq(io.n_tx, 2);
	ck_assert(c->flags & TCP_F_DEFER_OUTPUT);
	io.n_tx = 0;
	tcp_output_deferred(w.t, w.now, &io);
	ck_assert_uint_eq(io.n_tx, 1);
	ck_assert_uint_eq(tx[0].ack, 5011);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_output");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, nagle_minshall);
	tcase_add_test(tc, cork_and_msg_more);
	tcase_add_test(tc, sender_sws_avoidance);
	tcase_add_test(tc, receiver_window_updates);
	tcase_add_test(tc, scaled_window_never_shrinks);
	tcase_add_test(tc, delayed_ack_timing);
	tcase_add_test(tc, quick_acks_at_start);
	tcase_add_test(tc, quick_acks_after_idle);
	tcase_add_test(tc, ooo_and_hole_ack_at_once);
	tcase_add_test(tc, zero_window_probes_back_off);
	tcase_add_test(tc, tso_super_segments);
	tcase_add_test(tc, urgent_pointer);
	tcase_add_test(tc, fin_after_queued_data);
	tcase_add_test(tc, full_io_defers_output);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
