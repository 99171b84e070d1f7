/* wire/eth: Ethernet II header layout (IEEE 802.3 framing as carried by a TAP). No logic. */
#ifndef USTACK_WIRE_ETH_H
#define USTACK_WIRE_ETH_H

#include <stdint.h>

#define ETH_ADDR_LEN 6
#define ETH_HDR_LEN 14
#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_ARP 0x0806
#define ETH_MIN_FRAME 60 /* without FCS: shorter frames are padded by the sender */

struct eth_hdr {
	uint8_t dst[ETH_ADDR_LEN];
	uint8_t src[ETH_ADDR_LEN];
	uint16_t type; /* network byte order */
} __attribute__((packed));
_Static_assert(sizeof(struct eth_hdr) == ETH_HDR_LEN, "Ethernet header is 14 bytes");

static const uint8_t eth_broadcast_addr[ETH_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static inline int eth_addr_is_multicast(const uint8_t *a) { return a[0] & 1; }
static inline int eth_addr_is_zero(const uint8_t *a)
{
	return (a[0] | a[1] | a[2] | a[3] | a[4] | a[5]) == 0;
}

#endif
