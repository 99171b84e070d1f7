/* sock_stream_data: stream send and recv through the slot's byte rings, and readiness.
 *
 * Send (Linux tcp_sendmsg): wait for the connection while it is being made (EAGAIN when
 * non-blocking; EPIPE with SIGPIPE unless MSG_NOSIGNAL when there is none, or the pending error
 * instead), then copy the caller's bytes into the TX ring at its head and publish them, as much
 * as the send buffer takes (head - tail <= the slot block's sndbuf, or the ring): a blocking call
 * waits for room until everything is in (SO_SNDTIMEO: EAGAIN), a non-blocking one returns what
 * fit, or EAGAIN for nothing. Room comes back as the peer acknowledges (tcpd advances the TX
 * tail and bumps the ring's futex word, stream_ring_room_*: a blocked sender sleeps on it, not
 * on the eventfd, which unread received data may keep readable). A call that copied something
 * returns that count whatever stops it (an error, a signal, the timeout), as Linux does.
 * EPIPE: after shutdown(SHUT_WR), close or a reset (the slot block's WR_CLOSED); the pending
 * error, if any, is reported instead (ECONNRESET, then EPIPE from the next call).
 *
 * MSG_MORE and TCP_CORK: bytes sent with MSG_MORE stay above the slot's tx_push (region.h), so
 * tcpd corks them as Linux corks a partial segment; a send without MSG_MORE moves tx_push to the
 * head. Before it sleeps for room a sender pushes everything (Linux's tcp_push before
 * sk_stream_wait_memory), or a ring full of corked bytes would wait forever. TCP_CORK is an
 * option tcpd applies. MSG_OOB: the data goes into the ring as any other, then URGENT tells tcpd
 * the index just past it (the last byte is the urgent one, as Linux sends it).
 *
 * The doorbell (batching): after publishing the TX head from old to new, libsock writes the
 * session's doorbell only when tcpd's tx_event lies in [old, new) (tcpd asked to hear of those
 * bytes: it stores the head it has taken in before it sleeps), or when corked bytes became
 * pushed. So while tcpd has not yet come round to bytes already queued, further sends cost no
 * system call: one doorbell per batch that tcpd takes, not one per send(). The same for the RX
 * tail and rx_event after a receive: tcpd says from where a read frees enough window to be worth
 * an update (it can always read the real tail itself).
 *
 * Recv (Linux tcp_recvmsg): copy from [tail, head) of the RX ring (up to eof_at once the FIN is
 * in), publish the tail (not with MSG_PEEK), loop until the target (1 byte, or all with
 * MSG_WAITALL); with nothing copied: 0 at EOF (the FIN, or a reset once its error has been
 * reported, or our SHUT_RD), the pending error, ENOTCONN if never connected, EAGAIN when
 * non-blocking or SO_RCVTIMEO passed, else wait on the slot's eventfd. MSG_TRUNC discards the
 * bytes without copying them (Linux's TCP meaning). MSG_OOB: EINVAL (received urgent data stays
 * in the stream, as with SO_OOBINLINE). MSG_ERRQUEUE: EAGAIN (no error queue for TCP here). No
 * peer address and no control messages (msg_namelen and msg_controllen become 0).
 *
 * The eventfd invariant, as for datagrams: "readable => count > 0", where readable is what
 * sock_stream_readable_now says (data, EOF, an error, a hang-up, our SHUT_RD, a queued
 * connection of a listener). tcpd writes the count on each such change; whoever finds nothing
 * readable may drain it but looks again afterwards and writes it back if something came
 * (sock_stream_settle). So native poll/epoll on the socket's descriptor reports POLLIN exactly
 * when a recv (or accept) would not block, give or take a spurious wake-up.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "sock_priv.h"

#define SOCK_TCP (sock_tport(SOCK_TP_TCP))

static uint32_t sock_stream_state(const struct region_stream_ctl *c)
{
	return atomic_load_explicit(&c->state, memory_order_acquire);
}

static bool sock_stream_error_pending(const struct region_stream_ctl *c)
{
	return atomic_load_explicit(&c->error, memory_order_acquire) != 0;
}

void sock_sigpipe(void)
{
	raise(SIGPIPE); /* the calling thread, as Linux's send_sig(SIGPIPE, current, 0) */
}

