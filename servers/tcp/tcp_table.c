/* tcp_table: the table that lives in tcpd's state segment: init, validation and per-record
 * recovery after a restart, slots and cids, the three hashes, the deadline cache.
 *
 * Slots and cids: a connection is a slot of t->conn[], a listener a slot of t->lis[]; a cid is
 * the slot index (| TCP_CID_LISTENER for a listener) plus the slot's generation, bumped at
 * every open, so a cid of a closed socket never names the slot's next occupant. Free conn slots
 * form a FIFO (t->free_head/free_tail through qnext): a freed slot is reused last, so the
 * shell has taken its TCP_EV_FREED long before the cid's slot comes round again.
 *
 * Hashes (derived data, rebuilt by tcp_table_recover from the records, never trusted across a
 * restart; every walk bounded):
 *   hash[]  connections in a hashed state (SYN-SENT .. TIME-WAIT) by 4-tuple, keyed with the
 *           table's secret so a remote peer cannot aim at one chain; exactly those: a freed
 *           slot left in a chain cuts off the rest of it (tcp_set_state unhashes);
 *   bhash[] every BOUND connection by local port (bind conflicts, ephemeral port choice);
 *   lhash[] listeners by local port.
 *
 * The deadline cache: t->deadline[i] <= slot i's earliest armed timer, t->next_deadline <=
 * every deadline[i]. Arming a timer goes through tcp_timer_arm, which lowers both; disarming
 * leaves them early, which costs tcp_timers one scan of deadline[] (32 KiB) and is then made
 * exact. tcp_next_deadline is O(1).
 *
 * Recovery (tcp_table_recover) checks every record on its own against the invariants below
 * and frees only the records that fail (dropped_torn): a tcpd killed in the middle of an update
 * loses that connection at most, never the table. Invariants of an open connection:
 *   - state < TCP_STATE_COUNT and not LISTEN; gen != 0; no unknown flag;
 *   - BOUND <=> lport != 0; a hashed state has laddr, raddr, rport and BOUND;
 *   - snd_una <= snd_nxt <= snd_max <= write_seq + 1 and the send stream fits snd_buf;
 *     read_seq <= rcv_nxt within the receive buffer; window scales <= 14; MSS values sane;
 *   - parent is NONE or an open listener on the same local port, and then the conn is in
 *     SYN-RECEIVED (SYN queue) or has TCP_F_IN_ACCEPTQ (accept queue);
 *   - the assembler's and scoreboard's counts within their arrays.
 */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "tcp_priv.h"

/* --- cids --- */

uint32_t tcp_cid_of(const struct tcp_table *t, const struct tcp_conn *c)
{
	return (uint32_t)c->gen << 16 | tcp_conn_idx(t, c);
}

uint32_t tcp_lis_cid(const struct tcp_table *t, const struct tcp_listener *l)
{
	return (uint32_t)l->gen << 16 | TCP_CID_LISTENER | tcp_lis_idx(t, l);
}

struct tcp_conn *tcp_conn_by_cid(struct tcp_table *t, uint32_t cid)
{
	unsigned idx = tcp_cid_slot(cid);
	struct tcp_conn *c;

	if (tcp_cid_is_listener(cid) || idx >= TCP_CONNS_MAX)
		return NULL;
	c = &t->conn[idx];
	return c->in_use && c->gen == tcp_cid_gen(cid) ? c : NULL;
}

struct tcp_listener *tcp_lis_by_cid(struct tcp_table *t, uint32_t cid)
{
	unsigned idx = tcp_cid_slot(cid);
	struct tcp_listener *l;

	if (!tcp_cid_is_listener(cid) || idx >= TCP_LISTENERS_MAX)
		return NULL;
	l = &t->lis[idx];
	return l->in_use && l->gen == tcp_cid_gen(cid) ? l : NULL;
}

struct tcp_conn *tcp_conn_owned(struct tcp_table *t, uint32_t owner, uint32_t cid)
{
	struct tcp_conn *c = tcp_conn_by_cid(t, cid);

