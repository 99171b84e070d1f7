/* fuzz_udp: libFuzzer target for the UDP core from both of its untrusted sides: datagrams and
 * ICMP errors from the wire (udp_input, udp_icmp_error, as udpd hands them over from ipd), and
 * the calls applications' requests make (udpd_requests.c checks only a request's shape), from
 * two applications on their own sockets and on each other's.
 *
 * Every input starts from the same table (host 10.0.0.2/24, gateway 10.0.0.1, MTU 1500),
 * built through the calls themselves: remembered sockets
 *   0  owner 1's, bound to ANY:7000;
 *   1  owner 1's, bound to 10.0.0.2:7001 and connected to 10.0.0.5:9000;
 *   2  owner 2's, bound to ANY:7002 with SO_REUSEADDR, SO_BROADCAST and IP_RECVERR;
 *   3  owner 2's, unbound;
 * then the sockets an input opens, in slots 4-7 and round again.
 *
 * Input format (every byte string is an input): records until the input ends, each a 12-byte
 * header and `len` bytes of data (cut to what is left):
 *   op    byte 0, mod 12: 0 socket, 1 bind, 2 connect, 3 disconnect, 4 close, 5 setsockopt,
 *         6 getsockopt, 7 getsockname or getpeername, 8 take the pending error, or autobind
 *         (sel bit 0), 9 a datagram from the wire, 10 an ICMP error from the wire, 11 an
 *         application's session ends
 *   who   byte 1: bit 0 the caller (owner 1 or 2); bits 1-3 which remembered socket; bit 4 the
 *         sid is word b instead (stale, foreign, no slot at all); bits 5-7 sel: the address
 *         bind and connect use (ANY, ours, the peer 10.0.0.5, the subnet's broadcast,
 *         255.255.255.255, 224.0.0.251, 127.0.0.1, word b), the option's level (SOL_SOCKET,
 *         SOL_IP, SOL_UDP, IPPROTO_TCP, -1, INT_MAX), getname's side (bit 0); for a datagram
 *         its source (the peer 10.0.0.5, ourselves, a host off the subnet, the broadcast,
 *         0.0.0.0, the gateway, word b)
 *   len   bytes 2-3, big-endian: the data's length
 *   a     bytes 4-7, big-endian: a port (low 16 bits); the option's name (low 6 bits) and
 *         length (bits 8-15, the value cut to 64 bytes); for a datagram the destination (bits
 *         0-2: ours, the subnet's broadcast, 255.255.255.255, 224.0.0.251, 0.0.0.0, 127.0.0.1,
 *         word b), DESC_F_BCAST (bit 3), DESC_F_CSUM_VERIFIED (bit 4), where the chain is cut
 *         (bits 16-26: the head buffer's bytes, 0 as many as fit), which sockets' queues are
 *         full (bit 5: rcvbuf drops instead of deliveries); for an ICMP error type and code
 *         (bits 0-7, 8-15) and the ICMP header's rest (word b)
 *   b     bytes 8-11, big-endian word
 *   data  a datagram starting at its IPv4 header (the UDP header at the IHL it says, or at 20);
 *         an option's value; an ICMP error's quote (an IPv4 header and what follows)
 *
 * Checks, abort() on failure:
 *  - after every call the table's invariants (udp_table_check: header, idle journal, every
 *    record sealed and valid);
 *  - one application never reaches another's socket: a call by owner X on a socket owner Y
 *    holds fails with -EBADF and leaves that socket's record byte for byte as it was;
 *  - getsockopt writes only within the length it was given and reports no more than that;
 *  - udp_input says 0, -ENOENT or -EBADMSG; a delivery lies inside the chain, goes to open
 *    sockets on the destination port, one at most for unicast, each once; udp_input only
 *    reads the chain (it comes back as it went in, and the pool is idle at the end);
 *  - udp_icmp_error says 0, -ENOENT or -EBADMSG, and reports an open socket, with its quoted
 *    payload inside the quote.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "desc.h"
#include "fuzz.h"
#include "fuzz_chain.h"
#include "pool.h"
#include "udp_core.h"
#include "udp_priv.h"

#define FUZZ_SEEDS_UDP
#include "seeds.h"

#define FUD_HDR 12u
#define FUD_KNOWN 8u
#define FUD_OPT_MAX 64u
#define FUD_GUARD 16u
#define FUD_DGRAM_MAX (20u + 8u + 65507u)
#define FUD_POOL_COUNT 256u
#define FUD_OWNER_2_UID 1000u

#define FUD_CHECK(cond, a, b)                                                            \
	do {                                                                             \
		if (!(cond))                                                             \
			fud_fail(#cond, (unsigned long)(a), (unsigned long)(b));         \
	} while (0)

enum fud_op {
	FUD_SOCKET, FUD_BIND, FUD_CONNECT, FUD_DISCONNECT, FUD_CLOSE, FUD_SETOPT, FUD_GETOPT,
	FUD_GETNAME, FUD_ERROR, FUD_DATAGRAM, FUD_ICMP, FUD_SESSION_END, FUD_OP_COUNT,
};

static const int fud_levels[8] = {
	SOL_SOCKET, SOL_IP, SOL_UDP, IPPROTO_TCP, -1, INT_MAX, SOL_SOCKET, SOL_IP,
};

struct fud_state {
	struct udp_table *t, *scene;
	struct udp_host host;
	struct pool *pool;
	struct udp_rx rx;
	uint32_t known[FUD_KNOWN], scene_known[FUD_KNOWN];
	unsigned next_known;
	uint8_t copy[FUD_DGRAM_MAX]; /* the chain's bytes after udp_input, to compare */
};

