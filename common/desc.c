/* desc: protobuf-c codec of descriptor batches (ustack.DescBatch) with an arena-backed decoder.
 *
 * Wire form (proto/desc.proto): struct of arrays, one packed repeated fixed-width array per
 * descriptor field (narrow fields packed into 32-bit words, the entry time 64 bits), plus the
 * batch's send time. Encode points the message's arrays at
 * stack arrays and packs straight into the caller's buffer, so it never allocates.
 *
 * Decode gives protobuf-c an allocator that bumps a pointer through codec->arena (16-byte
 * aligned, reset at the start of every decode) and whose free does nothing; the arena is fixed,
 * so a message that would need more memory than it holds (a flood of unknown fields, say) fails
 * to unpack and is rejected like any other malformed input, rather than reaching for the heap.
 * A valid 64-descriptor batch needs about 3 KiB of it.
 *
 * What decode checks, so that callers can trust struct desc_batch without re-checking:
 *  - the bytes parse as a DescBatch (protobuf-c also rejects packed fixed32 arrays whose byte
 *    length is not a multiple of 4, truncation, bad wire types, overlong varints);
 *  - the twelve arrays have one common length, which is at most DESC_BATCH_MAX: a sender that
 *    disagrees with itself about the count is broken, and guessing which array is right would
 *    hand a layer descriptors made of mixed-up fields;
 *  - sender names a real layer (POOL_HOLDER_FREE is not one, and an empty message decodes to
 *    sender 0, so this also rejects empty/zeroed input);
 *  - the top byte of info is 0 (struct desc has no field for it; a non-zero byte means the
 *    sender is not speaking this version of the format).
 * Per-descriptor meaning (is this buffer ours, do the offsets fit the chain) is for the link and
 * the pool to judge: they see the buffers, the codec does not.
 */
#include "desc.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "desc.pb-c.h"
#include "pool.h"

#define DESC_ARRAYS 11u   /* repeated fixed32 fields of DescBatch */
#define DESC_ARRAYS64 1u  /* repeated fixed64 fields (t_in) */
#define DESC_TAG_BYTES 1u /* every field number is below 16 */
#define DESC_VARINT32_MAX 5u
#define DESC_ARENA_ALIGN 16u

static size_t varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

void desc_codec_init(struct desc_codec *codec)
{
	/* The arena itself needs no clearing: protobuf-c initialises what it allocates. */
	codec->used = 0;
	codec->decode_errors = 0;
}

size_t desc_batch_max_size(uint32_t count)
{
	/* sender and seq are varints: at worst a tag and five bytes each; sent a tag and 8. */
	size_t size = 2 * (DESC_TAG_BYTES + DESC_VARINT32_MAX) + DESC_TAG_BYTES + 8;
	if (count > 0) {
		size_t bytes = (size_t)count * 4;
		size += DESC_ARRAYS * (DESC_TAG_BYTES + varint_size(bytes) + bytes);
		bytes = (size_t)count * 8;
		size += DESC_ARRAYS64 * (DESC_TAG_BYTES + varint_size(bytes) + bytes);
	}
	return size;
}

int desc_batch_encode(const struct desc_batch *batch, uint8_t *out, size_t out_size)
{
	uint32_t buf[DESC_BATCH_MAX], gen[DESC_BATCH_MAX], len[DESC_BATCH_MAX];
	uint32_t offsets[DESC_BATCH_MAX], flags[DESC_BATCH_MAX], gso[DESC_BATCH_MAX];
	uint32_t csum[DESC_BATCH_MAX], saddr[DESC_BATCH_MAX], daddr[DESC_BATCH_MAX];
	uint32_t info[DESC_BATCH_MAX], check[DESC_BATCH_MAX];
	uint64_t t_in[DESC_BATCH_MAX];
	uint32_t n = batch->count;

	if (n > DESC_BATCH_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		const struct desc *d = &batch->d[i];
		buf[i] = d->buf;
		gen[i] = d->gen;
		len[i] = d->len;
		offsets[i] = (uint32_t)d->l3_off | (uint32_t)d->l4_off << 16;
		flags[i] = d->flags;
		gso[i] = (uint32_t)d->gso_type | (uint32_t)d->gso_size << 16;
		csum[i] = (uint32_t)d->csum_start | (uint32_t)d->csum_offset << 16;
		saddr[i] = d->saddr;
		daddr[i] = d->daddr;
		info[i] = (uint32_t)d->proto | (uint32_t)d->ttl << 8 | (uint32_t)d->tos << 16;
		t_in[i] = d->t_in;
		check[i] = d->check;
	}

	Ustack__DescBatch m = USTACK__DESC_BATCH__INIT;
	m.sender = batch->sender;
	m.seq = batch->seq;
	m.n_buf = m.n_gen = m.n_len = m.n_offsets = m.n_flags = n;
	m.n_gso = m.n_csum = m.n_saddr = m.n_daddr = m.n_info = m.n_t_in = m.n_check = n;
	m.sent = batch->sent;
	m.buf = buf;
	m.gen = gen;
	m.len = len;
	m.offsets = offsets;
	m.flags = flags;
	m.gso = gso;
	m.csum = csum;
	m.saddr = saddr;
	m.daddr = daddr;
	m.info = info;
	m.t_in = t_in;
	m.check = check;

	/* Cheap for this message (fixed-width arrays are sized by multiplication), and it keeps
	 * protobuf-c from ever writing past out. */
	size_t size = ustack__desc_batch__get_packed_size(&m);
	if (size > out_size || size > INT32_MAX)
		return -ENOSPC;
	return (int)ustack__desc_batch__pack(&m, out);
}

