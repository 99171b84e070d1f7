/* udp_input: validation, checksum and demultiplexing of received datagrams (RFC 768, RFC 1122
 * §4.1.3; Linux __udp4_lib_rcv, udp4_lib_lookup, __udp4_lib_mcast_deliver).
 *
 * Validation, each failure counted on its own and in in_errors (STYLE rule 13):
 *   - 8 header bytes must be present at l4_off. They are copied out of the chain rather than
 *     read in place, so a reassembled datagram whose first buffer ends inside the header is
 *     still taken;
 *   - the length field must be at least 8 and at most the bytes present; bytes past it are
 *     ignored (Linux trims them: an IPv4 datagram may be longer than the UDP datagram inside);
 *   - a checksum of 0 means the sender computed none (RFC 768) and is accepted; any other value
 *     is verified over pseudo-header, header and payload across the chain, unless ipd or the
 *     driver already did (DESC_F_CSUM_VERIFIED). The check comes before the lookup, so a
 *     corrupted datagram never draws an ICMP error (Linux checks it before answering too).
 *
 * Demultiplexing is Linux's compute_score: a socket matches if its port equals the destination
 * port and each of its bound address, peer address and peer port that is set equals the
 * datagram's; each one set scores. Unicast goes to the single best (a connected socket's exact
 * 4-tuple beats a socket bound to the destination address, which beats one bound to ANY; among
 * equals, e.g. SO_REUSEADDR twins, the most recently bound, as Linux's head-inserted hash
 * chains make it). Broadcast and multicast go to every matching socket.
 *
 * SO_REUSEPORT (Linux reuseport_select_sock without a BPF program): when the best socket is an
 * unconnected member of a reuseport group (the sockets that got the same port on the same
 * address with SO_REUSEPORT, of one uid), the datagram goes to the group's member at index
 * hash * n >> 32 in the order they joined, where hash is Linux's udp_ehashfn (jhash of the
 * 4-tuple) keyed by a per-table secret: one flow always reaches the same socket, and flows
 * spread evenly. Which socket a given flow reaches differs from Linux's (its key is random per
 * boot), as it differs between two Linux hosts.
 */
#include <arpa/inet.h>
#include <errno.h>

#include "checksum.h"
#include "udp_priv.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

static uint32_t udp_rol32(uint32_t w, unsigned s)
{
	return w << s | w >> (32 - s);
}

/* Linux jhash_3words (lookup3's final mix; Bob Jenkins, public domain). */
static uint32_t udp_jhash_3words(uint32_t a, uint32_t b, uint32_t c, uint32_t initval)
{
	initval += 0xdeadbeefu + (3u << 2);
	a += initval;
	b += initval;
	c += initval;
	c ^= b; c -= udp_rol32(b, 14);
	a ^= c; a -= udp_rol32(c, 11);
	b ^= a; b -= udp_rol32(a, 25);
	c ^= b; c -= udp_rol32(b, 16);
	a ^= c; a -= udp_rol32(c, 4);
	b ^= a; b -= udp_rol32(a, 14);
	c ^= b; c -= udp_rol32(b, 24);
	return c;
}

void udp_reuseport_seed(struct udp_table *t, uint32_t seed)
{
	if (t->ports.reuseport_secret != 0)
		return;
	udp_txn_begin(t);
	udp_ports_w(t)->reuseport_secret = seed ? seed : 1;
	udp_txn_end(t);
}

/* The member of best's reuseport group that the flow raddr:rport -> laddr:lport hashes to. */
static int udp_reuseport_pick(const struct udp_table *t, int best, uint32_t laddr,
			      uint16_t lport, uint32_t raddr, uint16_t rport)
{
	const struct udp_sock *b = &t->sock[best];
	uint32_t uid = t->sock[best].ext.uid;
	uint16_t member[UDP_SOCKETS_MAX];
	unsigned n = 0, i, steps;
	uint32_t hash;

	UDP_HASH_FOR_EACH(t, lport, i, steps) {
		const struct udp_sock *s = &t->sock[i];

		if (s->in_use && s->lport == b->lport && s->laddr == b->laddr && !s->raddr &&
		    (t->sock[i].ext.flags & UDP_EXT_F_RP_GROUP) && t->sock[i].ext.uid == uid)
			member[n++] = (uint16_t)i;
	}
	if (n < 2)
		return best;
	/* In the order they joined (bind_seq), as Linux's socks[] array. */
	for (unsigned k = 1; k < n; k++) {
		uint16_t m = member[k];
		unsigned j = k;

		for (; j > 0 && t->sock[member[j - 1]].bind_seq > t->sock[m].bind_seq; j--)
			member[j] = member[j - 1];
		member[j] = m;
	}
	hash = udp_jhash_3words(laddr, raddr, (uint32_t)ntohs(lport) << 16 | rport,
				t->ports.reuseport_secret);
	return member[(uint32_t)(((uint64_t)hash * n) >> 32)];
}

