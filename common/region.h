/* region: the shared memory an application hands its transport server, and the rings inside it.
 *
 * Apps never map the pool (docs/ARCHITECTURE.md, Packet buffers). Each application creates one
 * region per transport server, a sealed memfd, and hands it to udpd or tcpd over the session
 * socket (session.h); the server copies payload between the pool and the region. A region is of
 * one KIND, fixed at creation and checked by the server that attaches it:
 *
 *   REGION_KIND_DGRAM (udpd)    one TX record ring shared by all the app's sockets (records
 *                               carry the slot), one RX record ring per slot (ring.h)
 *   REGION_KIND_STREAM (tcpd)   per slot, one TX byte ring and one RX byte ring
 *                               (stream_ring.h; SPEC-streams.md), and a stream slot control
 *                               block (struct region_stream_ctl) per slot
 *
 * Layout (offsets from the start, never pointers; every area aligned as its comment says):
 *
 *   struct region_hdr          magic "USRG", version, total size, n_slots, kind, one
 *                              {control offset, data offset, data size} per ring, and where
 *                              the slot control blocks are
 *   ring control blocks        DGRAM: TX, then RX[0 .. n_slots); STREAM: STX[i], RX[i] per slot;
 *                              struct ring_shared each
 *   slot control blocks        DGRAM: struct region_slot_ctl [n_slots]; STREAM: struct
 *                              region_stream_ctl [n_slots]
 *   application statistics     struct region_app_stats (written by the application only;
 *                              below), in both kinds
 *   data areas                 DGRAM: TX, then RX[i]; STREAM: STX[i], RX[i] per slot
 *
 * Slots: at most REGION_SLOTS_MAX sockets per region; a socket is bound to one slot for life
 * (proto/sock.proto names it). In a DGRAM region, record type REGION_REC_DGRAM carries a struct
 * region_tx_dgram or region_rx_dgram followed by the payload. Addresses and ports are in network
 * byte order.
 *
 * Trust (docs/ARCHITECTURE.md, Security): for the server every byte of the region is the
 * client's, so:
 *   - the size is fixed before it is believed: region_attach requires F_SEAL_SHRINK and
 *     F_SEAL_GROW (checked BEFORE fstat), so the client can never truncate the file under the
 *     server's mapping and make it fault with SIGBUS;
 *   - the header is read ONCE (pread, before mmap) into a local copy; every offset and size is
 *     validated on that copy (region_validate) and the ring views are built from it alone. The
 *     client may scribble over the mapped header afterwards: nobody reads it again;
 *   - the server names the kind it serves (region_attach_kind): a region of another kind is
 *     refused, so udpd never parses byte rings as records nor tcpd the reverse;
 *   - the rings check every index and record header (ring.h, stream_ring.h); the server copies
 *     a record's fixed part (region_tx_dgram) out of the ring before looking at it, and checks
 *     `slot` (region_rx) and `flags` (REGION_TX_FLAGS_KNOWN) on the copy; what the application
 *     writes in a stream slot block (tx_push) is checked against the ring before use, and its
 *     tx_stamp is read once and reaches nothing but a histogram (region_tx_transit).
 * The client trusts its server, but opens its own region through the same validation anyway.
 *
 * Latency of the two hops between the application and its server (docs/ARCHITECTURE.md,
 * "Latency"): both are timed with CLOCK_MONOTONIC (common/clock.h), which every process of one
 * boot shares. DGRAM (udpd), per record:
 *   - send: libsock stamps each TX record (region_tx_dgram.t_sent) just before it commits it;
 *     udpd takes transit = (the time of its turn at the ring) - t_sent into its histogram
 *     transit_from_app. The stamp is the client's: region_tx_transit refuses a zero, future or
 *     absurdly old one (counted), and it reaches nothing but that histogram.
 *   - receive: udpd stamps each RX record (region_rx_dgram.t_ring) with the time it commits
 *     it; libsock, when it takes the record (not MSG_PEEK), counts taken - t_ring into the
 *     region's struct region_app_stats. That area is written by the application only; udpd
 *     reads it (region_app_collect) as untrusted: a bucket's growth since its last look is
 *     believed only as far as the datagrams udpd delivered to the region since, a bucket that
 *     goes down is counted and skipped, and what it believes goes into a histogram of its own
 *     (app_transit_from_udpd, "app-reported"): a client can skew the distribution of its own
 *     samples, never inflate their count, and touch nothing else.
 * STREAM (tcpd): a byte stream has no records, so the stamps ride on the rings' producer
 * positions, one per slot and direction, in the slot block (REGION_VERSION 6):
 *   - send: libsock stores tx_stamp (line 1, the application's) = now just before every
 *     publication of the TX head; tcpd, when it takes bytes up (tcp_send), times now - the
 *     stamp into transit_from_app, once per stamp (the newest publication, if it takes up
 *     several at once), refused and counted as a DGRAM stamp (region_tx_transit, tx_stamp_bad).
 *   - receive: tcpd stores rx_stamp (line 0, the server's) = when the newest bytes the head
 *     carries were copied into the ring, just before every publication of the RX head that
 *     carries new bytes; libsock, on the first read that takes bytes after it (not MSG_PEEK),
 *     counts now - the stamp into the region's statistics area (region_app_stream_read), once
 *     per stamp, and tcpd collects it as udpd does, crediting one sample per stamp published
 *     (app_transit_from_tcpd). A sample is thus "from the newest bytes' arrival in the ring to
 *     the first read after it": bytes that waited longer behind them are not timed apart.
 *
 * Send buffer of a DGRAM region (SO_SNDBUF, as Linux's sk_wmem_alloc against sk_sndbuf): each
 * TX record is charged region_tx_charge(len) to its slot's socket from the moment the
 * application produces it until the server is done with it. While the record is in the TX ring
 * the application knows (the server publishes the TX tail only once the datagrams are handed
 * on, and the ring reports every released record to its producer: ring_set_reclaim); what the
 * server keeps after that (corked payload) it tells in the slot's tx_held, and it bumps the TX
 * ring's room_seq (ring_room_notify) whenever either gives room back.
 *
 * Stream slots (REGION_KIND_STREAM), the contract between libsock and tcpd:
 *
 *   Rings. STX[slot] (app produces, tcpd consumes) is the socket's send buffer: tcpd reads any
 *   bytes of [tail, head) to build segments and retransmissions and advances tail only as the
 *   peer acknowledges them (SO_SNDBUF: the app keeps head - tail <= sndbuf of the block below).
 *   RX[slot] (tcpd produces, app consumes) is the receive buffer: in-order payload is published
 *   by head, out-of-order payload waits beyond head (stream_ring.h). Sequence numbers map to
 *   indices through a base set when the connection is set up (SPEC-streams.md):
 *   index(seq) = base_index + (uint32_t)(seq - base_seq), kept by tcpd in its state segment
 *   and moved up along the same line as the stream goes (tcpd_bind_rebase).
 *
 *   Slot block (struct region_stream_ctl). Line 0 is written by the server only: the socket's
 *   state bits (REGION_SS_*), the pending error, where the peer's FIN is, the accept queue
 *   length, the send-buffer limit, and the doorbell events. Line 1 is written by the
 *   application only (tx_push). The server initialises line 0 when it binds a socket to the
 *   slot (SOCKET, ACCEPT) and stores it in this order: the fields, then state (release), then
 *   seq++; the application loads state (acquire) before the fields it qualifies (eof_at with
 *   RD_EOF, error with ERROR).
 *
 *   Wake-ups. The socket's descriptor is the slot's eventfd (session.h). The server writes it
 *   when the RX ring gained data (it may skip the write when the ring was not empty before: the
 *   application keeps "readable => count > 0"), when line 0 changed (state, error, eof_at,
 *   acceptq), and when it gave TX room back while the TX ring's prod_waiting was set
 *   (stream_ring_room_notify returned true). On TX room and on every state change it also
 *   calls stream_ring_room_notify on the slot's TX ring, which is what a blocked send sleeps
 *   on. The application writes the session's doorbell after publishing TX head from old to new
 *   when stream_ring_event_crossed(tx_event, old, new) or when it moved tx_push over bytes it
 *   had corked; and after publishing RX tail from old to new when
 *   stream_ring_event_crossed(rx_event, old, new). The server, before it sleeps on the doorbell,
 *   stores as tx_event the TX head it has taken in (or any index it wants to hear of), fences,
 *   and loads head again (virtio's protocol: no wake-up is lost, none is wasted); rx_event is
 *   where the RX tail would open the window enough for a window update (any index: it learns
 *   the real tail whenever it looks).
 *
 *   Lifetime of a slot. SOCKET or ACCEPT gives the slot to the server's socket. After CLOSE the
 *   connection may live on as an orphan that still sends from the slot's TX ring (FIN after the
 *   queued data, Linux's orphaned sockets), so the slot stays the server's until it sets
 *   REGION_SS_RELEASED (having published STX tail = head, writing the eventfd); only then may
 *   the application open another socket in it. SO_LINGER waits for exactly that. Before reusing
 *   a slot the application discards what its RX ring still holds (publishes tail = head).
 */
