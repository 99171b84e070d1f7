/* sock_data: datagram send*() and recv*() through the DGRAM region's rings, and pending errors
 * (a stream socket's calls go on to sock_stream_data.c right after the descriptor lookup).
 *
 * shutdown() of a datagram socket (Linux keeps it in the socket layer): after SHUT_WR a send
 * says EPIPE once every other check passed (no SIGPIPE: sock_alloc_send_pskb's); after SHUT_RD
 * a receive that would wait returns 0 instead, a non-blocking one still says EAGAIN, and
 * datagrams that arrive are still delivered; us_poll adds POLLIN|POLLRDHUP, and POLLHUP once
 * both ways are shut.
 *
 * Send: local checks first, in Linux's order and with its errnos (udp_sendmsg): EMSGSIZE over
 * 65,535, EOPNOTSUPP for MSG_OOB, then the address (EINVAL short or port 0, EAFNOSUPPORT, or
 * EDESTADDRREQ without one on an unconnected socket; an address on a connected socket is used,
 * never EISCONN), then the route, looked up in the instance's routing table with the same module
 * udpd and ipd use (common/route.h; the table comes from the server, HOSTCFG): ENETUNREACH
 * without a route, EINVAL for a 127/8 source leaving by the NIC, EACCES for a broadcast route
 * without SO_BROADCAST; EMSGSIZE over 65,507 payload bytes, or over the route's MTU with
 * IP_PMTUDISC_DO/PROBE/INTERFACE. They have to be here: the server takes TX records
 * asynchronously and has no way to fail the call that produced one (what it refuses anyway is
 * counted: tx_errors). A send that fails any of them on a socket without a port asks the
 * server to autobind it (AUTOBIND), as Linux's inet_sendmsg does before udp_sendmsg looks at
 * anything. Then a pending error (below).
 * Then one TX record (struct region_tx_dgram + the gathered payload) is reserved, filled and
 * committed under tx_lock (the TX ring has one producer side, shared by all our sockets), and
 * the doorbell written if udpd asked for it (ring_notify_wanted: it asks when it finds the ring
 * empty, so a stream of sends while udpd is taking records rings it once, not per datagram).
 * MSG_MORE travels as REGION_TX_MORE (the server corks) and skips the doorbell: the datagram
 * cannot leave before its last part anyway.
 *
 * Send buffer (SO_SNDBUF), as Linux's sock_alloc_send_skb: a send may start while the socket's
 * charge in flight is below its sndbuf (so one datagram may take it over, as in Linux), and
 * otherwise waits: EAGAIN when non-blocking, else until room comes back (sock_wait_for_wmem)
 * or SO_SNDTIMEO passes (EAGAIN), or a signal (EINTR). In flight is what udpd is not done with
 * (region.h): each record costs region_tx_charge(len) from the moment we produce it; the ring
 * tells us of every record udpd released (ring_set_reclaim: udpd publishes its tail only once
 * the datagrams are handed to ipd), and udpd tells what it still holds past the ring (corked
 * payload) in the slot's tx_held. No round trip per send: the accounting is ours, and udpd
 * bumps the TX ring's room_seq whenever room comes back, which a blocked sender sleeps on
 * (ring_room_wait, a futex in the region). The TX ring is shared by all our sockets, so a send
 * also waits for room in it. With udpd taking records only as fast as ipd and the pool take
 * the datagrams (udpd_data.c), a blocking sender is paced by the stack instead of losing
 * datagrams inside it.
 *
 * Latency (region.h, "Latency of the two hops"): each TX record carries the time it was
 * committed (one clock read per send, under tx_lock just before the commit); each RX record
 * taken (not peeked) adds the time since udpd committed it to the region's statistics area
 * (one clock read and one atomic increment per datagram received).
 *
 * Receive: ring_peek on the socket's RX ring, copy, ring_release (not with MSG_PEEK). The
 * record says which control messages the socket asked for and carries their values (struct
 * region_rx_dgram); they are written as Linux's put_cmsg writes them (SO_TIMESTAMP* first, then
 * IP_PKTINFO, IP_TTL, IP_TOS; a control buffer too short for one gets MSG_CTRUNC and as much as
 * fits). MSG_ERRQUEUE asks the server for the oldest error queue entry (ERRQUEUE) and never
 * waits, as Linux's ip_recv_error. Receivers
 * of one socket take turns on its rx_lock, which is never held while waiting: a non-blocking
 * call never waits behind a blocking one. Empty ring: EAGAIN when non-blocking, else poll() on
 * the slot's eventfd up to SO_RCVTIMEO (EAGAIN on timeout, as Linux), then look again.
 *
 * The eventfd protocol keeps "RX ring non-empty => counter > 0", which is what makes native
 * poll/epoll on the socket descriptor truthful: the server writes the eventfd after publishing
 * records; whoever sees the ring empty may drain the counter (read), but must then look at the
 * ring again and write 1 back if a record slipped in between. A counter left > 0 over an empty
 * ring is at worst a spurious wakeup, which POSIX allows (a recv then says EAGAIN).
 *
 * Pending errors (Linux sk_err: an ICMP error on a connected socket, or on any socket with
 * IP_RECVERR) stay in the server, which wakes the socket's eventfd when it records one. So a
 * wakeup over an empty ring is the hint: the call that sees it asks the server for SO_ERROR
 * (which takes and clears it) and returns it. recv looks whenever its ring is empty; send looks
 * on connected or IP_RECVERR sockets only (the only ones the server ever gives an error) and
 * only when the RX ring is empty, which costs one read() of the eventfd. An error found by us_poll is kept in the socket's entry (err) until a call takes
 * it. Known gap: an error whose wakeup merges with one for data still queued is reported only
 * once the ring is empty and another wakeup comes (Linux reports it before the data); closing it
 * needs the server to mark error wakeups (an error record, or a distinct eventfd increment).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <stdatomic.h>
#include <stddef.h>

#include "clock.h"
#include "sock_priv.h"

#define SOCK_MAX_LEN 0xffffu /* Linux's first check in udp_sendmsg */

