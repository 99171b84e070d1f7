/* http_parse: the HTTP/1.1 message syntax ustack-http needs, pure (no I/O, no allocation).
 *
 * RFC 9112 (HTTP/1.1 messages) and RFC 9110 (semantics) are the rules; where they allow a
 * choice this module takes the strict one, because the server faces whoever can reach the
 * stack:
 *   - everything is bounded: a request head (request line and fields) is at most
 *     HTTP_HEAD_MAX bytes, a request-target HTTP_TARGET_MAX, at most HTTP_FIELDS_MAX fields; a
 *     response head at most HTTP_RESP_HEAD_MAX; a chunk-size line, a chunk extension and the
 *     trailer section have their own limits. The caller never buffers more than these;
 *   - a line ends with CRLF; a bare LF is accepted as a line end (RFC 9112 §2.2 allows it), a
 *     bare CR anywhere is an error (§2.2: MUST reject or replace), as is any control character
 *     but HTAB in a field value, obs-fold (§5.2: MAY reject with 400), whitespace between a
 *     field name and its colon (§5.1: MUST reject with 400);
 *   - message framing (§6.3): Transfer-Encoding with Content-Length is refused; a
 *     Content-Length must be digits (a list of identical values is one value, §6.3 item 5);
 *     an HTTP/1.1 request needs exactly one valid Host (RFC 9112 §3.2: MUST answer 400);
 *   - the request-target is origin-form ("/path?query") or absolute-form ("http://host/path",
 *     §3.2.2: a server MUST accept it); its path is percent-decoded and its dot segments
 *     removed (RFC 3986 §5.2.4) before it names a file, and a path that would climb above the
 *     root, or that decodes to a NUL or a control character, is refused: no encoding
 *     ("%2e%2e", "%2f", "..%5c") reaches the file system as a way up.
 *
 * Request parsing answers with the HTTP status to send back when the request is unusable
 * (400, 414, 431, 501, 505), so the server has one place that decides. The response side
 * (for `ustack-http get`) returns 0 or a negative errno, with a one-line reason.
 */
#ifndef USTACK_HTTP_PARSE_H
#define USTACK_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_HEAD_MAX 8192u        /* request line + fields + blank line, server side */
#define HTTP_TARGET_MAX 2048u      /* request-target (414 above it) */
#define HTTP_METHOD_MAX 16u        /* longer method tokens are unknown (501) */
#define HTTP_FIELDS_MAX 64u        /* header fields in a head (431 above) */
#define HTTP_RESP_HEAD_MAX 16384u  /* a response head, client side */
#define HTTP_CHUNK_LINE_MAX 1024u  /* chunk-size line with its extensions */
#define HTTP_TRAILER_MAX 8192u     /* a chunked message's trailer section */

enum http_method {
	HTTP_METHOD_GET = 0,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_OTHER,   /* a method RFC 9110 §9 or RFC 5789 defines, not served here: 405 */
	HTTP_METHOD_UNKNOWN, /* any other token: 501 (RFC 9110 §9.1) */
	HTTP_METHOD_COUNT
};

/* A parsed request head. Strings are NUL-terminated copies. */
struct http_request {
	enum http_method method;
	char method_name[HTTP_METHOD_MAX + 1];
	unsigned version_minor;    /* HTTP/1.0 or HTTP/1.1 (a later 1.x reads as 1.1) */
	char target[HTTP_TARGET_MAX + 1];  /* as received (for the log and redirects) */
	/* The file it names, relative to the root, decoded and normalised: "" for the root,
	 * "dir/file.txt"; never begins with '/', never holds "." or ".." segments or "//". */
	char path[HTTP_TARGET_MAX + 1];
	bool trailing_slash;       /* the decoded path ended with '/' (a directory was asked) */
	bool keep_alive;           /* the connection may carry another request (RFC 9112 §9.3) */
	bool has_content_length;
	uint64_t content_length;   /* request body bytes (0 without Content-Length) */
	bool chunked;              /* Transfer-Encoding: the body's length is unknown here */
};

/* Where a message head ends: the length of the head including its empty line (CRLF CRLF,
 * or LF LF / mixed with bare LFs), 0 when buf[0..len) does not hold a complete head yet. Empty
 * lines before a request line are part of what it skips (RFC 9112 §2.2). */
size_t http_head_end(const char *buf, size_t len);

