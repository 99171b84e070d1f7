/* test_tcp_cc: congestion control (servers/tcp/tcp_cc.c, tcp_cc_newreno.c, tcp_cc_cubic.c) —
 * names and ops, the RFC 6928 initial window, RFC 3465 slow start (L = 2·SMSS, 1·SMSS after an
 * RTO, stretch ACKs, the step across ssthresh), RFC 5681 byte-counting avoidance, eq. 4 and
 * FlightSize without Limited Transmit, the idle restart window, no growth when cwnd does not
 * limit the sender; CUBIC's reduction (β = 0.7), fast convergence, K computed by hand, the
 * concave and convex regions and the Reno-friendly region compared ACK by ACK with an
 * independent floating-point model of RFC 9438's equations, W_max and K after an RTO, and
 * application-limited and idle time left out of t.
 *
 * Windows use SMSS = 1000 bytes so that segments and bytes read alike. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "helper_check.h"
#include "tcp_priv.h"

#define MS 1000000ull
#define S 1000000000ull
#define SMSS 1000u

static struct tcp_conn conn;

static struct tcp_conn *mkconn(enum tcp_cc_algo algo, uint16_t mss)
{
	memset(&conn, 0, sizeof(conn));
	conn.snd_mss = mss;
	conn.cc.algo = (uint8_t)algo;
	conn.snd_una = conn.snd_max = 1000;
	tcp_cc_get(algo)->init(&conn, 0);
	return &conn;
}

/* The sender keeps exactly `flight` bytes outstanding. */
static void set_flight(struct tcp_conn *c, uint32_t flight)
{
	c->snd_max = c->snd_una + flight;
}

/* An ACK of `acked` new bytes arrives; the sender had `flight_before` outstanding. */
static void ack(struct tcp_conn *c, uint64_t now, uint32_t acked, uint32_t flight_before)
{
	c->snd_max = c->snd_una + flight_before;
	c->snd_una += acked;
	tcp_cc_get((enum tcp_cc_algo)c->cc.algo)->on_ack(c, now, acked, 0);
}

/* --- names, ops, initial window --------------------------------------------------------- */

START_TEST(names)
{
	enum tcp_cc_algo a = TCP_CC_COUNT;

	ck_assert_int_eq(tcp_cc_by_name("cubic", 5, &a), 0);
	ck_assert_int_eq(a, TCP_CC_CUBIC);
	ck_assert_int_eq(tcp_cc_by_name("reno", 4, &a), 0);
	ck_assert_int_eq(a, TCP_CC_NEWRENO);
	/* Linux copies min(len, 15) bytes and stops at the first NUL. */
	ck_assert_int_eq(tcp_cc_by_name("cubic\0garbage", 13, &a), 0);
	ck_assert_int_eq(a, TCP_CC_CUBIC);
	a = TCP_CC_COUNT;
	ck_assert_int_eq(tcp_cc_by_name("cubi", 4, &a), -ENOENT);
	ck_assert_int_eq(tcp_cc_by_name("cubic", 4, &a), -ENOENT);
	ck_assert_int_eq(tcp_cc_by_name("renoo", 5, &a), -ENOENT);
	ck_assert_int_eq(tcp_cc_by_name("CUBIC", 5, &a), -ENOENT);
	ck_assert_int_eq(tcp_cc_by_name("", 0, &a), -ENOENT);
	ck_assert_int_eq(tcp_cc_by_name("bbr", 3, &a), -ENOENT);
	ck_assert_int_eq(tcp_cc_by_name("cubic           x", 17, &a), -ENOENT);
	ck_assert_int_eq(a, TCP_CC_COUNT); /* untouched on failure */
	ck_assert_str_eq(tcp_cc_get(TCP_CC_CUBIC)->name, "cubic");
	ck_assert_str_eq(tcp_cc_get(TCP_CC_NEWRENO)->name, "reno");
	/* A torn algo value still gets ops. */
	ck_assert_ptr_eq(tcp_cc_get((enum tcp_cc_algo)200), &tcp_cc_cubic_ops);
}
END_TEST

