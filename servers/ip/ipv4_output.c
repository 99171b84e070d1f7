/* ipv4_output: datagrams we originate (RFC 791 §3.2, RFC 1122 §3.3): ip_output for the
 * transports, ipv4_send for ICMP, ipv4_xmit for the last hop.
 *
 * Path: checks on what the transport asked for → route (common/route.h, Linux's output lookup)
 * → the 20-byte header is pushed in front of the payload in place (a fresh buffer is linked in
 * front only when the headroom is missing) → by the route's type:
 *   LOCAL      (our address, 127/8: the loopback interface) the datagram goes straight back up
 *              as received input (ipv4_local_deliver), never to the wire, whole: lo's MTU is
 *              65,536, so nothing is fragmented, and its checksums are ours, so the transport
 *              need not verify them (DESC_F_CSUM_VERIFIED, as lo's CHECKSUM_UNNECESSARY);
 *   BROADCAST  the link broadcast address; and, as Linux's ip_mc_output does, a copy goes up
 *              to our own transport, which delivers it to any socket of ours bound to the port
 *              (lo's 127.255.255.255 only goes up);
 *   MULTICAST  RFC 1112 §6.4's Ethernet address (we join no groups, so nothing loops back);
 *   UNICAST    ARP (arp.c), which sends at once or queues the whole datagram;
 * then ipv4_xmit fragments to the MTU (ip_fragment, ip_frag.c) and pushes the Ethernet header
 * on each frame. Fragmenting after resolution keeps an ARP queue entry per datagram, not per
 * fragment.
 *
 * Options: none are ever sent; transports have no way to ask for any.
 *
 * Identification: one counter for every datagram (RFC 791 §3.2; RFC 6864 §4.1 lets atomic
 * datagrams carry any value, so DF datagrams use the counter too, which keeps it simple).
 *
 * Checksum offload: struct ip_out has no per-frame offload flags to hand nicd, and a datagram
 * about to be fragmented cannot be offloaded anyway, so a transport's DESC_F_CSUM_NEEDED is
 * resolved here in software, with Linux's CHECKSUM_PARTIAL meaning: the field at
 * csum_start + csum_offset holds the pseudo-header sum (folded, not inverted), and the final
 * checksum covers [csum_start, end); a result of 0 is sent as 0xffff (UDP's "no checksum" must
 * not appear by accident, RFC 768).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "checksum.h"
#include "ip_priv.h"
#include "wire/eth.h"
#include "wire/ipv4.h"

unsigned ipv4_frames(const struct ip_core *core, const struct buf *d)
{
	const struct ipv4_hdr *h = (const struct ipv4_hdr *)buf_data(d);
	unsigned tot = ntohs(h->tot_len), ihl = ipv4_hdr_len(h);
	unsigned cap = core->cfg.mtu < POOL_DATA_ROOM ? core->cfg.mtu : POOL_DATA_ROOM;
	unsigned per = (cap - ihl) & ~7u;

	/* ip_fragment's sizing for a header without options, which is all we ever build. */
	if (tot <= core->cfg.mtu)
		return 1;
	return (tot - ihl + per - 1) / per;
}

int ipv4_xmit(struct ip_core *core, struct buf **dgram, const uint8_t dst[6],
	      struct ip_out *out)
{
	struct buf *frags[IP_OUT_MAX];
	struct buf *d = *dgram;
	int n;

	*dgram = NULL;
	if (out->n_wire >= IP_OUT_MAX) {
		core->stats.ip_out_discards++;
		pool_free(&d);
		return -ENOBUFS;
	}
	n = ip_fragment(core->pool, &d, core->cfg.mtu, frags, IP_OUT_MAX - out->n_wire,
			&core->stats);
	if (n < 0) {
		/* ip_fragment counted ip_frag_fails; say why the datagram is gone. */
		if (n == -EMSGSIZE)
			core->stats.ip_out_drop_df++;
		else
			core->stats.ip_out_discards++;
		pool_free(&d);
		return n == -EMSGSIZE ? n : -ENOBUFS;
	}
	for (int i = 0; i < n; i++)
		eth_output(core, &frags[i], dst, ETH_TYPE_IPV4, out);
	return 0;
}

/* A copy of the chain b (data at its IPv4 header), or NULL when the pool ran dry. */
static struct buf *ipv4_copy(struct ip_core *core, const struct buf *b)
{
	struct buf *c = pool_alloc(core->pool);

	for (const struct buf *p = b; c && p; p = buf_next(p)) {
		if (buf_len(p) && buf_append_data(c, buf_data(p), buf_len(p)) < 0)
			pool_free(&c);
	}
	return c;
}

/* The loopback interface: the datagram b (data at its header, built by ipv4_send) is received
 * at once. Consumes it. */
static void ipv4_loopback(struct ip_core *core, uint64_t now, struct buf **b, bool bcast,
			  struct ip_out *out)
{
	core->stats.ip_out_loopback++;
	ipv4_local_deliver(core, now, b, DESC_F_CSUM_VERIFIED | (bcast ? DESC_F_BCAST : 0), out);
}

