/* campaign_traffic: the flows of ustack-faultcampaign, the same code on both sides (the stack's
 * libsock, the kernel's sockets in the namespace) through struct cp_ops.
 *
 * TCP. Connection i is opened by the stack (even i, to the kernel's listener on port_base) or
 * by the kernel (odd i, to the stack's listener on port_base + 1): the listeners of both keep
 * accepting across the faults before the campaign starts. The opener sends an 8-byte header
 * ("UCP1", the connection's number) so the acceptor knows which it is. Then each direction
 * carries its own pseudo-random stream (campaign_plan.c, seeded by the campaign's seed and the
 * flow number), paced at tcp_rate bytes per second in 16 KiB chunks (a sender that fell behind
 * during a blackout catches up by at most 16 chunks), and the receiver compares every byte with
 * the stream as it arrives: a byte that differs is corrupt. At the end each sender shuts down its
 * side and the receiver reads to EOF; what the sender's send() took and the receiver never got is
 * lost (computed by the controller from `sent` and `progress`). Every call is non-blocking
 * (MSG_DONTWAIT) behind a poll of at most 100 ms, so a stalled connection never stops a thread
 * from seeing `quit`.
 *
 * UDP. Request/response with application-level retry: the client sends a request (a 16-byte
 * header: "UCPD", the flow, the sequence number; then 16..1184 bytes of a stream seeded by the
 * flow and the sequence number) every udp_interval_ms, the echo server sends it back, and the
 * client checks that what comes back is byte for byte a request it sent. No answer within
 * udp_rto_ms: the same request again (`retries`: a datagram lost in a fault is expected and
 * not a loss). No answer within udp_bound_ms of the first try: its bytes are lost. An answer to
 * an earlier try of an earlier request, intact, is counted `stale` and ignored; any datagram
 * that is not exactly a request this client sent counts its differing bytes as corrupt.
 *
 * Dials. New connections while the faults go on, against the same listeners (what "listeners
 * keep accepting" means): dialer k (the stack for even k, the kernel for odd k) opens a
 * connection every dial_interval_ms, non-blocking, sends a 64-byte message ("UCPC", the flow,
 * the number of the dial, then bytes of the flow's stream), reads it back from the acceptor,
 * compares it and closes; one made, echoed and closed is one progress. The other side's
 * acceptor thread takes them one at a time: echo 64 bytes, then read to EOF and close, giving
 * up on a connection that says nothing for CP_DIAL_SERVE_MS (its dialer judges it). A connect
 * that fails (refused, reset, timed out) breaks the dialer's flow: the listener did not keep
 * accepting. A SYN lost in a fault waits for the opener's SYN retransmission (1 s, then 3 s),
 * so a dialer's gaps are reported apart from the blackout of the flows already open.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ustack/sock.h>

#include "campaign.h"

#define CP_CHUNK (16u << 10)
#define CP_CATCHUP_CHUNKS 16
#define CP_POLL_MS 100
#define CP_UDP_HDR 16
#define CP_UDP_MAX_PAYLOAD 1184
#define CP_SETUP_MS 15000
static const uint8_t cp_tcp_magic[4] = {'U', 'C', 'P', '1'};
static const uint8_t cp_udp_magic[4] = {'U', 'C', 'P', 'D'};
static const uint8_t cp_dial_magic[4] = {'U', 'C', 'P', 'C'};
#define CP_DIAL_MSG 64
#define CP_DIAL_SERVE_MS 20000

uint64_t cp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void cp_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

void cp_flow_progress(struct cp_shared *sh, struct cp_flow *f, uint64_t amount)
{
	uint64_t now = cp_now_ns();
	uint64_t ep = atomic_load(&sh->epoch_ns);
	uint64_t last = atomic_load(&f->last_ns);
	uint64_t start = last > ep ? last : ep;
	uint64_t gap = now > start ? now - start : 0;
	if (atomic_load(&f->seen_epoch) != ep) {
		atomic_store(&f->max_gap_ns, gap);
		atomic_store(&f->seen_epoch, ep);
	} else if (gap > atomic_load(&f->max_gap_ns)) {
		atomic_store(&f->max_gap_ns, gap);
	}
	atomic_store(&f->last_ns, now);
	atomic_fetch_add(&f->progress, amount);
}

static void cp_flow_break(struct cp_flow *f, int err)
{
	int expect = 0;
	atomic_compare_exchange_strong(&f->err, &expect, err ? err : EIO);
	atomic_store(&f->state, CP_FLOW_BROKEN);
}

/* ---- the two sides' socket calls */

