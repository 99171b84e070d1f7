/* test_udp_sock: the UDP socket table (servers/udp): init, validation of a segment left by a
 * previous udpd and recovery from it, sids and owner isolation, bind (explicit, ephemeral,
 * exhaustion, EADDRINUSE and SO_REUSEADDR, EADDRNOTAVAIL, EINVAL on rebind), connect and the
 * AF_UNSPEC disconnect, and socket options. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "udp_core.h"
#include "udp_priv.h"

#define OWNER 7u
#define OTHER 8u

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

#define OUR ip4(192, 0, 2, 10)
#define PEER ip4(192, 0, 2, 20)
#define SUBNET_BCAST ip4(192, 0, 2, 255)
#define BCAST ip4(255, 255, 255, 255)

static struct udp_table *t;
static struct udp_host h; /* 192.0.2.10/24 */

static void setup(void)
{
	t = malloc(sizeof(*t));
	ck_assert_ptr_nonnull(t);
	udp_table_init(t);
	/* 192.0.2.10/24 with a default route through 192.0.2.1, MTU 1500. */
	ck_assert_int_eq(udp_host_init(&h, OUR, 24, ip4(192, 0, 2, 1), 1500), 0);
}

static void teardown(void)
{
	free(t);
	t = NULL;
}

static uint32_t sock_open(uint32_t owner)
{
	uint32_t sid = 0;

	ck_assert_int_eq(udp_socket_open(t, owner, &sid), 0);
	ck_assert_uint_ne(sid, 0);
	return sid;
}

static const struct udp_sock *sk(uint32_t sid)
{
	const struct udp_sock *s = udp_sock_get(t, OWNER, sid);

	ck_assert_ptr_nonnull(s);
	return s;
}

static void set_int(uint32_t sid, int level, int name, int v)
{
	ck_assert_int_eq(udp_setopt(t, OWNER, sid, level, name, &v, sizeof(v)), 0);
}

static int get_int(uint32_t sid, int level, int name)
{
	int v = -12345;
	size_t len = sizeof(v);

	ck_assert_int_eq(udp_getopt(t, &h, OWNER, sid, level, name, &v, &len), 0);
	ck_assert_uint_eq(len, sizeof(v));
	return v;
}

/* --- the table --- */

START_TEST(table_init_is_valid)
{
	ck_assert_int_eq(udp_table_check(t), 0);
	ck_assert_uint_eq(t->magic, UDP_TABLE_MAGIC);
	ck_assert_uint_eq(t->size, sizeof(*t));
	ck_assert_uint_eq(t->ports.lo, 32768);
	ck_assert_uint_eq(t->ports.hi, 60999);
	ck_assert_uint_eq(udp_stat_field_count, sizeof(struct udp_stats) / sizeof(uint64_t));
	ck_assert_str_eq(udp_stat_fields[0].name, "in_datagrams");
	ck_assert_str_eq(udp_stat_fields[1].name, "no_ports");
}
END_TEST

/* Build a table with sockets in several states, then corrupt a copy one field at a time. */
START_TEST(table_check_rejects_corruption)
{
	uint32_t a = sock_open(OWNER), b = sock_open(OWNER), c = sock_open(OWNER);
	struct udp_table *bad = malloc(sizeof(*bad));
	unsigned ia = udp_sid_idx(a), ib = udp_sid_idx(b), ic = udp_sid_idx(c);
	struct udp_send snd = {.payload_len = 10, .flags = MSG_MORE, .has_addr = true,
			       .daddr = PEER, .dport = htons(9)};
	struct udp_tx tx;

	ck_assert_ptr_nonnull(bad);
	ck_assert_int_eq(udp_bind(t, OWNER, a, &h, OUR, htons(53)), 0);
	ck_assert_int_eq(udp_connect(t, OWNER, b, &h, PEER, htons(99)), 0);
	ck_assert_int_eq(udp_output(t, OWNER, c, &h, &snd, &tx), 0); /* corked */
	ck_assert_int_eq(udp_table_check(t), 0);

	/* Each corruption is resealed: these are the invariants a record must keep even when its
	 * seal is intact (a bug that wrote a consistent but wrong record); the seals themselves are
	 * table_check_rejects_torn_records'. */
#define CORRUPT(stmt, want)                                                                  \
	do {                                                                                 \
		memcpy(bad, t, sizeof(*t));                                                  \
		stmt;                                                                        \
		for (unsigned k_ = 0; k_ < UDP_SOCKETS_MAX; k_++)                            \
			state_rec_seal(&bad->sock[k_].rec, UDP_SOCK_SEALED);                 \
		state_rec_seal(&bad->ports.rec, sizeof(bad->ports));                         \
		ck_assert_int_eq(udp_table_check(bad), want);                                \
	} while (0)
	CORRUPT(bad->magic ^= 1, -EPROTO);
	CORRUPT(bad->version = 99, -EPROTO);
	CORRUPT(bad->size -= 64, -EINVAL);
	CORRUPT(bad->sockets_max = 512, -EINVAL);
	CORRUPT(bad->ports.lo = 0, -EINVAL);
	CORRUPT(bad->ports.next = 1000, -EINVAL);
	CORRUPT(bad->ports.lo = 61000, -EINVAL);
	CORRUPT(bad->sock[ia].in_use = 2, -EINVAL);
	CORRUPT(bad->sock[ia].gen = 0, -EINVAL);
	CORRUPT(bad->sock[ia].flags |= 0x8000, -EINVAL);
	CORRUPT(bad->sock[ia].lport = 0, -EINVAL);                      /* BOUND without port */
	CORRUPT(bad->sock[ia].flags &= ~UDP_SOCK_F_BOUND, -EINVAL);     /* port without BOUND */
	CORRUPT(bad->sock[ia].rport = htons(1), -EINVAL);               /* peer port, no peer */
	CORRUPT(bad->sock[ia].bind_seq = bad->ports.bind_seq + 1, -EINVAL);
	CORRUPT(bad->sock[ia].flags &= ~UDP_SOCK_F_BINDADDR_LOCK, 0);  /* still sane */
	CORRUPT(bad->sock[ib].raddr = 0, -EINVAL);                      /* CONNECTED, no peer */
	CORRUPT(bad->sock[ib].flags &= ~UDP_SOCK_F_CONNECTED, -EINVAL);
	CORRUPT(bad->sock[ib].rcvbuf = 100, -EINVAL);
	CORRUPT(bad->sock[ib].sndbuf = 0xffffffffu, -EINVAL);
	CORRUPT(bad->sock[ib].pending_error = 5000, -EINVAL);
	CORRUPT(bad->sock[ic].cork_len = 65508, -EINVAL);
	CORRUPT(bad->sock[ic].flags &= ~UDP_SOCK_F_CORK_PENDING, -EINVAL); /* stale cork fields */
	CORRUPT(bad->sock[ic].cork_sport = 0, -EINVAL);
	CORRUPT(bad->sock[ic].in_use = 0, 0); /* a free slot may hold anything */
#undef CORRUPT
	free(bad);
}
END_TEST