#ifndef USTACK_REGION_H
#define USTACK_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "ring.h"
#include "stream_ring.h"

#define REGION_MAGIC 0x55535247u /* "USRG" */
#define REGION_VERSION 6u /* 2: slot blocks (udpd reports what it holds); 3: RX records carry
                           * the datagram's metadata; 4: kinds, stream regions; 5: DGRAM records
                           * carry CLOCK_MONOTONIC stamps, the application's statistics area;
                           * 6: stream slot blocks carry stamps (rx_stamp, tx_stamp), STREAM
                           * regions have the statistics area too (each changed the layout) */
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

enum region_kind {
	REGION_KIND_DGRAM = 0,  /* records: udpd */
	REGION_KIND_STREAM = 1, /* bytes: tcpd */
	REGION_KIND_COUNT
};

/* At offset 0 of the region. Shared: never reorder; bump REGION_VERSION on any change. */
struct region_hdr {
	uint32_t magic;      /* REGION_MAGIC */
	uint32_t version;    /* REGION_VERSION */
	uint64_t total_size; /* == the file's size */
	uint32_t n_slots;    /* 1 .. REGION_SLOTS_MAX */
	uint32_t kind;       /* enum region_kind */
	struct region_ring_desc tx;                   /* DGRAM: the shared TX ring; STREAM: zero */
	struct region_ring_desc rx[REGION_SLOTS_MAX]; /* entries >= n_slots are all zero */
	uint64_t slot_ctl_off; /* slot control blocks [n_slots], RING_CACHELINE-aligned */
	uint64_t reserved1;    /* 0 */
	struct region_ring_desc stx[REGION_SLOTS_MAX]; /* STREAM: per-slot TX rings (entries >=
							* n_slots zero); DGRAM: all zero */
	uint64_t app_stats_off; /* struct region_app_stats, RING_CACHELINE-aligned (both kinds) */
	uint64_t reserved2;     /* 0 */
};
_Static_assert(sizeof(struct region_hdr) == 24 + 24 * (1 + REGION_SLOTS_MAX) + 16 +
						    24 * REGION_SLOTS_MAX + 16,
	       "region_hdr is shared");
