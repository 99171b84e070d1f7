/* xport: the machinery every transport server (ustack-udpd, ustack-tcpd) shares around its
 * protocol core — applications' sessions, their socket requests, the per-uid shares, and the
 * wake-ups of their sockets. A transport plugs in with a small operations table (struct
 * xport_ops: FreeBSD's protosw is the model) and keeps only what is its protocol's.
 *
 * What it does (each file opens with the details):
 *   xport_session.c  <runtime dir>/<layer>.session: accept without waiting for the hello, the
 *                    hello (SO_PEERCRED, the region of the transport's kind, eventfds checked),
 *                    SESSION_NEW (id and secret from getrandom) and SESSION_RESUME (same uid,
 *                    the secret, only a DETACHED session), the epoll set of every session's
 *                    descriptors, a session's leaving and end, the resume grace period after a
 *                    restart
 *   xport_requests.c <runtime dir>/<layer>.sock: socket requests (proto/sock.proto) on a
 *                    ZeroMQ ROUTER, authenticated by session id and secret, a mutating one run
 *                    in one transaction of the state segment with the reply remembered for it,
 *                    a re-sent one answered from that reply (xport_store.h)
 *   xport_quota.c    each uid's share of handshakes, sessions and sockets (and of pool buffers,
 *                    for the transport to enforce), and the uid table
 *   xport_wake.c     writing the applications' slot eventfds, batched per loop pass and never
 *                    blocking the loop
 *   xport_icmp.c     an ICMP error from ipd split into header and quote, lengths checked
 *   xport_shell.c    what every shell's init does alike: descriptor room, the endpoints
 *   xport_store.c    the session records in the state segment (pure; its own header)
 *
 * What stays the transport's (struct xport_ops): the region kind it serves, what a session's
 * records and sockets are in its state segment (opening and ending one), what happens when a
 * session attaches, leaves or rings its doorbell, and what each request does.
 *
 * Budgets (docs/ARCHITECTURE.md, Security: every loop over work an application controls has one): a
 * loop pass takes at most XPORT_EVENTS_BUDGET epoll events and XPORT_REQ_BUDGET requests.
 *
 * What lives where (docs/ARCHITECTURE.md, restart contract): the session records are in the
 * transport's state segment (xport_store.h); everything made of descriptors or mappings (the
 * session connection, its region, its eventfds, the epoll set) and the uid table are process
 * memory. A restart loses them: sessions come back DETACHED until their application resumes (within
 * XPORT_RESUME_GRACE_NS, else they are ended with their sockets); the uid table is rebuilt from
 * the records (xport_quota_init).
 */
#ifndef USTACK_XPORT_H
#define USTACK_XPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "loop.h"
#include "region.h"
#include "session.h"
#include "sock.pb-c.h"
#include "stats.h"
#include "xport_store.h"
#include "buf.h"
#include "desc.h"
#include "wire/icmp.h"

struct link;
struct pool;

#define XPORT_HANDSHAKES_MAX 16u   /* accepted connections whose hello has not arrived yet */
#define XPORT_HANDSHAKE_NS (1000 * CLOCK_NS_PER_MS)
#define XPORT_RESUME_GRACE_NS (10 * CLOCK_NS_PER_S)
#define XPORT_EVENTS_BUDGET 64u    /* epoll events per loop pass */
#define XPORT_REQ_BUDGET 32u       /* socket requests per loop pass */
#define XPORT_IDENTITY_MAX 256     /* a ROUTER peer identity (ZeroMQ: at most 255 bytes) */
#define XPORT_REQ_MAX 1024u        /* a packed SockRequest is ~100 bytes; ZMQ_MAXMSGSIZE */
#define XPORT_REPLY_MAX 2048u      /* a packed SockReply, the largest optval and data */
#define XPORT_REPLY_QUEUE 1000     /* replies ZeroMQ holds for one client (ZMQ_SNDHWM) */
#define XPORT_UIDS_MAX (XPORT_SESSIONS_MAX + XPORT_HANDSHAKES_MAX) /* uids seen at once */
#define XPORT_REPLY_LATER 1        /* a request handler: the reply is sent later */
#define XPORT_SCRATCH_MAX 1024u    /* what a reply may point into while it is packed */

