/* http_server: the poll loop and connection state machine of `ustack-http serve` (see
 * http_server.h for the design). */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "http_parse.h"
#include "ustack/sock.h"

#define HS_OUT_BUF (64u << 10)
#define HS_ACCEPT_BUDGET 16u      /* connections accepted per loop pass */
#define HS_READ_BUDGET 4u         /* receive calls per connection per pass */
#define HS_BACKLOG 128
#define HS_ACCEPT_PAUSE_MS 100    /* after accept fails for want of sockets */
#define HS_REOPEN_MS 200          /* between attempts to open a lost listener again */
#define HS_POLL_MAX_MS 1000

enum hs_state {
	HS_HEAD = 0,
	HS_BODY,
	HS_SEND,
	HS_LINGER,
	HS_STATE_COUNT
};

struct hs_conn {
	int fd;
	enum hs_state state;
	char peer[INET_ADDRSTRLEN + 8];
	int64_t deadline;          /* ms, monotonic */
	/* input: bytes [in_off, in_len) are not processed yet */
	char in[HTTP_HEAD_MAX];
	size_t in_len;
	size_t in_off;
	bool got_bytes;            /* something of the current request has arrived */
	bool peer_eof;
	uint64_t body_left;        /* HS_BODY: request body bytes still to drop */
	uint64_t lingered;         /* HS_LINGER: bytes dropped */
	struct http_request req;   /* the request being answered */
	/* output */
	char *out;                 /* HS_OUT_BUF */
	size_t out_off;
	size_t out_len;
	int file_fd;
	uint64_t file_off;
	uint64_t file_left;        /* body bytes not yet read from the file */
	unsigned status;
	uint64_t resp_body;        /* the response's body length, for the log */
	bool close_after;
};

struct http_server {
	struct http_server_config cfg;
	int root_fd;
	int lfd;                   /* listener, -1 while lost */
	int64_t accept_paused_until;
	int64_t reopen_at;
	struct hs_conn **conns;    /* [cfg.max_conns], NULL = free */
	unsigned n_conns;
	struct pollfd *pfd;        /* 2 + max_conns */
	unsigned *pfd_conn;        /* pfd index -> conn index */
	struct http_server_stats st;
};

static int64_t hs_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- listener ---------------------------------------------------------------------------- */

static int hs_listen(uint16_t port)
{
	int fd = us_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	us_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_ANY);
	if (us_bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || us_listen(fd, HS_BACKLOG) < 0) {
		int e = errno;
		us_close(fd);
		return -e;
	}
	return fd;
}

int http_server_open(const struct http_server_config *cfg, struct http_server **out)
{
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	if (!s->cfg.max_conns)
		s->cfg.max_conns = HTTP_SERVER_CONNS_DEFAULT;
	if (s->cfg.idle_ms <= 0)
		s->cfg.idle_ms = HTTP_SERVER_IDLE_MS;
	if (s->cfg.send_ms <= 0)
		s->cfg.send_ms = HTTP_SERVER_SEND_MS;
	s->lfd = -1;
	s->root_fd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0) {
		int e = errno;
		fprintf(stderr, "ustack-http: root %s: %s\n", cfg->root, strerror(e));
		free(s);
		return -e;
	}
	s->conns = calloc(s->cfg.max_conns, sizeof(*s->conns));
	s->pfd = calloc(s->cfg.max_conns + 2, sizeof(*s->pfd));
	s->pfd_conn = calloc(s->cfg.max_conns + 2, sizeof(*s->pfd_conn));
	if (!s->conns || !s->pfd || !s->pfd_conn) {
		http_server_close(&s);
		return -ENOMEM;
	}
	int fd = hs_listen(cfg->port);
	if (fd < 0) {
		fprintf(stderr, "ustack-http: listen on port %u: %s\n", cfg->port, strerror(-fd));
		http_server_close(&s);
		return fd;
	}
	s->lfd = fd;
	*out = s;
	return 0;
}

const struct http_server_stats *http_server_stats(const struct http_server *s)
{
	return &s->st;
}

/* --- connections ------------------------------------------------------------------------- */

static void hs_conn_free(struct http_server *s, unsigned i)
{
	struct hs_conn *c = s->conns[i];
	if (!c)
		return;
	if (c->file_fd >= 0)
		close(c->file_fd);
	us_close(c->fd);
	free(c->out);
	free(c);
	s->conns[i] = NULL;
	s->n_conns--;
	s->st.conns_closed++;
}

