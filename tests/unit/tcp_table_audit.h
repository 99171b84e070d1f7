/* tcp_table_audit: the TCP table's invariants, for the core's unit tests (th_check_table) and
 * its fuzz targets (ftc_check_table) alike: the header (tcp_table_check), the free list, the
 * deadline cache never late, per connection the 4-tuple hash, BOUND with a port, snd_una <=
 * snd_nxt <= snd_max, read_seq <= rcv_nxt and an owner or someone to free it, the 4-tuple
 * chains holding exactly the hashed connections, and the listeners' queues and their counts.
 * Plain C, no test framework: each caller reports a failure its own way. */
#ifndef USTACK_TCP_TABLE_AUDIT_H
#define USTACK_TCP_TABLE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "tcp_core.h"

/* 0 if every invariant holds, else -1 with the first broken one described in why (size n).
 * Connection slots below hi are checked one by one; whole also walks the free list, counts
 * every slot and walks the 4-tuple chains (the parts that cost a pass over the table: a fuzz
 * target checks the slots it may have touched after each call, the whole at the end). */
int tcp_table_audit(const struct tcp_table *t, unsigned hi, bool whole, char *why, size_t n);

#endif
