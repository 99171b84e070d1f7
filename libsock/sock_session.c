/* sock_session: libsock's process-wide resources and its session with the transport server.
 *
 * Set up once, on the first us_socket() (sock_session_ensure, under req_lock), and kept for the
 * life of the process:
 *   - the region: a sealed memfd (region_create_memfd) with SOCK_SLOTS slots, one TX ring of
 *     SOCK_TX_RING bytes and one RX ring of SOCK_RX_RING bytes per slot. The sizes are chosen so
 *     that the largest UDP datagram (65,507 bytes) fits in a record of either ring, so the server
 *     never has to truncate one (REGION_RX_TRUNC), and like Linux's default socket buffers
 *     (net.core.rmem_default = 208 KiB) a few dozen MTU-sized datagrams queue per socket. Pages
 *     are only committed when touched;
 *   - the TX doorbell eventfd and one eventfd per slot (EFD_NONBLOCK | EFD_CLOEXEC). These are
 *     the master copies; a socket's application-visible descriptor is a dup of its slot's, so
 *     closing a socket never invalidates what the server holds and the slot can be reused;
 *   - a ZeroMQ context and one DEALER connected to <runtime dir>/udpd.sock (sock_req.c);
 *   - the watcher thread (below).
 *
 * The session: SESSION_NEW hands the server the region, the doorbell and the slot eventfds
 * (common/session.h) and yields a session id and secret that every request carries. The
 * SEQPACKET connection lives as long as the session: the server closes our sockets when it
 * closes, so we never close it while it is alive.
 *
 * Server restart: its state segment keeps the session and its sockets, but not the descriptors.
 * Our connection hangs up the moment the old process dies; SESSION_RESUME with the same region,
 * eventfds, id and secret re-attaches. Data already in the rings survives (the memory is ours).
 * Two paths resume: a request that finds the connection dead (sock_req.c), and the watcher
 * thread, which sleeps in poll() on the connection and resumes as soon as it hangs up. The
 * watcher is what keeps an application that only waits (in its own poll/epoll on socket
 * descriptors, or in a blocking recv) working across a restart: without it nobody would hand
 * the new server our region, and no datagram would ever arrive again. It blocks every signal, so
 * the application's handlers run on its own threads as before.
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

#define SOCK_TX_RING (512u << 10)
#define SOCK_RX_RING (256u << 10)
_Static_assert(sizeof(struct region_tx_dgram) + SOCK_UDP_MAX_PAYLOAD <= SOCK_TX_RING / 2 - 8,
	       "a maximal datagram fits one TX record");
_Static_assert(sizeof(struct region_rx_dgram) + SOCK_UDP_MAX_PAYLOAD <= SOCK_RX_RING / 2 - 8,
	       "a maximal datagram fits one RX record: the server never truncates");
_Static_assert(SOCK_SLOTS <= REGION_SLOTS_MAX && SOCK_SLOTS <= SESSION_SLOTS_MAX,
	       "one region slot and one eventfd per socket");

uint64_t sock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sock_session_wake_watcher(void)
{
	uint64_t one = 1;
	if (sock_lib.wake_fd >= 0 && write(sock_lib.wake_fd, &one, sizeof(one)) < 0) {
		/* saturated: the watcher is awake anyway */
	}
}

/* The instance: us_set_instance() or $USTACK_INSTANCE. */
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

static int sock_session_fds(int *fds)
{
	fds[0] = sock_lib.region_fd;
	fds[1] = sock_lib.doorbell_fd;
	for (unsigned i = 0; i < SOCK_SLOTS; i++)
		fds[2 + i] = sock_lib.slot_fd[i];
	return 2 + SOCK_SLOTS;
}

/* One handshake. 0 (session_fd set), -EAGAIN (the server is not there: no socket file, refused,
 * hung up or silent), or the server's refusal (welcome status, negative). */
