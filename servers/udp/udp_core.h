/* udp_core: the pure UDP protocol core of ustack-udpd (RFC 768, RFC 1122 §4.1): the socket
 * table, bind/connect rules, socket options, datagram validation and demultiplexing, the
 * sending rules with corking, and ICMP error reporting. No I/O, no clock reads, no file-scope
 * mutable state: the server shell owns the receive queues, the corked payload bytes and every
 * buffer; the core owns the socket state and the counters.
 *
 * The socket table is plain data: fixed size, indices and network-order numbers only, never a
 * pointer, with a magic/version/size header. The shell places the WHOLE struct udp_table in its
 * named shared-memory state segment, so the sockets survive a udpd restart (docs/ARCHITECTURE.md,
 * restart contract). A fresh segment gets udp_table_init(); a segment left by a previous udpd gets
 * udp_table_recover(), which validates it record by record and rebuilds what was derived.
 *
 * Records that survive a SIGKILL at any instruction (state_journal.h): each socket record (its
 * options, struct udp_sock_ext, included) is sealed (a sequence word, odd while it is being
 * written, and a checksum), and so is the table's own record (struct udp_ports); every call
 * below that writes one does so in a transaction of the table's undo journal: the record's
 * committed image is saved before its first write and the transaction commits as the call
 * returns. A udpd killed in the middle of an update leaves a journal that udp_table_recover
 * rolls back, so the record is found as it was before the call; a record that is still torn or
 * invalid after that (never expected) is dropped alone, never the table. Calls join a
 * transaction the shell opened (udp_txn_begin/end), so the shell can commit, e.g., the reply to
 * a request together with the change it describes. Counters (stats, a socket's drops) and the
 * port hash are not part of any record: counters are single stores, the hash is rebuilt at
 * recovery.
 *
 * Conventions:
 *   - addresses and ports are in network byte order everywhere (as in struct sockaddr_in), so
 *     the shell copies them to and from sockaddrs untouched; only the ephemeral port range is in
 *     host order, like the ip_local_port_range sysctl;
 *   - a socket is named by a sid (slot index | generation << 16): a sid of a closed socket stays
 *     invalid after its slot is reused, so a stale or replayed request cannot reach a new socket;
 *   - every call that takes a sid also takes the caller's owner (the session id the shell gave
 *     the application) and fails with -EBADF unless the socket is open and that owner's: one
 *     application can never touch another's sockets (docs/ARCHITECTURE.md, security);
 *   - 0 or a negative errno (Linux's, so libsock hands it straight to the caller); a call that
 *     fails has changed nothing, except where Linux itself discards a corked datagram on a
 *     failed send (udp_output says so in struct udp_tx).
 *
 * Routes: every destination is judged by the instance's routing table (common/route.h, the same
 * module and config ipd routes by), as Linux's ip_route_output in udp_sendmsg and
 * ip4_datagram_connect: ENETUNREACH without a route, EINVAL for a 127/8 source leaving by the
 * NIC, EACCES for a broadcast route without SO_BROADCAST, and the route's preferred source as
 * the socket's address. Our own address and 127/8 are reached through ipd's loopback interface.
 *
 * Behaviour follows Linux (net/ipv4/udp.c, af_inet.c, datagram.c, ip_sockglue.c, core/sock.c)
 * unless a comment says why not.
 */
#ifndef USTACK_UDP_CORE_H
#define USTACK_UDP_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "desc.h"
#include "route.h"
#include "state_journal.h"
#include "stats.h"

#define UDP_SOCKETS_MAX 1024u       /* slots in the table: all of udpd's sockets */
#define UDP_HASH_BUCKETS 256u       /* local-port hash (power of two) */
#define UDP_IDX_NONE 0xffffu        /* end of a hash chain */
#define UDP_TABLE_MAGIC 0x55445054u /* "UDPT" */
#define UDP_TABLE_VERSION 3u     /* 2: the socket options' extension; 3: sealed records and the
				  * journal, the extension inside the socket record */

/* Ephemeral ports, host order: Linux's net.ipv4.ip_local_port_range default. */
#define UDP_PORT_EPH_LO 32768u
#define UDP_PORT_EPH_HI 60999u

/* Buffer sizes in bytes, as Linux accounts them (SO_RCVBUF/SO_SNDBUF report these). Defaults
 * are net.core.{r,w}mem_default. A requested size is capped at UDP_{R,W}MEM_MAX (our
 * net.core.{r,w}mem_max: 4 MiB rather than Linux's 212,992, because an unprivileged
 * application cannot raise the sysctl here and a 4 MiB queue is what busy UDP servers ask
 * for), then doubled for bookkeeping overhead as Linux does, and floored at Linux's
 * SOCK_MIN_RCVBUF / SOCK_MIN_SNDBUF (x86-64 values). */
