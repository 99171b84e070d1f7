/* sock_priv: the inside of libsock, shared by its files (the design is in sock.c's opening
 * comment). Nothing here is exported: the library is built with -fvisibility=hidden and a
 * version script that keeps only us_* global.
 *
 * Files and what each owns:
 *   sock.c              the design; socket/bind/connect/close, names, options, fcntl, shutdown,
 *                       listen, accept: argument checks and the split by socket type
 *   sock_table.c        the fd table: slot allocation, fd lookup, per-socket state and locks
 *   sock_session.c      process-wide setup (per transport: region, eventfds, ZeroMQ),
 *                       SESSION_NEW/RESUME, the watcher thread
 *   sock_req.c          the request channels: ids, re-send across a server restart, the bound
 *   sock_data.c         datagram send and recv through the DGRAM region's rings, pending errors
 *   sock_stream.c       stream sockets' control calls (connect, listen, accept, shutdown, close,
 *                       errors) over the slot block
 *   sock_stream_data.c  stream send and recv through the STREAM region's byte rings, readiness
 *   sock_poll.c         us_poll
 *
 * Transports: one per socket type, each with its own server, session, region and request
 * channel (struct sock_tport): SOCK_TP_UDP (udpd, a DGRAM region) and SOCK_TP_TCP (tcpd, a
 * STREAM region). A socket is a slot of its transport's region.
 *
 * Locks, in the only order they may nest: a socket's rx_lock, then its tx_lock (stream
 * sockets), then a transport's req_lock, then setup_lock, then the UDP tx_lock, then tab_lock.
 * tab_lock is held only for a few loads and stores (never across a syscall that waits);
 * req_lock is held across a request round trip (bounded by SOCK_RESTART_BOUND_MS); no lock is
 * held while a call waits for data, room or a state change.
 */
#ifndef USTACK_SOCK_PRIV_H
#define USTACK_SOCK_PRIV_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "region.h"
#include "ring.h"
#include "route.h"
#include "session.h"
#include "sock.pb-c.h"
#include "stream_ring.h"

#define SOCK_SLOTS 64u                 /* sockets per process and type: one region slot each */
/* A stream socket's send and receive buffers: its slot's TX and RX byte rings
 * (sock_session.c says why this size). */
#define SOCK_TCP_RING (2048u << 10)
#define SOCK_REQ_TIMEOUT_MS 300        /* no reply within this: look at the session, re-send */
#define SOCK_RESTART_BOUND_MS 5000     /* give up a request (or an open) after this long */
#define SOCK_RESUME_TIMEOUT_MS 300     /* one SESSION_NEW/RESUME handshake */
/* A server that went away is looked for again every SOCK_RESUME_RETRY_FAST_MS for the first
 * SOCK_RESUME_FAST_FOR_MS, then every SOCK_RESUME_RETRY_MS (sock_session_retry_ms). */
#define SOCK_RESUME_RETRY_FAST_MS 5
#define SOCK_RESUME_FAST_FOR_MS 2000
#define SOCK_RESUME_RETRY_MS 50
#define SOCK_HINT_BOUND_MS 1000        /* SO_ERROR asked because of an eventfd hint */
#define SOCK_UDP_MAX_PAYLOAD 65507u    /* 65,535 - 20 (IPv4 header) - 8 (UDP header) */
#define SOCK_OPTVAL_MAX 256u           /* largest option value we carry (struct tcp_info) */
#define SOCK_OPTVAL_MAX_UDP 64u        /* what udpd is ever sent: no UDP option is larger */
#define SOCK_ERRQ_DATA_MAX 548u        /* an error queue entry's payload (udpd's bound) */
#define SOCK_SOMAXCONN 4096            /* Linux net.core.somaxconn: listen()'s backlog cap */

enum sock_tp {
	SOCK_TP_UDP = 0, /* SOCK_DGRAM: udpd */
	SOCK_TP_TCP,     /* SOCK_STREAM: tcpd */
	SOCK_TP_COUNT
};

enum sock_state {
	SOCK_ST_FREE = 0,
	SOCK_ST_OPENING, /* slot reserved by us_socket/us_accept, request under way */
	SOCK_ST_OPEN,
	SOCK_ST_CLOSING, /* the app's fd is closed; the server has not confirmed CLOSE yet, or (a
			  * stream) has not released the slot yet */
	SOCK_ST_STUCK,   /* the server holds a socket here we have no sid for (a SOCKET reply was
			  * lost): unusable until the session changes */
	SOCK_ST_COUNT
};

