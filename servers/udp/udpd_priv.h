/* udpd_priv: the inside of the ustack-udpd server shell, shared by its files.
 *
 * Files and what each owns (one concern each):
 *   udpd_main.c      init() in its documented order, the loop's glue, ctl (STATUS/STATS), fini
 *   udpd_state.c     the state segment's layout, attach, and restoring what it kept
 *   udpd_session.c   udpd's side of the sessions (servers/transport/xport.h does the rest):
 *                    what a session's records are, what attaching, leaving and ending one means
 *                    for UDP, the per-uid shares' UDP part (sockets, buffers, corks)
 *   udpd_requests.c  socket requests (proto/sock.proto) on the udpd.sock ROUTER: the UDP
 *                    operations, and their ordering against the TX ring (the reception,
 *                    authentication and replay are xport_requests.c's)
 *   udpd_data.c      datagrams: from ipd into the applications' RX rings, from their TX rings
 *                    (with corking) to ipd, ICMP errors, port unreachable; the TX round that
 *                    serves every session's ring under the budgets and the back-pressure
 *   udpd_errq.c      each socket's error queue (IP_RECVERR), taken by ERRQUEUE requests
 *   udpd_sockets.c   the socket table for `ustackctl sockets` (ctl SOCKETS)
 *   udpd_store.c     the state segment's records and their transactions (pure: it is built
 *                    into the core library, so the unit tests cut its updates at every store)
 *
 * Budgets (docs/ARCHITECTURE.md, Security: every loop over work an application controls has one). A
 * loop pass takes at most UDPD_RX_BUDGET batches and UDPD_RX_COPY_BUDGET bytes of copies from ipd,
 * XPORT_REQ_BUDGET requests, XPORT_EVENTS_BUDGET epoll events, UDPD_TX_BUDGET datagrams from
 * each session's TX ring (and UDPD_TX_READS times as many records read, for records that send
 * nothing) and UDPD_TX_ROUND_BYTES of payload in all, UDPD_CLOSE_BUDGET more for a CLOSE;
 * work left over is resumed on the next pass, so the loop always comes back to feed the
 * watchdog. Nothing an application does makes udpd drain a ring in one go: a CLOSE whose
 * socket still has records queued waits for them (its reply is deferred), and a session that
 * ends is CLOSING until what its sockets had sent is out (at most the sum of their send
 * buffers, the rest discarded and counted).
 *
 * What lives where (docs/ARCHITECTURE.md, restart contract):
 *   state segment (/ustack-<instance>-udp-state, struct udpd_state, udpd_store.h): the udp_core
 *     socket table and the session table (id, secret, creator uid, slots -> sockets, the last
 *     replies); plain sealed records updated in transactions, so a restarted udpd finds every
 *     socket and every session again, each as it was after its last completed update;
 *   process memory (struct udpd): everything made of descriptors or mappings (the session
 *     connection, its region, its eventfds, the epoll set), the corked payload chains, the
 *     error queues (as Linux's sk_error_queue, they hold what arrived, like data in flight),
 *     the waiting CLOSEs and parked requests, the uid table and what is CLOSING. A restart
 *     loses them: sessions come back "detached" until their application resumes (within
 *     XPORT_RESUME_GRACE_NS, else they are closed with their sockets: a CLOSING one never
 *     resumes); corked, not yet sent datagrams are lost, as udp_table_recover counts
 *     (cork_lost_restart); TX records read but not yet given back are read again (their
 *     datagrams may go twice, as UDP allows); a waiting CLOSE or a parked request had not
 *     begun its transaction, so libsock re-sends it and it is done anew; the uid table is
 *     rebuilt from the session records (udpd_quota_init).
 *
 * Owners: the core tags each socket with a 32-bit owner. A session's owner is
 * (record generation << 16 | record index + 1): never 0, and different for every use of a
 * record, so a socket can never be reached through a later session that reuses the record.
 */