#define UDP_RMEM_DEFAULT 212992u
#define UDP_WMEM_DEFAULT 212992u
#define UDP_RMEM_MAX (4u << 20)
#define UDP_WMEM_MAX (4u << 20)
#define UDP_RCVBUF_MIN 2304u
#define UDP_SNDBUF_MIN 4608u

/* struct udp_sock.flags */
#define UDP_SOCK_F_BOUND 0x001u        /* has a local port (lport != 0) */
#define UDP_SOCK_F_CONNECTED 0x002u    /* has a default peer (raddr != 0) */
#define UDP_SOCK_F_REUSEADDR 0x004u    /* SO_REUSEADDR */
#define UDP_SOCK_F_BROADCAST 0x008u    /* SO_BROADCAST: may send to a broadcast address */
#define UDP_SOCK_F_BINDADDR_LOCK 0x010u /* laddr chosen by bind() (Linux SOCK_BINDADDR_LOCK) */
#define UDP_SOCK_F_BINDPORT_LOCK 0x020u /* port chosen by bind() (Linux SOCK_BINDPORT_LOCK) */
#define UDP_SOCK_F_CORK 0x040u         /* UDP_CORK option set */
#define UDP_SOCK_F_CORK_PENDING 0x080u /* a datagram is being corked (cork_* fields valid) */
#define UDP_SOCK_F_MASK 0x0ffu

/* struct udp_sock_ext.flags: options and states Linux keeps as socket flags. */
#define UDP_EXT_F_REUSEPORT 0x0001u  /* SO_REUSEPORT */
#define UDP_EXT_F_RP_GROUP 0x0002u   /* joined its port's reuseport group when it got the port */
#define UDP_EXT_F_KEEPALIVE 0x0004u  /* SO_KEEPALIVE (no effect on UDP, as in Linux) */
#define UDP_EXT_F_DONTROUTE 0x0008u  /* SO_DONTROUTE (read back only, see udp_opt.c) */
#define UDP_EXT_F_LINGER 0x0010u     /* SO_LINGER l_onoff */
#define UDP_EXT_F_TSTAMP 0x0020u     /* SO_TIMESTAMP* on (Linux SOCK_RCVTSTAMP) */
#define UDP_EXT_F_TSTAMPNS 0x0040u   /* in nanoseconds (SOCK_RCVTSTAMPNS) */
#define UDP_EXT_F_TSTAMP_NEW 0x0080u /* asked with the _NEW option numbers (SOCK_TSTAMP_NEW) */
#define UDP_EXT_F_PKTINFO 0x0100u    /* IP_PKTINFO */
#define UDP_EXT_F_RECVTTL 0x0200u    /* IP_RECVTTL */
#define UDP_EXT_F_RECVTOS 0x0400u    /* IP_RECVTOS */
#define UDP_EXT_F_RECVERR 0x0800u    /* IP_RECVERR: ICMP errors go to the error queue */
#define UDP_EXT_F_MC_LOOP 0x1000u    /* IP_MULTICAST_LOOP (default on) */
#define UDP_EXT_F_MASK 0x1fffu

/* The rest of a socket's state: the options of Linux parity and what they imply, 32 bytes.
 * It lives inside struct udp_sock (s->ext), in the socket's sealed record: one record per
 * socket, so an option and the state it depends on (saddr and RP_GROUP imply BOUND) commit
 * together and recovery judges them together. Read-only outside the core. */
struct udp_sock_ext {
	uint32_t saddr;          /* source of its datagrams (Linux inet_saddr): set by bind (not
				  * for a broadcast/multicast address) and connect; 0 = the
				  * route's preferred source */
	uint32_t uid;            /* its creator's uid: a SO_REUSEPORT group is one uid's */
	uint32_t flags;          /* UDP_EXT_F_* */
	uint32_t priority;       /* SO_PRIORITY */
	int32_t rcvlowat;        /* SO_RCVLOWAT, >= 1 */
	int32_t linger;          /* SO_LINGER l_linger, seconds */
	uint8_t ttl;             /* IP_TTL; 0 = ROUTE_TTL_DEFAULT */
	uint8_t tos;             /* IP_TOS, all 8 bits (Linux masks ECN only on stream sockets) */
	uint8_t mc_ttl;          /* IP_MULTICAST_TTL */
	uint8_t pmtudisc;        /* IP_MTU_DISCOVER: IP_PMTUDISC_DONT .. IP_PMTUDISC_OMIT */
	uint32_t reserved;
};
_Static_assert(sizeof(struct udp_sock_ext) == 32, "udp_sock_ext is shared state");

