/* route: the routing table (the connected subnet and a default route, both from config) and
 * the address classification every other file asks about.
 *
 * Lookup is longest-prefix match over a handful of entries; a linear scan is the right data
 * structure at this size. A host does not forward (RFC 1122 §3.3.1), so the table only ever
 * decides the next hop of datagrams we originate. Destinations that name no single remote host
 * are answered here too: the limited broadcast goes out on the connected link (RFC 1122
 * §3.3.6), multicast likewise (RFC 1112 §6.4, sending only); our own address and 127/8 have no
 * route because this stack has no loopback interface.
 */
#include <arpa/inet.h>
#include <errno.h>

#include "ip_priv.h"

static uint32_t route_mask(uint8_t prefix_len)
{
	return prefix_len ? htonl(~0u << (32 - prefix_len)) : 0;
}

void route_init(struct ip_core *core)
{
	const struct ip_config *cfg = &core->cfg;

	core->netmask = route_mask(cfg->prefix_len);
	/* RFC 3021: a /31 has no broadcast address, and neither has a /32. */
	core->subnet_bcast = cfg->prefix_len <= 30 ? (cfg->addr & core->netmask) | ~core->netmask
						   : 0;
	core->n_routes = 0;
	core->routes[core->n_routes++] = (struct ip_route_entry){
		.dest = cfg->addr & core->netmask,
		.prefix_len = cfg->prefix_len,
		.gateway = 0,
	};
	if (cfg->gateway)
		core->routes[core->n_routes++] = (struct ip_route_entry){
			.dest = 0,
			.prefix_len = 0,
			.gateway = cfg->gateway,
		};
}

bool route_is_bcast(const struct ip_core *core, uint32_t addr)
{
	return addr == INADDR_BROADCAST || (core->subnet_bcast && addr == core->subnet_bcast);
}

bool route_is_gateway(const struct ip_core *core, uint32_t addr)
{
	for (unsigned i = 0; i < core->n_routes; i++)
		if (core->routes[i].gateway && core->routes[i].gateway == addr)
			return true;
	return false;
}

bool route_is_mcast(uint32_t addr)
{
	return ntohl(addr) >> 28 == 0xe;
}

static bool route_is_loopback(uint32_t addr)
{
	return ntohl(addr) >> 24 == 127;
}

bool route_is_bad_src(const struct ip_core *core, uint32_t addr)
{
	return addr == 0 || route_is_bcast(core, addr) || route_is_mcast(addr) ||
	       route_is_loopback(addr) || addr == core->cfg.addr;
}

int route_lookup(const struct ip_core *core, uint32_t daddr, uint32_t *nexthop)
{
	const struct ip_route_entry *best = NULL;

	if (daddr == INADDR_BROADCAST || route_is_mcast(daddr)) {
		*nexthop = daddr;
		return 0;
	}
	if (daddr == 0 || daddr == core->cfg.addr || route_is_loopback(daddr))
		return -EHOSTUNREACH;
	for (unsigned i = 0; i < core->n_routes; i++) {
		const struct ip_route_entry *r = &core->routes[i];

		if ((daddr & route_mask(r->prefix_len)) != r->dest)
			continue;
		if (!best || r->prefix_len > best->prefix_len)
			best = r;
	}
	if (!best)
		return -EHOSTUNREACH;
	*nexthop = best->gateway ? best->gateway : daddr;
	return 0;
}
