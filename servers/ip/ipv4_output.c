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
 * datagrams carry any value, so DF datagrams use the counter too, which keeps it simple). A TSO
 * super-segment takes as many values as it will make segments: the device gives the first
 * segment the header's ID and counts up (Linux's ip_select_ident_segs and TSO do the same).
 *
 * Checksum offload. A transport's DESC_F_CSUM_NEEDED has Linux's CHECKSUM_PARTIAL meaning: the
 * field at csum_start + csum_offset holds the pseudo-header sum (folded, not inverted), and the
 * final checksum covers [csum_start, end). With cfg.offload it travels with the datagram as
 * struct ip_offload (through the ARP queue too) and leaves in the frame's descriptor, for the
 * device to complete (the TAP's kernel side, through the virtio-net header), or goes up through
 * lo as it is (its receiver trusts it, as Linux's loopback does). It is completed here when
 * offload is off, or when the datagram must be fragmented (a fragment cannot carry a partial
 * checksum: Linux's ip_fragment completes it first); a result of 0 is sent as 0xffff (UDP's "no
 * checksum" must not appear by accident, RFC 768).
 *
 * Segmentation offload. A TSO super-segment (cfg.offload, ip_output's rules) is routed like any
 * datagram, gets one IPv4 header with the whole length and DF, waits in the ARP queue whole,
 * and leaves as one frame with its GSO fields: the device cuts it into segments of gso_size
 * payload bytes, each with a copy of the headers, its own IP ID and both checksums. It is never
 * fragmented, so its segments must fit the MTU: checked against the route's before anything is
 * built. Through lo it goes up whole, as Linux's loopback hands GSO packets to TCP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "checksum.h"
#include "ip_priv.h"
#include "wire/eth.h"
#include "wire/ipv4.h"

/* Complete the partial checksum of b (data at start - csum_start of the chain: csum_start and
 * csum_offset count from the data start, len is the chain's length). false, and nothing
 * changed, if the offsets do not fit or the field is not in the head buffer. */
static bool ipv4_csum_complete(struct buf *b, uint32_t csum_start, uint32_t csum_offset,
			       uint32_t len)
{
	uint32_t at = csum_start + csum_offset;
	uint16_t v;

	if (csum_start > len || at + 2 > buf_len(b))
		return false;
	v = csum_fold(csum_chain(b, csum_start, len - csum_start, 0));
	if (v == 0)
		v = 0xffff;
	v = htons(v);
	memcpy(buf_data(b) + at, &v, sizeof(v));
	return true;
}

unsigned ipv4_frames(const struct ip_core *core, const struct buf *d, const struct ip_offload *off)
{
	const struct ipv4_hdr *h = (const struct ipv4_hdr *)buf_data(d);
	unsigned tot = ntohs(h->tot_len), ihl = ipv4_hdr_len(h);
	unsigned cap = core->cfg.mtu < POOL_DATA_ROOM ? core->cfg.mtu : POOL_DATA_ROOM;
	unsigned per = (cap - ihl) & ~7u;

	/* ip_fragment's sizing for a header without options, which is all we ever build. */
	if (tot <= core->cfg.mtu || (off && off->gso_type != DESC_GSO_NONE))
		return 1;
	return (tot - ihl + per - 1) / per;
}

int ipv4_xmit(struct ip_core *core, struct buf **dgram, const uint8_t dst[6],
	      const struct ip_offload *off, struct ip_out *out)
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
	if (off && off->gso_type != DESC_GSO_NONE) {
		/* Checked against the MTU when it was sent (ipv4_send): one frame, cut by the
		 * device. */
		int rc = eth_output(core, &d, dst, ETH_TYPE_IPV4, off, out);

		if (rc == 0) {
			core->stats.ip_out_gso++;
			core->stats.ip_out_csum_partial++;
		}
		return rc;
	}
	if (off && off->partial) {
		const struct ipv4_hdr *h = (const struct ipv4_hdr *)buf_data(d);
		unsigned tot = ntohs(h->tot_len);

		if (tot <= core->cfg.mtu) {
			int rc = eth_output(core, &d, dst, ETH_TYPE_IPV4, off, out);

			if (rc == 0)
				core->stats.ip_out_csum_partial++;
			return rc;
		}
		/* Checked by ip_output when the packet came in: cannot fail here. */
		if (!ipv4_csum_complete(d, off->csum_start, off->csum_offset, tot)) {
			core->stats.ip_out_discards++;
			pool_free(&d);
			return -ENOBUFS;
		}
		core->stats.ip_out_csum_filled++;
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
		eth_output(core, &frags[i], dst, ETH_TYPE_IPV4, NULL, out);
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
 * at once, with its offload state (a partial checksum stays partial, a super-segment whole, as
 * through Linux's lo). Consumes it. */
static void ipv4_loopback(struct ip_core *core, uint64_t now, struct buf **b, bool bcast,
			  const struct ip_offload *off, struct ip_out *out)
{
	core->stats.ip_out_loopback++;
	if (off->gso_type != DESC_GSO_NONE)
		core->stats.ip_out_gso++;
	if (off->partial)
		core->stats.ip_out_csum_partial++;
	ipv4_local_deliver(core, now, b, DESC_F_CSUM_VERIFIED | (bcast ? DESC_F_BCAST : 0), off,
			   out);
}

int ipv4_send(struct ip_core *core, uint64_t now, struct buf **pkt,
	      const struct ipv4_send_args *a, struct ip_out *out)
{
	struct buf *b = *pkt;
	struct route_result r;
	struct ipv4_hdr *h;
	uint32_t tot, segs = 1;
	uint8_t mac[ETH_ADDR_LEN];
	bool gso = a->off.gso_type != DESC_GSO_NONE;
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
	if (gso) {
		/* Only TCP to a host: no super-segment is broadcast or multicast. Its segments,
		 * not its whole, must fit the link (ip_output checked the rest). */
		if (r.type != ROUTE_UNICAST && r.type != ROUTE_LOCAL) {
			core->stats.ip_out_drop_gso++;
			pool_free(&b);
			return -EINVAL;
		}
		if ((uint32_t)a->off.gso_size + a->off.hdr_len > r.mtu) {
			core->stats.ip_out_drop_gso_mtu++;
			pool_free(&b);
			return -EMSGSIZE;
		}
		segs = (tot - a->off.hdr_len + a->off.gso_size - 1) / a->off.gso_size;
	} else if (a->df && tot > r.mtu) {
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
		.id = htons(core->next_id),
		.frag_off = htons(a->df || gso ? IPV4_FLAG_DF : 0),
		.ttl = a->ttl ? a->ttl : core->cfg.default_ttl,
		.proto = a->proto,
		.csum = 0,
		.saddr = r.saddr,
		.daddr = r.daddr,
	};
	h->csum = htons(csum_compute(h, IPV4_HDR_MIN));
	core->next_id = (uint16_t)(core->next_id + segs);

	switch (r.type) {
	case ROUTE_LOCAL:
		ipv4_loopback(core, now, &b, false, &a->off, out);
		return 0;
	case ROUTE_BROADCAST:
		if (r.ifindex == ROUTE_IFINDEX_LO) {
			ipv4_loopback(core, now, &b, true, &a->off, out);
			return 0;
		}
		{
			struct buf *copy = ipv4_copy(core, b);

			if (copy)
				ipv4_loopback(core, now, &copy, true, &a->off, out);
			else
				core->stats.ip_out_discards++;
		}
		return ipv4_xmit(core, &b, eth_broadcast_addr, &a->off, out);
	case ROUTE_MULTICAST: {
		/* RFC 1112 §6.4: 01:00:5e and the low 23 bits of the group. */
		uint32_t g = ntohl(r.daddr);

		mac[0] = 0x01;
		mac[1] = 0x00;
		mac[2] = 0x5e;
		mac[3] = (uint8_t)(g >> 16 & 0x7f);
		mac[4] = (uint8_t)(g >> 8);
		mac[5] = (uint8_t)g;
		return ipv4_xmit(core, &b, mac, &a->off, out);
	}
	default:
		return arp_output(core, now, r.nexthop, &b, &a->off, out);
	}
}

/* What a TSO super-segment from a transport must be (ip_output's contract): offload on, TCPv4,
 * a partial TCP checksum at the TCP header (data start), gso_size > 0, a whole TCP header in
 * the head buffer and payload after it. Fills off's GSO fields. 0, -EOPNOTSUPP (offload off) or
 * -EINVAL. */
static int ipv4_gso_check(const struct ip_core *core, const struct buf *b, const struct desc *d,
			  uint32_t len, struct ip_offload *off)
{
	uint32_t thlen;

	if (!core->cfg.offload)
		return -EOPNOTSUPP;
	if (d->gso_type != DESC_GSO_TCPV4 || d->proto != IPV4_PROTO_TCP ||
	    !(d->flags & DESC_F_CSUM_NEEDED) || d->csum_start != 0 || d->csum_offset != 16 ||
	    d->gso_size == 0 || buf_len(b) < 20)
		return -EINVAL;
	thlen = (uint32_t)(buf_data(b)[12] >> 4) * 4; /* TCP data offset */
	if (thlen < 20 || thlen > buf_len(b) || thlen >= len)
		return -EINVAL;
	off->gso_type = DESC_GSO_TCPV4;
	off->gso_size = d->gso_size;
	off->hdr_len = (uint16_t)(IPV4_HDR_MIN + thlen);
	return 0;
}

int ip_output(struct ip_core *core, uint64_t now, struct buf **pkt, const struct desc *d,
	      struct ip_out *out)
{
	struct buf *b = *pkt;
	struct ipv4_send_args a;
	uint32_t len;
	int rc;

	*pkt = NULL;
	core->stats.ip_out_requests++;
	if (!b)
		return -EINVAL;
	len = buf_chain_len(b);
	/* The source must be one of ours; the route lookup adds that 127/8 only goes through
	 * lo. A transport resolves 0.0.0.0 itself (route_output). */
	if (!d || len > IPV4_MAX_LEN - IPV4_HDR_MIN || d->daddr == 0 ||
	    (d->saddr && route_addr_type(&core->rt, d->saddr) != ROUTE_LOCAL)) {
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
	if (d->gso_type != DESC_GSO_NONE) {
		rc = ipv4_gso_check(core, b, d, len, &a.off);
		if (rc < 0) {
			core->stats.ip_out_drop_gso++;
			pool_free(&b);
			return rc;
		}
	}
	if (d->flags & DESC_F_CSUM_NEEDED) {
		/* The field must be in the head buffer, where whoever completes it (this layer,
		 * the device, a receiver through lo) finds it. */
		uint32_t end = (uint32_t)d->csum_start + d->csum_offset + 2;

		if (end > buf_len(b) || d->csum_start > len) {
			core->stats.ip_out_drop_invalid++;
			pool_free(&b);
			return -EINVAL;
		}
		if (core->cfg.offload) {
			a.off.partial = true;
			a.off.csum_start = (uint16_t)(d->csum_start + IPV4_HDR_MIN);
			a.off.csum_offset = d->csum_offset;
		} else {
			ipv4_csum_complete(b, d->csum_start, d->csum_offset, len);
			core->stats.ip_out_csum_filled++;
		}
	}
	return ipv4_send(core, now, &b, &a, out);
}
