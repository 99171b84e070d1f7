/* wire/icmp: ICMP header layout (RFC 792). No logic. */
#ifndef USTACK_WIRE_ICMP_H
#define USTACK_WIRE_ICMP_H

#include <stdint.h>

#define ICMP_HDR_LEN 8
#define ICMP_ECHO_REPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO_REQUEST 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAM_PROBLEM 12

/* ICMP_DEST_UNREACH codes */
#define ICMP_UNREACH_NET 0
#define ICMP_UNREACH_HOST 1
#define ICMP_UNREACH_PROTOCOL 2
#define ICMP_UNREACH_PORT 3
#define ICMP_UNREACH_NEEDFRAG 4

/* ICMP_TIME_EXCEEDED codes */
#define ICMP_EXC_TTL 0
#define ICMP_EXC_FRAGTIME 1

struct icmp_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t csum;
	union {
		struct {
			uint16_t id;
			uint16_t seq;
		} echo;
		struct {
			uint16_t unused;
			uint16_t mtu; /* next-hop MTU, RFC 1191 */
		} frag;
		uint32_t unused;
	} un;
} __attribute__((packed));
_Static_assert(sizeof(struct icmp_hdr) == ICMP_HDR_LEN, "ICMP header is 8 bytes");

#endif
