/* test_tcp_timers: the TCP core's timers (tcp_timer.c): the data retransmission schedule with
 * exponential backoff (RFC 6298 §5.5) and its cap, giving up after Linux's TCP_RETRIES2 model
 * (ETIMEDOUT, or the ICMP soft error seen meanwhile), TCP_USER_TIMEOUT for retransmissions,
 * for zero-window probes and for keepalives, keepalive probes and the reset after
 * TCP_KEEPCNT, and the deadline cache (tcp_next_deadline answers without a scan, is never
 * late, and disarmed timers cost at most a scan), and tcp_path_restored (a restart's losses
 * repaired at once, the backoff reset, handshakes left alone). */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "helper_check.h"
#include "helper_tcp.h"

static struct th w;

static void setup(void) { th_init(&w, false); }
static void teardown(void) { th_fini(&w); }

static void setopt_int(uint32_t cid, int level, int name, int v)
{
	ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, cid, w.now, level, name, &v, sizeof(v), &w.io),
			 0);
}

START_TEST(rto_backoff_schedule)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.flags = TCP_F_NODELAY), &cid);
	uint64_t at = w.now, rto = tcp_rtt_rto_ns(&c->rtt);

	ck_assert_uint_eq(rto, TCP_RTO_INIT_NS);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	expect_tx(&w, .seq = 1001, .len = 100);
	/* 1, 2, 4, ... 64 s apart, then capped at 120 s */
	for (unsigned i = 0; i < 9; i++) {
		uint64_t gap = (TCP_RTO_INIT_NS << i) < TCP_RTO_MAX_NS ? TCP_RTO_INIT_NS << i
								       : TCP_RTO_MAX_NS;

		ck_assert_uint_eq(c->t_rtx, at + gap);
		expect_no_tx(&w, at + gap - 1);
		th_at(&w, at + gap);
		expect_tx(&w, .seq = 1001, .len = 100);
		at += gap;
	}
	ck_assert_uint_eq(w.t->stats.tcp_timeouts, 9);
	ck_assert_uint_eq(c->total_retrans, 9);
	/* an ACK of it ends the backoff */
	th_in(&w, SEG(.seq = 5001, .ack = 1101));
	ck_assert_uint_eq(c->t_rtx, 0);
	ck_assert_uint_eq(c->rtx_count, 0);
	expect_no_tx(&w, w.now + 300 * TH_S);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	/* TCP_INFO counts them as Linux 6.7 does: nine timeouts, one recovery */
	struct tcp_info_lite info;
	ck_assert_int_eq(tcp_info(w.t, TH_OWNER, cid, w.now, &info), 0);
	ck_assert_uint_eq(info.total_rto, 9);
	ck_assert_uint_eq(info.total_rto_recoveries, 1);
	/* the next loss is a recovery of its own */
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	expect_tx(&w, .seq = 1101, .len = 100);
	th_at(&w, c->t_rtx);
	expect_tx(&w, .seq = 1101, .len = 100);
	ck_assert_int_eq(tcp_info(w.t, TH_OWNER, cid, w.now, &info), 0);
	ck_assert_uint_eq(info.total_rto, 10);
	ck_assert_uint_eq(info.total_rto_recoveries, 2);
}
END_TEST

/* A SYN sent again by the timer is a timeout too, for TCP_INFO (Linux counts SYNs and
 * SYN-ACKs in tcpi_total_rto). */
START_TEST(syn_timeouts_counted)
{
	uint32_t cid;
	struct tcp_info_lite info;

	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &cid), 0);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, cid, w.now, 0, TH_RADDR, TH_RPORT, 1500, &w.io),
			 0);
	expect_tx(&w, .flags = TCP_SYN);
	ck_assert_int_eq(tcp_info(w.t, TH_OWNER, cid, w.now, &info), 0);
	ck_assert_uint_eq(info.total_rto, 0);
	for (unsigned i = 1; i <= 2; i++) {
		th_at(&w, tcp_next_deadline(w.t));
		expect_tx(&w, .flags = TCP_SYN);
		ck_assert_int_eq(tcp_info(w.t, TH_OWNER, cid, w.now, &info), 0);
		ck_assert_uint_eq(info.total_rto, i);
		ck_assert_uint_eq(info.total_rto_recoveries, 1);
	}
}
END_TEST

