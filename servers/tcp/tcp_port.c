/* tcp_port: ephemeral port choice (RFC 6056 §3.3.4, Algorithm 4 "double-hash port selection",
 * as Linux's __inet_hash_connect).
 *
 *   offset = F(laddr, raddr, rport, key)          where the search starts for this destination
 *   index  = G(laddr, raddr, rport, key) mod 2^16 which counter of table[] it advances
 *   port   = lo + (offset + table[index] + i) mod n, i = 0, 1, ... until `free` accepts one
 *   table[index] += i + 1 (+1 in 1/16 of the cases)
 *
 * Successive connections to one destination take successive ports (so a 4-tuple is not
 * reused soon, which TIME-WAIT would refuse), while the sequence seen by one destination says
 * nothing about the ports used towards others: F is keyed, and other destinations advance
 * other counters. F and G are two halves of one SipHash output (Linux: "use different parts
 * of port_offset for index and offset").
 *
 * RFC 6056 initialises table[] with random values; the table lives zeroed in the shared
 * table, so each counter's starting value is a keyed hash of its index instead (the same
 * secret, the same effect). The extra step in 1/16 of the cases is Linux's noise against
 * observers who count their own connections' ports to learn a counter's advance; it is keyed
 * too (the core draws no random numbers). The table has 2^16 entries (CVE-2022-1012).
 *
 * The walk visits every port of the range exactly once (the modulo is taken before adding
 * i, in 64 bits), so "0: exhausted" means every port was offered to `free`.
 */
#include <arpa/inet.h>
#include <string.h>

#include "tcp_priv.h"

uint16_t tcp_port_pick(struct tcp_table *t, uint32_t laddr, uint32_t raddr, uint16_t rport,
		       tcp_port_free_fn free_fn)
{
	uint32_t lo = t->port_lo ? t->port_lo : 1, hi = t->port_hi;
	uint32_t n, start, index, ctr, base;
	uint8_t m[10];
	uint64_t h;

	if (lo > hi)
		return 0;
	n = hi - lo + 1;
	memcpy(m, &laddr, 4);
	memcpy(m + 4, &raddr, 4);
	memcpy(m + 8, &rport, 2);
	h = tcp_hash(t, TCP_HASH_PORT, m, sizeof(m));
	index = (uint32_t)(h >> 32) & (TCP_PORT_PERTURB_SIZE - 1);
	ctr = t->port_table_perturb[index];
	base = (uint32_t)tcp_hash(t, TCP_HASH_PORT_TABLE, &index, sizeof(index));
	start = (uint32_t)(((uint64_t)(uint32_t)h + base + ctr) % n);
	for (uint32_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(lo + (uint32_t)(((uint64_t)start + i) % n));
		uint32_t noise[2] = {index, ctr};

		if (!free_fn(t, laddr, htons(port), raddr, rport))
			continue;
		/* Keyed noise: one more step in 1/16 of the cases. */
		if (((uint32_t)tcp_hash(t, TCP_HASH_PORT_TABLE, noise, sizeof(noise)) & 15) == 0)
			i++;
		t->port_table_perturb[index] = ctr + i + 1;
		return htons(port);
	}
	return 0;
}