static int k_accept(int fd, struct sockaddr *a, socklen_t *l) { return accept(fd, a, l); }
static int k_bind(int fd, const struct sockaddr *a, socklen_t l) { return bind(fd, a, l); }
static int k_connect(int fd, const struct sockaddr *a, socklen_t l) { return connect(fd, a, l); }
static ssize_t k_sendto(int fd, const void *b, size_t n, int fl, const struct sockaddr *a,
			socklen_t l)
{
	return sendto(fd, b, n, fl, a, l);
}
static ssize_t k_recvfrom(int fd, void *b, size_t n, int fl, struct sockaddr *a, socklen_t *l)
{
	return recvfrom(fd, b, n, fl, a, l);
}

const struct cp_ops cp_ops_kernel = {
	.name = "kernel", .socket = socket, .bind = k_bind, .connect = k_connect,
	.listen = listen, .accept = k_accept, .shutdown = shutdown, .close = close,
	.send = send, .recv = recv, .sendto = k_sendto, .recvfrom = k_recvfrom,
	.setsockopt = setsockopt, .getsockopt = getsockopt, .poll = poll,
};

const struct cp_ops cp_ops_stack = {
	.name = "stack", .socket = us_socket, .bind = us_bind, .connect = us_connect,
	.listen = us_listen, .accept = us_accept, .shutdown = us_shutdown, .close = us_close,
	.send = us_send, .recv = us_recv, .sendto = us_sendto, .recvfrom = us_recvfrom,
	.setsockopt = us_setsockopt, .getsockopt = us_getsockopt, .poll = us_poll,
};

/* ---- per-thread work */

struct cp_side;
struct cp_job {
	struct cp_side *side;
	unsigned flow; /* the flow this thread serves */
	int fd;
};

struct cp_side {
	const struct cp_cfg *c;
	struct cp_shared *sh;
	const struct cp_ops *ops;
	bool is_stack;
	struct cp_job jobs[2 * CP_TCP_MAX + CP_UDP_MAX + CP_DIAL_MAX + 1];
	pthread_t threads[2 * CP_TCP_MAX + CP_UDP_MAX + CP_DIAL_MAX + 1];
	unsigned njobs;
	int fds[CP_TCP_MAX + CP_UDP_MAX + 1];
	unsigned nfds;
};

static uint64_t cp_flow_seed(const struct cp_cfg *c, unsigned flow, uint64_t seq)
{
	uint64_t s = c->seed ^ (0x9e3779b97f4a7c15ull * (flow + 1)) ^ (seq * 0xc2b2ae3d27d4eb4full);
	return cp_rand_next(&s);
}

/* Wait for `events` on fd for up to ms: >0 ready, 0 not yet, <0 -errno. */
static int cp_wait(const struct cp_ops *ops, int fd, short events, int ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int r = ops->poll(&p, 1, ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r;
}

/* Linux 6.7's tcpi_total_rto: 8 bytes past tcpi_snd_wnd, whatever the headers at hand say
 * (Debian 12's end at tcpi_snd_wnd). */
#define CP_TI_TOTAL_RTO (offsetof(struct tcp_info, tcpi_snd_wnd) + 4u + 8u)

/* Answer the controller's request for this sender's timeout count (struct cp_flow.rtos). A
 * call that fails on a side that has the count leaves the request unanswered (tried again at
 * the next pass): an old count must not pass for a fresh one. */
static void cp_sample_rtos(const struct cp_ops *ops, int fd, struct cp_flow *f, uint64_t req)
{
	if (atomic_load(&f->rtos_known) >= 0) {
		uint8_t ti[512];
		socklen_t len = sizeof(ti);
		uint16_t v;
		int rc = ops->getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len);
		if (rc == 0 && len >= CP_TI_TOTAL_RTO + sizeof(v)) {
			memcpy(&v, ti + CP_TI_TOTAL_RTO, sizeof(v));
			atomic_store(&f->rtos, v);
			atomic_store(&f->rtos_known, 1);
		} else if (rc == 0 && atomic_load(&f->rtos_known) == 0) {
			atomic_store(&f->rtos_known, -1); /* a TCP_INFO without it: ask no more */
		} else {
			return;
		}
	}
	atomic_store(&f->rto_seq, req);
}

