/* test_udp_restart: udpd killed at any instruction of any update of its state segment (the
 * socket table, the ports record, the session records and their replies: servers/udp/
 * udpd_store.h) loses nothing that was committed and leaves nothing half written, and a
 * request re-sent after the kill gets the answer its first run would have got.
 *
 * Each update below runs on a fixture state and is cut right after its k-th store into the
 * segment, for every k (helper_killpoint: the cut is where a SIGKILL after that instruction
 * would leave memory). The state a restarted udpd would find is then recovered
 * (udpd_store_recover) and must be, record for record, the state before the update or the
 * state after it (never a mix, never garbage), with every invariant of the table and of the
 * links between sockets and sessions holding; the outcome moves from "before" to "after" once,
 * at the commit. A request is then re-sent as libsock would (same id): it must be answered as
 * its uncut run was, and leave the same state. The same cut states are recovered a second time
 * with their journal wiped, as if it were lost too: then only the record being written may be
 * lost (plus what hangs on it), every other record must survive and the invariants hold.
 * Finally recovery itself is cut at every store and must be completed by the next one.
 *
 * The updates cover the socket options and what they imply (IP_TTL, IP_TOS with SO_PRIORITY,
 * SO_REUSEPORT and a bind that joins a reuseport group, IP_RECVERR and the errors it reports
 * and dequeues, the source address a connect sets, AUTOBIND, the reuseport key): all of it is
 * in the socket's sealed record (struct udp_sock_ext) or the ports record. A request udpd parks
 * until the TX ring is read up to it, and a CLOSE that waits for its socket's records, run this
 * same transaction later (udpd_requests.c: udpd_requests_parked_ready,
 * udpd_requests_close_ready), so req_run below is what they do too.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "helper_check.h"
#include "helper_killpoint.h"
#include "udp_core.h"
#include "udp_priv.h"
#include "udpd_store.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

#define OUR ip4(192, 0, 2, 10)
#define PEER ip4(192, 0, 2, 20)
#define SZ sizeof(struct udpd_state)

/* Session records of the fixture: A and B in use, record 1 free. */
#define SA 0u
#define SB 2u
#define SFREE 1u

static struct udp_host host; /* 192.0.2.10/24 */
static struct udpd_state *area; /* where updates run, traced */
static struct udpd_state *s0;   /* the fixture, committed */
static struct udpd_state *e0;   /* s0 as a restart finds it: the "before" */
static struct udpd_state *e1;   /* the update run uncut, as a restart finds it: the "after" */
static struct udpd_state *x;    /* a cut state, recovered */
static struct udpd_state *y;    /* the same, recovered without its journal */
static uint8_t sock_slot[UDP_SOCKETS_MAX];

/* The fixture's sockets, by what they are. */
static struct {
	uint32_t a_bound, a_conn, a_plain, a_corked, a_reuse, a_rp1, a_rp2, a_recverr;
	uint32_t b_bound, b_conn, b_plain;
	uint64_t next_id;
} fx;

/* ---- requests, as udpd_requests.c runs them ------------------------------------------------ */

/* Operations as the reply records name them (udpd uses proto/sock.proto's numbers; any
 * distinct numbers do here). */
enum { OP_SOCKET = 1, OP_BIND, OP_CONNECT, OP_DISCONNECT, OP_CLOSE, OP_SETOPT, OP_AUTOBIND };

struct req {
	uint8_t op;
	unsigned si;
	uint64_t id;
	uint32_t sid;
	uint32_t slot;
	uint32_t addr;
	uint16_t port;  /* host order */
	int level, name, val;
};

struct answer {
	int32_t status;
	uint32_t sid;
};

static uint32_t owner_of(const struct udpd_state *st, unsigned si)
{
	return st->sessions[si].owner;
}

/* The operation itself, inside the request's transaction. */
static int req_dispatch(struct udpd_state *st, const struct req *q, struct answer *a)
{
	struct udp_table *t = &st->table;
	uint32_t owner = owner_of(st, q->si);
	switch (q->op) {
	case OP_SOCKET:
		return udpd_store_socket(st, q->si, q->slot, &a->sid);
	case OP_BIND:
		return udp_bind(t, owner, q->sid, &host, q->addr, htons(q->port));
	case OP_CONNECT:
		return udp_connect(t, owner, q->sid, &host, q->addr, htons(q->port));
	case OP_DISCONNECT:
		return udp_disconnect(t, owner, q->sid);
	case OP_AUTOBIND:
		return udp_autobind_sock(t, owner, q->sid);
	case OP_CLOSE: {
		int rc = udpd_store_close(st, q->si, q->sid);
		return rc < 0 ? rc : 0;
	}
	case OP_SETOPT: {
		int rc = udp_setopt(t, owner, q->sid, q->level, q->name, &q->val, sizeof(q->val));
		if (rc == 0 && q->level == SOL_UDP && q->name == UDP_CORK && !q->val) {
			struct udp_tx tx;
			udp_push_pending(t, &host, owner, q->sid, &tx);
		}
		return rc;
	}
	default:
		return -EINVAL;
	}
}

