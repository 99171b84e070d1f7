/* test_tcp_segments: segment arrival in every synchronized state (RFC 9293 §3.10.7.4) — a
 * table of state × segment kind (RST exact / in window / outside, SYN, ACK, data in, out of
 * and below the window, FIN, a retransmitted FIN, an ACK of unsent data, data without ACK)
 * with the state and the answer each must produce; then RFC 5961 (challenge ACKs and their
 * rate limit), PAWS (RFC 7323 §5) with its 24-day rule, TIME-WAIT (RFC 1337, RFC 6191 reopen,
 * 2·MSL restart), and simultaneous close (RFC 9293 §3.6). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "helper_check.h"
#include "helper_tcp.h"

static struct th w;

static void setup(void) { th_init(&w, false); }
static void teardown(void) { th_fini(&w); }

enum kind {
	K_RST_EXACT, K_RST_INWIN, K_RST_OUT, K_SYN, K_ACK_ALL, K_DATA, K_DATA_OUT, K_DATA_OLD,
	K_FIN, K_FIN_RTX, K_ACK_UNSENT, K_NO_ACK, K_COUNT
};
static const char *const kind_name[K_COUNT] = {
	"rst-exact", "rst-in-window", "rst-outside", "syn", "ack-all", "data", "data-outside",
	"data-old", "fin", "fin-retransmitted", "ack-unsent", "data-no-ack",
};

#define NONE 0xff
#define CH (TCP_ACK) /* a challenge ACK or plain ACK */
struct outcome {
	uint8_t state; /* after */
	uint8_t tx;    /* flags of the one segment sent, NONE for nothing */
};

static const uint8_t states[] = {TCP_STATE_ESTABLISHED, TCP_STATE_FIN_WAIT_1,
				 TCP_STATE_FIN_WAIT_2,  TCP_STATE_CLOSE_WAIT,
				 TCP_STATE_CLOSING,     TCP_STATE_LAST_ACK, TCP_STATE_TIME_WAIT};
#define ES TCP_STATE_ESTABLISHED
#define F1 TCP_STATE_FIN_WAIT_1
#define F2 TCP_STATE_FIN_WAIT_2
#define CW TCP_STATE_CLOSE_WAIT
#define CG TCP_STATE_CLOSING
#define LA TCP_STATE_LAST_ACK
#define TW TCP_STATE_TIME_WAIT
#define CL TCP_STATE_CLOSED

/* [state][kind]: RFC 9293 §3.10.7.4 with RFC 5961 and RFC 1337 */
static const struct outcome expect[7][K_COUNT] = {
	/* ESTABLISHED */
	{{CL, NONE}, {ES, CH}, {ES, NONE}, {ES, CH}, {ES, NONE}, {ES, NONE}, {ES, CH}, {ES, CH},
	 {CW, NONE}, {ES, CH}, {ES, CH}, {ES, NONE}},
	/* FIN-WAIT-1 */
	{{CL, NONE}, {F1, CH}, {F1, NONE}, {F1, CH}, {F2, NONE}, {F1, NONE}, {F1, CH}, {F1, CH},
	 {CG, CH}, {F1, CH}, {F1, CH}, {F1, NONE}},
	/* FIN-WAIT-2 */
	{{CL, NONE}, {F2, CH}, {F2, NONE}, {F2, CH}, {F2, NONE}, {F2, NONE}, {F2, CH}, {F2, CH},
	 {TW, CH}, {F2, CH}, {F2, CH}, {F2, NONE}},
	/* CLOSE-WAIT */
	{{CL, NONE}, {CW, CH}, {CW, NONE}, {CW, CH}, {CW, NONE}, {CW, NONE}, {CW, CH}, {CW, CH},
	 {CW, NONE}, {CW, CH}, {CW, CH}, {CW, NONE}},
	/* CLOSING */
	{{CL, NONE}, {CG, CH}, {CG, NONE}, {CG, CH}, {TW, NONE}, {CG, NONE}, {CG, CH}, {CG, CH},
	 {CG, NONE}, {CG, CH}, {CG, CH}, {CG, NONE}},
	/* LAST-ACK */
	{{CL, NONE}, {LA, CH}, {LA, NONE}, {LA, CH}, {CL, NONE}, {LA, NONE}, {LA, CH}, {LA, CH},
	 {LA, NONE}, {LA, CH}, {LA, CH}, {LA, NONE}},
	/* TIME-WAIT: RST ignored, a bare ACK at rcv_nxt restarts the timer, the rest is ACKed */
	{{TW, NONE}, {TW, NONE}, {TW, NONE}, {TW, CH}, {TW, NONE}, {TW, CH}, {TW, CH}, {TW, CH},
	 {TW, CH}, {TW, CH}, {TW, NONE}, {TW, CH}},
};

