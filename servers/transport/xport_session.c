/* xport_session: applications' sessions with a transport server — the
 * <runtime dir>/<layer>.session socket, the hello, SESSION_NEW and SESSION_RESUME, the
 * descriptors a session brings, and its end (xport.h says what is the transport's).
 *
 * One epoll set holds every session descriptor (the listening socket, connections still in
 * their handshake, each session's SEQPACKET connection and doorbell); the loop polls only that
 * epoll fd, so the number of sessions is not bounded by the loop's sources, and each pass takes
 * at most XPORT_EVENTS_BUDGET events. Tags carry (kind, index, generation): an event of a
 * previous occupant of the index is recognised and ignored. Descriptors are removed from the set
 * explicitly before they are closed: the application holds the same open file descriptions
 * (SCM_RIGHTS duplicates them), so closing ours alone would leave them registered.
 *
 * Handshake. Accepting never waits for the hello: the connection joins the set, and its hello
 * is read when it arrives (usually at once), within XPORT_HANDSHAKE_NS; at most
 * XPORT_HANDSHAKES_MAX wait at a time, further connections are refused (closed) meanwhile, and
 * one uid (SO_PEERCRED at accept) may hold only its share of them (xport_quota.c): a user's idle
 * connections cannot lock every other user out. Its sessions are limited likewise.
 * Descriptor exhaustion is survived by the spare-descriptor trick (close the spare, accept and
 * close, reopen), so a full table never makes the listening socket spin the loop.
 *
 * What a hello must bring (session.h): a region of the transport's kind (region_attach_kind
 * checks its seals and layout, and its n_slots must equal the hello's) and eventfds for the
 * doorbell and every slot (checked through /proc/self/fd, since we read and write them: a pipe
 * or a socket there could block the server). Writes to slot eventfds go through
 * xport_wake.c's guard; the doorbell is read with RWF_NOWAIT: an application cannot make
 * either block the loop by clearing O_NONBLOCK on its side of the shared file description.
 *
 * Authentication. SESSION_NEW draws the id and the secret from getrandom(); the creator's uid
 * comes from SO_PEERCRED. SESSION_RESUME needs the same uid and the secret (compared in
 * constant time), and only re-attaches a DETACHED session: a RESUME naming a session that is
 * attached is refused (-EBUSY), so a thief cannot take a live session over. Unknown sessions get
 * -ENOENT (libsock then knows its sockets are lost), wrong uid or secret -EPERM.
 *
 * End. The SEQPACKET connection closing (the application exited or closed it) ends the session,
 * in two steps if the transport asks (xport_ops.session_leave), as Linux sends what a process
 * queued before it exited: the session becomes CLOSING (descriptors closed, no more requests,
 * the region still mapped) while the transport finishes what its sockets queued; then the
 * transport closes its sockets and frees its record (xport_ops.session_end: one transaction of
 * the state segment where it can), and the region is unmapped. The record stays taken while
 * CLOSING (it still counts against its uid). Opening a session is one transaction too
 * (xport_ops.session_open), committed before the welcome goes out. Data on the connection after
 * the hello breaks the protocol and ends the session at once, as does a broken ring. Sessions
 * found in the state segment at start are DETACHED and ended if not resumed within
 * XPORT_RESUME_GRACE_NS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <zmq.h>

#include "log.h"
#include "paths.h"
#include "runtime_sock.h"
#include "xport.h"

enum xport_tag {
	XPORT_TAG_LISTEN = 1,
	XPORT_TAG_HANDSHAKE = 2,
	XPORT_TAG_CONN = 3,
	XPORT_TAG_DOORBELL = 4,
};

static uint64_t xport_tag_make(enum xport_tag kind, unsigned idx, uint32_t evgen)
{
	return (uint64_t)kind << 56 | (uint64_t)(evgen & 0xffffffu) << 32 | idx;
}

static int xport_ep_add(struct xport *x, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = {.events = events, .data.u64 = tag};
	return epoll_ctl(x->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void xport_ep_del(struct xport *x, int fd)
{
	if (fd >= 0)
		epoll_ctl(x->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void xport_close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

bool xport_secret_equal(const uint8_t *a, const uint8_t *b, size_t b_len)
{
	if (b_len != SESSION_SECRET_LEN)
		return false;
	/* Constant time: the position of the first wrong byte must not show in the timing. */
	volatile uint8_t diff = 0;
	for (size_t i = 0; i < SESSION_SECRET_LEN; i++)
		diff |= (uint8_t)(a[i] ^ b[i]);
	return diff == 0;
}

