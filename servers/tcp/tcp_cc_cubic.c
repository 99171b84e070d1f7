/* tcp_cc_cubic: CUBIC congestion control (RFC 9438), "cubic" to TCP_CONGESTION, the default.
 *
 * In congestion avoidance the window follows W_cubic(t) = C·(t - K)^3 + W_max (eq. 1), with
 * C = 0.4 segments/s^3, K = cbrt((W_max - cwnd_epoch) / C) (eq. 2), and t the time since the
 * current avoidance stage began: the first ACK in avoidance after slow start or after a
 * recovery ends (the "time origin on recovery end"). Each ACK aims at
 * target = W_cubic(t + SRTT) clamped to [cwnd, 1.5·cwnd] (§4.2) and grows cwnd by
 * (target - cwnd)/cwnd per acknowledged SMSS (Linux counts per acked packet as well; §4.1
 * lets windows be bytes). The Reno-friendly estimate W_est starts at cwnd_epoch and grows by
 * α·acked/cwnd with α = 3(1-β)/(1+β) = 9/17, α = 1 once W_est reaches cwnd_prior (§4.3);
 * while W_cubic(t) < W_est, cwnd = W_est. Below W_max the curve is concave, above it convex
 * (§4.4, §4.5), the same formula in both.
 *
 * A congestion event (§4.6, §4.7): W_max = cwnd, or cwnd·(1+β)/2 = 0.85·cwnd when cwnd is
 * below the previous W_max (fast convergence: another flow arrived, give way sooner);
 * cwnd_prior = cwnd; ssthresh = β·flight_size = 0.7·flight_size, at least 2·SMSS. After an RTO
 * (§4.8) W_max is forgotten, so the next avoidance stage starts with K = 0 and W_max =
 * cwnd_epoch. Slow start is Reno's with ABC (§4.10 allows it; no HyStart++).
 *
 * Application-limited time (§5.8, §4.2 "t MUST NOT include" it): an ACK that finds cwnd not
 * limiting the sender grows nothing, and the time since the previous ACK is cut out of t by
 * moving t_epoch forward; an idle restart does the same for the idle period (Linux shifts
 * epoch_start by the idle time in CA_EVENT_TX_START).
 *
 * Integer arithmetic only. Time is counted in 1/1024 s ("ticks", as Linux's BICTCP_HZ = 10):
 * K and t - K fit 20 bits for any window this stack can reach, (t - K)^3 fits 60 bits, and
 * C·(t-K)^3 is formed in 2^-20 segments before the multiplication by SMSS, so no product
 * overflows 64 bits. The cube root is an exact integer one (floor). Remainders of the
 * per-ACK divisions are carried, so many small increments add up exactly.
 */
#include <string.h>

#include "tcp_priv.h"

_Static_assert(sizeof(struct tcp_cubic) <= sizeof(((struct tcp_cc *)0)->priv),
	       "CUBIC's state fits tcp_cc.priv");

#define CUBIC_HZ_SHIFT 10           /* ticks of 1/1024 s */
#define CUBIC_OFFS_MAX (1ull << 20) /* |t - K| beyond 1024 s: off every reachable window */
#define CUBIC_T_MAX_NS (1ull << 50) /* 13 days: keeps ns << 10 in 64 bits */
/* C = 0.4 = 2/5, β = 0.7 = 7/10, (1 + β)/2 = 17/20, α = 3(1 - β)/(1 + β) = 9/17. */
#define CUBIC_C_NUM 2u
#define CUBIC_C_DEN 5u
#define CUBIC_BETA_NUM 7u
#define CUBIC_BETA_DEN 10u
#define CUBIC_FC_NUM 17u
#define CUBIC_FC_DEN 20u
#define CUBIC_ALPHA_NUM 9u
#define CUBIC_ALPHA_DEN 17u

void tcp_cubic_load(const struct tcp_conn *c, struct tcp_cubic *cu)
{
	memcpy(cu, c->cc.priv, sizeof(*cu)); /* priv is only 4-aligned: copy, never cast */
}

static void cubic_store(struct tcp_conn *c, const struct tcp_cubic *cu)
{
	memcpy(c->cc.priv, cu, sizeof(*cu));
}