/* tcp_path_restored: a restart below or of tcpd. Outstanding data goes again at the next
 * timer pass instead of at the backed-off RTO, the backoff starts over, and every connection
 * tells its peer where it is with an ACK; nothing outstanding, nothing but the ACK. */
START_TEST(path_restored_retransmits_now)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.flags = TCP_F_NODELAY), &cid);
	uint64_t base = tcp_rtt_rto_ns(&c->rtt);

	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	expect_tx(&w, .seq = 1001, .len = 100);
	/* two RTOs lost: the third would be 4 RTOs after the second */
	th_at(&w, w.now + base);
	expect_tx(&w, .seq = 1001, .len = 100);
	th_at(&w, w.now + 2 * base);
	expect_tx(&w, .seq = 1001, .len = 100);
	ck_assert_uint_eq(c->t_rtx, w.now + 4 * base);
	ck_assert_uint_eq(c->rtt.backoff, 2);

	/* the path is back 10 ms later */
	w.now += 10 * TH_MS;
	th_io_reset(&w);
	ck_assert_uint_eq(tcp_path_restored(w.t, w.now, 0, &w.io), 1);
	/* an ACK, nothing else yet */
	expect_tx(&w, .cid = cid, .seq = 1101, .ack = 5001, .len = 0, .flags = TCP_ACK);
	ck_assert_uint_eq(c->t_rtx, w.now);
	ck_assert_uint_eq(tcp_next_deadline(w.t), w.now);
	/* the retransmission, now; the backoff started over (one step: this RTO's) */
	th_at(&w, w.now);
	expect_tx(&w, .cid = cid, .seq = 1001, .len = 100);
	ck_assert_uint_eq(c->rtt.backoff, 1);
	ck_assert_uint_eq(c->t_rtx, w.now + 2 * base);
	expect_no_tx(&w, w.now + 2 * base - 1);
	/* the ACK of it ends recovery as any would */
	th_in(&w, SEG(.seq = 5001, .ack = 1101));
	ck_assert_uint_eq(c->t_rtx, 0);
	expect_no_tx(&w, w.now + 10 * TH_S);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
}
END_TEST

/* Nothing outstanding: an ACK, no retransmission, no timer. */
START_TEST(path_restored_idle_acks_only)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.iss = 7000, .irs = 9000), &cid);

	th_io_reset(&w);
	/* another session's restart is not this connection's */
	ck_assert_uint_eq(tcp_path_restored(w.t, w.now, TH_OWNER + 1, &w.io), 0);
	expect_no_tx(&w, w.now);
	ck_assert_uint_eq(tcp_path_restored(w.t, w.now, TH_OWNER, &w.io), 0);
	expect_tx(&w, .cid = cid, .seq = 7001, .ack = 9001, .len = 0, .flags = TCP_ACK);
	ck_assert_uint_eq(c->t_rtx, 0);
	expect_no_tx(&w, w.now + 10 * TH_S);
}
END_TEST

/* A handshake keeps its own retry schedule (TCP_SYNCNT): a restart spends none of it. */
START_TEST(path_restored_leaves_handshakes)
{
	uint32_t cid;

	ck_assert_int_eq(tcp_socket_open(w.t, TH_OWNER, 0, NULL, &cid), 0);
	ck_assert_int_eq(tcp_connect(w.t, TH_OWNER, cid, w.now, 0, TH_RADDR, TH_RPORT, 1500, &w.io),
			 0);
	expect_tx(&w, .flags = TCP_SYN);
	uint64_t due = tcp_next_deadline(w.t);
	th_io_reset(&w);
	ck_assert_uint_eq(tcp_path_restored(w.t, w.now + TH_MS, 0, &w.io), 0);
	expect_no_tx(&w, w.now);
	ck_assert_uint_eq(tcp_next_deadline(w.t), due);
}
END_TEST