/* An eventfd, checked by its /proc link; without /proc, at least an anonymous inode (which
 * excludes pipes, sockets, files and devices: the descriptors that could block). */
static bool xport_is_eventfd(int fd)
{
	char path[64], link[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		return strcmp(link, "anon_inode:[eventfd]") == 0;
	}
	struct stat st;
	return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == 0;
}

unsigned xport_sessions_count(const struct xport *x, enum xport_sess_state state)
{
	unsigned n = 0;
	for (unsigned i = 0; i < XPORT_SESSIONS_MAX; i++)
		n += x->sess[i].state == state;
	return n;
}

/* Close what a session holds in this process (not its record or sockets). */
static void xport_session_release_local(struct xport *x, struct xport_session *s)
{
	xport_ep_del(x, s->conn_fd);
	xport_ep_del(x, s->doorbell_fd);
	if (s->conn_fd >= 0)
		close(s->conn_fd);
	if (s->doorbell_fd >= 0)
		close(s->doorbell_fd);
	s->conn_fd = s->doorbell_fd = -1;
	xport_close_fds(s->slot_fd, REGION_SLOTS_MAX);
	if (s->state == XPORT_SESS_ATTACHED || s->state == XPORT_SESS_CLOSING)
		region_detach(&s->region);
	s->wake_mask = 0;
}

void xport_session_leave(struct xport *x, unsigned si, const char *why)
{
	struct xport_session *s = &x->sess[si];
	if (s->state != XPORT_SESS_ATTACHED) {
		xport_session_end(x, si, why);
		return;
	}
	x->ops->forget(x->tp, si);
	if (!x->ops->session_leave(x->tp, si)) {
		xport_session_end(x, si, why);
		return;
	}
	log_info("session %u (pid %ld): %s: finishing what its sockets queued", si, (long)s->pid,
		 why);
	/* Descriptors go now (the application is gone); the mapping stays until the end. */
	xport_ep_del(x, s->conn_fd);
	xport_ep_del(x, s->doorbell_fd);
	if (s->conn_fd >= 0)
		close(s->conn_fd);
	if (s->doorbell_fd >= 0)
		close(s->doorbell_fd);
	s->conn_fd = s->doorbell_fd = -1;
	xport_close_fds(s->slot_fd, REGION_SLOTS_MAX);
	s->wake_mask = 0;
	s->state = XPORT_SESS_CLOSING;
	s->evgen = ++x->evgen_next;
}

void xport_session_end(struct xport *x, unsigned si, const char *why)
{
	struct xport_session *s = &x->sess[si];
	if (s->state == XPORT_SESS_FREE)
		return;
	log_info("session %u (pid %ld): %s", si, (long)s->pid, why);
	x->ops->forget(x->tp, si);
	/* Its sockets and its record (in one transaction where the transport can: udpd_store.h);
	 * the record keeps its generation, so the next session in it gets another owner. */
	x->ops->session_end(x->tp, si);
	xport_session_release_local(x, s);
	s->state = XPORT_SESS_FREE;
	s->evgen = ++x->evgen_next;
	s->pid = 0;
	struct xport_uid *e = &x->uids[s->uid_ix];
	if (e->sessions)
		e->sessions--;
	xport_uid_release(x, s->uid_ix);
	x->stats.sessions_closed++;
}

/* Check the descriptors of a hello and map its region. 0 with *reg attached, or the welcome
 * status. */
static int xport_hello_check(struct xport *x, const struct session_hello *h, const int *fds,
			    struct region *reg)
{
	for (unsigned i = 1; i < 2u + h->n_slots; i++) {
		if (!xport_is_eventfd(fds[i])) {
			x->stats.session_refused_fds++;
			return -EINVAL;
		}
	}
	int rc = region_attach_kind(fds[0], x->ops->region_kind, reg);
	if (rc < 0) {
		x->stats.session_refused_region++;
		log_notice("session refused: region: %s", strerror(-rc));
		return rc == -EPERM || rc == -EPROTO ? rc : -EINVAL;
	}
	if (reg->n_slots != h->n_slots) {
		region_detach(reg);
		x->stats.session_refused_region++;
		return -EINVAL;
	}
	return 0;
}