#ifndef USTACK_UDPD_PRIV_H
#define USTACK_UDPD_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "desc.h"
#include "hist.h"
#include "link.h"
#include "link_fault.h"
#include "loop.h"
#include "pool.h"
#include "region.h"
#include "session.h"
#include "state_segment.h"
#include "stats.h"
#include "udp_core.h"
#include "udp_tx_sched.h"
#include "udpd_store.h"
#include "xport.h"

#define UDPD_LAYER "udpd"          /* endpoints: udpd.sock, udpd.session, udpd.ctl */
#define UDPD_STATE_LAYER "udp"     /* the state segment: /ustack-<instance>-udp-state */
#define UDPD_RX_BUDGET 4u          /* batches from ipd per loop pass */
#define UDPD_RX_PREFETCH 4         /* datagrams ahead whose headers rx_batch prefetches */
#define UDPD_RX_COPY_BUDGET (4u << 20) /* bytes copied into RX rings per pass (a broadcast to
				    * many sockets is one copy per socket) */
#define UDPD_TX_BUDGET 64u         /* TX records per session per loop pass (the NAPI budget) */
#define UDPD_TX_STASH 16u          /* pool buffers taken at once for a TX round's heads */
#define UDPD_TX_READS 16u          /* records read per record sent, at most, per pass: a
				    * record that sends nothing (dropped) costs a read only */
#define UDPD_TX_ROUND_BYTES (1u << 20) /* payload a TX round copies, at most: a pass of the
				    * largest datagrams stays short, and RX is read between */
#define UDPD_CLOSE_BUDGET 1024u    /* TX records a CLOSE drains at once before it waits */
/* The largest TX record a datagram can come in (the fixed part and 65,507 bytes): what one
 * send() may add past a full send buffer (Linux starts a send while below it). */
#define UDPD_TX_REC_MAX ((uint32_t)sizeof(struct region_tx_dgram) + 65507u)
#define UDPD_CLOSE_WAITS 4u        /* CLOSE requests of one session waiting for its TX ring */
#define UDPD_TX_RETRY_NS (200 * 1000ull) /* TX held back for pool buffers looks again after */
#define UDPD_HANDSHAKES_MAX XPORT_HANDSHAKES_MAX
#define UDPD_IDENTITY_MAX XPORT_IDENTITY_MAX
#define UDPD_REQ_MAX XPORT_REQ_MAX
#define UDPD_UIDS_MAX XPORT_UIDS_MAX
#define UDPD_ERRQ_MAX 4u           /* entries of one socket's error queue (Linux bounds it by
				    * SO_RCVBUF; a few is what an application reads at once) */
#define UDPD_ERRQ_PAYLOAD 548u     /* quoted payload kept per entry: all a 576-byte ICMP error
				    * can carry (RFC 1812 §4.3.2.3) */

/* One error queue entry: an ICMP error about a datagram the socket sent (Linux's
 * sock_exterr_skb: the extended error, where the datagram went, who complained, and the quoted
 * payload). */
struct udpd_err {
	uint8_t err;             /* ee_errno */
	uint8_t type;            /* ee_type, ee_code */
	uint8_t code;
	uint8_t reserved;
	uint32_t info;           /* ee_info */
	uint32_t daddr;          /* msg_name: the datagram's destination */
	uint16_t dport;
	uint16_t len;            /* bytes of payload */
	uint32_t offender;       /* the ICMP message's source */
	uint8_t payload[UDPD_ERRQ_PAYLOAD];
};

/* A socket's error queue; allocated at its first entry and kept for its slot. */
struct udpd_errq {
	uint32_t sid;            /* whose: a queue of an earlier socket of the slot is stale */
	unsigned head;
	unsigned n;
	struct udpd_err e[UDPD_ERRQ_MAX];
};

/* A CLOSE whose socket still had TX records ahead of it: answered once the ring is read up to
 * `until` (every record the application produced before it asked). */
struct udpd_close_wait {
	uint32_t sid;            /* 0: entry free */
	uint64_t until;
	uint64_t req_id;
	size_t ident_len;
	uint8_t ident[UDPD_IDENTITY_MAX];
};

