/* sock_priv: the inside of libsock, shared by its files (the design is in sock.c's opening
 * comment). Nothing here is exported: the library is built with -fvisibility=hidden and a
 * version script that keeps only us_* global.
 *
 * Files and what each owns:
 *   sock.c          the design; socket/bind/connect/close, names, options, fcntl
 *   sock_table.c    the fd table: slot allocation, fd lookup, per-socket state and locks
 *   sock_session.c  process-wide setup (region, eventfds, ZeroMQ), SESSION_NEW/RESUME, watcher
 *   sock_req.c      the request channel: ids, re-send across a server restart, the bound
 *   sock_data.c     send and recv calls through the region's rings, pending errors
 *   sock_poll.c     us_poll
 *
 * Locks, in the only order they may nest: a socket's rx_lock, then req_lock, then tx_lock, then
 * tab_lock. tab_lock is held only for a few loads and stores (never across a syscall that
 * waits); req_lock is held across a request round trip (bounded by SOCK_RESTART_BOUND_MS).
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

#define SOCK_SLOTS 64u                 /* sockets per process: one region slot each */
#define SOCK_LAYER "udpd"              /* the transport server we talk to */
#define SOCK_REQ_TIMEOUT_MS 300        /* no reply within this: look at the session, re-send */
#define SOCK_RESTART_BOUND_MS 5000     /* give up a request (or an open) after this long */
#define SOCK_RESUME_TIMEOUT_MS 300     /* one SESSION_NEW/RESUME handshake */
#define SOCK_HINT_BOUND_MS 1000        /* SO_ERROR asked because of an eventfd hint */
#define SOCK_UDP_MAX_PAYLOAD 65507u    /* 65,535 - 20 (IPv4 header) - 8 (UDP header) */
#define SOCK_OPTVAL_MAX 64u            /* largest option value we carry */
#define SOCK_ERRQ_DATA_MAX 548u        /* an error queue entry's payload (udpd's bound) */

enum sock_state {
	SOCK_ST_FREE = 0,
	SOCK_ST_OPENING, /* slot reserved by us_socket, SOCKET request under way */
	SOCK_ST_OPEN,
	SOCK_ST_CLOSING, /* the app's fd is closed; the server has not confirmed CLOSE yet */
	SOCK_ST_STUCK,   /* the server holds a socket here we have no sid for (a SOCKET reply was
			  * lost): unusable until the session changes */
	SOCK_ST_COUNT
};

/* One socket = one region slot. Written under tab_lock; the data paths copy what they need into
 * a struct sock_ref and go on without the lock. */
struct sock_entry {
	enum sock_state state;
	int fd;               /* what the application holds: a dup of slot_fd[slot]; -1 when none */
	uint32_t sid;         /* the server's socket id */
	uint32_t gen;         /* bumped whenever the slot is freed: refs taken before go stale */
	uint32_t sess_gen;    /* the session this socket was opened in (see sock_lib.sess_gen) */
	bool nonblock;        /* O_NONBLOCK */
	bool bound;           /* bind() succeeded, or the server autobound it (connect) */
	bool connected;       /* has a default peer */
	bool broadcast;       /* SO_BROADCAST as set */
	bool recverr;         /* IP_RECVERR as set: errors reach unconnected sockets too */
	uint8_t pmtudisc;     /* IP_MTU_DISCOVER as set */
	uint32_t saddr;       /* the socket's source address as the server has it (Linux
			       * inet_saddr, from BIND/CONNECT/DISCONNECT/AUTOBIND replies) */
	int err;              /* pending error found by us_poll, positive errno, 0 = none */
	struct sockaddr_in peer;
	int rcvtimeo_ms;      /* SO_RCVTIMEO: -1 forever (0 set), 0 at once (negative set), else ms */
	int sndtimeo_ms;
	uint32_t sndbuf;      /* SO_SNDBUF as the server reports it (bytes, Linux's doubled value) */
	pthread_mutex_t rx_lock; /* serializes receivers of this socket: the RX ring's consumer */
};

/* What a data call needs of a socket, copied under tab_lock. */
struct sock_ref {
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
	uint32_t saddr;
	bool lost;            /* opened in a session the server no longer has: ECONNABORTED */
	struct sockaddr_in peer;
	int rcvtimeo_ms;      /* -1 = forever */
	int sndtimeo_ms;
	uint32_t sndbuf;
};

/* The process-wide library state: one instance, `sock_lib`. */
struct sock_lib {
	pthread_mutex_t req_lock; /* setup, the session and the request channel */
	pthread_mutex_t tx_lock;  /* the TX ring's producer side */
	pthread_mutex_t tab_lock; /* ent[] */

	char instance[40];
	bool instance_set;        /* by us_set_instance: $USTACK_INSTANCE is not consulted */

	/* Set up once, on the first us_socket (under req_lock), kept for the life of the process. */
	bool ready;
	void *zctx;
	void *dealer;
	struct region region;     /* our client views: TX producer, RX consumers */
	/* Send-buffer charge (region_tx_charge) of each slot's records still in the TX ring
	 * (under tx_lock): added when a record is produced, taken off when the ring reports it
	 * released (sock_data_tx_reclaimed). */
	uint64_t tx_charge[SOCK_SLOTS];
	int region_fd;
	int doorbell_fd;
	int slot_fd[SOCK_SLOTS];  /* the master copy of each slot's eventfd (the server has one) */
	int wake_fd;              /* eventfd that wakes the watcher thread */
	pthread_t watcher;

