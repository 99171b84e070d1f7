/* fuzz_chain: bytes into a chain of pool buffers (fuzz_chain.h). */
#include "fuzz_chain.h"

#include <string.h>

struct buf *fuzz_chain(struct pool *pool, const uint8_t *f, size_t len, size_t head)
{
	struct buf *chain = NULL, *b;
	size_t off = 0, n;

	if (head == 0 || head > POOL_DATA_ROOM)
		head = POOL_DATA_ROOM;
	do {
		b = pool_alloc(pool);
		if (!b) {
			pool_free(&chain);
			return NULL;
		}
		n = len - off < head ? len - off : head;
		if (n > 0)
			memcpy(buf_put(b, n), f + off, n);
		off += n;
		head = POOL_DATA_ROOM;
		if (!chain) {
			chain = b;
		} else if (buf_chain_append(chain, &b) != 0) {
			pool_free(&b);
			pool_free(&chain);
			return NULL;
		}
	} while (off < len);
	return chain;
}
