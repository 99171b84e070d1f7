/* udp_abuse: hostile applications against ustack-udpd, driven by test_udp_abuse.sh.
 *
 * docs/ARCHITECTURE.md (Security) makes every request and every byte of a client's region
 * untrusted, and promises that "a malformed request gets an error and, if it cannot be parsed, its
 * session is closed; the server never crashes on it" and that "one application can never reach
 * another's sockets or data". Each mode here plays the hostile application that libsock never is:
 * it speaks the wire formats by hand (a raw ZeroMQ DEALER, raw SEQPACKET hellos, rings written
 * byte by byte) and checks every answer udpd gives, and that udpd is still the same process
 * (its pid over ctl STATUS) after each group of cases. The instance is $USTACK_INSTANCE; the
 * kernel echo server (tests/lib/udp_peer.py echo-server) listens at PEER:PORT in the test
 * namespace.
 *
 *   udp_abuse requests ADDR PEER        malformed socket requests on udpd.sock: empty,
 *                                       truncated, random bytes, multi-frame, oversized,
 *                                       unknown ops, huge sids and slots, wrong session or
 *                                       secret, out-of-range ports and addresses, a
 *                                       structured fuzz inside a real session, pipelining
 *   udp_abuse zmtp                      bytes on udpd.sock that are not a ZeroMQ peer
 *   udp_abuse handover                  hostile hellos on udpd.session: descriptors missing,
 *                                       too many, of the wrong kind; regions unsealed, too
 *                                       small, or whose header lies; bad magic, version, op;
 *                                       RESUME of other sessions; a handshake flood. No fd or
 *                                       mapping left behind in udpd
 *   udp_abuse ring PEER PORT            hostile rings: bad records are skipped and counted,
 *                                       broken rings close exactly that session, a saturated
 *                                       blocking eventfd cannot stall udpd, lying latency
 *                                       stamps and statistics are refused and counted; a
 *                                       well-behaved session exchanges datagrams before and
 *                                       after
 *   udp_abuse isolation PEER PORT       application B (another process, of A's uid, then of
 *                                       nobody's) against A's socket: every request on A's
 *                                       sid fails, A's session id is useless without its
 *                                       secret, B never sees A's datagrams, A's socket keeps
 *                                       working; stale sids of ended sockets and sessions
 *   udp_abuse hog PEER PORT [N [MS]]    another uid (nobody, when run by root; N sessions x 64
 *                                       sockets, as many as its share gives) corks 65,500
 *                                       bytes on every socket and floods the largest
 *                                       datagrams; a bystander must keep getting what it got
 *                                       alone (MS: hold longer)
 *   udp_abuse drain PEER PORT [MIB]     a TX ring of MIB (512) MiB full of empty datagrams and
 *                                       a producer that never stops, against a CLOSE and the
 *                                       end of the session: bounded, and udpd answers STATUS
 *                                       within half a second throughout
 *   udp_abuse close-quiet PEER          a CLOSE behind 200,000 records and nothing else going
 *                                       on (no bystander): answered within a second
 *   udp_abuse hoard PEER PORT           another uid takes every handshake place, session and
 *                                       socket it can: it gets its shares, EMFILE beyond;
 *                                       ours still connects and exchanges datagrams
 *   udp_abuse hugetlb                   a sealed region on hugetlbfs whose page the
 *                                       application punches out and takes elsewhere: udpd
 *                                       must refuse the region or survive (needs 2 free huge
 *                                       pages, else it prints "skip:")
 *   udp_abuse client PEER PORT          the bystander: libsock, one datagram every 20 ms to
 *                                       the echo server until SIGTERM; every one answered
 *
 * Output: progress lines, "FAIL ..." lines on stderr for every check that did not hold, and
 * "expect-eq NAME N" / "expect-ge NAME N" lines: the shell compares udpd's counter NAME
 * before and after the mode (the delta must equal / reach N). Exit 0 only if every check held.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <grp.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <ustack/sock.h>

#include "probe.h"

#include "clock.h"
#include "ctl.h"
#include "hist.h"
#include "paths.h"
#include "region.h"
#include "ring.h"
#include "session.h"
#include "sock.pb-c.h"

#define ABUSE_LAYER "udpd"
#define ABUSE_REPLY_MS 1000   /* a request udpd answers is answered within this */
#define ABUSE_HANGUP_MS 1500  /* a session udpd ends is hung up within this */
#define STATUS_NONE INT_MIN   /* no reply at all */
#define UDPD_HANDSHAKES_GUESS 16 /* udpd's handshake places (checked against its STATS) */
#define OP(x) USTACK__SOCK_REQUEST__OP__##x

static const char *inst;
static void *zctx;
static pid_t udpd_pid0;

static const char *errname(int st)
{
	static char buf[64];
	if (st == STATUS_NONE)
		return "no reply";
	if (st == 0)
		return "0";
	switch (-st) {
	case EBADMSG: return "-EBADMSG";
	case EPERM: return "-EPERM";
	case EBADF: return "-EBADF";
	case EINVAL: return "-EINVAL";
	case EBUSY: return "-EBUSY";
	case ENOENT: return "-ENOENT";
	case EPROTO: return "-EPROTO";
	case EADDRINUSE: return "-EADDRINUSE";
	case EADDRNOTAVAIL: return "-EADDRNOTAVAIL";
	case ENETUNREACH: return "-ENETUNREACH";
	case ENOPROTOOPT: return "-ENOPROTOOPT";
	case ENOTCONN: return "-ENOTCONN";
	case EACCES: return "-EACCES";
	default: break;
	}
	snprintf(buf, sizeof(buf), "%d (%s)", st, strerror(st < 0 ? -st : st));
	return buf;
}

#define CHECK_ST(got, want, what)                                                          \
	do {                                                                               \
		int got_ = (got);                                                          \
		if (got_ != (want)) {                                                      \
			fprintf(stderr, "FAIL %s:%d: %s: expected %s, ", __FILE__, __LINE__, \
				(what), errname(want));                                    \
			fprintf(stderr, "got %s\n", errname(got_));                        \
			failures++;                                                        \
		}                                                                          \
	} while (0)

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
	poll(NULL, 0, ms);
}

/* xorshift64*: every run sends the same "random" bytes, so a failure replays. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}
static uint32_t rnd_below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}
static void rnd_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

static uint32_t ip_of(const char *s)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "bad address %s\n", s);
		exit(2);
	}
	return a.s_addr;
}

/* ---- udpd itself: pid over ctl STATUS, descriptors and mappings over /proc ---------------- */

static pid_t udpd_status_pid(void)
{
	Ustack__CtlReply *r = NULL;
	int rc = ctl_call(zctx, inst, ABUSE_LAYER, USTACK__CTL_REQUEST__TYPE__STATUS, 2000, &r);
	if (rc < 0)
		return rc;
	pid_t pid = r->status == 0 && r->state && strcmp(r->state, "serving") == 0
		? (pid_t)r->pid : -EPROTO;
	ustack__ctl_reply__free_unpacked(r, NULL);
	return pid;
}

/* A counter from udpd's STATS (ustackctl stats' udpd.NAME): its value, or -1. */
static long long udpd_stat(const char *name)
{
	Ustack__CtlReply *r = NULL;
	if (ctl_call(zctx, inst, ABUSE_LAYER, USTACK__CTL_REQUEST__TYPE__STATS, 2000, &r) < 0)
		return -1;
	long long v = -1;
	for (size_t i = 0; i < r->n_counters; i++)
		if (strcmp(r->counters[i]->name, name) == 0)
			v = (long long)r->counters[i]->value;
	ustack__ctl_reply__free_unpacked(r, NULL);
	return v;
}

/* The samples in udpd's latency histogram NAME (its STATS), or -1. */
static long long udpd_hist_count(const char *name)
{
	Ustack__CtlReply *r = NULL;
	if (ctl_call(zctx, inst, ABUSE_LAYER, USTACK__CTL_REQUEST__TYPE__STATS, 2000, &r) < 0)
		return -1;
	long long v = -1;
	for (size_t i = 0; i < r->n_hists; i++)
		if (strcmp(r->hists[i]->name, name) == 0) {
			v = 0;
			for (size_t k = 0; k < r->hists[i]->n_buckets; k++)
				v += (long long)r->hists[i]->buckets[k];
		}
	ustack__ctl_reply__free_unpacked(r, NULL);
	return v;
}

/* udpd answers ctl STATUS as "serving", and is the process it was when the mode started. */
static void check_serving(const char *after)
{
	pid_t pid = udpd_status_pid();
	CHECK(pid == udpd_pid0, "after %s: udpd STATUS pid %d, was %d (crashed or wedged?)", after,
	      (int)pid, (int)udpd_pid0);
	if (pid != udpd_pid0) {
		fprintf(stderr, "udpd is gone: giving up\n");
		exit(1);
	}
}

static int count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Mappings of memfds (every region udpd holds is one). */
static int count_memfd_maps(pid_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "/memfd:") != NULL;
	fclose(f);
	return n;
}

/* Wait (up to ms) until udpd's descriptor count is back to at most want: ZeroMQ and the
 * kernel close the server's side of a connection asynchronously. Returns the last count. */
static int fds_settle(pid_t pid, int want, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	int n;
	while ((n = count_fds(pid)) > want && now_ms() < end)
		sleep_ms(20);
	return n;
}

/* udpd's descriptor count once the connections of our own STATUS calls are gone: the same
 * count twice, 100 ms apart. */
static int fds_now(pid_t pid)
{
	int prev = count_fds(pid);
	for (unsigned i = 0; i < 20; i++) {
		sleep_ms(100);
		int n = count_fds(pid);
		if (n == prev)
			return n;
		prev = n;
	}
	return prev;
}

/* ---- raw requests ---------------------------------------------------------------------------- */

struct rep {
	int status;
	uint64_t id;
	uint32_t sid;
	uint32_t addr;
	uint32_t port;
	size_t optlen;
};

/* A DEALER on udpd's request socket that queues at most rcvhwm replies (0: no limit) with a
 * socket receive buffer of rcvbuf bytes (-1: the system's). */
static void *dealer_open(int rcvhwm, int rcvbuf)
{
	char path[256], ep[300];
	if (ustack_runtime_path(inst, ABUSE_LAYER ".sock", path, sizeof(path)) < 0)
		exit(2);
	snprintf(ep, sizeof(ep), "ipc://%s", path);
	void *d = zmq_socket(zctx, ZMQ_DEALER);
	int linger = 0, sndhwm = 0; /* the pipelined cases queue thousands */
	zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(d, ZMQ_SNDHWM, &sndhwm, sizeof(sndhwm));
	zmq_setsockopt(d, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm));
	zmq_setsockopt(d, ZMQ_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (!d || zmq_connect(d, ep) < 0) {
		fprintf(stderr, "dealer: %s\n", zmq_strerror(errno));
		exit(2);
	}
	return d;
}

static void *dealer_new(void)
{
	return dealer_open(0, -1);
}

/* Send n frames as one message. */
static void dealer_send(void *d, const void *const *frames, const size_t *lens, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int rc = zmq_send(d, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0);
		CHECK(rc >= 0, "zmq_send: %s", zmq_strerror(errno));
	}
}

/* Wait for one reply. 0 with *out filled, -ETIMEDOUT, or -EBADMSG (it did not parse). */
static int dealer_recv(void *d, int timeout_ms, struct rep *out)
{
	zmq_pollitem_t it = {.socket = d, .events = ZMQ_POLLIN};
	if (zmq_poll(&it, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	zmq_msg_t m;
	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, d, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&m);
		return -ETIMEDOUT;
	}
	int more = zmq_msg_more(&m);
	Ustack__SockReply *r = ustack__sock_reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
	zmq_msg_close(&m);
	CHECK(!more, "a reply of more than one frame");
	if (!r)
		return -EBADMSG;
	*out = (struct rep){.status = r->status, .id = r->id, .sid = r->sid, .addr = r->addr,
			    .port = r->port, .optlen = r->optval.len};
	ustack__sock_reply__free_unpacked(r, NULL);
	return 0;
}

/* One single-frame request: the reply's status, or STATUS_NONE. */
static int raw_call(void *d, const void *buf, size_t len, int timeout_ms, struct rep *out)
{
	struct rep tmp;
	const void *f[1] = {buf};
	size_t l[1] = {len};
	dealer_send(d, f, l, 1);
	if (!out)
		out = &tmp;
	int rc = dealer_recv(d, timeout_ms, out);
	CHECK(rc != -EBADMSG, "udpd's reply did not parse");
	return rc == 0 ? out->status : STATUS_NONE;
}

static size_t req_pack(const Ustack__SockRequest *q, uint8_t *buf, size_t cap)
{
	size_t len = ustack__sock_request__get_packed_size(q);
	if (len > cap) {
		fprintf(stderr, "request of %zu bytes does not fit %zu\n", len, cap);
		exit(2);
	}
	return ustack__sock_request__pack(q, buf);
}

/* ---- sessions made by hand (what libsock's sock_session.c does) ------------------------------ */

struct app {
	int conn;                 /* the SEQPACKET session connection; -1 once closed */
	int region_fd;
	int doorbell;
	int slot_fd[REGION_SLOTS_MAX];
	unsigned n_slots;
	struct region reg;        /* our client views */
	uint64_t session;
	uint8_t secret[SESSION_SECRET_LEN];
	void *dealer;
	uint64_t next_id;
};

static void app_zero(struct app *a)
{
	memset(a, 0, sizeof(*a));
	a->conn = a->region_fd = a->doorbell = -1;
	for (unsigned i = 0; i < REGION_SLOTS_MAX; i++)
		a->slot_fd[i] = -1;
}

/* Open a session with a fresh region. 0, or the welcome's status / a negative errno. */
static int app_open_op(struct app *a, unsigned n_slots, uint32_t tx_ring, uint32_t rx_ring,
		       enum session_op op, uint64_t session, const uint8_t *secret)
{
	app_zero(a);
	a->n_slots = n_slots;
	void *base = NULL;
	size_t size = 0;
	int rc = region_create_memfd(n_slots, tx_ring, rx_ring, &a->region_fd, &base, &size);
	if (rc < 0)
		return rc;
	rc = region_open_client(&base, size, &a->reg);
	if (rc < 0)
		return rc;
	a->doorbell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	for (unsigned i = 0; i < n_slots; i++)
		a->slot_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct session_hello h = {.magic = SESSION_MAGIC, .version = SESSION_VERSION, .op = op,
				  .n_slots = n_slots, .session = session};
	if (secret)
		memcpy(h.secret, secret, SESSION_SECRET_LEN);
	int fds[SESSION_FDS_MAX];
	fds[0] = a->region_fd;
	fds[1] = a->doorbell;
	for (unsigned i = 0; i < n_slots; i++)
		fds[2 + i] = a->slot_fd[i];
	struct session_welcome w;
	memset(&w, 0, sizeof(w));
	rc = session_client_open(inst, ABUSE_LAYER, &h, fds, 2 + n_slots, 2000, &a->conn, &w);
	if (rc < 0) {
		a->conn = -1;
		return rc;
	}
	a->session = w.session;
	memcpy(a->secret, w.secret, SESSION_SECRET_LEN);
	a->dealer = dealer_new();
	return 0;
}

static int app_open(struct app *a, unsigned n_slots, uint32_t tx_ring, uint32_t rx_ring)
{
	return app_open_op(a, n_slots, tx_ring, rx_ring, SESSION_NEW, 0, NULL);
}

static void app_must_open(struct app *a, unsigned n_slots, uint32_t tx_ring, uint32_t rx_ring)
{
	int rc = app_open(a, n_slots, tx_ring, rx_ring);
	if (rc < 0) {
		fprintf(stderr, "FAIL: a well-formed session was refused: %s\n", errname(rc));
		exit(1);
	}
}

static void app_close(struct app *a)
{
	if (a->conn >= 0)
		close(a->conn);
	if (a->region_fd >= 0)
		close(a->region_fd);
	if (a->doorbell >= 0)
		close(a->doorbell);
	for (unsigned i = 0; i < REGION_SLOTS_MAX; i++)
		if (a->slot_fd[i] >= 0)
			close(a->slot_fd[i]);
	region_detach(&a->reg);
	if (a->dealer)
		zmq_close(a->dealer);
	app_zero(a);
}

/* A request with explicit credentials. The status, or STATUS_NONE. */
static int app_call_as(struct app *a, Ustack__SockRequest *q, uint64_t session,
		       const uint8_t *secret, size_t secret_len, struct rep *out)
{
	uint8_t buf[2048];
	q->id = ++a->next_id;
	q->session = session;
	q->secret.data = (uint8_t *)secret;
	q->secret.len = secret_len;
	size_t len = req_pack(q, buf, sizeof(buf));
	struct rep tmp;
	if (!out)
		out = &tmp;
	int st = raw_call(a->dealer, buf, len, ABUSE_REPLY_MS, out);
	if (st != STATUS_NONE)
		CHECK(out->id == q->id, "reply id %" PRIu64 " to request %" PRIu64, out->id, q->id);
	return st;
}

static int app_call(struct app *a, Ustack__SockRequest *q, struct rep *out)
{
	return app_call_as(a, q, a->session, a->secret, SESSION_SECRET_LEN, out);
}

/* One request of op on sid with an address and port (host order), this app's credentials. */
static int app_op(struct app *a, int op, uint32_t sid, uint32_t addr, uint32_t port,
		  struct rep *out)
{
	Ustack__SockRequest q;
	ustack__sock_request__init(&q);
	q.op = op;
	q.sid = sid;
	q.addr = addr;
	q.port = port;
	return app_call(a, &q, out);
}

static int app_opt(struct app *a, int op, uint32_t sid, int level, int name, int val,
		   struct rep *out)
{
	Ustack__SockRequest q;
	ustack__sock_request__init(&q);
	q.op = op;
	q.sid = sid;
	q.level = level;
	q.optname = name;
	if (op == OP(SETOPT)) {
		q.optval.data = (uint8_t *)&val;
		q.optval.len = sizeof(val);
	}
	return app_call(a, &q, out);
}

static uint32_t app_socket(struct app *a, unsigned slot)
{
	Ustack__SockRequest q;
	ustack__sock_request__init(&q);
	q.op = OP(SOCKET);
	q.slot = slot;
	struct rep r;
	int st = app_call(a, &q, &r);
	CHECK(st == 0 && r.sid != 0, "SOCKET in slot %u: %s", slot, errname(st));
	return st == 0 ? r.sid : 0;
}

/* getsockname's port (host order), or 0. */
static uint16_t app_port(struct app *a, uint32_t sid)
{
	struct rep r;
	int st = app_op(a, OP(GETSOCKNAME), sid, 0, 0, &r);
	return st == 0 ? (uint16_t)r.port : 0;
}