/* Process-local side of a session. */
enum xport_sess_state {
	XPORT_SESS_FREE = 0,
	XPORT_SESS_ATTACHED, /* connection, region and eventfds here: serving */
	XPORT_SESS_DETACHED, /* found in the state segment after a restart: waiting for RESUME */
	XPORT_SESS_CLOSING,  /* the application left: its region stays mapped until the transport
			      * has finished what its sockets queued (xport_ops.session_leave) */
	XPORT_SESS_STATE_COUNT
};

struct xport_session {
	enum xport_sess_state state;
	uint32_t evgen;          /* epoll tags carry it: events of an earlier occupant are stale */
	int conn_fd;             /* the SEQPACKET connection; -1 when detached */
	int doorbell_fd;
	int slot_fd[REGION_SLOTS_MAX];
	pid_t pid;
	uint64_t deadline;       /* DETACHED: ended at this time unless resumed */
	uint64_t wake_mask;      /* slots whose eventfd to write at the end of this pass */
	unsigned uid_ix;         /* its creator's entry in uids (any state but FREE) */
	struct region region;    /* ATTACHED and CLOSING only */
};

struct xport_handshake {
	int fd;                  /* -1 when free */
	uint32_t evgen;
	unsigned uid_ix;         /* the connecting process's uid (SO_PEERCRED) */
	uint64_t deadline;
};

/* One uid's use of a transport server (xport_quota.c). Sessions and handshakes are counted as
 * they come and go; sockets are counted from the transport's table when asked; buffers by the
 * transport. */
struct xport_uid {
	uint32_t uid;
	uint32_t handshakes;
	uint32_t sessions;       /* records in use in any state (CLOSING and DETACHED too) */
	uint32_t buffers;        /* pool buffers in flight for it in the transport */
	uint32_t corked;         /* of which corked (udpd) */
	bool in_use;
};

/* The per-uid shares and the other limits, fixed at start (xport_quota_init). */
struct xport_limits {
	unsigned uid_handshakes;
	unsigned uid_sessions;
	unsigned uid_sockets;
	unsigned uid_buffers;
	unsigned uid_corked;     /* of uid_buffers, what corking may hold (udpd) */
	unsigned corked_all;     /* all corks together (udpd) */
	unsigned pool_reserve;   /* TX leaves at least this many pool buffers free */
};

/* The shared counters; every drop has one (STYLE 13). Names are the transport's stats' own
 * (`ustackctl stats` shows them as <layer>.<name>). */
struct xport_stats {
	uint64_t sessions_opened;
	uint64_t sessions_resumed;
	uint64_t sessions_closed;          /* every end: hangup, expiry, hostile */
	uint64_t sessions_expired;         /* detached and not resumed within the grace period */
	uint64_t sessions_closed_hostile;  /* broken ring, data on the session socket */
	uint64_t session_accept_errors;
	uint64_t session_refused_busy;     /* too many handshakes in progress */
	uint64_t session_refused_uid_busy; /* its uid has its share of handshakes in progress */
	uint64_t session_refused_uid;      /* its uid has its share of sessions (-EMFILE) */
	uint64_t session_refused_malformed;/* hello did not parse (session_server_recv) */
	uint64_t session_refused_timeout;  /* no hello within XPORT_HANDSHAKE_NS */
	uint64_t session_refused_full;     /* no free session record */
	uint64_t session_refused_region;   /* region_attach failed */
	uint64_t session_refused_fds;      /* doorbell or slot descriptor not an eventfd */
	uint64_t session_refused_auth;     /* RESUME: unknown session, wrong uid or secret */
	uint64_t session_refused_busy_resume; /* RESUME of a session that is attached */
	uint64_t req_total;
	uint64_t req_malformed;            /* answered -EBADMSG (or dropped without identity) */
	uint64_t req_eperm;                /* session/secret did not match */
	uint64_t req_detached;             /* -ENOTCONN: session not resumed yet */
	uint64_t req_replayed;             /* answered from the reply record */
	uint64_t req_reply_drops;          /* reply not sent (client gone, queue full) */
	uint64_t sock_refused_uid;         /* SOCKET: its uid has its share of sockets (-EMFILE) */
	uint64_t sock_refused_full;        /* SOCKET: the table is full (-ENFILE) */
	uint64_t rx_wake_saturated;        /* slot eventfd counter at its maximum: no write */
	uint64_t doorbell_reads;
};

