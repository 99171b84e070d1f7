/* kill: signal one layer's serving process through its systemd manager (fault injection).
 *
 * Going through `systemctl kill --kill-whom=main` rather than kill(2) on a PID keeps systemd
 * the one that knows which process is the layer, and lets the test see exactly what production
 * would: the manager notices the death and applies Restart=. Of the layer's two units the one
 * serving is signalled (twin.c), never the standby.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ustackctl.h"

int kill_parse_signal(const char *s)
{
	if (!s || !*s)
		return -EINVAL;
	if (s[0] >= '0' && s[0] <= '9') {
		char *end;
		long v = strtol(s, &end, 10);
		if (*end || v < 1 || v >= SIGRTMIN || !sigabbrev_np((int)v))
			return -EINVAL;
		return (int)v;
	}
	const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	/* Classic signals only: real-time ones have no stable names across libcs. */
	for (int sig = 1; sig < SIGRTMIN; sig++) {
		const char *abbrev = sigabbrev_np(sig);
		if (abbrev && strcasecmp(abbrev, name) == 0)
			return sig;
	}
	return -EINVAL;
}

int kill_cmd(const struct uctl_opts *o)
{
	const struct layer_info *l = layer_find(o->layer);
	if (!l)
		return UCTL_EXIT_USAGE;
	if (!l->present) {
		uctl_err("kill: layer %s is not part of this stack yet", l->name);
		return UCTL_EXIT_FAIL;
	}
	struct uctl_state st;
	int rc = state_read(o->instance, &st);
	if (rc == -ENOENT) {
		uctl_err("kill: instance %s is not up", o->instance);
		return UCTL_EXIT_FAIL;
	}
	if (rc < 0 || st.mode == STATE_MODE_NONE) {
		uctl_err("kill: cannot tell which manager runs instance %s%s%s", o->instance,
			 rc < 0 ? ": " : "", rc < 0 ? strerror(-rc) : "");
		return UCTL_EXIT_FAIL;
	}
	struct manager m;
	if (manager_init(&m, o->instance, st.mode, st.manager_pid, st.manager_start) < 0) {
		uctl_err("kill: bad runtime path for instance %s", o->instance);
		return UCTL_EXIT_FAIL;
	}
	if (m.mode == STATE_MODE_PRIVATE && !manager_private_alive(&m)) {
		uctl_err("kill: the private manager of instance %s (pid %d) is gone", o->instance,
			 (int)m.pid);
		return UCTL_EXIT_FAIL;
	}
	struct layer_twins tw;
	if (layer_twins_serving(&m, l, &tw) < 0) {
		uctl_err("kill: no unit of %s has a serving process now (restarting?)", l->name);
		return UCTL_EXIT_FAIL;
	}
	char sig[32], err[2048];
	const char *unit = tw.u[tw.serving].unit;
	snprintf(sig, sizeof(sig), "SIG%s", sigabbrev_np(o->signal));
	const char *args[] = {"kill", "--kill-whom=main", "-s", sig, unit, NULL};
	rc = manager_systemctl(&m, args, 10000, NULL, 0, err, sizeof(err));
	if (rc != 0) {
		if (rc > 0)
			uctl_err("kill: systemctl kill %s %s failed: %s", sig, unit, run_last_line(err));
		else
			uctl_err("kill: systemctl: %s", strerror(-rc));
		return UCTL_EXIT_FAIL;
	}
	return UCTL_EXIT_OK;
}