/* A mutating request: answered from its reply if remembered, else run in one transaction with
 * the reply remembered for it. */
static struct answer req_run(struct udpd_state *st, const struct req *q)
{
	struct answer a = {0, 0};
	const struct udpd_reply_rec *old = udpd_store_reply_find(st, q->si, q->id, q->op);
	if (old)
		return (struct answer){old->status, old->sid};
	udpd_store_txn_begin(st, q->si);
	int rc = req_dispatch(st, q, &a);
	a.status = rc < 0 ? rc : 0;
	struct udpd_reply_rec rr = {.id = q->id, .status = a.status, .sid = a.sid, .op = q->op};
	udpd_store_txn_end(st, q->si, &rr);
	return a;
}

static struct answer req_ok(struct udpd_state *st, struct req q)
{
	q.id = ++fx.next_id;
	struct answer a = req_run(st, &q);
	ck_assert_int_eq(a.status, 0);
	return a;
}

/* ---- the fixture --------------------------------------------------------------------------- */

static uint32_t fx_socket(unsigned si, uint32_t slot)
{
	return req_ok(area, (struct req){.op = OP_SOCKET, .si = si,
					 .slot = slot}).sid;
}

static void fx_bind(unsigned si, uint32_t sid, uint32_t addr, uint16_t port)
{
	req_ok(area, (struct req){.op = OP_BIND, .si = si, .sid = sid,
				  .addr = addr, .port = port});
}

static void fx_connect(unsigned si, uint32_t sid, uint32_t addr, uint16_t port)
{
	req_ok(area, (struct req){.op = OP_CONNECT, .si = si, .sid = sid,
				  .addr = addr, .port = port});
}

static void fx_setopt(unsigned si, uint32_t sid, int level, int name, int val)
{
	req_ok(area, (struct req){.op = OP_SETOPT, .si = si, .sid = sid,
				  .level = level, .name = name, .val = val});
}

static void setup(void)
{
	static const uint8_t secret_a[SESSION_SECRET_LEN] = "secret-of-app-A";
	static const uint8_t secret_b[SESSION_SECRET_LEN] = "secret-of-app-B";

	ck_assert(killpoint_supported());
	ck_assert_int_eq(udp_host_init(&host, OUR, 24, ip4(192, 0, 2, 1), 1500), 0);
	area = killpoint_alloc(SZ);
	s0 = malloc(SZ);
	e0 = malloc(SZ);
	e1 = malloc(SZ);
	x = malloc(SZ);
	y = malloc(SZ);
	ck_assert(area && s0 && e0 && e1 && x && y);
	memset(&fx, 0, sizeof(fx));
	fx.next_id = 100;

	udpd_store_init(area);
	udpd_store_session_open(area, SA, 0xa1a1a1a1u, secret_a, 1000, 16);
	udpd_store_session_open(area, SFREE, 0xf1f1u, secret_b, 1000, 4);
	udpd_store_session_open(area, SB, 0xb2b2b2b2u, secret_b, 1001, 8);
	udpd_store_session_close(area, SFREE); /* a free record with a used generation */

	fx.a_bound = fx_socket(SA, 0);
	fx_bind(SA, fx.a_bound, OUR, 5000);
	fx.a_conn = fx_socket(SA, 1);
	fx_connect(SA, fx.a_conn, PEER, 7);
	fx.a_plain = fx_socket(SA, 2);
	fx.a_corked = fx_socket(SA, 5);
	fx_setopt(SA, fx.a_corked, SOL_UDP, UDP_CORK, 1);
	fx.a_reuse = fx_socket(SA, 6);
	fx_setopt(SA, fx.a_reuse, SOL_SOCKET, SO_REUSEADDR, 1);
	fx_bind(SA, fx.a_reuse, 0, 5100);
	fx.b_bound = fx_socket(SB, 0);
	fx_setopt(SB, fx.b_bound, SOL_SOCKET, SO_REUSEADDR, 1);
	fx_bind(SB, fx.b_bound, 0, 5100);
	fx.b_conn = fx_socket(SB, 3);
	fx_connect(SB, fx.b_conn, PEER, 9);
	fx.b_plain = fx_socket(SB, 7);
	/* A SO_REUSEPORT group of one, a socket that may join it, one with IP_RECVERR. */
	fx.a_rp1 = fx_socket(SA, 7);
	fx_setopt(SA, fx.a_rp1, SOL_SOCKET, SO_REUSEPORT, 1);
	fx_bind(SA, fx.a_rp1, 0, 5200);
	fx.a_rp2 = fx_socket(SA, 8);
	fx_setopt(SA, fx.a_rp2, SOL_SOCKET, SO_REUSEPORT, 1);
	fx.a_recverr = fx_socket(SA, 12);
	fx_setopt(SA, fx.a_recverr, IPPROTO_IP, IP_RECVERR, 1);
	fx_bind(SA, fx.a_recverr, 0, 5300);

	/* A corked datagram: process memory that a restart loses (cork_lost_restart). */
	struct udp_send snd = {.has_addr = true, .daddr = PEER, .dport = htons(11),
			       .payload_len = 100, .flags = MSG_MORE};
	struct udp_tx tx;
	ck_assert_int_eq(udp_output(&area->table, owner_of(area, SA), fx.a_corked, &host, &snd,
				    &tx), 0);
	ck_assert(tx.cork_append);
	ck_assert_int_eq(udp_table_check(&area->table), 0);
	memcpy(s0, area, SZ);
}

