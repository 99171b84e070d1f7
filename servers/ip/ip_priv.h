/* ip_priv: the inside of the IPv4 core: struct ip_core and the prototypes its files share.
 * Tests may include it to build state directly and look at tables (STYLE rule 1, 17).
 *
 * Files and what each owns (one concern each):
 *   ip_core.c      create/destroy, config, transport table, stats table, dumps, timers
 *   eth.c          ip_input (Ethernet demux) and eth_output (push the header, queue to out)
 *   arp.c          the RFC 826 cache with its per-entry packet queues
 *   route.c        the routing table from cfg (the table and its lookup are common/route.c,
 *                  shared with udpd and libsock) and the judgements of wire addresses
 *   ipv4_input.c   validation and local delivery (RFC 791, RFC 1122 §3.2.1)
 *   ipv4_output.c  ip_output, header building, the loopback interface, fragmentation and the
 *                  last hop
 *   icmp.c         echo and error messages (RFC 792, RFC 1122 §3.2.2)
 *   ip_frag.c, ip_reass.c   fragmentation and reassembly (ip_frag.h)
 *
 * Invariants:
 *   - every buffer the core holds between calls is in an ARP queue (counted in arp_held) or in
 *     the reassembly table (counted in reass.held); ip_core_destroy frees both;
 *   - a packet in an ARP queue is a complete IPv4 datagram (header built, header checksum set,
 *     not yet fragmented), data at its IPv4 header, with its offload state beside it (an L4
 *     checksum may still be partial, a TSO super-segment is never fragmented);
 *   - no file-scope mutable state anywhere: everything lives here (STYLE rule 11).
 */
#ifndef USTACK_IP_PRIV_H
#define USTACK_IP_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "ip_core.h"
#include "ip_frag.h"
#include "pool.h"
#include "route.h"

#define IP_NS_PER_MS 1000000ull
#define IP_NS_PER_S 1000000000ull

#define IP_ARP_TABLE_SIZE 128u /* entries; a host's neighbours on one link */
/* INCOMPLETE entries at once, a quarter of the table (arp.c: why, and what gives way). Anyone
 * on the link makes us resolve an address by sending one datagram from it that needs an
 * answer, so unresolved entries are bounded apart from the ones that work. */
#define IP_ARP_INCOMPLETE_MAX 32u
/* A resolved entry a datagram went through this recently is in use and never evicted (Linux's
 * forced neighbour GC spares entries updated in the last 5 s likewise). */
#define IP_ARP_IN_USE_MS 5000u
#define IP_ARP_QUEUE_CAP 64u   /* upper bound accepted for cfg.arp_queue_max */
/* Buffers all ARP queues together may hold. Each queued datagram can be up to 64 KiB (a
 * reassembled echo request's reply), so a per-entry packet bound alone would let anyone able
 * to make us answer many unresolved neighbours pin most of the pool; Linux bounds its
 * unresolved queues by bytes (unres_qlen_bytes) for the same reason. */
#define IP_ARP_HELD_MAX 1024u

#define IP_ARP_FREE 0 /* slot state besides IP_ARP_INCOMPLETE / REACHABLE / PROBE */

/* Offload state of a datagram on its way through ipd: Linux's skb->ip_summed with
 * csum_start/csum_offset, and skb_shinfo's gso_type/gso_size (desc.h). Offsets count from the
 * IPv4 header. All zero: a datagram whose checksums are complete (or unknown, on input). */
struct ip_offload {
	uint16_t gso_type;    /* DESC_GSO_NONE or DESC_GSO_TCPV4 */
	uint16_t gso_size;    /* payload bytes of each segment (the MSS) */
	uint16_t csum_start;  /* with partial: the L4 header */
	uint16_t csum_offset; /* with partial: of the checksum field, from csum_start */
	uint16_t hdr_len;     /* output super-segments: IPv4 + TCP header bytes */
	bool partial;         /* the L4 checksum field holds the pseudo-header sum only */
	bool verified;        /* input: the device checked the L4 checksum */
};

