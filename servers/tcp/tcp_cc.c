/* tcp_cc: the congestion control ops table and what its algorithms share (RFC 5681, RFC 3465,
 * RFC 6928).
 *
 * Windows are in bytes. Slow start uses RFC 3465's Appropriate Byte Counting: cwnd grows by
 * the bytes an ACK newly acknowledges, at most L = 2·SMSS per ACK (1·SMSS in slow start after
 * an RTO, RFC 3465 §2.3, when the ACKs of go-back-N retransmissions may each cover much data
 * the receiver already had), and never beyond ssthresh in one step: what the step would have
 * added beyond ssthresh goes to congestion avoidance, as Linux's tcp_slow_start returns it.
 *
 * cwnd grows only while it limits the sender (Linux tcp_is_cwnd_limited; RFC 9438 §5.8,
 * RFC 7661's motivation): the flight before the ACK must have been over half of cwnd in slow
 * start, within one SMSS of cwnd in avoidance. Otherwise an application that sends little, or
 * a small receive window, would let cwnd grow to a value the path never validated, and a
 * burst at that value would follow the first large write.
 */
#include <errno.h>
#include <string.h>

#include "tcp_priv.h"

#define TCP_CA_NAME_MAX 16 /* Linux: names are compared on at most 15 bytes */

const struct tcp_cc_ops *tcp_cc_get(enum tcp_cc_algo algo)
{
	return algo == TCP_CC_NEWRENO ? &tcp_cc_newreno_ops : &tcp_cc_cubic_ops;
}

int tcp_cc_by_name(const char *name, size_t len, enum tcp_cc_algo *algo)
{
	static const struct {
		const char *name;
		enum tcp_cc_algo algo;
	} names[] = {{"cubic", TCP_CC_CUBIC}, {"reno", TCP_CC_NEWRENO}};
	size_t n = 0;

	if (len > TCP_CA_NAME_MAX - 1)
		len = TCP_CA_NAME_MAX - 1;
	while (n < len && name[n])
		n++;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == n && memcmp(names[i].name, name, n) == 0) {
			*algo = names[i].algo;
			return 0;
		}
	return -ENOENT;
}

uint32_t tcp_cc_smss(const struct tcp_conn *c)
{
	return c->snd_mss ? c->snd_mss : TCP_MSS_DEFAULT;
}

uint32_t tcp_cc_iw(const struct tcp_conn *c)
{
	/* RFC 6928 §2: min(10·MSS, max(2·MSS, 14600)). */
	uint32_t mss = tcp_cc_smss(c), lo = 2 * mss > 14600u ? 2 * mss : 14600u;

	return 10 * mss < lo ? 10 * mss : lo;
}

uint32_t tcp_cc_flight(const struct tcp_conn *c)
{
	uint32_t flight = c->snd_max - c->snd_una;

	if (flight > TCP_CWND_MAX * 2u) /* torn or not yet sent: no flight */
		flight = 0;
	return flight < c->cc.cwnd ? flight : c->cc.cwnd;
}

bool tcp_cc_cwnd_limited(const struct tcp_conn *c, uint32_t acked)
{
	/* snd_una has moved by acked: the flight just before this ACK. */
	uint64_t before = (uint64_t)(uint32_t)(c->snd_max - c->snd_una) + acked;

	if (c->cc.cwnd < c->cc.ssthresh)
		return 2 * before > c->cc.cwnd;
	return before + tcp_cc_smss(c) > c->cc.cwnd;
}

uint32_t tcp_cc_slow_start(struct tcp_conn *c, uint32_t acked)
{
	uint32_t smss = tcp_cc_smss(c);
	uint32_t l = c->cc.ca_state == TCP_CA_LOSS ? smss : 2 * smss;
	uint32_t inc = acked < l ? acked : l;
	uint32_t cwnd = c->cc.cwnd;

	if (cwnd >= c->cc.ssthresh)
		return acked;
	if (inc <= c->cc.ssthresh - cwnd) {
		cwnd += inc;
		c->cc.cwnd = cwnd < TCP_CWND_MAX ? cwnd : TCP_CWND_MAX;
		return 0;
	}
	/* What the step would have added beyond ssthresh (ABC's limit still applies). */
	inc -= c->cc.ssthresh - cwnd;
	c->cc.cwnd = c->cc.ssthresh < TCP_CWND_MAX ? c->cc.ssthresh : TCP_CWND_MAX;
	return inc;
}

void tcp_cc_restart_window(struct tcp_conn *c)
{
	uint32_t iw = tcp_cc_iw(c);
	uint32_t keep = (uint32_t)((uint64_t)c->cc.cwnd * 3 / 4);

	/* Linux tcp_cwnd_restart: remember 3/4 of the old cwnd in ssthresh, so slow start
	 * brings the window back quickly once the path proves itself again. */
	if (c->cc.ssthresh < keep)
		c->cc.ssthresh = keep;
	/* RFC 5681 §4.1: cwnd = min(RW, cwnd), RW = min(IW, cwnd). */
	if (c->cc.cwnd > iw)
		c->cc.cwnd = iw;
	c->cc.bytes_acked = 0;
}
