/* link_stats: names of the descriptor-link counters, for every server's STATS reply. */
#include "link.h"
#include "stats.h"

const struct stat_field link_stat_fields[] = {
	STAT_FIELD(struct link_stats, tx_batches),     STAT_FIELD(struct link_stats, tx_descs),
	STAT_FIELD(struct link_stats, tx_drop_full),   STAT_FIELD(struct link_stats, rx_batches),
	STAT_FIELD(struct link_stats, rx_descs),       STAT_FIELD(struct link_stats, rx_drop_badmsg),
	STAT_FIELD(struct link_stats, rx_drop_stale),  STAT_FIELD(struct link_stats, rx_seq_gaps),
	STAT_FIELD(struct link_stats, tx_waits),       STAT_FIELD(struct link_stats, tx_wait_expired),
};
const unsigned link_stat_field_count = sizeof(link_stat_fields) / sizeof(link_stat_fields[0]);