static void app_doorbell(struct app *a)
{
	uint64_t one = 1;
	if (write(a->doorbell, &one, sizeof(one)) < 0) {
		/* saturated: udpd reads it anyway */
	}
}

/* One TX record: struct region_tx_dgram + payload, committed, doorbell rung. 0 or -errno.
 * t_sent: the record's stamp (region.h), APP_STAMP_NOW for the honest one libsock writes. */
#define APP_STAMP_NOW UINT64_MAX
static int app_send_stamped(struct app *a, uint32_t slot, uint32_t daddr, uint16_t dport,
			    const void *p, uint32_t len, uint32_t flags, bool ring_bell,
			    uint64_t t_sent)
{
	struct region_tx_dgram d = {.slot = slot, .flags = flags, .daddr = daddr,
				    .dport = htons(dport), .has_addr = daddr != 0};
	uint64_t end = now_ms() + 2000;
	for (;;) {
		uint32_t rlen = (uint32_t)sizeof(d) + len;
		uint8_t *body = ring_reserve(&a->reg.tx, REGION_REC_DGRAM, rlen);
		if (body) {
			d.t_sent = t_sent == APP_STAMP_NOW ? clock_now() : t_sent;
			memcpy(body, &d, sizeof(d));
			if (len)
				memcpy(body + sizeof(d), p, len);
			ring_commit(&a->reg.tx);
			break;
		}
		if (errno != ENOSPC || now_ms() > end)
			return -errno;
		app_doorbell(a);
		sleep_ms(1);
	}
	if (ring_bell)
		app_doorbell(a);
	return 0;
}

static int app_send_flags(struct app *a, uint32_t slot, uint32_t daddr, uint16_t dport,
			  const void *p, uint32_t len, uint32_t flags, bool ring_bell)
{
	return app_send_stamped(a, slot, daddr, dport, p, len, flags, ring_bell, APP_STAMP_NOW);
}

static int app_send(struct app *a, uint32_t slot, uint32_t daddr, uint16_t dport, const void *p,
		    uint32_t len)
{
	return app_send_flags(a, slot, daddr, dport, p, len, 0, true);
}

/* Next datagram of slot's RX ring within timeout_ms: its length (copied up to cap), or -ETIMEDOUT
 * / -EBADMSG. */
static int app_recv(struct app *a, unsigned slot, void *buf, size_t cap, int timeout_ms,
		    struct region_rx_dgram *hdr)
{
	struct ring *rx = &a->reg.rx[slot];
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		struct ring_rec rec;
		int rc = ring_peek(rx, &rec);
		if (rc == 0) {
			if (rec.type != REGION_REC_DGRAM ||
			    rec.len < sizeof(struct region_rx_dgram)) {
				ring_release(rx);
				return -EBADMSG;
			}
			struct region_rx_dgram h;
			memcpy(&h, rec.body, sizeof(h));
			uint32_t n = rec.len - (uint32_t)sizeof(h);
			memcpy(buf, (const uint8_t *)rec.body + sizeof(h), n < cap ? n : cap);
			ring_release(rx);
			if (hdr)
				*hdr = h;
			return (int)n;
		}
		if (rc != -EAGAIN)
			return rc;
		uint64_t now = now_ms();
		if (now >= end)
			return -ETIMEDOUT;
		struct pollfd p = {.fd = a->slot_fd[slot], .events = POLLIN};
		poll(&p, 1, (int)(end - now));
		uint64_t v;
		if (read(a->slot_fd[slot], &v, sizeof(v)) < 0) {
			/* nothing to clear */
		}
	}
}

/* A datagram of len bytes to the echo server and back, byte-exact. true if it came back. */
static bool app_echo(struct app *a, unsigned slot, uint32_t peer, uint16_t port, uint32_t len,
		     unsigned seed)
{
	static uint8_t out[65536], in[65536];
	for (uint32_t i = 0; i < len; i++)
		out[i] = (uint8_t)(i * 7u + seed);
	if (app_send(a, slot, peer, port, out, len) < 0)
		return false;
	uint64_t end = now_ms() + 2000;
	while (now_ms() < end) {
		struct region_rx_dgram h;
		int n = app_recv(a, slot, in, sizeof(in), 2000, &h);
		if (n < 0)
			return false;
		if ((uint32_t)n == len && memcmp(in, out, len) == 0 && h.saddr == peer &&
		    h.sport == htons(port))
			return true;
		/* a late echo of an earlier datagram: skip it */
	}
	return false;
}

/* Did udpd hang up the session connection within ms? (Any byte it sent would be a protocol
 * violation of its own: session.h says it sends nothing after the welcome.) */
static bool app_hung_up(struct app *a, int ms)
{
	struct pollfd p = {.fd = a->conn, .events = POLLIN | POLLRDHUP};
	if (poll(&p, 1, ms) <= 0)
		return false;
	if (p.revents & (POLLHUP | POLLRDHUP | POLLERR))
		return true;
	char c;
	return recv(a->conn, &c, 1, MSG_DONTWAIT) == 0;
}

static bool app_alive(struct app *a)
{
	return !app_hung_up(a, 0);
}

/* Wait until udpd consumed every TX record we published. */
static bool app_tx_drained(struct app *a, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	do {
		struct ring_shared *sh = a->reg.tx.shared;
		if (atomic_load(&sh->tail) == atomic_load(&sh->head))
			return true;
		sleep_ms(2);
	} while (now_ms() < end);
	return false;
}

/* ======================================================================================== */
/* requests                                                                                  */
/* ======================================================================================== */

/* What udpd must answer to these bytes from a client whose only real session is f (exact
 * where udpd's rules decide it from the bytes alone): -EBADMSG if they do not parse (its
 * comment: "nothing in a request is trusted beyond what protobuf-c validated"), -EPERM if
 * they name no session with its secret, else 1 (the request reaches the dispatcher). */
static int oracle(const uint8_t *buf, size_t len, const struct app *f)
{
	Ustack__SockRequest *q = ustack__sock_request__unpack(NULL, len, buf);
	if (!q)
		return -EBADMSG;
	bool ours = f && q->session == f->session && q->secret.len == SESSION_SECRET_LEN &&
		    memcmp(q->secret.data, f->secret, SESSION_SECRET_LEN) == 0;
	ustack__sock_request__free_unpacked(q, NULL);
	return ours ? 1 : -EPERM;
}

struct tally {
	unsigned sent, replied, ebadmsg, eperm_session, other;
	unsigned reply_drops; /* answers udpd could not queue (req_reply_drops) */
};

/* Send and compare with the oracle; returns the status. */
static int call_checked(void *d, const uint8_t *buf, size_t len, const struct app *f,
			struct tally *t, const char *what)
{
	int want = oracle(buf, len, f);
	int st = raw_call(d, buf, len, ABUSE_REPLY_MS, NULL);
	t->sent++;
	if (st == STATUS_NONE) {
		CHECK(0, "%s (%zu bytes): no reply", what, len);
		return st;
	}
	t->replied++;
	if (want < 0) {
		CHECK_ST(st, want, what);
		if (st == -EBADMSG)
			t->ebadmsg++;
		else if (st == -EPERM)
			t->eperm_session++;
	} else {
		/* Reached the dispatcher: 0 or a negative errno (-EPERM included: SO_*FORCE),
		 * never -EBADMSG (it parsed), never anything that is not an errno. */
		CHECK(st <= 0 && st > -4096 && st != -EBADMSG, "%s: status %d", what, st);
		t->other++;
	}
	return st;
}

/* Random bytes shaped like protobuf (right tags and wire types, random values and lengths,
 * sometimes a length that lies), so many of them parse and go on to the session check. */
static size_t rnd_protobuf(uint8_t *p, size_t cap)
{
	size_t n = 0;
	unsigned fields = 1 + rnd_below(12);
	for (unsigned i = 0; i < fields && n + 32 < cap; i++) {
		unsigned f = 1 + rnd_below(14);
		unsigned wt;
		switch (f) {
		case 2: wt = 1; break;
		case 7: wt = 5; break;
		case 3: case 11: case 13: wt = 2; break;
		default: wt = 0; break;
		}
		if (rnd_below(20) == 0)
			wt = rnd_below(8); /* the wrong wire type now and then */
		p[n++] = (uint8_t)(f << 3 | wt);
		switch (wt) {
		case 0: {
			uint64_t v = rnd() >> rnd_below(64);
			do {
				p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
				v >>= 7;
			} while (v);
			break;
		}
		case 1: rnd_fill(p + n, 8); n += 8; break;
		case 5: rnd_fill(p + n, 4); n += 4; break;
		case 2: {
			unsigned l = rnd_below(24);
			unsigned claim = rnd_below(10) == 0 ? l + 1 + rnd_below(200) : l;
			p[n++] = (uint8_t)(claim & 0x7f);
			rnd_fill(p + n, l);
			n += l;
			break;
		}
		default:
			rnd_fill(p + n, 3);
			n += 3;
			break;
		}
	}
	return n;
}

/* Raw bytes on the ipc socket udpd.sock. Returns whether the connection was closed within
 * ms. */
static bool raw_ipc(const uint8_t *bytes, size_t len, int ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (ustack_runtime_path(inst, ABUSE_LAYER ".sock", sa.sun_path, sizeof(sa.sun_path)) < 0)
		exit(2);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s", sa.sun_path,
	      strerror(errno));
	ssize_t w = send(s, bytes, len, MSG_NOSIGNAL);
	(void)w; /* the server may close before it all went */
	uint64_t end = now_ms() + (uint64_t)ms;
	bool closed = false;
	while (!closed && now_ms() < end) {
		struct pollfd p = {.fd = s, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		char buf[256];
		ssize_t n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
		closed = n == 0 || (n < 0 && errno != EAGAIN);
	}
	close(s);
	return closed;
}

/* Bytes that are not a ZeroMQ peer at all, on udpd.sock. ZeroMQ, not udpd, parses these: a
 * ZMTP 3 greeting with a mechanism nobody knows must be refused; random bytes (a first byte
 * other than 0xff reads as a ZMTP 1.0 peer, whose length-prefixed "messages" may even reach
 * udpd as malformed requests) must not hurt udpd, whatever ZeroMQ makes of them. */
static int mode_zmtp(void)
{
	int fd0 = fds_now(udpd_pid0);
	uint8_t junk[4096];
	static const uint8_t bad_mech[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0,
					     'X', 'X', 'X', 'X'};
	CHECK(raw_ipc(bad_mech, sizeof(bad_mech), 2000),
	      "a ZMTP 3 greeting with an unknown mechanism: connection not closed");
	check_serving("a ZMTP greeting with an unknown mechanism");
	unsigned closed = 0;
	for (unsigned i = 0; i < 8; i++) {
		rnd_fill(junk, sizeof(junk));
		if (i % 2)
			junk[0] = 0xff; /* a signature's first byte, then garbage */
		closed += raw_ipc(junk, sizeof(junk), 300);
		check_serving("random bytes on udpd.sock");
	}
	printf("zmtp: %u of 8 random-byte connections closed by ZeroMQ within 0.3 s\n", closed);
	struct app g;
	app_must_open(&g, 1, 4096, 4096);
	uint32_t sid = app_socket(&g, 0);
	CHECK_ST(app_op(&g, OP(GETSOCKNAME), sid, 0, 0, NULL), 0,
		 "a request after the raw bytes");
	app_close(&g);
	int fd1 = fds_settle(udpd_pid0, fd0, 3000);
	CHECK(fd1 <= fd0, "udpd descriptors: %d before, %d after (leak)", fd0, fd1);
	check_serving("the zmtp mode");
	return failures ? 1 : 0;
}