/* One socket: plain shared data, 112 bytes. Read-only outside the core (the shell may read any
 * field, e.g. for `ss`; it changes them only through the calls below). Bytes [0, UDP_SOCK_SEALED)
 * are the sealed record, the extension included: written only in a transaction (udp_sock_w,
 * udp_priv.h). */
struct udp_sock {
	struct state_rec rec;    /* commit word + checksum of the sealed bytes */
	uint8_t in_use;          /* 0 free, 1 open */
	uint8_t reserved0;
	uint16_t gen;            /* bumped at every open, never 0 once used: the sid's high half */
	uint32_t owner;          /* session id of the application, from the shell */
	uint32_t flags;          /* UDP_SOCK_F_* */
	uint32_t laddr;          /* bound/receive address; 0 = INADDR_ANY */
	uint32_t raddr;          /* peer when CONNECTED, else 0 */
	uint16_t lport;          /* 0 = not bound */
	uint16_t rport;          /* peer port when CONNECTED (0 is a legal peer port, as in Linux) */
	uint32_t rcvbuf;         /* bytes the shell may queue for reception */
	uint32_t sndbuf;         /* bytes the shell may hold unsent */
	uint16_t pending_error;  /* positive errno reported once, then cleared (Linux sk_err) */
	uint16_t cork_sport;     /* corked datagram: source port, */
	uint16_t cork_dport;     /* destination port, */
	uint16_t reserved1;
	uint32_t cork_saddr;     /* source address, */
	uint32_t cork_daddr;     /* destination address, fixed by the first corked send */
	uint32_t cork_len;       /* payload bytes corked so far (the shell holds them) */
	uint32_t reserved2;
	uint64_t bind_seq;       /* when it got its port: the newest wins ties in demux */
	struct udp_sock_ext ext; /* options (above) */
	/* Not sealed: a counter and a derived link, each written by one aligned store. */
	uint32_t drops;          /* datagrams dropped for this socket (the `ss`/procfs column) */
	uint16_t hnext;          /* port-hash chain: next slot, UDP_IDX_NONE at the end */
	uint16_t reserved3;
};
_Static_assert(sizeof(struct udp_sock) == 112, "udp_sock is shared state: its size is ABI");
#define UDP_SOCK_SEALED offsetof(struct udp_sock, drops)
_Static_assert(offsetof(struct udp_sock, drops) == 104, "udp_sock: the sealed part is 104 bytes");

/* The Linux `Udp:` line of /proc/net/snmp, then a named counter for every other drop. */
struct udp_stats {
	uint64_t in_datagrams;       /* delivered to a socket (udp_rx_delivered) */
	uint64_t no_ports;           /* unicast for a port nobody has: ICMP port unreachable */
	uint64_t in_errors;          /* every malformed datagram, bad checksum, full rcvbuf */
	uint64_t out_datagrams;      /* datagrams udp_output/udp_push_pending emitted */
	uint64_t rcvbuf_errors;      /* receive queue full (udp_rx_rcvbuf_drop) */
	uint64_t sndbuf_errors;      /* could not be sent for lack of buffers (udp_tx_sndbuf_drop) */
	uint64_t in_csum_errors;     /* checksum wrong (also in in_errors) */
	uint64_t ignored_multi;      /* broadcast/multicast for a port nobody has: no ICMP */
	/* our own; each malformed datagram also counts in in_errors */
	uint64_t in_drop_short;      /* fewer than 8 bytes at l4_off (or l4_off past the data) */
	uint64_t in_drop_len_small;  /* UDP length field < 8 */
	uint64_t in_drop_len_big;    /* UDP length field > bytes present */
	uint64_t in_trimmed;         /* bytes past the UDP length ignored (not a drop) */
	uint64_t in_no_csum;         /* sent without checksum (0): accepted unverified */
	uint64_t icmp_err_in;        /* udp_icmp_error calls */
	uint64_t icmp_err_bad;       /* quoted datagram malformed or not UDP */
	uint64_t icmp_err_no_sock;   /* no socket sent the quoted datagram */
	uint64_t icmp_err_ignored;   /* soft error, or the socket is not connected */
	uint64_t icmp_err_reported;  /* set as a socket's pending error */
	uint64_t cork_lost_restart;  /* corked datagrams discarded by udp_table_recover */
	uint64_t icmp_err_queued;    /* reported to an IP_RECVERR socket's error queue */
	uint64_t reuseport_selected; /* unicast datagrams demultiplexed to a SO_REUSEPORT group */
	uint64_t state_records_dropped; /* records (sockets, ports) udp_table_recover found torn
					 * or invalid after the journal's rollback: reset alone
					 * (never expected) */
};

