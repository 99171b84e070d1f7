/* nic_vnet: virtio-net header ↔ descriptor offload fields (see nic_vnet.h for the rules).
 *
 * Receive checks run from the cheapest to the ones that need the others to hold: flags, GSO
 * type and size, then the checksum offsets against the frame. The checks are those Linux's
 * virtio_net_hdr_to_skb makes of a header it is given, plus what a GRO frame must have for ipd
 * to hand it up whole (a checksum state: partial or verified, since a merged frame's own
 * checksum field is the first segment's and cannot be checked as is).
 */
#include "nic_vnet.h"

#include <errno.h>
#include <string.h>

#include "pool.h"

#define NIC_VNET_FLAGS_KNOWN (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)

int nic_vnet_rx(const struct virtio_net_hdr *vh, uint32_t frame_len, unsigned offloads,
		struct desc *d, struct nic_stats *st)
{
	bool partial = vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
	bool valid = vh->flags & VIRTIO_NET_HDR_F_DATA_VALID;

	/* The virtio spec (5.1.6.4.1) never sets both; an unknown bit is a header we cannot
	 * read, and a partial checksum we did not ask for means the device is not in the state
	 * we set (a stale frame from before a restart with offload switched off, say). */
	if ((vh->flags & ~NIC_VNET_FLAGS_KNOWN) || (partial && valid) ||
	    (partial && !(offloads & (NIC_OFFLOAD_CSUM | NIC_OFFLOAD_TSO4)))) {
		st->rx_drop_vnet_hdr++;
		return -EPROTO;
	}
	if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		if (!(offloads & NIC_OFFLOAD_TSO4)) {
			st->rx_drop_vnet_hdr++;
			return -EPROTO;
		}
		/* TCPV4 only: TCPV6 is not our protocol; UDP (UFO) and UDP_L4 (USO) need
		 * TUN_F_UFO / TUN_F_USO4, which we never ask for, so the kernel segments UDP GSO
		 * sends in software before they reach us; the ECN bit needs TUN_F_TSO_ECN. */
		if (vh->gso_type != VIRTIO_NET_HDR_GSO_TCPV4 || vh->gso_size == 0 ||
		    (!partial && !valid) || frame_len > NIC_GSO_FRAME_MAX) {
			st->rx_drop_vnet_gso++;
			return -EPROTO;
		}
	} else if (frame_len > POOL_DATA_ROOM) {
		st->rx_drop_oversize++;
		return -EPROTO;
	}
	if (partial) {
		uint32_t start = vh->csum_start, off = vh->csum_offset;

		/* Linux's skb_partial_csum_set: the field must lie inside the frame; ipd checks
		 * that csum_start is where the IPv4 header ends and the offset fits its protocol. */
		if (start < NIC_CSUM_START_MIN || start + off + 2 > frame_len ||
		    (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE && off != NIC_TCP_CSUM_OFFSET)) {
			st->rx_drop_vnet_csum++;
			return -EPROTO;
		}
	}

	d->flags = 0;
	d->csum_start = 0;
	d->csum_offset = 0;
	d->gso_type = DESC_GSO_NONE;
	d->gso_size = 0;
	if (valid)
		d->flags |= DESC_F_CSUM_VERIFIED;
	if (partial) {
		d->flags |= DESC_F_CSUM_NEEDED;
		d->csum_start = vh->csum_start;
		d->csum_offset = vh->csum_offset;
	}
	if (vh->gso_type == VIRTIO_NET_HDR_GSO_TCPV4) {
		d->gso_type = DESC_GSO_TCPV4;
		d->gso_size = vh->gso_size;
	}
	return 0;
}

int nic_vnet_tx(const struct desc *d, const uint8_t *head, uint32_t head_len, uint32_t frame_len,
		unsigned offloads, unsigned mtu, struct virtio_net_hdr *vh, struct nic_stats *st)
{
	bool partial = d->flags & DESC_F_CSUM_NEEDED;
	struct virtio_net_hdr h = {.gso_type = VIRTIO_NET_HDR_GSO_NONE};

	if (d->gso_type != DESC_GSO_NONE) {
		uint32_t start = d->csum_start, thlen;

		/* A super-segment is cut by the kernel, which needs the TCP checksum partial
		 * (it completes one per segment) and gso_size > 0 (virtio_net_hdr_to_skb). */
		if (!(offloads & NIC_OFFLOAD_TSO4) || d->gso_type != DESC_GSO_TCPV4 || !partial ||
		    d->gso_size == 0 || d->csum_offset != NIC_TCP_CSUM_OFFSET ||
		    start < NIC_CSUM_START_MIN || frame_len > NIC_GSO_FRAME_MAX ||
		    start + NIC_TCP_HDR_MIN > head_len) {
			st->tx_drop_offload++;
			return -EINVAL;
		}
		thlen = (uint32_t)(head[start + 12] >> 4) * 4; /* data offset */
		if (thlen < NIC_TCP_HDR_MIN || start + thlen > frame_len) {
			st->tx_drop_offload++;
			return -EINVAL;
		}
		h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		h.gso_size = d->gso_size;
		/* The headers, as the kernel's own virtio_net_hdr_from_skb reports them: tun copies
		 * that much into the skb's linear part, where the segmentation reads them. */
		h.hdr_len = (uint16_t)(start + thlen);
	} else if (frame_len > mtu + NIC_ETH_HDR_LEN) {
		st->tx_drop_oversize++;
		return -EMSGSIZE;
	}
	if (partial) {
		if (!(offloads & (NIC_OFFLOAD_CSUM | NIC_OFFLOAD_TSO4)) ||
		    d->csum_start < NIC_ETH_HDR_LEN ||
		    (uint32_t)d->csum_start + d->csum_offset + 2 > frame_len) {
			st->tx_drop_offload++;
			return -EINVAL;
		}
		h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h.csum_start = d->csum_start;
		h.csum_offset = d->csum_offset;
	}
	*vh = h;
	return 0;
}