#define SOCK_UDP (sock_tport(SOCK_TP_UDP))

static struct ring *sock_rx_ring(unsigned slot)
{
	return &SOCK_UDP->region.rx[slot];
}

/* Non-empty, seen from any thread: the shared indices are atomics (head written by the server,
 * tail by our consumer), so this needs no lock, unlike ring_empty() on the consumer's view. */
static bool sock_rx_nonempty(unsigned slot)
{
	struct ring_shared *sh = sock_rx_ring(slot)->shared;
	return atomic_load_explicit(&sh->head, memory_order_acquire) !=
	       atomic_load_explicit(&sh->tail, memory_order_acquire);
}

static void sock_signal(unsigned slot)
{
	uint64_t one = 1;
	if (write(SOCK_UDP->slot_fd[slot], &one, sizeof(one)) < 0) {
		/* saturated: readable anyway */
	}
}

/* Drain the counter. true if it was > 0. */
static bool sock_drain(unsigned slot)
{
	uint64_t v;
	return read(SOCK_UDP->slot_fd[slot], &v, sizeof(v)) == (ssize_t)sizeof(v);
}

void sock_data_settle(unsigned slot)
{
	if (sock_rx_nonempty(slot))
		return;
	if (sock_drain(slot) && sock_rx_nonempty(slot))
		sock_signal(slot);
}

void sock_data_reset_slot(unsigned slot)
{
	struct ring *rx = sock_rx_ring(slot);
	struct ring_rec rec;
	while (ring_peek(rx, &rec) == 0)
		ring_release(rx);
	sock_drain(slot);
}

/* Take the error kept locally for ref's socket: ECONNABORTED (for good) once its session is
 * lost, else what us_poll found. Positive errno or 0. */
static int sock_take_local_error(const struct sock_ref *ref)
{
	int err = 0;
	sock_tab_lock();
	struct sock_entry *e = sock_table_entry_locked(ref);
	if (e && sock_table_lost_locked(SOCK_TP_UDP, e)) {
		err = ECONNABORTED;
	} else if (e) {
		err = e->err;
		e->err = 0;
	}
	sock_tab_unlock();
	return err;
}

/* SO_ERROR from the server (taken and cleared there). 0, the pending error negated, or the
 * request's failure. */
static int sock_data_server_error(const struct sock_ref *ref, unsigned bound_ms)
{
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__GETOPT;
	req.sid = ref->sid;
	req.slot = ref->slot;
	req.level = SOL_SOCKET;
	req.optname = SO_ERROR;
	struct sock_reply rep;
	int rc = sock_req_call_bounded(SOCK_TP_UDP, &req, &rep, bound_ms);
	if (rc < 0)
		return rc;
	if (rep.status < 0)
		return rep.status;
	int v = 0;
	memcpy(&v, rep.optval, rep.optlen < sizeof(v) ? rep.optlen : sizeof(v));
	return v > 0 && v < 4096 ? -v : 0;
}

/* The pending-error check of send and of an empty-ring recv: the local one, else (ask_server) if
 * the eventfd was signalled and the ring is still empty, the server's. 0 or negative errno. */