/* A record written without its seal, or left odd (being written), fails alone. */
START_TEST(table_check_rejects_torn_records)
{
	uint32_t a = sock_open(OWNER);
	unsigned ia = udp_sid_idx(a);
	struct udp_table *bad = malloc(sizeof(*bad));

	ck_assert_ptr_nonnull(bad);
	ck_assert_int_eq(udp_bind(t, OWNER, a, &h, OUR, htons(53)), 0);
	memcpy(bad, t, sizeof(*t));
	ck_assert_int_eq(udp_table_check(bad), 0);
	bad->sock[ia].rcvbuf ^= 0x100; /* a plausible value, but not the committed one */
	ck_assert_int_eq(udp_table_check(bad), -EINVAL);
	memcpy(bad, t, sizeof(*t));
	bad->sock[ia].rec.seq |= 1;
	ck_assert_int_eq(udp_table_check(bad), -EINVAL);
	memcpy(bad, t, sizeof(*t));
	bad->sock[700].reserved1 = 1; /* a free record is sealed too */
	ck_assert_int_eq(udp_table_check(bad), -EINVAL);
	/* Not sealed, by design: the drop counter and the hash link. */
	memcpy(bad, t, sizeof(*t));
	bad->sock[ia].drops = 99;
	ck_assert_int_eq(udp_table_check(bad), 0);
	/* An open transaction is not a consistent table either. */
	memcpy(bad, t, sizeof(*t));
	bad->journal.n = 1;
	ck_assert_int_eq(udp_table_check(bad), -EINVAL);
	free(bad);
}
END_TEST

/* Recovery drops a bad record alone: the rest of the table carries on. */
START_TEST(table_recover_drops_only_the_bad_record)
{
	uint32_t a = sock_open(OWNER), b = sock_open(OWNER), c = sock_open(OTHER);
	unsigned ib = udp_sid_idx(b);

	ck_assert_int_eq(udp_bind(t, OWNER, a, &h, 0, htons(53)), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, b, &h, 0, htons(54)), 0);
	ck_assert_int_eq(udp_connect(t, OTHER, c, &h, PEER, htons(99)), 0);
	t->sock[ib].lport = htons(55);          /* torn: not sealed */
	t->sock[900].rec.csum ^= 1;             /* a free record, damaged */
	t->ports.next = 7;                      /* a torn ports record is rebuilt */
	t->ports.bind_seq = 1;
	ck_assert_int_eq(udp_table_recover(t, NULL, 0), 0);
	ck_assert_uint_eq(t->stats.state_records_dropped, 3);
	ck_assert_uint_eq(t->ports.next, t->ports.lo);
	ck_assert_uint_eq(t->ports.bind_seq, 3); /* the newest socket's */
	ck_assert_ptr_null(udp_sock_get(t, OWNER, b));
	ck_assert_ptr_nonnull(udp_sock_get(t, OWNER, a));
	ck_assert_uint_eq(sk(a)->lport, htons(53));
	ck_assert_uint_eq(udp_sock_get(t, OTHER, c)->raddr, PEER);
	ck_assert_int_eq(udp_table_check(t), 0);
	/* The slot's next socket has a new sid (the dropped one stays invalid), the dropped
	 * socket's port is free again, the others' ports still conflict. */
	uint32_t n = sock_open(OTHER);
	ck_assert_uint_eq(udp_sid_idx(n), ib);
	ck_assert_uint_ne(n, b);
	ck_assert_int_eq(udp_bind(t, OTHER, n, &h, 0, htons(54)), 0);
	ck_assert_int_eq(udp_bind(t, OTHER, sock_open(OTHER), &h, 0, htons(53)), -EADDRINUSE);
	ck_assert_int_eq(udp_table_check(t), 0);
}
END_TEST

