/* helper_tcp: fixtures for the TCP core's unit tests (STYLE 16-18).
 *
 * A struct th is one test world: a table (heap: it is megabytes), the tcp_io arrays the core
 * appends to, the clock. Tests
 *   - build connections directly in any state (th_conn: ESTABLISHED with the sequence numbers,
 *     options and windows of a struct th_spec; th_conn_move: on to FIN-WAIT-1 ... TIME-WAIT
 *     with consistent sequence state), or through the real calls (tcp_connect, SYNs);
 *   - feed segments from designated-initializer templates (th_in(w, SEG(.seq = ..., ...))),
 *     encoded here with an option writer of our own, never the code under test's;
 *   - check what the core emitted, in order, with expect_tx(w, .flags = ..., .seq = ...)
 *     (fields not named are not checked) and expect_no_tx(w, until): nothing more is sent
 *     up to `until` (timers run on the way);
 *   - end with th_fini, which checks the table's invariants (every free slot on the free
 *     list, every hashed connection findable, queues and counts consistent): the leak check.
 *
 * Symbols carry the th_ prefix: every helper_*.c is linked into every unit test.
 */
#ifndef USTACK_HELPER_TCP_H
#define USTACK_HELPER_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include "tcp_core.h"
#include "tcp_priv.h"

/* Tests name fields of the expectation templates over defaults: the override is the point. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Winitializer-overrides"
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Woverride-init"
#endif

#define TH_OWNER 7u
#define TH_MS 1000000ull
#define TH_S 1000000000ull
#define TH_T0 (1000ull * TH_S) /* the clock at the start of every test */
#define TH_TX_MAX 256u
#define TH_EV_MAX 64u

uint32_t th_ip(unsigned a, unsigned b, unsigned c, unsigned d);
#define TH_LADDR th_ip(192, 0, 2, 10)
#define TH_RADDR th_ip(192, 0, 2, 20)
#define TH_LPORT 0x8813u /* htons(5000) */
#define TH_RPORT 0x409cu /* htons(40000) */

struct th {
	struct tcp_table *t;
	struct tcp_tx tx[TH_TX_MAX];
	uint32_t ev[TH_EV_MAX];
	struct tcp_io io;
	unsigned seen;          /* tx entries already checked by expect_tx */
	uint64_t now;
};

/* A fresh table for host 192.0.2.10/24, MTU 1500 (tso: super-segments up to 65483). */
void th_init(struct th *w, bool tso);
/* Checks the table's invariants and frees it. */
void th_fini(struct th *w);
/* Clear the io arrays (and the expect_tx cursor), taking the events of the cids listed, as
 * the shell does after every call. */
void th_io_reset(struct th *w);
/* The invariants th_fini checks, on demand. */
void th_check_table(const struct tcp_table *t);

/* A connection in ESTABLISHED between TH_LADDR:TH_LPORT and TH_RADDR:TH_RPORT. */
struct th_spec {
	uint32_t iss, irs;       /* snd_una = iss + 1, rcv_nxt = irs + 1 */
	uint32_t snd_wnd;        /* bytes; 0 means 65535 */
	uint32_t rcv_buf, snd_buf; /* 0: defaults */
	bool ts, sack, ws;       /* negotiated options */
	uint8_t snd_wscale, rcv_wscale;
	uint32_t ts_recent;
	uint16_t peer_mss;       /* 0: 1460 */
	uint32_t flags;          /* extra TCP_F_* (NODELAY, KEEPALIVE, ...) */
	uint32_t cwnd;           /* 0: what tcp_recovery_init chose */
	bool fresh;              /* no data received yet: quick ACKs at the first data (else
				  * the connection has been running and ACKs are delayed) */
};
struct tcp_conn *th_conn(struct th *w, const struct th_spec *s, uint32_t *cid);
#define SPEC(...) (&(struct th_spec){.iss = 1000, .irs = 5000, __VA_ARGS__})
/* Move an ESTABLISHED connection (nothing in flight) to s as the RFC's events would leave it:
 * FIN-WAIT-1 (our FIN sent), FIN-WAIT-2 (acknowledged), CLOSE-WAIT (theirs received), CLOSING,
 * LAST-ACK, TIME-WAIT. */
