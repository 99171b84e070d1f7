/* http_server: `ustack-http serve`, a static file server over libsock stream sockets.
 *
 * One thread, one us_poll loop over the listener, every connection and a stop descriptor
 * (readable = stop, so a signal handler's write ends the loop at once). Each connection is a
 * small state machine:
 *
 *   HEAD    reading a request head into a buffer of HTTP_HEAD_MAX bytes (431 when it fills
 *           without an end); parsed by http_parse.c, which decides every error status
 *   BODY    discarding a request body announced by Content-Length (at most
 *           HTTP_SERVER_BODY_MAX: above it, or for a chunked body, 413 and close)
 *   SEND    writing the response: the head, then the file through a 64 KiB buffer (pread),
 *           as fast as the socket takes it, at most HTTP_SERVER_SEND_BUDGET per connection per
 *           loop pass so one fast client does not starve the others
 *   LINGER  after a response that closes the connection: shut down writing, read and drop
 *           what the client still sends (at most 2 s or HTTP_SERVER_LINGER_MAX bytes), then
 *           close. Closing with unread bytes would reset the connection and could destroy the
 *           response before the client read it (Apache's lingering close).
 *
 * HTTP/1.1 semantics: GET and HEAD; other methods of RFC 9110 get 405 with Allow, unknown ones
 * 501; keep-alive (HTTP/1.1 by default, HTTP/1.0 with "Connection: keep-alive"), pipelined
 * requests answered in order; Content-Length on every response (no chunked coding needed:
 * files have a size); Date, Last-Modified, Content-Type by extension. A directory asked without
 * a trailing slash is redirected (301) to it with one; with one, its index.html is served, else
 * 403 (no listings). Files are opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
 * under the root, so neither ".." (already refused by the parser) nor a symlink can reach
 * outside it; only regular files are served (a FIFO could block the loop: opened O_NONBLOCK
 * and refused).
 *
 * Bounds: at most max_conns connections (libsock gives a process 64 stream sockets; more
 * clients wait in the listen backlog), buffers of HTTP_HEAD_MAX + 64 KiB each; a head must be
 * complete within idle_ms of the connection's start or its previous response (then 408 if
 * anything had arrived), a stalled send is dropped after send_ms without progress.
 */
#ifndef USTACK_HTTP_SERVER_H
#define USTACK_HTTP_SERVER_H

#include <stdint.h>
#include <stdio.h>

#define HTTP_SERVER_CONNS_DEFAULT 56u   /* of libsock's 64 stream sockets per process: one for
					 * the listener, the rest for closed ones still sending */
#define HTTP_SERVER_BODY_MAX (64u << 10) /* request body read and dropped; above it: 413 */
#define HTTP_SERVER_LINGER_MAX (256u << 10)
#define HTTP_SERVER_SEND_BUDGET (1u << 20)
#define HTTP_SERVER_IDLE_MS 15000
#define HTTP_SERVER_SEND_MS 30000
#define HTTP_SERVER_LINGER_MS 2000

struct http_server_config {
	uint16_t port;           /* host order */
	const char *root;        /* directory served */
	unsigned max_conns;      /* 0: HTTP_SERVER_CONNS_DEFAULT */
	int stop_fd;             /* readable: stop (-1: none) */
	FILE *log;               /* access log, a line per response (NULL: none) */
	int idle_ms;             /* 0: the defaults above */
	int send_ms;
};

/* Counters, printed at exit. */
struct http_server_stats {
	uint64_t conns_accepted;
	uint64_t conns_closed;
	uint64_t accept_errors;      /* accept failed (EMFILE: libsock's sockets all in use) */
	uint64_t conns_timed_out;    /* idle, slow head, stalled send */
	uint64_t conns_reset;        /* a receive or send failed (reset, aborted) */
	uint64_t requests;
	uint64_t resp_2xx;
	uint64_t resp_3xx;
	uint64_t resp_4xx;
	uint64_t resp_5xx;
	uint64_t bad_requests;       /* refused by the parser (400, 414, 431, 501, 505) */
	uint64_t traversal_refused;  /* a path above the root, or a symlink out of it */
	uint64_t body_bytes;         /* file bytes sent */
	uint64_t file_errors;        /* a file ended before its size (changed while sent) */
	uint64_t listener_reopened;  /* the stack lost the listener: opened again */
};

struct http_server;

/* Bind and listen on cfg->port (any address) and open the root. 0 and *out, or a negative
 * errno (printed to stderr). cfg is copied; root and log must outlive the server. */
int http_server_open(const struct http_server_config *cfg, struct http_server **out);
/* Serve until cfg->stop_fd is readable. 0, or a negative errno for a failure of the loop
 * itself (us_poll); per-connection failures only close that connection. */
int http_server_run(struct http_server *s);
const struct http_server_stats *http_server_stats(const struct http_server *s);
/* Close every connection and the listener, free everything. */
void http_server_close(struct http_server **s);

#endif