static void *cp_tcp_send(void *arg)
{
	struct cp_job *j = arg;
	const struct cp_cfg *c = j->side->c;
	struct cp_shared *sh = j->side->sh;
	const struct cp_ops *ops = j->side->ops;
	struct cp_flow *f = &sh->flow[j->flow];
	struct cp_stream st;
	cp_stream_init(&st, cp_flow_seed(c, j->flow, 0));
	uint8_t *buf = malloc(CP_CHUNK);
	if (!buf)
		return NULL;
	uint64_t interval = (uint64_t)CP_CHUNK * 1000000000u / (c->tcp_rate ? c->tcp_rate : 1);
	uint64_t next = cp_now_ns();
	size_t off = 0, pending = 0;
	while (!atomic_load(&sh->quit)) {
		uint64_t req = atomic_load(&sh->rto_req);
		if (req != atomic_load(&f->rto_seq))
			cp_sample_rtos(ops, j->fd, f, req);
		uint64_t now = cp_now_ns();
		if (pending == 0) {
			if (atomic_load(&sh->stop_send))
				break;
			if (now < next) {
				uint64_t w = (next - now) / 1000000u;
				cp_sleep_ms(w > CP_POLL_MS ? CP_POLL_MS : (unsigned)w + 1);
				continue;
			}
			cp_stream_fill(&st, buf, CP_CHUNK);
			off = 0;
			pending = CP_CHUNK;
			next += interval;
			if (next + CP_CATCHUP_CHUNKS * interval < now)
				next = now - CP_CATCHUP_CHUNKS * interval;
		}
		int w = cp_wait(ops, j->fd, POLLOUT, CP_POLL_MS);
		if (w < 0) {
			cp_flow_break(f, -w);
			break;
		}
		ssize_t n = ops->send(j->fd, buf + off, pending, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			pending -= (size_t)n;
			atomic_fetch_add(&f->sent, (uint64_t)n);
		} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			fprintf(stderr, "faultcampaign: %s: flow %u: send: %s\n", ops->name, j->flow,
				strerror(errno));
			cp_flow_break(f, errno);
			break;
		}
	}
	if (!atomic_load(&sh->quit) && atomic_load(&f->state) != CP_FLOW_BROKEN) {
		atomic_store(&f->sent_final, 1);
		if (ops->shutdown(j->fd, SHUT_WR) < 0)
			fprintf(stderr, "faultcampaign: %s: flow %u: shutdown: %s\n", ops->name,
				j->flow, strerror(errno));
	}
	free(buf);
	return NULL;
}

static void *cp_tcp_recv(void *arg)
{
	struct cp_job *j = arg;
	const struct cp_cfg *c = j->side->c;
	struct cp_shared *sh = j->side->sh;
	const struct cp_ops *ops = j->side->ops;
	struct cp_flow *f = &sh->flow[j->flow];
	struct cp_stream st;
	cp_stream_init(&st, cp_flow_seed(c, j->flow, 0));
	size_t cap = 64u << 10;
	uint8_t *buf = malloc(cap), *want = malloc(cap);
	if (!buf || !want)
		goto out;
	while (!atomic_load(&sh->quit)) {
		int w = cp_wait(ops, j->fd, POLLIN, CP_POLL_MS);
		if (w < 0) {
			cp_flow_break(f, -w);
			break;
		}
		ssize_t n = ops->recv(j->fd, buf, cap, MSG_DONTWAIT);
		if (n == 0) {
			atomic_store(&f->state, CP_FLOW_DONE);
			break;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			fprintf(stderr, "faultcampaign: %s: flow %u: recv: %s\n", ops->name, j->flow,
				strerror(errno));
			cp_flow_break(f, errno);
			break;
		}
		cp_stream_fill(&st, want, (size_t)n);
		uint64_t bad = 0;
		for (ssize_t i = 0; i < n; i++)
			bad += buf[i] != want[i];
		if (bad) {
			atomic_fetch_add(&f->corrupt, bad);
			fprintf(stderr, "faultcampaign: %s: flow %u: %llu of %zd bytes at offset %llu "
				"differ from what was sent\n",
				ops->name, j->flow, (unsigned long long)bad, n,
				(unsigned long long)atomic_load(&f->progress));
		}
		cp_flow_progress(sh, f, (uint64_t)n);
	}
out:
	free(buf);
	free(want);
	return NULL;
}