static void sock_stream_doorbell(void)
{
	uint64_t one = 1;
	if (write(SOCK_TCP->doorbell_fd, &one, sizeof(one)) < 0) {
		/* saturated: tcpd will read it anyway */
	}
}

static void sock_stream_signal(unsigned slot)
{
	uint64_t one = 1;
	if (write(SOCK_TCP->slot_fd[slot], &one, sizeof(one)) < 0) {
		/* saturated: readable anyway */
	}
}

/* Our own SHUT_* bits of slot's socket. */
static uint8_t sock_stream_shut(unsigned slot)
{
	sock_tab_lock();
	uint8_t shut = sock_ent(SOCK_TP_TCP, slot)->shut;
	sock_tab_unlock();
	return shut;
}

/* Bytes of slot's RX ring beyond `have` published (shared atomics: any thread), or any change
 * that makes a recv return, or a queued connection of a listener. */
static bool sock_stream_readable_beyond(unsigned slot, uint64_t have)
{
	const struct region_stream_ctl *c = sock_stream_ctl(slot);
	uint32_t st = sock_stream_state(c);
	if (st & REGION_SS_LISTENING)
		return atomic_load_explicit(&c->acceptq, memory_order_acquire) > 0;
	if ((st & (REGION_SS_RD_EOF | REGION_SS_RD_CLOSED | REGION_SS_ERROR | REGION_SS_HUP)) ||
	    sock_stream_error_pending(c))
		return true;
	const struct ring_shared *sh = region_stream_rx(&SOCK_TCP->region, slot)->shared;
	uint64_t head = atomic_load_explicit(&sh->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&sh->tail, memory_order_acquire);
	return head - tail > have || (sock_stream_shut(slot) & SOCK_SHUT_RD);
}

bool sock_stream_readable_now(unsigned slot)
{
	return sock_stream_readable_beyond(slot, 0);
}

void sock_stream_settle(unsigned slot)
{
	if (sock_stream_readable_now(slot))
		return;
	uint64_t v;
	if (read(SOCK_TCP->slot_fd[slot], &v, sizeof(v)) == (ssize_t)sizeof(v) &&
	    sock_stream_readable_now(slot))
		sock_stream_signal(slot); /* it came after all: keep the invariant */
}

void sock_stream_arm_room(unsigned slot)
{
	stream_ring_room_arm(region_stream_tx(&SOCK_TCP->region, slot));
}

/* The send buffer: what tcpd allows in flight (sndbuf of the slot block), at most the ring. */
static uint64_t sock_stream_tx_limit(const struct stream_ring *tx, const struct region_stream_ctl *c)
{
	uint32_t b = atomic_load_explicit(&c->sndbuf, memory_order_acquire);
	return b == 0 || b > tx->size ? tx->size : b;
}

/* Bytes in the TX ring now (unacknowledged + unsent), from the shared indices (any thread). */
static uint64_t sock_stream_tx_used(unsigned slot)
{
	const struct ring_shared *sh = region_stream_tx(&SOCK_TCP->region, slot)->shared;
	uint64_t head = atomic_load_explicit(&sh->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&sh->tail, memory_order_acquire);
	return head - tail;
}

/* Linux's sk_stream_error: EPIPE gives way to the pending error, else raises SIGPIPE unless
 * MSG_NOSIGNAL. */
static ssize_t sock_stream_error(const struct sock_ref *ref, int err, int flags)
{
	if (err == -EPIPE) {
		int e = sock_stream_take_error(ref);
		if (e > 0)
			err = -e; /* EPIPE itself, after a reset in CLOSE-WAIT, still signals */
		if (err == -EPIPE && !(flags & MSG_NOSIGNAL))
			sock_sigpipe();
	}
	return err;
}

