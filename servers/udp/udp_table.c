/* udp_table: the socket table that lives in udpd's state segment: init, validation and recovery
 * after a restart, socket open/close with owner checks, and the local-port hash.
 *
 * Slots and sids: a socket is a slot of t->sock[]; its sid is the slot index plus the slot's
 * generation, bumped at every open. Slots are taken lowest first (like file descriptors); the
 * generation keeps a sid of a closed socket from naming the slot's next socket.
 *
 * The port hash: every bound socket is on the chain of its local port's bucket, linked by slot
 * index (t->hash[] heads, sock.hnext links), so demultiplexing and port-conflict checks look at
 * the sockets of one bucket, not all 1,024. The chains are derived data: udp_table_recover
 * rebuilds them from the lport fields rather than trust links written by another process, and
 * every walk is bounded (UDP_HASH_FOR_EACH), so no table content can make the core loop.
 *
 * Records and recovery (udp_core.h, state_journal.h): a socket record is sealed over
 * [0, UDP_SOCK_SEALED), its options (s->ext) included; free records are sealed too, so recovery
 * can judge every record the same way. Recovery never gives up on the table for a bad record:
 * the journal's rollback comes first (a half-done update is undone), then each record is judged
 * alone and a bad one reset; only a header that is not ours (another program, another layout)
 * makes the shell start fresh.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "udp_priv.h"
#include "wire/udp.h"

#define F(x) STAT_FIELD(struct udp_stats, x)
const struct stat_field udp_stat_fields[] = {
	F(in_datagrams), F(no_ports), F(in_errors), F(out_datagrams), F(rcvbuf_errors),
	F(sndbuf_errors), F(in_csum_errors), F(ignored_multi),
	F(in_drop_short), F(in_drop_len_small), F(in_drop_len_big), F(in_trimmed), F(in_no_csum),
	F(icmp_err_in), F(icmp_err_bad), F(icmp_err_no_sock), F(icmp_err_ignored),
	F(icmp_err_reported), F(cork_lost_restart), F(icmp_err_queued), F(reuseport_selected),
	F(state_records_dropped),
};
#undef F
/* Every counter is named: adding a field without a name here fails the build. */
_Static_assert(sizeof(udp_stat_fields) / sizeof(udp_stat_fields[0]) ==
		       sizeof(struct udp_stats) / sizeof(uint64_t),
	       "udp_stat_fields must name every field of struct udp_stats");
const unsigned udp_stat_field_count = sizeof(udp_stat_fields) / sizeof(udp_stat_fields[0]);

static void udp_sock_reset(struct udp_sock *s)
{
	uint16_t gen = s->gen;

	memset(&s->in_use, 0, UDP_SOCK_SEALED - offsetof(struct udp_sock, in_use));
	s->gen = gen;
}

void udp_table_init(struct udp_table *t)
{
	memset(t, 0, sizeof(*t));
	t->version = UDP_TABLE_VERSION;
	t->size = sizeof(*t);
	t->sockets_max = UDP_SOCKETS_MAX;
	t->ports.lo = UDP_PORT_EPH_LO;
	t->ports.hi = UDP_PORT_EPH_HI;
	t->ports.next = UDP_PORT_EPH_LO;
	state_rec_seal(&t->ports.rec, sizeof(t->ports));
	state_journal_init(&t->journal);
	for (unsigned b = 0; b < UDP_HASH_BUCKETS; b++)
		t->hash[b] = UDP_IDX_NONE;
	for (unsigned i = 0; i < UDP_SOCKETS_MAX; i++) {
		t->sock[i].hnext = UDP_IDX_NONE;
		state_rec_seal(&t->sock[i].rec, UDP_SOCK_SEALED);
	}
	/* The magic last: a udpd killed half-way through leaves a table that is not one (the
	 * next start makes a fresh one) rather than one full of unsealed records. */
	atomic_signal_fence(memory_order_seq_cst);
	t->magic = UDP_TABLE_MAGIC;
}

void udp_txn_begin(struct udp_table *t)
{
	state_journal_begin(&t->journal);
}

void udp_txn_end(struct udp_table *t)
{
	state_journal_end(&t->journal);
}

