/* wire/udp: UDP header layout (RFC 768). No logic. */
#ifndef USTACK_WIRE_UDP_H
#define USTACK_WIRE_UDP_H

#include <stddef.h>
#include <stdint.h>

#define UDP_HDR_LEN 8
/* Largest payload one IPv4 datagram carries: 65,535 - 20 (IPv4 header) - 8. */
#define UDP_MAX_PAYLOAD 65507u

struct udp_hdr {
	uint16_t sport; /* network byte order, like every field */
	uint16_t dport;
	uint16_t len;   /* header + payload, >= 8 */
	uint16_t csum;  /* over pseudo-header + header + payload; 0 = none sent (RFC 768) */
} __attribute__((packed));
_Static_assert(sizeof(struct udp_hdr) == UDP_HDR_LEN, "UDP header is 8 bytes");
#define UDP_CSUM_OFFSET 6u /* the checksum field, from the UDP header (a partial one's csum_offset) */
_Static_assert(offsetof(struct udp_hdr, csum) == UDP_CSUM_OFFSET, "UDP checksum at offset 6");

#endif
