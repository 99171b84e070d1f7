/* udp_priv: the inside of the UDP core: the prototypes its files share. Tests may include it to
 * build state directly and look at the hash (STYLE rules 1, 17).
 *
 * Files and what each owns (one concern each):
 *   udp_table.c   init/check/recover, open/close, sids and owners, the port hash, stats names
 *   udp_bind.c    bind, connect, disconnect, names; address classes; ephemeral ports
 *   udp_opt.c     setsockopt/getsockopt, the socket extension's defaults and checks
 *   udp_input.c   validation, checksum and demultiplexing of received datagrams (SO_REUSEPORT
 *                 groups included); rx accounting
 *   udp_icmp.c    ICMP errors about datagrams we sent
 *   udp_output.c  the sendmsg rules, corking, the header and its checksum
 *
 * Writing a record: every call that writes a socket record runs between udp_txn_begin and
 * udp_txn_end, and gets the record to write from udp_sock_w(t, idx) before its first store to it
 * (the image is journaled and the record marked odd); the options in s->ext are part of the
 * record and written the same way. A store to the sealed part without it
 * breaks the record's checksum: udp_table_check catches it in every unit test, and the kill-point
 * tests (tests/unit/test_udp_restart.c) cut every update after each of its stores.
 *
 * Invariants of an open socket (udp_table_recover enforces them record by record):
 *   - BOUND <=> lport != 0 <=> the socket is on the hash chain of its port, exactly once;
 *   - laddr != 0, CONNECTED, BINDADDR_LOCK and BINDPORT_LOCK all imply BOUND;
 *   - CONNECTED <=> raddr != 0; rport != 0 implies CONNECTED;
 *   - CORK_PENDING <=> the cork_* fields describe a datagram (cork_len <= UDP_MAX_PAYLOAD);
 *     without it they are all zero;
 *   - rcvbuf/sndbuf lie within [UDP_*_MIN, 2 * UDP_*MEM_MAX];
 *   - the extension (s->ext, in the same record): its saddr and RP_GROUP imply BOUND; RP_GROUP
 *     is set exactly when the socket got its port with SO_REUSEPORT on (Linux joins a reuseport
 *     group at bind time);
 *   - no file-scope mutable state anywhere: everything lives in struct udp_table (STYLE 11).
 */
#ifndef USTACK_UDP_PRIV_H
#define USTACK_UDP_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "udp_core.h"

static inline unsigned udp_sid_idx(uint32_t sid) { return sid & 0xffffu; }
static inline uint16_t udp_sid_gen(uint32_t sid) { return (uint16_t)(sid >> 16); }
static inline uint32_t udp_sid_make(unsigned idx, uint16_t gen)
{
	return (uint32_t)gen << 16 | idx;
}

/* --- udp_table.c --- */

/* Slot idx, journaled in the open transaction and marked as being written: call it before the
 * first store to the record's sealed part (further calls in the same transaction are cheap). */
struct udp_sock *udp_sock_w(struct udp_table *t, unsigned idx);

/* Write n's sealed fields (after the record header) into slot idx, in a transaction, if they
 * differ from the record's: for calls that prepare a change on a copy (udp_opt.c). */
void udp_sock_update(struct udp_table *t, unsigned idx, const struct udp_sock *n);

/* The ports record, likewise (the cursor, the bind sequence, the SO_REUSEPORT key). */
struct udp_ports *udp_ports_w(struct udp_table *t);

/* Per-record invariants of an open socket (the list above): 0 or -EINVAL. */
int udp_sock_check(const struct udp_sock *s);

/* The open socket sid, if owner's; NULL otherwise. */
struct udp_sock *udp_sock_find(struct udp_table *t, uint32_t owner, uint32_t sid);
/* The open socket sid whoever owns it (shell-side accounting); NULL if not open. */
struct udp_sock *udp_sock_any(struct udp_table *t, uint32_t sid);

static inline unsigned udp_hash_bucket(uint16_t port_be)
{
	return ((unsigned)port_be >> 8 ^ (unsigned)port_be) & (UDP_HASH_BUCKETS - 1);
}
/* Put slot idx (lport set) on its port's chain / take it off. */
void udp_hash_insert(struct udp_table *t, unsigned idx);
void udp_hash_remove(struct udp_table *t, unsigned idx);
/* Rebuild every chain from the sockets' lport fields. */
void udp_hash_rebuild(struct udp_table *t);

/* Walk the chain of port's bucket: for (i = first; i != UDP_IDX_NONE; i = next) with a step
 * bound, so a chain can never loop even if the table were corrupted under us. */
#define UDP_HASH_FOR_EACH(t, port_be, i, steps)                                             \
	for ((i) = (t)->hash[udp_hash_bucket(port_be)], (steps) = 0;                         \
	     (i) < UDP_SOCKETS_MAX && (steps) < UDP_SOCKETS_MAX;                             \
	     (i) = (t)->sock[(i)].hnext, (steps)++)

/* Forget a corked datagram (the shell frees its bytes). s comes from udp_sock_w. */
void udp_cork_clear(struct udp_sock *s);

/* --- udp_bind.c --- */


/* Give the unbound slot idx an ephemeral port with laddr unchanged (not locked: a disconnect
 * releases it). 0 or -EAGAIN when every port of the range is taken. */
int udp_autobind(struct udp_table *t, unsigned idx);
/* Release slot idx's port (it becomes unbound: laddr, lport, locks cleared). */
void udp_unbind(struct udp_table *t, unsigned idx);

/* --- udp_opt.c --- */

/* A freshly opened socket's extension: Linux's defaults (IP_MULTICAST_TTL 1, IP_MULTICAST_LOOP
 * on, IP_PMTUDISC_WANT, SO_RCVLOWAT 1). */
void udp_ext_reset(struct udp_sock_ext *x);
/* udp_sock_check's look at the extension of the open socket s (s->ext): 0 or -EINVAL. */
int udp_ext_check(const struct udp_sock *s);

/* --- udp_input.c --- */

/* Best socket for a datagram from raddr:rport to laddr:lport (Linux compute_score: each of a
 * socket's bound address, peer address and peer port that is set must match and scores; the
 * highest score wins, then the newest bind). If the winner is an unconnected member of a
 * SO_REUSEPORT group, the group's member for this 4-tuple's hash is chosen instead (Linux
 * reuseport_select_sock). Slot index, or -1. */
int udp_lookup(const struct udp_table *t, uint32_t laddr, uint16_t lport, uint32_t raddr,
	       uint16_t rport);

#endif
