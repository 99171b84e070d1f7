/* udpd_session: applications' sessions — the <runtime dir>/udpd.session socket, the hello,
 * SESSION_NEW and SESSION_RESUME, the descriptors a session brings, and its end.
 *
 * One epoll set holds every session descriptor (the listening socket, connections still in
 * their handshake, each session's SEQPACKET connection and TX doorbell); the loop polls only
 * that epoll fd, so the number of sessions is not bounded by the loop's sources, and each pass
 * takes at most UDPD_EVENTS_BUDGET events. Tags carry (kind, index, generation): an event of a
 * previous occupant of the index is recognised and ignored. Descriptors are removed from the set
 * explicitly before they are closed: the application holds the same open file descriptions
 * (SCM_RIGHTS duplicates them), so closing ours alone would leave them registered.
 *
 * Handshake. Accepting never waits for the hello: the connection joins the set, and its hello
 * is read when it arrives (usually at once), within UDPD_HANDSHAKE_NS; at most
 * UDPD_HANDSHAKES_MAX wait at a time, further connections are refused (closed) meanwhile, and
 * one uid (SO_PEERCRED at accept) may hold only its share of them (udpd_quota.c): a user's idle
 * connections cannot lock every other user out. Its sessions are limited likewise.
 * Descriptor exhaustion is survived by the spare-descriptor trick (close the spare, accept and
 * close, reopen), so a full table never makes the listening socket spin the loop.
 *
 * What a hello must bring (session.h): a region (region_attach checks its seals and layout, and
 * its n_slots must equal the hello's) and eventfds for the doorbell and every slot (checked
 * through /proc/self/fd, since we read and write them: a pipe or a socket there could block the
 * server). Writes to slot eventfds go through udpd_data.c's guard; the doorbell is read with
 * RWF_NOWAIT: an application cannot make either block the loop by clearing O_NONBLOCK on its
 * side of the shared file description.
 *
 * Authentication. SESSION_NEW draws the id and the secret from getrandom(); the creator's uid
 * comes from SO_PEERCRED. SESSION_RESUME needs the same uid and the secret (compared in
 * constant time), and only re-attaches a DETACHED session: a RESUME naming a session that is
 * attached is refused (-EBUSY), so a thief cannot take a live session over. Unknown sessions get
 * -ENOENT (libsock then knows its sockets are lost), wrong uid or secret -EPERM.
 *
 * End. The SEQPACKET connection closing (the application exited or closed it) ends the session,
 * in two steps, as Linux sends what a process queued before it exited: the session becomes
 * CLOSING (descriptors closed, no more requests or received datagrams, the region still
 * mapped) while the TX round sends the records its TX ring held at that moment, within the sum
 * of its sockets' send buffers (what send() can have accepted); what lies beyond, and whatever
 * a producer still adds, is discarded unread (tx_drop_closed_bytes). Then every socket of it is
 * closed and the record cleared in one transaction of the state segment
 * (udpd_store_session_close), corked chains freed, the region unmapped. The record stays taken
 * while CLOSING (it still counts against its uid). Opening a session is one transaction too
 * (udpd_store_session_open), committed before the welcome goes out. Data on the connection
 * after the hello breaks the protocol and ends the session at once, as does a broken ring.
 * Sessions found in the state segment at start are DETACHED and ended if not resumed within
 * UDPD_RESUME_GRACE_NS.
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

#include "log.h"
#include "paths.h"
#include "udpd_priv.h"

enum udpd_tag {
	UDPD_TAG_LISTEN = 1,
	UDPD_TAG_HANDSHAKE = 2,
	UDPD_TAG_CONN = 3,
	UDPD_TAG_DOORBELL = 4,
};

static uint64_t udpd_tag_make(enum udpd_tag kind, unsigned idx, uint32_t evgen)
{
	return (uint64_t)kind << 56 | (uint64_t)(evgen & 0xffffffu) << 32 | idx;
}

static int udpd_ep_add(struct udpd *u, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = {.events = events, .data.u64 = tag};
	return epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void udpd_ep_del(struct udpd *u, int fd)
{
	if (fd >= 0)
		epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void udpd_close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

bool udpd_secret_equal(const uint8_t *a, const uint8_t *b, size_t b_len)
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
static bool udpd_is_eventfd(int fd)
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

unsigned udpd_sessions_count(const struct udpd *u, enum udpd_sess_state state)
{
	unsigned n = 0;
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++)
		n += u->sess[i].state == state;
	return n;
}

/* Close what a session holds in this process (not its record or sockets). */
static void udpd_session_release_local(struct udpd *u, struct udpd_session *s)
{
	udpd_ep_del(u, s->conn_fd);
	udpd_ep_del(u, s->doorbell_fd);
	if (s->conn_fd >= 0)
		close(s->conn_fd);
	if (s->doorbell_fd >= 0)
		close(s->doorbell_fd);
	s->conn_fd = s->doorbell_fd = -1;
	udpd_close_fds(s->slot_fd, REGION_SLOTS_MAX);
	if (s->state == UDPD_SESS_ATTACHED || s->state == UDPD_SESS_CLOSING)
		region_detach(&s->region);
	s->wake_mask = 0;
	s->held_dirty = 0;
	s->tx_pending = false;
	s->tx_touched = false;
}