static void run_case(unsigned si, enum kind k)
{
	uint32_t cid, R, U, N;
	struct tcp_conn *c;
	struct th_seg sg;

	th_init(&w, false);
	c = th_conn(&w, SPEC(.iss = 1000, .irs = 5000), &cid);
	if (states[si] != TCP_STATE_ESTABLISHED)
		th_conn_move(&w, c, states[si]);
	th_io_reset(&w);
	R = c->rcv_nxt;
	U = c->snd_una;
	N = c->snd_nxt;
	switch (k) {
	case K_RST_EXACT:
		sg = *SEG(.flags = TCP_RST, .seq = R);
		break;
	case K_RST_INWIN:
		sg = *SEG(.flags = TCP_RST, .seq = R + 100);
		break;
	case K_RST_OUT:
		sg = *SEG(.flags = TCP_RST, .seq = R + 1000000);
		break;
	case K_SYN:
		sg = *SEG(.flags = TCP_SYN, .seq = R + 10);
		break;
	case K_ACK_ALL:
		sg = *SEG(.seq = R, .ack = N);
		break;
	case K_DATA:
		sg = *SEG(.seq = R, .ack = U, .len = 100);
		break;
	case K_DATA_OUT:
		sg = *SEG(.seq = R + 200000, .ack = U, .len = 100);
		break;
	case K_DATA_OLD:
		sg = *SEG(.seq = R - 200, .ack = U, .len = 50);
		break;
	case K_FIN:
		sg = *SEG(.flags = TCP_FIN | TCP_ACK, .seq = R, .ack = U);
		break;
	case K_FIN_RTX:
		sg = *SEG(.flags = TCP_FIN | TCP_ACK, .seq = R - 1, .ack = U);
		break;
	case K_ACK_UNSENT:
		sg = *SEG(.seq = R, .ack = N + 1000);
		break;
	case K_NO_ACK:
		sg = *SEG(.flags = 0, .seq = R, .len = 10);
		break;
	case K_COUNT:
		ck_abort();
	}
	th_in(&w, &sg);
	ck_assert_msg(c->state == expect[si][k].state, "%u + %s: state %u, expected %u",
		      states[si], kind_name[k], c->state, expect[si][k].state);
	if (expect[si][k].tx == NONE) {
		ck_assert_msg(w.io.n_tx == 0, "%u + %s: sent flags 0x%x", states[si], kind_name[k],
			      w.io.tx[0].flags);
	} else {
		ck_assert_msg(w.io.n_tx == 1, "%u + %s: %u segments", states[si], kind_name[k],
			      w.io.n_tx);
		ck_assert_msg(w.io.tx[0].flags == expect[si][k].tx, "%u + %s: flags 0x%x",
			      states[si], kind_name[k], w.io.tx[0].flags);
		/* whatever we send acknowledges what we hold */
		ck_assert_uint_eq(w.io.tx[0].ack, c->rcv_nxt);
	}
	if (k == K_DATA && (states[si] == ES || states[si] == F1 || states[si] == F2)) {
		ck_assert_uint_eq(c->rcv_nxt, R + 100);
		ck_assert_uint_eq(w.io.place.len, 100);
		ck_assert_uint_eq(w.io.place.stream_seq, R);
		ck_assert_uint_ne(c->t_delack, 0); /* less than 2 segments: delayed */
	} else {
		ck_assert_uint_eq(w.io.place.len, 0);
	}
	if (k == K_RST_EXACT && states[si] != TW)
		ck_assert_uint_eq(c->pending_error, states[si] == CW ? EPIPE : ECONNRESET);
	th_fini(&w);
}

START_TEST(state_by_segment)
{
	for (unsigned si = 0; si < sizeof(states); si++)
		for (unsigned k = 0; k < K_COUNT; k++)
			run_case(si, (enum kind)k);
}
END_TEST

