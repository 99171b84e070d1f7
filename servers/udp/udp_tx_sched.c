/* udp_tx_sched: the TX round's order and turns (udp_tx_sched.h says why turns are finished). */
#include "udp_tx_sched.h"

bool udp_tx_sched_round(struct udp_tx_sched *s, unsigned n, unsigned budget,
			const struct udp_tx_sched_ops *ops, void *arg, bool *blocked)
{
	bool more = false;
	unsigned first_left = s->left;
	*blocked = false;
	s->left = 0;
	if (n == 0)
		return false;
	if (s->next >= n)
		s->next = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned si = (s->next + i) % n;
		if (!ops->pending(arg, si))
			continue;
		unsigned turn = i == 0 && first_left ? first_left : budget;
		unsigned used = 0;
		enum udp_tx_turn r = ops->serve(arg, si, turn, &used);
		if (r == UDP_TX_TURN_BLOCKED) {
			/* Held back before the turn was used up (a turn that used it all ends MORE):
			 * at least one record is left. */
			s->next = si;
			s->left = used < turn ? turn - used : 1;
			*blocked = true;
			return false;
		}
		more |= r == UDP_TX_TURN_MORE;
	}
	s->next = (s->next + 1) % n;
	return more;
}