START_TEST(retries2_then_etimedout)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.flags = TCP_F_NODELAY), &cid);
	uint64_t t0 = w.now, limit = tcp_model_timeout(TCP_RETRIES2, TCP_RTO_MIN_NS);

	/* Linux: 15 retransmissions modelled from a 200 ms RTO = 924.6 s */
	ck_assert_uint_eq(limit, 924600ull * TH_MS);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	th_run_until(&w, t0 + limit - 1);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	th_run_until(&w, t0 + limit + TCP_RTO_MAX_NS);
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	ck_assert_uint_eq(c->pending_error, ETIMEDOUT);
	ck_assert_uint_eq(w.t->stats.tcp_abort_on_timeout, 1);
	ck_assert(th_events(&w, cid) & TCP_EV_ERROR);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 1, 0, &w.io), -ETIMEDOUT);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 1, 0, &w.io), -EPIPE);
}
END_TEST

START_TEST(soft_error_reported_at_timeout)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.flags = TCP_F_NODELAY), &cid);

	c->soft_error = EHOSTUNREACH;
	setopt_int(cid, IPPROTO_TCP, TCP_USER_TIMEOUT, 5000);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	th_run_until(&w, w.now + 10 * TH_S);
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	ck_assert_uint_eq(c->pending_error, EHOSTUNREACH);
}
END_TEST

START_TEST(user_timeout_retransmissions)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.flags = TCP_F_NODELAY), &cid);
	uint64_t t0 = w.now;

	setopt_int(cid, IPPROTO_TCP, TCP_USER_TIMEOUT, 2500);
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	/* RTOs at 1 s and 3 s; the second is clamped to the user timeout (Linux) */
	th_run_until(&w, t0 + 2499 * TH_MS);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	ck_assert_uint_eq(c->t_rtx, t0 + 2500 * TH_MS);
	th_run_until(&w, t0 + 2500 * TH_MS);
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	ck_assert_uint_eq(c->pending_error, ETIMEDOUT);
}
END_TEST

START_TEST(user_timeout_zero_window)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(.flags = TCP_F_NODELAY), &cid);
	uint64_t t0;

	setopt_int(cid, IPPROTO_TCP, TCP_USER_TIMEOUT, 10000);
	th_in(&w, SEG(.seq = 5001, .ack = 1001, .wnd = 0));
	ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid, w.now, 100, 0, &w.io), 0);
	t0 = c->t_persist;
	/* probes answered with a zero window do not keep it alive past the user timeout */
	for (unsigned i = 0; i < 20 && c->state == TCP_STATE_ESTABLISHED; i++) {
		th_at(&w, c->t_persist);
		th_in(&w, SEG(.seq = 5001, .ack = 1001, .wnd = 0));
	}
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	ck_assert_uint_ge(w.now, t0 + 10 * TH_S);
	ck_assert_uint_eq(c->pending_error, ETIMEDOUT);
}
END_TEST

START_TEST(keepalive_probes_and_reset)
{
	uint32_t cid;
	struct tcp_conn *c = th_conn(&w, SPEC(), &cid);
	uint64_t t0 = w.now;

	setopt_int(cid, SOL_SOCKET, SO_KEEPALIVE, 1);
	setopt_int(cid, IPPROTO_TCP, TCP_KEEPIDLE, 60);
	setopt_int(cid, IPPROTO_TCP, TCP_KEEPINTVL, 10);
	setopt_int(cid, IPPROTO_TCP, TCP_KEEPCNT, 3);
	expect_no_tx(&w, t0 + 60 * TH_S - 1);
	th_at(&w, t0 + 60 * TH_S);
	expect_tx(&w, .seq = 1000, .len = 0, .flags = TCP_ACK); /* snd_una - 1 */
	/* answered: the idle time starts again */
	w.now += TH_S;
	th_in(&w, SEG(.seq = 5001, .ack = 1001));
	expect_no_tx(&w, t0 + 61 * TH_S + 60 * TH_S - 1);
	th_at(&w, t0 + 121 * TH_S);
	expect_tx(&w, .seq = 1000);
	/* unanswered: every 10 s, then after the third a reset and ETIMEDOUT */
	th_at(&w, t0 + 131 * TH_S);
	expect_tx(&w, .seq = 1000);
	th_at(&w, t0 + 141 * TH_S);
	expect_tx(&w, .seq = 1000);
	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	th_at(&w, t0 + 151 * TH_S);
	expect_tx(&w, .flags = TCP_RST | TCP_ACK, .seq = 1001);
	ck_assert_uint_eq(c->state, TCP_STATE_CLOSED);
	ck_assert_uint_eq(c->pending_error, ETIMEDOUT);
	ck_assert_uint_eq(w.t->stats.tcp_keep_alive_probes, 4);
}
END_TEST