static void hs_accept(struct http_server *s, int64_t now)
{
	for (unsigned k = 0; k < HS_ACCEPT_BUDGET && s->n_conns < s->cfg.max_conns; k++) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		int fd = us_accept4(s->lfd, (struct sockaddr *)&peer, &pl,
				    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (errno == ECONNABORTED && s->lfd >= 0) {
				/* Linux: a connection reset in the queue; libsock: possibly the
				 * listener itself lost (its poll says POLLERR then) */
				s->st.accept_errors++;
				continue;
			}
			/* EMFILE/ENFILE/ENOBUFS: wait for a socket to be freed rather than spin */
			s->st.accept_errors++;
			s->accept_paused_until = now + HS_ACCEPT_PAUSE_MS;
			return;
		}
		unsigned i = 0;
		while (s->conns[i])
			i++;
		struct hs_conn *c = calloc(1, sizeof(*c));
		char *out = malloc(HS_OUT_BUF);
		if (!c || !out) {
			free(c);
			free(out);
			us_close(fd);
			s->st.accept_errors++;
			return;
		}
		c->fd = fd;
		c->out = out;
		c->file_fd = -1;
		c->state = HS_HEAD;
		c->deadline = now + s->cfg.idle_ms;
		char a[INET_ADDRSTRLEN] = "?";
		inet_ntop(AF_INET, &peer.sin_addr, a, sizeof(a));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", a, ntohs(peer.sin_port));
		/* responses go out whole, no waiting on Nagle for a response's last segment */
		int one = 1;
		us_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s->conns[i] = c;
		s->n_conns++;
		s->st.conns_accepted++;
	}
}

/* --- responses --------------------------------------------------------------------------- */

static void hs_count_status(struct http_server *s, unsigned status)
{
	if (status < 300)
		s->st.resp_2xx++;
	else if (status < 400)
		s->st.resp_3xx++;
	else if (status < 500)
		s->st.resp_4xx++;
	else
		s->st.resp_5xx++;
}

/* Append printf output to the response head; false when it does not fit. */
__attribute__((format(printf, 2, 3))) static bool hs_put(struct hs_conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->out + c->out_len, HS_OUT_BUF - c->out_len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= HS_OUT_BUF - c->out_len)
		return false;
	c->out_len += (size_t)n;
	return true;
}

/* The status line and the fields every response has. */
static void hs_head(struct hs_conn *c, unsigned status, const char *type, uint64_t length)
{
	char date[32];
	http_date((int64_t)time(NULL), date);
	c->out_off = 0;
	c->out_len = 0;
	c->status = status;
	hs_put(c, "HTTP/1.1 %u %s\r\nDate: %s\r\nServer: ustack-http\r\n", status,
	       http_reason(status), date);
	if (type)
		hs_put(c, "Content-Type: %s\r\n", type);
	hs_put(c, "Content-Length: %llu\r\n", (unsigned long long)length);
	if (c->close_after)
		hs_put(c, "Connection: close\r\n");
	else if (c->req.version_minor == 0)
		hs_put(c, "Connection: keep-alive\r\n"); /* HTTP/1.0 asked for it */
}

static void hs_end_head(struct hs_conn *c)
{
	hs_put(c, "\r\n");
}

/* A response with a short text body (errors, redirects). close: the connection ends after
 * it (the request's framing cannot be trusted, or the client asked). */
static void hs_respond_text(struct http_server *s, struct hs_conn *c, unsigned status,
			    bool close, const char *extra_field)
{
	char body[160];
	int bl = snprintf(body, sizeof(body), "%u %s\n", status, http_reason(status));
	c->close_after = close || !c->req.keep_alive;
	hs_head(c, status, "text/plain", (uint64_t)bl);
	if (extra_field)
		hs_put(c, "%s\r\n", extra_field);
	hs_end_head(c);
	if (c->req.method != HTTP_METHOD_HEAD)
		hs_put(c, "%s", body);
	c->resp_body = c->req.method == HTTP_METHOD_HEAD ? 0 : (uint64_t)bl;
	c->file_left = 0;
	c->state = HS_SEND;
	hs_count_status(s, status);
}

static int hs_openat2(int dirfd, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) {
		/* before Linux 5.6: the parser's ".." refusal is the guard; no symlinks followed
		 * at the last component at least */
		fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	}
	return (int)fd;
}

/* Percent-encode a decoded path for a Location field: unreserved characters and '/' stay. */
static void hs_encode_path(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *in && o + 4 < size; in++) {
		unsigned char ch = (unsigned char)*in;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("-._~/", ch)) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

