/* sock_session: libsock's process-wide resources and its sessions with the transport servers.
 *
 * One transport per socket type (sock_priv.h): udpd for datagram sockets, tcpd for stream
 * sockets. Each is set up on the first us_socket() of its type (sock_session_ensure, under its
 * req_lock), independently of the other (a process that only uses UDP never talks to tcpd, and
 * a tcpd that is down costs UDP nothing), and kept for the life of the process:
 *   - its region: a sealed memfd (region_create_memfd_kind) with SOCK_SLOTS slots.
 *     udpd: a DGRAM region, one TX ring of SOCK_UDP_TX_RING bytes and one RX ring of
 *     SOCK_UDP_RX_RING bytes per slot. The sizes are chosen so that the largest UDP datagram
 *     (65,507 bytes) fits in a record of either ring, so the server never has to truncate one
 *     (REGION_RX_TRUNC), and like Linux's default socket buffers (net.core.rmem_default =
 *     208 KiB) a few dozen MTU-sized datagrams queue per socket.
 *     tcpd: a STREAM region, a TX and an RX byte ring of SOCK_TCP_RING (2 MiB) bytes per
 *     slot: the send and receive buffers, so they bound the window (Linux autotunes up to
 *     4-6 MiB). tools/bench/tcp_bench.sh, idle machine: bulk 0.26x / 0.16x the kernel with
 *     256 KiB rings, 0.68x / 0.36x with 1 MiB, 0.96x / 0.47x with 2 MiB. Windows this size
 *     arrive as bursts of hundreds of frames, which the receive path absorbs by pushing back
 *     on the TAP (link_room in common/link.h). Pages are only committed when touched;
 *     SO_SNDBUF / SO_RCVBUF set lower limits inside the rings;
 *   - its doorbell eventfd and one eventfd per slot (EFD_NONBLOCK | EFD_CLOEXEC). These are
 *     the master copies; a socket's application-visible descriptor is a dup of its slot's, so
 *     closing a socket never invalidates what the server holds and the slot can be reused;
 *   - one ZeroMQ DEALER connected to <runtime dir>/<layer>.sock (sock_req.c).
 * Shared by both, set up with the first: the instance name, the ZeroMQ context and the watcher
 * thread (below).
 *
 * A session: SESSION_NEW hands the server the region, the doorbell and the slot eventfds
 * (common/session.h) and yields a session id and secret that every request carries. The
 * SEQPACKET connection lives as long as the session: the server closes our sockets when it
 * closes, so we never close it while it is alive.
 *
 * Server restart: its state segment keeps the session and its sockets, but not the descriptors.
 * Our connection hangs up the moment the old process dies; SESSION_RESUME with the same region,
 * eventfds, id and secret re-attaches. Data already in the rings survives (the memory is ours).
 * Two paths resume: a request that finds the connection dead (sock_req.c), and the watcher
 * thread, which sleeps in poll() on both connections and resumes one as soon as it hangs up. The
 * watcher is what keeps an application that only waits (in its own poll/epoll on socket
 * descriptors, or in a blocking recv) working across a restart: without it nobody would hand
 * the new server our region, and no datagram would ever arrive again. It blocks every signal, so
 * the application's handlers run on its own threads as before.
 *
 * How soon. A killed server is back within about 100 ms (systemd's restart, the sandbox, its own
 * start), and until we resume, nothing of ours moves: tcpd drops what its connections would
 * send (tx_drop_detached), udpd never reads our TX ring. So for the first 2 s of an outage the
 * RESUME is tried every 5 ms, then every 50 ms. Tried every 50 ms throughout, a resume could
 * come up to 50 ms after the server was back (24 kills of udpd under a UDP flow: the flow's
 * gap p50 120 ms then, 115 ms now). An attempt while the server is away costs a failed
 * connect() on its socket's path.
 *
 * Lost state: if the server answers RESUME with an error, it no longer knows the session (its
 * state segment was recreated). Every socket of that session is then dead (ECONNABORTED, as
 * after Linux's `ss -K`); the next us_socket() opens a new session over the same region, whose
 * ring indices simply continue.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "paths.h"
#include "sock_priv.h"

#define SOCK_UDP_TX_RING (512u << 10)
#define SOCK_UDP_RX_RING (256u << 10)
_Static_assert(sizeof(struct region_tx_dgram) + SOCK_UDP_MAX_PAYLOAD <= SOCK_UDP_TX_RING / 2 - 8,
	       "a maximal datagram fits one TX record");
_Static_assert(sizeof(struct region_rx_dgram) + SOCK_UDP_MAX_PAYLOAD <= SOCK_UDP_RX_RING / 2 - 8,
	       "a maximal datagram fits one RX record: the server never truncates");
_Static_assert(SOCK_SLOTS <= REGION_SLOTS_MAX && SOCK_SLOTS <= SESSION_SLOTS_MAX,
	       "one region slot and one eventfd per socket");

uint64_t sock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int sock_ms_left(uint64_t deadline_ms)
{
	if (deadline_ms == UINT64_MAX)
		return -1;
	uint64_t now = sock_now_ms();
	if (now >= deadline_ms)
		return 0;
	return deadline_ms - now > INT32_MAX ? INT32_MAX : (int)(deadline_ms - now);
}

static void sock_session_wake_watcher(void)
{
	uint64_t one = 1;
	if (sock_lib.wake_fd >= 0 && write(sock_lib.wake_fd, &one, sizeof(one)) < 0) {
		/* saturated: the watcher is awake anyway */
	}
}

