/* ctl: the control socket every server serves (`<runtime dir>/<layer>.ctl`, a ZeroMQ ROUTER) and
 * the client call ustackctl uses (a DEALER per call).
 *
 * Requests are ustack.CtlRequest, replies ustack.CtlReply (proto/ctl.proto). A request that does
 * not parse gets a reply with status -EBADMSG and id 0; the server never crashes on one. */
#ifndef USTACK_CTL_H
#define USTACK_CTL_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

#include "ctl.pb-c.h"
#include "sock_diag.h"
#include "stats.h"

struct ctl_server;

/* Fill `reply` for `req`; strings and arrays it points to must live until the handler is called
 * again (use ctl_reply_* helpers, which keep them in the server). Return 0 or negative errno (put
 * in reply->status). */
typedef int (*ctl_handler_fn)(void *arg, const Ustack__CtlRequest *req, Ustack__CtlReply *reply,
			      struct ctl_server *srv);

/* <runtime dir>/<layer>.ctl, the layer's control socket, into path. 0 or a negative errno. */
int ctl_path(const char *instance, const char *layer, char *path, size_t size);
/* Bind the layer's control socket, replacing a killed predecessor's socket file in one step
 * (runtime_sock.h), mode 0600. */
int ctl_server_open(void *zctx, const char *instance, const char *layer, ctl_handler_fn fn,
		    void *arg, struct ctl_server **out);
void ctl_server_close(struct ctl_server **srv);
void *ctl_server_socket(struct ctl_server *srv);
/* An extension of the server's handler, for what every layer answers the same way (faults:
 * link_fault.h). It answers FAULT requests in the handler's place, and after the handler
 * succeeded on a STATUS or STATS request it adds to the reply. */
void ctl_server_set_ext(struct ctl_server *srv, ctl_handler_fn fn, void *arg);

/* Serve up to `budget` waiting requests without blocking. Returns how many were served. */
unsigned ctl_server_poll(struct ctl_server *srv, unsigned budget);

/* Append counters named by fields[0..n) of stats, each name prefixed by prefix (may be ""). */
int ctl_reply_add_counters(struct ctl_server *srv, Ustack__CtlReply *reply, const char *prefix,
			   const struct stat_field *fields, unsigned n, const void *stats);
int ctl_reply_add_counter(struct ctl_server *srv, Ustack__CtlReply *reply, const char *name,
			  uint64_t value);
/* STATS: a latency histogram (a copy of its buckets, up to the last non-zero one). */
struct hist;
int ctl_reply_add_hist(struct ctl_server *srv, Ustack__CtlReply *reply, const char *name,
		       const struct hist *h);
/* SOCKETS: one page of n sockets (in scratch memory), and where the next page starts (more:
 * there may be one). */
int ctl_reply_add_sockets(struct ctl_server *srv, Ustack__CtlReply *reply,
			  const struct sock_diag *d, unsigned n, uint32_t next_cursor, bool more);
/* Scratch memory that lives until the next request (freed by the server). NULL on ENOMEM. */
void *ctl_reply_alloc(struct ctl_server *srv, size_t size);

/* Client: one request to `layer` of `instance`, waiting at most timeout_ms. On success *reply is
 * the unpacked reply (free with ustack__ctl_reply__free_unpacked(reply, NULL)) and the return is
 * 0; -ETIMEDOUT if nothing answered, -EBADMSG if the reply did not parse, -errno otherwise. */
int ctl_call(void *zctx, const char *instance, const char *layer, Ustack__CtlRequest__Type type,
	     int timeout_ms, Ustack__CtlReply **reply);
/* The same with a whole request (its id is set here; FAULT requests carry a FaultSpec). */
int ctl_call_request(void *zctx, const char *instance, const char *layer, Ustack__CtlRequest *req,
		     int timeout_ms, Ustack__CtlReply **reply);
/* The same with a cursor (SOCKETS pages: 0, then each reply's next_cursor while it says more). */
int ctl_call_page(void *zctx, const char *instance, const char *layer,
		  Ustack__CtlRequest__Type type, uint32_t cursor, int timeout_ms,
		  Ustack__CtlReply **reply);

#endif