/* ---- copies between iovecs and ring spans ---- */

/* Copy n bytes of msg's iovecs, starting `skip` bytes in, to dst. Returns the bytes copied:
 * fewer than n only when an iovec with a NULL base and a length is met (*fault). */
static size_t sock_iov_gather(const struct msghdr *msg, size_t skip, uint8_t *dst, size_t n,
			      bool *fault)
{
	size_t done = 0;
	for (size_t i = 0; i < msg->msg_iovlen && done < n; i++) {
		size_t len = msg->msg_iov[i].iov_len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		if (!msg->msg_iov[i].iov_base) {
			*fault = true;
			break;
		}
		size_t take = len - skip < n - done ? len - skip : n - done;
		memcpy(dst + done, (const uint8_t *)msg->msg_iov[i].iov_base + skip, take);
		done += take;
		skip = 0;
	}
	return done;
}

/* Copy n bytes from src into msg's iovecs, starting `skip` bytes in (the iovecs were checked:
 * no NULL base with a length, and they hold at least skip + n bytes). */
static void sock_iov_scatter(struct msghdr *msg, size_t skip, const uint8_t *src, size_t n)
{
	size_t done = 0;
	for (size_t i = 0; i < msg->msg_iovlen && done < n; i++) {
		size_t len = msg->msg_iov[i].iov_len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		size_t take = len - skip < n - done ? len - skip : n - done;
		memcpy((uint8_t *)msg->msg_iov[i].iov_base + skip, src + done, take);
		done += take;
		skip = 0;
	}
}

/* ---- send ---- */

/* After publishing the TX head from old to new: move tx_push (unless corking) and ring the
 * doorbell if tcpd asked to hear of these bytes or corked ones became pushed (file comment). */
static void sock_stream_tx_notify(struct region_stream_ctl *c, uint64_t old_head,
				  uint64_t new_head, bool push)
{
	bool ring = false;
	if (push) {
		uint64_t p = atomic_load_explicit(&c->tx_push, memory_order_relaxed); /* ours */
		if (p != new_head) {
			ring = p != old_head; /* bytes corked before are pushed now */
			atomic_store_explicit(&c->tx_push, new_head, memory_order_release);
		}
	}
	/* Publish, fence, look at the event: tcpd stores its event, fences, looks at the head.
	 * One of the two sees the other (virtio's protocol). */
	atomic_thread_fence(memory_order_seq_cst);
	uint64_t ev = atomic_load_explicit(&c->tx_event, memory_order_acquire);
	if (ring || stream_ring_event_crossed(ev, old_head, new_head))
		sock_stream_doorbell();
}

static bool sock_stream_cond_not_connecting(unsigned slot, const void *arg)
{
	(void)arg;
	return !(sock_stream_state(sock_stream_ctl(slot)) & REGION_SS_CONNECTING);
}

/* sk_stream_wait_connect: 0 once the connection may carry data, or what to return. */
static int sock_stream_wait_connect(const struct sock_ref *ref, struct region_stream_ctl *c,
				    bool can_wait, uint64_t deadline, int flags)
{
	for (;;) {
		uint32_t st = sock_stream_state(c);
		if ((st & REGION_SS_CONNECTED) && !(st & (REGION_SS_CONNECTING | REGION_SS_CLOSED)))
			return 0;
		int e = sock_stream_take_error(ref);
		if (e > 0)
			return (int)sock_stream_error(ref, -e, flags);
		if (!(st & REGION_SS_CONNECTING))
			return (int)sock_stream_error(ref, -EPIPE, flags);
		if (!can_wait)
			return -EAGAIN;
		int rc = sock_stream_wait_for(ref, ref->slot, sock_stream_cond_not_connecting, NULL,
					      deadline);
		if (rc == -ETIMEDOUT)
			return -EAGAIN;
		if (rc < 0)
			return rc;
	}
}

