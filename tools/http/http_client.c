/* http_client: one GET over libsock (see http_client.h). */
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http_parse.h"
#include "ustack/sock.h"

#define HC_BUF (64u << 10)
_Static_assert(HC_BUF > HTTP_RESP_HEAD_MAX, "a whole response head fits the buffer");

enum hc_framing { HC_LENGTH, HC_CHUNKED, HC_TO_CLOSE };

struct hc {
	int fd;
	int timeout_ms;
	char *buf;
	size_t len;
	struct http_get_result *res;
	int out_fd;
	bool to_stdout;
	char tmp[PATH_MAX];
	const char *out_path;
};

static atomic_uint hc_tmp_seq;

__attribute__((format(printf, 2, 3))) static int hc_fail(struct hc *h, const char *fmt, ...)
{
	if (h->res->error[0])
		return -1; /* the first reason is the one worth telling */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->res->error, sizeof(h->res->error), fmt, ap);
	va_end(ap);
	return -1;
}

static double hc_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait for ev on the socket: 0, or -1 with the reason set. */
static int hc_wait(struct hc *h, short ev, const char *what)
{
	for (;;) {
		struct pollfd p = {.fd = h->fd, .events = ev};
		int n = us_poll(&p, 1, h->timeout_ms);
		if (n > 0)
			return 0;
		if (n == 0)
			return hc_fail(h, "%s: no progress for %d ms", what, h->timeout_ms);
		if (errno != EINTR)
			return hc_fail(h, "%s: poll: %s", what, strerror(errno));
	}
}