	/* owner 0 is the core's own (orphans, children not yet accepted): no application is 0 */
	return c && owner != 0 && c->owner == owner ? c : NULL;
}

struct tcp_listener *tcp_lis_owned(struct tcp_table *t, uint32_t owner, uint32_t cid)
{
	struct tcp_listener *l = tcp_lis_by_cid(t, cid);

	return l && owner != 0 && l->owner == owner ? l : NULL;
}

const struct tcp_conn *tcp_conn_get(const struct tcp_table *t, uint32_t owner, uint32_t cid)
{
	/* The const is restored on return; the lookup changes nothing. */
	return tcp_conn_owned((struct tcp_table *)t, owner, cid);
}

const struct tcp_listener *tcp_listener_get(const struct tcp_table *t, uint32_t owner,
					    uint32_t cid)
{
	return tcp_lis_owned((struct tcp_table *)t, owner, cid);
}

uint32_t tcp_conn_cid(const struct tcp_table *t, unsigned idx)
{
	if (idx >= TCP_CONNS_MAX || !t->conn[idx].in_use)
		return 0;
	return tcp_cid_of(t, &t->conn[idx]);
}

uint32_t tcp_listener_cid(const struct tcp_table *t, unsigned idx)
{
	if (idx >= TCP_LISTENERS_MAX || !t->lis[idx].in_use)
		return 0;
	return tcp_lis_cid(t, &t->lis[idx]);
}

uint32_t tcp_lookup(const struct tcp_table *t, uint32_t laddr, uint16_t lport, uint32_t raddr,
		    uint16_t rport)
{
	/* The const is restored on return; the lookup changes nothing. */
	const struct tcp_conn *c = tcp_conn_find((struct tcp_table *)t, laddr, lport, raddr, rport);

	return c ? tcp_cid_of(t, c) : 0;
}

uint8_t tcp_take_events(struct tcp_table *t, uint32_t cid)
{
	unsigned idx = tcp_cid_slot(cid);
	uint8_t ev;

	if (tcp_cid_is_listener(cid)) {
		struct tcp_listener *l;

		if (idx >= TCP_LISTENERS_MAX)
			return 0;
		l = &t->lis[idx];
		if (l->gen != tcp_cid_gen(cid))
			return 0;
		ev = l->events;
		l->events = 0;
		l->ev_queued = 0;
		return ev;
	}
	if (idx >= TCP_CONNS_MAX)
		return 0;
	/* A freed slot keeps its generation and its untaken events (TCP_EV_FREED) until reused;
	 * once reused (even within the call that freed it: a full table's TIME-WAIT taken for a
	 * SYN) the old cid's connection is gone, which is what TCP_EV_FREED says. */
	if (t->conn[idx].gen != tcp_cid_gen(cid))
		return TCP_EV_FREED;
	ev = t->conn[idx].events;
	t->conn[idx].events = 0;
	t->conn[idx].ev_queued = 0;
	return ev;
}

/* --- init, check, recover --- */

static void tcp_free_push(struct tcp_table *t, unsigned idx)
{
	t->conn[idx].qnext = TCP_IDX_NONE;
	if (t->free_tail < TCP_CONNS_MAX)
		t->conn[t->free_tail].qnext = (uint16_t)idx;
	else
		t->free_head = (uint16_t)idx;
	t->free_tail = (uint16_t)idx;
}

/* Reset a slot to free, keeping what must outlive it: the generation and untaken events. */
static void tcp_conn_wipe(struct tcp_conn *c)
{
	uint16_t gen = c->gen;
	uint8_t ev = c->events, q = c->ev_queued;

	memset(c, 0, sizeof(*c));
	c->gen = gen;
	c->events = ev;
	c->ev_queued = q;
	c->hnext = c->bnext = c->parent = c->qnext = c->qprev = TCP_IDX_NONE;
}

