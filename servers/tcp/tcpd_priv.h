/* tcpd_priv: the inside of the ustack-tcpd server shell, shared by its files.
 *
 * Files and what each owns (one concern each):
 *   tcpd_main.c      init() in its documented order, ctl (STATUS/STATS), the core's timer, fini
 *   tcpd_state.c     the state segment: attach, recover (tcpd_store.c), the reverse maps
 *   tcpd_session.c   tcpd's side of the sessions (servers/transport/xport.h does the rest):
 *                    opening, attaching, leaving and ending one, its doorbell; the shares
 *   tcpd_requests.c  socket requests: what each stream operation does (proto/sock.proto)
 *   tcpd_stream.c    a socket's slot: its two byte rings and its block, kept in step with the
 *                    core's connection (tcpd_sync: data in and out, acknowledged bytes given
 *                    back, state bits, the doorbell protocol), binding and releasing slots,
 *                    the early data of connections not yet accepted
 *   tcpd_data.c      segments: from ipd into tcp_input (checksums, GRO, ICMP errors), the
 *                    core's output into segments for ipd (one copy from the TX ring, TSO), and
 *                    the io of every core call (tcpd_io_run)
 *   tcpd_store.c     the state segment's records and their transactions (pure: in the core
 *                    library, so unit tests can drive it)
 *
 * The data path, one copy each way (docs/ARCHITECTURE.md, Packet buffers; SPEC-streams.md):
 *   in   descriptor from ipd → checksum verified (or trusted: DESC_F_CSUM_VERIFIED) →
 *        tcp_input → io.place names a byte range of the segment and its sequence number → the
 *        bytes are copied from the pool chain into the slot's RX ring at index(seq), in order
 *        or not → the RX head published as rcv_nxt advances; a connection not yet accepted
 *        keeps them in process memory until ACCEPT (tcpd_stream.c, "early data");
 *   out  the application publishes TX bytes and rings the doorbell → tcp_send for the bytes
 *        between the core's write_seq and the ring's head (within tcp_send_space, MSG_MORE for
 *        those above the slot's tx_push) → each struct tcp_tx becomes one segment: a pool
 *        chain with the TCP header and its payload copied from the TX ring at index(seq), its
 *        checksum left partial for ipd or the device (DESC_F_CSUM_NEEDED), a super-segment of
 *        up to TCPD_TSO_MAX bytes with gso_size = MSS when the instance's offload is on;
 *        acknowledged bytes go back to the application as the TX tail (its send buffer).
 *
 * Budgets (docs/ARCHITECTURE.md, Security): a loop pass takes at most TCPD_RX_BUDGET batches
 * from ipd, the sessions' events and requests under xport's budgets, TCPD_SYNC_BUDGET slots of
 * doorbell work; a core call's output beyond its io arrays is deferred (the core keeps it as
 * sequence state) and sent from the next pass, TCPD_DEFER_ROUNDS rounds at most per pass.
 *
 * What lives where (docs/ARCHITECTURE.md, restart contract): the core's table, the sessions and
 * the binds (which connection a slot serves, where its streams start) are in the state segment
 * (tcpd_store.h); process memory has the descriptors and mappings (xport), the reverse maps
 * cid -> bind (rebuilt from the binds), what each slot block last said (rebuilt and published
 * again when a session attaches). The early data of connections not accepted yet is in a
 * segment of its own that outlives tcpd too (tcpd_stage.h).
 */
#ifndef USTACK_TCPD_PRIV_H
#define USTACK_TCPD_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "desc.h"
#include "link.h"
#include "link_fault.h"
#include "loop.h"
#include "pool.h"
#include "region.h"
#include "route.h"
#include "state_segment.h"
#include "stats.h"
#include "tcp_core.h"
#include "tcpd_stage.h"
#include "tcpd_store.h"
#include "xport.h"

#define TCPD_LAYER "tcpd"          /* endpoints: tcpd.sock, tcpd.session, tcpd.ctl */
#define TCPD_STATE_LAYER "tcp"     /* the state segment: <shm dir>/tcp-state */
#define TCPD_RX_BUDGET 4u          /* batches from ipd per loop pass */
#define TCPD_IO_TX 64u             /* segments one core call emits before the rest is deferred */
#define TCPD_IO_EV 256u            /* connections whose events one call lists */
#define TCPD_RECONNECT_WATCH_MS 500u /* tx_drop_link_reconnect: drops this soon after ipd came back */
#define TCPD_REKICK_MS 2u          /* ... are followed by another path kick this much later */
#define TCPD_DEFER_ROUNDS 16u      /* tcp_output_deferred rounds per pass */
#define TCPD_SYNC_BUDGET 256u      /* slots a pass looks at for doorbell work */
/* The largest super-segment payload: IPv4's 65,535 bytes less the largest IPv4 and TCP headers
 * ipd's output may put in front (20 + 60). */
