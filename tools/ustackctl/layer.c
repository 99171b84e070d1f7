/* layer: the table of the stack's layers, the single place that says which ones exist.
 *
 * Order is the data path from the wire up (the start order of ustack@.target). `present` says
 * a layer's server and unit exist: up/down/status/stats/kill handle exactly those.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pool.h"
#include "ustackctl.h"

const struct layer_info layer_table[] = {
	{.name = "nicd", .pool_holder = POOL_HOLDER_NICD, .present = true},
	{.name = "ipd", .pool_holder = POOL_HOLDER_IPD, .present = true},
	{.name = "tcpd", .pool_holder = POOL_HOLDER_TCPD, .present = true},
	{.name = "udpd", .pool_holder = POOL_HOLDER_UDPD, .present = true},
};
const unsigned layer_table_len = sizeof(layer_table) / sizeof(layer_table[0]);
_Static_assert(sizeof(layer_table) / sizeof(layer_table[0]) <= UCTL_LAYERS_MAX,
	       "UCTL_LAYERS_MAX bounds per-layer arrays");

const struct layer_info *layer_find(const char *name)
{
	for (unsigned i = 0; i < layer_table_len; i++)
		if (strcmp(layer_table[i].name, name) == 0)
			return &layer_table[i];
	return NULL;
}

static int layer_fmt(char *out, size_t size, int n)
{
	return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

int layer_unit(const struct layer_info *l, const char *instance, unsigned twin, char *out,
	       size_t size)
{
	return layer_fmt(out, size, snprintf(out, size, "ustack-%s%s@%s.service", l->name,
					     twin ? "-twin" : "", instance));
}

int layer_target(const char *instance, char *out, size_t size)
{
	return layer_fmt(out, size, snprintf(out, size, "ustack@%s.target", instance));
}
