/* link: one direction of descriptor traffic, a ZeroMQ PUSH→PULL pair carrying DescBatch messages.
 *
 * Ownership across the link. The sender moves its chains to the receiver in the pool
 * (pool_transfer) before the message leaves, because once zmq_send returns the receiver may
 * already be using them; if the send fails nothing left, so the sender takes them back
 * (pool_transfer_back) and frees them. Either way the caller's chains are consumed and never
 * leak. Buffers whose message is lost after a successful send (receiver killed with a full
 * queue) are held by the receiver's layer id and come back when it restarts (pool_reclaim).
 *
 * Receiving takes one batch, or, given room for more (max >= 2 * DESC_BATCH_MAX, LINK_RECV_MAX),
 * every batch already waiting while a whole one still fits: a sender sends a batch per loop
 * pass, often of one or two descriptors, and a receiver that fell behind (a slow loop pass)
 * and took them back one message per pass would never catch up, while its queue delayed
 * everything behind it by seconds (TCP's retransmission timers firing on ACKs still queued).
 * A NIC driver's poll takes what is in its ring up to its budget, however it got there; so
 * does this. Each message is still checked and accounted on its own (sender, sequence, seals,
 * transit).
 *
 * Receiving trusts nothing in the message: desc_batch_decode checks the structure, the link
 * checks that the batch comes from the peer this link belongs to, and pool_take checks that each
 * descriptor names a live chain now held by us (index, generation, holder, chain shape and
 * length). Offsets are then checked against the chain length, so a layer can index its head
 * buffer with l3_off/l4_off/csum_* knowing they lie inside the data. A chain that is ours but
 * carries nonsense offsets is freed (it is ours, dropping it without a free would leak it).
 *
 * Never blocking: ZMQ_DONTWAIT on every send and receive, ZMQ_IMMEDIATE so a PUSH with no
 * connected receiver refuses at once instead of queueing for a peer that may never come, and
 * ZMQ_LINGER 0 so closing never waits. Queue depth is LINK_HWM batches on each side of the
 * socket pair. ZeroMQ returns send credit lazily (every HWM/2 messages, seen by the sender up
 * to ~1 ms later), so a small HWM drops bursts a receiver would easily absorb; 64 absorbs 4 M
 * descriptors/s of credit lag. A receiver that stalls with full queues pins up to
 * 2 * 64 * 64 descriptors, but only until its watchdog (3 s) has it restarted, and the restart
 * reclaims them.
 * Reconnection after a receiver restart is retried every LINK_RECONNECT_MS, so traffic resumes
 * well within the restart contract's one second.
 *
 * Sequence numbers: per link, incremented only when a send succeeds, so rx_seq_gaps counts
 * batches lost after they left (a receiver restart dropping its queue), not those the sender
 * already counted in tx_drop_full. A sequence number that goes backwards means the sender
 * restarted: the receiver resynchronises without counting a gap.
 *
 * Memory: everything a link needs (encode buffer, decode arena, batch) is allocated once at
 * open; send and receive allocate nothing.
 */
#include "link.h"
#include "link_priv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "paths.h"
#include "runtime_sock.h"
#include "shm_link.h"

#define LINK_HWM 64 /* batches queued per socket side */
#define LINK_RECONNECT_MS 2 /* a standby serves 6-37 ms after a kill: tick well below that */
/* Messages above this are refused by ZeroMQ itself (it drops the connection of the peer that
 * sent one, which then reconnects): the guard against a broken peer making us buffer huge
 * frames. Smaller oversized messages are received and counted as rx_drop_badmsg. */
#define LINK_MAX_MSG 65536