static void tcp_lis_wipe(struct tcp_listener *l)
{
	uint16_t gen = l->gen;
	uint8_t ev = l->events, q = l->ev_queued;

	memset(l, 0, sizeof(*l));
	l->gen = gen;
	l->events = ev;
	l->ev_queued = q;
	l->hnext = l->acc_head = l->acc_tail = l->syn_head = TCP_IDX_NONE;
}

void tcp_table_init(struct tcp_table *t, const uint8_t seed[32], const struct tcp_host *host)
{
	memset(t, 0, sizeof(*t));
	t->magic = TCP_TABLE_MAGIC;
	t->version = TCP_TABLE_VERSION;
	t->size = sizeof(*t);
	t->conns_max = TCP_CONNS_MAX;
	t->port_lo = TCP_PORT_EPH_LO;
	t->port_hi = TCP_PORT_EPH_HI;
	memcpy(t->secret, seed, sizeof(t->secret));
	tcp_set_host(t, host);
	t->next_deadline = CLOCK_NEVER;
	for (unsigned b = 0; b < TCP_HASH_BUCKETS; b++)
		t->hash[b] = t->bhash[b] = TCP_IDX_NONE;
	for (unsigned b = 0; b < TCP_LHASH_BUCKETS; b++)
		t->lhash[b] = TCP_IDX_NONE;
	for (unsigned i = 0; i < TCP_LISTENERS_MAX; i++)
		tcp_lis_wipe(&t->lis[i]);
	t->free_head = t->free_tail = TCP_IDX_NONE;
	for (unsigned i = 0; i < TCP_CONNS_MAX; i++) {
		tcp_conn_wipe(&t->conn[i]);
		t->deadline[i] = CLOCK_NEVER;
		tcp_free_push(t, i);
	}
}

int tcp_table_check(const struct tcp_table *t)
{
	if (t->magic != TCP_TABLE_MAGIC || t->version != TCP_TABLE_VERSION)
		return -EPROTO;
	if (t->size != sizeof(*t) || t->conns_max != TCP_CONNS_MAX)
		return -EINVAL;
	if (t->port_lo == 0 || t->port_lo > t->port_hi)
		return -EINVAL;
	return 0;
}

static bool tcp_range_sane(const struct tcp_range *r, uint32_t lo, uint32_t hi)
{
	return SEQ_LT(r->start, r->end) && SEQ_GEQ(r->start, lo) && SEQ_LEQ(r->end, hi);
}

static bool tcp_lis_valid(const struct tcp_listener *l)
{
	if (l->in_use != 1 || l->gen == 0 || (l->flags & ~TCP_F_MASK) || l->lport == 0)
		return false;
	if (l->backlog == 0 || l->backlog > 4096 || l->cc_algo >= TCP_CC_COUNT)
		return false;
	if (l->rcv_buf_max > TCP_RMEM_MAX || l->snd_buf_max > TCP_WMEM_MAX)
		return false;
	if (l->rcv_buf == 0 || l->rcv_buf > (l->rcv_buf_max ? l->rcv_buf_max : TCP_RMEM_MAX) ||
	    l->snd_buf == 0 || l->snd_buf > (l->snd_buf_max ? l->snd_buf_max : TCP_WMEM_MAX))
		return false;
	return true;
}