START_TEST(table_recover_keeps_sockets)
{
	uint32_t a = sock_open(OWNER), b = sock_open(OWNER), c = sock_open(OTHER);
	struct udp_send snd = {.payload_len = 10, .flags = MSG_MORE, .has_addr = true,
			       .daddr = PEER, .dport = htons(9)};
	struct udp_tx tx;
	uint32_t addr;
	uint16_t port;

	ck_assert_int_eq(udp_bind(t, OWNER, a, &h, 0, htons(53)), 0);
	ck_assert_int_eq(udp_connect(t, OWNER, b, &h, PEER, htons(99)), 0);
	ck_assert_int_eq(udp_output(t, OTHER, c, &h, &snd, &tx), 0);
	ck_assert(tx.cork_append);
	t->stats.no_ports = 42;
	/* What a dead udpd may leave: hash links are never trusted across processes. */
	for (unsigned i = 0; i < UDP_HASH_BUCKETS; i++)
		t->hash[i] = 3;
	t->sock[udp_sid_idx(a)].hnext = 0x1234;
	ck_assert_int_eq(udp_table_recover(t, NULL, 0), 0);

	ck_assert_uint_eq(t->stats.cork_lost_restart, 1);
	ck_assert_uint_eq(t->stats.no_ports, 42);
	ck_assert_uint_eq(udp_sock_get(t, OTHER, c)->flags & UDP_SOCK_F_CORK_PENDING, 0);
	ck_assert_uint_eq(udp_sock_get(t, OTHER, c)->cork_len, 0);
	ck_assert_int_eq(udp_getname(t, OWNER, b, true, &addr, &port), 0);
	ck_assert_uint_eq(addr, PEER);
	ck_assert_uint_eq(port, htons(99));
	/* The port hash works again: the bound port conflicts, the lookup finds the sockets. */
	ck_assert_int_eq(udp_bind(t, OTHER, sock_open(OTHER), &h, 0, htons(53)), -EADDRINUSE);
	ck_assert_int_eq(udp_lookup(t, OUR, htons(53), PEER, htons(1)), (int)udp_sid_idx(a));
	ck_assert_int_eq(udp_lookup(t, OUR, sk(b)->lport, PEER, htons(99)), (int)udp_sid_idx(b));
	ck_assert_int_eq(udp_table_check(t), 0);

	/* A table that fails the check is left exactly as it was. */
	t->version = 0;
	{
		struct udp_table *copy = malloc(sizeof(*copy));

		ck_assert_ptr_nonnull(copy);
		memcpy(copy, t, sizeof(*t));
		ck_assert_int_eq(udp_table_recover(t, NULL, 0), -EPROTO);
		ck_assert_int_eq(memcmp(copy, t, sizeof(*t)), 0);
		free(copy);
	}
}
END_TEST

START_TEST(port_range_and_seed)
{
	ck_assert_int_eq(udp_set_port_range(t, 0, 10), -EINVAL);
	ck_assert_int_eq(udp_set_port_range(t, 20, 10), -EINVAL);
	ck_assert_int_eq(udp_set_port_range(t, 40000, 40009), 0);
	udp_port_seed(t, 1234567);
	ck_assert_uint_eq(t->ports.next, 40000 + 1234567 % 10);
	ck_assert_int_eq(udp_table_check(t), 0);
}
END_TEST

/* --- sockets and owners --- */

START_TEST(open_close_and_stale_sids)
{
	uint32_t a = sock_open(OWNER), b = sock_open(OWNER), a2;

	ck_assert_uint_ne(a, b);
	ck_assert_uint_eq(sk(a)->rcvbuf, UDP_RMEM_DEFAULT);
	ck_assert_uint_eq(sk(a)->sndbuf, UDP_WMEM_DEFAULT);
	ck_assert_uint_eq(sk(a)->flags, 0);
	ck_assert_uint_eq(udp_sock_sid(t, udp_sid_idx(a)), a);
	ck_assert_int_eq(udp_socket_close(t, OWNER, a), 0);
	ck_assert_int_eq(udp_socket_close(t, OWNER, a), -EBADF);
	ck_assert_uint_eq(udp_sock_sid(t, udp_sid_idx(a)), 0);
	/* The slot is reused with a new generation: the old sid stays dead. */
	a2 = sock_open(OWNER);
	ck_assert_uint_eq(udp_sid_idx(a2), udp_sid_idx(a));
	ck_assert_uint_ne(a2, a);
	ck_assert_ptr_null(udp_sock_get(t, OWNER, a));
	ck_assert_int_eq(udp_bind(t, OWNER, a, &h, 0, htons(1)), -EBADF);
	ck_assert_ptr_null(udp_sock_get(t, OWNER, 0xffffffffu)); /* slot out of range */
}
END_TEST

START_TEST(table_full_emfile)
{
	uint32_t sid;

	for (unsigned i = 0; i < UDP_SOCKETS_MAX; i++)
		ck_assert_int_eq(udp_socket_open(t, OWNER, &sid), 0);
	ck_assert_int_eq(udp_socket_open(t, OWNER, &sid), -EMFILE);
	ck_assert_int_eq(udp_socket_close(t, OWNER, sid), 0);
	ck_assert_int_eq(udp_socket_open(t, OTHER, &sid), 0);
}
END_TEST