_Static_assert(sizeof(struct region_hdr) <= REGION_ALIGN, "the header fits its page");

/* DGRAM: one per slot, written by the server only (the application reads). Shared: never
 * reorder. */
struct region_slot_ctl {
	/* SO_SNDBUF charge of this slot's TX records that the server holds outside the TX ring
	 * (its corked payload): the application counts it as in flight. */
	_Atomic uint64_t tx_held;
	uint8_t pad[RING_CACHELINE - sizeof(uint64_t)];
};
_Static_assert(sizeof(struct region_slot_ctl) == RING_CACHELINE, "region_slot_ctl is shared");

/* What the application measures, written by the application only (libsock), read by the
 * server as untrusted (region_app_collect). Shared: never reorder. */
struct region_app_stats {
	/* DGRAM: time from udpd's commit of an RX record (region_rx_dgram.t_ring) to the
	 * application's taking it; STREAM: from tcpd's RX stamp (region_stream_ctl.rx_stamp) to
	 * the first read that took bytes after it. ns: common/hist.h's buckets, cumulative, never
	 * reset. */
	_Atomic uint64_t rx_transit[HIST_BUCKETS];
	uint8_t pad[RING_CACHELINE - (HIST_BUCKETS * sizeof(uint64_t)) % RING_CACHELINE];
};
_Static_assert(HIST_SCHEME == ((2u << 8) | 36u),
	       "region_app_stats holds hist.h's buckets: a new layout needs a new REGION_VERSION");