static void teardown(void)
{
	killpoint_free(area, SZ);
	free(s0);
	free(e0);
	free(e1);
	free(x);
	free(y);
}

/* ---- what must hold ------------------------------------------------------------------------ */

/* Check's assertions report each passing one to the parent: too slow for loops over every
 * record at every cut point. */
#define REQUIRE(cond, ...)                                                                   \
	do {                                                                                 \
		if (!(cond))                                                                 \
			ck_abort_msg(__VA_ARGS__);                                           \
	} while (0)

/* Every invariant a restarted udpd relies on. */
static void check_invariants(const struct udpd_state *st, const char *what, unsigned k)
{
	const struct udp_table *t = &st->table;
	REQUIRE(udp_table_check(t) == 0, "%s, cut at store %u: table invariants", what, k);
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++)
		REQUIRE(state_rec_valid(&st->sessions[i].rec, UDPD_SESSION_SEALED),
			"%s, cut at store %u: session record %u not sealed", what, k, i);
	for (unsigned k2 = 0; k2 < UDP_SOCKETS_MAX; k2++) {
		uint32_t sid = udp_sock_sid(t, k2);
		if (!sid)
			continue;
		int si = udpd_store_session_of_owner(st, t->sock[k2].owner);
		REQUIRE(si >= 0, "%s, cut at store %u: socket %#x has no session", what, k, sid);
		unsigned slots = 0;
		for (unsigned s = 0; s < REGION_SLOTS_MAX; s++)
			slots += st->sessions[si].slot_sid[s] == sid;
		REQUIRE(slots == 1, "%s, cut at store %u: socket %#x in %u slots", what, k, sid,
			slots);
	}
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++) {
		const struct udpd_session_rec *r = &st->sessions[i];
		for (unsigned s = 0; s < REGION_SLOTS_MAX && r->in_use; s++)
			REQUIRE(!r->slot_sid[s] || udp_sock_get(t, r->owner, r->slot_sid[s]),
				"%s, cut at store %u: session %u slot %u names a closed socket", what,
				k, i, s);
	}
}

/* Same content (everything sealed but the commit word and checksum, which are checked by
 * check_invariants): name the first record that differs, or NULL. */
static const char *records_differ(const struct udpd_state *a, const struct udpd_state *b)
{
	static char why[64];
	size_t h = sizeof(struct state_rec);
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++) {
		if (memcmp((const char *)&a->sessions[i] + h, (const char *)&b->sessions[i] + h,
			   UDPD_SESSION_SEALED - h)) {
			snprintf(why, sizeof(why), "session record %u", i);
			return why;
		}
	}
	if (memcmp((const char *)&a->table.ports + h, (const char *)&b->table.ports + h,
		   sizeof(a->table.ports) - h))
		return "the ports record";
	for (unsigned i = 0; i < UDP_SOCKETS_MAX; i++) {
		if (memcmp((const char *)&a->table.sock[i] + h, (const char *)&b->table.sock[i] + h,
			   UDP_SOCK_SEALED - h)) {
			snprintf(why, sizeof(why), "socket record %u", i);
			return why;
		}
	}
	return NULL;
}

static void recover(struct udpd_state *st)
{
	ck_assert_int_eq(udpd_store_recover(st, sock_slot), 0);
}

/* ---- the driver ---------------------------------------------------------------------------- */

struct update {
	const char *name;
	void (*run)(struct udpd_state *st, const struct update *u, struct answer *a);
	struct req q;  /* for requests (run = run_request) */
	bool request;
};

/* What a cut point is checked against, and what was seen so far. */
struct cuts {
	const struct update *u;
	struct answer want;
	unsigned before, after;
};