START_TEST(initial_window)
{
	/* RFC 6928: min(10·MSS, max(2·MSS, 14600)). */
	static const struct {
		uint16_t mss;
		uint32_t iw;
	} want[] = {
		{536, 5360},    /* 10·536 */
		{1000, 10000},  /* 10·1000 */
		{1460, 14600},  /* 10·1460 = 14600 */
		{4000, 14600},  /* max(8000, 14600) */
		{8960, 17920},  /* max(17920, 14600) = 2·MSS */
		{0, 5360},      /* no MSS yet: the default 536 */
	};

	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		for (int a = 0; a < TCP_CC_COUNT; a++) {
			struct tcp_conn *c = mkconn((enum tcp_cc_algo)a, want[i].mss);

			ck_assert_uint_eq(c->cc.cwnd, want[i].iw);
			ck_assert_uint_eq(c->cc.ssthresh, TCP_SSTHRESH_INF);
		}
}
END_TEST

/* --- Reno -------------------------------------------------------------------------------- */

START_TEST(slow_start_abc)
{
	struct tcp_conn *c = mkconn(TCP_CC_NEWRENO, SMSS); /* cwnd 10000 */

	/* RFC 3465: cwnd += min(acked, 2·SMSS). */
	ack(c, 1, 3000, 10000);
	ck_assert_uint_eq(c->cc.cwnd, 12000);
	ack(c, 2, 500, 12000);
	ck_assert_uint_eq(c->cc.cwnd, 12500);
	ack(c, 3, 20000, 12500); /* a stretch ACK still grows by 2·SMSS */
	ck_assert_uint_eq(c->cc.cwnd, 14500);
	/* After an RTO (LOSS) L = 1·SMSS (RFC 3465 §2.3). */
	c->cc.ca_state = TCP_CA_LOSS;
	ack(c, 4, 3000, 14500);
	ck_assert_uint_eq(c->cc.cwnd, 15500);
	c->cc.ca_state = TCP_CA_OPEN;
	/* The step that reaches ssthresh stops there; the rest is avoidance's. */
	c->cc.ssthresh = 16500;
	ack(c, 5, 1800, 15500);
	ck_assert_uint_eq(c->cc.cwnd, 16500);
	ck_assert_uint_eq(c->cc.bytes_acked, 800);
}
END_TEST

START_TEST(avoidance_byte_counting)
{
	struct tcp_conn *c = mkconn(TCP_CC_NEWRENO, SMSS);

	c->cc.cwnd = 20000;
	c->cc.ssthresh = 20000;
	/* One SMSS per cwnd of bytes acknowledged: 19 ACKs of 1000 bytes do nothing ... */
	for (int i = 0; i < 19; i++) {
		ack(c, (uint64_t)i, 1000, 20000);
		ck_assert_uint_eq(c->cc.cwnd, 20000);
	}
	/* ... the 20th makes bytes_acked = cwnd: +1 SMSS, bytes_acked back to 0. */
	ack(c, 19, 1000, 20000);
	ck_assert_uint_eq(c->cc.cwnd, 21000);
	ck_assert_uint_eq(c->cc.bytes_acked, 0);
	/* At most one SMSS per ACK, the excess carried. */
	ack(c, 20, 50000, 21000);
	ck_assert_uint_eq(c->cc.cwnd, 22000);
	ck_assert_uint_eq(c->cc.bytes_acked, 50000 - 21000);
	ack(c, 21, 1, 22000);
	ck_assert_uint_eq(c->cc.cwnd, 23000);
	ck_assert_uint_eq(c->cc.bytes_acked, 29001 - 22000);
}
END_TEST

START_TEST(no_growth_when_not_cwnd_limited)
{
	struct tcp_conn *c = mkconn(TCP_CC_NEWRENO, SMSS); /* cwnd 10000, slow start */

	/* Slow start grows while the flight was over half of cwnd (Linux). */
	ack(c, 1, 1000, 5000);
	ck_assert_uint_eq(c->cc.cwnd, 10000);
	ack(c, 2, 1000, 5001);
	ck_assert_uint_eq(c->cc.cwnd, 11000);
	/* Avoidance: the flight must have been within one SMSS of cwnd. */
	c->cc.ssthresh = c->cc.cwnd = 20000;
	c->cc.bytes_acked = 19999;
	ack(c, 3, 1000, 19000);
	ck_assert_uint_eq(c->cc.cwnd, 20000);
	ck_assert_uint_eq(c->cc.bytes_acked, 19999);
	ack(c, 4, 1000, 19001);
	ck_assert_uint_eq(c->cc.cwnd, 21000);
	/* An ACK of nothing does nothing. */
	ack(c, 5, 0, 50000);
	ck_assert_uint_eq(c->cc.cwnd, 21000);
}
END_TEST