ssize_t sock_stream_send(const struct sock_ref *ref, const struct msghdr *msg, int flags)
{
	size_t total = 0;
	bool bad;
	int rc = sock_iov_total(msg->msg_iov, msg->msg_iovlen, &total, &bad);
	if (rc < 0)
		return rc;
	if (ref->lost)
		return -ECONNABORTED;
	if (flags & MSG_FASTOPEN)
		return -EOPNOTSUPP; /* as Linux with net.ipv4.tcp_fastopen off for clients */
	struct region_stream_ctl *c = sock_stream_ctl(ref->slot);
	bool nonblock = ref->nonblock || (flags & MSG_DONTWAIT);
	bool can_wait = !nonblock && ref->sndtimeo_ms != 0;
	uint64_t deadline = ref->sndtimeo_ms < 0 ? UINT64_MAX
						 : sock_now_ms() + (uint64_t)ref->sndtimeo_ms;
	rc = sock_stream_wait_connect(ref, c, can_wait, deadline, flags);
	if (rc < 0)
		return rc;

	struct sock_entry *e = sock_ent(SOCK_TP_TCP, ref->slot);
	struct stream_ring *tx = region_stream_tx(&SOCK_TCP->region, ref->slot);
	bool push = !(flags & MSG_MORE);
	size_t copied = 0;
	int err = 0;
	pthread_mutex_lock(&e->tx_lock);
	for (;;) {
		sock_tab_lock();
		bool current = sock_table_current_locked(ref);
		uint8_t shut = e->shut;
		sock_tab_unlock();
		if (!current) {
			err = -EBADF;
			break;
		}
		/* tcp_sendmsg: err = -EPIPE on sk_err or SEND_SHUTDOWN (the error wins later) */
		if (sock_stream_error_pending(c) || (sock_stream_state(c) & REGION_SS_WR_CLOSED) ||
		    (shut & SOCK_SHUT_WR)) {
			err = -EPIPE;
			break;
		}
		if (copied == total)
			break;
		int64_t w = stream_ring_writable(tx);
		if (w < 0) {
			err = -ECONNABORTED; /* tcpd broke the ring: this connection is unusable */
			break;
		}
		uint64_t used = tx->size - (uint64_t)w, limit = sock_stream_tx_limit(tx, c);
		uint64_t room = used < limit ? limit - used : 0;
		if (room > 0) {
			size_t n = room < total - copied ? (size_t)room : total - copied;
			uint64_t old = stream_ring_head(tx);
			struct iovec sp[2];
			int pieces = stream_ring_spans(tx, old, n, sp);
			size_t got = 0;
			bool fault = false;
			for (int i = 0; i < pieces && !fault; i++)
				got += sock_iov_gather(msg, copied + got, sp[i].iov_base, sp[i].iov_len,
						       &fault);
			if (got) {
				/* latency: stamped before the head (region.h), one clock read */
				atomic_store_explicit(&c->tx_stamp, clock_now(), memory_order_relaxed);
				stream_ring_publish_head(tx, old + got);
				copied += got;
				sock_stream_tx_notify(c, old, old + got, push);
			}
			if (fault) {
				err = -EFAULT;
				break;
			}
			continue;
		}
		if (!can_wait) {
			err = -EAGAIN;
			break;
		}
		/* Full: push what is corked (tcp_push before sk_stream_wait_memory), then sleep
		 * until tcpd gives room back or the state changes: read the seq, arm, look again. */
		uint64_t head = stream_ring_head(tx);
		sock_stream_tx_notify(c, head, head, true);
		uint32_t seq = stream_ring_room_seq(tx);
		stream_ring_room_arm(tx);
		w = stream_ring_writable(tx);
		if (w < 0 || (uint64_t)(tx->size - (uint64_t)w) < limit ||
		    sock_stream_error_pending(c) || (sock_stream_state(c) & REGION_SS_WR_CLOSED))
			continue;
		pthread_mutex_unlock(&e->tx_lock);
		rc = stream_ring_room_wait(tx, seq, sock_ms_left(deadline));
		pthread_mutex_lock(&e->tx_lock);
		if (rc == -ETIMEDOUT) {
			err = -EAGAIN;
			break;
		}
		if (rc == -EINTR) {
			err = -EINTR;
			break;
		}
	}
	if (copied && push) {
		uint64_t head = stream_ring_head(tx);
		sock_stream_tx_notify(c, head, head, true); /* tx_push = head, if not yet */
	}
	if (copied && (flags & MSG_OOB)) {
		/* tcp_mark_urg: the urgent pointer is just past the last byte of this send */
		Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
		req.op = USTACK__SOCK_REQUEST__OP__URGENT;
		req.index = stream_ring_head(tx);
		struct sock_reply rep;
		sock_req_sock(ref, &req, &rep); /* the data is queued either way */
	}
	pthread_mutex_unlock(&e->tx_lock);
	if (copied)
		return (ssize_t)copied;
	return err ? sock_stream_error(ref, err, flags) : 0;
}