/* --- RFC 5961 --- */

START_TEST(challenge_ack_rate_limit)
{
	uint32_t cid;
	unsigned sent;
	struct tcp_conn *c;

	th_init(&w, false);
	c = th_conn(&w, SPEC(), &cid);
	/* 3000 blind RSTs in one second: at most 3/2 of the limit are answered */
	for (unsigned i = 0; i < 3000; i++) {
		th_io_reset(&w);
		th_in(&w, SEG(.flags = TCP_RST, .seq = c->rcv_nxt + 1 + i));
	}
	sent = (unsigned)w.t->stats.tcp_challenge_ack;
	ck_assert_uint_ge(sent, TCP_CHALLENGE_ACK_LIMIT / 2);
	ck_assert_uint_lt(sent, TCP_CHALLENGE_ACK_LIMIT * 3 / 2);
	ck_assert_uint_eq(w.t->stats.challenge_ack_limited, 3000 - sent);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	/* the next second has a new budget */
	w.now += TH_S;
	th_io_reset(&w);
	th_in(&w, SEG(.flags = TCP_SYN, .seq = c->rcv_nxt));
	expect_tx(&w, .flags = TCP_ACK, .ack = c->rcv_nxt);
	ck_assert_uint_eq(w.t->stats.tcp_syn_challenge, 1);
	th_fini(&w);
}
END_TEST

START_TEST(ack_acceptability_max_snd_wnd)
{
	uint32_t cid;
	struct tcp_conn *c;

	th_init(&w, false);
	c = th_conn(&w, SPEC(.snd_wnd = 20000, .flags = TCP_F_NODELAY), &cid);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 3000, 0, &w.io), 0);
	th_in(&w, SEG(.seq = c->rcv_nxt, .ack = 1001 + 3000, .wnd = 20000));
	ck_assert_uint_eq(c->snd_una, 4001);
	th_io_reset(&w);
	/* an old ACK within MAX.SND.WND: ignored, its data taken (RFC 5961 §5.2) */
	th_in(&w, SEG(.seq = c->rcv_nxt, .ack = 4001 - 10000, .len = 10));
	ck_assert_uint_eq(c->rcv_nxt, 5011);
	ck_assert_uint_eq(c->snd_una, 4001);
	/* older than snd_una - MAX.SND.WND: challenge ACK, dropped with its data */
	th_in(&w, SEG(.seq = c->rcv_nxt, .ack = 4001 - 30000, .len = 10));
	expect_tx(&w, .flags = TCP_ACK, .ack = 5011);
	ck_assert_uint_eq(c->rcv_nxt, 5011);
	ck_assert_uint_eq(w.t->stats.in_drop_old_ack, 1);
	th_fini(&w);
}
END_TEST

/* --- PAWS --- */

START_TEST(paws_rejects_old_timestamps)
{
	uint32_t cid;
	struct tcp_conn *c;

	th_init(&w, false);
	c = th_conn(&w, SPEC(.ts = true, .ts_recent = 1000), &cid);
	th_in(&w, SEG(.seq = c->rcv_nxt, .ack = c->snd_una, .len = 10, .ts = true, .tsval = 999));
	expect_tx(&w, .flags = TCP_ACK, .ack = 5001, .tsecr = 1000);
	ck_assert_uint_eq(c->rcv_nxt, 5001);
	ck_assert_uint_eq(w.t->stats.paws_estab_rejected, 1);
	/* newer: accepted, TS.Recent follows (RFC 7323 §4.3) */
	th_in(&w, SEG(.seq = c->rcv_nxt, .ack = c->snd_una, .len = 10, .ts = true, .tsval = 1005));
	ck_assert_uint_eq(c->rcv_nxt, 5011);
	ck_assert_uint_eq(c->ts_recent, 1005);
	/* a RST is never PAWS-checked (R1) */
	th_in(&w, SEG(.flags = TCP_RST, .seq = c->rcv_nxt, .ts = true, .tsval = 1));
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	th_fini(&w);
}
END_TEST

