/* nicd_capture: nicd's side of `ustackctl pcap` (contract: common/capture.h).
 *
 * The socket is an XPUB with ZMQ_XPUB_VERBOSER, so every subscribe and every unsubscribe
 * reaches us, one per client (libzmq sends the unsubscribe of a client that vanishes): their
 * balance is the number of clients, and copying stops when it falls to zero. ZMQ_XPUB_NODROP
 * makes a full client queue an EAGAIN we count rather than a silent drop. A client can only
 * send subscriptions; anything else is counted and ignored, and ZMQ_MAXMSGSIZE bounds it.
 *
 * Cost: nothing per frame without clients. With one, a copy of each frame into a ZeroMQ
 * message (up to 64 KiB for a super-frame) and a send that never blocks; a client that reads
 * too slowly loses frames, counted on both sides, and never slows the data path beyond the
 * copy.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "nicd_capture.h"
#include "paths.h"
#include "runtime_sock.h"

#define CAPTURE_POLL_BUDGET 16
#define CAPTURE_SUB_MAX 256 /* longest message a client may send */
#define CAPTURE_HWM 1024 /* frames queued per client before they are dropped: 1.5 MiB of
			  * plain frames, 64 MiB of super-frames at most */

int nicd_capture_open(void *zctx, const char *instance, struct nicd_capture *c)
{
	char path[256];
	memset(c, 0, sizeof(*c));
	int rc = ustack_runtime_path(instance, CAPTURE_FILE, path, sizeof(path));
	if (rc < 0)
		return rc;
	c->sock = zmq_socket(zctx, ZMQ_XPUB);
	if (!c->sock)
		return -errno;
	int one = 1, zero = 0, hwm = CAPTURE_HWM;
	int64_t maxmsg = CAPTURE_SUB_MAX;
	if (zmq_setsockopt(c->sock, ZMQ_XPUB_VERBOSER, &one, sizeof(one)) < 0 ||
	    zmq_setsockopt(c->sock, ZMQ_XPUB_NODROP, &one, sizeof(one)) < 0 ||
	    zmq_setsockopt(c->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
	    zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) < 0)
		rc = -errno;
	else /* what the wire carries: the stack's own user (and root) only */
		rc = runtime_sock_bind_zmq(c->sock, path, 0600);
	if (rc < 0) {
		zmq_close(c->sock);
		c->sock = NULL;
	}
	return rc;
}

void nicd_capture_close(struct nicd_capture *c)
{
	if (c->sock)
		zmq_close(c->sock);
	c->sock = NULL;
	c->subscribers = 0;
}

/* Tell every client that what follows is captured (common/capture.h "Start"). */
static void nicd_capture_start(struct nicd_capture *c)
{
	struct capture_hdr h = {
		.magic = CAPTURE_MAGIC,
		.version = CAPTURE_VERSION,
		.kind = CAPTURE_KIND_START,
		.seq = c->seq,
	};
	/* A client whose queue is full misses it; it then sees frames first, which say as much */
	(void)zmq_send(c->sock, &h, sizeof(h), ZMQ_DONTWAIT);
}

bool nicd_capture_poll(struct nicd_capture *c)
{
	uint8_t m[CAPTURE_SUB_MAX];
	for (int i = 0; i < CAPTURE_POLL_BUDGET; i++) {
		int n = zmq_recv(c->sock, m, sizeof(m), ZMQ_DONTWAIT);
		if (n < 0)
			return false;
		if (n < 1 || n > (int)sizeof(m) || (m[0] != 0 && m[0] != 1)) {
			c->bad_subscriptions++;
			continue;
		}
		if (m[0] == 1) {
			c->subscribers++;
			log_info("capture: a client subscribed (%u now)", c->subscribers);
			nicd_capture_start(c);
		} else if (c->subscribers > 0) {
			c->subscribers--;
			log_info("capture: a client left (%u now)", c->subscribers);
		}
	}
	return true;
}

void nicd_capture_frames(struct nicd_capture *c, enum capture_dir dir, struct buf *const *frames,
			 unsigned n, uint64_t time_ns)
{
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = buf_chain_len(frames[i]);
		uint32_t caplen = len < CAPTURE_SNAP_MAX ? len : CAPTURE_SNAP_MAX;
		struct capture_hdr h = {
			.magic = CAPTURE_MAGIC,
			.version = CAPTURE_VERSION,
			.kind = CAPTURE_KIND_FRAME,
			.dir = (uint8_t)dir,
			.seq = c->seq++,
			.time_ns = time_ns,
			.len = len,
			.caplen = caplen,
		};
		zmq_msg_t msg;
		if (zmq_msg_init_size(&msg, sizeof(h) + caplen) < 0) {
			c->drops++;
			continue;
		}
		uint8_t *p = zmq_msg_data(&msg);
		memcpy(p, &h, sizeof(h));
		if (buf_copy_out(frames[i], 0, p + sizeof(h), caplen) < 0 ||
		    zmq_msg_send(&msg, c->sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			c->drops++;
			continue;
		}
		c->frames++;
	}
}

int nicd_capture_report(const struct nicd_capture *c, struct ctl_server *srv,
			Ustack__CtlReply *r)
{
	int rc = ctl_reply_add_counter(srv, r, "capture_frames", c->frames);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "capture_drop", c->drops);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "capture_clients", c->subscribers);
	if (rc == 0)
		rc = ctl_reply_add_counter(srv, r, "capture_bad_subscriptions",
					   c->bad_subscriptions);
	return rc;
}
