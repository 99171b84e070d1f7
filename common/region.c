/* region: create, format, validate and map application regions; build each side's ring views.
 *
 * See region.h for the layout and the trust model. Order in region_attach matters:
 *   1. seals first (F_GET_SEALS must show SHRINK and GROW): only then is the size a fact;
 *   2. fstat for that size; a size outside [sizeof header, REGION_SIZE_MAX] is refused;
 *   3. pread the header into a local copy: one snapshot, taken by the kernel, that the client
 *      cannot change under our checks (no mapping exists yet to race on);
 *   4. validate the copy against the size from (2);
 *   5. mmap, and build the views from the copy (ring_attach checks each ring's indices).
 * A server that skipped (1) could have its mapping truncated by the client after (2) and die of
 * SIGBUS on its next access; one that validated the mapped header instead of a copy could be
 * shown one offset during the check and another during use.
 *
 * Validation collects every area (header, each control block, each data area, the application's
 * statistics area) as an interval,
 * checks each lies inside the region, sorts them and checks neighbours do not overlap: two rings
 * sharing bytes would let the client make the server's producer writes land in the TX ring the
 * server is parsing, or in another ring's indices.
 */
#include "region.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define REGION_AREAS_MAX (3 + 2 * (1 + 2 * REGION_SLOTS_MAX))

struct region_area {
	uint64_t off;
	uint64_t len;
};

static uint64_t region_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static size_t region_slot_ctl_size(enum region_kind kind)
{
	return kind == REGION_KIND_STREAM ? sizeof(struct region_stream_ctl)
					  : sizeof(struct region_slot_ctl);
}

/* The canonical layout of region.h into *h (geometry and kind); returns the bytes it needs. */
static uint64_t region_layout(struct region_hdr *h, enum region_kind kind, unsigned n_slots,
			      uint32_t tx_ring, uint32_t rx_ring)
{
	memset(h, 0, sizeof(*h));
	h->kind = kind;
	uint64_t off = region_align_up(sizeof(*h), REGION_ALIGN);
	if (kind == REGION_KIND_DGRAM) {
		h->tx.ctl_off = off;
		off += sizeof(struct ring_shared);
	}
	for (unsigned i = 0; i < n_slots; i++) {
		if (kind == REGION_KIND_STREAM) {
			h->stx[i].ctl_off = off;
			off += sizeof(struct ring_shared);
		}
		h->rx[i].ctl_off = off;
		off += sizeof(struct ring_shared);
	}
	h->slot_ctl_off = off;
	off += (uint64_t)n_slots * region_slot_ctl_size(kind);
	h->app_stats_off = off; /* slot blocks are whole cache lines */
	off += sizeof(struct region_app_stats);
	off = region_align_up(off, REGION_ALIGN);
	if (kind == REGION_KIND_DGRAM) {
		h->tx.data_off = off;
		h->tx.data_size = tx_ring;
		off += tx_ring;
	}
	for (unsigned i = 0; i < n_slots; i++) {
		if (kind == REGION_KIND_STREAM) {
			h->stx[i].data_off = off;
			h->stx[i].data_size = tx_ring;
			off += tx_ring;
		}
		h->rx[i].data_off = off;
		h->rx[i].data_size = rx_ring;
		off += rx_ring;
	}
	return off;
}

size_t region_size_for_kind(enum region_kind kind, unsigned n_slots, uint32_t tx_ring,
			    uint32_t rx_ring)
{
	if ((unsigned)kind >= REGION_KIND_COUNT || n_slots == 0 || n_slots > REGION_SLOTS_MAX ||
	    !ring_size_valid(tx_ring) || !ring_size_valid(rx_ring))
		return 0;
	struct region_hdr h;
	uint64_t need = region_layout(&h, kind, n_slots, tx_ring, rx_ring);
	return need > REGION_SIZE_MAX ? 0 : (size_t)need;
}

int region_format_kind(enum region_kind kind, void *base, size_t size, unsigned n_slots,
		       uint32_t tx_ring, uint32_t rx_ring)
{
	size_t need = region_size_for_kind(kind, n_slots, tx_ring, rx_ring);
	if (!base || need == 0 || size < need || size > REGION_SIZE_MAX ||
	    (uintptr_t)base % RING_CACHELINE != 0)
		return -EINVAL;
	struct region_hdr h;
	region_layout(&h, kind, n_slots, tx_ring, rx_ring);
	h.magic = REGION_MAGIC;
	h.version = REGION_VERSION;
	h.total_size = size;
	h.n_slots = n_slots;
	uint8_t *p = base;
	if (kind == REGION_KIND_DGRAM)
		ring_format((struct ring_shared *)(void *)(p + h.tx.ctl_off));
	for (unsigned i = 0; i < n_slots; i++) {
		if (kind == REGION_KIND_STREAM)
			ring_format((struct ring_shared *)(void *)(p + h.stx[i].ctl_off));
		ring_format((struct ring_shared *)(void *)(p + h.rx[i].ctl_off));
	}
	memset(p + h.slot_ctl_off, 0, (size_t)n_slots * region_slot_ctl_size(kind));
	memset(p + h.app_stats_off, 0, sizeof(struct region_app_stats));
	memcpy(p, &h, sizeof(h));
	return 0;
}

