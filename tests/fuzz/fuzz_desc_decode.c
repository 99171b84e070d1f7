/* fuzz_desc_decode: libFuzzer target for the descriptor batch codec, the first thing every
 * layer runs on a message from another process (desc_batch_decode, common/desc.h).
 *
 * Input: one ZeroMQ message body, as link_recv hands it to the codec.
 *
 * Checks, abort() on failure:
 *  - a rejected message fails with -EBADMSG, leaves batch->count 0 and bumps decode_errors;
 *  - an accepted one promises what desc.h says callers may trust: at most DESC_BATCH_MAX
 *    descriptors, a sender that names a layer, reserved and pad bytes zero, t_arr (local to a layer)
 *    zero; the arena was not overrun;
 *  - it survives a round trip: desc_batch_encode writes it back within desc_batch_max_size,
 *    and decoding that gives the same batch (a field the decoder mangled would not).
 * The codec is static: its 32 KiB arena is a big thing to put on libFuzzer's stack.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desc.h"
#include "fuzz.h"
#include "pool.h"

#define FUZZ_SEEDS_DESC
#include "seeds.h"

#define FDD_MSG_MAX 65536u /* bigger than any batch: the arena fails long before */

_Static_assert(sizeof(struct desc) == 64, "struct desc has no implicit padding: compared with memcmp");

struct fdd_state {
	struct desc_codec codec;
	struct desc_batch batch, again;
	uint8_t enc[FDD_MSG_MAX];
};

static struct fdd_state fdd;

static void fdd_fail(const char *what, long a, long b)
{
	fprintf(stderr, "fuzz_desc_decode: %s (%ld, %ld)\n", what, a, b);
	abort();
}

#define FDD_CHECK(cond, a, b)                                   \
	do {                                                    \
		if (!(cond))                                    \
			fdd_fail(#cond, (long)(a), (long)(b));  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t errors;
	size_t max;
	int rc, n;

	desc_codec_init(&fdd.codec);
	/* Poison the batch so that a field decode forgets to set shows up in the round trip. */
	memset(&fdd.batch, 0xa5, sizeof(fdd.batch));
	errors = fdd.codec.decode_errors;
	rc = desc_batch_decode(&fdd.codec, data, size, &fdd.batch);
	FDD_CHECK(fdd.codec.used <= sizeof(fdd.codec.arena), fdd.codec.used, size);
	if (rc != 0) {
		FDD_CHECK(rc == -EBADMSG, rc, size);
		FDD_CHECK(fdd.batch.count == 0, fdd.batch.count, size);
		FDD_CHECK(fdd.codec.decode_errors == errors + 1, fdd.codec.decode_errors, errors);
		return 0;
	}
	FDD_CHECK(fdd.codec.decode_errors == errors, fdd.codec.decode_errors, errors);
	FDD_CHECK(fdd.batch.count <= DESC_BATCH_MAX, fdd.batch.count, DESC_BATCH_MAX);
	FDD_CHECK(fdd.batch.sender != POOL_HOLDER_FREE && fdd.batch.sender < POOL_HOLDER_COUNT,
		  fdd.batch.sender, POOL_HOLDER_COUNT);
	for (uint32_t i = 0; i < fdd.batch.count; i++)
		FDD_CHECK(fdd.batch.d[i].reserved == 0 && fdd.batch.d[i].pad == 0 &&
			  fdd.batch.d[i].t_arr == 0, i,
			  fdd.batch.d[i].reserved);

	max = desc_batch_max_size(fdd.batch.count);
	FDD_CHECK(max <= sizeof(fdd.enc), max, sizeof(fdd.enc));
	n = desc_batch_encode(&fdd.batch, fdd.enc, max);
	FDD_CHECK(n > 0 && (size_t)n <= max, n, max);
	memset(&fdd.again, 0x5a, sizeof(fdd.again));
	rc = desc_batch_decode(&fdd.codec, fdd.enc, (size_t)n, &fdd.again);
	FDD_CHECK(rc == 0, rc, n);
	FDD_CHECK(fdd.again.sender == fdd.batch.sender, fdd.again.sender, fdd.batch.sender);
	FDD_CHECK(fdd.again.seq == fdd.batch.seq, fdd.again.seq, fdd.batch.seq);
	FDD_CHECK(fdd.again.sent == fdd.batch.sent, fdd.again.sent, fdd.batch.sent);
	FDD_CHECK(fdd.again.count == fdd.batch.count, fdd.again.count, fdd.batch.count);
	/* struct desc has no padding (56 bytes of fields), so memcmp compares fields only (t_arr is
	 * 0 after any decode). */
	FDD_CHECK(memcmp(fdd.again.d, fdd.batch.d, fdd.batch.count * sizeof(struct desc)) == 0,
		  fdd.batch.count, 0);
	return 0;
}

/* For the plain driver: units concatenated. Two protobuf messages back to back are one valid
 * message (fields merge, packed arrays append), so this also makes arrays of mismatched and
 * oversized lengths out of valid batches. */
static size_t fdd_compose(uint8_t *out, size_t cap, const uint8_t *const unit[],
			  const size_t unit_len[], unsigned n, const uint32_t ctl[])
{
	size_t pos = 0;

	(void)ctl;
	for (unsigned i = 0; i < n && pos < cap; i++) {
		size_t len = unit_len[i] < cap - pos ? unit_len[i] : cap - pos;

		memcpy(out + pos, unit[i], len);
		pos += len;
	}
	return pos;
}

const struct fuzz_target fuzz_target = {
	.name = "desc_decode",
	.units = fuzz_desc_units,
	.regressions = fuzz_desc_regressions,
	.max_units = 3,
	.unit_max = 4096,
	.compose = fdd_compose,
};