/* Any other request that touches a socket, while TX records ahead of it are still unread
 * (udpd_requests.c: the ring and the request channel are ordered that way): kept packed and
 * acted on once the ring is read up to `until`, in arrival order (seq). */
#define UDPD_REQ_WAITS 2u
struct udpd_req_wait {
	uint16_t body_len;       /* 0: entry free */
	uint16_t ident_len;
	uint32_t seq;            /* arrival order among the session's parked requests */
	uint64_t until;
	uint64_t req_id;         /* with op, what a re-send of it names */
	int op;
	uint8_t ident[UDPD_IDENTITY_MAX];
	uint8_t body[UDPD_REQ_MAX]; /* the packed SockRequest */
};

/* udpd's part of a session's process-local side (xport.h has the rest, in u->x.sess[]). */
struct udpd_sx {
	uint64_t drain_until;    /* CLOSING: TX records starting before this are still sent */
	uint64_t held_dirty;     /* slots whose tx_held to write at the end of this pass */
	bool tx_pending;         /* TX records left behind by the budget */
	bool tx_touched;         /* TX consumed this pass: publish the tail, answer CLOSEs */
	bool tx_bell_wanted;     /* we asked for the doorbell (ring_notify_on): cancel it when
				  * taking records again */
	struct udpd_close_wait close_wait[UDPD_CLOSE_WAITS];
	struct udpd_req_wait req_wait[UDPD_REQ_WAITS];
	uint32_t req_wait_seq;
	/* The application's histogram of the hop from udpd to it (region.h): its buckets at our
	 * last look, and the RX records committed to its region not yet matched by a sample. */
	struct hist app_last;
	uint64_t app_credit;
};

/* The shell's own counters; every drop it makes has one (STYLE 13). */
/* The shell's own counters (the sessions' and requests' are xport's); every drop it makes has
 * one (STYLE 13). */
struct udpd_stats {
	uint64_t req_waited;               /* requests parked behind unread TX records */
	uint64_t req_wait_busy;            /* -EBUSY: UDPD_REQ_WAITS already parked */
	uint64_t req_close_deferred;       /* CLOSE answered once the socket's records were out */
	uint64_t req_close_busy;           /* CLOSE refused: UDPD_CLOSE_WAITS already waiting */
	uint64_t rx_drop_not_udp;          /* descriptor for another protocol */
	uint64_t rx_drop_detached;         /* socket's session has no region (also rcvbuf_errors) */
	uint64_t rx_drop_closing;          /* socket's application has left (also rcvbuf_errors) */
	uint64_t rx_budget_exhausted;      /* passes that left RX work for the next one */
	uint64_t rx_drop_orphan;           /* socket with no session/slot (never expected) */
	uint64_t rx_truncated;             /* datagram larger than the slot ring takes */
	uint64_t rx_port_unreach;          /* datagrams handed back for ICMP port unreachable */
	uint64_t icmp_drop_short;          /* ICMP error descriptor without a full ICMP header */
	uint64_t icmp_woken;               /* sockets woken for a pending error */
	uint64_t tx_records;               /* TX records taken from the rings */
	uint64_t tx_drop_bad_record;       /* wrong type, short, unknown flags */
	uint64_t tx_drop_no_socket;        /* slot out of range or without an open socket */
	uint64_t tx_errors;                /* udp_output refused it (libsock checks first) */
	uint64_t tx_drop_nobuf;            /* pool empty (also sndbuf_errors) */
	uint64_t tx_drop_cork;             /* corked bytes lost to an earlier failure */
	uint64_t tx_drop_cork_limit;       /* corked datagrams dropped: over the cork share */
	uint64_t tx_drop_link;             /* batch to ipd dropped (also sndbuf_errors) */
	uint64_t tx_drop_closed_bytes;     /* TX ring bytes a CLOSING session had beyond its
					    * sockets' send buffers: discarded unread */
	uint64_t tx_drop_closing;          /* records of a closing socket beyond its send buffer */
	uint64_t tx_wait_link;             /* TX held back: the link to ipd was full */
	uint64_t tx_wait_pool;             /* TX held back: pool down to the reserve */
	uint64_t sessions_drained;         /* CLOSING sessions whose last records went out */
	uint64_t errq_drops;               /* ICMP errors not queued: queue full, no memory */
	uint64_t tx_stamp_bad;             /* TX records whose t_sent was 0, in the future or
					    * absurdly old: not in transit_from_app */
	uint64_t app_hist_over_credit;     /* samples an application reported beyond the
					    * datagrams delivered to it: not believed */
	uint64_t app_hist_went_down;       /* buckets of an application's histogram found lower
					    * than before: skipped */
};

