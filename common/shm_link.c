/* shm_link: descriptor batches over a shared-memory ring with FIFO doorbells (shm_link.h has the
 * design: objects, doorbells, restarts, trust).
 *
 * A record is the fixed-width prefix of struct desc_batch (sender, seq, count, then count
 * descriptors), host byte order: both ends are on one host and built from one tree. The
 * receiver copies the record out of the ring before it checks anything in it (ring.h's TOCTOU
 * rule), so what it validates is what it uses.
 */
#include "shm_link.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "link_priv.h"
#include "log.h"
#include "paths.h"
#include "ring.h"
#include "shm_dir.h"

#define SHM_LINK_MAGIC 0x6b6e6c73u /* "slnk" */
#define SHM_LINK_VERSION 2u /* 2: struct desc carries its seal (64 bytes) */
#define SHM_LINK_REC_BATCH 1u
#define SHM_LINK_RETRY_MS 10 /* a sender without a ring looks for one this often */

/* The shared object's header. Written by the receiver, except tx_pid and tx_armed. */
struct shm_link_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t ring_size;
	uint32_t reserved;
	_Atomic uint32_t epoch;    /* bumped by the receiver whenever it formats the ring */
	_Atomic int32_t rx_pid;    /* the receiver's process, 0 after a clean close */
	_Atomic int32_t tx_pid;    /* the sender's, for tools */
	_Atomic uint32_t rx_armed; /* the receiver sleeps: ring its bell after publishing */
	_Atomic uint32_t tx_armed; /* the sender waits for room: ring its bell after releasing */
	uint8_t pad[RING_CACHELINE - 9 * sizeof(uint32_t)];
	struct ring_shared ring;
};
_Static_assert(sizeof(struct shm_link_hdr) == 3 * RING_CACHELINE, "shm_link_hdr is shared");
_Static_assert(offsetof(struct shm_link_hdr, ring) % RING_CACHELINE == 0, "ring control aligned");

#define SHM_LINK_OBJ_SIZE (sizeof(struct shm_link_hdr) + SHM_LINK_RING)
#define SHM_LINK_REC_HDR offsetof(struct desc_batch, d)
#define SHM_LINK_REC_MAX (SHM_LINK_REC_HDR + DESC_BATCH_MAX * sizeof(struct desc))
_Static_assert(SHM_LINK_REC_MAX <= SHM_LINK_RING / 2 - RING_HDR_SIZE, "a batch fits a record");
_Static_assert(_Alignof(struct desc_batch) <= RING_ALIGN, "a record body holds a batch in place");

struct shm_link {
	struct pool *pool;
	enum pool_holder self, peer;
	bool rx;
	char instance[64];
	char name[SHM_OBJ_NAME_MAX + 1]; /* "<from>-to-<to>" */
	int bell_fd;   /* receiver's doorbell FIFO */
	int room_fd;   /* sender's doorbell FIFO */
	struct shm_link_hdr *hdr; /* NULL: not attached (sender before the receiver made it) */
	uint32_t epoch;           /* sender: the epoch attached to */
	int32_t rx_pid_seen;      /* sender: the receiver's pid when last asked */
	struct ring ring;
	uint64_t retry_at;        /* sender: when to look for the ring again */
	uint32_t tx_seq;
	struct link_rx_seq rx_seq;
	struct link_stats stats;
	struct desc_batch batch;  /* receiver: the record copied out */
};

/* Make (if missing) and open one doorbell FIFO of the link. */
static int shm_link_fifo(const struct shm_link *l, const char *suffix)
{
	char file[64], path[256];
	snprintf(file, sizeof(file), "%s.%s", l->name, suffix);
	int rc = ustack_runtime_dir_create(l->instance);
	if (rc == 0)
		rc = ustack_runtime_path(l->instance, file, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (mkfifo(path, 0600) < 0 && errno != EEXIST)
		return -errno;
	/* O_RDWR: neither end ever blocks or fails because the other has it closed. */
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		log_err("shm link %s: %s is not our private FIFO", l->name, path);
		close(fd);
		return -EPERM;
	}
	return fd;
}

static void shm_link_ring_bell(int fd)
{
	static const uint8_t one = 1;
	/* EAGAIN: the FIFO is full of rings already, the sleeper will wake. */
	if (write(fd, &one, 1) < 0 && errno != EAGAIN)
		log_debug("shm link doorbell: %s", strerror(errno));
}

static void shm_link_drain_bell(int fd)
{
	uint8_t sink[256];
	while (read(fd, sink, sizeof(sink)) == (ssize_t)sizeof(sink))
		;
}