int udp_lookup(const struct udp_table *t, uint32_t laddr, uint16_t lport, uint32_t raddr,
	       uint16_t rport)
{
	int best = -1, best_score = -1;
	uint64_t best_seq = 0;
	unsigned i, steps;

	UDP_HASH_FOR_EACH(t, lport, i, steps) {
		const struct udp_sock *s = &t->sock[i];
		int score = 0;

		if (!s->in_use || s->lport != lport)
			continue;
		if (s->laddr) {
			if (s->laddr != laddr)
				continue;
			score += 4;
		}
		if (s->raddr) {
			if (s->raddr != raddr)
				continue;
			score += 4;
		}
		if (s->rport) {
			if (s->rport != rport)
				continue;
			score += 4;
		}
		if (score > best_score || (score == best_score && s->bind_seq > best_seq)) {
			best = (int)i;
			best_score = score;
			best_seq = s->bind_seq;
		}
	}
	if (best >= 0 && (t->sock[best].ext.flags & UDP_EXT_F_RP_GROUP) && !t->sock[best].raddr)
		return udp_reuseport_pick(t, best, laddr, lport, raddr, rport);
	return best;
}

/* Linux __udp_is_mcast_sock without devices and group filters (we join no groups, and
 * IP_MULTICAST_ALL is on by default). */
static bool udp_multi_match(const struct udp_sock *s, const struct udp_rx *rx)
{
	return s->in_use && s->lport == rx->dport && (!s->laddr || s->laddr == rx->daddr) &&
	       (!s->raddr || s->raddr == rx->saddr) && (!s->rport || s->rport == rx->sport);
}

int udp_input(struct udp_table *t, const struct desc *d, const struct buf *pkt,
	      struct udp_rx *rx)
{
	uint32_t total = buf_chain_len(pkt), avail, ulen;
	struct udp_hdr uh;
	unsigned i, steps;
	bool multi;

	rx->n_sids = 0;
	rx->payload_off = rx->payload_len = rx->trailing = 0;
	rx->saddr = d->saddr;
	rx->daddr = d->daddr;
	rx->sport = rx->dport = 0;
	if (d->len < total)
		total = d->len; /* never read past what the descriptor claims */
	if (d->l4_off > total || total - d->l4_off < UDP_HDR_LEN) {
		t->stats.in_drop_short++;
		t->stats.in_errors++;
		return -EBADMSG;
	}
	avail = total - d->l4_off;
	buf_copy_out(pkt, d->l4_off, &uh, sizeof(uh)); /* cannot fail: checked above */
	ulen = ntohs(uh.len);
	if (ulen < UDP_HDR_LEN) {
		t->stats.in_drop_len_small++;
		t->stats.in_errors++;
		return -EBADMSG;
	}
	if (ulen > avail) {
		t->stats.in_drop_len_big++;
		t->stats.in_errors++;
		return -EBADMSG;
	}
	if (ulen < avail)
		t->stats.in_trimmed++;
	if (uh.csum == 0) {
		t->stats.in_no_csum++;
	} else if (!(d->flags & DESC_F_CSUM_VERIFIED)) {
		uint32_t sum = csum_pseudo_ipv4(d->saddr, d->daddr, IPV4_PROTO_UDP, (uint16_t)ulen);

		if (csum_fold(csum_chain(pkt, d->l4_off, ulen, sum)) != 0) {
			t->stats.in_csum_errors++;
			t->stats.in_errors++;
			return -EBADMSG;
		}
	}
	rx->sport = uh.sport;
	rx->dport = uh.dport;
	rx->payload_off = d->l4_off + UDP_HDR_LEN;
	rx->payload_len = ulen - UDP_HDR_LEN;
	rx->trailing = avail - ulen;

	multi = (d->flags & DESC_F_BCAST) || d->daddr == INADDR_BROADCAST ||
		ipv4_is_multicast(d->daddr);
	if (!multi) {
		int idx = udp_lookup(t, d->daddr, uh.dport, d->saddr, uh.sport);

		if (idx < 0) {
			t->stats.no_ports++;
			return -ENOENT;
		}
		if (t->sock[idx].ext.flags & UDP_EXT_F_RP_GROUP)
			t->stats.reuseport_selected++;
		rx->sids[rx->n_sids++] = udp_sid_make((unsigned)idx, t->sock[idx].gen);
		return 0;
	}
	UDP_HASH_FOR_EACH(t, uh.dport, i, steps)
		if (udp_multi_match(&t->sock[i], rx))
			rx->sids[rx->n_sids++] = udp_sid_make(i, t->sock[i].gen);
	/* RFC 1122 §4.1.3.1: never an ICMP error about a broadcast or multicast. Linux counts
	 * these as IgnoredMulti. */
	if (rx->n_sids == 0)
		t->stats.ignored_multi++;
	return 0;
}

void udp_rx_delivered(struct udp_table *t, uint32_t sid)
{
	(void)sid; /* the count is global, as Linux's InDatagrams */
	t->stats.in_datagrams++;
}

void udp_rx_rcvbuf_drop(struct udp_table *t, uint32_t sid)
{
	struct udp_sock *s = udp_sock_any(t, sid);

	/* Linux __udp_queue_rcv_skb on -ENOMEM: RcvbufErrors and InErrors both, and sk_drops. */
	t->stats.rcvbuf_errors++;
	t->stats.in_errors++;
	if (s)
		s->drops++;
}