static void traced_run(void *arg)
{
	struct cuts *c = arg;
	struct answer a;
	c->u->run(area, c->u, &a);
}

static void run_request(struct udpd_state *st, const struct update *u, struct answer *a)
{
	*a = req_run(st, &u->q);
}

/* With the journal lost as well, each record must still be its old or new value or dropped
 * (free), and records the update does not touch must survive, but for the sockets of a session
 * record it was writing (the session is what hangs them together). */
static void check_without_journal(const struct update *u, unsigned k)
{
	size_t h = sizeof(struct state_rec);
	memcpy(y, area, SZ);
	memset(&y->table.journal.n, 0, sizeof(y->table.journal.n));
	recover(y);
	check_invariants(y, u->name, k);
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++) {
		const struct udpd_session_rec *r = &y->sessions[i];
		/* Written by the update: its commit word moved, whatever its content. */
		bool untouched = !memcmp(&e0->sessions[i], &e1->sessions[i], UDPD_SESSION_SEALED);
		if (!r->in_use) {
			REQUIRE(!untouched || !e0->sessions[i].in_use,
				      "%s, cut at store %u, no journal: session %u lost", u->name,
				      k, i);
			continue;
		}
		/* Old or new, but for slots cleared because their socket was lost. */
		const struct udpd_session_rec *c[2] = {&e0->sessions[i], &e1->sessions[i]};
		bool match = false;
		for (unsigned v = 0; v < 2 && !match; v++) {
			struct udpd_session_rec m = *c[v];
			for (unsigned s = 0; s < REGION_SLOTS_MAX; s++)
				if (!r->slot_sid[s])
					m.slot_sid[s] = 0;
			match = !memcmp((const char *)&m + h, (const char *)r + h,
					UDPD_SESSION_SEALED - h);
		}
		REQUIRE(match, "%s, cut at store %u, no journal: session %u is garbage",
			      u->name, k, i);
	}
	for (unsigned i = 0; i < UDP_SOCKETS_MAX; i++) {
		const struct udp_sock *r = &y->table.sock[i];
		const struct udp_sock *o = &e0->table.sock[i], *n = &e1->table.sock[i];
		bool is_old = !memcmp((const char *)r + h, (const char *)o + h, UDP_SOCK_SEALED - h);
		bool is_new = !memcmp((const char *)r + h, (const char *)n + h, UDP_SOCK_SEALED - h);
		REQUIRE(is_old || is_new || !r->in_use,
			      "%s, cut at store %u, no journal: socket record %u is garbage",
			      u->name, k, i);
		bool untouched = !memcmp(o, n, UDP_SOCK_SEALED);
		if (untouched && o->in_use && !r->in_use) {
			int si = udpd_store_session_of_owner(e0, o->owner);
			REQUIRE(si >= 0 && memcmp(&e0->sessions[si], &e1->sessions[si],
						  UDPD_SESSION_SEALED),
				      "%s, cut at store %u, no journal: socket %u lost", u->name, k,
				      i);
		}
	}
}

/* One cut point: the area as a kill after store k leaves it. */
static void check_cut(unsigned k, void *arg)
{
	struct cuts *c = arg;
	const struct update *u = c->u;

	memcpy(x, area, SZ);
	recover(x);
	check_invariants(x, u->name, k);
	const char *d0 = records_differ(x, e0), *d1 = records_differ(x, e1);
	REQUIRE(!d0 || !d1, "%s, cut at store %u: neither before (%s) nor after (%s)", u->name, k,
		d0, d1);
	if (!d0) {
		REQUIRE(c->after == 0, "%s, cut at store %u: before again after the commit", u->name,
			k);
		c->before++;
	} else {
		c->after++;
	}
	if (u->request) {
		/* libsock re-sends the same request after the restart. */
		struct answer a = req_run(x, &u->q);
		REQUIRE(a.status == c->want.status && a.sid == c->want.sid,
			"%s, cut at store %u: re-sent request answered %d/%#x, first run %d/%#x",
			u->name, k, a.status, a.sid, c->want.status, c->want.sid);
		const char *d = records_differ(x, e1);
		REQUIRE(!d, "%s, cut at store %u: after the re-sent request, %s differs", u->name, k,
			d);
		check_invariants(x, u->name, k);
	}
	check_without_journal(u, k);
}

