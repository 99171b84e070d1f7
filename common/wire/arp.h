/* wire/arp: ARP packet layout for IPv4 over Ethernet (RFC 826). No logic. */
#ifndef USTACK_WIRE_ARP_H
#define USTACK_WIRE_ARP_H

#include <stdint.h>

#define ARP_HTYPE_ETHER 1
#define ARP_PTYPE_IPV4 0x0800
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2
#define ARP_HDR_LEN 8      /* htype, ptype, hlen, plen, op */
#define ARP_ETH_IPV4_LEN 28

struct arp_eth_ipv4 {
	uint16_t htype; /* network byte order */
	uint16_t ptype;
	uint8_t hlen;
	uint8_t plen;
	uint16_t op;
	uint8_t sha[6];
	uint32_t spa; /* unaligned in the frame: packed */
	uint8_t tha[6];
	uint32_t tpa;
} __attribute__((packed));
_Static_assert(sizeof(struct arp_eth_ipv4) == ARP_ETH_IPV4_LEN, "ARP for IPv4/Ethernet is 28 bytes");

#endif
