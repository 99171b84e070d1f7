/* ip_frag: IPv4 fragmentation on output and reassembly on input (RFC 791 §2.3 and §3.2,
 * RFC 1122 §3.3.2, RFC 815 for the hole bookkeeping idea).
 *
 * Reassembly is bounded by memory: at most IP_REASS_SLOTS datagrams at once and at most
 * max_buffers pool buffers held by all of them together (Linux: ipfrag_high_thresh); when a new
 * fragment does not fit, the least recently fed incomplete datagram is evicted to make room, so
 * a flood of incomplete datagrams cannot keep a legitimate one out (ip_reass.c says why this
 * beats refusing newcomers). A datagram whose fragments overlap is dropped whole (RFC 5722 makes
 * that the rule for IPv6, and it defeats overlap-based IDS evasion for IPv4 as well); nothing
 * past 65,535 bytes is accepted; one datagram holds at most BUF_CHAIN_MAX buffers; an incomplete
 * datagram expires after the timeout. Pure: time comes in as `now`, nothing here does I/O.
 */
#ifndef USTACK_IP_FRAG_H
#define USTACK_IP_FRAG_H

#include <stdint.h>

#include "buf.h"
#include "ip_core.h"
#include "pool.h"

#define IP_REASS_SLOTS 64u

/* One held run of payload: a fragment, or adjacent fragments coalesced into one chain. */
struct ip_reass_frag {
	struct buf *b;         /* data at the IPv4 header if hdr_len, else at the payload */
	uint16_t off;          /* payload offset of the run, bytes */
	uint16_t len;          /* payload bytes of the run */
	uint8_t hdr_len;       /* IHL*4 of the kept header (the offset-0 fragment), else 0 */
};

struct ip_reass_slot {
	uint32_t saddr, daddr; /* network order; with id and proto the RFC 791 key */
	uint16_t id;
	uint8_t proto;
	uint8_t in_use;
	uint8_t have_last;     /* the MF=0 fragment arrived, so total is known */
	uint32_t total;        /* payload bytes of the whole datagram, once have_last */
	uint32_t received;     /* payload bytes received so far (no overlaps are ever kept) */
	uint64_t deadline;     /* ns */
	uint64_t touched;      /* ip_reass.tick when a fragment was last taken: eviction order */
	unsigned nbufs;        /* buffers held; never above BUF_CHAIN_MAX */
	unsigned nfrags;       /* runs in frag[] */
	struct ip_reass_frag frag[BUF_CHAIN_MAX]; /* sorted by offset, disjoint (owner: ip_reass.c) */
};

struct ip_reass {
	struct ip_reass_slot slot[IP_REASS_SLOTS];
	unsigned max_buffers;  /* the memory bound, in pool buffers */
	unsigned held;         /* buffers held by all slots */
	uint64_t tick;         /* counts fragments taken: the LRU clock (exact even when `now` is not) */
	uint64_t timeout_ns;
};

/* Initialise an empty table. */
void ip_reass_init(struct ip_reass *r, unsigned max_buffers, uint64_t timeout_ns);

/* Feed one fragment (data at a validated IPv4 header whose total length equals the data length,
 * MF set or offset != 0). Consumes it. A fragment that would pass either bound first evicts the
 * least recently fed other datagrams (counted in ip_reasm_evicted); it is refused
 * (ip_reasm_mem_drops) only when its own datagram would pass max_buffers alone. Returns the reassembled datagram when this fragment
 * completes one: a chain, data at a rebuilt IPv4 header (first fragment's header, options kept,
 * total length set, MF and offset cleared, checksum recomputed), payload in order. Otherwise
 * NULL (held, or dropped and counted in st). */
struct buf *ip_reass_input(struct ip_reass *r, uint64_t now, struct buf **frag,
			   struct ip_stats *st);

/* Expire datagrams whose deadline passed. For each one whose first fragment (offset 0) had
 * arrived, that fragment (data at its IPv4 header) is put into first_frags so the caller can
 * send ICMP Time Exceeded, code 1 (RFC 1122 §3.3.2); everything else is freed. Returns how
 * many were put in first_frags (at most max; the rest are freed). */
unsigned ip_reass_timer(struct ip_reass *r, uint64_t now, struct ip_stats *st,
			struct buf **first_frags, unsigned max);

/* Earliest reassembly deadline, or UINT64_MAX. */
uint64_t ip_reass_next_deadline(const struct ip_reass *r);

/* Free everything held. */
void ip_reass_flush(struct ip_reass *r);

/* Fragment the datagram *dgram (data at a complete IPv4 header with total length, id and
 * checksum fields as for sending; the payload may be a chain) into packets of at most mtu bytes
 * each, every fragment a fresh single buffer from pool with POOL_HEADROOM headroom, its own
 * header (options copied per RFC 791 copy flag only into non-first fragments), checksum set.
 * On success consumes *dgram, stores the fragments in frags[0..n) and returns n. Fragments are
 * capped at POOL_DATA_ROOM bytes whatever the mtu. A datagram of at most mtu bytes needs no
 * fragmenting: it is moved to frags[0] as it is and 1 returned (not counted). Fails with
 * -EMSGSIZE if DF is set, -ENOBUFS if the pool or `max` runs out, -EINVAL on a malformed header
 * or an mtu too small for it (on any failure *dgram is untouched and no fragment is left
 * allocated). Counts ip_frag_oks / ip_frag_fails / ip_frag_creates. */
int ip_fragment(struct pool *pool, struct buf **dgram, uint16_t mtu, struct buf **frags,
		unsigned max, struct ip_stats *st);

#endif