/* The instance: us_set_instance() or $USTACK_INSTANCE. Under setup_lock. */
static int sock_session_instance(void)
{
	if (sock_lib.instance_set)
		return 0;
	const char *env = getenv("USTACK_INSTANCE");
	if (!env || !ustack_instance_valid(env))
		return -EINVAL;
	strcpy(sock_lib.instance, env); /* valid => at most USTACK_INSTANCE_MAX characters */
	return 0;
}

static int sock_session_fds(const struct sock_tport *t, int *fds)
{
	fds[0] = t->region_fd;
	fds[1] = t->doorbell_fd;
	for (unsigned i = 0; i < SOCK_SLOTS; i++)
		fds[2 + i] = t->slot_fd[i];
	return 2 + SOCK_SLOTS;
}

/* One handshake. 0 (session_fd set), -EAGAIN (the server is not there: no socket file, refused,
 * hung up or silent), or the server's refusal (welcome status, negative). */
static int sock_session_handshake(unsigned tp, enum session_op op)
{
	struct sock_tport *t = sock_tport(tp);
	struct session_hello hello = {
		.magic = SESSION_MAGIC,
		.version = SESSION_VERSION,
		.op = op,
		.n_slots = SOCK_SLOTS,
	};
	if (op == SESSION_RESUME) {
		hello.session = t->session;
		memcpy(hello.secret, t->secret, SESSION_SECRET_LEN);
	}
	int fds[SESSION_FDS_MAX];
	unsigned n = (unsigned)sock_session_fds(t, fds);
	struct session_welcome w;
	memset(&w, 0, sizeof(w));
	int fd = -1;
	int rc = session_client_open(sock_lib.instance, t->layer, &hello, fds, n,
				     SOCK_RESUME_TIMEOUT_MS, &fd, &w);
	if (rc == 0) {
		t->session_fd = fd;
		if (op == SESSION_NEW) {
			t->session = w.session;
			memcpy(t->secret, w.secret, SESSION_SECRET_LEN);
		}
		sock_session_wake_watcher();
		return 0;
	}
	/* A welcome that arrived and says no is the server's answer; anything else means the
	 * server was not (yet) there to give one. */
	if (w.magic == SESSION_MAGIC && w.status < 0)
		return w.status == -EAGAIN || w.status == -EBUSY ? -EAGAIN : w.status;
	if (rc == -EINVAL || rc == -ENAMETOOLONG)
		return rc;
	return -EAGAIN;
}