/* Answer the parsed request in c->req. */
static void hs_respond(struct http_server *s, struct hs_conn *c)
{
	struct http_request *r = &c->req;
	if (r->method == HTTP_METHOD_OTHER) {
		hs_respond_text(s, c, 405, false, "Allow: GET, HEAD");
		return;
	}
	int fd = hs_openat2(s->root_fd, r->path[0] ? r->path : ".");
	struct stat sb;
	if (fd >= 0 && fstat(fd, &sb) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0 && S_ISDIR(sb.st_mode)) {
		if (!r->trailing_slash) {
			char enc[3 * HTTP_TARGET_MAX + 2], loc[sizeof(enc) + 16];
			hs_encode_path(r->path, enc, sizeof(enc));
			snprintf(loc, sizeof(loc), "Location: /%s/", enc);
			close(fd);
			hs_respond_text(s, c, 301, false, loc);
			return;
		}
		int idx = hs_openat2(fd, "index.html");
		close(fd);
		fd = idx;
		if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
			if (fd >= 0)
				close(fd);
			hs_respond_text(s, c, 403, false, NULL); /* no listings */
			return;
		}
	}
	if (fd < 0) {
		int e = errno;
		if (e == EXDEV) /* RESOLVE_BENEATH: a symlink out of the root */
			s->st.traversal_refused++;
		unsigned st = e == EACCES || e == EPERM	  ? 403
			      : e == EMFILE || e == ENFILE ? 503
							   : 404;
		hs_respond_text(s, c, st, false, NULL);
		return;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		hs_respond_text(s, c, 403, false, NULL);
		return;
	}
	c->close_after = !r->keep_alive;
	hs_head(c, 200, http_content_type(r->path[0] ? r->path : "index.html"),
		(uint64_t)sb.st_size);
	char lm[32];
	http_date((int64_t)sb.st_mtime, lm);
	hs_put(c, "Last-Modified: %s\r\n", lm);
	hs_end_head(c);
	hs_count_status(s, 200);
	c->state = HS_SEND;
	c->resp_body = 0;
	if (r->method == HTTP_METHOD_HEAD || sb.st_size == 0) {
		close(fd);
		return;
	}
	c->file_fd = fd;
	c->file_off = 0;
	c->file_left = (uint64_t)sb.st_size;
	c->resp_body = (uint64_t)sb.st_size;
}

/* The head in c->in[in_off, in_off + head_len) is complete: parse it and go on to the body,
 * or answer. */
static void hs_take_head(struct http_server *s, struct hs_conn *c, size_t head_len)
{
	const char *why;
	int status = http_parse_request(c->in + c->in_off, head_len, &c->req, &why);
	c->in_off += head_len;
	s->st.requests++;
	if (status) {
		s->st.bad_requests++;
		if (strcmp(why, "path above the root") == 0)
			s->st.traversal_refused++;
		if (c->req.target[0] == '\0')
			snprintf(c->req.target, sizeof(c->req.target), "-");
		c->req.keep_alive = false;
		hs_respond_text(s, c, (unsigned)status, true, NULL);
		return;
	}
	/* A body we do not want: of unknown length (chunked), or larger than we drop. */
	if (c->req.chunked || c->req.content_length > HTTP_SERVER_BODY_MAX) {
		hs_respond_text(s, c, 413, true, NULL);
		return;
	}
	if (c->req.content_length) {
		c->body_left = c->req.content_length;
		c->state = HS_BODY;
		return;
	}
	hs_respond(s, c);
}

/* Drop request body bytes already buffered; answer once all are in. */
static void hs_body_progress(struct http_server *s, struct hs_conn *c)
{
	size_t have = c->in_len - c->in_off;
	size_t take = have < c->body_left ? have : (size_t)c->body_left;
	c->in_off += take;
	c->body_left -= take;
	if (c->body_left == 0)
		hs_respond(s, c);
}

/* Move unprocessed input to the front of the buffer. */
static void hs_compact(struct hs_conn *c)
{
	if (c->in_off == 0)
		return;
	memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
	c->in_len -= c->in_off;
	c->in_off = 0;
}

/* Look at buffered input in HS_HEAD / HS_BODY: a complete head is taken, a full buffer without
 * one answered 431. */
static void hs_process_input(struct http_server *s, struct hs_conn *c)
{
	if (c->state == HS_BODY) {
		hs_body_progress(s, c);
		return;
	}
	if (c->state != HS_HEAD)
		return;
	hs_compact(c);
	size_t end = http_head_end(c->in, c->in_len);
	if (end) {
		hs_take_head(s, c, end);
		if (c->state == HS_BODY)
			hs_body_progress(s, c);
		return;
	}
	if (c->in_len == sizeof(c->in)) {
		s->st.requests++;
		s->st.bad_requests++;
		memset(&c->req, 0, sizeof(c->req));
		snprintf(c->req.target, sizeof(c->req.target), "-");
		hs_respond_text(s, c, 431, true, NULL);
	}
}

