/* udp_output: the sendmsg rules, corking and the header (RFC 768; Linux udp_sendmsg,
 * udp_push_pending_frames, udp_send_skb).
 *
 * The core decides, the shell moves bytes: udp_output answers with struct udp_tx whether this
 * call's payload is emitted now (behind any corked bytes), appended to the corked datagram, or
 * refused, and whether the corked bytes the shell holds must be freed. The core keeps only the
 * corked datagram's length and endpoints.
 *
 * Corking (MSG_MORE on the call, or UDP_CORK on the socket): the first corked send fixes the
 * datagram's source and destination; later sends only append, and Linux ignores their address
 * (udp_sendmsg jumps straight to do_append_data while up->pending), as we do. The datagram
 * goes out with the first send that asks for no more, or when UDP_CORK is cleared
 * (udp_push_pending). The total is bounded by the IPv4 maximum, 65,507 payload bytes; a send
 * that would pass it, like any failure while a datagram is corked, discards the whole pending
 * datagram (Linux udp_flush_pending_frames): an application that gets an error back cannot
 * know which part of its corked data survived, so none does.
 *
 * The pending error (Linux sk_err, set from ICMP) is taken by the first send that passes the
 * argument checks, as Linux reports it from the allocation in ip_append_data.
 *
 * Routes are looked up per send (common/route.h, a scan of a handful of entries), connected or
 * not: Linux caches a connected socket's route, but the table here never changes while udpd
 * runs, so the answer is the same. IP parameters come from the socket at the time the datagram
 * is emitted: TTL (IP_TTL, or IP_MULTICAST_TTL for a multicast group), TOS, and Don't Fragment
 * from IP_MTU_DISCOVER (Linux __ip_make_skb: DO and PROBE always, WANT when the datagram fits the
 * route's MTU, never with DONT, INTERFACE or OMIT; DO, PROBE and INTERFACE refuse what does not
 * fit with EMSGSIZE, ip_append_data's maxnonfragsize).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "checksum.h"
#include "udp_priv.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

/* IP_MTU_DISCOVER modes that refuse a datagram larger than the route's MTU (Linux
 * ip_sk_ignore_df is false for them). */
static bool udp_pmtu_strict(uint8_t pmtudisc)
{
	return pmtudisc >= IP_PMTUDISC_DO && pmtudisc != IP_PMTUDISC_OMIT;
}

static void udp_emit(struct udp_table *t, const struct udp_host *h, unsigned idx,
		     struct udp_tx *tx, uint32_t saddr, uint32_t daddr, uint16_t sport,
		     uint16_t dport, uint32_t corked, uint32_t len)
{
	const struct udp_sock_ext *x = &t->sock[idx].ext;
	struct route_result r;
	uint32_t mtu = route_output(&h->rt, daddr, saddr, &r) == 0 ? r.mtu : h->rt.mtu;
	bool mcast = ipv4_is_multicast(daddr);

	t->stats.out_datagrams++;
	/* Multicast TTL 0 stays on the host (ip_mc_output), where no group of ours takes it. */
	if (mcast && x->mc_ttl == 0) {
		tx->cork_drop = corked > 0;
		return;
	}
	tx->emit = true;
	tx->saddr = saddr;
	tx->daddr = daddr;
	tx->sport = sport;
	tx->dport = dport;
	tx->corked_len = corked;
	tx->len = corked + len;
	tx->ttl = mcast ? x->mc_ttl : x->ttl;
	tx->tos = x->tos;
	tx->df = x->pmtudisc == IP_PMTUDISC_DO || x->pmtudisc == IP_PMTUDISC_PROBE ||
		 (x->pmtudisc == IP_PMTUDISC_WANT &&
		  (uint64_t)tx->len + UDP_HDR_LEN + IPV4_HDR_MIN <= mtu);
}

/* A send while a datagram is corked: append, and emit unless more is to come. Inside the
 * transaction of udp_output, like every write below. */
static int udp_output_append(struct udp_table *t, const struct udp_host *h, unsigned idx,
			     uint32_t len, bool corkreq, struct udp_tx *tx)
{
	struct udp_sock *s = udp_sock_w(t, idx); /* every path below writes it */
	int err = 0;

	if ((uint64_t)s->cork_len + len > UDP_MAX_PAYLOAD) {
		err = EMSGSIZE;
	} else if (s->pending_error) {
		err = s->pending_error;
		s->pending_error = 0;
	}
	if (err) {
		udp_cork_clear(s);
		tx->cork_drop = true;
		return -err;
	}
	if (corkreq) {
		s->cork_len += len;
		tx->cork_append = true;
		return 0;
	}
	udp_emit(t, h, idx, tx, s->cork_saddr, s->cork_daddr, s->cork_sport, s->cork_dport,
		 s->cork_len, len);
	udp_cork_clear(s);
	return 0;
}

