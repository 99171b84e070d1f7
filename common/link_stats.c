/* link_stats: names of the descriptor-link counters, and a link's part of every server's
 * STATS reply. */
#include <stdio.h>

#include "ctl.h"
#include "link.h"
#include "stats.h"

const struct stat_field link_stat_fields[] = {
	STAT_FIELD(struct link_stats, tx_batches),     STAT_FIELD(struct link_stats, tx_descs),
	STAT_FIELD(struct link_stats, tx_drop_full),   STAT_FIELD(struct link_stats, rx_batches),
	STAT_FIELD(struct link_stats, rx_descs),       STAT_FIELD(struct link_stats, rx_drop_badmsg),
	STAT_FIELD(struct link_stats, rx_drop_stale),  STAT_FIELD(struct link_stats, rx_seq_gaps),
	STAT_FIELD(struct link_stats, tx_waits),       STAT_FIELD(struct link_stats, tx_wait_expired),
	STAT_FIELD(struct link_stats, rx_drop_corrupt),
};
const unsigned link_stat_field_count = sizeof(link_stat_fields) / sizeof(link_stat_fields[0]);
_Static_assert(sizeof(link_stat_fields) / sizeof(link_stat_fields[0]) ==
		       sizeof(struct link_stats) / sizeof(uint64_t),
	       "link_stat_fields must name every counter");

int link_ctl_report(struct ctl_server *srv, Ustack__CtlReply *r, const struct link *l)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "link_%s_%s_", link_is_rx(l) ? "from" : "to",
		 link_layer_name(link_peer(l)));
	int rc = ctl_reply_add_counters(srv, r, prefix, link_stat_fields, link_stat_field_count,
					link_stats(l));
	if (rc == 0)
		rc = ctl_reply_add_hist(srv, r, link_hist_name(l), link_hist(l));
	return rc;
}