void th_conn_move(struct th *w, struct tcp_conn *c, enum tcp_state s);

/* One segment from the peer (to TH_LADDR:TH_LPORT from TH_RADDR:TH_RPORT unless set). */
struct th_seg {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;            /* as on the wire */
	uint32_t len;            /* payload bytes (zeros, or `data`) */
	const uint8_t *data;
	uint16_t urp;
	bool ts;
	uint32_t tsval, tsecr;
	bool mss;
	uint16_t mss_val;
	int wscale;              /* -1: none */
	bool sack_perm;
	uint8_t n_sack;
	struct tcp_range sack[4];
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint16_t gso_segs;
	bool bad_csum;
	const uint8_t *raw_opt;  /* option bytes as they are (malformed lists) */
	uint8_t raw_opt_len;
};
#define SEG(...)                                                                            \
	(&(struct th_seg){.flags = TCP_ACK, .wnd = 65535, .wscale = -1, __VA_ARGS__})
/* Feed one segment at w->now; returns tcp_input's result. */
int th_in(struct th *w, const struct th_seg *s);
/* Encode s as a TCP header (+options) into buf; returns the header length. */
unsigned th_encode(const struct th_seg *s, uint8_t *buf);

/* What a tx must look like: fields left at TH_ANY are not checked. */
#define TH_ANY INT64_MIN
struct th_expect {
	int64_t seq, ack, flags, len, wnd, gso, urp, cid, daddr, dport;
	int64_t tsval, tsecr;    /* checks the timestamp option (TH_ANY: present or not) */
	int64_t n_sack;          /* number of SACK blocks */
	int64_t sack0_start, sack0_end, sack1_start, sack1_end;
	int64_t mss, wscale;     /* SYN options: TH_ANY or a value; -1: absent */
	int64_t sack_perm;       /* -1 absent, 1 present */
	int64_t has_ts;          /* 0 absent, 1 present */
};
#define TH_EXPECT_DEFAULTS                                                                  \
	.seq = TH_ANY, .ack = TH_ANY, .flags = TH_ANY, .len = TH_ANY, .wnd = TH_ANY,            \
	.gso = TH_ANY, .urp = TH_ANY, .cid = TH_ANY, .daddr = TH_ANY, .dport = TH_ANY,      \
	.tsval = TH_ANY, .tsecr = TH_ANY, .n_sack = TH_ANY, .sack0_start = TH_ANY,          \
	.sack0_end = TH_ANY, .sack1_start = TH_ANY, .sack1_end = TH_ANY, .mss = TH_ANY,     \
	.wscale = TH_ANY, .sack_perm = TH_ANY, .has_ts = TH_ANY
/* The next segment the core emitted (in order since the last th_io_reset) matches. Returns it. */
const struct tcp_tx *th_expect_tx(struct th *w, const char *file, int line,
				  const struct th_expect *e);
#define expect_tx(w, ...)                                                                   \
	th_expect_tx((w), __FILE__, __LINE__,                                               \
		     &(struct th_expect){TH_EXPECT_DEFAULTS, __VA_ARGS__})
/* Nothing beyond what was checked has been emitted, and nothing is until `until` (timers run
 * at every armed deadline up to it; w->now ends at until). */
void th_expect_no_tx(struct th *w, const char *file, int line, uint64_t until);
#define expect_no_tx(w, until) th_expect_no_tx((w), __FILE__, __LINE__, (until))
/* Run timers at `at` (w->now = at). */
void th_at(struct th *w, uint64_t at);
/* Run every timer due up to `until`, deadline by deadline. */
void th_run_until(struct th *w, uint64_t until);
/* Options of an emitted segment, parsed here. */
struct th_txopt {
	int mss, wscale;         /* -1 absent */
	bool sack_perm, ts;
	uint32_t tsval, tsecr;
	unsigned n_sack;
	struct tcp_range sack[4];
};
void th_tx_opts(const struct tcp_tx *tx, struct th_txopt *o);

/* Events listed for cid during the calls since the last th_io_reset, taken. */
uint8_t th_events(struct th *w, uint32_t cid);

#endif
