/* helper_ip: fixtures, frame builders and expectations for the IPv4 core's unit tests.
 *
 * A test owns a struct tip_fx: a private pool (acting as ipd), a core made from tip_config(),
 * the struct ip_out every call fills, and a fake clock (fx.now, advanced by the test). Setup and
 * teardown both assert the pool idle (STYLE rule 16); setup also checks and discards the
 * gratuitous ARP the core sends when it is created.
 *
 * Frames come from designated-initializer specs (struct tip_arp, struct tip_ip) whose zero
 * fields take the defaults of a well-formed frame from the peer to us, so a test writes only
 * the fields it breaks. Checksums here are computed independently of checksum.c.
 *
 * Symbols carry the tip_ prefix: every helper_*.c is linked into every unit test.
 */
#ifndef USTACK_HELPER_IP_H
#define USTACK_HELPER_IP_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ip_core.h"
#include "pool.h"
#include "wire/ipv4.h"

#define TIP_MS 1000000ull
#define TIP_SEC 1000000000ull
#define TIP_POOL_COUNT 1024u
#define TIP_FRAME_MAX 2048u

/* Addresses, network order, as constant expressions (usable in static tables). Our link is
 * 10.0.0.0/24. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TIP_IP(a, b, c, d) \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#else
#define TIP_IP(a, b, c, d) \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#endif
#define TIP_OUR_IP TIP_IP(10, 0, 0, 2)
#define TIP_PEER_IP TIP_IP(10, 0, 0, 5)
#define TIP_GW_IP TIP_IP(10, 0, 0, 1)
#define TIP_OTHER_IP TIP_IP(10, 0, 0, 9)     /* another neighbour on the link */
#define TIP_REMOTE_IP TIP_IP(192, 0, 2, 7)   /* beyond the gateway */
#define TIP_BCAST_IP TIP_IP(10, 0, 0, 255)

extern const uint8_t tip_our_mac[6];
extern const uint8_t tip_peer_mac[6];
extern const uint8_t tip_gw_mac[6];
extern const uint8_t tip_other_mac[6];
extern const uint8_t tip_bcast_mac[6];

struct tip_fx {
	struct pool *pool;
	struct ip_core *core;
	struct ip_out out;
	uint64_t now; /* the fake clock, ns */
};

/* The test link's config: ip_config_defaults plus our MAC, 10.0.0.2/24, gateway 10.0.0.1. */
void tip_config(struct ip_config *cfg);

/* Pool of TIP_POOL_COUNT buffers, core from cfg (tip_config() if NULL), clock at 1000 s;
 * checks that exactly the gratuitous ARP was sent, discards it, asserts the pool idle. */
void tip_fx_setup(struct tip_fx *fx, const struct ip_config *cfg);
/* Frees out, destroys the core, asserts the pool idle and closes it. */
void tip_fx_teardown(struct tip_fx *fx);

/* Independent RFC 1071 checksum (folded, inverted, host order). */
uint16_t tip_csum(const void *data, size_t len);

/* ARP frame spec; zero fields take defaults: Ethernet broadcast from the peer, htype 1,
 * ptype 0x0800, hlen 6, plen 4, op request, sender the peer (MAC and IP), target us. */
struct tip_arp {
	uint8_t eth_dst[6], eth_src[6];
	uint16_t htype, ptype; /* host order */
	uint8_t hlen, plen;
	uint16_t op;
	uint8_t sha[6];
	uint32_t spa;
	uint8_t tha[6];
	uint32_t tpa;
	bool zero_fields;  /* take htype..plen, op literally (even when 0) */
	size_t frame_len;  /* cut (or zero-pad) the frame to this many bytes; 0: 42 */
};
size_t tip_arp_frame(uint8_t *f, const struct tip_arp *spec);

/* IPv4 frame spec; zero fields take defaults: Ethernet from the peer to our MAC, version 4,
 * IHL from opt_len, total length computed, TTL 64, UDP, correct checksum, peer → us. */