extern const struct stat_field udp_stat_fields[];
extern const unsigned udp_stat_field_count;

/* The table's own record: the ephemeral port cursor, the bind sequence and the SO_REUSEPORT
 * flow key. Sealed, written in the same transaction as the socket that draws from it, so a
 * rolled-back bind gives back its port and its sequence number and a re-run draws the same
 * ones. */
struct udp_ports {
	struct state_rec rec;
	uint16_t lo;             /* ephemeral range, host order, inclusive */
	uint16_t hi;
	uint16_t next;           /* cursor: the next ephemeral port tried */
	uint16_t reserved0;
	uint64_t bind_seq;       /* last bind_seq handed out */
	uint32_t reuseport_secret; /* SO_REUSEPORT flow hash key (udp_reuseport_seed); 0: none */
	uint32_t reserved1;
};
_Static_assert(sizeof(struct udp_ports) == 32, "udp_ports is shared state");

/* The whole table: what the shell maps as its state segment. */
struct udp_table {
	uint32_t magic;          /* UDP_TABLE_MAGIC, stored last by udp_table_init */
	uint32_t version;        /* UDP_TABLE_VERSION */
	uint32_t size;           /* sizeof(struct udp_table) */
	uint32_t sockets_max;    /* UDP_SOCKETS_MAX */
	struct udp_ports ports;
	struct udp_stats stats;
	uint16_t hash[UDP_HASH_BUCKETS]; /* first slot of each local-port chain */
	struct state_journal journal;    /* the open transaction's undo images */
	struct udp_sock sock[UDP_SOCKETS_MAX];
};
_Static_assert(sizeof(struct udp_table) == 48 + sizeof(struct udp_stats) + 2 * UDP_HASH_BUCKETS +
						   sizeof(struct state_journal) +
						   sizeof(struct udp_sock) * UDP_SOCKETS_MAX,
	       "udp_table is shared state: no hidden padding");
_Static_assert(sizeof(struct udp_stats) % 8 == 0 && (2 * UDP_HASH_BUCKETS) % 8 == 0,
	       "udp_table: sock[] stays 8-byte aligned");

/* What the core knows of the host: the routing table built from the instance config, the same
 * one ipd routes by (what bind accepts, where a datagram may go, from which source). */
struct udp_host {
	struct route_table rt;
};

/* route_table_init for addr/prefix_len, gateway (0: none), NIC mtu. 0 or -EINVAL. */
int udp_host_init(struct udp_host *h, uint32_t addr, uint8_t prefix_len, uint32_t gateway,
		  uint32_t mtu);

/* --- the table (udp_table.c) --- */

/* Make t an empty table (any previous content is overwritten). */
void udp_table_init(struct udp_table *t);

/* Check every invariant: the header is ours (else -EPROTO: magic or version differ, a
 * different program or layout; -EINVAL: size or geometry), the journal is idle, and every record
 * is sealed and valid (else -EINVAL). Reads only: safe on garbage. Tests use it after every
 * step; a restarting shell uses udp_table_recover, which repairs instead of refusing. */
int udp_table_check(const struct udp_table *t);

/* Take over a table a previous udpd left. Its header must be ours (-EPROTO / -EINVAL as
 * udp_table_check; then t is untouched and the shell starts a fresh table). Then, in order:
 * the journal is rolled back (an update the dead udpd did not commit is undone, records of the
 * shell's included: the journal may restore into [extent, extent + extent_size), which must
 * contain the table; NULL: the table alone); every socket record is checked on its own, and
 * one that is torn or invalid is reset to free (state_records_dropped) while every other
 * record carries on; the ports record (range, cursor, bind sequence, SO_REUSEPORT key), if torn
 * or out of range, is rebuilt from the defaults and the sockets' own sequences (a lost key is
 * drawn again by the shell's udp_reuseport_seed); corked datagrams are dropped (their bytes
 * were in the dead process's pool buffers), counted in cork_lost_restart; the port hash is
 * rebuilt (never trusted across processes). Sockets, options, bindings, peers, pending errors
 * and counters carry on. Every repair is itself a transaction: a kill during recovery is repaired
 * by the next. Returns 0 or the header's error. */
int udp_table_recover(struct udp_table *t, void *extent, size_t extent_size);

/* Transactions (state_journal.h). Every call of this header that writes a record runs in its
 * own, or joins the one the caller opened here; the outermost end commits. The shell seals its
 * own records (in the same mapping as the table) with udp_txn_journal, so they commit together
 * with the table's. */
