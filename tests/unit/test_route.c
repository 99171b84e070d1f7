/* test_route: the routing table every layer decides routes by (common/route.h): the table
 * Linux builds for one interface plus lo, and Linux's output lookup on it (ip_route_output_key:
 * local table first, longest prefix, 0.0.0.0 as this host, the limited broadcast and multicast
 * through the main table, source address rules), inet_addr_type, IP_PKTINFO's interface and
 * reply address. Each expectation is what Linux 6.x answers on a host configured the same way
 * (`ip route show table all`, `ip route get`). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "helper_check.h"
#include "route.h"

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

#define OUR ip4(10, 0, 0, 2)
#define PEER ip4(10, 0, 0, 5)
#define GW ip4(10, 0, 0, 1)
#define FAR ip4(192, 0, 2, 7)
#define SUBNET_BCAST ip4(10, 0, 0, 255)
#define LBCAST ip4(255, 255, 255, 255)
#define LO ip4(127, 0, 0, 1)

static struct route_table gw, nogw;

static void setup(void)
{
	ck_assert_int_eq(route_table_init(&gw, OUR, 24, GW, 1500), 0);
	ck_assert_int_eq(route_table_init(&nogw, OUR, 24, 0, 1400), 0);
}

START_TEST(table_as_linux_builds_it)
{
	struct route_entry e[ROUTE_MAX];
	struct route_table t;

	ck_assert_uint_eq(route_dump(&gw, e, ROUTE_MAX), 6);
	ck_assert_uint_eq(route_dump(&nogw, e, ROUTE_MAX), 5);
	/* local OUR dev lo src OUR */
	ck_assert_uint_eq(e[0].table, ROUTE_TABLE_LOCAL);
	ck_assert_uint_eq(e[0].type, ROUTE_LOCAL);
	ck_assert_uint_eq(e[0].dest, OUR);
	ck_assert_uint_eq(e[0].ifindex, ROUTE_IFINDEX_LO);
	/* broadcast SUBNET_BCAST dev nic src OUR */
	ck_assert_uint_eq(e[1].type, ROUTE_BROADCAST);
	ck_assert_uint_eq(e[1].dest, SUBNET_BCAST);
	ck_assert_uint_eq(e[1].ifindex, ROUTE_IFINDEX_NIC);
	ck_assert_uint_eq(e[1].mtu, 1400);
	/* 10.0.0.0/24 dev nic src OUR */
	ck_assert_uint_eq(e[4].table, ROUTE_TABLE_MAIN);
	ck_assert_uint_eq(e[4].dest, ip4(10, 0, 0, 0));
	ck_assert_uint_eq(e[4].prefix_len, 24);
	ck_assert_uint_eq(e[4].prefsrc, OUR);
	ck_assert_uint_eq(route_dump(&gw, e, 2), 2);
	/* RFC 3021: no broadcast route for /31 and /32. */
	ck_assert_int_eq(route_table_init(&t, OUR, 31, 0, 1500), 0);
	ck_assert_uint_eq(route_dump(&t, e, ROUTE_MAX), 4);
	ck_assert_int_eq(route_addr_type(&t, ip4(10, 0, 0, 3)), ROUTE_UNICAST);
	ck_assert_int_eq(route_table_init(&t, OUR, 32, 0, 1500), 0);
	ck_assert_uint_eq(route_dump(&t, e, ROUTE_MAX), 4);
	/* Refused: no address, a prefix over 32, no MTU. */
	ck_assert_int_eq(route_table_init(&t, 0, 24, 0, 1500), -EINVAL);
	ck_assert_int_eq(route_table_init(&t, OUR, 33, 0, 1500), -EINVAL);
	ck_assert_int_eq(route_table_init(&t, OUR, 24, 0, 0), -EINVAL);
}
END_TEST

