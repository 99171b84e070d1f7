/* helper_tcp: fixtures for the TCP core's unit tests; see helper_tcp.h. */
#include "helper_tcp.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "tcp_table_audit.h"

uint32_t th_ip(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

void th_io_reset(struct th *w)
{
	/* as the shell does after every call: take the events of every cid listed */
	if (w->t)
		for (unsigned i = 0; i < w->io.n_ev; i++)
			tcp_take_events(w->t, w->io.ev[i]);
	w->io.tx = w->tx;
	w->io.tx_max = TH_TX_MAX;
	w->io.n_tx = 0;
	w->io.ev = w->ev;
	w->io.ev_max = TH_EV_MAX;
	w->io.n_ev = 0;
	memset(&w->io.place, 0, sizeof(w->io.place));
	w->seen = 0;
}

void th_init(struct th *w, bool tso)
{
	static const uint8_t seed[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
					 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
					 31, 32};
	struct tcp_host h = {.addr = TH_LADDR, .prefix_len = 24, .tso = tso, .mtu = 1500,
			     .tso_max = 65535 - 40};

	memset(w, 0, sizeof(*w));
	w->t = malloc(sizeof(*w->t));
	ck_assert_ptr_nonnull(w->t);
	tcp_table_init(w->t, seed, &h);
	ck_assert_int_eq(tcp_table_check(w->t), 0);
	w->now = TH_T0;
	th_io_reset(w);
}

void th_check_table(const struct tcp_table *t)
{
	char why[160];

	ck_assert_msg(tcp_table_audit(t, TCP_CONNS_MAX, true, why, sizeof(why)) == 0, "%s", why);
}

void th_fini(struct th *w)
{
	if (!w->t)
		return;
	th_check_table(w->t);
	free(w->t);
	w->t = NULL;
}

/* --- connections --- */

struct tcp_conn *th_conn(struct th *w, const struct th_spec *s, uint32_t *cid)
{
	struct tcp_table *t = w->t;
	struct tcp_conn *c;
	uint32_t id;

	ck_assert_int_eq(tcp_socket_open(t, TH_OWNER, 0, NULL, &id), 0);
	c = tcp_conn_by_cid(t, id);
	ck_assert_ptr_nonnull(c);
	c->laddr = TH_LADDR;
	c->lport = TH_LPORT;
	c->raddr = TH_RADDR;
	c->rport = TH_RPORT;
	c->flags |= TCP_F_BOUND | TCP_F_CONNECTED_ONCE | s->flags;
	tcp_bhash_insert(t, c);
	if (s->rcv_buf)
		c->rcv_buf = s->rcv_buf;
	if (s->snd_buf)
		c->snd_buf = s->snd_buf;
	c->iss = s->iss;
	c->snd_una = c->snd_nxt = c->snd_max = c->write_seq = c->snd_sml = s->iss + 1;
	c->snd_up = c->snd_una;
	c->irs = s->irs;
	c->rcv_nxt = c->read_seq = c->rcv_wup = c->rcv_up = s->irs + 1;
	if (s->ws) {
		c->flags |= TCP_F_WS_OK;
		c->snd_wscale = s->snd_wscale;
		c->rcv_wscale = s->rcv_wscale;
	}
	if (s->ts) {
		c->flags |= TCP_F_TS_OK;
		c->ts_recent = s->ts_recent;
		c->ts_recent_at = w->now;
		c->ts_offset = tcp_ts_offset(t, c->laddr, c->raddr);
	}
	if (s->sack)
		c->flags |= TCP_F_SACK_OK;
	c->snd_wnd = s->snd_wnd ? s->snd_wnd : 65535;
	c->snd_wl1 = c->irs + 1;
	c->snd_wl2 = c->snd_una;
	c->max_window = c->snd_wnd;
	c->peer_mss = s->peer_mss ? s->peer_mss : 1460;
	c->pmtu = 1500;
	c->adv_mss = tcp_adv_mss(c, c->pmtu);
	{
		uint32_t w0 = c->rcv_buf, maxw = 65535u << c->rcv_wscale;

		c->rcv_adv = c->rcv_nxt + (w0 < maxw ? w0 : maxw);
	}
	tcp_sync_mss(c);
	c->rcv_mss = c->snd_mss < TCP_MSS_DEFAULT ? c->snd_mss : TCP_MSS_DEFAULT;
	tcp_recovery_init(c, w->now, false);
	if (s->cwnd)
		c->cc.cwnd = s->cwnd;
	c->last_rcv_at = w->now;
	if (!s->fresh)
		c->bytes_received = 1; /* past the first data: no quick-ACK phase */
	tcp_set_state(t, c, TCP_STATE_ESTABLISHED);
	tcp_hash_insert(t, c);
	if (c->flags & TCP_F_KEEPALIVE)
		tcp_keepalive_reset(t, c, w->now);
	if (cid)
		*cid = id;
	return c;
}

void th_conn_move(struct th *w, struct tcp_conn *c, enum tcp_state s)
{
	struct tcp_table *t = w->t;
	bool fin_sent = s == TCP_STATE_FIN_WAIT_1 || s == TCP_STATE_FIN_WAIT_2 ||
			s == TCP_STATE_CLOSING || s == TCP_STATE_LAST_ACK ||
			s == TCP_STATE_TIME_WAIT;
	bool fin_acked = s == TCP_STATE_FIN_WAIT_2 || s == TCP_STATE_TIME_WAIT;
	bool fin_rcvd = s == TCP_STATE_CLOSE_WAIT || s == TCP_STATE_CLOSING ||
			s == TCP_STATE_LAST_ACK || s == TCP_STATE_TIME_WAIT;

	ck_assert_uint_eq(c->state, TCP_STATE_ESTABLISHED);
	ck_assert_uint_eq(c->snd_una, c->snd_max);
	if (fin_sent) {
		c->flags |= TCP_F_SHUT_WR | TCP_F_FIN_SENT;
		c->snd_nxt = c->snd_max = c->write_seq + 1;
		if (fin_acked)
			c->snd_una = c->snd_max;
		else
			tcp_timer_arm(t, c, &c->t_rtx, w->now + tcp_rto_ns(c, w->now));
	}
	if (fin_rcvd) {
		c->flags |= TCP_F_FIN_RCVD;
		c->rcv_nxt++;
		c->rcv_wup = c->rcv_nxt;
		c->rcv_adv++;
	}
	if (s == TCP_STATE_TIME_WAIT) {
		tcp_enter_time_wait(t, c, w->now);
		return;
	}
	tcp_set_state(t, c, s);
}

/* --- segments in --- */

static unsigned th_put_opts(const struct th_seg *s, uint8_t *o)
{
	unsigned n = 0;

	if (s->raw_opt) {
		memcpy(o, s->raw_opt, s->raw_opt_len);
		n = s->raw_opt_len;
		while (n % 4)
			o[n++] = TCP_OPT_EOL;
		return n;
	}
	if (s->mss) {
		o[n++] = TCP_OPT_MSS;
		o[n++] = 4;
		o[n++] = (uint8_t)(s->mss_val >> 8);
		o[n++] = (uint8_t)s->mss_val;
	}
	if (s->wscale >= 0) {
		o[n++] = TCP_OPT_NOP;
		o[n++] = TCP_OPT_WSCALE;
		o[n++] = 3;
		o[n++] = (uint8_t)s->wscale;
	}
	if (s->sack_perm) {
		o[n++] = TCP_OPT_NOP;
		o[n++] = TCP_OPT_NOP;
		o[n++] = TCP_OPT_SACK_PERM;
		o[n++] = 2;
	}
	if (s->ts) {
		uint32_t v = htonl(s->tsval), e = htonl(s->tsecr);

		o[n++] = TCP_OPT_NOP;
		o[n++] = TCP_OPT_NOP;
		o[n++] = TCP_OPT_TIMESTAMP;
		o[n++] = 10;
		memcpy(o + n, &v, 4);
		memcpy(o + n + 4, &e, 4);
		n += 8;
	}
	if (s->n_sack) {
		o[n++] = TCP_OPT_NOP;
		o[n++] = TCP_OPT_NOP;
		o[n++] = TCP_OPT_SACK;
		o[n++] = (uint8_t)(2 + 8 * s->n_sack);
		for (unsigned i = 0; i < s->n_sack; i++) {
			uint32_t a = htonl(s->sack[i].start), b = htonl(s->sack[i].end);

			memcpy(o + n, &a, 4);
			memcpy(o + n + 4, &b, 4);
			n += 8;
		}
	}
	ck_assert_uint_le(n, TCP_OPT_SPACE);
	return n;
}

unsigned th_encode(const struct th_seg *s, uint8_t *buf)
{
	struct tcp_hdr h;
	unsigned ol = th_put_opts(s, buf + TCP_HDR_MIN);

	memset(&h, 0, sizeof(h));
	h.sport = s->sport ? s->sport : TH_RPORT;
	h.dport = s->dport ? s->dport : TH_LPORT;
	h.seq = htonl(s->seq);
	h.ack = htonl(s->ack);
	h.off_rsv = (uint8_t)(((TCP_HDR_MIN + ol) / 4) << 4);
	h.flags = s->flags;
	h.wnd = htons(s->wnd);
	h.urp = htons(s->urp);
	memcpy(buf, &h, sizeof(h));
	return TCP_HDR_MIN + ol;
}

int th_in(struct th *w, const struct th_seg *s)
{
	static uint8_t buf[TCP_HDR_MAX + 65536];
	unsigned hl = th_encode(s, buf);
	struct tcp_seg_in in;

	ck_assert_uint_le(s->len, 65536);
	if (s->data)
		memcpy(buf + hl, s->data, s->len);
	else
		memset(buf + hl, 0, s->len);
	memset(&in, 0, sizeof(in));
	in.saddr = s->saddr ? s->saddr : TH_RADDR;
	in.daddr = s->daddr ? s->daddr : TH_LADDR;
	in.hdr = buf;
	in.seg_len = hl + s->len;
	in.gso_segs = s->gso_segs ? s->gso_segs : 1;
	in.csum_ok = !s->bad_csum;
	return tcp_input(w->t, w->now, &in, &w->io);
}

/* --- what came out --- */

void th_tx_opts(const struct tcp_tx *tx, struct th_txopt *o)
{
	const uint8_t *p = tx->opt;
	unsigned n = tx->opt_len, i = 0;

	memset(o, 0, sizeof(*o));
	o->mss = o->wscale = -1;
	ck_assert_uint_eq(n % 4, 0);
	while (i < n) {
		uint8_t k = p[i], l;

		if (k == TCP_OPT_EOL)
			break;
		if (k == TCP_OPT_NOP) {
			i++;
			continue;
		}
		ck_assert_uint_lt(i + 1, n);
		l = p[i + 1];
		ck_assert_uint_ge(l, 2);
		ck_assert_uint_le(i + l, n);
		switch (k) {
		case TCP_OPT_MSS:
			ck_assert_uint_eq(l, 4);
			o->mss = p[i + 2] << 8 | p[i + 3];
			break;
		case TCP_OPT_WSCALE:
			ck_assert_uint_eq(l, 3);
			o->wscale = p[i + 2];
			break;
		case TCP_OPT_SACK_PERM:
			o->sack_perm = true;
			break;
		case TCP_OPT_TIMESTAMP: {
			uint32_t v, e;

			ck_assert_uint_eq(l, 10);
			memcpy(&v, p + i + 2, 4);
			memcpy(&e, p + i + 6, 4);
			o->ts = true;
			o->tsval = ntohl(v);
			o->tsecr = ntohl(e);
			break;
		}
		case TCP_OPT_SACK:
			ck_assert_uint_eq((l - 2) % 8, 0);
			o->n_sack = (l - 2) / 8u;
			ck_assert_uint_le(o->n_sack, 4);
			for (unsigned b = 0; b < o->n_sack; b++) {
				uint32_t a, z;

				memcpy(&a, p + i + 2 + 8 * b, 4);
				memcpy(&z, p + i + 6 + 8 * b, 4);
				o->sack[b].start = ntohl(a);
				o->sack[b].end = ntohl(z);
			}
			break;
		default:
			ck_abort_msg("unknown option kind %u emitted", k);
		}
		i += l;
	}
}

#define TH_CHECK(field, actual)                                                             \
	do {                                                                                \
		if (e->field != TH_ANY)                                                     \
			ck_assert_msg((int64_t)(actual) == e->field,                          \
				      "%s:%d: tx #%u " #field " = %lld, expected %lld", file, \
				      line, idx, (long long)(actual), (long long)e->field);   \
	} while (0)

const struct tcp_tx *th_expect_tx(struct th *w, const char *file, int line,
				  const struct th_expect *e)
{
	const struct tcp_tx *tx;
	struct th_txopt o;
	unsigned idx = w->seen;

	ck_assert_msg(w->seen < w->io.n_tx, "%s:%d: expected a segment (tx #%u), none sent", file,
		      line, idx);
	tx = &w->io.tx[w->seen++];
	th_tx_opts(tx, &o);
	TH_CHECK(seq, tx->seq);
	TH_CHECK(ack, tx->ack);
	TH_CHECK(flags, tx->flags);
	TH_CHECK(len, tx->payload_len);
	TH_CHECK(wnd, tx->wnd);
	TH_CHECK(gso, tx->gso_size);
	TH_CHECK(urp, tx->urp);
	TH_CHECK(cid, tx->cid);
	TH_CHECK(daddr, tx->daddr);
	TH_CHECK(dport, tx->dport);
	TH_CHECK(has_ts, o.ts);
	if (e->tsval != TH_ANY || e->tsecr != TH_ANY)
		ck_assert_msg(o.ts, "%s:%d: tx #%u has no timestamp", file, line, idx);
	TH_CHECK(tsval, o.tsval);
	TH_CHECK(tsecr, o.tsecr);
	TH_CHECK(n_sack, o.n_sack);
	if (e->sack0_start != TH_ANY || e->sack0_end != TH_ANY)
		ck_assert_msg(o.n_sack >= 1, "%s:%d: tx #%u has no SACK block", file, line, idx);
	TH_CHECK(sack0_start, o.sack[0].start);
	TH_CHECK(sack0_end, o.sack[0].end);
	if (e->sack1_start != TH_ANY || e->sack1_end != TH_ANY)
		ck_assert_msg(o.n_sack >= 2, "%s:%d: tx #%u has no 2nd SACK block", file, line,
			      idx);
	TH_CHECK(sack1_start, o.sack[1].start);
	TH_CHECK(sack1_end, o.sack[1].end);
	TH_CHECK(mss, o.mss);
	TH_CHECK(wscale, o.wscale);
	TH_CHECK(sack_perm, o.sack_perm ? 1 : -1);
	return tx;
}

void th_at(struct th *w, uint64_t at)
{
	ck_assert_uint_ge(at, w->now);
	w->now = at;
	tcp_timers(w->t, at, &w->io);
}

void th_run_until(struct th *w, uint64_t until)
{
	for (unsigned guard = 0; guard < 100000; guard++) {
		uint64_t d = tcp_next_deadline(w->t);

		if (d > until)
			break;
		th_at(w, d > w->now ? d : w->now);
		if (tcp_next_deadline(w->t) <= w->now && guard > 99990)
			ck_abort_msg("timers do not settle at %llu", (unsigned long long)w->now);
	}
	if (until > w->now)
		w->now = until;
}

void th_expect_no_tx(struct th *w, const char *file, int line, uint64_t until)
{
	ck_assert_msg(w->seen == w->io.n_tx,
		      "%s:%d: %u unexpected segment(s), first seq %u flags 0x%x", file, line,
		      w->io.n_tx - w->seen, w->io.tx[w->seen].seq, w->io.tx[w->seen].flags);
	th_run_until(w, until);
	ck_assert_msg(w->seen == w->io.n_tx,
		      "%s:%d: segment sent before %llu: seq %u flags 0x%x len %u at %llu", file,
		      line, (unsigned long long)until, w->io.tx[w->seen].seq,
		      w->io.tx[w->seen].flags, w->io.tx[w->seen].payload_len,
		      (unsigned long long)w->now);
}

uint8_t th_events(struct th *w, uint32_t cid)
{
	for (unsigned i = 0; i < w->io.n_ev; i++)
		if (w->io.ev[i] == cid)
			return tcp_take_events(w->t, cid);
	return 0;
}
