/* ip_core: the pure IPv4 protocol core of ustack-ipd (Ethernet demux, ARP, IPv4 in/out, ICMP,
 * routing, fragmentation and reassembly). No I/O and no clock reads: the server shell passes
 * `now` (CLOCK_MONOTONIC nanoseconds) into every call, hands in frames and transport packets,
 * and sends whatever the call left in struct ip_out. Timers are absolute deadlines:
 * ip_next_deadline() says when ip_timer() wants to run next.
 *
 * Ownership: every entry point that takes `struct buf **` consumes the chain (clears the
 * caller's pointer) whatever happens; a drop frees it and bumps a named counter. Buffers put in
 * struct ip_out belong to the caller once the call returns.
 */
#ifndef USTACK_IP_CORE_H
#define USTACK_IP_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "desc.h"
#include "pool.h"
#include "route.h"
#include "stats.h"

#define IP_OUT_MAX 256u /* one 65,535-byte datagram is 45 fragments; room for several */

struct ip_config {
	uint8_t mac[6];          /* the stack's own Ethernet address */
	uint32_t addr;           /* the stack's IPv4 address, network byte order */
	uint8_t prefix_len;      /* of the connected subnet */
	uint32_t gateway;        /* default gateway, network byte order; 0 = none */
	uint16_t mtu;            /* link MTU (IP bytes per frame), 68..9000 */
	uint8_t default_ttl;     /* 64 */
	uint32_t arp_cache_ttl_ms;   /* lifetime of a resolved entry, 60,000 */
	uint32_t arp_retry_ms;       /* between requests (unresolved) or probes (expired), 1,000 */
	uint32_t arp_max_retries;    /* then the entry fails and its queue is dropped, 3 */
	uint32_t arp_queue_max;      /* packets waiting per unresolved entry, 16 */
	uint32_t reass_timeout_ms;   /* 30,000 (Linux ipfrag_time) */
	uint32_t reass_max_buffers;  /* pool buffers held by all reassemblies together, 512 (1 MiB
				      * of pool; Linux ipfrag_high_thresh) */
	uint32_t icmp_rate_per_s;    /* ICMP error token bucket refill, 100 */
	uint32_t icmp_burst;         /* and depth, 50 */
	/* Checksum and segmentation offload on output ([nic] offload, false by default here and
	 * on in the shipped config): a transport's partial checksum is left to the device (or to
	 * nobody, through lo) when the datagram leaves whole, and TSO super-segments are taken.
	 * Off: every partial checksum is completed here and super-segments are refused. Input
	 * honours whatever offload state nicd's descriptors report, either way. */
	bool offload;
};

/* Fill cfg with the defaults named above (addresses zero). */
void ip_config_defaults(struct ip_config *cfg);

/* What one call wants done. The shell drains it after every call (and resets the counts). */
struct ip_out {
	struct buf *wire[IP_OUT_MAX];      /* complete Ethernet frames for nicd */
	struct desc wire_desc[IP_OUT_MAX]; /* their l3/l4 offsets and offload fields (buf, gen and
					    * len are the link's to fill) */
	unsigned n_wire;
	struct buf *up[IP_OUT_MAX];        /* packets for a transport server, data at the IP header */
	struct desc up_desc[IP_OUT_MAX];   /* .proto names the transport; l3_off/l4_off, addrs set */
	unsigned n_up;
};

