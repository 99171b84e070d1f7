/* tcp_cc_newreno: Reno congestion control (RFC 5681 §3.1), "reno" to TCP_CONGESTION. The fast
 * recovery that makes it NewReno (RFC 6582) is tcp_recovery.c's, shared with CUBIC.
 *
 *   slow start            tcp_cc_slow_start (RFC 3465 ABC, L = 2·SMSS)
 *   congestion avoidance  byte counting (RFC 5681 §3.1's recommended method, RFC 3465 §2.1):
 *                         bytes_acked accumulates what ACKs cover; each time it reaches cwnd,
 *                         cwnd grows by one SMSS and bytes_acked drops by cwnd. At most one
 *                         SMSS per ACK.
 *   loss                  ssthresh = max(FlightSize / 2, 2·SMSS) (RFC 5681 eq. 4)
 * No private state: tcp_cc.bytes_acked is the counter.
 */
#include <string.h>

#include "tcp_priv.h"

static void reno_init(struct tcp_conn *c, uint64_t now)
{
	c->cc.cwnd = tcp_cc_iw(c);
	c->cc.ssthresh = TCP_SSTHRESH_INF;
	c->cc.bytes_acked = 0;
	memset(c->cc.priv, 0, sizeof(c->cc.priv));
}

static void reno_on_ack(struct tcp_conn *c, uint64_t now, uint32_t acked, uint32_t rtt_us)
{
	uint32_t cwnd;

	if (!acked || !tcp_cc_cwnd_limited(c, acked))
		return;
	acked = tcp_cc_slow_start(c, acked);
	if (!acked)
		return;
	cwnd = c->cc.cwnd;
	c->cc.bytes_acked = c->cc.bytes_acked > UINT32_MAX - acked ? UINT32_MAX
								  : c->cc.bytes_acked + acked;
	if (c->cc.bytes_acked >= cwnd) {
		c->cc.bytes_acked -= cwnd;
		cwnd += tcp_cc_smss(c);
		c->cc.cwnd = cwnd < TCP_CWND_MAX ? cwnd : TCP_CWND_MAX;
	}
}

static uint32_t reno_ssthresh(struct tcp_conn *c, uint64_t now)
{
	uint32_t half = tcp_cc_flight(c) / 2, min = 2 * tcp_cc_smss(c);

	c->cc.bytes_acked = 0;
	return half > min ? half : min;
}

static void reno_on_rto(struct tcp_conn *c, uint64_t now)
{
	c->cc.bytes_acked = 0;
}

static void reno_on_recovery_end(struct tcp_conn *c, uint64_t now)
{
	c->cc.bytes_acked = 0;
}

static void reno_on_idle_restart(struct tcp_conn *c, uint64_t now)
{
	tcp_cc_restart_window(c);
}

const struct tcp_cc_ops tcp_cc_newreno_ops = {
	.name = "reno",
	.init = reno_init,
	.on_ack = reno_on_ack,
	.ssthresh = reno_ssthresh,
	.on_rto = reno_on_rto,
	.on_recovery_end = reno_on_recovery_end,
	.on_idle_restart = reno_on_idle_restart,
};