static bool tcp_conn_valid(const struct tcp_table *t, const struct tcp_conn *c)
{
	uint32_t f = c->flags;
	unsigned s = c->state;

	if (c->in_use != 1 || c->gen == 0 || (f & ~TCP_F_MASK) || s >= TCP_STATE_COUNT ||
	    s == TCP_STATE_LISTEN)
		return false;
	if (!!(f & TCP_F_BOUND) != (c->lport != 0))
		return false;
	if (tcp_state_hashed(s) && (!(f & TCP_F_BOUND) || c->laddr == 0 || c->raddr == 0 ||
				    c->rport == 0))
		return false;
	if (c->owner == 0 && !(f & TCP_F_ORPHAN) && c->parent == TCP_IDX_NONE)
		return false; /* nobody would ever free it */
	if (c->pending_error >= 4096 || c->soft_error >= 4096)
		return false;
	if (c->rcv_buf_max > TCP_RMEM_MAX || c->snd_buf_max > TCP_WMEM_MAX)
		return false;
	if (c->rcv_buf == 0 || c->rcv_buf > tcp_rcv_buf_max(c) || c->snd_buf == 0 ||
	    c->snd_buf > tcp_snd_buf_max(c))
		return false;
	if (c->snd_wscale > TCP_WSCALE_MAX || c->rcv_wscale > TCP_WSCALE_MAX)
		return false;
	if (c->cc.algo >= TCP_CC_COUNT || c->cc.ca_state >= TCP_CA_STATE_COUNT)
		return false;
	if (c->parent != TCP_IDX_NONE) {
		const struct tcp_listener *l;

		if (c->parent >= TCP_LISTENERS_MAX)
			return false;
		l = &t->lis[c->parent];
		if (!tcp_lis_valid(l) || l->lport != c->lport)
			return false;
		if (s != TCP_STATE_SYN_RECEIVED && !(f & TCP_F_IN_ACCEPTQ))
			return false;
	} else if (f & TCP_F_IN_ACCEPTQ) {
		return false;
	}
	if (s == TCP_STATE_CLOSED || s == TCP_STATE_SYN_SENT)
		return true; /* sequence space not (fully) defined yet */
	/* the stream [snd_una, write_seq] plus SYN and FIN: at most snd_buf + 2 sequence numbers */
	if (!(SEQ_LEQ(c->snd_una, c->snd_nxt) && SEQ_LEQ(c->snd_nxt, c->snd_max) &&
	      SEQ_LEQ(c->snd_max, c->write_seq + 1) &&
	      (uint32_t)(c->write_seq + 1 - c->snd_una) <= c->snd_buf + 2))
		return false;
	if (!SEQ_LEQ(c->read_seq, c->rcv_nxt) ||
	    (uint32_t)(c->rcv_nxt - c->read_seq) > TCP_RMEM_MAX + 1)
		return false;
	if (c->snd_mss == 0 || c->adv_mss == 0 || c->pmtu < 68 ||
	    (tcp_state_synced(c->state) && c->rcv_mss == 0))
		return false;
	if (c->asm_.n > TCP_OOO_MAX || c->asm_.n_sack_out > TCP_SACK_OUT_MAX)
		return false;
	for (unsigned i = 0; i < c->asm_.n; i++)
		if (!tcp_range_sane(&c->asm_.ooo[i], c->rcv_nxt + 1, c->read_seq + TCP_RMEM_MAX))
			return false;
	if (c->sb.n > TCP_SCOREBOARD_MAX)
		return false;
	for (unsigned i = 0; i < c->sb.n; i++)
		if (!tcp_range_sane(&c->sb.sacked[i], c->snd_una, c->snd_max))
			return false;
	return true;
}

/* Rebuild one listener's queues from its children's parent fields. The accept queue keeps
 * its order where the old links still make sense (a bounded walk over valid members), then
 * takes any member the links missed in slot order. */