START_TEST(unicast_on_link_and_through_the_gateway)
{
	struct route_result r;

	ck_assert_int_eq(route_output(&gw, PEER, 0, &r), 0);
	ck_assert_int_eq(r.type, ROUTE_UNICAST);
	ck_assert_uint_eq(r.nexthop, PEER);
	ck_assert_uint_eq(r.saddr, OUR);
	ck_assert_uint_eq(r.daddr, PEER);
	ck_assert_uint_eq(r.mtu, 1500);
	ck_assert_uint_eq(r.ifindex, ROUTE_IFINDEX_NIC);
	ck_assert_int_eq(route_output(&gw, FAR, 0, &r), 0);
	ck_assert_uint_eq(r.nexthop, GW);
	ck_assert_uint_eq(r.saddr, OUR);
	/* The network address is an ordinary destination on Linux 6.x (no broadcast route). */
	ck_assert_int_eq(route_output(&nogw, ip4(10, 0, 0, 0), 0, &r), 0);
	ck_assert_int_eq(r.type, ROUTE_UNICAST);
	/* Without a default route only the link is reachable. */
	ck_assert_int_eq(route_output(&nogw, FAR, 0, &r), -ENETUNREACH);
}
END_TEST

START_TEST(broadcast_and_multicast)
{
	struct route_result r;

	/* The limited broadcast and multicast need a main-table route, as in Linux... */
	ck_assert_int_eq(route_output(&nogw, LBCAST, 0, &r), -ENETUNREACH);
	ck_assert_int_eq(route_output(&nogw, ip4(224, 0, 0, 251), 0, &r), -ENETUNREACH);
	/* ...then leave on that link, never through the gateway. */
	ck_assert_int_eq(route_output(&gw, LBCAST, 0, &r), 0);
	ck_assert_int_eq(r.type, ROUTE_BROADCAST);
	ck_assert_uint_eq(r.nexthop, LBCAST);
	ck_assert_int_eq(route_output(&gw, ip4(239, 1, 2, 3), 0, &r), 0);
	ck_assert_int_eq(r.type, ROUTE_MULTICAST);
	ck_assert_uint_eq(r.nexthop, ip4(239, 1, 2, 3));
	/* The subnet broadcast is in the local table: reachable without a default route. */
	ck_assert_int_eq(route_output(&nogw, SUBNET_BCAST, 0, &r), 0);
	ck_assert_int_eq(r.type, ROUTE_BROADCAST);
	ck_assert_uint_eq(r.ifindex, ROUTE_IFINDEX_NIC);
	ck_assert_uint_eq(r.saddr, OUR);
	/* lo's broadcast address stays on lo. */
	ck_assert_int_eq(route_output(&nogw, ip4(127, 255, 255, 255), 0, &r), 0);
	ck_assert_int_eq(r.type, ROUTE_BROADCAST);
	ck_assert_uint_eq(r.ifindex, ROUTE_IFINDEX_LO);
	ck_assert_uint_eq(r.saddr, LO);
}
END_TEST

START_TEST(local_through_loopback)
{
	struct route_result r;

	ck_assert_int_eq(route_output(&nogw, OUR, 0, &r), 0);
	ck_assert_int_eq(r.type, ROUTE_LOCAL);
	ck_assert_uint_eq(r.ifindex, ROUTE_IFINDEX_LO);
	ck_assert_uint_eq(r.saddr, OUR);
	ck_assert_uint_eq(r.mtu, ROUTE_LO_MTU);
	ck_assert_int_eq(route_output(&nogw, ip4(127, 1, 2, 3), 0, &r), 0);
	ck_assert_int_eq(r.type, ROUTE_LOCAL);
	ck_assert_uint_eq(r.saddr, LO); /* lo's preferred source */
	ck_assert_uint_eq(r.daddr, ip4(127, 1, 2, 3));
	/* 0.0.0.0 is this host: 127.0.0.1 from 127.0.0.1, or the source itself. */
	ck_assert_int_eq(route_output(&nogw, 0, 0, &r), 0);
	ck_assert_int_eq(r.type, ROUTE_LOCAL);
	ck_assert_uint_eq(r.daddr, LO);
	ck_assert_uint_eq(r.saddr, LO);
	ck_assert_int_eq(route_output(&nogw, 0, OUR, &r), 0);
	ck_assert_uint_eq(r.daddr, OUR);
	ck_assert_uint_eq(r.saddr, OUR);
}
END_TEST

