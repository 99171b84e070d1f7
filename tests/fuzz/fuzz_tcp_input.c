/* fuzz_tcp_input: libFuzzer target for what the TCP core takes from the wire: whole segments
 * through tcp_input, the public entry the shell calls, into a table holding a connection in
 * each interesting state, with the application's calls and the clock moving in between.
 *
 * Every input starts from the same table (host 10.0.0.2/24, MTU 1500), built through the
 * public calls only:
 *   L  a listener on port 80;
 *   E  an active open to 10.0.0.5:5001, ESTABLISHED by a SYN-ACK fed through tcp_input, with
 *      the options byte 0 asks for (and 5,000 bytes queued to send if asked);
 *   S  an active open to 10.0.0.6:5002 left in SYN-SENT;
 *   C  a child of L in SYN-RECEIVED (a SYN from 10.0.0.7:6000 fed through tcp_input).
 * (The table so built depends on byte 0 only: the last few are kept and copied back.)
 *
 * Input format (every byte string is an input):
 *   byte 0     config: bit 0 TSO; bits 1-2 L's backlog (0, 1, 4, 128: 0 and 1 overflow at
 *              once, so SYN cookies answer); bits 3-5 the options E's peer sends (timestamps,
 *              SACK-permitted, window scale 7); bit 6 queue 5,000 bytes on E; bit 7 take the
 *              table over as a restarted tcpd would (tcp_table_recover) before the teardown.
 *   records    until the input ends: [ctl0] [ctl1] [length, 2 bytes big-endian] [segment]
 *     ctl0 bits 0-2  advance the clock first by 0, 1 us, 1 ms, 40 ms, 200 ms, 1 s, 10 s or
 *                    70 s, then run tcp_timers if the deadline has come, as tcpd's timerfd
 *          bits 3-5  where the segment goes, rewriting its addresses and ports:
 *                    0 as it is, from 10.0.0.5 (ports from the segment);
 *                    1 to L, from 10.0.0.9 (source port from the segment);
 *                    2 E's 4-tuple, seq and ack relative: the segment's seq is added to E's
 *                      rcv_nxt, its ack to E's snd_una, its SACK blocks to snd_una, its TSval
 *                      to TS.Recent (so mutations land in and around the window);
 *                    3 S's 4-tuple, ack added to S's iss + 1;
 *                    4 C's 4-tuple, relative as for E;
 *                    5 E's 4-tuple, numbers as they are; 6 C's likewise;
 *                    7 to L from 10.0.0.5, ports from the segment, the ack relative to the
 *                      last SYN-ACK L sent (a cookie's, or a child's)
 *          bit 6     the checksum failed (csum_ok 0)
 *          bit 7     to or from a broadcast (bcast 1)
 *     ctl1 bits 0-2  then the application acts on the record's connection (E for targets
 *                    0, 1, 2, 5, 7; S; C): 0 nothing, 1 reads all it can, 2 sends
 *                    (bits 3-7) * 700 bytes, 3 accepts everything L has queued, 4
 *                    shutdown(SHUT_WR), 5 close, 6 tcp_abort (the shell lost its streams),
 *                    7 reads, then tcp_output_deferred
 *          bits 3-7  gso_segs (0 = 1) unless action 2 uses them
 *     length         cut to what is left and to FTI_SEG_MAX
 *
 * Checks, abort() on failure:
 *  - after every call: the table's invariants (the free list, the 4-tuple hash, the queues
 *    and their counts, the deadline cache never late: as tests/unit/helper_tcp.c checks), and
 *    per connection snd_una <= snd_nxt <= snd_max, read_seq <= rcv_nxt;
 *  - what the core asks of the shell is possible: a payload placement lies inside the
 *    segment's payload and inside the receive buffer [read_seq, read_seq + rcv_buf); a segment
 *    to send takes its bytes from [snd_una, write_seq) of a live connection, options a
 *    multiple of 4 within 40 bytes, TSO only when the host has it;
 *  - tcp_input never fails on a segment (0 always);
 *  - a timer pass with room in tcp_io leaves no deadline in the past (tcpd would spin);
 *  - at the end the owner's sockets are closed, the timers run, what is still alive is
 *    aborted: every slot must then be free (a slot nobody can free is a leak).
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fuzz.h"
#include "fuzz_tcp_check.h"
#include "tcp_core.h"
#include "tcp_priv.h"
#include "tcp_seq.h"

#define FUZZ_SEEDS_TCP
#include "seeds.h"

#define FTI_SEG_MAX 9000u
#define FTI_REC_HDR 4u
#define FTI_TX_MAX 32u /* small: the full-io path (deferred output) runs too */
#define FTI_EV_MAX 16u
#define FTI_OWNER 1u
#define FTI_START_NS (1000ull * CLOCK_NS_PER_S)
#define FTI_RUNOUT_PASSES 16u
#define FTI_SNAP_SLOTS 16u /* tables kept as built by fti_setup, by config byte */
#define FTI_ACCEPTED_MAX 16u