/* A request of flow `flow`, number seq, into buf: its length. */
static size_t cp_udp_request(const struct cp_cfg *c, unsigned flow, uint64_t seq, uint8_t *buf)
{
	uint64_t s = cp_flow_seed(c, flow, seq + 1);
	size_t len = 16 + (size_t)(cp_rand_next(&s) % (CP_UDP_MAX_PAYLOAD - 16 + 1));
	memcpy(buf, cp_udp_magic, 4);
	uint32_t fl = htonl(flow);
	memcpy(buf + 4, &fl, 4);
	for (int i = 0; i < 8; i++)
		buf[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
	struct cp_stream st;
	cp_stream_init(&st, s);
	cp_stream_fill(&st, buf + CP_UDP_HDR, len);
	return CP_UDP_HDR + len;
}

static uint64_t cp_diff(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	size_t n = na < nb ? na : nb;
	uint64_t d = na > nb ? na - nb : nb - na;
	for (size_t i = 0; i < n; i++)
		d += a[i] != b[i];
	return d;
}

/* A datagram that is not the answer to the current request: stale (intact, an earlier one),
 * else its differing bytes are corrupt. */
static void cp_udp_other(const struct cp_cfg *c, struct cp_flow *f, unsigned flow,
			 const uint8_t *got, size_t n, uint64_t cur)
{
	uint8_t want[CP_UDP_HDR + CP_UDP_MAX_PAYLOAD];
	uint32_t fl;
	if (n >= CP_UDP_HDR && memcmp(got, cp_udp_magic, 4) == 0 &&
	    (memcpy(&fl, got + 4, 4), ntohl(fl) == flow)) {
		uint64_t seq = 0;
		for (int i = 0; i < 8; i++)
			seq = seq << 8 | got[8 + i];
		if (seq <= cur) {
			size_t wl = cp_udp_request(c, flow, seq, want);
			uint64_t d = cp_diff(got, n, want, wl);
			if (d == 0 && seq < cur) {
				atomic_fetch_add(&f->stale, 1);
				return;
			}
			atomic_fetch_add(&f->corrupt, d);
			fprintf(stderr, "faultcampaign: flow %u: the answer to request %llu has %llu "
				"bytes altered\n",
				flow, (unsigned long long)seq, (unsigned long long)d);
			return;
		}
	}
	atomic_fetch_add(&f->corrupt, n);
	fprintf(stderr, "faultcampaign: flow %u: a datagram of %zu bytes that is no request it "
		"sent\n", flow, n);
}

static void *cp_udp_client(void *arg)
{
	struct cp_job *j = arg;
	const struct cp_cfg *c = j->side->c;
	struct cp_shared *sh = j->side->sh;
	const struct cp_ops *ops = j->side->ops;
	struct cp_flow *f = &sh->flow[j->flow];
	unsigned udp_j = j->flow - 2 * c->tcp_conns;
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_addr.s_addr = j->side->is_stack ? c->peer_addr : c->stack_addr,
				 .sin_port = htons((uint16_t)(c->port_base + 100 + udp_j))};
	uint8_t req[CP_UDP_HDR + CP_UDP_MAX_PAYLOAD], got[2048];
	uint64_t seq = 0;
	while (!atomic_load(&sh->quit) && !atomic_load(&sh->stop_send)) {
		size_t len = cp_udp_request(c, j->flow, seq, req);
		uint64_t first = cp_now_ns(), tried = 0;
		atomic_fetch_add(&f->sent, 1);
		bool answered = false;
		while (!atomic_load(&sh->quit)) {
			uint64_t now = cp_now_ns();
			if (now - first >= (uint64_t)c->udp_bound_ms * 1000000u)
				break;
			if (tried == 0 || now - tried >= (uint64_t)c->udp_rto_ms * 1000000u) {
				if (tried)
					atomic_fetch_add(&f->retries, 1);
				tried = now;
				if (ops->sendto(j->fd, req, len, MSG_DONTWAIT, (struct sockaddr *)&to,
						sizeof(to)) < 0)
					atomic_fetch_add(&f->send_errors, 1);
			}
			/* Awake when the retry is due, not up to a poll interval later. */
			uint64_t due = tried + (uint64_t)c->udp_rto_ms * 1000000u;
			now = cp_now_ns();
			int wait_ms = due > now ? (int)((due - now + 999999u) / 1000000u) : 1;
			int w = cp_wait(ops, j->fd, POLLIN, wait_ms < 20 ? wait_ms : 20);
			if (w < 0) {
				cp_flow_break(f, -w);
				goto out;
			}
			if (w == 0)
				continue;
			ssize_t n = ops->recvfrom(j->fd, got, sizeof(got), MSG_DONTWAIT, NULL, NULL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
				    errno == ECONNREFUSED) /* an ICMP error while the peer restarted */
					continue;
				fprintf(stderr, "faultcampaign: %s: flow %u: recvfrom: %s\n", ops->name,
					j->flow, strerror(errno));
				cp_flow_break(f, errno);
				goto out;
			}
			if ((size_t)n == len && memcmp(got, req, len) == 0) {
				answered = true;
				break;
			}
			cp_udp_other(c, f, j->flow, got, (size_t)n, seq);
		}
		if (answered) {
			cp_flow_progress(sh, f, 1);
		} else if (!atomic_load(&sh->quit)) {
			atomic_fetch_add(&f->lost, len - CP_UDP_HDR);
			atomic_fetch_add(&f->lost_reqs, 1);
			fprintf(stderr, "faultcampaign: %s: flow %u: request %llu never answered in "
				"%u ms: lost\n",
				ops->name, j->flow, (unsigned long long)seq, c->udp_bound_ms);
		}
		seq++;
		uint64_t next = first + (uint64_t)c->udp_interval_ms * 1000000u, now = cp_now_ns();
		if (next > now)
			cp_sleep_ms((unsigned)((next - now) / 1000000u));
	}
	if (atomic_load(&f->state) != CP_FLOW_BROKEN)
		atomic_store(&f->state, CP_FLOW_DONE);