/* Linux's struct socket state: what the socket layer (libsock) knows of a stream socket, as
 * opposed to the connection's state (sk_state), which is the server's and read from the slot
 * block. inet_stream_connect decides by both. */
enum sock_ss {
	SOCK_SS_UNCONNECTED = 0,
	SOCK_SS_CONNECTING,
	SOCK_SS_CONNECTED,
	SOCK_SS_DISCONNECTING, /* shutdown() of a failed connect, or a disconnect that failed:
				* connect() says EINVAL, as Linux */
	SOCK_SS_COUNT
};

#define SOCK_SHUT_RD 0x1u /* shutdown(SHUT_RD) was called here (Linux RCV_SHUTDOWN) */
#define SOCK_SHUT_WR 0x2u /* shutdown(SHUT_WR) (SEND_SHUTDOWN) */

/* One socket = one region slot of its transport. Written under tab_lock; the data paths copy
 * what they need into a struct sock_ref and go on without the lock. */
struct sock_entry {
	enum sock_state state;
	int fd;               /* what the application holds: a dup of slot_fd[slot]; -1 when none */
	uint32_t sid;         /* the server's socket id */
	uint32_t gen;         /* bumped whenever the slot is freed: refs taken before go stale */
	uint32_t sess_gen;    /* the session this socket was opened in (see sock_tport.sess_gen) */
	bool nonblock;        /* O_NONBLOCK */
	bool bound;           /* bind() succeeded, or the server autobound it (connect) */
	bool connected;       /* datagram: has a default peer */
	bool broadcast;       /* SO_BROADCAST as set */
	bool recverr;         /* IP_RECVERR as set: errors reach unconnected sockets too */
	uint8_t pmtudisc;     /* IP_MTU_DISCOVER as set */
	uint8_t shut;         /* SOCK_SHUT_*: the shutdowns made on this socket */
	uint32_t saddr;       /* the socket's source address as the server has it (Linux
			       * inet_saddr, from BIND/CONNECT/DISCONNECT/AUTOBIND replies) */
	int err;              /* pending error found by us_poll, positive errno, 0 = none */
	struct sockaddr_in peer;
	int rcvtimeo_ms;      /* SO_RCVTIMEO: -1 forever (0 set), 0 at once (negative set), else ms */
	int sndtimeo_ms;
	uint32_t sndbuf;      /* datagram: SO_SNDBUF as the server reports it (bytes, Linux's
			       * doubled value); streams read theirs from the slot block */
	/* stream sockets */
	enum sock_ss ss;
	bool listening;       /* listen() succeeded (until SHUT_RD or connect(AF_UNSPEC)) */
	bool linger_on;       /* SO_LINGER as set */
	unsigned linger_s;
	bool close_acked;     /* CLOSING stream: the server took the CLOSE; the slot waits for
			       * REGION_SS_RELEASED */
	uint64_t rx_stamp_seen; /* stream: the slot's last RX stamp counted (under rx_lock;
				 * region_app_stream_read) */
	pthread_mutex_t rx_lock; /* serializes receivers of this socket: the RX ring's consumer */
	pthread_mutex_t tx_lock; /* stream: serializes senders: the TX ring's producer */
};

/* What a call needs of a socket, copied under tab_lock. */
struct sock_ref {
	unsigned tp;          /* enum sock_tp */
	unsigned slot;
	uint32_t gen;
	uint32_t sid;
	int fd;
	bool nonblock;
	bool connected;
	bool bound;
	bool broadcast;
	bool recverr;
	uint8_t pmtudisc;
	uint8_t shut;
	uint32_t saddr;
	bool lost;            /* opened in a session the server no longer has: ECONNABORTED */
	struct sockaddr_in peer;
	int rcvtimeo_ms;      /* -1 = forever */
	int sndtimeo_ms;
	uint32_t sndbuf;
	enum sock_ss ss;
	bool listening;
	bool linger_on;
	unsigned linger_s;
};

/* One transport server: its session, region and request channel. */
struct sock_tport {
	const char *layer;        /* "udpd", "tcpd": <runtime dir>/<layer>.session and .sock */
	enum region_kind kind;
	uint32_t tx_ring;         /* ring sizes of its region (region_create_memfd_kind) */
	uint32_t rx_ring;
	pthread_mutex_t req_lock; /* set-up, the session and the request channel */

	/* Set up once, on the first socket of this type (under req_lock), kept for the life of
	 * the process. */
	bool ready;
	void *dealer;
	struct region region;     /* our client views */
	int region_fd;
	int doorbell_fd;
	int slot_fd[SOCK_SLOTS];  /* the master copy of each slot's eventfd (the server has one) */