START_TEST(owner_isolation)
{
	uint32_t mine = sock_open(OWNER);
	int v = 1;
	size_t len = sizeof(v);
	uint32_t addr;
	uint16_t port;
	struct udp_send snd = {.has_addr = true, .daddr = PEER, .dport = htons(9)};
	struct udp_tx tx;

	ck_assert_int_eq(udp_bind(t, OWNER, mine, &h, 0, htons(5353)), 0);
	ck_assert_ptr_null(udp_sock_get(t, OTHER, mine));
	ck_assert_int_eq(udp_bind(t, OTHER, mine, &h, 0, htons(1)), -EBADF);
	ck_assert_int_eq(udp_connect(t, OTHER, mine, &h, PEER, htons(1)), -EBADF);
	ck_assert_int_eq(udp_disconnect(t, OTHER, mine), -EBADF);
	ck_assert_int_eq(udp_setopt(t, OTHER, mine, SOL_SOCKET, SO_BROADCAST, &v, len), -EBADF);
	ck_assert_int_eq(udp_getopt(t, &h, OTHER, mine, SOL_SOCKET, SO_ERROR, &v, &len), -EBADF);
	ck_assert_int_eq(udp_getname(t, OTHER, mine, false, &addr, &port), -EBADF);
	ck_assert_int_eq(udp_take_error(t, OTHER, mine), -EBADF);
	ck_assert_int_eq(udp_output(t, OTHER, mine, &h, &snd, &tx), -EBADF);
	ck_assert(!tx.emit);
	ck_assert_int_eq(udp_push_pending(t, &h, OTHER, mine, &tx), -EBADF);
	ck_assert_int_eq(udp_socket_close(t, OTHER, mine), -EBADF);
	/* Untouched by all of that. */
	ck_assert_uint_eq(sk(mine)->lport, htons(5353));
	ck_assert_uint_eq(sk(mine)->flags & UDP_SOCK_F_BROADCAST, 0);
	ck_assert_uint_eq(t->stats.out_datagrams, 0);
}
END_TEST

START_TEST(close_owner_closes_only_its_sockets)
{
	uint32_t a = sock_open(OWNER), b = sock_open(OTHER), c = sock_open(OWNER);

	ck_assert_int_eq(udp_bind(t, OWNER, a, &h, 0, htons(1000)), 0);
	ck_assert_int_eq(udp_bind(t, OTHER, b, &h, 0, htons(1001)), 0);
	ck_assert_int_eq(udp_connect(t, OWNER, c, &h, PEER, htons(1)), 0);
	ck_assert_uint_eq(udp_close_owner(t, OWNER), 2);
	ck_assert_ptr_null(udp_sock_get(t, OWNER, a));
	ck_assert_ptr_null(udp_sock_get(t, OWNER, c));
	ck_assert_ptr_nonnull(udp_sock_get(t, OTHER, b));
	ck_assert_uint_eq(udp_close_owner(t, OWNER), 0);
	/* Their ports are free, the other owner's is not. */
	ck_assert_int_eq(udp_bind(t, OTHER, sock_open(OTHER), &h, 0, htons(1000)), 0);
	ck_assert_int_eq(udp_bind(t, OTHER, sock_open(OTHER), &h, 0, htons(1001)), -EADDRINUSE);
	ck_assert_int_eq(udp_table_check(t), 0);
}
END_TEST

/* --- bind --- */

START_TEST(bind_explicit)
{
	uint32_t s = sock_open(OWNER);
	uint32_t addr = 1;
	uint16_t port = 1;

	ck_assert_int_eq(udp_getname(t, OWNER, s, false, &addr, &port), 0);
	ck_assert_uint_eq(addr, 0);
	ck_assert_uint_eq(port, 0);
	ck_assert_int_eq(udp_bind(t, OWNER, s, &h, OUR, htons(4000)), 0);
	ck_assert_int_eq(udp_getname(t, OWNER, s, false, &addr, &port), 0);
	ck_assert_uint_eq(addr, OUR);
	ck_assert_uint_eq(port, htons(4000));
	ck_assert_uint_eq(sk(s)->flags, UDP_SOCK_F_BOUND | UDP_SOCK_F_BINDADDR_LOCK |
						 UDP_SOCK_F_BINDPORT_LOCK);
	ck_assert_int_eq(udp_getname(t, OWNER, s, true, &addr, &port), -ENOTCONN);
	/* Rebinding is EINVAL, whatever the address. */
	ck_assert_int_eq(udp_bind(t, OWNER, s, &h, 0, htons(4001)), -EINVAL);
	ck_assert_int_eq(udp_bind(t, OWNER, s, &h, 0, 0), -EINVAL);
}
END_TEST

START_TEST(bind_ephemeral)
{
	uint32_t a = sock_open(OWNER), b = sock_open(OWNER);
	uint16_t pa, pb;

	ck_assert_int_eq(udp_bind(t, OWNER, a, &h, 0, 0), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, b, &h, OUR, 0), 0);
	pa = ntohs(sk(a)->lport);
	pb = ntohs(sk(b)->lport);
	ck_assert_uint_ge(pa, 32768);
	ck_assert_uint_le(pa, 60999);
	ck_assert_uint_ge(pb, 32768);
	ck_assert_uint_le(pb, 60999);
	ck_assert_uint_ne(pa, pb);
	/* Port chosen by the stack: not locked (a disconnect would release it); address is. */
	ck_assert_uint_eq(sk(a)->flags & UDP_SOCK_F_BINDPORT_LOCK, 0);
	ck_assert_uint_eq(sk(b)->flags & UDP_SOCK_F_BINDADDR_LOCK, UDP_SOCK_F_BINDADDR_LOCK);
	ck_assert_int_eq(udp_bind(t, OWNER, a, &h, 0, 0), -EINVAL);
}
END_TEST