/* Cut u after each of its stores; everything the file comment promises. */
static void check_update(const struct update *u)
{
	struct cuts c = {.u = u};

	memcpy(e0, s0, SZ);
	recover(e0);
	memcpy(e1, s0, SZ);
	u->run(e1, u, &c.want);
	recover(e1);
	ck_assert_msg(records_differ(e0, e1), "%s changes nothing", u->name);

	memcpy(area, s0, SZ);
	unsigned total = killpoint_each(area, SZ, traced_run, &c, check_cut, &c);
	ck_assert_uint_eq(c.before + c.after, total);
	/* It really wrote, and the cuts really fell on both sides of its commit. */
	ck_assert_msg(c.before > 0 && c.after > 0, "%s: %u stores, %u cuts before, %u after",
		      u->name, total, c.before, c.after);
	/* The uncut run ends where the "after" state is. */
	memcpy(x, area, SZ);
	recover(x);
	ck_assert_ptr_null(records_differ(x, e1));
}

#define REQUEST(nm, ...)                                                                     \
	((struct update){.name = nm, .run = run_request, .request = true,                    \
			 .q = (struct req){.id = 9001, __VA_ARGS__}})

/* ---- requests ------------------------------------------------------------------------------ */

START_TEST(cut_socket)
{
	check_update(&REQUEST("SOCKET", .op = OP_SOCKET, .si = SA,
			      .slot = 9));
}
END_TEST

START_TEST(cut_bind)
{
	check_update(&REQUEST("BIND", .op = OP_BIND, .si = SA,
			      .sid = fx.a_plain, .addr = OUR, .port = 6000));
}
END_TEST

START_TEST(cut_bind_ephemeral)
{
	check_update(&REQUEST("BIND port 0", .op = OP_BIND, .si = SB,
			      .sid = fx.b_plain));
}
END_TEST

START_TEST(cut_bind_refused)
{
	/* A request that fails changes no socket, but its reply is remembered with it. */
	check_update(&REQUEST("BIND in use", .op = OP_BIND, .si = SA,
			      .sid = fx.a_plain, .port = 5000));
}
END_TEST

START_TEST(cut_connect_autobind)
{
	check_update(&REQUEST("CONNECT", .op = OP_CONNECT, .si = SA,
			      .sid = fx.a_plain, .addr = PEER, .port = 53));
}
END_TEST

START_TEST(cut_connect_bound)
{
	check_update(&REQUEST("CONNECT bound", .op = OP_CONNECT,
			      .si = SA, .sid = fx.a_bound, .addr = PEER, .port = 54));
}
END_TEST

START_TEST(cut_disconnect)
{
	check_update(&REQUEST("DISCONNECT", .op = OP_DISCONNECT,
			      .si = SB, .sid = fx.b_conn));
}
END_TEST

START_TEST(cut_close)
{
	check_update(&REQUEST("CLOSE", .op = OP_CLOSE, .si = SB,
			      .sid = fx.b_bound));
}
END_TEST

START_TEST(cut_setopt)
{
	check_update(&REQUEST("SETOPT SO_RCVBUF", .op = OP_SETOPT,
			      .si = SA, .sid = fx.a_conn, .level = SOL_SOCKET, .name = SO_RCVBUF,
			      .val = 65536));
}
END_TEST

START_TEST(cut_setopt_uncork)
{
	check_update(&REQUEST("SETOPT UDP_CORK 0", .op = OP_SETOPT,
			      .si = SA, .sid = fx.a_corked, .level = SOL_UDP, .name = UDP_CORK,
			      .val = 0));
}
END_TEST

START_TEST(cut_setopt_ttl)
{
	check_update(&REQUEST("SETOPT IP_TTL", .op = OP_SETOPT, .si = SA, .sid = fx.a_conn,
			      .level = IPPROTO_IP, .name = IP_TTL, .val = 7));
}
END_TEST

START_TEST(cut_setopt_tos)
{
	/* IP_TOS sets SO_PRIORITY with it (rt_tos2priority): one record, both or neither. */
	check_update(&REQUEST("SETOPT IP_TOS", .op = OP_SETOPT, .si = SB, .sid = fx.b_conn,
			      .level = IPPROTO_IP, .name = IP_TOS, .val = 0x10));
}
END_TEST

START_TEST(cut_setopt_reuseport)
{
	check_update(&REQUEST("SETOPT SO_REUSEPORT", .op = OP_SETOPT, .si = SA,
			      .sid = fx.a_plain, .level = SOL_SOCKET, .name = SO_REUSEPORT,
			      .val = 1));
}
END_TEST

START_TEST(cut_setopt_recverr)
{
	check_update(&REQUEST("SETOPT IP_RECVERR", .op = OP_SETOPT, .si = SB, .sid = fx.b_conn,
			      .level = IPPROTO_IP, .name = IP_RECVERR, .val = 1));
}
END_TEST

