/* udpd_priv: the inside of the ustack-udpd server shell, shared by its files.
 *
 * Files and what each owns (one concern each):
 *   udpd_main.c      init() in its documented order, the loop's glue, ctl (STATUS/STATS), fini
 *   udpd_state.c     the state segment's layout, attach, and restoring what it kept
 *   udpd_session.c   the session socket: accept, hello, SESSION_NEW/RESUME, the epoll set of all
 *                    sessions' descriptors, session end, the resume grace period
 *   udpd_requests.c  socket requests (proto/sock.proto) on the udpd.sock ROUTER
 *   udpd_data.c      datagrams: from ipd into the applications' RX rings, from their TX rings
 *                    (with corking) to ipd, ICMP errors, port unreachable
 *   udpd_store.c     the state segment's records and their transactions (pure: it is built
 *                    into the core library, so the unit tests cut its updates at every store)
 *
 * What lives where (DESIGN.md, restart contract):
 *   state segment (/ustack-<instance>-udp-state, struct udpd_state, udpd_store.h): the udp_core
 *     socket table and the session table (id, secret, creator uid, slots -> sockets, the last
 *     replies); plain sealed records updated in transactions, so a restarted udpd finds every
 *     socket and every session again, each as it was after its last completed update;
 *   process memory (struct udpd): everything made of descriptors or mappings (the session
 *     connection, its region, its eventfds, the epoll set) and the corked payload chains. A
 *     restart loses them: sessions come back "detached" until their application resumes (within
 *     UDPD_RESUME_GRACE_NS, else they are closed with their sockets); corked, not yet sent
 *     datagrams are lost, as udp_table_recover counts (cork_lost_restart).
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
#include "link.h"
#include "loop.h"
#include "pool.h"
#include "region.h"
#include "session.h"
#include "state_segment.h"
#include "stats.h"
#include "udp_core.h"
#include "udpd_store.h"

#define UDPD_LAYER "udpd"          /* endpoints: udpd.sock, udpd.session, udpd.ctl */
#define UDPD_STATE_LAYER "udp"     /* the state segment: /ustack-<instance>-udp-state */
#define UDPD_HANDSHAKES_MAX 16u    /* accepted connections whose hello has not arrived yet */
#define UDPD_HANDSHAKE_NS (1000 * CLOCK_NS_PER_MS)
#define UDPD_RESUME_GRACE_NS (10 * CLOCK_NS_PER_S)
#define UDPD_RX_BUDGET 4u          /* batches from ipd per loop pass */
#define UDPD_TX_BUDGET 64u         /* TX records per session per loop pass (the NAPI budget) */
#define UDPD_EVENTS_BUDGET 64u     /* epoll events per loop pass */
#define UDPD_REQ_BUDGET 32u        /* socket requests per loop pass */

/* Process-local side of a session. */
enum udpd_sess_state {
	UDPD_SESS_FREE = 0,
	UDPD_SESS_ATTACHED, /* connection, region and eventfds here: serving */
	UDPD_SESS_DETACHED, /* found in the state segment after a restart: waiting for RESUME */
	UDPD_SESS_STATE_COUNT
};

struct udpd_session {
	enum udpd_sess_state state;
	uint32_t evgen;          /* epoll tags carry it: events of an earlier occupant are stale */
	int conn_fd;             /* the SEQPACKET connection; -1 when detached */
	int doorbell_fd;
	int slot_fd[REGION_SLOTS_MAX];
	pid_t pid;
	uint64_t deadline;       /* DETACHED: closed at this time unless resumed */
	uint64_t wake_mask;      /* slots whose eventfd to write at the end of this pass */
	bool tx_pending;         /* TX records left behind by the budget */
	struct region region;    /* ATTACHED only */
};

struct udpd_handshake {
	int fd;                  /* -1 when free */
	uint32_t evgen;
	uint64_t deadline;
};