static int sock_session_handshake(enum session_op op)
{
	struct sock_lib *L = &sock_lib;
	struct session_hello hello = {
		.magic = SESSION_MAGIC,
		.version = SESSION_VERSION,
		.op = op,
		.n_slots = SOCK_SLOTS,
	};
	if (op == SESSION_RESUME) {
		hello.session = L->session;
		memcpy(hello.secret, L->secret, SESSION_SECRET_LEN);
	}
	int fds[SESSION_FDS_MAX];
	unsigned n = (unsigned)sock_session_fds(fds);
	struct session_welcome w;
	memset(&w, 0, sizeof(w));
	int fd = -1;
	int rc = session_client_open(L->instance, SOCK_LAYER, &hello, fds, n,
				     SOCK_RESUME_TIMEOUT_MS, &fd, &w);
	if (rc == 0) {
		L->session_fd = fd;
		if (op == SESSION_NEW) {
			L->session = w.session;
			memcpy(L->secret, w.secret, SESSION_SECRET_LEN);
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

bool sock_session_alive_locked(void)
{
	struct sock_lib *L = &sock_lib;
	if (L->session_fd < 0)
		return false;
	struct pollfd p = {.fd = L->session_fd, .events = POLLIN | POLLRDHUP};
	if (poll(&p, 1, 0) <= 0)
		return true; /* nothing to say: alive (an EINTR here decides nothing either) */
	bool dead = p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL);
	if (!dead && (p.revents & POLLIN)) {
		/* The server sends nothing after the welcome; 0 bytes is its end. Anything else is
		 * read and ignored (room for future notices). */
		char buf[64];
		ssize_t got = recv(L->session_fd, buf, sizeof(buf), MSG_DONTWAIT);
		dead = got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR);
	}
	if (dead) {
		close(L->session_fd);
		L->session_fd = -1;
	}
	return !dead;
}

int sock_session_resume_locked(void)
{
	struct sock_lib *L = &sock_lib;
	if (L->sess_lost || L->session == 0)
		return -ECONNABORTED;
	if (L->session_fd >= 0)
		return 0;
	int rc = sock_session_handshake(SESSION_RESUME);
	if (rc == 0 || rc == -EAGAIN)
		return rc;
	/* The server refused: it does not have our session any more. Every socket of it is dead;
	 * wake whoever waits on one (in recv, us_poll or their own poll) to find out. */
	sock_tab_lock();
	L->sess_lost = true;
	sock_table_wake_all_locked();
	sock_tab_unlock();
	return -ECONNABORTED;
}

static void *sock_session_watcher(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&sock_lib.req_lock);
		int fd = sock_lib.session_fd;
		bool retry = fd < 0 && sock_lib.session != 0 && !sock_lib.sess_lost;
		pthread_mutex_unlock(&sock_lib.req_lock);

		struct pollfd p[2] = {
			{.fd = sock_lib.wake_fd, .events = POLLIN},
			{.fd = fd, .events = POLLIN | POLLRDHUP},
		};
		int n = poll(p, 2, retry ? 50 : -1);
		if (n < 0 && errno != EINTR)
			poll(NULL, 0, 50); /* cannot happen with valid fds; never spin */
		if (p[0].revents & POLLIN) {
			uint64_t v;
			if (read(sock_lib.wake_fd, &v, sizeof(v)) < 0) {
				/* EAGAIN: someone else's wake was already consumed */
			}
		}
		if (!retry && !(p[1].revents))
			continue; /* woken to pick up a new session_fd */
		pthread_mutex_lock(&sock_lib.req_lock);
		if (!sock_session_alive_locked())
			sock_session_resume_locked();
		pthread_mutex_unlock(&sock_lib.req_lock);
	}
	return NULL;
}

static int sock_session_eventfds(void)
{
	struct sock_lib *L = &sock_lib;
	L->doorbell_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	L->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (L->doorbell_fd < 0 || L->wake_fd < 0)
		return -errno;
	for (unsigned i = 0; i < SOCK_SLOTS; i++) {
		L->slot_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (L->slot_fd[i] < 0)
			return -errno;
	}
	return 0;
}

static void sock_session_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void sock_session_teardown(void)
{
	struct sock_lib *L = &sock_lib;
	if (L->dealer)
		zmq_close(L->dealer);
	if (L->zctx)
		zmq_ctx_term(L->zctx);
	L->dealer = L->zctx = NULL;
	region_detach(&L->region);
	sock_session_close_fd(&L->region_fd);
	sock_session_close_fd(&L->doorbell_fd);
	sock_session_close_fd(&L->wake_fd);
	for (unsigned i = 0; i < SOCK_SLOTS; i++)
		sock_session_close_fd(&L->slot_fd[i]);
}