START_TEST(source_address_rules)
{
	struct route_result r;

	/* A bound source is kept, our address to lo's destinations too. */
	ck_assert_int_eq(route_output(&gw, LO, OUR, &r), 0);
	ck_assert_uint_eq(r.saddr, OUR);
	ck_assert_int_eq(route_output(&gw, OUR, LO, &r), 0);
	ck_assert_uint_eq(r.saddr, LO);
	/* A 127/8 source never leaves by the NIC. */
	ck_assert_int_eq(route_output(&gw, PEER, LO, &r), -EINVAL);
	ck_assert_int_eq(route_output(&gw, SUBNET_BCAST, LO, &r), -EINVAL);
	ck_assert_int_eq(route_output(&gw, FAR, ip4(127, 0, 0, 5), &r), -EINVAL);
	/* A source that is not ours: ENETUNREACH; multicast or broadcast: EINVAL. */
	ck_assert_int_eq(route_output(&gw, PEER, PEER, &r), -ENETUNREACH);
	ck_assert_int_eq(route_output(&gw, PEER, ip4(224, 0, 0, 1), &r), -EINVAL);
	ck_assert_int_eq(route_output(&gw, PEER, LBCAST, &r), -EINVAL);
	ck_assert_int_eq(route_output(&gw, PEER, SUBNET_BCAST, &r), -EINVAL);
}
END_TEST

START_TEST(addr_type_as_inet_addr_type)
{
	ck_assert_int_eq(route_addr_type(&gw, OUR), ROUTE_LOCAL);
	ck_assert_int_eq(route_addr_type(&gw, LO), ROUTE_LOCAL);
	ck_assert_int_eq(route_addr_type(&gw, ip4(127, 200, 0, 1)), ROUTE_LOCAL);
	ck_assert_int_eq(route_addr_type(&gw, ip4(127, 255, 255, 255)), ROUTE_BROADCAST);
	ck_assert_int_eq(route_addr_type(&gw, SUBNET_BCAST), ROUTE_BROADCAST);
	ck_assert_int_eq(route_addr_type(&gw, LBCAST), ROUTE_BROADCAST);
	ck_assert_int_eq(route_addr_type(&gw, ip4(224, 0, 0, 1)), ROUTE_MULTICAST);
	ck_assert_int_eq(route_addr_type(&gw, PEER), ROUTE_UNICAST);
	ck_assert_int_eq(route_addr_type(&gw, ip4(10, 0, 0, 0)), ROUTE_UNICAST);
	ck_assert_int_eq(route_addr_type(&gw, ip4(0, 1, 2, 3)), ROUTE_UNICAST);
	ck_assert(ipv4_is_loopback(ip4(127, 0, 0, 9)));
	ck_assert(!ipv4_is_loopback(ip4(128, 0, 0, 1)));
	ck_assert(ipv4_is_multicast(ip4(239, 255, 255, 255)));
	ck_assert(!ipv4_is_multicast(ip4(240, 0, 0, 1)));
}
END_TEST

/* What IP_PKTINFO reports (Linux ipv4_pktinfo_prepare, fib_compute_spec_dst). */
START_TEST(pktinfo_interface_and_reply_address)
{
	ck_assert_uint_eq(route_rx_ifindex(&gw, LO), ROUTE_IFINDEX_LO);
	ck_assert_uint_eq(route_rx_ifindex(&gw, OUR), ROUTE_IFINDEX_NIC);
	ck_assert_uint_eq(route_rx_ifindex(&gw, SUBNET_BCAST), ROUTE_IFINDEX_NIC);
	/* To one of ours: that address. */
	ck_assert_uint_eq(route_spec_dst(&gw, PEER, OUR), OUR);
	ck_assert_uint_eq(route_spec_dst(&gw, LO, ip4(127, 0, 0, 9)), ip4(127, 0, 0, 9));
	/* A broadcast: the source of the route back to the sender. */
	ck_assert_uint_eq(route_spec_dst(&gw, PEER, SUBNET_BCAST), OUR);
	ck_assert_uint_eq(route_spec_dst(&gw, LO, ip4(127, 255, 255, 255)), LO);
	ck_assert_uint_eq(route_spec_dst(&nogw, FAR, LBCAST), OUR); /* no route back: the NIC's */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("table");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, table_as_linux_builds_it);
	tcase_add_test(tc, unicast_on_link_and_through_the_gateway);
	tcase_add_test(tc, broadcast_and_multicast);
	tcase_add_test(tc, local_through_loopback);
	tcase_add_test(tc, source_address_rules);
	tcase_add_test(tc, addr_type_as_inet_addr_type);
	tcase_add_test(tc, pktinfo_interface_and_reply_address);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