out:
	return NULL;
}

static void *cp_udp_server(void *arg)
{
	struct cp_job *j = arg;
	struct cp_shared *sh = j->side->sh;
	const struct cp_ops *ops = j->side->ops;
	struct cp_flow *f = &sh->flow[j->flow];
	uint8_t buf[2048];
	while (!atomic_load(&sh->quit)) {
		int w = cp_wait(ops, j->fd, POLLIN, CP_POLL_MS);
		if (w < 0) {
			fprintf(stderr, "faultcampaign: %s: echo of flow %u: poll: %s\n", ops->name,
				j->flow, strerror(-w));
			cp_flow_break(f, -w);
			break;
		}
		if (w == 0)
			continue;
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = ops->recvfrom(j->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
					  &fl);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			fprintf(stderr, "faultcampaign: %s: echo of flow %u: recvfrom: %s\n", ops->name,
				j->flow, strerror(errno));
			cp_flow_break(f, errno);
			break;
		}
		if (ops->sendto(j->fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&from, fl) ==
		    n)
			atomic_fetch_add(&f->echoed, 1);
	}
	return NULL;
}

/* Move all n bytes of buf through fd in direction `events` (POLLOUT: send, POLLIN: receive)
 * before deadline_ns, or sh->quit: 0, -ECONNRESET at an early EOF, -ETIMEDOUT, -ECANCELED,
 * or the call's -errno. */
static int cp_dial_io(const struct cp_side *s, int fd, uint8_t *buf, size_t n, short events,
		      uint64_t deadline_ns)
{
	const struct cp_ops *ops = s->ops;
	size_t done = 0;
	while (done < n) {
		if (atomic_load(&s->sh->quit))
			return -ECANCELED;
		if (cp_now_ns() >= deadline_ns)
			return -ETIMEDOUT;
		int w = cp_wait(ops, fd, events, CP_POLL_MS);
		if (w < 0)
			return w;
		if (w == 0)
			continue;
		ssize_t r = events == POLLOUT
				    ? ops->send(fd, buf + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL)
				    : ops->recv(fd, buf + done, n - done, MSG_DONTWAIT);
		if (r == 0 && events == POLLIN)
			return -ECONNRESET;
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (r > 0)
			done += (size_t)r;
	}
	return 0;
}

/* One dial of flow `flow`, number seq: 0 once made, echoed and closed (*corrupt: bytes of the
 * echo that differ), -ECANCELED at quit, else the -errno that failed it. */