	/* The session (under req_lock; sess_gen and session_fd are also read under tab_lock). */
	int session_fd;           /* the SEQPACKET connection; -1 while there is none */
	uint64_t session;
	uint8_t secret[SESSION_SECRET_LEN];
	uint32_t sess_gen;        /* bumped by every SESSION_NEW: sockets of older ones are lost */
	bool sess_lost;           /* the server forgot our session: the next socket opens anew */
	uint64_t next_id;
};

/* The process-wide library state: one instance, `sock_lib`. */
struct sock_lib {
	pthread_mutex_t setup_lock; /* the instance and what both transports share */
	pthread_mutex_t tx_lock;    /* the UDP TX ring's producer side */
	pthread_mutex_t tab_lock;   /* ent[] */

	char instance[40];
	bool instance_set;        /* by us_set_instance: $USTACK_INSTANCE is not consulted */

	/* Shared by the transports, set up with the first of them (under setup_lock). */
	bool ready;
	void *zctx;
	int wake_fd;              /* eventfd that wakes the watcher thread */
	pthread_t watcher;

	struct sock_tport tp[SOCK_TP_COUNT];

	/* UDP: send-buffer charge (region_tx_charge) of each slot's records still in the TX ring
	 * (under tx_lock): added when a record is produced, taken off when the ring reports it
	 * released (sock_data_tx_reclaimed). */
	uint64_t tx_charge[SOCK_SLOTS];
	/* UDP: the instance's routing table (HOSTCFG, after every SESSION_NEW with udpd;
	 * common/route.h, as udpd and ipd build it), so a send is judged at the call. Read under
	 * tab_lock. */
	struct route_table rt;
	bool rt_valid;

	struct sock_entry ent[SOCK_TP_COUNT * SOCK_SLOTS];
};

extern struct sock_lib sock_lib;

static inline struct sock_tport *sock_tport(unsigned tp)
{
	return &sock_lib.tp[tp];
}

static inline struct sock_entry *sock_ent(unsigned tp, unsigned slot)
{
	return &sock_lib.ent[tp * SOCK_SLOTS + slot];
}

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t sock_now_ms(void);
/* Milliseconds left until deadline_ms (UINT64_MAX: forever, -1), as a poll timeout. */
int sock_ms_left(uint64_t deadline_ms);

/* --- sock_table.c --- */

/* Look up the stack socket behind fd and fill *ref. 0, or -EBADF if fd is not one. */
int sock_table_get(int fd, struct sock_ref *ref);
/* Was the socket's session lost (the server forgot it)? (under tab_lock) */
bool sock_table_lost_locked(unsigned tp, const struct sock_entry *e);
/* Wake every open socket's waiters of transport tp (its session was just lost). (under
 * tab_lock) */
void sock_table_wake_all_locked(unsigned tp);
/* Is the socket still the one ref was taken from? (under tab_lock) */
bool sock_table_current_locked(const struct sock_ref *ref);
/* Reserve a free slot of tp (state OPENING). Slot index, or -EMFILE. */
int sock_table_reserve(unsigned tp);
/* Give up a reserved slot (the open failed). */
void sock_table_unreserve(unsigned tp, unsigned slot);
/* A reserved slot the server says is taken (-EBUSY): set it aside for this session. */
void sock_table_stuck(unsigned tp, unsigned slot);
/* The reserved slot becomes an open socket: fd (the application's), the server's sid. */
void sock_table_open(unsigned tp, unsigned slot, int fd, uint32_t sid, bool nonblock);
/* us_close: the socket behind fd stops being reachable (state CLOSING, fd forgotten, gen
 * bumped, receivers woken); *ref describes it. 0 or -EBADF. */
int sock_table_begin_close(int fd, struct sock_ref *ref);
/* The server confirmed the close (or never knew the socket): the slot is FREE again. */
void sock_table_free(unsigned tp, unsigned slot);
/* CLOSING slots of tp whose CLOSE the server has not confirmed (slots[], sids[]: room for
 * SOCK_SLOTS); those of an earlier or lost session, CLOSING or STUCK, are freed on the way.
 * Returns how many. */
int sock_table_closing(unsigned tp, unsigned *slots, uint32_t *sids);
/* CLOSING stream slot: the server took the CLOSE; it stays CLOSING until the slot is released
 * (sock_stream_reap). */
void sock_table_close_acked(unsigned tp, unsigned slot);
/* Write the slot's eventfd: its receivers and pollers look again. */
void sock_table_wake(unsigned tp, unsigned slot);
/* Entry of ref's socket, or NULL if it is gone; call under tab_lock. */
struct sock_entry *sock_table_entry_locked(const struct sock_ref *ref);
void sock_tab_lock(void);
void sock_tab_unlock(void);