void udpd_session_leave(struct udpd *u, unsigned si, const char *why)
{
	struct udpd_session *s = &u->sess[si];
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	if (s->state != UDPD_SESS_ATTACHED) {
		udpd_session_end(u, si, why);
		return;
	}
	/* What the application queued before it left is sent, as far as its sockets' send
	 * buffers reach: with libsock that is everything send() accepted; a hostile producer's
	 * ring (up to REGION_SIZE_MAX of empty records) is cut there, so leaving costs udpd a
	 * bounded amount of work, done in TX budgets. */
	uint64_t pos = ring_read_pos(&s->region.tx), head = pos, allowance = 0;
	if (ring_head_now(&s->region.tx, &head) < 0) {
		udpd_session_end(u, si, why);
		return;
	}
	for (unsigned slot = 0; slot < REGION_SLOTS_MAX; slot++) {
		const struct udp_sock *sk = rec->slot_sid[slot]
			? udp_sock_get(u->t, rec->owner, rec->slot_sid[slot]) : NULL;
		/* Linux lets a send start while less than sndbuf is in flight: one record more. */
		if (sk)
			allowance += sk->sndbuf + region_tx_charge(UDPD_TX_REC_MAX);
	}
	s->drain_until = head - pos > allowance ? pos + allowance : head;
	if (s->drain_until == pos) {
		u->stats.tx_drop_closed_bytes += head - pos;
		udpd_session_end(u, si, why);
		return;
	}
	log_info("session %u (pid %ld): %s: sending its last %llu bytes of records", si,
		 (long)s->pid, why, (unsigned long long)(s->drain_until - pos));
	udpd_requests_close_forget(u, si);
	/* Descriptors go now (the application is gone); the mapping stays until the end. */
	udpd_ep_del(u, s->conn_fd);
	udpd_ep_del(u, s->doorbell_fd);
	if (s->conn_fd >= 0)
		close(s->conn_fd);
	if (s->doorbell_fd >= 0)
		close(s->doorbell_fd);
	s->conn_fd = s->doorbell_fd = -1;
	udpd_close_fds(s->slot_fd, REGION_SLOTS_MAX);
	s->wake_mask = 0;
	s->state = UDPD_SESS_CLOSING;
	s->evgen = ++u->evgen_next;
	s->tx_pending = true;
}

void udpd_session_end(struct udpd *u, unsigned si, const char *why)
{
	struct udpd_session *s = &u->sess[si];
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	if (s->state == UDPD_SESS_FREE)
		return;
	log_info("session %u (pid %ld): %s", si, (long)s->pid, why);
	udpd_requests_close_forget(u, si);
	for (unsigned slot = 0; slot < REGION_SLOTS_MAX; slot++) {
		uint32_t sid = rec->slot_sid[slot];
		if (!sid)
			continue;
		unsigned k = sid & 0xffffu;
		if (k < UDP_SOCKETS_MAX) {
			udpd_cork_free(u, k);
			u->sock_slot[k] = UDPD_SLOT_NONE;
			u->closing[k] = false;
		}
	}
	/* Its sockets and its record go in one transaction (udpd_store.h); the record keeps its
	 * generation, so the next session in it gets another owner. */
	udpd_store_session_close(u->st, si);
	udpd_session_release_local(u, s);
	s->state = UDPD_SESS_FREE;
	s->evgen = ++u->evgen_next;
	s->pid = 0;
	struct udpd_uid *e = &u->uids[s->uid_ix];
	if (e->sessions)
		e->sessions--;
	udpd_uid_release(u, s->uid_ix);
	u->stats.sessions_closed++;
}