START_TEST(paws_24_days)
{
	uint32_t cid;
	struct tcp_conn *c;

	th_init(&w, false);
	c = th_conn(&w, SPEC(.ts = true, .ts_recent = 0x80000000u), &cid);
	w.now += 25ull * 86400ull * TH_S;
	/* TS.Recent is stale after 24 days idle (RFC 7323 §5.5): an "older" TSval passes */
	th_in(&w, SEG(.seq = c->rcv_nxt, .ack = c->snd_una, .len = 10, .ts = true, .tsval = 7));
	ck_assert_uint_eq(c->rcv_nxt, 5011);
	ck_assert_uint_eq(c->ts_recent, 7);
	ck_assert_uint_eq(w.t->stats.paws_estab_rejected, 0);
	th_fini(&w);
}
END_TEST

/* --- TIME-WAIT --- */

START_TEST(time_wait_rfc1337_and_expiry)
{
	uint32_t cid;
	struct tcp_conn *c;
	uint64_t t0;

	th_init(&w, false);
	c = th_conn(&w, SPEC(), &cid);
	th_conn_move(&w, c, TCP_STATE_TIME_WAIT);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
	t0 = w.now;
	th_in(&w, SEG(.flags = TCP_RST, .seq = c->rcv_nxt));
	ck_assert_uint_eq(c->state, TCP_STATE_TIME_WAIT);
	ck_assert_uint_eq(w.t->stats.tw_killed_rst_ignored, 1);
	/* a retransmitted FIN 30 s in: ACK, 2·MSL starts again */
	w.now = t0 + 30 * TH_S;
	th_in(&w, SEG(.flags = TCP_FIN | TCP_ACK, .seq = c->rcv_nxt - 1, .ack = c->snd_nxt));
	expect_tx(&w, .flags = TCP_ACK, .ack = c->rcv_nxt, .seq = c->snd_nxt);
	expect_no_tx(&w, t0 + 30 * TH_S + TCP_TIMEWAIT_NS - 1);
	ck_assert_uint_eq(c->in_use, 1);
	th_io_reset(&w);
	th_at(&w, t0 + 30 * TH_S + TCP_TIMEWAIT_NS);
	ck_assert_uint_eq(c->in_use, 0);
	ck_assert_uint_eq(th_events(&w, cid), TCP_EV_FREED);
	th_fini(&w);
}
END_TEST

START_TEST(time_wait_reopened_by_newer_syn)
{
	uint32_t cid, lcid, sock, ncid;
	struct tcp_conn *c, *n;
	uint32_t snd_nxt, rcv_nxt;

	th_init(&w, false);
	c = th_conn(&w, SPEC(.ts = true, .ts_recent = 500), &cid);
	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &sock), 0);
	c->flags |= TCP_F_REUSEADDR;
	{
		int one = 1;

		ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, sock, w.now, SOL_SOCKET, SO_REUSEADDR,
					    &one, sizeof(one), &w.io),
				 0);
	}
	ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, sock, 0, TH_LPORT), 0);
	ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, sock, 10, &lcid), 0);
	th_conn_move(&w, c, TCP_STATE_TIME_WAIT);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
	snd_nxt = c->snd_nxt;
	rcv_nxt = c->rcv_nxt;
	/* an old SYN (below rcv_nxt, older timestamp): just an ACK */
	th_in(&w, SEG(.flags = TCP_SYN, .seq = c->rcv_nxt - 10, .ts = true, .tsval = 400));
	expect_tx(&w, .flags = TCP_ACK);
	ck_assert_uint_eq(c->state, TCP_STATE_TIME_WAIT);
	/* a newer one reopens the 4-tuple, with an ISN beyond the old sequence space */
	th_io_reset(&w);
	th_in(&w, SEG(.flags = TCP_SYN, .seq = rcv_nxt - 10, .ts = true, .tsval = 600));
	ck_assert_uint_eq(w.t->stats.tcp_time_wait_recycled, 1);
	ck_assert_uint_eq(th_events(&w, cid), TCP_EV_FREED);
	expect_tx(&w, .flags = TCP_SYN | TCP_ACK, .seq = snd_nxt + 65537, .ack = rcv_nxt - 9);
	(void)ncid;
	n = tcp_conn_find(w.t, TH_LADDR, TH_LPORT, TH_RADDR, TH_RPORT);
	ck_assert_ptr_nonnull(n);
	ck_assert_uint_eq(n->state, TCP_STATE_SYN_RECEIVED);
	ck_assert_uint_eq(n->iss, snd_nxt + 65537);
	th_fini(&w);
}
END_TEST