START_TEST(reno_ssthresh)
{
	struct tcp_conn *c = mkconn(TCP_CC_NEWRENO, SMSS);
	const struct tcp_cc_ops *ops = tcp_cc_get(TCP_CC_NEWRENO);

	/* RFC 5681 eq. 4: max(FlightSize / 2, 2·SMSS). */
	c->cc.cwnd = 40000;
	set_flight(c, 30000);
	ck_assert_uint_eq(ops->ssthresh(c, 0), 15000);
	set_flight(c, 3000);
	ck_assert_uint_eq(ops->ssthresh(c, 0), 2000);
	/* Limited Transmit sent 2 segments beyond cwnd: they do not count. */
	set_flight(c, 42000);
	ck_assert_uint_eq(ops->ssthresh(c, 0), 20000);
	/* A torn snd_max/snd_una pair is no flight, never a huge one. */
	c->snd_max = c->snd_una - 1;
	ck_assert_uint_eq(ops->ssthresh(c, 0), 2000);
}
END_TEST

START_TEST(idle_restart_window)
{
	for (int a = 0; a < TCP_CC_COUNT; a++) {
		struct tcp_conn *c = mkconn((enum tcp_cc_algo)a, SMSS);
		const struct tcp_cc_ops *ops = tcp_cc_get((enum tcp_cc_algo)a);

		/* cwnd 50000 above IW 10000: cwnd = IW, ssthresh = max(20000, 3/4·50000). */
		c->cc.cwnd = 50000;
		c->cc.ssthresh = 20000;
		ops->on_idle_restart(c, 100 * S);
		ck_assert_uint_eq(c->cc.cwnd, 10000);
		ck_assert_uint_eq(c->cc.ssthresh, 37500);
		/* Below IW: cwnd stays (RW = min(IW, cwnd)); ssthresh above 3/4 cwnd stays. */
		c->cc.cwnd = 5000;
		ops->on_idle_restart(c, 200 * S);
		ck_assert_uint_eq(c->cc.cwnd, 5000);
		ck_assert_uint_eq(c->cc.ssthresh, 37500);
	}
}
END_TEST

/* --- CUBIC ------------------------------------------------------------------------------- */

static struct tcp_cubic cubic_of(const struct tcp_conn *c)
{
	struct tcp_cubic cu;

	tcp_cubic_load(c, &cu);
	return cu;
}

START_TEST(cubic_reduction_and_fast_convergence)
{
	struct tcp_conn *c = mkconn(TCP_CC_CUBIC, SMSS);
	const struct tcp_cc_ops *ops = &tcp_cc_cubic_ops;

	/* First event at cwnd = flight = 100 segments: ssthresh = 0.7·100 = 70 segments,
	 * W_max = cwnd_prior = 100 (no earlier W_max: no fast convergence). */
	c->cc.cwnd = 100000;
	set_flight(c, 100000);
	ck_assert_uint_eq(ops->ssthresh(c, 0), 70000);
	ck_assert_uint_eq(cubic_of(c).w_max, 100000);
	ck_assert_uint_eq(cubic_of(c).cwnd_prior, 100000);
	ck_assert_uint_eq(cubic_of(c).epoch_start, 0);
	/* Next event below W_max (cwnd 90): fast convergence, W_max = 90·(1 + 0.7)/2 = 76.5
	 * segments; ssthresh = 0.7·90 = 63. */
	c->cc.cwnd = 90000;
	set_flight(c, 90000);
	ck_assert_uint_eq(ops->ssthresh(c, 0), 63000);
	ck_assert_uint_eq(cubic_of(c).w_max, 76500);
	ck_assert_uint_eq(cubic_of(c).cwnd_prior, 90000);
	/* Above W_max again (110 > 76.5): W_max = cwnd. */
	c->cc.cwnd = 110000;
	set_flight(c, 110000);
	ck_assert_uint_eq(ops->ssthresh(c, 0), 77000);
	ck_assert_uint_eq(cubic_of(c).w_max, 110000);
	/* ssthresh follows flight_size (RFC 9438 Figure 5), capped by cwnd for Limited
	 * Transmit, floored at 2·SMSS. */
	set_flight(c, 50000);
	ck_assert_uint_eq(ops->ssthresh(c, 0), 35000);
	set_flight(c, 112000);
	ck_assert_uint_eq(ops->ssthresh(c, 0), 77000);
	c->cc.cwnd = 2000;
	set_flight(c, 2000);
	ck_assert_uint_eq(ops->ssthresh(c, 0), 2000);
}
END_TEST