static int mode_requests(const char *addr_s, const char *peer_s)
{
	uint32_t our_addr = ip_of(addr_s), peer = ip_of(peer_s);
	int fd0 = fds_now(udpd_pid0);
	struct tally t = {0};
	uint8_t buf[70000];
	size_t len;

	/* The real session the requests can name: a socket in slot 0 of its two. */
	struct app f;
	app_must_open(&f, 2, 16384, 16384);
	uint32_t sid0 = app_socket(&f, 0);
	void *d = dealer_new();
	struct rep r;

	/* 1. Empty message: protobuf's empty encoding is a SockRequest of defaults, session 0. */
	CHECK_ST(call_checked(d, (const uint8_t *)"", 0, &f, &t, "empty message"), -EPERM,
		 "empty message");
	check_serving("an empty message");

	/* 2. Every truncation of a valid request of the real session (GETOPT SO_TYPE on sid0,
	 *    whose full form answers 0). Prefixes that still parse reach the dispatcher with
	 *    fields missing: SOCKET (op 0) on slot 0, which is taken: -EBUSY; or GETOPT with the
	 *    sid, level or name cut: -EBADF / -ENOPROTOOPT. */
	{
		Ustack__SockRequest q;
		ustack__sock_request__init(&q);
		q.id = 0x1122334455667788ull;
		q.session = f.session;
		q.secret.data = f.secret;
		q.secret.len = SESSION_SECRET_LEN;
		q.op = OP(GETOPT);
		q.sid = sid0;
		q.level = SOL_SOCKET;
		q.optname = SO_TYPE;
		len = req_pack(&q, buf, sizeof(buf));
		CHECK_ST(raw_call(d, buf, len, ABUSE_REPLY_MS, NULL), 0, "the full request");
		for (size_t cut = 0; cut < len; cut++) {
			char what[64];
			snprintf(what, sizeof(what), "truncated to %zu of %zu bytes", cut, len);
			int st = call_checked(d, buf, cut, &f, &t, what);
			if (oracle(buf, cut, &f) > 0)
				CHECK(st == -EBUSY || st == -EBADF || st == -ENOPROTOOPT,
				      "%s: %s", what, errname(st));
		}
	}
	check_serving("truncated requests");

	/* 3. Random bytes, then protobuf-shaped random bytes. */
	for (unsigned i = 0; i < 400; i++) {
		len = 1 + rnd_below(1024);
		rnd_fill(buf, len);
		call_checked(d, buf, len, &f, &t, "random bytes");
	}
	for (unsigned i = 0; i < 600; i++) {
		len = rnd_protobuf(buf, 1024);
		call_checked(d, buf, len, &f, &t, "protobuf-shaped random bytes");
	}
	check_serving("random bytes");

	/* 4. Multi-frame messages: udpd takes exactly [identity][request]; anything more is one
	 *    malformed request (-EBADMSG), the extra frames drained. */
	{
		Ustack__SockRequest q;
		ustack__sock_request__init(&q);
		q.session = f.session;
		q.secret.data = f.secret;
		q.secret.len = SESSION_SECRET_LEN;
		q.op = OP(GETSOCKNAME);
		q.sid = sid0;
		len = req_pack(&q, buf, sizeof(buf));
		static const uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
		const void *two[2] = {buf, junk};
		size_t two_l[2] = {len, sizeof(junk)};
		const void *lead[2] = {"", buf};
		size_t lead_l[2] = {0, len};
		const void *same[2] = {buf, buf};
		size_t same_l[2] = {len, len};
		const void *many[40];
		size_t many_l[40];
		for (unsigned i = 0; i < 40; i++) {
			many[i] = i % 2 ? (const void *)junk : (const void *)buf;
			many_l[i] = i % 2 ? sizeof(junk) : len;
		}
		struct {
			const void *const *f;
			const size_t *l;
			unsigned n;
			const char *what;
		} cases[] = {
			{two, two_l, 2, "[request][junk]"},
			{lead, lead_l, 2, "[empty][request]"},
			{same, same_l, 2, "[request][request]"},
			{many, many_l, 40, "40 frames"},
		};
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			dealer_send(d, cases[i].f, cases[i].l, cases[i].n);
			int rc = dealer_recv(d, ABUSE_REPLY_MS, &r);
			CHECK(rc == 0, "%s: no reply", cases[i].what);
			if (rc == 0)
				CHECK_ST(r.status, -EBADMSG, cases[i].what);
			t.sent++;
			t.replied += rc == 0;
			t.ebadmsg += rc == 0 && r.status == -EBADMSG;
			/* exactly one reply: the next request's answer is its own */
			CHECK_ST(app_op(&f, OP(GETSOCKNAME), sid0, 0, 0, NULL), 0,
				 "a request after a multi-frame message");
		}
	}
	check_serving("multi-frame messages");

	/* 5. Oversized: ZMQ_MAXMSGSIZE (1024) makes ZeroMQ drop the peer, no reply. A request of
	 *    exactly 1024 bytes is still served. */
	{
		static const size_t sizes[] = {1025, 4096, 65536};
		for (unsigned i = 0; i < 3; i++) {
			void *big = dealer_new();
			rnd_fill(buf, sizes[i]);
			int st = raw_call(big, buf, sizes[i], 500, NULL);
			CHECK(st == STATUS_NONE, "%zu-byte message: answered %s, expected a drop",
			      sizes[i], errname(st));
			zmq_close(big);
		}
		Ustack__SockRequest q;
		ustack__sock_request__init(&q);
		q.id = 77;
		q.session = f.session;
		q.secret.data = f.secret;
		q.secret.len = SESSION_SECRET_LEN;
		q.op = OP(SETOPT);
		q.sid = sid0;
		q.level = SOL_SOCKET;
		q.optname = SO_BROADCAST;
		static uint8_t val[1024];
		q.optval.data = val;
		q.optval.len = 1024 - 40;
		while (ustack__sock_request__get_packed_size(&q) > 1024)
			q.optval.len--;
		while (ustack__sock_request__get_packed_size(&q) < 1024)
			q.optval.len++;
		len = req_pack(&q, buf, sizeof(buf));
		CHECK(len == 1024, "could not build a 1024-byte request (%zu)", len);
		CHECK_ST(raw_call(d, buf, len, ABUSE_REPLY_MS, NULL), 0,
			 "SETOPT with a 1024-byte request (a long optval, as Linux accepts)");
	}
	check_serving("oversized messages");

	/* 6. Unknown ops: -EINVAL inside the session, -EPERM outside it. */
	{
		static const int ops[] = {50, 99, -1, INT_MAX, INT_MIN};
		for (unsigned i = 0; i < 5; i++) {
			Ustack__SockRequest q;
			ustack__sock_request__init(&q);
			q.op = ops[i];
			q.sid = sid0;
			char what[48];
			snprintf(what, sizeof(what), "unknown op %d", ops[i]);
			CHECK_ST(app_call(&f, &q, NULL), -EINVAL, what);
			CHECK_ST(app_call_as(&f, &q, f.session ^ 1, f.secret, SESSION_SECRET_LEN,
					     NULL), -EPERM, what);
			t.eperm_session++;
		}
	}

	/* 7. Sids and slots out of range. */
	{
		/* (none of them is sid0: a sid is index | generation << 16, generation >= 1) */
		static const uint32_t sids[] = {0, 0xffffffffu, 0xffffu, 1023, 1024, 0x3ff0000u};
		for (unsigned i = 0; i < 6; i++) {
			char what[48];
			snprintf(what, sizeof(what), "sid %#x", sids[i]);
			CHECK_ST(app_op(&f, OP(GETSOCKNAME), sids[i], 0, 0, NULL),
				 -EBADF, what);
			CHECK_ST(app_op(&f, OP(CLOSE), sids[i], 0, 0, NULL),
				 -EBADF, what);
			CHECK_ST(app_op(&f, OP(BIND), sids[i], 0, 5000, NULL),
				 -EBADF, what);
			CHECK_ST(app_opt(&f, OP(GETOPT), sids[i], SOL_SOCKET,
					 SO_ERROR, 0, NULL), -EBADF, what);
		}
		uint32_t stale = sid0 + 0x10000u; /* our slot, another generation */
		CHECK_ST(app_op(&f, OP(GETSOCKNAME), stale, 0, 0, NULL), -EBADF,
			 "our sid with another generation");
		static const uint32_t slots[] = {2, 63, 64, 65, 0xffffffffu, 0x80000000u};
		for (unsigned i = 0; i < 6; i++) {
			Ustack__SockRequest q;
			ustack__sock_request__init(&q);
			q.op = OP(SOCKET);
			q.slot = slots[i];
			char what[48];
			snprintf(what, sizeof(what), "SOCKET in slot %#x of 2", slots[i]);
			CHECK_ST(app_call(&f, &q, NULL), -EINVAL, what);
		}
		Ustack__SockRequest q;
		ustack__sock_request__init(&q);
		q.op = OP(SOCKET);
		q.slot = 0;
		CHECK_ST(app_call(&f, &q, NULL), -EBUSY, "SOCKET in slot 0, which holds a socket");
	}
	check_serving("sids and slots out of range");

	/* 8. Wrong session, wrong secret. */
	{
		uint8_t s2[1000];
		memcpy(s2, f.secret, SESSION_SECRET_LEN);
		s2[7] ^= 0x20;
		memset(s2 + SESSION_SECRET_LEN, 0x5a, sizeof(s2) - SESSION_SECRET_LEN);
		uint8_t s3[SESSION_SECRET_LEN + 1];
		memcpy(s3, f.secret, SESSION_SECRET_LEN);
		s3[SESSION_SECRET_LEN] = 0;
		struct {
			uint64_t session;
			const uint8_t *secret;
			size_t len;
			const char *what;
		} cases[] = {
			{f.session + 1, f.secret, SESSION_SECRET_LEN, "wrong session, its secret"},
			{0, NULL, 0, "session 0, no secret"},
			{~0ull, f.secret, SESSION_SECRET_LEN, "session ~0"},
			{f.session, s2, SESSION_SECRET_LEN, "right session, one secret bit wrong"},
			{f.session, f.secret, SESSION_SECRET_LEN - 1, "right session, 15 bytes"},
			{f.session, s3, SESSION_SECRET_LEN + 1, "right session, secret + 1 byte"},
			{f.session, NULL, 0, "right session, no secret"},
			{f.session, s2, sizeof(s2) - 100, "right session, 900-byte secret"},
		};
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			Ustack__SockRequest q;
			ustack__sock_request__init(&q);
			q.op = OP(GETSOCKNAME);
			q.sid = sid0;
			uint64_t sess = cases[i].session;
			const uint8_t *sec = cases[i].secret;
			CHECK_ST(app_call_as(&f, &q, sess, sec, cases[i].len, NULL), -EPERM,
				 cases[i].what);
			t.eperm_session++;
			q.op = OP(CLOSE);
			CHECK_ST(app_call_as(&f, &q, sess, sec, cases[i].len, NULL), -EPERM,
				 cases[i].what);
			t.eperm_session++;
		}
		CHECK_ST(app_op(&f, OP(GETSOCKNAME), sid0, 0, 0, NULL), 0,
			 "our socket after CLOSE attempts with wrong credentials");
	}
	check_serving("wrong sessions and secrets");

	/* 9. Ports and addresses out of range; option values too short; forbidden options. */
	{
		uint32_t s1 = app_socket(&f, 1);
		CHECK_ST(app_op(&f, OP(BIND), s1, 0, 65536, NULL), -EINVAL,
			 "BIND port 65536");
		CHECK_ST(app_op(&f, OP(BIND), s1, 0, 0xffffffffu, NULL),
			 -EINVAL, "BIND port 2^32-1");
		CHECK_ST(app_op(&f, OP(BIND), s1, ip_of("192.0.2.1"), 5000,
				NULL), -EADDRNOTAVAIL, "BIND to an address not ours");
		CHECK_ST(app_op(&f, OP(BIND), s1, ip_of("0.1.2.3"), 5000,
				NULL), -EADDRNOTAVAIL, "BIND to 0.1.2.3 (not ours, as in Linux)");
		CHECK_ST(app_op(&f, OP(CONNECT), s1, peer, 65536, NULL),
			 -EINVAL, "CONNECT port 65536");
		CHECK_ST(app_op(&f, OP(CONNECT), s1, peer, 0x80000000u, NULL),
			 -EINVAL, "CONNECT port 2^31");
		CHECK_ST(app_op(&f, OP(CONNECT), s1, ip_of("255.255.255.255"), 9,
				NULL), -EACCES, "CONNECT broadcast without SO_BROADCAST");
		/* Through the loopback interface, as Linux (the socket's source becomes
		 * 127.0.0.1: the NIC is out of its reach from then on, EINVAL). */
		CHECK_ST(app_op(&f, OP(CONNECT), s1, 0, 9, NULL), 0, "CONNECT 0.0.0.0");
		CHECK_ST(app_op(&f, OP(CONNECT), s1, ip_of("127.0.0.1"), 9,
				NULL), 0, "CONNECT 127.0.0.1");
		CHECK_ST(app_op(&f, OP(CONNECT), s1, our_addr, 9, NULL), 0,
			 "CONNECT our own address");
		CHECK_ST(app_op(&f, OP(CONNECT), s1, peer, 9, NULL), -EINVAL,
			 "CONNECT the peer from 127.0.0.1");
		Ustack__SockRequest q;
		ustack__sock_request__init(&q);
		q.op = OP(SETOPT);
		q.sid = s1;
		q.level = SOL_SOCKET;
		q.optname = SO_RCVBUF;
		CHECK_ST(app_call(&f, &q, NULL), -EINVAL, "SETOPT without a value");
		uint8_t one = 1;
		q.optval.data = &one;
		q.optval.len = 1;
		CHECK_ST(app_call(&f, &q, NULL), -EINVAL, "SETOPT with a 1-byte value");
		CHECK_ST(app_opt(&f, OP(SETOPT), s1, SOL_SOCKET, SO_RCVBUFFORCE,
				 1 << 30, NULL), -EPERM, "SO_RCVBUFFORCE (needs CAP_NET_ADMIN)");
		CHECK_ST(app_opt(&f, OP(SETOPT), s1, 999, 1, 1, NULL),
			 -ENOPROTOOPT, "SETOPT at level 999");
		CHECK_ST(app_opt(&f, OP(SETOPT), s1, SOL_SOCKET, SO_ERROR, 1,
				 NULL), -ENOPROTOOPT, "SETOPT SO_ERROR (read-only)");
		CHECK_ST(app_opt(&f, OP(SETOPT), s1, SOL_SOCKET, SO_RCVBUF,
				 INT_MIN, NULL), 0, "SO_RCVBUF INT_MIN (capped, as Linux)");
		/* GETOPT with a huge "optlen": the answer still carries an int. */
		static uint8_t big[900];
		ustack__sock_request__init(&q);
		q.op = OP(GETOPT);
		q.sid = s1;
		q.level = SOL_SOCKET;
		q.optname = SO_TYPE;
		q.optval.data = big;
		q.optval.len = sizeof(big);
		CHECK_ST(app_call(&f, &q, &r), 0, "GETOPT with a 900-byte optval");
		CHECK(r.optlen == sizeof(int), "GETOPT answered %zu bytes for an int", r.optlen);
		CHECK_ST(app_op(&f, OP(CLOSE), s1, 0, 0, NULL), 0, "CLOSE");
	}
	check_serving("out-of-range arguments");

	/* 10. Structured fuzz inside the real session: random ops with sids that are real, stale
	 *     or random, random slots, addresses, ports, levels, names and values. Whatever it
	 *     does stays inside this session; every answer must be 0 or a negative errno. */
	{
		static const uint32_t addrs_n = 6;
		uint32_t addrs[6] = {0, our_addr, peer, 0xffffffffu, ip_of("224.0.0.1"), 0};
		static const int names[] = {SO_REUSEADDR, SO_BROADCAST, SO_RCVBUF, SO_SNDBUF,
					    SO_ERROR, SO_TYPE, SO_RCVBUFFORCE, UDP_CORK, 9999};
		uint32_t sids[4] = {sid0, 0, 0, 0};
		for (unsigned i = 0; i < 1500; i++) {
			Ustack__SockRequest q;
			ustack__sock_request__init(&q);
			q.id = rnd_below(64); /* repeats: the reply record is exercised too */
			q.session = f.session;
			q.secret.data = f.secret;
			q.secret.len = SESSION_SECRET_LEN;
			q.op = rnd_below(12) < 10 ? (int)rnd_below(9) : (int)rnd();
			switch (rnd_below(4)) {
			case 0: q.sid = sids[rnd_below(4)]; break;
			case 1: q.sid = sids[rnd_below(4)] + 0x10000u; break;
			case 2: q.sid = rnd_below(1024) | (1u + rnd_below(3)) << 16; break;
			default: q.sid = (uint32_t)rnd(); break;
			}
			q.slot = rnd_below(4) ? rnd_below(3) : (uint32_t)rnd();
			addrs[5] = (uint32_t)rnd();
			q.addr = addrs[rnd_below(addrs_n)];
			q.port = rnd_below(3) ? rnd_below(65536) : (uint32_t)rnd();
			q.level = rnd_below(3) == 0 ? SOL_UDP
				  : rnd_below(8)    ? SOL_SOCKET
						    : (int)rnd();
			q.optname = names[rnd_below(sizeof(names) / sizeof(names[0]))];
			uint8_t val[16];
			rnd_fill(val, sizeof(val));
			q.optval.data = val;
			q.optval.len = rnd_below(9);
			len = req_pack(&q, buf, sizeof(buf));
			struct rep fr;
			int st = raw_call(d, buf, len, ABUSE_REPLY_MS, &fr);
			t.sent++;
			CHECK(st != STATUS_NONE, "fuzz request %u: no reply", i);
			if (st == STATUS_NONE)
				continue;
			t.replied++, t.other++;
			CHECK(st <= 0 && st > -4096 && st != -EBADMSG,
			      "fuzz request %u (op %d): status %d", i, q.op, st);
			if (st == 0 && q.op == OP(SOCKET) && fr.sid)
				sids[1 + rnd_below(3)] = fr.sid;
		}
		/* ...and random bytes after a real session and secret. */
		for (unsigned i = 0; i < 300; i++) {
			Ustack__SockRequest q;
			ustack__sock_request__init(&q);
			q.session = f.session;
			q.secret.data = f.secret;
			q.secret.len = SESSION_SECRET_LEN;
			len = req_pack(&q, buf, sizeof(buf));
			len += rnd_protobuf(buf + len, 900);
			call_checked(d, buf, len, &f, &t, "a real session, then random fields");
		}
	}
	check_serving("the structured fuzz");

	/* 11. Pipelined: 2000 malformed requests without reading, then every answer, in order. */
	{
		zmq_close(d);
		d = dealer_new();
		for (unsigned i = 0; i < 2000; i++) {
			const void *fr[1] = {"\xff\xff\xff"};
			size_t fl[1] = {3};
			dealer_send(d, fr, fl, 1);
		}
		unsigned got = 0, bad = 0;
		while (got < 2000 && dealer_recv(d, 2000, &r) == 0) {
			got++;
			bad += r.status != -EBADMSG;
		}
		/* udpd answers all; ZeroMQ holds XPORT_REPLY_QUEUE (1000) answers for a client that
		 * does not read, and what it cannot take udpd counts (req_reply_drops, below):
		 * how many of the rest fit depends on how fast its I/O thread drains them. */
		CHECK(got >= 1000 && bad == 0,
		      "2000 pipelined requests: %u answers, %u not -EBADMSG", got, bad);
		t.sent += 2000, t.replied += got, t.ebadmsg += got - bad;
		t.reply_drops += 2000 - got;
	}
	check_serving("2000 pipelined requests");

	/* 12. A client that sends and never reads: its answers fill what ZeroMQ holds for it
	 * (XPORT_REPLY_QUEUE) and the socket between, and udpd must count every one it could not
	 * queue (req_reply_drops) rather than lose it silently. The dealer takes one reply off its
	 * socket at most (RCVHWM 1, a small receive buffer), so far fewer than 60,000 fit; once
	 * udpd has taken every request (req_malformed), answers read + drops counted make 60,000. */
	{
		const unsigned n = 60000;
		zmq_close(d);
		d = dealer_open(1, 4096);
		long long m0 = udpd_stat("req_malformed"), d0 = udpd_stat("req_reply_drops");
		for (unsigned i = 0; i < n; i++) {
			const void *fr[1] = {"\xff\xff\xff"};
			size_t fl[1] = {3};
			dealer_send(d, fr, fl, 1);
		}
		long long m1 = m0;
		for (unsigned w = 0; w < 1500 && m1 >= 0 && m1 < m0 + n; w++) {
			usleep(20000);
			m1 = udpd_stat("req_malformed");
		}
		long long d1 = udpd_stat("req_reply_drops");
		unsigned got = 0, bad = 0;
		while (dealer_recv(d, 500, &r) == 0) {
			got++;
			bad += r.status != -EBADMSG;
		}
		CHECK(m0 >= 0 && m1 == m0 + n, "udpd took %lld of %u pipelined requests", m1 - m0, n);
		CHECK(d0 >= 0 && d1 > d0 && got + (unsigned long long)(d1 - d0) == n && bad == 0,
		      "%u requests never read from: %u answers (%u not -EBADMSG) + %lld counted drops",
		      n, got, bad, d1 - d0);
		t.sent += n, t.replied += got, t.ebadmsg += got - bad;
		t.reply_drops += (unsigned)(d1 - d0);
	}
	check_serving("a client that never reads");

	/* Still a working server for a brand-new application. */
	{
		struct app g;
		app_must_open(&g, 1, 16384, 16384);
		uint32_t s = app_socket(&g, 0);
		CHECK_ST(app_op(&g, OP(BIND), s, 0, 0, NULL), 0,
			 "BIND port 0 in a fresh session");
		CHECK(app_port(&g, s) >= 32768, "ephemeral port");
		app_close(&g);
	}

	zmq_close(d);
	app_close(&f);
	int fd1 = fds_settle(udpd_pid0, fd0, 3000);
	CHECK(fd1 <= fd0, "udpd descriptors: %d before, %d after (leak)", fd0, fd1);
	check_serving("the requests mode");
	printf("expect-eq udpd.req_reply_drops %u\n", t.reply_drops);
	printf("requests: %u sent, %u answered (%u -EBADMSG, %u -EPERM for the session, %u "
	       "reached the dispatcher); udpd descriptors %d -> %d\n",
	       t.sent, t.replied, t.ebadmsg, t.eperm_session, t.other, fd0, fd1);
	printf("expect-eq udpd.req_malformed %u\n", t.ebadmsg + t.reply_drops);
	printf("expect-eq udpd.req_eperm %u\n", t.eperm_session);
	return failures ? 1 : 0;
}

/* ======================================================================================== */
/* handover                                                                                  */
/* ======================================================================================== */

static int session_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (session_path(inst, ABUSE_LAYER, sa.sun_path, sizeof(sa.sun_path)) < 0)
		exit(2);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "connect %s: %s\n", sa.sun_path, strerror(errno));
		exit(1);
	}
	return s;
}

/* Send body with fds; read what comes back. Returns the welcome's status, or STATUS_NONE if
 * udpd closed without one. If the status is 0 the connection is left in *conn, else it is
 * checked to be closed by udpd and closed here. */
