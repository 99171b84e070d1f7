/* http_parse: HTTP/1.1 heads, request-target paths and the chunked coding (see http_parse.h). */
#include "http_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* tchar (RFC 9110 §5.6.2): the characters of a token (method, field name, coding). */
static bool http_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A byte a field value may hold (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB. */
static bool http_field_vchar(unsigned char c)
{
	return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

static int http_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t http_head_end(const char *buf, size_t len)
{
	size_t i = 0;
	/* RFC 9112 §2.2: empty lines before the start line are skipped. */
	while (i < len && (buf[i] == '\n' || (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n')))
		i += buf[i] == '\r' ? 2 : 1;
	for (; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* --- lines ------------------------------------------------------------------------------- */

struct http_lines {
	const char *p;
	const char *end;
};

/* The next line of the head, without its CRLF or LF: 1 and (*line, *n); 0 at the end; -1 for a
 * bare CR or a line without an end. */
static int http_next_line(struct http_lines *ls, const char **line, size_t *n)
{
	if (ls->p >= ls->end)
		return 0;
	const char *nl = memchr(ls->p, '\n', (size_t)(ls->end - ls->p));
	if (!nl)
		return -1;
	size_t len = (size_t)(nl - ls->p);
	if (len && ls->p[len - 1] == '\r')
		len--;
	if (memchr(ls->p, '\r', len))
		return -1; /* RFC 9112 §2.2: a bare CR is an error */
	*line = ls->p;
	*n = len;
	ls->p = nl + 1;
	return 1;
}

static void http_skip_empty_lines(struct http_lines *ls)
{
	while (ls->p < ls->end && (*ls->p == '\n' || (*ls->p == '\r' && ls->p + 1 < ls->end &&
						       ls->p[1] == '\n')))
		ls->p += *ls->p == '\r' ? 2 : 1;
}

/* One field line: name and trimmed value. 0, or -1 when it is not a valid field line. */
static int http_split_field(const char *line, size_t n, const char **name, size_t *name_len,
			    const char **val, size_t *val_len)
{
	size_t i = 0;
	while (i < n && http_tchar((unsigned char)line[i]))
		i++;
	/* no name, whitespace before the colon (RFC 9112 §5.1), obs-fold (§5.2), junk */
	if (i == 0 || i >= n || line[i] != ':')
		return -1;
	*name = line;
	*name_len = i;
	size_t a = i + 1, b = n;
	while (a < b && (line[a] == ' ' || line[a] == '\t'))
		a++;
	while (b > a && (line[b - 1] == ' ' || line[b - 1] == '\t'))
		b--;
	for (size_t k = a; k < b; k++)
		if (!http_field_vchar((unsigned char)line[k]))
			return -1;
	*val = line + a;
	*val_len = b - a;
	return 0;
}

static bool http_name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Walk a comma-separated list (RFC 9110 §5.6.1): each element trimmed, empty ones skipped.
 * Returns the next element's length (0 at the end) and advances *pos. */
static size_t http_list_next(const char *v, size_t n, size_t *pos, const char **elem)
{
	while (*pos < n) {
		size_t a = *pos;
		while (a < n && (v[a] == ' ' || v[a] == '\t' || v[a] == ','))
			a++;
		size_t b = a;
		while (b < n && v[b] != ',')
			b++;
		*pos = b;
		size_t e = b;
		while (e > a && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > a) {
			*elem = v + a;
			return e - a;
		}
	}
	return 0;
}

/* Content-Length (RFC 9112 §6.3 item 5): 1*DIGIT, or a list of identical values; combined with
 * an earlier line's value (*have). 0 or -1. */
static int http_content_length(const char *v, size_t n, bool *have, uint64_t *out)
{
	size_t pos = 0;
	const char *e;
	size_t el;
	bool any = false;
	while ((el = http_list_next(v, n, &pos, &e)) != 0) {
		uint64_t x = 0;
		if (el > 18) /* < 10^18: no overflow, and no file is that large */
			return -1;
		for (size_t k = 0; k < el; k++) {
			if (e[k] < '0' || e[k] > '9')
				return -1;
			x = x * 10 + (uint64_t)(e[k] - '0');
		}
		if (*have && x != *out)
			return -1;
		*have = true;
		*out = x;
		any = true;
	}
	return any ? 0 : -1;
}

/* The framing and connection facts every head may carry. */
struct http_fields {
	unsigned n;
	unsigned hosts;
	bool host_bad;
	bool has_cl;
	uint64_t cl;
	bool cl_bad;
	bool te;
	bool te_chunked_last;
	bool te_bad;
	bool conn_close;
	bool conn_keep_alive;
};

/* The reg-name / IP-literal / IPv4 characters of a Host value with its port (RFC 3986). */
static bool http_host_valid(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("-._~%!$&'()*+,;=:[]", c)))
			return false;
	}
	return true;
}

static void http_note_field(struct http_fields *f, const char *name, size_t nl, const char *v,
			    size_t vl)
{
	if (http_name_is(name, nl, "host")) {
		f->hosts++;
		if (!http_host_valid(v, vl))
			f->host_bad = true;
	} else if (http_name_is(name, nl, "content-length")) {
		if (http_content_length(v, vl, &f->has_cl, &f->cl) < 0)
			f->cl_bad = true;
	} else if (http_name_is(name, nl, "transfer-encoding")) {
		size_t pos = 0, el;
		const char *e;
		f->te = true;
		bool any = false;
		while ((el = http_list_next(v, vl, &pos, &e)) != 0) {
			any = true;
			/* a coding may carry parameters ("gzip;q=1"): the name is what counts */
			size_t tl = 0;
			while (tl < el && http_tchar((unsigned char)e[tl]))
				tl++;
			f->te_chunked_last = tl == el && http_name_is(e, el, "chunked");
		}
		if (!any)
			f->te_bad = true;
	} else if (http_name_is(name, nl, "connection")) {
		size_t pos = 0, el;
		const char *e;
		while ((el = http_list_next(v, vl, &pos, &e)) != 0) {
			if (http_name_is(e, el, "close"))
				f->conn_close = true;
			else if (http_name_is(e, el, "keep-alive"))
				f->conn_keep_alive = true;
		}
	}
}

/* Read every field line up to the empty one. 0, or -1 (malformed) / -2 (too many fields). */
static int http_read_fields(struct http_lines *ls, struct http_fields *f)
{
	const char *line;
	size_t n;
	int rc;
	while ((rc = http_next_line(ls, &line, &n)) > 0) {
		if (n == 0)
			return 0;
		const char *name, *val;
		size_t nl, vl;
		if (http_split_field(line, n, &name, &nl, &val, &vl) < 0)
			return -1;
		if (++f->n > HTTP_FIELDS_MAX)
			return -2;
		http_note_field(f, name, nl, val, vl);
	}
	return -1; /* no empty line: not a complete head */
}

/* "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3). 0 and the digits, or -1. */
static int http_version(const char *s, size_t n, unsigned *major, unsigned *minor)
{
	if (n != 8 || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.' || s[5] < '0' || s[5] > '9' ||
	    s[7] < '0' || s[7] > '9')
		return -1;
	*major = (unsigned)(s[5] - '0');
	*minor = (unsigned)(s[7] - '0');
	return 0;
}

/* --- request ----------------------------------------------------------------------------- */

static enum http_method http_method_of(const char *m)
{
	static const char *const other[] = {"POST",  "PUT",   "DELETE", "CONNECT",
					    "OPTIONS", "TRACE", "PATCH"};
	/* Methods are case-sensitive (RFC 9110 §9.1). */
	if (strcmp(m, "GET") == 0)
		return HTTP_METHOD_GET;
	if (strcmp(m, "HEAD") == 0)
		return HTTP_METHOD_HEAD;
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (strcmp(m, other[i]) == 0)
			return HTTP_METHOD_OTHER;
	return HTTP_METHOD_UNKNOWN;
}

int http_target_path(const char *target, char *out, size_t out_size, bool *trailing_slash)
{
	const char *p;
	if (target[0] == '/') {
		p = target;
	} else if (strncasecmp(target, "http://", 7) == 0) {
		/* absolute-form (RFC 9112 §3.2.2): the authority is not ours to check here */
		p = target + 7;
		while (*p && *p != '/' && *p != '?' && *p != '#')
			p++;
		if (*p != '/')
			p = "/";
	} else {
		return -EINVAL; /* authority-form and asterisk-form name no file */
	}
	size_t raw = strcspn(p, "?#");
	char dec[HTTP_TARGET_MAX + 1];
	size_t dl = 0;
	if (raw > HTTP_TARGET_MAX)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < raw; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '%') {
			if (i + 2 >= raw)
				return -EINVAL;
			int h = http_hex((unsigned char)p[i + 1]), l = http_hex((unsigned char)p[i + 2]);
			if (h < 0 || l < 0)
				return -EINVAL;
			c = (unsigned char)(h * 16 + l);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return -EINVAL; /* NUL ends a C string early; control bytes name no file */
		dec[dl++] = (char)c;
	}
	dec[dl] = '\0';

	/* RFC 3986 §5.2.4 remove_dot_segments, on the decoded path: an encoded dot or slash is a
	 * dot or slash by now, so no spelling of ".." gets past this. */
	size_t ol = 0;
	bool last_dot = false; /* the last segment was "." or "..": a directory was named */
	for (size_t i = 0; i < dl;) {
		while (i < dl && dec[i] == '/')
			i++;
		size_t s = i;
		while (i < dl && dec[i] != '/')
			i++;
		size_t sl = i - s;
		if (sl == 0)
			break;
		if (sl == 1 && dec[s] == '.') {
			last_dot = true;
			continue;
		}
		if (sl == 2 && dec[s] == '.' && dec[s + 1] == '.') {
			if (ol == 0)
				return -EACCES; /* above the root */
			while (ol > 0 && out[ol - 1] != '/')
				ol--;
			if (ol > 0)
				ol--; /* the separator before the dropped segment */
			last_dot = true;
			continue;
		}
		last_dot = false;
		if (ol + (ol ? 1 : 0) + sl + 1 > out_size)
			return -ENAMETOOLONG;
		if (ol)
			out[ol++] = '/';
		memcpy(out + ol, dec + s, sl);
		ol += sl;
	}
	if (ol + 1 > out_size)
		return -ENAMETOOLONG;
	out[ol] = '\0';
	*trailing_slash = last_dot || dl == 0 || dec[dl - 1] == '/';
	return 0;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req, const char **why)
{
	struct http_lines ls = {.p = buf, .end = buf + len};
	const char *line;
	size_t n;
	memset(req, 0, sizeof(*req));
	*why = "";
	http_skip_empty_lines(&ls);
	if (http_next_line(&ls, &line, &n) <= 0) {
		*why = "malformed request line";
		return 400;
	}
	/* method SP request-target SP HTTP-version (RFC 9112 §3) */
	size_t m = 0;
	while (m < n && http_tchar((unsigned char)line[m]))
		m++;
	if (m == 0 || m >= n || line[m] != ' ') {
		*why = "malformed request line";
		return 400;
	}
	if (m > HTTP_METHOD_MAX) {
		*why = "unknown method";
		return 501;
	}
	memcpy(req->method_name, line, m);
	req->method_name[m] = '\0';
	size_t t0 = m + 1, t1 = t0;
	while (t1 < n && line[t1] != ' ') {
		unsigned char c = (unsigned char)line[t1];
		if (c <= 0x20 || c >= 0x7f) {
			*why = "bad character in the request-target";
			return 400;
		}
		t1++;
	}
	if (t1 == t0 || t1 >= n) {
		*why = "malformed request line";
		return 400;
	}
	if (t1 - t0 > HTTP_TARGET_MAX) {
		*why = "request-target too long";
		return 414;
	}
	unsigned major, minor;
	if (http_version(line + t1 + 1, n - t1 - 1, &major, &minor) < 0) {
		*why = "malformed HTTP version";
		return 400;
	}
	if (major != 1) {
		*why = "HTTP version not supported";
		return 505;
	}
	memcpy(req->target, line + t0, t1 - t0);
	req->target[t1 - t0] = '\0';
	req->version_minor = minor >= 1 ? 1 : 0;

	struct http_fields f = {0};
	int rc = http_read_fields(&ls, &f);
	if (rc == -2) {
		*why = "too many header fields";
		return 431;
	}
	if (rc < 0) {
		*why = "malformed header field";
		return 400;
	}
	/* RFC 9112 §3.2: exactly one valid Host in HTTP/1.1; at most one in any request. */
	if (f.hosts > 1 || f.host_bad || (req->version_minor == 1 && f.hosts == 0)) {
		*why = f.hosts == 0 ? "no Host" : "bad Host";
		return 400;
	}
	/* RFC 9112 §6.1, §6.3: framing the server cannot trust is a 400 and the end of the
	 * connection (request smuggling lives in these cases). */
	if (f.cl_bad) {
		*why = "bad Content-Length";
		return 400;
	}
	if (f.te && (f.has_cl || req->version_minor == 0 || f.te_bad || !f.te_chunked_last)) {
		*why = "bad Transfer-Encoding";
		return 400;
	}
	req->method = http_method_of(req->method_name);
	if (req->method == HTTP_METHOD_UNKNOWN) {
		*why = "unknown method";
		return 501;
	}
	req->has_content_length = f.has_cl;
	req->content_length = f.has_cl ? f.cl : 0;
	req->chunked = f.te;
	req->keep_alive = req->version_minor == 1 ? !f.conn_close
						  : (f.conn_keep_alive && !f.conn_close);
	rc = http_target_path(req->target, req->path, sizeof(req->path), &req->trailing_slash);
	if (rc == -EACCES) {
		*why = "path above the root";
		return 400;
	}
	if (rc < 0) {
		*why = rc == -ENAMETOOLONG ? "path too long" : "bad request-target";
		return rc == -ENAMETOOLONG ? 414 : 400;
	}
	return 0;
}

/* --- response ---------------------------------------------------------------------------- */

int http_parse_response(const char *buf, size_t len, struct http_response *resp,
			const char **why)
{
	struct http_lines ls = {.p = buf, .end = buf + len};
	const char *line;
	size_t n;
	memset(resp, 0, sizeof(*resp));
	*why = "";
	http_skip_empty_lines(&ls);
	if (http_next_line(&ls, &line, &n) <= 0) {
		*why = "malformed status line";
		return -EBADMSG;
	}
	unsigned major, minor;
	/* HTTP-version SP 3DIGIT SP [reason] (RFC 9112 §4); a missing last SP is tolerated */
	if (n < 12 || http_version(line, 8, &major, &minor) < 0 || line[8] != ' ' ||
	    line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
	    line[11] < '0' || line[11] > '9' || (n > 12 && line[12] != ' ')) {
		*why = "malformed status line";
		return -EBADMSG;
	}
	if (major != 1) {
		*why = "HTTP version not 1.x";
		return -EBADMSG;
	}
	resp->version_minor = minor;
	resp->status = (unsigned)(line[9] - '0') * 100 + (unsigned)(line[10] - '0') * 10 +
		       (unsigned)(line[11] - '0');
	size_t rl = n > 13 ? n - 13 : 0;
	for (size_t i = 0; i < rl; i++)
		if (!http_field_vchar((unsigned char)line[13 + i])) {
			*why = "malformed reason phrase";
			return -EBADMSG;
		}
	if (rl >= sizeof(resp->reason))
		rl = sizeof(resp->reason) - 1;
	memcpy(resp->reason, line + 13, rl);
	resp->reason[rl] = '\0';

	struct http_fields f = {0};
	int rc = http_read_fields(&ls, &f);
	if (rc < 0) {
		*why = rc == -2 ? "too many header fields" : "malformed header field";
		return -EBADMSG;
	}
	if (f.cl_bad) {
		*why = "bad Content-Length";
		return -EBADMSG;
	}
	if (f.te && f.has_cl) {
		*why = "both Transfer-Encoding and Content-Length";
		return -EBADMSG;
	}
	if (f.te && (f.te_bad || !f.te_chunked_last)) {
		/* a body in another coding (gzip...) is not the file: refuse it */
		*why = "unsupported Transfer-Encoding";
		return -EBADMSG;
	}
	resp->has_content_length = f.has_cl;
	resp->content_length = f.cl;
	resp->chunked = f.te;
	resp->close = f.conn_close || (minor == 0 && !f.conn_keep_alive);
	return 0;
}

bool http_response_has_body(unsigned status)
{
	return !(status < 200 || status == 204 || status == 304);
}

/* --- chunked ----------------------------------------------------------------------------- */

void http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = HTTP_CHUNK_SIZE;
}

static void http_chunk_next_size(struct http_chunked *c)
{
	c->state = HTTP_CHUNK_SIZE;
	c->left = 0;
	c->digits = 0;
	c->line = 0;
	c->saw_cr = false;
}

ssize_t http_chunked_decode(struct http_chunked *c, char *buf, size_t len, size_t *out_len,
			    const char **why)
{
	size_t i = 0, o = 0;
	*why = "";
	while (i < len && c->state != HTTP_CHUNK_DONE) {
		unsigned char ch = (unsigned char)buf[i];
		switch (c->state) {
		case HTTP_CHUNK_SIZE: {
			int h = http_hex(ch);
			if (h >= 0) {
				if (c->digits == 15) {
					*why = "chunk size too large";
					return -EBADMSG;
				}
				c->left = c->left * 16 + (uint64_t)h;
				c->digits++;
				c->line++;
				i++;
				break;
			}
			if (c->digits == 0) {
				*why = "chunk size missing";
				return -EBADMSG;
			}
			c->state = HTTP_CHUNK_EXT; /* the same byte again, as an extension byte */
			break;
		}
		case HTTP_CHUNK_EXT:
			if (++c->line > HTTP_CHUNK_LINE_MAX) {
				*why = "chunk extension too long";
				return -EBADMSG;
			}
			if (c->saw_cr && ch != '\n') {
				*why = "bare CR in a chunk-size line";
				return -EBADMSG;
			}
			i++;
			if (ch == '\r') {
				c->saw_cr = true;
			} else if (ch == '\n') {
				c->saw_cr = false;
				c->line = 0;
				c->state = c->left ? HTTP_CHUNK_DATA : HTTP_CHUNK_TRAILER;
			} else if (ch != '\t' && (ch < 0x20 || ch == 0x7f)) {
				*why = "control character in a chunk extension";
				return -EBADMSG;
			}
			break;
		case HTTP_CHUNK_DATA: {
			size_t take = len - i;
			if (take > c->left)
				take = (size_t)c->left;
			memmove(buf + o, buf + i, take);
			o += take;
			i += take;
			c->left -= take;
			if (c->left == 0)
				c->state = HTTP_CHUNK_DATA_CR;
			break;
		}
		case HTTP_CHUNK_DATA_CR:
			i++;
			if (ch == '\r') {
				c->state = HTTP_CHUNK_DATA_LF;
			} else if (ch == '\n') {
				http_chunk_next_size(c);
			} else {
				*why = "chunk data longer than its size";
				return -EBADMSG;
			}
			break;
		case HTTP_CHUNK_DATA_LF:
			i++;
			if (ch != '\n') {
				*why = "bare CR after chunk data";
				return -EBADMSG;
			}
			http_chunk_next_size(c);
			break;
		case HTTP_CHUNK_TRAILER:
			i++;
			if (++c->trailer > HTTP_TRAILER_MAX) {
				*why = "trailer section too long";
				return -EBADMSG;
			}
			if (c->saw_cr && ch != '\n') {
				*why = "bare CR in the trailer section";
				return -EBADMSG;
			}
			if (ch == '\r') {
				c->saw_cr = true;
			} else if (ch == '\n') {
				c->saw_cr = false;
				if (c->line == 0)
					c->state = HTTP_CHUNK_DONE;
				c->line = 0;
			} else {
				c->line++;
			}
			break;
		default:
			*why = "decoder state corrupt";
			return -EBADMSG;
		}
	}
	*out_len = o;
	return (ssize_t)i;
}

/* --- URLs ------------------------------------------------------------------------------- */

int http_url_parse(const char *url, struct http_url *u)
{
	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "http://", 7) != 0)
		return -EINVAL;
	const char *h = url + 7;
	size_t hl = strcspn(h, ":/?#");
	char host[INET_ADDRSTRLEN];
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	struct in_addr in;
	/* inet_pton takes exactly four decimal parts: no "10.1", no octal, no hex */
	if (inet_pton(AF_INET, host, &in) != 1)
		return -EINVAL;
	u->addr = in.s_addr;
	u->port = 80;
	const char *p = h + hl;
	if (*p == ':') {
		unsigned v = 0;
		size_t d = 0;
		for (p++; *p >= '0' && *p <= '9' && d < 6; p++, d++)
			v = v * 10 + (unsigned)(*p - '0');
		if (d == 0 || d > 5 || v == 0 || v > 65535 || (*p && !strchr("/?#", *p)))
			return -EINVAL;
		u->port = (uint16_t)v;
	}
	if (u->port == 80)
		snprintf(u->host, sizeof(u->host), "%s", host);
	else
		snprintf(u->host, sizeof(u->host), "%s:%u", host, u->port);
	size_t tl = strcspn(p, "#");
	size_t o = 0;
	if (*p != '/') /* "" or "?query": the path is "/" (RFC 9112 §3.2.1) */
		u->target[o++] = '/';
	if (o + tl > HTTP_TARGET_MAX)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < tl; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c <= 0x20 || c >= 0x7f)
			return -EINVAL; /* spaces and controls must be percent-encoded by the user */
		u->target[o++] = (char)c;
	}
	u->target[o] = '\0';
	return 0;
}