	/* The session (under req_lock; sess_gen and session_fd are also read under tab_lock). */
	int session_fd;           /* the SEQPACKET connection; -1 while there is none */
	uint64_t session;
	uint8_t secret[SESSION_SECRET_LEN];
	uint32_t sess_gen;        /* bumped by every SESSION_NEW: sockets of older ones are lost */
	bool sess_lost;           /* the server forgot our session: the next us_socket opens anew */
	uint64_t next_id;

	/* The instance's routing table (HOSTCFG, after every SESSION_NEW; common/route.h, as udpd
	 * and ipd build it), so a send is judged at the call. Read under tab_lock. */
	struct route_table rt;
	bool rt_valid;

	struct sock_entry ent[SOCK_SLOTS];
};

extern struct sock_lib sock_lib;

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t sock_now_ms(void);

/* --- sock_table.c --- */

/* Look up the stack socket behind fd and fill *ref. 0, or -EBADF if fd is not one. */
int sock_table_get(int fd, struct sock_ref *ref);
/* Was the socket's session lost (the server forgot it)? (under tab_lock) */
bool sock_table_lost_locked(const struct sock_entry *e);
/* Wake every open socket's waiters (their session was just lost). (under tab_lock) */
void sock_table_wake_all_locked(void);
/* Is the socket still the one ref was taken from? (under tab_lock) */
bool sock_table_current_locked(const struct sock_ref *ref);
/* Reserve a free slot (state OPENING). Slot index, or -EMFILE. */
int sock_table_reserve(void);
/* Give up a reserved slot (the open failed). */
void sock_table_unreserve(unsigned slot);
/* A reserved slot the server says is taken (-EBUSY): set it aside for this session. */
void sock_table_stuck(unsigned slot);
/* The reserved slot becomes an open socket: fd (the application's), the server's sid. */
void sock_table_open(unsigned slot, int fd, uint32_t sid, bool nonblock);
/* us_close: the socket behind fd stops being reachable (state CLOSING, fd forgotten, gen
 * bumped, receivers woken); *ref describes it. 0 or -EBADF. */
int sock_table_begin_close(int fd, struct sock_ref *ref);
/* The server confirmed the close (or never knew the socket): the slot is FREE again. */
void sock_table_free(unsigned slot);
/* CLOSING slots whose CLOSE the server has not confirmed (slots[], sids[]: room for
 * SOCK_SLOTS); those of an earlier or lost session, CLOSING or STUCK, are freed on the way.
 * Returns how many. */
int sock_table_closing(unsigned *slots, uint32_t *sids);
/* Write the slot's eventfd: its receivers and pollers look again. */
void sock_table_wake(unsigned slot);
/* Entry of ref's socket, or NULL if it is gone; call under tab_lock. */
struct sock_entry *sock_table_entry_locked(const struct sock_ref *ref);
void sock_tab_lock(void);
void sock_tab_unlock(void);

/* --- sock_session.c --- */

/* First use: set up the process-wide resources and open a session if there is none (or the old
 * one was lost). Takes req_lock. 0 or negative errno (-ENETDOWN when the server cannot be
 * reached within the bound, -EINVAL without a valid instance name). */
int sock_session_ensure(void);
/* Under req_lock: is the session connection alive? A dead one is closed (session_fd = -1). */
bool sock_session_alive_locked(void);
/* Under req_lock: fetch the routing config (HOSTCFG) into sock_lib.rt. 0 or negative errno
 * (then rt_valid stays false and sends leave route checks to the server). */
int sock_session_routes_locked(void);
/* Under req_lock: one RESUME attempt. 0; -EAGAIN: the server is not there yet (try again);
 * -ECONNABORTED: the server no longer knows the session (its sockets are lost). */
int sock_session_resume_locked(void);

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
};

/* One request (its op and arguments set; id, session and secret are filled here), answered by
 * the server: re-sent under the same id across a server restart until SOCK_RESTART_BOUND_MS.
 * Returns 0 with *rep filled (rep->status is the server's answer), or -ENETDOWN (server not
 * reachable), -ETIMEDOUT (reachable but silent), -ECONNABORTED (session lost), -ENOMEM. */
int sock_req_call(Ustack__SockRequest *req, struct sock_reply *rep);
/* The same with req_lock already held. */
int sock_req_call_locked(Ustack__SockRequest *req, struct sock_reply *rep);
/* The same with a shorter bound than SOCK_RESTART_BOUND_MS, for questions whose answer can
 * wait (the error hint of a data call must not stall it through a whole outage). */
int sock_req_call_bounded(Ustack__SockRequest *req, struct sock_reply *rep, unsigned bound_ms);

/* --- sock_data.c --- */

/* sendmsg/recvmsg on a stack socket: the byte count, or negative errno (-EBADF if fd is not
 * one). msg has been checked for NULL; the rest is checked here. */
ssize_t sock_data_send(int fd, const struct msghdr *msg, int flags);
ssize_t sock_data_recv(int fd, struct msghdr *msg, int flags);
/* Reset slot's RX ring to empty and clear its eventfd (a slot being reused). rx_lock held. */
void sock_data_reset_slot(unsigned slot);
/* POLLIN/POLLOUT/POLLERR readiness of a socket for us_poll (no waiting); POLLNVAL if closed. */
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

#endif