/* Counters in the spirit of /proc/net/snmp; every drop has its own. */
struct ip_stats {
	/* Ethernet */
	uint64_t eth_rx_frames;
	uint64_t eth_drop_short;         /* < 14 bytes */
	uint64_t eth_drop_not_for_us;    /* destination neither ours nor broadcast */
	uint64_t eth_drop_ethertype;     /* not IPv4 or ARP */
	uint64_t eth_tx_frames;
	/* ARP (RFC 826) */
	uint64_t arp_rx;
	uint64_t arp_drop_short;
	uint64_t arp_drop_bad_hw;        /* htype != 1 or hlen != 6 */
	uint64_t arp_drop_bad_proto;     /* ptype != 0x0800 or plen != 4 */
	uint64_t arp_drop_bad_op;
	uint64_t arp_drop_bad_sender;    /* broadcast/multicast/zero sender hardware address */
	uint64_t arp_rx_requests;
	uint64_t arp_rx_replies;
	uint64_t arp_tx_requests;
	uint64_t arp_tx_replies;
	uint64_t arp_tx_gratuitous;
	uint64_t arp_link_up_requests; /* resolutions asked again when nicd's link came up */
	uint64_t arp_queue_drops;        /* packet waiting for resolution dropped: queue full */
	uint64_t arp_resolve_failed;     /* packets dropped: no reply after all retries */
	uint64_t arp_table_full;         /* new entry refused: nothing may give way (arp.c) */
	uint64_t arp_tx_probes;          /* unicast requests re-confirming an expired entry */
	uint64_t arp_probe_failed;       /* entries removed: no answer to any probe */
	uint64_t arp_evict_incomplete;   /* unresolved entries evicted, oldest first */
	uint64_t arp_evict_resolved;     /* idle resolved entries evicted for a new one */
	uint64_t arp_evict_drops;        /* datagrams queued on an evicted entry, dropped */
	/* IPv4 (RFC 791, 1122) */
	uint64_t ip_in_receives;
	uint64_t ip_in_drop_short;       /* no room for a 20-byte header */
	uint64_t ip_in_drop_version;
	uint64_t ip_in_drop_ihl;         /* IHL < 5 or options past the frame */
	uint64_t ip_in_drop_total_len;   /* total length > frame or < IHL*4 */
	uint64_t ip_in_drop_csum;
	uint64_t ip_in_drop_options;     /* malformed option (length 0/1, past IHL) */
	uint64_t ip_in_drop_src;         /* source broadcast/multicast/loopback */
	uint64_t ip_in_addr_errors;      /* not addressed to us (we do not forward) */
	uint64_t ip_in_unknown_protos;   /* no transport serves the protocol */
	uint64_t ip_in_delivers;
	uint64_t ip_out_requests;
	uint64_t ip_out_no_routes;
	uint64_t ip_out_discards;        /* no buffer, IP_OUT_MAX reached */
	uint64_t ip_out_drop_df;         /* larger than MTU with DF set */
	uint64_t ip_out_drop_invalid;    /* bad transport request: bad source/destination, over
					  * 65,515 bytes, a port-unreachable for a non-datagram */
	uint64_t ip_out_loopback;        /* datagrams the loopback interface took back up (our
					  * address, 127/8, and the copy of each broadcast) */
	/* Offload (desc.h, ipv4_input.c, ipv4_output.c) */
	uint64_t ip_in_gso;              /* GRO super-frames received and passed up whole */
	uint64_t ip_in_drop_offload;     /* offload state that contradicts the IPv4 datagram (a
					  * super-frame that is a fragment, not TCP or broadcast; a
					  * partial checksum not where its protocol's is) */
	uint64_t ip_out_gso;             /* TSO super-segments handed to nicd (or lo) whole */
	uint64_t ip_out_drop_gso;        /* super-segment refused: offload off, not TCPv4, no
					  * partial TCP checksum, bad TCP header, not unicast */
	uint64_t ip_out_drop_gso_mtu;    /* super-segment whose segments would exceed the MTU */
	uint64_t ip_out_csum_partial;    /* partial checksums left to the device or to lo */
	uint64_t ip_out_csum_filled;     /* partial checksums completed here (offload off, or
					  * the datagram is fragmented) */
	uint64_t ip_reasm_reqds;
	uint64_t ip_reasm_oks;
	uint64_t ip_reasm_fails;
	uint64_t ip_reasm_timeouts;
	uint64_t ip_reasm_overlaps;      /* overlapping fragment: whole datagram dropped */
	uint64_t ip_reasm_oversize;      /* offset + length past 65,535 */
	uint64_t ip_reasm_mem_drops;     /* fragment refused: its datagram alone would pass a
					  * bound (eviction makes room for everything else) */
	uint64_t ip_reasm_evicted;       /* incomplete datagrams given up, least recently fed
					  * first, to make room (also in ip_reasm_fails) */
	uint64_t ip_frag_oks;
	uint64_t ip_frag_fails;
	uint64_t ip_frag_creates;
	/* ICMP (RFC 792, 1122) */
	uint64_t icmp_in_msgs;
	uint64_t icmp_in_drop_short;
	uint64_t icmp_in_drop_csum;
	uint64_t icmp_in_drop_bcast;     /* echo request to a broadcast (RFC 1122 3.2.2.6) */
	uint64_t icmp_in_echos;
	uint64_t icmp_in_dest_unreachs;
	uint64_t icmp_in_other;
	uint64_t icmp_in_errors_up;      /* ICMP errors passed to the transport they quote */
	uint64_t icmp_out_echo_reps;
	uint64_t icmp_out_dest_unreachs;
	uint64_t icmp_out_time_excds;    /* reassembly timeouts (RFC 1122 3.3.2) */
	uint64_t icmp_out_rate_limited;
	uint64_t icmp_out_drop_nobuf;
};