struct tip_ip {
	uint8_t eth_dst[6], eth_src[6];
	uint8_t version;        /* 0: 4 */
	uint8_t ihl;            /* 0: (20 + opt_len) / 4 */
	uint8_t tos;
	uint16_t tot_len;       /* 0: header + payload (set tot_len_zero for a literal 0) */
	bool tot_len_zero;
	uint16_t id;
	uint16_t frag_off;      /* host order, flags included */
	uint8_t ttl;            /* 0: 64 (set ttl_zero for a literal 0) */
	bool ttl_zero;
	uint8_t proto;          /* 0: UDP */
	bool bad_csum;          /* store a wrong header checksum */
	uint32_t saddr, daddr;  /* 0: peer, us (set saddr_zero for a literal 0.0.0.0) */
	bool saddr_zero;
	const uint8_t *opts;    /* raw option bytes copied after the fixed header */
	size_t opt_len;
	const uint8_t *payload;
	size_t payload_len;
	size_t frame_len;       /* cut or zero-pad the whole frame to this; 0: natural */
};
size_t tip_ip_frame(uint8_t *f, size_t cap, const struct tip_ip *spec);

/* An ICMP message (header + data) with a correct checksum into m; returns its length. */
size_t tip_icmp_msg(uint8_t *m, uint8_t type, uint8_t code, uint16_t id, uint16_t seq,
		    const void *data, size_t len);

/* Hand frame bytes to ip_input at fx->now. */
void tip_input(struct tip_fx *fx, const uint8_t *frame, size_t len);

/* len bytes (any length up to 64 KiB) as a chain laid out as nicd receives a super-frame: the
 * head buffer's data room, then continuation buffers of TIP_CHAIN_PIECE bytes. */
#define TIP_CHAIN_PIECE 2240u
struct buf *tip_chain(struct pool *pool, const uint8_t *data, size_t len);

/* Hand frame bytes (chained past one buffer, as tip_chain) to ip_input_desc with nicd's
 * descriptor rx (NULL: none). */
void tip_input_desc(struct tip_fx *fx, const uint8_t *frame, size_t len, const struct desc *rx);

/* Free everything in out and zero its counts. */
void tip_out_reset(struct ip_out *out);
/* Nothing for the wire and nothing for a transport. */
void tip_expect_no_tx(const struct ip_out *out);
/* Exactly n frames for the wire (and nothing up). */
void tip_expect_wire_frames(const struct ip_out *out, unsigned n);
/* Copy wire frame i (a whole chain) into dst; returns its length. */
size_t tip_wire_copy(const struct ip_out *out, unsigned i, uint8_t *dst, size_t cap);

/* Check an ARP frame we sent: Ethernet from our MAC to eth_dst, type ARP, the fixed fields,
 * op, and the four addresses. */
void tip_expect_arp(const uint8_t *f, size_t len, const uint8_t eth_dst[6], uint16_t op,
		    const uint8_t sha[6], uint32_t spa, const uint8_t tha[6], uint32_t tpa);

/* Check an IPv4 frame we sent: Ethernet from our MAC to eth_dst, version 4, IHL 5, total
 * length = frame - 14, valid header checksum, proto and addresses. Returns the header. */
const struct ipv4_hdr *tip_expect_ipv4(const uint8_t *f, size_t len, const uint8_t eth_dst[6],
				       uint8_t proto, uint32_t saddr, uint32_t daddr);

/* ip_output of a len-byte payload (bytes marker, marker+1, ...; chained past one buffer) to
 * daddr as `proto` (0: UDP) with desc flags; returns what ip_output returns. */
int tip_output(struct tip_fx *fx, uint32_t daddr, uint8_t proto, uint32_t flags, size_t len,
	       uint8_t marker);

/* The ARP entry for ip, from ip_arp_dump: true and *e if there is one. */
bool tip_arp_find(struct tip_fx *fx, uint32_t ip, struct ip_arp_entry *e);

/* Make the peer (or any address) reachable by feeding the core an ARP reply from it. */
void tip_learn(struct tip_fx *fx, uint32_t ip, const uint8_t mac[6]);

#endif
