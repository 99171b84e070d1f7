/* Unit tests: ustack-http (server and client) and ustack-echo --tcp over libsock stream
 * sockets, served by libsock's fake tcpd (libsock/fake_tcpd.c: the stream contract without
 * TCP, both ends of every connection in this process). What they prove is the tools' own
 * logic, end to end through real libsock calls: files of several sizes byte-exact, every
 * error status on the wire, keep-alive and pipelining, bodies dropped, limits, traversal and
 * symlinks refused, concurrent clients, the client's framing (Content-Length, chunked, to the
 * close, 1xx, a server that keeps the connection open), and echo under concurrent clients.
 * tests/integration/test_tcp_tools.sh runs the same tools against the kernel through tcpd. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "echo.h"
#include "fake_tcpd.h"
#include "helper_check.h"
#include "http_client.h"
#include "http_parse.h"
#include "http_server.h"
#include "ustack/sock.h"

#define PORT_HTTP 8080
#define PORT_ODD 9000 /* .. 9999: each odd server its own port (see odd_fetch) */
#define PORT_ECHO 7007

static char run_dir[64];
static char root[128];     /* served */
static char outside[160];  /* a file beside the root, reached only through a symlink */
static char out_dir[128];  /* where the client writes */
static struct fake_tcpd *ft;

/* --- fixture ----------------------------------------------------------------------------- */

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
}

static void write_file(const char *dir, const char *name, size_t size, unsigned seed)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unsigned char *b = malloc(size ? size : 1);
	fill(b, size, seed);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(b, 1, size, f), size);
	fclose(f);
	free(b);
}

/* The file's bytes, *n its size (NULL if it does not exist). */
static unsigned char *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *b = malloc((size_t)sz + 1);
	ck_assert_uint_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	*n = (size_t)sz;
	return b;
}

static const struct {
	const char *name;
	size_t size;
} files[] = {
	{"empty.bin", 0},       {"one.txt", 1},          {"page.html", 1000},
	{"odd.bin", 65537},     {"big.bin", (1u << 20) + 7},
};

