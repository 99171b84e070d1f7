/* wire/tcp: TCP header layout (RFC 9293 §3.1) and option kinds. No logic. */
#ifndef USTACK_WIRE_TCP_H
#define USTACK_WIRE_TCP_H

#include <stdint.h>

#define TCP_HDR_MIN 20
#define TCP_HDR_MAX 60
#define TCP_OPT_SPACE 40 /* TCP_HDR_MAX - TCP_HDR_MIN */

/* Control bits, as in the header's flags byte. */
#define TCP_FIN 0x01u
#define TCP_SYN 0x02u
#define TCP_RST 0x04u
#define TCP_PSH 0x08u
#define TCP_ACK 0x10u
#define TCP_URG 0x20u
#define TCP_ECE 0x40u
#define TCP_CWR 0x80u

/* Option kinds (IANA "TCP Option Kind Numbers"). */
#define TCP_OPT_EOL 0
#define TCP_OPT_NOP 1
#define TCP_OPT_MSS 2            /* RFC 9293 §3.2, length 4 */
#define TCP_OPT_WSCALE 3         /* RFC 7323 §2, length 3 */
#define TCP_OPT_SACK_PERM 4      /* RFC 2018 §2, length 2 */
#define TCP_OPT_SACK 5           /* RFC 2018 §3, length 2 + 8n */
#define TCP_OPT_TIMESTAMP 8      /* RFC 7323 §3, length 10 */
#define TCP_OPTLEN_MSS 4
#define TCP_OPTLEN_WSCALE 3
#define TCP_OPTLEN_SACK_PERM 2
#define TCP_OPTLEN_TIMESTAMP 10
#define TCP_OPTLEN_SACK_BASE 2
#define TCP_OPTLEN_SACK_BLOCK 8

#define TCP_WSCALE_MAX 14        /* RFC 7323 §2.3: larger values are used as 14 */

struct tcp_hdr {
	uint16_t sport;   /* network byte order, like every multi-byte field */
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t off_rsv;  /* data offset (32-bit words) << 4 | reserved (and the old NS bit) */
	uint8_t flags;    /* TCP_FIN ... TCP_CWR */
	uint16_t wnd;
	uint16_t csum;    /* over pseudo-header + header + payload */
	uint16_t urp;
} __attribute__((packed));
_Static_assert(sizeof(struct tcp_hdr) == TCP_HDR_MIN, "TCP header without options is 20 bytes");

static inline unsigned tcp_hdr_len(const struct tcp_hdr *h) { return (h->off_rsv >> 4) * 4u; }

#endif