/* The shell's own counters; every drop it makes has one (STYLE 13). */
struct udpd_stats {
	uint64_t sessions_opened;
	uint64_t sessions_resumed;
	uint64_t sessions_closed;          /* every end: hangup, expiry, hostile */
	uint64_t sessions_expired;         /* detached and not resumed within the grace period */
	uint64_t sessions_closed_hostile;  /* broken TX/RX ring, data on the session socket */
	uint64_t session_accept_errors;
	uint64_t session_refused_busy;     /* too many handshakes in progress */
	uint64_t session_refused_malformed;/* hello did not parse (session_server_recv) */
	uint64_t session_refused_timeout;  /* no hello within UDPD_HANDSHAKE_NS */
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
	uint64_t rx_drop_not_udp;          /* descriptor for another protocol */
	uint64_t rx_drop_detached;         /* socket's session has no region (also rcvbuf_errors) */
	uint64_t rx_drop_orphan;           /* socket with no session/slot (never expected) */
	uint64_t rx_truncated;             /* datagram larger than the slot ring takes */
	uint64_t rx_port_unreach;          /* datagrams handed back for ICMP port unreachable */
	uint64_t rx_wake_saturated;        /* slot eventfd counter at its maximum: no write */
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
	uint64_t doorbell_reads;
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
	void *router;            /* udpd.sock */
	struct loop *loop;
	int timer_id;
	struct state_segment *seg;
	struct udpd_state *st;
	struct udp_table *t;
	int epfd;                /* every session descriptor and the listening socket */
	int listen_fd;
	int spare_fd;            /* kept to shed a connection when descriptors run out */
	struct udpd_session sess[UDPD_SESSIONS_MAX];
	struct udpd_handshake hs[UDPD_HANDSHAKES_MAX];
	uint32_t evgen_next;
	/* Reverse map of the session records: the slot of each socket (by sid index). */
	uint8_t sock_slot[UDP_SOCKETS_MAX];
	/* Corked payload of each socket (by sid index): process memory, lost on restart. */
	struct buf *cork[UDP_SOCKETS_MAX];
	bool cork_broken[UDP_SOCKETS_MAX];
	/* Scratch of the data path, here rather than on the stack (struct udp_rx is 4 KiB). */
	struct udp_rx rx;
	uint16_t wake_list[UDPD_SESSIONS_MAX];
	unsigned n_wake;
	struct buf *out[DESC_BATCH_MAX];
	struct desc out_desc[DESC_BATCH_MAX];
	uint32_t out_sid[DESC_BATCH_MAX]; /* 0: not a datagram of a socket */
	unsigned n_out;
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
 * the sessions (marked DETACHED with a deadline of now + UDPD_RESUME_GRACE_NS) and the reverse
 * slot map. 0 or negative errno (logged). */
int udpd_state_open(struct udpd *u, uint64_t now);
void udpd_state_close(struct udpd *u);

/* Record index of an owner, or -1 if it names no session record in use with that owner. */
int udpd_session_of_owner(const struct udpd *u, uint32_t owner);

/* --- udpd_session.c --- */

/* Every descriptor field to -1 (before anything else, so fini is safe at any point). */
void udpd_sessions_preinit(struct udpd *u);
/* The epoll set and the listening session socket. */
int udpd_sessions_open(struct udpd *u);
void udpd_sessions_close(struct udpd *u);
/* Loop source: the epoll set (accept, hellos, hangups, doorbells) and TX budgets left over. */
bool udpd_sessions_ready(void *arg, uint64_t now);
/* End a session: its sockets closed, corks freed, descriptors closed, region unmapped, record
 * cleared. `why` is logged. */
void udpd_session_end(struct udpd *u, unsigned si, const char *why);
/* Timer: expire detached sessions and stale handshakes; returns the next deadline. */
uint64_t udpd_sessions_timer(void *arg, uint64_t now);
uint64_t udpd_sessions_next_deadline(const struct udpd *u);
unsigned udpd_sessions_count(const struct udpd *u, enum udpd_sess_state state);
/* Constant-time comparison of a session's secret with b (b_len bytes, wrong length: false). */
bool udpd_secret_equal(const uint8_t *a, const uint8_t *b, size_t b_len);

/* --- udpd_requests.c --- */

int udpd_requests_open(struct udpd *u);
void udpd_requests_close(struct udpd *u);
bool udpd_requests_ready(void *arg, uint64_t now);

/* --- udpd_data.c --- */

/* Loop source: batches from ipd. */
bool udpd_rx_batch(void *arg, uint64_t now);
/* Take up to UDPD_TX_BUDGET records from session si's TX ring; true if some were left. */
bool udpd_tx_session(struct udpd *u, unsigned si);
/* Drain everything the session's application has queued in its TX ring (before a CLOSE, and
 * before a session ends), so datagrams send() accepted are not lost. */
void udpd_tx_flush(struct udpd *u, unsigned si);
/* Emit what tx asks for (udp_output / udp_push_pending) for socket sid, with this call's
 * payload (may be NULL when its length is 0). */
void udpd_tx_apply(struct udpd *u, uint32_t sid, const struct udp_tx *tx, const void *payload,
		   uint32_t payload_len);
/* Free the corked chain of socket slot idx (closing, corks dropped). */
void udpd_cork_free(struct udpd *u, unsigned idx);
/* Send the queued batch to ipd / write the eventfds of the slots marked for waking. */
void udpd_out_flush(struct udpd *u);
void udpd_wake_flush(struct udpd *u);
/* Mark slot of session si for waking at the end of the pass. */
void udpd_wake_mark(struct udpd *u, unsigned si, unsigned slot);
/* Mark the socket sid's slot for waking (pending error set), if it has one. */
void udpd_wake_sid(struct udpd *u, uint32_t sid);

#endif