void udp_txn_begin(struct udp_table *t);
void udp_txn_end(struct udp_table *t);
struct state_journal *udp_txn_journal(struct udp_table *t);

/* Set the ephemeral range (host order, inclusive, 1 <= lo <= hi); the cursor moves to lo.
 * 0 or -EINVAL. (This and the two seeds below write the ports record in a transaction of
 * their own, or the caller's.) */
int udp_set_port_range(struct udp_table *t, uint16_t lo, uint16_t hi);

/* Start the ephemeral cursor at a point chosen by seed (the shell passes getrandom() bytes), so
 * port choice is not predictable from a fresh start (RFC 6056 §3.3.1's concern). */
void udp_port_seed(struct udp_table *t, uint32_t seed);

/* Key the SO_REUSEPORT flow hash with seed (getrandom() bytes), once: a table that has a key
 * keeps it, so a restarted udpd sends every flow to the same socket as before. */
void udp_reuseport_seed(struct udp_table *t, uint32_t seed);

/* --- socket lifecycle (udp_table.c) --- */

/* Open an unbound socket for owner; *sid names it. 0 or -EMFILE (table full). */
int udp_socket_open(struct udp_table *t, uint32_t owner, uint32_t *sid);

/* Record the uid of the socket's creator (Linux sock_i_uid: SO_REUSEPORT groups are per uid);
 * the shell calls it right after udp_socket_open. 0 or -EBADF. */
int udp_sock_set_uid(struct udp_table *t, uint32_t owner, uint32_t sid, uint32_t uid);

/* Close it; its port is free at once. The shell discards its queues and corked bytes. 0 or
 * -EBADF. */
int udp_socket_close(struct udp_table *t, uint32_t owner, uint32_t sid);

/* Close every socket of owner (its session went away). Returns how many were closed. */
unsigned udp_close_owner(struct udp_table *t, uint32_t owner);

/* The socket sid if it is open and owner's, else NULL (the -EBADF case). */
const struct udp_sock *udp_sock_get(const struct udp_table *t, uint32_t owner, uint32_t sid);

/* The sid of slot idx if it is open, else 0 (no valid sid is 0): to walk the table for `ss`. */
uint32_t udp_sock_sid(const struct udp_table *t, unsigned idx);

/* Take the pending error: returns it negated and clears it, or 0 (Linux sock_error(): the
 * shell calls it on recvmsg paths). -EBADF for a bad sid. */
int udp_take_error(struct udp_table *t, uint32_t owner, uint32_t sid);

/* --- addresses (udp_bind.c) --- */

/* What bind() accepts as a local address (Linux inet_addr_type): INADDR_ANY, one of ours (our
 * address, 127/8), a broadcast address (ours, 255.255.255.255, 127.255.255.255) or multicast. */
bool udp_addr_bindable(const struct udp_host *h, uint32_t addr);

/* bind(): addr not bindable: -EADDRNOTAVAIL (a socket bound to a broadcast or multicast address
 * receives only datagrams sent to it and sends from the route's source); -EINVAL if the socket
 * already has a port (also one from an autobind); port 0 takes an ephemeral port (-EADDRINUSE
 * when the range is exhausted, as Linux's bind); -EADDRINUSE if another socket has the port on
 * an overlapping address (equal, or either is ANY) unless both set SO_REUSEADDR, or both set
 * SO_REUSEPORT and belong to one uid (then they form a reuseport group when their addresses
 * are equal). Whether the caller may bind a port below 1024 is the shell's policy (it knows the
 * caller's credentials). */
int udp_bind(struct udp_table *t, uint32_t owner, uint32_t sid, const struct udp_host *h,
	     uint32_t addr, uint16_t port);

/* connect() to addr:port (port 0 is accepted, as Linux does: it then matches any source port;
 * getpeername says ENOTCONN). As Linux's inet_dgram_connect, an unbound socket is autobound
 * first (-EAGAIN when exhausted), and keeps its port if the rest fails. Then the route:
 * -ENETUNREACH (none), -EINVAL (bound to 127/8, route by the NIC), -EACCES (a broadcast route
 * without SO_BROADCAST). The socket's address becomes the route's source unless it has one;
 * 0.0.0.0 means this host (the peer becomes a loopback address). Reconnecting replaces the
 * peer. */
int udp_connect(struct udp_table *t, uint32_t owner, uint32_t sid, const struct udp_host *h,
		uint32_t addr, uint16_t port);

/* connect() with AF_UNSPEC (Linux __udp_disconnect): forget the peer; the addresses go back to
 * ANY unless bind() chose one; the port is released (the socket is unbound again) unless bind()
 * chose a non-zero port. Always 0 for a valid sid, connected or not; -EBADF. */
