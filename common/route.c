/* route: the instance's routing table and Linux's output route lookup (design in route.h).
 *
 * Lookup is longest-prefix match over a handful of entries: a linear scan is the right data
 * structure at this size. Linux's rules kept (net/ipv4/route.c ip_route_output_key_hash_rcu,
 * __mkroute_output; fib_frontend.c fib_add_ifaddr, inet_addr_type):
 *   - a source given by the caller must be one of our addresses (multicast or a broadcast
 *     address is EINVAL, anything else not ours ENETUNREACH), and a loopback source only
 *     leaves through lo (EINVAL otherwise: 127/8 never reaches the wire);
 *   - 0.0.0.0 as a destination is this host: it becomes the source, or 127.0.0.1;
 *   - 255.255.255.255 and multicast are routed through the main table like any address (no
 *     default route: ENETUNREACH), then sent as link broadcast / multicast on that link;
 *   - a route through lo is LOCAL or BROADCAST by its local-table entry.
 */
#include "route.h"

#include <errno.h>
#include <string.h>

static void route_add(struct route_table *rt, uint8_t table, uint8_t type, uint32_t dest,
		      uint8_t prefix_len, uint32_t gateway, uint32_t prefsrc, uint8_t ifindex,
		      uint32_t mtu)
{
	rt->mask[rt->n] = ipv4_netmask(prefix_len);
	rt->e[rt->n++] = (struct route_entry){
		.dest = dest,
		.gateway = gateway,
		.prefsrc = prefsrc,
		.mtu = mtu,
		.prefix_len = prefix_len,
		.type = type,
		.table = table,
		.ifindex = ifindex,
	};
}

int route_table_init(struct route_table *rt, uint32_t addr, uint8_t prefix_len, uint32_t gateway,
		     uint32_t mtu)
{
	uint32_t mask = ipv4_netmask(prefix_len > 32 ? 32 : prefix_len);
	uint32_t lo = route_loopback_addr();

	if (prefix_len > 32 || addr == 0 || mtu == 0)
		return -EINVAL;
	memset(rt, 0, sizeof(*rt));
	rt->addr = addr;
	rt->prefix_len = prefix_len;
	rt->mtu = mtu;
	route_add(rt, ROUTE_TABLE_LOCAL, ROUTE_LOCAL, addr, 32, 0, addr, ROUTE_IFINDEX_LO,
		  ROUTE_LO_MTU);
	/* RFC 3021: a /31 has no broadcast address, and neither has a /32. */
	if (prefix_len <= 30)
		route_add(rt, ROUTE_TABLE_LOCAL, ROUTE_BROADCAST, (addr & mask) | ~mask, 32, 0, addr,
			  ROUTE_IFINDEX_NIC, mtu);
	route_add(rt, ROUTE_TABLE_LOCAL, ROUTE_LOCAL, htonl(0x7f000000u), 8, 0, lo,
		  ROUTE_IFINDEX_LO, ROUTE_LO_MTU);
	route_add(rt, ROUTE_TABLE_LOCAL, ROUTE_BROADCAST, htonl(0x7fffffffu), 32, 0, lo,
		  ROUTE_IFINDEX_LO, ROUTE_LO_MTU);
	route_add(rt, ROUTE_TABLE_MAIN, ROUTE_UNICAST, addr & mask, prefix_len, 0, addr,
		  ROUTE_IFINDEX_NIC, mtu);
	if (gateway)
		route_add(rt, ROUTE_TABLE_MAIN, ROUTE_UNICAST, 0, 0, gateway, addr,
			  ROUTE_IFINDEX_NIC, mtu);
	return 0;
}

/* Longest-prefix match for addr in one table, or NULL. */
static const struct route_entry *route_match(const struct route_table *rt, uint8_t table,
					     uint32_t addr)
{
	const struct route_entry *best = NULL;

	for (unsigned i = 0; i < rt->n && i < ROUTE_MAX; i++) {
		const struct route_entry *e = &rt->e[i];

		if ((addr & rt->mask[i]) != e->dest || e->table != table)
			continue;
		if (!best || e->prefix_len > best->prefix_len)
			best = e;
	}
	return best;
}