_Static_assert(sizeof(struct region_app_stats) == 18 * RING_CACHELINE,
	       "region_app_stats is shared");

/* STREAM: the socket's state as the server sees it (struct region_stream_ctl.state). Linux's
 * sk_state and sk_shutdown, reduced to what the socket calls decide by. */
#define REGION_SS_CLOSED 0x001u     /* TCP CLOSED: a new socket, a failed connect, a reset, a
				     * timeout, a connection fully closed (Linux sk_state ==
				     * TCP_CLOSE) */
#define REGION_SS_CONNECTING 0x002u /* a connect() is in progress (SYN-SENT, SYN-RECEIVED) */
#define REGION_SS_CONNECTED 0x004u  /* synchronized at some point (ESTABLISHED or later, or
				     * accepted); stays set through the close */
#define REGION_SS_LISTENING 0x008u  /* LISTEN */
#define REGION_SS_RD_EOF 0x010u     /* the peer's FIN arrived (Linux SOCK_DONE): reads return 0
				     * once the tail reaches eof_at */
#define REGION_SS_RD_CLOSED 0x020u  /* no more data will arrive, without a FIN (a reset, a failed
				     * connect: Linux's RCV_SHUTDOWN from tcp_done) */
#define REGION_SS_WR_CLOSED 0x040u  /* no more sends: shutdown(SHUT_WR), close, a reset, a
				     * failed connect (SEND_SHUTDOWN): send() says EPIPE */
#define REGION_SS_ERROR 0x080u      /* error holds an errno (kept in step with it) */
#define REGION_SS_HUP 0x100u        /* both directions closed, or CLOSED (POLLHUP as the server
				     * sees it; the application also folds in its own shutdowns) */
#define REGION_SS_RELEASED 0x200u   /* after CLOSE: the server is done with the slot */
#define REGION_SS_KNOWN 0x3ffu

/* STREAM: one per slot, two cache lines. Shared: never reorder. Line 0 is the server's, line 1
 * the application's (region.h's opening comment says who writes what, and when). */