/* After a congestion event at W_max, avoidance starts at cwnd0: returns the connection
 * with the epoch begun by one ACK at t0. */
static struct tcp_conn *cubic_after_event(uint32_t w_max, uint32_t srtt_us, uint64_t t0)
{
	struct tcp_conn *c = mkconn(TCP_CC_CUBIC, SMSS);

	c->rtt.srtt_us = srtt_us;
	c->cc.cwnd = w_max;
	set_flight(c, w_max);
	c->cc.ssthresh = tcp_cc_cubic_ops.ssthresh(c, t0);
	c->cc.cwnd = c->cc.ssthresh; /* what recovery leaves */
	tcp_cc_cubic_ops.on_recovery_end(c, t0);
	return c;
}

START_TEST(cubic_k_by_hand)
{
	/* W_max = 100, cwnd_epoch = 70 segments: K = cbrt((100 - 70)/0.4) = cbrt(75) s =
	 * 4.2172 s = 4318.38 ticks of 1/1024 s; in integers cbrt(75·2^30 = 80530636800),
	 * and 4318^3 = 80509645432 <= 80530636800 < 80565593759 = 4319^3: K = 4318. */
	struct tcp_conn *c = cubic_after_event(100000, 100000, 1 * S);
	struct tcp_cubic cu;

	ack(c, 1 * S, 1000, c->cc.cwnd);
	cu = cubic_of(c);
	ck_assert_uint_eq(cu.k, 4318);
	ck_assert_uint_eq(cu.origin, 100000);
	ck_assert_uint_eq(cu.epoch_start, 1 * S);
	/* W_max = 1000, cwnd 700: K = cbrt(750) = 9.0856 s; cbrt(750·2^30 = 805306368000):
	 * 9303^3 = 805135661127 <= it < 805395326464 = 9304^3: K = 9303. */
	c = cubic_after_event(1000000, 100000, 1 * S);
	ack(c, 1 * S, 1000, c->cc.cwnd);
	ck_assert_uint_eq(cubic_of(c).k, 9303);
	/* SMSS enters K only through the window in segments: SMSS 1460 and W_max = 100
	 * segments of it give the same K as above. */
	memset(&conn, 0, sizeof(conn));
	conn.snd_mss = 1460;
	tcp_cc_cubic_ops.init(&conn, 0);
	conn.cc.cwnd = 146000;
	set_flight(&conn, 146000);
	conn.cc.cwnd = conn.cc.ssthresh = tcp_cc_cubic_ops.ssthresh(&conn, 0);
	ck_assert_uint_eq(conn.cc.cwnd, 102200);
	ack(&conn, 1, 1460, conn.cc.cwnd);
	ck_assert_uint_eq(cubic_of(&conn).k, 4318);
}
END_TEST

/* An independent model of RFC 9438 §4.2-4.5 in floating point and segments, fed the same ACK
 * times as the implementation: target = W(t + RTT) clamped to [cwnd, 1.5 cwnd]; W_est += α·
 * acked/cwnd (α = 9/17 until W_est >= cwnd_prior, then 1); cwnd = W_est in the Reno-friendly
 * region (W(t) < W_est), else cwnd += (target - cwnd)/cwnd per acked segment. */
struct model {
	double c, w_max, k, cwnd, w_est, cwnd_prior, rtt;
};

static double cbrt_newton(double a)
{
	double x = a > 1 ? a : 1;

	for (int i = 0; i < 200; i++)
		x = (2 * x + a / (x * x)) / 3;
	return x;
}

static double model_w(const struct model *m, double t)
{
	double d = t - m->k;

	return m->c * d * d * d + m->w_max;
}

static void model_ack(struct model *m, double t)
{
	double target = model_w(m, t + m->rtt);
	double alpha = m->w_est >= m->cwnd_prior ? 1.0 : 3 * (1 - 0.7) / (1 + 0.7);

	if (target < m->cwnd)
		target = m->cwnd;
	if (target > 1.5 * m->cwnd)
		target = 1.5 * m->cwnd;
	m->w_est += alpha * 1.0 / m->cwnd;
	if (model_w(m, t) < m->w_est) {
		if (m->w_est > m->cwnd)
			m->cwnd = m->w_est;
	} else {
		m->cwnd += (target - m->cwnd) / m->cwnd;
	}
}