/* floor(cbrt(x)), bit by bit (Hacker's Delight icbrt, widened to 64 bits). */
static uint32_t cubic_root(uint64_t x)
{
	uint64_t y = 0;

	for (int s = 63; s >= 0; s -= 3) {
		uint64_t b;

		y <<= 1;
		b = 3 * y * (y + 1) + 1;
		if ((x >> s) >= b) {
			x -= b << s;
			y++;
		}
	}
	return (uint32_t)y;
}

static uint64_t cubic_ticks(uint64_t ns)
{
	if (ns > CUBIC_T_MAX_NS)
		ns = CUBIC_T_MAX_NS;
	return (ns << CUBIC_HZ_SHIFT) / 1000000000ull;
}

/* W_cubic(t) in bytes, t in ticks; saturates far from K. */
static uint64_t cubic_w(const struct tcp_cubic *cu, uint64_t t, uint32_t smss)
{
	uint64_t offs = t > cu->k ? t - cu->k : cu->k - t, d;

	if (offs > CUBIC_OFFS_MAX)
		return t > cu->k ? UINT64_MAX : 0;
	/* C·(offs / 2^10)^3 segments = C·offs^3 / 2^30 = (offs^3 >> 10)·C in 2^-20 segments. */
	d = ((offs * offs * offs) >> 10) * CUBIC_C_NUM / CUBIC_C_DEN;
	d = (d >> 20) * smss + (((d & 0xfffff) * smss) >> 20);
	if (t > cu->k)
		return cu->origin + d;
	return cu->origin > d ? cu->origin - d : 0;
}

/* A congestion avoidance stage begins now, at cwnd (RFC 9438 §4.2, §4.3, §4.8). */
static void cubic_epoch_begin(struct tcp_cubic *cu, uint32_t cwnd, uint32_t smss, uint64_t now)
{
	cu->epoch_start = now ? now : 1;
	cu->last_ack = now;
	cu->w_est = cwnd;
	cu->w_est_rem = 0;
	cu->cnt_rem = 0;
	if (cu->w_max <= cwnd) {
		/* No W_max (after an RTO) or already above it: K = 0, W_max = cwnd_epoch. */
		cu->w_max = cwnd;
		cu->k = 0;
		cu->origin = cwnd;
	} else {
		/* K in ticks = cbrt((W_max - cwnd)/SMSS / C · 2^30): (W_max - cwnd) < 2^30, so
		 * the product < 5·2^59. */
		uint64_t x = (uint64_t)(cu->w_max - cwnd) * CUBIC_C_DEN << (3 * CUBIC_HZ_SHIFT);

		cu->k = cubic_root(x / CUBIC_C_NUM / smss);
		cu->origin = cu->w_max;
	}
}

/* Leave the time since the last ACK out of t (application-limited or idle, §5.8). */
static void cubic_freeze(struct tcp_cubic *cu, uint64_t now)
{
	if (cu->epoch_start && now > cu->last_ack) {
		cu->epoch_start += now - cu->last_ack;
		if (cu->epoch_start > now)
			cu->epoch_start = now;
	}
	cu->last_ack = now;
}

static void cubic_init(struct tcp_conn *c, uint64_t now)
{
	c->cc.cwnd = tcp_cc_iw(c);
	c->cc.ssthresh = TCP_SSTHRESH_INF;
	c->cc.bytes_acked = 0;
	memset(c->cc.priv, 0, sizeof(c->cc.priv));
}