static int hc_connect(struct hc *h, const struct http_url *u)
{
	char a[INET_ADDRSTRLEN];
	struct in_addr in = {.s_addr = u->addr};
	inet_ntop(AF_INET, &in, a, sizeof(a));
	h->fd = us_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0)
		return hc_fail(h, "socket: %s", strerror(errno));
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(u->port)};
	sin.sin_addr.s_addr = u->addr;
	if (us_connect(h->fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return hc_fail(h, "connect to %s:%u: %s", a, u->port, strerror(errno));
	if (hc_wait(h, POLLOUT, "connect") < 0)
		return -1;
	int err = 0;
	socklen_t el = sizeof(err);
	if (us_getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return hc_fail(h, "connect: SO_ERROR: %s", strerror(errno));
	if (err)
		return hc_fail(h, "connect to %s:%u: %s", a, u->port, strerror(err));
	return 0;
}

static int hc_send_all(struct hc *h, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t s = us_send(h->fd, p, n, MSG_NOSIGNAL);
		if (s > 0) {
			p += s;
			n -= (size_t)s;
			continue;
		}
		if (s < 0 && errno == EINTR)
			continue;
		if (s < 0 && errno == EAGAIN) {
			if (hc_wait(h, POLLOUT, "sending the request") < 0)
				return -1;
			continue;
		}
		return hc_fail(h, "sending the request: %s", strerror(errno));
	}
	return 0;
}

/* Receive into h->buf[h->len ..) at most room bytes: > 0 bytes, 0 at the end of the stream,
 * -1 on error (reason set). */
static ssize_t hc_recv(struct hc *h, size_t room, const char *what)
{
	for (;;) {
		ssize_t n = us_recv(h->fd, h->buf + h->len, room, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return hc_fail(h, "%s: %s", what, strerror(errno));
		if (hc_wait(h, POLLIN, what) < 0)
			return -1;
	}
}

static int hc_write(struct hc *h, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(h->out_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return hc_fail(h, "writing %s: %s", h->to_stdout ? "stdout" : h->tmp,
				       w < 0 ? strerror(errno) : "no progress");
		p += w;
		n -= (size_t)w;
		h->res->bytes += (uint64_t)w;
	}
	return 0;
}

/* Read a final response head; leaves the body's first bytes at the front of buf. */
static int hc_read_head(struct hc *h, struct http_response *resp)
{
	for (;;) {
		size_t end = http_head_end(h->buf, h->len);
		if (!end) {
			if (h->len >= HTTP_RESP_HEAD_MAX)
				return hc_fail(h, "response head larger than %u bytes",
					       HTTP_RESP_HEAD_MAX);
			ssize_t n = hc_recv(h, HC_BUF - h->len, "reading the response");
			if (n < 0)
				return -1;
			if (n == 0)
				return hc_fail(h, h->len ? "connection closed inside the response head"
							 : "connection closed without a response");
			h->len += (size_t)n;
			continue;
		}
		if (end > HTTP_RESP_HEAD_MAX)
			return hc_fail(h, "response head larger than %u bytes", HTTP_RESP_HEAD_MAX);
		const char *why;
		if (http_parse_response(h->buf, end, resp, &why) < 0)
			return hc_fail(h, "bad response: %s", why);
		memmove(h->buf, h->buf + end, h->len - end);
		h->len -= end;
		h->res->status = resp->status;
		if (resp->status >= 200)
			return 0;
		if (resp->status == 101)
			return hc_fail(h, "server switched protocols (101)");
		/* 1xx interim (100 Continue, 103 Early Hints): the final one follows */
	}
}

static int hc_open_output(struct hc *h)
{
	if (h->to_stdout) {
		h->out_fd = STDOUT_FILENO;
		return 0;
	}
	for (int tries = 0; tries < 16; tries++) {
		int n = snprintf(h->tmp, sizeof(h->tmp), "%s.part-%d-%u", h->out_path, (int)getpid(),
				 atomic_fetch_add(&hc_tmp_seq, 1));
		if (n < 0 || (size_t)n >= sizeof(h->tmp))
			return hc_fail(h, "%s: name too long", h->out_path);
		h->out_fd = open(h->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (h->out_fd >= 0)
			return 0;
		int e = errno;
		char name[PATH_MAX];
		snprintf(name, sizeof(name), "%s", h->tmp);
		h->tmp[0] = '\0'; /* not ours: never to be removed */
		if (e != EEXIST)
			return hc_fail(h, "%s: %s", name, strerror(e));
	}
	return hc_fail(h, "%s: cannot make a temporary file beside it", h->out_path);
}

static int hc_body_length(struct hc *h, uint64_t length)
{
	uint64_t left = length;
	for (;;) {
		size_t take = h->len < left ? h->len : (size_t)left;
		if (take && hc_write(h, h->buf, take) < 0)
			return -1;
		left -= take;
		/* bytes past the length are not this body: ignored (only one request was sent) */
		h->len = 0;
		if (left == 0)
			return 0;
		ssize_t n = hc_recv(h, left < HC_BUF ? (size_t)left : HC_BUF, "reading the body");
		if (n < 0)
			return -1;
		if (n == 0)
			return hc_fail(h, "connection closed after %llu of %llu body bytes",
				       (unsigned long long)(length - left),
				       (unsigned long long)length);
		h->len = (size_t)n;
	}
}

static int hc_body_chunked(struct hc *h)
{
	struct http_chunked c;
	http_chunked_init(&c);
	for (;;) {
		size_t out = 0;
		const char *why;
		ssize_t used = http_chunked_decode(&c, h->buf, h->len, &out, &why);
		if (used < 0)
			return hc_fail(h, "bad chunked body: %s", why);
		if (out && hc_write(h, h->buf, out) < 0)
			return -1;
		h->len = 0;
		if (c.state == HTTP_CHUNK_DONE)
			return 0;
		ssize_t n = hc_recv(h, HC_BUF, "reading the body");
		if (n < 0)
			return -1;
		if (n == 0)
			return hc_fail(h, "connection closed inside the chunked body");
		h->len = (size_t)n;
	}
}

static int hc_body_to_close(struct hc *h)
{
	for (;;) {
		if (h->len && hc_write(h, h->buf, h->len) < 0)
			return -1;
		h->len = 0;
		ssize_t n = hc_recv(h, HC_BUF, "reading the body");
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		h->len = (size_t)n;
	}
}

int http_get(const struct http_get_opts *o, struct http_get_result *res)
{
	memset(res, 0, sizeof(*res));
	struct hc h = {.fd = -1, .out_fd = -1, .res = res, .out_path = o->out_path};
	h.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : HTTP_CLIENT_TIMEOUT_MS;
	h.to_stdout = strcmp(o->out_path, "-") == 0;
	struct http_url u;
	int rc = http_url_parse(o->url, &u);
	if (rc < 0) {
		hc_fail(&h, "bad URL '%s': %s", o->url,
			rc == -ENAMETOOLONG ? "path too long"
					    : "expected http://A.B.C.D[:port]/path (no spaces)");
		return -1;
	}
	h.buf = malloc(HC_BUF);
	if (!h.buf) {
		hc_fail(&h, "out of memory");
		return -1;
	}
	double t0 = hc_now();
	int ok = -1;
	struct http_response resp;
	char req[HTTP_TARGET_MAX + 256];
	int rl = snprintf(req, sizeof(req),
			  "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ustack-http/1\r\n"
			  "Accept: */*\r\nConnection: close\r\n\r\n",
			  u.target, u.host);
	if (hc_connect(&h, &u) < 0 || hc_send_all(&h, req, (size_t)rl) < 0 ||
	    hc_read_head(&h, &resp) < 0)
		goto out;
	if (resp.status != 200) {
		hc_fail(&h, "server answered %u %s", resp.status, resp.reason);
		goto out;
	}
	if (hc_open_output(&h) < 0)
		goto out;
	if (resp.chunked)
		rc = hc_body_chunked(&h);
	else if (resp.has_content_length)
		rc = hc_body_length(&h, resp.content_length);
	else
		rc = hc_body_to_close(&h);
	if (rc < 0)
		goto out;
	if (!h.to_stdout) {
		if (close(h.out_fd) < 0) {
			h.out_fd = -1;
			hc_fail(&h, "writing %s: %s", h.tmp, strerror(errno));
			goto out;
		}
		h.out_fd = -1;
		if (rename(h.tmp, o->out_path) < 0) {
			hc_fail(&h, "rename %s to %s: %s", h.tmp, o->out_path, strerror(errno));
			goto out;
		}
		h.tmp[0] = '\0';
	}
	ok = 0;
out:
	res->seconds = hc_now() - t0;
	if (!h.to_stdout && h.out_fd >= 0)
		close(h.out_fd);
	if (!h.to_stdout && h.tmp[0])
		unlink(h.tmp);
	if (h.fd >= 0)
		us_close(h.fd);
	free(h.buf);
	return ok;
}
