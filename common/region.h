/* region: the shared memory an application hands its transport server, and the rings inside it.
 *
 * Apps never map the pool (DESIGN.md, Packet buffers). Each application creates one region, a
 * sealed memfd, and hands it to udpd or tcpd over the session socket (session.h); the server
 * copies payload between the pool and the region. Layout (offsets from the start, never
 * pointers; every area aligned to REGION_ALIGN):
 *
 *   struct region_hdr          magic "USRG", version, total size, n_slots, one
 *                              {control offset, data offset, data size} per ring, and where
 *                              the slot control blocks are
 *   ring control blocks        TX, then RX[0 .. n_slots), struct ring_shared each
 *   slot control blocks        struct region_slot_ctl [n_slots]: what the server tells the
 *                              application about each slot's socket beyond the rings
 *   TX data                    app -> server, one ring shared by all the app's sockets:
 *                              records carry the slot (socket id in the region)
 *   RX data [n_slots]          server -> app, one ring per socket slot
 *
 * Slots: at most REGION_SLOTS_MAX sockets per region; a socket is bound to one slot for life
 * (proto/sock.proto names it). Record type REGION_REC_DGRAM carries a struct region_tx_dgram or
 * region_rx_dgram followed by the payload. Addresses and ports are in network byte order.
 *
 * Trust (DESIGN.md, Security): for the server every byte of the region is the client's, so:
 *   - the size is fixed before it is believed: region_attach requires F_SEAL_SHRINK and
 *     F_SEAL_GROW (checked BEFORE fstat), so the client can never truncate the file under the
 *     server's mapping and make it fault with SIGBUS;
 *   - the header is read ONCE (pread, before mmap) into a local copy; every offset and size is
 *     validated on that copy (region_validate) and the ring views are built from it alone. The
 *     client may scribble over the mapped header afterwards: nobody reads it again;
 *   - the rings check every index and record header (ring.h); the server copies a record's
 *     fixed part (region_tx_dgram) out of the ring before looking at it, and checks `slot`
 *     (region_rx) and `flags` (REGION_TX_FLAGS_KNOWN) on the copy.
 * The client trusts its server, but opens its own region through the same validation anyway.
 *
 * Send buffer (SO_SNDBUF, as Linux's sk_wmem_alloc against sk_sndbuf): each TX record is charged
 * region_tx_charge(len) to its slot's socket from the moment the application produces it until
 * the server is done with it. While the record is in the TX ring the application knows (the
 * server publishes the TX tail only once the datagrams are handed on, and the ring reports
 * every released record to its producer: ring_set_reclaim); what the server keeps after that
 * (corked payload) it tells in the slot's tx_held, and it bumps the TX ring's room_seq
 * (ring_room_notify) whenever either gives room back.
 */
#ifndef USTACK_REGION_H
#define USTACK_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "ring.h"

#define REGION_MAGIC 0x55535247u /* "USRG" */
#define REGION_VERSION 3u /* 2: slot blocks (udpd reports what it holds); 3: RX records carry
                           * the datagram's metadata (both changed the layout) */
#define REGION_SLOTS_MAX 64u
#define REGION_ALIGN 4096u                  /* every area starts on its own page */
#define REGION_SIZE_MAX ((size_t)1 << 30)   /* bounds what one client makes a server map */

/* Where one ring lives. Shared: never reorder. */
struct region_ring_desc {
	uint64_t ctl_off;   /* struct ring_shared, RING_CACHELINE-aligned */
	uint64_t data_off;  /* RING_CACHELINE-aligned */
	uint32_t data_size; /* power of two, RING_SIZE_MIN .. RING_SIZE_MAX */
	uint32_t reserved;  /* 0 */
};
_Static_assert(sizeof(struct region_ring_desc) == 24, "region_ring_desc is shared");