static void cubic_on_ack(struct tcp_conn *c, uint64_t now, uint32_t acked, uint32_t rtt_us)
{
	struct tcp_cubic cu;
	uint32_t smss = tcp_cc_smss(c), cwnd;
	uint64_t t, rtt, target, num, den, est, cap;

	if (!acked)
		return;
	tcp_cubic_load(c, &cu);
	if (!tcp_cc_cwnd_limited(c, acked)) {
		cubic_freeze(&cu, now);
		cubic_store(c, &cu);
		return;
	}
	acked = tcp_cc_slow_start(c, acked);
	cwnd = c->cc.cwnd;
	if (!acked || cwnd == 0) {
		cu.last_ack = now;
		cubic_store(c, &cu);
		return;
	}
	if (!cu.epoch_start || cu.epoch_start > now)
		cubic_epoch_begin(&cu, cwnd, smss, now);
	t = cubic_ticks(now - cu.epoch_start);
	rtt = cubic_ticks((uint64_t)(c->rtt.srtt_us ? c->rtt.srtt_us : rtt_us) * 1000u);

	/* §4.2: target = W_cubic(t + RTT) within [cwnd, 1.5·cwnd]. */
	target = cubic_w(&cu, t + rtt, smss);
	cap = (uint64_t)cwnd + cwnd / 2;
	if (target < cwnd)
		target = cwnd;
	if (target > cap)
		target = cap;

	/* §4.3, eq. 4 in bytes: W_est += α·acked·SMSS/cwnd. */
	if (cu.w_est >= cu.cwnd_prior) {
		num = (uint64_t)acked * smss;
		den = cwnd;
	} else {
		num = (uint64_t)acked * smss * CUBIC_ALPHA_NUM;
		den = (uint64_t)cwnd * CUBIC_ALPHA_DEN;
	}
	num += cu.w_est_rem % den;
	est = cu.w_est + num / den;
	cu.w_est_rem = (uint32_t)(num % den);
	cu.w_est = est < TCP_CWND_MAX ? (uint32_t)est : TCP_CWND_MAX;

	if (cubic_w(&cu, t, smss) < cu.w_est) {
		/* Reno-friendly region: follow Reno's window. */
		if (cu.w_est > cwnd)
			cwnd = cu.w_est;
	} else {
		/* Concave or convex region (§4.4, §4.5): (target - cwnd)/cwnd per SMSS. */
		num = (target - cwnd) * acked + cu.cnt_rem % cwnd;
		cu.cnt_rem = (uint32_t)(num % cwnd);
		est = cwnd + num / cwnd;
		cwnd = est < TCP_CWND_MAX ? (uint32_t)est : TCP_CWND_MAX;
	}
	c->cc.cwnd = cwnd;
	cu.last_ack = now;
	cubic_store(c, &cu);
}

static uint32_t cubic_ssthresh(struct tcp_conn *c, uint64_t now)
{
	struct tcp_cubic cu;
	uint32_t cwnd = c->cc.cwnd, min = 2 * tcp_cc_smss(c);
	uint32_t ss = (uint32_t)((uint64_t)tcp_cc_flight(c) * CUBIC_BETA_NUM / CUBIC_BETA_DEN);

	tcp_cubic_load(c, &cu);
	/* §4.7 fast convergence, then §4.6. */
	if (cwnd < cu.w_max)
		cu.w_max = (uint32_t)((uint64_t)cwnd * CUBIC_FC_NUM / CUBIC_FC_DEN);
	else
		cu.w_max = cwnd;
	cu.cwnd_prior = cwnd;
	cu.epoch_start = 0;
	cubic_store(c, &cu);
	c->cc.bytes_acked = 0;
	return ss > min ? ss : min;
}

static void cubic_on_rto(struct tcp_conn *c, uint64_t now)
{
	struct tcp_cubic cu;

	tcp_cubic_load(c, &cu);
	cu.epoch_start = 0;
	cu.w_max = 0; /* §4.8: the next stage has K = 0, W_max = cwnd_epoch */
	cubic_store(c, &cu);
	c->cc.bytes_acked = 0;
}

static void cubic_on_recovery_end(struct tcp_conn *c, uint64_t now)
{
	struct tcp_cubic cu;

	tcp_cubic_load(c, &cu);
	cu.epoch_start = 0; /* the avoidance stage, and t, begin with the next ACK */
	cubic_store(c, &cu);
}

static void cubic_on_idle_restart(struct tcp_conn *c, uint64_t now)
{
	struct tcp_cubic cu;

	tcp_cubic_load(c, &cu);
	cubic_freeze(&cu, now);
	cubic_store(c, &cu);
	tcp_cc_restart_window(c);
}

const struct tcp_cc_ops tcp_cc_cubic_ops = {
	.name = "cubic",
	.init = cubic_init,
	.on_ack = cubic_on_ack,
	.ssthresh = cubic_ssthresh,
	.on_rto = cubic_on_rto,
	.on_recovery_end = cubic_on_recovery_end,
	.on_idle_restart = cubic_on_idle_restart,
};
