/* tcp_icmp: ICMP errors about segments we sent (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191), as
 * Linux's tcp_v4_err:
 *   - the quote must be an IPv4 header plus at least the first 8 bytes of our TCP header, for
 *     a connection we have, and its sequence number must lie in [snd_una, snd_max) (RFC 5927
 *     §4.1; exactly the ISN for a SYN-RECEIVED child): a blind attacker must guess both;
 *   - fragmentation needed (RFC 1191): the path MTU drops to the reported next-hop MTU, never
 *     below Linux's 552 (ip_rt_min_pmtu; a report under it, or a 0 from an old router, means
 *     552), never up; the send MSS follows (TcpPMTUUpdates) and what is in flight is sent
 *     again at the new size (Linux tcp_simple_retransmit: no congestion response);
 *   - in SYN-SENT (and a simultaneous-open SYN-RECEIVED) any other error aborts the attempt
 *     with its errno; a SYN-RECEIVED child is dropped for network/host unreachable, time
 *     exceeded and parameter problem (Linux tcp_req_err);
 *   - otherwise it is a soft error (RFC 1122 §4.2.3.9: not fatal), remembered so that a later
 *     timeout reports it instead of ETIMEDOUT;
 *   - source quench is ignored (RFC 6633), as are codes and types that say nothing about us.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "tcp_priv.h"

#define ICMP_T_DEST_UNREACH 3
#define ICMP_T_SOURCE_QUENCH 4
#define ICMP_T_TIME_EXCEEDED 11
#define ICMP_T_PARAMETERPROB 12
#define ICMP_C_NET_UNREACH 0
#define ICMP_C_HOST_UNREACH 1
#define ICMP_C_FRAG_NEEDED 4
#define TCP_PMTU_MIN 552u /* Linux ip_rt_min_pmtu: 512 + 20 + 20 */

/* Linux icmp_err_convert[] for destination unreachable codes 0..15. */
static const uint16_t tcp_unreach_errno[16] = {
	ENETUNREACH, EHOSTUNREACH, ENOPROTOOPT, ECONNREFUSED, EMSGSIZE, EOPNOTSUPP,
	ENETUNREACH, EHOSTDOWN,    ENONET,      ENETUNREACH,  EHOSTUNREACH, ENETUNREACH,
	EHOSTUNREACH, EHOSTUNREACH, EHOSTUNREACH, EHOSTUNREACH,
};

static void tcp_pmtu_reduce(struct tcp_table *t, struct tcp_conn *c, uint64_t now,
			    uint16_t mtu, struct tcp_io *io)
{
	uint32_t m = mtu, old_mss = c->snd_mss;

	if (m < TCP_PMTU_MIN)
		m = c->pmtu < TCP_PMTU_MIN ? c->pmtu : TCP_PMTU_MIN;
	if (m >= c->pmtu)
		return; /* never up from an ICMP (RFC 1191 §6.3) */
	c->pmtu = (uint16_t)m;
	t->stats.tcp_pmtu_updates++;
	tcp_sync_mss(c);
	if (c->state == TCP_STATE_SYN_SENT || c->state == TCP_STATE_SYN_RECEIVED)
		return; /* the MSS applies from the first data segment */
	if (c->snd_mss < old_mss && c->snd_una != c->snd_max) {
		/* What is in flight was too big for the path and is lost: all of it again at the
		 * new size, go-back-N as after an RTO, but without a congestion response — the
		 * path did not congest (Linux tcp_simple_retransmit enters Loss with cwnd kept).
		 * In LOSS the allowance counts only what went back in flight. */
		if (c->cc.ca_state != TCP_CA_LOSS) {
			c->cc.ca_state = TCP_CA_LOSS;
			c->cc.recover = c->snd_max;
			c->cc.dupacks = 0;
			c->flags |= TCP_F_RECOVER_VALID;
		}
		c->flags &= ~TCP_F_RTX_HEAD;
		c->snd_nxt = c->snd_una;
		tcp_rtt_cancel(&c->rtt);
		tcp_output(t, c, now, io);
	}
}

int tcp_icmp_error(struct tcp_table *t, uint64_t now, uint8_t type, uint8_t code, uint16_t mtu,
		   const uint8_t *quoted, size_t quoted_len, struct tcp_io *io)
{
	uint32_t saddr, daddr, seq;
	uint16_t sport, dport;
	unsigned ihl;
	struct tcp_conn *c;
	int err;

	if (!t || !io)
		return -EINVAL;
	t->stats.icmp_in++;
	if (!quoted || quoted_len < 20 || (quoted[0] >> 4) != 4) {
		t->stats.icmp_bad++;
		return -EBADMSG;
	}
	ihl = (quoted[0] & 0xfu) * 4u;
	if (ihl < 20 || quoted_len < ihl + 8 || quoted[9] != 6 /* IPPROTO_TCP */) {
		t->stats.icmp_bad++;
		return -EBADMSG;
	}
	memcpy(&saddr, quoted + 12, 4);
	memcpy(&daddr, quoted + 16, 4);
	memcpy(&sport, quoted + ihl, 2);
	memcpy(&dport, quoted + ihl + 2, 2);
	memcpy(&seq, quoted + ihl + 4, 4);
	seq = ntohl(seq);
	c = tcp_conn_find(t, saddr, sport, daddr, dport);
	if (!c || c->state == TCP_STATE_TIME_WAIT) {
		t->stats.icmp_no_conn++;
		return -ENOENT;
	}
	if (c->state == TCP_STATE_SYN_RECEIVED && c->parent != TCP_IDX_NONE
		    ? seq != c->iss
		    : !seq_in(seq, c->snd_una, c->snd_max)) {
		t->stats.icmp_out_of_window++;
		return 0;
	}
	switch (type) {
	case ICMP_T_DEST_UNREACH:
		if (code >= 16) {
			t->stats.icmp_ignored++;
			return 0;
		}
		if (code == ICMP_C_FRAG_NEEDED) {
			tcp_pmtu_reduce(t, c, now, mtu, io);
			return 0;
		}
		err = tcp_unreach_errno[code];
		break;
	case ICMP_T_TIME_EXCEEDED:
		err = EHOSTUNREACH;
		break;
	case ICMP_T_PARAMETERPROB:
		err = EPROTO;
		break;
	case ICMP_T_SOURCE_QUENCH: /* RFC 6633: deprecated, ignored */
	default:
		t->stats.icmp_ignored++;
		return 0;
	}
	if (c->state == TCP_STATE_SYN_RECEIVED && c->parent != TCP_IDX_NONE) {
		if (type != ICMP_T_DEST_UNREACH || code == ICMP_C_NET_UNREACH ||
		    code == ICMP_C_HOST_UNREACH) {
			t->stats.icmp_hard++;
			t->stats.listen_drops++;
			tcp_conn_release(t, c, io);
		} else {
			t->stats.icmp_soft++;
		}
		return 0;
	}
	if (c->state == TCP_STATE_SYN_SENT || c->state == TCP_STATE_SYN_RECEIVED) {
		t->stats.icmp_hard++;
		tcp_conn_done(t, c, err, io);
		return 0;
	}
	t->stats.icmp_soft++;
	c->soft_error = (uint16_t)err;
	return 0;
}