int udp_disconnect(struct udp_table *t, uint32_t owner, uint32_t sid);

/* getsockname (peer false: laddr/lport, zeros when unbound) or getpeername (peer true;
 * -ENOTCONN unless connected to a non-zero port, as Linux's inet_getname). */
int udp_getname(const struct udp_table *t, uint32_t owner, uint32_t sid, bool peer,
		uint32_t *addr, uint16_t *port);

/* The socket's source address (Linux inet_saddr; 0 = the route's), for libsock to judge routes
 * as udp_output does. -EBADF. */
int udp_get_saddr(const struct udp_table *t, uint32_t owner, uint32_t sid, uint32_t *saddr);

/* Autobind an unbound socket (Linux inet_autobind, which inet_sendmsg does before any check of
 * udp_sendmsg: a send that fails still leaves the socket with a port). 0 (bound now or already),
 * -EAGAIN (no port left), -EBADF. */
int udp_autobind_sock(struct udp_table *t, uint32_t owner, uint32_t sid);

/* --- options (udp_opt.c) --- */

/* setsockopt, with Linux's sizes, ranges and errnos (core/sock.c sk_setsockopt, ipv4/
 * ip_sockglue.c do_ip_setsockopt, udp.c udp_lib_setsockopt):
 *   SOL_SOCKET  (optlen < sizeof(int): -EINVAL) SO_REUSEADDR, SO_REUSEPORT, SO_BROADCAST,
 *               SO_RCVBUF, SO_SNDBUF (capped, doubled, floored as above), SO_KEEPALIVE,
 *               SO_DONTROUTE, SO_PRIORITY (the shell refuses values outside 0..6 to the
 *               unprivileged, -EPERM), SO_RCVLOWAT (0 means 1, negative INT_MAX),
 *               SO_TIMESTAMP, SO_TIMESTAMPNS (and their _NEW numbers), SO_LINGER (a struct
 *               linger: shorter is -EINVAL); SO_RCVBUFFORCE/SO_SNDBUFFORCE -EPERM (no
 *               CAP_NET_ADMIN here);
 *   SOL_IP      an int, or one byte when optlen is 1..3, or 0 when optlen is 0: IP_TTL (1..255,
 *               -1 resets; optlen 0 -EINVAL), IP_TOS (any value, the low 8 bits; sets
 *               SO_PRIORITY from the TOS as Linux's rt_tos2priority), IP_MULTICAST_TTL (0..255,
 *               -1 means 1; optlen 0 -EINVAL), IP_MULTICAST_LOOP (optlen 0 -EINVAL),
 *               IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVERR (turning it off empties the
 *               error queue: the shell's), IP_MTU_DISCOVER (IP_PMTUDISC_DONT .. _OMIT);
 *   SOL_UDP     (optlen < sizeof(int): -EINVAL) UDP_CORK (clearing it does not send: the shell
 *               then calls udp_push_pending, as Linux pushes the pending frames);
 * -ENOPROTOOPT for any other option or level (SO_ERROR, SO_TYPE, IP_MTU are read-only).
 * Socket-layer options the core keeps no state for (SO_RCVTIMEO, SO_SNDTIMEO) are libsock's. */
int udp_setopt(struct udp_table *t, uint32_t owner, uint32_t sid, int level, int name,
	       const void *val, size_t len);

/* getsockopt: the options above plus SO_ERROR (takes and clears the pending error), SO_TYPE
 * (SOCK_DGRAM), SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN, and IP_MTU (the MTU of the route to the
 * connected peer, at most 65,535; -ENOTCONN unconnected). As Linux: a SOL_SOCKET value (an int,
 * or a struct linger) is cut to a shorter *len; an IP value that fits a byte is returned as one
 * byte when *len is 1..3, else cut to *len; *len says how many bytes were written. -ENOPROTOOPT
 * for an unknown option, -EOPNOTSUPP for a level that is neither SOL_SOCKET, SOL_UDP nor SOL_IP
 * (Linux's ip_getsockopt). */
int udp_getopt(struct udp_table *t, const struct udp_host *h, uint32_t owner, uint32_t sid,
	       int level, int name, void *val, size_t *len);

/* --- input (udp_input.c) --- */

/* Where one received datagram goes. About 4 KiB (room for a broadcast to every socket): the
 * shell keeps one in its context rather than on the stack per packet. */
struct udp_rx {
	uint32_t saddr;          /* network order, from the descriptor */
	uint32_t daddr;
	uint16_t sport;
	uint16_t dport;
	uint32_t payload_off;    /* from the data start of the chain */
	uint32_t payload_len;    /* UDP length - 8 */
	uint32_t trailing;       /* bytes past the UDP length, ignored (Linux trims them) */
	uint32_t n_sids;
	uint32_t sids[UDP_SOCKETS_MAX]; /* every socket that gets a copy */
};