struct region_stream_ctl {
	/* --- line 0: written by the server --- */
	_Alignas(RING_CACHELINE) _Atomic uint32_t state; /* REGION_SS_* */
	_Atomic uint32_t error;    /* positive errno pending (SO_ERROR, the next call: ECONNREFUSED,
				    * ECONNRESET, ETIMEDOUT, EPIPE, ...), 0 when none; the server
				    * clears it when a request reports it */
	_Atomic uint64_t eof_at;   /* RX index of the peer's FIN (valid with RD_EOF) */
	_Atomic uint32_t acceptq;  /* listener: connections waiting in its accept queue */
	_Atomic uint32_t seq;      /* bumped after every change of line 0 (pollers compare) */
	_Atomic uint32_t sndbuf;   /* most bytes the application may hold in its TX ring
				    * (head - tail); 0 = the ring's size. SO_SNDBUF */
	uint32_t reserved0;        /* 0 */
	_Atomic uint64_t tx_event; /* doorbell when TX head passes this index */
	_Atomic uint64_t rx_event; /* doorbell when RX tail passes this index */
	_Atomic uint64_t rx_stamp; /* CLOCK_MONOTONIC ns when the newest bytes the RX head carries
				    * were copied into the ring; stored before the head (latency
				    * only: region.h, "Latency"; 0: not stamped) */
	uint8_t pad0[RING_CACHELINE - 56];
	/* --- line 1: written by the application --- */
	_Alignas(RING_CACHELINE) _Atomic uint64_t tx_push; /* TX bytes below this index are to be
				    * pushed; [tx_push, head) were sent with MSG_MORE (cork them as
				    * TCP_CORK does) */
	_Atomic uint64_t tx_stamp; /* CLOCK_MONOTONIC ns when the application last published the
				    * TX head; stored before the head (latency only: the client's
				    * word, checked by region_tx_transit; 0: not stamped) */
	uint8_t pad1[RING_CACHELINE - 16];
};
_Static_assert(sizeof(struct region_stream_ctl) == 2 * RING_CACHELINE,
	       "region_stream_ctl is shared");

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
	uint64_t t_sent;   /* CLOCK_MONOTONIC ns when the application committed it (latency
			    * only: region_tx_transit; 0: not stamped) */
};
_Static_assert(sizeof(struct region_tx_dgram) == 24, "region_tx_dgram is shared");

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
	uint64_t t_ring;    /* CLOCK_MONOTONIC ns when the server committed it to the ring
			     * (latency only: region_app_rx_taken; 0: not stamped) */
};
_Static_assert(sizeof(struct region_rx_dgram) == 40, "region_rx_dgram is shared");

enum region_role {
	REGION_SERVER = 1, /* TX consumer, RX producers */
	REGION_CLIENT = 2, /* TX producer, RX consumers */
};

/* Process-local view of a mapped region. Owns the mapping (region_detach unmaps it). The
 * union holds the views of the region's kind only. */
struct region {
	void *base;
	size_t size;
	unsigned n_slots;
	enum region_role role;
	enum region_kind kind;
	union {
		struct { /* REGION_KIND_DGRAM */
			struct ring tx;
			struct ring rx[REGION_SLOTS_MAX]; /* [0, n_slots) valid */
			struct region_slot_ctl *slot_ctl; /* [n_slots], in the mapping */
		};
		struct { /* REGION_KIND_STREAM */
			struct stream_ring stx[REGION_SLOTS_MAX]; /* [0, n_slots) valid */
			struct stream_ring srx[REGION_SLOTS_MAX];
			struct region_stream_ctl *stream_ctl;     /* [n_slots], in the mapping */
		};
	};
	struct region_app_stats *app_stats; /* in the mapping (both kinds) */
};

/* Bytes a region of `kind` with `n_slots` sockets and these ring data sizes takes (DGRAM: the
 * shared TX ring and each RX ring; STREAM: each slot's TX ring and RX ring); 0 if the arguments
 * are invalid (kind, n_slots not in 1..REGION_SLOTS_MAX, a ring size not valid for
 * ring_size_valid) or the result exceeds REGION_SIZE_MAX. */
size_t region_size_for_kind(enum region_kind kind, unsigned n_slots, uint32_t tx_ring,
			    uint32_t rx_ring);
static inline size_t region_size_for(unsigned n_slots, uint32_t tx_ring, uint32_t rx_ring)
{
	return region_size_for_kind(REGION_KIND_DGRAM, n_slots, tx_ring, rx_ring);
}