/* Check the descriptors of a hello and map its region. 0 with *reg attached, or the welcome
 * status. */
static int udpd_hello_check(struct udpd *u, const struct session_hello *h, const int *fds,
			    struct region *reg)
{
	for (unsigned i = 1; i < 2u + h->n_slots; i++) {
		if (!udpd_is_eventfd(fds[i])) {
			u->stats.session_refused_fds++;
			return -EINVAL;
		}
	}
	int rc = region_attach(fds[0], reg);
	if (rc < 0) {
		u->stats.session_refused_region++;
		log_notice("session refused: region: %s", strerror(-rc));
		return rc == -EPERM || rc == -EPROTO ? rc : -EINVAL;
	}
	if (reg->n_slots != h->n_slots) {
		region_detach(reg);
		u->stats.session_refused_region++;
		return -EINVAL;
	}
	return 0;
}

static int udpd_session_new_rec(struct udpd *u, const struct session_hello *h, uid_t uid,
				unsigned *out)
{
	int ix = udpd_uid_get(u, (uint32_t)uid);
	if (ix < 0)
		return -ENFILE;
	if (u->uids[ix].sessions >= u->lim.uid_sessions) {
		/* EMFILE: this user's share is used up (the table itself may have room). */
		u->stats.session_refused_uid++;
		udpd_uid_release(u, (unsigned)ix);
		return -EMFILE;
	}
	unsigned si;
	for (si = 0; si < UDPD_SESSIONS_MAX; si++)
		if (u->sess[si].state == UDPD_SESS_FREE && !u->st->sessions[si].in_use)
			break;
	if (si == UDPD_SESSIONS_MAX) {
		u->stats.session_refused_full++;
		udpd_uid_release(u, (unsigned)ix);
		return -ENFILE;
	}
	uint64_t id = 0;
	uint8_t secret[SESSION_SECRET_LEN];
	for (;;) {
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id) ||
		    getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret)) {
			udpd_uid_release(u, (unsigned)ix);
			return -EAGAIN;
		}
		bool taken = id == 0;
		for (unsigned i = 0; i < UDPD_SESSIONS_MAX && !taken; i++)
			taken = u->st->sessions[i].in_use && u->st->sessions[i].id == id;
		if (!taken)
			break;
	}
	udpd_store_session_open(u->st, si, id, secret, (uint32_t)uid, h->n_slots);
	u->sess[si].uid_ix = (unsigned)ix;
	u->uids[ix].sessions++;
	*out = si;
	return 0;
}

static int udpd_session_resume_rec(struct udpd *u, const struct session_hello *h, uid_t uid,
				   unsigned *out)
{
	for (unsigned si = 0; si < UDPD_SESSIONS_MAX; si++) {
		const struct udpd_session_rec *rec = &u->st->sessions[si];
		if (!rec->in_use || rec->id != h->session)
			continue;
		if (rec->creator_uid != (uint32_t)uid ||
		    !udpd_secret_equal(rec->secret, h->secret, sizeof(h->secret))) {
			u->stats.session_refused_auth++;
			return -EPERM;
		}
		if (u->sess[si].state == UDPD_SESS_ATTACHED ||
		    u->sess[si].state == UDPD_SESS_CLOSING) {
			u->stats.session_refused_busy_resume++;
			return -EBUSY;
		}
		if (rec->n_slots != h->n_slots) {
			u->stats.session_refused_region++;
			return -EINVAL;
		}
		*out = si;
		return 0;
	}
	u->stats.session_refused_auth++;
	return -ENOENT;
}

