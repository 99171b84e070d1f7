/* test_tcp_loopback: two TCP cores talk to each other, end to end, before any shell exists.
 *
 * Each side is a struct tcp_table with a fake shell around it that does what tcpd will do:
 * turns every struct tcp_tx into a header (+ options) and payload copied from the
 * connection's send stream (TSO super-segments cut into gso_size pieces, PSH/FIN on the last,
 * as a device does), hands each arriving frame to tcp_input and copies the payload to the
 * receive stream where io->place says, takes events, accepts, and plays the application:
 * writes as much as tcp_send_space allows, reads what is readable (tcp_recvd), closes.
 * The send streams are a generator (byte k of a direction is a function of k), so the
 * receiver checks every byte it reads against what was sent: byte-exact, in order, nothing
 * missing, nothing extra.
 *
 * Between the two, a seeded impairment (STYLE 18): each frame dropped, duplicated or delayed
 * (reordered) with given probabilities, over a link with a one-way delay. Time is simulated:
 * the loop jumps to the next frame delivery or the next timer deadline of either core.
 *
 * Scenarios: a clean transfer of several MB with every option; the same through drop, dup and
 * reorder with several seeds; both directions at once; TSO super-segments; a slow reader that
 * closes the window again and again; connection and full close on both sides (TIME-WAIT ends,
 * every slot is freed). */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "helper_check.h"
#include "helper_tcp.h"

#define LB_FRAMES 8192u
#define LB_TX 256u
#define LB_EV 256u
#define LB_STREAMS 8u
#define LB_RING (1u << 23) /* >= any rcv_buf (TCP_RMEM_MAX) */
#define LB_MS 1000000ull

/* Seeded impairment: each frame dropped, duplicated or delayed by 1-3 more link delays
 * (reordered) with these probabilities in 1/1000, over a link of one-way delay `delay`. */
struct lb_impair {
	uint32_t seed;
	unsigned drop, dup, reorder;
	uint64_t delay;
	uint16_t mtu;
};

/* --- the generator --- */

static uint8_t lb_byte(unsigned dir, uint64_t k)
{
	uint64_t x = k * 0x9e3779b97f4a7c15ull + dir * 0x632be59bd9b4e019ull;

	return (uint8_t)(x >> 56 ^ x >> 23);
}

/* --- one side --- */

struct lb_stream {
	uint32_t cid;
	unsigned dir;         /* which generator this side sends */
	uint32_t iss, irs;
	bool iss_known, irs_known;
	uint8_t *rcv;         /* ring of LB_RING bytes, by (seq - (irs + 1)) */
	uint64_t to_send;     /* bytes the application will write in all */
	uint64_t written;
	uint64_t readn;       /* bytes read and checked */
	bool shut, closed, eof;
};

struct lb_side {
	const char *name;
	struct tcp_table *t;
	uint32_t addr;
	struct tcp_tx tx[LB_TX];
	uint32_t ev[LB_EV];
	struct tcp_io io;
	struct lb_stream s[LB_STREAMS];
	unsigned n_s;
	uint32_t lcid;        /* a listener, or 0 */
	uint64_t read_rate;   /* bytes per ms the application reads, 0 = all at once */
	uint64_t to_send_accepted; /* what an accepted connection's application writes */
	uint64_t next_read;
};

struct lb_frame {
	uint64_t at;
	uint32_t seq;          /* delivery order tie-break */
	struct lb_side *to;
	uint32_t saddr, daddr;
	uint32_t len;
	uint8_t b[TCP_HDR_MAX + 1500];
};

struct lb {
	struct lb_side a, b;
	struct lb_frame *q;    /* a heap by (at, seq) */
	unsigned nq;
	uint32_t fseq;
	uint64_t now;
	struct lb_impair imp;
	uint32_t rnd;
	uint64_t sent_frames, dropped, duplicated, reordered;
};

static uint32_t lb_rand(struct lb *l)
{
	l->rnd ^= l->rnd << 13;
	l->rnd ^= l->rnd >> 17;
	l->rnd ^= l->rnd << 5;
	return l->rnd;
}