struct state_journal *udp_txn_journal(struct udp_table *t)
{
	return &t->journal;
}

struct udp_sock *udp_sock_w(struct udp_table *t, unsigned idx)
{
	return state_journal_touch(&t->journal, &t->sock[idx].rec, UDP_SOCK_SEALED);
}

struct udp_ports *udp_ports_w(struct udp_table *t)
{
	return state_journal_touch(&t->journal, &t->ports.rec, sizeof(t->ports));
}

void udp_sock_update(struct udp_table *t, unsigned idx, const struct udp_sock *n)
{
	const size_t at = offsetof(struct udp_sock, in_use);
	const struct udp_sock *s = &t->sock[idx];

	if (memcmp((const uint8_t *)s + at, (const uint8_t *)n + at, UDP_SOCK_SEALED - at) == 0)
		return;
	udp_txn_begin(t);
	memcpy((uint8_t *)udp_sock_w(t, idx) + at, (const uint8_t *)n + at, UDP_SOCK_SEALED - at);
	udp_txn_end(t);
}

static bool udp_ports_ok(const struct udp_ports *p)
{
	return state_rec_valid(&p->rec, sizeof(*p)) && p->lo != 0 && p->lo <= p->hi &&
	       p->next >= p->lo && p->next <= p->hi;
}

int udp_sock_check(const struct udp_sock *s)
{
	uint32_t f = s->flags;
	bool bound = f & UDP_SOCK_F_BOUND;

	if (s->gen == 0 || (f & ~UDP_SOCK_F_MASK))
		return -EINVAL;
	if (bound != (s->lport != 0))
		return -EINVAL;
	if (!bound && (s->laddr != 0 || (f & (UDP_SOCK_F_CONNECTED | UDP_SOCK_F_BINDADDR_LOCK |
					      UDP_SOCK_F_BINDPORT_LOCK))))
		return -EINVAL;
	if ((f & UDP_SOCK_F_BINDADDR_LOCK) && s->laddr == 0)
		return -EINVAL;
	if (!!(f & UDP_SOCK_F_CONNECTED) != (s->raddr != 0))
		return -EINVAL;
	if (!(f & UDP_SOCK_F_CONNECTED) && s->rport != 0)
		return -EINVAL;
	if (bound ? s->bind_seq == 0 : s->bind_seq != 0)
		return -EINVAL;
	if (s->rcvbuf < UDP_RCVBUF_MIN || s->rcvbuf > 2 * UDP_RMEM_MAX ||
	    s->sndbuf < UDP_SNDBUF_MIN || s->sndbuf > 2 * UDP_WMEM_MAX)
		return -EINVAL;
	if (s->pending_error >= 4096) /* MAX_ERRNO */
		return -EINVAL;
	if (f & UDP_SOCK_F_CORK_PENDING) {
		if (s->cork_len > UDP_MAX_PAYLOAD || s->cork_sport == 0)
			return -EINVAL;
	} else if (s->cork_len || s->cork_sport || s->cork_dport || s->cork_saddr ||
		   s->cork_daddr) {
		return -EINVAL;
	}
	return udp_ext_check(s);
}

/* A record as recovery accepts it: sealed, and in use with every invariant or free. */
static bool udp_sock_record_ok(const struct udp_sock *s)
{
	if (!state_rec_valid(&s->rec, UDP_SOCK_SEALED) || s->in_use > 1)
		return false;
	return !s->in_use || udp_sock_check(s) == 0;
}

static int udp_table_check_header(const struct udp_table *t)
{
	if (t->magic != UDP_TABLE_MAGIC || t->version != UDP_TABLE_VERSION)
		return -EPROTO;
	if (t->size != sizeof(*t) || t->sockets_max != UDP_SOCKETS_MAX)
		return -EINVAL;
	return 0;
}

int udp_table_check(const struct udp_table *t)
{
	int rc = udp_table_check_header(t);

	if (rc != 0)
		return rc;
	if (!udp_ports_ok(&t->ports) || !state_journal_idle(&t->journal))
		return -EINVAL;
	for (unsigned i = 0; i < UDP_SOCKETS_MAX; i++) {
		const struct udp_sock *s = &t->sock[i];

		if (!udp_sock_record_ok(s) || (s->in_use && s->bind_seq > t->ports.bind_seq))
			return -EINVAL;
	}
	return 0;
}