#define TCPD_TSO_MAX (65535u - 20u - 60u)

/* What a slot block last said, as tcpd published it (process memory; the block itself is the
 * application's to scribble on, so tcpd never reads its own line back). */
struct tcpd_bx {
	uint32_t state;
	uint32_t error;
	uint32_t acceptq;
	uint32_t sndbuf;
	uint64_t eof_at;
	bool published;          /* the fields above were written since the session attached */
	bool pending;            /* doorbell work to look at (the session rang) */
	/* Latency (tcpd_stream.c, "Latency"): when the newest payload went into the RX ring,
	 * the RX stamp last published, the application's TX stamp last counted. */
	uint64_t rx_placed_at;
	uint64_t rx_stamped;
	uint64_t tx_stamp_seen;
};

/* Per session (process memory): the application's histogram of the hop from tcpd to it
 * (region.h): its buckets at our last look, and the RX stamps published since not matched by
 * a sample (region_app_collect's credit). */
struct tcpd_sx {
	struct hist app_last;
	uint64_t app_credit;
};

/* tcpd's own counters; every drop has one (STYLE 13). */
struct tcpd_stats {
	uint64_t rx_segs;               /* segments from ipd given to tcp_input */
	uint64_t rx_gro_frames;         /* of which GRO super-frames */
	uint64_t rx_csum_checked;       /* checksums verified here (not by the device or ipd) */
	uint64_t rx_drop_not_tcp;       /* descriptor for another protocol */
	uint64_t rx_drop_short;         /* no whole TCP header in it */
	uint64_t rx_drop_detached;      /* its connection's streams are not mapped (restarted, the
					 * application not resumed yet): the peer retransmits */
	uint64_t rx_drop_stage;         /* early data of a connection not accepted: no room */
	uint64_t rx_place_nowhere;      /* payload the core accepted for a connection whose streams
					 * are gone (never expected) */
	uint64_t rx_place_errors;       /* the RX ring refused a placement (never expected) */
	uint64_t rx_bytes;              /* payload copied into RX rings and early data */
	uint64_t icmp_in;               /* ICMP errors about TCP from ipd */
	uint64_t icmp_drop_short;
	uint64_t tx_segs;               /* segments handed to ipd */
	uint64_t tx_tso;                /* of which super-segments */
	uint64_t tx_bytes;              /* payload copied from TX rings */
	uint64_t tx_drop_nobuf;         /* pool empty: the segment is not sent (TCP resends) */
	uint64_t tx_drop_unbound;       /* payload of a connection with no bind (never expected) */
	uint64_t tx_drop_detached;      /* payload of a connection whose application has not resumed
					 * its session since tcpd restarted (its TX ring is not
					 * mapped yet): the core resends it */
	uint64_t tx_drop_ring;          /* the TX ring refused the read (never expected) */
	uint64_t tx_drop_link;          /* batches to ipd dropped: its link was full or absent */
	uint64_t tx_drop_link_reconnect; /* of those, within TCPD_RECONNECT_WATCH_MS after ipd
					  * reconnected: the path is kicked again TCPD_REKICK_MS
					  * later (logged once per reconnect) */
	uint64_t sync_tx_taken;         /* bytes taken from TX rings into the core (tcp_send) */
	uint64_t sync_rx_read;          /* bytes the applications read (tcp_recvd) */
	uint64_t binds_released;        /* slots given back (REGION_SS_RELEASED) */
	uint64_t orphans_aborted;       /* orphans reset: their application's memory went */
	uint64_t stage_bytes;           /* early data kept for connections not accepted, ever */
	uint64_t stage_return_errors;   /* freed stage pages the system refused to take back */
	uint64_t io_rounds_left;        /* passes that left deferred output for the next one */
	uint64_t req_bad_slot;          /* SOCKET/ACCEPT naming a slot outside the region */
	uint64_t stream_rebases;        /* a bind's stream base moved up (every 1 GiB of a stream) */
	uint64_t path_kicks;            /* retransmissions brought forward because a restart (ours,
					 * or ipd's) lost what was in flight (tcp_path_restored) */
	uint64_t path_rekicks;          /* kicks again: a batch after ipd's reconnect was dropped */
	uint64_t ipd_reconnects;        /* ipd's link came back (a new ipd) */
	uint64_t tx_stamp_bad;          /* TX stamps (region_stream_ctl.tx_stamp) that were in the
					 * future or absurdly old: not in transit_from_app */
	uint64_t app_hist_over_credit;  /* samples an application reported beyond the RX stamps
					 * published to it: not believed */
	uint64_t app_hist_went_down;    /* buckets of an application's histogram found lower than
					 * at the last look: skipped */
};

extern const struct stat_field tcpd_stat_fields[];
extern const unsigned tcpd_stat_field_count;

