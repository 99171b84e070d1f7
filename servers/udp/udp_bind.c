/* udp_bind: local and peer addresses of a socket: bind, connect, disconnect, the names, the
 * ephemeral port allocator and the address classes the sending rules need.
 *
 * Linux rules kept (net/ipv4/af_inet.c __inet_bind, udp.c udp_lib_get_port/lport_inuse,
 * datagram.c __ip4_datagram_connect, udp.c __udp_disconnect):
 *   - a port is shared only if BOTH sockets set SO_REUSEADDR, otherwise the addresses must not
 *     overlap (equal, or either is ANY: binding 0.0.0.0:p while a.b.c.d:p is bound needs the
 *     flag on both too);
 *   - bind() on a socket that has a port (explicit, or autobound by connect/send) is -EINVAL;
 *   - explicit bind(port 0) that finds no free port is -EADDRINUSE, an autobind that finds none
 *     is -EAGAIN (inet_autobind);
 *   - connect() sets laddr to the source the route would use (h->addr) when bound to ANY, and
 *     disconnect undoes exactly what bind() did not choose: laddr unless BINDADDR_LOCK, the port
 *     unless BINDPORT_LOCK (so bind(0.0.0.0:0) + connect + disconnect unbinds, as in Linux).
 * Where we differ, and why:
 *   - the ephemeral port comes from a cursor walking the range (seeded by the shell), and a port
 *     is taken only if NO socket has it: Linux starts at a random point and may hand two
 *     SO_REUSEADDR sockets the same ephemeral port, which surprises more than it helps;
 *   - connect() checks the destination before autobinding, so a failed connect leaves the socket
 *     unbound (STYLE rule 10; Linux autobinds first and keeps the port);
 *   - multicast addresses are not bindable (-EADDRNOTAVAIL): this stack joins no groups;
 *   - a disconnect that releases the port of a socket bound to addr:0 also forgets addr (Linux
 *     keeps rcv_saddr on an unhashed socket, a state nothing else can reach).
 */
#include <arpa/inet.h>
#include <errno.h>

#include "udp_priv.h"

bool udp_addr_is_bcast(const struct udp_host *h, uint32_t addr)
{
	uint32_t mask;

	if (addr == INADDR_BROADCAST)
		return true;
	/* RFC 3021: a /31 has no broadcast address, and neither has a /32 (route.c agrees). */
	if (h->addr == 0 || h->prefix_len > 30)
		return false;
	mask = h->prefix_len ? htonl(~0u << (32 - h->prefix_len)) : 0;
	return addr == ((h->addr & mask) | ~mask);
}

bool udp_addr_is_mcast(uint32_t addr)
{
	return ntohl(addr) >> 28 == 0xe;
}

bool udp_addr_unroutable(const struct udp_host *h, uint32_t addr)
{
	return addr == 0 || ntohl(addr) >> 24 == 127 || addr == h->addr;
}

/* Some socket has port (any address). */
static bool udp_port_used(const struct udp_table *t, uint16_t port_be)
{
	unsigned i, steps;

	UDP_HASH_FOR_EACH(t, port_be, i, steps)
		if (t->sock[i].lport == port_be)
			return true;
	return false;
}

/* Next free port of the ephemeral range from the cursor; advances the cursor past it (inside
 * a transaction). */
static int udp_port_pick(struct udp_table *t, uint16_t *port_be)
{
	uint32_t lo = t->ports.lo, hi = t->ports.hi;
	uint32_t p = t->ports.next >= lo && t->ports.next <= hi ? t->ports.next : lo;

	for (uint32_t k = 0; k <= hi - lo; k++) {
		uint16_t cand = (uint16_t)p;

		p = p == hi ? lo : p + 1;
		if (!udp_port_used(t, htons(cand))) {
			udp_ports_w(t)->next = (uint16_t)p;
			*port_be = htons(cand);
			return 0;
		}
	}
	return -EAGAIN;
}

/* Inside a transaction, like every write below. */
static void udp_port_assign(struct udp_table *t, unsigned idx, uint16_t port_be)
{
	struct udp_sock *s = udp_sock_w(t, idx);

	s->lport = port_be;
	s->flags |= UDP_SOCK_F_BOUND;
	s->bind_seq = ++udp_ports_w(t)->bind_seq;
	udp_hash_insert(t, idx);
}

int udp_autobind(struct udp_table *t, unsigned idx)
{
	uint16_t port;

	if (udp_port_pick(t, &port) != 0)
		return -EAGAIN;
	udp_port_assign(t, idx, port);
	return 0;
}

void udp_unbind(struct udp_table *t, unsigned idx)
{
	struct udp_sock *s = udp_sock_w(t, idx);

	udp_hash_remove(t, idx);
	s->lport = 0;
	s->laddr = 0;
	s->bind_seq = 0;
	s->flags &= ~(UDP_SOCK_F_BOUND | UDP_SOCK_F_BINDADDR_LOCK | UDP_SOCK_F_BINDPORT_LOCK);
}