/* At offset 0 of the region. Shared: never reorder; bump REGION_VERSION on any change. */
struct region_hdr {
	uint32_t magic;      /* REGION_MAGIC */
	uint32_t version;    /* REGION_VERSION */
	uint64_t total_size; /* == the file's size */
	uint32_t n_slots;    /* 1 .. REGION_SLOTS_MAX */
	uint32_t reserved;   /* 0 */
	struct region_ring_desc tx;
	struct region_ring_desc rx[REGION_SLOTS_MAX]; /* entries >= n_slots are all zero */
	uint64_t slot_ctl_off; /* struct region_slot_ctl [n_slots], RING_CACHELINE-aligned */
	uint64_t reserved1;    /* 0 */
};
_Static_assert(sizeof(struct region_hdr) == 24 + 24 * (1 + REGION_SLOTS_MAX) + 16,
	       "region_hdr is shared");

/* One per slot, written by the server only (the application reads). Shared: never reorder. */
struct region_slot_ctl {
	/* SO_SNDBUF charge of this slot's TX records that the server holds outside the TX ring
	 * (its corked payload): the application counts it as in flight. */
	_Atomic uint64_t tx_held;
	uint8_t pad[RING_CACHELINE - sizeof(uint64_t)];
};
_Static_assert(sizeof(struct region_slot_ctl) == RING_CACHELINE, "region_slot_ctl is shared");

/* What a datagram costs against its socket's SO_SNDBUF: its TX record's bytes in the ring plus
 * what Linux adds to every datagram's skb->truesize beyond its data (struct sk_buff and
 * skb_shared_info: SKB_TRUESIZE's 576 bytes on x86-64). The overhead keeps Linux's meaning of a
 * buffer size (about 300 small datagrams in the default 212,992 bytes) and bounds how many
 * records a socket can have queued however small they are. */
#define REGION_TX_OVERHEAD 576u
static inline uint64_t region_tx_charge(uint32_t rec_len)
{
	return ring_record_cost(rec_len) + REGION_TX_OVERHEAD;
}

/* Record types in a region's rings (ring.h: 0 and 0xffff are taken). */
enum region_rec_type {
	REGION_REC_DGRAM = 1,
};

/* TX record body (app -> server): this, then the payload (rec.len - sizeof of it bytes). */
#define REGION_TX_MORE 0x1u /* MSG_MORE: cork, more data of this datagram follows */
#define REGION_TX_FLAGS_KNOWN (REGION_TX_MORE)
struct region_tx_dgram {
	uint32_t slot;     /* socket's slot in this region; the server checks it */
	uint32_t flags;    /* REGION_TX_*; unknown bits are refused */
	uint32_t daddr;    /* network order; used when has_addr */
	uint16_t dport;    /* network order; used when has_addr */
	uint16_t has_addr; /* 0: the socket's connected peer, 1: daddr/dport (sendto) */
};
_Static_assert(sizeof(struct region_tx_dgram) == 16, "region_tx_dgram is shared");

/* RX record body (server -> app, in the socket's slot ring): this, then the payload. Besides
 * the sender it carries what recvmsg's control messages report of the datagram (IP_PKTINFO,
 * IP_TTL, IP_TOS, SO_TIMESTAMP*), and the REGION_RX_CMSG_* flags say which of them the socket
 * asked for when the datagram was queued: the server holds the options, the client formats. */
#define REGION_RX_TRUNC 0x1u          /* payload cut to fit the ring (MSG_TRUNC) */
#define REGION_RX_CMSG_PKTINFO 0x2u   /* IP_PKTINFO: ifindex, spec_dst, daddr */
#define REGION_RX_CMSG_TTL 0x4u       /* IP_RECVTTL */
#define REGION_RX_CMSG_TOS 0x8u       /* IP_RECVTOS */
#define REGION_RX_CMSG_TSTAMP 0x10u   /* SO_TIMESTAMP: struct timeval */
#define REGION_RX_CMSG_TSTAMPNS 0x20u /* SO_TIMESTAMPNS: struct timespec */
#define REGION_RX_CMSG_TSTAMP_NEW 0x40u /* the _NEW timestamp type numbers */
struct region_rx_dgram {
	uint32_t saddr;     /* network order */
	uint16_t sport;     /* network order */
	uint16_t flags;     /* REGION_RX_* */
	uint32_t daddr;     /* the datagram's destination (ipi_addr), network order */
	uint32_t spec_dst;  /* the local address a reply would come from (ipi_spec_dst) */
	uint16_t ifindex;   /* the interface it arrived on (ipi_ifindex): 1 lo, 2 the NIC */
	uint8_t ttl;        /* of its IPv4 header */
	uint8_t tos;
	uint32_t reserved;  /* 0 */
	uint64_t tstamp_ns; /* when it reached the stack's transport, CLOCK_REALTIME ns */
};
_Static_assert(sizeof(struct region_rx_dgram) == 32, "region_rx_dgram is shared");