static bool lb_before(const struct lb_frame *x, const struct lb_frame *y)
{
	return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

static void lb_push(struct lb *l, const struct lb_frame *f)
{
	unsigned i = l->nq++;

	ck_assert_uint_lt(i, LB_FRAMES);
	l->q[i] = *f;
	while (i > 0) {
		unsigned p = (i - 1) / 2;
		struct lb_frame tmp;

		if (!lb_before(&l->q[i], &l->q[p]))
			break;
		tmp = l->q[i];
		l->q[i] = l->q[p];
		l->q[p] = tmp;
		i = p;
	}
}

static void lb_pop(struct lb *l, struct lb_frame *out)
{
	unsigned i = 0;

	*out = l->q[0];
	l->q[0] = l->q[--l->nq];
	for (;;) {
		unsigned a = 2 * i + 1, b = a + 1, m = i;
		struct lb_frame tmp;

		if (a < l->nq && lb_before(&l->q[a], &l->q[m]))
			m = a;
		if (b < l->nq && lb_before(&l->q[b], &l->q[m]))
			m = b;
		if (m == i)
			break;
		tmp = l->q[i];
		l->q[i] = l->q[m];
		l->q[m] = tmp;
		i = m;
	}
}

static struct lb_stream *lb_stream(struct lb_side *sd, uint32_t cid, bool make)
{
	for (unsigned i = 0; i < sd->n_s; i++)
		if (sd->s[i].cid == cid)
			return &sd->s[i];
	if (!make)
		return NULL;
	ck_assert_uint_lt(sd->n_s, LB_STREAMS);
	memset(&sd->s[sd->n_s], 0, sizeof(sd->s[0]));
	sd->s[sd->n_s].cid = cid;
	sd->s[sd->n_s].rcv = malloc(LB_RING);
	ck_assert_ptr_nonnull(sd->s[sd->n_s].rcv);
	return &sd->s[sd->n_s++];
}

static struct lb_side *lb_peer(struct lb *l, struct lb_side *sd)
{
	return sd == &l->a ? &l->b : &l->a;
}

/* One frame on the link from sd, impaired. */
static void lb_emit(struct lb *l, struct lb_side *sd, const uint8_t *hdr, unsigned hl,
		    const uint8_t *pay, uint32_t plen, uint32_t saddr, uint32_t daddr)
{
	struct lb_frame f;
	unsigned copies = 1;
	uint32_t r = lb_rand(l) % 1000;

	l->sent_frames++;
	if (r < l->imp.drop) {
		l->dropped++;
		return;
	}
	if (lb_rand(l) % 1000 < l->imp.dup) {
		copies = 2;
		l->duplicated++;
	}
	f.to = lb_peer(l, sd);
	f.saddr = saddr;
	f.daddr = daddr;
	f.len = hl + plen;
	ck_assert_uint_le(f.len, sizeof(f.b));
	memcpy(f.b, hdr, hl);
	if (plen)
		memcpy(f.b + hl, pay, plen);
	for (unsigned k = 0; k < copies; k++) {
		f.at = l->now + l->imp.delay;
		if (lb_rand(l) % 1000 < l->imp.reorder) {
			f.at += (lb_rand(l) % 3 + 1) * l->imp.delay;
			l->reordered++;
		}
		f.seq = l->fseq++;
		lb_push(l, &f);
	}
}

/* The shell's output path: headers, payload from the send stream, TSO cut like a device. */
static void lb_flush(struct lb *l, struct lb_side *sd)
{
	static uint8_t pay[65536];

	for (unsigned i = 0; i < sd->io.n_tx; i++) {
		const struct tcp_tx *tx = &sd->io.tx[i];
		uint32_t dseq = tx->seq + ((tx->flags & TCP_SYN) ? 1 : 0), off = 0;
		uint32_t piece = tx->gso_size ? tx->gso_size : tx->payload_len;
		struct lb_stream *st = NULL;

		if (tx->payload_len) {
			uint64_t base;

			ck_assert_uint_ne(tx->cid, 0);
			st = lb_stream(sd, tx->cid, false);
			ck_assert_ptr_nonnull(st);
			ck_assert(st->iss_known);
			base = (uint32_t)(dseq - (st->iss + 1));
			/* never bytes the application has not written */
			ck_assert_uint_le(base + tx->payload_len, st->written);
			for (uint32_t k = 0; k < tx->payload_len; k++)
				pay[k] = lb_byte(st->dir, base + k);
		}
		do {
			uint32_t n = tx->payload_len - off < piece ? tx->payload_len - off : piece;
			bool last = off + n >= tx->payload_len;
			struct tcp_hdr h;
			uint8_t hb[TCP_HDR_MAX];
			unsigned hl = TCP_HDR_MIN + tx->opt_len;

			memset(&h, 0, sizeof(h));
			h.sport = tx->sport;
			h.dport = tx->dport;
			h.seq = htonl(tx->seq + off);
			h.ack = htonl(tx->ack);
			h.off_rsv = (uint8_t)((hl / 4) << 4);
			h.flags = last ? tx->flags : (uint8_t)(tx->flags & ~(TCP_FIN | TCP_PSH));
			h.wnd = htons(tx->wnd);
			if (tx->flags & TCP_URG) {
				uint32_t u = tx->urp > off ? tx->urp - off : 0;

				h.urp = htons((uint16_t)u);
				if (!u)
					h.flags &= (uint8_t)~TCP_URG;
			}
			memcpy(hb, &h, sizeof(h));
			memcpy(hb + TCP_HDR_MIN, tx->opt, tx->opt_len);
			/* every segment fits the path: 1500 - 20 bytes of IP header */
			ck_assert_msg(hl + n <= 1480, "%s: a %u-byte segment (options %u)",
				      sd->name, hl + n, tx->opt_len);
			lb_emit(l, sd, hb, hl, pay + off, n, tx->saddr, tx->daddr);
			off += n;
		} while (off < tx->payload_len);
	}
	sd->io.n_tx = 0;
}

static void lb_learn(struct lb_side *sd, uint32_t cid)
{
	struct tcp_conn *c = tcp_conn_by_cid(sd->t, cid);
	struct lb_stream *st;

	if (!c)
		return;
	st = lb_stream(sd, cid, true);
	if (!st->iss_known && c->state != TCP_STATE_CLOSED) {
		st->iss = c->iss;
		st->iss_known = true;
	}
	if (!st->irs_known && c->state != TCP_STATE_SYN_SENT && c->state != TCP_STATE_CLOSED) {
		st->irs = c->irs;
		st->irs_known = true;
	}
}

/* After any call on sd: events, output. */
static void lb_after(struct lb *l, struct lb_side *sd)
{
	for (unsigned i = 0; i < sd->io.n_ev; i++) {
		uint32_t cid = sd->io.ev[i];
		uint8_t ev = tcp_take_events(sd->t, cid);

		if ((ev & TCP_EV_ACCEPT) && cid == sd->lcid) {
			uint32_t nc;

			while (tcp_accept(sd->t, TH_OWNER, sd->lcid, TH_OWNER, l->now, &sd->io,
					  &nc) == 0) {
				struct lb_stream *st;

				lb_learn(sd, nc);
				st = lb_stream(sd, nc, true);
				st->dir = 1;
				st->to_send = sd->to_send_accepted;
			}
		}
	}
	sd->io.n_ev = 0;
	for (unsigned i = 0; i < sd->io.n_tx; i++)
		if (sd->io.tx[i].cid)
			lb_learn(sd, sd->io.tx[i].cid);
	lb_flush(l, sd);
	if (sd->t->n_deferred) {
		tcp_output_deferred(sd->t, l->now, &sd->io);
		lb_after(l, sd);
	}
}

static void lb_deliver(struct lb *l, struct lb_frame *f)
{
	struct lb_side *sd = f->to;
	struct tcp_seg_in in;

	memset(&in, 0, sizeof(in));
	in.saddr = f->saddr;
	in.daddr = f->daddr;
	in.hdr = f->b;
	in.seg_len = f->len;
	in.gso_segs = 1;
	in.csum_ok = 1;
	ck_assert_int_eq(tcp_input(sd->t, l->now, &in, &sd->io), 0);
	if (sd->io.place.len) {
		const struct tcp_rx_place *p = &sd->io.place;
		struct tcp_hdr h;
		struct lb_stream *st;
		struct tcp_conn *c = tcp_conn_by_cid(sd->t, p->cid);

		memcpy(&h, f->b, sizeof(h));
		ck_assert_ptr_nonnull(c);
		lb_learn(sd, p->cid);
		st = lb_stream(sd, p->cid, true);
		ck_assert(st->irs_known);
		ck_assert_uint_le(tcp_hdr_len(&h) + p->seg_off + p->len, f->len);
		/* inside [read_seq, read_seq + rcv_buf): the ring never wraps onto unread data */
		ck_assert(SEQ_GEQ(p->stream_seq, c->read_seq));
		ck_assert(SEQ_LEQ(p->stream_seq + p->len, c->read_seq + c->rcv_buf));
		for (uint32_t k = 0; k < p->len; k++) {
			uint32_t pos = (p->stream_seq + k - (st->irs + 1)) & (LB_RING - 1);

			st->rcv[pos] = f->b[tcp_hdr_len(&h) + p->seg_off + k];
		}
	}
	lb_after(l, sd);
}

/* The application of sd: write, read and check, close. */
static void lb_app(struct lb *l, struct lb_side *sd)
{
	for (unsigned i = 0; i < sd->n_s; i++) {
		struct lb_stream *st = &sd->s[i];
		struct tcp_conn *c = tcp_conn_by_cid(sd->t, st->cid);
		uint32_t space, readable;

		if (st->closed || !c || c->owner != TH_OWNER)
			continue;
		if (c->state == TCP_STATE_SYN_SENT || c->state == TCP_STATE_SYN_RECEIVED)
			continue;
		/* write */
		space = tcp_send_space(c);
		if (st->written < st->to_send && space) {
			uint64_t n = st->to_send - st->written;

			if (n > space)
				n = space;
			st->written += n;
			ck_assert_int_eq(tcp_send(sd->t, TH_OWNER, st->cid, l->now, (uint32_t)n, 0,
						  &sd->io),
					 0);
			lb_after(l, sd);
		}
		if (st->written == st->to_send && !st->shut) {
			st->shut = true;
			ck_assert_int_eq(tcp_shutdown(sd->t, TH_OWNER, st->cid, l->now, SHUT_WR,
						      &sd->io),
					 0);
			lb_after(l, sd);
		}
		/* read and check */
		c = tcp_conn_by_cid(sd->t, st->cid);
		if (!c)
			continue;
		readable = c->rcv_nxt - c->read_seq - ((c->flags & TCP_F_FIN_RCVD) ? 1 : 0);
		if (sd->read_rate) {
			uint64_t cap = 0;

			if (l->now >= sd->next_read) {
				cap = sd->read_rate;
				sd->next_read = l->now + LB_MS;
			}
			if (readable > cap)
				readable = (uint32_t)cap;
		}
		if (readable) {
			for (uint32_t k = 0; k < readable; k++) {
				uint32_t pos = (uint32_t)(st->readn + k) & (LB_RING - 1);
				uint8_t want = lb_byte(st->dir ^ 1, st->readn + k);

				if (st->rcv[pos] != want)
					ck_abort_msg("%s: byte %llu is 0x%02x, sent 0x%02x",
						     sd->name,
						     (unsigned long long)(st->readn + k),
						     st->rcv[pos], want);
			}
			st->readn += readable;
			ck_assert_int_eq(tcp_recvd(sd->t, TH_OWNER, st->cid, l->now, readable,
						   &sd->io),
					 0);
			lb_after(l, sd);
		}
		if ((c->flags & TCP_F_FIN_RCVD) && c->rcv_nxt - c->read_seq == 1)
			st->eof = true;
		if (st->eof && st->shut && !st->closed) {
			st->closed = true;
			ck_assert_int_eq(tcp_close(sd->t, TH_OWNER, st->cid, l->now, &sd->io), 0);
			lb_after(l, sd);
		}
	}
}

static void lb_side_init(struct lb_side *sd, const char *name, uint32_t addr, bool tso)
{
	uint8_t seed[32];
	struct tcp_host h = {.addr = addr, .prefix_len = 24, .tso = tso, .mtu = 1500,
			     .tso_max = 65535 - 40};

	memset(sd, 0, sizeof(*sd));
	for (unsigned i = 0; i < 32; i++)
		seed[i] = (uint8_t)(addr + i * 7);
	sd->name = name;
	sd->addr = addr;
	sd->t = malloc(sizeof(*sd->t));
	ck_assert_ptr_nonnull(sd->t);
	tcp_table_init(sd->t, seed, &h);
	sd->io.tx = sd->tx;
	sd->io.tx_max = LB_TX;
	sd->io.ev = sd->ev;
	sd->io.ev_max = LB_EV;
}

static void lb_side_fini(struct lb_side *sd)
{
	th_check_table(sd->t);
	for (unsigned i = 0; i < TCP_CONNS_MAX; i++)
		ck_assert_msg(!sd->t->conn[i].in_use, "%s: slot %u still in use (state %u)",
			      sd->name, i, sd->t->conn[i].state);
	for (unsigned i = 0; i < sd->n_s; i++)
		free(sd->s[i].rcv);
	free(sd->t);
}

struct lb_params {
	uint64_t a_to_b, b_to_a;   /* bytes each way */
	struct lb_impair imp;
	bool tso;
	uint64_t read_rate_b;      /* B's reader, bytes per ms (0: unlimited) */
	int rcvbuf_b;              /* SO_RCVBUF on B's listener (0: default) */
	uint64_t sim_limit;        /* simulated time allowed */
};

/* LB_TRACE=1: A's sender state at every step (for reading a stall). */
static void lb_trace(const struct lb *l, uint32_t cid, uint64_t start)
{
	struct tcp_conn *c = tcp_conn_by_cid(l->a.t, cid);

	if (!c)
		return;
	fprintf(stderr, "%8.3f ms una %u nxt %u max %u wnd %u cwnd %u ssth %u ca %u\n",
		(double)(l->now - start) / 1e6, c->snd_una - c->iss, c->snd_nxt - c->iss,
		c->snd_max - c->iss, c->snd_wnd, c->cc.cwnd, c->cc.ssthresh, c->cc.ca_state);
}

/* Run a transfer; returns the simulated time it took. */
static uint64_t lb_run(const struct lb_params *p)
{
	struct lb *l = calloc(1, sizeof(*l));
	uint32_t s, cid;
	struct lb_stream *st;
	uint64_t start, took = 0;
	bool done = false;

	ck_assert_ptr_nonnull(l);
	l->q = malloc(LB_FRAMES * sizeof(*l->q));
	ck_assert_ptr_nonnull(l->q);
	l->imp = p->imp;
	l->rnd = p->imp.seed ? p->imp.seed : 1;
	l->now = start = 1000 * LB_MS;
	lb_side_init(&l->a, "A", th_ip(10, 0, 0, 1), p->tso);
	lb_side_init(&l->b, "B", th_ip(10, 0, 0, 2), false);
	l->b.read_rate = p->read_rate_b;
	/* B listens */
	ck_assert_int_eq(tcp_socket_open(l->b.t, TH_OWNER, 0, NULL, &s), 0);
	if (p->rcvbuf_b)
		ck_assert_int_eq(tcp_setopt(l->b.t, TH_OWNER, s, l->now, SOL_SOCKET, SO_RCVBUF,
					    &p->rcvbuf_b, sizeof(p->rcvbuf_b), &l->b.io),
				 0);
	ck_assert_int_eq(tcp_bind(l->b.t, TH_OWNER, s, 0, htons(80)), 0);
	ck_assert_int_eq(tcp_listen(l->b.t, TH_OWNER, s, 16, &l->b.lcid), 0);
	l->b.to_send_accepted = p->b_to_a;
	/* A connects */
	ck_assert_int_eq(tcp_socket_open(l->a.t, TH_OWNER, 0, NULL, &cid), 0);
	ck_assert_int_eq(tcp_connect(l->a.t, TH_OWNER, cid, l->now, 0, l->b.addr, htons(80),
				     l->imp.mtu ? l->imp.mtu : 1500, &l->a.io),
			 0);
	st = lb_stream(&l->a, cid, true);
	st->dir = 0;
	st->to_send = p->a_to_b;
	lb_after(l, &l->a);

	for (unsigned long it = 0; !done; it++) {
		uint64_t next = CLOCK_NEVER, d;
		struct lb_frame f;
		bool a_done, b_done;

		ck_assert_msg(l->now - start <= p->sim_limit,
			      "not done after %llu ms: A wrote %llu read %llu, B streams %u, "
			      "frames %llu dropped %llu",
			      (unsigned long long)((l->now - start) / LB_MS),
			      (unsigned long long)st->written, (unsigned long long)st->readn,
			      l->b.n_s, (unsigned long long)l->sent_frames,
			      (unsigned long long)l->dropped);
		ck_assert_uint_lt(it, 50000000ul);
		/* deliver what is due, run timers, let the applications act */
		while (l->nq && l->q[0].at <= l->now) {
			lb_pop(l, &f);
			lb_deliver(l, &f);
		}
		tcp_timers(l->a.t, l->now, &l->a.io);
		lb_after(l, &l->a);
		tcp_timers(l->b.t, l->now, &l->b.io);
		lb_after(l, &l->b);
		lb_app(l, &l->a);
		lb_app(l, &l->b);
		/* done when both applications read everything and closed, and no slot remains */
		a_done = st->closed && st->readn == p->b_to_a;
		b_done = l->b.n_s == 1 && l->b.s[0].closed && l->b.s[0].readn == p->a_to_b;
		if (a_done && b_done) {
			took = l->now - start;
			/* TIME-WAIT and the like run out on their own */
			th_check_table(l->a.t);
			th_check_table(l->b.t);
			while (tcp_next_deadline(l->a.t) != CLOCK_NEVER ||
			       tcp_next_deadline(l->b.t) != CLOCK_NEVER || l->nq) {
				next = tcp_next_deadline(l->a.t);
				if ((d = tcp_next_deadline(l->b.t)) < next)
					next = d;
				if (l->nq && l->q[0].at < next)
					next = l->q[0].at;
				ck_assert_uint_lt(next, l->now + 200 * 1000 * LB_MS);
				l->now = next > l->now ? next : l->now;
				while (l->nq && l->q[0].at <= l->now) {
					lb_pop(l, &f);
					lb_deliver(l, &f);
				}
				tcp_timers(l->a.t, l->now, &l->a.io);
				lb_after(l, &l->a);
				tcp_timers(l->b.t, l->now, &l->b.io);
				lb_after(l, &l->b);
			}
			done = true;
			break;
		}
		next = tcp_next_deadline(l->a.t);
		if ((d = tcp_next_deadline(l->b.t)) < next)
			next = d;
		if (l->nq && l->q[0].at < next)
			next = l->q[0].at;
		if (l->b.read_rate && l->b.next_read > l->now && l->b.next_read < next)
			next = l->b.next_read;
		ck_assert_msg(next != CLOCK_NEVER, "deadlock: nothing in flight, no timer");
		if (next > l->now) {
			if (getenv("LB_TRACE"))
				lb_trace(l, cid, start);
			l->now = next;
		}
	}
	fprintf(stderr,
		"loopback %llu+%llu B: %llu ms simulated, %llu frames, %llu dropped, %llu dup, "
		"%llu reordered; A retrans %llu, B retrans %llu\n",
		(unsigned long long)p->a_to_b, (unsigned long long)p->b_to_a,
		(unsigned long long)(took / LB_MS), (unsigned long long)l->sent_frames,
		(unsigned long long)l->dropped, (unsigned long long)l->duplicated,
		(unsigned long long)l->reordered, (unsigned long long)l->a.t->stats.retrans_segs,
		(unsigned long long)l->b.t->stats.retrans_segs);
	if (getenv("LB_VERBOSE"))
		for (unsigned k = 0; k < tcp_stat_field_count; k++) {
			uint64_t va = stat_value(&l->a.t->stats, &tcp_stat_fields[k]);
			uint64_t vb = stat_value(&l->b.t->stats, &tcp_stat_fields[k]);

			if (va || vb)
				fprintf(stderr, "  %-26s A %10llu  B %10llu\n",
					tcp_stat_fields[k].name, (unsigned long long)va,
					(unsigned long long)vb);
		}
	lb_side_fini(&l->a);
	lb_side_fini(&l->b);
	free(l->q);
	free(l);
	return took;
}

START_TEST(clean_transfer)
{
	struct lb_params p = {.a_to_b = 4u << 20, .imp = {.seed = 1, .delay = 500000},
			      .sim_limit = 60 * 1000 * LB_MS};
	uint64_t took = lb_run(&p);

	/* 4 MiB over a 1 ms RTT: slow start with the receive buffer growing behind it (Linux's
	 * right-sizing) takes ~10 RTTs. A stall of a delayed-ACK timer per RTT, or a 16 KiB send
	 * buffer, shows as hundreds of ms. */
	ck_assert_uint_lt(took, 100 * LB_MS);
}
END_TEST

START_TEST(impaired_transfer)
{
	static const uint32_t seeds[] = {7, 1234, 99991, 31337};

	for (unsigned i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct lb_params p = {.a_to_b = 2u << 20, .b_to_a = 64u << 10,
				      .imp = {.seed = seeds[i], .drop = 20, .dup = 10,
					      .reorder = 50, .delay = 2 * LB_MS},
				      .sim_limit = 600 * 1000 * LB_MS};

		lb_run(&p);
	}
}
END_TEST

START_TEST(both_directions)
{
	struct lb_params p = {.a_to_b = 3u << 20, .b_to_a = 3u << 20,
			      .imp = {.seed = 5, .drop = 5, .reorder = 20, .delay = LB_MS},
			      .sim_limit = 600 * 1000 * LB_MS};

	lb_run(&p);
}
END_TEST

START_TEST(tso_sender)
{
	struct lb_params p = {.a_to_b = 4u << 20, .tso = true,
			      .imp = {.seed = 3, .drop = 3, .delay = LB_MS},
			      .sim_limit = 600 * 1000 * LB_MS};

	lb_run(&p);
}
END_TEST

START_TEST(slow_reader_small_window)
{
	/* B reads 3000 bytes a ms through an 8 KiB buffer: the window closes and opens
	 * all the time (zero windows, probes, window updates, SWS avoidance) */
	struct lb_params p = {.a_to_b = 1u << 20, .read_rate_b = 3000, .rcvbuf_b = 4096,
			      .imp = {.seed = 11, .drop = 10, .delay = LB_MS},
			      .sim_limit = 600 * 1000 * LB_MS};

	/* 1 MiB at 3000 bytes/ms needs 350 ms: window probes and updates must keep up */
	ck_assert_uint_lt(lb_run(&p), 1000 * LB_MS);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcp_loopback");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 110);
	tcase_add_test(tc, clean_transfer);
	tcase_add_test(tc, impaired_transfer);
	tcase_add_test(tc, both_directions);
	tcase_add_test(tc, tso_sender);
	tcase_add_test(tc, slow_reader_small_window);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