START_TEST(keepalive_option_ranges)
{
	uint32_t cid;
	int v;

	th_conn(&w, SPEC(), &cid);
	v = 0;
	ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, cid, w.now, IPPROTO_TCP, TCP_KEEPIDLE, &v,
				    sizeof(v), &w.io),
			 -EINVAL);
	v = 32768;
	ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, cid, w.now, IPPROTO_TCP, TCP_KEEPINTVL, &v,
				    sizeof(v), &w.io),
			 -EINVAL);
	v = 128;
	ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, cid, w.now, IPPROTO_TCP, TCP_KEEPCNT, &v,
				    sizeof(v), &w.io),
			 -EINVAL);
	v = -1;
	ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, cid, w.now, IPPROTO_TCP, TCP_USER_TIMEOUT, &v,
				    sizeof(v), &w.io),
			 -EINVAL);
	ck_assert_int_eq(tcp_setopt(w.t, TH_OWNER, cid, w.now, IPPROTO_TCP, TCP_KEEPCNT, &v, 2,
				    &w.io),
			 -EINVAL);
}
END_TEST

START_TEST(deadline_cache)
{
	uint32_t cid[40];
	struct tcp_conn *c[40];

	ck_assert_uint_eq(tcp_next_deadline(w.t), CLOCK_NEVER);
	for (unsigned i = 0; i < 40; i++) {
		c[i] = th_conn(&w, SPEC(.flags = TCP_F_NODELAY), &cid[i]);
		/* distinct 4-tuples */
		tcp_hash_remove(w.t, c[i]);
		c[i]->rport = (uint16_t)(0x1000 + i);
		tcp_hash_insert(w.t, c[i]);
	}
	ck_assert_uint_eq(tcp_next_deadline(w.t), CLOCK_NEVER);
	for (unsigned i = 0; i < 40; i++) {
		w.now = TH_T0 + i * TH_MS;
		ck_assert_int_eq(tcp_send(w.t, TH_OWNER, cid[i], w.now, 10, 0, &w.io), 0);
	}
	ck_assert_uint_eq(tcp_next_deadline(w.t), TH_T0 + TCP_RTO_INIT_NS);
	/* the earliest is acknowledged: the cache may be early, never late */
	th_in(&w, SEG(.seq = 5001, .ack = 1011, .sport = c[0]->rport));
	ck_assert_uint_eq(c[0]->t_rtx, 0);
	ck_assert_uint_le(tcp_next_deadline(w.t), c[1]->t_rtx);
	/* a call at the stale deadline fires nothing and makes the cache exact */
	th_io_reset(&w);
	tcp_timers(w.t, TH_T0 + TCP_RTO_INIT_NS, &w.io);
	ck_assert_uint_eq(w.io.n_tx, 0);
	ck_assert_uint_eq(tcp_next_deadline(w.t), c[1]->t_rtx);
	th_check_table(w.t);
	/* and the next fires exactly one */
	tcp_timers(w.t, c[1]->t_rtx, &w.io);
	ck_assert_uint_eq(w.io.n_tx, 1);
	ck_assert_uint_eq(tcp_next_deadline(w.t), c[2]->t_rtx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_timers");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, rto_backoff_schedule);
	tcase_add_test(tc, syn_timeouts_counted);
	tcase_add_test(tc, retries2_then_etimedout);
	tcase_add_test(tc, soft_error_reported_at_timeout);
	tcase_add_test(tc, user_timeout_retransmissions);
	tcase_add_test(tc, user_timeout_zero_window);
	tcase_add_test(tc, keepalive_probes_and_reset);
	tcase_add_test(tc, keepalive_option_ranges);
	tcase_add_test(tc, deadline_cache);
	tcase_add_test(tc, path_restored_retransmits_now);
	tcase_add_test(tc, path_restored_idle_acks_only);
	tcase_add_test(tc, path_restored_leaves_handshakes);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