struct ip_arp_slot {
	uint32_t addr;      /* network order */
	uint8_t mac[6];     /* valid when REACHABLE or PROBE */
	uint8_t state;      /* IP_ARP_FREE / INCOMPLETE / REACHABLE / PROBE */
	uint8_t requests;   /* requests (INCOMPLETE) or probes (PROBE) sent */
	uint64_t deadline;  /* REACHABLE: expiry; INCOMPLETE, PROBE: next retry (or failure) */
	uint64_t born;      /* ip_core.arp_births when the entry was made: INCOMPLETE eviction
			     * order, oldest first (exact even when `now` is not) */
	uint64_t used;      /* last `now` a datagram was sent or queued through it; 0: never */
	unsigned qlen;      /* datagrams in q[0..qlen), oldest first; REACHABLE or PROBE with
			     * qlen > 0: left over when struct ip_out was full, sent by the next
			     * ip_timer */
	unsigned qbufs;     /* buffers they hold */
	struct buf *q[IP_ARP_QUEUE_CAP];
	struct ip_offload qoff[IP_ARP_QUEUE_CAP]; /* q[i]'s offload state */
};

struct ip_core {
	struct ip_config cfg;
	struct pool *pool;
	struct ip_stats stats;
	uint16_t next_id;      /* IPv4 identification counter */
	uint8_t served[32];    /* bitmap of protocols declared with ip_set_transport */
	struct route_table rt;  /* from cfg (common/route.h): the NIC's routes and lo's */
	struct ip_arp_slot arp[IP_ARP_TABLE_SIZE];
	unsigned arp_held;     /* buffers in all ARP queues */
	uint64_t arp_births;   /* entries made so far (struct ip_arp_slot.born) */
	uint64_t icmp_credit;  /* ICMP error token bucket, in ns of credit (see icmp.c) */
	uint64_t icmp_last;    /* when the credit was last brought up to date */
	struct ip_reass reass;
};

/* --- ip_core.c --- */

/* Prepend len header bytes to the chain *b: in place when the head buffer has the headroom,
 * else by linking a fresh buffer (with POOL_HEADROOM) in front of it. Borrows *b and may
 * replace it. Returns where the header goes, or NULL (nothing changed) when no buffer is free
 * or the chain is at BUF_CHAIN_MAX. */
uint8_t *ip_push(struct ip_core *core, struct buf **b, size_t len);

/* Make sure the first len bytes (len <= POOL_DATA_ROOM) of the chain *b sit in its head
 * buffer, moving them into a fresh head buffer if they do not. Borrows *b and may replace it.
 * 0; -EINVAL if the chain is shorter than len; -ENOMEM if no buffer was free (then *b is as it
 * was). */
int ip_pullup(struct ip_core *core, struct buf **b, uint32_t len);

/* --- eth.c --- */

/* Push an Ethernet header (dst, our address, type) onto the datagram *pkt and put the frame in
 * out->wire, its descriptor fields (l3_off, and from off, NULL for none: l4_off, the partial
 * checksum, the GSO fields, offsets now from the Ethernet header) in out->wire_desc. Consumes
 * *pkt. 0, or -ENOBUFS (counted) when there is no headroom and no buffer to prepend, or out is
 * full. */
int eth_output(struct ip_core *core, struct buf **pkt, const uint8_t dst[6], uint16_t type,
	       const struct ip_offload *off, struct ip_out *out);

/* --- arp.c --- */

/* An ARP packet, data at the ARP header (Ethernet header pulled). Consumes it. */
void arp_input(struct ip_core *core, uint64_t now, struct buf **pkt, struct ip_out *out);

/* Send the datagram *dgram (data at its IPv4 header, offload state off or NULL) to on-link
 * neighbour nexthop: at once if its address is known, else queued behind an ARP request.
 * Consumes *dgram. 0 (sent or queued), -ENOBUFS (queue or table full, or no buffer; counted). */
int arp_output(struct ip_core *core, uint64_t now, uint32_t nexthop, struct buf **dgram,
	       const struct ip_offload *off, struct ip_out *out);

/* The gratuitous ARP announcing our address (RFC 5227 §2.3 announcement form). */
int arp_announce(struct ip_core *core, uint64_t now, struct ip_out *out);

/* Retries, failures and expiry due at `now`. */
void arp_timer(struct ip_core *core, uint64_t now, struct ip_out *out);
uint64_t arp_next_deadline(const struct ip_core *core);

/* Free every queued packet and empty the table. */
void arp_flush(struct ip_core *core);

/* Find the slot of addr, or NULL. */
struct ip_arp_slot *arp_lookup(struct ip_core *core, uint32_t addr);

/* --- route.c --- */

/* Fill core->rt from cfg (common/route.h: the connected subnet, the default route through
 * cfg.gateway, our address and 127/8 through the loopback interface). 0 or -EINVAL. */
int route_init(struct ip_core *core);

/* addr is the gateway of some route: its ARP entry is pinned (arp.c). */
bool route_is_gateway(const struct ip_core *core, uint32_t addr);

