/* wire/ipv4: IPv4 header layout (RFC 791 §3.1) and field accessors. No logic. */
#ifndef USTACK_WIRE_IPV4_H
#define USTACK_WIRE_IPV4_H

#include <stdint.h>

#define IPV4_HDR_MIN 20
#define IPV4_HDR_MAX 60
#define IPV4_MAX_LEN 65535
#define IPV4_FLAG_DF 0x4000
#define IPV4_FLAG_MF 0x2000
#define IPV4_FRAG_OFF_MASK 0x1fff /* in 8-byte units */

#define IPV4_OPT_EOL 0
#define IPV4_OPT_NOP 1

#define IPV4_PROTO_ICMP 1
#define IPV4_PROTO_TCP 6
#define IPV4_PROTO_UDP 17

struct ipv4_hdr {
	uint8_t ver_ihl;   /* version << 4 | IHL (32-bit words) */
	uint8_t tos;
	uint16_t tot_len;  /* network byte order, like every multi-byte field */
	uint16_t id;
	uint16_t frag_off; /* flags << 13 | offset */
	uint8_t ttl;
	uint8_t proto;
	uint16_t csum;
	uint32_t saddr;
	uint32_t daddr;
} __attribute__((packed));
_Static_assert(sizeof(struct ipv4_hdr) == IPV4_HDR_MIN, "IPv4 header without options is 20 bytes");

static inline unsigned ipv4_version(const struct ipv4_hdr *h) { return h->ver_ihl >> 4; }
static inline unsigned ipv4_hdr_len(const struct ipv4_hdr *h) { return (h->ver_ihl & 0x0fu) * 4u; }

#endif