extern const struct stat_field xport_stat_fields[];
extern const unsigned xport_stat_field_count;

struct xport;

/* A request being served: where it came from (for a reply sent later), its packed bytes (for a
 * transport that parks it), and memory its reply may point into. */
struct xport_req {
	const uint8_t *ident;
	size_t ident_len;
	const uint8_t *body;
	size_t body_len;
	_Alignas(8) uint8_t scratch[XPORT_SCRATCH_MAX];
};

/* The transport's operations. tp is the transport's own struct (xport.tp). */
struct xport_ops {
	const char *layer;              /* "udpd": udpd.session, udpd.sock */
	enum region_kind region_kind;   /* of the regions it serves */

	/* --- sessions --- */
	/* Take free record si for a new session, in one transaction that also makes sure no
	 * socket still carries its new owner. */
	void (*session_open)(void *tp, unsigned si, uint64_t id,
			     const uint8_t secret[SESSION_SECRET_LEN], uint32_t uid,
			     uint32_t n_slots);
	/* Session si is ATTACHED (created, or resumed: its region and eventfds are new). */
	void (*session_attached)(void *tp, unsigned si, bool created);
	/* The application left attached session si (its descriptors are about to close, its
	 * region stays mapped): true to keep it CLOSING while the transport finishes what its
	 * sockets queued (the transport calls xport_session_end when done), false to end it. */
	bool (*session_leave)(void *tp, unsigned si);
	/* Session si ends: forget what the transport keeps for it in process memory, then close
	 * its sockets and free its record (xport_session_end calls this; the region is still
	 * mapped while it runs, unless the session was DETACHED). */
	void (*session_end)(void *tp, unsigned si);
	/* Its doorbell rang (read already). */
	void (*doorbell)(void *tp, unsigned si);
	/* After each pass over the session events: the transport's own round. True if it left
	 * work behind. May be NULL. */
	bool (*events_done)(void *tp);

	/* --- requests --- */
	/* Does op change state (runs in a transaction, its reply is remembered)? */
	bool (*op_mutates)(int op);
	/* The operation itself: 0 or a negative errno (the status), filling r. Inside the
	 * request's transaction when it mutates (xport_req_act). */
	int (*dispatch)(void *tp, unsigned si, const Ustack__SockRequest *q, Ustack__SockReply *r,
			struct xport_req *req);
	/* Open / commit the transaction of a mutating request of session si; txn_end remembers
	 * reply with it. */
	void (*txn_begin)(void *tp, unsigned si);
	void (*txn_end)(void *tp, unsigned si, const struct xport_reply_rec *reply);
	/* Optional. Decide how request q of attached session si is served, after the session,
	 * secret and replay checks: return xport_req_act(...)'s way (0, r filled) or
	 * XPORT_REPLY_LATER (the transport answers later with xport_reply_send). NULL: act now. */
	int (*handle)(void *tp, unsigned si, const Ustack__SockRequest *q, Ustack__SockReply *r,
		      struct xport_req *req);
	/* Optional: after a request acted (its transaction committed): output it caused. */
	void (*acted)(void *tp);
	/* Optional: a reply answered from its record, for fields the record does not keep. */
	void (*replayed)(void *tp, unsigned si, const Ustack__SockRequest *q, Ustack__SockReply *r,
			 struct xport_req *req);
	/* Optional: a re-send of a request the transport holds (same id and op): true if so (its
	 * latest asker is noted and gets the answer). */
	bool (*resent)(void *tp, unsigned si, const Ustack__SockRequest *q, const uint8_t *ident,
		       size_t ident_len);
	/* Forget every request of session si the transport holds (the session ended or left). */
	void (*forget)(void *tp, unsigned si);

	/* --- shares --- */
	/* Sockets open in sessions of uid (a walk of the transport's table). */
	unsigned (*uid_sockets)(void *tp, uint32_t uid);
};