/* A complete hello arrived on conn (which we own from here): act on it and answer. */
static void udpd_hello(struct udpd *u, int conn, const struct session_hello *h, int *fds,
		       unsigned n_fds, pid_t pid, uid_t uid)
{
	struct session_welcome w = {.magic = SESSION_MAGIC, .version = SESSION_VERSION};
	struct region reg;
	unsigned si = 0;
	bool created = false;
	int rc = udpd_hello_check(u, h, fds, &reg);
	if (rc == 0) {
		if (h->op == SESSION_NEW) {
			rc = udpd_session_new_rec(u, h, uid, &si);
			created = rc == 0;
		} else {
			rc = udpd_session_resume_rec(u, h, uid, &si);
		}
		if (rc < 0)
			region_detach(&reg);
	}
	if (rc < 0) {
		w.status = rc;
		session_server_send(conn, &w);
		close(conn);
		udpd_close_fds(fds, n_fds);
		log_notice("session %s from pid %ld uid %u refused: %s",
			   h->op == SESSION_NEW ? "open" : "resume", (long)pid, (unsigned)uid,
			   strerror(-rc));
		return;
	}

	struct udpd_session *s = &u->sess[si];
	const struct udpd_session_rec *rec = &u->st->sessions[si];
	close(fds[0]); /* the mapping stays */
	s->state = UDPD_SESS_ATTACHED;
	s->evgen = ++u->evgen_next;
	s->conn_fd = conn;
	s->doorbell_fd = fds[1];
	for (unsigned i = 0; i < REGION_SLOTS_MAX; i++)
		s->slot_fd[i] = i < h->n_slots ? fds[2 + i] : -1;
	s->region = reg;
	s->pid = pid;
	s->deadline = CLOCK_NEVER;
	s->wake_mask = 0;
	s->held_dirty = 0;
	s->tx_touched = false;
	s->tx_pending = true; /* records produced while we were away (resume) */
	/* Nothing waits from an earlier attachment (its repliers are gone): libsock re-sends
	 * what it had out, and it is answered anew. */
	memset(s->close_wait, 0, sizeof(s->close_wait));
	memset(s->req_wait, 0, sizeof(s->req_wait));
	/* No corked payload of this session exists in this process (a restart lost it, a new
	 * session has none): nothing is held outside the ring, and senders may look again. */
	for (unsigned i = 0; i < s->region.n_slots; i++)
		atomic_store_explicit(&region_slot(&s->region, i)->tx_held, 0, memory_order_release);
	ring_room_notify(&s->region.tx);
	rc = udpd_ep_add(u, conn, EPOLLIN | EPOLLRDHUP, udpd_tag_make(UDPD_TAG_CONN, si, s->evgen));
	if (rc == 0)
		rc = udpd_ep_add(u, s->doorbell_fd, EPOLLIN,
				 udpd_tag_make(UDPD_TAG_DOORBELL, si, s->evgen));
	w.session = rec->id;
	memcpy(w.secret, rec->secret, SESSION_SECRET_LEN);
	if (rc == 0)
		rc = session_server_send(conn, &w);
	if (rc < 0) {
		log_warn("session %u: %s: %s", si, created ? "open" : "resume", strerror(-rc));
		if (created) {
			udpd_session_end(u, si, "could not be set up");
		} else {
			udpd_session_release_local(u, s);
			s->state = UDPD_SESS_DETACHED;
			s->deadline = clock_now() + UDPD_RESUME_GRACE_NS;
		}
		return;
	}
	if (created) {
		u->stats.sessions_opened++;
		log_info("session %u opened: pid %ld uid %u, %u slots", si, (long)pid,
			 (unsigned)uid, h->n_slots);
	} else {
		u->stats.sessions_resumed++;
		log_info("session %u resumed: pid %ld uid %u", si, (long)pid, (unsigned)uid);
	}
}

static void udpd_handshake_free(struct udpd *u, struct udpd_handshake *hs)
{
	udpd_ep_del(u, hs->fd);
	hs->fd = -1;
	hs->evgen = ++u->evgen_next;
	struct udpd_uid *e = &u->uids[hs->uid_ix];
	if (e->handshakes)
		e->handshakes--;
	udpd_uid_release(u, hs->uid_ix);
}

/* Refuse a connection before its hello: a welcome saying -EAGAIN (as a full listen backlog
 * does: the client tries again), then close. Never blocks (the socket is non-blocking). */
static void udpd_refuse_early(int fd)
{
	struct session_welcome w = {.magic = SESSION_MAGIC, .version = SESSION_VERSION,
				    .status = -EAGAIN};
	session_server_send(fd, &w);
	close(fd);
}