/* Run both for `secs` seconds of ACK clock (one ACK per SMSS, cwnd ACKs per RTT), checking
 * they agree within `tol` segments; records cwnd (segments) at each whole second. */
static void run_against_model(struct tcp_conn *c, struct model *m, uint64_t t0, double secs,
			      double tol, double *at_second)
{
	uint64_t now = t0;
	double worst = 0;
	unsigned next_sec = 1;

	at_second[0] = c->cc.cwnd / (double)SMSS;
	while (now - t0 < (uint64_t)(secs * S)) {
		double t = (double)(now - t0) / S, diff;

		ack(c, now, SMSS, c->cc.cwnd);
		model_ack(m, t);
		diff = c->cc.cwnd / (double)SMSS - m->cwnd;
		if (diff < 0)
			diff = -diff;
		if (diff > worst)
			worst = diff;
		ck_assert_msg(diff <= tol, "t = %.4f s: cwnd %.3f, model %.3f", t,
			      c->cc.cwnd / (double)SMSS, m->cwnd);
		/* the next ACK: RTT / cwnd later (the ACK clock of a window-limited sender) */
		now += (uint64_t)((double)c->rtt.srtt_us * 1000.0 * SMSS / c->cc.cwnd);
		if ((double)(now - t0) / S >= next_sec) {
			at_second[next_sec] = c->cc.cwnd / (double)SMSS;
			next_sec++;
		}
	}
}

START_TEST(cubic_concave_then_convex)
{
	/* W_max 100, cwnd_epoch 70 segments, RTT 100 ms, K = 4.2172 s. */
	uint64_t t0 = 5 * S;
	struct tcp_conn *c = cubic_after_event(100000, 100000, t0);
	struct model m = {.c = 0.4, .w_max = 100, .k = cbrt_newton(75), .cwnd = 70, .w_est = 70,
			  .cwnd_prior = 100, .rtt = 0.1};
	double w[12];

	ck_assert(m.k > 4.2171 && m.k < 4.2172);
	/* Integer time is 1/1024 s, the model's exact: they may differ by a hundredth of a
	 * segment per ACK's worth of growth; a tenth of a segment bounds it over 11 s. */
	run_against_model(c, &m, t0, 11.0, 0.1, w);
	/* Checkpoints, from eq. 1 by hand (cwnd lags the target by under one RTT of growth):
	 *   t = 1 s: W(1 + 0.1) = 0.4·(1.1 - 4.2172)^3 + 100 = 0.4·(-30.29) + 100 = 87.9
	 *   t = 4 s: W(4.1) = 0.4·(-0.117)^3 + 100 = 99.999 (the plateau at W_max = 100)
	 *   t = 6..8 s: W_est has reached cwnd_prior = 100 near t = 5.7 s (70 + 0.529 per RTT)
	 *     and grows 1 segment per RTT = 10 per second, above W(t) = 0.4·(t - 4.2172)^3
	 *     + 100 (106.6 at 7 s, 121.6 at 8 s): the Reno-friendly region, cwnd = W_est;
	 *   t = 9..10 s: W(9) = 143.8, W(10) = 177.4: the cubic term is back above W_est.
	 * (The model, run in double precision, gives 86.65, 99.99, 113.34, 123.34, 143.83,
	 * 177.44 at 1, 4, 7, 8, 9, 10 s.) */
	ck_assert(w[1] > 86 && w[1] < 88);
	ck_assert(w[4] > 99 && w[4] < 100.5);
	ck_assert(w[8] > 122.5 && w[8] < 124.5);
	ck_assert(w[10] > 176 && w[10] < 179);
	/* Concave below W_max: each second adds less than the one before ... */
	ck_assert(w[1] - w[0] > w[2] - w[1]);
	ck_assert(w[2] - w[1] > w[3] - w[2]);
	ck_assert(w[3] - w[2] > w[4] - w[3]);
	/* ... a plateau around K ... */
	ck_assert(w[5] - w[4] < 1.0);
	/* ... convex above it: each second adds more ... */
	ck_assert(w[6] - w[5] > w[5] - w[4]);
	ck_assert(w[10] - w[9] > w[9] - w[8]);
	ck_assert(w[11] - w[10] > w[10] - w[9]);
	/* ... with a stretch of Reno's 1 segment per RTT (10 per second) in between. */
	ck_assert(w[8] - w[7] > 9.9 && w[8] - w[7] < 10.1);
}
END_TEST