static int xport_session_new_rec(struct xport *x, const struct session_hello *h, uid_t uid,
				unsigned *out)
{
	int ix = xport_uid_get(x, (uint32_t)uid);
	if (ix < 0)
		return -ENFILE;
	if (x->uids[ix].sessions >= x->lim.uid_sessions) {
		/* EMFILE: this user's share is used up (the table itself may have room). */
		x->stats.session_refused_uid++;
		xport_uid_release(x, (unsigned)ix);
		return -EMFILE;
	}
	unsigned si;
	for (si = 0; si < XPORT_SESSIONS_MAX; si++)
		if (x->sess[si].state == XPORT_SESS_FREE && !x->recs[si].in_use)
			break;
	if (si == XPORT_SESSIONS_MAX) {
		x->stats.session_refused_full++;
		xport_uid_release(x, (unsigned)ix);
		return -ENFILE;
	}
	uint64_t id = 0;
	uint8_t secret[SESSION_SECRET_LEN];
	for (;;) {
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id) ||
		    getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret)) {
			xport_uid_release(x, (unsigned)ix);
			return -EAGAIN;
		}
		bool taken = id == 0;
		for (unsigned i = 0; i < XPORT_SESSIONS_MAX && !taken; i++)
			taken = x->recs[i].in_use && x->recs[i].id == id;
		if (!taken)
			break;
	}
	x->ops->session_open(x->tp, si, id, secret, (uint32_t)uid, h->n_slots);
	x->sess[si].uid_ix = (unsigned)ix;
	x->uids[ix].sessions++;
	*out = si;
	return 0;
}

static int xport_session_resume_rec(struct xport *x, const struct session_hello *h, uid_t uid,
				   unsigned *out)
{
	for (unsigned si = 0; si < XPORT_SESSIONS_MAX; si++) {
		const struct xport_session_rec *rec = &x->recs[si];
		if (!rec->in_use || rec->id != h->session)
			continue;
		if (rec->creator_uid != (uint32_t)uid ||
		    !xport_secret_equal(rec->secret, h->secret, sizeof(h->secret))) {
			x->stats.session_refused_auth++;
			return -EPERM;
		}
		if (x->sess[si].state == XPORT_SESS_ATTACHED ||
		    x->sess[si].state == XPORT_SESS_CLOSING) {
			x->stats.session_refused_busy_resume++;
			return -EBUSY;
		}
		if (rec->n_slots != h->n_slots) {
			x->stats.session_refused_region++;
			return -EINVAL;
		}
		*out = si;
		return 0;
	}
	x->stats.session_refused_auth++;
	return -ENOENT;
}

/* A complete hello arrived on conn (which we own from here): act on it and answer. */
static void xport_hello(struct xport *x, int conn, const struct session_hello *h, int *fds,
		       unsigned n_fds, pid_t pid, uid_t uid)
{
	struct session_welcome w = {.magic = SESSION_MAGIC, .version = SESSION_VERSION};
	struct region reg;
	unsigned si = 0;
	bool created = false;
	int rc = xport_hello_check(x, h, fds, &reg);
	if (rc == 0) {
		if (h->op == SESSION_NEW) {
			rc = xport_session_new_rec(x, h, uid, &si);
			created = rc == 0;
		} else {
			rc = xport_session_resume_rec(x, h, uid, &si);
		}
		if (rc < 0)
			region_detach(&reg);
	}
	if (rc < 0) {
		w.status = rc;
		session_server_send(conn, &w);
		close(conn);
		xport_close_fds(fds, n_fds);
		log_notice("session %s from pid %ld uid %u refused: %s",
			   h->op == SESSION_NEW ? "open" : "resume", (long)pid, (unsigned)uid,
			   strerror(-rc));
		return;
	}

	struct xport_session *s = &x->sess[si];
	const struct xport_session_rec *rec = &x->recs[si];
	close(fds[0]); /* the mapping stays */
	s->state = XPORT_SESS_ATTACHED;
	s->evgen = ++x->evgen_next;
	s->conn_fd = conn;
	s->doorbell_fd = fds[1];
	for (unsigned i = 0; i < REGION_SLOTS_MAX; i++)
		s->slot_fd[i] = i < h->n_slots ? fds[2 + i] : -1;
	s->region = reg;
	s->pid = pid;
	s->deadline = CLOCK_NEVER;
	s->wake_mask = 0;
	/* The transport's own: what a region that is new to it needs (its views, its wake-ups). */
	x->ops->session_attached(x->tp, si, created);
	rc = xport_ep_add(x, conn, EPOLLIN | EPOLLRDHUP, xport_tag_make(XPORT_TAG_CONN, si, s->evgen));
	if (rc == 0)
		rc = xport_ep_add(x, s->doorbell_fd, EPOLLIN,
				 xport_tag_make(XPORT_TAG_DOORBELL, si, s->evgen));
	w.session = rec->id;
	memcpy(w.secret, rec->secret, SESSION_SECRET_LEN);
	if (rc == 0)
		rc = session_server_send(conn, &w);
	if (rc < 0) {
		log_warn("session %u: %s: %s", si, created ? "open" : "resume", strerror(-rc));
		if (created) {
			xport_session_end(x, si, "could not be set up");
		} else {
			xport_session_release_local(x, s);
			s->state = XPORT_SESS_DETACHED;
			s->deadline = clock_now() + XPORT_RESUME_GRACE_NS;
		}
		return;
	}
	if (created) {
		x->stats.sessions_opened++;
		log_info("session %u opened: pid %ld uid %u, %u slots", si, (long)pid,
			 (unsigned)uid, h->n_slots);
	} else {
		x->stats.sessions_resumed++;
		log_info("session %u resumed: pid %ld uid %u", si, (long)pid, (unsigned)uid);
	}
}