static int sock_pending_error(const struct sock_ref *ref, bool ask_server)
{
	int err = sock_take_local_error(ref);
	if (err)
		return -err;
	if (!ask_server || sock_rx_nonempty(ref->slot) || !sock_drain(ref->slot))
		return 0;
	if (sock_rx_nonempty(ref->slot)) {
		sock_signal(ref->slot); /* data came after all: keep the invariant */
		return 0;
	}
	/* Bounded: during an outage nobody writes the eventfd, so a hint then is stale, and a data
	 * call must not wait out the whole restart bound for it. */
	return sock_data_server_error(ref, SOCK_HINT_BOUND_MS);
}

/* --- the send buffer --- */

void sock_data_tx_reclaimed(void *arg, const struct ring_rec *rec)
{
	(void)arg;
	struct region_tx_dgram d;
	if (rec->type != REGION_REC_DGRAM || rec->len < sizeof(d))
		return;
	memcpy(&d, rec->body, sizeof(d));
	if (d.slot >= SOCK_SLOTS)
		return;
	uint64_t c = region_tx_charge(rec->len);
	uint64_t *have = &sock_lib.tx_charge[d.slot];
	*have = *have > c ? *have - c : 0;
}

/* Under tx_lock: slot's send-buffer charge in flight now (what the ring reports released is
 * taken off first). */
static uint64_t sock_tx_inflight_locked(unsigned slot)
{
	struct ring *tx = &SOCK_UDP->region.tx;
	ring_reclaim(tx);
	/* Everything we produced is released: nothing of ours is in the ring, whatever a report
	 * that could not be parsed may have left in the counts. */
	if (!ring_broken(tx) && tx->tail_seen == tx->head_pub)
		memset(sock_lib.tx_charge, 0, sizeof(sock_lib.tx_charge));
	const struct region_slot_ctl *sc = region_slot(&SOCK_UDP->region, slot);
	uint64_t held = sc ? atomic_load_explicit(&sc->tx_held, memory_order_acquire) : 0;
	return sock_lib.tx_charge[slot] + held;
}

/* Linux's udp_ioctl: SIOCOUTQ is the send buffer's charge in use (sk_wmem_alloc: ours counts
 * the records udpd has not taken and the pool buffers it holds for the socket, as the
 * send-buffer limit does); SIOCINQ the payload length of the next datagram (first_packet_length),
 * 0 when none waits. A record that is not a datagram goes, as a receive would drop it. */
int sock_data_queued(const struct sock_ref *ref, bool outq, int *val)
{
	uint64_t n = 0;
	if (outq) {
		pthread_mutex_lock(&sock_lib.tx_lock);
		n = sock_tx_inflight_locked(ref->slot);
		pthread_mutex_unlock(&sock_lib.tx_lock);
	} else {
		struct sock_entry *e = sock_ent(SOCK_TP_UDP, ref->slot);
		struct ring *rx = sock_rx_ring(ref->slot);
		struct ring_rec rec;
		int rc = -EAGAIN;
		pthread_mutex_lock(&e->rx_lock);
		sock_tab_lock();
		bool current = sock_table_current_locked(ref);
		sock_tab_unlock();
		while (current && (rc = ring_peek(rx, &rec)) == 0 &&
		       (rec.type != REGION_REC_DGRAM || rec.len < sizeof(struct region_rx_dgram)))
			ring_release(rx);
		if (current && rc == 0)
			n = rec.len - sizeof(struct region_rx_dgram);
		pthread_mutex_unlock(&e->rx_lock);
		if (!current)
			return -EBADF;
	}
	*val = n > INT_MAX ? INT_MAX : (int)n;
	return 0;
}

short sock_data_ready(const struct sock_ref *ref, short events)
{
	short rev = 0;
	sock_tab_lock();
	const struct sock_entry *e = sock_table_entry_locked(ref);
	bool err = e && (e->err || sock_table_lost_locked(SOCK_TP_UDP, e));
	uint8_t shut = e ? e->shut : 0;
	sock_tab_unlock();
	if (!e)
		return POLLNVAL;
	if (err)
		rev |= POLLERR;
	/* datagram_poll: shut for reading is readable (recv says 0 or EAGAIN) and RDHUP; shut both
	 * ways is a hang-up. */
	if (shut & SOCK_SHUT_RD)
		rev |= events & (POLLIN | POLLRDNORM | POLLRDHUP);
	if (shut == (SOCK_SHUT_RD | SOCK_SHUT_WR))
		rev |= POLLHUP;
	if ((events & (POLLIN | POLLRDNORM)) && sock_rx_nonempty(ref->slot))
		rev |= events & (POLLIN | POLLRDNORM);
	if (events & (POLLOUT | POLLWRNORM)) {
		/* Linux's sock_writeable(): less than half the send buffer in flight. And the
		 * shared TX ring half free: that always takes the largest record plus the PAD a
		 * wrap may need, so a send then never waits for the ring. */
		pthread_mutex_lock(&sock_lib.tx_lock);
		uint64_t inflight = sock_tx_inflight_locked(ref->slot);
		size_t free_bytes = ring_free_bytes(&SOCK_UDP->region.tx);
		uint32_t size = SOCK_UDP->region.tx.size;
		pthread_mutex_unlock(&sock_lib.tx_lock);
		if (inflight < ref->sndbuf / 2 && free_bytes >= size / 2)
			rev |= events & (POLLOUT | POLLWRNORM);
	}
	return rev;
}