struct tcpd {
	struct ustack_config cfg;
	const char *instance;
	struct pool *pool;
	void *zctx;
	struct link *from_ipd;
	struct link *to_ipd;
	bool ipd_monitor; /* ipd's reconnections come from to_ipd's monitor (ZeroMQ), else asked */
	struct ctl_server *ctl;
	struct link_faults *faults; /* ustackctl fault */
	struct loop *loop;
	int timer_id;            /* the core's earliest deadline */
	struct xport x;          /* sessions, requests, shares, wake-ups (xport.h) */
	struct state_segment *seg;
	struct tcpd_state *st;
	struct tcp_table *t;
	struct route_table rt;   /* common/route.h: connect's route, from the same config as ipd */
	struct tcp_host host;
	/* Reverse maps: the bind of each connection and listener (TCPD_BIND_NONE: none). */
	uint16_t conn_bind[TCP_CONNS_MAX];
	uint16_t lis_bind[TCP_LISTENERS_MAX];
	struct tcpd_bx bx[TCPD_BINDS];
	bool sess_pending[XPORT_SESSIONS_MAX]; /* a doorbell rang: its slots have work */
	struct tcpd_sx sx[XPORT_SESSIONS_MAX];
	struct state_segment *stage_seg; /* early data of connections not accepted (tcpd_stage.h) */
	struct tcpd_stages stg;
	unsigned stage_free_after_txn; /* 1 + the connection ACCEPT delivered, freed after commit */
	/* The io of core calls. */
	struct tcp_tx io_tx[TCPD_IO_TX];
	uint32_t io_ev[TCPD_IO_EV];
	struct tcp_io io;
	unsigned io_depth;       /* tcpd_io_run nesting: the outermost one drains */
	/* The segment tcp_input is looking at, for io.place. */
	const struct buf *in_pkt;
	uint32_t in_payload_at;  /* chain offset of its payload */
	uint64_t in_t_arr;       /* its arrival in tcpd and in the stack (desc.h) */
	uint64_t in_t_in;
	/* Latency of what tcpd sends (tcpd_data.c, "Latency"): the segments emitted now were
	 * released by work that entered tcpd at turn_arr (a segment's arrival, the application's
	 * bytes taken up) and the stack at turn_in; 0 when not measured (timers, requests). */
	uint64_t turn_arr;
	uint64_t turn_in;
	struct hist inside_to_app;    /* arrival from ipd -> payload in the application's ring */
	struct hist total_to_app;     /* stack entry (t_in, at nicd) -> in the application's ring */
	struct hist transit_from_app; /* application's TX stamp -> tcpd takes the bytes up */
	/* app-reported: tcpd's RX stamp -> the application's read (region_app_collect), of the
	 * sessions that ended and, at each STATS, the live ones */
	struct hist app_transit_from_tcpd;
	/* The batch to ipd. */
	struct buf *out[DESC_BATCH_MAX];
	struct desc out_desc[DESC_BATCH_MAX];
	unsigned n_out;
	/* start-up facts, for STATS */
	uint64_t started;
	uint64_t reclaimed;
	uint64_t generation;
	uint64_t restored_conns;
	uint64_t restored_sessions;
	bool state_fresh;
	struct tcpd_stats stats;
	uint64_t ipd_reconnected_at; /* when ipd's link last came back (0: not since our start) */
	bool reconnect_drop_logged;  /* a drop after that reconnect was logged */
	int rekick_timer;            /* a path kick again, after such a drop (tcpd_rekick) */
	uint64_t rekick_at;          /* its deadline, 0: none */
};

/* --- tcpd_state.c --- */

/* Attach or create the state segment and take over what it holds: sessions DETACHED, binds and
 * the reverse maps, the core's table recovered (its output discarded: nothing is connected
 * yet). 0 or negative errno (logged). */
int tcpd_state_open(struct tcpd *u, uint64_t now);
void tcpd_state_close(struct tcpd *u);
/* The reverse maps for bind b (its cid), set or cleared. */
void tcpd_map_set(struct tcpd *u, unsigned b);
void tcpd_map_clear(struct tcpd *u, uint32_t cid);
/* The bind of cid, or TCPD_BIND_NONE. */
unsigned tcpd_bind_of(const struct tcpd *u, uint32_t cid);

/* --- tcpd_session.c --- */

extern const struct xport_ops tcpd_xport_ops;
void tcpd_quota_init(struct tcpd *u);
/* Sockets (connections and listeners) open in sessions of uid. */
unsigned tcpd_uid_sockets(const struct tcpd *u, uint32_t uid);
/* Session si is CLOSING and has no bind left: end it. */
void tcpd_session_maybe_done(struct tcpd *u, unsigned si);

/* --- tcpd_requests.c --- */