static void shm_link_unmap(struct shm_link *l)
{
	if (l->hdr)
		munmap(l->hdr, SHM_LINK_OBJ_SIZE);
	l->hdr = NULL;
}

/* Map the ring object; create it when `create` (the receiver). */
static int shm_link_map(struct shm_link *l, bool create)
{
	int fd = shm_obj_open(l->instance, l->name, O_RDWR | (create ? O_CREAT : 0), 0600);
	if (fd < 0)
		return fd;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else if ((size_t)st.st_size != SHM_LINK_OBJ_SIZE) {
		/* New (size 0), or of another geometry: only the receiver sizes it. The sender
		 * waits for a receiver of its own version. */
		if (!create || ftruncate(fd, (off_t)SHM_LINK_OBJ_SIZE) < 0)
			rc = create ? -errno : -EAGAIN;
	}
	void *p = MAP_FAILED;
	if (rc == 0)
		p = mmap(NULL, SHM_LINK_OBJ_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (rc == 0 && p == MAP_FAILED)
		rc = -errno;
	close(fd);
	if (rc < 0)
		return rc;
	l->hdr = p;
	return 0;
}

static uint8_t *shm_link_data(struct shm_link *l)
{
	return (uint8_t *)l->hdr + sizeof(struct shm_link_hdr);
}

/* Receiver: (re)format the ring; the sender sees the new epoch and attaches again. */
static void shm_link_format(struct shm_link *l)
{
	struct shm_link_hdr *h = l->hdr;
	ring_format(&h->ring);
	h->magic = SHM_LINK_MAGIC;
	h->version = SHM_LINK_VERSION;
	h->ring_size = SHM_LINK_RING;
	atomic_fetch_add_explicit(&h->epoch, 1, memory_order_release);
}

static int shm_link_rx_attach(struct shm_link *l)
{
	struct shm_link_hdr *h = l->hdr;
	if (h->magic != SHM_LINK_MAGIC || h->version != SHM_LINK_VERSION ||
	    h->ring_size != SHM_LINK_RING)
		shm_link_format(l);
	if (ring_attach(&l->ring, RING_CONSUMER, &h->ring, shm_link_data(l), SHM_LINK_RING) < 0) {
		log_notice("shm link %s: ring indices impossible, formatted again", l->name);
		shm_link_format(l);
		return ring_attach(&l->ring, RING_CONSUMER, &h->ring, shm_link_data(l),
				   SHM_LINK_RING);
	}
	return 0;
}

/* Sender: attach to the receiver's ring if there is one of our version. 0 or -EAGAIN. */
static int shm_link_tx_attach(struct shm_link *l, uint64_t now)
{
	shm_link_unmap(l);
	l->retry_at = now + SHM_LINK_RETRY_MS * CLOCK_NS_PER_MS;
	if (shm_link_map(l, false) < 0)
		return -EAGAIN;
	struct shm_link_hdr *h = l->hdr;
	l->epoch = atomic_load_explicit(&h->epoch, memory_order_acquire);
	if (h->magic != SHM_LINK_MAGIC || h->version != SHM_LINK_VERSION ||
	    h->ring_size != SHM_LINK_RING ||
	    ring_attach(&l->ring, RING_PRODUCER, &h->ring, shm_link_data(l), SHM_LINK_RING) < 0) {
		shm_link_unmap(l); /* not (yet) a ring we can use: the receiver will format it */
		return -EAGAIN;
	}
	atomic_store_explicit(&h->tx_pid, (int32_t)getpid(), memory_order_relaxed);
	/* The receiver found at attach is not news (a ZeroMQ link's first handshake is consumed
	 * by link_wait_peer likewise). */
	l->rx_pid_seen = atomic_load_explicit(&h->rx_pid, memory_order_acquire);
	return 0;
}

static int shm_link_new(struct pool *pool, const char *instance, enum pool_holder from,
			enum pool_holder to, bool rx, struct shm_link **out)
{
	if (from == to || (unsigned)from >= POOL_HOLDER_COUNT || (unsigned)to >= POOL_HOLDER_COUNT ||
	    from == POOL_HOLDER_FREE || to == POOL_HOLDER_FREE)
		return -EINVAL;
	struct shm_link *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->pool = pool;
	l->self = rx ? to : from;
	l->peer = rx ? from : to;
	l->rx = rx;
	l->bell_fd = l->room_fd = -1;
	int n = snprintf(l->instance, sizeof(l->instance), "%s", instance);
	int m = snprintf(l->name, sizeof(l->name), "%s-to-%s", link_layer_name(from),
			 link_layer_name(to));
	int rc = n < 0 || (size_t)n >= sizeof(l->instance) || m < 0 || (size_t)m >= sizeof(l->name)
			 ? -ENAMETOOLONG
			 : 0;
	if (rc == 0 && (rc = shm_link_fifo(l, "bell")) >= 0) {
		l->bell_fd = rc;
		rc = shm_link_fifo(l, "room");
		if (rc >= 0) {
			l->room_fd = rc;
			rc = 0;
		}
	}
	if (rc < 0) {
		shm_link_close(&l);
		return rc;
	}
	*out = l;
	return 0;
}

int shm_link_open_rx(struct pool *pool, const char *instance, enum pool_holder from,
		     struct shm_link **out)
{
	struct shm_link *l;
	int rc = shm_link_new(pool, instance, from, pool_self(pool), true, &l);
	if (rc < 0)
		return rc;
	rc = shm_link_map(l, true);
	if (rc == 0)
		rc = shm_link_rx_attach(l);
	if (rc < 0) {
		log_err("shm link %s: %s", l->name, strerror(-rc));
		shm_link_close(&l);
		return rc;
	}
	atomic_store_explicit(&l->hdr->rx_pid, (int32_t)getpid(), memory_order_release);
	/* Start as a sleeper that was just rung: the first poll calls the receiver, which finds
	 * what a predecessor left queued or arms itself. */
	atomic_store_explicit(&l->hdr->rx_armed, 0, memory_order_relaxed);
	shm_link_ring_bell(l->bell_fd);
	*out = l;
	return 0;
}

int shm_link_open_tx(struct pool *pool, const char *instance, enum pool_holder to,
		     struct shm_link **out)
{
	struct shm_link *l;
	int rc = shm_link_new(pool, instance, pool_self(pool), to, false, &l);
	if (rc < 0)
		return rc;
	shm_link_tx_attach(l, clock_now()); /* no ring yet is fine: sends look again */
	*out = l;
	return 0;
}

void shm_link_close(struct shm_link **lp)
{
	struct shm_link *l = *lp;
	if (!l)
		return;
	if (l->hdr && l->rx)
		atomic_store_explicit(&l->hdr->rx_pid, 0, memory_order_release);
	shm_link_unmap(l);
	if (l->bell_fd >= 0)
		close(l->bell_fd);
	if (l->room_fd >= 0)
		close(l->room_fd);
	free(l);
	*lp = NULL;
}

int shm_link_fd(struct shm_link *l)
{
	return l->rx ? l->bell_fd : l->room_fd;
}

const struct link_stats *shm_link_stats(const struct shm_link *l)
{
	return &l->stats;
}

struct link_stats *shm_link_counters(struct shm_link *l)
{
	return &l->stats;
}

/* Sender: attached to the receiver's current ring? Looks again when the epoch moved, or, with
 * no ring, every SHM_LINK_RETRY_MS. */
static bool shm_link_tx_attached(struct shm_link *l)
{
	if (l->hdr && atomic_load_explicit(&l->hdr->epoch, memory_order_acquire) == l->epoch &&
	    !l->ring.broken)
		return true;
	uint64_t now = clock_now();
	if (!l->hdr && now < l->retry_at)
		return false;
	return shm_link_tx_attach(l, now) == 0;
}

bool shm_link_tx_ready(struct shm_link *l)
{
	if (l->rx || !shm_link_tx_attached(l))
		return false;
	/* A record and the PAD that may precede it are each below one record's cost. */
	const size_t need = 2 * ring_record_cost((uint32_t)SHM_LINK_REC_MAX);
	if (ring_free_bytes(&l->ring) >= need)
		return true;
	shm_link_drain_bell(l->room_fd);
	atomic_store_explicit(&l->hdr->tx_armed, 1, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	if (ring_free_bytes(&l->ring) >= need) {
		atomic_store_explicit(&l->hdr->tx_armed, 0, memory_order_relaxed);
		return true;
	}
	return false;
}

bool shm_link_peer_up(struct shm_link *l)
{
	if (!shm_link_tx_attached(l))
		return false;
	pid_t pid = atomic_load_explicit(&l->hdr->rx_pid, memory_order_acquire);
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

unsigned shm_link_peer_changes(struct shm_link *l)
{
	if (!shm_link_tx_attached(l))
		return 0;
	int32_t pid = atomic_load_explicit(&l->hdr->rx_pid, memory_order_acquire);
	if (pid <= 0 || pid == l->rx_pid_seen)
		return 0;
	l->rx_pid_seen = pid;
	return 1;
}

int shm_link_send(struct shm_link *l, struct buf **chains, const struct desc *wire, unsigned n,
		  uint64_t sent)
{
	if (l->rx)
		return -EOPNOTSUPP;
	if (n == 0 || n > DESC_BATCH_MAX)
		return -EINVAL;
	struct buf *own[DESC_BATCH_MAX];
	unsigned k = link_batch_owned(chains, n, own);
	if (!shm_link_tx_attached(l)) {
		l->stats.tx_drop_full += n - k; /* the descriptors that handed nothing over */
		link_batch_drop(l->pool, &l->stats, own, k);
		return -EAGAIN;
	}
	uint32_t len = (uint32_t)(SHM_LINK_REC_HDR + n * sizeof(struct desc));
	struct desc_batch *rec = ring_reserve(&l->ring, SHM_LINK_REC_BATCH, len);
	if (!rec) {
		l->stats.tx_drop_full += n - k;
		link_batch_drop(l->pool, &l->stats, own, k);
		return -EAGAIN;
	}
	/* Hand over first: the receiver may take the chains the moment the record is published. */
	int rc = k ? pool_transfer(l->pool, own, k, l->peer) : 0;
	if (rc < 0) {
		ring_cancel(&l->ring);
		return rc; /* -EPERM: a chain not ours; nothing changed, the caller's bug */
	}
	/* A record's body is 8-aligned, as struct desc_batch is; only its first n entries exist. */
	rec->sender = l->self;
	rec->seq = l->tx_seq;
	rec->count = n;
	rec->sent = sent;
	memcpy(rec->d, wire, n * sizeof(struct desc));
	ring_commit(&l->ring);
	l->tx_seq++;
	l->stats.tx_batches++;
	l->stats.tx_descs += n;
	/* The receiver armed before it looked last: the fence orders our head before the flag. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&l->hdr->rx_armed, memory_order_relaxed) &&
	    atomic_exchange_explicit(&l->hdr->rx_armed, 0, memory_order_acq_rel))
		shm_link_ring_bell(l->bell_fd);
	return (int)n;
}

/* Receiver: give the record's space back, and ring the sender if it waits for room. */
static void shm_link_release(struct shm_link *l)
{
	ring_release(&l->ring);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&l->hdr->tx_armed, memory_order_relaxed) &&
	    atomic_exchange_explicit(&l->hdr->tx_armed, 0, memory_order_acq_rel))
		shm_link_ring_bell(l->room_fd);
}

int shm_link_recv(struct shm_link *l, struct buf **bufs, struct desc *descs, unsigned max,
		  struct hist *transit)
{
	if (!l->rx)
		return -EOPNOTSUPP;
	if (max < DESC_BATCH_MAX)
		return -EINVAL;
	struct ring_rec rec;
	int rc = ring_peek(&l->ring, &rec);
	if (rc == -EAGAIN) {
		/* Arm, then look once more: a batch published before the flag was seen is found
		 * now, one published after it rings the bell. */
		shm_link_drain_bell(l->bell_fd);
		atomic_store_explicit(&l->hdr->rx_armed, 1, memory_order_seq_cst);
		atomic_thread_fence(memory_order_seq_cst);
		rc = ring_peek(&l->ring, &rec);
		if (rc == -EAGAIN)
			return -EAGAIN;
		atomic_store_explicit(&l->hdr->rx_armed, 0, memory_order_relaxed);
	}
	if (rc < 0) {
		/* The sender broke the ring's rules: start it over; the sender re-attaches when it
		 * sees the new epoch. What was in it is lost, and its chains come back when the
		 * sender restarts or are counted as gaps. */
		l->stats.rx_drop_badmsg++;
		log_warn("shm link %s: sender broke the ring, formatted again", l->name);
		shm_link_format(l);
		if (ring_attach(&l->ring, RING_CONSUMER, &l->hdr->ring, shm_link_data(l),
				SHM_LINK_RING) < 0)
			return -EIO; /* cannot happen on a ring just formatted */
		return 0;
	}
	/* Copy out once, check the copy (the sender may still scribble on the shared bytes). */
	if (rec.type != SHM_LINK_REC_BATCH || rec.len < SHM_LINK_REC_HDR ||
	    rec.len > SHM_LINK_REC_MAX) {
		l->stats.rx_drop_badmsg++;
		shm_link_release(l);
		return 0;
	}
	memcpy(&l->batch, rec.body, rec.len);
	shm_link_release(l);
	struct desc_batch *b = &l->batch;
	if (b->count > DESC_BATCH_MAX || rec.len != SHM_LINK_REC_HDR + b->count * sizeof(struct desc)) {
		l->stats.rx_drop_badmsg++;
		return 0;
	}
	return (int)link_batch_take(l->pool, l->peer, b, &l->stats, &l->rx_seq, bufs, descs,
				    transit, clock_now());
}