/* us_poll saw the eventfd readable over an empty ring: find out whether an error is pending, and
 * keep it for the next call. true if one is. */
bool sock_data_probe_error(const struct sock_ref *ref)
{
	int rc = sock_pending_error(ref, true);
	if (rc == 0 || rc == -ENETDOWN || rc == -ETIMEDOUT)
		return false; /* no error, or the server is away: nothing known to be pending */
	sock_tab_lock();
	struct sock_entry *e = sock_table_entry_locked(ref);
	if (e && !e->err && !sock_table_lost_locked(SOCK_TP_UDP, e))
		e->err = -rc;
	sock_tab_unlock();
	sock_signal(ref->slot); /* other waiters on this socket should see it too */
	return true;
}

/* --- send --- */

/* Linux's import_iovec: too many entries EMSGSIZE, the array unreadable EFAULT, a total beyond
 * ssize_t EINVAL. A NULL base with a length is only found when the bytes are copied (*bad), which
 * in udp_sendmsg comes after the address checks. */
int sock_iov_total(const struct iovec *iov, size_t n, size_t *total, bool *bad)
{
	if (n > IOV_MAX)
		return -EMSGSIZE;
	if (n && !iov)
		return -EFAULT;
	size_t sum = 0;
	*bad = false;
	for (size_t i = 0; i < n; i++) {
		if (iov[i].iov_len && !iov[i].iov_base)
			*bad = true;
		if (iov[i].iov_len > (size_t)SSIZE_MAX - sum)
			return -EINVAL;
		sum += iov[i].iov_len;
	}
	*total = sum;
	return 0;
}

static void sock_doorbell(void)
{
	uint64_t one = 1;
	if (write(SOCK_UDP->doorbell_fd, &one, sizeof(one)) < 0) {
		/* saturated: the server will read it anyway */
	}
}

/* Sleep until udpd gives room back (room_seq moves from seq) or the deadline: 0, -EAGAIN
 * (SO_SNDTIMEO passed, Linux's errno for it), -EINTR. */
static int sock_tx_wait(uint32_t seq, uint64_t deadline)
{
	int ms = -1;
	if (deadline != UINT64_MAX) {
		uint64_t now = sock_now_ms();
		if (now >= deadline)
			return -EAGAIN;
		ms = (int)(deadline - now);
	}
	int rc = ring_room_wait(&SOCK_UDP->region.tx, seq, ms);
	return rc == -ETIMEDOUT ? -EAGAIN : rc;
}

int sock_data_autobind(const struct sock_ref *ref)
{
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__AUTOBIND;
	req.sid = ref->sid;
	req.slot = ref->slot;
	struct sock_reply rep;
	int rc = sock_req_call(SOCK_TP_UDP, &req, &rep);
	if (rc == 0)
		rc = rep.status;
	if (rc == 0) {
		sock_tab_lock();
		struct sock_entry *e = sock_table_entry_locked(ref);
		if (e) {
			e->bound = true;
			e->saddr = rep.addr;
		}
		sock_tab_unlock();
	}
	return rc;
}

static void sock_mark_bound(const struct sock_ref *ref)
{
	sock_tab_lock();
	struct sock_entry *e = sock_table_entry_locked(ref);
	if (e)
		e->bound = true;
	sock_tab_unlock();
}

/* IP_MTU_DISCOVER modes that refuse a datagram over the route's MTU (udp_output's rule). */
static bool sock_pmtu_strict(uint8_t pmtudisc)
{
	return pmtudisc >= IP_PMTUDISC_DO && pmtudisc != IP_PMTUDISC_OMIT;
}

/* udp_sendmsg's checks of one send (file comment); fills the record's addressing. 0 or
 * negative errno. */