/* App side: lay out a region in `size` bytes at `base` (RING_CACHELINE-aligned, size >=
 * region_size_for_kind(...)): header, control blocks with zero indices, zeroed slot blocks.
 * The data areas are not touched. -EINVAL on bad arguments, with nothing written. */
int region_format_kind(enum region_kind kind, void *base, size_t size, unsigned n_slots,
		       uint32_t tx_ring, uint32_t rx_ring);
static inline int region_format(void *base, size_t size, unsigned n_slots, uint32_t tx_ring,
				uint32_t rx_ring)
{
	return region_format_kind(REGION_KIND_DGRAM, base, size, n_slots, tx_ring, rx_ring);
}

/* App side: memfd_create("ustack-region", MFD_CLOEXEC | MFD_ALLOW_SEALING), size it, map it
 * shared, format it, seal it (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL). On success the caller
 * owns *fd and the mapping (*base, *size), typically handing both to region_open_client and
 * the fd to the server. On failure (-EINVAL, or -errno of a system call) nothing is left open or
 * mapped and the outputs are untouched. */
int region_create_memfd_kind(enum region_kind kind, unsigned n_slots, uint32_t tx_ring,
			     uint32_t rx_ring, int *fd, void **base, size_t *size);
static inline int region_create_memfd(unsigned n_slots, uint32_t tx_ring, uint32_t rx_ring,
				      int *fd, void **base, size_t *size)
{
	return region_create_memfd_kind(REGION_KIND_DGRAM, n_slots, tx_ring, rx_ring, fd, base,
					size);
}

/* Check a header copy against the region's real size: -EPROTO (magic or version), -EINVAL
 * (total size, n_slots, an unknown kind, a ring size, an alignment, an area outside the
 * region, two areas (rings, control blocks, slot control blocks, the statistics area)
 * overlapping, a reserved field, an unused slot entry, a ring entry or statistics area the
 * kind does not have not zero), else 0. Pure. */
int region_validate(const struct region_hdr *h, size_t size);

/* Server side: map the region behind `fd` (not consumed; the caller may close it afterwards)
 * and build the server's views, if it is a region of `kind`. -EPERM if the file is not sealed
 * against shrinking and growing (or cannot be: not a memfd), -EBADF for a bad fd, -EINVAL /
 * -EPROTO as region_validate, -EPROTO for a valid region of another kind, -EBADMSG if a ring's
 * indices are inconsistent, -errno of fstat, pread or mmap. On failure nothing is mapped and
 * *out is untouched. region_attach: a DGRAM region (udpd). */
int region_attach_kind(int fd, enum region_kind kind, struct region *out);
static inline int region_attach(int fd, struct region *out)
{
	return region_attach_kind(fd, REGION_KIND_DGRAM, out);
}

/* App side: build the client's views of a mapping it made (region_create_memfd*), of whichever
 * kind its header says (out->kind). Takes ownership of the mapping: on success *base is cleared
 * and region_detach unmaps it. Errors as region_validate / -EBADMSG, leaving *base and *out
 * untouched. */
int region_open_client(void **base, size_t size, struct region *out);

/* Unmap and clear. Safe on a cleared struct. */
void region_detach(struct region *r);

/* DGRAM: the RX ring of `slot`, or NULL if the slot is not in the region: the one bounds check
 * for a slot number that came from the client. */
static inline struct ring *region_rx(struct region *r, uint32_t slot)
{
	return slot < r->n_slots && r->kind == REGION_KIND_DGRAM ? &r->rx[slot] : NULL;
}

/* DGRAM: the control block of `slot`, or NULL if the slot is not in the region. */
static inline struct region_slot_ctl *region_slot(struct region *r, uint32_t slot)
{
	return slot < r->n_slots && r->kind == REGION_KIND_DGRAM ? &r->slot_ctl[slot] : NULL;
}

/* STREAM: the TX ring, RX ring and slot block of `slot`, or NULL if the slot is not in the
 * region (the bounds check for a slot number that came from the client). */
