/* sock_table: which file descriptor is which stack socket.
 *
 * A socket is a region slot of its transport (datagram or stream); the table has one entry per
 * slot of each, and the descriptor the application holds is a dup of the slot's eventfd.
 * Lookups scan the 128 entries under tab_lock
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
	.setup_lock = PTHREAD_MUTEX_INITIALIZER,
	.tx_lock = PTHREAD_MUTEX_INITIALIZER,
	.tab_lock = PTHREAD_MUTEX_INITIALIZER,
	.wake_fd = -1,
	.tp = {
		[SOCK_TP_UDP] = {
			.layer = "udpd",
			.kind = REGION_KIND_DGRAM,
			.req_lock = PTHREAD_MUTEX_INITIALIZER,
			.region_fd = -1,
			.doorbell_fd = -1,
			.session_fd = -1,
		},
		[SOCK_TP_TCP] = {
			.layer = "tcpd",
			.kind = REGION_KIND_STREAM,
			.req_lock = PTHREAD_MUTEX_INITIALIZER,
			.region_fd = -1,
			.doorbell_fd = -1,
			.session_fd = -1,
		},
	},
};

void sock_tab_lock(void)
{
	pthread_mutex_lock(&sock_lib.tab_lock);
}

void sock_tab_unlock(void)
{
	pthread_mutex_unlock(&sock_lib.tab_lock);
}

static void sock_table_fill_ref(unsigned tp, unsigned slot, struct sock_ref *ref)
{
	const struct sock_entry *e = sock_ent(tp, slot);
	ref->tp = tp;
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
	ref->shut = e->shut;
	ref->saddr = e->saddr;
	ref->lost = sock_table_lost_locked(tp, e);
	ref->peer = e->peer;
	ref->rcvtimeo_ms = e->rcvtimeo_ms;
	ref->sndtimeo_ms = e->sndtimeo_ms;
	ref->sndbuf = e->sndbuf;
	ref->ss = e->ss;
	ref->listening = e->listening;
	ref->linger_on = e->linger_on;
	ref->linger_s = e->linger_s;
}

/* The entry whose application descriptor is fd (state OPEN), as (tp, slot); false if none. */
static bool sock_table_find_locked(int fd, unsigned *tp, unsigned *slot)
{
	for (unsigned i = 0; i < SOCK_TP_COUNT * SOCK_SLOTS; i++) {
		if (sock_lib.ent[i].state == SOCK_ST_OPEN && sock_lib.ent[i].fd == fd) {
			*tp = i / SOCK_SLOTS;
			*slot = i % SOCK_SLOTS;
			return true;
		}
	}
	return false;
}

int sock_table_get(int fd, struct sock_ref *ref)
{
	if (fd < 0)
		return -EBADF;
	int rc = -EBADF;
	unsigned tp, slot;
	sock_tab_lock();
	if (sock_table_find_locked(fd, &tp, &slot)) {
		sock_table_fill_ref(tp, slot, ref);
		rc = 0;
	}
	sock_tab_unlock();
	return rc;
}

bool sock_table_lost_locked(unsigned tp, const struct sock_entry *e)
{
	const struct sock_tport *t = sock_tport(tp);
	return e->sess_gen != t->sess_gen || t->sess_lost;
}

void sock_table_wake_all_locked(unsigned tp)
{
	for (unsigned i = 0; i < SOCK_SLOTS; i++)
		if (sock_ent(tp, i)->state == SOCK_ST_OPEN)
			sock_table_wake(tp, i);
}

bool sock_table_current_locked(const struct sock_ref *ref)
{
	const struct sock_entry *e = sock_ent(ref->tp, ref->slot);
	return e->state == SOCK_ST_OPEN && e->gen == ref->gen;
}

struct sock_entry *sock_table_entry_locked(const struct sock_ref *ref)
{
	return sock_table_current_locked(ref) ? sock_ent(ref->tp, ref->slot) : NULL;
}

int sock_table_reserve(unsigned tp)
{
	int slot = -EMFILE;
	sock_tab_lock();
	for (unsigned i = 0; i < SOCK_SLOTS; i++) {
		if (sock_ent(tp, i)->state == SOCK_ST_FREE) {
			sock_ent(tp, i)->state = SOCK_ST_OPENING;
			slot = (int)i;
			break;
		}
	}
	sock_tab_unlock();
	return slot;
}