static int hello_raw(const void *body, size_t len, const int *fds, unsigned n_fds, int *conn,
		     struct session_welcome *wout)
{
	int s = session_connect();
	union {
		char buf[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr align;
	} cb;
	memset(&cb, 0, sizeof(cb));
	struct iovec iov = {.iov_base = (void *)body, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (n_fds) {
		m.msg_control = cb.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	CHECK(sendmsg(s, &m, MSG_NOSIGNAL) == (ssize_t)len, "sendmsg hello: %s", strerror(errno));
	struct pollfd p = {.fd = s, .events = POLLIN};
	int st = STATUS_NONE;
	if (poll(&p, 1, 2000) > 0) {
		struct session_welcome w;
		ssize_t n = recv(s, &w, sizeof(w), MSG_DONTWAIT);
		if (n == (ssize_t)sizeof(w)) {
			CHECK(w.magic == SESSION_MAGIC && w.version == SESSION_VERSION,
			      "welcome with magic %#x version %u", w.magic, w.version);
			st = w.status;
			if (wout)
				*wout = w;
		} else {
			CHECK(n == 0, "welcome of %zd bytes", n);
		}
	} else {
		CHECK(0, "no welcome and no hang-up within 2 s");
	}
	if (st == 0 && conn) {
		*conn = s;
		return 0;
	}
	if (st == 0)
		CHECK(0, "a hostile hello was accepted");
	/* refused: udpd must have closed its end */
	p = (struct pollfd){.fd = s, .events = POLLIN | POLLRDHUP};
	bool closed = poll(&p, 1, 1000) > 0 && (p.revents & (POLLHUP | POLLRDHUP));
	CHECK(closed, "udpd kept the connection of a refused hello");
	close(s);
	return st;
}

struct fdset {
	int fd[SESSION_FDS_MAX + 200];
	unsigned n;
};

static void fds_close(struct fdset *s)
{
	for (unsigned i = 0; i < s->n; i++)
		close(s->fd[i]);
	s->n = 0;
}

/* A region memfd, formatted and sealed as region_create_memfd makes it, its mapping in *map
 * (the caller may still write: sealing forbids resizing, not writing). */
static int region_fd_new(unsigned n_slots, void **map, size_t *size)
{
	int fd = -1;
	void *base = NULL;
	int rc = region_create_memfd(n_slots, 4096, 4096, &fd, &base, size);
	if (rc < 0) {
		fprintf(stderr, "region_create_memfd: %s\n", strerror(-rc));
		exit(2);
	}
	*map = base;
	return fd;
}

/* hello with a region fd, one eventfd doorbell and n_slots eventfd slots: status. */
static int hello_region(int region, unsigned hello_slots, struct fdset *keep)
{
	struct session_hello h = {.magic = SESSION_MAGIC, .version = SESSION_VERSION,
				  .op = SESSION_NEW, .n_slots = hello_slots};
	int fds[SESSION_FDS_MAX];
	fds[0] = region;
	for (unsigned i = 1; i < 2 + hello_slots; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		keep->fd[keep->n++] = fds[i];
	}
	int conn = -1;
	int st = hello_raw(&h, sizeof(h), fds, 2 + hello_slots, &conn, NULL);
	if (st == 0)
		close(conn);
	return st;
}

/* The ways a region's header (or a ring's indices in it) can lie, each one edit of a correct
 * region of one slot (16 KiB: header page, control page, TX data, RX data). */
enum lie_kind {
	LIE_MAGIC, LIE_VERSION, LIE_TOTAL, LIE_SLOTS0, LIE_SLOTS65, LIE_SLOTS2, LIE_OUTSIDE,
	LIE_STRADDLE, LIE_WRAP, LIE_OVERLAP, LIE_PARTIAL, LIE_CTL_HDR, LIE_CTL_SAME,
	LIE_CTL_IN_DATA, LIE_ALIGN, LIE_POW2, LIE_HUGE, LIE_RESERVED, LIE_RING_RESERVED,
	LIE_UNUSED, LIE_HEAD_UNALIGNED, LIE_HEAD_AHEAD, LIE_SLOTCTL_ON_RING, LIE_SLOTCTL_IN_DATA,
	LIE_SLOTCTL_OUTSIDE, LIE_RESERVED1, LIE_APPST_ON_SLOTCTL, LIE_APPST_IN_DATA,
	LIE_APPST_OUTSIDE, LIE_APPST_ALIGN, LIE_RESERVED2, LIE_COUNT
};

struct lie {
	enum lie_kind kind;
	int want;
	const char *what;
};

static const struct lie lies[LIE_COUNT] = {
	{LIE_MAGIC, -EPROTO, "header: magic"},
	{LIE_VERSION, -EPROTO, "header: version"},
	{LIE_TOTAL, -EINVAL, "header: total size"},
	{LIE_SLOTS0, -EINVAL, "header: n_slots 0"},
	{LIE_SLOTS65, -EINVAL, "header: n_slots 65"},
	{LIE_SLOTS2, -EINVAL, "header: n_slots 2, rx[1] empty"},
	{LIE_OUTSIDE, -EINVAL, "header: TX data at the end of the region"},
	{LIE_STRADDLE, -EINVAL, "header: RX data straddling the end"},
	{LIE_WRAP, -EINVAL, "header: an offset that wraps around 2^64"},
	{LIE_OVERLAP, -EINVAL, "header: RX data = TX data"},
	{LIE_PARTIAL, -EINVAL, "header: RX data overlapping TX data by half"},
	{LIE_CTL_HDR, -EINVAL, "header: RX control block on the header"},
	{LIE_CTL_SAME, -EINVAL, "header: two rings share a control block"},
	{LIE_CTL_IN_DATA, -EINVAL, "header: a control block inside a data area"},
	{LIE_ALIGN, -EINVAL, "header: control block not cache-line aligned"},
	{LIE_POW2, -EINVAL, "header: ring size not a power of two"},
	{LIE_HUGE, -EINVAL, "header: ring size 2 GiB"},
	{LIE_RESERVED, -EINVAL, "header: unknown kind"},
	{LIE_RING_RESERVED, -EINVAL, "header: ring's reserved field"},
	{LIE_UNUSED, -EINVAL, "header: an unused slot entry not zero"},
	/* ring_attach's -EBADMSG, which udpd answers as -EINVAL */
	{LIE_HEAD_UNALIGNED, -EINVAL, "ring: TX head not 8-aligned"},
	{LIE_HEAD_AHEAD, -EINVAL, "ring: RX head a megabyte past its tail"},
	{LIE_SLOTCTL_ON_RING, -EINVAL, "header: slot control blocks on a ring's control block"},
	{LIE_SLOTCTL_IN_DATA, -EINVAL, "header: slot control blocks inside TX data"},
	{LIE_SLOTCTL_OUTSIDE, -EINVAL, "header: slot control blocks past the end"},
	{LIE_RESERVED1, -EINVAL, "header: second reserved field"},
	{LIE_APPST_ON_SLOTCTL, -EINVAL, "header: statistics area over the slot control blocks"},
	{LIE_APPST_IN_DATA, -EINVAL, "header: statistics area reaching into TX data"},
	{LIE_APPST_OUTSIDE, -EINVAL, "header: statistics area past the end"},
	{LIE_APPST_ALIGN, -EINVAL, "header: statistics area not cache-line aligned"},
	{LIE_RESERVED2, -EINVAL, "header: third reserved field"},
};

/* Apply one lie to the header copy h of the region mapped at base (size bytes). */
static void lie_apply(enum lie_kind k, struct region_hdr *h, uint8_t *base, size_t size)
{
	struct ring_shared *tx = (struct ring_shared *)(void *)(base + h->tx.ctl_off);
	struct ring_shared *rx = (struct ring_shared *)(void *)(base + h->rx[0].ctl_off);
	switch (k) {
	case LIE_MAGIC: h->magic ^= 1; break;
	case LIE_VERSION: h->version = REGION_VERSION + 1; break;
	case LIE_TOTAL: h->total_size = size + 4096; break;
	case LIE_SLOTS0: h->n_slots = 0; break;
	case LIE_SLOTS65: h->n_slots = 65; break;
	case LIE_SLOTS2: h->n_slots = 2; break;
	case LIE_OUTSIDE: h->tx.data_off = size; break;
	case LIE_STRADDLE: h->rx[0].data_off = size - 2048; break; /* ends 2 KiB past the end */
	case LIE_WRAP: h->tx.data_off = 0xffffffffffffffc0ull; break; /* off + size wraps */
	case LIE_OVERLAP: h->rx[0].data_off = h->tx.data_off; break;
	case LIE_PARTIAL: h->rx[0].data_off = h->tx.data_off + 2048; break;
	case LIE_CTL_HDR: h->rx[0].ctl_off = 0; break;
	case LIE_CTL_SAME: h->rx[0].ctl_off = h->tx.ctl_off; break;
	case LIE_CTL_IN_DATA: h->tx.ctl_off = h->rx[0].data_off; break;
	case LIE_ALIGN: h->tx.ctl_off += 8; break;
	case LIE_POW2: h->tx.data_size = 3000; break;
	case LIE_HUGE: h->tx.data_size = 1u << 31; break;
	case LIE_RESERVED: h->kind = 7; break; /* no such kind */
	case LIE_RING_RESERVED: h->rx[0].reserved = 7; break;
	case LIE_UNUSED: h->rx[5].data_size = 4096; break;
	case LIE_HEAD_UNALIGNED: atomic_store(&tx->head, 12345); break;
	case LIE_HEAD_AHEAD: atomic_store(&rx->head, 1u << 20); break; /* > a ring from tail */
	case LIE_SLOTCTL_ON_RING: h->slot_ctl_off = h->rx[0].ctl_off; break;
	case LIE_SLOTCTL_IN_DATA: h->slot_ctl_off = h->tx.data_off + 64; break;
	case LIE_SLOTCTL_OUTSIDE: h->slot_ctl_off = size; break;
	case LIE_RESERVED1: h->reserved1 = 1; break;
	case LIE_APPST_ON_SLOTCTL: h->app_stats_off = h->slot_ctl_off; break;
	case LIE_APPST_IN_DATA: h->app_stats_off = h->tx.data_off - 64; break;
	case LIE_APPST_OUTSIDE: h->app_stats_off = size - 64; break;
	case LIE_APPST_ALIGN: h->app_stats_off += 8; break;
	case LIE_RESERVED2: h->reserved2 = 1; break;
	default: break;
	}
}

static int mode_handover(void)
{
	int fd0 = fds_now(udpd_pid0), maps0 = count_memfd_maps(udpd_pid0);
	unsigned n_malformed = 0, n_region = 0, n_fds = 0, n_auth = 0, n_busy_resume = 0;
	struct fdset keep = {.n = 0};
	struct session_hello good = {.magic = SESSION_MAGIC, .version = SESSION_VERSION,
				     .op = SESSION_NEW, .n_slots = 1};
	void *map;
	size_t size;

	/* A handshake flood first would hold every handshake place; it comes last. But one
	 * connection that never says anything can wait for its timeout meanwhile. */
	int silent = session_connect();
	uint64_t silent_t0 = now_ms();

	/* 1. Malformed hellos: -EBADMSG (session_server_recv). */
	{
		int region = region_fd_new(1, &map, &size);
		int ev = eventfd(0, EFD_CLOEXEC);
		int three[3] = {region, ev, ev};
		int many[253];
		for (unsigned i = 0; i < 253; i++)
			many[i] = ev;
		struct session_hello h;
		struct {
			const char *what;
			int field; /* 0 none, 1 magic, 2 version, 3 op, 4 n_slots */
			uint32_t value;
			size_t len;
			const int *fds;
			unsigned n;
		} cases[] = {
			{"no descriptors", 0, 0, sizeof(h), NULL, 0},
			{"two descriptors for one slot", 0, 0, sizeof(h), three, 2},
			{"four descriptors for one slot", 0, 0, sizeof(h), many, 4},
			{"253 descriptors (SCM_MAX_FD)", 0, 0, sizeof(h), many, 253},
			{"39-byte hello", 0, 0, sizeof(h) - 1, three, 3},
			{"41-byte hello", 0, 0, sizeof(h) + 1, three, 3},
			{"0-byte message with descriptors", 0, 0, 0, three, 3},
			{"1-byte hello, no descriptors", 0, 0, 1, NULL, 0},
			{"garbage magic", 1, 0xdeadbeefu, sizeof(h), three, 3},
			{"version 2", 2, 2, sizeof(h), three, 3},
			{"version 0", 2, 0, sizeof(h), three, 3},
			{"op 0", 3, 0, sizeof(h), three, 3},
			{"op 3", 3, 3, sizeof(h), three, 3},
			{"op 2^32-1", 3, 0xffffffffu, sizeof(h), three, 3},
			{"n_slots 65 (67 descriptors)", 4, 65, sizeof(h), many, 67},
			{"n_slots 2^32-1", 4, 0xffffffffu, sizeof(h), three, 3},
			{"n_slots 2^32-2 (2 + n wraps to 0)", 4, 0xfffffffeu, sizeof(h), NULL, 0},
		};
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			uint8_t body[64] = {0};
			h = good;
			if (cases[i].field == 1)
				h.magic = cases[i].value;
			if (cases[i].field == 2)
				h.version = cases[i].value;
			if (cases[i].field == 3)
				h.op = cases[i].value;
			if (cases[i].field == 4)
				h.n_slots = cases[i].value;
			memcpy(body, &h, sizeof(h));
			int st = hello_raw(body, cases[i].len, cases[i].fds, cases[i].n, NULL,
					   NULL);
			if (cases[i].len == 0 && st == STATUS_NONE) {
				/* a 0-byte SEQPACKET message may read as a hang-up: closed, no
				 * welcome, is an acceptable refusal there */
				n_malformed++;
				continue;
			}
			CHECK_ST(st, -EBADMSG, cases[i].what);
			n_malformed++;
		}
		close(ev);
		munmap(map, size);
		close(region);
	}
	check_serving("malformed hellos");

	/* 2. Regions that are not a sealed memfd: -EPERM (region_attach checks seals first). */
	{
		int pfd[2];
		CHECK(pipe2(pfd, O_CLOEXEC) == 0, "pipe");
		int sp[2];
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0, "socketpair");
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		int ev = eventfd(0, EFD_CLOEXEC);
		char tmpl[] = "/tmp/udp-abuse-XXXXXX";
		int file = mkostemp(tmpl, O_CLOEXEC);
		unlink(tmpl);
		CHECK(file >= 0 && ftruncate(file, 1 << 20) == 0, "temporary file");
		/* Unsealed memfds carrying a perfect region. */
		size_t need = region_size_for(1, 4096, 4096);
		int unsealed = memfd_create("abuse-unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		int nosealing = memfd_create("abuse-nosealing", MFD_CLOEXEC);
		int shrink_only = memfd_create("abuse-shrink", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		int write_sealed = memfd_create("abuse-write", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		int future_write = memfd_create("abuse-fwrite", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		int mfds[5] = {unsealed, nosealing, shrink_only, write_sealed, future_write};
		for (unsigned i = 0; i < 5; i++) {
			CHECK(ftruncate(mfds[i], (off_t)need) == 0, "ftruncate memfd");
			void *p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_SHARED, mfds[i], 0);
			CHECK(p != MAP_FAILED && region_format(p, need, 1, 4096, 4096) == 0,
			      "format memfd");
			munmap(p, need);
		}
		CHECK(fcntl(shrink_only, F_ADD_SEALS, F_SEAL_SHRINK) == 0, "F_SEAL_SHRINK");
		CHECK(fcntl(write_sealed, F_ADD_SEALS,
			    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == 0, "F_SEAL_WRITE");
#ifdef F_SEAL_FUTURE_WRITE
		CHECK(fcntl(future_write, F_ADD_SEALS,
			    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE) == 0,
		      "F_SEAL_FUTURE_WRITE");
#endif
		struct {
			const char *what;
			int fd;
		} cases[] = {
			{"a pipe as the region", pfd[0]},
			{"a socket as the region", sp[0]},
			{"/dev/null as the region", devnull},
			{"an eventfd as the region", ev},
			{"a regular file as the region", file},
			{"an unsealed memfd (sealing allowed)", unsealed},
			{"a memfd without MFD_ALLOW_SEALING", nosealing},
			{"a memfd sealed against shrinking only", shrink_only},
			{"a write-sealed memfd (udpd cannot map it writable)", write_sealed},
#ifdef F_SEAL_FUTURE_WRITE
			{"a future-write-sealed memfd", future_write},
#endif
		};
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			CHECK_ST(hello_region(cases[i].fd, 1, &keep), -EPERM, cases[i].what);
			n_region++;
		}
		int all[] = {pfd[0], pfd[1], sp[0], sp[1], devnull, ev, file, unsealed, nosealing,
			     shrink_only, write_sealed, future_write};
		for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			close(all[i]);
	}
	check_serving("regions that are not sealed memfds");

	/* 3. Sealed memfds whose header lies: -EPROTO (magic, version) or -EINVAL. */
	{
		for (unsigned i = 0; i < LIE_COUNT; i++) {
			int region = region_fd_new(1, &map, &size);
			struct region_hdr h;
			memcpy(&h, map, sizeof(h));
			lie_apply(lies[i].kind, &h, map, size);
			memcpy(map, &h, sizeof(h));
			CHECK_ST(hello_region(region, 1, &keep), lies[i].want, lies[i].what);
			n_region++;
			munmap(map, size);
			close(region);
		}
		/* A region of one slot announced as two (with the descriptors for two). */
		int region = region_fd_new(1, &map, &size);
		CHECK_ST(hello_region(region, 2, &keep), -EINVAL, "hello n_slots 2, region of 1");
		n_region++;
		munmap(map, size);
		close(region);
		/* Sizes: 100 bytes, 0 bytes, 2 GiB (sparse), all sealed. */
		static const off_t sizes[] = {100, 0, (off_t)1 << 31};
		for (unsigned i = 0; i < 3; i++) {
			int m = memfd_create("abuse-size", MFD_CLOEXEC | MFD_ALLOW_SEALING);
			CHECK(ftruncate(m, sizes[i]) == 0, "ftruncate");
			CHECK(fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0, "seal");
			char what[64];
			snprintf(what, sizeof(what), "a sealed memfd of %lld bytes",
				 (long long)sizes[i]);
			CHECK_ST(hello_region(m, 1, &keep), -EINVAL, what);
			n_region++;
			close(m);
		}
	}
	fds_close(&keep);
	check_serving("regions whose header lies");

	/* 4. Doorbell or slot descriptors that are not eventfds: -EINVAL. */
	{
		int pfd[2];
		CHECK(pipe2(pfd, O_CLOEXEC) == 0, "pipe");
		int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
		int efd = epoll_create1(EPOLL_CLOEXEC);
		int ev = eventfd(0, EFD_CLOEXEC);
		int region = region_fd_new(2, &map, &size);
		struct {
			const char *what;
			int fds[4];
		} cases[] = {
			{"a pipe as the doorbell", {region, pfd[0], ev, ev}},
			{"a pipe's write end as a slot", {region, ev, ev, pfd[1]}},
			{"a timerfd as a slot", {region, ev, tfd, ev}},
			{"an epoll fd as the doorbell", {region, efd, ev, ev}},
			{"the region memfd as a slot", {region, ev, ev, region}},
		};
		struct session_hello h = good;
		h.n_slots = 2;
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			CHECK_ST(hello_raw(&h, sizeof(h), cases[i].fds, 4, NULL, NULL), -EINVAL,
				 cases[i].what);
			n_fds++;
		}
		munmap(map, size);
		int all[] = {pfd[0], pfd[1], tfd, efd, ev, region};
		for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			close(all[i]);
	}
	check_serving("descriptors that are not eventfds");

	/* 5. RESUME: of nothing, of a live session with a wrong secret, of a live session with its
	 *    own secret (a thief who learned it cannot take a live session over). */
	{
		struct app a;
		app_must_open(&a, 1, 4096, 4096);
		uint32_t sid = app_socket(&a, 0);
		struct app t;
		uint8_t wrong[SESSION_SECRET_LEN];
		memcpy(wrong, a.secret, sizeof(wrong));
		wrong[0] ^= 1;
		CHECK_ST(app_open_op(&t, 1, 4096, 4096, SESSION_RESUME, a.session ^ 0x5555,
				     a.secret), -ENOENT, "RESUME of an unknown session");
		app_close(&t);
		n_auth++;
		CHECK_ST(app_open_op(&t, 1, 4096, 4096, SESSION_RESUME, 0, NULL), -ENOENT,
			 "RESUME of session 0");
		app_close(&t);
		n_auth++;
		CHECK_ST(app_open_op(&t, 1, 4096, 4096, SESSION_RESUME, a.session, wrong), -EPERM,
			 "RESUME of a live session, wrong secret");
		app_close(&t);
		n_auth++;
		CHECK_ST(app_open_op(&t, 1, 4096, 4096, SESSION_RESUME, a.session, a.secret),
			 -EBUSY, "RESUME of a live session with its secret");
		app_close(&t);
		n_busy_resume++;
		CHECK(app_alive(&a), "the live session was hung up by a RESUME attempt");
		CHECK_ST(app_op(&a, OP(GETSOCKNAME), sid, 0, 0, NULL), 0,
			 "the live session's socket after the RESUME attempts");
		app_close(&a);
	}
	check_serving("RESUME attempts");

	/* 6. Data on the session connection after the welcome: the session ends. */
	unsigned n_hostile = 0;
	{
		struct app a;
		app_must_open(&a, 1, 4096, 4096);
		app_socket(&a, 0);
		CHECK(send(a.conn, "boo", 3, MSG_NOSIGNAL) == 3, "send on the session connection");
		CHECK(app_hung_up(&a, ABUSE_HANGUP_MS),
		      "data on the session connection: session not ended");
		n_hostile++;
		CHECK_ST(app_op(&a, OP(GETSOCKNAME), 0, 0, 0, NULL), -EPERM,
			 "requests of the ended session");
		app_close(&a);
	}
	/* And a connection closed before its hello. */
	close(session_connect());
	n_malformed++; /* ECONNRESET: counted as a malformed hello */
	check_serving("data after the hello");

	/* 7. The silent connection from the start: closed by udpd after its handshake timeout
	 *    (UDPD_HANDSHAKE_NS, 1 s). */
	{
		struct pollfd p = {.fd = silent, .events = POLLIN | POLLRDHUP};
		uint64_t waited = now_ms() - silent_t0;
		int left = waited > 2500 ? 0 : (int)(2500 - waited);
		bool closed = poll(&p, 1, left) > 0 && (p.revents & (POLLHUP | POLLRDHUP));
		CHECK(closed, "a connection without a hello is still open after 2.5 s");
		close(silent);
	}

	/* 8. A handshake flood: 24 connections of one uid that say nothing. udpd waits for at
	 *    most its share of the 16 places (hoard mode: another uid still gets in); the rest
	 *    are refused at once; all are closed within the timeout, and a proper session works
	 *    afterwards. */
	{
		long long share = udpd_stat("limit_uid_handshakes");
		int flood[24];
		for (unsigned i = 0; i < 24; i++)
			flood[i] = session_connect();
		sleep_ms(300);
		unsigned early = 0;
		for (unsigned i = 0; i < 24; i++) {
			struct pollfd p = {.fd = flood[i], .events = POLLIN | POLLRDHUP};
			early += poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP));
		}
		CHECK(early == 24 - share,
		      "flood: %u of 24 silent connections refused at once (expected %lld)", early,
		      24 - share);
		unsigned late = 0;
		uint64_t end = now_ms() + 2500;
		for (unsigned i = 0; i < 24; i++) {
			struct pollfd p = {.fd = flood[i], .events = POLLIN | POLLRDHUP};
			uint64_t now = now_ms();
			int left = now >= end ? 0 : (int)(end - now);
			late += poll(&p, 1, left) > 0 && (p.revents & (POLLHUP | POLLRDHUP));
			close(flood[i]);
		}
		CHECK(late == 24, "flood: %u of 24 silent connections closed within 2.5 s", late);
		struct app a;
		app_must_open(&a, 1, 4096, 4096);
		app_socket(&a, 0);
		app_close(&a);
		/* those closed at once were refused for want of a place of their uid; the others,
		 * and the silent one, timed out */
		printf("expect-eq udpd.session_refused_uid_busy %u\n", early);
		printf("expect-eq udpd.session_refused_busy 0\n");
		printf("expect-ge udpd.session_refused_timeout %u\n",
		       late == 24 ? 1u + 24u - early : 1u);
	}
	check_serving("a handshake flood");

