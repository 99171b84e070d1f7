/* fuzz_chain: bytes into a chain of pool buffers, as nicd and ipd hand frames and datagrams on,
 * for the fuzz targets that feed cores with chains (fuzz_ip_input.c, fuzz_udp.c). */
#ifndef USTACK_FUZZ_CHAIN_H
#define USTACK_FUZZ_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pool.h"

/* f[0..len) as a chain from pool: the head buffer holds `head` bytes (0: as much as fits), each
 * following buffer up to POOL_DATA_ROOM, all at POOL_HEADROOM as nicd receives them. NULL when
 * the pool runs dry (nothing is held then: the frame is lost, as nicd would lose it). */
struct buf *fuzz_chain(struct pool *pool, const uint8_t *f, size_t len, size_t head);

#endif