/* Try to read the hello of handshake hi. */
static void udpd_handshake(struct udpd *u, unsigned hi)
{
	struct udpd_handshake *hs = &u->hs[hi];
	struct session_hello h;
	int fds[SESSION_FDS_MAX];
	unsigned n_fds = 0;
	pid_t pid = 0;
	uid_t uid = 0;
	int rc = session_server_recv(hs->fd, 0, &h, fds, &n_fds, &pid, &uid);
	if (rc == -ETIMEDOUT)
		return; /* not here yet */
	int conn = hs->fd;
	udpd_handshake_free(u, hs);
	if (rc < 0) {
		if (rc == -EBADMSG) {
			struct session_welcome w = {.magic = SESSION_MAGIC,
						    .version = SESSION_VERSION, .status = rc};
			session_server_send(conn, &w);
		}
		u->stats.session_refused_malformed++;
		close(conn);
		return;
	}
	udpd_hello(u, conn, &h, fds, n_fds, pid, uid);
}

static void udpd_accept(struct udpd *u, uint64_t now)
{
	for (unsigned n = 0; n < UDPD_HANDSHAKES_MAX; n++) {
		int fd = accept4(u->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN)
				return;
			u->stats.session_accept_errors++;
			if ((errno == EMFILE || errno == ENFILE) && u->spare_fd >= 0) {
				/* Shed the connection, or it stays queued and the loop spins. */
				close(u->spare_fd);
				fd = accept(u->listen_fd, NULL, NULL);
				if (fd >= 0)
					close(fd);
				u->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				log_warn("session socket: out of descriptors: connection refused");
				continue;
			}
			log_warn("session socket: accept: %s", strerror(errno));
			return;
		}
		unsigned hi;
		for (hi = 0; hi < UDPD_HANDSHAKES_MAX; hi++)
			if (u->hs[hi].fd < 0)
				break;
		if (hi == UDPD_HANDSHAKES_MAX) {
			u->stats.session_refused_busy++;
			udpd_refuse_early(fd);
			continue;
		}
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
			u->stats.session_accept_errors++;
			close(fd);
			continue;
		}
		int ix = udpd_uid_get(u, (uint32_t)cred.uid);
		if (ix < 0 || u->uids[ix].handshakes >= u->lim.uid_handshakes) {
			u->stats.session_refused_uid_busy++;
			if (ix >= 0)
				udpd_uid_release(u, (unsigned)ix);
			udpd_refuse_early(fd);
			continue;
		}
		struct udpd_handshake *hs = &u->hs[hi];
		hs->evgen = ++u->evgen_next;
		hs->deadline = now + UDPD_HANDSHAKE_NS;
		if (udpd_ep_add(u, fd, EPOLLIN | EPOLLRDHUP,
				udpd_tag_make(UDPD_TAG_HANDSHAKE, hi, hs->evgen)) < 0) {
			u->stats.session_accept_errors++;
			udpd_uid_release(u, (unsigned)ix);
			close(fd);
			continue;
		}
		hs->fd = fd;
		hs->uid_ix = (unsigned)ix;
		u->uids[ix].handshakes++;
		udpd_handshake(u, hi); /* the hello is usually there already */
	}
}

static void udpd_doorbell(struct udpd *u, struct udpd_session *s)
{
	uint64_t v;
	struct iovec iov = {.iov_base = &v, .iov_len = sizeof(v)};
	/* RWF_NOWAIT: never blocks, whatever the application did to the file's flags. */
	if (preadv2(s->doorbell_fd, &iov, 1, -1, RWF_NOWAIT) == (ssize_t)sizeof(v))
		u->stats.doorbell_reads++;
	s->tx_pending = true;
}

