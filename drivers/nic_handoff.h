/* nic_handoff: the serving nicd hands its open device file to its standby, ahead of any crash.
 *
 * Why. A TAP accepts one file at a time (without IFF_MULTI_QUEUE). When nicd dies, its file is
 * released only at the end of its io_uring's teardown, which the kernel runs on a worker after
 * the process is gone: 20-70 ms here. Meanwhile a successor's TUNSETIFF gets -EBUSY, and the
 * frames the kernel sends are queued on the dead file, to be purged with it when it goes. A
 * standby that already holds the same open file (a duplicate received with SCM_RIGHTS) keeps
 * it alive through the death: the frames queued on it wait for the standby, which starts
 * reading them as soon as it holds the layer's lock, without waiting for the dead ring.
 *
 * Protocol. The serving nicd listens on <runtime dir>/nicd.handoff (AF_UNIX, SOCK_SEQPACKET,
 * mode 0600). A standby connects and reads one message: one byte, NIC_HANDOFF_READY with the
 * file attached, or NIC_HANDOFF_NOT_YET (the device cannot be handed over yet: see
 * nic_backend_ops.handoff_fd) without one; then the connection is closed. Nothing is sent
 * toward the server, so a hostile client can only make it accept and close.
 *
 * Trust. Both ends check the other's credentials (SO_PEERCRED): the server gives its device
 * only to a process of its own uid (the standby runs as the same user with the same
 * capabilities: nothing it gets is more than it could open itself); the standby takes a file
 * only from the pid that holds the layer's lock, so a socket someone else bound under the same
 * name cannot plant a file on it. The file itself is checked again when it is used (nic_tap.c:
 * TUNGETIFF must name our device with our flags).
 */
#ifndef USTACK_NIC_HANDOFF_H
#define USTACK_NIC_HANDOFF_H

#include <stdint.h>
#include <sys/types.h>

#define NIC_HANDOFF_FILE "nicd.handoff"
#define NIC_HANDOFF_READY 'R'
#define NIC_HANDOFF_NOT_YET 'N'

struct nic_handoff_stats {
	uint64_t given;    /* files handed to a standby */
	uint64_t not_yet;  /* standbys told to come back later */
	uint64_t refused;  /* peers of another uid, or failed sends */
};

struct nic_handoff {
	int fd; /* the listening socket; -1 when closed */
	char path[108];
	struct nic_handoff_stats stats;
};

/* Serving side: bind and listen at `path` (a stale socket there is replaced: only the holder
 * of the layer's lock calls this). 0 or negative errno; h->fd is non-blocking, for the loop. */
int nic_handoff_listen(struct nic_handoff *h, const char *path);
/* Answer the standbys waiting on h->fd (at most `budget`): each gets `dev_fd` when it is >= 0,
 * NOT_YET when it is negative. Returns how many were answered; the caller polls h->fd again. */
unsigned nic_handoff_serve(struct nic_handoff *h, int dev_fd, unsigned budget);
/* Close the listener and remove its socket file. */
void nic_handoff_close(struct nic_handoff *h);

/* Standby side: connect to `path`, check that the peer is `holder` (the pid holding the layer's
 * lock) of our uid, and wait at most timeout_ms for its answer. Returns the received file
 * (close-on-exec, now ours), -EAGAIN for NOT_YET or no listener yet, -EPERM for a peer that is
 * not the holder, or another negative errno. */
int nic_handoff_fetch(const char *path, pid_t holder, int timeout_ms);

#endif