static void xport_handshake_free(struct xport *x, struct xport_handshake *hs)
{
	xport_ep_del(x, hs->fd);
	hs->fd = -1;
	hs->evgen = ++x->evgen_next;
	struct xport_uid *e = &x->uids[hs->uid_ix];
	if (e->handshakes)
		e->handshakes--;
	xport_uid_release(x, hs->uid_ix);
}

/* Refuse a connection before its hello: a welcome saying -EAGAIN (as a full listen backlog
 * does: the client tries again), then close. Never blocks (the socket is non-blocking). */
static void xport_refuse_early(int fd)
{
	struct session_welcome w = {.magic = SESSION_MAGIC, .version = SESSION_VERSION,
				    .status = -EAGAIN};
	session_server_send(fd, &w);
	close(fd);
}

/* Try to read the hello of handshake hi. */
static void xport_handshake(struct xport *x, unsigned hi)
{
	struct xport_handshake *hs = &x->hs[hi];
	struct session_hello h;
	int fds[SESSION_FDS_MAX];
	unsigned n_fds = 0;
	pid_t pid = 0;
	uid_t uid = 0;
	int rc = session_server_recv(hs->fd, 0, &h, fds, &n_fds, &pid, &uid);
	if (rc == -ETIMEDOUT)
		return; /* not here yet */
	int conn = hs->fd;
	xport_handshake_free(x, hs);
	if (rc < 0) {
		if (rc == -EBADMSG) {
			struct session_welcome w = {.magic = SESSION_MAGIC,
						    .version = SESSION_VERSION, .status = rc};
			session_server_send(conn, &w);
		}
		x->stats.session_refused_malformed++;
		close(conn);
		return;
	}
	xport_hello(x, conn, &h, fds, n_fds, pid, uid);
}

static void xport_accept(struct xport *x, uint64_t now)
{
	for (unsigned n = 0; n < XPORT_HANDSHAKES_MAX; n++) {
		int fd = accept4(x->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN)
				return;
			x->stats.session_accept_errors++;
			if ((errno == EMFILE || errno == ENFILE) && x->spare_fd >= 0) {
				/* Shed the connection, or it stays queued and the loop spins. */
				close(x->spare_fd);
				fd = accept(x->listen_fd, NULL, NULL);
				if (fd >= 0)
					close(fd);
				x->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				log_warn("session socket: out of descriptors: connection refused");
				continue;
			}
			log_warn("session socket: accept: %s", strerror(errno));
			return;
		}
		unsigned hi;
		for (hi = 0; hi < XPORT_HANDSHAKES_MAX; hi++)
			if (x->hs[hi].fd < 0)
				break;
		if (hi == XPORT_HANDSHAKES_MAX) {
			x->stats.session_refused_busy++;
			xport_refuse_early(fd);
			continue;
		}
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
			x->stats.session_accept_errors++;
			close(fd);
			continue;
		}
		int ix = xport_uid_get(x, (uint32_t)cred.uid);
		if (ix < 0 || x->uids[ix].handshakes >= x->lim.uid_handshakes) {
			x->stats.session_refused_uid_busy++;
			if (ix >= 0)
				xport_uid_release(x, (unsigned)ix);
			xport_refuse_early(fd);
			continue;
		}
		struct xport_handshake *hs = &x->hs[hi];
		hs->evgen = ++x->evgen_next;
		hs->deadline = now + XPORT_HANDSHAKE_NS;
		if (xport_ep_add(x, fd, EPOLLIN | EPOLLRDHUP,
				xport_tag_make(XPORT_TAG_HANDSHAKE, hi, hs->evgen)) < 0) {
			x->stats.session_accept_errors++;
			xport_uid_release(x, (unsigned)ix);
			close(fd);
			continue;
		}
		hs->fd = fd;
		hs->uid_ix = (unsigned)ix;
		x->uids[ix].handshakes++;
		xport_handshake(x, hi); /* the hello is usually there already */
	}
}

