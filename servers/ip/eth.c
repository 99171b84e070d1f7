/* eth: the Ethernet II layer of ipd: demux of frames from the wire (ip_input) and the frame
 * output helper every sender ends in (eth_output).
 *
 * Accepted: frames to our address or to the broadcast address; IPv4 and ARP. We join no
 * multicast group, so group-addressed frames are "not for us" (a TAP or a NIC in promiscuous
 * mode hands them up anyway). 802.1Q tags are not parsed: a tagged frame is an unknown
 * ethertype.
 *
 * Output does not pad frames to the 60-byte Ethernet minimum: the NIC (or the TAP's kernel side)
 * pads, as it does for Linux's own short frames.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "ip_priv.h"
#include "wire/eth.h"

void ip_input(struct ip_core *core, uint64_t now, struct buf **frame, struct ip_out *out)
{
	ip_input_desc(core, now, frame, NULL, out);
}

void ip_input_desc(struct ip_core *core, uint64_t now, struct buf **frame, const struct desc *rx,
		   struct ip_out *out)
{
	struct buf *b = *frame;
	const struct eth_hdr *eh;
	bool bcast;
	uint16_t type;

	*frame = NULL;
	if (!b)
		return;
	core->stats.eth_rx_frames++;
	if (buf_len(b) < ETH_HDR_LEN) {
		core->stats.eth_drop_short++;
		pool_free(&b);
		return;
	}
	eh = (const struct eth_hdr *)buf_data(b);
	bcast = memcmp(eh->dst, eth_broadcast_addr, ETH_ADDR_LEN) == 0;
	if (!bcast && memcmp(eh->dst, core->cfg.mac, ETH_ADDR_LEN) != 0) {
		core->stats.eth_drop_not_for_us++;
		pool_free(&b);
		return;
	}
	type = ntohs(eh->type);
	if (type != ETH_TYPE_IPV4 && type != ETH_TYPE_ARP) {
		core->stats.eth_drop_ethertype++;
		pool_free(&b);
		return;
	}
	buf_pull(b, ETH_HDR_LEN);
	if (type == ETH_TYPE_IPV4) {
		struct ip_offload off = {0};

		/* From the frame's offsets to the datagram's. A partial checksum starting inside
		 * the Ethernet header becomes csum_start 0, which ipv4_input refuses (no IPv4
		 * header is that short). */
		if (rx) {
			off.verified = (rx->flags & DESC_F_CSUM_VERIFIED) != 0;
			off.partial = (rx->flags & DESC_F_CSUM_NEEDED) != 0;
			if (off.partial && rx->csum_start >= ETH_HDR_LEN) {
				off.csum_start = (uint16_t)(rx->csum_start - ETH_HDR_LEN);
				off.csum_offset = rx->csum_offset;
			}
			off.gso_type = rx->gso_type;
			off.gso_size = rx->gso_size;
		}
		ipv4_input(core, now, &b, bcast, &off, out);
	} else {
		/* ARP carries no checksum: whatever offload state came with it means nothing. */
		arp_input(core, now, &b, out);
	}
}

int eth_output(struct ip_core *core, struct buf **pkt, const uint8_t dst[6], uint16_t type,
	       const struct ip_offload *off, struct ip_out *out)
{
	struct buf *b = *pkt;
	struct eth_hdr *eh;

	*pkt = NULL;
	if (out->n_wire >= IP_OUT_MAX) {
		core->stats.ip_out_discards++;
		pool_free(&b);
		return -ENOBUFS;
	}
	eh = (struct eth_hdr *)ip_push(core, &b, ETH_HDR_LEN);
	if (!eh) {
		core->stats.ip_out_discards++;
		pool_free(&b);
		return -ENOBUFS;
	}
	memcpy(eh->dst, dst, ETH_ADDR_LEN);
	memcpy(eh->src, core->cfg.mac, ETH_ADDR_LEN);
	eh->type = htons(type);
	struct desc *d = &out->wire_desc[out->n_wire];
	*d = (struct desc){.l3_off = ETH_HDR_LEN};
	if (off && off->partial) {
		d->flags = DESC_F_CSUM_NEEDED;
		d->csum_start = (uint16_t)(off->csum_start + ETH_HDR_LEN);
		d->csum_offset = off->csum_offset;
		d->l4_off = d->csum_start;
	}
	if (off && off->gso_type != DESC_GSO_NONE) {
		d->gso_type = off->gso_type;
		d->gso_size = off->gso_size;
	}
	out->wire[out->n_wire++] = b;
	core->stats.eth_tx_frames++;
	return 0;
}