struct link {
	struct shm_link *shm; /* link = shm: the ring carries the batches, sock is NULL */
	void *sock;
	struct pool *pool;
	enum pool_holder self;
	enum pool_holder peer;
	bool rx;
	uint32_t tx_seq;
	struct link_rx_seq rx_seq;
	struct link_stats stats;
	struct desc_batch batch;
	struct desc_codec codec; /* rx only; 32 KiB, so the link lives on the heap */
	size_t msg_size;
	void *monitor; /* PAIR fed by zmq_socket_monitor, or NULL */
	uint64_t peers_seen; /* handshakes completed with a peer since open */
	uint64_t peers_reported; /* of those, returned by link_peer_events_drain so far */
	int64_t peers_up; /* handshakes minus disconnects: connections now up */
	uint64_t full_since; /* link_room: when the current wait began, 0 if none */
	bool wait_expired; /* link_room: the last wait gave up; no new one until a send goes */
	struct hist hist;  /* rx: transit per descriptor; tx: time inside this layer before it */
	char hist_name[32];
	struct link_fault *fault;   /* faults injected on this link (link_fault.c), or NULL */
	struct link_faults *faults; /* the process's fault table, or NULL */
	uint8_t msg[]; /* msg_size bytes: desc_batch_max_size(DESC_BATCH_MAX) */
};

static enum link_kind link_kind_chosen = LINK_KIND_ZMQ;

void link_set_kind(enum link_kind kind) { link_kind_chosen = kind; }

enum link_kind link_get_kind(void) { return link_kind_chosen; }

static const char *const link_names[POOL_HOLDER_COUNT] = {
	[POOL_HOLDER_FREE] = "free", [POOL_HOLDER_NICD] = "nicd", [POOL_HOLDER_IPD] = "ipd",
	[POOL_HOLDER_TCPD] = "tcpd", [POOL_HOLDER_UDPD] = "udpd", [POOL_HOLDER_TOOL] = "tool",
};

static bool link_layer_valid(enum pool_holder layer)
{
	return layer > POOL_HOLDER_FREE && layer < POOL_HOLDER_COUNT;
}

const char *link_layer_name(enum pool_holder layer)
{
	if ((unsigned)layer >= POOL_HOLDER_COUNT)
		return "unknown";
	return link_names[layer];
}