static void xport_doorbell(struct xport *x, unsigned si)
{
	struct xport_session *s = &x->sess[si];
	uint64_t v;
	struct iovec iov = {.iov_base = &v, .iov_len = sizeof(v)};
	/* RWF_NOWAIT: never blocks, whatever the application did to the file's flags. */
	if (preadv2(s->doorbell_fd, &iov, 1, -1, RWF_NOWAIT) == (ssize_t)sizeof(v))
		x->stats.doorbell_reads++;
	x->ops->doorbell(x->tp, si);
}

bool xport_sessions_ready(void *arg, uint64_t now)
{
	struct xport *x = arg;
	struct epoll_event ev[XPORT_EVENTS_BUDGET];
	int n = epoll_wait(x->epfd, ev, XPORT_EVENTS_BUDGET, 0);
	for (int i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;
		unsigned kind = (unsigned)(tag >> 56);
		uint32_t evgen = (uint32_t)(tag >> 32) & 0xffffffu;
		unsigned idx = (unsigned)(tag & 0xffffffffu);
		switch (kind) {
		case XPORT_TAG_LISTEN:
			xport_accept(x, now);
			break;
		case XPORT_TAG_HANDSHAKE:
			if (idx < XPORT_HANDSHAKES_MAX && x->hs[idx].fd >= 0 &&
			    (x->hs[idx].evgen & 0xffffffu) == evgen)
				xport_handshake(x, idx);
			break;
		case XPORT_TAG_CONN:
		case XPORT_TAG_DOORBELL: {
			if (idx >= XPORT_SESSIONS_MAX)
				break;
			struct xport_session *s = &x->sess[idx];
			if (s->state != XPORT_SESS_ATTACHED || (s->evgen & 0xffffffu) != evgen)
				break;
			if (kind == XPORT_TAG_DOORBELL) {
				xport_doorbell(x, idx);
			} else if (ev[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
				xport_session_leave(x, idx, "the application closed its session");
			} else {
				x->stats.sessions_closed_hostile++;
				xport_session_end(x, idx, "data on the session socket after the hello");
			}
			break;
		}
		default:
			break;
		}
	}
	bool more = n == (int)XPORT_EVENTS_BUDGET;
	if (x->ops->events_done)
		more |= x->ops->events_done(x->tp);
	xport_wake_flush(x);
	loop_arm_timer(x->loop, x->timer_id, xport_sessions_next_deadline(x));
	return more;
}

uint64_t xport_sessions_next_deadline(const struct xport *x)
{
	uint64_t next = CLOCK_NEVER;
	for (unsigned i = 0; i < XPORT_HANDSHAKES_MAX; i++)
		if (x->hs[i].fd >= 0 && x->hs[i].deadline < next)
			next = x->hs[i].deadline;
	for (unsigned i = 0; i < XPORT_SESSIONS_MAX; i++)
		if (x->sess[i].state == XPORT_SESS_DETACHED && x->sess[i].deadline < next)
			next = x->sess[i].deadline;
	return next;
}

uint64_t xport_sessions_timer(void *arg, uint64_t now)
{
	struct xport *x = arg;
	for (unsigned i = 0; i < XPORT_HANDSHAKES_MAX; i++) {
		struct xport_handshake *hs = &x->hs[i];
		if (hs->fd >= 0 && hs->deadline <= now) {
			int fd = hs->fd;
			xport_handshake_free(x, hs);
			close(fd);
			x->stats.session_refused_timeout++;
		}
	}
	for (unsigned i = 0; i < XPORT_SESSIONS_MAX; i++) {
		if (x->sess[i].state == XPORT_SESS_DETACHED && x->sess[i].deadline <= now) {
			x->stats.sessions_expired++;
			xport_session_end(x, i, "not resumed after the restart: its sockets are closed");
		}
	}
	return xport_sessions_next_deadline(x);
}

static void xport_sessions_preinit(struct xport *x)
{
	for (unsigned i = 0; i < XPORT_SESSIONS_MAX; i++) {
		struct xport_session *s = &x->sess[i];
		s->conn_fd = s->doorbell_fd = -1;
		for (unsigned k = 0; k < REGION_SLOTS_MAX; k++)
			s->slot_fd[k] = -1;
		s->evgen = ++x->evgen_next;
	}
	for (unsigned i = 0; i < XPORT_HANDSHAKES_MAX; i++)
		x->hs[i].fd = -1;
	x->epfd = x->listen_fd = x->spare_fd = -1;
}

int xport_sessions_open(struct xport *x)
{
	x->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	x->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (x->epfd < 0)
		return -errno;

	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int rc = session_path(x->instance, x->ops->layer, sa.sun_path, sizeof(sa.sun_path));
	if (rc == 0)
		rc = ustack_runtime_dir_create(x->instance);
	if (rc < 0)
		return rc;
	x->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->listen_fd < 0)
		return -errno;
	/* Any local user may open a session, as any may open a kernel socket: what keeps
	 * applications apart is the secret and the uid check, not the file mode. */
	rc = runtime_sock_listen_unix(x->listen_fd, sa.sun_path, 0666, 64);
	if (rc < 0)
		return rc;
	return xport_ep_add(x, x->listen_fd, EPOLLIN, xport_tag_make(XPORT_TAG_LISTEN, 0, 0));
}

