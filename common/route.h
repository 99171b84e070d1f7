/* route: the routing table of one ustack instance and Linux's output route lookup on it. Pure
 * (no I/O, no state outside the table), so every layer that must decide a route decides it the
 * same way from the same config: ipd routes what it sends, udpd answers connect() and checks
 * sends, libsock refuses an unreachable sendto() at the call (docs/ARCHITECTURE.md: Linux decides
 * the route synchronously in udp_sendmsg / ip4_datagram_connect, and so do we).
 *
 * The table is what Linux builds for one interface with one address plus the loopback
 * interface (`ip route show table all` on such a host), made from the instance config by
 * route_table_init:
 *   local table    local     A/32              dev lo   src A     (our own address)
 *                  broadcast B/32              dev nic  src A     (subnet broadcast; none for
 *                                                                  /31 and /32: RFC 3021)
 *                  local     127.0.0.0/8       dev lo   src 127.0.0.1
 *                  broadcast 127.255.255.255   dev lo   src 127.0.0.1
 *   main table     unicast   A&mask/P          dev nic  src A     (the connected subnet)
 *                  unicast   0.0.0.0/0 via G   dev nic  src A     (only with a gateway)
 * The local table is searched first, then the main table, each by longest prefix (Linux's
 * fib_lookup with the default rules). A route through dev lo is delivered by the loopback
 * interface: back up the stack without touching the wire. lo's MTU is 65,536 as Linux's.
 *
 * Interface indexes, as an application sees them (IP_PKTINFO): lo is 1, the NIC is 2.
 *
 * Addresses are in network byte order everywhere.
 */
#ifndef USTACK_ROUTE_H
#define USTACK_ROUTE_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipv4_addr.h"

#define ROUTE_MAX 8u
#define ROUTE_IFINDEX_LO 1u
#define ROUTE_IFINDEX_NIC 2u
#define ROUTE_LO_MTU 65536u
#define ROUTE_TTL_DEFAULT 64u /* Linux net.ipv4.ip_default_ttl (RFC 1700) */

enum route_type {
	ROUTE_UNICAST = 1, /* a remote host, on the link or through the gateway */
	ROUTE_LOCAL,       /* one of our addresses: delivered by the loopback interface */
	ROUTE_BROADCAST,   /* a broadcast address of one of our links */
	ROUTE_MULTICAST,   /* 224.0.0.0/4, sent on the link the main table names */
	ROUTE_TYPE_COUNT
};

enum route_table_id {
	ROUTE_TABLE_LOCAL = 1,
	ROUTE_TABLE_MAIN,
};

struct route_entry {
	uint32_t dest;       /* network order */
	uint32_t gateway;    /* 0: on the link */
	uint32_t prefsrc;    /* the source a datagram on this route gets unless bound */
	uint32_t mtu;        /* of the route's device */
	uint8_t prefix_len;
	uint8_t type;        /* enum route_type */
	uint8_t table;       /* enum route_table_id */
	uint8_t ifindex;     /* ROUTE_IFINDEX_* of the device it leaves by */
};

struct route_table {
	uint32_t addr;       /* our address on the NIC */
	uint8_t prefix_len;
	uint32_t mtu;        /* the NIC's */
	unsigned n;
	struct route_entry e[ROUTE_MAX];
	uint32_t mask[ROUTE_MAX]; /* e[i]'s netmask, network order: the lookup's per-entry test is
				   * one AND and one compare (it runs several times a packet) */
};

/* The outcome of route_output: what a datagram to daddr needs to leave. */
struct route_result {
	enum route_type type;
	uint32_t daddr;      /* the destination (0.0.0.0 becomes a loopback address, as Linux) */
	uint32_t saddr;      /* the source: the caller's, or the route's preferred one */
	uint32_t nexthop;    /* the neighbour to resolve (the gateway, or daddr itself) */
	uint32_t mtu;        /* of the device it leaves by */
	unsigned ifindex;    /* ROUTE_IFINDEX_* */
};

static inline uint32_t route_loopback_addr(void)
{
	return htonl(INADDR_LOOPBACK);
}

/* Build the table of an instance with address addr/prefix_len, default gateway (0: none) and
 * NIC MTU. 0, or -EINVAL (prefix over 32, no address, MTU 0). */
int route_table_init(struct route_table *rt, uint32_t addr, uint8_t prefix_len, uint32_t gateway,
		     uint32_t mtu);

/* Linux's ip_route_output_key for a datagram from saddr (0: not bound) to daddr:
 *   -EINVAL       saddr is multicast or a broadcast address, or is a loopback address and the
 *                 route leaves by the NIC (a 127/8 source never reaches the wire);
 *   -ENETUNREACH  saddr is not one of our addresses, or no route matches daddr (no default
 *                 route: 255.255.255.255 and multicast are unreachable too, as in Linux);
 *   0             res filled. daddr 0.0.0.0 means this host: it becomes saddr, or 127.0.0.1.
 * Whether a broadcast may be sent (SO_BROADCAST) is the caller's to judge from res->type. */
int route_output(const struct route_table *rt, uint32_t daddr, uint32_t saddr,
		 struct route_result *res);

/* Linux's inet_addr_type: LOCAL for our addresses (127/8 included), BROADCAST for
 * 255.255.255.255 and the broadcast addresses of the local table, MULTICAST, else UNICAST
 * (0.0.0.0 included: callers treat INADDR_ANY before asking). */
enum route_type route_addr_type(const struct route_table *rt, uint32_t addr);

/* The interface a datagram for daddr was received on, as IP_PKTINFO reports it: lo for 127/8,
 * the NIC otherwise (Linux reports our own address on the device that owns it). */
unsigned route_rx_ifindex(const struct route_table *rt, uint32_t daddr);

/* ipi_spec_dst of a datagram from saddr to daddr (Linux fib_compute_spec_dst): daddr itself
 * when it is one of ours, else the preferred source of the route back to saddr (a broadcast is
 * answered from our address on that link). */
uint32_t route_spec_dst(const struct route_table *rt, uint32_t saddr, uint32_t daddr);

/* Copy up to max entries (local table first) for `ustackctl route`. Returns how many. */
unsigned route_dump(const struct route_table *rt, struct route_entry *out, unsigned max);

#endif