struct xport {
	const struct xport_ops *ops;
	void *tp;                    /* the transport's struct, handed to every op */
	const char *instance;
	struct loop *loop;
	void *zctx;
	void *router;                /* <layer>.sock */
	struct xport_session_rec *recs; /* in the transport's state segment */
	int epfd;                    /* every session descriptor and the listening socket */
	int listen_fd;
	int spare_fd;                /* kept to shed a connection when descriptors run out */
	int sess_src;                /* loop source of the epoll set */
	int timer_id;                /* sessions' timer (handshakes, resume grace) */
	struct xport_session sess[XPORT_SESSIONS_MAX];
	struct xport_handshake hs[XPORT_HANDSHAKES_MAX];
	uint32_t evgen_next;
	struct xport_limits lim;
	struct xport_uid uids[XPORT_UIDS_MAX];
	uint16_t wake_list[XPORT_SESSIONS_MAX];
	unsigned n_wake;
	struct xport_stats stats;
};

/* --- life (in the shell's init order) --- */

/* Every descriptor field to -1 and the ops and transport set (before anything else, so fini is
 * safe at any point). */
void xport_preinit(struct xport *x, const struct xport_ops *ops, void *tp, const char *instance);
/* Lift the soft RLIMIT_NOFILE towards the hard one: sessions bring 2 + n_slots descriptors
 * each (xport_shell.c). */
void xport_raise_nofile(void);

/* What xport_endpoints_open opens, and for whom. */
struct xport_endpoints {
	void *zctx;
	struct pool *pool;
	struct link **from_ipd, **to_ipd; /* <layer>-to-ipd / ipd-to-<layer> links, opened */
	ctl_handler_fn ctl_fn;            /* <layer>.ctl's handler */
	void *ctl_arg;
	struct ctl_server **ctl;
	const char *what;                 /* what ipd's absence drops, for the log ("segments") */
};
/* The links with ipd (waiting up to 500 ms for ipd, then going on without it), the requests
 * ROUTER, the session listener and the ctl socket, in that order (xport_shell.c); each failure
 * logged. 0 or a negative errno. */
int xport_endpoints_open(struct xport *x, const struct xport_endpoints *e);
/* The session records (in the state segment) are here: restored ones in use become DETACHED
 * with a deadline of now + XPORT_RESUME_GRACE_NS. Returns how many. */
unsigned xport_sessions_restore(struct xport *x, struct xport_session_rec *recs, uint64_t now);
/* Bind the <layer>.sock ROUTER. */
int xport_requests_open(struct xport *x, void *zctx);
/* The epoll set and the listening <layer>.session socket: applications may come from here. */
int xport_sessions_open(struct xport *x);
/* Add the sources (requests, the epoll set) and the sessions' timer to the loop. */
int xport_loop_add(struct xport *x, struct loop *loop);
/* Leave the records alone (the next server resumes them); close every descriptor. */
void xport_close(struct xport *x);

/* --- sessions (xport_session.c) --- */

/* End session si now: the transport's session_end (its sockets, its record), then its
 * descriptors closed and region unmapped. `why` is logged. */
void xport_session_end(struct xport *x, unsigned si, const char *why);
/* The application left attached session si: CLOSING if the transport keeps it
 * (session_leave), else ended. */
void xport_session_leave(struct xport *x, unsigned si, const char *why);
unsigned xport_sessions_count(const struct xport *x, enum xport_sess_state state);
uint64_t xport_sessions_next_deadline(const struct xport *x);
/* Loop callbacks. */
bool xport_sessions_ready(void *arg, uint64_t now);
uint64_t xport_sessions_timer(void *arg, uint64_t now);
/* Constant-time comparison of a session's secret with b (b_len bytes, wrong length: false). */
bool xport_secret_equal(const uint8_t *a, const uint8_t *b, size_t b_len);
/* The session record of an owner, or -1. */
int xport_session_of(const struct xport *x, uint32_t owner);

/* --- requests (xport_requests.c) --- */

bool xport_requests_ready(void *arg, uint64_t now);
/* Act on request q of session si now, filling r: a mutating request in one transaction with
 * the reply remembered for it; then the transport's acted hook. */
