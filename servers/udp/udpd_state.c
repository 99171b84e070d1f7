/* udpd_state: udpd's state segment — its layout (struct udpd_state, udpd_priv.h), attaching it,
 * and taking over what a previous udpd left in it.
 *
 * Nothing in a segment from an earlier process is trusted more than a client's bytes would be:
 * that process may have died half-way through an update. The core validates its table
 * (udp_table_recover; a table that fails starts fresh, and with it every session, since their
 * sockets are gone). Each session record is checked on its own (n_slots, owner consistent with
 * its index and generation, a non-zero id); a bad one is dropped with its sockets. Then both
 * directions are reconciled, so the invariants the shell relies on hold whatever the order of
 * the writes the dead process got through:
 *   - every socket belongs to a live session record (else it is closed: an orphan);
 *   - every slot names an open socket of its session, and no socket is in two slots (else the
 *     slot is cleared).
 * Surviving sessions are DETACHED: their regions and descriptors died with the old process;
 * the application resumes (udpd_session.c) or they are closed after UDPD_RESUME_GRACE_NS.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "udpd_priv.h"

int udpd_session_of_owner(const struct udpd *u, uint32_t owner)
{
	unsigned idx = (owner & 0xffffu) - 1u;
	if ((owner & 0xffffu) == 0 || idx >= UDPD_SESSIONS_MAX)
		return -1;
	const struct udpd_session_rec *rec = &u->st->sessions[idx];
	if (!rec->in_use || rec->owner != owner)
		return -1;
	return (int)idx;
}

static bool udpd_rec_valid(const struct udpd_session_rec *rec, unsigned idx)
{
	return rec->id != 0 && rec->n_slots >= 1 && rec->n_slots <= REGION_SLOTS_MAX &&
	       rec->owner == udpd_owner_of(idx, rec->gen) && rec->reply_next < UDPD_REPLY_CACHE;
}

/* Drop a session record found broken or unwanted: its sockets go too. */
static void udpd_rec_drop(struct udpd *u, unsigned idx)
{
	struct udpd_session_rec *rec = &u->st->sessions[idx];
	if (rec->owner)
		udp_close_owner(u->t, rec->owner);
	uint16_t gen = rec->gen;
	memset(rec, 0, sizeof(*rec));
	rec->gen = gen; /* so the next owner of this record differs */
}

static void udpd_restore(struct udpd *u, uint64_t now)
{
	struct udpd_state *st = u->st;
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++) {
		struct udpd_session_rec *rec = &st->sessions[i];
		if (!rec->in_use)
			continue;
		if (!udpd_rec_valid(rec, i)) {
			log_warn("state: session record %u is inconsistent: dropped with its sockets",
				 i);
			udpd_rec_drop(u, i);
		}
	}
	/* Sockets: each must belong to a session record in use. */
	for (unsigned k = 0; k < UDP_SOCKETS_MAX; k++) {
		uint32_t sid = udp_sock_sid(u->t, k);
		if (!sid)
			continue;
		uint32_t owner = u->t->sock[k].owner;
		if (udpd_session_of_owner(u, owner) < 0) {
			udp_socket_close(u->t, owner, sid);
			log_notice("state: socket %#x had no session: closed", sid);
		}
	}
	/* Slots: each must name an open socket of its own session, once. */
	for (unsigned i = 0; i < UDPD_SESSIONS_MAX; i++) {
		struct udpd_session_rec *rec = &st->sessions[i];
		if (!rec->in_use)
			continue;
		for (unsigned s = 0; s < REGION_SLOTS_MAX; s++) {
			uint32_t sid = rec->slot_sid[s];
			if (!sid)
				continue;
			unsigned k = sid & 0xffffu;
			if (s >= rec->n_slots || !udp_sock_get(u->t, rec->owner, sid) ||
			    u->sock_slot[k] != UDPD_SLOT_NONE) {
				rec->slot_sid[s] = 0;
				continue;
			}
			u->sock_slot[k] = (uint8_t)s;
		}
		/* A socket of this session in no slot cannot be used by anyone: close it. */
		for (unsigned k = 0; k < UDP_SOCKETS_MAX; k++) {
			uint32_t sid = udp_sock_sid(u->t, k);
			if (sid && u->t->sock[k].owner == rec->owner && u->sock_slot[k] == UDPD_SLOT_NONE)
				udp_socket_close(u->t, rec->owner, sid);
		}
		struct udpd_session *s = &u->sess[i];
		s->state = UDPD_SESS_DETACHED;
		s->deadline = now + UDPD_RESUME_GRACE_NS;
		u->restored_sessions++;
	}
	for (unsigned k = 0; k < UDP_SOCKETS_MAX; k++)
		if (udp_sock_sid(u->t, k))
			u->restored_sockets++;
}

int udpd_state_open(struct udpd *u, uint64_t now)
{
	bool fresh = false;
	int rc = state_segment_open(u->instance, UDPD_STATE_LAYER, UDPD_STATE_VERSION,
				    sizeof(struct udpd_state), &u->seg, &fresh);
	if (rc < 0) {
		log_err("state segment: %s", strerror(-rc));
		return rc;
	}
	u->st = state_segment_payload(u->seg);
	u->t = &u->st->table;
	u->generation = state_segment_generation(u->seg);
	memset(u->sock_slot, UDPD_SLOT_NONE, sizeof(u->sock_slot));

	if (!fresh && u->st->sessions_max == UDPD_SESSIONS_MAX) {
		rc = udp_table_recover(u->t);
		if (rc < 0)
			log_warn("state: the socket table does not validate (%s): starting empty",
				 strerror(-rc));
	} else {
		rc = -ENOENT;
	}
	if (rc < 0) {
		memset(u->st, 0, sizeof(*u->st));
		u->st->sessions_max = UDPD_SESSIONS_MAX;
		udp_table_init(u->t);
		fresh = true;
	}
	uint32_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint32_t)now;
	udp_port_seed(u->t, seed);
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint32_t)(now >> 7);
	udp_reuseport_seed(u->t, seed); /* kept by a recovered table */
	u->state_fresh = fresh;
	if (!fresh)
		udpd_restore(u, now);
	log_info("state segment: %s (generation %llu), %llu sessions and %llu sockets restored",
		 fresh ? "fresh" : "attached", (unsigned long long)u->generation,
		 (unsigned long long)u->restored_sessions, (unsigned long long)u->restored_sockets);
	return 0;
}

void udpd_state_close(struct udpd *u)
{
	state_segment_close(&u->seg);
	u->st = NULL;
	u->t = NULL;
}
