/* udp_bind: local and peer addresses of a socket: bind, connect, disconnect, the names, the
 * ephemeral port allocator and the address classes the sending rules need.
 *
 * Linux rules kept (net/ipv4/af_inet.c __inet_bind, inet_dgram_connect, udp.c
 * udp_lib_get_port/udp_lib_lport_inuse, datagram.c __ip4_datagram_connect, udp.c
 * __udp_disconnect):
 *   - bind() takes what inet_addr_type calls ours, a broadcast or a multicast address (the
 *     routing table decides: common/route.h); a socket bound to a broadcast or multicast
 *     address sends from the route's source (inet_saddr stays 0);
 *   - a port is shared only if BOTH sockets set SO_REUSEADDR, or BOTH set SO_REUSEPORT and
 *     belong to one uid; otherwise the addresses must not overlap (equal, or either is ANY:
 *     binding 0.0.0.0:p while a.b.c.d:p is bound needs the flag on both too). A socket that
 *     gets its port with SO_REUSEPORT on joins the group of its port and address (only sockets
 *     on the same port, address and uid share one);
 *   - bind() on a socket that has a port (explicit, or autobound by connect/send) is -EINVAL;
 *   - explicit bind(port 0) that finds no free port is -EADDRINUSE, an autobind that finds none
 *     is -EAGAIN (inet_autobind);
 *   - connect() autobinds first (inet_dgram_connect), so a connect that fails on its route keeps
 *     the port, then routes (ip_route_connect): the socket's address becomes the route's source
 *     when it has none, 0.0.0.0 becomes this host;
 *   - disconnect undoes exactly what bind() did not choose: the addresses unless BINDADDR_LOCK,
 *     the port unless BINDPORT_LOCK (so bind(0.0.0.0:0) + connect + disconnect unbinds, as in
 *     Linux).
 * Where we differ, and why:
 *   - the ephemeral port comes from a cursor walking the range (seeded by the shell), and a port
 *     is taken only if NO socket has it: Linux starts at a random point and may hand two
 *     SO_REUSEADDR sockets the same ephemeral port, which surprises more than it helps;
 *   - a disconnect that releases the port of a socket bound to addr:0 also forgets addr (Linux
 *     keeps rcv_saddr on an unhashed socket, a state nothing else can reach).
 */
#include <arpa/inet.h>
#include <errno.h>

#include "udp_priv.h"

int udp_host_init(struct udp_host *h, uint32_t addr, uint8_t prefix_len, uint32_t gateway,
		  uint32_t mtu)
{
	return route_table_init(&h->rt, addr, prefix_len, gateway, mtu);
}

bool udp_addr_bindable(const struct udp_host *h, uint32_t addr)
{
	return addr == 0 || route_addr_type(&h->rt, addr) != ROUTE_UNICAST;
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
	if (s->ext.flags & UDP_EXT_F_REUSEPORT)
		s->ext.flags |= UDP_EXT_F_RP_GROUP;
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
	s->ext.saddr = 0;
	s->ext.flags &= ~UDP_EXT_F_RP_GROUP;
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
		if (!(o->laddr == 0 || addr == 0 || o->laddr == addr))
			continue;
		/* udp_lib_lport_inuse: both SO_REUSEPORT (as set now), one uid. */
		if ((s->ext.flags & o->ext.flags & UDP_EXT_F_REUSEPORT) && s->ext.uid == o->ext.uid)
			continue;
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
	enum route_type type;

	if (!s)
		return -EBADF;
	if (!udp_addr_bindable(h, addr))
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
	type = addr ? route_addr_type(&h->rt, addr) : ROUTE_UNICAST;
	/* __inet_bind: a broadcast or multicast bind sends from the route's source. */
	s->ext.saddr = type == ROUTE_BROADCAST || type == ROUTE_MULTICAST ? 0 : addr;
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

int udp_autobind_sock(struct udp_table *t, uint32_t owner, uint32_t sid)
{
	struct udp_sock *s = udp_sock_find(t, owner, sid);
	int rc = 0;

	if (!s)
		return -EBADF;
	if (!(s->flags & UDP_SOCK_F_BOUND)) {
		udp_txn_begin(t);
		if (udp_autobind(t, udp_sid_idx(sid)) != 0)
			rc = -EAGAIN;
		udp_txn_end(t);
	}
	return rc;
}

static int udp_connect_txn(struct udp_table *t, uint32_t owner, uint32_t sid,
			   const struct udp_host *h, uint32_t addr, uint16_t port)
{
	struct udp_sock *s = udp_sock_find(t, owner, sid);
	unsigned idx = udp_sid_idx(sid);
	struct route_result r;
	int rc;

	if (!s)
		return -EBADF;
	/* inet_dgram_connect autobinds before ip4_datagram_connect looks at the address, and a
	 * connect that then fails keeps the port: getsockname shows it, as on Linux (the
	 * autobind commits with the transaction whatever follows). */
	if (!(s->flags & UDP_SOCK_F_BOUND) && udp_autobind(t, idx) != 0)
		return -EAGAIN;
	rc = route_output(&h->rt, addr, s->ext.saddr, &r);
	if (rc < 0)
		return rc;
	if (r.type == ROUTE_BROADCAST && !(s->flags & UDP_SOCK_F_BROADCAST))
		return -EACCES;
	s = udp_sock_w(t, idx);
	if (!s->ext.saddr)
		s->ext.saddr = r.saddr;
	if (s->laddr == 0)
		s->laddr = r.saddr;
	s->raddr = r.daddr;
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
	if (!(s->flags & UDP_SOCK_F_BINDADDR_LOCK)) {
		s->laddr = 0;
		s->ext.saddr = 0;
	}
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
		/* inet_getname: no peer port, no peer (a socket connected to port 0 has one for
		 * receiving, not for naming). */
		if (!(s->flags & UDP_SOCK_F_CONNECTED) || s->rport == 0)
			return -ENOTCONN;
		*addr = s->raddr;
		*port = s->rport;
	} else {
		*addr = s->laddr;
		*port = s->lport;
	}
	return 0;
}

int udp_get_saddr(const struct udp_table *t, uint32_t owner, uint32_t sid, uint32_t *saddr)
{
	if (!udp_sock_get(t, owner, sid))
		return -EBADF;
	*saddr = t->sock[udp_sid_idx(sid)].ext.saddr;
	return 0;
}