static int udp_output_txn(struct udp_table *t, uint32_t owner, uint32_t sid,
			  const struct udp_host *h, const struct udp_send *snd, struct udp_tx *tx)
{
	struct udp_sock *s = udp_sock_find(t, owner, sid);
	unsigned idx = udp_sid_idx(sid);
	const struct udp_sock_ext *x;
	struct route_result r;
	uint32_t daddr;
	uint16_t dport;
	bool corkreq;
	int rc;

	if (!s)
		return -EBADF;
	/* inet_sendmsg autobinds before udp_sendmsg checks anything. */
	if (!(s->flags & UDP_SOCK_F_BOUND) && udp_autobind(t, idx) != 0)
		return -EAGAIN;
	x = &s->ext;
	if (snd->payload_len > 0xffffu)
		return -EMSGSIZE;
	if (snd->flags & MSG_OOB)
		return -EOPNOTSUPP;
	corkreq = (s->flags & UDP_SOCK_F_CORK) || (snd->flags & MSG_MORE);
	if (s->flags & UDP_SOCK_F_CORK_PENDING)
		return udp_output_append(t, h, idx, snd->payload_len, corkreq, tx);

	if (snd->has_addr) {
		if (snd->dport == 0)
			return -EINVAL;
		daddr = snd->daddr;
		dport = snd->dport;
	} else {
		if (!(s->flags & UDP_SOCK_F_CONNECTED))
			return -EDESTADDRREQ;
		daddr = s->raddr;
		dport = s->rport;
	}
	rc = route_output(&h->rt, daddr, x->saddr, &r);
	if (rc < 0)
		return rc;
	if (r.type == ROUTE_BROADCAST && !(s->flags & UDP_SOCK_F_BROADCAST))
		return -EACCES;
	if (snd->payload_len > UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (udp_pmtu_strict(x->pmtudisc) &&
	    (uint64_t)snd->payload_len + UDP_HDR_LEN + IPV4_HDR_MIN > r.mtu)
		return -EMSGSIZE;
	if (s->pending_error) {
		int err = s->pending_error;

		udp_sock_w(t, idx)->pending_error = 0;
		return -err;
	}
	if (corkreq) {
		s = udp_sock_w(t, idx);
		s->flags |= UDP_SOCK_F_CORK_PENDING;
		s->cork_saddr = r.saddr;
		s->cork_daddr = r.daddr;
		s->cork_sport = s->lport;
		s->cork_dport = dport;
		s->cork_len = snd->payload_len;
		tx->cork_append = true;
		return 0;
	}
	udp_emit(t, h, idx, tx, r.saddr, r.daddr, s->lport, dport, 0, snd->payload_len);
	return 0;
}

int udp_output(struct udp_table *t, uint32_t owner, uint32_t sid, const struct udp_host *h,
	       const struct udp_send *snd, struct udp_tx *tx)
{
	memset(tx, 0, sizeof(*tx));
	udp_txn_begin(t);
	int rc = udp_output_txn(t, owner, sid, h, snd, tx);
	udp_txn_end(t);
	return rc;
}

int udp_push_pending(struct udp_table *t, const struct udp_host *h, uint32_t owner, uint32_t sid,
		     struct udp_tx *tx)
{
	struct udp_sock *s = udp_sock_find(t, owner, sid);

	memset(tx, 0, sizeof(*tx));
	if (!s)
		return -EBADF;
	if (s->flags & UDP_SOCK_F_CORK_PENDING) {
		udp_emit(t, h, udp_sid_idx(sid), tx, s->cork_saddr, s->cork_daddr, s->cork_sport,
			 s->cork_dport, s->cork_len, 0);
		udp_txn_begin(t);
		udp_cork_clear(udp_sock_w(t, udp_sid_idx(sid)));
		udp_txn_end(t);
	}
	return 0;
}

void udp_tx_sndbuf_drop(struct udp_table *t, uint32_t sid)
{
	(void)sid;
	if (t->stats.out_datagrams > 0)
		t->stats.out_datagrams--;
	t->stats.sndbuf_errors++;
}

void udp_header_fill(uint8_t hdr[8], uint32_t saddr, uint32_t daddr, uint16_t sport,
		     uint16_t dport, const struct buf *payload, size_t payload_off,
		     size_t payload_len)
{
	uint16_t ulen = (uint16_t)(UDP_HDR_LEN + payload_len);
	struct udp_hdr uh = {.sport = sport, .dport = dport, .len = htons(ulen), .csum = 0};
	uint32_t sum = csum_pseudo_ipv4(saddr, daddr, IPV4_PROTO_UDP, ulen);
	uint16_t c;

	sum = csum_partial(&uh, sizeof(uh), sum);
	if (payload_len > 0)
		sum = csum_chain(payload, payload_off, payload_len, sum);
	c = csum_fold(sum);
	/* RFC 768: a computed 0 is sent as all ones; 0 on the wire means "no checksum". */
	uh.csum = htons(c == 0 ? 0xffff : c);
	memcpy(hdr, &uh, sizeof(uh));
}

void udp_header_fill_partial(uint8_t hdr[8], uint32_t saddr, uint32_t daddr, uint16_t sport,
			     uint16_t dport, size_t payload_len)
{
	uint16_t ulen = (uint16_t)(UDP_HDR_LEN + payload_len);
	/* The pseudo-header sum, folded, not inverted (desc.h, DESC_F_CSUM_NEEDED; Linux
	 * udp4_hwcsum): whoever completes it sums the header and payload over it. */
	uint16_t pseudo = (uint16_t)~csum_fold(csum_pseudo_ipv4(saddr, daddr, IPV4_PROTO_UDP, ulen));
	struct udp_hdr uh = {.sport = sport, .dport = dport, .len = htons(ulen), .csum = htons(pseudo)};

	memcpy(hdr, &uh, sizeof(uh));
}