static int link_path(const char *instance, enum pool_holder from, enum pool_holder to,
		     char *out, size_t out_size)
{
	char file[32];

	if (!link_layer_valid(from) || !link_layer_valid(to))
		return -EINVAL;
	snprintf(file, sizeof(file), "%s-to-%s.desc", link_layer_name(from), link_layer_name(to));
	int rc = ustack_runtime_path(instance, file, out, out_size);
	if (rc < 0)
		return rc;
	/* A path that does not fit sockaddr_un would only fail later, inside zmq_bind, with a
	 * less telling error. */
	if (strlen(out) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

int link_endpoint(const char *instance, enum pool_holder from, enum pool_holder to, char *out,
		  size_t out_size)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int rc = link_path(instance, from, to, path, sizeof(path));
	if (rc < 0)
		return rc;
	int n = snprintf(out, out_size, "ipc://%s", path);
	if (n < 0 || (size_t)n >= out_size)
		return -ENAMETOOLONG;
	return 0;
}

static int link_new(struct pool *pool, enum pool_holder peer, bool rx, struct link **out)
{
	size_t msg_size = desc_batch_max_size(DESC_BATCH_MAX);
	struct link *l = calloc(1, sizeof(*l) + msg_size);
	if (!l)
		return -ENOMEM;
	l->pool = pool;
	l->self = pool_self(pool);
	l->peer = peer;
	l->rx = rx;
	l->msg_size = msg_size;
	desc_codec_init(&l->codec);
	snprintf(l->hist_name, sizeof(l->hist_name), "%s_%s", rx ? "transit_from" : "inside_to",
		 link_layer_name(peer));
	*out = l;
	return 0;
}

static int link_setopt(void *sock, int opt, int value)
{
	return zmq_setsockopt(sock, opt, &value, sizeof(value)) < 0 ? -errno : 0;
}

/* Install the peer monitor before bind/connect, so no handshake can happen unseen. */
static int link_monitor_start(struct link *l, void *zctx)
{
	char ep[64];
	/* inproc names are per context; the link's address makes it unique within a process. */
	snprintf(ep, sizeof(ep), "inproc://link-monitor-%p", (void *)l);
	if (zmq_socket_monitor(l->sock, ep,
			       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) < 0)
		return -errno;
	l->monitor = zmq_socket(zctx, ZMQ_PAIR);
	if (!l->monitor)
		return -errno;
	if (link_setopt(l->monitor, ZMQ_LINGER, 0) < 0 || zmq_connect(l->monitor, ep) < 0)
		return -errno;
	return 0;
}

static void link_monitor_stop(struct link *l)
{
	if (!l->monitor)
		return;
	zmq_socket_monitor(l->sock, NULL, 0);
	zmq_close(l->monitor);
	l->monitor = NULL;
}

int link_open_rx(void *zctx, struct pool *pool, const char *instance, enum pool_holder from,
		 struct link **out)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	enum pool_holder self = pool_self(pool);
	struct link *l = NULL;

	if (from == self)
		return -EINVAL;
	int rc = link_path(instance, from, self, path, sizeof(path));
	if (rc < 0)
		return rc;
	rc = ustack_runtime_dir_create(instance);
	if (rc < 0)
		return rc;

	rc = link_new(pool, from, true, &l);
	if (rc < 0)
		return rc;
	if (link_kind_chosen == LINK_KIND_SHM) {
		rc = shm_link_open_rx(pool, instance, from, &l->shm);
		if (rc < 0)
			goto fail;
		*out = l;
		return 0;
	}
	l->sock = zmq_socket(zctx, ZMQ_PULL);
	if (!l->sock) {
		rc = -errno;
		goto fail;
	}
	int64_t maxmsg = LINK_MAX_MSG;
	if ((rc = link_setopt(l->sock, ZMQ_RCVHWM, LINK_HWM)) < 0 ||
	    (rc = link_setopt(l->sock, ZMQ_LINGER, 0)) < 0)
		goto fail;
	if ((rc = link_monitor_start(l, zctx)) < 0)
		goto fail;
	if (zmq_setsockopt(l->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) < 0) {
		rc = -errno;
		goto fail;
	}
	/* Replaces the socket file of a killed predecessor (the holder of this layer's lock is
	 * the link's one receiver, so a file here is never a live peer's). */
	if ((rc = runtime_sock_bind_zmq(l->sock, path, 0600)) < 0)
		goto fail;
	log_debug("link %s-to-%s: bound ipc://%s", link_layer_name(from), link_layer_name(self),
		  path);
	*out = l;
	return 0;
fail:
	link_close(&l);
	return rc;
}