static void tcp_queues_rebuild(struct tcp_table *t, unsigned li)
{
	struct tcp_listener *l = &t->lis[li];
	uint16_t old = l->acc_head;
	uint8_t seen_bits[TCP_CONNS_MAX / 8];

	memset(seen_bits, 0, sizeof(seen_bits));
	l->acc_head = l->acc_tail = l->syn_head = TCP_IDX_NONE;
	l->acc_n = l->syn_n = 0;
	for (unsigned steps = 0; old < TCP_CONNS_MAX && steps < TCP_CONNS_MAX; steps++) {
		struct tcp_conn *c = &t->conn[old];
		uint16_t next = c->qnext;

		if (!c->in_use || c->parent != li || !(c->flags & TCP_F_IN_ACCEPTQ) ||
		    (seen_bits[old / 8] & (1u << (old % 8))))
			break;
		seen_bits[old / 8] |= (uint8_t)(1u << (old % 8));
		c->qprev = l->acc_tail;
		c->qnext = TCP_IDX_NONE;
		if (l->acc_tail != TCP_IDX_NONE)
			t->conn[l->acc_tail].qnext = old;
		else
			l->acc_head = old;
		l->acc_tail = old;
		l->acc_n++;
		old = next;
	}
	for (unsigned i = 0; i < TCP_CONNS_MAX; i++) {
		struct tcp_conn *c = &t->conn[i];

		if (!c->in_use || c->parent != li || (seen_bits[i / 8] & (1u << (i % 8))))
			continue;
		c->qnext = TCP_IDX_NONE;
		if (c->flags & TCP_F_IN_ACCEPTQ) {
			c->qprev = l->acc_tail;
			if (l->acc_tail != TCP_IDX_NONE)
				t->conn[l->acc_tail].qnext = (uint16_t)i;
			else
				l->acc_head = (uint16_t)i;
			l->acc_tail = (uint16_t)i;
			l->acc_n++;
		} else {
			c->qprev = TCP_IDX_NONE;
			c->qnext = l->syn_head;
			if (l->syn_head != TCP_IDX_NONE)
				t->conn[l->syn_head].qprev = (uint16_t)i;
			l->syn_head = (uint16_t)i;
			l->syn_n++;
		}
	}
}

unsigned tcp_table_recover(struct tcp_table *t, uint64_t now)
{
	unsigned live = 0;
	uint32_t n_def = 0;
	uint64_t estab = 0;

	(void)now;
	for (unsigned b = 0; b < TCP_HASH_BUCKETS; b++)
		t->hash[b] = t->bhash[b] = TCP_IDX_NONE;
	for (unsigned b = 0; b < TCP_LHASH_BUCKETS; b++)
		t->lhash[b] = TCP_IDX_NONE;
	/* Listeners first: a child is valid only under a valid parent. */
	for (unsigned i = 0; i < TCP_LISTENERS_MAX; i++) {
		struct tcp_listener *l = &t->lis[i];

		l->hnext = TCP_IDX_NONE;
		if (l->in_use && !tcp_lis_valid(l)) {
			t->stats.dropped_torn++;
			l->in_use = 0;
		}
		if (!l->in_use) {
			tcp_lis_wipe(l);
			continue;
		}
		l->ev_queued = 0; /* the new shell has no list: events are re-announced below */
		tcp_lhash_insert(t, l);
	}
	t->free_head = t->free_tail = TCP_IDX_NONE;
	t->next_deadline = CLOCK_NEVER;
	for (unsigned i = 0; i < TCP_CONNS_MAX; i++) {
		struct tcp_conn *c = &t->conn[i];

		c->hnext = c->bnext = TCP_IDX_NONE;
		if (c->in_use && !tcp_conn_valid(t, c)) {
			t->stats.dropped_torn++;
			c->in_use = 0;
		}
		t->deadline[i] = CLOCK_NEVER;
		if (!c->in_use) {
			tcp_conn_wipe(c);
			tcp_free_push(t, i);
			continue;
		}
		live++;
		c->ev_queued = 0;
		if (c->flags & TCP_F_BOUND)
			tcp_bhash_insert(t, c);
		if (tcp_state_hashed(c->state))
			tcp_hash_insert(t, c);
		if (c->parent == TCP_IDX_NONE)
			c->qnext = c->qprev = TCP_IDX_NONE;
		if (c->flags & TCP_F_DEFER_OUTPUT)
			n_def++;
		if (c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_CLOSE_WAIT)
			estab++;
		t->deadline[i] = tcp_conn_deadline(c);
		if (t->deadline[i] < t->next_deadline)
			t->next_deadline = t->deadline[i];
	}
	for (unsigned i = 0; i < TCP_LISTENERS_MAX; i++)
		if (t->lis[i].in_use)
			tcp_queues_rebuild(t, i);
	t->n_deferred = n_def;
	t->stats.curr_estab = estab; /* a gauge: recount what survived */
	t->stats.restored_conns += live;
	return live;
}