/* Bump allocator over codec->arena. Returns NULL when the arena is exhausted, which makes
 * protobuf-c fail the unpack: that is the bound on what one message may cost us. */
static void *arena_alloc(void *data, size_t size)
{
	struct desc_codec *c = data;
	uintptr_t at = (uintptr_t)(c->arena + c->used);
	size_t pad = (size_t)(-at & (DESC_ARENA_ALIGN - 1));
	size_t avail = sizeof(c->arena) - c->used;

	if (pad > avail || size > avail - pad)
		return NULL;
	void *p = c->arena + c->used + pad;
	c->used += pad + size;
	return p;
}

static void arena_free(void *data, void *ptr)
{
	/* Everything is released at once by the next decode resetting codec->used. */
	(void)data;
	(void)ptr;
}

static int decode_reject(struct desc_codec *codec, struct desc_batch *batch)
{
	codec->decode_errors++;
	batch->count = 0;
	return -EBADMSG;
}

int desc_batch_decode(struct desc_codec *codec, const uint8_t *msg, size_t len,
		      struct desc_batch *batch)
{
	ProtobufCAllocator alloc = {
		.alloc = arena_alloc,
		.free = arena_free,
		.allocator_data = codec,
	};

	codec->used = 0;
	Ustack__DescBatch *m = ustack__desc_batch__unpack(&alloc, len, msg);
	if (!m)
		return decode_reject(codec, batch);

	size_t n = m->n_buf;
	if (n > DESC_BATCH_MAX || m->n_gen != n || m->n_len != n || m->n_offsets != n ||
	    m->n_flags != n || m->n_gso != n || m->n_csum != n || m->n_saddr != n ||
	    m->n_daddr != n || m->n_info != n || m->n_t_in != n || m->n_check != n)
		return decode_reject(codec, batch);
	if (m->sender == POOL_HOLDER_FREE || m->sender >= POOL_HOLDER_COUNT)
		return decode_reject(codec, batch);
	for (size_t i = 0; i < n; i++)
		if (m->info[i] >> 24)
			return decode_reject(codec, batch);

	batch->sender = m->sender;
	batch->seq = m->seq;
	batch->count = (uint32_t)n;
	batch->sent = m->sent;
	for (size_t i = 0; i < n; i++) {
		struct desc *d = &batch->d[i];
		d->buf = m->buf[i];
		d->gen = m->gen[i];
		d->len = m->len[i];
		d->l3_off = (uint16_t)m->offsets[i];
		d->l4_off = (uint16_t)(m->offsets[i] >> 16);
		d->flags = m->flags[i];
		d->gso_type = (uint16_t)m->gso[i];
		d->gso_size = (uint16_t)(m->gso[i] >> 16);
		d->csum_start = (uint16_t)m->csum[i];
		d->csum_offset = (uint16_t)(m->csum[i] >> 16);
		d->saddr = m->saddr[i];
		d->daddr = m->daddr[i];
		d->proto = (uint8_t)m->info[i];
		d->ttl = (uint8_t)(m->info[i] >> 8);
		d->tos = (uint8_t)(m->info[i] >> 16);
		d->reserved = 0;
		d->check = m->check[i];
		d->pad = 0;
		d->t_in = m->t_in[i];
		d->t_arr = 0; /* the receiving link stamps it */
	}
	/* No free_unpacked: the message lives in the arena, reclaimed wholesale next time. */
	return 0;
}

/* ---- the seal ----------------------------------------------------------------------------- */

/* The sent fields as the six 64-bit words the seal covers, in the wire's packing. */
static void desc_seal_words(const struct desc *d, uint64_t w[6])
{
	w[0] = (uint64_t)d->buf | (uint64_t)d->gen << 32;
	w[1] = (uint64_t)d->len | ((uint64_t)d->l3_off | (uint64_t)d->l4_off << 16) << 32;
	w[2] = (uint64_t)d->flags | ((uint64_t)d->gso_type | (uint64_t)d->gso_size << 16) << 32;
	w[3] = ((uint64_t)d->csum_start | (uint64_t)d->csum_offset << 16) | (uint64_t)d->saddr << 32;
	w[4] = (uint64_t)d->daddr |
	       ((uint64_t)d->proto | (uint64_t)d->ttl << 8 | (uint64_t)d->tos << 16) << 32;
	w[5] = d->t_in;
}

#define DESC_CRC32C_POLY 0x82f63b78u /* Castagnoli, reflected */

static uint32_t desc_crc32c_soft(const uint64_t w[6])
{
	uint32_t crc = ~0u;
	for (unsigned i = 0; i < 6; i++)
		for (unsigned byte = 0; byte < 8; byte++) {
			crc ^= (uint8_t)(w[i] >> (8 * byte));
			for (unsigned bit = 0; bit < 8; bit++)
				crc = (crc >> 1) ^ (DESC_CRC32C_POLY & (0u - (crc & 1u)));
		}
	return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t desc_crc32c_hw(const uint64_t w[6])
{
	uint64_t crc = ~0u;
	for (unsigned i = 0; i < 6; i++)
		crc = __builtin_ia32_crc32di(crc, w[i]);
	return ~(uint32_t)crc;
}
#endif

uint32_t desc_seal_value(const struct desc *d)
{
	uint64_t w[6];
	desc_seal_words(d, w);
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return desc_crc32c_hw(w);
#endif
	return desc_crc32c_soft(w);
}