static void setup(void)
{
	snprintf(run_dir, sizeof(run_dir), "/tmp/ustack-tools-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(run_dir));
	setenv("USTACK_RUNTIME_DIR", run_dir, 1);
	snprintf(root, sizeof(root), "%s/root", run_dir);
	snprintf(out_dir, sizeof(out_dir), "%s/out", run_dir);
	snprintf(outside, sizeof(outside), "%s/secret.txt", run_dir);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	ck_assert_int_eq(mkdir(out_dir, 0755), 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		write_file(root, files[i].name, files[i].size, (unsigned)i + 1);
	char p[256];
	snprintf(p, sizeof(p), "%s/site", root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	write_file(p, "index.html", 321, 99);
	snprintf(p, sizeof(p), "%s/noindex", root);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	write_file(run_dir, "secret.txt", 10, 7);
	snprintf(p, sizeof(p), "%s/escape", root);
	ck_assert_int_eq(symlink(outside, p), 0);
	snprintf(p, sizeof(p), "%s/inside", root);
	ck_assert_int_eq(symlink("page.html", p), 0);
	snprintf(p, sizeof(p), "%s/fifo", root);
	ck_assert_int_eq(mkfifo(p, 0644), 0);

	ck_assert_int_eq(us_set_instance("fake"), 0);
	ft = fake_tcpd_start("fake");
	ck_assert_ptr_nonnull(ft);
	signal(SIGPIPE, SIG_IGN);
}

static void teardown(void)
{
	fake_tcpd_stop(&ft);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", run_dir);
	if (system(cmd) != 0) {
		/* left behind in /tmp: harmless */
	}
}

/* --- the server on a thread -------------------------------------------------------------- */

struct srv {
	struct http_server *s;
	pthread_t th;
	int stop[2];
	int rc;
};

static void *srv_main(void *arg)
{
	struct srv *v = arg;
	v->rc = http_server_run(v->s);
	return NULL;
}

static void srv_start(struct srv *v, int idle_ms)
{
	ck_assert_int_eq(pipe(v->stop), 0);
	struct http_server_config cfg = {
		.port = PORT_HTTP, .root = root, .stop_fd = v->stop[0], .idle_ms = idle_ms,
		.max_conns = 24,
	};
	ck_assert_int_eq(http_server_open(&cfg, &v->s), 0);
	ck_assert_int_eq(pthread_create(&v->th, NULL, srv_main, v), 0);
}

static const struct http_server_stats *srv_stop(struct srv *v)
{
	ck_assert_int_eq(write(v->stop[1], "x", 1), 1);
	pthread_join(v->th, NULL);
	ck_assert_int_eq(v->rc, 0);
	close(v->stop[0]);
	close(v->stop[1]);
	return http_server_stats(v->s);
}

static int fetch(const char *path, const char *out, struct http_get_result *r)
{
	char url[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", PORT_HTTP, path);
	struct http_get_opts o = {.url = url, .out_path = out, .timeout_ms = 5000};
	return http_get(&o, r);
}

static void expect_same(const char *a, const char *b)
{
	size_t na, nb;
	unsigned char *x = read_file(a, &na), *y = read_file(b, &nb);
	ck_assert_msg(x && y, "%s or %s missing", a, b);
	ck_assert_uint_eq(na, nb);
	ck_assert(memcmp(x, y, na) == 0);
	free(x);
	free(y);
}

START_TEST(get_files_byte_exact)
{
	struct srv v;
	srv_start(&v, 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[64], out[256], src[256];
		snprintf(path, sizeof(path), "/%s", files[i].name);
		snprintf(out, sizeof(out), "%s/%s", out_dir, files[i].name);
		snprintf(src, sizeof(src), "%s/%s", root, files[i].name);
		struct http_get_result r;
		ck_assert_msg(fetch(path, out, &r) == 0, "%s: %s", path, r.error);
		ck_assert_uint_eq(r.status, 200);
		ck_assert_uint_eq(r.bytes, files[i].size);
		expect_same(src, out);
	}
	/* a directory with a slash serves its index.html; a symlink inside the root is followed */
	char out[256], src[256];
	struct http_get_result r;
	snprintf(out, sizeof(out), "%s/index", out_dir);
	snprintf(src, sizeof(src), "%s/site/index.html", root);
	ck_assert_msg(fetch("/site/", out, &r) == 0, "%s", r.error);
	expect_same(src, out);
	snprintf(src, sizeof(src), "%s/page.html", root);
	ck_assert_msg(fetch("/inside", out, &r) == 0, "%s", r.error);
	expect_same(src, out);
	/* percent-encoded and dot segments that stay inside the root */
	ck_assert_msg(fetch("/site/../%70age.html", out, &r) == 0, "%s", r.error);
	expect_same(src, out);
	const struct http_server_stats *st = srv_stop(&v);
	ck_assert_uint_eq(st->resp_2xx, sizeof(files) / sizeof(files[0]) + 3);
	ck_assert_uint_eq(st->resp_4xx, 0);
	ck_assert_uint_eq(st->body_bytes, 1000 + 1 + 65537 + (1u << 20) + 7 + 321 + 2000);
	http_server_close(&v.s);
}
END_TEST

START_TEST(get_errors_leave_no_file)
{
	struct srv v;
	srv_start(&v, 0);
	static const struct {
		const char *path;
		unsigned status;
	} cases[] = {
		{"/missing", 404},   {"/noindex/", 403}, {"/site", 301},
		{"/escape", 404},    {"/fifo", 403},     {"/../secret.txt", 400},
		{"/%2e%2e/secret.txt", 400},
	};
	char out[256];
	snprintf(out, sizeof(out), "%s/result", out_dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_get_result r;
		ck_assert_int_eq(fetch(cases[i].path, out, &r), -1);
		ck_assert_msg(r.status == cases[i].status, "%s: %u (%s)", cases[i].path, r.status,
			      r.error);
		ck_assert(strstr(r.error, "server answered") != NULL);
		ck_assert_int_eq(access(out, F_OK), -1);
	}
	/* nothing is left in the output directory, not even a temporary file */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", out_dir);
	ck_assert_int_eq(system(cmd), 0);
	/* a port nobody listens on: refused, and still no file */
	struct http_get_result r;
	struct http_get_opts o = {.url = "http://127.0.0.1:9999/x", .out_path = out,
				  .timeout_ms = 2000};
	ck_assert_int_eq(http_get(&o, &r), -1);
	ck_assert_msg(strstr(r.error, strerror(ECONNREFUSED)) != NULL, "%s", r.error);
	ck_assert_int_eq(access(out, F_OK), -1);
	const struct http_server_stats *st = srv_stop(&v);
	ck_assert_uint_eq(st->traversal_refused, 3); /* the symlink out, two spellings of ".." */
	ck_assert_uint_eq(st->resp_3xx, 1);
	ck_assert_uint_eq(st->resp_4xx, 6);
	http_server_close(&v.s);
}
END_TEST

/* --- raw connections --------------------------------------------------------------------- */

struct raw {
	int fd;
	char buf[1u << 21];
	size_t len;
};

static struct raw *raw_open(uint16_t port)
{
	struct raw *r = calloc(1, sizeof(*r));
	r->fd = us_socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(r->fd, 0);
	struct timeval tv = {.tv_sec = 5};
	ck_assert_int_eq(us_setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(us_connect(r->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return r;
}

static void raw_send(struct raw *r, const char *data, size_t n)
{
	while (n) {
		ssize_t s = us_send(r->fd, data, n, MSG_NOSIGNAL);
		ck_assert_int_gt(s, 0);
		data += s;
		n -= (size_t)s;
	}
}

static void raw_sends(struct raw *r, const char *s)
{
	raw_send(r, s, strlen(s));
}

/* Read one response: its status; *resp filled, the body (head_req: none) into body. */
static unsigned raw_response(struct raw *r, bool head_req, struct http_response *resp,
			     char **body)
{
	size_t end;
	while (!(end = http_head_end(r->buf, r->len))) {
		ssize_t n = us_recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
		ck_assert_msg(n > 0, "response head: %zd (%s)", n, n < 0 ? strerror(errno) : "EOF");
		r->len += (size_t)n;
	}
	const char *why;
	ck_assert_msg(http_parse_response(r->buf, end, resp, &why) == 0, "%s", why);
	ck_assert(resp->has_content_length); /* the server always says */
	size_t bl = head_req ? 0 : (size_t)resp->content_length;
	while (r->len < end + bl) {
		ssize_t n = us_recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
		ck_assert_msg(n > 0, "response body: %zd", n);
		r->len += (size_t)n;
	}
	if (body) {
		*body = malloc(bl + 1);
		memcpy(*body, r->buf + end, bl);
		(*body)[bl] = '\0';
	}
	/* the head's text, for field checks */
	memmove(r->buf, r->buf + end + bl, r->len - end - bl);
	r->len -= end + bl;
	return resp->status;
}

/* The connection was closed by the server: EOF (nothing more). */
static void raw_expect_eof(struct raw *r)
{
	ck_assert_uint_eq(r->len, 0);
	char c;
	ssize_t n = us_recv(r->fd, &c, 1, 0);
	ck_assert_msg(n == 0, "expected EOF, got %zd (%s)", n, n < 0 ? strerror(errno) : "data");
}

static void raw_close(struct raw *r)
{
	us_close(r->fd);
	free(r);
}

START_TEST(keep_alive_and_pipelining)
{
	struct srv v;
	srv_start(&v, 0);
	struct raw *r = raw_open(PORT_HTTP);
	struct http_response resp;
	char *body;
	/* three requests in one send: answered in order on the same connection */
	raw_sends(r, "GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n"
		     "HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /one.txt HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_uint_eq(raw_response(r, false, &resp, &body), 200);
	ck_assert_uint_eq(resp.content_length, 1000);
	free(body);
	ck_assert_uint_eq(raw_response(r, true, &resp, NULL), 200);
	ck_assert_uint_eq(resp.content_length, (1u << 20) + 7);
	ck_assert_uint_eq(raw_response(r, false, &resp, &body), 200);
	ck_assert_uint_eq(resp.content_length, 1);
	ck_assert(!resp.close);
	free(body);
	/* a method not served: 405, its body dropped, and the connection goes on */
	raw_sends(r, "POST /page.html HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
		     "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_uint_eq(raw_response(r, false, &resp, &body), 405);
	ck_assert_str_eq(body, "405 Method Not Allowed\n");
	free(body);
	ck_assert_uint_eq(raw_response(r, false, &resp, NULL), 404);
	ck_assert(!resp.close);
	/* HEAD of an error: the length of the body it would have, no body */
	raw_sends(r, "HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_uint_eq(raw_response(r, true, &resp, NULL), 404);
	ck_assert_uint_eq(resp.content_length, strlen("404 Not Found\n"));
	/* a redirect to the directory with its slash */
	raw_sends(r, "GET /site HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_uint_eq(raw_response(r, false, &resp, NULL), 301);
	/* "Connection: close": answered, then the server closes */
	raw_sends(r, "GET /one.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	ck_assert_uint_eq(raw_response(r, false, &resp, NULL), 200);
	ck_assert(resp.close);
	raw_expect_eof(r);
	raw_close(r);
	/* HTTP/1.0: closes unless asked to keep the connection */
	r = raw_open(PORT_HTTP);
	raw_sends(r, "GET /one.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	ck_assert_uint_eq(raw_response(r, false, &resp, NULL), 200);
	ck_assert(!resp.close);
	raw_sends(r, "GET /one.txt HTTP/1.0\r\n\r\n");
	ck_assert_uint_eq(raw_response(r, false, &resp, NULL), 200);
	raw_expect_eof(r);
	raw_close(r);
	/* a client that sends its request and shuts down writing still gets the answer */
	r = raw_open(PORT_HTTP);
	raw_sends(r, "GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(us_shutdown(r->fd, SHUT_WR), 0);
	ck_assert_uint_eq(raw_response(r, false, &resp, NULL), 200);
	raw_expect_eof(r);
	raw_close(r);
	const struct http_server_stats *st = srv_stop(&v);
	ck_assert_uint_eq(st->requests, 11);
	http_server_close(&v.s);
}
END_TEST

/* One request on its own connection: the status, and the connection must end after it. */
static unsigned bad_request(const char *req, size_t len)
{
	struct raw *r = raw_open(PORT_HTTP);
	struct http_response resp;
	raw_send(r, req, len);
	unsigned st = raw_response(r, false, &resp, NULL);
	ck_assert_msg(resp.close, "status %u: Connection: close", st);
	raw_expect_eof(r);
	raw_close(r);
	return st;
}

static unsigned bad_requests(const char *req)
{
	return bad_request(req, strlen(req));
}

START_TEST(malformed_and_limits)
{
	struct srv v;
	srv_start(&v, 0);
	ck_assert_uint_eq(bad_requests("GET / HTTP/1.1\r\n\r\n"), 400); /* no Host */
	ck_assert_uint_eq(bad_requests("GET /x HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"), 400);
	ck_assert_uint_eq(bad_requests("GET /../secret.txt HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	ck_assert_uint_eq(bad_requests("GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
	ck_assert_uint_eq(bad_requests("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
	ck_assert_uint_eq(bad_requests("BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n"), 501);
	ck_assert_uint_eq(bad_requests("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n"),
			  400);
	/* bodies the server will not read: too large, or of unknown length */
	ck_assert_uint_eq(bad_requests("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n"
				       "\r\n0123456789"),
			  413);
	ck_assert_uint_eq(bad_requests("POST / HTTP/1.1\r\nHost: a\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
			  413);
	/* a head larger than the server's buffer: 431 */
	size_t big = HTTP_HEAD_MAX + 100;
	char *h = malloc(big + 64);
	int n = sprintf(h, "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ");
	memset(h + n, 'p', big - (size_t)n);
	ck_assert_uint_eq(bad_request(h, big), 431);
	/* a target above the limit: 414 (the head fits the buffer) */
	n = sprintf(h, "GET /");
	memset(h + n, 'a', HTTP_TARGET_MAX + 10);
	n += HTTP_TARGET_MAX + 10;
	n += sprintf(h + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
	ck_assert_uint_eq(bad_request(h, (size_t)n), 414);
	/* too many fields: 431 */
	n = sprintf(h, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (unsigned i = 0; i < HTTP_FIELDS_MAX + 1; i++)
		n += sprintf(h + n, "X%u: y\r\n", i);
	n += sprintf(h + n, "\r\n");
	ck_assert_uint_eq(bad_request(h, (size_t)n), 431);
	free(h);
	const struct http_server_stats *st = srv_stop(&v);
	ck_assert_uint_eq(st->bad_requests, 10);
	ck_assert_uint_eq(st->traversal_refused, 1);
	http_server_close(&v.s);
}
END_TEST

START_TEST(slow_head_times_out)
{
	struct srv v;
	srv_start(&v, 300); /* idle/head timeout 300 ms */
	struct raw *r = raw_open(PORT_HTTP);
	raw_sends(r, "GET /one.txt HTTP/1.1\r\nHost: a\r\n"); /* never finished */
	struct http_response resp;
	ck_assert_uint_eq(raw_response(r, false, &resp, NULL), 408);
	ck_assert(resp.close);
	raw_expect_eof(r);
	raw_close(r);
	/* an idle keep-alive connection is closed quietly */
	r = raw_open(PORT_HTTP);
	raw_sends(r, "GET /one.txt HTTP/1.1\r\nHost: a\r\n\r\n");
	ck_assert_uint_eq(raw_response(r, false, &resp, NULL), 200);
	raw_expect_eof(r);
	raw_close(r);
	const struct http_server_stats *st = srv_stop(&v);
	ck_assert_uint_eq(st->conns_timed_out, 2);
	http_server_close(&v.s);
}
END_TEST

struct fetcher {
	pthread_t th;
	int id;
	int failures;
	char error[256];
};

static void *fetcher_main(void *arg)
{
	struct fetcher *f = arg;
	for (int k = 0; k < 3; k++) {
		char out[256], src[256];
		snprintf(out, sizeof(out), "%s/big.%d.%d", out_dir, f->id, k);
		snprintf(src, sizeof(src), "%s/big.bin", root);
		struct http_get_result r;
		if (fetch("/big.bin", out, &r) < 0) {
			f->failures++;
			snprintf(f->error, sizeof(f->error), "%s", r.error);
			continue;
		}
		size_t na, nb;
		unsigned char *x = read_file(src, &na), *y = read_file(out, &nb);
		if (!x || !y || na != nb || memcmp(x, y, na) != 0)
			f->failures++;
		free(x);
		free(y);
		unlink(out);
	}
	return NULL;
}

START_TEST(concurrent_clients)
{
	struct srv v;
	srv_start(&v, 0);
	struct fetcher f[8];
	for (int i = 0; i < 8; i++) {
		memset(&f[i], 0, sizeof(f[i]));
		f[i].id = i;
		ck_assert_int_eq(pthread_create(&f[i].th, NULL, fetcher_main, &f[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(f[i].th, NULL);
		ck_assert_msg(f[i].failures == 0, "fetcher %d: %d failures (%s)", i, f[i].failures,
			      f[i].error);
	}
	const struct http_server_stats *st = srv_stop(&v);
	ck_assert_uint_eq(st->resp_2xx, 24);
	ck_assert_uint_eq(st->body_bytes, 24ull * ((1u << 20) + 7));
	http_server_close(&v.s);
}
END_TEST

/* --- the client against servers that frame differently ----------------------------------- */

struct odd {
	pthread_t th;
	int lfd;
	const char *resp;    /* sent as is after the request head */
	size_t resp_len;
	bool keep_open;      /* do not close: wait for the client to */
	char request[2048];
};

static void *odd_main(void *arg)
{
	struct odd *o = arg;
	int fd = us_accept(o->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	struct timeval tv = {.tv_sec = 5};
	us_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t len = 0;
	while (!http_head_end(o->request, len) && len < sizeof(o->request) - 1) {
		ssize_t n = us_recv(fd, o->request + len, sizeof(o->request) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	o->request[len] = '\0';
	size_t off = 0;
	while (off < o->resp_len) {
		ssize_t n = us_send(fd, o->resp + off, o->resp_len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (o->keep_open) {
		char c;
		while (us_recv(fd, &c, 1, 0) > 0) {
		}
	}
	us_close(fd);
	return NULL;
}

/* Fetch from a server answering `resp`: http_get's return, the file's bytes in *got. */
static int odd_fetch(const char *resp, size_t len, bool keep_open, struct http_get_result *r,
		     char **got, size_t *got_len, char *request)
{
	struct odd o = {.resp = resp, .resp_len = len, .keep_open = keep_open};
	o.lfd = us_socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(o.lfd, 0);
	/* A port of its own: the previous odd server's connection may still be finishing (its
	 * FIN), and bind() to a port a connection holds is EADDRINUSE, as on Linux without
	 * SO_REUSEADDR. */
	static unsigned odd_servers;
	int port = PORT_ODD + (int)(odd_servers++ % 1000);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	ck_assert_int_eq(us_bind(o.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(us_listen(o.lfd, 4), 0);
	ck_assert_int_eq(pthread_create(&o.th, NULL, odd_main, &o), 0);
	char out[256], url[64];
	snprintf(out, sizeof(out), "%s/odd", out_dir);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/f", port);
	struct http_get_opts opts = {.url = url, .out_path = out, .timeout_ms = 3000};
	int rc = http_get(&opts, r);
	pthread_join(o.th, NULL);
	us_close(o.lfd);
	*got = (char *)read_file(out, got_len);
	unlink(out);
	if (request)
		snprintf(request, 2048, "%s", o.request);
	return rc;
}

START_TEST(client_framing)
{
	struct http_get_result r;
	char *got;
	size_t gl;
	char req[2048];
	/* Content-Length with the connection kept open: done at the length, no wait for close */
	static const char cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	ck_assert_msg(odd_fetch(cl, sizeof(cl) - 1, true, &r, &got, &gl, req) == 0, "%s", r.error);
	ck_assert(got && gl == 5 && memcmp(got, "hello", 5) == 0);
	free(got);
	ck_assert(strncmp(req, "GET /f HTTP/1.1\r\n", 17) == 0);
	char host[64]; /* the first odd server of the test: PORT_ODD */
	snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", PORT_ODD);
	ck_assert_msg(strstr(req, host) != NULL, "no '%s' in the request", host);
	/* chunked, with an extension and a trailer, after a 100 Continue */
	static const char ch[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n"
				 "3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n";
	ck_assert_msg(odd_fetch(ch, sizeof(ch) - 1, true, &r, &got, &gl, NULL) == 0, "%s",
		      r.error);
	ck_assert(got && gl == 19 && memcmp(got, "abc0123456789abcdef", 19) == 0);
	free(got);
	/* no length: the body runs to the close */
	static const char tc[] = "HTTP/1.0 200 OK\r\n\r\nuntil the end";
	ck_assert_msg(odd_fetch(tc, sizeof(tc) - 1, false, &r, &got, &gl, NULL) == 0, "%s",
		      r.error);
	ck_assert(got && gl == 13);
	free(got);
	/* an empty body */
	static const char z[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	ck_assert_msg(odd_fetch(z, sizeof(z) - 1, true, &r, &got, &gl, NULL) == 0, "%s", r.error);
	ck_assert(got && gl == 0);
	free(got);

	/* failures: an error status, a short body, a broken chunk, a bad head, 101 */
	static const struct {
		const char *resp;
		const char *error;
	} bad[] = {
		{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "answered 404 Not Found"},
		{"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", "answered 302"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "after 5 of 10 body bytes"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "inside the chunked"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunked body"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		 "bad Content-Length"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", "unsupported"},
		{"SSH-2.0-OpenSSH\r\n\r\n", "malformed status line"},
		{"HTTP/1.1 101 Switching Protocols\r\n\r\n", "switched protocols"},
		{"", "without a response"},
		{"HTTP/1.1 200 OK\r\nContent-", "inside the response head"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = odd_fetch(bad[i].resp, strlen(bad[i].resp), false, &r, &got, &gl, NULL);
		ck_assert_msg(rc == -1 && strstr(r.error, bad[i].error), "case %zu: %d '%s'", i, rc,
			      r.error);
		ck_assert_msg(!got, "case %zu: no file", i);
	}
	/* a head that never ends within the limit */
	char *h = malloc(HTTP_RESP_HEAD_MAX + 100);
	int n = sprintf(h, "HTTP/1.1 200 OK\r\nX: ");
	memset(h + n, 'x', HTTP_RESP_HEAD_MAX + 100 - (size_t)n);
	int rc = odd_fetch(h, HTTP_RESP_HEAD_MAX + 100, false, &r, &got, &gl, NULL);
	ck_assert_msg(rc == -1 && strstr(r.error, "response head larger"), "%s", r.error);
	free(h);
}
END_TEST

/* --- echo -------------------------------------------------------------------------------- */

static volatile sig_atomic_t echo_stop;

struct echo_srv {
	pthread_t th;
	struct echo_tcp_stats st;
	int rc;
};

static void *echo_srv_main(void *arg)
{
	struct echo_srv *e = arg;
	e->rc = echo_tcp_run(PORT_ECHO, &echo_stop, -1, &e->st);
	return NULL;
}

#define ECHO_BYTES 300000u

struct echo_client {
	pthread_t th;
	int id;
	const char *fail;
};

/* Send ECHO_BYTES while reading the echo back (non-blocking, one poll loop), then shut down
 * writing and expect exactly the bytes and then EOF. */
static void *echo_client_main(void *arg)
{
	struct echo_client *c = arg;
	unsigned char *tx = malloc(ECHO_BYTES), *rx = malloc(ECHO_BYTES + 1);
	fill(tx, ECHO_BYTES, (unsigned)c->id + 100);
	int fd = us_socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT_ECHO)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || us_connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		c->fail = "connect";
		goto out;
	}
	int fl = us_fcntl(fd, F_GETFL);
	us_fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	size_t sent = 0, got = 0;
	bool shut = false;
	for (int spins = 0; spins < 100000;) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (sent < ECHO_BYTES ? POLLOUT : 0)};
		if (us_poll(&p, 1, 5000) <= 0) {
			c->fail = "poll timed out";
			goto out;
		}
		if (sent < ECHO_BYTES && (p.revents & POLLOUT)) {
			size_t chunk = ECHO_BYTES - sent < 7000 ? ECHO_BYTES - sent : 7000;
			ssize_t n = us_send(fd, tx + sent, chunk, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (errno != EAGAIN) {
				c->fail = "send";
				goto out;
			}
		}
		if (sent == ECHO_BYTES && !shut) {
			us_shutdown(fd, SHUT_WR);
			shut = true;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = us_recv(fd, rx + got, ECHO_BYTES - got + (got == ECHO_BYTES), 0);
			if (n == 0) {
				if (got != ECHO_BYTES)
					c->fail = "EOF before every byte came back";
				break;
			}
			if (n < 0 && errno != EAGAIN) {
				c->fail = "recv";
				goto out;
			}
			if (n > 0) {
				if (got + (size_t)n > ECHO_BYTES) {
					c->fail = "more bytes than sent";
					goto out;
				}
				got += (size_t)n;
			}
		}
		spins++;
	}
	if (!c->fail && (got != ECHO_BYTES || memcmp(tx, rx, ECHO_BYTES) != 0))
		c->fail = "echo differs";
out:
	if (fd >= 0)
		us_close(fd);
	free(tx);
	free(rx);
	return NULL;
}

START_TEST(echo_tcp_concurrent)
{
	struct echo_srv e = {0};
	echo_stop = 0;
	ck_assert_int_eq(pthread_create(&e.th, NULL, echo_srv_main, &e), 0);
	/* ready once something accepts: connect until it does */
	for (int i = 0; i < 200; i++) {
		int fd = us_socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT_ECHO)};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int rc = us_connect(fd, (struct sockaddr *)&a, sizeof(a));
		us_close(fd);
		if (rc == 0)
			break;
		usleep(10000);
	}
	struct echo_client c[6];
	for (int i = 0; i < 6; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].id = i;
		ck_assert_int_eq(pthread_create(&c[i].th, NULL, echo_client_main, &c[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(c[i].th, NULL);
		ck_assert_msg(!c[i].fail, "client %d: %s", i, c[i].fail);
	}
	echo_stop = 1;
	pthread_join(e.th, NULL);
	ck_assert_int_eq(e.rc, 0);
	ck_assert_uint_eq(e.st.bytes, 6ull * ECHO_BYTES);
	ck_assert_uint_ge(e.st.accepted, 6); /* the six (and the readiness probe, if it was
					   * still queued when it closed) */
	ck_assert_uint_eq(e.st.closed + e.st.reset, e.st.accepted);
	ck_assert_uint_ge(e.st.closed, 6);
}
END_TEST

static Suite *tools_suite(void)
{
	Suite *s = suite_create("tools_fake");
	TCase *tc = tcase_create("http");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, get_files_byte_exact);
	tcase_add_test(tc, get_errors_leave_no_file);
	tcase_add_test(tc, keep_alive_and_pipelining);
	tcase_add_test(tc, malformed_and_limits);
	tcase_add_test(tc, slow_head_times_out);
	tcase_add_test(tc, concurrent_clients);
	tcase_add_test(tc, client_framing);
	suite_add_tcase(s, tc);
	TCase *te = tcase_create("echo");
	tcase_add_checked_fixture(te, setup, teardown);
	tcase_set_timeout(te, 60);
	tcase_add_test(te, echo_tcp_concurrent);
	suite_add_tcase(s, te);
	return s;
}

int main(void)
{
	return tcheck_run(tools_suite());
}