int ipv4_send(struct ip_core *core, uint64_t now, struct buf **pkt,
	      const struct ipv4_send_args *a, struct ip_out *out)
{
	struct buf *b = *pkt;
	struct route_result r;
	struct ipv4_hdr *h;
	uint32_t tot;
	uint8_t mac[ETH_ADDR_LEN];
	int rc;

	*pkt = NULL;
	rc = route_output(&core->rt, a->daddr, a->saddr, &r);
	if (rc < 0) {
		if (rc == -ENETUNREACH)
			core->stats.ip_out_no_routes++;
		else
			core->stats.ip_out_drop_invalid++;
		pool_free(&b);
		return rc;
	}
	tot = buf_chain_len(b) + IPV4_HDR_MIN;
	if (tot > IPV4_MAX_LEN) {
		core->stats.ip_out_drop_invalid++;
		pool_free(&b);
		return -EINVAL;
	}
	if (a->df && tot > r.mtu) {
		core->stats.ip_out_drop_df++;
		pool_free(&b);
		return -EMSGSIZE;
	}
	h = (struct ipv4_hdr *)ip_push(core, &b, IPV4_HDR_MIN);
	if (!h) {
		core->stats.ip_out_discards++;
		pool_free(&b);
		return -ENOBUFS;
	}
	*h = (struct ipv4_hdr){
		.ver_ihl = 4u << 4 | IPV4_HDR_MIN / 4,
		.tos = a->tos,
		.tot_len = htons((uint16_t)tot),
		.id = htons(core->next_id++),
		.frag_off = htons(a->df ? IPV4_FLAG_DF : 0),
		.ttl = a->ttl ? a->ttl : core->cfg.default_ttl,
		.proto = a->proto,
		.csum = 0,
		.saddr = r.saddr,
		.daddr = r.daddr,
	};
	h->csum = htons(csum_compute(h, IPV4_HDR_MIN));

	switch (r.type) {
	case ROUTE_LOCAL:
		ipv4_loopback(core, now, &b, false, out);
		return 0;
	case ROUTE_BROADCAST:
		if (r.ifindex == ROUTE_IFINDEX_LO) {
			ipv4_loopback(core, now, &b, true, out);
			return 0;
		}
		{
			struct buf *copy = ipv4_copy(core, b);

			if (copy)
				ipv4_loopback(core, now, &copy, true, out);
			else
				core->stats.ip_out_discards++;
		}
		return ipv4_xmit(core, &b, eth_broadcast_addr, out);
	case ROUTE_MULTICAST: {
		/* RFC 1112 §6.4: 01:00:5e and the low 23 bits of the group. */
		uint32_t g = ntohl(r.daddr);

		mac[0] = 0x01;
		mac[1] = 0x00;
		mac[2] = 0x5e;
		mac[3] = (uint8_t)(g >> 16 & 0x7f);
		mac[4] = (uint8_t)(g >> 8);
		mac[5] = (uint8_t)g;
		return ipv4_xmit(core, &b, mac, out);
	}
	default:
		return arp_output(core, now, r.nexthop, &b, out);
	}
}

/* Fill a checksum the transport left to us (see the file comment). false if the offsets do not
 * fit the packet. */
static bool ipv4_fill_l4_csum(struct buf *b, const struct desc *d, uint32_t len)
{
	uint32_t at = (uint32_t)d->csum_start + d->csum_offset;
	uint16_t v;

	if (d->csum_start > len || at + 2 > buf_len(b))
		return false;
	v = csum_fold(csum_chain(b, d->csum_start, len - d->csum_start, 0));
	if (v == 0)
		v = 0xffff;
	v = htons(v);
	memcpy(buf_data(b) + at, &v, sizeof(v));
	return true;
}

int ip_output(struct ip_core *core, uint64_t now, struct buf **pkt, const struct desc *d,
	      struct ip_out *out)
{
	struct buf *b = *pkt;
	struct ipv4_send_args a;
	uint32_t len;

	*pkt = NULL;
	core->stats.ip_out_requests++;
	if (!b)
		return -EINVAL;
	len = buf_chain_len(b);
	/* The source must be one of ours; the route lookup adds that 127/8 only goes through
	 * lo. A transport resolves 0.0.0.0 itself (route_output). */
	if (!d || len > IPV4_MAX_LEN - IPV4_HDR_MIN || d->daddr == 0 ||
	    (d->saddr && route_addr_type(&core->rt, d->saddr) != ROUTE_LOCAL) ||
	    ((d->flags & DESC_F_CSUM_NEEDED) && !ipv4_fill_l4_csum(b, d, len))) {
		core->stats.ip_out_drop_invalid++;
		pool_free(&b);
		return -EINVAL;
	}
	a = (struct ipv4_send_args){
		.daddr = d->daddr,
		.saddr = d->saddr,
		.proto = d->proto,
		.ttl = d->ttl,
		.tos = d->tos,
		.df = (d->flags & DESC_F_IP_DF) != 0,
	};
	return ipv4_send(core, now, &b, &a, out);
}