START_TEST(cut_setopt_refused)
{
	/* Refused: the socket record stays bit for bit (udp_setopt works on a copy), the reply
	 * is remembered. */
	check_update(&REQUEST("SETOPT IP_TTL 300", .op = OP_SETOPT, .si = SA, .sid = fx.a_conn,
			      .level = IPPROTO_IP, .name = IP_TTL, .val = 300));
	ck_assert_int_eq(memcmp(&e0->table.sock[fx.a_conn & 0xffffu],
				&e1->table.sock[fx.a_conn & 0xffffu], UDP_SOCK_SEALED), 0);
}
END_TEST

START_TEST(cut_bind_reuseport_group)
{
	/* The bind draws a sequence number and joins the group (RP_GROUP) in one record. */
	check_update(&REQUEST("BIND into a SO_REUSEPORT group", .op = OP_BIND, .si = SA,
			      .sid = fx.a_rp2, .port = 5200));
	const struct udp_sock *n = &e1->table.sock[fx.a_rp2 & 0xffffu];
	ck_assert(n->ext.flags & UDP_EXT_F_RP_GROUP);
	ck_assert_uint_eq(n->lport, htons(5200));
}
END_TEST

START_TEST(cut_connect_sets_source)
{
	/* Bound to ANY: the connect takes the route's source as its address (laddr and the
	 * extension's saddr, together). */
	check_update(&REQUEST("CONNECT from the route's source", .op = OP_CONNECT, .si = SA,
			      .sid = fx.a_reuse, .addr = PEER, .port = 55));
	const struct udp_sock *n = &e1->table.sock[fx.a_reuse & 0xffffu];
	ck_assert_uint_eq(n->ext.saddr, OUR);
	ck_assert_uint_eq(n->laddr, OUR);
	ck_assert_uint_eq(e0->table.sock[fx.a_reuse & 0xffffu].ext.saddr, 0);
}
END_TEST

START_TEST(cut_autobind)
{
	check_update(&REQUEST("AUTOBIND", .op = OP_AUTOBIND, .si = SB, .sid = fx.b_plain));
	ck_assert(e1->table.sock[fx.b_plain & 0xffffu].flags & UDP_SOCK_F_BOUND);
}
END_TEST

/* ---- sessions ------------------------------------------------------------------------------ */

static void run_session_open(struct udpd_state *st, const struct update *u, struct answer *a)
{
	static const uint8_t secret[SESSION_SECRET_LEN] = "a third secret!";
	(void)u;
	(void)a;
	udpd_store_session_open(st, SFREE, 0xc3c3c3c3u, secret, 1002, 64);
}

static void run_session_close(struct udpd_state *st, const struct update *u, struct answer *a)
{
	(void)u;
	(void)a;
	udpd_store_session_close(st, SB);
}

START_TEST(cut_session_open)
{
	check_update(&(struct update){.name = "session open", .run = run_session_open});
}
END_TEST

START_TEST(cut_session_close)
{
	check_update(&(struct update){.name = "session close", .run = run_session_close});
}
END_TEST

/* ---- the data path (the core's own transactions) ------------------------------------------- */

static void run_send_autobind_cork(struct udpd_state *st, const struct update *u,
				   struct answer *a)
{
	struct udp_send snd = {.has_addr = true, .daddr = PEER, .dport = htons(12),
			       .payload_len = 10, .flags = MSG_MORE};
	struct udp_tx tx;
	(void)u;
	a->status = udp_output(&st->table, owner_of(st, SB), fx.b_plain, &host, &snd, &tx);
}

static void run_send_takes_error(struct udpd_state *st, const struct update *u,
				 struct answer *a)
{
	struct udp_send snd = {.payload_len = 10};
	struct udp_tx tx;
	(void)u;
	a->status = udp_output(&st->table, owner_of(st, SB), fx.b_conn, &host, &snd, &tx);
}

static void run_icmp_error(struct udpd_state *st, const struct update *u, struct answer *a)
{
	/* Port unreachable about b_conn's datagram to PEER:9. */
	const struct udp_sock *s = udp_sock_get(&st->table, owner_of(st, SB), fx.b_conn);
	uint8_t q[IPV4_HDR_MIN + UDP_HDR_LEN] = {0x45};
	(void)u;
	q[9] = IPV4_PROTO_UDP;
	memcpy(q + 12, &s->laddr, 4);
	memcpy(q + 16, &s->raddr, 4);
	memcpy(q + 20, &s->lport, 2);
	memcpy(q + 22, &s->rport, 2);
	struct udp_icmp_report rep;
	a->status = udp_icmp_error(&st->table, ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, 0, q,
				   sizeof(q), &rep);
}

/* IP_RECVERR: an error about a datagram of an unconnected socket (host unreachable, a soft
 * one) becomes its pending error and is reported for the error queue. */