bool tcpd_op_mutates(int op);
int tcpd_req_dispatch(void *tp, unsigned si, const Ustack__SockRequest *q, Ustack__SockReply *r,
		      struct xport_req *req);
void tcpd_req_txn_begin(void *tp, unsigned si);
void tcpd_req_txn_end(void *tp, unsigned si, const struct xport_reply_rec *reply);
void tcpd_req_replayed(void *tp, unsigned si, const Ustack__SockRequest *q,
		       Ustack__SockReply *r, struct xport_req *req);
void tcpd_req_forget(void *tp, unsigned si);
void tcpd_req_acted(void *tp);

/* --- tcpd_stream.c --- */

/* The region of session si when it is mapped (ATTACHED or CLOSING), else NULL. */
struct region *tcpd_region(struct tcpd *u, unsigned si);
/* Bring slot bind b in step with its connection or listener (file comment of tcpd_stream.c):
 * take new TX bytes and reads, give acknowledged bytes back, publish data, EOF, state, error
 * and the send-buffer limit, release an orphan's slot once it no longer needs the TX ring,
 * then the doorbell protocol. Calls the core (io: the caller runs tcpd_io_run). */
void tcpd_sync(struct tcpd *u, unsigned b, uint64_t now);
/* A socket's slot block initialised (SOCKET, ACCEPT): state bits as given, no error, events
 * at the rings' current indices. */
void tcpd_slot_init(struct tcpd *u, unsigned b, uint32_t state);
/* Bind slot b to cid for session si's owner (in the caller's transaction). */
void tcpd_bind_set(struct tcpd *u, unsigned b, uint32_t cid, uint32_t owner);
/* Fix the TX stream's base at the connection's iss + 1 and the TX ring's tail (connect,
 * accept), and (accept) the RX stream's at irs + 1 and the RX ring's head. In the caller's
 * transaction. */
void tcpd_bind_bases(struct tcpd *u, unsigned b, bool rx);
/* Give slot b back to the application (REGION_SS_RELEASED, the TX ring emptied) and forget the
 * bind (its own transaction unless one is open). */
void tcpd_release(struct tcpd *u, unsigned b);
/* Slots of session si with doorbell work: sync them (a budget per pass). True if left work. */
bool tcpd_sync_pending(struct tcpd *u, uint64_t now);
/* Fold what session si's application counted of the hop from tcpd into
 * app_transit_from_tcpd (its region must be mapped; nothing otherwise). */
void tcpd_app_collect(struct tcpd *u, unsigned si);
/* Publish every bind of session si afresh (it attached: a new mapping of its region). */
void tcpd_session_publish(struct tcpd *u, unsigned si, uint64_t now);
/* Early data (connections not accepted yet). */
int tcpd_stage_place(struct tcpd *u, unsigned idx, const struct tcp_conn *c, uint32_t seq,
		     const struct buf *pkt, uint32_t off, uint32_t len);
bool tcpd_stage_ready(struct tcpd *u, unsigned idx, const struct tcp_conn *c);
void tcpd_stage_free(struct tcpd *u, unsigned idx);
/* Copy connection idx's early data into bind b's RX ring at its base (ACCEPT). */
int tcpd_stage_deliver(struct tcpd *u, unsigned idx, unsigned b);
/* A place the core asked for (io.place), from the segment being input. */
void tcpd_place(struct tcpd *u, const struct tcp_rx_place *p, uint64_t now);
/* Events the core listed for cid. */
void tcpd_event(struct tcpd *u, uint32_t cid, uint8_t ev, uint64_t now);

/* --- tcpd_data.c --- */

/* Loop source: batches from ipd. */
bool tcpd_rx_batch(void *arg, uint64_t now);
/* Run what a core call left in u->io: segments out, events, deferred output; until nothing is
 * left or TCPD_DEFER_ROUNDS. Safe to nest (only the outermost drains). */
void tcpd_io_run(struct tcpd *u, uint64_t now);
/* Reset u->io for a core call. */
static inline struct tcp_io *tcpd_io(struct tcpd *u)
{
	return &u->io;
}
/* Send the batch to ipd. */
void tcpd_out_flush(struct tcpd *u);
/* The core's timer. */
uint64_t tcpd_timer(void *arg, uint64_t now);
/* Re-arm the core's timer from tcp_next_deadline. */
void tcpd_rearm(struct tcpd *u);
/* ipd (re)connected since the last look (to_ipd's peer events): every connection's segments in
 * flight through the old ipd are lost, so repair them now (tcp_path_restored). Returns false
 * (a loop source's "nothing more"). */
bool tcpd_ipd_connected(void *arg, uint64_t now);
/* The rekick timer: a batch to ipd was dropped right after its reconnect, and the kick's own
 * retransmissions may have been in it: kick again. */
uint64_t tcpd_rekick(void *arg, uint64_t now);

#endif