/* 255.255.255.255 or our subnet's directed broadcast: what a datagram from the wire may be
 * addressed to besides our address (lo's 127.255.255.255 is not: 127/8 never comes from the
 * wire). */
bool route_is_bcast(const struct ip_core *core, uint32_t addr);
/* Not usable as the source of a datagram from the wire (RFC 1122 §3.2.1.3): 0.0.0.0,
 * broadcasts, multicast, 127.0.0.0/8, or our own address (only our loopback interface sends
 * from those, and its datagrams never pass ipv4_input). */
bool route_is_bad_src(const struct ip_core *core, uint32_t addr);

/* --- ipv4_input.c --- */

/* An IPv4 datagram, data at its header; link_bcast says the frame was sent to the Ethernet
 * broadcast address; rx is the offload state the device reported (NULL: none; csum_start from
 * the IPv4 header). Consumes it. */
void ipv4_input(struct ip_core *core, uint64_t now, struct buf **pkt, bool link_bcast,
		const struct ip_offload *rx, struct ip_out *out);

/* Local delivery of a whole datagram (data at its validated header) to ICMP or the transport
 * serving its protocol; flags are the desc flags it goes up with (DESC_F_BCAST,
 * DESC_F_CSUM_VERIFIED), off its offload state (NULL: none; checked against the datagram by
 * the caller). Consumes it. */
void ipv4_local_deliver(struct ip_core *core, uint64_t now, struct buf **pkt, uint32_t flags,
			const struct ip_offload *off, struct ip_out *out);

/* --- ipv4_output.c --- */

/* What ipv4_send needs besides the payload. */
struct ipv4_send_args {
	uint32_t daddr; /* network order */
	uint32_t saddr; /* 0: the route's preferred source */
	uint8_t proto;
	uint8_t ttl;    /* 0: cfg.default_ttl */
	uint8_t tos;
	bool df;
	struct ip_offload off; /* offsets from the IPv4 header ipv4_send builds (20 bytes) */
};

/* Prepend a 20-byte header to the payload *pkt (data at the L4 header) and send it: route,
 * resolve, fragment. Consumes *pkt. The same results and counters as ip_output, which is this
 * plus the checks on what a transport asked for. */
int ipv4_send(struct ip_core *core, uint64_t now, struct buf **pkt,
	      const struct ipv4_send_args *a, struct ip_out *out);

/* The last hop of a complete datagram (data at its IPv4 header, offload state off or NULL)
 * whose next hop's Ethernet address is dst: a super-segment, or a datagram with a partial
 * checksum that fits the MTU, goes as one frame with its offload state for nicd; anything else
 * is fragmented to the MTU (a partial checksum completed first). Pushes Ethernet headers, puts
 * the frames in out->wire. Consumes *dgram. 0, -ENOBUFS (counted). */
int ipv4_xmit(struct ip_core *core, struct buf **dgram, const uint8_t dst[6],
	      const struct ip_offload *off, struct ip_out *out);

/* How many frames ipv4_xmit will make of the datagram d (data at its IPv4 header). */
unsigned ipv4_frames(const struct ip_core *core, const struct buf *d, const struct ip_offload *off);

/* Hand the datagram *pkt (data at its IPv4 header) to the transport serving `proto` through
 * out->up, with desc flags (DESC_F_BCAST, DESC_F_ICMP_ERROR) and its offload state (NULL:
 * none): gso fields kept, a partial checksum passed up as DESC_F_CSUM_NEEDED (with
 * DESC_F_CSUM_VERIFIED), a verified one as DESC_F_CSUM_VERIFIED. Consumes it. */
void ip_deliver_up(struct ip_core *core, struct buf **pkt, uint8_t proto, uint32_t flags,
		   const struct ip_offload *off, struct ip_out *out);

/* --- icmp.c --- */

/* An ICMP message, data at its (validated, reassembled) IPv4 header. Consumes it. */
void icmp_input(struct ip_core *core, uint64_t now, struct buf **pkt, bool bcast,
		struct ip_out *out);

/* Send an ICMP error of type/code about the datagram orig (data at its validated IPv4 header;
 * borrowed, never consumed). Nothing is sent, and 0 returned, when RFC 1122 §3.2.2 forbids an
 * error about orig; -EAGAIN when the rate limit holds it back (counted), else what ipv4_send
 * returns. */
int icmp_send_error(struct ip_core *core, uint64_t now, const struct buf *orig, uint8_t type,
		    uint8_t code, struct ip_out *out);

#endif