static inline struct stream_ring *region_stream_tx(struct region *r, uint32_t slot)
{
	return slot < r->n_slots && r->kind == REGION_KIND_STREAM ? &r->stx[slot] : NULL;
}
static inline struct stream_ring *region_stream_rx(struct region *r, uint32_t slot)
{
	return slot < r->n_slots && r->kind == REGION_KIND_STREAM ? &r->srx[slot] : NULL;
}
static inline struct region_stream_ctl *region_stream_slot(struct region *r, uint32_t slot)
{
	return slot < r->n_slots && r->kind == REGION_KIND_STREAM ? &r->stream_ctl[slot] : NULL;
}

/* --- latency of the hops between the application and the server (region_app.c) --- */

/* The oldest stamp believed: a transit this long is beyond hist.h's range (the overflow
 * bucket), and no honest record waits that long without the stack being stopped. */
#define REGION_TRANSIT_MAX (UINT64_C(1) << HIST_MAX_POW)

/* Server side: the transit of a TX record stamped t_sent and taken at now (ns) into *ns. 0, or
 * -ERANGE for a stamp that is 0, later than now, or more than REGION_TRANSIT_MAX before it
 * (the client's bytes: counted by the caller, never added). Pure. */
int region_tx_transit(uint64_t t_sent, uint64_t now, uint64_t *ns);

/* Client side: the application took an RX record stamped t_ring at `taken` (DGRAM), or read
 * bytes of a stream whose RX stamp was t_ring (STREAM: once per stamp,
 * region_app_stream_read): count it in the region's rx_transit (atomically: receivers of
 * different sockets run in parallel). A record not stamped, or stamped later than taken, is
 * not counted. */
void region_app_rx_taken(struct region *r, uint64_t t_ring, uint64_t taken);

/* Client side, STREAM: a read of `slot` took bytes. Counts the delay from the slot's RX stamp
 * to now_fn() once per stamp: *seen is the socket's last stamp counted (the caller's memory,
 * under its receive lock), so a stream read in many small pieces counts one sample per
 * publication it read from, the first read after it, as the datagram path counts one per
 * record. The clock is read only when there is a new stamp. */
void region_app_stream_read(struct region *r, uint32_t slot, uint64_t *seen,
			    uint64_t (*now_fn)(void));

/* What region_app_collect refused of an application's histogram. */
struct region_app_refused {
	uint64_t over_credit; /* samples beyond the datagrams delivered to it: not believed
			       * (saturating: the client chooses how many) */
	uint64_t went_down;   /* buckets found lower than at the last look: skipped */
};

/* Server side: fold what the application counted since the last look into acc. `last` is the
 * server's own copy of the shared buckets at that look (process memory; region_app_baseline
 * sets it when the region is attached), `credit` the RX records delivered to the region and
 * not yet matched by a sample (the caller adds one per commit). Each bucket is read once
 * (TOCTOU: the client may change it meanwhile); its growth is added to acc in bucket order
 * while credit lasts, the rest counted in refused->over_credit; a bucket that went down is
 * counted in refused->went_down and adds nothing. `last` always follows the shared bucket, so
 * nothing refused is looked at again. Pure apart from the atomic loads. */
void region_app_collect(const struct region_app_stats *shared, struct hist *last,
			struct hist *acc, uint64_t *credit, struct region_app_refused *refused);

/* Server side: region_app_collect, then what it refused added to the caller's two named
 * counters (saturating: the client chooses the numbers). udpd and tcpd call this. */
void region_app_collect_count(const struct region_app_stats *shared, struct hist *last,
			      struct hist *acc, uint64_t *credit, uint64_t *over_credit,
			      uint64_t *went_down);

/* Server side: last = the shared buckets now (nothing counted before is taken). */
void region_app_baseline(const struct region_app_stats *shared, struct hist *last);

#endif /* USTACK_REGION_H */
