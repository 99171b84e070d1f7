/* ipv4_input: validation and local delivery of received IPv4 datagrams (RFC 791 §3.1, RFC 1122
 * §3.2.1, §3.3).
 *
 * Checks run in a fixed order, each with its own counter, and every one of them happens before
 * any byte it protects is trusted: header length, version, IHL, total length, header checksum;
 * then Ethernet padding is cut so everything after sees exactly the datagram; then the options
 * are walked, then the addresses are judged. The whole header must sit in the chain's head
 * buffer (buf.h: nicd puts headers there); one that does not is dropped as short/bad IHL.
 *
 * We are a host, not a router (RFC 1122 §3.3.1): a datagram not addressed to us is dropped, not
 * forwarded, and TTL is not decremented or checked (see ipv4_local_deliver). Options are checked for
 * well-formedness and otherwise ignored: no option changes how we deliver, and since no source
 * route is honoured, none is reversed in replies either.
 *
 * Offload (the device's word on the frame, through nicd's descriptor; desc.h). Trusted only as
 * far as it agrees with the datagram, checked after the header and the addresses:
 *   - a GRO super-frame (gso_type TCPV4): total length past the MTU, in a buffer chain. It
 *     must be TCP, unicast to us, not a fragment (the kernel merges whole segments only), with
 *     gso_size > 0 and a checksum state (partial or verified: the merged frame's own checksum
 *     field is the first segment's). It goes up whole, never near reassembly;
 *   - a partial checksum (the kernel's own traffic into the TAP, CHECKSUM_PARTIAL): csum_start
 *     where the IPv4 header ends, csum_offset that of TCP (16) or UDP (6), never on a fragment
 *     (Linux completes the checksum before it fragments). It goes up as verified, as Linux
 *     treats CHECKSUM_PARTIAL on receive: the data never crossed a wire;
 *   - a verified checksum (DATA_VALID) goes up as DESC_F_CSUM_VERIFIED, except on a fragment:
 *     the device checked nothing of the reassembled datagram.
 * The header checksum is always checked: no device verifies it for us.
 */
#include <arpa/inet.h>
#include <string.h>

#include "checksum.h"
#include "ip_priv.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

/* RFC 791 §3.1 options: EOL ends the list, NOP is one byte, every other option is type, length
 * (counting both), data. A length under 2 or running past the header would make a walker loop
 * or read beyond it; such a header is malformed. */
static bool ipv4_options_ok(const uint8_t *hdr, unsigned ihl)
{
	unsigned i = IPV4_HDR_MIN;

	while (i < ihl) {
		unsigned type = hdr[i], len;

		if (type == IPV4_OPT_EOL)
			return true;
		if (type == IPV4_OPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= ihl)
			return false; /* no room for the length byte */
		len = hdr[i + 1];
		if (len < 2 || len > ihl - i)
			return false;
		i += len;
	}
	return true;
}

/* Hand a validated, whole datagram to whoever serves its protocol: from the wire through
 * ipv4_input, from ourselves through the loopback interface (ipv4_output.c). */
void ipv4_local_deliver(struct ip_core *core, uint64_t now, struct buf **pkt, uint32_t flags,
			const struct ip_offload *off, struct ip_out *out)
{
	struct buf *b = *pkt;
	const struct ipv4_hdr *h = (const struct ipv4_hdr *)buf_data(b);
	bool bcast = (flags & DESC_F_BCAST) != 0;

	*pkt = NULL;
	/* TTL: RFC 1122 §3.2.1.7 — a host MUST NOT discard a datagram just because it arrived
	 * with a TTL below 2; TTL only bounds forwarding, which we never do. So any TTL,
	 * including 0 and 1, is delivered. */
	if (h->proto == IPV4_PROTO_ICMP) {
		core->stats.ip_in_delivers++;
		icmp_input(core, now, &b, bcast, out);
		return;
	}
	if (!(core->served[h->proto / 8] & (1u << (h->proto % 8)))) {
		/* RFC 1122 §3.2.2.1: protocol unreachable, unless icmp_send_error's rules (no errors
		 * about broadcasts, non-first fragments, ICMP errors) forbid it. */
		core->stats.ip_in_unknown_protos++;
		if (!bcast)
			icmp_send_error(core, now, b, ICMP_DEST_UNREACH, ICMP_UNREACH_PROTOCOL, out);
		pool_free(&b);
		return;
	}
	ip_deliver_up(core, &b, h->proto, flags, off, out);
}