bool sock_session_alive_locked(unsigned tp)
{
	struct sock_tport *t = sock_tport(tp);
	if (t->session_fd < 0)
		return false;
	struct pollfd p = {.fd = t->session_fd, .events = POLLIN | POLLRDHUP};
	if (poll(&p, 1, 0) <= 0)
		return true; /* nothing to say: alive (an EINTR here decides nothing either) */
	bool dead = p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL);
	if (!dead && (p.revents & POLLIN)) {
		/* The server sends nothing after the welcome; 0 bytes is its end. Anything else is
		 * read and ignored (room for future notices). */
		char buf[64];
		ssize_t got = recv(t->session_fd, buf, sizeof(buf), MSG_DONTWAIT);
		dead = got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR);
	}
	if (dead) {
		close(t->session_fd);
		t->session_fd = -1;
	}
	return !dead;
}

int sock_session_resume_locked(unsigned tp)
{
	struct sock_tport *t = sock_tport(tp);
	if (t->sess_lost || t->session == 0)
		return -ECONNABORTED;
	if (t->session_fd >= 0)
		return 0;
	int rc = sock_session_handshake(tp, SESSION_RESUME);
	if (rc == 0 || rc == -EAGAIN)
		return rc;
	/* The server refused: it does not have our session any more. Every socket of it is dead;
	 * wake whoever waits on one (in recv, us_poll or their own poll) to find out. */
	sock_tab_lock();
	t->sess_lost = true;
	sock_table_wake_all_locked(tp);
	sock_tab_unlock();
	return -ECONNABORTED;
}

bool sock_session_ready(unsigned tp)
{
	/* ready is set once, under req_lock, before any socket of tp exists; callers ask only
	 * about transports of sockets they hold or held. */
	return sock_tport(tp)->ready;
}

int sock_session_retry_ms(uint64_t down_since_ms)
{
	return sock_now_ms() - down_since_ms < SOCK_RESUME_FAST_FOR_MS ? SOCK_RESUME_RETRY_FAST_MS
									: SOCK_RESUME_RETRY_MS;
}

static void *sock_session_watcher(void *arg)
{
	(void)arg;
	uint64_t down_since[SOCK_TP_COUNT] = {0}; /* 0: the transport's server is not away */
	for (;;) {
		struct pollfd p[1 + SOCK_TP_COUNT];
		bool retry[SOCK_TP_COUNT];
		int wait_ms = -1;
		p[0] = (struct pollfd){.fd = sock_lib.wake_fd, .events = POLLIN};
		for (unsigned tp = 0; tp < SOCK_TP_COUNT; tp++) {
			struct sock_tport *t = sock_tport(tp);
			pthread_mutex_lock(&t->req_lock);
			int fd = t->ready ? t->session_fd : -1;
			retry[tp] = t->ready && fd < 0 && t->session != 0 && !t->sess_lost;
			pthread_mutex_unlock(&t->req_lock);
			if (!retry[tp]) {
				down_since[tp] = 0;
			} else {
				if (!down_since[tp])
					down_since[tp] = sock_now_ms();
				int ms = sock_session_retry_ms(down_since[tp]);
				wait_ms = wait_ms < 0 || ms < wait_ms ? ms : wait_ms;
			}
			p[1 + tp] = (struct pollfd){.fd = fd, .events = POLLIN | POLLRDHUP};
		}
		int n = poll(p, 1 + SOCK_TP_COUNT, wait_ms);
		if (n < 0 && errno != EINTR)
			poll(NULL, 0, 50); /* cannot happen with valid fds; never spin */
		if (p[0].revents & POLLIN) {
			uint64_t v;
			if (read(sock_lib.wake_fd, &v, sizeof(v)) < 0) {
				/* EAGAIN: someone else's wake was already consumed */
			}
		}
		for (unsigned tp = 0; tp < SOCK_TP_COUNT; tp++) {
			if (!retry[tp] && !p[1 + tp].revents)
				continue; /* nothing happened to this one */
			struct sock_tport *t = sock_tport(tp);
			pthread_mutex_lock(&t->req_lock);
			if (!sock_session_alive_locked(tp))
				sock_session_resume_locked(tp);
			pthread_mutex_unlock(&t->req_lock);
		}
	}
	return NULL;
}