static int cp_dial_once(const struct cp_side *s, unsigned flow, uint64_t seq, uint64_t *corrupt)
{
	const struct cp_cfg *c = s->c;
	const struct cp_ops *ops = s->ops;
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_addr.s_addr = s->is_stack ? c->peer_addr : c->stack_addr,
				 .sin_port = htons((uint16_t)(c->port_base + (s->is_stack ? 0 : 1)))};
	int fd = ops->socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (ops->connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINPROGRESS) {
		rc = -errno;
		goto out;
	}
	/* No deadline of our own on the handshake: TCP's SYN retries decide, and a dial that
	 * takes longer than the campaign's recovery bound is judged stalled by the controller. */
	for (;;) {
		if (atomic_load(&s->sh->quit)) {
			rc = -ECANCELED;
			goto out;
		}
		int w = cp_wait(ops, fd, POLLOUT, CP_POLL_MS);
		if (w < 0) {
			rc = w;
			goto out;
		}
		if (w > 0)
			break;
	}
	int err = 0;
	socklen_t el = sizeof(err);
	if (ops->getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		rc = err ? -err : -errno;
		goto out;
	}
	uint8_t msg[CP_DIAL_MSG], back[CP_DIAL_MSG];
	memcpy(msg, cp_dial_magic, 4);
	uint32_t fl = htonl(flow);
	memcpy(msg + 4, &fl, 4);
	for (int i = 0; i < 8; i++)
		msg[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
	struct cp_stream st;
	cp_stream_init(&st, cp_flow_seed(c, flow, seq + 1));
	cp_stream_fill(&st, msg + 16, sizeof(msg) - 16);
	uint64_t deadline = cp_now_ns() + (uint64_t)CP_DIAL_SERVE_MS * 1000000u;
	rc = cp_dial_io(s, fd, msg, sizeof(msg), POLLOUT, deadline);
	if (rc == 0)
		rc = cp_dial_io(s, fd, back, sizeof(back), POLLIN, deadline);
	if (rc == 0)
		*corrupt = cp_diff(msg, sizeof(msg), back, sizeof(back));
out:
	ops->close(fd);
	return rc;
}

static void *cp_tcp_dial(void *arg)
{
	struct cp_job *j = arg;
	struct cp_side *s = j->side;
	struct cp_shared *sh = s->sh;
	struct cp_flow *f = &sh->flow[j->flow];
	uint64_t seq = 0;
	while (!atomic_load(&sh->quit) && !atomic_load(&sh->stop_send)) {
		uint64_t first = cp_now_ns(), corrupt = 0;
		atomic_fetch_add(&f->sent, 1);
		int rc = cp_dial_once(s, j->flow, seq, &corrupt);
		if (rc == -ECANCELED)
			return NULL;
		if (rc < 0) {
			fprintf(stderr, "faultcampaign: %s: dial flow %u: connection %llu: %s\n",
				s->ops->name, j->flow, (unsigned long long)seq, strerror(-rc));
			cp_flow_break(f, -rc);
			return NULL;
		}
		if (corrupt) {
			atomic_fetch_add(&f->corrupt, corrupt);
			fprintf(stderr, "faultcampaign: %s: dial flow %u: connection %llu: %llu bytes "
				"of the echo differ\n", s->ops->name, j->flow,
				(unsigned long long)seq, (unsigned long long)corrupt);
		}
		cp_flow_progress(sh, f, 1);
		seq++;
		uint64_t next = first + (uint64_t)s->c->dial_interval_ms * 1000000u, now = cp_now_ns();
		if (next > now)
			cp_sleep_ms((unsigned)((next - now) / 1000000u));
	}
	if (atomic_load(&f->state) != CP_FLOW_BROKEN)
		atomic_store(&f->state, CP_FLOW_DONE);
	return NULL;
}

/* The other side's dials, one at a time, on our listener (j->fd). */
static void *cp_tcp_dial_accept(void *arg)
{
	struct cp_job *j = arg;
	struct cp_side *s = j->side;
	const struct cp_ops *ops = s->ops;
	while (!atomic_load(&s->sh->quit)) {
		int w = cp_wait(ops, j->fd, POLLIN, CP_POLL_MS);
		if (w < 0) {
			/* the dialers' connections then fail or stall, and are judged there */
			fprintf(stderr, "faultcampaign: %s: dial listener: poll: %s\n", ops->name,
				strerror(-w));
			break;
		}
		if (w == 0)
			continue;
		int fd = ops->accept(j->fd, NULL, NULL);
		if (fd < 0) {
			/* aborted before we took it (its dialer saw why), or no socket to take it
			 * into yet: the queue keeps it, ask again after a poll's wait */
			if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR)
				cp_sleep_ms(CP_POLL_MS);
			continue;
		}
		uint8_t msg[CP_DIAL_MSG];
		uint64_t deadline = cp_now_ns() + (uint64_t)CP_DIAL_SERVE_MS * 1000000u;
		if (cp_dial_io(s, fd, msg, sizeof(msg), POLLIN, deadline) == 0 &&
		    cp_dial_io(s, fd, msg, sizeof(msg), POLLOUT, deadline) == 0) {
			uint8_t b;
			int rc;
			do
				rc = cp_dial_io(s, fd, &b, 1, POLLIN, deadline);
			while (rc == 0); /* to the dialer's EOF */
		}
		ops->close(fd);
	}
	return NULL;
}