extern const struct stat_field ip_stat_fields[];
extern const unsigned ip_stat_field_count;

struct ip_arp_entry {
	uint32_t addr;      /* network byte order */
	uint8_t mac[6];
	uint8_t state;      /* IP_ARP_INCOMPLETE / IP_ARP_REACHABLE / IP_ARP_PROBE */
	uint8_t queued;     /* packets waiting */
	uint64_t expires;   /* ns, CLOCK_MONOTONIC */
};
#define IP_ARP_INCOMPLETE 1
#define IP_ARP_REACHABLE 2
#define IP_ARP_PROBE 3 /* lifetime over: still used while unicast probes re-confirm it */

/* A route as `ustackctl route` shows it: common/route.h's entry (local and main table). */
#define ip_route_entry route_entry

struct ip_core;

/* Create a core serving cfg, allocating from pool; gratuitous ARP for cfg->addr goes into out.
 * 0, -EINVAL (bad config), -ENOMEM. */
int ip_core_create(const struct ip_config *cfg, struct pool *pool, uint64_t now,
		   struct ip_out *out, struct ip_core **core);
/* Free everything the core holds (queued packets, fragments); clears *core. */
void ip_core_destroy(struct ip_core **core);

/* Declare whether a transport server takes `proto` (IPPROTO_TCP, IPPROTO_UDP). Packets for a
 * protocol nobody serves are answered with ICMP protocol unreachable (RFC 1122 3.2.2.1). */
void ip_set_transport(struct ip_core *core, uint8_t proto, bool served);

/* A frame from the wire, data at the Ethernet header. Consumes it. */
void ip_input(struct ip_core *core, uint64_t now, struct buf **frame, struct ip_out *out);

/* ip_input with the offload state nicd's descriptor rx reports (NULL: none; buf, gen, len and
 * the offsets are not read, only flags, csum_start/csum_offset from the Ethernet header, and
 * gso_type/gso_size). A GRO super-frame (longer than the MTU, in a chain) is validated as any
 * datagram, never reassembled, and goes up whole with its gso fields; a partial checksum goes
 * up as verified (Linux's CHECKSUM_PARTIAL on receive) with DESC_F_CSUM_NEEDED and csum_start
 * from the IPv4 header; DESC_F_CSUM_VERIFIED goes up as it came. Offload state that contradicts
 * the datagram drops it (ip_in_drop_offload). */
void ip_input_desc(struct ip_core *core, uint64_t now, struct buf **frame, const struct desc *rx,
		   struct ip_out *out);