static void sock_session_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int sock_session_eventfds(struct sock_tport *t)
{
	t->doorbell_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->doorbell_fd < 0)
		return -errno;
	for (unsigned i = 0; i < SOCK_SLOTS; i++) {
		t->slot_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (t->slot_fd[i] < 0)
			return -errno;
	}
	return 0;
}

static void sock_session_teardown(struct sock_tport *t)
{
	if (t->dealer)
		zmq_close(t->dealer);
	t->dealer = NULL;
	region_detach(&t->region);
	sock_session_close_fd(&t->region_fd);
	sock_session_close_fd(&t->doorbell_fd);
	for (unsigned i = 0; i < SOCK_SLOTS; i++)
		sock_session_close_fd(&t->slot_fd[i]);
}

static int sock_session_zmq(struct sock_tport *t)
{
	char file[32], path[256], ep[300];
	snprintf(file, sizeof(file), "%s.sock", t->layer);
	int rc = ustack_runtime_path(sock_lib.instance, file, path, sizeof(path));
	if (rc < 0)
		return rc;
	snprintf(ep, sizeof(ep), "ipc://%s", path);
	t->dealer = zmq_socket(sock_lib.zctx, ZMQ_DEALER);
	if (!t->dealer)
		return -errno;
	int linger = 0, ivl = 10, ivl_max = 100;
	zmq_setsockopt(t->dealer, ZMQ_LINGER, &linger, sizeof(linger));
	/* Reconnect quickly after a server restart: the default 100 ms would be most of the
	 * per-request timeout. */
	zmq_setsockopt(t->dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	zmq_setsockopt(t->dealer, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
	if (zmq_connect(t->dealer, ep) < 0)
		return -errno;
	return 0;
}

/* What both transports share, once: the instance, the ZeroMQ context, the watcher. Under a
 * req_lock; takes setup_lock. */
static int sock_session_setup_common(void)
{
	struct sock_lib *L = &sock_lib;
	pthread_mutex_lock(&L->setup_lock);
	int rc = 0;
	if (L->ready)
		goto out;
	rc = sock_session_instance();
	if (rc < 0)
		goto out;
	L->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (L->wake_fd < 0) {
		rc = -errno;
		goto out;
	}
	L->zctx = zmq_ctx_new();
	if (!L->zctx) {
		rc = -ENOMEM;
		goto fail;
	}
	/* One I/O thread is plenty for a few hundred small requests a second; no more threads
	 * than that in the application's process. */
	zmq_ctx_set(L->zctx, ZMQ_IO_THREADS, 1);
	for (unsigned i = 0; i < SOCK_TP_COUNT * SOCK_SLOTS; i++) {
		pthread_mutex_init(&L->ent[i].rx_lock, NULL);
		pthread_mutex_init(&L->ent[i].tx_lock, NULL);
		L->ent[i].fd = -1;
	}
	/* The watcher must not take the application's signals. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&L->watcher, NULL, sock_session_watcher, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0)
		goto fail;
	pthread_detach(L->watcher);
	L->ready = true;
	goto out;
fail:
	if (L->zctx)
		zmq_ctx_term(L->zctx);
	L->zctx = NULL;
	sock_session_close_fd(&L->wake_fd);
out:
	pthread_mutex_unlock(&L->setup_lock);
	return rc;
}

/* Everything of transport tp but the session, once. Under its req_lock. */
static int sock_session_setup(unsigned tp)
{
	struct sock_tport *t = sock_tport(tp);
	if (t->ready)
		return 0;
	int rc = sock_session_setup_common();
	if (rc < 0)
		return rc;
	t->region_fd = -1;
	for (unsigned i = 0; i < SOCK_SLOTS; i++)
		t->slot_fd[i] = -1;
	t->tx_ring = tp == SOCK_TP_UDP ? SOCK_UDP_TX_RING : SOCK_TCP_RING;
	t->rx_ring = tp == SOCK_TP_UDP ? SOCK_UDP_RX_RING : SOCK_TCP_RING;

	void *base = NULL;
	size_t size = 0;
	rc = region_create_memfd_kind(t->kind, SOCK_SLOTS, t->tx_ring, t->rx_ring, &t->region_fd,
				      &base, &size);
	if (rc == 0) {
		rc = region_open_client(&base, size, &t->region);
		if (rc < 0)
			munmap(base, size);
		else if (t->kind == REGION_KIND_DGRAM)
			ring_set_reclaim(&t->region.tx, sock_data_tx_reclaimed, NULL);
	}
	if (rc == 0)
		rc = sock_session_eventfds(t);
	if (rc == 0)
		rc = sock_session_zmq(t);
	if (rc < 0) {
		sock_session_teardown(t);
		return rc;
	}
	t->ready = true;
	sock_session_wake_watcher(); /* it watches this transport's session from now on */
	return 0;
}

/* Is the instance's runtime directory there at all? If not, no server of it runs and waiting
 * for one makes no sense. */
static bool sock_session_instance_up(void)
{
	char dir[256];
	struct stat st;
	return ustack_runtime_dir(sock_lib.instance, dir, sizeof(dir)) == 0 && stat(dir, &st) == 0 &&
	       S_ISDIR(st.st_mode);
}

int sock_session_routes_locked(void)
{
	Ustack__SockRequest req = USTACK__SOCK_REQUEST__INIT;
	req.op = USTACK__SOCK_REQUEST__OP__HOSTCFG;
	struct sock_reply rep;
	struct route_table rt;
	int rc = sock_req_call_locked(SOCK_TP_UDP, &req, &rep);
	if (rc == 0)
		rc = rep.status;
	if (rc == 0 && rep.prefix_len <= 32)
		rc = route_table_init(&rt, rep.addr, (uint8_t)rep.prefix_len, rep.gateway, rep.mtu);
	else if (rc == 0)
		rc = -EPROTO;
	sock_tab_lock();
	if (rc == 0)
		sock_lib.rt = rt;
	sock_lib.rt_valid = rc == 0;
	sock_tab_unlock();
	return rc;
}

int sock_session_ensure(unsigned tp)
{
	struct sock_tport *t = sock_tport(tp);
	pthread_mutex_lock(&t->req_lock);
	int rc = sock_session_setup(tp);
	if (rc < 0)
		goto out;
	if (!sock_session_instance_up()) {
		rc = -ENETDOWN;
		goto out;
	}
	uint64_t deadline = sock_now_ms() + SOCK_RESTART_BOUND_MS;
	for (;;) {
		bool fresh = t->session == 0 || t->sess_lost;
		if (!fresh && sock_session_alive_locked(tp)) {
			rc = 0;
			break;
		}
		if (fresh) {
			rc = sock_session_handshake(tp, SESSION_NEW);
			if (rc == 0) {
				sock_tab_lock();
				t->sess_gen++;
				t->sess_lost = false;
				sock_tab_unlock();
				/* The routes a new session's sends are judged by; without them the
				 * server still judges (and only counts what it refuses). tcpd
				 * judges routes at connect(): nothing to fetch. */
				if (tp == SOCK_TP_UDP)
					sock_session_routes_locked();
			}
		} else {
			rc = sock_session_resume_locked(tp);
			if (rc == -ECONNABORTED)
				continue; /* lost: open a fresh one */
		}
		if (rc != -EAGAIN)
			break;
		if (sock_now_ms() >= deadline) {
			rc = -ENETDOWN;
			break;
		}
		poll(NULL, 0, 20);
	}
	/* A refusal of SESSION_NEW that Linux's socket() could give passes through (EMFILE, ...);
	 * any other means there is no usable stack. */
	if (rc < 0 && rc != -EMFILE && rc != -ENFILE && rc != -ENOMEM && rc != -ENOBUFS &&
	    rc != -EACCES && rc != -EPERM && rc != -EINVAL)
		rc = -ENETDOWN;
out:
	pthread_mutex_unlock(&t->req_lock);
	return rc;
}