extern const struct stat_field udpd_stat_fields[];
extern const unsigned udpd_stat_field_count;

struct udpd {
	struct ustack_config cfg;
	const char *instance;
	struct udp_host host;
	struct pool *pool;
	void *zctx;
	struct link *from_ipd;
	struct link *to_ipd;
	struct ctl_server *ctl;
	struct link_faults *faults; /* ustackctl fault */
	struct loop *loop;
	struct xport x;          /* sessions, requests, shares, wake-ups (xport.h) */
	struct udpd_sx sx[UDPD_SESSIONS_MAX];
	struct state_segment *seg;
	struct udpd_state *st;
	struct udp_table *t;
	/* Reverse map of the session records: the slot of each socket (by sid index). */
	uint8_t sock_slot[UDP_SOCKETS_MAX];
	/* Corked payload of each socket (by sid index): process memory, lost on restart, with its
	 * pool buffers and the send-buffer charge of the records in it. */
	struct buf *cork[UDP_SOCKETS_MAX];
	bool cork_broken[UDP_SOCKETS_MAX];
	/* Error queues of the sockets (by sid index), allocated on first use. */
	struct udpd_errq *errq[UDP_SOCKETS_MAX];
	/* CLOCK_REALTIME of the batch being delivered: the datagrams' SO_TIMESTAMP. */
	uint64_t rx_realtime_ns;
	/* Latency (udpd_data.c): a datagram enters the stack when udpd takes its record (t_in =
	 * t_arr = tx_now, read once per session's turn); one going up is measured when its
	 * record is committed to its socket's ring (one clock read per record, t_ring). */
	uint64_t tx_now;
	struct hist inside_to_app; /* arrival from ipd -> in the application's ring */
	struct hist total_to_app;  /* stack entry (t_in, at nicd) -> in the application's ring */
	struct hist transit_from_app; /* application's commit of a TX record -> udpd's turn */
	/* in the application's ring -> taken by the application: what the applications counted
	 * (region_app_collect), of the sessions that ended and, at each STATS, the live ones */
	struct hist app_transit_from_udpd;
	uint16_t cork_bufs[UDP_SOCKETS_MAX];
	uint64_t cork_charge[UDP_SOCKETS_MAX];
	/* A socket whose CLOSE waits for its records: what they may still send (its send buffer
	 * and one record more: what send() can have accepted), by sid index. */
	bool closing[UDP_SOCKETS_MAX];
	uint64_t close_allow[UDP_SOCKETS_MAX];
	unsigned corked_all;     /* buffers in all corks */
	/* The TX round: whose turn is next (round robin, udp_tx_sched.h), what holds it back. */
	struct udp_tx_sched tx_sched;
	bool link_room;          /* the link to ipd takes the batch being filled (asked) */
	bool tx_wait_link;       /* the link to ipd is full: resume on its POLLOUT */
	bool tx_wait_pool;       /* the pool is down to the reserve: resume on the retry timer */
	int tx_link_src;         /* loop source of the link's POLLOUT */
	int tx_timer_id;
	/* Heads for the round's datagrams, taken from the pool UDPD_TX_STASH at a time (one
	 * pool lock for many) and the rest given back when the round ends (udpd_tx_done). */
	struct buf *tx_stash[UDPD_TX_STASH];
	unsigned tx_stash_n;
	/* Scratch of the data path, here rather than on the stack (struct udp_rx is 4 KiB). */
	struct udp_rx rx;
	uint64_t rx_copied;      /* bytes copied into RX rings this pass */
	struct buf *out[DESC_BATCH_MAX];
	struct desc out_desc[DESC_BATCH_MAX];
	uint32_t out_sid[DESC_BATCH_MAX]; /* 0: not a datagram of a socket */
	uint16_t out_uid[DESC_BATCH_MAX]; /* its uid's entry, UDPD_UIDS_MAX: none */
	uint16_t out_bufs[DESC_BATCH_MAX];
	unsigned n_out;
	uint64_t tx_work;        /* datagrams emitted or corked: what the TX budget counts */
	uint64_t tx_bytes;       /* payload bytes emitted or corked, ever */
	uint64_t tx_bytes_end;   /* where this TX round stops (UDPD_TX_ROUND_BYTES) */
	/* start-up facts, for STATS */
	uint64_t started;
	uint64_t reclaimed;
	uint64_t generation;
	uint64_t restored_sockets;
	uint64_t restored_sessions;
	bool state_fresh;
	struct udpd_stats stats;
};