START_TEST(bind_ephemeral_skips_used_and_exhausts)
{
	uint32_t s[4];
	uint32_t extra = sock_open(OWNER);
	struct udp_send snd = {.has_addr = true, .daddr = PEER, .dport = htons(9)};
	struct udp_tx tx;

	ck_assert_int_eq(udp_set_port_range(t, 40000, 40003), 0);
	for (unsigned i = 0; i < 4; i++)
		s[i] = sock_open(OWNER);
	ck_assert_int_eq(udp_bind(t, OWNER, s[0], &h, OUR, htons(40001)), 0); /* explicit, in range */
	ck_assert_int_eq(udp_bind(t, OWNER, s[1], &h, 0, 0), 0);
	ck_assert_uint_eq(sk(s[1])->lport, htons(40000));
	ck_assert_int_eq(udp_bind(t, OWNER, s[2], &h, 0, 0), 0);
	ck_assert_uint_eq(sk(s[2])->lport, htons(40002)); /* 40001 skipped */
	ck_assert_int_eq(udp_connect(t, OWNER, s[3], &h, PEER, htons(7)), 0); /* autobind */
	ck_assert_uint_eq(sk(s[3])->lport, htons(40003));
	/* Exhausted: bind(0) says EADDRINUSE, autobinds EAGAIN (Linux), nothing changes. */
	ck_assert_int_eq(udp_bind(t, OWNER, extra, &h, 0, 0), -EADDRINUSE);
	ck_assert_int_eq(udp_connect(t, OWNER, extra, &h, PEER, htons(7)), -EAGAIN);
	ck_assert_int_eq(udp_output(t, OWNER, extra, &h, &snd, &tx), -EAGAIN);
	ck_assert(!tx.emit);
	ck_assert_uint_eq(sk(extra)->flags, 0);
	ck_assert_uint_eq(t->stats.out_datagrams, 0);
	/* A port comes free: the cursor finds it. */
	ck_assert_int_eq(udp_socket_close(t, OWNER, s[2]), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, extra, &h, 0, 0), 0);
	ck_assert_uint_eq(sk(extra)->lport, htons(40002));
}
END_TEST

START_TEST(bind_addr_in_use)
{
	uint32_t a = sock_open(OWNER), b = sock_open(OWNER), c = sock_open(OWNER);

	ck_assert_int_eq(udp_bind(t, OWNER, a, &h, OUR, htons(53)), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, b, &h, OUR, htons(53)), -EADDRINUSE);
	ck_assert_int_eq(udp_bind(t, OWNER, b, &h, 0, htons(53)), -EADDRINUSE); /* ANY overlaps */
	/* A different, non-overlapping address may share the port. */
	ck_assert_int_eq(udp_bind(t, OWNER, b, &h, BCAST, htons(53)), 0);
	ck_assert_uint_eq(sk(b)->flags & UDP_SOCK_F_BOUND, UDP_SOCK_F_BOUND);
	/* The other way round: ANY first, then a specific address. */
	ck_assert_int_eq(udp_bind(t, OWNER, c, &h, 0, htons(54)), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, OUR, htons(54)), -EADDRINUSE);
	/* A failed bind left the socket unbound. */
	ck_assert_int_eq(udp_table_check(t), 0);
}
END_TEST

START_TEST(bind_reuseaddr_needs_both)
{
	uint32_t a = sock_open(OWNER), b = sock_open(OWNER), c = sock_open(OWNER);
	uint32_t d = sock_open(OWNER);

	set_int(a, SOL_SOCKET, SO_REUSEADDR, 1);
	ck_assert_int_eq(udp_bind(t, OWNER, a, &h, 0, htons(67)), 0);
	/* Only the newcomer has it: refused. */
	ck_assert_int_eq(udp_bind(t, OWNER, d, &h, 0, htons(68)), 0);
	set_int(b, SOL_SOCKET, SO_REUSEADDR, 1);
	ck_assert_int_eq(udp_bind(t, OWNER, b, &h, 0, htons(68)), -EADDRINUSE);
	/* Both have it: shared, on the same address and on overlapping ones. */
	ck_assert_int_eq(udp_bind(t, OWNER, b, &h, 0, htons(67)), 0);
	set_int(c, SOL_SOCKET, SO_REUSEADDR, 1);
	ck_assert_int_eq(udp_bind(t, OWNER, c, &h, OUR, htons(67)), 0);
	/* One without it cannot join them. */
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, OUR, htons(67)), -EADDRINUSE);
	/* Clearing it later on one holder blocks newcomers again (Linux reads it per check). */
	set_int(a, SOL_SOCKET, SO_REUSEADDR, 0);
	{
		uint32_t e = sock_open(OWNER);

		set_int(e, SOL_SOCKET, SO_REUSEADDR, 1);
		ck_assert_int_eq(udp_bind(t, OWNER, e, &h, 0, htons(67)), -EADDRINUSE);
	}
}
END_TEST

