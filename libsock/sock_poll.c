/* sock_poll: us_poll, poll(2) over stack sockets and ordinary descriptors together.
 *
 * A stack socket's readiness is computed, not asked of the kernel: for a datagram socket
 * POLLIN when its RX ring holds a record, POLLOUT when its send buffer is less than half in use
 * (Linux's sock_writeable), POLLERR when an error is pending, POLLHUP/POLLRDHUP after
 * shutdown(); for a stream socket Linux's tcp_poll mask over its rings, its slot block and our
 * own shutdowns (sock_stream_ready). Each pass computes that, then makes one real poll() over
 * the ordinary descriptors as given plus the slots' eventfds (the server writes one after
 * producing into the slot, when it records an error, and for a stream socket on every change
 * of its slot block). With something ready that poll does not wait; otherwise it waits for the
 * rest of the timeout, and the pass starts over. A datagram socket's eventfd that fired over
 * an empty ring is the server's error hint: the socket's pending error is fetched
 * (sock_data_probe_error) and reported as POLLERR; a stream socket's stale count is settled.
 *
 * POLLOUT. Datagram room comes back as a futex bump in the region, which poll() cannot wait on,
 * so a datagram socket waiting only for POLLOUT makes the real poll wake every
 * SOCK_POLL_TX_SLICE_MS to look again. A stream socket asks tcpd to write its eventfd when room
 * comes back (sock_stream_arm_room, before it looks), so its eventfd is waited on, unless the
 * eventfd is held up by something readable the caller did not ask about: then it is left out
 * (it would fire at once, for ever) and the slice applies instead.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "sock_priv.h"
#include "ustack/sock.h"

#define SOCK_POLL_TX_SLICE_MS 2
#define SOCK_POLL_STACK 64u /* entries handled without malloc */

struct sock_poll_ent {
	bool is_sock;
	struct sock_ref ref;
};

static int sock_poll_ms_left(int timeout, uint64_t deadline)
{
	if (timeout < 0)
		return -1;
	uint64_t now = sock_now_ms();
	return now >= deadline ? 0 : (int)(deadline - now);
}

US_API int us_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	if (nfds && !fds) {
		errno = EFAULT;
		return -1;
	}
	struct sock_poll_ent ent_stack[SOCK_POLL_STACK];
	struct pollfd kp_stack[SOCK_POLL_STACK];
	struct sock_poll_ent *ent = ent_stack;
	struct pollfd *kp = kp_stack;
	bool any_sock = false;

	/* Classify first; a call over ordinary descriptors only is plain poll(2). */
	if (nfds > SOCK_POLL_STACK) {
		ent = malloc(nfds * sizeof(*ent));
		kp = malloc(nfds * sizeof(*kp));
		if (!ent || !kp) {
			free(ent);
			free(kp);
			errno = ENOMEM;
			return -1;
		}
	}
	for (nfds_t i = 0; i < nfds; i++) {
		ent[i].is_sock = fds[i].fd >= 0 && sock_table_get(fds[i].fd, &ent[i].ref) == 0;
		any_sock |= ent[i].is_sock;
	}
	int rc;
	if (!any_sock) {
		rc = poll(fds, nfds, timeout);
		goto out;
	}

	uint64_t deadline = timeout > 0 ? sock_now_ms() + (uint64_t)timeout : 0;
	for (;;) {
		int ready = 0;
		bool tx_wait = false;
		for (nfds_t i = 0; i < nfds; i++) {
			fds[i].revents = 0;
			if (!ent[i].is_sock) {
				kp[i] = (struct pollfd){.fd = fds[i].fd, .events = fds[i].events};
				continue;
			}
			const struct sock_ref *ref = &ent[i].ref;
			short ev = fds[i].events;
			bool want_out = ev & (POLLOUT | POLLWRNORM);
			bool stream = ref->tp == SOCK_TP_TCP;
			if (stream && want_out)
				sock_stream_arm_room(ref->slot); /* before looking: no wake-up lost */
			short rev = stream ? sock_stream_ready(ref, ev) : sock_data_ready(ref, ev);
			fds[i].revents = rev;
			if (rev)
				ready++;
			bool use_fd;
			if (rev & POLLNVAL) {
				use_fd = false;
			} else if (stream) {
				bool want_in = ev & (POLLIN | POLLRDNORM | POLLRDHUP);
				use_fd = want_in || !sock_stream_readable_now(ref->slot);
				if (!use_fd)
					tx_wait = true; /* the slice looks again */
			} else {
				use_fd = ev & (POLLIN | POLLRDNORM);
			}
			if (want_out && !(rev & (POLLOUT | POLLWRNORM)) && !stream)
				tx_wait = true;
			kp[i] = (struct pollfd){
				.fd = use_fd ? sock_tport(ref->tp)->slot_fd[ref->slot] : -1,
				.events = POLLIN,
			};
		}
		int wait = ready ? 0 : sock_poll_ms_left(timeout, deadline);
		if (tx_wait && (wait < 0 || wait > SOCK_POLL_TX_SLICE_MS))
			wait = SOCK_POLL_TX_SLICE_MS;
		int n = poll(kp, nfds, wait);
		if (n < 0) {
			rc = -1; /* EINTR included: as poll(2), a signal ends the call */
			goto out;
		}
		bool hint = false;
		for (nfds_t i = 0; i < nfds; i++) {
			if (!ent[i].is_sock) {
				fds[i].revents = kp[i].revents;
				if (kp[i].revents)
					ready++;
			} else if (!fds[i].revents && (kp[i].revents & POLLIN)) {
				/* Fired but was not ready: data or a change that came since, or (a
				 * datagram socket) an error. The probe or the settling drains a stale
				 * count (unless something is readable), so this does not spin. */
				if (ent[i].ref.tp == SOCK_TP_TCP)
					sock_stream_settle(ent[i].ref.slot);
				else
					sock_data_probe_error(&ent[i].ref);
				hint = true;
			}
		}
		if (ready) {
			rc = ready;
			goto out;
		}
		if (!hint && timeout >= 0 && sock_poll_ms_left(timeout, deadline) == 0) {
			rc = 0; /* timed out */
			goto out;
		}
	}
out:
	if (ent != ent_stack) {
		free(ent);
		free(kp);
	}
	return rc;
}
