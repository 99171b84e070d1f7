/* udpd_state: udpd's state segment — attaching it, and taking over what a previous udpd left in
 * it (the records and their transactions are udpd_store.c's).
 *
 * Nothing in a segment from an earlier process is trusted more than a client's bytes would be:
 * that process may have died at any instruction. udpd_store_recover rolls back the update it
 * did not finish (the journal), checks every record on its own and drops only one that is bad,
 * and repairs both directions of every link between sockets and sessions, so the invariants
 * the shell relies on hold:
 *   - every socket belongs to a live session record;
 *   - every slot names an open socket of its session, and no socket is in two slots.
 * Only a payload of another layout (another udpd version) starts fresh, with every session.
 * Surviving sessions are DETACHED: their regions and descriptors died with the old process;
 * the application resumes (xport_session.c) or they are closed after XPORT_RESUME_GRACE_NS.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "udpd_priv.h"

int udpd_session_of_owner(const struct udpd *u, uint32_t owner)
{
	return udpd_store_session_of_owner(u->st, owner);
}

/* Log what recovery repaired: each is a record a kill (or worse) had damaged. */
static void udpd_state_report(const struct udpd *u, const struct state_journal_stats *j0,
			      uint64_t dropped0, const struct udpd_store_stats *s0)
{
	const struct state_journal_stats *j = &u->t->journal.stats;
	const struct udpd_store_stats *s = &u->st->stats;
	unsigned long long rolled = j->rolled_back - j0->rolled_back;
	unsigned long long bad = j->bad_entries - j0->bad_entries;
	unsigned long long recs = u->t->stats.state_records_dropped - dropped0;
	unsigned long long sess = s->state_sessions_dropped - s0->state_sessions_dropped;
	unsigned long long slots = s->state_slots_cleared - s0->state_slots_cleared;
	unsigned long long orphans = s->state_orphans_closed - s0->state_orphans_closed;
	if (rolled)
		log_notice("state: %llu records of an unfinished update rolled back", rolled);
	if (bad || recs || sess || slots || orphans)
		log_warn("state: %llu journal entries unusable, %llu table and %llu session records "
			 "dropped, %llu slots cleared, %llu orphan sockets closed",
			 bad, recs, sess, slots, orphans);
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

	if (!fresh) {
		struct state_journal_stats j0 = u->t->journal.stats;
		struct udpd_store_stats s0 = u->st->stats;
		uint64_t dropped0 = u->t->stats.state_records_dropped;
		rc = udpd_store_recover(u->st, u->sock_slot);
		if (rc < 0)
			log_warn("state: not a payload this udpd reads (%s): starting empty",
				 strerror(-rc));
		else
			udpd_state_report(u, &j0, dropped0, &s0);
		fresh = rc < 0;
	}
	if (fresh) {
		udpd_store_init(u->st);
		memset(u->sock_slot, UDPD_SLOT_NONE, sizeof(u->sock_slot));
	}
	uint32_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint32_t)now;
	udp_port_seed(u->t, seed);
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint32_t)(now >> 7);
	udp_reuseport_seed(u->t, seed); /* kept by a recovered table */
	u->state_fresh = fresh;
	u->restored_sessions = xport_sessions_restore(&u->x, u->st->sessions, now);
	for (unsigned k = 0; k < UDP_SOCKETS_MAX; k++)
		if (udp_sock_sid(u->t, k))
			u->restored_sockets++;
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