START_TEST(bind_addr_not_avail)
{
	struct udp_host h31;

	ck_assert_int_eq(udp_host_init(&h31, OUR, 31, 0, 1500), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, ip4(10, 1, 1, 1), htons(1)),
			 -EADDRNOTAVAIL);
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, PEER, htons(1)), -EADDRNOTAVAIL);
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, ip4(0, 1, 2, 3), htons(1)),
			 -EADDRNOTAVAIL);
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h31, SUBNET_BCAST, htons(1)),
			 -EADDRNOTAVAIL); /* a /31 has no broadcast address */
	/* Accepted (Linux inet_addr_type): ANY, ours (127/8 included), the limited, the subnet and
	 * lo's broadcast, multicast. */
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, 0, htons(2)), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, OUR, htons(3)), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, BCAST, htons(4)), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, SUBNET_BCAST, htons(5)), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, ip4(127, 0, 0, 1), htons(7)), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, ip4(127, 9, 8, 7), htons(7)), 0);
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, ip4(127, 255, 255, 255),
				  htons(8)),
			 0);
	ck_assert_int_eq(udp_bind(t, OWNER, sock_open(OWNER), &h, ip4(224, 0, 0, 251), htons(9)),
			 0);
	/* Address is checked before "already bound", as Linux. */
	{
		uint32_t s = sock_open(OWNER);

		ck_assert_int_eq(udp_bind(t, OWNER, s, &h, 0, htons(6)), 0);
		ck_assert_int_eq(udp_bind(t, OWNER, s, &h, PEER, htons(6)), -EADDRNOTAVAIL);
	}
}
END_TEST

/* --- connect and disconnect --- */

START_TEST(connect_autobinds)
{
	uint32_t s = sock_open(OWNER);
	uint32_t addr;
	uint16_t port;

	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, PEER, htons(7000)), 0);
	ck_assert_uint_eq(sk(s)->laddr, OUR); /* the routed source, as Linux */
	ck_assert_uint_ge(ntohs(sk(s)->lport), 32768);
	ck_assert_uint_eq(sk(s)->flags, UDP_SOCK_F_BOUND | UDP_SOCK_F_CONNECTED);
	ck_assert_int_eq(udp_getname(t, OWNER, s, true, &addr, &port), 0);
	ck_assert_uint_eq(addr, PEER);
	ck_assert_uint_eq(port, htons(7000));
	/* Bound by the autobind: bind is EINVAL now (Linux). */
	ck_assert_int_eq(udp_bind(t, OWNER, s, &h, 0, htons(9999)), -EINVAL);
	/* Reconnect replaces the peer, keeps the port. */
	port = sk(s)->lport;
	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, ip4(198, 51, 100, 7), htons(1)), 0);
	ck_assert_uint_eq(sk(s)->raddr, ip4(198, 51, 100, 7));
	ck_assert_uint_eq(sk(s)->lport, port);
	/* Port 0 is a legal peer, as in Linux. */
	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, PEER, 0), 0);
	ck_assert_uint_eq(sk(s)->rport, 0);
}
END_TEST

/* Linux's inet_dgram_connect autobinds first, so a connect that fails keeps its port. */
START_TEST(connect_errors_keep_the_port)
{
	struct udp_host nogw;
	uint32_t s = sock_open(OWNER), lo = sock_open(OWNER);
	uint16_t port;

	ck_assert_int_eq(udp_host_init(&nogw, OUR, 24, 0, 1500), 0);
	ck_assert_int_eq(udp_connect(t, OWNER, s, &nogw, ip4(198, 51, 100, 7), htons(1)),
			 -ENETUNREACH);
	ck_assert_int_eq(udp_connect(t, OWNER, s, &nogw, BCAST, htons(1)), -ENETUNREACH);
	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, BCAST, htons(1)), -EACCES);
	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, SUBNET_BCAST, htons(1)), -EACCES);
	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, ip4(127, 255, 255, 255), htons(1)), -EACCES);
	ck_assert_uint_eq(sk(s)->flags, UDP_SOCK_F_BOUND);
	ck_assert_uint_eq(sk(s)->laddr, 0);
	port = sk(s)->lport;
	ck_assert_uint_ge(ntohs(port), 32768);
	set_int(s, SOL_SOCKET, SO_BROADCAST, 1);
	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, BCAST, htons(1)), 0);
	ck_assert_uint_eq(sk(s)->raddr, BCAST);
	ck_assert_uint_eq(sk(s)->lport, port);
	/* A 127/8 source never leaves by the NIC. */
	ck_assert_int_eq(udp_bind(t, OWNER, lo, &h, ip4(127, 0, 0, 1), 0), 0);
	ck_assert_int_eq(udp_connect(t, OWNER, lo, &h, PEER, htons(1)), -EINVAL);
	ck_assert(!(sk(lo)->flags & UDP_SOCK_F_CONNECTED));
}
END_TEST

/* Through lo: our address and 127/8 are connectable; the routed source becomes the socket's
 * address (127.0.0.1 for 127/8); 0.0.0.0 is this host (Linux: the peer becomes 127.0.0.1). */