int link_open_tx(void *zctx, struct pool *pool, const char *instance, enum pool_holder to,
		 struct link **out)
{
	char ep[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	enum pool_holder self = pool_self(pool);
	struct link *l = NULL;

	if (to == self)
		return -EINVAL;
	int rc = link_endpoint(instance, self, to, ep, sizeof(ep));
	if (rc < 0)
		return rc;
	rc = link_new(pool, to, false, &l);
	if (rc < 0)
		return rc;
	if (link_kind_chosen == LINK_KIND_SHM) {
		rc = shm_link_open_tx(pool, instance, to, &l->shm);
		if (rc < 0)
			goto fail;
		*out = l;
		return 0;
	}
	l->sock = zmq_socket(zctx, ZMQ_PUSH);
	if (!l->sock) {
		rc = -errno;
		goto fail;
	}
	if ((rc = link_setopt(l->sock, ZMQ_SNDHWM, LINK_HWM)) < 0 ||
	    (rc = link_setopt(l->sock, ZMQ_IMMEDIATE, 1)) < 0 ||
	    (rc = link_setopt(l->sock, ZMQ_RECONNECT_IVL, LINK_RECONNECT_MS)) < 0 ||
	    (rc = link_setopt(l->sock, ZMQ_LINGER, 0)) < 0)
		goto fail;
	if ((rc = link_monitor_start(l, zctx)) < 0)
		goto fail;
	/* Connecting to an ipc path nobody has bound yet is fine: ZeroMQ retries in the
	 * background, and ZMQ_IMMEDIATE makes sends fail fast until it succeeds. */
	if (zmq_connect(l->sock, ep) < 0) {
		rc = -errno;
		goto fail;
	}
	log_debug("link %s-to-%s: connecting %s", link_layer_name(self), link_layer_name(to), ep);
	*out = l;
	return 0;
fail:
	link_close(&l);
	return rc;
}

void link_close(struct link **lp)
{
	struct link *l = *lp;
	if (!l)
		return;
	link_fault_close(l); /* frees what a delay still holds: ours, never sent */
	shm_link_close(&l->shm);
	/* Also takes down a link that open left half-built (no socket, or no monitor). */
	if (l->sock) {
		link_monitor_stop(l);
		zmq_close(l->sock);
	}
	free(l);
	*lp = NULL;
}

void *link_socket(struct link *l) { return l->sock; }

const struct link_stats *link_stats(const struct link *l)
{
	return l->shm ? shm_link_stats(l->shm) : &l->stats;
}

/* Where this link's counters live: its own, or its ring's. */
struct link_stats *link_counters(struct link *l)
{
	return l->shm ? shm_link_counters(l->shm) : &l->stats;
}

struct link_fault **link_fault_of(struct link *l) { return &l->fault; }

struct link_faults **link_faults_of(struct link *l) { return &l->faults; }

struct pool *link_pool(struct link *l) { return l->pool; }

enum link_kind link_kind_of(const struct link *l)
{
	return l->shm ? LINK_KIND_SHM : LINK_KIND_ZMQ;
}

int link_loop_add(struct loop *lp, struct link *l, loop_source_fn fn, void *arg)
{
	if (l->shm)
		return loop_add_fd(lp, shm_link_fd(l->shm), fn, arg);
	return loop_add_zsock(lp, l->sock, fn, arg);
}

void link_loop_room(struct loop *lp, int id, struct link *l, bool wait)
{
	/* A ring's room doorbell is a FIFO that becomes readable; a PUSH socket becomes
	 * writable. */
	loop_source_events(lp, id, !wait ? 0 : l->shm ? ZMQ_POLLIN : ZMQ_POLLOUT);
}

const struct hist *link_hist(const struct link *l) { return &l->hist; }

const char *link_hist_name(const struct link *l) { return l->hist_name; }

bool link_is_rx(const struct link *l) { return l->rx; }

enum pool_holder link_peer(const struct link *l) { return l->peer; }

/* ZeroMQ's half of link_xmit. */
static int link_zmq_xmit(struct link *l, struct buf **chains, struct desc *wire, unsigned n,
			 uint64_t now)
{
	struct buf *own[DESC_BATCH_MAX];
	unsigned k = link_batch_owned(chains, n, own);
	struct desc_batch *b = &l->batch;
	b->sender = l->self;
	b->seq = l->tx_seq;
	b->count = n;
	b->sent = now;
	memcpy(b->d, wire, n * sizeof(wire[0]));
	int size = desc_batch_encode(b, l->msg, l->msg_size);
	if (size < 0) {
		/* Cannot happen with msg sized for DESC_BATCH_MAX; still, never leak. */
		link_batch_drop(l->pool, &l->stats, own, k);
		return size;
	}

	/* Hand over first: the receiver may look at the buffers the moment the message lands. */
	int rc = k ? pool_transfer(l->pool, own, k, l->peer) : 0;
	if (rc < 0)
		return rc; /* -EPERM: some chain was not ours; nothing changed, caller's bug */
	if (zmq_send(l->sock, l->msg, (size_t)size, ZMQ_DONTWAIT) < 0) {
		rc = -errno;
		/* Best effort per chain: a chain the receiver reclaimed in between (it restarted)
		 * comes back as a NULL entry, which the free skips: it is not ours. */
		int back = k ? pool_transfer_back(l->pool, own, k, l->peer) : 0;
		if (back != (int)k) {
			log_warn("link %s-to-%s: %u of %u chains not taken back after a failed send",
				 link_layer_name(l->self), link_layer_name(l->peer),
				 back < 0 ? k : k - (unsigned)back, k);
			if (back < 0) /* cannot happen (peer and own checked); never free theirs */
				for (unsigned i = 0; i < k; i++)
					own[i] = NULL;
		}
		l->stats.tx_drop_full += n - k; /* the descriptors that handed nothing over */
		link_batch_drop(l->pool, &l->stats, own, k);
		return rc;
	}
	l->tx_seq++;
	l->wait_expired = false; /* the peer takes batches again: worth waiting for next time */
	l->stats.tx_batches++;
	l->stats.tx_descs += n;
	return (int)n;
}

int link_xmit(struct link *l, struct buf **chains, struct desc *wire, unsigned n, uint64_t now)
{
	int rc = l->shm ? shm_link_send(l->shm, chains, wire, n, now)
			: link_zmq_xmit(l, chains, wire, n, now);
	if (rc == -EPERM)
		return rc; /* nothing changed: the caller's chains are still the caller's */
	if (rc > 0)
		l->wait_expired = false; /* the peer takes batches again */
	for (unsigned i = 0; i < n; i++)
		chains[i] = NULL;
	return rc;
}

int link_send(struct link *l, struct buf **bufs, struct desc *descs, unsigned n)
{
	if (l->rx)
		return -EOPNOTSUPP;
	if (n > DESC_BATCH_MAX)
		return -EINVAL; /* caller bugs: leave its chains untouched rather than guess */
	for (unsigned i = 0; i < n; i++)
		if (!bufs[i])
			return -EINVAL;
	if (n == 0)
		return 0;
	uint64_t now = clock_now();
	link_batch_fill(bufs, descs, n);
	/* Counted whether or not the batch then goes out: the time was spent either way. */
	link_batch_account_tx(descs, n, &l->hist, now);
	if (l->fault)
		return link_fault_send(l, bufs, descs, n, now);
	return link_xmit(l, bufs, descs, n, now);
}

static int link_recv_batch(struct link *l, struct buf **bufs, struct desc *descs, unsigned max);

int link_recv(struct link *l, struct buf **bufs, struct desc *descs, unsigned max)
{
	int got = link_recv_batch(l, bufs, descs, max);
	/* Coalescing (file comment, "Receiving"): more batches already waiting, while a whole
	 * one still fits. */
	while (got >= 0 && max >= 2 * DESC_BATCH_MAX && max - (unsigned)got >= DESC_BATCH_MAX) {
		int more = link_recv_batch(l, bufs + got, descs + got, max - (unsigned)got);
		if (more < 0)
			break; /* nothing more waiting (a ring's doorbell is armed) */
		got += more;
	}
	if (l->faults && got >= 0)
		link_fault_recv(l, got);
	return got;
}

static int link_recv_batch(struct link *l, struct buf **bufs, struct desc *descs, unsigned max)
{
	if (l->shm)
		return shm_link_recv(l->shm, bufs, descs, max, &l->hist);
	if (!l->rx)
		return -EOPNOTSUPP;
	if (max < DESC_BATCH_MAX)
		return -EINVAL;

	int size = zmq_recv(l->sock, l->msg, l->msg_size, ZMQ_DONTWAIT);
	if (size < 0)
		return -errno;
	/* zmq_recv reports the full length of a message it truncated. */
	if ((size_t)size > l->msg_size) {
		l->stats.rx_drop_badmsg++;
		return 0;
	}
	struct desc_batch *b = &l->batch;
	if (desc_batch_decode(&l->codec, l->msg, (size_t)size, b) < 0) {
		l->stats.rx_drop_badmsg++;
		return 0;
	}
	return (int)link_batch_take(l->pool, l->peer, b, &l->stats, &l->rx_seq, bufs, descs,
				    &l->hist, clock_now());
}


void *link_peer_events(struct link *l) { return l->monitor; /* NULL for a ring */ }

/* Consume the monitor's events: handshakes completed (counted in peers_seen) and connections
 * dropped. A connection that drops before its handshake completes was never counted up, which
 * the floor at 0 absorbs. */
static void link_monitor_read(struct link *l)
{
	for (;;) {
		/* Each event is two frames: 6 bytes (event id, value), then the endpoint. */
		uint8_t ev[6];
		int rc = zmq_recv(l->monitor, ev, sizeof(ev), ZMQ_DONTWAIT);
		if (rc < 0)
			break;
		unsigned event = rc >= 2 ? (unsigned)(ev[0] | ev[1] << 8) : 0u;
		int more = 0;
		size_t sz = sizeof(more);
		while (zmq_getsockopt(l->monitor, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
			uint8_t sink[256];
			if (zmq_recv(l->monitor, sink, sizeof(sink), ZMQ_DONTWAIT) < 0)
				break;
		}
		if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
			l->peers_seen++;
			l->peers_up++;
		} else if (event == ZMQ_EVENT_DISCONNECTED && l->peers_up > 0) {
			l->peers_up--;
		}
	}
}

unsigned link_peer_events_drain(struct link *l)
{
	if (l->shm)
		return l->rx ? 0 : shm_link_peer_changes(l->shm);
	link_monitor_read(l);
	unsigned n = (unsigned)(l->peers_seen - l->peers_reported);
	l->peers_reported = l->peers_seen;
	return n;
}

bool link_peer_up(struct link *l)
{
	if (l->shm)
		return l->rx || shm_link_peer_up(l->shm);
	link_monitor_read(l);
	return l->peers_up > 0;
}

bool link_tx_ready(struct link *l)
{
	if (l->shm)
		return shm_link_tx_ready(l->shm);
	int ev = 0;
	size_t len = sizeof(ev);
	return zmq_getsockopt(l->sock, ZMQ_EVENTS, &ev, &len) == 0 && (ev & ZMQ_POLLOUT);
}

enum link_room link_room(struct link *l, uint64_t now)
{
	if (link_tx_ready(l)) {
		l->full_since = 0;
		return LINK_ROOM_YES;
	}
	if (l->wait_expired || !link_peer_up(l)) {
		l->full_since = 0;
		return LINK_ROOM_DROP;
	}
	if (!l->full_since) {
		l->full_since = now ? now : 1;
		link_counters(l)->tx_waits++;
	} else if (now - l->full_since >= (uint64_t)LINK_WAIT_MAX_MS * CLOCK_NS_PER_MS) {
		l->full_since = 0;
		l->wait_expired = true;
		link_counters(l)->tx_wait_expired++;
		return LINK_ROOM_DROP;
	}
	return LINK_ROOM_WAIT;
}

uint64_t link_room_recheck(const struct link *l, uint64_t now)
{
	if (!l->full_since)
		return CLOCK_NEVER;
	uint64_t end = l->full_since + (uint64_t)LINK_WAIT_MAX_MS * CLOCK_NS_PER_MS;
	uint64_t soon = now + (uint64_t)LINK_WAIT_RECHECK_MS * CLOCK_NS_PER_MS;
	return soon < end ? soon : end;
}

int link_wait_peer(struct link *l, int timeout_ms)
{
	uint64_t deadline = clock_now() + (uint64_t)timeout_ms * CLOCK_NS_PER_MS;
	if (l->shm) {
		/* No handshake: the receiver is there once its process has made the ring. */
		while (!link_peer_up(l)) {
			if (clock_now() >= deadline)
				return -ETIMEDOUT;
			usleep(1000);
		}
		return 0;
	}
	for (;;) {
		link_peer_events_drain(l);
		if (l->peers_seen > 0)
			return 0;
		uint64_t now = clock_now();
		if (now >= deadline)
			return -ETIMEDOUT;
		zmq_pollitem_t item = {.socket = l->monitor, .events = ZMQ_POLLIN};
		if (zmq_poll(&item, 1, (long)((deadline - now) / CLOCK_NS_PER_MS) + 1) < 0 &&
		    errno != EINTR)
			return -errno;
	}
}
