/* ipv4_output: datagrams we originate (RFC 791 §3.2, RFC 1122 §3.3): ip_output for the
 * transports, ipv4_send for ICMP, ipv4_xmit for the last hop.
 *
 * Path: checks on what the transport asked for → route (route.c) → the 20-byte header is pushed
 * in front of the payload in place (a fresh buffer is linked in front only when the headroom is
 * missing) → next hop: broadcast and multicast map straight to an Ethernet address, anything
 * else goes through ARP (arp.c), which sends at once or queues the whole datagram → ipv4_xmit
 * fragments to the MTU (ip_fragment, ip_frag.c) and pushes the Ethernet header on each frame.
 * Fragmenting after resolution keeps an ARP queue entry per datagram, not per fragment.
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

int ipv4_send(struct ip_core *core, uint64_t now, struct buf **pkt,
	      const struct ipv4_send_args *a, struct ip_out *out)
{
	struct buf *b = *pkt;
	struct ipv4_hdr *h;
	uint32_t nexthop;
	uint32_t tot;
	uint8_t mac[ETH_ADDR_LEN];

	*pkt = NULL;
	if (route_lookup(core, a->daddr, &nexthop) < 0) {
		core->stats.ip_out_no_routes++;
		pool_free(&b);
		return -EHOSTUNREACH;
	}
	tot = buf_chain_len(b) + IPV4_HDR_MIN;
	if (tot > IPV4_MAX_LEN) {
		core->stats.ip_out_drop_invalid++;
		pool_free(&b);
		return -EINVAL;
	}
	if (a->df && tot > core->cfg.mtu) {
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
		.saddr = core->cfg.addr,
		.daddr = a->daddr,
	};
	h->csum = htons(csum_compute(h, IPV4_HDR_MIN));

	if (route_is_bcast(core, a->daddr))
		return ipv4_xmit(core, &b, eth_broadcast_addr, out);
	if (route_is_mcast(a->daddr)) {
		/* RFC 1112 §6.4: 01:00:5e and the low 23 bits of the group. */
		uint32_t g = ntohl(a->daddr);

		mac[0] = 0x01;
		mac[1] = 0x00;
		mac[2] = 0x5e;
		mac[3] = (uint8_t)(g >> 16 & 0x7f);
		mac[4] = (uint8_t)(g >> 8);
		mac[5] = (uint8_t)g;
		return ipv4_xmit(core, &b, mac, out);
	}
	return arp_output(core, now, nexthop, &b, out);
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
	if (!d || len > IPV4_MAX_LEN - IPV4_HDR_MIN || (d->saddr && d->saddr != core->cfg.addr) ||
	    d->daddr == 0 ||
	    ((d->flags & DESC_F_CSUM_NEEDED) && !ipv4_fill_l4_csum(b, d, len))) {
		core->stats.ip_out_drop_invalid++;
		pool_free(&b);
		return -EINVAL;
	}
	a = (struct ipv4_send_args){
		.daddr = d->daddr,
		.proto = d->proto,
		.ttl = d->ttl,
		.tos = d->tos,
		.df = (d->flags & DESC_F_IP_DF) != 0,
	};
	return ipv4_send(core, now, &b, &a, out);
}