	/* Nothing left behind in udpd: descriptors and region mappings as before. */
	int fd1 = fds_settle(udpd_pid0, fd0, 3000);
	int maps1 = count_memfd_maps(udpd_pid0);
	CHECK(fd1 <= fd0, "udpd descriptors: %d before, %d after (leak)", fd0, fd1);
	CHECK(maps1 == maps0, "udpd memfd mappings: %d before, %d after (leak)", maps0, maps1);
	printf("handover: %u malformed, %u bad regions, %u bad descriptors, %u RESUME refused; "
	       "udpd descriptors %d -> %d, memfd mappings %d -> %d\n",
	       n_malformed, n_region, n_fds, n_auth + n_busy_resume, fd0, fd1, maps0, maps1);
	printf("expect-eq udpd.session_refused_malformed %u\n", n_malformed);
	printf("expect-eq udpd.session_refused_region %u\n", n_region);
	printf("expect-eq udpd.session_refused_fds %u\n", n_fds);
	printf("expect-eq udpd.session_refused_auth %u\n", n_auth);
	printf("expect-eq udpd.session_refused_busy_resume %u\n", n_busy_resume);
	printf("expect-eq udpd.sessions_closed_hostile %u\n", n_hostile);
	return failures ? 1 : 0;
}

/* ======================================================================================== */
/* ring                                                                                      */
/* ======================================================================================== */

static void tx_put_hdr(struct app *a, uint64_t at, uint32_t len, uint16_t type, uint16_t flags)
{
	struct ring_rec_hdr h = {.len = len, .type = type, .flags = flags};
	memcpy(a->reg.tx.data + (at & a->reg.tx.mask), &h, sizeof(h));
}

static void tx_set_head(struct app *a, uint64_t head)
{
	atomic_store(&a->reg.tx.shared->head, head);
}

struct hostile {
	const char *what;
	void (*act)(struct app *a, uint32_t peer, uint16_t port);
};

static void h_head_ahead(struct app *a, uint32_t p, uint16_t port)
{
	(void)p, (void)port;
	tx_set_head(a, (uint64_t)a->reg.tx.size * 8);
}
static void h_head_unaligned(struct app *a, uint32_t p, uint16_t port)
{
	(void)p, (void)port;
	tx_put_hdr(a, 0, 16, REGION_REC_DGRAM, 0);
	tx_set_head(a, 4);
}
static void h_len_huge(struct app *a, uint32_t p, uint16_t port)
{
	(void)p, (void)port;
	tx_put_hdr(a, 0, 0x7fffffffu, REGION_REC_DGRAM, 0);
	tx_set_head(a, 16);
}
static void h_len_past_head(struct app *a, uint32_t p, uint16_t port)
{
	(void)p, (void)port;
	tx_put_hdr(a, 0, 100, REGION_REC_DGRAM, 0); /* 108 bytes claimed, 16 published */
	tx_set_head(a, 16);
}
static void h_type0(struct app *a, uint32_t p, uint16_t port)
{
	(void)p, (void)port;
	tx_put_hdr(a, 0, 16, 0, 0);
	tx_set_head(a, 24);
}
static void h_pad_middle(struct app *a, uint32_t p, uint16_t port)
{
	(void)p, (void)port;
	tx_put_hdr(a, 0, 8, RING_TYPE_PAD, 0); /* a PAD that does not reach the end */
	tx_put_hdr(a, 16, 16, REGION_REC_DGRAM, 0);
	tx_set_head(a, 40);
}
static void h_head_back(struct app *a, uint32_t peer, uint16_t port)
{
	/* One honest datagram, consumed; then the head moves backwards. */
	CHECK(app_send(a, 0, peer, port, "x", 1) == 0, "send");
	CHECK(app_tx_drained(a, 1000), "honest record not consumed");
	tx_set_head(a, 0);
}
static void h_rx_tail(struct app *a, uint32_t peer, uint16_t port)
{
	/* RX ring of 4 KiB: its tail set past anything udpd published. udpd finds out when it
	 * next needs the consumer's tail, i.e. once its cached view of the ring is full. */
	atomic_store(&a->reg.rx[0].shared->tail, 1u << 20);
	static uint8_t p[1000];
	for (unsigned i = 0; i < 8 && !app_hung_up(a, 0); i++) {
		app_send(a, 0, peer, port, p, sizeof(p));
		sleep_ms(30);
	}
}

static atomic_bool chaos_stop;
static void *chaos_thread(void *arg)
{
	struct app *a = arg;
	uint64_t s = 0x1234567ull;
	while (!atomic_load(&chaos_stop)) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t off = (uint32_t)(s >> 33) & (a->reg.tx.mask & ~7u);
		uint64_t v = s ^ (s << 17);
		memcpy(a->reg.tx.data + off, &v, sizeof(v));
		if ((s >> 20) % 64 == 0)
			atomic_store(&a->reg.tx.shared->head, (s >> 11) & ~7ull & 0xffffff);
		if ((s >> 26) % 128 == 0)
			atomic_store(&a->reg.rx[0].shared->tail, s >> 3);
	}
	return NULL;
}
static void h_chaos(struct app *a, uint32_t peer, uint16_t port)
{
	/* Honest datagrams on the doorbell while another thread scribbles the TX ring and the
	 * indices: whatever udpd reads, it must end this session and nothing else. */
	atomic_store(&chaos_stop, false);
	pthread_t th;
	pthread_create(&th, NULL, chaos_thread, a);
	uint64_t end = now_ms() + 800;
	struct region_tx_dgram d = {.slot = 0, .daddr = peer, .dport = htons(port), .has_addr = 1};
	while (now_ms() < end && !app_hung_up(a, 0)) {
		/* never waits for room: once udpd gave up on the ring, nobody makes any */
		uint8_t *body = ring_reserve(&a->reg.tx, REGION_REC_DGRAM, sizeof(d) + 64);
		if (body) {
			memcpy(body, &d, sizeof(d));
			rnd_fill(body + sizeof(d), 64);
			ring_commit(&a->reg.tx);
		}
		app_doorbell(a);
		sleep_ms(1);
	}
	atomic_store(&chaos_stop, true);
	pthread_join(th, NULL);
}

static int mode_ring(const char *peer_s, int port)
{
	uint32_t peer = ip_of(peer_s);
	uint16_t eport = (uint16_t)port;
	struct rep r;

	/* The well-behaved session: before. */
	struct app w;
	app_must_open(&w, 1, 65536, 65536);
	app_socket(&w, 0);
	for (unsigned i = 0; i < 3; i++)
		CHECK(app_echo(&w, 0, peer, eport, 100 + i, i), "well-behaved echo %u (before)", i);

	/* 1. Bad records in a sound ring: each skipped and counted; the session goes on. */
	unsigned bad_record = 0, no_socket = 0, tx_err = 0;
	{
		struct app h;
		app_must_open(&h, 2, 262144, 65536);
		uint32_t sid = app_socket(&h, 0);
		static const uint32_t slots[] = {5, 1, 64, 0xffffffffu};
		for (unsigned i = 0; i < 4; i++, no_socket++)
			CHECK(app_send(&h, slots[i], peer, eport, "x", 1) == 0, "send");
		struct region_tx_dgram d = {.slot = 0, .daddr = peer, .dport = htons(eport),
					    .has_addr = 1};
		uint8_t *b = ring_reserve(&h.reg.tx, 7, sizeof(d) + 4); /* not a datagram */
		memcpy(b, &d, sizeof(d));
		b = ring_reserve(&h.reg.tx, REGION_REC_DGRAM, 8); /* shorter than its header */
		memcpy(b, &d, 8);
		b = ring_reserve(&h.reg.tx, REGION_REC_DGRAM, 0); /* empty */
		ring_commit(&h.reg.tx);
		bad_record += 3;
		CHECK(app_send_flags(&h, 0, peer, eport, "x", 1, 0x80, true) == 0, "send");
		CHECK(app_send_flags(&h, 0, peer, eport, "x", 1, 0xffffffffu, true) == 0, "send");
		bad_record += 2;
		/* What udp_output refuses (libsock checks these before it produces a record). */
		static uint8_t big[70000];
		CHECK(app_send(&h, 0, peer, eport, big, 65508) == 0, "send 65508");
		CHECK(app_send(&h, 0, peer, eport, big, 70000) == 0, "send 70000");
		CHECK(app_send(&h, 0, peer, 0, "x", 1) == 0, "send"); /* port 0 */
		CHECK(app_send(&h, 0, ip_of("255.255.255.255"), eport, "x", 1) == 0, "send");
		CHECK(app_send(&h, 0, 0, 0, "x", 1) == 0, "send"); /* no address, not connected */
		tx_err += 5;
		/* Corking past 65,507 bytes: the pending datagram is dropped (EMSGSIZE), the next
		 * corked bytes start a new one, which goes out whole. */
		static uint8_t part[2000];
		for (unsigned i = 0; i < 40; i++)
			CHECK(app_send_flags(&h, 0, peer, eport, part, sizeof(part), REGION_TX_MORE,
					     i == 39) == 0, "send corked");
		tx_err += 1;
		CHECK(app_send(&h, 0, peer, eport, NULL, 0) == 0, "send the cork");
		CHECK(app_tx_drained(&h, 2000), "TX ring not consumed");
		CHECK(app_alive(&h), "bad records ended a session with a sound ring");
		static uint8_t in[65536];
		int n = app_recv(&h, 0, in, sizeof(in), 2000, NULL);
		CHECK(n == 7 * 2000, "the cork after the overflow: echo of %d bytes, expected %d",
		      n, 7 * 2000);
		CHECK(app_echo(&h, 0, peer, eport, 300, 9), "echo after bad records");
		/* The header scribbled after the handover: udpd never reads it again. */
		memset(h.reg.base, 0xa5, sizeof(struct region_hdr));
		CHECK(app_echo(&h, 0, peer, eport, 301, 10), "echo after scribbling the header");
		/* A blocking, saturated slot eventfd and a blocking doorbell: udpd writes the slot
		 * only after a poll, and reads the doorbell with RWF_NOWAIT, so neither can stall
		 * it. */
		CHECK(fcntl(h.slot_fd[0], F_SETFL, 0) == 0 && fcntl(h.doorbell, F_SETFL, 0) == 0,
		      "clear O_NONBLOCK");
		uint64_t maxv = 0xfffffffffffffffeull;
		CHECK(write(h.slot_fd[0], &maxv, sizeof(maxv)) == sizeof(maxv), "saturate");
		CHECK(app_send(&h, 0, peer, eport, "ping", 4) == 0, "send");
		sleep_ms(100);
		check_serving("a saturated blocking eventfd");
		CHECK(app_echo(&w, 0, peer, eport, 64, 11),
		      "well-behaved echo with a saturated peer");
		uint64_t v;
		CHECK(read(h.slot_fd[0], &v, sizeof(v)) == sizeof(v), "drain the eventfd");
		fcntl(h.slot_fd[0], F_SETFL, O_NONBLOCK);
		CHECK(app_recv(&h, 0, in, sizeof(in), 1000, NULL) == 4, "the datagram under "
		      "the saturated eventfd was delivered");
		CHECK(app_alive(&h), "session ended");
		CHECK_ST(app_op(&h, OP(GETSOCKNAME), sid, 0, 0, &r), 0,
			 "requests of the session with bad records");
		app_close(&h);
	}
	check_serving("bad records");

	/* 2. Broken rings: udpd ends exactly that session (it hangs up its connection and
	 *    forgets its credentials), and nothing else. */
	static const struct hostile hs[] = {
		{"TX head 8 rings ahead", h_head_ahead},
		{"TX head not 8-aligned", h_head_unaligned},
		{"a record of 2 GiB", h_len_huge},
		{"a record longer than what was published", h_len_past_head},
		{"a record of type 0", h_type0},
		{"a PAD in the middle of the ring", h_pad_middle},
		{"TX head moved backwards", h_head_back},
		{"RX tail past the head", h_rx_tail},
		{"garbage written over the ring while in use", h_chaos},
	};
	unsigned closed = 0;
	for (unsigned i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		struct app h;
		app_must_open(&h, 1, 4096, 4096);
		uint32_t sid = app_socket(&h, 0);
		hs[i].act(&h, peer, eport);
		app_doorbell(&h);
		bool hung = app_hung_up(&h, ABUSE_HANGUP_MS);
		CHECK(hung, "%s: the session was not ended", hs[i].what);
		closed += hung;
		if (hung) {
			/* The record is gone: its credentials name nothing any more (udpd processes
			 * the end before it can answer, but the request may overtake the hang-up
			 * on another socket: allow it a moment). */
			int st = 0;
			for (unsigned k = 0; k < 20 && st != -EPERM; k++) {
				st = app_op(&h, OP(GETSOCKNAME), sid, 0, 0, NULL);
				if (st != -EPERM)
					sleep_ms(20);
			}
			CHECK_ST(st, -EPERM, hs[i].what);
		}
		app_close(&h);
		check_serving(hs[i].what);
		CHECK(app_echo(&w, 0, peer, eport, 50 + i, 20 + i), "well-behaved echo after: %s",
		      hs[i].what);
	}

	/* 3. Lies about latency (region.h, "Latency of the two hops"): TX stamps from the future,
	 *    from boot time and none; a statistics area claiming far more samples than datagrams
	 *    it was given, then going down. Each counted; never more samples believed than
	 *    datagrams delivered; nothing but the two histograms touched (every echo comes back).
	 *    The libsock bystander runs meanwhile: it is honest, so the refusals are all ours. */
	{
		struct app h;
		app_must_open(&h, 1, 65536, 65536);
		app_socket(&h, 0);
		long long bad0 = udpd_stat("tx_stamp_bad"), over0 = udpd_stat("app_hist_over_credit");
		long long down0 = udpd_stat("app_hist_went_down");
		long long got0 = udpd_hist_count("app_transit_from_udpd");
		const uint64_t stamps[] = {clock_now() + 3600 * 1000000000ull, 1, 0, APP_STAMP_NOW};
		static uint8_t in[2048];
		for (unsigned i = 0; i < 4; i++) {
			CHECK(app_send_stamped(&h, 0, peer, eport, "stamp", 5, 0, true, stamps[i]) == 0,
			      "send stamped %u", i);
			CHECK(app_recv(&h, 0, in, sizeof(in), 2000, NULL) == 5,
			      "the datagram with stamp %u was sent and echoed", i);
		}
		/* 4 delivered; the area claims a million taken. */
		atomic_store(&h.reg.app_stats->rx_transit[hist_bucket(15000)], 1000000);
		long long got1 = udpd_hist_count("app_transit_from_udpd");
		long long over1 = udpd_stat("app_hist_over_credit");
		atomic_store(&h.reg.app_stats->rx_transit[hist_bucket(15000)], 3); /* down */
		long long down1 = udpd_stat("app_hist_went_down");
		CHECK(udpd_stat("tx_stamp_bad") - bad0 == 3, "tx_stamp_bad grew by %lld, not 3",
		      udpd_stat("tx_stamp_bad") - bad0);
		CHECK(over1 - over0 == 1000000 - 4, "app_hist_over_credit grew by %lld, not %d",
		      over1 - over0, 1000000 - 4);
		CHECK(down1 - down0 == 1, "app_hist_went_down grew by %lld, not 1", down1 - down0);
		/* believed: our 4 and whatever the honest bystander took meanwhile (1 every 20 ms) */
		CHECK(got1 - got0 >= 4 && got1 - got0 < 4 + 200,
		      "app_transit_from_udpd grew by %lld for 4 datagrams", got1 - got0);
		CHECK(app_echo(&h, 0, peer, eport, 200, 50), "echo after the lies");
		CHECK(app_alive(&h), "lies about latency ended the session");
		/* Down once more, then leave: udpd looks at the area a last time as the session
		 * ends (what an application counted just before it exits is not lost). */
		atomic_store(&h.reg.app_stats->rx_transit[hist_bucket(15000)], 1);
		app_close(&h);
		long long down2 = down1;
		for (unsigned k = 0; k < 100 && down2 == down1; k++) {
			sleep_ms(20);
			down2 = udpd_stat("app_hist_went_down");
		}
		CHECK(down2 - down1 == 1, "the session's end: app_hist_went_down grew by %lld, not 1",
		      down2 - down1);
		check_serving("lies about latency");
		printf("ring: latency lies: %lld stamps refused, %lld samples beyond what was "
		       "delivered refused, %lld of 4 believed (with the bystander's), %lld decreases "
		       "counted\n", udpd_stat("tx_stamp_bad") - bad0, over1 - over0, got1 - got0,
		       down2 - down0);
	}

	/* The well-behaved session: after. */
	for (unsigned i = 0; i < 3; i++)
		CHECK(app_echo(&w, 0, peer, eport, 1000 + i, 40 + i),
		      "well-behaved echo %u (after)", i);
	CHECK(app_alive(&w), "the well-behaved session was ended");
	app_close(&w);
	check_serving("the ring mode");
	printf("ring: %u bad records, %u records for no socket, %u refused sends skipped; "
	       "%u of %zu broken rings ended their session; the well-behaved session unharmed\n",
	       bad_record, no_socket, tx_err, closed, sizeof(hs) / sizeof(hs[0]));
	printf("expect-eq udpd.tx_drop_bad_record %u\n", bad_record);
	printf("expect-eq udpd.tx_drop_no_socket %u\n", no_socket);
	printf("expect-ge udpd.tx_errors %u\n", tx_err);
	printf("expect-eq udpd.sessions_closed_hostile %u\n", closed);
	return failures ? 1 : 0;
}