/* --- udpd_state.c --- */

/* Attach or create the state segment and take over what it holds (udpd_store_recover: the
 * journal rolled back, every record checked alone, every link repaired; or a fresh payload):
 * the sessions (marked DETACHED with a deadline of now + XPORT_RESUME_GRACE_NS) and the reverse
 * slot map. 0 or negative errno (logged). */
int udpd_state_open(struct udpd *u, uint64_t now);
void udpd_state_close(struct udpd *u);

/* Record index of an owner, or -1 if it names no session record in use with that owner. */
int udpd_session_of_owner(const struct udpd *u, uint32_t owner);

/* --- udpd_session.c --- */

/* udpd's operations for the shared machinery (xport.h). */
extern const struct xport_ops udpd_xport_ops;
/* End session si now (xport_session_end). */
void udpd_session_end(struct udpd *u, unsigned si, const char *why);
/* The per-uid shares (xport_quota_init with udpd's totals, then the cork limits), after
 * udpd_state_open. */
void udpd_quota_init(struct udpd *u);
/* Index of the uid entry of socket slot k's session, or UDPD_UIDS_MAX if none. */
unsigned udpd_sock_uid(const struct udpd *u, unsigned k);
/* Sockets open in sessions of uid (a walk of the table). */
unsigned udpd_uid_sockets(const struct udpd *u, uint32_t uid);
/* Fold what session si's application counted of the hop from udpd to it since the last look
 * into app_transit_from_udpd (region_app_collect; its region must be mapped: ATTACHED or
 * CLOSING). STATS does it for every such session, session end for its own. */
void udpd_app_collect(struct udpd *u, unsigned si);

/* --- udpd_requests.c --- */

/* The xport_ops request hooks (udpd_xport_ops names them). */
bool udpd_op_mutates(int op);
int udpd_req_dispatch(void *tp, unsigned si, const Ustack__SockRequest *q, Ustack__SockReply *r,
		      struct xport_req *req);
int udpd_req_handle(void *tp, unsigned si, const Ustack__SockRequest *q, Ustack__SockReply *r,
		    struct xport_req *req);
bool udpd_req_resent(void *tp, unsigned si, const Ustack__SockRequest *q, const uint8_t *ident,
		     size_t ident_len);
void udpd_req_txn_begin(void *tp, unsigned si);
void udpd_req_txn_end(void *tp, unsigned si, const struct xport_reply_rec *reply);
void udpd_req_acted(void *tp);
/* Answer the CLOSEs of session si whose socket's records are all read now (the TX round calls
 * it after publishing the tail). */