bool udpd_sessions_ready(void *arg, uint64_t now)
{
	struct udpd *u = arg;
	struct epoll_event ev[UDPD_EVENTS_BUDGET];
	int n = epoll_wait(u->epfd, ev, UDPD_EVENTS_BUDGET, 0);
	for (int i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;
		unsigned kind = (unsigned)(tag >> 56);
		uint32_t evgen = (uint32_t)(tag >> 32) & 0xffffffu;
		unsigned idx = (unsigned)(tag & 0xffffffffu);
		switch (kind) {
		case UDPD_TAG_LISTEN:
			udpd_accept(u, now);
			break;
		case UDPD_TAG_HANDSHAKE:
			if (idx < UDPD_HANDSHAKES_MAX && u->hs[idx].fd >= 0 &&
			    (u->hs[idx].evgen & 0xffffffu) == evgen)
				udpd_handshake(u, idx);
			break;
		case UDPD_TAG_CONN:
		case UDPD_TAG_DOORBELL: {
			if (idx >= UDPD_SESSIONS_MAX)
				break;
			struct udpd_session *s = &u->sess[idx];
			if (s->state != UDPD_SESS_ATTACHED || (s->evgen & 0xffffffu) != evgen)
				break;
			if (kind == UDPD_TAG_DOORBELL) {
				udpd_doorbell(u, s);
			} else if (ev[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
				udpd_session_leave(u, idx, "the application closed its session");
			} else {
				u->stats.sessions_closed_hostile++;
				udpd_session_end(u, idx, "data on the session socket after the hello");
			}
			break;
		}
		default:
			break;
		}
	}
	bool more = n == (int)UDPD_EVENTS_BUDGET;
	more |= udpd_tx_round(u);
	udpd_wake_flush(u);
	loop_arm_timer(u->loop, u->timer_id, udpd_sessions_next_deadline(u));
	return more;
}

uint64_t udpd_sessions_next_deadline(const struct udpd *u)
{
	uint64_t next = CLOCK_NEVER;
	for (unsigned i = 0; i < UDPD_HANDSHAKES_MAX; i++)
		if (u->hs[i].fd >= 0 && u->hs[i].deadline < next)
			next = u->hs[i].deadline;
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++)
		if (u->sess[i].state == UDPD_SESS_DETACHED && u->sess[i].deadline < next)
			next = u->sess[i].deadline;
	return next;
}

uint64_t udpd_sessions_timer(void *arg, uint64_t now)
{
	struct udpd *u = arg;
	for (unsigned i = 0; i < UDPD_HANDSHAKES_MAX; i++) {
		struct udpd_handshake *hs = &u->hs[i];
		if (hs->fd >= 0 && hs->deadline <= now) {
			int fd = hs->fd;
			udpd_handshake_free(u, hs);
			close(fd);
			u->stats.session_refused_timeout++;
		}
	}
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++) {
		if (u->sess[i].state == UDPD_SESS_DETACHED && u->sess[i].deadline <= now) {
			u->stats.sessions_expired++;
			udpd_session_end(u, i, "not resumed after the restart: its sockets are closed");
		}
	}
	return udpd_sessions_next_deadline(u);
}

void udpd_sessions_preinit(struct udpd *u)
{
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++) {
		struct udpd_session *s = &u->sess[i];
		s->conn_fd = s->doorbell_fd = -1;
		for (unsigned k = 0; k < REGION_SLOTS_MAX; k++)
			s->slot_fd[k] = -1;
		s->evgen = ++u->evgen_next;
	}
	for (unsigned i = 0; i < UDPD_HANDSHAKES_MAX; i++)
		u->hs[i].fd = -1;
	u->epfd = u->listen_fd = u->spare_fd = -1;
}

int udpd_sessions_open(struct udpd *u)
{
	u->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	u->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (u->epfd < 0)
		return -errno;

	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int rc = session_path(u->instance, UDPD_LAYER, sa.sun_path, sizeof(sa.sun_path));
	if (rc == 0)
		rc = ustack_runtime_dir_create(u->instance);
	if (rc < 0)
		return rc;
	unlink(sa.sun_path); /* a socket file left by a killed predecessor would make bind fail */
	u->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->listen_fd < 0)
		return -errno;
	if (bind(u->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    /* Any local user may open a session, as any may open a kernel socket: what keeps
	     * applications apart is the secret and the uid check, not the file mode. */
	    chmod(sa.sun_path, 0666) < 0 || listen(u->listen_fd, 64) < 0)
		return -errno;
	return udpd_ep_add(u, u->listen_fd, EPOLLIN, udpd_tag_make(UDPD_TAG_LISTEN, 0, 0));
}

void udpd_sessions_close(struct udpd *u)
{
	/* Leave the session records alone: the next udpd resumes them. */
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++) {
		struct udpd_session *s = &u->sess[i];
		if (s->state == UDPD_SESS_ATTACHED || s->state == UDPD_SESS_CLOSING)
			udpd_session_release_local(u, s);
		s->state = UDPD_SESS_FREE;
	}
	for (unsigned i = 0; i < UDPD_HANDSHAKES_MAX; i++) {
		if (u->hs[i].fd >= 0) {
			close(u->hs[i].fd);
			u->hs[i].fd = -1;
		}
	}
	if (u->listen_fd >= 0)
		close(u->listen_fd);
	if (u->epfd >= 0)
		close(u->epfd);
	if (u->spare_fd >= 0)
		close(u->spare_fd);
	u->listen_fd = u->epfd = u->spare_fd = -1;
}