START_TEST(cubic_reno_friendly_region)
{
	/* Short RTT (10 ms), small W_max (20 segments): K = cbrt(6/0.4) = 2.466 s, so W_cubic
	 * stays below 20 for seconds while Reno's estimate grows α = 0.529 segment per RTT,
	 * then 1 per RTT once it reaches cwnd_prior = 20 (after 6/0.529 = 11.3 RTTs).
	 * W_cubic(1 s) = 0.4·(1 - 2.466)^3 + 20 = 18.74 < W_est: Reno-friendly throughout. */
	uint64_t t0 = 3 * S;
	struct tcp_conn *c = cubic_after_event(20000, 10000, t0);
	struct model m = {.c = 0.4, .w_max = 20, .k = cbrt_newton(15), .cwnd = 14, .w_est = 14,
			  .cwnd_prior = 20, .rtt = 0.01};
	double w[3];
	struct tcp_cubic cu;

	run_against_model(c, &m, t0, 1.0, 0.05, w);
	cu = cubic_of(c);
	/* cwnd is W_est, rounded down to the byte. */
	ck_assert_uint_eq(c->cc.cwnd, cu.w_est);
	/* After 1 s: 11.3 RTTs to reach 20 segments at α = 9/17, then one segment per RTT;
	 * the model gives 108.72. */
	ck_assert(w[1] > 108 && w[1] < 109.5);
}
END_TEST

START_TEST(cubic_after_rto)
{
	struct tcp_conn *c = mkconn(TCP_CC_CUBIC, SMSS);
	const struct tcp_cc_ops *ops = &tcp_cc_cubic_ops;
	struct model m = {.c = 0.4, .w_max = 56, .k = 0, .cwnd = 56, .w_est = 56,
			  .cwnd_prior = 80, .rtt = 1.0};
	struct tcp_cubic cu;
	uint64_t now = 10 * S;
	double w[5];

	c->rtt.srtt_us = 1000000; /* 1 s: long enough for the cubic term to beat W_est */
	c->cc.cwnd = 80000;
	set_flight(c, 80000);
	c->cc.ssthresh = ops->ssthresh(c, now); /* 0.7·80 = 56 segments */
	ck_assert_uint_eq(c->cc.ssthresh, 56000);
	ops->on_rto(c, now);
	c->cc.cwnd = SMSS;
	c->cc.ca_state = TCP_CA_LOSS;
	cu = cubic_of(c);
	ck_assert_uint_eq(cu.w_max, 0);
	ck_assert_uint_eq(cu.cwnd_prior, 80000);
	/* Slow start to ssthresh, 1 SMSS per ACK in LOSS even for ACKs of 2 ... */
	for (int i = 0; i < 55; i++)
		ack(c, now += MS, 2 * SMSS, c->cc.cwnd);
	ck_assert_uint_eq(c->cc.cwnd, 56000);
	c->cc.ca_state = TCP_CA_OPEN;
	/* ... then avoidance with K = 0 and W_max = cwnd_epoch (RFC 9438 §4.8): convex from
	 * the start, W(t + 1) = 56 + 0.4·(t + 1)^3: 59.2 at 1 s, 66.8 at 2 s, 81.6 at 3 s for
	 * the target; the model gives cwnd 56.54, 60.58, 69.49, 85.58 at 1..4 s. */
	run_against_model(c, &m, now, 4.0, 0.1, w);
	cu = cubic_of(c);
	ck_assert_uint_eq(cu.k, 0);
	ck_assert_uint_eq(cu.origin, 56000);
	ck_assert_uint_eq(cu.w_max, 56000);
	ck_assert(w[2] > 60 && w[2] < 61);
	ck_assert(w[4] > 85 && w[4] < 86.2);
}
END_TEST