static int sock_send_check(const struct sock_ref *ref, const struct msghdr *msg, int flags,
			   size_t total, bool bad, struct region_tx_dgram *d)
{
	if (total > SOCK_MAX_LEN)
		return -EMSGSIZE;
	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	uint32_t daddr;
	if (msg->msg_name) {
		struct sockaddr_in sin;
		if (msg->msg_namelen < sizeof(sin))
			return -EINVAL;
		memcpy(&sin, msg->msg_name, sizeof(sin));
		if (sin.sin_family != AF_INET && sin.sin_family != AF_UNSPEC)
			return -EAFNOSUPPORT; /* AF_UNSPEC: as AF_INET, Linux's old-binary leniency */
		if (sin.sin_port == 0)
			return -EINVAL;
		d->has_addr = 1;
		d->daddr = daddr = sin.sin_addr.s_addr;
		d->dport = sin.sin_port;
	} else {
		if (!ref->connected)
			return -EDESTADDRREQ;
		daddr = ref->peer.sin_addr.s_addr;
	}
	if (ref->lost)
		return -ECONNABORTED;
	struct route_result r = {.type = ROUTE_UNICAST, .mtu = ROUTE_LO_MTU};
	int rc = 0;
	sock_tab_lock();
	if (sock_lib.rt_valid)
		rc = route_output(&sock_lib.rt, daddr, ref->saddr, &r);
	sock_tab_unlock();
	if (rc < 0)
		return rc;
	if (r.type == ROUTE_BROADCAST && !ref->broadcast)
		return -EACCES;
	if (total > SOCK_UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (sock_pmtu_strict(ref->pmtudisc) && total + 28 > r.mtu)
		return -EMSGSIZE;
	if (bad)
		return -EFAULT;
	return 0;
}

ssize_t sock_data_send(int fd, const struct msghdr *msg, int flags)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return -EBADF;
	if (ref.tp == SOCK_TP_TCP)
		return sock_stream_send(&ref, msg, flags);
	size_t total = 0;
	bool bad;
	int rc = sock_iov_total(msg->msg_iov, msg->msg_iovlen, &total, &bad);
	if (rc < 0)
		return rc;

	struct region_tx_dgram d = {.slot = ref.slot, .flags = (flags & MSG_MORE) ? REGION_TX_MORE : 0};
	rc = sock_send_check(&ref, msg, flags, total, bad, &d);
	if (rc == 0) {
		rc = sock_pending_error(&ref, ref.connected || ref.recverr);
		if (rc == -ENETDOWN || rc == -ETIMEDOUT)
			rc = 0; /* (a server away has no error to report; the datagram can queue) */
	}
	/* sock_alloc_send_pskb: after the pending error, shutdown(SHUT_WR) refuses (no SIGPIPE
	 * for a datagram socket). */
	if (rc == 0 && (ref.shut & SOCK_SHUT_WR))
		rc = -EPIPE;
	if (rc < 0) {
		/* Linux autobinds before udp_sendmsg checks anything, so the failed send leaves
		 * the socket with a port (getsockname shows it); only no port left outranks it. */
		if (!ref.bound && !ref.lost && sock_data_autobind(&ref) == -EAGAIN)
			return -EAGAIN;
		return rc;
	}

	bool nonblock = ref.nonblock || (flags & MSG_DONTWAIT);
	uint64_t deadline = UINT64_MAX;
	if (!nonblock && ref.sndtimeo_ms >= 0)
		deadline = sock_now_ms() + (uint64_t)ref.sndtimeo_ms;
	uint32_t rec_len = (uint32_t)(sizeof(d) + total);
	struct ring *tx = &SOCK_UDP->region.tx;
	bool armed = false;
	for (;;) {
		/* Read room_seq, then (when about to sleep) say so, then look: udpd either shows
		 * us the room or sees the flag and wakes us (ring.h). */
		uint32_t seq = ring_room_seq(tx);
		if (armed)
			ring_room_arm(tx);
		pthread_mutex_lock(&sock_lib.tx_lock);
		sock_tab_lock();
		bool current = sock_table_current_locked(&ref);
		if (current)
			ref.sndbuf = sock_ent(SOCK_TP_UDP, ref.slot)->sndbuf; /* SO_SNDBUF set meanwhile */
		sock_tab_unlock();
		if (!current) {
			pthread_mutex_unlock(&sock_lib.tx_lock);
			return -EBADF;
		}
		uint8_t *p = NULL;
		int err = ENOBUFS; /* the socket's send buffer is full */
		if (sock_tx_inflight_locked(ref.slot) < ref.sndbuf) {
			p = ring_reserve(tx, REGION_REC_DGRAM, rec_len);
			err = errno;
		}
		if (p) {
			/* Latency of the hop to udpd (region.h): from here, as late as the record
			 * allows, to udpd's turn at the ring. */
			d.t_sent = clock_now();
			memcpy(p, &d, sizeof(d));
			p += sizeof(d);
			for (size_t i = 0; i < msg->msg_iovlen; i++) {
				if (msg->msg_iov[i].iov_len)
					memcpy(p, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
				p += msg->msg_iov[i].iov_len;
			}
			ring_commit(tx);
			sock_lib.tx_charge[ref.slot] += region_tx_charge(rec_len);
			pthread_mutex_unlock(&sock_lib.tx_lock);
			break;
		}
		pthread_mutex_unlock(&sock_lib.tx_lock);
		if (err != ENOSPC && err != ENOBUFS)
			return -ENETDOWN; /* the server broke the ring: this stack is unusable */
		if (nonblock)
			return -EAGAIN;
		if (!armed) {
			/* What is queued (MSG_MORE parts too) must reach udpd for room to come. */
			sock_doorbell();
			armed = true;
			continue;
		}
		rc = sock_tx_wait(seq, deadline);
		if (rc < 0)
			return rc;
	}
	/* Only when udpd asked for it: while it is taking records it comes back unasked (ring.h,
	 * doorbell suppression), and the write would cost a system call per datagram. */
	if (!(flags & MSG_MORE) && ring_notify_wanted(tx))
		sock_doorbell();
	if (!ref.bound)
		sock_mark_bound(&ref); /* the server autobinds it as it takes the record */
	return (ssize_t)total;
}

/* --- receive --- */

/* Where control messages go: Linux's put_cmsg over msg_control/msg_controllen. */
struct sock_cmsg {
	struct msghdr *msg;
	unsigned char *p;
	size_t left;
	int flags;
};

static void sock_cmsg_init(struct sock_cmsg *c, struct msghdr *msg)
{
	c->msg = msg;
	c->p = msg->msg_control;
	c->left = msg->msg_control ? msg->msg_controllen : 0;
	c->flags = 0;
}

/* Append one control message; a buffer too short gets MSG_CTRUNC and what fits of it (a
 * cmsg_len that says how much), as Linux's put_cmsg. */
static void sock_cmsg_put(struct sock_cmsg *c, int level, int type, const void *data, size_t len)
{
	size_t cmlen = CMSG_LEN(len);
	if (!c->p || c->left < sizeof(struct cmsghdr)) {
		c->flags |= MSG_CTRUNC;
		return;
	}
	if (c->left < cmlen) {
		c->flags |= MSG_CTRUNC;
		cmlen = c->left;
	}
	struct cmsghdr h = {.cmsg_len = cmlen, .cmsg_level = level, .cmsg_type = type};
	memcpy(c->p, &h, sizeof(h));
	if (cmlen > CMSG_LEN(0))
		memcpy(c->p + CMSG_LEN(0), data, cmlen - CMSG_LEN(0));
	size_t adv = CMSG_SPACE(len) < c->left ? CMSG_SPACE(len) : c->left;
	c->p += adv;
	c->left -= adv;
}

/* msg_controllen becomes what was written (Linux: the original length minus what is left). */
static void sock_cmsg_done(struct sock_cmsg *c)
{
	c->msg->msg_controllen = c->msg->msg_control ? c->msg->msg_controllen - c->left : 0;
}

/* The option numbers of the timestamp control messages (asm-generic/socket.h). */
#define SOCK_SO_TIMESTAMP_OLD 29
#define SOCK_SO_TIMESTAMPNS_OLD 35
#define SOCK_SO_TIMESTAMP_NEW 63
#define SOCK_SO_TIMESTAMPNS_NEW 64

/* The control messages the record asks for, in Linux's order: sock_recv_cmsgs (timestamps),
 * then ip_cmsg_recv (IP_PKTINFO, IP_TTL, IP_TOS). */
static void sock_rx_cmsgs(const struct region_rx_dgram *h, struct sock_cmsg *c)
{
	if (h->flags & (REGION_RX_CMSG_TSTAMP | REGION_RX_CMSG_TSTAMPNS)) {
		uint64_t ns = h->tstamp_ns;
		if (!ns) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
		}
		bool new_ = (h->flags & REGION_RX_CMSG_TSTAMP_NEW) != 0;
		int64_t t[2] = {(int64_t)(ns / 1000000000u), 0};
		if (h->flags & REGION_RX_CMSG_TSTAMPNS) {
			t[1] = (int64_t)(ns % 1000000000u);
			sock_cmsg_put(c, SOL_SOCKET, new_ ? SOCK_SO_TIMESTAMPNS_NEW : SOCK_SO_TIMESTAMPNS_OLD,
				      t, sizeof(t));
		} else {
			t[1] = (int64_t)(ns % 1000000000u / 1000u);
			sock_cmsg_put(c, SOL_SOCKET, new_ ? SOCK_SO_TIMESTAMP_NEW : SOCK_SO_TIMESTAMP_OLD,
				      t, sizeof(t));
		}
	}
	if (h->flags & REGION_RX_CMSG_PKTINFO) {
		struct in_pktinfo pi = {.ipi_ifindex = h->ifindex};
		pi.ipi_spec_dst.s_addr = h->spec_dst;
		pi.ipi_addr.s_addr = h->daddr;
		sock_cmsg_put(c, SOL_IP, IP_PKTINFO, &pi, sizeof(pi));
	}
	if (h->flags & REGION_RX_CMSG_TTL) {
		int ttl = h->ttl;
		sock_cmsg_put(c, SOL_IP, IP_TTL, &ttl, sizeof(ttl));
	}
	if (h->flags & REGION_RX_CMSG_TOS)
		sock_cmsg_put(c, SOL_IP, IP_TOS, &h->tos, 1);
}