/* ---- recv ---- */

/* After publishing the RX tail from old to new: ring the doorbell if tcpd asked to hear. */
static void sock_stream_rx_notify(struct region_stream_ctl *c, uint64_t old_tail,
				  uint64_t new_tail)
{
	atomic_thread_fence(memory_order_seq_cst);
	uint64_t ev = atomic_load_explicit(&c->rx_event, memory_order_acquire);
	if (stream_ring_event_crossed(ev, old_tail, new_tail))
		sock_stream_doorbell();
}

/* Linux's tcp_ioctl: on a listener EINVAL; while the handshake runs 0; else SIOCINQ the bytes
 * a read may take (tcp_inq: up to the FIN) and SIOCOUTQ those written and not yet acknowledged
 * (write_seq - snd_una: what the TX ring holds, since tcpd frees it as ACKs come). The counts
 * come from tcpd's side of the rings: bounded by a ring's size before they are believed. */
int sock_stream_queued(const struct sock_ref *ref, bool outq, int *val)
{
	const struct region_stream_ctl *c = sock_stream_ctl(ref->slot);
	uint32_t st = sock_stream_state(c);
	if (st & REGION_SS_LISTENING)
		return -EINVAL;
	uint64_t n = 0;
	if (st & REGION_SS_CONNECTING) {
		n = 0;
	} else if (outq) {
		n = sock_stream_tx_used(ref->slot);
		if (n > region_stream_tx(&SOCK_TCP->region, ref->slot)->size)
			n = 0; /* a tail tcpd moved past our head: nothing is ours to report */
	} else {
		struct sock_entry *e = sock_ent(SOCK_TP_TCP, ref->slot);
		struct stream_ring *rx = region_stream_rx(&SOCK_TCP->region, ref->slot);
		pthread_mutex_lock(&e->rx_lock); /* the ring's consumer view is the readers' */
		int64_t avail = stream_ring_readable(rx);
		n = avail > 0 ? (uint64_t)avail : 0;
		if (n && (st & REGION_SS_RD_EOF)) {
			uint64_t eof = atomic_load_explicit(&c->eof_at, memory_order_acquire);
			uint64_t tail = stream_ring_tail(rx);
			uint64_t lim = (int64_t)(eof - tail) < 0 ? 0 : eof - tail;
			if (n > lim)
				n = lim;
		}
		pthread_mutex_unlock(&e->rx_lock);
	}
	*val = n > INT_MAX ? INT_MAX : (int)n;
	return 0;
}

static bool sock_stream_cond_readable(unsigned slot, const void *arg)
{
	return sock_stream_readable_beyond(slot, *(const uint64_t *)arg);
}