int region_create_memfd_kind(enum region_kind kind, unsigned n_slots, uint32_t tx_ring,
			     uint32_t rx_ring, int *fd, void **base, size_t *size)
{
	size_t need = region_size_for_kind(kind, n_slots, tx_ring, rx_ring);
	if (need == 0 || !fd || !base || !size)
		return -EINVAL;
	int mfd = memfd_create("ustack-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return -errno;
	void *p = MAP_FAILED;
	int err;
	if (ftruncate(mfd, (off_t)need) < 0)
		goto fail_errno;
	p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (p == MAP_FAILED)
		goto fail_errno;
	err = region_format_kind(kind, p, need, n_slots, tx_ring, rx_ring);
	if (err < 0)
		goto fail;
	/* F_SEAL_SEAL too: nobody adds seals later (a write seal would break the server's view). */
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail_errno;
	*fd = mfd;
	*base = p;
	*size = need;
	return 0;

fail_errno:
	err = -errno;
fail:
	if (p != MAP_FAILED)
		munmap(p, need);
	close(mfd);
	return err;
}

/* [off, off + len) inside [0, size), without overflow. */
static bool region_inside(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static int region_check_ring(const struct region_ring_desc *d, uint64_t size,
			     struct region_area *areas, unsigned *n)
{
	if (d->reserved != 0 || !ring_size_valid(d->data_size))
		return -EINVAL;
	if (d->ctl_off % RING_CACHELINE != 0 || d->data_off % RING_CACHELINE != 0)
		return -EINVAL;
	if (!region_inside(d->ctl_off, sizeof(struct ring_shared), size) ||
	    !region_inside(d->data_off, d->data_size, size))
		return -EINVAL;
	areas[(*n)++] = (struct region_area){ d->ctl_off, sizeof(struct ring_shared) };
	areas[(*n)++] = (struct region_area){ d->data_off, d->data_size };
	return 0;
}

static bool region_desc_zero(const struct region_ring_desc *d)
{
	static const struct region_ring_desc zero;
	return memcmp(d, &zero, sizeof(zero)) == 0;
}

int region_validate(const struct region_hdr *h, size_t size)
{
	if (h->magic != REGION_MAGIC || h->version != REGION_VERSION)
		return -EPROTO;
	if (size < sizeof(*h) || size > REGION_SIZE_MAX || h->total_size != size)
		return -EINVAL;
	if (h->n_slots == 0 || h->n_slots > REGION_SLOTS_MAX || h->kind >= REGION_KIND_COUNT ||
	    h->reserved1 != 0 || h->reserved2 != 0)
		return -EINVAL;
	bool stream = h->kind == REGION_KIND_STREAM;

	struct region_area areas[REGION_AREAS_MAX];
	unsigned n = 0;
	areas[n++] = (struct region_area){ 0, sizeof(*h) };
	uint64_t slots_len = (uint64_t)h->n_slots * region_slot_ctl_size(h->kind);
	if (h->slot_ctl_off % RING_CACHELINE != 0 || !region_inside(h->slot_ctl_off, slots_len, size))
		return -EINVAL;
	areas[n++] = (struct region_area){ h->slot_ctl_off, slots_len };
	if (h->app_stats_off % RING_CACHELINE != 0 ||
	    !region_inside(h->app_stats_off, sizeof(struct region_app_stats), size))
		return -EINVAL;
	areas[n++] = (struct region_area){ h->app_stats_off, sizeof(struct region_app_stats) };
	int err = 0;
	if (stream) {
		if (!region_desc_zero(&h->tx))
			return -EINVAL;
	} else {
		err = region_check_ring(&h->tx, size, areas, &n);
	}
	for (unsigned i = 0; err == 0 && i < h->n_slots; i++) {
		err = region_check_ring(&h->rx[i], size, areas, &n);
		if (err == 0 && stream)
			err = region_check_ring(&h->stx[i], size, areas, &n);
	}
	if (err < 0)
		return err;
	for (unsigned i = 0; i < REGION_SLOTS_MAX; i++) {
		if (i >= h->n_slots && !region_desc_zero(&h->rx[i]))
			return -EINVAL;
		if ((i >= h->n_slots || !stream) && !region_desc_zero(&h->stx[i]))
			return -EINVAL;
	}

	/* Insertion sort by offset (at most 261 areas, once per attach), then neighbours must not
	 * overlap. Every area has a non-zero length, so equal offsets are an overlap too. */
	for (unsigned i = 1; i < n; i++) {
		struct region_area a = areas[i];
		unsigned j = i;
		for (; j > 0 && areas[j - 1].off > a.off; j--)
			areas[j] = areas[j - 1];
		areas[j] = a;
	}
	for (unsigned i = 1; i < n; i++)
		if (areas[i].off < areas[i - 1].off + areas[i - 1].len)
			return -EINVAL;
	return 0;
}

static struct ring_shared *region_ctl_at(uint8_t *p, const struct region_ring_desc *d)
{
	return (struct ring_shared *)(void *)(p + d->ctl_off);
}

/* Views for `role` from a validated header copy; *out untouched on failure. */
static int region_build(struct region *out, void *base, size_t size, const struct region_hdr *h,
			enum region_role role)
{
	struct region vv; /* ~7 KiB on the stack: re-entrant, and *out stays untouched on failure */
	struct region *v = &vv;
	memset(v, 0, sizeof(*v));
	uint8_t *p = base;
	/* The server consumes what the application sends and produces what it receives. */
	enum ring_role tx_role = role == REGION_SERVER ? RING_CONSUMER : RING_PRODUCER;
	enum ring_role rx_role = role == REGION_SERVER ? RING_PRODUCER : RING_CONSUMER;
	v->base = base;
	v->size = size;
	v->n_slots = h->n_slots;
	v->role = role;
	v->kind = (enum region_kind)h->kind;
	v->app_stats = (struct region_app_stats *)(void *)(p + h->app_stats_off);
	int err = 0;
	if (v->kind == REGION_KIND_DGRAM) {
		v->slot_ctl = (struct region_slot_ctl *)(void *)(p + h->slot_ctl_off);
		err = ring_attach(&v->tx, tx_role, region_ctl_at(p, &h->tx), p + h->tx.data_off,
				  h->tx.data_size);
		for (unsigned i = 0; err == 0 && i < h->n_slots; i++)
			err = ring_attach(&v->rx[i], rx_role, region_ctl_at(p, &h->rx[i]),
					  p + h->rx[i].data_off, h->rx[i].data_size);
	} else {
		v->stream_ctl = (struct region_stream_ctl *)(void *)(p + h->slot_ctl_off);
		for (unsigned i = 0; err == 0 && i < h->n_slots; i++) {
			err = stream_ring_attach(&v->stx[i], tx_role, region_ctl_at(p, &h->stx[i]),
						 p + h->stx[i].data_off, h->stx[i].data_size);
			if (err == 0)
				err = stream_ring_attach(&v->srx[i], rx_role,
							 region_ctl_at(p, &h->rx[i]),
							 p + h->rx[i].data_off, h->rx[i].data_size);
		}
	}
	if (err == 0)
		*out = *v;
	return err;
}

int region_attach_kind(int fd, enum region_kind kind, struct region *out)
{
	const int need = F_SEAL_SHRINK | F_SEAL_GROW;
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 && errno == EBADF)
		return -EBADF;
	if (seals < 0 || (seals & need) != need) /* EINVAL: not a file that can be sealed */
		return -EPERM;
	/* Only plain shmem (a memfd without MFD_HUGETLB): a hugetlbfs file can be sealed against
	 * shrinking yet still have a hole punched into it, and the server's next read of the
	 * missing page would be a SIGBUS. Shmem refills a punched hole with zeroes instead. */
	struct statfs sfs;
	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	if (sfs.f_type != TMPFS_MAGIC)
		return -EPERM;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct region_hdr) ||
	    (uint64_t)st.st_size > REGION_SIZE_MAX)
		return -EINVAL;
	size_t size = (size_t)st.st_size;

	struct region_hdr h;
	ssize_t got = pread(fd, &h, sizeof(h), 0);
	if (got < 0)
		return -errno;
	if ((size_t)got != sizeof(h))
		return -EINVAL;
	int err = region_validate(&h, size);
	if (err < 0)
		return err;
	if (h.kind != (uint32_t)kind)
		return -EPROTO; /* a good region, for another transport */

	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	err = region_build(out, p, size, &h, REGION_SERVER);
	if (err < 0) {
		munmap(p, size);
		return err;
	}
	return 0;
}

int region_open_client(void **base, size_t size, struct region *out)
{
	if (!base || !*base || size < sizeof(struct region_hdr) ||
	    (uintptr_t)*base % RING_CACHELINE != 0)
		return -EINVAL;
	struct region_hdr h;
	memcpy(&h, *base, sizeof(h));
	int err = region_validate(&h, size);
	if (err < 0)
		return err;
	err = region_build(out, *base, size, &h, REGION_CLIENT);
	if (err < 0)
		return err;
	*base = NULL;
	return 0;
}

void region_detach(struct region *r)
{
	if (r->base)
		munmap(r->base, r->size);
	memset(r, 0, sizeof(*r));
}