static int sock_session_zmq(void)
{
	struct sock_lib *L = &sock_lib;
	char path[256], ep[300];
	int rc = ustack_runtime_path(L->instance, SOCK_LAYER ".sock", path, sizeof(path));
	if (rc < 0)
		return rc;
	snprintf(ep, sizeof(ep), "ipc://%s", path);
	L->zctx = zmq_ctx_new();
	if (!L->zctx)
		return -ENOMEM;
	/* One I/O thread is plenty for a few hundred small requests a second; no more threads
	 * than that in the application's process. */
	zmq_ctx_set(L->zctx, ZMQ_IO_THREADS, 1);
	L->dealer = zmq_socket(L->zctx, ZMQ_DEALER);
	if (!L->dealer)
		return -errno;
	int linger = 0, ivl = 10, ivl_max = 100;
	zmq_setsockopt(L->dealer, ZMQ_LINGER, &linger, sizeof(linger));
	/* Reconnect quickly after a server restart: the default 100 ms would be most of the
	 * per-request timeout. */
	zmq_setsockopt(L->dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	zmq_setsockopt(L->dealer, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
	if (zmq_connect(L->dealer, ep) < 0)
		return -errno;
	return 0;
}

/* Everything but the session, once. Under req_lock. */
static int sock_session_setup(void)
{
	struct sock_lib *L = &sock_lib;
	if (L->ready)
		return 0;
	int rc = sock_session_instance();
	if (rc < 0)
		return rc;
	L->region_fd = -1;
	for (unsigned i = 0; i < SOCK_SLOTS; i++)
		L->slot_fd[i] = -1;

	void *base = NULL;
	size_t size = 0;
	rc = region_create_memfd(SOCK_SLOTS, SOCK_TX_RING, SOCK_RX_RING, &L->region_fd, &base, &size);
	if (rc == 0) {
		rc = region_open_client(&base, size, &L->region);
		if (rc < 0)
			munmap(base, size);
		else
			ring_set_reclaim(&L->region.tx, sock_data_tx_reclaimed, NULL);
	}
	if (rc == 0)
		rc = sock_session_eventfds();
	if (rc == 0)
		rc = sock_session_zmq();
	if (rc == 0) {
		/* The watcher must not take the application's signals. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = -pthread_create(&L->watcher, NULL, sock_session_watcher, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc == 0)
			pthread_detach(L->watcher);
	}
	if (rc < 0) {
		sock_session_teardown();
		return rc;
	}
	for (unsigned i = 0; i < SOCK_SLOTS; i++) {
		pthread_mutex_init(&L->ent[i].rx_lock, NULL);
		L->ent[i].fd = -1;
	}
	L->ready = true;
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
	int rc = sock_req_call_locked(&req, &rep);
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

int sock_session_ensure(void)
{
	struct sock_lib *L = &sock_lib;
	pthread_mutex_lock(&L->req_lock);
	int rc = sock_session_setup();
	if (rc < 0)
		goto out;
	if (!sock_session_instance_up()) {
		rc = -ENETDOWN;
		goto out;
	}
	uint64_t deadline = sock_now_ms() + SOCK_RESTART_BOUND_MS;
	for (;;) {
		bool fresh = L->session == 0 || L->sess_lost;
		if (!fresh && sock_session_alive_locked()) {
			rc = 0;
			break;
		}
		if (fresh) {
			rc = sock_session_handshake(SESSION_NEW);
			if (rc == 0) {
				sock_tab_lock();
				L->sess_gen++;
				L->sess_lost = false;
				sock_tab_unlock();
				/* The routes a new session's sends are judged by; without them the
				 * server still judges (and only counts what it refuses). */
				sock_session_routes_locked();
			}
		} else {
			rc = sock_session_resume_locked();
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
	pthread_mutex_unlock(&L->req_lock);
	return rc;
}