/* ======================================================================================== */
/* isolation                                                                                 */
/* ======================================================================================== */

/* B's side, in its own process (exec'd: it holds none of A's descriptors). argv: A's sid,
 * A's session id (hex), A's port, PEER, echo PORT. Talks to A over stdin/stdout. */
static int mode_isolation_b(uint32_t sid_a, uint64_t session_a, uint16_t port_a,
			    const char *peer_s, int eport)
{
	uint32_t peer = ip_of(peer_s);
	struct app b;
	app_must_open(&b, 2, 16384, 16384);
	uint32_t sid_b = app_socket(&b, 1);
	CHECK_ST(app_op(&b, OP(BIND), sid_b, 0, 0, NULL), 0, "B: bind");
	uint16_t port_b = app_port(&b, sid_b);

	/* Every request B can make on A's socket with its own valid credentials. */
	struct {
		int op;
		uint32_t addr, port;
		const char *what;
	} ops[] = {
		{OP(BIND), 0, 40123, "BIND A's socket"},
		{OP(CONNECT), peer, 9, "CONNECT A's socket"},
		{OP(DISCONNECT), 0, 0, "DISCONNECT A's socket"},
		{OP(GETSOCKNAME), 0, 0, "GETSOCKNAME of A's socket"},
		{OP(GETPEERNAME), 0, 0, "GETPEERNAME of A's socket"},
		{OP(CLOSE), 0, 0, "CLOSE A's socket"},
	};
	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		CHECK_ST(app_op(&b, ops[i].op, sid_a, ops[i].addr, ops[i].port, NULL), -EBADF,
			 ops[i].what);
	static const int opts[][2] = {{SOL_SOCKET, SO_REUSEADDR}, {SOL_SOCKET, SO_BROADCAST},
				      {SOL_SOCKET, SO_RCVBUF}, {SOL_UDP, UDP_CORK}};
	for (unsigned i = 0; i < 4; i++) {
		CHECK_ST(app_opt(&b, OP(SETOPT), sid_a, opts[i][0], opts[i][1],
				 1, NULL), -EBADF, "SETOPT on A's socket");
		CHECK_ST(app_opt(&b, OP(GETOPT), sid_a, opts[i][0], opts[i][1],
				 0, NULL), -EBADF, "GETOPT on A's socket");
	}
	CHECK_ST(app_opt(&b, OP(GETOPT), sid_a, SOL_SOCKET, SO_ERROR, 0, NULL),
		 -EBADF, "GETOPT SO_ERROR of A's socket (would steal its pending error)");

	/* A's session id without A's secret. */
	uint8_t zero[SESSION_SECRET_LEN] = {0};
	Ustack__SockRequest q;
	ustack__sock_request__init(&q);
	q.op = OP(GETSOCKNAME);
	q.sid = sid_a;
	CHECK_ST(app_call_as(&b, &q, session_a, b.secret, SESSION_SECRET_LEN, NULL), -EPERM,
		 "A's session id with B's secret");
	CHECK_ST(app_call_as(&b, &q, session_a, zero, SESSION_SECRET_LEN, NULL), -EPERM,
		 "A's session id with a zero secret");
	CHECK_ST(app_call_as(&b, &q, session_a, NULL, 0, NULL), -EPERM,
		 "A's session id without a secret");
	q.op = OP(CLOSE);
	CHECK_ST(app_call_as(&b, &q, session_a, b.secret, SESSION_SECRET_LEN, NULL), -EPERM,
		 "CLOSE with A's session id and B's secret");
	struct app t;
	CHECK_ST(app_open_op(&t, 1, 4096, 4096, SESSION_RESUME, session_a, b.secret), -EPERM,
		 "RESUME of A's session with B's secret");
	app_close(&t);

	if (getuid() != 0) {
		/* Not root: a port below 1024 is refused, as Linux without
		 * CAP_NET_BIND_SERVICE. */
		uint32_t s2 = app_socket(&b, 0);
		CHECK_ST(app_op(&b, OP(BIND), s2, 0, 80, NULL), -EACCES,
			 "uid != 0 binds port 80");
		CHECK_ST(app_op(&b, OP(CLOSE), s2, 0, 0, NULL), 0, "close");
	}

	/* A's port: taken, with or without SO_REUSEADDR on B's side (A did not set it). */
	uint32_t s0 = app_socket(&b, 0);
	CHECK_ST(app_op(&b, OP(BIND), s0, 0, port_a, NULL), -EADDRINUSE,
		 "B binds A's port");
	CHECK_ST(app_opt(&b, OP(SETOPT), s0, SOL_SOCKET, SO_REUSEADDR, 1,
			 NULL), 0, "SO_REUSEADDR");
	CHECK_ST(app_op(&b, OP(BIND), s0, 0, port_a, NULL), -EADDRINUSE,
		 "B binds A's port with SO_REUSEADDR");
	CHECK_ST(app_op(&b, OP(CLOSE), s0, 0, 0, NULL), 0, "close");

	/* Every sid of the table at A's generation and at low generations: only B's own
	 * socket answers. */
	unsigned tried = 0, reached = 0;
	for (uint32_t idx = 0; idx < 1024; idx++) {
		uint32_t gens[5] = {sid_a >> 16, sid_b >> 16, 1, 2, 3};
		unsigned ng = idx < 64 ? 5 : 2;
		for (unsigned g = 0; g < ng; g++) {
			bool dup = false;
			for (unsigned k = 0; k < g; k++)
				dup |= gens[k] == gens[g];
			if (dup)
				continue;
			uint32_t sid = idx | gens[g] << 16;
			int st = app_op(&b, OP(GETSOCKNAME), sid, 0, 0, NULL);
			tried++;
			if (st == 0) {
				reached++;
				CHECK(sid == sid_b, "B reached sid %#x, not its own (%#x)", sid,
				      sid_b);
			} else {
				CHECK_ST(st, -EBADF, "sid scan");
			}
		}
	}
	CHECK(reached == 1, "B's own sid %#x not found by the scan", sid_b);
	fprintf(stderr, "B: %u sids tried, %u answered (its own)\n", tried, reached);

	/* B's TX record naming a slot with no socket of B's (A's socket is in A's slot 0). */
	CHECK(app_send(&b, 0, peer, (uint16_t)eport, "from B slot 0", 13) == 0, "send");
	CHECK(app_tx_drained(&b, 1000), "TX not consumed");

	printf("ready %u\n", port_b);
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin) || strncmp(line, "go", 2) != 0) {
		fprintf(stderr, "B: no go from A\n");
		return 1;
	}
	/* A exchanged datagrams meanwhile: none of them may be in B's rings. */
	for (unsigned s = 0; s < b.n_slots; s++) {
		struct ring_rec rec;
		CHECK(ring_peek(&b.reg.rx[s], &rec) == -EAGAIN, "B's slot %u holds a datagram", s);
		struct pollfd p = {.fd = b.slot_fd[s], .events = POLLIN};
		CHECK(poll(&p, 1, 0) == 0, "B's slot %u eventfd was woken", s);
	}
	/* B's own socket works. */
	CHECK(app_echo(&b, 1, peer, (uint16_t)eport, 77, 77), "B's own echo");
	app_close(&b);
	printf("done\n");
	fflush(stdout);
	return failures ? 1 : 0;
}

/* Run B (this program again, exec'd so it inherits none of A's descriptors) as uid, and
 * meanwhile show that A's socket works and is unchanged. */
static void run_b(struct app *a, uint32_t sid_a, uint16_t port_a, const char *peer_s, int eport,
		  uid_t uid)
{
	uint32_t peer = ip_of(peer_s);
	int to_b[2], from_b[2];
	if (pipe(to_b) < 0 || pipe(from_b) < 0)
		exit(2);
	char sid_s[16], sess_s[24], port_s[8], eport_s[8];
	snprintf(sid_s, sizeof(sid_s), "%u", sid_a);
	snprintf(sess_s, sizeof(sess_s), "%" PRIx64, a->session);
	snprintf(port_s, sizeof(port_s), "%u", port_a);
	snprintf(eport_s, sizeof(eport_s), "%d", eport);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(to_b[0], 0);
		dup2(from_b[1], 1);
		close(to_b[0]), close(to_b[1]), close(from_b[0]), close(from_b[1]);
		if (uid != getuid() &&
		    (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0))
			_exit(126);
		execl("/proc/self/exe", "udp_abuse", "isolation-b", sid_s, sess_s, port_s, peer_s,
		      eport_s, (char *)NULL);
		_exit(127);
	}
	close(to_b[0]);
	close(from_b[1]);
	FILE *in = fdopen(from_b[0], "r");
	char line[64];
	unsigned port_b = 0;
	bool ready = fgets(line, sizeof(line), in) && sscanf(line, "ready %u", &port_b) == 1;
	CHECK(ready, "B (uid %u) did not get ready", (unsigned)uid);
	if (ready) {
		/* A's socket works, and is unchanged by B's attempts. */
		for (unsigned i = 0; i < 5; i++)
			CHECK(app_echo(a, 0, peer, (uint16_t)eport, 200 + i, 50 + i),
			      "A's echo %u while B is there", i);
		CHECK(app_port(a, sid_a) == port_a, "A's port changed");
		CHECK_ST(app_op(a, OP(GETPEERNAME), sid_a, 0, 0, NULL),
			 -ENOTCONN, "A's socket got connected by someone");
		struct rep r;
		static const int opts[][2] = {{SOL_SOCKET, SO_REUSEADDR},
					      {SOL_SOCKET, SO_BROADCAST},
					      {SOL_UDP, UDP_CORK}};
		for (unsigned i = 0; i < 3; i++) {
			CHECK_ST(app_opt(a, OP(GETOPT), sid_a, opts[i][0],
					 opts[i][1], 0, &r), 0, "GETOPT");
			CHECK(r.optlen == sizeof(int), "GETOPT length");
		}
		CHECK(write(to_b[1], "go\n", 3) == 3, "write to B");
	}
	close(to_b[1]);
	bool done = fgets(line, sizeof(line), in) && strncmp(line, "done", 4) == 0;
	int status = 0;
	waitpid(pid, &status, 0);
	fclose(in);
	CHECK(done && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "B (uid %u) failed its checks (exit status %d)", (unsigned)uid,
	      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	/* B's own echo never reached A. */
	struct ring_rec rec;
	CHECK(ring_peek(&a->reg.rx[0], &rec) == -EAGAIN &&
		      ring_peek(&a->reg.rx[1], &rec) == -EAGAIN,
	      "a datagram for B arrived in A's ring");
	for (unsigned i = 0; i < 3; i++)
		CHECK(app_echo(a, 0, peer, (uint16_t)eport, 300 + i, 60 + i), "A's echo %u after B",
		      i);
	printf("isolation: B (uid %u, pid %d) could not touch A's socket; A unharmed\n",
	       (unsigned)uid, (int)pid);
}

static int mode_isolation(const char *peer_s, int eport)
{
	uint32_t peer = ip_of(peer_s);
	struct app a;
	app_must_open(&a, 2, 16384, 16384);
	uint32_t sid_a = app_socket(&a, 0);
	CHECK_ST(app_op(&a, OP(BIND), sid_a, 0, 0, NULL), 0, "A: bind");
	uint16_t port_a = app_port(&a, sid_a);
	CHECK(app_echo(&a, 0, peer, (uint16_t)eport, 40, 1), "A's echo before B");

	/* B as the same user as A (only the session secret keeps them apart), then, when we
	 * are root, as nobody. */
	unsigned n_b = 1;
	run_b(&a, sid_a, port_a, peer_s, eport, getuid());
	if (getuid() == 0) {
		run_b(&a, sid_a, port_a, peer_s, eport, 65534);
		n_b++;
	}

	/* Stale sids: C closes its socket, D gets the table slot back (another generation). C's
	 * old sid reaches nothing, D's sid is not C's to use. */
	struct app c, dd;
	app_must_open(&c, 1, 4096, 4096);
	app_must_open(&dd, 1, 4096, 4096);
	uint32_t sc = app_socket(&c, 0);
	CHECK_ST(app_op(&c, OP(CLOSE), sc, 0, 0, NULL), 0, "C: close");
	uint32_t sd = app_socket(&dd, 0);
	printf("isolation: C's closed sid %#x, D's new sid %#x (%s table slot)\n", sc, sd,
	       (sc & 0xffff) == (sd & 0xffff) ? "same" : "another");
	CHECK_ST(app_op(&c, OP(GETSOCKNAME), sc, 0, 0, NULL), -EBADF,
		 "C's closed sid");
	CHECK_ST(app_op(&c, OP(GETSOCKNAME), sd, 0, 0, NULL), -EBADF,
		 "C on D's sid");
	CHECK_ST(app_op(&c, OP(CLOSE), sd, 0, 0, NULL), -EBADF,
		 "C closes D's sid");
	CHECK_ST(app_op(&dd, OP(GETSOCKNAME), sd, 0, 0, NULL), 0,
		 "D's socket");
	/* C's session ends; its credentials die with it, even once its record is reused. */
	uint64_t c_sess = c.session;
	uint8_t c_secret[SESSION_SECRET_LEN];
	memcpy(c_secret, c.secret, sizeof(c_secret));
	close(c.conn);
	c.conn = -1;
	struct app e;
	app_must_open(&e, 1, 4096, 4096);
	Ustack__SockRequest q;
	ustack__sock_request__init(&q);
	q.op = OP(GETSOCKNAME);
	int st = -EBADF; /* what C's session would answer while udpd has not seen it end */
	for (unsigned k = 0; k < 50 && st == -EBADF; k++) {
		st = app_call_as(&dd, &q, c_sess, c_secret, SESSION_SECRET_LEN, NULL);
		if (st == -EBADF)
			sleep_ms(20);
	}
	CHECK_ST(st, -EPERM, "the credentials of an ended session");
	app_close(&c);
	app_close(&dd);
	app_close(&e);
	app_close(&a);
	check_serving("the isolation mode");
	/* Each B: four requests under A's session id, one RESUME of it, one TX record for a
	 * slot without a socket of its own; then one request with C's dead credentials. */
	printf("expect-eq udpd.req_eperm %u\n", 4 * n_b + 1);
	printf("expect-eq udpd.session_refused_auth %u\n", n_b);
	printf("expect-eq udpd.tx_drop_no_socket %u\n", n_b);
	return failures ? 1 : 0;
}

/* ======================================================================================== */
/* hog                                                                                       */
/* ======================================================================================== */

/* n datagrams of len bytes sent back to back (one doorbell), then their echoes: how many came
 * back (each datagram carries its number). */
static unsigned app_burst(struct app *a, uint32_t peer, uint16_t port, unsigned n, uint32_t len)
{
	static uint8_t buf[65536];
	static uint8_t seen[1024];
	memset(seen, 0, sizeof(seen));
	memset(buf, 0x42, len);
	for (unsigned i = 0; i < n && i < 1024; i++) {
		memcpy(buf, &i, sizeof(i));
		if (app_send_flags(a, 0, peer, port, buf, len, 0, i + 1 == n) < 0)
			break;
	}
	unsigned got = 0;
	uint64_t end = now_ms() + 2000;
	while (got < n && now_ms() < end) {
		int m = app_recv(a, 0, buf, sizeof(buf), (int)(end - now_ms()), NULL);
		if (m < 0)
			break;
		unsigned k;
		memcpy(&k, buf, sizeof(k));
		if ((uint32_t)m == len && k < n && !seen[k]) {
			seen[k] = 1;
			got++;
		}
	}
	return got;
}

struct bystander {
	unsigned small, large, burst;
	uint64_t small_max_ms; /* the slowest small echo's round trip */
};

/* What a well-behaved application does: 20 small echoes, 5 of 30,000 bytes (21 fragments
 * each way, 15 pool buffers to send), a burst of 64 x 1,000 bytes. */
static struct bystander bystander_run(struct app *w, uint32_t peer, uint16_t port, unsigned seed)
{
	struct bystander b = {0, 0, 0, 0};
	/* A lost echo costs its 2 s timeout: after the first loss of a kind, the rest of that
	 * kind count as lost too (this keeps a starved run short). */
	for (unsigned i = 0; i < 20 && b.small == i; i++) {
		uint64_t t0 = now_ms();
		b.small += app_echo(w, 0, peer, port, 200, seed + i);
		if (now_ms() - t0 > b.small_max_ms)
			b.small_max_ms = now_ms() - t0;
	}
	for (unsigned i = 0; i < 5 && b.large == i; i++)
		b.large += app_echo(w, 0, peer, port, 30000, seed + 20 + i);
	b.burst = app_burst(w, peer, port, 64, 1000);
	return b;
}

