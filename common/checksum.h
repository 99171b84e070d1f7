/* checksum: the Internet checksum (RFC 1071), over flat memory and over buffer chains, with
 * incremental update (RFC 1624). */
#ifndef USTACK_CHECKSUM_H
#define USTACK_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* One's-complement sum of len bytes added to sum, not folded and not inverted. Byte order:
 * the data is summed as big-endian 16-bit words, and the result is in host order. */
uint32_t csum_partial(const void *data, size_t len, uint32_t sum);

/* Fold a partial sum to 16 bits and invert: the value to store (host order; htons it). */
uint16_t csum_fold(uint32_t sum);

/* csum_fold(csum_partial(data, len, 0)). A buffer carrying a correct checksum sums to 0. */
uint16_t csum_compute(const void *data, size_t len);

/* Partial sum over bytes [off, off + len) of a chain; odd-length pieces inside the chain are
 * handled. The caller guarantees the chain holds off + len bytes. */
uint32_t csum_chain(const struct buf *b, size_t off, size_t len, uint32_t sum);

/* Partial sum of the TCP/UDP IPv4 pseudo-header (addresses in network order). */
uint32_t csum_pseudo_ipv4(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t len);

/* RFC 1624 eqn. 3: the new checksum field (network order in and out) after a 16-bit field
 * changes from old_be to new_be. */
uint16_t csum_update16(uint16_t csum_be, uint16_t old_be, uint16_t new_be);

#endif