enum region_role {
	REGION_SERVER = 1, /* TX consumer, RX producers */
	REGION_CLIENT = 2, /* TX producer, RX consumers */
};

/* Process-local view of a mapped region. Owns the mapping (region_detach unmaps it). */
struct region {
	void *base;
	size_t size;
	unsigned n_slots;
	enum region_role role;
	struct ring tx;
	struct ring rx[REGION_SLOTS_MAX]; /* [0, n_slots) valid */
	struct region_slot_ctl *slot_ctl; /* [n_slots], in the mapping */
};

/* Bytes a region with `n_slots` sockets and these ring data sizes takes; 0 if the arguments are
 * invalid (n_slots not in 1..REGION_SLOTS_MAX, a ring size not valid for ring_size_valid) or the
 * result exceeds REGION_SIZE_MAX. */
size_t region_size_for(unsigned n_slots, uint32_t tx_ring, uint32_t rx_ring);

/* App side: lay out a region in `size` bytes at `base` (RING_CACHELINE-aligned, size >=
 * region_size_for(...)): header, control blocks with zero indices. The data areas are not
 * touched. -EINVAL on bad arguments, with nothing written. */
int region_format(void *base, size_t size, unsigned n_slots, uint32_t tx_ring, uint32_t rx_ring);

/* App side: memfd_create("ustack-region", MFD_CLOEXEC | MFD_ALLOW_SEALING), size it, map it
 * shared, format it, seal it (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL). On success the caller
 * owns *fd and the mapping (*base, *size), typically handing both to region_open_client and
 * the fd to the server. On failure (-EINVAL, or -errno of a system call) nothing is left open or
 * mapped and the outputs are untouched. */
int region_create_memfd(unsigned n_slots, uint32_t tx_ring, uint32_t rx_ring, int *fd,
			void **base, size_t *size);

/* Check a header copy against the region's real size: -EPROTO (magic or version), -EINVAL
 * (total size, n_slots, a ring size, an alignment, an area outside the region, two areas
 * (rings, control blocks, slot control blocks) overlapping, a reserved field or unused slot
 * entry not zero), else 0. Pure. */
int region_validate(const struct region_hdr *h, size_t size);

/* Server side: map the region behind `fd` (not consumed; the caller may close it afterwards)
 * and build the server's views. -EPERM if the file is not sealed against shrinking and
 * growing (or cannot be: not a memfd), -EBADF for a bad fd, -EINVAL / -EPROTO as
 * region_validate, -EBADMSG if a ring's indices are inconsistent, -errno of fstat, pread or
 * mmap. On failure nothing is mapped and *out is untouched. */
int region_attach(int fd, struct region *out);

/* App side: build the client's views of a mapping it made (region_create_memfd). Takes
 * ownership of the mapping: on success *base is cleared and region_detach unmaps it. Errors as
 * region_validate / -EBADMSG, leaving *base and *out untouched. */
int region_open_client(void **base, size_t size, struct region *out);

/* Unmap and clear. Safe on a cleared struct. */
void region_detach(struct region *r);

/* The RX ring of `slot`, or NULL if the slot is not in the region: the one bounds check for a
 * slot number that came from the client. */
static inline struct ring *region_rx(struct region *r, uint32_t slot)
{
	return slot < r->n_slots ? &r->rx[slot] : NULL;
}

/* The control block of `slot`, or NULL if the slot is not in the region. */
static inline struct region_slot_ctl *region_slot(struct region *r, uint32_t slot)
{
	return slot < r->n_slots ? &r->slot_ctl[slot] : NULL;
}

#endif /* USTACK_REGION_H */