void sock_table_unreserve(unsigned tp, unsigned slot)
{
	sock_tab_lock();
	sock_ent(tp, slot)->state = SOCK_ST_FREE;
	sock_ent(tp, slot)->gen++;
	sock_tab_unlock();
}

void sock_table_stuck(unsigned tp, unsigned slot)
{
	sock_tab_lock();
	struct sock_entry *e = sock_ent(tp, slot);
	e->state = SOCK_ST_STUCK;
	e->sess_gen = sock_tport(tp)->sess_gen;
	e->gen++;
	sock_tab_unlock();
}

void sock_table_open(unsigned tp, unsigned slot, int fd, uint32_t sid, bool nonblock)
{
	sock_tab_lock();
	struct sock_entry *e = sock_ent(tp, slot);
	e->state = SOCK_ST_OPEN;
	e->fd = fd;
	e->sid = sid;
	e->sess_gen = sock_tport(tp)->sess_gen;
	e->nonblock = nonblock;
	e->bound = e->connected = e->broadcast = e->recverr = false;
	e->pmtudisc = IP_PMTUDISC_WANT; /* udp_ext_reset's, Linux's default */
	e->shut = 0;
	e->saddr = 0;
	e->err = 0;
	memset(&e->peer, 0, sizeof(e->peer));
	e->rcvtimeo_ms = e->sndtimeo_ms = -1;
	e->sndbuf = UDP_WMEM_DEFAULT; /* what udpd gives a new socket (udp_core.h) */
	e->ss = SOCK_SS_UNCONNECTED;
	e->listening = false;
	e->linger_on = false;
	e->linger_s = 0;
	sock_tab_unlock();
}

int sock_table_begin_close(int fd, struct sock_ref *ref)
{
	if (fd < 0)
		return -EBADF;
	int rc = -EBADF;
	unsigned tp, slot;
	sock_tab_lock();
	if (sock_table_find_locked(fd, &tp, &slot)) {
		struct sock_entry *e = sock_ent(tp, slot);
		sock_table_fill_ref(tp, slot, ref);
		e->state = SOCK_ST_CLOSING;
		e->close_acked = false;
		e->fd = -1;
		e->gen++;
		rc = 0;
	}
	sock_tab_unlock();
	if (rc == 0)
		sock_table_wake(ref->tp, ref->slot);
	return rc;
}

void sock_table_free(unsigned tp, unsigned slot)
{
	sock_tab_lock();
	struct sock_entry *e = sock_ent(tp, slot);
	e->state = SOCK_ST_FREE;
	e->fd = -1;
	e->gen++;
	sock_tab_unlock();
}

int sock_table_closing(unsigned tp, unsigned *slots, uint32_t *sids)
{
	int n = 0;
	sock_tab_lock();
	for (unsigned i = 0; i < SOCK_SLOTS; i++) {
		struct sock_entry *e = sock_ent(tp, i);
		if (e->state != SOCK_ST_CLOSING && e->state != SOCK_ST_STUCK)
			continue;
		if (sock_table_lost_locked(tp, e)) {
			/* the server forgot it with its session: nothing to confirm */
			e->state = SOCK_ST_FREE;
			continue;
		}
		if (e->state == SOCK_ST_STUCK || e->close_acked)
			continue;
		slots[n] = i;
		sids[n] = e->sid;
		n++;
	}
	sock_tab_unlock();
	return n;
}

void sock_table_close_acked(unsigned tp, unsigned slot)
{
	sock_tab_lock();
	if (sock_ent(tp, slot)->state == SOCK_ST_CLOSING)
		sock_ent(tp, slot)->close_acked = true;
	sock_tab_unlock();
}

void sock_table_wake(unsigned tp, unsigned slot)
{
	/* A receiver blocked on this slot wakes up, sees the generation moved and returns EBADF. */
	uint64_t one = 1;
	int fd = sock_tport(tp)->slot_fd[slot];
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* counter saturated: it is readable anyway */
	}
}