/* Copy len bytes of payload out to msg's iovecs; returns how many fit. */
static size_t sock_iov_fill(struct msghdr *msg, const uint8_t *payload, size_t len)
{
	size_t off = 0;
	for (size_t i = 0; i < msg->msg_iovlen && off < len; i++) {
		size_t n = msg->msg_iov[i].iov_len;
		if (n > len - off)
			n = len - off;
		if (n)
			memcpy(msg->msg_iov[i].iov_base, payload + off, n);
		off += n;
	}
	return off;
}

static void sock_put_name(struct msghdr *msg, uint32_t addr, uint16_t port_be)
{
	if (!msg->msg_name)
		return;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = port_be};
	sin.sin_addr.s_addr = addr;
	size_t n = msg->msg_namelen < sizeof(sin) ? msg->msg_namelen : sizeof(sin);
	memcpy(msg->msg_name, &sin, n);
	msg->msg_namelen = sizeof(sin);
}

/* The record is taken (not peeked): the latency of the hop from udpd's commit to here goes into
 * the region's statistics area, which udpd reports as app_transit_from_udpd (region.h). */
static void sock_rx_taken(const struct ring_rec *rec)
{
	uint64_t t_ring;
	memcpy(&t_ring, (const uint8_t *)rec->body + offsetof(struct region_rx_dgram, t_ring),
	       sizeof(t_ring));
	region_app_rx_taken(&SOCK_UDP->region, t_ring, clock_now());
}

