/* nicd_capture: nicd's side of `ustackctl pcap`: copies frames crossing the device to capture
 * clients while there are any (message format and contract: common/capture.h).
 */
#ifndef USTACK_NICD_CAPTURE_H
#define USTACK_NICD_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "capture.h"
#include "ctl.h"
#include "desc.h"

struct nicd_capture {
	void *sock;      /* XPUB at <runtime dir>/nicd.capture */
	unsigned subscribers;
	uint64_t seq;    /* next frame's (common/capture.h) */
	uint64_t frames; /* frames handed to the socket */
	uint64_t drops;  /* frames the clients' queues could not take */
	uint64_t bad_subscriptions; /* messages from clients that are no subscription */
};

/* Bind the capture socket. 0 or a negative errno (nothing left open). */
int nicd_capture_open(void *zctx, const char *instance, struct nicd_capture *c);
void nicd_capture_close(struct nicd_capture *c);

/* Take subscription changes (the loop calls it when the socket is readable). true if more
 * may be waiting (a budget of them is taken per call). */
bool nicd_capture_poll(struct nicd_capture *c);

static inline bool nicd_capture_active(const struct nicd_capture *c)
{
	return c->subscribers > 0;
}

/* Copy frames[0..n) (chains, untouched and still the caller's) to the clients, as crossing the
 * device in direction dir at wall-clock time_ns. Call only when nicd_capture_active. */
void nicd_capture_frames(struct nicd_capture *c, enum capture_dir dir, struct buf *const *frames,
			 unsigned n, uint64_t time_ns);

/* capture_frames, capture_drop, capture_clients, capture_bad_subscriptions into a STATS reply. */
int nicd_capture_report(const struct nicd_capture *c, struct ctl_server *srv,
			Ustack__CtlReply *r);

#endif
