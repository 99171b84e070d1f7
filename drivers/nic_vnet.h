/* nic_vnet: the virtio-net header (the 10-byte legacy struct virtio_net_hdr that a TAP opened
 * with IFF_VNET_HDR puts before every frame it reads and expects before every frame written)
 * translated to and from a descriptor's offload fields. Pure: no I/O, so every malformed header
 * is unit-tested (tests/unit/test_nic_vnet.c).
 *
 * The header is what makes segmentation and checksum offload work through a TAP (PERF-FACTS:
 * TSO ≈ 11x TCP throughput user→kernel, GRO ≈ 3.4x kernel→user):
 *
 *   flags        NEEDS_CSUM: the L4 checksum is partial (Linux's CHECKSUM_PARTIAL), to be
 *                completed over [csum_start, end) into csum_start + csum_offset; the field
 *                holds the pseudo-header sum. DATA_VALID: the kernel verified the checksum.
 *   gso_type     NONE, or TCPV4 with gso_size = MSS: a TSO super-segment we write (the kernel
 *                cuts it) or a GRO super-frame we read (the kernel merged it, or its TCP sent it
 *                whole because the device "supports" TSO). An ECN bit (0x80) would say the
 *                segments carry CWR; we never ask for TUN_F_TSO_ECN, so it never comes.
 *   hdr_len      length of the headers, a hint for the kernel's linear copy on write; ignored
 *                on read.
 *   csum_start   counts from the frame's first byte, the Ethernet header (exactly the
 *                descriptor's convention for nicd: its data starts there).
 *
 * Byte order: the legacy header is in the host's order (we never set TUNSETVNETLE/BE).
 *
 * Offload bits (NIC_OFFLOAD_*) say what a device may carry: on receive what the kernel granted
 * (TUNSETOFFLOAD), on transmit what the configuration allows. A header that claims more than was
 * granted, or that contradicts itself or the frame, is counted under a named drop counter and
 * the frame dropped: the kernel on the other side is trusted no more than any wire.
 */
#ifndef USTACK_NIC_VNET_H
#define USTACK_NIC_VNET_H

#include <linux/virtio_net.h>
#include <stdint.h>

#include "desc.h"
#include "nic_backend.h"

#define NIC_VNET_HDR_LEN 10u
#define NIC_ETH_HDR_LEN 14u
#define NIC_GSO_FRAME_MAX (NIC_ETH_HDR_LEN + 65535u) /* an IPv4 datagram at most */
/* The transport header of a partial checksum starts past the shortest IPv4 header. */
#define NIC_CSUM_START_MIN (NIC_ETH_HDR_LEN + 20u)
#define NIC_TCP_CSUM_OFFSET 16u /* offsetof(struct tcphdr, check) */
#define NIC_TCP_HDR_MIN 20u

_Static_assert(sizeof(struct virtio_net_hdr) == NIC_VNET_HDR_LEN,
	       "legacy virtio-net header is 10 bytes");

/* Parse the header of a received frame of frame_len bytes (header not included) into d's
 * flags, csum_start/csum_offset and gso_type/gso_size (other fields untouched). offloads is what
 * the device was granted (NIC_OFFLOAD_*; 0: plain frames only, and then DATA_VALID is the one
 * thing a header may say). A frame without GSO must fit one buffer (POOL_DATA_ROOM). 0, or
 * -EPROTO after counting why in st (rx_drop_vnet_hdr: unknown or contradictory flags, or an
 * offload that was not granted; rx_drop_vnet_gso: unknown type, ECN, gso_size 0, no checksum
 * state, too long; rx_drop_vnet_csum: csum_start/csum_offset outside the frame or not where a
 * TCP checksum is; rx_drop_oversize: a plain frame longer than a buffer). */
int nic_vnet_rx(const struct virtio_net_hdr *vh, uint32_t frame_len, unsigned offloads,
		struct desc *d, struct nic_stats *st);

/* Build the header for transmitting the frame d describes (frame_len bytes; its first head_len
 * bytes are contiguous at head, for reading a TCP header's length). offloads is what this
 * device may write (NIC_OFFLOAD_*), mtu the IP MTU a plain frame must fit. 0, or after counting
 * in st: -EMSGSIZE (tx_drop_oversize: a plain frame above mtu + 14), -EINVAL (tx_drop_offload:
 * an offload not allowed, an unknown GSO type, a super-segment without a partial TCP checksum
 * or with gso_size 0, checksum offsets outside the frame, a TCP header that does not fit). */
int nic_vnet_tx(const struct desc *d, const uint8_t *head, uint32_t head_len, uint32_t frame_len,
		unsigned offloads, unsigned mtu, struct virtio_net_hdr *vh, struct nic_stats *st);

#endif