void tcp_set_host(struct tcp_table *t, const struct tcp_host *host)
{
	t->host = *host;
	if (t->host.mtu < 68 + 40)
		t->host.mtu = 576; /* RFC 791's minimum datagram every host accepts */
	if (t->host.tso_max > 65535 - 40)
		t->host.tso_max = 65535 - 40;
	if (t->host.tso_max == 0)
		t->host.tso = 0;
}

int tcp_set_port_range(struct tcp_table *t, uint16_t lo, uint16_t hi)
{
	if (lo == 0 || lo > hi)
		return -EINVAL;
	t->port_lo = lo;
	t->port_hi = hi;
	return 0;
}

/* --- slots --- */

static void tcp_conn_defaults(struct tcp_table *t, struct tcp_conn *c, uint64_t now)
{
	c->in_use = 1;
	c->state = TCP_STATE_CLOSED;
	c->rcv_buf = TCP_RMEM_DEFAULT;
	c->snd_buf = TCP_WMEM_DEFAULT;
	c->pmtu = t->host.mtu;
	c->peer_mss = TCP_MSS_DEFAULT;
	c->keep_idle_s = TCP_KEEPIDLE_S;
	c->keep_intvl_s = TCP_KEEPINTVL_S;
	c->keep_cnt = TCP_KEEPCNT_DEFAULT;
	c->cc.algo = TCP_CC_CUBIC;
	c->opened_at = now;
	tcp_rtt_init(&c->rtt);
	tcp_asm_reset(&c->asm_);
	tcp_sack_reset(&c->sb);
}

/* The TIME-WAIT orphan that ends first: the one the peer least needs protecting. One an
 * application still holds (it shut down and read the peer's FIN, but has not closed) is its
 * socket, never taken from under it. */
static struct tcp_conn *tcp_time_wait_victim(struct tcp_table *t)
{
	struct tcp_conn *best = NULL;

	for (unsigned i = 0; i < TCP_CONNS_MAX; i++) {
		struct tcp_conn *c = &t->conn[i];

		if (c->in_use && c->state == TCP_STATE_TIME_WAIT && c->owner == 0 &&
		    (!best || c->t_close < best->t_close))
			best = c;
	}
	return best;
}

struct tcp_conn *tcp_conn_alloc(struct tcp_table *t, uint64_t now, struct tcp_io *io)
{
	unsigned idx = t->free_head;
	struct tcp_conn *c;

	if (idx >= TCP_CONNS_MAX) {
		/* without io the freed slot's TCP_EV_FREED could not be announced */
		c = io ? tcp_time_wait_victim(t) : NULL;
		if (!c)
			return NULL;
		t->stats.tcp_time_wait_overflow++;
		tcp_conn_release(t, c, io);
		idx = t->free_head;
		if (idx >= TCP_CONNS_MAX)
			return NULL;
	}
	c = &t->conn[idx];
	t->free_head = c->qnext;
	if (t->free_head == TCP_IDX_NONE)
		t->free_tail = TCP_IDX_NONE;
	tcp_conn_wipe(c);
	c->events = 0;
	c->ev_queued = 0;
	c->gen = (uint16_t)(c->gen + 1);
	if (c->gen == 0)
		c->gen = 1;
	tcp_conn_defaults(t, c, now);
	t->deadline[idx] = CLOCK_NEVER;
	return c;
}

void tcp_conn_free(struct tcp_table *t, struct tcp_conn *c)
{
	unsigned idx = tcp_conn_idx(t, c);

	if (!c->in_use)
		return;
	if (c->state == TCP_STATE_ESTABLISHED || c->state == TCP_STATE_CLOSE_WAIT)
		tcp_set_state(t, c, TCP_STATE_CLOSED);
	if (c->parent != TCP_IDX_NONE)
		tcp_child_unlink(t, c);
	if (tcp_state_hashed(c->state))
		tcp_hash_remove(t, c);
	if (c->flags & TCP_F_BOUND)
		tcp_bhash_remove(t, c);
	if (c->flags & TCP_F_DEFER_OUTPUT)
		tcp_defer_clear(t, c);
	tcp_conn_wipe(c);
	t->deadline[idx] = CLOCK_NEVER;
	tcp_free_push(t, idx);
}