/* ---- a hostile application of another uid, in a child (what isolation's run_b does) ---- */

struct child {
	pid_t pid;
	FILE *in;   /* its stdout */
	int to;     /* its stdin */
};

/* Run this program as `udp_abuse MODE ARGS...` under uid (when we are root and it differs),
 * its stdin and stdout piped to us. */
static void child_spawn(struct child *c, uid_t uid, const char *const *argv)
{
	int to[2], from[2];
	if (pipe(to) < 0 || pipe(from) < 0)
		exit(2);
	fflush(stdout);
	c->pid = fork();
	if (c->pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[0]), close(to[1]), close(from[0]), close(from[1]);
		/* Descriptors for many sessions: the hard limit is raised while we may. */
		struct rlimit rl = {.rlim_cur = 65536, .rlim_max = 65536};
		setrlimit(RLIMIT_NOFILE, &rl);
		if (uid != getuid() &&
		    (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0))
			_exit(126);
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	c->to = to[1];
	c->in = fdopen(from[0], "r");
}

/* The child's next line that starts with `key` (others are its progress, echoed), or false at
 * its end. */
static bool child_expect(struct child *c, const char *key, char *line, size_t cap)
{
	while (fgets(line, (int)cap, c->in)) {
		if (strncmp(line, key, strlen(key)) == 0)
			return true;
		printf("    child: %s", line);
	}
	return false;
}

static void child_say(struct child *c, const char *what)
{
	CHECK(write(c->to, what, strlen(what)) == (ssize_t)strlen(what), "write to the child");
}

/* Wait for the child; its exit status (-1 if it did not exit). Echoes what it still prints. */
static int child_wait(struct child *c)
{
	char line[256];
	close(c->to);
	while (fgets(line, sizeof(line), c->in))
		printf("    child: %s", line);
	fclose(c->in);
	int st = 0;
	waitpid(c->pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The uid hostile children run as: nobody, when we can be someone else. */
static uid_t hostile_uid(void)
{
	return getuid() == 0 ? 65534 : getuid();
}

/* ======================================================================================== */
/* hog                                                                                       */
/* ======================================================================================== */

struct blaster {
	struct app *a;
	unsigned slot;
	uint32_t peer;
	uint16_t port;
	atomic_bool stop;
	uint64_t sent;
};

/* The TX ring's only producer while it runs: 60,000-byte datagrams as fast as the ring takes
 * them (a hostile producer ignores any send buffer). */
static void *blaster_run(void *p)
{
	struct blaster *b = p;
	static uint8_t payload[60000];
	struct region_tx_dgram d = {.slot = b->slot, .daddr = b->peer, .dport = htons(b->port),
				    .has_addr = 1};
	while (!atomic_load(&b->stop)) {
		uint8_t *body = ring_reserve(&b->a->reg.tx, REGION_REC_DGRAM,
					     (uint32_t)(sizeof(d) + sizeof(payload)));
		if (!body) {
			app_doorbell(b->a);
			sleep_ms(1);
			continue;
		}
		memcpy(body, &d, sizeof(d));
		memcpy(body + sizeof(d), payload, sizeof(payload));
		ring_commit(&b->a->reg.tx);
		app_doorbell(b->a);
		b->sent++;
	}
	return NULL;
}

/* The hog itself (uid nobody when run by root): N sessions of 64 sockets (as many as its
 * share of sockets gives), every socket but the first corking almost the largest datagram, and
 * the first sending 60,000-byte datagrams to PEER:9 (nobody listens) without pause. Prints
 * "holding ...", waits for a line from the parent, stops, prints the counts, exits. */
static int mode_hog_b(const char *peer_s, unsigned n_sess)
{
	uint32_t peer = ip_of(peer_s);
	struct app *hog = calloc(n_sess, sizeof(*hog));
	static uint8_t part[8000];
	unsigned sockets = 0, refused = 0;
	uint64_t corked = 0;
	for (unsigned s = 0; s < n_sess; s++) {
		if (app_open(&hog[s], 64, 1u << 20, 4096) < 0) {
			app_zero(&hog[s]);
			break;
		}
		for (unsigned k = 0; k < 64; k++) {
			Ustack__SockRequest q;
			ustack__sock_request__init(&q);
			q.op = OP(SOCKET);
			q.slot = k;
			struct rep r;
			int st = app_call(&hog[s], &q, &r);
			if (st == -EMFILE) {
				refused++; /* its share of sockets is used up */
				break;
			}
			CHECK_ST(st, 0, "hog: SOCKET");
			if (st != 0)
				break;
			sockets++;
			if (s == 0 && k == 0)
				continue; /* the blaster's */
			/* 8 x 8000 + 1500 = 65,500 bytes corked, never sent. */
			for (unsigned i = 0; i < 9; i++) {
				uint32_t len = i < 8 ? 8000 : 1500;
				app_send_flags(&hog[s], k, peer, 9, part, len, REGION_TX_MORE, false);
				corked += len;
			}
		}
		app_doorbell(&hog[s]);
	}
	for (unsigned s = 0; s < n_sess; s++)
		if (hog[s].conn >= 0)
			CHECK(app_tx_drained(&hog[s], 5000), "hog session %u: TX not consumed", s);
	struct blaster b = {.a = &hog[0], .slot = 0, .peer = peer, .port = 9};
	pthread_t th;
	bool blasting = hog[0].conn >= 0 && pthread_create(&th, NULL, blaster_run, &b) == 0;
	printf("holding %u sockets (%u refused), %" PRIu64 " bytes corked, blasting %d\n",
	       sockets, refused, corked, blasting);
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		CHECK(0, "hog: the parent went away");
	if (blasting) {
		atomic_store(&b.stop, true);
		pthread_join(th, NULL);
	}
	for (unsigned s = 0; s < n_sess; s++)
		if (hog[s].conn >= 0)
			app_close(&hog[s]);
	free(hog);
	printf("done: %u sockets, %" PRIu64 " datagrams of 60,000 bytes blasted\n", sockets,
	       b.sent);
	return failures ? 1 : 0;
}

/* Pool hogging beside a bystander. Another uid corks on as many sockets as its share gives
 * (what it pins must stay within its share of the corks, the corks within a quarter of the
 * pool) and sends the largest datagrams as fast as its TX ring takes them (what it has in
 * flight is paced by the stack, never the whole pool); a bystander exchanges datagrams
 * before, during and after, and must get what it got alone. */
static int mode_hog(const char *peer_s, int eport, unsigned n_sess, int hold_ms)
{
	uint32_t peer = ip_of(peer_s);
	struct app w;
	app_must_open(&w, 1, 262144, 262144);
	app_socket(&w, 0);
	struct bystander before = bystander_run(&w, peer, (uint16_t)eport, 1);
	printf("hog: bystander alone: %u/20 small, %u/5 of 30,000 bytes, %u/64 in a burst\n",
	       before.small, before.large, before.burst);
	/* An unpaced burst of 64 may lose a few to counted overruns even alone: the burst is
	 * compared against a floor, the paced exchanges must all come back. */
	CHECK(before.small == 20 && before.large == 5 && before.burst >= 48,
	      "the bystander alone did not get its echoes");

	uid_t uid = hostile_uid();
	char n_s[16];
	snprintf(n_s, sizeof(n_s), "%u", n_sess);
	const char *argv[] = {"udp_abuse", "hog-b", peer_s, n_s, NULL};
	struct child c;
	child_spawn(&c, uid, argv);
	char line[256];
	bool holding = child_expect(&c, "holding", line, sizeof(line));
	CHECK(holding, "the hog (uid %u) did not get going", (unsigned)uid);
	if (holding)
		printf("hog (uid %u): %s", (unsigned)uid, line);
	char key[64];
	snprintf(key, sizeof(key), "uid.%u.corked", (unsigned)uid);
	long long pinned = udpd_stat(key), share = udpd_stat("limit_uid_corked");
	long long all = udpd_stat("corked_buffers"), all_max = udpd_stat("limit_corked_all");
	printf("hog: the hog's corks hold %lld pool buffers (its share %lld); all corks %lld of "
	       "%lld\n", pinned, share, all, all_max);
	CHECK(pinned >= 0 && pinned <= share && all <= all_max,
	      "corked buffers beyond the shares: %lld of %lld for the hog, %lld of %lld in all",
	      pinned, share, all, all_max);
	struct bystander during = bystander_run(&w, peer, (uint16_t)eport, 100);
	printf("hog: bystander meanwhile: %u/20 small (slowest %" PRIu64 " ms), %u/5 of 30,000 "
	       "bytes, %u/64 in a burst\n", during.small, during.small_max_ms, during.large,
	       during.burst);
	CHECK(during.small == 20 && during.large == 5 && during.burst >= 48,
	      "another uid's corks and floods starve the bystander: it got %u/20 small, %u/5 "
	      "large, %u/64 burst echoes (alone: %u, %u, %u)", during.small, during.large,
	      during.burst, before.small, before.large, before.burst);
	sleep_ms(hold_ms);
	child_say(&c, "go\n");
	int st = child_wait(&c);
	CHECK(st == 0, "the hog failed its own checks (exit status %d)", st);
	/* Released: the bystander gets everything again. */
	sleep_ms(100);
	struct bystander after = bystander_run(&w, peer, (uint16_t)eport, 200);
	CHECK(after.small == 20 && after.large == 5 && after.burst == 64,
	      "the bystander after the hog left: %u/20 small, %u/5 large, %u/64 burst", after.small,
	      after.large, after.burst);
	app_close(&w);
	check_serving("the hog mode");
	printf("expect-ge udpd.tx_drop_cork_limit 1\n");
	return failures ? 1 : 0;
}

/* ======================================================================================== */
/* hoard                                                                                     */
/* ======================================================================================== */

/* The hoarder (uid nobody when run by root), step by step at the parent's word:
 *   "hs": connect every handshake place's worth of silent connections, print how many udpd
 *         refused at once ("hs refused N"), keep the others open;
 *   "sessions": close those, open sessions (the first few with 64 slots) until refused, then
 *         sockets in them until refused; print "held S sessions K sockets, refused: E E";
 *   EOF: close everything and exit. */
static int mode_hoard_b(void)
{
	char line[64];
	if (!fgets(line, sizeof(line), stdin) || strncmp(line, "hs", 2) != 0)
		return 2;
	int conns[UDPD_HANDSHAKES_GUESS];
	unsigned refused = 0;
	for (unsigned i = 0; i < UDPD_HANDSHAKES_GUESS; i++)
		conns[i] = session_connect();
	for (unsigned i = 0; i < UDPD_HANDSHAKES_GUESS; i++) {
		/* A refusal comes at once: a welcome saying -EAGAIN, then the hang-up. */
		struct pollfd p = {.fd = conns[i], .events = POLLIN};
		if (poll(&p, 1, 200) <= 0)
			continue;
		struct session_welcome w;
		ssize_t n = recv(conns[i], &w, sizeof(w), MSG_DONTWAIT);
		CHECK(n == (ssize_t)sizeof(w) && w.status == -EAGAIN,
		      "a refused handshake: %zd bytes, status %d", n, n > 0 ? w.status : 0);
		refused++;
	}
	printf("hs refused %u\n", refused);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin) || strncmp(line, "sessions", 8) != 0)
		return 2;
	for (unsigned i = 0; i < UDPD_HANDSHAKES_GUESS; i++)
		close(conns[i]);

	enum { MAX_SESS = 128, BIG = 8 };
	static struct app apps[MAX_SESS];
	unsigned n_sess = 0, n_sock = 0, retried = 0;
	int sess_err = 0, sock_err = 0;
	while (n_sess < MAX_SESS) {
		unsigned slots = n_sess < BIG ? 64 : 1;
		/* A handshake refused for want of a place (its own idle ones, just closed, may not
		 * be gone from udpd yet) says "again" (-EAGAIN, or a reset when it came with the
		 * hello unread), as libsock takes it: try again; a share used up says EMFILE. */
		int rc;
		uint64_t until = now_ms() + 2000;
		do {
			rc = app_open(&apps[n_sess], slots, 4096, 4096);
			if (rc == -EAGAIN || rc == -ECONNRESET) {
				app_close(&apps[n_sess]);
				retried++;
				sleep_ms(10);
			}
		} while ((rc == -EAGAIN || rc == -ECONNRESET) && now_ms() < until);
		if (rc < 0) {
			sess_err = rc;
			app_close(&apps[n_sess]);
			break;
		}
		n_sess++;
	}
	for (unsigned s = 0; s < n_sess && s < BIG && !sock_err; s++) {
		for (unsigned k = 0; k < 64; k++) {
			Ustack__SockRequest q;
			ustack__sock_request__init(&q);
			q.op = OP(SOCKET);
			q.slot = k;
			struct rep r;
			int st = app_call(&apps[s], &q, &r);
			if (st != 0) {
				sock_err = st;
				break;
			}
			n_sock++;
		}
	}
	printf("held %u sessions %u sockets, refused: %d %d, retried %u\n", n_sess, n_sock,
	       sess_err, sock_err, retried);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin)) {
		/* the parent's end of the pipe closes when it is done */
	}
	for (unsigned s = 0; s < n_sess; s++)
		app_close(&apps[s]);
	return failures ? 1 : 0;
}

/* Session, socket and handshake hoarding by another uid: it gets exactly its shares (and
 * EMFILE, or a refused handshake, beyond them), STATS shows its use at the limits, and
 * meanwhile an application of our uid still connects, opens sockets and exchanges datagrams. */
static int mode_hoard(const char *peer_s, int eport)
{
	uint32_t peer = ip_of(peer_s);
	long long lim_hs = udpd_stat("limit_uid_handshakes");
	long long lim_sess = udpd_stat("limit_uid_sessions");
	long long lim_sock = udpd_stat("limit_uid_sockets");
	long long hs_max = udpd_stat("handshakes_max"), sess_max = udpd_stat("sessions_max");
	long long sock_max = udpd_stat("sockets_max");
	printf("hoard: shares per uid: %lld of %lld handshakes, %lld of %lld sessions, %lld of "
	       "%lld sockets\n", lim_hs, hs_max, lim_sess, sess_max, lim_sock, sock_max);
	CHECK(lim_hs > 0 && lim_hs < hs_max && lim_sess > 0 && lim_sess < sess_max &&
	      lim_sock > 0 && lim_sock < sock_max, "the shares must let no uid take everything");
	CHECK(hs_max == UDPD_HANDSHAKES_GUESS, "udpd has %lld handshake places, the test assumes %d",
	      hs_max, UDPD_HANDSHAKES_GUESS);
	uid_t uid = hostile_uid();
	const char *argv[] = {"udp_abuse", "hoard-b", NULL};
	struct child c;
	child_spawn(&c, uid, argv);

	/* 1. Handshakes: the hoarder's silent connections hold only its share of the places;
	 * ours gets through while they are held (they time out after UDPD_HANDSHAKE_NS). */
	child_say(&c, "hs\n");
	char line[256];
	unsigned hs_refused = 0;
	bool ok = child_expect(&c, "hs refused", line, sizeof(line)) &&
		  sscanf(line, "hs refused %u", &hs_refused) == 1;
	CHECK(ok && (long long)hs_refused == hs_max - lim_hs,
	      "%u of %lld silent connections of one uid refused, expected %lld", hs_refused, hs_max,
	      hs_max - lim_hs);
	struct app mine;
	int rc = app_open(&mine, 2, 65536, 65536);
	CHECK_ST(rc, 0, "our session while the other uid holds its handshakes");

	/* 2. Sessions and sockets. */
	child_say(&c, "sessions\n");
	unsigned n_sess = 0, n_sock = 0, retried = 0;
	int sess_err = 0, sock_err = 0;
	ok = child_expect(&c, "held", line, sizeof(line)) &&
	     sscanf(line, "held %u sessions %u sockets, refused: %d %d, retried %u", &n_sess,
		    &n_sock, &sess_err, &sock_err, &retried) == 5;
	CHECK(ok, "the hoarder did not report");
	printf("hoard (uid %u): %s", (unsigned)uid, line);
	CHECK(n_sess == lim_sess && sess_err == -EMFILE,
	      "one uid got %u sessions (share %lld), then %s", n_sess, lim_sess, errname(sess_err));
	CHECK(n_sock == lim_sock && sock_err == -EMFILE,
	      "one uid got %u sockets (share %lld), then %s", n_sock, lim_sock, errname(sock_err));
	char key[64];
	snprintf(key, sizeof(key), "uid.%u.sessions", (unsigned)uid);
	long long st_sess = udpd_stat(key);
	snprintf(key, sizeof(key), "uid.%u.sockets", (unsigned)uid);
	long long st_sock = udpd_stat(key);
	CHECK(st_sess == lim_sess && st_sock == lim_sock,
	      "STATS shows uid %u with %lld sessions and %lld sockets", (unsigned)uid, st_sess,
	      st_sock);
	/* Ours, meanwhile: a second session, sockets, datagrams. */
	struct app more;
	CHECK_ST(app_open(&more, 1, 16384, 16384), 0, "another session of ours meanwhile");
	unsigned echoed = 0;
	if (rc == 0) {
		for (unsigned k = 0; k < 2; k++) {
			if (!app_socket(&mine, k))
				continue;
			for (unsigned i = 0; i < 10; i++)
				echoed += app_echo(&mine, k, peer, (uint16_t)eport, 100 + i, i);
		}
	}
	printf("hoard: our application meanwhile: %u/20 echoes\n", echoed);
	CHECK(echoed == 20, "our application got %u/20 echoes while another uid hoards", echoed);
	close(c.to);
	c.to = -1;
	int cst = child_wait(&c);
	CHECK(cst == 0, "the hoarder failed its own checks (exit status %d)", cst);
	app_close(&more);
	app_close(&mine);
	check_serving("the hoard mode");
	/* (a retried open was refused while its idle connections were still being closed) */
	printf("expect-eq udpd.session_refused_uid_busy %u\n", hs_refused + retried);
	printf("expect-eq udpd.session_refused_uid 1\n");
	printf("expect-eq udpd.sock_refused_uid 1\n");
	return failures ? 1 : 0;
}

/* ======================================================================================== */
/* drain                                                                                     */
/* ======================================================================================== */

/* udpd's answers to STATUS, every 50 ms, from another thread: how slow the slowest was. A loop
 * that does not come back within WatchdogSec (3 s) is killed by systemd; one that answers within
 * half a second is nowhere near it. */