int udp_table_recover(struct udp_table *t, void *extent, size_t extent_size)
{
	int rc = udp_table_check_header(t);
	uint64_t bind_seq = 0;

	if (rc != 0)
		return rc;
	if (!extent) {
		extent = t;
		extent_size = sizeof(*t);
	}
	state_journal_recover(&t->journal, extent, extent_size);
	for (unsigned i = 0; i < UDP_SOCKETS_MAX; i++) {
		struct udp_sock *s = &t->sock[i];

		if (!udp_sock_record_ok(s)) {
			/* Only this record is lost: its socket (if it was one) is closed. Its
			 * generation is kept as found, so the slot's next sid differs from any
			 * sid handed out unless the generation itself was torn mid-open, when
			 * that sid never reached anyone. */
			udp_txn_begin(t);
			udp_sock_reset(udp_sock_w(t, i));
			udp_txn_end(t);
			t->stats.state_records_dropped++;
			continue;
		}
		if (!s->in_use)
			continue;
		if (s->bind_seq > bind_seq)
			bind_seq = s->bind_seq;
		if (s->flags & UDP_SOCK_F_CORK_PENDING) {
			udp_txn_begin(t);
			udp_cork_clear(udp_sock_w(t, i));
			udp_txn_end(t);
			t->stats.cork_lost_restart++;
		}
	}
	if (!udp_ports_ok(&t->ports) || t->ports.bind_seq < bind_seq) {
		/* Never expected (the journal restores it like any record): rebuilt, not refused.
		 * Any cursor in range is right, and the sequence must pass every socket's. */
		udp_txn_begin(t);
		struct udp_ports *p = udp_ports_w(t);
		if (p->lo == 0 || p->lo > p->hi) {
			p->lo = UDP_PORT_EPH_LO;
			p->hi = UDP_PORT_EPH_HI;
		}
		if (p->next < p->lo || p->next > p->hi)
			p->next = p->lo;
		if (p->bind_seq < bind_seq)
			p->bind_seq = bind_seq;
		p->reserved0 = 0;
		p->reserved1 = 0;
		udp_txn_end(t);
		t->stats.state_records_dropped++;
	}
	udp_hash_rebuild(t);
	return 0;
}

int udp_set_port_range(struct udp_table *t, uint16_t lo, uint16_t hi)
{
	if (lo == 0 || lo > hi)
		return -EINVAL;
	udp_txn_begin(t);
	struct udp_ports *p = udp_ports_w(t);
	p->lo = lo;
	p->hi = hi;
	p->next = lo;
	udp_txn_end(t);
	return 0;
}

void udp_port_seed(struct udp_table *t, uint32_t seed)
{
	uint32_t n = (uint32_t)t->ports.hi - t->ports.lo + 1;

	udp_txn_begin(t);
	udp_ports_w(t)->next = (uint16_t)(t->ports.lo + seed % n);
	udp_txn_end(t);
}

/* --- sockets --- */

int udp_socket_open(struct udp_table *t, uint32_t owner, uint32_t *sid)
{
	for (unsigned i = 0; i < UDP_SOCKETS_MAX; i++) {
		struct udp_sock *s = &t->sock[i];
		uint16_t gen;

		if (s->in_use)
			continue;
		gen = (uint16_t)(s->gen + 1);
		if (gen == 0)
			gen = 1;
		udp_txn_begin(t);
		s = udp_sock_w(t, i);
		udp_sock_reset(s);
		s->gen = gen;
		s->in_use = 1;
		s->owner = owner;
		udp_ext_reset(&s->ext);
		s->rcvbuf = UDP_RMEM_DEFAULT;
		s->sndbuf = UDP_WMEM_DEFAULT;
		udp_txn_end(t);
		*sid = udp_sid_make(i, gen);
		return 0;
	}
	return -EMFILE;
}

struct udp_sock *udp_sock_any(struct udp_table *t, uint32_t sid)
{
	unsigned idx = udp_sid_idx(sid);
	struct udp_sock *s;