/* A datagram from ipd: pkt's data starts at the IPv4 header, d->l4_off is the UDP header,
 * d->saddr/daddr are set; DESC_F_BCAST says it was sent to a broadcast address and
 * DESC_F_CSUM_VERIFIED that the checksum need not be checked. Borrows pkt (read only).
 *   0        deliver a copy of [payload_off, +payload_len) to each of rx->sids[0..n_sids):
 *            one socket for unicast (the best match: a connected socket's exact 4-tuple, then a
 *            socket bound to daddr, then one bound to ANY; the most recently bound wins a tie),
 *            every matching socket for broadcast and multicast (Linux delivers to all bound to
 *            the port, SO_BROADCAST only gates sending). n_sids is 0 for a broadcast/multicast
 *            nobody takes: counted in ignored_multi and never answered (RFC 1122 §4.1.3.1).
 *            The shell then calls udp_rx_delivered or udp_rx_rcvbuf_drop per socket.
 *   -ENOENT  unicast to a port nobody has (counted in no_ports): the shell asks ipd for an ICMP
 *            port unreachable (RFC 1122 §4.1.3.1).
 *   -EBADMSG malformed or bad checksum, counted: drop silently.
 * The header may straddle buffers (a reassembled datagram); the checksum is verified across the
 * chain. */
int udp_input(struct udp_table *t, const struct desc *d, const struct buf *pkt,
	      struct udp_rx *rx);

/* The shell queued a datagram for sid (in_datagrams) / dropped it because the socket's queue
 * held rcvbuf bytes already (rcvbuf_errors, in_errors, the socket's drops). A sid that is no
 * longer open only counts the global counters. */
void udp_rx_delivered(struct udp_table *t, uint32_t sid);
void udp_rx_rcvbuf_drop(struct udp_table *t, uint32_t sid);

/* What udp_icmp_error found: the socket told, and what its error queue entry says. */
struct udp_icmp_report {
	uint32_t sid;            /* the socket that sent the quoted datagram */
	bool queue;              /* IP_RECVERR is on: queue it (struct sock_extended_err) */
	uint8_t err;             /* ee_errno */
	uint8_t type;            /* ee_type, ee_code: the ICMP message's */
	uint8_t code;
	uint32_t info;           /* ee_info: the next-hop MTU of "fragmentation needed", the
				  * pointer of a parameter problem, else 0 */
	uint32_t daddr;          /* where the quoted datagram went (msg_name of MSG_ERRQUEUE) */
	uint16_t dport;
	uint32_t payload_off;    /* its quoted payload starts here in quoted[] */
};

/* An ICMP error about a datagram we sent (RFC 1122 §4.1.3.3): type/code and the 4 bytes after
 * the checksum (`rest`, network order) from the ICMP header, quoted = the quoted IPv4 header and
 * at least 8 bytes of UDP header (and what the sender quoted of the payload). The socket that
 * sent it is looked up as a reply would be (laddr/lport = quoted source, a connected socket's
 * peer = quoted destination). The error is Linux's icmp_err_convert: port unreachable
 * ECONNREFUSED, protocol unreachable ENOPROTOOPT, frag needed EMSGSIZE (ignored altogether with
 * IP_PMTUDISC_DONT), parameter problem EPROTO, administratively prohibited EHOSTUNREACH /
 * ENETUNREACH, ...; net/host unreachable and time exceeded are transient (RFC 1122 §3.2.2.1).
 * As Linux's __udp4_lib_err: without IP_RECVERR only a connected socket is told, and only of a
 * hard error; with IP_RECVERR every error becomes the pending error and is reported for the
 * error queue (rep->queue). 0 and *rep filled when the socket was told (the shell wakes its
 * waiters); -ENOENT when no socket takes it; -EBADMSG when the quote is malformed. */
int udp_icmp_error(struct udp_table *t, uint8_t type, uint8_t code, uint32_t rest,
		   const uint8_t *quoted, size_t quoted_len, struct udp_icmp_report *rep);

/* The shell took an entry off sid's error queue: the pending error becomes that of the next
 * queued entry, or 0 when none is left (Linux sock_dequeue_err_skb). */
void udp_errq_dequeued(struct udp_table *t, uint32_t sid, uint8_t next_err);

/* --- output (udp_output.c) --- */

