/* sock_table: which file descriptor is which stack socket.
 *
 * A socket is a region slot; the table has one entry per slot, and the descriptor the
 * application holds is a dup of the slot's eventfd. Lookups scan the 64 entries under tab_lock
 * and copy what the caller needs into a struct sock_ref, so no pointer into the table outlives
 * the lock. Each entry has a generation, bumped when its socket is closed: a call that took a
 * ref before a concurrent us_close() notices (sock_table_current_locked) and fails with EBADF
 * rather than touching the slot's next socket.
 *
 * Invariant: state OPEN <=> fd >= 0. A descriptor closed behind our back with close(2) instead of
 * us_close() stays in the table until us_close(); that is documented in the public header.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "sock_priv.h"
#include "udp_core.h"

struct sock_lib sock_lib = {
	.req_lock = PTHREAD_MUTEX_INITIALIZER,
	.tx_lock = PTHREAD_MUTEX_INITIALIZER,
	.tab_lock = PTHREAD_MUTEX_INITIALIZER,
	.doorbell_fd = -1,
	.wake_fd = -1,
	.session_fd = -1,
};

void sock_tab_lock(void)
{
	pthread_mutex_lock(&sock_lib.tab_lock);
}

void sock_tab_unlock(void)
{
	pthread_mutex_unlock(&sock_lib.tab_lock);
}

static void sock_table_fill_ref(unsigned slot, struct sock_ref *ref)
{
	const struct sock_entry *e = &sock_lib.ent[slot];
	ref->slot = slot;
	ref->gen = e->gen;
	ref->sid = e->sid;
	ref->fd = e->fd;
	ref->nonblock = e->nonblock;
	ref->connected = e->connected;
	ref->bound = e->bound;
	ref->broadcast = e->broadcast;
	ref->recverr = e->recverr;
	ref->pmtudisc = e->pmtudisc;
	ref->saddr = e->saddr;
	ref->lost = sock_table_lost_locked(e);
	ref->peer = e->peer;
	ref->rcvtimeo_ms = e->rcvtimeo_ms;
	ref->sndtimeo_ms = e->sndtimeo_ms;
	ref->sndbuf = e->sndbuf;
}

int sock_table_get(int fd, struct sock_ref *ref)
{
	if (fd < 0)
		return -EBADF;
	int rc = -EBADF;
	sock_tab_lock();
	for (unsigned i = 0; i < SOCK_SLOTS; i++) {
		if (sock_lib.ent[i].state == SOCK_ST_OPEN && sock_lib.ent[i].fd == fd) {
			sock_table_fill_ref(i, ref);
			rc = 0;
			break;
		}
	}
	sock_tab_unlock();
	return rc;
}

bool sock_table_lost_locked(const struct sock_entry *e)
{
	return e->sess_gen != sock_lib.sess_gen || sock_lib.sess_lost;
}

void sock_table_wake_all_locked(void)
{
	for (unsigned i = 0; i < SOCK_SLOTS; i++)
		if (sock_lib.ent[i].state == SOCK_ST_OPEN)
			sock_table_wake(i);
}

bool sock_table_current_locked(const struct sock_ref *ref)
{
	const struct sock_entry *e = &sock_lib.ent[ref->slot];
	return e->state == SOCK_ST_OPEN && e->gen == ref->gen;
}

struct sock_entry *sock_table_entry_locked(const struct sock_ref *ref)
{
	return sock_table_current_locked(ref) ? &sock_lib.ent[ref->slot] : NULL;
}

int sock_table_reserve(void)
{
	int slot = -EMFILE;
	sock_tab_lock();
	for (unsigned i = 0; i < SOCK_SLOTS; i++) {
		if (sock_lib.ent[i].state == SOCK_ST_FREE) {
			sock_lib.ent[i].state = SOCK_ST_OPENING;
			slot = (int)i;
			break;
		}
	}
	sock_tab_unlock();
	return slot;
}

void sock_table_unreserve(unsigned slot)
{
	sock_tab_lock();
	sock_lib.ent[slot].state = SOCK_ST_FREE;
	sock_lib.ent[slot].gen++;
	sock_tab_unlock();
}

void sock_table_stuck(unsigned slot)
{
	sock_tab_lock();
	sock_lib.ent[slot].state = SOCK_ST_STUCK;
	sock_lib.ent[slot].sess_gen = sock_lib.sess_gen;
	sock_lib.ent[slot].gen++;
	sock_tab_unlock();
}

void sock_table_open(unsigned slot, int fd, uint32_t sid, bool nonblock)
{
	sock_tab_lock();
	struct sock_entry *e = &sock_lib.ent[slot];
	e->state = SOCK_ST_OPEN;
	e->fd = fd;
	e->sid = sid;
	e->sess_gen = sock_lib.sess_gen;
	e->nonblock = nonblock;
	e->bound = e->connected = e->broadcast = e->recverr = false;
	e->pmtudisc = IP_PMTUDISC_WANT; /* udp_ext_reset's, Linux's default */
	e->saddr = 0;
	e->err = 0;
	memset(&e->peer, 0, sizeof(e->peer));
	e->rcvtimeo_ms = e->sndtimeo_ms = -1;
	e->sndbuf = UDP_WMEM_DEFAULT; /* what the server gives a new socket (udp_core.h) */
	sock_tab_unlock();
}

int sock_table_begin_close(int fd, struct sock_ref *ref)
{
	if (fd < 0)
		return -EBADF;
	int rc = -EBADF;
	sock_tab_lock();
	for (unsigned i = 0; i < SOCK_SLOTS; i++) {
		struct sock_entry *e = &sock_lib.ent[i];
		if (e->state == SOCK_ST_OPEN && e->fd == fd) {
			sock_table_fill_ref(i, ref);
			e->state = SOCK_ST_CLOSING;
			e->fd = -1;
			e->gen++;
			rc = 0;
			break;
		}
	}
	sock_tab_unlock();
	if (rc == 0)
		sock_table_wake(ref->slot);
	return rc;
}

void sock_table_free(unsigned slot)
{
	sock_tab_lock();
	struct sock_entry *e = &sock_lib.ent[slot];
	e->state = SOCK_ST_FREE;
	e->fd = -1;
	e->gen++;
	sock_tab_unlock();
}

int sock_table_closing(unsigned *slots, uint32_t *sids)
{
	int n = 0;
	sock_tab_lock();
	for (unsigned i = 0; i < SOCK_SLOTS; i++) {
		const struct sock_entry *e = &sock_lib.ent[i];
		if (e->state != SOCK_ST_CLOSING && e->state != SOCK_ST_STUCK)
			continue;
		if (sock_table_lost_locked(e)) {
			/* the server forgot it with its session: nothing to confirm */
			sock_lib.ent[i].state = SOCK_ST_FREE;
			continue;
		}
		if (e->state == SOCK_ST_STUCK)
			continue;
		slots[n] = i;
		sids[n] = e->sid;
		n++;
	}
	sock_tab_unlock();
	return n;
}

void sock_table_wake(unsigned slot)
{
	/* A receiver blocked on this slot wakes up, sees the generation moved and returns EBADF. */
	uint64_t one = 1;
	if (write(sock_lib.slot_fd[slot], &one, sizeof(one)) < 0) {
		/* counter saturated: it is readable anyway */
	}
}