ssize_t sock_stream_recv(const struct sock_ref *ref, struct msghdr *msg, int flags)
{
	size_t total;
	bool bad;
	int rc = sock_iov_total(msg->msg_iov, msg->msg_iovlen, &total, &bad);
	if (rc < 0)
		return rc;
	if (bad && !(flags & MSG_TRUNC)) /* MSG_TRUNC never touches the buffer */
		return -EFAULT;
	if (ref->lost)
		return -ECONNABORTED;
	if (flags & MSG_ERRQUEUE)
		return -EAGAIN; /* inet_recv_error: nothing queued */
	struct region_stream_ctl *c = sock_stream_ctl(ref->slot);
	if (sock_stream_state(c) & REGION_SS_LISTENING)
		return -ENOTCONN;
	if (flags & MSG_OOB)
		return -EINVAL; /* tcp_recv_urg: no urgent byte kept out of line */

	bool nonblock = ref->nonblock || (flags & MSG_DONTWAIT);
	bool can_wait = !nonblock && ref->rcvtimeo_ms != 0;
	uint64_t deadline = ref->rcvtimeo_ms < 0 ? UINT64_MAX
						 : sock_now_ms() + (uint64_t)ref->rcvtimeo_ms;
	bool peek = flags & MSG_PEEK, discard = flags & MSG_TRUNC;
	size_t target = (flags & MSG_WAITALL) && total ? total : 1;
	msg->msg_namelen = 0; /* TCP names no peer per read */
	msg->msg_controllen = 0;
	msg->msg_flags = 0;

	struct sock_entry *e = sock_ent(SOCK_TP_TCP, ref->slot);
	struct stream_ring *rx = region_stream_rx(&SOCK_TCP->region, ref->slot);
	size_t copied = 0;
	ssize_t result;
	pthread_mutex_lock(&e->rx_lock);
	for (;;) {
		sock_tab_lock();
		bool current = sock_table_current_locked(ref);
		uint8_t shut = e->shut;
		sock_tab_unlock();
		if (!current) {
			result = copied ? (ssize_t)copied : -EBADF;
			break;
		}
		uint32_t st = sock_stream_state(c);
		int64_t avail = stream_ring_readable(rx);
		if (avail < 0) {
			result = copied ? (ssize_t)copied : -ECONNABORTED; /* tcpd broke the ring */
			break;
		}
		uint64_t tail = stream_ring_tail(rx);
		bool at_eof = false;
		if (st & REGION_SS_RD_EOF) {
			/* nothing past the FIN is data */
			uint64_t eof = atomic_load_explicit(&c->eof_at, memory_order_acquire);
			uint64_t lim = (int64_t)(eof - tail) < 0 ? 0 : eof - tail;
			if ((uint64_t)avail > lim)
				avail = (int64_t)lim;
			at_eof = (uint64_t)avail == 0;
		}
		uint64_t skip = peek ? copied : 0;
		uint64_t have = (uint64_t)avail > skip ? (uint64_t)avail - skip : 0;
		if (have > 0 && copied < total) {
			size_t n = have < total - copied ? (size_t)have : total - copied;
			if (!discard) {
				struct iovec sp[2];
				int pieces = stream_ring_spans(rx, tail + skip, n, sp);
				size_t off = 0;
				for (int i = 0; i < pieces; i++) {
					sock_iov_scatter(msg, copied + off, sp[i].iov_base, sp[i].iov_len);
					off += sp[i].iov_len;
				}
			}
			copied += n;
			if (!peek) {
				stream_ring_publish_tail(rx, tail + n);
				sock_stream_rx_notify(c, tail, tail + n);
				region_app_stream_read(&SOCK_TCP->region, ref->slot,
						       &e->rx_stamp_seen, clock_now);
			}
			continue; /* more may have come meanwhile */
		}
		if (have > 0 && total == 0) {
			result = 0; /* a zero-length read with data queued */
			break;
		}
		if (copied >= target) {
			result = (ssize_t)copied;
			break;
		}
		bool rcv_shut = (st & (REGION_SS_RD_EOF | REGION_SS_RD_CLOSED)) ||
				(shut & SOCK_SHUT_RD);
		if (copied) {
			if (!can_wait || sock_stream_error_pending(c) || (st & REGION_SS_CLOSED) ||
			    rcv_shut) {
				result = (ssize_t)copied;
				break;
			}
		} else {
			if (at_eof) {
				result = 0; /* SOCK_DONE: the FIN is read */
				break;
			}
			int err = sock_stream_take_error(ref);
			if (err > 0) {
				result = -err;
				break;
			}
			if (rcv_shut) {
				result = 0;
				break;
			}
			if (st & REGION_SS_CLOSED) {
				result = -ENOTCONN; /* never connected */
				break;
			}
			if (!can_wait) {
				result = -EAGAIN;
				break;
			}
		}
		pthread_mutex_unlock(&e->rx_lock);
		/* more than what MSG_PEEK already copied, or anything that ends the call */
		uint64_t need = peek ? copied : 0;
		rc = sock_stream_wait_for(ref, ref->slot, sock_stream_cond_readable, &need, deadline);
		pthread_mutex_lock(&e->rx_lock);
		if (rc == -ETIMEDOUT) {
			result = copied ? (ssize_t)copied : -EAGAIN;
			break;
		}
		if (rc < 0) {
			result = copied ? (ssize_t)copied : rc;
			break;
		}
	}
	pthread_mutex_unlock(&e->rx_lock);
	sock_stream_settle(ref->slot);
	return result;
}

