/* fuzz_tcp_user: libFuzzer target for what the TCP core takes from applications: every call a
 * client's request reaches (tcpd_requests.c hands the core what the request says, checked only
 * for its shape), in any order, with any arguments, from two applications (owners 1 and 2) on
 * their own sockets and on each other's, with the clock moving in between.
 *
 * Input format (every byte string is an input): records of FTU_REC bytes until the input
 * ends (a shorter tail is ignored):
 *   op    byte 0, mod 16: 0 socket, 1 bind, 2 listen, 3 accept, 4 connect, 5 send, 6 recvd,
 *         7 shutdown, 8 close, 9 disconnect, 10 setsockopt, 11 getsockopt, 12 getsockname or
 *         getpeername, 13 set_buf_max, 14 the clock moves and timers run, 15 TCP_INFO, or with
 *         sel 7 the owner's session ends (tcp_close_owner)
 *   who   byte 1: bit 0 the caller (owner 1 or 2); bits 1-3 which of the 8 sockets the harness
 *         remembers (see below; then the ones socket, listen and accept return, in the slots
 *         after them and round again, whoever owns them); bit 4 the
 *         cid is word c instead, as the request carried it (stale, foreign, a listener's or
 *         no slot at all); bits 5-7 sel, the op's variant: bind's address (ANY, ours, 127.0.0.1,
 *         word b), connect's destination (ourselves, a peer, 0.0.0.0, broadcast, multicast, a
 *         host off the subnet, word b), accept's new owner (bit 0: the other one), the option's
 *         level (SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP, IPPROTO_UDP, -1, INT_MAX), getname's side
 *         (bit 0), send's size (bit 0: within the send space, else word b as it is)
 *   a     bytes 2-3, big-endian: a port, a backlog (as int16), shutdown's how (low byte as int8),
 *         the option's name (low 6 bits) and length (high byte, 0..255, the value cut to 64),
 *         the clock step (low 3 bits: 0 to 70 s)
 *   b, c  bytes 4-7 and 8-11, big-endian words: addresses, sizes, send flags (c), the option's
 *         value (b then c, then zeros), set_buf_max's limits (b, c)
 *
 * Every input starts from the same table, built through the same calls: remembered sockets
 *   0  owner 1's listener on port 8080,
 *   1  owner 1's connection to it, ESTABLISHED,
 *   2  its other end, accepted by owner 1 for owner 2 (as a session handing a socket over),
 *   3  owner 2's listener on port 8081,
 *   4  owner 2's connect to 10.0.0.5:5001, in SYN-SENT (nothing answers there).
 *
 * What the core sends to our own address (a connect to ourselves or to one of our listeners)
 * comes back through tcp_input, with zeros for payload, up to FTU_LOOP_BUDGET segments after
 * each record (the rest waits; a full queue drops, as a NIC does): handshakes complete,
 * listeners queue children to accept, data and FINs flow, so the calls meet every state.
 *
 * Checks, abort() on failure:
 *  - after every call: the table's invariants (fuzz_tcp_check.h);
 *  - one application never reaches another's socket: a call by owner X on a socket owner Y
 *    holds fails, leaves that connection's or listener's record byte for byte as it was, and
 *    asks the shell to send nothing and report nothing;
 *  - getsockopt writes only within the length it was given and reports no more than that;
 *  - what the core asks the shell to send lies within [snd_una, write_seq) of a live
 *    connection, with options a multiple of 4 within 40 bytes;
 *  - a timer pass with room in tcp_io leaves no deadline in the past (tcpd would spin);
 *  - at the end both sessions end, the timers run out, what is still alive is aborted: every
 *    slot and listener must then be free.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "fuzz.h"
#include "fuzz_tcp_check.h"
#include "tcp_core.h"
#include "tcp_priv.h"
#include "tcp_seq.h"

#define FUZZ_SEEDS_TCP_USER
#include "seeds.h"

#define FTU_REC 12u
#define FTU_TX_MAX 32u
#define FTU_EV_MAX 16u
#define FTU_KNOWN 8u
#define FTU_OPT_MAX 64u
#define FTU_GUARD 16u
#define FTU_START_NS (1000ull * CLOCK_NS_PER_S)
#define FTU_RUNOUT_PASSES 16u
#define FTU_LOOP_MAX 64u    /* segments to ourselves waiting to come back */
#define FTU_LOOP_BUDGET 64u /* segments delivered back after each record */