struct watch {
	atomic_bool stop;
	uint64_t max_ms;
	unsigned n, wrong;
};

static void *watch_run(void *p)
{
	struct watch *w = p;
	while (!atomic_load(&w->stop)) {
		uint64_t t0 = now_ms();
		pid_t pid = udpd_status_pid();
		uint64_t dt = now_ms() - t0;
		if (dt > w->max_ms)
			w->max_ms = dt;
		w->n++;
		w->wrong += pid != udpd_pid0;
		sleep_ms(50);
	}
	return NULL;
}

/* A producer that never stops: empty datagrams for the slot it is told, as fast as the ring
 * takes them, published 1024 at a time. */
struct endless {
	struct app *a;
	atomic_uint slot;
	atomic_bool stop;
	atomic_uint_fast64_t made;
};

static uint64_t endless_fill(struct endless *e, uint64_t max)
{
	uint64_t n = 0;
	struct region_tx_dgram d = {.slot = atomic_load(&e->slot)};
	while (n < max) {
		uint8_t *body = ring_reserve(&e->a->reg.tx, REGION_REC_DGRAM, sizeof(d));
		if (!body)
			break;
		memcpy(body, &d, sizeof(d));
		if (++n % 1024 == 0)
			ring_commit(&e->a->reg.tx);
	}
	ring_commit(&e->a->reg.tx);
	atomic_fetch_add(&e->made, n);
	return n;
}

static void *endless_run(void *p)
{
	struct endless *e = p;
	while (!atomic_load(&e->stop)) {
		if (endless_fill(e, 65536) == 0) {
			app_doorbell(e->a);
			sleep_ms(1);
		}
	}
	return NULL;
}

/* The CLOSE reply to request q (sent raw), waiting up to ms: its status, or STATUS_NONE. */
static int app_call_long(struct app *a, Ustack__SockRequest *q, int ms)
{
	uint8_t buf[512];
	q->id = ++a->next_id;
	q->session = a->session;
	q->secret.data = a->secret;
	q->secret.len = SESSION_SECRET_LEN;
	size_t len = req_pack(q, buf, sizeof(buf));
	const void *f[1] = {buf};
	size_t l[1] = {len};
	dealer_send(a->dealer, f, l, 1);
	struct rep r;
	int rc = dealer_recv(a->dealer, ms, &r);
	CHECK(rc == 0 ? r.id == q->id : true, "reply id %" PRIu64 " to %" PRIu64, r.id, q->id);
	return rc == 0 ? r.status : STATUS_NONE;
}

/* Wait until udpd maps `want` memfds (its regions) or ms pass; the last count. */
static int maps_settle(int want, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	int n;
	while ((n = count_memfd_maps(udpd_pid0)) != want && now_ms() < end)
		sleep_ms(20);
	return n;
}

/* A huge TX ring of empty datagrams and a producer that never stops, against a CLOSE and the
 * end of the session. Draining such a ring in one go took udpd 4.6 s (past WatchdogSec=3s), and
 * with the producer still at work it never finished. Now: the CLOSE is answered once the ring
 * is read up to where it was asked, having sent only what the socket's send buffer could hold
 * (the rest read and dropped), while udpd serves everyone else and answers STATUS at once
 * throughout; records for the closed socket that keep coming are dropped; and the session,
 * ended with the producer still at work, is done after its sockets' send buffers' worth. */
static int mode_drain(const char *peer_s, int eport, unsigned ring_mib)
{
	uint32_t peer = ip_of(peer_s);
	int maps0 = count_memfd_maps(udpd_pid0);
	struct app a;
	uint32_t ring = ring_mib << 20;
	app_must_open(&a, 3, ring, 4096);
	uint32_t s0 = app_socket(&a, 0), s1 = app_socket(&a, 1), s2 = app_socket(&a, 2);
	/* To the discard port, where nobody listens: the datagrams that are sent load the whole
	 * path without taking the echo server from the bystanders. */
	(void)eport;
	CHECK_ST(app_op(&a, OP(CONNECT), s0, peer, 9, NULL), 0, "connect s0");
	CHECK_ST(app_op(&a, OP(CONNECT), s1, peer, 9, NULL), 0, "connect s1");

	CHECK_ST(app_op(&a, OP(CONNECT), s2, peer, 9, NULL), 0, "connect s2");
	struct watch w = {0};
	pthread_t wt;
	CHECK(pthread_create(&wt, NULL, watch_run, &w) == 0, "watch thread");

	/* 0. More records than a CLOSE reads at once, and then silence (no doorbell, as
	 * libsock's us_close waiting for its answer): the CLOSE is answered all the same. */
	struct endless e = {.a = &a};
	atomic_store(&e.slot, 2);
	uint64_t queued = endless_fill(&e, 200000);
	Ustack__SockRequest q;
	ustack__sock_request__init(&q);
	q.op = OP(CLOSE);
	q.sid = s2;
	uint64_t t0 = now_ms();
	int st = app_call_long(&a, &q, 10000);
	printf("drain: CLOSE behind %" PRIu64 " records, no doorbell: %s after %" PRIu64 " ms\n",
	       queued, errname(st), now_ms() - t0);
	CHECK_ST(st, 0, "CLOSE behind 200,000 records without a doorbell");

	/* 1. The whole ring full of empty datagrams for s0, then CLOSE s0 with the producer
	 * still producing for it. */
	atomic_store(&e.slot, 0);
	t0 = now_ms();
	uint64_t filled = endless_fill(&e, UINT64_MAX);
	printf("drain: %u MiB TX ring: %" PRIu64 " empty datagrams queued in %" PRIu64 " ms\n",
	       ring_mib, filled, now_ms() - t0);
	pthread_t pt;
	CHECK(pthread_create(&pt, NULL, endless_run, &e) == 0, "producer thread");
	ustack__sock_request__init(&q);
	q.op = OP(CLOSE);
	q.sid = s0;
	t0 = now_ms();
	st = app_call_long(&a, &q, 60000);
	uint64_t close_ms = now_ms() - t0;
	printf("drain: CLOSE answered %s after %" PRIu64 " ms, %" PRIu64 " records made so far\n",
	       errname(st), close_ms, (uint64_t)atomic_load(&e.made));
	CHECK_ST(st, 0, "CLOSE of the socket with the huge ring");
	/* Records for s0 keep coming: they reach no socket. */
	sleep_ms(300);
	CHECK_ST(app_op(&a, OP(GETSOCKNAME), s0, 0, 0, NULL), -EBADF, "s0 after its CLOSE");

	/* 2. The producer turns to s1; the application leaves (its session connection closes)
	 * with it still producing. */
	atomic_store(&e.slot, 1);
	sleep_ms(300);
	close(a.conn);
	a.conn = -1;
	t0 = now_ms();
	int maps = maps_settle(maps0, 30000);
	uint64_t end_ms = now_ms() - t0;
	printf("drain: session done %" PRIu64 " ms after the application left (region mappings "
	       "%d, were %d), %" PRIu64 " records made in all\n", end_ms, maps, maps0,
	       (uint64_t)atomic_load(&e.made));
	CHECK(maps == maps0, "the session of the endless producer never ended: udpd still maps "
	      "%d regions (was %d) after 30 s", maps, maps0);
	atomic_store(&e.stop, true);
	pthread_join(pt, NULL);
	atomic_store(&w.stop, true);
	pthread_join(wt, NULL);
	printf("drain: udpd answered %u STATUS requests meanwhile, the slowest in %" PRIu64
	       " ms\n", w.n, w.max_ms);
	CHECK(w.wrong == 0, "udpd did not answer STATUS as itself %u times", w.wrong);
	/* Budgeted, it answers in milliseconds; 22 M records read in one go took 0.6 s here. */
	CHECK(w.max_ms < 500, "udpd took %" PRIu64 " ms to answer STATUS while draining (the "
	      "watchdog fires at 3 s)", w.max_ms);
	app_close(&a);
	check_serving("the drain mode");
	printf("expect-eq udpd.req_close_deferred 2\n");
	printf("expect-ge udpd.tx_drop_closing 1\n");
	printf("expect-ge udpd.tx_drop_no_socket 1\n");
	printf("expect-eq udpd.sessions_drained 1\n");
	printf("expect-ge udpd.tx_drop_closed_bytes 1\n");
	return failures ? 1 : 0;
}

/* A CLOSE behind more records than it reads at once, on a quiet udpd (no other application's
 * doorbells to wake the TX round): it is answered all the same, and soon. */
static int mode_close_quiet(const char *peer_s)
{
	uint32_t peer = ip_of(peer_s);
	struct app a;
	app_must_open(&a, 1, 16u << 20, 4096);
	uint32_t sid = app_socket(&a, 0);
	CHECK_ST(app_op(&a, OP(CONNECT), sid, peer, 9, NULL), 0, "connect");
	struct endless e = {.a = &a};
	uint64_t queued = endless_fill(&e, 200000);
	Ustack__SockRequest q;
	ustack__sock_request__init(&q);
	q.op = OP(CLOSE);
	q.sid = sid;
	uint64_t t0 = now_ms();
	int st = app_call_long(&a, &q, 10000);
	uint64_t ms = now_ms() - t0;
	printf("close-quiet: CLOSE behind %" PRIu64 " records, nothing else going on: %s after %"
	       PRIu64 " ms\n", queued, errname(st), ms);
	CHECK(st == 0 && ms < 1000, "CLOSE behind %" PRIu64 " records on a quiet udpd: %s after %"
	      PRIu64 " ms", queued, errname(st), ms);
	app_close(&a);
	check_serving("a CLOSE on a quiet udpd");
	printf("expect-eq udpd.req_close_deferred 1\n");
	printf("expect-ge udpd.tx_drop_closing 1\n");
	return failures ? 1 : 0;
}

/* ======================================================================================== */
/* hugetlb                                                                                   */
/* ======================================================================================== */

static long meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long v = -1;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':')
			v = atol(line + kl + 1);
	if (f)
		fclose(f);
	return v;
}

/* A hugetlbfs memfd of one huge page that nobody else can get: mapped and touched. -1 when
 * the pool of huge pages is empty. */
static int huge_grab(size_t hp)
{
	int fd = memfd_create("abuse-huge-filler", MFD_CLOEXEC | MFD_HUGETLB);
	if (fd < 0 || ftruncate(fd, (off_t)hp) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	void *p = mmap(NULL, hp, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return -1;
	}
	memset(p, 1, hp);
	munmap(p, hp); /* the page stays: it is the file's */
	return fd;
}

/* A region in a hugetlbfs memfd (sealed against shrinking and growing, as udpd asks). Huge
 * pages are not backed the way shmem pages are: once the application punches a hole in the
 * file (no seal forbids it but F_SEAL_WRITE) and takes the freed page elsewhere, the next
 * access through udpd's mapping finds no page to fault in, and the kernel answers SIGBUS. A
 * server must refuse such a region, or survive the access. Runs only where huge pages are
 * free (test_udp_abuse.sh raises vm.nr_hugepages by two for it, and puts it back). */
static int mode_hugetlb(void)
{
	long free_pages = meminfo_kb("HugePages_Free"), hp_kb = meminfo_kb("Hugepagesize");
	if (free_pages < 2 || hp_kb <= 0) {
		printf("skip: %ld free huge pages (2 needed; the test may raise vm.nr_hugepages)\n",
		       free_pages);
		return 0;
	}
	size_t hp = (size_t)hp_kb * 1024;
	int rfd = memfd_create("abuse-huge-region", MFD_CLOEXEC | MFD_HUGETLB | MFD_ALLOW_SEALING);
	CHECK(rfd >= 0 && ftruncate(rfd, (off_t)hp) == 0, "hugetlb memfd: %s", strerror(errno));
	void *base = mmap(NULL, hp, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
	CHECK(base != MAP_FAILED, "mmap hugetlb: %s", strerror(errno));
	if (base == MAP_FAILED)
		return 1;
	CHECK(region_format(base, hp, 1, 4096, 4096) == 0, "format");
	CHECK(fcntl(rfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0, "seal: %s",
	      strerror(errno));
	munmap(base, hp);
	int ev[2] = {eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
		     eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
	struct session_hello h = {.magic = SESSION_MAGIC, .version = SESSION_VERSION,
				  .op = SESSION_NEW, .n_slots = 1};
	int fds[3] = {rfd, ev[0], ev[1]};
	int conn = -1;
	struct session_welcome w;
	int st = hello_raw(&h, sizeof(h), fds, 3, &conn, &w);
	if (st != 0) {
		printf("hugetlb: udpd refused a hugetlbfs region: %s\n", errname(st));
		close(rfd), close(ev[0]), close(ev[1]);
		check_serving("a hugetlbfs region");
		return failures ? 1 : 0;
	}
	printf("hugetlb: udpd accepted a hugetlbfs region; punching it under udpd's mapping\n");
	int grab[64];
	unsigned n_grab = 0;
	while (n_grab < 64 && (grab[n_grab] = huge_grab(hp)) >= 0)
		n_grab++;
	CHECK(fallocate(rfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)hp) == 0,
	      "punch: %s", strerror(errno));
	while (n_grab < 64 && (grab[n_grab] = huge_grab(hp)) >= 0)
		n_grab++;
	uint64_t one = 1;
	CHECK(write(ev[0], &one, sizeof(one)) == sizeof(one), "doorbell");
	sleep_ms(300);
	pid_t pid = udpd_status_pid();
	CHECK(pid == udpd_pid0,
	      "udpd (pid %d) died touching a hugetlbfs region whose page the application took "
	      "back (SIGBUS): region_attach (common/region.c) accepts any sealed file, hugetlbfs "
	      "included; now pid %d", (int)udpd_pid0, (int)pid);
	for (unsigned i = 0; i < n_grab; i++)
		close(grab[i]);
	close(conn);
	close(rfd), close(ev[0]), close(ev[1]);
	return failures ? 1 : 0;
}

/* ======================================================================================== */
/* client (libsock)                                                                          */
/* ======================================================================================== */

static volatile sig_atomic_t client_stop;
static void client_on_term(int sig)
{
	(void)sig;
	client_stop = 1;
}

static int mode_client(const char *peer_s, int port)
{
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = ip_of(peer_s)};
	struct sigaction sa = {.sa_handler = client_on_term};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int s = us_socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) {
		fprintf(stderr, "us_socket: %s\n", strerror(errno));
		return 1;
	}
	enum { MAX_SEQ = 100000 };
	static unsigned char seen[MAX_SEQ];
	long sent = 0, answered = 0, errors = 0;
	uint64_t next = now_ms(), stop_at = 0;
	printf("client ready\n");
	fflush(stdout);
	for (;;) {
		if (client_stop && !stop_at)
			stop_at = now_ms() + 1000; /* last answers */
		if (stop_at && (now_ms() >= stop_at || answered == sent))
			break;
		if (!stop_at && now_ms() >= next && sent < MAX_SEQ) {
			char buf[32];
			int len = snprintf(buf, sizeof(buf), "seq %ld", sent);
			if (us_sendto(s, buf, (size_t)len, 0, (struct sockaddr *)&peer,
				      sizeof(peer)) < 0) {
				errors++;
				fprintf(stderr, "client: sendto: %s\n", strerror(errno));
			}
			sent++;
			next += 20;
		}
		struct pollfd p = {.fd = s, .events = POLLIN};
		us_poll(&p, 1, 10);
		char in[64];
		ssize_t n;
		while ((n = us_recv(s, in, sizeof(in) - 1, MSG_DONTWAIT)) > 0) {
			in[n] = '\0';
			long q;
			if (sscanf(in, "seq %ld", &q) == 1 && q >= 0 && q < sent && !seen[q]) {
				seen[q] = 1;
				answered++;
			}
		}
	}
	printf("sent %ld answered %ld errors %ld\n", sent, answered, errors);
	us_close(s);
	return errors || answered != sent ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	inst = getenv("USTACK_INSTANCE");
	if (!inst || !ustack_instance_valid(inst)) {
		fprintf(stderr, "udp_abuse: set USTACK_INSTANCE\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && strcmp(argv[1], "client") == 0)
		return mode_client(argv[2], atoi(argv[3]));
	zctx = zmq_ctx_new();
	if (argc >= 7 && strcmp(argv[1], "isolation-b") == 0) /* no ctl: it may not be root */
		return mode_isolation_b((uint32_t)strtoul(argv[2], NULL, 10),
					strtoull(argv[3], NULL, 16), (uint16_t)atoi(argv[4]),
					argv[5], atoi(argv[6]));
	if (argc >= 4 && strcmp(argv[1], "hog-b") == 0)
		return mode_hog_b(argv[2], (unsigned)atoi(argv[3]));
	if (argc >= 2 && strcmp(argv[1], "hoard-b") == 0)
		return mode_hoard_b();
	udpd_pid0 = udpd_status_pid();
	if (udpd_pid0 <= 0) {
		fprintf(stderr, "udpd does not answer STATUS: %s\n", strerror(-udpd_pid0));
		return 1;
	}
	int rc = 2;
	if (argc >= 4 && strcmp(argv[1], "requests") == 0)
		rc = mode_requests(argv[2], argv[3]);
	else if (argc >= 2 && strcmp(argv[1], "zmtp") == 0)
		rc = mode_zmtp();
	else if (argc >= 2 && strcmp(argv[1], "handover") == 0)
		rc = mode_handover();
	else if (argc >= 4 && strcmp(argv[1], "ring") == 0)
		rc = mode_ring(argv[2], atoi(argv[3]));
	else if (argc >= 4 && strcmp(argv[1], "isolation") == 0)
		rc = mode_isolation(argv[2], atoi(argv[3]));
	else if (argc >= 2 && strcmp(argv[1], "hugetlb") == 0)
		rc = mode_hugetlb();
	else if (argc >= 4 && strcmp(argv[1], "drain") == 0)
		rc = mode_drain(argv[2], atoi(argv[3]), argc >= 5 ? (unsigned)atoi(argv[4]) : 512);
	else if (argc >= 3 && strcmp(argv[1], "close-quiet") == 0)
		rc = mode_close_quiet(argv[2]);
	else if (argc >= 4 && strcmp(argv[1], "hoard") == 0)
		rc = mode_hoard(argv[2], atoi(argv[3]));
	else if (argc >= 4 && strcmp(argv[1], "hog") == 0)
		rc = mode_hog(argv[2], atoi(argv[3]), argc >= 5 ? (unsigned)atoi(argv[4]) : 8,
			      argc >= 6 ? atoi(argv[5]) : 0);
	else
		fprintf(stderr, "usage: see the comment at the top of udp_abuse.c\n");
	/* no zmq_ctx_term: a socket left open on a failure path would make it wait forever */
	return rc;
}