/* ---- readiness ---- */

short sock_stream_ready(const struct sock_ref *ref, short events)
{
	sock_tab_lock();
	const struct sock_entry *e = sock_table_entry_locked(ref);
	bool lost = e && sock_table_lost_locked(SOCK_TP_TCP, e);
	uint8_t shut = e ? e->shut : 0;
	sock_tab_unlock();
	if (!e)
		return POLLNVAL;
	short always = POLLERR | POLLHUP;
	if (lost) /* as after Linux's tcp_abort: closed, both ways shut, ECONNABORTED pending */
		return (short)((POLLIN | POLLRDNORM | POLLRDHUP | POLLOUT | POLLWRNORM) & events) |
		       always;
	const struct region_stream_ctl *c = sock_stream_ctl(ref->slot);
	uint32_t st = sock_stream_state(c);
	/* tcp_poll, line by line */
	if (st & REGION_SS_LISTENING)
		return atomic_load_explicit(&c->acceptq, memory_order_acquire) > 0
			       ? (short)(events & (POLLIN | POLLRDNORM))
			       : 0;
	short mask = 0;
	bool rcv_shut = (st & (REGION_SS_RD_EOF | REGION_SS_RD_CLOSED)) || (shut & SOCK_SHUT_RD);
	bool snd_shut = (st & REGION_SS_WR_CLOSED) || (shut & SOCK_SHUT_WR);
	if ((rcv_shut && snd_shut) || (st & (REGION_SS_CLOSED | REGION_SS_HUP)))
		mask |= POLLHUP;
	if (rcv_shut)
		mask |= POLLIN | POLLRDNORM | POLLRDHUP;
	if (!(st & REGION_SS_CONNECTING)) {
		const struct ring_shared *sh = region_stream_rx(&SOCK_TCP->region, ref->slot)->shared;
		if (atomic_load_explicit(&sh->head, memory_order_acquire) !=
		    atomic_load_explicit(&sh->tail, memory_order_acquire))
			mask |= POLLIN | POLLRDNORM;
		if (!snd_shut) {
			/* __sk_stream_is_writeable: free space at least half of what is queued */
			const struct stream_ring *tx = region_stream_tx(&SOCK_TCP->region, ref->slot);
			uint64_t used = sock_stream_tx_used(ref->slot);
			uint64_t limit = sock_stream_tx_limit(tx, c);
			if (used < limit && limit - used >= used / 2)
				mask |= POLLOUT | POLLWRNORM;
		} else {
			mask |= POLLOUT | POLLWRNORM;
		}
	}
	if (sock_stream_error_pending(c))
		mask |= POLLERR;
	return (short)(mask & (events | always));
}