/* ---- set-up */

static int cp_fail(const struct cp_side *s, const char *what, int err)
{
	fprintf(stderr, "faultcampaign: %s side: %s: %s\n", s->ops->name, what, strerror(err));
	return -err;
}

static int cp_keep(struct cp_side *s, int fd)
{
	s->fds[s->nfds++] = fd;
	return fd;
}

static int cp_add_job(struct cp_side *s, unsigned flow, int fd, void *(*fn)(void *))
{
	struct cp_job *j = &s->jobs[s->njobs];
	*j = (struct cp_job){.side = s, .flow = flow, .fd = fd};
	int rc = pthread_create(&s->threads[s->njobs], NULL, fn, j);
	if (rc != 0)
		return -rc;
	s->njobs++;
	return 0;
}

/* Poll-wait (for the set-up) until fd has `events`, within CP_SETUP_MS. */
static int cp_setup_wait(const struct cp_side *s, int fd, short events)
{
	uint64_t end = cp_now_ns() + (uint64_t)CP_SETUP_MS * 1000000u;
	while (cp_now_ns() < end && !atomic_load(&s->sh->quit)) {
		int w = cp_wait(s->ops, fd, events, CP_POLL_MS);
		if (w != 0)
			return w < 0 ? w : 0;
	}
	return -ETIMEDOUT;
}

static int cp_wait_flag(const struct cp_side *s, _Atomic int *flag)
{
	for (unsigned i = 0; i < CP_SETUP_MS / 10; i++) {
		if (atomic_load(flag))
			return 0;
		if (atomic_load(&s->sh->quit) || atomic_load(&s->sh->peer_failed))
			return -ECANCELED;
		cp_sleep_ms(10);
	}
	return -ETIMEDOUT;
}