/* The local table's longest match, else the main table's (Linux looks up local first): both
 * in one pass, as this runs for every datagram sent, in udpd and again in ipd. */
static const struct route_entry *route_find(const struct route_table *rt, uint32_t addr)
{
	const struct route_entry *local = NULL, *main = NULL;

	for (unsigned i = 0; i < rt->n && i < ROUTE_MAX; i++) {
		const struct route_entry *e = &rt->e[i];

		if ((addr & rt->mask[i]) != e->dest)
			continue;
		if (e->table == ROUTE_TABLE_LOCAL) {
			if (!local || e->prefix_len > local->prefix_len)
				local = e;
		} else if (e->table == ROUTE_TABLE_MAIN) {
			if (!main || e->prefix_len > main->prefix_len)
				main = e;
		}
	}
	return local ? local : main;
}

enum route_type route_addr_type(const struct route_table *rt, uint32_t addr)
{
	const struct route_entry *e;

	/* Our own address, the destination of nearly every datagram received: its /32 LOCAL
	 * entry (route_table_init's first) is the longest match there can be. */
	if (addr == rt->addr && addr != 0)
		return ROUTE_LOCAL;
	if (addr == htonl(INADDR_BROADCAST))
		return ROUTE_BROADCAST;
	if (ipv4_is_multicast(addr))
		return ROUTE_MULTICAST;
	e = route_match(rt, ROUTE_TABLE_LOCAL, addr);
	return e ? (enum route_type)e->type : ROUTE_UNICAST;
}

int route_output(const struct route_table *rt, uint32_t daddr, uint32_t saddr,
		 struct route_result *res)
{
	const struct route_entry *e;

	if (saddr) {
		enum route_type st = route_addr_type(rt, saddr);

		if (st == ROUTE_MULTICAST || st == ROUTE_BROADCAST)
			return -EINVAL;
		if (st != ROUTE_LOCAL)
			return -ENETUNREACH;
	}
	if (daddr == 0) {
		/* Linux: "this host" is reached through lo, from and to the source if there is
		 * one, else 127.0.0.1. */
		daddr = saddr ? saddr : route_loopback_addr();
		*res = (struct route_result){
			.type = ROUTE_LOCAL,
			.daddr = daddr,
			.saddr = saddr ? saddr : daddr,
			.nexthop = daddr,
			.mtu = ROUTE_LO_MTU,
			.ifindex = ROUTE_IFINDEX_LO,
		};
		return 0;
	}
	e = route_find(rt, daddr);
	if (!e)
		return -ENETUNREACH;
	*res = (struct route_result){
		.type = (enum route_type)e->type,
		.daddr = daddr,
		.saddr = saddr ? saddr : e->prefsrc,
		.nexthop = e->gateway ? e->gateway : daddr,
		.mtu = e->mtu,
		.ifindex = e->ifindex,
	};
	if (e->table == ROUTE_TABLE_MAIN) {
		/* __mkroute_output: the limited broadcast and multicast go to the link, never to
		 * a gateway. */
		if (daddr == htonl(INADDR_BROADCAST))
			res->type = ROUTE_BROADCAST;
		else if (ipv4_is_multicast(daddr))
			res->type = ROUTE_MULTICAST;
		if (res->type != ROUTE_UNICAST)
			res->nexthop = daddr;
	}
	if (ipv4_is_loopback(res->saddr) && res->ifindex != ROUTE_IFINDEX_LO)
		return -EINVAL;
	return 0;
}

unsigned route_rx_ifindex(const struct route_table *rt, uint32_t daddr)
{
	(void)rt;
	return ipv4_is_loopback(daddr) ? ROUTE_IFINDEX_LO : ROUTE_IFINDEX_NIC;
}

uint32_t route_spec_dst(const struct route_table *rt, uint32_t saddr, uint32_t daddr)
{
	const struct route_entry *e;

	if (route_addr_type(rt, daddr) == ROUTE_LOCAL)
		return daddr;
	e = saddr ? route_find(rt, saddr) : NULL;
	return e ? e->prefsrc : rt->addr;
}

unsigned route_dump(const struct route_table *rt, struct route_entry *out, unsigned max)
{
	unsigned n = rt->n < max ? rt->n : max;

	memcpy(out, rt->e, n * sizeof(*out));
	return n;
}