static void run_icmp_recverr(struct udpd_state *st, const struct update *u, struct answer *a)
{
	const struct udp_sock *s = udp_sock_get(&st->table, owner_of(st, SA), fx.a_recverr);
	uint8_t q[IPV4_HDR_MIN + UDP_HDR_LEN] = {0x45};
	uint32_t src = OUR, peer = PEER;
	uint16_t dport = htons(4444);
	struct udp_icmp_report rep;
	(void)u;
	q[9] = IPV4_PROTO_UDP;
	memcpy(q + 12, &src, 4);
	memcpy(q + 16, &peer, 4);
	memcpy(q + 20, &s->lport, 2);
	memcpy(q + 22, &dport, 2);
	a->status = udp_icmp_error(&st->table, ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, 0, q,
				   sizeof(q), &rep);
	if (a->status == 0)
		a->status = rep.queue ? 1 : -1;
}

/* ERRQUEUE took the oldest entry: the pending error becomes the next one's. */
static void run_errq_dequeued(struct udpd_state *st, const struct update *u, struct answer *a)
{
	(void)u;
	(void)a;
	udp_errq_dequeued(&st->table, fx.a_recverr, ECONNREFUSED);
}

static void run_reuseport_seed(struct udpd_state *st, const struct update *u, struct answer *a)
{
	(void)u;
	(void)a;
	udp_reuseport_seed(&st->table, 0x5eed);
}

static void run_close_owner(struct udpd_state *st, const struct update *u, struct answer *a)
{
	(void)u;
	a->status = (int)udp_close_owner(&st->table, owner_of(st, SA));
}

START_TEST(cut_send_autobind_cork)
{
	check_update(&(struct update){.name = "send: autobind + cork",
				      .run = run_send_autobind_cork});
}
END_TEST

START_TEST(cut_icmp_then_send)
{
	struct answer a = {0, 0};
	check_update(&(struct update){.name = "ICMP error", .run = run_icmp_error});
	/* And the send that takes it, from the state with the error pending. */
	memcpy(area, s0, SZ);
	run_icmp_error(area, NULL, &a);
	ck_assert_int_eq(a.status, 0);
	memcpy(s0, area, SZ);
	check_update(&(struct update){.name = "send takes the error", .run = run_send_takes_error});
}
END_TEST

START_TEST(cut_icmp_recverr_then_dequeue)
{
	struct answer a = {0, 0};
	check_update(&(struct update){.name = "ICMP error, IP_RECVERR", .run = run_icmp_recverr});
	/* And ERRQUEUE taking it, from the state with the error pending. */
	memcpy(area, s0, SZ);
	run_icmp_recverr(area, NULL, &a);
	ck_assert_int_eq(a.status, 1);
	ck_assert_uint_eq(area->table.sock[fx.a_recverr & 0xffffu].pending_error, EHOSTUNREACH);
	memcpy(s0, area, SZ);
	check_update(&(struct update){.name = "error dequeued", .run = run_errq_dequeued});
}
END_TEST

START_TEST(cut_reuseport_seed)
{
	check_update(&(struct update){.name = "reuseport key", .run = run_reuseport_seed});
}
END_TEST

START_TEST(cut_close_owner)
{
	check_update(&(struct update){.name = "close all of a session", .run = run_close_owner});
}
END_TEST

/* ---- recovery cut, then recovered again ---------------------------------------------------- */

static void traced_recover(void *arg)
{
	(void)arg;
	udpd_store_recover(area, sock_slot);
}

static void find_torn(unsigned k, void *arg)
{
	(void)k;
	if (area->table.journal.n >= 2 && !((bool *)arg)[0]) {
		memcpy(y, area, SZ); /* both records saved: the rollback has work to do */
		((bool *)arg)[0] = true;
	}
}

static void check_recovery_cut(unsigned k, void *arg)
{
	(void)arg;
	memcpy(x, area, SZ);
	recover(x);
	const char *d = records_differ(x, e0);
	REQUIRE(!d, "recovery cut at store %u, then recovered: %s differs", k, d);
	check_invariants(x, "recovery", k);
}

START_TEST(cut_recovery)
{
	const struct update bind = REQUEST("BIND", .op = OP_BIND, .si = SA, .sid = fx.a_plain,
					   .addr = OUR, .port = 6000);
	struct cuts c = {.u = &bind};
	bool found = false;

	/* A state cut in the middle of a request, with a corked socket to clean up too. */
	memcpy(area, s0, SZ);
	killpoint_each(area, SZ, traced_run, &c, find_torn, &found);
	ck_assert(found);
	memcpy(e0, y, SZ);
	recover(e0); /* recovered in one go */
	memcpy(area, y, SZ);
	unsigned total = killpoint_each(area, SZ, traced_recover, NULL, check_recovery_cut, NULL);
	ck_assert_uint_gt(total, 100); /* the rollback, the cork, the hash */
	ck_assert_ptr_null(records_differ(area, e0));
}
END_TEST