/* --- sock_session.c --- */

/* First use of transport tp: set up the process-wide resources and open a session if there is
 * none (or the old one was lost). Takes tp's req_lock. 0 or negative errno (-ENETDOWN when the
 * server cannot be reached within the bound, -EINVAL without a valid instance name). */
int sock_session_ensure(unsigned tp);
/* Under tp's req_lock: is the session connection alive? A dead one is closed (session_fd =
 * -1). */
bool sock_session_alive_locked(unsigned tp);
/* Under the UDP req_lock: fetch the routing config (HOSTCFG) into sock_lib.rt. 0 or negative
 * errno (then rt_valid stays false and sends leave route checks to the server). */
int sock_session_routes_locked(void);
/* Under tp's req_lock: one RESUME attempt. 0; -EAGAIN: the server is not there yet (try
 * again); -ECONNABORTED: the server no longer knows the session (its sockets are lost). */
int sock_session_resume_locked(unsigned tp);
/* Has sock_session_ensure set tp up (its region mapped, its eventfds made)? */
bool sock_session_ready(unsigned tp);
/* How long to wait before the next RESUME attempt of a server away since down_since_ms
 * (sock_now_ms). */
int sock_session_retry_ms(uint64_t down_since_ms);

/* --- sock_req.c --- */

struct sock_reply {
	int status;           /* 0 or negative errno */
	uint32_t sid;
	uint32_t addr;        /* network order */
	uint16_t port;        /* host order */
	size_t optlen;
	uint8_t optval[SOCK_OPTVAL_MAX];
	uint32_t prefix_len;  /* HOSTCFG */
	uint32_t gateway;
	uint32_t mtu;
	uint32_t offender;    /* ERRQUEUE */
	uint32_t next_err;
	size_t datalen;
	uint8_t data[SOCK_ERRQ_DATA_MAX];
	uint32_t peer_addr;   /* ACCEPT: network order */
	uint16_t peer_port;   /* ACCEPT: host order */
	bool detached;        /* not an answer: the server restarted, our session not resumed */
};

/* One request to transport tp (its op and arguments set; id, session and secret are filled
 * here), answered by the server: re-sent under the same id across a server restart until
 * SOCK_RESTART_BOUND_MS. Returns 0 with *rep filled (rep->status is the server's answer), or
 * -ENETDOWN (server not reachable), -ETIMEDOUT (reachable but silent), -ECONNABORTED (session
 * lost), -ENOMEM. */
int sock_req_call(unsigned tp, Ustack__SockRequest *req, struct sock_reply *rep);
/* The same with tp's req_lock already held. */
int sock_req_call_locked(unsigned tp, Ustack__SockRequest *req, struct sock_reply *rep);
/* The same with a shorter bound than SOCK_RESTART_BOUND_MS, for questions whose answer can
 * wait (the error hint of a data call must not stall it through a whole outage). */
int sock_req_call_bounded(unsigned tp, Ustack__SockRequest *req, struct sock_reply *rep,
			  unsigned bound_ms);
/* A request for ref's socket (sid and slot filled in): the server's status, or the channel's
 * failure. */
int sock_req_sock(const struct sock_ref *ref, Ustack__SockRequest *req, struct sock_reply *rep);

/* --- sock_data.c (datagram sockets) --- */

/* sendmsg/recvmsg on a stack socket of either type: the byte count, or negative errno (-EBADF
 * if fd is not one). msg has been checked for NULL; the rest is checked here (streams go on to
 * sock_stream_send/recv). */
ssize_t sock_data_send(int fd, const struct msghdr *msg, int flags);
ssize_t sock_data_recv(int fd, struct msghdr *msg, int flags);
/* Reset slot's RX ring to empty and clear its eventfd (a slot being reused). rx_lock held. */
void sock_data_reset_slot(unsigned slot);
/* SIOCINQ (outq false) or SIOCOUTQ (true) of a datagram socket into *val (us_ioctl). */
int sock_data_queued(const struct sock_ref *ref, bool outq, int *val);
/* POLLIN/POLLOUT/POLLERR/POLLHUP readiness of a datagram socket for us_poll (no waiting);
 * POLLNVAL if closed. */
short sock_data_ready(const struct sock_ref *ref, short events);
/* Linux's inet_autobind, which inet_sendmsg makes before any check of udp_sendmsg: a send
 * that fails here still leaves the socket with a port. 0, or -EAGAIN (no port left), or the
 * request's failure. */
