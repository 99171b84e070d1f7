/* state_segment: the named shared-memory object in which a server keeps what must outlive it
 * (docs/ARCHITECTURE.md, Restart contract): "<layer>-state" in the instance's private shared-memory
 * directory (shm_dir.h).
 *
 * Layout: a 64-byte header (magic, header size, the payload's version, layer name, payload size,
 * a generation counter), then the payload: plain data with indices and offsets, never pointers,
 * laid out by the server that owns it. The payload is 64-byte aligned and zero on creation.
 *
 * One process owns a segment at a time (systemd runs one server per layer and instance); the
 * segment is private to the owner's uid (mode 0600): it may hold secrets (udpd keeps its
 * sessions' secrets in it), so an object somebody else created, or one readable by others, is
 * refused rather than trusted.
 *
 * The generation counts the owners: 1 when created, +1 at every attach. A server logs it so a
 * restart shows up, and may use it to tell its own records from a predecessor's.
 *
 * The segment outlives every process; `ustackctl down` removes it with state_segment_unlink.
 */
#ifndef USTACK_STATE_SEGMENT_H
#define USTACK_STATE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_SEGMENT_MAGIC 0x55535453u /* "USTS" */
#define STATE_SEGMENT_HDR_SIZE 64u
#define STATE_SEGMENT_LAYER_MAX 15u
#define STATE_SEGMENT_NAME_MAX 96u
#define STATE_SEGMENT_PAYLOAD_MAX (1ull << 32) /* 4 GiB: far above any table we keep */

/* The header at offset 0. Shared (and kept across restarts): never reorder; grow only into
 * reserved, with a new STATE_SEGMENT_MAGIC if the meaning of a field changes. */
struct state_segment_hdr {
	uint32_t magic;       /* STATE_SEGMENT_MAGIC, stored last on creation */
	uint32_t hdr_size;    /* STATE_SEGMENT_HDR_SIZE */
	uint32_t version;     /* the payload's format, chosen by its server */
	uint32_t reserved0;
	uint64_t payload_size;
	uint64_t generation;  /* 1 on creation, +1 per attach */
	char layer[STATE_SEGMENT_LAYER_MAX + 1];
	uint64_t reserved[2];
};
_Static_assert(sizeof(struct state_segment_hdr) == STATE_SEGMENT_HDR_SIZE,
	       "state_segment_hdr is shared: its size is part of the format");

struct state_segment; /* process-local view */

/* The object's name in the instance's directory: "<layer>-state". 0, -EINVAL (bad instance or
 * layer: layer is 1..15 of [a-z0-9]) or -ENAMETOOLONG. */
int state_segment_name(const char *instance, const char *layer, char *out, size_t size);
/* Its full path, for messages and tools. */
int state_segment_path(const char *instance, const char *layer, char *out, size_t size);

/* Attach to the layer's segment and validate it (magic, header size, version, layer, payload
 * size, the object's real size, its owner and mode), or create a fresh one (zeroed payload) if
 * there is none; *fresh says which. The O_EXCL race between two creators is handled: the loser
 * attaches, waiting briefly for the winner to finish. A segment that does not validate (older
 * version, other size, left half-made by a creator that died) is logged, removed and created
 * afresh: a server upgrade must start, not crash, on an old segment. A segment owned by another
 * uid or accessible to others is refused with -EPERM and left alone. On failure *out is
 * untouched and nothing stays mapped. payload_size is 1..STATE_SEGMENT_PAYLOAD_MAX.
 * 0, -EINVAL, -EPERM, -ENOMEM, or another negative errno from shm_open/ftruncate/mmap. */
int state_segment_open(const char *instance, const char *layer, uint32_t version,
		       size_t payload_size, struct state_segment **out, bool *fresh);

/* Unmap (the object stays); clears *seg. Safe on NULL. */
void state_segment_close(struct state_segment **seg);

/* Remove the layer's segment (`ustackctl down`). 0, or -ENOENT if it was not there. */
int state_segment_unlink(const char *instance, const char *layer);

void *state_segment_payload(struct state_segment *seg);
size_t state_segment_payload_size(const struct state_segment *seg);
uint64_t state_segment_generation(const struct state_segment *seg);

#endif
