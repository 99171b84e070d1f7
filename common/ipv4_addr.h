/* ipv4_addr: what kind of address an IPv4 address is (RFC 1122 §3.2.1.3, RFC 5735, RFC 3021).
 * The one home of these predicates (STYLE 21): every layer, tool and library asks here. Addresses
 * are in network byte order, as everywhere in the stack. Pure, header only. */
#ifndef USTACK_IPV4_ADDR_H
#define USTACK_IPV4_ADDR_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>

/* 0.0.0.0: "this host" as a source, INADDR_ANY as a bind address. */
static inline bool ipv4_is_any(uint32_t a) { return a == 0; }

/* 0.0.0.0/8: "this network", never a destination. */
static inline bool ipv4_is_zeronet(uint32_t a) { return ntohl(a) >> 24 == 0; }

/* 255.255.255.255, the limited broadcast. */
static inline bool ipv4_is_lbcast(uint32_t a) { return a == 0xffffffffu; }

/* 127.0.0.0/8. */
static inline bool ipv4_is_loopback(uint32_t a) { return ntohl(a) >> 24 == 127; }

/* 224.0.0.0/4. */
static inline bool ipv4_is_multicast(uint32_t a) { return ntohl(a) >> 28 == 0xe; }

/* 240.0.0.0/4 (class E, reserved; includes the limited broadcast). */
static inline bool ipv4_is_class_e(uint32_t a) { return ntohl(a) >> 28 == 0xf; }

/* The netmask of a prefix length 0..32. */
static inline uint32_t ipv4_netmask(uint8_t prefix_len)
{
	return prefix_len ? htonl(0xffffffffu << (32 - prefix_len)) : 0;
}

/* a and b are in one prefix_len subnet. */
static inline bool ipv4_same_subnet(uint32_t a, uint32_t b, uint8_t prefix_len)
{
	return ((a ^ b) & ipv4_netmask(prefix_len)) == 0;
}

/* The directed broadcast of addr/prefix_len, or 0 when the prefix has none (/31 and /32:
 * RFC 3021; /0 makes no sense as a subnet). */
static inline uint32_t ipv4_subnet_bcast(uint32_t addr, uint8_t prefix_len)
{
	if (prefix_len == 0 || prefix_len >= 31)
		return 0;
	return addr | ~ipv4_netmask(prefix_len);
}

/* An address that may name one host on the wire: not 0/8, not loopback, not multicast or
 * class E (so not the limited broadcast). A subnet's own broadcast is judged with
 * ipv4_subnet_bcast by whoever knows the subnet. */
static inline bool ipv4_is_host_unicast(uint32_t a)
{
	return !ipv4_is_zeronet(a) && !ipv4_is_loopback(a) && !ipv4_is_multicast(a) &&
	       !ipv4_is_class_e(a);
}

#endif