START_TEST(connect_through_loopback)
{
	uint32_t a = sock_open(OWNER), b = sock_open(OWNER), c = sock_open(OWNER), addr;
	uint16_t port;

	ck_assert_int_eq(udp_connect(t, OWNER, a, &h, ip4(127, 0, 0, 9), htons(5)), 0);
	ck_assert_uint_eq(sk(a)->laddr, ip4(127, 0, 0, 1));
	ck_assert_uint_eq(sk(a)->raddr, ip4(127, 0, 0, 9));
	ck_assert_int_eq(udp_connect(t, OWNER, b, &h, OUR, htons(5)), 0);
	ck_assert_uint_eq(sk(b)->laddr, OUR);
	ck_assert_int_eq(udp_connect(t, OWNER, c, &h, 0, htons(5)), 0);
	ck_assert_uint_eq(sk(c)->laddr, ip4(127, 0, 0, 1));
	ck_assert_int_eq(udp_getname(t, OWNER, c, true, &addr, &port), 0);
	ck_assert_uint_eq(addr, ip4(127, 0, 0, 1));
	/* Connected to lo, the socket's source is 127.0.0.1: the NIC is out of reach. */
	ck_assert_int_eq(udp_connect(t, OWNER, a, &h, PEER, htons(5)), -EINVAL);
	/* Port 0: connected (it receives from any port), yet getpeername says ENOTCONN. */
	ck_assert_int_eq(udp_connect(t, OWNER, b, &h, OUR, 0), 0);
	ck_assert_int_eq(udp_getname(t, OWNER, b, true, &addr, &port), -ENOTCONN);
}
END_TEST

START_TEST(disconnect_after_autobind_unbinds)
{
	uint32_t s = sock_open(OWNER);
	uint32_t addr;
	uint16_t port;

	ck_assert_int_eq(udp_connect(t, OWNER, s, &h, PEER, htons(7000)), 0);
	ck_assert_int_eq(udp_disconnect(t, OWNER, s), 0);
	ck_assert_uint_eq(sk(s)->flags, 0);
	ck_assert_uint_eq(sk(s)->lport, 0);
	ck_assert_uint_eq(sk(s)->laddr, 0);
	ck_assert_uint_eq(sk(s)->raddr, 0);
	ck_assert_int_eq(udp_getname(t, OWNER, s, true, &addr, &port), -ENOTCONN);
	/* Unbound again: an explicit bind works. */
	ck_assert_int_eq(udp_bind(t, OWNER, s, &h, 0, htons(5000)), 0);
	ck_assert_int_eq(udp_table_check(t), 0);
}
END_TEST

START_TEST(disconnect_keeps_what_bind_chose)
{
	uint32_t any = sock_open(OWNER), ours = sock_open(OWNER), zero = sock_open(OWNER);

	ck_assert_int_eq(udp_bind(t, OWNER, any, &h, 0, htons(5000)), 0);
	ck_assert_int_eq(udp_connect(t, OWNER, any, &h, PEER, htons(1)), 0);
	ck_assert_uint_eq(sk(any)->laddr, OUR);
	ck_assert_int_eq(udp_disconnect(t, OWNER, any), 0);
	ck_assert_uint_eq(sk(any)->laddr, 0);               /* not chosen by bind: reset */
	ck_assert_uint_eq(sk(any)->lport, htons(5000));     /* chosen: kept */
	ck_assert_uint_eq(sk(any)->flags, UDP_SOCK_F_BOUND | UDP_SOCK_F_BINDPORT_LOCK);

	ck_assert_int_eq(udp_bind(t, OWNER, ours, &h, OUR, htons(5001)), 0);
	ck_assert_int_eq(udp_connect(t, OWNER, ours, &h, PEER, htons(1)), 0);
	ck_assert_int_eq(udp_disconnect(t, OWNER, ours), 0);
	ck_assert_uint_eq(sk(ours)->laddr, OUR);
	ck_assert_uint_eq(sk(ours)->lport, htons(5001));

	/* bind(ANY:0) locks nothing: the disconnect releases the port (Linux). */
	ck_assert_int_eq(udp_bind(t, OWNER, zero, &h, 0, 0), 0);
	ck_assert_int_eq(udp_disconnect(t, OWNER, zero), 0);
	ck_assert_uint_eq(sk(zero)->lport, 0);
	ck_assert_uint_eq(sk(zero)->flags, 0);
	/* Disconnecting an unconnected bound socket is fine and changes nothing else. */
	ck_assert_int_eq(udp_disconnect(t, OWNER, ours), 0);
	ck_assert_uint_eq(sk(ours)->lport, htons(5001));
	ck_assert_int_eq(udp_table_check(t), 0);
}
END_TEST

/* --- options --- */

START_TEST(opt_rcvbuf_sndbuf)
{
	uint32_t s = sock_open(OWNER);

	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_RCVBUF), 212992);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_SNDBUF), 212992);
	set_int(s, SOL_SOCKET, SO_RCVBUF, 100000);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_RCVBUF), 200000); /* doubled */
	set_int(s, SOL_SOCKET, SO_RCVBUF, 1000);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_RCVBUF), 2304); /* floored */
	set_int(s, SOL_SOCKET, SO_RCVBUF, 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_RCVBUF), 2304);
	set_int(s, SOL_SOCKET, SO_RCVBUF, 10 << 20);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_RCVBUF), 8 << 20); /* capped at 4 MiB, doubled */
	set_int(s, SOL_SOCKET, SO_RCVBUF, -1);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_RCVBUF), 8 << 20); /* huge as u32 */
	set_int(s, SOL_SOCKET, SO_SNDBUF, 1000);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_SNDBUF), 4608);
	set_int(s, SOL_SOCKET, SO_SNDBUF, 65536);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_SNDBUF), 131072);
	ck_assert_int_eq(udp_table_check(t), 0);
}
END_TEST