START_TEST(simultaneous_close)
{
	uint32_t cid;
	struct tcp_conn *c;
	uint32_t fin;

	th_init(&w, false);
	c = th_conn(&w, SPEC(), &cid);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
	ck_assert_uint_eq(c->state, TCP_STATE_FIN_WAIT_1);
	fin = expect_tx(&w, .flags = TCP_FIN | TCP_ACK, .seq = 1001, .ack = 5001)->seq;
	/* their FIN crosses ours */
	th_in(&w, SEG(.flags = TCP_FIN | TCP_ACK, .seq = 5001, .ack = fin));
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSING);
	expect_tx(&w, .flags = TCP_ACK, .seq = fin + 1, .ack = 5002);
	/* their ACK of our FIN */
	th_in(&w, SEG(.seq = 5002, .ack = fin + 1));
	ck_assert_uint_eq(c->state, TCP_STATE_TIME_WAIT);
	ck_assert_uint_eq(c->t_rtx, 0);
	expect_no_tx(&w, w.now + TCP_TIMEWAIT_NS - 1);
	th_at(&w, w.now + 1);
	ck_assert_uint_eq(c->in_use, 0);
	th_fini(&w);
}
END_TEST

START_TEST(normal_close_both_ways)
{
	uint32_t cid;
	struct tcp_conn *c;

	th_init(&w, false);
	c = th_conn(&w, SPEC(), &cid);
	/* they close first: CLOSE-WAIT, then we do: LAST-ACK, then CLOSED */
	th_in(&w, SEG(.flags = TCP_FIN | TCP_ACK, .seq = 5001, .ack = 1001));
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSE_WAIT);
	ck_assert(th_events(&w, cid) & TCP_EV_RDHUP);
	ck_assert_int_eq(tcp_shutdown(w.t, TH_OWNER, cid, w.now, SHUT_WR, &w.io), 0);
	ck_assert_uint_eq(c->state, TCP_STATE_LAST_ACK);
	expect_tx(&w, .flags = TCP_FIN | TCP_ACK, .seq = 1001, .ack = 5002);
	th_in(&w, SEG(.seq = 5002, .ack = 1002));
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	ck_assert_uint_eq(c->pending_error, 0);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 1, 0, &w.io), -EPIPE);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
	ck_assert_uint_eq(c->in_use, 0);
	th_fini(&w);
}
END_TEST

START_TEST(orphan_fin_wait_2_times_out)
{
	uint32_t cid;
	struct tcp_conn *c;
	uint64_t t0;

	th_init(&w, false);
	c = th_conn(&w, SPEC(), &cid);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
	expect_tx(&w, .flags = TCP_FIN | TCP_ACK);
	th_in(&w, SEG(.seq = 5001, .ack = 1002));
	ck_assert_uint_eq(c->state, TCP_STATE_FIN_WAIT_2);
	t0 = w.now;
	/* data for an orphan: nobody will read it, RST (Linux TCPAbortOnData) */
	expect_no_tx(&w, t0 + TCP_FIN_TIMEOUT_NS - 1);
	th_at(&w, t0 + TCP_FIN_TIMEOUT_NS);
	ck_assert_uint_eq(c->in_use, 0);
	expect_no_tx(&w, w.now + TH_S);
	th_fini(&w);

	th_init(&w, false);
	c = th_conn(&w, SPEC(), &cid);
	ck_assert_int_eq(tcp_close(w.t, TH_OWNER, cid, w.now, &w.io), 0);
	th_in(&w, SEG(.seq = 5001, .ack = 1002, .len = 10));
	ck_assert_uint_eq(w.t->stats.tcp_abort_on_data, 1);
	expect_tx(&w, .flags = TCP_FIN | TCP_ACK);
	expect_tx(&w, .flags = TCP_RST | TCP_ACK, .seq = 1002);
	ck_assert_uint_eq(c->in_use, 0);
	th_fini(&w);
}
END_TEST

/* Random segments — flags, sequence and ACK numbers near and far from the windows, lengths,
 * option bytes, urgent pointers — against connections in every state, a listener and the
 * timers: nothing crashes (the ASan build runs this), the table's invariants hold throughout,
 * and every drop is a counted drop. */