void xport_req_act(struct xport *x, unsigned si, const Ustack__SockRequest *q,
		   Ustack__SockReply *r, struct xport_req *req);
/* Answer r from the reply remembered for a mutating request q, if there is one. */
bool xport_req_replay(struct xport *x, unsigned si, const Ustack__SockRequest *q,
		      Ustack__SockReply *r, struct xport_req *req);
/* Send r to ident (ZMQ_DONTWAIT: a client that stopped reading never wedges the loop). Only
 * once what it describes has committed. */
void xport_reply_send(struct xport *x, const void *ident, size_t ident_len,
		      const Ustack__SockReply *r);

/* --- ICMP errors (xport_icmp.c) --- */

/* ICMP error pkt (d: DESC_F_ICMP_ERROR from ipd) into its header and the first quoted_max
 * bytes of the quoted datagram (*quoted_len: how many there were). -EBADMSG if either is cut
 * short (the caller counts it). */
int xport_icmp_split(const struct buf *pkt, const struct desc *d, struct icmp_hdr *ih,
		     uint8_t *quoted, size_t quoted_max, size_t *quoted_len);

/* --- shares (xport_quota.c) --- */

/* The shares from the config's percentage and counts: of XPORT_HANDSHAKES_MAX handshakes,
 * XPORT_SESSIONS_MAX sessions, sockets_total sockets, buffers_total pool buffers (with the
 * floors one ordinary application needs: sockets_floor, buffers_floor); then the uid table from
 * the restored session records. */
void xport_quota_init(struct xport *x, const struct ustack_config *cfg, unsigned sockets_total,
		      unsigned sockets_floor, unsigned buffers_total, unsigned buffers_floor);
/* The entry of uid, taken if new: its index, or -ENOSPC (never: there are entries for every
 * session and handshake). */
int xport_uid_get(struct xport *x, uint32_t uid);
/* Free entry ix if nothing counts against it any more. */
void xport_uid_release(struct xport *x, unsigned ix);
/* Buffers move in or out of uid entry ix's count (corked: part of a cork). */
void xport_uid_bufs_add(struct xport *x, unsigned ix, unsigned n, bool corked);
void xport_uid_bufs_sub(struct xport *x, unsigned ix, unsigned n, bool corked);
/* Index of the uid entry of the session that owns `owner`, or XPORT_UIDS_MAX if none. */
unsigned xport_owner_uid(const struct xport *x, uint32_t owner);
/* STATS: the limits and every uid's use, as counters (limit_uid_*, uid.<uid>.*), and the
 * transport's own limits (extra, n of them). */
int xport_quota_report(struct xport *x, struct ctl_server *srv, Ustack__CtlReply *r,
		       unsigned sockets_max);
/* STATS: xport_stat_fields and the sessions' gauges (sessions_in_use, _detached, _closing). */
int xport_stats_report(struct xport *x, struct ctl_server *srv, Ustack__CtlReply *r);

/* What every transport's STATS reply carries besides its own counters: its links with ipd, the
 * latency of the hops between ipd and its applications (issue 8; app_transit is what the
 * applications reported, region_app_collect, named "app_transit_from_<layer>"), and what its
 * start found (restored sessions, the state segment's generation, buffers reclaimed). */
struct xport_shell_stats {
	struct link *from_ipd, *to_ipd;
	const struct hist *inside_to_app, *total_to_app, *transit_from_app, *app_transit;
	uint64_t restored_sessions, generation, reclaimed;
	const struct loop *loop; /* its busy polls */
};
int xport_shell_report(const struct xport *x, struct ctl_server *srv, Ustack__CtlReply *r,
		       const struct xport_shell_stats *s);

/* --- wake-ups (xport_wake.c) --- */

/* Mark slot of session si for waking at the end of the pass / write every marked eventfd. */
void xport_wake_mark(struct xport *x, unsigned si, unsigned slot);
void xport_wake_flush(struct xport *x);
/* Write one eventfd now, the safe way (xport_wake.c). */
void xport_wake_fd(struct xport *x, int fd);

#endif