void ip_deliver_up(struct ip_core *core, struct buf **pkt, uint8_t proto, uint32_t flags,
		   const struct ip_offload *off, struct ip_out *out)
{
	struct buf *b = *pkt;
	const struct ipv4_hdr *h = (const struct ipv4_hdr *)buf_data(b);
	struct desc *d;

	*pkt = NULL;
	if (out->n_up >= IP_OUT_MAX) {
		core->stats.ip_out_discards++;
		pool_free(&b);
		return;
	}
	d = &out->up_desc[out->n_up];
	memset(d, 0, sizeof(*d));
	d->buf = buf_index(b);
	d->gen = buf_gen(b);
	d->len = buf_chain_len(b);
	d->l3_off = 0;
	d->l4_off = (uint16_t)ipv4_hdr_len(h);
	d->flags = flags;
	d->saddr = h->saddr;
	d->daddr = h->daddr;
	d->proto = proto;
	d->ttl = h->ttl;
	d->tos = h->tos;
	if (off) {
		if (off->verified || off->partial)
			d->flags |= DESC_F_CSUM_VERIFIED;
		if (off->partial) {
			d->flags |= DESC_F_CSUM_NEEDED;
			d->csum_start = off->csum_start;
			d->csum_offset = off->csum_offset;
		}
		d->gso_type = off->gso_type;
		d->gso_size = off->gso_size;
	}
	out->up[out->n_up++] = b;
	core->stats.ip_in_delivers++;
}

/* The offload state *off agrees with the validated datagram h (ihl header bytes, tot in all;
 * bcast: addressed to a broadcast): see the file comment. A verified checksum on a fragment is
 * forgotten rather than refused. */
static bool ipv4_offload_ok(const struct ipv4_hdr *h, unsigned ihl, unsigned tot, bool bcast,
			    struct ip_offload *off)
{
	bool frag = (ntohs(h->frag_off) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK)) != 0;

	if (off->gso_type != DESC_GSO_NONE &&
	    (off->gso_type != DESC_GSO_TCPV4 || h->proto != IPV4_PROTO_TCP || frag || bcast ||
	     off->gso_size == 0 || (!off->partial && !off->verified)))
		return false;
	if (off->partial) {
		unsigned at = h->proto == IPV4_PROTO_TCP   ? 16u /* offsetof(tcphdr, check) */
			      : h->proto == IPV4_PROTO_UDP ? 6u
							   : 0u;

		if (frag || at == 0 || off->csum_start != ihl || off->csum_offset != at ||
		    ihl + at + 2 > tot)
			return false;
	}
	if (frag)
		off->verified = false;
	return true;
}

void ipv4_input(struct ip_core *core, uint64_t now, struct buf **pkt, bool link_bcast,
		const struct ip_offload *rx, struct ip_out *out)
{
	struct buf *b = *pkt;
	struct ip_offload off = rx ? *rx : (struct ip_offload){0};
	const struct ipv4_hdr *h;
	unsigned ihl, tot;
	bool bcast;

	*pkt = NULL;
	core->stats.ip_in_receives++;
	if (buf_len(b) < IPV4_HDR_MIN) {
		core->stats.ip_in_drop_short++;
		goto drop;
	}
	h = (const struct ipv4_hdr *)buf_data(b);
	if (ipv4_version(h) != 4) {
		core->stats.ip_in_drop_version++;
		goto drop;
	}
	ihl = ipv4_hdr_len(h);
	if (ihl < IPV4_HDR_MIN || ihl > buf_len(b)) {
		core->stats.ip_in_drop_ihl++;
		goto drop;
	}
	tot = ntohs(h->tot_len);
	if (tot > buf_chain_len(b) || tot < ihl) {
		core->stats.ip_in_drop_total_len++;
		goto drop;
	}
	if (csum_compute(h, ihl) != 0) {
		core->stats.ip_in_drop_csum++;
		goto drop;
	}
	/* A short datagram arrives padded to the 60-byte Ethernet minimum: from here on the
	 * data is exactly the datagram (reassembly and the transports rely on it). */
	if (tot < buf_chain_len(b))
		buf_trim(b, tot);
	if (!ipv4_options_ok((const uint8_t *)h, ihl)) {
		core->stats.ip_in_drop_options++;
		goto drop;
	}
	/* RFC 1122 §3.2.1.3: a source that names no single host is discarded; so is our own
	 * address, which only a spoofer (or a loop) can send to us from the wire. */
	if (route_is_bad_src(core, h->saddr)) {
		core->stats.ip_in_drop_src++;
		goto drop;
	}
	bcast = route_is_bcast(core, h->daddr);
	if (!bcast && h->daddr != core->cfg.addr) {
		core->stats.ip_in_addr_errors++;
		goto drop;
	}
	/* RFC 1122 §3.3.6: a datagram that came as a link-layer broadcast but names a unicast
	 * destination SHOULD be discarded silently (it would let one frame elicit unicast replies
	 * from every host on the link). */
	if (link_bcast && !bcast) {
		core->stats.ip_in_addr_errors++;
		goto drop;
	}
	if (!ipv4_offload_ok(h, ihl, tot, bcast, &off)) {
		core->stats.ip_in_drop_offload++;
		goto drop;
	}
	if (off.gso_type != DESC_GSO_NONE)
		core->stats.ip_in_gso++;
	if (ntohs(h->frag_off) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK)) {
		struct buf *whole = ip_reass_input(&core->reass, now, &b, &core->stats);

		if (!whole)
			return; /* held, or dropped and counted by the reassembly */
		b = whole;
	}
	ipv4_local_deliver(core, now, &b, bcast ? DESC_F_BCAST : 0, &off, out);
	return;
drop:
	pool_free(&b);
}