int cp_traffic_run(const struct cp_cfg *c, struct cp_shared *sh, const struct cp_ops *ops,
		   bool is_stack)
{
	static struct cp_side sides[2];
	struct cp_side *s = &sides[is_stack];
	*s = (struct cp_side){.c = c, .sh = sh, .ops = ops, .is_stack = is_stack};
	int rc = 0, one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET};

	/* our listener (the other side's connections) and our UDP echo servers */
	/* Non-blocking: a connection the listener showed can be gone by the accept (reset in a
	 * fault), and a blocking accept would then wait for the next dial, which after the end
	 * never comes (the acceptor thread hung the campaign's end). */
	int lis = cp_keep(s, ops->socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
	if (lis < 0)
		return cp_fail(s, "socket", errno);
	ops->setsockopt(lis, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons((uint16_t)(c->port_base + (is_stack ? 1 : 0)));
	if (ops->bind(lis, (struct sockaddr *)&a, sizeof(a)) < 0)
		return cp_fail(s, "bind the TCP listener", errno);
	if (ops->listen(lis, CP_TCP_MAX) < 0)
		return cp_fail(s, "listen", errno);
	int udp_fd[CP_UDP_MAX];
	for (unsigned j = 0; j < c->udp_flows; j++) {
		bool client = (j % 2 == 0) == is_stack;
		udp_fd[j] = cp_keep(s, ops->socket(AF_INET, SOCK_DGRAM, 0));
		if (udp_fd[j] < 0)
			return cp_fail(s, "socket (UDP)", errno);
		if (!client) {
			a.sin_port = htons((uint16_t)(c->port_base + 100 + j));
			if (ops->bind(udp_fd[j], (struct sockaddr *)&a, sizeof(a)) < 0)
				return cp_fail(s, "bind a UDP echo server", errno);
		}
	}
	atomic_store(is_stack ? &sh->stack_ready : &sh->peer_ready, 1);
	rc = cp_wait_flag(s, is_stack ? &sh->peer_ready : &sh->stack_ready);
	if (rc < 0)
		return cp_fail(s, "waiting for the other side", -rc);

	/* our connections, then theirs */
	int conn_fd[CP_TCP_MAX];
	for (unsigned i = 0; i < c->tcp_conns; i++) {
		conn_fd[i] = -1;
		if ((i % 2 == 0) != is_stack)
			continue;
		int fd = cp_keep(s, ops->socket(AF_INET, SOCK_STREAM, 0));
		if (fd < 0)
			return cp_fail(s, "socket", errno);
		struct sockaddr_in to = {.sin_family = AF_INET,
					 .sin_addr.s_addr = is_stack ? c->peer_addr : c->stack_addr,
					 .sin_port = htons((uint16_t)(c->port_base + (is_stack ? 0 : 1)))};
		if (ops->connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
			return cp_fail(s, "connect", errno);
		uint8_t hdr[8];
		memcpy(hdr, cp_tcp_magic, 4);
		uint32_t id = htonl(i);
		memcpy(hdr + 4, &id, 4);
		if (ops->send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != (ssize_t)sizeof(hdr))
			return cp_fail(s, "send the connection's header", errno ? errno : EIO);
		conn_fd[i] = fd;
	}
	unsigned theirs = 0;
	for (unsigned i = 0; i < c->tcp_conns; i++)
		theirs += (i % 2 == 0) != is_stack;
	for (unsigned k = 0; k < theirs; k++) {
		int fd;
		do {
			rc = cp_setup_wait(s, lis, POLLIN);
			if (rc < 0)
				return cp_fail(s, "accept", -rc);
			fd = ops->accept(lis, NULL, NULL);
		} while (fd < 0 && (errno == EAGAIN || errno == EINTR));
		if (fd < 0)
			return cp_fail(s, "accept", errno);
		cp_keep(s, fd);
		uint8_t hdr[8];
		size_t got = 0;
		while (got < sizeof(hdr)) {
			rc = cp_setup_wait(s, fd, POLLIN);
			if (rc < 0)
				return cp_fail(s, "read a connection's header", -rc);
			ssize_t n = ops->recv(fd, hdr + got, sizeof(hdr) - got, MSG_DONTWAIT);
			if (n == 0)
				return cp_fail(s, "read a connection's header", ECONNRESET);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return cp_fail(s, "read a connection's header", errno);
			if (n > 0)
				got += (size_t)n;
		}
		uint32_t id;
		memcpy(&id, hdr + 4, 4);
		id = ntohl(id);
		if (memcmp(hdr, cp_tcp_magic, 4) != 0 || id >= c->tcp_conns ||
		    (id % 2 == 0) == is_stack || conn_fd[id] >= 0)
			return cp_fail(s, "a connection with a bad header", EPROTO);
		conn_fd[id] = fd;
	}

	/* the threads */
	for (unsigned i = 0; i < c->tcp_conns && rc == 0; i++) {
		atomic_store(&sh->flow[cp_tcp_flow(i, is_stack)].state, CP_FLOW_RUNNING);
		rc = cp_add_job(s, cp_tcp_flow(i, is_stack), conn_fd[i], cp_tcp_send);
		if (rc == 0)
			rc = cp_add_job(s, cp_tcp_flow(i, !is_stack), conn_fd[i], cp_tcp_recv);
	}
	for (unsigned j = 0; j < c->udp_flows && rc == 0; j++) {
		bool client = (j % 2 == 0) == is_stack;
		if (client)
			atomic_store(&sh->flow[cp_udp_flow(c, j)].state, CP_FLOW_RUNNING);
		rc = cp_add_job(s, cp_udp_flow(c, j), udp_fd[j],
				client ? cp_udp_client : cp_udp_server);
	}
	bool theirs_dial = false;
	for (unsigned k = 0; k < c->tcp_dials && rc == 0; k++) {
		if ((k % 2 == 0) != is_stack) {
			theirs_dial = true;
			continue;
		}
		atomic_store(&sh->flow[cp_dial_flow(c, k)].state, CP_FLOW_RUNNING);
		rc = cp_add_job(s, cp_dial_flow(c, k), -1, cp_tcp_dial);
	}
	if (theirs_dial && rc == 0)
		rc = cp_add_job(s, 0, lis, cp_tcp_dial_accept);
	if (rc < 0) {
		atomic_store(&sh->quit, 1);
		cp_fail(s, "pthread_create", -rc);
	}
	for (unsigned k = 0; k < s->njobs; k++)
		pthread_join(s->threads[k], NULL);
	for (unsigned k = 0; k < s->nfds; k++)
		ops->close(s->fds[k]);
	return rc;
}
