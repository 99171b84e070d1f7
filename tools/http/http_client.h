/* http_client: `ustack-http get`, one HTTP/1.1 GET over a libsock stream socket.
 *
 * Connects (non-blocking connect, bounded by the timeout), sends one request with Host,
 * User-Agent, Accept and "Connection: close", and reads one response: interim 1xx responses
 * are skipped (101 is an error), the head must fit HTTP_RESP_HEAD_MAX; the body is framed as
 * RFC 9112 §6.3 says: a chunked coding is decoded, a Content-Length is held to exactly (the
 * connection ending early is an error, and the reading stops at that length even if the server
 * keeps the connection open), otherwise it runs to the end of the connection. Anything but 200
 * is an error; redirects are not followed. The body is written to a temporary file beside the
 * output that is renamed over it only once complete, so a failed fetch never leaves a partial
 * file behind under the output's name ("-" writes to stdout instead, as it comes).
 *
 * Every wait is bounded by timeout_ms without progress; the call never blocks longer.
 * Reentrant: no globals (several fetches may run on threads at once).
 */
#ifndef USTACK_HTTP_CLIENT_H
#define USTACK_HTTP_CLIENT_H

#include <stdint.h>

#define HTTP_CLIENT_TIMEOUT_MS 30000

struct http_get_opts {
	const char *url;
	const char *out_path;    /* file, or "-" for stdout */
	int timeout_ms;          /* 0: HTTP_CLIENT_TIMEOUT_MS */
};

struct http_get_result {
	unsigned status;         /* the final response's status, 0 if none arrived */
	uint64_t bytes;          /* body bytes written */
	double seconds;          /* from connect to the last byte */
	char error[256];         /* why it failed ("" on success) */
};

/* 0 when a 200 response's whole body is in out_path; -1 otherwise (res->error says why). */
int http_get(const struct http_get_opts *o, struct http_get_result *res);

#endif