START_TEST(opt_flags_and_errors)
{
	uint32_t s = sock_open(OWNER);
	int v = 1;
	uint8_t small[2] = {0xaa, 0xaa};
	size_t len;

	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_REUSEADDR), 0);
	set_int(s, SOL_SOCKET, SO_REUSEADDR, 5);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_REUSEADDR), 1);
	set_int(s, SOL_SOCKET, SO_BROADCAST, 1);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_BROADCAST), 1);
	set_int(s, SOL_SOCKET, SO_BROADCAST, 0);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_BROADCAST), 0);
	set_int(s, SOL_UDP, UDP_CORK, 1);
	ck_assert_int_eq(get_int(s, SOL_UDP, UDP_CORK), 1);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_DOMAIN), AF_INET);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_PROTOCOL), IPPROTO_UDP);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_ACCEPTCONN), 0);
	/* Short optlen: EINVAL on set (before the name is looked at), truncation on get. */
	ck_assert_int_eq(udp_setopt(t, OWNER, s, SOL_SOCKET, SO_REUSEADDR, &v, 2), -EINVAL);
	ck_assert_int_eq(udp_setopt(t, OWNER, s, SOL_SOCKET, 9999, &v, 2), -EINVAL);
	ck_assert_int_eq(udp_setopt(t, OWNER, s, SOL_UDP, UDP_CORK, &v, 0), -EINVAL);
	len = 1;
	ck_assert_int_eq(udp_getopt(t, &h, OWNER, s, SOL_SOCKET, SO_TYPE, small, &len), 0);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(small[1], 0xaa);
	/* Unknown and read-only options. */
	ck_assert_int_eq(udp_setopt(t, OWNER, s, SOL_SOCKET, 9999, &v, sizeof(v)), -ENOPROTOOPT);
	ck_assert_int_eq(udp_setopt(t, OWNER, s, SOL_SOCKET, SO_ERROR, &v, sizeof(v)),
			 -ENOPROTOOPT);
	ck_assert_int_eq(udp_setopt(t, OWNER, s, SOL_SOCKET, SO_TYPE, &v, sizeof(v)),
			 -ENOPROTOOPT);
	ck_assert_int_eq(udp_setopt(t, OWNER, s, SOL_UDP, UDP_SEGMENT, &v, sizeof(v)),
			 -ENOPROTOOPT);
	ck_assert_int_eq(udp_setopt(t, OWNER, s, IPPROTO_IP, 200, &v, sizeof(v)), -ENOPROTOOPT);
	ck_assert_int_eq(udp_setopt(t, OWNER, s, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)),
			 -EPERM);
	len = sizeof(v);
	ck_assert_int_eq(udp_getopt(t, &h, OWNER, s, SOL_SOCKET, 9999, &v, &len), -ENOPROTOOPT);
	ck_assert_int_eq(udp_getopt(t, &h, OWNER, s, IPPROTO_IP, 200, &v, &len), -ENOPROTOOPT);
	ck_assert_int_eq(udp_setopt(t, OWNER, s, 12345, 1, &v, sizeof(v)), -ENOPROTOOPT);
	/* Linux ip_getsockopt: a level that is neither socket, UDP nor IP is EOPNOTSUPP. */
	ck_assert_int_eq(udp_getopt(t, &h, OWNER, s, 12345, 1, &v, &len), -EOPNOTSUPP);
}
END_TEST

START_TEST(opt_so_error_reads_and_clears)
{
	uint32_t s = sock_open(OWNER);

	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_ERROR), 0);
	t->sock[udp_sid_idx(s)].pending_error = ECONNREFUSED; /* as udp_icmp_error sets it */
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
	ck_assert_int_eq(get_int(s, SOL_SOCKET, SO_ERROR), 0);
	t->sock[udp_sid_idx(s)].pending_error = EHOSTUNREACH;
	ck_assert_int_eq(udp_take_error(t, OWNER, s), -EHOSTUNREACH);
	ck_assert_int_eq(udp_take_error(t, OWNER, s), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udp_sock");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, table_init_is_valid);
	tcase_add_test(tc, table_check_rejects_corruption);
	tcase_add_test(tc, table_check_rejects_torn_records);
	tcase_add_test(tc, table_recover_drops_only_the_bad_record);
	tcase_add_test(tc, table_recover_keeps_sockets);
	tcase_add_test(tc, port_range_and_seed);
	tcase_add_test(tc, open_close_and_stale_sids);
	tcase_add_test(tc, table_full_emfile);
	tcase_add_test(tc, owner_isolation);
	tcase_add_test(tc, close_owner_closes_only_its_sockets);
	tcase_add_test(tc, bind_explicit);
	tcase_add_test(tc, bind_ephemeral);
	tcase_add_test(tc, bind_ephemeral_skips_used_and_exhausts);
	tcase_add_test(tc, bind_addr_in_use);
	tcase_add_test(tc, bind_reuseaddr_needs_both);
	tcase_add_test(tc, bind_addr_not_avail);
	tcase_add_test(tc, connect_autobinds);
	tcase_add_test(tc, connect_errors_keep_the_port);
	tcase_add_test(tc, connect_through_loopback);
	tcase_add_test(tc, disconnect_after_autobind_unbinds);
	tcase_add_test(tc, disconnect_keeps_what_bind_chose);
	tcase_add_test(tc, opt_rcvbuf_sndbuf);
	tcase_add_test(tc, opt_flags_and_errors);
	tcase_add_test(tc, opt_so_error_reads_and_clears);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