START_TEST(cubic_app_limited_time_left_out)
{
	/* Two identical connections; one is application-limited for 10 s in the middle. The
	 * same cwnd-limited ACKs at the same active times must give the same cwnd. */
	static struct tcp_conn a, b;
	uint64_t ta = 2 * S, tb = 2 * S, dt = 2 * MS;

	a = *cubic_after_event(100000, 100000, 2 * S);
	b = a;
	for (int i = 0; i < 500; i++) {
		conn = a;
		ack(&conn, ta += dt, SMSS, conn.cc.cwnd);
		a = conn;
		conn = b;
		ack(&conn, tb += dt, SMSS, conn.cc.cwnd);
		b = conn;
	}
	ck_assert_uint_eq(a.cc.cwnd, b.cc.cwnd);
	/* b: 10 s of ACKs for a flight far below cwnd (the application sends little). */
	{
		uint32_t w = b.cc.cwnd;

		for (int i = 0; i < 5000; i++) {
			conn = b;
			ack(&conn, tb += dt, SMSS, 2 * SMSS);
			b = conn;
			ck_assert_uint_eq(b.cc.cwnd, w); /* no growth */
		}
	}
	/* Back to cwnd-limited: both continue in step. */
	for (int i = 0; i < 2000; i++) {
		conn = a;
		ack(&conn, ta += dt, SMSS, conn.cc.cwnd);
		a = conn;
		conn = b;
		ack(&conn, tb += dt, SMSS, conn.cc.cwnd);
		b = conn;
		ck_assert_uint_eq(a.cc.cwnd, b.cc.cwnd);
	}
	ck_assert_uint_eq(cubic_of(&b).epoch_start - cubic_of(&a).epoch_start, 5000 * dt);
}
END_TEST

START_TEST(cubic_idle_restart_shifts_epoch)
{
	struct tcp_conn *c = cubic_after_event(100000, 100000, 1 * S);
	struct tcp_cubic before, after;
	uint64_t now = 1 * S;

	for (int i = 0; i < 100; i++)
		ack(c, now += 2 * MS, SMSS, c->cc.cwnd);
	before = cubic_of(c);
	/* 30 s without ACKs, then the application sends again. */
	now += 30 * S;
	tcp_cc_cubic_ops.on_idle_restart(c, now);
	after = cubic_of(c);
	ck_assert_uint_eq(after.epoch_start - before.epoch_start, 30 * S);
	ck_assert_uint_eq(after.last_ack, now);
	ck_assert_uint_eq(c->cc.cwnd, 10000); /* RFC 5681 §4.1: IW */
	ck_assert_uint_ge(c->cc.ssthresh, 70000 * 3 / 4);
}
END_TEST

START_TEST(cubic_never_overflows)
{
	/* The largest windows, the longest times, the smallest MSS: no wrap, cwnd capped. */
	struct tcp_conn *c = mkconn(TCP_CC_CUBIC, TCP_MSS_MIN);
	uint64_t now = 1;

	c->rtt.srtt_us = 120000000;
	c->cc.cwnd = TCP_CWND_MAX;
	set_flight(c, TCP_CWND_MAX);
	c->cc.cwnd = c->cc.ssthresh = tcp_cc_cubic_ops.ssthresh(c, now);
	tcp_cc_cubic_ops.on_recovery_end(c, now);
	for (int i = 0; i < 200; i++) {
		uint32_t before = c->cc.cwnd;

		ack(c, now += 3600 * S, 0x7fffffff, c->cc.cwnd);
		ck_assert_uint_ge(c->cc.cwnd, before);
		ck_assert_uint_le(c->cc.cwnd, TCP_CWND_MAX);
	}
	ck_assert_uint_eq(c->cc.cwnd, TCP_CWND_MAX);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_cc");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, names);
	tcase_add_test(tc, initial_window);
	tcase_add_test(tc, slow_start_abc);
	tcase_add_test(tc, avoidance_byte_counting);
	tcase_add_test(tc, no_growth_when_not_cwnd_limited);
	tcase_add_test(tc, reno_ssthresh);
	tcase_add_test(tc, idle_restart_window);
	tcase_add_test(tc, cubic_reduction_and_fast_convergence);
	tcase_add_test(tc, cubic_k_by_hand);
	tcase_add_test(tc, cubic_concave_then_convex);
	tcase_add_test(tc, cubic_reno_friendly_region);
	tcase_add_test(tc, cubic_after_rto);
	tcase_add_test(tc, cubic_app_limited_time_left_out);
	tcase_add_test(tc, cubic_idle_restart_shifts_epoch);
	tcase_add_test(tc, cubic_never_overflows);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