static void hs_log(struct http_server *s, const struct hs_conn *c)
{
	if (!s->cfg.log)
		return;
	fprintf(s->cfg.log, "%s \"%s %s HTTP/1.%u\" %u %llu\n", c->peer,
		c->req.method_name[0] ? c->req.method_name : "-", c->req.target,
		c->req.version_minor, c->status, (unsigned long long)c->resp_body);
}

/* The response is out: close, or get ready for the next request (maybe already buffered). */
static void hs_response_done(struct http_server *s, struct hs_conn *c, int64_t now)
{
	hs_log(s, c);
	if (c->file_fd >= 0) {
		close(c->file_fd);
		c->file_fd = -1;
	}
	if (c->close_after) {
		us_shutdown(c->fd, SHUT_WR);
		c->state = HS_LINGER;
		c->deadline = now + HTTP_SERVER_LINGER_MS;
		c->in_len = c->in_off = 0;
		return;
	}
	c->state = HS_HEAD;
	c->got_bytes = c->in_len > c->in_off;
	c->deadline = now + s->cfg.idle_ms;
	memset(&c->req, 0, sizeof(c->req));
	hs_process_input(s, c);
}

/* Receive into the input buffer. 1 read something, 0 nothing now, -1 the connection is over
 * (EOF or error: close it). */
static int hs_recv(struct http_server *s, struct hs_conn *c)
{
	if (c->state == HS_LINGER || (c->state == HS_BODY && c->in_off == c->in_len)) {
		/* bytes nobody keeps: read over the buffer */
		c->in_len = c->in_off = 0;
	} else {
		hs_compact(c);
	}
	size_t room = sizeof(c->in) - c->in_len;
	if (room == 0)
		return 0;
	ssize_t n = us_recv(c->fd, c->in + c->in_len, room, 0);
	if (n > 0) {
		c->in_len += (size_t)n;
		c->got_bytes = true;
		if (c->state == HS_LINGER) {
			c->lingered += (uint64_t)n;
			c->in_len = 0;
			if (c->lingered > HTTP_SERVER_LINGER_MAX)
				return -1;
		}
		return 1;
	}
	if (n == 0) {
		c->peer_eof = true;
		return -1;
	}
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	if (c->state != HS_LINGER)
		s->st.conns_reset++;
	return -1;
}

/* Send what is pending, refilling from the file. 0 while the connection lives, -1 to close. */
static int hs_send(struct http_server *s, struct hs_conn *c, int64_t now)
{
	size_t budget = HTTP_SERVER_SEND_BUDGET;
	while (budget > 0) {
		if (c->out_off == c->out_len) {
			if (c->file_left == 0) {
				hs_response_done(s, c, now);
				return 0;
			}
			size_t want = c->file_left < HS_OUT_BUF ? (size_t)c->file_left : HS_OUT_BUF;
			ssize_t n = pread(c->file_fd, c->out, want, (off_t)c->file_off);
			if (n <= 0) {
				/* the file shrank or failed under us: the promised length cannot be
				 * kept, so the connection ends (the client sees a short body) */
				s->st.file_errors++;
				return -1;
			}
			c->out_off = 0;
			c->out_len = (size_t)n;
			c->file_off += (uint64_t)n;
			c->file_left -= (uint64_t)n;
			s->st.body_bytes += (uint64_t)n;
		}
		size_t len = c->out_len - c->out_off;
		if (len > budget)
			len = budget;
		ssize_t n = us_send(c->fd, c->out + c->out_off, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			s->st.conns_reset++;
			return -1;
		}
		c->out_off += (size_t)n;
		budget -= (size_t)n;
		c->deadline = now + s->cfg.send_ms;
	}
	return 0;
}

/* One connection's turn after poll said revents. 0, or -1 to close it. */
static int hs_conn_io(struct http_server *s, struct hs_conn *c, short revents, int64_t now)
{
	if (c->state == HS_SEND) {
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			return hs_send(s, c, now);
		return 0;
	}
	if (!(revents & (POLLIN | POLLERR | POLLHUP)))
		return 0;
	for (unsigned k = 0; k < HS_READ_BUDGET; k++) {
		int rc = hs_recv(s, c);
		if (rc < 0) {
			/* EOF with a request half received: the client gave up; nothing to answer */
			return -1;
		}
		if (rc == 0)
			break;
		if (c->state == HS_LINGER)
			continue;
		hs_process_input(s, c);
		if (c->state == HS_SEND)
			return hs_send(s, c, now);
	}
	return 0;
}