int sock_data_autobind(const struct sock_ref *ref);
/* us_poll found the eventfd readable over an empty ring: ask the server for a pending error and
 * keep it in the entry. true if one is pending. */
bool sock_data_probe_error(const struct sock_ref *ref);
/* Clear a stale eventfd count (ring empty), keeping "RX ring non-empty => count > 0". */
void sock_data_settle(unsigned slot);
/* The TX ring's reclaim callback (ring_set_reclaim): a record udpd is done with. */
void sock_data_tx_reclaimed(void *arg, const struct ring_rec *rec);
/* iovec checks of Linux's import_iovec (sock_data.c has the details). */
int sock_iov_total(const struct iovec *iov, size_t n, size_t *total, bool *bad);

/* --- sock.c --- */

/* Reserve a slot of tp (after reaping closed ones if none is free) and open the server's
 * socket in it with req (SOCKET or ACCEPT; req->slot is set here). The slot (still OPENING,
 * rep filled), or negative errno with nothing reserved. */
int sock_open_slot(unsigned tp, Ustack__SockRequest *req, struct sock_reply *rep);
/* The server's new socket in an OPENING slot becomes the application's descriptor (a dup of
 * the slot's eventfd; SOCK_CLOEXEC and SOCK_NONBLOCK of type_flags). fd, or negative errno
 * after closing the server's socket again. */
int sock_open_fd(unsigned tp, unsigned slot, uint32_t sid, int type_flags);

/* --- sock_stream.c --- */

int sock_stream_connect(const struct sock_ref *ref, const struct sockaddr *addr, socklen_t len);
int sock_stream_listen(const struct sock_ref *ref, int backlog);
int sock_stream_accept(const struct sock_ref *ref, struct sockaddr *addr, socklen_t *addrlen,
		       int flags);
int sock_stream_shutdown(const struct sock_ref *ref, int how);
/* us_close of a stream socket whose table entry is already CLOSING (the fd is gone). */
void sock_stream_close(const struct sock_ref *ref);
/* Take the pending error (SO_ERROR) from the server, clearing it there: the positive errno,
 * 0 if none, or (negative) the request's failure. Asks only when the slot block shows one. */
int sock_stream_take_error(const struct sock_ref *ref);
/* The slot's block (state and all) of ref's socket. */
struct region_stream_ctl *sock_stream_ctl(unsigned slot);
/* Slot reuse: discard what the RX ring holds and clear the eventfd; set tx_push to head. */
void sock_stream_reset_slot(unsigned slot);
/* Stream slots in CLOSING the server has released since: freed. */
void sock_stream_reap(void);

/* --- sock_stream_data.c --- */

ssize_t sock_stream_send(const struct sock_ref *ref, const struct msghdr *msg, int flags);
ssize_t sock_stream_recv(const struct sock_ref *ref, struct msghdr *msg, int flags);
/* SIOCINQ (outq false) or SIOCOUTQ (true) of a stream socket into *val (us_ioctl). */
int sock_stream_queued(const struct sock_ref *ref, bool outq, int *val);
/* Readiness for us_poll (no waiting): Linux tcp_poll's mask over the rings, the slot block
 * and our own shutdowns. POLLNVAL if closed. */
short sock_stream_ready(const struct sock_ref *ref, short events);
/* The slot's "readable" predicate that its eventfd count must follow (data, EOF, an error, a
 * hang-up, a queued connection): native poll on the descriptor reports POLLIN exactly then, give
 * or take a spurious wake-up. */
bool sock_stream_readable_now(unsigned slot);
/* Clear a stale eventfd count of a stream slot (nothing readable), keeping the invariant. */
void sock_stream_settle(unsigned slot);
/* Raise SIGPIPE in the calling thread, as Linux's send_sig(SIGPIPE, current, 0). */
void sock_sigpipe(void);
/* Ask the server to tell us (by the eventfd) when TX room comes back: us_poll arms it before
 * it sleeps on a socket that waits for POLLOUT. */
void sock_stream_arm_room(unsigned slot);
/* Wait on slot's eventfd until cond(slot, arg) holds: 0; -ETIMEDOUT at deadline_ms
 * (UINT64_MAX: never); -EINTR for a signal; -EBADF when ref's socket was closed meanwhile (ref
 * NULL: the caller closed it itself, nothing is checked). Drains the count, looks at cond, only
 * then sleeps, so no change is missed; with a ref, the count is settled before returning. */
typedef bool (*sock_stream_cond_fn)(unsigned slot, const void *arg);
int sock_stream_wait_for(const struct sock_ref *ref, unsigned slot, sock_stream_cond_fn cond,
			 const void *arg, uint64_t deadline_ms);

#endif