#define FTI_CFG_TSO 0x01u
#define FTI_CFG_BACKLOG 0x06u
#define FTI_CFG_TS 0x08u
#define FTI_CFG_SACK 0x10u
#define FTI_CFG_WS 0x20u
#define FTI_CFG_QUEUE 0x40u
#define FTI_CFG_RECOVER 0x80u

enum fti_target {
	FTI_T_RAW = 0,
	FTI_T_LISTENER,
	FTI_T_E_REL,
	FTI_T_S,
	FTI_T_C_REL,
	FTI_T_E_ABS,
	FTI_T_C_ABS,
	FTI_T_COOKIE,
};

static const uint64_t fti_steps[8] = {
	0, 1000, CLOCK_NS_PER_MS, 40 * CLOCK_NS_PER_MS, 200 * CLOCK_NS_PER_MS, CLOCK_NS_PER_S,
	10 * CLOCK_NS_PER_S, 70 * CLOCK_NS_PER_S,
};
static const int fti_backlogs[4] = { 0, 1, 4, 128 };

struct fti_state {
	struct tcp_table *t;
	struct tcp_tx tx[FTI_TX_MAX];
	uint32_t ev[FTI_EV_MAX];
	struct tcp_io io;
	uint64_t now;
	uint32_t lcid, ecid, scid, ccid;
	uint32_t synack_seq;     /* ISN of the last SYN-ACK from port 80 (cookie or child) */
	uint32_t accepted[FTI_ACCEPTED_MAX];
	unsigned n_accepted;
	unsigned hi;             /* slots below this may have been used (ftc_check_table) */
	uint8_t seg[FTI_SEG_MAX];
};

static struct fti_state fti;

/* The table fti_setup builds depends on the config byte only, and building it (tcp_table_init
 * walks every slot, instrumented) costs more than most inputs: the last few are kept and copied
 * back instead. */
struct fti_snap {
	bool valid;
	uint8_t cfg;
	struct tcp_table *t;
	uint32_t lcid, ecid, scid, ccid, synack_seq;
	uint64_t now;
};
static struct fti_snap fti_snaps[FTI_SNAP_SLOTS];

