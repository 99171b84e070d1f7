/* twin_parse: what `systemctl show` says of a layer's two units, and which of them serves.
 * Pure (twin.c runs the command): tests/unit/test_twin_parse.c checks it, the choice of the
 * serving unit included (the rules are twin.c's header).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ustackctl.h"

static void twin_set(struct layer_twin *t, const char *key, const char *val)
{
	if (strcmp(key, "MainPID") == 0)
		t->pid = strtol(val, NULL, 10);
	else if (strcmp(key, "NRestarts") == 0)
		t->restarts = strtoul(val, NULL, 10);
	else if (strcmp(key, "ActiveState") == 0)
		snprintf(t->active, sizeof(t->active), "%s", val);
	else if (strcmp(key, "StatusText") == 0)
		t->standby = strncmp(val, "standby", 7) == 0;
}

int layer_twins_parse(char *text, long ctl_pid, struct layer_twins *out)
{
	/* One block of KEY=VALUE lines per unit, in the order asked, a blank line between. */
	unsigned t = 0, blocks = 0;
	bool in_block = false;
	for (char *line = text; *line && t < LAYER_UNITS;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *eq = strchr(line, '=');
		if (!*line) {
			if (in_block)
				t++;
			in_block = false;
		} else if (eq) {
			*eq = '\0';
			twin_set(&out->u[t], line, eq + 1);
			if (!in_block)
				blocks++;
			in_block = true;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	if (blocks != LAYER_UNITS)
		return -EPROTO;
	out->restarts = 0;
	for (t = 0; t < LAYER_UNITS; t++)
		out->restarts += out->u[t].restarts;
	out->serving = -1;
	for (t = 0; t < LAYER_UNITS; t++)
		if (ctl_pid > 0 && out->u[t].pid == ctl_pid) {
			out->serving = (int)t;
			return 0;
		}
	int candidates = 0;
	for (t = 0; t < LAYER_UNITS; t++)
		if (out->u[t].pid > 0 && !out->u[t].standby) {
			out->serving = (int)t;
			candidates++;
		}
	if (candidates > 1)
		out->serving = -1; /* a restarted unit that has not spoken yet: cannot tell */
	return 0;
}

long layer_twins_standby_pid(const struct layer_twins *tw)
{
	for (unsigned t = 0; t < LAYER_UNITS; t++)
		if ((int)t != tw->serving && tw->u[t].pid > 0 && tw->u[t].standby)
			return tw->u[t].pid;
	return 0;
}
