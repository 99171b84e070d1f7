/* route: ipd's side of the routing table. The table itself and the output lookup are the pure
 * module common/route.h, shared with udpd and libsock so that every layer decides a route the
 * same way (STYLE 21); here are the judgements only ipd makes, about datagrams from the wire.
 *
 * A host does not forward (RFC 1122 §3.3.1), so the table only ever decides the next hop of
 * datagrams we originate; ipv4_output.c sends through it, including the loopback interface
 * that takes our own address and 127/8 straight back up the stack.
 */
#include <arpa/inet.h>
#include <errno.h>

#include "ip_priv.h"

int route_init(struct ip_core *core)
{
	const struct ip_config *cfg = &core->cfg;

	return route_table_init(&core->rt, cfg->addr, cfg->prefix_len, cfg->gateway, cfg->mtu);
}

bool route_is_bcast(const struct ip_core *core, uint32_t addr)
{
	return !ipv4_is_loopback(addr) && route_addr_type(&core->rt, addr) == ROUTE_BROADCAST;
}

bool route_is_gateway(const struct ip_core *core, uint32_t addr)
{
	for (unsigned i = 0; i < core->rt.n; i++)
		if (core->rt.e[i].gateway && core->rt.e[i].gateway == addr)
			return true;
	return false;
}

bool route_is_bad_src(const struct ip_core *core, uint32_t addr)
{
	return addr == 0 || route_is_bcast(core, addr) || ipv4_is_multicast(addr) ||
	       ipv4_is_loopback(addr) || addr == core->cfg.addr;
}