void udpd_requests_close_ready(struct udpd *u, unsigned si);
/* Forget session si's waiting CLOSEs and parked requests (it ended: nobody to answer). */
void udpd_requests_close_forget(void *tp, unsigned si);

/* --- udpd_data.c --- */

/* Loop source: batches from ipd. */
bool udpd_rx_batch(void *arg, uint64_t now);

/* Read records of session si's TX ring (ATTACHED or CLOSING) that start before `limit`
 * (UINT64_MAX: no limit), until `budget` of them sent or corked a datagram or UDPD_TX_READS
 * times that many were read. Records are consumed, not yet given back: the TX round publishes
 * the tail once their datagrams are handed to ipd (udpd_tx_done). */
/* Answers (udp_tx_sched.h): IDLE nothing (more) to read or the limit reached, MORE the budget
 * ran out first, BLOCKED held back by the link to ipd or the pool (u->tx_wait_*), ENDED the
 * ring was broken and the session ended. */
enum udp_tx_turn udpd_tx_session(struct udpd *u, unsigned si, unsigned budget, uint64_t limit);
/* One TX round over every session with records pending (udp_tx_sched: round robin, turns of
 * UDPD_TX_BUDGET, a turn the link or the pool cut short finished first in the next round),
 * then udpd_tx_done. True if work was left (budget) and nothing holds it back. */
bool udpd_tx_round(struct udpd *u);
/* End of TX work in a pass: the batch to ipd goes out, every session read from gets its TX
 * tail published and its tx_held written (the application's send buffer frees), waiting
 * CLOSEs are answered, CLOSING sessions that are done end. */
void udpd_tx_done(struct udpd *u);
/* Loop callbacks of the back-pressure: the link to ipd became writable; the retry timer. */
bool udpd_tx_link_ready(void *arg, uint64_t now);
uint64_t udpd_tx_timer(void *arg, uint64_t now);
/* Emit what tx asks for (udp_output / udp_push_pending) for socket sid, with this call's
 * payload (may be NULL when its length is 0); charge is the send-buffer charge of the record it
 * came from (0 for none), kept with the socket while the payload is corked. */
void udpd_tx_apply(struct udpd *u, uint32_t sid, const struct udp_tx *tx, const void *payload,
		   uint32_t payload_len, uint64_t charge);
/* Free the corked chain of socket slot idx (closing, corks dropped). */
void udpd_cork_free(struct udpd *u, unsigned idx);
/* Send the queued batch to ipd. */
void udpd_out_flush(struct udpd *u);
/* Mark the socket sid's slot for waking (pending error set), if it has one. */
void udpd_wake_sid(struct udpd *u, uint32_t sid);

/* --- udpd_errq.c --- */

/* Queue the ICMP error rep (rep->queue) for its socket: offender sent it, payload[0..len) is
 * the quoted payload (cut to UDPD_ERRQ_PAYLOAD). A full queue or no memory: counted, dropped
 * (the pending error is set anyway, as Linux's when sock_queue_err_skb fails). */
void udpd_errq_push(struct udpd *u, const struct udp_icmp_report *rep, uint32_t offender,
		    const struct buf *pkt, uint32_t payload_at, uint32_t payload_len);
/* Take the oldest entry of sid's queue into *out; *next_err is the errno of the entry after it
 * (0 if none). 0, or -EAGAIN when the queue is empty. */
int udpd_errq_pop(struct udpd *u, uint32_t sid, struct udpd_err *out, uint8_t *next_err);
/* Empty sid's queue (IP_RECVERR turned off, the socket closed or opened). */
void udpd_errq_purge(struct udpd *u, uint32_t sid);
/* Free every queue (exit). */
void udpd_errq_free_all(struct udpd *u);

/* --- udpd_sockets.c --- */

/* ctl SOCKETS: one page of the socket table from req->cursor (ss -una). 0 or -ENOMEM. */
int udpd_ctl_sockets(struct udpd *u, const Ustack__CtlRequest *req, Ustack__CtlReply *r,
		     struct ctl_server *srv);

#endif