static struct fud_state fud;

static _Noreturn void fud_fail(const char *what, unsigned long a, unsigned long b)
{
	fprintf(stderr, "fuzz_udp: %s (%lu, %lu)\n", what, a, b);
	abort();
}

static uint32_t fud_ip(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

static uint32_t fud_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void fud_remember(uint32_t sid)
{
	fud.known[fud.next_known] = sid;
	fud.next_known = fud.next_known + 1 < FUD_KNOWN ? fud.next_known + 1 : 4;
}

/* The open socket sid names, whoever holds it; NULL if none. */
static const struct udp_sock *fud_sock(uint32_t sid)
{
	if (!sid)
		return NULL;
	for (unsigned i = 0; i < UDP_SOCKETS_MAX; i++)
		if (udp_sock_sid(fud.t, i) == sid)
			return &fud.t->sock[i];
	return NULL;
}

static uint32_t fud_addr(unsigned sel, uint32_t b)
{
	static const uint32_t a[7] = { 0, 0x0a000002u, 0x0a000005u, 0x0a0000ffu, 0xffffffffu,
				       0xe00000fbu, 0x7f000001u };
	return sel < 7 ? htonl(a[sel]) : b;
}

/* The chain's bytes into out (at most cap); how many. */
static size_t fud_flatten(const struct buf *chain, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (const struct buf *b = chain; b && n < cap; b = buf_next(b)) {
		size_t k = buf_len(b) < cap - n ? buf_len(b) : cap - n;

		memcpy(out + n, buf_data(b), k);
		n += k;
	}
	return n;
}

static void fud_datagram(unsigned sel, uint32_t a, uint32_t b, const uint8_t *data, size_t len)
{
	static const uint32_t src[6] = { 0x0a000005u, 0x0a000002u, 0xc0a80101u, 0xffffffffu, 0,
					 0x0a000001u };
	static const unsigned dst[6] = { 1, 3, 4, 5, 0, 6 }; /* fud_addr's: a's bits 0-2 */
	struct desc d = { 0 };
	struct buf *chain;
	uint16_t dport;
	int rc;

	if (len > FUD_DGRAM_MAX)
		len = FUD_DGRAM_MAX;
	d.saddr = sel < 6 ? htonl(src[sel]) : b;
	d.daddr = (a & 7u) < 6 ? fud_addr(dst[a & 7u], 0) : b;
	d.l4_off = len > 0 && (data[0] >> 4) == 4 && (data[0] & 15u) >= 5 ? (data[0] & 15u) * 4u
									 : 20u;
	d.proto = IPPROTO_UDP;
	d.flags = ((a & 0x08u) ? DESC_F_BCAST : 0) | ((a & 0x10u) ? DESC_F_CSUM_VERIFIED : 0);
	chain = fuzz_chain(fud.pool, data, len, (a >> 16) & 0x7ffu);
	if (!chain)
		return;
	d.len = (uint32_t)len;
	dport = len >= d.l4_off + 4u ? (uint16_t)(data[d.l4_off + 2] << 8 | data[d.l4_off + 3])
				     : 0;
	rc = udp_input(fud.t, &d, chain, &fud.rx);
	FUD_CHECK(rc == 0 || rc == -ENOENT || rc == -EBADMSG, (unsigned long)-rc, len);
	if (rc == 0) {
		const struct udp_rx *rx = &fud.rx;

		FUD_CHECK(rx->payload_off <= len && rx->payload_len <= len - rx->payload_off,
			  rx->payload_off, rx->payload_len);
		FUD_CHECK(rx->payload_off + rx->payload_len + rx->trailing == len,
			  rx->payload_off + rx->payload_len, rx->trailing);
		FUD_CHECK(ntohs(rx->dport) == dport, ntohs(rx->dport), dport);
		FUD_CHECK(rx->n_sids <= UDP_SOCKETS_MAX, rx->n_sids, 0);
		if (!(d.flags & DESC_F_BCAST) && (ntohl(d.daddr) >> 28) != 14 &&
		    d.daddr != 0xffffffffu && d.daddr != fud_addr(3, 0))
			FUD_CHECK(rx->n_sids <= 1, rx->n_sids, 0);
		for (uint32_t i = 0; i < rx->n_sids; i++) {
			const struct udp_sock *s = fud_sock(rx->sids[i]);

			FUD_CHECK(s != NULL, rx->sids[i], i);
			FUD_CHECK(s->lport == rx->dport, ntohs(s->lport), ntohs(rx->dport));
			for (uint32_t j = 0; j < i; j++)
				FUD_CHECK(rx->sids[j] != rx->sids[i], j, i);
			if (a & 0x20u)
				udp_rx_rcvbuf_drop(fud.t, rx->sids[i]);
			else
				udp_rx_delivered(fud.t, rx->sids[i]);
		}
	}
	/* udp_input borrows the chain read-only: every byte as it went in */
	FUD_CHECK(fud_flatten(chain, fud.copy, sizeof(fud.copy)) == len, len, 0);
	FUD_CHECK(memcmp(fud.copy, data, len) == 0, len, 0);
	pool_free(&chain);
}

static void fud_icmp(uint32_t a, uint32_t b, const uint8_t *data, size_t len)
{
	struct udp_icmp_report rep;
	int rc = udp_icmp_error(fud.t, (uint8_t)a, (uint8_t)(a >> 8), b, data, len, &rep);

	FUD_CHECK(rc == 0 || rc == -ENOENT || rc == -EBADMSG, (unsigned long)-rc, len);
	if (rc == 0) {
		FUD_CHECK(fud_sock(rep.sid) != NULL, rep.sid, 0);
		FUD_CHECK(rep.payload_off <= len, rep.payload_off, len);
		if (rep.queue)
			udp_errq_dequeued(fud.t, rep.sid, 0);
	}
}

/* One record: the call, then the checks that hold whatever it returned. Its result. */
static int fud_call(const uint8_t *r, const uint8_t *data, size_t len)
{
	unsigned op = r[0] % FUD_OP_COUNT, sel = r[1] >> 5;
	uint32_t owner = (r[1] & 1u) + 1u;
	uint32_t a = fud_rd32(r + 4), b = fud_rd32(r + 8);
	uint32_t sid = (r[1] & 0x10u) ? b : fud.known[(r[1] >> 1) & 7u], out = 0;
	const struct udp_sock *s = fud_sock(sid);
	struct udp_sock before;
	bool foreign = s && s->owner != owner && op != FUD_SOCKET && op != FUD_DATAGRAM &&
		       op != FUD_ICMP && op != FUD_SESSION_END;
	int rc = 0;

	if (s)
		memcpy(&before, s, sizeof(before));
	switch (op) {
	case FUD_SOCKET:
		rc = udp_socket_open(fud.t, owner, &out);
		if (rc == 0) {
			FUD_CHECK(udp_sock_set_uid(fud.t, owner, out,
						   owner == 2 ? FUD_OWNER_2_UID : 0) == 0,
				  out, 0);
			fud_remember(out);
		}
		break;
	case FUD_BIND:
		rc = udp_bind(fud.t, owner, sid, &fud.host, fud_addr(sel, b), htons((uint16_t)a));
		break;
	case FUD_CONNECT:
		rc = udp_connect(fud.t, owner, sid, &fud.host, fud_addr(sel, b), htons((uint16_t)a));
		break;
	case FUD_DISCONNECT:
		rc = udp_disconnect(fud.t, owner, sid);
		break;
	case FUD_CLOSE:
		rc = udp_socket_close(fud.t, owner, sid);
		break;
	case FUD_SETOPT: {
		uint8_t val[FUD_OPT_MAX] = { 0 };
		size_t vlen = (a >> 8) & 0xffu;

		if (vlen > FUD_OPT_MAX)
			vlen = FUD_OPT_MAX;
		memcpy(val, data, len < FUD_OPT_MAX ? len : FUD_OPT_MAX);
		rc = udp_setopt(fud.t, owner, sid, fud_levels[sel], (int)(a & 63u), val, vlen);
		break;
	}
	case FUD_GETOPT: {
		uint8_t val[FUD_OPT_MAX + FUD_GUARD];
		size_t vlen = (a >> 8) & 0xffu, got;

		if (vlen > FUD_OPT_MAX)
			vlen = FUD_OPT_MAX;
		memset(val, 0xa5, sizeof(val));
		got = vlen;
		rc = udp_getopt(fud.t, &fud.host, owner, sid, fud_levels[sel], (int)(a & 63u), val,
				&got);
		FUD_CHECK(got <= vlen, got, vlen);
		FUD_CHECK(fuzz_first_changed(val, vlen, sizeof(val), 0xa5) == sizeof(val),
			  fuzz_first_changed(val, vlen, sizeof(val), 0xa5), vlen);
		break;
	}
	case FUD_GETNAME: {
		uint32_t addr = 0;
		uint16_t port = 0;

		rc = udp_getname(fud.t, owner, sid, sel & 1u, &addr, &port);
		break;
	}
	case FUD_ERROR:
		rc = (sel & 1u) ? udp_autobind_sock(fud.t, owner, sid)
				: udp_take_error(fud.t, owner, sid);
		if (rc > 0)
			fud_fail("a pending error taken as positive", (unsigned long)rc, sid);
		if (!foreign && rc != -EBADF)
			rc = 0; /* a pending error is a result, not a refusal */
		break;
	case FUD_DATAGRAM:
		fud_datagram(sel, a, b, data, len);
		break;
	case FUD_ICMP:
		fud_icmp(a, b, data, len);
		break;
	default: /* FUD_SESSION_END */
		(void)udp_close_owner(fud.t, owner);
		break;
	}
	if (foreign) {
		/* another application's socket: refused, untouched */
		FUD_CHECK(rc == -EBADF, op, (unsigned long)-rc);
		FUD_CHECK(memcmp(&before, s, sizeof(before)) == 0, op, sid);
	}
	FUD_CHECK(udp_table_check(fud.t) == 0, op, (unsigned long)-udp_table_check(fud.t));
	return rc;
}

/* The table every input starts from (file comment), built once through the calls. */
static void fud_build_scene(void)
{
	static const int one = 1;
	uint32_t sid[4];

	FUD_CHECK(udp_host_init(&fud.host, fud_ip(10, 0, 0, 2), 24, fud_ip(10, 0, 0, 1), 1500) == 0,
		  0, 0);
	udp_table_init(fud.t);
	udp_port_seed(fud.t, 0x75737461u);
	udp_reuseport_seed(fud.t, 0x636b0000u);
	for (unsigned i = 0; i < 4; i++) {
		uint32_t owner = i < 2 ? 1 : 2;

		FUD_CHECK(udp_socket_open(fud.t, owner, &sid[i]) == 0, i, 0);
		FUD_CHECK(udp_sock_set_uid(fud.t, owner, sid[i], owner == 2 ? FUD_OWNER_2_UID : 0) ==
				  0,
			  i, 0);
	}
	FUD_CHECK(udp_bind(fud.t, 1, sid[0], &fud.host, 0, htons(7000)) == 0, 0, 0);
	FUD_CHECK(udp_bind(fud.t, 1, sid[1], &fud.host, fud_ip(10, 0, 0, 2), htons(7001)) == 0, 1,
		  0);
	FUD_CHECK(udp_connect(fud.t, 1, sid[1], &fud.host, fud_ip(10, 0, 0, 5), htons(9000)) == 0,
		  1, 0);
	FUD_CHECK(udp_setopt(fud.t, 2, sid[2], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0, 2,
		  0);
	FUD_CHECK(udp_setopt(fud.t, 2, sid[2], SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) == 0, 2,
		  0);
	FUD_CHECK(udp_setopt(fud.t, 2, sid[2], SOL_IP, IP_RECVERR, &one, sizeof(one)) == 0, 2, 0);
	FUD_CHECK(udp_bind(fud.t, 2, sid[2], &fud.host, 0, htons(7002)) == 0, 2, 0);
	FUD_CHECK(udp_table_check(fud.t) == 0, 0, 0);
	memset(fud.scene_known, 0, sizeof(fud.scene_known));
	memcpy(fud.scene_known, sid, sizeof(sid));
	memcpy(fud.scene, fud.t, sizeof(*fud.t));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	if (!fud.t) {
		struct pool_geometry geo = { .count = FUD_POOL_COUNT };

		fud.t = malloc(sizeof(*fud.t));
		fud.scene = malloc(sizeof(*fud.scene));
		FUD_CHECK(fud.t && fud.scene, sizeof(*fud.t), 0);
		FUD_CHECK(pool_create_anon(&geo, POOL_HOLDER_UDPD, &fud.pool) == 0, 0, 0);
		fud_build_scene();
	}
	memcpy(fud.t, fud.scene, sizeof(*fud.t));
	memcpy(fud.known, fud.scene_known, sizeof(fud.known));
	fud.next_known = 4;
	while (pos + FUD_HDR <= size) {
		const uint8_t *r = data + pos;
		size_t len = (size_t)r[2] << 8 | r[3];

		pos += FUD_HDR;
		if (len > size - pos)
			len = size - pos;
		(void)fud_call(r, data + pos, len);
		pos += len;
	}
	for (uint32_t owner = 1; owner <= 2; owner++)
		(void)udp_close_owner(fud.t, owner);
	for (unsigned i = 0; i < UDP_SOCKETS_MAX; i++)
		FUD_CHECK(udp_sock_sid(fud.t, i) == 0, i, 0);
	FUD_CHECK(udp_table_check(fud.t) == 0, 0, 0);
	FUD_CHECK(pool_free_count(fud.pool) == pool_count(fud.pool), pool_free_count(fud.pool),
		  pool_count(fud.pool));
	return 0;
}

/* For the plain driver: each unit is a record (header and data) as it is; ctl steers half of
 * them at a remembered socket of either owner and, for datagrams, has the checksum trusted
 * (most mutations break it) so they reach the demultiplexing. */
static size_t fud_compose(uint8_t *out, size_t cap, const uint8_t *const unit[],
			  const size_t unit_len[], unsigned n, const uint32_t ctl[])
{
	size_t pos = 0;

	for (unsigned i = 0; i < n && cap - pos >= FUD_HDR; i++) {
		size_t len = unit_len[i] < cap - pos ? unit_len[i] : cap - pos;
		size_t dlen;

		if (len < FUD_HDR) {
			memset(out + pos, 0, FUD_HDR);
			memcpy(out + pos, unit[i], len);
			len = FUD_HDR;
		} else {
			memcpy(out + pos, unit[i], len);
		}
		dlen = len - FUD_HDR;
		out[pos + 2] = (uint8_t)(dlen >> 8);
		out[pos + 3] = (uint8_t)dlen;
		if (ctl[1 + i] & 0x100u)
			out[pos + 1] = (uint8_t)((out[pos + 1] & ~0x1fu) | (ctl[1 + i] & 0x0fu));
		if ((ctl[1 + i] & 0x200u) && out[pos] % FUD_OP_COUNT == FUD_DATAGRAM)
			out[pos + 7] |= 0x10u;
		pos += len;
	}
	return pos;
}

const struct fuzz_target fuzz_target = {
	.name = "udp",
	.units = fuzz_udp_units,
	.regressions = fuzz_udp_regressions,
	.max_units = 16,
	.unit_max = FUD_HDR + 1500,
	.compose = fud_compose,
};
