/* Unit tests: ustack-http's message parsing (tools/http/http_parse.c): request heads and the
 * status each malformed one gets, limits, paths and traversal, response heads, the chunked
 * coding, URLs. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_check.h"
#include "http_parse.h"

/* Parse a request given as a C string; the status (0 = answerable). */
static int req_status(const char *head, struct http_request *r)
{
	const char *why;
	size_t len = strlen(head);
	ck_assert_uint_eq(http_head_end(head, len), len);
	return http_parse_request(head, len, r, &why);
}

START_TEST(head_end_finds_the_blank_line)
{
	ck_assert_uint_eq(http_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r\nxyz", 30), 27);
	ck_assert_uint_eq(http_head_end("GET / HTTP/1.0\n\nrest", 20), 16);
	ck_assert_uint_eq(http_head_end("GET / HTTP/1.0\r\nA: b\n\r\n", 23), 23);
	ck_assert_uint_eq(http_head_end("GET / HTTP/1.1\r\nHost: a\r\n", 25), 0);
	ck_assert_uint_eq(http_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r", 26), 0);
	ck_assert_uint_eq(http_head_end("", 0), 0);
	/* empty lines before the request line are skipped, not taken as the end */
	ck_assert_uint_eq(http_head_end("\r\n\r\nGET / HTTP/1.0\r\n\r\n", 22), 22);
	ck_assert_uint_eq(http_head_end("\r\n\r\n", 4), 0);
}
END_TEST

START_TEST(request_basic)
{
	struct http_request r;
	ck_assert_int_eq(req_status("GET /dir/file.txt?x=1 HTTP/1.1\r\nHost: 10.0.0.2:8080\r\n"
				    "User-Agent: t\r\n\r\n",
				    &r),
			 0);
	ck_assert_int_eq(r.method, HTTP_METHOD_GET);
	ck_assert_str_eq(r.method_name, "GET");
	ck_assert_uint_eq(r.version_minor, 1);
	ck_assert_str_eq(r.target, "/dir/file.txt?x=1");
	ck_assert_str_eq(r.path, "dir/file.txt");
	ck_assert(!r.trailing_slash);
	ck_assert(r.keep_alive);
	ck_assert(!r.has_content_length);
	ck_assert(!r.chunked);

	ck_assert_int_eq(req_status("HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r),
			 0);
	ck_assert_int_eq(r.method, HTTP_METHOD_HEAD);
	ck_assert_str_eq(r.path, "");
	ck_assert(r.trailing_slash);
	ck_assert(!r.keep_alive);

	/* HTTP/1.0: no Host needed, closes unless asked otherwise */
	ck_assert_int_eq(req_status("GET /a HTTP/1.0\r\n\r\n", &r), 0);
	ck_assert_uint_eq(r.version_minor, 0);
	ck_assert(!r.keep_alive);
	ck_assert_int_eq(req_status("GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r), 0);
	ck_assert(r.keep_alive);
	ck_assert_int_eq(req_status("GET /a HTTP/1.1\r\nHost: h\r\nConnection: TE, close\r\n\r\n",
				    &r),
			 0);
	ck_assert(!r.keep_alive);
	/* a later 1.x minor reads as 1.1; bare LF line ends; OWS around values */
	ck_assert_int_eq(req_status("GET /a HTTP/1.7\nHost:   h \t\n\n", &r), 0);
	ck_assert_uint_eq(r.version_minor, 1);
	/* empty lines before the request line */
	ck_assert_int_eq(req_status("\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
	ck_assert_str_eq(r.path, "b");
	/* an empty Host is valid (RFC 9112 §3.2) */
	ck_assert_int_eq(req_status("GET / HTTP/1.1\r\nHost:\r\n\r\n", &r), 0);
}
END_TEST

START_TEST(request_methods)
{
	struct http_request r;
	ck_assert_int_eq(req_status("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n", &r),
			 0);
	ck_assert_int_eq(r.method, HTTP_METHOD_OTHER);
	ck_assert(r.has_content_length);
	ck_assert_uint_eq(r.content_length, 3);
	ck_assert_int_eq(req_status("DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.method, HTTP_METHOD_OTHER);
	/* methods are case-sensitive: "get" is no method we know */
	ck_assert_int_eq(req_status("get /x HTTP/1.1\r\nHost: h\r\n\r\n", &r), 501);
	ck_assert_int_eq(req_status("BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n", &r), 501);
	ck_assert_int_eq(req_status("ABCDEFGHIJKLMNOPQ /x HTTP/1.1\r\nHost: h\r\n\r\n", &r), 501);
}
END_TEST

START_TEST(request_malformed)
{
	struct http_request r;
	static const char *const bad400[] = {
		"GET / HTTP/1.1\r\n\r\n",                                   /* no Host */
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",             /* two Hosts */
		"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n",             /* two, any version */
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",                      /* bad Host */
		"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",                       /* space before colon */
		"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  folded\r\n\r\n",    /* obs-fold */
		"GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n",                  /* bare CR */
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n",           /* CTL in a value */
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n: novalue\r\n\r\n",           /* no field name */
		"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX\x80Y: 1\r\n\r\n",           /* non-token name */
		"GET /  HTTP/1.1\r\nHost: a\r\n\r\n",                       /* two spaces */
		"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",                       /* trailing space */
		" GET / HTTP/1.1\r\nHost: a\r\n\r\n",                       /* leading space */
		"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1\r\nHost: a\r\n\r\n",                          /* version forms */
		"GET / http/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.10\r\nHost: a\r\n\r\n",
		"GET /\r\nHost: a\r\n\r\n",                                 /* HTTP/0.9 */
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 12a\r\n\r\n", /* framing */
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",    /* TE in 1.0 */
		"GET x HTTP/1.1\r\nHost: a\r\n\r\n",                        /* target forms */
		"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET a.b:80 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",                /* raw non-ASCII */
	};
	for (size_t i = 0; i < sizeof(bad400) / sizeof(bad400[0]); i++) {
		const char *why;
		size_t len = strlen(bad400[i]);
		size_t end = http_head_end(bad400[i], len);
		int st = http_parse_request(bad400[i], end ? end : len, &r, &why);
		ck_assert_msg(st == 400, "case %zu: status %d (%s)", i, st, why);
		ck_assert_msg(why[0], "case %zu: a reason is given", i);
	}
	ck_assert_int_eq(req_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &r), 505);
	ck_assert_int_eq(req_status("GET / HTTP/0.9\r\nHost: a\r\n\r\n", &r), 505);
	/* "5, 5" is one length (RFC 9112 §6.3 item 5), as are repeated equal lines */
	ck_assert_int_eq(req_status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n"
				    "Content-Length: 5\r\n\r\n",
				    &r),
			 0);
	ck_assert_uint_eq(r.content_length, 5);
	ck_assert_int_eq(req_status("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, "
				    "Chunked\r\n\r\n",
				    &r),
			 0);
	ck_assert(r.chunked);
}
END_TEST

START_TEST(request_limits)
{
	struct http_request r;
	const char *why;
	/* a target of exactly HTTP_TARGET_MAX bytes is taken, one more is 414 */
	char *head = malloc(HTTP_HEAD_MAX + 64);
	for (int extra = 0; extra <= 1; extra++) {
		size_t tl = HTTP_TARGET_MAX + (size_t)extra;
		char *p = head;
		p += sprintf(p, "GET /");
		memset(p, 'a', tl - 1);
		p += tl - 1;
		p += sprintf(p, " HTTP/1.1\r\nHost: h\r\n\r\n");
		int st = http_parse_request(head, (size_t)(p - head), &r, &why);
		ck_assert_int_eq(st, extra ? 414 : 0);
	}
	/* HTTP_FIELDS_MAX fields are fine, one more is 431 */
	for (int extra = 0; extra <= 1; extra++) {
		char *p = head;
		p += sprintf(p, "GET / HTTP/1.1\r\nHost: h\r\n");
		for (unsigned i = 1; i < HTTP_FIELDS_MAX + (unsigned)extra; i++)
			p += sprintf(p, "X-%u: v\r\n", i);
		p += sprintf(p, "\r\n");
		ck_assert_uint_le((size_t)(p - head), HTTP_HEAD_MAX);
		int st = http_parse_request(head, (size_t)(p - head), &r, &why);
		ck_assert_int_eq(st, extra ? 431 : 0);
	}
	free(head);
	/* a head without its end (what a server hands over when its buffer filled) */
	ck_assert_int_eq(http_parse_request("GET / HTTP/1.1\r\nHost: h\r\n", 25, &r, &why), 400);
	ck_assert_int_eq(http_parse_request("GET / HTTP/1.1", 14, &r, &why), 400);
}
END_TEST

/* http_target_path as a table: target -> expected path (NULL: refused with err). */
START_TEST(paths_and_traversal)
{
	static const struct {
		const char *target;
		const char *path;
		int err;
		int dir;
	} cases[] = {
		{"/", "", 0, 1},
		{"/a/b.txt", "a/b.txt", 0, 0},
		{"/a/b/", "a/b", 0, 1},
		{"//a///b", "a/b", 0, 0},
		{"/a/./b", "a/b", 0, 0},
		{"/a/.", "a", 0, 1},
		{"/a/b/..", "a", 0, 1},
		{"/a/../b", "b", 0, 0},
		{"/a/b/../../c", "c", 0, 0},
		{"/a/..", "", 0, 1},
		{"/%61%2Fb", "a/b", 0, 0},       /* %2F decodes before the segments are cut */
		{"/sp%20ace", "sp ace", 0, 0},
		{"/q?x=../../etc", "q", 0, 0},  /* the query is not the path */
		{"/f#frag", "f", 0, 0},
		{"/...", "...", 0, 0},          /* three dots are a name */
		{"/..a", "..a", 0, 0},
		{"/a%5c..%5cb", "a\\..\\b", 0, 0}, /* a backslash is a name byte on Linux */
		{"http://h/x/y?q", "x/y", 0, 0}, /* absolute-form */
		{"HTTP://h:80", "", 0, 1},
		{"http://h?q", "", 0, 1},
		{"/..", NULL, -EACCES, 0},
		{"/../etc/passwd", NULL, -EACCES, 0},
		{"/a/../../etc/passwd", NULL, -EACCES, 0},
		{"/%2e%2e/etc/passwd", NULL, -EACCES, 0},
		{"/%2E%2E%2Fetc%2Fpasswd", NULL, -EACCES, 0},
		{"/..%2f..%2fetc", NULL, -EACCES, 0},
		{"/a/%2e%2e/%2e%2e/x", NULL, -EACCES, 0},
		{"/./../x", NULL, -EACCES, 0},
		{"http://h/../x", NULL, -EACCES, 0},
		{"/a%00.txt", NULL, -EINVAL, 0}, /* a NUL would cut the name short */
		{"/a%0a", NULL, -EINVAL, 0},
		{"/a%7f", NULL, -EINVAL, 0},
		{"/%zz", NULL, -EINVAL, 0},
		{"/%4", NULL, -EINVAL, 0},
		{"/%", NULL, -EINVAL, 0},
		{"*", NULL, -EINVAL, 0},
		{"a/b", NULL, -EINVAL, 0},
		{"https://h/x", NULL, -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[HTTP_TARGET_MAX + 1];
		bool dir = false;
		int rc = http_target_path(cases[i].target, out, sizeof(out), &dir);
		ck_assert_msg(rc == cases[i].err, "%s: rc %d", cases[i].target, rc);
		if (rc == 0) {
			ck_assert_msg(strcmp(out, cases[i].path) == 0, "%s -> '%s'", cases[i].target,
				      out);
			ck_assert_msg(dir == (cases[i].dir != 0), "%s: dir %d", cases[i].target, dir);
		}
	}
	/* the request parser refuses every one of them with 400 */
	struct http_request r;
	ck_assert_int_eq(req_status("GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", &r),
			 400);
	ck_assert_int_eq(req_status("GET /a%00 HTTP/1.1\r\nHost: h\r\n\r\n", &r), 400);
	/* a small output buffer is -ENAMETOOLONG, never an overflow */
	char small[4];
	bool dir;
	ck_assert_int_eq(http_target_path("/abcdef", small, sizeof(small), &dir), -ENAMETOOLONG);
	ck_assert_int_eq(http_target_path("/abc", small, sizeof(small), &dir), 0);
	ck_assert_str_eq(small, "abc");
}
END_TEST

static int resp_parse(const char *head, struct http_response *r, const char **why)
{
	size_t len = strlen(head);
	ck_assert_uint_eq(http_head_end(head, len), len);
	return http_parse_response(head, len, r, why);
}

START_TEST(response_heads)
{
	struct http_response r;
	const char *why;
	ck_assert_int_eq(resp_parse("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", &r, &why), 0);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_str_eq(r.reason, "OK");
	ck_assert(r.has_content_length);
	ck_assert_uint_eq(r.content_length, 1234);
	ck_assert(!r.close);
	ck_assert_int_eq(resp_parse("HTTP/1.0 404 Not Found\r\n\r\n", &r, &why), 0);
	ck_assert_uint_eq(r.status, 404);
	ck_assert(r.close);
	ck_assert(!r.has_content_length);
	ck_assert_int_eq(resp_parse("HTTP/1.1 204\r\n\r\n", &r, &why), 0);
	ck_assert_str_eq(r.reason, "");
	ck_assert_int_eq(resp_parse("HTTP/1.1 200 \r\nTransfer-Encoding: chunked\r\n\r\n", &r, &why),
			 0);
	ck_assert(r.chunked);
	ck_assert(!http_response_has_body(100));
	ck_assert(!http_response_has_body(204));
	ck_assert(!http_response_has_body(304));
	ck_assert(http_response_has_body(200));
	ck_assert(http_response_has_body(404));

	static const char *const bad[] = {
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 600 Odd\r\n\r\n",
		"HTTP/1.1 099 Odd\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/2.0 200 OK\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"HTTP/1.1 200 O\x01K\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Field: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]);
		int rc = http_parse_response(bad[i], len, &r, &why);
		ck_assert_msg(rc == -EBADMSG, "case %zu: %d", i, rc);
		ck_assert_msg(why[0], "case %zu: a reason", i);
	}
}
END_TEST

/* Decode `in` fed in pieces of `step` bytes; the data, or NULL with *err on error. */
static char *chunked_run(const char *in, size_t step, int *err, size_t *tail_left)
{
	struct http_chunked c;
	http_chunked_init(&c);
	size_t len = strlen(in);
	char *out = calloc(1, len + 1);
	size_t ol = 0;
	*err = 0;
	*tail_left = 0;
	for (size_t off = 0; off < len && c.state != HTTP_CHUNK_DONE;) {
		size_t n = len - off < step ? len - off : step;
		char piece[64];
		ck_assert_uint_le(n, sizeof(piece));
		memcpy(piece, in + off, n);
		size_t got = 0;
		const char *why;
		ssize_t used = http_chunked_decode(&c, piece, n, &got, &why);
		if (used < 0) {
			*err = (int)used;
			ck_assert(why[0]);
			free(out);
			return NULL;
		}
		memcpy(out + ol, piece, got);
		ol += got;
		off += (size_t)used;
		if (c.state == HTTP_CHUNK_DONE)
			*tail_left = len - off;
	}
	if (c.state != HTTP_CHUNK_DONE) {
		*err = -EAGAIN; /* incomplete */
		free(out);
		return NULL;
	}
	return out;
}

START_TEST(chunked_coding)
{
	static const char msg[] = "5\r\nhello\r\n1;name=val;x=\"q\"\r\n \r\n"
				  "A\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\nNEXT";
	for (size_t step = 1; step <= 64; step = step * 2 + 1) {
		int err;
		size_t tail;
		char *out = chunked_run(msg, step, &err, &tail);
		ck_assert_msg(out, "step %zu: %d", step, err);
		ck_assert_str_eq(out, "hello 0123456789");
		ck_assert_uint_eq(tail, 4); /* "NEXT" is not the body's */
		free(out);
	}
	/* bare LF line ends are tolerated */
	int err;
	size_t tail;
	char *out = chunked_run("3\nabc\n0\n\n", 7, &err, &tail);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "abc");
	free(out);

	static const char *const bad[] = {
		"\r\n",                          /* no size */
		"g\r\n",
		"5\r\nhelloX\r\n",               /* data longer than its size */
		"5\r\nhello\rX",                 /* bare CR after data */
		"5\r\x01\n",                     /* bare CR in the size line */
		"1000000000000000\r\n",          /* 16 hex digits: above 2^60 */
		"1;\x01\r\n",                    /* control in an extension */
		"0\r\nA: b\rc\r\n\r\n",          /* bare CR in the trailer */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = chunked_run(bad[i], 3, &err, &tail);
		ck_assert_msg(!out && err == -EBADMSG, "case %zu: %d", i, err);
	}
	/* 15 hex digits are allowed (the size itself, not the data, is what is checked here) */
	out = chunked_run("fffffffffffffff\r\n", 5, &err, &tail);
	ck_assert(!out && err == -EAGAIN);
	/* an extension and a trailer have limits */
	char *big = malloc(HTTP_TRAILER_MAX + 64);
	memset(big, 'x', HTTP_TRAILER_MAX + 32);
	memcpy(big, "1;", 2);
	big[HTTP_TRAILER_MAX + 32] = '\0';
	out = chunked_run(big, 64, &err, &tail);
	ck_assert(!out && err == -EBADMSG);
	memcpy(big, "0\r\nT: ", 6);
	out = chunked_run(big, 64, &err, &tail);
	ck_assert(!out && err == -EBADMSG);
	free(big);
}
END_TEST

START_TEST(urls)
{
	struct http_url u;
	ck_assert_int_eq(http_url_parse("http://10.0.0.1/a/b?c=d#frag", &u), 0);
	ck_assert_uint_eq(u.addr, htonl(0x0a000001));
	ck_assert_uint_eq(u.port, 80);
	ck_assert_str_eq(u.host, "10.0.0.1");
	ck_assert_str_eq(u.target, "/a/b?c=d");
	ck_assert_int_eq(http_url_parse("HTTP://192.168.1.2:8080", &u), 0);
	ck_assert_uint_eq(u.port, 8080);
	ck_assert_str_eq(u.host, "192.168.1.2:8080");
	ck_assert_str_eq(u.target, "/");
	ck_assert_int_eq(http_url_parse("http://1.2.3.4:65535?q", &u), 0);
	ck_assert_str_eq(u.target, "/?q");
	static const char *const bad[] = {
		"https://1.2.3.4/",   "ftp://1.2.3.4/",      "http://host/",
		"http://1.2.3/",      "http://1.2.3.4.5/",   "http://01.2.3.4/",
		"http://1.2.3.4:0/",  "http://1.2.3.4:65536/", "http://1.2.3.4:/",
		"http://1.2.3.4:8a/", "http://u@1.2.3.4/",   "http://1.2.3.4/a b",
		"http:///x",          "1.2.3.4/x",           "http://1.2.3.4:1234567/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(http_url_parse(bad[i], &u) == -EINVAL, "%s", bad[i]);
}
END_TEST

START_TEST(tables)
{
	char d[32];
	http_date(0, d);
	ck_assert_str_eq(d, "Thu, 01 Jan 1970 00:00:00 GMT");
	http_date(784111777, d); /* RFC 9110 §5.6.7's example */
	ck_assert_str_eq(d, "Sun, 06 Nov 1994 08:49:37 GMT");
	http_date(253402300799, d); /* the last second with four year digits */
	ck_assert_str_eq(d, "Fri, 31 Dec 9999 23:59:59 GMT");
	http_date(253402300800, d); /* beyond: the epoch, never a longer string */
	ck_assert_str_eq(d, "Thu, 01 Jan 1970 00:00:00 GMT");
	http_date(INT64_MAX, d);
	ck_assert_str_eq(d, "Thu, 01 Jan 1970 00:00:00 GMT");
	ck_assert_str_eq(http_content_type("a/b/index.HTML"), "text/html");
	ck_assert_str_eq(http_content_type("x.tar.gz"), "application/gzip");
	ck_assert_str_eq(http_content_type("noext"), "application/octet-stream");
	ck_assert_str_eq(http_content_type("dir.d/noext"), "application/octet-stream");
	ck_assert_str_eq(http_content_type("trailingdot."), "application/octet-stream");
	ck_assert_str_eq(http_reason(404), "Not Found");
	ck_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
	ck_assert_str_eq(http_reason(299), "");
}
END_TEST

static Suite *http_parse_suite(void)
{
	Suite *s = suite_create("http_parse");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, head_end_finds_the_blank_line);
	tcase_add_test(tc, request_basic);
	tcase_add_test(tc, request_methods);
	tcase_add_test(tc, request_malformed);
	tcase_add_test(tc, request_limits);
	tcase_add_test(tc, paths_and_traversal);
	tcase_add_test(tc, response_heads);
	tcase_add_test(tc, chunked_coding);
	tcase_add_test(tc, urls);
	tcase_add_test(tc, tables);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(http_parse_suite());
}