	if (idx >= UDP_SOCKETS_MAX)
		return NULL;
	s = &t->sock[idx];
	if (!s->in_use || s->gen != udp_sid_gen(sid))
		return NULL;
	return s;
}

struct udp_sock *udp_sock_find(struct udp_table *t, uint32_t owner, uint32_t sid)
{
	struct udp_sock *s = udp_sock_any(t, sid);

	return s && s->owner == owner ? s : NULL;
}

const struct udp_sock *udp_sock_get(const struct udp_table *t, uint32_t owner, uint32_t sid)
{
	/* The const is restored on return; udp_sock_find changes nothing. */
	return udp_sock_find((struct udp_table *)t, owner, sid);
}

uint32_t udp_sock_sid(const struct udp_table *t, unsigned idx)
{
	if (idx >= UDP_SOCKETS_MAX || !t->sock[idx].in_use)
		return 0;
	return udp_sid_make(idx, t->sock[idx].gen);
}

/* Inside a transaction. */
static void udp_sock_free(struct udp_table *t, unsigned idx)
{
	if (t->sock[idx].flags & UDP_SOCK_F_BOUND)
		udp_hash_remove(t, idx);
	udp_sock_reset(udp_sock_w(t, idx));
}

int udp_socket_close(struct udp_table *t, uint32_t owner, uint32_t sid)
{
	if (!udp_sock_find(t, owner, sid))
		return -EBADF;
	udp_txn_begin(t);
	udp_sock_free(t, udp_sid_idx(sid));
	udp_txn_end(t);
	return 0;
}

unsigned udp_close_owner(struct udp_table *t, uint32_t owner)
{
	unsigned n = 0;

	udp_txn_begin(t);
	for (unsigned i = 0; i < UDP_SOCKETS_MAX; i++) {
		if (t->sock[i].in_use && t->sock[i].owner == owner) {
			udp_sock_free(t, i);
			n++;
		}
	}
	udp_txn_end(t);
	return n;
}

int udp_take_error(struct udp_table *t, uint32_t owner, uint32_t sid)
{
	struct udp_sock *s = udp_sock_find(t, owner, sid);
	int err;

	if (!s)
		return -EBADF;
	err = s->pending_error;
	if (err) {
		udp_txn_begin(t);
		udp_sock_w(t, udp_sid_idx(sid))->pending_error = 0;
		udp_txn_end(t);
	}
	return -err;
}

void udp_cork_clear(struct udp_sock *s)
{
	s->flags &= ~UDP_SOCK_F_CORK_PENDING;
	s->cork_len = 0;
	s->cork_saddr = 0;
	s->cork_daddr = 0;
	s->cork_sport = 0;
	s->cork_dport = 0;
}

/* --- the port hash --- */

void udp_hash_insert(struct udp_table *t, unsigned idx)
{
	unsigned b = udp_hash_bucket(t->sock[idx].lport);

	t->sock[idx].hnext = t->hash[b];
	t->hash[b] = (uint16_t)idx;
}

void udp_hash_remove(struct udp_table *t, unsigned idx)
{
	uint16_t *link = &t->hash[udp_hash_bucket(t->sock[idx].lport)];

	for (unsigned steps = 0; *link < UDP_SOCKETS_MAX && steps < UDP_SOCKETS_MAX; steps++) {
		if (*link == idx) {
			*link = t->sock[idx].hnext;
			break;
		}
		link = &t->sock[*link].hnext;
	}
	t->sock[idx].hnext = UDP_IDX_NONE;
}

void udp_hash_rebuild(struct udp_table *t)
{
	for (unsigned b = 0; b < UDP_HASH_BUCKETS; b++)
		t->hash[b] = UDP_IDX_NONE;
	/* Backwards so that each chain comes out in slot order (insert puts at the head). */
	for (unsigned i = UDP_SOCKETS_MAX; i-- > 0;) {
		t->sock[i].hnext = UDP_IDX_NONE;
		if (t->sock[i].in_use && (t->sock[i].flags & UDP_SOCK_F_BOUND))
			udp_hash_insert(t, i);
	}
}
