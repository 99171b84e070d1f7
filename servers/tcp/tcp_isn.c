/* tcp_isn: initial sequence numbers (RFC 6528), timestamp clocks (RFC 7323 §5.4) and the one
 * keyed hash every secret-dependent choice of the core goes through.
 *
 * ISN = M + F(localip, localport, remoteip, remoteport, secretkey) (RFC 6528 §3): M ticks
 * every 4 µs (RFC 9293 §3.4.1's clock, wrapping every 4.77 hours), F is SipHash-2-4 keyed
 * with the table's secret. For one 4-tuple the ISN grows with the clock, so a new incarnation
 * starts above the old one's sequence space (TIME-WAIT reuse, RFC 6191); an off-path attacker
 * who does not know the key cannot predict it for any other 4-tuple. The secret lives in the
 * table, so a restarted tcpd (same CLOCK_MONOTONIC, same key) continues the same sequences.
 *
 * Timestamps: TSval = milliseconds of CLOCK_MONOTONIC + a per-address-pair offset (Linux's
 * tsoffset, RFC 7323 §5.4 and Appendix G's advice), so the clock's value (uptime) does not
 * leak and one host's connections cannot be correlated by their timestamp clocks across
 * peers, while connections between the same pair share a clock, as PAWS across incarnations
 * needs.
 */
#include <assert.h>
#include <sodium/crypto_shorthash_siphash24.h>
#include <string.h>

#include "tcp_priv.h"

#define TCP_HASH_MSG_MAX 48u

uint64_t tcp_hash(const struct tcp_table *t, enum tcp_hash_domain d, const void *msg,
		  size_t len)
{
	uint8_t buf[1 + TCP_HASH_MSG_MAX];
	uint8_t out[crypto_shorthash_siphash24_BYTES];
	const uint8_t *key = d >= TCP_HASH_COOKIE1 ? t->secret + 16 : t->secret;
	uint64_t h = 0;

	_Static_assert(sizeof(t->secret) == 2 * crypto_shorthash_siphash24_KEYBYTES,
		       "the secret holds two SipHash keys");
	assert(len <= TCP_HASH_MSG_MAX); /* callers hash small fixed records */
	if (len > TCP_HASH_MSG_MAX)
		len = TCP_HASH_MSG_MAX; /* and never overflow buf where NDEBUG drops the assert */
	buf[0] = (uint8_t)d;
	if (len)
		memcpy(buf + 1, msg, len);
	crypto_shorthash_siphash24(out, buf, 1 + len, key);
	for (int i = 7; i >= 0; i--)
		h = h << 8 | out[i]; /* SipHash's output is little-endian */
	return h;
}

uint32_t tcp_isn(const struct tcp_table *t, uint64_t now, uint32_t laddr, uint16_t lport,
		 uint32_t raddr, uint16_t rport)
{
	uint8_t m[12];

	memcpy(m, &laddr, 4);
	memcpy(m + 4, &lport, 2);
	memcpy(m + 6, &raddr, 4);
	memcpy(m + 10, &rport, 2);
	return (uint32_t)(now / 4000u) + (uint32_t)tcp_hash(t, TCP_HASH_ISN, m, sizeof(m));
}

uint32_t tcp_ts_offset(const struct tcp_table *t, uint32_t laddr, uint32_t raddr)
{
	uint8_t m[8];

	memcpy(m, &laddr, 4);
	memcpy(m + 4, &raddr, 4);
	return (uint32_t)tcp_hash(t, TCP_HASH_TSOFF, m, sizeof(m));
}

uint32_t tcp_ts_now(const struct tcp_conn *c, uint64_t now)
{
	return (uint32_t)(now / 1000000u) + c->ts_offset;
}
