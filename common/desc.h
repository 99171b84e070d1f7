/* desc: packet descriptors and the batch that carries up to DESC_BATCH_MAX of them in one
 * ZeroMQ message.
 *
 * A descriptor names a chain in the pool by (index, generation) and says how long it is, where
 * its headers start and what offload work is done or owed. Between ipd and a transport it also
 * carries the IPv4 addressing (so the transport need not parse the IP header and ipd need not be
 * handed one to build).
 *
 * On the wire a batch is the protobuf message ustack.DescBatch (proto/desc.proto): one packed
 * repeated fixed-width array per field (fixed32, the entry time fixed64), and the time the
 * batch was sent. Every descriptor carries the sender's seal over its fields (desc_seal), which
 * the receiving link checks before it believes any of them. desc_batch_decode unpacks through an arena allocator owned by
 * the caller's struct desc_codec, so decoding allocates nothing per packet and nothing from the
 * heap after desc_codec_init.
 */
#ifndef USTACK_DESC_H
#define USTACK_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DESC_BATCH_MAX 64u /* the NAPI budget */

/* desc.flags
 *
 * Checksums follow Linux's skb->ip_summed. DESC_F_CSUM_VERIFIED is CHECKSUM_UNNECESSARY: the
 * L4 checksum was checked (by the device, or it is ours). DESC_F_CSUM_NEEDED is
 * CHECKSUM_PARTIAL: the field at csum_start + csum_offset holds the pseudo-header sum (folded,
 * not inverted) and the checksum over [csum_start, end) is still to be computed. Going down it
 * asks the next layer (or the device, through the virtio-net header) to complete it; coming up
 * it says the frame was made on this host and never crossed a wire (the TAP's kernel side sent
 * it with a partial checksum), so there is nothing to verify: ipd sets DESC_F_CSUM_VERIFIED
 * beside it, as Linux treats CHECKSUM_PARTIAL as verified.
 *
 * gso_type != DESC_GSO_NONE marks a super-frame: going down, a TSO super-segment the device
 * cuts into gso_size-byte segments (always with DESC_F_CSUM_NEEDED); coming up, a GRO
 * super-frame of segments of gso_size bytes the kernel merged (or never cut), up to 64 KiB, in
 * a chain of buffers. */
#define DESC_F_CSUM_VERIFIED 0x1u /* the L4 checksum was checked (or is trusted, e.g. local) */
#define DESC_F_CSUM_NEEDED   0x2u /* L4 checksum partial, at [csum_start + csum_offset] */
#define DESC_F_IP_DF         0x4u /* transport → ipd: set Don't Fragment */
#define DESC_F_BCAST         0x8u /* ipd → transport: arrived as a link-layer/IP broadcast */
/* ipd → transport: an ICMP error about a datagram of this protocol. Data at the outer IPv4
 * header, l4_off at the ICMP header (type, code, then the quoted IPv4 header + 8 bytes). */
#define DESC_F_ICMP_ERROR    0x10u
/* transport → ipd: no socket wants this datagram (data at its IPv4 header, as ipd delivered
 * it): answer with ICMP port unreachable under ipd's rules (rate limit, never for broadcasts). */
#define DESC_F_PORT_UNREACH  0x20u

/* desc.gso_type */
#define DESC_GSO_NONE 0u
#define DESC_GSO_TCPV4 1u
#define DESC_GSO_UDP 3u

struct desc {
	uint32_t buf;         /* head buffer index */
	uint32_t gen;         /* its generation when handed over */
	uint32_t len;         /* total data bytes of the chain */
	uint16_t l3_off;      /* network header, from the data start (0 if none) */
	uint16_t l4_off;      /* transport header, from the data start */
	uint32_t flags;       /* DESC_F_* */
	uint16_t gso_type;    /* DESC_GSO_* */
	uint16_t gso_size;    /* MSS of each segment when gso_type != NONE */
	uint16_t csum_start;  /* from the data start */
	uint16_t csum_offset; /* from csum_start */
	uint32_t saddr;       /* IPv4 source, network byte order (0 when not used) */
	uint32_t daddr;       /* IPv4 destination, network byte order */
	uint8_t proto;        /* IP protocol number */
	uint8_t ttl;          /* 0: ipd's default */
	uint8_t tos;
	uint8_t reserved;
	/* The sender's seal over every field it sends (desc_seal): CRC32C of buf .. tos and t_in.
	 * A receiver takes nothing from a descriptor whose seal does not match (link_batch_take:
	 * rx_drop_corrupt), so a descriptor damaged after the sender was done with it, even where
	 * every field stays in range, never reaches a layer. */
	uint32_t check;
	uint32_t pad; /* explicit: t_in is 8-aligned; 0 */
	/* Latency accounting (common/hist.h; docs/ARCHITECTURE.md "Observability"). Times are
	 * CLOCK_MONOTONIC ns, 0 when not stamped (then nothing is measured for the packet). */
	uint64_t t_in;  /* when the frame entered the stack: on the wire, never changed after */
	uint64_t t_arr; /* when it arrived in this layer (link_recv's batch time, or t_in where
			 * it entered): local, not on the wire; link_send measures from it */
};

_Static_assert(sizeof(struct desc) == 64, "struct desc is the shm link's record layout");

/* The seal of d's sent fields (everything but check, pad and t_arr). CRC32C (Castagnoli):
 * every error of up to 5 bits in the 384 bits it covers changes it (Hamming distance 6 at this
 * length), any other one escapes with probability 2^-32. SSE4.2's crc32 instruction where the
 * CPU has it (≈ 6 ns a descriptor, ustack-bench-desc), a bitwise loop otherwise. */
uint32_t desc_seal_value(const struct desc *d);
static inline void desc_seal(struct desc *d) { d->check = desc_seal_value(d); }
static inline bool desc_sealed(const struct desc *d) { return d->check == desc_seal_value(d); }

struct desc_batch {
	uint32_t sender; /* enum pool_holder of the sending layer */
	uint32_t seq;    /* per-link sequence number, for loss accounting */
	uint32_t count;
	uint64_t sent;   /* CLOCK_MONOTONIC ns when the sender sent it (0: not stamped) */
	struct desc d[DESC_BATCH_MAX];
};

/* Decoder state: a fixed arena that protobuf-c allocates from while unpacking. */
struct desc_codec {
	unsigned char arena[32768];
	size_t used;
	uint64_t decode_errors;
};

void desc_codec_init(struct desc_codec *codec);

/* Bytes that desc_batch_encode needs at most for a batch of `count` descriptors. */
size_t desc_batch_max_size(uint32_t count);

/* Encode batch into out (out_size from desc_batch_max_size). Returns bytes written, or -EINVAL
 * (count above DESC_BATCH_MAX) / -ENOSPC. */
int desc_batch_encode(const struct desc_batch *batch, uint8_t *out, size_t out_size);

/* Decode a message into batch. 0; -EBADMSG if it does not parse, if its arrays differ in length
 * or if it carries more than DESC_BATCH_MAX descriptors, or a field is out of its range (then
 * batch->count is 0). Never allocates from the heap. */
int desc_batch_decode(struct desc_codec *codec, const uint8_t *msg, size_t len,
		      struct desc_batch *batch);

#endif