#define FTU_CHECK(cond, a, b)                                                                \
	do {                                                                                 \
		if (!(cond))                                                                 \
			ftc_fail("fuzz_tcp_user", #cond, (unsigned long)(a), (unsigned long)(b)); \
	} while (0)

enum ftu_op {
	FTU_SOCKET, FTU_BIND, FTU_LISTEN, FTU_ACCEPT, FTU_CONNECT, FTU_SEND, FTU_RECVD,
	FTU_SHUTDOWN, FTU_CLOSE, FTU_DISCONNECT, FTU_SETOPT, FTU_GETOPT, FTU_GETNAME,
	FTU_BUF_MAX, FTU_TIME, FTU_INFO,
};

static const uint64_t ftu_steps[8] = {
	0, 1000, CLOCK_NS_PER_MS, 40 * CLOCK_NS_PER_MS, 200 * CLOCK_NS_PER_MS, CLOCK_NS_PER_S,
	10 * CLOCK_NS_PER_S, 70 * CLOCK_NS_PER_S,
};
static const int ftu_levels[8] = {
	SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP, IPPROTO_UDP, -1, INT_MAX, SOL_SOCKET, IPPROTO_TCP,
};

/* The table every input starts from, and what the harness knew when it was built. */
struct ftu_scene {
	struct tcp_table *t;
	uint32_t known[FTU_KNOWN];
	unsigned next_known, hi;
	uint64_t now;
};

struct ftu_state {
	struct tcp_table *t;
	struct tcp_tx tx[FTU_TX_MAX];
	uint32_t ev[FTU_EV_MAX];
	struct tcp_io io;
	uint64_t now;
	uint32_t known[FTU_KNOWN];
	unsigned next_known;
	unsigned hi;
	struct tcp_tx loop[FTU_LOOP_MAX]; /* a ring: loop_head, loop_n */
	unsigned loop_head, loop_n;
	uint8_t seg[TCP_HDR_MAX + 65535];
};

static struct ftu_state ftu;
static struct ftu_scene ftu_scene;

static uint32_t ftu_ip(unsigned d)
{
	return htonl(0x0a000000u | d); /* 10.0.0.d */
}

static uint32_t ftu_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void ftu_remember(uint32_t cid)
{
	ftu.known[ftu.next_known++ % FTU_KNOWN] = cid;
}

/* The record cid names now, and who holds it: 0 if no live socket (connection or listener). */
static const void *ftu_record(uint32_t cid, size_t *size, uint32_t *owner)
{
	unsigned idx = cid & 0x7fffu;

	*owner = 0;
	if (!cid)
		return NULL;
	if (cid & TCP_CID_LISTENER) {
		if (idx >= TCP_LISTENERS_MAX || tcp_listener_cid(ftu.t, idx) != cid)
			return NULL;
		*size = sizeof(ftu.t->lis[idx]);
		*owner = ftu.t->lis[idx].owner;
		return &ftu.t->lis[idx];
	}
	if (idx >= TCP_CONNS_MAX || tcp_conn_cid(ftu.t, idx) != cid)
		return NULL;
	*size = sizeof(ftu.t->conn[idx]);
	*owner = ftu.t->conn[idx].owner;
	return &ftu.t->conn[idx];
}

static const struct tcp_conn *ftu_conn(uint32_t cid)
{
	return ftc_conn(ftu.t, cid);
}

static bool ftu_local(uint32_t addr)
{
	return addr == ftu_ip(2) || addr == htonl(INADDR_LOOPBACK);
}

/* Keep what goes to our own address for ftu_loop_back. */
static void ftu_loop_keep(void)
{
	for (unsigned i = 0; i < ftu.io.n_tx; i++) {
		if (!ftu_local(ftu.tx[i].daddr) || ftu.loop_n == FTU_LOOP_MAX)
			continue;
		ftu.loop[(ftu.loop_head + ftu.loop_n++) % FTU_LOOP_MAX] = ftu.tx[i];
	}
}

/* As the shell after every call (ftc_settle); ports may be 0: Linux connects to port 0 too,
 * and answers it with a RST. */
static void ftu_settle(void)
{
	ftc_settle("fuzz_tcp_user", ftu.t, &ftu.io, ftu.now, &ftu.hi, false, ftu_loop_keep);
}

static void ftu_timers(void)
{
	ftc_timers("fuzz_tcp_user", ftu.t, &ftu.io, ftu.now);
	ftu_settle();
}

/* Segments to ourselves come back as the wire would bring them (ipd hands tcpd the header,
 * its options and the payload; the payload's bytes do not matter to the core). */
static void ftu_loop_back(void)
{
	for (unsigned n = 0; n < FTU_LOOP_BUDGET && ftu.loop_n; n++) {
		const struct tcp_tx x = ftu.loop[ftu.loop_head];
		uint8_t *b = ftu.seg;
		uint32_t hl = TCP_HDR_MIN + x.opt_len;

		ftu.loop_head = (ftu.loop_head + 1) % FTU_LOOP_MAX;
		ftu.loop_n--;
		memset(b, 0, hl + x.payload_len);
		memcpy(b, &x.sport, 2);
		memcpy(b + 2, &x.dport, 2);
		b[4] = (uint8_t)(x.seq >> 24);
		b[5] = (uint8_t)(x.seq >> 16);
		b[6] = (uint8_t)(x.seq >> 8);
		b[7] = (uint8_t)x.seq;
		b[8] = (uint8_t)(x.ack >> 24);
		b[9] = (uint8_t)(x.ack >> 16);
		b[10] = (uint8_t)(x.ack >> 8);
		b[11] = (uint8_t)x.ack;
		b[12] = (uint8_t)(hl / 4u << 4);
		b[13] = x.flags;
		b[14] = (uint8_t)(x.wnd >> 8);
		b[15] = (uint8_t)x.wnd;
		b[18] = (uint8_t)(x.urp >> 8);
		b[19] = (uint8_t)x.urp;
		memcpy(b + TCP_HDR_MIN, x.opt, x.opt_len);
		const struct tcp_seg_in in = { .saddr = x.saddr, .daddr = x.daddr, .hdr = b,
					       .seg_len = hl + x.payload_len, .gso_segs = 1,
					       .csum_ok = 1 };
		int rc = tcp_input(ftu.t, ftu.now, &in, &ftu.io);

		FTU_CHECK(rc == 0, (unsigned long)-rc, x.flags);
		ftu_settle();
	}
}

static uint32_t ftu_bind_addr(unsigned sel, uint32_t b)
{
	switch (sel & 3u) {
	case 0:
		return 0;
	case 1:
		return ftu_ip(2);
	case 2:
		return htonl(INADDR_LOOPBACK);
	default:
		return b;
	}
}

static uint32_t ftu_dest(unsigned sel, uint32_t b)
{
	static const uint32_t d[6] = { 0x0a000002u, 0x0a000005u, 0, 0xffffffffu, 0xe0000001u,
				       0xc0a80101u };
	return sel < 6 ? htonl(d[sel]) : b;
}

/* One record: the call, then the checks that hold whatever it returned. Its result. */
static int ftu_call(const uint8_t *r)
{
	unsigned op = r[0] & 15u, sel = r[1] >> 5;
	uint32_t owner = (r[1] & 1u) + 1u, other = 3u - owner;
	uint16_t a = (uint16_t)(r[2] << 8 | r[3]);
	uint32_t b = ftu_rd32(r + 4), c = ftu_rd32(r + 8);
	uint32_t cid = (r[1] & 0x10u) ? c : ftu.known[(r[1] >> 1) & 7u];
	uint32_t holder = 0, out = 0;
	size_t size = 0;
	const void *rec = ftu_record(cid, &size, &holder);
	uint8_t before[sizeof(struct tcp_conn) > sizeof(struct tcp_listener)
			       ? sizeof(struct tcp_conn)
			       : sizeof(struct tcp_listener)];
	bool foreign = rec && holder != owner && op != FTU_SOCKET && op != FTU_TIME &&
		       !(op == FTU_INFO && sel == 7);
	int rc = 0;

	if (rec)
		memcpy(before, rec, size);
	switch (op) {
	case FTU_SOCKET:
		rc = tcp_socket_open(ftu.t, owner, ftu.now, (sel & 1u) ? &ftu.io : NULL, &out);
		if (rc == 0)
			ftu_remember(out);
		break;
	case FTU_BIND:
		rc = tcp_bind(ftu.t, owner, cid, ftu_bind_addr(sel, b), htons(a));
		break;
	case FTU_LISTEN:
		rc = tcp_listen(ftu.t, owner, cid, (int16_t)a, &out);
		if (rc == 0)
			ftu_remember(out);
		break;
	case FTU_ACCEPT:
		rc = tcp_accept(ftu.t, owner, cid, (sel & 1u) ? other : owner, ftu.now, &ftu.io,
				&out);
		if (rc == 0)
			ftu_remember(out);
		break;
	case FTU_CONNECT:
		rc = tcp_connect(ftu.t, owner, cid, ftu.now, ftu_ip(2), ftu_dest(sel, b), htons(a),
				 (uint16_t)c, &ftu.io);
		break;
	case FTU_SEND: {
		const struct tcp_conn *k = ftu_conn(cid);
		uint32_t bytes = b;

		if ((sel & 1u) && k && !foreign)
			bytes = tcp_send_space(k) ? b % (tcp_send_space(k) + 1u) : 0;
		rc = tcp_send(ftu.t, owner, cid, ftu.now, bytes, (int)(c & (MSG_MORE | MSG_OOB)),
			      &ftu.io);
		break;
	}
	case FTU_RECVD:
		rc = tcp_recvd(ftu.t, owner, cid, ftu.now, b, &ftu.io);
		break;
	case FTU_SHUTDOWN:
		rc = tcp_shutdown(ftu.t, owner, cid, ftu.now, (int8_t)a, &ftu.io);
		break;
	case FTU_CLOSE:
		rc = tcp_close(ftu.t, owner, cid, ftu.now, &ftu.io);
		break;
	case FTU_DISCONNECT:
		rc = tcp_disconnect(ftu.t, owner, cid, ftu.now, &ftu.io);
		break;
	case FTU_SETOPT: {
		uint8_t val[FTU_OPT_MAX] = { 0 };
		size_t len = a >> 8;

		memcpy(val, r + 4, 8);
		if (len > FTU_OPT_MAX)
			len = FTU_OPT_MAX;
		rc = tcp_setopt(ftu.t, owner, cid, ftu.now, ftu_levels[sel], a & 63, val, len,
				&ftu.io);
		break;
	}
	case FTU_GETOPT: {
		uint8_t val[FTU_OPT_MAX + FTU_GUARD];
		size_t len = a >> 8, got;

		if (len > FTU_OPT_MAX)
			len = FTU_OPT_MAX;
		memset(val, 0xa5, sizeof(val));
		got = len;
		rc = tcp_getopt(ftu.t, owner, cid, ftu.now, ftu_levels[sel], a & 63, val, &got);
		FTU_CHECK(got <= len, got, len);
		FTU_CHECK(fuzz_first_changed(val, len, sizeof(val), 0xa5) == sizeof(val),
			  fuzz_first_changed(val, len, sizeof(val), 0xa5), len);
		break;
	}
	case FTU_GETNAME: {
		uint32_t addr = 0;
		uint16_t port = 0;

		rc = tcp_getname(ftu.t, owner, cid, sel & 1u, &addr, &port);
		break;
	}
	case FTU_BUF_MAX:
		rc = tcp_set_buf_max(ftu.t, owner, cid, b, c);
		break;
	case FTU_TIME:
		ftu.now += ftu_steps[a & 7u];
		if (tcp_next_deadline(ftu.t) <= ftu.now)
			ftu_timers();
		ftu_loop_back();
		return 0;
	default: /* FTU_INFO */
		if (sel == 7) {
			(void)tcp_close_owner(ftu.t, owner, ftu.now, &ftu.io);
		} else {
			struct tcp_info_lite info;

			rc = tcp_info(ftu.t, owner, cid, ftu.now, &info);
		}
		break;
	}
	if (foreign) {
		/* another application's socket: refused, untouched, nothing sent or reported */
		FTU_CHECK(rc < 0, op, cid);
		FTU_CHECK(memcmp(before, rec, size) == 0, op, cid);
		FTU_CHECK(ftu.io.n_tx == 0 && ftu.io.n_ev == 0, ftu.io.n_tx, ftu.io.n_ev);
	}
	ftu_settle();
	ftu_loop_back();
	return rc;
}

/* A timer pass during the wind-down, and what it sends to ourselves coming back. */
static void ftu_timers_loop(void)
{
	ftu_timers();
	ftu_loop_back();
}

FTC_NO_COVERAGE static void ftu_teardown(void)
{
	for (uint32_t owner = 1; owner <= 2; owner++) {
		(void)tcp_close_owner(ftu.t, owner, ftu.now, &ftu.io);
		ftu_settle();
		ftu_loop_back();
	}
	ftc_wind_down("fuzz_tcp_user", ftu.t, &ftu.io, &ftu.now, &ftu.hi, FTU_RUNOUT_PASSES,
		      ftu_timers_loop, ftu_settle);
}

/* The start of every input (file comment), built once through the calls themselves: a
 * record by hand for each step, checked to succeed. */
static void ftu_build_scene(void)
{
	static const uint8_t seed[32] = { 0x75, 0x73, 0x74, 0x61, 0x63, 0x6b };
	static const uint8_t steps[][FTU_REC] = {
		{ FTU_SOCKET, 0x00 },                             /* 0: owner 1 */
		{ FTU_BIND, 0x00, 0x1f, 0x90 },                   /* ANY:8080 */
		{ FTU_LISTEN, 0x00, 0x00, 0x10 },                 /* -> 1: the listener */
		{ FTU_SOCKET, 0x00 },                             /* 2: owner 1 */
		{ FTU_CONNECT, 0x04, 0x1f, 0x90, 0, 0, 0, 0, 0, 0, 0x05, 0xdc }, /* to 8080 */
		{ FTU_ACCEPT, 0x22 },                             /* -> 3, for owner 2 */
		{ FTU_SOCKET, 0x01 },                             /* 4: owner 2 */
		{ FTU_BIND, 0x09, 0x1f, 0x91 },                   /* ANY:8081 */
		{ FTU_LISTEN, 0x09, 0x00, 0x10 },                 /* -> 5 */
		{ FTU_SOCKET, 0x01 },                             /* 6: owner 2 */
		{ FTU_CONNECT, 0x2d, 0x13, 0x89, 0, 0, 0, 0, 0, 0, 0x05, 0xdc }, /* 10.0.0.5:5001 */
	};
	static const unsigned keep[5] = { 1, 2, 3, 5, 6 }; /* the remembered sockets, in order */
	const struct tcp_host host = { .addr = ftu_ip(2), .prefix_len = 24, .mtu = 1500,
				       .tso_max = 65535 - 40 };
	uint32_t got[FTU_KNOWN];

	tcp_table_init(ftu.t, seed, &host);
	ftu.io = (struct tcp_io){ .tx = ftu.tx, .tx_max = FTU_TX_MAX, .ev = ftu.ev,
				  .ev_max = FTU_EV_MAX };
	ftu.now = FTU_START_NS;
	memset(ftu.known, 0, sizeof(ftu.known));
	ftu.next_known = ftu.hi = ftu.loop_head = ftu.loop_n = 0;
	for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		unsigned before = ftu.next_known;

		FTU_CHECK(ftu_call(steps[i]) == 0, i, 0);
		if (ftu.next_known != before)
			FTU_CHECK(ftu.next_known == before + 1, i, ftu.next_known);
	}
	FTU_CHECK(ftu.next_known == 7, ftu.next_known, 0);
	memcpy(got, ftu.known, sizeof(got));
	memset(ftu.known, 0, sizeof(ftu.known));
	for (unsigned i = 0; i < 5; i++)
		ftu.known[i] = got[keep[i]];
	ftu.next_known = 5;
	FTU_CHECK(ftu_conn(ftu.known[1]) && ftu_conn(ftu.known[1])->state == TCP_STATE_ESTABLISHED,
		  ftu.known[1], 0);
	FTU_CHECK(ftu_conn(ftu.known[2]) && ftu_conn(ftu.known[2])->owner == 2, ftu.known[2], 0);
	FTU_CHECK(ftu_conn(ftu.known[4]) && ftu_conn(ftu.known[4])->state == TCP_STATE_SYN_SENT,
		  ftu.known[4], 0);

	ftu_scene.t = malloc(sizeof(*ftu_scene.t));
	FTU_CHECK(ftu_scene.t != NULL, sizeof(*ftu_scene.t), 0);
	memcpy(ftu_scene.t, ftu.t, sizeof(*ftu.t));
	memcpy(ftu_scene.known, ftu.known, sizeof(ftu.known));
	ftu_scene.next_known = ftu.next_known;
	ftu_scene.hi = ftu.hi;
	ftu_scene.now = ftu.now;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ftu.t) {
		ftu.t = malloc(sizeof(*ftu.t));
		FTU_CHECK(ftu.t != NULL, sizeof(*ftu.t), 0);
		ftu_build_scene();
	}
	/* tcp_table_init walks every slot: the scene is built once, copied for each input */
	memcpy(ftu.t, ftu_scene.t, sizeof(*ftu.t));
	memcpy(ftu.known, ftu_scene.known, sizeof(ftu.known));
	ftu.next_known = ftu_scene.next_known;
	ftu.hi = ftu_scene.hi;
	ftu.now = ftu_scene.now;
	ftu.io.n_tx = ftu.io.n_ev = 0;
	ftu.loop_head = ftu.loop_n = 0;
	for (size_t pos = 0; pos + FTU_REC <= size; pos += FTU_REC)
		(void)ftu_call(data + pos);
	ftu_teardown();
	return 0;
}

/* For the plain driver: the units are records; each is padded or cut to FTU_REC bytes, and
 * ctl picks the caller and which remembered socket (bits 0-3) half the time, so mutated
 * records still reach live sockets of both owners. */
static size_t ftu_compose(uint8_t *out, size_t cap, const uint8_t *const unit[],
			  const size_t unit_len[], unsigned n, const uint32_t ctl[])
{
	size_t pos = 0;

	for (unsigned i = 0; i < n && cap - pos >= FTU_REC; i++) {
		size_t len = unit_len[i] < FTU_REC ? unit_len[i] : FTU_REC;

		memset(out + pos, 0, FTU_REC);
		memcpy(out + pos, unit[i], len);
		if (ctl[1 + i] & 0x100u)
			out[pos + 1] = (uint8_t)((out[pos + 1] & ~0x1fu) | (ctl[1 + i] & 0x0fu));
		pos += FTU_REC;
	}
	return pos;
}

const struct fuzz_target fuzz_target = {
	.name = "tcp_user",
	.units = fuzz_tcp_user_units,
	.regressions = fuzz_tcp_user_regressions,
	.max_units = 24,
	.unit_max = FTU_REC,
	.compose = ftu_compose,
};