#define FTI_CHECK(cond, a, b)                                                                \
	do {                                                                                 \
		if (!(cond))                                                                 \
			ftc_fail("fuzz_tcp_input", #cond, (unsigned long)(a), (unsigned long)(b)); \
	} while (0)

static uint32_t fti_ip(unsigned d)
{
	return htonl(0x0a000000u | d); /* 10.0.0.d */
}

static uint32_t fti_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void fti_wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static struct tcp_conn *fti_conn(uint32_t cid)
{
	return ftc_conn(fti.t, cid);
}

/* --- checks ------------------------------------------------------------------------------ */

/* A placement the shell can do: inside the segment's payload and the receive buffer. */
static void fti_check_place(uint32_t payload)
{
	const struct tcp_rx_place *p = &fti.io.place;
	const struct tcp_conn *c;

	if (!p->len)
		return;
	FTI_CHECK(p->seg_off <= payload && p->len <= payload - p->seg_off, p->seg_off, p->len);
	c = fti_conn(p->cid);
	FTI_CHECK(c != NULL, p->cid, p->len);
	FTI_CHECK(SEQ_GEQ(p->stream_seq, c->read_seq), p->stream_seq, c->read_seq);
	FTI_CHECK(SEQ_LEQ(p->stream_seq + p->len, c->read_seq + c->rcv_buf), p->stream_seq + p->len,
		  c->read_seq + c->rcv_buf);
}

/* As the shell after every call (ftc_settle). */
static void fti_settle(void)
{
	ftc_settle("fuzz_tcp_input", fti.t, &fti.io, fti.now, &fti.hi, true, NULL);
}

static void fti_timers(void)
{
	ftc_timers("fuzz_tcp_input", fti.t, &fti.io, fti.now);
	fti_settle();
}

/* --- the table every input starts from ----------------------------------------------------- */

/* Feed one segment: hdr (header, options, payload) from saddr to 10.0.0.2. */
static void fti_input(uint32_t saddr, const uint8_t *seg, uint32_t len, uint16_t gso_segs,
		      bool csum_ok, bool bcast)
{
	struct tcp_seg_in in = {
		.saddr = saddr,
		.daddr = fti_ip(2),
		.hdr = seg,
		.seg_len = len,
		.gso_segs = gso_segs ? gso_segs : 1,
		.csum_ok = csum_ok,
		.bcast = bcast,
	};
	uint32_t payload = 0;
	int rc;

	if (len >= TCP_HDR_MIN && (seg[12] >> 4) * 4u >= TCP_HDR_MIN && (seg[12] >> 4) * 4u <= len)
		payload = len - (seg[12] >> 4) * 4u;
	rc = tcp_input(fti.t, fti.now, &in, &fti.io);
	FTI_CHECK(rc == 0, (unsigned long)-rc, len);
	fti_check_place(payload);
	/* The SYN-ACKs port 80 sends: the next ACK to L may complete one. */
	for (unsigned i = 0; i < fti.io.n_tx; i++)
		if ((fti.tx[i].flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) &&
		    fti.tx[i].sport == htons(80))
			fti.synack_seq = fti.tx[i].seq;
	fti_settle();
}

/* A header with no payload into buf: flags, numbers, the options given. */
static uint32_t fti_hdr(uint8_t *b, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
			uint8_t flags, const uint8_t *opt, unsigned opt_len)
{
	memset(b, 0, TCP_HDR_MIN);
	b[0] = (uint8_t)(sport >> 8);
	b[1] = (uint8_t)sport;
	b[2] = (uint8_t)(dport >> 8);
	b[3] = (uint8_t)dport;
	fti_wr32(b + 4, seq);
	fti_wr32(b + 8, ack);
	b[12] = (uint8_t)((TCP_HDR_MIN + opt_len) / 4u << 4);
	b[13] = flags;
	b[14] = 0xff;
	b[15] = 0xff;
	memcpy(b + TCP_HDR_MIN, opt, opt_len);
	return TCP_HDR_MIN + opt_len;
}

static void fti_build(uint8_t cfg)
{
	static const uint8_t seed[32] = { 0x75, 0x73, 0x74, 0x61, 0x63, 0x6b };
	struct tcp_host host = { .addr = fti_ip(2), .prefix_len = 24,
				 .tso = cfg & FTI_CFG_TSO, .mtu = 1500, .tso_max = 65535 - 40 };
	uint8_t opt[TCP_OPT_SPACE], b[TCP_HDR_MAX];
	unsigned n = 0;
	uint32_t cid, iss;
	int rc;

	tcp_table_init(fti.t, seed, &host);
	fti.now = FTI_START_NS;
	fti.io = (struct tcp_io){ .tx = fti.tx, .tx_max = FTI_TX_MAX, .ev = fti.ev,
				  .ev_max = FTI_EV_MAX };
	fti.synack_seq = 0;
	fti.n_accepted = 0;
	fti.hi = 0;

	/* L */
	rc = tcp_socket_open(fti.t, FTI_OWNER, 0, NULL, &cid);
	FTI_CHECK(rc == 0, -rc, 0);
	rc = tcp_bind(fti.t, FTI_OWNER, cid, 0, htons(80));
	FTI_CHECK(rc == 0, -rc, 0);
	rc = tcp_listen(fti.t, FTI_OWNER, cid, fti_backlogs[(cfg & FTI_CFG_BACKLOG) >> 1],
			&fti.lcid);
	FTI_CHECK(rc == 0, -rc, 0);

	/* E: SYN out, SYN-ACK in */
	rc = tcp_socket_open(fti.t, FTI_OWNER, 0, NULL, &fti.ecid);
	FTI_CHECK(rc == 0, -rc, 0);
	rc = tcp_connect(fti.t, FTI_OWNER, fti.ecid, fti.now, fti_ip(2), fti_ip(5), htons(5001),
			 1500, &fti.io);
	FTI_CHECK(rc == 0 && fti.io.n_tx == 1, -rc, fti.io.n_tx);
	iss = fti.tx[0].seq;
	fti_settle();
	const struct tcp_conn *e = fti_conn(fti.ecid);
	FTI_CHECK(e != NULL, 0, 0);
	opt[n++] = TCP_OPT_MSS;
	opt[n++] = 4;
	opt[n++] = 0x05;
	opt[n++] = 0xb4;
	if (cfg & FTI_CFG_SACK) {
		opt[n++] = TCP_OPT_NOP;
		opt[n++] = TCP_OPT_NOP;
		opt[n++] = TCP_OPT_SACK_PERM;
		opt[n++] = 2;
	}
	if (cfg & FTI_CFG_TS) {
		opt[n++] = TCP_OPT_NOP;
		opt[n++] = TCP_OPT_NOP;
		opt[n++] = TCP_OPT_TIMESTAMP;
		opt[n++] = 10;
		fti_wr32(opt + n, 0x01000000u);
		fti_wr32(opt + n + 4, 0);
		n += 8;
	}
	if (cfg & FTI_CFG_WS) {
		opt[n++] = TCP_OPT_NOP;
		opt[n++] = TCP_OPT_WSCALE;
		opt[n++] = 3;
		opt[n++] = 7;
	}
	uint32_t len = fti_hdr(b, 5001, ntohs(e->lport), 0x40000000u, iss + 1, TCP_SYN | TCP_ACK,
			       opt, n);
	fti_input(fti_ip(5), b, len, 1, true, false);
	e = fti_conn(fti.ecid);
	FTI_CHECK(e && e->state == TCP_STATE_ESTABLISHED, e ? e->state : 99, 0);
	if (cfg & FTI_CFG_QUEUE) {
		rc = tcp_send(fti.t, FTI_OWNER, fti.ecid, fti.now, 5000, 0, &fti.io);
		FTI_CHECK(rc == 0, -rc, 0);
		fti_settle();
	}

	/* S */
	rc = tcp_socket_open(fti.t, FTI_OWNER, 0, NULL, &fti.scid);
	FTI_CHECK(rc == 0, -rc, 0);
	rc = tcp_connect(fti.t, FTI_OWNER, fti.scid, fti.now, fti_ip(2), fti_ip(6), htons(5002),
			 1500, &fti.io);
	FTI_CHECK(rc == 0, -rc, 0);
	fti_settle();

	/* C: a SYN to L (with backlog 0 it is answered by a cookie and there is no C) */
	n = 0;
	opt[n++] = TCP_OPT_MSS;
	opt[n++] = 4;
	opt[n++] = 0x05;
	opt[n++] = 0xb4;
	len = fti_hdr(b, 6000, 80, 0x20000000u, 0, TCP_SYN, opt, n);
	fti_input(fti_ip(7), b, len, 1, true, false);
	fti.ccid = tcp_lookup(fti.t, fti_ip(2), htons(80), fti_ip(7), htons(6000));
}

static void fti_setup(uint8_t cfg)
{
	struct fti_snap *sn = &fti_snaps[cfg % FTI_SNAP_SLOTS];

	fti.io = (struct tcp_io){ .tx = fti.tx, .tx_max = FTI_TX_MAX, .ev = fti.ev,
				  .ev_max = FTI_EV_MAX };
	fti.n_accepted = 0;
	fti.hi = 0;
	if (sn->valid && sn->cfg == cfg) {
		memcpy(fti.t, sn->t, sizeof(*fti.t));
		fti.lcid = sn->lcid;
		fti.ecid = sn->ecid;
		fti.scid = sn->scid;
		fti.ccid = sn->ccid;
		fti.synack_seq = sn->synack_seq;
		fti.now = sn->now;
		return;
	}
	fti_build(cfg);
	if (!sn->t) {
		sn->t = malloc(sizeof(*sn->t));
		FTI_CHECK(sn->t != NULL, sizeof(*sn->t), 0);
	}
	memcpy(sn->t, fti.t, sizeof(*fti.t));
	sn->cfg = cfg;
	sn->lcid = fti.lcid;
	sn->ecid = fti.ecid;
	sn->scid = fti.scid;
	sn->ccid = fti.ccid;
	sn->synack_seq = fti.synack_seq;
	sn->now = fti.now;
	sn->valid = true;
}

/* --- one record -------------------------------------------------------------------------- */

/* Add base to each SACK block and TS.Recent to the TSval of the options in seg[0..hl). */
static void fti_rebase_opts(uint8_t *seg, unsigned hl, uint32_t sack_base, uint32_t ts_base)
{
	unsigned i = TCP_HDR_MIN;

	while (i < hl) {
		unsigned kind = seg[i], olen;

		if (kind == TCP_OPT_EOL)
			break;
		if (kind == TCP_OPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= hl)
			break;
		olen = seg[i + 1];
		if (olen < 2 || olen > hl - i)
			break;
		if (kind == TCP_OPT_TIMESTAMP && olen == 10)
			fti_wr32(seg + i + 2, fti_rd32(seg + i + 2) + ts_base);
		if (kind == TCP_OPT_SACK)
			for (unsigned k = i + 2; k + 4 <= i + olen; k += 4)
				fti_wr32(seg + k, fti_rd32(seg + k) + sack_base);
		i += olen;
	}
}

static void fti_set_ports(uint8_t *seg, uint16_t sport, uint16_t dport)
{
	seg[0] = (uint8_t)(sport >> 8);
	seg[1] = (uint8_t)sport;
	seg[2] = (uint8_t)(dport >> 8);
	seg[3] = (uint8_t)dport;
}

/* Rewrite fti.seg[0..len) for target; returns the source address and the connection the
 * application acts on after it. */
static uint32_t fti_aim(unsigned target, uint32_t len, uint32_t *act_cid)
{
	const struct tcp_conn *c = NULL;
	uint32_t saddr = fti_ip(5);
	bool rel = false;
	unsigned hl;

	*act_cid = fti.ecid;
	if (len < TCP_HDR_MIN)
		return target == FTI_T_LISTENER ? fti_ip(9) : saddr;
	hl = (fti.seg[12] >> 4) * 4u;
	if (hl > len)
		hl = len;
	switch (target) {
	case FTI_T_LISTENER:
		fti.seg[2] = 0;
		fti.seg[3] = 80;
		return fti_ip(9);
	case FTI_T_COOKIE:
		fti.seg[2] = 0;
		fti.seg[3] = 80;
		fti_wr32(fti.seg + 8, fti_rd32(fti.seg + 8) + fti.synack_seq + 1);
		return saddr;
	case FTI_T_E_REL:
		rel = true;
		/* fall through */
	case FTI_T_E_ABS:
		c = fti_conn(fti.ecid);
		break;
	case FTI_T_C_REL:
		rel = true;
		/* fall through */
	case FTI_T_C_ABS:
		c = fti_conn(fti.ccid);
		*act_cid = fti.ccid;
		break;
	case FTI_T_S:
		c = fti_conn(fti.scid);
		*act_cid = fti.scid;
		if (c) {
			fti_set_ports(fti.seg, ntohs(c->rport), ntohs(c->lport));
			fti_wr32(fti.seg + 8, fti_rd32(fti.seg + 8) + c->iss + 1);
			return c->raddr;
		}
		return saddr;
	default:
		return saddr;
	}
	if (!c)
		return saddr;
	fti_set_ports(fti.seg, ntohs(c->rport), ntohs(c->lport));
	if (rel) {
		fti_wr32(fti.seg + 4, fti_rd32(fti.seg + 4) + c->rcv_nxt);
		fti_wr32(fti.seg + 8, fti_rd32(fti.seg + 8) + c->snd_una);
		fti_rebase_opts(fti.seg, hl, c->snd_una, c->ts_recent);
	}
	return c->raddr;
}

static void fti_act(unsigned action, unsigned arg, uint32_t cid)
{
	struct tcp_conn *c = fti_conn(cid);
	uint32_t n;

	switch (action) {
	case 1:
	case 7:
		if (c && c->owner == FTI_OWNER) {
			n = c->rcv_nxt - c->read_seq; /* readable: the FIN is not data */
			if ((c->flags & TCP_F_FIN_RCVD) && n)
				n--;
			(void)tcp_recvd(fti.t, FTI_OWNER, cid, fti.now, n, &fti.io);
		}
		if (action == 7) {
			fti_settle();
			tcp_output_deferred(fti.t, fti.now, &fti.io);
		}
		break;
	case 2:
		if (c && c->owner == FTI_OWNER) {
			n = arg * 700u;
			if (n > tcp_send_space(c))
				n = tcp_send_space(c);
			if (n)
				(void)tcp_send(fti.t, FTI_OWNER, cid, fti.now, n, 0, &fti.io);
		}
		break;
	case 3:
		while (fti.n_accepted < FTI_ACCEPTED_MAX &&
		       tcp_accept(fti.t, FTI_OWNER, fti.lcid, FTI_OWNER, fti.now, &fti.io,
				  &fti.accepted[fti.n_accepted]) == 0) {
			/* the child C, once accepted, is acted on as itself */
			fti.n_accepted++;
		}
		break;
	case 4:
		(void)tcp_shutdown(fti.t, FTI_OWNER, cid, fti.now, 1 /* SHUT_WR */, &fti.io);
		break;
	case 5:
		(void)tcp_close(fti.t, FTI_OWNER, cid, fti.now, &fti.io);
		break;
	case 6:
		(void)tcp_abort(fti.t, cid, fti.now, &fti.io);
		break;
	default:
		break;
	}
	fti_settle();
}

FTC_NO_COVERAGE static void fti_teardown(bool recover)
{
	if (recover) {
		FTI_CHECK(tcp_table_check(fti.t) == 0, 0, 0);
		(void)tcp_table_recover(fti.t, fti.now);
		tcp_output_deferred(fti.t, fti.now, &fti.io);
		fti_settle();
	}
	(void)tcp_close_owner(fti.t, FTI_OWNER, fti.now, &fti.io);
	fti_settle();
	ftc_wind_down("fuzz_tcp_input", fti.t, &fti.io, &fti.now, &fti.hi, FTI_RUNOUT_PASSES,
		      fti_timers, fti_settle);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 1;

	if (!fti.t) {
		fti.t = malloc(sizeof(*fti.t));
		FTI_CHECK(fti.t != NULL, sizeof(*fti.t), 0);
	}
	if (size == 0)
		return 0;
	fti_setup(data[0]);
	while (pos + FTI_REC_HDR <= size) {
		uint8_t ctl0 = data[pos], ctl1 = data[pos + 1];
		uint32_t len = (uint32_t)data[pos + 2] << 8 | data[pos + 3];
		unsigned action = ctl1 & 7u, arg = ctl1 >> 3;
		uint32_t saddr, act_cid;

		pos += FTI_REC_HDR;
		if (len > size - pos)
			len = (uint32_t)(size - pos);
		if (len > FTI_SEG_MAX)
			len = FTI_SEG_MAX;
		memcpy(fti.seg, data + pos, len);
		pos += len;

		fti.now += fti_steps[ctl0 & 7u];
		if (tcp_next_deadline(fti.t) <= fti.now)
			fti_timers();
		saddr = fti_aim(ctl0 >> 3 & 7u, len, &act_cid);
		/* Only a segment with a header gets this far in tcpd (tcpd_rx_one drops the
		 * rest as rx_drop_short); the core is given the rest all the same, it must
		 * count and drop them. */
		fti_input(saddr, fti.seg, len, action == 2 ? 1 : (uint16_t)arg, !(ctl0 & 0x40),
			  ctl0 & 0x80);
		fti_act(action, arg, act_cid);
	}
	fti_teardown(data[0] & FTI_CFG_RECOVER);
	return 0;
}

/* For the plain driver: the config byte from ctl[0], then one record per unit. */
static size_t fti_compose(uint8_t *out, size_t cap, const uint8_t *const unit[],
			  const size_t unit_len[], unsigned n, const uint32_t ctl[])
{
	size_t pos = 0;

	if (cap == 0)
		return 0;
	out[pos++] = (uint8_t)ctl[0];
	for (unsigned i = 0; i < n; i++) {
		uint32_t c = ctl[1 + i];
		size_t len = unit_len[i];
		uint8_t c0 = (uint8_t)c;

		if (cap - pos < FTI_REC_HDR)
			break;
		if (len > cap - pos - FTI_REC_HDR)
			len = cap - pos - FTI_REC_HDR;
		/* Mostly good checksums, unicast, at most a second between segments, aimed at a
		 * connection with relative numbers: most inputs reach the state machine. */
		if (c >> 8 & 15)
			c0 &= (uint8_t)~0xc0u;
		if (c >> 12 & 3)
			c0 &= (uint8_t)~0x04u;
		if (c >> 14 & 1)
			c0 = (uint8_t)((c0 & ~0x38u) | (c >> 15 & 1 ? FTI_T_E_REL : FTI_T_C_REL) << 3);
		out[pos++] = c0;
		out[pos++] = (uint8_t)(c >> 16);
		out[pos++] = (uint8_t)(len >> 8);
		out[pos++] = (uint8_t)len;
		memcpy(out + pos, unit[i], len);
		pos += len;
	}
	return pos;
}

const struct fuzz_target fuzz_target = {
	.name = "tcp_input",
	.units = fuzz_tcp_units,
	.regressions = fuzz_tcp_regressions,
	.max_units = 8,
	.unit_max = 2048,
	.compose = fti_compose,
};
