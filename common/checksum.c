/* checksum: the Internet checksum (RFC 1071) over flat memory and buffer chains, and its
 * incremental update (RFC 1624).
 *
 * Summing: 32-bit big-endian words are added into a 64-bit accumulator. Because 2^16 == 1
 * (mod 0xffff), adding 32-bit words is the same one's-complement sum as adding their two 16-bit
 * halves (RFC 1071 §2(B), "parallel summation"), and a 64-bit accumulator cannot overflow for
 * any length we can be handed (2^32 words). The end-around carries are folded back only when a
 * value leaves a function, so the partial sum a function returns is always below 2^32 and keeps
 * its one's-complement value.
 *
 * Chains: a piece of a chain that starts at an odd byte offset of the summed range has its bytes
 * in the other halves of the 16-bit words; RFC 1071 §2(B) "byte order independence" lets us sum
 * the piece as if it were aligned and swap the bytes of its folded sum.
 */
#include "checksum.h"

#include <arpa/inet.h>
#include <string.h>

/* Fold a 64-bit accumulator to 32 bits, keeping its value modulo 0xffff. */
static uint32_t csum_fold64(uint64_t acc)
{
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

/* Fold to 16 bits without inverting. */
static uint16_t csum_fold16(uint32_t sum)
{
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t csum_swap16(uint16_t v)
{
	return (uint16_t)(v << 8 | v >> 8);
}

uint32_t csum_partial(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t acc = sum;

	while (len >= 32) {
		uint32_t w[8];

		memcpy(w, p, sizeof(w)); /* no alignment assumed */
		for (unsigned i = 0; i < 8; i++)
			acc += ntohl(w[i]);
		p += 32;
		len -= 32;
	}
	while (len >= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		acc += ntohl(w);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		acc += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	}
	if (len)
		acc += (uint32_t)p[0] << 8; /* RFC 1071: an odd last byte is padded with zero */
	return csum_fold64(acc);
}

uint16_t csum_fold(uint32_t sum)
{
	return (uint16_t)~csum_fold16(sum);
}

uint16_t csum_compute(const void *data, size_t len)
{
	return csum_fold(csum_partial(data, len, 0));
}

uint32_t csum_chain(const struct buf *b, size_t off, size_t len, uint32_t sum)
{
	uint64_t acc = sum;
	size_t done = 0; /* bytes summed so far: its parity says how the next piece is aligned */

	for (unsigned k = 0; b && len > 0 && k < BUF_CHAIN_MAX; k++, b = buf_next(b)) {
		size_t blen = buf_len(b);

		if (off >= blen) {
			off -= blen;
			continue;
		}
		size_t n = blen - off < len ? blen - off : len;
		uint16_t piece = csum_fold16(csum_partial(buf_data(b) + off, n, 0));

		acc += (done & 1) ? csum_swap16(piece) : piece;
		done += n;
		len -= n;
		off = 0;
	}
	return csum_fold64(acc);
}

uint32_t csum_pseudo_ipv4(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t len)
{
	uint64_t acc = 0;

	acc += ntohl(saddr);
	acc += ntohl(daddr);
	acc += proto; /* a zero byte, then the protocol: one 16-bit word */
	acc += len;
	return csum_fold64(acc);
}

uint16_t csum_update16(uint16_t csum_be, uint16_t old_be, uint16_t new_be)
{
	/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). One's-complement addition does not care about
	 * byte order (RFC 1071 §2(B)) as long as every operand is in the same order, so the
	 * network-order values are used as they are. Eqn. 3 gives what a full recomputation
	 * gives; RFC 1141's form (~HC + m - m') can yield -0 (0xffff) where recomputing would
	 * not (RFC 1624 §3). */
	uint32_t sum = (uint16_t)~csum_be;

	sum += (uint16_t)~old_be;
	sum += new_be;
	return (uint16_t)~csum_fold16(sum);
}