/* Parse a request head (buf[0..len), as delimited by http_head_end). 0 and *req filled when
 * the request can be answered; otherwise the status to answer with and close after: 400
 * (malformed, bad Host, bad framing, a path above the root), 414 (target too long), 431 (too
 * many fields), 501 (unknown method, or the method token too long), 505 (HTTP major version
 * not 1). *why names the reason (static string) either way. */
int http_parse_request(const char *buf, size_t len, struct http_request *req, const char **why);

/* Decode and normalise a request-target's path (what http_parse_request does for req->path):
 * 0, or -EINVAL (bad form, bad escape, NUL or control byte), -ENAMETOOLONG (out too small),
 * -EACCES (a ".." would leave the root). */
int http_target_path(const char *target, char *out, size_t out_size, bool *trailing_slash);

/* A parsed response head (client side). */
struct http_response {
	unsigned version_minor;
	unsigned status;           /* 100 .. 599 */
	char reason[128];          /* truncated copy */
	bool has_content_length;
	uint64_t content_length;
	bool chunked;              /* Transfer-Encoding ends with chunked */
	bool close;                /* Connection: close (or HTTP/1.0 without keep-alive) */
};

/* Parse a response head (buf[0..len) as delimited by http_head_end). 0, or -EBADMSG with *why
 * (static string): status line malformed, version not 1.x, status out of range, a field
 * malformed, Content-Length invalid or conflicting, Transfer-Encoding other than chunked
 * last, both Transfer-Encoding and Content-Length, too many fields. */
int http_parse_response(const char *buf, size_t len, struct http_response *resp,
			const char **why);

/* Whether a response to a GET carries a body (RFC 9112 §6.3 items 1-2: not 1xx, 204, 304). */
bool http_response_has_body(unsigned status);

/* Chunked transfer coding decoder (RFC 9112 §7.1): fed the bytes after the head, it moves the
 * data to the front of the same buffer. Extensions are skipped (bounded), the trailer section
 * is read and ignored (bounded), chunk sizes are at most 2^60. */
enum http_chunked_state {
	HTTP_CHUNK_SIZE = 0,  /* in the hex digits of a chunk-size */
	HTTP_CHUNK_EXT,       /* after the size: extensions up to the line's end */
	HTTP_CHUNK_DATA,      /* in chunk data (left bytes to go) */
	HTTP_CHUNK_DATA_CR,   /* the CRLF after the data */
	HTTP_CHUNK_DATA_LF,
	HTTP_CHUNK_TRAILER,   /* trailer field lines until an empty one */
	HTTP_CHUNK_DONE,
	HTTP_CHUNK_STATE_COUNT
};
struct http_chunked {
	enum http_chunked_state state;
	uint64_t left;            /* DATA: bytes of the chunk still to come; SIZE: the size so far */
	unsigned digits;          /* SIZE: hex digits seen */
	unsigned line;            /* bytes of the current size line / trailer line */
	unsigned trailer;         /* trailer bytes so far */
	bool saw_cr;              /* a CR ends the current line (LF must follow) */
};
void http_chunked_init(struct http_chunked *c);
/* Decode buf[0..len) in place: data bytes are moved to buf[0..*out_len). Returns how many input
 * bytes were used (less than len only once DONE: the rest belongs to whatever follows), or
 * -EBADMSG (*why says what) for a malformed or over-limit coding. */
ssize_t http_chunked_decode(struct http_chunked *c, char *buf, size_t len, size_t *out_len,
			    const char **why);

/* A URL `ustack-http get` can fetch: http://A.B.C.D[:port][/path][?query] (the stack has no
 * resolver, so the host is a dotted IPv4 address; no userinfo; a fragment is dropped). */
struct http_url {
	uint32_t addr;           /* network order */
	uint16_t port;           /* host order, 80 by default */
	char host[32];           /* the Host field: "A.B.C.D" or "A.B.C.D:port" */
	char target[HTTP_TARGET_MAX + 1]; /* origin-form: "/path?query" */
};
/* 0, or -EINVAL (not such a URL; a byte of the path outside VCHAR) / -ENAMETOOLONG. */
int http_url_parse(const char *url, struct http_url *u);

/* The reason phrase of a status code this server sends ("Not Found"), "" for others. */
const char *http_reason(unsigned status);

/* A Content-Type for a file name by its extension (application/octet-stream otherwise). */
const char *http_content_type(const char *path);

/* An IMF-fixdate (RFC 9110 §5.6.7) of t (seconds since the epoch) into out (30 bytes). */
void http_date(int64_t t, char out[32]);

#endif