/* Another socket holds port on an address overlapping addr, and they may not share it. */
static bool udp_port_conflict(const struct udp_table *t, unsigned idx, uint32_t addr,
			      uint16_t port_be)
{
	const struct udp_sock *s = &t->sock[idx];
	unsigned j, steps;

	UDP_HASH_FOR_EACH(t, port_be, j, steps) {
		const struct udp_sock *o = &t->sock[j];

		if (j == idx || o->lport != port_be)
			continue;
		if (s->flags & o->flags & UDP_SOCK_F_REUSEADDR)
			continue;
		if (o->laddr == 0 || addr == 0 || o->laddr == addr)
			return true;
	}
	return false;
}

static int udp_bind_txn(struct udp_table *t, uint32_t owner, uint32_t sid,
			const struct udp_host *h, uint32_t addr, uint16_t port)
{
	struct udp_sock *s = udp_sock_find(t, owner, sid);
	unsigned idx = udp_sid_idx(sid);
	uint16_t lport = port;

	if (!s)
		return -EBADF;
	if (addr != 0 && !(h->addr != 0 && addr == h->addr) && !udp_addr_is_bcast(h, addr))
		return -EADDRNOTAVAIL;
	if (s->flags & UDP_SOCK_F_BOUND)
		return -EINVAL;
	if (port == 0) {
		if (udp_port_pick(t, &lport) != 0)
			return -EADDRINUSE;
	} else if (udp_port_conflict(t, idx, addr, port)) {
		return -EADDRINUSE;
	}
	s = udp_sock_w(t, idx);
	s->laddr = addr;
	udp_port_assign(t, idx, lport);
	if (addr != 0)
		s->flags |= UDP_SOCK_F_BINDADDR_LOCK;
	if (port != 0)
		s->flags |= UDP_SOCK_F_BINDPORT_LOCK;
	return 0;
}

int udp_bind(struct udp_table *t, uint32_t owner, uint32_t sid, const struct udp_host *h,
	     uint32_t addr, uint16_t port)
{
	udp_txn_begin(t);
	int rc = udp_bind_txn(t, owner, sid, h, addr, port);
	udp_txn_end(t);
	return rc;
}

static int udp_connect_txn(struct udp_table *t, uint32_t owner, uint32_t sid,
			   const struct udp_host *h, uint32_t addr, uint16_t port)
{
	struct udp_sock *s = udp_sock_find(t, owner, sid);
	unsigned idx = udp_sid_idx(sid);

	if (!s)
		return -EBADF;
	if (udp_addr_unroutable(h, addr))
		return -ENETUNREACH;
	if (udp_addr_is_bcast(h, addr) && !(s->flags & UDP_SOCK_F_BROADCAST))
		return -EACCES;
	if (!(s->flags & UDP_SOCK_F_BOUND) && udp_autobind(t, idx) != 0)
		return -EAGAIN;
	s = udp_sock_w(t, idx);
	if (s->laddr == 0)
		s->laddr = h->addr;
	s->raddr = addr;
	s->rport = port;
	s->flags |= UDP_SOCK_F_CONNECTED;
	return 0;
}

int udp_connect(struct udp_table *t, uint32_t owner, uint32_t sid, const struct udp_host *h,
		uint32_t addr, uint16_t port)
{
	udp_txn_begin(t);
	int rc = udp_connect_txn(t, owner, sid, h, addr, port);
	udp_txn_end(t);
	return rc;
}

int udp_disconnect(struct udp_table *t, uint32_t owner, uint32_t sid)
{
	struct udp_sock *s = udp_sock_find(t, owner, sid);
	unsigned idx = udp_sid_idx(sid);

	if (!s)
		return -EBADF;
	udp_txn_begin(t);
	s = udp_sock_w(t, idx);
	s->raddr = 0;
	s->rport = 0;
	s->flags &= ~UDP_SOCK_F_CONNECTED;
	if (!(s->flags & UDP_SOCK_F_BINDADDR_LOCK))
		s->laddr = 0;
	if ((s->flags & UDP_SOCK_F_BOUND) && !(s->flags & UDP_SOCK_F_BINDPORT_LOCK))
		udp_unbind(t, idx);
	udp_txn_end(t);
	return 0;
}

int udp_getname(const struct udp_table *t, uint32_t owner, uint32_t sid, bool peer,
		uint32_t *addr, uint16_t *port)
{
	const struct udp_sock *s = udp_sock_get(t, owner, sid);

	if (!s)
		return -EBADF;
	if (peer) {
		if (!(s->flags & UDP_SOCK_F_CONNECTED))
			return -ENOTCONN;
		*addr = s->raddr;
		*port = s->rport;
	} else {
		*addr = s->laddr;
		*port = s->lport;
	}
	return 0;
}