/* One sendmsg() call. */
struct udp_send {
	bool has_addr;           /* msg_name given (sendto) */
	uint32_t daddr;          /* network order, when has_addr */
	uint16_t dport;
	uint32_t payload_len;    /* bytes of this call */
	int flags;               /* MSG_* of the call: MSG_MORE corks, MSG_OOB is refused */
};

/* What the shell does after udp_output / udp_push_pending. Exactly one of the first three
 * things may be asked, plus cork_drop on failure. */
struct udp_tx {
	bool emit;               /* send one datagram now: */
	uint32_t saddr;          /*   addresses and ports for the IPv4 descriptor and header */
	uint32_t daddr;
	uint16_t sport;
	uint16_t dport;
	uint32_t len;            /*   its total payload: corked_len bytes first, then this call's */
	uint32_t corked_len;     /*   how many of len are the shell's corked bytes (0: none) */
	uint8_t ttl;             /*   IP TTL (0: ipd's default) */
	uint8_t tos;             /*   IP TOS */
	bool df;                 /*   set Don't Fragment (IP_MTU_DISCOVER) */
	bool cork_append;        /* keep this call's payload at the end of the corked bytes */
	bool cork_drop;          /* free the corked bytes: the pending datagram is gone */
};

/* sendmsg() (Linux inet_sendmsg + udp_sendmsg). An unbound socket is autobound first, whatever
 * follows (-EAGAIN when no port is left). Then, in Linux's order: -EMSGSIZE (over 65,535
 * bytes), -EOPNOTSUPP (MSG_OOB); then, unless a datagram is being corked (its destination was
 * fixed by the first send, and Linux ignores the address of later ones): -EINVAL (sendto port
 * 0), -EDESTADDRREQ (no address and not connected; an address on a connected socket is used, as
 * Linux), the route (-ENETUNREACH, -EINVAL: see route_output; 0.0.0.0 is this host), -EACCES
 * (a broadcast route without SO_BROADCAST); -EMSGSIZE (corked + this payload over 65,507, or
 * with IP_PMTUDISC_DO/PROBE/INTERFACE over the route's MTU); the pending error, taken. With
 * MSG_MORE or UDP_CORK the payload is corked (tx->cork_append), else the datagram is emitted
 * (tx->emit, out_datagrams counted) with the socket's TTL (IP_MULTICAST_TTL to a multicast
 * group; a multicast TTL of 0 never leaves the host, and no group of ours takes it: it is
 * counted as sent and not emitted, as Linux), TOS and Don't Fragment (IP_PMTUDISC_DO and PROBE
 * always; WANT, the default, when the datagram fits the route's MTU). A failure while corking
 * discards the whole pending datagram, as Linux's udp_flush_pending_frames: tx->cork_drop tells
 * the shell to free its corked bytes. */
int udp_output(struct udp_table *t, uint32_t owner, uint32_t sid, const struct udp_host *h,
	       const struct udp_send *s, struct udp_tx *tx);

/* Emit the corked datagram now, if any (UDP_CORK cleared): 0 with tx->emit set or not; -EBADF. */
int udp_push_pending(struct udp_table *t, const struct udp_host *h, uint32_t owner, uint32_t sid,
		     struct udp_tx *tx);

/* The shell could not send a datagram udp_output emitted (no pool buffer, link full): moves it
 * from out_datagrams to sndbuf_errors, as Linux counts ENOBUFS. */
void udp_tx_sndbuf_drop(struct udp_table *t, uint32_t sid);

/* Fill the 8-byte UDP header for payload_len bytes at [payload_off, +payload_len) of the chain
 * payload (NULL when payload_len is 0), with the full checksum over pseudo-header, header and
 * payload; a computed 0 is sent as 0xffff (RFC 768). The caller guarantees the chain holds the
 * bytes and payload_len <= 65,527. */
void udp_header_fill(uint8_t hdr[8], uint32_t saddr, uint32_t daddr, uint16_t sport,
		     uint16_t dport, const struct buf *payload, size_t payload_off,
		     size_t payload_len);

/* The same header with the checksum left partial (checksum offload, Linux's CHECKSUM_PARTIAL):
 * the field holds the pseudo-header sum, folded and not inverted, and the datagram goes down
 * with DESC_F_CSUM_NEEDED, csum_start at the UDP header, csum_offset UDP_CSUM_OFFSET. ipd or
 * the device (the TAP's kernel side, through the virtio-net header) completes it, a 0 result
 * as 0xffff where ipd does it (RFC 768); through lo it goes up as verified, as Linux's
 * loopback does. Nothing of the payload is read: the send path never sums it. */
void udp_header_fill_partial(uint8_t hdr[8], uint32_t saddr, uint32_t daddr, uint16_t sport,
			     uint16_t dport, size_t payload_len);

#endif