unsigned tcp_conn_next_free(const struct tcp_table *t)
{
	if (t->free_head < TCP_CONNS_MAX)
		return t->free_head;
	/* a full table: the TIME-WAIT orphan a call with io would take (the lookup changes
	 * nothing; the const is restored on return) */
	const struct tcp_conn *v = tcp_time_wait_victim((struct tcp_table *)t);
	return v ? tcp_conn_idx(t, v) : TCP_IDX_NONE;
}

unsigned tcp_listener_next_free(const struct tcp_table *t)
{
	for (unsigned i = 0; i < TCP_LISTENERS_MAX; i++) {
		const struct tcp_listener *l = &t->lis[i];

		/* skip a slot whose FREED-style events the shell has not taken yet */
		if (!l->in_use && !l->ev_queued)
			return i;
	}
	return TCP_IDX_NONE;
}

struct tcp_listener *tcp_lis_alloc(struct tcp_table *t)
{
	unsigned i = tcp_listener_next_free(t);

	if (i < TCP_LISTENERS_MAX) {
		struct tcp_listener *l = &t->lis[i];

		tcp_lis_wipe(l);
		l->events = 0;
		l->gen = (uint16_t)(l->gen + 1);
		if (l->gen == 0)
			l->gen = 1;
		l->in_use = 1;
		return l;
	}
	return NULL;
}

void tcp_lis_free(struct tcp_table *t, struct tcp_listener *l)
{
	if (!l->in_use)
		return;
	tcp_lhash_remove(t, l);
	tcp_lis_wipe(l);
	l->events = 0;
	l->ev_queued = 0;
}

/* --- hashes --- */

unsigned tcp_hash_bucket(const struct tcp_table *t, uint32_t laddr, uint16_t lport, uint32_t raddr,
			 uint16_t rport)
{
	uint8_t m[12];

	/* keyed (SipHash): a peer choosing its addresses and ports cannot aim at one chain */
	memcpy(m, &laddr, 4);
	memcpy(m + 4, &raddr, 4);
	memcpy(m + 8, &lport, 2);
	memcpy(m + 10, &rport, 2);
	return (unsigned)tcp_hash(t, TCP_HASH_CONN_TABLE, m, sizeof(m)) & (TCP_HASH_BUCKETS - 1);
}

void tcp_hash_insert(struct tcp_table *t, struct tcp_conn *c)
{
	unsigned b = tcp_hash_bucket(t, c->laddr, c->lport, c->raddr, c->rport);

	c->hnext = t->hash[b];
	t->hash[b] = (uint16_t)tcp_conn_idx(t, c);
}

void tcp_hash_remove(struct tcp_table *t, struct tcp_conn *c)
{
	unsigned idx = tcp_conn_idx(t, c);
	uint16_t *link = &t->hash[tcp_hash_bucket(t, c->laddr, c->lport, c->raddr, c->rport)];

	for (unsigned steps = 0; *link < TCP_CONNS_MAX && steps < TCP_CONNS_MAX; steps++) {
		if (*link == idx) {
			*link = c->hnext;
			break;
		}
		link = &t->conn[*link].hnext;
	}
	c->hnext = TCP_IDX_NONE;
}

void tcp_bhash_insert(struct tcp_table *t, struct tcp_conn *c)
{
	unsigned b = tcp_bhash_bucket(c->lport);

	c->bnext = t->bhash[b];
	t->bhash[b] = (uint16_t)tcp_conn_idx(t, c);
}

