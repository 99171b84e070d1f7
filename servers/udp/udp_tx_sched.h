/* udp_tx_sched: whose TX ring udpd reads next, and how much of it: round robin over the
 * sessions, a turn of at most a budget of records each, where a turn cut short because the
 * link to ipd or the pool was full (BLOCKED) is finished first in the next round, with what
 * was left of it, not started afresh.
 *
 * Why finish rather than restart: a blocked round used to start again at the blocked session
 * with a whole new turn. A session sending large datagrams as fast as it can (60,000 bytes:
 * 31 pool buffers each) then took every buffer nicd's writes freed, blocked again, and was
 * first in line again, for as long as the pool stayed short: the sessions behind it waited
 * for a moment when more buffers came back at once than its turn could use, which took up to
 * seconds (a bystander's echo lost in test_udp_abuse's hog mode). Keeping the blocked session
 * first still lets a large datagram, which needs many buffers at once, get them before smaller
 * ones take them one by one; finishing its turn bounds what it takes before the others' turns
 * come: one budget of records per round.
 *
 * Pure: the caller's callbacks say which sessions have records pending and serve a turn.
 */
#ifndef USTACK_UDP_TX_SCHED_H
#define USTACK_UDP_TX_SCHED_H

#include <stdbool.h>

/* What a turn gave (udpd_tx_session's answer). */
enum udp_tx_turn {
	UDP_TX_TURN_IDLE,    /* nothing (more) to read */
	UDP_TX_TURN_MORE,    /* the turn's budget (or the round's bytes) ran out first */
	UDP_TX_TURN_BLOCKED, /* held back by the link or the pool: the round stops here */
	UDP_TX_TURN_ENDED,   /* the session was ended */
};

struct udp_tx_sched {
	unsigned next; /* the session the next round starts with */
	unsigned left; /* records left of next's turn after a blocked round; 0: a fresh round */
};

/* serve: a turn of session si of at most budget records; *used says how many it took. */
struct udp_tx_sched_ops {
	bool (*pending)(void *arg, unsigned si);
	enum udp_tx_turn (*serve)(void *arg, unsigned si, unsigned budget, unsigned *used);
};

/* The next round goes on with a round that stopped blocked (the caller keeps that round's
 * byte budget) rather than starting a new one. */
static inline bool udp_tx_sched_resuming(const struct udp_tx_sched *s)
{
	return s->left != 0;
}

/* One round over n sessions from s->next, each pending one served a turn of up to budget
 * records (the rest of its turn for the session a blocked round stopped at). Returns true when
 * a session served has more to send and the round was not blocked; *blocked says the round
 * stopped at a BLOCKED turn (s->next is then that session, s->left what remains of its turn).
 * Otherwise s->next moves one session on, so rounds take turns starting first. */
bool udp_tx_sched_round(struct udp_tx_sched *s, unsigned n, unsigned budget,
			const struct udp_tx_sched_ops *ops, void *arg, bool *blocked);

#endif