static void xport_sessions_close(struct xport *x)
{
	/* Leave the session records alone: the next server resumes them. */
	for (unsigned i = 0; i < XPORT_SESSIONS_MAX; i++) {
		struct xport_session *s = &x->sess[i];
		if (s->state == XPORT_SESS_ATTACHED || s->state == XPORT_SESS_CLOSING)
			xport_session_release_local(x, s);
		s->state = XPORT_SESS_FREE;
	}
	for (unsigned i = 0; i < XPORT_HANDSHAKES_MAX; i++) {
		if (x->hs[i].fd >= 0) {
			close(x->hs[i].fd);
			x->hs[i].fd = -1;
		}
	}
	if (x->listen_fd >= 0)
		close(x->listen_fd);
	if (x->epfd >= 0)
		close(x->epfd);
	if (x->spare_fd >= 0)
		close(x->spare_fd);
	x->listen_fd = x->epfd = x->spare_fd = -1;
}

unsigned xport_sessions_restore(struct xport *x, struct xport_session_rec *recs, uint64_t now)
{
	unsigned n = 0;
	x->recs = recs;
	for (unsigned i = 0; i < XPORT_SESSIONS_MAX; i++) {
		if (!recs[i].in_use)
			continue;
		x->sess[i].state = XPORT_SESS_DETACHED;
		x->sess[i].deadline = now + XPORT_RESUME_GRACE_NS;
		n++;
	}
	return n;
}

int xport_session_of(const struct xport *x, uint32_t owner)
{
	return xport_session_of_owner(x->recs, owner);
}

void xport_preinit(struct xport *x, const struct xport_ops *ops, void *tp, const char *instance)
{
	x->ops = ops;
	x->tp = tp;
	x->instance = instance;
	x->sess_src = x->timer_id = -1;
	xport_sessions_preinit(x);
}

int xport_loop_add(struct xport *x, struct loop *loop)
{
	x->loop = loop;
	if (loop_add_zsock(loop, x->router, xport_requests_ready, x) < 0 ||
	    (x->sess_src = loop_add_fd(loop, x->epfd, xport_sessions_ready, x)) < 0)
		return -ENOSPC;
	x->timer_id = loop_add_timer(loop, xport_sessions_timer, x, xport_sessions_next_deadline(x));
	return x->timer_id < 0 ? x->timer_id : 0;
}

void xport_close(struct xport *x)
{
	xport_sessions_close(x);
	if (x->router)
		zmq_close(x->router);
	x->router = NULL;
}
