/* twin: a layer's two units, and which of them serves.
 *
 * Every layer runs as ustack-<layer>@I and ustack-<layer>-twin@I, the same program in both
 * (deploy/ustack-LAYER@.service.in, --standby): the process holding the layer's lock serves,
 * the other stands by and takes over when it dies, and systemd restarts the dead one's unit
 * into the next standby. Which unit serves therefore changes with every takeover, and a
 * command that acts on "the layer" (kill, hang, the restart count in status) asks the manager
 * about both in one `systemctl show`.
 *
 * The serving unit is the one whose main process is the pid the layer itself reports over its
 * control socket, when the caller has it; otherwise the one with a main process whose status
 * text does not say it stands by ("standby for pid N", sent before it waits; the first thing
 * it says once it has the lock is "taking over from pid N"). The layer's restarts are the sum
 * of both units' restarts: a kill restarts the unit killed, whichever it was.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ustackctl.h"

#define TWIN_PROBE_MS 500 /* asking a layer its pid: a stopped one never answers */

int layer_twins_show(const struct manager *m, const struct layer_info *l, long ctl_pid,
		     struct layer_twins *out)
{
	memset(out, 0, sizeof(*out));
	out->serving = -1;
	for (unsigned t = 0; t < LAYER_UNITS; t++) {
		int rc = layer_unit(l, m->instance, t, out->u[t].unit, sizeof(out->u[t].unit));
		if (rc < 0)
			return rc;
	}
	_Static_assert(LAYER_UNITS == 2, "one show for both units");
	const char *args[] = {"show", "-p", "MainPID,NRestarts,ActiveState,StatusText",
			      out->u[0].unit, out->u[1].unit, NULL};
	char text[4096];
	int rc = manager_systemctl(m, args, 5000, text, sizeof(text), NULL, 0);
	if (rc != 0)
		return rc > 0 ? -EIO : rc;
	return layer_twins_parse(text, ctl_pid, out);
}

int layer_twins_serving(const struct manager *m, const struct layer_info *l,
			struct layer_twins *out)
{
	uint32_t ctl_pid = 0;
	void *zctx = zmq_ctx_new();
	if (zctx) {
		uint64_t up_ms;
		char why[256];
		if (status_probe(zctx, m->instance, l, TWIN_PROBE_MS, &ctl_pid, &up_ms, why,
				 sizeof(why)) < 0)
			ctl_pid = 0;
		zmq_ctx_term(zctx);
	}
	int rc = layer_twins_show(m, l, ctl_pid, out);
	if (rc == 0 && (out->serving < 0 || out->u[out->serving].pid <= 1))
		rc = -ESRCH;
	return rc;
}