/* Copy one record out to msg. Returns the length to report. */
static ssize_t sock_rx_copy(const struct ring_rec *rec, struct msghdr *msg, int flags)
{
	struct region_rx_dgram h;
	memcpy(&h, rec->body, sizeof(h));
	const uint8_t *payload = (const uint8_t *)rec->body + sizeof(h);
	size_t plen = rec->len - sizeof(h);
	size_t off = sock_iov_fill(msg, payload, plen);
	sock_put_name(msg, h.saddr, h.sport);
	struct sock_cmsg c;
	sock_cmsg_init(&c, msg);
	sock_rx_cmsgs(&h, &c);
	sock_cmsg_done(&c);
	msg->msg_flags = c.flags | ((off < plen || (h.flags & REGION_RX_TRUNC)) ? MSG_TRUNC : 0);
	return (ssize_t)((flags & MSG_TRUNC) ? plen : off);
}

/* recvmsg(MSG_ERRQUEUE): the oldest error queue entry, as Linux's ip_recv_error gives it: the
 * quoted payload as data, where the datagram went as msg_name, one IP_RECVERR control message
 * (struct sock_extended_err, then the offender's address). Never waits. */
static ssize_t sock_data_errqueue(const struct sock_ref *ref, struct msghdr *msg)
{
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__ERRQUEUE;
	req.sid = ref->sid;
	req.slot = ref->slot;
	struct sock_reply rep;
	int rc = sock_req_call(SOCK_TP_UDP, &req, &rep);
	if (rc == 0)
		rc = rep.status;
	if (rc < 0)
		return rc;
	/* The pending error is now the next entry's (sock_dequeue_err_skb): the server set it;
	 * one us_poll fetched earlier is the one just dequeued. */
	sock_tab_lock();
	struct sock_entry *e = sock_table_entry_locked(ref);
	if (e)
		e->err = 0;
	sock_tab_unlock();
	size_t off = sock_iov_fill(msg, rep.data, rep.datalen);
	sock_put_name(msg, rep.addr, htons(rep.port));
	struct {
		struct sock_extended_err ee;
		struct sockaddr_in offender;
	} errhdr;
	memset(&errhdr, 0, sizeof(errhdr));
	memcpy(&errhdr.ee, rep.optval,
	       rep.optlen < sizeof(errhdr.ee) ? rep.optlen : sizeof(errhdr.ee));
	errhdr.offender.sin_family = AF_INET;
	errhdr.offender.sin_addr.s_addr = rep.offender;
	struct sock_cmsg c;
	sock_cmsg_init(&c, msg);
	sock_cmsg_put(&c, SOL_IP, IP_RECVERR, &errhdr, sizeof(errhdr));
	sock_cmsg_done(&c);
	msg->msg_flags = c.flags | MSG_ERRQUEUE | (off < rep.datalen ? MSG_TRUNC : 0);
	return (ssize_t)off;
}

