/* nic_stats: names of the nicd counters (struct nic_stats), for ustackctl stats.
 *
 * Names are the struct's field names and are stable: scripts read them. Every field of struct
 * nic_stats is listed, in struct order; the assertion below catches a field added to the struct
 * but not to the table.
 */
#include "nic_backend.h"

const struct stat_field nic_stat_fields[] = {
	STAT_FIELD(struct nic_stats, rx_frames),
	STAT_FIELD(struct nic_stats, rx_bytes),
	STAT_FIELD(struct nic_stats, rx_drop_nobuf),
	STAT_FIELD(struct nic_stats, rx_drop_short),
	STAT_FIELD(struct nic_stats, rx_drop_vnet_hdr),
	STAT_FIELD(struct nic_stats, rx_errors),
	STAT_FIELD(struct nic_stats, tx_frames),
	STAT_FIELD(struct nic_stats, tx_bytes),
	STAT_FIELD(struct nic_stats, tx_drop_full),
	STAT_FIELD(struct nic_stats, tx_drop_oversize),
	STAT_FIELD(struct nic_stats, tx_drop_chain),
	STAT_FIELD(struct nic_stats, tx_errors),
	STAT_FIELD(struct nic_stats, rx_gso_frames),
	STAT_FIELD(struct nic_stats, rx_csum_partial),
	STAT_FIELD(struct nic_stats, rx_drop_vnet_gso),
	STAT_FIELD(struct nic_stats, rx_drop_vnet_csum),
	STAT_FIELD(struct nic_stats, rx_drop_oversize),
	STAT_FIELD(struct nic_stats, tx_gso_frames),
	STAT_FIELD(struct nic_stats, tx_csum_partial),
	STAT_FIELD(struct nic_stats, tx_drop_offload),
	STAT_FIELD(struct nic_stats, offload_refused),
	STAT_FIELD(struct nic_stats, offload_rx),
	STAT_FIELD(struct nic_stats, rx_reads),
	STAT_FIELD(struct nic_stats, handed_over),
};

#define NIC_STAT_FIELD_COUNT (sizeof(nic_stat_fields) / sizeof(nic_stat_fields[0]))

_Static_assert(NIC_STAT_FIELD_COUNT * sizeof(uint64_t) == sizeof(struct nic_stats),
	       "every nic_stats counter needs a name in nic_stat_fields");

const unsigned nic_stat_field_count = NIC_STAT_FIELD_COUNT;