/* ---- without a kill: what recovery repairs ------------------------------------------------- */

START_TEST(recover_repairs_links)
{
	struct udp_table *t = &area->table;
	unsigned ka = fx.a_plain & 0xffffu;
	/* A socket whose session record is gone, a slot naming a closed socket, a socket in
	 * two slots: what only a bug or a stray write could leave. Each is repaired alone. */
	udp_txn_begin(t);
	struct udpd_session_rec *r = state_journal_touch(udp_txn_journal(t),
							 &area->sessions[SA].rec,
							 UDPD_SESSION_SEALED);
	r->slot_sid[10] = fx.a_bound;       /* a second slot for a_bound */
	r->slot_sid[11] = fx.a_plain + 0x10000u; /* a closed (stale) sid */
	udp_txn_end(t);
	area->sessions[SB].n_slots = 0;     /* session B torn: its sockets become orphans */
	ck_assert_int_eq(udpd_store_recover(area, sock_slot), 0);
	ck_assert_uint_eq(area->stats.state_sessions_dropped, 1);
	ck_assert_uint_eq(area->stats.state_slots_cleared, 2);
	ck_assert_uint_eq(area->stats.state_orphans_closed, 3); /* B's three sockets */
	ck_assert(!area->sessions[SB].in_use);
	ck_assert_uint_eq(area->sessions[SA].slot_sid[0], fx.a_bound);
	ck_assert_uint_eq(area->sessions[SA].slot_sid[10], 0);
	ck_assert_uint_eq(area->sessions[SA].slot_sid[11], 0);
	ck_assert_uint_eq(sock_slot[ka], 2);
	ck_assert_uint_eq(sock_slot[fx.a_bound & 0xffffu], 0);
	ck_assert_ptr_null(udp_sock_get(t, owner_of(s0, SB), fx.b_bound));
	check_invariants(area, "repair", 0);
	/* A's sockets carry on: its bound port is still taken, B's is free. */
	ck_assert_ptr_nonnull(udp_sock_get(t, owner_of(area, SA), fx.a_bound));
	ck_assert_uint_eq(t->stats.cork_lost_restart, 1);
}
END_TEST

START_TEST(replay_answers_from_the_reply)
{
	/* Without any kill: the same id twice runs once (the second BIND would be -EINVAL). */
	struct req q = {.op = OP_BIND, .si = SA, .id = 77,
			.sid = fx.a_plain, .port = 6001};
	ck_assert_int_eq(req_run(area, &q).status, 0);
	ck_assert_int_eq(req_run(area, &q).status, 0);
	q.id = 78;
	ck_assert_int_eq(req_run(area, &q).status, -EINVAL);
	/* The reply is the session's: another session's request of the same id runs. */
	struct req o = {.op = OP_BIND, .si = SB, .id = 77,
			.sid = fx.b_plain, .port = 6001};
	ck_assert_int_eq(req_run(area, &o).status, -EADDRINUSE);
	check_invariants(area, "replay", 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udp_restart");
	TCase *tc = tcase_create("kill points");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cut_socket);
	tcase_add_test(tc, cut_bind);
	tcase_add_test(tc, cut_bind_ephemeral);
	tcase_add_test(tc, cut_bind_refused);
	tcase_add_test(tc, cut_connect_autobind);
	tcase_add_test(tc, cut_connect_bound);
	tcase_add_test(tc, cut_disconnect);
	tcase_add_test(tc, cut_close);
	tcase_add_test(tc, cut_setopt);
	tcase_add_test(tc, cut_setopt_uncork);
	tcase_add_test(tc, cut_setopt_ttl);
	tcase_add_test(tc, cut_setopt_tos);
	tcase_add_test(tc, cut_setopt_reuseport);
	tcase_add_test(tc, cut_setopt_recverr);
	tcase_add_test(tc, cut_setopt_refused);
	tcase_add_test(tc, cut_bind_reuseport_group);
	tcase_add_test(tc, cut_connect_sets_source);
	tcase_add_test(tc, cut_autobind);
	tcase_add_test(tc, cut_session_open);
	tcase_add_test(tc, cut_session_close);
	tcase_add_test(tc, cut_send_autobind_cork);
	tcase_add_test(tc, cut_icmp_then_send);
	tcase_add_test(tc, cut_icmp_recverr_then_dequeue);
	tcase_add_test(tc, cut_reuseport_seed);
	tcase_add_test(tc, cut_close_owner);
	tcase_add_test(tc, cut_recovery);
	tcase_add_test(tc, recover_repairs_links);
	tcase_add_test(tc, replay_answers_from_the_reply);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