/* --- small tables ------------------------------------------------------------------------ */

const char *http_reason(unsigned status)
{
	switch (status) {
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}

const char *http_content_type(const char *path)
{
	static const struct {
		const char *ext;
		const char *type;
	} types[] = {
		{"html", "text/html"},        {"htm", "text/html"},
		{"txt", "text/plain"},        {"css", "text/css"},
		{"js", "text/javascript"},    {"json", "application/json"},
		{"xml", "application/xml"},   {"png", "image/png"},
		{"jpg", "image/jpeg"},        {"jpeg", "image/jpeg"},
		{"gif", "image/gif"},         {"svg", "image/svg+xml"},
		{"ico", "image/vnd.microsoft.icon"}, {"pdf", "application/pdf"},
		{"gz", "application/gzip"},   {"tar", "application/x-tar"},
		{"zip", "application/zip"},   {"wasm", "application/wasm"},
	};
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash + 1 : path, '.');
	if (dot && dot[1])
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

void http_date(int64_t t, char out[32])
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;
	/* IMF-fixdate has four year digits: anything else reads as the epoch */
	if (!gmtime_r(&tt, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
		snprintf(out, 32, "Thu, 01 Jan 1970 00:00:00 GMT");
		return;
	}
	/* by hand rather than strftime: the names must not follow the locale */
	char tmp[80];
	snprintf(tmp, sizeof(tmp), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
		 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
	size_t n = strnlen(tmp, 31);
	memcpy(out, tmp, n);
	out[n] = '\0';
}