void tcp_bhash_remove(struct tcp_table *t, struct tcp_conn *c)
{
	unsigned idx = tcp_conn_idx(t, c);
	uint16_t *link = &t->bhash[tcp_bhash_bucket(c->lport)];

	for (unsigned steps = 0; *link < TCP_CONNS_MAX && steps < TCP_CONNS_MAX; steps++) {
		if (*link == idx) {
			*link = c->bnext;
			break;
		}
		link = &t->conn[*link].bnext;
	}
	c->bnext = TCP_IDX_NONE;
}

void tcp_lhash_insert(struct tcp_table *t, struct tcp_listener *l)
{
	unsigned b = tcp_lhash_bucket(l->lport);

	l->hnext = t->lhash[b];
	t->lhash[b] = (uint16_t)tcp_lis_idx(t, l);
}

void tcp_lhash_remove(struct tcp_table *t, struct tcp_listener *l)
{
	unsigned idx = tcp_lis_idx(t, l);
	uint16_t *link = &t->lhash[tcp_lhash_bucket(l->lport)];

	for (unsigned steps = 0; *link < TCP_LISTENERS_MAX && steps < TCP_LISTENERS_MAX;
	     steps++) {
		if (*link == idx) {
			*link = l->hnext;
			break;
		}
		link = &t->lis[*link].hnext;
	}
	l->hnext = TCP_IDX_NONE;
}

struct tcp_conn *tcp_conn_find(struct tcp_table *t, uint32_t laddr, uint16_t lport,
			       uint32_t raddr, uint16_t rport)
{
	unsigned i = t->hash[tcp_hash_bucket(t, laddr, lport, raddr, rport)];

	for (unsigned steps = 0; i < TCP_CONNS_MAX && steps < TCP_CONNS_MAX; steps++) {
		struct tcp_conn *c = &t->conn[i];

		if (c->lport == lport && c->rport == rport && c->laddr == laddr &&
		    c->raddr == raddr && c->in_use && tcp_state_hashed(c->state))
			return c;
		i = c->hnext;
	}
	return NULL;
}

struct tcp_listener *tcp_listener_lookup(struct tcp_table *t, uint32_t laddr, uint16_t lport)
{
	struct tcp_listener *any = NULL;
	unsigned i, steps;

	TCP_LHASH_FOR_EACH(t, lport, i, steps) {
		struct tcp_listener *l = &t->lis[i];

		if (!l->in_use || l->lport != lport)
			continue;
		if (l->laddr == laddr)
			return l;
		if (l->laddr == 0 && !any)
			any = l;
	}
	return any;
}

/* --- timers and deferred output --- */

uint64_t tcp_conn_deadline(const struct tcp_conn *c)
{
	const uint64_t ts[] = {c->t_rtx,       c->t_delack, c->t_persist,
			       c->t_keepalive, c->t_close,  c->t_tlp, c->t_reo};
	uint64_t d = CLOCK_NEVER;

	for (unsigned i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		if (ts[i] != 0 && ts[i] < d)
			d = ts[i];
	return d;
}

void tcp_timer_arm(struct tcp_table *t, struct tcp_conn *c, uint64_t *timer, uint64_t when)
{
	unsigned idx = tcp_conn_idx(t, c);

	if (when == 0)
		when = 1; /* 0 means disarmed */
	*timer = when;
	if (when < t->deadline[idx])
		t->deadline[idx] = when;
	if (when < t->next_deadline)
		t->next_deadline = when;
}

void tcp_defer_set(struct tcp_table *t, struct tcp_conn *c)
{
	if (!(c->flags & TCP_F_DEFER_OUTPUT)) {
		c->flags |= TCP_F_DEFER_OUTPUT;
		t->n_deferred++;
	}
}

void tcp_defer_clear(struct tcp_table *t, struct tcp_conn *c)
{
	if (c->flags & TCP_F_DEFER_OUTPUT) {
		c->flags &= ~TCP_F_DEFER_OUTPUT;
		if (t->n_deferred)
			t->n_deferred--;
	}
}