ssize_t sock_data_recv(int fd, struct msghdr *msg, int flags)
{
	struct sock_ref ref;
	if (sock_table_get(fd, &ref) < 0)
		return -EBADF;
	if (ref.tp == SOCK_TP_TCP)
		return sock_stream_recv(&ref, msg, flags);
	size_t total;
	bool bad;
	int rc = sock_iov_total(msg->msg_iov, msg->msg_iovlen, &total, &bad);
	if (rc < 0)
		return rc;
	if (bad)
		return -EFAULT; /* found before a datagram is taken: Linux would drop it */
	if (ref.lost)
		return -ECONNABORTED;
	if (flags & MSG_ERRQUEUE)
		return sock_data_errqueue(&ref, msg);

	bool nonblock = ref.nonblock || (flags & MSG_DONTWAIT);
	int timeout = nonblock ? 0 : ref.rcvtimeo_ms;
	uint64_t deadline = timeout > 0 ? sock_now_ms() + (uint64_t)timeout : 0;
	struct sock_entry *e = sock_ent(SOCK_TP_UDP, ref.slot);
	struct ring *rx = sock_rx_ring(ref.slot);
	for (;;) {
		pthread_mutex_lock(&e->rx_lock);
		sock_tab_lock();
		bool current = sock_table_current_locked(&ref);
		bool shut_rd = current && (sock_ent(SOCK_TP_UDP, ref.slot)->shut & SOCK_SHUT_RD);
		sock_tab_unlock();
		if (!current) {
			pthread_mutex_unlock(&e->rx_lock);
			return -EBADF;
		}
		/* Linux's __skb_recv_udp: a pending error comes before queued data. */
		int err = sock_take_local_error(&ref);
		if (err) {
			pthread_mutex_unlock(&e->rx_lock);
			return -err;
		}
		struct ring_rec rec;
		rc = ring_peek(rx, &rec);
		if (rc == 0 && (rec.type != REGION_REC_DGRAM || rec.len < sizeof(struct region_rx_dgram))) {
			ring_release(rx); /* not a datagram: nothing the application could be given */
			pthread_mutex_unlock(&e->rx_lock);
			continue;
		}
		if (rc == 0) {
			ssize_t n = sock_rx_copy(&rec, msg, flags);
			if (!(flags & MSG_PEEK)) {
				sock_rx_taken(&rec);
				ring_release(rx);
				sock_data_settle(ref.slot);
			}
			pthread_mutex_unlock(&e->rx_lock);
			return n;
		}
		if (rc != -EAGAIN) {
			pthread_mutex_unlock(&e->rx_lock);
			return -ECONNABORTED; /* the server broke this socket's ring */
		}
		rc = sock_pending_error(&ref, true);
		pthread_mutex_unlock(&e->rx_lock);
		/* A server away (restarting) has nothing to say about errors; the data path goes on
		 * without it. */
		if (rc < 0 && rc != -ENETDOWN && rc != -ETIMEDOUT)
			return rc;
		if (sock_rx_nonempty(ref.slot))
			continue;
		if (timeout == 0)
			return -EAGAIN;
		/* __skb_wait_for_more_packets: a call that would wait on a socket shut for
		 * reading returns 0 instead (a non-blocking one still says EAGAIN, above). */
		if (shut_rd)
			return 0;
		int wait = -1;
		if (timeout > 0) {
			uint64_t now = sock_now_ms();
			if (now >= deadline)
				return -EAGAIN;
			wait = (int)(deadline - now);
		}
		struct pollfd p = {.fd = SOCK_UDP->slot_fd[ref.slot], .events = POLLIN};
		if (poll(&p, 1, wait) < 0 && errno == EINTR)
			return -EINTR;
	}
}