START_TEST(random_segments_keep_invariants)
{
	uint32_t seed = 0x5eed;

	for (unsigned round = 0; round < 40; round++) {
		uint32_t cid, s, lcid;
		struct tcp_conn *c;

		th_init(&w, round % 2);
		c = th_conn(&w, SPEC(.ts = round % 3 == 0, .sack = round % 2 == 0,
				     .ws = round % 4 == 0, .rcv_wscale = 7, .snd_wscale = 3,
				     .flags = TCP_F_NODELAY),
			    &cid);
		if (states[round % sizeof(states)] != TCP_STATE_ESTABLISHED)
			th_conn_move(&w, c, states[round % sizeof(states)]);
		ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &s), 0);
		ck_assert_int_eq(tcp_bind(w.t, TH_OWNER, s, 0, 0x5000), 0);
		ck_assert_int_eq(tcp_listen(w.t, TH_OWNER, s, 2, &lcid), 0);
		for (unsigned i = 0; i < 3000; i++) {
			struct th_seg sg;
			uint8_t opt[40];
			uint32_t r;

			seed = seed * 1103515245u + 12345u;
			r = seed >> 8;
			memset(&sg, 0, sizeof(sg));
			sg.flags = (uint8_t)(seed >> 24);
			sg.wscale = -1;
			sg.wnd = (uint16_t)(r * 7);
			sg.seq = (r & 3) == 0 ? c->rcv_nxt + (r % 64) - 32 : r * 2654435761u;
			sg.ack = (r & 12) == 0 ? c->snd_una + (r % 64) - 32 : r * 40503u;
			sg.len = (r >> 3) % 1600;
			sg.urp = (uint16_t)(r >> 5);
			sg.sport = (r & 0x300) == 0 ? 0x0a0a : TH_RPORT;
			sg.dport = (r & 0xc00) == 0 ? 0x5000 : TH_LPORT;
			if (r & 0x1000) {
				sg.raw_opt = opt;
				sg.raw_opt_len = (uint8_t)((r >> 13) % 41);
				for (unsigned k = 0; k < sizeof(opt); k++) {
					seed = seed * 1103515245u + 12345u;
					opt[k] = (uint8_t)(seed >> 16) % 12;
				}
			} else if (r & 0x2000) {
				sg.ts = true;
				sg.tsval = c->ts_recent + (r % 5) - 2;
				sg.n_sack = (uint8_t)((r >> 14) % 5);
				for (unsigned k = 0; k < sg.n_sack; k++) {
					sg.sack[k].start = c->snd_una + (r % 3000) - 1000 + 100 * k;
					sg.sack[k].end = sg.sack[k].start + (r >> 4) % 3000;
				}
				if (sg.n_sack > 3)
					sg.ts = false;
			}
			if (i % 97 == 0 && c->in_use && c->owner == TH_OWNER)
				tcp_send(w.t, TH_OWNER, cid, w.now, 1000, 0, &w.io);
			th_in(&w, &sg);
			if (i % 50 == 0) {
				w.now += (r % 1000) * TH_MS;
				tcp_timers(w.t, w.now, &w.io);
			}
			th_io_reset(&w);
		}
		th_check_table(w.t);
		ck_assert_uint_eq(w.t->stats.in_segs, 3000);
		tcp_close_owner(w.t, TH_OWNER, w.now, &w.io);
		th_run_until(&w, w.now + 1000 * TH_S);
		th_fini(&w);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_segments");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60); /* a hang guard: seconds under ASan, loaded */

	/* each test builds and checks its own world(s) */
	(void)setup;
	(void)teardown;
	tcase_add_test(tc, state_by_segment);
	tcase_add_test(tc, challenge_ack_rate_limit);
	tcase_add_test(tc, ack_acceptability_max_snd_wnd);
	tcase_add_test(tc, paws_rejects_old_timestamps);
	tcase_add_test(tc, paws_24_days);
	tcase_add_test(tc, time_wait_rfc1337_and_expiry);
	tcase_add_test(tc, time_wait_reopened_by_newer_syn);
	tcase_add_test(tc, simultaneous_close);
	tcase_add_test(tc, normal_close_both_ways);
	tcase_add_test(tc, orphan_fin_wait_2_times_out);
	tcase_add_test(tc, random_segments_keep_invariants);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