/* A transport packet to send: data at the L4 header; d->daddr, d->proto, d->ttl (0 = default),
 * d->tos and DESC_F_IP_DF are read; d->saddr is 0 (the route's preferred source) or one of our
 * addresses (127/8 included, for destinations through the loopback interface).
 * DESC_F_CSUM_NEEDED has Linux's CHECKSUM_PARTIAL meaning (the field at csum_start +
 * csum_offset, counted from the L4 header, holds the pseudo-header sum, folded, not inverted):
 * with cfg.offload it stays partial for the device (or for lo, whose receiver trusts it) unless
 * the datagram must be fragmented, and is completed here in software otherwise.
 * gso_type DESC_GSO_TCPV4 with gso_size (the MSS) marks a TSO super-segment of up to 64 KiB
 * (cfg.offload only): TCP, DESC_F_CSUM_NEEDED at csum_start 0, csum_offset 16, the TCP header
 * in the head buffer. It gets one IPv4 header for the whole (total length the whole datagram,
 * DF set, and the ID advanced by the number of segments, since the device gives each segment
 * its own, as Linux's TSO), is never fragmented, and is refused (-EMSGSIZE,
 * ip_out_drop_gso_mtu) when gso_size plus the IPv4 and TCP headers exceed the route's MTU.
 * Routes (common/route.h), then: a destination through lo (our address, 127/8) goes straight
 * back up as received input, never to the wire; a broadcast goes to the wire and, as Linux
 * loops it back, up to our own transport too; anything else is resolved and fragmented.
 * Consumes pkt. 0, or -ENETUNREACH (no route), -EMSGSIZE (DF and too big), -EINVAL (bad source
 * or destination, more than 65,515 bytes, a bad super-segment), -EOPNOTSUPP (a super-segment
 * with offload off), -ENOBUFS; every failure is counted. */
int ip_output(struct ip_core *core, uint64_t now, struct buf **pkt, const struct desc *d,
	      struct ip_out *out);

/* Announce our address with a gratuitous ARP (RFC 5227 §2.3), as a host does when its link
 * comes up: the shell calls it whenever a link with nicd (re)connects, so a neighbour whose ARP
 * probe was lost during a driver restart resolves us at once instead of after its retry timer.
 * Our own resolutions in progress ask again at once too (their requests before this went
 * nowhere: a restarted ipd's first request, for the datagram that made the entry, is sent
 * before its link to nicd is up), not counted as a retry, the retry timer restarting from now.
 * 0 or -ENOBUFS (the announcement). */
int ip_announce(struct ip_core *core, uint64_t now, struct ip_out *out);

/* A transport found no socket for the datagram *dgram (data at its IPv4 header, as delivered):
 * answer with ICMP port unreachable (RFC 1122 §4.1.3.1) under the usual rules (rate limit,
 * never about broadcasts or non-first fragments). Consumes *dgram. */
void ip_port_unreachable(struct ip_core *core, uint64_t now, struct buf **dgram,
			 struct ip_out *out);

/* Run expired timers (ARP retries and expiry, reassembly timeouts). */
void ip_timer(struct ip_core *core, uint64_t now, struct ip_out *out);

/* Earliest deadline ip_timer wants, or UINT64_MAX if none. */
uint64_t ip_next_deadline(const struct ip_core *core);

const struct ip_stats *ip_core_stats(const struct ip_core *core);

/* What the bounded tables hold right now (as Linux's /proc/net/sockstat "FRAG: inuse memory"),
 * for ustackctl stats next to the counters. */
struct ip_gauges {
	uint64_t arp_entries;       /* of IP_ARP_TABLE_SIZE */
	uint64_t arp_incomplete;    /* of IP_ARP_INCOMPLETE_MAX */
	uint64_t arp_queued_bufs;   /* buffers waiting for resolution */
	uint64_t reasm_datagrams;   /* of IP_REASS_SLOTS */
	uint64_t reasm_bufs;        /* of reass_max_buffers */
};
extern const struct stat_field ip_gauge_fields[];
extern const unsigned ip_gauge_field_count;
void ip_core_gauges(const struct ip_core *core, struct ip_gauges *g);

unsigned ip_arp_dump(const struct ip_core *core, struct ip_arp_entry *out, unsigned max);
unsigned ip_route_dump(const struct ip_core *core, struct ip_route_entry *out, unsigned max);

/* Free every buffer left in out and zero its counts (for shells that must drop output). */
void ip_out_discard(struct ip_out *out);

#endif