static void hs_timeouts(struct http_server *s, int64_t now)
{
	for (unsigned i = 0; i < s->cfg.max_conns; i++) {
		struct hs_conn *c = s->conns[i];
		if (!c || now < c->deadline)
			continue;
		if (c->state == HS_LINGER) {
			hs_conn_free(s, i);
			continue;
		}
		s->st.conns_timed_out++;
		if (c->state == HS_HEAD && c->got_bytes) {
			/* a request that never completed: say so, then close (RFC 9110 §15.5.9);
			 * the answer has a short time to go out */
			memset(&c->req, 0, sizeof(c->req));
			snprintf(c->req.target, sizeof(c->req.target), "-");
			s->st.requests++;
			hs_respond_text(s, c, 408, true, NULL);
			c->deadline = now + HTTP_SERVER_LINGER_MS;
			continue;
		}
		hs_conn_free(s, i);
	}
}

/* The stack lost the listener (it restarted without its state): open it again, keeping the
 * connections. */
static void hs_listener_lost(struct http_server *s, int64_t now)
{
	if (s->lfd >= 0) {
		us_close(s->lfd);
		s->lfd = -1;
		fprintf(stderr, "ustack-http: the stack lost the listener; opening it again\n");
	}
	s->reopen_at = now + HS_REOPEN_MS;
}

static void hs_try_reopen(struct http_server *s, int64_t now)
{
	if (s->lfd >= 0 || now < s->reopen_at)
		return;
	int fd = hs_listen(s->cfg.port);
	if (fd < 0) {
		s->reopen_at = now + HS_REOPEN_MS;
		return;
	}
	s->lfd = fd;
	s->st.listener_reopened++;
	fprintf(stderr, "ustack-http: port %u listening again\n", s->cfg.port);
}

int http_server_run(struct http_server *s)
{
	for (;;) {
		int64_t now = hs_now_ms();
		hs_try_reopen(s, now);
		unsigned n = 0;
		if (s->cfg.stop_fd >= 0)
			s->pfd[n++] = (struct pollfd){.fd = s->cfg.stop_fd, .events = POLLIN};
		int lidx = -1;
		if (s->lfd >= 0 && s->n_conns < s->cfg.max_conns && now >= s->accept_paused_until) {
			lidx = (int)n;
			s->pfd[n++] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
		}
		int64_t next = now + HS_POLL_MAX_MS;
		if (s->accept_paused_until > now && s->accept_paused_until < next)
			next = s->accept_paused_until;
		if (s->lfd < 0 && s->reopen_at < next)
			next = s->reopen_at;
		unsigned first_conn = n;
		for (unsigned i = 0; i < s->cfg.max_conns; i++) {
			struct hs_conn *c = s->conns[i];
			if (!c)
				continue;
			s->pfd_conn[n] = i;
			s->pfd[n++] = (struct pollfd){
				.fd = c->fd, .events = c->state == HS_SEND ? POLLOUT : POLLIN};
			if (c->deadline < next)
				next = c->deadline;
		}
		int timeout = next > now ? (int)(next - now) : 0;
		int rc = us_poll(s->pfd, n, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			fprintf(stderr, "ustack-http: poll: %s\n", strerror(e));
			return -e;
		}
		now = hs_now_ms();
		if (s->cfg.stop_fd >= 0 && s->pfd[0].revents)
			return 0;
		for (unsigned k = first_conn; k < n; k++) {
			if (!s->pfd[k].revents)
				continue;
			unsigned i = s->pfd_conn[k];
			struct hs_conn *c = s->conns[i];
			if (c && hs_conn_io(s, c, s->pfd[k].revents, now) < 0)
				hs_conn_free(s, i);
		}
		if (lidx >= 0 && s->pfd[lidx].revents) {
			if (s->pfd[lidx].revents & (POLLERR | POLLHUP | POLLNVAL))
				hs_listener_lost(s, now);
			else
				hs_accept(s, now);
		}
		hs_timeouts(s, now);
	}
}

void http_server_close(struct http_server **sp)
{
	struct http_server *s = *sp;
	if (!s)
		return;
	if (s->conns)
		for (unsigned i = 0; i < s->cfg.max_conns; i++)
			hs_conn_free(s, i);
	if (s->lfd >= 0)
		us_close(s->lfd);
	if (s->root_fd >= 0)
		close(s->root_fd);
	free(s->conns);
	free(s->pfd);
	free(s->pfd_conn);
	free(s);
	*sp = NULL;
}
